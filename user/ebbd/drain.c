// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Drain completion: `draining` -> `inactive` once the node has no live flow, or when its drain
 * timeout (counted from state_since_ns, which is in the map) has passed. Checked every
 * drain-check period (200 ms) without walking the table: the last walk listed the keys of the
 * node's live flows, and they are looked up again from the front, finished ones dropped, until
 * one is still live. Each key is found finished once, so the cost is one lookup per ended flow
 * plus one per node and check. The list is complete only while the node's new_flows counter
 * has not moved since before that walk (every flow pinned to a node counts there: a second
 * chance may pin a flow to a draining node); when it has, the next walk makes a new list.
 *
 * An empty list proves nothing when the table has lost entries: a flush, an LB restart or LRU
 * eviction forgets a flow that is still open, and an idle one says nothing until its next
 * packet, which the second chance brings back to this node only while it still drains. So a
 * listed flow that vanished from the table (rather than being seen to finish) counts as lost,
 * and so does every second-chance arrival on the node (its packet proves state was lost); after
 * a loss the node is retired only once drain-lost-quiet seconds (default 60) have passed
 * without another arrival. The drain timeout still bounds it all.
 *
 * A listed key leaves the list only once a lookup judged it (finished, vanished, elsewhere): a
 * later pass's list is merged into it, never put in its place (a pass after a flush lists
 * nothing, and the flushed keys were the only sign of the loss).
 *
 * State lost before the drain's first list leaves no key to look up; the node's live-flow count
 * says it. Every pass counts the flows live at its time t0; the first list's pass (at t1) also
 * counts the node's finished flows whose end is at or after t0 - DRAIN_END_SLACK_NS. A flow
 * live at t0 that is still in the table at t1, pinned to the node, is either live at t1 or
 * finished with such an end: seen only moves forward, so an idle flow live at t0 ends (seen +
 * idle timeout) after t0, one with a FIN at t0 too (seen + FIN timeout), and a FIN or RST that
 * came after t0 left seen at most EBB_TOUCH_NS (+ a tick each side) before it. So
 * before - live - ended never exceeds the flows that were live at t0 and left the table or the
 * node: a flush, an eviction, or (rarely, and then counted lost too) a client reusing a live
 * flow's port for a new connection placed on another node. Flows that came since only lower
 * it: one pinned between the two passes can hide a lost one, which then shows only through the
 * second chance (the node's own socket count would see it; the LB's table cannot). A count older than the last tick at which the node took no pinned flows (down: its flows
 * are re-steered) is not used (measure.c).
 *
 * All of the above gathers evidence; the decision itself is drain_decide() (drain_decide.h), a
 * pure function of it, of the node's own report of its live connections (truth.h) and, on the
 * fleet leader's path, of the other hosts' reports. With a fresh report the node's count
 * decides and the figure is verified; without, the rules above decide and the figure is the
 * LB's estimate, logged as flows_cut_estimate with "verified": false, never as flows_cut.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "ebbd.h"

/* Lookups per check, all nodes together: a mass of ended flows is dropped over a few checks. */
#define LOOKUPS_PER_CHECK 5000

/*
 * Drops finished flows from the front of the list. Returns the number of live flows found:
 * with count_all, all of them (exact); without, stops at the first (0 means none left), or
 * returns -EAGAIN when the lookup budget ran out first. *vanished: listed flows found gone from
 * the table (not seen to finish: they may still be open).
 */
static long watch_check(struct agent *a, struct node *n, __u64 now, bool count_all, int *budget,
			__u64 *vanished)
{
	struct watch *w = &n->drain.list;
	long live = 0;
	size_t i = 0;

	while (i < w->n) {
		struct ebb_flow v;
		__u64 end;

		if (!count_all && (*budget)-- <= 0)
			return -EAGAIN;
		if (ebb_flow_get(&a->e, &w->keys[i], &v)) {
			(*vanished)++;
		} else if (v.node_id == n->id) {
			if (flow_live(a, &w->keys[i], &v, now, &end)) {
				live++;
				if (!count_all)
					return live;
				i++;
				continue;
			}
			if (end > n->drain.last_end_ns)
				n->drain.last_end_ns = end;
		}
		/* Finished, lost, or placed elsewhere (a new connection on the same ports): not
		 * this node's to wait for any more. */
		w->keys[i] = w->keys[--w->n];
	}
	return live;
}

/* Retires n as d says; 0 when the transition was made (else it is decided again next tick). */
static int complete(struct agent *a, struct node *n, __u64 now, const struct drain_out *d)
{
	long long cut = d->flows_cut;
	json_object *ev = log_new(cut ? LOG_WARN : LOG_INFO, "drained");
	__u32 timeout = node_drain_timeout(a, n);
	const struct drain_state *s = &d->next;
	const struct node_truth *t = &n->drain.in.truth;
	__u64 last_end;
	int ret;

	json_add_str(ev, "reason", d->reason);
	/* Measured by the node, or the LB's estimate: a figure nobody measured is never called
	 * flows_cut, so that "0 cut" always means the node counted 0. */
	json_add_bool(ev, "verified", d->verified);
	if (d->verified) {
		json_add_int(ev, "flows_cut", cut);
		json_add_int(ev, "node_live", (long long)s->node_live);
		json_add_int(ev, "node_reset", (long long)s->node_reset);
		/* other hosts' entries of connections the node no longer has (a host left: ECMP
		 * moved them, their old entries wait for the idle timeout) */
		if (d->host_flows)
			json_add_int(ev, "host_flows_outweighed", d->host_flows);
	} else {
		json_add_int(ev, "flows_cut_estimate", cut);
		if (!d->exact) /* from the last walk: the node had too many flows to list one by one */
			json_add_bool(ev, "flows_cut_exact", false);
		json_add_str(ev, "truth", drain_truth_name(t->status));
		if (t->status == TRUTH_FAILED && t->why[0])
			json_add_str(ev, "truth_why", t->why);
	}
	json_add_double(ev, "drain_s", (now - n->entry.state_since_ns) / 1e9);
	json_add_int(ev, "drain_timeout_s", timeout);
	/* How long after its last flow finished the node was retired (the goal is < 1 s). The
	 * LB sees a closed connection finish only a FIN timeout later, so a drain the node
	 * verified counts from the node's last report that still saw a connection, when that
	 * is later: the connection ended after it, so the figure is an upper bound. */
	last_end = n->drain.last_end_ns;
	if (d->verified && t->live_asked_ns > last_end)
		last_end = t->live_asked_ns;
	if (last_end && last_end <= now && !cut && !s->lost_ns)
		json_add_int(ev, "last_flow_end_ago_ms", (now - last_end) / 1000000);
	if (s->lost_ns) { /* retired after lost state: how long it stayed quiet */
		json_add_int(ev, "flows_lost", s->lost_flows);
		json_add_double(ev, "quiet_s", (now - s->lost_ns) / 1e9);
	}
	a->hook_extra = d->verified ? "EBB_FLOWS_CUT_VERIFIED=true" : "EBB_FLOWS_CUT_VERIFIED=false";
	ret = node_transition(a, n, EBB_NODE_INACTIVE, 0, EV_DRAINED, ev, cut);
	if (!ret) {
		if (d->verified)
			a->flows_cut_total += cut;
		else
			a->flows_cut_estimate_total += cut;
		a->drains[d->verified]++;
		n->drain.last.have = true;
		n->drain.last.verified = d->verified;
		n->drain.last.cut = cut;
		status_nodes_changed();
		watch_reset(&n->drain.list);
		n->drain.last_end_ns = 0;
	}
	a->hook_extra = NULL;
	return ret;
}

/*
 * Flows of a draining node lost before its drain's first list: `before` live at the pass before,
 * `live` and `ended` (finished, having ended since, less DRAIN_END_SLACK_NS) at the list's pass.
 */
static __u64 lost_unlisted(__u64 before, __u64 live, __u64 ended)
{
	return before > live + ended ? before - live - ended : 0;
}

/* Counts `count` flows of draining node n as lost now (starts its quiet period). */
static void note_lost(struct agent *a, struct node *n, __u64 count, __u64 now)
{
	struct drain_state *s = &n->drain.ds;

	if (s->drain != n->entry.state_since_ns) {
		struct ebb_counters c;

		*s = (struct drain_state){ .drain = n->entry.state_since_ns };
		if (!ebb_counters_sum(a->e.node_stats_fd, n->id, &c))
			s->second_chance_seen = c.second_chance;
	}
	s->lost_flows += count;
	s->lost_ns = now;
	s->lost_logged = false;
}

/*
 * Takes the list the last pass published for draining node n (measure.h): the drain's first
 * replaces whatever n had, a later one is merged into n's, whose keys not judged yet stay (a
 * pass after a flush lists nothing, and the flushed keys were the only sign of the loss).
 */
static void take_list(struct agent *a, struct node *n, __u64 now)
{
	struct census_list *l = &n->census.list;
	struct watch *w = &n->drain.list;
	json_object *ev;
	bool first;

	if (!l->fresh)
		return;
	l->fresh = false;
	if (n->entry.state != EBB_NODE_DRAINING || n->entry.state_since_ns != l->since) {
		watch_reset(&l->keys);
		return;
	}
	ev = log_new(LOG_DEBUG, "drain_listed");
	first = w->since != l->since;
	json_add_str(ev, "node", n->name);
	json_add_int(ev, "flows", (long long)l->keys.n);
	/* Before the first list only the count tells flows lost. */
	if (first && l->counted) {
		__u64 lost = lost_unlisted(l->before, l->live, l->ended);

		json_add_int(ev, "flows_before", (long long)l->before);
		json_add_double(ev, "before_s", (l->counted_ns - l->before_ns) / 1e9);
		json_add_int(ev, "ended_since", (long long)l->ended);
		json_add_int(ev, "flows_lost", (long long)lost);
		if (lost)
			note_lost(a, n, lost, now);
	}
	if (first) {
		watch_reset(w);
		*w = l->keys;
		l->keys = (struct watch){};
	} else {
		watch_merge(w, &l->keys);
		json_add_int(ev, "watched", (long long)w->n);
	}
	log_emit(ev);
	if (l->last_end > n->drain.last_end_ns)
		n->drain.last_end_ns = l->last_end;
}

/* The leader waits for other hosts (out->why says which): said when that changes, else every 5 s. */
static void say_blocked(struct node *n, const struct drain_out *d, __u64 now)
{
	__u32 h = 2166136261u; /* FNV-1a */
	json_object *ev;

	for (const char *p = d->why; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	if (h == n->drain.blocked_said_hash && now - n->drain.blocked_said_ns < 5 * NS_PER_S)
		return;
	n->drain.blocked_said_hash = h;
	n->drain.blocked_said_ns = now;
	ev = log_new(LOG_INFO, "fleet_retire_blocked");
	json_add_str(ev, "node", n->name);
	json_add_str(ev, "why", d->why);
	log_emit(ev);
}

/* What ebbctl node show says of the drain (libebb_agent.h): the pinned array, opened per tick
 * (the state may have been re-created since the last), written only for draining nodes. */
static void drain_publish(struct agent *a, int *fd, const struct node *n, const struct drain_out *d,
			  bool retired)
{
	struct ebb_drain_view v = { .since = n->drain.in.since, .node_live = d->next.node_live,
				    .node_reset = d->next.node_reset, .at_ns = n->drain.in.now,
				    .flows_cut = retired ? d->flows_cut : 0, .family = n->addr.family,
				    .verified = d->verified, .truth = (__u8)n->drain.in.truth.status,
				    .retired = retired };

	memcpy(v.addr, n->addr.a, sizeof(v.addr));
	snprintf(v.reason, sizeof(v.reason), "%s", d->reason);
	if (*fd == -1)
		*fd = ebb_drains_open(a->bpffs, true);
	if (*fd >= 0)
		bpf_map_update_elem(*fd, &n->id, &v, BPF_ANY);
}

/*
 * Gathers what drain_decide() needs for each draining node (this host's census and lookups, the
 * node's report, the settings) and carries out its verdict. The inputs stay in n->drain.in: the
 * fleet leader's path decides again on them with the other hosts' reports (fleet.c).
 */
void drain_tick(struct agent *a, __u64 now)
{
	static struct drain_fleet df;
	int budget = LOOKUPS_PER_CHECK, view_fd = -1;

	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];
		struct watch *w = &n->drain.list;
		struct drain_in *in = &n->drain.in;
		struct drain_out out;
		bool exact, timed_out, have_c;
		struct ebb_counters c;
		long live = -EAGAIN;
		__u64 timeout_ns, vanished = 0;
		__s64 elapsed;

		if (!n->used)
			continue;
		take_list(a, n, now);
		/* Down is not draining: a down node's flows are re-steered, it has nothing to finish. */
		if (n->entry.state != EBB_NODE_DRAINING) {
			/* truth.c forgets the node's reports itself (truth_tick, main.c) */
			if (n->drain.ds.drain) {
				n->drain.ds = (struct drain_state){};
				n->drain.in.draining = false;
			}
			continue;
		}
		timeout_ns = node_drain_timeout(a, n) * NS_PER_S;
		elapsed = (__s64)(now - n->entry.state_since_ns);
		timed_out = elapsed >= 0 && (__u64)elapsed >= timeout_ns;
		exact = w->valid && w->since == n->entry.state_since_ns;
		have_c = !ebb_counters_sum(a->e.node_stats_fd, id, &c);
		if (exact && have_c && c.new_flows != w->new_flows0) {
			log_msg(LOG_DEBUG, "drain_list_stale",
				"%s got %llu flow(s) pinned while draining; listing its flows again", n->name,
				(unsigned long long)(c.new_flows - w->new_flows0));
			w->valid = false;
			n->census.list.relist = true;
			exact = false;
		}
		/* At the timeout every listed flow is counted: the estimate of what it cuts. */
		if (exact)
			live = watch_check(a, n, now, timed_out, &budget, &vanished);
		*in = (struct drain_in){
			.prev = n->drain.ds,
			.draining = true,
			.since = n->entry.state_since_ns,
			.elapsed_ns = elapsed,
			.timeout_ns = timeout_ns,
			.now = now,
			.lost_quiet_ns = (__u64)(a->cfg.lost_quiet * NS_PER_S),
			.lb = { .listed = exact, .live = live, .vanished = vanished, .flows = n->census.flows,
				.have_second = have_c, .second_chance = have_c ? c.second_chance : 0 },
			.truth = *truth_get(a, n),
			/* the leader decides fleet-wide here already (fleet_transition checks again
			 * against the node's key as etcd has it now) */
			.fleet = fleet_enabled() && !fleet_drain_view(n->name, &df) ? &df : NULL,
		};
		drain_decide(in, &out);
		in->fleet = NULL; /* df is the next node's soon */
		n->drain.ds = out.next;
		n->drain.verified = out.verified;
		n->drain.reason = out.reason;
		if (out.verdict == DRAIN_KEEP && !strcmp(out.reason, "fleet_blocked"))
			say_blocked(n, &out, now);
		if (out.say_lost_wait) {
			json_object *ev = log_new(LOG_INFO, "drain_wait_lost");

			json_add_str(ev, "node", n->name);
			json_add_str(ev, "msg", "no listed flow left, but flow state was lost: "
					"retiring only after a quiet period");
			json_add_int(ev, "flows_lost", n->drain.ds.lost_flows);
			json_add_double(ev, "quiet_s", a->cfg.lost_quiet);
			log_emit(ev);
		}
		drain_publish(a, &view_fd, n, &out, false);
		if (out.verdict != DRAIN_KEEP && !complete(a, n, now, &out))
			drain_publish(a, &view_fd, n, &out, true);
	}
	if (view_fd >= 0)
		close(view_fd);
}
