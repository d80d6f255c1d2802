/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* health.c: a node's health-check streaks. */
#ifndef EBBD_HEALTH_H
#define EBBD_HEALTH_H

#include <stdbool.h>
#include <linux/types.h>

struct node_health {
	bool checking; /* a check is out */
	int ok_streak, fail_streak;
	__u64 next_check_ns;
};

struct agent;
void health_tick(struct agent *a, __u64 now);
/* The settings changed (a reload): every node's streaks start again. */
void health_reset(struct agent *a);

#endif /* EBBD_HEALTH_H */
