// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The census: one pass over the flow table inside the kernel (bpf_for_each_map_elem), run on
 * demand by the agent with BPF_PROG_RUN. It counts every node's live flows, by the rules of
 * "Node states" (a flow has finished at a RST, FIN + the FIN timeout, or the idle timeout of
 * its VIP), lists the live flows of the nodes it is asked to watch (draining ones: drain.c looks
 * them up again instead of walking the table), notes when their latest finished flow ended, and
 * counts those that ended since a given time (ebbd's check for flows lost before a drain's first
 * list, drain.c).
 * Copying 1M entries out with batch lookups cost ~0.4 s; counting them in place a small part.
 * The flow table is the pinned one: the loader hands its fd in for `flows`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "ebb.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* replaced by the pinned table */
	__type(key, struct ebb_flow_key);
	__type(value, struct ebb_flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EBB_CENSUS_KEYS);
	__type(key, __u32);
	__type(value, struct ebb_census_key);
} census_keys SEC(".maps");

struct ebb_census_io io;

static long count_flow(void *map, const struct ebb_flow_key *k, const struct ebb_flow *v, void *ctx)
{
	__u32 id = v->node_id, vip_id = v->vip_id;
	const struct ebb_census_vip *t;
	__u64 age = ebb_flow_age_ns(v, io.now_ns), last = io.now_ns - age, idle, end;
	bool live;

	/* Placed by a mid-flow packet no node has claimed (a stray or spoofed ACK): no flow, for
	 * a drain or a scaling decision, until a claim confirms it. */
	if (id >= EBB_MAX_NODES || vip_id >= EBB_MAX_VIPS || (v->flags & EBB_FLOW_UNCONFIRMED))
		return 0;
	t = &io.vips[vip_id];
	idle = k->proto == IPPROTO_UDP ? t->udp_idle_ns : t->tcp_idle_ns;
	if (v->flags & EBB_FLOW_RST) {
		live = false;
		end = last;
	} else if (v->flags & EBB_FLOW_FIN) {
		live = age <= t->fin_ns && age <= idle;
		end = last + t->fin_ns;
	} else {
		live = age <= idle;
		end = last + idle;
	}
	if (!live) {
		if (io.watch[id] && end > io.last_end[id])
			io.last_end[id] = end;
		if (io.watch[id] && io.ended_after[id] && end >= io.ended_after[id])
			io.ended[id]++;
		return 0;
	}
	io.live[id]++;
	io.live_total++;
	if (io.watch[id]) {
		__u32 i = io.n_keys++;
		struct ebb_census_key *ck = bpf_map_lookup_elem(&census_keys, &i);

		if (ck) {
			ck->key = *k;
			ck->node_id = id;
		}
	}
	return 0;
}

SEC("syscall")
int ebb_census(void *ctx)
{
	io.visited = bpf_for_each_map_elem(&flows, count_flow, NULL, 0);
	return 0;
}

/* The walk alone, for the bench's ablation (tools/bench/bench_xdp.c): what visiting every entry
 * costs the kernel before the census reads one. */
static long visit_only(void *map, const void *k, const void *v, void *ctx)
{
	return 0;
}

SEC("syscall")
int ebb_census_walk(void *ctx)
{
	io.visited = bpf_for_each_map_elem(&flows, visit_only, NULL, 0);
	return 0;
}
