/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libebb: everything user space does to the balancer's pinned state, shared by ebbctl, ebbd
 * and the tests. The maps are the only state: nothing here caches across calls.
 */
#ifndef LIBEBB_H
#define LIBEBB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include <netinet/in.h>

#include "ebb.h"

struct bpf_object;

#define EBB_DEFAULT_BPFFS "/sys/fs/bpf/ebb"
#define EBB_ERR_LEN 256

/* Defaults when a VIP does not set its own (see doc/datapath.md, "Timeouts"). */
#define EBB_DEFAULT_TCP_IDLE_S 900 /* IPVS: tcp established */
#define EBB_DEFAULT_UDP_IDLE_S 300 /* IPVS: udp */
#define EBB_DEFAULT_FIN_S 10
#define EBB_DEFAULT_DRAIN_TIMEOUT_S 300 /* AWS deregistration delay */
/* Every timeout is 1..this (a week): the CLI and the fleet's schema refuse the rest. */
#define EBB_MAX_TIMEOUT_S (86400u * 7)
#define EBB_DEFAULT_WEIGHT 100

/* An error message for the caller to print after "Error: ". */
struct ebb_err {
	char msg[EBB_ERR_LEN];
};

int ebb_errf(struct ebb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- addresses (addr.c) ---- */
struct ebb_addr {
	__be32 a[4];
	__u8 family; /* EBB_FAMILY_V4 / EBB_FAMILY_V6 */
};

int ebb_parse_addr(const char *s, struct ebb_addr *addr, struct ebb_err *err);
int ebb_parse_vip(const char *s, struct ebb_vip_key *key, struct ebb_err *err);
/* "ADDR:PORT" or "[ADDR6]:PORT", the client side of a flow. */
int ebb_parse_endpoint(const char *s, struct ebb_addr *addr, __u16 *port, struct ebb_err *err);
int ebb_parse_mac(const char *s, __u8 mac[6], struct ebb_err *err);
int ebb_parse_u32(const char *s, __u32 min, __u32 max, __u32 *out);
/* Refuses what cannot be a VIP, node or tunnel source: unspecified, loopback, broadcast,
 * multicast, reserved, IPv4-mapped IPv6. `what` starts the message ("node", "VIP"...). */
int ebb_check_unicast(const struct ebb_addr *a, const char *what, struct ebb_err *err);
/* 1 if `a` is configured on an interface of this network namespace (its name in dev), 0 if
 * not, -errno if the interfaces cannot be read. */
int ebb_addr_local(const struct ebb_addr *a, char *dev, size_t len);
/* Refuses this host's own address as `what` ("a VIP", "a node"), saying `why`. A failure to
 * read the interfaces refuses nothing: the check guards against a mistake, not an attack.
 * (desired.c: in the words of the desired state's checks, which ask the same.) */
#define EBB_VIP_LOCAL_WHY "ebb would take the traffic to this port from the host's own services"
#define EBB_NODE_LOCAL_WHY "ebb would send the VIP's packets back to the balancer"
int ebb_check_not_local(const struct ebb_addr *a, const char *what, const char *why,
			struct ebb_err *err);
const char *ebb_fmt_addr(const __be32 *a, __u8 family, char *buf, size_t len);
const char *ebb_fmt_vip(const struct ebb_vip_key *key, char *buf, size_t len);
const char *ebb_fmt_mac(const __u8 mac[6], char *buf, size_t len);
bool ebb_addr_eq(const __be32 *a, const __be32 *b, __u8 family);

const char *ebb_state_name(__u8 state);
int ebb_state_parse(const char *s); /* -1 if unknown */
const char *ebb_fwd_name(__u8 fwd);
const char *ebb_reason_name(__u32 reason);

/* ---- Maglev (maglev.c) ---- */
struct ebb_maglev_node {
	__u32 id; /* written into the table */
	__u32 weight;
	__u8 seed[17]; /* address bytes + family: what places the node, so two hosts agree */
};

/* Fills table[EBB_RING_SIZE]; returns 0, or -1 if n == 0. Same input, same bytes. */
int ebb_maglev_build(const struct ebb_maglev_node *nodes, size_t n, __u32 *table);
/* The same for a table of m slots (a VIP's table_size): table[0..m) filled, table[m..
 * EBB_RING_SIZE) 0 (still EBB_RING_SIZE entries long); -1 also when m is not 2..EBB_RING_SIZE. */
int ebb_maglev_build_m(const struct ebb_maglev_node *nodes, size_t n, __u32 m, __u32 *table);
/* m is one of EBB_TABLE_SIZES (include/ebb.h). */
bool ebb_table_size_ok(__u32 m);
/* "251, 509, ..., 65537": the allowed table sizes, for an error message. */
const char *ebb_table_sizes_str(void);
/* A VIP's M: its table_size, EBB_RING_SIZE for 0. */
static inline __u32 ebb_vip_table_size(const struct ebb_vip *v)
{
	return v->table_size ? v->table_size : EBB_RING_SIZE;
}

/* ---- the pinned state (state.c) ---- */
struct ebb {
	char bpffs[512];
	int vip_addrs_fd, vips_fd, nodes_fd, members_fd, rings_fd, flows_fd;
	int vip_stats_fd, node_stats_fd, reasons_fd, settings_fd, vip_filter_fd, vips_by_id_fd;
	int vip_slots_fd, slot_history_fd;
	int vip_reasons_fd; /* -1 in state of a layout before 6 (until `prog upgrade`) */
	int ring_changes_fd; /* -1 in state of a layout before 7 (until `prog upgrade`) */
	int flows6_fd; /* IPv6 flows (flows: the IPv4 bucket table); -1 before layout 8 */
	int syn_recent_fd; /* the SYNs pinned lately (include/ebb.h); -1 in state made before it */
	int lock_fd; /* held (flock) by writers so that two ebbctl never interleave */
	void *ft; /* the IPv4 flow table, mapped on first use (ebb_flow_get); ebb_close unmaps */
	size_t ft_bytes;
	__u32 ft_nbuckets;
};

/* Opens the maps pinned under bpffs; fails with a hint when nothing is attached yet. */
int ebb_open(struct ebb *e, const char *bpffs, struct ebb_err *err);
/* Takes the maps of a loaded (not necessarily pinned) object: tests and the loader. */
int ebb_from_object(struct ebb *e, struct bpf_object *obj, struct ebb_err *err);
void ebb_close(struct ebb *e);
/* Takes the writers' lock; maps re-created while it waited (a `prog upgrade` across a layout)
 * are re-opened first, so that no write lands in a map no program reads any more. */
int ebb_lock(struct ebb *e, struct ebb_err *err);
/* True when a pin under e->bpffs names another map than the one e holds. */
bool ebb_stale(const struct ebb *e);
int ebb_ensure_bpffs(const char *dir, struct ebb_err *err);
__u64 ebb_now_ns(void);
int ebb_ncpus(void);

/* Lookups by value, iterating small maps. Return 0 when found, -ENOENT otherwise. */
int ebb_vip_find(struct ebb *e, const struct ebb_vip_key *key, struct ebb_vip *vip);
/* key or vip may be NULL (not wanted). */
int ebb_vip_by_id(struct ebb *e, __u32 id, struct ebb_vip_key *key, struct ebb_vip *vip);
/*
 * Every write of a VIP goes through these: `vips`, its copy by id (vips_by_id) and its slot
 * (vip_slots, include/ebb.h), in an order that never lets a reader find a half-written copy
 * through a slot: a new VIP's copy is written before `vips` and its slot after; a VIP that goes
 * leaves its slot first. flags: BPF_NOEXIST (a new VIP) or BPF_EXIST (same key, new values).
 */
int ebb_vip_store(struct ebb *e, const struct ebb_vip_key *key, const struct ebb_vip *vip, __u64 flags);
/* Before a VIP is deleted: its slot no longer names it, its copy is cleared. */
void ebb_vip_unindex(struct ebb *e, const struct ebb_vip_key *key, __u32 id);
/* vip_slots from `vips` (leaving out `without`, if given): one update of the whole array. */
int ebb_vip_slots_sync(struct ebb *e, const struct ebb_vip_key *without);
/* vips_by_id and vip_slots from `vips` (after a rollback put `vips` back; after a load). */
void ebb_vips_by_id_sync(struct ebb *e);
/* The installed table ring_id (EBB_RING_NEW/SECOND(vip id)) into table[EBB_RING_SIZE] as node
 * ids; -ENOENT when the VIP has no such table (no node of that kind). */
int ebb_ring_read(struct ebb *e, __u32 ring_id, __u32 *table);
/* The node in one slot of table ring_id; 0 when there is no table (no node of that kind). */
__u32 ebb_ring_node(struct ebb *e, __u32 ring_id, __u32 slot);
int ebb_node_find(struct ebb *e, const struct ebb_addr *addr, __u32 *id, struct ebb_node *node);
/* The VIP a flow belongs to, as the datapath finds it (exact port, then port 0). */
int ebb_vip_of_flow(struct ebb *e, const struct ebb_flow_key *fk, struct ebb_vip *vip);

/* ---- operations (ops.c): each validates everything first, then applies whole ---- */
struct ebb_vip_opts {
	__u8 fwd;
	__u32 tcp_idle_s, udp_idle_s, fin_s, drain_timeout_s; /* 0 = default */
	__be32 encap_src4, encap_src6[4]; /* ipip outer sources; zero = none of that family */
	__u32 table_size; /* M, one of EBB_TABLE_SIZES; 0 = EBB_TABLE_SIZE_DEFAULT */
};

/* Refuses `src` as an ipip outer source of VIP `key`: a VIP's address (this one's, or with `e`
 * any VIP's), and with need_local one that is not this host's own (ebb_addr_local). */
int ebb_check_encap_src(struct ebb *e, const struct ebb_vip_key *key, const struct ebb_addr *src,
			bool need_local, struct ebb_err *err);
int ebb_vip_add(struct ebb *e, const struct ebb_vip_key *key, const struct ebb_vip_opts *o,
		struct ebb_err *err);

/*
 * The timeout rules, once: every reader of a VIP's or a node's settings goes through these
 * (libebb, ebbctl, ebbd, the census, the fleet). A 0 is "not set" and reads as the default: a
 * VIP written by an older build, or options that named no timeout.
 */
static inline __u32 ebb_or_default(__u32 set, __u32 dflt)
{
	return set ? set : dflt;
}

/* A new VIP's options with every unset timeout and its table size filled in. */
static inline void ebb_vip_opts_defaults(struct ebb_vip_opts *o)
{
	o->tcp_idle_s = ebb_or_default(o->tcp_idle_s, EBB_DEFAULT_TCP_IDLE_S);
	o->udp_idle_s = ebb_or_default(o->udp_idle_s, EBB_DEFAULT_UDP_IDLE_S);
	o->fin_s = ebb_or_default(o->fin_s, EBB_DEFAULT_FIN_S);
	o->drain_timeout_s = ebb_or_default(o->drain_timeout_s, EBB_DEFAULT_DRAIN_TIMEOUT_S);
	o->table_size = ebb_or_default(o->table_size, EBB_TABLE_SIZE_DEFAULT);
}

/* How long after it was last seen a flow of vip (NULL: the defaults) ends: at once after a
 * RST, its FIN timeout after a FIN (or its idle timeout, if shorter), else its protocol's idle
 * timeout. A flow no node has claimed yet ends as an unflagged one. */
static inline __u64 ebb_flow_ends_after_ns(const struct ebb_vip *vip, __u8 proto, __u32 flags)
{
	__u64 idle = ebb_or_default(vip ? (proto == IPPROTO_UDP ? vip->udp_idle_s : vip->tcp_idle_s) : 0,
				    proto == IPPROTO_UDP ? EBB_DEFAULT_UDP_IDLE_S : EBB_DEFAULT_TCP_IDLE_S);
	__u64 fin = ebb_or_default(vip ? vip->fin_s : 0, EBB_DEFAULT_FIN_S);

	if (flags & EBB_FLOW_RST)
		return 0;
	if ((flags & EBB_FLOW_FIN) && fin < idle)
		idle = fin;
	return idle * 1000000000ULL;
}

/* A node's drain timeout: its own, else the longest its VIPs set (longest_vip_s; 0: none),
 * else the default. */
static inline __u32 ebb_drain_timeout_s(__u32 node_s, __u32 longest_vip_s)
{
	return ebb_or_default(node_s, ebb_or_default(longest_vip_s, EBB_DEFAULT_DRAIN_TIMEOUT_S));
}
int ebb_vip_del(struct ebb *e, const struct ebb_vip_key *key, bool force, struct ebb_err *err);

struct ebb_node_opts {
	__u32 weight; /* 0 = default */
	bool have_mac;
	__u8 mac[6];
	bool inactive;
	bool node_prog; /* the node runs ebb's node program (EBB_NODE_F_NODE_PROG) */
};

int ebb_node_add(struct ebb *e, const struct ebb_addr *addr, const struct ebb_vip_key *vip,
		 const struct ebb_node_opts *o, struct ebb_err *err);
int ebb_node_del(struct ebb *e, const struct ebb_addr *addr, const struct ebb_vip_key *vip,
		 bool force, struct ebb_err *err);
/* Moves a node to a state and rebuilds the rings of its VIPs. drain_timeout_s: for draining. */
int ebb_node_set_state(struct ebb *e, const struct ebb_addr *addr, __u8 state,
		       __u32 drain_timeout_s, struct ebb_err *err);
/* The same, with where the state began (since_ns, ebb_now_ns's clock; 0: now, if the state
 * changes) and where a down node returns to (before_down; 0: the state it leaves), as a fleet
 * host has them from etcd. The state unchanged: only the times given are written. */
int ebb_node_set_state_at(struct ebb *e, const struct ebb_addr *addr, __u8 state,
			  __u32 drain_timeout_s, __u64 since_ns, __u8 before_down, struct ebb_err *err);
/* A node's MAC, in place (one update of its entry; no table changes). */
int ebb_node_set_mac(struct ebb *e, const struct ebb_addr *addr, const __u8 mac[6], struct ebb_err *err);
/* One of the datapath's settings (`prog set`), checked by the model (ebb_desired_settings_check)
 * with the others as the map holds them; one update of the settings entry. */
enum ebb_setting { EBB_SETTING_FLOOD_RATE, EBB_SETTING_MTU, EBB_SETTING_RESCUE_RATE };
int ebb_settings_set(struct ebb *e, enum ebb_setting which, __u32 value, struct ebb_err *err);
/* Rebuilds both rings of a VIP from members and node states, each swapped in atomically. */
int ebb_rings_rebuild(struct ebb *e, __u32 vip_id, struct ebb_err *err);
/* Sets (on) or clears the node-wide flags in mask (EBB_NODE_F_*). No table changes. */
int ebb_node_set_flags(struct ebb *e, const struct ebb_addr *addr, __u8 mask, bool on,
		       struct ebb_err *err);

/* ---- slot history (history.c): a slot's earlier owners, the rescues' older candidates ---- */
/* Every write of a VIP's tables records, for each slot whose owner changes in either table,
 * the owners it had (include/ebb.h, slot_history), until the VIP's TCP idle timeout from now.
 * These are for the callers outside the table writes. */
/* Removes expired owners and entries left empty, and entries of VIP ids no VIP has. Returns
 * the entries deleted or rewritten, or -errno. */
long ebb_history_sweep(struct ebb *e, __u64 now_ns);
/* Deletes every entry of a VIP id (a VIP deleted, or an id given anew). */
long ebb_history_forget_vip(struct ebb *e, __u32 vip_id);
struct ebb_history_stats {
	__u64 entries; /* in the map, all VIPs */
	__u64 vip_entries[EBB_MAX_VIPS]; /* by VIP id */
	__u64 owners; /* owners not expired, all entries */
};
int ebb_history_stats(struct ebb *e, struct ebb_history_stats *st);
/* named[EBB_MAX_NODES]: 2 where an owner not yet expired names the node id, 1 where only
 * expired owners do, 0 where none does. */
int ebb_history_named(struct ebb *e, __u8 *named);
/* The slot's entry as the map holds it: 0, or -ENOENT. */
int ebb_history_get(struct ebb *e, __u32 vip_id, __u32 slot, struct ebb_slot_history *h);
/* A member set that a VIP's tables were built from, and until when the owners it gave are
 * candidates: one generation of a fleet's history (doc/fleet.md, "The slot history's
 * generations"). Its tables are rebuilt with ebb_maglev_build, as rings.c builds them. */
struct ebb_history_member {
	struct ebb_maglev_node mn; /* mn.id: the node's id here; one at or past EBB_MAX_NODES for a
				    * node this host does not hold: it places (takes its slots), it
				    * is no candidate */
	bool active; /* in both tables; else draining: in the second-chance table only */
};
struct ebb_history_gen {
	const struct ebb_history_member *m;
	size_t n;
	__u32 until; /* ebb_seen_tick: its owners are candidates until then */
};
/* The history that applying gens[0] -> gens[1] -> ... -> gens[n-1] -> the tables now (cur_new,
 * cur_sec) one change at a time records, by history.c's rules, as seen at now_tick (owners past
 * their until left out): out[EBB_RING_SIZE], owner[0] == 0 where a slot has no entry. Pure (no
 * map): 0, or -ENOMEM. */
int ebb_history_rebuild(const struct ebb_history_gen *gens, size_t n, const __u32 *cur_new,
			const __u32 *cur_sec, __u32 now_tick, struct ebb_slot_history *out);
/* ... for a VIP of table size m (the generations' tables built with m slots). */
int ebb_history_rebuild_m(const struct ebb_history_gen *gens, size_t n, __u32 m,
			  const __u32 *cur_new, const __u32 *cur_sec, __u32 now_tick,
			  struct ebb_slot_history *out);
/* Makes the VIP's entries what ebb_history_rebuild gives from gens and the VIP's tables as they
 * are: entries it has no owner for are deleted, entries whose owners are the same and whose
 * untils are within 2 s are left alone. Returns the slots that found no room (also counted in
 * the VIP's history_lost), or -errno. */
long ebb_history_replace(struct ebb *e, __u32 vip_id, const struct ebb_history_gen *gens, size_t n,
			 __u64 now_ns);

/* ---- edits in place, counters, snapshots (edit.c) ---- */
/* A node's weight on one VIP; both tables of the VIP rebuilt as `node add` does. */
int ebb_node_set_weight(struct ebb *e, const struct ebb_addr *addr, const struct ebb_vip_key *vk,
			__u32 weight, struct ebb_err *err);
/* A VIP's timeouts (the non-zero fields of o), in one map update. */
int ebb_vip_set(struct ebb *e, const struct ebb_vip_key *key, const struct ebb_vip_opts *o,
		struct ebb_err *err);
/* Zeroes every per-VIP, per-node and per-reason counter. */
int ebb_stats_zero(struct ebb *e, struct ebb_err *err);
/* The configuration maps (VIPs, nodes, members, settings) as they are now; restore writes
 * them back and rebuilds the tables: a batch that fails half-way leaves nothing behind. */
/*
 * Rewrites vip_filter from vip_addrs plus n_extra addresses about to become VIPs' (kept a
 * superset of vip_addrs: set bits before an address is added, clear them after it left).
 */
int ebb_vip_filter_sync(struct ebb *e, const struct ebb_vip_addr_key *extra, size_t n_extra);

struct ebb_snapshot;
struct ebb_snapshot *ebb_snapshot_take(struct ebb *e);
int ebb_snapshot_restore(struct ebb *e, const struct ebb_snapshot *s);
void ebb_snapshot_free(struct ebb_snapshot *s);

/* SHA-256 of len bytes (OpenSSL): the checksum of a saved configuration (digest.c). */
void ebb_sha256(const void *data, size_t len, unsigned char out[32]);

/* ---- flows (flows.c) ---- */
struct ebb_flow_entry {
	struct ebb_flow_key key;
	struct ebb_flow val;
	bool live;
	/* where its entry word is (IPv4: in the mapped table, valid during the walk; IPv6: NULL)
	 * and the word as read: ebb_flow_forget clears it only if it is still that word */
	__u64 *slot;
	__u64 word;
};

/* Calls fn for every flow-table entry; stops early when fn returns non-zero. */
int ebb_flows_each(struct ebb *e, int (*fn)(const struct ebb_flow_entry *f, void *ctx),
		   void *ctx);
/* Which flows ebb_flows_each_of gives: those whose entry names node_id (0: any node) and, with
 * by_vip, VIP id vip_id; judged from the entry, before its key is rebuilt, so that a walk for
 * one node or VIP costs little more than reading the table. */
struct ebb_flows_filter {
	__u32 node_id;
	bool by_vip;
	__u32 vip_id;
};
/* ebb_flows_each, only the flows filter names: the same flows, in the same order, as the
 * entries of ebb_flows_each whose val.node_id and val.vip_id match. */
int ebb_flows_each_of(struct ebb *e, const struct ebb_flows_filter *filter,
		      int (*fn)(const struct ebb_flow_entry *f, void *ctx), void *ctx);
/* One flow's entry by its key (IPv4: the mapped bucket table; IPv6: flows6), decoded as a
 * struct ebb_flow (`seen` in 2^24 ns ticks, exact to the table's ~1.07 s tick): 0 or -ENOENT. */
int ebb_flow_get(struct ebb *e, const struct ebb_flow_key *key, struct ebb_flow *out);
/* Forgets a flow ebb_flows_each gave (within its walk): 0, or -EAGAIN if its entry changed. */
int ebb_flow_forget(struct ebb *e, const struct ebb_flow_entry *f);
/* Whether a flow is still live: not reset, not FIN-then-quiet, not idle (per its VIP). */
bool ebb_flow_live(const struct ebb_flow_key *key, const struct ebb_flow *val,
		   const struct ebb_vip *vip, __u64 now);
/* Whether a flow was placed for this VIP: the id it records and the address it goes to (a
 * deleted VIP's flows do not become those of the next VIP given its id). */
bool ebb_flow_of_vip(const struct ebb_flow_key *fk, const struct ebb_flow *fv,
		     const struct ebb_vip_key *vk, const struct ebb_vip *v);
/* Live flows per node id, counts[EBB_MAX_NODES]; optionally only those of one VIP. */
int ebb_live_flows(struct ebb *e, __u64 *counts, const __u32 *vip_id);
/* Live flows per VIP id, per_vip[EBB_MAX_VIPS], in one walk of the flow table. */
int ebb_live_flows_per_vip(struct ebb *e, __u64 *per_vip);
/* Deletes every flow pinned to node_id (forced removal). Returns how many, or -errno. */
long ebb_flows_purge_node(struct ebb *e, __u32 node_id, const __u32 *vip_id);
/* Deletes every flow of a VIP (by ebb_flow_of_vip: also once the VIP is gone from the map). */
long ebb_flows_purge_vip(struct ebb *e, const struct ebb_vip_key *vk, const struct ebb_vip *v);

/* ---- counters (stats.c) ---- */
int ebb_counters_sum(int map_fd, __u32 id, struct ebb_counters *sum);
int ebb_reason_sum(struct ebb *e, __u32 reason, struct ebb_reason_counter *sum);
/* One VIP's packets under one reason (never EBB_R_FORWARDED: vip_stats has those); zero where
 * the pinned state predates vip_reasons. */
int ebb_vip_reason_sum(struct ebb *e, __u32 vip_id, __u32 reason, struct ebb_reason_counter *sum);
/* A VIP id's reasons from zero (a new VIP in a reused slot). */
int ebb_vip_reasons_zero(struct ebb *e, __u32 vip_id);

/* ---- program (loader.c, balancer.c) ---- */
struct ebb_attach_opts {
	const char *bpffs;
	const char *ifname;
	bool generic; /* XDP in the stack (skb) instead of the driver */
	__u32 flow_table_size; /* 0 = the pinned table's size, or EBB_FLOW_TABLE_SIZE */
};

struct ebb_link_info {
	char ifname[32];
	int ifindex;
	__u32 link_id, prog_id;
	char mode[12];
};

int ebb_prog_attach(const struct ebb_attach_opts *o, struct ebb_err *err);
struct ebb_upgrade {
	int devices;
	__u32 old_prog_id[64];
	__u32 new_prog_id;
	bool migrated; /* the maps had another layout: new maps, filled from the old */
	__u32 old_layout, new_layout;
	int maps_copied;
	__u64 flows_copied; /* flow entries copied before the swap */
	__u64 flows_after_swap; /* ... and those the old program made meanwhile, copied after it */
	/* Across the switch from the LRU to the bucket table: the old LRU's entries looked up in
	 * the new tables after the second copy (checked), not there (missing: lost), there with
	 * another node (other_node: re-placed by the new program, e.g. a new connection on the
	 * port); copies into full buckets (evicted: another flow's entry went) or into none
	 * (failed). */
	__u64 flows_checked, flows_missing, flows_other_node, flows_evicted, flows_failed;
};

/* Loads obj_path (NULL: the built-in balancer) over the pinned maps and swaps it in on every
 * attached device (bpf_link update): flows keep their nodes. Maps of another layout are
 * migrated when a known chain of steps leads to the object's (user/lib/migrate.c: new maps,
 * every entry copied), else refused. */
int ebb_prog_upgrade(const char *bpffs, const char *obj_path, struct ebb_upgrade *res,
		     struct ebb_err *err);
int ebb_prog_detach(const char *bpffs, const char *ifname, struct ebb_err *err);
/* Sizes an opened (not yet loaded) balancer's flow tables for `flows N`: the bucket table's
 * EBB_FT_BUCKETS(N) buckets and flows6's N entries, or the LRU's N entries of a layout before
 * the table (balancer.c). 0, or -errno (-ENOENT: no flow table). Every load of the balancer
 * sizes them this one way: a table of another size than the pinned one is not reused. */
int ebb_flow_maps_size(struct bpf_object *obj, __u32 flows);
int ebb_prog_list(const char *bpffs, struct ebb_link_info *out, int max);
/*
 * The balancer's attachments as they are now, each with its program held open (a detached
 * program has no other reference and would be gone); restore detaches what differs and
 * attaches each device again, in its mode, to the very program it ran (a new link id).
 */
struct ebb_attachments;
struct ebb_attachments *ebb_attachments_take(const char *bpffs);
int ebb_attachments_restore(const char *bpffs, const struct ebb_attachments *a,
			    struct ebb_err *err);
void ebb_attachments_free(struct ebb_attachments *a);

/* ---- the decapsulator on backends (decap.c) ---- */
/* Its pins: BPFFS/decap-<inode of this network namespace>, one directory per node. */
int ebb_decap_dir(const char *bpffs, char *buf, size_t len);
/* The directory holding this namespace's decapsulator maps: its decap-<inode> directory, or
 * BPFFS itself for pins an older ebbctl made there (one of its links runs here); -ENOENT if
 * none (buf: the directory an attach would make). */
int ebb_decap_state_dir(const char *bpffs, char *buf, size_t len);
int ebb_decap_attach(const char *bpffs, const char *ifname, bool generic, struct ebb_err *err);
int ebb_decap_detach(const char *bpffs, const char *ifname, struct ebb_err *err);
int ebb_decap_list(const char *bpffs, struct ebb_link_info *out, int max);
/* "ADDR" or "ADDR/LEN" */
int ebb_parse_prefix(const char *s, struct ebb_decap_key *key, struct ebb_err *err);
int ebb_decap_prefix(const char *bpffs, const struct ebb_decap_key *key, bool add,
		     struct ebb_err *err);
int ebb_decap_prefixes(const char *bpffs, struct ebb_decap_key *out, int max, struct ebb_err *err);
int ebb_decap_stat(const char *bpffs, __u32 reason, struct ebb_reason_counter *sum);
const char *ebb_decap_reason_name(__u32 reason);

/* ---- the node program on backends (node.c): rescues + the decapsulator ---- */
/* Its pins: BPFFS/node-<inode of this network namespace>, one directory per node. The
 * decapsulator's functions above work on that directory (decap_prefixes, decap_stats). */
int ebb_node_dir(const char *bpffs, char *buf, size_t len);
int ebb_node_attach(const char *bpffs, const char *ifname, bool generic, struct ebb_err *err);
int ebb_node_detach(const char *bpffs, const char *ifname, struct ebb_err *err);
int ebb_node_list(const char *bpffs, struct ebb_link_info *out, int max);
int ebb_node_stat(const char *bpffs, __u32 reason, struct ebb_reason_counter *sum);
const char *ebb_node_reason_name(__u32 reason);

/* ---- the node's connection count (conns.c, bpf/conns.bpf.c) ---- */
struct ebb_conns_entry {
	struct ebb_conns_key key;
	struct ebb_conns_val val;
};

struct ebb_conns_count {
	char boot_id[40]; /* /proc/sys/kernel/random/boot_id: a new one at each boot */
	__u64 netns; /* inode of the network namespace counted (the node) */
	__u64 boottime_ns; /* CLOCK_BOOTTIME when the walk began */
	__u64 end_boottime_ns; /* ... and when it ended */
	__u64 realtime_ns; /* the wall clock when it began, for people only */
	__u64 overflow; /* sockets not counted for want of room: the count is incomplete */
	int n;
};

/* One walk of this network namespace's TCP sockets: per local (address, port) whose address is in
 * the LPM map prefixes_fd (struct ebb_decap_key -> __u32; < 0: every address), sorted. Returns
 * the number of entries in out (at most max) or -errno with err set. */
int ebb_conns_count(int prefixes_fd, struct ebb_conns_entry *out, int max,
		    struct ebb_conns_count *c, struct ebb_err *err);
int ebb_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
		    unsigned char out[32]);
struct json_object;
/* The signed report: {"report": REPORT, "hmac_sha256": HEX}, the HMAC over exactly the bytes of
 * the REPORT string (malloc'ed; NULL on failure). verify: the report parsed, or NULL with err set
 * when the envelope is malformed or the HMAC does not hold. */
char *ebb_conns_sign(const char *report, const void *key, size_t keylen);
struct json_object *ebb_conns_verify(const char *envelope, const void *key, size_t keylen,
				     struct ebb_err *err);

/* ---- devices (netdev.c) ---- */
int ebb_device_mtu(const char *ifname, __u32 *mtu);
/* The first IPv4 and global IPv6 address of the device ebb is attached to (fills zeros only;
 * loader.c, which knows the device). */
int ebb_device_sources(const char *bpffs, __be32 *src4, __be32 *src6);

/* ---- neighbours (neigh.c): the MAC of a directly reachable node ---- */
int ebb_neigh_lookup(const struct ebb_addr *addr, __u8 mac[6]);

#endif /* LIBEBB_H */
