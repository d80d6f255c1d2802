// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The census (user/lib/census.c) on the real balancer's flow tables (loaded from its skeleton,
 * nothing pinned; the IPv4 bucket table mmapped, entries pinned through include/ebb_flowtable.h
 * or by the datapath itself through BPF_PROG_TEST_RUN):
 *  - flows the datapath pinned are counted per node, and a watched node's are listed with the
 *    whole key (client, ports, VIP address, protocol) rebuilt from the key word;
 *  - each rule of the kernel census it replaced (census.bpf.c), by an entry's age in ticks:
 *    live, ended but kept, cleared; per protocol; UNCONFIRMED and unknown VIPs are no flow; a
 *    VIP timeout past the tick's span is capped at an hour; a tick just ahead of `now` is age 0;
 *  - a watched node's last_end and ended[] (exact, from the ticks);
 *  - a key word that does not hash back to its entry is not listed (a pin in progress);
 *  - a `now` ahead of the clock, or no_clear (ebbd --once), clears nothing; flows6 the same
 *    rules;
 *  - the datapath refreshing entries while censuses clear them: no refreshed entry is cleared;
 *  - a census at 1M entries: counts asserted, its time printed (a diagnostic, not a check:
 *    timing is make bench's).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#include "ebb.h"
#include "libebb.h"
#include "libebb_agent.h"
#include "packets.h"
#include "test.h"
#define FIXTURE_BALANCER
#include "fixture.h"

#define VIP1 "203.0.113.10"
#define VIP1_K "203.0.113.10:80/tcp"
#define VIPU "203.0.113.40"
#define VIPU_K "203.0.113.40:53/udp"
#define VIPL "203.0.113.50"
#define VIPL_K "203.0.113.50:80/tcp" /* its idle timeout: 2 hours, past the tick's span */
#define VIP6 "2001:db8:100::10"
#define VIP6_K "[2001:db8:100::10]:80/tcp"
#define NODE_A "198.51.100.11"
#define NODE_B "198.51.100.12"
#define CLIENT "192.0.2.1"
#define CLIENT6 "2001:db8:200::1"

#define S 1000000000ULL
#define TICK (1ULL << EBB_FT_TICK_SHIFT)
/* The timeouts every case gives the census (VIPL's TCP idle: 2 h). */
#define TCP_IDLE (100 * S)
#define UDP_IDLE (50 * S)
#define FIN (10 * S)

static __u32 id_a, id_b, vip1, vipu, vipl, vip6;

static struct ebb_flow_key key6(__u16 sport)
{
	struct ebb_flow_key k = {};

	pkt_addr(CLIENT6, 6, (uint8_t *)k.src);
	pkt_addr(VIP6, 6, (uint8_t *)k.dst);
	k.sport = htons(sport);
	k.dport = htons(80);
	k.proto = IPPROTO_TCP;
	k.family = EBB_FAMILY_V6;
	return k;
}

/* A TCP packet from CLIENT:sport to dst:80 through the balancer; its verdict. */
static int send_tcp(const char *dst, __u16 sport, uint8_t flags)
{
	const struct pkt_desc d = { TCP4(CLIENT, sport, dst, 80, flags) };

	return (int)balancer_run(&d, NULL);
}

/* The census's inputs: the case timeouts for every VIP id, nobody watched. */
static void census_inputs(struct ebb_census_io *io, __u64 now)
{
	memset(io, 0, sizeof(*io));
	io->now_ns = now;
	for (__u32 i = 0; i < EBB_MAX_VIPS; i++)
		io->vips[i] = (struct ebb_census_vip){ TCP_IDLE, UDP_IDLE, FIN };
	io->vips[vipl].tcp_idle_ns = 7200 * S;
}

/* Pins k to node with flags, seen `age` ticks before now's tick (negative: after). */
static int pin_aged(const struct ebb_flow_key *k, __u32 vip, __u32 node, __u32 flags, int age,
		    __u64 now)
{
	struct ebb_flow f = { .node_id = (__u16)node, .vip_id = (__u8)vip, .flags = (__u8)flags,
			      .seen = (ebb_ft_tick_of_ns(now) - (__u32)age) & EBB_FT_TICK_MASK };

	return flow_put(k, &f);
}

static bool has_flow(const struct ebb_flow_key *k)
{
	struct ebb_flow f;

	return flow_get(k, &f) == 0;
}

/* BPF objects' descriptors of this process without FD_CLOEXEC (ebbd's hooks must not inherit
 * them; the kernel makes every new one close-on-exec, a plain dup() does not). */
static int bpf_fds_without_cloexec(void)
{
	int n = 0;

	for (int fd = 3; fd < 1024; fd++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int flags = fcntl(fd, F_GETFD);

		if (flags >= 0 && !(flags & FD_CLOEXEC) && !bpf_obj_get_info_by_fd(fd, &info, &len))
			n++;
	}
	return n;
}

/* ---- flows the datapath pinned: counted, and a watched node's listed with their keys ---- */
static void datapath_case(void)
{
	const char *n = "datapath";
	struct ebb_census *c = NULL;
	struct ebb_census_io *io;
	struct ebb_census_key keys[64];
	__u64 per_node[EBB_MAX_NODES] = {};
	int ok = 0, listed_right = 0, got;

	flow_clear_all();
	for (__u16 p = 0; p < 40; p++)
		ok += send_tcp(VIP1, (__u16)(40000 + p), TH_SYN) == XDP_TX;
	ASSERT_EQ(ok, 40, nm(n, "40 SYNs to VIP1 forwarded"));
	ASSERT_EQ(flow_count(), 40, nm(n, "... and pinned"));
	for (__u16 p = 0; p < 40; p++) {
		struct ebb_flow_key k = flow_key4(CLIENT, (__u16)(40000 + p), VIP1, 80, IPPROTO_TCP);
		struct ebb_flow f;

		if (!flow_get(&k, &f))
			per_node[f.node_id]++;
	}
	if (!ASSERT_OK(ebb_census_open(&e, &c), nm(n, "open")))
		return;
	ASSERT_TRUE(ebb_census_current(c, &e), nm(n, "current: the table it maps is e's"));
	ASSERT_EQ(bpf_fds_without_cloexec(), 0,
		  nm(n, "every BPF descriptor, the census's own included, is close-on-exec (hooks)"));
	io = ebb_census_io(c);
	census_inputs(io, ebb_now_ns());
	io->watch[id_b] = 1;
	if (ASSERT_OK(ebb_census_run(c), nm(n, "run"))) {
		ASSERT_EQ(io->visited, 40, nm(n, "visited the 40 entries"));
		ASSERT_EQ(io->live_total, 40, nm(n, "40 live"));
		ASSERT_EQ(io->live[id_a], per_node[id_a], nm(n, "A's live flows as the table has them"));
		ASSERT_EQ(io->live[id_b], per_node[id_b], nm(n, "B's live flows as the table has them"));
		ASSERT_TRUE(per_node[id_a] && per_node[id_b], nm(n, "both nodes have some"));
		ASSERT_EQ(io->cleared, 0, nm(n, "nothing cleared"));
		ASSERT_EQ(io->n_keys, per_node[id_b], nm(n, "B's flows listed (B watched, A not)"));
		got = ebb_census_keys(c, keys, 64);
		ASSERT_EQ(got, per_node[id_b], nm(n, "... and read back"));
		for (int i = 0; i < got && i < 64; i++) {
			__u16 p = ntohs(keys[i].key.sport);
			struct ebb_flow_key want = flow_key4(CLIENT, p, VIP1, 80, IPPROTO_TCP);
			struct ebb_flow f;

			listed_right += p >= 40000 && p < 40040 && keys[i].node_id == id_b &&
					!memcmp(&keys[i].key, &want, sizeof(want)) &&
					!ebb_flow_get(&e, &keys[i].key, &f) && f.node_id == id_b;
		}
		ASSERT_EQ(listed_right, per_node[id_b],
			  nm(n, "each key whole (client, ports, VIP, proto), B's, found again by ebb_flow_get"));
	}
	/* the census changed nothing the datapath reads: each flow's ACK goes where its SYN went */
	ok = 0;
	for (__u16 p = 0; p < 40; p++)
		ok += send_tcp(VIP1, (__u16)(40000 + p), TH_ACK) == XDP_TX;
	ASSERT_EQ(ok, 40, nm(n, "the 40 ACKs still forwarded"));
	ASSERT_EQ(flow_count(), 40, nm(n, "... by their 40 entries"));
	ebb_census_close(c);
}

/* ---- each rule, by age in ticks: live, ended and kept, or cleared ---- */
struct rcase {
	const char *what;
	__u32 *vip;
	__u8 proto;
	__u32 flags;
	int age; /* ticks */
	bool live, kept;
};

/*
 * A tick is 1.074 s and an entry t ticks old was seen (t-1)..t ticks ago: live and ended are
 * judged by the least (t-1), clearing by the most (t). The timeouts (TCP 100 s = 93.1 ticks,
 * UDP 50 s = 46.6, FIN 10 s = 9.3) are met or passed whatever the fraction, and clearing waits
 * three ticks more (103.2 s, 53.2 s, 13.2 s: 96.1, 49.6 and 12.3 ticks). Each row's age is one
 * whose verdict holds for any fraction.
 */
static const struct rcase rcases[] = {
	{ "tcp fresh", &vip1, IPPROTO_TCP, 0, 0, true, true },
	{ "tcp 50 ticks", &vip1, IPPROTO_TCP, 0, 50, true, true },
	{ "tcp 93 ticks: live to the end of its tick", &vip1, IPPROTO_TCP, 0, 93, true, true },
	{ "tcp 95 ticks: past idle, kept", &vip1, IPPROTO_TCP, 0, 95, false, true },
	{ "tcp 97 ticks: cleared", &vip1, IPPROTO_TCP, 0, 97, false, false },
	{ "fin 5 ticks", &vip1, IPPROTO_TCP, EBB_FLOW_FIN, 5, true, true },
	{ "fin 9 ticks: live to the end of its tick", &vip1, IPPROTO_TCP, EBB_FLOW_FIN, 9, true, true },
	{ "fin 11 ticks: past FIN, kept", &vip1, IPPROTO_TCP, EBB_FLOW_FIN, 11, false, true },
	{ "fin 20 ticks: cleared", &vip1, IPPROTO_TCP, EBB_FLOW_FIN, 20, false, false },
	{ "rst 2 ticks: ended, kept", &vip1, IPPROTO_TCP, EBB_FLOW_RST, 2, false, true },
	{ "rst 20 ticks: cleared", &vip1, IPPROTO_TCP, EBB_FLOW_RST, 20, false, false },
	{ "unconfirmed fresh: no flow, kept", &vip1, IPPROTO_TCP, EBB_FLOW_UNCONFIRMED, 0, false, true },
	{ "unconfirmed 94 ticks: kept", &vip1, IPPROTO_TCP, EBB_FLOW_UNCONFIRMED, 94, false, true },
	{ "unconfirmed 97 ticks: cleared", &vip1, IPPROTO_TCP, EBB_FLOW_UNCONFIRMED, 97, false, false },
	{ "udp 30 ticks", &vipu, IPPROTO_UDP, 0, 30, true, true },
	{ "udp 46 ticks: live to the end of its tick", &vipu, IPPROTO_UDP, 0, 46, true, true },
	{ "udp 48 ticks: past idle, kept", &vipu, IPPROTO_UDP, 0, 48, false, true },
	{ "udp 60 ticks: cleared", &vipu, IPPROTO_UDP, 0, 60, false, false },
	{ "2 h idle, 3352 ticks (3599 s): live, capped at 1 h", &vipl, IPPROTO_TCP, 0, 3352, true, true },
	{ "2 h idle, 3357 ticks: capped at 1 h, cleared", &vipl, IPPROTO_TCP, 0, 3357, false, false },
	{ "a tick after now: age 0", &vip1, IPPROTO_TCP, 0, -1, true, true },
	{ "63 ticks after now: age 0", &vip1, IPPROTO_TCP, 0, -63, true, true },
	{ "4031 ticks: cleared, not taken for 65 after now", &vip1, IPPROTO_TCP, 0, 4031, false, false },
};
#define N_RCASES (sizeof(rcases) / sizeof(rcases[0]))

static struct ebb_flow_key rcase_key(size_t i)
{
	const struct rcase *r = &rcases[i];
	const char *dst = r->vip == &vipu ? VIPU : r->vip == &vipl ? VIPL : VIP1;

	return flow_key4(CLIENT, (__u16)(20000 + i), dst, r->proto == IPPROTO_UDP ? 53 : 80,
			 r->proto);
}

static void rules_case(void)
{
	const char *n = "rules";
	struct ebb_flow_key unknown = flow_key4(CLIENT, 30000, VIP1, 80, IPPROTO_TCP);
	struct ebb_flow_key unknown_old = flow_key4(CLIENT, 30001, VIP1, 80, IPPROTO_TCP);
	struct ebb_census *c = NULL;
	struct ebb_census_io *io;
	__u64 now = ebb_now_ns(), before[N_RCASES];
	int live = 0, pinned = 0;

	flow_clear_all();
	for (size_t i = 0; i < N_RCASES; i++) {
		struct ebb_flow_key k = rcase_key(i);

		pinned += !pin_aged(&k, *rcases[i].vip, id_a, rcases[i].flags, rcases[i].age, now);
		live += rcases[i].live;
		flow_slot4(&k, &before[i]);
	}
	/* VIP id 40 has no VIP: nobody's flow; cleared by the longer idle timeout (TCP's) */
	pinned += !pin_aged(&unknown, 40, id_a, 0, 0, now);
	pinned += !pin_aged(&unknown_old, 40, id_a, 0, 97, now);
	ASSERT_EQ(pinned, N_RCASES + 2, nm(n, "every case pinned"));
	if (!ASSERT_OK(ebb_census_open(&e, &c), nm(n, "open")))
		return;
	io = ebb_census_io(c);

	/* a `now` 10 minutes ahead of the clock judges every flow ended, and clears none */
	census_inputs(io, now + 600 * S);
	if (ASSERT_OK(ebb_census_run(c), nm(n, "run 10 min ahead"))) {
		ASSERT_EQ(io->live_total, 0, nm(n, "10 min ahead: nothing live"));
		ASSERT_EQ(io->cleared, 0, nm(n, "10 min ahead: nothing cleared (a what-if)"));
		ASSERT_EQ(flow_count(), N_RCASES + 2, nm(n, "10 min ahead: every entry still there"));
	}

	/* no_clear (ebbd --once): the same verdicts, nothing cleared */
	census_inputs(io, now);
	io->no_clear = 1;
	if (ASSERT_OK(ebb_census_run(c), nm(n, "run with no_clear"))) {
		ASSERT_EQ(io->live_total, live, nm(n, "no_clear: the live flows counted"));
		ASSERT_EQ(io->cleared, 0, nm(n, "no_clear: nothing cleared"));
		ASSERT_EQ(flow_count(), N_RCASES + 2, nm(n, "no_clear: every entry still there"));
	}

	census_inputs(io, now);
	if (!ASSERT_OK(ebb_census_run(c), nm(n, "run"))) {
		ebb_census_close(c);
		return;
	}
	ASSERT_EQ(io->visited, N_RCASES + 2, nm(n, "visited every entry"));
	ASSERT_EQ(io->live[id_a], live, nm(n, "live flows on A: the live cases"));
	ASSERT_EQ(io->live_total, live, nm(n, "live in all"));
	for (size_t i = 0; i < N_RCASES; i++) {
		const struct rcase *r = &rcases[i];
		struct ebb_flow_key k = rcase_key(i);
		__u64 w = 0;
		bool kept = flow_slot4(&k, &w) != NULL;

		if (!CHECK(kept == r->kept, "%s", nm(n, "%s: %s", r->what, r->kept ? "kept" : "cleared")))
			printf("#   %s\n", kept ? "kept" : "cleared");
		if (kept)
			CHECK(w == before[i], "%s", nm(n, "%s: its word unchanged", r->what));
	}
	ASSERT_TRUE(has_flow(&unknown), nm(n, "a fresh flow of a VIP id no VIP has: kept"));
	ASSERT_TRUE(!has_flow(&unknown_old), nm(n, "... one 97 ticks quiet: cleared"));
	{
		int want_cleared = 1;

		for (size_t i = 0; i < N_RCASES; i++)
			want_cleared += !rcases[i].kept;
		ASSERT_EQ(io->cleared, want_cleared, nm(n, "cleared: counted"));
	}
	/* the next pass finds the same live flows and nothing more to clear */
	if (ASSERT_OK(ebb_census_run(c), nm(n, "run again"))) {
		ASSERT_EQ(io->live_total, live, nm(n, "again: the same live flows"));
		ASSERT_EQ(io->cleared, 0, nm(n, "again: nothing cleared"));
	}
	ebb_census_close(c);
}

/* ---- a watched node: last_end and ended[], exact; listed keys; an unbelievable key ---- */
static void watch_case(void)
{
	const char *n = "watch";
	struct ebb_flow_key live1 = flow_key4(CLIENT, 21001, VIP1, 80, IPPROTO_TCP);
	struct ebb_flow_key live2 = flow_key4("192.0.2.77", 21002, VIPU, 53, IPPROTO_UDP);
	struct ebb_flow_key fin = flow_key4(CLIENT, 21003, VIP1, 80, IPPROTO_TCP);
	struct ebb_flow_key rst = flow_key4(CLIENT, 21004, VIP1, 80, IPPROTO_TCP);
	struct ebb_flow_key torn = flow_key4(CLIENT, 21005, VIP1, 80, IPPROTO_TCP);
	struct ebb_flow_key other = flow_key4(CLIENT, 21006, VIP1, 80, IPPROTO_TCP);
	struct ebb_flow_key l6 = key6(21007), old6 = key6(21008);
	struct ebb_census_key keys[8];
	struct ebb_census *c = NULL;
	struct ebb_census_io *io;
	__u64 now = ebb_now_ns(), frac = now & (TICK - 1), w, fin_end, rst_end;
	struct ebb_ft_where where;
	int way, got, found = 0;

	flow_clear_all();
	pin_aged(&live1, vip1, id_b, 0, 3, now);
	pin_aged(&live2, vipu, id_b, 0, 1, now);
	pin_aged(&fin, vip1, id_b, EBB_FLOW_FIN, 11, now);
	pin_aged(&rst, vip1, id_b, EBB_FLOW_RST, 2, now);
	pin_aged(&torn, vip1, id_b, 0, 0, now);
	pin_aged(&other, vip1, id_a, 0, 0, now);
	pin_aged(&l6, vip6, id_b, 0, 4, now);
	pin_aged(&old6, vip6, id_b, 0, 97, now);
	/* torn's key word as a pin in progress leaves it: the way's previous flow's */
	where = ebb_ft_where_key(&torn, ft_nbuckets);
	way = ebb_ft_find(&ft_table[where.b[0]], &ft_table[where.b[1]], where.fp,
			  ebb_ft_keyword4(&torn), &w);
	if (!ASSERT_TRUE(way >= 0, nm(n, "torn's entry")))
		return;
	ft_table[where.b[way / EBB_FT_WAYS]].key[way % EBB_FT_WAYS].word ^= 0x5a5a;
	/* ends by the least age: seen = the end of its tick; FIN: + the FIN timeout */
	fin_end = now - (frac + 10 * TICK) + FIN;
	rst_end = now - (frac + 1 * TICK);

	if (!ASSERT_OK(ebb_census_open(&e, &c), nm(n, "open")))
		return;
	io = ebb_census_io(c);
	census_inputs(io, now);
	io->watch[id_b] = 1;
	io->ended_after[id_b] = now - frac - 17 * TICK / 20; /* between the RST's end and the FIN's */
	if (!ASSERT_OK(ebb_census_run(c), nm(n, "run"))) {
		ebb_census_close(c);
		return;
	}
	ASSERT_EQ(io->live[id_b], 4, nm(n, "B: 2 IPv4 + 1 IPv6 live, and the one whose key is torn"));
	ASSERT_EQ(io->live[id_a], 1, nm(n, "A: 1 live"));
	ASSERT_EQ(io->n_keys, 3, nm(n, "3 listed: the torn key is not believed"));
	ASSERT_EQ(io->unlisted, 1, nm(n, "... and counted as unlisted"));
	ASSERT_EQ(io->last_end[id_b], fin_end, nm(n, "last_end: the FIN's, exact"));
	ASSERT_EQ(io->ended[id_b], 1, nm(n, "ended after ended_after: the FIN, not the RST"));
	ASSERT_EQ(io->last_end[id_a], 0, nm(n, "A not watched: no last_end"));
	(void)rst_end;
	/* B is draining: its ended flows wait for the drain's lookups, which call a listed key
	 * gone from the table a lost flow */
	ASSERT_EQ(io->cleared, 0, nm(n, "none cleared: the IPv6 flow 97 ticks quiet is a watched node's"));
	ASSERT_TRUE(has_flow(&old6), nm(n, "... kept in flows6"));
	ASSERT_TRUE(has_flow(&l6), nm(n, "the live IPv6 flow kept"));
	got = ebb_census_keys(c, keys, 8);
	for (int i = 0; i < got; i++)
		found += keys[i].node_id == id_b &&
			 (!memcmp(&keys[i].key, &live1, sizeof(live1)) ||
			  !memcmp(&keys[i].key, &live2, sizeof(live2)) ||
			  !memcmp(&keys[i].key, &l6, sizeof(l6)));
	ASSERT_EQ(found, 3, nm(n, "the listed keys: live1 (TCP), live2 (UDP, its own VIP), the IPv6 one"));

	/* ended_after earlier than both ends: both counted; last_end still the FIN's */
	io->ended_after[id_b] = rst_end - 1;
	if (ASSERT_OK(ebb_census_run(c), nm(n, "run, ended_after before the RST")))
		ASSERT_EQ(io->ended[id_b], 2, nm(n, "both ended flows counted"));

	/* B retired (no longer watched): the next pass clears what no rule needs */
	io->watch[id_b] = 0;
	if (ASSERT_OK(ebb_census_run(c), nm(n, "run, B not watched"))) {
		ASSERT_EQ(io->cleared, 1, nm(n, "1 cleared once B is not watched: the IPv6 flow 97 ticks quiet"));
		ASSERT_TRUE(!has_flow(&old6), nm(n, "... gone from flows6"));
	}
	ebb_census_close(c);
}

/* ---- the datapath refreshing while censuses clear: a refreshed entry is never cleared ---- */
#define RACE_N 4096
static struct ebb_flow_key race_keys[RACE_N];
struct race_out {
	long refreshed;
};

/* The touch of bpf/balancer.bpf.c's lookup(): the word CASed to now's tick, in an order of its
 * own (the census walks by bucket). A refreshed flow is live: once refreshed, it must stay. */
static volatile int race_go;

static void *refresher(void *arg)
{
	struct race_out *o = arg;
	__u32 tick = ebb_ft_tick_of_ns(ebb_now_ns());

	while (!race_go)
		;
	for (int j = 0; j < RACE_N; j++) {
		int i = (int)(((__u32)j * 2654435761u) % RACE_N);
		__u64 w, *slot = flow_slot4(&race_keys[i], &w);

		if (slot && ebb_ft_cas(slot, w, ebb_ft_with(w, 0, tick)))
			o->refreshed++;
	}
	return NULL;
}

static void race_case(void)
{
	const char *n = "race";
	struct ebb_census *c = NULL;
	struct ebb_census_io *io;
	long refreshed = 0, cleared = 0, present_fresh = 0, bad = 0;
	int rounds = 0;

	if (!ASSERT_OK(ebb_census_open(&e, &c), nm(n, "open")))
		return;
	io = ebb_census_io(c);
	for (int round = 0; round < 40; round++) {
		struct race_out out = {};
		__u64 now = ebb_now_ns();
		__u32 tick;
		pthread_t th;
		int pinned = 0;

		flow_clear_all();
		for (int i = 0; i < RACE_N; i++) {
			race_keys[i] = flow_key4(CLIENT, (__u16)(1000 + i), VIP1, 80, IPPROTO_TCP);
			race_keys[i].src[0] = htonl(0x0a010000 + (__u32)i * 7919);
			pinned += !pin_aged(&race_keys[i], vip1, id_a, 0, 200, now); /* clearable */
		}
		if (pinned != RACE_N || pthread_create(&th, NULL, refresher, &out))
			break;
		census_inputs(io, ebb_now_ns());
		race_go = 1; /* the census and the refresher start together */
		ebb_census_run(c);
		pthread_join(th, NULL);
		race_go = 0;
		tick = ebb_ft_tick_of_ns(ebb_now_ns());
		/* each flow was refreshed (and is there, fresh) or cleared (and is gone), not both */
		for (int i = 0; i < RACE_N; i++) {
			__u64 w;
			bool there = flow_slot4(&race_keys[i], &w) != NULL;

			present_fresh += there && ebb_ft_age(w, tick) <= 1;
			bad += there && ebb_ft_age(w, tick) > 1; /* neither refreshed nor cleared */
		}
		bad += out.refreshed + (long)io->cleared != RACE_N;
		refreshed += out.refreshed;
		cleared += (long)io->cleared;
		rounds++;
	}
	printf("# race: %d rounds of 4096 idle flows, one census each while they are refreshed: "
	       "%ld refreshed first, %ld cleared first\n", rounds, refreshed, cleared);
	ASSERT_EQ(rounds, 40, nm(n, "40 rounds run"));
	ASSERT_EQ(present_fresh, refreshed, nm(n, "every refreshed flow is in the table (none cleared)"));
	ASSERT_EQ(bad, 0, nm(n, "each flow either refreshed or cleared, none left idle, none both"));
	ebb_census_close(c);
	flow_clear_all();
}

/* ---- 1M entries: counts, clearing, and the time (printed, not asserted) ---- */
static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void million_case(void)
{
	const char *n = "1M";
	const __u32 flows = 1 << 20, nb = EBB_FT_BUCKETS(flows);
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	long page = sysconf(_SC_PAGESIZE);
	size_t bytes = ((size_t)nb * sizeof(struct ebb_ft_bucket) + page - 1) / page * page;
	__u64 now = ebb_now_ns(), pinned = 0, old = 0, live_a = 0, inserted = 0;
	__u32 x = 2463534242u, now_tick = ebb_ft_tick_of_ns(now);
	struct ebb_census *c = NULL;
	struct ebb_census_io *io;
	struct ebb_ft_bucket *t;
	struct ebb big = e;
	double ms[7], cpu[7], first, open_ms;
	FILE *f;
	char load[64] = "?";
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ft_1m", 4, sizeof(struct ebb_ft_bucket), nb, &opts);

	if (!ASSERT_TRUE(fd >= 0, nm(n, "a bucket table for 1M flows")))
		return;
	t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!ASSERT_TRUE(t != MAP_FAILED, nm(n, "mapped"))) {
		close(fd);
		return;
	}
	/* 1M random clients of VIP1, as the datapath pins them; one in 8 idle 200 ticks */
	for (__u32 i = 0; i < flows; i++) {
		struct ebb_flow_key k = flow_key4(CLIENT, 0, VIP1, 80, IPPROTO_TCP);
		struct ebb_ft_where where;
		struct ebb_ft_scan st;
		bool idle = i % 8 == 7;
		__u32 node = i & 1 ? id_b : id_a, tick = (now_tick - (idle ? 200 : 0)) & EBB_FT_TICK_MASK;
		int way, r;

		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		k.src[0] = x;
		k.sport = (__u16)(i ^ (x >> 16));
		where = ebb_ft_where_key(&k, nb);
		ebb_ft_pin_prepare(&st, where.fp, ebb_ft_keyword4(&k),
				   ebb_ft_entry(where.fp, vip1, node, 0, tick), tick);
		r = ebb_ft_pin(&t[where.b[0]], &t[where.b[1]], &st, &way);
		inserted += r == EBB_FT_INSERTED;
	}
	/* what the census must find, counted from the table (an eviction replaced an entry) */
	for (__u32 b = 0; b < nb; b++)
		for (int i = 0; i < EBB_FT_WAYS; i++) {
			__u64 w = t[b].entry[i].word;

			if (!ebb_ft_node(w))
				continue;
			pinned++;
			old += ebb_ft_tick(w) != now_tick;
			live_a += ebb_ft_tick(w) == now_tick && ebb_ft_node(w) == id_a;
		}
	printf("# 1M: %llu of %u inserted into an empty way, %llu entries in %u buckets (%.1f MB)\n",
	       (unsigned long long)inserted, flows, (unsigned long long)pinned, nb, bytes / 1e6);
	ASSERT_TRUE(inserted > flows - flows / 500, nm(n, "at least 99.8 %% into an empty way"));
	big.flows_fd = fd;
	big.flows6_fd = -1;
	open_ms = mono_ms();
	if (!ASSERT_OK(ebb_census_open(&big, &c), nm(n, "open on the 1M table")))
		goto out;
	open_ms = mono_ms() - open_ms;
	io = ebb_census_io(c);
	census_inputs(io, now);
	first = mono_ms();
	if (ASSERT_OK(ebb_census_run(c), nm(n, "first run"))) {
		first = mono_ms() - first;
		ASSERT_EQ(io->visited, pinned, nm(n, "visited every entry"));
		ASSERT_EQ(io->cleared, old, nm(n, "cleared the idle eighth"));
		ASSERT_EQ(io->live_total, pinned - old, nm(n, "the rest live"));
		ASSERT_EQ(io->live[id_a], live_a, nm(n, "A's share"));
	}
	for (int r = 0; r < 7; r++) {
		double t0 = mono_ms(), c0 = cpu_ms();

		io->now_ns = ebb_now_ns();
		ebb_census_run(c);
		ms[r] = mono_ms() - t0;
		cpu[r] = cpu_ms() - c0;
	}
	ASSERT_EQ(io->live_total, pinned - old, nm(n, "later runs: the same live flows"));
	qsort(ms, 7, sizeof(ms[0]), cmp_double);
	qsort(cpu, 7, sizeof(cpu[0]), cmp_double);
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (!fgets(load, sizeof(load), f))
			strcpy(load, "?");
		fclose(f);
		load[strcspn(load, "\n")] = 0;
	}
	printf("# census at %llu IPv4 entries: %.2f ms (median of 7; min %.2f, max %.2f), CPU %.2f ms "
	       "(median; min %.2f); the first, clearing %llu: %.2f ms; open (each page written once) "
	       "%.2f ms; load average %s\n", (unsigned long long)pinned, ms[3], ms[0], ms[6], cpu[3],
	       cpu[0], (unsigned long long)old, first, open_ms, load);
	ebb_census_close(c);
out:
	munmap(t, bytes);
	close(fd);
}

static bool setup(void)
{
	struct ebb_err err = {};

	if (!balancer_setup())
		return false;
	if (vip_add(VIP1_K) || vip_add(VIPU_K) || vip_add(VIPL_K) || vip_add(VIP6_K))
		return ASSERT_TRUE(false, "setup: VIPs");
	if (add_node(NODE_A, VIP1_K, MAC_A, false, &id_a, &err) ||
	    add_node(NODE_B, VIP1_K, MAC_B, false, &id_b, &err))
		return ASSERT_TRUE(false, "setup: nodes");
	vip1 = vip_id_of(VIP1_K);
	vipu = vip_id_of(VIPU_K);
	vipl = vip_id_of(VIPL_K);
	vip6 = vip_id_of(VIP6_K);
	return ASSERT_TRUE(vip1 < EBB_MAX_VIPS && vipu < EBB_MAX_VIPS && vipl < EBB_MAX_VIPS &&
			   vip6 < EBB_MAX_VIPS && vip1 != 40 && vipu != 40 && vipl != 40 && vip6 != 40,
			   "setup: 4 VIPs, 2 nodes");
}

int main(void)
{
	if (!suite_start("census"))
		return 0;
	if (setup()) {
		datapath_case();
		rules_case();
		watch_case();
		race_case();
		million_case();
	}
	balancer_teardown();
	return test_summary("census");
}
