// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Edits in place (weights, a VIP's timeouts), zeroing counters, and a snapshot of the
 * configuration maps that a batch (ebbctl restore) rolls back to when one of its lines fails.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "libebb.h"
#include "internal.h"
#include "libebb_desired.h"

int ebb_node_set_weight(struct ebb *e, const struct ebb_addr *addr, const struct ebb_vip_key *vk,
			__u32 weight, struct ebb_err *err)
{
	struct ebb_desired_have h = {};
	struct ebb_member m, old;
	struct ebb_member_key mk;
	struct ebb_vip vip;
	char aname[64], vname[64];
	__u32 id;
	int ret;

	ebb_fmt_addr(addr->a, addr->family, aname, sizeof(aname));
	ebb_fmt_vip(vk, vname, sizeof(vname));
	h.node = !ebb_node_find(e, addr, &id, NULL);
	h.vip = !ebb_vip_find(e, vk, &vip);
	mk = (struct ebb_member_key){ .vip_id = vip.id, .node_id = id };
	h.serves = h.node && h.vip && !bpf_map_lookup_elem(e->members_fd, &mk, &old);
	if (ebb_desired_node_weight_check(addr, vk, weight, &h, err))
		return -EINVAL;
	if (old.weight == weight)
		return 0; /* nothing changes, not even the tables */
	m = old;
	m.weight = weight;
	if (bpf_map_update_elem(e->members_fd, &mk, &m, BPF_EXIST))
		return ebb_errf(err, "cannot set the weight of %s on %s: %s", aname, vname,
				strerror(errno));
	/* The same rebuild as `node add`: both tables built afresh, each swapped in whole. */
	ret = ebb_rings_rebuild(e, vip.id, err);
	if (ret) {
		bpf_map_update_elem(e->members_fd, &mk, &old, BPF_EXIST);
		ebb_rings_rebuild(e, vip.id, NULL);
	}
	return ret;
}

int ebb_vip_set(struct ebb *e, const struct ebb_vip_key *key, const struct ebb_vip_opts *o,
		struct ebb_err *err)
{
	struct ebb_desired_have h = {};
	struct ebb_desired_vip want;
	struct ebb_vip vip;

	h.vip = !ebb_vip_find(e, key, &vip);
	if (ebb_desired_vip_set_check(key, o, &h, err))
		return -EINVAL;
	ebb_desired_vip_of(key, &vip, &want);
	if (o->tcp_idle_s)
		want.o.tcp_idle_s = o->tcp_idle_s;
	if (o->udp_idle_s)
		want.o.udp_idle_s = o->udp_idle_s;
	if (o->fin_s)
		want.o.fin_s = o->fin_s;
	if (o->drain_timeout_s)
		want.o.drain_timeout_s = o->drain_timeout_s;
	return ebb_vip_replace(e, &want, err);
}

int ebb_stats_zero(struct ebb *e, struct ebb_err *err)
{
	struct ebb_reason_counter *zeros = calloc(ebb_ncpus(), sizeof(*zeros));
	int ret = 0;

	if (!zeros)
		return ebb_errf(err, "out of memory");
	for (__u32 i = 0; i < EBB_MAX_VIPS && !ret; i++)
		if (ebb_counters_zero(e->vip_stats_fd, i) || ebb_vip_reasons_zero(e, i))
			ret = ebb_errf(err, "cannot zero vip_stats: %s", strerror(errno));
	for (__u32 i = 0; i < EBB_MAX_NODES && !ret; i++)
		if (ebb_counters_zero(e->node_stats_fd, i))
			ret = ebb_errf(err, "cannot zero node_stats: %s", strerror(errno));
	for (__u32 r = 0; r < EBB_R_MAX && !ret; r++)
		if (bpf_map_update_elem(e->reasons_fd, &r, zeros, BPF_ANY))
			ret = ebb_errf(err, "cannot zero reasons: %s", strerror(errno));
	free(zeros);
	return ret;
}

/* ---- snapshot of the configuration maps ---- */

struct kv_set {
	void *keys, *vals;
	size_t n, ksz, vsz;
};

struct ebb_snapshot {
	struct kv_set vips, vip_addrs, members;
	struct ebb_node *nodes; /* [EBB_MAX_NODES] */
	struct ebb_settings settings;
	bool have_settings;
	struct ebb_history_copy *history;
	int ring_fds[EBB_MAX_RINGS]; /* the installed tables themselves, held open: put back as they were */
};

static int kv_take(int fd, size_t ksz, size_t vsz, size_t max, struct kv_set *s)
{
	void *prev = NULL;

	s->ksz = ksz;
	s->vsz = vsz;
	s->n = 0;
	s->keys = calloc(max, ksz);
	s->vals = calloc(max, vsz);
	if (!s->keys || !s->vals)
		return -ENOMEM;
	while (s->n < max && !bpf_map_get_next_key(fd, prev, (char *)s->keys + s->n * ksz)) {
		void *k = (char *)s->keys + s->n * ksz;

		prev = k;
		if (!bpf_map_lookup_elem(fd, k, (char *)s->vals + s->n * vsz))
			s->n++;
	}
	return 0;
}

static bool kv_has(const struct kv_set *s, const void *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (!memcmp((char *)s->keys + i * s->ksz, key, s->ksz))
			return true;
	return false;
}

/* Deletes what the snapshot lacks, writes back what it has. */
static void kv_put_back(int fd, const struct kv_set *s, size_t max)
{
	char *cur = calloc(max, s->ksz), key[64];
	void *prev = NULL;
	size_t n = 0;

	if (cur) {
		while (n < max && !bpf_map_get_next_key(fd, prev, cur + n * s->ksz)) {
			prev = cur + n * s->ksz;
			n++;
		}
		for (size_t i = 0; i < n; i++) {
			memcpy(key, cur + i * s->ksz, s->ksz);
			if (!kv_has(s, key))
				bpf_map_delete_elem(fd, key);
		}
		free(cur);
	}
	for (size_t i = 0; i < s->n; i++)
		bpf_map_update_elem(fd, (char *)s->keys + i * s->ksz, (char *)s->vals + i * s->vsz,
				    BPF_ANY);
}

static void kv_free(struct kv_set *s)
{
	free(s->keys);
	free(s->vals);
}

void ebb_snapshot_free(struct ebb_snapshot *s)
{
	if (!s)
		return;
	kv_free(&s->vips);
	kv_free(&s->vip_addrs);
	kv_free(&s->members);
	free(s->nodes);
	ebb_history_copy_free(s->history);
	for (int i = 0; i < EBB_MAX_RINGS; i++)
		if (s->ring_fds[i] >= 0)
			close(s->ring_fds[i]);
	free(s);
}

struct ebb_snapshot *ebb_snapshot_take(struct ebb *e)
{
	struct ebb_snapshot *s = calloc(1, sizeof(*s));
	__u32 zero = 0;

	if (!s)
		return NULL;
	for (__u32 i = 0; i < EBB_MAX_RINGS; i++) {
		__u32 inner_id;

		s->ring_fds[i] = -1;
		if (!bpf_map_lookup_elem(e->rings_fd, &i, &inner_id))
			s->ring_fds[i] = bpf_map_get_fd_by_id(inner_id);
	}
	s->nodes = calloc(EBB_MAX_NODES, sizeof(*s->nodes));
	s->history = ebb_history_copy_take(e);
	if (!s->nodes || !s->history ||
	    kv_take(e->vips_fd, sizeof(struct ebb_vip_key), sizeof(struct ebb_vip), EBB_MAX_VIPS, &s->vips) ||
	    kv_take(e->vip_addrs_fd, sizeof(struct ebb_vip_addr_key), sizeof(__u32), EBB_MAX_VIPS,
		    &s->vip_addrs) ||
	    kv_take(e->members_fd, sizeof(struct ebb_member_key), sizeof(struct ebb_member),
		    EBB_MAX_MEMBERS, &s->members)) {
		ebb_snapshot_free(s);
		return NULL;
	}
	for (__u32 i = 0; i < EBB_MAX_NODES; i++)
		bpf_map_lookup_elem(e->nodes_fd, &i, &s->nodes[i]);
	s->have_settings = !bpf_map_lookup_elem(e->settings_fd, &zero, &s->settings);
	return s;
}

int ebb_snapshot_restore(struct ebb *e, const struct ebb_snapshot *s)
{
	__u32 zero = 0;
	int ret = 0;

	/* Stop owning traffic the snapshot did not own, then put every table back: the very
	 * lookup tables that were installed (not rebuilt copies), so nothing differs after. */
	kv_put_back(e->vips_fd, &s->vips, EBB_MAX_VIPS);
	ebb_vips_by_id_sync(e);
	/* vip_filter must stay a superset of vip_addrs: the snapshot's addresses are let in
	 * before they come back, and bits of addresses the batch added go once they are gone. */
	ret = ebb_vip_filter_sync(e, s->vip_addrs.keys, s->vip_addrs.n);
	kv_put_back(e->vip_addrs_fd, &s->vip_addrs, EBB_MAX_VIPS);
	if (!ret)
		ret = ebb_vip_filter_sync(e, NULL, 0);
	for (__u32 i = 0; i < EBB_MAX_NODES; i++)
		bpf_map_update_elem(e->nodes_fd, &i, &s->nodes[i], BPF_ANY);
	kv_put_back(e->members_fd, &s->members, EBB_MAX_MEMBERS);
	if (s->have_settings)
		bpf_map_update_elem(e->settings_fd, &zero, &s->settings, BPF_ANY);
	/* the tables' history as it was with them: entries the batch made go (before the tables
	 * whose change they record are put back, they are only extra candidates) */
	if (ebb_history_copy_put_back(e, s->history))
		ret = -EIO;
	for (__u32 i = 0; i < EBB_MAX_RINGS; i++) {
		if (s->ring_fds[i] >= 0) {
			if (bpf_map_update_elem(e->rings_fd, &i, &s->ring_fds[i], BPF_ANY))
				ret = -errno;
		} else if (bpf_map_delete_elem(e->rings_fd, &i) && errno != ENOENT) {
			ret = -errno;
		}
	}
	return ret;
}
