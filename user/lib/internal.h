/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* libebb's private helpers, not for ebbctl or ebbd. */
#ifndef LIBEBB_INTERNAL_H
#define LIBEBB_INTERNAL_H

#include "libebb.h"

/* Rebuilds the rings as if node override_id (0 = none) were in override_state: a state change
 * reaches the tables before the node entry, so no new flow slips onto a node being drained. */
int ebb_rings_rebuild_as(struct ebb *e, __u32 vip_id, __u32 override_id, __u8 override_state,
			 struct ebb_err *err);

int ebb_counters_zero(int map_fd, __u32 id);

#endif
