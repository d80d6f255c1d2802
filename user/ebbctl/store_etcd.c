// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The desired state kept in etcd, the fleet's (doc/fleet.md): the store of a fleet host
 * (store.c chooses it). Each write is cmd_fleet.c's transaction on the fleet's state, which
 * returns once every live host has applied it; the checks that need this host's addresses are
 * made here first, since no host applies a write before it is in etcd.
 */
#include <string.h>

#include "ebbctl.h"

static int etcd_vip_add(const struct ebb_vip_key *key, const struct ebb_vip_opts *o,
			bool have_src)
{
	struct ebb_err err = {};
	struct ebb_addr a = { .family = key->family };

	/* none given: each host fills in its own device's addresses */
	(void)have_src;
	memcpy(a.a, key->addr, sizeof(a.a));
	/* on the maps, ebb_vip_add checks it */
	if (ebb_check_not_local(&a, "a VIP", EBB_VIP_LOCAL_WHY, &err))
		return ctl_error("%s", err.msg);
	if (ctl_check_encap_src(NULL, key, o))
		return -1;
	return ctl_fleet_vip_add(key, o);
}

/* The fleet has no write for a VIP's timeouts yet (its schema holds them, set by 'vip add'):
 * the change is refused as every local-only one is, so that the hosts never diverge. */
static int etcd_vip_set(const struct ebb_vip_key *key, const struct ebb_vip_opts *o)
{
	(void)key;
	(void)o;
	return ctl_fleet_refuse();
}

static int etcd_vip_del(const struct ebb_vip_key *key, bool force)
{
	return ctl_fleet_vip_del(key, force);
}

static int etcd_node_add(const struct ebb_addr *addr, const struct ebb_vip_key *vip,
			 const struct ebb_node_opts *o)
{
	struct ebb_err err = {};

	/* on the maps, ebb_node_add checks it */
	if (ebb_check_not_local(addr, "a node", EBB_NODE_LOCAL_WHY, &err))
		return ctl_error("%s", err.msg);
	return ctl_fleet_node_add(addr, vip, o);
}

/* The flows a forced delete cuts are on every host: none is counted here. */
static int etcd_node_del(const struct ebb_addr *addr, const struct ebb_vip_key *vip, bool force,
			 long long *cut)
{
	*cut = -1;
	return ctl_fleet_node_del(addr, vip, force);
}

static int etcd_node_state(const struct ebb_addr *addr, __u8 state, __u32 timeout, int *was)
{
	struct ebb_err err = {};
	struct ebb_node n;
	struct ebb e;

	/* the state before, as this host applied the fleet's */
	*was = -1;
	if (!ebb_open(&e, bpffs, &err)) {
		if (!ebb_node_find(&e, addr, NULL, &n))
			*was = n.state;
		ebb_close(&e);
	}
	return ctl_fleet_node_state(addr, state, timeout);
}

static int etcd_node_weight(const struct ebb_addr *addr, const struct ebb_vip_key *vip,
			    __u32 weight)
{
	return ctl_fleet_node_weight(addr, vip, weight);
}

static int etcd_node_prog(const struct ebb_addr *addr, bool on)
{
	return ctl_fleet_node_prog(addr, on);
}

static const char *etcd_where(int ret, char *buf, size_t len)
{
	if (ret == 1)
		snprintf(buf, len, " (fleet \"%s\": so already, nothing written)", ctl_fleet_name());
	else
		snprintf(buf, len, " (fleet \"%s\", revision %lld, applied by every live host)",
			 ctl_fleet_name(), ctl_fleet_rev);
	return buf;
}

const struct ctl_store ctl_store_etcd = {
	.vip_add = etcd_vip_add,
	.vip_set = etcd_vip_set,
	.vip_del = etcd_vip_del,
	.node_add = etcd_node_add,
	.node_del = etcd_node_del,
	.node_state = etcd_node_state,
	.node_weight = etcd_node_weight,
	.node_prog = etcd_node_prog,
	.where = etcd_where,
	.ebbd_applies = true,
};
