/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * drain.c: a draining node's flow list, the evidence drain_decide() weighs and its verdicts.
 * drain.c writes these; the status page and the metrics read the verdict, the fleet leader
 * decides again on the inputs (fleet_decide.c), state.c frees the list when the node goes.
 */
#ifndef EBBD_DRAIN_H
#define EBBD_DRAIN_H

#include <stdbool.h>
#include "lists.h"
#include "drain_decide.h"

struct node_drain {
	struct watch list; /* its live flows, taken from the passes (measure.h) */
	__u64 last_end_ns; /* when its latest finished flow finished, as far as seen */
	struct drain_state ds; /* kept from one decision to the next (drain_decide.h) */
	struct drain_in in; /* the last decision's inputs: the fleet leader decides again on them
			     * with the other hosts' reports (fleet_decide.c) */
	bool verified; /* the last decision went by the node's own fresh report */
	const char *reason; /* and why it kept or retired the node */
	__u64 blocked_said_ns; /* fleet_retire_blocked last logged, and for which why (a hash) */
	__u32 blocked_said_hash;
	struct { /* the last drain this ebbd completed, for the status page */
		bool have, verified;
		long long cut; /* verified: the node's figure; else the LB's estimate */
	} last;
};

struct agent;
void drain_tick(struct agent *a, __u64 now);

#endif /* EBBD_DRAIN_H */
