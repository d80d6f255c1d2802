// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the decapsulator (bpf/decap.bpf.c) through BPF_PROG_TEST_RUN, on the real
 * program loaded from its skeleton: a table of cases, each an input frame built by
 * tests/unit/packets.h (a tunnel frame: eth + outer IPv4/IPv6 + the client's packet, or a plain
 * one), the verdict, the output bytes and the decap_stats counter that must move.
 *
 * Expectations are built independently of the program: a decapsulated frame must be exactly
 * the frame packets.h builds for the inner packet alone, addressed like the tunnel frame
 * (eth dst = this node, eth src = the balancer, same VLAN tag, EtherType of the inner family);
 * anything passed or dropped must come out as it went in.
 *
 * The maps are declared pinned by name; every pin path is cleared before load, so the test
 * pins nothing anywhere and never touches a running decapsulator's maps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "decap.skel.h"
#include "ebb.h"
#include "libebb.h"
#include "packets.h"
#include "test.h"
#include "fixture.h"

/* ---- the configuration under test (documentation addresses only) ---- */
static const uint8_t NODE_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x11 }; /* this backend */
static const uint8_t LB_MAC[6] = { 0x02, 0xeb, 0xb0, 0x00, 0x00, 0x01 }; /* the balancer */

/* The VIP prefixes, and one VIP of each family on its own (a host prefix: the whole address
 * must be looked up, not just a /24 or /64 of it). */
static const char *const prefixes[] = { "203.0.113.0/24", "2001:db8:100::/64", "198.51.100.77/32",
					"2001:db8:300::77/128" };
#define N_PREFIXES (sizeof(prefixes) / sizeof(prefixes[0]))

#define VIP4 "203.0.113.10"
#define VIP4B "203.0.113.255" /* the prefix's last address */
#define VIP6 "2001:db8:100::10"
#define VIP6B "2001:db8:100::ffff:ffff:ffff:ffff" /* the prefix's last address */
#define OUT4 "203.0.114.10" /* just past the /24 */
#define OUT4B "203.0.112.255" /* just before it */
#define OUT6 "2001:db8:100:1::10" /* just past the /64 */
#define OUT6V4 "cb00:710a::" /* 203.0.113.10's bits, but IPv6: the family tells them apart */
#define HOST4 "198.51.100.77"
#define HOST4_NEXT "198.51.100.76"
#define HOST6 "2001:db8:300::77"
#define HOST6_NEXT "2001:db8:300::76"
#define CLI4 "198.51.100.200"
#define CLI6 "2001:db8:1::100"
#define LB4 "192.0.2.1" /* the balancer's outer source */
#define LB6 "2001:db8:eb::1"
#define NODE4 "198.51.100.11" /* this backend's outer destination */
#define NODE6 "2001:db8:200::1"

#define IP4_DF 0x4000
#define IPPROTO_GRE_ 47

static struct decap_bpf *skel;
static int prog_fd = -1, stats_fd = -1, prefixes_fd = -1;

/* ---- helpers ---- */
static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void snap(struct ebb_reason_counter *s)
{
	for (__u32 r = 0; r < EBB_D_MAX; r++)
		if (percpu_reason_sum(stats_fd, r, &s[r]))
			printf("#   cannot read decap_stats[%u]\n", r);
}

/* ---- the case table ---- */
enum { CUT_NONE, CUT_L2, CUT_OUTER, CUT_INNER }; /* keep `keep` bytes from that layer's start */

struct dcase {
	const char *name;
	struct outer_desc outer; /* .family 0: no tunnel, the plain frame of pkt */
	struct pkt_desc pkt; /* the client's packet (its .vlan: the frame's tag) */
	int cut, keep;
	int inner_version; /* > 0: the inner header's version nibble is overwritten with it */
	int outer_delta; /* added to the outer length field (IPv4 checksum kept right) */
	int trail; /* junk bytes after the tunnel packet, in the frame */
	int verdict, reason;
};

/* What the decapsulator must hand the stack: the client's packet, framed as it came. */
static size_t expected_decap(const struct dcase *c, uint8_t *want)
{
	size_t len = build_frame(&c->pkt, NODE_MAC, LB_MAC, want).len;
	size_t l3 = c->pkt.vlan ? 18 : 14;

	if (c->inner_version)
		want[l3] = (uint8_t)(c->inner_version << 4 | (want[l3] & 0x0f));
	return len;
}

static void run_case(const struct dcase *c)
{
	uint8_t in[BUF_MAX], out[BUF_MAX + 256], want[BUF_MAX];
	struct ebb_reason_counter b[EBB_D_MAX], a[EBB_D_MAX];
	const char *n = c->name;
	size_t len, full, want_len, out_len = 0, l2 = 0, inner = 0;
	__u32 verdict = ~0u;
	int err;

	if (c->outer.family) {
		struct tun_layout lay = build_tunnel_frame(&c->outer, &c->pkt, NODE_MAC, LB_MAC, in);

		full = lay.len;
		l2 = lay.outer;
		inner = lay.inner;
	} else {
		struct pkt_layout lay = build_frame(&c->pkt, NODE_MAC, LB_MAC, in);

		full = lay.len;
		l2 = lay.l3;
		inner = lay.l3;
	}
	if (c->inner_version)
		in[inner] = (uint8_t)(c->inner_version << 4 | (in[inner] & 0x0f));
	if (c->outer_delta) {
		uint8_t *o = in + l2;

		if (c->outer.family == 4) {
			put16(o + 2, (uint16_t)(rd16(o + 2) + c->outer_delta));
			put16(o + 10, 0);
			put16(o + 10, csum_fold(csum_add(0, o, 20)));
		} else {
			put16(o + 4, (uint16_t)(rd16(o + 4) + c->outer_delta));
		}
	}
	for (int i = 0; i < c->trail; i++)
		in[full + i] = (uint8_t)(0xa5 ^ i);
	full += c->trail;
	len = full;
	if (c->cut == CUT_L2)
		len = c->keep;
	else if (c->cut == CUT_OUTER)
		len = l2 + c->keep;
	else if (c->cut == CUT_INNER)
		len = inner + c->keep;
	if (len > full)
		abort(); /* a typo in the table */

	if (c->verdict == XDP_PASS && c->reason == EBB_D_DECAPSULATED) {
		want_len = expected_decap(c, want);
		if (c->cut == CUT_INNER) /* what there was of the inner packet, no more */
			want_len = want_len - (full - inner) + c->keep;
		if (c->outer_delta < 0) /* the inner packet as far as the outer length goes */
			want_len += c->outer_delta;
	} else {
		memcpy(want, in, len);
		want_len = len;
	}

	snap(b);
	err = prog_run(prog_fd, in, len, out, sizeof(out), &out_len, &verdict);
	snap(a);
	if (!check_run(n, err, verdict, c->verdict))
		return;
	if (ASSERT_EQ(out_len, want_len, nm(n, "output length %zu", want_len)))
		ASSERT_MEM_EQ(out, want, want_len,
			      nm(n, c->reason == EBB_D_DECAPSULATED ?
					    "output = the client's packet, framed as the tunnel came" :
					    "output = input, untouched"));
	check_one_reason(n, "decap_stats", ebb_decap_reason_name, b, a, EBB_D_MAX, c->reason, len);
}

/* The outer headers ebb sends: IPv4 with DF, id 0, TTL 64; IPv6 with a flow label. */
#define O4(p) { .family = 4, .src = LB4, .dst = NODE4, .proto = p, .frag = IP4_DF }
#define O6(p) { .family = 6, .src = LB6, .dst = NODE6, .proto = p, .flow_label = 0xabcde }
#define O4X(p, ...) { .family = 4, .src = LB4, .dst = NODE4, .proto = p, __VA_ARGS__ }

#define DECAP XDP_PASS, .reason = EBB_D_DECAPSULATED
#define NOT_VIP XDP_PASS, .reason = EBB_D_PASS_NOT_VIP
#define NOT_TUNNEL XDP_PASS, .reason = EBB_D_PASS_NOT_TUNNEL
#define BAD_OUTER XDP_DROP, .reason = EBB_D_DROP_BAD_OUTER
#define BAD_INNER XDP_DROP, .reason = EBB_D_DROP_BAD_INNER

static const struct dcase cases[] = {
	/* ---- tunnels to a VIP: unwrapped, the client's packet as it was sent ---- */
	{ .name = "IPIP: TCP SYN to a VIP", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40000, VIP4, 80, TH_SYN) }, .verdict = DECAP },
	{ .name = "IPIP: TCP ACK with 1000 bytes of data", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40000, VIP4, 80, TH_ACK | TH_PSH), .payload = 1000, .frag = IP4_DF },
	  .verdict = DECAP },
	{ .name = "IPIP: UDP to the prefix's last address", .outer = O4(IPPROTO_IPIP),
	  .pkt = { UDP4(CLI4, 5353, VIP4B, 53) }, .verdict = DECAP },
	{ .name = "IPIP: ICMP echo to a VIP", .outer = O4(IPPROTO_IPIP),
	  .pkt = { .family = 4, .src = CLI4, .dst = VIP4, .proto = IPPROTO_ICMP, .icmp_type = 8,
		   .payload = 32 },
	  .verdict = DECAP },
	{ .name = "IPIP: inner IPv4 options (ihl=7) kept", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40001, VIP4, 80, TH_SYN), .ihl = 7 }, .verdict = DECAP },
	{ .name = "IPIP: outer without DF", .outer = O4X(IPPROTO_IPIP, .frag = 0, .id = 0x1234),
	  .pkt = { TCP4(CLI4, 40002, VIP4, 80, TH_SYN) }, .verdict = DECAP },
	{ .name = "6-in-6: TCP SYN to a VIP", .outer = O6(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40000, VIP6, 80, TH_SYN) }, .verdict = DECAP },
	{ .name = "6-in-6: TCP ACK with 1000 bytes of data", .outer = O6(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40000, VIP6, 80, TH_ACK), .payload = 1000 }, .verdict = DECAP },
	{ .name = "6-in-6: UDP to the prefix's last address", .outer = O6(IPPROTO_IPV6),
	  .pkt = { UDP6(CLI6, 5353, VIP6B, 53) }, .verdict = DECAP },
	{ .name = "4-in-6: TCP SYN to a VIP", .outer = O6(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40003, VIP4, 80, TH_SYN) }, .verdict = DECAP },
	{ .name = "4-in-6: UDP to a VIP", .outer = O6(IPPROTO_IPIP),
	  .pkt = { UDP4(CLI4, 5353, VIP4, 53) }, .verdict = DECAP },
	{ .name = "6-in-4: TCP SYN to a VIP", .outer = O4(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40003, VIP6, 80, TH_SYN) }, .verdict = DECAP },
	{ .name = "6-in-4: UDP to a VIP", .outer = O4(IPPROTO_IPV6),
	  .pkt = { UDP6(CLI6, 5353, VIP6, 53) }, .verdict = DECAP },

	/* ---- VLAN: the tag stays, its inner EtherType becomes the inner packet's ---- */
	{ .name = "802.1Q VLAN 100 IPIP keeps its tag", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40010, VIP4, 80, TH_SYN), .vlan = 100 }, .verdict = DECAP },
	{ .name = "802.1Q VLAN 4094 6-in-6 keeps its tag", .outer = O6(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40010, VIP6, 80, TH_SYN), .vlan = 4094 }, .verdict = DECAP },
	{ .name = "802.1Q VLAN 7 4-in-6: tag kept, inner EtherType IPv4", .outer = O6(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40011, VIP4, 80, TH_SYN), .vlan = 7 }, .verdict = DECAP },
	{ .name = "802.1Q VLAN 7 6-in-4: tag kept, inner EtherType IPv6", .outer = O4(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40011, VIP6, 80, TH_SYN), .vlan = 7 }, .verdict = DECAP },

	/* ---- tunnels to an address that is no VIP of this node: passed as they came ---- */
	{ .name = "IPIP to an address just past the /24", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40020, OUT4, 80, TH_SYN) }, .verdict = NOT_VIP },
	{ .name = "IPIP to an address just before the /24", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40020, OUT4B, 80, TH_SYN) }, .verdict = NOT_VIP },
	{ .name = "6-in-6 to an address just past the /64", .outer = O6(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40020, OUT6, 80, TH_SYN) }, .verdict = NOT_VIP },
	{ .name = "4-in-6 to a non-VIP", .outer = O6(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40020, CLI4, 80, TH_SYN) }, .verdict = NOT_VIP },
	{ .name = "6-in-4 to an IPv6 address with the IPv4 prefix's bits", .outer = O4(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40020, OUT6V4, 80, TH_SYN) }, .verdict = NOT_VIP },
	{ .name = "IPIP to a host prefix (/32)", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40021, HOST4, 80, TH_SYN) }, .verdict = DECAP },
	{ .name = "IPIP to the address next to a host prefix", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40021, HOST4_NEXT, 80, TH_SYN) }, .verdict = NOT_VIP },
	{ .name = "6-in-6 to a host prefix (/128)", .outer = O6(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40021, HOST6, 80, TH_SYN) }, .verdict = DECAP },
	{ .name = "6-in-6 to the address next to a host prefix", .outer = O6(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40021, HOST6_NEXT, 80, TH_SYN) }, .verdict = NOT_VIP },
	{ .name = "VLAN 100 IPIP to a non-VIP", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40020, OUT4, 80, TH_SYN), .vlan = 100 }, .verdict = NOT_VIP },

	/* ---- not a tunnel: passed as it came ---- */
	{ .name = "plain TCP SYN to a VIP", .pkt = { TCP4(CLI4, 40030, VIP4, 80, TH_SYN) },
	  .verdict = NOT_TUNNEL },
	{ .name = "plain UDP to a VIP", .pkt = { UDP4(CLI4, 40030, VIP4, 53) }, .verdict = NOT_TUNNEL },
	{ .name = "plain IPv6 TCP SYN to a VIP", .pkt = { TCP6(CLI6, 40030, VIP6, 80, TH_SYN) },
	  .verdict = NOT_TUNNEL },
	{ .name = "plain IPv6 UDP to a VIP", .pkt = { UDP6(CLI6, 40030, VIP6, 53) },
	  .verdict = NOT_TUNNEL },
	{ .name = "plain ICMP echo to a VIP",
	  .pkt = { .family = 4, .src = CLI4, .dst = VIP4, .proto = IPPROTO_ICMP, .icmp_type = 8 },
	  .verdict = NOT_TUNNEL },
	{ .name = "plain TCP SYN, VLAN 100", .pkt = { TCP4(CLI4, 40030, VIP4, 80, TH_SYN), .vlan = 100 },
	  .verdict = NOT_TUNNEL },
	{ .name = "ARP who-has", .pkt = { .ethertype = ETHERTYPE_ARP, .src = CLI4, .dst = NODE4 },
	  .verdict = NOT_TUNNEL },
	{ .name = "IPv4 GRE (proto 47) carrying an IPv4 packet", .outer = O4(IPPROTO_GRE_),
	  .pkt = { TCP4(CLI4, 40031, VIP4, 80, TH_SYN) }, .verdict = NOT_TUNNEL },
	{ .name = "IPv6 next header 47 carrying an IPv4 packet", .outer = O6(IPPROTO_GRE_),
	  .pkt = { TCP4(CLI4, 40031, VIP4, 80, TH_SYN) }, .verdict = NOT_TUNNEL },
	{ .name = "IPv4 with options (ihl=6) carrying UDP: not a tunnel, options or not",
	  .outer = O4X(IPPROTO_UDP, .ihl = 6),
	  .pkt = { TCP4(CLI4, 40032, VIP4, 80, TH_SYN) }, .verdict = NOT_TUNNEL },

	/* ---- outer headers ebb never sends ---- */
	{ .name = "IPIP outer ihl=6 (options)", .outer = O4X(IPPROTO_IPIP, .ihl = 6),
	  .pkt = { TCP4(CLI4, 40040, VIP4, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "IPIP outer ihl=15 (options)", .outer = O4X(IPPROTO_IPIP, .ihl = 15),
	  .pkt = { TCP4(CLI4, 40040, VIP4, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "IPIP outer ihl=4", .outer = O4X(IPPROTO_IPIP, .ihl = 4),
	  .pkt = { TCP4(CLI4, 40040, VIP4, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "IPIP outer ihl=1", .outer = O4X(IPPROTO_IPIP, .ihl = 1),
	  .pkt = { TCP4(CLI4, 40040, VIP4, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "IPIP outer first fragment (MF)", .outer = O4X(IPPROTO_IPIP, .frag = IP4_MF),
	  .pkt = { TCP4(CLI4, 40040, VIP4, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "IPIP outer later fragment (offset 1)", .outer = O4X(IPPROTO_IPIP, .frag = 1),
	  .pkt = { TCP4(CLI4, 40040, VIP4, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "IPIP outer last fragment (offset 0x1fff)",
	  .outer = O4X(IPPROTO_IPIP, .frag = 0x1fff),
	  .pkt = { TCP4(CLI4, 40040, VIP4, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "IPIP outer middle fragment (MF, offset 185)",
	  .outer = O4X(IPPROTO_IPIP, .frag = IP4_MF | 185),
	  .pkt = { TCP4(CLI4, 40040, VIP4, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "IPIP outer DF and offset 8", .outer = O4X(IPPROTO_IPIP, .frag = IP4_DF | 8),
	  .pkt = { TCP4(CLI4, 40040, VIP4, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "6-in-4 outer ihl=6 (options)", .outer = O4X(IPPROTO_IPV6, .ihl = 6),
	  .pkt = { TCP6(CLI6, 40040, VIP6, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "6-in-4 outer first fragment (MF)", .outer = O4X(IPPROTO_IPV6, .frag = IP4_MF),
	  .pkt = { TCP6(CLI6, 40040, VIP6, 80, TH_SYN) }, .verdict = BAD_OUTER },
	{ .name = "IPIP outer ihl=6 to a non-VIP (the outer is judged first)",
	  .outer = O4X(IPPROTO_IPIP, .ihl = 6),
	  .pkt = { TCP4(CLI4, 40040, OUT4, 80, TH_SYN) }, .verdict = BAD_OUTER },

	/* ---- the outer length, not the frame, says where the packet ends: bytes after it
	 * (padding, junk) are not handed to the stack as part of the inner packet (on the old
	 * code they were: an inner length running past the outer packet took them for data) ---- */
	{ .name = "IPIP: 30 junk bytes after the tunnel packet are cut off", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40070, VIP4, 80, TH_SYN) }, .trail = 30, .verdict = DECAP },
	{ .name = "6-in-6: 30 junk bytes after the tunnel packet are cut off",
	  .outer = O6(IPPROTO_IPV6), .pkt = { TCP6(CLI6, 40070, VIP6, 80, TH_SYN) }, .trail = 30,
	  .verdict = DECAP },
	{ .name = "4-in-6: 1000 junk bytes after the tunnel packet are cut off",
	  .outer = O6(IPPROTO_IPIP), .pkt = { UDP4(CLI4, 5353, VIP4, 53) }, .trail = 1000,
	  .verdict = DECAP },
	{ .name = "6-in-4: 1 junk byte after the tunnel packet is cut off", .outer = O4(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40070, VIP6, 80, TH_SYN) }, .trail = 1, .verdict = DECAP },
	{ .name = "802.1Q VLAN 100 IPIP: 8 junk bytes after the tunnel packet are cut off",
	  .outer = O4(IPPROTO_IPIP), .pkt = { TCP4(CLI4, 40071, VIP4, 80, TH_SYN), .vlan = 100 },
	  .trail = 8, .verdict = DECAP },
	{ .name = "IPIP: outer length 10 short of the inner packet: the inner cut at the outer's end",
	  .outer = O4(IPPROTO_IPIP), .pkt = { TCP4(CLI4, 40072, VIP4, 80, TH_ACK), .payload = 100 },
	  .outer_delta = -10, .verdict = DECAP },
	{ .name = "6-in-6: outer length 10 short of the inner packet, 10 junk bytes: the inner cut at the outer's end",
	  .outer = O6(IPPROTO_IPV6), .pkt = { TCP6(CLI6, 40072, VIP6, 80, TH_ACK), .payload = 100 },
	  .outer_delta = -10, .trail = 10, .verdict = DECAP },
	{ .name = "IPIP: outer length ends inside the inner header: dropped",
	  .outer = O4(IPPROTO_IPIP), .pkt = { TCP4(CLI4, 40073, VIP4, 80, TH_SYN) },
	  .outer_delta = -30, .verdict = XDP_DROP, .reason = EBB_D_DROP_TRUNCATED },
	{ .name = "IPIP: outer length 0: dropped", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40073, VIP4, 80, TH_SYN) }, .outer_delta = -60, .verdict = XDP_DROP,
	  .reason = EBB_D_DROP_TRUNCATED },
	{ .name = "6-in-6: outer payload length ends inside the inner header: dropped",
	  .outer = O6(IPPROTO_IPV6), .pkt = { TCP6(CLI6, 40073, VIP6, 80, TH_SYN) },
	  .outer_delta = -21, .verdict = XDP_DROP, .reason = EBB_D_DROP_TRUNCATED },
	{ .name = "4-in-6: outer payload length 0: dropped", .outer = O6(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40073, VIP4, 80, TH_SYN) }, .outer_delta = -40, .verdict = XDP_DROP,
	  .reason = EBB_D_DROP_TRUNCATED },
	{ .name = "IPIP: outer length 10 past the frame: unwrapped as it is (the stack judges the inner length)",
	  .outer = O4(IPPROTO_IPIP), .pkt = { TCP4(CLI4, 40074, VIP4, 80, TH_SYN) },
	  .outer_delta = 10, .verdict = DECAP },
	{ .name = "IPIP to a non-VIP with junk after it: passed as it came",
	  .outer = O4(IPPROTO_IPIP), .pkt = { TCP4(CLI4, 40075, OUT4, 80, TH_SYN) }, .trail = 30,
	  .verdict = NOT_VIP },

	/* ---- inner version does not match the tunnel protocol ---- */
	{ .name = "proto 4 carrying an IPv6 packet", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP6(CLI6, 40050, VIP6, 80, TH_SYN) }, .verdict = BAD_INNER },
	{ .name = "proto 41 carrying an IPv4 packet", .outer = O4(IPPROTO_IPV6),
	  .pkt = { TCP4(CLI4, 40050, VIP4, 80, TH_SYN) }, .verdict = BAD_INNER },
	{ .name = "IPv6 next header 4 carrying an IPv6 packet", .outer = O6(IPPROTO_IPIP),
	  .pkt = { TCP6(CLI6, 40050, VIP6, 80, TH_SYN) }, .verdict = BAD_INNER },
	{ .name = "IPv6 next header 41 carrying an IPv4 packet", .outer = O6(IPPROTO_IPV6),
	  .pkt = { TCP4(CLI4, 40050, VIP4, 80, TH_SYN) }, .verdict = BAD_INNER },
	{ .name = "proto 4, inner version nibble 5", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40050, VIP4, 80, TH_SYN) }, .inner_version = 5, .verdict = BAD_INNER },
	{ .name = "proto 4, inner version nibble 0", .outer = O4(IPPROTO_IPIP),
	  .pkt = { TCP4(CLI4, 40050, VIP4, 80, TH_SYN) }, .inner_version = 0xf,
	  .verdict = BAD_INNER },
	{ .name = "proto 41, inner version nibble 4 on an IPv6 header", .outer = O4(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40050, VIP6, 80, TH_SYN) }, .inner_version = 4,
	  .verdict = BAD_INNER },
	{ .name = "6-in-6, inner version nibble 7", .outer = O6(IPPROTO_IPV6),
	  .pkt = { TCP6(CLI6, 40050, VIP6, 80, TH_SYN) }, .inner_version = 7,
	  .verdict = BAD_INNER },
};

/* ---- truncation, generated ---- */
static void truncation_cases(void)
{
	static const struct outer_desc o4ipip = O4(IPPROTO_IPIP), o4v6 = O4(IPPROTO_IPV6),
				       o6ipip = O6(IPPROTO_IPIP), o6v6 = O6(IPPROTO_IPV6);
	static const struct pkt_desc in4 = { TCP4(CLI4, 40060, VIP4, 80, TH_SYN) },
				     in6 = { TCP6(CLI6, 40060, VIP6, 80, TH_SYN) },
				     in4v = { TCP4(CLI4, 40060, VIP4, 80, TH_SYN), .vlan = 9 },
				     in6v = { TCP6(CLI6, 40060, VIP6, 80, TH_SYN), .vlan = 9 };
	static const struct {
		const char *what;
		const struct outer_desc *o;
		const struct pkt_desc *in;
		int inner_hl;
	} tun[] = {
		{ "IPIP", &o4ipip, &in4, 20 },	     { "6-in-4", &o4v6, &in6, 40 },
		{ "4-in-6", &o6ipip, &in4, 20 },     { "6-in-6", &o6v6, &in6, 40 },
		{ "VLAN IPIP", &o4ipip, &in4v, 20 }, { "VLAN 6-in-6", &o6v6, &in6v, 40 },
	};
	char name[160];
	struct dcase t;

	static const int eth_cut[] = { 1, 6, 12, 13 };

	/* The frame ends in the Ethernet header or the VLAN tag: nothing says it is a tunnel. */
	for (size_t i = 0; i < sizeof(eth_cut) / sizeof(eth_cut[0]); i++) {
		snprintf(name, sizeof(name), "truncated: %d-byte frame (Ethernet header cut)",
			 eth_cut[i]);
		t = (struct dcase){ .name = name, .outer = o4ipip, .pkt = in4, .cut = CUT_L2,
				    .keep = eth_cut[i], .verdict = NOT_TUNNEL };
		run_case(&t);
	}
	for (int k = 14; k < 18; k++) {
		snprintf(name, sizeof(name), "truncated: %d-byte frame (802.1Q tag cut)", k);
		t = (struct dcase){ .name = name, .outer = o4ipip, .pkt = in4v, .cut = CUT_L2,
				    .keep = k, .verdict = NOT_TUNNEL };
		run_case(&t);
	}
	/* The outer header cut: not provably a tunnel (its protocol field may not even be
	 * there, and the stack discards a truncated IP header itself): passed untouched. */
	for (size_t i = 0; i < sizeof(tun) / sizeof(tun[0]); i++) {
		int ohl = tun[i].o->family == 6 ? 40 : 20;

		for (int k = 0; k < ohl; k++) {
			snprintf(name, sizeof(name), "truncated: %s outer header cut at %d bytes",
				 tun[i].what, k);
			t = (struct dcase){ .name = name, .outer = *tun[i].o, .pkt = *tun[i].in,
					    .cut = CUT_OUTER, .keep = k, .verdict = NOT_TUNNEL };
			run_case(&t);
		}
	}
	/* The inner header cut: a tunnel to unwrap, but nothing whole inside it. */
	for (size_t i = 0; i < sizeof(tun) / sizeof(tun[0]); i++) {
		for (int k = 0; k < tun[i].inner_hl; k++) {
			snprintf(name, sizeof(name), "truncated: %s inner header cut at %d bytes",
				 tun[i].what, k);
			t = (struct dcase){ .name = name, .outer = *tun[i].o, .pkt = *tun[i].in,
					    .cut = CUT_INNER, .keep = k, .verdict = XDP_DROP,
					    .reason = EBB_D_DROP_TRUNCATED };
			run_case(&t);
		}
		/* a whole inner header (the L4 cut) is the stack's to judge: unwrapped */
		snprintf(name, sizeof(name), "truncated: %s inner header whole, its L4 cut",
			 tun[i].what);
		t = (struct dcase){ .name = name, .outer = *tun[i].o, .pkt = *tun[i].in,
				    .cut = CUT_INNER, .keep = tun[i].inner_hl, .verdict = XDP_PASS,
				    .reason = EBB_D_DECAPSULATED };
		run_case(&t);
	}
}

/* ---- setup ---- */
static bool setup(void)
{
	struct ebb_decap_key k, got, *prev = NULL;
	struct ebb_err err = {};
	int n = 0;

	if (!OPEN_LOAD_UNPINNED(skel, decap_bpf, "setup: open the decapsulator skeleton",
				"setup: load the decapsulator (verifier)"))
		return false;
	check_unpinned(skel->obj);
	prog_fd = bpf_program__fd(skel->progs.ebb_decap);
	stats_fd = bpf_map__fd(skel->maps.decap_stats);
	prefixes_fd = bpf_map__fd(skel->maps.decap_prefixes);
	for (size_t i = 0; i < N_PREFIXES; i++) {
		__u32 one = 1;

		if (!ASSERT_OK(ebb_parse_prefix(prefixes[i], &k, &err),
			       nm("setup", "parse prefix %s", prefixes[i]))) {
			printf("#   %s\n", err.msg);
			return false;
		}
		if (!ASSERT_OK(bpf_map_update_elem(prefixes_fd, &k, &one, BPF_NOEXIST),
			       nm("setup", "add prefix %s to decap_prefixes", prefixes[i])))
			return false;
	}
	while (!bpf_map_get_next_key(prefixes_fd, prev, &got)) {
		k = got;
		prev = &k;
		n++;
	}
	ASSERT_EQ(n, N_PREFIXES, nm("setup", "decap_prefixes holds the %zu prefixes", N_PREFIXES));
	return true;
}

int main(void)
{
	if (!suite_start("decap"))
		return 0;
	if (setup()) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			run_case(&cases[i]);
		truncation_cases();
	}
	decap_bpf__destroy(skel);
	return test_summary("decap");
}
