// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The one validation of the desired state (libebb_desired.h): every write of the maps (ops.c,
 * edit.c) and of the fleet's etcd (ebbctl's fleet writes, the schema every host reads etcd
 * through) is refused here, in these words, or not at all. Pure: what a store holds comes in
 * a struct ebb_desired_have.
 */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>

#include "libebb_desired.h"

static bool any6(const __be32 *a)
{
	return a[0] | a[1] | a[2] | a[3];
}

static int timeout_check(const char *word, __u32 s, struct ebb_err *err)
{
	if (s > EBB_MAX_TIMEOUT_S) /* 0: the default */
		return ebb_errf(err, "%s must be 1..%u seconds, not %u", word, EBB_MAX_TIMEOUT_S, s);
	return 0;
}

static int timeouts_check(const struct ebb_vip_opts *o, struct ebb_err *err)
{
	if (timeout_check("tcp-idle", o->tcp_idle_s, err) ||
	    timeout_check("udp-idle", o->udp_idle_s, err) ||
	    timeout_check("fin-timeout", o->fin_s, err) ||
	    timeout_check("drain-timeout", o->drain_timeout_s, err))
		return -EINVAL;
	return 0;
}

static int src_is_vip(const struct ebb_addr *src, struct ebb_err *err)
{
	char name[64];

	/* Tunnelled packets from a VIP's address would be taken for the VIP's own traffic, and
	 * replies and ICMP errors to them would reach the balancer's datapath, not this host. */
	return ebb_errf(err, "encap-src %s is a VIP address: the outer source must be this host's own address",
			ebb_fmt_addr(src->a, src->family, name, sizeof(name)));
}

void ebb_desired_have_local(struct ebb_desired_have *h, const struct ebb_addr *a)
{
	char dev[IF_NAMESIZE + 1] = "";

	h->local_dev[0] = '\0';
	if (ebb_addr_local(a, dev, sizeof(dev)) == 1) /* unreadable: refuse nothing */
		snprintf(h->local_dev, sizeof(h->local_dev), "%s", dev[0] ? dev : "?");
}

static int local_check(const struct ebb_addr *a, const char *what, const char *why,
		       const struct ebb_desired_have *h, struct ebb_err *err)
{
	char name[64];

	if (!h->local_dev[0])
		return 0;
	return ebb_errf(err, "%s is this host's own address (dev %s): it cannot be %s (%s)",
			ebb_fmt_addr(a->a, a->family, name, sizeof(name)), h->local_dev, what, why);
}

int ebb_check_not_local(const struct ebb_addr *a, const char *what, const char *why,
			struct ebb_err *err)
{
	struct ebb_desired_have h;

	ebb_desired_have_local(&h, a);
	return local_check(a, what, why, &h, err);
}

/* Its addresses are unicast ones: checked before anything that names them. */
static int vip_addrs_check(const struct ebb_desired_vip *v, struct ebb_err *err)
{
	struct ebb_addr a = { .family = v->key.family }, src4 = { .family = EBB_FAMILY_V4 },
			src6 = { .family = EBB_FAMILY_V6 };

	memcpy(a.a, v->key.addr, sizeof(a.a));
	src4.a[0] = v->o.encap_src4;
	memcpy(src6.a, v->o.encap_src6, sizeof(src6.a));
	if (ebb_check_unicast(&a, "VIP address", err) ||
	    (v->o.encap_src4 && ebb_check_unicast(&src4, "encap-src", err)) ||
	    (any6(v->o.encap_src6) && ebb_check_unicast(&src6, "encap-src", err)))
		return -EINVAL;
	return 0;
}

int ebb_desired_vip_check(const struct ebb_desired_vip *v, struct ebb_err *err)
{
	struct ebb_addr a = { .family = v->key.family }, src4 = { .family = EBB_FAMILY_V4 },
			src6 = { .family = EBB_FAMILY_V6 };

	memcpy(a.a, v->key.addr, sizeof(a.a));
	src4.a[0] = v->o.encap_src4;
	memcpy(src6.a, v->o.encap_src6, sizeof(src6.a));
	if (vip_addrs_check(v, err))
		return -EINVAL;
	if (v->o.fwd != EBB_FWD_DSR && v->o.fwd != EBB_FWD_IPIP)
		return ebb_errf(err, "unknown forwarding mode %u: dsr or ipip", v->o.fwd);
	if (a.family == EBB_FAMILY_V4 ? v->o.encap_src4 && v->o.encap_src4 == a.a[0] :
					any6(v->o.encap_src6) && ebb_addr_eq(src6.a, a.a, a.family))
		return src_is_vip(a.family == EBB_FAMILY_V4 ? &src4 : &src6, err);
	if (timeouts_check(&v->o, err))
		return -EINVAL;
	if (v->o.table_size && !ebb_table_size_ok(v->o.table_size))
		return ebb_errf(err, "table-size must be one of %s (a prime >= 100 x the VIP's nodes), not %u",
				ebb_table_sizes_str(), v->o.table_size);
	return 0;
}

static int weight_check(__u32 w, struct ebb_err *err)
{
	if (w < 1 || w > EBB_MAX_WEIGHT)
		return ebb_errf(err, "weight must be 1..%d, not %u", EBB_MAX_WEIGHT, w);
	return 0;
}

static int state_check(__u8 state, struct ebb_err *err)
{
	if (state != EBB_NODE_ACTIVE && state != EBB_NODE_DRAINING && state != EBB_NODE_INACTIVE &&
	    state != EBB_NODE_DOWN)
		return ebb_errf(err, "node state %u is not active, draining, inactive or down", state);
	return 0;
}

int ebb_desired_mac_check(const __u8 mac[6], struct ebb_err *err)
{
	char name[24];

	/* the datapath writes it as the frame's destination: one host's, never a group */
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) || (mac[0] & 1))
		return ebb_errf(err, "MAC %s is zero or multicast: a node's MAC must be a unicast one",
				ebb_fmt_mac(mac, name, sizeof(name)));
	return 0;
}

int ebb_desired_node_check(const struct ebb_desired_node *n, struct ebb_err *err)
{
	if (ebb_check_unicast(&n->addr, "node", err))
		return -EINVAL;
	if (n->weight && weight_check(n->weight, err)) /* 0: the default */
		return -EINVAL;
	if (state_check(n->state, err) || (n->have_mac && ebb_desired_mac_check(n->mac, err)))
		return -EINVAL;
	return timeout_check("drain-timeout", n->drain_timeout_s, err);
}

int ebb_desired_settings_check(const struct ebb_desired_settings *s, struct ebb_err *err)
{
	if (s->flood_rate > EBB_RATE_MAX)
		return ebb_errf(err, "flood-rate must be 0..%u, not %u", EBB_RATE_MAX, s->flood_rate);
	if (s->mtu && (s->mtu < EBB_MTU_MIN || s->mtu > EBB_MTU_MAX))
		return ebb_errf(err, "mtu must be 0 (off) or %u..%u, not %u", EBB_MTU_MIN, EBB_MTU_MAX, s->mtu);
	if (s->rescue_rate > EBB_RATE_MAX)
		return ebb_errf(err, "rescue-rate must be 0..%u, not %u", EBB_RATE_MAX, s->rescue_rate);
	return 0;
}

int ebb_desired_vip_add_check(const struct ebb_desired_vip *v, const struct ebb_desired_have *h,
			      struct ebb_err *err)
{
	struct ebb_addr src4 = { .family = EBB_FAMILY_V4, .a = { v->o.encap_src4 } },
			src6 = { .family = EBB_FAMILY_V6 };
	struct ebb_addr a = { .family = v->key.family };
	char name[64];

	memcpy(a.a, v->key.addr, sizeof(a.a));
	memcpy(src6.a, v->o.encap_src6, sizeof(src6.a));
	if (vip_addrs_check(v, err))
		return -EINVAL;
	if (h->addr_is_node)
		return ebb_errf(err, "%s is a node's address: a VIP cannot be one of its own backends",
				ebb_fmt_addr(v->key.addr, v->key.family, name, sizeof(name)));
	if (local_check(&a, "a VIP", EBB_VIP_LOCAL_WHY, h, err) || ebb_desired_vip_check(v, err))
		return -EINVAL;
	if (h->src4_is_vip && v->o.encap_src4)
		return src_is_vip(&src4, err);
	if (h->src6_is_vip && any6(v->o.encap_src6))
		return src_is_vip(&src6, err);
	ebb_fmt_vip(&v->key, name, sizeof(name));
	if (h->vip)
		return ebb_errf(err, "VIP %s already exists", name);
	if (h->n_vips >= EBB_MAX_VIPS)
		return ebb_errf(err, "no room for VIP %s: ebb holds at most %d VIPs and all are in use (delete one first)",
				name, EBB_MAX_VIPS);
	return 0;
}

static int no_vip(const struct ebb_vip_key *k, struct ebb_err *err)
{
	char name[64];

	return ebb_errf(err, "no VIP %s", ebb_fmt_vip(k, name, sizeof(name)));
}

static int no_node(const struct ebb_addr *a, struct ebb_err *err)
{
	char name[64];

	return ebb_errf(err, "no node %s", ebb_fmt_addr(a->a, a->family, name, sizeof(name)));
}

int ebb_desired_vip_del_check(const struct ebb_vip_key *k, const struct ebb_desired_have *h,
			      struct ebb_err *err)
{
	return h->vip ? 0 : no_vip(k, err);
}

int ebb_desired_vip_set_check(const struct ebb_vip_key *k, const struct ebb_vip_opts *o,
			      const struct ebb_desired_have *h, struct ebb_err *err)
{
	if (timeouts_check(o, err))
		return -EINVAL;
	return h->vip ? 0 : no_vip(k, err);
}

/* One outer source that changes: the checks of vip_addrs_check and ebb_desired_vip_check
 * that name it, and the store's answer whether it is a VIP's address. */
static int src_change_check(const struct ebb_desired_vip *v, const struct ebb_addr *src,
			    bool is_vip, struct ebb_err *err)
{
	if (ebb_check_unicast(src, "encap-src", err))
		return -EINVAL;
	if (is_vip || (src->family == v->key.family && ebb_addr_eq(src->a, v->key.addr, src->family)))
		return src_is_vip(src, err);
	return 0;
}

int ebb_desired_vip_replace_check(const struct ebb_desired_vip *v, const struct ebb_desired_vip *was,
				  const struct ebb_desired_have *h, struct ebb_err *err)
{
	struct ebb_addr src4 = { .family = EBB_FAMILY_V4, .a = { v->o.encap_src4 } },
			src6 = { .family = EBB_FAMILY_V6 };
	char name[64];

	memcpy(src6.a, v->o.encap_src6, sizeof(src6.a));
	if (!h->vip)
		return no_vip(&v->key, err);
	if (v->o.fwd != was->o.fwd ||
	    ebb_or_default(v->o.table_size, EBB_TABLE_SIZE_DEFAULT) !=
		    ebb_or_default(was->o.table_size, EBB_TABLE_SIZE_DEFAULT))
		return ebb_errf(err, "VIP %s: its forwarding mode and table size change only when it is made again",
				ebb_fmt_vip(&v->key, name, sizeof(name)));
	if (timeouts_check(&v->o, err))
		return -EINVAL;
	/* only a source that changes: one kept stays as it was added, whatever was added since */
	if (v->o.encap_src4 && v->o.encap_src4 != was->o.encap_src4 &&
	    src_change_check(v, &src4, h->src4_is_vip, err))
		return -EINVAL;
	if (any6(v->o.encap_src6) && memcmp(v->o.encap_src6, was->o.encap_src6, sizeof(src6.a)) &&
	    src_change_check(v, &src6, h->src6_is_vip, err))
		return -EINVAL;
	return 0;
}

int ebb_desired_node_add_check(const struct ebb_desired_node *n, const struct ebb_desired_have *h,
			       struct ebb_err *err)
{
	char aname[64], vname[64], m1[24], m2[24];

	if (ebb_desired_node_check(n, err) || local_check(&n->addr, "a node", EBB_NODE_LOCAL_WHY, h, err))
		return -EINVAL;
	ebb_fmt_addr(n->addr.a, n->addr.family, aname, sizeof(aname));
	ebb_fmt_vip(&n->vip, vname, sizeof(vname));
	if (h->addr_is_vip)
		return ebb_errf(err, "%s is a VIP address: a node cannot be a VIP of this balancer",
				aname);
	if (!h->vip)
		return no_vip(&n->vip, err);
	if (!h->node) {
		if (h->n_nodes >= EBB_MAX_NODES - 1)
			return ebb_errf(err, "no room for node %s: all %d nodes are in use", aname,
					EBB_MAX_NODES - 1);
	} else {
		if (n->state == EBB_NODE_INACTIVE)
			return ebb_errf(err, "node %s exists (%s); 'inactive' is for new nodes",
					aname, ebb_state_name(h->node_is.state));
		if (n->node_prog && !h->node_is.node_prog)
			return ebb_errf(err, "node %s exists without node-prog; set it with 'ebbctl node set %s node-prog on'",
					aname, aname);
		if (n->have_mac && h->node_is.have_mac && memcmp(n->mac, h->node_is.mac, 6))
			return ebb_errf(err, "node %s has MAC %s, not %s", aname,
					ebb_fmt_mac(h->node_is.mac, m1, sizeof(m1)),
					ebb_fmt_mac(n->mac, m2, sizeof(m2)));
		if (h->serves)
			return ebb_errf(err, "node %s already serves VIP %s", aname, vname);
		if (h->node_vips >= EBB_MAX_VIPS)
			return ebb_errf(err, "node %s serves %d VIPs already", aname, h->node_vips);
	}
	if (h->n_members >= EBB_MAX_MEMBERS)
		return ebb_errf(err, "no room: %d (VIP, node) pairs are in use", EBB_MAX_MEMBERS);
	return 0;
}

int ebb_desired_node_del_check(const struct ebb_addr *a, const struct ebb_vip_key *vk,
			       const struct ebb_desired_have *h, struct ebb_err *err)
{
	char aname[64], vname[64];

	if (!h->node)
		return no_node(a, err);
	if (!vk)
		return 0;
	if (!h->vip)
		return no_vip(vk, err);
	if (!h->serves)
		return ebb_errf(err, "node %s does not serve VIP %s",
				ebb_fmt_addr(a->a, a->family, aname, sizeof(aname)),
				ebb_fmt_vip(vk, vname, sizeof(vname)));
	return 0;
}

int ebb_desired_node_flags_check(const struct ebb_addr *a, const struct ebb_desired_have *h,
				 struct ebb_err *err)
{
	return h->node ? 0 : no_node(a, err);
}

int ebb_desired_node_state_check(const struct ebb_addr *a, __u8 state,
				 const struct ebb_desired_have *h, struct ebb_err *err)
{
	char aname[64];

	if (state_check(state, err))
		return -EINVAL;
	if (!h->node)
		return no_node(a, err);
	if (state == EBB_NODE_DRAINING && h->node_is.state == EBB_NODE_INACTIVE)
		return ebb_errf(err, "node %s is inactive: it has nothing to drain",
				ebb_fmt_addr(a->a, a->family, aname, sizeof(aname)));
	return 0;
}

int ebb_desired_node_state_at_check(const struct ebb_addr *a, __u8 state, __u64 since_ns,
				    __u8 before_down, __u64 now, const struct ebb_desired_have *h,
				    struct ebb_err *err)
{
	char aname[64];

	if (ebb_desired_node_state_check(a, state, h, err))
		return -EINVAL;
	ebb_fmt_addr(a->a, a->family, aname, sizeof(aname));
	/* a start ahead of the clock would hold a drain past its timeout */
	if (since_ns > now)
		return ebb_errf(err, "node %s: its state cannot begin later than now, on this host's clock",
				aname);
	if (!before_down)
		return 0;
	if (state != EBB_NODE_DOWN)
		return ebb_errf(err, "node %s is not down (%s): before-down is where a down node returns to",
				aname, ebb_state_name(state));
	if (before_down != EBB_NODE_ACTIVE && before_down != EBB_NODE_DRAINING &&
	    before_down != EBB_NODE_INACTIVE)
		return ebb_errf(err, "before-down state %u is not active, draining or inactive", before_down);
	return 0;
}

int ebb_desired_node_mac_check(const struct ebb_addr *a, const __u8 mac[6],
			       const struct ebb_desired_have *h, struct ebb_err *err)
{
	if (ebb_desired_mac_check(mac, err))
		return -EINVAL;
	return h->node ? 0 : no_node(a, err);
}

int ebb_desired_node_weight_check(const struct ebb_addr *a, const struct ebb_vip_key *vk,
				  __u32 weight, const struct ebb_desired_have *h, struct ebb_err *err)
{
	if (weight_check(weight, err))
		return -EINVAL;
	return ebb_desired_node_del_check(a, vk, h, err);
}

int ebb_desired_node_mac(struct ebb_desired_node *n, struct ebb_err *err)
{
	char name[64];

	if (n->have_mac)
		return 0;
	if (ebb_neigh_lookup(&n->addr, n->mac)) {
		ebb_fmt_addr(n->addr.a, n->addr.family, name, sizeof(name));
		return ebb_errf(err, "no MAC known for %s: give 'mac MAC', or make it reachable from this host first (ping %s)",
				name, name);
	}
	n->have_mac = true;
	return 0;
}

static const struct ebb_desired_vip *vip_in(const struct ebb_desired_vip *v, size_t n,
					    const struct ebb_vip_key *k)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(&v[i].key, k, sizeof(*k)))
			return &v[i];
	return NULL;
}

size_t ebb_desired_vips_diff(const struct ebb_desired_vip *want, size_t n_want,
			     const struct ebb_desired_vip *cur, size_t n_cur,
			     struct ebb_desired_change *out)
{
	size_t n = 0;

	for (size_t i = 0; i < n_cur; i++)
		if (!vip_in(want, n_want, &cur[i].key))
			out[n++] = (struct ebb_desired_change){ .op = EBB_DESIRED_VIP_DEL, .vip = cur[i] };
	for (size_t i = 0; i < n_want; i++) {
		const struct ebb_desired_vip *c = vip_in(cur, n_cur, &want[i].key);
		const struct ebb_vip_opts *w = &want[i].o;

		if (!c) {
			out[n++] = (struct ebb_desired_change){ .op = EBB_DESIRED_VIP_ADD, .vip = want[i] };
		} else if (c->o.fwd != w->fwd ||
			   ebb_or_default(c->o.table_size, EBB_TABLE_SIZE_DEFAULT) !=
				   ebb_or_default(w->table_size, EBB_TABLE_SIZE_DEFAULT)) {
			out[n++] = (struct ebb_desired_change){ .op = EBB_DESIRED_VIP_REMAKE, .vip = want[i] };
		} else if (c->o.tcp_idle_s != w->tcp_idle_s || c->o.udp_idle_s != w->udp_idle_s ||
			   c->o.fin_s != w->fin_s || c->o.drain_timeout_s != w->drain_timeout_s ||
			   c->o.encap_src4 != w->encap_src4 ||
			   memcmp(c->o.encap_src6, w->encap_src6, sizeof(w->encap_src6))) {
			out[n++] = (struct ebb_desired_change){ .op = EBB_DESIRED_VIP_SET, .vip = want[i] };
		}
	}
	return n;
}

/*
 * A store's records, indexed twice for lookups in O(log n): by node, and by node and VIP. Each
 * index keeps records of one key in their order in the array (the index breaks ties), so the
 * first entry of a key is its first record, as a front-to-back search would find it. A fleet
 * apply diffs up to EBB_MAX_MEMBERS records a side: a search per record would be 4e9 steps.
 */
struct records {
	const struct ebb_desired_node *r;
	size_t n;
	size_t *by_node;
	size_t *by_member;
};

static int node_cmp(const struct ebb_desired_node *a, const struct ebb_desired_node *b)
{
	if (a->addr.family != b->addr.family)
		return a->addr.family < b->addr.family ? -1 : 1;
	return memcmp(a->addr.a, b->addr.a,
		      a->addr.family == EBB_FAMILY_V4 ? sizeof(a->addr.a[0]) : sizeof(a->addr.a));
}

/* Only records on a VIP are members; the ones on none sort first and are never matched. */
static int member_cmp(const struct ebb_desired_node *a, const struct ebb_desired_node *b)
{
	int c = node_cmp(a, b);

	if (c || !a->vip.family != !b->vip.family)
		return c ? c : a->vip.family ? 1 : -1;
	return memcmp(&a->vip, &b->vip, sizeof(a->vip));
}

static int index_cmp(size_t a, size_t b)
{
	return a < b ? -1 : a > b;
}

static int by_node_cmp(const void *a, const void *b, void *recs)
{
	const struct ebb_desired_node *r = recs;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = node_cmp(&r[i], &r[j]);

	return c ? c : index_cmp(i, j);
}

static int by_member_cmp(const void *a, const void *b, void *recs)
{
	const struct ebb_desired_node *r = recs;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = member_cmp(&r[i], &r[j]);

	return c ? c : index_cmp(i, j);
}

static int records_index(struct records *x, const struct ebb_desired_node *r, size_t n)
{
	*x = (struct records){ .r = r, .n = n };
	x->by_node = malloc((n ? n : 1) * sizeof(size_t));
	x->by_member = malloc((n ? n : 1) * sizeof(size_t));
	if (!x->by_node || !x->by_member)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		x->by_node[i] = x->by_member[i] = i;
	qsort_r(x->by_node, n, sizeof(size_t), by_node_cmp, (void *)r);
	qsort_r(x->by_member, n, sizeof(size_t), by_member_cmp, (void *)r);
	return 0;
}

static void records_free(struct records *x)
{
	free(x->by_node);
	free(x->by_member);
}

/* The position in idx of the first record that cmp finds equal to key, or x->n. */
static size_t lower_bound(const struct records *x, const size_t *idx,
			  int (*cmp)(const struct ebb_desired_node *, const struct ebb_desired_node *),
			  const struct ebb_desired_node *key)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp(&x->r[idx[mid]], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->n && !cmp(&x->r[idx[lo]], key) ? lo : x->n;
}

/* The first record of key's node, or NULL. */
static const struct ebb_desired_node *node_in(const struct records *x,
					      const struct ebb_desired_node *key)
{
	size_t p = lower_bound(x, x->by_node, node_cmp, key);

	return p < x->n ? &x->r[x->by_node[p]] : NULL;
}

/* The first record of key's node on key's VIP, or NULL. */
static const struct ebb_desired_node *member_in(const struct records *x,
						const struct ebb_desired_node *key)
{
	size_t p = key->vip.family ? lower_bound(x, x->by_member, member_cmp, key) : x->n;

	return p < x->n ? &x->r[x->by_member[p]] : NULL;
}

ssize_t ebb_desired_members_diff(const struct ebb_desired_node *want, size_t n_want,
				 const struct ebb_desired_node *cur, size_t n_cur,
				 struct ebb_desired_member_change *out)
{
	struct records wx, cx;
	size_t n = 0;

	if (records_index(&wx, want, n_want) | records_index(&cx, cur, n_cur)) {
		records_free(&wx);
		records_free(&cx);
		return -ENOMEM;
	}
#define EMIT(o, rec) (out[n++] = (struct ebb_desired_member_change){ .op = (o), .node = *(rec) })
	for (size_t i = 0; i < n_cur; i++)
		if (node_in(&cx, &cur[i]) == &cur[i] && !node_in(&wx, &cur[i]))
			EMIT(EBB_DESIRED_NODE_DEL, &cur[i]);
	for (size_t i = 0; i < n_want; i++) {
		const struct ebb_desired_node *w = &want[i], *c;
		size_t wfirst, cfirst;
		bool made;
		__u8 state_is;
		__u32 drain_is;

		if (node_in(&wx, w) != w)
			continue; /* done at its first record */
		wfirst = lower_bound(&wx, wx.by_node, node_cmp, w);
		cfirst = lower_bound(&cx, cx.by_node, node_cmp, w);
		c = cfirst < cx.n ? &cur[cx.by_node[cfirst]] : NULL;
		/* the node's records follow its first in each index, in the array's order */
		for (size_t p = cfirst; p < cx.n && !node_cmp(&cur[cx.by_node[p]], w); p++) {
			const struct ebb_desired_node *r = &cur[cx.by_node[p]];

			if (r->vip.family && !member_in(&wx, r))
				EMIT(EBB_DESIRED_MEMBER_DEL, r);
		}
		if (c && w->have_mac && memcmp(c->mac, w->mac, 6))
			EMIT(EBB_DESIRED_NODE_MAC, w);
		made = c;
		for (size_t p = wfirst; p < wx.n && !node_cmp(&want[wx.by_node[p]], w); p++) {
			const struct ebb_desired_node *r = &want[wx.by_node[p]], *m;

			if (!r->vip.family || member_in(&wx, r) != r)
				continue; /* on no VIP, or a VIP an earlier record gave already */
			m = member_in(&cx, r);
			if (!m) {
				EMIT(EBB_DESIRED_MEMBER_ADD, r);
				made = true;
			} else if (ebb_or_default(m->weight, EBB_DEFAULT_WEIGHT) !=
				   ebb_or_default(r->weight, EBB_DEFAULT_WEIGHT)) {
				EMIT(EBB_DESIRED_MEMBER_WEIGHT, r);
				out[n - 1].node.weight = ebb_or_default(r->weight, EBB_DEFAULT_WEIGHT);
			}
		}
		if (!made)
			continue; /* nothing makes it: no VIP to hold it */
		/* a node the adds make: inactive unless wanted active, node_prog as wanted */
		state_is = c ? c->state : w->state == EBB_NODE_ACTIVE ? EBB_NODE_ACTIVE : EBB_NODE_INACTIVE;
		drain_is = c ? c->drain_timeout_s : 0;
		if (c && c->node_prog != w->node_prog)
			EMIT(EBB_DESIRED_NODE_FLAGS, w);
		if (state_is != w->state || (w->state == EBB_NODE_DRAINING && drain_is != w->drain_timeout_s))
			EMIT(EBB_DESIRED_NODE_STATE, w);
	}
#undef EMIT
	records_free(&wx);
	records_free(&cx);
	return (ssize_t)n;
}
