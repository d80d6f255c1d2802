/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Concurrency tests' runner: one thread per CPU this process may use, each pinned to its CPU,
 * runs an XDP program `repeat` times through BPF_PROG_TEST_RUN, all at the same time.
 */
#ifndef EBB_TEST_CPU_STRESS_H
#define EBB_TEST_CPU_STRESS_H

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <linux/types.h>

struct cpu_worker {
	int prog_fd, cpu;
	__u32 repeat;
	int err;
	pthread_t t;
};

static void *cpu_work(void *arg)
{
	struct cpu_worker *w = arg;
	__u8 in[64] = { 0x02, 0xeb, 0, 0, 0, 0x02, 0x02, 0xeb, 0, 0, 0, 0x01, 0x08, 0x00 };
	cpu_set_t one;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = sizeof(in),
		    .repeat = w->repeat);

	CPU_ZERO(&one);
	CPU_SET(w->cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		w->err = errno;
	if (!w->err && bpf_prog_test_run_opts(w->prog_fd, &o))
		w->err = errno;
	return NULL;
}

/* One batch on every allowed CPU at once; *ncpu: how many ran. 0 or an errno. */
static int cpu_stress_batch(int prog_fd, __u32 repeat, int *ncpu)
{
	struct cpu_worker w[64];
	cpu_set_t all;
	int n = 0, err = 0;

	sched_getaffinity(0, sizeof(all), &all);
	for (int c = 0; c < CPU_SETSIZE && n < 64; c++)
		if (CPU_ISSET(c, &all)) {
			w[n] = (struct cpu_worker){ .prog_fd = prog_fd, .cpu = c, .repeat = repeat };
			if (pthread_create(&w[n].t, NULL, cpu_work, &w[n]))
				return EAGAIN;
			n++;
		}
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].err)
			err = w[i].err;
	}
	*ncpu = n;
	return err;
}

/* Batches of `repeat` runs on every CPU until *wrong (a counter of the program's) is non-zero,
 * at most max_batches: a torn build is caught as soon as it shows. How many batches ran; *err:
 * 0 or an errno. */
static int cpu_stress_until(int prog_fd, __u32 repeat, int max_batches, const volatile __u64 *wrong,
			    int *ncpu, int *err)
{
	int b;

	*err = 0;
	for (b = 0; b < max_batches && !*err && !*wrong; b++)
		*err = cpu_stress_batch(prog_fd, repeat, ncpu);
	return b;
}

/* With one CPU nothing runs at the same time: such a check is skipped, and says why. */
static bool cpu_stress_one_cpu(int *checks, const char *what)
{
	cpu_set_t all;

	sched_getaffinity(0, sizeof(all), &all);
	if (CPU_COUNT(&all) >= 2)
		return false;
	printf("ok %d - %s # SKIP one CPU: nothing runs at the same time\n", ++*checks, what);
	return true;
}

#endif
