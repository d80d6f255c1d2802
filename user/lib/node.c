// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The node program (bpf/node.bpf.c) on a backend: attach it, find its state. Its pins live in a
 * directory of their own per network namespace, BPFFS/node-<netns inode>: several lab nodes on
 * one machine share one bpffs, and names by interface alone collide (eth0 in every node).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "internal.h"
#include "node.skel.h"

#define NODE_LINK_PREFIX "xdp_"

int ebb_node_dir(const char *bpffs, char *buf, size_t len)
{
	return ebb_netns_dir(bpffs, "node", buf, len);
}

static int node_dir(const char *bpffs, char *buf, size_t len, struct ebb_err *err)
{
	int ret = ebb_node_dir(bpffs, buf, len);

	return ret ? ebb_errf(err, "cannot name this namespace's node directory: %s",
			      strerror(-ret)) : 0;
}

int ebb_node_attach(const char *bpffs, const char *ifname, bool generic, struct ebb_err *err)
{
	char dir[4096];
	struct node_bpf *skel;
	int ifindex, ret;

	ret = ebb_ensure_bpffs(bpffs, err);
	if (!ret)
		ret = node_dir(bpffs, dir, sizeof(dir), err);
	if (ret)
		return ret;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return ebb_errf(err, "cannot create %s: %s", dir, strerror(errno));
	ret = ebb_link_precheck(dir, NODE_LINK_PREFIX, ifname, &ifindex, err);
	if (ret)
		return ret;
	{
		LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = dir);

		skel = node_bpf__open_opts(&opts);
	}
	ret = ebb_link_load(skel ? skel->skeleton : NULL, skel ? skel->progs.ebb_node : NULL,
			    "the node program", dir, NODE_LINK_PREFIX, ifname, ifindex, generic, err);
	node_bpf__destroy(skel);
	return ret;
}

/* The last device detached takes the node's state with it: a network namespace's inode number
 * is reused once the namespace is gone, and a later node must not inherit these maps. */
int ebb_node_detach(const char *bpffs, const char *ifname, struct ebb_err *err)
{
	static const char *const pins[] = { "decap_prefixes", "decap_stats", "node_stats" };
	struct ebb_link_info links[1];
	char dir[4096], path[4200];
	int ret = node_dir(bpffs, dir, sizeof(dir), err);

	if (!ret)
		ret = ebb_link_detach(dir, NODE_LINK_PREFIX, ifname, err);
	if (ret || ebb_link_list(dir, NODE_LINK_PREFIX, links, 1) > 0)
		return ret;
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, pins[i]);
		if (unlink(path) && errno != ENOENT)
			return ebb_errf(err, "cannot remove %s: %s", path, strerror(errno));
	}
	if (rmdir(dir) && errno != ENOENT)
		return ebb_errf(err, "cannot remove %s: %s", dir, strerror(errno));
	return 0;
}

int ebb_node_list(const char *bpffs, struct ebb_link_info *out, int max)
{
	char dir[4096];

	if (ebb_node_dir(bpffs, dir, sizeof(dir)))
		return 0;
	return ebb_link_list(dir, NODE_LINK_PREFIX, out, max);
}

int ebb_node_stat(const char *bpffs, __u32 reason, struct ebb_reason_counter *sum)
{
	char dir[4096];

	*sum = (struct ebb_reason_counter){};
	if (ebb_node_dir(bpffs, dir, sizeof(dir)))
		return -ENOENT;
	return ebb_reason_sum_pinned(dir, "node_stats", reason, sum);
}

const char *ebb_node_reason_name(__u32 reason)
{
	static const char *const names[EBB_N_MAX] = {
		[EBB_N_DELIVERED_OWNER] = "delivered_owner",
		[EBB_N_FORWARDED_NEXT] = "forwarded_next",
		[EBB_N_DELIVERED_LAST] = "delivered_last",
		[EBB_N_DELIVERED_NO_MAC] = "delivered_no_mac",
		[EBB_N_DROP_SHORT] = "drop_short",
		[EBB_N_DROP_BAD_OUTER] = "drop_bad_outer",
		[EBB_N_DROP_BAD_VERSION] = "drop_bad_version",
		[EBB_N_DROP_BAD_COUNT] = "drop_bad_count",
		[EBB_N_DROP_BAD_HOP] = "drop_bad_hop",
		[EBB_N_DROP_BAD_FLAGS] = "drop_bad_flags",
		[EBB_N_DROP_BAD_CAND] = "drop_bad_cand",
		[EBB_N_DROP_TRUNCATED] = "drop_truncated",
		[EBB_N_DROP_BAD_LENGTH] = "drop_bad_length",
		[EBB_N_DROP_BAD_INNER] = "drop_bad_inner",
		[EBB_N_CLAIMED] = "claimed",
	};

	return reason < EBB_N_MAX && names[reason] ? names[reason] : "?";
}
