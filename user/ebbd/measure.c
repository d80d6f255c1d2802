// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Measurement. One pass over the flow table gives every node's live flows, and for each
 * draining node the keys of its live flows, which drain.c then looks up one by one instead of
 * walking the table again. A pass is a census (user/lib/census.c: the mmapped flow table read
 * in place, a few ns per entry; it also clears finished and idle entries before their tick
 * wraps, doc/flow-table.md "The census over the table") where the keys fit its list; else the
 * table is walked with batch lookups (~0.4 us per entry; it cannot read the bucket table yet
 * and fails), paced: it may use cfg.walk_cpu of one core (a token bucket of CPU time, which the
 * census draws on too), and a pass over a big table is spread over several ticks. Counters (packets, bytes, new flows) come from node_stats and
 * give the rates, once per interval.
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

/* Active and draining nodes keep their pinned flows; the others' are re-steered by their next
 * packet, which takes them from the node without loss. */
static bool takes_pinned(const struct node *n)
{
	return n->m.state == EBB_NODE_ACTIVE || n->m.state == EBB_NODE_DRAINING;
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

	if (a->census_off)
		return -EOPNOTSUPP;
	if (a->census && !ebb_census_current(a->census, &a->e)) {
		ebb_census_close(a->census); /* the table was re-created: count the new one */
		a->census = NULL;
	}
	if (!a->census) {
		ret = ebb_census_open(&a->e, &a->census);
		if (ret) {
			a->census_off = true;
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
	io = ebb_census_io(a->census);
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
	ret = ebb_census_run(a->census);
	if (ret)
		return ret;
	if (io->n_keys > EBB_CENSUS_KEYS)
		return -ENOSPC;
	if (io->n_keys) {
		keys = calloc(io->n_keys, sizeof(*keys));
		ret = keys ? ebb_census_keys(a->census, keys, io->n_keys) : -ENOMEM;
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
	a->walk.visited = io->visited;
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
		if (n->m.state != EBB_NODE_DRAINING)
			continue;
		/*
		 * Every flow pinned to a node bumps its new_flows counter. Read before the walk, an
		 * unchanged counter later proves that the keys collected are all the node has.
		 */
		if (ebb_counters_sum(a->e.node_stats_fd, id, &c))
			continue;
		p->drain_since[id] = n->m.state_since_ns;
		p->lists[id] = (struct watch){ .valid = true, .since = n->m.state_since_ns,
					       .new_flows0 = c.new_flows };
		if (n->watch.since != n->m.state_since_ns && n->flows_known && n->flows_t0)
			p->ended_after[id] = n->flows_t0 > DRAIN_END_SLACK_NS ?
						     n->flows_t0 - DRAIN_END_SLACK_NS : 1;
	}
	a->pass = p;
	a->pass_started_ns = now;
	return 0;
}

static void pass_publish(struct agent *a, __u64 now)
{
	struct pass *p = a->pass;

	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];
		struct watch *w = &p->lists[id];

		if (n->used && n->gen == p->gen[id]) {
			bool took = p->took[id] && takes_pinned(n);

			if (p->drain_since[id] && n->m.state == EBB_NODE_DRAINING &&
			    n->m.state_since_ns == p->drain_since[id]) {
				json_object *ev = log_new(LOG_DEBUG, "drain_listed");
				bool first = n->watch.since != p->drain_since[id];

				jstr(ev, "node", n->name);
				jint(ev, "flows", (long long)w->n);
				/* Before the first list only the count tells flows lost (drain.c). */
				if (first && p->ended_after[id] && took) {
					__u64 lost = drain_lost_unlisted(n->flows, p->live[id],
									 p->ended[id]);

					jint(ev, "flows_before", (long long)n->flows);
					jdbl(ev, "before_s", (p->first_now - n->flows_t0) / 1e9);
					jint(ev, "ended_since", (long long)p->ended[id]);
					jint(ev, "flows_lost", (long long)lost);
					if (lost)
						drain_note_lost(a, n, lost, now);
				}
				if (first) {
					watch_reset(&n->watch);
					n->watch = *w;
					*w = (struct watch){};
				} else {
					watch_merge(&n->watch, w);
					jint(ev, "watched", (long long)n->watch.n);
				}
				log_emit(ev);
				if (p->last_end[id] > n->last_end_ns)
					n->last_end_ns = p->last_end[id];
			}
			n->flows = p->live[id];
			n->flows_known = true;
			n->flows_t0 = took ? p->first_now : 0;
		}
		free(w->keys);
	}
	a->walked = a->walk.visited;
	a->walks++;
	a->counted_rev = p->rev;
	a->live_total = p->live_total;
	a->pass_ms = (now - p->started_ns) / 1e6;
	a->have_pass = true;
	free(p);
	a->pass = NULL;
}

/* A draining node whose flows are not listed yet (new drain, or a list found incomplete). */
static bool drain_wants_pass(const struct agent *a)
{
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];

		if (n->used && n->m.state == EBB_NODE_DRAINING &&
		    (n->watch.since != n->m.state_since_ns || n->watch.stale))
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
	a->tokens_ns += (now - a->tokens_at) * a->cfg.walk_cpu;
	if (a->tokens_ns > cap)
		a->tokens_ns = cap;
	a->tokens_at = now;
	/* A node that took no pinned flows at some tick: its count before says nothing of losses. */
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		if (a->nodes[id].used && !takes_pinned(&a->nodes[id])) {
			a->nodes[id].flows_t0 = 0;
			if (a->pass)
				a->pass->took[id] = false;
		}
	}
	if (!a->pass) {
		if (a->have_pass && now - a->pass_started_ns < a->cfg.interval * NS_PER_S &&
		    !drain_wants_pass(a))
			return;
		if (pass_start(a, now))
			return;
	}
	if (a->tokens_ns <= 0)
		return;
	a->pass->now = ebb_now_ns();
	if (!a->pass->first_now)
		a->pass->first_now = a->pass->now;
	t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	if (!a->walk.started && !census_pass(a, a->pass)) {
		a->tokens_ns -= cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
		pass_publish(a, ebb_now_ns());
		return;
	}
	ret = ebb_flows_walk(&a->e, &a->walk, (__u64)a->tokens_ns, on_flow, a->pass);
	a->tokens_ns -= cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	if (ret < 0) {
		log_msg(LOG_ERROR, "walk_failed", "cannot read the flow table: %s", strerror(-ret));
		pass_free(a);
	} else if (ret == 1) {
		pass_publish(a, ebb_now_ns());
	}
}

void measure_counters(struct agent *a, __u64 now)
{
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];
		struct ebb_counters c;
		double dt;

		if (!n->used || ebb_counters_sum(a->e.node_stats_fd, id, &c))
			continue;
		dt = (now - n->ctr_ns) / 1e9;
		/* A counter going back means the slot was reset: no rate from across it. */
		n->have_rates = n->have_ctr && dt > 0 && c.packets >= n->ctr.packets &&
				c.new_flows >= n->ctr.new_flows;
		if (n->have_rates) {
			n->new_flows_s = (c.new_flows - n->ctr.new_flows) / dt;
			n->packets_s = (c.packets - n->ctr.packets) / dt;
			n->bytes_s = (c.bytes - n->ctr.bytes) / dt;
		}
		n->ctr = c;
		n->ctr_ns = now;
		n->have_ctr = true;
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

	if (state_refresh(a))
		return -1;
	census_ready(a); /* loaded once by the daemon: not part of a pass */
	if (a->census) /* --once changes nothing, not even the entries a daemon's pass clears */
		ebb_census_io(a->census)->no_clear = 1;
	now = ebb_now_ns();
	if (pass_start(a, now))
		return -1;
	a->pass->now = a->pass->first_now = now;
	pass_cpu = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	ret = census_pass(a, a->pass) ? ebb_flows_walk(&a->e, &a->walk, 0, on_flow, a->pass) : 1;
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
	json_object_object_add(doc, "walk_ms", num_or_null(true, a->pass_ms));
	json_object_object_add(doc, "walk_cpu_ms", num_or_null(true, pass_cpu / 1e6));
	json_object_object_add(doc, "flows_walked", json_object_new_int64(a->walked));
	json_object_object_add(doc, "flows_live", json_object_new_int64(a->live_total));
	json_object_object_add(doc, "counted_by", json_object_new_string(
		a->census ? "census" : "walk"));
	nodes = json_object_new_array();
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];
		bool draining = n->m.state == EBB_NODE_DRAINING;
		json_object *o;

		if (!n->used)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int(id));
		json_object_object_add(o, "addr", json_object_new_string(n->name));
		json_object_object_add(o, "state", json_object_new_string(ebb_state_name(n->m.state)));
		json_object_object_add(o, "pool", pool_name(a, n->pool) ?
							  json_object_new_string(pool_name(a, n->pool)) : NULL);
		json_object_object_add(o, "flows", json_object_new_int64(n->flows));
		/* Rates need two readings an interval apart: the daemon has them, one cycle has not. */
		json_object_object_add(o, "new_flows_per_s", NULL);
		json_object_object_add(o, "packets_per_s", NULL);
		json_object_object_add(o, "bytes_per_s", NULL);
		json_object_object_add(o, "new_flows", json_object_new_int64(n->ctr.new_flows));
		json_object_object_add(o, "packets", json_object_new_int64(n->ctr.packets));
		json_object_object_add(o, "bytes", json_object_new_int64(n->ctr.bytes));
		json_object_object_add(o, "drain_elapsed_s",
				       num_or_null(draining, (now - n->m.state_since_ns) / 1e9));
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
