// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbctl on a fleet host (doc/fleet.md). ebbd leaves a marker pinned next to the maps naming
 * the fleet, the host and the etcd endpoints; with it, vip/node writes become one etcd
 * transaction on the fleet's desired state (compared against the state's revision, retried
 * when another writer got there first) and ebbctl waits until every live host reports that
 * revision applied, or names the hosts that lag. Any other write through ctl_open(…, true) is
 * refused: a local-only change would make this host diverge from the others.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebbctl.h"
#include "fleet.h"
#include "libebb_desired.h"

static struct fleet_marker marker;
static int marker_state = -1; /* -1 unknown, 0 not a fleet host, 1 fleet host */

bool ctl_fleet(void)
{
	if (marker_state < 0)
		marker_state = fleet_marker_read(bpffs, &marker) == 0;
	return marker_state == 1;
}

static int open_etcd(struct etcd *c)
{
	char *eps[ETCD_MAX_ENDPOINTS];
	int ttl = marker.lease_ttl > 0 ? marker.lease_ttl : 5;
	struct etcd_sec sec;

	for (int i = 0; i < marker.n_etcd; i++)
		eps[i] = marker.etcd[i];
	/* ebbd's own TLS files and etcd user, as it left them in the marker */
	fleet_marker_sec(&marker, &sec);
	/* each member gets a short try: a whole call stays well under the lease TTL */
	if (etcd_init(c, eps, marker.n_etcd, ttl * 1000 / (2 * marker.n_etcd) + 100, &sec))
		return ctl_error("fleet \"%s\": %s", marker.fleet, c->err);
	/* an operator's command rides out an etcd election (a member lost) instead of failing */
	c->patience_ms = ttl * 1000L;
	return 0;
}

static const char *endpoints(void)
{
	static char buf[1024];

	buf[0] = 0;
	for (int i = 0; i < marker.n_etcd; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "," : "", marker.etcd[i]);
	return buf;
}

int ctl_fleet_refuse(void)
{
	if (!ctl_fleet())
		return 0;
	return ctl_error("this host is managed by fleet \"%s\" (etcd %s): local-only changes are refused so that hosts never diverge; use 'ebbctl vip add|del' and 'ebbctl node add|del|drain|activate', which write the fleet's state in etcd",
			 marker.fleet, endpoints());
}

int ctl_open(struct ebb *e, bool writer)
{
	struct ebb_err err = {};

	/* The one place every write passes: on a fleet host, local-only writes are refused. */
	if (writer && ctl_fleet_refuse())
		return -1;
	if (ebb_open(e, bpffs, &err))
		return ctl_error("%s", err.msg);
	/* A batch holds the lock for all its lines (flock would deadlock on a second fd). */
	if (writer && !batch_locked && ebb_lock(e, &err)) {
		ebb_close(e);
		return ctl_error("%s", err.msg);
	}
	return 0;
}

int ctl_open_local(struct ebb *e)
{
	struct ebb_err err = {};

	if (ebb_open(e, bpffs, &err))
		return ctl_error("%s", err.msg);
	if (ebb_lock(e, &err)) {
		ebb_close(e);
		return ctl_error("%s", err.msg);
	}
	return 0;
}

/* ---- reading the fleet ---- */

struct fleet_view {
	struct etcd_range all; /* everything under /ebb/F/ */
	struct fleet_state st;
	json_object *live; /* {host: report} with a lease */
	json_object *last; /* {host: report} as last written, lease or not */
	char leader[FLEET_NAME_MAX];
};

static void view_free(struct fleet_view *v)
{
	etcd_range_free(&v->all);
	fleet_state_free(&v->st);
	json_object_put(v->live);
	json_object_put(v->last);
	memset(v, 0, sizeof(*v));
}

static int view_read(struct etcd *c, struct fleet_view *v)
{
	char prefix[128], hp[128], lp[128], lk[128];

	memset(v, 0, sizeof(*v));
	fleet_key(prefix, sizeof(prefix), marker.fleet, "");
	fleet_key(hp, sizeof(hp), marker.fleet, "hosts/");
	fleet_key(lp, sizeof(lp), marker.fleet, "last/");
	fleet_key(lk, sizeof(lk), marker.fleet, "leader");
	if (etcd_get(c, prefix, true, &v->all))
		return -1;
	fleet_state_parse(&v->all, marker.fleet, &v->st);
	v->live = json_object_new_object();
	v->last = json_object_new_object();
	for (int i = 0; i < v->all.n; i++) {
		const struct etcd_kv *kv = &v->all.kvs[i];
		json_object *o;

		if (!strcmp(kv->key, lk)) {
			snprintf(v->leader, sizeof(v->leader), "%s", kv->value);
			continue;
		}
		if (strncmp(kv->key, hp, strlen(hp)) && strncmp(kv->key, lp, strlen(lp)))
			continue;
		o = json_tokener_parse(kv->value);
		if (!o)
			continue;
		if (!strncmp(kv->key, hp, strlen(hp)))
			json_object_object_add(v->live, kv->key + strlen(hp), o);
		else
			json_object_object_add(v->last, kv->key + strlen(lp), o);
	}
	return 0;
}

static long long report_int(json_object *rep, const char *field)
{
	json_object *v;

	return rep && json_object_object_get_ex(rep, field, &v) ? json_object_get_int64(v) : 0;
}

static long long report_flows(json_object *rep, const char *node)
{
	json_object *f, *v;

	if (!rep || !json_object_object_get_ex(rep, "flows", &f) || !json_object_object_get_ex(f, node, &v))
		return 0;
	return json_object_get_int64(v);
}

/* Fleet-wide live flows of a node: the sum of what every live host reports. */
static long long fleet_flows(struct fleet_view *v, const char *node)
{
	long long sum = 0;

	json_object_object_foreach(v->live, host, rep)
	{
		(void)host;
		sum += report_flows(rep, node);
	}
	return sum;
}

json_object *ctl_fleet_reports(char *err, size_t len)
{
	struct fleet_view v;
	struct etcd c;
	json_object *out;

	if (open_etcd(&c))
		return NULL;
	if (view_read(&c, &v)) {
		snprintf(err, len, "%s", c.err);
		etcd_free(&c);
		return NULL;
	}
	etcd_free(&c);
	out = json_object_get(v.live);
	view_free(&v);
	return out;
}

long long ctl_fleet_report_flows(json_object *rep, const char *node)
{
	return report_flows(rep, node);
}

/* ---- writing the desired state ---- */

enum fop { F_VIP_ADD, F_VIP_DEL, F_NODE_ADD, F_NODE_DEL, F_NODE_STATE, F_NODE_WEIGHT, F_NODE_PROG, F_HOST };

struct fedit {
	enum fop op;
	struct ebb_vip_key vip;
	bool have_vip;
	struct ebb_vip_opts vo;
	struct ebb_addr addr;
	struct ebb_node_opts no;
	bool force;
	__u8 state;
	__u32 timeout;
	const char *host;
	bool drain;
};

/* Every put of the desired state passes the schema every host checks it against (fleet.h):
 * what ebbctl writes, every host applies. o is put (consumed) here. */
static int put_checked(json_object *ops, const char *rest, json_object *o)
{
	const char *val = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char key[256], why[FLEET_WHY_MAX];
	int ret = 0;

	fleet_key(key, sizeof(key), marker.fleet, rest);
	if (fleet_key_check(marker.fleet, key, val, why, sizeof(why)))
		ret = ctl_error("refused to write %s = %s: %s; nothing changed", key, val, why);
	else
		json_object_array_add(ops, etcd_op_put(key, val, 0));
	json_object_put(o);
	return ret;
}

static int put_node(json_object *ops, const struct fleet_node *n)
{
	char rest[128];

	snprintf(rest, sizeof(rest), "state/nodes/%s", n->name);
	return put_checked(ops, rest, fleet_node_json(n));
}

static void del_key(json_object *ops, const char *kind, const char *name)
{
	char key[256], rest[128];

	snprintf(rest, sizeof(rest), "state/%s/%s", kind, name);
	fleet_key(key, sizeof(key), marker.fleet, rest);
	json_object_array_add(ops, etcd_op_del(key, false));
}

static int weight_idx(const struct fleet_node *n, const struct ebb_vip_key *k)
{
	for (int i = 0; i < n->n_w; i++)
		if (!memcmp(&n->w[i].vip, k, sizeof(*k)))
			return i;
	return -1;
}

/* The leases of drain clocks (doc/fleet.md, "The drain clock") one attempt at a write touched:
 * granted (revoked when the transaction does not hold) and ended (revoked once it did). */
struct fleases {
	int64_t granted, ended;
};

static bool addr_of_vip(const struct fleet_state *s, const struct ebb_addr *a)
{
	for (int i = 0; i < s->n_vips; i++)
		if (s->vips[i].key.family == a->family && ebb_addr_eq(s->vips[i].key.addr, a->a, a->family))
			return true;
	return false;
}

/* What the fleet's state holds that the edit's check needs (libebb_desired.h): the same
 * questions ops.c asks the maps. */
static void have_of_fleet(const struct fleet_state *s, const struct fedit *f, const struct fleet_vip *fv,
			  const struct fleet_node *fn, struct ebb_desired_have *h)
{
	struct ebb_addr va = { .family = f->vip.family }, s4 = { .family = EBB_FAMILY_V4, .a = { f->vo.encap_src4 } },
			s6 = { .family = EBB_FAMILY_V6 };

	memset(h, 0, sizeof(*h));
	memcpy(va.a, f->vip.addr, sizeof(va.a));
	memcpy(s6.a, f->vo.encap_src6, sizeof(s6.a));
	h->vip = fv;
	h->n_vips = s->n_vips;
	h->n_nodes = s->n_nodes;
	for (int i = 0; i < s->n_nodes; i++) {
		h->n_members += s->nodes[i].n_w;
		if (f->have_vip && s->nodes[i].addr.family == va.family &&
		    ebb_addr_eq(s->nodes[i].addr.a, va.a, va.family))
			h->addr_is_node = true;
	}
	h->src4_is_vip = f->vo.encap_src4 && addr_of_vip(s, &s4);
	h->src6_is_vip = (s6.a[0] | s6.a[1] | s6.a[2] | s6.a[3]) && addr_of_vip(s, &s6);
	h->addr_is_vip = f->op >= F_NODE_ADD && f->op <= F_NODE_PROG && addr_of_vip(s, &f->addr);
	/* on the host whose addresses ebbctl sees, as ops.c asks on the maps' host */
	if (f->op == F_VIP_ADD)
		ebb_desired_have_local(h, &va);
	else if (f->op == F_NODE_ADD)
		ebb_desired_have_local(h, &f->addr);
	if (!fn)
		return;
	h->node = true;
	h->node_is.addr = fn->addr;
	h->node_is.state = fn->state;
	h->node_is.have_mac = fn->have_mac;
	memcpy(h->node_is.mac, fn->mac, 6);
	h->node_is.node_prog = fn->node_prog;
	h->node_vips = fn->n_w;
	h->serves = f->have_vip && weight_idx(fn, &f->vip) >= 0;
}

/*
 * One edit against the fleet's state as read: each op's writer checks it through the model
 * (libebb_desired.h, with what the state holds in have) and adds its writes to ops, changing
 * view->st as the edit would. Each returns 0 (writes added), 1 (nothing to write: so already)
 * or -1 after the error.
 */
struct edit_run {
	struct etcd *c;
	struct fleet_view *view;
	const struct fedit *f;
	json_object *ops;
	struct fleases *leases;
	struct fleet_vip *fv;	/* the edit's VIP as the fleet has it, or NULL */
	struct fleet_node *fn;	/* the edit's node as the fleet has it, or NULL */
	struct ebb_desired_have have;
	struct ebb_err err;
	char vname[64], aname[64];
};

static int edit_vip_add(struct edit_run *r)
{
	struct fleet_vip nv = { .key = r->f->vip, .o = r->f->vo };
	char rest[160];

	if (ebb_desired_vip_add_check(&(struct ebb_desired_vip){ .key = r->f->vip, .o = r->f->vo },
				      &r->have, &r->err))
		return ctl_error("%s", r->err.msg);
	ebb_vip_opts_defaults(&nv.o);
	snprintf(rest, sizeof(rest), "state/vips/%s", r->vname);
	return put_checked(r->ops, rest, fleet_vip_json(&nv));
}

static int edit_vip_del(struct edit_run *r)
{
	struct fleet_state *s = &r->view->st;
	long long live = 0;

	if (ebb_desired_vip_del_check(&r->f->vip, &r->have, &r->err))
		return ctl_error("%s", r->err.msg);
	for (int i = 0; i < s->n_nodes; i++)
		if (weight_idx(&s->nodes[i], &r->f->vip) >= 0)
			live += fleet_flows(r->view, s->nodes[i].name);
	if (live && !r->f->force)
		return ctl_error("VIP %s: its nodes have %lld live flows across the fleet; drain them first, or add 'force'",
				 r->vname, live);
	del_key(r->ops, "vips", r->vname);
	for (int i = 0; i < s->n_nodes; i++) {
		int w = weight_idx(&s->nodes[i], &r->f->vip);

		if (w < 0)
			continue;
		s->nodes[i].w[w] = s->nodes[i].w[--s->nodes[i].n_w];
		if (put_node(r->ops, &s->nodes[i]))
			return -1;
	}
	return 0;
}

static int edit_node_add(struct edit_run *r)
{
	const struct fedit *f = r->f;
	struct fleet_state *s = &r->view->st;
	struct ebb_desired_node want = { .addr = f->addr, .vip = f->vip, .weight = f->no.weight,
					 .state = f->no.inactive ? EBB_NODE_INACTIVE : EBB_NODE_ACTIVE,
					 .have_mac = f->no.have_mac, .node_prog = f->no.node_prog };
	struct fleet_node *fn = r->fn;
	int members = 0;

	memcpy(want.mac, f->no.mac, 6);
	if (ebb_desired_node_add_check(&want, &r->have, &r->err) ||
	    (!fn && ebb_desired_node_mac(&want, &r->err)))
		return ctl_error("%s", r->err.msg);
	if (!fn) {
		fn = &s->nodes[s->n_nodes++];
		memset(fn, 0, sizeof(*fn));
		fn->addr = f->addr;
		snprintf(fn->name, sizeof(fn->name), "%s", r->aname);
		fn->state = want.state;
		fn->node_prog = want.node_prog;
		fn->since = fleet_wall();
		memcpy(fn->mac, want.mac, 6);
		fn->have_mac = true;
	}
	fn->w[fn->n_w].vip = f->vip;
	fn->w[fn->n_w++].weight = f->no.weight ? f->no.weight : EBB_DEFAULT_WEIGHT;
	for (int i = 0; i < s->n_nodes; i++)
		members += weight_idx(&s->nodes[i], &f->vip) >= 0;
	ctl_warn_table_size(&f->vip, members, r->fv->o.table_size ? r->fv->o.table_size : EBB_RING_SIZE);
	return put_node(r->ops, fn);
}

static int edit_node_del(struct edit_run *r)
{
	const struct fedit *f = r->f;
	struct fleet_node *fn = r->fn;
	long long live;
	int w;

	if (ebb_desired_node_del_check(&f->addr, f->have_vip ? &f->vip : NULL, &r->have, &r->err))
		return ctl_error("%s", r->err.msg);
	live = fleet_flows(r->view, fn->name);
	w = f->have_vip ? weight_idx(fn, &f->vip) : -1;
	if (live && !f->force)
		return ctl_error("node %s has %lld live flows across the fleet; drain it first ('ebbctl node drain %s'), or add 'force'",
				 r->aname, live, r->aname);
	if (w >= 0) {
		fn->w[w] = fn->w[--fn->n_w];
		return put_node(r->ops, fn);
	}
	del_key(r->ops, "nodes", fn->name);
	if (fn->drain_lease) {
		r->leases->ended = fn->drain_lease;
		fleet_drain_end(marker.fleet, fn, r->ops);
	}
	return 0;
}

static int edit_node_state(struct edit_run *r)
{
	const struct fedit *f = r->f;
	struct fleet_node *fn = r->fn;

	if (ebb_desired_node_state_check(&f->addr, f->state, &r->have, &r->err))
		return ctl_error("%s", r->err.msg);
	if (f->state == fn->state && (f->state != EBB_NODE_DRAINING || !f->timeout))
		return 1;
	/* the same timeout again on a drain that has its clock: nothing to change */
	if (f->state == fn->state && f->timeout == fn->drain_timeout_s && fn->drain_lease)
		return 1;
	if (f->state == EBB_NODE_DRAINING) {
		/* the drain's clock is etcd's lease, never this host's wall clock (which may be
		 * off by minutes): a re-issued drain keeps its age, read from its old clock */
		char why[FLEET_WHY_MAX];
		__u32 age = 0;

		if (fleet_drain_age(r->c, &r->view->st, fn, &age))
			return ctl_error("fleet \"%s\": etcd cannot be reached, so writes are refused and nothing changed (%s)",
					 marker.fleet, r->c->err);
		r->leases->ended = fn->drain_lease;
		if (f->state != fn->state)
			fn->since = fleet_wall(); /* for people only */
		fn->state = f->state;
		fn->drain_timeout_s = f->timeout;
		if (fleet_drain_grant(r->c, marker.fleet, fn, fleet_node_drain_timeout(&r->view->st, fn),
				      age, r->ops, why, sizeof(why)))
			return ctl_error("fleet \"%s\": %s; nothing changed", marker.fleet, why);
		r->leases->granted = fn->drain_lease;
		return put_node(r->ops, fn);
	}
	if (fn->state == EBB_NODE_DRAINING) {
		r->leases->ended = fn->drain_lease;
		fleet_drain_end(marker.fleet, fn, r->ops);
	}
	fn->since = fleet_wall();
	fn->state = f->state;
	fn->drain_timeout_s = 0;
	return put_node(r->ops, fn);
}

static int edit_node_weight(struct edit_run *r)
{
	int w;

	if (ebb_desired_node_weight_check(&r->f->addr, &r->f->vip, r->f->no.weight, &r->have, &r->err))
		return ctl_error("%s", r->err.msg);
	w = weight_idx(r->fn, &r->f->vip);
	if (r->fn->w[w].weight == r->f->no.weight)
		return 1;
	r->fn->w[w].weight = r->f->no.weight;
	return put_node(r->ops, r->fn);
}

static int edit_node_prog(struct edit_run *r)
{
	if (ebb_desired_node_flags_check(&r->f->addr, &r->have, &r->err))
		return ctl_error("%s", r->err.msg);
	if (r->fn->node_prog == r->f->no.node_prog)
		return 1;
	r->fn->node_prog = r->f->no.node_prog;
	return put_node(r->ops, r->fn);
}

/* A host's drain is the fleet's own state, no part of the desired state's model. */
static int edit_host(struct edit_run *r)
{
	struct fleet_hostcfg *hc = fleet_host_find(&r->view->st, r->f->host);
	char key[256], rest[160];
	json_object *live;

	if (!json_object_object_get_ex(r->view->last, r->f->host, &live) &&
	    !json_object_object_get_ex(r->view->live, r->f->host, &live) && !hc)
		return ctl_error("no host '%s' in fleet \"%s\"", r->f->host, marker.fleet);
	if (!!(hc && hc->drain) == r->f->drain)
		return 1;
	snprintf(rest, sizeof(rest), "state/hosts/%s", r->f->host);
	if (r->f->drain) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "drain", json_object_new_boolean(true));
		return put_checked(r->ops, rest, o);
	}
	fleet_key(key, sizeof(key), marker.fleet, rest);
	json_object_array_add(r->ops, etcd_op_del(key, false));
	return 0;
}

static int (*const edit_writers[])(struct edit_run *) = {
	[F_VIP_ADD] = edit_vip_add,	  [F_VIP_DEL] = edit_vip_del,
	[F_NODE_ADD] = edit_node_add,	  [F_NODE_DEL] = edit_node_del,
	[F_NODE_STATE] = edit_node_state, [F_NODE_WEIGHT] = edit_node_weight,
	[F_NODE_PROG] = edit_node_prog,	  [F_HOST] = edit_host,
};

/* The edit's writes added to ops, after its check against the state read (view->st, which it
 * changes). 1: nothing to write. */
static int edit_writes(struct etcd *c, struct fleet_view *view, const struct fedit *f, json_object *ops,
		       struct fleases *leases)
{
	struct edit_run r = { .c = c, .view = view, .f = f, .ops = ops, .leases = leases };
	struct fleet_state *s = &view->st;

	if (f->have_vip) {
		ebb_fmt_vip(&f->vip, r.vname, sizeof(r.vname));
		r.fv = fleet_vip_find(s, &f->vip);
	}
	if (f->op >= F_NODE_ADD && f->op <= F_NODE_PROG) {
		ebb_fmt_addr(f->addr.a, f->addr.family, r.aname, sizeof(r.aname));
		r.fn = fleet_node_find(s, &f->addr);
		if (!r.fn && f->op != F_NODE_ADD) {
			const struct fleet_invalid *in = fleet_invalid_node(s, &f->addr);

			if (in)
				return ctl_error("node %s: its key %s fails the schema (%s); rewrite it with 'node add', or fix it in etcd",
						 r.aname, in->key, in->why);
		}
	}
	have_of_fleet(s, f, r.fv, r.fn, &r.have);
	return edit_writers[f->op](&r);
}

static double wait_limit(void)
{
	const char *s = getenv("EBBCTL_FLEET_TIMEOUT");
	double t = s ? atof(s) : 0;

	return t > 0 ? t : 10;
}

static double mono(void)
{
	return ebb_now_ns() / 1e9;
}

/* Waits until every live host reports rev applied; else names the laggards. */
static int wait_applied(struct etcd *c, int64_t rev)
{
	double deadline = mono() + wait_limit();
	char lag[1024];

	for (;;) {
		struct fleet_view v;
		int n_lag = 0;

		lag[0] = 0;
		if (view_read(c, &v)) {
			snprintf(lag, sizeof(lag), "etcd: %s", c->err);
			n_lag = -1;
		} else {
			json_object_object_foreach(v.live, host, rep)
			{
				long long applied = report_int(rep, "applied");

				if (applied >= rev)
					continue;
				snprintf(lag + strlen(lag), sizeof(lag) - strlen(lag), "%s%s (applied %lld)",
					 n_lag ? ", " : "", host, applied);
				n_lag++;
			}
			view_free(&v);
		}
		if (!n_lag)
			return 0;
		if (mono() >= deadline) {
			if (n_lag < 0)
				return ctl_error("written to fleet \"%s\" at revision %lld, but could not confirm that hosts applied it: %s",
						 marker.fleet, (long long)rev, lag);
			return ctl_error("written to fleet \"%s\" at revision %lld, but after %gs %d host(s) lag: %s",
					 marker.fleet, (long long)rev, wait_limit(), n_lag, lag);
		}
		nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	}
}

long long ctl_fleet_rev;

const char *ctl_fleet_name(void)
{
	return marker.fleet;
}

/* 0: written and applied by the live hosts; 1: the state was so already; -1: error (said). */
static int fleet_write(const struct fedit *f, const char *what)
{
	char serial[128];
	struct etcd c;
	int64_t rev = 0;
	int ret = -1;

	if (open_etcd(&c))
		return -1;
	fleet_key(serial, sizeof(serial), marker.fleet, "state/serial");
	for (int attempt = 0; attempt < 8; attempt++) {
		json_object *cmp, *ops;
		struct fleet_view v;
		struct fleases fl = {};
		struct fleet_state before;
		int64_t hist[EBB_MAX_VIPS];
		int n_hist = 0;
		char why[FLEET_WHY_MAX];
		bool ok = false;
		int b;

		if (view_read(&c, &v)) {
			ret = ctl_error("fleet \"%s\": etcd cannot be reached, so writes are refused and nothing changed (%s)",
					marker.fleet, c.err);
			goto out;
		}
		/* the state as read, for the slot history's generations (edit_writes changes v.st) */
		fleet_state_parse(&v.all, marker.fleet, &before);
		ops = json_object_new_array();
		b = edit_writes(&c, &v, f, ops, &fl);
		/* the member sets this write replaces go in its own transaction */
		if (!b && fleet_history_ops(&c, marker.fleet, &before, ops, hist, &n_hist, why, sizeof(why)))
			b = ctl_error("fleet \"%s\": %s; nothing changed", marker.fleet, why);
		fleet_state_free(&before);
		if (b) {
			json_object_put(ops);
			view_free(&v);
			if (fl.granted) /* not written */
				etcd_lease_revoke(&c, fl.granted);
			if (b < 0)
				goto out;
			ret = 1; /* already so: nothing to write */
			goto out;
		}
		cmp = json_object_new_array();
		/* whole or nothing: the edit holds only if nobody wrote the state since we read it */
		json_object_array_add(cmp, etcd_cmp(serial, "MOD", "EQUAL", v.st.rev, NULL));
		json_object_array_add(ops, etcd_op_put(serial, what, 0));
		view_free(&v);
		if (etcd_txn(&c, cmp, ops, NULL, &ok, &rev, NULL)) {
			ret = ctl_error("fleet \"%s\": etcd cannot be reached, so writes are refused and nothing changed (%s)",
					marker.fleet, c.err);
			/* written or not, unknown: a lease granted for it stays (unused, it only expires) */
			goto out;
		}
		if (ok) {
			/* the ended drain's key went in the transaction; its lease goes now (if this
			 * fails, it expires by itself: nothing reads a lease no node names) */
			if (fl.ended && fl.ended != fl.granted)
				etcd_lease_revoke(&c, fl.ended);
			break;
		}
		if (fl.granted) /* surely not written: its lease goes */
			etcd_lease_revoke(&c, fl.granted);
		for (int i = 0; i < n_hist; i++)
			etcd_lease_revoke(&c, hist[i]);
		rev = 0;
	}
	if (!rev) {
		ret = ctl_error("fleet \"%s\": the state kept changing under this write; try again", marker.fleet);
		goto out;
	}
	ctl_fleet_rev = rev;
	ret = wait_applied(&c, rev) ? -1 : 0;
out:
	etcd_free(&c);
	return ret;
}

static void describe(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void describe(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, len, "{\"by\":\"%s\",\"what\":\"", marker.host);

	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
	snprintf(buf + strlen(buf), len - strlen(buf), "\",\"time\":%.3f}", fleet_wall());
}

int ctl_fleet_vip_add(const struct ebb_vip_key *k, const struct ebb_vip_opts *o)
{
	struct fedit f = { .op = F_VIP_ADD, .vip = *k, .have_vip = true, .vo = *o };
	char what[256], n[64];

	describe(what, sizeof(what), "vip add %s", ebb_fmt_vip(k, n, sizeof(n)));
	return fleet_write(&f, what);
}

int ctl_fleet_vip_del(const struct ebb_vip_key *k, bool force)
{
	struct fedit f = { .op = F_VIP_DEL, .vip = *k, .have_vip = true, .force = force };
	char what[256], n[64];

	describe(what, sizeof(what), "vip del %s", ebb_fmt_vip(k, n, sizeof(n)));
	return fleet_write(&f, what);
}

int ctl_fleet_node_add(const struct ebb_addr *a, const struct ebb_vip_key *vip, const struct ebb_node_opts *o)
{
	struct fedit f = { .op = F_NODE_ADD, .addr = *a, .vip = *vip, .have_vip = true, .no = *o };
	char what[256], n[64], vn[64];

	describe(what, sizeof(what), "node add %s vip %s", ebb_fmt_addr(a->a, a->family, n, sizeof(n)),
		 ebb_fmt_vip(vip, vn, sizeof(vn)));
	return fleet_write(&f, what);
}

int ctl_fleet_node_del(const struct ebb_addr *a, const struct ebb_vip_key *vip, bool force)
{
	struct fedit f = { .op = F_NODE_DEL, .addr = *a, .force = force };
	char what[256], n[64];

	if (vip) {
		f.vip = *vip;
		f.have_vip = true;
	}
	describe(what, sizeof(what), "node del %s", ebb_fmt_addr(a->a, a->family, n, sizeof(n)));
	return fleet_write(&f, what);
}

int ctl_fleet_node_state(const struct ebb_addr *a, __u8 state, __u32 timeout)
{
	struct fedit f = { .op = F_NODE_STATE, .addr = *a, .state = state, .timeout = timeout };
	char what[256], n[64];

	describe(what, sizeof(what), "node %s %s", state == EBB_NODE_ACTIVE ? "activate" : "drain",
		 ebb_fmt_addr(a->a, a->family, n, sizeof(n)));
	return fleet_write(&f, what);
}

int ctl_fleet_node_weight(const struct ebb_addr *a, const struct ebb_vip_key *vip, __u32 weight)
{
	struct fedit f = { .op = F_NODE_WEIGHT, .addr = *a, .vip = *vip, .have_vip = true,
			   .no = { .weight = weight } };
	char what[256], n[64], vn[64];

	describe(what, sizeof(what), "node set %s vip %s weight %u", ebb_fmt_addr(a->a, a->family, n, sizeof(n)),
		 ebb_fmt_vip(vip, vn, sizeof(vn)), weight);
	return fleet_write(&f, what);
}

int ctl_fleet_node_prog(const struct ebb_addr *a, bool on)
{
	struct fedit f = { .op = F_NODE_PROG, .addr = *a, .no = { .node_prog = on } };
	char what[256], n[64];

	describe(what, sizeof(what), "node set %s node-prog %s", ebb_fmt_addr(a->a, a->family, n, sizeof(n)),
		 on ? "on" : "off");
	return fleet_write(&f, what);
}

/* ---- ebbctl fleet … ---- */

static int need_fleet(void)
{
	if (!ctl_fleet())
		return ctl_error("no fleet: %s has no fleet marker (ebbd with a 'fleet' block leaves one)",
				 bpffs);
	return 0;
}

static const char *host_status(struct fleet_view *v, const char *host, json_object **rep)
{
	json_object *s;

	if (!json_object_object_get_ex(v->live, host, rep))
		return "unreachable";
	if (json_object_object_get_ex(*rep, "status", &s))
		return json_object_get_string(s);
	return "unknown";
}

/*
 * The keys of the desired state that fail the schema, as this ebbctl reads them, each with
 * the live hosts that report it (a host keeps the key's last good value until it is fixed):
 * [{"key":…,"error":…,"hosts":[…]}, …], plus keys only a host reports (another version).
 */
static json_object *invalid_keys(struct fleet_view *v, json_object *hosts)
{
	json_object *arr = json_object_new_array();

	for (int i = 0; i < v->st.n_invalid; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "key", json_object_new_string(v->st.invalid[i].key));
		json_object_object_add(o, "error", json_object_new_string(v->st.invalid[i].why));
		json_object_object_add(o, "hosts", json_object_new_array());
		json_object_array_add(arr, o);
	}
	json_object_object_foreach(hosts, host, unused)
	{
		json_object *rep, *list;

		(void)unused;
		if (!json_object_object_get_ex(v->live, host, &rep) ||
		    !json_object_object_get_ex(rep, "state_invalid", &list) ||
		    !json_object_is_type(list, json_type_array))
			continue;
		for (size_t j = 0; j < json_object_array_length(list); j++) {
			json_object *e = json_object_array_get_idx(list, j), *k, *o = NULL, *hl;

			if (!json_object_object_get_ex(e, "key", &k))
				continue;
			for (size_t i = 0; i < json_object_array_length(arr) && !o; i++) {
				json_object *c = json_object_array_get_idx(arr, i), *ck;

				if (json_object_object_get_ex(c, "key", &ck) &&
				    !strcmp(json_object_get_string(ck), json_object_get_string(k)))
					o = c;
			}
			if (!o) {
				json_object *er;

				o = json_object_new_object();
				json_object_object_add(o, "key", json_object_get(k));
				if (json_object_object_get_ex(e, "error", &er))
					json_object_object_add(o, "error", json_object_get(er));
				json_object_object_add(o, "hosts", json_object_new_array());
				json_object_array_add(arr, o);
			}
			json_object_object_get_ex(o, "hosts", &hl);
			json_object_array_add(hl, json_object_new_string(host));
		}
	}
	return arr;
}

static int do_show(void *args)
{
	json_object *hosts = json_object_new_object(), *arr = NULL, *routes_errs;
	struct fleet_view v;
	struct etcd c;

	(void)args;
	if (need_fleet() || open_etcd(&c)) {
		json_object_put(hosts);
		return -1;
	}
	if (view_read(&c, &v)) {
		json_object_put(hosts);
		ctl_error("fleet \"%s\": etcd cannot be reached (%s); this host keeps forwarding with the state it applied last",
			  marker.fleet, c.err);
		etcd_free(&c);
		return -1;
	}
	etcd_free(&c);
	/* every host ever seen (last/), and live ones that have not written last/ yet */
	json_object_object_foreach(v.last, h1, r1)
	{
		(void)r1;
		json_object_object_add(hosts, h1, NULL);
	}
	json_object_object_foreach(v.live, h2, r2)
	{
		(void)r2;
		json_object_object_add(hosts, h2, NULL);
	}
	routes_errs = json_object_new_array(); /* the lines printed under the table */
	if (json_output)
		arr = json_object_new_array();
	else if (!quiet)
		printf("fleet %s  revision %lld  leader %s  this host %s\n%-16s %-12s %-9s %8s %5s %-6s %10s  %-4s  %s\n",
		       marker.fleet, (long long)v.st.rev, v.leader[0] ? v.leader : "-", marker.host, "HOST",
		       "STATUS", "STATE", "APPLIED", "LAG", "LEADER", "VIP_PPS", "ETCD", "ROUTES");
	json_object_object_foreach(hosts, host, unused)
	{
		json_object *rep = NULL, *last = NULL, *x;
		const char *status = host_status(&v, host, &rep);
		const char *state = "-", *routes = NULL, *routes_err = NULL;
		struct fleet_hostcfg *hc = fleet_host_find(&v.st, host);
		long long applied;
		double pps = 0;
		bool leader = !strcmp(v.leader, host);

		(void)unused;
		json_object_object_get_ex(v.last, host, &last);
		if (!rep)
			rep = last;
		applied = report_int(rep, "applied");
		if (rep && json_object_object_get_ex(rep, "vip_pps", &x))
			pps = json_object_get_double(x);
		if (rep && json_object_object_get_ex(rep, "state", &x))
			state = json_object_get_string(x);
		if (rep && json_object_object_get_ex(rep, "routes", &x))
			routes = json_object_get_string(x);
		if (rep && json_object_object_get_ex(rep, "routes_error", &x))
			routes_err = json_object_get_string(x);
		if (json_output) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "host", json_object_new_string(host));
			json_object_object_add(o, "status", json_object_new_string(status));
			json_object_object_add(o, "state", json_object_new_string(state));
			json_object_object_add(o, "drain", json_object_new_boolean(hc && hc->drain));
			json_object_object_add(o, "applied_revision", json_object_new_int64(applied));
			/* the ebbd that wrote the report, on its host */
			if (rep && json_object_object_get_ex(rep, "pid", &x))
				json_object_object_add(o, "pid", json_object_get(x));
			json_object_object_add(o, "lag", json_object_new_int64(v.st.rev - applied));
			json_object_object_add(o, "leader", json_object_new_boolean(leader));
			json_object_object_add(o, "vip_pps", json_object_new_double(pps));
			if (rep && json_object_object_get_ex(rep, "etcd", &x))
				json_object_object_add(o, "etcd", json_object_get(x));
			if (rep && json_object_object_get_ex(rep, "time", &x))
				json_object_object_add(o, "report_age_s",
						       json_object_new_double(fleet_wall() - json_object_get_double(x)));
			if (rep && json_object_object_get_ex(rep, "flows", &x))
				json_object_object_add(o, "flows", json_object_get(x));
			/* BIRD's route files on that host: "ok", "failed" (with routes_error) or null */
			json_object_object_add(o, "routes", routes ? json_object_new_string(routes) : NULL);
			if (routes_err)
				json_object_object_add(o, "routes_error", json_object_new_string(routes_err));
			/* the keys this host found invalid, as it reported them */
			json_object_object_add(o, "state_invalid",
					       rep && json_object_object_get_ex(rep, "state_invalid", &x) ?
						       json_object_get(x) : json_object_new_array());
			json_object_array_add(arr, o);
		} else if (!quiet) {
			printf("%-16s %-12s %-9s %8lld %5lld %-6s %10.1f  %-4s  %s\n", host, status, state, applied,
			       (long long)v.st.rev - applied, leader ? "yes" : "no", pps,
			       rep && json_object_object_get_ex(rep, "etcd", &x) ? json_object_get_string(x) : "-",
			       routes ? routes : "-");
			if (routes_err) { /* under the table: why, until that host's next write and reload work */
				char line[1024];

				snprintf(line, sizeof(line), "%s: BIRD routes failed: %s", host, routes_err);
				json_object_array_add(routes_errs, json_object_new_string(line));
			}
		}
	}
	for (size_t i = 0; i < json_object_array_length(routes_errs); i++)
		printf("%s\n", json_object_get_string(json_object_array_get_idx(routes_errs, i)));
	json_object_put(routes_errs);
	if (json_output) {
		json_object *doc = json_object_new_object();

		json_object_object_add(doc, "fleet", json_object_new_string(marker.fleet));
		json_object_object_add(doc, "host", json_object_new_string(marker.host));
		json_object_object_add(doc, "revision", json_object_new_int64(v.st.rev));
		json_object_object_add(doc, "leader", v.leader[0] ? json_object_new_string(v.leader) : NULL);
		json_object_object_add(doc, "hosts", arr);
		json_object_object_add(doc, "state_invalid", invalid_keys(&v, hosts));
		json_print(doc);
	} else if (!quiet) {
		json_object *inv = invalid_keys(&v, hosts), *x;

		for (size_t i = 0; i < json_object_array_length(inv); i++) {
			json_object *o = json_object_array_get_idx(inv, i), *hl;
			char hs[512] = "";

			json_object_object_get_ex(o, "hosts", &hl);
			for (size_t j = 0; j < json_object_array_length(hl); j++)
				snprintf(hs + strlen(hs), sizeof(hs) - strlen(hs), "%s%s", j ? "," : "",
					 json_object_get_string(json_object_array_get_idx(hl, j)));
			printf("state_invalid %s: %s (reported by: %s)\n",
			       json_object_object_get_ex(o, "key", &x) ? json_object_get_string(x) : "?",
			       json_object_object_get_ex(o, "error", &x) ? json_object_get_string(x) : "?",
			       hs[0] ? hs : "no host yet");
		}
		json_object_put(inv);
	}
	json_object_put(hosts);
	view_free(&v);
	return 0;
}

struct fleet_host_args {
	int drain;
	const char *host;
};

static const struct ctl_choice host_moves[] = { { "drain", 1 }, { "activate", 0 }, { NULL, 0 } };

static const struct ctl_arg fleet_host_spec[] = {
	{ .kind = CTL_CHOICE, .flags = CTL_REQUIRED, .choices = host_moves,
	  .offset = offsetof(struct fleet_host_args, drain), .missing = "'drain' or 'activate'",
	  .bad = "unknown '%s': drain or activate" },
	{ .metavar = "HOST", .kind = CTL_WORD, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct fleet_host_args, host) },
	{ 0 },
};

static int do_host(void *args)
{
	struct fleet_host_args *a = args;
	struct fedit f = { .op = F_HOST, .host = a->host, .drain = a->drain };
	const char *host = a->host;
	char what[256];

	if (need_fleet())
		return -1;
	if (!fleet_name_ok(host))
		return ctl_error("invalid host name '%s'", host);
	describe(what, sizeof(what), "fleet host %s %s", f.drain ? "drain" : "activate", host);
	switch (fleet_write(&f, what)) {
	case 0:
		return ctl_said(NULL, "fleet \"%s\": host %s %s (revision %lld, applied by every live host)",
				marker.fleet, host, f.drain ? "drained: it withdraws its routes, and is inactive once its VIP traffic stopped for 2 s" :
					"active: it announces its routes again",
				ctl_fleet_rev);
	case 1:
		return ctl_said(NULL, "fleet \"%s\": host %s is %s already; nothing written", marker.fleet,
				host, f.drain ? "draining" : "active");
	default:
		return -1;
	}
}

static void fleet_notes(FILE *f)
{
	fprintf(f,
		"\n"
		"       On a fleet host (ebbd runs with a 'fleet' block), 'vip add|del' and\n"
		"       'node add|del|drain|activate' write the fleet's state in etcd and return once\n"
		"       every live host applied it (EBBCTL_FLEET_TIMEOUT seconds, default 10).\n");
}

static const struct ctl_command fleet_commands[] = {
	{ .name = "show", .alias = "list", .run = do_show },
	{ .name = "host", .run = do_host, CTL_ARGS(fleet_host_args, fleet_host_spec) },
	{ NULL },
};

const struct ctl_object ctl_fleet_object = { "fleet", fleet_commands, fleet_notes };
