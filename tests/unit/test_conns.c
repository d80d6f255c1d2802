// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the node's connection count (bpf/conns.bpf.c through ebb_conns_count): a TCP
 * socket iterator over the node's own socket table. The suite moves into a network namespace of
 * its own (unshare) and opens REAL connections there: established ones to two VIPs' ports over
 * IPv4 and IPv6, one through a dual-stack listener, a handshake in progress, a TIME_WAIT one,
 * listeners, connections to a local address that is no VIP. Each count must equal, entry for
 * entry, the truth computed independently from /proc/net/tcp and /proc/net/tcp6 by the same rule
 * (every state but LISTEN and TIME_WAIT is live), and the numbers the suite built; closing
 * connections lowers them, once the kernel says the sockets went (an event, not a delay).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "ebb.h"
#include "libebb.h"
#include "packets.h"
#include "test.h"
#include "fixture.h"
#include "sockets.h"

#define VIP4 "203.0.113.10"
#define VIP6 "2001:db8:100::10"
#define CLI4 "198.51.100.200"
#define CLI6 "2001:db8:1::100"
#define OTHER4 "192.0.2.50" /* a local address that is no VIP: the node's own services */
#define HALF4 "192.0.2.77" /* a SYN from here gets no answer back: SYN_RECV stays */
#define HALF_PORT 41000
#define N_EST4 5

static int prefixes_fd = -1;

/* ---- the truth, from /proc/net/tcp{,6}: the kernel's text view of the same table ---- */
static int truth_add(struct ebb_conns_entry *t, int n, const struct ebb_conns_key *k, unsigned st)
{
	int i;

	for (i = 0; i < n; i++)
		if (!memcmp(&t[i].key, k, sizeof(*k)))
			break;
	if (i == n) {
		memset(&t[n], 0, sizeof(t[n]));
		t[n++].key = *k;
	}
	if (st == EBB_TCP_TIME_WAIT)
		t[i].val.time_wait++;
	else
		t[i].val.live++;
	return n;
}

static bool in_prefixes(const struct ebb_conns_key *k)
{
	struct ebb_decap_key pk = { .prefixlen = 32 + (k->family == EBB_FAMILY_V4 ? 32 : 128),
				    .family = k->family };
	__u32 v;

	memcpy(pk.addr, k->addr, sizeof(pk.addr));
	return !bpf_map_lookup_elem(prefixes_fd, &pk, &v);
}

static int truth(struct ebb_conns_entry *t, int max, bool all)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	char line[512];
	int n = 0;

	for (int f = 0; f < 2; f++) {
		FILE *fp = fopen(files[f], "r");

		while (fp && fgets(line, sizeof(line), fp)) {
			struct ebb_conns_key k = {};
			unsigned a[4], port, st;

			if (f == 0) {
				if (sscanf(line, " %*d: %8x:%x %*x:%*x %x", &a[0], &port, &st) != 3)
					continue;
				k.family = EBB_FAMILY_V4;
				k.addr[0] = a[0];
			} else {
				if (sscanf(line, " %*d: %8x%8x%8x%8x:%x %*x:%*x %x", &a[0], &a[1], &a[2],
					   &a[3], &port, &st) != 6)
					continue;
				if (!a[0] && !a[1] && a[2] == htonl(0xffff)) {
					k.family = EBB_FAMILY_V4;
					k.addr[0] = a[3];
				} else {
					k.family = EBB_FAMILY_V6;
					memcpy(k.addr, a, sizeof(a));
				}
			}
			k.port = port;
			if (st == EBB_TCP_LISTEN || (!all && !in_prefixes(&k)) || n >= max)
				continue;
			n = truth_add(t, n, &k, st);
		}
		if (fp)
			fclose(fp);
	}
	return n;
}

static const struct ebb_conns_val *find(const struct ebb_conns_entry *e, int n, const char *addr,
					int port)
{
	struct ebb_conns_key k = { .port = port };

	k.family = strchr(addr, ':') ? EBB_FAMILY_V6 : EBB_FAMILY_V4;
	inet_pton(k.family == EBB_FAMILY_V6 ? AF_INET6 : AF_INET, addr, k.addr);
	for (int i = 0; i < n; i++)
		if (!memcmp(&e[i].key, &k, sizeof(k)))
			return &e[i].val;
	return NULL;
}

static __u64 live(const struct ebb_conns_entry *e, int n, const char *addr, int port)
{
	const struct ebb_conns_val *v = find(e, n, addr, port);

	return v ? v->live : 0;
}

static __u64 tw(const struct ebb_conns_entry *e, int n, const char *addr, int port)
{
	const struct ebb_conns_val *v = find(e, n, addr, port);

	return v ? v->time_wait : 0;
}

/* One count, checked entry for entry against /proc; returns the count's entries in e. */
static int count_and_compare(const char *when, bool all, struct ebb_conns_entry *e, int max)
{
	static struct ebb_conns_entry t[1024];
	struct ebb_conns_count c;
	struct ebb_err err = {};
	int n = ebb_conns_count(all ? -1 : prefixes_fd, e, max, &c, &err), nt, same = 0;

	if (!ASSERT_TRUE(n >= 0, nm(when, "%s: counted (%s)", all ? "all" : "VIPs", err.msg)))
		return -1;
	ASSERT_EQ(c.overflow, 0, nm(when, "%s: complete", all ? "all" : "VIPs"));
	ASSERT_TRUE(strlen(c.boot_id) == 36 && c.boottime_ns && c.end_boottime_ns >= c.boottime_ns,
		    nm(when, "%s: boot id and CLOCK_BOOTTIME of the walk", all ? "all" : "VIPs"));
	nt = truth(t, 1024, all);
	for (int i = 0; i < nt; i++) {
		const struct ebb_conns_val *v = NULL;

		for (int j = 0; j < n && !v; j++)
			if (!memcmp(&e[j].key, &t[i].key, sizeof(t[i].key)))
				v = &e[j].val;
		if (v && v->live == t[i].val.live && v->time_wait == t[i].val.time_wait)
			same++;
		else
			printf("#   port %u: /proc live %llu tw %llu, counted %s\n", t[i].key.port,
			       (unsigned long long)t[i].val.live,
			       (unsigned long long)t[i].val.time_wait, v ? "other" : "none");
	}
	ASSERT_TRUE(same == nt && nt == n,
		    nm(when, "%s: %d entries, each as /proc/net/tcp{,6} says (%d of %d)",
		       all ? "all" : "VIPs", n, same, nt));
	return n;
}

/* A SYN to VIP4:80 from HALF4 (a raw socket: no socket of ours has that address), the SYN-ACK
 * routed nowhere useful: the listener keeps a request socket in SYN_RECV while we count. */
static bool half_open(void)
{
	if (!ASSERT_OK(system("ip route add " HALF4 "/32 dev lo"), "setup: a route for " HALF4))
		return false;
	return ASSERT_TRUE(raw_syn4(HALF4, HALF_PORT, VIP4, 80), "setup: a SYN from " HALF4 " sent");
}

/* Waits (bounded, 10 s) until /proc/net/tcp{,6} shows exactly `want` sockets of the given
 * local port and state (-1: any state but LISTEN) on VIP4 or VIP6. */
static bool wait_state(int port, int state, int want)
{
	for (int i = 0; i < 1000; i++) {
		int got = 0;
		char line[512];

		for (int f = 0; f < 2; f++) {
			FILE *fp = fopen(f ? "/proc/net/tcp6" : "/proc/net/tcp", "r");
			unsigned p, st;

			while (fp && fgets(line, sizeof(line), fp))
				if (sscanf(line, f ? " %*d: %*32[0-9A-F]:%x %*x:%*x %x" :
						     " %*d: %*8[0-9A-F]:%x %*x:%*x %x",
					   &p, &st) == 2 &&
				    (int)p == port && st != EBB_TCP_LISTEN &&
				    (state < 0 || (int)st == state))
					got++;
			if (fp)
				fclose(fp);
		}
		if (got == want)
			return true;
		usleep(10000);
	}
	return false;
}

/* The signed report: what the node signs, the reader accepts; any byte changed, it refuses. */
static void signing(void)
{
	static const char key[] = "0123456789abcdef-shared", other[] = "0123456789abcdef-other!";
	const char *report = "{\"unit\":\"connections\",\"live\":12,\"nonce\":\"n1\"}";
	char *env = ebb_conns_sign(report, key, strlen(key)), *bad;
	struct ebb_err err = {};
	json_object *doc, *v;
	char *p;

	if (!ASSERT_TRUE(env, "sign: an envelope"))
		return;
	doc = ebb_conns_verify(env, key, strlen(key), &err);
	ASSERT_TRUE(doc && json_object_object_get_ex(doc, "live", &v) && json_object_get_int(v) == 12,
		    nm("sign", "the reader with the same key gets the report back (%s)", err.msg));
	json_object_put(doc);
	doc = ebb_conns_verify(env, other, strlen(other), &err);
	ASSERT_TRUE(!doc && strstr(err.msg, "does not verify"), "sign: another key is refused");
	json_object_put(doc);
	bad = strdup(env);
	p = strstr(bad, "12");
	if (p)
		p[1] = '3'; /* live 13 */
	doc = ebb_conns_verify(bad, key, strlen(key), &err);
	ASSERT_TRUE(p && !doc, "sign: a report changed by one digit is refused");
	json_object_put(doc);
	strcpy(bad, env);
	p = strstr(bad, "\"hmac_sha256\":\"") + 15;
	*p = *p == 'g' ? 'h' : 'g';
	doc = ebb_conns_verify(bad, key, strlen(key), &err);
	ASSERT_TRUE(!doc && strstr(err.msg, "hex"), "sign: a MAC that is not hex is refused");
	json_object_put(doc);
	doc = ebb_conns_verify(report, key, strlen(key), &err);
	ASSERT_TRUE(!doc && strstr(err.msg, "not a signed report"), "sign: an unsigned report is refused");
	json_object_put(doc);
	doc = ebb_conns_verify("{\"report\":", key, strlen(key), &err);
	ASSERT_TRUE(!doc, "sign: a cut envelope is refused");
	json_object_put(doc);
	free(bad);
	free(env);
}

int main(void)
{
	static const char *const prefixes[] = { VIP4 "/32", VIP6 "/128" };
	static struct ebb_conns_entry e[1024];
	int est4[N_EST4], acc4[N_EST4], est6[2], l4, l6, l81, l82, lo, c, a, c82, co;
	struct ebb_err err = {};
	struct ebb_decap_key k;
	__u32 one = 1;
	int n;

	if (!suite_start("conns"))
		return 0;
	signing();
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_NO_PREALLOC);
	prefixes_fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "decap_prefixes", sizeof(k),
				     sizeof(__u32), 1024, &mo);
	if (!ASSERT_TRUE(prefixes_fd >= 0, "setup: an LPM map of VIP prefixes"))
		goto out;
	for (size_t i = 0; i < 2; i++)
		if (!ASSERT_OK(ebb_parse_prefix(prefixes[i], &k, &err) ||
				       bpf_map_update_elem(prefixes_fd, &k, &one, BPF_NOEXIST),
			       nm("setup", "prefix %s", prefixes[i])))
			goto out;
	if (!ASSERT_OK(unshare(CLONE_NEWNET), "setup: a network namespace of our own") ||
	    !ASSERT_OK(system("ip link set lo up && ip addr add " VIP4 "/32 dev lo && "
			      "ip addr add " CLI4 "/32 dev lo && ip addr add " OTHER4 "/32 dev lo && "
			      "ip -6 addr add " VIP6 "/128 dev lo nodad && "
			      "ip -6 addr add " CLI6 "/128 dev lo nodad"),
		       "setup: loopback up with the VIPs, the client's and another address"))
		goto out;

	n = count_and_compare("empty", false, e, 1024);
	ASSERT_EQ(n, 0, "empty: a namespace without sockets counts nothing");

	l4 = tcp_listen(4, VIP4, 80, true);
	l6 = tcp_listen(6, VIP6, 80, true);
	l81 = tcp_listen(4, VIP4, 81, true);
	l82 = tcp_listen(6, "::", 82, false); /* dual-stack: IPv4 connections as ::ffff:a.b.c.d */
	lo = tcp_listen(4, OTHER4, 80, true);
	if (!ASSERT_TRUE(l4 >= 0 && l6 >= 0 && l81 >= 0 && l82 >= 0 && lo >= 0, "setup: listeners"))
		goto out;
	n = count_and_compare("listeners", false, e, 1024);
	ASSERT_EQ(n, 0, "listeners: a LISTEN socket is no connection");

	for (int i = 0; i < N_EST4; i++) {
		est4[i] = tcp_connect(4, CLI4, VIP4, 80, NULL);
		acc4[i] = est4[i] >= 0 ? accept(l4, NULL, NULL) : -1;
		if (!ASSERT_TRUE(acc4[i] >= 0, nm("setup", "IPv4 connection %d to VIP:80", i)))
			goto out;
	}
	for (int i = 0; i < 2; i++)
		if (!ASSERT_TRUE((est6[i] = tcp_connect(6, CLI6, VIP6, 80, NULL)) >= 0,
				 nm("setup", "IPv6 connection %d to VIP:80 (not accepted)", i)))
			goto out;
	c82 = tcp_connect(4, CLI4, VIP4, 82, NULL);
	co = tcp_connect(4, CLI4, OTHER4, 80, NULL);
	if (!ASSERT_TRUE(c82 >= 0 && co >= 0, "setup: to VIP:82 (dual-stack), to the other address"))
		goto out;
	/* TIME_WAIT on the server's side of VIP:81: the server closes first */
	c = tcp_connect(4, CLI4, VIP4, 81, NULL);
	a = c >= 0 ? accept(l81, NULL, NULL) : -1;
	if (!ASSERT_TRUE(a >= 0, "setup: a connection to VIP:81, accepted"))
		goto out;
	close(a);
	if (!ASSERT_TRUE(wait_state(81, 5 /* FIN_WAIT2 */, 1), "setup: VIP:81 in FIN_WAIT2"))
		goto out;
	close(c);
	if (!ASSERT_TRUE(wait_state(81, EBB_TCP_TIME_WAIT, 1), "setup: VIP:81 in TIME_WAIT"))
		goto out;
	if (!half_open() ||
	    !ASSERT_TRUE(wait_state(80, 3 /* SYN_RECV */, 1), "setup: a request socket on VIP:80"))
		goto out;

	n = count_and_compare("open", false, e, 1024);
	ASSERT_EQ(live(e, n, VIP4, 80), N_EST4 + 1, "open: VIP4:80 live = 5 established + 1 SYN_RECV");
	ASSERT_EQ(live(e, n, VIP6, 80), 2, "open: VIP6:80 live = 2 (in the accept queue)");
	ASSERT_EQ(live(e, n, VIP4, 82), 1, "open: VIP4:82 live = 1, via a dual-stack socket");
	ASSERT_EQ(live(e, n, VIP4, 81), 0, "open: VIP4:81 live = 0");
	ASSERT_EQ(tw(e, n, VIP4, 81), 1, "open: VIP4:81 time_wait = 1");
	ASSERT_TRUE(!find(e, n, OTHER4, 80), "open: the other address is no VIP: not counted");
	ASSERT_TRUE(!find(e, n, CLI4, 80), "open: the client's side is not counted");
	ASSERT_EQ(n, 4, "open: 4 (VIP, port) entries");

	n = count_and_compare("all", true, e, 1024);
	ASSERT_EQ(live(e, n, OTHER4, 80), 1, "all: the other address's connection counts");

	/* The client closes: the server's side waits in CLOSE_WAIT, still a connection */
	close(est4[0]);
	if (ASSERT_TRUE(wait_state(80, 8 /* CLOSE_WAIT */, 1), "closing: a server side in CLOSE_WAIT")) {
		n = count_and_compare("closing", false, e, 1024);
		ASSERT_EQ(live(e, n, VIP4, 80), N_EST4 + 1, "closing: CLOSE_WAIT still counts");
	}
	/* The server closes too (LAST_ACK, then gone), and two more connections end both ways */
	close(acc4[0]);
	for (int i = 1; i < 3; i++) {
		close(acc4[i]);
		close(est4[i]);
	}
	if (ASSERT_TRUE(wait_state(80, 8, 0) && wait_state(80, 9 /* LAST_ACK */, 0) &&
			wait_state(80, 4 /* FIN_WAIT1 */, 0) && wait_state(80, 5, 0) &&
			wait_state(80, EBB_TCP_TIME_WAIT, 2),
			"closed: no VIP:80 socket left closing, the two the server closed first in TIME_WAIT")) {
		n = count_and_compare("closed", false, e, 1024);
		ASSERT_EQ(live(e, n, VIP4, 80), N_EST4 + 1 - 3, "closed: VIP4:80 live 3 fewer");
		ASSERT_EQ(tw(e, n, VIP4, 80), 2, "closed: VIP4:80 time_wait 2");
		ASSERT_EQ(live(e, n, VIP6, 80), 2, "closed: VIP6:80 unchanged");
	}
	close(l4);
	close(l6);
	close(l82);
out:
	if (prefixes_fd >= 0)
		close(prefixes_fd);
	return test_summary("conns");
}
