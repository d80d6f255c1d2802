// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Rescues and claims, the balancer's side (bpf/rescue.h, doc/node-truth.md), through
 * BPF_PROG_TEST_RUN on the real balancer configured with libebb; and the census, which must not
 * count a flow no node has claimed.
 *
 * Expectations are computed here, independently of the program: the candidates from the VIP's
 * tables as libebb reads them (ring owners of the flow's slot) and the history this suite
 * writes, by the rules of doc/node-truth.md; the rescue frame byte for byte from packets.h's
 * builders and the layout of include/ebb.h; the cookie from a SipHash-2-4 written here from the
 * paper, checked against the paper's test vectors.
 *
 * The suite pins itself to one CPU: the rate limit is per CPU, and BPF_PROG_TEST_RUN runs the
 * program on the caller's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#include "ebb.h"
#include "ebb_hash.h"
#include "ebb_siphash.h"
#include "libebb.h"
#include "libebb_agent.h"
#include "packets.h"
#include "test.h"
#define FIXTURE_BALANCER
#include "fixture.h"


#define SRC4 "192.0.2.1" /* the VIPs' encap sources: where claims come back */
#define SRC6 "2001:db8:ff::1"

#define VR "203.0.113.70" /* dsr, both encap sources: most cases */
#define VR_K "203.0.113.70:80/tcp"
#define VI "203.0.113.71" /* ipip */
#define VI_K "203.0.113.71:80/tcp"
#define V6 "2001:db8:100::70" /* IPv6, dsr */
#define V6_K "[2001:db8:100::70]:80/tcp"
#define VN "203.0.113.72" /* no encap source: no rescue */
#define VN_K "203.0.113.72:80/tcp"
#define VM "203.0.113.73" /* a pool mixing nodes with and without the node program */
#define VM_K "203.0.113.73:80/tcp"
#define NOT_OURS4 "198.51.100.250"

#define CLI "198.51.100.200"
#define CLI6 "2001:db8:1::100"

struct node_cfg {
	const char *addr, *vip;
	uint8_t mac[6];
	bool prog; /* runs the node program (EBB_NODE_F_NODE_PROG) */
	__u32 id;
};

static struct node_cfg node_cfg[] = {
	{ "198.51.100.71", VR_K, { 0x02, 0, 0, 0, 0, 0x71 }, true, 0 }, /* R1: drains */
	{ "198.51.100.72", VR_K, { 0x02, 0, 0, 0, 0, 0x72 }, true, 0 }, /* R2 */
	{ "198.51.100.73", VR_K, { 0x02, 0, 0, 0, 0, 0x73 }, true, 0 }, /* R3 */
	{ "198.51.100.74", VR_K, { 0x02, 0, 0, 0, 0, 0x74 }, true, 0 }, /* R4 */
	{ "198.51.100.75", VR_K, { 0x02, 0, 0, 0, 0, 0x75 }, false, 0 }, /* R5: no node program */
	{ "198.51.100.81", VI_K, { 0x02, 0, 0, 0, 0, 0x81 }, true, 0 }, /* I1 */
	{ "2001:db8:200::71", V6_K, { 0x02, 0, 0, 0, 0x06, 0x71 }, true, 0 }, /* S1: drains */
	{ "2001:db8:200::72", V6_K, { 0x02, 0, 0, 0, 0x06, 0x72 }, true, 0 }, /* S2 */
	{ "198.51.100.91", VN_K, { 0x02, 0, 0, 0, 0, 0x91 }, true, 0 }, /* N1 */
	{ "198.51.100.92", VN_K, { 0x02, 0, 0, 0, 0, 0x92 }, true, 0 }, /* N2 */
	{ "198.51.100.101", VM_K, { 0x02, 0, 0, 0, 0x01, 0x01 }, true, 0 }, /* M1: drains */
	{ "198.51.100.102", VM_K, { 0x02, 0, 0, 0, 0x01, 0x02 }, false, 0 }, /* M2 */
};
enum { R1, R2, R3, R4, R5, I1, S1, S2, N1, N2, M1, M2, N_NODES };
_Static_assert(N_NODES == sizeof(node_cfg) / sizeof(node_cfg[0]), "node table");

static const char *const vip_cfg[] = { VR_K, VI_K, V6_K, VN_K, VM_K };

static int rescue_window_fd, slot_history_fd, rescue_secret_fd;
static const struct ebb_rescue_secret SECRET = { { 0x03020100, 0x07060504, 0x0b0a0908,
						   0x0f0e0d0c } };

/* ---- SipHash-2-4, from the paper (Aumasson, Bernstein 2012), byte by byte ---- */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                         \
	do {                                                             \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                   \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                   \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t le64(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t ref_siphash(const uint8_t k[16], const uint8_t *m, size_t len)
{
	uint64_t k0 = le64(k, 8), k1 = le64(k + 8, 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1, b;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w = le64(m + i, 8);

		v3 ^= w;
		SIPROUND;
		SIPROUND;
		v0 ^= w;
	}
	b = (uint64_t)len << 56 | le64(m + i, len - i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static void siphash_vectors(void)
{
	/* the paper's key 00..0f and messages 00..n-1 (Appendix A; the reference's vectors) */
	static const struct { size_t len; uint64_t want; } v[] = {
		{ 0, 0x726fdb47dd0e0e31ULL }, { 1, 0x74f839c593dc67fdULL },
		{ 8, 0x93f5f5799a932462ULL }, { 15, 0xa129ca6149be45e5ULL },
		{ 32, 0x7127512f72f27cceULL },
	};
	uint8_t k[16], m[32];
	__u32 kw[4], mw[8];

	for (int i = 0; i < 32; i++)
		m[i] = (uint8_t)i;
	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	memcpy(kw, k, 16);
	memcpy(mw, m, 32);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ASSERT_EQ(ref_siphash(k, m, v[i].len), v[i].want,
			  nm("siphash", "this suite's reference, %zu-byte vector", v[i].len));
		if (v[i].len % 4 == 0)
			ASSERT_EQ(ebb_siphash24(kw, mw, v[i].len / 4), v[i].want,
				  nm("siphash", "include/ebb_siphash.h, %zu-byte vector", v[i].len));
	}
	CHECK(!memcmp(&SECRET, k, 16), "siphash: the suite's secret is the paper's key");
}

/* The cookie the balancer must put in a rescue of flow k: SipHash of its 40 bytes, low 32 bits,
 * as the header carries them (little-endian, the datapath's byte order). */
static void want_cookie(const struct ebb_flow_key *k, uint8_t out[4])
{
	uint64_t h = ref_siphash((const uint8_t *)&SECRET, (const uint8_t *)k, sizeof(*k));

	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(h >> (8 * i));
}

/* ---- configuration helpers ---- */
static int nodes_family(int n)
{
	return strchr(node_cfg[n].addr, ':') ? 6 : 4;
}

static int node_of_id(__u32 id)
{
	for (int i = 0; i < N_NODES; i++)
		if (node_cfg[i].id == id)
			return i;
	return -1;
}

static const char *name_of_id(__u32 id)
{
	int n = node_of_id(id);

	return n < 0 ? "none" : node_cfg[n].addr;
}

static int set_state(int n, __u8 state)
{
	struct ebb_err err = {};
	struct ebb_addr a;

	if (ebb_parse_addr(node_cfg[n].addr, &a, &err) || ebb_node_set_state(&e, &a, state, 0, &err)) {
		printf("#   set_state %s: %s\n", node_cfg[n].addr, err.msg);
		return -1;
	}
	return 0;
}

static int set_flags(int n, __u8 flags)
{
	struct ebb_node node;
	__u32 id = node_cfg[n].id;

	if (bpf_map_lookup_elem(e.nodes_fd, &id, &node))
		return -1;
	node.flags = flags;
	return bpf_map_update_elem(e.nodes_fd, &id, &node, BPF_EXIST);
}

static int set_settings(__u32 rescue_rate, __u32 mtu)
{
	struct ebb_settings s = {};
	__u32 zero = 0;

	if (bpf_map_lookup_elem(e.settings_fd, &zero, &s))
		return -1;
	s.rescue_rate = rescue_rate;
	s.mtu = mtu;
	return bpf_map_update_elem(e.settings_fd, &zero, &s, BPF_ANY);
}

/* A fresh rate window on every CPU: the next rescue opens a new second. */
static int reset_window(void)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 zeros[2 * (ncpus > 0 ? ncpus : 1)];
	__u32 zero = 0;

	memset(zeros, 0, sizeof(zeros));
	return bpf_map_update_elem(rescue_window_fd, &zero, zeros, BPF_ANY);
}

static __u32 vip_id(const char *vip_k)
{
	struct ebb_vip_key k;
	struct ebb_vip v;

	if (ebb_parse_vip(vip_k, &k, NULL) || ebb_vip_find(&e, &k, &v))
		abort();
	return v.id;
}

static void key_of(const struct pkt_desc *d, struct ebb_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = d->family == 6 ? EBB_FAMILY_V6 : EBB_FAMILY_V4;
	k->proto = d->proto;
	pkt_addr(d->src, d->family, (uint8_t *)k->src);
	pkt_addr(d->dst, d->family, (uint8_t *)k->dst);
	k->sport = htons(pkt_port(d->sport, d->sport_var));
	k->dport = htons(d->dport);
}

/* A client port from `from` whose slot's second-chance owner is sc and new-flow owner is nw. */
static uint16_t port_for(const char *vip_k, const struct pkt_desc *d, int sc, int nw, uint16_t from)
{
	__u32 v = vip_id(vip_k);
	struct ebb_flow_key k;

	key_of(d, &k);
	for (uint32_t p = from; p < 65536; p++) {
		__u32 slot;

		k.sport = htons((uint16_t)p);
		slot = ebb_ring_slot(&k);
		if (ring_node(EBB_RING_SECOND(v), slot) == node_cfg[sc].id &&
		    ring_node(EBB_RING_NEW(v), slot) == node_cfg[nw].id)
			return (uint16_t)p;
	}
	return 0;
}

/* ---- the expected rescue, built here from include/ebb.h's layout ---- */
static size_t want_rescue(uint8_t *out, const struct pkt_desc *d, const uint8_t *ip, size_t ip_len,
			  const int *cand, int n)
{
	int fam = nodes_family(cand[0]);
	struct ebb_flow_key k;
	struct outer_desc o = { .family = fam, .src = fam == 6 ? SRC6 : SRC4,
				.dst = node_cfg[cand[0]].addr, .proto = EBB_RESCUE_PROTO,
				.frag = fam == 4 ? 0x4000 : 0 };
	size_t off, hdrs = 16 + 24 * (size_t)n;
	uint8_t *h;

	key_of(d, &k);
	if (fam == 6)
		o.flow_label = ebb_flow_hash(&k) & 0xfffff;
	off = build_l2(node_cfg[cand[0]].mac, LB_MAC, d->vlan,
		       fam == 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4, out);
	off += build_outer(&o, hdrs + ip_len, out + off);
	h = out + off;
	memset(h, 0, hdrs);
	h[0] = EBB_RESCUE_MAGIC;
	h[1] = 2; /* version */
	h[2] = 0; /* hop */
	h[3] = (uint8_t)n;
	h[4] = d->family == 6 ? 41 : 4;
	h[5] = 0; /* flags */
	memcpy(h + 6, LB_MAC, 6);
	want_cookie(&k, h + 12);
	for (int i = 0; i < n; i++) {
		uint8_t *c = h + 16 + 24 * i;
		__u32 id = node_cfg[cand[i]].id;

		pkt_addr(node_cfg[cand[i]].addr, fam, c);
		memcpy(c + 16, node_cfg[cand[i]].mac, 6);
		c[22] = id & 0xff; /* host order: little-endian */
		c[23] = id >> 8;
	}
	memcpy(out + off + hdrs, ip, ip_len);
	return off + hdrs + ip_len;
}

/* ---- the case table: one mid-flow packet each ---- */
enum { H_NONE, H_LIVE, H_PAST };
#define NO_NODE (-1)

struct rcase {
	const char *name;
	const char *vip_k;
	struct pkt_desc pkt; /* sport chosen at run time (port_for) unless fixed */
	int sc, nw; /* the slot's second-chance and new-flow owners the port is chosen for */
	int hist[2], hist_state[2]; /* slot_history of the slot: owners, live or past */
	int want[EBB_RESCUE_MAX_HOPS + 1]; /* candidates, NO_NODE-terminated; [0] alone when not
					    * rescued: the node it goes to the old way */
	int verdict, reason;
	__u8 flow_flags; /* of the entry after */
	int new_flows; /* vip_stats new_flows delta */
	int pad_to; /* frame padded to this length (junk after the IP packet) */
	__u32 mtu;
	bool again; /* the packet of the case before, again (same port) */
};

#define SEG4(vip, fl, len) .family = 4, .src = CLI, .dst = vip, .proto = IPPROTO_TCP, .dport = 80, \
			   .flags = fl, .payload = len
#define ACK4(vip) SEG4(vip, TH_ACK | TH_PSH, 10)
#define ACK6(vip) .family = 6, .src = CLI6, .dst = vip, .proto = IPPROTO_TCP, .dport = 80, \
		  .flags = TH_ACK, .payload = 7
#define LIST(...) { __VA_ARGS__, NO_NODE }
#define RESCUED .verdict = XDP_TX, .reason = EBB_R_RESCUED, .flow_flags = EBB_FLOW_UNCONFIRMED

static const struct rcase rcases[] = {
	{ "one candidate (slot unchanged) is rescued", VR_K, { ACK4(VR) }, R2, R2,
	  { 0 }, { H_NONE }, LIST(R2), RESCUED, .new_flows = 1 },
	{ "two: second-chance owner (draining), then new-flow owner", VR_K, { ACK4(VR) }, R1, R2,
	  { 0 }, { H_NONE }, LIST(R1, R2), RESCUED, .new_flows = 1 },
	{ "the same packet again: entry unconfirmed, rescued again, no new flow", VR_K,
	  { ACK4(VR) }, R1, R2, { 0 }, { H_NONE }, LIST(R1, R2), RESCUED, .again = true },
	{ "three: and one live history owner", VR_K, { ACK4(VR) }, R1, R2, { R3 },
	  { H_LIVE }, LIST(R1, R2, R3), RESCUED, .new_flows = 1 },
	{ "four: and two live history owners", VR_K, { ACK4(VR) }, R1, R2, { R3, R4 },
	  { H_LIVE, H_LIVE }, LIST(R1, R2, R3, R4), RESCUED, .new_flows = 1 },
	{ "history owner past its time left out", VR_K, { ACK4(VR) }, R1, R2, { R3, R4 },
	  { H_PAST, H_LIVE }, LIST(R1, R2, R4), RESCUED, .new_flows = 1 },
	{ "history owner without the node program left out", VR_K, { ACK4(VR) }, R1, R2,
	  { R5, R3 }, { H_LIVE, H_LIVE }, LIST(R1, R2, R3), RESCUED, .new_flows = 1 },
	{ "history naming the owners now: each named once", VR_K, { ACK4(VR) }, R1, R2,
	  { R2, R1 }, { H_LIVE, H_LIVE }, LIST(R1, R2), RESCUED, .new_flows = 1 },
	{ "VLAN-tagged: the tag kept", VR_K, { ACK4(VR), .vlan = 7 }, R1, R2, { 0 }, { H_NONE },
	  LIST(R1, R2), RESCUED, .new_flows = 1 },
	{ "junk after the IP packet cut off", VR_K, { SEG4(VR, TH_ACK, 0) }, R1, R2, { 0 },
	  { H_NONE }, LIST(R1, R2), RESCUED, .new_flows = 1, .pad_to = 80 },
	{ "a FIN is rescued too", VR_K, { SEG4(VR, TH_ACK | TH_FIN, 0) }, R1, R2, { 0 },
	  { H_NONE }, LIST(R1, R2), .verdict = XDP_TX, .reason = EBB_R_RESCUED,
	  .flow_flags = EBB_FLOW_UNCONFIRMED | EBB_FLOW_FIN, .new_flows = 1 },
	{ "fits the MTU exactly: rescued", VR_K, { ACK4(VR) }, R1, R2, { R3 }, { H_LIVE },
	  LIST(R1, R2, R3), RESCUED, .new_flows = 1, .mtu = 50 + 20 + 16 + 3 * 24 },
	{ "one byte over the MTU: the old way, counted, entry unconfirmed", VR_K, { ACK4(VR) },
	  R1, R2, { R3 }, { H_LIVE }, LIST(R1), .verdict = XDP_TX, .reason = EBB_R_RESCUE_TOO_BIG,
	  .flow_flags = EBB_FLOW_UNCONFIRMED, .new_flows = 1, .mtu = 50 + 20 + 16 + 3 * 24 - 1 },
	{ "IPv6, outer IPv6", V6_K, { ACK6(V6) }, S1, S2, { 0 }, { H_NONE }, LIST(S1, S2),
	  RESCUED, .new_flows = 1 },
	{ "ipip VIP: rescued all the same", VI_K, { ACK4(VI) }, I1, I1, { 0 }, { H_NONE },
	  LIST(I1), RESCUED, .new_flows = 1 },
	{ "new-flow owner without the node program left out", VM_K, { ACK4(VM) }, M1, M2, { 0 },
	  { H_NONE }, LIST(M1), RESCUED, .new_flows = 1 },
	{ "second-chance owner without the node program: the old way", VM_K, { ACK4(VM) }, M2,
	  M2, { M1 }, { H_LIVE }, LIST(M2), .verdict = XDP_TX, .reason = EBB_R_FORWARDED,
	  .new_flows = 1 },
	{ "VIP without encap source: the old way", VN_K, { ACK4(VN) }, N1, N1, { N2 }, { H_LIVE },
	  LIST(N1), .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .new_flows = 1 },
};

/* The flows each case made, for the claims. */
struct made {
	struct pkt_desc pkt;
	uint8_t rescue[PKT_MAX + 256];
	size_t len;
	int cand[EBB_RESCUE_MAX_HOPS], n;
};
static struct made made[sizeof(rcases) / sizeof(rcases[0])];
static uint16_t next_port = 20000;

static void write_history(__u32 v, __u32 slot, const struct rcase *c)
{
	struct ebb_history_key hk = { .vip_id = v, .slot = slot };
	struct ebb_slot_history h = {};
	__u32 now = ebb_seen_tick(ebb_now_ns());

	for (int i = 0; i < 2; i++) {
		if (c->hist_state[i] == H_NONE)
			continue;
		h.owner[i] = node_cfg[c->hist[i]].id;
		/* an hour ahead, or a minute ago */
		h.until[i] = c->hist_state[i] == H_LIVE ? now + (3600ULL << 30 >> EBB_SEEN_SHIFT) :
							  now - (60ULL << 30 >> EBB_SEEN_SHIFT);
	}
	if (c->hist_state[0] == H_NONE && c->hist_state[1] == H_NONE)
		bpf_map_delete_elem(slot_history_fd, &hk);
	else
		bpf_map_update_elem(slot_history_fd, &hk, &h, BPF_ANY);
}

static void run_rcase(size_t ci)
{
	const struct rcase *c = &rcases[ci];
	const char *n = c->name;
	struct made *m = &made[ci];
	uint8_t in[PKT_MAX], out[PKT_MAX + 256], want[PKT_MAX + 256];
	struct pkt_layout lay;
	struct ebb_flow_key key;
	struct snap b, a;
	__u32 v = vip_id(c->vip_k), verdict = ~0u, first;
	size_t len, out_len = 0, want_len;
	int cands = 0, err;

	m->pkt = c->pkt;
	if (c->again) {
		m->pkt = made[ci - 1].pkt;
	} else {
		uint16_t p = port_for(c->vip_k, &c->pkt, c->sc, c->nw, next_port);

		if (!CHECK(p, "%s", nm(n, "a client port with this slot exists")))
			return;
		m->pkt.sport = p;
		next_port = p + 1;
	}
	key_of(&m->pkt, &key);
	write_history(v, ebb_ring_slot(&key), c);
	if (!ASSERT_OK(set_settings(EBB_DEFAULT_RESCUE_RATE, c->mtu), nm(n, "settings")))
		return;
	lay = build_frame(&m->pkt, LB_MAC, GW_MAC, in);
	len = lay.len;
	if (c->pad_to) {
		memset(in + len, 0xa5, c->pad_to - len);
		len = c->pad_to;
	}
	while (c->want[cands] != NO_NODE)
		cands++;
	first = node_cfg[c->want[0]].id;
	if (c->reason == EBB_R_RESCUED) {
		want_len = want_rescue(want, &m->pkt, in + lay.l3, lay.len - lay.l3, c->want, cands);
	} else { /* dsr, the old way: the MACs rewritten */
		want_len = len;
		memcpy(want, in, len);
		memcpy(want, node_cfg[c->want[0]].mac, 6);
		memcpy(want + 6, LB_MAC, 6);
	}

	take_snap(&b, &key, v, first);
	err = prog_run(prog_fd, in, len, out, sizeof(out), &out_len, &verdict);
	take_snap(&a, &key, v, first);
	if (!check_run(n, err, verdict, c->verdict))
		return;
	if (ASSERT_EQ(out_len, want_len, nm(n, "output length %zu", want_len))) {
		if (c->reason == EBB_R_RESCUED)
			ASSERT_MEM_EQ(out, want, want_len,
				      nm(n, "the rescue, byte for byte (%d candidates)", cands));
		else
			ASSERT_MEM_EQ(out, want, want_len,
				      nm(n, "the old way: the packet to %s", node_cfg[c->want[0]].addr));
	}
	check_one_reason(n, "reason", ebb_reason_name, b.r, a.r, EBB_R_MAX, c->reason, len);
	if (CHECK(a.has_flow, "%s", nm(n, "flow entry present"))) {
		ASSERT_EQ(a.flow.node_id, first, nm(n, "entry names %s", node_cfg[c->want[0]].addr));
		ASSERT_EQ(a.flow.flags, c->flow_flags, nm(n, "entry flags 0x%x", c->flow_flags));
		ASSERT_EQ(a.flow.vip_id, v, nm(n, "entry records its VIP"));
	}
	CHECK(a.vip.packets - b.vip.packets == 1 && a.vip.bytes - b.vip.bytes == len, "%s",
	      nm(n, "vip_stats +1 packet, +%zu bytes", len));
	ASSERT_EQ(a.vip.new_flows - b.vip.new_flows, c->new_flows,
		  nm(n, "vip_stats new_flows +%d", c->new_flows));
	CHECK(a.node.packets - b.node.packets == 1 && a.node.bytes - b.node.bytes == len, "%s",
	      nm(n, "node_stats[%s] +1 packet", node_cfg[c->want[0]].addr));
	if (c->reason == EBB_R_RESCUED) {
		memcpy(m->rescue, out, out_len);
		m->len = out_len;
		m->n = cands;
		memcpy(m->cand, c->want, sizeof(m->cand));
	}
}

/* ---- claims: a rescue sent back by candidate `hop`, as the node program does ---- */
enum { CL_OK, CL_BAD_COOKIE, CL_BAD_SOURCE, CL_UNKNOWN_NODE, CL_BAD_HOP, CL_NO_FLAG,
       CL_NOT_OURS, CL_OTHER_NODE_ID, CL_TO_VIP, CL_TO_VIP_BAD_CSUM };

static size_t make_claim(const struct made *m, int hop, int how, uint8_t *out)
{
	size_t l2 = m->pkt.vlan ? 18 : 14;
	int fam = nodes_family(m->cand[0]);
	uint8_t *ip = out + l2, *h = ip + (fam == 6 ? 40 : 20);
	const struct node_cfg *claimer = &node_cfg[m->cand[hop]];

	memcpy(out, m->rescue, m->len);
	memcpy(out, LB_MAC, 6); /* to lb_mac, from the claimer */
	memcpy(out + 6, claimer->mac, 6);
	h[2] = (uint8_t)hop;
	h[5] = how == CL_NO_FLAG ? 0 : EBB_RESCUE_F_CLAIM;
	if (how == CL_BAD_COOKIE)
		h[12] ^= 0x01;
	if (how == CL_BAD_HOP)
		h[2] = h[3];
	if (how == CL_UNKNOWN_NODE) {
		h[16 + 24 * hop + 22] = 0xe7; /* id 999: no node */
		h[16 + 24 * hop + 23] = 0x03;
	}
	if (how == CL_OTHER_NODE_ID) { /* the id of a real node of another address */
		__u32 other = node_cfg[R5].id;

		h[16 + 24 * hop + 22] = other & 0xff;
		h[16 + 24 * hop + 23] = other >> 8;
	}
	if (fam == 6) {
		pkt_addr(how == CL_BAD_SOURCE ? "2001:db8:200::99" : claimer->addr, 6, ip + 8);
		pkt_addr(SRC6, 6, ip + 24);
	} else {
		pkt_addr(how == CL_BAD_SOURCE ? "198.51.100.99" : claimer->addr, 4, ip + 12);
		pkt_addr(how == CL_NOT_OURS ? NOT_OURS4 :
			 how == CL_TO_VIP || how == CL_TO_VIP_BAD_CSUM ? VR : SRC4, 4, ip + 16);
		ip[10] = ip[11] = 0;
		put16(ip + 10, csum_fold(csum_add(0, ip, 20)) ^ (how == CL_TO_VIP_BAD_CSUM));
	}
	return m->len;
}

static void run_claim(const char *n, size_t ci, int hop, int how, int cut, int want_verdict,
		      int want_reason)
{
	const struct made *m = &made[ci];
	uint8_t in[PKT_MAX + 256], out[PKT_MAX + 256], want[PKT_MAX + 256];
	const struct node_cfg *claimer;
	struct ebb_flow_key key;
	struct snap b, a;
	__u32 verdict = ~0u, v;
	size_t len, out_len = 0, want_len = 0;
	int err;

	if (!CHECK(m->len && hop < m->n, "%s", nm(n, "its rescue was sent")))
		return;
	claimer = &node_cfg[m->cand[hop]];
	v = vip_id(rcases[ci].vip_k);
	key_of(&m->pkt, &key);
	len = make_claim(m, hop, how, in);
	if (cut)
		len = cut;
	if (want_reason == EBB_R_CLAIMED) {
		size_t l2 = m->pkt.vlan ? 18 : 14, ip_off = m->len;
		struct pkt_layout lay = build_frame(&m->pkt, claimer->mac, LB_MAC, want);

		ip_off = lay.l3; /* the client's packet, as the node got it */
		if (!strcmp(rcases[ci].vip_k, VI_K)) { /* ipip to the claimer */
			uint8_t ipb[PKT_MAX];
			size_t ip_len = lay.len - lay.l3;
			struct outer_desc o = { .family = 4, .src = SRC4, .dst = claimer->addr,
						.proto = 4, .frag = 0x4000 };

			memcpy(ipb, want + lay.l3, ip_len);
			want_len = build_l2(claimer->mac, LB_MAC, m->pkt.vlan, ETHERTYPE_IPV4, want);
			want_len += build_outer(&o, ip_len, want + want_len);
			memcpy(want + want_len, ipb, ip_len);
			want_len += ip_len;
		} else {
			want_len = lay.len;
		}
		(void)l2;
		(void)ip_off;
	} else {
		memcpy(want, in, len);
		want_len = len;
	}
	take_snap(&b, &key, v, claimer->id);
	err = prog_run(prog_fd, in, len, out, sizeof(out), &out_len, &verdict);
	take_snap(&a, &key, v, claimer->id);
	if (!check_run(n, err, verdict, want_verdict))
		return;
	if (want_verdict != XDP_DROP && ASSERT_EQ(out_len, want_len, nm(n, "output length %zu", want_len)))
		ASSERT_MEM_EQ(out, want, want_len,
			      nm(n, want_reason == EBB_R_CLAIMED ?
					    "output: the client's packet to the claimer, the VIP's way" :
					    "output = input, untouched"));
	check_one_reason(n, "reason", ebb_reason_name, b.r, a.r, EBB_R_MAX, want_reason, len);
	if (want_reason == EBB_R_CLAIMED) {
		if (CHECK(a.has_flow, "%s", nm(n, "flow entry present"))) {
			ASSERT_EQ(a.flow.node_id, claimer->id, nm(n, "entry pinned to the claimer %s",
								  claimer->addr));
			ASSERT_EQ(a.flow.flags & EBB_FLOW_UNCONFIRMED, 0, nm(n, "entry confirmed"));
		}
		CHECK(a.node.packets - b.node.packets == 1, "%s",
		      nm(n, "node_stats[%s] +1 packet", claimer->addr));
		CHECK(a.vip.packets - b.vip.packets == 1 && a.vip.new_flows == b.vip.new_flows, "%s",
		      nm(n, "vip_stats +1 packet, no new flow"));
	} else {
		CHECK(a.has_flow == b.has_flow && a.flow.node_id == b.flow.node_id &&
			      a.flow.flags == b.flow.flags,
		      "%s", nm(n, "flow entry unchanged"));
		ASSERT_EQ(a.flows, b.flows, nm(n, "flow table size unchanged"));
	}
}

static size_t case_named(const char *prefix)
{
	for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++)
		if (!strncmp(rcases[i].name, prefix, strlen(prefix)))
			return i;
	abort();
}

/* A hit after a claim: the ordinary way to the claimer, no rescue. */
static void hit_after_claim(const char *n, size_t ci, int hop)
{
	const struct made *m = &made[ci];
	uint8_t in[PKT_MAX], out[PKT_MAX + 256], want[PKT_MAX];
	struct pkt_layout lay = build_frame(&m->pkt, LB_MAC, GW_MAC, in);
	struct ebb_reason_counter b[EBB_R_MAX], a[EBB_R_MAX];
	__u32 verdict = ~0u;
	size_t out_len = 0;
	int err;

	memcpy(want, in, lay.len);
	memcpy(want, node_cfg[m->cand[hop]].mac, 6);
	memcpy(want + 6, LB_MAC, 6);
	for (__u32 r = 0; r < EBB_R_MAX; r++)
		ebb_reason_sum(&e, r, &b[r]);
	err = prog_run(prog_fd, in, lay.len, out, sizeof(out), &out_len, &verdict);
	for (__u32 r = 0; r < EBB_R_MAX; r++)
		ebb_reason_sum(&e, r, &a[r]);
	if (!check_run(n, err, verdict, XDP_TX))
		return;
	if (ASSERT_EQ(out_len, lay.len, nm(n, "output length")))
		ASSERT_MEM_EQ(out, want, lay.len, nm(n, "to the claimer %s, the MACs rewritten",
						     node_cfg[m->cand[hop]].addr));
	check_one_reason(n, "reason", ebb_reason_name, b, a, EBB_R_MAX, EBB_R_FORWARDED, lay.len);
}

static void claim_cases(void)
{
	size_t four = case_named("four"), v6 = case_named("IPv6"), ipip = case_named("ipip"),
	       two = case_named("two"), vlan = case_named("VLAN"), one = case_named("one");
	size_t l2 = 14;

	/* refused first, while the flows are unconfirmed */
	run_claim("claim with a wrong cookie", four, 2, CL_BAD_COOKIE, 0, XDP_DROP,
		  EBB_R_DROP_BAD_CLAIM);
	run_claim("claim from another address than its candidate's", four, 2, CL_BAD_SOURCE, 0,
		  XDP_DROP, EBB_R_DROP_BAD_CLAIM);
	run_claim("claim naming an unknown node id", four, 2, CL_UNKNOWN_NODE, 0, XDP_DROP,
		  EBB_R_DROP_BAD_CLAIM);
	run_claim("claim naming another node's id", four, 2, CL_OTHER_NODE_ID, 0, XDP_DROP,
		  EBB_R_DROP_BAD_CLAIM);
	run_claim("claim with hop = count", four, 2, CL_BAD_HOP, 0, XDP_DROP, EBB_R_DROP_BAD_CLAIM);
	run_claim("a rescue (no claim flag) back at the balancer", four, 2, CL_NO_FLAG, 0, XDP_DROP,
		  EBB_R_DROP_BAD_CLAIM);
	run_claim("IPv6 claim with a wrong cookie", v6, 1, CL_BAD_COOKIE, 0, XDP_DROP,
		  EBB_R_DROP_BAD_CLAIM);
	run_claim("protocol 253 to an address not ours: passed", four, 2, CL_NOT_OURS, 0, XDP_PASS,
		  EBB_R_PASS_NOT_VIP);
	run_claim("protocol 253 to a VIP address: passed, as before rescues", four, 2, CL_TO_VIP, 0,
		  XDP_PASS, EBB_R_PASS_NOT_VIP);
	run_claim("protocol 253 to a VIP address, bad checksum: dropped as any", four, 2,
		  CL_TO_VIP_BAD_CSUM, 0, XDP_DROP, EBB_R_DROP_BAD_CSUM);
	{
		/* cut in the outer header, the rescue header, the candidates, the client's IP and
		 * TCP headers */
		static const size_t cuts[] = { 20, 33, 34, 35, 40, 60, 100, 140, 150, 160, 175 };
		char name[96];

		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			snprintf(name, sizeof(name), "claim cut to %zu bytes", l2 + cuts[i]);
			run_claim(name, four, 2, CL_OK, (int)(l2 + cuts[i]), XDP_DROP,
				  EBB_R_DROP_BAD_CLAIM);
		}
	}
	/* accepted */
	run_claim("claim by the third candidate (dsr)", four, 2, CL_OK, 0, XDP_TX, EBB_R_CLAIMED);
	hit_after_claim("after the claim: the flow's next packet goes straight to it", four, 2);
	run_claim("claim by the first candidate", two, 0, CL_OK, 0, XDP_TX, EBB_R_CLAIMED);
	run_claim("claim of a one-candidate rescue", one, 0, CL_OK, 0, XDP_TX, EBB_R_CLAIMED);
	run_claim("claim over IPv6 by the second candidate", v6, 1, CL_OK, 0, XDP_TX, EBB_R_CLAIMED);
	run_claim("claim of an ipip VIP's flow: sent on ipip", ipip, 0, CL_OK, 0, XDP_TX,
		  EBB_R_CLAIMED);
	run_claim("VLAN-tagged claim", vlan, 1, CL_OK, 0, XDP_TX, EBB_R_CLAIMED);
	/* a claimer that has since stopped taking flows is refused */
	if (ASSERT_OK(set_state(R2, EBB_NODE_INACTIVE), "claim: set R2 inactive")) {
		run_claim("claim by a node that takes no flows", case_named("history owner past"),
			  1, CL_OK, 0, XDP_DROP, EBB_R_DROP_BAD_CLAIM);
		ASSERT_OK(set_state(R2, EBB_NODE_ACTIVE), "claim: R2 active again");
	}
}

/* ---- rate 0, the rate limit, a SYN on an unconfirmed flow ---- */
static int run_simple(const char *n, const struct pkt_desc *d, __u32 *verdict, uint8_t *out,
		      size_t *out_len, int *reason)
{
	struct ebb_reason_counter b[EBB_R_MAX], a[EBB_R_MAX];
	uint8_t in[PKT_MAX];
	struct pkt_layout lay = build_frame(d, LB_MAC, GW_MAC, in);
	int err, moved = 0;

	for (__u32 r = 0; r < EBB_R_MAX; r++)
		ebb_reason_sum(&e, r, &b[r]);
	err = prog_run(prog_fd, in, lay.len, out, PKT_MAX + 256, out_len, verdict);
	for (__u32 r = 0; r < EBB_R_MAX; r++) {
		ebb_reason_sum(&e, r, &a[r]);
		if (a[r].packets != b[r].packets) {
			*reason = (int)r;
			moved++;
		}
	}
	(void)n;
	return err ? err : moved == 1 ? 0 : -EPROTO;
}

static void rate_cases(void)
{
	const char *n = "rate 0";
	struct pkt_desc d = { ACK4(VR) };
	uint8_t out[PKT_MAX + 256];
	struct ebb_flow_key key;
	struct ebb_flow f;
	size_t out_len;
	__u32 verdict;
	int reason = -1;

	/* rescues off: exactly today's second chance, a confirmed entry */
	d.sport = port_for(VR_K, &d, R1, R2, next_port);
	next_port = d.sport + 1;
	ASSERT_OK(set_settings(0, 0), nm(n, "settings.rescue_rate 0"));
	if (ASSERT_OK(run_simple(n, &d, &verdict, out, &out_len, &reason), nm(n, "ran, one reason"))) {
		ASSERT_EQ(verdict, XDP_TX, nm(n, "XDP_TX"));
		ASSERT_EQ(reason, EBB_R_FORWARDED, nm(n, "reason forwarded"));
		CHECK(!memcmp(out, node_cfg[R1].mac, 6), "%s", nm(n, "to the second-chance owner"));
	}
	key_of(&d, &key);
	if (ASSERT_OK(flow_get(&key, &f), nm(n, "entry")))
		ASSERT_EQ(f.flags, 0, nm(n, "entry confirmed, as without rescues"));

	/* a rate of 3 per second: three rescues, then the old way, counted, unconfirmed */
	n = "rate limit";
	for (int attempt = 0; attempt < 5; attempt++) {
		int got[5], verdicts[5], ok = 1;
		__u64 t0, t1;

		ASSERT_OK(set_settings(3, 0), nm(n, "settings.rescue_rate 3"));
		ASSERT_OK(reset_window(), nm(n, "a fresh window"));
		t0 = ebb_now_ns();
		for (int i = 0; i < 5; i++) {
			d.sport = port_for(VR_K, &d, R1, R2, next_port);
			next_port = d.sport + 1;
			ok &= !run_simple(n, &d, &verdict, out, &out_len, &got[i]);
			verdicts[i] = (int)verdict;
		}
		t1 = ebb_now_ns();
		/* five packets within one window: a stall of a second would open another */
		if (t1 - t0 > 500000000ULL && attempt < 4)
			continue;
		ASSERT_TRUE(ok, nm(n, "five packets ran, one reason each"));
		for (int i = 0; i < 5; i++) {
			int want = i < 3 ? EBB_R_RESCUED : EBB_R_RESCUE_LIMITED;

			ASSERT_EQ(got[i], want, nm(n, "packet %d: %s", i + 1, ebb_reason_name(want)));
			ASSERT_EQ(verdicts[i], XDP_TX, nm(n, "packet %d: XDP_TX", i + 1));
		}
		CHECK(out_len > 12 && !memcmp(out, node_cfg[R1].mac, 6) &&
			      out[12] == 0x08 && out[13] == 0x00 && out[14 + 9] == IPPROTO_TCP,
		      "%s", nm(n, "over the rate: the client's packet itself, to the second-chance owner"));
		key_of(&d, &key);
		if (ASSERT_OK(flow_get(&key, &f), nm(n, "entry")))
			ASSERT_EQ(f.flags, EBB_FLOW_UNCONFIRMED, nm(n, "entry unconfirmed all the same"));
		break;
	}
	ASSERT_OK(set_settings(EBB_DEFAULT_RESCUE_RATE, 0), "rate: back to the default");

	/* A SYN on an unconfirmed flow: a new connection on the new-flow table, confirmed. */
	n = "SYN on an unconfirmed flow";
	d.flags = TH_SYN;
	d.payload = 0;
	if (ASSERT_OK(run_simple(n, &d, &verdict, out, &out_len, &reason), nm(n, "ran, one reason"))) {
		ASSERT_EQ(verdict, XDP_TX, nm(n, "XDP_TX"));
		ASSERT_EQ(reason, EBB_R_FORWARDED, nm(n, "reason forwarded"));
		CHECK(!memcmp(out, node_cfg[R2].mac, 6), "%s", nm(n, "to the new-flow owner"));
	}
	if (ASSERT_OK(flow_get(&key, &f), nm(n, "entry"))) {
		ASSERT_EQ(f.flags, 0, nm(n, "entry confirmed"));
		ASSERT_EQ(f.node_id, node_cfg[R2].id, nm(n, "entry names the new-flow owner"));
	}
}

/* ---- the census: a flow no node has claimed is no live flow ---- */
static void census_case(void)
{
	const char *n = "census";
	struct ebb_census *c = NULL;
	struct ebb_census_io *io;
	struct ebb_census_key keys[16];
	struct ebb_flow_key k;
	__u64 now = ebb_now_ns();
	int ret;

	/* an empty table, then 3 confirmed flows and 2 unconfirmed ones on R3, 1 unconfirmed on R4 */
	flow_clear_all();
	ASSERT_EQ(flow_count(), 0, nm(n, "flow table emptied"));
	for (int i = 0; i < 6; i++) {
		struct pkt_desc d = { ACK4(VR) };
		struct ebb_flow f = { .node_id = node_cfg[i < 5 ? R3 : R4].id,
				      .vip_id = (__u8)vip_id(VR_K),
				      .flags = i < 3 ? 0 : EBB_FLOW_UNCONFIRMED,
				      .seen = ebb_ft_tick_of_ns(now) };

		d.sport = (uint16_t)(50000 + i);
		key_of(&d, &k);
		ASSERT_OK(flow_put(&k, &f), nm(n, "flow %d pinned", i));
	}
	ASSERT_EQ(flow_count(), 6, nm(n, "6 flows in the table"));
	ret = ebb_census_open(&e, &c);
	/* The census program walks the LRU layout: it cannot take the bucket table's map, and
	 * its successor reads the mapped table (plan step 3, doc/flow-table-progress.md). Until
	 * then its checks are skipped, said so, not dropped. */
	if (ret == -EPROTO) {
		printf("ok %d - %s # SKIP the census reads the LRU layout (flow-table step 3)\n",
		       ++test_checks, nm(n, "open, run, live counts and keys"));
		return;
	}
	if (!ASSERT_OK(ret, nm(n, "open")))
		return;
	io = ebb_census_io(c);
	io->now_ns = ebb_now_ns();
	for (int i = 0; i < EBB_MAX_VIPS; i++) {
		io->vips[i].tcp_idle_ns = 3600ULL * 1000000000ULL;
		io->vips[i].udp_idle_ns = io->vips[i].fin_ns = 3600ULL * 1000000000ULL;
	}
	io->watch[node_cfg[R3].id] = io->watch[node_cfg[R4].id] = 1;
	if (ASSERT_OK(ebb_census_run(c), nm(n, "run"))) {
		ASSERT_EQ(io->visited, 6, nm(n, "visited all 6 entries"));
		ASSERT_EQ(io->live[node_cfg[R3].id], 3, nm(n, "R3: 3 live (its 2 unconfirmed not)"));
		ASSERT_EQ(io->live[node_cfg[R4].id], 0, nm(n, "R4: 0 live (its unconfirmed flow not)"));
		ASSERT_EQ(io->live_total, 3, nm(n, "3 live in all"));
		ASSERT_EQ(io->n_keys, 3, nm(n, "3 flows listed for the drain"));
		ret = ebb_census_keys(c, keys, io->n_keys < 16 ? io->n_keys : 16);
		if (ASSERT_EQ(ret, 3, nm(n, "3 keys read"))) {
			int confirmed = 0;

			for (int i = 0; i < 3; i++) {
				struct ebb_flow f;

				confirmed += !flow_get(&keys[i].key, &f) && f.flags == 0;
			}
			ASSERT_EQ(confirmed, 3, nm(n, "each listed flow is a confirmed one"));
		}
	}
	ebb_census_close(c);
}

/* ---- setup ---- */
static bool setup(void)
{
	struct ebb_err err = {};
	struct ebb_addr s4, s6;
	__u32 zero = 0;

	if (!balancer_setup())
		return false;
	rescue_window_fd = bpf_map__fd(skel->maps.rescue_window);
	slot_history_fd = bpf_map__fd(skel->maps.slot_history);
	rescue_secret_fd = bpf_map__fd(skel->maps.rescue_secret);
	if (ebb_parse_addr(SRC4, &s4, NULL) || ebb_parse_addr(SRC6, &s6, NULL))
		abort();
	for (size_t i = 0; i < sizeof(vip_cfg) / sizeof(vip_cfg[0]); i++) {
		struct ebb_vip_key k;
		struct ebb_vip_opts o = { .fwd = !strcmp(vip_cfg[i], VI_K) ? EBB_FWD_IPIP : EBB_FWD_DSR };

		if (strcmp(vip_cfg[i], VN_K)) {
			o.encap_src4 = s4.a[0];
			memcpy(o.encap_src6, s6.a, 16);
		}
		if (!ASSERT_OK(ebb_parse_vip(vip_cfg[i], &k, &err) || ebb_vip_add(&e, &k, &o, &err),
			       nm("setup", "vip add %s", vip_cfg[i]))) {
			printf("#   %s\n", err.msg);
			return false;
		}
	}
	for (int i = 0; i < N_NODES; i++) {
		struct node_cfg *c = &node_cfg[i];

		if (!ASSERT_OK(add_node(c->addr, c->vip, c->mac, false, &c->id, &err),
			       nm("setup", "node add %s vip %s", c->addr, c->vip))) {
			printf("#   %s\n", err.msg);
			return false;
		}
		if (!ASSERT_OK(set_flags(i, c->prog ? EBB_NODE_F_NODE_PROG : 0),
			       nm("setup", "%s: node program %s", c->addr, c->prog ? "on" : "off")))
			return false;
	}
	/* the first candidates: draining nodes, whose slots the new-flow tables give others */
	if (!ASSERT_OK(set_state(R1, EBB_NODE_DRAINING), "setup: drain R1") ||
	    !ASSERT_OK(set_state(S1, EBB_NODE_DRAINING), "setup: drain S1") ||
	    !ASSERT_OK(set_state(M1, EBB_NODE_DRAINING), "setup: drain M1"))
		return false;
	for (int i = 0; i < N_NODES; i++) { /* a state change must keep the node's flags */
		struct ebb_node node;
		__u32 id = node_cfg[i].id;

		if (bpf_map_lookup_elem(e.nodes_fd, &id, &node) ||
		    !ASSERT_EQ(node.flags, node_cfg[i].prog ? EBB_NODE_F_NODE_PROG : 0,
			       nm("setup", "%s keeps its flags across state changes", node_cfg[i].addr)))
			return false;
	}
	return ASSERT_OK(bpf_map_update_elem(rescue_secret_fd, &zero, &SECRET, BPF_ANY),
			 "setup: rescue_secret");
}

int main(void)
{
	cpu_set_t one;

	if (!suite_start("rescue"))
		return 0;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	ASSERT_OK(sched_setaffinity(0, sizeof(one), &one), "setup: pinned to one CPU");
	siphash_vectors();
	if (setup()) {
		rate_cases();
		for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++)
			run_rcase(i);
		claim_cases();
		census_case();
	}
	(void)name_of_id;
	balancer_teardown();
	return test_summary("rescue");
}
