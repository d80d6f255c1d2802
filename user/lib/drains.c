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

static void drains_path(const char *bpffs, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", bpffs, EBB_DRAINS_PIN);
}

int ebb_drains_open(const char *bpffs, bool create)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	char path[600];
	int fd;

	drains_path(bpffs, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0 || !create)
		return fd < 0 ? -errno : fd;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ebbd_drains", sizeof(__u32),
			    sizeof(struct ebb_drain_view), EBB_MAX_NODES, &opts);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		int ret = -errno;

		close(fd);
		/* another ebbd pinned it first: use that one */
		fd = bpf_obj_get(path);
		return fd < 0 ? ret : fd;
	}
	return fd;
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
