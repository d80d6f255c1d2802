// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Lookups in the agent's copy of the maps and settings: the VIP of a flow, whether a flow is
 * live, a node's drain timeout, a pool's name. They read and call nothing else of ebbd's, so
 * every other file may use them without tying itself to state.c or measure.c.
 */
#include <netinet/in.h>
#include <string.h>

#include "ebbd.h"

static int vip_hash(const struct ebb_vip_key *k)
{
	__u32 h = k->addr[0] ^ k->addr[1] * 31 ^ k->addr[2] * 131 ^ k->addr[3] * 1031;

	h ^= ((__u32)k->port << 8) ^ k->proto ^ ((__u32)k->family << 24);
	h *= 2654435761u;
	return h >> 24;
}

void vip_index(struct agent *a)
{
	memset(a->vip_slot, 0xff, sizeof(a->vip_slot));
	for (int i = 0; i < a->n_vips; i++) {
		int h = vip_hash(&a->vips[i].key);

		while (a->vip_slot[h] >= 0)
			h = (h + 1) & 255;
		a->vip_slot[h] = i;
	}
}

const struct ebb_vip *vip_find(const struct agent *a, const struct ebb_vip_key *k)
{
	for (int h = vip_hash(k); a->vip_slot[h] >= 0; h = (h + 1) & 255)
		if (!memcmp(&a->vips[a->vip_slot[h]].key, k, sizeof(*k)))
			return &a->vips[a->vip_slot[h]].vip;
	return NULL;
}

/* As the datapath finds it: exact port, then port 0. Called for every flow of a walk. */
const struct ebb_vip *vip_of_flow(const struct agent *a, const struct ebb_flow_key *fk)
{
	struct ebb_vip_key k = { .port = fk->dport, .proto = fk->proto, .family = fk->family };
	const struct ebb_vip *v;

	memcpy(k.addr, fk->dst, sizeof(k.addr));
	v = vip_find(a, &k);
	if (v)
		return v;
	k.port = 0;
	return vip_find(a, &k);
}

/* Its own drain timeout, else the longest of its VIPs' (as ebbctl node show reports it). */
__u32 node_drain_timeout(const struct agent *a, const struct node *n)
{
	__u32 t = 0;

	if (n->entry.drain_timeout_s)
		return n->entry.drain_timeout_s;
	for (int i = 0; i < n->n_vips; i++)
		for (int j = 0; j < a->n_vips; j++)
			if (a->vips[j].vip.id == n->vip_ids[i] && a->vips[j].vip.drain_timeout_s > t)
				t = a->vips[j].vip.drain_timeout_s;
	return ebb_drain_timeout_s(0, t);
}

const char *pool_name(const struct agent *a, int pool)
{
	return pool >= 0 && pool < a->cfg.n_pools ? a->cfg.pools[pool].name : NULL;
}

bool flow_live(const struct agent *a, const struct ebb_flow_key *k, const struct ebb_flow *v,
	       __u64 now, __u64 *end_ns)
{
	const struct ebb_vip *vip = vip_of_flow(a, k);

	/* When it finished (or will, if nothing more comes): what drain completion is timed from. */
	*end_ns = ebb_flow_seen_ns(v, now) + ebb_flow_ends_after_ns(vip, k->proto, v->flags);
	return ebb_flow_live(k, v, vip, now);
}
