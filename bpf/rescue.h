/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Rescues, the balancer's side (doc/node-truth.md): a mid-flow TCP packet the flow table cannot
 * place for sure goes, wrapped, to the nodes that may own its connection (the candidates), and
 * the one whose socket table has it sends the frame back as a claim, which pins the flow to it.
 * Here: choosing the candidates, building a rescue, and reading a claim. The steps that use
 * them are in balancer.bpf.c.
 */
#ifndef EBB_RESCUE_H
#define EBB_RESCUE_H

#include "common.h"
#include "maps.h"
#include "parsing.h"
#include "encap.h"
#include "ebb_hash.h"
#include "ebb_siphash.h"

_Static_assert((EBB_RESCUE_MAX_HOPS & (EBB_RESCUE_MAX_HOPS - 1)) == 0,
	       "a candidate's index is masked with EBB_RESCUE_MAX_HOPS - 1");

/* The candidates of one rescue, in the order they are tried; all of the first one's family. */
struct rescue_plan {
	__u16 id[EBB_RESCUE_MAX_HOPS];
	__u32 n;
	__u8 family;
};

static __always_inline bool node_has_mac(const struct ebb_node *n)
{
	return n->mac[0] | n->mac[1] | n->mac[2] | n->mac[3] | n->mac[4] | n->mac[5];
}

/*
 * Adds node id to the plan if it can be a candidate: it runs the node program (a node without
 * it would answer a rescue "protocol unreachable"), has a MAC (the hop before it sends the frame
 * there, no neighbour lookup), takes pinned flows (active or draining: a flow of a node that is
 * down or retired is lost whoever is asked), has the first candidate's family (a hop rewrites
 * an address, never a header), and is not in the plan yet.
 */
static __always_inline void plan_add(struct rescue_plan *p, __u32 id)
{
	__u32 k = p->n;
	struct ebb_node *n;
	__u16 *ids;

	if (!id || k >= EBB_RESCUE_MAX_HOPS)
		return;
	for (__u32 i = 0; i < EBB_RESCUE_MAX_HOPS; i++)
		if (i < k && p->id[i] == id)
			return;
	n = bpf_map_lookup_elem(&nodes, &id);
	if (!n || !(n->flags & EBB_NODE_F_NODE_PROG) || !node_has_mac(n) || n->family != p->family ||
	    (n->state != EBB_NODE_ACTIVE && n->state != EBB_NODE_DRAINING))
		return;
	ids = p->id;
	/* hidden from clang, which would otherwise OR the index into the aligned stack address:
	 * the verifier refuses bitwise operations on pointers */
	asm volatile("" : "+r"(ids));
	ids[k & (EBB_RESCUE_MAX_HOPS - 1)] = id;
	p->n = k + 1;
}

/* The VIP's outer source for this family (where claims come back): 0 = none. */
static __always_inline bool vip_has_encap_src(const struct ebb_vip *vip, __u8 family)
{
	if (family == EBB_FAMILY_V6)
		return vip->encap_src6[0] | vip->encap_src6[1] | vip->encap_src6[2] | vip->encap_src6[3];
	return vip->encap_src4 != 0;
}

/* True while this CPU has sent fewer than `rate` rescues in the current second (counted). */
static __always_inline bool rescue_allowed(__u64 now, __u32 rate)
{
	__u32 zero = 0;
	struct ebb_rescue_window *w = bpf_map_lookup_elem(&rescue_window, &zero);

	if (!w)
		return false;
	if (now - w->start_ns > 1000000000ULL) {
		w->start_ns = now;
		w->rescues = 0;
	}
	if (w->rescues >= rate)
		return false;
	w->rescues++;
	return true;
}

/* Bytes a rescue with this plan puts in front of the client's IP packet. */
static __always_inline __u32 rescue_overhead(const struct rescue_plan *p)
{
	__u32 n = p->n & (2 * EBB_RESCUE_MAX_HOPS - 1);

	return (p->family == EBB_FAMILY_V6 ? OUTER_V6_LEN : OUTER_V4_LEN) + EBB_RESCUE_LEN(n);
}

/*
 * Turns the frame into the rescue of pkt, in place: the client's IP packet (what followed it in
 * the frame cut off) behind an outer IPv4/IPv6 header from the VIP's encap source to the first
 * candidate, the rescue header and the candidates; Ethernet from us (the frame's destination)
 * to the first candidate's MAC. Returns 0, or -1 when the frame cannot take it.
 */
static __always_inline int rescue_build(struct xdp_md *ctx, const struct packet *pkt,
					const struct rescue_plan *p, const struct ebb_vip *vip,
					__u32 cookie)
{
	__u16 l2_len = l2_len_of(pkt);
	__u32 n = p->n, zero_id = p->id[0], grow = rescue_overhead(p);
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ebb_rescue_hdr *rh;
	struct ebb_rescue_cand *c;
	struct ebb_node *first;
	struct ethhdr *eth = data;
	__u8 ours[6];

	if (n < 1 || n > EBB_RESCUE_MAX_HOPS)
		return -1;
	first = bpf_map_lookup_elem(&nodes, &zero_id);
	if (!first || (void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(ours, eth->h_dest, 6);
	if (trim_to_ip_packet(ctx, pkt))
		return -1;
	/* grow_head's, for a size known only at run time: the verifier wants both ends checked */
	if (bpf_xdp_adjust_head(ctx, -(int)grow))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (l2_len != sizeof(struct ethhdr)) {
		/* the EtherType (at 12) and the tag move (grow is more than their length);
		 * the MACs are written below */
		void *tag = data + (grow & 0xff) + 12;

		if (data + sizeof(struct ethhdr) + sizeof(struct ebb_vlan_hdr) > data_end ||
		    tag + 2 + sizeof(struct ebb_vlan_hdr) > data_end)
			return -1;
		__builtin_memcpy(data + 12, tag, 2 + sizeof(struct ebb_vlan_hdr));
	}
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_source, ours, 6);
	__builtin_memcpy(eth->h_dest, first->mac, 6);

	if (p->family == EBB_FAMILY_V6) {
		struct ipv6hdr *ip6 = data + l2_len;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		set_ethertype(data, l2_len, ETH_P_IPV6);
		/* the flow's label, as ipip's: ECMP on the way spreads rescues as it spreads flows */
		*(__be32 *)ip6 = bpf_htonl(0x60000000 | (ebb_flow_hash(&pkt->key) & 0xfffff));
		ip6->payload_len = bpf_htons(pkt->ip_len + grow - OUTER_V6_LEN);
		ip6->nexthdr = EBB_RESCUE_PROTO;
		ip6->hop_limit = 64;
		__builtin_memcpy(&ip6->saddr, vip->encap_src6, 16);
		__builtin_memcpy(&ip6->daddr, first->addr, 16);
		rh = (void *)(ip6 + 1);
	} else {
		struct iphdr *ip = data + l2_len;
		__be32 saddr = vip->encap_src4, daddr = first->addr[0];
		__u16 tot_len = pkt->ip_len + grow;
		__u32 sum;
		__be32 *w;

		if ((void *)(ip + 1) > data_end)
			return -1;
		set_ethertype(data, l2_len, ETH_P_IP);
		/* as encap_ipip: id 0, DF, TTL 64; the checksum from the values written */
		sum = 0x4500 + IP_DF + (64 << 8 | EBB_RESCUE_PROTO) + tot_len +
		      (bpf_ntohl(saddr) >> 16) + (bpf_ntohl(saddr) & 0xffff) +
		      (bpf_ntohl(daddr) >> 16) + (bpf_ntohl(daddr) & 0xffff);
		w = (__be32 *)ip;
		w[0] = bpf_htonl(0x45000000 | tot_len);
		w[1] = bpf_htonl(IP_DF);
		w[2] = bpf_htonl(64 << 24 | (__u32)EBB_RESCUE_PROTO << 16 | csum_fold(sum));
		w[3] = saddr;
		w[4] = daddr;
		rh = (void *)(ip + 1);
	}
	if ((void *)(rh + 1) > data_end)
		return -1;
	rh->magic = EBB_RESCUE_MAGIC;
	rh->version = EBB_RESCUE_VERSION;
	rh->hop = 0;
	rh->count = n;
	rh->next_proto = pkt->key.family == EBB_FAMILY_V6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	rh->flags = 0;
	__builtin_memcpy(rh->lb_mac, ours, 6);
	rh->cookie = cookie;

	c = (void *)(rh + 1);
#pragma unroll
	for (__u32 i = 0; i < EBB_RESCUE_MAX_HOPS; i++) {
		__u32 id = p->id[i];
		struct ebb_node *node;

		if (i >= n)
			break;
		node = bpf_map_lookup_elem(&nodes, &id);
		if (!node || (void *)(c + 1) > data_end)
			return -1;
		c->addr[0] = node->addr[0];
		if (p->family == EBB_FAMILY_V6) {
			c->addr[1] = node->addr[1];
			c->addr[2] = node->addr[2];
			c->addr[3] = node->addr[3];
		} else {
			c->addr[1] = c->addr[2] = c->addr[3] = 0;
		}
		__builtin_memcpy(c->mac, node->mac, 6);
		c->node_id = id;
		c++;
	}
	return 0;
}

/* What a claim says, once read. */
struct claim {
	__be32 dst[4]; /* the outer destination: it must be an encap source of ours */
	__u8 family; /* the outer header's */
	__u8 hop;
	__u16 node_id; /* the claimer: candidates[hop].node_id */
	__u32 cookie;
	__u32 strip; /* bytes between the L2 header and the client's packet */
};

struct encap_src_search {
	__be32 addr[4];
	__u8 family;
	bool found;
};

static long encap_src_match(__u32 i, struct encap_src_search *q)
{
	struct ebb_vip_entry *v = bpf_map_lookup_elem(&vips_by_id, &i);

	if (!v || !v->key.family)
		return 0;
	if (q->family == EBB_FAMILY_V4)
		q->found = v->vip.encap_src4 && v->vip.encap_src4 == q->addr[0];
	else
		q->found = !((v->vip.encap_src6[0] ^ q->addr[0]) | (v->vip.encap_src6[1] ^ q->addr[1]) |
			     (v->vip.encap_src6[2] ^ q->addr[2]) | (v->vip.encap_src6[3] ^ q->addr[3]));
	return q->found; /* 1 stops the loop */
}

/* Whether addr is the encap source of one of our VIPs: a walk over the VIPs, paid only by a
 * protocol-253 packet that is no good claim (a good one names its VIP). */
static __always_inline bool is_encap_src(const __be32 *addr, __u8 family)
{
	struct encap_src_search q = { .family = family };

	if (family != EBB_FAMILY_V4 && family != EBB_FAMILY_V6)
		return false;
	__builtin_memcpy(q.addr, addr, sizeof(q.addr));
	if (family == EBB_FAMILY_V6 && !(q.addr[0] | q.addr[1] | q.addr[2] | q.addr[3]))
		return false;
	bpf_loop(EBB_MAX_VIPS, encap_src_match, &q, 0);
	return q.found;
}

/*
 * Reads a claim (protocol 253 to us; parse stopped at its outer header): the outer header, the
 * rescue header (flags == EBB_RESCUE_F_CLAIM), the claimer's candidate entry, whose address must
 * be the outer source and whose node id must be a node of ours with that address that takes
 * pinned flows, then the client's packet, parsed into pkt as any packet is (it must be TCP, to a
 * maybe-VIP, and lie within the outer packet). cl->dst and cl->family are set first, so that a
 * claim refused for any reason can be told ours (to an encap source) or not. Returns 0 when all
 * of it holds; the VIP and the cookie are the caller's to check.
 */
static __always_inline int claim_read(struct xdp_md *ctx, struct packet *pkt, struct claim *cl)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u64 off = l2_len_of(pkt), outer_end, rh_off, cands_end;
	struct ethhdr *eth = data;
	struct ebb_rescue_hdr *rh;
	struct ebb_rescue_cand *c;
	struct ebb_node *node;
	__be32 src[4] = {};
	__u32 id, count, hop;
	__be16 proto;
	int ret;

	if ((void *)(eth + 1) > data_end)
		return -1;
	proto = eth->h_proto;
	if (off != sizeof(*eth)) {
		struct ebb_vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > data_end)
			return -1;
		proto = vh->encapsulated_proto;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		cl->family = EBB_FAMILY_V6;
		copy_addr6(cl->dst, &ip6->daddr);
		copy_addr6(src, &ip6->saddr);
		if (ip6->version != 6)
			return -1;
		outer_end = off + sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		rh_off = off + sizeof(*ip6);
	} else {
		struct iphdr *ip = data + off;

		if ((void *)(ip + 1) > data_end)
			return -1;
		cl->family = EBB_FAMILY_V4;
		cl->dst[0] = ip->daddr;
		src[0] = ip->saddr;
		/* a claim is a rescue sent back: an option-less, unfragmented header */
		if (ip->version != 4 || ip->ihl != 5 ||
		    (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) || !ipv4_csum_ok(ip, data_end))
			return -1;
		outer_end = off + bpf_ntohs(ip->tot_len);
		rh_off = off + sizeof(*ip);
	}
	rh = data + rh_off;
	if (outer_end > (__u64)(data_end - data) || (void *)(rh + 1) > data_end ||
	    rh_off + sizeof(*rh) > outer_end)
		return -1;
	if (rh->magic != EBB_RESCUE_MAGIC || rh->version != EBB_RESCUE_VERSION ||
	    rh->flags != EBB_RESCUE_F_CLAIM)
		return -1;
	count = rh->count;
	hop = rh->hop;
	if (count < 1 || count > EBB_RESCUE_MAX_HOPS || hop >= count)
		return -1;
	if (rh->next_proto != IPPROTO_IPIP && rh->next_proto != IPPROTO_IPV6)
		return -1;
	cl->hop = hop;
	cl->cookie = rh->cookie;
	cands_end = rh_off + sizeof(*rh) + count * sizeof(struct ebb_rescue_cand);
	if (cands_end > outer_end)
		return -1;
	c = (void *)(rh + 1);
	c += hop & (EBB_RESCUE_MAX_HOPS - 1);
	/* one register for the check and the reads: clang would recompute c for the reads */
	asm volatile("" : "+r"(c));
	if ((void *)(c + 1) > data_end)
		return -1;
	if ((c->addr[0] ^ src[0]) | (c->addr[1] ^ src[1]) | (c->addr[2] ^ src[2]) |
	    (c->addr[3] ^ src[3]))
		return -1;
	id = c->node_id;
	cl->node_id = id;
	if (!id || id >= EBB_MAX_NODES)
		return -1;
	node = bpf_map_lookup_elem(&nodes, &id);
	if (!node || node->family != cl->family ||
	    (node->state != EBB_NODE_ACTIVE && node->state != EBB_NODE_DRAINING))
		return -1;
	if (node->addr[0] != src[0] ||
	    (cl->family == EBB_FAMILY_V6 && ((node->addr[1] ^ src[1]) | (node->addr[2] ^ src[2]) |
					     (node->addr[3] ^ src[3]))))
		return -1;
	/* The client's packet, parsed as the balancer parses any: its key, lengths and flags (the
	 * key cleared of what the outer header left in it: an IPv4 key is one word). */
	__builtin_memset(&pkt->key, 0, sizeof(pkt->key));
	pkt->icmp_error = false;
	cl->strip = cands_end - off;
	if (rh->next_proto == IPPROTO_IPIP)
		ret = parse_ipv4(data, data_end, cands_end & 0xff, pkt);
	else
		ret = parse_ipv6(data, data_end, cands_end & 0xff, pkt);
	if (ret != EBB_R_FORWARDED || pkt->key.proto != IPPROTO_TCP || pkt->icmp_error)
		return -1;
	if (cands_end + pkt->ip_len > outer_end)
		return -1;
	return 0;
}

/*
 * Cuts the outer header, the rescue header and the candidates out of a read claim (the L2
 * header moves up, its EtherType becomes the client's family) and what follows the client's
 * packet off: the frame is then the client's packet as it came to us. Fixes pkt->bytes.
 */
static __always_inline int claim_strip(struct xdp_md *ctx, struct packet *pkt, const struct claim *cl)
{
	__u16 l2_len = l2_len_of(pkt);
	__u32 strip = cl->strip & 0x3ff;
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u8 l2[sizeof(struct ethhdr) + sizeof(struct ebb_vlan_hdr)];
	__u64 end;

	if (data + sizeof(struct ethhdr) + sizeof(struct ebb_vlan_hdr) > data_end)
		return -1;
	__builtin_memcpy(l2, data, sizeof(struct ethhdr) + sizeof(struct ebb_vlan_hdr));
	if (bpf_xdp_adjust_head(ctx, (int)strip))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) + sizeof(struct ebb_vlan_hdr) > data_end)
		return -1;
	/* the 18 bytes in front of the client's packet are the last of the stripped headers (at
	 * least 20 + 16 + 24 of them) and the L2 header: written whole, then the EtherType */
	if (l2_len == sizeof(struct ethhdr)) {
		__builtin_memcpy(data, l2, sizeof(struct ethhdr));
	} else {
		__builtin_memcpy(data, l2, sizeof(struct ethhdr) + sizeof(struct ebb_vlan_hdr));
	}
	set_ethertype(data, l2_len, pkt->key.family == EBB_FAMILY_V6 ? ETH_P_IPV6 : ETH_P_IP);
	end = (__u64)l2_len + pkt->ip_len;
	if ((__u64)(data_end - data) != end &&
	    bpf_xdp_adjust_tail(ctx, (int)end - (int)(data_end - data)))
		return -1;
	pkt->bytes = end;
	return 0;
}

#endif /* EBB_RESCUE_H */
