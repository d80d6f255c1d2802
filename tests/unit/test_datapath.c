// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the XDP datapath (bpf/balancer.bpf.c) through BPF_PROG_TEST_RUN, on the real
 * program loaded from its skeleton and configured with libebb, Katran-fixture style: a table of
 * cases, each an input frame (built by tests/unit/packets.h), the verdict, the output bytes and
 * the map changes it must cause.
 *
 * Expectations are computed independently of the program: the node a flow must reach is read
 * from the VIP's Maglev table (rings[EBB_RING_NEW/SECOND(vip)][ebb_ring_slot(key)]) or named by
 * the test; its MAC comes from this file's own configuration; the output frame is the input
 * with eth source = the input's eth destination and eth destination = that MAC.
 *
 * The maps are declared pinned by name; every pin path is cleared before load, so the test
 * pins nothing anywhere (not even after a crash) and never touches a running ebb's maps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

#include "ebb.h"
#include "ebb_hash.h"
#include "libebb.h"
#include "packets.h"
#include "test.h"
#define FIXTURE_BALANCER
#include "fixture.h"

/* ---- the configuration under test (documentation addresses only) ---- */
#define VIP1 "203.0.113.10" /* pin, second chance, SYN reuse, ICMP, VLAN, options */
#define VIP1_K "203.0.113.10:80/tcp"
#define NODE_A "198.51.100.11"
#define NODE_B "198.51.100.12"
#define NODE_C "198.51.100.13" /* added inactive, activated to move the rings under a flow */
#define VIP2 "203.0.113.20" /* drain */
#define VIP2_K "203.0.113.20:80/tcp"
#define NODE_D "198.51.100.21"
#define NODE_E "198.51.100.22"
#define NODE_F "198.51.100.23"
#define VIP3 "203.0.113.30" /* inactive / down */
#define VIP3_K "203.0.113.30:80/tcp"
#define NODE_G "198.51.100.31"
#define NODE_H "198.51.100.32"
#define NODE_I "198.51.100.33"
#define VIPU4 "203.0.113.40"
#define VIPU4_K "203.0.113.40:53/udp"
#define VIP6 "2001:db8:100::10"
#define VIP6_K "[2001:db8:100::10]:80/tcp"
#define VIPU6 "2001:db8:100::40"
#define VIPU6_K "[2001:db8:100::40]:53/udp"
#define VIPW "203.0.113.50"
#define VIPW0_K "203.0.113.50:0/tcp"
#define VIPW443_K "203.0.113.50:443/tcp"
#define NODE_L "198.51.100.51" /* the wildcard's */
#define NODE_M "198.51.100.52" /* port 443's */
#define VIPE "203.0.113.60" /* no node at all */
#define VIPE_K "203.0.113.60:80/tcp"
#define VIPI "203.0.113.61" /* only an inactive node */
#define VIPI_K "203.0.113.61:80/tcp"
#define VIPZ "203.0.113.62" /* a node without MAC */
#define VIPZ_K "203.0.113.62:80/tcp"
#define NOT_VIP4 "203.0.113.99"
#define NOT_VIP6 "2001:db8:100::99"

#define CLI "198.51.100.200"
#define CLI_SC "198.51.100.201"
#define CLI_DR "198.51.100.202"
#define CLI_BULK "198.51.100.203"
#define CLI_IN "198.51.100.204"
#define CLI_RE "198.51.100.205"
#define CLI_MISC "198.51.100.206"
#define CLI6 "2001:db8:1::100"
#define ROUTER4 "198.51.100.254"
#define ROUTER6 "2001:db8:ffff::1"

static const char *const vip_cfg[] = {
	VIP1_K, VIP2_K, VIP3_K, VIPU4_K, VIP6_K, VIPU6_K, VIPW0_K, VIPW443_K, VIPE_K, VIPI_K,
	VIPZ_K,
};

struct node_cfg {
	const char *addr, *vip;
	uint8_t mac[6];
	bool inactive, zero_mac;
	__u32 id; /* filled in at setup */
};

static struct node_cfg node_cfg[] = {
	{ .addr = NODE_A, .vip = VIP1_K, .mac = { 0x02, 0, 0, 0, 0, 0x11 } },
	{ .addr = NODE_B, .vip = VIP1_K, .mac = { 0x02, 0, 0, 0, 0, 0x12 } },
	{ .addr = NODE_C, .vip = VIP1_K, .mac = { 0x02, 0, 0, 0, 0, 0x13 }, .inactive = true },
	{ .addr = NODE_D, .vip = VIP2_K, .mac = { 0x02, 0, 0, 0, 0, 0x21 } },
	{ .addr = NODE_E, .vip = VIP2_K, .mac = { 0x02, 0, 0, 0, 0, 0x22 } },
	{ .addr = NODE_F, .vip = VIP2_K, .mac = { 0x02, 0, 0, 0, 0, 0x23 } },
	{ .addr = NODE_G, .vip = VIP3_K, .mac = { 0x02, 0, 0, 0, 0, 0x31 } },
	{ .addr = NODE_H, .vip = VIP3_K, .mac = { 0x02, 0, 0, 0, 0, 0x32 } },
	{ .addr = NODE_I, .vip = VIP3_K, .mac = { 0x02, 0, 0, 0, 0, 0x33 } },
	{ .addr = "198.51.100.41", .vip = VIPU4_K, .mac = { 0x02, 0, 0, 0, 0, 0x41 } },
	{ .addr = "198.51.100.42", .vip = VIPU4_K, .mac = { 0x02, 0, 0, 0, 0, 0x42 } },
	{ .addr = "2001:db8:200::1", .vip = VIP6_K, .mac = { 0x02, 0, 0, 0, 0x06, 0x01 } },
	{ .addr = "2001:db8:200::2", .vip = VIP6_K, .mac = { 0x02, 0, 0, 0, 0x06, 0x02 } },
	{ .addr = "2001:db8:200::41", .vip = VIPU6_K, .mac = { 0x02, 0, 0, 0, 0x06, 0x41 } },
	{ .addr = "2001:db8:200::42", .vip = VIPU6_K, .mac = { 0x02, 0, 0, 0, 0x06, 0x42 } },
	{ .addr = NODE_L, .vip = VIPW0_K, .mac = { 0x02, 0, 0, 0, 0, 0x51 } },
	{ .addr = NODE_M, .vip = VIPW443_K, .mac = { 0x02, 0, 0, 0, 0, 0x52 } },
	{ .addr = "198.51.100.61", .vip = VIPI_K, .mac = { 0x02, 0, 0, 0, 0, 0x61 }, .inactive = true },
	/* its MAC zeroed in the map after the add: libebb refuses a zero MAC, and the datapath
	 * must still never send a frame to one (a map written by hand or by an older ebbctl) */
	{ .addr = "198.51.100.62", .vip = VIPZ_K, .mac = { 0x02, 0, 0, 0, 0, 0x62 }, .zero_mac = true },
};
#define N_NODES (sizeof(node_cfg) / sizeof(node_cfg[0]))

/* Client ports chosen at run time: indexes of packets.h's pkt_port_var[]. */
enum { PV_NONE, PV_PIN, PV_KEEP, PV_LOST, PV_ICMP_D, PV_G, PV_H, PV_MAX };
_Static_assert(PV_MAX <= PKT_PORT_VARS, "pkt_port_var too small");
#define test_ports pkt_port_var

/* Nodes remembered between cases. */
enum { S_NONE, S_PIN, S_SECOND, S_REUSE, S_OTHER, S_V6, S_UDP4, S_UDP6, S_MAX };
static __u32 saved[S_MAX];

/* ---- helpers ---- */
static struct node_cfg *cfg_of_addr(const char *addr)
{
	for (size_t i = 0; i < N_NODES; i++)
		if (!strcmp(node_cfg[i].addr, addr))
			return &node_cfg[i];
	abort(); /* a typo in the table */
}

static __u32 node_id_of(const char *addr)
{
	return cfg_of_addr(addr)->id;
}

static const uint8_t *mac_of(__u32 id)
{
	for (size_t i = 0; i < N_NODES; i++)
		if (id && node_cfg[i].id == id)
			return node_cfg[i].mac;
	return NULL;
}

static const char *addr_of(__u32 id)
{
	for (size_t i = 0; i < N_NODES; i++)
		if (id && node_cfg[i].id == id)
			return node_cfg[i].addr;
	return "none";
}

static int set_state(const char *addr, __u8 state)
{
	struct ebb_err err = {};
	struct ebb_addr a;

	if (ebb_parse_addr(addr, &a, &err))
		return -EINVAL;
	if (ebb_node_set_state(&e, &a, state, 0, &err)) {
		printf("#   set_state %s: %s\n", addr, err.msg);
		return -1;
	}
	return 0;
}

static __u8 state_of(__u32 id)
{
	struct ebb_node n;

	if (bpf_map_lookup_elem(e.nodes_fd, &id, &n))
		return EBB_NODE_UNUSED;
	return n.state;
}

/* The flow key of the connection a packet belongs to, as the client sends it. */
static bool key_of(const struct pkt_desc *d, struct ebb_flow_key *k)
{
	const struct pkt_desc *f = d;
	bool rev = false;
	__be16 sp, dp;

	memset(k, 0, sizeof(*k));
	if (d->ethertype)
		return false;
	if (d->proto == IPPROTO_ICMP || d->proto == IPPROTO_ICMPV6) {
		if (!d->quote)
			return false;
		/* an error about the node's reply: the flow is the quote, reversed */
		f = d->quote;
		rev = true;
	}
	if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
		return false;
	k->family = f->family == 6 ? EBB_FAMILY_V6 : EBB_FAMILY_V4;
	k->proto = f->proto;
	pkt_addr(rev ? f->dst : f->src, f->family, (uint8_t *)k->src);
	pkt_addr(rev ? f->src : f->dst, f->family, (uint8_t *)k->dst);
	sp = htons(pkt_port(f->sport, f->sport_var));
	dp = htons(pkt_port(f->dport, f->dport_var));
	k->sport = rev ? dp : sp;
	k->dport = rev ? sp : dp;
	return true;
}

static int read_ring(__u32 ring_id, __u32 *table)
{
	return ebb_ring_read(&e, ring_id, table);
}

/* A client port (from `from` up) whose slot in `table` is want_node (and, when avoid is
 * given, whose slot in avoid is not want_node). */
static uint16_t port_to(const struct pkt_desc *d, const __u32 *table, const __u32 *avoid,
			__u32 want_node, uint16_t from)
{
	struct ebb_flow_key k;

	key_of(d, &k);
	for (uint32_t p = from; p < 65536; p++) {
		__u32 slot;

		k.sport = htons((uint16_t)p);
		slot = ebb_ring_slot(&k);
		if (table[slot] == want_node && (!avoid || avoid[slot] != want_node))
			return (uint16_t)p;
	}
	return 0;
}

/* ---- the case table ---- */
enum { CUT_NONE, CUT_L2, CUT_L3, CUT_L4 }; /* keep `keep` bytes from that layer's start */
#define CUT_QUOTE 100 /* truncation_cases(): not a cut, a well-formed ICMP error quoting k bytes */
enum { BY_NONE, BY_NEW, BY_SECOND };
enum { F_AUTO, F_ABSENT, F_PINNED, F_SAME, F_SKIP };

struct tcase {
	const char *name;
	void (*before)(void); /* a configuration change, made before the packet */
	void (*custom)(const struct tcase *c); /* a case that is a loop of packets */
	struct pkt_desc pkt;
	int cut, keep;
	/* expectations */
	int verdict;
	int reason;
	const char *vip; /* the VIP matched: its rings and vip_stats */
	const char *node; /* the node it must reach... */
	int node_slot; /* ...or the one remembered in saved[node_slot]... */
	int ring; /* ...or the one vip's NEW / SECOND ring gives its flow */
	int save; /* remember the expected node in saved[save] */
	int flow; /* the flow entry after: F_AUTO = pinned if forwarded, same for an ICMP error,
		   * absent otherwise */
	__u8 flow_flags;
	int new_flows, second_chance; /* vip_stats and node_stats deltas */
};

static void run_case(const struct tcase *c)
{
	uint8_t in[PKT_MAX], out[PKT_MAX + 64], want[PKT_MAX];
	const char *n = c->name;
	struct pkt_layout lay;
	struct ebb_flow_key key;
	struct snap b, a;
	__u32 vip_id = ~0u, exp_node = 0, verdict = ~0u;
	size_t len, out_len = 0;
	bool has_key;
	int flow, err;
	__u64 t0, t1;

	if (c->before)
		c->before();
	if (c->custom) {
		c->custom(c);
		return;
	}
	lay = build_frame(&c->pkt, LB_MAC, GW_MAC, in);
	len = lay.len;
	if (c->cut == CUT_L2)
		len = c->keep;
	else if (c->cut == CUT_L3)
		len = lay.l3 + c->keep;
	else if (c->cut == CUT_L4)
		len = lay.l4 + c->keep;
	if (len > lay.len)
		abort();

	has_key = key_of(&c->pkt, &key);
	if (c->vip) {
		vip_id = vip_id_of(c->vip);
		if (!CHECK(vip_id < EBB_MAX_VIPS, "%s", nm(n, "VIP %s configured", c->vip)))
			return;
	}
	if (c->node)
		exp_node = node_id_of(c->node);
	else if (c->node_slot)
		exp_node = saved[c->node_slot];
	else if (c->ring && has_key && vip_id < EBB_MAX_VIPS)
		exp_node = ring_node(c->ring == BY_NEW ? EBB_RING_NEW(vip_id) :
							 EBB_RING_SECOND(vip_id),
				     ebb_ring_slot(&key));
	if (c->save)
		saved[c->save] = exp_node;

	/* The expected output: untouched, or dsr's L2 rewrite toward the expected node. */
	memcpy(want, in, len);
	if (c->verdict == XDP_TX) {
		const uint8_t *mac = mac_of(exp_node);

		if (!CHECK(mac != NULL, "%s", nm(n, "an expected node is known (id %u)", exp_node)))
			return;
		memcpy(want, mac, 6);
		memcpy(want + 6, in, 6);
	}

	take_snap(&b, has_key ? &key : NULL, vip_id, c->verdict == XDP_TX ? exp_node : 0);
	/* bpf_ktime_get_coarse_ns() is CLOCK_MONOTONIC_COARSE: up to a tick behind */
	t0 = ebb_now_ns() - 20000000ULL;
	err = prog_run(prog_fd, in, len, out, sizeof(out), &out_len, &verdict);
	t1 = ebb_now_ns();
	take_snap(&a, has_key ? &key : NULL, vip_id, c->verdict == XDP_TX ? exp_node : 0);

	if (!check_run(n, err, verdict, c->verdict))
		return;
	if (c->verdict == XDP_TX)
		printf("#   %s: expected node %s (id %u)\n", n, addr_of(exp_node), exp_node);
	if (ASSERT_EQ(out_len, len, nm(n, "output length %zu", len)))
		ASSERT_MEM_EQ(out, want, len,
			      nm(n, c->verdict == XDP_TX ? "output = input with MACs rewritten to %s" :
							  "output = input, untouched%s",
				 c->verdict == XDP_TX ? addr_of(exp_node) : ""));

	/* reasons: exactly one moved, by this packet */
	check_one_reason(n, "reason", ebb_reason_name, b.r, a.r, EBB_R_MAX, c->reason, len);

	/* the flow table */
	flow = c->flow;
	if (flow == F_AUTO) {
		if (has_key && (c->pkt.proto == IPPROTO_ICMP || c->pkt.proto == IPPROTO_ICMPV6))
			flow = F_SAME;
		else if (has_key && c->verdict == XDP_TX)
			flow = F_PINNED;
		else
			flow = has_key ? F_ABSENT : F_SKIP;
		if (flow == F_SKIP) /* no flow to name: at least nothing may have been added */
			ASSERT_EQ(a.flows, b.flows, nm(n, "flow table size unchanged"));
	}
	if (flow == F_ABSENT) {
		CHECK(!a.has_flow, "%s", nm(n, "no flow entry"));
		ASSERT_EQ(a.flows, b.flows, nm(n, "flow table size unchanged"));
	} else if (flow == F_SAME) {
		CHECK(a.has_flow == b.has_flow &&
			      (!a.has_flow || (a.flow.node_id == b.flow.node_id &&
					       a.flow.flags == b.flow.flags &&
					       a.flow.seen == b.flow.seen)),
		      "%s", nm(n, "flow entry unchanged, last_seen too (%s)",
			       b.has_flow ? "present" : "absent"));
		ASSERT_EQ(a.flows, b.flows, nm(n, "flow table size unchanged"));
	} else if (flow == F_PINNED) {
		if (CHECK(a.has_flow, "%s", nm(n, "flow entry present"))) {
			ASSERT_EQ(a.flow.node_id, exp_node,
				  nm(n, "flow entry pinned to %s", addr_of(exp_node)));
			ASSERT_EQ(a.flow.flags, c->flow_flags, nm(n, "flow flags 0x%x", c->flow_flags));
			if (vip_id < EBB_MAX_VIPS && (!b.has_flow || c->new_flows))
				ASSERT_EQ(a.flow.vip_id, vip_id,
					  nm(n, "flow entry records its VIP (id %u)", vip_id));
			/* last_seen: written by a placement, refreshed by a hit once it is of an
			 * earlier tick than now (2^30 ns, include/ebb_flowtable.h), and otherwise
			 * left alone */
			__u32 tick0 = ebb_ft_tick_of_ns(t0 - 20000000ULL), tick1 = ebb_ft_tick_of_ns(t1);

			if (!b.has_flow || c->new_flows)
				CHECK(seen_between(&a.flow, t0, t1), "%s", nm(n, "flow last_seen set to now"));
			else if (b.flow.seen != tick0 && b.flow.seen != tick1)
				CHECK(seen_between(&a.flow, t0, t1), "%s",
				      nm(n, "flow last_seen refreshed (it was of an earlier tick)"));
			else if (b.flow.seen == tick0 && b.flow.seen == tick1)
				ASSERT_EQ(a.flow.seen, b.flow.seen,
					  nm(n, "flow last_seen left alone within its tick"));
		}
		ASSERT_EQ(a.flows - b.flows, b.has_flow ? 0 : 1,
			  nm(n, "flow table grew by %d", b.has_flow ? 0 : 1));
	}

	/* per-VIP and per-node counters */
	if (c->vip) {
		int pkts = c->verdict == XDP_TX || c->reason == EBB_R_DROP_NO_NODE ||
			   c->reason == EBB_R_DROP_NO_MAC;

		CHECK(a.vip.packets - b.vip.packets == (__u64)pkts &&
			      a.vip.bytes - b.vip.bytes == pkts * len,
		      "%s", nm(n, "vip_stats packets +%d", pkts));
		ASSERT_EQ(a.vip.new_flows - b.vip.new_flows, c->new_flows,
			  nm(n, "vip_stats new_flows +%d", c->new_flows));
		ASSERT_EQ(a.vip.second_chance - b.vip.second_chance, c->second_chance,
			  nm(n, "vip_stats second_chance +%d", c->second_chance));
	}
	if (c->verdict == XDP_TX && exp_node) {
		CHECK(a.node.packets - b.node.packets == 1 && a.node.bytes - b.node.bytes == len, "%s",
		      nm(n, "node_stats[%s] packets +1", addr_of(exp_node)));
		ASSERT_EQ(a.node.new_flows - b.node.new_flows, c->new_flows,
			  nm(n, "node_stats new_flows +%d", c->new_flows));
		ASSERT_EQ(a.node.second_chance - b.node.second_chance, c->second_chance,
			  nm(n, "node_stats second_chance +%d", c->second_chance));
	}
}

/* ---- configuration changes between cases ---- */
static __u32 ring_t0[EBB_RING_SIZE], ring_t1[EBB_RING_SIZE], drain_before[EBB_RING_SIZE];

#define PIN_FLOW .family = 4, .src = CLI, .dst = VIP1, .proto = IPPROTO_TCP, .sport_var = PV_PIN, \
		 .dport = 80
static const struct pkt_desc pin_flow = { PIN_FLOW };

/* Picks a client port that node C (inactive now) would take over once active: then the hit
 * after C's activation shows that the pin, not the hash, decides. */
static void hook_pin_prepare(void)
{
	const char *n = "pin: prepare";
	__u32 vip = vip_id_of(VIP1_K), c = node_id_of(NODE_C);
	bool has_c = false;

	ASSERT_OK(set_state(NODE_C, EBB_NODE_ACTIVE), nm(n, "activate C to read the table it makes"));
	ASSERT_OK(read_ring(EBB_RING_NEW(vip), ring_t1), nm(n, "read NEW ring with A, B, C"));
	ASSERT_OK(set_state(NODE_C, EBB_NODE_INACTIVE), nm(n, "set C inactive again"));
	ASSERT_OK(read_ring(EBB_RING_NEW(vip), ring_t0), nm(n, "read NEW ring with A, B"));
	for (__u32 i = 0; i < EBB_RING_SIZE && !has_c; i++)
		has_c = ring_t0[i] == c;
	CHECK(!has_c, "%s", nm(n, "inactive C has no slot in the NEW ring"));
	test_ports[PV_PIN] = port_to(&pin_flow, ring_t1, ring_t0, c, 30000);
	CHECK(test_ports[PV_PIN] != 0, "%s", nm(n, "a client port that C would take over exists"));
}

static void hook_pin_change(void)
{
	const char *n = "pin: ring change";
	__u32 vip = vip_id_of(VIP1_K);
	struct ebb_flow_key k;

	ASSERT_OK(set_state(NODE_C, EBB_NODE_ACTIVE), nm(n, "activate node C"));
	key_of(&pin_flow, &k);
	ASSERT_EQ(ring_node(EBB_RING_NEW(vip), ebb_ring_slot(&k)), node_id_of(NODE_C),
		  nm(n, "the NEW ring now gives the pinned flow to C, not to its node"));
}

/* Ages the pinned flow's entry past EBB_TOUCH_NS: a packet of the flow must refresh it, an
 * ICMP error about it (not traffic of the flow) must not keep it alive. */
static void hook_age_pin(void)
{
	struct ebb_flow_key k;
	struct ebb_flow f = {};

	key_of(&pin_flow, &k);
	if (!ASSERT_OK(flow_get(&k, &f), "age: the pinned flow's entry exists"))
		return;
	f.seen = ebb_ft_tick_of_ns(ebb_now_ns() - 5000000000ULL);
	ASSERT_OK(flow_put(&k, &f), "age: set the pinned flow's last_seen 5 s back");
}

#define DRAIN_FLOW .family = 4, .src = CLI_DR, .dst = VIP2, .proto = IPPROTO_TCP, .dport = 80
static const struct pkt_desc drain_flow = { DRAIN_FLOW };

static void hook_drain_prepare(void)
{
	const char *n = "drain: prepare";
	__u32 d = node_id_of(NODE_D);

	ASSERT_OK(read_ring(EBB_RING_NEW(vip_id_of(VIP2_K)), drain_before),
		  nm(n, "read NEW ring before the drain"));
	test_ports[PV_KEEP] = port_to(&drain_flow, drain_before, NULL, d, 31000);
	test_ports[PV_LOST] = port_to(&drain_flow, drain_before, NULL, d, test_ports[PV_KEEP] + 1);
	test_ports[PV_ICMP_D] = port_to(&drain_flow, drain_before, NULL, d, test_ports[PV_LOST] + 1);
	CHECK(test_ports[PV_KEEP] && test_ports[PV_LOST] && test_ports[PV_ICMP_D], "%s",
	      nm(n, "client ports placed on D exist (%u, %u, %u)", test_ports[PV_KEEP],
		 test_ports[PV_LOST], test_ports[PV_ICMP_D]));
}

static void hook_drain(void)
{
	const char *n = "drain";
	struct pkt_desc lost = { DRAIN_FLOW, .sport_var = PV_LOST };
	struct ebb_flow_key k;
	bool has_d = false;

	ASSERT_OK(set_state(NODE_D, EBB_NODE_DRAINING), nm(n, "drain node D"));
	key_of(&lost, &k);
	ASSERT_OK(flow_del(&k), nm(n, "forget the lost flow's entry"));
	ASSERT_OK(read_ring(EBB_RING_NEW(vip_id_of(VIP2_K)), ring_t0), nm(n, "read NEW ring"));
	for (__u32 i = 0; i < EBB_RING_SIZE && !has_d; i++)
		has_d = ring_t0[i] == node_id_of(NODE_D);
	CHECK(!has_d, "%s", nm(n, "draining D has no slot in the NEW ring"));
}

/* 300 new flows while D drains: none may land on D. */
static void bulk_drain(const struct tcase *c)
{
	const char *n = c->name;
	const int count = 300;
	__u32 vip = vip_id_of(VIP2_K), d = node_id_of(NODE_D);
	struct ebb_counters vb, va, db, da;
	int tx = 0, on_d = 0, on_ring = 0, would_d = 0, pinned_ok = 0, run_err = 0;

	ebb_counters_sum(e.vip_stats_fd, vip, &vb);
	ebb_counters_sum(e.node_stats_fd, d, &db);
	for (int i = 0; i < count; i++) {
		struct pkt_desc p = { .family = 4, .src = CLI_BULK, .dst = VIP2,
				      .proto = IPPROTO_TCP, .sport = (uint16_t)(20000 + i),
				      .dport = 80, .flags = TH_SYN };
		uint8_t in[PKT_MAX], out[PKT_MAX + 64];
		struct pkt_layout lay = build_frame(&p, LB_MAC, GW_MAC, in);
		struct ebb_flow_key k;
		struct ebb_flow f;
		size_t out_len = 0;
		__u32 verdict = ~0u, want, slot;

		key_of(&p, &k);
		slot = ebb_ring_slot(&k);
		want = ring_node(EBB_RING_NEW(vip), slot);
		would_d += drain_before[slot] == d;
		if (prog_run(prog_fd, in, lay.len, out, sizeof(out), &out_len, &verdict)) {
			run_err++;
			continue;
		}
		if (verdict != XDP_TX || out_len != lay.len)
			continue;
		tx++;
		on_d += !memcmp(out, mac_of(d), 6);
		on_ring += mac_of(want) && !memcmp(out, mac_of(want), 6) &&
			   !memcmp(out + 6, LB_MAC, 6) && !memcmp(out + 12, in + 12, lay.len - 12);
		pinned_ok += !flow_get(&k, &f) && f.node_id == want &&
			     f.node_id != d;
	}
	ebb_counters_sum(e.vip_stats_fd, vip, &va);
	ebb_counters_sum(e.node_stats_fd, d, &da);
	ASSERT_EQ(run_err, 0, nm(n, "every BPF_PROG_TEST_RUN succeeded"));
	CHECK(would_d > 0, "%s", nm(n, "%d of the %d flows would have gone to D before the drain",
				    would_d, count));
	ASSERT_EQ(tx, count, nm(n, "all %d SYNs forwarded (XDP_TX)", count));
	ASSERT_EQ(on_d, 0, nm(n, "none sent to draining node D"));
	ASSERT_EQ(on_ring, count, nm(n, "each sent, otherwise untouched, to its NEW-ring node"));
	ASSERT_EQ(pinned_ok, count, nm(n, "each pinned to its NEW-ring node, never D"));
	ASSERT_EQ(da.new_flows - db.new_flows, 0, nm(n, "node_stats[D] new_flows +0"));
	ASSERT_EQ(va.new_flows - vb.new_flows, count, nm(n, "vip_stats new_flows +%d", count));
}

#define IN_FLOW .family = 4, .src = CLI_IN, .dst = VIP3, .proto = IPPROTO_TCP, .dport = 80
static const struct pkt_desc in_flow = { IN_FLOW };

static void hook_inact_prepare(void)
{
	const char *n = "inactive: prepare";

	ASSERT_OK(read_ring(EBB_RING_NEW(vip_id_of(VIP3_K)), ring_t0), nm(n, "read NEW ring"));
	test_ports[PV_G] = port_to(&in_flow, ring_t0, NULL, node_id_of(NODE_G), 32000);
	test_ports[PV_H] = port_to(&in_flow, ring_t0, NULL, node_id_of(NODE_H), 32000);
	CHECK(test_ports[PV_G] && test_ports[PV_H], "%s",
	      nm(n, "client ports placed on G and H exist"));
}

static void hook_inactivate_g(void)
{
	ASSERT_OK(set_state(NODE_G, EBB_NODE_INACTIVE), "inactive: set node G inactive");
}

static void hook_down_h(void)
{
	ASSERT_OK(set_state(NODE_H, EBB_NODE_DOWN), "down: set node H down");
}

/* Moves a flow's entry to another active node of its VIP than the one its NEW ring gives it,
 * and remembers that node in saved[slot]: a packet that follows it followed the entry. */
static void repoint(const char *who, const struct pkt_desc *d, const char *vip, int slot)
{
	__u32 vip_id = vip_id_of(vip), pick;
	struct ebb_flow_key k;
	struct ebb_flow f;

	key_of(d, &k);
	pick = ring_node(EBB_RING_NEW(vip_id), ebb_ring_slot(&k));
	if (!ASSERT_OK(flow_get(&k, &f), nm(who, "flow entry to move exists")))
		return;
	saved[slot] = 0;
	for (size_t i = 0; i < N_NODES; i++)
		if (!strcmp(node_cfg[i].vip, vip) && node_cfg[i].id != pick &&
		    state_of(node_cfg[i].id) == EBB_NODE_ACTIVE) {
			saved[slot] = node_cfg[i].id;
			break;
		}
	if (!CHECK(saved[slot] != 0, "%s", nm(who, "another active node exists")))
		return;
	f.node_id = saved[slot];
	ASSERT_OK(flow_put(&k, &f), nm(who, "move the flow entry to %s", addr_of(saved[slot])));
}

#define REUSE_FLOW .family = 4, .src = CLI_RE, .dst = VIP1, .proto = IPPROTO_TCP, .sport = 5000, \
		   .dport = 80
#define V6_FLOW .family = 6, .src = CLI6, .dst = VIP6, .proto = IPPROTO_TCP, .sport = 40000, \
		.dport = 80
#define UDP4_FLOW .family = 4, .src = CLI, .dst = VIPU4, .proto = IPPROTO_UDP, .sport = 5353, \
		  .dport = 53, .payload = 24
#define UDP6_FLOW .family = 6, .src = CLI6, .dst = VIPU6, .proto = IPPROTO_UDP, .sport = 5353, \
		  .dport = 53, .payload = 24

static void hook_repoint_reuse(void)
{
	static const struct pkt_desc d = { REUSE_FLOW };

	repoint("reuse: move entry", &d, VIP1_K, S_OTHER);
}

/* ---- the retry window: a bare SYN asks the flow table only where its slot changed owner ---- */

/* Sets the reuse flow's slot bit in ring_changes (include/ebb.h) and VIP1's window open or
 * over, as a table change would have left them. */
static void mark_reuse_slot(const char *who, bool marked, bool in_window)
{
	static const struct pkt_desc d = { REUSE_FLOW };
	__u32 vip_id = vip_id_of(VIP1_K), slot, word;
	struct ebb_vip_key vk;
	struct ebb_flow_key k;
	struct ebb_vip v;
	__u64 bits;

	key_of(&d, &k);
	slot = ebb_ring_slot(&k);
	word = ebb_ring_change_word(vip_id, slot);
	if (!ASSERT_OK(bpf_map_lookup_elem(e.ring_changes_fd, &word, &bits),
		       nm(who, "read the slot's ring_changes word")))
		return;
	bits = marked ? bits | 1ULL << (slot % 64) : bits & ~(1ULL << (slot % 64));
	ASSERT_OK(bpf_map_update_elem(e.ring_changes_fd, &word, &bits, BPF_ANY),
		  nm(who, "slot %u %s", slot, marked ? "marked changed" : "marked still"));
	if (!ASSERT_OK(ebb_vip_by_id(&e, vip_id, &vk, &v), nm(who, "read VIP1")))
		return;
	v.rings_changed = ebb_seen_tick(ebb_now_ns()) - (in_window ? 0 : EBB_SYN_RETRY_TICKS + 60);
	ASSERT_OK(ebb_vip_store(&e, &vk, &v, BPF_EXIST),
		  nm(who, "VIP1's retry window %s", in_window ? "open" : "over"));
}

static void hook_retry_still(void)
{
	hook_repoint_reuse();
	mark_reuse_slot("retry: still slot", false, true);
}

static void hook_retry_marked(void)
{
	hook_repoint_reuse();
	mark_reuse_slot("retry: marked slot", true, true);
}

static void hook_retry_over(void)
{
	hook_repoint_reuse();
	mark_reuse_slot("retry: window over", true, false);
}

/* ---- syn_recent: within the window, a SYN asks the flow table only if a SYN pinned a flow
 * in one of its buckets lately whose handshake has not completed (include/ebb.h) ---- */

enum { SR_UNSET, SR_UNTRUSTED, SR_TRUSTED };

/* syn_recent's header: unset (as a new map), its window just started, or over long ago. */
static void syn_recent_since(const char *who, int state)
{
	union ebb_syn_cell since = {};
	__u32 zero = 0;

	if (state != SR_UNSET)
		since.word = EBB_SYN_SINCE_VALID | ebb_now_ns();
	if (state == SR_TRUSTED)
		since.word -= 2 * EBB_SYN_RETRY_NS;
	ASSERT_OK(bpf_map_update_elem(e.syn_recent_fd, &zero, &since, BPF_ANY),
		  nm(who, "syn_recent's header %s", state == SR_UNSET ? "unset" :
			  state == SR_UNTRUSTED ? "just started" : "a window old"));
}

/* Where flow k's entry is: bucket and way; false when it has none. */
static bool flow_way4(const struct ebb_flow_key *k, __u32 *bucket, __u32 *way)
{
	__u64 word, *slot = flow_slot4(k, &word);
	size_t at;

	if (!slot)
		return false;
	at = (size_t)((struct ebb_ft_bucket *)slot - ft_table);
	*bucket = (__u32)at;
	*way = (__u32)(slot - &ft_table[at].entry[0].word);
	return true;
}

static __u64 syn_cell_word(__u32 bucket)
{
	union ebb_syn_cell c = {};
	__u32 idx = ebb_syn_cell_of(bucket);

	bpf_map_lookup_elem(e.syn_recent_fd, &idx, &c);
	return c.word;
}

static void syn_cell_set(const char *who, __u32 bucket, __u64 word)
{
	union ebb_syn_cell c = { .word = word };
	__u32 idx = ebb_syn_cell_of(bucket);

	ASSERT_OK(bpf_map_update_elem(e.syn_recent_fd, &idx, &c, BPF_ANY),
		  nm(who, "bucket %u's cell %u = %#llx", bucket, idx, (unsigned long long)word));
}

/* What the reuse flow's cells hold (both of its buckets' cells emptied first) */
enum { REC_NONE, REC_NOW, REC_LATE, REC_STALE, REC_OTHER_BUCKET, REC_OTHER_WAY, REC_OTHER_FP,
       REC_MARK, REC_ITS_OTHER };

static void syn_recent_reuse_cell(const char *who, int rec)
{
	static const struct pkt_desc d = { REUSE_FLOW };
	__u32 bucket = 0, way = 0, unit = ebb_syn_unit(ebb_now_ns()), q;
	struct ebb_flow_key k;
	struct ebb_ft_where w;
	__u64 word = 0;

	key_of(&d, &k);
	w = ebb_ft_where_key(&k, ft_nbuckets);
	if (!ASSERT_TRUE(flow_way4(&k, &bucket, &way), nm(who, "the reuse flow has an entry")))
		return;
	syn_cell_set(who, w.b[0], 0);
	syn_cell_set(who, w.b[1], 0);
	q = ebb_syn_q_of(bucket);
	/* (a unit may pass before the packet runs: 31 units ago is still live then, 34 still
	 * dead; the rule's edges are syn_recent_case's) */
	switch (rec) {
	case REC_NOW: word = ebb_syn_rec(q, way, w.fp, unit); break;
	case REC_LATE: word = ebb_syn_rec(q, way, w.fp, unit - 31); break;
	case REC_STALE: word = ebb_syn_rec(q, way, w.fp, unit - (EBB_SYN_LIVE_UNITS + 2)); break;
	case REC_OTHER_BUCKET: word = ebb_syn_rec(q + 1, way, w.fp, unit); break;
	case REC_OTHER_WAY: word = ebb_syn_rec(q, (way + 1) & 7, w.fp, unit); break;
	case REC_OTHER_FP: word = ebb_syn_rec(q, way, w.fp + 1, unit); break;
	case REC_MARK:
		word = (__u64)ebb_syn_rec(EBB_SYN_Q_OVERFLOW, 0, 0, unit) << (2 * EBB_SYN_LANE_BITS);
		break;
	case REC_ITS_OTHER: /* a record in the flow's other bucket, not the one of its entry */
		bucket = w.b[0] == bucket ? w.b[1] : w.b[0];
		ASSERT_TRUE(bucket != w.b[0] || w.b[0] != w.b[1],
			    nm(who, "the reuse flow has two buckets"));
		word = ebb_syn_rec(ebb_syn_q_of(bucket), way, w.fp, unit);
		break;
	}
	syn_cell_set(who, bucket, word);
}

/* The retry case's marked slot and open window, with syn_recent's header and the reuse flow's
 * cells as given. */
static void recent_setup(const char *who, int since, int rec)
{
	hook_retry_marked();
	syn_recent_since(who, since);
	syn_recent_reuse_cell(who, rec);
}

static void hook_recent_none(void) { recent_setup("recent: none", SR_TRUSTED, REC_NONE); }
static void hook_recent_now(void) { recent_setup("recent: now", SR_TRUSTED, REC_NOW); }
static void hook_recent_late(void) { recent_setup("recent: 31 units ago", SR_TRUSTED, REC_LATE); }
static void hook_recent_stale(void) { recent_setup("recent: stale", SR_TRUSTED, REC_STALE); }
static void hook_recent_other_bucket(void)
{
	recent_setup("recent: another bucket", SR_TRUSTED, REC_OTHER_BUCKET);
}
static void hook_recent_other_way(void)
{
	recent_setup("recent: another way", SR_TRUSTED, REC_OTHER_WAY);
}
static void hook_recent_other_fp(void)
{
	recent_setup("recent: another flow's bits", SR_TRUSTED, REC_OTHER_FP);
}
static void hook_recent_mark(void) { recent_setup("recent: overflow mark", SR_TRUSTED, REC_MARK); }
static void hook_recent_its_other(void)
{
	recent_setup("recent: its other bucket", SR_TRUSTED, REC_ITS_OTHER);
}
static void hook_recent_untrusted(void) { recent_setup("recent: untrusted", SR_UNTRUSTED, REC_NONE); }
static void hook_recent_unset(void) { recent_setup("recent: unset", SR_UNSET, REC_NONE); }

static void hook_repoint_v6(void)
{
	static const struct pkt_desc d = { V6_FLOW };

	repoint("IPv6: move entry", &d, VIP6_K, S_V6);
}

static void hook_repoint_udp4(void)
{
	static const struct pkt_desc d = { UDP4_FLOW };

	repoint("UDP4: move entry", &d, VIPU4_K, S_UDP4);
}

static void hook_repoint_udp6(void)
{
	static const struct pkt_desc d = { UDP6_FLOW };

	repoint("UDP6: move entry", &d, VIPU6_K, S_UDP6);
}

static void nomac_case(const struct tcase *c)
{
	struct tcase t = *c;

	t.custom = NULL;
	t.before = NULL;
	run_case(&t);
}

/* The node's reply as a router quotes it: VIP:vport -> client:cport. */
#define QUOTE_PIN \
	(&(const struct pkt_desc){ TCP4(VIP1, 80, CLI, 0, TH_SYN | TH_ACK), .dport_var = PV_PIN })
#define QUOTE_V6 (&(const struct pkt_desc){ TCP6(VIP6, 80, CLI6, 40000, TH_ACK), .payload = 1300 })
#define ICMP4_ERR(q) \
	.family = 4, .src = ROUTER4, .dst = VIP1, .proto = IPPROTO_ICMP, .icmp_type = 3, \
	.icmp_code = 4, .quote = q

static const struct tcase cases[] = {
	/* ---- what is not ours is passed untouched ---- */
	{ .name = "non-VIP IPv4 TCP SYN", .pkt = { TCP4(CLI, 1000, NOT_VIP4, 80, TH_SYN) },
	  .verdict = XDP_PASS, .reason = EBB_R_PASS_NOT_VIP },
	{ .name = "non-VIP IPv6 TCP SYN", .pkt = { TCP6(CLI6, 1000, NOT_VIP6, 80, TH_SYN) },
	  .verdict = XDP_PASS, .reason = EBB_R_PASS_NOT_VIP },
	{ .name = "ARP who-has the VIP", .pkt = { .ethertype = ETHERTYPE_ARP, .src = CLI, .dst = VIP1 },
	  .verdict = XDP_PASS, .reason = EBB_R_PASS_NOT_IP },
	{ .name = "VIP address, TCP port with no VIP and no port-0 VIP",
	  .pkt = { TCP4(CLI, 1000, VIP1, 81, TH_SYN) }, .verdict = XDP_PASS,
	  .reason = EBB_R_PASS_NOT_VIP, .vip = VIP1_K },
	{ .name = "VIP address, UDP to a TCP-only VIP's port", .pkt = { UDP4(CLI, 1000, VIP1, 80) },
	  .verdict = XDP_PASS, .reason = EBB_R_PASS_NOT_VIP, .vip = VIP1_K },
	{ .name = "IPv6 VIP address, TCP port with no VIP", .pkt = { TCP6(CLI6, 1000, VIP6, 8080, TH_SYN) },
	  .verdict = XDP_PASS, .reason = EBB_R_PASS_NOT_VIP, .vip = VIP6_K },
	{ .name = "wildcard address, UDP (the wildcard is TCP)",
	  .pkt = { UDP4(CLI, 1000, VIPW, 8080) }, .verdict = XDP_PASS, .reason = EBB_R_PASS_NOT_VIP,
	  .vip = VIPW0_K },

	/* ---- a new flow is placed by the NEW ring and pinned; the pin wins over the ring ---- */
	{ .name = "TCP SYN of a new flow", .before = hook_pin_prepare,
	  .pkt = { PIN_FLOW, .flags = TH_SYN }, .verdict = XDP_TX, .reason = EBB_R_FORWARDED,
	  .vip = VIP1_K, .ring = BY_NEW, .save = S_PIN, .new_flows = 1 },
	{ .name = "established ACK after the ring moved the flow's slot to C",
	  .before = hook_pin_change, .pkt = { PIN_FLOW, .flags = TH_ACK }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_PIN },
	{ .name = "established PSH|ACK with 200 bytes of data, entry 5 s old",
	  .before = hook_age_pin, .pkt = { PIN_FLOW, .flags = TH_PSH | TH_ACK, .payload = 200 }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_PIN },

	/* ---- second chance: not a SYN, no entry ---- */
	{ .name = "second chance: ACK without flow entry",
	  .pkt = { TCP4(CLI_SC, 7000, VIP1, 80, TH_ACK) }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_SECOND, .save = S_SECOND,
	  .new_flows = 1, .second_chance = 1 },
	{ .name = "second chance: the next ACK hits the inserted entry",
	  .pkt = { TCP4(CLI_SC, 7000, VIP1, 80, TH_ACK) }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_SECOND },

	/* ---- drain: no new flow on D; D keeps its flows, even forgotten ones ---- */
	{ .name = "drain: SYN placed on D before the drain", .before = hook_drain_prepare,
	  .pkt = { DRAIN_FLOW, .sport_var = PV_KEEP, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP2_K, .node = NODE_D, .new_flows = 1 },
	{ .name = "drain: SYN of the flow to be forgotten, on D",
	  .pkt = { DRAIN_FLOW, .sport_var = PV_LOST, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP2_K, .node = NODE_D, .new_flows = 1 },
	{ .name = "drain: established ACK of D's flow still goes to draining D",
	  .before = hook_drain, .pkt = { DRAIN_FLOW, .sport_var = PV_KEEP, .flags = TH_ACK },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP2_K, .node = NODE_D },
	{ .name = "drain: ACK of D's forgotten flow goes to D by second chance",
	  .pkt = { DRAIN_FLOW, .sport_var = PV_LOST, .flags = TH_ACK }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP2_K, .node = NODE_D, .new_flows = 1,
	  .second_chance = 1 },
	{ .name = "drain: a SYN on D's pinned, unfinished flow (a port reused after idling) goes to an active node",
	  .pkt = { DRAIN_FLOW, .sport_var = PV_KEEP, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP2_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "drain: 300 new SYNs while D drains", .custom = bulk_drain },
	{ .name = "drain: ICMP frag needed about an unknown flow of D goes to D (second-chance ring)",
	  .pkt = { .family = 4, .src = ROUTER4, .dst = VIP2, .proto = IPPROTO_ICMP, .icmp_type = 3,
		   .icmp_code = 4,
		   .quote = &(const struct pkt_desc){ .family = 4, .src = VIP2, .dst = CLI_DR,
						      .proto = IPPROTO_TCP, .sport = 80,
						      .dport_var = PV_ICMP_D, .flags = TH_ACK } },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP2_K, .node = NODE_D },

	/* ---- a node that takes no flow any more: its flows are placed again ---- */
	{ .name = "inactive: SYN placed on G", .before = hook_inact_prepare,
	  .pkt = { IN_FLOW, .sport_var = PV_G, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP3_K, .node = NODE_G, .new_flows = 1 },
	{ .name = "down: SYN placed on H", .pkt = { IN_FLOW, .sport_var = PV_H, .flags = TH_SYN },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP3_K, .node = NODE_H,
	  .new_flows = 1 },
	{ .name = "inactive: ACK of G's flow re-placed on an active node",
	  .before = hook_inactivate_g, .pkt = { IN_FLOW, .sport_var = PV_G, .flags = TH_ACK },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP3_K, .ring = BY_NEW,
	  .new_flows = 1 },
	{ .name = "down: ACK of H's flow re-placed on I (the only active node)",
	  .before = hook_down_h, .pkt = { IN_FLOW, .sport_var = PV_H, .flags = TH_ACK },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP3_K, .node = NODE_I,
	  .new_flows = 1 },

	/* ---- FIN / RST flags, and a SYN reusing the port of a finished flow ---- */
	{ .name = "reuse: SYN", .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW, .save = S_REUSE, .new_flows = 1 },
	{ .name = "reuse: FIN|ACK sets the FIN flag", .pkt = { REUSE_FLOW, .flags = TH_FIN | TH_ACK },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_REUSE,
	  .flow_flags = EBB_FLOW_FIN },
	{ .name = "reuse: ACK after FIN follows the entry", .before = hook_repoint_reuse,
	  .pkt = { REUSE_FLOW, .flags = TH_ACK }, .verdict = XDP_TX, .reason = EBB_R_FORWARDED,
	  .vip = VIP1_K, .node_slot = S_OTHER, .flow_flags = EBB_FLOW_FIN },
	{ .name = "reuse: SYN on the FIN flow's port is placed anew",
	  .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX, .reason = EBB_R_FORWARDED,
	  .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "reuse: RST|ACK sets the RST flag", .pkt = { REUSE_FLOW, .flags = TH_RST | TH_ACK },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_REUSE,
	  .flow_flags = EBB_FLOW_RST },
	{ .name = "reuse: SYN on the RST flow's port is placed anew", .before = hook_repoint_reuse,
	  .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX, .reason = EBB_R_FORWARDED,
	  .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "reuse: SYN retransmit on a live flow follows the entry",
	  .before = hook_repoint_reuse, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_OTHER },
	/* Its entry moved to another node stands for a first try placed before a table change. */
	{ .name = "retry window: a SYN whose slot kept its owner is placed by the table, not its entry",
	  .before = hook_retry_still, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "retry window: a SYN whose slot changed owner follows its entry",
	  .before = hook_retry_marked, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_OTHER },
	{ .name = "retry window over: a SYN in a marked slot is placed by the table",
	  .before = hook_retry_over, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "retry window open again, slot marked: the SYN follows its entry",
	  .before = hook_retry_marked, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_OTHER },
	/* The same marked slot and open window, syn_recent trusted: the entry stands for a first
	 * try only if its way has a live record (a SYN pinned it within the window, and no ACK of
	 * the flow came since), or the cell says every SYN of its buckets asks. */
	{ .name = "retry filter: no record in the flow's buckets: placed by the table",
	  .before = hook_recent_none, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "retry filter: its way recorded now: the SYN follows its entry",
	  .before = hook_recent_now, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_OTHER },
	{ .name = "retry filter: recorded 31 units (~133 s) ago: the SYN follows its entry",
	  .before = hook_recent_late, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_OTHER },
	{ .name = "retry filter: recorded over a window ago: placed by the table",
	  .before = hook_recent_stale, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "retry filter: a record of another bucket of its cell: placed by the table",
	  .before = hook_recent_other_bucket, .pkt = { REUSE_FLOW, .flags = TH_SYN },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW,
	  .new_flows = 1 },
	{ .name = "retry filter: another way of its bucket with its fingerprint bits: it asks, follows its entry",
	  .before = hook_recent_other_way, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_OTHER },
	{ .name = "retry filter: its way recorded with another flow's fingerprint bits: placed by the table",
	  .before = hook_recent_other_fp, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "retry filter: a record in its other bucket only: that bucket is asked, placed by the table",
	  .before = hook_recent_its_other, .pkt = { REUSE_FLOW, .flags = TH_SYN },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW,
	  .new_flows = 1 },
	{ .name = "retry filter: its cell's overflow mark: it asks, follows its entry",
	  .before = hook_recent_mark, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_OTHER },
	{ .name = "retry filter not trusted yet (its window just started): the SYN follows its entry",
	  .before = hook_recent_untrusted, .pkt = { REUSE_FLOW, .flags = TH_SYN },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_OTHER },
	{ .name = "retry filter unset (a new map): the SYN follows its entry",
	  .before = hook_recent_unset, .pkt = { REUSE_FLOW, .flags = TH_SYN }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_OTHER },

	/* ---- IPv6, UDP ---- */
	{ .name = "IPv6 TCP SYN of a new flow", .pkt = { V6_FLOW, .flags = TH_SYN },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP6_K, .ring = BY_NEW,
	  .save = S_V6, .new_flows = 1 },
	{ .name = "IPv6 TCP ACK follows the entry", .before = hook_repoint_v6,
	  .pkt = { V6_FLOW, .flags = TH_ACK, .payload = 64 }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP6_K, .node_slot = S_V6 },
	{ .name = "UDP IPv4 first packet", .pkt = { UDP4_FLOW }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIPU4_K, .ring = BY_NEW, .save = S_UDP4, .new_flows = 1 },
	{ .name = "UDP IPv4 next packet follows the entry", .before = hook_repoint_udp4,
	  .pkt = { UDP4_FLOW }, .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIPU4_K,
	  .node_slot = S_UDP4 },
	{ .name = "UDP IPv6 first packet", .pkt = { UDP6_FLOW }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIPU6_K, .ring = BY_NEW, .save = S_UDP6, .new_flows = 1 },
	{ .name = "UDP IPv6 next packet follows the entry", .before = hook_repoint_udp6,
	  .pkt = { UDP6_FLOW }, .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIPU6_K,
	  .node_slot = S_UDP6 },

	/* ---- port 0 VIP ---- */
	{ .name = "wildcard: TCP SYN to port 8080 caught by the port-0 VIP",
	  .pkt = { TCP4(CLI, 6000, VIPW, 8080, TH_SYN) }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIPW0_K, .node = NODE_L, .new_flows = 1 },
	{ .name = "wildcard: TCP SYN to port 22 caught by the port-0 VIP",
	  .pkt = { TCP4(CLI, 6000, VIPW, 22, TH_SYN) }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIPW0_K, .node = NODE_L, .new_flows = 1 },
	{ .name = "wildcard: the exact-port VIP 443 wins over port 0",
	  .pkt = { TCP4(CLI, 6000, VIPW, 443, TH_SYN) }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIPW443_K, .node = NODE_M, .new_flows = 1 },

	/* ---- ICMP ---- */
	{ .name = "ICMP frag needed about a pinned flow goes to its node",
	  .before = hook_age_pin, .pkt = { ICMP4_ERR(QUOTE_PIN) }, .verdict = XDP_TX, .reason = EBB_R_FORWARDED,
	  .vip = VIP1_K, .node_slot = S_PIN },
	{ .name = "ICMP frag needed about an unknown flow: second-chance ring, nothing pinned",
	  .pkt = { ICMP4_ERR((&(const struct pkt_desc){ TCP4(VIP1, 80, CLI_MISC, 9999, TH_ACK) })) },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_SECOND },
	{ .name = "ICMP frag needed quoting IPv4 options",
	  .pkt = { ICMP4_ERR((&(const struct pkt_desc){ TCP4(VIP1, 80, CLI, 0, TH_ACK), .ihl = 7,
							.dport_var = PV_PIN })) },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP1_K, .node_slot = S_PIN },
	{ .name = "ICMPv6 packet too big about a pinned flow goes to its node",
	  .pkt = { .family = 6, .src = ROUTER6, .dst = VIP6, .proto = IPPROTO_ICMPV6,
		   .icmp_type = 2, .quote = QUOTE_V6 },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP6_K, .node_slot = S_V6 },
	{ .name = "ICMP echo request to the VIP address",
	  .pkt = { .family = 4, .src = CLI, .dst = VIP1, .proto = IPPROTO_ICMP, .icmp_type = 8,
		   .payload = 32 },
	  .verdict = XDP_PASS, .reason = EBB_R_PASS_ICMP, .vip = VIP1_K },
	{ .name = "ICMPv6 echo request to the VIP address",
	  .pkt = { .family = 6, .src = CLI6, .dst = VIP6, .proto = IPPROTO_ICMPV6, .icmp_type = 128,
		   .payload = 32 },
	  .verdict = XDP_PASS, .reason = EBB_R_PASS_ICMP, .vip = VIP6_K },
	{ .name = "ICMP error quoting 2 bytes of L4", .pkt = { ICMP4_ERR(QUOTE_PIN), .quote_len = 22 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_ICMP, .vip = VIP1_K },
	{ .name = "ICMP error quoting a bad IHL (4)",
	  .pkt = { ICMP4_ERR((&(const struct pkt_desc){ TCP4(VIP1, 80, CLI, 0, TH_ACK), .ihl = 4,
							.dport_var = PV_PIN })) },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_ICMP, .vip = VIP1_K },
	{ .name = "ICMP error quoting an ICMP packet",
	  .pkt = { ICMP4_ERR((&(const struct pkt_desc){ .family = 4, .src = VIP1, .dst = CLI,
							.proto = IPPROTO_ICMP, .icmp_type = 0 })) },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_ICMP, .vip = VIP1_K },
	{ .name = "ICMPv6 packet too big quoting 30 bytes of the IPv6 header",
	  .pkt = { .family = 6, .src = ROUTER6, .dst = VIP6, .proto = IPPROTO_ICMPV6,
		   .icmp_type = 2, .quote = QUOTE_V6, .quote_len = 30 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_ICMP, .vip = VIP6_K },

	{ .name = "ICMP frag needed quoting a packet whose version field says 6",
	  .pkt = { ICMP4_ERR((&(const struct pkt_desc){ TCP4(VIP1, 80, CLI, 0, TH_ACK), .version = 6,
							.dport_var = PV_PIN })) },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_ICMP, .vip = VIP1_K },
	{ .name = "ICMPv6 packet too big quoting a packet whose version field says 4",
	  .pkt = { .family = 6, .src = ROUTER6, .dst = VIP6, .proto = IPPROTO_ICMPV6,
		   .icmp_type = 2,
		   .quote = &(const struct pkt_desc){ TCP6(VIP6, 80, CLI6, 40000, TH_ACK),
						      .version = 4 } },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_ICMP, .vip = VIP6_K },
	{ .name = "ICMP frag needed to VIP 1's address quoting a flow of VIP 2 (pinned to D)",
	  .pkt = { .family = 4, .src = ROUTER4, .dst = VIP1, .proto = IPPROTO_ICMP, .icmp_type = 3,
		   .icmp_code = 4,
		   .quote = &(const struct pkt_desc){ .family = 4, .src = VIP2, .dst = CLI_DR,
						      .proto = IPPROTO_TCP, .sport = 80,
						      .dport_var = PV_KEEP, .flags = TH_ACK } },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_ICMP_FOREIGN, .vip = VIP2_K },
	{ .name = "ICMPv6 packet too big to the TCP VIP's address quoting the UDP VIP's flow",
	  .pkt = { .family = 6, .src = ROUTER6, .dst = VIP6, .proto = IPPROTO_ICMPV6,
		   .icmp_type = 2,
		   .quote = &(const struct pkt_desc){ .family = 6, .src = VIPU6, .dst = CLI6,
						      .proto = IPPROTO_UDP, .sport = 53,
						      .dport = 5353, .payload = 24 } },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_ICMP_FOREIGN, .vip = VIPU6_K },

	/* ---- VLAN ---- */
	{ .name = "802.1Q VLAN 100 SYN keeps its tag",
	  .pkt = { TCP4(CLI_MISC, 6001, VIP1, 80, TH_SYN), .vlan = 100 }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "802.1Q VLAN 4094 IPv6 SYN keeps its tag",
	  .pkt = { TCP6(CLI6, 6001, VIP6, 80, TH_SYN), .vlan = 4094 }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP6_K, .ring = BY_NEW, .new_flows = 1 },

	/* ---- IPv4 header length ---- */
	{ .name = "IPv4 options (ihl=6) SYN: ports read after the options",
	  .pkt = { TCP4(CLI_MISC, 6100, VIP1, 80, TH_SYN), .ihl = 6 }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "IPv4 options (ihl=8) SYN: ports read after the options",
	  .pkt = { TCP4(CLI_MISC, 6200, VIP1, 80, TH_SYN), .ihl = 8 }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "IPv4 options (ihl=15) UDP: ports read after the options",
	  .pkt = { UDP4(CLI_MISC, 6300, VIPU4, 53), .ihl = 15 }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIPU4_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "bad IHL (ihl=4) to a VIP", .pkt = { TCP4(CLI_MISC, 6400, VIP1, 80, TH_SYN), .ihl = 4 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_IHL, .vip = VIP1_K },
	{ .name = "bad IHL (ihl=1) to a VIP", .pkt = { TCP4(CLI_MISC, 6400, VIP1, 80, TH_SYN), .ihl = 1 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_IHL, .vip = VIP1_K },

	/* ---- malformed to a VIP: dropped, counted by reason, never pinned ---- */
	{ .name = "IPv4 version 6 in an IPv4 frame to a VIP",
	  .pkt = { TCP4(CLI_MISC, 8001, VIP1, 80, TH_SYN), .version = 6 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_VERSION, .vip = VIP1_K },
	{ .name = "IPv4 version 0 in an IPv4 frame to a VIP",
	  .pkt = { TCP4(CLI_MISC, 8002, VIP1, 80, TH_ACK), .version = 0x10 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_VERSION, .vip = VIP1_K },
	{ .name = "IPv6 version 4 in an IPv6 frame to a VIP",
	  .pkt = { TCP6(CLI6, 8001, VIP6, 80, TH_SYN), .version = 4 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_VERSION, .vip = VIP6_K },
	{ .name = "IPv6 version 0 in an IPv6 frame to a VIP",
	  .pkt = { TCP6(CLI6, 8002, VIP6, 80, TH_SYN), .version = 0x10 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_VERSION, .vip = VIP6_K },
	{ .name = "IPv4 total length 1500 in a 40-byte packet (a lie past the frame)",
	  .pkt = { TCP4(CLI_MISC, 8003, VIP1, 80, TH_SYN), .ip_len = 1500 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_TRUNCATED, .vip = VIP1_K },
	{ .name = "IPv4 total length one byte past the frame",
	  .pkt = { TCP4(CLI_MISC, 8004, VIP1, 80, TH_SYN), .ip_len = 41 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_TRUNCATED, .vip = VIP1_K },
	{ .name = "IPv4 total length 39: shorter than IHL + TCP header",
	  .pkt = { TCP4(CLI_MISC, 8005, VIP1, 80, TH_SYN), .ip_len = 39 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_LENGTH, .vip = VIP1_K },
	{ .name = "IPv4 total length 19: shorter than the IPv4 header",
	  .pkt = { TCP4(CLI_MISC, 8006, VIP1, 80, TH_SYN), .ip_len = 19 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_LENGTH, .vip = VIP1_K },
	{ .name = "IPv4 total length 0",
	  .pkt = { TCP4(CLI_MISC, 8007, VIP1, 80, TH_SYN), .ip_len = -1 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_LENGTH, .vip = VIP1_K },
	{ .name = "IPv4 options (ihl=6), total length 43: shorter than IHL + TCP header",
	  .pkt = { TCP4(CLI_MISC, 8008, VIP1, 80, TH_SYN), .ihl = 6, .ip_len = 43 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_LENGTH, .vip = VIP1_K },
	{ .name = "IPv4 UDP, total length 27: shorter than IHL + UDP header",
	  .pkt = { UDP4(CLI_MISC, 8009, VIPU4, 53), .ip_len = 27 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_LENGTH, .vip = VIPU4_K },
	{ .name = "IPv6 payload length 1000 in a 20-byte payload (past the frame)",
	  .pkt = { TCP6(CLI6, 8003, VIP6, 80, TH_SYN), .ip_len = 1000 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_TRUNCATED, .vip = VIP6_K },
	{ .name = "IPv6 payload length 19: shorter than the TCP header",
	  .pkt = { TCP6(CLI6, 8004, VIP6, 80, TH_SYN), .ip_len = 19 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_LENGTH, .vip = VIP6_K },
	{ .name = "IPv6 payload length 0 without a jumbo option",
	  .pkt = { TCP6(CLI6, 8005, VIP6, 80, TH_SYN), .ip_len = -1 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_LENGTH, .vip = VIP6_K },
	{ .name = "IPv6 UDP payload length 7", .pkt = { UDP6(CLI6, 8006, VIPU6, 53), .ip_len = 7 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_LENGTH, .vip = VIPU6_K },
	{ .name = "TCP data offset 4", .pkt = { TCP4(CLI_MISC, 8010, VIP1, 80, TH_SYN), .doff = 4 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_L4, .vip = VIP1_K },
	{ .name = "TCP data offset 0", .pkt = { TCP4(CLI_MISC, 8011, VIP1, 80, TH_ACK), .doff = 0x10 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_L4, .vip = VIP1_K },
	{ .name = "TCP data offset 6 in a 20-byte segment (past the end)",
	  .pkt = { TCP4(CLI_MISC, 8012, VIP1, 80, TH_SYN), .doff = 6 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_L4, .vip = VIP1_K },
	{ .name = "TCP data offset 15 in a 32-byte segment (past the end)",
	  .pkt = { TCP4(CLI_MISC, 8013, VIP1, 80, TH_SYN), .doff = 15, .payload = 12 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_L4, .vip = VIP1_K },
	{ .name = "IPv6 TCP data offset 15 in a 20-byte segment",
	  .pkt = { TCP6(CLI6, 8007, VIP6, 80, TH_SYN), .doff = 15 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_L4, .vip = VIP6_K },
	{ .name = "TCP data offset 8, options filling the 32-byte segment: forwarded",
	  .pkt = { TCP4(CLI_MISC, 8014, VIP1, 80, TH_SYN), .doff = 8, .payload = 12 },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW,
	  .new_flows = 1 },
	{ .name = "UDP length 0", .pkt = { UDP4(CLI_MISC, 8015, VIPU4, 53), .udp_len = -1 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_L4, .vip = VIPU4_K },
	{ .name = "UDP length 4", .pkt = { UDP4(CLI_MISC, 8016, VIPU4, 53), .udp_len = 4 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_L4, .vip = VIPU4_K },
	{ .name = "UDP length 25 in a 24-byte datagram",
	  .pkt = { UDP4(CLI_MISC, 8017, VIPU4, 53), .udp_len = 25 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_L4, .vip = VIPU4_K },
	{ .name = "UDP length 65535 in a 24-byte datagram",
	  .pkt = { UDP4(CLI_MISC, 8018, VIPU4, 53), .udp_len = 65535 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_L4, .vip = VIPU4_K },
	{ .name = "IPv6 UDP length 25 in a 24-byte datagram",
	  .pkt = { UDP6(CLI6, 8008, VIPU6, 53), .udp_len = 25 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_L4, .vip = VIPU6_K },
	{ .name = "UDP length 8 in a 24-byte IP payload: forwarded (the kernel trims it, RFC 768)",
	  .pkt = { UDP4(CLI_MISC, 8019, VIPU4, 53), .udp_len = 8 },
	  .verdict = XDP_TX, .reason = EBB_R_FORWARDED, .vip = VIPU4_K, .ring = BY_NEW,
	  .new_flows = 1 },
	{ .name = "bad IPv4 header checksum to a VIP",
	  .pkt = { TCP4(CLI_MISC, 8020, VIP1, 80, TH_SYN), .bad_csum = 0x01 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_CSUM, .vip = VIP1_K },
	{ .name = "bad IPv4 header checksum on an established flow's ACK",
	  .pkt = { PIN_FLOW, .flags = TH_ACK, .bad_csum = 0x80 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_CSUM, .vip = VIP1_K, .flow = F_SAME },
	{ .name = "IPv4 options (ihl=8), checksum leaving the options out",
	  .pkt = { TCP4(CLI_MISC, 8021, VIP1, 80, TH_SYN), .ihl = 8, .csum_no_opts = true },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_CSUM, .vip = VIP1_K },
	{ .name = "IPv4 options (ihl=15), bad checksum",
	  .pkt = { UDP4(CLI_MISC, 8022, VIPU4, 53), .ihl = 15, .bad_csum = 0x10 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_CSUM, .vip = VIPU4_K },
	{ .name = "bad IPv4 header checksum on an ICMP frag needed",
	  .pkt = { ICMP4_ERR(QUOTE_PIN), .bad_csum = 0x04 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_BAD_CSUM, .vip = VIP1_K },
	{ .name = "bad IPv4 header checksum to a non-VIP address is passed untouched",
	  .pkt = { TCP4(CLI_MISC, 8023, NOT_VIP4, 80, TH_SYN), .bad_csum = 0x01 },
	  .verdict = XDP_PASS, .reason = EBB_R_PASS_NOT_VIP },
	{ .name = "IPv4 version 6 to a non-VIP address is passed untouched",
	  .pkt = { TCP4(CLI_MISC, 8024, NOT_VIP4, 80, TH_SYN), .version = 6 },
	  .verdict = XDP_PASS, .reason = EBB_R_PASS_NOT_VIP },

	/* ---- fragments and extension headers ---- */
	{ .name = "IPv4 first fragment (MF) to a VIP",
	  .pkt = { TCP4(CLI_MISC, 6500, VIP1, 80, TH_ACK), .frag = IP4_MF, .payload = 64 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_FRAGMENT, .vip = VIP1_K },
	{ .name = "IPv4 later fragment (offset 185) to a VIP",
	  .pkt = { TCP4(CLI_MISC, 6500, VIP1, 80, TH_ACK), .frag = 185, .payload = 64 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_FRAGMENT, .vip = VIP1_K },
	{ .name = "IPv4 DF set (not a fragment) is forwarded",
	  .pkt = { TCP4(CLI_MISC, 6600, VIP1, 80, TH_SYN), .frag = 0x4000 }, .verdict = XDP_TX,
	  .reason = EBB_R_FORWARDED, .vip = VIP1_K, .ring = BY_NEW, .new_flows = 1 },
	{ .name = "IPv6 fragment header to a VIP",
	  .pkt = { TCP6(CLI6, 6500, VIP6, 80, TH_ACK), .ext6 = EXT6_FRAG, .payload = 64 },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_FRAGMENT, .vip = VIP6_K },
	{ .name = "IPv6 hop-by-hop header to a VIP",
	  .pkt = { TCP6(CLI6, 6500, VIP6, 80, TH_SYN), .ext6 = EXT6_HOP },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_IPV6_EXT, .vip = VIP6_K },

	/* ---- no node to send to ---- */
	{ .name = "VIP without nodes: SYN", .pkt = { TCP4(CLI, 6700, VIPE, 80, TH_SYN) },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_NO_NODE, .vip = VIPE_K },
	{ .name = "VIP without nodes: ACK (second chance)", .pkt = { TCP4(CLI, 6700, VIPE, 80, TH_ACK) },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_NO_NODE, .vip = VIPE_K },
	{ .name = "VIP whose only node is inactive: SYN", .pkt = { TCP4(CLI, 6700, VIPI, 80, TH_SYN) },
	  .verdict = XDP_DROP, .reason = EBB_R_DROP_NO_NODE, .vip = VIPI_K },
	{ .name = "node without MAC: SYN", .custom = nomac_case,
	  .pkt = { TCP4(CLI, 6700, VIPZ, 80, TH_SYN) }, .verdict = XDP_DROP,
	  .reason = EBB_R_DROP_NO_MAC, .vip = VIPZ_K, .flow = F_SKIP },
};

/* ---- truncation at every layer, generated ---- */
static const struct pkt_desc tcp4 = { TCP4(CLI_MISC, 7100, VIP1, 80, TH_SYN) };
static const struct pkt_desc tcp6 = { TCP6(CLI6, 7100, VIP6, 80, TH_SYN) };
static const struct pkt_desc udp4 = { UDP4(CLI_MISC, 7100, VIPU4, 53) };
static const struct pkt_desc udp6 = { UDP6(CLI6, 7100, VIPU6, 53) };
static const struct pkt_desc vlan4 = { TCP4(CLI_MISC, 7100, VIP1, 80, TH_SYN), .vlan = 7 };
static const struct pkt_desc echo4 = { .family = 4, .src = CLI, .dst = VIP1,
				       .proto = IPPROTO_ICMP, .icmp_type = 8 };
static const struct pkt_desc err4 = { ICMP4_ERR(QUOTE_PIN) };
static const struct pkt_desc err6 = { .family = 6, .src = ROUTER6, .dst = VIP6,
				      .proto = IPPROTO_ICMPV6, .icmp_type = 2,
				      .quote = QUOTE_V6 };

static void truncation_cases(void)
{
	static const int eth_cut[] = { 1, 6, 12, 13 };
	static const int vlan_cut[] = { 14, 16, 17 };
	static const int ip4_cut[] = { 0, 1, 12, 19 };
	static const int ip6_cut[] = { 0, 8, 24, 39 };
	static const int icmp4_quote_cut[] = { 0, 1, 10, 19, 20, 21, 23 };
	static const int icmp6_quote_cut[] = { 0, 20, 39, 40, 43 };
	static const int icmp4_quote_fits[] = { 24 }, icmp6_quote_fits[] = { 44 };
#define CUTS(a) a, sizeof(a) / sizeof(a[0])
#define UP_TO(n) NULL, n
	/* A case per cut: pkt cut `hdr` + k bytes into its layer `cut`, named by fmt after k (an
	 * ICMP error's quote is cut past the 8-byte ICMP header), or for CUT_QUOTE a whole ICMP
	 * error quoting only k bytes; in order. */
	static const struct {
		const char *fmt;
		const struct pkt_desc *pkt;
		int cut, hdr;
		const int *k;
		size_t n; /* k NULL: every k from 0 to n - 1 */
		int verdict, reason;
		const char *vip;
		int node_slot;
	} rows[] = {
		{ "truncated: %d-byte frame (Ethernet header cut)", &tcp4, CUT_L2, 0, CUTS(eth_cut),
		  XDP_PASS, EBB_R_PASS_TRUNCATED, NULL, S_NONE },
		{ "truncated: %d-byte frame (802.1Q tag cut)", &vlan4, CUT_L2, 0, CUTS(vlan_cut),
		  XDP_PASS, EBB_R_PASS_TRUNCATED, NULL, S_NONE },
		{ "truncated: IPv4 header to a VIP cut at %d bytes", &tcp4, CUT_L3, 0, CUTS(ip4_cut),
		  XDP_PASS, EBB_R_PASS_TRUNCATED, VIP1_K, S_NONE },
		{ "truncated: IPv4 TCP header to a VIP cut at %d bytes", &tcp4, CUT_L4, 0, UP_TO(20),
		  XDP_DROP, EBB_R_DROP_TRUNCATED, VIP1_K, S_NONE },
		{ "truncated: IPv4 UDP header to a VIP cut at %d bytes", &udp4, CUT_L4, 0, UP_TO(8),
		  XDP_DROP, EBB_R_DROP_TRUNCATED, VIPU4_K, S_NONE },
		{ "truncated: ICMP header to a VIP cut at %d bytes", &echo4, CUT_L4, 0, UP_TO(8),
		  XDP_DROP, EBB_R_DROP_TRUNCATED, VIP1_K, S_NONE },
		{ "short quote: ICMP frag needed quoting %d bytes", &err4, CUT_QUOTE, 0,
		  CUTS(icmp4_quote_cut), XDP_DROP, EBB_R_DROP_BAD_ICMP, VIP1_K, S_NONE },
		{ "short quote: ICMP frag needed quoting %d bytes (ports fit)", &err4, CUT_QUOTE, 0,
		  CUTS(icmp4_quote_fits), XDP_TX, EBB_R_FORWARDED, VIP1_K, S_PIN },
		{ "truncated: ICMP frag needed, frame cut %d bytes into the quote", &err4, CUT_L4, 8,
		  CUTS(icmp4_quote_cut), XDP_DROP, EBB_R_DROP_TRUNCATED, VIP1_K, S_NONE },
		{ "truncated: IPv6 header to a VIP cut at %d bytes", &tcp6, CUT_L3, 0, CUTS(ip6_cut),
		  XDP_PASS, EBB_R_PASS_TRUNCATED, VIP6_K, S_NONE },
		{ "truncated: IPv6 TCP header to a VIP cut at %d bytes", &tcp6, CUT_L4, 0, UP_TO(20),
		  XDP_DROP, EBB_R_DROP_TRUNCATED, VIP6_K, S_NONE },
		{ "truncated: IPv6 UDP header to a VIP cut at %d bytes", &udp6, CUT_L4, 0, UP_TO(8),
		  XDP_DROP, EBB_R_DROP_TRUNCATED, VIPU6_K, S_NONE },
		{ "short quote: ICMPv6 packet too big quoting %d bytes", &err6, CUT_QUOTE, 0,
		  CUTS(icmp6_quote_cut), XDP_DROP, EBB_R_DROP_BAD_ICMP, VIP6_K, S_NONE },
		{ "short quote: ICMPv6 packet too big quoting %d bytes (ports fit)", &err6,
		  CUT_QUOTE, 0, CUTS(icmp6_quote_fits), XDP_TX, EBB_R_FORWARDED, VIP6_K, S_V6 },
		{ "truncated: ICMPv6 packet too big, frame cut %d bytes into the quote", &err6,
		  CUT_L4, 8, CUTS(icmp6_quote_cut), XDP_DROP, EBB_R_DROP_TRUNCATED, VIP6_K, S_NONE },
	};
#undef CUTS
#undef UP_TO
	char name[160];
	struct tcase t;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (size_t j = 0; j < rows[i].n; j++) {
			int k = rows[i].k ? rows[i].k[j] : (int)j;

			snprintf(name, sizeof(name), rows[i].fmt, k);
			t = (struct tcase){ .name = name, .pkt = *rows[i].pkt, .cut = rows[i].cut,
					    .keep = rows[i].hdr + k, .verdict = rows[i].verdict,
					    .reason = rows[i].reason, .vip = rows[i].vip,
					    .node_slot = rows[i].node_slot };
			if (rows[i].cut == CUT_QUOTE) {
				t.cut = CUT_NONE;
				t.pkt.quote_len = k ? k : -1;
			}
			run_case(&t);
		}
	}
}

/* ---- the monitor (`ebbctl flow trace`): what a listener sees, and nothing without one ---- */

struct mon_seen {
	int n;
	struct ebb_monitor_event ev[8];
};

static int mon_collect(void *arg, void *data, size_t size)
{
	struct mon_seen *m = arg;

	if (size == sizeof(struct ebb_monitor_event) && m->n < 8)
		memcpy(&m->ev[m->n], data, size);
	m->n++;
	return 0;
}

static void mon_listen(int fd, __u32 sample, __u32 verdicts, __u32 vip_id1)
{
	struct ebb_monitor m = { .sample = sample, .verdicts = verdicts, .vip_id1 = vip_id1,
				 .pid = getpid() };

	ASSERT_OK(bpf_map_update_elem(fd, &(__u32){ 0 }, &m, BPF_ANY), "monitor: set the listener");
}

/* A listener of VERDICTS and VIP_ID1 that lets one of the three packets (drop, forward, pass)
 * through: checks that it saw exactly one event of them, the one returned. */
static const struct ebb_monitor_event *mon_one_of(int fd, struct ring_buffer *rb,
						    struct mon_seen *seen,
						    const struct pkt_desc *const *all,
						    __u32 verdicts, __u32 vip_id1, const char *who)
{
	seen->n = 0;
	mon_listen(fd, 1, verdicts, vip_id1);
	for (int i = 0; i < 3; i++)
		balancer_run(all[i], NULL);
	ring_buffer__consume(rb);
	ASSERT_EQ(seen->n, 1, nm(who, "one event of three packets"));
	return &seen->ev[0];
}

static void monitor_cases(void)
{
	static const struct pkt_desc drop = { TCP4(CLI, 6701, VIPI, 80, TH_SYN) };
	static const struct pkt_desc fwd = { TCP4(CLI_MISC, 7201, VIP1, 80, TH_SYN) };
	static const struct pkt_desc pass = { TCP4(CLI, 1001, NOT_VIP4, 80, TH_SYN) };
	const struct pkt_desc *all[] = { &drop, &fwd, &pass };
	int mon_fd = bpf_map__fd(skel->maps.monitor);
	__u32 vipi = vip_id_of(VIPI_K), vip1 = vip_id_of(VIP1_K);
	const __u32 every = 1u << XDP_DROP | 1u << XDP_PASS | 1u << XDP_TX;
	struct ebb_reason_counter before, after, fwd_before, fwd_after;
	struct ebb_flow_key kdrop, kfwd, kpass;
	struct mon_seen seen = {};
	struct ebb_monitor m;
	struct ring_buffer *rb;
	struct ebb_flow flow;

	rb = ring_buffer__new(bpf_map__fd(skel->maps.monitor_events), mon_collect, &seen, NULL);
	if (!ASSERT_TRUE(rb != NULL, "monitor: the ring buffer opens") ||
	    !ASSERT_TRUE(vipi < EBB_MAX_VIPS && vip1 < EBB_MAX_VIPS, "monitor: VIPs configured"))
		goto out;
	key_of(&drop, &kdrop);
	key_of(&fwd, &kfwd);
	key_of(&pass, &kpass);

	/* Nobody listens: the map as a first load leaves it, and not one event. */
	ASSERT_OK(bpf_map_lookup_elem(mon_fd, &(__u32){ 0 }, &m), "monitor: read");
	ASSERT_EQ(m.sample, 0, "monitor: nobody listens after load (sample 0)");
	ebb_vip_reason_sum(&e, vipi, EBB_R_DROP_NO_NODE, &before);
	ebb_vip_reason_sum(&e, vip1, EBB_R_FORWARDED, &fwd_before);
	ASSERT_EQ(balancer_run(&drop, NULL), XDP_DROP, "monitor off: drop packet dropped");
	ASSERT_EQ(balancer_run(&fwd, NULL), XDP_TX, "monitor off: VIP packet forwarded");
	ASSERT_EQ(balancer_run(&pass, NULL), XDP_PASS, "monitor off: non-VIP packet passed");
	ring_buffer__consume(rb);
	ASSERT_EQ(seen.n, 0, "monitor off: no event emitted");
	ebb_vip_reason_sum(&e, vipi, EBB_R_DROP_NO_NODE, &after);
	ASSERT_EQ(after.packets - before.packets, 1, "vip_reasons: VIPI drop_no_node +1");
	ebb_vip_reason_sum(&e, vip1, EBB_R_FORWARDED, &fwd_after);
	ASSERT_EQ(fwd_after.packets - fwd_before.packets, 0,
		  "vip_reasons: a plain forward is not counted per VIP (vip_stats has it)");

	/* A listener of every verdict, every packet. */
	mon_listen(mon_fd, 1, every, 0);
	for (int i = 0; i < 3; i++)
		balancer_run(all[i], NULL);
	ring_buffer__consume(rb);
	if (ASSERT_EQ(seen.n, 3, "monitor on: one event per packet")) {
		const struct ebb_monitor_event *d = &seen.ev[0], *f = &seen.ev[1], *p = &seen.ev[2];

		ASSERT_EQ(d->verdict, XDP_DROP, "monitor: drop event: verdict XDP_DROP");
		ASSERT_EQ(d->reason, EBB_R_DROP_NO_NODE, "monitor: drop event: reason drop_no_node");
		ASSERT_EQ(d->vip_id, vipi, "monitor: drop event: its VIP");
		ASSERT_EQ(d->node_id, 0, "monitor: drop event: no node");
		ASSERT_MEM_EQ(&d->key, &kdrop, sizeof(kdrop), "monitor: drop event: addresses, ports");
		ASSERT_TRUE(d->bytes > 0 && d->ns > 0, "monitor: drop event: bytes and time");
		ASSERT_EQ(d->tcp_flags & TH_SYN, TH_SYN, "monitor: drop event: TCP flags");
		ASSERT_EQ(f->verdict, XDP_TX, "monitor: forward event: verdict XDP_TX");
		ASSERT_EQ(f->reason, EBB_R_FORWARDED, "monitor: forward event: reason forwarded");
		ASSERT_EQ(f->vip_id, vip1, "monitor: forward event: its VIP");
		ASSERT_MEM_EQ(&f->key, &kfwd, sizeof(kfwd), "monitor: forward event: addresses, ports");
		if (ASSERT_OK(flow_get(&kfwd, &flow), "monitor: forwarded flow pinned"))
			ASSERT_EQ(f->node_id, flow.node_id, "monitor: forward event: the flow's node");
		ASSERT_EQ(p->verdict, XDP_PASS, "monitor: pass event: verdict XDP_PASS");
		ASSERT_EQ(p->reason, EBB_R_PASS_NOT_VIP, "monitor: pass event: reason pass_not_vip");
		ASSERT_EQ(p->vip_id, EBB_MONITOR_NO_VIP, "monitor: pass event: no VIP");
		/* Parsing stops at vip_filter before the key is filled: passing a packet that is
		 * not ours costs no more with a listener than without one. */
		ASSERT_TRUE(!p->key.family || !memcmp(p->key.dst, kpass.dst, sizeof(kpass.dst)),
			    "monitor: pass event: no address, or its destination");
	}

	/* type drop: the forward and the pass are not shown. */
	ASSERT_EQ(mon_one_of(mon_fd, rb, &seen, all, 1u << XDP_DROP, 0, "monitor type drop")->verdict,
		  XDP_DROP, "monitor type drop: the drop");

	/* One VIP: only its packets. */
	ASSERT_EQ(mon_one_of(mon_fd, rb, &seen, all, every, vip1 + 1, "monitor vip")->vip_id, vip1,
		  "monitor vip: the VIP's packet");

	/* 1 in 1000: of 200 packets, far fewer than 200 (P(>= 20) is negligible). */
	seen.n = 0;
	mon_listen(mon_fd, 1000, every, 0);
	for (int i = 0; i < 200; i++)
		balancer_run(&pass, NULL);
	ring_buffer__consume(rb);
	ASSERT_TRUE(seen.n < 20, nm("monitor sample 1000", "%d events of 200 packets", seen.n));

	/* The listener gone: nothing again. */
	seen.n = 0;
	ASSERT_OK(bpf_map_update_elem(mon_fd, &(__u32){ 0 }, &(struct ebb_monitor){}, BPF_ANY),
		  "monitor: listener leaves");
	for (int i = 0; i < 3; i++)
		balancer_run(all[i], NULL);
	ring_buffer__consume(rb);
	ASSERT_EQ(seen.n, 0, "monitor off again: no event emitted");

	/* A VIP added in a deleted one's slot starts its reasons from zero, as its vip_stats. */
	{
		struct ebb_vip_key k;
		struct ebb_vip_opts o = {};
		struct ebb_err err = {};

		ebb_vip_reason_sum(&e, vipi, EBB_R_DROP_NO_NODE, &before);
		ASSERT_TRUE(before.packets > 0, "vip_reasons: VIPI has drops before it is deleted");
		ebb_parse_vip(VIPI_K, &k, &err);
		ASSERT_OK(ebb_vip_del(&e, &k, true, &err), "vip_reasons: VIPI deleted");
		ASSERT_OK(ebb_vip_add(&e, &k, &o, &err), "vip_reasons: VIPI added again");
		ebb_vip_reason_sum(&e, vip_id_of(VIPI_K), EBB_R_DROP_NO_NODE, &after);
		ASSERT_EQ(after.packets, 0, "vip_reasons: the re-added VIP's drops start from 0");
	}
out:
	ring_buffer__free(rb);
}

/* ---- setup ---- */
/* ---- what a table change marks in ring_changes (libebb) ---- */

static void age_window(const char *who, __u32 vip_id)
{
	struct ebb_vip_key vk;
	struct ebb_vip v;

	if (!ASSERT_OK(ebb_vip_by_id(&e, vip_id, &vk, &v), nm(who, "read the VIP")))
		return;
	v.rings_changed = ebb_seen_tick(ebb_now_ns()) - EBB_SYN_RETRY_TICKS - 60;
	ASSERT_OK(ebb_vip_store(&e, &vk, &v, BPF_EXIST), nm(who, "its retry window over"));
}

/* Changes node addr's state and compares every slot's bit of the VIP with the tables before and
 * after: exact (want_exact) or a superset of the change and of the bits before (the window open). */
static void change_and_check(const char *who, __u32 vip_id, const char *addr, __u8 state,
			     bool want_exact)
{
	static __u32 before[EBB_RING_SIZE], after[EBB_RING_SIZE];
	static __u64 bits_before[EBB_RING_CHANGE_WORDS], bits_after[EBB_RING_CHANGE_WORDS];
	__u32 wrong = 0, changed = 0, lost = 0, t0 = ebb_seen_tick(ebb_now_ns());
	struct ebb_vip v;

	for (__u32 w = 0; w < EBB_RING_CHANGE_WORDS; w++) {
		__u32 word = vip_id * EBB_RING_CHANGE_WORDS + w;

		bits_before[w] = 0;
		bpf_map_lookup_elem(e.ring_changes_fd, &word, &bits_before[w]);
	}
	if (!ASSERT_OK(read_ring(EBB_RING_NEW(vip_id), before), nm(who, "read the NEW ring")) ||
	    !ASSERT_OK(set_state(addr, state), nm(who, "%s to state %u", addr, state)) ||
	    !ASSERT_OK(read_ring(EBB_RING_NEW(vip_id), after), nm(who, "read the NEW ring again")))
		return;
	for (__u32 w = 0; w < EBB_RING_CHANGE_WORDS; w++) {
		__u32 word = vip_id * EBB_RING_CHANGE_WORDS + w;

		bits_after[w] = 0;
		bpf_map_lookup_elem(e.ring_changes_fd, &word, &bits_after[w]);
	}
	for (__u32 slot = 0; slot < EBB_RING_SIZE; slot++) {
		bool moved = before[slot] != after[slot], set, was;

		set = (bits_after[slot / 64] >> (slot % 64)) & 1;
		was = (bits_before[slot / 64] >> (slot % 64)) & 1;
		changed += moved;
		if (want_exact ? set != moved : (moved && !set))
			wrong++;
		if (!want_exact && was && !set)
			lost++;
	}
	CHECK(changed > 0 && changed < EBB_RING_SIZE, "%s",
	      nm(who, "the change moved some slots, not all (%u)", changed));
	ASSERT_EQ(wrong, 0, nm(who, want_exact ? "exactly the %u slots that changed owner are marked" :
						 "the %u slots that changed owner are marked", changed));
	if (!want_exact)
		ASSERT_EQ(lost, 0, nm(who, "no bit of the open window was cleared"));
	if (ASSERT_OK(ebb_vip_by_id(&e, vip_id, NULL, &v), nm(who, "read the VIP")))
		CHECK((__s32)(v.rings_changed - t0) >= 0, "%s",
		      nm(who, "its retry window opened with the change"));
}

static void ring_changes_cases(void)
{
	__u32 vip = vip_id_of(VIP1_K);

	/* C is active (the pin cases activated it), A and B too */
	age_window("marks: window over", vip);
	change_and_check("marks: C inactive after the window", vip, NODE_C, EBB_NODE_INACTIVE, true);
	change_and_check("marks: B inactive within the window", vip, NODE_B, EBB_NODE_INACTIVE, false);
	age_window("marks: window over again", vip);
	change_and_check("marks: B active after the window", vip, NODE_B, EBB_NODE_ACTIVE, true);
	change_and_check("marks: C active within the window", vip, NODE_C, EBB_NODE_ACTIVE, false);
}

/* ---- a VIP of its own table size (table-size 251) ---- */

#define VIPS "203.0.113.70" /* table-size 251 */
#define VIPS_K "203.0.113.70:80/tcp"
#define SMALL_M 251
static const struct {
	const char *addr;
	uint8_t mac[6];
} small_nodes[] = {
	{ "198.51.100.71", { 0x02, 0, 0, 0, 0, 0x71 } },
	{ "198.51.100.72", { 0x02, 0, 0, 0, 0, 0x72 } },
	{ "198.51.100.73", { 0x02, 0, 0, 0, 0, 0x73 } },
};
#define N_SMALL (sizeof(small_nodes) / sizeof(small_nodes[0]))

/* Runs one TCP packet client port -> VIPS; the node id whose MAC the frame went to (0: none of
 * the small VIP's, or not XDP_TX). */
static __u32 small_run(const char *who, uint16_t port, uint8_t flags, const __u32 *ids)
{
	const struct pkt_desc d = { TCP4(CLI_MISC, port, VIPS, 80, flags) };
	uint8_t mac[6];

	if (balancer_run(&d, mac) == ~0u) {
		CHECK(false, "%s", nm(who, "BPF_PROG_TEST_RUN, port %u", port));
		return 0;
	}
	for (size_t i = 0; i < N_SMALL; i++)
		if (!memcmp(mac, small_nodes[i].mac, 6))
			return ids[i];
	return 0;
}

static void small_key(uint16_t port, struct ebb_flow_key *k)
{
	const struct pkt_desc d = { TCP4(CLI_MISC, port, VIPS, 80, TH_SYN) };

	key_of(&d, k);
}

/*
 * A VIP added with table-size 251: its tables have 251 slots (past them, none), a SYN goes to
 * the node of slot hash % 251 of the new-flow table and is pinned there, a mid-flow packet
 * without an entry takes the second-chance table's node of the same slot, and a drain marks in
 * ring_changes and records in slot_history only slots < 251.
 */
static void small_table_cases(void)
{
	static __u32 t_new[EBB_RING_SIZE], t_sec[EBB_RING_SIZE], before[EBB_RING_SIZE];
	struct ebb_vip_opts o = { .table_size = SMALL_M }, bad = { .table_size = 250 };
	struct ebb_history_key hk, *hprev = NULL;
	struct ebb_err err = {};
	struct ebb_vip_key k, kbad;
	struct bpf_map_info info = {};
	__u32 ids[N_SMALL], vip_id, len = sizeof(info), inner_id, drained;
	__u32 placed_ok = 0, pinned_ok = 0, default_differs = 0, outside = 0, past_m = 0;
	__u32 second_ok = 0, second_tried = 0, moved = 0, owned = 0, hist_ok = 0, hist_outside = 0;
	struct ebb_vip v;
	int fd;

	if (ebb_parse_vip(VIPS_K, &k, NULL) || ebb_parse_vip("203.0.113.71:80/tcp", &kbad, NULL))
		abort();
	CHECK(ebb_vip_add(&e, &kbad, &bad, &err) != 0 && ebb_vip_find(&e, &kbad, &v) == -ENOENT,
	      "table-size 250: refused (%s), no VIP added", err.msg);
	if (!ASSERT_OK(ebb_vip_add(&e, &k, &o, &err), "table-size 251: vip add")) {
		printf("#   %s\n", err.msg);
		return;
	}
	vip_id = vip_id_of(VIPS_K);
	if (!ASSERT_OK(ebb_vip_find(&e, &k, &v), "table-size 251: the VIP is there"))
		return;
	ASSERT_EQ(v.table_size, SMALL_M, "table-size 251: ebb_vip.table_size");
	for (size_t i = 0; i < N_SMALL; i++)
		if (!ASSERT_OK(add_node(small_nodes[i].addr, VIPS_K, small_nodes[i].mac, false, &ids[i],
					&err), nm("table-size 251", "node add %s", small_nodes[i].addr)))
			return;
	if (!ASSERT_OK(read_ring(EBB_RING_NEW(vip_id), t_new), "table-size 251: read the new-flow table") ||
	    !ASSERT_OK(read_ring(EBB_RING_SECOND(vip_id), t_sec), "table-size 251: read the second-chance table"))
		return;
	for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
		bool ours = t_new[s] == ids[0] || t_new[s] == ids[1] || t_new[s] == ids[2];

		outside += s < SMALL_M && !ours;
		past_m += s >= SMALL_M && t_new[s] != 0;
	}
	ASSERT_EQ(outside, 0, "table-size 251: every slot < 251 holds one of the VIP's nodes");
	ASSERT_EQ(past_m, 0, "table-size 251: no slot past 251");
	/* the kernel's own size of the inner table: (251 + 3) / 4 elements of four slots */
	if (!bpf_map_lookup_elem(e.rings_fd, &(__u32){ EBB_RING_NEW(vip_id) }, &inner_id) &&
	    (fd = bpf_map_get_fd_by_id(inner_id)) >= 0) {
		ASSERT_OK(bpf_obj_get_info_by_fd(fd, &info, &len), "table-size 251: inner table info");
		ASSERT_EQ(info.max_entries, (SMALL_M + 3) / 4, "table-size 251: inner table of 63 elements");
		close(fd);
	} else {
		CHECK(false, "table-size 251: the new-flow table is installed");
	}

	/* SYNs: placed by slot hash % 251 and pinned */
	for (uint16_t p = 21000; p < 21200; p++) {
		struct ebb_flow_key fk;
		struct ebb_flow f;
		__u32 want, got;

		small_key(p, &fk);
		want = t_new[ebb_ring_slot_m(&fk, SMALL_M)];
		got = small_run("table-size 251: SYN", p, TH_SYN, ids);
		placed_ok += got == want && want;
		pinned_ok += !flow_get(&fk, &f) && f.node_id == want;
		default_differs += t_new[ebb_ring_slot(&fk)] != want;
	}
	ASSERT_EQ(placed_ok, 200, "table-size 251: 200 SYNs each to the node of slot hash % 251");
	ASSERT_EQ(pinned_ok, 200, "table-size 251: ... each pinned to it");
	CHECK(default_differs > 100, "table-size 251: the slot %% 65537 would have sent %u of them elsewhere (the size is the VIP's)",
	      default_differs);

	/* a drain: its slots of the new-flow table move, the second-chance table keeps them */
	age_window("table-size 251", vip_id);
	memcpy(before, t_new, sizeof(before));
	drained = ids[0];
	if (!ASSERT_OK(set_state(small_nodes[0].addr, EBB_NODE_DRAINING), "table-size 251: drain the first node") ||
	    !ASSERT_OK(read_ring(EBB_RING_NEW(vip_id), t_new), "table-size 251: read the new-flow table again") ||
	    !ASSERT_OK(read_ring(EBB_RING_SECOND(vip_id), t_sec), "table-size 251: read the second-chance table again"))
		return;
	for (uint16_t p = 21000; p < 21200; p++) {
		struct ebb_flow_key fk;
		__u32 slot;

		small_key(p, &fk);
		slot = ebb_ring_slot_m(&fk, SMALL_M);
		if (t_sec[slot] != drained || t_new[slot] == drained)
			continue;
		/* its entry lost: a mid-flow ACK finds the drained node by the second chance */
		flow_del(&fk);
		second_tried++;
		second_ok += small_run("table-size 251: ACK, no entry", p, TH_ACK, ids) == drained;
	}
	CHECK(second_tried > 10 && second_ok == second_tried,
	      "table-size 251: %u of %u mid-flow ACKs without an entry went to the draining node by slot hash %% 251 of the second-chance table",
	      second_ok, second_tried);

	/* ring_changes: exactly the slots that changed owner, all < 251 */
	for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
		__u32 word = ebb_ring_change_word(vip_id, s);
		__u64 bits = 0;
		bool mv = before[s] != t_new[s];

		moved += mv;
		bpf_map_lookup_elem(e.ring_changes_fd, &word, &bits);
		if (((bits >> (s % 64)) & 1) != mv)
			outside++;
	}
	/* The drained node still owns its slots of the second-chance table: a rescue names it
	 * from there. Made inactive, it owns none, and slot_history keeps it as their candidate. */
	if (!ASSERT_OK(set_state(small_nodes[0].addr, EBB_NODE_INACTIVE), "table-size 251: the drained node inactive"))
		return;
	for (__u32 s = 0; s < SMALL_M; s++) {
		struct ebb_slot_history h;

		owned += before[s] == drained;
		if (before[s] == drained && !ebb_history_get(&e, vip_id, s, &h) &&
		    (h.owner[0] == drained || h.owner[1] == drained))
			hist_ok++;
	}
	while (!bpf_map_get_next_key(e.slot_history_fd, hprev, &hk)) {
		hprev = &hk;
		hist_outside += hk.vip_id == vip_id && hk.slot >= SMALL_M;
	}
	CHECK(moved > 0 && moved < SMALL_M, "table-size 251: the drain moved %u of 251 slots", moved);
	ASSERT_EQ(outside, 0, "table-size 251: ring_changes marks exactly the slots that moved, none past 251");
	CHECK(owned > 0 && hist_ok == owned,
	      "table-size 251: slot_history names the inactive node in each of the %u slots it owned (%u)",
	      owned, hist_ok);
	ASSERT_EQ(hist_outside, 0, "table-size 251: no slot_history entry past slot 251");
}

static bool setup(void)
{
	struct ebb_err err = {};

	if (!balancer_setup())
		return false;
	for (size_t i = 0; i < sizeof(vip_cfg) / sizeof(vip_cfg[0]); i++) {
		struct ebb_vip_key k;
		struct ebb_vip_opts o = {};

		if (!ASSERT_OK(ebb_parse_vip(vip_cfg[i], &k, &err) ||
				       ebb_vip_add(&e, &k, &o, &err),
			       nm("setup", "vip add %s", vip_cfg[i]))) {
			printf("#   %s\n", err.msg);
			return false;
		}
	}
	for (size_t i = 0; i < N_NODES; i++) {
		struct node_cfg *c = &node_cfg[i];
		int ret = add_node(c->addr, c->vip, c->mac, c->inactive, &c->id, &err);
		struct ebb_node n;

		if (!ASSERT_OK(ret, nm("setup", "node add %s vip %s", c->addr, c->vip))) {
			printf("#   %s\n", err.msg);
			return false;
		}
		if (c->zero_mac &&
		    !ASSERT_OK(bpf_map_lookup_elem(e.nodes_fd, &c->id, &n) ||
				       (memset(n.mac, 0, sizeof(n.mac)),
					bpf_map_update_elem(e.nodes_fd, &c->id, &n, BPF_EXIST)),
			       nm("setup", "node %s's MAC zeroed in the map", c->addr)))
			return false;
	}
	return true;
}

/* ---- issue 16's table (include/ebb_flowtable.h): its BTF, and a fingerprint's twin ---- */

#define CLI_FT "198.51.100.207"

/* `bpftool map dump` prints a bucket by BTF: the entry word's fields by name, at the bits the
 * code's shifts use (a bitfield's layout is the compiler's: clang's for BPF is checked here,
 * the host compiler's below). */
static void table_btf_case(void)
{
	static const struct { const char *name; __u32 off, bits; } want[] = {
		{ "tick", 0, 12 },
		{ "flags", EBB_FT_FLAGS_SHIFT, 3 },
		{ "node", EBB_FT_NODE_SHIFT, 13 },
		{ "vip", EBB_FT_VIP_SHIFT, 10 },
		{ "chk", EBB_FT_CHK_SHIFT, 1 },
		{ "fp", EBB_FT_FP_SHIFT, 25 },
	};
	const char *n = "table BTF";
	struct btf *btf = bpf_object__btf(skel->obj);
	const struct btf_type *t;
	union ebb_ft_entry u;
	__s32 id;

	if (!ASSERT_TRUE(btf != NULL, nm(n, "the balancer has BTF")))
		return;
	t = btf__type_by_id(btf, bpf_map__btf_value_type_id(skel->maps.flows));
	CHECK(t && !strcmp(btf__name_by_offset(btf, t->name_off), "ebb_ft_bucket"), "%s",
	      nm(n, "flows' value is struct ebb_ft_bucket"));
	id = btf__find_by_name_kind(btf, "ebb_ft_fields", BTF_KIND_STRUCT);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	if (!ASSERT_TRUE(t != NULL && btf_kflag(t), nm(n, "struct ebb_ft_fields, a bitfield struct")))
		return;
	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		const struct btf_member *m = btf_members(t);
		bool found = false;

		for (__u16 i = 0; i < btf_vlen(t); i++, m++)
			if (!strcmp(btf__name_by_offset(btf, m->name_off), want[w].name))
				found = btf_member_bit_offset(t, i) == want[w].off &&
					btf_member_bitfield_size(t, i) == want[w].bits;
		CHECK(found, "%s", nm(n, "field %s: bits %u..%u", want[w].name, want[w].off,
				      want[w].off + want[w].bits - 1));
	}
	u.word = ebb_ft_entry(0x1abcdef, 0x2a5, 0x1234, 5, 0xabc) | EBB_FT_CHK;
	CHECK(u.f.fp == 0x1abcdef && u.f.vip == 0x2a5 && u.f.node == 0x1234 && u.f.flags == 5 &&
		      u.f.tick == 0xabc && u.f.chk == 1,
	      "%s", nm(n, "the host's bitfields read the word the shifts wrote"));
}

/* `bpftool map lookup` of a bucket prints the entry word by field name (BTF): pinned for the
 * call at a path of this process's own, removed after. */
static void bpftool_bucket_case(const char *n, __u32 bucket, __u64 word)
{
	char path[128], cmd[512], out[65536], want[200];
	size_t len = 0, k = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/fs/bpf/ebb-test-ft-%d", (int)getpid());
	unlink(path);
	if (!ASSERT_OK(bpf_obj_pin(e.flows_fd, path), nm(n, "pin flows for bpftool")))
		return;
	snprintf(cmd, sizeof(cmd), "bpftool map lookup pinned %s key %u %u %u %u 2>&1", path,
		 bucket & 0xff, bucket >> 8 & 0xff, bucket >> 16 & 0xff, bucket >> 24);
	f = popen(cmd, "r");
	if (f) {
		len = fread(out, 1, sizeof(out) - 1, f);
		pclose(f);
	}
	unlink(path);
	/* the fields of one entry in a row, whatever bpftool's indentation */
	for (size_t i = 0; i < len; i++)
		if (out[i] != ' ' && out[i] != '\n' && out[i] != '\t')
			out[k++] = out[i];
	out[k] = 0;
	snprintf(want, sizeof(want),
		 "\"tick\":0x%x,\"flags\":0x%x,\"node\":0x%x,\"vip\":0x%x,\"chk\":0x%x,\"fp\":0x%x",
		 ebb_ft_tick(word), ebb_ft_flags(word), ebb_ft_node(word), ebb_ft_vip(word),
		 ebb_ft_chk(word) ? 1 : 0, ebb_ft_fp(word));
	if (!CHECK(strstr(out, want) != NULL, "%s",
		   nm(n, "bpftool map lookup prints A's entry by field: %s", want)))
		printf("#   bpftool said: %.300s\n", out);
}

/*
 * Two flows of one fingerprint in one pair of buckets (1 in ~10^7 at full load): a pin must not
 * take the other's entry, both are marked to compare their key words, and each flow's packets
 * then go to its own node. The twin is planted: a word of A's fingerprint, another client's key
 * word, another node.
 */
static void table_twin_case(void)
{
	const char *n = "table twin";
	struct pkt_desc syn = { TCP4(CLI_FT, 41000, VIP1, 80, TH_SYN) };
	struct pkt_desc ack = { TCP4(CLI_FT, 41000, VIP1, 80, TH_ACK) };
	/* the twin's key word: a real client's (its own flow hashes elsewhere: the twin is
	 * planted where A's fingerprint would collide) */
	struct pkt_desc other = { TCP4(CLI_FT, 41001, VIP1, 80, TH_ACK) };
	__u32 vip = vip_id_of(VIP1_K), want, twin_node = 0, tick = ebb_ft_tick_of_ns(ebb_now_ns());
	struct ebb_flow_key ka, ko;
	struct ebb_ft_where w;
	struct ebb_ft_bucket *b;
	__u64 twin, *tslot = NULL, word = 0, *aslot;
	uint8_t mac[6];
	long before;
	int way = -1;

	key_of(&syn, &ka);
	key_of(&other, &ko);
	want = ring_node(EBB_RING_NEW(vip), ebb_ring_slot(&ka));
	for (size_t i = 0; i < N_NODES; i++)
		if (!strcmp(node_cfg[i].vip, VIP1_K) && node_cfg[i].id != want &&
		    state_of(node_cfg[i].id) == EBB_NODE_ACTIVE)
			twin_node = node_cfg[i].id;
	if (!ASSERT_TRUE(want && twin_node, nm(n, "VIP1 has two active nodes")))
		return;
	flow_del(&ka);
	w = ebb_ft_where_key(&ka, ft_nbuckets);
	b = &ft_table[w.b[0]];
	for (int i = 0; i < EBB_FT_WAYS && way < 0; i++)
		if (!ebb_ft_node(b->entry[i].word))
			way = i;
	if (!ASSERT_TRUE(way >= 0, nm(n, "A's first bucket has an empty way")))
		return;
	/* with chk: else A's SYN (within the retry window, it asks the table) would take the
	 * twin for its own entry, the false hit a fingerprint allows */
	twin = ebb_ft_entry(w.fp, vip, twin_node, 0, tick) | EBB_FT_CHK;
	tslot = &b->entry[way].word;
	b->key[way].word = ebb_ft_keyword4(&ko);
	*tslot = twin;
	before = flow_count();

	CHECK(balancer_run(&syn, mac) == XDP_TX && !memcmp(mac, mac_of(want), 6), "%s",
	      nm(n, "A's SYN: past the twin, to A's new-flow node %s", addr_of(want)));
	ASSERT_EQ(*tslot, twin, nm(n, "the twin's word untouched"));
	ASSERT_EQ(b->key[way].word, ebb_ft_keyword4(&ko), nm(n, "the twin's key word untouched"));
	ASSERT_EQ(flow_count() - before, 1, nm(n, "A pinned in a way of its own"));
	aslot = flow_slot4(&ka, &word);
	CHECK(aslot && aslot != tslot && ebb_ft_node(word) == want && ebb_ft_chk(word), "%s",
	      nm(n, "A's entry: its node, marked to compare its key"));
	CHECK(balancer_run(&ack, mac) == XDP_TX && !memcmp(mac, mac_of(want), 6), "%s",
	      nm(n, "A's ACK: a hit on A's entry, not the twin's"));
	if (aslot)
		bpftool_bucket_case(n, (__u32)((aslot - &ft_table[0].entry[0].word) /
					       (sizeof(struct ebb_ft_bucket) / sizeof(__u64))),
				    word);
	flow_del(&ka);
	*tslot = 0;

	/* The pin itself (the same header code, here in user space): a twin without the mark
	 * gets it, and A goes elsewhere. */
	twin &= ~EBB_FT_CHK;
	*tslot = twin;
	CHECK(!flow_put(&ka, &(struct ebb_flow){ .node_id = want, .vip_id = vip, .seen = tick }),
	      "%s", nm(n, "pin A beside an unmarked twin"));
	ASSERT_EQ(*tslot, twin | EBB_FT_CHK, nm(n, "the twin marked, nothing else of it changed"));
	aslot = flow_slot4(&ka, &word);
	CHECK(aslot && aslot != tslot && ebb_ft_node(word) == want && ebb_ft_chk(word), "%s",
	      nm(n, "A's entry beside it, marked"));
	flow_del(&ka);
	*tslot = 0;
}

/* A node of vip (active) other than avoid: the one a test pins a flow to, so that only the entry
 * can have sent a packet there. */
static __u32 other_node(const char *vip, __u32 avoid)
{
	for (size_t i = 0; i < N_NODES; i++)
		if (!strcmp(node_cfg[i].vip, vip) && node_cfg[i].id && node_cfg[i].id != avoid &&
		    state_of(node_cfg[i].id) == EBB_NODE_ACTIVE)
			return node_cfg[i].id;
	return 0;
}

static int set_migrating(bool on)
{
	struct ebb_settings set;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(e.settings_fd, &zero, &set))
		return -errno;
	set.migrating = on;
	return bpf_map_update_elem(e.settings_fd, &zero, &set, BPF_ANY) ? -errno : 0;
}

/*
 * `prog upgrade` from an LRU layout (user/lib/migrate.c): between its two copies the new
 * program has the old LRU in flows_old and settings.migrating set. A flow only the old LRU has
 * (the old program made it after the first copy) goes to the node its old entry names, not to
 * the second chance, and its entry is then in the new table (same node, VIP id, flags; seen
 * now); a flow the new table has keeps the new table's node; without the flag, or with the
 * slot empty, the old LRU is not read. The old entries' nodes are never the flows' second-
 * chance owners: only the entry can send a packet there.
 */
static void migrating_case(void)
{
	const char *n = "migrating";
	struct pkt_desc a4 = { TCP4(CLI_FT, 42000, VIP1, 80, TH_ACK) };
	struct pkt_desc c4 = { TCP4(CLI_FT, 42001, VIP1, 80, TH_ACK) };
	struct pkt_desc d4 = { TCP4(CLI_FT, 42002, VIP1, 80, TH_ACK) };
	struct pkt_desc f4 = { TCP4(CLI_FT, 42003, VIP1, 80, TH_ACK | TH_FIN) };
	struct pkt_desc b6 = { TCP6(CLI6, 42004, VIP6, 80, TH_ACK) };
	__u32 vip1 = vip_id_of(VIP1_K), vip6 = vip_id_of(VIP6_K), zero = 0, sc, node_a, node_b,
	      node_c, node_d, node_f, tick;
	struct ebb_flow_key ka, kb, kc, kd, kf;
	struct ebb_counters before, after;
	int old_fd, outer = bpf_map__fd(skel->maps.flows_old);
	struct ebb_flow_lru f;
	struct ebb_flow got;
	__u64 now = ebb_now_ns();
	uint8_t mac[6];
	int r;

	old_fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "flows_lru", sizeof(struct ebb_flow_key),
				sizeof(struct ebb_flow_lru), 64, NULL);
	if (!ASSERT_TRUE(old_fd >= 0 && outer >= 0, nm(n, "an LRU of the old layout's flows")))
		return;
	key_of(&a4, &ka);
	key_of(&b6, &kb);
	key_of(&c4, &kc);
	key_of(&d4, &kd);
	key_of(&f4, &kf);
	sc = ring_node(EBB_RING_SECOND(vip1), ebb_ring_slot(&ka));
	node_a = other_node(VIP1_K, sc);
	node_c = other_node(VIP1_K, ring_node(EBB_RING_SECOND(vip1), ebb_ring_slot(&kc)));
	node_d = other_node(VIP1_K, ring_node(EBB_RING_SECOND(vip1), ebb_ring_slot(&kd)));
	node_f = other_node(VIP1_K, ring_node(EBB_RING_SECOND(vip1), ebb_ring_slot(&kf)));
	node_b = other_node(VIP6_K, ring_node(EBB_RING_SECOND(vip6), ebb_ring_slot(&kb)));
	if (!ASSERT_TRUE(node_a && node_b && node_c && node_d && node_f,
			 nm(n, "each flow has a node that is not its second chance")))
		goto out;
	for (const struct ebb_flow_key *k = &ka; k; k = k == &ka ? &kb : k == &kb ? &kc : k == &kc ? &kd : k == &kd ? &kf : NULL)
		flow_del(k);
	/* seen 5 s ago, in the old layout's 2^24 ns ticks */
	f = (struct ebb_flow_lru){ .vip_id = vip1, .seen = ebb_seen_tick(now - 5000000000ULL) };
	f.node_id = node_a;
	bpf_map_update_elem(old_fd, &ka, &f, BPF_ANY);
	f.node_id = node_d;
	bpf_map_update_elem(old_fd, &kd, &f, BPF_ANY);
	f.node_id = node_f;
	bpf_map_update_elem(old_fd, &kf, &f, BPF_ANY);
	f.node_id = node_b;
	f.vip_id = vip6;
	f.flags = EBB_FLOW_FIN;
	bpf_map_update_elem(old_fd, &kb, &f, BPF_ANY);
	/* C: in both, another node in the old one: the new table's entry is the flow's */
	f = (struct ebb_flow_lru){ .vip_id = vip1, .node_id = node_c, .seen = ebb_seen_tick(now) };
	CHECK(!flow_put(&kc, &(struct ebb_flow){ .node_id = node_c, .vip_id = vip1,
						  .seen = ebb_ft_tick_of_ns(now) }),
	      "%s", nm(n, "C pinned in the new table to %s", addr_of(node_c)));
	f.node_id = other_node(VIP1_K, node_c);
	bpf_map_update_elem(old_fd, &kc, &f, BPF_ANY);

	if (!ASSERT_OK(bpf_map_update_elem(outer, &zero, &old_fd, BPF_ANY),
		       nm(n, "the old LRU into flows_old (the inner map's key and value sizes)")))
		goto out;
	/* the flag off: the old LRU is not read (D's ACK goes by the second chance) */
	CHECK(balancer_run(&d4, mac) == XDP_TX && memcmp(mac, mac_of(node_d), 6), "%s",
	      nm(n, "migrating off: D's ACK is placed by the second chance, not by the old entry"));
	flow_del(&kd);

	ASSERT_OK(set_migrating(true), nm(n, "settings.migrating set"));
	ebb_counters_sum(e.vip_stats_fd, vip1, &before);
	CHECK(balancer_run(&a4, mac) == XDP_TX && !memcmp(mac, mac_of(node_a), 6), "%s",
	      nm(n, "A (only in the old LRU): its ACK goes to %s, its old entry's node", addr_of(node_a)));
	tick = ebb_ft_tick_of_ns(ebb_now_ns());
	r = flow_get(&ka, &got);
	CHECK(!r && got.node_id == node_a && got.vip_id == vip1 && !got.flags &&
		      ((tick - got.seen) & EBB_FT_TICK_MASK) <= 1,
	      "%s", nm(n, "... and A's entry is in the new table: node %u vip %u flags %u, seen now (tick %u, now %u)",
		       got.node_id, got.vip_id, got.flags, got.seen, tick));
	CHECK(balancer_run(&a4, mac) == XDP_TX && !memcmp(mac, mac_of(node_a), 6), "%s",
	      nm(n, "A's next ACK: a hit in the new table"));
	CHECK(balancer_run(&f4, mac) == XDP_TX && !memcmp(mac, mac_of(node_f), 6), "%s",
	      nm(n, "F's FIN (only in the old LRU): to %s", addr_of(node_f)));
	r = flow_get(&kf, &got);
	CHECK(!r && got.node_id == node_f && got.flags == EBB_FLOW_FIN, "%s",
	      nm(n, "... F adopted, and the FIN noted on its new entry (flags %u)", got.flags));
	CHECK(balancer_run(&c4, mac) == XDP_TX && !memcmp(mac, mac_of(node_c), 6), "%s",
	      nm(n, "C (in both): the new table's node %s", addr_of(node_c)));
	CHECK(balancer_run(&b6, mac) == XDP_TX && !memcmp(mac, mac_of(node_b), 6), "%s",
	      nm(n, "B (IPv6, only in the old LRU): to %s", addr_of(node_b)));
	r = flow_get(&kb, &got);
	CHECK(!r && got.node_id == node_b && got.vip_id == vip6 &&
		      got.flags == EBB_FLOW_FIN,
	      "%s", nm(n, "... B adopted into flows6, its FIN flag kept (flags %u)", got.flags));
	ebb_counters_sum(e.vip_stats_fd, vip1, &after);
	ASSERT_EQ(after.second_chance - before.second_chance, 0,
		  nm(n, "no second chance while both tables are read"));
	ASSERT_EQ(after.new_flows - before.new_flows, 0, nm(n, "no flow placed anew"));

	/* the migration done: the slot emptied, the flag cleared; D is in the old LRU only */
	bpf_map_delete_elem(outer, &zero);
	CHECK(balancer_run(&d4, mac) == XDP_TX && memcmp(mac, mac_of(node_d), 6), "%s",
	      nm(n, "flag still set, slot empty: D's ACK by the second chance"));
	flow_del(&kd);
	set_migrating(false);
	CHECK(balancer_run(&d4, mac) == XDP_TX && memcmp(mac, mac_of(node_d), 6), "%s",
	      nm(n, "after the migration: D's ACK by the second chance"));
out:
	bpf_map_delete_elem(outer, &zero);
	set_migrating(false);
	for (const struct ebb_flow_key *k = &ka; k; k = k == &ka ? &kb : k == &kb ? &kc : k == &kc ? &kd : k == &kd ? &kf : NULL)
		flow_del(k);
	close(old_fd);
}

/* What the datapath writes to syn_recent: the header its first question starts, a record of
 * the way each SYN pins, cleared by the flow's ACK; and the cell's rules alone. */
static void syn_recent_case(void)
{
	static const struct pkt_desc syn = { .family = 4, .src = CLI_RE, .dst = VIP1,
					     .proto = IPPROTO_TCP, .sport = 5111, .dport = 80,
					     .flags = TH_SYN };
	union ebb_syn_cell since = {};
	__u32 zero = 0, bucket = 0, way = 0, q, fp;
	struct ebb_flow_key k;
	__u64 t0 = ebb_now_ns(), word;
	__u32 verdict;

	/* the cell's rules alone, across the stamp's wrap */
	{
		static const __u32 units[] = { 0, 1, 31, 32, 33, 95, 96, 126, 127 };
		int wrong = 0;

		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			__u32 u = units[i], L = EBB_SYN_LIVE_UNITS;
			__u64 w = ebb_syn_cell_with(0, 5, 3, 9, u);

			/* live through L units, dead after; only its bucket and its 5 bits of
			 * fingerprint ask */
			wrong += !ebb_syn_cell_asks(w, 5, 9, u) + !ebb_syn_cell_asks(w, 5, 9, u + L);
			wrong += ebb_syn_cell_asks(w, 5, 9, u + L + 1) + ebb_syn_cell_asks(w, 6, 9, u);
			wrong += ebb_syn_cell_asks(w, 5, 10, u) + !ebb_syn_cell_asks(w, 5, 9 + 32, u);
			/* stamped again, not twice; the way taken by another flow: its record
			 * replaced; another way of the bucket takes a record of its own; cleared by
			 * its own way only */
			wrong += ebb_syn_cell_with(w, 5, 3, 9, u + 1) != ebb_syn_rec(5, 3, 9, u + 1);
			wrong += ebb_syn_cell_with(w, 5, 3, 12, u) != ebb_syn_rec(5, 3, 12, u);
			w = ebb_syn_cell_with(w, 5, 4, 9, u);
			wrong += w != ((__u64)ebb_syn_rec(5, 4, 9, u) << EBB_SYN_LANE_BITS |
				       ebb_syn_rec(5, 3, 9, u));
			w = ebb_syn_cell_without(w, 5, 3);
			wrong += !ebb_syn_cell_asks(w, 5, 9, u) ||
				 w != (__u64)ebb_syn_rec(5, 4, 9, u) << EBB_SYN_LANE_BITS;
			w = ebb_syn_cell_without(w, 5, 4);
			wrong += w != 0;
			/* a dead record is free, and cleared by the next write */
			w = ebb_syn_cell_with(0, 7, 1, 2, u);
			w = ebb_syn_cell_with(w, 8, 1, 2, u + L + 1);
			wrong += w != ebb_syn_rec(8, 1, 2, u + L + 1);
			/* three live records, then a fourth: the oldest becomes the overflow mark,
			 * stamped now, and every bucket of the cell asks until it dies */
			w = 0;
			for (__u32 j = 0; j < 3; j++)
				w = ebb_syn_cell_with(w, j, 0, j, u + j);
			for (__u32 j = 0; j < 3; j++) /* the ACK's test, lane by lane */
				wrong += !ebb_syn_cell_has_way(w, j, 0) + ebb_syn_cell_has_way(w, j, 1) +
					 ebb_syn_cell_has_way(w, j + 4, 0);
			w = ebb_syn_cell_with(w, 9, 2, 9, u + 3);
			wrong += ebb_syn_cell_has_way(w, 0, 0) + !ebb_syn_cell_has_way(w, 2, 0);
			for (__u32 j = 0; j < 3; j++)
				wrong += !ebb_syn_cell_asks(w, j, 30, u + 3);
			wrong += !ebb_syn_cell_asks(w, 9, 9, u + 3) + !ebb_syn_cell_asks(w, 20, 0, u + 3 + L);
			wrong += ebb_syn_lane(w, 0) != ebb_syn_rec(EBB_SYN_Q_OVERFLOW, 0, 0, u + 3);
			wrong += ebb_syn_cell_asks(w, 20, 0, u + 3 + L + 1);
			/* the mark is stamped again by the next pin while the cell is full */
			w = ebb_syn_cell_with(w, 10, 2, 0, u + 5);
			wrong += ebb_syn_lane(w, 0) != ebb_syn_rec(EBB_SYN_Q_OVERFLOW, 0, 0, u + 5);
			wrong += ebb_syn_cell_asks(w, 20, 0, u + 5 + L + 1);
		}
		ASSERT_EQ(wrong, 0, "recent: records live a window, per way and bits; the overflow mark, across the wrap");
	}

	/* unset, then a question (the reuse flow's SYN in its marked slot) */
	hook_recent_unset();
	verdict = balancer_run(&(struct pkt_desc){ REUSE_FLOW, .flags = TH_SYN }, NULL);
	ASSERT_EQ(verdict, XDP_TX, "recent: a SYN asks with the header unset");
	ASSERT_OK(bpf_map_lookup_elem(e.syn_recent_fd, &zero, &since), "recent: read the header");
	CHECK((since.word & EBB_SYN_SINCE_VALID) &&
	      (since.word & ~EBB_SYN_SINCE_VALID) + 2 * EBB_SEEN_TICK_NS >= t0 &&
	      (since.word & ~EBB_SYN_SINCE_VALID) <= ebb_now_ns() + 2 * EBB_SEEN_TICK_NS,
	      "recent: the first question started the header at its time (%#llx)",
	      (unsigned long long)since.word);

	/* a SYN of a new flow is pinned, and its way recorded in its bucket's cell */
	key_of(&syn, &k);
	flow_del(&k);
	{
		struct ebb_ft_where w = ebb_ft_where_key(&k, ft_nbuckets);

		syn_cell_set("recent", w.b[0], 0);
		syn_cell_set("recent", w.b[1], 0);
	}
	verdict = balancer_run(&syn, NULL);
	ASSERT_EQ(verdict, XDP_TX, "recent: a new flow's SYN is placed");
	if (!ASSERT_TRUE(flow_way4(&k, &bucket, &way), "recent: the SYN pinned its flow"))
		return;
	q = ebb_syn_q_of(bucket);
	fp = ebb_ft_where_key(&k, ft_nbuckets).fp;
	word = syn_cell_word(bucket);
	CHECK(ebb_syn_cell_asks(word, q, fp, ebb_syn_unit(ebb_now_ns())) &&
	      (word == ebb_syn_rec(q, way, fp, ebb_syn_unit(ebb_now_ns())) ||
	       word == ebb_syn_rec(q, way, fp, ebb_syn_unit(ebb_now_ns()) - 1)),
	      "recent: the pin's way (bucket %u, way %u) is recorded, stamped now (cell %#llx)",
	      bucket, way, (unsigned long long)word);
	/* a retry (its SYN again) is no ACK: the record stays */
	balancer_run(&syn, NULL);
	ASSERT_EQ(syn_cell_word(bucket), word, "recent: the SYN again changes no record");
	/* its ACK completes the handshake: the record is cleared */
	verdict = balancer_run(&(struct pkt_desc){ .family = 4, .src = CLI_RE, .dst = VIP1,
					      .proto = IPPROTO_TCP, .sport = 5111, .dport = 80,
					      .flags = TH_ACK }, NULL);
	ASSERT_EQ(verdict, XDP_TX, "recent: its ACK is forwarded");
	ASSERT_EQ(syn_cell_word(bucket), 0, "recent: its ACK cleared the way's record");
	/* an ACK of a flow whose way has no record writes nothing */
	syn_cell_set("recent", bucket, ebb_syn_rec(q, (way + 1) & 7, fp, ebb_syn_unit(ebb_now_ns())));
	word = syn_cell_word(bucket);
	balancer_run(&(struct pkt_desc){ .family = 4, .src = CLI_RE, .dst = VIP1,
				       .proto = IPPROTO_TCP, .sport = 5111, .dport = 80,
				       .flags = TH_ACK }, NULL);
	ASSERT_EQ(syn_cell_word(bucket), word, "recent: an ACK leaves another way's record");
	syn_cell_set("recent", bucket, 0);
	flow_del(&k);
	syn_recent_since("recent: done", SR_UNSET);
}

int main(void)
{
	if (!suite_start("datapath"))
		return 0;
	/* ebbctl stats prints every reason by this name: a new reason must come with one. */
	for (__u32 r = 0; r < EBB_R_MAX; r++)
		CHECK(strcmp(ebb_reason_name(r), "?") != 0, "reason %u has a name (%s)", r,
		      ebb_reason_name(r));
	if (setup()) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			run_case(&cases[i]);
		ring_changes_cases();
		truncation_cases();
		monitor_cases();
		table_btf_case();
		table_twin_case();
		small_table_cases();
		migrating_case();
		syn_recent_case();
	}
	balancer_teardown();
	return test_summary("datapath");
}
