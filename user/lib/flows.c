// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Reading the flow table: which flows are still live, and whose they are. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <bpf/bpf.h>

#include "libebb.h"
#include "ebb_flowtable.h"

#define BATCH 4096

/* An IPv4 entry's 12-bit tick as the 2^24 ns `seen` of struct ebb_flow (ebb_flow_age_ns): the
 * latest it can have been seen, the end of that tick (its age taken modulo the tick's span,
 * counted back from now), or now in now's tick. So a flow seen late in its tick is not judged
 * over before its timeout: its age is understated by less than a tick (~1.07 s), as the census
 * judges it (census.c, word_age_least_ns). */
static __u32 seen_of_tick(__u32 tick, __u64 now)
{
	__u32 age = (ebb_ft_tick_of_ns(now) - tick) & EBB_FT_TICK_MASK;

	if (!age || age >= EBB_FT_USABLE_TICKS)
		return ebb_seen_tick(now);
	return ((__u32)(now >> EBB_FT_TICK_SHIFT) - age + 1) << (EBB_FT_TICK_SHIFT - EBB_SEEN_SHIFT);
}

static int ft_mapped(struct ebb *e);

/* The VIPs by id as an IPv4 entry names them (vips_by_id): the address and protocol its key
 * is rebuilt with. */
static int byid_load(struct ebb *e, struct ebb_vip_entry *vips, const struct ebb_vip_key *as_vk,
		     __u32 as_id)
{
	for (__u32 id = 0; id < EBB_MAX_VIPS; id++)
		if (bpf_map_lookup_elem(e->vips_by_id_fd, &id, &vips[id]))
			memset(&vips[id], 0, sizeof(vips[id]));
	/* A VIP deleted (or half-deleted) may have left flows whose id is now another's: keyed
	 * by the VIP the caller names, they hash right only if they are that VIP's. */
	if (as_vk && as_id < EBB_MAX_VIPS)
		vips[as_id].key = *as_vk;
	return 0;
}

/*
 * The flow of bucket b's way i, entry word w, as its key: the key word (client address and
 * ports) with the address and protocol of the VIP its id names (vk), believed only when it
 * hashes to the entry's fingerprint and bucket (a key word is written after its entry: a pin
 * in progress is not believed; nor is a deleted VIP's flow whose id another VIP has now).
 */
static inline bool key_of4(const struct ebb_ft_bucket *t, __u32 nb, __u32 b, int i, __u64 w,
			   const struct ebb_vip_key *vk, struct ebb_flow_key *k)
{
	union ebb_ft_keyword kw = { .word = ebb_ft_read(&t[b].key[i].word) };
	struct ebb_ft_where where;

	memset(k, 0, sizeof(*k));
	k->family = EBB_FAMILY_V4;
	k->proto = vk->proto;
	k->src[0] = kw.k.addr;
	k->sport = kw.k.sport;
	k->dport = kw.k.dport;
	k->dst[0] = vk->addr[0];
	where = ebb_ft_where4(kw.k.addr, kw.k.sport, kw.k.dport, vk->addr[0], vk->proto, nb);
	return ebb_ft_fp(w) == where.fp && (where.b[0] == b || where.b[1] == b);
}

/*
 * The IPv4 table's flows, read in place (the mapping ebb_close unmaps), those of filter's node
 * and VIP id only (judged from the entry word, before any key is rebuilt; NULL: all).
 */
static int flows_each4(struct ebb *e, int (*fn)(const struct ebb_flow_entry *f, void *ctx),
		       void *ctx, const struct ebb_vip_key *as_vk, __u32 as_id,
		       const struct ebb_flows_filter *filter)
{
	struct ebb_vip_entry *vips;
	struct ebb_ft_bucket *t;
	__u64 now = ebb_now_ns();
	__u32 nb;
	int ret = ft_mapped(e);

	if (ret)
		return ret; /* -EPROTO: another layout; `prog upgrade` migrates it */
	vips = calloc(EBB_MAX_VIPS, sizeof(*vips));
	if (!vips)
		return -ENOMEM;
	byid_load(e, vips, as_vk, as_id);
	t = e->ft;
	nb = e->ft_nbuckets;
	for (__u32 b = 0; b < nb && !ret; b++)
		for (int i = 0; i < EBB_FT_WAYS && !ret; i++) {
			__u64 *slot = &t[b].entry[i].word, w = ebb_ft_read(slot);
			struct ebb_flow_entry f = { .slot = slot, .word = w };
			__u32 vid = ebb_ft_vip(w);

			if (!ebb_ft_node(w) || vid >= EBB_MAX_VIPS)
				continue;
			if (filter && ((filter->node_id && ebb_ft_node(w) != filter->node_id) ||
				       (filter->by_vip && vid != filter->vip_id)))
				continue;
			if (vips[vid].key.family != EBB_FAMILY_V4)
				continue; /* its VIP is gone: nobody's flow (the census clears it) */
			if (!key_of4(t, nb, b, i, w, &vips[vid].key, &f.key))
				continue;
			f.val.node_id = ebb_ft_node(w);
			f.val.vip_id = vid;
			f.val.flags = ebb_ft_flags(w);
			f.val.seen = seen_of_tick(ebb_ft_tick(w), now);
			ret = fn(&f, ctx);
		}
	free(vips);
	return ret;
}

/* IPv6 flows: flows6, an LRU hash of the same entry word. */
static int flows_each6(int fd, int (*fn)(const struct ebb_flow_entry *f, void *ctx), void *ctx,
		       const struct ebb_flows_filter *filter)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct ebb_flow_key *keys = calloc(BATCH, sizeof(*keys));
	__u64 *vals = calloc(BATCH, sizeof(*vals));
	struct ebb_flow_key out_batch;
	__u64 now = ebb_now_ns();
	void *in = NULL;
	int ret = 0;

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (;;) {
		__u32 count = BATCH;
		int err = bpf_map_lookup_batch(fd, in, &out_batch, keys, vals, &count, &opts);

		if (err && errno != ENOENT) {
			ret = -errno;
			break;
		}
		for (__u32 i = 0; i < count; i++) {
			struct ebb_flow_entry f = { .key = keys[i], .word = vals[i] };

			if (!ebb_ft_node(vals[i]))
				continue;
			if (filter && ((filter->node_id && ebb_ft_node(vals[i]) != filter->node_id) ||
				       (filter->by_vip && ebb_ft_vip(vals[i]) != filter->vip_id)))
				continue;
			f.val.node_id = ebb_ft_node(vals[i]);
			f.val.vip_id = ebb_ft_vip(vals[i]);
			f.val.flags = ebb_ft_flags(vals[i]);
			f.val.seen = seen_of_tick(ebb_ft_tick(vals[i]), now);
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
	return ret;
}

static int flows_each(struct ebb *e, int (*fn)(const struct ebb_flow_entry *f, void *ctx),
		      void *ctx, const struct ebb_vip_key *as_vk, __u32 as_id,
		      const struct ebb_flows_filter *filter)
{
	int ret = flows_each4(e, fn, ctx, as_vk, as_id, filter);

	if (!ret && e->flows6_fd >= 0)
		ret = flows_each6(e->flows6_fd, fn, ctx, filter);
	return ret < 0 ? ret : 0;
}

int ebb_flows_each(struct ebb *e, int (*fn)(const struct ebb_flow_entry *f, void *ctx), void *ctx)
{
	return flows_each(e, fn, ctx, NULL, 0, NULL);
}

int ebb_flows_each_of(struct ebb *e, const struct ebb_flows_filter *filter,
		      int (*fn)(const struct ebb_flow_entry *f, void *ctx), void *ctx)
{
	return flows_each(e, fn, ctx, NULL, 0, filter);
}

static int ft_mapped(struct ebb *e)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	size_t bytes;
	void *t;

	if (e->ft)
		return 0;
	if (bpf_obj_get_info_by_fd(e->flows_fd, &info, &len))
		return -errno;
	if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != sizeof(struct ebb_ft_bucket))
		return -EPROTO;
	bytes = ((size_t)info.max_entries * sizeof(struct ebb_ft_bucket) + page - 1) / page * page;
	t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, e->flows_fd, 0);
	if (t == MAP_FAILED)
		return -errno;
	e->ft = t;
	e->ft_bytes = bytes;
	e->ft_nbuckets = info.max_entries;
	return 0;
}

int ebb_flow_get(struct ebb *e, const struct ebb_flow_key *key, struct ebb_flow *out)
{
	__u64 w = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (key->family == EBB_FAMILY_V6) {
		if (e->flows6_fd < 0 || bpf_map_lookup_elem(e->flows6_fd, key, &w) || !ebb_ft_node(w))
			return -ENOENT;
	} else {
		struct ebb_ft_bucket *t;
		struct ebb_ft_where where;

		ret = ft_mapped(e);
		if (ret)
			return ret;
		t = e->ft;
		where = ebb_ft_where_key(key, e->ft_nbuckets);
		if (ebb_ft_find(&t[where.b[0]], &t[where.b[1]], where.fp, ebb_ft_keyword4(key), &w) < 0)
			return -ENOENT;
	}
	out->node_id = ebb_ft_node(w);
	out->vip_id = ebb_ft_vip(w);
	out->flags = ebb_ft_flags(w);
	out->seen = seen_of_tick(ebb_ft_tick(w), ebb_now_ns());
	return 0;
}

/* Forgets a flow ebb_flows_each gave: its word cleared by CAS (unless it changed since: then
 * it is no longer that flow's), or its flows6 entry deleted. 0 when it was forgotten. */
int ebb_flow_forget(struct ebb *e, const struct ebb_flow_entry *f)
{
	if (f->slot)
		return ebb_ft_cas(f->slot, f->word, 0) ? 0 : -EAGAIN;
	if (e->flows6_fd < 0)
		return -ENOENT;
	return bpf_map_delete_elem(e->flows6_fd, &f->key) ? -errno : 0;
}

bool ebb_flow_live(const struct ebb_flow_key *key, const struct ebb_flow *val,
		   const struct ebb_vip *vip, __u64 now)
{
	/* A rescued flow no node has claimed yet may be a spoofed ACK's: no drain waits for it,
	 * no scaling decision counts it (user/lib/census.c agrees). */
	if (val->flags & (EBB_FLOW_RST | EBB_FLOW_UNCONFIRMED))
		return false;
	return ebb_flow_age_ns(val, now) <= ebb_flow_ends_after_ns(vip, key->proto, val->flags);
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

/*
 * count_live over the IPv4 table without a flow handed to a callback: the same flows (those
 * flows_each4 gives: key_of4 still tells a deleted VIP's flow from its id's new owner's), the
 * same owner (vip_cache_find) and the same rule (ebb_flow_live), with the word's fields read
 * in place. An entry of the VIP counted (vip_id) is judged from its word before its key line
 * is read.
 */
static int live4(struct ebb *e, struct live_ctx *c)
{
	struct ebb_vip_entry *byid = calloc(EBB_MAX_VIPS, sizeof(*byid));
	/* same[id]: vips_by_id's VIP of that id is the vips map's, but for the port */
	bool *same = calloc(EBB_MAX_VIPS, sizeof(*same));
	struct ebb_ft_bucket *t;
	__u32 nb;
	int ret = ft_mapped(e);

	if (!ret && (!byid || !same))
		ret = -ENOMEM;
	if (ret)
		goto out;
	byid_load(e, byid, NULL, 0);
	for (__u32 id = 0; id < EBB_MAX_VIPS; id++) {
		const struct ebb_vip_key *k = &byid[id].key, *vk = &c->cache.keys[id];

		same[id] = c->cache.used[id] && c->cache.vips[id].id == id && vk->family == k->family &&
			   vk->proto == k->proto && ebb_addr_eq(vk->addr, k->addr, k->family);
	}
	t = e->ft;
	nb = e->ft_nbuckets;
	for (__u32 b = 0; b < nb; b++)
		for (int i = 0; i < EBB_FT_WAYS; i++) {
			__u64 w = ebb_ft_read(&t[b].entry[i].word);
			__u32 vid = ebb_ft_vip(w), node = ebb_ft_node(w);
			const struct ebb_vip *vip = NULL;
			struct ebb_flow_key k;
			struct ebb_flow val;

			if (!node || vid >= EBB_MAX_VIPS || byid[vid].key.family != EBB_FAMILY_V4)
				continue;
			if (c->vip_id && (vid != *c->vip_id || !same[vid]))
				continue; /* vip_cache_find would give no VIP, or another */
			if (!key_of4(t, nb, b, i, w, &byid[vid].key, &k))
				continue;
			if (same[vid] && (c->cache.keys[vid].port == k.dport || !c->cache.keys[vid].port))
				vip = &c->cache.vips[vid];
			if (c->vip_id && !vip)
				continue;
			val = (struct ebb_flow){ .node_id = node, .vip_id = vid, .flags = ebb_ft_flags(w) };
			val.seen = seen_of_tick(ebb_ft_tick(w), c->now);
			if (!ebb_flow_live(&k, &val, vip, c->now))
				continue;
			if (c->counts && node < EBB_MAX_NODES)
				c->counts[node]++;
			if (c->per_vip && vip)
				c->per_vip[vid]++;
		}
out:
	free(byid);
	free(same);
	return ret;
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
	ret = live4(e, c);
	if (!ret && e->flows6_fd >= 0)
		ret = flows_each6(e->flows6_fd, count_live, c, NULL);
	free(c);
	return ret < 0 ? ret : 0;
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
	if (!ebb_flow_forget(c->e, f))
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
	ret = flows_each(e, purge_one, c, vk, v ? v->id : 0, NULL);
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
