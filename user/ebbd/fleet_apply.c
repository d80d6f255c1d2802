// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The sync thread makes the maps match the desired state it read (fleet.c, doc/fleet.md). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "fleet_shared.h"
#include "libebb_desired.h"

/* ---- applying the desired state to the maps ---- */

static __u64 since_ns(double since_wall)
{
	double ago = fleet_wall() - since_wall;
	__u64 now = fleet_mono_ns();

	if (since_wall <= 0 || ago < 0)
		return now;
	return (__u64)(ago * NS_PER_S) > now ? 1 : now - (__u64)(ago * NS_PER_S);
}

/*
 * The drain clock (doc/fleet.md, "The drain clock"): a drain's start comes from etcd, never from
 * a wall clock. Each drain written with a lease (node field drain_lease) has a key
 * state/drains/ADDR under that lease; this host asks etcd how long the lease has run (granted -
 * remaining TTL, counted by etcd's leader) and sets the map's state_since_ns to its own
 * monotonic now minus that, once per drain: the start derived first is kept (a later answer may
 * only be later, after an etcd leader change restarted the lease's countdown; an etcd that does
 * not answer changes nothing). Until it has an answer, a new drain starts at this host's now
 * (never early) and is moved back once etcd answers. The key gone while the node drains (its
 * lease expired or was lost): the drain has timed out. The thread's own, no lock.
 */
struct dclock {
	char name[64];
	struct ebb_addr addr;
	int64_t lease;
	__u32 timeout_s;
	__u64 start_ns; /* monotonic, derived from etcd (0: not yet) */
	__u64 provisional_ns; /* what a map got before start_ns was known (0: none) */
	bool expired, fixed, said_fail;
	__u64 next_try;
};
static struct dclock clocks[EBB_MAX_NODES];
static int n_clocks;

static struct dclock *clock_find(const char *name, int64_t lease)
{
	for (int i = 0; i < n_clocks; i++)
		if (clocks[i].lease == lease && !strcmp(clocks[i].name, name))
			return &clocks[i];
	return NULL;
}

static bool drain_key_invalid(const struct fleet_state *st, const struct fleet_node *n)
{
	for (int i = 0; i < st->n_invalid; i++)
		if (st->invalid[i].named && st->invalid[i].kind == FLEET_KEY_DRAIN &&
		    st->invalid[i].addr.family == n->addr.family &&
		    ebb_addr_eq(st->invalid[i].addr.a, n->addr.a, n->addr.family))
			return true;
	return false;
}

/* Reads the clocks of st's drains that this host has not timed yet. */
void fleet_drain_clocks(struct etcd *c, const struct fleet_state *st)
{
	struct dclock keep[EBB_MAX_NODES];
	int n_keep = 0;

	for (int i = 0; i < st->n_nodes && n_keep < EBB_MAX_NODES; i++) {
		const struct fleet_node *fn = &st->nodes[i];
		const struct fleet_drain *d;
		struct dclock *k, *old;
		double e = 0;
		int r;

		if (fn->state != EBB_NODE_DRAINING || !fn->drain_lease)
			continue;
		k = &keep[n_keep++];
		old = clock_find(fn->name, fn->drain_lease);
		if (old) {
			*k = *old;
		} else {
			memset(k, 0, sizeof(*k));
			snprintf(k->name, sizeof(k->name), "%s", fn->name);
			k->addr = fn->addr;
			k->lease = fn->drain_lease;
		}
		k->timeout_s = fleet_node_drain_timeout(st, fn);
		if (k->expired || drain_key_invalid(st, fn))
			continue; /* a bad key changes nothing: the schema's rule */
		d = fleet_drain_find(st, fn);
		if (d && k->start_ns)
			continue;
		if (d && fleet_mono_ns() < k->next_try)
			continue;
		r = d ? fleet_drain_elapsed(c, d, &e) : 1;
		if (r < 0) {
			k->next_try = fleet_mono_ns() + NS_PER_S;
			if (!k->said_fail) {
				json_object *ev = log_new(LOG_WARN, "fleet_drain_clock_unavailable");

				json_add_str(ev, "node", fn->name);
				json_add_int(ev, "lease", fn->drain_lease);
				json_add_str(ev, "error", c->err);
				json_add_str(ev, "detail", "the drain counts from when this host saw it until etcd answers");
				log_emit(ev);
				k->said_fail = true;
			}
			continue;
		}
		if (r > 0) {
			json_object *ev = log_new(LOG_WARN, "fleet_drain_clock_gone");

			k->expired = true;
			json_add_str(ev, "node", fn->name);
			json_add_int(ev, "lease", fn->drain_lease);
			json_add_int(ev, "drain_timeout_s", k->timeout_s);
			json_add_str(ev, "detail", "the drain's lease expired or was lost: the drain has timed out");
			log_emit(ev);
			continue;
		}
		{
			/* after the answer: the start is then never earlier than the true one */
			__u64 now = fleet_mono_ns(), ago = (__u64)(e * NS_PER_S);
			json_object *ev = log_new(LOG_INFO, "fleet_drain_clock");

			k->start_ns = ago < now ? now - ago : 1;
			json_add_str(ev, "node", fn->name);
			json_add_int(ev, "lease", fn->drain_lease);
			json_add_double(ev, "elapsed_s", e);
			json_add_int(ev, "drain_timeout_s", k->timeout_s);
			log_emit(ev);
		}
	}
	memcpy(clocks, keep, n_keep * sizeof(*keep));
	n_clocks = n_keep;
}

/* The map's state_since_ns for fn's state: from its drain clock when it has one. */
static __u64 state_start_ns(const struct fleet_node *fn)
{
	struct dclock *k;
	__u64 now = fleet_mono_ns(), t;

	if (fn->state != EBB_NODE_DRAINING || !fn->drain_lease)
		return since_ns(fn->since); /* not a drain, or one from before drain clocks (once) */
	k = clock_find(fn->name, fn->drain_lease);
	if (k && k->expired) {
		t = (__u64)k->timeout_s * NS_PER_S;
		k->fixed = true;
		return t < now ? now - t : 1;
	}
	if (k && k->start_ns)
		return k->start_ns;
	if (k)
		k->provisional_ns = now;
	return now;
}

static int apply_err(int *errs, const char *what, const char *name, const char *msg);

/* Maps whose drain start was provisional, or whose drain's lease is gone: set from the clock. */
void fleet_drain_clocks_fix(void)
{
	struct ebb_err err = {};
	bool need = false;
	struct ebb e;

	for (int i = 0; i < n_clocks; i++)
		need |= (clocks[i].start_ns && clocks[i].provisional_ns) || (clocks[i].expired && !clocks[i].fixed);
	if (!need || ebb_open(&e, fleet_sh.bpffs, &err))
		return;
	if (ebb_lock(&e, &err)) {
		ebb_close(&e);
		return;
	}
	for (int i = 0; i < n_clocks; i++) {
		struct dclock *k = &clocks[i];
		struct ebb_node cur;
		__u64 now = fleet_mono_ns(), t = (__u64)k->timeout_s * NS_PER_S, want;
		char name[64];
		int errs = 0;
		__u32 id;

		if (!((k->start_ns && k->provisional_ns) || (k->expired && !k->fixed)))
			continue;
		if (ebb_node_find(&e, &k->addr, &id, &cur) || cur.state != EBB_NODE_DRAINING)
			continue;
		if (k->expired) {
			/* timed out: its start at least its timeout ago, never later than it was */
			want = t < now ? now - t : 1;
			k->fixed = true;
			if (cur.state_since_ns <= want)
				continue;
		} else {
			/* only the provisional start this host wrote: a start kept from before (say
			 * across an ebbd restart) stays */
			want = k->start_ns;
			if (cur.state_since_ns != k->provisional_ns) {
				k->provisional_ns = 0;
				continue;
			}
			k->provisional_ns = 0;
		}
		/* the drain as it is (no timeout given: its tables stay), only its start moves */
		if (ebb_node_set_state_at(&e, &k->addr, EBB_NODE_DRAINING, 0, want, 0, &err))
			apply_err(&errs, "node drain clock", ebb_fmt_addr(k->addr.a, k->addr.family, name, sizeof(name)),
				  err.msg);
	}
	ebb_unlock(&e);
	ebb_close(&e);
}

static int apply_err(int *errs, const char *what, const char *name, const char *msg)
{
	json_object *ev = log_new(LOG_ERROR, "fleet_apply_failed");

	json_add_str(ev, "what", what);
	json_add_str(ev, "object", name);
	json_add_str(ev, "error", msg);
	log_emit(ev);
	(*errs)++;
	return -1;
}

/* One change of ebb_desired_vips_diff, made through libebb. */
static void apply_vip_change(struct ebb *e, const struct ebb_desired_change *c, int *errs, int *changes)
{
	const struct ebb_desired_vip *v = &c->vip;
	struct ebb_err err = {};
	char name[64];

	ebb_fmt_vip(&v->key, name, sizeof(name));
	switch (c->op) {
	case EBB_DESIRED_VIP_SET:
		/* timeouts and outer sources (ipip's tunnels, rescues): in place, flows kept */
		if (ebb_vip_replace(e, v, &err))
			apply_err(errs, "vip timeouts", name, err.msg);
		else
			(*changes)++;
		return;
	case EBB_DESIRED_VIP_DEL:
	case EBB_DESIRED_VIP_REMAKE:
		if (ebb_vip_del(e, &v->key, true, &err)) {
			apply_err(errs, "vip del", name, err.msg);
			return;
		}
		if (c->op == EBB_DESIRED_VIP_DEL) {
			(*changes)++;
			return;
		}
		break; /* made again, below */
	case EBB_DESIRED_VIP_ADD:
		break;
	}
	if (ebb_vip_add(e, &v->key, &v->o, &err))
		apply_err(errs, "vip add", name, err.msg);
	else
		(*changes)++;
}

/* The maps' VIPs made st's, by ebb_desired_vips_diff. */
static int apply_vips(struct ebb *e, struct fleet_state *st, int *errs, int *changes)
{
	struct ebb_desired_vip *cur = calloc(EBB_MAX_VIPS, sizeof(*cur));
	/* st's VIPs and the stand-ins below, which may find no room in st */
	struct ebb_desired_vip *want = calloc(2 * EBB_MAX_VIPS, sizeof(*want));
	struct ebb_desired_change *ch = calloc(3 * EBB_MAX_VIPS, sizeof(*ch));
	int n_cur = cur && want && ch ? ebb_desired_vips_read(e, cur) : -ENOMEM;
	size_t n_want = 0, n;

	if (n_cur < 0) {
		apply_err(errs, "vips", "", strerror(-n_cur));
		goto out;
	}
	for (int i = 0; i < st->n_vips; i++) {
		want[n_want] = (struct ebb_desired_vip){ .key = st->vips[i].key, .o = st->vips[i].o };
		/* no outer source given: this host's own device addresses, for ipip's tunnels
		 * and for rescues (dsr too: a claim must come back to the host that rescued);
		 * a stand-in from the maps (mod_rev -1) is held as it is */
		if (st->vips[i].mod_rev >= 0)
			ebb_device_sources(fleet_sh.bpffs, &want[n_want].o.encap_src4,
					   want[n_want].o.encap_src6);
		n_want++;
	}
	for (int i = 0; i < n_cur; i++) {
		struct fleet_vip *fv;

		if (fleet_vip_find(st, &cur[i].key) || !fleet_invalid_vip(st, &cur[i].key))
			continue;
		/* its key fails the schema and this host has no good value of it since it
		 * started: the maps' own (applied from etcd before) stands in, for BIRD too */
		want[n_want++] = cur[i];
		if (st->n_vips >= EBB_MAX_VIPS)
			continue;
		fv = &st->vips[st->n_vips++];
		memset(fv, 0, sizeof(*fv));
		fv->key = cur[i].key;
		ebb_fmt_vip(&cur[i].key, fv->name, sizeof(fv->name));
		fv->o = cur[i].o;
		fv->mod_rev = -1; /* from the maps, not from etcd */
	}
	n = ebb_desired_vips_diff(want, n_want, cur, (size_t)n_cur, ch);
	for (size_t i = 0; i < n; i++)
		apply_vip_change(e, &ch[i], errs, changes);
out:
	free(cur);
	free(want);
	free(ch);
	return 0;
}

/* One change of ebb_desired_members_diff, made through libebb. A change to a node the maps do
 * not hold when it comes (its add failed: said already) is left out. */
static void apply_member_change(struct ebb *e, struct fleet_state *st,
				const struct ebb_desired_member_change *c, int *errs, int *changes)
{
	const struct ebb_desired_node *d = &c->node;
	const struct fleet_node *fn = fleet_node_find(st, &d->addr);
	bool here = !ebb_node_find(e, &d->addr, NULL, NULL);
	struct ebb_err err = {};
	const char *what = "";
	char name[64];
	int r = 0;

	if (fn)
		snprintf(name, sizeof(name), "%s", fn->name);
	else
		ebb_fmt_addr(d->addr.a, d->addr.family, name, sizeof(name));
	switch (c->op) {
	case EBB_DESIRED_NODE_DEL:
		what = "node del";
		r = ebb_node_del(e, &d->addr, NULL, true, &err);
		break;
	case EBB_DESIRED_MEMBER_DEL:
		what = "node del vip";
		r = ebb_node_del(e, &d->addr, &d->vip, true, &err);
		break;
	case EBB_DESIRED_NODE_MAC:
		if (!here)
			return;
		what = "node mac";
		r = ebb_node_set_mac(e, &d->addr, d->mac, &err);
		break;
	case EBB_DESIRED_MEMBER_ADD: {
		/* only the add that makes the node gives its first state and node_prog */
		struct ebb_node_opts o = { .weight = d->weight, .have_mac = d->have_mac,
					   .inactive = !here && d->state != EBB_NODE_ACTIVE,
					   .node_prog = !here && d->node_prog };

		memcpy(o.mac, d->mac, 6);
		what = "node add";
		r = ebb_node_add(e, &d->addr, &d->vip, &o, &err);
		break;
	}
	case EBB_DESIRED_MEMBER_WEIGHT:
		what = "node weight";
		r = ebb_node_set_weight(e, &d->addr, &d->vip, d->weight, &err);
		break;
	case EBB_DESIRED_NODE_FLAGS:
		if (!here)
			return;
		what = "node node-prog";
		r = ebb_node_set_flags(e, &d->addr, EBB_NODE_F_NODE_PROG, d->node_prog, &err);
		break;
	case EBB_DESIRED_NODE_STATE:
		if (!here || !fn)
			return;
		/* with the fleet's clock for the drain, and where a down node returns to */
		what = "node state";
		r = ebb_node_set_state_at(e, &d->addr, d->state, d->drain_timeout_s, state_start_ns(fn),
					  d->state == EBB_NODE_DOWN ? fn->before_down : 0, &err);
		break;
	}
	if (r)
		apply_err(errs, what, name, err.msg);
	else
		(*changes)++;
}

/* The maps' nodes and memberships made st's, by ebb_desired_members_diff. */
static void apply_nodes(struct ebb *e, struct fleet_state *st, int *errs, int *changes)
{
	struct ebb_desired_node *cur = calloc(EBB_MAX_MEMBERS + EBB_MAX_NODES, sizeof(*cur)), *want = NULL;
	struct ebb_desired_member_change *ch = NULL;
	int n_cur = cur ? ebb_desired_members_read(e, cur) : -ENOMEM;
	size_t n_want = 0, room = 0;
	ssize_t n;

	for (int i = 0; i < st->n_nodes; i++)
		room += st->nodes[i].n_w ? (size_t)st->nodes[i].n_w : 1;
	if (n_cur >= 0) {
		room += (size_t)n_cur; /* the stand-ins below */
		want = calloc(room, sizeof(*want));
		ch = calloc((size_t)n_cur + 4 * room, sizeof(*ch));
	}
	if (n_cur < 0 || !want || !ch) {
		apply_err(errs, "nodes", "", strerror(n_cur < 0 ? -n_cur : ENOMEM));
		goto out;
	}
	for (int i = 0; i < st->n_nodes; i++) {
		const struct fleet_node *fn = &st->nodes[i];
		struct ebb_desired_node d = { .addr = fn->addr, .state = fn->state,
					      .drain_timeout_s = fn->drain_timeout_s,
					      .have_mac = fn->have_mac, .node_prog = fn->node_prog };
		size_t first = n_want;

		memcpy(d.mac, fn->mac, 6);
		for (int j = 0; j < fn->n_w; j++) {
			struct ebb_vip v;

			if (ebb_vip_find(e, &fn->w[j].vip, &v))
				continue; /* its VIP failed to apply: said already */
			want[n_want] = d;
			want[n_want].vip = fn->w[j].vip;
			want[n_want++].weight = fn->w[j].weight;
		}
		if (n_want == first)
			want[n_want++] = d; /* on no VIP here: its state still applies if it is here */
	}
	for (int i = 0; i < n_cur; i++)
		/* its key fails the schema and this host has no good value of it since it
		 * started: wanted as the maps have it, never deleted for that */
		if (!fleet_node_find(st, &cur[i].addr) && fleet_invalid_node(st, &cur[i].addr))
			want[n_want++] = cur[i];
	n = ebb_desired_members_diff(want, n_want, cur, (size_t)n_cur, ch);
	if (n < 0)
		apply_err(errs, "nodes", "", strerror((int)-n));
	for (ssize_t i = 0; i < n; i++)
		apply_member_change(e, st, &ch[i], errs, changes);
out:
	free(cur);
	free(want);
	free(ch);
}

/*
 * The slot history with the desired state (doc/fleet.md, "The slot history's generations"):
 * each VIP's history is rebuilt from its generations in etcd, so that every host lists the same
 * older owners whatever changes it saw itself. A generation's time is its lease's: this host
 * asks etcd once how long the lease has left and keeps until = its own monotonic now + that
 * (+ 1 s: etcd truncates, and an owner kept 1 s too long costs a rescue hop at worst, one
 * dropped early a connection). The thread's own, no lock.
 */
struct gclock {
	int64_t lease;
	__u64 until_ns; /* 0: the lease is gone */
};
static struct gclock gclocks[EBB_MAX_VIPS * FLEET_HISTORY_GENS];
static int n_gclocks;
/* what each VIP's history was last rebuilt from: its generations' leases */
static struct hist_done {
	struct ebb_vip_key vip;
	int n;
	int64_t lease[FLEET_HISTORY_GENS];
} hdone[EBB_MAX_VIPS];
static int n_hdone;
bool fleet_hist_force = true; /* the first apply, or the pins made again: every VIP */
bool fleet_hist_pending; /* a state was applied: its VIPs' histories are to be rebuilt */

static struct gclock *gclock_find(int64_t lease)
{
	for (int i = 0; i < n_gclocks; i++)
		if (gclocks[i].lease == lease)
			return &gclocks[i];
	return NULL;
}

/* Reads the time left of st's generations this host has not timed yet. */
void fleet_gen_clocks(struct etcd *c, const struct fleet_state *st)
{
	static struct gclock keep[EBB_MAX_VIPS * FLEET_HISTORY_GENS];
	int n_keep = 0;

	for (int i = 0; i < st->n_gens && n_keep < EBB_MAX_VIPS * FLEET_HISTORY_GENS; i++) {
		const struct fleet_gen *g = &st->gens[i];
		struct gclock *old = gclock_find(g->lease);
		int64_t ttl = 0, granted = 0;
		bool dup = false;

		for (int j = 0; j < n_keep && !dup; j++)
			dup = keep[j].lease == g->lease;
		if (dup)
			continue; /* one lease for several VIPs of one write */
		if (old) {
			keep[n_keep++] = *old;
			continue;
		}
		if (etcd_lease_timetolive(c, g->lease, &ttl, &granted))
			continue; /* asked again next time; meanwhile the VIP's timeout from now */
		keep[n_keep++] = (struct gclock){ .lease = g->lease,
						  .until_ns = ttl < 0 ? 0 : fleet_mono_ns() + (__u64)(ttl + 1) * NS_PER_S };
	}
	memcpy(gclocks, keep, n_keep * sizeof(*keep));
	n_gclocks = n_keep;
}

static struct hist_done *hist_done_find(const struct ebb_vip_key *k)
{
	for (int i = 0; i < n_hdone; i++)
		if (!memcmp(&hdone[i].vip, k, sizeof(*k)))
			return &hdone[i];
	return NULL;
}

/* Every VIP of st whose generations changed since its history was last rebuilt (all of them
 * when forced), rebuilt: the member sets' tables with this host's node ids (a node it does not
 * hold places but is no candidate), then history.c's rules over the sequence. */
void fleet_apply_history(struct ebb *e, struct fleet_state *st)
{
	static struct hist_done next[EBB_MAX_VIPS];
	static struct ebb_history_member mem[FLEET_HISTORY_GENS][EBB_MAX_NODES];
	int n_next = 0;

	for (int i = 0; i < st->n_vips; i++) {
		const struct fleet_vip *fv = &st->vips[i];
		const struct fleet_gen *gl[FLEET_HISTORY_GENS];
		struct ebb_history_gen hg[FLEET_HISTORY_GENS];
		struct hist_done *d = &next[n_next], *was = hist_done_find(&fv->key);
		int n = fleet_vip_gens(st, &fv->key, gl), used = 0;
		__u64 now = fleet_mono_ns();
		struct ebb_vip vip;
		long lost;

		if (ebb_vip_find(e, &fv->key, &vip))
			continue;
		memset(d, 0, sizeof(*d));
		d->vip = fv->key;
		for (int g = 0; g < n; g++) {
			const struct gclock *k = gclock_find(gl[g]->lease);
			__u64 until = k ? k->until_ns : now + (__u64)vip.tcp_idle_s * NS_PER_S;

			if (k && !k->until_ns)
				continue; /* its lease is gone: its owners are past their time */
			d->lease[d->n++] = gl[g]->lease;
			hg[used] = (struct ebb_history_gen){ .m = mem[used], .n = (size_t)gl[g]->n,
							     .until = ebb_seen_tick(until) };
			for (int j = 0; j < gl[g]->n; j++) {
				struct ebb_history_member *m = &mem[used][j];
				__u32 id;

				memset(m, 0, sizeof(*m));
				m->active = gl[g]->m[j].active;
				m->mn.weight = gl[g]->m[j].weight;
				memcpy(m->mn.seed, gl[g]->m[j].addr.a, 16);
				m->mn.seed[16] = gl[g]->m[j].addr.family;
				m->mn.id = ebb_node_find(e, &gl[g]->m[j].addr, &id, NULL) ? EBB_MAX_NODES + (__u32)j : id;
			}
			used++;
		}
		n_next++;
		if (!fleet_hist_force && was && was->n == d->n && !memcmp(was->lease, d->lease, sizeof(d->lease[0]) * d->n))
			continue;
		if (!fleet_hist_force && !was && !d->n)
			continue; /* a VIP new here, with no generation: no history to make */
		lost = ebb_history_replace(e, vip.id, hg, (size_t)used, now);
		{
			json_object *ev = log_new(LOG_INFO, "fleet_history_rebuilt");

			json_add_str(ev, "vip", fv->name);
			json_add_int(ev, "generations", used);
			json_add_double(ev, "ms", (fleet_mono_ns() - now) / 1e6);
			if (lost)
				json_add_int(ev, lost < 0 ? "error" : "lost", lost);
			log_emit(ev);
		}
	}
	memcpy(hdone, next, n_next * sizeof(*next));
	n_hdone = n_next;
	fleet_hist_force = false;
}

int fleet_apply_state(struct fleet_state *st, int *changes)
{
	struct ebb_err err = {};
	struct ebb e;
	int errs = 0;

	if (ebb_open(&e, fleet_sh.bpffs, &err))
		return -ENOENT;
	if (ebb_lock(&e, &err)) {
		ebb_close(&e);
		return -EAGAIN;
	}
	apply_vips(&e, st, &errs, changes);
	apply_nodes(&e, st, &errs, changes);
	ebb_unlock(&e);
	ebb_close(&e);
	return errs ? -EIO : 0;
}

/* ---- keys that fail the schema (doc/fleet.md, "Schema") ---- */

/* Each such key keeps its last good value here: the one in the state read last (fleet_sh.st, written
 * only by this thread). Never having seen one, the host leaves the object as its maps have it
 * (apply_vips, fleet_apply_state): nothing is deleted or activated because a value failed to parse. */
void fleet_keep_last_good(struct fleet_state *st)
{
	for (int i = 0; fleet_sh.have_st && i < st->n_invalid; i++) {
		const struct fleet_invalid *in = &st->invalid[i];

		if (!in->named)
			continue;
		if (in->kind == FLEET_KEY_VIP) {
			struct fleet_vip *v = fleet_vip_find(&fleet_sh.st, &in->vip);

			if (v && st->n_vips < EBB_MAX_VIPS)
				st->vips[st->n_vips++] = *v;
		} else if (in->kind == FLEET_KEY_NODE) {
			struct fleet_node *n = fleet_node_find(&fleet_sh.st, &in->addr);

			if (n) /* room: the invalid key has its slot (fleet_state_parse) */
				st->nodes[st->n_nodes++] = *n;
		} else if (in->kind == FLEET_KEY_HOST) {
			struct fleet_hostcfg *h = fleet_host_find(&fleet_sh.st, in->host);

			if (h)
				st->hosts[st->n_hosts++] = *h;
		} else if (in->kind == FLEET_KEY_DRAIN) {
			for (int j = 0; j < fleet_sh.st.n_drains; j++)
				if (fleet_sh.st.drains[j].addr.family == in->addr.family &&
				    ebb_addr_eq(fleet_sh.st.drains[j].addr.a, in->addr.a, in->addr.family)) {
					st->drains[st->n_drains++] = fleet_sh.st.drains[j];
					break;
				}
		}
	}
}

/* Whether st holds the object an invalid key names all the same: the key's last good value
 * (fleet_keep_last_good), the maps' own (apply_vips), or, for a key that is gone from st's invalid
 * ones, its valid value again. */
static bool named_in(struct fleet_state *st, const struct fleet_invalid *in)
{
	if (!in->named)
		return false;
	switch (in->kind) {
	case FLEET_KEY_VIP:
		return fleet_vip_find(st, &in->vip);
	case FLEET_KEY_NODE:
		return fleet_node_find(st, &in->addr);
	case FLEET_KEY_HOST:
		return fleet_host_find(st, in->host);
	case FLEET_KEY_DRAIN:
		for (int j = 0; j < st->n_drains; j++)
			if (st->drains[j].addr.family == in->addr.family &&
			    ebb_addr_eq(st->drains[j].addr.a, in->addr.a, in->addr.family))
				return true;
		return false;
	default:
		return false;
	}
}

static const struct fleet_invalid *invalid_find(const struct fleet_state *st, const char *key)
{
	for (int i = 0; i < st->n_invalid; i++)
		if (!strcmp(st->invalid[i].key, key))
			return &st->invalid[i];
	return NULL;
}

/* One event when a key turns invalid (or its reason changes), one when it is valid or gone:
 * against the state read last, so a key that stays bad is not said again every poll. */
void fleet_say_invalid(struct fleet_state *st)
{
	for (int i = 0; i < st->n_invalid; i++) {
		const struct fleet_invalid *in = &st->invalid[i], *was = fleet_sh.have_st ? invalid_find(&fleet_sh.st, in->key) : NULL;
		json_object *ev;

		if (was && !strcmp(was->why, in->why))
			continue;
		ev = log_new(LOG_ERROR, "fleet_state_invalid");
		json_add_str(ev, "key", in->key);
		json_add_str(ev, "error", in->why);
		json_add_int(ev, "mod_revision", in->mod_rev);
		json_add_str(ev, "kept", in->kind == FLEET_KEY_GEN ? "left out of the slot history's rebuild; nothing deleted" :
			     named_in(st, in) ? "its last good value stays applied" :
			     in->named ? "no good value seen by this host: left as the maps have it" :
					 "names no object: ignored");
		json_add_str(ev, "detail", "the rest of the state applies; fix or delete the key");
		log_emit(ev);
	}
	for (int i = 0; fleet_sh.have_st && i < fleet_sh.st.n_invalid; i++) {
		const struct fleet_invalid *was = &fleet_sh.st.invalid[i];
		json_object *ev;

		if (invalid_find(st, was->key))
			continue;
		ev = log_new(LOG_INFO, "fleet_state_valid");
		json_add_str(ev, "key", was->key);
		json_add_str(ev, "detail", named_in(st, was) ? "valid again: its value applies" : "the key is gone");
		log_emit(ev);
	}
}

/* [{"key":…,"error":…,"kept":bool}, …] of the state read last; fleet_sh.mu held. */
json_object *fleet_invalid_json(void)
{
	json_object *arr = json_object_new_array();

	for (int i = 0; fleet_sh.have_st && i < fleet_sh.st.n_invalid; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "key", json_object_new_string(fleet_sh.st.invalid[i].key));
		json_object_object_add(o, "error", json_object_new_string(fleet_sh.st.invalid[i].why));
		json_object_object_add(o, "kept", json_object_new_boolean(named_in(&fleet_sh.st, &fleet_sh.st.invalid[i])));
		json_object_array_add(arr, o);
	}
	return arr;
}

json_object *fleet_state_invalid(void)
{
	json_object *arr;

	if (!fleet_sh.running)
		return NULL;
	pthread_mutex_lock(&fleet_sh.mu);
	arr = fleet_invalid_json();
	pthread_mutex_unlock(&fleet_sh.mu);
	return arr;
}
