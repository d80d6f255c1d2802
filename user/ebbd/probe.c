// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * External load figures, per pool: a command (argv, no shell) or an http:// URL, run for every
 * active or draining node once per interval, whose output starts with a number (a CPU load, a
 * queue length...). "{node}" in an argument or in the URL stands for the node's address
 * (bracketed in a URL when IPv6); the command also gets EBB_NODE. A probe still running from the
 * last interval is not started again; a failed one leaves the node's figure unknown.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ebbd.h"

struct probe_ctx {
	struct agent *a;
	__u32 id;
	__u64 gen;
};

static struct node *ctx_node(struct probe_ctx *c)
{
	struct node *n = &c->a->nodes[c->id];

	return n->used && n->gen == c->gen ? n : NULL;
}

static void got_figure(struct probe_ctx *c, bool ok, const char *out, const char *why)
{
	struct node *n = ctx_node(c);
	char *end = NULL;
	double v = ok && out ? strtod(out, &end) : NAN;

	free(c);
	if (!n)
		return;
	n->probe.running = false;
	if (ok && end && end != out && isfinite(v) && v >= 0) {
		n->probe.load = v;
		n->probe.load_known = true;
		n->probe.failing = false;
		return;
	}
	/* Said once when it starts failing, then at debug level: not a line per interval. */
	log_msg(n->probe.load_known || !n->probe.failing ? LOG_WARN : LOG_DEBUG, "probe_failed",
		"load probe of %s: %s", n->name, !ok ? why : "output does not start with a number >= 0");
	n->probe.load_known = false;
	n->probe.failing = true;
}

static void on_proc(int status, bool timed_out, const char *out, void *arg)
{
	char why[64];

	if (timed_out)
		snprintf(why, sizeof(why), "timed out");
	else if (WIFEXITED(status))
		snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(status));
	else
		snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(status));
	got_figure(arg, !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0, out, why);
}

static void on_http(bool ok, const char *detail, const char *body, void *arg)
{
	got_figure(arg, ok, body, detail);
}

/* s with every "{node}" replaced by node. */
static char *subst(const char *s, const char *node)
{
	size_t len = strlen(s) + 1, nlen = strlen(node);
	const char *p;
	char *out, *o;

	for (p = s; (p = strstr(p, "{node}")); p += 6)
		len += nlen;
	out = o = malloc(len);
	if (!out)
		return NULL;
	while ((p = strstr(s, "{node}"))) {
		memcpy(o, s, p - s);
		o += p - s;
		memcpy(o, node, nlen);
		o += nlen;
		s = p + 6;
	}
	strcpy(o, s);
	return out;
}

static int start_one(struct agent *a, struct node *n, const struct probe_cfg *pc)
{
	struct probe_ctx *c = malloc(sizeof(*c));
	int ret = -ENOMEM;

	if (!c)
		return ret;
	*c = (struct probe_ctx){ .a = a, .id = n->id, .gen = n->gen };
	if (pc->argv) {
		char env[96], *envp[] = { env, NULL };
		char **argv = argv_dup(pc->argv);

		snprintf(env, sizeof(env), "EBB_NODE=%s", n->name);
		for (int i = 0; argv && argv[i]; i++) {
			char *s = subst(argv[i], n->name);

			free(argv[i]);
			argv[i] = s ? s : strdup("");
		}
		ret = argv ? proc_spawn(argv, envp, pc->timeout, true, on_proc, c) : -ENOMEM;
		argv_free(argv);
	} else {
		char bracketed[80], host[80], *url, *path = NULL;
		struct net_req_opts o = { .http = true, .want_body = true, .timeout_s = pc->timeout };

		snprintf(bracketed, sizeof(bracketed), n->addr.family == EBB_FAMILY_V6 ? "[%s]" : "%s",
			 n->name);
		url = subst(pc->url, bracketed);
		ret = url ? probe_parse_url(url, &o, host, sizeof(host), &path) : -ENOMEM;
		if (!ret) {
			o.host = host;
			o.path = path;
			ret = net_start(&o, on_http, c);
		} else {
			log_msg(LOG_ERROR, "probe_url", "probe URL '%s' needs an IP address as host", url);
		}
		free(url);
		free(path);
	}
	if (ret)
		free(c);
	return ret;
}

void probe_cycle(struct agent *a)
{
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];
		const struct probe_cfg *pc;
		int ret;

		if (!n->used || n->pool < 0 || n->probe.running)
			continue;
		pc = &a->cfg.pools[n->pool].probe;
		if (!pc->argv && !pc->url)
			continue;
		if (n->entry.state != EBB_NODE_ACTIVE && n->entry.state != EBB_NODE_DRAINING) {
			n->probe.load_known = false;
			continue;
		}
		ret = start_one(a, n, pc);
		if (ret)
			log_msg(LOG_WARN, "probe_not_started", "load probe of %s: %s", n->name,
				strerror(-ret));
		else
			n->probe.running = true;
	}
}
