// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The flow lists: those a measurement pass builds (measure.c) and a draining node's, which
 * drain.c judges. Freeing and merging them calls nothing else of ebbd's, so state.c may drop a
 * node's lists when it goes without calling up into the files that fill them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"

void watch_reset(struct watch *w)
{
	free(w->keys);
	*w = (struct watch){};
}

static int key_cmp(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(struct ebb_flow_key));
}

/* A still complete w (no flow pinned since it was made) gains nothing from nw. */
int watch_merge(struct watch *w, struct watch *nw)
{
	struct ebb_flow_key *keys;
	size_t i = 0, j = 0, n = 0;

	if (w->valid && w->new_flows0 == nw->new_flows0) {
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
