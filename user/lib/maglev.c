// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Weighted Maglev lookup tables (Eisenbud et al., NSDI 2016). Each node walks its own
 * permutation of the slots and claims the next free one in turn; a node of weight w takes a
 * turn w/max_weight times per round, so its share of slots follows its weight. A node's
 * permutation depends on its address only, so removing one node moves little more than its
 * own slots, and two LB hosts build the same placement from the same configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libebb.h"
#include "internal.h"

#define EMPTY_SLOT 0xffffffffu

/* FNV-1a, 64 bit, with a salt so that offset and skip are independent. */
static __u64 seed_hash(const __u8 *bytes, size_t len, __u64 salt)
{
	__u64 h = 0xcbf29ce484222325ULL ^ salt;

	for (size_t i = 0; i < len; i++) {
		h ^= bytes[i];
		h *= 0x100000001b3ULL;
	}
	/* FNV's low bits are weak on short keys: fold the high half in. */
	return h ^ (h >> 29) ^ (h >> 47);
}

static int by_seed(const void *a, const void *b)
{
	const struct ebb_maglev_node *x = a, *y = b;

	return memcmp(x->seed, y->seed, sizeof(x->seed));
}

struct walker {
	__u64 offset, skip, next;
	__u32 credit, weight, id;
};

bool ebb_table_size_ok(__u32 m)
{
	static const __u32 sizes[] = { EBB_TABLE_SIZES };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (sizes[i] == m)
			return true;
	return false;
}

int ebb_maglev_build(const struct ebb_maglev_node *nodes, size_t n, __u32 *table)
{
	return ebb_maglev_build_m(nodes, n, EBB_RING_SIZE, table);
}

int ebb_maglev_build_m(const struct ebb_maglev_node *nodes, size_t n, __u32 m, __u32 *table)
{
	struct ebb_maglev_node *sorted;
	struct walker *w;
	__u32 max_weight = 0;
	size_t filled = 0;

	if (n == 0 || m < 2 || m > EBB_RING_SIZE)
		return -1;
	sorted = calloc(n, sizeof(*sorted));
	w = calloc(n, sizeof(*w));
	if (!sorted || !w) {
		free(sorted);
		free(w);
		return -ENOMEM;
	}
	/* The order nodes were added in must not matter: walk them sorted by address. */
	memcpy(sorted, nodes, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), by_seed);
	for (size_t i = 0; i < n; i++) {
		w[i].offset = seed_hash(sorted[i].seed, sizeof(sorted[i].seed), 0x6f6666) % m;
		w[i].skip = seed_hash(sorted[i].seed, sizeof(sorted[i].seed), 0x736b6970) %
				    (m - 1) + 1;
		w[i].weight = sorted[i].weight ? sorted[i].weight : 1;
		w[i].id = sorted[i].id;
		if (w[i].weight > max_weight)
			max_weight = w[i].weight;
	}
	memset(table, 0xff, m * sizeof(*table));
	/* past m: no slot, as a table of m slots reads (ebb_ring_read) */
	memset(table + m, 0, (EBB_RING_SIZE - m) * sizeof(*table));
	while (filled < m) {
		for (size_t i = 0; i < n && filled < m; i++) {
			__u64 slot;

			w[i].credit += w[i].weight;
			if (w[i].credit < max_weight)
				continue;
			w[i].credit -= max_weight;
			do {
				slot = (w[i].offset + w[i].next * w[i].skip) % m;
				w[i].next++;
			} while (table[slot] != EMPTY_SLOT);
			table[slot] = w[i].id;
			filled++;
		}
	}
	free(sorted);
	free(w);
	return 0;
}

int ebb_table_build(const struct ebb_maglev_node *set, size_t n, __u32 m, __u32 *table)
{
	int ret;

	if (n == 0) {
		memset(table, 0, EBB_RING_SIZE * sizeof(*table));
		return 0;
	}
	ret = ebb_maglev_build_m(set, n, m, table);
	return ret == -ENOMEM ? -ENOMEM : ret ? -EINVAL : 0;
}

const char *ebb_table_sizes_str(void)
{
	static char buf[128];
	static const __u32 sizes[] = { EBB_TABLE_SIZES };

	if (!buf[0])
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%u", i ? ", " : "",
				 sizes[i]);
	return buf;
}
