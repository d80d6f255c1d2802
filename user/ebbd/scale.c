// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Scaling, per pool: each interval this file reads the pool's nodes, with the live flows its
 * caller gives (this host's census, or a fleet's sums: nobody's state is overwritten for them),
 * and hands their figures to scale_decide() (scale_decide.h says the rules: HPA's desired count,
 * the windows, which node to drain or activate), then does what it says: node_transition for
 * each node it picked, the on-scale-out hook (EBB_NODE empty, EBB_NODES_WANTED) for the nodes
 * the pool lacks.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ebbd.h"

void scale_reset(struct agent *a)
{
	for (int i = 0; a->pools && i < a->cfg.n_pools; i++)
		free(a->pools[i].hist.ring);
	free(a->pools);
	a->pools = calloc(a->cfg.n_pools ? a->cfg.n_pools : 1, sizeof(*a->pools));
	for (int i = 0; i < a->cfg.n_pools; i++) {
		struct scale_hist *h = &a->pools[i].hist;

		h->cap = scale_hist_cap(&a->cfg.pools[i].scale, a->cfg.interval);
		h->ring = calloc(h->cap, sizeof(*h->ring));
	}
}

/* flows: the node's live flows scaling decides on (this host's, or the fleet's) */
static bool metric_of(const struct agent *a, const struct node *n, __u64 flows, enum metric m,
		      double *v)
{
	switch (m) {
	case METRIC_FLOWS:
		*v = flows;
		return n->census.flows_known && a->census.have_pass;
	case METRIC_NEW_FLOWS:
		*v = n->census.new_flows_s;
		return n->census.have_rates;
	case METRIC_PROBE:
		*v = n->probe.load;
		return n->probe.load_known;
	}
	return false;
}

static const char *const metric_name[] = { "flows", "new-flows", "probe" };

static json_object *decision(const struct agent *a, int pool, const char *event, const struct scale_out *d)
{
	const struct scale_cfg *s = &a->cfg.pools[pool].scale;
	json_object *ev = log_new(LOG_INFO, event);

	json_add_str(ev, "pool", a->cfg.pools[pool].name);
	json_add_str(ev, "metric", metric_name[s->metric]);
	json_add_double(ev, "total", d->total);
	json_add_double(ev, "target", s->target);
	json_add_int(ev, "active", d->active);
	json_add_double(ev, "ratio", d->ratio);
	json_add_double(ev, "tolerance", s->tolerance);
	json_add_int(ev, "desired", d->desired);
	json_add_int(ev, "window_desired", d->window_desired);
	json_add_double(ev, "window_s", d->window_s);
	json_add_int(ev, "min", s->min);
	json_add_int(ev, "max", s->max);
	return ev;
}

static void scale_out(struct agent *a, int pool, const struct scale_out *d, const __u64 *flows,
		      __u64 now)
{
	for (int i = 0; i < d->n_pick; i++) {
		struct node *n = &a->nodes[d->pick[i]];
		json_object *ev = decision(a, pool, "scale_out", d);

		json_add_int(ev, "node_flows", flows[d->pick[i]]);
		if (node_transition(a, n, EBB_NODE_ACTIVE, 0, EV_SCALE_OUT, ev, 0))
			return; /* changed under us: decide again next interval */
	}
	if (d->hook_wanted > 0) {
		json_object *ev = decision(a, pool, "scale_out_wanted", d);
		char env[48];

		json_add_int(ev, "nodes_wanted", d->hook_wanted);
		log_emit(ev);
		snprintf(env, sizeof(env), "EBB_NODES_WANTED=%d", d->hook_wanted);
		a->pools[pool].hook_ns = now;
		hook_fire(a, EV_SCALE_OUT, NULL, pool, NULL, NULL, 0, env);
	}
}

static void scale_in(struct agent *a, int pool, const struct scale_out *d, const __u64 *flows)
{
	for (int i = 0; i < d->n_pick; i++) {
		struct node *n = &a->nodes[d->pick[i]];
		json_object *ev = decision(a, pool, "scale_in", d);

		json_add_int(ev, "node_flows", flows[d->pick[i]]);
		json_add_double(ev, "node_active_s", (ebb_now_ns() - n->entry.state_since_ns) / 1e9);
		if (node_transition(a, n, EBB_NODE_DRAINING, 0, EV_SCALE_IN, ev, 0))
			return;
	}
}

void scale_cycle(struct agent *a, const __u64 *flows, __u64 now)
{
	/* the main loop's alone; too large for its stack */
	static struct scale_node nodes[EBB_MAX_NODES];
	static struct scale_out d;

	for (int p = 0; p < a->cfg.n_pools; p++) {
		const struct scale_cfg *s = &a->cfg.pools[p].scale;
		struct pool_rt *rt = &a->pools[p];
		struct scale_in in = { .cfg = s, .nodes = nodes, .now = now, .hook_ns = rt->hook_ns };

		if (!s->enabled)
			continue;
		for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
			const struct node *n = &a->nodes[id];
			struct scale_node *sn = &nodes[in.n_nodes];

			if (!n->used || n->pool != p)
				continue;
			*sn = (struct scale_node){ .id = id, .state = n->entry.state, .flows = flows[id],
						   .state_since_ns = n->entry.state_since_ns };
			sn->known = metric_of(a, n, flows[id], s->metric, &sn->value);
			in.n_nodes++;
		}
		scale_decide(&in, &rt->hist, &d);
		if (d.action == SCALE_WAIT) {
			log_msg(LOG_DEBUG, "scale_wait", "pool %s: not every node has a %s figure yet",
				a->cfg.pools[p].name, metric_name[s->metric]);
			continue;
		}
		rt->total = d.total;
		rt->ratio = d.ratio;
		rt->active = d.active;
		rt->desired = d.desired;
		/* In a fleet every host shows the pool's figures, but only the leader acts: another
		 * host's transitions would be refused (fleet_transition), and its scale-out hook
		 * would ask the autoscaler for the same nodes once per host. */
		if (fleet_enabled() && !fleet_is_leader())
			continue;
		if (d.action == SCALE_OUT)
			scale_out(a, p, &d, flows, now);
		else if (d.action == SCALE_IN)
			scale_in(a, p, &d, flows);
		else if (log_enabled(LOG_DEBUG))
			log_emit(decision(a, p, "scale_hold", &d));
	}
}
