// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What a long-running reader of the pinned state needs beyond ebbctl's one-shot calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>

#include "libebb_agent.h"

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

struct walk_adapter {
	struct ebb_walk *w;
	void (*fn)(const struct ebb_flow_key *key, const struct ebb_flow *val, void *ctx);
	void *ctx;
};

static int walk_one(const struct ebb_flow_entry *f, void *arg)
{
	struct walk_adapter *ad = arg;

	ad->fn(&f->key, &f->val, ad->ctx);
	ad->w->visited++;
	return 0;
}

int ebb_flows_walk(struct ebb *e, struct ebb_walk *w, __u64 cpu_budget_ns,
		   void (*fn)(const struct ebb_flow_key *key, const struct ebb_flow *val, void *ctx),
		   void *ctx)
{
	struct walk_adapter ad = { .w = w, .fn = fn, .ctx = ctx };
	int ret;

	/* The IPv4 table is read in place (mmap): a whole pass costs milliseconds at 1M flows, so
	 * the budget that spread the LRU's syscall walk over several calls has nothing to split. */
	(void)cpu_budget_ns;
	w->visited = 0;
	w->started = false;
	ret = ebb_flows_each(e, walk_one, &ad);
	return ret < 0 ? ret : 1;
}

void ebb_walk_free(struct ebb_walk *w)
{
	(void)w; /* nothing held between passes since the walk reads the mapped table */
}
