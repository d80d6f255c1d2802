/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The balancer's maps. Every one is pinned by name under the bpffs directory given at load time
 * (default /sys/fs/bpf/ebb), so the datapath and its state outlive ebbctl and ebbd, and a
 * restarted or upgraded program finds them again.
 */
#ifndef EBB_MAPS_H
#define EBB_MAPS_H

#include "ebb.h"
#include "ebb_flowtable.h"

/* A superset of vip_addrs as bits (see include/ebb.h): most packets that are not ours stop here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebb_vip_filter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_filter SEC(".maps");

/* Addresses that carry at least one VIP: one lookup tells ours from not-ours. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBB_MAX_VIPS);
	__type(key, struct ebb_vip_addr_key);
	__type(value, __u32); /* number of VIPs on this address */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBB_MAX_VIPS);
	__type(key, struct ebb_vip_key);
	__type(value, struct ebb_vip);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vips SEC(".maps");

/* The VIPs by a hash of their key, direct-mapped (include/ebb.h): how a new flow finds its VIP. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebb_vip_slots);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_slots SEC(".maps");

/* The VIPs again, by id (include/ebb.h): how a packet of a pinned flow finds its VIP. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EBB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct ebb_vip_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vips_by_id SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EBB_MAX_NODES);
	__type(key, __u32);
	__type(value, struct ebb_node);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBB_MAX_MEMBERS);
	__type(key, struct ebb_member_key);
	__type(value, struct ebb_member);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} members SEC(".maps");

/* One Maglev lookup table: slot -> node id, four slots an element (include/ebb.h). Mmapable:
 * user space fills a new one with one memcpy instead of element updates (a drain reaches the
 * datapath that much sooner). BPF_F_INNER_MAP: each VIP's tables have its own size (M slots,
 * ebb_vip.table_size), this one only the template's; the price is that a lookup in a table
 * is a helper call the verifier cannot inline (the index is checked at run time). */
struct ebb_ring {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE | BPF_F_INNER_MAP);
	__uint(max_entries, EBB_RING_ELEMS);
	__type(key, __u32);
	__type(value, __u64); /* struct ebb_ring_elem: four __u16 slots */
};

/*
 * Map of maps so that a table switch is one pointer swap: user space fills a fresh inner table,
 * then replaces the outer slot, and a packet sees either the whole old or the whole new table.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, EBB_MAX_RINGS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct ebb_ring);
} rings SEC(".maps");

/* Which slots of each VIP's new-flow table changed owner within the SYN retry window
 * (include/ebb.h): the only bare SYNs that ask the flow table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, EBB_RING_CHANGES);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ring_changes SEC(".maps");

/* Where a bare SYN pinned a flow lately whose handshake has not completed (include/ebb.h): a
 * SYN within the retry window whose buckets have no such record is no retry and need not ask
 * the flow table. Element 0: since when every pin is recorded. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EBB_SYN_RECENT_CELLS + 1);
	__type(key, __u32);
	__type(value, union ebb_syn_cell);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} syn_recent SEC(".maps");

/* The IPv4 flow table (include/ebb_flowtable.h): buckets of 8 entry words and their 8 key
 * words, sized for `prog attach ... flows N` at 84 % load. Mmapable: user space reads (and
 * changes, by CAS) the very words the datapath does. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, EBB_FT_BUCKETS(EBB_FLOW_TABLE_SIZE));
	__type(key, __u32);
	__type(value, struct ebb_ft_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

/* Per CPU: a pin's scan of its 16 ways (struct ebb_ft_scan says why in memory). Not pinned.
 * XDP in NAPI never runs twice at once on one CPU; a BPF_PROG_TEST_RUN can be preempted by
 * another on its CPU. A pin gives up when the scratch changed under its scan (ebb_ft_pin); in
 * the window left (between ebb_ft_pin_prepare and that check's first read, and after it) it
 * may write the other flow's entry into its own buckets: found by no lookup unless the two
 * flows share a bucket, and then naming the other flow's node as of now (a copy that a later
 * re-placement of that flow could leave stale). Tests that run the balancer concurrently pin
 * one thread to each CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebb_ft_scan);
} ft_scratch SEC(".maps");

/*
 * The LRU flow table of the layout a `prog upgrade` migrates from (user/lib/migrate.c), read
 * only: slot 0 holds it while settings.migrating is set, so that a flow the new table misses
 * between the migration's two copies is found where the old program left it (and adopted into
 * the new table) instead of being placed again. Empty otherwise; not pinned: the upgrade puts
 * the old map in and takes it out again, and then the old map goes.
 */
struct ebb_flows_old {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* an inner hash map's size is its own */
	__type(key, struct ebb_flow_key);
	/* struct ebb_flow_lru, the LRU layouts' value (ebb_ft_entry_of_lru); by size, as the struct
	 * would reach BTF as a declaration only */
	__type(value, __u64);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ebb_flows_old);
} flows_old SEC(".maps");

/* IPv6 flows, until their own table (doc/flow-table-progress.md): an LRU hash whose value is
 * the IPv4 table's entry word (fingerprint unused), so the datapath's rules read one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EBB_FLOW_TABLE_SIZE);
	__type(key, struct ebb_flow_key);
	__type(value, union ebb_ft_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows6 SEC(".maps");

/*
 * Under the flood guard, a SYN whose second-chance slot is a draining node's must still be
 * pinned (its ACK would otherwise go there). It is pinned here, in a table the flood may churn,
 * and moved to the flow table when its handshake completes: spoofed sources never complete one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EBB_SYN_PINS_SIZE);
	__type(key, struct ebb_flow_key);
	__type(value, union ebb_ft_entry); /* fingerprint unused */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} syn_pins SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EBB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct ebb_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EBB_MAX_NODES);
	__type(key, __u32);
	__type(value, struct ebb_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} node_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EBB_R_SLOTS);
	__type(key, __u32);
	__type(value, struct ebb_reason_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} reasons SEC(".maps");

/* Per VIP, every reason but a plain forward (include/ebb.h): why a VIP's packets were dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EBB_VIP_REASONS);
	__type(key, __u32);
	__type(value, struct ebb_reason_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_reasons SEC(".maps");

/* What a listener wants to see (include/ebb.h); sample 0 while nobody listens. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebb_monitor);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} monitor SEC(".maps");

/* The sampled packets' fates, for `ebbctl flow trace`. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EBB_MONITOR_RING_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} monitor_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebb_settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} settings SEC(".maps");

/* Per CPU: new flows seen in the current one-second window, for the flood guard. Not pinned:
 * a restart simply opens a fresh window. */
struct ebb_flood_window {
	__u64 start_ns;
	__u64 new_flows;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebb_flood_window);
} flood_window SEC(".maps");

/* The owners a slot had before its owners now (include/ebb.h), for a rescue's candidates.
 * Written by user space only; only slots whose owner changed have an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBB_HISTORY_SIZE);
	__type(key, struct ebb_history_key);
	__type(value, struct ebb_slot_history);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} slot_history SEC(".maps");

/* The key of a rescue's cookie (include/ebb_siphash.h): random, written once with the maps, so
 * that every program that reuses them checks the claims of the rescues an earlier one sent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebb_rescue_secret);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rescue_secret SEC(".maps");

/* Per CPU: rescues sent in the current one-second window (settings.rescue_rate). Not pinned,
 * as flood_window. */
struct ebb_rescue_window {
	__u64 start_ns;
	__u64 rescues;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebb_rescue_window);
} rescue_window SEC(".maps");

/* Never read per packet: it tells `prog upgrade` which layout the pinned maps have. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebb_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} meta SEC(".maps");

#endif /* EBB_MAPS_H */
