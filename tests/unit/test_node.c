// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the node program (bpf/node.bpf.c) through BPF_PROG_TEST_RUN, on the real object
 * loaded from its skeleton, against REAL sockets: the suite moves into a network namespace of
 * its own (unshare), puts the VIPs and the client's address on its loopback and opens real TCP
 * connections there, so that bpf_skc_lookup_tcp in the program sees a real socket table
 * (BPF_PROG_TEST_RUN runs an XDP program on the caller's namespace's loopback device).
 *
 * A table of rescue frames (IPv4 and IPv6 outer, each inner family), each with the verdict, the
 * output that must come out (built independently: the client's packet framed as the rescue came,
 * the rescue as the next candidate must receive it, or the claim the balancer must receive) and
 * the node_stats counter that must move. Malformed rescues must be dropped by their reason,
 * never sent on.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "node.skel.h"
#include "ebb.h"
#include "libebb.h"
#include "packets.h"
#include "test.h"
#include "fixture.h"
#include "sockets.h"

static const uint8_t NODE_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x11 }; /* this node (A) */
static const uint8_t LB_MAC[6] = { 0x02, 0xeb, 0xb0, 0x00, 0x00, 0x01 }; /* the balancer */
static const uint8_t B_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x12 }; /* candidate B */
static const uint8_t C_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x13 }; /* candidate C */
static const uint8_t ZERO_MAC[6];
/* a MAC that is not all zero by its last bit only: "no claim wanted" is all six bytes zero */
static const uint8_t LOW_MAC[6] = { 0, 0, 0, 0, 0, 0x01 };
#define COOKIE 0xc0dec0de /* the default cookie: opaque to the node, carried unchanged */

#define VIP4 "203.0.113.10"
#define VIP6 "2001:db8:100::10"
#define CLI4 "198.51.100.200"
#define CLI6 "2001:db8:1::100"
#define LB4 "192.0.2.1"
#define LB6 "2001:db8:eb::1"
#define A4 "198.51.100.11" /* this node */
#define B4 "198.51.100.12"
#define C4 "198.51.100.13"
#define A6 "2001:db8:200::1"
#define B6 "2001:db8:200::2"
#define C6 "2001:db8:200::3"

/* pkt_port_var slots: client ports of the real connections, known at run time */
enum { V_EST4 = 1, V_EST6, V_TW4, V_LISTEN4, V_LISTEN6 };

/* A handshake in progress: a SYN from an address the SYN-ACK cannot reach (blackholed), so the
 * server's request socket stays in SYN_RECV while the suite runs (it retries for a minute). */
#define HALF4 "192.0.2.77"
#define HALF_PORT 41000

static struct node_bpf *skel;
static int prog_fd = -1, nstats_fd = -1, dstats_fd = -1;

/* ---- the rescue frames ---- */
struct cand_desc {
	const char *addr;
	const uint8_t *mac;
	uint16_t node_id;
};

struct ncase {
	const char *name;
	int ofam; /* outer family: 4 or 6 (0: no rescue, pkt framed plainly or in .tun) */
	struct outer_desc tun; /* .family set: a plain tunnel (IPIP...), the decapsulator's */
	struct pkt_desc pkt; /* the client's packet */
	int hop, count; /* the header's; count 0 = n_cands */
	struct cand_desc cands[EBB_RESCUE_MAX_HOPS + 2];
	int n_cands; /* candidates laid out */
	const uint8_t *lb_mac; /* the balancer's, where a claim goes; NULL: all zero, no claim */
	uint32_t cookie; /* 0: COOKIE */
	/* lies */
	uint8_t magic, version, next_proto, flags, cand_junk;
	const char *outer_dst; /* default: cands[hop].addr */
	uint8_t outer_ihl;
	uint16_t outer_frag;
	int outer_delta; /* added to the outer length field */
	int cut_at; /* > 0: the frame ends this many bytes after the outer header's start */
	bool cut_fix_len; /* ... and the outer length says so */
	int trail; /* junk after the outer packet */
	/* expected */
	int verdict, reason; /* reason: EBB_N_* for rescues, EBB_D_* for the rest */
	int next; /* XDP_TX, forwarded: the candidate index it must go to */
};

#define O4 .ofam = 4
#define O6 .ofam = 6
/* node ids: what the balancer calls each node, echoed untouched along the chain and in a claim */
#define CA4 { A4, NODE_MAC, 0x0111 }
#define CB4 { B4, B_MAC, 0x0212 }
#define CC4 { C4, C_MAC, 0x0313 }
#define CA6 { A6, NODE_MAC, 0x0111 }
#define CB6 { B6, B_MAC, 0x0212 }
#define CC6 { C6, C_MAC, 0x0313 }

/* The offsets build_rescue writes at are the contract's */
_Static_assert(offsetof(struct ebb_rescue_hdr, lb_mac) == 6 && offsetof(struct ebb_rescue_hdr, cookie) == 12 &&
		       offsetof(struct ebb_rescue_cand, mac) == 16 &&
		       offsetof(struct ebb_rescue_cand, node_id) == 22,
	       "the rescue wire format is include/ebb.h's");

/* How a frame of a case is laid out: as it comes (a rescue), as the next candidate must get it
 * (a forward), or as the balancer must get it (a claim). */
struct frame_as {
	int hop;
	const char *osrc, *odst; /* outer addresses */
	const uint8_t *dmac, *smac;
	uint8_t flags;
};

/* Builds the frame of c laid out as f says; the rescue header, the candidates and the client's
 * packet are c's whatever f is. Returns the length; *outer_off, *inner_off where the outer
 * header and the client's packet start. Wire format: include/ebb.h, doc/node-truth.md (written
 * out here byte by byte, not from the structs, so that a layout change fails the suite). */
static size_t build_rescue(const struct ncase *c, const struct frame_as *f, uint8_t *out,
			   size_t *outer_off, size_t *inner_off)
{
	uint8_t inner[PKT_MAX], rh[EBB_RESCUE_LEN(EBB_RESCUE_MAX_HOPS + 2)];
	size_t l4, inner_len = build_ip(&c->pkt, inner, &l4), rlen = 16 + 24 * (size_t)c->n_cands;
	struct outer_desc o = { .family = c->ofam, .src = f->osrc, .dst = f->odst,
				.proto = EBB_RESCUE_PROTO, .frag = c->outer_frag ? c->outer_frag : 0x4000,
				.ihl = c->outer_ihl, .flow_label = 0x12345 };
	uint32_t cookie = c->cookie ? c->cookie : COOKIE;
	size_t off, ohl;
	uint8_t *p;

	memset(rh, 0, sizeof(rh));
	rh[0] = c->magic ? c->magic : EBB_RESCUE_MAGIC;
	rh[1] = c->version ? c->version : 2;
	rh[2] = (uint8_t)f->hop;
	rh[3] = (uint8_t)(c->count ? c->count : c->n_cands);
	if (c->count < 0)
		rh[3] = 0;
	rh[4] = c->next_proto ? c->next_proto : (c->pkt.family == 6 ? IPPROTO_IPV6 : IPPROTO_IPIP);
	rh[5] = f->flags;
	memcpy(rh + 6, c->lb_mac ? c->lb_mac : ZERO_MAC, 6);
	memcpy(rh + 12, &cookie, 4); /* the balancer's bytes: the node never reads them */
	for (int i = 0; i < c->n_cands; i++) {
		uint16_t id = c->cands[i].node_id; /* host order */

		p = rh + 16 + 24 * i;
		pkt_addr(c->cands[i].addr, c->ofam, p);
		memcpy(p + 16, c->cands[i].mac, 6);
		memcpy(p + 22, &id, 2);
		if (i == c->n_cands - 1)
			p[15] |= c->cand_junk; /* IPv4: past the address, must be 0 */
	}
	off = build_l2(f->dmac, f->smac, c->pkt.vlan, c->ofam == 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4,
		       out);
	*outer_off = off;
	ohl = build_outer(&o, rlen + inner_len, out + off);
	memcpy(out + off + ohl, rh, rlen);
	*inner_off = off + ohl + rlen;
	memcpy(out + *inner_off, inner, inner_len);
	return *inner_off + inner_len;
}

static uint16_t rd16_(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void set_outer_len(uint8_t *o, int family, size_t total)
{
	if (family == 4) {
		put16(o + 2, (uint16_t)total);
		put16(o + 10, 0);
		put16(o + 10, csum_fold(csum_add(0, o, 20)));
	} else {
		put16(o + 4, (uint16_t)(total - 40));
	}
}

static void snap(int fd, struct ebb_reason_counter *s, __u32 max)
{
	for (__u32 r = 0; r < max; r++)
		if (percpu_reason_sum(fd, r, &s[r]))
			printf("#   cannot read counter %u\n", r);
}

static void run_case(const struct ncase *c)
{
	uint8_t in[BUF_MAX], out[BUF_MAX + 256], want[BUF_MAX];
	struct ebb_reason_counter nb[EBB_N_MAX], na[EBB_N_MAX], db[EBB_D_MAX], da[EBB_D_MAX];
	const char *n = c->name;
	size_t len, want_len = 0, out_len = 0, outer = 0, inner = 0;
	bool rescue = c->ofam != 0, delivered, claimed = c->verdict == XDP_TX && c->reason == EBB_N_CLAIMED;
	/* a rescue past hop 0 comes from the candidate before: a claim must go to lb_mac, not back
	 * to the frame's source */
	const uint8_t *in_smac = c->hop > 0 && c->hop <= c->n_cands ? c->cands[c->hop - 1].mac : LB_MAC;
	__u32 verdict = ~0u;
	int err;

	if (rescue) {
		const char *odst = c->outer_dst ? c->outer_dst : c->cands[c->hop < c->n_cands ? c->hop : 0].addr;
		struct frame_as f = { .hop = c->hop, .osrc = c->ofam == 6 ? LB6 : LB4, .odst = odst,
				      .dmac = NODE_MAC, .smac = in_smac, .flags = c->flags };

		len = build_rescue(c, &f, in, &outer, &inner);
		if (c->outer_delta) {
			uint8_t *o = in + outer;
			size_t total = c->ofam == 4 ? (size_t)rd16_(o + 2) : 40 + (size_t)rd16_(o + 4);

			set_outer_len(o, c->ofam, total + c->outer_delta);
		}
		if (c->cut_at) {
			len = outer + c->cut_at;
			if (c->cut_fix_len)
				set_outer_len(in + outer, c->ofam, c->cut_at);
		}
		for (int i = 0; i < c->trail; i++)
			in[len + i] = (uint8_t)(0x5a ^ i);
		len += c->trail;
	} else if (c->tun.family) {
		len = build_tunnel_frame(&c->tun, &c->pkt, NODE_MAC, LB_MAC, in).len;
	} else {
		len = build_frame(&c->pkt, NODE_MAC, LB_MAC, in).len;
	}

	delivered = c->verdict == XDP_PASS &&
		    ((rescue && c->reason != EBB_N_MAX) || (!rescue && c->reason == EBB_D_DECAPSULATED));
	if (claimed) {
		/* back to the balancer: outer addresses swapped, to lb_mac from this node's MAC,
		 * flagged, hop, lb_mac, cookie, candidates and the client's packet as they came */
		struct frame_as f = { .hop = c->hop, .osrc = c->cands[c->hop].addr,
				      .odst = c->ofam == 6 ? LB6 : LB4, .dmac = c->lb_mac,
				      .smac = NODE_MAC, .flags = EBB_RESCUE_F_CLAIM };
		size_t o2, i2;

		want_len = build_rescue(c, &f, want, &o2, &i2);
	} else if (c->verdict == XDP_TX) {
		struct frame_as f = { .hop = c->next, .osrc = c->ofam == 6 ? LB6 : LB4,
				      .odst = c->cands[c->next].addr, .dmac = c->cands[c->next].mac,
				      .smac = NODE_MAC };
		size_t o2, i2;

		want_len = build_rescue(c, &f, want, &o2, &i2);
	} else if (delivered) {
		want_len = build_frame(&c->pkt, NODE_MAC, rescue ? in_smac : LB_MAC, want).len;
	} else {
		memcpy(want, in, len);
		want_len = len;
	}

	snap(nstats_fd, nb, EBB_N_MAX);
	snap(dstats_fd, db, EBB_D_MAX);
	err = prog_run(prog_fd, in, len, out, sizeof(out), &out_len, &verdict);
	snap(nstats_fd, na, EBB_N_MAX);
	snap(dstats_fd, da, EBB_D_MAX);
	if (!check_run(n, err, verdict, c->verdict))
		return;
	if (ASSERT_EQ(out_len, want_len, nm(n, "output length %zu", want_len)))
		ASSERT_MEM_EQ(out, want, want_len,
			      nm(n, claimed ? "output = the claim for the balancer" :
				    c->verdict == XDP_TX ? "output = the rescue for the next candidate" :
				    delivered ? "output = exactly the client's packet" :
						"output = input, untouched"));
	if (c->verdict == XDP_TX && c->ofam == 4 && out_len >= outer + 20)
		ASSERT_EQ(ip4_hdr_fold(out + outer), 0, nm(n, "outer IPv4 checksum valid"));
	if (rescue) {
		check_one_reason(n, "node_stats", ebb_node_reason_name, nb, na, EBB_N_MAX, c->reason, len);
		CHECK(!memcmp(db, da, sizeof(db)), "%s", nm(n, "decap_stats unmoved"));
	} else {
		check_one_reason(n, "decap_stats", ebb_decap_reason_name, db, da, EBB_D_MAX, c->reason, len);
		CHECK(!memcmp(nb, na, sizeof(nb)), "%s", nm(n, "node_stats unmoved"));
	}
}

#define OWNER XDP_PASS, .reason = EBB_N_DELIVERED_OWNER
#define LAST XDP_PASS, .reason = EBB_N_DELIVERED_LAST
#define NO_MAC XDP_PASS, .reason = EBB_N_DELIVERED_NO_MAC
#define FWD(i) XDP_TX, .reason = EBB_N_FORWARDED_NEXT, .next = (i)
#define DROP(r) XDP_DROP, .reason = (r)
#define CLAIM XDP_TX, .reason = EBB_N_CLAIMED

/* The client's packets: a mid-flow ACK with data on a real connection, or on none. */
#define EST4(pl, ...) { TCP4(CLI4, 0, VIP4, 80, TH_ACK | TH_PSH), .sport_var = V_EST4, .payload = pl, __VA_ARGS__ }
#define EST6(pl, ...) { TCP6(CLI6, 0, VIP6, 80, TH_ACK | TH_PSH), .sport_var = V_EST6, .payload = pl, __VA_ARGS__ }
#define TW4 { TCP4(CLI4, 0, VIP4, 81, TH_ACK), .sport_var = V_TW4 }
#define LIS4 { TCP4(CLI4, 0, VIP4, 80, TH_ACK), .sport_var = V_LISTEN4 }
#define LIS6 { TCP6(CLI6, 0, VIP6, 80, TH_ACK), .sport_var = V_LISTEN6 }
#define NONE4 { TCP4(CLI4, 40000, VIP4, 8080, TH_ACK), .payload = 10 }
#define NONE6 { TCP6(CLI6, 40000, VIP6, 8080, TH_ACK), .payload = 10 }

static const struct ncase cases[] = {
	/* ---- this node owns the connection: the client's packet, exactly ---- */
	{ "owner: IPv4 in IPv4, first of 3", O4, .pkt = EST4(100), .n_cands = 3, .cands = { CA4, CB4, CC4 },
	  .verdict = OWNER },
	{ "owner: IPv4 in IPv4, only candidate", O4, .pkt = EST4(100), .n_cands = 1, .cands = { CA4 },
	  .verdict = OWNER },
	{ "owner: IPv4 in IPv4, second of 2 (hop 1)", O4, .pkt = EST4(100), .hop = 1, .n_cands = 2,
	  .cands = { CB4, CA4 }, .verdict = OWNER },
	{ "owner: IPv6 in IPv6, first of 4", O6, .pkt = EST6(100), .n_cands = 4,
	  .cands = { CA6, CB6, CC6, CB6 }, .verdict = OWNER },
	{ "owner: IPv4 in IPv6 (EtherType becomes IPv4)", O6, .pkt = EST4(100), .n_cands = 2,
	  .cands = { CA6, CB6 }, .verdict = OWNER },
	{ "owner: IPv6 in IPv4 (EtherType becomes IPv6)", O4, .pkt = EST6(100), .n_cands = 2,
	  .cands = { CA4, CB4 }, .verdict = OWNER },
	{ "owner: VLAN 100 keeps its tag", O4, .pkt = EST4(100, .vlan = 100), .n_cands = 2,
	  .cands = { CA4, CB4 }, .verdict = OWNER },
	{ "owner: full-size segment (1500-byte IPv4) behind 4 candidates in IPv6", O6,
	  .pkt = EST4(1460), .n_cands = 4, .cands = { CA6, CB6, CC6, CB6 }, .verdict = OWNER },
	{ "owner: full-size segment (1500-byte IPv6) behind 4 candidates in IPv4", O4,
	  .pkt = EST6(1440), .n_cands = 4, .cands = { CA4, CB4, CC4, CB4 }, .verdict = OWNER },
	{ "owner: a request socket (handshake in progress) counts", O4,
	  .pkt = { TCP4(HALF4, HALF_PORT, VIP4, 80, TH_ACK) }, .n_cands = 2, .cands = { CA4, CB4 },
	  .verdict = OWNER },
	{ "owner: junk after the outer packet is cut", O4, .pkt = EST4(100), .n_cands = 2,
	  .cands = { CA4, CB4 }, .trail = 6, .verdict = OWNER },
	{ "owner, lb_mac zero, another cookie: delivered, no claim", O6, .pkt = EST6(100), .n_cands = 2,
	  .cands = { CA6, CB6 }, .cookie = 0x01020304, .verdict = OWNER },

	/* ---- this node owns it and the balancer wants to know: the frame goes back as a claim ---- */
	{ "claim: IPv4 in IPv4, hop 0", O4, .pkt = EST4(100), .n_cands = 3, .cands = { CA4, CB4, CC4 },
	  .lb_mac = LB_MAC, .verdict = CLAIM },
	{ "claim: IPv6 in IPv6, hop 0", O6, .pkt = EST6(100), .n_cands = 2, .cands = { CA6, CB6 },
	  .lb_mac = LB_MAC, .verdict = CLAIM },
	{ "claim: IPv4 in IPv4, hop 2 of 3", O4, .pkt = EST4(100), .hop = 2, .n_cands = 3,
	  .cands = { CB4, CC4, CA4 }, .lb_mac = LB_MAC, .cookie = 0xfeedf00d, .verdict = CLAIM },
	{ "claim: IPv4 in IPv6, hop 2 of 4", O6, .pkt = EST4(100), .hop = 2, .n_cands = 4,
	  .cands = { CB6, CC6, CA6, CB6 }, .lb_mac = LB_MAC, .verdict = CLAIM },
	{ "claim: IPv6 in IPv4, hop 1 of 2", O4, .pkt = EST6(100), .hop = 1, .n_cands = 2,
	  .cands = { CB4, CA4 }, .lb_mac = LB_MAC, .verdict = CLAIM },
	{ "claim: VLAN 100 keeps its tag (IPv4 outer)", O4, .pkt = EST4(100, .vlan = 100), .n_cands = 2,
	  .cands = { CA4, CB4 }, .lb_mac = LB_MAC, .verdict = CLAIM },
	{ "claim: VLAN 7 keeps its tag (IPv6 outer, hop 1)", O6, .pkt = EST6(100, .vlan = 7), .hop = 1,
	  .n_cands = 2, .cands = { CB6, CA6 }, .lb_mac = LB_MAC, .verdict = CLAIM },
	{ "claim: junk after the outer packet is cut (IPv4)", O4, .pkt = EST4(100), .n_cands = 2,
	  .cands = { CA4, CB4 }, .trail = 6, .lb_mac = LB_MAC, .verdict = CLAIM },
	{ "claim: junk after the outer packet is cut (IPv6)", O6, .pkt = EST6(100), .n_cands = 2,
	  .cands = { CA6, CB6 }, .trail = 13, .lb_mac = LB_MAC, .verdict = CLAIM },
	{ "claim: lb_mac nonzero in its last byte only", O4, .pkt = EST4(100), .n_cands = 2,
	  .cands = { CA4, CB4 }, .lb_mac = LOW_MAC, .verdict = CLAIM },
	{ "claim: full-size segment (1500-byte IPv4) behind 4 candidates in IPv6", O6,
	  .pkt = EST4(1460), .hop = 3, .n_cands = 4, .cands = { CB6, CC6, CB6, CA6 }, .lb_mac = LB_MAC,
	  .verdict = CLAIM },
	{ "claim: a request socket (handshake in progress)", O4,
	  .pkt = { TCP4(HALF4, HALF_PORT, VIP4, 80, TH_ACK) }, .n_cands = 2, .cands = { CA4, CB4 },
	  .lb_mac = LB_MAC, .verdict = CLAIM },

	/* ---- no socket here: on to the next candidate ---- */
	{ "no socket, IPv4 outer: to B", O4, .pkt = NONE4, .n_cands = 3, .cands = { CA4, CB4, CC4 },
	  .verdict = FWD(1) },
	{ "no socket, IPv4 outer, hop 1: to C", O4, .pkt = NONE4, .hop = 1, .n_cands = 3,
	  .cands = { CB4, CA4, CC4 }, .verdict = FWD(2) },
	{ "no socket, IPv6 outer: to B", O6, .pkt = NONE6, .n_cands = 2, .cands = { CA6, CB6 },
	  .verdict = FWD(1) },
	{ "no socket, IPv6 in IPv4: to B", O4, .pkt = NONE6, .n_cands = 2, .cands = { CA4, CB4 },
	  .verdict = FWD(1) },
	{ "no socket, IPv4 in IPv6: to B", O6, .pkt = NONE4, .n_cands = 2, .cands = { CA6, CB6 },
	  .verdict = FWD(1) },
	{ "no socket, VLAN 7: to B, tag kept", O4, .pkt = { TCP4(CLI4, 40000, VIP4, 8080, TH_ACK), .vlan = 7 },
	  .n_cands = 2, .cands = { CA4, CB4 }, .verdict = FWD(1) },
	{ "only a LISTEN socket (IPv4): not the owner, to B", O4, .pkt = LIS4, .n_cands = 2,
	  .cands = { CA4, CB4 }, .verdict = FWD(1) },
	{ "only a LISTEN socket (IPv6): not the owner, to B", O6, .pkt = LIS6, .n_cands = 2,
	  .cands = { CA6, CB6 }, .verdict = FWD(1) },
	{ "only a TIME_WAIT socket: not the owner, to B", O4, .pkt = TW4, .n_cands = 2,
	  .cands = { CA4, CB4 }, .verdict = FWD(1) },
	{ "no socket, next candidate without MAC: delivered here", O4, .pkt = NONE4, .n_cands = 2,
	  .cands = { CA4, { B4, ZERO_MAC, 0x0212 } }, .verdict = NO_MAC },
	/* a claim is the owner's: a node without the socket passes lb_mac and cookie on as they came */
	{ "no socket, lb_mac set: to B, lb_mac and cookie unchanged", O4, .pkt = NONE4, .n_cands = 3,
	  .cands = { CA4, CB4, CC4 }, .lb_mac = LB_MAC, .cookie = 0xa5a5a5a5, .verdict = FWD(1) },
	{ "no socket, lb_mac set, IPv6, hop 1: to C, unchanged", O6, .pkt = NONE4, .hop = 1, .n_cands = 3,
	  .cands = { CB6, CA6, CC6 }, .lb_mac = LB_MAC, .verdict = FWD(2) },
	{ "only a TIME_WAIT socket, lb_mac set: no claim, to B", O4, .pkt = TW4, .n_cands = 2,
	  .cands = { CA4, CB4 }, .lb_mac = LB_MAC, .verdict = FWD(1) },
	{ "only a LISTEN socket, lb_mac set: no claim, to B", O6, .pkt = LIS6, .n_cands = 2,
	  .cands = { CA6, CB6 }, .lb_mac = LB_MAC, .verdict = FWD(1) },
	{ "no socket, lb_mac set, next without MAC: delivered here", O6, .pkt = NONE6, .n_cands = 2,
	  .cands = { CA6, { B6, ZERO_MAC, 0x0212 } }, .lb_mac = LB_MAC, .verdict = NO_MAC },

	/* ---- the last candidate delivers ---- */
	{ "no socket, last of 3: delivered", O4, .pkt = NONE4, .hop = 2, .n_cands = 3,
	  .cands = { CB4, CC4, CA4 }, .verdict = LAST },
	{ "no socket, only candidate: delivered", O6, .pkt = NONE6, .n_cands = 1, .cands = { CA6 },
	  .verdict = LAST },
	{ "LISTEN only, last: delivered", O4, .pkt = LIS4, .hop = 1, .n_cands = 2,
	  .cands = { CB4, CA4 }, .verdict = LAST },
	{ "no socket, IPv4 in IPv6, last: delivered", O6, .pkt = NONE4, .hop = 3, .n_cands = 4,
	  .cands = { CB6, CC6, CB6, CA6 }, .verdict = LAST },
	{ "no socket, last, lb_mac set: delivered, no claim", O4, .pkt = NONE4, .hop = 1, .n_cands = 2,
	  .cands = { CB4, CA4 }, .lb_mac = LB_MAC, .verdict = LAST },

	/* ---- malformed: dropped by reason, never sent on (no socket here: all would forward) ---- */
	{ "bad: outer IPv4 options", O4, .pkt = NONE4, .n_cands = 2, .cands = { CA4, CB4 },
	  .outer_ihl = 6, .verdict = DROP(EBB_N_DROP_BAD_OUTER) },
	{ "bad: outer IPv4 fragment", O4, .pkt = NONE4, .n_cands = 2, .cands = { CA4, CB4 },
	  .outer_frag = IP4_MF, .verdict = DROP(EBB_N_DROP_BAD_OUTER) },
	{ "bad: magic", O4, .pkt = NONE4, .n_cands = 2, .cands = { CA4, CB4 }, .magic = 0xec,
	  .verdict = DROP(EBB_N_DROP_BAD_VERSION) },
	{ "bad: version 1", O6, .pkt = NONE6, .n_cands = 2, .cands = { CA6, CB6 }, .version = 1,
	  .verdict = DROP(EBB_N_DROP_BAD_VERSION) },
	{ "bad: version 3", O4, .pkt = NONE4, .n_cands = 2, .cands = { CA4, CB4 }, .version = 3,
	  .verdict = DROP(EBB_N_DROP_BAD_VERSION) },
	{ "bad: count 0", O4, .pkt = NONE4, .n_cands = 2, .cands = { CA4, CB4 }, .count = -1,
	  .verdict = DROP(EBB_N_DROP_BAD_COUNT) },
	{ "bad: count 5 > max", O4, .pkt = NONE4, .n_cands = 5,
	  .cands = { CA4, CB4, CC4, CB4, CC4 }, .verdict = DROP(EBB_N_DROP_BAD_COUNT) },
	{ "bad: count 255", O6, .pkt = NONE6, .n_cands = 2, .cands = { CA6, CB6 }, .count = 255,
	  .verdict = DROP(EBB_N_DROP_BAD_COUNT) },
	{ "bad: hop == count", O4, .pkt = NONE4, .hop = 2, .n_cands = 2, .cands = { CA4, CB4 },
	  .outer_dst = A4, .verdict = DROP(EBB_N_DROP_BAD_HOP) },
	{ "bad: hop 200", O4, .pkt = NONE4, .hop = 200, .n_cands = 2, .cands = { CA4, CB4 },
	  .outer_dst = A4, .verdict = DROP(EBB_N_DROP_BAD_HOP) },
	/* a claim is for the balancer: a node that gets one (even for a connection it owns) drops
	 * it, so no claim is ever claimed again or sent on */
	{ "bad: a claim received (no socket)", O4, .pkt = NONE4, .n_cands = 2, .cands = { CA4, CB4 },
	  .flags = EBB_RESCUE_F_CLAIM, .lb_mac = LB_MAC, .verdict = DROP(EBB_N_DROP_BAD_FLAGS) },
	{ "bad: a claim received for a connection this node owns", O6, .pkt = EST6(100), .n_cands = 2,
	  .cands = { CA6, CB6 }, .flags = EBB_RESCUE_F_CLAIM, .lb_mac = LB_MAC,
	  .verdict = DROP(EBB_N_DROP_BAD_FLAGS) },
	{ "bad: an unknown flag (0x80)", O4, .pkt = EST4(100), .n_cands = 2, .cands = { CA4, CB4 },
	  .flags = 0x80, .verdict = DROP(EBB_N_DROP_BAD_FLAGS) },
	{ "bad: an IPv4 candidate with bits past its address", O4, .pkt = NONE4, .n_cands = 2,
	  .cands = { CA4, CB4 }, .cand_junk = 1, .verdict = DROP(EBB_N_DROP_BAD_CAND) },
	{ "bad: outer destination is not candidates[hop]", O4, .pkt = NONE4, .n_cands = 2,
	  .cands = { CA4, CB4 }, .outer_dst = C4, .verdict = DROP(EBB_N_DROP_BAD_CAND) },
	{ "bad: IPv6 outer destination is not candidates[hop]", O6, .pkt = NONE6, .hop = 1,
	  .n_cands = 2, .cands = { CA6, CB6 }, .outer_dst = A6, .verdict = DROP(EBB_N_DROP_BAD_CAND) },
	{ "bad: next_proto 6 (TCP straight after the candidates)", O4, .pkt = NONE4, .n_cands = 2,
	  .cands = { CA4, CB4 }, .next_proto = IPPROTO_TCP, .verdict = DROP(EBB_N_DROP_BAD_INNER) },
	{ "bad: next_proto says IPv6, an IPv4 packet follows", O4, .pkt = NONE4, .n_cands = 2,
	  .cands = { CA4, CB4 }, .next_proto = IPPROTO_IPV6, .verdict = DROP(EBB_N_DROP_BAD_INNER) },
	{ "bad: the client's packet is UDP", O4, .pkt = { UDP4(CLI4, 5353, VIP4, 53) }, .n_cands = 2,
	  .cands = { CA4, CB4 }, .verdict = DROP(EBB_N_DROP_BAD_INNER) },
	{ "bad: the client's packet is an IPv4 fragment", O4,
	  .pkt = { TCP4(CLI4, 40000, VIP4, 8080, TH_ACK), .frag = IP4_MF }, .n_cands = 2,
	  .cands = { CA4, CB4 }, .verdict = DROP(EBB_N_DROP_BAD_INNER) },
	{ "bad: the client's IPv6 packet has an extension header", O6,
	  .pkt = { TCP6(CLI6, 40000, VIP6, 8080, TH_ACK), .ext6 = EXT6_HOP }, .n_cands = 2,
	  .cands = { CA6, CB6 }, .verdict = DROP(EBB_N_DROP_BAD_INNER) },
	{ "lying: outer length 10 past the frame", O4, .pkt = NONE4, .n_cands = 2,
	  .cands = { CA4, CB4 }, .outer_delta = 10, .verdict = DROP(EBB_N_DROP_BAD_LENGTH) },
	{ "lying: outer length 10 short of the client's packet", O6, .pkt = NONE6, .n_cands = 2,
	  .cands = { CA6, CB6 }, .outer_delta = -10, .verdict = DROP(EBB_N_DROP_BAD_LENGTH) },
	{ "lying: the client's IPv4 length past the outer packet", O4,
	  .pkt = { TCP4(CLI4, 40000, VIP4, 8080, TH_ACK), .ip_len = 1000 }, .n_cands = 2,
	  .cands = { CA4, CB4 }, .verdict = DROP(EBB_N_DROP_BAD_LENGTH) },
	{ "lying: the client's IPv6 length past the outer packet", O6,
	  .pkt = { TCP6(CLI6, 40000, VIP6, 8080, TH_ACK), .ip_len = 1000 }, .n_cands = 2,
	  .cands = { CA6, CB6 }, .verdict = DROP(EBB_N_DROP_BAD_LENGTH) },
	{ "lying: the client's IPv4 length shorter than a TCP header", O4,
	  .pkt = { TCP4(CLI4, 40000, VIP4, 8080, TH_ACK), .ip_len = 30 }, .n_cands = 2,
	  .cands = { CA4, CB4 }, .verdict = DROP(EBB_N_DROP_TRUNCATED) },

	/* ---- not rescues: exactly the decapsulator ---- */
	{ "not a rescue: IPIP to a VIP is decapsulated", .tun = { .family = 4, .src = LB4, .dst = A4,
	  .proto = IPPROTO_IPIP }, .pkt = { TCP4(CLI4, 40000, VIP4, 80, TH_SYN) },
	  .verdict = XDP_PASS, .reason = EBB_D_DECAPSULATED },
	{ "not a rescue: 6-in-6 to a VIP is decapsulated", .tun = { .family = 6, .src = LB6,
	  .dst = A6, .proto = IPPROTO_IPV6 }, .pkt = { TCP6(CLI6, 40000, VIP6, 80, TH_SYN) },
	  .verdict = XDP_PASS, .reason = EBB_D_DECAPSULATED },
	{ "not a rescue: IPIP to another address passes", .tun = { .family = 4, .src = LB4, .dst = A4,
	  .proto = IPPROTO_IPIP }, .pkt = { TCP4(CLI4, 40000, "192.0.2.99", 80, TH_SYN) },
	  .verdict = XDP_PASS, .reason = EBB_D_PASS_NOT_VIP },
	{ "not a rescue: plain TCP passes", .pkt = NONE4, .verdict = XDP_PASS,
	  .reason = EBB_D_PASS_NOT_TUNNEL },
	{ "not a rescue: plain IPv6 TCP passes", .pkt = NONE6, .verdict = XDP_PASS,
	  .reason = EBB_D_PASS_NOT_TUNNEL },
};

/* Cut short: the frame ends in the rescue header, in the candidates, in the client's header. */
static void truncation_cases(void)
{
	static const struct ncase base4 = { O4, .pkt = NONE4, .n_cands = 3, .cands = { CA4, CB4, CC4 } };
	static const struct ncase base6 = { O6, .pkt = NONE6, .n_cands = 3, .cands = { CA6, CB6, CC6 } };
	const struct ncase *bases[] = { &base4, &base6 };
	char name[160];
	struct ncase t;

	for (int b = 0; b < 2; b++) {
		int ohl = b ? 40 : 20, cands_end = ohl + 16 + 3 * 24, ihl = b ? 40 : 20;

		for (int k = ohl; k < ohl + 16; k++) {
			t = *bases[b];
			snprintf(name, sizeof(name), "short: IPv%d outer, frame ends %d bytes into the rescue header",
				 b ? 6 : 4, k - ohl);
			t.name = name;
			t.cut_at = k;
			t.cut_fix_len = true;
			t.verdict = XDP_DROP;
			t.reason = EBB_N_DROP_SHORT;
			run_case(&t);
		}
		for (int k = ohl + 16; k < cands_end; k += 5) {
			t = *bases[b];
			snprintf(name, sizeof(name), "truncated: IPv%d outer, %d bytes of candidates", b ? 6 : 4,
				 k - ohl - 16);
			t.name = name;
			t.cut_at = k;
			t.cut_fix_len = true;
			t.verdict = XDP_DROP;
			t.reason = EBB_N_DROP_TRUNCATED;
			run_case(&t);
			snprintf(name, sizeof(name),
				 "lying: IPv%d outer, %d bytes of candidates, outer length says more",
				 b ? 6 : 4, k - ohl - 16);
			t.cut_fix_len = false;
			t.reason = EBB_N_DROP_BAD_LENGTH;
			run_case(&t);
		}
		for (int k = cands_end; k < cands_end + ihl + 20; k += 3) {
			t = *bases[b];
			snprintf(name, sizeof(name), "truncated: IPv%d outer, %d bytes of the client's packet",
				 b ? 6 : 4, k - cands_end);
			t.name = name;
			t.cut_at = k;
			t.cut_fix_len = true;
			t.verdict = XDP_DROP;
			/* the client's IP length then lies about the outer packet: by length */
			t.reason = k - cands_end < ihl ? EBB_N_DROP_TRUNCATED : EBB_N_DROP_BAD_LENGTH;
			run_case(&t);
		}
	}
}

/* ---- real sockets in a namespace of our own ---- */
/* Whether /proc/net/tcp lists a socket with local port lport, remote port rport, in state st. */
static bool tcp_state_is(int lport, int rport, int st)
{
	char line[512];
	FILE *f = fopen("/proc/net/tcp", "r");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned la, lp, ra, rp, s;

		if (sscanf(line, " %*d: %x:%x %x:%x %x", &la, &lp, &ra, &rp, &s) == 5)
			found = (int)lp == lport && (int)rp == rport && (int)s == st;
	}
	fclose(f);
	return found;
}

/* A SYN to VIP4:80 from HALF4 (a raw socket: the address is no one's here), the SYN-ACK lost
 * in a blackhole: the listener keeps a request socket in SYN_RECV. */
static bool half_open(void)
{
	if (!ASSERT_OK(system("ip route add " HALF4 "/32 dev lo"), "setup: a route to nowhere for " HALF4))
		return false;
	if (!ASSERT_TRUE(raw_syn4(HALF4, HALF_PORT, VIP4, 80), "setup: a SYN from " HALF4 " sent"))
		return false;
	for (int i = 0; i < 1000 && !tcp_state_is(80, HALF_PORT, 3 /* SYN_RECV */); i++)
		usleep(10000);
	return ASSERT_TRUE(tcp_state_is(80, HALF_PORT, 3), "setup: a request socket in SYN_RECV");
}

static bool sockets_setup(void)
{
	int l4, l6, l81, c, a;
	uint16_t port;

	if (!ASSERT_OK(unshare(CLONE_NEWNET), "setup: a network namespace of our own"))
		return false;
	if (!ASSERT_OK(system("ip link set lo up && ip addr add " VIP4 "/32 dev lo && "
			      "ip addr add " CLI4 "/32 dev lo && "
			      "ip -6 addr add " VIP6 "/128 dev lo nodad && "
			      "ip -6 addr add " CLI6 "/128 dev lo nodad"),
		       "setup: loopback up with the VIPs and the client's addresses"))
		return false;
	l4 = tcp_listen(4, VIP4, 80, true);
	l6 = tcp_listen(6, VIP6, 80, true);
	l81 = tcp_listen(4, VIP4, 81, true);
	if (!ASSERT_TRUE(l4 >= 0 && l6 >= 0 && l81 >= 0, "setup: listeners on VIP:80 (v4, v6), VIP:81"))
		return false;
	/* ESTABLISHED: the server's side (local VIP:80, remote client) is the one a rescue finds */
	if (!ASSERT_TRUE(tcp_connect(4, CLI4, VIP4, 80, &port) >= 0, "setup: IPv4 connection"))
		return false;
	pkt_port_var[V_EST4] = port;
	if (!ASSERT_TRUE(tcp_connect(6, CLI6, VIP6, 80, &port) >= 0, "setup: IPv6 connection"))
		return false;
	pkt_port_var[V_EST6] = port;
	/* a client port no connection uses: only the listener matches */
	pkt_port_var[V_LISTEN4] = 40999;
	pkt_port_var[V_LISTEN6] = 40999;
	/* TIME_WAIT on the server's side: the server closes first, then the client; the listener
	 * goes too, so that a lookup missing the TIME_WAIT socket would find nothing at all */
	c = tcp_connect(4, CLI4, VIP4, 81, &port);
	a = c >= 0 ? accept(l81, NULL, NULL) : -1;
	if (!ASSERT_TRUE(a >= 0, "setup: a connection to VIP:81, accepted"))
		return false;
	pkt_port_var[V_TW4] = port;
	close(l81);
	close(a);
	for (int i = 0; i < 1000 && !tcp_state_is(port, 81, 5 /* FIN_WAIT2 */); i++)
		usleep(10000);
	close(c);
	for (int i = 0; i < 1000 && !tcp_state_is(81, port, 6 /* TIME_WAIT */); i++)
		usleep(10000);
	if (!ASSERT_TRUE(tcp_state_is(81, port, 6), "setup: the server's side is in TIME_WAIT"))
		return false;
	return half_open();
}

static bool setup(void)
{
	static const char *const prefixes[] = { VIP4 "/32", VIP6 "/128" };
	struct ebb_err err = {};
	struct ebb_decap_key k;
	__u32 one = 1;

	if (!OPEN_LOAD_UNPINNED(skel, node_bpf, "setup: open the node program skeleton",
				"setup: load the node program (verifier)"))
		return false;
	check_unpinned(skel->obj);
	prog_fd = bpf_program__fd(skel->progs.ebb_node);
	nstats_fd = bpf_map__fd(skel->maps.node_stats);
	dstats_fd = bpf_map__fd(skel->maps.decap_stats);
	for (size_t i = 0; i < 2; i++)
		if (!ASSERT_OK(ebb_parse_prefix(prefixes[i], &k, &err) ||
				       bpf_map_update_elem(bpf_map__fd(skel->maps.decap_prefixes), &k,
							   &one, BPF_NOEXIST),
			       nm("setup", "decap prefix %s", prefixes[i])))
			return false;
	return sockets_setup();
}

int main(void)
{
	if (!suite_start("node"))
		return 0;
	if (setup()) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			run_case(&cases[i]);
		truncation_cases();
	}
	node_bpf__destroy(skel);
	return test_summary("node");
}
