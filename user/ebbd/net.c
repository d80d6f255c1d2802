// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Non-blocking TCP connects and HTTP/1.0 GETs, driven by the main loop's poll(): health checks
 * and URL probes must never stall drain completion. Connections are made from the network
 * namespace ebbd runs in, straight to the node's address.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ebbd.h"

#define MAX_REQS 256
#define BUF_MAX 4096

struct req {
	int fd; /* -1: free slot */
	bool http, want_body, sent;
	__u64 deadline;
	char request[512];
	char *buf; /* cap bytes: BUF_MAX, or the caller's max_len */
	size_t len, cap;
	net_done_fn done;
	void *ctx;
};

static struct req reqs[MAX_REQS];
static bool inited;

static void init(void)
{
	for (int i = 0; i < MAX_REQS; i++)
		reqs[i].fd = -1;
	inited = true;
}

static void finish(struct req *r, bool ok, const char *detail)
{
	const char *body = NULL;
	char *buf;

	if (r->fd >= 0) {
		/* Reset rather than FIN: no TIME_WAIT piles up from a check every few seconds. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(r->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(r->fd);
	}
	r->fd = -1;
	r->buf[r->len] = '\0';
	if (ok && r->want_body) {
		body = strstr(r->buf, "\r\n\r\n");
		body = body ? body + 4 : "";
	}
	/* the slot is free once fd is -1: done() may start another request in it */
	buf = r->buf;
	r->buf = NULL;
	r->done(ok, detail, body, r->ctx);
	free(buf);
}

int net_start(const struct net_req_opts *o, net_done_fn done, void *ctx)
{
	struct sockaddr_storage ss = {};
	socklen_t sl;
	struct req *r = NULL;
	int fd;

	if (!inited)
		init();
	for (int i = 0; i < MAX_REQS && !r; i++)
		if (reqs[i].fd < 0)
			r = &reqs[i];
	if (!r)
		return -EBUSY;
	if (o->addr.family == EBB_FAMILY_V4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(o->port);
		sin->sin_addr.s_addr = o->addr.a[0];
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(o->port);
		memcpy(&sin6->sin6_addr, o->addr.a, 16);
		sl = sizeof(*sin6);
	}
	r->cap = o->max_len ? o->max_len + 1 : BUF_MAX;
	r->buf = malloc(r->cap);
	if (!r->buf)
		return -ENOMEM;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&ss, sl) && errno != EINPROGRESS)) {
		int ret = -errno;

		if (fd >= 0)
			close(fd);
		free(r->buf);
		r->buf = NULL;
		return ret;
	}
	r->fd = fd;
	r->http = o->http;
	r->want_body = o->want_body;
	r->sent = false;
	r->len = 0;
	r->deadline = ebb_now_ns() + (__u64)(o->timeout_s * NS_PER_S);
	r->done = done;
	r->ctx = ctx;
	if (o->http)
		snprintf(r->request, sizeof(r->request),
			 "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: ebbd/" EBBD_VERSION
			 "\r\nConnection: close\r\n\r\n",
			 o->path, o->host);
	return 0;
}

int net_pollfds(struct pollfd *pfd, int max)
{
	int n = 0;

	for (int i = 0; inited && i < MAX_REQS && n < max; i++)
		if (reqs[i].fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = reqs[i].fd,
						    .events = reqs[i].sent ? POLLIN : POLLOUT };
	return n;
}

/* "HTTP/1.x NNN": 2xx and 3xx are up, as HAProxy counts them. */
static int http_status(const char *buf)
{
	int code;

	if (sscanf(buf, "HTTP/%*d.%*d %3d", &code) != 1)
		return -1;
	return code;
}

static void on_ready(struct req *r, short revents)
{
	char detail[64];
	int err = 0, code;
	socklen_t el = sizeof(err);
	ssize_t got;

	if (!r->sent) {
		if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
			finish(r, false, strerror(err ? err : errno));
			return;
		}
		if (!(revents & POLLOUT))
			return;
		if (!r->http) {
			finish(r, true, "connected");
			return;
		}
		/* A few hundred bytes into a fresh socket's buffer: never partial. */
		if (send(r->fd, r->request, strlen(r->request), MSG_NOSIGNAL) < 0) {
			finish(r, false, strerror(errno));
			return;
		}
		r->sent = true;
		return;
	}
	got = recv(r->fd, r->buf + r->len, r->cap - 1 - r->len, 0);
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got < 0) {
		finish(r, false, strerror(errno));
		return;
	}
	r->len += got;
	r->buf[r->len] = '\0';
	/* A check needs the status line only; a probe reads to the end (Connection: close). */
	if (got > 0 && r->len < r->cap - 1 && (r->want_body || !strstr(r->buf, "\r\n")))
		return;
	code = http_status(r->buf);
	if (code < 0) {
		finish(r, false, got == 0 && !r->len ? "connection closed" : "not an HTTP response");
		return;
	}
	/* a full buffer with the peer still sending: the caller may not take a cut body */
	snprintf(detail, sizeof(detail), "HTTP %d%s", code,
		 got > 0 && r->want_body && r->len >= r->cap - 1 ? ", truncated" : "");
	finish(r, code >= 200 && code < 400, detail);
}

void net_events(const struct pollfd *pfd, int n)
{
	for (int j = 0; j < n; j++) {
		if (!pfd[j].revents)
			continue;
		for (int i = 0; i < MAX_REQS; i++)
			if (reqs[i].fd == pfd[j].fd) {
				on_ready(&reqs[i], pfd[j].revents);
				break;
			}
	}
}

void net_timeouts(__u64 now)
{
	for (int i = 0; inited && i < MAX_REQS; i++)
		if (reqs[i].fd >= 0 && now >= reqs[i].deadline)
			finish(&reqs[i], false, "timeout");
}

__u64 net_next_deadline(void)
{
	__u64 next = 0;

	for (int i = 0; inited && i < MAX_REQS; i++)
		if (reqs[i].fd >= 0 && (!next || reqs[i].deadline < next))
			next = reqs[i].deadline;
	return next;
}
