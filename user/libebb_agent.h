/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libebb additions for long-running readers of the pinned state (ebbd): a lock that never
 * blocks, whole-map reads in a few syscalls, and a flow-table walk that can stop and resume so
 * that its cost can be spread over time.
 */
#ifndef LIBEBB_AGENT_H
#define LIBEBB_AGENT_H

#include "libebb.h"

/* ebb_lock without waiting: -EWOULDBLOCK while another writer holds it. */
int ebb_trylock(struct ebb *e);
void ebb_unlock(struct ebb *e);

/* Reads up to max entries of a map (array or hash) with batch lookups; returns how many. */
int ebb_map_dump(int map_fd, void *keys, void *vals, __u32 max, __u32 key_size, __u32 val_size);

/* A walk of the flow table (ebbd's fallback when the census cannot list a node's flows). */
struct ebb_walk {
	bool started; /* always false between calls: a walk is one call */
	__u64 visited; /* entries seen by the last walk */
};

/*
 * Calls fn for every flow of the table (ebb_flows_each's: IPv4 in the mapped bucket table,
 * flows6) and returns 1, or < 0 on errors. cpu_budget_ns is kept for callers that paced the LRU
 * walk and is not used: the mapped walk takes milliseconds. An entry may be seen twice or missed
 * only if it was added or deleted during the walk.
 */
int ebb_flows_walk(struct ebb *e, struct ebb_walk *w, __u64 cpu_budget_ns,
		   void (*fn)(const struct ebb_flow_key *key, const struct ebb_flow *val, void *ctx),
		   void *ctx);
void ebb_walk_free(struct ebb_walk *w);

/*
 * The census: one pass over the flow table in user space (the IPv4 bucket table mmapped and
 * read in place, flows6 with batch lookups), counting live flows per node and listing those of
 * watched nodes. Open it once per flow table (ebb_census_current says whether e's table is
 * still the one it counts); fill the inputs of ebb_census_io(), run, read the outputs there
 * and, for the n_keys listed (at most EBB_CENSUS_KEYS), ebb_census_keys(). A run also clears
 * the entries no rule needs any more (finished or idle past their timeout by 3 ticks, a watched
 * node's only past an hour; io's `cleared`), so that no entry lives to see its 12-bit tick wrap: a table must have a census
 * at least every ~12 minutes (doc/flow-table.md, "The census over the table"). -errno where
 * the table is not the bucket table (another layout: `prog upgrade` migrates it).
 */
struct ebb_census;
/* A VIP's timeouts as the census takes them (NULL: the defaults), by the rules in libebb.h. */
static inline struct ebb_census_vip ebb_census_vip_of(const struct ebb_vip *v)
{
	return (struct ebb_census_vip){
		.tcp_idle_ns = ebb_flow_ends_after_ns(v, IPPROTO_TCP, 0),
		.udp_idle_ns = ebb_flow_ends_after_ns(v, IPPROTO_UDP, 0),
		.fin_ns = (__u64)ebb_or_default(v ? v->fin_s : 0, EBB_DEFAULT_FIN_S) * 1000000000ULL,
	};
}
int ebb_census_open(struct ebb *e, struct ebb_census **c);
void ebb_census_close(struct ebb_census *c);
bool ebb_census_current(struct ebb_census *c, struct ebb *e);
struct ebb_census_io *ebb_census_io(struct ebb_census *c);
int ebb_census_run(struct ebb_census *c);
int ebb_census_keys(struct ebb_census *c, struct ebb_census_key *keys, __u32 n);
/*
 * The longest timeout (idle or FIN) the census applies: an entry's 12-bit tick of 2^30 ns
 * tells ages apart only up to ~72 minutes, so a longer VIP timeout is taken as this one (its
 * flows are judged ended, and cleared, after an hour quiet). `vip add`/`vip set` still accept
 * up to EBB_MAX_TIMEOUT_S.
 */
#define EBB_CENSUS_MAX_TIMEOUT_S 3600ULL

/*
 * ebbd's judgement of each draining node (issue 14), pinned as BPFFS/ebbd_drains (a BPF array of
 * EBB_MAX_NODES entries by node id, read by `ebbctl node show`). Not part of the datapath's
 * layout: no program reads it.
 */
#define EBB_DRAINS_PIN "ebbd_drains"
struct ebb_drain_view {
	__u64 since; /* the drain it speaks of: the node's state_since_ns then */
	__u64 node_live; /* verified: the node's live connections, its last report of this drain */
	__u64 node_reset; /* and the rescues it answered with a RST since the drain began */
	__u64 at_ns; /* CLOCK_MONOTONIC of the decision */
	__s64 flows_cut; /* retired: what the drain cut (verified: the node's figure; else the LB's
			  * estimate) */
	__be32 addr[4]; /* the node (an id is reused by the next node added after a delete) */
	__u8 family;
	__u8 verified; /* 1: the node's own report judges the drain; 0: the LB's flow table does */
	__u8 truth; /* what ebbd has of the node's report: 0 none, 1 pending, 2 ok, 3 failed */
	__u8 retired; /* the drain is over: the node was retired (flows_cut says with what) */
	__u8 pad[4];
	char reason[32]; /* the decision's reason ("node_live", "lb_flows_live", ...) */
};
/* The pinned array's fd (created and pinned when missing and `create`), or -errno. */
int ebb_drains_open(const char *bpffs, bool create);
/* Node id's entry when it speaks of the drain that began at `since` (0: of its last drain, over
 * or not); -ENOENT when it does not (or nothing is pinned: no ebbd has judged a drain here). */
int ebb_drains_read(const char *bpffs, __u32 id, __u64 since, struct ebb_drain_view *v);

/*
 * ebbd's heartbeat (issue 17), pinned as BPFFS/ebbd_beat (a BPF array of one entry, written by
 * ebbd every tick): how ebbctl tells whether anything will act on a change (retire a drain).
 * A map beside the state rather than a pid file: it lives where the state lives (a lab's private
 * bpffs, a fleet host's), needs no /run, and its age says a hung or killed ebbd too.
 */
#define EBB_BEAT_PIN "ebbd_beat"
struct ebb_agent_beat {
	__u64 at_ns; /* CLOCK_MONOTONIC of ebbd's last tick */
	__u64 started_ns; /* when it started */
	__u32 pid;
	__u32 tick_ms; /* its drain-check period */
	__u8 stopped; /* it exited cleanly (then at_ns is when) */
	__u8 fleet; /* it runs in fleet mode */
	__u8 pad[6];
};
int ebb_beat_write(const char *bpffs, const struct ebb_agent_beat *b);
/* -ENOENT when no ebbd ever ran on this state. */
int ebb_beat_read(const char *bpffs, struct ebb_agent_beat *b);
/* Whether an ebbd is running on this state now: true, or false with why ("stopped 42 s ago"). */
bool ebb_agent_running(const char *bpffs, char *why, size_t len);

/*
 * ebbctl's record of each change it made (issue 17), for ebbd's log and status page: a BPF
 * queue pinned as BPFFS/ebbctl_changes, pushed by ebbctl after a change, popped by ebbd. ebbd
 * cannot see who wrote a map; ebbctl says it here. A queue rather than a file: one push is one
 * whole record (no torn lines between two ebbctls), it is bounded (when full the oldest record
 * gives way: BPF_EXIST), it lives with the state (a lab's bpffs, gone with it), and a record
 * pushed while no ebbd runs waits for the next one, which logs it with its own time.
 */
#define EBB_CHANGES_PIN "ebbctl_changes"
#define EBB_CHANGES_MAX 256
struct ebb_change_rec {
	__u64 realtime_ns; /* when the change was made (CLOCK_REALTIME) */
	__u32 uid; /* the real uid of ebbctl */
	__u32 loginuid; /* the audit login uid (the operator behind sudo); ~0 when unset */
	__u32 pid;
	__s32 rc; /* 0: done */
	char cmd[240]; /* the command line, words joined by spaces (truncated) */
	char what[240]; /* what it did, as ebbctl said it */
};
int ebb_change_push(const char *bpffs, const struct ebb_change_rec *r);
/* The queue's fd (created and pinned when missing and `create`), or -errno. */
int ebb_changes_open(const char *bpffs, bool create);

#endif /* LIBEBB_AGENT_H */
