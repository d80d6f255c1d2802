// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebb at its limits (issue 16: >= 1024 VIPs, >= 4096 nodes), on the real balancer through
 * BPF_PROG_TEST_RUN: VIP id 1023 and node id 4095 (this build's last: EBB_MAX_VIPS - 1,
 * EBB_MAX_NODES - 1) carry a flow end to end:
 *  - libebb hands out every VIP id up to 1023 and refuses the next VIP; the node id 4095, and
 *    refuses the next node;
 *  - a SYN to VIP 1023 is balanced to node 4095 and pinned: the entry word's VIP and node
 *    fields are 1023 and 4095 (the table's own decoding), as libebb's ebb_flow_get and
 *    `ebbctl -j flow show` (run on the maps pinned in a directory of this test's own) read it;
 *  - the next packet of the flow hits that entry (the VIP by the id the entry records,
 *    vips_by_id[1023]) and reaches the same node; vip_stats[1023] and node_stats[4095] count
 *    both packets; the census counts the flow live for node 4095; `flow trace`'s listener of
 *    VIP 1023 alone (monitor.vip_id1 = 1024) gets the next packet's event, naming VIP 1023 and
 *    node 4095.
 * With 8-bit VIP ids or 64 VIPs anywhere on the way (struct ebb_flow, a map's size, an id
 * check) one of these fails: before the widening (ft-product) the 65th VIP is refused.
 *
 * The 4094 nodes below 4095 are written straight into `nodes` (inactive, in no VIP): adding
 * them one by one through libebb would rebuild a VIP's tables 4094 times, and only their ids
 * being taken matters here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "ebb.h"
#include "libebb.h"
#include "libebb_agent.h"
#include "packets.h"
#include "test.h"
#define FIXTURE_BALANCER
#include "fixture.h"

/* Issue 16's goal, not this build's limits: a build of fewer fails here (ft-product: the 65th
 * VIP is refused, node id 1024 does not exist). */
#define WANT_VIPS 1024
#define WANT_NODES 4096

static const uint8_t NODE_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x0f, 0xff };
#define NODE_LAST "198.51.100.99"
#define NODE_EXTRA "198.51.100.100"
#define CLIENT "192.0.2.77"

static char vip_last[64], vip_last_addr[32];

/* VIP i's address: 100.64.0.1 and up, 250 to a /24 (documentation-free CGNAT space: no host
 * here owns it). */
static void vip_name(int i, char *name, size_t len, char *addr, size_t alen)
{
	snprintf(addr, alen, "100.%d.%d.1", 64 + i / 250, i % 250 + 1);
	snprintf(name, len, "%s:80/tcp", addr);
}

/* A VIP of a small lookup table (251 slots), so that 1024 of them are quick to add. */
static int small_vip_add(const char *name, struct ebb_err *err)
{
	struct ebb_vip_opts o = { .table_size = 251 };
	struct ebb_vip_key k;

	if (ebb_parse_vip(name, &k, err))
		return -EINVAL;
	return ebb_vip_add(&e, &k, &o, err);
}

static bool add_vips(void)
{
	struct ebb_err err = {};
	char name[64], addr[32];
	int failed = -1;

	for (int i = 0; i < WANT_VIPS && failed < 0; i++) {
		vip_name(i, name, sizeof(name), addr, sizeof(addr));
		if (small_vip_add(name, &err))
			failed = i;
	}
	if (!CHECK(failed < 0, "%d VIPs added (%s%s)", WANT_VIPS,
		   failed < 0 ? "all" : "refused: ", failed < 0 ? "" : err.msg))
		return false;
	vip_name(WANT_VIPS - 1, vip_last, sizeof(vip_last), vip_last_addr, sizeof(vip_last_addr));
	ASSERT_EQ(vip_id_of(vip_last), WANT_VIPS - 1, "the last VIP added has id 1023");
	memset(&err, 0, sizeof(err));
	CHECK(small_vip_add("100.127.0.1:80/tcp", &err) != 0 && strstr(err.msg, "no room"),
	      "VIP %d (past EBB_MAX_VIPS %d) is refused: %s", EBB_MAX_VIPS + 1, EBB_MAX_VIPS, err.msg);
	return true;
}

static bool add_nodes(__u32 *last_id)
{
	struct ebb_node n = { .family = EBB_FAMILY_V4, .state = EBB_NODE_INACTIVE,
			      .mac = { 0x02, 0, 0, 0, 0, 1 } };
	struct ebb_err err = {};
	int bad = 0;

	n.state_since_ns = ebb_now_ns();
	for (__u32 id = 1; id < WANT_NODES - 1; id++) {
		n.addr[0] = htonl(0xac100000u + id); /* 172.16.0.0/12 */
		bad += bpf_map_update_elem(e.nodes_fd, &id, &n, BPF_ANY) != 0;
	}
	if (!ASSERT_EQ(bad, 0, "node ids 1..4094 taken"))
		return false;
	if (!ASSERT_OK(add_node(NODE_LAST, vip_last, NODE_MAC, false, last_id, &err),
		       "node " NODE_LAST " added to the last VIP")) {
		printf("#   %s\n", err.msg);
		return false;
	}
	if (!ASSERT_EQ(*last_id, WANT_NODES - 1, "... with node id 4095"))
		return false;
	{
		/* ebb_node_find reads the array a chunk at a time: a node in the last chunk, one
		 * in the second, and an address no node has, past every chunk */
		struct ebb_addr a = { .family = EBB_FAMILY_V4 };
		__u32 id = 0;

		ASSERT_TRUE(!ebb_parse_addr(NODE_LAST, &a, NULL) && !ebb_node_find(&e, &a, &id, NULL) &&
				    id == WANT_NODES - 1,
			    "ebb_node_find: " NODE_LAST " is node 4095 (the array's last chunk)");
		a.a[0] = htonl(0xac100000u + 300);
		id = 0;
		ASSERT_TRUE(!ebb_node_find(&e, &a, &id, NULL) && id == 300,
			    "ebb_node_find: 172.16.1.44 is node 300 (its second chunk)");
		a.a[0] = htonl(0xac100000u + 5000);
		ASSERT_EQ(ebb_node_find(&e, &a, &id, NULL), -ENOENT,
			  "ebb_node_find: an address no node has is -ENOENT");
	}
	memset(&err, 0, sizeof(err));
	{
		__u32 id;

		CHECK(add_node(NODE_EXTRA, vip_last, NODE_MAC, false, &id, &err) != 0 &&
			      strstr(err.msg, "no room"),
		      "node %d (past EBB_MAX_NODES %d) is refused: %s", EBB_MAX_NODES, EBB_MAX_NODES, err.msg);
	}
	return true;
}

/* Every map of the loaded object pinned under dir (made here, removed by unpin_all). */
static bool pin_all(const char *dir)
{
	struct bpf_map *map;
	char path[512];

	if (mkdir(dir, 0700))
		return false;
	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map) || bpf_map__fd(map) < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		if (bpf_obj_pin(bpf_map__fd(map), path))
			return false;
	}
	return true;
}

static void unpin_all(const char *dir)
{
	struct bpf_map *map;
	char path[512];

	bpf_object__for_each_map(map, skel->obj) {
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		unlink(path);
	}
	rmdir(dir);
}

/* `ebbctl -j flow show` on the maps pinned under dir: its JSON, or NULL. */
static json_object *flow_show_json(const char *dir)
{
	char exe[512], cmd[1200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	json_object *j = NULL;
	char *slash, buf[65536];
	size_t len = 0;
	FILE *p;

	if (n <= 0)
		return NULL;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = 0; /* .output/tests -> .output/ebbctl */
	snprintf(cmd, sizeof(cmd), "%s/../ebbctl --bpffs %s -j flow show", exe, dir);
	p = popen(cmd, "r");
	if (!p)
		return NULL;
	while (len < sizeof(buf) - 1 && (n = fread(buf + len, 1, sizeof(buf) - 1 - len, p)) > 0)
		len += n;
	buf[len] = 0;
	if (pclose(p) == 0)
		j = json_tokener_parse(buf);
	else
		printf("# ebbctl: %s\n", buf);
	return j;
}

static int mon_collect(void *arg, void *data, size_t size)
{
	struct ebb_monitor_event *ev = arg;

	if (size == sizeof(*ev) && !ev->ns)
		memcpy(ev, data, size);
	return 0;
}

/* One more packet of the flow with a listener of VIP vip_id alone: its event. */
static void monitor_case(const struct pkt_desc *d, __u32 vip_id, __u32 node_id)
{
	struct ebb_monitor m = { .sample = 1, .verdicts = 1u << XDP_TX, .vip_id1 = vip_id + 1,
				 .pid = (__u32)getpid() };
	struct ebb_monitor_event ev = {};
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.monitor_events), mon_collect,
						  &ev, NULL);
	uint8_t mac[6];

	if (!ASSERT_TRUE(rb != NULL, "monitor: ring buffer opened") ||
	    !ASSERT_OK(bpf_map_update_elem(bpf_map__fd(skel->maps.monitor), &(__u32){ 0 }, &m, BPF_ANY),
		       "monitor: a listener of VIP 1023 alone")) {
		ring_buffer__free(rb);
		return;
	}
	ASSERT_EQ(balancer_run(d, mac), XDP_TX, "monitor: the flow's next packet: XDP_TX");
	ring_buffer__consume(rb);
	CHECK(ev.ns && ev.vip_id == vip_id && ev.node_id == node_id,
	      "monitor: its event names VIP 1023 and node 4095 (%u, %u)", ev.vip_id, ev.node_id);
	m.sample = 0;
	bpf_map_update_elem(bpf_map__fd(skel->maps.monitor), &(__u32){ 0 }, &m, BPF_ANY);
	ring_buffer__free(rb);
}

static void flow_cases(__u32 node_id)
{
	const __u32 vip_id = WANT_VIPS - 1;
	struct pkt_desc syn = { TCP4(CLIENT, 40000, vip_last_addr, 80, TH_SYN) };
	struct pkt_desc ack = { TCP4(CLIENT, 40000, vip_last_addr, 80, TH_ACK) };
	struct ebb_counters vc = {}, nc = {};
	struct ebb_flow_key k;
	struct ebb_flow f = {};
	struct ebb_err err = {};
	uint8_t mac[6];
	__u64 w = 0;
	char dir[64];

	k = flow_key4(CLIENT, 40000, vip_last_addr, 80, IPPROTO_TCP);
	ASSERT_EQ(balancer_run(&syn, mac), XDP_TX, "SYN to the last VIP: XDP_TX");
	ASSERT_MEM_EQ(mac, NODE_MAC, 6, "... to node " NODE_LAST);
	if (ASSERT_TRUE(flow_slot4(&k, &w) != NULL, "the SYN's flow has an entry word")) {
		ASSERT_EQ(ebb_ft_vip(w), vip_id, "entry word: VIP field 1023");
		ASSERT_EQ(ebb_ft_node(w), node_id, "entry word: node field 4095");
		ASSERT_EQ(ebb_ft_flags(w), 0, "entry word: no flags");
	}
	if (ASSERT_OK(ebb_flow_get(&e, &k, &f), "libebb's ebb_flow_get finds it")) {
		ASSERT_EQ(f.vip_id, vip_id, "ebb_flow_get: VIP id 1023");
		ASSERT_EQ(f.node_id, node_id, "ebb_flow_get: node id 4095");
	}
	ASSERT_EQ(balancer_run(&ack, mac), XDP_TX, "its ACK hits the entry: XDP_TX");
	ASSERT_MEM_EQ(mac, NODE_MAC, 6, "... to the same node");
	ebb_counters_sum(e.vip_stats_fd, vip_id, &vc);
	ebb_counters_sum(e.node_stats_fd, node_id, &nc);
	CHECK(vc.packets == 2 && vc.new_flows == 1, "vip_stats[1023]: 2 packets, 1 new flow (%llu, %llu)",
	      (unsigned long long)vc.packets, (unsigned long long)vc.new_flows);
	CHECK(nc.packets == 2, "node_stats[4095]: 2 packets (%llu)", (unsigned long long)nc.packets);
	monitor_case(&ack, vip_id, node_id);

	{
		struct ebb_census *c = NULL;

		if (ASSERT_OK(ebb_census_open(&e, &c), "census: open")) {
			struct ebb_census_io *io = ebb_census_io(c);

			io->now_ns = ebb_now_ns();
			for (int i = 0; i < EBB_MAX_VIPS; i++)
				io->vips[i] = (struct ebb_census_vip){ 3600000000000ULL, 3600000000000ULL,
								       3600000000000ULL };
			io->watch[node_id] = 1;
			io->no_clear = 1;
			if (ASSERT_OK(ebb_census_run(c), "census: run")) {
				ASSERT_EQ(io->live[node_id], 1, "census: node 4095 has 1 live flow");
				ASSERT_EQ(io->n_keys, 1, "census: its flow listed for the watched node 4095");
			}
			ebb_census_close(c);
		}
	}

	snprintf(dir, sizeof(dir), "/sys/fs/bpf/ebbwiden-%d", (int)getpid());
	if (ASSERT_TRUE(pin_all(dir), "the maps pinned under a directory of this test")) {
		json_object *j = flow_show_json(dir), *o = NULL, *v;
		char want_vip[64];

		snprintf(want_vip, sizeof(want_vip), "%s:80/tcp", vip_last_addr);
		if (ASSERT_TRUE(j && json_object_is_type(j, json_type_array) &&
					json_object_array_length(j) == 1,
				"ebbctl -j flow show: one flow")) {
			o = json_object_array_get_idx(j, 0);
			CHECK(json_object_object_get_ex(o, "vip", &v) &&
				      !strcmp(json_object_get_string(v), want_vip),
			      "flow show: vip %s", want_vip);
			CHECK(json_object_object_get_ex(o, "node", &v) &&
				      !strcmp(json_object_get_string(v), NODE_LAST),
			      "flow show: node " NODE_LAST);
			CHECK(json_object_object_get_ex(o, "src", &v) &&
				      !strcmp(json_object_get_string(v), CLIENT),
			      "flow show: src " CLIENT);
		}
		json_object_put(j);
	}
	unpin_all(dir);
	(void)err;
}

int main(void)
{
	__u32 node_id = 0;

	if (!suite_start("widen"))
		return 0;
	if (balancer_setup() && add_vips() && add_nodes(&node_id))
		flow_cases(node_id);
	balancer_teardown();
	return test_summary("widen");
}
