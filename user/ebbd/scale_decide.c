// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The scaling decision (scale_decide.h says the rules). */
#include <math.h>
#include <stdlib.h>

#include "scale_decide.h"

#define NS_PER_S 1000000000ULL

size_t scale_hist_cap(const struct scale_cfg *s, double interval_s)
{
	double w = s->in_window > s->out_window ? s->in_window : s->out_window;

	return (size_t)(w / interval_s) + 8;
}

static void remember(struct scale_hist *h, __u64 now, int desired)
{
	h->ring[h->head] = (struct scale_sample){ .t = now, .desired = desired };
	h->head = (h->head + 1) % h->cap;
	if (h->n < h->cap)
		h->n++;
}

/* The smallest (want_max false) or largest desired count remembered over the last window_s;
 * the newest sample counts whatever the window. */
static int over_window(const struct scale_hist *h, __u64 now, double window_s, bool want_max)
{
	int best = -1;

	for (size_t i = 0; i < h->n; i++) {
		const struct scale_sample *s = &h->ring[(h->head + h->cap - 1 - i) % h->cap];

		if (i > 0 && now - s->t > window_s * NS_PER_S)
			break;
		if (best < 0 || (want_max ? s->desired > best : s->desired < best))
			best = s->desired;
	}
	return best;
}

/* Fewest flows, then youngest: the node whose flows will end soonest. */
static int drain_order(const void *pa, const void *pb)
{
	const struct scale_node *a = *(const struct scale_node *const *)pa;
	const struct scale_node *b = *(const struct scale_node *const *)pb;

	if (a->flows != b->flows)
		return a->flows < b->flows ? -1 : 1;
	if (a->state_since_ns != b->state_since_ns)
		return a->state_since_ns > b->state_since_ns ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* A draining node (most flows first: they stay where they are), else an inactive one (most
 * recently retired). */
static int activate_order(const void *pa, const void *pb)
{
	const struct scale_node *a = *(const struct scale_node *const *)pa;
	const struct scale_node *b = *(const struct scale_node *const *)pb;

	if (a->state != b->state)
		return a->state == EBB_NODE_DRAINING ? -1 : 1;
	if (a->state == EBB_NODE_DRAINING && a->flows != b->flows)
		return a->flows > b->flows ? -1 : 1;
	if (a->state_since_ns != b->state_since_ns)
		return a->state_since_ns > b->state_since_ns ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* The first `want` of the pool's nodes in `states` (one or two EBB_NODE_*), in `order`. */
static void pick(const struct scale_in *in, __u8 s1, __u8 s2, int (*order)(const void *, const void *),
		 int want, struct scale_out *out)
{
	const struct scale_node *cand[EBB_MAX_NODES];
	int n = 0;

	for (int i = 0; i < in->n_nodes && n < EBB_MAX_NODES; i++)
		if (in->nodes[i].state == s1 || in->nodes[i].state == s2)
			cand[n++] = &in->nodes[i];
	qsort(cand, n, sizeof(cand[0]), order);
	out->n_pick = 0;
	for (int i = 0; i < n && i < want; i++)
		out->pick[out->n_pick++] = cand[i]->id;
}

void scale_decide(const struct scale_in *in, struct scale_hist *hist, struct scale_out *out)
{
	const struct scale_cfg *s = in->cfg;
	int active = 0, raw, desired, wout, win;
	double total = 0;

	out->action = SCALE_WAIT;
	out->reason = "metric_unknown";
	out->n_pick = out->want = out->hook_wanted = 0;
	for (int i = 0; i < in->n_nodes; i++) {
		const struct scale_node *n = &in->nodes[i];

		if (n->state != EBB_NODE_ACTIVE && n->state != EBB_NODE_DRAINING)
			continue;
		if (!n->known)
			return;
		active += n->state == EBB_NODE_ACTIVE;
		total += n->value;
	}
	raw = (int)ceil(total / s->target - 1e-9);
	out->ratio = active ? total / (s->target * active) : NAN;
	if (active && fabs(out->ratio - 1) <= s->tolerance)
		raw = active;
	desired = raw < s->min ? s->min : raw > s->max ? s->max : raw;
	if (!hist->evaluated)
		hist->first_ns = in->now;
	hist->evaluated = true;
	remember(hist, in->now, desired);
	out->total = total;
	out->active = active;
	out->desired = desired;

	wout = over_window(hist, in->now, s->out_window, false);
	win = over_window(hist, in->now, s->in_window, true);
	if (wout > active) {
		out->action = SCALE_OUT;
		out->reason = "above_target";
		out->window_desired = wout;
		out->window_s = s->out_window;
		out->want = wout - active;
		pick(in, EBB_NODE_DRAINING, EBB_NODE_INACTIVE, activate_order, out->want, out);
		if (out->want > out->n_pick &&
		    (!in->hook_ns || in->now - in->hook_ns >= s->hook_cooldown * NS_PER_S))
			out->hook_wanted = out->want - out->n_pick;
		return;
	}
	out->window_desired = win;
	out->window_s = s->in_window;
	if (win < active && in->now - hist->first_ns >= s->in_window * NS_PER_S) {
		out->action = SCALE_IN;
		out->reason = "below_target";
		out->want = active - win;
		pick(in, EBB_NODE_ACTIVE, EBB_NODE_ACTIVE, drain_order, out->want, out);
		return;
	}
	out->action = SCALE_HOLD;
	out->reason = win < active ? "in_window_young" : "steady";
}

const char *scale_action_name(enum scale_action a)
{
	static const char *const names[] = { "wait", "hold", "out", "in" };

	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}
