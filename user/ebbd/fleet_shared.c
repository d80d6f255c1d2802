// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The fleet's shared state (fleet_shared.h) and what every fleet file asks of it. */
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

struct fleet_shared fleet_sh = { .mu = PTHREAD_MUTEX_INITIALIZER };

struct etcd fleet_main_etcd;
bool fleet_main_etcd_ok;

__u64 fleet_mono_ns(void)
{
	return ebb_now_ns();
}

void fleet_own_key(char *buf, size_t len, const char *rest)
{
	fleet_key(buf, len, fleet_sh.cfg.name, rest);
}

long fleet_etcd_timeout_ms(void)
{
	long t = fleet_sh.cfg.lease_ttl * 1000L / (2 * fleet_sh.cfg.n_etcd);

	return t < 200 ? 200 : t > 1000 ? 1000 : t;
}

/* The fleet block's etcd security, as etcd_init takes it (strings owned by fleet_sh.cfg). */
const struct etcd_sec *fleet_etcd_sec(void)
{
	static struct etcd_sec sec;

	sec = (struct etcd_sec){ .ca = fleet_sh.cfg.etcd_ca, .cert = fleet_sh.cfg.etcd_cert, .key = fleet_sh.cfg.etcd_key,
				 .user = fleet_sh.cfg.etcd_user, .password_file = fleet_sh.cfg.etcd_password_file,
				 .insecure = fleet_sh.cfg.etcd_insecure };
	return &sec;
}

/*
 * Whether this host may say that it leads (its report, the metrics, the status page): it took
 * the leader key and its lease surely still lives, so that two hosts never say so at once, even
 * when this one was stopped past its lease (elect_decide.h). Called with fleet_sh.mu held.
 */
bool fleet_leads_now(void)
{
	return elect_says_leads(fleet_sh.leader, fleet_sh.lease_until, fleet_mono_ns());
}


bool fleet_is_leader(void)
{
	bool l;

	if (!fleet_sh.running)
		return true;
	pthread_mutex_lock(&fleet_sh.mu);
	l = elect_may_decide(fleet_sh.leader, fleet_sh.etcd_ok, fleet_sh.lease_until, fleet_mono_ns());
	pthread_mutex_unlock(&fleet_sh.mu);
	return l;
}
