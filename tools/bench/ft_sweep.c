// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ft_sweep: the highest load at which 99.9 % of 1M random inserts into the flow-table prototype
 * succeed (no live flow evicted), by bisection over the table size. The insert is the prototype's
 * own (tools/bench/flowtable.h, the code its BPF program runs), built here with the variant's
 * FT_* macros by tools/bench/flowtable.sh; one process, no concurrency. Prints one JSON line.
 *
 *   ft_sweep NAME [FLOWS] [SEED]
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#include "flowtable.h"

static __u64 rng;

static __u32 next32(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (__u32)(rng >> 16);
}

/* Inserts `flows` random IPv4 flows (random client address and port, one of 16 VIP addresses)
 * into `nb` buckets; returns how many evicted a live flow. */
static __u64 fill(struct ft_bucket *t, __u32 nb, __u32 flows, __u64 seed)
{
	__u64 evicted = 0;

	memset(t, 0, (size_t)nb * sizeof(*t));
	rng = seed;
	for (__u32 i = 0; i < flows; i++) {
		__u32 src = next32(), ports = next32(), dst = 0xcb007100u + (next32() & 15);
		struct ft_where w = ft_where4(src, ports, dst, nb);
		int way;

		if (ft_insert(&t[w.b[0]], &t[w.b[1]], w.fp, ft_entry(w.fp, 1, 1, 0, 0), 0, &way) ==
		    FT_EVICTED)
			evicted++;
	}
	return evicted;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "?";
	__u32 flows = argc > 2 ? (__u32)atol(argv[2]) : 1u << 20;
	__u64 seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 0x16f10f7ab1eULL;
	double lo = 0.2, hi = 1.0; /* load lo passes, hi fails (a full table always evicts) */
	__u32 nb_lo = 0;
	__u64 ev_lo = 0;
	struct ft_bucket *t = calloc((size_t)(flows / (lo * FT_WAYS)) + 2, sizeof(*t));

	if (!t)
		return 1;
	for (int it = 0; it < 12; it++) {
		double mid = (lo + hi) / 2;
		__u32 nb = (__u32)(flows / (FT_WAYS * mid)) + 1;
		__u64 ev = fill(t, nb, flows, seed);

		if (ev * 1000 <= flows) {
			lo = mid;
			nb_lo = nb;
			ev_lo = ev;
		} else {
			hi = mid;
		}
	}
	if (!nb_lo) {
		nb_lo = (__u32)(flows / (FT_WAYS * lo)) + 1;
		ev_lo = fill(t, nb_lo, flows, seed);
	}
	printf("{\"variant\": \"%s\", \"ways\": %d, \"choices\": %d, \"policy\": \"%s\", "
	       "\"flows\": %u, \"buckets\": %u, \"load\": %.4f, \"evicted\": %llu, "
	       "\"hot_bytes_per_flow\": %.2f, \"bytes_per_flow_with_keys\": %.2f}\n",
	       name, FT_WAYS, FT_CHOICES, FT_POLICY ? "least loaded" : "first fit", flows, nb_lo,
	       (double)flows / ((double)nb_lo * FT_WAYS), (unsigned long long)ev_lo,
	       (double)nb_lo * FT_WAYS * 8 / flows, (double)nb_lo * FT_WAYS * 16 / flows);
	free(t);
	return 0;
}
