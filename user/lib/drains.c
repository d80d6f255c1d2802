// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbd's judgement of each draining node (verified by the node's own report or not), pinned
 * beside the maps so that `ebbctl node show` can say it: a BPF array no program reads, written
 * by ebbd only, one entry per node id. An entry speaks of the drain whose state_since_ns it
 * carries; anything else is stale and read as "unverified".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "libebb_agent.h"
#include "internal.h"

int ebb_drains_open(const char *bpffs, bool create)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", bpffs, EBB_DRAINS_PIN);
	return ebb_map_pin_or_get(path, BPF_MAP_TYPE_ARRAY, "ebbd_drains", sizeof(__u32),
				  sizeof(struct ebb_drain_view), EBB_MAX_NODES, create);
}

int ebb_drains_read(const char *bpffs, __u32 id, __u64 since, struct ebb_drain_view *v)
{
	int fd = ebb_drains_open(bpffs, false), ret = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &id, v))
		ret = -errno;
	else if (!v->since || (since && v->since != since))
		ret = -ENOENT;
	close(fd);
	return ret;
}
