// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fleet mode (doc/fleet.md): several LB hosts share one desired state in etcd.
 *
 * A thread of its own talks to etcd, so that the main loop never waits for the network:
 *  - every 100 ms one range request over /ebb/<fleet>/ (the desired state, the leader key, every
 *    host's report); when the state's revision (the serial key's mod_revision) moved, or the
 *    pinned maps were re-created, it makes the maps match, whole, through libebb's operations
 *    under the writers' lock, and records that revision as applied;
 *  - it holds this host's lease (keepalive every TTL/4) and publishes the host's report under
 *    it (/ebb/<fleet>/hosts/<host>) and without it (/ebb/<fleet>/last/<host>, what the host
 *    said last);
 *  - it takes the leader key when it is free (a transaction creating it under the lease):
 *    fleet_elect.c, its decisions in elect_decide.c.
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

#include "fleet_shared.h"

#define POLL_NS (100 * 1000000ULL)

static int pins_ino(ino_t *ino)
{
	char path[600];
	struct stat s;

	snprintf(path, sizeof(path), "%s/nodes", fleet_sh.bpffs);
	if (stat(path, &s))
		return -1;
	*ino = s.st_ino;
	return 0;
}


/* ---- the report ---- */

static char *report_json(bool *announcing, bool with_pps)
{
	json_object *r = json_object_new_object(), *fl;
	char *out;

	pthread_mutex_lock(&fleet_sh.mu);
	json_object_object_add(r, "host", json_object_new_string(fleet_sh.cfg.host));
	/* which process wrote it: a restarted ebbd's report replaces its predecessor's */
	json_object_object_add(r, "pid", json_object_new_int64(getpid()));
	json_object_object_add(r, "applied", json_object_new_int64(fleet_sh.applied_rev));
	json_object_object_add(r, "seen", json_object_new_int64(fleet_sh.seen_rev));
	json_object_object_add(r, "counted", json_object_new_int64(fleet_sh.flows_rev));
	json_object_object_add(r, "status", json_object_new_string(fleet_sh.announcing ? "announcing" : "withdrawn"));
	json_object_object_add(r, "state", json_object_new_string(fleet_sh.state[0] ? fleet_sh.state : "active"));
	json_object_object_add(r, "attached", json_object_new_boolean(fleet_sh.attached));
	json_object_object_add(r, "in_step", json_object_new_boolean(fleet_sh.synced && fleet_sh.applied_rev == fleet_sh.seen_rev));
	json_object_object_add(r, "leader", json_object_new_boolean(fleet_leads_now()));
	json_object_object_add(r, "etcd", json_object_new_string("ok"));
	if (fleet_sh.cfg.bird_dir) {
		json_object_object_add(r, "routes", json_object_new_string(fleet_sh.routes_err[0] ? "failed" : "ok"));
		if (fleet_sh.routes_err[0])
			json_object_object_add(r, "routes_error", json_object_new_string(fleet_sh.routes_err));
	}
	json_object_object_add(r, "vip_pps", json_object_new_double(with_pps ? (long long)(fleet_sh.vip_pps * 10) / 10.0 : 0));
	json_object_object_add(r, "state_invalid", fleet_invalid_json());
	fl = fleet_sh.flows ? json_tokener_parse(fleet_sh.flows) : NULL;
	json_object_object_add(r, "flows", fl ? fl : json_object_new_object());
	*announcing = fleet_sh.announcing;
	pthread_mutex_unlock(&fleet_sh.mu);
	out = strdup(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(r);
	return out;
}

/* ---- the thread ---- */

static void *thread_main(void *arg)
{
	struct etcd c;
	struct fleet_elect el;
	__u64 next_report = 0, last_report_ok = 0, apply_retry = 0;
	char *last_report = NULL, *last_nopps = NULL, hostkey[256], lastkey[256], prefix[128], rest[128];
	char *eps[FLEET_MAX_ETCD];
	ino_t ino = 0;
	bool said_down = false;

	(void)arg;
	for (int i = 0; i < fleet_sh.cfg.n_etcd; i++)
		eps[i] = fleet_sh.cfg.etcd[i];
	if (etcd_init(&c, eps, fleet_sh.cfg.n_etcd, fleet_etcd_timeout_ms(), fleet_etcd_sec())) {
		log_msg(LOG_ERROR, "fleet_failed", "%s", c.err);
		return NULL;
	}
	snprintf(rest, sizeof(rest), "hosts/%s", fleet_sh.cfg.host);
	fleet_own_key(hostkey, sizeof(hostkey), rest);
	snprintf(rest, sizeof(rest), "last/%s", fleet_sh.cfg.host);
	fleet_own_key(lastkey, sizeof(lastkey), rest);
	fleet_elect_init(&el);
	fleet_own_key(prefix, sizeof(prefix), "");

	while (!__atomic_load_n(&fleet_sh.stop, __ATOMIC_RELAXED)) {
		__u64 now = fleet_mono_ns(), t0 = now;
		struct etcd_range r;
		struct fleet_state st;
		json_object *live, *last;
		char leader[FLEET_NAME_MAX] = "";
		bool ok = true, announcing, force_report = false;
		ino_t cur_ino = 0;
		char *rep;

		/* the lease: an expired one is replaced at once, before anything is read */
		switch (fleet_elect_lease(&c, &el, t0, &force_report)) {
		case -1:
			ok = false;
			break;
		case 1:
			continue;
		}

		/* everything under /ebb/<fleet>/ in one read */
		if (ok && etcd_get(&c, prefix, true, &r))
			ok = false;
		if (!ok) {
			pthread_mutex_lock(&fleet_sh.mu);
			fleet_sh.etcd_ok = false;
			pthread_mutex_unlock(&fleet_sh.mu);
			if (!said_down) {
				json_object *ev = log_new(LOG_WARN, "fleet_etcd_unreachable");

				json_add_str(ev, "error", c.err);
				json_add_int(ev, "applied_revision", fleet_sh.applied_rev);
				json_add_str(ev, "detail", "forwarding goes on with the state applied last; this host decides nothing until etcd answers");
				log_emit(ev);
				said_down = true;
			}
			fleet_elect_cut_off(&el);
			goto sleep;
		}
		if (said_down) {
			log_msg(LOG_INFO, "fleet_etcd_reachable", "etcd answers again (revision %lld); catching up",
				(long long)r.revision);
			said_down = false;
		}
		fleet_state_parse(&r, fleet_sh.cfg.name, &st);
		fleet_keep_last_good(&st);
		fleet_drain_clocks(&c, &st);
		fleet_gen_clocks(&c, &st);
		live = json_object_new_object();
		last = json_object_new_object();
		{
			char hp[128], lp[128];

			fleet_own_key(hp, sizeof(hp), "hosts/");
			fleet_own_key(lp, sizeof(lp), "last/");
			for (int i = 0; i < r.n; i++) {
				const struct etcd_kv *kv = &r.kvs[i];
				json_object *o;

				if (!strcmp(kv->key, el.key)) {
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
		if ((st.rev != fleet_sh.applied_rev || !fleet_sh.synced || cur_ino != ino) && now >= apply_retry) {
			if (cur_ino != ino)
				fleet_hist_force = true; /* maps made again: their history too */
			int changes = 0, ret = cur_ino ? fleet_apply_state(&st, &changes) : -ENOENT;

			if (!ret) {
				json_object *ev = log_new(changes || st.rev != fleet_sh.applied_rev ? LOG_INFO : LOG_DEBUG,
							  "fleet_applied");

				json_add_int(ev, "revision", st.rev);
				json_add_int(ev, "previous", fleet_sh.applied_rev);
				json_add_int(ev, "changes", changes);
				json_add_double(ev, "apply_ms", (fleet_mono_ns() - now) / 1e6);
				log_emit(ev);
				pthread_mutex_lock(&fleet_sh.mu);
				fleet_sh.applied_rev = st.rev;
				fleet_sh.synced = true;
				pthread_mutex_unlock(&fleet_sh.mu);
				fleet_hist_pending = true;
				ino = cur_ino;
				force_report = true;
			} else {
				if (ret == -ENOENT && !fleet_sh.synced)
					log_msg(LOG_DEBUG, "fleet_no_state", "no ebb state under %s yet", fleet_sh.bpffs);
				apply_retry = now + (ret == -EAGAIN ? POLL_NS : NS_PER_S);
			}
		}
		if (fleet_sh.synced)
			fleet_drain_clocks_fix();
		fleet_say_invalid(&st);
		pthread_mutex_lock(&fleet_sh.mu);
		fleet_sh.etcd_ok = fleet_sh.ever_ok = true;
		fleet_sh.seen_rev = st.rev;
		fleet_sh.store_rev = st.store_rev;
		json_object_put(fleet_sh.live);
		json_object_put(fleet_sh.last);
		fleet_sh.live = live;
		fleet_sh.last = last;
		if (fleet_sh.have_st)
			fleet_state_free(&fleet_sh.st);
		fleet_sh.st = st;
		fleet_sh.have_st = true;
		fleet_sh.host_drain = fleet_host_find(&fleet_sh.st, fleet_sh.cfg.host) && fleet_host_find(&fleet_sh.st, fleet_sh.cfg.host)->drain;
		pthread_mutex_unlock(&fleet_sh.mu);

		fleet_elect_leader(&c, &el, leader, sizeof(leader));

		/* the report: when something changed (at most every 200 ms; every 2 s when only the
		 * packet rate did). Liveness is the lease's business: no heartbeat writes. */
		if (el.lease.id) {
			char *nopps = report_json(&announcing, false);

			rep = report_json(&announcing, true);
			if (force_report || !last_report ||
			    (strcmp(nopps, last_nopps) && fleet_mono_ns() - last_report_ok > 200 * 1000000ULL) ||
			    (strcmp(rep, last_report) && fleet_mono_ns() >= next_report)) {
				json_object *ops = json_object_new_array();
				bool put_ok = false;

				json_object_array_add(ops, etcd_op_put(hostkey, rep, el.lease.id));
				json_object_array_add(ops, etcd_op_put(lastkey, rep, 0));
				if (!etcd_txn(&c, NULL, ops, NULL, &put_ok, NULL, NULL)) {
					free(last_report);
					free(last_nopps);
					last_report = rep;
					last_nopps = nopps;
					rep = nopps = NULL;
					last_report_ok = fleet_mono_ns();
					next_report = last_report_ok + 2 * NS_PER_S;
				}
			}
			free(rep);
			free(nopps);
		}
		/* The history after the report: a write's caller waits for every host's report,
		 * not for this (a catching-up host rewrites whole VIPs, which is slow). The tables'
		 * own writes recorded the change's owners already, before they swapped. */
		if (fleet_hist_pending) {
			struct ebb_err err = {};
			struct ebb e;

			if (!ebb_open(&e, fleet_sh.bpffs, &err)) {
				/* fleet_sh.st unlocked: only this thread writes it */
				if (!ebb_lock(&e, &err)) {
					fleet_apply_history(&e, &fleet_sh.st);
					fleet_hist_pending = false;
					ebb_unlock(&e);
				}
				ebb_close(&e);
			}
		}
sleep:
		now = fleet_mono_ns();
		if (now - t0 > NS_PER_S) {
			json_object *ev = log_new(LOG_WARN, "fleet_slow_poll");

			json_add_int(ev, "ms", (now - t0) / 1000000);
			json_add_str(ev, "leader", leader);
			log_emit(ev);
		}
		if (now < t0 + POLL_NS)
			nanosleep(&(struct timespec){ .tv_nsec = (long)(t0 + POLL_NS - now) }, NULL);
	}
	fleet_elect_resign(&c, &el);
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
	fleet_sh.cfg = *fc; /* the strings stay owned by a->cfg, which a reload keeps (main.c) */
	snprintf(fleet_sh.bpffs, sizeof(fleet_sh.bpffs), "%s", a->bpffs);
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
	if (etcd_init(&fleet_main_etcd, eps, fc->n_etcd, fleet_etcd_timeout_ms(), fleet_etcd_sec())) {
		log_msg(LOG_ERROR, "fleet_failed", "%s", fleet_main_etcd.err);
		return -1;
	}
	fleet_main_etcd_ok = true;
	snprintf(fleet_sh.state, sizeof(fleet_sh.state), "active");
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

		json_add_str(ev, "fleet", fc->name);
		json_add_str(ev, "host", fc->host);
		json_add_int(ev, "lease_ttl_s", fc->lease_ttl);
		json_add_int(ev, "etcd_endpoints", fc->n_etcd);
		json_add_str(ev, "etcd_tls", fc->insecure_line ? "no" : fc->etcd_cert ? "client-cert" : "server-only");
		if (fc->etcd_user)
			json_add_str(ev, "etcd_user", fc->etcd_user);
		if (fc->bird_socket)
			json_add_str(ev, "bird_socket", fc->bird_socket);
		log_emit(ev);
	}
	if (pthread_create(&fleet_sh.thread, NULL, thread_main, NULL)) {
		log_msg(LOG_ERROR, "fleet_failed", "cannot start the fleet thread");
		return -1;
	}
	fleet_sh.running = true;
	return 0;
}

void fleet_stop(void)
{
	if (!fleet_sh.running)
		return;
	__atomic_store_n(&fleet_sh.stop, true, __ATOMIC_RELAXED);
	pthread_join(fleet_sh.thread, NULL);
	fleet_sh.running = false;
	if (fleet_main_etcd_ok)
		etcd_free(&fleet_main_etcd);
	fleet_main_etcd_ok = false;
	json_object_put(fleet_sh.live);
	json_object_put(fleet_sh.last);
	fleet_sh.live = fleet_sh.last = NULL;
	if (fleet_sh.have_st)
		fleet_state_free(&fleet_sh.st);
	fleet_sh.have_st = false;
	free(fleet_sh.flows);
	fleet_sh.flows = NULL;
}

bool fleet_enabled(void)
{
	return fleet_sh.running;
}

long long fleet_applied_revision(void)
{
	long long rev;

	if (!fleet_sh.running)
		return 0;
	pthread_mutex_lock(&fleet_sh.mu);
	rev = fleet_sh.applied_rev;
	pthread_mutex_unlock(&fleet_sh.mu);
	return rev;
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

	if (!fleet_sh.running) {
		json_object_put(fl);
		return;
	}
	for (int i = 0; i < n; i++)
		attached |= strcmp(links[i].mode, "detached") != 0;
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *nd = &a->nodes[id];

		/* Not counted yet (a restarted ebbd before its first pass): left out, never said as
		 * 0, so that the leader does not retire a draining node on a count nobody made. */
		if (!nd->used || !nd->census.flows_known)
			continue;
		json_object_object_add(fl, nd->name, json_object_new_int64((long long)nd->census.flows));
		if (nd->census.have_rates)
			pps += nd->census.packets_s;
	}
	s = strdup(json_object_to_json_string_ext(fl, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(fl);

	pthread_mutex_lock(&fleet_sh.mu);
	free(fleet_sh.flows);
	fleet_sh.flows = s;
	fleet_sh.flows_rev = a->census.counted_rev;
	fleet_sh.vip_pps = pps;
	fleet_sh.attached = attached;
	was = fleet_sh.announcing;
	/* announce while attached, in step with etcd, not drained; cut off from etcd, keep
	 * what was decided last (doc/fleet.md, "Partitions") */
	if (!attached || fleet_sh.host_drain)
		announce = false;
	else if (fleet_sh.etcd_ok)
		announce = fleet_sh.synced && fleet_sh.applied_rev == fleet_sh.seen_rev;
	else
		announce = was;
	/* Attached but etcd never answered since ebbd started: BIRD's files stay as they are
	 * (a restart during an etcd outage must not withdraw a host that forwards). */
	hold = attached && !fleet_sh.ever_ok;
	fleet_sh.announcing = announce;
	changed = !hold && (announce != was || !fleet_sh.bird_known);
	if (!hold)
		fleet_sh.bird_known = true;
	/* a drained host: draining while VIP traffic still arrives, inactive once it stopped */
	if (!fleet_sh.host_drain) {
		snprintf(fleet_sh.state, sizeof(fleet_sh.state), "active");
		fleet_sh.quiet_since = 0;
	} else if (pps > 0.5) {
		snprintf(fleet_sh.state, sizeof(fleet_sh.state), "draining");
		fleet_sh.quiet_since = 0;
	} else {
		if (!fleet_sh.quiet_since)
			fleet_sh.quiet_since = now;
		snprintf(fleet_sh.state, sizeof(fleet_sh.state), now - fleet_sh.quiet_since >= 2 * NS_PER_S ? "inactive" : "draining");
	}
	if (!hold && (fleet_sh.etcd_ok || announce != was || !attached))
		fleet_bird_sync(announce, fleet_sh.have_st ? &fleet_sh.st : NULL);
	pthread_mutex_unlock(&fleet_sh.mu);
	if (changed) {
		json_object *ev = log_new(LOG_INFO, announce ? "fleet_announce" : "fleet_withdraw");

		json_add_bool(ev, "attached", attached);
		json_add_bool(ev, "host_drain", fleet_sh.host_drain);
		json_add_int(ev, "applied_revision", fleet_sh.applied_rev);
		json_add_int(ev, "seen_revision", fleet_sh.seen_rev);
		log_emit(ev);
	}
}

/* The fleet line of the status page (HTML), made at each request like the metrics' lines. */
int fleet_status_html(char *buf, size_t len)
{
	const char *other; /* the host that leads when this one does not, if known */
	bool leads;
	int n;

	if (!fleet_sh.running)
		return 0;
	pthread_mutex_lock(&fleet_sh.mu);
	leads = fleet_leads_now();
	other = !leads && fleet_sh.leader_name[0] && strcmp(fleet_sh.leader_name, fleet_sh.cfg.host) ? fleet_sh.leader_name : NULL;
	/* names are letters, digits, '-', '_' and '.' (fleet_name_ok): nothing to escape */
	n = snprintf(buf, len,
		     "<div class=\"sub\" id=\"fleet\" data-fleet=\"%s\" data-host=\"%s\" data-leader=\"%d\" "
		     "data-etcd=\"%d\" data-routes=\"%s\">fleet <b>%s</b>, host <b>%s</b>: %s%s%s%s &middot; etcd %s "
		     "&middot; applied revision %lld &middot; %s &middot; routes %s</div>\n",
		     fleet_sh.cfg.name, fleet_sh.cfg.host, leads, fleet_sh.etcd_ok, !fleet_sh.cfg.bird_dir ? "-" : fleet_sh.routes_err[0] ? "failed" : "ok",
		     fleet_sh.cfg.name, fleet_sh.cfg.host, leads ? "<b>leads</b>" : "does not lead",
		     other ? " (" : "", other ? other : "", other ? " leads)" : "",
		     fleet_sh.etcd_ok ? "ok" : "unreachable", (long long)fleet_sh.applied_rev,
		     fleet_sh.announcing ? "announcing" : "withdrawn",
		     /* the reason (birdc's words, paths) is not HTML: fleet show and the log give it */
		     !fleet_sh.cfg.bird_dir ? "not managed" : fleet_sh.routes_err[0] ? "failed (ebbctl fleet show says why)" : "ok");
	pthread_mutex_unlock(&fleet_sh.mu);
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

	if (!fleet_sh.running)
		return 0;
	pthread_mutex_lock(&fleet_sh.mu);
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
		     fleet_sh.cfg.name, fleet_sh.cfg.host, fleet_sh.etcd_ok, fleet_leads_now(), (long long)fleet_sh.applied_rev, (long long)fleet_sh.seen_rev,
		     fleet_sh.announcing, !fleet_sh.routes_err[0]);
	pthread_mutex_unlock(&fleet_sh.mu);
	return n < 0 ? 0 : n >= (int)len ? (int)len - 1 : n;
}
