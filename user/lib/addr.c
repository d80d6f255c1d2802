// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Parsing and printing of what operators type: addresses, VIPs, MACs, numbers, names. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <net/if.h>

#include "libebb.h"

int ebb_errf(struct ebb_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int ebb_parse_addr(const char *s, struct ebb_addr *addr, struct ebb_err *err)
{
	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, s, &addr->a[0]) == 1) {
		addr->family = EBB_FAMILY_V4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr->a) == 1) {
		addr->family = EBB_FAMILY_V6;
		return 0;
	}
	return ebb_errf(err, "invalid address '%s'", s);
}

int ebb_check_unicast(const struct ebb_addr *a, const char *what, struct ebb_err *err)
{
	char buf[64];
	const char *why = NULL;

	ebb_fmt_addr(a->a, a->family, buf, sizeof(buf));
	if (a->family == EBB_FAMILY_V4) {
		__u32 v = ntohl(a->a[0]);

		if (v >> 24 == 0)
			why = "an unspecified (0.0.0.0/8) address";
		else if (v >> 24 == 127)
			why = "a loopback address";
		else if (v == 0xffffffffu)
			why = "the broadcast address";
		else if (v >> 28 == 0xe)
			why = "a multicast address";
		else if (v >> 28 == 0xf)
			why = "a reserved (240.0.0.0/4) address";
	} else {
		const __u8 *b = (const __u8 *)a->a;
		static const __u8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		static const __u8 zero[16];

		if (!memcmp(b, zero, 16))
			why = "the unspecified address";
		else if (!memcmp(b, zero, 15) && b[15] == 1)
			why = "the loopback address";
		else if (b[0] == 0xff)
			why = "a multicast address";
		else if (!memcmp(b, mapped, 12))
			why = "an IPv4-mapped IPv6 address (give the IPv4 address itself)";
	}
	if (why)
		return ebb_errf(err, "%s %s is %s: it must be a unicast address", what, buf, why);
	return 0;
}

int ebb_addr_local(const struct ebb_addr *a, char *dev, size_t len)
{
	struct ifaddrs *ifas, *ifa;
	int found = 0;

	if (getifaddrs(&ifas))
		return -errno;
	for (ifa = ifas; ifa && !found; ifa = ifa->ifa_next) {
		const struct sockaddr *sa = ifa->ifa_addr;

		if (!sa)
			continue;
		if (sa->sa_family == AF_INET && a->family == EBB_FAMILY_V4)
			found = ((const struct sockaddr_in *)sa)->sin_addr.s_addr == a->a[0];
		else if (sa->sa_family == AF_INET6 && a->family == EBB_FAMILY_V6)
			found = !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, a->a, 16);
		if (found && dev)
			snprintf(dev, len, "%s", ifa->ifa_name);
	}
	freeifaddrs(ifas);
	return found;
}

int ebb_parse_u32(const char *s, __u32 min, __u32 max, __u32 *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (__u32)v;
	return 0;
}

/* Splits "ADDR:PORT" / "[ADDR6]:PORT" into its parts; rest points after the port. */
static int split_host_port(const char *s, char *host, size_t hostlen, const char **port)
{
	const char *colon;
	size_t n;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		n = close - s - 1;
		if (n >= hostlen)
			return -EINVAL;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (!strchr(host, ':'))
			return -EINVAL; /* brackets are for IPv6 only */
		*port = close + 2;
		return 0;
	}
	colon = strchr(s, ':');
	if (!colon || strchr(colon + 1, ':'))
		return -EINVAL; /* IPv6 needs brackets to carry a port */
	n = colon - s;
	if (n >= hostlen)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

int ebb_parse_vip(const char *s, struct ebb_vip_key *key, struct ebb_err *err)
{
	char host[INET6_ADDRSTRLEN + 1], portbuf[8];
	const char *port, *slash;
	struct ebb_addr addr;
	__u32 portnum;
	size_t n;

	memset(key, 0, sizeof(*key));
	if (split_host_port(s, host, sizeof(host), &port))
		return ebb_errf(err, "invalid VIP '%s': expected ADDR:PORT/PROTO or [ADDR6]:PORT/PROTO", s);
	if (ebb_parse_addr(host, &addr, NULL))
		return ebb_errf(err, "invalid VIP '%s': bad address '%s'", s, host);
	slash = strchr(port, '/');
	if (!slash)
		return ebb_errf(err, "invalid VIP '%s': missing /tcp or /udp", s);
	n = slash - port;
	if (n == 0 || n >= sizeof(portbuf))
		return ebb_errf(err, "invalid VIP '%s': bad port", s);
	memcpy(portbuf, port, n);
	portbuf[n] = '\0';
	if (ebb_parse_u32(portbuf, 0, 65535, &portnum))
		return ebb_errf(err, "invalid VIP '%s': port '%s' is not 0..65535", s, portbuf);
	if (!strcmp(slash + 1, "tcp"))
		key->proto = IPPROTO_TCP;
	else if (!strcmp(slash + 1, "udp"))
		key->proto = IPPROTO_UDP;
	else
		return ebb_errf(err, "invalid VIP '%s': protocol '%s' is not tcp or udp", s, slash + 1);
	memcpy(key->addr, addr.a, sizeof(key->addr));
	key->family = addr.family;
	key->port = htons((__u16)portnum);
	return 0;
}

int ebb_parse_endpoint(const char *s, struct ebb_addr *addr, __u16 *port, struct ebb_err *err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *p;
	__u32 v;

	if (split_host_port(s, host, sizeof(host), &p) || ebb_parse_addr(host, addr, NULL) ||
	    ebb_parse_u32(p, 1, 65535, &v))
		return ebb_errf(err, "invalid endpoint '%s': expected ADDR:PORT or [ADDR6]:PORT", s);
	*port = (__u16)v;
	return 0;
}

int ebb_parse_mac(const char *s, __u8 mac[6], struct ebb_err *err)
{
	unsigned int b[6];
	char tail;
	int i;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return ebb_errf(err, "invalid MAC '%s': expected xx:xx:xx:xx:xx:xx", s);
	for (i = 0; i < 6; i++)
		mac[i] = (__u8)b[i];
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) || (mac[0] & 1))
		return ebb_errf(err, "invalid MAC '%s': zero or multicast", s);
	return 0;
}

const char *ebb_fmt_addr(const __be32 *a, __u8 family, char *buf, size_t len)
{
	if (!inet_ntop(family == EBB_FAMILY_V6 ? AF_INET6 : AF_INET, a, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

const char *ebb_fmt_vip(const struct ebb_vip_key *key, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	ebb_fmt_addr(key->addr, key->family, host, sizeof(host));
	snprintf(buf, len, key->family == EBB_FAMILY_V6 ? "[%s]:%u/%s" : "%s:%u/%s", host,
		 ntohs(key->port), key->proto == IPPROTO_UDP ? "udp" : "tcp");
	return buf;
}

const char *ebb_fmt_mac(const __u8 mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}

bool ebb_addr_eq(const __be32 *a, const __be32 *b, __u8 family)
{
	return family == EBB_FAMILY_V6 ? !memcmp(a, b, 16) : a[0] == b[0];
}

static const char *const state_names[EBB_NODE_STATE_MAX] = {
	[EBB_NODE_UNUSED] = "unused",	  [EBB_NODE_ACTIVE] = "active",
	[EBB_NODE_DRAINING] = "draining", [EBB_NODE_INACTIVE] = "inactive",
	[EBB_NODE_DOWN] = "down",
};

const char *ebb_state_name(__u8 state)
{
	return state < EBB_NODE_STATE_MAX ? state_names[state] : "?";
}

int ebb_state_parse(const char *s)
{
	for (int i = EBB_NODE_ACTIVE; i < EBB_NODE_STATE_MAX; i++)
		if (!strcmp(s, state_names[i]))
			return i;
	return -1;
}

const char *ebb_fwd_name(__u8 fwd)
{
	return fwd == EBB_FWD_IPIP ? "ipip" : "dsr";
}

static const char *const reason_names[EBB_R_MAX] = {
	[EBB_R_FORWARDED] = "forwarded",
	[EBB_R_PASS_NOT_IP] = "pass_not_ip",
	[EBB_R_PASS_NOT_VIP] = "pass_not_vip",
	[EBB_R_PASS_TRUNCATED] = "pass_truncated",
	[EBB_R_DROP_TRUNCATED] = "drop_truncated",
	[EBB_R_DROP_BAD_IHL] = "drop_bad_ihl",
	[EBB_R_DROP_FRAGMENT] = "drop_fragment",
	[EBB_R_DROP_IPV6_EXT] = "drop_ipv6_ext",
	[EBB_R_DROP_NO_NODE] = "drop_no_node",
	[EBB_R_DROP_NO_MAC] = "drop_no_mac",
	[EBB_R_DROP_BAD_ICMP] = "drop_bad_icmp",
	[EBB_R_PASS_ICMP] = "pass_icmp",
	[EBB_R_TX_TOO_BIG] = "tx_icmp_too_big",
	[EBB_R_DROP_TOO_BIG] = "drop_too_big",
	[EBB_R_DROP_ENCAP] = "drop_encap",
	[EBB_R_DROP_BAD_VERSION] = "drop_bad_version",
	[EBB_R_DROP_BAD_LENGTH] = "drop_bad_length",
	[EBB_R_DROP_BAD_L4] = "drop_bad_l4",
	[EBB_R_DROP_BAD_CSUM] = "drop_bad_csum",
	[EBB_R_DROP_ICMP_FOREIGN] = "drop_icmp_foreign",
	[EBB_R_RESCUED] = "rescued",
	[EBB_R_RESCUE_LIMITED] = "rescue_limited",
	[EBB_R_RESCUE_TOO_BIG] = "rescue_too_big",
	[EBB_R_CLAIMED] = "claimed",
	[EBB_R_DROP_BAD_CLAIM] = "drop_bad_claim",
};

const char *ebb_reason_name(__u32 reason)
{
	return reason < EBB_R_MAX && reason_names[reason] ? reason_names[reason] : "?";
}
