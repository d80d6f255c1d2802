// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The leader election, the sync thread's part of each poll: this host's lease (granted once,
 * kept alive every TTL/4) and the leader key (created under the lease when free). etcd's
 * answers go to elect_decide.c, which says what they are worth; this file asks, logs, and
 * publishes the outcome in fleet_sh for the main loop (fleet_leads_now, fleet_is_leader).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "fleet_shared.h"

static void set_leader(bool leader, const char *who)
{
	bool was;

	pthread_mutex_lock(&fleet_sh.mu);
	was = fleet_sh.leader;
	fleet_sh.leader = leader;
	snprintf(fleet_sh.leader_name, sizeof(fleet_sh.leader_name), "%s", who ? who : "");
	pthread_mutex_unlock(&fleet_sh.mu);
	if (leader != was)
		log_msg(LOG_INFO, leader ? "fleet_leader" : "fleet_leader_lost",
			leader ? "this host (%s) now decides for fleet %s" : "this host (%s) no longer decides for fleet %s",
			fleet_sh.cfg.host, fleet_sh.cfg.name);
}

static void publish_until(__u64 until)
{
	pthread_mutex_lock(&fleet_sh.mu);
	fleet_sh.lease_until = until;
	pthread_mutex_unlock(&fleet_sh.mu);
}

void fleet_elect_init(struct fleet_elect *el)
{
	*el = (struct fleet_elect){};
	fleet_own_key(el->key, sizeof(el->key), "leader");
}

int fleet_elect_lease(struct etcd *c, struct fleet_elect *el, __u64 t0, bool *granted)
{
	enum elect_ask ask = elect_lease_ask(&el->lease, t0);
	struct elect_reply r = {};
	struct elect_lease next;
	int64_t v = 0;

	if (ask == ELECT_ASK_GRANT) {
		r.answered = !etcd_lease_grant(c, fleet_sh.cfg.lease_ttl, &v);
		r.granted = v;
	} else if (ask == ELECT_ASK_KEEPALIVE) {
		r.answered = !etcd_lease_keepalive(c, el->lease.id, &v);
		r.ttl = v;
	}
	switch (elect_lease_next(&el->lease, ask, &r, t0, fleet_sh.cfg.lease_ttl, &next)) {
	case ELECT_LEASE_HELD:
		return 0;
	case ELECT_LEASE_NO_ANSWER:
		el->lease = next;
		return -1;
	case ELECT_LEASE_EXPIRED:
		log_msg(LOG_WARN, "fleet_lease_expired", "lease of host %s expired; taking a new one",
			fleet_sh.cfg.host);
		el->lease = next;
		publish_until(next.until);
		set_leader(false, NULL);
		return 1;
	case ELECT_LEASE_NEW:
		*granted = true;
		/* fall through */
	case ELECT_LEASE_RENEWED:
		el->lease = next;
		publish_until(next.until);
		return 0;
	}
	return 0;
}

void fleet_elect_cut_off(const struct fleet_elect *el)
{
	if (elect_lease_may_be_gone(el->lease.until, fleet_mono_ns()))
		set_leader(false, NULL);
}

void fleet_elect_leader(struct etcd *c, const struct fleet_elect *el, char *holder, size_t len)
{
	struct elect_view v = { .holder = holder, .host = fleet_sh.cfg.host, .lease = el->lease.id != 0,
				.until = el->lease.until };

	if (elect_take_key(&v)) {
		json_object *cmp = json_object_new_array(), *ops = json_object_new_array();
		bool won = false;

		json_object_array_add(cmp, etcd_cmp(el->key, "CREATE", "EQUAL", 0, NULL));
		json_object_array_add(ops, etcd_op_put(el->key, fleet_sh.cfg.host, el->lease.id));
		if (!etcd_txn(c, cmp, ops, NULL, &won, NULL, NULL) && won)
			snprintf(holder, len, "%s", fleet_sh.cfg.host);
	}
	v.now = fleet_mono_ns();
	set_leader(elect_leads(&v), holder);
}

void fleet_elect_resign(struct etcd *c, struct fleet_elect *el)
{
	/* the lease goes at once: the leader key with it, and another host leads */
	if (el->lease.id)
		etcd_lease_revoke(c, el->lease.id);
	el->lease.id = 0;
}
