// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Slot history (user/lib/history.c) on the real balancer's maps, pinned in a bpffs directory of
 * this run's own and opened by libebb as ebbctl opens them. After each change of a VIP's tables
 * the whole map is compared, slot by slot, with a model of the rules kept here from the tables
 * read before and after (latest first, distinct, no owner of the slot now in either table, at
 * most EBB_HISTORY_OWNERS, until = now + the VIP's TCP idle timeout), and the cases the rules
 * are for are checked by name:
 *  - node add: every slot that moved names its old owner, with the right until; no other entry;
 *  - weight change; drain (the new-flow table changes, the second-chance one keeps the node: a
 *    drained node's slots get no entry); node del from the VIP; a second node added after;
 *  - two successive changes: latest first, distinct, a third owner pushes out the oldest;
 *  - the sweep: now, it drops owners that own their slot again; at a later clock, every
 *    expired one; a VIP's next write drops the expired owners of the slots it moves;
 *  - VIP delete: its entries go; a deleted node's id is not reused while the history names it;
 *  - the map full: the change applies whole, the slots without room are counted on the VIP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ebb.h"
#include "libebb.h"
#include "test.h"
#include "pinned.h"

#define IDLE_S 100
#define VIP1 "203.0.113.10:80/tcp"
#define VIP2 "203.0.113.20:80/tcp"
#define VIP3 "203.0.113.30:80/tcp"
#define NODE_A "198.51.100.11"
#define NODE_B "198.51.100.12"
#define NODE_C "198.51.100.13"
#define NODE_D "198.51.100.14"
#define NODE_E "198.51.100.15"
#define SMALL_HISTORY 100

static const __u8 MAC[6] = { 0x02, 0, 0, 0, 0, 0x0a };

static struct pinned P, SMALL;

/* The kernel's account of a map's memory (fdinfo memlock), for the figures in
 * doc/node-truth.md: printed, not asserted. */
static long memlock_of(int fd)
{
	char path[64], line[256];
	long m = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		sscanf(line, "memlock: %ld", &m);
	fclose(f);
	return m;
}
static struct ebb *e;

static int vip_add(const char *s, __u32 idle)
{
	struct ebb_vip_key k = vkey(s);
	struct ebb_vip_opts o = { .fwd = EBB_FWD_DSR, .tcp_idle_s = idle };
	struct ebb_err err = {};
	int ret = ebb_vip_add(e, &k, &o, &err);

	if (ret)
		printf("#   vip add %s: %s\n", s, err.msg);
	return ret;
}

static __u32 vip_id(const char *s)
{
	struct ebb_vip_key k = vkey(s);
	struct ebb_vip v;

	if (ebb_vip_find(e, &k, &v))
		abort();
	return v.id;
}

static int node_add(const char *n, const char *v)
{
	struct ebb_node_opts o = { .have_mac = true };
	struct ebb_vip_key k = vkey(v);
	struct ebb_addr a = addr(n);
	struct ebb_err err = {};
	int ret;

	memcpy(o.mac, MAC, 6);
	ret = ebb_node_add(e, &a, &k, &o, &err);
	if (ret)
		printf("#   node add %s vip %s: %s\n", n, v, err.msg);
	return ret;
}

static __u32 node_id(const char *n)
{
	struct ebb_addr a = addr(n);
	__u32 id = 0;

	if (ebb_node_find(e, &a, &id, NULL))
		return 0;
	return id;
}

static const char *nm_buf(const char *who, const char *what);

/* ---- the model ---- */
struct mslot {
	int n;
	__u32 owner[EBB_HISTORY_OWNERS];
	__u32 lo[EBB_HISTORY_OWNERS], hi[EBB_HISTORY_OWNERS]; /* the range its until must lie in */
};

static struct mslot *model;
static __u32 *old_new, *old_sec, *cur_new, *cur_sec;
static long truncated; /* owners the bound pushed out: the case was exercised */

static void read_tables(__u32 vid, __u32 *n, __u32 *s)
{
	if (ebb_ring_read(e, EBB_RING_NEW(vid), n))
		memset(n, 0, EBB_RING_SIZE * 4);
	if (ebb_ring_read(e, EBB_RING_SECOND(vid), s))
		memset(s, 0, EBB_RING_SIZE * 4);
}

static void madd(struct mslot *m, __u32 id, __u32 lo, __u32 hi, __u32 now_a, __u32 now_b)
{
	if (!id || id == now_a || id == now_b)
		return;
	for (int i = 0; i < m->n; i++)
		if (m->owner[i] == id)
			return;
	if (m->n >= EBB_HISTORY_OWNERS) {
		truncated++;
		return;
	}
	m->owner[m->n] = id;
	m->lo[m->n] = lo;
	m->hi[m->n++] = hi;
}

static __u32 idle_ticks(__u32 s)
{
	return (__u32)(((__u64)s * 1000000000ULL + EBB_SEEN_TICK_NS - 1) >> EBB_SEEN_SHIFT);
}

/* The model after a change from old_* to cur_*, made between t0 and t1. */
static void model_apply(__u64 t0, __u64 t1, __u32 idle)
{
	__u32 lo = ebb_seen_tick(t0) + idle_ticks(idle), hi = ebb_seen_tick(t1) + idle_ticks(idle);

	for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
		struct mslot m = {}, prev = model[s];

		if (old_new[s] != cur_new[s] || old_sec[s] != cur_sec[s]) {
			madd(&m, old_new[s], lo, hi, cur_new[s], cur_sec[s]);
			madd(&m, old_sec[s], lo, hi, cur_new[s], cur_sec[s]);
		}
		/* a slot that gains no owner is left as it was: the sweep's (model_sweep) */
		if (!m.n)
			continue;
		for (int i = 0; i < prev.n; i++)
			madd(&m, prev.owner[i], prev.lo[i], prev.hi[i], cur_new[s], cur_sec[s]);
		model[s] = m;
	}
}

/* The model after a sweep: owners that own their slot now (cur_*) go (none has expired: the
 * test's timeouts are longer than it runs). */
static void model_sweep(void)
{
	for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
		struct mslot m = {}, prev = model[s];
		long before = truncated;

		for (int i = 0; i < prev.n; i++)
			madd(&m, prev.owner[i], prev.lo[i], prev.hi[i], cur_new[s], cur_sec[s]);
		truncated = before;
		model[s] = m;
	}
}

/* The map against the model, every slot of the VIP; returns the mismatches. */
static long model_compare(const char *n, __u32 vid)
{
	struct ebb_history_stats st;
	long bad = 0, want = 0;

	for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
		struct ebb_slot_history h;
		bool have = !ebb_history_get(e, vid, s, &h);
		const struct mslot *m = &model[s];
		bool ok = have == (m->n > 0);

		want += m->n > 0;
		for (int i = 0; ok && have && i < EBB_HISTORY_OWNERS; i++) {
			if (i < m->n)
				ok = h.owner[i] == m->owner[i] && (__s32)(h.until[i] - m->lo[i]) >= 0 &&
				     (__s32)(m->hi[i] - h.until[i]) >= 0;
			else
				ok = h.owner[i] == 0;
		}
		if (!ok && bad++ < 5)
			printf("#   slot %u: map %s [%u %u] until [%u %u]; model %d owners [%u %u]\n", s,
			       have ? "has" : "lacks", have ? h.owner[0] : 0, have ? h.owner[1] : 0,
			       have ? h.until[0] : 0, have ? h.until[1] : 0, m->n, m->owner[0], m->owner[1]);
	}
	ASSERT_EQ(bad, 0, nm_buf(n, "every slot's history is the model's"));
	if (!ebb_history_stats(e, &st))
		ASSERT_EQ(st.vip_entries[vid], want, nm_buf(n, "entries: only the slots the model has"));
	return bad;
}

/* ---- helpers for names ---- */
static char namebuf[256];
static const char *nm_buf(const char *who, const char *what)
{
	snprintf(namebuf, sizeof(namebuf), "%s: %s", who, what);
	return namebuf;
}

/* Runs one change (fn) on VIP1 and checks the map against the model. */
#define STEP(name, expr)                                                                   \
	({                                                                                 \
		__u64 _t0, _t1;                                                            \
		int _r;                                                                    \
		read_tables(vid, old_new, old_sec);                                        \
		_t0 = ebb_now_ns();                                                        \
		_r = (expr);                                                               \
		_t1 = ebb_now_ns();                                                        \
		ASSERT_OK(_r, nm_buf(name, "the change is made"));                         \
		read_tables(vid, cur_new, cur_sec);                                        \
		model_apply(_t0, _t1, IDLE_S);                                             \
		model_compare(name, vid);                                                  \
	})

static long count_changed(void)
{
	long n = 0;

	for (__u32 s = 0; s < EBB_RING_SIZE; s++)
		n += old_new[s] != cur_new[s] || old_sec[s] != cur_sec[s];
	return n;
}

static int set_weight(const char *n, const char *v, __u32 w)
{
	struct ebb_vip_key k = vkey(v);
	struct ebb_addr a = addr(n);
	struct ebb_err err = {};

	return ebb_node_set_weight(e, &a, &k, w, &err);
}

static int set_state(const char *n, __u8 st)
{
	struct ebb_addr a = addr(n);
	struct ebb_err err = {};

	return ebb_node_set_state(e, &a, st, 0, &err);
}

static int node_del(const char *n, const char *v)
{
	struct ebb_vip_key k = vkey(v);
	struct ebb_addr a = addr(n);
	struct ebb_err err = {};
	int ret = ebb_node_del(e, &a, v ? &k : NULL, true, &err);

	if (ret)
		printf("#   node del %s: %s\n", n, err.msg);
	return ret;
}

static int node_del_all(const char *n)
{
	struct ebb_addr a = addr(n);
	struct ebb_err err = {};

	return ebb_node_del(e, &a, NULL, true, &err);
}

static void test_changes(void)
{
	static struct ebb_slot_history before[EBB_RING_SIZE];
	__u32 vid, a, b, c, c_id_before;
	long mem0;
	struct ebb_history_stats st;
	__u64 t0, t1;

	if (!ASSERT_OK(vip_add(VIP1, IDLE_S) || node_add(NODE_A, VIP1), "VIP1 (tcp idle 100 s) with A"))
		return;
	vid = vip_id(VIP1);
	a = node_id(NODE_A);
	ASSERT_OK(ebb_history_stats(e, &st), "history read");
	ASSERT_EQ(st.entries, 0, "a VIP's first tables record nothing: no slot had an owner");
	mem0 = memlock_of(e->slot_history_fd);
	STEP("add B", node_add(NODE_B, VIP1));
	b = node_id(NODE_B);

	/* node add: the slots that moved name their old owner first, until now + 100 s; the rest
	 * of each entry is what it was (the add of B had moved some of them already) */
	read_tables(vid, old_new, old_sec);
	for (__u32 s = 0; s < EBB_RING_SIZE; s++)
		if (ebb_history_get(e, vid, s, &before[s]))
			memset(&before[s], 0, sizeof(before[s]));
	t0 = ebb_now_ns();
	ASSERT_OK(node_add(NODE_C, VIP1), "add C: done");
	t1 = ebb_now_ns();
	read_tables(vid, cur_new, cur_sec);
	c = node_id(NODE_C);
	{
		long moved = 0, named = 0, right_until = 0, kept = 0, others = 0, c_took = 0;
		__u32 prev;
		__u32 lo = ebb_seen_tick(t0) + idle_ticks(IDLE_S), hi = ebb_seen_tick(t1) + idle_ticks(IDLE_S);

		for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
			struct ebb_slot_history h = {};
			bool have = !ebb_history_get(e, vid, s, &h);

			if (old_new[s] == cur_new[s]) {
				others += memcmp(&h, &before[s], sizeof(h)) != 0;
				continue;
			}
			moved++;
			named += have && h.owner[0] == old_new[s] && (old_new[s] == a || old_new[s] == b);
			right_until += have && (__s32)(h.until[0] - lo) >= 0 && (__s32)(hi - h.until[0]) >= 0;
			/* A -> B at the add of B, B -> C now: [B, A]; the older one stays unless it
			 * owns the slot again (a few slots move between A and B too) */
			prev = before[s].owner[0] != cur_new[s] && before[s].owner[0] != old_new[s] ?
				       before[s].owner[0] : 0;
			kept += have && h.owner[1] == prev && h.until[1] == (prev ? before[s].until[0] : 0);
			c_took += cur_new[s] == c;
		}
		printf("# add C: %ld moved to C, %ld between A and B\n", c_took, moved - c_took);
		printf("# add C: %ld of %d slots moved; the add took %.1f ms, history written\n", moved,
		       EBB_RING_SIZE, (t1 - t0) / 1e6);
		ASSERT_TRUE(moved > EBB_RING_SIZE / 5 && moved < EBB_RING_SIZE / 2, "add C: about a third of the slots moved to C");
		ASSERT_EQ(named, moved, "add C: every moved slot names its old owner (A or B) first");
		ASSERT_EQ(right_until, moved, "add C: its until = the change's tick + 100 s in ticks");
		ASSERT_EQ(kept, moved, "add C: the owner before it (from the add of B) second, its until kept");
		ASSERT_EQ(others, 0, "add C: no slot that kept its owner had its entry changed");
	}
	model_apply(t0, t1, IDLE_S);
	model_compare("add C", vid);
	if (!ebb_history_stats(e, &st) && st.entries)
		printf("# memory: slot_history memlock %ld B empty, %ld B with %llu entries: %.1f B per entry\n",
		       mem0, memlock_of(e->slot_history_fd), (unsigned long long)st.entries,
		       (double)(memlock_of(e->slot_history_fd) - mem0) / st.entries);

	STEP("weight of B 100 -> 300", set_weight(NODE_B, VIP1, 300));
	{
		long changed_two = 0, bad = 0;

		for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
			struct ebb_slot_history h;
			bool moved = old_new[s] != cur_new[s];

			if (ebb_history_get(e, vid, s, &h))
				continue;
			bad += h.owner[0] == h.owner[1]; /* distinct */
			if (!moved)
				continue;
			/* a slot this change moved: no owner of the slot now */
			bad += h.owner[0] == cur_new[s] || h.owner[1] == cur_new[s];
			/* the latest first: the owner this change took the slot from */
			bad += h.owner[0] != old_new[s];
			changed_two += h.owner[1] != 0;
		}
		printf("# weight: %ld moved slots name two owners\n", changed_two);
		ASSERT_TRUE(changed_two > 0, "two successive changes: some moved slots name two owners");
		ASSERT_EQ(bad, 0, "two successive changes: the latest owner first, distinct, none owns the slot now");
	}
	/* drain: C leaves the new-flow table, stays in the second-chance one: a candidate still */
	{
		__u64 before;

		read_tables(vid, old_new, old_sec);
		STEP("drain C", set_state(NODE_C, EBB_NODE_DRAINING));
		before = 0;
		for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
			struct ebb_slot_history h;

			if (old_new[s] == c && !ebb_history_get(e, vid, s, &h))
				before += h.owner[0] == c || h.owner[1] == c;
		}
		ASSERT_EQ(before, 0, "drain C: C's slots do not name C (the second-chance table still does)");
	}
	STEP("activate C", set_state(NODE_C, EBB_NODE_ACTIVE));
	STEP("down A", set_state(NODE_A, EBB_NODE_DOWN));
	STEP("up A", set_state(NODE_A, EBB_NODE_ACTIVE));
	STEP("del C from VIP1", node_del(NODE_C, VIP1));
	STEP("add D", node_add(NODE_D, VIP1));
	STEP("weight of B 300 -> 1", set_weight(NODE_B, VIP1, 1));
	printf("# owners pushed out by the bound so far: %ld\n", truncated);
	ASSERT_TRUE(truncated > 0, "bound: a third distinct owner pushed out the oldest somewhere");

	/* C gone altogether: its id is named by the history, so a new node gets another */
	c_id_before = c;
	ASSERT_OK(node_del_all(NODE_C), "del C (every VIP): done");
	ASSERT_EQ(node_id(NODE_C), 0, "C is no node any more");
	ASSERT_OK(vip_add(VIP2, IDLE_S) || node_add(NODE_E, VIP2), "VIP2 with new node E");
	ASSERT_TRUE(node_id(NODE_E) != c_id_before, "E does not get C's id while the history names it");
	printf("# C had id %u, E got %u\n", c_id_before, node_id(NODE_E));

	/* a sweep now: nothing has expired; it drops only owners that own their slot now (left by
	 * changes that gained the slot no owner: a drain, a node activated again) */
	{
		long r, current = 0, current_after = 0;

		for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
			struct ebb_slot_history h;

			if (!ebb_history_get(e, vid, s, &h))
				for (int i = 0; i < EBB_HISTORY_OWNERS; i++)
					current += h.owner[i] && (h.owner[i] == cur_new[s] || h.owner[i] == cur_sec[s]);
		}
		r = ebb_history_sweep(e, ebb_now_ns());
		for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
			struct ebb_slot_history h;

			if (!ebb_history_get(e, vid, s, &h))
				for (int i = 0; i < EBB_HISTORY_OWNERS; i++)
					current_after += h.owner[i] && (h.owner[i] == cur_new[s] || h.owner[i] == cur_sec[s]);
		}
		printf("# sweep now: %ld owners owned their slot again before it, %ld entries rewritten or deleted\n",
		       current, r);
		ASSERT_TRUE(r >= 0 && (r > 0) == (current > 0), "sweep now: it changes entries only if some name a current owner");
		ASSERT_EQ(current_after, 0, "sweep now: no entry names an owner of its slot now");
		model_sweep();
		model_compare("after a sweep now", vid);
	}
	/* expiry: at a clock past every until, a sweep removes all */
	{
		long r;

		r = ebb_history_sweep(e, ebb_now_ns() + (IDLE_S + 2) * 1000000000ULL);
		ASSERT_TRUE(r > 0, "sweep 102 s later: entries removed");
		ASSERT_OK(ebb_history_stats(e, &st), "history read");
		ASSERT_EQ(st.entries, 0, "sweep 102 s later: no entry left");
		memset(model, 0, EBB_RING_SIZE * sizeof(*model));
	}
	/* ... and now that nothing names C's old id, it can be given again */
	ASSERT_OK(node_add(NODE_C, VIP2), "C added anew");
	ASSERT_EQ(node_id(NODE_C), c_id_before, "C anew may take its old id: no history names it now");

	/* VIP delete: its entries go, another VIP's stay */
	STEP("weight of D 100 -> 50", set_weight(NODE_D, VIP1, 50));
	ASSERT_OK(node_add(NODE_A, VIP2), "A added to VIP2 (VIP2 gets history)");
	ASSERT_OK(ebb_history_stats(e, &st), "history read");
	ASSERT_TRUE(st.vip_entries[vid] > 0 && st.vip_entries[vip_id(VIP2)] > 0, "both VIPs have history");
	{
		__u32 v2 = vip_id(VIP2);
		__u64 v2_entries = st.vip_entries[v2];
		struct ebb_vip_key k = vkey(VIP1);
		struct ebb_err err = {};

		ASSERT_OK(ebb_vip_del(e, &k, true, &err), "vip del VIP1");
		ASSERT_OK(ebb_history_stats(e, &st), "history read");
		ASSERT_EQ(st.vip_entries[vid], 0, "vip del: VIP1's entries are gone");
		ASSERT_EQ(st.vip_entries[v2], v2_entries, "vip del: VIP2's entries stay");
	}
}

/* The VIP's next write drops owners whose until has passed (VIP3: tcp idle 1 s). */
static void test_expiry_on_write(void)
{
	struct ebb_history_stats st;
	__u32 vid;
	__u64 deadline;

	if (!ASSERT_OK(vip_add(VIP3, 1) || node_add(NODE_A, VIP3) || node_add(NODE_B, VIP3) ||
			       node_add(NODE_D, VIP3),
		       "VIP3 (tcp idle 1 s) with A, B, D"))
		return;
	vid = vip_id(VIP3);
	ASSERT_OK(ebb_history_stats(e, &st), "history read");
	ASSERT_TRUE(st.vip_entries[vid] > 0, "VIP3: adding D recorded history");
	/* wait for the clock, not for a time: until every owner's until has passed */
	deadline = ebb_now_ns() + 10000000000ULL;
	for (;;) {
		__u32 now = ebb_seen_tick(ebb_now_ns());
		long live = 0;

		for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
			struct ebb_slot_history h;

			if (!ebb_history_get(e, vid, s, &h))
				for (int i = 0; i < EBB_HISTORY_OWNERS; i++)
					live += h.owner[i] && (__s32)(h.until[i] - now) >= 0;
		}
		if (!live || ebb_now_ns() > deadline) {
			ASSERT_EQ(live, 0, "VIP3: its owners expired (waited for the clock, at most 10 s)");
			break;
		}
		usleep(100000);
	}
	/* a write that changes few slots: the weight of D, 100 -> 99 */
	read_tables(vid, old_new, old_sec);
	ASSERT_OK(set_weight(NODE_D, VIP3, 99), "VIP3: weight of D 100 -> 99");
	read_tables(vid, cur_new, cur_sec);
	{
		long expired_kept = 0, changed = count_changed(), fresh = 0;
		__u32 now = ebb_seen_tick(ebb_now_ns());

		for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
			struct ebb_slot_history h;
			bool moved = old_new[s] != cur_new[s] || old_sec[s] != cur_sec[s];

			if (!moved || ebb_history_get(e, vid, s, &h))
				continue;
			fresh++;
			for (int i = 0; i < EBB_HISTORY_OWNERS; i++)
				expired_kept += h.owner[i] && (__s32)(h.until[i] - now) < 0;
		}
		printf("# VIP3: %ld slots moved, %ld of them have history\n", changed, fresh);
		ASSERT_TRUE(fresh > 0, "VIP3's next write: the slots it moved have history");
		ASSERT_EQ(expired_kept, 0, "VIP3's next write: the slots it moved keep no expired owner");
	}
	/* the sweep takes the rest: the slots the write did not move */
	{
		long stale = 0, entries = 0;

		ASSERT_TRUE(ebb_history_sweep(e, ebb_now_ns()) > 0, "VIP3: the sweep removes expired entries");
		for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
			struct ebb_slot_history h;
			bool moved = old_new[s] != cur_new[s] || old_sec[s] != cur_sec[s];

			if (ebb_history_get(e, vid, s, &h))
				continue;
			entries++;
			stale += !moved;
		}
		ASSERT_EQ(stale, 0, "VIP3 after the sweep: no entry of a slot the last write did not move");
		ASSERT_TRUE(entries > 0, "VIP3 after the sweep: the last write's entries stay");
	}
}

/* History map of SMALL_HISTORY entries: a change moving more slots applies whole, the rest is
 * counted on the VIP. */
static void test_map_full(void)
{
	struct ebb_history_stats st;
	struct ebb_vip_key k = vkey(VIP1);
	struct ebb_vip v;
	long changed, c_slots = 0, no_room = 0;
	static bool had[EBB_RING_SIZE];
	__u32 vid, c, lost0;

	e = &SMALL.e;
	if (!ASSERT_OK(vip_add(VIP1, IDLE_S) || node_add(NODE_A, VIP1) || node_add(NODE_B, VIP1),
		       "full: VIP1 with A and B, history of 100 entries"))
		return;
	vid = vip_id(VIP1);
	read_tables(vid, old_new, old_sec);
	ASSERT_OK(ebb_vip_find(e, &k, &v), "full: VIP1 read");
	lost0 = v.history_lost;
	for (__u32 s = 0; s < EBB_RING_SIZE; s++)
		had[s] = !ebb_history_get(e, vid, s, &(struct ebb_slot_history){});
	ASSERT_OK(node_add(NODE_C, VIP1), "full: add C succeeds though its history has no room");
	read_tables(vid, cur_new, cur_sec);
	c = node_id(NODE_C);
	changed = count_changed();
	for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
		c_slots += cur_new[s] == c;
		/* a slot with an entry already is rewritten in place: it needs no room */
		no_room += (old_new[s] != cur_new[s] || old_sec[s] != cur_sec[s]) && !had[s];
	}
	ASSERT_TRUE(c_slots > EBB_RING_SIZE / 5, "full: C is in the new-flow table (the change applied whole)");
	ASSERT_OK(ebb_history_stats(e, &st), "full: history read");
	ASSERT_EQ(st.entries, SMALL_HISTORY, "full: the map is full");
	ASSERT_OK(ebb_vip_find(e, &k, &v), "full: VIP1 read");
	ASSERT_EQ(v.history_lost - lost0, no_room, "full: the slots without room are counted on the VIP");
	printf("# full: %ld slots moved, %ld of them new to the full map, %u counted lost (%u before)\n",
	       changed, no_room, v.history_lost - lost0, lost0);
	e = &P.e;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(pinned_libbpf_quiet);
	if (geteuid() != 0) {
		printf("ok 1 - history # SKIP needs root (bpffs, maps)\n");
		return 0;
	}
	model = calloc(EBB_RING_SIZE, sizeof(*model));
	old_new = calloc(EBB_RING_SIZE, 4);
	old_sec = calloc(EBB_RING_SIZE, 4);
	cur_new = calloc(EBB_RING_SIZE, 4);
	cur_sec = calloc(EBB_RING_SIZE, 4);
	if (!model || !old_new || !old_sec || !cur_new || !cur_sec)
		abort();
	if (pinned_setup(&P, "history", "main", 0)) {
		e = &P.e;
		test_changes();
		test_expiry_on_write();
	}
	if (pinned_setup(&SMALL, "history", "small", SMALL_HISTORY))
		test_map_full();
	pinned_teardown(&P);
	pinned_teardown(&SMALL);
	return test_summary("history");
}
