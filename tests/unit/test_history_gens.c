// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The slot history rebuilt from member sets (user/lib/history.c, ebb_history_rebuild and
 * ebb_history_replace): what a fleet host does with a VIP's generations in etcd (doc/fleet.md,
 * "The slot history's generations"). On the real balancer's maps, pinned in a bpffs directory
 * of this run's own:
 *  - five changes made one at a time on VIP1 by libebb (node add, weight, drain, node add, node
 *    del), the member set before each kept as its generation: the rebuild from the five sets and
 *    the tables now equals the map's history slot by slot (owners, and until within a tick);
 *  - VIP2 built straight in the final state (a host that missed every change; its staged adds
 *    leave history of their own): after ebb_history_replace from the same generations its
 *    entries equal VIP1's, slot by slot; a second replace rewrites nothing;
 *  - a node this host does not hold places (its slots) but is named by no entry;
 *  - a generation past its until gives no owner.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ebb.h"
#include "libebb.h"
#include "test.h"
#include "pinned.h"

/* the generations' lifetime: far longer than the test runs, so that none expires before the
 * check that makes one expire on purpose ("a generation past its time") */
#define IDLE_S 3600
#define VIP1 "203.0.113.10:80/tcp"
#define VIP2 "203.0.113.20:80/tcp"
#define A "198.51.100.11"
#define B "198.51.100.12"
#define C "198.51.100.13"
#define D "198.51.100.14"
#define E "198.51.100.15"
#define NGEN 5
/* a generation's until is taken before its change, a change's own as it writes: 2 s apart at
 * most on this machine (hosts read a lease's time in whole seconds: the same slack) */
#define SLACK ((__s32)((2 * 1000000000ULL) >> EBB_SEEN_SHIFT))

static const __u8 MAC[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static struct pinned P;
static struct ebb *e = &P.e;

static __u32 vip_id(const char *s)
{
	struct ebb_vip_key k = vkey(s);
	struct ebb_vip v;

	if (ebb_vip_find(e, &k, &v))
		abort();
	return v.id;
}

static int vip_add(const char *s)
{
	struct ebb_vip_key k = vkey(s);
	struct ebb_vip_opts o = { .fwd = EBB_FWD_DSR, .tcp_idle_s = IDLE_S };

	return ebb_vip_add(e, &k, &o, NULL);
}

static int node_add(const char *n, const char *v, __u32 weight)
{
	struct ebb_node_opts o = { .have_mac = true, .weight = weight };
	struct ebb_vip_key k = vkey(v);
	struct ebb_addr a = addr(n);

	memcpy(o.mac, MAC, 6);
	return ebb_node_add(e, &a, &k, &o, NULL);
}

static __u32 node_id(const char *n)
{
	struct ebb_addr a = addr(n);
	__u32 id = 0;

	ebb_node_find(e, &a, &id, NULL);
	return id;
}

static void read_tables(__u32 vid, __u32 *n, __u32 *s)
{
	if (ebb_ring_read(e, EBB_RING_NEW(vid), n))
		memset(n, 0, EBB_RING_SIZE * 4);
	if (ebb_ring_read(e, EBB_RING_SECOND(vid), s))
		memset(s, 0, EBB_RING_SIZE * 4);
}

/* The VIP's member set as the maps have it: what a host builds from a generation's value. */
static size_t member_set(__u32 vid, struct ebb_history_member *m)
{
	size_t n = 0;

	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct ebb_member_key mk = { .vip_id = vid, .node_id = id };
		struct ebb_member mem;
		struct ebb_node node;

		if (bpf_map_lookup_elem(e->nodes_fd, &id, &node) || bpf_map_lookup_elem(e->members_fd, &mk, &mem) ||
		    (node.state != EBB_NODE_ACTIVE && node.state != EBB_NODE_DRAINING))
			continue;
		memset(&m[n], 0, sizeof(m[n]));
		m[n].mn.id = id;
		m[n].mn.weight = mem.weight;
		memcpy(m[n].mn.seed, node.addr, 16);
		m[n].mn.seed[16] = node.family;
		m[n++].active = node.state == EBB_NODE_ACTIVE;
	}
	return n;
}

static __u32 idle_ticks(void)
{
	return (__u32)(((__u64)IDLE_S * 1000000000ULL + EBB_SEEN_TICK_NS - 1) >> EBB_SEEN_SHIFT);
}

static struct ebb_history_member mem[NGEN + 2][EBB_MAX_NODES];
static struct ebb_history_gen gens[NGEN];
static int n_gens;

/* Keeps VIP1's set as the generation the next change replaces, then makes the change. */
static int change(__u32 vid, int r_of(void))
{
	__u64 t = ebb_now_ns();

	gens[n_gens] = (struct ebb_history_gen){ .m = mem[n_gens], .n = member_set(vid, mem[n_gens]),
						 .until = ebb_seen_tick(t) + idle_ticks() };
	n_gens++;
	return r_of();
}

static int add_d(void) { return node_add(D, VIP1, 0); }
static int add_e(void) { return node_add(E, VIP1, 0); }
static int weight_b(void)
{
	struct ebb_vip_key k = vkey(VIP1);
	struct ebb_addr a = addr(B);

	return ebb_node_set_weight(e, &a, &k, 50, NULL);
}
static int drain_c(void)
{
	struct ebb_addr a = addr(C);

	return ebb_node_set_state(e, &a, EBB_NODE_DRAINING, 0, NULL);
}
static int del_c(void)
{
	struct ebb_vip_key k = vkey(VIP1);
	struct ebb_addr a = addr(C);

	return ebb_node_del(e, &a, &k, true, NULL);
}

/* Slots where the map's entries of VIP x and VIP y (or the rebuilt want[]) differ by owners. */
static long differ(__u32 x, __u32 y, const struct ebb_slot_history *want, long *entries, long *two, long *late)
{
	long bad = 0;

	*entries = *two = *late = 0;
	for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
		struct ebb_slot_history hx = {}, hy = {};
		bool px = !ebb_history_get(e, x, s, &hx), py;

		if (want) {
			hy = want[s];
			py = hy.owner[0] != 0;
		} else {
			py = !ebb_history_get(e, y, s, &hy);
		}
		*entries += px;
		*two += px && hx.owner[1];
		for (int k = 0; k < EBB_HISTORY_OWNERS; k++)
			if (hx.owner[k] && ((__s32)(hx.until[k] - hy.until[k]) > SLACK || (__s32)(hy.until[k] - hx.until[k]) > SLACK))
				(*late)++;
		if (px != py || memcmp(hx.owner, hy.owner, sizeof(hx.owner))) {
			if (bad++ < 5)
				printf("#   slot %u: [%u %u] / [%u %u]\n", s, hx.owner[0], hx.owner[1], hy.owner[0],
				       hy.owner[1]);
		}
	}
	return bad;
}

int main(void)
{
	__u32 *cur_new, *cur_sec, *t1n, *t1s, *t2n, *t2s, v1, v2;
	struct ebb_slot_history *want;
	long entries, two, late, bad;

	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(pinned_libbpf_quiet);
	if (geteuid() != 0) {
		printf("ok 1 - history_gens # SKIP needs root (bpffs, maps)\n");
		return 0;
	}
	cur_new = calloc(EBB_RING_SIZE, 4);
	cur_sec = calloc(EBB_RING_SIZE, 4);
	t1n = calloc(EBB_RING_SIZE, 4);
	t1s = calloc(EBB_RING_SIZE, 4);
	t2n = calloc(EBB_RING_SIZE, 4);
	t2s = calloc(EBB_RING_SIZE, 4);
	want = calloc(EBB_RING_SIZE, sizeof(*want));
	if (!cur_new || !cur_sec || !t1n || !t1s || !t2n || !t2s || !want)
		abort();
	if (!pinned_setup(&P, "hgens", "main", 0))
		goto out;

	/* ---- changes one at a time, and the rebuild from their generations ---- */
	ASSERT_OK(vip_add(VIP1), "vip add " VIP1);
	ASSERT_OK(node_add(A, VIP1, 0) || node_add(B, VIP1, 0) || node_add(C, VIP1, 0), "nodes A, B, C on VIP1");
	v1 = vip_id(VIP1);
	/* the adds above made history of their own: the sequence starts from none */
	ebb_history_forget_vip(e, v1);
	ASSERT_OK(change(v1, add_d), "change 1: node add D");
	ASSERT_OK(change(v1, weight_b), "change 2: B's weight 100 -> 50");
	ASSERT_OK(change(v1, drain_c), "change 3: drain C");
	ASSERT_OK(change(v1, add_e), "change 4: node add E");
	ASSERT_OK(change(v1, del_c), "change 5: node del C from VIP1");
	read_tables(v1, cur_new, cur_sec);
	ASSERT_OK(ebb_history_rebuild(gens, NGEN, cur_new, cur_sec, ebb_seen_tick(ebb_now_ns()), want),
		  "rebuild from the 5 generations");
	bad = differ(v1, 0, want, &entries, &two, &late);
	ASSERT_EQ(bad, 0, "the rebuild names, slot by slot, the owners the 5 changes recorded one at a time");
	ASSERT_EQ(late, 0, "... each until within 2 s of the change's");
	printf("# VIP1: %ld slots with history, %ld with 2 owners\n", entries, two);
	ASSERT_TRUE(entries > 20000, "... over many slots (20000+)");
	ASSERT_TRUE(two > 1000, "... many with two owners: successive changes, latest first (1000+)");
	{
		long named_c = 0;
		__u32 c_id = node_id(C); /* once: a node's id is a search of the nodes map */

		for (__u32 s = 0; s < EBB_RING_SIZE; s++)
			named_c += want[s].owner[0] == c_id || want[s].owner[1] == c_id;
		ASSERT_TRUE(named_c > 10000, "... C (drained, then removed) is named in its old slots");
	}

	/* ---- a host that missed them: the final state, then the generations ---- */
	ASSERT_OK(vip_add(VIP2), "vip add " VIP2);
	ASSERT_OK(node_add(E, VIP2, 0) || node_add(D, VIP2, 0) || node_add(A, VIP2, 0) || node_add(B, VIP2, 50),
		  "VIP2 made straight in VIP1's final state (E, D, A, B weight 50)");
	v2 = vip_id(VIP2);
	read_tables(v2, t2n, t2s);
	ASSERT_TRUE(!memcmp(t2n, cur_new, EBB_RING_SIZE * 4) && !memcmp(t2s, cur_sec, EBB_RING_SIZE * 4),
		    "VIP2's tables are VIP1's");
	bad = differ(v1, v2, NULL, &entries, &two, &late);
	ASSERT_TRUE(bad > 0, "before: VIP2's history (its staged adds) differs from VIP1's");
	{
		__u64 t0 = ebb_now_ns();
		long r = ebb_history_replace(e, v2, gens, NGEN, ebb_now_ns());
		__u64 t1 = ebb_now_ns(), t2;

		ASSERT_TRUE(r == 0, "history replace on VIP2");
		ebb_history_rebuild(gens, NGEN, cur_new, cur_sec, ebb_seen_tick(ebb_now_ns()), want);
		t2 = ebb_now_ns();
		/* figures for doc/node-truth.md: printed, not asserted */
		printf("# measure: replace_ms=%.1f rebuild_ms=%.1f (5 generations)\n", (t1 - t0) / 1e6, (t2 - t1) / 1e6);
	}
	bad = differ(v1, v2, NULL, &entries, &two, &late);
	ASSERT_EQ(bad, 0, "after: VIP2's entries name VIP1's owners, slot by slot");
	ASSERT_EQ(late, 0, "... with the same untils (within 2 s)");
	{
		struct ebb_history_stats st;

		ASSERT_OK(ebb_history_stats(e, &st), "history stats");
		ASSERT_EQ(st.vip_entries[v2], st.vip_entries[v1], "... as many entries as VIP1");
	}
	{
		struct ebb_slot_history h0, h1;
		__u32 s = 0;

		while (s < EBB_RING_SIZE && ebb_history_get(e, v2, s, &h0))
			s++;
		ASSERT_TRUE(s < EBB_RING_SIZE && ebb_history_replace(e, v2, gens, NGEN, ebb_now_ns() + 1000000000ULL) == 0,
			    "a second replace, 1 s later");
		ebb_history_get(e, v2, s, &h1);
		ASSERT_TRUE(!memcmp(&h0, &h1, sizeof(h0)), "... rewrites nothing (an entry is as it was)");
	}

	/* ---- a node this host does not hold ---- */
	{
		struct ebb_history_member x[3];
		struct ebb_history_gen g = { .m = x, .n = 3, .until = ebb_seen_tick(ebb_now_ns()) + idle_ticks() };
		struct ebb_addr ga = addr("198.51.100.99");
		long named = 0, entries_real = 0, high = 0;

		/* the set {A, B, X} replaced by {A, B}: X's slots changed owner */
		memset(x, 0, sizeof(x));
		for (int i = 0; i < 2; i++) {
			struct ebb_node node;
			__u32 id = node_id(i ? B : A);

			bpf_map_lookup_elem(e->nodes_fd, &id, &node);
			x[i].mn.id = id;
			x[i].mn.weight = 100;
			memcpy(x[i].mn.seed, node.addr, 16);
			x[i].mn.seed[16] = node.family;
			x[i].active = true;
		}
		x[2].mn.id = EBB_MAX_NODES + 2;
		x[2].mn.weight = 100;
		memcpy(x[2].mn.seed, ga.a, 16);
		x[2].mn.seed[16] = ga.family;
		x[2].active = true;
		{
			struct ebb_maglev_node ab[2] = { x[0].mn, x[1].mn };

			ebb_maglev_build(ab, 2, t1n);
		}
		ASSERT_OK(ebb_history_rebuild(&g, 1, t1n, t1n, ebb_seen_tick(ebb_now_ns()), want),
			  "rebuild {A, B, X} -> {A, B}, X held by no node here");
		for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
			named += !!want[s].owner[0];
			high += want[s].owner[0] >= EBB_MAX_NODES || want[s].owner[1] >= EBB_MAX_NODES;
		}
		printf("# entries without X held: %ld (slots Maglev moved between A and B)\n", named);
		ASSERT_EQ(high, 0, "... no entry names X: it is no candidate");
		ASSERT_TRUE(named < 1000, "... and X's own slots have none: it placed them (1000 at most, A and B's moves)");
		x[2].mn.id = node_id(D); /* the same set, X held here as D's id */
		ASSERT_OK(ebb_history_rebuild(&g, 1, t1n, t1n, ebb_seen_tick(ebb_now_ns()), want), "the same, X held");
		for (__u32 s = 0; s < EBB_RING_SIZE; s++)
			entries_real += want[s].owner[0] == x[2].mn.id;
		printf("# X's slots: %ld\n", entries_real);
		ASSERT_TRUE(entries_real > 15000 && entries_real < 30000, "... then X named in its third of the slots");
		/* a generation past its time */
		g.until = ebb_seen_tick(ebb_now_ns()) - 1;
		ASSERT_OK(ebb_history_rebuild(&g, 1, t1n, t1n, ebb_seen_tick(ebb_now_ns()), want), "X's generation expired");
		named = 0;
		for (__u32 s = 0; s < EBB_RING_SIZE; s++)
			named += !!want[s].owner[0];
		ASSERT_EQ(named, 0, "... gives no owner");
	}
out:
	pinned_teardown(&P);
	return test_summary("history_gens");
}
