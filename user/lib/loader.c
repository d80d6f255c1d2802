// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loading the balancer and attaching it to devices. Maps are pinned by name under the bpffs
 * directory and reused by every later load; each attachment is a bpf_link pinned there too,
 * so the datapath keeps forwarding after ebbctl exits (lab.md, trap 8).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "balancer.skel.h"

#define LINK_PREFIX "link_xdp_"

static void link_path(const char *bpffs, const char *ifname, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" LINK_PREFIX "%s", bpffs, ifname);
}

/* The flow table keeps the size it was created with; a reload must ask for that size. */
static int pinned_flow_table_size(const char *bpffs, __u32 *size)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[600];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/flows", bpffs);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	ret = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (ret)
		return ret;
	*size = info.max_entries;
	return 0;
}

int ebb_prog_attach(const struct ebb_attach_opts *o, struct ebb_err *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = o->bpffs);
	LIBBPF_OPTS(bpf_link_create_opts, link_opts);
	struct balancer_bpf *skel;
	__u32 pinned_size, prog_id = 0;
	char path[600];
	int ifindex, link_fd, ret;

	if (strlen(o->ifname) >= IF_NAMESIZE)
		return ebb_errf(err, "invalid device name '%s'", o->ifname);
	ifindex = if_nametoindex(o->ifname);
	if (!ifindex)
		return ebb_errf(err, "no device '%s'", o->ifname);
	ret = ebb_ensure_bpffs(o->bpffs, err);
	if (ret)
		return ret;
	link_path(o->bpffs, o->ifname, path, sizeof(path));
	if (access(path, F_OK) == 0)
		return ebb_errf(err, "ebb is already attached to %s", o->ifname);
	if (!bpf_xdp_query_id(ifindex, 0, &prog_id) && prog_id)
		return ebb_errf(err, "%s already runs XDP program id %u; detach it first", o->ifname,
				prog_id);
	if (!pinned_flow_table_size(o->bpffs, &pinned_size) && o->flow_table_size &&
	    o->flow_table_size != pinned_size)
		return ebb_errf(err, "the flow table under %s has %u entries, not %u: detach everywhere and remove %s to resize it",
				o->bpffs, pinned_size, o->flow_table_size, o->bpffs);

	skel = balancer_bpf__open_opts(&open_opts);
	if (!skel)
		return ebb_errf(err, "cannot open the balancer object: %s", strerror(errno));
	if (!pinned_flow_table_size(o->bpffs, &pinned_size))
		bpf_map__set_max_entries(skel->maps.flows, pinned_size);
	else if (o->flow_table_size)
		bpf_map__set_max_entries(skel->maps.flows, o->flow_table_size);
	ret = balancer_bpf__load(skel);
	if (ret) {
		ret = ebb_errf(err, "cannot load the balancer: %s (run with -v for the verifier's log)",
			       strerror(-ret));
		goto out;
	}
	link_opts.flags = o->generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	link_fd = bpf_link_create(bpf_program__fd(skel->progs.ebb_balancer), ifindex, BPF_XDP,
				  &link_opts);
	if (link_fd < 0) {
		ret = ebb_errf(err, "cannot attach to %s in %s mode: %s", o->ifname,
			       o->generic ? "generic" : "native", strerror(errno));
		goto out;
	}
	if (bpf_obj_pin(link_fd, path)) {
		ret = ebb_errf(err, "cannot pin the link at %s: %s", path, strerror(errno));
		/* closing the only reference detaches it again: nothing is left half-done */
	}
	close(link_fd);
out:
	balancer_bpf__destroy(skel);
	return ret;
}

int ebb_prog_detach(const char *bpffs, const char *ifname, struct ebb_err *err)
{
	char path[600];
	int fd;

	link_path(bpffs, ifname, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return ebb_errf(err, "ebb is not attached to '%s'", ifname);
	if (bpf_link_detach(fd) && errno != EINVAL) {
		close(fd);
		return ebb_errf(err, "cannot detach from %s: %s", ifname, strerror(errno));
	}
	close(fd);
	if (unlink(path))
		return ebb_errf(err, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}

int ebb_prog_list(const char *bpffs, struct ebb_link_info *out, int max)
{
	struct dirent *de;
	DIR *dir = opendir(bpffs);
	int n = 0;

	if (!dir)
		return 0;
	while (n < max && (de = readdir(dir))) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		char path[600];
		int fd;

		if (strncmp(de->d_name, LINK_PREFIX, strlen(LINK_PREFIX)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", bpffs, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		snprintf(out[n].ifname, sizeof(out[n].ifname), "%s", de->d_name + strlen(LINK_PREFIX));
		if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
			out[n].link_id = info.id;
			out[n].prog_id = info.prog_id;
			out[n].ifindex = info.xdp.ifindex;
		}
		close(fd);
		snprintf(out[n].mode, sizeof(out[n].mode), "detached");
		if (out[n].ifindex && !bpf_xdp_query(out[n].ifindex, 0, &q))
			snprintf(out[n].mode, sizeof(out[n].mode), "%s",
				 q.attach_mode == XDP_ATTACHED_SKB ? "generic" :
				 q.attach_mode == XDP_ATTACHED_DRV ? "native" :
				 q.attach_mode == XDP_ATTACHED_MULTI ? "multi" : "none");
		n++;
	}
	closedir(dir);
	return n;
}
