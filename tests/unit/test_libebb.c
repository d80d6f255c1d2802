// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libebb's operations on the real balancer's maps (loaded from its skeleton, nothing pinned),
 * with packets through BPF_PROG_TEST_RUN where the datapath's view matters:
 *  - ebb_from_object that fails leaks no descriptor, and its descriptors are close-on-exec;
 *  - a lookup table that cannot be built (allocation failure) fails the change whole: nothing
 *    is published, the node keeps its state, both tables stay as they were;
 *  - vip del (force) purges the VIP's flows: the VIP added again does not inherit its pins;
 *  - a flow belongs to the VIP it was placed for, not to another VIP that reused its id;
 *  - live flows per VIP in one walk;
 *  - the walks that read the table in place (issue 16: `node show`, `vip show`, `flow show node
 *    X` at scale): ebb_live_flows and ebb_live_flows_per_vip count what a callback over
 *    ebb_flows_each judging each flow by ebb_flow_of_vip and ebb_flow_live counts, and
 *    ebb_flows_each_of gives exactly ebb_flows_each's flows of that node or VIP, in its order,
 *    over entries made to trip every rule (idle, FIN, RST, unconfirmed, a key word that does
 *    not hash back, a VIP id no VIP has, a node id past the table, a deleted VIP's id reused);
 *  - ebbd's fallback walk (ebb_flows_walk) gives every flow of the bucket table and flows6;
 *  - ebb_flow_maps_size sizes an opened balancer for `flows N` as every load does: the bucket
 *    table's EBB_FT_BUCKETS(N) buckets, flows6's N entries; a loaded one is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#include "ebb.h"
#include "ebb_flowtable.h"
#include "ebb_hash.h"
#include "libebb.h"
#include "libebb_agent.h"
#include "packets.h"
#include "test.h"
#define FIXTURE_BALANCER
#include "fixture.h"

#define VIP1 "203.0.113.10"
#define VIP1_K "203.0.113.10:80/tcp"
#define VIP2 "203.0.113.20"
#define VIP2_K "203.0.113.20:80/tcp"
#define VIP3_K "203.0.113.30:80/tcp"
#define NODE_A "198.51.100.11"
#define NODE_B "198.51.100.12"
#define NODE_C "198.51.100.13"
#define CLIENT "192.0.2.1"

/* ---- allocation failure, injected: the next calloc(fail_n, fail_size) returns NULL ---- */
extern void *__libc_calloc(size_t n, size_t size);
static size_t fail_n, fail_size;
static bool fail_armed, fail_hit;

void *calloc(size_t n, size_t size)
{
	if (fail_armed && n == fail_n && size == fail_size) {
		fail_armed = false;
		fail_hit = true;
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_from_object_fds(void)
{
	struct balancer_bpf *s = balancer_bpf__open();
	struct bpf_program *prog;
	struct ebb_err err = {};
	struct ebb tmp;
	int before, after;

	if (!ASSERT_TRUE(s != NULL, "from_object: open a second balancer skeleton"))
		return;
	unpin_maps(s->obj);
	/* Every map but the last libebb wants ('slot_history'): no program, so it needs none. */
	bpf_object__for_each_program(prog, s->obj)
		bpf_program__set_autoload(prog, false);
	bpf_map__set_autocreate(s->maps.slot_history, false);
	if (!ASSERT_OK(bpf_object__load(s->obj), "from_object: load its maps, 'slot_history' left out")) {
		balancer_bpf__destroy(s);
		return;
	}
	before = count_fds();
	ASSERT_TRUE(ebb_from_object(&tmp, s->obj, &err) != 0,
		    "from_object: an object without 'slot_history' is refused");
	after = count_fds();
	if (!ASSERT_EQ(after, before, "from_object: the refusal leaks no descriptor"))
		printf("#   %d descriptors before, %d after\n", before, after);
	balancer_bpf__destroy(s);

	CHECK(fcntl(e.vips_fd, F_GETFD) & FD_CLOEXEC,
	      "from_object: its descriptors are close-on-exec (hooks must not inherit the maps)");
}

/* Not a size any default gives: a sizing left undone shows. */
#define SIZED_FLOWS 3000

static void test_flow_maps_size(void)
{
	struct balancer_bpf *s = balancer_bpf__open();
	struct bpf_program *prog;

	if (!ASSERT_TRUE(s != NULL, "flow maps size: open a balancer skeleton"))
		return;
	unpin_maps(s->obj);
	ASSERT_OK(ebb_flow_maps_size(s->obj, SIZED_FLOWS), "flow maps size: N flows");
	ASSERT_EQ(bpf_map__max_entries(s->maps.flows), EBB_FT_BUCKETS(SIZED_FLOWS),
		  "flow maps size: the bucket table has EBB_FT_BUCKETS(N) buckets");
	ASSERT_EQ(bpf_map__max_entries(s->maps.flows6), SIZED_FLOWS,
		  "flow maps size: flows6 has N entries");
	bpf_object__for_each_program(prog, s->obj)
		bpf_program__set_autoload(prog, false);
	if (ASSERT_OK(bpf_object__load(s->obj), "flow maps size: the object loads its maps"))
		ASSERT_TRUE(ebb_flow_maps_size(s->obj, SIZED_FLOWS * 2) < 0,
			    "flow maps size: a loaded object cannot be resized (an error, not a no-op)");
	balancer_bpf__destroy(s);
}

static __u32 node_id_of_addr(const char *addr);

/* ---- packets ---- */
/* One TCP packet from CLIENT:sport to dst:80; the MAC it is sent to in mac (zero if not TX). */
static int send_tcp(const char *dst, __u16 sport, uint8_t flags, uint8_t mac[6])
{
	const struct pkt_desc d = { TCP4(CLIENT, sport, dst, 80, flags) };

	return (int)balancer_run(&d, mac);
}

static struct ebb_vip_key vkey(const char *s)
{
	struct ebb_vip_key k;

	if (ebb_parse_vip(s, &k, NULL))
		abort();
	return k;
}

static int vip_del(const char *s, bool force)
{
	struct ebb_vip_key k = vkey(s);
	struct ebb_err err = {};
	int ret = ebb_vip_del(&e, &k, force, &err);

	if (ret)
		printf("#   vip del %s: %s\n", s, err.msg);
	return ret;
}

static int node_add(const char *addr, const char *vip, const uint8_t mac[6])
{
	struct ebb_err err = {};
	__u32 id;
	int ret = add_node(addr, vip, mac, false, &id, &err);

	if (ret)
		printf("#   node add %s vip %s: %s\n", addr, vip, err.msg);
	return ret;
}

/* vip del force purges the VIP's flows: the VIP added again places the flow anew. */
static void test_vip_del_purges(void)
{
	const char *n = "vip del";
	struct ebb_flow_key k = flow_key4(CLIENT, 1234, VIP1, 80, IPPROTO_TCP);
	struct ebb_flow f;
	uint8_t mac[6];

	if (!ASSERT_OK(vip_add(VIP1_K) || node_add(NODE_A, VIP1_K, MAC_A), nm(n, "VIP1 with node A")))
		return;
	ASSERT_EQ(send_tcp(VIP1, 1234, TH_SYN, mac), XDP_TX, nm(n, "a SYN to VIP1 is forwarded"));
	ASSERT_MEM_EQ(mac, MAC_A, 6, nm(n, "... to A"));
	ASSERT_OK(flow_get(&k, &f), nm(n, "... and pinned"));
	ASSERT_TRUE(vip_del(VIP1_K, false) != 0, nm(n, "without force: refused, the flow is live"));
	ASSERT_OK(flow_get(&k, &f), nm(n, "refused: the pin is still there"));
	ASSERT_OK(vip_del(VIP1_K, true), nm(n, "vip del VIP1 force"));
	CHECK(flow_get(&k, &f) != 0, "%s",
	      nm(n, "the VIP's flow is gone from the flow table"));

	/* A (still a node, active) is not a member of the VIP added again: B is. */
	if (!ASSERT_OK(vip_add(VIP1_K) || node_add(NODE_B, VIP1_K, MAC_B), nm(n, "VIP1 again, with node B only")))
		return;
	ASSERT_EQ(send_tcp(VIP1, 1234, TH_ACK, mac), XDP_TX, nm(n, "the old flow's next ACK is forwarded"));
	if (!ASSERT_MEM_EQ(mac, MAC_B, 6, nm(n, "... to B, the VIP's node now, not A of the deleted VIP's pin")))
		printf("#   went to %02x:..:%02x\n", mac[0], mac[5]);
	vip_del(VIP1_K, true);
}

/* vips_by_id, the copy a pinned flow's packet finds its VIP in: kept by every VIP write, and
 * only a shortcut. A stale, foreign or missing copy sends the packet the hash way, to the same
 * node; a copy of another VIP at the id never claims a flow to a different address. */
static void test_vips_by_id(void)
{
	const char *n = "vips_by_id";
	struct ebb_vip_key k2 = vkey(VIP2_K), k3 = vkey(VIP3_K);
	struct ebb_flow_key fk = flow_key4(CLIENT, 3000, VIP2, 80, IPPROTO_TCP);
	struct ebb_vip_entry ent, saved;
	struct ebb_vip v2, v3;
	struct ebb_flow f;
	uint8_t mac[6];

	if (!ASSERT_OK(vip_add(VIP2_K) || node_add(NODE_C, VIP2_K, MAC_C), nm(n, "VIP2 with node C")) ||
	    !ASSERT_OK(ebb_vip_find(&e, &k2, &v2), nm(n, "VIP2's id")) ||
	    !ASSERT_OK(bpf_map_lookup_elem(e.vips_by_id_fd, &v2.id, &ent), nm(n, "its copy by id")))
		goto out;
	ASSERT_MEM_EQ(&ent.key, &k2, sizeof(k2), nm(n, "vip add wrote the key by id"));
	ASSERT_MEM_EQ(&ent.vip, &v2, sizeof(v2), nm(n, "... and the value, as vips holds it"));
	saved = ent;
	ASSERT_EQ(send_tcp(VIP2, 3000, TH_SYN, mac), XDP_TX, nm(n, "a SYN to VIP2 is pinned"));
	ASSERT_MEM_EQ(mac, MAC_C, 6, nm(n, "... on C"));
	ASSERT_EQ(send_tcp(VIP2, 3000, TH_ACK, mac), XDP_TX, nm(n, "its ACK: classified by the flow's VIP id"));
	ASSERT_MEM_EQ(mac, MAC_C, 6, nm(n, "... to C"));

	/* The copy is what the ACK was classified by: one saying another id is counted there. */
	{
		struct ebb_counters before, after;
		__u32 other = (v2.id + 7) % EBB_MAX_VIPS;

		ent.vip.id = other;
		ebb_counters_sum(e.vip_stats_fd, other, &before);
		bpf_map_update_elem(e.vips_by_id_fd, &v2.id, &ent, BPF_ANY);
		ASSERT_EQ(send_tcp(VIP2, 3000, TH_ACK, mac), XDP_TX, nm(n, "copy with another id: forwarded"));
		ebb_counters_sum(e.vip_stats_fd, other, &after);
		ASSERT_EQ(after.packets - before.packets, 1,
			  nm(n, "... and counted to the copy's id: the hit read the copy, not vips"));
		ent = saved;
	}
	/* A copy naming another key at this id (never so while libebb writes them): the packet is
	 * not taken for that VIP, nor for VIP2 (the slot says VIP2 is that copy): passed. */
	ent.key.addr[0] ^= htonl(1);
	ASSERT_OK(bpf_map_update_elem(e.vips_by_id_fd, &v2.id, &ent, BPF_ANY), nm(n, "copy made foreign"));
	ASSERT_EQ(send_tcp(VIP2, 3000, TH_ACK, mac), XDP_PASS, nm(n, "foreign copy: passed, never misdirected"));
	ent = saved;
	ent.key.port = htons(81);
	bpf_map_update_elem(e.vips_by_id_fd, &v2.id, &ent, BPF_ANY);
	ASSERT_EQ(send_tcp(VIP2, 3000, TH_ACK, mac), XDP_PASS, nm(n, "copy of another port: passed"));
	bpf_map_update_elem(e.vips_by_id_fd, &v2.id, &(struct ebb_vip_entry){}, BPF_ANY);
	ASSERT_EQ(send_tcp(VIP2, 3000, TH_ACK, mac), XDP_PASS, nm(n, "no copy: passed"));
	ebb_vips_by_id_sync(&e);
	ASSERT_EQ(send_tcp(VIP2, 3000, TH_ACK, mac), XDP_TX, nm(n, "copies rebuilt from vips: forwarded"));
	ASSERT_MEM_EQ(mac, MAC_C, 6, nm(n, "... to C"));
	/* Where two VIPs share a slot (ASK), `vips` is asked: VIP2 without a copy is still found. */
	{
		struct ebb_vip_slots slots;
		__u32 zero = 0, sl = ebb_vip_slot(k2.addr, k2.port, k2.proto, k2.family);

		ASSERT_OK(bpf_map_lookup_elem(e.vip_slots_fd, &zero, &slots), nm(n, "vip_slots read"));
		ASSERT_EQ(slots.slot[sl], v2.id + 1, nm(n, "VIP2's slot holds its id + 1"));
		slots.slot[sl] = EBB_VIP_SLOT_ASK;
		bpf_map_update_elem(e.vip_slots_fd, &zero, &slots, BPF_ANY);
		bpf_map_update_elem(e.vips_by_id_fd, &v2.id, &(struct ebb_vip_entry){}, BPF_ANY);
		ASSERT_EQ(send_tcp(VIP2, 3001, TH_SYN, mac), XDP_TX, nm(n, "ASK slot: a new flow classified by vips"));
		ASSERT_MEM_EQ(mac, MAC_C, 6, nm(n, "... to C"));
		ebb_vips_by_id_sync(&e);
	}
	/* Two real VIPs in one slot: sync marks it ASK, and each still gets its new flows. */
	{
		struct ebb_vip_slots slots;
		__u32 zero = 0, sl = ebb_vip_slot(k2.addr, k2.port, k2.proto, k2.family);
		struct ebb_vip_key twin = k2;
		char name[64];

		/* the port alone moves the slot one-to-one (16 bits of 16): another address too */
		for (__u32 a = 1, found = 0; a < 256 && !found; a++)
			for (__u32 p = 1; p < 65536 && !found; p++) {
				twin.addr[0] = k2.addr[0] ^ htonl(a);
				twin.port = htons((__u16)p);
				found = ebb_vip_slot(twin.addr, twin.port, twin.proto, twin.family) == sl;
			}
		ebb_fmt_vip(&twin, name, sizeof(name));
		if (ASSERT_OK(vip_add(name), nm(n, "a VIP of VIP2's slot added (%s)", name))) {
			ASSERT_OK(bpf_map_lookup_elem(e.vip_slots_fd, &zero, &slots), nm(n, "vip_slots read"));
			ASSERT_EQ(slots.slot[sl], EBB_VIP_SLOT_ASK, nm(n, "the shared slot says ASK"));
			ASSERT_EQ(send_tcp(VIP2, 3002, TH_SYN, mac), XDP_TX, nm(n, "VIP2 still takes new flows"));
			ASSERT_MEM_EQ(mac, MAC_C, 6, nm(n, "... to C"));
			vip_del(name, true);
			ASSERT_OK(bpf_map_lookup_elem(e.vip_slots_fd, &zero, &slots), nm(n, "vip_slots read"));
			ASSERT_EQ(slots.slot[sl], v2.id + 1, nm(n, "its twin gone: the slot is VIP2's again"));
		}
	}
	ebb_vips_by_id_sync(&e);
	ASSERT_OK(bpf_map_lookup_elem(e.vips_by_id_fd, &v2.id, &ent), nm(n, "sync"));
	ASSERT_MEM_EQ(&ent, &saved, sizeof(ent), nm(n, "sync rebuilt the copy from vips"));

	/* vip del clears the copy; its flow, put back as a crash would leave it, is not ours. */
	ASSERT_OK(flow_get(&fk, &f), nm(n, "the flow's entry"));
	ASSERT_OK(vip_del(VIP2_K, true), nm(n, "vip del VIP2"));
	ASSERT_OK(bpf_map_lookup_elem(e.vips_by_id_fd, &v2.id, &ent), nm(n, "its slot"));
	ASSERT_EQ(ent.key.family, 0, nm(n, "vip del cleared the copy"));
	ASSERT_OK(flow_put(&fk, &f), nm(n, "the flow put back"));
	ASSERT_EQ(send_tcp(VIP2, 3000, TH_ACK, mac), XDP_PASS, nm(n, "its ACK: VIP2 is gone, passed"));
	if (!ASSERT_OK(vip_add(VIP3_K), nm(n, "VIP3 added")) ||
	    !ASSERT_OK(ebb_vip_find(&e, &k3, &v3), nm(n, "VIP3's id")))
		goto out;
	ASSERT_EQ(v3.id, v2.id, nm(n, "VIP3 has the id VIP2 had"));
	ASSERT_EQ(send_tcp(VIP2, 3000, TH_ACK, mac), XDP_PASS,
		  nm(n, "VIP2's flow is not VIP3's: still passed"));
	vip_del(VIP3_K, true);
out:
	flow_del(&fk);
	for (__u16 p = 3001; p <= 3002; p++) {
		struct ebb_flow_key other = flow_key4(CLIENT, p, VIP2, 80, IPPROTO_TCP);

		flow_del(&other);
	}
}

/* A flow of a deleted VIP (left behind: a crash mid-delete, an older ebbctl) is not counted,
 * shown or purged as a flow of the VIP that got its id. */
static void test_flow_identity(void)
{
	const char *n = "identity";
	struct ebb_vip_key k2 = vkey(VIP2_K), k3 = vkey(VIP3_K);
	struct ebb_flow_key fk = flow_key4(CLIENT, 2000, VIP2, 80, IPPROTO_TCP);
	struct ebb_vip v2, v3;
	__u64 *per_vip = calloc(EBB_MAX_VIPS, sizeof(*per_vip));
	__u64 *per_node = calloc(EBB_MAX_NODES, sizeof(*per_node));
	struct ebb_flow f;
	uint8_t mac[6];

	if (!per_vip || !per_node)
		abort();
	if (!ASSERT_OK(vip_add(VIP2_K) || node_add(NODE_C, VIP2_K, MAC_C), nm(n, "VIP2 with node C")) ||
	    !ASSERT_OK(ebb_vip_find(&e, &k2, &v2), nm(n, "VIP2's id")))
		goto out;
	ASSERT_EQ(send_tcp(VIP2, 2000, TH_SYN, mac), XDP_TX, nm(n, "a SYN to VIP2 is pinned"));
	if (!ASSERT_OK(flow_get(&fk, &f), nm(n, "its flow entry")))
		goto out;
	ASSERT_EQ(f.vip_id, v2.id, nm(n, "the entry records VIP2's id"));
	ASSERT_TRUE(ebb_flow_of_vip(&fk, &f, &k2, &v2), nm(n, "ebb_flow_of_vip: the flow is VIP2's"));
	ASSERT_OK(ebb_live_flows_per_vip(&e, per_vip), nm(n, "live flows per VIP, one walk"));
	ASSERT_EQ(per_vip[v2.id], 1, nm(n, "VIP2 has 1 live flow"));

	/* VIP2 vanishes as a crash mid-delete would leave it: only its map entries. */
	ASSERT_OK(bpf_map_delete_elem(e.vips_fd, &k2), nm(n, "VIP2's entry deleted, its flow left"));
	if (!ASSERT_OK(vip_add(VIP3_K), nm(n, "VIP3 added")) ||
	    !ASSERT_OK(ebb_vip_find(&e, &k3, &v3), nm(n, "VIP3's id")))
		goto out;
	ASSERT_EQ(v3.id, v2.id, nm(n, "VIP3 got the id VIP2 had"));
	ASSERT_TRUE(!ebb_flow_of_vip(&fk, &f, &k3, &v3), nm(n, "ebb_flow_of_vip: VIP2's flow is not VIP3's"));
	ASSERT_OK(ebb_live_flows_per_vip(&e, per_vip), nm(n, "live flows per VIP again"));
	ASSERT_EQ(per_vip[v3.id], 0, nm(n, "VIP3 has no live flow"));
	ASSERT_OK(ebb_live_flows(&e, per_node, &v3.id), nm(n, "live flows of VIP3 per node"));
	ASSERT_EQ(per_node[node_id_of_addr(NODE_C)], 0, nm(n, "... none on C"));
	ASSERT_EQ(ebb_flows_purge_vip(&e, &k3, &v3), 0, nm(n, "purging VIP3's flows purges nothing"));
	ASSERT_OK(flow_get(&fk, &f), nm(n, "VIP2's flow is still there"));
	ASSERT_EQ(ebb_flows_purge_vip(&e, &k2, &v2), 1, nm(n, "purging the deleted VIP2's flows takes it"));
	vip_del(VIP3_K, true);
out:
	free(per_vip);
	free(per_node);
}

/* ebbd walks the table itself when the census cannot list a draining node's flows (more than
 * EBB_CENSUS_KEYS): the walk must give each flow once, with its node and VIP, from both tables. */
struct walk_seen {
	int v4, v6, other;
	__u32 node, vip;
	bool bad_field;
};

static void walk_count(const struct ebb_flow_key *k, const struct ebb_flow *f, void *ctx)
{
	struct walk_seen *s = ctx;

	if (k->family == EBB_FAMILY_V4 && ntohs(k->sport) >= 4000 && ntohs(k->sport) < 4100)
		s->v4++;
	else if (k->family == EBB_FAMILY_V6 && k->sport == htons(4200))
		s->v6++;
	else
		s->other++;
	if (f->node_id != s->node || f->vip_id != s->vip)
		s->bad_field = true;
}

static void test_flows_walk(void)
{
	const char *n = "walk";
	struct walk_seen seen = {};
	struct ebb_walk w = {};
	struct ebb_flow f = {};
	struct ebb_flow_key k6 = {};
	int ret;

	flow_clear_all();
	if (!ASSERT_OK(vip_add(VIP1_K) || node_add(NODE_A, VIP1_K, MAC_A), nm(n, "VIP1 with node A")))
		goto out;
	seen.node = node_id_of_addr(NODE_A);
	seen.vip = vip_id_of(VIP1_K);
	for (__u16 p = 4000; p < 4100; p++) {
		uint8_t mac[6];

		if (!ASSERT_EQ(send_tcp(VIP1, p, TH_SYN, mac), XDP_TX, nm(n, "SYN from port %u pinned", p)))
			goto out;
	}
	/* an IPv6 flow as flows6 holds it (the VIP is IPv4: only the walk reads it here) */
	k6.family = EBB_FAMILY_V6;
	k6.proto = IPPROTO_TCP;
	k6.src[0] = htonl(0x20010db8);
	k6.dst[0] = htonl(0x20010db8);
	k6.dst[3] = htonl(1);
	k6.sport = htons(4200);
	k6.dport = htons(80);
	f.node_id = seen.node;
	f.vip_id = seen.vip;
	f.seen = ebb_seen_tick(ebb_now_ns());
	ASSERT_OK(flow_put(&k6, &f), nm(n, "an IPv6 flow put into flows6"));
	ret = ebb_flows_walk(&e, &w, 1, walk_count, &seen);
	ASSERT_EQ(ret, 1, nm(n, "the walk ends in one call, even with a 1 ns budget"));
	ASSERT_EQ(seen.v4, 100, nm(n, "each of the 100 IPv4 flows once"));
	ASSERT_EQ(seen.v6, 1, nm(n, "the IPv6 flow once"));
	ASSERT_EQ(seen.other, 0, nm(n, "no other flow"));
	ASSERT_TRUE(!seen.bad_field, nm(n, "every flow with node A and VIP1's id"));
	ASSERT_EQ(w.visited, 101, nm(n, "visited counts them"));
	ASSERT_TRUE(!w.started, nm(n, "the walk is not left half-way"));
out:
	ebb_walk_free(&w);
	flow_clear_all();
	vip_del(VIP1_K, true);
}

/* Reads ring ring_id whole into t (EBB_RING_SIZE slots). */
static int read_ring(__u32 ring_id, __u32 *t)
{
	return ebb_ring_read(&e, ring_id, t);
}

static __u32 node_id_of_addr(const char *addr)
{
	struct ebb_addr a;
	__u32 id = 0;

	if (ebb_parse_addr(addr, &a, NULL) || ebb_node_find(&e, &a, &id, NULL))
		return 0;
	return id;
}

/* A drain whose new-flow table cannot be built (its Maglev allocation fails) fails whole. */
static void test_ring_alloc_failure(void)
{
	const char *n = "alloc failure";
	__u32 *new0 = calloc(EBB_RING_SIZE, 4), *sec0 = calloc(EBB_RING_SIZE, 4);
	__u32 *new1 = calloc(EBB_RING_SIZE, 4), *sec1 = calloc(EBB_RING_SIZE, 4);
	struct ebb_vip_key k = vkey(VIP1_K);
	struct ebb_err err = {};
	struct ebb_node node;
	struct ebb_addr b;
	struct ebb_vip v;
	__u32 id;
	int ret;

	if (!new0 || !sec0 || !new1 || !sec1)
		abort();
	if (!ASSERT_OK(vip_add(VIP1_K) || node_add(NODE_A, VIP1_K, MAC_A) || node_add(NODE_B, VIP1_K, MAC_B),
		       nm(n, "VIP1 with A and B, both active")) ||
	    !ASSERT_OK(ebb_vip_find(&e, &k, &v), nm(n, "VIP1's id")))
		goto out;
	ASSERT_OK(read_ring(EBB_RING_NEW(v.id), new0) || read_ring(EBB_RING_SECOND(v.id), sec0),
		  nm(n, "both tables read"));
	ebb_parse_addr(NODE_B, &b, NULL);
	/* Draining B: the second-chance table (A, B) is built first, then the new-flow table
	 * (A alone), whose Maglev build allocates for one node: that allocation fails. */
	fail_n = 1;
	fail_size = sizeof(struct ebb_maglev_node);
	fail_armed = true;
	fail_hit = false;
	ret = ebb_node_set_state(&e, &b, EBB_NODE_DRAINING, 0, &err);
	fail_armed = false;
	ASSERT_TRUE(fail_hit, nm(n, "the injected allocation failure happened"));
	if (!ASSERT_TRUE(ret != 0, nm(n, "node drain B fails")))
		printf("#   it returned 0: a table built from the wrong nodes was taken as the new one\n");
	else
		printf("# Error: %s\n", err.msg);
	ASSERT_OK(ebb_node_find(&e, &b, &id, &node), nm(n, "B still there"));
	ASSERT_EQ(node.state, EBB_NODE_ACTIVE, nm(n, "B is still active"));
	ASSERT_OK(ebb_vip_find(&e, &k, &v), nm(n, "VIP1 read again"));
	ASSERT_EQ(v.has_draining, 0, nm(n, "VIP1 says no node drains"));
	ASSERT_OK(read_ring(EBB_RING_NEW(v.id), new1) || read_ring(EBB_RING_SECOND(v.id), sec1),
		  nm(n, "both tables read again"));
	ASSERT_TRUE(!memcmp(new0, new1, EBB_RING_SIZE * 4), nm(n, "the new-flow table is as it was"));
	ASSERT_TRUE(!memcmp(sec0, sec1, EBB_RING_SIZE * 4), nm(n, "the second-chance table is as it was"));
	/* Without the failure the same drain works and B leaves the new-flow table. */
	ASSERT_OK(ebb_node_set_state(&e, &b, EBB_NODE_DRAINING, 0, &err), nm(n, "node drain B, again: done"));
	ASSERT_OK(read_ring(EBB_RING_NEW(v.id), new1), nm(n, "new-flow table read"));
	ret = 0;
	for (__u32 i = 0; i < EBB_RING_SIZE; i++)
		ret += new1[i] == id;
	ASSERT_EQ(ret, 0, nm(n, "draining B has no slot in the new-flow table"));
	vip_del(VIP1_K, true);
out:
	free(new0);
	free(sec0);
	free(new1);
	free(sec1);
}

/* ---- the walks in place, against a callback over ebb_flows_each ---- */
#define WALK_VIPX_K "203.0.113.40:80/tcp"
#define WALK_VIPX "203.0.113.40"
#define WALK_VIP4_K "203.0.113.50:80/tcp"

struct walk_ref {
	struct ebb_vip_key keys[EBB_MAX_VIPS];
	struct ebb_vip vips[EBB_MAX_VIPS];
	bool used[EBB_MAX_VIPS];
	__u64 node[EBB_MAX_NODES], vip[EBB_MAX_VIPS], node_of_vip[EBB_MAX_NODES];
	__u32 of_vip;
	__u64 now;
	/* ebb_flows_each's flows of node sel_node / VIP id sel_vip, in its order */
	__u32 sel_node, sel_vip;
	struct ebb_flow_entry by_node[256], by_vip[256];
	int n_by_node, n_by_vip;
};

static int walk_ref_one(const struct ebb_flow_entry *f, void *arg)
{
	struct walk_ref *r = arg;
	__u32 id = f->val.vip_id;
	const struct ebb_vip *v = NULL;

	if (f->val.node_id == r->sel_node && r->n_by_node < 256)
		r->by_node[r->n_by_node++] = *f;
	if (f->val.vip_id == r->sel_vip && r->n_by_vip < 256)
		r->by_vip[r->n_by_vip++] = *f;
	if (id < EBB_MAX_VIPS && r->used[id] && ebb_flow_of_vip(&f->key, &f->val, &r->keys[id], &r->vips[id]))
		v = &r->vips[id];
	if (!ebb_flow_live(&f->key, &f->val, v, r->now))
		return 0;
	if (f->val.node_id < EBB_MAX_NODES)
		r->node[f->val.node_id]++;
	if (v)
		r->vip[v->id]++;
	if (v && v->id == r->of_vip && f->val.node_id < EBB_MAX_NODES)
		r->node_of_vip[f->val.node_id]++;
	return 0;
}

struct walk_got {
	struct ebb_flow_entry f[256];
	int n;
};

static int walk_got_one(const struct ebb_flow_entry *f, void *arg)
{
	struct walk_got *g = arg;

	if (g->n < 256)
		g->f[g->n] = *f;
	g->n++;
	return 0;
}

/* The same flows in the same order (their `seen` aside: each walk reads its own clock). */
static bool same_flows(const struct ebb_flow_entry *a, int na, const struct ebb_flow_entry *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (memcmp(&a[i].key, &b[i].key, sizeof(a[i].key)) || a[i].word != b[i].word ||
		    a[i].slot != b[i].slot || a[i].val.node_id != b[i].val.node_id ||
		    a[i].val.vip_id != b[i].val.vip_id || a[i].val.flags != b[i].val.flags)
			return false;
	return true;
}

static void test_walks(void)
{
	const char *n = "walks";
	struct walk_ref *r = calloc(1, sizeof(*r));
	struct walk_got *got = calloc(1, sizeof(*got));
	__u64 *node = calloc(EBB_MAX_NODES, sizeof(*node)), *vip = calloc(EBB_MAX_VIPS, sizeof(*vip));
	struct ebb_vip_key k1 = vkey(VIP1_K), k2 = vkey(VIP2_K), kx = vkey(WALK_VIPX_K), k4 = vkey(WALK_VIP4_K);
	struct ebb_vip_opts short_idle = { .fwd = EBB_FWD_DSR, .tcp_idle_s = 10 };
	struct ebb_vip v1, v2, vx, v4;
	struct ebb_err err = {};
	__u32 tick = ebb_ft_tick_of_ns(ebb_now_ns()), a, b, c;
	int pinned = 0, changed = 0;
	uint8_t mac[6];

	if (!r || !node || !vip || !got)
		abort();
	if (!ASSERT_OK(vip_add(VIP1_K) || node_add(NODE_A, VIP1_K, MAC_A) || node_add(NODE_B, VIP1_K, MAC_B),
		       nm(n, "VIP1 with nodes A and B")) ||
	    !ASSERT_OK(ebb_vip_add(&e, &k2, &short_idle, &err) || node_add(NODE_C, VIP2_K, MAC_C),
		       nm(n, "VIP2 (TCP idle 10 s) with node C")) ||
	    !ASSERT_OK(vip_add(WALK_VIPX_K) || node_add(NODE_A, WALK_VIPX_K, MAC_A), nm(n, "VIP X with node A")))
		goto out;
	ebb_vip_find(&e, &k1, &v1);
	ebb_vip_find(&e, &k2, &v2);
	ebb_vip_find(&e, &kx, &vx);
	a = node_id_of_addr(NODE_A);
	b = node_id_of_addr(NODE_B);
	c = node_id_of_addr(NODE_C);
	/* 100 flows to each of VIP1 and VIP2 (sport 5000..5099), 10 to VIP X, through the datapath */
	for (__u16 p = 5000; p < 5100; p++)
		pinned += (send_tcp(VIP1, p, TH_SYN, mac) == XDP_TX) + (send_tcp(VIP2, p, TH_SYN, mac) == XDP_TX);
	for (__u16 p = 5000; p < 5010; p++)
		pinned += send_tcp(WALK_VIPX, p, TH_SYN, mac) == XDP_TX;
	if (!ASSERT_EQ(pinned, 210, nm(n, "210 SYNs forwarded and pinned")))
		goto out;
	/* by sport % 10: 0, 8, 9 as pinned; 1: 20 ticks quiet (idle for VIP2 only); 2: FIN, 20
	 * ticks quiet (closed); 3: RST; 4: unconfirmed; 5: its key word changed (it no longer
	 * hashes back: no flow); 6: node 2000 (past the counts); 7: VIP id 60 (no VIP has it) */
	for (int v = 0; v < 2; v++)
		for (__u16 p = 5000; p < 5100; p++) {
			struct ebb_flow_key fk =
				flow_key4(CLIENT, p, v ? VIP2 : VIP1, 80, IPPROTO_TCP);
			__u64 w, nw, *slot = flow_slot4(&fk, &w);
			size_t at;

			if (!slot)
				continue;
			at = (size_t)((char *)slot - (char *)ft_table);
			switch (p % 10) {
			case 1: nw = ebb_ft_with(w, 0, tick - 20); break;
			case 2: nw = ebb_ft_with(w, EBB_FLOW_FIN, tick - 20); break;
			case 3: nw = ebb_ft_with(w, EBB_FLOW_RST, tick); break;
			case 4: nw = ebb_ft_with(w, EBB_FLOW_UNCONFIRMED, tick); break;
			case 5:
				ft_table[at / 128].key[at % 128 / 8].word ^= 0x10000ULL << 32;
				nw = w;
				break;
			case 6: nw = ebb_ft_replace(w, ebb_ft_vip(w), 2000, 0, tick); break;
			case 7: nw = ebb_ft_replace(w, 60, ebb_ft_node(w), 0, tick); break;
			default: nw = w; break;
			}
			changed += ebb_ft_cas(slot, w, nw);
		}
	ASSERT_EQ(changed, 200, nm(n, "the 200 entries found and set"));
	/* two IPv6 flows (flows6): one on A for VIP1's id, one on C for VIP2's; no IPv6 VIP owns
	 * them, so they count per node (default timeouts) and for no VIP */
	{
		struct ebb_flow_key k6 = { .family = EBB_FAMILY_V6, .proto = IPPROTO_TCP,
					   .sport = htons(6000), .dport = htons(80) };

		k6.src[0] = htonl(0x20010db8);
		k6.dst[0] = htonl(0x20010db8);
		k6.dst[3] = htonl(1);
		ASSERT_OK(flow_put(&k6, &(struct ebb_flow){ .node_id = a, .vip_id = v1.id, .seen = tick }),
			  nm(n, "an IPv6 flow on A"));
		k6.sport = htons(6001);
		ASSERT_OK(flow_put(&k6, &(struct ebb_flow){ .node_id = c, .vip_id = v2.id, .seen = tick }),
			  nm(n, "an IPv6 flow on C"));
	}
	/* VIP X vanishes as a crash mid-delete leaves it; VIP 4 takes its id */
	ASSERT_OK(bpf_map_delete_elem(e.vips_fd, &kx), nm(n, "VIP X's entry deleted, its 10 flows left"));
	if (!ASSERT_OK(vip_add(WALK_VIP4_K) || ebb_vip_find(&e, &k4, &v4), nm(n, "VIP 4 added")))
		goto out;
	ASSERT_EQ(v4.id, vx.id, nm(n, "VIP 4 has VIP X's id"));
	ASSERT_OK(node_add(NODE_A, WALK_VIP4_K, MAC_A), nm(n, "node A serves VIP 4"));

	{
		struct ebb_vip_key k, *prev = NULL;
		struct ebb_vip v;

		while (!bpf_map_get_next_key(e.vips_fd, prev, &k)) {
			prev = &k;
			if (!bpf_map_lookup_elem(e.vips_fd, &k, &v) && v.id < EBB_MAX_VIPS) {
				r->keys[v.id] = k;
				r->vips[v.id] = v;
				r->used[v.id] = true;
			}
		}
	}
	r->of_vip = v1.id;
	r->sel_node = a;
	r->sel_vip = v2.id;
	r->now = ebb_now_ns();
	ASSERT_OK(ebb_flows_each(&e, walk_ref_one, r), nm(n, "the reference: a callback over ebb_flows_each"));
	ASSERT_OK(ebb_live_flows(&e, node, NULL), nm(n, "ebb_live_flows"));
	ASSERT_MEM_EQ(node, r->node, EBB_MAX_NODES * sizeof(*node), nm(n, "live per node: the reference's"));
	ASSERT_EQ(node[a] + node[b], 41, nm(n, "... 41 on A and B: VIP1's (sport mod 10: 0, 1, 8, 9), 1 IPv6"));
	ASSERT_EQ(node[c], 31, nm(n, "... 31 on C: VIP2's (0, 8, 9: 20 ticks is idle for VIP2), 1 IPv6"));
	ASSERT_OK(ebb_live_flows(&e, node, &v1.id), nm(n, "ebb_live_flows of VIP1"));
	ASSERT_MEM_EQ(node, r->node_of_vip, EBB_MAX_NODES * sizeof(*node), nm(n, "... the reference's"));
	ASSERT_EQ(node[c], 0, nm(n, "... none on C"));
	ASSERT_OK(ebb_live_flows(&e, node, &v4.id), nm(n, "ebb_live_flows of VIP 4"));
	ASSERT_EQ(node[a], 0, nm(n, "... none: VIP X's flows on A are not VIP 4's"));
	ASSERT_OK(ebb_live_flows_per_vip(&e, vip), nm(n, "ebb_live_flows_per_vip"));
	ASSERT_MEM_EQ(vip, r->vip, EBB_MAX_VIPS * sizeof(*vip), nm(n, "live per VIP: the reference's"));
	ASSERT_EQ(vip[v1.id], 50, nm(n, "... VIP1: 50 (node 2000's counted for its VIP)"));
	ASSERT_EQ(vip[v2.id], 40, nm(n, "... VIP2: 40"));
	ASSERT_EQ(vip[v4.id], 0, nm(n, "... VIP 4: 0"));

	ASSERT_OK(ebb_flows_each_of(&e, &(struct ebb_flows_filter){ .node_id = a }, walk_got_one, got),
		  nm(n, "ebb_flows_each_of node A"));
	ASSERT_TRUE(r->n_by_node > 0 && same_flows(got->f, got->n, r->by_node, r->n_by_node),
		    nm(n, "... ebb_flows_each's flows of A, in its order"));
	got->n = 0;
	ASSERT_OK(ebb_flows_each_of(&e, &(struct ebb_flows_filter){ .by_vip = true, .vip_id = v2.id },
				    walk_got_one, got), nm(n, "ebb_flows_each_of VIP2"));
	ASSERT_TRUE(r->n_by_vip == 81 && same_flows(got->f, got->n, r->by_vip, r->n_by_vip),
		    nm(n, "... ebb_flows_each's 81 flows of VIP2's id (not 5, 7; 1 IPv6), in its order"));
	got->n = 0;
	ASSERT_OK(ebb_flows_each_of(&e, &(struct ebb_flows_filter){ .node_id = c, .by_vip = true,
								      .vip_id = v1.id }, walk_got_one, got),
		  nm(n, "ebb_flows_each_of node C, VIP1"));
	ASSERT_EQ(got->n, 0, nm(n, "... none: C serves VIP2 only"));
out:
	for (__u16 p = 6000; p <= 6001; p++) {
		struct ebb_flow_key k6 = { .family = EBB_FAMILY_V6, .proto = IPPROTO_TCP,
					   .sport = htons(p), .dport = htons(80) };

		k6.src[0] = htonl(0x20010db8);
		k6.dst[0] = htonl(0x20010db8);
		k6.dst[3] = htonl(1);
		flow_del(&k6);
	}
	vip_del(VIP1_K, true);
	vip_del(VIP2_K, true);
	vip_del(WALK_VIP4_K, true);
	ebb_flows_purge_vip(&e, &kx, &vx);
	free(r);
	free(got);
	free(node);
	free(vip);
}

int main(void)
{
	if (!suite_start("libebb"))
		return 0;
	if (balancer_setup()) {
		test_from_object_fds();
		test_flow_maps_size();
		test_vip_del_purges();
		test_flow_identity();
		test_vips_by_id();
		test_ring_alloc_failure();
		test_walks();
		test_flows_walk();
	}
	balancer_teardown();
	return test_summary("libebb");
}
