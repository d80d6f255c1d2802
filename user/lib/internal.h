/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* libebb's private helpers, not for ebbctl or ebbd. */
#ifndef LIBEBB_INTERNAL_H
#define LIBEBB_INTERNAL_H

#include "libebb.h"

/* Rebuilds the rings as if node override_id (0 = none) were in override_state: a state change
 * reaches the tables before the node entry, so no new flow slips onto a node being drained. */
int ebb_rings_rebuild_as(struct ebb *e, __u32 vip_id, __u32 override_id, __u8 override_state,
			 struct ebb_err *err);

int ebb_counters_zero(int map_fd, __u32 id);

/* links.c: XDP attachments pinned as PREFIX<ifname> under the bpffs directory. */
void ebb_link_path(const char *bpffs, const char *prefix, const char *ifname, char *buf, size_t len);
int ebb_link_precheck(const char *bpffs, const char *prefix, const char *ifname, int *ifindex,
		      struct ebb_err *err);
int ebb_link_create(const char *bpffs, const char *prefix, const char *ifname, int ifindex,
		    int prog_fd, bool generic, struct ebb_err *err);
int ebb_link_detach(const char *bpffs, const char *prefix, const char *ifname, struct ebb_err *err);
int ebb_link_list(const char *bpffs, const char *prefix, struct ebb_link_info *out, int max);

#endif
