// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fleet mode (doc/fleet.md): several LB hosts share one desired state in etcd.
 *
 * A thread of its own talks to etcd, so that the main loop never waits for the network:
 *  - every 100 ms one range request over /ebb/F/ (the desired state, the leader key, every
 *    host's report); when the state's revision (the serial key's mod_revision) moved, or the
 *    pinned maps were re-created, it makes the maps match, whole, through libebb's operations
 *    under the writers' lock, and records that revision as applied;
 *  - it holds this host's lease (keepalive every TTL/4) and publishes the host's report under
 *    it (/ebb/F/hosts/H) and without it (/ebb/F/last/H, what the host said last);
 *  - it takes the leader key when it is free (a transaction creating it under the lease).
 * The main loop hands it the per-node flow counts it measured, and reads back what it needs:
 * whether this host leads (only then does node_transition decide, and it writes to etcd
 * first, fenced by the leader key), the other hosts' reports (fleet-wide sums), and what BIRD
 * should announce (files + `birdc configure`, run by the main loop as a child process).
 *
 * Cut off from etcd, nothing changes in the maps and nothing is decided; the routes stay as
 * they were (see doc/fleet.md, "Partitions": withdrawing would turn an etcd outage into an
 * outage of every host).
 */
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

#include "ebbd.h"
#include "fleet.h"

#define POLL_NS (100 * 1000000ULL)

static struct {
	pthread_mutex_t mu;
	pthread_t thread;
	bool running, stop;
	struct fleet_cfg cfg;
	char bpffs[512];
	/* written by the thread */
	bool etcd_ok, ever_ok, synced, leader, host_drain;
	__u64 lease_until; /* monotonic: this host's lease surely lives until then */
	int64_t seen_rev, applied_rev, store_rev;
	char leader_name[FLEET_NAME_MAX];
	json_object *live, *last; /* {host: report} */
	struct fleet_state st; /* the state last read (for announcements and decisions) */
	bool have_st;
	/* written by the main loop */
	char *flows; /* {"ADDR": n, …} */
	int64_t flows_rev; /* the revision applied when the walk that counted `flows` began */
	double vip_pps;
	bool attached, announcing, bird_known;
	__u64 quiet_since; /* when VIP traffic was last seen above zero (host drain) */
	char state[16]; /* active | draining | inactive (host drain) */
	char routes_err[400]; /* why BIRD's route files or reload failed last ("": they did not) */
} F = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* the main loop's own etcd client, for the leader's writes */
static struct etcd main_etcd;
static bool main_etcd_ok;

static __u64 mono_ns(void)
{
	return ebb_now_ns();
}

static void key(char *buf, size_t len, const char *rest)
{
	fleet_key(buf, len, F.cfg.name, rest);
}

static long etcd_timeout_ms(void)
{
	long t = F.cfg.lease_ttl * 1000L / (2 * F.cfg.n_etcd);

	return t < 200 ? 200 : t > 1000 ? 1000 : t;
}

/* The fleet block's etcd security, as etcd_init takes it (strings owned by F.cfg). */
static const struct etcd_sec *etcd_sec(void)
{
	static struct etcd_sec sec;

	sec = (struct etcd_sec){ .ca = F.cfg.etcd_ca, .cert = F.cfg.etcd_cert, .key = F.cfg.etcd_key,
				 .user = F.cfg.etcd_user, .password_file = F.cfg.etcd_password_file,
				 .insecure = F.cfg.etcd_insecure };
	return &sec;
}

/* ---- applying the desired state to the maps ---- */

static __u64 since_ns(double since_wall)
{
	double ago = fleet_wall() - since_wall;
	__u64 now = mono_ns();

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
static void drain_clocks(struct etcd *c, const struct fleet_state *st)
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
		if (d && mono_ns() < k->next_try)
			continue;
		r = d ? fleet_drain_elapsed(c, d, &e) : 1;
		if (r < 0) {
			k->next_try = mono_ns() + NS_PER_S;
			if (!k->said_fail) {
				json_object *ev = log_new(LOG_WARN, "fleet_drain_clock_unavailable");

				jstr(ev, "node", fn->name);
				jint(ev, "lease", fn->drain_lease);
				jstr(ev, "error", c->err);
				jstr(ev, "detail", "the drain counts from when this host saw it until etcd answers");
				log_emit(ev);
				k->said_fail = true;
			}
			continue;
		}
		if (r > 0) {
			json_object *ev = log_new(LOG_WARN, "fleet_drain_clock_gone");

			k->expired = true;
			jstr(ev, "node", fn->name);
			jint(ev, "lease", fn->drain_lease);
			jint(ev, "drain_timeout_s", k->timeout_s);
			jstr(ev, "detail", "the drain's lease expired or was lost: the drain has timed out");
			log_emit(ev);
			continue;
		}
		{
			/* after the answer: the start is then never earlier than the true one */
			__u64 now = mono_ns(), ago = (__u64)(e * NS_PER_S);
			json_object *ev = log_new(LOG_INFO, "fleet_drain_clock");

			k->start_ns = ago < now ? now - ago : 1;
			jstr(ev, "node", fn->name);
			jint(ev, "lease", fn->drain_lease);
			jdbl(ev, "elapsed_s", e);
			jint(ev, "drain_timeout_s", k->timeout_s);
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
	__u64 now = mono_ns(), t;

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

/* Maps whose drain start was provisional, or whose drain's lease is gone: set from the clock. */
static void drain_clocks_fix(void)
{
	struct ebb_err err = {};
	bool need = false;
	struct ebb e;

	for (int i = 0; i < n_clocks; i++)
		need |= (clocks[i].start_ns && clocks[i].provisional_ns) || (clocks[i].expired && !clocks[i].fixed);
	if (!need || ebb_open(&e, F.bpffs, &err))
		return;
	if (ebb_lock(&e, &err)) {
		ebb_close(&e);
		return;
	}
	for (int i = 0; i < n_clocks; i++) {
		struct dclock *k = &clocks[i];
		struct ebb_node cur;
		__u64 now = mono_ns(), t = (__u64)k->timeout_s * NS_PER_S, want;
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
		cur.state_since_ns = want;
		bpf_map_update_elem(e.nodes_fd, &id, &cur, BPF_EXIST);
	}
	ebb_unlock(&e);
	ebb_close(&e);
}

static int apply_err(int *errs, const char *what, const char *name, const char *msg)
{
	json_object *ev = log_new(LOG_ERROR, "fleet_apply_failed");

	jstr(ev, "what", what);
	jstr(ev, "object", name);
	jstr(ev, "error", msg);
	log_emit(ev);
	(*errs)++;
	return -1;
}

/* The outer sources of ipip's tunnels and of rescues: changed in place, flows kept. */
static bool vip_same_sources(const struct ebb_vip *v, const struct ebb_vip_opts *o)
{
	return v->encap_src4 == o->encap_src4 && !memcmp(v->encap_src6, o->encap_src6, sizeof(o->encap_src6));
}

static int apply_vips(struct ebb *e, struct fleet_state *st, int *errs, int *changes)
{
	struct ebb_vip_key k, *prev = NULL, gone[EBB_MAX_VIPS];
	struct ebb_err err = {};
	int n_gone = 0;

	while (!bpf_map_get_next_key(e->vips_fd, prev, &k)) {
		const struct fleet_invalid *h;
		struct ebb_vip cur;

		prev = &k;
		if (fleet_vip_find(st, &k))
			continue;
		if ((h = fleet_invalid_vip(st, &k))) {
			/* its key fails the schema and this host has no good value of it since it
			 * started: the maps' own (applied from etcd before) stands in, for BIRD too */
			if (st->n_vips < EBB_MAX_VIPS && !ebb_vip_find(e, &k, &cur)) {
				struct fleet_vip *fv = &st->vips[st->n_vips++];

				memset(fv, 0, sizeof(*fv));
				fv->key = k;
				ebb_fmt_vip(&k, fv->name, sizeof(fv->name));
				fv->o.fwd = cur.fwd;
				fv->o.tcp_idle_s = cur.tcp_idle_s;
				fv->o.udp_idle_s = cur.udp_idle_s;
				fv->o.fin_s = cur.fin_s;
				fv->o.drain_timeout_s = cur.drain_timeout_s;
				fv->o.table_size = ebb_vip_table_size(&cur);
				fv->o.encap_src4 = cur.encap_src4;
				memcpy(fv->o.encap_src6, cur.encap_src6, sizeof(fv->o.encap_src6));
				fv->mod_rev = -1; /* from the maps, not from etcd */
			}
			continue;
		}
		if (n_gone < EBB_MAX_VIPS)
			gone[n_gone++] = k;
	}
	for (int i = 0; i < n_gone; i++) {
		char name[64];

		ebb_fmt_vip(&gone[i], name, sizeof(name));
		if (ebb_vip_del(e, &gone[i], true, &err))
			apply_err(errs, "vip del", name, err.msg);
		else
			(*changes)++;
	}
	for (int i = 0; i < st->n_vips; i++) {
		struct fleet_vip *fv = &st->vips[i];
		struct ebb_vip_opts o = fv->o;
		struct ebb_vip cur;

		if (fv->mod_rev < 0)
			continue; /* held as the maps have it (above) */
		/* no outer source given: this host's own device addresses, for ipip's tunnels
		 * and for rescues (dsr too: a claim must come back to the host that rescued) */
		ebb_device_sources(F.bpffs, &o.encap_src4, o.encap_src6);
		if (!ebb_vip_find(e, &fv->key, &cur)) {
			/* a table size is as fixed as the forwarding mode: the same tables on every
			 * host, or the VIP is made again (below) */
			if (cur.fwd == o.fwd && ebb_vip_table_size(&cur) == (o.table_size ? o.table_size : EBB_RING_SIZE)) {
				if (cur.tcp_idle_s != o.tcp_idle_s || cur.udp_idle_s != o.udp_idle_s ||
				    cur.fin_s != o.fin_s || cur.drain_timeout_s != o.drain_timeout_s ||
				    !vip_same_sources(&cur, &o)) {
					cur.encap_src4 = o.encap_src4;
					memcpy(cur.encap_src6, o.encap_src6, sizeof(cur.encap_src6));
					cur.tcp_idle_s = o.tcp_idle_s;
					cur.udp_idle_s = o.udp_idle_s;
					cur.fin_s = o.fin_s;
					cur.drain_timeout_s = o.drain_timeout_s;
					if (ebb_vip_store(e, &fv->key, &cur, BPF_EXIST))
						apply_err(errs, "vip timeouts", fv->name, strerror(errno));
					else
						(*changes)++;
				}
				continue;
			}
			/* another forwarding mode or table size: the VIP is made again (its flows
			 * re-placed) */
			if (ebb_vip_del(e, &fv->key, true, &err)) {
				apply_err(errs, "vip del", fv->name, err.msg);
				continue;
			}
		}
		if (ebb_vip_add(e, &fv->key, &o, &err))
			apply_err(errs, "vip add", fv->name, err.msg);
		else
			(*changes)++;
	}
	return 0;
}

static int apply_node(struct ebb *e, struct fleet_node *fn, int *errs, int *changes)
{
	struct ebb_err err = {};
	struct ebb_node cur;
	__u32 id;
	bool is_new = ebb_node_find(e, &fn->addr, &id, &cur) != 0;

	/* memberships: those no longer wanted first, then the new ones, then weights */
	if (!is_new) {
		struct ebb_member_key mk, *prev = NULL, drop[EBB_MAX_VIPS];
		int n_drop = 0;

		while (!bpf_map_get_next_key(e->members_fd, prev, &mk)) {
			struct ebb_vip_key vk;
			bool want = false;

			prev = &mk;
			if (mk.node_id != id || ebb_vip_by_id(e, mk.vip_id, &vk, NULL))
				continue;
			for (int i = 0; i < fn->n_w && !want; i++)
				want = !memcmp(&fn->w[i].vip, &vk, sizeof(vk));
			if (!want && n_drop < EBB_MAX_VIPS)
				drop[n_drop++] = mk;
		}
		for (int i = 0; i < n_drop; i++) {
			struct ebb_vip_key vk;

			if (ebb_vip_by_id(e, drop[i].vip_id, &vk, NULL))
				continue;
			if (ebb_node_del(e, &fn->addr, &vk, true, &err))
				apply_err(errs, "node del vip", fn->name, err.msg);
			else
				(*changes)++;
		}
		if (fn->have_mac && memcmp(cur.mac, fn->mac, 6)) {
			memcpy(cur.mac, fn->mac, 6);
			if (bpf_map_update_elem(e->nodes_fd, &id, &cur, BPF_EXIST))
				apply_err(errs, "node mac", fn->name, strerror(errno));
			else
				(*changes)++;
		}
	}
	for (int i = 0; i < fn->n_w; i++) {
		struct ebb_node_opts o = { .weight = fn->w[i].weight, .have_mac = fn->have_mac,
					   /* a node here already takes the flag below */
					   .node_prog = fn->node_prog &&
							ebb_node_find(e, &fn->addr, NULL, NULL) != 0 };
		struct ebb_member m;
		struct ebb_vip v;

		memcpy(o.mac, fn->mac, 6);
		if (ebb_vip_find(e, &fn->w[i].vip, &v))
			continue; /* its VIP failed to apply: said already */
		if (!is_new && !ebb_node_find(e, &fn->addr, &id, &cur) &&
		    !bpf_map_lookup_elem(e->members_fd, &(struct ebb_member_key){ .vip_id = v.id, .node_id = id }, &m)) {
			if (m.weight != fn->w[i].weight) {
				m.weight = fn->w[i].weight;
				if (bpf_map_update_elem(e->members_fd,
							&(struct ebb_member_key){ .vip_id = v.id, .node_id = id },
							&m, BPF_EXIST) ||
				    ebb_rings_rebuild(e, v.id, &err))
					apply_err(errs, "node weight", fn->name, err.msg[0] ? err.msg : strerror(errno));
				else
					(*changes)++;
			}
			continue;
		}
		/* a new node starts out of the tables (inactive), then takes its state below */
		o.inactive = ebb_node_find(e, &fn->addr, NULL, NULL) != 0 && fn->state != EBB_NODE_ACTIVE;
		if (ebb_node_add(e, &fn->addr, &fn->w[i].vip, &o, &err)) {
			apply_err(errs, "node add", fn->name, err.msg);
			continue;
		}
		(*changes)++;
		is_new = false;
	}
	if (ebb_node_find(e, &fn->addr, &id, &cur))
		return 0; /* a node of no VIP that is not here: nothing to hold it */
	if (!!(cur.flags & EBB_NODE_F_NODE_PROG) != fn->node_prog) {
		if (ebb_node_set_flags(e, &fn->addr, EBB_NODE_F_NODE_PROG, fn->node_prog, &err))
			apply_err(errs, "node node-prog", fn->name, err.msg);
		else
			(*changes)++;
		ebb_node_find(e, &fn->addr, &id, &cur);
	}
	if (cur.state != fn->state || (fn->state == EBB_NODE_DRAINING && cur.drain_timeout_s != fn->drain_timeout_s)) {
		if (ebb_node_set_state(e, &fn->addr, fn->state, fn->drain_timeout_s, &err))
			return apply_err(errs, "node state", fn->name, err.msg);
		(*changes)++;
		if (!ebb_node_find(e, &fn->addr, &id, &cur)) {
			/* the fleet's clock for the drain, and where a down node returns to */
			cur.state_since_ns = state_start_ns(fn);
			if (fn->state == EBB_NODE_DOWN)
				cur.state_before_down = fn->before_down;
			bpf_map_update_elem(e->nodes_fd, &id, &cur, BPF_EXIST);
		}
	}
	return 0;
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
static bool hist_force = true; /* the first apply, or the pins made again: every VIP */
static bool hist_pending; /* a state was applied: its VIPs' histories are to be rebuilt */

static struct gclock *gclock_find(int64_t lease)
{
	for (int i = 0; i < n_gclocks; i++)
		if (gclocks[i].lease == lease)
			return &gclocks[i];
	return NULL;
}

/* Reads the time left of st's generations this host has not timed yet. */
static void gen_clocks(struct etcd *c, const struct fleet_state *st)
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
						  .until_ns = ttl < 0 ? 0 : mono_ns() + (__u64)(ttl + 1) * NS_PER_S };
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
static void apply_history(struct ebb *e, struct fleet_state *st)
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
		__u64 now = mono_ns();
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
		if (!hist_force && was && was->n == d->n && !memcmp(was->lease, d->lease, sizeof(d->lease[0]) * d->n))
			continue;
		if (!hist_force && !was && !d->n)
			continue; /* a VIP new here, with no generation: no history to make */
		lost = ebb_history_replace(e, vip.id, hg, (size_t)used, now);
		{
			json_object *ev = log_new(LOG_INFO, "fleet_history_rebuilt");

			jstr(ev, "vip", fv->name);
			jint(ev, "generations", used);
			jdbl(ev, "ms", (mono_ns() - now) / 1e6);
			if (lost)
				jint(ev, lost < 0 ? "error" : "lost", lost);
			log_emit(ev);
		}
	}
	memcpy(hdone, next, n_next * sizeof(*next));
	n_hdone = n_next;
	hist_force = false;
}

static int apply_state(struct fleet_state *st, int *changes)
{
	struct ebb_err err = {};
	struct ebb e;
	int errs = 0;

	if (ebb_open(&e, F.bpffs, &err))
		return -ENOENT;
	if (ebb_lock(&e, &err)) {
		ebb_close(&e);
		return -EAGAIN;
	}
	apply_vips(&e, st, &errs, changes);
	/* nodes the fleet no longer has */
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct ebb_node n;
		struct ebb_addr a;
		char name[64];

		if (bpf_map_lookup_elem(e.nodes_fd, &id, &n) || n.state == EBB_NODE_UNUSED)
			continue;
		memcpy(a.a, n.addr, sizeof(a.a));
		a.family = n.family;
		if (fleet_node_find(st, &a) || fleet_invalid_node(st, &a))
			continue; /* wanted, or its key fails the schema: never deleted for that */
		ebb_fmt_addr(n.addr, n.family, name, sizeof(name));
		if (ebb_node_del(&e, &a, NULL, true, &err))
			apply_err(&errs, "node del", name, err.msg);
		else
			(*changes)++;
	}
	for (int i = 0; i < st->n_nodes; i++)
		apply_node(&e, &st->nodes[i], &errs, changes);
	ebb_unlock(&e);
	ebb_close(&e);
	return errs ? -EIO : 0;
}

/* ---- keys that fail the schema (doc/fleet.md, "Schema") ---- */

/* Each such key keeps its last good value here: the one in the state read last (F.st, written
 * only by this thread). Never having seen one, the host leaves the object as its maps have it
 * (apply_vips, apply_state): nothing is deleted or activated because a value failed to parse. */
static void keep_last_good(struct fleet_state *st)
{
	for (int i = 0; F.have_st && i < st->n_invalid; i++) {
		const struct fleet_invalid *in = &st->invalid[i];

		if (!in->named)
			continue;
		if (in->kind == FLEET_KEY_VIP) {
			struct fleet_vip *v = fleet_vip_find(&F.st, &in->vip);

			if (v && st->n_vips < EBB_MAX_VIPS)
				st->vips[st->n_vips++] = *v;
		} else if (in->kind == FLEET_KEY_NODE) {
			struct fleet_node *n = fleet_node_find(&F.st, &in->addr);

			if (n) /* room: the invalid key has its slot (fleet_state_parse) */
				st->nodes[st->n_nodes++] = *n;
		} else if (in->kind == FLEET_KEY_HOST) {
			struct fleet_hostcfg *h = fleet_host_find(&F.st, in->host);

			if (h)
				st->hosts[st->n_hosts++] = *h;
		} else if (in->kind == FLEET_KEY_DRAIN) {
			for (int j = 0; j < F.st.n_drains; j++)
				if (F.st.drains[j].addr.family == in->addr.family &&
				    ebb_addr_eq(F.st.drains[j].addr.a, in->addr.a, in->addr.family)) {
					st->drains[st->n_drains++] = F.st.drains[j];
					break;
				}
		}
	}
}

/* Whether st holds the object an invalid key names all the same: the key's last good value
 * (keep_last_good), the maps' own (apply_vips), or, for a key that is gone from st's invalid
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
static void say_invalid(struct fleet_state *st)
{
	for (int i = 0; i < st->n_invalid; i++) {
		const struct fleet_invalid *in = &st->invalid[i], *was = F.have_st ? invalid_find(&F.st, in->key) : NULL;
		json_object *ev;

		if (was && !strcmp(was->why, in->why))
			continue;
		ev = log_new(LOG_ERROR, "fleet_state_invalid");
		jstr(ev, "key", in->key);
		jstr(ev, "error", in->why);
		jint(ev, "mod_revision", in->mod_rev);
		jstr(ev, "kept", in->kind == FLEET_KEY_GEN ? "left out of the slot history's rebuild; nothing deleted" :
			     named_in(st, in) ? "its last good value stays applied" :
			     in->named ? "no good value seen by this host: left as the maps have it" :
					 "names no object: ignored");
		jstr(ev, "detail", "the rest of the state applies; fix or delete the key");
		log_emit(ev);
	}
	for (int i = 0; F.have_st && i < F.st.n_invalid; i++) {
		const struct fleet_invalid *was = &F.st.invalid[i];
		json_object *ev;

		if (invalid_find(st, was->key))
			continue;
		ev = log_new(LOG_INFO, "fleet_state_valid");
		jstr(ev, "key", was->key);
		jstr(ev, "detail", named_in(st, was) ? "valid again: its value applies" : "the key is gone");
		log_emit(ev);
	}
}

/* [{"key":…,"error":…,"kept":bool}, …] of the state read last; F.mu held. */
static json_object *invalid_json(void)
{
	json_object *arr = json_object_new_array();

	for (int i = 0; F.have_st && i < F.st.n_invalid; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "key", json_object_new_string(F.st.invalid[i].key));
		json_object_object_add(o, "error", json_object_new_string(F.st.invalid[i].why));
		json_object_object_add(o, "kept", json_object_new_boolean(named_in(&F.st, &F.st.invalid[i])));
		json_object_array_add(arr, o);
	}
	return arr;
}

json_object *fleet_state_invalid(void)
{
	json_object *arr;

	if (!F.running)
		return NULL;
	pthread_mutex_lock(&F.mu);
	arr = invalid_json();
	pthread_mutex_unlock(&F.mu);
	return arr;
}

static int pins_ino(ino_t *ino)
{
	char path[600];
	struct stat s;

	snprintf(path, sizeof(path), "%s/nodes", F.bpffs);
	if (stat(path, &s))
		return -1;
	*ino = s.st_ino;
	return 0;
}

/*
 * Whether this host may say that it leads (its report, the metrics, the status page): it took
 * the leader key and its lease surely still lives. lease_until counts from before the request
 * that granted or renewed the lease, so it never outlives the lease in etcd, where the key goes
 * with it before another host can take it: two hosts never say so at once, even when this one
 * was stopped past its lease and has not asked etcd since (F.leader is still true then).
 * Called with F.mu held.
 */
static bool leads_now(void)
{
	return F.leader && mono_ns() < F.lease_until;
}

/* ---- the report ---- */

static char *report_json(bool *announcing, bool with_pps)
{
	json_object *r = json_object_new_object(), *fl;
	char *out;

	pthread_mutex_lock(&F.mu);
	json_object_object_add(r, "host", json_object_new_string(F.cfg.host));
	json_object_object_add(r, "applied", json_object_new_int64(F.applied_rev));
	json_object_object_add(r, "seen", json_object_new_int64(F.seen_rev));
	json_object_object_add(r, "counted", json_object_new_int64(F.flows_rev));
	json_object_object_add(r, "status", json_object_new_string(F.announcing ? "announcing" : "withdrawn"));
	json_object_object_add(r, "state", json_object_new_string(F.state[0] ? F.state : "active"));
	json_object_object_add(r, "attached", json_object_new_boolean(F.attached));
	json_object_object_add(r, "in_step", json_object_new_boolean(F.synced && F.applied_rev == F.seen_rev));
	json_object_object_add(r, "leader", json_object_new_boolean(leads_now()));
	json_object_object_add(r, "etcd", json_object_new_string("ok"));
	if (F.cfg.bird_dir) {
		json_object_object_add(r, "routes", json_object_new_string(F.routes_err[0] ? "failed" : "ok"));
		if (F.routes_err[0])
			json_object_object_add(r, "routes_error", json_object_new_string(F.routes_err));
	}
	json_object_object_add(r, "vip_pps", json_object_new_double(with_pps ? (long long)(F.vip_pps * 10) / 10.0 : 0));
	json_object_object_add(r, "state_invalid", invalid_json());
	fl = F.flows ? json_tokener_parse(F.flows) : NULL;
	json_object_object_add(r, "flows", fl ? fl : json_object_new_object());
	*announcing = F.announcing;
	pthread_mutex_unlock(&F.mu);
	out = strdup(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(r);
	return out;
}

/* ---- the thread ---- */

static void set_leader(bool leader, const char *who)
{
	bool was;

	pthread_mutex_lock(&F.mu);
	was = F.leader;
	F.leader = leader;
	snprintf(F.leader_name, sizeof(F.leader_name), "%s", who ? who : "");
	pthread_mutex_unlock(&F.mu);
	if (leader != was)
		log_msg(LOG_INFO, leader ? "fleet_leader" : "fleet_leader_lost",
			leader ? "this host (%s) now decides for fleet %s" : "this host (%s) no longer decides for fleet %s",
			F.cfg.host, F.cfg.name);
}

static void *thread_main(void *arg)
{
	struct etcd c;
	int64_t lease = 0;
	__u64 next_keepalive = 0, next_report = 0, last_report_ok = 0, apply_retry = 0;
	char *last_report = NULL, *last_nopps = NULL, hostkey[256], lastkey[256], leaderkey[128], prefix[128], rest[128];
	char *eps[FLEET_MAX_ETCD];
	ino_t ino = 0;
	bool said_down = false;

	(void)arg;
	for (int i = 0; i < F.cfg.n_etcd; i++)
		eps[i] = F.cfg.etcd[i];
	if (etcd_init(&c, eps, F.cfg.n_etcd, etcd_timeout_ms(), etcd_sec())) {
		log_msg(LOG_ERROR, "fleet_failed", "%s", c.err);
		return NULL;
	}
	snprintf(rest, sizeof(rest), "hosts/%s", F.cfg.host);
	key(hostkey, sizeof(hostkey), rest);
	snprintf(rest, sizeof(rest), "last/%s", F.cfg.host);
	key(lastkey, sizeof(lastkey), rest);
	key(leaderkey, sizeof(leaderkey), "leader");
	key(prefix, sizeof(prefix), "");

	while (!__atomic_load_n(&F.stop, __ATOMIC_RELAXED)) {
		__u64 now = mono_ns(), t0 = now;
		struct etcd_range r;
		struct fleet_state st;
		json_object *live, *last;
		char leader[FLEET_NAME_MAX] = "";
		bool ok = true, announcing, force_report = false;
		ino_t cur_ino = 0;
		char *rep;

		/* the lease: granted once, kept alive every TTL/4 */
		if (!lease) {
			if (!etcd_lease_grant(&c, F.cfg.lease_ttl, &lease)) {
				pthread_mutex_lock(&F.mu);
				F.lease_until = t0 + F.cfg.lease_ttl * NS_PER_S;
				pthread_mutex_unlock(&F.mu);
				next_keepalive = t0 + F.cfg.lease_ttl * NS_PER_S / 4;
				force_report = true;
			} else {
				lease = 0;
				ok = false;
			}
		} else if (now >= next_keepalive) {
			int64_t ttl = 0;

			if (etcd_lease_keepalive(&c, lease, &ttl)) {
				ok = false;
			} else if (ttl <= 0) {
				log_msg(LOG_WARN, "fleet_lease_expired", "lease of host %s expired; taking a new one",
					F.cfg.host);
				lease = 0;
				pthread_mutex_lock(&F.mu);
				F.lease_until = 0;
				pthread_mutex_unlock(&F.mu);
				set_leader(false, NULL);
				continue;
			} else {
				pthread_mutex_lock(&F.mu);
				F.lease_until = t0 + ttl * NS_PER_S;
				pthread_mutex_unlock(&F.mu);
				next_keepalive = t0 + F.cfg.lease_ttl * NS_PER_S / 4;
			}
		}

		/* everything under /ebb/F/ in one read */
		if (ok && etcd_get(&c, prefix, true, &r))
			ok = false;
		if (!ok) {
			pthread_mutex_lock(&F.mu);
			F.etcd_ok = false;
			pthread_mutex_unlock(&F.mu);
			if (!said_down) {
				json_object *ev = log_new(LOG_WARN, "fleet_etcd_unreachable");

				jstr(ev, "error", c.err);
				jint(ev, "applied_revision", F.applied_rev);
				jstr(ev, "detail", "forwarding goes on with the state applied last; this host decides nothing until etcd answers");
				log_emit(ev);
				said_down = true;
			}
			if (mono_ns() >= F.lease_until)
				set_leader(false, NULL);
			goto sleep;
		}
		if (said_down) {
			log_msg(LOG_INFO, "fleet_etcd_reachable", "etcd answers again (revision %lld); catching up",
				(long long)r.revision);
			said_down = false;
		}
		fleet_state_parse(&r, F.cfg.name, &st);
		keep_last_good(&st);
		drain_clocks(&c, &st);
		gen_clocks(&c, &st);
		live = json_object_new_object();
		last = json_object_new_object();
		{
			char hp[128], lp[128];

			key(hp, sizeof(hp), "hosts/");
			key(lp, sizeof(lp), "last/");
			for (int i = 0; i < r.n; i++) {
				const struct etcd_kv *kv = &r.kvs[i];
				json_object *o;

				if (!strcmp(kv->key, leaderkey)) {
					snprintf(leader, sizeof(leader), "%s", kv->value);
					continue;
				}
				if (strncmp(kv->key, hp, strlen(hp)) && strncmp(kv->key, lp, strlen(lp)))
					continue;
				if (!(o = json_tokener_parse(kv->value)))
					continue;
				json_object_object_add(!strncmp(kv->key, hp, strlen(hp)) ? live : last,
						       kv->key + strlen(!strncmp(kv->key, hp, strlen(hp)) ? hp : lp), o);
			}
		}
		etcd_range_free(&r);

		/* apply when the state moved, on the first read, or when the maps were re-created */
		pins_ino(&cur_ino);
		if ((st.rev != F.applied_rev || !F.synced || cur_ino != ino) && now >= apply_retry) {
			if (cur_ino != ino)
				hist_force = true; /* maps made again: their history too */
			int changes = 0, ret = cur_ino ? apply_state(&st, &changes) : -ENOENT;

			if (!ret) {
				json_object *ev = log_new(changes || st.rev != F.applied_rev ? LOG_INFO : LOG_DEBUG,
							  "fleet_applied");

				jint(ev, "revision", st.rev);
				jint(ev, "previous", F.applied_rev);
				jint(ev, "changes", changes);
				jdbl(ev, "apply_ms", (mono_ns() - now) / 1e6);
				log_emit(ev);
				pthread_mutex_lock(&F.mu);
				F.applied_rev = st.rev;
				F.synced = true;
				pthread_mutex_unlock(&F.mu);
				hist_pending = true;
				ino = cur_ino;
				force_report = true;
			} else {
				if (ret == -ENOENT && !F.synced)
					log_msg(LOG_DEBUG, "fleet_no_state", "no ebb state under %s yet", F.bpffs);
				apply_retry = now + (ret == -EAGAIN ? POLL_NS : NS_PER_S);
			}
		}
		if (F.synced)
			drain_clocks_fix();
		say_invalid(&st);
		pthread_mutex_lock(&F.mu);
		F.etcd_ok = F.ever_ok = true;
		F.seen_rev = st.rev;
		F.store_rev = st.store_rev;
		json_object_put(F.live);
		json_object_put(F.last);
		F.live = live;
		F.last = last;
		if (F.have_st)
			fleet_state_free(&F.st);
		F.st = st;
		F.have_st = true;
		F.host_drain = fleet_host_find(&F.st, F.cfg.host) && fleet_host_find(&F.st, F.cfg.host)->drain;
		pthread_mutex_unlock(&F.mu);

		/* the leader key: taken when free, under this host's lease */
		if (lease && !leader[0]) {
			json_object *cmp = json_object_new_array(), *ops = json_object_new_array();
			bool won = false;

			json_object_array_add(cmp, etcd_cmp(leaderkey, "CREATE", "EQUAL", 0, NULL));
			json_object_array_add(ops, etcd_op_put(leaderkey, F.cfg.host, lease));
			if (!etcd_txn(&c, cmp, ops, NULL, &won, NULL, NULL) && won)
				snprintf(leader, sizeof(leader), "%s", F.cfg.host);
		}
		set_leader(lease && !strcmp(leader, F.cfg.host) && mono_ns() < F.lease_until, leader);

		/* the report: when something changed (at most every 200 ms; every 2 s when only the
		 * packet rate did). Liveness is the lease's business: no heartbeat writes. */
		if (lease) {
			char *nopps = report_json(&announcing, false);

			rep = report_json(&announcing, true);
			if (force_report || !last_report ||
			    (strcmp(nopps, last_nopps) && mono_ns() - last_report_ok > 200 * 1000000ULL) ||
			    (strcmp(rep, last_report) && mono_ns() >= next_report)) {
				json_object *ops = json_object_new_array();
				bool put_ok = false;

				json_object_array_add(ops, etcd_op_put(hostkey, rep, lease));
				json_object_array_add(ops, etcd_op_put(lastkey, rep, 0));
				if (!etcd_txn(&c, NULL, ops, NULL, &put_ok, NULL, NULL)) {
					free(last_report);
					free(last_nopps);
					last_report = rep;
					last_nopps = nopps;
					rep = nopps = NULL;
					last_report_ok = mono_ns();
					next_report = last_report_ok + 2 * NS_PER_S;
				}
			}
			free(rep);
			free(nopps);
		}
		/* The history after the report: a write's caller waits for every host's report,
		 * not for this (a catching-up host rewrites whole VIPs: 0.2-0.5 s on this VM). The
		 * tables' own writes recorded the change's owners already, before they swapped. */
		if (hist_pending) {
			struct ebb_err err = {};
			struct ebb e;

			if (!ebb_open(&e, F.bpffs, &err)) {
				/* F.st unlocked: only this thread writes it */
				if (!ebb_lock(&e, &err)) {
					apply_history(&e, &F.st);
					hist_pending = false;
					ebb_unlock(&e);
				}
				ebb_close(&e);
			}
		}
sleep:
		now = mono_ns();
		if (now - t0 > NS_PER_S) {
			json_object *ev = log_new(LOG_WARN, "fleet_slow_poll");

			jint(ev, "ms", (now - t0) / 1000000);
			jstr(ev, "leader", leader);
			log_emit(ev);
		}
		if (now < t0 + POLL_NS)
			nanosleep(&(struct timespec){ .tv_nsec = (long)(t0 + POLL_NS - now) }, NULL);
	}
	if (lease) {
		/* the lease goes at once: the leader key with it, and another host leads */
		etcd_lease_revoke(&c, lease);
	}
	free(last_report);
	free(last_nopps);
	etcd_free(&c);
	return NULL;
}

/* ---- the main loop's side ---- */

int fleet_start(struct agent *a)
{
	struct fleet_cfg *fc = &a->cfg.fleet;
	struct fleet_marker m = {};
	struct ebb_err err = {};
	char *eps[FLEET_MAX_ETCD];

	if (!fc->enabled) {
		/* not (or no longer) a fleet host: ebbctl writes locally again */
		fleet_marker_remove(a->bpffs);
		return 0;
	}
	F.cfg = *fc; /* the strings stay owned by a->cfg, which a reload keeps (main.c) */
	snprintf(F.bpffs, sizeof(F.bpffs), "%s", a->bpffs);
	fleet_cfg_marker(fc, &m);
	for (int i = 0; i < fc->n_etcd; i++)
		eps[i] = fc->etcd[i];
	if (fc->etcd_insecure && fc->insecure_line)
		log_msg(LOG_WARN, "fleet_etcd_insecure",
			"%s:%d: etcd is reached over plain http (etcd-insecure = true): anyone who reaches an etcd member or the path to it can read and rewrite every host's desired state",
			a->cfg_path, fc->insecure_line);
	if (fleet_marker_write(a->bpffs, &m, &err)) {
		log_msg(LOG_ERROR, "fleet_failed", "%s", err.msg);
		return -1;
	}
	if (etcd_init(&main_etcd, eps, fc->n_etcd, etcd_timeout_ms(), etcd_sec())) {
		log_msg(LOG_ERROR, "fleet_failed", "%s", main_etcd.err);
		return -1;
	}
	main_etcd_ok = true;
	snprintf(F.state, sizeof(F.state), "active");
	if (fc->bird_dir) {
		/* created empty when missing; an existing file is left as it is until ebbd knows
		 * what to announce, so that a restart does not withdraw a host that forwards */
		for (int v = 4; v <= 6; v += 2) {
			char path[600];
			int fd;

			snprintf(path, sizeof(path), "%s/ebb-vips%d.conf", fc->bird_dir, v);
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd >= 0)
				close(fd);
			else if (errno != EEXIST)
				log_msg(LOG_ERROR, "fleet_bird_file", "cannot create %s: %s", path, strerror(errno));
		}
	}
	{
		json_object *ev = log_new(LOG_INFO, "fleet_start");

		jstr(ev, "fleet", fc->name);
		jstr(ev, "host", fc->host);
		jint(ev, "lease_ttl_s", fc->lease_ttl);
		jint(ev, "etcd_endpoints", fc->n_etcd);
		jstr(ev, "etcd_tls", fc->insecure_line ? "no" : fc->etcd_cert ? "client-cert" : "server-only");
		if (fc->etcd_user)
			jstr(ev, "etcd_user", fc->etcd_user);
		if (fc->bird_socket)
			jstr(ev, "bird_socket", fc->bird_socket);
		log_emit(ev);
	}
	if (pthread_create(&F.thread, NULL, thread_main, NULL)) {
		log_msg(LOG_ERROR, "fleet_failed", "cannot start the fleet thread");
		return -1;
	}
	F.running = true;
	return 0;
}

void fleet_stop(void)
{
	if (!F.running)
		return;
	__atomic_store_n(&F.stop, true, __ATOMIC_RELAXED);
	pthread_join(F.thread, NULL);
	F.running = false;
	if (main_etcd_ok)
		etcd_free(&main_etcd);
	main_etcd_ok = false;
	json_object_put(F.live);
	json_object_put(F.last);
	F.live = F.last = NULL;
	if (F.have_st)
		fleet_state_free(&F.st);
	F.have_st = false;
	free(F.flows);
	F.flows = NULL;
}

bool fleet_enabled(void)
{
	return F.running;
}

long long fleet_applied_revision(void)
{
	long long rev;

	if (!F.running)
		return 0;
	pthread_mutex_lock(&F.mu);
	rev = F.applied_rev;
	pthread_mutex_unlock(&F.mu);
	return rev;
}

bool fleet_is_leader(void)
{
	bool l;

	if (!F.running)
		return true;
	pthread_mutex_lock(&F.mu);
	l = F.leader && F.etcd_ok && mono_ns() + 500 * 1000000ULL < F.lease_until;
	pthread_mutex_unlock(&F.mu);
	return l;
}

/* ---- BIRD ---- */

/*
 * The route files are sized from their worst case, so that no VIP is ever left out: one line
 * per VIP address of the state (at most EBB_MAX_VIPS in all, fleet_state_parse keeps no more),
 * each at most the longest text inet_ntop gives (INET6_ADDRSTRLEN - 1, an IPv4-mapped IPv6
 * address written out in full) with the /128 prefix length.
 */
#define BIRD_LINE_FMT "route %s/%d blackhole;\n"
#define BIRD_LINE_MAX (sizeof("route /128 blackhole;\n") - 1 + INET6_ADDRSTRLEN - 1)
#define BIRD_FILE_MAX (EBB_MAX_VIPS * BIRD_LINE_MAX + 1)

static bool bird_busy, bird_written; /* bird_written: the files say bird_cur4/6 */
static __u64 bird_retry_ns;
static char bird_cur4[BIRD_FILE_MAX], bird_cur6[BIRD_FILE_MAX];

/*
 * A write or a reload failed: logged when the reason changes, and kept (the host's report,
 * so `ebbctl fleet show` on any host, and the metrics) until a write and reload succeed.
 * Called with F.mu held.
 */
static void bird_fail(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bird_fail(const char *event, const char *fmt, ...)
{
	char why[sizeof(F.routes_err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	bird_written = false; /* write both files and reload again */
	bird_retry_ns = mono_ns() + NS_PER_S;
	if (!strcmp(why, F.routes_err))
		return;
	snprintf(F.routes_err, sizeof(F.routes_err), "%s", why);
	{
		json_object *ev = log_new(LOG_ERROR, event);

		jstr(ev, "error", why);
		jstr(ev, "detail", "BGP announces what BIRD had before; retried every second");
		log_emit(ev);
	}
}

static void bird_done(int status, bool timed_out, const char *out, void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&F.mu);
	bird_busy = false;
	if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status)) {
		/* birdc's first line is its banner; the reason is its last line */
		char *text = strdup(out ? out : ""), *e, *last;

		e = text ? text + strlen(text) : NULL;
		while (e && e > text && (e[-1] == '\n' || e[-1] == ' '))
			*--e = 0;
		last = text ? (strrchr(text, '\n') ? strrchr(text, '\n') + 1 : text) : "";
		bird_fail("fleet_bird_failed", "birdc -s %s configure %s: %s", F.cfg.bird_socket,
			  timed_out ? "timed out" : "failed", last[0] ? last : "no output");
		free(text);
		pthread_mutex_unlock(&F.mu);
		return;
	}
	if (F.routes_err[0]) {
		log_msg(LOG_INFO, "fleet_bird_ok", "BIRD took the route files again (was: %s)", F.routes_err);
		F.routes_err[0] = 0;
	}
	pthread_mutex_unlock(&F.mu);
	log_msg(LOG_DEBUG, "fleet_bird_configured", "%s", out);
}

/* The whole text to a temporary file beside PATH, then renamed over it: BIRD never reads half. */
static int write_file(const char *path, const char *text)
{
	char tmp[700];
	size_t len = strlen(text);
	FILE *f;
	int err;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	errno = 0;
	err = fwrite(text, 1, len, f) != len;
	if (fclose(f) || err || rename(tmp, path)) {
		err = errno ? errno : EIO;
		unlink(tmp);
		errno = err;
		return -1;
	}
	return 0;
}

/* Every VIP address of the state of FAMILY, once, into buf (BIRD_FILE_MAX bytes). */
static int bird_text(char *buf, const struct fleet_state *st, __u8 family)
{
	size_t len = 0;

	buf[0] = 0;
	for (int i = 0; st && i < st->n_vips; i++) {
		const struct ebb_vip_key *k = &st->vips[i].key;
		char addr[INET6_ADDRSTRLEN], line[BIRD_LINE_MAX + 1];
		int n;

		if (k->family != family)
			continue;
		ebb_fmt_addr(k->addr, k->family, addr, sizeof(addr));
		n = snprintf(line, sizeof(line), BIRD_LINE_FMT, addr, family == EBB_FAMILY_V4 ? 32 : 128);
		if (n < 0 || (size_t)n >= sizeof(line) || len + n >= BIRD_FILE_MAX)
			return -1; /* cannot happen (sized above); never a file cut short */
		if (strstr(buf, line)) /* one route per address, whatever its ports */
			continue;
		memcpy(buf + len, line, n + 1);
		len += n;
	}
	return 0;
}

/* Writes the two route files and asks BIRD to reconfigure when what to announce changed. */
static void bird_sync(bool announce, const struct fleet_state *st)
{
	static char v4[BIRD_FILE_MAX], v6[BIRD_FILE_MAX];
	char path[600];
	char *argv[] = { F.cfg.birdc, "-s", F.cfg.bird_socket, "configure", NULL };
	int ret;

	if (!F.cfg.bird_dir)
		return;
	if (bird_text(v4, announce ? st : NULL, EBB_FAMILY_V4) || bird_text(v6, announce ? st : NULL, EBB_FAMILY_V6)) {
		bird_fail("fleet_bird_file", "the route files would exceed %zu bytes", (size_t)BIRD_FILE_MAX);
		return;
	}
	if ((bird_written && !strcmp(v4, bird_cur4) && !strcmp(v6, bird_cur6)) || bird_busy ||
	    mono_ns() < bird_retry_ns)
		return;
	snprintf(path, sizeof(path), "%s/ebb-vips4.conf", F.cfg.bird_dir);
	if (write_file(path, v4)) {
		bird_fail("fleet_bird_file", "cannot write %s (through %s.tmp): %s", path, path, strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/ebb-vips6.conf", F.cfg.bird_dir);
	if (write_file(path, v6)) {
		bird_fail("fleet_bird_file", "cannot write %s (through %s.tmp): %s", path, path, strerror(errno));
		return;
	}
	memcpy(bird_cur4, v4, sizeof(v4));
	memcpy(bird_cur6, v6, sizeof(v6));
	bird_written = true;
	ret = proc_spawn(argv, NULL, 5, false, bird_done, NULL);
	if (!ret)
		bird_busy = true;
	else
		bird_fail("fleet_bird_failed", "cannot start %s: %s", F.cfg.birdc, strerror(-ret));
}

/* ---- every tick of the main loop ---- */

void fleet_tick(struct agent *a, __u64 now)
{
	json_object *fl = json_object_new_object();
	struct ebb_link_info links[16];
	int n = ebb_prog_list(a->bpffs, links, 16);
	bool attached = false, announce, was, changed = false, hold;
	double pps = 0;
	char *s;

	if (!F.running) {
		json_object_put(fl);
		return;
	}
	for (int i = 0; i < n; i++)
		attached |= strcmp(links[i].mode, "detached") != 0;
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *nd = &a->nodes[id];

		/* Not counted yet (a restarted ebbd before its first pass): left out, never said as
		 * 0, so that the leader does not retire a draining node on a count nobody made. */
		if (!nd->used || !nd->flows_known)
			continue;
		json_object_object_add(fl, nd->name, json_object_new_int64((long long)nd->flows));
		if (nd->have_rates)
			pps += nd->packets_s;
	}
	s = strdup(json_object_to_json_string_ext(fl, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(fl);

	pthread_mutex_lock(&F.mu);
	free(F.flows);
	F.flows = s;
	F.flows_rev = a->counted_rev;
	F.vip_pps = pps;
	F.attached = attached;
	was = F.announcing;
	/* announce while attached, in step with etcd, not drained; cut off from etcd, keep
	 * what was decided last (doc/fleet.md, "Partitions") */
	if (!attached || F.host_drain)
		announce = false;
	else if (F.etcd_ok)
		announce = F.synced && F.applied_rev == F.seen_rev;
	else
		announce = was;
	/* Attached but etcd never answered since ebbd started: BIRD's files stay as they are
	 * (a restart during an etcd outage must not withdraw a host that forwards). */
	hold = attached && !F.ever_ok;
	F.announcing = announce;
	changed = !hold && (announce != was || !F.bird_known);
	if (!hold)
		F.bird_known = true;
	/* a drained host: draining while VIP traffic still arrives, inactive once it stopped */
	if (!F.host_drain) {
		snprintf(F.state, sizeof(F.state), "active");
		F.quiet_since = 0;
	} else if (pps > 0.5) {
		snprintf(F.state, sizeof(F.state), "draining");
		F.quiet_since = 0;
	} else {
		if (!F.quiet_since)
			F.quiet_since = now;
		snprintf(F.state, sizeof(F.state), now - F.quiet_since >= 2 * NS_PER_S ? "inactive" : "draining");
	}
	if (!hold && (F.etcd_ok || announce != was || !attached))
		bird_sync(announce, F.have_st ? &F.st : NULL);
	pthread_mutex_unlock(&F.mu);
	if (changed) {
		json_object *ev = log_new(LOG_INFO, announce ? "fleet_announce" : "fleet_withdraw");

		jbool(ev, "attached", attached);
		jbool(ev, "host_drain", F.host_drain);
		jint(ev, "applied_revision", F.applied_rev);
		jint(ev, "seen_revision", F.seen_rev);
		log_emit(ev);
	}
}

/* ---- decisions: only the leader, on fleet-wide sums, written to etcd first ---- */

/* Fleet-wide live flows of a node, from every other host's report plus this host's count. */
long long fleet_flows(const char *node, long long local)
{
	long long sum = local;

	if (!F.running)
		return local;
	pthread_mutex_lock(&F.mu);
	if (F.live) {
		json_object_object_foreach(F.live, host, rep)
		{
			json_object *fl, *v;

			if (!strcmp(host, F.cfg.host))
				continue;
			if (json_object_object_get_ex(rep, "flows", &fl) && json_object_object_get_ex(fl, node, &v))
				sum += json_object_get_int64(v);
		}
	}
	pthread_mutex_unlock(&F.mu);
	return sum;
}

/*
 * The other hosts as drain_decide() weighs them for a draining node: each host that ever
 * reported (its last report), with its live report when its lease lives. Its rules (applied the
 * drain, reports none; or gone having withdrawn its routes) are in drain_decide.c.
 */
static void drain_hosts(const char *node, int64_t drain_rev, struct drain_fleet *df)
{
	df->drain_rev = drain_rev;
	df->n_hosts = 0;
	df->truncated = false;
	pthread_mutex_lock(&F.mu);
	if (F.last) {
		json_object_object_foreach(F.last, host, lastrep)
		{
			json_object *rep = NULL, *fl, *v;
			struct drain_host *h;

			if (!strcmp(host, F.cfg.host))
				continue;
			if (df->n_hosts == DRAIN_MAX_HOSTS) {
				df->truncated = true;
				break;
			}
			h = &df->hosts[df->n_hosts++];
			*h = (struct drain_host){};
			snprintf(h->name, sizeof(h->name), "%s", host);
			if (json_object_object_get_ex(F.live, host, &rep)) {
				h->live = true;
				h->applied = json_object_object_get_ex(rep, "applied", &v) ? json_object_get_int64(v) : 0;
				/* Its count speaks for this drain only from a walk that began once the
				 * host had applied it: an earlier walk may predate a connection made just
				 * before the drain, and say 0 for a node that holds one (CI saw a node
				 * retired 0.13 s into its drain so). */
				if (json_object_object_get_ex(rep, "flows", &fl) && json_object_object_get_ex(fl, node, &v)) {
					h->flows = json_object_get_int64(v);
					h->measured = json_object_object_get_ex(rep, "counted", &v) &&
						      json_object_get_int64(v) >= drain_rev;
				}
				continue;
			}
			if (json_object_object_get_ex(lastrep, "flows", &fl) && json_object_object_get_ex(fl, node, &v))
				h->flows = json_object_get_int64(v);
			if (json_object_object_get_ex(lastrep, "status", &v))
				snprintf(h->status, sizeof(h->status), "%s", json_object_get_string(v));
		}
	}
	pthread_mutex_unlock(&F.mu);
}

int fleet_drain_view(const char *node, struct drain_fleet *df)
{
	int64_t rev = -1;

	if (!F.running)
		return -1;
	pthread_mutex_lock(&F.mu);
	for (int i = 0; leads_now() && F.have_st && i < F.st.n_nodes; i++)
		if (!strcmp(F.st.nodes[i].name, node) && F.st.nodes[i].state == EBB_NODE_DRAINING)
			rev = F.st.nodes[i].mod_rev;
	pthread_mutex_unlock(&F.mu);
	if (rev < 0)
		return -1;
	drain_hosts(node, rev, df);
	return 0;
}

int fleet_transition(struct agent *a, struct node *n, __u8 to, __u32 drain_timeout_s, json_object *ev)
{
	char rest[160], nodekey[256], leaderkey[128], serial[128], what[256], why[512], bad[FLEET_WHY_MAX];
	struct etcd_range r;
	struct fleet_state one;
	struct fleet_node *fn;
	json_object *cmp, *ops, *nj;
	const char *val;
	bool ok = false;
	int64_t rev = 0, granted = 0, ended = 0, hist[EBB_MAX_VIPS];
	int n_hist = 0;

	(void)a;
	if (!F.running)
		return 0;
	if (!fleet_is_leader()) {
		log_msg(LOG_DEBUG, "fleet_not_leader", "%s -> %s is the leader's decision", n->name, ebb_state_name(to));
		return -EAGAIN;
	}
	snprintf(rest, sizeof(rest), "state/nodes/%s", n->name);
	key(nodekey, sizeof(nodekey), rest);
	key(leaderkey, sizeof(leaderkey), "leader");
	key(serial, sizeof(serial), "state/serial");
	if (etcd_get(&main_etcd, nodekey, false, &r)) {
		log_msg(LOG_WARN, "fleet_decision_failed", "%s: %s", n->name, main_etcd.err);
		return -EAGAIN;
	}
	if (r.n != 1) {
		etcd_range_free(&r);
		return -EAGAIN;
	}
	if (fleet_state_parse(&r, F.cfg.name, &one) || one.n_nodes != 1) {
		fleet_state_free(&one);
		etcd_range_free(&r);
		return -EAGAIN;
	}
	fn = &one.nodes[0];
	if (fn->state != n->m.state) {
		/* the fleet moved on (an operator, or the maps lag): decide again on what it says */
		fleet_state_free(&one);
		etcd_range_free(&r);
		return -EAGAIN;
	}
	if (to == EBB_NODE_INACTIVE && fn->state == EBB_NODE_DRAINING) {
		/* drain.c's decision again, on its inputs, with every host's report (fleet-wide) */
		static struct drain_fleet df;
		struct drain_in in = n->drain_in;
		struct drain_out d;

		drain_hosts(n->name, fn->mod_rev, &df);
		in.fleet = &df;
		in.now = mono_ns();
		in.elapsed_ns = (__s64)(in.now - n->m.state_since_ns);
		in.timeout_ns = node_drain_timeout(a, n) * NS_PER_S;
		drain_decide(&in, &d);
		snprintf(why, sizeof(why), "%s", d.why);
		if (!in.draining || in.since != n->m.state_since_ns || d.verdict == DRAIN_KEEP) {
			static __u64 said;
			static char said_why[512];

			if (!why[0])
				snprintf(why, sizeof(why), "%s", d.reason);
			/* said when the reason changes, else every 5 s */
			if (strcmp(said_why, why) || mono_ns() - said > 5 * NS_PER_S) {
				snprintf(said_why, sizeof(said_why), "%s", why);
				json_object *e = log_new(LOG_INFO, "fleet_retire_blocked");

				jstr(e, "node", n->name);
				jstr(e, "why", why);
				log_emit(e);
				said = mono_ns();
			}
			fleet_state_free(&one);
			etcd_range_free(&r);
			return -EAGAIN;
		}
		jbool(ev, "fleet_wide", true);
		if (why[0])
			jstr(ev, "fleet_unaccounted", why);
	}
	ops = json_object_new_array();
	/* a drain that ends takes its clock with it; a drain that starts gets one (the leader's wall
	 * clock, like any writer's, is for people only: since) */
	if (fn->state == EBB_NODE_DRAINING && to != EBB_NODE_DRAINING) {
		ended = fn->drain_lease;
		fleet_drain_end(F.cfg.name, fn, ops);
	}
	if (to != fn->state)
		fn->since = fleet_wall();
	if (to == EBB_NODE_DOWN && fn->state != EBB_NODE_DOWN)
		fn->before_down = fn->state;
	fn->state = to;
	if (to == EBB_NODE_DRAINING)
		fn->drain_timeout_s = drain_timeout_s;
	else if (to != EBB_NODE_DOWN)
		fn->drain_timeout_s = 0;
	if (to == EBB_NODE_DRAINING) {
		__u32 timeout;

		/* the VIPs' timeouts (its weights name them) from the state last read */
		pthread_mutex_lock(&F.mu);
		timeout = F.have_st ? fleet_node_drain_timeout(&F.st, fn) :
				      (fn->drain_timeout_s ? fn->drain_timeout_s : node_drain_timeout(a, n));
		pthread_mutex_unlock(&F.mu);
		if (fleet_drain_grant(&main_etcd, F.cfg.name, fn, timeout, 0, ops, bad, sizeof(bad))) {
			log_msg(LOG_WARN, "fleet_decision_failed", "%s -> %s: %s", n->name, ebb_state_name(to), bad);
			json_object_put(ops);
			fleet_state_free(&one);
			etcd_range_free(&r);
			return -EAGAIN;
		}
		granted = fn->drain_lease;
	}
	nj = fleet_node_json(fn);
	/* the leader writes only what every host will accept (the writers' one check), as checked */
	val = json_object_to_json_string_ext(nj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (fleet_key_check(F.cfg.name, nodekey, val, bad, sizeof(bad))) {
		log_msg(LOG_ERROR, "fleet_decision_failed", "%s -> %s: refused to write %s = %s: %s", n->name,
			ebb_state_name(to), nodekey, val, bad);
		json_object_put(nj);
		json_object_put(ops);
		if (granted)
			etcd_lease_revoke(&main_etcd, granted);
		fleet_state_free(&one);
		etcd_range_free(&r);
		return -EINVAL;
	}
	cmp = json_object_new_array();
	/* fenced: only while this host holds the leader key, and the node is as read */
	json_object_array_add(cmp, etcd_cmp(leaderkey, "VALUE", "EQUAL", 0, F.cfg.host));
	json_object_array_add(cmp, etcd_cmp(nodekey, "MOD", "EQUAL", fn->mod_rev, NULL));
	json_object_array_add(ops, etcd_op_put(nodekey, val, 0));
	snprintf(what, sizeof(what), "{\"by\":\"%s\",\"what\":\"leader: %s %s\",\"time\":%.3f}", F.cfg.host,
		 n->name, ebb_state_name(to), fleet_wall());
	json_object_array_add(ops, etcd_op_put(serial, what, 0));
	json_object_put(nj);
	fleet_state_free(&one);
	etcd_range_free(&r);
	{
		/* the member sets this decision replaces go in its own transaction (the slot
		 * history's generations), read from the whole state and fenced by its serial */
		struct fleet_state before;
		bool hist_ok = false;
		char sp[128];

		key(sp, sizeof(sp), "state/");
		if (etcd_get(&main_etcd, sp, true, &r)) {
			log_msg(LOG_WARN, "fleet_decision_failed", "%s -> %s: %s", n->name, ebb_state_name(to),
				main_etcd.err);
		} else {
			fleet_state_parse(&r, F.cfg.name, &before);
			etcd_range_free(&r);
			hist_ok = !fleet_history_ops(&main_etcd, F.cfg.name, &before, ops, hist, &n_hist, bad, sizeof(bad));
			if (!hist_ok)
				log_msg(LOG_WARN, "fleet_decision_failed", "%s -> %s: %s", n->name, ebb_state_name(to), bad);
			else
				json_object_array_add(cmp, etcd_cmp(serial, "MOD", "EQUAL", before.rev, NULL));
			fleet_state_free(&before);
		}
		if (!hist_ok) {
			json_object_put(cmp);
			json_object_put(ops);
			if (granted)
				etcd_lease_revoke(&main_etcd, granted);
			return -EAGAIN;
		}
	}
	if (etcd_txn(&main_etcd, cmp, ops, NULL, &ok, &rev, NULL)) {
		/* written or not, unknown: a lease granted for it stays (unused, it only expires) */
		log_msg(LOG_WARN, "fleet_decision_failed", "%s -> %s: %s", n->name, ebb_state_name(to), main_etcd.err);
		return -EAGAIN;
	}
	if (!ok) {
		/* surely not written: the leases granted for it go */
		if (granted)
			etcd_lease_revoke(&main_etcd, granted);
		for (int i = 0; i < n_hist; i++)
			etcd_lease_revoke(&main_etcd, hist[i]);
		return -EAGAIN;
	}
	/* the ended drain's key went with the transaction; its lease goes now (else it expires) */
	if (ended)
		etcd_lease_revoke(&main_etcd, ended);
	jint(ev, "fleet_revision", rev);
	return 0;
}

/* Scaling on fleet-wide sums: the leader's node flow counts become the fleet's for a cycle. */
void fleet_scale_sums(struct agent *a, __u64 *saved, bool restore)
{
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];

		if (!n->used)
			continue;
		if (restore) {
			n->flows = saved[id];
		} else {
			saved[id] = n->flows;
			n->flows = (__u64)fleet_flows(n->name, (long long)n->flows);
		}
	}
}

/* The fleet line of the status page (HTML), made at each request like the metrics' lines. */
int fleet_status_html(char *buf, size_t len)
{
	const char *other; /* the host that leads when this one does not, if known */
	bool leads;
	int n;

	if (!F.running)
		return 0;
	pthread_mutex_lock(&F.mu);
	leads = leads_now();
	other = !leads && F.leader_name[0] && strcmp(F.leader_name, F.cfg.host) ? F.leader_name : NULL;
	/* names are letters, digits, '-', '_' and '.' (fleet_name_ok): nothing to escape */
	n = snprintf(buf, len,
		     "<div class=\"sub\" id=\"fleet\" data-fleet=\"%s\" data-host=\"%s\" data-leader=\"%d\" "
		     "data-etcd=\"%d\" data-routes=\"%s\">fleet <b>%s</b>, host <b>%s</b>: %s%s%s%s &middot; etcd %s "
		     "&middot; applied revision %lld &middot; %s &middot; routes %s</div>\n",
		     F.cfg.name, F.cfg.host, leads, F.etcd_ok, !F.cfg.bird_dir ? "-" : F.routes_err[0] ? "failed" : "ok",
		     F.cfg.name, F.cfg.host, leads ? "<b>leads</b>" : "does not lead",
		     other ? " (" : "", other ? other : "", other ? " leads)" : "",
		     F.etcd_ok ? "ok" : "unreachable", (long long)F.applied_rev,
		     F.announcing ? "announcing" : "withdrawn",
		     /* the reason (birdc's words, paths) is not HTML: fleet show and the log give it */
		     !F.cfg.bird_dir ? "not managed" : F.routes_err[0] ? "failed (ebbctl fleet show says why)" : "ok");
	pthread_mutex_unlock(&F.mu);
	return n < 0 ? 0 : n >= (int)len ? (int)len - 1 : n;
}

/*
 * Prometheus lines for the metrics page, made at each request (metrics.c), not with the
 * cached page: whether this host leads is true only while its lease surely lives, and a page
 * rendered before the process was stopped would say so after the lease expired.
 */
int fleet_metrics(char *buf, size_t len)
{
	int n;

	if (!F.running)
		return 0;
	pthread_mutex_lock(&F.mu);
	n = snprintf(buf, len,
		     "# HELP ebb_fleet_etcd_up Whether etcd answered this host's last request (0: cut off, forwarding with the last state, deciding nothing).\n"
		     "# TYPE ebb_fleet_etcd_up gauge\nebb_fleet_etcd_up{fleet=\"%s\",host=\"%s\"} %d\n"
		     "# HELP ebb_fleet_leader Whether this host decides for the fleet: it holds the leader key under a lease that surely still lives.\n"
		     "# TYPE ebb_fleet_leader gauge\nebb_fleet_leader %d\n"
		     "# HELP ebb_fleet_applied_revision The fleet state revision applied to the maps.\n"
		     "# TYPE ebb_fleet_applied_revision gauge\nebb_fleet_applied_revision %lld\n"
		     "# HELP ebb_fleet_seen_revision The latest fleet state revision seen in etcd.\n"
		     "# TYPE ebb_fleet_seen_revision gauge\nebb_fleet_seen_revision %lld\n"
		     "# HELP ebb_fleet_announcing Whether this host announces its VIPs to BGP.\n"
		     "# TYPE ebb_fleet_announcing gauge\nebb_fleet_announcing %d\n"
		     "# HELP ebb_fleet_routes_ok Whether BIRD's route files were written and reloaded (0: the last write or birdc configure failed; see fleet show).\n"
		     "# TYPE ebb_fleet_routes_ok gauge\nebb_fleet_routes_ok %d\n",
		     F.cfg.name, F.cfg.host, F.etcd_ok, leads_now(), (long long)F.applied_rev, (long long)F.seen_rev,
		     F.announcing, !F.routes_err[0]);
	pthread_mutex_unlock(&F.mu);
	return n < 0 ? 0 : n >= (int)len ? (int)len - 1 : n;
}
