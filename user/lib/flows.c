// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Reading the flow table: which flows are still live, and whose they are. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include "libebb.h"

#define BATCH 4096

int ebb_flows_each(struct ebb *e, int (*fn)(const struct ebb_flow_entry *f, void *ctx), void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct ebb_flow_key *keys = calloc(BATCH, sizeof(*keys));
	struct ebb_flow *vals = calloc(BATCH, sizeof(*vals));
	struct ebb_flow_key out_batch;
	void *in = NULL;
	int ret = 0;

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (;;) {
		__u32 count = BATCH;
		int err = bpf_map_lookup_batch(e->flows_fd, in, &out_batch, keys, vals, &count, &opts);

		if (err && errno != ENOENT) {
			ret = -errno;
			break;
		}
		for (__u32 i = 0; i < count; i++) {
			struct ebb_flow_entry f = { .key = keys[i], .val = vals[i] };

			ret = fn(&f, ctx);
			if (ret)
				goto out;
		}
		if (err) /* ENOENT: that was the last batch */
			break;
		in = &out_batch;
	}
out:
	free(keys);
	free(vals);
	return ret < 0 ? ret : 0;
}

bool ebb_flow_live(const struct ebb_flow_key *key, const struct ebb_flow *val,
		   const struct ebb_vip *vip, __u64 now)
{
	__u64 age = ebb_flow_age_ns(val, now);
	__u64 idle_s, fin_s;

	/* A rescued flow no node has claimed yet may be a spoofed ACK's: no drain waits for it,
	 * no scaling decision counts it (bpf/census.bpf.c agrees). */
	if (val->flags & (EBB_FLOW_RST | EBB_FLOW_UNCONFIRMED))
		return false;
	fin_s = vip && vip->fin_s ? vip->fin_s : EBB_DEFAULT_FIN_S;
	if ((val->flags & EBB_FLOW_FIN) && age > fin_s * 1000000000ULL)
		return false;
	if (key->proto == IPPROTO_UDP)
		idle_s = vip && vip->udp_idle_s ? vip->udp_idle_s : EBB_DEFAULT_UDP_IDLE_S;
	else
		idle_s = vip && vip->tcp_idle_s ? vip->tcp_idle_s : EBB_DEFAULT_TCP_IDLE_S;
	return age <= idle_s * 1000000000ULL;
}

bool ebb_flow_of_vip(const struct ebb_flow_key *fk, const struct ebb_flow *fv,
		    const struct ebb_vip_key *vk, const struct ebb_vip *v)
{
	/* The id alone is not enough: a deleted VIP's id is given to the next VIP added. */
	return fv->vip_id == v->id && vk->family == fk->family && vk->proto == fk->proto &&
	       (vk->port == fk->dport || vk->port == 0) && ebb_addr_eq(vk->addr, fk->dst, fk->family);
}

/* The VIPs, read once per walk and indexed by id: a flow's timeouts are its VIP's. */
struct vip_cache {
	struct ebb_vip_key keys[EBB_MAX_VIPS];
	struct ebb_vip vips[EBB_MAX_VIPS];
	bool used[EBB_MAX_VIPS];
};

static void vip_cache_load(struct ebb *e, struct vip_cache *c)
{
	struct ebb_vip_key k, *prev = NULL;
	struct ebb_vip v;

	memset(c->used, 0, sizeof(c->used));
	while (!bpf_map_get_next_key(e->vips_fd, prev, &k)) {
		prev = &k;
		if (!bpf_map_lookup_elem(e->vips_fd, &k, &v) && v.id < EBB_MAX_VIPS) {
			c->keys[v.id] = k;
			c->vips[v.id] = v;
			c->used[v.id] = true;
		}
	}
}

/* The VIP a flow was placed for, if that VIP still exists (not another one with its id). */
static const struct ebb_vip *vip_cache_find(const struct vip_cache *c, const struct ebb_flow_key *fk,
					    const struct ebb_flow *fv)
{
	__u32 id = fv->vip_id;

	if (id >= EBB_MAX_VIPS || !c->used[id] || !ebb_flow_of_vip(fk, fv, &c->keys[id], &c->vips[id]))
		return NULL;
	return &c->vips[id];
}

struct live_ctx {
	struct vip_cache cache;
	__u64 *counts, *per_vip;
	const __u32 *vip_id;
	__u64 now;
};

static int count_live(const struct ebb_flow_entry *f, void *arg)
{
	struct live_ctx *c = arg;
	const struct ebb_vip *vip = vip_cache_find(&c->cache, &f->key, &f->val);

	if (c->vip_id && (!vip || vip->id != *c->vip_id))
		return 0;
	if (!ebb_flow_live(&f->key, &f->val, vip, c->now))
		return 0;
	if (c->counts && f->val.node_id < EBB_MAX_NODES)
		c->counts[f->val.node_id]++;
	if (c->per_vip && vip)
		c->per_vip[vip->id]++;
	return 0;
}

static int live_walk(struct ebb *e, __u64 *counts, __u64 *per_vip, const __u32 *vip_id)
{
	struct live_ctx *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	if (counts)
		memset(counts, 0, EBB_MAX_NODES * sizeof(*counts));
	if (per_vip)
		memset(per_vip, 0, EBB_MAX_VIPS * sizeof(*per_vip));
	vip_cache_load(e, &c->cache);
	c->counts = counts;
	c->per_vip = per_vip;
	c->vip_id = vip_id;
	c->now = ebb_now_ns();
	ret = ebb_flows_each(e, count_live, c);
	free(c);
	return ret;
}

int ebb_live_flows(struct ebb *e, __u64 *counts, const __u32 *vip_id)
{
	return live_walk(e, counts, NULL, vip_id);
}

int ebb_live_flows_per_vip(struct ebb *e, __u64 *per_vip)
{
	return live_walk(e, NULL, per_vip, NULL);
}

struct purge_ctx {
	struct vip_cache cache;
	struct ebb *e;
	__u32 node_id; /* 0: any node */
	const __u32 *vip_id;
	const struct ebb_vip_key *vk; /* with v: the flows of this VIP, present or deleted */
	const struct ebb_vip *v;
	long purged;
};

static int purge_one(const struct ebb_flow_entry *f, void *arg)
{
	struct purge_ctx *c = arg;

	if (c->node_id && f->val.node_id != c->node_id)
		return 0;
	if (c->vk && !ebb_flow_of_vip(&f->key, &f->val, c->vk, c->v))
		return 0;
	if (c->vip_id) {
		const struct ebb_vip *vip = vip_cache_find(&c->cache, &f->key, &f->val);

		if (!vip || vip->id != *c->vip_id)
			return 0;
	}
	if (!bpf_map_delete_elem(c->e->flows_fd, &f->key))
		c->purged++;
	return 0;
}

static long purge(struct ebb *e, __u32 node_id, const __u32 *vip_id, const struct ebb_vip_key *vk,
		  const struct ebb_vip *v)
{
	struct purge_ctx *c = calloc(1, sizeof(*c));
	long ret;

	if (!c)
		return -ENOMEM;
	vip_cache_load(e, &c->cache);
	c->e = e;
	c->node_id = node_id;
	c->vip_id = vip_id;
	c->vk = vk;
	c->v = v;
	ret = ebb_flows_each(e, purge_one, c);
	if (!ret)
		ret = c->purged;
	free(c);
	return ret;
}

long ebb_flows_purge_node(struct ebb *e, __u32 node_id, const __u32 *vip_id)
{
	return purge(e, node_id, vip_id, NULL, NULL);
}

long ebb_flows_purge_vip(struct ebb *e, const struct ebb_vip_key *vk, const struct ebb_vip *v)
{
	return purge(e, 0, NULL, vk, v);
}
