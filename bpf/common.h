/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the datapath's steps share (bpf/balancer.bpf.c: parse -> classify -> lookup -> place ->
 * forward, and the decapsulator): protocol numbers vmlinux.h cannot carry (they are macros in
 * the kernel's uapi headers), the parsed packet each step reads and adds to, and small helpers.
 * Map keys and values are in include/ebb.h, the maps in maps.h.
 */
#ifndef EBB_COMMON_H
#define EBB_COMMON_H

#include "ebb.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

#define ICMP_DEST_UNREACH 3 /* carries "fragmentation needed" (code 4) */
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2

#define ICMP_FRAG_NEEDED 4
#define ICMP_TOO_BIG_QUOTE 64 /* bytes of the original packet an ICMP error quotes */
#define ICMPV6_TOO_BIG_QUOTE 128

#define IPV6_NH_HOP 0
#define IPV6_NH_ROUTING 43
#define IPV6_NH_FRAGMENT 44
#define IPV6_NH_ESP 50
#define IPV6_NH_AUTH 51
#define IPV6_NH_ICMP 58
#define IPV6_NH_DSTOPTS 60
#define IPV6_NH_MOBILITY 135

struct ebb_vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* A packet as the steps see it: parse fills the key and the facts below; the rest read them. */
struct packet {
	struct ebb_flow_key key;
	__u8 tcp_flags;
	bool icmp_error; /* an ICMP error about key's flow: steer it, never pin it */
	bool dont_fragment; /* IPv4 DF; IPv6 never fragments on the way */
	__u16 l2_len; /* Ethernet header and VLAN tag */
	__u16 ip_len; /* the IP packet as its header says (a frame may carry padding) */
	__u32 bytes; /* the frame's length, for the counters (32 bits: the balancer's state has no
		      * stack to spare, struct step_state) */
};

/* A SYN that is not also an ACK: the first packet of a TCP connection (or its retry). */
static __always_inline bool bare_syn(const struct packet *pkt)
{
	return (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* Counts a packet under `reason` in a per-CPU array of struct ebb_reason_counter (the
 * balancer's reasons, the decapsulator's decap_stats, the node program's node_stats) and
 * returns the verdict, so that a step can end with `return count_reason(...)`. */
static __always_inline int count_reason(void *map, __u32 reason, __u64 bytes, int verdict)
{
	struct ebb_reason_counter *c = bpf_map_lookup_elem(map, &reason);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
	return verdict;
}

static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The checksum of an option-less IPv4 header whose check field is 0. */
static __always_inline __u16 ipv4_csum(struct iphdr *iph)
{
	__u64 sum = 0;
	__u16 *words = (__u16 *)iph;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*iph) / 2); i++)
		sum += words[i];
	return csum_fold(sum);
}

#endif /* EBB_COMMON_H */
