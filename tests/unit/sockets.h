/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Real TCP sockets for the suites that set up a network namespace of their own and compare what
 * a BPF program sees with the kernel's socket table (test_node.c, test_conns.c). family is 4 or 6.
 * Include it after packets.h.
 */
#ifndef EBB_TEST_SOCKETS_H
#define EBB_TEST_SOCKETS_H

#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* addr:port as a socket address of the family; returns its length. */
static socklen_t sockaddr_of(int family, const char *addr, int port, struct sockaddr_storage *ss)
{
	*ss = (struct sockaddr_storage){};
	if (family == 6) {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (void *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	inet_pton(AF_INET, addr, &s4->sin_addr);
	return sizeof(*s4);
}

/* A listener on addr:port; v6only false lets an IPv6 listener take IPv4 connections too. */
static int tcp_listen(int family, const char *addr, int port, bool v6only)
{
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(family, addr, port, &ss);
	int one = 1, zero = 0, fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == 6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? &one : &zero, sizeof(one));
	if (bind(fd, (void *)&ss, sl) || listen(fd, 64)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A connection from `from` (port chosen by the kernel) to addr:port; its client port in *cport
 * unless NULL. */
static int tcp_connect(int family, const char *from, const char *addr, int port, uint16_t *cport)
{
	struct sockaddr_storage src, dst;
	socklen_t sl = sockaddr_of(family, from, 0, &src);
	int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	sockaddr_of(family, addr, port, &dst);
	if (bind(fd, (void *)&src, sl) || connect(fd, (void *)&dst, sl) ||
	    getsockname(fd, (void *)&src, &sl)) {
		close(fd);
		return -1;
	}
	if (cport)
		*cport = ntohs(family == 6 ? ((struct sockaddr_in6 *)&src)->sin6_port :
					     ((struct sockaddr_in *)&src)->sin_port);
	return fd;
}

/* A bare IPv4 SYN from from:sport to to:dport through a raw socket (IPPROTO_RAW: we write the IP
 * header, so `from` need be no address of ours); whether it was sent. */
static bool raw_syn4(const char *from, int sport, const char *to, int dport)
{
	const struct pkt_desc syn = { TCP4(from, sport, to, dport, TH_SYN) };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	uint8_t pkt[PKT_MAX];
	size_t l4, len = build_ip(&syn, pkt, &l4);
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	bool sent;

	inet_pton(AF_INET, to, &sin.sin_addr);
	sent = fd >= 0 && sendto(fd, pkt, len, 0, (void *)&sin, sizeof(sin)) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	return sent;
}

#endif
