/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The IPv4 flow table (issue 16, doc/flow-table.md: the design `a8w8il`, chosen by the
 * prototype in tools/bench). One definition, compiled into the balancer (bpf/balancer.bpf.c)
 * and into user space (the tests today; the census, `flow show` and migration next), so that
 * both sides find a flow in the same slot and read its entry the same way.
 *
 * The table is `flows`, a BPF_F_MMAPABLE array of 128-byte buckets: 8 entry words (the first
 * cache line, all a hit reads) then the 8 key words of the same ways (the second line, which
 * an insert writes while the first is in the cache). A flow has two candidate buckets; a new
 * flow goes into the less loaded one, and when both are full the entry seen least recently of
 * the 16 is evicted.
 *
 * An entry is one 64-bit word, changed only by compare-and-swap, so that no CPU and no reader
 * in user space ever sees half of one write and half of another (an mmapable map cannot hold a
 * spin lock, and one word needs none):
 *
 *   63     39 38   37    28 27     15 14   12 11    0
 *   | fp (25) |chk| vip (10)| node (13)| flags | tick |
 *
 * fp: hash bits the bucket indexes do not use; the hit path compares it instead of the key.
 * chk: "check the key": two flows of this fingerprint share these buckets, so a hit on this
 * entry also compares its key word. vip: the VIP id it was placed for. node: 1..8191; a word
 * whose node is 0 is an empty way. flags: EBB_FLOW_FIN/RST/UNCONFIRMED. tick: when last seen,
 * in units of 2^30 ns (~1.07 s) of CLOCK_MONOTONIC, modulo 4096 (~73 min): the census must clear
 * an idle entry long before its tick wraps.
 *
 * A key word holds the client's address and both ports as the packet carries them. It is
 * written after its entry's CAS: a reader that needs it (user space; the datapath only for a
 * chk entry) believes it only if it hashes to the entry's fingerprint and bucket.
 *
 * IPv6 flows are not in this table yet (a second table with 24-byte key words is the plan's
 * step 2): they stay in the LRU hash `flows6`, whose value is the same entry word (fp and chk
 * unused), so that every rule of the datapath reads and writes one kind of entry.
 */
#ifndef EBB_FT_TABLE_H
#define EBB_FT_TABLE_H

#include "ebb.h"

#ifdef __bpf__
#define EBB_FT_INLINE static __always_inline
#define EBB_FT_UNROLL _Pragma("unroll")
#else
#include <stdbool.h>
#define EBB_FT_INLINE static inline
#define EBB_FT_UNROLL
#endif

#define EBB_FT_WAYS 8
/* The load at which 99.9 % of 1M random inserts found a way (doc/flow-table.md's sweep): a
 * table for N flows has N / (8 x 0.84) buckets. */
#define EBB_FT_LOAD_PCT 84
#define EBB_FT_BUCKETS(flows) \
	((__u32)(((__u64)(flows) * 100 + EBB_FT_WAYS * EBB_FT_LOAD_PCT - 1) / (EBB_FT_WAYS * EBB_FT_LOAD_PCT)))
/* The flows a table of that many buckets is sized for (for display; EBB_FT_BUCKETS of it gives
 * back the same buckets only approximately, so sizes are compared in buckets). */
#define EBB_FT_CAPACITY(buckets) ((__u32)((__u64)(buckets) * EBB_FT_WAYS * EBB_FT_LOAD_PCT / 100))

#define EBB_FT_FP_SHIFT 39
#define EBB_FT_CHK_SHIFT 38
#define EBB_FT_VIP_SHIFT 28
#define EBB_FT_NODE_SHIFT 15
#define EBB_FT_FLAGS_SHIFT 12
#define EBB_FT_FP_MASK 0x1ffffffULL
#define EBB_FT_VIP_MASK 0x3ffULL
#define EBB_FT_NODE_MASK 0x1fffULL
#define EBB_FT_FLAGS_MASK 0x7ULL
#define EBB_FT_TICK_MASK 0xfffULL
#define EBB_FT_CHK (1ULL << EBB_FT_CHK_SHIFT)
#define EBB_FT_TICK_SHIFT 30

_Static_assert(EBB_MAX_VIPS <= EBB_FT_VIP_MASK + 1, "a VIP id must fit an entry");
_Static_assert(EBB_MAX_NODES <= EBB_FT_NODE_MASK + 1, "a node id must fit an entry");
_Static_assert((EBB_FLOW_FIN | EBB_FLOW_RST | EBB_FLOW_UNCONFIRMED) <= EBB_FT_FLAGS_MASK,
	       "the flow flags must fit an entry");

/*
 * The same word by field, for BTF only: `bpftool map dump` prints a bucket's entries by name.
 * Code uses the shifts above (a bitfield's layout is the compiler's; both sides here are
 * little-endian, where the first field is the lowest, and test_datapath checks they agree).
 */
struct ebb_ft_fields {
	__u64 tick : 12;
	__u64 flags : 3;
	__u64 node : 13;
	__u64 vip : 10;
	__u64 chk : 1;
	__u64 fp : 25;
};

union ebb_ft_entry {
	__u64 word;
	struct ebb_ft_fields f;
};

/* The client side of an IPv4 flow, as the packet carries it (network order). */
struct ebb_ft_key4 {
	__be32 addr;
	__be16 sport;
	__be16 dport;
};

union ebb_ft_keyword {
	__u64 word;
	struct ebb_ft_key4 k;
};

struct ebb_ft_bucket {
	union ebb_ft_entry entry[EBB_FT_WAYS];
	union ebb_ft_keyword key[EBB_FT_WAYS];
};

_Static_assert(sizeof(struct ebb_ft_bucket) == 128, "a bucket is two cache lines");
_Static_assert(sizeof(union ebb_ft_entry) == 8 && sizeof(union ebb_ft_keyword) == 8,
	       "an entry and a key are one word each");

/* Where a flow may live: its two buckets (equal for a few flows: then one) and fingerprint. */
struct ebb_ft_where {
	__u32 b[2];
	__u32 fp;
};

/* What a pin did. */
enum {
	EBB_FT_INSERTED, /* into an empty way */
	EBB_FT_UPDATED, /* the flow's own entry, replaced */
	EBB_FT_EVICTED, /* into the way least recently seen of the two buckets */
	EBB_FT_LOST, /* another CPU changed that way first: the flow stays as it was */
	EBB_FT_PRESENT, /* "pin if absent" (ebb_ft_scan.if_absent): the flow has an entry, kept */
};

EBB_FT_INLINE __u32 ebb_ft_rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> ((-s) & 31));
}

/* b in [0, n) from 32 random bits, without a division (Lemire's multiply-shift). */
EBB_FT_INLINE __u32 ebb_ft_range(__u32 h, __u32 n)
{
	return (__u32)(((__u64)h * n) >> 32);
}

/*
 * An IPv4 flow's buckets (of nbuckets) and fingerprint: lookup3's final mix of the client's
 * address, both ports and the VIP's address, the protocol in the seed. Three outputs, three
 * independent uses: c and b pick the buckets, a the fingerprint. A seed of its own, not the
 * Maglev slot's (include/ebb_hash.h): a bucket's flows must not share their slots.
 */
EBB_FT_INLINE struct ebb_ft_where ebb_ft_where4(__be32 src, __be16 sport, __be16 dport,
						__be32 dst, __u8 proto, __u32 nbuckets)
{
	__u32 init = 0x66743031u + proto; /* "ft01" */
	__u32 a = init + src, b = init + ((__u32)sport << 16 | dport), c = init + dst;
	struct ebb_ft_where w;

	c ^= b; c -= ebb_ft_rol32(b, 14);
	a ^= c; a -= ebb_ft_rol32(c, 11);
	b ^= a; b -= ebb_ft_rol32(a, 25);
	c ^= b; c -= ebb_ft_rol32(b, 16);
	a ^= c; a -= ebb_ft_rol32(c, 4);
	b ^= a; b -= ebb_ft_rol32(a, 14);
	c ^= b; c -= ebb_ft_rol32(b, 24);
	w.b[0] = ebb_ft_range(c, nbuckets);
	w.b[1] = ebb_ft_range(b, nbuckets);
	w.fp = a & EBB_FT_FP_MASK;
	return w;
}

EBB_FT_INLINE struct ebb_ft_where ebb_ft_where_key(const struct ebb_flow_key *k, __u32 nbuckets)
{
	return ebb_ft_where4(k->src[0], k->sport, k->dport, k->dst[0], k->proto, nbuckets);
}

EBB_FT_INLINE __u64 ebb_ft_keyword4(const struct ebb_flow_key *k)
{
	union ebb_ft_keyword kw;

	kw.k.addr = k->src[0];
	kw.k.sport = k->sport;
	kw.k.dport = k->dport;
	return kw.word;
}

/* The tick of a CLOCK_MONOTONIC time (bpf_ktime_get_coarse_ns in the datapath). */
EBB_FT_INLINE __u32 ebb_ft_tick_of_ns(__u64 ns)
{
	return (__u32)(ns >> EBB_FT_TICK_SHIFT) & EBB_FT_TICK_MASK;
}

EBB_FT_INLINE __u64 ebb_ft_entry(__u32 fp, __u32 vip, __u32 node, __u32 flags, __u32 tick)
{
	return (__u64)(fp & EBB_FT_FP_MASK) << EBB_FT_FP_SHIFT |
	       (__u64)(vip & EBB_FT_VIP_MASK) << EBB_FT_VIP_SHIFT |
	       (__u64)(node & EBB_FT_NODE_MASK) << EBB_FT_NODE_SHIFT |
	       (__u64)(flags & EBB_FT_FLAGS_MASK) << EBB_FT_FLAGS_SHIFT | (tick & EBB_FT_TICK_MASK);
}

EBB_FT_INLINE __u32 ebb_ft_fp(__u64 e) { return (__u32)(e >> EBB_FT_FP_SHIFT); }
EBB_FT_INLINE bool ebb_ft_chk(__u64 e) { return (e & EBB_FT_CHK) != 0; }
EBB_FT_INLINE __u32 ebb_ft_vip(__u64 e) { return (__u32)(e >> EBB_FT_VIP_SHIFT & EBB_FT_VIP_MASK); }
EBB_FT_INLINE __u32 ebb_ft_node(__u64 e) { return (__u32)(e >> EBB_FT_NODE_SHIFT & EBB_FT_NODE_MASK); }
EBB_FT_INLINE __u32 ebb_ft_flags(__u64 e) { return (__u32)(e >> EBB_FT_FLAGS_SHIFT & EBB_FT_FLAGS_MASK); }
EBB_FT_INLINE __u32 ebb_ft_tick(__u64 e) { return (__u32)(e & EBB_FT_TICK_MASK); }
/* How many ticks ago it was seen, modulo the tick's span (4096). */
EBB_FT_INLINE __u32 ebb_ft_age(__u64 e, __u32 now_tick) { return (now_tick - (__u32)e) & EBB_FT_TICK_MASK; }
/* An age within this many ticks of the span was seen after `now` was read (the datapath's tick
 * passed now's, or its coarse clock and the reader's disagree by a tick): age 0, never "4095
 * ticks old". Ages below EBB_FT_USABLE_TICKS are real. */
#define EBB_FT_FUTURE_TICKS 64
#define EBB_FT_USABLE_TICKS (EBB_FT_TICK_MASK + 1 - EBB_FT_FUTURE_TICKS)

/* The word with other flags and tick, the rest (fp, chk, vip, node) kept. */
EBB_FT_INLINE __u64 ebb_ft_with(__u64 e, __u32 flags, __u32 tick)
{
	return (e & ~((EBB_FT_FLAGS_MASK << EBB_FT_FLAGS_SHIFT) | EBB_FT_TICK_MASK)) |
	       (__u64)(flags & EBB_FT_FLAGS_MASK) << EBB_FT_FLAGS_SHIFT | (tick & EBB_FT_TICK_MASK);
}

/* The word placed again: another VIP id, node, flags and tick; its fingerprint and chk kept. */
EBB_FT_INLINE __u64 ebb_ft_replace(__u64 e, __u32 vip, __u32 node, __u32 flags, __u32 tick)
{
	return (e & ((EBB_FT_FP_MASK << EBB_FT_FP_SHIFT) | EBB_FT_CHK)) |
	       ebb_ft_entry(0, vip, node, flags, tick);
}

EBB_FT_INLINE __u64 ebb_ft_read(const __u64 *p)
{
	return *(volatile const __u64 *)p;
}

/* The one way an entry changes (BPF_CMPXCHG in the datapath, which clang 14 emits for 64 bits
 * at any -mcpu; lock cmpxchg in user space): a CAS that loses to another writer changes
 * nothing. EBB_FT_TORN: two 4-byte halves with time between them, wrong on purpose, so that
 * test_flowrace can show it catches a word made of two writes (see that test). */
EBB_FT_INLINE bool ebb_ft_cas(__u64 *p, __u64 old, __u64 new_word)
{
#ifdef EBB_FT_TORN
	volatile __u32 *half = (volatile __u32 *)p;
	volatile __u32 spin = 0;

	if (*(volatile __u64 *)p != old)
		return false;
	half[1] = (__u32)(new_word >> 32);
	for (int i = 0; i < 64; i++)
		spin += i;
	half[0] = (__u32)new_word;
	(void)spin;
	return true;
#else
	return __sync_bool_compare_and_swap(p, old, new_word);
#endif
}

/* Records a SYN's pin of the flow of fingerprint fp, way `way` of bucket q's, in its
 * syn_recent cell (include/ebb.h) by the same CAS: false when the cell changed under every
 * try (the caller then restarts the filter's window). */
EBB_FT_INLINE bool ebb_syn_note(__u64 *cell, __u32 q, __u32 way, __u32 fp, __u32 unit)
{
EBB_FT_UNROLL
	for (int i = 0; i < EBB_SYN_RECENT_TRIES; i++) {
		__u64 old = ebb_ft_read(cell), want = ebb_syn_cell_with(old, q, way, fp, unit);

		if (want == old || ebb_ft_cas(cell, old, want))
			return true;
	}
	return false;
}

/* Clears the way's record, if the cell has one: its flow's handshake completed. False when the
 * cell changed under every try: the record stays (it only makes a SYN ask, and dies with the
 * window), so the datapath ignores it. */
EBB_FT_INLINE bool ebb_syn_settle(__u64 *cell, __u32 q, __u32 way)
{
EBB_FT_UNROLL
	for (int i = 0; i < EBB_SYN_RECENT_TRIES; i++) {
		__u64 old = ebb_ft_read(cell), want = ebb_syn_cell_without(old, q, way);

		if (want == old || ebb_ft_cas(cell, old, want))
			return true;
	}
	return false;
}

/*
 * Where the flow of fingerprint fp and key word kw is in buckets b0, b1 (the same bucket twice
 * is harmless: the second scan finds what the first did): the way (0..15: bucket b0's 0..7,
 * then b1's), its word in *word; -1 when absent. A chk entry is the flow's only if its key word
 * is kw. Bucket b0 first: with room, most flows are there.
 */
EBB_FT_INLINE int ebb_ft_find(struct ebb_ft_bucket *b0, struct ebb_ft_bucket *b1, __u32 fp,
			      __u64 kw, __u64 *word)
{
EBB_FT_UNROLL
	for (int i = 0; i < EBB_FT_WAYS; i++) {
		__u64 e = ebb_ft_read(&b0->entry[i].word);

		if (ebb_ft_node(e) && ebb_ft_fp(e) == fp &&
		    (!ebb_ft_chk(e) || ebb_ft_read(&b0->key[i].word) == kw)) {
			*word = e;
			return i;
		}
	}
EBB_FT_UNROLL
	for (int i = 0; i < EBB_FT_WAYS; i++) {
		__u64 e = ebb_ft_read(&b1->entry[i].word);

		if (ebb_ft_node(e) && ebb_ft_fp(e) == fp &&
		    (!ebb_ft_chk(e) || ebb_ft_read(&b1->key[i].word) == kw)) {
			*word = e;
			return EBB_FT_WAYS + i;
		}
	}
	*word = 0;
	return -1;
}

/*
 * What a pin's scan of the 16 ways found. The datapath keeps it in a per-CPU map value, not in
 * registers, on purpose: the verifier tracks every register's value along every path, and the
 * scan's running counts and choices (empty ways, the oldest way and its age) multiply its paths
 * past the million-instruction limit; a map value's contents are not tracked, so the 16 steps
 * verify as one path. User space passes any struct. Volatile: the compiler must not keep the
 * fields in registers either.
 */
struct ebb_ft_scan {
	/* what is pinned (ebb_ft_pin_prepare; in memory too: the datapath then holds fewer values
	 * across its bucket lookups, and its stack is short) */
	__u64 entry, kw;
	__u32 fp, now_tick;
	__u32 b[2]; /* the buckets, for a caller that has no stack to spare for their keys */
	__u64 own; /* the flow's own entry, as read (own_way < 16) */
	__u64 victim; /* the oldest entry, as read */
	__u32 own_way; /* 16: none */
	__u32 oldest; /* 16: none */
	__u32 oldest_age;
	__u32 n[2]; /* empty ways of each bucket */
	__u32 empty[2]; /* the first empty way of each bucket; EBB_FT_WAYS: none */
	__u32 twin; /* another flow of this fingerprint is here */
	__u32 if_absent; /* set after ebb_ft_pin_prepare: an entry the flow has wins over the pin
			  * (a migration's copy: user/lib/migrate.c) */
	__s32 way; /* for a caller with no stack to spare for ebb_ft_pin's *way */
};

/* One bucket of a pin's scan (base 0 for the first, EBB_FT_WAYS for the second). */
EBB_FT_INLINE void ebb_ft_scan_bucket(volatile struct ebb_ft_scan *st, struct ebb_ft_bucket *b,
				      int base)
{
EBB_FT_UNROLL
	for (int i = 0; i < EBB_FT_WAYS; i++) {
		__u64 e = ebb_ft_read(&b->entry[i].word);
		__u32 age;

		if (!ebb_ft_node(e)) {
			st->n[base ? 1 : 0]++;
			if (st->empty[base ? 1 : 0] >= EBB_FT_WAYS)
				st->empty[base ? 1 : 0] = i;
			continue;
		}
		if (ebb_ft_fp(e) == st->fp) {
			if (ebb_ft_read(&b->key[i].word) == st->kw) {
				if (st->own_way >= 2 * EBB_FT_WAYS) {
					st->own = e;
					st->own_way = base + i;
				}
				continue;
			}
			st->twin = 1;
			if (!ebb_ft_chk(e))
				ebb_ft_cas(&b->entry[i].word, e, e | EBB_FT_CHK);
			continue; /* never the victim: its flow would look like ours */
		}
		age = ebb_ft_age(e, st->now_tick);
		if (st->oldest >= 2 * EBB_FT_WAYS || age > st->oldest_age) {
			st->oldest_age = age;
			st->oldest = base + i;
			st->victim = e;
		}
	}
}

/* What ebb_ft_pin is to pin: entry (fingerprint fp, key word kw), at now_tick. */
EBB_FT_INLINE void ebb_ft_pin_prepare(volatile struct ebb_ft_scan *st, __u32 fp, __u64 kw,
				      __u64 entry, __u32 now_tick)
{
	st->entry = entry;
	st->kw = kw;
	st->fp = fp;
	st->now_tick = now_tick;
	st->if_absent = 0;
}

/*
 * Pins a flow: the entry st was prepared with (ebb_ft_pin_prepare; fingerprint fp) replaces the flow's own entry if it has one, else
 * takes an empty way of the less loaded bucket, else evicts the way seen least recently of
 * the 16; then its key word is written. An entry of the same fingerprint but another key word
 * is another flow's: it is never overwritten; both get chk, so that a hit compares the key
 * from then on. st: scratch for the scan (struct ebb_ft_scan says why). Returns EBB_FT_*;
 * *way is where (0..15).
 */
EBB_FT_INLINE int ebb_ft_pin(struct ebb_ft_bucket *b0, struct ebb_ft_bucket *b1,
			     volatile struct ebb_ft_scan *st, int *way)
{
	__u32 target, n0, n1, e0, e1, oldest;
	__u64 old = 0, entry, pinned = st->entry, kw = st->kw;
	struct ebb_ft_bucket *tb;
	int ret;

	st->own_way = st->oldest = 2 * EBB_FT_WAYS;
	st->oldest_age = st->n[0] = st->n[1] = st->twin = 0;
	st->empty[0] = st->empty[1] = EBB_FT_WAYS;
	ebb_ft_scan_bucket(st, b0, 0);
	if (b1 != b0)
		ebb_ft_scan_bucket(st, b1, EBB_FT_WAYS);
	/* Another pin on this CPU (a preempted BPF_PROG_TEST_RUN; never XDP in NAPI) wrote the
	 * scratch meanwhile: its scan is not ours. */
	if (st->entry != pinned || st->kw != kw)
		return EBB_FT_LOST;

	target = st->own_way;
	if (target < 2 * EBB_FT_WAYS) {
		tb = target >= EBB_FT_WAYS ? b1 : b0;
		*way = target & (2 * EBB_FT_WAYS - 1);
		old = st->own;
		if (st->if_absent)
			return EBB_FT_PRESENT;
		entry = pinned | (old & EBB_FT_CHK);
		return ebb_ft_cas(&tb->entry[target & (EBB_FT_WAYS - 1)].word, old, entry) ?
			       EBB_FT_UPDATED : EBB_FT_LOST;
	}
	entry = pinned;
	if (st->twin)
		entry |= EBB_FT_CHK;
	n0 = st->n[0];
	n1 = st->n[1];
	e0 = st->empty[0];
	e1 = st->empty[1];
	oldest = st->oldest;
	ret = EBB_FT_INSERTED;
	if (e1 < EBB_FT_WAYS && (n1 > n0 || e0 >= EBB_FT_WAYS)) {
		target = EBB_FT_WAYS + e1;
	} else if (e0 < EBB_FT_WAYS) {
		target = e0;
	} else if (oldest < 2 * EBB_FT_WAYS) {
		/* the victim as it was read: if it was seen or replaced since, the CAS fails and
		 * it stays */
		target = oldest;
		old = st->victim;
		ret = EBB_FT_EVICTED;
	} else {
		return EBB_FT_LOST; /* 16 ways of one fingerprint: not worth a victim */
	}
	tb = target >= EBB_FT_WAYS ? b1 : b0;
	target &= 2 * EBB_FT_WAYS - 1;
	*way = target;
	if (!ebb_ft_cas(&tb->entry[target & (EBB_FT_WAYS - 1)].word, old, entry))
		return EBB_FT_LOST;
	tb->key[target & (EBB_FT_WAYS - 1)].word = kw;
	return ret;
}

/*
 * A flow entry of the LRU layouts (4 to the last before the bucket table: struct ebb_flow_lru, its
 * `seen` in 2^24 ns ticks) as an entry word, fingerprint 0 (a pin adds the flow's): the same
 * node, VIP id and flags, and the tick `seen` falls in (2^30 ns = 64 of its ticks; exact, since
 * both count from the same clock's 0). `prog upgrade` across the switch to this table
 * (user/lib/migrate.c) converts with it, in user space and in the datapath (flows_old).
 */
EBB_FT_INLINE __u64 ebb_ft_entry_of_lru(const struct ebb_flow_lru *f)
{
	return ebb_ft_entry(0, f->vip_id, f->node_id, f->flags,
			    f->seen >> (EBB_FT_TICK_SHIFT - EBB_SEEN_SHIFT));
}

#endif /* EBB_FT_TABLE_H */
