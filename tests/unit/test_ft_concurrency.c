// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The flow table under concurrent writers (issue 16): the product's own functions
 * (include/ebb_flowtable.h: ebb_ft_find, ebb_ft_pin, ebb_ft_cas, as bpf/balancer.bpf.c calls
 * them) run by tests/unit/bpf/ft_stress.bpf.c on a table of two buckets holding 64 flows in
 * their 16 ways. One thread per CPU, each pinned there, runs it millions of times at once: every
 * run looks a flow up, pins it (a new flow, a refresh, an eviction of another, with a random
 * age) or clears it. Each flow has a node of its own, so a hit on a word made of two writes
 * names a node that is not its fingerprint's flow's: every hit is checked, none may be wrong.
 *
 * How it would catch a torn entry: the same runs on a build whose every CAS writes its word as
 * two 4-byte halves (EBB_FT_TORN) must find wrong nodes; it runs until the first, within a
 * bound. Beside it, test_flowrace drives the whole balancer the same way with real packets.
 * The same for syn_recent's cells (include/ebb.h): 6 flows recorded and cleared in two cells
 * by both CPUs (ebb_syn_note, ebb_syn_settle), none may be lost or come back; the torn build
 * must lose some.
 * Root only (BPF).
 */
#include "cpu_stress.h"

#include <arpa/inet.h>
#include <bpf/libbpf.h>

#include "ebb.h"
#include "ebb_flowtable.h"
#include "ft_stress.h"
#include "ft_stress.skel.h"
#include "ft_stress_torn.skel.h"
#include "test.h"

/* The 64 flows must have distinct fingerprints: two flows of one fingerprint share an entry by
 * design (the chk bit then compares keys), which is not what this test looks for. */
static bool fps_distinct(__u32 keys)
{
	__u32 fp[64];

	for (__u32 k = 0; k < keys && k < 64; k++) {
		struct ebb_flow_key key = { .src = { htonl(0x0a000000u + k) },
					    .dst = { htonl(0xcb00710au) },
					    .sport = htons(40000), .dport = htons(80),
					    .proto = IPPROTO_TCP, .family = EBB_FAMILY_V4 };

		fp[k] = ebb_ft_where_key(&key, 2).fp;
		for (__u32 j = 0; j < k; j++)
			if (fp[j] == fp[k])
				return false;
	}
	return true;
}

static void test_concurrency(void)
{
	const __u32 repeat = 1000000, batches = 4;
	struct ft_stress_bpf *s;
	int ncpu = 0, err = 0;

	if (cpu_stress_one_cpu(&test_checks, "one writer per CPU in the same buckets: no wrong node"))
		return;
	s = ft_stress_bpf__open_and_load();
	if (!ASSERT_TRUE(s, "load the stress program on a two-bucket table"))
		return;
	ASSERT_TRUE(fps_distinct(s->rodata->stress_keys), "its 64 flows have distinct fingerprints");
	for (__u32 b = 0; b < batches && !err; b++)
		err = cpu_stress_batch(bpf_program__fd(s->progs.ft_stress), repeat, &ncpu);
	ASSERT_OK(err, "ft_stress ran on every CPU");
	printf("# %d CPUs x %u runs: %llu hits checked, %llu pins (%llu evictions, %llu lost to "
	       "another CPU), %llu clears\n", ncpu, repeat * batches,
	       (unsigned long long)s->bss->stats.checked, (unsigned long long)s->bss->stats.pinned,
	       (unsigned long long)s->bss->stats.evicted, (unsigned long long)s->bss->stats.lost,
	       (unsigned long long)s->bss->stats.cleared);
	ASSERT_TRUE(ncpu >= 2, "at least two CPUs wrote the same buckets at once");
	ASSERT_TRUE(s->bss->stats.checked > 100000, "over 100000 hits checked");
	/* how the runs interleave (and so how full the ways are) depends on the machine's load:
	 * these bounds only say that every kind of change happened many times */
	ASSERT_TRUE(s->bss->stats.evicted > 100000 && s->bss->stats.cleared > 10000,
		    "... among over 100000 evictions and 10000 clears");
	ASSERT_EQ(s->bss->stats.wrong, 0, "no hit named a node other than its flow's");
	ft_stress_bpf__destroy(s);
}

static void test_torn_caught(void)
{
	struct ft_stress_torn_bpf *s;
	int ncpu = 0, err = 0, b;

	if (cpu_stress_one_cpu(&test_checks, "the check catches an entry written in two halves"))
		return;
	s = ft_stress_torn_bpf__open_and_load();
	if (!ASSERT_TRUE(s, "load the build whose CAS writes its word in two halves"))
		return;
	/* at most 60 batches, each a few hundred ms */
	b = cpu_stress_until(bpf_program__fd(s->progs.ft_stress), 1000000, 60, &s->bss->stats.wrong,
			     &ncpu, &err);
	ASSERT_OK(err, "ft_stress ran on every CPU");
	printf("# torn build: %llu wrong nodes in %llu hits checked, after %d batch(es)\n",
	       (unsigned long long)s->bss->stats.wrong, (unsigned long long)s->bss->stats.checked, b);
	ASSERT_TRUE(s->bss->stats.wrong > 0,
		    "the same check finds wrong nodes when a word is written in two halves");
	ft_stress_torn_bpf__destroy(s);
}

/* syn_recent's cells (include/ebb.h) written by both CPUs at once: 6 flows in two cells, each
 * recorded (ebb_syn_note) and cleared (ebb_syn_settle) by its own CPU as the balancer does on a
 * SYN's pin and on the ACK; no record lost, none come back. */
static void test_syn_recent(void)
{
	const __u32 repeat = 1000000, batches = 2;
	struct ft_stress_bpf *s;
	int ncpu = 0, err = 0;

	if (cpu_stress_one_cpu(&test_checks, "syn_recent: one writer per CPU in two cells: no record lost"))
		return;
	s = ft_stress_bpf__open_and_load();
	if (!ASSERT_TRUE(s, "syn_recent: load the stress program"))
		return;
	for (__u32 b = 0; b < batches && !err; b++)
		err = cpu_stress_batch(bpf_program__fd(s->progs.syn_stress), repeat, &ncpu);
	ASSERT_OK(err, "syn_recent: syn_stress ran on every CPU");
	printf("# syn_recent: %d CPUs x %u runs: %llu recorded, %llu cleared, %llu gave up, %llu "
	       "checked, %llu lost, %llu back\n",
	       ncpu, repeat * batches, (unsigned long long)s->bss->syn_stats.noted,
	       (unsigned long long)s->bss->syn_stats.settled,
	       (unsigned long long)s->bss->syn_stats.gave_up,
	       (unsigned long long)s->bss->syn_stats.checked, (unsigned long long)s->bss->syn_stats.lost,
	       (unsigned long long)s->bss->syn_stats.ghost);
	ASSERT_TRUE(ncpu >= 2 && s->bss->syn_stats.checked > 1000000 &&
			    s->bss->syn_stats.noted > 100000 && s->bss->syn_stats.settled > 100000,
		    "syn_recent: two CPUs, over 1000000 checks, records made and cleared");
	ASSERT_EQ(s->bss->syn_stats.lost, 0, "syn_recent: no record lost to the other CPU's change");
	ASSERT_EQ(s->bss->syn_stats.ghost, 0, "syn_recent: no cleared record brought back");
	ft_stress_bpf__destroy(s);
}

static void test_syn_recent_torn(void)
{
	struct ft_stress_torn_bpf *s;
	int ncpu = 0, err = 0, b;

	if (cpu_stress_one_cpu(&test_checks, "syn_recent: the check catches a cell written in two halves"))
		return;
	s = ft_stress_torn_bpf__open_and_load();
	if (!ASSERT_TRUE(s, "syn_recent: load the torn build"))
		return;
	b = cpu_stress_until(bpf_program__fd(s->progs.syn_stress), 1000000, 60, &s->bss->syn_stats.lost,
			     &ncpu, &err);
	ASSERT_OK(err, "syn_recent: the torn syn_stress ran on every CPU");
	printf("# syn_recent, torn build: %llu lost, %llu back in %llu checked, after %d batch(es)\n",
	       (unsigned long long)s->bss->syn_stats.lost, (unsigned long long)s->bss->syn_stats.ghost,
	       (unsigned long long)s->bss->syn_stats.checked, b);
	ASSERT_TRUE(s->bss->syn_stats.lost > 0,
		    "syn_recent: the same check finds lost records when a cell is written in two halves");
	ft_stress_torn_bpf__destroy(s);
}

int main(void)
{
	libbpf_set_print(NULL);
	test_concurrency();
	test_torn_caught();
	test_syn_recent();
	test_syn_recent_torn();
	return test_summary("test_ft_concurrency");
}
