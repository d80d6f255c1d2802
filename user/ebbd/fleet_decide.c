// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The leader's decisions, on fleet-wide sums, written to etcd before any map (doc/fleet.md). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "fleet_shared.h"

/* ---- decisions: only the leader, on fleet-wide sums, written to etcd first ---- */

/* Fleet-wide live flows of a node, from every other host's report plus this host's count. */
long long fleet_flows(const char *node, long long local)
{
	long long sum = local;

	if (!fleet_sh.running)
		return local;
	pthread_mutex_lock(&fleet_sh.mu);
	if (fleet_sh.live) {
		json_object_object_foreach(fleet_sh.live, host, rep)
		{
			json_object *fl, *v;

			if (!strcmp(host, fleet_sh.cfg.host))
				continue;
			if (json_object_object_get_ex(rep, "flows", &fl) && json_object_object_get_ex(fl, node, &v))
				sum += json_object_get_int64(v);
		}
	}
	pthread_mutex_unlock(&fleet_sh.mu);
	return sum;
}

/*
 * The other hosts as drain_decide() weighs them for a draining node: each host that ever
 * reported (its last report), with its live report when its lease lives. Its rules (applied the
 * drain, reports none; or gone having withdrawn its routes) are in drain_decide.c.
 */
static void drain_hosts(const char *node, int64_t drain_rev, struct drain_fleet *df)
{
	df->drain_rev = drain_rev;
	df->n_hosts = 0;
	df->truncated = false;
	pthread_mutex_lock(&fleet_sh.mu);
	if (fleet_sh.last) {
		json_object_object_foreach(fleet_sh.last, host, lastrep)
		{
			json_object *rep = NULL, *fl, *v;
			struct drain_host *h;

			if (!strcmp(host, fleet_sh.cfg.host))
				continue;
			if (df->n_hosts == DRAIN_MAX_HOSTS) {
				df->truncated = true;
				break;
			}
			h = &df->hosts[df->n_hosts++];
			*h = (struct drain_host){};
			snprintf(h->name, sizeof(h->name), "%s", host);
			if (json_object_object_get_ex(fleet_sh.live, host, &rep)) {
				h->live = true;
				h->applied = json_object_object_get_ex(rep, "applied", &v) ? json_object_get_int64(v) : 0;
				/* Its count speaks for this drain only from a walk that began once the
				 * host had applied it: an earlier walk may predate a connection made just
				 * before the drain, and say 0 for a node that holds one (CI saw a node
				 * retired 0.13 s into its drain so). */
				if (json_object_object_get_ex(rep, "flows", &fl) && json_object_object_get_ex(fl, node, &v)) {
					h->flows = json_object_get_int64(v);
					h->measured = json_object_object_get_ex(rep, "counted", &v) &&
						      json_object_get_int64(v) >= drain_rev;
				}
				continue;
			}
			if (json_object_object_get_ex(lastrep, "flows", &fl) && json_object_object_get_ex(fl, node, &v))
				h->flows = json_object_get_int64(v);
			if (json_object_object_get_ex(lastrep, "status", &v))
				snprintf(h->status, sizeof(h->status), "%s", json_object_get_string(v));
		}
	}
	pthread_mutex_unlock(&fleet_sh.mu);
}

int fleet_drain_view(const char *node, struct drain_fleet *df)
{
	int64_t rev = -1;

	if (!fleet_sh.running)
		return -1;
	pthread_mutex_lock(&fleet_sh.mu);
	for (int i = 0; fleet_leads_now() && fleet_sh.have_st && i < fleet_sh.st.n_nodes; i++)
		if (!strcmp(fleet_sh.st.nodes[i].name, node) && fleet_sh.st.nodes[i].state == EBB_NODE_DRAINING)
			rev = fleet_sh.st.nodes[i].mod_rev;
	pthread_mutex_unlock(&fleet_sh.mu);
	if (rev < 0)
		return -1;
	drain_hosts(node, rev, df);
	return 0;
}

int fleet_transition(struct agent *a, struct node *n, __u8 to, __u32 drain_timeout_s, json_object *ev)
{
	char rest[160], nodekey[256], leaderkey[128], serial[128], what[256], why[512], bad[FLEET_WHY_MAX];
	struct etcd_range r;
	struct fleet_state one;
	struct fleet_node *fn;
	json_object *cmp, *ops, *nj;
	const char *val;
	bool ok = false;
	int64_t rev = 0, granted = 0, ended = 0, hist[EBB_MAX_VIPS];
	int n_hist = 0;

	(void)a;
	if (!fleet_sh.running)
		return 0;
	if (!fleet_is_leader()) {
		log_msg(LOG_DEBUG, "fleet_not_leader", "%s -> %s is the leader's decision", n->name, ebb_state_name(to));
		return -EAGAIN;
	}
	snprintf(rest, sizeof(rest), "state/nodes/%s", n->name);
	fleet_own_key(nodekey, sizeof(nodekey), rest);
	fleet_own_key(leaderkey, sizeof(leaderkey), "leader");
	fleet_own_key(serial, sizeof(serial), "state/serial");
	if (etcd_get(&fleet_main_etcd, nodekey, false, &r)) {
		log_msg(LOG_WARN, "fleet_decision_failed", "%s: %s", n->name, fleet_main_etcd.err);
		return -EAGAIN;
	}
	if (r.n != 1) {
		etcd_range_free(&r);
		return -EAGAIN;
	}
	if (fleet_state_parse(&r, fleet_sh.cfg.name, &one) || one.n_nodes != 1) {
		fleet_state_free(&one);
		etcd_range_free(&r);
		return -EAGAIN;
	}
	fn = &one.nodes[0];
	if (fn->state != n->entry.state) {
		/* the fleet moved on (an operator, or the maps lag): decide again on what it says */
		fleet_state_free(&one);
		etcd_range_free(&r);
		return -EAGAIN;
	}
	if (to == EBB_NODE_INACTIVE && fn->state == EBB_NODE_DRAINING) {
		/* drain.c's decision again, on its inputs, with every host's report (fleet-wide) */
		static struct drain_fleet df;
		struct drain_in in = n->drain.in;
		struct drain_out d;

		drain_hosts(n->name, fn->mod_rev, &df);
		in.fleet = &df;
		in.now = fleet_mono_ns();
		in.elapsed_ns = (__s64)(in.now - n->entry.state_since_ns);
		in.timeout_ns = node_drain_timeout(a, n) * NS_PER_S;
		drain_decide(&in, &d);
		snprintf(why, sizeof(why), "%s", d.why);
		if (!in.draining || in.since != n->entry.state_since_ns || d.verdict == DRAIN_KEEP) {
			static __u64 said;
			static char said_why[512];

			if (!why[0])
				snprintf(why, sizeof(why), "%s", d.reason);
			/* said when the reason changes, else every 5 s */
			if (strcmp(said_why, why) || fleet_mono_ns() - said > 5 * NS_PER_S) {
				snprintf(said_why, sizeof(said_why), "%s", why);
				json_object *e = log_new(LOG_INFO, "fleet_retire_blocked");

				json_add_str(e, "node", n->name);
				json_add_str(e, "why", why);
				log_emit(e);
				said = fleet_mono_ns();
			}
			fleet_state_free(&one);
			etcd_range_free(&r);
			return -EAGAIN;
		}
		json_add_bool(ev, "fleet_wide", true);
		if (why[0])
			json_add_str(ev, "fleet_unaccounted", why);
	}
	ops = json_object_new_array();
	/* a drain that ends takes its clock with it; a drain that starts gets one (the leader's wall
	 * clock, like any writer's, is for people only: since) */
	if (fn->state == EBB_NODE_DRAINING && to != EBB_NODE_DRAINING) {
		ended = fn->drain_lease;
		fleet_drain_end(fleet_sh.cfg.name, fn, ops);
	}
	if (to != fn->state)
		fn->since = fleet_wall();
	if (to == EBB_NODE_DOWN && fn->state != EBB_NODE_DOWN)
		fn->before_down = fn->state;
	fn->state = to;
	if (to == EBB_NODE_DRAINING)
		fn->drain_timeout_s = drain_timeout_s;
	else if (to != EBB_NODE_DOWN)
		fn->drain_timeout_s = 0;
	if (to == EBB_NODE_DRAINING) {
		__u32 timeout;

		/* the VIPs' timeouts (its weights name them) from the state last read */
		pthread_mutex_lock(&fleet_sh.mu);
		timeout = fleet_sh.have_st ? fleet_node_drain_timeout(&fleet_sh.st, fn) :
				      (fn->drain_timeout_s ? fn->drain_timeout_s : node_drain_timeout(a, n));
		pthread_mutex_unlock(&fleet_sh.mu);
		if (fleet_drain_grant(&fleet_main_etcd, fleet_sh.cfg.name, fn, timeout, 0, ops, bad, sizeof(bad))) {
			log_msg(LOG_WARN, "fleet_decision_failed", "%s -> %s: %s", n->name, ebb_state_name(to), bad);
			json_object_put(ops);
			fleet_state_free(&one);
			etcd_range_free(&r);
			return -EAGAIN;
		}
		granted = fn->drain_lease;
	}
	nj = fleet_node_json(fn);
	/* the leader writes only what every host will accept (the writers' one check), as checked */
	val = json_object_to_json_string_ext(nj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (fleet_key_check(fleet_sh.cfg.name, nodekey, val, bad, sizeof(bad))) {
		log_msg(LOG_ERROR, "fleet_decision_failed", "%s -> %s: refused to write %s = %s: %s", n->name,
			ebb_state_name(to), nodekey, val, bad);
		json_object_put(nj);
		json_object_put(ops);
		if (granted)
			etcd_lease_revoke(&fleet_main_etcd, granted);
		fleet_state_free(&one);
		etcd_range_free(&r);
		return -EINVAL;
	}
	cmp = json_object_new_array();
	/* fenced: only while this host holds the leader key, and the node is as read */
	json_object_array_add(cmp, etcd_cmp(leaderkey, "VALUE", "EQUAL", 0, fleet_sh.cfg.host));
	json_object_array_add(cmp, etcd_cmp(nodekey, "MOD", "EQUAL", fn->mod_rev, NULL));
	json_object_array_add(ops, etcd_op_put(nodekey, val, 0));
	snprintf(what, sizeof(what), "{\"by\":\"%s\",\"what\":\"leader: %s %s\",\"time\":%.3f}", fleet_sh.cfg.host,
		 n->name, ebb_state_name(to), fleet_wall());
	json_object_array_add(ops, etcd_op_put(serial, what, 0));
	json_object_put(nj);
	fleet_state_free(&one);
	etcd_range_free(&r);
	{
		/* the member sets this decision replaces go in its own transaction (the slot
		 * history's generations), read from the whole state and fenced by its serial */
		struct fleet_state before;
		bool hist_ok = false;
		char sp[128];

		fleet_own_key(sp, sizeof(sp), "state/");
		if (etcd_get(&fleet_main_etcd, sp, true, &r)) {
			log_msg(LOG_WARN, "fleet_decision_failed", "%s -> %s: %s", n->name, ebb_state_name(to),
				fleet_main_etcd.err);
		} else {
			fleet_state_parse(&r, fleet_sh.cfg.name, &before);
			etcd_range_free(&r);
			hist_ok = !fleet_history_ops(&fleet_main_etcd, fleet_sh.cfg.name, &before, ops, hist, &n_hist, bad, sizeof(bad));
			if (!hist_ok)
				log_msg(LOG_WARN, "fleet_decision_failed", "%s -> %s: %s", n->name, ebb_state_name(to), bad);
			else
				json_object_array_add(cmp, etcd_cmp(serial, "MOD", "EQUAL", before.rev, NULL));
			fleet_state_free(&before);
		}
		if (!hist_ok) {
			json_object_put(cmp);
			json_object_put(ops);
			if (granted)
				etcd_lease_revoke(&fleet_main_etcd, granted);
			return -EAGAIN;
		}
	}
	if (etcd_txn(&fleet_main_etcd, cmp, ops, NULL, &ok, &rev, NULL)) {
		/* written or not, unknown: a lease granted for it stays (unused, it only expires) */
		log_msg(LOG_WARN, "fleet_decision_failed", "%s -> %s: %s", n->name, ebb_state_name(to), fleet_main_etcd.err);
		return -EAGAIN;
	}
	if (!ok) {
		/* surely not written: the leases granted for it go */
		if (granted)
			etcd_lease_revoke(&fleet_main_etcd, granted);
		for (int i = 0; i < n_hist; i++)
			etcd_lease_revoke(&fleet_main_etcd, hist[i]);
		return -EAGAIN;
	}
	/* the ended drain's key went with the transaction; its lease goes now (else it expires) */
	if (ended)
		etcd_lease_revoke(&fleet_main_etcd, ended);
	json_add_int(ev, "fleet_revision", rev);
	return 0;
}

/* flows[id]: each node's fleet-wide live flows, what the leader scales on; the census stays
 * this host's own count, which the reports, the metrics and the status page show. */
void fleet_flow_sums(const struct agent *a, __u64 *flows)
{
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];

		flows[id] = n->used ? (__u64)fleet_flows(n->name, (long long)n->census.flows) : 0;
	}
}
