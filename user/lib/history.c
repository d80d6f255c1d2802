// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Slot history (include/ebb.h, slot_history): for each slot of a VIP whose owner changed, the
 * nodes that owned it before, in either table, while a flow they were given may still live.
 * A rescue's older candidates come from here (doc/node-truth.md). Only user space writes it,
 * and only here: every rewrite of a VIP's tables (rings.c) diffs the 65537 slots of each table
 * before and after, in memory, and writes the slots that changed in batches.
 *
 * Rules for one slot's list: latest first; distinct; never a node that owns the slot now in
 * either table (it is a candidate already); at most EBB_HISTORY_OWNERS (the oldest falls off);
 * an owner is dropped once its `until` has passed. A slot whose list is empty has no entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "libebb.h"
#include "internal.h"

#define HIST_BATCH 4096
#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's, not in user space's errno.h */
#endif

struct hist_kv {
	struct ebb_history_key k;
	struct ebb_slot_history v;
};

/* Every entry of the map, in batches of HIST_BATCH (one syscall each), or one at a time where
 * the kernel has no batch lookup for hash maps. fn returns non-zero to stop. */
static int hist_walk(int fd, int (*fn)(const struct hist_kv *kv, void *ctx), void *ctx)
{
	struct ebb_history_key *keys = calloc(HIST_BATCH, sizeof(*keys));
	struct ebb_slot_history *vals = calloc(HIST_BATCH, sizeof(*vals));
	__u64 token = 0; /* a hash map's batch position: a bucket index */
	bool first = true, done = false;
	int ret = 0;

	if (fd < 0) { /* state of a layout before slot_history (state.c): nothing to walk */
		free(keys);
		free(vals);
		return 0;
	}
	if (!keys || !vals) {
		ret = -ENOMEM;
		goto out;
	}
	while (!done) {
		__u32 count = HIST_BATCH;
		int r = bpf_map_lookup_batch(fd, first ? NULL : &token, &token, keys, vals, &count, NULL);

		if (r && errno == ENOENT) {
			done = true; /* the last batch, possibly with entries */
		} else if (r) {
			if (!first || (errno != EINVAL && errno != ENOTSUPP && errno != EOPNOTSUPP)) {
				ret = -errno;
				goto out;
			}
			goto slow;
		}
		first = false;
		for (__u32 i = 0; i < count; i++) {
			struct hist_kv kv = { .k = keys[i], .v = vals[i] };

			if (fn(&kv, ctx))
				goto out;
		}
	}
	goto out;
slow: {
	struct ebb_history_key k, *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &k)) {
		struct hist_kv kv = { .k = k };

		prev = &k;
		if (!bpf_map_lookup_elem(fd, &k, &kv.v) && fn(&kv, ctx))
			break;
	}
}
out:
	free(keys);
	free(vals);
	return ret;
}

static bool expired(__u32 until, __u32 now_tick)
{
	return (__s32)(until - now_tick) < 0;
}

/* A list under construction: add() keeps it distinct, bounded, free of the current owners. */
struct owners {
	struct ebb_slot_history h;
	int n;
	__u32 now_a, now_b; /* the slot's owners now */
};

static void add(struct owners *o, __u32 id, __u32 until)
{
	/* an id past the nodes' (a fleet generation's node this host does not hold) is no one */
	if (!id || id >= EBB_MAX_NODES || id == o->now_a || id == o->now_b || o->n >= EBB_HISTORY_OWNERS)
		return;
	for (int i = 0; i < o->n; i++)
		if (o->h.owner[i] == id)
			return;
	o->h.owner[o->n] = (__u16)id;
	o->h.until[o->n++] = until;
}

/* What the slot held (h) behind the owners o has so far: those not past their time. */
static void keep_live(struct owners *o, const struct ebb_slot_history *h, __u32 now_tick)
{
	for (int i = 0; i < EBB_HISTORY_OWNERS; i++)
		if (!expired(h->until[i], now_tick))
			add(o, h->owner[i], h->until[i]);
}

struct ebb_history_plan {
	__u32 vip_id;
	size_t n_put;
	struct ebb_history_key *put_k;
	struct ebb_slot_history *put_v;
	bool *put_new; /* the key had no entry: it needs room */
};

void ebb_history_plan_free(struct ebb_history_plan *p)
{
	if (!p)
		return;
	free(p->put_k);
	free(p->put_v);
	free(p->put_new);
	free(p);
}

static __u32 idle_ticks(__u32 tcp_idle_s)
{
	__u64 ns = (__u64)ebb_or_default(tcp_idle_s, EBB_DEFAULT_TCP_IDLE_S) * 1000000000ULL;

	return (__u32)((ns + EBB_SEEN_TICK_NS - 1) >> EBB_SEEN_SHIFT);
}

struct vip_collect {
	__u32 vip_id;
	struct ebb_slot_history *cur;
	__u8 *present;
};

static int collect_vip(const struct hist_kv *kv, void *ctx)
{
	struct vip_collect *c = ctx;

	if (kv->k.vip_id == c->vip_id && kv->k.slot < EBB_RING_SIZE) {
		c->cur[kv->k.slot] = kv->v;
		c->present[kv->k.slot] = 1;
	}
	return 0;
}

/* Below this many slots to read, one lookup each; above, one walk of the whole map (about
 * where the lookups' syscalls cost what a walk of a small map does). */
#define HIST_LOOKUPS_MAX 2048

/*
 * Only the slots that gain an owner are read and written before the tables swap: what a
 * packet needs at the swap. A drain gains none (the drained node stays in the second-chance
 * table), so it reaches the datapath after the in-memory diff alone.
 */
struct ebb_history_plan *ebb_history_plan(struct ebb *e, __u32 vip_id, __u32 tcp_idle_s,
					  const __u32 *old_new, const __u32 *old_sec,
					  const __u32 *new_new, const __u32 *new_sec, __u64 now_ns)
{
	struct ebb_history_plan *p = calloc(1, sizeof(*p));
	__u32 now_tick = ebb_seen_tick(now_ns), until = now_tick + idle_ticks(tcp_idle_s);
	struct vip_collect c = { .vip_id = vip_id };
	size_t gain = 0;

	if (!p || e->slot_history_fd < 0) { /* no slot_history in this (older) state */
		free(p);
		return NULL;
	}
	p->vip_id = vip_id;
	for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
		struct owners o = { .now_a = new_new[s], .now_b = new_sec[s] };

		add(&o, old_new[s], 0);
		add(&o, old_sec[s], 0);
		gain += o.n > 0;
	}
	p->put_k = calloc(gain ? gain : 1, sizeof(*p->put_k));
	p->put_v = calloc(gain ? gain : 1, sizeof(*p->put_v));
	p->put_new = calloc(gain ? gain : 1, sizeof(*p->put_new));
	if (!p->put_k || !p->put_v || !p->put_new)
		goto fail;
	if (gain > HIST_LOOKUPS_MAX) {
		c.cur = calloc(EBB_RING_SIZE, sizeof(*c.cur));
		c.present = calloc(EBB_RING_SIZE, 1);
		if (!c.cur || !c.present || hist_walk(e->slot_history_fd, collect_vip, &c))
			goto fail;
	}
	for (__u32 s = 0; s < EBB_RING_SIZE && gain; s++) {
		struct owners o = { .now_a = new_new[s], .now_b = new_sec[s] };
		struct ebb_history_key k = { .vip_id = vip_id, .slot = s };
		struct ebb_slot_history cur;
		bool present;

		/* the new-flow table's owner placed the latest flows: it goes first */
		add(&o, old_new[s], until);
		add(&o, old_sec[s], until);
		if (!o.n)
			continue; /* gains no owner: what it holds is the sweep's */
		if (c.cur) {
			present = c.present[s];
			cur = c.cur[s];
		} else {
			present = !bpf_map_lookup_elem(e->slot_history_fd, &k, &cur);
		}
		if (present)
			keep_live(&o, &cur, now_tick);
		if (present && !memcmp(&o.h, &cur, sizeof(o.h)))
			continue;
		p->put_k[p->n_put] = k;
		p->put_v[p->n_put] = o.h;
		p->put_new[p->n_put++] = !present;
	}
	free(c.cur);
	free(c.present);
	return p;
fail:
	free(c.cur);
	free(c.present);
	ebb_history_plan_free(p);
	return NULL;
}

long ebb_history_write(struct ebb *e, struct ebb_history_plan *p)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	size_t done = 0;
	long lost = 0;

	if (!p)
		return 0;
	/* Rewrites of existing entries first: they need no room, and must not lose theirs to a
	 * new slot's entry when the map is nearly full. */
	for (int pass = 0; pass < 2; pass++) {
		size_t i = 0, n = 0;

		/* compact this pass's entries to the front of a scratch order */
		struct ebb_history_key *k = calloc(p->n_put ? p->n_put : 1, sizeof(*k));
		struct ebb_slot_history *v = calloc(p->n_put ? p->n_put : 1, sizeof(*v));

		if (!k || !v) {
			free(k);
			free(v);
			/* no memory for the batch: one at a time, from the plan itself */
			for (i = 0; i < p->n_put; i++)
				if (p->put_new[i] == (pass == 1) &&
				    bpf_map_update_elem(e->slot_history_fd, &p->put_k[i], &p->put_v[i], BPF_ANY))
					lost++;
			continue;
		}
		for (i = 0; i < p->n_put; i++)
			if (p->put_new[i] == (pass == 1)) {
				k[n] = p->put_k[i];
				v[n++] = p->put_v[i];
			}
		done = 0;
		while (done < n) {
			__u32 count = (__u32)(n - done > HIST_BATCH ? HIST_BATCH : n - done);

			if (!bpf_map_update_batch(e->slot_history_fd, k + done, v + done, &count, &opts)) {
				done += count;
				continue;
			}
			/* stopped at k[done + count]: E2BIG (full) or no batch updates at all;
			 * the rest one at a time, so each slot without room is counted */
			done += count;
			for (; done < n; done++)
				if (bpf_map_update_elem(e->slot_history_fd, &k[done], &v[done], BPF_ANY))
					lost++;
		}
		free(k);
		free(v);
	}
	return lost;
}

static void delete_keys(struct ebb *e, const struct ebb_history_key *k, size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t done = 0;

	while (done < n) {
		__u32 count = (__u32)(n - done > HIST_BATCH ? HIST_BATCH : n - done);

		if (!bpf_map_delete_batch(e->slot_history_fd, k + done, &count, &opts)) {
			done += count;
			continue;
		}
		done += count;
		if (done < n) /* gone already, or no batch deletes: one by one */
			bpf_map_delete_elem(e->slot_history_fd, &k[done++]);
	}
}

/* ---- walks of the whole map ---- */

struct key_list {
	struct ebb_history_key *k;
	struct ebb_slot_history *v;
	size_t n, cap;
};

static int list_push(struct key_list *l, const struct hist_kv *kv)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		void *nk = realloc(l->k, cap * sizeof(*l->k)), *nv;

		if (!nk)
			return -ENOMEM;
		l->k = nk;
		nv = realloc(l->v, cap * sizeof(*l->v));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->k[l->n] = kv->k;
	l->v[l->n++] = kv->v;
	return 0;
}

struct forget_ctx {
	__u32 vip_id;
	struct key_list l;
	int err;
};

static int forget_one(const struct hist_kv *kv, void *ctx)
{
	struct forget_ctx *c = ctx;

	if (kv->k.vip_id == c->vip_id && list_push(&c->l, kv))
		return c->err = -ENOMEM;
	return 0;
}

long ebb_history_forget_vip(struct ebb *e, __u32 vip_id)
{
	struct forget_ctx c = { .vip_id = vip_id };
	int ret = hist_walk(e->slot_history_fd, forget_one, &c);
	long n = (long)c.l.n;

	if (!ret)
		ret = c.err;
	delete_keys(e, c.l.k, c.l.n);
	free(c.l.k);
	free(c.l.v);
	return ret ? ret : n;
}

struct sweep_ctx {
	struct key_list all;
	int err;
};

static int sweep_collect(const struct hist_kv *kv, void *ctx)
{
	struct sweep_ctx *c = ctx;

	if (list_push(&c->all, kv))
		return c->err = -ENOMEM;
	return 0;
}

static int by_vip(const void *a, const void *b)
{
	const struct ebb_history_key *x = a, *y = b;

	return x->vip_id < y->vip_id ? -1 : x->vip_id > y->vip_id;
}

/*
 * One walk of the map, then VIP by VIP (its tables read once): owners that expired or own
 * their slot now go, entries left empty are deleted, entries of VIP ids no VIP has too.
 */
long ebb_history_sweep(struct ebb *e, __u64 now_ns)
{
	struct sweep_ctx c = {};
	struct key_list del = {}, put = {};
	struct hist_kv *kv = NULL;
	bool vip_used[EBB_MAX_VIPS] = {};
	struct ebb_vip_key k, *prev = NULL;
	__u32 now_tick = ebb_seen_tick(now_ns), *tab_new, *tab_sec, cur_vip = ~0u;
	long n;
	int ret;

	tab_new = calloc(EBB_RING_SIZE, sizeof(*tab_new));
	tab_sec = calloc(EBB_RING_SIZE, sizeof(*tab_sec));
	if (!tab_new || !tab_sec) {
		ret = -ENOMEM;
		goto out;
	}
	while (!bpf_map_get_next_key(e->vips_fd, prev, &k)) {
		struct ebb_vip v;

		prev = &k;
		if (!bpf_map_lookup_elem(e->vips_fd, &k, &v) && v.id < EBB_MAX_VIPS)
			vip_used[v.id] = true;
	}
	ret = hist_walk(e->slot_history_fd, sweep_collect, &c);
	if (!ret)
		ret = c.err;
	if (ret)
		goto out;
	/* sorted by VIP as pairs: keys and values moved together */
	kv = calloc(c.all.n ? c.all.n : 1, sizeof(*kv));
	if (!kv) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < c.all.n; i++)
		kv[i] = (struct hist_kv){ .k = c.all.k[i], .v = c.all.v[i] };
	qsort(kv, c.all.n, sizeof(*kv), by_vip);
	for (size_t i = 0; i < c.all.n; i++) {
		struct owners o = {};
		struct hist_kv out = { .k = kv[i].k };
		__u32 vid = kv[i].k.vip_id;

		if (vid < EBB_MAX_VIPS && vip_used[vid] && kv[i].k.slot < EBB_RING_SIZE) {
			if (vid != cur_vip) {
				if (ebb_ring_read(e, EBB_RING_NEW(vid), tab_new))
					memset(tab_new, 0, EBB_RING_SIZE * sizeof(*tab_new));
				if (ebb_ring_read(e, EBB_RING_SECOND(vid), tab_sec))
					memset(tab_sec, 0, EBB_RING_SIZE * sizeof(*tab_sec));
				cur_vip = vid;
			}
			o.now_a = tab_new[kv[i].k.slot];
			o.now_b = tab_sec[kv[i].k.slot];
			for (int j = 0; j < EBB_HISTORY_OWNERS; j++)
				if (!expired(kv[i].v.until[j], now_tick))
					add(&o, kv[i].v.owner[j], kv[i].v.until[j]);
		}
		if (!o.n) {
			if (list_push(&del, &kv[i]))
				ret = -ENOMEM;
		} else if (memcmp(&o.h, &kv[i].v, sizeof(o.h))) {
			out.v = o.h;
			if (list_push(&put, &out))
				ret = -ENOMEM;
		}
	}
	/* A rewrite only ever drops owners; the entry exists already, so it needs no room. */
	for (size_t i = 0; i < put.n; i++)
		bpf_map_update_elem(e->slot_history_fd, &put.k[i], &put.v[i], BPF_EXIST);
	delete_keys(e, del.k, del.n);
out:
	n = (long)(put.n + del.n);
	free(kv);
	free(c.all.k);
	free(c.all.v);
	free(del.k);
	free(del.v);
	free(put.k);
	free(put.v);
	free(tab_new);
	free(tab_sec);
	return ret ? ret : n;
}

struct stats_ctx {
	struct ebb_history_stats *st;
	__u8 *named;
	__u32 now_tick;
};

static int stats_one(const struct hist_kv *kv, void *ctx)
{
	struct stats_ctx *c = ctx;

	if (c->st) {
		c->st->entries++;
		if (kv->k.vip_id < EBB_MAX_VIPS)
			c->st->vip_entries[kv->k.vip_id]++;
	}
	for (int i = 0; i < EBB_HISTORY_OWNERS; i++) {
		__u32 id = kv->v.owner[i];
		bool live = !expired(kv->v.until[i], c->now_tick);

		if (!id || id >= EBB_MAX_NODES)
			continue;
		if (c->st && live)
			c->st->owners++;
		if (c->named && c->named[id] < (live ? 2 : 1))
			c->named[id] = live ? 2 : 1;
	}
	return 0;
}

int ebb_history_stats(struct ebb *e, struct ebb_history_stats *st)
{
	struct stats_ctx c = { .st = st, .now_tick = ebb_seen_tick(ebb_now_ns()) };

	memset(st, 0, sizeof(*st));
	return hist_walk(e->slot_history_fd, stats_one, &c);
}

int ebb_history_named(struct ebb *e, __u8 *named)
{
	struct stats_ctx c = { .named = named, .now_tick = ebb_seen_tick(ebb_now_ns()) };

	memset(named, 0, EBB_MAX_NODES);
	return hist_walk(e->slot_history_fd, stats_one, &c);
}

int ebb_history_get(struct ebb *e, __u32 vip_id, __u32 slot, struct ebb_slot_history *h)
{
	struct ebb_history_key k = { .vip_id = vip_id, .slot = slot };

	return bpf_map_lookup_elem(e->slot_history_fd, &k, h) ? -ENOENT : 0;
}

void ebb_history_count_lost(struct ebb *e, __u32 vip_id, long lost)
{
	struct ebb_vip_key key;
	struct ebb_vip vip;

	if (lost <= 0 || ebb_vip_by_id(e, vip_id, &key, &vip))
		return;
	vip.history_lost = (__u16)(vip.history_lost + lost > 0xffff ? 0xffff : vip.history_lost + lost);
	ebb_vip_store(e, &key, &vip, BPF_EXIST);
}

/* ---- the history rebuilt from member sets (a fleet's generations, doc/fleet.md) ---- */

/* The two tables of one member set, as rings.c builds them (all 0 for an empty one). */
static int gen_tables(const struct ebb_history_gen *g, struct ebb_maglev_node *scratch, __u32 m,
		      __u32 *tab_new, __u32 *tab_sec)
{
	size_t n = 0;
	int r;

	for (size_t i = 0; i < g->n; i++)
		if (g->m[i].active)
			scratch[n++] = g->m[i].mn;
	if ((r = ebb_table_build(scratch, n, m, tab_new)))
		return r;
	for (size_t i = 0; i < g->n; i++)
		scratch[i] = g->m[i].mn;
	return ebb_table_build(scratch, g->n, m, tab_sec);
}

/*
 * Each step is what ebb_history_plan does for one rewrite of the tables, in memory: a slot that
 * gains an owner gets its old owners (new-flow first) in front of what it held, distinct,
 * bounded, without the slot's owners after the step; any other slot keeps its entry as it is.
 */
int ebb_history_rebuild(const struct ebb_history_gen *gens, size_t n, const __u32 *cur_new,
			const __u32 *cur_sec, __u32 now_tick, struct ebb_slot_history *out)
{
	return ebb_history_rebuild_m(gens, n, EBB_RING_SIZE, cur_new, cur_sec, now_tick, out);
}

int ebb_history_rebuild_m(const struct ebb_history_gen *gens, size_t n, __u32 m,
			  const __u32 *cur_new, const __u32 *cur_sec, __u32 now_tick,
			  struct ebb_slot_history *out)
{
	__u32 *buf = calloc(4 * (size_t)EBB_RING_SIZE, sizeof(*buf));
	struct ebb_maglev_node *scratch = NULL;
	size_t most = 0;
	int ret = 0;

	memset(out, 0, EBB_RING_SIZE * sizeof(*out));
	for (size_t i = 0; i < n; i++)
		most = gens[i].n > most ? gens[i].n : most;
	scratch = calloc(most ? most : 1, sizeof(*scratch));
	if (!buf || !scratch) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		/* before: this generation's tables; after: the next one's, or the tables now */
		__u32 *old_new = buf + (i % 2) * 2 * EBB_RING_SIZE, *old_sec = old_new + EBB_RING_SIZE;
		__u32 *nb = buf + ((i + 1) % 2) * 2 * EBB_RING_SIZE;
		const __u32 *new_new = cur_new, *new_sec = cur_sec;

		if (i == 0 && (ret = gen_tables(&gens[0], scratch, m, old_new, old_sec)))
			break;
		if (i + 1 < n) {
			if ((ret = gen_tables(&gens[i + 1], scratch, m, nb, nb + EBB_RING_SIZE)))
				break;
			new_new = nb;
			new_sec = nb + EBB_RING_SIZE;
		}
		for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
			struct owners o = { .now_a = new_new[s], .now_b = new_sec[s] };

			add(&o, old_new[s], gens[i].until);
			add(&o, old_sec[s], gens[i].until);
			if (!o.n)
				continue;
			keep_live(&o, &out[s], now_tick);
			out[s] = o.h;
		}
	}
	/* owners already past their time are no candidates: what a sweep now would leave */
	for (__u32 s = 0; s < EBB_RING_SIZE && !ret; s++) {
		struct owners o = {};

		keep_live(&o, &out[s], now_tick);
		out[s] = o.h;
	}
out:
	free(buf);
	free(scratch);
	return ret;
}

/* Within this many ticks (2 s), an until is the same: hosts read a lease's time in whole
 * seconds, and rewriting every entry at every apply would cost what a change costs. */
#define HIST_UNTIL_SLACK ((__u32)((2 * 1000000000ULL) >> EBB_SEEN_SHIFT))

static bool same_entry(const struct ebb_slot_history *a, const struct ebb_slot_history *b)
{
	for (int k = 0; k < EBB_HISTORY_OWNERS; k++) {
		__s32 d = (__s32)(a->until[k] - b->until[k]);

		if (a->owner[k] != b->owner[k] || (a->owner[k] && (d > (__s32)HIST_UNTIL_SLACK ||
								   d < -(__s32)HIST_UNTIL_SLACK)))
			return false;
	}
	return true;
}

long ebb_history_replace(struct ebb *e, __u32 vip_id, const struct ebb_history_gen *gens, size_t n,
			 __u64 now_ns)
{
	struct ebb_slot_history *want = calloc(EBB_RING_SIZE, sizeof(*want));
	struct ebb_history_plan *p = calloc(1, sizeof(*p));
	__u32 *cur_new = calloc(EBB_RING_SIZE, sizeof(*cur_new)), *cur_sec = calloc(EBB_RING_SIZE, sizeof(*cur_sec));
	struct vip_collect c = { .vip_id = vip_id };
	struct ebb_history_key *del = NULL;
	struct ebb_vip vip = {};
	size_t n_del = 0;
	long ret;

	c.cur = calloc(EBB_RING_SIZE, sizeof(*c.cur));
	c.present = calloc(EBB_RING_SIZE, 1);
	if (p) {
		p->vip_id = vip_id;
		p->put_k = calloc(EBB_RING_SIZE, sizeof(*p->put_k));
		p->put_v = calloc(EBB_RING_SIZE, sizeof(*p->put_v));
		p->put_new = calloc(EBB_RING_SIZE, sizeof(*p->put_new));
	}
	del = calloc(EBB_RING_SIZE, sizeof(*del));
	if (!want || !p || !p->put_k || !p->put_v || !p->put_new || !cur_new || !cur_sec || !c.cur ||
	    !c.present || !del) {
		ret = -ENOMEM;
		goto out;
	}
	if (e->slot_history_fd < 0) { /* a layout before slot_history: nothing to hold it */
		ret = 0;
		goto out;
	}
	/* the tables as they are (none: all 0), the end of the sequence */
	if (ebb_ring_read(e, EBB_RING_NEW(vip_id), cur_new))
		memset(cur_new, 0, EBB_RING_SIZE * sizeof(*cur_new));
	if (ebb_ring_read(e, EBB_RING_SECOND(vip_id), cur_sec))
		memset(cur_sec, 0, EBB_RING_SIZE * sizeof(*cur_sec));
	ebb_vip_by_id(e, vip_id, NULL, &vip);
	ret = ebb_history_rebuild_m(gens, n, ebb_vip_table_size(&vip), cur_new, cur_sec,
				    ebb_seen_tick(now_ns), want);
	if (!ret)
		ret = hist_walk(e->slot_history_fd, collect_vip, &c);
	if (ret)
		goto out;
	for (__u32 s = 0; s < EBB_RING_SIZE; s++) {
		struct ebb_history_key k = { .vip_id = vip_id, .slot = s };

		if (!want[s].owner[0]) {
			if (c.present[s])
				del[n_del++] = k;
			continue;
		}
		if (c.present[s] && same_entry(&want[s], &c.cur[s]))
			continue;
		p->put_k[p->n_put] = k;
		p->put_v[p->n_put] = want[s];
		p->put_new[p->n_put++] = !c.present[s];
	}
	/* the entries that go first: they make room for the new ones */
	delete_keys(e, del, n_del);
	ret = ebb_history_write(e, p);
	ebb_history_count_lost(e, vip_id, ret);
out:
	free(want);
	free(cur_new);
	free(cur_sec);
	free(c.cur);
	free(c.present);
	free(del);
	ebb_history_plan_free(p);
	return ret;
}

/* ---- a copy of the whole map, for a batch's rollback (edit.c) ---- */

struct ebb_history_copy {
	struct key_list l;
	int err;
};

static int copy_one(const struct hist_kv *kv, void *ctx)
{
	struct ebb_history_copy *c = ctx;

	if (list_push(&c->l, kv))
		return c->err = -ENOMEM;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct ebb_history_key));
}

struct ebb_history_copy *ebb_history_copy_take(struct ebb *e)
{
	struct ebb_history_copy *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (hist_walk(e->slot_history_fd, copy_one, c) || c->err) {
		ebb_history_copy_free(c);
		return NULL;
	}
	return c;
}

struct put_back_ctx {
	struct hist_kv *sorted; /* the copy's entries by key */
	size_t n;
	bool *same; /* the map holds this entry as the copy has it: left alone */
	struct key_list gone;
	int err;
};

static int gone_one(const struct hist_kv *kv, void *ctx)
{
	struct put_back_ctx *p = ctx;
	const struct hist_kv *hit = bsearch(kv, p->sorted, p->n, sizeof(*p->sorted), key_cmp);

	if (hit)
		p->same[hit - p->sorted] = !memcmp(&hit->v, &kv->v, sizeof(kv->v));
	else if (list_push(&p->gone, kv))
		return p->err = -ENOMEM;
	return 0;
}

int ebb_history_copy_put_back(struct ebb *e, const struct ebb_history_copy *c)
{
	struct put_back_ctx p = { .n = c->l.n };
	int ret;

	p.sorted = calloc(p.n ? p.n : 1, sizeof(*p.sorted));
	p.same = calloc(p.n ? p.n : 1, sizeof(*p.same));
	if (!p.sorted || !p.same) {
		free(p.sorted);
		free(p.same);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p.n; i++)
		p.sorted[i] = (struct hist_kv){ .k = c->l.k[i], .v = c->l.v[i] };
	/* the key is the struct's first member: key_cmp orders the pairs */
	qsort(p.sorted, p.n, sizeof(*p.sorted), key_cmp);
	ret = hist_walk(e->slot_history_fd, gone_one, &p);
	if (!ret)
		ret = p.err;
	/* entries the copy lacks go first: they make the room the copy's own need; entries as
	 * the copy has them are not written again (each write would move it in its bucket) */
	delete_keys(e, p.gone.k, p.gone.n);
	for (size_t i = 0; i < p.n; i++)
		if (!p.same[i] &&
		    bpf_map_update_elem(e->slot_history_fd, &p.sorted[i].k, &p.sorted[i].v, BPF_ANY) && !ret)
			ret = -errno;
	free(p.sorted);
	free(p.same);
	free(p.gone.k);
	free(p.gone.v);
	return ret;
}

void ebb_history_copy_free(struct ebb_history_copy *c)
{
	if (!c)
		return;
	free(c->l.k);
	free(c->l.v);
	free(c);
}
