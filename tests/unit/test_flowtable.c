// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The flow-table prototype of issue 16 (tools/bench/flowtable.h, tools/bench/flowtable.bpf.c;
 * doc/flow-table.md), on the real kernel through BPF_PROG_TEST_RUN:
 *  - a SYN pins its flow, the flow's later packets go to that node, and user space finds the
 *    same entry and the client's key by reading the mmapped table (the census's and `flow
 *    show`'s way) with the same hash;
 *  - a full bucket pair evicts its least recently seen entry, and the new flow is found;
 *  - concurrency: one thread per CPU, each pinned there, runs ft_stress millions of times on
 *    64 flows crowded into 2 buckets (16 ways): every run pins, refreshes, evicts, clears or looks
 *    a flow up. Each flow has its own node, so an entry read half from one write and half from
 *    another names a node that is not its fingerprint's flow's: every hit is checked, and none may
 *    be wrong;
 *  - that check catches a torn entry: the same test on a build that writes an entry as two
 *    4-byte halves (FT_TORN) must find wrong nodes (it runs until it does, within a bound).
 * Root only (BPF).
 */
#include "cpu_stress.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "ebb.h"
#include "flowtable.h"
#include "flowtable.skel.h"
#include "flowtable_torn.skel.h"
#include "test.h"

#define VIP 0xcb00710au /* 203.0.113.10 */

/* Ethernet + IPv4 + TCP, 64 bytes: all the prototype's parse reads. */
static size_t frame(__u8 *p, __u32 src, __u16 sport, __u8 flags)
{
	memset(p, 0, 64);
	memcpy(p, "\x02\xeb\0\0\0\x02\x02\xeb\0\0\0\x01\x08\x00", 14);
	p[14] = 0x45;
	p[17] = 50;
	p[22] = 64;
	p[23] = IPPROTO_TCP;
	*(__u32 *)(p + 26) = htonl(src);
	*(__u32 *)(p + 30) = htonl(VIP);
	*(__u16 *)(p + 34) = htons(sport);
	*(__u16 *)(p + 36) = htons(80);
	p[46] = 0x50;
	p[47] = flags;
	return 64;
}

struct ran {
	int err;
	__u32 verdict, node;
};

static struct ran run_pkt(int fd, __u32 src, __u16 sport, __u8 flags)
{
	__u8 in[64], out[128];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);
	struct ran r = {};

	o.data_size_in = (__u32)frame(in, src, sport, flags);
	r.err = bpf_prog_test_run_opts(fd, &o);
	r.verdict = o.retval;
	r.node = (__u32)out[4] << 8 | out[5];
	return r;
}

/* The flow as the datapath hashes it (addresses and ports as the packet carries them). */
static struct ft_where where_of(__u32 src, __u16 sport, __u32 nbuckets)
{
	__u32 ports = (__u32)htons(80) << 16 | htons(sport);

	return ft_where4(htonl(src), ports, htonl(VIP), nbuckets);
}

static void test_pin_and_find(void)
{
	const __u32 nb = 1024, n = 4000;
	struct flowtable_bpf *s = flowtable_bpf__open();
	struct ft_bucket *table;
	struct ft_keys *keys;
	__u32 wrong = 0, missing = 0, keys_bad = 0, syn_bad = 0;
	int fd;

	if (!ASSERT_TRUE(s, "open the prototype"))
		return;
	s->rodata->ft_nbuckets = nb;
	bpf_map__set_max_entries(s->maps.ft_table, nb);
	bpf_map__set_max_entries(s->maps.ft_keys, nb);
	if (!ASSERT_OK(flowtable_bpf__load(s), "load the prototype (8-byte entries, 8 ways, 2 choices)"))
		goto out;
	fd = bpf_program__fd(s->progs.ft_xdp);
	table = mmap(NULL, (size_t)nb * sizeof(*table), PROT_READ, MAP_SHARED,
		     bpf_map__fd(s->maps.ft_table), 0);
	keys = mmap(NULL, (size_t)nb * sizeof(*keys), PROT_READ, MAP_SHARED,
		    bpf_map__fd(s->maps.ft_keys), 0);
	if (!ASSERT_TRUE(table != MAP_FAILED && keys != MAP_FAILED, "mmap the table and its keys"))
		goto out;
	srand(16);
	for (__u32 i = 0; i < n; i++) {
		__u32 src = 0xc6336400u + (__u32)rand() % 65536;
		__u16 sport = (__u16)(1024 + i);
		struct ft_where w = where_of(src, sport, nb);
		struct ran r = run_pkt(fd, src, sport, 0x02);

		if (r.err || r.verdict != XDP_TX || r.node != 1 + w.fp % 3)
			syn_bad++;
	}
	ASSERT_EQ(syn_bad, 0, "each SYN of 4000 flows forwarded to the node the prototype pins it to");
	ASSERT_EQ(s->bss->stats.inserted, n, "4000 flows pinned (49% of 8192 ways)");
	ASSERT_EQ(s->bss->stats.evicted, 0, "none evicted at that load");
	srand(16);
	for (__u32 i = 0; i < n; i++) {
		__u32 src = 0xc6336400u + (__u32)rand() % 65536;
		__u16 sport = (__u16)(1024 + i);
		struct ft_where w = where_of(src, sport, nb);
		struct ran r = run_pkt(fd, src, sport, 0x10);
		int way = -1;
		__u64 e = ft_find(&table[w.b[0]], &table[w.b[1]], w.fp, &way);
		__u32 b = way >= FT_WAYS ? w.b[1] : w.b[0];

		if (r.err || r.verdict != XDP_TX || r.node != 1 + w.fp % 3)
			wrong++;
		if (!e || ft_node(e) != r.node)
			missing++;
		else if (keys[b].key[way & (FT_WAYS - 1)] !=
			 ft_key4(htonl(src), htons(sport), htons(80)))
			keys_bad++;
	}
	ASSERT_EQ(wrong, 0, "each flow's ACK goes to the node its SYN went to");
	ASSERT_EQ(s->bss->stats.hits, n, "... as a hit, every one");
	ASSERT_EQ(missing, 0, "user space finds every entry in the mmapped table, same node");
	ASSERT_EQ(keys_bad, 0, "... and the client's address and ports beside it");
	{
		struct ran r = run_pkt(fd, 0xc0000201u, 4242, 0x10);

		ASSERT_EQ(r.verdict, XDP_DROP, "an ACK of a flow never pinned misses (dropped here)");
	}
out:
	flowtable_bpf__destroy(s);
}

static void test_evict_oldest(void)
{
	struct flowtable_bpf *s = flowtable_bpf__open();
	struct ran r;
	int fd;

	if (!ASSERT_TRUE(s, "open the prototype"))
		return;
	s->rodata->ft_nbuckets = 1; /* one bucket: both choices are it, 8 ways */
	if (!ASSERT_OK(flowtable_bpf__load(s), "load a one-bucket table"))
		goto out;
	fd = bpf_program__fd(s->progs.ft_xdp);
	for (__u16 i = 0; i < 9; i++)
		run_pkt(fd, 0xc0000200u, (__u16)(2000 + i), 0x02);
	ASSERT_EQ(s->bss->stats.inserted, 9, "9 flows pinned into 8 ways");
	ASSERT_EQ(s->bss->stats.evicted, 1, "... the ninth by evicting one");
	r = run_pkt(fd, 0xc0000200u, 2008, 0x10);
	ASSERT_EQ(r.verdict, XDP_TX, "the ninth flow is found");
	s->bss->stats.hits = 0;
	for (__u16 i = 0; i < 8; i++)
		run_pkt(fd, 0xc0000200u, (__u16)(2000 + i), 0x10);
	ASSERT_EQ(s->bss->stats.hits, 7, "7 of the 8 before it still are");
out:
	flowtable_bpf__destroy(s);
}

/* Its 64 flows must have distinct fingerprints: two flows of one fingerprint share an entry by
 * design (doc/flow-table.md), which is not what this test looks for. */
static bool stress_fps_distinct(__u32 nb)
{
	__u32 fp[64];

	for (__u32 k = 0; k < 64; k++) {
		__u32 src = htonl(0x0a000000u + k), ports = 0x50001f90;

		fp[k] = ft_where4(src, ports, htonl(VIP), nb).fp;
		for (__u32 j = 0; j < k; j++)
			if (fp[j] == fp[k])
				return false;
	}
	return true;
}

/* Loads a build opened for the stress runs (the candidate or its torn twin: one source, two
 * skeleton types, hence the fields by address): 64 flows crowded into 2 buckets, 16 ways. */
static bool stress_load(struct bpf_object_skeleton *sk, __u32 *nbuckets, __u32 *keys,
			struct bpf_map *table, const char *what)
{
	*nbuckets = 2;
	*keys = 64;
	bpf_map__set_max_entries(table, 2);
	return ASSERT_OK(bpf_object__load_skeleton(sk), what);
}

static void test_concurrency(void)
{
	struct flowtable_bpf *s;
	__u32 repeat = 1000000, batches = 4;
	int ncpu = 0, err = 0;

	if (cpu_stress_one_cpu(&test_checks, "one writer per CPU in the same buckets: no wrong node"))
		return;
	s = flowtable_bpf__open();
	if (!ASSERT_TRUE(s, "open the prototype"))
		return;
	if (!stress_load(s->skeleton, &s->rodata->ft_nbuckets, &s->rodata->stress_keys, s->maps.ft_table,
			 "load a two-bucket table (16 ways for 64 flows)"))
		goto out;
	ASSERT_TRUE(stress_fps_distinct(2), "the 64 flows have distinct fingerprints");
	for (__u32 b = 0; b < batches && !err; b++)
		err = cpu_stress_batch(bpf_program__fd(s->progs.ft_stress), repeat, &ncpu);
	ASSERT_OK(err, "ft_stress ran on every CPU");
	printf("# %d CPUs x %u runs: %llu hits checked, %llu evictions, %llu clears\n", ncpu,
	       repeat * batches, (unsigned long long)s->bss->stats.checked,
	       (unsigned long long)s->bss->stats.evicted, (unsigned long long)s->bss->stats.deleted);
	ASSERT_TRUE(ncpu >= 2, "at least two CPUs wrote the same buckets at once");
	ASSERT_TRUE(s->bss->stats.checked > 500000, "over 500000 hits checked");
	ASSERT_TRUE(s->bss->stats.evicted > 100000 && s->bss->stats.deleted > 100000,
		    "... among over 100000 evictions and 100000 clears");
	ASSERT_EQ(s->bss->stats.wrong, 0, "no hit named a node other than its flow's");
out:
	flowtable_bpf__destroy(s);
}

static void test_torn_caught(void)
{
	struct flowtable_torn_bpf *s;
	int ncpu = 0, err = 0, b;

	if (cpu_stress_one_cpu(&test_checks, "the check catches an entry written in two halves"))
		return;
	s = flowtable_torn_bpf__open();
	if (!ASSERT_TRUE(s, "open the torn build"))
		return;
	if (!stress_load(s->skeleton, &s->rodata->ft_nbuckets, &s->rodata->stress_keys, s->maps.ft_table,
			 "load the build that writes entries in halves"))
		goto out;
	/* at most 60 batches, each a few hundred ms */
	b = cpu_stress_until(bpf_program__fd(s->progs.ft_stress), 1000000, 60, &s->bss->stats.wrong,
			     &ncpu, &err);
	ASSERT_OK(err, "ft_stress ran on every CPU");
	printf("# torn build: %llu wrong nodes in %llu hits checked, after %d batch(es)\n",
	       (unsigned long long)s->bss->stats.wrong, (unsigned long long)s->bss->stats.checked, b);
	ASSERT_TRUE(s->bss->stats.wrong > 0,
		    "the same check finds wrong nodes when an entry is written in two halves");
out:
	flowtable_torn_bpf__destroy(s);
}

int main(void)
{
	libbpf_set_print(NULL);
	test_pin_and_find();
	test_evict_oldest();
	test_concurrency();
	test_torn_caught();
	return test_summary("test_flowtable");
}
