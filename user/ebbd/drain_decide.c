// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The drain decision (drain_decide.h says the rules). Pure: it reads its arguments and writes
 * its result, nothing else, so the unit test can run every rule without a map, a
 * clock or a node, and drain.c and the fleet leader's path decide alike.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "drain_decide.h"

const char *drain_verdict_name(enum drain_verdict v)
{
	switch (v) {
	case DRAIN_KEEP:
		return "keep";
	case DRAIN_RETIRE:
		return "retire";
	case DRAIN_RETIRE_TIMEOUT:
		return "retire_timeout";
	}
	return "?";
}

const char *drain_truth_name(enum truth_status s)
{
	switch (s) {
	case TRUTH_NONE:
		return "none";
	case TRUTH_PENDING:
		return "pending";
	case TRUTH_OK:
		return "ok";
	case TRUTH_FAILED:
		return "failed";
	}
	return "?";
}

static void why_add(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why_add(char *why, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(why, len);
	va_list ap;

	if (used + 2 >= len)
		return;
	if (used) {
		memcpy(why + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(why + used, len - used, fmt, ap);
	va_end(ap);
}

/*
 * A live host must have applied the drain (before that it may still place new flows on the
 * node) and have counted its flows after it (a restarted ebbd's report before its first pass
 * names no node: its silence is no 0); a host whose lease is gone counts only if it said last
 * that it had withdrawn its routes and carried none of them. With flows_block, a live host that
 * reports flows of the node blocks too; without (the node has said 0: its count outweighs their
 * tables), they are summed in *flows.
 */
static bool fleet_accounted(const struct drain_fleet *f, bool flows_block, long long *flows, char *why,
			    size_t len)
{
	bool clear = true;

	*flows = 0;
	if (len)
		why[0] = 0;
	if (f->truncated) {
		why_add(why, len, "more than %d other hosts: not all are accounted for", DRAIN_MAX_HOSTS);
		clear = false;
	}
	for (int i = 0; i < f->n_hosts && i < DRAIN_MAX_HOSTS; i++) {
		const struct drain_host *h = &f->hosts[i];

		if (h->live) {
			if (h->applied < f->drain_rev) {
				why_add(why, len, "%s has not applied the drain", h->name);
				clear = false;
			} else if (!h->measured) {
				why_add(why, len, "%s has not counted the node's flows yet", h->name);
				clear = false;
			} else if (h->flows && flows_block) {
				why_add(why, len, "%s reports %lld flow(s)", h->name, h->flows);
				clear = false;
			} else {
				*flows += h->flows > 0 ? h->flows : 0;
			}
			continue;
		}
		if (strcmp(h->status, "withdrawn") || h->flows) {
			why_add(why, len, "%s is unaccounted for (lease gone, last said %s)", h->name,
				h->status[0] ? h->status : "nothing");
			clear = false;
		}
	}
	return clear;
}

bool drain_fleet_clear(const struct drain_fleet *f, char *why, size_t len)
{
	long long flows;

	return fleet_accounted(f, true, &flows, why, len);
}

/* The fleet's part when the node has said 0: as drain_fleet_clear, but the flows the live hosts
 * report do not block. *flows: their sum. */
static bool drain_fleet_settled(const struct drain_fleet *f, long long *flows)
{
	char why[8];

	return fleet_accounted(f, false, flows, why, sizeof(why));
}

/* What the other hosts say they carry of the node: part of the LB's estimate at a timeout. */
static long long fleet_flows(const struct drain_fleet *f)
{
	long long sum = 0;

	for (int i = 0; f && i < f->n_hosts && i < DRAIN_MAX_HOSTS; i++)
		sum += f->hosts[i].flows > 0 ? f->hosts[i].flows : 0;
	return sum;
}

static void verdict(struct drain_out *out, enum drain_verdict v, const char *reason)
{
	out->verdict = v;
	out->reason = reason;
}

void drain_decide(const struct drain_in *in, struct drain_out *out)
{
	struct drain_state *s = &out->next;
	const struct node_truth *t = &in->truth;
	__u64 elapsed = in->elapsed_ns > 0 ? (__u64)in->elapsed_ns : 0;
	bool timed_out = elapsed >= in->timeout_ns;
	bool fresh, lost_recent, lb_clear, fleet_ok;

	memset(out, 0, sizeof(*out));
	verdict(out, DRAIN_KEEP, "not_draining");
	if (!in->draining)
		return; /* next: all zero, nothing kept for a node that does not drain */

	/* Signs of lost flow state: a listed flow gone from the table, a second-chance arrival (its
	 * counter's first reading in a drain is the base). */
	*s = in->prev;
	if (s->drain != in->since) {
		*s = (struct drain_state){ .drain = in->since };
		if (in->lb.have_second)
			s->second_chance_seen = in->lb.second_chance;
	} else if (in->lb.have_second && in->lb.second_chance > s->second_chance_seen) {
		s->second_chance_seen = in->lb.second_chance;
		s->lost_ns = in->now;
		s->lost_logged = false;
	}
	if (in->lb.vanished) {
		s->lost_flows += in->lb.vanished;
		s->lost_ns = in->now;
		s->lost_logged = false;
	}
	/* A mark from after `now` (another clock reading of this host's) is recent, not ancient. */
	lost_recent = s->lost_ns && (s->lost_ns > in->now || in->now - s->lost_ns < in->lost_quiet_ns);

	/* The node's own word, when it speaks for this drain: it was asked after the drain began,
	 * so it counted every connection the drain has to wait for. */
	fresh = t->status == TRUTH_OK && t->asked_ns >= in->since;
	if (fresh) {
		s->node_known = true;
		s->node_live = t->live;
		s->node_reset = t->reset;
		out->verified = true;
		out->exact = true;
		out->flows_cut = (long long)(t->live + t->reset);
		if (t->live) {
			verdict(out, timed_out ? DRAIN_RETIRE_TIMEOUT : DRAIN_KEEP,
				timed_out ? "drain_timeout" : "node_live");
			return;
		}
		fleet_ok = !in->fleet || drain_fleet_clear(in->fleet, out->why, sizeof(out->why));
		if (in->fleet) {
			long long host_flows;

			/* settled: since when, this drain's state says; a break starts it again */
			if (!drain_fleet_settled(in->fleet, &host_flows))
				s->fleet_settled_ns = 0;
			else if (!s->fleet_settled_ns)
				s->fleet_settled_ns = in->now;
			if (!fleet_ok && s->fleet_settled_ns) {
				if (t->asked_ns >= s->fleet_settled_ns) {
					fleet_ok = true;
					out->host_flows = host_flows;
					out->why[0] = 0;
				} else {
					why_add(out->why, sizeof(out->why),
						"the node's 0 was asked before every host had counted the drain");
				}
			}
		}
		if (fleet_ok)
			verdict(out, DRAIN_RETIRE, "flows_ended");
		else /* a host still unaccounted for (out->why): the node's 0 ends it at the timeout */
			verdict(out, timed_out ? DRAIN_RETIRE_TIMEOUT : DRAIN_KEEP,
				timed_out ? "drain_timeout" : "fleet_blocked");
		return;
	}

	/* No word from the node for this drain: the LB's flow table decides, as it always did, and
	 * what that cuts is an estimate. */
	out->verified = false;
	out->exact = in->lb.listed && in->lb.live >= 0;
	out->flows_cut = out->exact ? in->lb.live : (long long)in->lb.flows;
	lb_clear = in->lb.listed && in->lb.live == 0;
	if (lb_clear && !timed_out && lost_recent) {
		out->say_lost_wait = !s->lost_logged;
		s->lost_logged = true;
		verdict(out, DRAIN_KEEP, "lost_quiet");
		return;
	}
	/* The node is asked and has not answered for this drain yet (or only for before it): a pool
	 * that asks its nodes waits for the answer, due within its truth interval and timeout,
	 * rather than retire on the LB's table in a drain's first second (a restarted ebbd, a
	 * table lost just before the drain). A node that cannot answer fails, and then the LB's
	 * table decides, unverified. */
	if (lb_clear && !timed_out && (t->status == TRUTH_PENDING || t->status == TRUTH_OK)) {
		verdict(out, DRAIN_KEEP, "node_pending");
		return;
	}
	/* The node said, in this drain, that it still had connections, and has not said otherwise
	 * since: the LB's empty table does not outweigh it (a lost table, a restarted agent). */
	if (lb_clear && !timed_out && s->node_known && s->node_live) {
		verdict(out, DRAIN_KEEP, "node_said_live");
		return;
	}
	fleet_ok = !(lb_clear || timed_out) || !in->fleet ||
		   drain_fleet_clear(in->fleet, out->why, sizeof(out->why));
	if (lb_clear && fleet_ok) {
		verdict(out, DRAIN_RETIRE, "flows_ended");
		return;
	}
	if (!timed_out) {
		verdict(out, DRAIN_KEEP, lb_clear ? "fleet_blocked" : in->lb.listed ? "lb_flows_live" : "lb_not_listed");
		return;
	}
	/* The timeout cuts what this host's table holds and what the other hosts say they carry. */
	if (in->fleet && !fleet_ok) {
		out->flows_cut += fleet_flows(in->fleet);
		out->exact = false;
	}
	verdict(out, DRAIN_RETIRE_TIMEOUT, "drain_timeout");
}
