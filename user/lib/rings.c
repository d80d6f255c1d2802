// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Building a VIP's two lookup tables from its members and their node states, and swapping each
 * in with one update of the outer map: readers see the old table or the new, never a mix.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>

#include "libebb.h"
#include "internal.h"

/* The whole of ring_changes, mapped: *n words (EBB_RING_CHANGES, or fewer in maps made by a layout
 * of fewer VIPs, which this libebb may still write before their `prog upgrade`). */
static __u64 *ring_changes_map(int fd, size_t *n, size_t *len)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	void *mem;

	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return NULL;
	*n = info.max_entries;
	*len = (*n * sizeof(__u64) + page - 1) / page * page;
	mem = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return mem == MAP_FAILED ? NULL : mem;
}

int ebb_ring_changes_fill(int fd)
{
	size_t n, len;
	__u64 *words = ring_changes_map(fd, &n, &len);

	if (!words)
		return -errno;
	for (size_t i = 0; i < n; i++)
		__atomic_store_n(&words[i], ~0ULL, __ATOMIC_RELAXED);
	munmap(words, len);
	return 0;
}

int ebb_ring_changes_mark(struct ebb *e, __u32 vip_id, __u32 m, __u32 rings_changed,
			  const __u32 *old, const __u32 *new)
{
	bool window_over = (__s32)(ebb_seen_tick(ebb_now_ns()) - rings_changed) > EBB_SYN_RETRY_TICKS;
	__u64 *base, *words;
	size_t n, len;

	if (e->ring_changes_fd < 0) /* an older layout: its datapath asks for every SYN */
		return 0;
	if (vip_id >= EBB_MAX_VIPS || m > EBB_RING_SIZE)
		return -EINVAL;
	base = ring_changes_map(e->ring_changes_fd, &n, &len);
	if (!base)
		return -errno;
	if ((size_t)(vip_id + 1) * EBB_RING_CHANGE_WORDS > n) {
		munmap(base, len);
		return -E2BIG;
	}
	words = base + (size_t)vip_id * EBB_RING_CHANGE_WORDS;
	for (__u32 w = 0; w < EBB_RING_CHANGE_WORDS; w++) {
		__u64 bits = 0;

		for (__u32 b = 0; b < 64 && w * 64 + b < m; b++) {
			__u32 slot = w * 64 + b;

			if (!old || old[slot] != new[slot])
				bits |= 1ULL << b;
		}
		/* While the window is open the datapath reads these words: bits are only added.
		 * Once it is over, nothing reads them until rings_changed moves (after this). */
		if (window_over)
			__atomic_store_n(&words[w], bits, __ATOMIC_RELEASE);
		else if (bits)
			__atomic_fetch_or(&words[w], bits, __ATOMIC_RELEASE);
	}
	munmap(base, len);
	return 0;
}

/* A fresh inner table of `elems` elements with `flags`, filled with table's first m slots. */
static int fill_ring(__u32 flags, __u32 elems, __u32 m, const __u32 *table, struct ebb_err *err)
{
	LIBBPF_OPTS(bpf_map_create_opts, create, .map_flags = flags);
	int inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ebb_ring", sizeof(__u32),
				   sizeof(struct ebb_ring_elem), elems, &create);
	void *mem;

	if (inner < 0)
		return ebb_errf(err, "cannot create a lookup table: %s", strerror(errno));
	mem = mmap(NULL, ebb_ring_bytes(elems), PROT_READ | PROT_WRITE, MAP_SHARED, inner, 0);
	if (mem == MAP_FAILED) {
		ebb_errf(err, "cannot map a lookup table: %s", strerror(errno));
		close(inner);
		return -1;
	}
	for (__u32 i = 0; i < m && i < elems * 4; i++)
		((__u16 *)mem)[i] = (__u16)table[i];
	munmap(mem, ebb_ring_bytes(elems));
	return inner;
}

/* Publishes table as ring_id: deleted when the VIP has no node of that kind (n == 0: the
 * datapath finds no table and drops, counted as drop_no_node), left alone when the installed
 * one is the same (old, as read before), else a fresh inner map filled and swapped in. */
static int swap_in_ring(struct ebb *e, __u32 ring_id, __u32 m, size_t n, const __u32 *table,
			const __u32 *old, bool old_present, struct ebb_err *err)
{
	int inner, ret = 0;

	if (n == 0) {
		if (bpf_map_delete_elem(e->rings_fd, &ring_id) && errno != ENOENT)
			return ebb_errf(err, "cannot clear ring %u: %s", ring_id, strerror(errno));
		return 0;
	}
	/* The same table: a swap would be work for nothing, and a wait for an RCU grace period
	 * (a drain or an activation leaves the second-chance table as it was). */
	if (old_present && !memcmp(old, table, EBB_RING_SIZE * sizeof(*table)))
		return 0;
	/* BPF_F_INNER_MAP: the outer map takes tables of any size (bpf/maps.h). Filled before
	 * anyone can see it; then one update of the outer map publishes it. */
	inner = fill_ring(BPF_F_MMAPABLE | BPF_F_INNER_MAP, (m + 3) / 4, m, table, err);
	if (inner < 0)
		return -1;
	ret = bpf_map_update_elem(e->rings_fd, &ring_id, &inner, BPF_ANY) ? -errno : 0;
	if (ret == -EINVAL) {
		/* the outer map of a layout before 8 (until `prog upgrade`): tables of
		 * EBB_RING_SIZE slots without the flag, as its VIPs all have */
		close(inner);
		inner = fill_ring(BPF_F_MMAPABLE, EBB_RING_ELEMS, m, table, err);
		if (inner < 0)
			return -1;
		ret = bpf_map_update_elem(e->rings_fd, &ring_id, &inner, BPF_ANY) ? -errno : 0;
	}
	if (ret)
		ret = ebb_errf(err, "cannot install lookup table %u: %s", ring_id, strerror(-ret));
	close(inner); /* the outer map holds it now */
	return ret;
}

static int build_ring(__u32 ring_id, const struct ebb_maglev_node *set, size_t n, __u32 m,
		      __u32 *table, struct ebb_err *err)
{
	int ret = ebb_table_build(set, n, m, table);

	if (ret)
		return ebb_errf(err, "cannot build lookup table %u: %s", ring_id, strerror(-ret));
	return 0;
}

/* The datapath asks the second-chance table about a SYN under the flood guard only while the
 * VIP has a draining node: the only time the two tables differ. With `changing`, the VIP's
 * tables are about to change: the datapath asks the flow table about bare SYNs again, for as
 * long as a client retries one, so that a retry goes where its first try went. */
static int set_has_draining(struct ebb *e, __u32 vip_id, int on, bool changing,
			    struct ebb_err *err)
{
	struct ebb_vip_key key;
	struct ebb_vip vip;

	if (ebb_vip_by_id(e, vip_id, &key, &vip))
		return 0;
	if (on < 0) /* as it is */
		on = vip.has_draining;
	if (vip.has_draining == on && !changing)
		return 0;
	vip.has_draining = on;
	if (changing)
		vip.rings_changed = ebb_seen_tick(ebb_now_ns());
	if (ebb_vip_store(e, &key, &vip, BPF_EXIST))
		return ebb_errf(err, "cannot update VIP %u: %s", vip_id, strerror(errno));
	return 0;
}

int ebb_rings_rebuild_as(struct ebb *e, __u32 vip_id, __u32 override_id, __u8 override_state,
			 struct ebb_err *err)
{
	struct ebb_maglev_node *fresh = NULL, *second = NULL;
	struct ebb_member_key mk, *prev = NULL;
	struct ebb_history_plan *plan = NULL;
	size_t n_fresh = 0, n_second = 0;
	__u32 *tab_new = NULL, *tab_sec = NULL, *old_new = NULL, *old_sec = NULL;
	bool have_old_new, have_old_sec;
	struct ebb_vip vip = {};
	int ret = -ENOMEM;
	__u32 m;

	fresh = calloc(EBB_MAX_NODES, sizeof(*fresh));
	second = calloc(EBB_MAX_NODES, sizeof(*second));
	tab_new = calloc(EBB_RING_SIZE, sizeof(*tab_new));
	tab_sec = calloc(EBB_RING_SIZE, sizeof(*tab_sec));
	old_new = calloc(EBB_RING_SIZE, sizeof(*old_new));
	old_sec = calloc(EBB_RING_SIZE, sizeof(*old_sec));
	if (!fresh || !second || !tab_new || !tab_sec || !old_new || !old_sec) {
		ebb_errf(err, "out of memory");
		goto out;
	}

	while (!bpf_map_get_next_key(e->members_fd, prev, &mk)) {
		struct ebb_member m;
		struct ebb_node node;
		struct ebb_maglev_node mn = {};
		__u8 state;

		prev = &mk;
		if (mk.vip_id != vip_id || bpf_map_lookup_elem(e->members_fd, &mk, &m) ||
		    bpf_map_lookup_elem(e->nodes_fd, &mk.node_id, &node))
			continue;
		state = mk.node_id == override_id ? override_state : node.state;
		mn.id = mk.node_id;
		mn.weight = m.weight;
		memcpy(mn.seed, node.addr, 16);
		mn.seed[16] = node.family;
		if (state == EBB_NODE_ACTIVE)
			fresh[n_fresh++] = mn;
		if (state == EBB_NODE_ACTIVE || state == EBB_NODE_DRAINING)
			second[n_second++] = mn;
	}
	ebb_vip_by_id(e, vip_id, NULL, &vip);
	m = ebb_vip_table_size(&vip);
	/* Both tables built before anything is written: a table that cannot be built fails the
	 * change whole. Second-chance first, as they are published. */
	ret = build_ring(EBB_RING_SECOND(vip_id), second, n_second, m, tab_sec, err);
	if (!ret)
		ret = build_ring(EBB_RING_NEW(vip_id), fresh, n_fresh, m, tab_new, err);
	if (ret)
		goto out;
	/* The tables as they are (none: all 0), for the slot history and to skip a swap of an
	 * identical table. */
	have_old_new = !ebb_ring_read(e, EBB_RING_NEW(vip_id), old_new);
	have_old_sec = !ebb_ring_read(e, EBB_RING_SECOND(vip_id), old_sec);
	if (!have_old_new)
		memset(old_new, 0, EBB_RING_SIZE * sizeof(*old_new));
	if (!have_old_sec)
		memset(old_sec, 0, EBB_RING_SIZE * sizeof(*old_sec));
	/* History is best effort by design: a plan that cannot be made (no memory) leaves the
	 * slots without older candidates, never the change half-applied. */
	plan = ebb_history_plan(e, vip_id, vip.tcp_idle_s, old_new, old_sec, tab_new, tab_sec,
				ebb_now_ns());
	if (!plan && e->slot_history_fd >= 0 && (memcmp(old_new, tab_new, EBB_RING_SIZE * 4) || memcmp(old_sec, tab_sec, EBB_RING_SIZE * 4)))
		ebb_history_count_lost(e, vip_id, 1);

	/* The slots whose owner changes are marked before the window opens (rings_changed). */
	ret = ebb_ring_changes_mark(e, vip_id, m, vip.rings_changed, have_old_new ? old_new : NULL,
				    tab_new);
	if (ret) {
		ebb_errf(err, "cannot mark the changed slots of VIP %u: %s", vip_id, strerror(-ret));
		goto out;
	}
	/* The flag goes up before the tables differ, and down once they are the same again; the
	 * time of the change is written before either table is swapped. */
	ret = set_has_draining(e, vip_id, n_second != n_fresh ? 1 : -1, true, err);
	/* A slot's old owners are candidates before it stops owning the slot. */
	if (!ret)
		ebb_history_count_lost(e, vip_id, ebb_history_write(e, plan));
	/* Second-chance table first: it must never lack a node the new-flow table has. */
	if (!ret)
		ret = swap_in_ring(e, EBB_RING_SECOND(vip_id), m, n_second, tab_sec, old_sec, have_old_sec, err);
	if (!ret)
		ret = swap_in_ring(e, EBB_RING_NEW(vip_id), m, n_fresh, tab_new, old_new, have_old_new, err);
	if (!ret && n_second == n_fresh)
		ret = set_has_draining(e, vip_id, 0, false, err);
out:
	ebb_history_plan_free(plan);
	free(fresh);
	free(second);
	free(tab_new);
	free(tab_sec);
	free(old_new);
	free(old_sec);
	return ret;
}

int ebb_rings_rebuild(struct ebb *e, __u32 vip_id, struct ebb_err *err)
{
	return ebb_rings_rebuild_as(e, vip_id, 0, 0, err);
}
