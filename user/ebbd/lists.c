// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The flow lists ebbd keeps: a draining node's (struct watch, which drain.c judges) and those
 * a measurement pass builds (struct pass, measure.c). Freeing and merging them calls nothing
 * else of ebbd's, so state.c may drop them when the maps go without calling up into the files
 * that fill them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ebbd.h"

void watch_reset(struct watch *w)
{
	free(w->keys);
	*w = (struct watch){};
}

static int key_cmp(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(struct ebb_flow_key));
}

/*
 * A new pass's list `nw` (consumed) for the same drain as `w`: w keeps every key it had that was
 * not judged yet, and gains nw's. A still complete w (no flow pinned since it was made) gains
 * nothing from nw. Returns 0, or -ENOMEM (w then stays as it was, nw freed).
 */
int watch_merge(struct watch *w, struct watch *nw)
{
	struct ebb_flow_key *keys;
	size_t i = 0, j = 0, n = 0;

	if (w->valid && !w->stale && w->new_flows0 == nw->new_flows0) {
		watch_reset(nw);
		return 0;
	}
	keys = malloc((w->n + nw->n ? w->n + nw->n : 1) * sizeof(*keys));
	if (!keys) {
		watch_reset(nw);
		return -ENOMEM;
	}
	qsort(w->keys, w->n, sizeof(*keys), key_cmp);
	qsort(nw->keys, nw->n, sizeof(*keys), key_cmp);
	while (i < w->n || j < nw->n) {
		int c = i == w->n ? 1 : j == nw->n ? -1 : key_cmp(&w->keys[i], &nw->keys[j]);

		keys[n++] = c <= 0 ? w->keys[i] : nw->keys[j];
		i += c <= 0;
		j += c >= 0;
	}
	free(w->keys);
	free(nw->keys);
	*w = (struct watch){ .keys = keys, .n = n, .cap = w->n + nw->n, .valid = nw->valid,
			     .since = nw->since, .new_flows0 = nw->new_flows0 };
	*nw = (struct watch){};
	return 0;
}

void pass_free(struct agent *a)
{
	if (a->pass) {
		for (__u32 id = 0; id < EBB_MAX_NODES; id++)
			free(a->pass->lists[id].keys);
		free(a->pass);
		a->pass = NULL;
	}
	ebb_walk_free(&a->walk);
	a->walk.started = false;
}
