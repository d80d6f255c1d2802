// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The flow-table prototype of issue 16 (tools/bench/flowtable.h), bench and test only: a packet
 * is parsed (Ethernet, IPv4, TCP; no more checks than that), its flow looked up, a miss that is
 * a SYN pinned (to a node derived from the hash: the Maglev pick both designs pay is left out),
 * and the frame sent back to the node's MAC. Built once per variant (the FT_* macros), and twice
 * more for comparison on the same parse:
 *   FT_LRU  the table ebb has today: the kernel's LRU hash, ebb's 40-byte key, 8-byte value;
 *   FT_NONE no table at all (what the parse and the transmit cost alone).
 * ft_stress is the concurrency test's program (tests/unit/test_flowtable.c): each run one random
 * operation (lookup, pin or delete) on a few flows crowded into a few buckets.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ebb.h"
#include "flowtable.h"

#pragma clang diagnostic ignored "-Wunused-function" /* FT_NONE and FT_LRU use part of it */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800

/* Set by the loader before load. */
const volatile __u32 ft_nbuckets = 1;
const volatile __u32 stress_keys = 64; /* ft_stress: flows 10.0.0.0 .. + stress_keys - 1 */

struct ft_stats stats;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* the loader sets ft_nbuckets */
	__type(key, __u32);
	__type(value, struct ft_bucket);
} ft_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ft_keys);
} ft_keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* FT_LRU: the loader sizes it as bench_xdp's big table */
	__type(key, struct ebb_flow_key);
	__type(value, struct ebb_flow_lru);
} ft_lru SEC(".maps");

static __always_inline __u32 now_tick(void)
{
#if FT_CLOCK == 1
	/* HZ-dependent (250 on Debian): 2^8 jiffies ~1.02 s there */
	return (__u32)(bpf_jiffies64() >> 8) & FT_TICK_MASK;
#else
	return ft_tick_of_ns(bpf_ktime_get_coarse_ns());
#endif
}

struct pkt4 {
	__u32 src, dst, ports; /* network order, as in the packet; ports: sport, dport */
	__u8 tcp_flags;
};

static __always_inline int parse4(struct xdp_md *ctx, struct pkt4 *p)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u8 *l4;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl < 5 ||
	    ip->protocol != IPPROTO_TCP)
		return -1;
	l4 = (__u8 *)ip + ip->ihl * 4;
	if ((void *)(l4 + 20) > end)
		return -1;
	p->src = ip->saddr;
	p->dst = ip->daddr;
	p->ports = *(__u32 *)l4;
	p->tcp_flags = l4[13];
	return 0;
}

static __always_inline int tx_to(struct xdp_md *ctx, __u32 node)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_source, eth->h_dest, 6);
	eth->h_dest[5] = (__u8)node;
	eth->h_dest[4] = (__u8)(node >> 8);
	return XDP_TX;
}

#define TCP_SYN 0x02
#define TCP_ACK 0x10

static __always_inline bool buckets(const struct ft_where *w, struct ft_bucket **b0,
				    struct ft_bucket **b1)
{
	__u32 i0 = w->b[0], i1 = w->b[1];

	*b0 = bpf_map_lookup_elem(&ft_table, &i0);
	*b1 = FT_CHOICES > 1 ? bpf_map_lookup_elem(&ft_table, &i1) : *b0;
	return *b0 && *b1;
}

/* After the entry is in: the client's key beside it, for user space (flow show, census keys). */
static __always_inline void put_key(const struct ft_where *w, int way, __u64 key,
				    struct ft_bucket *b0, struct ft_bucket *b1)
{
#if FT_KEYS_INLINE
	(way >= FT_WAYS ? b1 : b0)->key[way & (FT_WAYS - 1)] = key;
#else
	__u32 i = way >= FT_WAYS ? w->b[1] : w->b[0];
	struct ft_keys *k = bpf_map_lookup_elem(&ft_keys, &i);

	if (k)
		k->key[way & (FT_WAYS - 1)] = key;
#endif
}

SEC("xdp")
int ft_xdp(struct xdp_md *ctx)
{
	struct pkt4 p;

	if (parse4(ctx, &p))
		return XDP_PASS;
#if defined(FT_NONE)
	return tx_to(ctx, 1);
#elif defined(FT_LRU)
	{
		struct ebb_flow_key k = { .src = { p.src }, .dst = { p.dst }, .sport = (__u16)p.ports,
					  .dport = (__u16)(p.ports >> 16), .proto = IPPROTO_TCP,
					  .family = EBB_FAMILY_V4 };
		struct ebb_flow_lru *f = bpf_map_lookup_elem(&ft_lru, &k);
		__u32 tick = ebb_seen_tick(bpf_ktime_get_coarse_ns());

		if (f) {
			stats.hits++;
			if ((__s32)(tick - f->seen) > EBB_TOUCH_TICKS)
				f->seen = tick;
			return tx_to(ctx, f->node_id);
		}
		stats.misses++;
		if ((p.tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
			return XDP_DROP;
		{
			struct ebb_flow_lru v = { .node_id = 1 + (p.src >> 24) % 3, .seen = tick };

			bpf_map_update_elem(&ft_lru, &k, &v, BPF_ANY);
			stats.inserted++;
			return tx_to(ctx, v.node_id);
		}
	}
#else
	{
		struct ft_where w = ft_where4(p.src, p.ports, p.dst, ft_nbuckets);
		struct ft_bucket *b0, *b1;
		__u32 now = now_tick();
		int way = 0, r;
		__u64 e;

		if (!buckets(&w, &b0, &b1))
			return XDP_ABORTED;
		e = ft_find(b0, b1, w.fp, &way);
		if (e) {
			stats.hits++;
			if (ft_tick(e) != now) {
				struct ft_bucket *b = way >= FT_WAYS ? b1 : b0;

				ft_cas(&b->slot[way & (FT_WAYS - 1)], e,
				       (e & ~FT_TICK_MASK) | now);
			}
			return tx_to(ctx, ft_node(e));
		}
		stats.misses++;
		if ((p.tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
			return XDP_DROP;
		{
			__u32 node = 1 + w.fp % 3;

			r = ft_insert(b0, b1, w.fp, ft_entry(w.fp, 0, node, 0, now), now, &way);
			if (r == FT_LOST) {
				stats.lost++;
			} else {
				if (r == FT_EVICTED)
					stats.evicted++;
				else if (r == FT_UPDATED)
					stats.updated++;
				stats.inserted++;
				put_key(&w, way, ft_key4(p.src, (__u16)p.ports, (__u16)(p.ports >> 16)),
					b0, b1);
			}
			return tx_to(ctx, node);
		}
	}
#endif
}

#if !defined(FT_NONE) && !defined(FT_LRU)
/* The node the concurrency test pins flow k to: distinct per flow, so that an entry made of two
 * flows' halves names a node that is not its fingerprint's flow's. */
static __always_inline __u32 stress_node(__u32 k)
{
	return 1 + k % 8000;
}

SEC("xdp")
int ft_stress(struct xdp_md *ctx)
{
	__u32 r = bpf_get_prandom_u32(), k = r % stress_keys, op = (r >> 24) & 7, now = now_tick();
	__u32 src = bpf_htonl(0x0a000000 + k), ports = 0x50001f90, dst = bpf_htonl(0xcb00710a);
	struct ft_where w = ft_where4(src, ports, dst, ft_nbuckets);
	struct ft_bucket *b0, *b1;
	int way = 0;
	__u64 e;

	if (!buckets(&w, &b0, &b1))
		return XDP_ABORTED;
	if (op < 4) { /* a packet of the flow: if pinned, to its node */
		e = ft_find(b0, b1, w.fp, &way);
		if (e) {
			__sync_fetch_and_add(&stats.checked, 1);
			if (ft_node(e) != stress_node(k))
				__sync_fetch_and_add(&stats.wrong, 1);
		}
	} else if (op < 7) { /* pin it (a new flow, a refresh, or an eviction of another) */
		e = ft_entry(w.fp, k & FT_VIP_MASK, stress_node(k), 0, now + (r & 0xff));
		if (ft_insert(b0, b1, w.fp, e, now, &way) == FT_EVICTED)
			__sync_fetch_and_add(&stats.evicted, 1);
	} else { /* it ends: its entry cleared */
		e = ft_find(b0, b1, w.fp, &way);
		if (e) {
			struct ft_bucket *b = way >= FT_WAYS ? b1 : b0;

			if (ft_cas(&b->slot[way & (FT_WAYS - 1)], e, 0))
				__sync_fetch_and_add(&stats.deleted, 1);
		}
	}
	return XDP_TX;
}
#endif
