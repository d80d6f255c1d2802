// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebb's XDP balancer. A flow is pinned to its node in the flow table (IPv4: the bucket table of
 * include/ebb_flowtable.h; IPv6: the LRU hash flows6, same entry word); a new flow is placed
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

/* An entry's flags with what this packet says of the flow's end. */
static __always_inline __u32 note_tcp_flags(__u32 flags, __u8 tcp_flags)
{
	if (tcp_flags & TCP_FLAG_FIN)
		flags |= EBB_FLOW_FIN;
	if (tcp_flags & TCP_FLAG_RST)
		flags |= EBB_FLOW_RST;
	return flags;
}

/* The IPv4 table's buckets: its size is the one it was created with (`prog attach ... flows
 * N`), read from the map itself so that no copy of it can disagree. */
static __always_inline __u32 flow_buckets(void)
{
	return ((struct bpf_map *)&flows)->max_entries;
}

/*
 * A flow's entry, by handle: where its word is (NULL: no entry) and the word as it was read.
 * Every change is one CAS from that word (flow_cas): when another CPU changed it meanwhile, the
 * change is skipped, never mixed with the other; the flow's next packet sees the new word.
 */
struct flow_ref {
	__u64 *slot;
	__u64 word;
};

/* A `prog upgrade` from an LRU layout is between its copies (user/lib/migrate.c). */
static __always_inline bool migrating(void)
{
	__u32 zero = 0;
	struct ebb_settings *set = bpf_map_lookup_elem(&settings, &zero);

	return set && set->migrating;
}

__noinline int ebb_flow_adopt(const struct ebb_flow_key *k);

/* A TCP packet that is not a SYN found its flow's entry at the way of bucket: the client has
 * had a SYN-ACK, it retries no SYN, so the way's record in syn_recent (include/ebb.h), if it
 * has one, is cleared. Most cells have none: one read, no write. */
static __always_inline void syn_recent_settle(__u32 bucket, __u32 way)
{
	__u32 q = ebb_syn_q_of(bucket), idx = ebb_syn_cell_of(bucket);
	union ebb_syn_cell *c;
	__u64 word;

	if (q >= EBB_SYN_Q_OVERFLOW)
		return;
	c = bpf_map_lookup_elem(&syn_recent, &idx);
	if (!c)
		return;
	word = ebb_ft_read(&c->word);
	if (word && ebb_syn_cell_has_way(word, q, way))
		ebb_syn_settle(&c->word, q, way);
}

/* Which of a flow's two buckets a lookup reads (a SYN's, syn_maybe_recent): both, or one. */
enum { ASK_B0 = 1, ASK_B1 = 2, ASK_BOTH = 3 };

/* settle: the packet is TCP and not a SYN (syn_recent_settle); ask: ASK_* */
static __always_inline void flow_find_now(const struct ebb_flow_key *k, struct flow_ref *ref,
					  bool settle, __u32 ask)
{
	struct ebb_ft_bucket *b0, *b1;
	struct ebb_ft_where w;
	int way;

	ref->slot = NULL;
	ref->word = 0;
	if (k->family == EBB_FAMILY_V6) {
		union ebb_ft_entry *v = bpf_map_lookup_elem(&flows6, k);

		if (v) {
			ref->word = ebb_ft_read(&v->word);
			if (ebb_ft_node(ref->word))
				ref->slot = &v->word;
		}
		return;
	}
	w = ebb_ft_where_key(k, flow_buckets());
	if (ask == ASK_B0) /* (the same bucket twice: ebb_ft_find finds in it what it would) */
		w.b[1] = w.b[0];
	else if (ask == ASK_B1)
		w.b[0] = w.b[1];
	b0 = bpf_map_lookup_elem(&flows, &w.b[0]);
	b1 = bpf_map_lookup_elem(&flows, &w.b[1]);
	if (!b0 || !b1)
		return;
	way = ebb_ft_find(b0, b1, w.fp, ebb_ft_keyword4(k), &ref->word);
	if (way < 0)
		return;
	ref->slot = way < EBB_FT_WAYS ? &b0->entry[way & (EBB_FT_WAYS - 1)].word :
					&b1->entry[way & (EBB_FT_WAYS - 1)].word;
	if (settle)
		syn_recent_settle(way < EBB_FT_WAYS ? w.b[0] : w.b[1], way & (EBB_FT_WAYS - 1));
}

/*
 * Not in the new table while a migration copies the old one (user/lib/migrate.c): the old
 * one's entry, pinned here now (a flow the old program made after the first copy), is the
 * flow's. Apart from flow_find_now, whose code ebb_rescue shares with no stack to spare: only
 * a miss during a migration comes here, so the hash is computed again.
 */
static __always_inline void flow_adopt(const struct ebb_flow_key *k, struct flow_ref *ref)
{
	struct ebb_ft_bucket *b;
	struct ebb_ft_where w;
	__u64 *slot, word;
	__u32 bucket;
	int way = ebb_flow_adopt(k);

	if (way < 0)
		return;
	if (way >= 2 * EBB_FT_WAYS) { /* flows6 */
		flow_find_now(k, ref, false, ASK_BOTH);
		return;
	}
	w = ebb_ft_where_key(k, flow_buckets());
	bucket = way < EBB_FT_WAYS ? w.b[0] : w.b[1];
	b = bpf_map_lookup_elem(&flows, &bucket);
	if (!b)
		return;
	slot = &b->entry[way & (EBB_FT_WAYS - 1)].word;
	word = ebb_ft_read(slot);
	/* (changed since the pin: the flow's next packet finds it as it is then) */
	if (ebb_ft_node(word) && ebb_ft_fp(word) == w.fp) {
		ref->word = word;
		ref->slot = slot;
	}
}

static __always_inline void flow_find(const struct ebb_flow_key *k, struct flow_ref *ref,
				      bool settle, __u32 ask)
{
	flow_find_now(k, ref, settle, ask);
	if (!ref->slot && migrating())
		flow_adopt(k, ref);
}

static __always_inline bool flow_cas(struct flow_ref *ref, __u64 word)
{
	if (!ref->slot || !ebb_ft_cas(ref->slot, ref->word, word))
		return false;
	ref->word = word;
	return true;
}

/* Pins entry for k (ebb_flow_pin); if_absent: an entry k has is kept (EBB_FT_PRESENT). Returns
 * EBB_FT_* in the low byte and the way (0..15; 16 for flows6) above it: no stack to spare below
 * ebb_rescue for an out-parameter, so the way passes through the scratch. */
static __always_inline int flow_pin(const struct ebb_flow_key *k, __u64 entry, bool if_absent)
{
	struct ebb_ft_bucket *b0, *b1;
	struct ebb_ft_scan *st;
	struct ebb_ft_where w;
	__u32 idx = 0;
	int ret;

	if (k->family == EBB_FAMILY_V6) {
		if (!bpf_map_update_elem(&flows6, k, &entry, if_absent ? BPF_NOEXIST : BPF_ANY))
			return EBB_FT_INSERTED | 2 * EBB_FT_WAYS << 8;
		return if_absent ? EBB_FT_PRESENT | 2 * EBB_FT_WAYS << 8 : EBB_FT_LOST;
	}
	st = bpf_map_lookup_elem(&ft_scratch, &idx);
	if (!st)
		return EBB_FT_LOST;
	w = ebb_ft_where_key(k, flow_buckets());
	ebb_ft_pin_prepare(st, w.fp, ebb_ft_keyword4(k), entry | ebb_ft_entry(w.fp, 0, 0, 0, 0),
			   ebb_ft_tick(entry));
	st->if_absent = if_absent;
	st->b[0] = w.b[0];
	st->b[1] = w.b[1];
	b0 = bpf_map_lookup_elem(&flows, (__u32 *)&st->b[0]);
	b1 = bpf_map_lookup_elem(&flows, (__u32 *)&st->b[1]);
	if (!b0 || !b1)
		return EBB_FT_LOST;
	ret = ebb_ft_pin(b0, b1, st, (int *)&st->way);
	return ret | (st->way & (2 * EBB_FT_WAYS - 1)) << 8;
}

/*
 * Pins flow k: entry (ebb_ft_entry with fingerprint 0: this function adds the flow's) becomes
 * its entry, a new one or its own replaced (a pin never leaves two of one flow). Global,
 * verified once: the table's insert is two unrolled scans, and four steps pin. It runs below
 * two other frames (ebb_balancer -> ebb_rescue -> here) within 512 bytes of stack, hence the
 * one value for all that is pinned, and the scratch (struct ebb_ft_scan) filled first.
 * Returns EBB_FT_*.
 */
__noinline int ebb_flow_pin(const struct ebb_flow_key *k, __u64 entry)
{
	if (!k)
		return EBB_FT_LOST;
	return flow_pin(k, entry, false) & 0xff;
}

/*
 * Flow k's entry in the old LRU (flows_old, during a migration), pinned into the new table if
 * the flow has none there yet (an entry this program made meanwhile wins, as in the
 * migration's own copy). Returns where the flow's entry is: its way (0..15) in its IPv4
 * buckets, 16 for flows6; -1 when the old table has no entry for it either. Global, verified
 * once: it pins, and only a miss during a migration calls it.
 */
__noinline int ebb_flow_adopt(const struct ebb_flow_key *k)
{
	__u32 zero = 0;
	struct ebb_flow_lru *old;
	__u64 entry;
	void *inner;
	int ret;

	if (!k)
		return -1;
	inner = bpf_map_lookup_elem(&flows_old, &zero);
	if (!inner)
		return -1;
	old = bpf_map_lookup_elem(inner, k);
	if (!old || !old->node_id)
		return -1;
	entry = ebb_ft_entry_of_lru(old);
	/* seen now (this packet): a pin's victim is the way seen least recently before now */
	entry = ebb_ft_with(entry, ebb_ft_flags(entry), ebb_ft_tick_of_ns(bpf_ktime_get_coarse_ns()));
	ret = flow_pin(k, entry, true);
	return (ret & 0xff) == EBB_FT_LOST ? -1 : ret >> 8;
}

/* The entry a pin writes (its fingerprint added by ebb_flow_pin). */
static __always_inline __u64 fresh_entry(__u32 vip_id, __u32 node_id, __u32 flags, __u64 now)
{
	return ebb_ft_entry(0, vip_id, node_id, flags, ebb_ft_tick_of_ns(now));
}

/* A packet between the steps. */
struct step_state {
	struct packet pkt;
	__u32 slot1; /* 1 + the packet's slot of its VIP's tables (slot_of); 0: not hashed yet */
	struct ebb_vip *vip;
	struct flow_ref flow; /* its entry, if any (for place: the entry to place again) */
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
static __always_inline bool classify_by_flow(struct step_state *s, __u64 word)
{
	__u32 id = ebb_ft_vip(word);
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

/* The packet's slot of its VIP's tables, hashed once: a bare SYN within the retry window needs
 * it twice (slot_changed_lately, then place), and the hash and its division by the table's size
 * are a tenth of that packet's path. */
static __always_inline __u32 slot_of(struct step_state *s)
{
	if (!s->slot1)
		s->slot1 = ebb_ring_slot_m(&s->pkt.key, s->vip->table_size) + 1;
	return s->slot1 - 1;
}

/* Did the packet's slot of its VIP's new-flow table change owner within the SYN retry window
 * (include/ebb.h, ring_changes)? Without the bits, yes: asking the flow table is always safe. */
static __always_inline bool slot_changed_lately(struct step_state *s)
{
	__u32 slot, word;
	__u64 *bits;

	if ((__s32)(ebb_seen_tick(s->now) - s->vip->rings_changed) > EBB_SYN_RETRY_TICKS)
		return false;
	slot = slot_of(s);
	word = ebb_ring_change_word(s->vip->id, slot);
	bits = bpf_map_lookup_elem(&ring_changes, &word);
	return !bits || ((*bits >> (slot % 64)) & 1);
}

/*
 * A bare SYN has just pinned a flow into the way of bucket: recorded in syn_recent
 * (include/ebb.h), after the pin (only the pin knows the way; a retry comes a second later at
 * the soonest). A pin it cannot record (its cell changed under every try) restarts the
 * header's window: until a whole one has passed, every SYN asks.
 */
static __always_inline void syn_recent_record(__u32 bucket, __u32 way, __u32 fp, __u64 now)
{
	__u32 q = ebb_syn_q_of(bucket), idx = ebb_syn_cell_of(bucket), zero = 0;
	union ebb_syn_cell *c, *since;

	if (q >= EBB_SYN_Q_OVERFLOW) /* never recorded: its SYNs always ask */
		return;
	c = bpf_map_lookup_elem(&syn_recent, &idx);
	if (c && ebb_syn_note(&c->word, q, way, fp, ebb_syn_unit(now)))
		return;
	since = bpf_map_lookup_elem(&syn_recent, &zero);
	if (since)
		since->word = EBB_SYN_SINCE_VALID | now;
}

/*
 * ebb_flow_pin for a bare SYN: the pin, then its way recorded (syn_recent_record), from the
 * way the pin returns and the buckets it left in the scratch. A lost pin (no entry) and an
 * IPv6 flow record nothing: the first has no entry a retry could follow, the second's SYNs
 * always ask. Global, verified once, as ebb_flow_pin.
 */
__noinline int ebb_flow_pin_syn(const struct ebb_flow_key *k, __u64 entry, __u64 now)
{
	struct ebb_ft_scan *st;
	__u32 zero = 0, way;
	int ret;

	if (!k)
		return EBB_FT_LOST;
	ret = flow_pin(k, entry, false);
	way = (__u32)ret >> 8 & (2 * EBB_FT_WAYS - 1);
	st = bpf_map_lookup_elem(&ft_scratch, &zero);
	/* (st->kw: the scratch is still this pin's, not a preempting one's: see ebb_ft_pin) */
	if (st && (ret & 0xff) != EBB_FT_LOST && k->family != EBB_FAMILY_V6 &&
	    st->kw == ebb_ft_keyword4(k))
		syn_recent_record(way < EBB_FT_WAYS ? st->b[0] : st->b[1],
				  way & (EBB_FT_WAYS - 1), st->fp, now);
	return ret & 0xff;
}

/*
 * The same record for a SYN that placed its flow's entry again (place(): the entry's way is
 * not at hand there): found again in the buckets, which are in the cache. Global, verified
 * once: place() has no stack to spare for it.
 */
__noinline int ebb_syn_recent_note(const struct ebb_flow_key *k, __u64 now)
{
	struct ebb_ft_bucket *b0, *b1;
	struct ebb_ft_where w;
	__u64 word;
	int way;

	if (!k || k->family == EBB_FAMILY_V6)
		return 0;
	w = ebb_ft_where_key(k, flow_buckets());
	b0 = bpf_map_lookup_elem(&flows, &w.b[0]);
	b1 = bpf_map_lookup_elem(&flows, &w.b[1]);
	if (!b0 || !b1)
		return 0;
	way = ebb_ft_find(b0, b1, w.fp, ebb_ft_keyword4(k), &word);
	if (way >= 0)
		syn_recent_record(way < EBB_FT_WAYS ? w.b[0] : w.b[1], way & (EBB_FT_WAYS - 1), w.fp,
				  now);
	return 0;
}

/* Does bucket's cell hold a live record of it with the flow's fingerprint bits, or a live
 * overflow mark? */
static __always_inline bool syn_bucket_asks(__u32 bucket, __u32 fp, __u32 unit)
{
	__u32 q = ebb_syn_q_of(bucket), idx = ebb_syn_cell_of(bucket);
	union ebb_syn_cell *c;

	if (q >= EBB_SYN_Q_OVERFLOW)
		return true;
	c = bpf_map_lookup_elem(&syn_recent, &idx);
	return !c || ebb_syn_cell_asks(ebb_ft_read(&c->word), q, fp, unit);
}

/*
 * Can a bare SYN be the retry of a handshake a SYN pinned within the retry window, and in
 * which of its buckets can that first try's entry be? In either (ASK_BOTH) while the filter
 * has not recorded every pin for a whole window (the header; its first reader starts it), and
 * for an IPv6 flow; else in those of its buckets with a live record of its fingerprint bits
 * (or a mark) in their cell: an open handshake's entry has one in its own bucket's. 0: in
 * neither, it is no retry.
 */
static __always_inline __u32 syn_maybe_recent(const struct step_state *s)
{
	union ebb_syn_cell *since;
	struct ebb_ft_where w;
	__u32 zero = 0, unit;
	__u64 from;

	since = bpf_map_lookup_elem(&syn_recent, &zero);
	if (!since)
		return ASK_BOTH;
	from = ebb_ft_read(&since->word);
	if (!(from & EBB_SYN_SINCE_VALID)) {
		ebb_ft_cas(&since->word, from, EBB_SYN_SINCE_VALID | s->now);
		return ASK_BOTH;
	}
	/* (a tick of margin: two CPUs' coarse clocks read moments apart) */
	if ((__s64)(s->now - (from & ~EBB_SYN_SINCE_VALID)) <=
	    (__s64)(EBB_SYN_RETRY_NS + EBB_SEEN_TICK_NS))
		return ASK_BOTH;
	if (s->pkt.key.family == EBB_FAMILY_V6)
		return ASK_BOTH;
	w = ebb_ft_where_key(&s->pkt.key, flow_buckets());
	unit = ebb_syn_unit(s->now);
	return (syn_bucket_asks(w.b[0], w.fp, unit) ? ASK_B0 : 0) |
	       (w.b[1] != w.b[0] && syn_bucket_asks(w.b[1], w.fp, unit) ? ASK_B1 : 0);
}

/*
 * 3. lookup: the flow table. Returns true when the packet goes to the node its flow is pinned
 * to (s->node); false when it is to be placed: no entry (s->flow.slot NULL), or an entry that
 * must not keep it (s->flow.slot set: its node takes no flows, or a new connection on an old
 * port).
 */
static __always_inline bool lookup(struct step_state *s, bool asked)
{
	struct packet *pkt = &s->pkt;
	struct ebb_node *node;
	__u32 flags, tick;
	bool syn_reuse;

	/* A bare SYN whose slot of the new-flow table has not changed owner for longer than a
	 * client retries a SYN: if the table has its flow, that is this connection's own first
	 * try, placed by the same owner (a retry goes where it went), or a finished connection
	 * on a reused port, or one of a node that takes no new flows: placed again by the table.
	 * The table need not be asked. (In a slot that changed within the window it is, in the
	 * buckets where syn_recent has a handshake still open: a retry stays where it went.) */
	if (!asked) { /* a bare SYN */
		__u32 ask = slot_changed_lately(s) ? syn_maybe_recent(s) : 0;

		if (!ask)
			return false;
		flow_find(&pkt->key, &s->flow, false, ask);
	}
	if (!s->flow.slot)
		return false;
	s->node_id = ebb_ft_node(s->flow.word);
	flags = ebb_ft_flags(s->flow.word);
	node = bpf_map_lookup_elem(&nodes, &s->node_id);
	/* A SYN on a finished flow is a new connection on a reused port; on a draining node it is
	 * treated as one too, whatever the entry says (it may be idle past its timeout, which
	 * only user space knows): a draining node takes no new connection. So is a SYN on a flow
	 * no node has claimed (a mid-flow packet placed it: a stray or spoofed one). */
	syn_reuse = bare_syn(pkt) &&
		    ((flags & (EBB_FLOW_FIN | EBB_FLOW_RST | EBB_FLOW_UNCONFIRMED)) ||
		     (node && node->state == EBB_NODE_DRAINING));
	if (node && takes_pinned_flows(node) && !syn_reuse) {
		if (!pkt->icmp_error) {
			__u32 now_flags = note_tcp_flags(flags, pkt->tcp_flags);

			/* No node has claimed it yet: rescued again (place), until one does. */
			if ((flags & EBB_FLOW_UNCONFIRMED) && !(pkt->tcp_flags & TCP_FLAG_SYN))
				return false;
			/* Written at most once a tick (and when the flow ends): a word written on
			 * every packet would bounce its cache line between CPUs. */
			tick = ebb_ft_tick_of_ns(s->now);
			if (now_flags != flags || ebb_ft_tick(s->flow.word) != tick)
				flow_cas(&s->flow, ebb_ft_with(s->flow.word, now_flags, tick));
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
	__u32 slot = slot_of(s), node_id;
	bool syn_pin = false;
	bool mid_flow = pkt->key.proto == IPPROTO_TCP && !(pkt->tcp_flags & TCP_FLAG_SYN) &&
			!pkt->icmp_error;
	bool no_entry = !s->flow.slot;
	__u32 old_flags = ebb_ft_flags(s->flow.word);

	/* a 0/1 value from here on: clang would otherwise OR the pointer into a flag test, which
	 * the verifier refuses */
	asm volatile("" : "+r"(no_entry));

	/* A mid-flow packet of a flow no node has claimed is placed as one without an entry. */
	if (!no_entry && !(mid_flow && (old_flags & EBB_FLOW_UNCONFIRMED))) {
		/* Pinned to a node that no longer takes flows, or a new connection on an old
		 * port: place it again, over the nodes that take new flows. */
		node_id = ring_pick(EBB_RING_NEW(vip->id), slot);
		if (!node_id)
			return EBB_R_DROP_NO_NODE;
		if (!pkt->icmp_error) {
			/* (lost to another CPU's change: the next packet is placed again) */
			flow_cas(&s->flow, ebb_ft_replace(s->flow.word, vip->id, node_id,
							  note_tcp_flags(0, pkt->tcp_flags),
							  ebb_ft_tick_of_ns(s->now)));
			if (bare_syn(pkt))
				ebb_syn_recent_note(&pkt->key, s->now);
			s->how.placed = true;
		}
		s->node_id = node_id;
		return EBB_R_FORWARDED;
	}
	if (pkt->icmp_error || mid_flow) {
		union ebb_ft_entry *pinned = pkt->icmp_error || !no_entry ? NULL :
					     bpf_map_lookup_elem(&syn_pins, &pkt->key);

		if (pinned) { /* a handshake the flood guard pinned aside: now a real flow */
			node_id = ebb_ft_node(pinned->word);
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
		__u32 flags = note_tcp_flags(no_entry ? 0 : old_flags & (EBB_FLOW_FIN | EBB_FLOW_RST),
					     pkt->tcp_flags);

		/* The flood guard's SYNs never touch the flow table: a flood must not evict. */
		if (!s->how.unpinned) {
			if (bare_syn(pkt))
				ebb_flow_pin_syn(&pkt->key, fresh_entry(vip->id, node_id, flags, s->now),
						 s->now);
			else
				ebb_flow_pin(&pkt->key, fresh_entry(vip->id, node_id, flags, s->now));
		} else if (syn_pin) {
			__u64 entry = fresh_entry(vip->id, node_id, flags, s->now);

			bpf_map_update_elem(&syn_pins, &pkt->key, &entry, BPF_ANY);
		}
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
	__u32 flags;

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
	s->vip = vip;
	s->node = owner;
	s->node_id = owner_id;
	flow_find_now(&pkt->key, &s->flow, false, ASK_BOTH); /* its caller asked both tables */
	s->how.placed = s->how.second = new_entry != 0;
	s->now = bpf_ktime_get_coarse_ns();
	p.family = owner->family;
	if (set && set->rescue_rate && vip_has_encap_src(vip, p.family))
		plan_add(&p, s->node_id);
	flags = ebb_ft_flags(s->flow.word) & (EBB_FLOW_FIN | EBB_FLOW_RST);
	if (!p.n || !set) {
		ebb_flow_pin(&pkt->key, fresh_entry(vip->id, s->node_id,
						    note_tcp_flags(flags, pkt->tcp_flags), s->now));
		return forward(ctx, s, EBB_R_FORWARDED, pkt->bytes);
	}
	/* the slot only now: kept across the calls above it would take a stack slot the verifier's
	 * 512 bytes (this frame, the balancer's and the pin's) cannot spare */
	slot = ebb_ring_slot_m(&pkt->key, vip->table_size);
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
	ebb_flow_pin(&pkt->key,
		     fresh_entry(vip->id, s->node_id,
				 note_tcp_flags(flags | EBB_FLOW_UNCONFIRMED, pkt->tcp_flags), s->now));
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
	flow_find(&pkt->key, &s->flow, false, ASK_BOTH);
	if (s->flow.slot) {
		/* (lost to another CPU's change: the flow stays unconfirmed, and its next packet
		 * is rescued and claimed again) */
		flow_cas(&s->flow, ebb_ft_replace(s->flow.word, s->vip->id, cl.node_id,
						  note_tcp_flags(ebb_ft_flags(s->flow.word) &
								 ~EBB_FLOW_UNCONFIRMED,
								 pkt->tcp_flags),
						  ebb_ft_tick_of_ns(s->now)));
	} else {
		ebb_flow_pin(&pkt->key, fresh_entry(s->vip->id, cl.node_id,
						    note_tcp_flags(0, pkt->tcp_flags), s->now));
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
		flow_find(&s.pkt.key, &s.flow,
			  s.pkt.key.proto == IPPROTO_TCP && !(s.pkt.tcp_flags & TCP_FLAG_SYN) &&
				  !s.pkt.icmp_error,
			  ASK_BOTH);
		asked = true;
		if (s.flow.slot)
			classify_by_flow(&s, s.flow.word);
	}
	if (!s.vip) {
		reason = classify(&s); /* 2 */
		if (reason != EBB_R_FORWARDED)
			goto unowned;
	}
	/* Tick resolution is plenty for idle timeouts, the once-a-tick touch and the flood window, and
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
