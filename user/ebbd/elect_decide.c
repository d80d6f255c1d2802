// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The leader election's decisions (elect_decide.h says the rules). */
#include <string.h>

#include "elect_decide.h"

#define NS_PER_S 1000000000ULL

enum elect_ask elect_lease_ask(const struct elect_lease *l, __u64 now)
{
	if (!l->id)
		return ELECT_ASK_GRANT;
	return now >= l->next_keepalive ? ELECT_ASK_KEEPALIVE : ELECT_ASK_NOTHING;
}

enum elect_lease_verdict elect_lease_next(const struct elect_lease *l, enum elect_ask ask,
					  const struct elect_reply *r, __u64 t0, int lease_ttl_s,
					  struct elect_lease *next)
{
	*next = *l;
	switch (ask) {
	case ELECT_ASK_NOTHING:
		return ELECT_LEASE_HELD;
	case ELECT_ASK_GRANT:
		if (!r->answered) {
			next->id = 0;
			return ELECT_LEASE_NO_ANSWER;
		}
		next->id = r->granted;
		next->until = t0 + lease_ttl_s * NS_PER_S;
		next->next_keepalive = t0 + lease_ttl_s * NS_PER_S / 4;
		return ELECT_LEASE_NEW;
	case ELECT_ASK_KEEPALIVE:
		if (!r->answered)
			return ELECT_LEASE_NO_ANSWER;
		if (r->ttl <= 0) {
			next->id = 0;
			next->until = 0;
			return ELECT_LEASE_EXPIRED;
		}
		/* etcd's ttl, not the configured one: what is left of the lease there */
		next->until = t0 + r->ttl * NS_PER_S;
		next->next_keepalive = t0 + lease_ttl_s * NS_PER_S / 4;
		return ELECT_LEASE_RENEWED;
	}
	return ELECT_LEASE_HELD;
}

bool elect_take_key(const struct elect_view *v)
{
	return v->lease && !v->holder[0];
}

bool elect_leads(const struct elect_view *v)
{
	return v->lease && !strcmp(v->holder, v->host) && !elect_lease_may_be_gone(v->until, v->now);
}

bool elect_lease_may_be_gone(__u64 until, __u64 now)
{
	return now >= until;
}

bool elect_says_leads(bool leading, __u64 until, __u64 now)
{
	return leading && !elect_lease_may_be_gone(until, now);
}

bool elect_may_decide(bool leading, bool etcd_ok, __u64 until, __u64 now)
{
	return leading && etcd_ok && now + ELECT_DECIDE_MARGIN_NS < until;
}
