/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Header parsing: from the frame to a flow key. A parser returns EBB_R_FORWARDED when the
 * packet is a balanced one with its key filled in, otherwise the reason it is not ours (pass)
 * or is ours but unusable (drop). Whether an address is ours is decided as soon as the IP
 * header is readable, so that a malformed packet to a VIP is dropped, never passed half-parsed.
 */
#ifndef EBB_PARSING_H
#define EBB_PARSING_H

#include "common.h"
#include "maps.h"

/* Not a reason (never counted): parse's answer for an IP packet of protocol EBB_RESCUE_PROTO
 * that is not a VIP's (a VIP's malformed one is dropped as any): the balancer reads it as a
 * claim, its destination an encap source. Only packets that are not ours pay the compare. */
#define EBB_PARSE_RESCUE_PROTO EBB_R_SLOTS

/*
 * Whether an address may carry a VIP: one bit of vip_filter (an array, so the lookup is
 * inlined, and no hash is computed). Clear: not ours, pass. Set: a VIP's, or (rarely) an
 * address sharing its bit, which the exact check below tells apart where it matters.
 */
static __always_inline bool maybe_vip_addr(const __be32 *addr, __u8 family)
{
	__u32 zero = 0, bit = ebb_vip_filter_bit(addr, family);
	struct ebb_vip_filter *f = bpf_map_lookup_elem(&vip_filter, &zero);

	return f && (f->bits[(bit / 64) & (EBB_VIP_FILTER_WORDS - 1)] >> (bit % 64)) & 1;
}

/* Exact: the address carries at least one VIP. */
static __always_inline bool is_vip_addr(const __be32 *addr, __u8 family)
{
	struct ebb_vip_addr_key vak = { .family = family };

	vak.addr[0] = addr[0];
	if (family == EBB_FAMILY_V6) {
		vak.addr[1] = addr[1];
		vak.addr[2] = addr[2];
		vak.addr[3] = addr[3];
	}
	return bpf_map_lookup_elem(&vip_addrs, &vak) != NULL;
}

/*
 * A corrupted header must not choose a flow (its addresses or ports may be the corrupted part).
 * Summed as 32-bit words (RFC 1071 allows any word size): five loads the parser has mostly made
 * already, and a bounded walk over the options, which few packets carry.
 */
static __always_inline bool ipv4_csum_ok(struct iphdr *iph, void *data_end)
{
	__u32 *w = (__u32 *)iph;
	__u64 sum = (__u64)w[0] + w[1] + w[2] + w[3] + w[4];
	__u32 opt_words = iph->ihl - 5;

	if (opt_words) {
		__u32 *opt = (__u32 *)(iph + 1);

		for (__u32 i = 0; i < 10 && i < opt_words; i++) {
			/* Keeps clang from folding the bound into pkt_end arithmetic, which the
			 * verifier refuses. */
			asm volatile("" : "+r"(opt));
			if ((void *)(opt + 1) > data_end)
				return false;
			sum += *opt++;
		}
	}
	sum = (sum & 0xffffffff) + (sum >> 32);
	return csum_fold(sum) == 0;
}

/*
 * Reads the ports (and TCP flags) of the L4 header at off; l4_len is what the IP header says
 * follows it. Lengths are checked as the kernel's own receive path would: what it would drop
 * must not pin a flow or reach a node.
 */
static __always_inline int parse_ports(void *data, void *data_end, __u64 off, __u32 l4_len,
				       struct packet *pkt)
{
	if (pkt->key.proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;
		__u8 doff;

		if (l4_len < sizeof(*th))
			return EBB_R_DROP_BAD_LENGTH;
		if ((void *)(th + 1) > data_end)
			return EBB_R_DROP_TRUNCATED;
		doff = ((__u8 *)th)[12] >> 4;
		if (doff < 5 || doff * 4u > l4_len)
			return EBB_R_DROP_BAD_L4;
		pkt->key.sport = th->source;
		pkt->key.dport = th->dest;
		pkt->tcp_flags = ((__u8 *)th)[13];
		return EBB_R_FORWARDED;
	}
	struct udphdr *uh = data + off;
	__u16 ulen;

	if (l4_len < sizeof(*uh))
		return EBB_R_DROP_BAD_LENGTH;
	if ((void *)(uh + 1) > data_end)
		return EBB_R_DROP_TRUNCATED;
	ulen = bpf_ntohs(uh->len);
	if (ulen < sizeof(*uh) || ulen > l4_len)
		return EBB_R_DROP_BAD_L4;
	pkt->key.sport = uh->source;
	pkt->key.dport = uh->dest;
	return EBB_R_FORWARDED;
}

/*
 * The quoted ports of an ICMP error: the quote is the node's reply (VIP -> client), so the key
 * is built reversed, as the client's packets of that flow would have it. `need` is where the
 * ports end, counted from the ICMP header, which must lie inside the ICMP message.
 */
static __always_inline int quoted_ports(void *data, void *data_end, __u64 off, __u32 need,
					__u32 l4_len, struct packet *pkt)
{
	__be16 *ports = data + off;

	if (need > l4_len || (void *)(ports + 2) > data_end)
		return EBB_R_DROP_BAD_ICMP;
	pkt->key.sport = ports[1];
	pkt->key.dport = ports[0];
	pkt->icmp_error = true;
	return EBB_R_FORWARDED;
}

static __always_inline int parse_icmp4(void *data, void *data_end, __u64 off, __u32 l4_len,
				       __be32 outer_daddr, struct packet *pkt)
{
	struct icmphdr *icmp = data + off;
	struct iphdr *inner;
	__u32 inner_hlen;

	if (l4_len < sizeof(*icmp))
		return EBB_R_DROP_BAD_LENGTH;
	if ((void *)(icmp + 1) > data_end)
		return EBB_R_DROP_TRUNCATED;
	if (icmp->type != ICMP_DEST_UNREACH)
		return EBB_R_PASS_ICMP;
	inner = (void *)(icmp + 1);
	if ((void *)(inner + 1) > data_end)
		return EBB_R_DROP_BAD_ICMP;
	if (inner->version != 4 || inner->ihl < 5 ||
	    (inner->protocol != IPPROTO_TCP && inner->protocol != IPPROTO_UDP))
		return EBB_R_DROP_BAD_ICMP;
	/* Otherwise anyone could steer packets into another VIP's flows. */
	if (inner->saddr != outer_daddr)
		return EBB_R_DROP_ICMP_FOREIGN;
	pkt->key.proto = inner->protocol;
	pkt->key.src[0] = inner->daddr;
	pkt->key.dst[0] = inner->saddr;
	inner_hlen = inner->ihl * 4;
	return quoted_ports(data, data_end, off + sizeof(*icmp) + inner_hlen,
			    sizeof(*icmp) + inner_hlen + 4, l4_len, pkt);
}

static __always_inline int parse_ipv4(void *data, void *data_end, __u64 off, struct packet *pkt)
{
	struct iphdr *iph = data + off;
	__u32 hlen, tot_len;

	if ((void *)(iph + 1) > data_end)
		return EBB_R_PASS_TRUNCATED;
	/* Not ours, unless a node's claim: to an encap source, which is no VIP address (one that
	 * shares a VIP's filter bit is told apart below) */
	if (!maybe_vip_addr(&iph->daddr, EBB_FAMILY_V4))
		return iph->protocol == EBB_RESCUE_PROTO ? EBB_PARSE_RESCUE_PROTO : EBB_R_PASS_NOT_VIP;
	/* from here on the key names the address, for the exact check of a packet not forwarded */
	pkt->key.family = EBB_FAMILY_V4;
	pkt->key.dst[0] = iph->daddr;
	if (iph->version != 4)
		return EBB_R_DROP_BAD_VERSION;
	if (iph->ihl < 5)
		return EBB_R_DROP_BAD_IHL;
	hlen = iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	/* Ethernet may pad a frame past the packet, never cut it short: a total length beyond the
	 * frame is a lie, and would be wrapped (ipip) or answered (too big) as if it were true. */
	if (off + tot_len > (__u64)(data_end - data))
		return EBB_R_DROP_TRUNCATED;
	if (tot_len < hlen)
		return EBB_R_DROP_BAD_LENGTH;
	if (!ipv4_csum_ok(iph, data_end))
		return EBB_R_DROP_BAD_CSUM;
	/* Only the first fragment has ports; the rest could not be placed like it. */
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return EBB_R_DROP_FRAGMENT;
	pkt->dont_fragment = !!(iph->frag_off & bpf_htons(IP_DF));
	pkt->ip_len = tot_len;

	pkt->key.proto = iph->protocol;
	pkt->key.src[0] = iph->saddr;
	/* IPv4 options are kept: dsr forwards the packet as it came, only the ports are needed. */
	off += hlen;
	if (iph->protocol == IPPROTO_TCP || iph->protocol == IPPROTO_UDP)
		return parse_ports(data, data_end, off, tot_len - hlen, pkt);
	if (iph->protocol == IPPROTO_ICMP)
		return parse_icmp4(data, data_end, off, tot_len - hlen, iph->daddr, pkt);
	return iph->protocol == EBB_RESCUE_PROTO ? EBB_PARSE_RESCUE_PROTO : EBB_R_PASS_NOT_VIP;
}

static __always_inline void copy_addr6(__be32 *dst, const struct in6_addr *src)
{
	dst[0] = src->in6_u.u6_addr32[0];
	dst[1] = src->in6_u.u6_addr32[1];
	dst[2] = src->in6_u.u6_addr32[2];
	dst[3] = src->in6_u.u6_addr32[3];
}

static __always_inline int parse_icmp6(void *data, void *data_end, __u64 off, __u32 l4_len,
				       const struct in6_addr *outer_daddr, struct packet *pkt)
{
	struct icmp6hdr *icmp = data + off;
	struct ipv6hdr *inner;

	if (l4_len < sizeof(*icmp))
		return EBB_R_DROP_BAD_LENGTH;
	if ((void *)(icmp + 1) > data_end)
		return EBB_R_DROP_TRUNCATED;
	if (icmp->icmp6_type != ICMPV6_PKT_TOOBIG && icmp->icmp6_type != ICMPV6_DEST_UNREACH)
		return EBB_R_PASS_ICMP;
	inner = (void *)(icmp + 1);
	if ((void *)(inner + 1) > data_end)
		return EBB_R_DROP_BAD_ICMP;
	if (inner->version != 6 ||
	    (inner->nexthdr != IPPROTO_TCP && inner->nexthdr != IPPROTO_UDP))
		return EBB_R_DROP_BAD_ICMP;
	if ((inner->saddr.in6_u.u6_addr32[0] ^ outer_daddr->in6_u.u6_addr32[0]) |
	    (inner->saddr.in6_u.u6_addr32[1] ^ outer_daddr->in6_u.u6_addr32[1]) |
	    (inner->saddr.in6_u.u6_addr32[2] ^ outer_daddr->in6_u.u6_addr32[2]) |
	    (inner->saddr.in6_u.u6_addr32[3] ^ outer_daddr->in6_u.u6_addr32[3]))
		return EBB_R_DROP_ICMP_FOREIGN;
	pkt->key.proto = inner->nexthdr;
	copy_addr6(pkt->key.src, &inner->daddr);
	copy_addr6(pkt->key.dst, &inner->saddr);
	return quoted_ports(data, data_end, off + sizeof(*icmp) + sizeof(*inner),
			    sizeof(*icmp) + sizeof(*inner) + 4, l4_len, pkt);
}

static __always_inline int parse_ipv6(void *data, void *data_end, __u64 off, struct packet *pkt)
{
	struct ipv6hdr *ip6h = data + off;
	__u32 payload_len;
	__u8 nexthdr;

	if ((void *)(ip6h + 1) > data_end)
		return EBB_R_PASS_TRUNCATED;
	if (!maybe_vip_addr(ip6h->daddr.in6_u.u6_addr32, EBB_FAMILY_V6))
		return ip6h->nexthdr == EBB_RESCUE_PROTO ? EBB_PARSE_RESCUE_PROTO : EBB_R_PASS_NOT_VIP;
	pkt->key.family = EBB_FAMILY_V6;
	copy_addr6(pkt->key.dst, &ip6h->daddr);
	if (ip6h->version != 6)
		return EBB_R_DROP_BAD_VERSION;
	payload_len = bpf_ntohs(ip6h->payload_len);
	/* As for IPv4: padding may follow the packet, the packet may not overrun the frame. (A
	 * zero payload length announces a jumbogram, whose hop-by-hop option is dropped below.) */
	if (off + sizeof(*ip6h) + payload_len > (__u64)(data_end - data))
		return EBB_R_DROP_TRUNCATED;

	pkt->ip_len = payload_len + sizeof(*ip6h);
	copy_addr6(pkt->key.src, &ip6h->saddr);
	nexthdr = ip6h->nexthdr;
	pkt->key.proto = nexthdr;
	off += sizeof(*ip6h);
	switch (nexthdr) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		return parse_ports(data, data_end, off, payload_len, pkt);
	case IPV6_NH_ICMP:
		return parse_icmp6(data, data_end, off, payload_len, &ip6h->daddr, pkt);
	case IPV6_NH_FRAGMENT:
		return EBB_R_DROP_FRAGMENT;
	case IPV6_NH_HOP:
	case IPV6_NH_ROUTING:
	case IPV6_NH_DSTOPTS:
	case IPV6_NH_AUTH:
	case IPV6_NH_ESP:
	case IPV6_NH_MOBILITY:
		/* The ports sit behind a chain the fast path does not walk. */
		return EBB_R_DROP_IPV6_EXT;
	case EBB_RESCUE_PROTO:
		return EBB_PARSE_RESCUE_PROTO;
	default:
		return EBB_R_PASS_NOT_VIP;
	}
}

/* 1. parse: Ethernet (and one VLAN tag), then IPv4 or IPv6 down to the ports. */
static __always_inline int parse(struct xdp_md *ctx, struct packet *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 off = sizeof(*eth);
	__u16 h_proto;

	pkt->bytes = data_end - data;
	if ((void *)(eth + 1) > data_end)
		return EBB_R_PASS_TRUNCATED;
	h_proto = eth->h_proto;
	if (h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD)) {
		struct ebb_vlan_hdr *vh = data + off;

		if ((void *)(vh + 1) > data_end)
			return EBB_R_PASS_TRUNCATED;
		h_proto = vh->encapsulated_proto;
		off += sizeof(*vh);
	}
	pkt->l2_len = off;
	if (h_proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(data, data_end, off, pkt);
	if (h_proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(data, data_end, off, pkt);
	return EBB_R_PASS_NOT_IP;
}

#endif /* EBB_PARSING_H */
