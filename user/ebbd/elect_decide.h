/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The fleet's leader election as pure functions: no I/O, no clock, no global.
 * fleet_elect.c asks etcd and hands the answers in; these say what to ask next, what the lease
 * is worth now, whether to take the leader key and whether this host leads.
 * tests/unit/test_elect_decide.c runs them, and two hosts against one key.
 *
 * The rules:
 *  - a host holds one lease (granted for lease-ttl seconds, kept alive every TTL/4); the leader
 *    key is created under it, so it goes with the lease;
 *  - the lease surely lives until `until`, counted from before the request that granted or
 *    renewed it: it never outlives the lease in etcd, where the leader key goes with it before
 *    another host can take it. Two hosts never say that they lead at once, even when one was
 *    stopped past its lease and has not asked etcd since;
 *  - the key is taken only when this poll's read found it free and this host has a lease;
 *  - a host leads while the key names it, it has a lease and the lease surely lives; cut off
 *    from etcd it keeps what it believed until the lease may have gone, then leads no more;
 *  - it decides (writes fenced by the leader key) only with etcd answering and a margin of
 *    ELECT_DECIDE_MARGIN_NS left on its lease: a write takes time to land.
 */
#ifndef EBBD_ELECT_DECIDE_H
#define EBBD_ELECT_DECIDE_H

#include <stdbool.h>
#include <linux/types.h>

#define ELECT_DECIDE_MARGIN_NS (500 * 1000000ULL)

struct elect_lease {
	__s64 id; /* 0: none */
	__u64 until; /* monotonic: surely lives until then (0: not known to) */
	__u64 next_keepalive;
};

enum elect_ask {
	ELECT_ASK_NOTHING,
	ELECT_ASK_GRANT, /* no lease: ask for one */
	ELECT_ASK_KEEPALIVE, /* its keepalive is due */
};

/* etcd's reply to a grant or keepalive. */
struct elect_reply {
	bool answered; /* false: no answer (etcd unreachable, an error) */
	__s64 granted; /* grant: the lease's id */
	__s64 ttl; /* keepalive: seconds the lease has left; <= 0: it has expired */
};

enum elect_lease_verdict {
	ELECT_LEASE_HELD, /* nothing asked: as it was */
	ELECT_LEASE_NEW, /* granted */
	ELECT_LEASE_RENEWED,
	ELECT_LEASE_EXPIRED, /* gone in etcd, and the leader key with it: take a new one at once */
	ELECT_LEASE_NO_ANSWER, /* as it was (no lease after a grant without an answer) */
};

/* The leader key as this poll's read (answered) found it. */
struct elect_view {
	const char *holder; /* the key's value, the host that leads; "": free */
	const char *host; /* this host */
	bool lease; /* this host holds a lease */
	__u64 until; /* the lease's `until` */
	__u64 now;
};

enum elect_ask elect_lease_ask(const struct elect_lease *l, __u64 now);
/* The lease after etcd's reply r to `ask`, sent at t0; lease_ttl_s: the configured TTL. */
enum elect_lease_verdict elect_lease_next(const struct elect_lease *l, enum elect_ask ask,
					  const struct elect_reply *r, __u64 t0, int lease_ttl_s,
					  struct elect_lease *next);
bool elect_take_key(const struct elect_view *v);
bool elect_leads(const struct elect_view *v);
/* Cut off from etcd: whether the lease may have gone, and this host's lead with it (until then
 * it keeps what it believed). */
bool elect_lease_may_be_gone(__u64 until, __u64 now);
/* Whether a host that believes it leads may say so (report, metrics, status page). */
bool elect_says_leads(bool leading, __u64 until, __u64 now);
/* Whether it may decide for the fleet now. */
bool elect_may_decide(bool leading, bool etcd_ok, __u64 until, __u64 now);

#endif
