// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The product's flow table under both CPUs at once (issue 16: "both CPUs inserting, refreshing
 * and evicting in the same buckets at once never yield a wrong node for a live flow").
 *
 * The balancer is loaded with a flow table of 2 buckets (16 ways) and 64 flows of one VIP, so
 * that every SYN pins over another flow (eviction), ACKs hit and refresh, RSTs mark an entry
 * and the next SYN places it again: every change a CAS of one word. One thread per CPU, pinned
 * to it, runs the flows' packets through BPF_PROG_TEST_RUN in random order. Every packet must
 * go to its flow's node: the new-flow table's node for its slot, which every path (a hit, a
 * pin, a re-placement, the second chance over the same nodes) agrees on. A word made of two
 * writes would carry one flow's fingerprint and another placement's node: with 3 nodes, 2 in
 * 3 such words name a wrong node, and every packet's node is checked. Built with every CAS
 * torn in two halves (include/ebb_flowtable.h, EBB_FT_TORN), it fails:
 *   make OUTPUT=/tmp/torn EXTRA_CFLAGS=-DEBB_FT_TORN /tmp/torn/tests/test_flowrace
 *   /tmp/torn/tests/test_flowrace     # "no packet sent to another node": got 1..7
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>

#define FIXTURE_BALANCER
#include "fixture.h"
#include "ebb_hash.h"

#define VIP "203.0.113.10"
#define VIP_K "203.0.113.10:80/tcp"
#define CLIENT "198.51.100.250"
#define NFLOWS 64
#define OPS 300000

static const char *const node_addr[3] = { "198.51.100.11", "198.51.100.12", "198.51.100.13" };
static const uint8_t node_mac[3][6] = { { 0x02, 0, 0, 0, 0, 0x11 },
					{ 0x02, 0, 0, 0, 0, 0x12 },
					{ 0x02, 0, 0, 0, 0, 0x13 } };
static __u32 node_id[3];

enum { P_SYN, P_ACK, P_RST, P_KINDS };

struct flow {
	struct ebb_flow_key key;
	const uint8_t *mac; /* its node's */
	uint8_t frame[P_KINDS][PKT_MAX];
	size_t len[P_KINDS];
};
static struct flow flows[NFLOWS];

struct worker {
	pthread_t t;
	int cpu;
	bool pinned;
	long runs, errors, wrong, not_tx;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	__u64 x = 0x9e3779b97f4a7c15ULL ^ (__u64)(w->cpu + 1) * 0xbf58476d1ce4e5b9ULL;
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(w->cpu, &one);
	w->pinned = !sched_setaffinity(0, sizeof(one), &one);
	for (long i = 0; i < OPS; i++) {
		uint8_t out[PKT_MAX + 64];
		size_t out_len = 0;
		__u32 verdict = ~0u, r, kind;
		struct flow *f;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = (__u32)x;
		f = &flows[r % NFLOWS];
		kind = (r >> 8) % 8; /* 3 SYN : 4 ACK : 1 RST */
		kind = kind < 3 ? P_SYN : kind < 7 ? P_ACK : P_RST;
		if (prog_run(prog_fd, f->frame[kind], f->len[kind], out, sizeof(out), &out_len,
			     &verdict)) {
			w->errors++;
			continue;
		}
		w->runs++;
		if (verdict != XDP_TX || out_len < 6)
			w->not_tx++;
		else if (memcmp(out, f->mac, 6))
			w->wrong++;
	}
	return NULL;
}

static bool setup(void)
{
	struct ebb_err err = {};
	struct ebb_settings set;
	struct ebb_vip_key vk;
	__u32 zero = 0, vip;

	skel = balancer_bpf__open();
	if (!ASSERT_TRUE(skel != NULL, "setup: open the balancer skeleton"))
		return false;
	unpin_maps(skel->obj);
	/* 2 buckets: 16 ways for 64 flows */
	bpf_map__set_max_entries(skel->maps.flows, 2);
	bpf_map__set_max_entries(skel->maps.flows6, 1024);
	if (!ASSERT_OK(balancer_bpf__load(skel), "setup: load the balancer with a 2-bucket table"))
		return false;
	prog_fd = bpf_program__fd(skel->progs.ebb_balancer);
	if (!ASSERT_OK(ebb_from_object(&e, skel->obj, &err), "setup: ebb_from_object"))
		return false;
	have_e = true;
	if (!ASSERT_TRUE(flow_tables_open() && ft_nbuckets == 2, "setup: the table mapped, 2 buckets"))
		return false;
	/* every SYN pinned: the flood guard would keep most out of the table */
	if (bpf_map_lookup_elem(e.settings_fd, &zero, &set))
		return false;
	set.flood_rate = 0;
	ASSERT_OK(bpf_map_update_elem(e.settings_fd, &zero, &set, BPF_ANY), "setup: flood guard off");
	if (ebb_parse_vip(VIP_K, &vk, NULL))
		abort();
	if (!ASSERT_OK(ebb_vip_add(&e, &vk, &(struct ebb_vip_opts){ .fwd = EBB_FWD_DSR }, &err),
		       "setup: vip add"))
		return false;
	for (int i = 0; i < 3; i++)
		if (!ASSERT_OK(add_node(node_addr[i], VIP_K, node_mac[i], false, &node_id[i], &err),
			       nm("setup", "node add %s", node_addr[i])))
			return false;
	vip = vip_id_of(VIP_K);
	for (int i = 0; i < NFLOWS; i++) {
		struct flow *f = &flows[i];
		__u32 want;

		for (int k = 0; k < P_KINDS; k++) {
			struct pkt_desc d = { TCP4(CLIENT, (uint16_t)(30000 + i), VIP, 80,
						   k == P_SYN ? TH_SYN : k == P_ACK ? TH_ACK :
									TH_ACK | TH_RST) };
			struct pkt_layout lay = build_frame(&d, LB_MAC, GW_MAC, f->frame[k]);

			f->len[k] = lay.len;
		}
		memset(&f->key, 0, sizeof(f->key));
		f->key.family = EBB_FAMILY_V4;
		f->key.proto = IPPROTO_TCP;
		inet_pton(AF_INET, CLIENT, &f->key.src[0]);
		inet_pton(AF_INET, VIP, &f->key.dst[0]);
		f->key.sport = htons((uint16_t)(30000 + i));
		f->key.dport = htons(80);
		want = ring_node(EBB_RING_NEW(vip), ebb_ring_slot(&f->key));
		f->mac = NULL;
		for (int n = 0; n < 3; n++)
			if (node_id[n] == want)
				f->mac = node_mac[n];
		if (!f->mac)
			return ASSERT_TRUE(false, nm("setup", "flow %d has a node", i));
	}
	return true;
}

int main(void)
{
	struct worker w[2] = { { .cpu = 0 }, { .cpu = 1 } };
	long runs = 0, errors = 0, wrong = 0, not_tx = 0, stale = 0, entries = 0;
	int ncpu = libbpf_num_possible_cpus();

	if (!suite_start("flowrace"))
		return 0;
	if (setup()) {
		bool fps_distinct = true;

		/* two flows of one fingerprint would be the false hit the design allows, not a
		 * race: these 64 must not have one */
		for (int i = 0; i < NFLOWS; i++)
			for (int j = 0; j < i; j++)
				fps_distinct &= ebb_ft_where_key(&flows[i].key, 2).fp !=
						ebb_ft_where_key(&flows[j].key, 2).fp;
		ASSERT_TRUE(fps_distinct, "the 64 flows have 64 fingerprints");
		for (int i = 0; i < 2; i++) {
			w[i].cpu = ncpu > 1 ? i : 0;
			pthread_create(&w[i].t, NULL, work, &w[i]);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(w[i].t, NULL);
			runs += w[i].runs;
			errors += w[i].errors;
			wrong += w[i].wrong;
			not_tx += w[i].not_tx;
		}
		ASSERT_TRUE(ncpu > 1 && w[0].pinned && w[1].pinned,
			    "one thread pinned to each of 2 CPUs");
		ASSERT_EQ(errors, 0, "every BPF_PROG_TEST_RUN ran");
		ASSERT_EQ(runs, 2L * OPS, nm("race", "%d packets run on 2 CPUs", 2 * OPS));
		ASSERT_EQ(not_tx, 0, "every packet forwarded (XDP_TX)");
		ASSERT_EQ(wrong, 0, nm("race", "no packet sent to another node than its flow's "
					       "(%ld checked)", runs));
		/* what the race left: every entry a flow's, naming that flow's node */
		for (int i = 0; i < NFLOWS; i++) {
			struct ebb_flow f;

			if (flow_get(&flows[i].key, &f))
				continue;
			entries++;
			for (int n = 0; n < 3; n++)
				if (node_id[n] == f.node_id && flows[i].mac != node_mac[n])
					stale++;
		}
		ASSERT_TRUE(entries > 0 && entries <= 16,
			    nm("race", "the table holds %ld of the 64 flows (16 ways)", entries));
		ASSERT_EQ(stale, 0, "every entry left names its flow's node");
		printf("# %ld packets, %ld entries left\n", runs, entries);
	}
	balancer_teardown();
	return test_summary("flowrace");
}
