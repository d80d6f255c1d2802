// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The census (bpf/census.bpf.c): live flows per node, counted inside the kernel. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libebb_agent.h"
#include "census.skel.h"

struct ebb_census {
	struct census_bpf *skel;
	__u32 flows_id;
};

static int flows_map_id(int fd, __u32 *id)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.key_size != sizeof(struct ebb_flow_key) || info.value_size != sizeof(struct ebb_flow))
		return -EPROTO; /* a table of another layout: not this census's */
	*id = info.id;
	return 0;
}

int ebb_census_open(struct ebb *e, struct ebb_census **out)
{
	struct ebb_census *c = calloc(1, sizeof(*c));
	int ret;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	ret = flows_map_id(e->flows_fd, &c->flows_id);
	if (ret)
		goto fail;
	c->skel = census_bpf__open();
	if (!c->skel) {
		ret = -errno;
		goto fail;
	}
	ret = bpf_map__reuse_fd(c->skel->maps.flows, e->flows_fd);
	if (!ret)
		ret = census_bpf__load(c->skel);
	if (ret)
		goto fail;
	*out = c;
	return 0;
fail:
	ebb_census_close(c);
	return ret < 0 ? ret : -EINVAL;
}

void ebb_census_close(struct ebb_census *c)
{
	if (!c)
		return;
	census_bpf__destroy(c->skel);
	free(c);
}

bool ebb_census_current(struct ebb_census *c, struct ebb *e)
{
	__u32 id;

	return c && !flows_map_id(e->flows_fd, &id) && id == c->flows_id;
}

struct ebb_census_io *ebb_census_io(struct ebb_census *c)
{
	return &c->skel->bss->io;
}

int ebb_census_run(struct ebb_census *c)
{
	struct ebb_census_io *io = &c->skel->bss->io;
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	io->visited = io->live_total = 0;
	io->n_keys = 0;
	memset(io->live, 0, sizeof(io->live));
	memset(io->last_end, 0, sizeof(io->last_end));
	memset(io->ended, 0, sizeof(io->ended));
	if (bpf_prog_test_run_opts(bpf_program__fd(c->skel->progs.ebb_census), &opts))
		return -errno;
	return 0;
}

int ebb_census_walk(struct ebb_census *c)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	c->skel->bss->io.visited = 0;
	return bpf_prog_test_run_opts(bpf_program__fd(c->skel->progs.ebb_census_walk), &opts) ? -errno : 0;
}

int ebb_census_keys(struct ebb_census *c, struct ebb_census_key *keys, __u32 n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 *idx = calloc(n ? n : 1, sizeof(*idx)), done = 0;
	int fd = bpf_map__fd(c->skel->maps.census_keys);
	__u32 token;
	void *in = NULL;

	if (!idx)
		return -ENOMEM;
	while (done < n) {
		__u32 count = n - done;
		int err = bpf_map_lookup_batch(fd, in, &token, idx + done, keys + done, &count, &opts);

		done += count;
		if (err && errno != ENOENT) {
			free(idx);
			return -errno;
		}
		if (err)
			break;
		in = &token;
	}
	free(idx);
	return (int)done;
}
