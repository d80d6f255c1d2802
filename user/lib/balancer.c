// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The balancer object: opened (built in, or a file) with its maps pinned under a directory,
 * loaded (a first creation of the maps gets its meta, settings and rescue key), and swapped in
 * on devices already attached. What both an attach or a same-layout upgrade (loader.c) and a
 * migration (migrate.c) do with it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "internal.h"
#include "ebb_flowtable.h"
#include "balancer.skel.h"

/* A pinned map's info, by its name under bpffs: negative errno (-ENOENT: no such pin). */
int ebb_pinned_map_info(const char *bpffs, const char *name, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	char path[600];
	int fd, ret;

	memset(info, 0, sizeof(*info));
	snprintf(path, sizeof(path), "%s/%s", bpffs, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	ret = bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
	close(fd);
	return ret;
}

/* The flow tables keep the size they were created with; a reload must ask for that size. It is
 * the N of `flows N`: flows6's entries exactly (the IPv4 table's buckets are EBB_FT_BUCKETS(N),
 * which does not give N back). */
int ebb_pinned_flow_table_size(const char *bpffs, __u32 *size)
{
	struct bpf_map_info info;
	int ret = ebb_pinned_map_info(bpffs, "flows6", &info);

	if (ret)
		return ret;
	*size = info.max_entries;
	return 0;
}

int ebb_flow_maps_size(struct bpf_object *obj, __u32 flows)
{
	struct bpf_map *table = bpf_object__find_map_by_name(obj, "flows");
	struct bpf_map *v6 = bpf_object__find_map_by_name(obj, "flows6");
	int ret;

	if (!table)
		return -ENOENT;
	/* a layout before the bucket table (8 and older): `flows` is the LRU of N entries */
	if (bpf_map__type(table) != BPF_MAP_TYPE_ARRAY)
		return bpf_map__set_max_entries(table, flows);
	ret = bpf_map__set_max_entries(table, EBB_FT_BUCKETS(flows));
	if (!ret && v6)
		ret = bpf_map__set_max_entries(v6, flows);
	return ret;
}

int ebb_object_layout_version(struct bpf_object *obj, __u32 *version)
{
	struct bpf_map *map, *rodata = NULL;
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct btf *btf = bpf_object__btf(obj);
	const char *data;
	size_t size;
	int id;

	bpf_object__for_each_map(map, obj)
		if (bpf_map__is_internal(map) && strstr(bpf_map__name(map), ".rodata"))
			rodata = map;
	id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	if (!rodata || id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	data = bpf_map__initial_value(rodata, &size);
	for (int i = 0; data && i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (!strcmp(btf__name_by_offset(btf, var->name_off), "layout_version") &&
		    vs->offset + sizeof(*version) <= size) {
			memcpy(version, data + vs->offset, sizeof(*version));
			return 0;
		}
	}
	return -ENOENT;
}

struct bpf_object *ebb_balancer_open(const char *pin_root, const char *obj_path, struct ebb_err *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);
	struct bpf_object *obj;
	__u32 version = 0;
	size_t elf_size;
	const void *elf;

	if (obj_path) {
		obj = bpf_object__open_file(obj_path, &opts);
	} else {
		elf = balancer_bpf__elf_bytes(&elf_size);
		obj = bpf_object__open_mem(elf, elf_size, &opts);
	}
	if (!obj) {
		ebb_errf(err, "cannot open %s: %s", obj_path ? obj_path : "the balancer object",
			 strerror(errno));
		return NULL;
	}
	if (!bpf_object__find_program_by_name(obj, "ebb_balancer") ||
	    ebb_object_layout_version(obj, &version)) {
		ebb_errf(err, "%s is not an ebb balancer object", obj_path ? obj_path : "built-in object");
		bpf_object__close(obj);
		return NULL;
	}
	return obj;
}

int ebb_balancer_load(struct bpf_object *obj, const char *ifname, struct ebb_err *err)
{
	struct bpf_map *meta_map;
	struct ebb_meta meta = {};
	__u32 zero = 0;
	int ret = bpf_object__load(obj);

	if (ret)
		return ebb_errf(err, "cannot load the balancer: %s (run with -v for the verifier's log)",
				strerror(-ret));
	/* First creation of the maps: record their layout for later upgrades, set defaults. */
	meta_map = bpf_object__find_map_by_name(obj, "meta");
	if (!bpf_map_lookup_elem(bpf_map__fd(meta_map), &zero, &meta) && !meta.layout_version) {
		struct ebb_settings settings = { .flood_rate = EBB_DEFAULT_FLOOD_RATE,
						 .rescue_rate = EBB_DEFAULT_RESCUE_RATE };
		struct ebb_rescue_secret secret;

		/* ipip's MTU check starts from the device's; `prog set mtu` changes it. */
		if (ifname)
			ebb_device_mtu(ifname, &settings.mtu);

		bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "settings")), &zero,
				    &settings, BPF_ANY);
		/* The cookie key of rescues: a claim is taken only with its flow's cookie. Without
		 * randomness there would be no secret: the maps are then not marked made, and
		 * the next load tries again. */
		if (getrandom(&secret, sizeof(secret), 0) != (ssize_t)sizeof(secret))
			return ebb_errf(err, "cannot make the rescue key: getrandom: %s", strerror(errno));
		bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "rescue_secret")),
				    &zero, &secret, BPF_ANY);
		explicit_bzero(&secret, sizeof(secret));
		/* No VIP's slots are known to be still: a VIP (and state migrated with its
		 * rings_changed) asks the flow table for every SYN of its window, as before. */
		if (ebb_ring_changes_fill(bpf_map__fd(bpf_object__find_map_by_name(obj, "ring_changes"))))
			return ebb_errf(err, "cannot mark the tables' slots: %s", strerror(errno));
		ebb_object_layout_version(obj, &meta.layout_version);
		meta.created_ns = ebb_now_ns();
		bpf_map_update_elem(bpf_map__fd(meta_map), &zero, &meta, BPF_ANY);
	}
	/* The SYNs the program before this one pinned may not be in syn_recent (it may not have
	 * had the map, or recorded ways of another table, or kept it another way): its window
	 * starts again, at the new program's first question. Whatever an older build left in its
	 * cells only makes SYNs ask, until the pins that follow clear it. */
	{
		struct bpf_map *recent = bpf_object__find_map_by_name(obj, "syn_recent");
		union ebb_syn_cell unset = {};

		if (recent && bpf_map_update_elem(bpf_map__fd(recent), &zero, &unset, BPF_ANY))
			return ebb_errf(err, "cannot restart syn_recent's window: %s", strerror(errno));
	}
	/* The VIP copies the datapath classifies by follow `vips`, whoever wrote it last. */
	{
		struct ebb_err ignored = {};
		struct ebb e;

		if (!ebb_from_object(&e, obj, &ignored)) {
			ebb_vips_by_id_sync(&e);
			ebb_close(&e);
		}
	}
	return 0;
}

int ebb_links_swap(const char *bpffs, const struct ebb_link_info *links, int n, int prog_fd,
		   struct ebb_upgrade *res, struct ebb_err *err)
{
	int link_fds[64], old_prog_fds[64];
	int done, ret = 0;
	char path[600];

	/* Every link swaps to the new program in one syscall. If one device fails, those already
	 * swapped go back. */
	for (done = 0; done < n; done++) {
		ebb_link_path(bpffs, EBB_LINK_PREFIX, links[done].ifname, path, sizeof(path));
		link_fds[done] = bpf_obj_get(path);
		old_prog_fds[done] = bpf_prog_get_fd_by_id(links[done].prog_id);
		if (link_fds[done] < 0 || bpf_link_update(link_fds[done], prog_fd, NULL)) {
			ret = ebb_errf(err, "cannot upgrade %s: %s", links[done].ifname, strerror(errno));
			if (link_fds[done] >= 0)
				close(link_fds[done]);
			if (old_prog_fds[done] >= 0)
				close(old_prog_fds[done]);
			break;
		}
		res->old_prog_id[done] = links[done].prog_id;
	}
	for (int i = 0; i < done; i++) {
		if (ret && old_prog_fds[i] >= 0)
			bpf_link_update(link_fds[i], old_prog_fds[i], NULL);
		close(link_fds[i]);
		if (old_prog_fds[i] >= 0)
			close(old_prog_fds[i]);
	}
	if (!ret) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		res->devices = n;
		if (!bpf_obj_get_info_by_fd(prog_fd, &info, &len))
			res->new_prog_id = info.id;
	}
	return ret;
}
