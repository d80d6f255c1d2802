// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the weighted Maglev table builder (user/lib/maglev.c), pure C.
 *
 * What the datapath and the drain promise rely on:
 *  - each node's share of the EBB_RING_SIZE slots follows its weight share;
 *  - removing a node moves its own slots and (almost) nothing else; adding one takes about
 *    1/(N+1) of the table, from everybody, and moves (almost) nothing else;
 *  - the table is a pure function of the set of nodes: same input, same bytes, whatever the
 *    order the nodes are given in (two LB hosts behind ECMP must agree);
 *  - n == 0 is refused.
 * Seeds are built the way user/lib/rings.c builds them: the node's 16 address bytes (IPv4 in
 * the first word, network order) and the family byte, from documentation addresses.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "libebb.h"
#include "test.h"

#define SLOTS EBB_RING_SIZE

/* Two tables at file scope: 256 KiB each is too much for the stack of every test. */
static __u32 t1[SLOTS], t2[SLOTS];

static struct ebb_maglev_node node_of(const char *addr, __u32 id, __u32 weight)
{
	struct ebb_maglev_node n = { .id = id, .weight = weight };
	__be32 a[4] = {};

	if (inet_pton(AF_INET, addr, a) == 1) {
		n.seed[16] = EBB_FAMILY_V4;
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		n.seed[16] = EBB_FAMILY_V6;
	} else {
		fprintf(stderr, "bad test address %s\n", addr);
		exit(2);
	}
	memcpy(n.seed, a, 16);
	return n;
}

/* Node i (0-based) of a pool: 198.51.100.(i+1), every third one IPv6 2001:db8::(i+1) when mixed. */
static struct ebb_maglev_node pool_node(size_t i, bool mixed, __u32 weight)
{
	char buf[64];

	if (mixed && i % 3 == 2)
		snprintf(buf, sizeof(buf), "2001:db8::%zx", i + 1);
	else if (i < 254)
		snprintf(buf, sizeof(buf), "198.51.100.%zu", i + 1);
	else
		snprintf(buf, sizeof(buf), "2001:db8:1::%zx", i + 1);
	/* Ids that are not the index, as in the nodes map: 1.., with gaps. */
	return node_of(buf, (__u32)(3 * i + 7), weight);
}

/* A fixed-seed xorshift: the shuffles are the same on every run. */
static __u64 rng_state = 0x9e3779b97f4a7c15ULL;

static __u64 rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void shuffle(struct ebb_maglev_node *v, size_t n)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rng() % (i + 1);
		struct ebb_maglev_node t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
}

static size_t slots_of(const __u32 *table, __u32 id)
{
	size_t c = 0;

	for (size_t s = 0; s < SLOTS; s++)
		c += table[s] == id;
	return c;
}

/* Every slot holds one of the given ids (no empty slot, no stray value). */
static bool only_known_ids(const __u32 *table, const struct ebb_maglev_node *nodes, size_t n)
{
	for (size_t s = 0; s < SLOTS; s++) {
		bool found = false;

		for (size_t i = 0; i < n && !found; i++)
			found = table[s] == nodes[i].id;
		if (!found) {
			printf("#   slot %zu holds %u, not a node id\n", s, table[s]);
			return false;
		}
	}
	return true;
}

/*
 * Each node's slot count against its weight share of the table. The bound is 1 % of the node's
 * expected count (relative), but never less than 2 slots: a node of weight 1 beside nodes of
 * weight 1000 expects about one slot, and a count is an integer. (The absolute alternative,
 * 1 percentage point of the table = 655 slots, would be far looser than this.)
 */
static void check_shares(const char *name, const struct ebb_maglev_node *nodes, size_t n)
{
	double total_w = 0, worst = 0;
	size_t worst_i = 0;
	bool all_ok = true;

	for (size_t i = 0; i < n; i++)
		total_w += nodes[i].weight;
	if (!CHECK(!ebb_maglev_build(nodes, n, t1), "%s: build", name))
		return;
	CHECK(only_known_ids(t1, nodes, n), "%s: every slot holds a node id", name);
	for (size_t i = 0; i < n; i++) {
		double expected = SLOTS * nodes[i].weight / total_w;
		double got = (double)slots_of(t1, nodes[i].id);
		double dev = got > expected ? got - expected : expected - got;
		double bound = expected * 0.01 > 2.0 ? expected * 0.01 : 2.0;

		if (dev / bound > worst) {
			worst = dev / bound;
			worst_i = i;
		}
		if (dev > bound) {
			all_ok = false;
			printf("#   node id %u weight %u: %.0f slots, expected %.1f (bound %.1f)\n",
			       nodes[i].id, nodes[i].weight, got, expected, bound);
		}
	}
	printf("#   %s: worst node id %u at %.2f of its bound\n", name, nodes[worst_i].id, worst);
	CHECK(all_ok, "%s: every node's share within 1%% of its weight share", name);
}

static void test_shares(void)
{
	static struct ebb_maglev_node v[100];
	static const __u32 w4[] = { 100, 200, 300, 400 };
	char name[64];

	for (size_t k = 0; k < 3; k++) {
		size_t n = (size_t[]){ 3, 10, 100 }[k];

		for (size_t i = 0; i < n; i++)
			v[i] = pool_node(i, true, EBB_DEFAULT_WEIGHT);
		snprintf(name, sizeof(name), "%zu nodes, equal weights", n);
		check_shares(name, v, n);
	}
	for (size_t i = 0; i < 4; i++)
		v[i] = pool_node(i, false, w4[i]);
	check_shares("weights 100/200/300/400", v, 4);

	v[0] = pool_node(0, false, 1);
	v[1] = pool_node(1, false, 1000);
	check_shares("weights 1/1000", v, 2);

	for (size_t i = 0; i < 10; i++)
		v[i] = pool_node(i, true, i % 2 ? 1000 : 1);
	check_shares("10 nodes, weights 1 and 1000 alternating", v, 10);

	for (size_t i = 0; i < 20; i++)
		v[i] = pool_node(i, true, (__u32)(1 + (i * 337) % EBB_MAX_WEIGHT));
	check_shares("20 nodes, weights spread over 1..1000", v, 20);

	/* Weight 0 is taken as 1 (the members map never holds 0, but the builder must not hang). */
	v[0] = pool_node(0, false, 0);
	v[1] = pool_node(1, false, 1);
	if (ASSERT_OK(ebb_maglev_build(v, 2, t1), "weights 0 and 1: build"))
		CHECK(slots_of(t1, v[0].id) + slots_of(t1, v[1].id) == SLOTS &&
			      slots_of(t1, v[0].id) > SLOTS / 2 - 2 && slots_of(t1, v[0].id) < SLOTS / 2 + 2,
		      "weights 0 and 1: weight 0 counts as 1, half the table each (%zu / %zu)",
		      slots_of(t1, v[0].id), slots_of(t1, v[1].id));

	/* One node takes every slot. */
	v[0] = pool_node(0, false, 7);
	if (ASSERT_OK(ebb_maglev_build(v, 1, t1), "one node: build"))
		ASSERT_EQ(slots_of(t1, v[0].id), SLOTS, "one node: owns every slot");
}

/*
 * Removing node `gone` of n: every slot it owned moves (to anybody), the others' slots should
 * stay. Maglev does not promise that exactly (the turn order shifts), so the slots that moved
 * between surviving nodes are counted and bounded by 1 % of the table.
 */
static void test_remove(void)
{
	static struct ebb_maglev_node v[50], w[50];
	static const size_t sizes[] = { 5, 10, 50 };

	for (size_t k = 0; k < 3; k++) {
		size_t n = sizes[k], gone = n / 2, own = 0, extra = 0;
		__u32 gone_id;

		for (size_t i = 0; i < n; i++)
			v[i] = pool_node(i, true, EBB_DEFAULT_WEIGHT);
		gone_id = v[gone].id;
		memcpy(w, v, sizeof(v));
		w[gone] = w[n - 1];
		if (!CHECK(!ebb_maglev_build(v, n, t1), "remove 1 of %zu: build before", n) ||
		    !CHECK(!ebb_maglev_build(w, n - 1, t2), "remove 1 of %zu: build after", n))
			continue;
		for (size_t s = 0; s < SLOTS; s++) {
			if (t1[s] == gone_id)
				own++;
			else if (t1[s] != t2[s])
				extra++;
		}
		printf("#   remove 1 of %zu: its own %zu slots (%.2f%%, 1/N = %.2f%%) moved, and %zu others (%.3f%% of the table)\n",
		       n, own, 100.0 * own / SLOTS, 100.0 / n, extra, 100.0 * extra / SLOTS);
		CHECK(slots_of(t2, gone_id) == 0, "remove 1 of %zu: the removed node owns no slot", n);
		CHECK(own + extra > 0 && (own + extra) <= SLOTS / n + SLOTS / 100,
		      "remove 1 of %zu: %zu slots moved, about 1/N (%d) + at most 1%%", n, own + extra,
		      SLOTS / (int)n);
		CHECK(extra <= SLOTS / 100,
		      "remove 1 of %zu: %zu slots moved between surviving nodes (<= 1%% of the table)", n,
		      extra);
	}
}

/* Adding a node to n: it takes about 1/(n+1) of the table; little else moves. */
static void test_add(void)
{
	static struct ebb_maglev_node v[51];
	static const size_t sizes[] = { 4, 9, 49 };

	for (size_t k = 0; k < 3; k++) {
		size_t n = sizes[k], taken = 0, extra = 0;
		double expected = (double)SLOTS / (n + 1);
		__u32 new_id;

		for (size_t i = 0; i <= n; i++)
			v[i] = pool_node(i, true, EBB_DEFAULT_WEIGHT);
		new_id = v[n].id;
		if (!CHECK(!ebb_maglev_build(v, n, t1), "add 1 to %zu: build before", n) ||
		    !CHECK(!ebb_maglev_build(v, n + 1, t2), "add 1 to %zu: build after", n))
			continue;
		for (size_t s = 0; s < SLOTS; s++) {
			if (t1[s] == t2[s])
				continue;
			if (t2[s] == new_id)
				taken++;
			else
				extra++;
		}
		printf("#   add 1 to %zu: the new node took %zu slots (1/(N+1) = %.0f), %zu others moved (%.3f%%)\n",
		       n, taken, expected, extra, 100.0 * extra / SLOTS);
		CHECK(taken >= expected * 0.99 && taken <= expected * 1.01,
		      "add 1 to %zu: the new node takes %zu slots, 1/(N+1) = %.0f within 1%%", n, taken,
		      expected);
		CHECK(extra <= SLOTS / 100,
		      "add 1 to %zu: %zu slots moved between old nodes (<= 1%% of the table)", n, extra);
	}
}

/* A weight change moves slots toward (or away from) that node only, give or take 1 %. */
static void test_reweight(void)
{
	static struct ebb_maglev_node v[10];
	size_t gained = 0, extra = 0;

	for (size_t i = 0; i < 10; i++)
		v[i] = pool_node(i, false, EBB_DEFAULT_WEIGHT);
	if (!ASSERT_OK(ebb_maglev_build(v, 10, t1), "reweight: build before"))
		return;
	v[3].weight = 2 * EBB_DEFAULT_WEIGHT;
	if (!ASSERT_OK(ebb_maglev_build(v, 10, t2), "reweight: build after"))
		return;
	for (size_t s = 0; s < SLOTS; s++) {
		if (t1[s] == t2[s])
			continue;
		if (t2[s] == v[3].id)
			gained++;
		else
			extra++;
	}
	printf("#   reweight 1 of 10 to 2x: it gained %zu slots (expected %.0f), %zu others moved\n",
	       gained, SLOTS * 2.0 / 11 - SLOTS / 10.0, extra);
	CHECK(extra <= SLOTS / 100, "reweight 1 of 10: %zu slots moved between other nodes (<= 1%%)",
	      extra);
}

static void test_deterministic(void)
{
	static struct ebb_maglev_node v[50], copy[50];
	int differ = 0;

	for (size_t i = 0; i < 50; i++)
		v[i] = pool_node(i, true, (__u32)(1 + (i * 97) % EBB_MAX_WEIGHT));
	memcpy(copy, v, sizeof(v));
	if (!ASSERT_OK(ebb_maglev_build(v, 50, t1), "deterministic: first build") ||
	    !ASSERT_OK(ebb_maglev_build(v, 50, t2), "deterministic: second build"))
		return;
	ASSERT_MEM_EQ(v, copy, sizeof(v), "the builder leaves its input untouched");
	CHECK(!memcmp(t1, t2, sizeof(t1)), "two builds from one configuration are byte-identical");

	for (int round = 0; round < 5; round++) {
		shuffle(v, 50);
		if (ebb_maglev_build(v, 50, t2) || memcmp(t1, t2, sizeof(t1)))
			differ++;
	}
	ASSERT_EQ(differ, 0, "5 shuffles of the input order: each gives the same bytes");

	/* Same seeds, other ids: the layout (which seed owns which slot) is the same. */
	memcpy(v, copy, sizeof(v));
	for (size_t i = 0; i < 50; i++)
		v[i].id += 1000;
	if (ASSERT_OK(ebb_maglev_build(v, 50, t2), "deterministic: build with other ids")) {
		bool same = true;

		for (size_t s = 0; s < SLOTS && same; s++)
			same = t2[s] == t1[s] + 1000;
		CHECK(same, "placement follows the address seeds, not the ids");
	}

	/* A different address set gives a different table (the seed is used at all). */
	memcpy(v, copy, sizeof(v));
	v[0] = node_of("198.51.100.200", v[0].id, v[0].weight);
	if (ASSERT_OK(ebb_maglev_build(v, 50, t2), "deterministic: build with one address changed"))
		CHECK(memcmp(t1, t2, sizeof(t1)) != 0, "changing one node's address changes the table");

	/* IPv4 198.51.100.1 and an IPv6 address with the same first word are different seeds. */
	{
		struct ebb_maglev_node a[2] = { node_of("198.51.100.1", 1, 100),
						node_of("2001:db8::1", 2, 100) };
		struct ebb_maglev_node b[2] = { a[0], node_of("2001:db8::1", 2, 100) };

		memcpy(b[1].seed, a[0].seed, 16); /* same bytes, family 6 */
		if (ASSERT_OK(ebb_maglev_build(b, 2, t1), "family: build")) {
			size_t c1 = slots_of(t1, 1), c2 = slots_of(t1, 2);

			CHECK(c1 + c2 == SLOTS && c1 > SLOTS / 2 - 2 && c2 > SLOTS / 2 - 2,
			      "same address bytes, different family: two distinct nodes (%zu / %zu)",
			      c1, c2);
		}
	}
}

static void test_empty(void)
{
	struct ebb_maglev_node one = node_of("198.51.100.1", 1, 100);

	t1[0] = 0x12345678;
	CHECK(ebb_maglev_build(&one, 0, t1) != 0, "n == 0 returns an error");
	ASSERT_EQ(t1[0], 0x12345678, "n == 0 leaves the table alone");
	CHECK(ebb_maglev_build(NULL, 0, t1) != 0, "n == 0 with no node array returns an error");
}

/*
 * Tables of a VIP's own size (ebb_maglev_build_m): each m of the allowed list fills slots
 * [0, m) with the nodes and leaves [m, EBB_RING_SIZE) 0; at m >= 100 x nodes each node's share
 * is within 1 % (2 slots at least) of its weight share; removing one node of 5 moves its own
 * slots and few others (3 % of the table at most); a size outside 2..EBB_RING_SIZE is refused.
 */
static void test_sizes(void)
{
	static const __u32 sizes[] = { EBB_TABLE_SIZES };
	static struct ebb_maglev_node v[5];

	for (size_t i = 0; i < 5; i++)
		v[i] = pool_node(i, true, EBB_DEFAULT_WEIGHT);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		__u32 m = sizes[k], past = 0, worst = 0, own = 0, extra = 0;
		size_t n = m >= 500 ? 5 : 2; /* m >= 100 x nodes */

		CHECK(ebb_table_size_ok(m), "size %u is allowed", m);
		memset(t1, 0xee, sizeof(t1));
		if (!CHECK(!ebb_maglev_build_m(v, n, m, t1), "size %u, %zu nodes: build", m, n))
			continue;
		for (__u32 s = 0; s < SLOTS; s++) {
			bool known = false;

			for (size_t i = 0; i < n; i++)
				known |= t1[s] == v[i].id;
			past += s < m ? !known : t1[s] != 0;
		}
		CHECK(past == 0, "size %u: every slot < %u holds a node id, none past it is set (%u wrong)",
		      m, m, past);
		for (size_t i = 0; i < n; i++) {
			size_t got = 0;
			double expected = (double)m / n, dev, bound = expected * 0.01 > 2 ? expected * 0.01 : 2;

			for (__u32 s = 0; s < m; s++)
				got += t1[s] == v[i].id;
			dev = got > expected ? got - expected : expected - got;
			if (dev > bound)
				worst++;
		}
		CHECK(worst == 0, "size %u, %zu nodes: every node's share within 1%% (2 slots at least) of 1/%zu",
		      m, n, n);
		if (n < 5)
			continue;
		if (!CHECK(!ebb_maglev_build_m(v, 4, m, t2), "size %u: build without the fifth node", m))
			continue;
		for (__u32 s = 0; s < m; s++) {
			if (t1[s] == v[4].id)
				own++;
			else if (t1[s] != t2[s])
				extra++;
		}
		/* Maglev's disruption: small, not minimal, and relatively larger in a small table
		 * (measured: 2.9 % of 509 slots, 0.08 % of 65537) */
		CHECK(own > 0 && extra <= m * 3 / 100 + 2,
		      "size %u: removing 1 of 5 moves its %u slots and %u others (<= 3%% + 2)", m, own, extra);
	}
	CHECK(ebb_maglev_build_m(v, 2, 1, t1) != 0, "size 1 is refused");
	CHECK(ebb_maglev_build_m(v, 2, SLOTS + 1, t1) != 0, "size %u (past EBB_RING_SIZE) is refused",
	      SLOTS + 1);
	CHECK(!ebb_table_size_ok(250) && !ebb_table_size_ok(65521) && !ebb_table_size_ok(0),
	      "250, 65521 and 0 are not allowed sizes");
	/* the default-size builder is the sized one at EBB_RING_SIZE, byte for byte */
	if (CHECK(!ebb_maglev_build(v, 5, t1) && !ebb_maglev_build_m(v, 5, SLOTS, t2),
		  "size %u: both builders", SLOTS))
		CHECK(!memcmp(t1, t2, sizeof(t1)), "ebb_maglev_build == ebb_maglev_build_m(EBB_RING_SIZE)");
}

int main(void)
{
	test_empty();
	test_shares();
	test_remove();
	test_add();
	test_reweight();
	test_deterministic();
	test_sizes();
	return test_summary("maglev");
}
