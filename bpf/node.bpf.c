// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebb on the node: the decapsulator grown by rescues (doc/node-truth.md). On the node's ingress
 * device, a rescue (IP protocol EBB_RESCUE_PROTO, include/ebb.h) is a client's mid-flow TCP
 * packet with the list of nodes that may own its connection. The node's own socket table is
 * the truth: a socket for the client's 4-tuple in any state but LISTEN and TIME_WAIT (a request
 * socket of a handshake in progress counts) means the connection is ours: when the rescue names
 * the balancer's MAC, the frame goes back to the balancer as a claim (it pins the flow here and
 * forwards the client's packet the ordinary way), else the client's packet goes to the stack as
 * it was sent. Otherwise the next candidate gets it, outer destination and MACs rewritten
 * (XDP_TX); the last candidate delivers it as the balancer would have without rescues. Every
 * other packet goes through the decapsulator unchanged (decap.bpf.c, included here: one program
 * per device does both, and its counters are its own).
 *
 * Why one program and not a second one beside the decapsulator: a device runs one XDP program
 * (without a dispatcher), and a node of `fwd ipip` VIPs needs both.
 */
#define EBB_NODE_PROG
#include "decap.bpf.c"

/* candidate indexes are masked with EBB_RESCUE_MAX_HOPS - 1 for the verifier */
_Static_assert(EBB_TCP_LISTEN == BPF_TCP_LISTEN && EBB_TCP_TIME_WAIT == BPF_TCP_TIME_WAIT,
	       "include/ebb.h's TCP states are the kernel's");
_Static_assert((EBB_RESCUE_MAX_HOPS & (EBB_RESCUE_MAX_HOPS - 1)) == 0,
	       "EBB_RESCUE_MAX_HOPS must be a power of two");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EBB_N_SLOTS);
	__type(key, __u32);
	__type(value, struct ebb_reason_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} node_stats SEC(".maps");

static __always_inline int node_done(__u32 reason, __u64 bytes, int verdict)
{
	return count_reason(&node_stats, reason, bytes, verdict);
}

/* Where the parts of a rescue are in the frame, all offsets from the frame's start. */
struct rescue {
	__u32 l2_len; /* Ethernet header and VLAN tag */
	__u32 outer_len; /* outer IP header: 20 or 40 */
	__u32 inner; /* the client's packet: after the candidates */
	__u32 outer_end; /* where the outer packet ends, by its length field */
	__u8 family; /* the outer header's */
	__u8 next_proto; /* the client's packet: IPPROTO_IPIP / IPPROTO_IPV6 */
};

/* Strip the outer header and the rescue header, keep the L2 header with the client's
 * EtherType, cut whatever followed the outer packet: the decapsulator's unwrap(). */
static __always_inline int deliver(struct xdp_md *ctx, const struct rescue *r, __u32 reason,
				   __u64 bytes)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	bool tagged = r->l2_len != sizeof(struct ethhdr);

	if (data + sizeof(struct ethhdr) + sizeof(struct vlan_tag) > data_end && tagged)
		return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
	if (data + sizeof(struct ethhdr) > data_end)
		return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
	if (unwrap(ctx, data, r->l2_len, r->inner - r->l2_len, r->outer_end, bytes, r->next_proto))
		return node_done(EBB_N_DROP_TRUNCATED, bytes, XDP_DROP);
	return node_done(reason, bytes, XDP_PASS);
}

/* Whether this node has a socket that owns the connection of the client's packet at `inner`.
 * Fills *reason instead when the client's packet is unusable. */
static __always_inline bool owned_here(struct xdp_md *ctx, const struct rescue *r, __u32 *reason)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 tuple_len, l3_len, avail = r->outer_end - r->inner;
	struct tcphdr *tcp;
	__u8 state;

	*reason = EBB_N_MAX;
	if (r->next_proto == IPPROTO_IPIP) {
		struct iphdr *ip = data + r->inner;

		if ((void *)(ip + 1) > data_end || avail < sizeof(*ip)) {
			*reason = EBB_N_DROP_TRUNCATED;
			return false;
		}
		if (ip->version != 4 || ip->ihl < 5 || ip->protocol != IPPROTO_TCP ||
		    (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))) {
			*reason = EBB_N_DROP_BAD_INNER;
			return false;
		}
		if (bpf_ntohs(ip->tot_len) > avail) {
			*reason = EBB_N_DROP_BAD_LENGTH;
			return false;
		}
		l3_len = ip->ihl * 4;
		if (bpf_ntohs(ip->tot_len) < l3_len + sizeof(struct tcphdr)) {
			*reason = EBB_N_DROP_TRUNCATED;
			return false;
		}
		t.ipv4.saddr = ip->saddr;
		t.ipv4.daddr = ip->daddr;
		tuple_len = sizeof(t.ipv4);
	} else {
		struct ipv6hdr *ip6 = data + r->inner;

		if ((void *)(ip6 + 1) > data_end || avail < sizeof(*ip6)) {
			*reason = EBB_N_DROP_TRUNCATED;
			return false;
		}
		/* ebb places no packet with extension headers: a rescue carries none */
		if (ip6->version != 6 || ip6->nexthdr != IPPROTO_TCP) {
			*reason = EBB_N_DROP_BAD_INNER;
			return false;
		}
		if (sizeof(*ip6) + bpf_ntohs(ip6->payload_len) > avail) {
			*reason = EBB_N_DROP_BAD_LENGTH;
			return false;
		}
		l3_len = sizeof(*ip6);
		if (bpf_ntohs(ip6->payload_len) < sizeof(struct tcphdr)) {
			*reason = EBB_N_DROP_TRUNCATED;
			return false;
		}
		__builtin_memcpy(t.ipv6.saddr, &ip6->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, &ip6->daddr, 16);
		tuple_len = sizeof(t.ipv6);
	}
	if (l3_len > 60)
		return false; /* unreachable (ihl is 4 bits): bounds the offset for the verifier */
	tcp = data + r->inner + l3_len;
	if ((void *)(tcp + 1) > data_end) {
		*reason = EBB_N_DROP_TRUNCATED;
		return false;
	}
	/* sport/dport sit at the same place in both tuple layouts */
	if (tuple_len == sizeof(t.ipv4)) {
		t.ipv4.sport = tcp->source;
		t.ipv4.dport = tcp->dest;
	} else {
		t.ipv6.sport = tcp->source;
		t.ipv6.dport = tcp->dest;
	}
	/* skc: a request socket (TCP_NEW_SYN_RECV) is returned as itself, not as its listener */
	sk = bpf_skc_lookup_tcp(ctx, &t, tuple_len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return false;
	state = sk->state;
	bpf_sk_release(sk);
	return EBB_TCP_OWNS(state);
}

/*
 * This node owns the connection and the balancer asked to be told: the rescue goes back to it as
 * a claim, the same frame with EBB_RESCUE_F_CLAIM set. hop stays (it names this node), the
 * cookie and the client's packet stay (the balancer checks the one and forwards the other here
 * the ordinary way, once it has pinned the flow), the outer addresses swap (the outer
 * destination was checked to be candidates[hop].addr: this node) and the frame goes to lb_mac
 * from the MAC it came to. Whatever followed the outer packet is cut: it was never the
 * balancer's. The client's packet is not delivered here: the balancer sends it again, so the
 * stack sees it once.
 */
static __always_inline int claim(struct xdp_md *ctx, const struct rescue *r, const __u8 *lb_mac,
				 __u64 bytes)
{
	void *data, *data_end;
	struct ebb_rescue_hdr *h;
	struct ethhdr *eth;
	__u32 hoff = r->l2_len + r->outer_len;

	if (hoff > 64) /* unreachable: bounds the offset for the verifier */
		return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
	if (r->outer_end < bytes && bpf_xdp_adjust_tail(ctx, (int)r->outer_end - (int)bytes))
		return node_done(EBB_N_DROP_TRUNCATED, bytes, XDP_DROP);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	h = data + hoff;
	if ((void *)(eth + 1) > data_end || (void *)(h + 1) > data_end)
		return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
	h->flags = EBB_RESCUE_F_CLAIM;
	if (r->family == EBB_FAMILY_V4) {
		struct iphdr *o = data + r->l2_len;
		__be32 a;

		if ((void *)(o + 1) > data_end)
			return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
		a = o->daddr;
		o->daddr = o->saddr;
		o->saddr = a;
		o->check = 0;
		o->check = ipv4_csum(o);
	} else {
		struct ipv6hdr *o = data + r->l2_len;
		struct in6_addr a;

		if ((void *)(o + 1) > data_end)
			return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
		__builtin_memcpy(&a, &o->daddr, sizeof(a));
		__builtin_memcpy(&o->daddr, &o->saddr, sizeof(a));
		__builtin_memcpy(&o->saddr, &a, sizeof(a));
	}
	__builtin_memcpy(eth->h_source, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, lb_mac, 6);
	return node_done(EBB_N_CLAIMED, bytes, XDP_TX);
}

static __always_inline int rescue(struct xdp_md *ctx, struct rescue *r, __u64 bytes)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ebb_rescue_hdr *h = data + r->l2_len + r->outer_len;
	struct ebb_rescue_cand *cands = (void *)(h + 1), *c, cur, next;
	__u32 reason, cand_end;
	__u8 hop, count, lb_mac[6];

	if (r->l2_len + r->outer_len > 64) /* unreachable: bounds the offset for the verifier */
		return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
	if ((void *)(h + 1) > data_end)
		return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
	if (h->magic != EBB_RESCUE_MAGIC || h->version != EBB_RESCUE_VERSION)
		return node_done(EBB_N_DROP_BAD_VERSION, bytes, XDP_DROP);
	count = h->count;
	hop = h->hop;
	if (count == 0 || count > EBB_RESCUE_MAX_HOPS)
		return node_done(EBB_N_DROP_BAD_COUNT, bytes, XDP_DROP);
	if (hop >= count)
		return node_done(EBB_N_DROP_BAD_HOP, bytes, XDP_DROP);
	if (h->flags) /* a claim is the balancer's to read; no other flag exists */
		return node_done(EBB_N_DROP_BAD_FLAGS, bytes, XDP_DROP);
	if (r->outer_end > bytes)
		return node_done(EBB_N_DROP_BAD_LENGTH, bytes, XDP_DROP);
	cand_end = r->l2_len + r->outer_len + EBB_RESCUE_LEN(count);
	if (cand_end > r->outer_end)
		return node_done(EBB_N_DROP_TRUNCATED, bytes, XDP_DROP);
	if (h->next_proto != IPPROTO_IPIP && h->next_proto != IPPROTO_IPV6)
		return node_done(EBB_N_DROP_BAD_INNER, bytes, XDP_DROP);
	r->next_proto = h->next_proto;
	r->inner = cand_end;

#pragma unroll
	for (int i = 0; i < EBB_RESCUE_MAX_HOPS; i++) {
		struct ebb_rescue_cand *ci = cands + i;

		if (i >= count)
			break;
		if ((void *)(ci + 1) > data_end)
			return node_done(EBB_N_DROP_TRUNCATED, bytes, XDP_DROP);
		/* one outer family for the whole chain: a hop rewrites addresses, never headers */
		if (r->family == EBB_FAMILY_V4 && (ci->addr[1] | ci->addr[2] | ci->addr[3]))
			return node_done(EBB_N_DROP_BAD_CAND, bytes, XDP_DROP);
	}
	/* copied out: clang would otherwise re-derive the pointer past the verifier's check */
	c = cands + (hop & (EBB_RESCUE_MAX_HOPS - 1));
	if ((void *)(c + 1) > data_end)
		return node_done(EBB_N_DROP_TRUNCATED, bytes, XDP_DROP);
	__builtin_memcpy(&cur, c, sizeof(cur));
	/* A rescue addressed to one candidate while its hop names another is not one ebb sent. */
	if (r->family == EBB_FAMILY_V4) {
		struct iphdr *o = data + r->l2_len;

		if ((void *)(o + 1) > data_end)
			return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
		if (o->daddr != cur.addr[0])
			return node_done(EBB_N_DROP_BAD_CAND, bytes, XDP_DROP);
	} else {
		struct ipv6hdr *o = data + r->l2_len;

		if ((void *)(o + 1) > data_end)
			return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
		__u32 *d = (__u32 *)&o->daddr;

		if ((d[0] ^ cur.addr[0]) | (d[1] ^ cur.addr[1]) | (d[2] ^ cur.addr[2]) |
		    (d[3] ^ cur.addr[3]))
			return node_done(EBB_N_DROP_BAD_CAND, bytes, XDP_DROP);
	}

	/* copied out: the claim cuts the frame first, which ends every pointer into it */
	__builtin_memcpy(lb_mac, h->lb_mac, sizeof(lb_mac));
	if (owned_here(ctx, r, &reason)) {
		if (lb_mac[0] | lb_mac[1] | lb_mac[2] | lb_mac[3] | lb_mac[4] | lb_mac[5])
			return claim(ctx, r, lb_mac, bytes);
		return deliver(ctx, r, EBB_N_DELIVERED_OWNER, bytes);
	}
	if (reason != EBB_N_MAX)
		return node_done(reason, bytes, XDP_DROP);
	if (hop + 1 >= count)
		return deliver(ctx, r, EBB_N_DELIVERED_LAST, bytes);

	/* Pass it on, in place: same size, so the next hop gets the same MTU rule */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	h = data + r->l2_len + r->outer_len;
	if ((void *)(h + 1) > data_end)
		return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
	c = (void *)(h + 1) + ((hop + 1) & (EBB_RESCUE_MAX_HOPS - 1)) * sizeof(*c);
	if ((void *)(c + 1) > data_end)
		return node_done(EBB_N_DROP_TRUNCATED, bytes, XDP_DROP);
	__builtin_memcpy(&next, c, sizeof(next));
	if (!(next.mac[0] | next.mac[1] | next.mac[2] | next.mac[3] | next.mac[4] | next.mac[5]))
		return deliver(ctx, r, EBB_N_DELIVERED_NO_MAC, bytes);
	h->hop = hop + 1;
	if (r->family == EBB_FAMILY_V4) {
		struct iphdr *o = data + r->l2_len;

		if ((void *)(o + 1) > data_end)
			return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
		o->daddr = next.addr[0];
		o->check = 0;
		o->check = ipv4_csum(o);
	} else {
		struct ipv6hdr *o = data + r->l2_len;

		if ((void *)(o + 1) > data_end)
			return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
		__builtin_memcpy(&o->daddr, next.addr, 16);
	}
	{
		struct ethhdr *eth = data;

		if ((void *)(eth + 1) > data_end)
			return node_done(EBB_N_DROP_SHORT, bytes, XDP_DROP);
		/* the frame came to this device's MAC: it is the source of the next hop's frame */
		__builtin_memcpy(eth->h_source, eth->h_dest, 6);
		__builtin_memcpy(eth->h_dest, next.mac, 6);
	}
	return node_done(EBB_N_FORWARDED_NEXT, bytes, XDP_TX);
}

SEC("xdp")
int ebb_node(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	struct ethhdr *eth = data;
	struct rescue r = { .l2_len = sizeof(*eth) };
	__u16 h_proto;

	if ((void *)(eth + 1) > data_end)
		return decap_frame(ctx);
	h_proto = eth->h_proto;
	if (h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_tag *tag = (void *)(eth + 1);

		if ((void *)(tag + 1) > data_end)
			return decap_frame(ctx);
		h_proto = tag->encapsulated_proto;
		r.l2_len += sizeof(*tag);
	}
	if (h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *outer = data + r.l2_len;

		if ((void *)(outer + 1) > data_end || outer->protocol != EBB_RESCUE_PROTO)
			return decap_frame(ctx);
		/* ebb never sends options or fragments */
		if (outer->ihl != 5 || (outer->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
			return node_done(EBB_N_DROP_BAD_OUTER, bytes, XDP_DROP);
		r.family = EBB_FAMILY_V4;
		r.outer_len = sizeof(*outer);
		r.outer_end = r.l2_len + bpf_ntohs(outer->tot_len);
	} else if (h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *outer = data + r.l2_len;

		if ((void *)(outer + 1) > data_end || outer->nexthdr != EBB_RESCUE_PROTO)
			return decap_frame(ctx);
		r.family = EBB_FAMILY_V6;
		r.outer_len = sizeof(*outer);
		r.outer_end = r.l2_len + sizeof(*outer) + bpf_ntohs(outer->payload_len);
	} else {
		return decap_frame(ctx);
	}
	return rescue(ctx, &r, bytes);
}
