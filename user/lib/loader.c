// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loading the balancer and attaching it to devices. Maps are pinned by name under the bpffs
 * directory and reused by every later load; each attachment is a bpf_link pinned there too,
 * so the datapath keeps forwarding after ebbctl exits (doc/xdp-on-veth.md, trap 8).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "internal.h"
#include "ebb_flowtable.h"
#include "balancer.skel.h"

#define LINK_PREFIX "link_xdp_"

/* The flow tables keep the size they were created with; a reload must ask for that size. It is
 * the N of `flows N`: flows6's entries exactly (the IPv4 table's buckets are EBB_FT_BUCKETS(N),
 * which does not give N back). */
int ebb_pinned_flow_table_size(const char *bpffs, __u32 *size)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[600];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/flows6", bpffs);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	ret = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (ret)
		return ret;
	*size = info.max_entries;
	return 0;
}

/* The layout version compiled into an object's read-only data (`layout_version`). */
static int object_layout_version(struct bpf_object *obj, __u32 *version)
{
	struct bpf_map *map, *rodata = NULL;
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct btf *btf = bpf_object__btf(obj);
	const char *data;
	size_t size;
	int id;

	bpf_object__for_each_map(map, obj)
		if (bpf_map__is_internal(map) && strstr(bpf_map__name(map), ".rodata"))
			rodata = map;
	id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	if (!rodata || id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	data = bpf_map__initial_value(rodata, &size);
	for (int i = 0; data && i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (!strcmp(btf__name_by_offset(btf, var->name_off), "layout_version") &&
		    vs->offset + sizeof(*version) <= size) {
			memcpy(version, data + vs->offset, sizeof(*version));
			return 0;
		}
	}
	return -ENOENT;
}

static int pinned_meta(const char *bpffs, struct ebb_meta *meta)
{
	char path[600];
	__u32 zero = 0;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/meta", bpffs);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	ret = bpf_map_lookup_elem(fd, &zero, meta) ? -errno : 0;
	close(fd);
	return ret;
}

struct bpf_object *ebb_balancer_open(const char *pin_root, const char *obj_path, struct ebb_err *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);
	struct bpf_object *obj;
	__u32 version = 0;
	size_t elf_size;
	const void *elf;

	if (obj_path) {
		obj = bpf_object__open_file(obj_path, &opts);
	} else {
		elf = balancer_bpf__elf_bytes(&elf_size);
		obj = bpf_object__open_mem(elf, elf_size, &opts);
	}
	if (!obj) {
		ebb_errf(err, "cannot open %s: %s", obj_path ? obj_path : "the balancer object",
			 strerror(errno));
		return NULL;
	}
	if (!bpf_object__find_program_by_name(obj, "ebb_balancer") ||
	    object_layout_version(obj, &version)) {
		ebb_errf(err, "%s is not an ebb balancer object", obj_path ? obj_path : "built-in object");
		bpf_object__close(obj);
		return NULL;
	}
	return obj;
}

/* The map layout of the object a `prog upgrade` would load; -errno (err set) if it is none. */
static int balancer_layout(const char *obj_path, __u32 *version, struct ebb_err *err)
{
	struct bpf_object *obj = ebb_balancer_open(NULL, obj_path, err);
	int ret;

	if (!obj)
		return -EINVAL;
	ret = object_layout_version(obj, version);
	bpf_object__close(obj);
	return ret;
}

/*
 * Opens the balancer (the one built into this binary, or obj_path) ready to reuse the pinned
 * maps, and refuses before loading anything if its map layout is not the pinned one: libbpf
 * would otherwise fail half-way, or a future layout could misread the flows. (`prog upgrade`
 * migrates instead, migrate.c.)
 */
static struct bpf_object *open_balancer(const char *bpffs, const char *obj_path,
					__u32 flow_table_size, struct ebb_err *err)
{
	struct bpf_object *obj = ebb_balancer_open(bpffs, obj_path, err);
	struct ebb_meta meta;
	__u32 version = 0, pinned_size;

	if (!obj)
		return NULL;
	object_layout_version(obj, &version);
	if (!pinned_meta(bpffs, &meta) && meta.layout_version && meta.layout_version != version) {
		ebb_errf(err, "refusing: the maps under %s have layout version %u, the program expects %u; reusing them would lose or misread every flow",
			 bpffs, meta.layout_version, version);
		goto fail;
	}
	if (!ebb_pinned_flow_table_size(bpffs, &pinned_size)) {
		if (flow_table_size && flow_table_size != pinned_size) {
			ebb_errf(err, "the flow table under %s has %u entries, not %u: detach everywhere and remove %s to resize it",
				 bpffs, pinned_size, flow_table_size, bpffs);
			goto fail;
		}
		flow_table_size = pinned_size;
	}
	if (flow_table_size) {
		bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "flows"),
					 EBB_FT_BUCKETS(flow_table_size));
		bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "flows6"), flow_table_size);
	}
	return obj;
fail:
	bpf_object__close(obj);
	return NULL;
}

int ebb_balancer_load(struct bpf_object *obj, const char *ifname, struct ebb_err *err)
{
	struct bpf_map *meta_map;
	struct ebb_meta meta = {};
	__u32 zero = 0;
	int ret = bpf_object__load(obj);

	if (ret)
		return ebb_errf(err, "cannot load the balancer: %s (run with -v for the verifier's log)",
				strerror(-ret));
	/* First creation of the maps: record their layout for later upgrades, set defaults. */
	meta_map = bpf_object__find_map_by_name(obj, "meta");
	if (!bpf_map_lookup_elem(bpf_map__fd(meta_map), &zero, &meta) && !meta.layout_version) {
		struct ebb_settings settings = { .flood_rate = EBB_DEFAULT_FLOOD_RATE,
						 .rescue_rate = EBB_DEFAULT_RESCUE_RATE };
		struct ebb_rescue_secret secret;

		/* ipip's MTU check starts from the device's; `prog set mtu` changes it. */
		if (ifname)
			ebb_device_mtu(ifname, &settings.mtu);

		bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "settings")), &zero,
				    &settings, BPF_ANY);
		/* The cookie key of rescues: a claim is taken only with its flow's cookie. Without
		 * randomness there would be no secret: the maps are then not marked made, and
		 * the next load tries again. */
		if (getrandom(&secret, sizeof(secret), 0) != (ssize_t)sizeof(secret))
			return ebb_errf(err, "cannot make the rescue key: getrandom: %s", strerror(errno));
		bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "rescue_secret")),
				    &zero, &secret, BPF_ANY);
		explicit_bzero(&secret, sizeof(secret));
		/* No VIP's slots are known to be still: a VIP (and state migrated with its
		 * rings_changed) asks the flow table for every SYN of its window, as before. */
		if (ebb_ring_changes_fill(bpf_map__fd(bpf_object__find_map_by_name(obj, "ring_changes"))))
			return ebb_errf(err, "cannot mark the tables' slots: %s", strerror(errno));
		object_layout_version(obj, &meta.layout_version);
		meta.created_ns = ebb_now_ns();
		bpf_map_update_elem(bpf_map__fd(meta_map), &zero, &meta, BPF_ANY);
	}
	/* The VIP copies the datapath classifies by follow `vips`, whoever wrote it last. */
	{
		struct ebb_err ignored = {};
		struct ebb e;

		if (!ebb_from_object(&e, obj, &ignored)) {
			ebb_vips_by_id_sync(&e);
			ebb_close(&e);
		}
	}
	return 0;
}

int ebb_prog_attach(const struct ebb_attach_opts *o, struct ebb_err *err)
{
	struct bpf_object *obj;
	int ifindex, ret;

	ret = ebb_link_precheck(o->bpffs, LINK_PREFIX, o->ifname, &ifindex, err);
	if (!ret)
		ret = ebb_ensure_bpffs(o->bpffs, err);
	if (ret)
		return ret;
	obj = open_balancer(o->bpffs, NULL, o->flow_table_size, err);
	if (!obj)
		return -EINVAL;
	ret = ebb_balancer_load(obj, o->ifname, err);
	if (!ret)
		ret = ebb_link_create(o->bpffs, LINK_PREFIX, o->ifname, ifindex,
				      bpf_program__fd(bpf_object__find_program_by_name(obj, "ebb_balancer")),
				      o->generic, err);
	bpf_object__close(obj);
	return ret;
}

int ebb_links_swap(const char *bpffs, const struct ebb_link_info *links, int n, int prog_fd,
		   struct ebb_upgrade *res, struct ebb_err *err)
{
	int link_fds[64], old_prog_fds[64];
	int done, ret = 0;
	char path[600];

	/* Every link swaps to the new program in one syscall. If one device fails, those already
	 * swapped go back. */
	for (done = 0; done < n; done++) {
		ebb_link_path(bpffs, LINK_PREFIX, links[done].ifname, path, sizeof(path));
		link_fds[done] = bpf_obj_get(path);
		old_prog_fds[done] = bpf_prog_get_fd_by_id(links[done].prog_id);
		if (link_fds[done] < 0 || bpf_link_update(link_fds[done], prog_fd, NULL)) {
			ret = ebb_errf(err, "cannot upgrade %s: %s", links[done].ifname, strerror(errno));
			if (link_fds[done] >= 0)
				close(link_fds[done]);
			if (old_prog_fds[done] >= 0)
				close(old_prog_fds[done]);
			break;
		}
		res->old_prog_id[done] = links[done].prog_id;
	}
	for (int i = 0; i < done; i++) {
		if (ret && old_prog_fds[i] >= 0)
			bpf_link_update(link_fds[i], old_prog_fds[i], NULL);
		close(link_fds[i]);
		if (old_prog_fds[i] >= 0)
			close(old_prog_fds[i]);
	}
	if (!ret) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		res->devices = n;
		if (!bpf_obj_get_info_by_fd(prog_fd, &info, &len))
			res->new_prog_id = info.id;
	}
	return ret;
}

int ebb_prog_upgrade(const char *bpffs, const char *obj_path, struct ebb_upgrade *res,
		     struct ebb_err *err)
{
	struct ebb_link_info links[64];
	struct bpf_object *obj;
	struct ebb_meta meta;
	__u32 version = 0;
	int n, ret = 0;

	memset(res, 0, sizeof(*res));
	n = ebb_prog_list(bpffs, links, 64);
	if (n <= 0)
		return ebb_errf(err, "ebb is not attached to any device under %s: nothing to upgrade", bpffs);
	ret = balancer_layout(obj_path, &version, err);
	if (ret)
		return ret;
	res->old_layout = res->new_layout = version;
	/* Another layout: new maps, filled from the pinned ones (migrate.c). */
	if (!pinned_meta(bpffs, &meta) && meta.layout_version && meta.layout_version != version)
		return ebb_prog_migrate(bpffs, obj_path, meta.layout_version, version, links, n, res,
					err);
	obj = open_balancer(bpffs, obj_path, 0, err);
	if (!obj)
		return -EINVAL;
	ret = ebb_balancer_load(obj, NULL, err);
	/* The same layout: the maps, and so the flows, are the pinned ones. */
	if (!ret)
		ret = ebb_links_swap(bpffs, links, n,
				     bpf_program__fd(bpf_object__find_program_by_name(obj, "ebb_balancer")),
				     res, err);
	bpf_object__close(obj);
	return ret;
}

int ebb_prog_detach(const char *bpffs, const char *ifname, struct ebb_err *err)
{
	return ebb_link_detach(bpffs, LINK_PREFIX, ifname, err);
}

int ebb_prog_list(const char *bpffs, struct ebb_link_info *out, int max)
{
	return ebb_link_list(bpffs, LINK_PREFIX, out, max);
}

struct ebb_attachments {
	int n;
	struct ebb_link_info links[64];
	int prog_fds[64]; /* the program each device ran, held: -1 when none ran */
	int link_fds[64]; /* the link itself: a pin of a device gone is put back as it was */
};

struct ebb_attachments *ebb_attachments_take(const char *bpffs)
{
	struct ebb_attachments *a = calloc(1, sizeof(*a));
	char path[4200];

	if (!a)
		return NULL;
	for (int i = 0; i < 64; i++)
		a->prog_fds[i] = a->link_fds[i] = -1;
	a->n = ebb_prog_list(bpffs, a->links, 64);
	for (int i = 0; i < a->n; i++) {
		const char *mode = a->links[i].mode;

		if ((!strcmp(mode, "native") || !strcmp(mode, "generic")) && a->links[i].prog_id) {
			a->prog_fds[i] = bpf_prog_get_fd_by_id(a->links[i].prog_id);
			if (a->prog_fds[i] < 0)
				goto fail;
		}
		ebb_link_path(bpffs, LINK_PREFIX, a->links[i].ifname, path, sizeof(path));
		a->link_fds[i] = bpf_obj_get(path);
		if (a->link_fds[i] < 0)
			goto fail;
	}
	return a;
fail:
	/* Nothing to roll back to would be a promise not kept: the caller refuses to go on. */
	ebb_attachments_free(a);
	return NULL;
}

static int find_link(const struct ebb_link_info *links, int n, const char *ifname, __u32 link_id)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(links[i].ifname, ifname) && links[i].link_id == link_id)
			return i;
	return -1;
}

int ebb_attachments_restore(const char *bpffs, const struct ebb_attachments *a,
			    struct ebb_err *err)
{
	struct ebb_link_info now[64];
	char path[4200];
	int n = ebb_prog_list(bpffs, now, 64), ret = 0;

	/* A link untouched keeps running throughout; any other is one the batch made. */
	for (int j = 0; j < n; j++)
		if (find_link(a->links, a->n, now[j].ifname, now[j].link_id) < 0 &&
		    ebb_prog_detach(bpffs, now[j].ifname, err))
			ret = -1;
	n = ebb_prog_list(bpffs, now, 64);
	for (int i = 0; i < a->n; i++) {
		const struct ebb_link_info *l = &a->links[i];

		if (find_link(now, n, l->ifname, l->link_id) >= 0)
			continue;
		ebb_link_path(bpffs, LINK_PREFIX, l->ifname, path, sizeof(path));
		if (a->prog_fds[i] < 0) {
			if (bpf_obj_pin(a->link_fds[i], path))
				ret = ebb_errf(err, "cannot pin the link of %s again: %s", l->ifname,
					       strerror(errno));
			continue;
		}
		if (ebb_link_create(bpffs, LINK_PREFIX, l->ifname, l->ifindex, a->prog_fds[i],
				    !strcmp(l->mode, "generic"), err))
			ret = -1;
	}
	return ret;
}

void ebb_attachments_free(struct ebb_attachments *a)
{
	if (!a)
		return;
	for (int i = 0; i < a->n; i++) {
		if (a->prog_fds[i] >= 0)
			close(a->prog_fds[i]);
		if (a->link_fds[i] >= 0)
			close(a->link_fds[i]);
	}
	free(a);
}
