/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `fwd ipip`: the packet is wrapped in an outer IPv4 (IPIP, or 6-in-4) or IPv6 (6-in-6, 4-in-6)
 * header toward the node, whose decapsulator unwraps it. A packet that would no longer fit the
 * egress MTU is answered, like a router would, with ICMP "fragmentation needed" (IPv4, DF set)
 * or ICMPv6 "packet too big", so that the client's path MTU discovery shrinks its packets.
 */
#ifndef EBB_ENCAP_H
#define EBB_ENCAP_H

#include "common.h"

#define OUTER_V4_LEN ((__u16)sizeof(struct iphdr))
#define OUTER_V6_LEN ((__u16)sizeof(struct ipv6hdr))

/* 14 or 18; the mask tells the verifier so, which it cannot learn from a value on the stack. */
static __always_inline __u16 l2_len_of(const struct packet *pkt)
{
	return pkt->l2_len & 0x1f;
}

/*
 * Grows the frame's head by `grow` bytes and moves the L2 header (14 or 18 bytes) to the new
 * start. Returns the new start, or NULL if the head cannot grow or the frame is too short.
 * keep_eth false: the caller writes the whole Ethernet header itself, so an untagged one is not
 * moved (a VLAN tag always is).
 */
static __always_inline void *grow_head(struct xdp_md *ctx, __u16 l2_len, __u16 grow, bool keep_eth,
					void **end)
{
	void *data, *data_end;

	if (bpf_xdp_adjust_head(ctx, -(int)grow))
		return NULL;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (l2_len == sizeof(struct ethhdr)) {
		if (data + sizeof(struct ethhdr) + grow > data_end)
			return NULL;
		if (keep_eth)
			__builtin_memmove(data, data + grow, sizeof(struct ethhdr));
	} else {
		if (data + sizeof(struct ethhdr) + sizeof(struct ebb_vlan_hdr) + grow > data_end)
			return NULL;
		__builtin_memmove(data, data + grow, sizeof(struct ethhdr) + sizeof(struct ebb_vlan_hdr));
	}
	*end = data_end;
	return data;
}

/* An ICMP error goes back the way the packet came. */
static __always_inline void swap_macs(struct ethhdr *eth)
{
	__u8 mac[6];

	__builtin_memcpy(mac, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, mac, 6);
}

/* The EtherType of the IP packet: the Ethernet header's, or the VLAN tag's inner one. Callers
 * have checked that the frame holds l2_len bytes. */
static __always_inline void set_ethertype(void *data, __u16 l2_len, __u16 proto)
{
	if (l2_len == sizeof(struct ethhdr))
		((struct ethhdr *)data)->h_proto = bpf_htons(proto);
	else
		((struct ebb_vlan_hdr *)(data + sizeof(struct ethhdr)))->encapsulated_proto =
			bpf_htons(proto);
}

static __always_inline bool encap_would_exceed(const struct packet *pkt, const struct ebb_node *node,
					       __u32 mtu)
{
	__u16 outer = node->family == EBB_FAMILY_V6 ? OUTER_V6_LEN : OUTER_V4_LEN;

	return mtu && (__u32)pkt->ip_len + outer > mtu;
}

/* The IP length of the ICMP too-big reply to pkt: header, ICMP header, a fixed-size quote. */
static __always_inline __u32 too_big_reply_ip_len(const struct packet *pkt)
{
	if (pkt->key.family == EBB_FAMILY_V6)
		return sizeof(struct ipv6hdr) + sizeof(struct icmp6hdr) + ICMPV6_TOO_BIG_QUOTE;
	return sizeof(struct iphdr) + sizeof(struct icmphdr) + ICMP_TOO_BIG_QUOTE;
}

/*
 * What follows the IP packet in the frame (Ethernet pads frames below 60 bytes, a sender may
 * leave junk) is cut off before the packet is wrapped: carried into the tunnel, it would be
 * bytes the outer length does not count, and would make the frame longer than the MTU its IP
 * length was checked against (a 54-byte packet padded to 1514 bytes left as a 1534-byte frame).
 * The parser has checked that the frame holds the IP packet, so an unpadded frame costs one
 * comparison. Moves the frame's end: packet pointers must be loaded again.
 */
static __always_inline int trim_to_ip_packet(struct xdp_md *ctx, const struct packet *pkt)
{
	__u64 end = (__u64)l2_len_of(pkt) + pkt->ip_len;

	if (pkt->bytes == end)
		return 0;
	return bpf_xdp_adjust_tail(ctx, (int)end - (int)pkt->bytes);
}

/* Prepends the outer header. The inner packet, checksums included, is left as it came: the
 * caller has cut the frame to it (trim_to_ip_packet). */
static __always_inline int encap_ipip(struct xdp_md *ctx, const struct packet *pkt,
				      const struct ebb_node *node, const struct ebb_vip *vip)
{
	__u8 inner_proto = pkt->key.family == EBB_FAMILY_V6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	__u16 l2_len = l2_len_of(pkt);
	void *data, *data_end;

	if (node->family == EBB_FAMILY_V6) {
		struct ipv6hdr *outer;

		data = grow_head(ctx, l2_len, OUTER_V6_LEN, false, &data_end);
		if (!data)
			return -1;
		outer = data + l2_len;
		if ((void *)(outer + 1) > data_end)
			return -1;
		set_ethertype(data, l2_len, ETH_P_IPV6);
		*(__be32 *)outer = bpf_htonl(0x60000000 | (ebb_flow_hash(&pkt->key) & 0xfffff));
		outer->payload_len = bpf_htons(pkt->ip_len);
		outer->nexthdr = inner_proto;
		outer->hop_limit = 64;
		__builtin_memcpy(&outer->saddr, vip->encap_src6, 16);
		__builtin_memcpy(&outer->daddr, node->addr, 16);
		return 0;
	}

	struct iphdr *outer;

	data = grow_head(ctx, l2_len, OUTER_V4_LEN, false, &data_end);
	if (!data)
		return -1;
	outer = data + l2_len;
	if ((void *)(outer + 1) > data_end)
		return -1;
	set_ethertype(data, l2_len, ETH_P_IP);
	__be32 saddr = vip->encap_src4, daddr = node->addr[0];
	__u16 tot_len = pkt->ip_len + OUTER_V4_LEN;
	/* The checksum from the values, not read back from the header: all but the length and
	 * the addresses are constants (0x4500, id 0, DF, TTL 64 and the protocol). */
	__u32 sum = 0x4500 + IP_DF + (64 << 8 | inner_proto) + tot_len +
		    (bpf_ntohl(saddr) >> 16) + (bpf_ntohl(saddr) & 0xffff) +
		    (bpf_ntohl(daddr) >> 16) + (bpf_ntohl(daddr) & 0xffff);
	__be32 *w = (__be32 *)outer;

	/* Five word stores: version 4, IHL 5, TOS 0 | total length; id 0 | DF; TTL 64 | protocol
	 * | checksum; source; destination. */
	w[0] = bpf_htonl(0x45000000 | tot_len);
	w[1] = bpf_htonl(IP_DF);
	w[2] = bpf_htonl(64 << 24 | (__u32)inner_proto << 16 | csum_fold(sum));
	w[3] = saddr;
	w[4] = daddr;
	return 0;
}

/*
 * Turns the frame into an ICMP error back to the client, in place: truncate to the quote,
 * prepend IP + ICMP headers, swap the MACs. `mtu` is the largest inner packet that fits.
 */
static __always_inline int reply_too_big4(struct xdp_md *ctx, const struct packet *pkt, __u16 mtu)
{
	const __u16 grow = sizeof(struct iphdr) + sizeof(struct icmphdr);
	__u16 l2_len = l2_len_of(pkt);
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip, *orig;
	struct icmphdr *icmp;
	__be32 client, vip_addr;
	__s64 sum;

	orig = data + l2_len;
	if ((void *)(orig + 1) > data_end)
		return -1;
	client = orig->saddr;
	vip_addr = orig->daddr;
	if (bpf_xdp_adjust_tail(ctx, (int)(l2_len + ICMP_TOO_BIG_QUOTE) - (int)(data_end - data)))
		return -1;
	data = grow_head(ctx, l2_len, grow, true, &data_end);
	if (!data)
		return -1;
	ip = data + l2_len;
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 1) + ICMP_TOO_BIG_QUOTE > data_end)
		return -1;
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(grow + ICMP_TOO_BIG_QUOTE);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = 64;
	ip->protocol = IPPROTO_ICMP;
	ip->check = 0;
	ip->saddr = vip_addr;
	ip->daddr = client;
	ip->check = ipv4_csum(ip);
	icmp->type = ICMP_DEST_UNREACH;
	icmp->code = ICMP_FRAG_NEEDED;
	icmp->checksum = 0;
	icmp->un.frag.__unused = 0;
	icmp->un.frag.mtu = bpf_htons(mtu);
	sum = bpf_csum_diff(NULL, 0, (__be32 *)icmp, sizeof(*icmp) + ICMP_TOO_BIG_QUOTE, 0);
	if (sum < 0)
		return -1;
	icmp->checksum = csum_fold(sum);
	set_ethertype(data, l2_len, ETH_P_IP);
	swap_macs(data);
	return 0;
}

struct icmp6_pseudo {
	struct in6_addr saddr;
	struct in6_addr daddr;
	__be32 len;
	__u8 zero[3];
	__u8 nexthdr;
};

static __always_inline int reply_too_big6(struct xdp_md *ctx, const struct packet *pkt, __u32 mtu)
{
	const __u16 grow = sizeof(struct ipv6hdr) + sizeof(struct icmp6hdr);
	__u16 l2_len = l2_len_of(pkt);
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct icmp6_pseudo pseudo = {};
	struct ipv6hdr *ip, *orig;
	struct icmp6hdr *icmp;
	__s64 sum;

	orig = data + l2_len;
	if ((void *)(orig + 1) > data_end)
		return -1;
	pseudo.saddr = orig->daddr;
	pseudo.daddr = orig->saddr;
	pseudo.len = bpf_htonl(sizeof(struct icmp6hdr) + ICMPV6_TOO_BIG_QUOTE);
	pseudo.nexthdr = IPV6_NH_ICMP;
	if (bpf_xdp_adjust_tail(ctx, (int)(l2_len + ICMPV6_TOO_BIG_QUOTE) - (int)(data_end - data)))
		return -1;
	data = grow_head(ctx, l2_len, grow, true, &data_end);
	if (!data)
		return -1;
	ip = data + l2_len;
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 1) + ICMPV6_TOO_BIG_QUOTE > data_end)
		return -1;
	*(__be32 *)ip = bpf_htonl(0x60000000);
	ip->payload_len = bpf_htons(sizeof(*icmp) + ICMPV6_TOO_BIG_QUOTE);
	ip->nexthdr = IPV6_NH_ICMP;
	ip->hop_limit = 64;
	ip->saddr = pseudo.saddr;
	ip->daddr = pseudo.daddr;
	icmp->icmp6_type = ICMPV6_PKT_TOOBIG;
	icmp->icmp6_code = 0;
	icmp->icmp6_cksum = 0;
	icmp->icmp6_dataun.un_data32[0] = bpf_htonl(mtu);
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&pseudo, sizeof(pseudo), 0);
	if (sum < 0)
		return -1;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)icmp, sizeof(*icmp) + ICMPV6_TOO_BIG_QUOTE, sum);
	if (sum < 0)
		return -1;
	icmp->icmp6_cksum = csum_fold(sum);
	set_ethertype(data, l2_len, ETH_P_IPV6);
	swap_macs(data);
	return 0;
}

#endif /* EBB_ENCAP_H */
