// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The decapsulator on a backend node: attach it, and tell it which VIP prefixes are ours. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "internal.h"
#include "decap.skel.h"

#define DECAP_LINK_PREFIX "decap_xdp_"

int ebb_decap_attach(const char *bpffs, const char *ifname, bool generic, struct ebb_err *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = bpffs);
	struct decap_bpf *skel;
	int ifindex, ret;

	ret = ebb_link_precheck(bpffs, DECAP_LINK_PREFIX, ifname, &ifindex, err);
	if (!ret)
		ret = ebb_ensure_bpffs(bpffs, err);
	if (ret)
		return ret;
	skel = decap_bpf__open_opts(&opts);
	ret = ebb_link_load(skel ? skel->skeleton : NULL, skel ? skel->progs.ebb_decap : NULL,
			    "the decapsulator", bpffs, DECAP_LINK_PREFIX, ifname, ifindex, generic, err);
	decap_bpf__destroy(skel);
	return ret;
}

int ebb_decap_detach(const char *bpffs, const char *ifname, struct ebb_err *err)
{
	return ebb_link_detach(bpffs, DECAP_LINK_PREFIX, ifname, err);
}

int ebb_decap_list(const char *bpffs, struct ebb_link_info *out, int max)
{
	return ebb_link_list(bpffs, DECAP_LINK_PREFIX, out, max);
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
