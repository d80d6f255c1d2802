// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The desired state kept in the pinned maps, written through libebb under the state's lock:
 * the store of a host that is no fleet's (store.c chooses it). Each write opens the state,
 * changes it and closes it; libebb checks the change against what the maps hold.
 */
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "ebbctl.h"

int ctl_check_encap_src(struct ebb *e, const struct ebb_vip_key *key,
			const struct ebb_vip_opts *o)
{
	struct ebb_addr src4 = { .family = EBB_FAMILY_V4, .a = { o->encap_src4 } },
			src6 = { .family = EBB_FAMILY_V6 };
	struct ebb_err err = {};

	memcpy(src6.a, o->encap_src6, sizeof(src6.a));
	if ((o->encap_src4 && ebb_check_encap_src(e, key, &src4, true, &err)) ||
	    ((o->encap_src6[0] | o->encap_src6[1] | o->encap_src6[2] | o->encap_src6[3]) &&
	     ebb_check_encap_src(e, key, &src6, true, &err)))
		return ctl_error("%s", err.msg);
	return 0;
}

static int maps_vip_add(const struct ebb_vip_key *key, const struct ebb_vip_opts *given,
			bool have_src)
{
	struct ebb_vip_opts o = *given;
	struct ebb_err err = {};
	struct ebb e;

	if (ctl_open(&e, true))
		return -1;
	if (ctl_check_encap_src(&e, key, &o)) {
		ebb_close(&e);
		return -1;
	}
	/* Unless told, tunnels and rescues start from the addresses of the device ebb is
	 * attached to (a dsr VIP without any sends no rescue: its flows go the old way). */
	if (!have_src)
		ebb_device_sources(bpffs, &o.encap_src4, o.encap_src6);
	return ctl_close(&e, ebb_vip_add(&e, key, &o, &err), &err);
}

static int maps_vip_set(const struct ebb_vip_key *key, const struct ebb_vip_opts *o)
{
	struct ebb_err err = {};
	struct ebb e;

	if (ctl_open(&e, true))
		return -1;
	return ctl_close(&e, ebb_vip_set(&e, key, o, &err), &err);
}

static int maps_vip_del(const struct ebb_vip_key *key, bool force)
{
	struct ebb_err err = {};
	struct ebb e;

	if (ctl_open(&e, true))
		return -1;
	return ctl_close(&e, ebb_vip_del(&e, key, force, &err), &err);
}

static int maps_node_add(const struct ebb_addr *addr, const struct ebb_vip_key *vip,
			 const struct ebb_node_opts *o)
{
	struct ebb_err err = {};
	struct ebb e;
	int ret;

	if (ctl_open(&e, true))
		return -1;
	ret = ebb_node_add(&e, addr, vip, o, &err);
	/* The VIP's nodes against its table size, counted here while the maps are open and
	 * locked; a fleet's hosts each size their own tables, so the etcd store has no count. */
	if (!ret) {
		struct ebb_member_key mk, *mprev = NULL;
		struct ebb_vip v;
		int nodes = 0;

		if (!ebb_vip_find(&e, vip, &v)) {
			while (!bpf_map_get_next_key(e.members_fd, mprev, &mk)) {
				mprev = &mk;
				nodes += mk.vip_id == v.id;
			}
			ctl_warn_table_size(vip, nodes, ebb_vip_table_size(&v));
		}
	}
	return ctl_close(&e, ret, &err);
}

static int maps_node_del(const struct ebb_addr *addr, const struct ebb_vip_key *vip, bool force,
			 long long *cut)
{
	struct ebb_err err = {};
	struct ebb e;
	__u32 id;

	*cut = -1;
	if (ctl_open(&e, true))
		return -1;
	/* what a forced delete re-places, counted before it under the same lock (without force,
	 * live flows refuse it) */
	if (force && !ebb_node_find(&e, addr, &id, NULL)) {
		__u64 *live = calloc(EBB_MAX_NODES, sizeof(*live));

		if (live && !ebb_live_flows(&e, live, NULL))
			*cut = (long long)live[id];
		free(live);
	}
	return ctl_close(&e, ebb_node_del(&e, addr, vip, force, &err), &err);
}

static int maps_node_state(const struct ebb_addr *addr, __u8 state, __u32 timeout, int *was)
{
	struct ebb_err err = {};
	struct ebb_node n;
	struct ebb e;

	*was = -1;
	if (ctl_open(&e, true))
		return -1;
	if (!ebb_node_find(&e, addr, NULL, &n))
		*was = n.state;
	return ctl_close(&e, ebb_node_set_state(&e, addr, state, timeout, &err), &err);
}

static int maps_node_weight(const struct ebb_addr *addr, const struct ebb_vip_key *vip,
			    __u32 weight)
{
	struct ebb_err err = {};
	struct ebb e;

	if (ctl_open(&e, true))
		return -1;
	return ctl_close(&e, ebb_node_set_weight(&e, addr, vip, weight, &err), &err);
}

static int maps_node_prog(const struct ebb_addr *addr, bool on)
{
	struct ebb_err err = {};
	struct ebb e;

	if (ctl_open(&e, true))
		return -1;
	return ctl_close(&e, ebb_node_set_flags(&e, addr, EBB_NODE_F_NODE_PROG, on, &err), &err);
}

/* A write to this host's maps is where it is: nothing to add to what the command says. */
static const char *maps_where(int ret, char *buf, size_t len)
{
	(void)ret;
	if (len)
		buf[0] = '\0';
	return buf;
}

const struct ctl_store ctl_store_maps = {
	.vip_add = maps_vip_add,
	.vip_set = maps_vip_set,
	.vip_del = maps_vip_del,
	.node_add = maps_node_add,
	.node_del = maps_node_del,
	.node_state = maps_node_state,
	.node_weight = maps_node_weight,
	.node_prog = maps_node_prog,
	.where = maps_where,
	.ebbd_applies = false,
};
