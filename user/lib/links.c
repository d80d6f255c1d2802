// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * XDP attachments as pinned bpf_links, named PREFIX<ifname> in the bpffs directory: a link
 * detaches when its last reference goes, so the pin is what keeps the datapath running after
 * the command that attached it exits (doc/xdp-on-veth.md, trap 8).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "internal.h"

int ebb_netns_dir(const char *bpffs, const char *prefix, char *buf, size_t len)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return -errno;
	if (snprintf(buf, len, "%s/%s-%llu", bpffs, prefix, (unsigned long long)st.st_ino) >=
	    (int)len)
		return -ENAMETOOLONG;
	return 0;
}

void ebb_link_path(const char *bpffs, const char *prefix, const char *ifname, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/%s%s", bpffs, prefix, ifname) >= (int)len)
		buf[0] = '\0';
}

int ebb_link_precheck(const char *bpffs, const char *prefix, const char *ifname, int *ifindex,
		      struct ebb_err *err)
{
	char path[4200];
	__u32 prog_id = 0;

	if (strlen(ifname) >= IF_NAMESIZE)
		return ebb_errf(err, "invalid device name '%s'", ifname);
	*ifindex = if_nametoindex(ifname);
	if (!*ifindex)
		return ebb_errf(err, "no device '%s'", ifname);
	ebb_link_path(bpffs, prefix, ifname, path, sizeof(path));
	if (access(path, F_OK) == 0)
		return ebb_errf(err, "already attached to %s", ifname);
	if (!bpf_xdp_query_id(*ifindex, 0, &prog_id) && prog_id)
		return ebb_errf(err, "%s already runs XDP program id %u; detach it first", ifname,
				prog_id);
	return 0;
}

int ebb_link_create(const char *bpffs, const char *prefix, const char *ifname, int ifindex,
		    int prog_fd, bool generic, struct ebb_err *err)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
	char path[4200];
	int fd, ret = 0;

	fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
	if (fd < 0)
		return ebb_errf(err, "cannot attach to %s in %s mode: %s", ifname,
				generic ? "generic" : "native", strerror(errno));
	ebb_link_path(bpffs, prefix, ifname, path, sizeof(path));
	/* If the pin fails, closing the only reference detaches again: nothing is half-done. */
	if (bpf_obj_pin(fd, path))
		ret = ebb_errf(err, "cannot pin the link at %s: %s", path, strerror(errno));
	close(fd);
	return ret;
}

int ebb_link_load(struct bpf_object_skeleton *s, struct bpf_program *prog, const char *what,
		  const char *bpffs, const char *prefix, const char *ifname, int ifindex,
		  bool generic, struct ebb_err *err)
{
	int ret;

	if (!s)
		return ebb_errf(err, "cannot open %s: %s", what, strerror(errno));
	ret = bpf_object__load_skeleton(s);
	if (ret)
		return ebb_errf(err, "cannot load %s: %s", what, strerror(-ret));
	return ebb_link_create(bpffs, prefix, ifname, ifindex, bpf_program__fd(prog), generic, err);
}

int ebb_link_detach(const char *bpffs, const char *prefix, const char *ifname, struct ebb_err *err)
{
	char path[4200];
	int fd;

	ebb_link_path(bpffs, prefix, ifname, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return ebb_errf(err, "not attached to '%s'", ifname);
	if (bpf_link_detach(fd) && errno != EINVAL) {
		close(fd);
		return ebb_errf(err, "cannot detach from %s: %s", ifname, strerror(errno));
	}
	close(fd);
	if (unlink(path))
		return ebb_errf(err, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}

int ebb_link_list(const char *bpffs, const char *prefix, struct ebb_link_info *out, int max)
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
		char path[4200];
		int fd;

		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", bpffs, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		snprintf(out[n].ifname, sizeof(out[n].ifname), "%s", de->d_name + strlen(prefix));
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
