// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The pieces of `prog upgrade` across the switch from the LRU flow table to the bucket table
 * (user/lib/migrate.c), in user space (no root):
 *  - the converter (ebb_ft_entry_of_lru, include/ebb_flowtable.h): an LRU entry of the old
 *    layouts becomes an entry word with the same node, VIP id and flags, and an age within a
 *    tick of the old entry's; for every value each field can take at its edges;
 *  - the copy's "pin if absent" (ebb_ft_pin_absent) on a table in memory: a flow the table has
 *    keeps its entry (the new program's wins over the old table's); a flow it has not is
 *    pinned, found by the header's own lookup; when both buckets are full the way seen least
 *    recently goes, measured by the clock of now, not by the copied entry's own (old) tick; a
 *    FIN the old program saw between the copies is added to a present entry of the same node;
 *  - a bucket table into another of another size (a later layout that keeps the table), flow by
 *    flow: every flow found in the new table with its node, VIP id and flags; a flow the new
 *    table has keeps its node there (the new program's, not the old table's); a flow whose VIP
 *    is gone is not copied; a second copy copies nothing again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "ebb.h"
#include "ebb_flowtable.h"
#include "test.h"

/* user/lib/migrate.c (libebb's internal.h) */
int ebb_ft_pin_absent(struct ebb_ft_bucket *t, __u32 nb, const struct ebb_flow_key *k,
		      __u64 entry, __u32 now_tick);
bool ebb_ft_note_ended(struct ebb_ft_bucket *t, __u32 nb, const struct ebb_flow_key *k,
		       __u64 entry);
void ebb_ft_copy_table(const struct ebb_ft_bucket *from, __u32 from_nb, struct ebb_ft_bucket *to,
		       __u32 to_nb, const struct ebb_vip_entry *vips, __u32 now_tick,
		       __u64 counts[4]);

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void converter_cases(void)
{
	/* the LRU layouts' ids: 1..1023 nodes, 64 VIPs (8 bits in struct ebb_flow_lru) */
	static const __u16 nodes[] = { 1, 2, 1000, 1023 };
	static const __u8 vips[] = { 0, 1, 37, 63 };
	static const __u8 flags[] = { 0, EBB_FLOW_FIN, EBB_FLOW_RST, EBB_FLOW_UNCONFIRMED,
				      EBB_FLOW_FIN | EBB_FLOW_RST | EBB_FLOW_UNCONFIRMED };
	/* how long ago the old entry was seen: this tick, a tick's edges, minutes, past the
	 * 12-bit tick's wrap (73 min: the age is then modulo 4096 ticks, as the census knows) */
	static const __u64 ago_ns[] = { 0, 1, (1ULL << 30) - 1, 1ULL << 30, 5000000000ULL,
					600000000000ULL, 4000ULL << 30 };
	/* clocks: now, and one where 2^24 ns ticks wrapped their 32 bits (2.3 years of uptime) */
	__u64 clocks[] = { mono_ns(), (1ULL << 56) + 123456789ULL };
	int n = 0, bad_fields = 0, bad_age = 0;

	for (size_t c = 0; c < 2; c++)
		for (size_t a = 0; a < sizeof(ago_ns) / sizeof(ago_ns[0]); a++)
			for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
				for (size_t j = 0; j < sizeof(vips) / sizeof(vips[0]); j++)
					for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
						__u64 now = clocks[c], then = now - ago_ns[a];
						struct ebb_flow_lru old = {
							.node_id = nodes[i], .vip_id = vips[j],
							.flags = flags[f], .seen = ebb_seen_tick(then),
						};
						__u64 w = ebb_ft_entry_of_lru(&old);
						__u64 age = (__u64)ebb_ft_age(w, ebb_ft_tick_of_ns(now))
							    << EBB_FT_TICK_SHIFT;
						__u64 want = ago_ns[a] % (4096ULL << EBB_FT_TICK_SHIFT);

						n++;
						if (ebb_ft_node(w) != nodes[i] || ebb_ft_vip(w) != vips[j] ||
						    ebb_ft_flags(w) != flags[f] || ebb_ft_fp(w) || ebb_ft_chk(w)) {
							if (!bad_fields++)
								printf("# node %u vip %u flags %u -> %#llx\n",
								       nodes[i], vips[j], flags[f],
								       (unsigned long long)w);
						}
						/* ages count whole ticks: the entry's age is the old one's to
						 * within one tick */
						if (age > want + (1ULL << EBB_FT_TICK_SHIFT) ||
						    want > age + (1ULL << EBB_FT_TICK_SHIFT)) {
							if (!bad_age++)
								printf("# %llu ns ago -> age %llu ns\n",
								       (unsigned long long)ago_ns[a],
								       (unsigned long long)age);
						}
					}
	CHECK(!bad_fields, "converter: node, VIP id and flags kept, no fingerprint (%d of %d wrong)",
	      bad_fields, n);
	CHECK(!bad_age, "converter: the age is the old entry's within a tick (%d of %d off)", bad_age,
	      n);
}

static struct ebb_flow_key key4(__u32 client, __u16 sport)
{
	struct ebb_flow_key k = { .family = EBB_FAMILY_V4, .proto = 6 };

	k.src[0] = htonl(client);
	k.dst[0] = htonl(0xcb00710a); /* 203.0.113.10 */
	k.sport = htons(sport);
	k.dport = htons(80);
	return k;
}

static __u32 node_in(struct ebb_ft_bucket *t, __u32 nb, const struct ebb_flow_key *k)
{
	struct ebb_ft_where w = ebb_ft_where_key(k, nb);
	__u64 word;

	return ebb_ft_find(&t[w.b[0]], &t[w.b[1]], w.fp, ebb_ft_keyword4(k), &word) < 0 ?
		       0 : ebb_ft_node(word);
}

static __u32 flags_in(struct ebb_ft_bucket *t, __u32 nb, const struct ebb_flow_key *k)
{
	struct ebb_ft_where w = ebb_ft_where_key(k, nb);
	__u64 word;

	return ebb_ft_find(&t[w.b[0]], &t[w.b[1]], w.fp, ebb_ft_keyword4(k), &word) < 0 ?
		       ~0u : ebb_ft_flags(word) | (ebb_ft_tick(word) == 1000 ? 0 : 0x100);
}

static void pin_absent_cases(void)
{
	__u32 nb = 64, now = 1000;
	struct ebb_ft_bucket *t = aligned_alloc(64, nb * sizeof(*t));
	struct ebb_flow_key a = key4(0xc6336464, 40000), k;
	int ret, inserted = 0, found = 0;
	bool noted;

	if (!ASSERT_TRUE(t, "a table in memory"))
		return;
	memset(t, 0, nb * sizeof(*t));
	ret = ebb_ft_pin_absent(t, nb, &a, ebb_ft_entry(0, 3, 5, 0, now), now);
	CHECK(ret == EBB_FT_INSERTED && node_in(t, nb, &a) == 5,
	      "pin if absent: a flow the table has not is pinned (ret %d, node %u)", ret,
	      node_in(t, nb, &a));
	ret = ebb_ft_pin_absent(t, nb, &a, ebb_ft_entry(0, 3, 6, EBB_FLOW_FIN, now), now);
	CHECK(ret == EBB_FT_PRESENT && node_in(t, nb, &a) == 5,
	      "pin if absent: a flow the table has keeps its entry (ret %d, node %u)", ret,
	      node_in(t, nb, &a));
	/* the old program saw the flow end between the copies: noted if the node is the same */
	CHECK(!ebb_ft_note_ended(t, nb, &a, ebb_ft_entry(0, 3, 6, EBB_FLOW_FIN, now)) &&
		      !flags_in(t, nb, &a),
	      "an ended flow's FIN on another node: not noted");
	noted = ebb_ft_note_ended(t, nb, &a, ebb_ft_entry(0, 3, 5, EBB_FLOW_FIN, now - 50));
	CHECK(noted && flags_in(t, nb, &a) == EBB_FLOW_FIN && node_in(t, nb, &a) == 5,
	      "an ended flow's FIN on the same node: noted (flags %#x), node and tick kept",
	      flags_in(t, nb, &a));
	CHECK(!ebb_ft_note_ended(t, nb, &a, ebb_ft_entry(0, 3, 5, EBB_FLOW_FIN, now)),
	      "... and only once");
	/* 300 flows into 512 ways: each found with its own node */
	for (__u32 i = 0; i < 300; i++) {
		k = key4(0xc6336500 + i, 1000 + i);
		inserted += ebb_ft_pin_absent(t, nb, &k, ebb_ft_entry(0, 3, 1 + i % 4000, 0, now),
					      now) == EBB_FT_INSERTED;
	}
	for (__u32 i = 0; i < 300; i++) {
		k = key4(0xc6336500 + i, 1000 + i);
		found += node_in(t, nb, &k) == 1 + i % 4000;
	}
	CHECK(inserted == 300 && found == 300, "pin if absent: 300 flows pinned (%d), each found with its node (%d)",
	      inserted, found);
	free(t);

	/* One bucket (both choices the same): 8 ways, seen 20 ticks ago and 6..0 ticks ago, then
	 * a ninth flow whose copied entry was seen 10 ticks ago. The victim is the way seen 20
	 * ticks ago. Were ages counted from the copied entry's tick, the ways seen after it would
	 * be 4090-odd ticks "old" (modulo 4096) and one of them would go instead. */
	nb = 1;
	t = aligned_alloc(64, sizeof(*t));
	if (!ASSERT_TRUE(t, "a one-bucket table"))
		return;
	memset(t, 0, sizeof(*t));
	for (__u32 i = 0; i < EBB_FT_WAYS; i++) {
		k = key4(0xc6336600 + i, 2000 + i);
		ebb_ft_pin_absent(t, nb, &k, ebb_ft_entry(0, 3, 10 + i, 0, i ? now - 7 + i : now - 20),
				  now);
	}
	k = key4(0xc6336700, 3000);
	ret = ebb_ft_pin_absent(t, nb, &k, ebb_ft_entry(0, 3, 99, 0, now - 10), now);
	{
		struct ebb_flow_key oldest = key4(0xc6336600, 2000), newest = key4(0xc6336607, 2007);

		CHECK(ret == EBB_FT_EVICTED && node_in(t, nb, &k) == 99 && !node_in(t, nb, &oldest) &&
			      node_in(t, nb, &newest) == 17,
		      "pin if absent into full buckets: the way seen least recently before now goes (ret %d; oldest %u, newest %u)",
		      ret, node_in(t, nb, &oldest), node_in(t, nb, &newest));
	}
	free(t);
}

static void table_copy_cases(void)
{
	__u32 from_nb = 16, to_nb = 40, now = 2000, found = 0, n = 100;
	struct ebb_ft_bucket *from = aligned_alloc(64, from_nb * sizeof(*from));
	struct ebb_ft_bucket *to = aligned_alloc(64, to_nb * sizeof(*to));
	struct ebb_vip_entry *vips = calloc(EBB_MAX_VIPS, sizeof(*vips));
	struct ebb_flow_key k, x = key4(0xc6336900, 5000), gone = key4(0xc6336901, 5001);
	__u64 counts[4] = {}, again[4] = {};

	if (!ASSERT_TRUE(from && to && vips, "two tables in memory"))
		goto out;
	memset(from, 0, from_nb * sizeof(*from));
	memset(to, 0, to_nb * sizeof(*to));
	vips[3].key.family = EBB_FAMILY_V4;
	vips[3].key.proto = 6;
	vips[3].key.port = htons(80);
	vips[3].key.addr[0] = htonl(0xcb00710a); /* key4's VIP */
	for (__u32 i = 0; i < n; i++) {
		k = key4(0xc6336800 + i, 4000 + i);
		ebb_ft_pin_absent(from, from_nb, &k,
				  ebb_ft_entry(0, 3, 1 + i, i % 3 ? 0 : EBB_FLOW_FIN, now - i % 7), now);
	}
	/* x: in both, the new table's node 777 (the new program placed it); gone: its VIP 4 is
	 * no VIP now */
	ebb_ft_pin_absent(from, from_nb, &x, ebb_ft_entry(0, 3, 5, 0, now), now);
	ebb_ft_pin_absent(to, to_nb, &x, ebb_ft_entry(0, 3, 777, 0, now), now);
	ebb_ft_pin_absent(from, from_nb, &gone, ebb_ft_entry(0, 4, 6, 0, now), now);

	ebb_ft_copy_table(from, from_nb, to, to_nb, vips, now, counts);
	for (__u32 i = 0; i < n; i++) {
		struct ebb_ft_where w;
		__u64 word = 0;

		k = key4(0xc6336800 + i, 4000 + i);
		w = ebb_ft_where_key(&k, to_nb);
		found += ebb_ft_find(&to[w.b[0]], &to[w.b[1]], w.fp, ebb_ft_keyword4(&k), &word) >= 0 &&
			 ebb_ft_node(word) == 1 + i && ebb_ft_vip(word) == 3 &&
			 ebb_ft_flags(word) == (i % 3 ? 0 : EBB_FLOW_FIN) &&
			 ebb_ft_tick(word) == ((now - i % 7) & EBB_FT_TICK_MASK);
	}
	CHECK(counts[0] == n && counts[1] == 1 && !counts[2] && !counts[3] && found == n,
	      "table to table (16 -> 40 buckets): %llu copied, %llu present, %llu evicted, %llu failed; %u of %u found with node, VIP id, flags and tick",
	      (unsigned long long)counts[0], (unsigned long long)counts[1],
	      (unsigned long long)counts[2], (unsigned long long)counts[3], found, n);
	CHECK(node_in(to, to_nb, &x) == 777, "table to table: a flow the new table has keeps its node (%u)",
	      node_in(to, to_nb, &x));
	CHECK(!node_in(to, to_nb, &gone), "table to table: a flow of a VIP that is gone is not copied");
	ebb_ft_copy_table(from, from_nb, to, to_nb, vips, now, again);
	CHECK(!again[0] && again[1] == n + 1, "table to table, the second copy: %llu copied, %llu present",
	      (unsigned long long)again[0], (unsigned long long)again[1]);
out:
	free(from);
	free(to);
	free(vips);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	converter_cases();
	pin_absent_cases();
	table_copy_cases();
	return test_summary("migrate");
}
