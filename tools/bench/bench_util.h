/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Small helpers shared by the bench programs: clocks, medians, fdinfo, and hand-assembled BPF
 * instructions (the wrapper program of bench_xdp and the transmitter of bench_flood are a few
 * instructions each; writing them out here keeps `make bench` free of a second BPF build).
 */
#ifndef EBB_BENCH_UTIL_H
#define EBB_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/bpf.h>

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of the calling thread: excludes the time it was preempted (lab.md trap 6). */
static inline double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline double median(const double *v, int n)
{
	double tmp[256];

	if (n <= 0)
		return 0;
	if (n > 256)
		n = 256;
	memcpy(tmp, v, n * sizeof(*v));
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* A field of /proc/self/fdinfo/FD ("memlock:", "max_entries:"), -1 if absent. */
static inline long long fdinfo_field(int fd, const char *field)
{
	char path[64], line[256];
	long long v = -1;
	size_t len = strlen(field);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len)) {
			v = strtoll(line + len, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* BPF instructions, as the kernel's include/linux/filter.h spells them. */
#define BI(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define BI_MOV64_REG(d, s) BI(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define BI_MOV64_IMM(d, i) BI(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define BI_ALU64_IMM(op, d, i) BI(BPF_ALU64 | (op) | BPF_K, d, 0, 0, i)
#define BI_ALU32_IMM(op, d, i) BI(BPF_ALU | (op) | BPF_K, d, 0, 0, i)
#define BI_TO_BE(d, bits) BI(BPF_ALU | BPF_END | BPF_TO_BE, d, 0, 0, bits)
#define BI_LDX(size, d, s, o) BI(BPF_LDX | (size) | BPF_MEM, d, s, o, 0)
#define BI_STX(size, d, s, o) BI(BPF_STX | (size) | BPF_MEM, d, s, o, 0)
#define BI_JGT_REG(d, s, o) BI(BPF_JMP | BPF_JGT | BPF_X, d, s, o, 0)
#define BI_CALL(fn) BI(BPF_JMP | BPF_CALL, 0, 0, 0, fn)
#define BI_EXIT() BI(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
/* Two instructions: a map (BPF_PSEUDO_MAP_FD) or a pointer into its value (..._MAP_VALUE). */
#define BI_LD_MAP(d, kind, fd, off) \
	BI(BPF_LD | BPF_DW | BPF_IMM, d, kind, 0, fd), BI(0, 0, 0, 0, off)

#endif /* EBB_BENCH_UTIL_H */
