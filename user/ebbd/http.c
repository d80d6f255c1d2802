// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The HTTP server behind the metrics endpoint and the status page, in its own thread (one poll()
 * loop), so that a scrape never waits for the main loop and no client can make it wait.
 *
 * Anyone who can connect to the endpoint (any local user on the default 127.0.0.1) is a
 * possible slowloris, so every connection has absolute deadlines counted from its accept, which
 * nothing the client sends moves (an idle timer, reset by each trickled byte, let 40 connections
 * sending one header line every 2 s hold the endpoint for good):
 *   - its request's header complete within HTTP_HEADER_S, else it is closed (with a 408);
 *   - closed HTTP_TOTAL_S after accept whatever it is doing (a reader too slow for the answer).
 * The server holds at most HTTP_CONNS connections, HTTP_PER_ADDR from one address. It always
 * accepts, so that a scrape never waits in the kernel's backlog behind slow clients: a connection
 * past a cap takes the place of the oldest one still sending its header (or done with its
 * answer) in all, or from its address; only when none is in that phase is the newcomer closed
 * instead. A complete request (its header arrives in one go from a real client) is answered at
 * once and so is never the one shed. The caps bound ebbd's descriptors whatever clients do.
 * Each answer ends the connection (Connection: close).
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ebbd.h"

#define HTTP_HEADER_MAX 8192
/* After its answer, a connection is read until the client's close (closing with its bytes
 * unread would reset it and could cut the answer short), this long at most. */
#define HTTP_LINGER_S 2

enum phase { FREE, HEADER, WRITE, LINGER };

struct conn {
	enum phase phase;
	int fd;
	__u64 accepted, linger_end;
	struct sockaddr_storage peer;
	size_t in_len, out_len, out_off;
	char *out;
	char in[HTTP_HEADER_MAX + 1];
};

static struct conn conns[HTTP_CONNS];
static int listen_fd = -1, wake[2] = { -1, -1 };
static http_route_fn route;
static pthread_t thread;
static bool running;

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->phase = FREE;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
}

static __u64 deadline(const struct conn *c)
{
	__u64 d = c->accepted + HTTP_TOTAL_S * NS_PER_S;

	if (c->phase == HEADER && c->accepted + HTTP_HEADER_S * NS_PER_S < d)
		d = c->accepted + HTTP_HEADER_S * NS_PER_S;
	if (c->phase == LINGER && c->linger_end < d)
		d = c->linger_end;
	return d;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* The answer into c->out; head: the header only (HEAD). */
static void reply(struct conn *c, const struct http_reply *r, bool head)
{
	char hdr[512];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
			 r->status, reason(r->status), r->type ? r->type : "text/plain; charset=utf-8",
			 r->len, r->extra ? r->extra : "");
	size_t body = head ? 0 : r->len;

	c->out = malloc(n + body);
	c->out_len = c->out ? n + body : 0;
	c->out_off = 0;
	if (c->out) {
		memcpy(c->out, hdr, n);
		if (body)
			memcpy(c->out + n, r->body, body);
	}
	c->phase = WRITE;
}

static void reply_text(struct conn *c, int status, const char *text)
{
	struct http_reply r = { .status = status, .body = (char *)text, .len = strlen(text) };

	reply(c, &r, false);
}

/* A complete header in c->in: "METHOD TARGET HTTP/1.x" first; the fields are not needed. */
static void request(struct conn *c)
{
	char method[16], target[1024], version[16], *q;
	struct http_reply r = {};
	bool head;

	if (sscanf(c->in, "%15s %1023s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) || target[0] != '/') {
		reply_text(c, 400, "bad request\n");
		return;
	}
	head = !strcmp(method, "HEAD");
	if (!head && strcmp(method, "GET")) {
		r = (struct http_reply){ .status = 405, .body = (char *)"GET or HEAD only\n",
					 .len = 17, .extra = "Allow: GET, HEAD\r\n" };
		reply(c, &r, false);
		return;
	}
	q = strchr(target, '?');
	if (q)
		*q = '\0';
	route(target, &r);
	reply(c, &r, head);
	if (r.body_free)
		free(r.body);
}

static void on_header(struct conn *c)
{
	ssize_t got = recv(c->fd, c->in + c->in_len, HTTP_HEADER_MAX - c->in_len, 0);

	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += got;
	c->in[c->in_len] = '\0';
	if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n"))
		request(c);
	else if (c->in_len == HTTP_HEADER_MAX)
		reply_text(c, 431, "request header too large\n");
}

static void on_write(struct conn *c, __u64 now)
{
	ssize_t sent = c->out_len ? send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT) : 0;

	if (sent < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (sent < 0 || !c->out) {
		conn_close(c);
		return;
	}
	c->out_off += sent;
	if (c->out_off < c->out_len)
		return;
	free(c->out);
	c->out = NULL;
	shutdown(c->fd, SHUT_WR);
	c->phase = LINGER;
	c->linger_end = now + HTTP_LINGER_S * NS_PER_S;
}

static void on_linger(struct conn *c)
{
	char sink[4096];
	ssize_t got = recv(c->fd, sink, sizeof(sink), 0);

	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got <= 0)
		conn_close(c);
}

/* The oldest connection that can be shed: still sending its header, or done with its answer. */
static struct conn *oldest(const struct sockaddr_storage *from)
{
	struct conn *o = NULL;

	for (unsigned int i = 0; i < HTTP_CONNS; i++) {
		struct conn *c = &conns[i];

		if ((c->phase == HEADER || c->phase == LINGER) && (!from || same_addr(&c->peer, from)) &&
		    (!o || c->accepted < o->accepted))
			o = c;
	}
	return o;
}

static struct conn *admit(int fd, const struct sockaddr_storage *peer, __u64 now)
{
	struct conn *slot = NULL, *shed = NULL;
	unsigned int used = 0, same = 0;

	for (unsigned int i = 0; i < HTTP_CONNS; i++) {
		if (conns[i].phase == FREE) {
			if (!slot)
				slot = &conns[i];
			continue;
		}
		used++;
		same += same_addr(&conns[i].peer, peer);
	}
	if (same >= HTTP_PER_ADDR) {
		shed = oldest(peer);
		if (!shed) {
			close(fd);
			return NULL;
		}
	} else if (used >= HTTP_CONNS) {
		shed = oldest(NULL);
		if (!shed) {
			close(fd);
			return NULL;
		}
	}
	if (shed) {
		conn_close(shed);
		if (!slot)
			slot = shed;
	}
	*slot = (struct conn){ .phase = HEADER, .fd = fd, .accepted = now, .peer = *peer };
	return slot;
}

static void *serve(void *arg)
{
	struct pollfd pfd[HTTP_CONNS + 2];
	int idx[HTTP_CONNS + 2];
	__u64 accept_pause = 0;

	(void)arg;
	for (;;) {
		__u64 now = ebb_now_ns(), next = now + 60 * NS_PER_S;
		int n = 0, timeout;

		pfd[n++] = (struct pollfd){ .fd = wake[0], .events = POLLIN };
		if (now >= accept_pause)
			pfd[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		else
			next = accept_pause;
		for (unsigned int i = 0; i < HTTP_CONNS; i++) {
			struct conn *c = &conns[i];
			__u64 d;

			if (c->phase == FREE)
				continue;
			d = deadline(c);
			if (d < next)
				next = d;
			idx[n] = i;
			pfd[n++] = (struct pollfd){ .fd = c->fd,
						    .events = c->phase == WRITE ? POLLOUT : POLLIN };
		}
		timeout = next > now ? (int)((next - now + 999999) / 1000000) : 0;
		if (poll(pfd, n, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		now = ebb_now_ns();
		for (int j = 1; j < n; j++) {
			struct conn *c;

			if (!pfd[j].revents)
				continue;
			if (pfd[j].fd == listen_fd) {
				/*
				 * A few at a time, the connections' input read in between and straight
				 * after accept: a scrape accepted in a burst of connects from its own
				 * address must have its request read before HTTP_PER_ADDR newer ones
				 * can shed it. The listener stays readable until all are accepted.
				 */
				for (unsigned int k = 0; k < HTTP_PER_ADDR / 2; k++) {
					struct sockaddr_storage peer = {};
					socklen_t pl = sizeof(peer);
					int fd = accept4(listen_fd, (struct sockaddr *)&peer, &pl,
							 SOCK_NONBLOCK | SOCK_CLOEXEC);

					if (fd < 0) {
						/* Out of descriptors: the connection stays queued; try again
						 * shortly rather than spin on a listener that stays readable. */
						if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
						    errno == ENOMEM)
							accept_pause = now + NS_PER_S / 10;
						break;
					}
					c = admit(fd, &peer, now);
					if (c)
						on_header(c);
					if (c && c->phase == WRITE)
						on_write(c, now);
				}
				continue;
			}
			c = &conns[idx[j]];
			/* Shed by a connection accepted above, or its slot (and descriptor
			 * number) already another's, whose input was read at accept. */
			if (c->phase == FREE || c->fd != pfd[j].fd || c->accepted == now)
				continue;
			if (c->phase == HEADER)
				on_header(c);
			if (c->phase == WRITE)
				on_write(c, now);
			else if (c->phase == LINGER && (pfd[j].revents & (POLLIN | POLLHUP | POLLERR)))
				on_linger(c);
		}
		now = ebb_now_ns();
		for (unsigned int i = 0; i < HTTP_CONNS; i++) {
			struct conn *c = &conns[i];

			if (c->phase == FREE || now < deadline(c))
				continue;
			if (c->phase == HEADER) {
				/* Best effort: a slow client may as well learn why. */
				static const char msg[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
							  "Connection: close\r\n\r\n";

				(void)!send(c->fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			}
			conn_close(c);
		}
	}
	for (unsigned int i = 0; i < HTTP_CONNS; i++)
		if (conns[i].phase != FREE)
			conn_close(&conns[i]);
	return NULL;
}

int http_start(int fd, http_route_fn fn)
{
	int err;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) || pipe2(wake, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	for (unsigned int i = 0; i < HTTP_CONNS; i++)
		conns[i] = (struct conn){ .phase = FREE, .fd = -1 };
	listen_fd = fd;
	route = fn;
	err = pthread_create(&thread, NULL, serve, NULL);
	if (err) {
		close(wake[0]);
		close(wake[1]);
		return -err;
	}
	running = true;
	return 0;
}

void http_stop(void)
{
	if (!running)
		return;
	(void)!write(wake[1], "x", 1);
	pthread_join(thread, NULL);
	close(wake[0]);
	close(wake[1]);
	close(listen_fd);
	listen_fd = -1;
	running = false;
}
