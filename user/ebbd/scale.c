// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Scaling, per pool, the way Kubernetes' HPA does it: desired = ceil(total load / target per
 * node), left alone while the ratio total / (target x active nodes) is within the tolerance of
 * 1, clamped to [min, max]. Every interval's desired count is remembered: scale-out acts on the
 * smallest of the scale-out window (0: at once), scale-in on the largest of the scale-in window,
 * and only once ebbd has watched for a whole window (after a restart too): load must have stayed
 * low all that time.
 *
 * The total counts draining nodes as well as active ones: their flows are load the pool still
 * carries, and leaving them out would make one scale-in trigger the next before they end.
 *
 * Scale-in drains the active node whose flows will end soonest: fewest live flows, then the
 * youngest (latest state_since_ns). Scale-out re-activates a draining node first (the one with
 * most flows: they stay where they are), then an inactive one (the most recently retired), and
 * asks the on-scale-out hook for the rest (EBB_NODE empty, EBB_NODES_WANTED), at most once per
 * hook-cooldown.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ebbd.h"

void scale_reset(struct agent *a)
{
	for (int i = 0; a->pools && i < a->cfg.n_pools; i++)
		free(a->pools[i].hist);
	free(a->pools);
	a->pools = calloc(a->cfg.n_pools ? a->cfg.n_pools : 1, sizeof(*a->pools));
	for (int i = 0; i < a->cfg.n_pools; i++) {
		const struct scale_cfg *s = &a->cfg.pools[i].scale;
		double w = s->in_window > s->out_window ? s->in_window : s->out_window;

		a->pools[i].cap = (size_t)(w / a->cfg.interval) + 8;
		a->pools[i].hist = calloc(a->pools[i].cap, sizeof(struct sample));
	}
}

static void remember(struct pool_rt *rt, __u64 now, int desired)
{
	rt->hist[rt->head] = (struct sample){ .t = now, .desired = desired };
	rt->head = (rt->head + 1) % rt->cap;
	if (rt->n < rt->cap)
		rt->n++;
}

/* The smallest (want_max false) or largest desired count remembered over the last window_s. */
static int over_window(const struct pool_rt *rt, __u64 now, double window_s, bool want_max)
{
	int best = -1;

	for (size_t i = 0; i < rt->n; i++) {
		const struct sample *s = &rt->hist[(rt->head + rt->cap - 1 - i) % rt->cap];

		if (i > 0 && now - s->t > window_s * NS_PER_S)
			break;
		if (best < 0 || (want_max ? s->desired > best : s->desired < best))
			best = s->desired;
	}
	return best;
}

static bool metric_of(const struct agent *a, const struct node *n, enum metric m, double *v)
{
	switch (m) {
	case METRIC_FLOWS:
		*v = n->flows;
		return n->flows_known && a->have_pass;
	case METRIC_NEW_FLOWS:
		*v = n->new_flows_s;
		return n->have_rates;
	case METRIC_PROBE:
		*v = n->load;
		return n->load_known;
	}
	return false;
}

static const char *const metric_name[] = { "flows", "new-flows", "probe" };

static json_object *decision(const struct agent *a, int pool, const char *event, int window_desired,
			     double window_s)
{
	const struct pool_rt *rt = &a->pools[pool];
	const struct scale_cfg *s = &a->cfg.pools[pool].scale;
	json_object *ev = log_new(LOG_INFO, event);

	jstr(ev, "pool", a->cfg.pools[pool].name);
	jstr(ev, "metric", metric_name[s->metric]);
	jdbl(ev, "total", rt->total);
	jdbl(ev, "target", s->target);
	jint(ev, "active", rt->active);
	jdbl(ev, "ratio", rt->ratio);
	jdbl(ev, "tolerance", s->tolerance);
	jint(ev, "desired", rt->desired);
	jint(ev, "window_desired", window_desired);
	jdbl(ev, "window_s", window_s);
	jint(ev, "min", s->min);
	jint(ev, "max", s->max);
	return ev;
}

/* Fewest flows, then youngest: the node whose flows will end soonest. */
static struct node *pick_to_drain(struct agent *a, int pool)
{
	struct node *best = NULL;

	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];

		if (!n->used || n->pool != pool || n->m.state != EBB_NODE_ACTIVE)
			continue;
		if (!best || n->flows < best->flows ||
		    (n->flows == best->flows && n->m.state_since_ns > best->m.state_since_ns))
			best = n;
	}
	return best;
}

/* A draining node (most flows first), else an inactive one (most recently retired). */
static bool better_to_activate(const struct node *n, const struct node *best)
{
	if (!best)
		return true;
	if (n->m.state != best->m.state)
		return n->m.state == EBB_NODE_DRAINING;
	if (n->m.state == EBB_NODE_DRAINING && n->flows != best->flows)
		return n->flows > best->flows;
	return n->m.state_since_ns > best->m.state_since_ns;
}

static struct node *pick_to_activate(struct agent *a, int pool)
{
	struct node *best = NULL;

	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];

		if (n->used && n->pool == pool &&
		    (n->m.state == EBB_NODE_DRAINING || n->m.state == EBB_NODE_INACTIVE) &&
		    better_to_activate(n, best))
			best = n;
	}
	return best;
}

static void scale_out(struct agent *a, int pool, int want, int window_desired, __u64 now)
{
	const struct scale_cfg *s = &a->cfg.pools[pool].scale;
	struct pool_rt *rt = &a->pools[pool];

	while (want > 0) {
		struct node *n = pick_to_activate(a, pool);
		json_object *ev;

		if (!n)
			break;
		ev = decision(a, pool, "scale_out", window_desired, s->out_window);
		jint(ev, "node_flows", n->flows);
		if (node_transition(a, n, EBB_NODE_ACTIVE, 0, EV_SCALE_OUT, ev, 0))
			return; /* changed under us: decide again next interval */
		want--;
	}
	if (want > 0 && (!rt->hook_ns || now - rt->hook_ns >= s->hook_cooldown * NS_PER_S)) {
		json_object *ev = decision(a, pool, "scale_out_wanted", window_desired, s->out_window);
		char env[48];

		jint(ev, "nodes_wanted", want);
		log_emit(ev);
		snprintf(env, sizeof(env), "EBB_NODES_WANTED=%d", want);
		rt->hook_ns = now;
		hook_fire(a, EV_SCALE_OUT, NULL, pool, NULL, NULL, 0, env);
	}
}

static void scale_in(struct agent *a, int pool, int excess, int window_desired)
{
	const struct scale_cfg *s = &a->cfg.pools[pool].scale;

	while (excess-- > 0) {
		struct node *n = pick_to_drain(a, pool);
		json_object *ev;

		if (!n)
			return;
		ev = decision(a, pool, "scale_in", window_desired, s->in_window);
		jint(ev, "node_flows", n->flows);
		jdbl(ev, "node_active_s", (ebb_now_ns() - n->m.state_since_ns) / 1e9);
		if (node_transition(a, n, EBB_NODE_DRAINING, 0, EV_SCALE_IN, ev, 0))
			return;
	}
}

void scale_cycle(struct agent *a, __u64 now)
{
	for (int p = 0; p < a->cfg.n_pools; p++) {
		const struct scale_cfg *s = &a->cfg.pools[p].scale;
		struct pool_rt *rt = &a->pools[p];
		int active = 0, raw, desired, out, in;
		double total = 0, v;
		bool known = true;

		if (!s->enabled)
			continue;
		for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
			const struct node *n = &a->nodes[id];

			if (!n->used || n->pool != p ||
			    (n->m.state != EBB_NODE_ACTIVE && n->m.state != EBB_NODE_DRAINING))
				continue;
			active += n->m.state == EBB_NODE_ACTIVE;
			if (metric_of(a, n, s->metric, &v))
				total += v;
			else
				known = false;
		}
		if (!known) {
			log_msg(LOG_DEBUG, "scale_wait", "pool %s: not every node has a %s figure yet",
				a->cfg.pools[p].name, metric_name[s->metric]);
			continue;
		}
		raw = (int)ceil(total / s->target - 1e-9);
		rt->ratio = active ? total / (s->target * active) : NAN;
		if (active && fabs(rt->ratio - 1) <= s->tolerance)
			raw = active; /* within tolerance: no change */
		desired = raw < s->min ? s->min : raw > s->max ? s->max : raw;
		if (!rt->evaluated)
			rt->first_ns = now;
		rt->evaluated = true;
		rt->total = total;
		rt->active = active;
		rt->desired = desired;
		remember(rt, now, desired);

		out = over_window(rt, now, s->out_window, false);
		in = over_window(rt, now, s->in_window, true);
		if (out > active)
			scale_out(a, p, out - active, out, now);
		else if (in < active && now - rt->first_ns >= s->in_window * NS_PER_S)
			scale_in(a, p, active - in, in);
		else if (log_enabled(LOG_DEBUG))
			log_emit(decision(a, p, "scale_hold", in, s->in_window));
	}
}
