// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Configuration changes. Each one checks everything it can before it writes anything, and
 * writes in an order that leaves the datapath consistent at every step: a failure leaves the
 * maps as they were (or rolls back the one write that went through).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "libebb.h"
#include "internal.h"
#include "libebb_agent.h"
#include "libebb_desired.h"

static void addr_key_of(const struct ebb_vip_key *vk, struct ebb_vip_addr_key *ak)
{
	memset(ak, 0, sizeof(*ak));
	memcpy(ak->addr, vk->addr, sizeof(ak->addr));
	ak->family = vk->family;
}

/*
 * vip_filter from vip_addrs, and `extra` (an address about to be added) if given: the datapath's
 * quick "not ours" test. Bits are only ever set before an address becomes a VIP's and cleared
 * after it stopped being one, so the filter is a superset of vip_addrs at every moment (a
 * reader may see some words old and some new: each is a superset too).
 */
int ebb_vip_filter_sync(struct ebb *e, const struct ebb_vip_addr_key *extra, size_t n_extra)
{
	struct ebb_vip_filter f = {};
	struct ebb_vip_addr_key *keys = calloc(EBB_MAX_VIPS, sizeof(*keys));
	__u32 *refs = calloc(EBB_MAX_VIPS, sizeof(*refs)), zero = 0, bit;
	int log = ebb_index_log(e->vip_filter_fd, 1, EBB_VIP_FILTER_BITS_LOG);
	int n = log < 0 ? log :
		keys && refs ? ebb_map_dump(e->vip_addrs_fd, keys, refs, EBB_MAX_VIPS,
					    sizeof(*keys), sizeof(*refs)) :
			       -ENOMEM;

	for (size_t i = 0; n >= 0 && i < n_extra; i++) {
		bit = ebb_vip_filter_bit_of(extra[i].addr, extra[i].family, log);
		f.bits[bit / 64] |= 1ULL << (bit % 64);
	}
	for (int i = 0; i < n; i++) {
		bit = ebb_vip_filter_bit_of(keys[i].addr, keys[i].family, log);
		f.bits[bit / 64] |= 1ULL << (bit % 64);
	}
	free(keys);
	free(refs);
	if (n < 0) /* a filter without the addresses would pass their packets */
		return n;
	return bpf_map_update_elem(e->vip_filter_fd, &zero, &f, BPF_ANY) ? -errno : 0;
}

/* Whether an address is a VIP's (of any port and protocol). */
static bool vip_addr_held(struct ebb *e, const struct ebb_addr *a)
{
	struct ebb_vip_addr_key ak = { .family = a->family };
	__u32 refs;

	memcpy(ak.addr, a->a, sizeof(ak.addr));
	return !bpf_map_lookup_elem(e->vip_addrs_fd, &ak, &refs);
}

static int count_keys(int fd, void *key)
{
	void *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(fd, prev, key)) {
		prev = key;
		n++;
	}
	return n;
}

/* What the maps hold that a write of VIP vk (options vo) or node a on it needs checked. */
static void have_read(struct ebb *e, const struct ebb_addr *a, const struct ebb_vip_key *vk,
		      const struct ebb_vip_opts *vo, struct ebb_desired_have *h)
{
	struct ebb_vip_key kbuf;
	struct ebb_vip vip;
	struct ebb_node node;
	__u32 id;

	memset(h, 0, sizeof(*h));
	h->vip = vk && !ebb_vip_find(e, vk, &vip);
	if (vo) {
		struct ebb_addr va = { .family = vk->family }, s4 = { .family = EBB_FAMILY_V4 },
				s6 = { .family = EBB_FAMILY_V6 };

		memcpy(va.a, vk->addr, sizeof(va.a));
		ebb_desired_have_local(h, &va);
		s4.a[0] = vo->encap_src4;
		memcpy(s6.a, vo->encap_src6, sizeof(s6.a));
		h->addr_is_node = !ebb_node_find(e, &va, NULL, NULL);
		h->src4_is_vip = vo->encap_src4 && vip_addr_held(e, &s4);
		h->src6_is_vip = (vo->encap_src6[0] | vo->encap_src6[1] | vo->encap_src6[2] |
				  vo->encap_src6[3]) && vip_addr_held(e, &s6);
		h->n_vips = count_keys(e->vips_fd, &kbuf);
	}
	if (!a)
		return;
	h->addr_is_vip = vip_addr_held(e, a);
	h->node = !ebb_node_find(e, a, &id, &node);
	if (!h->node)
		return;
	h->node_is.addr = *a;
	h->node_is.state = node.state;
	h->node_is.have_mac = true;
	memcpy(h->node_is.mac, node.mac, 6);
	h->node_is.node_prog = node.flags & EBB_NODE_F_NODE_PROG;
	h->serves = h->vip && !bpf_map_lookup_elem(e->members_fd,
						   &(struct ebb_member_key){ .vip_id = vip.id, .node_id = id },
						   &(struct ebb_member){});
}

void ebb_desired_vip_of(const struct ebb_vip_key *key, const struct ebb_vip *v, struct ebb_desired_vip *out)
{
	struct ebb_vip_opts *o = &out->o;

	memset(out, 0, sizeof(*out));
	out->key = *key;
	o->fwd = v->fwd;
	o->tcp_idle_s = v->tcp_idle_s;
	o->udp_idle_s = v->udp_idle_s;
	o->fin_s = v->fin_s;
	o->drain_timeout_s = v->drain_timeout_s;
	o->table_size = ebb_vip_table_size(v);
	o->encap_src4 = v->encap_src4;
	memcpy(o->encap_src6, v->encap_src6, sizeof(o->encap_src6));
}

int ebb_desired_vips_read(struct ebb *e, struct ebb_desired_vip *out)
{
	struct ebb_vip_key *keys = calloc(EBB_MAX_VIPS, sizeof(*keys));
	struct ebb_vip *vals = calloc(EBB_MAX_VIPS, sizeof(*vals));
	int n = keys && vals ? ebb_vips_read(e, keys, vals) : -ENOMEM;

	for (int i = 0; i < n; i++)
		ebb_desired_vip_of(&keys[i], &vals[i], &out[i]);
	free(keys);
	free(vals);
	return n;
}

int ebb_desired_members_read(struct ebb *e, struct ebb_desired_node *out)
{
	struct ebb_member_key *mk = calloc(EBB_MAX_MEMBERS, sizeof(*mk));
	struct ebb_member *mv = calloc(EBB_MAX_MEMBERS, sizeof(*mv));
	struct ebb_vip_key *vk = calloc(EBB_MAX_VIPS, sizeof(*vk));
	struct ebb_vip *vv = calloc(EBB_MAX_VIPS, sizeof(*vv));
	/* the members by node id, each node's in the map's order: start[id] .. start[id + 1] */
	__u32 *start = calloc(EBB_MAX_NODES + 1, sizeof(*start)), *by_node = calloc(EBB_MAX_MEMBERS, sizeof(*by_node));
	int n_m = mk && mv && vk && vv && start && by_node ?
			  ebb_map_dump(e->members_fd, mk, mv, EBB_MAX_MEMBERS, sizeof(*mk), sizeof(*mv)) : -ENOMEM;
	int n_v = n_m < 0 ? n_m : ebb_vips_read(e, vk, vv), n = 0;

	if (n_v < 0) {
		n = n_v;
		goto out;
	}
	for (int i = 0; i < n_m; i++)
		if (mk[i].node_id < EBB_MAX_NODES)
			start[mk[i].node_id + 1]++;
	for (__u32 id = 0; id < EBB_MAX_NODES; id++)
		start[id + 1] += start[id];
	for (int i = 0; i < n_m; i++)
		if (mk[i].node_id < EBB_MAX_NODES)
			by_node[start[mk[i].node_id]++] = (__u32)i;
	/* each start[id] now where id's members end: id's begin at start[id - 1] */
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct ebb_desired_node base = {};
		struct ebb_node node;
		bool any = false;

		if (bpf_map_lookup_elem(e->nodes_fd, &id, &node) || node.state == EBB_NODE_UNUSED)
			continue;
		memcpy(base.addr.a, node.addr, sizeof(base.addr.a));
		base.addr.family = node.family;
		base.state = node.state;
		base.drain_timeout_s = node.drain_timeout_s;
		base.have_mac = true;
		memcpy(base.mac, node.mac, 6);
		base.node_prog = node.flags & EBB_NODE_F_NODE_PROG;
		for (__u32 j = start[id - 1]; j < start[id]; j++) {
			const struct ebb_member_key *k = &mk[by_node[j]];

			for (int v = 0; v < n_v; v++) {
				if (vv[v].id != k->vip_id)
					continue;
				out[n] = base;
				out[n].vip = vk[v];
				out[n++].weight = mv[by_node[j]].weight;
				any = true;
				break;
			}
		}
		if (!any)
			out[n++] = base; /* serves no VIP: held all the same */
	}
out:
	free(mk);
	free(mv);
	free(vk);
	free(vv);
	free(start);
	free(by_node);
	return n;
}

int ebb_vip_replace(struct ebb *e, const struct ebb_desired_vip *v, struct ebb_err *err)
{
	struct ebb_desired_vip was = {};
	struct ebb_desired_have h;
	struct ebb_vip_opts filled = v->o;
	struct ebb_vip vip;
	char name[64];

	ebb_fmt_vip(&v->key, name, sizeof(name));
	have_read(e, NULL, &v->key, &v->o, &h);
	h.vip = !ebb_vip_find(e, &v->key, &vip);
	if (h.vip)
		ebb_desired_vip_of(&v->key, &vip, &was);
	if (ebb_desired_vip_replace_check(v, &was, &h, err))
		return -EINVAL;
	ebb_vip_opts_defaults(&filled);
	vip.tcp_idle_s = filled.tcp_idle_s;
	vip.udp_idle_s = filled.udp_idle_s;
	vip.fin_s = filled.fin_s;
	vip.drain_timeout_s = filled.drain_timeout_s;
	vip.encap_src4 = v->o.encap_src4;
	memcpy(vip.encap_src6, v->o.encap_src6, sizeof(vip.encap_src6));
	/* One map update: readers see the old values or the new ones, never a mix. */
	if (ebb_vip_store(e, &v->key, &vip, BPF_EXIST))
		return ebb_errf(err, "cannot update VIP %s: %s", name, strerror(errno));
	return 0;
}

static int free_vip_id(struct ebb *e, __u32 *id)
{
	bool used[EBB_MAX_VIPS] = {};
	struct ebb_vip_key *keys = calloc(EBB_MAX_VIPS, sizeof(*keys));
	struct ebb_vip *vals = calloc(EBB_MAX_VIPS, sizeof(*vals));
	int n = keys && vals ? ebb_vips_read(e, keys, vals) : -ENOMEM;

	for (int i = 0; i < n; i++)
		if (vals[i].id < EBB_MAX_VIPS)
			used[vals[i].id] = true;
	free(keys);
	free(vals);
	if (n < 0)
		return n;
	for (__u32 i = 0; i < EBB_MAX_VIPS; i++)
		if (!used[i]) {
			*id = i;
			return 0;
		}
	return -ENOSPC;
}

int ebb_check_encap_src(struct ebb *e, const struct ebb_vip_key *key, const struct ebb_addr *src,
			bool need_local, struct ebb_err *err)
{
	struct ebb_desired_vip v = { .key = *key };
	struct ebb_desired_have h = {};
	char name[64];

	if (src->family == EBB_FAMILY_V4) {
		v.o.encap_src4 = src->a[0];
		h.src4_is_vip = e && vip_addr_held(e, src);
	} else {
		memcpy(v.o.encap_src6, src->a, sizeof(v.o.encap_src6));
		h.src6_is_vip = e && vip_addr_held(e, src);
	}
	if (ebb_desired_vip_add_check(&v, &h, err))
		return -EINVAL;
	if (need_local && ebb_addr_local(src, NULL, 0) == 0)
		return ebb_errf(err, "encap-src %s is not an address of this host: the outer source must be one of its own, so that ICMP errors about the tunnel (fragmentation needed, unreachable) come back to it",
				ebb_fmt_addr(src->a, src->family, name, sizeof(name)));
	return 0;
}

int ebb_vip_add(struct ebb *e, const struct ebb_vip_key *key, const struct ebb_vip_opts *o,
		struct ebb_err *err)
{
	struct ebb_desired_have h;
	struct ebb_vip_addr_key ak;
	struct ebb_vip vip = {};
	struct ebb_vip_opts filled;
	__u32 refs = 0;
	int ret;
	char name[64];

	ebb_fmt_vip(key, name, sizeof(name));
	have_read(e, NULL, key, o, &h);
	if (ebb_desired_vip_add_check(&(struct ebb_desired_vip){ .key = *key, .o = *o }, &h, err))
		return -EINVAL;
	/* on the maps, not in the fleet's state: there each host fills in its own addresses */
	if (o->fwd == EBB_FWD_IPIP && !o->encap_src4 &&
	    !(o->encap_src6[0] | o->encap_src6[1] | o->encap_src6[2] | o->encap_src6[3]))
		return ebb_errf(err, "fwd ipip needs an outer source address: add 'encap-src ADDR'");
	if (free_vip_id(e, &vip.id))
		return ebb_errf(err, "cannot add VIP %s: no free VIP id", name);
	filled = *o;
	ebb_vip_opts_defaults(&filled);
	vip.fwd = filled.fwd;
	vip.tcp_idle_s = filled.tcp_idle_s;
	vip.udp_idle_s = filled.udp_idle_s;
	vip.fin_s = filled.fin_s;
	vip.drain_timeout_s = filled.drain_timeout_s;
	vip.encap_src4 = filled.encap_src4;
	memcpy(vip.encap_src6, filled.encap_src6, sizeof(vip.encap_src6));
	vip.table_size = filled.table_size;

	/* Counters, tables and members of an earlier VIP with this id (one deleted by hand, or
	 * by a writer that died half-way) must not show through. */
	for (size_t n = 64; n == 64;) {
		struct ebb_member_key mk, *prev = NULL, stale[64];

		for (n = 0; n < 64 && !bpf_map_get_next_key(e->members_fd, prev, &mk);) {
			prev = &mk;
			if (mk.vip_id == vip.id)
				stale[n++] = mk;
		}
		for (size_t i = 0; i < n; i++)
			bpf_map_delete_elem(e->members_fd, &stale[i]);
	}
	/* (looked up first: a map-of-maps delete waits for an RCU grace period even when the
	 * slot is empty, and a new id's slots are: 1024 VIPs added took over a minute) */
	for (__u32 r = EBB_RING_NEW(vip.id); r <= EBB_RING_SECOND(vip.id); r++) {
		__u32 inner_id;

		if (!bpf_map_lookup_elem(e->rings_fd, &r, &inner_id))
			bpf_map_delete_elem(e->rings_fd, &r);
	}
	ebb_history_forget_vip(e, vip.id);
	ebb_counters_zero(e->vip_stats_fd, vip.id);
	ebb_vip_reasons_zero(e, vip.id);

	/* Its tables are new: every SYN's flow is looked up while they settle (rings_changed;
	 * an earlier VIP of this id may have left flows in every slot). */
	ret = ebb_ring_changes_mark(e, vip.id, vip.table_size, 0, NULL, NULL);
	if (ret)
		return ebb_errf(err, "cannot add VIP %s: cannot mark its slots: %s", name,
				strerror(-ret));
	vip.rings_changed = ebb_seen_tick(ebb_now_ns());

	addr_key_of(key, &ak);
	if (ebb_vip_filter_sync(e, &ak, 1))
		return ebb_errf(err, "cannot add VIP %s: %s", name, strerror(errno));
	bpf_map_lookup_elem(e->vip_addrs_fd, &ak, &refs);
	refs++;
	if (bpf_map_update_elem(e->vip_addrs_fd, &ak, &refs, BPF_ANY))
		return ebb_errf(err, "cannot add VIP %s: %s", name, strerror(errno));
	if (ebb_vip_store(e, key, &vip, BPF_NOEXIST)) {
		int saved = errno;

		if (--refs)
			bpf_map_update_elem(e->vip_addrs_fd, &ak, &refs, BPF_ANY);
		else
			bpf_map_delete_elem(e->vip_addrs_fd, &ak);
		return ebb_errf(err, "cannot add VIP %s: %s", name, strerror(saved));
	}
	return 0;
}

/* Node ids of a VIP's members (vip_id given) or VIP ids of a node's memberships. */
static size_t member_list(struct ebb *e, const __u32 *vip_id, const __u32 *node_id,
			  struct ebb_member_key *out, size_t max)
{
	struct ebb_member_key k, *prev = NULL;
	size_t n = 0;

	while (n < max && !bpf_map_get_next_key(e->members_fd, prev, &k)) {
		prev = &k;
		if ((vip_id && k.vip_id != *vip_id) || (node_id && k.node_id != *node_id))
			continue;
		out[n++] = k;
	}
	return n;
}

static __u64 sum_live(const __u64 *counts)
{
	__u64 total = 0;

	for (int i = 0; i < EBB_MAX_NODES; i++)
		total += counts[i];
	return total;
}

int ebb_vip_del(struct ebb *e, const struct ebb_vip_key *key, bool force, struct ebb_err *err)
{
	struct ebb_member_key *members = NULL;
	struct ebb_desired_have h;
	struct ebb_vip_addr_key ak;
	struct ebb_vip vip;
	__u64 *live = NULL;
	__u32 refs = 0;
	size_t n;
	char name[64];
	long purged;
	int ret = 0;

	ebb_fmt_vip(key, name, sizeof(name));
	have_read(e, NULL, key, NULL, &h);
	if (ebb_desired_vip_del_check(key, &h, err))
		return -EINVAL;
	ebb_vip_find(e, key, &vip);
	live = calloc(EBB_MAX_NODES, sizeof(*live));
	members = calloc(EBB_MAX_MEMBERS, sizeof(*members));
	if (!live || !members) {
		ret = ebb_errf(err, "out of memory");
		goto out;
	}
	if (ebb_live_flows(e, live, &vip.id)) {
		ret = ebb_errf(err, "cannot read the flow table: %s", strerror(errno));
		goto out;
	}
	if (sum_live(live) && !force) {
		ret = ebb_errf(err, "VIP %s has %llu live flows; drain its nodes first, or add 'force'",
			       name, (unsigned long long)sum_live(live));
		goto out;
	}
	/*
	 * Its flows go first, while everything else is as it was: a VIP added later (this one
	 * again, or another given its id) must find no pin of this one. Then it stops owning the
	 * traffic, and flows pinned by packets in flight meanwhile go too.
	 */
	purged = ebb_flows_purge_vip(e, key, &vip);
	if (purged < 0) {
		ret = ebb_errf(err, "cannot purge the flows of VIP %s: %s", name, strerror((int)-purged));
		goto out;
	}
	addr_key_of(key, &ak);
	ebb_vip_unindex(e, key, vip.id); /* its slot and copy first: `vips` is what they copy */
	if (bpf_map_delete_elem(e->vips_fd, key)) {
		ret = ebb_errf(err, "cannot delete VIP %s: %s", name, strerror(errno));
		ebb_vips_by_id_sync(e);
		goto out;
	}
	if (!bpf_map_lookup_elem(e->vip_addrs_fd, &ak, &refs) && refs > 1) {
		refs--;
		bpf_map_update_elem(e->vip_addrs_fd, &ak, &refs, BPF_ANY);
	} else {
		bpf_map_delete_elem(e->vip_addrs_fd, &ak);
		ebb_vip_filter_sync(e, NULL, 0);
	}
	ebb_flows_purge_vip(e, key, &vip);
	n = member_list(e, &vip.id, NULL, members, EBB_MAX_MEMBERS);
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(e->members_fd, &members[i]);
	bpf_map_delete_elem(e->rings_fd, &(__u32){ EBB_RING_NEW(vip.id) });
	bpf_map_delete_elem(e->rings_fd, &(__u32){ EBB_RING_SECOND(vip.id) });
	/* after its tables: no packet can ask the history of a VIP that is gone */
	ebb_history_forget_vip(e, vip.id);
out:
	free(live);
	free(members);
	return ret;
}

/*
 * A free id that no slot history names: a rescue's candidate is a node id, and an id given
 * anew while the history still names it would send a deleted node's flows to a stranger.
 * Only when every free id is named, one named by expired owners alone is taken, once a sweep
 * has removed them.
 */
static int free_node_id(struct ebb *e, __u32 *id)
{
	__u8 named[EBB_MAX_NODES];
	struct ebb_node n;

	if (ebb_history_named(e, named))
		memset(named, 2, sizeof(named)); /* cannot tell: reuse none */
	for (int pass = 0; pass < 2; pass++)
		for (__u32 i = 1; i < EBB_MAX_NODES; i++)
			if (named[i] == pass && !bpf_map_lookup_elem(e->nodes_fd, &i, &n) &&
			    n.state == EBB_NODE_UNUSED) {
				if (pass)
					ebb_history_sweep(e, ebb_now_ns());
				*id = i;
				return 0;
			}
	return -ENOSPC;
}

static int count_nodes(struct ebb *e)
{
	struct ebb_node n;
	int used = 0;

	for (__u32 i = 1; i < EBB_MAX_NODES; i++)
		used += !bpf_map_lookup_elem(e->nodes_fd, &i, &n) && n.state != EBB_NODE_UNUSED;
	return used;
}

static int count_members(struct ebb *e)
{
	struct ebb_member_key k, *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(e->members_fd, prev, &k)) {
		prev = &k;
		n++;
	}
	return n;
}

int ebb_node_add(struct ebb *e, const struct ebb_addr *addr, const struct ebb_vip_key *vk,
		 const struct ebb_node_opts *o, struct ebb_err *err)
{
	struct ebb_member member = { .weight = o->weight ? o->weight : EBB_DEFAULT_WEIGHT };
	struct ebb_desired_node want = {};
	struct ebb_desired_have h;
	struct ebb_member_key mk;
	struct ebb_node node = {};
	struct ebb_vip vip = {};
	char aname[64], vname[64];
	bool is_new;
	__u32 id;
	int ret;

	ebb_fmt_addr(addr->a, addr->family, aname, sizeof(aname));
	ebb_fmt_vip(vk, vname, sizeof(vname));
	have_read(e, addr, vk, NULL, &h);
	ebb_desired_have_local(&h, addr);
	if (!h.node)
		h.n_nodes = count_nodes(e);
	h.n_members = count_members(e);
	want.vip = *vk;
	want.addr = *addr;
	want.weight = o->weight;
	want.state = o->inactive ? EBB_NODE_INACTIVE : EBB_NODE_ACTIVE;
	want.have_mac = o->have_mac;
	memcpy(want.mac, o->mac, 6);
	want.node_prog = o->node_prog;
	if (ebb_desired_node_add_check(&want, &h, err))
		return -EINVAL;
	ebb_vip_find(e, vk, &vip);
	/* on the maps, not in the fleet's state: there each host fills in its own addresses */
	if (vip.fwd == EBB_FWD_IPIP &&
	    (addr->family == EBB_FAMILY_V4 ? !vip.encap_src4 :
	     !(vip.encap_src6[0] | vip.encap_src6[1] | vip.encap_src6[2] | vip.encap_src6[3])))
		return ebb_errf(err, "VIP %s has no IPv%d outer source for node %s: add it with 'encap-src ADDR'",
				vname, addr->family, aname);
	is_new = ebb_node_find(e, addr, &id, &node) != 0;
	if (is_new) {
		if (free_node_id(e, &id))
			return ebb_errf(err, "cannot add node %s: no free node id", aname);
		if (ebb_desired_node_mac(&want, err))
			return -EINVAL;
		memcpy(node.addr, addr->a, sizeof(node.addr));
		node.family = addr->family;
		node.state = want.state;
		node.state_since_ns = ebb_now_ns();
		if (o->node_prog)
			node.flags |= EBB_NODE_F_NODE_PROG;
		memcpy(node.mac, want.mac, 6);
	}
	mk = (struct ebb_member_key){ .vip_id = vip.id, .node_id = id };

	if (is_new) {
		ebb_counters_zero(e->node_stats_fd, id);
		if (bpf_map_update_elem(e->nodes_fd, &id, &node, BPF_ANY))
			return ebb_errf(err, "cannot add node %s: %s", aname, strerror(errno));
	}
	if (bpf_map_update_elem(e->members_fd, &mk, &member, BPF_NOEXIST)) {
		ret = ebb_errf(err, "cannot add node %s to %s: %s", aname, vname, strerror(errno));
		goto undo_node;
	}
	ret = ebb_rings_rebuild(e, vip.id, err);
	if (!ret)
		return 0;
	bpf_map_delete_elem(e->members_fd, &mk);
	ebb_rings_rebuild(e, vip.id, NULL);
undo_node:
	if (is_new)
		bpf_map_update_elem(e->nodes_fd, &id, &(struct ebb_node){}, BPF_ANY);
	return ret;
}

int ebb_node_del(struct ebb *e, const struct ebb_addr *addr, const struct ebb_vip_key *vk,
		 bool force, struct ebb_err *err)
{
	struct ebb_member_key *members = NULL;
	struct ebb_desired_have h;
	struct ebb_node node;
	struct ebb_vip vip;
	__u64 *live = NULL;
	char aname[64];
	size_t n;
	__u32 id;
	int ret = 0;

	ebb_fmt_addr(addr->a, addr->family, aname, sizeof(aname));
	have_read(e, addr, vk, NULL, &h);
	if (ebb_desired_node_del_check(addr, vk, &h, err))
		return -EINVAL;
	ebb_node_find(e, addr, &id, &node);
	if (vk)
		ebb_vip_find(e, vk, &vip);
	live = calloc(EBB_MAX_NODES, sizeof(*live));
	members = calloc(EBB_MAX_MEMBERS, sizeof(*members));
	if (!live || !members) {
		ret = ebb_errf(err, "out of memory");
		goto out;
	}
	if (ebb_live_flows(e, live, vk ? &vip.id : NULL)) {
		ret = ebb_errf(err, "cannot read the flow table: %s", strerror(errno));
		goto out;
	}
	if (live[id] && !force) {
		ret = ebb_errf(err, "node %s has %llu live flows; drain it first ('ebbctl node drain %s'), or add 'force'",
			       aname, (unsigned long long)live[id], aname);
		goto out;
	}
	n = member_list(e, vk ? &vip.id : NULL, &id, members, EBB_MAX_MEMBERS);
	for (size_t i = 0; i < n; i++) {
		/* Out of the tables before the membership goes: no new flow on a leaving node. */
		bpf_map_delete_elem(e->members_fd, &members[i]);
		ret = ebb_rings_rebuild(e, members[i].vip_id, err);
		if (ret)
			goto out;
	}
	ebb_flows_purge_node(e, id, vk ? &vip.id : NULL);
	if (!vk)
		bpf_map_update_elem(e->nodes_fd, &id, &(struct ebb_node){}, BPF_ANY);
out:
	free(live);
	free(members);
	return ret;
}

int ebb_node_set_state(struct ebb *e, const struct ebb_addr *addr, __u8 state,
		       __u32 drain_timeout_s, struct ebb_err *err)
{
	return ebb_node_set_state_at(e, addr, state, drain_timeout_s, 0, 0, err);
}

int ebb_node_set_state_at(struct ebb *e, const struct ebb_addr *addr, __u8 state,
			  __u32 drain_timeout_s, __u64 since_ns, __u8 before_down, struct ebb_err *err)
{
	struct ebb_member_key members[EBB_MAX_VIPS];
	struct ebb_desired_have h;
	struct ebb_node node;
	char aname[64];
	size_t n;
	__u32 id;
	int ret;

	ebb_fmt_addr(addr->a, addr->family, aname, sizeof(aname));
	have_read(e, addr, NULL, NULL, &h);
	if (ebb_desired_node_state_at_check(addr, state, since_ns, before_down, ebb_now_ns(), &h, err))
		return -EINVAL;
	ebb_node_find(e, addr, &id, &node);
	if (state == node.state && (state != EBB_NODE_DRAINING || !drain_timeout_s)) {
		/* already there: the tables as they are, only the times given change */
		if ((!since_ns || since_ns == node.state_since_ns) &&
		    (!before_down || before_down == node.state_before_down))
			return 0;
		if (since_ns)
			node.state_since_ns = since_ns;
		if (before_down)
			node.state_before_down = before_down;
		if (bpf_map_update_elem(e->nodes_fd, &id, &node, BPF_EXIST))
			return ebb_errf(err, "cannot update node %s: %s", aname, strerror(errno));
		return 0;
	}

	n = member_list(e, NULL, &id, members, EBB_MAX_VIPS);
	for (size_t i = 0; i < n; i++) {
		ret = ebb_rings_rebuild_as(e, members[i].vip_id, id, state, err);
		if (ret)
			goto rollback;
	}
	if (since_ns)
		node.state_since_ns = since_ns;
	else if (state != node.state)
		node.state_since_ns = ebb_now_ns();
	if (before_down)
		node.state_before_down = before_down;
	else if (state == EBB_NODE_DOWN && node.state != EBB_NODE_DOWN)
		node.state_before_down = node.state;
	node.state = state;
	/* A down node keeps its drain's timeout: it returns to that drain when it recovers. */
	if (state == EBB_NODE_DRAINING)
		node.drain_timeout_s = drain_timeout_s;
	else if (state != EBB_NODE_DOWN)
		node.drain_timeout_s = 0;
	if (bpf_map_update_elem(e->nodes_fd, &id, &node, BPF_ANY)) {
		ret = ebb_errf(err, "cannot update node %s: %s", aname, strerror(errno));
		goto rollback;
	}
	return 0;
rollback:
	for (size_t i = 0; i < n; i++)
		ebb_rings_rebuild(e, members[i].vip_id, NULL);
	return ret;
}

int ebb_node_set_mac(struct ebb *e, const struct ebb_addr *addr, const __u8 mac[6], struct ebb_err *err)
{
	struct ebb_desired_have h;
	struct ebb_node node;
	char aname[64];
	__u32 id;

	ebb_fmt_addr(addr->a, addr->family, aname, sizeof(aname));
	have_read(e, addr, NULL, NULL, &h);
	if (ebb_desired_node_mac_check(addr, mac, &h, err))
		return -EINVAL;
	ebb_node_find(e, addr, &id, &node);
	if (!memcmp(node.mac, mac, 6))
		return 0;
	memcpy(node.mac, mac, 6);
	/* one update of the node's entry: a packet is sent to the old MAC or the new one */
	if (bpf_map_update_elem(e->nodes_fd, &id, &node, BPF_EXIST))
		return ebb_errf(err, "cannot update node %s: %s", aname, strerror(errno));
	return 0;
}

int ebb_settings_set(struct ebb *e, enum ebb_setting which, __u32 value, struct ebb_err *err)
{
	struct ebb_settings now;
	struct ebb_desired_settings want;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(e->settings_fd, &zero, &now))
		return ebb_errf(err, "cannot read the settings: %s", strerror(errno));
	want = (struct ebb_desired_settings){ .flood_rate = now.flood_rate, .mtu = now.mtu,
					      .rescue_rate = now.rescue_rate };
	switch (which) {
	case EBB_SETTING_FLOOD_RATE:
		want.flood_rate = value;
		break;
	case EBB_SETTING_MTU:
		want.mtu = value;
		break;
	case EBB_SETTING_RESCUE_RATE:
		want.rescue_rate = value;
		break;
	default:
		return ebb_errf(err, "no such setting (%d)", (int)which);
	}
	if (ebb_desired_settings_check(&want, err))
		return -EINVAL;
	/* `migrating` is migrate.c's, kept as read */
	now.flood_rate = want.flood_rate;
	now.mtu = want.mtu;
	now.rescue_rate = want.rescue_rate;
	if (bpf_map_update_elem(e->settings_fd, &zero, &now, BPF_EXIST))
		return ebb_errf(err, "cannot write the settings: %s", strerror(errno));
	return 0;
}

int ebb_node_set_flags(struct ebb *e, const struct ebb_addr *addr, __u8 mask, bool on,
		       struct ebb_err *err)
{
	struct ebb_desired_have h = {};
	struct ebb_node node;
	char aname[64];
	__u8 flags;
	__u32 id;

	ebb_fmt_addr(addr->a, addr->family, aname, sizeof(aname));
	h.node = !ebb_node_find(e, addr, &id, &node);
	if (ebb_desired_node_flags_check(addr, &h, err))
		return -EINVAL;
	flags = on ? node.flags | mask : node.flags & ~mask;
	if (flags == node.flags)
		return 0;
	node.flags = flags;
	/* One update of the node's entry: the datapath sees the flag before or after, whole. */
	if (bpf_map_update_elem(e->nodes_fd, &id, &node, BPF_EXIST))
		return ebb_errf(err, "cannot update node %s: %s", aname, strerror(errno));
	return 0;
}
