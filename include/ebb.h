/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one definition of everything the datapath (bpf/) and user space (user/, tests/) share:
 * limits, map keys and values, node states, counters. Keys carry explicit padding so that the
 * bytes hashed by the kernel are the bytes written by user space.
 */
#ifndef EBB_H
#define EBB_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Limits. Each may be overridden at build time (make EXTRA_CFLAGS=-DEBB_MAX_VIPS=...). */
#ifndef EBB_MAX_VIPS
#define EBB_MAX_VIPS 1024 /* an entry word's VIP id has 10 bits (include/ebb_flowtable.h) */
#endif
#ifndef EBB_MAX_NODES /* node ids run 1..EBB_MAX_NODES-1; 0 means "no node" */
#define EBB_MAX_NODES 4096 /* an entry word's node id has 13 bits: 8192 would fit */
#endif
#ifndef EBB_MAX_MEMBERS /* (vip, node) pairs */
#define EBB_MAX_MEMBERS 65536
#endif
#ifndef EBB_RING_SIZE /* the largest Maglev lookup-table size, and the default (every VIP of an
		       * older layout has it): prime, ~100x the node count for a 1% spread */
#define EBB_RING_SIZE 65537
#endif
#ifndef EBB_SYN_PINS_SIZE /* flood guard: SYNs that must be pinned, kept apart from the flows */
#define EBB_SYN_PINS_SIZE 65536
#endif
#ifndef EBB_FLOW_TABLE_SIZE /* flows the tables are sized for (include/ebb_flowtable.h); `prog
			      * attach ... flows N` overrides it */
#define EBB_FLOW_TABLE_SIZE 262144
#endif
#define EBB_MAX_WEIGHT 1000

/*
 * A Maglev lookup table as the datapath reads it: 16-bit node ids, four to an 8-byte array
 * element (slot s: element s / 4, lane s % 4). The kernel lays every array element out 8 bytes
 * apart, and a new flow reads one random slot: packed four to an element, the table is a
 * quarter of the size, and that slot is likelier to be in the cache. User space sees the
 * mmap'ed table as an array of EBB_RING_SIZE __u16.
 */
#define EBB_RING_ELEMS ((EBB_RING_SIZE + 3) / 4)
struct ebb_ring_elem {
	__u16 node[4];
};

/*
 * A VIP's table size M (ebb_vip.table_size), fixed for its life (another M moves every flow's
 * slot): one of these primes, chosen for its pool (Maglev wants M >= 100 x nodes for a 1 %
 * spread; M slots cost 2 x M bytes a table, two tables a VIP). Cilium's list is the model;
 * it stops at EBB_RING_SIZE, the size of every VIP before sizes were chosen (65537, not
 * Cilium's 65521). The datapath takes slot = hash % M, so any M <= EBB_RING_SIZE is safe to
 * read: the list is what user space accepts. 0 (never written by ebb) reads as EBB_RING_SIZE.
 */
#define EBB_TABLE_SIZES 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, EBB_RING_SIZE
#define EBB_TABLE_SIZE_DEFAULT EBB_RING_SIZE

/* Each VIP owns two lookup tables in the `rings` map-of-maps. */
#define EBB_RING_NEW(vip_id) ((vip_id) * 2)         /* over `active` nodes: new flows */
#define EBB_RING_SECOND(vip_id) ((vip_id) * 2 + 1) /* over `active`+`draining`: lost state */
#define EBB_MAX_RINGS (EBB_MAX_VIPS * 2)

/* Bumped whenever a map's key or value layout changes: an upgrade across it must refuse. */
#ifndef EBB_MAP_LAYOUT_VERSION
#define EBB_MAP_LAYOUT_VERSION 9 /* 2: mmapable rings, ebb_vip.has_draining; 3: EBB_R_SLOTS; 4: 8-byte
				  * flow entries, vip_filter, ebb_vip.rings_changed, vips_by_id,
				  * vip_slots, 16-bit ring slots; 5: rescues (settings.rescue_rate,
				  * slot_history, rescue_secret, ebb_node.flags); 6: vip_reasons,
				  * monitor, monitor_events; 7: ring_changes; 8: ebb_vip.table_size,
				  * rings' inner tables BPF_F_INNER_MAP (sized per VIP); 9: flows the
				  * IPv4 bucket table (include/ebb_flowtable.h), flows6, syn_pins of
				  * entry words; 1024 VIPs, 4096 nodes (vip_filter, vip_slots grown).
				  * syn_recent came later in 9, without a bump: no map changed, a
				  * program without it ignores it, one with it creates it when it is
				  * not pinned, and every load restarts its window (balancer.c) */
#endif

#define EBB_FAMILY_V4 4
#define EBB_FAMILY_V6 6

/* Packed (one byte) so that `bpftool map dump` prints the state's name, not a number. */
enum ebb_node_state {
	EBB_NODE_UNUSED = 0, /* free slot in the nodes array */
	EBB_NODE_ACTIVE = 1, /* new and existing flows */
	EBB_NODE_DRAINING = 2, /* existing flows only, until they finish */
	EBB_NODE_INACTIVE = 3, /* nothing; kept for a later re-activation */
	EBB_NODE_DOWN = 4, /* health checks fail; its flows are re-steered */
	EBB_NODE_STATE_MAX,
} __attribute__((packed));

enum ebb_fwd {
	EBB_FWD_DSR = 0, /* rewrite L2 only; the node owns the VIP and answers the client */
	EBB_FWD_IPIP = 1, /* IPIP / IPv6-in-IPv6 toward the node */
} __attribute__((packed));

/* Why a packet was passed or dropped; indexes the per-CPU `reasons` array. */
enum ebb_reason {
	EBB_R_FORWARDED = 0, /* XDP_TX toward a node */
	EBB_R_PASS_NOT_IP, /* not IPv4/IPv6 (ARP, LLDP...) */
	EBB_R_PASS_NOT_VIP, /* IP, but not addressed to a VIP */
	EBB_R_PASS_TRUNCATED, /* too short to tell whether it is ours */
	EBB_R_DROP_TRUNCATED, /* addressed to a VIP, the frame shorter than its IP header says */
	EBB_R_DROP_BAD_IHL, /* IPv4 header length < 20 bytes */
	EBB_R_DROP_FRAGMENT, /* IPv4 fragment or IPv6 fragment header: no ports to hash */
	EBB_R_DROP_IPV6_EXT, /* IPv6 extension header other than a fragment */
	EBB_R_DROP_NO_NODE, /* VIP has no node able to take the packet */
	EBB_R_DROP_NO_MAC, /* node has no known MAC address */
	EBB_R_DROP_BAD_ICMP, /* ICMP error about a VIP flow whose quote is unusable */
	EBB_R_PASS_ICMP, /* ICMP to a VIP address that is not an error about a flow */
	EBB_R_TX_TOO_BIG, /* too big to encapsulate: ICMP "fragmentation needed"/"packet too big"
			   * sent back to the client */
	EBB_R_DROP_TOO_BIG, /* too big to encapsulate, and no ICMP may answer it (IPv4 without DF,
			     * or itself an ICMP error) */
	EBB_R_DROP_ENCAP, /* the frame could not be grown for the outer header */
	EBB_R_DROP_BAD_VERSION, /* IP version field does not match the EtherType */
	EBB_R_DROP_BAD_LENGTH, /* IPv4 total length / IPv6 payload length shorter than the
				* headers it must hold */
	EBB_R_DROP_BAD_L4, /* TCP data offset < 5 or past the packet's end; UDP length < 8 or
			    * past the IP payload */
	EBB_R_DROP_BAD_CSUM, /* IPv4 header checksum does not verify */
	EBB_R_DROP_ICMP_FOREIGN, /* ICMP error to one address quoting a packet from another: a
				  * real one goes to the quoted packet's source */
	EBB_R_RESCUED, /* XDP_TX as a rescue: a mid-flow TCP packet with its candidates */
	EBB_R_RESCUE_LIMITED, /* XDP_TX the old way (second chance): over settings.rescue_rate */
	EBB_R_RESCUE_TOO_BIG, /* XDP_TX the old way: the rescue would not fit settings.mtu */
	EBB_R_CLAIMED, /* a node's claim: flow pinned to it, the client's packet XDP_TX to it */
	EBB_R_DROP_BAD_CLAIM, /* a claim (or protocol-253 packet) that is malformed, names no node
			       * of ours, or whose cookie is not this flow's */
	EBB_R_MAX,
};

/* The `reasons` map has room to spare, so that a new reason is not a new map layout. */
#define EBB_R_SLOTS 32
_Static_assert(EBB_R_MAX <= EBB_R_SLOTS, "reasons map too small");

/*
 * vip_filter[0]: one bit per address hash, set for every address in vip_addrs (user space keeps
 * it a superset: bits are set before a VIP appears, cleared after it is gone). A clear bit is
 * proof that a packet is not ours, in one inlined array lookup; a set bit is checked exactly
 * only where it decides anything (a packet to drop, rather than pass).
 */
#define EBB_VIP_FILTER_WORDS 2048 /* 131072 bits (16 KB): 1024 VIP addresses share a bit with
				   * < 1% of others */
#define EBB_VIP_FILTER_BITS_LOG 17
struct ebb_vip_filter {
	__u64 bits[EBB_VIP_FILTER_WORDS];
};

/* The bit of a filter of 2^log bits (a layout's own size: 13 before layout 9) */
static inline __u32 ebb_vip_filter_bit_of(const __be32 *addr, __u8 family, unsigned int log)
{
	__u32 x = addr[0];

	if (family == EBB_FAMILY_V6)
		x ^= addr[1] * 0x85ebca6bu ^ addr[2] * 0xc2b2ae35u ^ addr[3] * 0x27d4eb2fu ^ 0x6;
	/* Fibonacci hashing: the top bits of the product mix every bit of x */
	return (x * 0x9e3779b1u) >> (32 - log);
}

static inline __u32 ebb_vip_filter_bit(const __be32 *addr, __u8 family)
{
	return ebb_vip_filter_bit_of(addr, family, EBB_VIP_FILTER_BITS_LOG);
}
_Static_assert(EBB_VIP_FILTER_WORDS * 64 == 1 << EBB_VIP_FILTER_BITS_LOG, "one bit per hash");

/* vip_addrs: hash, address -> number of VIPs on it. One lookup tells ours from not-ours. */
struct ebb_vip_addr_key {
	__be32 addr[4]; /* IPv4 in addr[0], rest zero */
	__u8 family; /* EBB_FAMILY_V4 / EBB_FAMILY_V6 */
	__u8 pad[3];
};

/* vips: hash, VIP -> struct ebb_vip. */
struct ebb_vip_key {
	__be32 addr[4]; /* IPv4 in addr[0], rest zero */
	__be16 port; /* network order; 0 = every port of addr */
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* EBB_FAMILY_V4 / EBB_FAMILY_V6 */
};

struct ebb_vip {
	__u32 id; /* 0..EBB_MAX_VIPS-1: index of its rings and vip_stats */
	enum ebb_fwd fwd;
	__u8 has_draining; /* a member node drains: the two rings differ (set before they do) */
	__u16 history_lost; /* user space only: slots whose old owner found no room in
			     * slot_history since the VIP was added (saturates at 0xffff) */
	/* Flow-end timeouts in seconds, read by the agent and `node show`, not the datapath. */
	__u32 tcp_idle_s;
	__u32 udp_idle_s;
	__u32 fin_s;
	__u32 drain_timeout_s;
	/* ipip: outer source addresses, one per outer family (the node's family decides). */
	__be32 encap_src4;
	__be32 encap_src6[4];
	/* When a table of this VIP last changed (or was about to), in ticks (ebb_seen_tick).
	 * Longer ago than a SYN's retries last, the flow table cannot hold a bare SYN's flow on
	 * another node than the new-flow table gives: the datapath skips asking it. */
	__u32 rings_changed;
	/* M, the slots of each of its two tables (EBB_TABLE_SIZES): slot = hash % M. */
	__u32 table_size;
};

/*
 * vips_by_id: array, VIP id -> the VIP's key and value as `vips` holds them. A packet whose flow
 * the table pins names its VIP by the id the entry records, a new flow by its key's slot in
 * vip_slots (below); an array lookup is inlined by the verifier where `vips` costs a hash of the
 * key and a call. libebb writes the copies with every VIP write (ebb_vip_store), and the
 * datapath checks the copy's key against the packet's, so a copy is never taken for a VIP it is
 * not: at worst a packet is passed as no VIP's.
 */
struct ebb_vip_entry {
	struct ebb_vip_key key; /* family 0: no VIP has this id */
	struct ebb_vip vip;
};

/*
 * vip_slots[0]: the VIPs by a hash of their key, direct-mapped: slot ebb_vip_slot(key) holds the
 * VIP's id + 1, or EBB_VIP_SLOT_ASK where two VIPs share the slot, or 0. User space keeps every
 * VIP of `vips` in its slot (or ASK) whenever it can be classified, so a slot holding another
 * VIP, or nothing, proves the key is no VIP: a new flow is classified with one inlined array
 * read and one vips_by_id entry, where `vips` costs a hash and a call. ASK: look `vips` up.
 */
#define EBB_VIP_SLOTS 65536 /* 128 KB: 1024 VIPs and their port-0 twins share a slot with ~3%
			     * chance each (a shared slot costs a new flow a `vips` lookup) */
#define EBB_VIP_SLOTS_LOG 16
#define EBB_VIP_SLOT_ASK 0xffff
struct ebb_vip_slots {
	__u16 slot[EBB_VIP_SLOTS];
};

/* The slot of 2^log (a layout's own count: 13 before layout 9) */
static inline __u32 ebb_vip_slot_of(const __be32 *addr, __be16 port, __u8 proto, __u8 family,
				    unsigned int log)
{
	__u32 x = addr[0] ^ ((__u32)port << 16 | (__u32)proto << 8 | family);

	if (family == EBB_FAMILY_V6)
		x ^= addr[1] * 0x85ebca6bu ^ addr[2] * 0xc2b2ae35u ^ addr[3] * 0x27d4eb2fu;
	/* Fibonacci hashing, as for vip_filter: the top bits of the product mix every bit of x */
	return (x * 0x9e3779b1u) >> (32 - log);
}

static inline __u32 ebb_vip_slot(const __be32 *addr, __be16 port, __u8 proto, __u8 family)
{
	return ebb_vip_slot_of(addr, port, proto, family, EBB_VIP_SLOTS_LOG);
}
_Static_assert(EBB_VIP_SLOTS == 1 << EBB_VIP_SLOTS_LOG, "ebb_vip_slot returns one of the slots");
_Static_assert(EBB_MAX_VIPS < EBB_VIP_SLOT_ASK, "VIP ids must fit a slot");

/* How long a client retries a SYN: Linux, tcp_syn_retries 6, 127 s; with margin. */
#define EBB_SYN_RETRY_NS (135ULL * 1000000000ULL)

/*
 * ring_changes: mmapable array of 64-bit words, EBB_RING_CHANGE_WORDS per VIP, one bit per slot
 * of the VIP's new-flow table: set when the slot changed owner within the SYN retry window (the
 * window starts at ebb_vip.rings_changed). A retried SYN can have been placed on another node
 * than the table now gives only in such a slot, so a bare SYN within the window asks the flow
 * table only when its slot's bit is set: a drain of one node of N costs the lookup to 1/N of the
 * SYNs (a SYN flood's above all), not to all of them. User space sets the bits before it moves
 * rings_changed and before it swaps a table in, and clears them only once the window has
 * passed; one 64-bit store a word, so the datapath never reads a half-written word.
 */
#define EBB_RING_CHANGE_WORDS ((EBB_RING_SIZE + 63) / 64)
#define EBB_RING_CHANGES (EBB_MAX_VIPS * EBB_RING_CHANGE_WORDS)

static inline __u32 ebb_ring_change_word(__u32 vip_id, __u32 slot)
{
	return vip_id * EBB_RING_CHANGE_WORDS + slot / 64;
}

/*
 * syn_recent: where a bare SYN pinned a flow lately whose handshake has not completed, so that
 * a SYN within the retry window asks the flow table only if its own first try may be there. A
 * retried SYN must go where its first try went; the first try was pinned by place() within the
 * last EBB_SYN_RETRY_NS, and the client sends no packet but SYNs until a SYN-ACK reached it. So
 * a SYN whose flow has no such record is not a retry: ebb places it as in the steady state, by
 * the table (a SYN on a port whose earlier connection completed its handshake is placed so too:
 * a new connection).
 *
 * Element 0 says since when every SYN pin is recorded: EBB_SYN_SINCE_VALID | CLOCK_MONOTONIC
 * ns; 0 until the datapath's first question sets it, and set to 0 again by every load of the
 * balancer (an attach, an upgrade of either kind: the program before may not have recorded
 * its pins here, or recorded them for another table). Before a whole window has passed since
 * then, and for a window after a pin the datapath failed to record, the datapath asks the flow
 * table as if the filter did not exist.
 *
 * Elements 1..EBB_SYN_RECENT_CELLS are cells of three 21-bit records. A record names a way of
 * the IPv4 flow table (include/ebb_flowtable.h) and the flow that took it: bucket b's records
 * are in cell 1 + b % CELLS and hold q = b / CELLS, the way, 5 bits of the flow's fingerprint
 * and a stamp (when: 2^32 ns units, modulo 128):
 *
 *   20     | 19   13 | 12  8 | 7   5 | 4  0
 *   in use | stamp   | q     | way   | fp
 *
 * A SYN pin records its way (after the pin: only then is the way known); a TCP packet of the
 * flow that is not a SYN (the handshake's ACK first) finds its entry and clears the way's
 * record; a record older than the window is free. A SYN in a changed slot asks the table only
 * in those of its two buckets that have a live record with its fingerprint bits (or its
 * cell's overflow mark, below). So what is in the filter is the handshakes in flight and those
 * never completed (scans, spoofed SYNs below the flood guard's rate), not every flow pinned
 * lately: its size does not grow with the rate of new connections that complete. Errs only one
 * way: another flow's record of the same 5 bits in the bucket (1 in 32), a stale one (its flow
 * evicted, or a stamp that aliases after 128 units), an ACK this host never saw (another LB
 * host's) leave a SYN asking; the table then finds no entry of its flow and places it by the
 * table, as without the filter.
 *
 * A cell whose three records are live when a pin comes gets an overflow mark instead (q =
 * EBB_SYN_Q_OVERFLOW, stamped now, in place of its oldest record, which it outlives): every SYN
 * of the cell's buckets asks until the mark is older than the window. Buckets of q >=
 * EBB_SYN_Q_OVERFLOW (tables over ~6.8M flows) are never recorded: their SYNs always ask. IPv6
 * flows (flows6, an LRU hash: no ways) are not recorded either: their SYNs in a changed slot
 * always ask. One 64-bit CAS per change.
 */
#ifndef EBB_SYN_RECENT_CELLS
#define EBB_SYN_RECENT_CELLS 32768 /* 256 KiB: 98,304 records */
#endif
#define EBB_SYN_SINCE_VALID (1ULL << 63)
/* How many CAS a pin tries before it gives up and restarts element 0's window. */
#define EBB_SYN_RECENT_TRIES 3
#define EBB_SYN_LANES 3
#define EBB_SYN_LANE_BITS 21
#define EBB_SYN_LANE_MASK 0x1fffffULL
#define EBB_SYN_UNIT_SHIFT 32 /* a stamp's unit: 2^32 ns, ~4.3 s */
#define EBB_SYN_STAMP_MASK 0x7f
/* A record is live while its age in units is at most this: a pin seen at least the window
 * (EBB_SYN_RETRY_NS) after it was made, whatever the parts of units at both ends. */
#define EBB_SYN_LIVE_UNITS ((__u32)(EBB_SYN_RETRY_NS >> EBB_SYN_UNIT_SHIFT) + 1)
#define EBB_SYN_Q_OVERFLOW 31 /* q of the overflow mark; buckets of this q or above: no record */
#define EBB_SYN_REC_USED (1u << 20)
#define EBB_SYN_REC_WAY_KEY (EBB_SYN_REC_USED | 0x1fe0) /* in use, q and way */

_Static_assert((__u64)EBB_SYN_LIVE_UNITS << EBB_SYN_UNIT_SHIFT > EBB_SYN_RETRY_NS,
	       "a record lives through a retry window");
_Static_assert(EBB_SYN_LIVE_UNITS < EBB_SYN_STAMP_MASK / 2, "a live stamp never looks dead");
_Static_assert((EBB_SYN_RECENT_CELLS & (EBB_SYN_RECENT_CELLS - 1)) == 0, "cells: a power of two");

/* A cell: BTF-typed, so that `bpftool map dump` prints its records; code uses the word. */
struct ebb_syn_records {
	__u64 rec0 : 21;
	__u64 rec1 : 21;
	__u64 rec2 : 21;
	__u64 unused : 1;
};

union ebb_syn_cell {
	__u64 word;
	struct ebb_syn_records r;
};

static inline __u32 ebb_syn_unit(__u64 ns)
{
	return (__u32)(ns >> EBB_SYN_UNIT_SHIFT) & EBB_SYN_STAMP_MASK;
}

/* Bucket b's cell (1-based: element 0 is the header) and q. */
static inline __u32 ebb_syn_cell_of(__u32 bucket)
{
	return 1 + (bucket & (EBB_SYN_RECENT_CELLS - 1));
}

static inline __u32 ebb_syn_q_of(__u32 bucket)
{
	return bucket / EBB_SYN_RECENT_CELLS;
}

/* fp: the flow table's fingerprint (its low 5 bits are kept) */
static inline __u32 ebb_syn_rec(__u32 q, __u32 way, __u32 fp, __u32 unit)
{
	return EBB_SYN_REC_USED | (unit & EBB_SYN_STAMP_MASK) << 13 | (q & 31) << 8 | (way & 7) << 5 |
	       (fp & 31);
}

static inline __u32 ebb_syn_lane(__u64 word, int i)
{
	return (__u32)(word >> (EBB_SYN_LANE_BITS * i) & EBB_SYN_LANE_MASK);
}

static inline int ebb_syn_rec_live(__u32 r, __u32 unit)
{
	return (r & EBB_SYN_REC_USED) &&
	       ((unit - (r >> 13)) & EBB_SYN_STAMP_MASK) <= EBB_SYN_LIVE_UNITS;
}

/* Does a live record of the cell (or its live overflow mark) make a SYN of bucket q and
 * fingerprint fp ask? */
static inline int ebb_syn_cell_asks(__u64 word, __u32 q, __u32 fp, __u32 unit)
{
	int asks = 0;

	for (int i = 0; i < EBB_SYN_LANES; i++) {
		__u32 r = ebb_syn_lane(word, i), rq = r >> 8 & 31;

		asks |= ebb_syn_rec_live(r, unit) &&
			((rq == q && (r & 31) == (fp & 31)) || rq == EBB_SYN_Q_OVERFLOW);
	}
	return asks;
}

/* The cell with the way (q, way) recorded for the flow of fingerprint fp at unit: the way's
 * own record made again, else a free one taken (a dead record is free), else the overflow
 * mark stamped (or put in place of the oldest record, which it outlives). Every dead record is
 * cleared on the way. */
static inline __u64 ebb_syn_cell_with(__u64 word, __u32 q, __u32 way, __u32 fp, __u32 unit)
{
	__u32 want = ebb_syn_rec(q, way, fp, unit), mark = ebb_syn_rec(EBB_SYN_Q_OVERFLOW, 0, 0, unit);
	int own = -1, free_lane = -1, marked = -1, oldest = 0;
	__u32 oldest_age = 0;
	__u64 out = 0;

	for (int i = 0; i < EBB_SYN_LANES; i++) {
		__u32 r = ebb_syn_lane(word, i);
		__u32 age = (unit - (r >> 13)) & EBB_SYN_STAMP_MASK;

		if (!ebb_syn_rec_live(r, unit)) {
			if (free_lane < 0)
				free_lane = i;
			continue;
		}
		out |= (__u64)r << (EBB_SYN_LANE_BITS * i);
		if ((r & EBB_SYN_REC_WAY_KEY) == (want & EBB_SYN_REC_WAY_KEY))
			own = i;
		else if ((r >> 8 & 31) == EBB_SYN_Q_OVERFLOW)
			marked = i;
		if (age >= oldest_age) {
			oldest_age = age;
			oldest = i;
		}
	}
	if (own < 0 && free_lane >= 0)
		own = free_lane;
	else if (own < 0 && marked >= 0)
		own = marked, want = mark;
	else if (own < 0)
		own = oldest, want = mark;
	return (out & ~(EBB_SYN_LANE_MASK << (EBB_SYN_LANE_BITS * own))) |
	       (__u64)want << (EBB_SYN_LANE_BITS * own);
}

/* Has the cell a record of the way (whatever its stamp and fingerprint)? The datapath asks
 * this of every TCP packet that is not a SYN, and almost always the answer is no. */
static inline int ebb_syn_cell_has_way(__u64 word, __u32 q, __u32 way)
{
	__u32 key = ebb_syn_rec(q, way, 0, 0) & EBB_SYN_REC_WAY_KEY;
	int has = 0;

	for (int i = 0; i < EBB_SYN_LANES; i++)
		has |= (ebb_syn_lane(word, i) & EBB_SYN_REC_WAY_KEY) == key;
	return has;
}

/* The cell without the way's record (whatever its stamp): the flow's handshake completed. */
static inline __u64 ebb_syn_cell_without(__u64 word, __u32 q, __u32 way)
{
	__u32 key = ebb_syn_rec(q, way, 0, 0) & EBB_SYN_REC_WAY_KEY;

	for (int i = 0; i < EBB_SYN_LANES; i++)
		if ((ebb_syn_lane(word, i) & EBB_SYN_REC_WAY_KEY) == key)
			word &= ~(EBB_SYN_LANE_MASK << (EBB_SYN_LANE_BITS * i));
	return word;
}

/* nodes: array, node id -> struct ebb_node. State is per node: scale-in retires machines. */
struct ebb_node {
	__be32 addr[4]; /* IPv4 in addr[0] */
	__u8 family; /* 0 for an unused slot */
	enum ebb_node_state state;
	__u8 mac[6]; /* next hop for dsr; all zero = unknown */
	__u64 state_since_ns; /* CLOCK_MONOTONIC time of the last state change */
	__u32 drain_timeout_s; /* for this drain; 0 = the VIPs' own */
	enum ebb_node_state state_before_down; /* where a recovered `down` node returns to */
	__u8 flags; /* EBB_NODE_F_* */
	__u8 pad[2];
};

/* The node runs ebb's node program (bpf/node.bpf.c): it may be sent rescues and named as a
 * candidate. A node without it is never sent a rescue; it can only be a rescue's last word by
 * getting the packet the way it would without rescues. */
#define EBB_NODE_F_NODE_PROG (1 << 0)

/* members: hash, (vip, node) -> weight. Not read per packet: it is what the rings are built from. */
struct ebb_member_key {
	__u32 vip_id;
	__u32 node_id;
};

struct ebb_member {
	__u32 weight; /* 1..EBB_MAX_WEIGHT */
	__u32 pad;
};

/* A connection (client -> VIP direction only, as DSR sees it): the key of flows6 and syn_pins;
 * the IPv4 table (include/ebb_flowtable.h) hashes it and keeps the client's part. */
struct ebb_flow_key {
	__be32 src[4]; /* client */
	__be32 dst[4]; /* VIP address */
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

#define EBB_FLOW_FIN (1 << 0) /* a FIN from the client was seen */
#define EBB_FLOW_RST (1 << 1) /* a RST was seen: the flow is over */
/* Placed by a mid-flow packet (no SYN seen by this table) and no node has claimed it yet: it is
 * sent as a rescue (doc/node-truth.md) until a candidate's claim names its owner, and counts as
 * no live flow for a drain or a scaling decision (a spoofed ACK must not be a flow). */
#define EBB_FLOW_UNCONFIRMED (1 << 2)

/* A flow's entry as user space reads it, decoded from the table's word (include/ebb_flowtable.h:
 * libebb's ebb_flow_get, ebb_flows_each). Not a map's value: the LRU layouts' is below. */
struct ebb_flow {
	__u16 node_id;
	__u16 vip_id; /* the VIP it was placed for: its timeouts say when the flow has ended */
	__u8 flags; /* EBB_FLOW_* */
	__u8 pad[3];
	__u32 seen; /* when last seen, in ticks of CLOCK_MONOTONIC (ebb_seen_tick): read from
		     * the table, the end of the entry's tick (the latest it can have been seen,
		     * user/lib/flows.c); see ebb_flow_age_ns */
};

/* The value of the LRU layouts' `flows` and `syn_pins` (4 to 8, before the bucket table), with
 * their 8-bit VIP ids (at most 64 VIPs then): only `prog upgrade` from them reads it
 * (user/lib/migrate.c, the datapath's flows_old). */
struct ebb_flow_lru {
	__u16 node_id;
	__u8 vip_id;
	__u8 flags;
	__u32 seen;
};

/* Writing `seen` on every packet would bounce the entry's cache line between CPUs. */
#define EBB_TOUCH_NS (1ULL << 30) /* the table's tick (EBB_FT_TICK_SHIFT): a hit writes its entry
					* when the tick it holds is not the current one */

/* A tick is 2^24 ns (~16.8 ms): 32 bits of them span 2.3 years, and ages (differences, signed)
 * are exact to a tick up to half of that. Timeouts are seconds; a tick is noise beside them. */
#define EBB_SEEN_SHIFT 24
#define EBB_SEEN_TICK_NS (1ULL << EBB_SEEN_SHIFT)
#define EBB_TOUCH_TICKS ((__s32)(EBB_TOUCH_NS >> EBB_SEEN_SHIFT))
#define EBB_SYN_RETRY_TICKS ((__s32)(EBB_SYN_RETRY_NS >> EBB_SEEN_SHIFT))

static inline __u32 ebb_seen_tick(__u64 ns)
{
	return (__u32)(ns >> EBB_SEEN_SHIFT);
}

/* How long ago the flow was last seen, at now_ns (CLOCK_MONOTONIC), from `seen`; 0 when it was
 * seen after now_ns was read. */
static inline __u64 ebb_flow_age_ns(const struct ebb_flow *f, __u64 now_ns)
{
	__s32 ticks = (__s32)(ebb_seen_tick(now_ns) - f->seen);

	return ticks <= 0 ? 0 : (now_ns & (EBB_SEEN_TICK_NS - 1)) + ((__u64)ticks << EBB_SEEN_SHIFT);
}

/* When it was last seen (CLOCK_MONOTONIC ns, as `seen` says). */
static inline __u64 ebb_flow_seen_ns(const struct ebb_flow *f, __u64 now_ns)
{
	__u64 age = ebb_flow_age_ns(f, now_ns);

	return age < now_ns ? now_ns - age : 0;
}

/* vip_stats[vip id], node_stats[node id]: per-CPU. */
struct ebb_counters {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows; /* placed by a ring (SYN, UDP miss, second chance) */
	__u64 second_chance; /* of which: non-SYN misses placed over active+draining */
	__u64 unpinned; /* new flows the flood guard placed without a flow-table entry */
};

/* reasons[enum ebb_reason]: per-CPU. */
struct ebb_reason_counter {
	__u64 packets;
	__u64 bytes;
};

/* vip_reasons[EBB_VIP_REASON(vip id, reason)]: per-CPU, what happened to a VIP's packets other
 * than being forwarded plainly (those are vip_stats' packets less these): the forwarded path
 * pays nothing for it. */
#define EBB_VIP_REASON(vip_id, reason) ((vip_id) * EBB_R_SLOTS + (reason))
#define EBB_VIP_REASONS (EBB_MAX_VIPS * EBB_R_SLOTS)

/*
 * monitor[0]: what a listener (`ebbctl flow trace`) wants to see. While `sample` is 0 (nobody
 * listens) a packet costs one inlined array read and a branch, nothing else; a listener sets it,
 * and then 1 in `sample` packets whose verdict is in `verdicts` (and whose VIP is `vip_id1` - 1,
 * if set) becomes a struct ebb_monitor_event in the monitor_events ring buffer.
 */
struct ebb_monitor {
	__u32 sample; /* 0: nobody listens; N: one packet in N, at random */
	__u32 verdicts; /* 1 << XDP verdict (XDP_DROP 1, XDP_PASS 2, XDP_TX 3) */
	__u32 vip_id1; /* VIP id + 1 to watch alone; 0: every packet */
	__u32 pid; /* the listener's process, so that a second one can tell it is there */
	__u64 lost; /* events the ring buffer had no room for */
};

#define EBB_MONITOR_NO_VIP 0xffff
#define EBB_MONITOR_RING_BYTES (256 * 1024)

/* One packet's fate, as `ebbctl flow trace` prints it. */
struct ebb_monitor_event {
	__u64 ns; /* CLOCK_MONOTONIC */
	struct ebb_flow_key key; /* addresses and ports as parsed; zero when parsing stopped early */
	__u32 bytes; /* the frame as it came in */
	__u16 vip_id; /* EBB_MONITOR_NO_VIP: no VIP (yet) */
	__u16 node_id; /* 0: no node */
	__u8 reason; /* enum ebb_reason */
	__u8 verdict; /* XDP_DROP, XDP_PASS, XDP_TX */
	__u8 tcp_flags;
	__u8 cpu;
	__u32 pad;
};

/* settings[0]: knobs the datapath reads at run time; `ebbctl prog set` writes them. */
struct ebb_settings {
	__u32 flood_rate; /* new flows per second per CPU before the flood guard; 0 = off */
	__u32 mtu; /* egress IP MTU for ipip: larger once encapsulated -> ICMP too big; also the
		    * bound a rescue must fit (else the packet goes the old way, counted) */
	__u32 rescue_rate; /* rescues per second per CPU; beyond it a packet goes the old way
			    * (second chance), counted: spoofed ACKs must not make ebb an amplifier.
			    * 0 = no rescues at all */
	__u32 migrating; /* a `prog upgrade` across the switch to the bucket table is copying the
			  * old LRU (user/lib/migrate.c): a flow the table misses is looked up in
			  * flows_old too. 0 (the pad before) otherwise */
};

#ifndef EBB_DEFAULT_RESCUE_RATE
#define EBB_DEFAULT_RESCUE_RATE 20000
#endif

#ifndef EBB_DEFAULT_FLOOD_RATE
#define EBB_DEFAULT_FLOOD_RATE 50000
#endif

/* meta[0]: facts about the pinned maps themselves, written when they are first created. */
struct ebb_meta {
	__u32 layout_version; /* EBB_MAP_LAYOUT_VERSION of the program that created the maps */
	__u32 pad;
	__u64 created_ns; /* CLOCK_MONOTONIC */
};

/*
 * slot_history: hash, (VIP id, slot) -> the nodes that owned the slot before its owners now, in
 * either of the VIP's tables, while a flow they were given may still live (until the VIP's TCP
 * idle timeout after they stopped owning it). Only slots whose owner changed have an entry, so
 * a still VIP costs nothing. A rescue's candidates are the slot's owners now (second-chance,
 * new-flow) and these. Bounded per slot by EBB_HISTORY_OWNERS distinct owners (past it, the
 * oldest is forgotten) and in all by EBB_HISTORY_SIZE entries (past it, a change records no
 * history for the slots that find no room, counted by user space). Written by user space only.
 */
#ifndef EBB_HISTORY_OWNERS
#define EBB_HISTORY_OWNERS 2
#endif
#ifndef EBB_HISTORY_SIZE
#define EBB_HISTORY_SIZE (1 << 19)
#endif
struct ebb_history_key {
	__u32 vip_id;
	__u32 slot; /* 0..EBB_RING_SIZE-1 */
};

struct ebb_slot_history {
	__u16 owner[EBB_HISTORY_OWNERS]; /* node ids, the latest first; 0 = none */
	__u32 until[EBB_HISTORY_OWNERS]; /* owner[i] is a candidate while ebb_seen_tick(now) is
					  * not past this (CLOCK_MONOTONIC ticks) */
};

/* rescue_secret[0]: the key of the cookie a claim must carry back (random, made with the maps). */
struct ebb_rescue_secret {
	__u32 key[4];
};

/* ---- the census (user/lib/census.c): live flows per node, counted from the flow table ---- */

/* Keys of draining nodes' live flows one census can hand back: as many as ebbd keeps
 * (WATCH_MAX_KEYS); 12 MB, allocated by the first census that watches a node. */
#ifndef EBB_CENSUS_KEYS
#define EBB_CENSUS_KEYS 262144
#endif

/* When a flow of a VIP has finished: its timeouts, defaults applied, in ns. */
struct ebb_census_vip {
	__u64 tcp_idle_ns;
	__u64 udp_idle_ns;
	__u64 fin_ns;
};

/* A live flow of a watched (draining) node. */
struct ebb_census_key {
	struct ebb_flow_key key;
	__u32 node_id;
	__u32 pad;
};

/* The census's inputs and outputs (ebb_census_io): the caller writes the inputs, a run the rest. */
struct ebb_census_io {
	/* in */
	__u64 now_ns; /* CLOCK_MONOTONIC, the clock of a flow's `seen` */
	struct ebb_census_vip vips[EBB_MAX_VIPS]; /* by the VIP id a flow records */
	__u8 watch[EBB_MAX_NODES]; /* 1: list its live flows, time its finished ones */
	/* watched nodes, non-zero: count in ended[] their finished flows that ended at or after
	 * this (CLOCK_MONOTONIC): those that may have been live at an earlier pass */
	__u64 ended_after[EBB_MAX_NODES];
	/* 1: judge and count, clear nothing (a reader beside the daemon, `ebbd --once`: a second
	 * census clearing finished flows would hide them from the daemon's ended[]) */
	__u8 no_clear;
	__u8 pad_in[7];
	/* out */
	__u64 visited; /* entries seen */
	__u64 live_total;
	__u32 n_keys; /* live flows of watched nodes; above EBB_CENSUS_KEYS, not all were kept */
	__u32 pad;
	__u64 live[EBB_MAX_NODES]; /* live flows per node id */
	__u64 last_end[EBB_MAX_NODES]; /* watched nodes: when their latest finished flow ended */
	__u64 ended[EBB_MAX_NODES]; /* watched nodes: finished flows that ended after ended_after */
	__u64 cleared; /* entries this run cleared: finished or idle past any rule's need */
	__u64 unlisted; /* watched nodes' live IPv4 flows whose key word did not hash back to
			 * their entry (a pin in progress): counted in live[], not listed */
};

/* ---- the decapsulator (bpf/decap.bpf.c), on backends of `fwd ipip` VIPs ---- */

/* decap_prefixes: LPM trie of the VIP addresses this node serves; other tunnels pass. */
struct ebb_decap_key {
	__u32 prefixlen; /* 32 (family + pad) + address bits */
	__u8 family; /* EBB_FAMILY_V4 / EBB_FAMILY_V6 */
	__u8 pad[3];
	__be32 addr[4];
};

enum ebb_decap_reason {
	EBB_D_DECAPSULATED = 0, /* outer header stripped, inner packet to the stack */
	EBB_D_PASS_NOT_TUNNEL, /* not IPIP / IPv6-in-IPv6 / 4-in-6: not ours */
	EBB_D_PASS_NOT_VIP, /* a tunnel, but the inner destination is no VIP of this node */
	EBB_D_DROP_TRUNCATED, /* inner header cut short, by the frame's end or the outer length
			       * (a cut outer header is not provably ours) */
	EBB_D_DROP_BAD_OUTER, /* outer IPv4 with bad IHL, fragmented, or options */
	EBB_D_DROP_BAD_INNER, /* inner header's version does not match the tunnel protocol */
	EBB_D_MAX,
};

/* ---- the node program (bpf/node.bpf.c): rescues, and the decapsulator's work ---- */

/*
 * A rescue: a mid-flow TCP packet the balancer cannot place for sure, sent to the first of the
 * nodes that may own its connection, each node passing it on to the next until one has a socket
 * for it (doc/node-truth.md). On the wire, after the Ethernet header (and VLAN tag, if any):
 *
 *   outer IPv4 (protocol EBB_RESCUE_PROTO, no options, not fragmented) or IPv6 (next header
 *     EBB_RESCUE_PROTO, no extension header): source = the balancer, destination = the
 *     candidate the packet is for now (candidates[hop]);
 *   struct ebb_rescue_hdr (8 bytes);
 *   struct ebb_rescue_cand * count (24 bytes each);
 *   the client's IP packet (IPv4 or IPv6 as next_proto says, TCP), as the client sent it.
 *
 * IP protocol 253 is RFC 3692's "use for experimentation and testing": no device of the kernel
 * claims it, so a node without the node program drops a rescue (the stack answers "protocol
 * unreachable") rather than misreading it. A UDP encapsulation (GUE, as GLB uses) would buy
 * RSS entropy from its source port, but this kernel has no FOU/GUE device to decapsulate it
 * anyway, rescues are rare (only mid-flow packets the flow table lost), and a UDP port is one
 * more thing a node's firewall and services may already use.
 */
#define EBB_RESCUE_PROTO 253
#define EBB_RESCUE_MAGIC 0xeb
#define EBB_RESCUE_VERSION 2 /* 1: 8-byte header, family in each candidate, no claims */

/*
 * At most this many candidates in one rescue: the new-flow and the second-chance tables' owners
 * of the slot now, and two more from older tables. Each hop costs a round trip on the
 * balancer-to-node network and EBB_RESCUE_CAND_LEN bytes of every rescued packet, and bounds
 * what a spoofed ACK costs the nodes (at most this many transmissions). GLB carries 2 (primary,
 * secondary), Beamer chains 2 owners.
 */
#define EBB_RESCUE_MAX_HOPS 4

struct ebb_rescue_hdr {
	__u8 magic; /* EBB_RESCUE_MAGIC: tells a rescue from another use of protocol 253 */
	__u8 version; /* EBB_RESCUE_VERSION; any other is dropped */
	__u8 hop; /* index of the candidate this packet is addressed to now: 0 from the balancer,
		   * +1 at each node that passes it on; always < count. In a claim: the owner */
	__u8 count; /* candidates that follow: 1..EBB_RESCUE_MAX_HOPS */
	__u8 next_proto; /* the client's packet: IPPROTO_IPIP (IPv4) or IPPROTO_IPV6 */
	__u8 flags; /* EBB_RESCUE_F_*; the balancer sends 0 */
	__u8 lb_mac[6]; /* the balancer's MAC on the shared segment, where the owner sends its
			 * claim (the outer source is its address); all zero: no claim wanted */
	__u32 cookie; /* the balancer's keyed hash of the client's flow (rescue_secret): a claim
		       * carries it back unchanged, so no one who never saw the rescue can claim */
};

/* Set by the owner when it turns the rescue into a claim: the same frame, sent back to the
 * balancer (outer destination = the rescue's outer source, outer source = candidates[hop].addr,
 * Ethernet destination = lb_mac). The balancer pins the flow to candidates[hop].node_id and
 * forwards the client's packet to it the ordinary way. */
#define EBB_RESCUE_F_CLAIM (1 << 0)

struct ebb_rescue_cand {
	__be32 addr[4]; /* the node's address, as the outer destination: IPv4 in addr[0], rest 0;
			 * always of the outer header's family */
	__u8 mac[6]; /* the node's MAC on the shared segment: the previous hop sends it there
		      * without a neighbour lookup (bpf_fib_lookup may know no entry for it) */
	__u16 node_id; /* the balancer's id of this node (host order): echoed in a claim */
};

/* Bytes a rescue adds in front of the client's packet, for n candidates (Ethernet excluded):
 * IPv4 outer 36 + 24n (n = 4: 132), IPv6 outer 56 + 24n (n = 4: 152). */
#define EBB_RESCUE_LEN(n) (sizeof(struct ebb_rescue_hdr) + (n) * sizeof(struct ebb_rescue_cand))
#define EBB_RESCUE_OVERHEAD4(n) (20 + EBB_RESCUE_LEN(n))
#define EBB_RESCUE_OVERHEAD6(n) (40 + EBB_RESCUE_LEN(n))

/* node_stats[enum ebb_node_reason]: per-CPU, one per way a rescue ended at this node. */
enum ebb_node_reason {
	EBB_N_DELIVERED_OWNER = 0, /* this node has a socket for it: unwrapped, to the stack */
	EBB_N_FORWARDED_NEXT, /* no socket here: sent on to the next candidate (XDP_TX) */
	EBB_N_DELIVERED_LAST, /* no socket here, and this is the last candidate: unwrapped, to the
			       * stack, as without rescues (a segment no socket owns is answered
			       * with a RST: the drain's truth counts these later) */
	EBB_N_DELIVERED_NO_MAC, /* no socket here, but the next candidate has no MAC (all zero):
				 * delivered here, as the last would be */
	EBB_N_DROP_SHORT, /* the frame ends inside the outer header or the rescue header */
	EBB_N_DROP_BAD_OUTER, /* outer IPv4 with options or fragmented */
	EBB_N_DROP_BAD_VERSION, /* magic or version is not ours */
	EBB_N_DROP_BAD_COUNT, /* count 0 or above EBB_RESCUE_MAX_HOPS */
	EBB_N_DROP_BAD_HOP, /* hop index >= count */
	EBB_N_DROP_BAD_FLAGS, /* flags, reserved or a candidate's pad not 0 */
	EBB_N_DROP_BAD_CAND, /* a candidate's family is not the outer header's, an IPv4 one has
			      * bits past addr[0], or the outer destination is not
			      * candidates[hop] */
	EBB_N_DROP_TRUNCATED, /* the candidates or the client's IP/TCP header run past the frame
			       * or past the outer length */
	EBB_N_DROP_BAD_LENGTH, /* outer length past the frame's end, or the client's IP length
				* past the outer packet's end */
	EBB_N_DROP_BAD_INNER, /* next_proto not IPv4/IPv6, the client's header of another version,
			       * not TCP, an IPv4 fragment or with a bad IHL */
	EBB_N_CLAIMED, /* this node has a socket for it and the balancer wants a claim: the frame
			* went back to the balancer as one (XDP_TX), it forwards the packet here */
	EBB_N_MAX,
};

/* The node's ownership rule, one definition for the node program's rescues and the connection
 * count (bpf/conns.bpf.c): a TCP socket in any state but LISTEN and TIME_WAIT owns its
 * connection (ESTABLISHED, a closing one, a request socket of a handshake in progress). The
 * numbers are the kernel's TCP states (BPF_TCP_* in uapi/linux/bpf.h, asserted equal there). */
#define EBB_TCP_TIME_WAIT 6
#define EBB_TCP_LISTEN 10
#define EBB_TCP_OWNS(state) ((state) != EBB_TCP_LISTEN && (state) != EBB_TCP_TIME_WAIT)

/* The node's connection count (bpf/conns.bpf.c, a TCP socket iterator over the node's own socket
 * table): per local (address, port) of this node's VIPs. An IPv4-mapped IPv6 socket (a
 * dual-stack listener's connection) counts under its IPv4 address. */
struct ebb_conns_key {
	__u8 family; /* EBB_FAMILY_V4 / EBB_FAMILY_V6 */
	__u8 pad;
	__u16 port; /* host order */
	__be32 addr[4]; /* IPv4 in addr[0], rest 0 */
};

struct ebb_conns_val {
	__u64 live; /* sockets that own a connection (EBB_TCP_OWNS) */
	__u64 time_wait; /* TIME_WAIT: the connection is over, its 4-tuple still held */
};

#define EBB_CONNS_KEYS 4096 /* distinct (VIP address, port) pairs one count can hold */
_Static_assert(sizeof(struct ebb_conns_key) == 20, "ebb_conns_key layout");

#define EBB_N_SLOTS 32 /* the map has room to spare: a new reason is not a new layout */
_Static_assert(EBB_N_MAX <= EBB_N_SLOTS, "node_stats map too small");
_Static_assert(sizeof(struct ebb_rescue_hdr) == 16, "ebb_rescue_hdr layout");
_Static_assert(sizeof(struct ebb_rescue_cand) == 24, "ebb_rescue_cand layout");

/* The layouts user space and the datapath agree on; a change here is a new layout version. */
_Static_assert(sizeof(struct ebb_vip_key) == 20, "ebb_vip_key layout");
_Static_assert(sizeof(struct ebb_vip) == 52, "ebb_vip layout");
_Static_assert(sizeof(struct ebb_vip_entry) == 72, "ebb_vip_entry layout");
_Static_assert(EBB_TABLE_SIZE_DEFAULT <= EBB_RING_SIZE, "ring_changes has words for every slot");
_Static_assert(sizeof(struct ebb_ring_elem) == 8, "ebb_ring_elem layout");
_Static_assert(sizeof(struct ebb_node) == 40, "ebb_node layout");
_Static_assert(sizeof(struct ebb_settings) == 16, "ebb_settings layout");
_Static_assert(sizeof(struct ebb_slot_history) == 12, "ebb_slot_history layout");
_Static_assert(sizeof(struct ebb_flow_key) == 40, "ebb_flow_key layout");
_Static_assert(sizeof(struct ebb_flow_lru) == 8, "ebb_flow_lru layout");
_Static_assert(sizeof(struct ebb_monitor) == 24, "ebb_monitor layout");
_Static_assert(sizeof(struct ebb_monitor_event) == 64, "ebb_monitor_event layout");
_Static_assert(EBB_MAX_VIPS < EBB_MONITOR_NO_VIP, "VIP ids must fit a monitor event");
_Static_assert(EBB_MAX_NODES <= 65536 && EBB_MAX_VIPS <= 65536, "ids must fit struct ebb_flow");

#endif /* EBB_H */
