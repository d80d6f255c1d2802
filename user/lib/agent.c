// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What a long-running reader of the pinned state needs beyond ebbctl's one-shot calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "libebb_agent.h"

#define WALK_BATCH 4096

int ebb_trylock(struct ebb *e)
{
	if (e->lock_fd >= 0)
		return 0;
	e->lock_fd = open(e->bpffs[0] ? e->bpffs : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->lock_fd < 0)
		return -errno;
	if (flock(e->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int ret = -errno;

		close(e->lock_fd);
		e->lock_fd = -1;
		return ret;
	}
	return 0;
}

void ebb_unlock(struct ebb *e)
{
	if (e->lock_fd < 0)
		return;
	/* Closing the only descriptor of the open file releases the flock. */
	close(e->lock_fd);
	e->lock_fd = -1;
}

int ebb_map_dump(int map_fd, void *keys, void *vals, __u32 max, __u32 key_size, __u32 val_size)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 token;
	void *in = NULL;
	__u32 n = 0;

	while (n < max) {
		__u32 count = max - n;
		int err = bpf_map_lookup_batch(map_fd, in, &token, (char *)keys + (size_t)n * key_size,
					       (char *)vals + (size_t)n * val_size, &count, &opts);

		if (err && errno != ENOENT)
			return -errno;
		n += count;
		if (err)
			break;
		in = &token;
	}
	return n;
}

static __u64 thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int ebb_flows_walk(struct ebb *e, struct ebb_walk *w, __u64 cpu_budget_ns,
		   void (*fn)(const struct ebb_flow_key *key, const struct ebb_flow *val, void *ctx),
		   void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 start = cpu_budget_ns ? thread_cpu_ns() : 0;
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);

	/* The batches below are of the LRU flow table's keys and values; since layout 7 `flows`
	 * is the bucket array (include/ebb_flowtable.h), whose 128-byte values would overrun
	 * them. Refused until this walk reads the mapped table (doc/flow-table-progress.md). */
	if (bpf_obj_get_info_by_fd(e->flows_fd, &info, &info_len))
		return -errno;
	if (info.value_size != sizeof(*w->vals))
		return -EPROTO;
	if (!w->started)
		w->visited = 0;
	if (!w->keys) {
		w->keys = calloc(WALK_BATCH, sizeof(*w->keys));
		w->vals = calloc(WALK_BATCH, sizeof(*w->vals));
		if (!w->keys || !w->vals) {
			ebb_walk_free(w);
			return -ENOMEM;
		}
	}
	for (;;) {
		__u32 count = WALK_BATCH;
		__u64 next;
		int err = bpf_map_lookup_batch(e->flows_fd, w->started ? &w->cursor : NULL, &next,
					       w->keys, w->vals, &count, &opts);

		if (err && errno != ENOENT) {
			err = -errno;
			w->started = false;
			return err;
		}
		for (__u32 i = 0; i < count; i++)
			fn(&w->keys[i], &w->vals[i], ctx);
		w->visited += count;
		if (err) { /* ENOENT: that was the last batch */
			w->started = false;
			return 1;
		}
		w->cursor = next;
		w->started = true;
		if (cpu_budget_ns && thread_cpu_ns() - start >= cpu_budget_ns)
			return 0;
	}
}

void ebb_walk_free(struct ebb_walk *w)
{
	free(w->keys);
	free(w->vals);
	w->keys = NULL;
	w->vals = NULL;
}
