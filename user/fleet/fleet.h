/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The fleet's desired state as it lives in etcd, shared by ebbd (which applies it to the pinned
 * maps) and ebbctl (which writes it). Key layout (doc/fleet.md has the whole story):
 *
 *   /ebb/F/state/serial         bumped by every write of the desired state: its mod_revision
 *                               is the state's revision, the one hosts report as applied
 *   /ebb/F/state/vips/VIP       {"fwd":"dsr","tcp_idle_s":…,"udp_idle_s":…,"fin_s":…,
 *                                "drain_timeout_s":…[,"encap_src4":…][,"encap_src6":…]
 *                                [,"table_size":M]}  (absent: 65537, written only when not)
 *   /ebb/F/state/nodes/ADDR     {"state":"draining","since":UNIX_S,"drain_timeout_s":N,
 *                                "drain_lease":ID,"before_down":…,"mac":…,"node_prog":true,"weights":{"VIP":W,…}}
 *   /ebb/F/state/drains/ADDR    {"lease":ID,"elapsed_s":E}  under lease ID: the drain's clock
 *   /ebb/F/state/hosts/HOST     {"drain":true}              a host drained by the operator
 *   /ebb/F/leader               HOST, under the leader's lease
 *   /ebb/F/hosts/HOST           the host's report, under its lease (gone when it is)
 *   /ebb/F/last/HOST            the same report without a lease: what the host said last
 *
 * The marker: ebbd pins a one-entry BPF array `fleet` next to the balancer's maps holding
 * {"fleet":…, "host":…, "etcd":[…], "lease_ttl":…} and how to reach etcd safely ("etcd_ca",
 * "etcd_cert", "etcd_key", "etcd_user", "etcd_password_file": paths, never the password itself;
 * "etcd_insecure"), which ebbctl finds with --bpffs alone.
 */
#ifndef EBB_FLEET_H
#define EBB_FLEET_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

#include "libebb.h"
#include "etcd.h"

#define FLEET_NAME_MAX 64
#define FLEET_MARKER "fleet"
#define FLEET_MARKER_SIZE 2048

struct fleet_vip {
	struct ebb_vip_key key;
	char name[64];
	struct ebb_vip_opts o; /* timeouts always set; encap sources only when given */
	int64_t mod_rev;
};

struct fleet_weight {
	struct ebb_vip_key vip;
	__u32 weight;
};

struct fleet_node {
	struct ebb_addr addr;
	char name[64];
	__u8 state, before_down;
	bool have_mac;
	__u8 mac[6];
	__u32 drain_timeout_s; /* this drain's own, 0 = the VIPs' */
	bool node_prog; /* runs ebb's node program (EBB_NODE_F_NODE_PROG on every host) */
	double since; /* wall-clock time of the last state change: for people only when drain_lease */
	int64_t drain_lease; /* draining: the etcd lease that times this drain (0: a drain written
			      * before drain clocks, timed from since as it used to be) */
	int n_w;
	struct fleet_weight w[EBB_MAX_VIPS];
	int64_t mod_rev;
};

struct fleet_hostcfg {
	char name[FLEET_NAME_MAX];
	bool drain;
	int64_t mod_rev;
};

/*
 * A drain's clock (doc/fleet.md, "The drain clock"): state/drains/ADDR, put under an etcd lease
 * granted for the drain's timeout + FLEET_DRAIN_MARGIN_S by whoever writes the drain. etcd counts
 * a lease's remaining TTL on its leader's monotonic clock, and a leader change only lengthens it,
 * so granted - remaining never overstates the time since the grant, on any host, whatever its
 * wall clock says. elapsed_s: the drain's age when this lease was granted (a drain re-issued
 * with a new timeout keeps its start). The key gone while the node drains: the lease expired or
 * was lost, and the drain counts as timed out.
 */
struct fleet_drain {
	struct ebb_addr addr;
	char name[64];
	int64_t lease; /* as the value names it */
	__u32 elapsed_s;
	int64_t kv_lease; /* the lease etcd has the key under (the two must agree) */
	int64_t mod_rev;
};

#define FLEET_DRAIN_MARGIN_S 10

/*
 * A generation of a VIP's slot history (doc/fleet.md, "The slot history's generations"):
 * state/history/VIP/LEASE = the VIP's member set that a write replaced, put by that write in
 * its own transaction under an etcd lease of TTL = the VIP's tcp_idle_s (LEASE, in the key's
 * name). Every host rebuilds the old tables from it (Maglev places by address and weight
 * alone) and records the same older owners, each until its generation's lease runs out. At
 * most FLEET_HISTORY_GENS per VIP: a write that makes one more deletes the oldest.
 */
#define FLEET_HISTORY_GENS 8

struct fleet_gen_member {
	struct ebb_addr addr;
	__u32 weight;
	bool active; /* else draining: the second-chance table only */
};

struct fleet_gen {
	struct ebb_vip_key vip;
	int64_t lease; /* from the key's name */
	int64_t kv_lease; /* the lease etcd holds the key under (the two must agree) */
	int64_t mod_rev; /* the revision of the write that replaced the set: the order */
	int n;
	struct fleet_gen_member *m; /* n of them (owned by the state: fleet_state_free) */
};

enum fleet_kind { FLEET_KEY_OTHER, FLEET_KEY_VIP, FLEET_KEY_NODE, FLEET_KEY_HOST, FLEET_KEY_DRAIN, FLEET_KEY_GEN };

#define FLEET_KEY_MAX 256
#define FLEET_WHY_MAX 192

/*
 * A key of the desired state that failed its schema (doc/fleet.md, "Schema"). When its name
 * parses (named), it still names its object: a host keeps that object's last good value, or,
 * never having seen one, leaves the object as the maps have it. Never deleted, never defaulted.
 */
struct fleet_invalid {
	char key[FLEET_KEY_MAX]; /* the whole etcd key, cut at FLEET_KEY_MAX - 1 */
	char why[FLEET_WHY_MAX];
	enum fleet_kind kind;
	bool named;
	struct ebb_vip_key vip; /* kind VIP and named */
	struct ebb_addr addr; /* kind NODE and named */
	char host[FLEET_NAME_MAX]; /* kind HOST and named */
	int64_t mod_rev;
};

struct fleet_state {
	int64_t rev; /* mod_revision of the serial key: 0 while nothing was ever written */
	int64_t store_rev; /* the store's revision when read */
	int n_vips, n_nodes, n_hosts, n_invalid, n_drains, n_gens;
	struct fleet_vip vips[EBB_MAX_VIPS];
	struct fleet_node *nodes; /* n_nodes of them */
	struct fleet_drain *drains;
	struct fleet_hostcfg *hosts;
	struct fleet_invalid *invalid; /* keys that failed the schema: left out of the above */
	struct fleet_gen *gens; /* the slot history's generations, every VIP's, in etcd's order */
};

/* The marker ebbd leaves next to the pins. */
struct fleet_marker {
	char fleet[FLEET_NAME_MAX], host[FLEET_NAME_MAX];
	int n_etcd;
	char etcd[ETCD_MAX_ENDPOINTS][256];
	int lease_ttl;
	char ca[256], cert[256], key[256], user[64], password_file[256];
	bool insecure;
};

/* The marker's etcd settings as etcd_init takes them (pointing into m). */
void fleet_marker_sec(const struct fleet_marker *m, struct etcd_sec *sec);
/* The marker's length as written (JSON), to check at configuration time that it fits in
 * FLEET_MARKER_SIZE. */
size_t fleet_marker_len(const struct fleet_marker *m);

int fleet_marker_write(const char *bpffs, const struct fleet_marker *m, struct ebb_err *err);
/* 0 and *m when bpffs holds a marker, -ENOENT when it does not (not a fleet host). */
int fleet_marker_read(const char *bpffs, struct fleet_marker *m);
void fleet_marker_remove(const char *bpffs);

/* "/ebb/F/" + rest */
void fleet_key(char *buf, size_t len, const char *fleet, const char *rest);
bool fleet_name_ok(const char *s);

/* Reads the whole desired state (one range over /ebb/F/state/). */
int fleet_state_read(struct etcd *c, const char *fleet, struct fleet_state *s);
void fleet_state_free(struct fleet_state *s);
/* Whole state from one range over /ebb/F/state/. Every key goes through its kind's check
 * below; a key that fails is left out of vips/nodes/hosts and listed in invalid. */
int fleet_state_parse(const struct etcd_range *r, const char *fleet, struct fleet_state *s);

/*
 * The schema of each key kind (doc/fleet.md, "Schema"): the one check both writers (ebbctl,
 * ebbd's leader) run on what they are about to put and every host runs on what it reads.
 * name: the key's last part (VIP, node address, host name); val: the value as stored.
 * 0 and *out filled when valid; -1 and why (one line) when not.
 */
int fleet_vip_check(const char *name, const char *val, struct fleet_vip *out, char *why, size_t len);
int fleet_node_check(const char *name, const char *val, struct fleet_node *out, char *why, size_t len);
int fleet_host_check(const char *name, const char *val, struct fleet_hostcfg *out, char *why, size_t len);
int fleet_drain_check(const char *name, const char *val, struct fleet_drain *out, char *why, size_t len);
/* name: VIP/LEASE (the part after state/history/); out->m is malloc'd (free it) when valid. */
int fleet_gen_check(const char *name, const char *val, struct fleet_gen *out, char *why, size_t len);
/* Any key under /ebb/F/state/, by its kind (the serial key is free-form): 0 valid, -1 + why. */
int fleet_key_check(const char *fleet, const char *key, const char *val, char *why, size_t len);

json_object *fleet_vip_json(const struct fleet_vip *v);
json_object *fleet_node_json(const struct fleet_node *n);
struct fleet_vip *fleet_vip_find(struct fleet_state *s, const struct ebb_vip_key *k);
struct fleet_node *fleet_node_find(struct fleet_state *s, const struct ebb_addr *a);
struct fleet_hostcfg *fleet_host_find(struct fleet_state *s, const char *name);
/* The node's drain clock: its state/drains key when valid and under the node's drain_lease. */
const struct fleet_drain *fleet_drain_find(const struct fleet_state *s, const struct fleet_node *n);
/* The invalid key that still names this VIP / node (fleet_invalid.named), or NULL. */
const struct fleet_invalid *fleet_invalid_vip(const struct fleet_state *s, const struct ebb_vip_key *k);
const struct fleet_invalid *fleet_invalid_node(const struct fleet_state *s, const struct ebb_addr *a);

double fleet_wall(void); /* CLOCK_REALTIME in seconds: never a drain's clock (fleet_drain_*) */

/* ---- the drain clock (doc/fleet.md, "The drain clock") ---- */

/* The timeout that applies to node n's drain: its own, else the longest of its VIPs'. */
__u32 fleet_node_drain_timeout(const struct fleet_state *s, const struct fleet_node *n);
/* Seconds the drain of d has run, from etcd alone: elapsed_s + granted - remaining - 1 (etcd
 * truncates the remaining TTL to whole seconds: the 1 keeps the figure from ever running ahead).
 * 0 and *elapsed; 1 when the lease is gone; -1 when etcd did not answer (c->err). */
int fleet_drain_elapsed(struct etcd *c, const struct fleet_drain *d, double *elapsed);
/* How long node n (as read in s) has drained, for a writer re-issuing its drain: from its clock,
 * its timeout when that clock is gone, or (a drain from before drain clocks) from since once. */
int fleet_drain_age(struct etcd *c, const struct fleet_state *s, const struct fleet_node *n, __u32 *age_s);
/* A writer starting (or re-issuing) n's drain: grants a lease of timeout_s - age_s +
 * FLEET_DRAIN_MARGIN_S seconds, sets n->drain_lease, and adds the put of the drain key under it
 * to ops. -1 with why when etcd refused or did not answer. */
int fleet_drain_grant(struct etcd *c, const char *fleet, struct fleet_node *n, __u32 timeout_s, __u32 age_s,
		      json_object *ops, char *why, size_t len);
/* A writer ending n's drain (any other state, or the node deleted): the delete of its drain key
 * added to ops, n->drain_lease cleared; the lease is the caller's to revoke once written. */
void fleet_drain_end(const char *fleet, struct fleet_node *n, json_object *ops);

/* ---- the slot history's generations (doc/fleet.md, "The slot history's generations") ---- */

/* VIP k's member set in s (nodes active or draining with a weight for it), sorted by address:
 * out has room for s->n_nodes. Returns how many. */
int fleet_vip_set(const struct fleet_state *s, const struct ebb_vip_key *k, struct fleet_gen_member *out);
/* s's generations of VIP k, oldest first, at most FLEET_HISTORY_GENS (the latest): pointers
 * into s->gens, out has room for FLEET_HISTORY_GENS. Returns how many. */
int fleet_vip_gens(const struct fleet_state *s, const struct ebb_vip_key *k, const struct fleet_gen **out);
/*
 * A writer about to run ops (a transaction's puts and deletes of node and VIP keys) on the state
 * before (as read, unchanged): for each VIP whose member set the ops change, grants a lease of
 * the VIP's tcp_idle_s and adds the put of its set before as a generation under it, and the
 * deletes of its oldest generations past FLEET_HISTORY_GENS; for a VIP the ops delete, the
 * delete of all its generations. The leases granted go to leases[] (room for EBB_MAX_VIPS): the
 * caller revokes them when the transaction surely did not hold. -1 with why when etcd did not
 * answer or a value failed the schema (then nothing granted stays).
 */
int fleet_history_ops(struct etcd *c, const char *fleet, const struct fleet_state *before, json_object *ops,
		      int64_t *leases, int *n_leases, char *why, size_t len);

#endif
