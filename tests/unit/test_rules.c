// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The timeout rules every reader shares (user/libebb.h), in user space (no root), table-driven:
 *  - when a flow ends after it was last seen: at once after a RST, its FIN timeout after a FIN
 *    (its idle timeout when that is shorter), else its protocol's idle timeout; a VIP's 0, or
 *    no VIP, reads as the default; an unclaimed flow ends as an unflagged one;
 *  - whether a flow is live (ebb_flow_live) by that same rule, at the edge of its timeout;
 *  - a node's drain timeout: its own, else the longest its VIPs set, else the default;
 *  - a new VIP's options with every unset field filled and every set one kept;
 *  - the census's per-VIP timeouts (ebbd hands them over) from the same rule.
 */
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

#include "libebb.h"
#include "libebb_agent.h"
#include "test.h"

#define S 1000000000ULL

struct end_case {
	const char *what;
	struct ebb_vip vip;
	bool no_vip;
	__u8 proto;
	__u32 flags;
	__u64 ends_after_ns;
};

static const struct end_case ends[] = {
	{ "no VIP, TCP: the default idle", .no_vip = true, .proto = IPPROTO_TCP,
	  .ends_after_ns = EBB_DEFAULT_TCP_IDLE_S * S },
	{ "no VIP, UDP: the default idle", .no_vip = true, .proto = IPPROTO_UDP,
	  .ends_after_ns = EBB_DEFAULT_UDP_IDLE_S * S },
	{ "VIP with zeros: the defaults", .proto = IPPROTO_TCP,
	  .ends_after_ns = EBB_DEFAULT_TCP_IDLE_S * S },
	{ "TCP: the VIP's tcp idle", .vip = { .tcp_idle_s = 60, .udp_idle_s = 7 },
	  .proto = IPPROTO_TCP, .ends_after_ns = 60 * S },
	{ "UDP: the VIP's udp idle", .vip = { .tcp_idle_s = 60, .udp_idle_s = 7 },
	  .proto = IPPROTO_UDP, .ends_after_ns = 7 * S },
	{ "FIN: the VIP's fin", .vip = { .tcp_idle_s = 60, .fin_s = 5 }, .proto = IPPROTO_TCP,
	  .flags = EBB_FLOW_FIN, .ends_after_ns = 5 * S },
	{ "FIN, no fin set: the default fin", .vip = { .tcp_idle_s = 60 }, .proto = IPPROTO_TCP,
	  .flags = EBB_FLOW_FIN, .ends_after_ns = EBB_DEFAULT_FIN_S * S },
	{ "FIN, idle shorter than fin: the idle", .vip = { .tcp_idle_s = 3, .fin_s = 30 },
	  .proto = IPPROTO_TCP, .flags = EBB_FLOW_FIN, .ends_after_ns = 3 * S },
	{ "RST: at once", .vip = { .tcp_idle_s = 60, .fin_s = 5 }, .proto = IPPROTO_TCP,
	  .flags = EBB_FLOW_RST, .ends_after_ns = 0 },
	{ "RST after FIN: at once", .vip = { .tcp_idle_s = 60, .fin_s = 5 }, .proto = IPPROTO_TCP,
	  .flags = EBB_FLOW_RST | EBB_FLOW_FIN, .ends_after_ns = 0 },
	{ "unclaimed: as unflagged", .vip = { .tcp_idle_s = 60 }, .proto = IPPROTO_TCP,
	  .flags = EBB_FLOW_UNCONFIRMED, .ends_after_ns = 60 * S },
};

static void ends_cases(void)
{
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		const struct end_case *c = &ends[i];

		ASSERT_EQ(ebb_flow_ends_after_ns(c->no_vip ? NULL : &c->vip, c->proto, c->flags),
			  c->ends_after_ns, c->what);
	}
}

/* ebb_flow_live at the edge: live a tick before the end, ended a tick after, never when reset or
 * unclaimed. `seen` ticks are 2^24 ns (ebb_seen_tick). */
static void live_cases(void)
{
	__u64 now = 1000000ULL * S;
	struct ebb_flow_key k = { .family = EBB_FAMILY_V4, .proto = IPPROTO_TCP };
	struct ebb_flow f = {};
	char name[128];

	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		const struct end_case *c = &ends[i];
		const struct ebb_vip *v = c->no_vip ? NULL : &c->vip;
		bool never = c->flags & (EBB_FLOW_RST | EBB_FLOW_UNCONFIRMED);
		__u64 end = c->ends_after_ns;

		k.proto = c->proto;
		f.flags = c->flags;
		f.seen = ebb_seen_tick(now - end) + 1; /* a tick short of its end */
		snprintf(name, sizeof(name), "%s: %s a tick before its end", c->what,
			 never ? "not live" : "live");
		ASSERT_EQ(ebb_flow_live(&k, &f, v, now), !never, name);
		f.seen = ebb_seen_tick(now - end) - 1;
		snprintf(name, sizeof(name), "%s: not live a tick after its end", c->what);
		ASSERT_EQ(ebb_flow_live(&k, &f, v, now), false, name);
	}
}

static void drain_timeout_cases(void)
{
	ASSERT_EQ(ebb_drain_timeout_s(0, 0), EBB_DEFAULT_DRAIN_TIMEOUT_S, "drain: nothing set: the default");
	ASSERT_EQ(ebb_drain_timeout_s(0, 45), 45, "drain: the VIPs' longest");
	ASSERT_EQ(ebb_drain_timeout_s(20, 45), 20, "drain: the node's own wins");
	ASSERT_EQ(ebb_drain_timeout_s(700, 0), 700, "drain: the node's own, no VIP's");
}

static void opts_cases(void)
{
	struct ebb_vip_opts none = {}, some = { .tcp_idle_s = 61, .fin_s = 2, .table_size = 251,
						 .drain_timeout_s = 9 };

	ebb_vip_opts_defaults(&none);
	ASSERT_EQ(none.tcp_idle_s, EBB_DEFAULT_TCP_IDLE_S, "opts: tcp idle filled");
	ASSERT_EQ(none.udp_idle_s, EBB_DEFAULT_UDP_IDLE_S, "opts: udp idle filled");
	ASSERT_EQ(none.fin_s, EBB_DEFAULT_FIN_S, "opts: fin filled");
	ASSERT_EQ(none.drain_timeout_s, EBB_DEFAULT_DRAIN_TIMEOUT_S, "opts: drain timeout filled");
	ASSERT_EQ(none.table_size, EBB_TABLE_SIZE_DEFAULT, "opts: table size filled");
	ebb_vip_opts_defaults(&some);
	ASSERT_EQ(some.tcp_idle_s, 61, "opts: a set tcp idle kept");
	ASSERT_EQ(some.udp_idle_s, EBB_DEFAULT_UDP_IDLE_S, "opts: ... the unset udp idle filled");
	ASSERT_EQ(some.fin_s, 2, "opts: a set fin kept");
	ASSERT_EQ(some.drain_timeout_s, 9, "opts: a set drain timeout kept");
	ASSERT_EQ(some.table_size, 251, "opts: a set table size kept");
}

static void census_cases(void)
{
	struct ebb_vip v = { .tcp_idle_s = 60, .udp_idle_s = 7, .fin_s = 5 };
	struct ebb_census_vip d = ebb_census_vip_of(NULL), c = ebb_census_vip_of(&v);

	ASSERT_EQ(d.tcp_idle_ns, EBB_DEFAULT_TCP_IDLE_S * S, "census: default tcp idle");
	ASSERT_EQ(d.udp_idle_ns, EBB_DEFAULT_UDP_IDLE_S * S, "census: default udp idle");
	ASSERT_EQ(d.fin_ns, EBB_DEFAULT_FIN_S * S, "census: default fin");
	ASSERT_EQ(c.tcp_idle_ns, 60 * S, "census: the VIP's tcp idle");
	ASSERT_EQ(c.udp_idle_ns, 7 * S, "census: the VIP's udp idle");
	ASSERT_EQ(c.fin_ns, 5 * S, "census: the VIP's fin");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	ends_cases();
	live_cases();
	drain_timeout_cases();
	opts_cases();
	census_cases();
	return test_summary("rules");
}
