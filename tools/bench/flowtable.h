/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A prototype of issue 16's flow table, for the bench and its test only (not the product's
 * bpf/ yet; doc/flow-table.md has the measurements and the plan). One definition of the layout,
 * the hash and the insert policy, compiled into the prototype's BPF program
 * (tools/bench/flowtable.bpf.c) and into user space (the bench's fill-ratio sweep and census, the
 * unit test), so that both sides place a flow in the same slot.
 *
 * The table: buckets of FT_WAYS 8-byte entries (8 ways = one 64-byte cache line), in an mmapable
 * BPF array, so that user space reads it in place. A flow has FT_CHOICES candidate buckets. An
 * entry is one 64-bit word, written only by compare-and-swap, so that no CPU, nor user space,
 * ever reads half of one entry and half of another:
 *
 *   63      38 37    28 27     15 14   12 11    0
 *   | fp (26) | vip (10)| node (13)| flags | tick |
 *
 * fp: bits of the flow's hash that the bucket index does not use (a fingerprint: the key
 * itself lives in a side array, written after the entry and read only by user space, which
 * checks it against fp and the bucket); vip: the VIP id (classify by flow, timeouts); node: 1..8191,
 * 0 = an empty entry; flags: EBB_FLOW_FIN/RST/UNCONFIRMED; tick: the last-seen time in ~1 s
 * units, modulo 4096 (68 min): the census ages and clears an entry long before that wraps.
 *
 * Variants, chosen at build time (the bench builds one object per variant, tools/bench/flowtable.sh):
 *   FT_WAYS 4/8/16, FT_CHOICES 1/2, FT_POLICY 0 first fit / 1 least loaded, FT_HASH 0 lookup3 /
 *   1 multiply-xorshift, FT_CLOCK 0 bpf_ktime_get_coarse_ns / 1 bpf_jiffies64, FT_KEYS_INLINE 1:
 *   the side keys in the bucket's second cache line instead of a separate array, FT_TORN 1: an
 *   entry written as two 4-byte halves (wrong on purpose: the concurrency test must catch it).
 */
#ifndef EBB_FLOWTABLE_H
#define EBB_FLOWTABLE_H

#ifndef FT_WAYS
#define FT_WAYS 8
#endif
#ifndef FT_CHOICES
#define FT_CHOICES 2
#endif
#ifndef FT_POLICY
#define FT_POLICY 1
#endif
#ifndef FT_HASH
#define FT_HASH 0
#endif
#ifndef FT_CLOCK
#define FT_CLOCK 0
#endif
#ifndef FT_TORN
#define FT_TORN 0
#endif
#ifndef FT_KEYS_INLINE
#define FT_KEYS_INLINE 0
#endif

#ifdef __bpf__
#define FT_INLINE static __always_inline
#define FT_UNROLL _Pragma("unroll")
#else
#define FT_INLINE static inline
#define FT_UNROLL
#endif

#define FT_FP_SHIFT 38
#define FT_VIP_SHIFT 28
#define FT_NODE_SHIFT 15
#define FT_FLAGS_SHIFT 12
#define FT_FP_MASK 0x3ffffffULL
#define FT_VIP_MASK 0x3ffULL
#define FT_NODE_MASK 0x1fffULL
#define FT_FLAGS_MASK 0x7ULL
#define FT_TICK_MASK 0xfffULL

struct ft_bucket {
	__u64 slot[FT_WAYS];
#if FT_KEYS_INLINE
	__u64 key[FT_WAYS]; /* the side keys in the bucket's next cache line (the ft_keys array
			     * unused): an insert writes the line the prefetcher brought beside */
#endif
};

/* The side array: the client side of the flow in each slot (IPv4: address, both ports). */
struct ft_keys {
	__u64 key[FT_WAYS];
};

struct ft_where {
	__u32 b[2]; /* candidate buckets (b[1] == b[0] with one choice) */
	__u32 fp;
};

/* The prototype program's counters (its .bss), read by the bench and the test. */
struct ft_stats {
	__u64 hits, misses, inserted, updated, evicted, lost, touched, deleted;
	__u64 wrong; /* ft_stress: a hit whose node is not the flow's */
	__u64 checked; /* ft_stress: hits checked */
};

/* What ft_insert did. */
enum { FT_INSERTED, FT_UPDATED, FT_EVICTED, FT_LOST };

FT_INLINE __u32 ft_rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> ((-s) & 31));
}

/* b in [0, n) from 32 random bits, without a division (Lemire's multiply-shift). */
FT_INLINE __u32 ft_range(__u32 h, __u32 n)
{
	return (__u32)(((__u64)h * n) >> 32);
}

/* The flow's buckets and fingerprint: client address, both ports, VIP address (IPv4). */
FT_INLINE struct ft_where ft_where4(__u32 src, __u32 ports, __u32 dst, __u32 nbuckets)
{
	struct ft_where w;
#if FT_HASH == 0
	/* lookup3's final mix (Bob Jenkins, public domain), as include/ebb_hash.h */
	__u32 a = 0x66743031u + src, b = 0x66743031u + ports, c = 0x66743031u + dst;

	c ^= b; c -= ft_rol32(b, 14);
	a ^= c; a -= ft_rol32(c, 11);
	b ^= a; b -= ft_rol32(a, 25);
	c ^= b; c -= ft_rol32(b, 16);
	a ^= c; a -= ft_rol32(c, 4);
	b ^= a; b -= ft_rol32(a, 14);
	c ^= b; c -= ft_rol32(b, 24);
	w.b[0] = ft_range(c, nbuckets);
	w.b[1] = FT_CHOICES > 1 ? ft_range(b, nbuckets) : w.b[0];
	w.fp = a & FT_FP_MASK;
#else
	/* two multiplies and xorshifts: cheaper, weaker on structured input */
	__u64 h = ((__u64)src << 32 | ports) * 0x9e3779b97f4a7c15ULL ^ (__u64)dst * 0xc2b2ae3d27d4eb4fULL;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	w.b[0] = ft_range((__u32)h, nbuckets);
	w.b[1] = FT_CHOICES > 1 ? ft_range((__u32)(h >> 32), nbuckets) : w.b[0];
	w.fp = (__u32)((h * 0x94d049bb133111ebULL) >> 38) & FT_FP_MASK;
#endif
	return w;
}

FT_INLINE __u64 ft_entry(__u32 fp, __u32 vip, __u32 node, __u32 flags, __u32 tick)
{
	return (__u64)(fp & FT_FP_MASK) << FT_FP_SHIFT | (__u64)(vip & FT_VIP_MASK) << FT_VIP_SHIFT |
	       (__u64)(node & FT_NODE_MASK) << FT_NODE_SHIFT |
	       (__u64)(flags & FT_FLAGS_MASK) << FT_FLAGS_SHIFT | (tick & FT_TICK_MASK);
}

FT_INLINE __u32 ft_fp(__u64 e) { return (__u32)(e >> FT_FP_SHIFT); }
FT_INLINE __u32 ft_vip(__u64 e) { return (__u32)(e >> FT_VIP_SHIFT & FT_VIP_MASK); }
FT_INLINE __u32 ft_node(__u64 e) { return (__u32)(e >> FT_NODE_SHIFT & FT_NODE_MASK); }
FT_INLINE __u32 ft_flags(__u64 e) { return (__u32)(e >> FT_FLAGS_SHIFT & FT_FLAGS_MASK); }
FT_INLINE __u32 ft_tick(__u64 e) { return (__u32)(e & FT_TICK_MASK); }
/* How many ticks ago, modulo the tick's span. */
FT_INLINE __u32 ft_age(__u64 e, __u32 now) { return (now - (__u32)e) & FT_TICK_MASK; }

/* 2^30 ns: ~1.07 s, the unit of ages; a hit writes its entry at most once a tick. */
#define FT_TICK_SHIFT 30
FT_INLINE __u32 ft_tick_of_ns(__u64 ns) { return (__u32)(ns >> FT_TICK_SHIFT) & FT_TICK_MASK; }

FT_INLINE __u64 ft_read(const __u64 *p)
{
	return *(volatile const __u64 *)p;
}

/* The one way an entry changes: a compare-and-swap of the whole word (FT_TORN: two halves,
 * with time between them for another CPU to see the first alone). */
FT_INLINE bool ft_cas(__u64 *p, __u64 old, __u64 new)
{
#if FT_TORN
	volatile __u32 *half = (volatile __u32 *)p;
	volatile __u32 spin = 0;

	if (ft_read(p) != old)
		return false;
	half[1] = (__u32)(new >> 32);
	for (int i = 0; i < 64; i++)
		spin += i;
	half[0] = (__u32)new;
	(void)spin;
	return true;
#else
	return __sync_bool_compare_and_swap(p, old, new);
#endif
}

/*
 * The entry of fingerprint fp in the buckets bk[0], bk[1]: its word (0: none), and where
 * (*way: bucket * FT_WAYS + way). Bucket 0 first: first fit puts most flows there.
 */
FT_INLINE __u64 ft_find(struct ft_bucket *b0, struct ft_bucket *b1, __u32 fp, int *way)
{
FT_UNROLL
	for (int i = 0; i < FT_WAYS; i++) {
		__u64 e = ft_read(&b0->slot[i]);

		if (e && ft_fp(e) == fp) {
			*way = i;
			return e;
		}
	}
	if (FT_CHOICES > 1 && b1 != b0) {
FT_UNROLL
		for (int i = 0; i < FT_WAYS; i++) {
			__u64 e = ft_read(&b1->slot[i]);

			if (e && ft_fp(e) == fp) {
				*way = FT_WAYS + i;
				return e;
			}
		}
	}
	return 0;
}

/*
 * Pins a flow: its entry updated in place if it has one, else an empty way (first fit: bucket 0
 * first; least loaded: the bucket with more empty ways), else the way least recently seen of the
 * two buckets is evicted. *way: where it went. FT_LOST when another CPU changed that way first
 * (the flow stays unpinned; its next packet tries again).
 */
FT_INLINE int ft_insert(struct ft_bucket *b0, struct ft_bucket *b1, __u32 fp, __u64 entry,
			__u32 now, int *way)
{
	int empty0 = -1, empty1 = -1, n0 = 0, n1 = 0, oldest = 0, target, ret;
	__u32 oldest_age = 0;
	__u64 old = 0, e;
	struct ft_bucket *tb;

FT_UNROLL
	for (int i = 0; i < FT_WAYS; i++) {
		e = ft_read(&b0->slot[i]);
		if (!e) {
			n0++;
			if (empty0 < 0)
				empty0 = i;
		} else if (ft_fp(e) == fp) {
			*way = i;
			return ft_cas(&b0->slot[i], e, entry) ? FT_UPDATED : FT_LOST;
		} else if (ft_age(e, now) >= oldest_age) {
			oldest_age = ft_age(e, now);
			oldest = i;
		}
	}
	if (FT_CHOICES > 1 && b1 != b0) {
FT_UNROLL
		for (int i = 0; i < FT_WAYS; i++) {
			e = ft_read(&b1->slot[i]);
			if (!e) {
				n1++;
				if (empty1 < 0)
					empty1 = i;
			} else if (ft_fp(e) == fp) {
				*way = FT_WAYS + i;
				return ft_cas(&b1->slot[i], e, entry) ? FT_UPDATED : FT_LOST;
			} else if (ft_age(e, now) > oldest_age) {
				oldest_age = ft_age(e, now);
				oldest = FT_WAYS + i;
			}
		}
	}
	ret = FT_INSERTED;
	if (FT_POLICY == 1 && n1 > n0)
		target = FT_WAYS + empty1;
	else if (empty0 >= 0)
		target = empty0;
	else if (empty1 >= 0)
		target = FT_WAYS + empty1;
	else {
		target = oldest;
		ret = FT_EVICTED;
	}
	tb = target >= FT_WAYS ? b1 : b0;
	target &= 2 * FT_WAYS - 1;
	*way = target;
	if (ret == FT_EVICTED)
		old = ft_read(&tb->slot[target & (FT_WAYS - 1)]);
	return ft_cas(&tb->slot[target & (FT_WAYS - 1)], old, entry) ? ret : FT_LOST;
}

/* The side array's word for an IPv4 client (network-order address and ports as in the packet). */
FT_INLINE __u64 ft_key4(__u32 src, __u16 sport, __u16 dport)
{
	return (__u64)src << 32 | (__u32)sport << 16 | dport;
}

#endif /* EBB_FLOWTABLE_H */
