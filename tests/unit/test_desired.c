// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The desired state's one validation (user/libebb_desired.h, user/lib/desired.c):
 *  - records alone (a VIP with its options, a node on a VIP, the settings), valid and invalid,
 *    each refusal in its exact words;
 *  - each write against what a store holds (struct ebb_desired_have), as the fleet's writer
 *    asks etcd's state and ops.c asks the maps;
 *  - the pinned-maps store (libebb's writes on the real balancer's maps, loaded unpinned): the
 *    same refusals in the same words, and every configuration map byte for byte as it was
 *    after each refused write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "ebb.h"
#include "libebb.h"
#include "libebb_desired.h"
#include "packets.h"
#include "test.h"
#define FIXTURE_BALANCER
#include "fixture.h"

static struct ebb_vip_key vk(const char *s)
{
	struct ebb_vip_key k;

	if (ebb_parse_vip(s, &k, NULL))
		abort(); /* a typo in a table */
	return k;
}

static struct ebb_addr ad(const char *s)
{
	struct ebb_addr a;

	if (ebb_parse_addr(s, &a, NULL))
		abort();
	return a;
}

static __be32 a4(const char *s)
{
	return ad(s).a[0];
}

/* err.msg is want (NULL: the check passed) */
static void check_said(const char *what, int ret, const struct ebb_err *err, const char *want)
{
	if (!want) {
		if (!ASSERT_OK(ret, nm(what, "accepted")))
			printf("#   refused: %s\n", err->msg);
		return;
	}
	if (ASSERT_EQ(ret, -EINVAL, nm(what, "refused")) &&
	    !CHECK(!strcmp(err->msg, want), "%s: says \"%s\"", what, want))
		printf("#   said: %s\n", err->msg);
}

/* ---- records alone ---- */

static void test_vip_records(void)
{
	static const struct {
		const char *name, *vip;
		struct ebb_vip_opts o;
		const char *src4, *src6, *want;
	} t[] = {
		{ "dsr, defaults", "203.0.113.10:80/tcp", {}, NULL, NULL, NULL },
		{ "ipip with both sources", "203.0.113.10:80/tcp", { .fwd = EBB_FWD_IPIP }, "192.0.2.1", "2001:db8::1", NULL },
		{ "every timeout at its bounds", "[2001:db8::10]:443/udp",
		  { .tcp_idle_s = 1, .udp_idle_s = EBB_MAX_TIMEOUT_S, .fin_s = 1, .drain_timeout_s = EBB_MAX_TIMEOUT_S },
		  NULL, NULL, NULL },
		{ "table-size 251", "203.0.113.10:0/udp", { .table_size = 251 }, NULL, NULL, NULL },
		{ "multicast VIP", "224.0.0.1:80/tcp", {}, NULL, NULL,
		  "VIP address 224.0.0.1 is a multicast address: it must be a unicast address" },
		{ "loopback VIP6", "[::1]:80/tcp", {}, NULL, NULL,
		  "VIP address ::1 is the loopback address: it must be a unicast address" },
		{ "IPv4-mapped VIP6", "[::ffff:203.0.113.10]:80/tcp", {}, NULL, NULL,
		  "VIP address ::ffff:203.0.113.10 is an IPv4-mapped IPv6 address (give the IPv4 address itself): it must be a unicast address" },
		{ "broadcast encap-src", "203.0.113.10:80/tcp", { .fwd = EBB_FWD_IPIP }, "255.255.255.255", NULL,
		  "encap-src 255.255.255.255 is the broadcast address: it must be a unicast address" },
		{ "the VIP's own address as encap-src", "203.0.113.10:80/tcp", { .fwd = EBB_FWD_IPIP }, "203.0.113.10", NULL,
		  "encap-src 203.0.113.10 is a VIP address: the outer source must be this host's own address" },
		{ "the VIP6's own address as encap-src", "[2001:db8::10]:80/tcp", {}, NULL, "2001:db8::10",
		  "encap-src 2001:db8::10 is a VIP address: the outer source must be this host's own address" },
		{ "unknown forwarding mode", "203.0.113.10:80/tcp", { .fwd = 7 }, NULL, NULL,
		  "unknown forwarding mode 7: dsr or ipip" },
		{ "tcp-idle past a week", "203.0.113.10:80/tcp", { .tcp_idle_s = EBB_MAX_TIMEOUT_S + 1 }, NULL, NULL,
		  "tcp-idle must be 1..604800 seconds, not 604801" },
		{ "drain-timeout past a week", "203.0.113.10:80/tcp", { .drain_timeout_s = ~0u }, NULL, NULL,
		  "drain-timeout must be 1..604800 seconds, not 4294967295" },
		{ "table-size 250", "203.0.113.10:80/tcp", { .table_size = 250 }, NULL, NULL,
		  "table-size must be one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65537 (a prime >= 100 x the VIP's nodes), not 250" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ebb_desired_vip v = { .key = vk(t[i].vip), .o = t[i].o };
		struct ebb_err err = {};

		if (t[i].src4)
			v.o.encap_src4 = a4(t[i].src4);
		if (t[i].src6)
			memcpy(v.o.encap_src6, ad(t[i].src6).a, 16);
		check_said(nm("vip record", "%s", t[i].name), ebb_desired_vip_check(&v, &err), &err, t[i].want);
	}
}

static void test_node_records(void)
{
	static const struct {
		const char *name, *addr;
		__u32 weight;
		__u8 state;
		__u32 drain_timeout_s;
		const char *want;
	} t[] = {
		{ "active, default weight", "198.51.100.11", 0, EBB_NODE_ACTIVE, 0, NULL },
		{ "draining, its own timeout", "2001:db8::11", 1, EBB_NODE_DRAINING, 30, NULL },
		{ "down, the largest weight", "198.51.100.11", EBB_MAX_WEIGHT, EBB_NODE_DOWN, 0, NULL },
		{ "inactive", "198.51.100.11", 5, EBB_NODE_INACTIVE, 0, NULL },
		{ "unspecified address", "0.0.0.0", 0, EBB_NODE_ACTIVE, 0,
		  "node 0.0.0.0 is an unspecified (0.0.0.0/8) address: it must be a unicast address" },
		{ "multicast address", "ff02::1", 0, EBB_NODE_ACTIVE, 0,
		  "node ff02::1 is a multicast address: it must be a unicast address" },
		{ "weight past the largest", "198.51.100.11", EBB_MAX_WEIGHT + 1, EBB_NODE_ACTIVE, 0,
		  "weight must be 1..1000, not 1001" },
		{ "unused is no state", "198.51.100.11", 0, EBB_NODE_UNUSED, 0,
		  "node state 0 is not active, draining, inactive or down" },
		{ "no such state", "198.51.100.11", 0, 9, 0, "node state 9 is not active, draining, inactive or down" },
		{ "drain-timeout past a week", "198.51.100.11", 0, EBB_NODE_DRAINING, EBB_MAX_TIMEOUT_S + 1,
		  "drain-timeout must be 1..604800 seconds, not 604801" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ebb_desired_node n = { .addr = ad(t[i].addr), .vip = vk("203.0.113.10:80/tcp"),
					      .weight = t[i].weight, .state = t[i].state,
					      .drain_timeout_s = t[i].drain_timeout_s };
		struct ebb_err err = {};

		check_said(nm("node record", "%s", t[i].name), ebb_desired_node_check(&n, &err), &err, t[i].want);
	}
}

static void test_settings_records(void)
{
	static const struct {
		const char *name;
		struct ebb_desired_settings s;
		const char *want;
	} t[] = {
		{ "all off", {}, NULL },
		{ "every one at its bound", { .flood_rate = EBB_RATE_MAX, .mtu = 1320, .rescue_rate = EBB_RATE_MAX }, NULL },
		{ "mtu 65535", { .mtu = 65535 }, NULL },
		{ "mtu below IPv6's tunnel minimum", { .mtu = 1319 }, "mtu must be 0 (off) or 1320..65535, not 1319" },
		{ "mtu past 65535", { .mtu = 65536 }, "mtu must be 0 (off) or 1320..65535, not 65536" },
		{ "flood-rate past the largest", { .flood_rate = EBB_RATE_MAX + 1 },
		  "flood-rate must be 0..100000000, not 100000001" },
		{ "rescue-rate past the largest", { .rescue_rate = ~0u }, "rescue-rate must be 0..100000000, not 4294967295" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ebb_err err = {};

		check_said(nm("settings record", "%s", t[i].name), ebb_desired_settings_check(&t[i].s, &err), &err,
			   t[i].want);
	}
}

/* ---- writes against what a store holds ---- */

#define VIP "203.0.113.10:80/tcp"
#define NODE "198.51.100.11"

static void test_writes(void)
{
	static const struct ebb_desired_have none = {};
	static const struct ebb_desired_have vip_only = { .vip = true, .n_vips = 1 };
	struct ebb_desired_have node_active = { .vip = true, .node = true, .n_vips = 1, .n_nodes = 1,
						.node_is = { .state = EBB_NODE_ACTIVE, .have_mac = true,
							     .mac = { 2, 0, 0, 0, 0, 0x0a } } };
	struct ebb_desired_have node_inactive = node_active, serving = node_active;
	struct ebb_desired_vip v = { .key = vk(VIP) };
	struct ebb_desired_node n = { .addr = ad(NODE), .vip = vk(VIP), .state = EBB_NODE_ACTIVE,
				      .have_mac = true, .mac = { 2, 0, 0, 0, 0, 0x0a } };
	struct ebb_addr a = ad(NODE);
	struct ebb_vip_key k = vk(VIP);
	struct ebb_err err = {};

	node_inactive.node_is.state = EBB_NODE_INACTIVE;
	serving.serves = true;
	serving.node_vips = 1;
	serving.n_members = 1;

	check_said("vip add: a new VIP", ebb_desired_vip_add_check(&v, &none, &err), &err, NULL);
	check_said("vip add: it exists", ebb_desired_vip_add_check(&v, &vip_only, &err), &err,
		   "VIP 203.0.113.10:80/tcp already exists");
	check_said("vip add: a node's address",
		   ebb_desired_vip_add_check(&v, &(struct ebb_desired_have){ .addr_is_node = true }, &err), &err,
		   "203.0.113.10 is a node's address: a VIP cannot be one of its own backends");
	check_said("vip add: every VIP in use",
		   ebb_desired_vip_add_check(&v, &(struct ebb_desired_have){ .n_vips = EBB_MAX_VIPS }, &err), &err,
		   "no room for VIP 203.0.113.10:80/tcp: ebb holds at most 1024 VIPs and all are in use (delete one first)");
	{
		struct ebb_desired_vip s = v;

		s.o.encap_src4 = a4("203.0.113.20");
		check_said("vip add: another VIP's address as encap-src",
			   ebb_desired_vip_add_check(&s, &(struct ebb_desired_have){ .src4_is_vip = true }, &err), &err,
			   "encap-src 203.0.113.20 is a VIP address: the outer source must be this host's own address");
	}
	{
		struct ebb_desired_have local = { .local_dev = "v0" };
		struct ebb_desired_vip s = v;

		/* a device's own address filled in as the outer source: the address is what is wrong */
		s.o.encap_src4 = s.key.addr[0];
		check_said("vip add: this host's own address, its own encap-src too",
			   ebb_desired_vip_add_check(&s, &local, &err), &err,
			   "203.0.113.10 is this host's own address (dev v0): it cannot be a VIP (ebb would take the traffic to this port from the host's own services)");
		check_said("node add: this host's own address", ebb_desired_node_add_check(&n, &local, &err), &err,
			   "198.51.100.11 is this host's own address (dev v0): it cannot be a node (ebb would send the VIP's packets back to the balancer)");
	}
	check_said("vip add: a bad record is refused as a record",
		   ebb_desired_vip_add_check(&(struct ebb_desired_vip){ .key = vk("127.0.0.1:80/tcp") }, &none, &err),
		   &err, "VIP address 127.0.0.1 is a loopback address: it must be a unicast address");
	check_said("vip del: no such VIP", ebb_desired_vip_del_check(&k, &none, &err), &err,
		   "no VIP 203.0.113.10:80/tcp");
	check_said("vip del: it exists", ebb_desired_vip_del_check(&k, &vip_only, &err), &err, NULL);
	check_said("vip set: no such VIP",
		   ebb_desired_vip_set_check(&k, &(struct ebb_vip_opts){ .fin_s = 5 }, &none, &err), &err,
		   "no VIP 203.0.113.10:80/tcp");
	check_said("vip set: fin-timeout past a week",
		   ebb_desired_vip_set_check(&k, &(struct ebb_vip_opts){ .fin_s = EBB_MAX_TIMEOUT_S + 1 }, &vip_only,
					     &err),
		   &err, "fin-timeout must be 1..604800 seconds, not 604801");

	check_said("node add: a new node", ebb_desired_node_add_check(&n, &vip_only, &err), &err, NULL);
	check_said("node add: on a second VIP", ebb_desired_node_add_check(&n, &node_active, &err), &err, NULL);
	check_said("node add: no such VIP", ebb_desired_node_add_check(&n, &none, &err), &err,
		   "no VIP 203.0.113.10:80/tcp");
	check_said("node add: a VIP's address",
		   ebb_desired_node_add_check(&n, &(struct ebb_desired_have){ .vip = true, .addr_is_vip = true }, &err),
		   &err, "198.51.100.11 is a VIP address: a node cannot be a VIP of this balancer");
	check_said("node add: already serves", ebb_desired_node_add_check(&n, &serving, &err), &err,
		   "node 198.51.100.11 already serves VIP 203.0.113.10:80/tcp");
	{
		struct ebb_desired_node m = n;

		m.state = EBB_NODE_INACTIVE;
		check_said("node add: inactive, an existing node", ebb_desired_node_add_check(&m, &node_active, &err),
			   &err, "node 198.51.100.11 exists (active); 'inactive' is for new nodes");
		m = n;
		m.node_prog = true;
		check_said("node add: node-prog, an existing node without", ebb_desired_node_add_check(&m, &node_active, &err),
			   &err, "node 198.51.100.11 exists without node-prog; set it with 'ebbctl node set 198.51.100.11 node-prog on'");
		m = n;
		m.mac[5] = 0x0b;
		check_said("node add: another MAC", ebb_desired_node_add_check(&m, &node_active, &err), &err,
			   "node 198.51.100.11 has MAC 02:00:00:00:00:0a, not 02:00:00:00:00:0b");
		m.have_mac = false;
		check_said("node add: no MAC given, an existing node", ebb_desired_node_add_check(&m, &node_active, &err),
			   &err, NULL);
	}
	check_said("node add: every node in use",
		   ebb_desired_node_add_check(&n, &(struct ebb_desired_have){ .vip = true, .n_nodes = EBB_MAX_NODES - 1 },
					      &err),
		   &err, "no room for node 198.51.100.11: all 4095 nodes are in use");
	check_said("node add: every pair in use",
		   ebb_desired_node_add_check(&n, &(struct ebb_desired_have){ .vip = true, .n_members = EBB_MAX_MEMBERS },
					      &err),
		   &err, "no room: 65536 (VIP, node) pairs are in use");
	check_said("node add: the node serves every VIP there is",
		   ebb_desired_node_add_check(&n, &(struct ebb_desired_have){ .vip = true, .node = true,
									       .node_is = { .state = EBB_NODE_ACTIVE },
									       .node_vips = EBB_MAX_VIPS },
					      &err),
		   &err, "node 198.51.100.11 serves 1024 VIPs already");

	check_said("node del: no such node", ebb_desired_node_del_check(&a, NULL, &none, &err), &err,
		   "no node 198.51.100.11");
	check_said("node del: from every VIP", ebb_desired_node_del_check(&a, NULL, &node_active, &err), &err, NULL);
	check_said("node del: a VIP it does not serve", ebb_desired_node_del_check(&a, &k, &node_active, &err), &err,
		   "node 198.51.100.11 does not serve VIP 203.0.113.10:80/tcp");
	check_said("node del: no such VIP",
		   ebb_desired_node_del_check(&a, &k, &(struct ebb_desired_have){ .node = true }, &err), &err,
		   "no VIP 203.0.113.10:80/tcp");
	check_said("node del: a VIP it serves", ebb_desired_node_del_check(&a, &k, &serving, &err), &err, NULL);

	check_said("node drain: an active node", ebb_desired_node_state_check(&a, EBB_NODE_DRAINING, &node_active, &err),
		   &err, NULL);
	check_said("node drain: an inactive node",
		   ebb_desired_node_state_check(&a, EBB_NODE_DRAINING, &node_inactive, &err), &err,
		   "node 198.51.100.11 is inactive: it has nothing to drain");
	check_said("node activate: an inactive node",
		   ebb_desired_node_state_check(&a, EBB_NODE_ACTIVE, &node_inactive, &err), &err, NULL);
	check_said("node activate: no such node", ebb_desired_node_state_check(&a, EBB_NODE_ACTIVE, &none, &err), &err,
		   "no node 198.51.100.11");
	check_said("node set node-prog: no such node", ebb_desired_node_flags_check(&a, &none, &err), &err,
		   "no node 198.51.100.11");

	check_said("node set weight: on a VIP it serves", ebb_desired_node_weight_check(&a, &k, 7, &serving, &err), &err,
		   NULL);
	check_said("node set weight: 0", ebb_desired_node_weight_check(&a, &k, 0, &serving, &err), &err,
		   "weight must be 1..1000, not 0");
	check_said("node set weight: a VIP it does not serve",
		   ebb_desired_node_weight_check(&a, &k, 7, &node_active, &err), &err,
		   "node 198.51.100.11 does not serve VIP 203.0.113.10:80/tcp");
}

/* ---- the writes a fleet host makes in place: a VIP's values, a node's MAC, its state's times ---- */

static void test_writes_in_place(void)
{
	static const struct ebb_desired_have none = {};
	static const struct ebb_desired_have vip_only = { .vip = true, .n_vips = 1 };
	static const __u8 mac_ok[6] = { 2, 0, 0, 0, 0, 0x0b }, mac_zero[6] = {},
			  mac_group[6] = { 1, 0, 0x5e, 0, 0, 1 };
	struct ebb_desired_have node = { .node = true, .node_is = { .state = EBB_NODE_ACTIVE } };
	struct ebb_desired_vip was = { .key = vk(VIP), .o = { .fwd = EBB_FWD_IPIP, .tcp_idle_s = 300, .udp_idle_s = 30,
							       .fin_s = 10, .drain_timeout_s = 60,
							       .encap_src4 = a4("192.0.2.1") } };
	struct ebb_desired_vip v = was;
	struct ebb_addr a = ad(NODE);
	struct ebb_err err = {};
	__u64 now = 5000000000ULL;

	v.o.tcp_idle_s = 30;
	v.o.encap_src4 = a4("192.0.2.2");
	check_said("vip replace: timeouts and an outer source", ebb_desired_vip_replace_check(&v, &was, &vip_only, &err),
		   &err, NULL);
	check_said("vip replace: no such VIP", ebb_desired_vip_replace_check(&v, &was, &none, &err), &err,
		   "no VIP 203.0.113.10:80/tcp");
	v.o.tcp_idle_s = EBB_MAX_TIMEOUT_S + 1;
	check_said("vip replace: tcp-idle past a week", ebb_desired_vip_replace_check(&v, &was, &vip_only, &err), &err,
		   "tcp-idle must be 1..604800 seconds, not 604801");
	v = was;
	v.o.encap_src4 = a4("203.0.113.20");
	check_said("vip replace: another VIP's address as encap-src",
		   ebb_desired_vip_replace_check(&v, &was, &(struct ebb_desired_have){ .vip = true, .src4_is_vip = true },
						 &err),
		   &err, "encap-src 203.0.113.20 is a VIP address: the outer source must be this host's own address");
	v.o.encap_src4 = v.key.addr[0];
	check_said("vip replace: the VIP's own address as encap-src",
		   ebb_desired_vip_replace_check(&v, &was, &vip_only, &err), &err,
		   "encap-src 203.0.113.10 is a VIP address: the outer source must be this host's own address");
	v.o.encap_src4 = a4("224.0.0.5");
	check_said("vip replace: a multicast encap-src", ebb_desired_vip_replace_check(&v, &was, &vip_only, &err), &err,
		   "encap-src 224.0.0.5 is a multicast address: it must be a unicast address");
	v = was;
	check_said("vip replace: an outer source kept, a VIP's address since",
		   ebb_desired_vip_replace_check(&v, &was, &(struct ebb_desired_have){ .vip = true, .src4_is_vip = true },
						 &err),
		   &err, NULL);
	v.o.fwd = EBB_FWD_DSR;
	check_said("vip replace: another forwarding mode", ebb_desired_vip_replace_check(&v, &was, &vip_only, &err), &err,
		   "VIP 203.0.113.10:80/tcp: its forwarding mode and table size change only when it is made again");
	v = was;
	v.o.table_size = 509;
	check_said("vip replace: another table size", ebb_desired_vip_replace_check(&v, &was, &vip_only, &err), &err,
		   "VIP 203.0.113.10:80/tcp: its forwarding mode and table size change only when it is made again");

	check_said("mac: a unicast MAC", ebb_desired_mac_check(mac_ok, &err), &err, NULL);
	check_said("mac: zero", ebb_desired_mac_check(mac_zero, &err), &err,
		   "MAC 00:00:00:00:00:00 is zero or multicast: a node's MAC must be a unicast one");
	check_said("node set mac: a multicast MAC", ebb_desired_node_mac_check(&a, mac_group, &node, &err), &err,
		   "MAC 01:00:5e:00:00:01 is zero or multicast: a node's MAC must be a unicast one");
	check_said("node set mac: no such node", ebb_desired_node_mac_check(&a, mac_ok, &none, &err), &err,
		   "no node 198.51.100.11");
	check_said("node set mac: a unicast MAC", ebb_desired_node_mac_check(&a, mac_ok, &node, &err), &err, NULL);
	{
		struct ebb_desired_node n = { .addr = a, .vip = vk(VIP), .state = EBB_NODE_ACTIVE, .have_mac = true };

		memcpy(n.mac, mac_group, 6);
		check_said("node record: a multicast MAC", ebb_desired_node_check(&n, &err), &err,
			   "MAC 01:00:5e:00:00:01 is zero or multicast: a node's MAC must be a unicast one");
	}

	check_said("node state at: a drain that began earlier",
		   ebb_desired_node_state_at_check(&a, EBB_NODE_DRAINING, now - 1, 0, now, &node, &err), &err, NULL);
	check_said("node state at: a start now", ebb_desired_node_state_at_check(&a, EBB_NODE_DRAINING, now, 0, now, &node, &err),
		   &err, NULL);
	check_said("node state at: a start in the future",
		   ebb_desired_node_state_at_check(&a, EBB_NODE_DRAINING, now + 1, 0, now, &node, &err), &err,
		   "node 198.51.100.11: its state cannot begin later than now, on this host's clock");
	check_said("node state at: no such state", ebb_desired_node_state_at_check(&a, 9, 0, 0, now, &node, &err), &err,
		   "node state 9 is not active, draining, inactive or down");
	check_said("node state at: unused is no state",
		   ebb_desired_node_state_at_check(&a, EBB_NODE_UNUSED, 0, 0, now, &node, &err), &err,
		   "node state 0 is not active, draining, inactive or down");
	check_said("node state at: down, back to draining",
		   ebb_desired_node_state_at_check(&a, EBB_NODE_DOWN, 0, EBB_NODE_DRAINING, now, &node, &err), &err, NULL);
	check_said("node state at: down, back to down",
		   ebb_desired_node_state_at_check(&a, EBB_NODE_DOWN, 0, EBB_NODE_DOWN, now, &node, &err), &err,
		   "before-down state 4 is not active, draining or inactive");
	check_said("node state at: a before-down for an active node",
		   ebb_desired_node_state_at_check(&a, EBB_NODE_ACTIVE, 0, EBB_NODE_ACTIVE, now, &node, &err), &err,
		   "node 198.51.100.11 is not down (active): before-down is where a down node returns to");
	check_said("node state at: no such node",
		   ebb_desired_node_state_at_check(&a, EBB_NODE_ACTIVE, 0, 0, now, &none, &err), &err,
		   "no node 198.51.100.11");
}

/* ---- the diff: desired VIPs against a store's ---- */

static struct ebb_desired_vip dv(const char *key, __u8 fwd, __u32 tcp_idle_s, __u32 table_size,
				 const char *src4)
{
	struct ebb_desired_vip v = { .key = vk(key),
				     .o = { .fwd = fwd, .tcp_idle_s = tcp_idle_s, .udp_idle_s = 300, .fin_s = 10,
					    .drain_timeout_s = 300, .table_size = table_size } };

	if (src4)
		v.o.encap_src4 = a4(src4);
	return v;
}

static void test_diff(void)
{
	const struct ebb_desired_vip cur[] = {
		dv("203.0.113.1:80/tcp", EBB_FWD_DSR, 900, 65537, NULL), /* A: as wanted */
		dv("203.0.113.2:80/tcp", EBB_FWD_DSR, 900, 65537, NULL), /* B: tcp-idle changes */
		dv("203.0.113.3:80/tcp", EBB_FWD_IPIP, 900, 65537, "192.0.2.1"), /* C: to dsr */
		dv("203.0.113.4:80/tcp", EBB_FWD_DSR, 900, 251, NULL), /* D: not wanted */
		dv("203.0.113.6:80/tcp", EBB_FWD_DSR, 900, 65537, NULL), /* F: table size changes */
		dv("203.0.113.7:80/tcp", EBB_FWD_IPIP, 900, 2039, "192.0.2.1"), /* G: source changes */
	};
	const struct ebb_desired_vip want[] = {
		dv("203.0.113.7:80/tcp", EBB_FWD_IPIP, 900, 2039, "192.0.2.2"),
		dv("203.0.113.1:80/tcp", EBB_FWD_DSR, 900, 0, NULL), /* 0: the default size */
		dv("203.0.113.5:80/tcp", EBB_FWD_DSR, 900, 0, NULL), /* E: new */
		dv("203.0.113.2:80/tcp", EBB_FWD_DSR, 60, 65537, NULL),
		dv("203.0.113.3:80/tcp", EBB_FWD_DSR, 900, 65537, "192.0.2.1"),
		dv("203.0.113.6:80/tcp", EBB_FWD_DSR, 900, 251, NULL),
	};
	static const struct {
		enum ebb_desired_op op;
		const char *vip;
	} expect[] = {
		{ EBB_DESIRED_VIP_DEL, "203.0.113.4:80/tcp" }, { EBB_DESIRED_VIP_SET, "203.0.113.7:80/tcp" },
		{ EBB_DESIRED_VIP_ADD, "203.0.113.5:80/tcp" }, { EBB_DESIRED_VIP_SET, "203.0.113.2:80/tcp" },
		{ EBB_DESIRED_VIP_REMAKE, "203.0.113.3:80/tcp" }, { EBB_DESIRED_VIP_REMAKE, "203.0.113.6:80/tcp" },
	};
	struct ebb_desired_change out[12];
	size_t n = ebb_desired_vips_diff(want, 6, cur, 6, out);

	if (!ASSERT_EQ(n, 6, "diff: six changes"))
		return;
	for (size_t i = 0; i < n; i++) {
		struct ebb_vip_key k = vk(expect[i].vip);

		ASSERT_EQ(out[i].op, expect[i].op, nm("diff", "change %zu is %s's, of the right kind", i, expect[i].vip));
		ASSERT_MEM_EQ(&out[i].vip.key, &k, sizeof(k), nm("diff", "change %zu names %s", i, expect[i].vip));
	}
	ASSERT_EQ(out[1].vip.o.encap_src4, a4("192.0.2.2"), "diff: a set carries the wanted source");
	ASSERT_EQ(out[3].vip.o.tcp_idle_s, 60, "diff: a set carries the wanted timeout");
	ASSERT_EQ(ebb_desired_vips_diff(cur, 6, cur, 6, out), 0, "diff: a store as wanted: no change");
	ASSERT_EQ(ebb_desired_vips_diff(NULL, 0, cur, 6, out), 6, "diff: nothing wanted: every VIP deleted");
	ASSERT_EQ(out[5].op, EBB_DESIRED_VIP_DEL, "diff: ... each a delete");
	ASSERT_EQ(ebb_desired_vips_diff(want, 6, NULL, 0, out), 6, "diff: an empty store: every VIP added");
	ASSERT_EQ(out[0].op, EBB_DESIRED_VIP_ADD, "diff: ... each an add");
}

/* ---- the diff: desired nodes and memberships against a store's ---- */

#define MEMBERS_MAX 8

/* A node on a VIP (vip NULL: on none), MAC 02:00:00:00:00:LAST, drain timeout 0. */
struct dn_spec {
	const char *addr, *vip;
	__u32 weight;
	__u8 state;
	__u8 mac_last; /* 0: no MAC given */
	bool node_prog;
	__u32 drain_timeout_s;
};

static struct ebb_desired_node dn(const struct dn_spec *s)
{
	struct ebb_desired_node n = { .addr = ad(s->addr), .weight = s->weight, .state = s->state,
				      .have_mac = s->mac_last, .node_prog = s->node_prog,
				      .drain_timeout_s = s->drain_timeout_s,
				      .mac = { 2, 0, 0, 0, 0, s->mac_last } };

	if (s->vip)
		n.vip = vk(s->vip);
	return n;
}

struct member_op_spec {
	enum ebb_desired_member_op op;
	const char *addr, *vip; /* vip NULL: a node-wide change */
};

static const char *member_op_name(enum ebb_desired_member_op op)
{
	static const char *const names[] = { "node del", "member del", "node mac", "member add",
					     "member weight", "node flags", "node state" };

	return op <= EBB_DESIRED_NODE_STATE ? names[op] : "?";
}

#define A "198.51.100.21"
#define B "198.51.100.22"
#define C "198.51.100.23"
#define V1 "203.0.113.31:80/tcp"
#define V2 "203.0.113.32:80/tcp"
#define ACT EBB_NODE_ACTIVE
#define DRN EBB_NODE_DRAINING
#define INA EBB_NODE_INACTIVE
#define DWN EBB_NODE_DOWN
#define N(addr, vip, weight, state, mac) { addr, vip, weight, state, mac, false, 0 }
#define NX(addr, vip, weight, state, mac, prog, drain) { addr, vip, weight, state, mac, prog, drain }
#define OP(op, addr, vip) { op, addr, vip }

static const struct members_case {
	const char *name;
	struct dn_spec cur[MEMBERS_MAX], want[MEMBERS_MAX];
	struct member_op_spec ops[MEMBERS_MAX];
} members_cases[] = {
	{ "no change: nothing to do",
	  { N(A, V1, 10, ACT, 1), N(A, V2, 20, ACT, 1), N(B, NULL, 0, INA, 2) },
	  { N(A, V1, 10, ACT, 1), N(A, V2, 20, ACT, 1), N(B, NULL, 0, INA, 2) },
	  {} },
	{ "no MAC given, weight 0 (the default): no change either",
	  { N(A, V1, EBB_DEFAULT_WEIGHT, ACT, 1) },
	  { N(A, V1, 0, ACT, 0) },
	  {} },
	{ "weight only",
	  { N(A, V1, 10, ACT, 1), N(A, V2, 20, ACT, 1) },
	  { N(A, V1, 10, ACT, 1), N(A, V2, 30, ACT, 1) },
	  { OP(EBB_DESIRED_MEMBER_WEIGHT, A, V2) } },
	{ "state only: one change for the node, not one per VIP",
	  { N(A, V1, 10, ACT, 1), N(A, V2, 20, ACT, 1) },
	  { N(A, V1, 10, DRN, 1), N(A, V2, 20, DRN, 1) },
	  { OP(EBB_DESIRED_NODE_STATE, A, NULL) } },
	{ "a drain's own timeout changes",
	  { NX(A, V1, 10, DRN, 1, false, 60) },
	  { NX(A, V1, 10, DRN, 1, false, 90) },
	  { OP(EBB_DESIRED_NODE_STATE, A, NULL) } },
	{ "a node gone: deleted once, whatever it served",
	  { N(A, V1, 10, ACT, 1), N(B, V1, 10, ACT, 2), N(B, V2, 10, ACT, 2) },
	  { N(A, V1, 10, ACT, 1) },
	  { OP(EBB_DESIRED_NODE_DEL, B, NULL) } },
	{ "a node of no VIP gone",
	  { N(B, NULL, 0, INA, 2) },
	  {},
	  { OP(EBB_DESIRED_NODE_DEL, B, NULL) } },
	{ "a VIP's members replaced: the old ones deleted first",
	  { N(A, V1, 10, ACT, 1), N(B, V1, 10, ACT, 2) },
	  { N(C, V1, 10, ACT, 3), N(B, V2, 10, ACT, 2) },
	  { OP(EBB_DESIRED_NODE_DEL, A, NULL), OP(EBB_DESIRED_MEMBER_ADD, C, V1),
	    OP(EBB_DESIRED_MEMBER_DEL, B, V1), OP(EBB_DESIRED_MEMBER_ADD, B, V2) } },
	{ "every change of one node, in the order its writes need",
	  { N(A, V1, 10, ACT, 1), N(A, V2, 10, ACT, 1) },
	  { NX(A, V2, 20, DWN, 9, true, 0), NX(A, "203.0.113.33:80/tcp", 5, DWN, 9, true, 0) },
	  { OP(EBB_DESIRED_MEMBER_DEL, A, V1), OP(EBB_DESIRED_NODE_MAC, A, NULL),
	    OP(EBB_DESIRED_MEMBER_WEIGHT, A, V2), OP(EBB_DESIRED_MEMBER_ADD, A, "203.0.113.33:80/tcp"),
	    OP(EBB_DESIRED_NODE_FLAGS, A, NULL), OP(EBB_DESIRED_NODE_STATE, A, NULL) } },
	{ "a new node wanted draining: made (inactive) first, its state after",
	  {},
	  { NX(A, V1, 10, DRN, 1, true, 30), NX(A, V2, 10, DRN, 1, true, 30) },
	  { OP(EBB_DESIRED_MEMBER_ADD, A, V1), OP(EBB_DESIRED_MEMBER_ADD, A, V2),
	    OP(EBB_DESIRED_NODE_STATE, A, NULL) } },
	{ "a new node wanted inactive or active: its add is all",
	  {},
	  { NX(A, V1, 10, INA, 1, true, 0), NX(B, V1, 10, ACT, 2, false, 30) },
	  { OP(EBB_DESIRED_MEMBER_ADD, A, V1), OP(EBB_DESIRED_MEMBER_ADD, B, V1) } },
	{ "a node's records apart: its changes together, at its first",
	  { N(A, V1, 10, ACT, 1) },
	  { N(A, V1, 10, ACT, 1), N(B, V1, 10, ACT, 2), N(A, V2, 10, ACT, 1) },
	  { OP(EBB_DESIRED_MEMBER_ADD, A, V2), OP(EBB_DESIRED_MEMBER_ADD, B, V1) } },
	{ "a node wanted on no VIP here: off its VIPs, kept, its state set",
	  { N(A, V1, 10, ACT, 1) },
	  { N(A, NULL, 0, DRN, 1) },
	  { OP(EBB_DESIRED_MEMBER_DEL, A, V1), OP(EBB_DESIRED_NODE_STATE, A, NULL) } },
	{ "a node wanted on no VIP here and not in the store: nothing makes it",
	  {},
	  { N(A, NULL, 0, DWN, 1) },
	  {} },
	{ "a node whose key failed the schema, wanted as the store has it: never deleted",
	  { N(A, V1, 10, DWN, 1), NX(B, V1, 7, DRN, 2, true, 45) },
	  { N(A, V1, 10, DWN, 1), NX(B, V1, 7, DRN, 2, true, 45) },
	  {} },
};

static size_t specs(const struct dn_spec *s, struct ebb_desired_node *out)
{
	size_t n = 0;

	for (; n < MEMBERS_MAX && s[n].addr; n++)
		out[n] = dn(&s[n]);
	return n;
}

static void test_members_diff(void)
{
	for (size_t c = 0; c < sizeof(members_cases) / sizeof(members_cases[0]); c++) {
		const struct members_case *t = &members_cases[c];
		struct ebb_desired_node cur[MEMBERS_MAX], want[MEMBERS_MAX];
		struct ebb_desired_member_change out[MEMBERS_MAX * 5];
		size_t n_cur = specs(t->cur, cur), n_want = specs(t->want, want), n_ops = 0, n;
		bool same = true;

		while (n_ops < MEMBERS_MAX && t->ops[n_ops].addr)
			n_ops++;
		n = ebb_desired_members_diff(want, n_want, cur, n_cur, out);
		for (size_t i = 0; i < n && i < n_ops && same; i++) {
			struct ebb_addr a = ad(t->ops[i].addr);
			struct ebb_vip_key k = t->ops[i].vip ? vk(t->ops[i].vip) : (struct ebb_vip_key){};

			same = out[i].op == t->ops[i].op && out[i].node.addr.family == a.family &&
			       ebb_addr_eq(out[i].node.addr.a, a.a, a.family) &&
			       (!t->ops[i].vip || !memcmp(&out[i].node.vip, &k, sizeof(k)));
		}
		if (!CHECK(n == n_ops && same, "members diff: %s", t->name))
			for (size_t i = 0; i < n; i++) {
				char an[64], vn[64] = "";

				if (out[i].node.vip.family)
					ebb_fmt_vip(&out[i].node.vip, vn, sizeof(vn));
				printf("#   got %zu: %s %s %s\n", i, member_op_name(out[i].op),
				       ebb_fmt_addr(out[i].node.addr.a, out[i].node.addr.family, an, sizeof(an)), vn);
			}
	}

	/* what the changes carry: the writes are made from them alone */
	{
		struct ebb_desired_node cur[] = { dn(&(struct dn_spec)N(A, V1, 10, ACT, 1)),
						  dn(&(struct dn_spec)N(B, V1, 10, ACT, 2)) };
		struct ebb_desired_node want[] = { dn(&(struct dn_spec)NX(A, V1, 0, DRN, 7, true, 30)),
						   dn(&(struct dn_spec)NX(C, V2, 25, INA, 3, true, 0)) };
		struct ebb_desired_member_change out[12];
		size_t n = ebb_desired_members_diff(want, 2, cur, 2, out);

		if (ASSERT_EQ(n, 6, "members diff: carried values: six changes")) {
			ASSERT_EQ(out[0].op, EBB_DESIRED_NODE_DEL, "members diff: a delete ...");
			ASSERT_EQ(out[0].node.state, ACT, "members diff: ... carries the node as the store has it");
			ASSERT_EQ(out[1].op, EBB_DESIRED_NODE_MAC, "members diff: a MAC change ...");
			ASSERT_EQ(out[1].node.mac[5], 7, "members diff: ... carries the wanted MAC");
			ASSERT_EQ(out[2].op, EBB_DESIRED_MEMBER_WEIGHT, "members diff: weight 0 ...");
			ASSERT_EQ(out[2].node.weight, EBB_DEFAULT_WEIGHT, "members diff: ... is set as the default");
			ASSERT_EQ(out[3].op, EBB_DESIRED_NODE_FLAGS, "members diff: node-prog ...");
			ASSERT_TRUE(out[3].node.node_prog, "members diff: ... carries it on");
			ASSERT_EQ(out[4].op, EBB_DESIRED_NODE_STATE, "members diff: a drain ...");
			ASSERT_EQ(out[4].node.drain_timeout_s, 30, "members diff: ... carries its own timeout");
			ASSERT_EQ(out[5].op, EBB_DESIRED_MEMBER_ADD, "members diff: an add ...");
			ASSERT_TRUE(out[5].node.weight == 25 && out[5].node.state == INA && out[5].node.node_prog &&
					    out[5].node.mac[5] == 3,
				    "members diff: ... carries the weight, state, node-prog and MAC wanted");
		}
	}
}

#undef A
#undef B
#undef C
#undef V1
#undef V2
#undef ACT
#undef DRN
#undef INA
#undef DWN
#undef N
#undef NX
#undef OP

/* ---- the pinned-maps store: the same words, and nothing written by a refusal ---- */

/* FNV-1a over every key and value of a map (per-CPU maps: not configuration, left out). */
static __u64 map_sum(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	unsigned char key[256], next[256], val[4096];
	__u64 h = 1469598103934665603ULL;
	bool first = true;

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) || info.key_size > sizeof(key) ||
	    info.value_size > sizeof(val))
		return 0;
	while (!bpf_map_get_next_key(fd, first ? NULL : key, next)) {
		first = false;
		memcpy(key, next, info.key_size);
		memset(val, 0, sizeof(val));
		if (bpf_map_lookup_elem(fd, key, val))
			continue;
		for (__u32 i = 0; i < info.key_size; i++)
			h = (h ^ key[i]) * 1099511628211ULL;
		for (__u32 i = 0; i < info.value_size; i++)
			h = (h ^ val[i]) * 1099511628211ULL;
	}
	return h;
}

struct maps_sum {
	__u64 s[10];
};

static struct maps_sum maps_now(void)
{
	int fds[] = { e.vips_fd, e.vip_addrs_fd, e.nodes_fd, e.members_fd, e.rings_fd, e.vip_filter_fd,
		      e.vips_by_id_fd, e.vip_slots_fd, e.slot_history_fd, e.settings_fd };
	struct maps_sum m;

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		m.s[i] = map_sum(fds[i]);
	return m;
}

static void check_refused(const char *what, int ret, const struct ebb_err *err, const char *want,
			  const struct maps_sum *before)
{
	struct maps_sum after = maps_now();

	check_said(what, ret, err, want);
	ASSERT_MEM_EQ(&after, before, sizeof(after), nm(what, "every configuration map as it was"));
}

/* The in-place writes that pass: each changes what it names and nothing else. */
static void test_maps_in_place(const struct ebb_vip_key *k, const struct ebb_addr *a)
{
	static const __u8 mac_c[6] = { 2, 0, 0, 0, 0, 0x0c };
	struct ebb_desired_vip r = { .key = *k, .o = { .fwd = EBB_FWD_DSR, .tcp_idle_s = 30, .encap_src4 = a4("192.0.2.1") } };
	struct ebb_err err = {};
	struct maps_sum before, after;
	struct ebb_node n, was;
	struct ebb_vip v;
	__u64 since;

	if (!ASSERT_OK(ebb_vip_replace(&e, &r, &err), "maps: vip replace: tcp-idle 30, encap-src 192.0.2.1"))
		printf("#   %s\n", err.msg);
	ASSERT_OK(ebb_vip_find(&e, k, &v), "maps: ... the VIP is there");
	ASSERT_TRUE(v.tcp_idle_s == 30 && v.encap_src4 == a4("192.0.2.1") && v.udp_idle_s == EBB_DEFAULT_UDP_IDLE_S &&
			    v.fwd == EBB_FWD_DSR,
		    "maps: ... with tcp-idle 30, encap-src 192.0.2.1, the default udp-idle, still dsr");

	ebb_node_find(&e, a, NULL, &was);
	before = maps_now();
	if (!ASSERT_OK(ebb_node_set_mac(&e, a, mac_c, &err), "maps: node set mac 02:00:00:00:00:0c"))
		printf("#   %s\n", err.msg);
	ebb_node_find(&e, a, NULL, &n);
	ASSERT_MEM_EQ(n.mac, mac_c, 6, "maps: ... the node's MAC is the new one");
	n = was;
	memcpy(n.mac, mac_c, 6);
	ebb_node_find(&e, a, NULL, &was);
	ASSERT_MEM_EQ(&was, &n, sizeof(n), "maps: ... and nothing else of the node changed");
	after = maps_now();
	ASSERT_MEM_EQ(&after.s[3], &before.s[3], sizeof(after.s) - 3 * sizeof(after.s[0]),
		      "maps: ... nor members, tables or any later map");

	/* a drain's start moved back (the fleet's drain clock): its tables as they were */
	ASSERT_OK(ebb_node_set_state(&e, a, EBB_NODE_DRAINING, 0, &err), "maps: node drain");
	ebb_node_find(&e, a, NULL, &was);
	before = maps_now();
	since = was.state_since_ns - 7000000000ULL;
	if (!ASSERT_OK(ebb_node_set_state_at(&e, a, EBB_NODE_DRAINING, 0, since, 0, &err),
		       "maps: node state at: the drain began 7 s earlier"))
		printf("#   %s\n", err.msg);
	ebb_node_find(&e, a, NULL, &n);
	ASSERT_EQ(n.state_since_ns, since, "maps: ... its start moved");
	ASSERT_EQ(n.state, EBB_NODE_DRAINING, "maps: ... still draining");
	after = maps_now();
	ASSERT_EQ(after.s[4], before.s[4], "maps: ... its tables as they were");

	/* down, returning to a state the fleet names, with the fleet's start */
	since = ebb_now_ns() - 3000000000ULL;
	if (!ASSERT_OK(ebb_node_set_state_at(&e, a, EBB_NODE_DOWN, 0, since, EBB_NODE_ACTIVE, &err),
		       "maps: node state at: down since 3 s, back to active"))
		printf("#   %s\n", err.msg);
	ebb_node_find(&e, a, NULL, &n);
	ASSERT_TRUE(n.state == EBB_NODE_DOWN && n.state_since_ns == since && n.state_before_down == EBB_NODE_ACTIVE,
		    "maps: ... down, since then, returning to active");
}

static void test_maps_store(void)
{
	static const __u8 MAC_A[6] = { 2, 0, 0, 0, 0, 0x0a }, MAC_B[6] = { 2, 0, 0, 0, 0, 0x0b };
	struct ebb_vip_key k = vk(VIP), k2 = vk("203.0.113.20:80/tcp"), k6 = vk("[2001:db8::10]:80/tcp");
	struct ebb_vip_opts dsr = { .fwd = EBB_FWD_DSR };
	struct ebb_node_opts o = { .have_mac = true };
	struct ebb_addr a = ad(NODE), b = ad("198.51.100.12"), gone = ad("198.51.100.99");
	struct ebb_err err = {};
	struct maps_sum before;
	__u32 id;

	memcpy(o.mac, MAC_A, 6);
	if (!ASSERT_OK(ebb_vip_add(&e, &k, &dsr, &err), "maps: vip add " VIP) ||
	    !ASSERT_OK(ebb_vip_add(&e, &k6, &dsr, &err), "maps: vip add [2001:db8::10]:80/tcp") ||
	    !ASSERT_OK(add_node(NODE, VIP, MAC_A, false, &id, &err), "maps: node add " NODE) ||
	    !ASSERT_OK(add_node("198.51.100.12", "[2001:db8::10]:80/tcp", MAC_B, true, &id, &err),
		       "maps: node add 198.51.100.12 inactive")) {
		printf("#   %s\n", err.msg);
		return;
	}
	before = maps_now();

	check_refused("maps: vip add, it exists", ebb_vip_add(&e, &k, &dsr, &err), &err,
		      "VIP 203.0.113.10:80/tcp already exists", &before);
	{
		struct ebb_vip_key kn = vk(NODE ":443/tcp");

		check_refused("maps: vip add, a node's address", ebb_vip_add(&e, &kn, &dsr, &err), &err,
			      "198.51.100.11 is a node's address: a VIP cannot be one of its own backends", &before);
	}
	check_refused("maps: vip add, table-size 250",
		      ebb_vip_add(&e, &k2, &(struct ebb_vip_opts){ .table_size = 250 }, &err), &err,
		      "table-size must be one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65537 (a prime >= 100 x the VIP's nodes), not 250",
		      &before);
	check_refused("maps: vip add, another VIP's address as encap-src",
		      ebb_vip_add(&e, &k2, &(struct ebb_vip_opts){ .fwd = EBB_FWD_IPIP, .encap_src4 = a4("203.0.113.10") },
				  &err),
		      &err, "encap-src 203.0.113.10 is a VIP address: the outer source must be this host's own address",
		      &before);
	check_refused("maps: vip add, a multicast VIP",
		      ebb_vip_add(&e, &(struct ebb_vip_key){ .family = EBB_FAMILY_V4, .proto = IPPROTO_TCP,
							       .addr = { a4("239.1.1.1") } },
				  &dsr, &err),
		      &err, "VIP address 239.1.1.1 is a multicast address: it must be a unicast address", &before);
	check_refused("maps: vip set, tcp-idle past a week",
		      ebb_vip_set(&e, &k, &(struct ebb_vip_opts){ .tcp_idle_s = EBB_MAX_TIMEOUT_S + 1 }, &err), &err,
		      "tcp-idle must be 1..604800 seconds, not 604801", &before);
	check_refused("maps: vip set, no such VIP", ebb_vip_set(&e, &k2, &(struct ebb_vip_opts){ .fin_s = 3 }, &err),
		      &err, "no VIP 203.0.113.20:80/tcp", &before);
	check_refused("maps: vip del, no such VIP", ebb_vip_del(&e, &k2, false, &err), &err,
		      "no VIP 203.0.113.20:80/tcp", &before);

	check_refused("maps: node add, already serves", ebb_node_add(&e, &a, &k, &o, &err), &err,
		      "node 198.51.100.11 already serves VIP 203.0.113.10:80/tcp", &before);
	check_refused("maps: node add, no such VIP", ebb_node_add(&e, &a, &k2, &o, &err), &err,
		      "no VIP 203.0.113.20:80/tcp", &before);
	{
		struct ebb_addr va = ad("203.0.113.10");

		check_refused("maps: node add, a VIP's address", ebb_node_add(&e, &va, &k6, &o, &err), &err,
			      "203.0.113.10 is a VIP address: a node cannot be a VIP of this balancer", &before);
	}
	{
		struct ebb_node_opts m = o;

		m.mac[5] = 0x0c;
		check_refused("maps: node add, another MAC", ebb_node_add(&e, &a, &k6, &m, &err), &err,
			      "node 198.51.100.11 has MAC 02:00:00:00:00:0a, not 02:00:00:00:00:0c", &before);
		m = o;
		m.inactive = true;
		check_refused("maps: node add, inactive, an existing node", ebb_node_add(&e, &a, &k6, &m, &err), &err,
			      "node 198.51.100.11 exists (active); 'inactive' is for new nodes", &before);
		m = o;
		m.node_prog = true;
		check_refused("maps: node add, node-prog, an existing node without", ebb_node_add(&e, &a, &k6, &m, &err),
			      &err,
			      "node 198.51.100.11 exists without node-prog; set it with 'ebbctl node set 198.51.100.11 node-prog on'",
			      &before);
		m = o;
		m.weight = EBB_MAX_WEIGHT + 1;
		check_refused("maps: node add, weight past the largest", ebb_node_add(&e, &a, &k6, &m, &err), &err,
			      "weight must be 1..1000, not 1001", &before);
	}
	check_refused("maps: node del, a VIP it does not serve", ebb_node_del(&e, &a, &k6, false, &err), &err,
		      "node 198.51.100.11 does not serve VIP [2001:db8::10]:80/tcp", &before);
	check_refused("maps: node del, no such node", ebb_node_del(&e, &gone, NULL, false, &err), &err,
		      "no node 198.51.100.99", &before);
	check_refused("maps: node drain, an inactive node", ebb_node_set_state(&e, &b, EBB_NODE_DRAINING, 0, &err),
		      &err, "node 198.51.100.12 is inactive: it has nothing to drain", &before);
	check_refused("maps: node set weight 0", ebb_node_set_weight(&e, &a, &k, 0, &err), &err,
		      "weight must be 1..1000, not 0", &before);
	check_refused("maps: node set weight, a VIP it does not serve", ebb_node_set_weight(&e, &a, &k6, 5, &err), &err,
		      "node 198.51.100.11 does not serve VIP [2001:db8::10]:80/tcp", &before);
	check_refused("maps: node set node-prog, no such node",
		      ebb_node_set_flags(&e, &gone, EBB_NODE_F_NODE_PROG, true, &err), &err,
		      "no node 198.51.100.99", &before);

	/* the writes a fleet host makes in place (fleet_apply.c), refused in the same words */
	{
		static const __u8 mac_group[6] = { 1, 0, 0x5e, 0, 0, 1 }, mac_zero[6] = {};
		struct ebb_desired_vip r = { .key = k, .o = { .fwd = EBB_FWD_DSR } };

		r.o.tcp_idle_s = EBB_MAX_TIMEOUT_S + 1;
		check_refused("maps: vip replace, tcp-idle past a week", ebb_vip_replace(&e, &r, &err), &err,
			      "tcp-idle must be 1..604800 seconds, not 604801", &before);
		r.o.tcp_idle_s = 0;
		r.o.encap_src4 = a4("203.0.113.10");
		check_refused("maps: vip replace, the VIP's own address as encap-src", ebb_vip_replace(&e, &r, &err), &err,
			      "encap-src 203.0.113.10 is a VIP address: the outer source must be this host's own address",
			      &before);
		r.key = k6;
		check_refused("maps: vip replace, another VIP's address as encap-src", ebb_vip_replace(&e, &r, &err), &err,
			      "encap-src 203.0.113.10 is a VIP address: the outer source must be this host's own address",
			      &before);
		r = (struct ebb_desired_vip){ .key = k, .o = { .fwd = EBB_FWD_IPIP, .encap_src4 = a4("192.0.2.1") } };
		check_refused("maps: vip replace, another forwarding mode", ebb_vip_replace(&e, &r, &err), &err,
			      "VIP 203.0.113.10:80/tcp: its forwarding mode and table size change only when it is made again",
			      &before);
		r.key = k2;
		check_refused("maps: vip replace, no such VIP", ebb_vip_replace(&e, &r, &err), &err,
			      "no VIP 203.0.113.20:80/tcp", &before);
		check_refused("maps: node set mac, a multicast MAC", ebb_node_set_mac(&e, &a, mac_group, &err), &err,
			      "MAC 01:00:5e:00:00:01 is zero or multicast: a node's MAC must be a unicast one", &before);
		check_refused("maps: node set mac, zero", ebb_node_set_mac(&e, &a, mac_zero, &err), &err,
			      "MAC 00:00:00:00:00:00 is zero or multicast: a node's MAC must be a unicast one", &before);
		check_refused("maps: node set mac, no such node", ebb_node_set_mac(&e, &gone, MAC_B, &err), &err,
			      "no node 198.51.100.99", &before);
		check_refused("maps: node state 9", ebb_node_set_state(&e, &a, 9, 0, &err), &err,
			      "node state 9 is not active, draining, inactive or down", &before);
		check_refused("maps: node state at, a start in the future",
			      ebb_node_set_state_at(&e, &a, EBB_NODE_DRAINING, 0, ebb_now_ns() + 60ULL * 1000000000ULL, 0,
						    &err),
			      &err, "node 198.51.100.11: its state cannot begin later than now, on this host's clock",
			      &before);
		check_refused("maps: node state at, down, back to down",
			      ebb_node_set_state_at(&e, &a, EBB_NODE_DOWN, 0, 0, EBB_NODE_DOWN, &err), &err,
			      "before-down state 4 is not active, draining or inactive", &before);
		check_refused("maps: node state at, before-down 9 for a draining node",
			      ebb_node_set_state_at(&e, &a, EBB_NODE_DRAINING, 0, 0, 9, &err), &err,
			      "node 198.51.100.11 is not down (draining): before-down is where a down node returns to",
			      &before);
	}

	{
		struct ebb_desired_vip *got = calloc(EBB_MAX_VIPS, sizeof(*got));
		int n = got ? ebb_desired_vips_read(&e, got) : -ENOMEM;
		bool found = false;

		ASSERT_EQ(n, 2, "maps: ebb_desired_vips_read: the two VIPs");
		for (int i = 0; i < n; i++)
			if (!memcmp(&got[i].key, &k, sizeof(k)))
				found = got[i].o.fwd == EBB_FWD_DSR && got[i].o.tcp_idle_s == EBB_DEFAULT_TCP_IDLE_S &&
					got[i].o.table_size == EBB_TABLE_SIZE_DEFAULT;
		ASSERT_TRUE(found, "maps: ... " VIP " as added: dsr, the default timeouts and table size");
		/* the maps as they are, wanted as they are: nothing to do */
		ASSERT_EQ(n >= 0 ? ebb_desired_vips_diff(got, (size_t)n, got, (size_t)n,
							 (struct ebb_desired_change[2 * 2]){}) : 1,
			  0, "maps: ... wanted as read: no change");
		free(got);
	}
	{
		struct ebb_desired_node *got = calloc(EBB_MAX_MEMBERS + EBB_MAX_NODES, sizeof(*got));
		struct ebb_desired_member_change ch[2 + 4 * 2];
		int n = got ? ebb_desired_members_read(&e, got) : -ENOMEM;
		bool found_a = false, found_b = false;

		ASSERT_EQ(n, 2, "maps: ebb_desired_members_read: the two memberships");
		for (int i = 0; i < n; i++) {
			if (!memcmp(&got[i].vip, &k, sizeof(k)) && ebb_addr_eq(got[i].addr.a, a.a, a.family))
				found_a = got[i].weight == EBB_DEFAULT_WEIGHT && got[i].state == EBB_NODE_ACTIVE &&
					  !memcmp(got[i].mac, MAC_A, 6) && !got[i].node_prog;
			if (!memcmp(&got[i].vip, &k6, sizeof(k6)) && ebb_addr_eq(got[i].addr.a, b.a, b.family))
				found_b = got[i].state == EBB_NODE_INACTIVE && !memcmp(got[i].mac, MAC_B, 6);
		}
		ASSERT_TRUE(found_a, "maps: ... " NODE " on " VIP ": the default weight, active, its MAC");
		ASSERT_TRUE(found_b, "maps: ... 198.51.100.12 on [2001:db8::10]:80/tcp: inactive, its MAC");
		ASSERT_EQ(n >= 0 ? ebb_desired_members_diff(got, (size_t)n, got, (size_t)n, ch) : 1, 0,
			  "maps: ... wanted as read: no change");
		ASSERT_EQ(n >= 0 ? ebb_desired_members_diff(NULL, 0, got, (size_t)n, ch) : 0, 2,
			  "maps: ... nothing wanted: both nodes deleted");
		free(got);
	}
	/* and a write that passes changes them: the sums can tell */
	ASSERT_OK(ebb_node_set_weight(&e, &a, &k, 5, &err), "maps: node set weight 5");
	{
		struct maps_sum after = maps_now();

		ASSERT_TRUE(memcmp(&after, &before, sizeof(after)), "maps: a write that passes changes the sums");
	}
	test_maps_in_place(&k, &a);
}

/*
 * ---- the members diff at a fleet's full size ----
 * EBB_MAX_NODES - 1 nodes on up to 16 VIPs (EBB_MAX_MEMBERS pairs when full), both sides in a
 * random order. The changes, played on a model of the store, must give exactly the wanted
 * state, and each must find what it changes (no weight set on a missing member). A diff that
 * searched each record's list from the front took seconds at this size (n^2 comparisons).
 */
enum { BIG_VIPS = 16, BIG_NODES = EBB_MAX_MEMBERS / BIG_VIPS < EBB_MAX_NODES - 1 ?
				  EBB_MAX_MEMBERS / BIG_VIPS : EBB_MAX_NODES - 1 };

struct big_node {
	bool here;
	__u8 state;
	bool node_prog;
	__u8 mac0;
	__u32 weight[BIG_VIPS]; /* 0: not on that VIP */
};

static struct ebb_desired_node big_record(int node, int vip, const struct big_node *b)
{
	struct ebb_desired_node r = {
		.addr = { .family = EBB_FAMILY_V4, .a = { htonl(0x0a000001 + node) } },
		.state = b->state, .have_mac = true, .mac = { b->mac0, 2, 3, 4, 5, 6 },
		.node_prog = b->node_prog,
	};

	if (vip >= 0) {
		r.vip = vk("192.0.2.1:80/tcp");
		r.vip.addr[0] = htonl(0xc0000201 + vip);
		r.weight = b->weight[vip];
	}
	return r;
}

static size_t big_records(const struct big_node *m, struct ebb_desired_node *out)
{
	size_t n = 0;

	for (int i = 0; i < BIG_NODES; i++)
		for (int v = 0; v < BIG_VIPS; v++)
			if (m[i].here && m[i].weight[v])
				out[n++] = big_record(i, v, &m[i]);
	for (size_t i = n; i > 1; i--) { /* Fisher-Yates: no order to lean on */
		size_t j = (size_t)rand() % i;
		struct ebb_desired_node t = out[i - 1];

		out[i - 1] = out[j];
		out[j] = t;
	}
	return n;
}

static bool big_same(const struct big_node *a, const struct big_node *b)
{
	if (a->here != b->here)
		return false;
	return !a->here || (a->state == b->state && a->node_prog == b->node_prog &&
			    a->mac0 == b->mac0 && !memcmp(a->weight, b->weight, sizeof(a->weight)));
}

/* One change played on the model; false when it changes what is not there. */
static bool big_play(struct big_node *m, const struct ebb_desired_member_change *c)
{
	int i = (int)(ntohl(c->node.addr.a[0]) - 0x0a000001);
	int v = c->node.vip.family ? (int)(ntohl(c->node.vip.addr[0]) - 0xc0000201) : -1;
	struct big_node *b = &m[i];

	if (i < 0 || i >= BIG_NODES || v >= BIG_VIPS)
		return false;
	switch (c->op) {
	case EBB_DESIRED_NODE_DEL:
		if (!b->here)
			return false;
		*b = (struct big_node){};
		return true;
	case EBB_DESIRED_MEMBER_DEL:
		if (!b->here || v < 0 || !b->weight[v])
			return false;
		b->weight[v] = 0;
		return true;
	case EBB_DESIRED_MEMBER_ADD:
		if (v < 0 || (b->here && b->weight[v]))
			return false;
		if (!b->here)
			*b = (struct big_node){ .here = true, .node_prog = c->node.node_prog,
						.mac0 = c->node.mac[0],
						.state = c->node.state == EBB_NODE_ACTIVE ? EBB_NODE_ACTIVE :
											     EBB_NODE_INACTIVE };
		b->weight[v] = c->node.weight;
		return true;
	case EBB_DESIRED_MEMBER_WEIGHT:
		if (!b->here || v < 0 || !b->weight[v])
			return false;
		b->weight[v] = c->node.weight;
		return true;
	case EBB_DESIRED_NODE_MAC:
		b->mac0 = c->node.mac[0];
		return b->here;
	case EBB_DESIRED_NODE_FLAGS:
		b->node_prog = c->node.node_prog;
		return b->here;
	case EBB_DESIRED_NODE_STATE:
		b->state = c->node.state;
		return b->here;
	}
	return false;
}

static void test_members_diff_full_size(void)
{
	struct big_node *have = calloc(BIG_NODES, sizeof(*have)), *want = calloc(BIG_NODES, sizeof(*want));
	struct ebb_desired_node *cur = calloc(EBB_MAX_MEMBERS, sizeof(*cur));
	struct ebb_desired_node *wanted = calloc(EBB_MAX_MEMBERS, sizeof(*wanted));
	struct ebb_desired_member_change *ch = calloc(EBB_MAX_MEMBERS * 5, sizeof(*ch));
	size_t n_cur, n_want, bad = 0, wrong = 0, counts[EBB_DESIRED_NODE_STATE + 1] = {};
	struct timespec t0, t1;
	ssize_t n;

	if (!ASSERT_TRUE(have && want && cur && wanted && ch, "members diff, full size: memory"))
		goto out;
	srand(18);
	for (int i = 0; i < BIG_NODES; i++) {
		have[i] = (struct big_node){ .here = true, .state = EBB_NODE_ACTIVE, .mac0 = 1 };
		for (int v = 0; v < BIG_VIPS; v++)
			have[i].weight[v] = 100;
	}
	memcpy(want, have, BIG_NODES * sizeof(*want));
	for (int i = 0; i < BIG_NODES; i++) {
		switch (rand() % 16) {
		case 0: want[i] = (struct big_node){}; break;	/* node gone */
		case 1: want[i].weight[rand() % BIG_VIPS] = 0; break; /* off one VIP */
		case 2: want[i].weight[rand() % BIG_VIPS] = 7; break; /* reweighed */
		case 3: want[i].state = EBB_NODE_DRAINING; break;
		case 4: want[i].mac0 = 9; break;
		case 5: want[i].node_prog = true; break;
		case 6: have[i] = (struct big_node){}; break;	/* a new node */
		case 7: have[i].weight[rand() % BIG_VIPS] = 0; break; /* onto one more VIP */
		}
	}
	n_cur = big_records(have, cur);
	n_want = big_records(want, wanted);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = ebb_desired_members_diff(wanted, n_want, cur, n_cur, ch);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# members diff of %zu wanted against %zu held: %zd changes in %.1f ms\n", n_want,
	       n_cur, n, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	if (!ASSERT_TRUE(n > 0, "members diff, full size: changes made"))
		goto out;
	for (ssize_t i = 0; i < n; i++) {
		bad += !big_play(have, &ch[i]);
		counts[ch[i].op]++;
	}
	for (int i = 0; i < BIG_NODES; i++)
		wrong += !big_same(&have[i], &want[i]);
	ASSERT_EQ(bad, 0, "members diff, full size: each change finds what it changes");
	ASSERT_EQ(wrong, 0, "members diff, full size: played on the store, they give the wanted state");
	ASSERT_TRUE(counts[EBB_DESIRED_NODE_DEL] && counts[EBB_DESIRED_MEMBER_DEL] &&
		    counts[EBB_DESIRED_MEMBER_ADD] && counts[EBB_DESIRED_MEMBER_WEIGHT] &&
		    counts[EBB_DESIRED_NODE_MAC] && counts[EBB_DESIRED_NODE_FLAGS] &&
		    counts[EBB_DESIRED_NODE_STATE], "members diff, full size: every kind of change made");
	ASSERT_EQ(ebb_desired_members_diff(cur, n_cur, cur, n_cur, ch), 0,
		  "members diff, full size: none against itself");
out:
	free(have);
	free(want);
	free(cur);
	free(wanted);
	free(ch);
}

int main(void)
{
	test_vip_records();
	test_node_records();
	test_settings_records();
	test_writes();
	test_writes_in_place();
	test_diff();
	test_members_diff();
	test_members_diff_full_size();
	if (suite_start("desired maps")) {
		if (balancer_setup())
			test_maps_store();
		balancer_teardown();
	}
	return test_summary("desired");
}
