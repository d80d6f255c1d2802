// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbd's drain decision (user/ebbd/drain_decide.c), a pure function, over every case of issue 14:
 * a lost flow table with an idle connection, a restarted ebbd, a writer's clock off, spoofed
 * ACKs, a timeout with open connections, a node that cannot report, a report older than the
 * drain, another host that has not applied the drain or is down. Each row: the inputs, the
 * verdict, the reason, the connections cut and whether the node measured them.
 */
#include <stdlib.h>
#include <string.h>

#include "drain_decide.h"
#include "test.h"

/* Rows give BASE's fields again to change them, and leave `why` out when it must be empty. */
#pragma GCC diagnostic ignored "-Woverride-init"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define S 1000000000LL
#define SINCE (1000 * S) /* the drain began (this host's CLOCK_MONOTONIC) */
#define ASKED (SINCE + 1 * S) /* a node report asked after that */
#define BEFORE (SINCE - 1 * S) /* one asked before */

/* A drain 10 s old of 30, drain-lost-quiet 60 s, the drain's state already kept. Fields given
 * again in a row override these. */
#define BASE                                                                                   \
	.draining = true, .since = SINCE, .elapsed_ns = 10 * S, .timeout_ns = 30 * S,          \
	.now = SINCE + 10 * S, .lost_quiet_ns = 60 * S, .prev = { .drain = SINCE }
#define TIMED_OUT .elapsed_ns = 31 * S, .now = SINCE + 31 * S
#define OK(l, r) .truth = { .status = TRUTH_OK, .live = (l), .reset = (r), .at_ns = ASKED + S / 10, .asked_ns = ASKED }
#define LB_LISTED(n) .lb = { .listed = true, .live = (n), .have_second = true }
#define LB_UNLISTED(f) .lb = { .listed = false, .live = -11, .flows = (f), .have_second = true }

/* The other fleet hosts in each case (the leader itself is never among them). */
static const struct drain_fleet fleet_clear = {
	.drain_rev = 40, .n_hosts = 2,
	.hosts = { { .name = "lb2", .live = true, .applied = 41, .measured = true },
		   { .name = "lb3", .status = "withdrawn" } },
};
static const struct drain_fleet fleet_not_applied = {
	.drain_rev = 40, .n_hosts = 1, .hosts = { { .name = "lb2", .live = true, .applied = 39 } },
};
static const struct drain_fleet fleet_host_down = {
	.drain_rev = 40, .n_hosts = 2,
	.hosts = { { .name = "lb2", .live = true, .applied = 40, .measured = true },
		   { .name = "lb3", .live = false, .status = "announcing" } },
};
static const struct drain_fleet fleet_down_silent = {
	.drain_rev = 40, .n_hosts = 1, .hosts = { { .name = "lb3", .live = false } },
};
static const struct drain_fleet fleet_down_with_flows = {
	.drain_rev = 40, .n_hosts = 1, .hosts = { { .name = "lb3", .status = "withdrawn", .flows = 2 } },
};
static const struct drain_fleet fleet_host_flows = {
	.drain_rev = 40, .n_hosts = 1, .hosts = { { .name = "lb2", .live = true, .applied = 40, .flows = 1, .measured = true } },
};
static const struct drain_fleet fleet_host_restarted = { /* applied, no count yet */
	.drain_rev = 40, .n_hosts = 1, .hosts = { { .name = "lb2", .live = true, .applied = 40 } },
};
static const struct drain_fleet fleet_truncated = { .drain_rev = 40, .truncated = true };

struct row {
	const char *desc;
	struct drain_in in;
	enum drain_verdict verdict;
	const char *reason;
	long long cut;
	bool verified;
	const char *why; /* a part of out.why; NULL: out.why is empty */
};

static const struct row rows[] = {
	/* ---- a node that cannot report: the LB's rules as before, unverified ---- */
	{ "no node report, LB's list empty: retired as before, unverified",
	  { BASE, LB_LISTED(0) }, DRAIN_RETIRE, "flows_ended", 0, false },
	{ "no node report, LB lists 2 live flows: kept",
	  { BASE, LB_LISTED(2) }, DRAIN_KEEP, "lb_flows_live", 2, false },
	{ "no node report, LB's lookups out of budget: kept",
	  { BASE, .lb = { .listed = true, .live = -11, .flows = 7 } }, DRAIN_KEEP, "lb_flows_live", 7, false },
	{ "no node report, timeout with 3 listed flows: cut estimated 3, unverified",
	  { BASE, TIMED_OUT, LB_LISTED(3) }, DRAIN_RETIRE_TIMEOUT, "drain_timeout", 3, false },
	{ "no node report, timeout, not listed: estimate from the last pass (5)",
	  { BASE, TIMED_OUT, LB_UNLISTED(5) }, DRAIN_RETIRE_TIMEOUT, "drain_timeout", 5, false },
	{ "truth pending, LB's list empty: kept until the node answers (unverified so far)",
	  { BASE, LB_LISTED(0), .truth = { .status = TRUTH_PENDING } }, DRAIN_KEEP, "node_pending", 0, false },
	{ "truth pending past the timeout, LB's list empty: retired on the LB's table, unverified",
	  { BASE, TIMED_OUT, LB_LISTED(0), .truth = { .status = TRUTH_PENDING } },
	  DRAIN_RETIRE, "flows_ended", 0, false },
	{ "truth failed, LB says 0: as before, unverified",
	  { BASE, LB_LISTED(0), .truth = { .status = TRUTH_FAILED, .why = "bad hmac" } },
	  DRAIN_RETIRE, "flows_ended", 0, false },
	/* ---- a lost flow table, an idle connection ---- */
	{ "table lost: LB says 0, the node says 1 live: never retired",
	  { BASE, LB_LISTED(0), OK(1, 0) }, DRAIN_KEEP, "node_live", 1, true },
	{ "table lost: listed flows vanished, no node report: quiet period as before",
	  { BASE, .lb = { .listed = true, .live = 0, .vanished = 1 } }, DRAIN_KEEP, "lost_quiet", 0, false },
	{ "table lost: second-chance arrival since the last reading: quiet period",
	  { BASE, .prev = { .drain = SINCE, .second_chance_seen = 5 }, .lb = { .listed = true, .have_second = true, .second_chance = 6 } },
	  DRAIN_KEEP, "lost_quiet", 0, false },
	{ "table lost 61 s ago, quiet since, no node report: retired as before, unverified",
	  { BASE, .now = SINCE + 70 * S, .elapsed_ns = 70 * S, .timeout_ns = 300 * S,
	    .prev = { .drain = SINCE, .lost_ns = SINCE + 9 * S, .lost_flows = 1, .lost_logged = true }, LB_LISTED(0) },
	  DRAIN_RETIRE, "flows_ended", 0, false },
	{ "table lost, the node says 0 (fresh): retired at once, verified, 0 cut",
	  { BASE, .lb = { .listed = true, .live = 0, .vanished = 1 }, OK(0, 0) }, DRAIN_RETIRE, "flows_ended", 0, true },
	{ "lost marks of an earlier drain do not hold this one",
	  { BASE, .prev = { .drain = SINCE - 50 * S, .lost_ns = SINCE + 5 * S }, LB_LISTED(0) },
	  DRAIN_RETIRE, "flows_ended", 0, false },
	/* ---- ebbd restarted ---- */
	{ "ebbd restarted: no pass yet, truth pending: kept",
	  { BASE, .prev = {}, LB_UNLISTED(0), .truth = { .status = TRUTH_PENDING } }, DRAIN_KEEP, "lb_not_listed", 0, false },
	{ "ebbd restarted: no pass yet, no truth configured: kept",
	  { BASE, .prev = {}, LB_UNLISTED(0) }, DRAIN_KEEP, "lb_not_listed", 0, false },
	{ "ebbd restarted: its list is empty but the node says 2: kept",
	  { BASE, .prev = {}, LB_LISTED(0), OK(2, 0) }, DRAIN_KEEP, "node_live", 2, true },
	{ "the node said 1 in this drain, its reader fails now, LB says 0: kept",
	  { BASE, .prev = { .drain = SINCE, .node_known = true, .node_live = 1 }, LB_LISTED(0),
	    .truth = { .status = TRUTH_FAILED, .why = "timed out" } },
	  DRAIN_KEEP, "node_said_live", 0, false },
	{ "the node said 1 in this drain, pending at the timeout: retired, unverified",
	  { BASE, TIMED_OUT, .prev = { .drain = SINCE, .node_known = true, .node_live = 1 }, LB_LISTED(0),
	    .truth = { .status = TRUTH_PENDING } },
	  DRAIN_RETIRE, "flows_ended", 0, false },
	/* ---- the writer's clock ---- */
	{ "drain start 600 s in the future: not timed out, the node's 1 holds it",
	  { BASE, .elapsed_ns = -600 * S, LB_LISTED(0), OK(1, 0) }, DRAIN_KEEP, "node_live", 1, true },
	{ "drain start 600 s in the future, no node report, LB lists 1: kept (no wrap to a timeout)",
	  { BASE, .elapsed_ns = -600 * S, LB_LISTED(1) }, DRAIN_KEEP, "lb_flows_live", 1, false },
	{ "drain start 600 s in the past: the timeout as given ends it, cut measured",
	  { BASE, .elapsed_ns = 610 * S, LB_LISTED(0), OK(1, 0) }, DRAIN_RETIRE_TIMEOUT, "drain_timeout", 1, true },
	/* ---- spoofed ACKs ---- */
	{ "spoofed ACKs: LB says 3000, the node says 0: retired, verified, 0 cut",
	  { BASE, LB_LISTED(3000), OK(0, 0) }, DRAIN_RETIRE, "flows_ended", 0, true },
	{ "spoofed ACKs, not listed (3000 in the last pass), the node says 0: retired, 0 cut",
	  { BASE, LB_UNLISTED(3000), OK(0, 0) }, DRAIN_RETIRE, "flows_ended", 0, true },
	/* ---- timeouts, resets ---- */
	{ "timeout with 4 open connections and 2 rescue resets: cut 6, verified",
	  { BASE, TIMED_OUT, LB_LISTED(1), OK(4, 2) }, DRAIN_RETIRE_TIMEOUT, "drain_timeout", 6, true },
	{ "the node says 0, one rescue answered by a RST since the drain began: cut 1",
	  { BASE, LB_LISTED(0), OK(0, 1) }, DRAIN_RETIRE, "flows_ended", 1, true },
	{ "the node says 3 live before its timeout: kept whatever the LB says",
	  { BASE, LB_LISTED(0), OK(3, 0) }, DRAIN_KEEP, "node_live", 3, true },
	/* ---- a report older than the drain ---- */
	{ "a report asked before the drain (0 live) does not outweigh the LB's 2",
	  { BASE, LB_LISTED(2), .truth = { .status = TRUTH_OK, .live = 0, .asked_ns = BEFORE, .at_ns = BEFORE } },
	  DRAIN_KEEP, "lb_flows_live", 2, false },
	{ "a report asked before the drain, no LB list yet: kept",
	  { BASE, LB_UNLISTED(0), .truth = { .status = TRUTH_OK, .live = 0, .asked_ns = BEFORE, .at_ns = BEFORE } },
	  DRAIN_KEEP, "lb_not_listed", 0, false },
	{ "a report asked before the drain, LB's list empty: kept for a fresh one (unverified so far)",
	  { BASE, LB_LISTED(0), .truth = { .status = TRUTH_OK, .live = 5, .asked_ns = BEFORE, .at_ns = BEFORE } },
	  DRAIN_KEEP, "node_pending", 0, false },
	/* ---- the fleet (the leader's path) ---- */
	{ "fleet: every other host applied and carries none, the node says 0: retired",
	  { BASE, LB_LISTED(0), OK(0, 0), .fleet = &fleet_clear }, DRAIN_RETIRE, "flows_ended", 0, true },
	{ "fleet: another host has not applied the drain: kept",
	  { BASE, LB_LISTED(0), OK(0, 0), .fleet = &fleet_not_applied }, DRAIN_KEEP, "fleet_blocked", 0, true,
	  "lb2 has not applied the drain" },
	{ "fleet: another host down, last said announcing: kept",
	  { BASE, LB_LISTED(0), OK(0, 0), .fleet = &fleet_host_down }, DRAIN_KEEP, "fleet_blocked", 0, true,
	  "lb3 is unaccounted for (lease gone, last said announcing)" },
	{ "fleet: another host down, said nothing: kept",
	  { BASE, LB_LISTED(0), .fleet = &fleet_down_silent }, DRAIN_KEEP, "fleet_blocked", 0, false,
	  "lb3 is unaccounted for (lease gone, last said nothing)" },
	{ "fleet: another host gone, withdrawn but still carried 2 flows: kept",
	  { BASE, LB_LISTED(0), OK(0, 0), .fleet = &fleet_down_with_flows }, DRAIN_KEEP, "fleet_blocked", 0, true,
	  "lb3 is unaccounted for" },
	{ "fleet: another host reports 1 flow, the node says 0: kept (the fleet's conditions stay)",
	  { BASE, LB_LISTED(0), OK(0, 0), .fleet = &fleet_host_flows }, DRAIN_KEEP, "fleet_blocked", 0, true,
	  "lb2 reports 1 flow(s)" },
	{ "fleet: another host still lists 1 flow (an entry ECMP left behind), every host counted the "
	  "drain before the node's 0 was asked: retired, verified, 0 cut",
	  { BASE, .prev = { .drain = SINCE, .fleet_settled_ns = SINCE + S / 2 }, LB_LISTED(0), OK(0, 0),
	    .fleet = &fleet_host_flows }, DRAIN_RETIRE, "flows_ended", 0, true },
	{ "fleet: the same, but the node's 0 was asked before every host had counted: kept",
	  { BASE, .prev = { .drain = SINCE, .fleet_settled_ns = ASKED + S }, LB_LISTED(0), OK(0, 0),
	    .fleet = &fleet_host_flows }, DRAIN_KEEP, "fleet_blocked", 0, true, "asked before every host had counted" },
	{ "fleet: settled before, now a host has not applied the drain: kept, the node's 0 or not",
	  { BASE, .prev = { .drain = SINCE, .fleet_settled_ns = SINCE + S / 2 }, LB_LISTED(0), OK(0, 0),
	    .fleet = &fleet_not_applied }, DRAIN_KEEP, "fleet_blocked", 0, true, "lb2 has not applied the drain" },
	{ "fleet: settled before, now a host's ebbd restarted and has not counted: kept",
	  { BASE, .prev = { .drain = SINCE, .fleet_settled_ns = SINCE + S / 2 }, LB_LISTED(0), OK(0, 0),
	    .fleet = &fleet_host_restarted }, DRAIN_KEEP, "fleet_blocked", 0, true, "lb2 has not counted" },
	{ "fleet: settled before, now a host gone that last said announcing: kept",
	  { BASE, .prev = { .drain = SINCE, .fleet_settled_ns = SINCE + S / 2 }, LB_LISTED(0), OK(0, 0),
	    .fleet = &fleet_host_down }, DRAIN_KEEP, "fleet_blocked", 0, true, "lb3 is unaccounted for" },
	{ "fleet: settled, another host lists 1 flow, no node report: kept (the LB's rules)",
	  { BASE, .prev = { .drain = SINCE, .fleet_settled_ns = SINCE + S / 2 }, LB_LISTED(0),
	    .fleet = &fleet_host_flows }, DRAIN_KEEP, "fleet_blocked", 0, false, "lb2 reports 1 flow(s)" },
	{ "fleet: no node report, another host reports 1 flow: kept",
	  { BASE, LB_LISTED(0), .fleet = &fleet_host_flows }, DRAIN_KEEP, "fleet_blocked", 0, false, "lb2 reports 1 flow(s)" },
	{ "fleet: another host has not applied, but the timeout passed: a timeout, who was unaccounted said",
	  { BASE, TIMED_OUT, LB_LISTED(0), OK(0, 0), .fleet = &fleet_not_applied }, DRAIN_RETIRE_TIMEOUT, "drain_timeout", 0, true,
	  "lb2 has not applied the drain" },
	{ "fleet: no node report, LB says 0, another host reports 1 at the timeout: cut estimated 1",
	  { BASE, TIMED_OUT, LB_LISTED(0), .fleet = &fleet_host_flows }, DRAIN_RETIRE_TIMEOUT, "drain_timeout", 1, false,
	  "lb2 reports 1 flow(s)" },
	{ "fleet: no node report, LB lists 2, another host reports 1 at the timeout: cut estimated 3",
	  { BASE, TIMED_OUT, LB_LISTED(2), .fleet = &fleet_host_flows }, DRAIN_RETIRE_TIMEOUT, "drain_timeout", 3, false,
	  "lb2 reports 1 flow(s)" },
	{ "fleet: no node report, LB lists 2 at the timeout, every host clear: cut estimated 2",
	  { BASE, TIMED_OUT, LB_LISTED(2), .fleet = &fleet_clear }, DRAIN_RETIRE_TIMEOUT, "drain_timeout", 2, false },
	{ "fleet: the node says 0, another host reports 1 at the timeout: a timeout, verified 0 cut",
	  { BASE, TIMED_OUT, LB_LISTED(0), OK(0, 0), .fleet = &fleet_host_flows }, DRAIN_RETIRE_TIMEOUT, "drain_timeout", 0, true,
	  "lb2 reports 1 flow(s)" },
	{ "fleet: another host's ebbd restarted, its report counts nothing yet: kept, LB says 0",
	  { BASE, LB_LISTED(0), .fleet = &fleet_host_restarted }, DRAIN_KEEP, "fleet_blocked", 0, false,
	  "lb2 has not counted the node's flows yet" },
	{ "fleet: another host's ebbd restarted, the node says 2: kept by the node",
	  { BASE, LB_LISTED(0), OK(2, 0), .fleet = &fleet_host_restarted }, DRAIN_KEEP, "node_live", 2, true },
	{ "fleet: another host's ebbd restarted, the node says 0: kept until that host counts",
	  { BASE, LB_LISTED(0), OK(0, 0), .fleet = &fleet_host_restarted }, DRAIN_KEEP, "fleet_blocked", 0, true,
	  "lb2 has not counted" },
	{ "fleet: too many hosts to read: kept",
	  { BASE, LB_LISTED(0), OK(0, 0), .fleet = &fleet_truncated }, DRAIN_KEEP, "fleet_blocked", 0, true,
	  "not all are accounted for" },
	{ "fleet: the node says 1, all hosts clear: kept",
	  { BASE, LB_LISTED(0), OK(1, 0), .fleet = &fleet_clear }, DRAIN_KEEP, "node_live", 1, true },
	/* ---- not draining ---- */
	{ "not draining: kept, nothing remembered",
	  { BASE, .draining = false, .prev = { .drain = SINCE, .lost_ns = 5 }, LB_LISTED(0), OK(0, 0) },
	  DRAIN_KEEP, "not_draining", 0, false },
};

static void run_row(const struct row *r)
{
	struct drain_out out;
	char name[300];
	bool ok;

	memset(&out, 0xa5, sizeof(out)); /* whatever was there must not leak into the result */
	drain_decide(&r->in, &out);
	ok = out.verdict == r->verdict && out.reason && !strcmp(out.reason, r->reason) &&
	     out.flows_cut == r->cut && out.verified == r->verified &&
	     (r->why ? strstr(out.why, r->why) != NULL : out.why[0] == 0);
	snprintf(name, sizeof(name), "%s", r->desc);
	if (!CHECK(ok, "%s", name))
		printf("#   got %s/%s cut %lld verified %d why '%s'; expected %s/%s cut %lld verified %d why '%s'\n",
		       drain_verdict_name(out.verdict), out.reason ? out.reason : "(null)", out.flows_cut,
		       out.verified, out.why, drain_verdict_name(r->verdict), r->reason, r->cut, r->verified,
		       r->why ? r->why : "");
}

/* The state carried from one decision to the next, over a short drain. */
static void run_sequence(void)
{
	struct drain_in in = { BASE, .prev = {}, LB_LISTED(1), .truth = { .status = TRUTH_PENDING } };
	struct drain_out out;

	/* 1: the drain's first decision starts its state; the second-chance counter is the base */
	in.lb.second_chance = 9;
	drain_decide(&in, &out);
	ASSERT_EQ(out.next.drain, SINCE, "sequence: the first decision adopts the drain");
	ASSERT_EQ(out.next.second_chance_seen, 9, "sequence: ... with the second-chance counter as its base");
	ASSERT_EQ(out.next.lost_ns, 0, "sequence: ... and no loss");
	/* 2: the node's first fresh report says 2 live */
	in.prev = out.next;
	in.now += S;
	in.truth = (struct node_truth){ .status = TRUTH_OK, .live = 2, .asked_ns = ASKED };
	drain_decide(&in, &out);
	ASSERT_TRUE(out.next.node_known && out.next.node_live == 2, "sequence: the node's 2 is remembered");
	/* 3: the table is flushed (the listed flow vanishes) and the reader fails */
	in.prev = out.next;
	in.now += S;
	in.lb = (struct drain_census){ .listed = true, .live = 0, .vanished = 1, .have_second = true, .second_chance = 9 };
	in.truth = (struct node_truth){ .status = TRUTH_FAILED };
	drain_decide(&in, &out);
	ASSERT_TRUE(out.verdict == DRAIN_KEEP && !strcmp(out.reason, "lost_quiet") && out.say_lost_wait,
		    "sequence: lost state waits, drain_wait_lost said");
	ASSERT_EQ(out.next.lost_flows, 1, "sequence: the vanished flow is counted lost");
	ASSERT_EQ(out.next.lost_ns, in.now, "sequence: ... now");
	/* 4: the next check says it no more */
	in.prev = out.next;
	in.now += S;
	in.lb.vanished = 0;
	drain_decide(&in, &out);
	ASSERT_TRUE(out.verdict == DRAIN_KEEP && !out.say_lost_wait, "sequence: drain_wait_lost said once");
	/* 5: quiet long after: the LB would retire it, the node's last word (2) still holds it */
	in.prev = out.next;
	in.now += 61 * S;
	in.elapsed_ns = 20 * S;
	drain_decide(&in, &out);
	ASSERT_TRUE(out.verdict == DRAIN_KEEP && !strcmp(out.reason, "node_said_live"),
		    "sequence: the node's last 2 holds it on the LB's empty table");
	/* 6: the node says 0 now */
	in.prev = out.next;
	in.truth = (struct node_truth){ .status = TRUTH_OK, .live = 0, .asked_ns = in.now - S / 2 };
	drain_decide(&in, &out);
	ASSERT_TRUE(out.verdict == DRAIN_RETIRE && out.verified && out.flows_cut == 0,
		    "sequence: the node's 0 retires it, verified, 0 cut");
	/* 7: the inputs are not written */
	ASSERT_EQ(in.prev.lost_flows, 1, "sequence: drain_decide leaves its inputs alone");
}

/* The leader's path over a host leaving: its table keeps entries of moved flows. */
static void run_fleet_sequence(void)
{
	struct drain_in in = { BASE, .prev = {}, LB_LISTED(0), OK(0, 0), .fleet = &fleet_host_flows };
	struct drain_out out;
	__u64 settled;

	/* 1: every host has applied and counted; the node's 0 was asked before that was seen */
	drain_decide(&in, &out);
	ASSERT_TRUE(out.verdict == DRAIN_KEEP && !strcmp(out.reason, "fleet_blocked"),
		    "fleet sequence: the node's 0 asked before the hosts were seen in step: kept");
	ASSERT_EQ(out.next.fleet_settled_ns, in.now, "fleet sequence: ... settled from now");
	settled = out.next.fleet_settled_ns;
	/* 2: the same answer again: still kept, the settled time kept */
	in.prev = out.next;
	in.now += S / 5;
	drain_decide(&in, &out);
	ASSERT_TRUE(out.verdict == DRAIN_KEEP && out.next.fleet_settled_ns == settled,
		    "fleet sequence: an answer asked before it never retires the node");
	/* 3: a 0 asked after: retired, verified, 0 cut, the other host's stale entry said */
	in.prev = out.next;
	in.now += S / 5;
	in.truth.asked_ns = settled + S / 10;
	drain_decide(&in, &out);
	ASSERT_TRUE(out.verdict == DRAIN_RETIRE && !strcmp(out.reason, "flows_ended") && out.verified &&
			    out.flows_cut == 0 && out.host_flows == 1 && !out.why[0],
		    "fleet sequence: the node's 0 asked after: retired, verified, 0 cut, 1 host flow outweighed");
	/* 4: a host restarts (no count yet): the settled time is dropped */
	in.fleet = &fleet_host_restarted;
	drain_decide(&in, &out);
	ASSERT_TRUE(out.verdict == DRAIN_KEEP && out.next.fleet_settled_ns == 0,
		    "fleet sequence: a host not counted breaks the settled time");
	/* 5: it counted again: settled anew, the answer of before is too old */
	in.prev = out.next;
	in.fleet = &fleet_host_flows;
	in.now += S;
	drain_decide(&in, &out);
	ASSERT_TRUE(out.verdict == DRAIN_KEEP && out.next.fleet_settled_ns == in.now,
		    "fleet sequence: settled again from now, the older answer keeps the node");
}

int main(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(&rows[i]);
	run_sequence();
	run_fleet_sequence();
	printf("1..%d\n", test_checks);
	return test_failures ? 1 : 0;
}
