// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Measurement. One pass over the flow table gives every node's live flows, and for each
 * draining node the keys of its live flows, published for drain.c (measure.h), which then looks
 * them up one by one instead of walking the table again. A pass is a census where one can run
 * and the draining nodes' keys fit its list (user/lib/census.c reads the mmapped table in place
 * and also clears finished and idle entries before their tick wraps: doc/flow-table.md "The
 * census over the table"); else the table is walked with batch lookups, a syscall per batch
 * (doc/guide.md gives both costs). Either is paced: it may use cfg.walk_cpu of one core (a
 * token bucket of CPU time), and a walk over a big table is spread over several ticks, so that
 * measuring never takes the core the drains and checks need. Counters (packets, bytes, new
 * flows) come from node_stats and give the rates, once per interval.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>

#include "ebbd.h"

/* At most this many keys are kept for draining nodes (40 bytes each). */
#define WATCH_MAX_KEYS 262144

/* A pass over the flow table in progress. */
struct pass {
	struct agent *a;
	__u64 now, started_ns, live_total;
	long long rev; /* the fleet revision applied when it began (fleet_applied_revision) */
	__u64 first_now; /* the first `now` it judged flows at */
	size_t keys_total;
	__u64 gen[EBB_MAX_NODES];
	__u64 live[EBB_MAX_NODES];
	__u64 last_end[EBB_MAX_NODES];
	__u64 drain_since[EBB_MAX_NODES]; /* draining when the pass began: collect its keys */
	bool took[EBB_MAX_NODES]; /* the node took pinned flows at every tick of the pass */
	/* Draining nodes not listed yet for their drain: their finished flows that may have been
	 * live at the count of the pass before (census.flows as of census.flows_ns). Those stay
	 * as they were until this pass publishes unless the node stopped taking pinned flows
	 * (flows_ns zeroed, and took[] false with it). */
	__u64 ended_after[EBB_MAX_NODES], ended[EBB_MAX_NODES];
	struct watch lists[EBB_MAX_NODES];
};

/* measure.c's own: the walk or census and its CPU budget (one agent per process). */
static struct {
	struct ebb_walk walk;
	struct ebb_census *census; /* the pass in one run inside the kernel, where it loads */
	bool census_off; /* it did not: walks only */
	struct pass *pass;
	double tokens_ns; /* CPU time the walk may still spend */
	__u64 tokens_at, pass_started_ns;
} run;

/* Active and draining nodes keep their pinned flows; the others' are re-steered by their next
 * packet, which takes them from the node without loss. */
static bool takes_pinned(const struct node *n)
{
	return n->entry.state == EBB_NODE_ACTIVE || n->entry.state == EBB_NODE_DRAINING;
}

static __u64 cpu_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (__u64)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void watch_add(struct pass *p, __u32 id, const struct ebb_flow_key *k)
{
	struct watch *w = &p->lists[id];

	if (!w->valid)
		return; /* overflowed already */
	if (p->keys_total >= WATCH_MAX_KEYS) {
		w->valid = false;
		return;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct ebb_flow_key *keys = realloc(w->keys, cap * sizeof(*keys));

		if (!keys) {
			w->valid = false;
			return;
		}
		w->keys = keys;
		w->cap = cap;
	}
	w->keys[w->n++] = *k;
	p->keys_total++;
}

static void on_flow(const struct ebb_flow_key *k, const struct ebb_flow *v, void *ctx)
{
	struct pass *p = ctx;
	__u32 id = v->node_id;
	__u64 end;

	if (id >= EBB_MAX_NODES)
		return;
	if (!flow_live(p->a, k, v, p->now, &end)) {
		if (p->drain_since[id] && end > p->last_end[id])
			p->last_end[id] = end;
		if (p->ended_after[id] && end >= p->ended_after[id])
			p->ended[id]++;
		return;
	}
	p->live[id]++;
	p->live_total++;
	if (p->drain_since[id])
		watch_add(p, id, k);
}

/*
 * The whole pass in one census run. 0 when p is complete; < 0 when the census cannot run here,
 * or listed more keys than it keeps: the caller walks instead.
 */
static int census_ready(struct agent *a)
{
	int ret;

	if (run.census_off)
		return -EOPNOTSUPP;
	if (run.census && !ebb_census_current(run.census, &a->e)) {
		ebb_census_close(run.census); /* the table was re-created: count the new one */
		run.census = NULL;
	}
	if (!run.census) {
		ret = ebb_census_open(&a->e, &run.census);
		if (ret) {
			run.census_off = true;
			log_msg(LOG_INFO, "census_unavailable",
				"the census cannot read the flow table (%s): walking it instead",
				strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int census_pass(struct agent *a, struct pass *p)
{
	struct ebb_census_io *io;
	struct ebb_census_key *keys = NULL;
	int ret = census_ready(a);

	if (ret)
		return ret;
	io = ebb_census_io(run.census);
	io->now_ns = p->now;
	for (__u32 id = 0; id < EBB_MAX_VIPS; id++)
		io->vips[id] = ebb_census_vip_of(NULL);
	for (int i = 0; i < a->n_vips; i++) {
		const struct ebb_vip *v = &a->vips[i].vip;

		if (v->id < EBB_MAX_VIPS)
			io->vips[v->id] = ebb_census_vip_of(v);
	}
	for (__u32 id = 0; id < EBB_MAX_NODES; id++)
		io->watch[id] = p->drain_since[id] != 0;
	memcpy(io->ended_after, p->ended_after, sizeof(io->ended_after));
	ret = ebb_census_run(run.census);
	if (ret)
		return ret;
	if (io->n_keys > EBB_CENSUS_KEYS)
		return -ENOSPC;
	if (io->n_keys) {
		keys = calloc(io->n_keys, sizeof(*keys));
		ret = keys ? ebb_census_keys(run.census, keys, io->n_keys) : -ENOMEM;
		if (ret < 0 || (__u32)ret != io->n_keys) {
			free(keys);
			return ret < 0 ? ret : -EIO;
		}
		for (__u32 i = 0; i < io->n_keys; i++)
			if (keys[i].node_id < EBB_MAX_NODES && p->drain_since[keys[i].node_id])
				watch_add(p, keys[i].node_id, &keys[i].key);
		free(keys);
	}
	memcpy(p->live, io->live, sizeof(p->live));
	memcpy(p->last_end, io->last_end, sizeof(p->last_end));
	memcpy(p->ended, io->ended, sizeof(p->ended));
	p->live_total = io->live_total;
	run.walk.visited = io->visited;
	return 0;
}

static int pass_start(struct agent *a, __u64 now)
{
	struct pass *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->a = a;
	p->started_ns = now;
	p->rev = fleet_applied_revision();
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];
		struct ebb_counters c;

		if (!n->used)
			continue;
		p->gen[id] = n->gen;
		p->took[id] = takes_pinned(n);
		if (n->entry.state != EBB_NODE_DRAINING) {
			n->census.list.relist = false;
			continue;
		}
		/*
		 * Every flow pinned to a node bumps its new_flows counter. Read before the walk, an
		 * unchanged counter later proves that the keys collected are all the node has.
		 */
		if (ebb_counters_sum(a->e.node_stats_fd, id, &c))
			continue;
		p->drain_since[id] = n->entry.state_since_ns;
		p->lists[id] = (struct watch){ .valid = true, .since = n->entry.state_since_ns,
					       .new_flows0 = c.new_flows };
		if (n->census.list.since != n->entry.state_since_ns && n->census.flows_known &&
		    n->census.flows_ns)
			p->ended_after[id] = n->census.flows_ns > DRAIN_END_SLACK_NS ?
						     n->census.flows_ns - DRAIN_END_SLACK_NS : 1;
	}
	run.pass = p;
	run.pass_started_ns = now;
	return 0;
}

/*
 * Puts pass p's list of draining node n where drain.c takes it. A list drain.c has not taken
 * yet (no drain tick since) gains the new one's keys and keeps its own count before.
 */
static void list_publish(struct node *n, struct pass *p, __u32 id, bool took)
{
	struct census_list *l = &n->census.list;
	struct watch *w = &p->lists[id];

	l->relist = false;
	if (l->fresh && l->since == p->drain_since[id]) {
		watch_merge(&l->keys, w);
		if (p->last_end[id] > l->last_end)
			l->last_end = p->last_end[id];
		return;
	}
	watch_reset(&l->keys);
	*l = (struct census_list){ .fresh = true, .since = p->drain_since[id], .keys = *w,
				   .last_end = p->last_end[id], .counted_ns = p->first_now };
	*w = (struct watch){};
	/* Only the drain's first list needs the count before: later ones have the keys. */
	if (p->ended_after[id] && took) {
		l->counted = true;
		l->before = n->census.flows;
		l->before_ns = n->census.flows_ns;
		l->live = p->live[id];
		l->ended = p->ended[id];
	}
}

static void pass_publish(struct agent *a, __u64 now)
{
	struct pass *p = run.pass;

	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];

		if (n->used && n->gen == p->gen[id]) {
			bool took = p->took[id] && takes_pinned(n);

			if (p->drain_since[id] && n->entry.state == EBB_NODE_DRAINING &&
			    n->entry.state_since_ns == p->drain_since[id])
				list_publish(n, p, id, took);
			n->census.flows = p->live[id];
			n->census.flows_known = true;
			n->census.flows_ns = took ? p->first_now : 0;
		}
		free(p->lists[id].keys);
	}
	a->census.walked = run.walk.visited;
	a->census.passes++;
	a->census.counted_rev = p->rev;
	a->census.live_total = p->live_total;
	a->census.pass_ms = (now - p->started_ns) / 1e6;
	a->census.have_pass = true;
	free(p);
	run.pass = NULL;
}

static void pass_drop(void)
{
	if (run.pass) {
		for (__u32 id = 0; id < EBB_MAX_NODES; id++)
			free(run.pass->lists[id].keys);
		free(run.pass);
		run.pass = NULL;
	}
	ebb_walk_free(&run.walk);
	run.walk.started = false;
}

void measure_close(struct agent *a)
{
	(void)a;
	pass_drop();
	ebb_census_close(run.census);
	run.census = NULL;
}

/* A draining node whose flows are not listed yet (new drain, or a list found incomplete). */
static bool drain_wants_pass(const struct agent *a)
{
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];

		if (n->used && n->entry.state == EBB_NODE_DRAINING &&
		    (n->census.list.since != n->entry.state_since_ns || n->census.list.relist))
			return true;
	}
	return false;
}

void measure_tick(struct agent *a, __u64 now)
{
	double cap = a->cfg.walk_cpu * a->cfg.interval * NS_PER_S;
	__u64 t0;
	int ret;

	/* CPU time accrues at walk_cpu of wall time, saved up for at most one interval. */
	run.tokens_ns += (now - run.tokens_at) * a->cfg.walk_cpu;
	if (run.tokens_ns > cap)
		run.tokens_ns = cap;
	run.tokens_at = now;
	/* A node that took no pinned flows at some tick: its count before says nothing of losses. */
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		if (a->nodes[id].used && !takes_pinned(&a->nodes[id])) {
			a->nodes[id].census.flows_ns = 0;
			if (run.pass)
				run.pass->took[id] = false;
		}
	}
	if (!run.pass) {
		if (a->census.have_pass && now - run.pass_started_ns < a->cfg.interval * NS_PER_S &&
		    !drain_wants_pass(a))
			return;
		if (pass_start(a, now))
			return;
	}
	if (run.tokens_ns <= 0)
		return;
	run.pass->now = ebb_now_ns();
	if (!run.pass->first_now)
		run.pass->first_now = run.pass->now;
	t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	if (!run.walk.started && !census_pass(a, run.pass)) {
		run.tokens_ns -= cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
		pass_publish(a, ebb_now_ns());
		return;
	}
	ret = ebb_flows_walk(&a->e, &run.walk, (__u64)run.tokens_ns, on_flow, run.pass);
	run.tokens_ns -= cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	if (ret < 0) {
		log_msg(LOG_ERROR, "walk_failed", "cannot read the flow table: %s", strerror(-ret));
		pass_drop();
	} else if (ret == 1) {
		pass_publish(a, ebb_now_ns());
	}
}

void measure_flows(const struct agent *a, __u64 *flows)
{
	for (__u32 id = 1; id < EBB_MAX_NODES; id++)
		flows[id] = a->nodes[id].used ? a->nodes[id].census.flows : 0;
}

void measure_counters(struct agent *a, __u64 now)
{
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];
		struct ebb_counters c;
		double dt;

		if (!n->used || ebb_counters_sum(a->e.node_stats_fd, id, &c))
			continue;
		dt = (now - n->census.ctr_ns) / 1e9;
		/* A counter going back means the slot was reset: no rate from across it. */
		n->census.have_rates = n->census.have_ctr && dt > 0 && c.packets >= n->census.ctr.packets &&
				c.new_flows >= n->census.ctr.new_flows;
		if (n->census.have_rates) {
			n->census.new_flows_s = (c.new_flows - n->census.ctr.new_flows) / dt;
			n->census.packets_s = (c.packets - n->census.ctr.packets) / dt;
			n->census.bytes_s = (c.bytes - n->census.ctr.bytes) / dt;
		}
		n->census.ctr = c;
		n->census.ctr_ns = now;
		n->census.have_ctr = true;
	}
}

static json_object *num_or_null(bool known, double v)
{
	char buf[32];

	if (!known)
		return NULL;
	snprintf(buf, sizeof(buf), "%.3f", v);
	return json_object_new_double_s(v, buf);
}

/* ebbd --once: one measurement (a whole pass, unpaced) printed as JSON; nothing is written. */
int measure_once(struct agent *a)
{
	__u64 wall0 = ebb_now_ns(), cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID), now, pass_cpu;
	json_object *doc, *nodes;
	int ret;

	census_ready(a); /* loaded once by the daemon: not part of a pass */
	if (run.census) /* --once changes nothing, not even the entries a daemon's pass clears */
		ebb_census_io(run.census)->no_clear = 1;
	now = ebb_now_ns();
	if (pass_start(a, now))
		return -1;
	run.pass->now = run.pass->first_now = now;
	pass_cpu = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	ret = census_pass(a, run.pass) ? ebb_flows_walk(&a->e, &run.walk, 0, on_flow, run.pass) : 1;
	pass_cpu = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - pass_cpu;
	if (ret < 0) {
		fprintf(stderr, "Error: cannot read the flow table: %s\n", strerror(-ret));
		return -1;
	}
	pass_publish(a, ebb_now_ns());
	measure_counters(a, ebb_now_ns());
	now = ebb_now_ns();

	doc = json_object_new_object();
	json_object_object_add(doc, "bpffs", json_object_new_string(a->bpffs));
	json_object_object_add(doc, "cycle_ms", num_or_null(true, (now - wall0) / 1e6));
	json_object_object_add(doc, "cpu_ms",
			       num_or_null(true, (cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / 1e6));
	json_object_object_add(doc, "walk_ms", num_or_null(true, a->census.pass_ms));
	json_object_object_add(doc, "walk_cpu_ms", num_or_null(true, pass_cpu / 1e6));
	json_object_object_add(doc, "flows_walked", json_object_new_int64(a->census.walked));
	json_object_object_add(doc, "flows_live", json_object_new_int64(a->census.live_total));
	json_object_object_add(doc, "counted_by", json_object_new_string(
		run.census ? "census" : "walk"));
	nodes = json_object_new_array();
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];
		bool draining = n->entry.state == EBB_NODE_DRAINING;
		json_object *o;

		if (!n->used)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int(id));
		json_object_object_add(o, "addr", json_object_new_string(n->name));
		json_object_object_add(o, "state", json_object_new_string(ebb_state_name(n->entry.state)));
		json_object_object_add(o, "pool", pool_name(a, n->pool) ?
							  json_object_new_string(pool_name(a, n->pool)) : NULL);
		json_object_object_add(o, "flows", json_object_new_int64(n->census.flows));
		/* Rates need two readings an interval apart: the daemon has them, one cycle has not. */
		json_object_object_add(o, "new_flows_per_s", NULL);
		json_object_object_add(o, "packets_per_s", NULL);
		json_object_object_add(o, "bytes_per_s", NULL);
		json_object_object_add(o, "new_flows", json_object_new_int64(n->census.ctr.new_flows));
		json_object_object_add(o, "packets", json_object_new_int64(n->census.ctr.packets));
		json_object_object_add(o, "bytes", json_object_new_int64(n->census.ctr.bytes));
		json_object_object_add(o, "drain_elapsed_s",
				       num_or_null(draining, (now - n->entry.state_since_ns) / 1e9));
		json_object_object_add(o, "drain_timeout_s",
				       draining ? json_object_new_int64(node_drain_timeout(a, n)) : NULL);
		json_object_array_add(nodes, o);
	}
	json_object_object_add(doc, "nodes", nodes);
	printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(doc);
	return 0;
}
