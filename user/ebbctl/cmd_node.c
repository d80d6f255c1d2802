// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ebbctl node: add, del, set, drain, activate, show, watch, wait. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "libebb_agent.h"
#include "ebbctl.h"

static int say_added(const struct ebb_addr *addr, const struct ebb_vip_key *vip, int store_ret);
static int say_deleted(const struct ebb_addr *addr, const struct ebb_vip_key *vip, long long cut,
		       int store_ret);

/* The NODE every command but show and watch starts with. */
#define NODE_ARG(type)                                                                       \
	{ .metavar = "NODE", .kind = CTL_ADDR, .flags = CTL_REQUIRED,                        \
	  .offset = offsetof(type, node), .missing = "NODE address",                         \
	  .bad = "invalid node address '%s'" }

static const char *node_name(const struct ebb_addr *a, char *buf, size_t len)
{
	return ebb_fmt_addr(a->a, a->family, buf, len);
}

struct node_add_args {
	struct ebb_addr node;
	struct ebb_vip_key vip;
	struct ebb_node_opts o;
};

static int parse_mac(void *args, const char *val)
{
	struct node_add_args *a = args;
	struct ebb_err err = {};

	if (!val)
		return ctl_error("missing value after 'mac'; usage: %s", ctl_usage());
	if (ebb_parse_mac(val, a->o.mac, &err))
		return ctl_error("%s", err.msg);
	a->o.have_mac = true;
	return 0;
}

static const struct ctl_arg node_add_spec[] = {
	NODE_ARG(struct node_add_args),
	{ .name = "vip", .metavar = "VIP", .kind = CTL_VIP, .flags = CTL_REQUIRED | CTL_ONCE,
	  .offset = offsetof(struct node_add_args, vip),
	  .twice = "one VIP per 'node add'; add the node to each VIP in turn" },
	{ .name = "weight", .metavar = "N", .kind = CTL_U32,
	  .offset = offsetof(struct node_add_args, o.weight), .min = 1, .max = EBB_MAX_WEIGHT },
	{ .name = "mac", .metavar = "MAC", .kind = CTL_PARSE, .parse = parse_mac },
	{ .name = "inactive", .kind = CTL_FLAG, .offset = offsetof(struct node_add_args, o.inactive) },
	{ .name = "node-prog", .kind = CTL_FLAG, .offset = offsetof(struct node_add_args, o.node_prog) },
	{ 0 },
};

static int do_add(void *args)
{
	struct node_add_args *a = args;
	int ret;

	ret = ctl_store_here()->node_add(&a->node, &a->vip, &a->o);
	return ret < 0 ? -1 : say_added(&a->node, &a->vip, ret);
}

struct node_del_args {
	struct ebb_addr node;
	struct ebb_vip_key vip;
	bool force;
};

static const struct ctl_arg node_del_spec[] = {
	NODE_ARG(struct node_del_args),
	{ .name = "vip", .metavar = "VIP", .kind = CTL_VIP,
	  .offset = offsetof(struct node_del_args, vip), .missing = "VIP" },
	{ .name = "force", .kind = CTL_FLAG, .offset = offsetof(struct node_del_args, force) },
	{ 0 },
};

static int do_del(void *args)
{
	struct node_del_args *a = args;
	const struct ebb_vip_key *vip = a->vip.family ? &a->vip : NULL;
	long long cut;
	int ret;

	ret = ctl_store_here()->node_del(&a->node, vip, a->force, &cut);
	return ret < 0 ? -1 : say_deleted(&a->node, vip, cut, ret);
}

static int say_state(const struct ebb_addr *addr, __u8 state, int was, int store_ret);

static int set_state(struct ebb_addr *addr, __u8 state, __u32 timeout)
{
	int ret, was;

	ret = ctl_store_here()->node_state(addr, state, timeout, &was);
	return ret < 0 ? -1 : say_state(addr, state, was, ret);
}

struct node_drain_args {
	struct ebb_addr node;
	__u32 timeout;
};

static const struct ctl_arg node_drain_spec[] = {
	NODE_ARG(struct node_drain_args),
	{ .name = "timeout", .metavar = "SECONDS", .kind = CTL_U32,
	  .offset = offsetof(struct node_drain_args, timeout), .min = 1, .max = EBB_MAX_TIMEOUT_S,
	  .unit = "seconds", .missing = "seconds" },
	{ 0 },
};

static int do_drain(void *args)
{
	struct node_drain_args *a = args;

	return set_state(&a->node, EBB_NODE_DRAINING, a->timeout);
}

struct node_activate_args {
	struct ebb_addr node;
};

static const struct ctl_arg node_activate_spec[] = {
	NODE_ARG(struct node_activate_args),
	{ 0 },
};

static int do_activate(void *args)
{
	struct node_activate_args *a = args;

	return set_state(&a->node, EBB_NODE_ACTIVE, 0);
}

/* The drain timeout that applies to a node: its own, else the longest of its VIPs'. */
static __u32 drain_timeout_of(struct ebb *e, __u32 id, const struct ebb_node *n)
{
	struct ebb_member_key mk, *prev = NULL;
	__u32 t = 0;

	if (n->drain_timeout_s)
		return n->drain_timeout_s;
	while (!bpf_map_get_next_key(e->members_fd, prev, &mk)) {
		struct ebb_vip v;

		prev = &mk;
		if (mk.node_id == id && !ebb_vip_by_id(e, mk.vip_id, NULL, &v) && v.drain_timeout_s > t)
			t = v.drain_timeout_s;
	}
	return ebb_drain_timeout_s(0, t);
}

/*
 * What every talk-back of a node change starts from: its JSON object with the node's address
 * ("node"), that address as text in name and where the store put the write in fl. NULL in a
 * batch: a restore says itself once, at its end, and the work to say each change is spared.
 */
static json_object *say_begin(const struct ebb_addr *addr, int store_ret, char *name,
			      size_t name_len, char *fl, size_t fl_len)
{
	json_object *o;

	if (batch_file)
		return NULL;
	o = json_object_new_object();
	ebb_fmt_addr(addr->a, addr->family, name, name_len);
	ctl_store_here()->where(store_ret, fl, fl_len);
	json_object_object_add(o, "node", json_object_new_string(name));
	return o;
}

/* The node as the maps have it after a change (on a fleet host: as this host applied it). */
static int node_now(const struct ebb_addr *addr, struct ebb *e, __u32 *id, struct ebb_node *n)
{
	struct ebb_err err = {};

	if (ebb_open(e, bpffs, &err))
		return -1;
	if (ebb_node_find(e, addr, id, n)) {
		ebb_close(e);
		return -1;
	}
	return 0;
}

/*
 * What a state change did and what happens next (issue 17): a drain names its live flows, its
 * timeout and who will retire it, and warns when no ebbd runs to do it.
 */
static int say_state(const struct ebb_addr *addr, __u8 state, int was, int store_ret)
{
	char name[64], fl[160], wasbuf[48] = "";
	struct ebb_node n;
	json_object *o;
	struct ebb e;
	__u32 id;

	o = say_begin(addr, store_ret, name, sizeof(name), fl, sizeof(fl));
	if (!o)
		return 0;
	json_object_object_add(o, "state", json_object_new_string(ebb_state_name(state)));
	if (was >= 0 && was != state)
		snprintf(wasbuf, sizeof(wasbuf), " (was %s)", ebb_state_name(was));
	else if (was == state)
		snprintf(wasbuf, sizeof(wasbuf), " (already)");
	if (state == EBB_NODE_DRAINING && !node_now(addr, &e, &id, &n)) {
		__u64 *live = calloc(EBB_MAX_NODES, sizeof(*live));
		unsigned long long flows = 0;
		__u32 timeout = drain_timeout_of(&e, id, &n);
		char consequence[256];
		bool running;

		if (live && !ebb_live_flows(&e, live, NULL))
			flows = live[id];
		free(live);
		ebb_close(&e);
		json_object_object_add(o, "live_flows", json_object_new_int64(flows));
		json_object_object_add(o, "drain_timeout_s", json_object_new_int64(timeout));
		snprintf(consequence, sizeof(consequence),
			 "nothing will retire %s: it stays draining (no new flows) until an ebbd runs on %s",
			 name, bpffs);
		/* fields gain "ebbd_running" either way; the warning only where no ebbd applies */
		running = ctl_agent_check(ctl_store_here()->ebbd_applies ? NULL : consequence, o) ||
			  ctl_store_here()->ebbd_applies;
		if (!flows && running)
			return ctl_said(o, "%s: draining%s, no live flows; ebbd will retire it at its next check (timeout %u s)%s",
					name, wasbuf, timeout, fl);
		return ctl_said(o, "%s: draining%s, %llu live flow%s; %s (timeout %u s)%s", name, wasbuf, flows,
				flows == 1 ? "" : "s",
				running ? "ebbd will retire it when they end" : "no ebbd is running to retire it when they end",
				timeout, fl);
	}
	if (state == EBB_NODE_DRAINING)
		return ctl_said(o, "%s: draining%s%s", name, wasbuf, fl);
	return ctl_said(o, "%s: active%s; it takes new flows now%s", name, wasbuf, fl);
}

/* VIPs and weights of node id, "203.0.113.10:80/tcp w100, ..." */
static void node_vips(struct ebb *e, __u32 id, char *buf, size_t len, json_object *weights)
{
	struct ebb_member_key mk, *prev = NULL;

	buf[0] = '\0';
	while (!bpf_map_get_next_key(e->members_fd, prev, &mk)) {
		struct ebb_vip_key vk;
		struct ebb_member m;
		struct ebb_vip v;
		char vname[64];
		size_t used = strlen(buf);

		prev = &mk;
		if (mk.node_id != id || bpf_map_lookup_elem(e->members_fd, &mk, &m) ||
		    ebb_vip_by_id(e, mk.vip_id, &vk, &v))
			continue;
		ebb_fmt_vip(&vk, vname, sizeof(vname));
		snprintf(buf + used, len - used, "%s%s weight %u", used ? ", " : "", vname, m.weight);
		if (weights)
			json_object_object_add(weights, vname, json_object_new_int(m.weight));
	}
}

static int say_added(const struct ebb_addr *addr, const struct ebb_vip_key *vip, int store_ret)
{
	char name[64], vname[64], fl[160], vips[512] = "";
	json_object *o, *w;
	struct ebb_node n;
	struct ebb e;
	__u32 id;

	o = say_begin(addr, store_ret, name, sizeof(name), fl, sizeof(fl));
	if (!o)
		return 0;
	w = json_object_new_object();
	ebb_fmt_vip(vip, vname, sizeof(vname));
	json_object_object_add(o, "vip", json_object_new_string(vname));
	if (node_now(addr, &e, &id, &n)) {
		json_object_put(w);
		return ctl_said(o, "%s: added to %s%s", name, vname, fl);
	}
	node_vips(&e, id, vips, sizeof(vips), w);
	ebb_close(&e);
	json_object_object_add(o, "state", json_object_new_string(ebb_state_name(n.state)));
	json_object_object_add(o, "weights", w);
	if (n.state == EBB_NODE_ACTIVE)
		return ctl_said(o, "%s: added to %s, active (%s); it takes new flows now%s", name, vname,
				vips, fl);
	if (n.state == EBB_NODE_INACTIVE)
		return ctl_said(o, "%s: added to %s, inactive (%s); it takes no flows until 'ebbctl node activate %s'%s",
				name, vname, vips, name, fl);
	return ctl_said(o, "%s: added to %s, %s (%s)%s", name, vname, ebb_state_name(n.state), vips, fl);
}

static int say_deleted(const struct ebb_addr *addr, const struct ebb_vip_key *vip, long long cut,
		       int store_ret)
{
	char name[64], vname[64] = "", fl[160], rest[512] = "", cutbuf[80] = "";
	struct ebb_node n;
	json_object *o;
	struct ebb e;
	__u32 id;

	o = say_begin(addr, store_ret, name, sizeof(name), fl, sizeof(fl));
	if (!o)
		return 0;
	if (vip) {
		ebb_fmt_vip(vip, vname, sizeof(vname));
		json_object_object_add(o, "vip", json_object_new_string(vname));
	}
	if (cut >= 0)
		json_object_object_add(o, "flows_replaced", json_object_new_int64(cut));
	if (vip && !node_now(addr, &e, &id, &n)) {
		node_vips(&e, id, rest, sizeof(rest), NULL);
		ebb_close(&e);
	}
	json_object_object_add(o, "deleted", json_object_new_boolean(!rest[0]));
	if (cut > 0)
		snprintf(cutbuf, sizeof(cutbuf), "; its %lld live flow%s re-placed on other nodes (force)",
			 cut, cut == 1 ? " is" : "s are");
	return ctl_said(o, "%s: deleted%s%s%s%s%s%s", name, vip ? " from " : "", vname,
			rest[0] ? "; it still serves " : "", rest, cutbuf, fl);
}

#define NS_PER_S_CTL 1000000000ULL

/* Every node's counters, summed over CPUs, at one moment: rates come from two of these. */
struct counter_read {
	struct ebb_counters c[EBB_MAX_NODES];
	__u64 at_ns;
};

static void read_counters(struct ebb *e, struct counter_read *r)
{
	struct ebb_node n;

	memset(r->c, 0, sizeof(r->c));
	for (__u32 id = 1; id < EBB_MAX_NODES; id++)
		if (!bpf_map_lookup_elem(e->nodes_fd, &id, &n) && n.state != EBB_NODE_UNUSED)
			ebb_counters_sum(e->node_stats_fd, id, &r->c[id]);
	r->at_ns = ebb_now_ns();
}

static double per_s(__u64 a, __u64 b, double dt)
{
	return b >= a && dt > 0 ? (b - a) / dt : 0;
}

/* "12.3k", "4.5M": rates in a narrow column. */
static const char *human(double v, char *buf, size_t len)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.1fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.1fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

/*
 * The node table (or JSON array). want: one node, or NULL. r0/r1: two counter reads for the
 * rates (NULL: no rates).
 */
/* On a fleet host: every live host's report, for fleet-wide flows (NULL: this host only). */
static json_object *fleet_reports;

/* A membership as node_table shows it: its VIP's name and its weight. */
struct member_row {
	__u32 node_id;
	__u32 weight;
	char vname[64];
};

/*
 * Every membership whose VIP exists, in the members map's order, read once: node_table shows
 * each node's from this list. Walking the map (and each member's VIP by id) once per node took
 * seconds at 1000 nodes (issue 16: `node show` at scale).
 */
static struct member_row *member_rows(struct ebb *e, size_t *n)
{
	struct ebb_vip_key *vkeys = calloc(EBB_MAX_VIPS, sizeof(*vkeys)), k, *vprev = NULL;
	bool *have = calloc(EBB_MAX_VIPS, sizeof(*have));
	struct ebb_member_key mk, *prev = NULL;
	struct member_row *rows = NULL;
	size_t cap = 0;
	struct ebb_vip v;

	*n = 0;
	if (!vkeys || !have)
		goto out;
	/* ebb_vip_by_id's answer for each id: the first VIP of the map with it */
	while (!bpf_map_get_next_key(e->vips_fd, vprev, &k)) {
		vprev = &k;
		memset(&v, 0, sizeof(v));
		if (!bpf_map_lookup_elem(e->vips_fd, &k, &v) && v.id < EBB_MAX_VIPS && !have[v.id]) {
			vkeys[v.id] = k;
			have[v.id] = true;
		}
	}
	while (!bpf_map_get_next_key(e->members_fd, prev, &mk)) {
		struct ebb_member m;

		prev = &mk;
		if (bpf_map_lookup_elem(e->members_fd, &mk, &m) || mk.vip_id >= EBB_MAX_VIPS ||
		    !have[mk.vip_id])
			continue;
		if (*n == cap) {
			struct member_row *more = realloc(rows, (cap ? cap * 2 : 256) * sizeof(*rows));

			if (!more)
				break;
			rows = more;
			cap = cap ? cap * 2 : 256;
		}
		rows[*n].node_id = mk.node_id;
		rows[*n].weight = m.weight;
		ebb_fmt_vip(&vkeys[mk.vip_id], rows[*n].vname, sizeof(rows[*n].vname));
		(*n)++;
	}
out:
	free(vkeys);
	free(have);
	return rows;
}

static json_object *node_table(struct ebb *e, const struct ebb_addr *want, const __u64 *live,
			       const struct counter_read *r0, const struct counter_read *r1)
{
	double dt = r0 && r1 ? (r1->at_ns - r0->at_ns) / 1e9 : 0;
	__u64 now = ebb_now_ns();
	json_object *arr = NULL;
	size_t n_rows;
	struct member_row *rows = member_rows(e, &n_rows);

	if (json_output)
		arr = json_object_new_array();
	else if (!quiet && r0)
		printf("%-24s %-9s %7s %6s %6s %7s %7s %-17s %-4s %12s  %s\n", "NODE", "STATE", "FLOWS",
		       "WEIGHT", "NEW/S", "PPS", "BPS", "MAC", "PROG", "DRAIN", "VIPS");
	else if (!quiet)
		printf("%-24s %-9s %7s %6s %-17s %-4s %8s  %s\n", "NODE", "STATE", "FLOWS", "WEIGHT", "MAC",
		       "PROG", "DRAIN_S", "VIPS");
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		json_object *vips = NULL, *weights = NULL, *hosts = NULL;
		unsigned long long flows = live[id];
		char addr[64], mac[24], vlist[512] = "";
		const char *prog;
		struct ebb_node n;
		__u32 first_weight = 0, timeout = 0;
		double elapsed = -1, nfs = 0, pps = 0, bps = 0;
		struct ebb_drain_view view = {};
		bool have_view = false;

		if (bpf_map_lookup_elem(e->nodes_fd, &id, &n) || n.state == EBB_NODE_UNUSED)
			continue;
		if (want && (n.family != want->family || !ebb_addr_eq(n.addr, want->a, n.family)))
			continue;
		ebb_fmt_addr(n.addr, n.family, addr, sizeof(addr));
		ebb_fmt_mac(n.mac, mac, sizeof(mac));
		prog = n.flags & EBB_NODE_F_NODE_PROG ? "yes" : "no";
		if (n.state == EBB_NODE_DRAINING) {
			timeout = drain_timeout_of(e, id, &n);
			if (now > n.state_since_ns)
				elapsed = (now - n.state_since_ns) / 1e9;
			/* ebbd's word on this drain: judged by the node's own count, or unverified */
			have_view = !ebb_drains_read(bpffs, id, n.state_since_ns, &view);
		} else {
			/* the last drain this node finished, as the ebbd that retired it said */
			have_view = !ebb_drains_read(bpffs, id, 0, &view) && view.retired &&
				    view.family == n.family && ebb_addr_eq(n.addr, view.addr, n.family);
		}
		if (r0 && r1) {
			nfs = per_s(r0->c[id].new_flows, r1->c[id].new_flows, dt);
			pps = per_s(r0->c[id].packets, r1->c[id].packets, dt);
			bps = per_s(r0->c[id].bytes, r1->c[id].bytes, dt) * 8;
		}
		if (json_output) {
			vips = json_object_new_array();
			weights = json_object_new_object();
		}
		for (size_t i = 0; i < n_rows; i++) {
			const struct member_row *m = &rows[i];

			if (m->node_id != id)
				continue;
			if (!first_weight)
				first_weight = m->weight;
			if (json_output) {
				json_object_array_add(vips, json_object_new_string(m->vname));
				json_object_object_add(weights, m->vname, json_object_new_int(m->weight));
			} else {
				size_t used = strlen(vlist);

				snprintf(vlist + used, sizeof(vlist) - used, "%s%s(w%u)",
					 used ? "," : "", m->vname, m->weight);
			}
		}
		if (fleet_reports) {
			/* fleet-wide: the sum of what every live host reports, and who has what */
			bool first = true;

			flows = 0;
			hosts = json_object_new_object();
			json_object_object_foreach(fleet_reports, host, rep)
			{
				long long f = ctl_fleet_report_flows(rep, addr);
				size_t used = strlen(vlist);

				flows += f;
				json_object_object_add(hosts, host, json_object_new_int64(f));
				if (!json_output)
					snprintf(vlist + used, sizeof(vlist) - used, "%s%s=%lld",
						 first ? " hosts:" : ",", host, f);
				first = false;
			}
			if (!json_output) {
				json_object_put(hosts);
				hosts = NULL;
			}
		}
		if (!json_output && n.state == EBB_NODE_DRAINING) {
			size_t used = strlen(vlist);

			if (have_view && view.verified)
				snprintf(vlist + used, sizeof(vlist) - used, " drain:verified(node %llu live)",
					 (unsigned long long)view.node_live);
			else
				snprintf(vlist + used, sizeof(vlist) - used, " drain:unverified");
		} else if (!json_output && have_view) {
			size_t used = strlen(vlist);

			snprintf(vlist + used, sizeof(vlist) - used, view.verified ?
				 " last-drain:%lld-cut(verified)" : " last-drain:~%lld-cut(unverified)",
				 (long long)view.flows_cut);
		}
		if (json_output) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "id", json_object_new_int(id));
			json_object_object_add(o, "addr", json_object_new_string(addr));
			json_object_object_add(o, "state",
					       json_object_new_string(ebb_state_name(n.state)));
			json_object_object_add(o, "flows", json_object_new_int64(flows));
			if (hosts)
				json_object_object_add(o, "hosts", hosts);
			json_object_object_add(o, "vips", vips);
			json_object_object_add(o, "weight", json_object_new_int(first_weight));
			json_object_object_add(o, "weights", weights);
			json_object_object_add(o, "mac", json_object_new_string(mac));
			json_object_object_add(o, "node_prog",
					       json_object_new_boolean(!!(n.flags & EBB_NODE_F_NODE_PROG)));
			json_object_object_add(o, "drain_elapsed_s",
					       elapsed < 0 ? NULL : json_object_new_double(elapsed));
			json_object_object_add(o, "drain_timeout_s",
					       n.state == EBB_NODE_DRAINING ? json_object_new_int64(timeout) : NULL);
			/* Drain progress: how much of its timeout a drain has used (ebbd ends it
			 * earlier, once the node's last flow has finished). */
			json_object_object_add(o, "drain_progress",
					       elapsed >= 0 && timeout ?
						       json_object_new_double(elapsed / timeout > 1 ? 1 : elapsed / timeout) :
						       NULL);
			/* Whether the node's own count of its connections judges the drain (ebbd
			 * says so in BPFFS/ebbd_drains); else it is the LB's table: unverified. */
			json_object_object_add(o, "drain_verified",
					       n.state == EBB_NODE_DRAINING ?
						       json_object_new_boolean(have_view && view.verified) :
						       NULL);
			json_object_object_add(o, "node_live_connections",
					       n.state == EBB_NODE_DRAINING && have_view && view.verified ?
						       json_object_new_int64(view.node_live) : NULL);
			/* The last drain it finished: what it cut, measured by the node or estimated
			 * by the LB (then never called flows_cut). */
			if (n.state != EBB_NODE_DRAINING && have_view) {
				json_object *ld = json_object_new_object();

				json_object_object_add(ld, view.verified ? "flows_cut" : "flows_cut_estimate",
						       json_object_new_int64(view.flows_cut));
				json_object_object_add(ld, "verified", json_object_new_boolean(view.verified));
				json_object_object_add(ld, "reason", json_object_new_string(view.reason));
				json_object_object_add(o, "last_drain", ld);
			} else {
				json_object_object_add(o, "last_drain", NULL);
			}
			/* Health is ebbd's: a node whose checks fail is `down`. */
			json_object_object_add(o, "health",
					       json_object_new_string(n.state == EBB_NODE_DOWN ? "failing" : "ok"));
			if (r0 && r1) {
				json_object_object_add(o, "new_flows_per_s", json_object_new_double(nfs));
				json_object_object_add(o, "pps", json_object_new_double(pps));
				json_object_object_add(o, "bps", json_object_new_double(bps));
				json_object_object_add(o, "rate_interval_s", json_object_new_double(dt));
			}
			json_object_array_add(arr, o);
		} else if (r0) {
			char drain[32] = "-", h1[16], h2[16], h3[16];

			if (elapsed >= 0)
				snprintf(drain, sizeof(drain), "%.0f/%us", elapsed, timeout);
			printf("%-24s %-9s %7llu %6u %6s %7s %7s %-17s %-4s %12s  %s\n", addr,
			       ebb_state_name(n.state), flows, first_weight,
			       human(nfs, h1, sizeof(h1)), human(pps, h2, sizeof(h2)),
			       human(bps, h3, sizeof(h3)), mac, prog, drain, vlist);
		} else {
			char drain[16] = "-";

			if (elapsed >= 0)
				snprintf(drain, sizeof(drain), "%.1f", elapsed);
			printf("%-24s %-9s %7llu %6u %-17s %-4s %8s  %s\n", addr, ebb_state_name(n.state),
			       flows, first_weight, mac, prog, drain, vlist);
		}
	}
	free(rows);
	return arr;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* "0.5", "2": seconds between 0.1 and 3600, for show and watch (interval first in both). */
static int parse_interval(void *args, const char *s)
{
	double *out = args;
	char *end;
	double v;

	if (!s)
		return ctl_error("missing seconds after 'interval'");
	v = strtod(s, &end);
	if (end == s || *end || !(v >= 0.1 && v <= 3600))
		return ctl_error("interval must be 0.1..3600 seconds, not '%s'", s);
	*out = v;
	return 0;
}

struct node_show_args {
	double interval; /* first: parse_interval's */
	struct ebb_addr node;
	bool rates;
};

static const struct ctl_arg node_show_spec[] = {
	{ .metavar = "NODE", .kind = CTL_ADDR, .offset = offsetof(struct node_show_args, node),
	  .bad = "invalid node address '%s'" },
	{ .name = "rates", .kind = CTL_FLAG, .offset = offsetof(struct node_show_args, rates) },
	{ .name = "interval", .metavar = "S", .kind = CTL_PARSE, .flags = CTL_INNER,
	  .parse = parse_interval },
	{ 0 },
};

static int do_show(void *args)
{
	struct node_show_args *a = args;
	struct ebb_addr want = a->node;
	struct counter_read *r = NULL;
	bool have_want = want.family != 0, rates = a->rates;
	double interval = a->interval;
	char node_arg[64];
	json_object *arr;
	__u64 *live;
	struct ebb e;

	node_name(&want, node_arg, sizeof(node_arg));
	if (ctl_open(&e, false))
		return -1;
	if (have_want && ebb_node_find(&e, &want, NULL, NULL)) {
		ebb_close(&e);
		return ctl_error("no node %s", node_arg);
	}
	live = calloc(EBB_MAX_NODES, sizeof(*live));
	if (rates)
		r = calloc(2, sizeof(*r));
	if (!live || (rates && !r)) {
		free(live);
		free(r);
		ebb_close(&e);
		return ctl_error("out of memory");
	}
	if (rates) {
		read_counters(&e, &r[0]);
		sleep_s(interval);
		read_counters(&e, &r[1]);
	}
	if (ebb_live_flows(&e, live, NULL)) {
		free(live);
		free(r);
		ebb_close(&e);
		return ctl_error("cannot read the flow table");
	}
	if (ctl_fleet()) {
		char ferr[256] = "";

		fleet_reports = ctl_fleet_reports(ferr, sizeof(ferr));
		if (!fleet_reports && !quiet)
			fprintf(stderr, "Warning: fleet unreachable (%s): flows are this host's only\n", ferr);
	}
	arr = node_table(&e, have_want ? &want : NULL, live, r ? &r[0] : NULL, r ? &r[1] : NULL);
	json_object_put(fleet_reports);
	fleet_reports = NULL;
	free(live);
	free(r);
	ebb_close(&e);
	if (arr)
		json_print(arr);
	return 0;
}

struct node_watch_args {
	double interval; /* first: parse_interval's */
	__u32 count;
};

static const struct ctl_arg node_watch_spec[] = {
	{ .name = "interval", .metavar = "S", .kind = CTL_PARSE, .parse = parse_interval },
	{ .name = "count", .metavar = "N", .kind = CTL_U32,
	  .offset = offsetof(struct node_watch_args, count), .min = 1, .max = 1000000 },
	{ 0 },
};

/* A live view: the node table with rates, redrawn every interval (top-like on a terminal). */
static int do_watch(void *args)
{
	struct node_watch_args *a = args;
	struct counter_read *r;
	double interval = a->interval;
	__u32 count = a->count;
	bool tty = isatty(STDOUT_FILENO);
	__u64 *live;
	struct ebb e;

	if (json_output)
		return ctl_error("watch is for a terminal; use 'node show rates' with -j");
	if (ctl_open(&e, false))
		return -1;
	live = calloc(EBB_MAX_NODES, sizeof(*live));
	r = calloc(2, sizeof(*r));
	if (!live || !r) {
		free(live);
		free(r);
		ebb_close(&e);
		return ctl_error("out of memory");
	}
	read_counters(&e, &r[0]);
	for (__u32 i = 0; !count || i < count; i++) {
		char when[32];
		time_t t;

		sleep_s(interval);
		read_counters(&e, &r[1]);
		memset(live, 0, EBB_MAX_NODES * sizeof(*live));
		ebb_live_flows(&e, live, NULL);
		t = time(NULL);
		strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
		/* Home and clear on a terminal; plain frames one after another otherwise. */
		if (tty)
			printf("\033[H\033[2J");
		printf("ebbctl node watch: %s, every %gs (%s)%s\n\n", when, interval, bpffs,
		       tty ? ", Ctrl-C to quit" : "");
		node_table(&e, NULL, live, &r[0], &r[1]);
		if (!tty)
			printf("\n");
		fflush(stdout);
		r[0] = r[1];
	}
	free(live);
	free(r);
	ebb_close(&e);
	return 0;
}

static int say_set(const struct ebb_addr *addr, const struct ebb_vip_key *vip, __u32 weight,
		   int node_prog, int store_ret)
{
	char name[64], vname[64], fl[160];
	json_object *o;

	o = say_begin(addr, store_ret, name, sizeof(name), fl, sizeof(fl));
	if (!o)
		return 0;
	if (node_prog >= 0) {
		json_object_object_add(o, "node_prog", json_object_new_boolean(node_prog));
		return ctl_said(o, node_prog ? "%s: node-prog on; it may be sent rescues and named as a candidate%s" :
					       "%s: node-prog off; it is sent no rescues and named as no candidate%s",
				name, fl);
	}
	ebb_fmt_vip(vip, vname, sizeof(vname));
	json_object_object_add(o, "vip", json_object_new_string(vname));
	json_object_object_add(o, "weight", json_object_new_int(weight));
	return ctl_said(o, "%s: weight %u on %s; new flows follow the new weights now, live flows stay where they are%s",
			name, weight, vname, fl);
}

struct node_set_args {
	struct ebb_addr node;
	struct ebb_vip_key vip;
	__u32 weight;
	int node_prog; /* -1: not given */
};

static const struct ctl_choice on_off[] = { { "on", 1 }, { "off", 0 }, { NULL, 0 } };

static const struct ctl_arg node_set_spec[] = {
	NODE_ARG(struct node_set_args),
	{ .name = "vip", .metavar = "VIP", .kind = CTL_VIP, .flags = CTL_ONCE,
	  .offset = offsetof(struct node_set_args, vip), .twice = "one VIP per 'node set'" },
	{ .name = "weight", .metavar = "N", .kind = CTL_U32,
	  .offset = offsetof(struct node_set_args, weight), .min = 1, .max = EBB_MAX_WEIGHT },
	{ .name = "node-prog", .kind = CTL_CHOICE, .flags = CTL_ONCE, .choices = on_off,
	  .offset = offsetof(struct node_set_args, node_prog),
	  .bad = "node-prog must be 'on' or 'off', not '%s'" },
	{ 0 },
};

/* A weight on one VIP, or the node-wide node-prog: two forms, never both. */
static const char *const node_set_usage[] = { "NODE vip VIP weight N", "NODE node-prog {on|off}", NULL };

static int do_set(void *args)
{
	struct node_set_args *a = args;
	struct ebb_addr addr = a->node;
	struct ebb_vip_key vip = a->vip;
	bool have_vip = vip.family != 0;
	int node_prog = a->node_prog;
	__u32 weight = a->weight;
	int ret;

	if (node_prog >= 0) {
		/* node-wide, as a state: one change at a time, so that a refusal changes nothing */
		if (have_vip || weight)
			return ctl_error("node-prog is the node's, for all its VIPs: set it apart from a weight; usage: %s",
					 ctl_usage());
		ret = ctl_store_here()->node_prog(&addr, node_prog);
		return ret < 0 ? -1 : say_set(&addr, NULL, 0, node_prog, ret);
	}
	if (!have_vip)
		return ctl_error("missing 'vip VIP'; usage: %s", ctl_usage());
	if (!weight)
		return ctl_error("missing 'weight N'; usage: %s", ctl_usage());
	ret = ctl_store_here()->node_weight(&addr, &vip, weight);
	return ret < 0 ? -1 : say_set(&addr, &vip, weight, -1, ret);
}

/* The drain node `id` just finished, as the ebbd that retired it said: its view when it speaks of
 * this node and of a retirement at (or just before) the node's present state began. */
static bool retired_view(__u32 id, const struct ebb_node *n, struct ebb_drain_view *v)
{
	if (ebb_drains_read(bpffs, id, 0, v) || !v->retired || v->family != n->family ||
	    !ebb_addr_eq(n->addr, v->addr, n->family))
		return false;
	/* decided before the transition; in a fleet the map changes once the write comes back */
	return v->at_ns <= n->state_since_ns + NS_PER_S_CTL &&
	       v->at_ns + 60 * NS_PER_S_CTL > n->state_since_ns;
}

/* One progress line of a wait on a draining node: flows left (the node's own count when ebbd
 * reads it, else the LB's table), elapsed of its timeout. */
static void wait_progress(struct ebb *e, __u32 id, const struct ebb_node *n, const char *name,
			  bool tty, unsigned long long *last_left, __u64 *last_said)
{
	__u64 now = ebb_now_ns(), *live = calloc(EBB_MAX_NODES, sizeof(*live));
	struct ebb_drain_view v;
	unsigned long long left = 0;
	bool verified = !ebb_drains_read(bpffs, id, n->state_since_ns, &v) && v.verified;
	double elapsed = now > n->state_since_ns ? (now - n->state_since_ns) / 1e9 : 0;

	if (verified)
		left = v.node_live;
	else if (live && !ebb_live_flows(e, live, NULL))
		left = live[id];
	free(live);
	/* on a pipe, a line when the count moves or every 10 s: a log, not a spinner */
	if (!tty && left == *last_left && now - *last_said < 10 * NS_PER_S_CTL)
		return;
	*last_left = left;
	*last_said = now;
	printf("%s%s: draining, %llu flow%s left (%s), %.0f s of %u s%s", tty ? "\r" : "", name, left,
	       left == 1 ? "" : "s", verified ? "the node's count" : "LB's table", elapsed,
	       drain_timeout_of(e, id, n), tty ? "   " : "\n");
	fflush(stdout);
}

struct node_wait_args {
	struct ebb_addr node;
	int state;
	__u32 timeout;
};

static const struct ctl_choice states[] = {
	{ "active", EBB_NODE_ACTIVE }, { "draining", EBB_NODE_DRAINING },
	{ "inactive", EBB_NODE_INACTIVE }, { "down", EBB_NODE_DOWN }, { NULL, 0 },
};

static const struct ctl_arg node_wait_spec[] = {
	NODE_ARG(struct node_wait_args),
	{ .name = "state", .metavar = "STATE", .kind = CTL_CHOICE, .flags = CTL_REQUIRED,
	  .choices = states, .offset = offsetof(struct node_wait_args, state) },
	{ .name = "timeout", .metavar = "SECONDS", .kind = CTL_U32,
	  .offset = offsetof(struct node_wait_args, timeout), .min = 1, .max = EBB_MAX_TIMEOUT_S,
	  .unit = "seconds", .missing = "seconds" },
	{ 0 },
};

static int do_wait(void *args)
{
	struct node_wait_args *a = args;
	struct ebb_addr addr = a->node;
	struct ebb_node n;
	__u32 timeout = a->timeout, id = 0;
	__u64 deadline, start, last_tick = 0, last_said = 0, drain_since = 0;
	unsigned long long last_left = ~0ULL;
	char node_arg[64];
	bool tty = isatty(STDOUT_FILENO), progress, warned = false, in_line = false;
	char name[64];
	struct ebb e;
	int state = a->state;

	node_name(&addr, node_arg, sizeof(node_arg));
	if (ctl_open(&e, false))
		return -1;
	ebb_fmt_addr(addr.a, addr.family, name, sizeof(name));
	progress = !quiet && !json_output;
	start = ebb_now_ns();
	deadline = timeout ? start + timeout * 1000000000ULL : 0;
	for (;;) {
		__u64 now;

		if (ebb_node_find(&e, &addr, &id, &n)) {
			if (in_line)
				printf("\n");
			ebb_close(&e);
			return ctl_error("no node %s", node_arg);
		}
		if (n.state == state)
			break;
		now = ebb_now_ns();
		if (n.state == EBB_NODE_DRAINING) {
			drain_since = n.state_since_ns;
			if (!warned && !ctl_store_here()->ebbd_applies) {
				warned = true;
				ctl_agent_check("nothing will retire it: this wait ends only when you stop it or at its own timeout",
						NULL);
			}
			if (progress && now - last_tick >= NS_PER_S_CTL) {
				last_tick = now;
				wait_progress(&e, id, &n, name, tty, &last_left, &last_said);
				in_line = tty;
			}
		}
		if (deadline && now >= deadline) {
			if (in_line)
				printf("\n");
			ebb_close(&e);
			return ctl_error("timed out after %us: node is %s, not %s", timeout,
					 ebb_state_name(n.state), ebb_state_name(state));
		}
		nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
	}
	if (in_line)
		printf("\n");
	{
		json_object *o = json_object_new_object();
		double waited = (ebb_now_ns() - start) / 1e9;
		struct ebb_drain_view v = {};
		bool have = false;

		json_object_object_add(o, "node", json_object_new_string(name));
		json_object_object_add(o, "state", json_object_new_string(ebb_state_name(n.state)));
		json_object_object_add(o, "waited_s", json_object_new_double(waited));
		if (state == EBB_NODE_INACTIVE) {
			/* ebbd says how the drain ended right after it retired the node: wait for that
			 * (2 s at most: a node set inactive otherwise has nothing to say) */
			for (int i = 0; i < 20 && !(have = retired_view(id, &n, &v)); i++)
				nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
			if (have && drain_since && v.since != drain_since)
				have = false;
			json_object_object_add(o, "drain_verified", have ? json_object_new_boolean(v.verified) : NULL);
			json_object_object_add(o, have && v.verified ? "flows_cut" : "flows_cut_estimate",
					       have ? json_object_new_int64(v.flows_cut) : NULL);
			json_object_object_add(o, "safe_to_power_off",
					       json_object_new_boolean(have && v.verified && !v.flows_cut));
		}
		ebb_close(&e);
		if (json_output) {
			json_print(o);
			return 0;
		}
		json_object_put(o);
		if (quiet)
			return 0;
		if (state != EBB_NODE_INACTIVE)
			printf("%s: %s (after %.1f s)\n", name, ebb_state_name(n.state), waited);
		else if (have && v.verified && !v.flows_cut)
			printf("%s: inactive, 0 flows cut: safe to power off\n", name);
		else if (have && v.verified)
			printf("%s: inactive, %lld flow%s cut (the node's count at the drain's end): powering it off ends %s\n",
			       name, (long long)v.flows_cut, v.flows_cut == 1 ? "" : "s",
			       v.flows_cut == 1 ? "it" : "them");
		else if (have)
			printf("%s: inactive, ~%lld flow%s cut by the LB's estimate; unverified: the node's own count was not read, so check the node before powering it off\n",
			       name, (long long)v.flows_cut, v.flows_cut == 1 ? "" : "s");
		else
			printf("%s: inactive; no ebbd said how its drain ended (unverified): check the node before powering it off\n",
			       name);
	}
	return 0;
}


static void node_notes(FILE *f)
{
	fprintf(f,
		"\n"
		"       NODE := { IPv4 | IPv6 address }   N := 1..%d (default %d)\n"
		"       STATE := { active | draining | inactive | down }\n"
		"       node-prog: the node runs ebb's node program (ebbctl backend attach): it may be\n"
		"       sent rescues and named as a candidate\n",
		EBB_MAX_WEIGHT, EBB_DEFAULT_WEIGHT);
}

static const struct ctl_command node_commands[] = {
	{ .name = "add", .run = do_add, CTL_ARGS(node_add_args, node_add_spec) },
	{ .name = "del", .alias = "delete", .run = do_del, CTL_ARGS(node_del_args, node_del_spec) },
	{ .name = "drain", .run = do_drain, CTL_ARGS(node_drain_args, node_drain_spec) },
	{ .name = "activate", .run = do_activate, CTL_ARGS(node_activate_args, node_activate_spec) },
	{ .name = "set", .shortest = 2, .run = do_set, CTL_ARGS(node_set_args, node_set_spec),
	  .defaults = &(struct node_set_args){ .node_prog = -1 }, .usage = node_set_usage },
	{ .name = "show", .alias = "list", .run = do_show, CTL_ARGS(node_show_args, node_show_spec),
	  .defaults = &(struct node_show_args){ .interval = 1 } },
	{ .name = "watch", .shortest = 3, .run = do_watch, CTL_ARGS(node_watch_args, node_watch_spec),
	  .defaults = &(struct node_watch_args){ .interval = 1 } },
	{ .name = "wait", .run = do_wait, CTL_ARGS(node_wait_args, node_wait_spec) },
	{ NULL },
};

const struct ctl_object ctl_node_object = { "node", node_commands, node_notes };
