/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * measure.c: what the passes over the flow table and the node counters found. measure.c writes
 * these; the other files only read them, except drain.c, which takes the keys a pass listed for
 * a draining node and asks for a new list when its own went stale.
 */
#ifndef EBBD_MEASURE_H
#define EBBD_MEASURE_H

#include <stdbool.h>
#include "libebb.h"
#include "lists.h"

/*
 * A pass counts the finished flows of a draining node that ended at or after the count before
 * less this: a FIN or RST need not move `seen` (it is refreshed at most every EBB_TOUCH_NS).
 */
#define DRAIN_END_SLACK_NS (EBB_TOUCH_NS + 2 * EBB_SEEN_TICK_NS)

/* A draining node's live flows, as the last pass that listed them found them. */
struct census_list {
	bool fresh; /* published and not taken yet */
	bool relist; /* drain.c's request: its list went stale, list the node at the next tick */
	__u64 since; /* the drain (state_since_ns) listed, 0 for none */
	struct watch keys; /* drain.c takes them (fresh: not yet) */
	__u64 last_end; /* the latest end among the node's finished flows the pass saw */
	/*
	 * Set for the drain's first list when its count before can tell flows lost before any
	 * list: `before` flows were live at `before_ns` (the pass before), `ended` finished flows
	 * ended at or after before_ns - DRAIN_END_SLACK_NS, and `live` are live now.
	 */
	bool counted;
	__u64 before, before_ns, live, ended;
	__u64 counted_ns; /* when this pass judged the flows (its first reading of the clock) */
};

/* One node's figures. */
struct node_census {
	bool flows_known;
	__u64 flows; /* live flows at the last complete pass */
	/* When that pass judged them (its first reading of the clock); 0 when the count cannot
	 * tell flows lost before a drain's first list: none yet, or the node took no pinned flows
	 * at some tick since (its flows were re-steered, not lost). */
	__u64 flows_ns;
	bool have_ctr, have_rates;
	struct ebb_counters ctr;
	__u64 ctr_ns;
	double new_flows_s, packets_s, bytes_s;
	struct census_list list;
};

/* The last complete pass, for the log, the metrics and the fleet's flow reports. */
struct census_totals {
	bool have_pass;
	__u64 walked, live_total;
	__u64 passes; /* published: an event a test (or a watcher) can wait for */
	long long counted_rev; /* the fleet revision applied when the last pass began */
	double pass_ms;
};

struct agent;
void measure_tick(struct agent *a, __u64 now);
void measure_counters(struct agent *a, __u64 now);
/* flows[id]: each node's live flows at the last complete pass, as this host counted them. */
void measure_flows(const struct agent *a, __u64 *flows);
/* ebbd --once, after state_refresh: one measurement printed as JSON. */
int measure_once(struct agent *a);
/* The maps went: drops the pass in progress and the census (state.c). */
void measure_close(struct agent *a);

#endif /* EBBD_MEASURE_H */
