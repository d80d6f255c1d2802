/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The scaling decision as a pure function: no I/O, no clock, no global. scale.c
 * gathers a pool's nodes as plain values (state, the metric's figure, flows, since when in
 * that state), the pool's settings and the time; scale_decide() says whether to scale out (and
 * which nodes to activate, in order, and how many more to ask the on-scale-out hook for), scale
 * in (which nodes to drain, in order), hold, or wait for figures, and the numbers that decided.
 * The pool's window of desired counts is the function's own memory: the caller keeps it from
 * one call to the next and never reads inside it. tests/unit/test_scale_decide.c runs the rules.
 *
 * The rules, per pool, the way Kubernetes' HPA does it:
 *  - desired = ceil(total load / target per node), left at the active count while the ratio
 *    total / (target x active nodes) is within the tolerance of 1, clamped to [min, max];
 *  - the total counts draining nodes as well as active ones: their flows are load the pool
 *    still carries, and leaving them out would make one scale-in trigger the next before they
 *    end. A pool where an active or draining node has no figure yet waits (nothing remembered);
 *  - every call's desired count is remembered: scale-out acts on the smallest of the
 *    scale-out window (0: at once), scale-in on the largest of the scale-in window, and only
 *    once the pool has been watched for a whole scale-in window (after a restart too): load
 *    must have stayed low all that time;
 *  - scale-in drains the active node whose flows will end soonest: fewest live flows, then the
 *    youngest (latest state_since_ns), then the lowest id;
 *  - scale-out re-activates a draining node first (the one with most flows: they stay where
 *    they are), then an inactive one (the most recently retired), then the lowest id, and asks
 *    the hook for the rest, at most once per hook-cooldown.
 */
#ifndef EBBD_SCALE_DECIDE_H
#define EBBD_SCALE_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "ebb.h"

enum metric { METRIC_FLOWS, METRIC_NEW_FLOWS, METRIC_PROBE };

struct scale_cfg {
	bool enabled;
	enum metric metric;
	double target, tolerance;
	int min, max;
	double in_window, out_window; /* seconds */
	double hook_cooldown; /* seconds between two runs of the scale-out hook asking for nodes */
};

struct scale_sample {
	__u64 t;
	int desired;
};

/* The pool's window of desired counts: scale_hist_cap() samples, zeroed before the first call. */
struct scale_hist {
	struct scale_sample *ring;
	size_t cap, head, n;
	__u64 first_ns; /* first evaluation: the windows cover nothing before it */
	bool evaluated;
};

/* One node of the pool, as scale.c read it this interval. */
struct scale_node {
	__u32 id;
	__u8 state; /* EBB_NODE_* */
	bool known; /* `value` is a figure of the pool's metric */
	double value;
	__u64 flows; /* live flows at the last pass: which node to drain or activate */
	__u64 state_since_ns;
};

struct scale_in {
	const struct scale_cfg *cfg;
	const struct scale_node *nodes; /* the pool's nodes, any state */
	int n_nodes;
	__u64 now;
	__u64 hook_ns; /* the last run of the hook asking for nodes; 0: never */
};

enum scale_action {
	SCALE_WAIT, /* a node carrying load has no figure yet: nothing decided, nothing remembered */
	SCALE_HOLD,
	SCALE_OUT, /* activate pick[] in order, then ask the hook for hook_wanted */
	SCALE_IN, /* drain pick[] in order */
};

struct scale_out {
	enum scale_action action;
	/* hold: "steady" (the windows ask for the active count), "in_window_young" (lower, but
	 * not watched for a whole scale-in window yet); out: "above_target"; in: "below_target";
	 * wait: "metric_unknown" */
	const char *reason;
	double total, ratio; /* ratio: NAN without an active node */
	int active, desired;
	int window_desired; /* out: the scale-out window's; in and hold: the scale-in window's */
	double window_s;
	int want; /* out: nodes wanted beyond the active ones; in: active ones too many */
	int n_pick;
	__u32 pick[EBB_MAX_NODES]; /* node ids, best first */
	int hook_wanted; /* out: nodes to ask the hook for now (0: none, or not yet) */
};

void scale_decide(const struct scale_in *in, struct scale_hist *hist, struct scale_out *out);
/* The samples a pool's window needs: the longer window at one sample an interval, and spare. */
size_t scale_hist_cap(const struct scale_cfg *s, double interval_s);
const char *scale_action_name(enum scale_action a); /* "wait", "hold", "out", "in" */

#endif
