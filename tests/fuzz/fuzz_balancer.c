// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer harness over the real balancer (bpf/balancer.bpf.c), run by BPF_PROG_TEST_RUN: each
 * input is one Ethernet frame. The program is loaded once, unpinned, from its skeleton and
 * configured through libebb: dsr and ipip VIPs of both families, TCP, UDP, a port-0 VIP, a VIP
 * whose only node is inactive, a few nodes of which two drain. The flow table carries over from
 * input to input, as it would on a host.
 *
 * What the program does with a frame is judged against an oracle written here from the RFCs and
 * doc/datapath.md's "Decisions", independently of bpf/ (it shares no code with it):
 *  - a frame not addressed to a VIP address, or too short to tell, is passed untouched;
 *  - a malformed one to a VIP address is dropped with a malformed-packet reason;
 *  - XDP_TX only of a well-formed packet of a configured VIP, to one of that VIP's nodes which
 *    takes flows (a SYN never to a draining node): dsr: the frame byte-identical except the
 *    MACs; ipip: [eth][outer header, valid, checksum right][the input's IP packet, identical,
 *    and nothing after it: trailing bytes of the frame are not wrapped];
 *  - an ICMP too-big reply only where the packet does not fit the tunnel, never larger than the
 *    frame it answers, its headers, checksums and quote right;
 *  - XDP_PASS leaves every byte as it came;
 *  - exactly one reason counter moves per frame, by the frame's length; every 1024 frames, the
 *    node counters add up to `forwarded` and the VIP counters to what reached a VIP.
 * A violation prints what was seen and aborts: libFuzzer keeps the input as a crash artifact.
 *
 * The BPF program's own branches are invisible to libFuzzer's coverage, so the outcome (verdict,
 * reason, the oracle's class) is fed back as extra counters: an input that reaches a new reason
 * is kept in the corpus.
 *
 * Seeds: the unit tests' frames (tests/fuzz/fuzz.sh runs them with EBB_SEED_DIR set).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define FIXTURE_BALANCER
#include "fixture.h"

#define MTU 1400
#define FLOOD_RATE 2000 /* per CPU per second: both sides of the flood guard get fuzzed */
#define SRC4 "192.0.2.1"
#define SRC6 "2001:db8:eb::1"

/* ---- the configuration ---- */
struct fnode {
	const char *addr;
	uint8_t state; /* EBB_NODE_* to end in */
	__u32 id;
	struct ebb_addr a;
	uint8_t mac[6];
};

static struct fnode nodes[] = {
	{ .addr = "198.51.100.11", .state = EBB_NODE_ACTIVE },
	{ .addr = "198.51.100.12", .state = EBB_NODE_ACTIVE },
	{ .addr = "198.51.100.13", .state = EBB_NODE_DRAINING },
	{ .addr = "198.51.100.21", .state = EBB_NODE_ACTIVE },
	{ .addr = "198.51.100.22", .state = EBB_NODE_ACTIVE },
	{ .addr = "198.51.100.41", .state = EBB_NODE_ACTIVE },
	{ .addr = "198.51.100.42", .state = EBB_NODE_ACTIVE },
	{ .addr = "198.51.100.51", .state = EBB_NODE_ACTIVE },
	{ .addr = "198.51.100.52", .state = EBB_NODE_ACTIVE },
	{ .addr = "198.51.100.61", .state = EBB_NODE_INACTIVE },
	{ .addr = "198.51.100.31", .state = EBB_NODE_ACTIVE },
	{ .addr = "198.51.100.32", .state = EBB_NODE_ACTIVE },
	{ .addr = "198.51.100.33", .state = EBB_NODE_DRAINING },
	{ .addr = "2001:db8:200::1", .state = EBB_NODE_ACTIVE },
	{ .addr = "2001:db8:200::2", .state = EBB_NODE_ACTIVE },
	{ .addr = "2001:db8:200::41", .state = EBB_NODE_ACTIVE },
	{ .addr = "2001:db8:200::31", .state = EBB_NODE_ACTIVE },
};
#define N_NODES (sizeof(nodes) / sizeof(nodes[0]))

#define MAX_MEMBERS 4
struct fvip {
	const char *key;
	uint8_t fwd;
	const char *members[MAX_MEMBERS];
	struct ebb_vip_key k;
	__u32 id;
	int node_family; /* all of a VIP's nodes are of one family: the outer header's */
	bool has_active;
};

/* The unit tests' VIP addresses, so that their frames reach a VIP here too. */
static struct fvip vips[] = {
	{ .key = "203.0.113.10:80/tcp", .fwd = EBB_FWD_DSR,
	  .members = { "198.51.100.11", "198.51.100.12", "198.51.100.13" } },
	{ .key = "203.0.113.20:80/tcp", .fwd = EBB_FWD_DSR,
	  .members = { "198.51.100.21", "198.51.100.22" } },
	{ .key = "203.0.113.40:53/udp", .fwd = EBB_FWD_DSR,
	  .members = { "198.51.100.41", "198.51.100.42" } },
	{ .key = "[2001:db8:100::10]:80/tcp", .fwd = EBB_FWD_DSR,
	  .members = { "2001:db8:200::1", "2001:db8:200::2" } },
	{ .key = "[2001:db8:100::40]:53/udp", .fwd = EBB_FWD_DSR,
	  .members = { "2001:db8:200::41" } },
	{ .key = "203.0.113.50:0/tcp", .fwd = EBB_FWD_DSR,
	  .members = { "198.51.100.51" } },
	{ .key = "203.0.113.50:443/tcp", .fwd = EBB_FWD_DSR,
	  .members = { "198.51.100.52" } },
	{ .key = "203.0.113.61:80/tcp", .fwd = EBB_FWD_DSR,
	  .members = { "198.51.100.61" } },
	{ .key = "203.0.113.30:80/tcp", .fwd = EBB_FWD_IPIP,
	  .members = { "198.51.100.31", "198.51.100.32", "198.51.100.33" } },
	{ .key = "203.0.113.11:80/tcp", .fwd = EBB_FWD_IPIP,
	  .members = { "2001:db8:200::1", "2001:db8:200::2" } },
	{ .key = "203.0.113.12:53/udp", .fwd = EBB_FWD_IPIP,
	  .members = { "198.51.100.31" } },
	{ .key = "[2001:db8:100::11]:80/tcp", .fwd = EBB_FWD_IPIP,
	  .members = { "198.51.100.21", "198.51.100.22" } },
	{ .key = "[2001:db8:100::12]:53/udp", .fwd = EBB_FWD_IPIP,
	  .members = { "2001:db8:200::31" } },
};
#define N_VIPS (sizeof(vips) / sizeof(vips[0]))

static uint8_t encap_src4[4], encap_src6[16];

/* ---- feedback to libFuzzer: the outcome as coverage ---- */
#define N_CLASSES 4
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t
	outcome_counters[5 /* verdicts */ * EBB_R_SLOTS * N_CLASSES];

__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t
	node_counters[N_NODES * 4]; /* which node, SYN or not, ICMP error or not */

/* ---- statistics for the report ---- */
static unsigned long long n_inputs, n_by_reason[EBB_R_SLOTS];

static void report(void)
{
	fprintf(stderr, "#fuzz: %llu frames judged; by reason:", n_inputs);
	for (__u32 r = 0; r < EBB_R_MAX; r++)
		if (n_by_reason[r])
			fprintf(stderr, " %s=%llu", ebb_reason_name(r), n_by_reason[r]);
	fprintf(stderr, "\n");
}

/* ---- the oracle ---- */
enum cls {
	C_PASS, /* not ours: XDP_PASS untouched */
	C_MALFORMED, /* to a VIP address, malformed: dropped */
	C_VIP_ADDR, /* to a VIP address, well-formed, but no VIP for it: XDP_PASS untouched */
	C_OURS, /* a packet (or ICMP error) of a VIP flow */
	C_CLAIM, /* protocol 253 to an encap source: a claim, which no input can make good (no node
		  * runs the node program, and the cookie's key is random): dropped */
};

static const char *const cls_name[] = { "not ours", "malformed to a VIP address",
					"VIP address, no VIP", "a VIP's", "a claim" };

struct view {
	size_t l2, l3, ip_len;
	int family;
	bool df, icmp_err, syn_only;
	const struct fvip *vip;
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* RFC 1071 over len bytes, len even. */
static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += rd16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static bool addr_is_vip(const uint8_t *a, int family)
{
	for (size_t i = 0; i < N_VIPS; i++)
		if ((vips[i].k.family == EBB_FAMILY_V6) == (family == 6) &&
		    !memcmp(vips[i].k.addr, a, family == 6 ? 16 : 4))
			return true;
	return false;
}

static const struct fvip *vip_of(const uint8_t *a, int family, uint16_t port, uint8_t proto)
{
	const struct fvip *any = NULL;

	for (size_t i = 0; i < N_VIPS; i++) {
		const struct ebb_vip_key *k = &vips[i].k;

		if ((k->family == EBB_FAMILY_V6) != (family == 6) || k->proto != proto ||
		    memcmp(k->addr, a, family == 6 ? 16 : 4))
			continue;
		if (ntohs(k->port) == port)
			return &vips[i];
		if (!k->port)
			any = &vips[i];
	}
	return any;
}

/* TCP / UDP header of l4_len bytes (as the IP header says; the frame holds them). */
static bool l4_ok(const uint8_t *l4, size_t l4_len, uint8_t proto)
{
	if (proto == IPPROTO_TCP)
		return l4_len >= 20 && (l4[12] >> 4) >= 5 && (size_t)(l4[12] >> 4) * 4 <= l4_len;
	return l4_len >= 8 && rd16(l4 + 4) >= 8 && rd16(l4 + 4) <= l4_len;
}

/* An ICMP(v6) error's quote at q (msg_len bytes of ICMP message from its header on, frame_left
 * bytes of frame from the ICMP header on): the node's reply, from dst (the address the error
 * was sent to). The VIP it concerns, via *vip; false when the quote is unusable. */
static bool quote_ok(const uint8_t *icmp, size_t msg_len, size_t frame_left, int family,
		     const uint8_t *dst, const struct fvip **vip)
{
	const uint8_t *q = icmp + 8;
	size_t qhl;
	uint8_t proto;

	if (family == 4) {
		if (frame_left < 8 + 20 || q[0] >> 4 != 4 || (q[0] & 0xf) < 5)
			return false;
		qhl = (size_t)(q[0] & 0xf) * 4;
		proto = q[9];
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
			return false;
		if (memcmp(q + 12, dst, 4)) /* from another address: forged */
			return false;
		if (8 + qhl + 4 > msg_len || 8 + qhl + 4 > frame_left)
			return false;
		*vip = vip_of(q + 12, 4, rd16(q + qhl), proto);
		return true;
	}
	if (frame_left < 8 + 40 || q[0] >> 4 != 6)
		return false;
	proto = q[6];
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return false;
	if (memcmp(q + 8, dst, 16))
		return false;
	if (8 + 40 + 4 > msg_len)
		return false;
	*vip = vip_of(q + 8, 6, rd16(q + 40), proto);
	return true;
}

static enum cls classify(const uint8_t *f, size_t len, struct view *v)
{
	uint16_t type;
	size_t l3;

	memset(v, 0, sizeof(*v));
	if (len < 14)
		return C_PASS;
	type = rd16(f + 12);
	l3 = 14;
	if (type == 0x8100 || type == 0x88a8) {
		if (len < 18)
			return C_PASS;
		type = rd16(f + 16);
		l3 = 18;
	}
	v->l2 = v->l3 = l3;
	if (type == 0x0800) {
		const uint8_t *ip = f + l3;
		size_t hl, tot, l4_len;
		const uint8_t *l4;

		if (len < l3 + 20)
			return C_PASS;
		if (!addr_is_vip(ip + 16, 4))
			return ip[9] == 253 && !memcmp(ip + 16, encap_src4, 4) ? C_CLAIM : C_PASS;
		v->family = 4;
		hl = (size_t)(ip[0] & 0xf) * 4;
		tot = rd16(ip + 2);
		if (ip[0] >> 4 != 4 || hl < 20 || tot > len - l3 || tot < hl)
			return C_MALFORMED;
		if (fold(sum16(0, ip, hl)) != 0)
			return C_MALFORMED;
		if (rd16(ip + 6) & 0x3fff) /* MF or an offset: a fragment */
			return C_MALFORMED;
		v->ip_len = tot;
		v->df = rd16(ip + 6) & 0x4000;
		l4 = ip + hl;
		l4_len = tot - hl;
		if (ip[9] == IPPROTO_TCP || ip[9] == IPPROTO_UDP) {
			if (!l4_ok(l4, l4_len, ip[9]))
				return C_MALFORMED;
			v->syn_only = ip[9] == IPPROTO_TCP && (l4[13] & 0x12) == 0x02;
			v->vip = vip_of(ip + 16, 4, rd16(l4 + 2), ip[9]);
			return v->vip ? C_OURS : C_VIP_ADDR;
		}
		if (ip[9] != IPPROTO_ICMP)
			return C_VIP_ADDR;
		if (l4_len < 8)
			return C_MALFORMED;
		if (l4[0] != 3) /* only destination unreachable concerns a flow */
			return C_VIP_ADDR;
		if (!quote_ok(l4, l4_len, len - (size_t)(l4 - f), 4, ip + 16, &v->vip))
			return C_MALFORMED;
		v->icmp_err = true;
		return v->vip ? C_OURS : C_VIP_ADDR;
	}
	if (type == 0x86dd) {
		const uint8_t *ip = f + l3, *l4 = f + l3 + 40;
		size_t plen;

		if (len < l3 + 40)
			return C_PASS;
		if (!addr_is_vip(ip + 24, 6))
			return ip[6] == 253 && !memcmp(ip + 24, encap_src6, 16) ? C_CLAIM : C_PASS;
		v->family = 6;
		plen = rd16(ip + 4);
		if (ip[0] >> 4 != 6 || plen > len - l3 - 40)
			return C_MALFORMED;
		v->ip_len = plen + 40;
		switch (ip[6]) {
		case IPPROTO_TCP:
		case IPPROTO_UDP:
			if (!l4_ok(l4, plen, ip[6]))
				return C_MALFORMED;
			v->syn_only = ip[6] == IPPROTO_TCP && (l4[13] & 0x12) == 0x02;
			v->vip = vip_of(ip + 24, 6, rd16(l4 + 2), ip[6]);
			return v->vip ? C_OURS : C_VIP_ADDR;
		case 58:
			if (plen < 8)
				return C_MALFORMED;
			if (l4[0] != 1 && l4[0] != 2) /* unreachable, packet too big */
				return C_VIP_ADDR;
			if (!quote_ok(l4, plen, len - (size_t)(l4 - f), 6, ip + 24, &v->vip))
				return C_MALFORMED;
			v->icmp_err = true;
			return v->vip ? C_OURS : C_VIP_ADDR;
		case 0: case 43: case 44: case 50: case 51: case 60: case 135:
			return C_MALFORMED; /* fragments and extension headers: dropped by decision */
		default:
			return C_VIP_ADDR;
		}
	}
	return C_PASS;
}

/* ---- judging one run ---- */
static const uint8_t *cur_in;
static size_t cur_len;

static void hexdump(const char *what, const uint8_t *p, size_t len)
{
	fprintf(stderr, "%s (%zu bytes):", what, len);
	for (size_t i = 0; i < len; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", p[i]);
	fprintf(stderr, "\n");
}

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void violation(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\n==ebb-fuzz== INVARIANT VIOLATED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	hexdump("input frame", cur_in, cur_len);
	report();
	abort();
}

static bool is_pass_reason(__u32 r)
{
	return r == EBB_R_PASS_NOT_IP || r == EBB_R_PASS_NOT_VIP || r == EBB_R_PASS_TRUNCATED ||
	       r == EBB_R_PASS_ICMP;
}

static bool is_malformed_reason(__u32 r)
{
	switch (r) {
	case EBB_R_DROP_TRUNCATED: case EBB_R_DROP_BAD_IHL: case EBB_R_DROP_FRAGMENT:
	case EBB_R_DROP_IPV6_EXT: case EBB_R_DROP_BAD_ICMP: case EBB_R_DROP_BAD_VERSION:
	case EBB_R_DROP_BAD_LENGTH: case EBB_R_DROP_BAD_L4: case EBB_R_DROP_BAD_CSUM:
	case EBB_R_DROP_ICMP_FOREIGN:
		return true;
	}
	return false;
}

static const struct fnode *node_by_mac(const uint8_t *mac)
{
	for (size_t i = 0; i < N_NODES; i++)
		if (!memcmp(nodes[i].mac, mac, 6))
			return &nodes[i];
	return NULL;
}

static bool is_member(const struct fvip *vip, const struct fnode *n)
{
	for (int i = 0; i < MAX_MEMBERS && vip->members[i]; i++)
		if (!strcmp(vip->members[i], n->addr))
			return true;
	return false;
}

/* The forwarded frame's node: a member of the VIP that takes flows; a SYN not a draining one. */
static const struct fnode *check_node(const struct view *v, const uint8_t *mac)
{
	const struct fnode *n = node_by_mac(mac);

	if (!n)
		violation("forwarded to MAC %02x:%02x:%02x:%02x:%02x:%02x, no configured node's",
			  mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	if (!is_member(v->vip, n))
		violation("forwarded to %s, not a node of VIP %s", n->addr, v->vip->key);
	if (n->state != EBB_NODE_ACTIVE && n->state != EBB_NODE_DRAINING)
		violation("forwarded to %s, which is %s", n->addr, ebb_state_name(n->state));
	if (v->syn_only && !v->icmp_err && n->state == EBB_NODE_DRAINING)
		violation("a SYN placed on draining node %s", n->addr);
	return n;
}

static void check_dsr(const struct view *v, const uint8_t *in, size_t len, const uint8_t *out,
		      size_t out_len)
{
	if (out_len != len)
		violation("dsr output is %zu bytes, input %zu", out_len, len);
	check_node(v, out);
	if (memcmp(out + 6, in, 6))
		violation("dsr output's source MAC is not the input's destination MAC");
	if (memcmp(out + 12, in + 12, len - 12))
		violation("dsr changed bytes past the MACs");
}

static void check_ipip(const struct view *v, const uint8_t *in, size_t len, const uint8_t *out,
		       size_t out_len)
{
	const struct fnode *n;
	size_t outer = v->vip->node_family == 6 ? 40 : 20;
	const uint8_t *o = out + v->l2;

	/* The IP packet only: what follows it in the frame (padding, junk) is not wrapped. */
	if (out_len != v->l2 + outer + v->ip_len)
		violation("ipip output is %zu bytes, not L2 %zu + outer %zu + IP packet %zu (frame %zu)",
			  out_len, v->l2, outer, v->ip_len, len);
	n = check_node(v, out);
	if (memcmp(out + 6, in, 6))
		violation("ipip output's source MAC is not the input's destination MAC");
	if (v->l2 == 18 && memcmp(out + 12, in + 12, 4))
		violation("ipip output lost the VLAN tag");
	if (rd16(out + v->l2 - 2) != (outer == 40 ? 0x86dd : 0x0800))
		violation("ipip output's EtherType is not the outer family's");
	if (outer == 20) {
		if (o[0] != 0x45 || rd16(o + 2) != v->ip_len + 20 || (rd16(o + 6) & 0xbfff) ||
		    o[9] != (v->family == 6 ? 41 : 4) || fold(sum16(0, o, 20)) != 0 ||
		    memcmp(o + 12, encap_src4, 4) || memcmp(o + 16, n->a.a, 4))
			violation("bad outer IPv4 header");
	} else {
		if (o[0] >> 4 != 6 || rd16(o + 4) != v->ip_len || o[6] != (v->family == 6 ? 41 : 4) ||
		    memcmp(o + 8, encap_src6, 16) || memcmp(o + 24, n->a.a, 16))
			violation("bad outer IPv6 header");
	}
	if (memcmp(o + outer, in + v->l3, v->ip_len))
		violation("the encapsulated packet differs from the input's IP packet");
}

static void check_too_big(const struct view *v, const uint8_t *in, size_t len, const uint8_t *out,
			  size_t out_len)
{
	size_t quote = v->family == 6 ? 128 : 64, hl = v->family == 6 ? 40 : 20;
	size_t want = v->l2 + hl + 8 + quote;
	const uint8_t *ip = out + v->l2, *icmp = ip + hl, *orig = in + v->l3;
	uint32_t mtu_field = MTU - (v->vip->node_family == 6 ? 40 : 20);

	if (out_len > len)
		violation("ICMP reply of %zu bytes to a %zu-byte frame (amplification)", out_len, len);
	if (out_len != want)
		violation("ICMP reply of %zu bytes, want %zu", out_len, want);
	if (memcmp(out, in + 6, 6) || memcmp(out + 6, in, 6))
		violation("ICMP reply's MACs are not the input's, swapped");
	if (v->l2 == 18 && memcmp(out + 12, in + 12, 4))
		violation("ICMP reply lost the VLAN tag");
	if (v->family == 4) {
		if (ip[0] != 0x45 || rd16(ip + 2) != 92 || ip[9] != 1 || fold(sum16(0, ip, 20)) ||
		    memcmp(ip + 12, orig + 16, 4) || memcmp(ip + 16, orig + 12, 4))
			violation("bad ICMP reply IPv4 header");
		if (icmp[0] != 3 || icmp[1] != 4 || rd16(icmp + 6) != mtu_field ||
		    fold(sum16(0, icmp, 8 + quote)))
			violation("bad ICMP frag-needed header or checksum");
	} else {
		uint8_t ph[40] = {};

		memcpy(ph, ip + 8, 32);
		ph[35] = 8 + 128;
		ph[39] = 58;
		if (ip[0] >> 4 != 6 || rd16(ip + 4) != 136 || ip[6] != 58 ||
		    memcmp(ip + 8, orig + 24, 16) || memcmp(ip + 24, orig + 8, 16))
			violation("bad ICMPv6 reply IPv6 header");
		if (icmp[0] != 2 || icmp[1] || rd16(icmp + 4) || rd16(icmp + 6) != mtu_field ||
		    fold(sum16(sum16(0, ph, 40), icmp, 8 + quote)))
			violation("bad ICMPv6 packet-too-big header or checksum");
	}
	if (memcmp(icmp + 8, orig, quote))
		violation("ICMP reply's quote is not the start of the input's packet");
}

static void judge(enum cls c, const struct view *v, __u32 verdict, __u32 reason,
		  const uint8_t *in, size_t len, const uint8_t *out, size_t out_len)
{
	bool tx_reason = reason == EBB_R_FORWARDED || reason == EBB_R_TX_TOO_BIG ||
			 reason == EBB_R_RESCUED || reason == EBB_R_RESCUE_LIMITED ||
			 reason == EBB_R_RESCUE_TOO_BIG || reason == EBB_R_CLAIMED;

	if ((verdict == XDP_TX) != tx_reason || (verdict == XDP_PASS) != is_pass_reason(reason) ||
	    (verdict != XDP_TX && verdict != XDP_PASS && verdict != XDP_DROP))
		violation("verdict %s with reason %s", verdict_name(verdict), ebb_reason_name(reason));
	if (verdict == XDP_PASS && (out_len != len || memcmp(out, in, len)))
		violation("XDP_PASS changed the frame");

	switch (c) {
	case C_PASS:
	case C_VIP_ADDR:
		if (verdict != XDP_PASS)
			violation("%s frame: %s (%s), want XDP_PASS", cls_name[c],
				  verdict_name(verdict), ebb_reason_name(reason));
		return;
	case C_MALFORMED:
		if (verdict != XDP_DROP || !is_malformed_reason(reason))
			violation("malformed frame to a VIP address: %s (%s), want a malformed-packet drop",
				  verdict_name(verdict), ebb_reason_name(reason));
		return;
	case C_CLAIM:
		if (verdict != XDP_DROP || reason != EBB_R_DROP_BAD_CLAIM)
			violation("protocol 253 to an encap source: %s (%s), want drop_bad_claim",
				  verdict_name(verdict), ebb_reason_name(reason));
		return;
	case C_OURS:
		break;
	}

	bool ipip = v->vip->fwd == EBB_FWD_IPIP;
	bool too_big = ipip && v->ip_len + (v->vip->node_family == 6 ? 40 : 20) > MTU;
	size_t reply_ip = v->family == 6 ? 40 + 8 + 128 : 20 + 8 + 64;

	if (is_malformed_reason(reason) || verdict == XDP_PASS)
		violation("well-formed packet of VIP %s: %s (%s)", v->vip->key, verdict_name(verdict),
			  ebb_reason_name(reason));
	if (reason == EBB_R_DROP_NO_NODE) {
		if (v->vip->has_active)
			violation("drop_no_node for VIP %s, which has active nodes", v->vip->key);
		return;
	}
	if (!v->vip->has_active) /* no flow can be pinned to its nodes either */
		violation("VIP %s has no active node: %s, want drop_no_node", v->vip->key,
			  ebb_reason_name(reason));
	if (reason == EBB_R_DROP_NO_MAC || reason == EBB_R_DROP_ENCAP)
		violation("%s: every node has a MAC and the frame has headroom", ebb_reason_name(reason));
	if (!too_big) {
		if (reason != EBB_R_FORWARDED)
			violation("a packet of VIP %s that fits: %s", v->vip->key, ebb_reason_name(reason));
		if (ipip)
			check_ipip(v, in, len, out, out_len);
		else
			check_dsr(v, in, len, out, out_len);
		return;
	}
	/* too big for the tunnel: an ICMP error, a fragmentable IPv4 packet or one shorter than
	 * the reply is dropped; the rest is answered */
	if (v->icmp_err || (v->family == 4 && !v->df) || v->ip_len < reply_ip) {
		if (reason != EBB_R_DROP_TOO_BIG)
			violation("too big, not to be answered: %s, want drop_too_big",
				  ebb_reason_name(reason));
		return;
	}
	if (reason != EBB_R_TX_TOO_BIG)
		violation("too big for the tunnel: %s, want tx_icmp_too_big", ebb_reason_name(reason));
	check_too_big(v, in, len, out, out_len);
}

/* ---- counters ---- */
static int ncpus;
static struct ebb_reason_counter reasons_before[EBB_R_SLOTS];

static void read_reasons(struct ebb_reason_counter *sum)
{
	struct ebb_reason_counter vals[EBB_R_SLOTS * 64];
	__u32 keys[EBB_R_SLOTS], count = EBB_R_SLOTS, out_batch;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int err;

	if (ncpus > 64)
		abort();
	err = bpf_map_lookup_batch(e.reasons_fd, NULL, &out_batch, keys, vals, &count, &opts);
	if (err && errno != ENOENT)
		violation("reading the reasons map: %s", strerror(errno));
	memset(sum, 0, sizeof(*sum) * EBB_R_SLOTS);
	for (__u32 i = 0; i < count; i++)
		for (int c = 0; c < ncpus; c++) {
			sum[keys[i]].packets += vals[i * ncpus + c].packets;
			sum[keys[i]].bytes += vals[i * ncpus + c].bytes;
		}
}

/* Every frame counted once; node counters = forwarded; VIP counters = what reached a VIP. */
static void check_totals(void)
{
	struct ebb_reason_counter r[EBB_R_SLOTS];
	unsigned long long pk = 0, node_pk = 0, vip_pk = 0, want_vip;

	read_reasons(r);
	for (__u32 i = 0; i < EBB_R_SLOTS; i++)
		pk += r[i].packets;
	if (pk != n_inputs)
		violation("reason counters total %llu packets, %llu frames were run", pk, n_inputs);
	for (size_t i = 0; i < N_NODES; i++) {
		struct ebb_counters c;

		if (!ebb_counters_sum(e.node_stats_fd, nodes[i].id, &c))
			node_pk += c.packets;
	}
	for (size_t i = 0; i < N_VIPS; i++) {
		struct ebb_counters c;

		if (!ebb_counters_sum(e.vip_stats_fd, vips[i].id, &c))
			vip_pk += c.packets;
	}
	if (node_pk != r[EBB_R_FORWARDED].packets)
		violation("node counters total %llu packets, forwarded %llu", node_pk,
			  (unsigned long long)r[EBB_R_FORWARDED].packets);
	want_vip = r[EBB_R_FORWARDED].packets + r[EBB_R_TX_TOO_BIG].packets +
		   r[EBB_R_DROP_TOO_BIG].packets + r[EBB_R_DROP_NO_NODE].packets +
		   r[EBB_R_DROP_NO_MAC].packets + r[EBB_R_DROP_ENCAP].packets;
	if (vip_pk != want_vip)
		violation("VIP counters total %llu packets, %llu reached a VIP", vip_pk, want_vip);
}

/* ---- setup ---- */
static void die(const char *what, const struct ebb_err *err)
{
	fprintf(stderr, "fuzz setup: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

static struct fnode *node_named(const char *addr)
{
	for (size_t i = 0; i < N_NODES; i++)
		if (!strcmp(nodes[i].addr, addr))
			return &nodes[i];
	abort();
}

static void setup(void)
{
	struct ebb_settings s = { .flood_rate = FLOOD_RATE, .mtu = MTU };
	struct ebb_err err = {};
	__u32 zero = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "fuzz setup: needs root (BPF_PROG_TEST_RUN)\n");
		exit(1);
	}
	libbpf_set_print(libbpf_quiet);
	ncpus = libbpf_num_possible_cpus();
	if (!balancer_setup())
		die("loading the balancer", NULL);
	pkt_addr(SRC4, 4, encap_src4);
	pkt_addr(SRC6, 6, encap_src6);
	/* C_CLAIM holds only while no VIP address shares an encap source's vip_filter bit (such a
	 * frame would be parsed as a VIP's first, and its malformed ones passed as not ours) */
	for (size_t i = 0; i < N_VIPS; i++) {
		struct ebb_vip_key k;
		__be32 s4[4] = {}, s6[4];

		memcpy(s4, encap_src4, 4);
		memcpy(s6, encap_src6, 16);
		if (ebb_parse_vip(vips[i].key, &k, &err))
			die(vips[i].key, &err);
		if (ebb_vip_filter_bit(k.addr, k.family) ==
		    ebb_vip_filter_bit(k.family == EBB_FAMILY_V6 ? s6 : s4, k.family))
			die("an encap source shares a VIP's filter bit: choose another SRC4/SRC6", NULL);
	}
	for (size_t i = 0; i < N_NODES; i++) {
		nodes[i].mac[0] = 0x02;
		nodes[i].mac[4] = 0xf0;
		nodes[i].mac[5] = (uint8_t)(i + 1);
		if (ebb_parse_addr(nodes[i].addr, &nodes[i].a, &err))
			die(nodes[i].addr, &err);
	}
	for (size_t i = 0; i < N_VIPS; i++) {
		struct fvip *v = &vips[i];
		struct ebb_vip_opts o = { .fwd = v->fwd };
		struct ebb_vip got;

		memcpy(&o.encap_src4, encap_src4, 4);
		memcpy(o.encap_src6, encap_src6, 16);
		if (ebb_parse_vip(v->key, &v->k, &err) || ebb_vip_add(&e, &v->k, &o, &err))
			die(v->key, &err);
		if (ebb_vip_find(&e, &v->k, &got))
			die(v->key, NULL);
		v->id = got.id;
		for (int m = 0; m < MAX_MEMBERS && v->members[m]; m++) {
			struct fnode *n = node_named(v->members[m]);

			if (add_node(n->addr, v->key, n->mac, n->state == EBB_NODE_INACTIVE, &n->id,
				     &err))
				die(n->addr, &err);
			v->node_family = n->a.family == EBB_FAMILY_V6 ? 6 : 4;
			v->has_active |= n->state == EBB_NODE_ACTIVE;
		}
	}
	for (size_t i = 0; i < N_NODES; i++)
		if (nodes[i].state == EBB_NODE_DRAINING &&
		    ebb_node_set_state(&e, &nodes[i].a, EBB_NODE_DRAINING, 0, &err))
			die(nodes[i].addr, &err);
	if (bpf_map_update_elem(e.settings_fd, &zero, &s, BPF_ANY))
		die("settings", NULL);
	read_reasons(reasons_before);
}

/*
 * Random bytes rarely make a packet a VIP would take: most die on the header checksum or a length
 * field. After libFuzzer's own mutation, half the inputs are repaired a little (addressed to one
 * of the VIP addresses, lengths made to agree with the frame, the checksum recomputed), so that
 * the deeper paths are fuzzed too; each repair is partial and random, so lies still get through.
 */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	size_t l3 = 14, hl;
	uint8_t *ip;

	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 2 || size < 14)
		return size;
	seed /= 2;
	if (rd16(data + 12) == 0x8100 && size >= 18)
		l3 = 18;
	ip = data + l3;
	if (rd16(data + l3 - 2) == 0x0800 && size >= l3 + 20) {
		if (seed & 1)
			memcpy(ip + 16, vips[(seed >> 4) % N_VIPS].k.addr, 4);
		if ((seed & 2) && vips[(seed >> 4) % N_VIPS].k.family == EBB_FAMILY_V4)
			ip[0] = 0x45;
		hl = (size_t)(ip[0] & 0xf) * 4;
		if (seed & 4) {
			ip[2] = (uint8_t)((size - l3) >> 8);
			ip[3] = (uint8_t)(size - l3);
			if (ip[9] == IPPROTO_UDP && size >= l3 + hl + 8 && hl >= 20) {
				ip[hl + 4] = (uint8_t)((size - l3 - hl) >> 8);
				ip[hl + 5] = (uint8_t)(size - l3 - hl);
			}
		}
		if ((seed & 8) && hl >= 20 && size >= l3 + hl) {
			ip[10] = ip[11] = 0;
			uint16_t c = fold(sum16(0, ip, hl));
			ip[10] = (uint8_t)(c >> 8);
			ip[11] = (uint8_t)c;
		}
	} else if (rd16(data + l3 - 2) == 0x86dd && size >= l3 + 40) {
		const struct fvip *v = &vips[(seed >> 4) % N_VIPS];

		if ((seed & 1) && v->k.family == EBB_FAMILY_V6)
			memcpy(ip + 24, v->k.addr, 16);
		if (seed & 2)
			ip[0] = (uint8_t)(0x60 | (ip[0] & 0x0f));
		if (seed & 4) {
			ip[4] = (uint8_t)((size - l3 - 40) >> 8);
			ip[5] = (uint8_t)(size - l3 - 40);
			if (ip[6] == IPPROTO_UDP && size >= l3 + 48) {
				ip[44] = ip[4];
				ip[45] = ip[5];
			}
		}
	}
	return size;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	atexit(report);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[BUF_MAX];
	struct ebb_reason_counter after[EBB_R_SLOTS];
	size_t out_len = 0;
	__u32 verdict = ~0u, reason = EBB_R_SLOTS;
	struct view v;
	enum cls c;
	int err;

	if (size > 1600) /* within the test buffers, past the MTU */
		return -1;
	cur_in = data;
	cur_len = size;
	c = classify(data, size, &v);
	err = prog_run(prog_fd, data, size, out, sizeof(out), &out_len, &verdict);
	if (err)
		violation("BPF_PROG_TEST_RUN failed: %s", strerror(-err));
	n_inputs++;

	read_reasons(after);
	for (__u32 r = 0; r < EBB_R_SLOTS; r++) {
		__u64 dp = after[r].packets - reasons_before[r].packets;
		__u64 db = after[r].bytes - reasons_before[r].bytes;

		if (!dp && !db)
			continue;
		if (dp != 1 || db != size || reason != EBB_R_SLOTS)
			violation("reason counters moved wrong: %s +%llu packets +%llu bytes",
				  ebb_reason_name(r), (unsigned long long)dp, (unsigned long long)db);
		reason = r;
	}
	memcpy(reasons_before, after, sizeof(after));
	if (reason == EBB_R_SLOTS)
		violation("no reason counter moved");
	n_by_reason[reason]++;
	outcome_counters[(verdict % 5) * EBB_R_SLOTS * N_CLASSES + reason * N_CLASSES + c]++;
	if (verdict == XDP_TX && reason == EBB_R_FORWARDED) {
		const struct fnode *n = node_by_mac(out);

		if (n)
			node_counters[(n - nodes) * 4 + v.syn_only * 2 + v.icmp_err]++;
	}

	judge(c, &v, verdict, reason, data, size, out, out_len);
	if (n_inputs % 1024 == 0)
		check_totals();
	return 0;
}
