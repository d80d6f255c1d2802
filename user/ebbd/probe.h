/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* probe.c: a node's load as its pool's probe last reported it. */
#ifndef EBBD_PROBE_H
#define EBBD_PROBE_H

#include <stdbool.h>

struct node_probe {
	bool load_known;
	double load;
	bool running; /* a probe of the node is out: no second one */
	bool failing; /* the last one failed: a failure again is logged at debug level only */
};

struct agent;
void probe_cycle(struct agent *a);

#endif /* EBBD_PROBE_H */
