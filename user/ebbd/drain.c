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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "ebbd.h"

/* Lookups per check, all nodes together: a mass of ended flows is dropped over a few checks. */
#define LOOKUPS_PER_CHECK 5000

void watch_reset(struct watch *w)
{
	free(w->keys);
	*w = (struct watch){};
}

static int key_cmp(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(struct ebb_flow_key));
}

/*
 * A new pass's list `nw` (consumed) for the same drain as `w`: w keeps every key it had that was
 * not judged yet, and gains nw's. A still complete w (no flow pinned since it was made) gains
 * nothing from nw. Returns 0, or -ENOMEM (w then stays as it was, nw freed).
 */
int watch_merge(struct watch *w, struct watch *nw)
{
	struct ebb_flow_key *keys;
	size_t i = 0, j = 0, n = 0;

	if (w->valid && !w->stale && w->new_flows0 == nw->new_flows0) {
		watch_reset(nw);
		return 0;
	}
	keys = malloc((w->n + nw->n ? w->n + nw->n : 1) * sizeof(*keys));
	if (!keys) {
		watch_reset(nw);
		return -ENOMEM;
	}
	qsort(w->keys, w->n, sizeof(*keys), key_cmp);
	qsort(nw->keys, nw->n, sizeof(*keys), key_cmp);
	while (i < w->n || j < nw->n) {
		int c = i == w->n ? 1 : j == nw->n ? -1 : key_cmp(&w->keys[i], &nw->keys[j]);

		keys[n++] = c <= 0 ? w->keys[i] : nw->keys[j];
		i += c <= 0;
		j += c >= 0;
	}
	free(w->keys);
	free(nw->keys);
	*w = (struct watch){ .keys = keys, .n = n, .cap = w->n + nw->n, .valid = nw->valid,
			     .since = nw->since, .new_flows0 = nw->new_flows0 };
	*nw = (struct watch){};
	return 0;
}

/*
 * Drops finished flows from the front of the list. Returns the number of live flows found:
 * with count_all, all of them (exact); without, stops at the first (0 means none left), or
 * returns -EAGAIN when the lookup budget ran out first.
 */
static long watch_check(struct agent *a, struct node *n, __u64 now, bool count_all, int *budget)
{
	struct watch *w = &n->watch;
	long live = 0;
	size_t i = 0;

	while (i < w->n) {
		struct ebb_flow v;
		__u64 end;

		if (!count_all && (*budget)-- <= 0)
			return -EAGAIN;
		if (bpf_map_lookup_elem(a->e.flows_fd, &w->keys[i], &v)) {
			/* Gone from the table without being seen to finish: it may still be open. */
			n->lost_flows++;
			n->lost_ns = now;
		} else if (v.node_id == n->id) {
			if (flow_live(a, &w->keys[i], &v, now, &end)) {
				live++;
				if (!count_all)
					return live;
				i++;
				continue;
			}
			if (end > n->last_end_ns)
				n->last_end_ns = end;
		}
		/* Finished, lost, or placed elsewhere (a new connection on the same ports): not
		 * this node's to wait for any more. */
		w->keys[i] = w->keys[--w->n];
	}
	return live;
}

static void complete(struct agent *a, struct node *n, __u64 now, const char *reason, long long cut,
		     bool exact)
{
	json_object *ev = log_new(cut ? LOG_WARN : LOG_INFO, "drained");
	__u32 timeout = node_drain_timeout(a, n);

	jstr(ev, "reason", reason);
	jint(ev, "flows_cut", cut);
	if (!exact) /* from the last walk: the node had too many flows to list one by one */
		jbool(ev, "flows_cut_exact", false);
	jdbl(ev, "drain_s", (now - n->m.state_since_ns) / 1e9);
	jint(ev, "drain_timeout_s", timeout);
	/* How long after its last flow finished the node was retired (the goal is < 1 s). */
	if (n->last_end_ns && n->last_end_ns <= now && !cut && !n->lost_ns)
		jint(ev, "last_flow_end_ago_ms", (now - n->last_end_ns) / 1000000);
	if (n->lost_ns) { /* retired after lost state: how long it stayed quiet */
		jint(ev, "flows_lost", n->lost_flows);
		jdbl(ev, "quiet_s", (now - n->lost_ns) / 1e9);
	}
	if (!node_transition(a, n, EBB_NODE_INACTIVE, 0, EV_DRAINED, ev, cut)) {
		a->flows_cut_total += cut;
		watch_reset(&n->watch);
		n->last_end_ns = 0;
	}
}

__u64 drain_lost_unlisted(__u64 before, __u64 live, __u64 ended)
{
	return before > live + ended ? before - live - ended : 0;
}

static void lost_begin(struct node *n, const struct ebb_counters *c)
{
	n->lost_drain = n->m.state_since_ns;
	n->lost_ns = 0;
	n->lost_flows = 0;
	n->second0 = c ? c->second_chance : 0;
	n->lost_logged = false;
}

void drain_note_lost(struct agent *a, struct node *n, __u64 count, __u64 now)
{
	if (n->lost_drain != n->m.state_since_ns) {
		struct ebb_counters c;

		lost_begin(n, ebb_counters_sum(a->e.node_stats_fd, n->id, &c) ? NULL : &c);
	}
	n->lost_flows += count;
	n->lost_ns = now;
	n->lost_logged = false;
}

/*
 * Signs of lost state for draining node n this tick: a new second-chance arrival (its counter is
 * read every tick, the drain's first reading being the base). Lost flows are noted by
 * watch_check() and measure.c (drain_note_lost). True while the node must stay, quiet period
 * not over.
 */
static bool lost_recently(struct agent *a, struct node *n, const struct ebb_counters *c, __u64 now)
{
	if (n->lost_drain != n->m.state_since_ns) {
		lost_begin(n, c);
	} else if (c && c->second_chance > n->second0) {
		n->second0 = c->second_chance;
		n->lost_ns = now;
		n->lost_logged = false;
	}
	return n->lost_ns && now - n->lost_ns < (__u64)(a->cfg.lost_quiet * NS_PER_S);
}

void drain_tick(struct agent *a, __u64 now)
{
	int budget = LOOKUPS_PER_CHECK;

	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];
		struct watch *w = &n->watch;
		bool exact, timed_out, have_c;
		struct ebb_counters c;
		long live = -EAGAIN;

		/* Down is not draining: a down node's flows are re-steered, it has nothing to finish. */
		if (!n->used || n->m.state != EBB_NODE_DRAINING)
			continue;
		timed_out = now - n->m.state_since_ns >= node_drain_timeout(a, n) * NS_PER_S;
		exact = w->valid && w->since == n->m.state_since_ns;
		have_c = !ebb_counters_sum(a->e.node_stats_fd, id, &c);
		lost_recently(a, n, have_c ? &c : NULL, now);
		if (exact && have_c && c.new_flows != w->new_flows0) {
			log_msg(LOG_DEBUG, "drain_list_stale",
				"%s got %llu flow(s) pinned while draining; listing its flows again", n->name,
				(unsigned long long)(c.new_flows - w->new_flows0));
			w->valid = false;
			w->stale = true;
			exact = false;
		}
		if (exact)
			live = watch_check(a, n, now, timed_out, &budget);
		if (exact && live == 0 && lost_recently(a, n, NULL, now) && !timed_out) {
			if (!n->lost_logged) {
				json_object *ev = log_new(LOG_INFO, "drain_wait_lost");

				jstr(ev, "node", n->name);
				jstr(ev, "msg", "no listed flow left, but flow state was lost: "
						"retiring only after a quiet period");
				jint(ev, "flows_lost", n->lost_flows);
				jdbl(ev, "quiet_s", a->cfg.lost_quiet);
				log_emit(ev);
				n->lost_logged = true;
			}
			continue;
		}
		if (exact && live == 0)
			complete(a, n, now, "flows_ended", 0, true);
		else if (timed_out)
			complete(a, n, now, "drain_timeout", exact ? live : (long long)n->flows, exact);
	}
}
