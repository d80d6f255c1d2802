// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The flow table's concurrency test program (tests/unit/test_ft_concurrency.c): the product's
 * own table functions (include/ebb_flowtable.h, as bpf/balancer.bpf.c calls them) on a table of
 * two buckets, 64 flows crowded into their 16 ways. Each run one random operation: a packet of a
 * flow (found: must name its flow's node), a pin (a new flow, a refresh, or an eviction of
 * another, with a random age), or the flow's end (its entry cleared). Every flow has a node of
 * its own, so an entry made of two writes names a node its fingerprint's flow does not have.
 *
 * Built with EBB_FT_TORN (include/ebb_flowtable.h), every compare-and-swap writes its word as
 * two 4-byte halves, the fingerprint's first: what the one 64-bit CAS rules out. The test must
 * see wrong nodes with it, or its check could not have caught a torn entry.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ebb.h"
#include "ebb_flowtable.h"
#include "ft_stress.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define STRESS_BUCKETS 2

const volatile __u32 stress_keys = 64; /* flows 10.0.0.0 .. + stress_keys - 1 */

struct stress_stats stats;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, STRESS_BUCKETS);
	__type(key, __u32);
	__type(value, struct ebb_ft_bucket);
} stress_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebb_ft_scan);
} stress_scan SEC(".maps");

/* syn_stress: two syn_recent cells (include/ebb.h) shared by 32 flows, 16 bits each */
struct syn_stress_stats syn_stats;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, union ebb_syn_cell);
} stress_cells SEC(".maps");

/* Distinct per flow: a word of one flow's fingerprint and another's node is caught. */
static __always_inline __u32 stress_node(__u32 k)
{
	return 1 + k % 8000;
}


SEC("xdp")
int ft_stress(struct xdp_md *ctx)
{
	__u32 r = bpf_get_prandom_u32(), k = r % stress_keys, op = (r >> 24) & 7;
	__u32 now = ebb_ft_tick_of_ns(bpf_ktime_get_coarse_ns()), zero = 0;
	struct ebb_flow_key key = { .src = { bpf_htonl(0x0a000000 + k) },
				    .dst = { bpf_htonl(0xcb00710a) },
				    .sport = bpf_htons(40000), .dport = bpf_htons(80),
				    .proto = IPPROTO_TCP, .family = EBB_FAMILY_V4 };
	struct ebb_ft_where w = ebb_ft_where_key(&key, STRESS_BUCKETS);
	__u64 kw = ebb_ft_keyword4(&key), e;
	struct ebb_ft_bucket *b0, *b1;
	struct ebb_ft_scan *scan;
	__u32 i0 = w.b[0], i1 = w.b[1];
	int way;

	b0 = bpf_map_lookup_elem(&stress_table, &i0);
	b1 = bpf_map_lookup_elem(&stress_table, &i1);
	scan = bpf_map_lookup_elem(&stress_scan, &zero);
	if (!b0 || !b1 || !scan)
		return XDP_ABORTED;
	if (op < 4) { /* a packet of the flow: if pinned, to its node */
		if (ebb_ft_find(b0, b1, w.fp, kw, &e) >= 0) {
			__sync_fetch_and_add(&stats.checked, 1);
			if (ebb_ft_node(e) != stress_node(k))
				__sync_fetch_and_add(&stats.wrong, 1);
		}
	} else if (op < 7) { /* pinned: a new flow, a refresh, or an eviction of another */
		e = ebb_ft_entry(w.fp, k, stress_node(k), 0, now + (r & 0xff));
		ebb_ft_pin_prepare(scan, w.fp, kw, e, now);
		switch (ebb_ft_pin(b0, b1, scan, &way)) {
		case EBB_FT_EVICTED:
			__sync_fetch_and_add(&stats.evicted, 1);
			/* fallthrough */
		case EBB_FT_INSERTED:
		case EBB_FT_UPDATED:
			__sync_fetch_and_add(&stats.pinned, 1);
			break;
		default:
			__sync_fetch_and_add(&stats.lost, 1);
		}
	} else { /* it ends: its entry cleared, if no other CPU changed it meanwhile */
		way = ebb_ft_find(b0, b1, w.fp, kw, &e);
		if (way >= 0) {
			struct ebb_ft_bucket *b = way >= EBB_FT_WAYS ? b1 : b0;

			if (ebb_ft_cas(&b->entry[way & (EBB_FT_WAYS - 1)].word, e, 0))
				__sync_fetch_and_add(&stats.cleared, 1);
		}
	}
	return XDP_TX;
}

/*
 * syn_recent's cells under both CPUs, as the balancer writes them: a SYN's pin records its way
 * (ebb_syn_note), the flow's ACK clears it (ebb_syn_settle). Six flows, each a way of its own
 * bucket (q = way = fp = k), three to each of two cells (as many as a cell holds, so that no
 * overflow mark blurs the check); flow k belongs to CPU k % 2, which alone changes its record,
 * so that it knows what the record must be whatever the other CPU does to the same word. Each
 * run takes one of its CPU's flows, checks the cell against what it knows (recorded: the
 * flow's bucket asks; cleared: it does not), then records or clears it at random. A CAS that
 * loses or resurrects another CPU's record (a torn word) is caught by that CPU's next check.
 */
__u32 syn_state[8]; /* [k & 7] (a bound the verifier follows): 1 recorded, 0 cleared;
		     * written only by the flow's own CPU */

SEC("xdp")
int syn_stress(struct xdp_md *ctx)
{
	__u32 r = bpf_get_prandom_u32(), cpu = bpf_get_smp_processor_id() & 1;
	__u32 k = (r % 3) * 2 + cpu, idx = k / 3;
	__u32 unit = ebb_syn_unit(bpf_ktime_get_coarse_ns());
	union ebb_syn_cell *c = bpf_map_lookup_elem(&stress_cells, &idx);
	int asks;

	if (!c)
		return XDP_ABORTED;
	/* (past the compiler, which knows k < 6 and would drop the & 7 the verifier needs) */
	asm volatile("" : "+r"(k));
	asks = ebb_syn_cell_asks(ebb_ft_read(&c->word), k, k, unit);
	__sync_fetch_and_add(&syn_stats.checked, 1);
	if (syn_state[k & 7] && !asks)
		__sync_fetch_and_add(&syn_stats.lost, 1);
	if (!syn_state[k & 7] && asks)
		__sync_fetch_and_add(&syn_stats.ghost, 1);
	if ((r >> 8) & 1) {
		if (!ebb_syn_note(&c->word, k, k, k, unit)) {
			__sync_fetch_and_add(&syn_stats.gave_up, 1); /* (the balancer then restarts its window) */
			return XDP_TX;
		}
		__sync_fetch_and_add(&syn_stats.noted, 1);
		syn_state[k & 7] = 1;
	} else {
		if (!ebb_syn_settle(&c->word, k, k)) {
			__sync_fetch_and_add(&syn_stats.gave_up, 1); /* (the record stays: a SYN asks) */
			return XDP_TX;
		}
		__sync_fetch_and_add(&syn_stats.settled, 1);
		syn_state[k & 7] = 0;
	}
	return XDP_TX;
}
