// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebb's XDP balancer. A flow is pinned to its node in the LRU flow table; a new flow is placed
 * by the VIP's Maglev table over `active` nodes; a TCP packet that is not a SYN but misses the
 * table (state lost: eviction, restart, ECMP change) gets a second chance over `active` and
 * `draining` nodes, so a draining node keeps its flows even when ebb forgot them.
 *
 * One packet goes through five steps, each a function below: parse (parsing.h: the headers,
 * into a flow key), classify (which VIP), lookup (the flow table), place (a Maglev table, for a
 * flow the table does not pin to a node that takes it), forward (dsr or ipip, encap.h). Each
 * returns EBB_R_FORWARDED to go on, or the reason the packet stops there. A packet that is not a
 * bare SYN asks the flow table before it is classified: most such packets are of a pinned flow,
 * whose entry names the VIP by id, and an array lookup by id is cheaper than hashing the VIP key.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"
#include "ebb_hash.h"
#include "maps.h"
#include "parsing.h"
#include "encap.h"
#include "rescue.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Written by the loader before load; read back by `prog upgrade` to refuse a foreign layout. */
const volatile __u32 layout_version = EBB_MAP_LAYOUT_VERSION;

/* What placing this packet did, for the counters. */
struct placement {
	bool placed; /* a ring chose the node */
	bool second; /* ... the second-chance ring */
	bool unpinned; /* ... and the flood guard kept it out of the flow table */
};

/* Counts a packet (bytes > 0) and what placing it did. */
static __always_inline void count(void *stats, __u32 id, __u64 bytes, const struct placement *p)
{
	struct ebb_counters *c = bpf_map_lookup_elem(stats, &id);

	if (!c)
		return;
	if (bytes) {
		c->packets++;
		c->bytes += bytes;
	}
	if (p->placed)
		c->new_flows++;
	if (p->second)
		c->second_chance++;
	if (p->unpinned)
		c->unpinned++;
}

/*
 * True while this CPU sees new flows faster than the configured rate: a SYN flood from spoofed
 * sources must not evict the flows of real clients (above all those of a draining node).
 */
static __always_inline bool flood_guard_on(__u64 now)
{
	__u32 zero = 0;
	struct ebb_settings *s = bpf_map_lookup_elem(&settings, &zero);
	struct ebb_flood_window *w = bpf_map_lookup_elem(&flood_window, &zero);

	if (!s || !w || !s->flood_rate)
		return false;
	if (now - w->start_ns > 1000000000ULL) {
		w->start_ns = now;
		w->new_flows = 0;
	}
	return ++w->new_flows > s->flood_rate;
}

/* The node in a ring's slot, 0 when the ring is empty or absent. */
static __always_inline __u32 ring_pick(__u32 ring_id, __u32 slot)
{
	void *ring = bpf_map_lookup_elem(&rings, &ring_id);
	__u32 index = slot / 4;
	__u16 *lanes; /* struct ebb_ring_elem's */

	if (!ring)
		return 0;
	lanes = bpf_map_lookup_elem(ring, &index);
	return lanes ? lanes[slot & 3] : 0;
}

static __always_inline bool takes_pinned_flows(const struct ebb_node *node)
{
	return node->state == EBB_NODE_ACTIVE || node->state == EBB_NODE_DRAINING;
}

static __always_inline void note_tcp_flags(struct ebb_flow *flow, __u8 tcp_flags)
{
	__u8 flags = flow->flags;

	if (tcp_flags & TCP_FLAG_FIN)
		flags |= EBB_FLOW_FIN;
	if (tcp_flags & TCP_FLAG_RST)
		flags |= EBB_FLOW_RST;
	if (flags != flow->flags)
		flow->flags = flags;
}

/* A packet between the steps. */
struct step_state {
	struct packet pkt;
	struct ebb_vip *vip;
	struct ebb_flow *flow; /* its entry, if any (for place: the entry to place again) */
	struct ebb_node *node; /* known once a step has looked it up */
	__u32 node_id;
	struct placement how;
	__u64 now;
};

/*
 * A sampled packet's fate, into monitor_events. Global (verified once, on its own): only a
 * listener's packets call it, and the many verdicts that could do not each grow the balancer.
 */
__noinline int ebb_monitor_emit(const struct packet *pkt, __u32 vip_id, __u32 node_id,
				__u32 reason, __u32 verdict)
{
	__u32 zero = 0;
	struct ebb_monitor *m = bpf_map_lookup_elem(&monitor, &zero);
	struct ebb_monitor_event *ev;

	if (!pkt || !m || !m->sample || verdict > 31 || !(m->verdicts & (1u << verdict)))
		return 0;
	if (m->vip_id1 && m->vip_id1 != vip_id + 1)
		return 0;
	if (m->sample > 1 && bpf_get_prandom_u32() % m->sample)
		return 0;
	ev = bpf_ringbuf_reserve(&monitor_events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&m->lost, 1);
		return 0;
	}
	ev->ns = bpf_ktime_get_ns();
	__builtin_memcpy(&ev->key, &pkt->key, sizeof(ev->key));
	ev->bytes = pkt->bytes;
	ev->vip_id = vip_id;
	ev->node_id = node_id;
	ev->reason = reason;
	ev->verdict = verdict;
	ev->tcp_flags = pkt->tcp_flags;
	ev->cpu = bpf_get_smp_processor_id();
	ev->pad = 0;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/* Every packet ends here: counted under its reason (and its VIP's, unless plainly forwarded),
 * shown to a listener if one is there, and its verdict returned so that a step can end with
 * `return account(s, ...)`. Nobody listening costs one inlined array read. */
static __always_inline int account(const struct step_state *s, __u32 reason, __u64 bytes,
				   int verdict)
{
	__u32 zero = 0;
	struct ebb_monitor *m;

	if (s->vip && reason != EBB_R_FORWARDED)
		count_reason(&vip_reasons, EBB_VIP_REASON(s->vip->id, reason), bytes, verdict);
	m = bpf_map_lookup_elem(&monitor, &zero);
	if (m && m->sample)
		ebb_monitor_emit(&s->pkt, s->vip ? s->vip->id : EBB_MONITOR_NO_VIP, s->node_id,
				 reason, verdict);
	return count_reason(&reasons, reason, bytes, verdict);
}

/* 2a. classify by flow: the VIP the packet's flow entry was placed for, if it still is this
 * packet's (same address, protocol, and port unless a port-0 VIP). Else the hash lookup (2). */
static __always_inline bool classify_by_flow(struct step_state *s, const struct ebb_flow *flow)
{
	__u32 id = flow->vip_id;
	struct ebb_vip_entry *v = bpf_map_lookup_elem(&vips_by_id, &id);
	const struct ebb_flow_key *k = &s->pkt.key;

	if (!v || v->key.family != k->family || v->key.proto != k->proto ||
	    (v->key.port && v->key.port != k->dport))
		return false;
	if ((v->key.addr[0] ^ k->dst[0]) | (v->key.addr[1] ^ k->dst[1]) |
	    (v->key.addr[2] ^ k->dst[2]) | (v->key.addr[3] ^ k->dst[3]))
		return false;
	s->vip = &v->vip;
	return true;
}

/* The VIP with key vk, through its slot of vip_slots; `vips` only where two VIPs share it. */
static __always_inline struct ebb_vip *vip_by_key(const struct ebb_vip_key *vk)
{
	__u32 zero = 0, id;
	struct ebb_vip_slots *slots = bpf_map_lookup_elem(&vip_slots, &zero);
	struct ebb_vip_entry *v;

	if (!slots)
		return bpf_map_lookup_elem(&vips, vk);
	id = slots->slot[ebb_vip_slot(vk->addr, vk->port, vk->proto, vk->family) &
			 (EBB_VIP_SLOTS - 1)];
	if (id == EBB_VIP_SLOT_ASK)
		return bpf_map_lookup_elem(&vips, vk);
	if (!id)
		return NULL;
	id--;
	v = bpf_map_lookup_elem(&vips_by_id, &id);
	if (!v || v->key.port != vk->port || v->key.proto != vk->proto ||
	    v->key.family != vk->family ||
	    ((v->key.addr[0] ^ vk->addr[0]) | (v->key.addr[1] ^ vk->addr[1]) |
	     (v->key.addr[2] ^ vk->addr[2]) | (v->key.addr[3] ^ vk->addr[3])))
		return NULL; /* the slot is another VIP's: this key is none */
	return &v->vip;
}

/* 2. classify: the VIP (address, port and protocol; a port-0 VIP takes every port). */
static __always_inline int classify(struct step_state *s)
{
	struct ebb_vip_key vk = {};

	__builtin_memcpy(vk.addr, s->pkt.key.dst, sizeof(vk.addr));
	vk.port = s->pkt.key.dport;
	vk.proto = s->pkt.key.proto;
	vk.family = s->pkt.key.family;
	s->vip = vip_by_key(&vk);
	if (!s->vip) {
		vk.port = 0;
		s->vip = vip_by_key(&vk);
		if (!s->vip)
			return EBB_R_PASS_NOT_VIP;
	}
	return EBB_R_FORWARDED;
}

/* Did the packet's slot of its VIP's new-flow table change owner within the SYN retry window
 * (include/ebb.h, ring_changes)? Without the bits, yes: asking the flow table is always safe. */
static __always_inline bool slot_changed_lately(const struct step_state *s)
{
	__u32 slot, word;
	__u64 *bits;

	if ((__s32)(ebb_seen_tick(s->now) - s->vip->rings_changed) > EBB_SYN_RETRY_TICKS)
		return false;
	slot = ebb_ring_slot_m(&s->pkt.key, s->vip->table_size);
	word = ebb_ring_change_word(s->vip->id, slot);
	bits = bpf_map_lookup_elem(&ring_changes, &word);
	return !bits || ((*bits >> (slot % 64)) & 1);
}

/*
 * 3. lookup: the flow table. Returns true when the packet goes to the node its flow is pinned
 * to (s->node); false when it is to be placed: no entry (s->flow NULL), or an entry that must
 * not keep it (s->flow set: its node takes no flows, or a new connection on an old port).
 */
static __always_inline bool lookup(struct step_state *s, bool asked)
{
	struct packet *pkt = &s->pkt;
	struct ebb_flow *flow = s->flow;
	struct ebb_node *node;
	bool syn_reuse;

	/* A bare SYN whose slot of the new-flow table has not changed owner for longer than a
	 * client retries a SYN: if the table has its flow, that is this connection's own first
	 * try, placed by the same owner (a retry goes where it went), or a finished connection
	 * on a reused port, or one of a node that takes no new flows: placed again by the table.
	 * The table need not be asked. (In a slot that changed within the window it is: a retry
	 * stays where it went.) */
	if (!asked) {
		if (bare_syn(pkt) && !slot_changed_lately(s))
			return false;
		flow = bpf_map_lookup_elem(&flows, &pkt->key);
		s->flow = flow;
	}
	if (!flow)
		return false;
	s->node_id = flow->node_id;
	node = bpf_map_lookup_elem(&nodes, &s->node_id);
	/* A SYN on a finished flow is a new connection on a reused port; on a draining node it is
	 * treated as one too, whatever the entry says (it may be idle past its timeout, which
	 * only user space knows): a draining node takes no new connection. So is a SYN on a flow
	 * no node has claimed (a mid-flow packet placed it: a stray or spoofed one). */
	syn_reuse = bare_syn(pkt) &&
		    ((flow->flags & (EBB_FLOW_FIN | EBB_FLOW_RST | EBB_FLOW_UNCONFIRMED)) ||
		     (node && node->state == EBB_NODE_DRAINING));
	if (node && takes_pinned_flows(node) && !syn_reuse) {
		if (!pkt->icmp_error) {
			/* No node has claimed it yet: rescued again (place), until one does. */
			if ((flow->flags & EBB_FLOW_UNCONFIRMED) && !(pkt->tcp_flags & TCP_FLAG_SYN))
				return false;
			note_tcp_flags(flow, pkt->tcp_flags);
			if ((__s32)(ebb_seen_tick(s->now) - flow->seen) > EBB_TOUCH_TICKS)
				flow->seen = ebb_seen_tick(s->now);
		}
		s->node = node;
		return true;
	}
	return false;
}

/* 4. place: a node from the VIP's Maglev tables, pinned in the flow table (or not: ICMP errors,
 * and new flows under the flood guard). */
static __always_inline int place(struct step_state *s)
{
	struct packet *pkt = &s->pkt;
	struct ebb_vip *vip = s->vip;
	__u32 slot = ebb_ring_slot_m(&pkt->key, vip->table_size), node_id;
	bool syn_pin = false;
	bool mid_flow = pkt->key.proto == IPPROTO_TCP && !(pkt->tcp_flags & TCP_FLAG_SYN) &&
			!pkt->icmp_error;
	bool no_entry = !s->flow;

	/* a 0/1 value from here on: clang would otherwise OR the pointer into a flag test, which
	 * the verifier refuses */
	asm volatile("" : "+r"(no_entry));

	/* A mid-flow packet of a flow no node has claimed is placed as one without an entry. */
	if (s->flow && !(mid_flow && (s->flow->flags & EBB_FLOW_UNCONFIRMED))) {
		/* Pinned to a node that no longer takes flows, or a new connection on an old
		 * port: place it again, over the nodes that take new flows. */
		node_id = ring_pick(EBB_RING_NEW(vip->id), slot);
		if (!node_id)
			return EBB_R_DROP_NO_NODE;
		if (!pkt->icmp_error) {
			s->flow->node_id = node_id;
			s->flow->flags = 0;
			s->flow->vip_id = vip->id;
			note_tcp_flags(s->flow, pkt->tcp_flags);
			s->flow->seen = ebb_seen_tick(s->now);
			s->how.placed = true;
		}
		s->node_id = node_id;
		return EBB_R_FORWARDED;
	}
	if (pkt->icmp_error || mid_flow) {
		struct ebb_flow *pinned = pkt->icmp_error || !no_entry ? NULL :
					  bpf_map_lookup_elem(&syn_pins, &pkt->key);

		if (pinned) { /* a handshake the flood guard pinned aside: now a real flow */
			node_id = pinned->node_id;
			bpf_map_delete_elem(&syn_pins, &pkt->key);
		} else {
			node_id = ring_pick(EBB_RING_SECOND(vip->id), slot);
			s->how.second = !pkt->icmp_error && no_entry;
			/* Its owner runs the node program: the owners of the slot decide, not the
			 * second chance alone (rescue). */
			if (node_id && mid_flow) {
				struct ebb_node *owner = bpf_map_lookup_elem(&nodes, &node_id);

				if (owner && (owner->flags & EBB_NODE_F_NODE_PROG)) {
					s->node_id = node_id;
					s->node = owner;
					s->how.placed = no_entry;
					return EBB_R_RESCUED;
				}
			}
		}
	} else {
		node_id = ring_pick(EBB_RING_NEW(vip->id), slot);
		/* Under the guard a new flow is placed by hash alone, not pinned. Its next packet
		 * (the handshake's ACK, which spoofed sources never send) misses and is pinned by
		 * the second chance, which finds this same node unless a node drains over the
		 * flow's slot: such SYNs are pinned aside, in syn_pins. */
		if (flood_guard_on(s->now)) {
			s->how.unpinned = true;
			/* The two rings differ only while one of the VIP's nodes drains. */
			syn_pin = pkt->key.proto == IPPROTO_TCP && vip->has_draining &&
				  ring_pick(EBB_RING_SECOND(vip->id), slot) != node_id;
		}
	}
	if (!node_id)
		return EBB_R_DROP_NO_NODE;
	if (!pkt->icmp_error) {
		struct ebb_flow fresh = { .node_id = node_id, .vip_id = vip->id,
					  .seen = ebb_seen_tick(s->now),
					  .flags = s->flow ? s->flow->flags &
							     (EBB_FLOW_FIN | EBB_FLOW_RST) : 0 };

		note_tcp_flags(&fresh, pkt->tcp_flags);
		if (!s->how.unpinned)
			bpf_map_update_elem(&flows, &pkt->key, &fresh, BPF_ANY);
		else if (syn_pin)
			bpf_map_update_elem(&syn_pins, &pkt->key, &fresh, BPF_ANY);
		s->how.placed = true;
	}
	s->node_id = node_id;
	return EBB_R_FORWARDED;
}

/* 5. forward: toward the node, by the VIP's mode; counted (`bytes`: the frame that came in) under
 * `fwd_reason` once sent. Returns the XDP verdict. */
static __always_inline int forward(struct xdp_md *ctx, struct step_state *s, int fwd_reason,
				   __u64 bytes)
{
	struct packet *pkt = &s->pkt;
	struct ebb_vip *vip = s->vip;
	struct ebb_node *node = s->node;
	struct ethhdr *eth;
	void *data, *data_end;
	int reason;

	if (!node)
		node = bpf_map_lookup_elem(&nodes, &s->node_id);
	if (!node) {
		reason = EBB_R_DROP_NO_NODE;
		goto drop;
	}
	if (!(node->mac[0] | node->mac[1] | node->mac[2] | node->mac[3] | node->mac[4] |
	      node->mac[5])) {
		reason = EBB_R_DROP_NO_MAC;
		goto drop;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end) {
		reason = EBB_R_DROP_ENCAP;
		goto drop;
	}
	if (vip->fwd == EBB_FWD_IPIP) {
		__u32 zero = 0;
		struct ebb_settings *set = bpf_map_lookup_elem(&settings, &zero);
		__u32 mtu = set ? set->mtu : 0;

		if (encap_would_exceed(pkt, node, mtu)) {
			__u32 fits = mtu - (node->family == EBB_FAMILY_V6 ? OUTER_V6_LEN : OUTER_V4_LEN);

			/* The flow was placed (and pinned): it counts, though this packet goes
			 * back as an ICMP error and never reaches the node. */
			count(&vip_stats, vip->id, bytes, &s->how);
			count(&node_stats, s->node_id, 0, &s->how);
			/* Never an ICMP error about an ICMP error (RFC 1122 3.2.2, RFC 4443 2.4). Nor
			 * about a claimed packet: the frame came from the claimer, and the answer
			 * would go back to it (the rescue was not sent unless it fit, so only an
			 * MTU lowered since gets here). */
			if (pkt->icmp_error || fwd_reason == EBB_R_CLAIMED)
				return account(s, EBB_R_DROP_TOO_BIG, bytes, XDP_DROP);
			/* Never more bytes back than came in, whatever settings.mtu says: a spoofed
			 * source must not turn ebb into an amplifier. (ip_len is within the frame.) */
			if (pkt->ip_len < too_big_reply_ip_len(pkt))
				return account(s, EBB_R_DROP_TOO_BIG, bytes, XDP_DROP);
			if (pkt->key.family == EBB_FAMILY_V6)
				return reply_too_big6(ctx, pkt, fits) ?
					       account(s, EBB_R_DROP_ENCAP, bytes, XDP_DROP) :
					       account(s, EBB_R_TX_TOO_BIG, bytes, XDP_TX);
			if (!pkt->dont_fragment)
				return account(s, EBB_R_DROP_TOO_BIG, bytes, XDP_DROP);
			return reply_too_big4(ctx, pkt, fits) ?
				       account(s, EBB_R_DROP_ENCAP, bytes, XDP_DROP) :
				       account(s, EBB_R_TX_TOO_BIG, bytes, XDP_TX);
		}
		/* The node's MAC (or the next hop's) is read before the head moves. */
		__u8 next_hop[6];
		__u8 ours[6];

		__builtin_memcpy(next_hop, node->mac, 6);
		__builtin_memcpy(ours, eth->h_dest, 6);
		if (trim_to_ip_packet(ctx, pkt) || encap_ipip(ctx, pkt, node, vip)) {
			count(&vip_stats, vip->id, bytes, &(struct placement){});
			return account(s, EBB_R_DROP_ENCAP, bytes, XDP_DROP);
		}
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		eth = data;
		if ((void *)(eth + 1) > data_end)
			return account(s, EBB_R_DROP_ENCAP, bytes, XDP_DROP);
		__builtin_memcpy(eth->h_source, ours, 6);
		__builtin_memcpy(eth->h_dest, next_hop, 6);
	} else {
		/* dsr: the frame leaves the way it came, from us to the node; L3 and up untouched,
		 * trailing bytes after the IP packet included: the frame came in on a link that
		 * carried it at this length, and the node's stack cuts it to the IP length (as it
		 * does for any padded frame). Cutting it here would cost a helper call and buy
		 * nothing; ipip must, since it puts the bytes inside a packet whose length it sets. */
		__builtin_memcpy(eth->h_source, eth->h_dest, sizeof(eth->h_source));
		__builtin_memcpy(eth->h_dest, node->mac, sizeof(eth->h_dest));
	}
	count(&vip_stats, vip->id, bytes, &s->how);
	count(&node_stats, s->node_id, bytes, &s->how);
	return account(s, fwd_reason, bytes, XDP_TX);
drop:
	count(&vip_stats, vip->id, bytes, &(struct placement){});
	return account(s, reason, bytes, XDP_DROP);
}

/*
 * 4b. rescue: a mid-flow TCP packet without an entry (or whose entry no node has claimed),
 * whose second-chance owner (s->node) runs the node program. Its candidates are that owner,
 * the new-flow table's owner of its slot, then the slot's earlier owners (slot_history) whose
 * time has not run out; sent to them wrapped (rescue.h), the flow entry naming the first and
 * marked unconfirmed until a claim names the owner. Even one candidate is rescued: its claim is
 * what confirms the flow. The old way (the second chance, counted apart) when the rescue would
 * not fit settings.mtu or this CPU is over settings.rescue_rate; today's way, exactly, when
 * rescues are off (rate 0), the VIP has no encap source of the owner's family, or the owner
 * cannot be a candidate (no MAC).
 */
__noinline int ebb_rescue(struct xdp_md *ctx, const struct packet *in, __u32 vip_id, __u32 owner_id,
			  __u32 new_entry)
{
	struct step_state st = {}, *s = &st;
	struct packet *pkt = &st.pkt;
	struct ebb_vip_entry *ve = bpf_map_lookup_elem(&vips_by_id, &vip_id);
	struct ebb_vip *vip;
	struct ebb_node *owner;
	__u32 zero = 0, slot;
	struct ebb_settings *set = bpf_map_lookup_elem(&settings, &zero);
	struct ebb_rescue_secret *secret;
	struct rescue_plan p = {};
	struct ebb_slot_history *h;
	struct ebb_history_key hk;
	int reason = EBB_R_RESCUED;
	__u8 flags;

	/* A global function, verified once on its own (the balancer's paths into it are many):
	 * what it needs comes as plain values and is looked up again. */
	if (!in)
		return XDP_ABORTED;
	__builtin_memcpy(pkt, in, sizeof(*pkt));
	owner = bpf_map_lookup_elem(&nodes, &owner_id);
	/* (the copy by id is the VIP's own while libebb keeps vips_by_id, as every hit trusts) */
	if (!owner || !ve || !ve->key.family || ve->vip.id != vip_id)
		return account(s, EBB_R_DROP_NO_NODE, pkt->bytes, XDP_DROP);
	vip = &ve->vip;
	slot = ebb_ring_slot_m(&pkt->key, vip->table_size);
	s->vip = vip;
	s->node = owner;
	s->node_id = owner_id;
	s->flow = bpf_map_lookup_elem(&flows, &pkt->key);
	s->how.placed = s->how.second = new_entry != 0;
	s->now = bpf_ktime_get_coarse_ns();
	p.family = owner->family;
	if (set && set->rescue_rate && vip_has_encap_src(vip, p.family))
		plan_add(&p, s->node_id);
	flags = s->flow ? s->flow->flags & (EBB_FLOW_FIN | EBB_FLOW_RST) : 0;
	if (!p.n || !set) {
		struct ebb_flow fresh = { .node_id = s->node_id, .vip_id = vip->id, .flags = flags,
					  .seen = ebb_seen_tick(s->now) };

		note_tcp_flags(&fresh, pkt->tcp_flags);
		bpf_map_update_elem(&flows, &pkt->key, &fresh, BPF_ANY);
		return forward(ctx, s, EBB_R_FORWARDED, pkt->bytes);
	}
	plan_add(&p, ring_pick(EBB_RING_NEW(vip->id), slot));
	hk.vip_id = vip->id;
	hk.slot = slot;
	h = bpf_map_lookup_elem(&slot_history, &hk);
	if (h) {
		__u32 tick = ebb_seen_tick(s->now);

#pragma unroll
		for (int i = 0; i < EBB_HISTORY_OWNERS; i++)
			if (h->owner[i] && (__s32)(h->until[i] - tick) >= 0)
				plan_add(&p, h->owner[i]);
	}
	/* Never an ICMP "too big" for a rescue's sake: the client's path is not to shrink. */
	if (set->mtu && (__u32)pkt->ip_len + rescue_overhead(&p) > set->mtu)
		reason = EBB_R_RESCUE_TOO_BIG;
	else if (!rescue_allowed(s->now, set->rescue_rate))
		reason = EBB_R_RESCUE_LIMITED;
	{
		struct ebb_flow fresh = { .node_id = s->node_id, .vip_id = vip->id,
					  .flags = flags | EBB_FLOW_UNCONFIRMED,
					  .seen = ebb_seen_tick(s->now) };

		note_tcp_flags(&fresh, pkt->tcp_flags);
		bpf_map_update_elem(&flows, &pkt->key, &fresh, BPF_ANY);
	}
	if (reason != EBB_R_RESCUED)
		return forward(ctx, s, reason, pkt->bytes);
	secret = bpf_map_lookup_elem(&rescue_secret, &zero);
	if (!secret || rescue_build(ctx, pkt, &p, vip, ebb_rescue_cookie(secret, &pkt->key))) {
		count(&vip_stats, vip->id, pkt->bytes, &(struct placement){});
		return account(s, EBB_R_DROP_ENCAP, pkt->bytes, XDP_DROP);
	}
	count(&vip_stats, vip->id, pkt->bytes, &s->how);
	count(&node_stats, s->node_id, pkt->bytes, &s->how);
	return account(s, EBB_R_RESCUED, pkt->bytes, XDP_TX);
}

/*
 * A claim: the owner of a rescued flow sends the rescue back, flagged (rescue.h). When it holds
 * (a candidate of ours claims from its own address, the client's packet is of one of our VIPs
 * whose encap source the claim came to, and it carries the cookie of that flow), the flow is
 * pinned to the claimer, confirmed, and the client's packet goes on to it the ordinary way.
 * Anything else of protocol 253 to one of our encap sources is dropped; to another address
 * passed, as before rescues.
 */
static __noinline int take_claim(struct xdp_md *ctx, struct step_state *s)
{
	struct packet *pkt = &s->pkt;
	__u64 bytes = pkt->bytes;
	struct ebb_rescue_secret *secret;
	struct claim cl = {};
	struct ebb_flow *flow;
	__u32 zero = 0;

	if (claim_read(ctx, pkt, &cl) || classify(s) != EBB_R_FORWARDED || !s->vip)
		goto bad;
	if (cl.family == EBB_FAMILY_V4 ? s->vip->encap_src4 != cl.dst[0] :
	    ((s->vip->encap_src6[0] ^ cl.dst[0]) | (s->vip->encap_src6[1] ^ cl.dst[1]) |
	     (s->vip->encap_src6[2] ^ cl.dst[2]) | (s->vip->encap_src6[3] ^ cl.dst[3])))
		goto bad;
	secret = bpf_map_lookup_elem(&rescue_secret, &zero);
	if (!secret || ebb_rescue_cookie(secret, &pkt->key) != cl.cookie)
		goto bad;
	s->now = bpf_ktime_get_coarse_ns();
	flow = bpf_map_lookup_elem(&flows, &pkt->key);
	if (flow) {
		flow->node_id = cl.node_id;
		flow->vip_id = s->vip->id;
		flow->flags &= ~EBB_FLOW_UNCONFIRMED;
		note_tcp_flags(flow, pkt->tcp_flags);
		flow->seen = ebb_seen_tick(s->now);
	} else {
		struct ebb_flow fresh = { .node_id = cl.node_id, .vip_id = s->vip->id,
					  .seen = ebb_seen_tick(s->now) };

		note_tcp_flags(&fresh, pkt->tcp_flags);
		bpf_map_update_elem(&flows, &pkt->key, &fresh, BPF_ANY);
	}
	if (claim_strip(ctx, pkt, &cl)) {
		count(&vip_stats, s->vip->id, bytes, &(struct placement){});
		return account(s, EBB_R_DROP_ENCAP, bytes, XDP_DROP);
	}
	s->node_id = cl.node_id;
	s->node = NULL;
	return forward(ctx, s, EBB_R_CLAIMED, bytes);
bad:
	if (is_encap_src(cl.dst, cl.family))
		return account(s, EBB_R_DROP_BAD_CLAIM, bytes, XDP_DROP);
	return account(s, EBB_R_PASS_NOT_VIP, bytes, XDP_PASS);
}

SEC("xdp")
int ebb_balancer(struct xdp_md *ctx)
{
	struct step_state s = {};
	bool asked = false;
	int reason;

	reason = parse(ctx, &s.pkt); /* 1 */
	if (reason != EBB_R_FORWARDED) {
		if (reason == EBB_PARSE_RESCUE_PROTO)
			return take_claim(ctx, &s);
		goto unowned;
	}
	if (!bare_syn(&s.pkt)) { /* 3 first, and 2 by the VIP id its entry records */
		s.flow = bpf_map_lookup_elem(&flows, &s.pkt.key);
		asked = true;
		if (s.flow)
			classify_by_flow(&s, s.flow);
	}
	if (!s.vip) {
		reason = classify(&s); /* 2 */
		if (reason != EBB_R_FORWARDED)
			goto unowned;
	}
	/* Tick resolution is plenty for idle timeouts, the 250 ms touch and the flood window, and
	 * it reads no clock source (the dearest helper of a hit, in a VM above all). */
	s.now = bpf_ktime_get_coarse_ns();
	if (!lookup(&s, asked)) { /* 3 */
		reason = place(&s); /* 4 */
		if (reason == EBB_R_RESCUED)
			return ebb_rescue(ctx, &s.pkt, s.vip->id, s.node_id, s.how.placed); /* 4b */
		if (reason != EBB_R_FORWARDED) {
			count(&vip_stats, s.vip->id, s.pkt.bytes, &(struct placement){});
			return account(&s, reason, s.pkt.bytes, XDP_DROP);
		}
	}
	return forward(ctx, &s, EBB_R_FORWARDED, s.pkt.bytes); /* 5 */

unowned:
	/* Malformed, or not a flow: dropped if it is addressed to a VIP, passed if not. The
	 * filter let it through; only the exact check can say it is ours. */
	if (reason != EBB_R_PASS_NOT_IP && reason != EBB_R_PASS_NOT_VIP &&
	    reason != EBB_R_PASS_TRUNCATED && !is_vip_addr(s.pkt.key.dst, s.pkt.key.family))
		reason = EBB_R_PASS_NOT_VIP;
	if (reason == EBB_R_PASS_NOT_IP || reason == EBB_R_PASS_NOT_VIP ||
	    reason == EBB_R_PASS_TRUNCATED || reason == EBB_R_PASS_ICMP)
		return account(&s, reason, s.pkt.bytes, XDP_PASS);
	return account(&s, reason, s.pkt.bytes, XDP_DROP);
}
