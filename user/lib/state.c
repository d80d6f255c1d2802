// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Finding the balancer's pinned maps, locking them for writers, lookups by value and whole-map
 * reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "internal.h"
#include "libebb_agent.h"

struct map_slot {
	const char *name;
	size_t offset;
	/* A map of a later layout than some pinned state has: missing only from state an older
	 * ebb made, which `prog upgrade` opens to migrate (the fd stays -1; its users skip it). */
	bool optional;
};

#define SLOT(field, name) { name, offsetof(struct ebb, field), false }
static const struct map_slot map_slots[] = {
	SLOT(vip_addrs_fd, "vip_addrs"), SLOT(vips_fd, "vips"),
	SLOT(nodes_fd, "nodes"),	 SLOT(members_fd, "members"),
	SLOT(rings_fd, "rings"),	 SLOT(flows_fd, "flows"),
	SLOT(vip_stats_fd, "vip_stats"), SLOT(node_stats_fd, "node_stats"),
	SLOT(reasons_fd, "reasons"),	 SLOT(settings_fd, "settings"),
	SLOT(vip_filter_fd, "vip_filter"), SLOT(vips_by_id_fd, "vips_by_id"),
	SLOT(vip_slots_fd, "vip_slots"), { "slot_history", offsetof(struct ebb, slot_history_fd), true },
	{ "vip_reasons", offsetof(struct ebb, vip_reasons_fd), true },
	{ "ring_changes", offsetof(struct ebb, ring_changes_fd), true },
	{ "flows6", offsetof(struct ebb, flows6_fd), true },
	{ "syn_recent", offsetof(struct ebb, syn_recent_fd), true },
};
#define N_SLOTS (sizeof(map_slots) / sizeof(map_slots[0]))

static int *slot_fd(struct ebb *e, size_t i)
{
	return (int *)((char *)e + map_slots[i].offset);
}

static void ebb_reset(struct ebb *e)
{
	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < N_SLOTS; i++)
		*slot_fd(e, i) = -1;
	e->lock_fd = -1;
}

int ebb_open(struct ebb *e, const char *bpffs, struct ebb_err *err)
{
	char path[600];

	ebb_reset(e);
	snprintf(e->bpffs, sizeof(e->bpffs), "%s", bpffs);
	for (size_t i = 0; i < N_SLOTS; i++) {
		snprintf(path, sizeof(path), "%s/%s", bpffs, map_slots[i].name);
		*slot_fd(e, i) = bpf_obj_get(path);
		if (*slot_fd(e, i) < 0 && errno == ENOENT && map_slots[i].optional)
			continue;
		if (*slot_fd(e, i) < 0) {
			int ret = -errno;

			ebb_close(e);
			if (ret == -ENOENT)
				return ebb_errf(err, "no ebb state under %s: run 'ebbctl prog attach dev IFNAME' first",
						bpffs);
			return ebb_errf(err, "cannot open %s: %s", path, strerror(-ret));
		}
	}
	return 0;
}

int ebb_from_object(struct ebb *e, struct bpf_object *obj, struct ebb_err *err)
{
	ebb_reset(e);
	for (size_t i = 0; i < N_SLOTS; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, map_slots[i].name);

		if (!map || bpf_map__fd(map) < 0) {
			ebb_close(e); /* the descriptors duplicated so far */
			return ebb_errf(err, "object has no loaded map '%s'", map_slots[i].name);
		}
		/* A copy: ebb_close must not close the object's own descriptors. Close-on-exec, as
		 * bpf_obj_get's are: hooks and probes must not inherit the maps. */
		*slot_fd(e, i) = fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 3);
		if (*slot_fd(e, i) < 0) {
			int ret = -errno;

			ebb_close(e);
			return ebb_errf(err, "cannot duplicate the descriptor of map '%s': %s",
					map_slots[i].name, strerror(-ret));
		}
	}
	return 0;
}

void ebb_close(struct ebb *e)
{
	for (size_t i = 0; i < N_SLOTS; i++)
		if (*slot_fd(e, i) >= 0)
			close(*slot_fd(e, i));
	if (e->lock_fd >= 0)
		close(e->lock_fd);
	if (e->ft)
		munmap(e->ft, e->ft_bytes);
	ebb_reset(e);
}

int ebb_lock(struct ebb *e, struct ebb_err *err)
{
	if (e->lock_fd >= 0)
		return 0;
	/* The pin directory itself is the lock: it exists exactly while the state does. */
	e->lock_fd = open(e->bpffs[0] ? e->bpffs : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->lock_fd < 0)
		return ebb_errf(err, "cannot open %s: %s", e->bpffs, strerror(errno));
	if (flock(e->lock_fd, LOCK_EX) < 0) {
		close(e->lock_fd);
		e->lock_fd = -1;
		return ebb_errf(err, "cannot lock %s: %s", e->bpffs, strerror(errno));
	}
	/* Opened before the lock, while a `prog upgrade` held it: it may have put new maps in
	 * place of the ones opened, and a write to those would reach no program. */
	if (e->bpffs[0] && ebb_stale(e)) {
		int lock_fd = e->lock_fd, ret;
		char dir[sizeof(e->bpffs)];

		memcpy(dir, e->bpffs, sizeof(dir));
		e->lock_fd = -1;
		ebb_close(e);
		ret = ebb_open(e, dir, err);
		if (ret) {
			close(lock_fd);
			return ret;
		}
		e->lock_fd = lock_fd;
	}
	return 0;
}

static __u32 map_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

bool ebb_stale(const struct ebb *e)
{
	char path[600];

	if (!e->bpffs[0])
		return false;
	for (size_t i = 0; i < N_SLOTS; i++) {
		int fd = *(const int *)((const char *)e + map_slots[i].offset), pinned;
		bool same;

		if (fd < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", e->bpffs, map_slots[i].name);
		pinned = bpf_obj_get(path);
		if (pinned < 0)
			return true;
		same = map_id(pinned) == map_id(fd);
		close(pinned);
		if (!same)
			return true;
	}
	return false;
}

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

int ebb_ensure_bpffs(const char *dir, struct ebb_err *err)
{
	char parent[512];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), "/");
	/* A fresh machine has /sys/fs/bpf but nothing mounted on it. */
	if (!is_bpffs(parent) && !strcmp(parent, "/sys/fs/bpf") &&
	    mount("bpf", parent, "bpf", 0, "mode=0700") < 0)
		return ebb_errf(err, "cannot mount bpffs on %s: %s", parent, strerror(errno));
	if (!is_bpffs(parent))
		return ebb_errf(err, "%s is not on a bpf filesystem (mount -t bpf bpf %s)", dir, parent);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return ebb_errf(err, "cannot create %s: %s", dir, strerror(errno));
	return 0;
}

int ebb_map_pin_or_get(const char *path, enum bpf_map_type type, const char *name, __u32 key_size,
		       __u32 value_size, __u32 max, bool create)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	int fd;

	fd = bpf_obj_get(path);
	if (fd >= 0 || !create)
		return fd < 0 ? -errno : fd;
	fd = bpf_map_create(type, name, key_size, value_size, max, &opts);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		int ret = -errno;

		close(fd);
		/* another process pinned it first: use that one */
		fd = bpf_obj_get(path);
		return fd < 0 ? ret : fd;
	}
	return fd;
}

int ebb_map_dump(int map_fd, void *keys, void *vals, __u32 max, __u32 key_size, __u32 val_size)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 token;
	void *in = NULL;
	__u32 n = 0;

	while (n < max) {
		__u32 count = max - n;
		int err = bpf_map_lookup_batch(map_fd, in, &token, (char *)keys + (size_t)n * key_size,
					       (char *)vals + (size_t)n * val_size, &count, &opts);

		if (err && errno != ENOENT)
			return -errno;
		n += count;
		if (err)
			break;
		in = &token;
	}
	return n;
}

__u64 ebb_now_ns(void)
{
	struct timespec ts;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC: flow ages compare against it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int ebb_ncpus(void)
{
	static int n;

	if (!n)
		n = libbpf_num_possible_cpus();
	return n;
}

int ebb_vip_find(struct ebb *e, const struct ebb_vip_key *key, struct ebb_vip *vip)
{
	/* a state of a layout before 8 holds shorter values: the fields it lacks read 0
	 * (table_size 0 is EBB_RING_SIZE, the size of every VIP of those layouts) */
	memset(vip, 0, sizeof(*vip));
	return bpf_map_lookup_elem(e->vips_fd, key, vip) ? -ENOENT : 0;
}

int ebb_vip_by_id(struct ebb *e, __u32 id, struct ebb_vip_key *key, struct ebb_vip *vip)
{
	struct ebb_vip_key k, *prev = NULL;
	struct ebb_vip own;

	if (!vip) /* only the key wanted */
		vip = &own;
	while (!bpf_map_get_next_key(e->vips_fd, prev, &k)) {
		prev = &k;
		memset(vip, 0, sizeof(*vip)); /* as in ebb_vip_find */
		if (!bpf_map_lookup_elem(e->vips_fd, &k, vip) && vip->id == id) {
			if (key)
				*key = k;
			return 0;
		}
	}
	return -ENOENT;
}

int ebb_index_log(int fd, __u32 unit_bits, unsigned int want)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	__u64 units;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	units = (__u64)info.value_size * 8 / unit_bits;
	for (unsigned int log = 1; log <= want; log++)
		if (units == 1ULL << log)
			return (int)log;
	return -EPROTO;
}

int ebb_vips_read(struct ebb *e, struct ebb_vip_key *keys, struct ebb_vip *vals)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char *raw;
	int n;

	if (bpf_obj_get_info_by_fd(e->vips_fd, &info, &len))
		return -errno;
	if (info.value_size == sizeof(*vals))
		return ebb_map_dump(e->vips_fd, keys, vals, EBB_MAX_VIPS, sizeof(*keys), sizeof(*vals));
	/* An older layout's ebb_vip (48 bytes before layout 8): a batch lays its values out at
	 * their own size; each is read as a lookup would, the fields it lacks zero. */
	raw = calloc(EBB_MAX_VIPS, info.value_size);
	if (!raw)
		return -ENOMEM;
	n = ebb_map_dump(e->vips_fd, keys, raw, EBB_MAX_VIPS, sizeof(*keys), info.value_size);
	for (int i = 0; i < n; i++) {
		memset(&vals[i], 0, sizeof(vals[i]));
		memcpy(&vals[i], raw + (size_t)i * info.value_size,
		       info.value_size < sizeof(vals[i]) ? info.value_size : sizeof(vals[i]));
	}
	free(raw);
	return n;
}

int ebb_vip_slots_sync(struct ebb *e, const struct ebb_vip_key *without)
{
	struct ebb_vip_slots *want = calloc(1, sizeof(*want));
	struct ebb_vip_key *keys = calloc(EBB_MAX_VIPS, sizeof(*keys));
	struct ebb_vip *vals = calloc(EBB_MAX_VIPS, sizeof(*vals));
	__u32 zero = 0;
	int ret = 0, n, log;

	if (!want || !keys || !vals) {
		ret = -ENOMEM;
		goto out;
	}
	log = ebb_index_log(e->vip_slots_fd, 16, EBB_VIP_SLOTS_LOG);
	n = log < 0 ? log : ebb_vips_read(e, keys, vals);
	if (n < 0) {
		ret = n;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const struct ebb_vip_key *k = &keys[i];
		__u32 slot = ebb_vip_slot_of(k->addr, k->port, k->proto, k->family, log);

		if ((without && !memcmp(k, without, sizeof(*k))) || vals[i].id >= EBB_MAX_VIPS)
			continue;
		want->slot[slot] = want->slot[slot] ? EBB_VIP_SLOT_ASK : (__u16)(vals[i].id + 1);
	}
	if (bpf_map_update_elem(e->vip_slots_fd, &zero, want, BPF_ANY))
		ret = -errno;
out:
	free(want);
	free(keys);
	free(vals);
	return ret;
}

int ebb_vip_store(struct ebb *e, const struct ebb_vip_key *key, const struct ebb_vip *vip, __u64 flags)
{
	struct ebb_vip_entry ent = { .key = *key, .vip = *vip }, before = {};
	int ret;

	if (flags == BPF_NOEXIST) {
		/* complete before anything can lead a packet to it */
		bpf_map_lookup_elem(e->vips_by_id_fd, &vip->id, &before);
		bpf_map_update_elem(e->vips_by_id_fd, &vip->id, &ent, BPF_ANY);
		if (bpf_map_update_elem(e->vips_fd, key, vip, flags)) {
			ret = -errno;
			bpf_map_update_elem(e->vips_by_id_fd, &vip->id, &before, BPF_ANY);
			errno = -ret;
			return ret;
		}
		/* A slot that cannot be written leaves the new VIP unseen by new flows: an error. */
		ret = ebb_vip_slots_sync(e, NULL);
		if (ret) {
			bpf_map_delete_elem(e->vips_fd, key);
			bpf_map_update_elem(e->vips_by_id_fd, &vip->id, &before, BPF_ANY);
			errno = -ret;
		}
		return ret;
	}
	if (bpf_map_update_elem(e->vips_fd, key, vip, flags))
		return -errno;
	/* Same key: a reader of the copy sees each field old or new, as in `vips`. */
	bpf_map_update_elem(e->vips_by_id_fd, &vip->id, &ent, BPF_ANY);
	return 0;
}

void ebb_vip_unindex(struct ebb *e, const struct ebb_vip_key *key, __u32 id)
{
	struct ebb_vip_entry none = {};

	ebb_vip_slots_sync(e, key);
	bpf_map_update_elem(e->vips_by_id_fd, &id, &none, BPF_ANY);
}

void ebb_vips_by_id_sync(struct ebb *e)
{
	struct ebb_vip_entry *ents = calloc(EBB_MAX_VIPS, sizeof(*ents));
	struct ebb_vip_key *keys = calloc(EBB_MAX_VIPS, sizeof(*keys));
	struct ebb_vip *vals = calloc(EBB_MAX_VIPS, sizeof(*vals));
	int n = ents && keys && vals ? ebb_vips_read(e, keys, vals) : -ENOMEM;

	for (int i = 0; i < n; i++)
		if (vals[i].id < EBB_MAX_VIPS)
			ents[vals[i].id] = (struct ebb_vip_entry){ .key = keys[i], .vip = vals[i] };
	if (n >= 0) {
		__u32 *ids = calloc(EBB_MAX_VIPS, sizeof(*ids)), count = EBB_MAX_VIPS, max;
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		/* an older layout's array has fewer ids (64 before layout 9) */
		max = bpf_obj_get_info_by_fd(e->vips_by_id_fd, &info, &len) ||
				      info.max_entries > EBB_MAX_VIPS ?
			      EBB_MAX_VIPS :
			      info.max_entries;
		count = max;
		for (__u32 id = 0; ids && id < max; id++)
			ids[id] = id;
		/* one syscall for the whole array where the kernel can, else one an id */
		if (!ids || bpf_map_update_batch(e->vips_by_id_fd, ids, ents, &count, NULL))
			for (__u32 id = 0; id < max; id++)
				bpf_map_update_elem(e->vips_by_id_fd, &id, &ents[id], BPF_ANY);
		free(ids);
	}
	free(ents);
	free(keys);
	free(vals);
	if (n < 0)
		return;
	ebb_vip_slots_sync(e, NULL);
}

__u32 ebb_ring_node(struct ebb *e, __u32 ring_id, __u32 slot)
{
	struct ebb_ring_elem elem;
	__u32 index = slot / 4;

	/* A writer may swap the table between reading its id and opening it: read again. */
	for (int attempt = 0; attempt < 5 && slot < EBB_RING_SIZE; attempt++) {
		__u32 inner_id;
		int fd;

		if (bpf_map_lookup_elem(e->rings_fd, &ring_id, &inner_id))
			return 0;
		fd = bpf_map_get_fd_by_id(inner_id);
		if (fd < 0)
			continue;
		if (bpf_map_lookup_elem(fd, &index, &elem))
			elem.node[slot % 4] = 0;
		close(fd);
		return elem.node[slot % 4];
	}
	return 0;
}

size_t ebb_ring_bytes(__u32 elems)
{
	long page = sysconf(_SC_PAGESIZE);

	return ((size_t)elems * sizeof(struct ebb_ring_elem) + page - 1) / page * page;
}

int ebb_ring_read(struct ebb *e, __u32 ring_id, __u32 *table)
{
	/* A writer may swap the table between reading its id and opening it: read again. */
	for (int attempt = 0; attempt < 5; attempt++) {
		struct bpf_map_info info = {};
		__u32 inner_id, len = sizeof(info), n;
		const __u16 *slots;
		int fd;

		if (bpf_map_lookup_elem(e->rings_fd, &ring_id, &inner_id))
			return -ENOENT;
		fd = bpf_map_get_fd_by_id(inner_id);
		if (fd < 0)
			continue;
		/* The VIP's size (M slots): the table was made for it */
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || !info.max_entries) {
			close(fd);
			continue;
		}
		slots = mmap(NULL, ebb_ring_bytes(info.max_entries), PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (slots == MAP_FAILED)
			return -errno;
		n = info.max_entries * 4 < EBB_RING_SIZE ? info.max_entries * 4 : EBB_RING_SIZE;
		for (__u32 i = 0; i < n; i++)
			table[i] = slots[i];
		memset(table + n, 0, (EBB_RING_SIZE - n) * sizeof(*table));
		munmap((void *)slots, ebb_ring_bytes(info.max_entries));
		return 0;
	}
	return -ENOENT;
}

/* Node ids are handed out lowest first, so a node is found in the first chunks of the array:
 * read by batch a chunk at a time (the whole array per call was slow, and fleet apply asks
 * several times a node). */
#define NODE_FIND_CHUNK 256

int ebb_node_find(struct ebb *e, const struct ebb_addr *addr, __u32 *id, struct ebb_node *node)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 *ids = calloc(NODE_FIND_CHUNK, sizeof(*ids));
	struct ebb_node *ns = calloc(NODE_FIND_CHUNK, sizeof(*ns));
	int ret = ids && ns ? -ENOENT : -ENOMEM;
	__u64 token;
	void *in = NULL;

	while (ret == -ENOENT) {
		__u32 count = NODE_FIND_CHUNK;
		int err = bpf_map_lookup_batch(e->nodes_fd, in, &token, ids, ns, &count, &opts);

		if (err && errno != ENOENT) {
			ret = -EIO;
			break;
		}
		for (__u32 i = 0; i < count; i++) {
			if (!ids[i] || ns[i].state == EBB_NODE_UNUSED || ns[i].family != addr->family ||
			    !ebb_addr_eq(ns[i].addr, addr->a, addr->family))
				continue;
			if (id)
				*id = ids[i];
			if (node)
				*node = ns[i];
			ret = 0;
			break;
		}
		if (err) /* ENOENT: that was the array's last chunk */
			break;
		in = &token;
	}
	free(ids);
	free(ns);
	return ret;
}

int ebb_vip_of_flow(struct ebb *e, const struct ebb_flow_key *fk, struct ebb_vip *vip)
{
	struct ebb_vip_key k = { .port = fk->dport, .proto = fk->proto, .family = fk->family };

	memcpy(k.addr, fk->dst, sizeof(k.addr));
	if (!ebb_vip_find(e, &k, vip))
		return 0;
	k.port = 0;
	return ebb_vip_find(e, &k, vip);
}
