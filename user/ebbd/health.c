// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Health checks, per pool: a TCP connect or an HTTP GET to each node, every interval, with
 * rise/fall counts as in HAProxy. `fall` failures in a row take an active or draining node
 * `down` (no new flows, its flows re-steered by the datapath); `rise` successes bring a down
 * node back to the state it had before (state_before_down, kept in the map): a draining node
 * that failed comes back draining, never active. Inactive nodes are not checked: they may be
 * machines handed back. The streaks are observations: a restarted ebbd counts afresh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ebbd.h"

struct check_ctx {
	struct agent *a;
	__u32 id;
	__u64 gen;
};

static void go_down(struct agent *a, struct node *n, const char *detail)
{
	const struct health_cfg *h = &a->cfg.pools[n->pool].health;
	json_object *ev = log_new(LOG_WARN, "down");

	json_add_str(ev, "reason", "health_check");
	json_add_str(ev, "check", detail);
	json_add_int(ev, "failures", n->health.fail_streak);
	json_add_int(ev, "fall", h->fall);
	json_add_int(ev, "flows", n->census.flows);
	node_transition(a, n, EBB_NODE_DOWN, 0, EV_DOWN, ev, 0);
}

static void go_up(struct agent *a, struct node *n)
{
	const struct health_cfg *h = &a->cfg.pools[n->pool].health;
	__u8 back = n->entry.state_before_down;
	json_object *ev = log_new(LOG_INFO, "up");

	/* Maps made before state_before_down existed hold 0 there: such a node was serving. */
	if (back != EBB_NODE_ACTIVE && back != EBB_NODE_DRAINING && back != EBB_NODE_INACTIVE)
		back = EBB_NODE_ACTIVE;
	json_add_str(ev, "reason", "health_check");
	json_add_int(ev, "successes", n->health.ok_streak);
	json_add_int(ev, "rise", h->rise);
	node_transition(a, n, back, back == EBB_NODE_DRAINING ? n->entry.drain_timeout_s : 0, EV_UP, ev, 0);
}

static void on_result(bool ok, const char *detail, const char *body, void *arg)
{
	struct check_ctx *c = arg;
	struct agent *a = c->a;
	struct node *n = &a->nodes[c->id];
	__u64 gen = c->gen;

	(void)body;
	free(c);
	if (!n->used || n->gen != gen)
		return; /* the node went away meanwhile */
	n->health.checking = false;
	if (n->pool < 0 || a->cfg.pools[n->pool].health.type == CHECK_NONE)
		return; /* no longer checked (configuration reloaded) */
	if (ok) {
		n->health.ok_streak++;
		n->health.fail_streak = 0;
	} else {
		n->health.fail_streak++;
		n->health.ok_streak = 0;
		a->check_failures++;
	}
	if (log_enabled(LOG_DEBUG)) {
		json_object *ev = log_new(LOG_DEBUG, "check");

		json_add_str(ev, "node", n->name);
		json_add_bool(ev, "ok", ok);
		json_add_str(ev, "detail", detail);
		log_emit(ev);
	}
	if (n->entry.state == EBB_NODE_DOWN) {
		if (n->health.ok_streak >= a->cfg.pools[n->pool].health.rise)
			go_up(a, n);
	} else if ((n->entry.state == EBB_NODE_ACTIVE || n->entry.state == EBB_NODE_DRAINING) &&
		   n->health.fail_streak >= a->cfg.pools[n->pool].health.fall) {
		go_down(a, n, detail);
	}
}

void health_tick(struct agent *a, __u64 now)
{
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];
		const struct health_cfg *h;
		struct net_req_opts o;
		struct check_ctx *c;
		int ret;

		if (!n->used || n->pool < 0 || n->health.checking || n->entry.state == EBB_NODE_INACTIVE)
			continue;
		h = &a->cfg.pools[n->pool].health;
		if (h->type == CHECK_NONE || now < n->health.next_check_ns)
			continue;
		n->health.next_check_ns = now + (__u64)(h->interval * NS_PER_S);
		o = (struct net_req_opts){ .addr = n->addr, .port = h->port, .http = h->type == CHECK_HTTP,
					   .host = n->name, .path = h->path, .timeout_s = h->timeout };
		c = malloc(sizeof(*c));
		if (!c)
			continue;
		*c = (struct check_ctx){ .a = a, .id = id, .gen = n->gen };
		ret = net_start(&o, on_result, c);
		if (ret == -EBUSY || ret == -EMFILE || ret == -ENFILE || ret == -ENOMEM || ret == -ENOBUFS) {
			/* Out of local resources: that says nothing about the node. */
			log_msg(LOG_WARN, "check_not_started", "health check of %s: %s", n->name,
				strerror(-ret));
			free(c);
			continue;
		}
		n->health.checking = true;
		if (ret) /* refused at once (unreachable...): a failed check like any other */
			on_result(false, strerror(-ret), NULL, c);
	}
}

void health_reset(struct agent *a)
{
	for (__u32 id = 0; id < EBB_MAX_NODES; id++) {
		struct node_health *h = &a->nodes[id].health;

		h->ok_streak = h->fail_streak = 0;
		h->next_check_ns = 0;
	}
}
