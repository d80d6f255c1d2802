// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of `fwd ipip` in the XDP datapath (bpf/balancer.bpf.c, bpf/encap.h) through
 * BPF_PROG_TEST_RUN, on the real program loaded from its skeleton and configured with libebb:
 * a table of cases, each an input frame (built by tests/unit/packets.h), the verdict, the output
 * bytes and the counters it must move.
 *
 * Expectations are built independently of the program:
 *  - an encapsulated frame is [eth: dst = the node's MAC, src = the input's eth dst, the input's
 *    VLAN tag with the outer family's EtherType][the outer header, laid out and checksummed by
 *    packets.h's build_outer() from this file's configuration][the input IP packet, byte for
 *    byte, as long as its IP header says: padding after it is not carried]; the node is read
 *    from the VIP's Maglev table (or remembered from the flow's first packet), the outer
 *    family is the node's, the IPv6 flow label ebb_flow_hash(flow) & 0xfffff;
 *  - a packet too big to encapsulate under settings.mtu is answered like a router would: the
 *    ICMP "fragmentation needed" / ICMPv6 "packet too big" reply is laid out here (IP header by
 *    build_outer(), ICMP header and checksum computed here, quote copied from the input);
 *  - checksums are also verified on the output itself (a valid one folds to 0).
 * The round trip at the end feeds the balancer's output to the decapsulator (decap.skel.h),
 * which must give back exactly the client's IP packet.
 *
 * No map is pinned (every pin path is cleared before load).
 *
 * A case marked .bug asserts the right behaviour where the datapath has a known, reported bug:
 * it is skipped ("# SKIP known bug") unless EBB_TEST_KNOWN_BUGS=1, so that the suite stays
 * green and the fix can be checked by running it with that variable set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "decap.skel.h"
#include "ebb.h"
#include "ebb_hash.h"
#include "libebb.h"
#include "packets.h"
#include "test.h"
#define FIXTURE_BALANCER
#define FIXTURE_UDP_PAYLOAD 24 /* UDP4() and UDP6() packets carry 24 bytes of data */
#include "fixture.h"

/* ---- the configuration under test (documentation addresses only) ---- */

#define SRC4 "192.0.2.1" /* the VIPs' outer sources */
#define SRC6 "2001:db8:eb::1"

#define V44 "203.0.113.10" /* IPv4 VIP, IPv4 nodes: IPIP */
#define V44_K "203.0.113.10:80/tcp"
#define V46 "203.0.113.11" /* IPv4 VIP, IPv6 nodes: 4-in-6 */
#define V46_K "203.0.113.11:80/tcp"
#define V66 "2001:db8:100::10" /* IPv6 VIP, IPv6 nodes: 6-in-6 */
#define V66_K "[2001:db8:100::10]:80/tcp"
#define V64 "2001:db8:100::11" /* IPv6 VIP, IPv4 nodes: 6-in-4 */
#define V64_K "[2001:db8:100::11]:80/tcp"
#define VU4 "203.0.113.12" /* UDP, IPv4 node */
#define VU4_K "203.0.113.12:53/udp"
#define VU6 "2001:db8:100::12" /* UDP, IPv6 node */
#define VU6_K "[2001:db8:100::12]:53/udp"
#define VD "203.0.113.20" /* dsr: the MTU is none of its business */
#define VD_K "203.0.113.20:80/tcp"

#define CLI "198.51.100.200"
#define CLI_M "198.51.100.210" /* MTU flows */
#define CLI_RT "198.51.100.220" /* round trip */
#define CLI6 "2001:db8:1::100"
#define CLI6_M "2001:db8:1::210"
#define CLI6_RT "2001:db8:1::220"

#define IP4_DF 0x4000

struct vip_cfg {
	const char *key;
	__u8 fwd;
};

static const struct vip_cfg vip_cfg[] = {
	{ V44_K, EBB_FWD_IPIP }, { V46_K, EBB_FWD_IPIP }, { V66_K, EBB_FWD_IPIP },
	{ V64_K, EBB_FWD_IPIP }, { VU4_K, EBB_FWD_IPIP }, { VU6_K, EBB_FWD_IPIP },
	{ VD_K, EBB_FWD_DSR },
};

struct node_cfg {
	const char *addr, *vip;
	uint8_t mac[6];
	__u32 id; /* filled in at setup */
};

static struct node_cfg node_cfg[] = {
	{ .addr = "198.51.100.11", .vip = V44_K, .mac = { 0x02, 0, 0, 0, 0x44, 0x01 } },
	{ .addr = "198.51.100.12", .vip = V44_K, .mac = { 0x02, 0, 0, 0, 0x44, 0x02 } },
	{ .addr = "2001:db8:200::1", .vip = V46_K, .mac = { 0x02, 0, 0, 0, 0x46, 0x01 } },
	{ .addr = "2001:db8:200::2", .vip = V46_K, .mac = { 0x02, 0, 0, 0, 0x46, 0x02 } },
	{ .addr = "2001:db8:200::11", .vip = V66_K, .mac = { 0x02, 0, 0, 0, 0x66, 0x01 } },
	{ .addr = "2001:db8:200::12", .vip = V66_K, .mac = { 0x02, 0, 0, 0, 0x66, 0x02 } },
	{ .addr = "198.51.100.21", .vip = V64_K, .mac = { 0x02, 0, 0, 0, 0x64, 0x01 } },
	{ .addr = "198.51.100.22", .vip = V64_K, .mac = { 0x02, 0, 0, 0, 0x64, 0x02 } },
	{ .addr = "198.51.100.31", .vip = VU4_K, .mac = { 0x02, 0, 0, 0, 0x31, 0x01 } },
	{ .addr = "2001:db8:200::31", .vip = VU6_K, .mac = { 0x02, 0, 0, 0, 0x31, 0x06 } },
	{ .addr = "198.51.100.41", .vip = VD_K, .mac = { 0x02, 0, 0, 0, 0x41, 0x01 } },
};
#define N_NODES (sizeof(node_cfg) / sizeof(node_cfg[0]))

/* Nodes remembered between cases: a flow's first packet places it, the next ones follow. */
enum { S_NONE, S_44, S_46, S_66, S_64, S_U4, S_U6, S_DSR, S_MAX };
static __u32 saved[S_MAX];

/* ---- helpers ---- */
static int family_of(const char *addr)
{
	return strchr(addr, ':') ? 6 : 4;
}

static const struct node_cfg *cfg_of_id(__u32 id)
{
	for (size_t i = 0; i < N_NODES; i++)
		if (id && node_cfg[i].id == id)
			return &node_cfg[i];
	return NULL;
}

static const char *addr_of(__u32 id)
{
	const struct node_cfg *c = cfg_of_id(id);

	return c ? c->addr : "none";
}

/* The flow key of a client's packet; of an ICMP error, the flow its quote belongs to (the
 * quote is the node's reply: reversed). */
static void key_of(const struct pkt_desc *d, struct ebb_flow_key *k)
{
	const struct pkt_desc *f = d->quote ? d->quote : d;
	bool rev = d->quote != NULL;

	memset(k, 0, sizeof(*k));
	k->family = f->family == 6 ? EBB_FAMILY_V6 : EBB_FAMILY_V4;
	k->proto = f->proto;
	pkt_addr(rev ? f->dst : f->src, f->family, (uint8_t *)k->src);
	pkt_addr(rev ? f->src : f->dst, f->family, (uint8_t *)k->dst);
	k->sport = htons(rev ? f->dport : f->sport);
	k->dport = htons(rev ? f->sport : f->dport);
}

static void set_mtu(__u32 mtu)
{
	struct ebb_settings s = {};
	__u32 zero = 0;

	bpf_map_lookup_elem(e.settings_fd, &zero, &s);
	s.mtu = mtu;
	ASSERT_OK(bpf_map_update_elem(e.settings_fd, &zero, &s, BPF_ANY),
		  nm("settings", "mtu = %u", mtu));
}

/* ---- the expected frames ---- */

/* The input's IP packet encapsulated toward node: the whole frame. Returns its length. The IP
 * packet only: Ethernet padding or junk after it stays behind (it would ride in the tunnel,
 * and the frame could exceed the MTU the IP length was checked against). */
static size_t expected_encap(const uint8_t *in, size_t l3, size_t ip_len,
			     const struct pkt_desc *d, const struct node_cfg *node,
			     const struct ebb_flow_key *key, uint8_t *want, size_t *l2_len,
			     size_t *outer_len)
{
	int nf = family_of(node->addr);
	struct outer_desc o = {
		.family = nf,
		.src = nf == 6 ? SRC6 : SRC4,
		.dst = node->addr,
		.proto = d->family == 6 ? IPPROTO_IPV6 : IPPROTO_IPIP,
		.frag = nf == 4 ? IP4_DF : 0,
		.id = 0,
		.ttl = 64,
		.flow_label = nf == 6 ? ebb_flow_hash(key) & 0xfffff : 0,
	};

	*l2_len = build_l2(node->mac, in /* the input's eth dst */, d->vlan,
			   nf == 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4, want);
	*outer_len = build_outer(&o, ip_len, want + *l2_len);
	memcpy(want + *l2_len + *outer_len, in + l3, ip_len);
	return *l2_len + *outer_len + ip_len;
}

/* The ICMP "fragmentation needed" / ICMPv6 "packet too big" reply to the input. */
static size_t expected_too_big(const uint8_t *in, size_t l3, const struct pkt_desc *d,
			       __u32 mtu_field, uint8_t *want, size_t *l2_len)
{
	size_t quote = d->family == 6 ? 128 : 64, ihl = d->family == 6 ? 40 : 20, l2;
	struct outer_desc o = {
		.family = d->family,
		.src = d->dst, /* the VIP */
		.dst = d->src, /* the client */
		.proto = d->family == 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP,
		.ttl = 64,
	};
	uint8_t *icmp;
	uint32_t sum = 0;

	/* MACs swapped: back to the router the packet came from */
	l2 = build_l2(in + 6, in, d->vlan, d->family == 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4, want);
	build_outer(&o, 8 + quote, want + l2);
	icmp = want + l2 + ihl;
	memset(icmp, 0, 8);
	if (d->family == 6) {
		struct pkt_desc ph = { .family = 6, .src = d->dst, .dst = d->src };

		icmp[0] = 2; /* packet too big */
		put32(icmp + 4, mtu_field);
		sum = pseudo_sum(&ph, IPPROTO_ICMPV6, 8 + quote);
	} else {
		icmp[0] = 3; /* destination unreachable */
		icmp[1] = 4; /* fragmentation needed and DF set */
		put16(icmp + 6, (uint16_t)mtu_field);
	}
	memcpy(icmp + 8, in + l3, quote);
	put16(icmp + 2, csum_fold(csum_add(sum, icmp, 8 + quote)));
	*l2_len = l2;
	return l2 + ihl + 8 + quote;
}

/* ---- the case table ---- */
enum { X_ENCAP, X_DSR, X_TOO_BIG, X_UNTOUCHED };
enum { BY_NONE, BY_NEW, BY_SECOND };

struct ecase {
	const char *name;
	struct pkt_desc pkt;
	int size; /* > 0: TCP/UDP payload chosen so that the IP packet is exactly this long */
	int pad_to; /* > 0: the frame is padded with zero bytes up to this length */
	/* expectations */
	int verdict, reason;
	const char *vip;
	int expect; /* X_* */
	int ring; /* the node: the VIP's NEW / SECOND ring gives it... */
	int node_slot; /* ...or saved[node_slot] */
	int save; /* remember the expected node in saved[save] */
	int new_flows, second_chance;
	__u32 mtu_field; /* X_TOO_BIG: the MTU the reply announces */
	bool pin_consistent; /* instead of fixed new_flows: a flow entry was added iff new_flows
			      * counted it */
	const char *bug; /* a known, reported bug: the case runs with EBB_TEST_KNOWN_BUGS=1 */
};

/* The IP packet the case describes, with its payload sized when asked. */
static struct pkt_desc desc_of(const struct ecase *c)
{
	struct pkt_desc d = c->pkt;

	if (c->size) {
		int ihl = d.family == 6 ? 40 : (d.ihl ? d.ihl : 5) * 4;
		int l4 = d.proto == IPPROTO_UDP ? 8 : 20;

		d.payload = c->size - ihl - l4;
		if (d.payload < 0)
			abort(); /* a typo in the table */
	}
	return d;
}

static void run_case(const struct ecase *c)
{
	uint8_t in[BUF_MAX], out[BUF_MAX], want[BUF_MAX];
	const char *n = c->name;
	struct pkt_desc d = desc_of(c);
	struct pkt_layout lay;
	struct ebb_flow_key key;
	struct snap b, a;
	const struct node_cfg *node = NULL;
	__u32 vip_id, exp_node = 0, verdict = ~0u;
	size_t len, ip_len, want_len, out_len = 0, l2 = 0, outer = 0;
	int err;
	__u64 t0, t1;

	if (c->bug && !getenv("EBB_TEST_KNOWN_BUGS")) {
		printf("ok %d - %s # SKIP known bug: %s (EBB_TEST_KNOWN_BUGS=1 runs it)\n",
		       ++test_checks, n, c->bug);
		return;
	}
	lay = build_frame(&d, LB_MAC, GW_MAC, in);
	ip_len = lay.len - lay.l3;
	len = lay.len;
	if (c->pad_to > (int)len) {
		memset(in + len, 0, c->pad_to - len);
		len = c->pad_to;
	}
	if ((int)ip_len != (c->size ? c->size : (int)ip_len))
		abort();
	key_of(&d, &key);
	vip_id = vip_id_of(c->vip);
	if (!CHECK(vip_id < EBB_MAX_VIPS, "%s", nm(n, "VIP %s configured", c->vip)))
		return;
	if (c->node_slot)
		exp_node = saved[c->node_slot];
	else if (c->ring)
		exp_node = ring_node(c->ring == BY_NEW ? EBB_RING_NEW(vip_id) :
							 EBB_RING_SECOND(vip_id),
				     ebb_ring_slot(&key));
	if (c->save)
		saved[c->save] = exp_node;
	if (c->expect == X_ENCAP || c->expect == X_DSR) {
		node = cfg_of_id(exp_node);
		if (!CHECK(node != NULL, "%s", nm(n, "an expected node is known (id %u)", exp_node)))
			return;
	}

	switch (c->expect) {
	case X_ENCAP:
		want_len = expected_encap(in, lay.l3, ip_len, &d, node, &key, want, &l2, &outer);
		break;
	case X_DSR:
		memcpy(want, in, len);
		memcpy(want, node->mac, 6);
		memcpy(want + 6, in, 6);
		want_len = len;
		break;
	case X_TOO_BIG:
		want_len = expected_too_big(in, lay.l3, &d, c->mtu_field, want, &l2);
		break;
	default:
		memcpy(want, in, len);
		want_len = len;
	}

	take_snap(&b, &key, vip_id, exp_node);
	/* bpf_ktime_get_coarse_ns() is CLOCK_MONOTONIC_COARSE: up to a tick behind */
	t0 = ebb_now_ns() - 20000000ULL;
	err = prog_run(prog_fd, in, len, out, sizeof(out), &out_len, &verdict);
	t1 = ebb_now_ns();
	take_snap(&a, &key, vip_id, exp_node);

	if (!check_run(n, err, verdict, c->verdict))
		return;

	/* ---- the output frame ---- */
	if (ASSERT_EQ(out_len, want_len, nm(n, "output length %zu", want_len))) {
		static const char *const what[] = {
			[X_ENCAP] = "output = [eth to node %s][outer header][input IP packet]",
			[X_DSR] = "output = input with MACs rewritten to node %s (dsr)",
			[X_TOO_BIG] = "output = the ICMP too-big reply, byte for byte",
			[X_UNTOUCHED] = "output = input, untouched",
		};

		char what_node[160];

		snprintf(what_node, sizeof(what_node), what[c->expect], addr_of(exp_node));
		ASSERT_MEM_EQ(out, want, want_len, nm(n, "%s", what_node));
	}

	/* ---- the same, field by field, read from the output itself ---- */
	if (c->expect == X_ENCAP && out_len >= l2 + outer) {
		const uint8_t *o = out + l2;

		if (family_of(node->addr) == 4) {
			ASSERT_EQ(o[0], 0x45, nm(n, "outer IPv4: version 4, ihl 5"));
			ASSERT_EQ(o[2] << 8 | o[3], ip_len + 20,
				  nm(n, "outer IPv4 tot_len = inner IP length %zu + 20", ip_len));
			ASSERT_EQ(o[9], d.family == 6 ? 41 : 4,
				  nm(n, "outer IPv4 protocol %d", d.family == 6 ? 41 : 4));
			ASSERT_EQ((o[6] << 8 | o[7]), IP4_DF, nm(n, "outer IPv4 DF set, no fragment"));
			ASSERT_EQ(ip4_hdr_fold(o), 0, nm(n, "outer IPv4 header checksum verifies"));
		} else {
			__u32 label = ((__u32)o[1] << 16 | o[2] << 8 | o[3]) & 0xfffff;

			ASSERT_EQ(o[0] >> 4, 6, nm(n, "outer IPv6: version 6"));
			ASSERT_EQ(o[4] << 8 | o[5], ip_len,
				  nm(n, "outer IPv6 payload_len = inner IP length %zu", ip_len));
			ASSERT_EQ(o[6], d.family == 6 ? 41 : 4,
				  nm(n, "outer IPv6 next header %d", d.family == 6 ? 41 : 4));
			ASSERT_EQ(label, ebb_flow_hash(&key) & 0xfffff,
				  nm(n, "outer IPv6 flow label = flow hash & 0xfffff"));
		}
		ASSERT_MEM_EQ(out + l2 + outer, in + lay.l3, ip_len,
			      nm(n, "inner packet byte-identical to the client's"));
	}
	if (c->expect == X_TOO_BIG && out_len == want_len) {
		const uint8_t *ip = out + l2;

		if (d.family == 4) {
			const uint8_t *icmp = ip + 20;

			ASSERT_EQ(ip4_hdr_fold(ip), 0, nm(n, "reply IPv4 header checksum verifies"));
			ASSERT_EQ(icmp[0] << 8 | icmp[1], 0x0304,
				  nm(n, "ICMP type 3 code 4 (fragmentation needed)"));
			ASSERT_EQ(icmp[6] << 8 | icmp[7], c->mtu_field,
				  nm(n, "ICMP next-hop MTU %u", c->mtu_field));
			ASSERT_EQ(csum_fold(csum_add(0, icmp, 8 + 64)), 0,
				  nm(n, "ICMP checksum over header + 64-byte quote verifies"));
			ASSERT_MEM_EQ(icmp + 8, in + lay.l3, 64,
				      nm(n, "quote = the first 64 bytes of the client's packet"));
		} else {
			const uint8_t *icmp = ip + 40;
			struct pkt_desc ph = { .family = 6, .src = d.dst, .dst = d.src };
			__u32 mtu = (__u32)icmp[4] << 24 | icmp[5] << 16 | icmp[6] << 8 | icmp[7];

			ASSERT_EQ(icmp[0] << 8 | icmp[1], 0x0200, nm(n, "ICMPv6 type 2 (packet too big)"));
			ASSERT_EQ(mtu, c->mtu_field, nm(n, "ICMPv6 MTU %u", c->mtu_field));
			ASSERT_EQ(csum_fold(csum_add(pseudo_sum(&ph, IPPROTO_ICMPV6, 8 + 128), icmp,
						     8 + 128)),
				  0, nm(n, "ICMPv6 checksum (pseudo-header, header, 128-byte quote) verifies"));
			ASSERT_MEM_EQ(icmp + 8, in + lay.l3, 128,
				      nm(n, "quote = the first 128 bytes of the client's packet"));
		}
		ASSERT_MEM_EQ(out, GW_MAC, 6, nm(n, "reply to the router's MAC (MACs swapped)"));
		ASSERT_MEM_EQ(out + 6, LB_MAC, 6, nm(n, "reply from our MAC (MACs swapped)"));
	}

	/* ---- reasons: exactly one moved, by this packet ---- */
	check_one_reason(n, "reason", ebb_reason_name, b.r, a.r, EBB_R_MAX, c->reason, len);

	/* ---- the flow table: pinned as in dsr; a too-big reply moves nothing ---- */
	if (c->pin_consistent) {
		bool added = !b.has_flow && a.has_flow && a.flows - b.flows == 1;
		__u64 vnf = a.vip.new_flows - b.vip.new_flows;

		if (!CHECK((added && vnf == 1 && a.flow.node_id == exp_node) ||
				   (!added && vnf == 0 && a.flows == b.flows && !a.has_flow),
			   "%s", nm(n, "flow table and vip_stats new_flows agree (pinned and counted, or neither)")))
			printf("#   flow entry %s, table +%ld, new_flows +%llu\n",
			       added ? "added" : "not added", a.flows - b.flows,
			       (unsigned long long)vnf);
	} else if (c->verdict == XDP_TX && c->reason == EBB_R_FORWARDED) {
		if (CHECK(a.has_flow, "%s", nm(n, "flow entry present"))) {
			ASSERT_EQ(a.flow.node_id, exp_node,
				  nm(n, "flow entry pinned to %s", addr_of(exp_node)));
			if (c->new_flows)
				CHECK(seen_between(&a.flow, t0, t1), "%s", nm(n, "flow last_seen set to now"));
		}
		ASSERT_EQ(a.flows - b.flows, b.has_flow ? 0 : 1,
			  nm(n, "flow table grew by %d", b.has_flow ? 0 : 1));
	} else {
		CHECK(a.has_flow == b.has_flow && (!a.has_flow || a.flow.node_id == b.flow.node_id),
		      "%s", nm(n, "flow entry unchanged (%s)", b.has_flow ? "present" : "absent"));
		ASSERT_EQ(a.flows, b.flows, nm(n, "flow table size unchanged"));
	}

	/* ---- per-VIP and per-node counters ---- */
	{
		int pkts = c->reason == EBB_R_FORWARDED || c->reason == EBB_R_TX_TOO_BIG ||
			   c->reason == EBB_R_DROP_TOO_BIG;
		int fwd = c->reason == EBB_R_FORWARDED;

		CHECK(a.vip.packets - b.vip.packets == (__u64)pkts &&
			      a.vip.bytes - b.vip.bytes == pkts * len,
		      "%s", nm(n, "vip_stats packets +%d, bytes +%zu", pkts, pkts * len));
		if (!c->pin_consistent)
			ASSERT_EQ(a.vip.new_flows - b.vip.new_flows, c->new_flows,
				  nm(n, "vip_stats new_flows +%d", c->new_flows));
		ASSERT_EQ(a.vip.second_chance - b.vip.second_chance, c->second_chance,
			  nm(n, "vip_stats second_chance +%d", c->second_chance));
		if (exp_node) {
			CHECK(a.node.packets - b.node.packets == (__u64)fwd &&
				      a.node.bytes - b.node.bytes == fwd * len,
			      "%s", nm(n, "node_stats[%s] packets +%d", addr_of(exp_node), fwd));
			if (!c->pin_consistent)
				ASSERT_EQ(a.node.new_flows - b.node.new_flows, fwd ? c->new_flows : 0,
					  nm(n, "node_stats new_flows +%d", fwd ? c->new_flows : 0));
		}
	}
}

#define ENCAP_NEW(vk, slot) \
	.verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = vk, .expect = X_ENCAP, .ring = BY_NEW, \
	.save = slot, .new_flows = 1
#define ENCAP_PINNED(vk, slot) \
	.verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = vk, .expect = X_ENCAP, \
	.node_slot = slot

static const struct ecase cases[] = {
	/* ---- IPIP: IPv4 client, IPv4 node ---- */
	{ .name = "IPIP: TCP SYN", .pkt = { TCP4(CLI, 40000, V44, 80, TH_SYN), .frag = IP4_DF },
	  ENCAP_NEW(V44_K, S_44) },
	{ .name = "IPIP: TCP ACK with 300 bytes follows the pinned flow",
	  .pkt = { TCP4(CLI, 40000, V44, 80, TH_ACK | TH_PSH), .payload = 300 },
	  ENCAP_PINNED(V44_K, S_44) },
	{ .name = "IPIP: TCP ACK without flow entry (second chance)",
	  .pkt = { TCP4(CLI, 40001, V44, 80, TH_ACK), .frag = IP4_DF },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = V44_K, .expect = X_ENCAP,
	  .ring = BY_SECOND, .new_flows = 1, .second_chance = 1 },
	{ .name = "IPIP: inner IPv4 options (ihl=7) carried as they are",
	  .pkt = { TCP4(CLI, 40002, V44, 80, TH_SYN), .ihl = 7 }, ENCAP_NEW(V44_K, S_NONE) },
	/* ---- 4-in-6: IPv4 client, IPv6 node ---- */
	{ .name = "4-in-6: TCP SYN", .pkt = { TCP4(CLI, 40000, V46, 80, TH_SYN), .frag = IP4_DF },
	  ENCAP_NEW(V46_K, S_46) },
	{ .name = "4-in-6: TCP ACK with 300 bytes follows the pinned flow",
	  .pkt = { TCP4(CLI, 40000, V46, 80, TH_ACK), .payload = 300 },
	  ENCAP_PINNED(V46_K, S_46) },
	/* ---- 6-in-6: IPv6 client, IPv6 node ---- */
	{ .name = "6-in-6: TCP SYN", .pkt = { TCP6(CLI6, 40000, V66, 80, TH_SYN) },
	  ENCAP_NEW(V66_K, S_66) },
	{ .name = "6-in-6: TCP ACK with 300 bytes follows the pinned flow",
	  .pkt = { TCP6(CLI6, 40000, V66, 80, TH_ACK), .payload = 300 },
	  ENCAP_PINNED(V66_K, S_66) },
	/* ---- 6-in-4: IPv6 client, IPv4 node ---- */
	{ .name = "6-in-4: TCP SYN", .pkt = { TCP6(CLI6, 40000, V64, 80, TH_SYN) },
	  ENCAP_NEW(V64_K, S_64) },
	{ .name = "6-in-4: TCP ACK with 300 bytes follows the pinned flow",
	  .pkt = { TCP6(CLI6, 40000, V64, 80, TH_ACK), .payload = 300 },
	  ENCAP_PINNED(V64_K, S_64) },
	/* ---- UDP ---- */
	{ .name = "IPIP: UDP first packet", .pkt = { UDP4(CLI, 5353, VU4, 53) },
	  ENCAP_NEW(VU4_K, S_U4) },
	{ .name = "IPIP: UDP next packet", .pkt = { UDP4(CLI, 5353, VU4, 53) },
	  ENCAP_PINNED(VU4_K, S_U4) },
	{ .name = "6-in-6: UDP first packet", .pkt = { UDP6(CLI6, 5353, VU6, 53) },
	  ENCAP_NEW(VU6_K, S_U6) },
	{ .name = "6-in-6: UDP next packet", .pkt = { UDP6(CLI6, 5353, VU6, 53) },
	  ENCAP_PINNED(VU6_K, S_U6) },

	/* ---- VLAN: the tag is kept, its EtherType becomes the outer family's ---- */
	{ .name = "VLAN 100 IPIP SYN", .pkt = { TCP4(CLI, 40100, V44, 80, TH_SYN), .vlan = 100 },
	  ENCAP_NEW(V44_K, S_NONE) },
	{ .name = "VLAN 100 4-in-6 SYN: tag kept, EtherType IPv6",
	  .pkt = { TCP4(CLI, 40100, V46, 80, TH_SYN), .vlan = 100 }, ENCAP_NEW(V46_K, S_NONE) },
	{ .name = "VLAN 4094 6-in-6 SYN", .pkt = { TCP6(CLI6, 40100, V66, 80, TH_SYN), .vlan = 4094 },
	  ENCAP_NEW(V66_K, S_NONE) },
	{ .name = "VLAN 4094 6-in-4 SYN: tag kept, EtherType IPv4",
	  .pkt = { TCP6(CLI6, 40100, V64, 80, TH_SYN), .vlan = 4094 }, ENCAP_NEW(V64_K, S_NONE) },

	/* ---- Ethernet padding: the IP header, not the frame, says how long the packet is ---- */
	{ .name = "IPIP: 40-byte SYN in a padded 60-byte frame",
	  .pkt = { TCP4(CLI, 40200, V44, 80, TH_SYN), .frag = IP4_DF }, .pad_to = 60,
	  ENCAP_NEW(V44_K, S_NONE) },
	{ .name = "4-in-6: 40-byte SYN in a padded 60-byte frame",
	  .pkt = { TCP4(CLI, 40200, V46, 80, TH_SYN), .frag = IP4_DF }, .pad_to = 60,
	  ENCAP_NEW(V46_K, S_NONE) },
	{ .name = "VLAN 5 IPIP: 40-byte SYN in a padded 64-byte frame",
	  .pkt = { TCP4(CLI, 40201, V44, 80, TH_SYN), .vlan = 5 }, .pad_to = 64,
	  ENCAP_NEW(V44_K, S_NONE) },
	{ .name = "6-in-4: 60-byte SYN with 6 trailing bytes in the frame",
	  .pkt = { TCP6(CLI6, 40200, V64, 80, TH_SYN) }, .pad_to = 80, ENCAP_NEW(V64_K, S_NONE) },
	{ .name = "6-in-6: 60-byte SYN with 6 trailing bytes in the frame",
	  .pkt = { TCP6(CLI6, 40200, V66, 80, TH_SYN) }, .pad_to = 80, ENCAP_NEW(V66_K, S_NONE) },
};

/* ---- MTU: generated per settings.mtu ---- */
struct path {
	const char *what, *vip;
	int family, proto, outer_len, slot;
	const char *cli, *dst;
	uint16_t dport;
};

static const struct path paths[] = {
	{ "IPIP", V44_K, 4, IPPROTO_TCP, 20, S_44, CLI_M, V44, 80 },
	{ "4-in-6", V46_K, 4, IPPROTO_TCP, 40, S_46, CLI_M, V46, 80 },
	{ "6-in-6", V66_K, 6, IPPROTO_TCP, 40, S_66, CLI6_M, V66, 80 },
	{ "6-in-4", V64_K, 6, IPPROTO_TCP, 20, S_64, CLI6_M, V64, 80 },
	{ "IPIP UDP", VU4_K, 4, IPPROTO_UDP, 20, S_U4, CLI_M, VU4, 53 },
	{ "6-in-6 UDP", VU6_K, 6, IPPROTO_UDP, 40, S_U6, CLI6_M, VU6, 53 },
};
#define N_PATHS (sizeof(paths) / sizeof(paths[0]))

static struct ecase mtu_case(const struct path *p, char *name, size_t nlen, const char *fmt,
			     int size, bool df, uint16_t vlan, int pad)
{
	struct ecase c = {
		.name = name,
		.pkt = { .family = p->family, .src = p->cli, .dst = p->dst, .proto = p->proto,
			 .sport = 41000, .dport = p->dport,
			 .flags = p->proto == IPPROTO_TCP ? TH_ACK | TH_PSH : 0,
			 .frag = df && p->family == 4 ? IP4_DF : 0, .vlan = vlan },
		.size = size,
		.vip = p->vip,
		.node_slot = p->slot,
	};

	snprintf(name, nlen, "%s %s", p->what, fmt);
	if (pad) {
		c.pad_to = 14 + (vlan ? 4 : 0) + size + pad;
		c.pkt.frag = IP4_DF;
	}
	return c;
}

static void mtu_cases(__u32 mtu)
{
	char name[200], fmt[160];
	struct ecase c;

	set_mtu(mtu);
	for (size_t i = 0; i < N_PATHS; i++) {
		const struct path *p = &paths[i];
		int fits = mtu ? (int)mtu - p->outer_len : 1500 - p->outer_len + 1;

		if (!mtu) {
			/* no check: what did not fit under 1500 is encapsulated */
			snprintf(fmt, sizeof(fmt), "mtu 0 (no check): %d-byte packet encapsulated",
				 fits);
			c = mtu_case(p, name, sizeof(name), fmt, fits, true, 0, 0);
			c.verdict = XDP_TX, c.reason = EBB_R_FORWARDED, c.expect = X_ENCAP;
			run_case(&c);
			continue;
		}
		/* the flow's first packet places it: the big ones follow it */
		snprintf(fmt, sizeof(fmt), "mtu %u: the flow's first packet (small)", mtu);
		c = mtu_case(p, name, sizeof(name), fmt, 0, true, 0, 0);
		c.pkt.flags = p->proto == IPPROTO_TCP ? TH_SYN : 0;
		c.verdict = XDP_TX, c.reason = EBB_R_FORWARDED, c.expect = X_ENCAP;
		c.node_slot = 0;
		c.ring = BY_NEW, c.save = p->slot;
		if (mtu == 1500)
			c.new_flows = 1;
		else
			c.node_slot = p->slot, c.ring = 0, c.save = 0;
		run_case(&c);

		snprintf(fmt, sizeof(fmt), "mtu %u: %d-byte packet (mtu - %d) fits: encapsulated",
			 mtu, fits, p->outer_len);
		c = mtu_case(p, name, sizeof(name), fmt, fits, true, 0, 0);
		c.verdict = XDP_TX, c.reason = EBB_R_FORWARDED, c.expect = X_ENCAP;
		run_case(&c);

		snprintf(fmt, sizeof(fmt), "mtu %u: %d-byte packet (mtu - %d) does not fit: %s",
			 mtu, fits + 1, p->outer_len - 1,
			 p->family == 6 ? "ICMPv6 packet too big" : "DF set, ICMP frag needed");
		c = mtu_case(p, name, sizeof(name), fmt, fits + 1, true, 0, 0);
		c.verdict = XDP_TX, c.reason = EBB_R_TX_TOO_BIG, c.expect = X_TOO_BIG;
		c.mtu_field = fits;
		run_case(&c);

		snprintf(fmt, sizeof(fmt), "mtu %u: %u-byte packet (the whole mtu): too big", mtu,
			 mtu);
		c = mtu_case(p, name, sizeof(name), fmt, mtu, true, 0, 0);
		c.verdict = XDP_TX, c.reason = EBB_R_TX_TOO_BIG, c.expect = X_TOO_BIG;
		c.mtu_field = fits;
		run_case(&c);

		if (p->outer_len == 40) {
			snprintf(fmt, sizeof(fmt),
				 "mtu %u: %d-byte packet (mtu - 20) would fit an IPv4 outer, not this IPv6 one",
				 mtu, mtu - 20);
			c = mtu_case(p, name, sizeof(name), fmt, mtu - 20, true, 0, 0);
			c.verdict = XDP_TX, c.reason = EBB_R_TX_TOO_BIG, c.expect = X_TOO_BIG;
			c.mtu_field = fits;
			run_case(&c);
		}

		snprintf(fmt, sizeof(fmt), "mtu %u: VLAN 100, %d-byte packet fits: tag kept", mtu,
			 fits);
		c = mtu_case(p, name, sizeof(name), fmt, fits, true, 100, 0);
		c.verdict = XDP_TX, c.reason = EBB_R_FORWARDED, c.expect = X_ENCAP;
		run_case(&c);

		snprintf(fmt, sizeof(fmt), "mtu %u: VLAN 100, %d-byte packet too big: reply keeps the tag",
			 mtu, fits + 1);
		c = mtu_case(p, name, sizeof(name), fmt, fits + 1, true, 100, 0);
		c.verdict = XDP_TX, c.reason = EBB_R_TX_TOO_BIG, c.expect = X_TOO_BIG;
		c.mtu_field = fits;
		run_case(&c);

		snprintf(fmt, sizeof(fmt),
			 "mtu %u: %d-byte packet with 10 trailing bytes in the frame fits (the IP length decides)",
			 mtu, fits);
		c = mtu_case(p, name, sizeof(name), fmt, fits, true, 0, 10);
		c.verdict = XDP_TX, c.reason = EBB_R_FORWARDED, c.expect = X_ENCAP;
		run_case(&c);

		if (p->family == 4) {
			snprintf(fmt, sizeof(fmt), "mtu %u: %d-byte packet without DF fits: encapsulated",
				 mtu, fits);
			c = mtu_case(p, name, sizeof(name), fmt, fits, false, 0, 0);
			c.verdict = XDP_TX, c.reason = EBB_R_FORWARDED, c.expect = X_ENCAP;
			run_case(&c);

			snprintf(fmt, sizeof(fmt),
				 "mtu %u: %d-byte packet without DF does not fit: dropped", mtu,
				 fits + 1);
			c = mtu_case(p, name, sizeof(name), fmt, fits + 1, false, 0, 0);
			c.verdict = XDP_DROP, c.reason = EBB_R_DROP_TOO_BIG, c.expect = X_UNTOUCHED;
			run_case(&c);
		}
	}

	/* dsr forwards the frame as it came: the MTU is not ebb's to enforce there */
	snprintf(name, sizeof(name), "dsr, mtu %u: 1481-byte packet forwarded untouched", mtu);
	c = (struct ecase){ .name = name,
			    .pkt = { TCP4(CLI_M, 41000, VD, 80, TH_ACK), .frag = IP4_DF },
			    .size = 1481, .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VD_K,
			    .expect = X_DSR, .ring = BY_SECOND };
	if (saved[S_DSR]) {
		c.ring = 0;
		c.node_slot = S_DSR;
	} else {
		c.save = S_DSR;
		c.new_flows = 1;
		c.second_chance = 1;
	}
	run_case(&c);
}

/* ---- ICMP errors and new flows against the MTU ---- */
#define ROUTER4 "198.51.100.254"
#define ROUTER6 "2001:db8:ffff::1"
/* The node's reply as a router quotes it, as much as fits a 1280-byte ICMPv6 error
 * (RFC 4443 2.4 c): 40 + 8 + 1232 bytes. */
static const struct pkt_desc quote66 = { TCP6(V66, 80, CLI6_M, 41000, TH_ACK), .payload = 1300 };
#define PTB_1280 \
	.family = 6, .src = ROUTER6, .dst = V66, .proto = IPPROTO_ICMPV6, .icmp_type = 2, \
	.quote = &quote66, .quote_len = 1232
/* An IPv4 "fragmentation needed" (DF set) quoting 1300 bytes of the node's reply. */
static const struct pkt_desc quote44 = { TCP4(V44, 80, CLI_M, 41000, TH_ACK), .payload = 1300 };
#define FRAG_NEEDED_1328 \
	.family = 4, .src = ROUTER4, .dst = V44, .proto = IPPROTO_ICMP, .icmp_type = 3, \
	.icmp_code = 4, .quote = &quote44, .quote_len = 1300, .frag = IP4_DF

static const struct ecase edge_1500[] = {
	{ .name = "mtu 1500: a 1280-byte ICMPv6 packet too big about a pinned 6-in-6 flow is encapsulated to its node",
	  .pkt = { PTB_1280 }, .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = V66_K,
	  .expect = X_ENCAP, .node_slot = S_66 },
	{ .name = "mtu 1500: a 1328-byte ICMP frag needed about a pinned IPIP flow is encapsulated to its node",
	  .pkt = { FRAG_NEEDED_1328 }, .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = V44_K,
	  .expect = X_ENCAP, .node_slot = S_44 },
};

static const struct ecase edge_1320[] = {
	{ .name = "mtu 1320: a 1280-byte ICMPv6 packet too big fits a 6-in-6 tunnel exactly",
	  .pkt = { PTB_1280 }, .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = V66_K,
	  .expect = X_ENCAP, .node_slot = S_66 },
};

static const struct ecase edge_1319[] = {
	{ .name = "mtu 1319: a 1280-byte ICMPv6 packet too big that does not fit is dropped, not answered with an ICMPv6 error",
	  .pkt = { PTB_1280 }, .verdict = XDP_DROP, .reason = EBB_R_DROP_TOO_BIG, .vip = V66_K,
	  .expect = X_UNTOUCHED, .node_slot = S_66 },
	{ .name = "mtu 1319: a 1328-byte ICMP frag needed (DF) that does not fit is dropped, not answered with an ICMP error",
	  .pkt = { FRAG_NEEDED_1328 }, .verdict = XDP_DROP, .reason = EBB_R_DROP_TOO_BIG, .vip = V44_K,
	  .expect = X_UNTOUCHED, .node_slot = S_44 },
};

static const struct ecase edge_1400[] = {
	{ .name = "mtu 1400: IPIP, a new flow's first packet too big (SYN with 1341 bytes of data, TFO)",
	  .pkt = { TCP4(CLI_M, 43000, V44, 80, TH_SYN), .frag = IP4_DF }, .size = 1381,
	  .verdict = XDP_TX, .reason = EBB_R_TX_TOO_BIG, .vip = V44_K, .expect = X_TOO_BIG,
	  .mtu_field = 1380, .ring = BY_NEW, .pin_consistent = true },
	{ .name = "mtu 1400: 6-in-6 UDP, a new flow's first datagram too big",
	  .pkt = { .family = 6, .src = CLI6_M, .dst = VU6, .proto = IPPROTO_UDP, .sport = 43000,
		   .dport = 53 },
	  .size = 1361, .verdict = XDP_TX, .reason = EBB_R_TX_TOO_BIG, .vip = VU6_K,
	  .expect = X_TOO_BIG, .mtu_field = 1360, .ring = BY_NEW, .pin_consistent = true },
};

/* A lying length is never wrapped as is, nor answered: the frame, not the header, is what came
 * in. Lengths measured on the old code: the 54-byte SYN drew a 106-byte reply (2x). */
static const struct ecase lies_1400[] = {
	{ .name = "mtu 1400: IPIP, a 40-byte SYN claiming 1500 bytes with DF: dropped, no ICMP reply",
	  .pkt = { TCP4(CLI_M, 44000, V44, 80, TH_SYN), .frag = IP4_DF, .ip_len = 1500 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_TRUNCATED, .vip = V44_K,
	  .expect = X_UNTOUCHED },
	{ .name = "mtu 1400: 6-in-6, a 60-byte SYN claiming a 1460-byte payload: dropped, no ICMPv6 reply",
	  .pkt = { TCP6(CLI6_M, 44000, V66, 80, TH_SYN), .ip_len = 1460 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_TRUNCATED, .vip = V66_K,
	  .expect = X_UNTOUCHED },
	{ .name = "mtu 1400: 4-in-6, a 40-byte SYN claiming 1000 bytes (fits): not wrapped as is",
	  .pkt = { TCP4(CLI_M, 44001, V46, 80, TH_SYN), .frag = IP4_DF, .ip_len = 1000 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_TRUNCATED, .vip = V46_K,
	  .expect = X_UNTOUCHED },
	{ .name = "mtu 1400: 6-in-4, a 60-byte SYN claiming a 900-byte payload: not wrapped as is",
	  .pkt = { TCP6(CLI6_M, 44001, V64, 80, TH_SYN), .ip_len = 900 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_TRUNCATED, .vip = V64_K,
	  .expect = X_UNTOUCHED },
};

/* A frame longer than its IP packet (Ethernet pads below 60 bytes; a sender may leave junk
 * after the packet): only the IP packet is wrapped, and the IP length, not the frame's, is
 * checked against the MTU. On the old code the 54-byte frame padded to 1514 left as a
 * 1534-byte frame under mtu 1500. */
static const struct ecase padded_1500[] = {
	{ .name = "mtu 1500: IPIP, 54-byte SYN frame padded to 60: 74 bytes out",
	  .pkt = { TCP4(CLI, 40300, V44, 80, TH_SYN), .frag = IP4_DF }, .pad_to = 60,
	  ENCAP_NEW(V44_K, S_NONE) },
	{ .name = "mtu 1500: IPIP, 54-byte SYN frame padded to 1514: forwarded, 74 bytes out",
	  .pkt = { TCP4(CLI, 40301, V44, 80, TH_SYN), .frag = IP4_DF }, .pad_to = 1514,
	  ENCAP_NEW(V44_K, S_NONE) },
	{ .name = "mtu 1500: IPIP, 54-byte ACK frame padded to 1514 on a pinned flow: 74 bytes out",
	  .pkt = { TCP4(CLI, 40301, V44, 80, TH_ACK), .frag = IP4_DF }, .pad_to = 1514,
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = V44_K, .expect = X_ENCAP,
	  .ring = BY_NEW },
	{ .name = "mtu 1500: 4-in-6, 54-byte SYN frame padded to 60: 94 bytes out",
	  .pkt = { TCP4(CLI, 40300, V46, 80, TH_SYN), .frag = IP4_DF }, .pad_to = 60,
	  ENCAP_NEW(V46_K, S_NONE) },
	{ .name = "mtu 1500: 4-in-6, 54-byte SYN frame padded to 1514: forwarded, 94 bytes out",
	  .pkt = { TCP4(CLI, 40301, V46, 80, TH_SYN), .frag = IP4_DF }, .pad_to = 1514,
	  ENCAP_NEW(V46_K, S_NONE) },
	{ .name = "mtu 1500: 6-in-6, 74-byte SYN frame padded to 1514: forwarded, 114 bytes out",
	  .pkt = { TCP6(CLI6, 40301, V66, 80, TH_SYN) }, .pad_to = 1514, ENCAP_NEW(V66_K, S_NONE) },
	{ .name = "mtu 1500: 6-in-4, 74-byte SYN frame padded to 1514: forwarded, 94 bytes out",
	  .pkt = { TCP6(CLI6, 40301, V64, 80, TH_SYN) }, .pad_to = 1514, ENCAP_NEW(V64_K, S_NONE) },
	{ .name = "mtu 1500: IPIP, 68-byte frame (54-byte IP packet) padded to 1514: 88 bytes out",
	  .pkt = { TCP4(CLI, 40302, V44, 80, TH_SYN), .frag = IP4_DF }, .size = 54, .pad_to = 1514,
	  ENCAP_NEW(V44_K, S_NONE) },
	{ .name = "mtu 1500: 6-in-6, 128-byte frame (114-byte IP packet) padded to 1514: 168 bytes out",
	  .pkt = { TCP6(CLI6, 40302, V66, 80, TH_SYN) }, .size = 114, .pad_to = 1514,
	  ENCAP_NEW(V66_K, S_NONE) },
	{ .name = "mtu 1500: VLAN 7 4-in-6, 58-byte SYN frame padded to 1518: tag kept, 98 bytes out",
	  .pkt = { TCP4(CLI, 40303, V46, 80, TH_SYN), .vlan = 7 }, .pad_to = 1518,
	  ENCAP_NEW(V46_K, S_NONE) },
	{ .name = "mtu 1500: IPIP UDP, 52-byte datagram padded to 1514: 86 bytes out",
	  .pkt = { UDP4(CLI, 5400, VU4, 53) }, .pad_to = 1514, ENCAP_NEW(VU4_K, S_NONE) },
	{ .name = "mtu 1500: 6-in-6 UDP, 72-byte datagram padded to 1514: 126 bytes out",
	  .pkt = { UDP6(CLI6, 5400, VU6, 53) }, .pad_to = 1514, ENCAP_NEW(VU6_K, S_NONE) },
};

/* Whatever settings.mtu holds (ebbctl refuses below 1320, the map does not), an ICMP reply is
 * never larger than the packet it answers: 92 IP bytes for IPv4, 176 for IPv6. */
static const struct ecase tiny_60[] = {
	{ .name = "settings.mtu 60: an 80-byte IPIP packet (DF) would draw a 92-byte reply: dropped",
	  .pkt = { TCP4(CLI_M, 41000, V44, 80, TH_ACK), .frag = IP4_DF }, .size = 80,
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_TOO_BIG, .vip = V44_K, .expect = X_UNTOUCHED,
	  .node_slot = S_44 },
	{ .name = "settings.mtu 60: a 92-byte IPIP packet (DF) draws a 92-byte reply",
	  .pkt = { TCP4(CLI_M, 41000, V44, 80, TH_ACK), .frag = IP4_DF }, .size = 92,
	  .verdict = XDP_TX, .reason = EBB_R_TX_TOO_BIG, .vip = V44_K, .expect = X_TOO_BIG,
	  .mtu_field = 40, .node_slot = S_44 },
};

static const struct ecase tiny_100[] = {
	{ .name = "settings.mtu 100: a 150-byte 6-in-6 packet would draw a 176-byte reply: dropped",
	  .pkt = { TCP6(CLI6_M, 41000, V66, 80, TH_ACK) }, .size = 150, .verdict = XDP_DROP,
	  .reason = EBB_R_DROP_TOO_BIG, .vip = V66_K, .expect = X_UNTOUCHED, .node_slot = S_66 },
	{ .name = "settings.mtu 100: a 176-byte 6-in-6 packet draws a 176-byte reply",
	  .pkt = { TCP6(CLI6_M, 41000, V66, 80, TH_ACK) }, .size = 176, .verdict = XDP_TX,
	  .reason = EBB_R_TX_TOO_BIG, .vip = V66_K, .expect = X_TOO_BIG, .mtu_field = 60,
	  .node_slot = S_66 },
};

static void edge_cases(void)
{
	static const struct {
		__u32 mtu;
		const struct ecase *c;
		size_t n;
	} sets[] = {
		{ 1500, edge_1500, sizeof(edge_1500) / sizeof(edge_1500[0]) },
		{ 1320, edge_1320, sizeof(edge_1320) / sizeof(edge_1320[0]) },
		{ 1319, edge_1319, sizeof(edge_1319) / sizeof(edge_1319[0]) },
		{ 1400, edge_1400, sizeof(edge_1400) / sizeof(edge_1400[0]) },
		{ 1400, lies_1400, sizeof(lies_1400) / sizeof(lies_1400[0]) },
		{ 1500, padded_1500, sizeof(padded_1500) / sizeof(padded_1500[0]) },
		{ 60, tiny_60, sizeof(tiny_60) / sizeof(tiny_60[0]) },
		{ 100, tiny_100, sizeof(tiny_100) / sizeof(tiny_100[0]) },
	};

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		set_mtu(sets[i].mtu);
		for (size_t j = 0; j < sets[i].n; j++)
			run_case(&sets[i].c[j]);
	}
	set_mtu(0);
}

/* ---- round trip: the balancer's output through the decapsulator ---- */
static struct decap_bpf *dskel;

static bool decap_setup(void)
{
	static const char *const prefixes[] = { "203.0.113.0/24", "2001:db8:100::/64" };
	struct ebb_err err = {};

	if (!OPEN_LOAD_UNPINNED(dskel, decap_bpf, "round trip: open the decapsulator skeleton",
				"round trip: load the decapsulator"))
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		struct ebb_decap_key k;
		__u32 one = 1;

		if (!ASSERT_OK(ebb_parse_prefix(prefixes[i], &k, &err) ||
				       bpf_map_update_elem(bpf_map__fd(dskel->maps.decap_prefixes),
							   &k, &one, BPF_NOEXIST),
			       nm("round trip", "decap prefix %s", prefixes[i])))
			return false;
	}
	return true;
}

static void round_trip(const char *n, const struct pkt_desc *d, const char *vip, int pad_to)
{
	uint8_t in[BUF_MAX], mid[BUF_MAX], out[BUF_MAX], want[BUF_MAX];
	int dfd = bpf_program__fd(dskel->progs.ebb_decap);
	int sfd = bpf_map__fd(dskel->maps.decap_stats);
	struct pkt_layout lay = build_frame(d, LB_MAC, GW_MAC, in);
	struct ebb_reason_counter b, a;
	const struct node_cfg *node;
	struct ebb_flow_key key;
	size_t len = lay.len, mid_len = 0, out_len = 0, want_len;
	__u32 verdict = ~0u, vip_id = vip_id_of(vip);

	if (pad_to > (int)len) {
		memset(in + len, 0, pad_to - len);
		len = pad_to;
	}
	key_of(d, &key);
	node = cfg_of_id(ring_node(EBB_RING_NEW(vip_id), ebb_ring_slot(&key)));
	if (!CHECK(node != NULL, "%s", nm(n, "an expected node is known")))
		return;
	if (!ASSERT_OK(prog_run(prog_fd, in, len, mid, sizeof(mid), &mid_len, &verdict),
		       nm(n, "balancer: BPF_PROG_TEST_RUN")))
		return;
	ASSERT_EQ(verdict, XDP_TX, nm(n, "balancer: XDP_TX"));
	ASSERT_EQ(mid_len, lay.len + (family_of(node->addr) == 6 ? 40 : 20),
		  nm(n, "balancer: the frame is the client's IP packet (no padding) and the outer header"));

	percpu_reason_sum(sfd, EBB_D_DECAPSULATED, &b);
	if (!ASSERT_OK(prog_run(dfd, mid, mid_len, out, sizeof(out), &out_len, &verdict),
		       nm(n, "decapsulator: BPF_PROG_TEST_RUN")))
		return;
	percpu_reason_sum(sfd, EBB_D_DECAPSULATED, &a);
	ASSERT_EQ(verdict, XDP_PASS, nm(n, "decapsulator: XDP_PASS"));
	CHECK(a.packets - b.packets == 1 && a.bytes - b.bytes == mid_len, "%s",
	      nm(n, "decapsulator: decapsulated +1 packet, +%zu bytes", mid_len));
	/* [eth to the node, from us, the client's VLAN tag and EtherType][the client's packet] */
	want_len = build_l2(node->mac, LB_MAC, d->vlan,
			    d->family == 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4, want);
	memcpy(want + want_len, in + lay.l3, lay.len - lay.l3);
	want_len += lay.len - lay.l3;
	if (ASSERT_EQ(out_len, want_len, nm(n, "decapsulator: output length %zu", want_len)))
		ASSERT_MEM_EQ(out, want, want_len,
			      nm(n, "decapsulator: output = the client's IP packet, framed to %s",
				 node->addr));
}

static void round_trips(void)
{
	static const struct {
		const char *name;
		struct pkt_desc d;
		const char *vip;
		int pad_to;
	} rt[] = {
		{ "round trip: IPIP SYN", { TCP4(CLI_RT, 42000, V44, 80, TH_SYN), .frag = IP4_DF },
		  V44_K, 0 },
		{ "round trip: IPIP ACK with 1000 bytes",
		  { TCP4(CLI_RT, 42001, V44, 80, TH_ACK), .payload = 1000 }, V44_K, 0 },
		{ "round trip: 4-in-6 SYN", { TCP4(CLI_RT, 42000, V46, 80, TH_SYN) }, V46_K, 0 },
		{ "round trip: 6-in-6 SYN", { TCP6(CLI6_RT, 42000, V66, 80, TH_SYN) }, V66_K, 0 },
		{ "round trip: 6-in-4 SYN", { TCP6(CLI6_RT, 42000, V64, 80, TH_SYN) }, V64_K, 0 },
		{ "round trip: IPIP UDP", { UDP4(CLI_RT, 42000, VU4, 53) }, VU4_K, 0 },
		{ "round trip: 6-in-6 UDP", { UDP6(CLI6_RT, 42000, VU6, 53) }, VU6_K, 0 },
		{ "round trip: VLAN 100 4-in-6 SYN",
		  { TCP4(CLI_RT, 42002, V46, 80, TH_SYN), .vlan = 100 }, V46_K, 0 },
		{ "round trip: VLAN 100 6-in-4 SYN",
		  { TCP6(CLI6_RT, 42002, V64, 80, TH_SYN), .vlan = 100 }, V64_K, 0 },
		{ "round trip: IPIP SYN in a padded 60-byte frame",
		  { TCP4(CLI_RT, 42003, V44, 80, TH_SYN) }, V44_K, 60 },
		{ "round trip: IPIP SYN in a frame padded to 1514 bytes",
		  { TCP4(CLI_RT, 42004, V44, 80, TH_SYN) }, V44_K, 1514 },
		{ "round trip: 4-in-6 SYN in a padded 60-byte frame",
		  { TCP4(CLI_RT, 42003, V46, 80, TH_SYN) }, V46_K, 60 },
		{ "round trip: 6-in-6 SYN in a frame padded to 1514 bytes",
		  { TCP6(CLI6_RT, 42003, V66, 80, TH_SYN) }, V66_K, 1514 },
		{ "round trip: 6-in-4 SYN in a frame padded to 1514 bytes",
		  { TCP6(CLI6_RT, 42003, V64, 80, TH_SYN) }, V64_K, 1514 },
	};

	if (!decap_setup())
		return;
	for (size_t i = 0; i < sizeof(rt) / sizeof(rt[0]); i++)
		round_trip(rt[i].name, &rt[i].d, rt[i].vip, rt[i].pad_to);
}

/* ---- setup ---- */
static bool setup(void)
{
	struct ebb_err err = {};

	if (!balancer_setup())
		return false;
	for (size_t i = 0; i < sizeof(vip_cfg) / sizeof(vip_cfg[0]); i++) {
		struct ebb_vip_opts o = { .fwd = vip_cfg[i].fwd };
		struct ebb_vip_key k;
		struct ebb_vip v;

		if (o.fwd == EBB_FWD_IPIP) {
			pkt_addr(SRC4, 4, (uint8_t *)&o.encap_src4);
			pkt_addr(SRC6, 6, (uint8_t *)o.encap_src6);
		}
		if (!ASSERT_OK(ebb_parse_vip(vip_cfg[i].key, &k, &err) ||
				       ebb_vip_add(&e, &k, &o, &err),
			       nm("setup", "vip add %s fwd %s", vip_cfg[i].key,
				  ebb_fwd_name(vip_cfg[i].fwd)))) {
			printf("#   %s\n", err.msg);
			return false;
		}
		if (!ASSERT_OK(ebb_vip_find(&e, &k, &v), nm("setup", "VIP %s found", vip_cfg[i].key)))
			return false;
		ASSERT_EQ(v.fwd, vip_cfg[i].fwd, nm("setup", "VIP %s fwd stored", vip_cfg[i].key));
	}
	for (size_t i = 0; i < N_NODES; i++) {
		struct node_cfg *c = &node_cfg[i];

		if (!ASSERT_OK(add_node(c->addr, c->vip, c->mac, false, &c->id, &err),
			       nm("setup", "node add %s vip %s", c->addr, c->vip))) {
			printf("#   %s\n", err.msg);
			return false;
		}
	}
	return true;
}

int main(void)
{
	if (!suite_start("encap"))
		return 0;
	if (setup()) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			run_case(&cases[i]);
		mtu_cases(1500);
		mtu_cases(1400);
		mtu_cases(0);
		edge_cases();
		round_trips();
	}
	decap_bpf__destroy(dskel);
	balancer_teardown();
	return test_summary("encap");
}
