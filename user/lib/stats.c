// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-CPU counters, summed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "libebb.h"
#include "internal.h"

int ebb_counters_sum(int map_fd, __u32 id, struct ebb_counters *sum)
{
	int ncpus = ebb_ncpus();
	struct ebb_counters *per_cpu = calloc(ncpus, sizeof(*per_cpu));

	*sum = (struct ebb_counters){};
	if (!per_cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(map_fd, &id, per_cpu)) {
		free(per_cpu);
		return -errno;
	}
	for (int i = 0; i < ncpus; i++) {
		sum->packets += per_cpu[i].packets;
		sum->bytes += per_cpu[i].bytes;
		sum->new_flows += per_cpu[i].new_flows;
		sum->second_chance += per_cpu[i].second_chance;
		sum->unpinned += per_cpu[i].unpinned;
	}
	free(per_cpu);
	return 0;
}

static int reason_sum_fd(int fd, __u32 reason, struct ebb_reason_counter *sum)
{
	int ncpus = ebb_ncpus();
	struct ebb_reason_counter *per_cpu = calloc(ncpus, sizeof(*per_cpu));

	*sum = (struct ebb_reason_counter){};
	if (!per_cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &reason, per_cpu)) {
		free(per_cpu);
		return -errno;
	}
	for (int i = 0; i < ncpus; i++) {
		sum->packets += per_cpu[i].packets;
		sum->bytes += per_cpu[i].bytes;
	}
	free(per_cpu);
	return 0;
}

int ebb_reason_sum(struct ebb *e, __u32 reason, struct ebb_reason_counter *sum)
{
	return reason_sum_fd(e->reasons_fd, reason, sum);
}

int ebb_vip_reason_sum(struct ebb *e, __u32 vip_id, __u32 reason, struct ebb_reason_counter *sum)
{
	*sum = (struct ebb_reason_counter){};
	if (e->vip_reasons_fd < 0 || vip_id >= EBB_MAX_VIPS || reason >= EBB_R_SLOTS)
		return 0;
	return reason_sum_fd(e->vip_reasons_fd, EBB_VIP_REASON(vip_id, reason), sum);
}

int ebb_vip_reasons_zero(struct ebb *e, __u32 vip_id)
{
	struct ebb_reason_counter *zeros = calloc(ebb_ncpus(), sizeof(*zeros));
	int ret = 0;

	if (!zeros)
		return -ENOMEM;
	for (__u32 r = 0; e->vip_reasons_fd >= 0 && r < EBB_R_SLOTS && !ret; r++)
		if (bpf_map_update_elem(e->vip_reasons_fd, &(__u32){ EBB_VIP_REASON(vip_id, r) }, zeros,
					BPF_ANY))
			ret = -errno;
	free(zeros);
	return ret;
}

int ebb_reason_sum_pinned(const char *dir, const char *name, __u32 reason,
			  struct ebb_reason_counter *sum)
{
	char path[4200];
	int fd, ret;

	*sum = (struct ebb_reason_counter){};
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	ret = reason_sum_fd(fd, reason, sum) ? -ENOENT : 0;
	close(fd);
	return ret;
}

/* A slot reused by a new VIP or node starts from zero, not from its predecessor's counts. */
int ebb_counters_zero(int map_fd, __u32 id)
{
	struct ebb_counters *zeros = calloc(ebb_ncpus(), sizeof(*zeros));
	int ret;

	if (!zeros)
		return -ENOMEM;
	ret = bpf_map_update_elem(map_fd, &id, zeros, BPF_ANY) ? -errno : 0;
	free(zeros);
	return ret;
}
