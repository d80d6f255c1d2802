/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The drain decision as a pure function: no I/O, no clock, no global, so that a unit test can
 * run every case without a map or a node, and drain.c and the fleet leader decide alike. drain.c
 * gathers what it needs (this host's flow-table census of the node, the node's own report, the
 * settings, the time) and the fleet leader's path adds the other hosts' reports; drain_decide()
 * says whether the draining node stays, retires, or retires at its timeout, why, and how many
 * connections that cut, and whether that figure was measured by the node (verified) or is the
 * LB's estimate. tests/unit/test_drain_decide.c runs it over every rule below.
 *
 * The rules:
 *  - with a fresh report of the node (TRUTH_OK, asked after the drain began) the node's word
 *    decides: retired only at a live count of 0 (and the fleet's conditions below), else at the
 *    timeout; flows_cut = its live count + the rescues it answered with a RST since the drain
 *    began, verified. The LB's flow table (lost, or full of spoofed ACKs) is not asked;
 *  - without one (TRUTH_NONE, PENDING, FAILED, or a report asked before the drain): the LB's
 *    rules as before this function existed (drain.c's comment), the outcome unverified and its
 *    figure an estimate; except that a node whose fresh report said live > 0 in this drain (and
 *    none since said 0) is never retired before the timeout on the LB's word;
 *  - in a fleet (the leader's path) every other host that may carry the node's flows must have
 *    applied the drain and report none (counted), or have withdrawn its routes and be gone,
 *    unless the timeout has passed; then the retirement is a timeout, and without the node's
 *    word the other hosts' reported flows are part of the estimate. With the node's word, the
 *    flows another live host still reports do not hold the node once every host has applied
 *    the drain and counted after it and the node's 0 was asked after that (fleet_settled_ns):
 *    a host that has applied the drain places no new connection on the node, one it placed
 *    before is in the node's socket table by then, and what its table still lists is an entry
 *    whose packets went elsewhere (ECMP moved the flow when a host left: the entry stays "live"
 *    until the VIP's idle timeout, 900 s by default).
 */
#ifndef EBBD_DRAIN_DECIDE_H
#define EBBD_DRAIN_DECIDE_H

#include <stdbool.h>
#include <linux/types.h>

#include "truth.h"

/* What drain.c keeps per node from one decision to the next (besides its list of flow keys). */
struct drain_state {
	__u64 drain; /* the drain (its start, state_since_ns) the rest belongs to; 0: none */
	__u64 lost_ns; /* the last sign, in this drain, that the node's flow state was lost */
	__u64 lost_flows; /* listed flows that vanished from the table in this drain */
	__u64 second_chance_seen; /* node_stats' second_chance as last read: a rise is an arrival */
	bool lost_logged; /* drain_wait_lost was said for the current lost_ns */
	bool node_known; /* a fresh report (asked after the drain began) was read in this drain */
	__u64 node_live; /* the last fresh report's live connections */
	__u64 node_reset; /* and its rescues answered with a RST since the drain began */
	__u64 fleet_settled_ns; /* fleet: since when (`now`) every other host has applied the
				 * drain and counted after it, without a break; 0: not now */
};

/* This host's flow table, for the node (measure.c's list and count, drain.c's lookups). */
struct drain_census {
	bool listed; /* a list of this drain's flows that holds every flow the node can have */
	long live; /* listed flows found live: 0 none; > 0 at least that many (exact at a timeout,
		    * when drain.c counts them all); < 0 not known this check (lookup budget spent) */
	__u64 vanished; /* listed flows found gone from the table this check: lost state */
	__u64 flows; /* the node's live flows at the last complete pass (the estimate when the list
		      * is not complete) */
	bool have_second; /* second_chance below was read */
	__u64 second_chance; /* node_stats: packets that reached the node by the second chance */
};

#define DRAIN_MAX_HOSTS 64
#define DRAIN_HOST_NAME 64

/* Another fleet host as the leader sees it (its report under its lease, or its last one). */
struct drain_host {
	char name[DRAIN_HOST_NAME];
	bool live; /* its lease lives: `applied` and `flows` are what it says now */
	long long applied; /* live: the fleet state revision its maps hold */
	long long flows; /* the node's flows it reports (live) or said last (gone) */
	bool measured; /* live: its report names the node (a host that has not counted its flows
			* yet, e.g. just restarted, leaves it out rather than say 0) */
	char status[24]; /* gone: what it said last ("withdrawn": its routes are gone); "" nothing */
};

struct drain_fleet {
	long long drain_rev; /* the revision of the node's key that made it draining */
	int n_hosts; /* the other hosts (this one excluded) */
	bool truncated; /* more than DRAIN_MAX_HOSTS: then never clear before the timeout */
	struct drain_host hosts[DRAIN_MAX_HOSTS];
};

struct drain_in {
	struct drain_state prev;
	bool draining; /* the node is draining (else the state is reset and the node kept) */
	__u64 since; /* when the drain began, this host's CLOCK_MONOTONIC (the drain's identity, and
		      * what a report's asked_ns is compared with) */
	__s64 elapsed_ns; /* how long it has drained, by whichever clock the caller trusts; < 0
			   * (a start in the future) counts as 0 */
	__u64 timeout_ns; /* its drain timeout */
	__u64 now; /* this host's CLOCK_MONOTONIC */
	__u64 lost_quiet_ns; /* drain-lost-quiet */
	struct drain_census lb;
	struct node_truth truth;
	const struct drain_fleet *fleet; /* NULL: this host alone (or not the leader's path) */
};

enum drain_verdict {
	DRAIN_KEEP, /* still draining */
	DRAIN_RETIRE, /* its connections have ended: inactive now */
	DRAIN_RETIRE_TIMEOUT, /* its drain timeout has passed: inactive now, cutting what is left */
};

struct drain_out {
	struct drain_state next;
	enum drain_verdict verdict;
	/* retired: "flows_ended" | "drain_timeout"; kept: "node_live", "node_said_live",
	 * "lb_flows_live", "lb_not_listed", "lost_quiet", "fleet_blocked", "not_draining" */
	const char *reason;
	bool verified; /* the figure below is the node's own count */
	long long flows_cut; /* verified: node's live + reset; else the LB's estimate */
	bool exact; /* unverified: the estimate was counted flow by flow (false: the last pass) */
	bool say_lost_wait; /* drain.c logs drain_wait_lost now (once per lost period) */
	long long host_flows; /* retired on the node's 0 while other live hosts still reported
			       * this many flows of it (stale entries): said in the event */
	char why[512]; /* fleet: the hosts that block (kept) or were unaccounted for (retired) */
};

void drain_decide(const struct drain_in *in, struct drain_out *out);
/* The fleet's part alone: true when no other host may still carry the node's flows. */
bool drain_fleet_clear(const struct drain_fleet *f, char *why, size_t len);
const char *drain_verdict_name(enum drain_verdict v);
const char *drain_truth_name(enum truth_status s); /* "none", "pending", "ok", "failed" */

#endif
