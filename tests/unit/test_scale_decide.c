// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbd's scaling decision (user/ebbd/scale_decide.c), a pure function, over its rules: the
 * tolerance, the windows (scale out on the smallest desired count of its window, scale in on the
 * largest of its own and only after watching a whole one), [min, max], draining nodes' load,
 * which node is drained and which activated, the hook and its cooldown, a pool without figures.
 * Each case feeds a pool interval by interval, as scale.c does, and reads what it decided.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scale_decide.h"
#include "test.h"

#define S 1000000000ULL
#define T0 (5000 * S) /* the first interval (CLOCK_MONOTONIC) */

#define A EBB_NODE_ACTIVE
#define D EBB_NODE_DRAINING
#define I EBB_NODE_INACTIVE

/* A pool: target 100 flows a node, tolerance 0.1, between 1 and 10 nodes, no windows (act at
 * once), hook cooldown 60 s; its window's memory as scale.c keeps it. */
struct pool {
	struct scale_cfg cfg;
	struct scale_node nodes[16];
	int n;
	struct scale_sample ring[64];
	struct scale_hist hist;
	__u64 now, hook_ns;
	struct scale_out out;
};

static void pool_init(struct pool *p)
{
	memset(p, 0, sizeof(*p));
	p->cfg = (struct scale_cfg){ .enabled = true, .metric = METRIC_FLOWS, .target = 100, .tolerance = 0.1,
				     .min = 1, .max = 10, .hook_cooldown = 60 };
	p->hist = (struct scale_hist){ .ring = p->ring, .cap = 64 };
	p->now = T0;
}

static struct scale_node *add(struct pool *p, __u8 state, double load, __u64 since_s)
{
	struct scale_node *n = &p->nodes[p->n];

	*n = (struct scale_node){ .id = p->n + 1, .state = state, .known = true, .value = load,
				  .flows = (__u64)load, .state_since_ns = since_s * S };
	p->n++;
	return n;
}

/* Every active and draining node at `load` (in step, as a balanced pool is). */
static void set_load(struct pool *p, double load)
{
	for (int i = 0; i < p->n; i++)
		p->nodes[i].value = p->nodes[i].flows = load;
}

/* One interval `dt` seconds after the last. */
static const struct scale_out *tick(struct pool *p, double dt)
{
	struct scale_in in = { .cfg = &p->cfg, .nodes = p->nodes, .n_nodes = p->n, .now = p->now,
			       .hook_ns = p->hook_ns };

	p->now += (__u64)(dt * S);
	in.now = p->now;
	scale_decide(&in, &p->hist, &p->out);
	return &p->out;
}

static bool is(const struct scale_out *o, enum scale_action a, const char *reason)
{
	bool ok = o->action == a && !strcmp(o->reason, reason);

	if (!ok)
		printf("#   got %s (%s), expected %s (%s)\n", scale_action_name(o->action), o->reason,
		       scale_action_name(a), reason);
	return ok;
}

static void test_tolerance(void)
{
	struct pool p;
	const struct scale_out *o;

	pool_init(&p);
	add(&p, A, 108, 0);
	add(&p, A, 108, 0);
	add(&p, I, 0, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady"), "tolerance: 216 over 2 x 100 (ratio 1.08): hold");
	ASSERT_EQ(o->desired, 2, "tolerance: ... desired stays at the active count, not ceil(2.16)");
	ASSERT_TRUE(fabs(o->ratio - 1.08) < 1e-9 && o->total == 216 && o->active == 2,
		    "tolerance: ... the ratio, total and active count as computed");
	set_load(&p, 111);
	o = tick(&p, 1);
	ASSERT_TRUE(is(o, SCALE_OUT, "above_target") && o->desired == 3 && o->want == 1,
		    "tolerance: 222 (ratio 1.11): out of tolerance, desired ceil(2.22) = 3, one more");
	pool_init(&p);
	add(&p, A, 45, 0);
	add(&p, A, 45, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_IN, "below_target") && o->desired == 1 && o->want == 1,
		    "tolerance: 90 over 2 x 100 (ratio 0.45): out of tolerance, desired 1, one fewer");
}

static void test_scale_out_window(void)
{
	struct pool p;
	const struct scale_out *o;

	pool_init(&p);
	p.cfg.out_window = 30;
	add(&p, A, 100, 0);
	add(&p, I, 0, 50);
	tick(&p, 0);
	set_load(&p, 300);
	o = tick(&p, 10);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady") && o->desired == 3,
		    "out window: load tripled, but the window still holds a desired 1: hold");
	o = tick(&p, 10);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady"), "out window: 10 s later, the 1 is 20 s old: hold");
	o = tick(&p, 15);
	ASSERT_TRUE(is(o, SCALE_OUT, "above_target") && o->window_desired == 3 && o->window_s == 30,
		    "out window: 35 s after the 1, the window's smallest is 3: out");
	ASSERT_TRUE(o->want == 2 && o->n_pick == 1 && o->pick[0] == 2 && o->hook_wanted == 1,
		    "out window: two wanted: the inactive node, and the hook asked for one");
}

static void test_scale_in_window(void)
{
	struct pool p;
	const struct scale_out *o;

	pool_init(&p);
	p.cfg.in_window = 60;
	add(&p, A, 100, 0);
	add(&p, A, 100, 0);
	add(&p, A, 100, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady"), "in window: 300 on 3 nodes: hold");
	set_load(&p, 30);
	o = tick(&p, 10);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady") && o->desired == 1 && o->window_desired == 3,
		    "in window: load fell to 90, the window's largest is still 3: hold");
	for (int i = 0; i < 5; i++)
		o = tick(&p, 10);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady"), "in window: 60 s after the 3 (not more): hold");
	o = tick(&p, 10);
	ASSERT_TRUE(is(o, SCALE_IN, "below_target") && o->want == 2 && o->n_pick == 2 &&
			    o->window_desired == 1 && o->window_s == 60,
		    "in window: 70 s after the 3, low ever since: drain 2 of 3");
	/* one high interval inside the window holds the pool again */
	set_load(&p, 100);
	tick(&p, 10);
	set_load(&p, 30);
	o = tick(&p, 10);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady") && o->window_desired == 3,
		    "in window: a spike 10 s ago keeps the largest desired at 3: hold");
}

static void test_watched_whole_window(void)
{
	struct pool p;
	const struct scale_out *o;

	/* ebbd (re)started on an idle pool: the window holds only low samples, but it has not
	 * watched a whole window yet */
	pool_init(&p);
	p.cfg.in_window = 60;
	add(&p, A, 10, 0);
	add(&p, A, 10, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_HOLD, "in_window_young"), "young: first interval on an idle pool: hold");
	o = tick(&p, 59);
	ASSERT_TRUE(is(o, SCALE_HOLD, "in_window_young"), "young: 59 s watched of 60: hold");
	o = tick(&p, 1);
	ASSERT_TRUE(is(o, SCALE_IN, "below_target") && o->n_pick == 1, "young: 60 s watched: drain one");
}

static void test_min_max(void)
{
	struct pool p;
	const struct scale_out *o;

	pool_init(&p);
	p.cfg.min = 2;
	add(&p, A, 0, 0);
	add(&p, A, 0, 0);
	add(&p, A, 0, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_IN, "below_target") && o->desired == 2 && o->want == 1 && o->n_pick == 1,
		    "min: an idle pool of 3 drains to its min 2, not to 0");
	pool_init(&p);
	p.cfg.min = 3;
	add(&p, A, 0, 0);
	add(&p, I, 0, 0);
	add(&p, I, 0, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_OUT, "above_target") && o->desired == 3 && o->n_pick == 2,
		    "min: an idle pool below its min of 3 activates 2");
	pool_init(&p);
	p.cfg.max = 3;
	add(&p, A, 1000, 0);
	for (int i = 0; i < 5; i++)
		add(&p, I, 0, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_OUT, "above_target") && o->desired == 3 && o->want == 2 && o->n_pick == 2 &&
			    o->hook_wanted == 0,
		    "max: 1000 asks for 10 nodes, max 3: two more, none asked of the hook");
	pool_init(&p);
	p.cfg.max = 2;
	add(&p, A, 150, 0);
	add(&p, A, 150, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady") && o->desired == 2, "max: at max, overloaded: hold");
}

static void test_pick_to_drain(void)
{
	struct pool p;
	const struct scale_out *o;

	pool_init(&p);
	add(&p, A, 0, 100)->flows = 7; /* 1 */
	add(&p, A, 0, 100)->flows = 3; /* 2 */
	add(&p, A, 0, 300)->flows = 3; /* 3: as few, and younger */
	add(&p, A, 0, 300)->flows = 3; /* 4: the same as 3: the lower id first */
	add(&p, I, 0, 900); /* 5: not active: never drained */
	add(&p, D, 0, 900); /* 6: already draining */
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_IN, "below_target") && o->want == 3 && o->n_pick == 3,
		    "drain pick: 4 active, desired 1: three to drain");
	ASSERT_TRUE(o->pick[0] == 3 && o->pick[1] == 4 && o->pick[2] == 2,
		    "drain pick: fewest flows, then the youngest, then the lowest id: 3, 4, 2 (1 kept)");
}

static void test_pick_to_activate(void)
{
	struct pool p;
	const struct scale_out *o;

	pool_init(&p);
	add(&p, A, 1000, 0); /* 1 */
	add(&p, I, 0, 500); /* 2: retired at 500 */
	add(&p, I, 0, 800); /* 3: retired last */
	add(&p, D, 0, 100)->flows = 5; /* 4 */
	add(&p, D, 0, 200)->flows = 9; /* 5: most flows of the draining */
	add(&p, I, 0, 800); /* 6: as recent as 3: after it */
	o = tick(&p, 0);
	/* the draining nodes' (0) load counts: 1000 still asks for 10 */
	ASSERT_TRUE(is(o, SCALE_OUT, "above_target") && o->want == 9 && o->n_pick == 5,
		    "activate pick: 9 wanted, 5 to activate");
	ASSERT_TRUE(o->pick[0] == 5 && o->pick[1] == 4 && o->pick[2] == 3 && o->pick[3] == 6 && o->pick[4] == 2,
		    "activate pick: draining by most flows (5, 4), then inactive by latest retirement (3, 6, 2)");
	ASSERT_EQ(o->hook_wanted, 4, "activate pick: the hook asked for the 4 the pool lacks");
}

static void test_draining_load_counts(void)
{
	struct pool p;
	const struct scale_out *o;

	/* one node just drained by scale-in still carries 90 flows: the pool does not drain
	 * another at once on the two actives' 20 */
	pool_init(&p);
	add(&p, A, 10, 0);
	add(&p, A, 10, 0);
	add(&p, D, 90, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady") && o->total == 110 && o->active == 2 && o->desired == 2,
		    "draining: its 90 counted in the total (110, desired 2): hold, no second scale-in");
	p.nodes[2].value = 0;
	o = tick(&p, 1);
	ASSERT_TRUE(is(o, SCALE_IN, "below_target") && o->n_pick == 1,
		    "draining: once its flows ended, the 20 left ask for one node: drain one");
}

static void test_unknown_figures(void)
{
	struct pool p;
	const struct scale_out *o;

	pool_init(&p);
	add(&p, A, 500, 0);
	add(&p, D, 0, 0)->known = false;
	add(&p, I, 0, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_WAIT, "metric_unknown"), "unknown: a draining node without a figure: wait");
	ASSERT_TRUE(!p.hist.evaluated && p.hist.n == 0, "unknown: ... nothing remembered, the pool not watched");
	p.nodes[1].known = true;
	p.nodes[2].known = false; /* inactive: carries nothing, its figure is not asked */
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_OUT, "above_target") && p.hist.n == 1 && p.hist.first_ns == p.now,
		    "unknown: an inactive node without a figure does not hold the pool; watched from now");
}

static void test_hook_cooldown(void)
{
	struct pool p;
	const struct scale_out *o;

	pool_init(&p);
	add(&p, A, 300, 0);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_OUT, "above_target") && o->n_pick == 0 && o->hook_wanted == 2,
		    "hook: no node to activate: the hook asked for 2");
	p.hook_ns = p.now;
	o = tick(&p, 59);
	ASSERT_TRUE(is(o, SCALE_OUT, "above_target") && o->want == 2 && o->hook_wanted == 0,
		    "hook: 59 s after it ran (cooldown 60): not asked again");
	o = tick(&p, 1);
	ASSERT_EQ(o->hook_wanted, 2, "hook: 60 s after: asked again");
}

static void test_no_active_node(void)
{
	struct pool p;
	const struct scale_out *o;

	pool_init(&p);
	add(&p, I, 0, 10);
	add(&p, D, 250, 20);
	o = tick(&p, 0);
	ASSERT_TRUE(isnan(o->ratio) && o->desired == 3 && is(o, SCALE_OUT, "above_target"),
		    "no active node: no ratio, desired ceil(250 / 100) = 3, out");
	ASSERT_TRUE(o->n_pick == 2 && o->pick[0] == 2 && o->pick[1] == 1 && o->hook_wanted == 1,
		    "no active node: the draining one, then the inactive one, then the hook");
	pool_init(&p);
	add(&p, I, 0, 10);
	o = tick(&p, 0);
	ASSERT_TRUE(is(o, SCALE_OUT, "above_target") && o->desired == 1 && o->pick[0] == 1,
		    "no active node, no load: min 1 activates one");
}

static void test_ring_wraps(void)
{
	struct pool p;
	const struct scale_out *o;

	/* far more intervals than the ring holds (64): it keeps the newest, the window reads them */
	pool_init(&p);
	p.cfg.in_window = 30;
	add(&p, A, 100, 0);
	add(&p, A, 100, 0);
	for (int i = 0; i < 200; i++)
		o = tick(&p, 1);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady") && p.hist.n == 64, "ring: 200 intervals, 64 kept");
	set_load(&p, 10);
	for (int i = 0; i < 30; i++)
		o = tick(&p, 1);
	ASSERT_TRUE(is(o, SCALE_HOLD, "steady"), "ring: low for 30 s of a 30 s window, the 2 still in it: hold");
	o = tick(&p, 1);
	ASSERT_TRUE(is(o, SCALE_IN, "below_target"), "ring: 31 s: drain one");
	ASSERT_EQ(scale_hist_cap(&p.cfg, 0.5), 30 / 0.5 + 8, "ring: sized for the longer window an interval, and 8");
}

static void test_inputs_untouched(void)
{
	struct pool p;
	struct scale_node before[16];

	pool_init(&p);
	add(&p, A, 0, 5)->flows = 4;
	add(&p, A, 0, 6)->flows = 2;
	memcpy(before, p.nodes, sizeof(before));
	tick(&p, 0);
	ASSERT_TRUE(p.out.action == SCALE_IN && !memcmp(before, p.nodes, sizeof(before)),
		    "inputs: scale_decide reads the nodes and leaves them as they were");
}

int main(void)
{
	test_tolerance();
	test_scale_out_window();
	test_scale_in_window();
	test_watched_whole_window();
	test_min_max();
	test_pick_to_drain();
	test_pick_to_activate();
	test_draining_load_counts();
	test_unknown_figures();
	test_hook_cooldown();
	test_no_active_node();
	test_ring_wraps();
	test_inputs_untouched();
	printf("1..%d\n", test_checks);
	return test_failures ? 1 : 0;
}
