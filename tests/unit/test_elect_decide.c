// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The fleet's leader election (user/ebbd/elect_decide.c), pure functions, over its rules: when
 * the lease is asked for and kept alive, what etcd's replies make of it, when the leader key is
 * taken, who leads, what a host cut off from etcd believes, and the margin before it decides.
 * Last, two hosts against one leader key whose lease etcd expires: never both say they lead.
 */
#include <string.h>

#include "elect_decide.h"
#include "test.h"

#define S 1000000000ULL
#define MS 1000000ULL
#define T0 (1000 * S)
#define TTL 10 /* lease-ttl, seconds */

static void test_lease_ask(void)
{
	struct elect_lease none = {}, held = { .id = 7, .until = T0 + 10 * S, .next_keepalive = T0 + 2500 * MS };

	ASSERT_EQ(elect_lease_ask(&none, T0), ELECT_ASK_GRANT, "ask: no lease: a grant");
	ASSERT_EQ(elect_lease_ask(&held, T0 + 2499 * MS), ELECT_ASK_NOTHING, "ask: a lease, its keepalive not due: nothing");
	ASSERT_EQ(elect_lease_ask(&held, T0 + 2500 * MS), ELECT_ASK_KEEPALIVE, "ask: its keepalive due: a keepalive");
}

static void test_lease_replies(void)
{
	struct elect_lease none = {}, held = { .id = 7, .until = T0 + 3 * S, .next_keepalive = T0 }, next;
	struct elect_reply granted = { .answered = true, .granted = 42 }, silent = {},
			   alive = { .answered = true, .ttl = 8 }, expired = { .answered = true, .ttl = 0 },
			   gone = { .answered = true, .ttl = -1 };

	ASSERT_EQ(elect_lease_next(&none, ELECT_ASK_GRANT, &granted, T0, TTL, &next), ELECT_LEASE_NEW, "grant: new");
	ASSERT_TRUE(next.id == 42 && next.until == T0 + 10 * S && next.next_keepalive == T0 + 2500 * MS,
		    "grant: its id, lives TTL from before the request, keepalive at TTL/4");
	ASSERT_EQ(elect_lease_next(&none, ELECT_ASK_GRANT, &silent, T0, TTL, &next), ELECT_LEASE_NO_ANSWER,
		  "grant, no answer: none");
	ASSERT_TRUE(next.id == 0, "grant, no answer: still no lease");
	ASSERT_EQ(elect_lease_next(&held, ELECT_ASK_KEEPALIVE, &alive, T0, TTL, &next), ELECT_LEASE_RENEWED,
		  "keepalive: renewed");
	ASSERT_TRUE(next.id == 7 && next.until == T0 + 8 * S && next.next_keepalive == T0 + 2500 * MS,
		    "keepalive: lives etcd's 8 s from before the request; the next keepalive at TTL/4");
	ASSERT_EQ(elect_lease_next(&held, ELECT_ASK_KEEPALIVE, &silent, T0, TTL, &next), ELECT_LEASE_NO_ANSWER,
		  "keepalive, no answer");
	ASSERT_TRUE(next.id == 7 && next.until == T0 + 3 * S && next.next_keepalive == T0,
		    "keepalive, no answer: the lease as it was, not extended");
	ASSERT_EQ(elect_lease_next(&held, ELECT_ASK_KEEPALIVE, &expired, T0, TTL, &next), ELECT_LEASE_EXPIRED,
		  "keepalive, ttl 0: expired");
	ASSERT_TRUE(next.id == 0 && next.until == 0, "expired: no lease, lives until nothing");
	ASSERT_EQ(elect_lease_next(&held, ELECT_ASK_KEEPALIVE, &gone, T0, TTL, &next), ELECT_LEASE_EXPIRED,
		  "keepalive, ttl -1 (unknown lease): expired");
	ASSERT_EQ(elect_lease_next(&held, ELECT_ASK_NOTHING, &silent, T0, TTL, &next), ELECT_LEASE_HELD,
		  "nothing asked: held");
	ASSERT_TRUE(!memcmp(&next, &held, sizeof(next)), "nothing asked: as it was");
}

static void test_take_and_lead(void)
{
	struct elect_view v = { .holder = "", .host = "lb1", .lease = true, .until = T0 + 5 * S, .now = T0 };

	ASSERT_TRUE(elect_take_key(&v), "take: free, with a lease: take it");
	v.lease = false;
	ASSERT_TRUE(!elect_take_key(&v), "take: free, no lease: not (the key would outlive this host)");
	v.lease = true;
	v.holder = "lb2";
	ASSERT_TRUE(!elect_take_key(&v), "take: held by lb2: not");
	ASSERT_TRUE(!elect_leads(&v), "lead: the key names lb2: lb1 does not lead");
	v.holder = "lb1";
	ASSERT_TRUE(!elect_take_key(&v), "take: held by this host: not again");
	ASSERT_TRUE(elect_leads(&v), "lead: the key names this host, its lease lives: leads");
	v.holder = "lb10";
	ASSERT_TRUE(!elect_leads(&v), "lead: lb10 is not lb1");
	v.holder = "lb1";
	v.now = T0 + 5 * S;
	ASSERT_TRUE(!elect_leads(&v), "lead: at the lease's end: no more");
	v.now = T0;
	v.lease = false;
	ASSERT_TRUE(!elect_leads(&v), "lead: no lease (expired): no more, whatever the key says");
}

static void test_cut_off(void)
{
	ASSERT_TRUE(!elect_lease_may_be_gone(T0 + S, T0 + S - 1), "cut off: before the lease's end: keeps its belief");
	ASSERT_TRUE(elect_lease_may_be_gone(T0 + S, T0 + S), "cut off: at the lease's end: leads no more");
	ASSERT_TRUE(elect_lease_may_be_gone(0, T0), "cut off: without a lease: leads no more");
}

static void test_say_and_decide(void)
{
	__u64 until = T0 + 10 * S;

	ASSERT_TRUE(elect_says_leads(true, until, until - 1), "say: leading, 1 ns of lease left: says so");
	ASSERT_TRUE(!elect_says_leads(true, until, until), "say: at the end of the lease: not (stopped past it)");
	ASSERT_TRUE(!elect_says_leads(false, until, T0), "say: not leading: not");
	ASSERT_TRUE(elect_may_decide(true, true, until, until - 501 * MS), "decide: 501 ms of lease left: decides");
	ASSERT_TRUE(!elect_may_decide(true, true, until, until - 500 * MS), "decide: 500 ms left: not (a write takes time)");
	ASSERT_TRUE(!elect_may_decide(true, false, until, T0), "decide: etcd not answering: not");
	ASSERT_TRUE(!elect_may_decide(false, true, until, T0), "decide: not leading: not");
}

/*
 * Two hosts polling one etcd every 100 ms. etcd's side: a lease lives TTL seconds after the
 * grant or keepalive arrives (each request takes 30 ms to arrive) and the leader key goes with
 * its lease. lb1 is stopped (SIGSTOP) at 3 s and resumed at 20 s: it still believes it leads.
 */
struct host {
	const char *name;
	struct elect_lease lease;
	bool leading;
	__s64 etcd_id; /* etcd's record of its lease */
	__u64 etcd_expires;
};

static struct {
	const char *holder; /* the leader key */
	__s64 holder_lease;
	__s64 next_id;
} etcd = { .holder = "", .next_id = 1 };

#define LATENCY (30 * MS)

static void host_poll(struct host *h, __u64 t0)
{
	enum elect_ask ask = elect_lease_ask(&h->lease, t0);
	struct elect_reply r = { .answered = true };
	struct elect_lease next;
	__u64 at_etcd = t0 + LATENCY;

	if (ask == ELECT_ASK_GRANT) {
		h->etcd_id = r.granted = etcd.next_id++;
		h->etcd_expires = at_etcd + TTL * S;
	} else if (ask == ELECT_ASK_KEEPALIVE) {
		if (h->etcd_id == h->lease.id && at_etcd < h->etcd_expires) {
			h->etcd_expires = at_etcd + TTL * S;
			r.ttl = TTL;
		}
	}
	if (elect_lease_next(&h->lease, ask, &r, t0, TTL, &next) == ELECT_LEASE_EXPIRED)
		h->leading = false;
	h->lease = next;
	if (h->lease.id) {
		struct elect_view v = { .holder = etcd.holder, .host = h->name, .lease = true,
					.until = h->lease.until, .now = at_etcd + LATENCY };

		if (elect_take_key(&v)) {
			etcd.holder = h->name;
			etcd.holder_lease = h->lease.id;
		}
		v.holder = etcd.holder;
		h->leading = elect_leads(&v);
	}
}

/* etcd expires the leases whose time has come, and the leader key with its lease. */
static void etcd_expire(struct host *hosts, int n, __u64 now)
{
	for (int i = 0; i < n; i++)
		if (hosts[i].etcd_id && now >= hosts[i].etcd_expires) {
			if (etcd.holder_lease == hosts[i].etcd_id)
				etcd.holder = "";
			hosts[i].etcd_id = 0;
		}
}

static void test_two_hosts(void)
{
	struct host hosts[2] = { { .name = "lb1" }, { .name = "lb2" } };
	int both = 0, lb2_led_at = -1;
	bool lb1_led = false;

	for (__u64 t = T0; t < T0 + 30 * S; t += 100 * MS) {
		bool stopped = t >= T0 + 3 * S && t < T0 + 20 * S;
		__u64 ms = (t - T0) / MS;

		etcd_expire(hosts, 2, t);
		if (!stopped)
			host_poll(&hosts[0], t);
		if (t >= T0 + 50 * MS)
			host_poll(&hosts[1], t + 50 * MS);
		etcd_expire(hosts, 2, t + 99 * MS);
		lb1_led |= elect_says_leads(hosts[0].leading, hosts[0].lease.until, t);
		/* what each would say now, lb1 stopped included (its page is a cached one) */
		for (__u64 d = 0; d < 100 * MS; d += 10 * MS)
			both += elect_says_leads(hosts[0].leading, hosts[0].lease.until, t + d) &&
				elect_says_leads(hosts[1].leading, hosts[1].lease.until, t + d);
		if (lb2_led_at < 0 && hosts[1].leading)
			lb2_led_at = (int)ms;
	}
	ASSERT_TRUE(lb1_led, "two hosts: lb1, first, led");
	ASSERT_TRUE(lb2_led_at >= 3000 + TTL * 1000 - 1000 && lb2_led_at <= 3000 + TTL * 1000 + 1000,
		    "two hosts: lb2 leads once lb1's lease expired in etcd, about TTL after lb1 stopped");
	printf("#   lb2 led from %d ms\n", lb2_led_at);
	ASSERT_EQ(both, 0, "two hosts: never both say they lead, lb1 stopped past its lease included");
	ASSERT_TRUE(!hosts[0].leading && hosts[1].leading,
		    "two hosts: lb1 resumed finds its lease expired and the key lb2's: lb2 leads alone");
}

int main(void)
{
	test_lease_ask();
	test_lease_replies();
	test_take_and_lead();
	test_cut_off();
	test_say_and_decide();
	test_two_hosts();
	printf("1..%d\n", test_checks);
	return test_failures ? 1 : 0;
}
