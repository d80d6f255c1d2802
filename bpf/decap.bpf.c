// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebb's decapsulator, for backends of `fwd ipip` VIPs whose kernel has no tunnel device (this
 * one has no ipip, ip6_tunnel, GRE or FOU). On the node's ingress device: an IPIP, 6-in-4,
 * 4-in-6 or 6-in-6 packet whose inner destination is one of this node's VIP prefixes loses
 * its outer header (and whatever followed the outer packet in the frame) and goes to the stack
 * as the client sent it. Everything else passes as it came; a tunnel packet too broken to
 * unwrap is dropped and counted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"
#include "ebb.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__type(key, struct ebb_decap_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} decap_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EBB_D_MAX);
	__type(key, __u32);
	__type(value, struct ebb_reason_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} decap_stats SEC(".maps");

struct vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

static __always_inline int done(__u32 reason, __u64 bytes, int verdict)
{
	return count_reason(&decap_stats, reason, bytes, verdict);
}

/* Whether the inner packet at `inner` (of the given tunnel protocol) is for one of our VIPs. */
static __always_inline int inner_reason(void *inner, void *data_end, __u8 proto)
{
	struct ebb_decap_key key = {};

	if (proto == IPPROTO_IPIP) {
		struct iphdr *ip = inner;

		if ((void *)(ip + 1) > data_end)
			return EBB_D_DROP_TRUNCATED;
		if (ip->version != 4)
			return EBB_D_DROP_BAD_INNER;
		key.prefixlen = 32 + 32;
		key.family = EBB_FAMILY_V4;
		key.addr[0] = ip->daddr;
	} else {
		struct ipv6hdr *ip6 = inner;

		if ((void *)(ip6 + 1) > data_end)
			return EBB_D_DROP_TRUNCATED;
		if (ip6->version != 6)
			return EBB_D_DROP_BAD_INNER;
		key.prefixlen = 32 + 128;
		key.family = EBB_FAMILY_V6;
		__builtin_memcpy(key.addr, &ip6->daddr, 16);
	}
	return bpf_map_lookup_elem(&decap_prefixes, &key) ? EBB_D_DECAPSULATED : EBB_D_PASS_NOT_VIP;
}

/*
 * Hands the packet that follows the L2 header and `strip` more bytes to the stack: the L2 header
 * (l2_len: 14, or 18 with its VLAN tag) stays, with the EtherType of inner_proto's family;
 * whatever follows `end` (where the outer packet ends, by its length field) is cut. What
 * follows the outer packet in the frame (padding, junk) is no part of it, so none of the inner
 * packet either. The kernel cuts a packet to its IP length before a tunnel handler sees it;
 * unwrapped here without that cut, the bytes would follow the inner packet, and an inner length
 * running past the outer packet's end would take them for data. An outer length past the
 * frame's end is left alone: the inner packet is cut short then, and the stack judges its
 * length (as for any cut inner L4). The caller has checked that the frame holds the L2 header
 * at `data`. Returns 0, or -1 if the frame could not be cut or moved.
 */
static __always_inline int unwrap(struct xdp_md *ctx, void *data, __u32 l2_len, __u32 strip,
				  __u32 end, __u64 bytes, __u8 inner_proto)
{
	__u8 l2[sizeof(struct ethhdr) + sizeof(struct vlan_tag)];
	__be16 type = bpf_htons(inner_proto == IPPROTO_IPIP ? ETH_P_IP : ETH_P_IPV6);
	void *data_end;

	if (l2_len == sizeof(struct ethhdr)) {
		__builtin_memcpy(l2, data, sizeof(struct ethhdr));
		((struct ethhdr *)l2)->h_proto = type;
	} else {
		__builtin_memcpy(l2, data, sizeof(l2));
		((struct vlan_tag *)(l2 + sizeof(struct ethhdr)))->encapsulated_proto = type;
	}
	if (end < bytes && bpf_xdp_adjust_tail(ctx, (int)end - (int)bytes))
		return -1;
	if (bpf_xdp_adjust_head(ctx, (int)strip))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (l2_len == sizeof(struct ethhdr)) {
		if (data + sizeof(struct ethhdr) > data_end)
			return -1;
		__builtin_memcpy(data, l2, sizeof(struct ethhdr));
	} else {
		if (data + sizeof(l2) > data_end)
			return -1;
		__builtin_memcpy(data, l2, sizeof(l2));
	}
	return 0;
}

/* The whole decapsulator, a function so that the node program (bpf/node.bpf.c, which includes
 * this file) hands it every packet that is not a rescue and behaves exactly as it does. */
static __always_inline int decap_frame(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	struct ethhdr *eth = data;
	__u16 h_proto, l2_len = sizeof(*eth), outer_len;
	__u32 outer_end; /* where the outer packet ends in the frame, by its length field */
	__u8 proto;
	int reason;

	if ((void *)(eth + 1) > data_end)
		return done(EBB_D_PASS_NOT_TUNNEL, bytes, XDP_PASS);
	h_proto = eth->h_proto;
	if (h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_tag *tag = (void *)(eth + 1);

		if ((void *)(tag + 1) > data_end)
			return done(EBB_D_PASS_NOT_TUNNEL, bytes, XDP_PASS);
		h_proto = tag->encapsulated_proto;
		l2_len += sizeof(*tag);
	}

	if (h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *outer = data + l2_len;

		if ((void *)(outer + 1) > data_end)
			return done(EBB_D_PASS_NOT_TUNNEL, bytes, XDP_PASS);
		proto = outer->protocol;
		if (proto != IPPROTO_IPIP && proto != IPPROTO_IPV6)
			return done(EBB_D_PASS_NOT_TUNNEL, bytes, XDP_PASS);
		/* ebb never sends options or fragments; such a tunnel packet is not ebb's. */
		if (outer->ihl != 5 || (outer->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
			return done(EBB_D_DROP_BAD_OUTER, bytes, XDP_DROP);
		outer_len = sizeof(*outer);
		outer_end = l2_len + bpf_ntohs(outer->tot_len);
	} else if (h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *outer = data + l2_len;

		if ((void *)(outer + 1) > data_end)
			return done(EBB_D_PASS_NOT_TUNNEL, bytes, XDP_PASS);
		proto = outer->nexthdr;
		if (proto != IPPROTO_IPIP && proto != IPPROTO_IPV6)
			return done(EBB_D_PASS_NOT_TUNNEL, bytes, XDP_PASS);
		outer_len = sizeof(*outer);
		outer_end = l2_len + sizeof(*outer) + bpf_ntohs(outer->payload_len);
	} else {
		return done(EBB_D_PASS_NOT_TUNNEL, bytes, XDP_PASS);
	}

	reason = inner_reason(data + l2_len + outer_len, data_end, proto);
	if (reason == EBB_D_PASS_NOT_VIP)
		return done(reason, bytes, XDP_PASS);
	if (reason != EBB_D_DECAPSULATED)
		return done(reason, bytes, XDP_DROP);
	/* An outer packet that ends inside the inner header holds no whole inner header. */
	if (outer_end < l2_len + outer_len + (proto == IPPROTO_IPIP ? sizeof(struct iphdr) :
									 sizeof(struct ipv6hdr)))
		return done(EBB_D_DROP_TRUNCATED, bytes, XDP_DROP);

	/* Keep the L2 header (with its VLAN tag), drop the outer IP header. */
	if (unwrap(ctx, data, l2_len, outer_len, outer_end, bytes, proto))
		return done(EBB_D_DROP_TRUNCATED, bytes, XDP_DROP);
	return done(EBB_D_DECAPSULATED, bytes, XDP_PASS);
}

#ifndef EBB_NODE_PROG
SEC("xdp")
int ebb_decap(struct xdp_md *ctx)
{
	return decap_frame(ctx);
}
#endif
