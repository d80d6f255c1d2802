/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What ebbd's fleet files share (fleet.c says what the fleet mode does): the state the sync
 * thread and the main loop both touch, under its mutex, and the calls between the files. The
 * files, each depending only on those below it:
 *   fleet.c         the sync thread (etcd reads, report) and the main loop's side
 *   fleet_decide.c  the leader's decisions on fleet-wide sums, written to etcd first
 *   fleet_elect.c   the election: the lease and the leader key (elect_decide.c judges)
 *   fleet_bird.c    the route files and BIRD's reloads
 *   fleet_apply.c   the desired state made the maps' (drain clocks, history, invalid keys)
 *   fleet_shared.c  this state, the clock, etcd keys and settings, whether this host leads
 * Private to user/ebbd/fleet*.c.
 */
#ifndef EBBD_FLEET_SHARED_H
#define EBBD_FLEET_SHARED_H

#include <pthread.h>

#include "ebbd.h"
#include "elect_decide.h"
#include "fleet.h"

struct fleet_shared {
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
};

extern struct fleet_shared fleet_sh;
/* the main loop's own etcd client, for the leader's writes */
extern struct etcd fleet_main_etcd;
extern bool fleet_main_etcd_ok;

/* fleet_shared.c */
__u64 fleet_mono_ns(void);
void fleet_own_key(char *buf, size_t len, const char *rest);
long fleet_etcd_timeout_ms(void);
const struct etcd_sec *fleet_etcd_sec(void);
bool fleet_leads_now(void);

/* fleet_apply.c: the sync thread's, no lock unless said */
extern bool fleet_hist_force, fleet_hist_pending;
void fleet_drain_clocks(struct etcd *c, const struct fleet_state *st);
void fleet_drain_clocks_fix(void);
void fleet_gen_clocks(struct etcd *c, const struct fleet_state *st);
void fleet_apply_history(struct ebb *e, struct fleet_state *st);
int fleet_apply_state(struct fleet_state *st, int *changes);
void fleet_keep_last_good(struct fleet_state *st);
void fleet_say_invalid(struct fleet_state *st);
json_object *fleet_invalid_json(void);

/* fleet_elect.c: the sync thread's */
struct fleet_elect {
	struct elect_lease lease;
	char key[128]; /* the leader key */
};
void fleet_elect_init(struct fleet_elect *el);
/* The lease's part of a poll begun at t0: 0 go on (*granted set when a new lease was granted),
 * -1 etcd did not answer, 1 the lease expired (this host leads no more: poll again at once). */
int fleet_elect_lease(struct etcd *c, struct fleet_elect *el, __u64 t0, bool *granted);
/* After a read that failed: leads no more once the lease may have gone. */
void fleet_elect_cut_off(const struct fleet_elect *el);
/* After a read that answered (holder: the leader key's value, "" free): takes the key when
 * free, and says whether this host leads; holder is then the host that leads, if any. */
void fleet_elect_leader(struct etcd *c, const struct fleet_elect *el, char *holder, size_t len);
void fleet_elect_resign(struct etcd *c, struct fleet_elect *el);

/* fleet_bird.c */
void fleet_bird_sync(bool announce, const struct fleet_state *st);

#endif /* EBBD_FLEET_SHARED_H */
