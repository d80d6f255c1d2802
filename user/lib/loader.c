// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attaching the balancer to devices, and upgrading it on them (the object's own steps are
 * balancer.c's; another map layout is migrate.c's). Maps are pinned by name under the bpffs
 * directory and reused by every later load; each attachment is a bpf_link pinned there too,
 * so the datapath keeps forwarding after ebbctl exits (doc/xdp-on-veth.md, trap 8).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "internal.h"

static int pinned_meta(const char *bpffs, struct ebb_meta *meta)
{
	char path[600];
	__u32 zero = 0;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/meta", bpffs);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	ret = bpf_map_lookup_elem(fd, &zero, meta) ? -errno : 0;
	close(fd);
	return ret;
}

/* The map layout of the object a `prog upgrade` would load; -errno (err set) if it is none. */
static int balancer_layout(const char *obj_path, __u32 *version, struct ebb_err *err)
{
	struct bpf_object *obj = ebb_balancer_open(NULL, obj_path, err);
	int ret;

	if (!obj)
		return -EINVAL;
	ret = ebb_object_layout_version(obj, version);
	bpf_object__close(obj);
	return ret;
}

/*
 * Opens the balancer (the one built into this binary, or obj_path) ready to reuse the pinned
 * maps, and refuses before loading anything if its map layout is not the pinned one: libbpf
 * would otherwise fail half-way, or a future layout could misread the flows. (`prog upgrade`
 * migrates instead, migrate.c.)
 */
static struct bpf_object *open_balancer(const char *bpffs, const char *obj_path,
					__u32 flow_table_size, struct ebb_err *err)
{
	struct bpf_object *obj = ebb_balancer_open(bpffs, obj_path, err);
	struct ebb_meta meta;
	__u32 version = 0, pinned_size;

	if (!obj)
		return NULL;
	ebb_object_layout_version(obj, &version);
	if (!pinned_meta(bpffs, &meta) && meta.layout_version && meta.layout_version != version) {
		ebb_errf(err, "refusing: the maps under %s have layout version %u, the program expects %u; reusing them would lose or misread every flow",
			 bpffs, meta.layout_version, version);
		goto fail;
	}
	if (!ebb_pinned_flow_table_size(bpffs, &pinned_size)) {
		if (flow_table_size && flow_table_size != pinned_size) {
			ebb_errf(err, "the flow table under %s has %u entries, not %u: detach everywhere and remove %s to resize it",
				 bpffs, pinned_size, flow_table_size, bpffs);
			goto fail;
		}
		flow_table_size = pinned_size;
	}
	if (flow_table_size && ebb_flow_maps_size(obj, flow_table_size)) {
		ebb_errf(err, "cannot size the flow tables for %u flows", flow_table_size);
		goto fail;
	}
	return obj;
fail:
	bpf_object__close(obj);
	return NULL;
}

int ebb_prog_attach(const struct ebb_attach_opts *o, struct ebb_err *err)
{
	struct bpf_object *obj;
	int ifindex, ret;

	ret = ebb_link_precheck(o->bpffs, EBB_LINK_PREFIX, o->ifname, &ifindex, err);
	if (!ret)
		ret = ebb_ensure_bpffs(o->bpffs, err);
	if (ret)
		return ret;
	obj = open_balancer(o->bpffs, NULL, o->flow_table_size, err);
	if (!obj)
		return -EINVAL;
	ret = ebb_balancer_load(obj, o->ifname, err);
	if (!ret)
		ret = ebb_link_create(o->bpffs, EBB_LINK_PREFIX, o->ifname, ifindex,
				      bpf_program__fd(bpf_object__find_program_by_name(obj, "ebb_balancer")),
				      o->generic, err);
	bpf_object__close(obj);
	return ret;
}

int ebb_prog_upgrade(const char *bpffs, const char *obj_path, struct ebb_upgrade *res,
		     struct ebb_err *err)
{
	struct ebb_link_info links[64];
	struct bpf_object *obj;
	struct ebb_meta meta;
	__u32 version = 0;
	int n, ret = 0;

	memset(res, 0, sizeof(*res));
	n = ebb_prog_list(bpffs, links, 64);
	if (n <= 0)
		return ebb_errf(err, "ebb is not attached to any device under %s: nothing to upgrade", bpffs);
	ret = balancer_layout(obj_path, &version, err);
	if (ret)
		return ret;
	res->old_layout = res->new_layout = version;
	/* Another layout: new maps, filled from the pinned ones (migrate.c). */
	if (!pinned_meta(bpffs, &meta) && meta.layout_version && meta.layout_version != version)
		return ebb_prog_migrate(bpffs, obj_path, meta.layout_version, version, links, n, res,
					err);
	obj = open_balancer(bpffs, obj_path, 0, err);
	if (!obj)
		return -EINVAL;
	ret = ebb_balancer_load(obj, NULL, err);
	/* The same layout: the maps, and so the flows, are the pinned ones. */
	if (!ret)
		ret = ebb_links_swap(bpffs, links, n,
				     bpf_program__fd(bpf_object__find_program_by_name(obj, "ebb_balancer")),
				     res, err);
	bpf_object__close(obj);
	return ret;
}

int ebb_prog_detach(const char *bpffs, const char *ifname, struct ebb_err *err)
{
	return ebb_link_detach(bpffs, EBB_LINK_PREFIX, ifname, err);
}

int ebb_prog_list(const char *bpffs, struct ebb_link_info *out, int max)
{
	return ebb_link_list(bpffs, EBB_LINK_PREFIX, out, max);
}

struct ebb_attachments {
	int n;
	struct ebb_link_info links[64];
	int prog_fds[64]; /* the program each device ran, held: -1 when none ran */
	int link_fds[64]; /* the link itself: a pin of a device gone is put back as it was */
};

struct ebb_attachments *ebb_attachments_take(const char *bpffs)
{
	struct ebb_attachments *a = calloc(1, sizeof(*a));
	char path[4200];

	if (!a)
		return NULL;
	for (int i = 0; i < 64; i++)
		a->prog_fds[i] = a->link_fds[i] = -1;
	a->n = ebb_prog_list(bpffs, a->links, 64);
	for (int i = 0; i < a->n; i++) {
		const char *mode = a->links[i].mode;

		if ((!strcmp(mode, "native") || !strcmp(mode, "generic")) && a->links[i].prog_id) {
			a->prog_fds[i] = bpf_prog_get_fd_by_id(a->links[i].prog_id);
			if (a->prog_fds[i] < 0)
				goto fail;
		}
		ebb_link_path(bpffs, EBB_LINK_PREFIX, a->links[i].ifname, path, sizeof(path));
		a->link_fds[i] = bpf_obj_get(path);
		if (a->link_fds[i] < 0)
			goto fail;
	}
	return a;
fail:
	/* Nothing to roll back to would be a promise not kept: the caller refuses to go on. */
	ebb_attachments_free(a);
	return NULL;
}

static int find_link(const struct ebb_link_info *links, int n, const char *ifname, __u32 link_id)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(links[i].ifname, ifname) && links[i].link_id == link_id)
			return i;
	return -1;
}

int ebb_attachments_restore(const char *bpffs, const struct ebb_attachments *a,
			    struct ebb_err *err)
{
	struct ebb_link_info now[64];
	char path[4200];
	int n = ebb_prog_list(bpffs, now, 64), ret = 0;

	/* A link untouched keeps running throughout; any other is one the batch made. */
	for (int j = 0; j < n; j++)
		if (find_link(a->links, a->n, now[j].ifname, now[j].link_id) < 0 &&
		    ebb_prog_detach(bpffs, now[j].ifname, err))
			ret = -1;
	n = ebb_prog_list(bpffs, now, 64);
	for (int i = 0; i < a->n; i++) {
		const struct ebb_link_info *l = &a->links[i];

		if (find_link(now, n, l->ifname, l->link_id) >= 0)
			continue;
		ebb_link_path(bpffs, EBB_LINK_PREFIX, l->ifname, path, sizeof(path));
		if (a->prog_fds[i] < 0) {
			if (bpf_obj_pin(a->link_fds[i], path))
				ret = ebb_errf(err, "cannot pin the link of %s again: %s", l->ifname,
					       strerror(errno));
			continue;
		}
		if (ebb_link_create(bpffs, EBB_LINK_PREFIX, l->ifname, l->ifindex, a->prog_fds[i],
				    !strcmp(l->mode, "generic"), err))
			ret = -1;
	}
	return ret;
}

void ebb_attachments_free(struct ebb_attachments *a)
{
	if (!a)
		return;
	for (int i = 0; i < a->n; i++) {
		if (a->prog_fds[i] >= 0)
			close(a->prog_fds[i]);
		if (a->link_fds[i] >= 0)
			close(a->link_fds[i]);
	}
	free(a);
}

int ebb_device_sources(const char *bpffs, __be32 *src4, __be32 *src6)
{
	struct ebb_link_info link;

	if (ebb_prog_list(bpffs, &link, 1) < 1)
		return -ENOENT;
	return ebb_device_addrs(link.ifname, src4, src6);
}
