/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ebbd, the agent: measures load from the pinned maps, completes drains, health-checks nodes,
 * scales pools and runs operator hooks. It keeps no state of its own that matters across a
 * restart: node states and their start times live in the maps, everything else is observation
 * (flow counts, rates, health streaks, load history) that a restarted ebbd gathers again.
 */
#ifndef EBBD_H
#define EBBD_H

#include <stdbool.h>
#include <poll.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <json-c/json.h>

#include "libebb.h"
#include "libebb_agent.h"
#include "log.h"
#include "drain_decide.h"
#include "scale_decide.h"
#include "truth.h"
#include "lists.h"
#include "measure.h"
#include "probe.h"
#include "health.h"
#include "drain.h"

#define NS_PER_S 1000000000ULL
#define EBBD_VERSION "0.1.0"

/* ---- config.c ---- */
enum check_type { CHECK_NONE, CHECK_TCP, CHECK_HTTP };
/* Transitions and decisions that can run an operator hook. */
enum hook_event { EV_DRAINED, EV_DOWN, EV_UP, EV_SCALE_IN, EV_SCALE_OUT, EV_MAX };
extern const char *const hook_event_name[EV_MAX]; /* "drained", "down", ... */

struct health_cfg {
	enum check_type type;
	__u16 port;
	char *path;
	double interval, timeout;
	int rise, fall;
};

struct probe_cfg {
	char **argv; /* a command printing a number, or */
	char *url; /* an http:// URL answering one; "{node}" stands for the node's address */
	double timeout;
};

/* truth = …: how ebbd reads a draining node's own count of its connections (truth.c) */
struct truth_cfg {
	char **argv; /* a command printing the node's signed report, or */
	char *url; /* an http:// URL answering it; "{node}" and "{nonce}" replaced in both */
	char *key_path;
	unsigned char *key; /* the HMAC key, as the file holds it */
	size_t key_len;
	double interval, timeout;
};

struct pool_cfg {
	char *name;
	int line;
	int n_vips;
	struct ebb_vip_key vips[EBB_MAX_VIPS];
	int vip_lines[EBB_MAX_VIPS];
	bool vip_missing[EBB_MAX_VIPS]; /* warned: not in the maps (state.c) */
	struct health_cfg health;
	struct scale_cfg scale;
	struct probe_cfg probe;
	struct truth_cfg truth;
	char **hooks[EV_MAX]; /* this pool's own, else the global ones */
};

/* fleet = { … }: this host is one of several sharing a desired state in etcd (fleet.c) */
#define FLEET_MAX_ETCD 8
struct fleet_cfg {
	bool enabled;
	int line;
	char *name, *host;
	int n_etcd;
	char *etcd[FLEET_MAX_ETCD];
	int lease_ttl; /* seconds: the host's liveness lease, also the leader's */
	char *bird_socket, *bird_dir; /* BIRD control; both or neither */
	char *birdc; /* the birdc program (default "birdc") */
	/* etcd security (doc/fleet.md "etcd security"): TLS files, etcd auth, and plain http
	 * allowed only when etcd_insecure is set (then logged as a warning at every start) */
	char *etcd_ca, *etcd_cert, *etcd_key, *etcd_user, *etcd_password_file;
	bool etcd_insecure;
	int insecure_line; /* the config line of the first http:// endpoint, for the warning */
};

struct config {
	struct fleet_cfg fleet;
	char *bpffs;
	double interval; /* measurement, scaling, probes */
	double drain_check; /* drain completion */
	double lost_quiet; /* drain-lost-quiet: see drain.c */
	double walk_cpu; /* share of one core the flow-table walk may use, 0..1 */
	char *metrics; /* "ADDR:PORT", "" = no endpoint */
	int metrics_line; /* of the setting in the file; 0 = the default */
	double hook_timeout;
	char **hooks[EV_MAX];
	int n_pools;
	struct pool_cfg *pools;
};

void config_defaults(struct config *c);
/* Reads and checks FILE; on error prints "Error: FILE:LINE: ..." and returns -1. */
int config_load(const char *path, struct config *c);
/*
 * What start would find wrong on this host, checked without side effects: the metrics
 * address must be one of this host's (a bind to port 0, closed at once). With `checking`
 * (--check) a port that cannot be bound now only warns: a running ebbd holds its own.
 */
int config_check_host(const char *path, const struct config *c, bool checking);
void config_free(struct config *c);
/* "{node}" and "{nonce}" in s replaced (a truth command's argument or URL); malloc'd */
char *truth_subst(const char *s, const char *node, const char *nonce);
char **argv_dup(char *const *argv);
void argv_free(char **argv);

/* ---- the agent's view of the maps ---- */
struct node {
	bool used;
	__u32 id;
	struct ebb_node entry; /* the node's map entry, as read this tick */
	struct ebb_addr addr;
	char name[64];
	__u64 gen; /* changes when the slot starts holding another node */
	int pool; /* index in cfg.pools, -1 for none */
	int n_vips;
	__u32 vip_ids[EBB_MAX_VIPS];
	__u32 vip_weights[EBB_MAX_VIPS]; /* its weight in each (the status page's VIP table) */
	/* each part's own, written by that part only (its header says who reads what) */
	struct node_census census; /* measure.c */
	struct node_probe probe; /* probe.c */
	struct node_drain drain; /* drain.c */
	struct node_health health; /* health.c */
};

struct vip_ent {
	struct ebb_vip_key key;
	struct ebb_vip vip;
};

/* A pool's scaling (scale.c): the decision's memory, and its last figures for /metrics. */
struct pool_rt {
	struct scale_hist hist;
	__u64 hook_ns; /* last run of the scale-out hook asking for nodes */
	double total, ratio;
	int active, desired;
};

struct agent {
	struct config cfg;
	const char *cfg_path;
	char bpffs[512];
	struct ebb e;
	bool open;
	ino_t pins[2]; /* inodes of the pinned nodes and flows maps: a re-created state shows */
	struct node nodes[EBB_MAX_NODES];
	int n_vips;
	struct vip_ent vips[EBB_MAX_VIPS];
	short vip_slot[256]; /* hash of VIP key -> index in vips, -1 empty */
	struct pool_rt *pools;
	struct census_totals census; /* measure.c's, published with each pass */
	double cycle_ms;
	/* counters for the metrics page */
	__u64 transitions, hook_runs, hook_failures, check_failures;
	__u64 flows_cut_total; /* connections drains cut, as the nodes counted them (verified) */
	__u64 flows_cut_estimate_total; /* the LB's estimate for drains no node's report judged */
	__u64 drains[2]; /* drains completed: [0] unverified, [1] verified */
	const char *hook_extra; /* one more VAR=value for the hook node_transition runs */
	bool stopping;
};

/* lookup.c: reads of the agent's copy of the maps and settings, calling nothing of ebbd's */
void vip_index(struct agent *a); /* after a->vips changed: vip_find's index */
const struct ebb_vip *vip_find(const struct agent *a, const struct ebb_vip_key *k);
const struct ebb_vip *vip_of_flow(const struct agent *a, const struct ebb_flow_key *k);
__u32 node_drain_timeout(const struct agent *a, const struct node *n);
const char *pool_name(const struct agent *a, int pool);
bool flow_live(const struct agent *a, const struct ebb_flow_key *k, const struct ebb_flow *v,
	       __u64 now, __u64 *end_ns);

/* state.c */
int state_refresh(struct agent *a);
void state_close(struct agent *a);
/*
 * Moves node n from the state it had when read to `to`, under the writers' lock, only if the
 * entry is still exactly as read (nobody else changed it meanwhile). On success logs ev
 * (consumed in every case) and then runs hook `hook` (EV_MAX: none). Returns 0 when written,
 * -EAGAIN when the lock was busy or the node changed: the caller decides again next tick.
 */
int node_transition(struct agent *a, struct node *n, __u8 to, __u32 drain_timeout_s, int hook,
		    json_object *ev, long long flows_cut);

/* scale.c: decides on flows[id], node id's live flows (this host's count, or the fleet's) */
void scale_cycle(struct agent *a, const __u64 *flows, __u64 now);
void scale_reset(struct agent *a);

/* hooks.c */
void hook_fire(struct agent *a, int ev, const struct node *n, int pool, const char *old_state,
	       const char *new_state, long long flows_cut, const char *extra_env);

/* fleet.c: fleet mode (doc/fleet.md) */
int fleet_start(struct agent *a);
struct fleet_marker;
/* The marker ebbd pins for ebbctl, from the fleet block (config.c). */
void fleet_cfg_marker(const struct fleet_cfg *fc, struct fleet_marker *m);
void fleet_stop(void);
bool fleet_enabled(void);
bool fleet_is_leader(void);
/* The fleet revision applied to the maps now (0 without a fleet): a walk that begins under
 * revision R counts every flow of the state R describes. */
long long fleet_applied_revision(void);
void fleet_tick(struct agent *a, __u64 now);
long long fleet_flows(const char *node, long long local);
/* The leader's decision, written to etcd before the maps; -EAGAIN: not now (not the leader,
 * etcd unreachable, the node changed, or another host may still carry the node's flows). */
int fleet_transition(struct agent *a, struct node *n, __u8 to, __u32 drain_timeout_s, json_object *ev);
/* On the leader: the other hosts' reports for draining node `node`, as drain_decide() takes
 * them (so that drain.c's own decision, its event and its figure are the fleet's); -1 when this
 * host does not lead or the state last read does not have the node draining. */
int fleet_drain_view(const char *node, struct drain_fleet *df);
/* flows[id]: node id's live flows over the whole fleet, as scale_cycle() takes them. */
void fleet_flow_sums(const struct agent *a, __u64 *flows);
int fleet_metrics(char *buf, size_t len);
int fleet_status_html(char *buf, size_t len);

/* http.c: the endpoint's server, its own thread (the limits' reasons: see there) */
#define HTTP_CONNS 128u
#define HTTP_PER_ADDR 16u
#define HTTP_HEADER_S 3u
#define HTTP_TOTAL_S 10u
struct http_reply {
	int status;
	const char *type, *extra; /* extra: whole header lines, each ending in CRLF */
	char *body;
	size_t len;
	bool body_free;
};
typedef void (*http_route_fn)(const char *path, struct http_reply *r);
int http_start(int listen_fd, http_route_fn route);
void http_stop(void);
/* Keys of the desired state that fail the schema, as read last: [{"key","error","kept"}, …];
 * NULL when not a fleet host. The caller puts it. */
json_object *fleet_state_invalid(void);

/* metrics.c */
/* config.c's "IPv4:PORT" or "[IPv6]:PORT" -> socket address; -1 when it is not one. */
int metrics_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len);
int metrics_start(const char *addr);
void metrics_stop(void);
void metrics_render(const struct agent *a, __u64 now);

/* talk.c: what ebbd and ebbctl tell each other beside the maps (libebb_agent.h): the heartbeat
 * ebbd pins every tick (stopped: its last, at a clean exit), and ebbctl's records of its changes,
 * logged as ebbctl_change events and kept for the status page. */
void talk_tick(struct agent *a, __u64 now, bool stopped);

/* status.c: the HTML status page at / (rendered by metrics_render, copied by a request) */
void status_render(const struct agent *a, __u64 now);
char *status_copy(size_t *len); /* malloc'd copy of the page; NULL (*len 0) when out of memory */
/* A node's state or last drain changed (or a node came or went): the next render is at once,
 * not up to a second later, so the page never shows a state /metrics has already left. Called
 * where ebbd takes a node's entry in (state.c) and where a drain completes (drain.c). */
void status_nodes_changed(void);
struct ebb_change_rec;
void status_change(const struct ebb_change_rec *r, const char *user); /* ebbctl's, for the page */

/* proc.c: child processes (hooks, probe commands), never waited for in the loop */
typedef void (*proc_done_fn)(int status, bool timed_out, const char *out, void *ctx);
int proc_spawn(char *const argv[], char *const env_extra[], double timeout_s, bool stdout_only,
	       proc_done_fn done, void *ctx);
/* The same, keeping up to out_max bytes of its output (proc_spawn keeps 2047). */
int proc_spawn_max(char *const argv[], char *const env_extra[], double timeout_s, bool stdout_only,
		   size_t out_max, proc_done_fn done, void *ctx);
int proc_pollfds(struct pollfd *pfd, int max);
void proc_events(const struct pollfd *pfd, int n);
void proc_reap(void);
void proc_timeouts(__u64 now);
__u64 proc_next_deadline(void);
int proc_running(void);

/* net.c: non-blocking TCP connects and HTTP GETs (health checks, URL probes) */
typedef void (*net_done_fn)(bool ok, const char *detail, const char *body, void *ctx);
struct net_req_opts {
	struct ebb_addr addr;
	__u16 port;
	bool http;
	const char *host; /* Host header */
	const char *path;
	bool want_body;
	double timeout_s;
	size_t max_len; /* of the whole answer, headers too; 0: 4095 bytes */
};
int net_start(const struct net_req_opts *o, net_done_fn done, void *ctx);
/* config.c's reading of http://HOST[:PORT]/PATH (HOST an IP address); *path is malloc'd */
int probe_parse_url(const char *url, struct net_req_opts *o, char *host, size_t hlen, char **path);
int net_pollfds(struct pollfd *pfd, int max);
void net_events(const struct pollfd *pfd, int n);
void net_timeouts(__u64 now);
__u64 net_next_deadline(void);

#endif /* EBBD_H */
