/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* lists.c: the flow lists a measurement pass builds and a drain keeps. */
#ifndef EBBD_LISTS_H
#define EBBD_LISTS_H

#include <stdbool.h>
#include <stddef.h>
#include "ebb.h"

struct watch { /* the live flows of a draining node, as keys to look up again */
	struct ebb_flow_key *keys;
	size_t n, cap;
	bool valid; /* the list holds every flow the node can have */
	__u64 since; /* the drain (state_since_ns) the list belongs to */
	__u64 new_flows0; /* the node's new_flows counter before the pass that built it */
};

void watch_reset(struct watch *w);
/*
 * A new pass's list `nw` (consumed) for the same drain as `w`: w keeps every key it had that was
 * not judged yet, and gains nw's. Returns 0, or -ENOMEM (w then stays as it was, nw freed).
 */
int watch_merge(struct watch *w, struct watch *nw);

#endif /* EBBD_LISTS_H */
