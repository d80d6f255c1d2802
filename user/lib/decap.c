// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The decapsulator on a backend node: attach it, and tell it which VIP prefixes are ours. Its
 * pins live in a directory of their own per network namespace, BPFFS/decap-<netns inode>, as the
 * node program's do: several lab nodes share one bpffs, and eth0 is in every one of them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "internal.h"
#include "decap.skel.h"

#define DECAP_LINK_PREFIX "decap_xdp_"

static const char *const decap_pins[] = { "decap_prefixes", "decap_stats" };

int ebb_decap_dir(const char *bpffs, char *buf, size_t len)
{
	return ebb_netns_dir(bpffs, "decap", buf, len);
}

static int decap_dir(const char *bpffs, char *buf, size_t len, struct ebb_err *err)
{
	int ret = ebb_decap_dir(bpffs, buf, len);

	return ret ? ebb_errf(err, "cannot name this namespace's decapsulator directory: %s",
			      strerror(-ret)) : 0;
}

/*
 * An older ebbctl pinned BPFFS/decap_xdp_IFNAME, decap_prefixes and decap_stats, shared by every
 * namespace using that bpffs. Such a link is this namespace's only when this namespace's device
 * of that name runs the link's very program (program ids are unique machine-wide), so another
 * node's old link is never taken for ours.
 */
static bool legacy_link_ours(const char *bpffs, const char *ifname)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info), prog_id = 0;
	char path[4200];
	int fd, ifindex = if_nametoindex(ifname);
	bool ours = false;

	ebb_link_path(bpffs, DECAP_LINK_PREFIX, ifname, path, sizeof(path));
	fd = ifindex ? bpf_obj_get(path) : -1;
	if (fd < 0)
		return false;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.xdp.ifindex == (__u32)ifindex &&
	    !bpf_xdp_query_id(ifindex, 0, &prog_id) && prog_id && prog_id == info.prog_id)
		ours = true;
	close(fd);
	return ours;
}

static int legacy_links(const char *bpffs, struct ebb_link_info *out, int max, bool ours_only)
{
	struct ebb_link_info all[64];
	int n = ebb_link_list(bpffs, DECAP_LINK_PREFIX, all, 64), k = 0;

	for (int i = 0; i < n && k < max; i++)
		if (!ours_only || legacy_link_ours(bpffs, all[i].ifname))
			out[k++] = all[i];
	return k;
}

static int remove_pins(const char *dir, struct ebb_err *err)
{
	char path[4200];

	for (size_t i = 0; i < sizeof(decap_pins) / sizeof(decap_pins[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, decap_pins[i]);
		if (unlink(path) && errno != ENOENT)
			return ebb_errf(err, "cannot remove %s: %s", path, strerror(errno));
	}
	return 0;
}

int ebb_decap_state_dir(const char *bpffs, char *buf, size_t len)
{
	struct ebb_link_info one[1];
	char path[4200];
	int ret = ebb_decap_dir(bpffs, buf, len);

	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/decap_prefixes", buf);
	if (!access(path, F_OK))
		return 0;
	snprintf(path, sizeof(path), "%s/decap_prefixes", bpffs);
	if (!access(path, F_OK) && legacy_links(bpffs, one, 1, true) > 0) {
		snprintf(buf, len, "%s", bpffs);
		return 0;
	}
	return -ENOENT;
}

int ebb_decap_attach(const char *bpffs, const char *ifname, bool generic, struct ebb_err *err)
{
	struct decap_bpf *skel;
	char dir[4096];
	int ifindex, ret;

	ret = ebb_ensure_bpffs(bpffs, err);
	if (!ret)
		ret = decap_dir(bpffs, dir, sizeof(dir), err);
	if (ret)
		return ret;
	if (legacy_link_ours(bpffs, ifname))
		return ebb_errf(err, "already attached to %s (pinned by an older ebbctl as %s/%s%s)",
				ifname, bpffs, DECAP_LINK_PREFIX, ifname);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return ebb_errf(err, "cannot create %s: %s", dir, strerror(errno));
	ret = ebb_link_precheck(dir, DECAP_LINK_PREFIX, ifname, &ifindex, err);
	if (ret)
		goto out;
	{
		LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = dir);

		skel = decap_bpf__open_opts(&opts);
	}
	ret = ebb_link_load(skel ? skel->skeleton : NULL, skel ? skel->progs.ebb_decap : NULL,
			    "the decapsulator", dir, DECAP_LINK_PREFIX, ifname, ifindex, generic, err);
	decap_bpf__destroy(skel);
out:
	/* a refused first attach leaves no empty directory behind */
	if (ret && ebb_link_list(dir, DECAP_LINK_PREFIX, (struct ebb_link_info[1]){}, 1) == 0) {
		remove_pins(dir, &(struct ebb_err){});
		rmdir(dir);
	}
	return ret;
}

/* The last device detached takes the namespace's state with it: a network namespace's inode
 * number is reused once the namespace is gone, and a later node must not inherit these maps. */
int ebb_decap_detach(const char *bpffs, const char *ifname, struct ebb_err *err)
{
	struct ebb_link_info one[1];
	char dir[4096], path[4200];
	int ret = decap_dir(bpffs, dir, sizeof(dir), err);

	if (ret)
		return ret;
	ebb_link_path(dir, DECAP_LINK_PREFIX, ifname, path, sizeof(path));
	if (access(path, F_OK) && legacy_link_ours(bpffs, ifname)) {
		ret = ebb_link_detach(bpffs, DECAP_LINK_PREFIX, ifname, err);
		/* the old layout's maps are shared: gone only with the last old link */
		if (!ret && legacy_links(bpffs, one, 1, false) == 0)
			ret = remove_pins(bpffs, err);
		return ret;
	}
	ret = ebb_link_detach(dir, DECAP_LINK_PREFIX, ifname, err);
	if (ret || ebb_link_list(dir, DECAP_LINK_PREFIX, one, 1) > 0)
		return ret;
	ret = remove_pins(dir, err);
	if (!ret && rmdir(dir) && errno != ENOENT)
		ret = ebb_errf(err, "cannot remove %s: %s", dir, strerror(errno));
	return ret;
}

int ebb_decap_list(const char *bpffs, struct ebb_link_info *out, int max)
{
	char dir[4096];
	int n = 0;

	if (!ebb_decap_dir(bpffs, dir, sizeof(dir)))
		n = ebb_link_list(dir, DECAP_LINK_PREFIX, out, max);
	return n + legacy_links(bpffs, out + n, max - n, true);
}

static int open_pinned(const char *bpffs, const char *name, struct ebb_err *err)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", bpffs, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return ebb_errf(err, "no decapsulator state under %s: run 'ebbctl decap attach dev IFNAME' first",
				bpffs);
	return fd;
}

int ebb_parse_prefix(const char *s, struct ebb_decap_key *key, struct ebb_err *err)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	struct ebb_addr addr;
	__u32 len;
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n >= sizeof(buf))
		return ebb_errf(err, "invalid prefix '%s'", s);
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (ebb_parse_addr(buf, &addr, NULL))
		return ebb_errf(err, "invalid prefix '%s': bad address", s);
	if (!slash)
		len = addr.family == EBB_FAMILY_V4 ? 32 : 128;
	else if (ebb_parse_u32(slash + 1, 1, addr.family == EBB_FAMILY_V4 ? 32 : 128, &len))
		return ebb_errf(err, "invalid prefix '%s': bad length", s);
	memset(key, 0, sizeof(*key));
	key->prefixlen = 32 + len;
	key->family = addr.family;
	memcpy(key->addr, addr.a, sizeof(key->addr));
	/* the trie matches bits; host bits set past the length would be noise in `show` */
	for (__u32 bit = len; bit < 128; bit++)
		((__u8 *)key->addr)[bit / 8] &= ~(0x80 >> (bit % 8));
	return 0;
}

int ebb_decap_prefix(const char *bpffs, const struct ebb_decap_key *key, bool add,
		     struct ebb_err *err)
{
	int fd = open_pinned(bpffs, "decap_prefixes", err);
	__u32 one = 1;
	int ret = 0;

	if (fd < 0)
		return fd;
	if (add && bpf_map_update_elem(fd, key, &one, BPF_NOEXIST))
		ret = ebb_errf(err, errno == EEXIST ? "prefix already there" : "cannot add prefix: %s",
			       strerror(errno));
	else if (!add && bpf_map_delete_elem(fd, key))
		ret = ebb_errf(err, errno == ENOENT ? "no such prefix" : "cannot remove prefix: %s",
			       strerror(errno));
	close(fd);
	return ret;
}

int ebb_decap_prefixes(const char *bpffs, struct ebb_decap_key *out, int max, struct ebb_err *err)
{
	struct ebb_decap_key k, *prev = NULL;
	int fd = open_pinned(bpffs, "decap_prefixes", err), n = 0;

	if (fd < 0)
		return fd;
	while (n < max && !bpf_map_get_next_key(fd, prev, &k)) {
		out[n] = k;
		prev = &out[n++];
	}
	close(fd);
	return n;
}

int ebb_decap_stat(const char *bpffs, __u32 reason, struct ebb_reason_counter *sum)
{
	return ebb_reason_sum_pinned(bpffs, "decap_stats", reason, sum);
}

const char *ebb_decap_reason_name(__u32 reason)
{
	static const char *const names[EBB_D_MAX] = {
		[EBB_D_DECAPSULATED] = "decapsulated",	 [EBB_D_PASS_NOT_TUNNEL] = "pass_not_tunnel",
		[EBB_D_PASS_NOT_VIP] = "pass_not_vip",	 [EBB_D_DROP_TRUNCATED] = "drop_truncated",
		[EBB_D_DROP_BAD_OUTER] = "drop_bad_outer", [EBB_D_DROP_BAD_INNER] = "drop_bad_inner",
	};

	return reason < EBB_D_MAX ? names[reason] : "?";
}
