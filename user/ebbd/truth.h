/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The node's truth as ebbd sees it: the last report a draining node made of its own live TCP
 * connections (doc/node-truth.md, "The node's count"), read by the pool's `truth` command or URL
 * and checked (HMAC, nonce, unit, completeness, the node's own clock) before it is believed.
 * truth.c reads; drain.c decides with what it read. A node that cannot report has no truth:
 * its drain is unverified, never "0 cut".
 */
#ifndef EBBD_TRUTH_H
#define EBBD_TRUTH_H

#include <stdbool.h>
#include <linux/types.h>

struct agent;
struct node;

enum truth_status {
	TRUTH_NONE = 0, /* the pool asks no node for its truth: today's rules, drain unverified */
	TRUTH_PENDING, /* asked, no answer yet (or not since this drain began) */
	TRUTH_OK, /* a verified, fresh, complete report */
	TRUTH_FAILED, /* the last answer failed a check, or the command failed: see why */
};

struct node_truth {
	enum truth_status status;
	char why[128]; /* TRUTH_FAILED: which check failed, for the log and `node show` */
	__u64 live; /* TRUTH_OK: the node's live connections summed over the (VIP, port)s it drains */
	__u64 reset; /* TRUTH_OK: rescues it had to answer with a RST since the drain began */
	__u64 at_ns; /* CLOCK_MONOTONIC (this host) when the report was accepted */
	__u64 asked_ns; /* CLOCK_MONOTONIC when the request it answers was made: a report only
			 * speaks for connections that existed when it was asked */
	__u64 live_asked_ns; /* asked_ns of this drain's latest report with live > 0: the node's
			      * last connection ended after it (0: none seen) */
};

/* Once per tick: start or collect the reads of draining nodes' reports (never blocks). */
void truth_tick(struct agent *a, __u64 now);
/* The node's truth as of now; never NULL (status TRUTH_NONE when not asked). */
const struct node_truth *truth_get(struct agent *a, const struct node *n);
/* The node left `draining` (or was replaced): forget its reports and its reset baseline. */
void truth_forget(struct agent *a, const struct node *n);

#endif
