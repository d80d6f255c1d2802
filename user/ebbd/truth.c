// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reading draining nodes' own counts of their connections (truth.h, doc/node-truth.md).
 *
 * For each draining node of a pool with `truth`, once per truth-interval: a new random nonce,
 * the pool's command (argv, no shell) or http:// URL run for the node without blocking the loop
 * (proc.c, net.c, as probes are), at most 64 KB of its answer kept, then checked in this order:
 * the HMAC (ebb_conns_verify, the pool's truth-key), the nonce asked, version, unit, complete,
 * the node's own clock (boot_id, boottime_ns) past the last report accepted, and that the report
 * covers every TCP VIP the node drains. Whatever fails makes the node's truth TRUTH_FAILED with
 * the reason: a node that cannot report is never read as 0.
 *
 * What is kept per node slot is fixed in size (struct truth_rt), whatever a node answers. A read
 * still running at the next interval is not started again; a command that hangs is killed at
 * truth-timeout (proc.c: SIGTERM to its process group, SIGKILL 2 s later).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include "ebbd.h"
#include "truth.h"

#define TRUTH_ANSWER_MAX (64 * 1024) /* of a report; more is refused, not cut */
#define TRUTH_HTTP_HEAD 4096 /* room for the HTTP response's headers besides */

struct truth_rt {
	__u64 gen; /* the node (struct node gen) this slot's figures belong to */
	__u64 drain; /* state_since_ns of the drain being read; 0: none */
	__u64 seq; /* bumped when the drain's reads are forgotten: a late answer is dropped */
	bool busy; /* a read runs for this slot (whatever gen or drain it was started for) */
	__u64 next_ns; /* when to ask again */
	char nonce[33]; /* of the read running: 128 random bits in hex */
	__u64 asked_ns;
	struct node_truth t;
	char logged[sizeof(((struct node_truth *)0)->why)]; /* the failure last logged */
	/* the node's own clock at the last report accepted: a report not past it is stale */
	bool have_last;
	char boot_id[40];
	__u64 netns, boottime_ns;
	/* reset = carried + (rescues.reset - base), base taken at this drain's first report of
	 * counters_id (a new id: the counters started again from 0) */
	bool have_base;
	__u64 counters_id, base, last_reset, carried;
};

static struct truth_rt rt[EBB_MAX_NODES];

struct truth_ctx {
	struct agent *a;
	__u32 id;
	__u64 gen, seq;
};

static const struct truth_cfg *pool_truth(const struct agent *a, const struct node *n)
{
	const struct truth_cfg *tc;

	if (n->pool < 0 || n->pool >= a->cfg.n_pools)
		return NULL;
	tc = &a->cfg.pools[n->pool].truth;
	return tc->argv || tc->url ? tc : NULL;
}

/* The node's own count speaks for TCP only: a node draining UDP VIPs alone is not asked. */
static bool has_tcp_vip(const struct agent *a, const struct node *n)
{
	for (int i = 0; i < n->n_vips; i++)
		for (int j = 0; j < a->n_vips; j++)
			if (a->vips[j].vip.id == n->vip_ids[i] && a->vips[j].key.proto == IPPROTO_TCP)
				return true;
	return false;
}

static void forget(struct truth_rt *r)
{
	r->drain = 0;
	r->seq++;
	r->next_ns = 0;
	r->t = (struct node_truth){ .status = TRUTH_NONE };
	r->logged[0] = '\0';
	r->have_base = false;
	r->counters_id = r->base = r->last_reset = r->carried = 0;
}

static void failed(struct truth_rt *r, const struct node *n, const char *why)
{
	r->t.status = TRUTH_FAILED;
	snprintf(r->t.why, sizeof(r->t.why), "%s", why);
	/* once per change of reason, not once per interval */
	if (strcmp(r->logged, r->t.why)) {
		json_object *ev = log_new(LOG_WARN, "truth_failed");

		json_add_str(ev, "node", n->name);
		json_add_str(ev, "why", r->t.why);
		log_emit(ev);
		snprintf(r->logged, sizeof(r->logged), "%s", r->t.why);
	}
}

static bool get_int(json_object *doc, const char *key, __s64 *v)
{
	json_object *o;

	if (!json_object_object_get_ex(doc, key, &o) || !json_object_is_type(o, json_type_int))
		return false;
	*v = json_object_get_int64(o);
	return true;
}

static const char *get_str(json_object *doc, const char *key)
{
	json_object *o;

	return json_object_object_get_ex(doc, key, &o) && json_object_is_type(o, json_type_string) ?
		       json_object_get_string(o) : NULL;
}

/* addr within one of the report's "prefixes" ("ADDR/LEN"), of its family */
static bool in_prefixes(json_object *prefixes, const struct ebb_vip_key *k)
{
	for (size_t i = 0; prefixes && i < json_object_array_length(prefixes); i++) {
		json_object *p = json_object_array_get_idx(prefixes, i);
		char text[80], *slash;
		struct ebb_addr a;
		struct ebb_err err;
		__u32 len, bits;
		bool match = true;

		if (!json_object_is_type(p, json_type_string) ||
		    snprintf(text, sizeof(text), "%s", json_object_get_string(p)) >= (int)sizeof(text))
			continue;
		slash = strchr(text, '/');
		if (!slash)
			continue;
		*slash = '\0';
		if (ebb_parse_addr(text, &a, &err) || a.family != k->family)
			continue;
		bits = a.family == EBB_FAMILY_V4 ? 32 : 128;
		if (ebb_parse_u32(slash + 1, 0, bits, &len))
			continue;
		for (__u32 w = 0; w < bits / 32 && match; w++) {
			__u32 take = len > w * 32 ? (len - w * 32 > 32 ? 32 : len - w * 32) : 0;
			__u32 mask = take ? htonl(take == 32 ? ~0u : ~0u << (32 - take)) : 0;

			match = (a.a[w] & mask) == (k->addr[w] & mask);
		}
		if (match)
			return true;
	}
	return false;
}

/*
 * The live connections the report gives the node's TCP VIPs: per VIP, the sum over its
 * (address, port) entries (every port of the address for a port-0 VIP). A VIP with no entry
 * counts 0 only where the report says it counted (scope vip_prefixes, the VIP inside one of the
 * node's prefixes); else the report does not speak for it. -1 with why set when it fails.
 */
static int covered_live(const struct agent *a, const struct node *n, json_object *doc, __u64 *live,
			char *why, size_t wl)
{
	json_object *vips, *prefixes = NULL;
	const char *scope = get_str(doc, "scope");

	if (!scope || (strcmp(scope, "vip_prefixes") && strcmp(scope, "all"))) {
		snprintf(why, wl, "the report's scope is not vip_prefixes or all");
		return -1;
	}
	if (!json_object_object_get_ex(doc, "vips", &vips) || !json_object_is_type(vips, json_type_array)) {
		snprintf(why, wl, "the report has no vips list");
		return -1;
	}
	if (json_object_object_get_ex(doc, "prefixes", &prefixes) &&
	    !json_object_is_type(prefixes, json_type_array))
		prefixes = NULL;
	*live = 0;
	for (int i = 0; i < n->n_vips; i++)
		for (int j = 0; j < a->n_vips; j++) {
			const struct ebb_vip_key *k = &a->vips[j].key;
			bool found = false;
			char name[80];

			if (a->vips[j].vip.id != n->vip_ids[i] || k->proto != IPPROTO_TCP)
				continue;
			for (size_t e = 0; e < json_object_array_length(vips); e++) {
				json_object *v = json_object_array_get_idx(vips, e);
				const char *addr = get_str(v, "addr");
				__s64 port, l;
				struct ebb_addr ea;
				struct ebb_err err;

				if (!addr || !get_int(v, "port", &port) || !get_int(v, "live", &l) || l < 0 ||
				    ebb_parse_addr(addr, &ea, &err)) {
					snprintf(why, wl, "the report has a malformed vips entry");
					return -1;
				}
				if (ea.family != k->family || memcmp(ea.a, k->addr, sizeof(ea.a)) ||
				    (k->port && port != ntohs(k->port)))
					continue;
				found = true;
				*live += l;
			}
			if (found || (!strcmp(scope, "vip_prefixes") && in_prefixes(prefixes, k)))
				continue;
			ebb_fmt_vip(k, name, sizeof(name));
			snprintf(why, wl, "VIP %.50s is not in the report (nor in its prefixes)", name);
			return -1;
		}
	return 0;
}

/* What a believed report says, before it is taken (answered). */
struct verdict {
	char boot_id[40];
	__u64 netns, boottime_ns, live, reset, counters_id;
};

/* The checks, in order; 0 with v filled when the report is believed, else -1 and why. */
static int judge(const struct agent *a, const struct truth_rt *r, const struct node *n,
		 const struct truth_cfg *tc, const char *out, struct verdict *v, char *why, size_t wl)
{
	json_object *doc, *o;
	struct ebb_err err = {};
	const char *s, *boot;
	__s64 ver, netns, boottime, reset = 0, counters_id = 0;
	int ret = -1;

	if (strlen(out) > TRUTH_ANSWER_MAX) {
		snprintf(why, wl, "the answer is longer than %d bytes", TRUTH_ANSWER_MAX);
		return -1;
	}
	doc = ebb_conns_verify(out, tc->key, tc->key_len, &err);
	if (!doc) {
		snprintf(why, wl, "%.120s", err.msg);
		return -1;
	}
	s = get_str(doc, "nonce");
	boot = get_str(doc, "boot_id");
	if (!s || strcmp(s, r->nonce))
		snprintf(why, wl, "%s", s ? "nonce mismatch: not an answer to this request (a replayed or late report)" :
					   "the report carries no nonce");
	else if (!get_int(doc, "version", &ver) || ver != 1)
		snprintf(why, wl, "the report's version is not 1");
	else if (!(s = get_str(doc, "unit")) || strcmp(s, "connections"))
		snprintf(why, wl, "the report's unit is not connections");
	else if (!json_object_object_get_ex(doc, "complete", &o) || !json_object_is_type(o, json_type_boolean) ||
		 !json_object_get_boolean(o))
		snprintf(why, wl, "the report is incomplete (the node's count ran out of room)");
	else if (!boot || !*boot || strlen(boot) >= sizeof(v->boot_id) || !get_int(doc, "netns", &netns) ||
		 !get_int(doc, "boottime_ns", &boottime) || boottime <= 0)
		snprintf(why, wl, "the report has no boot_id, netns or boottime_ns");
	else if (r->have_last && !strcmp(boot, r->boot_id) && (__u64)boottime <= r->boottime_ns)
		snprintf(why, wl, "stale report: boottime_ns %lld is not past the last accepted %llu",
			 (long long)boottime, (unsigned long long)r->boottime_ns);
	else if (covered_live(a, n, doc, &v->live, why, wl))
		;
	/* null when the node runs no node program: it had no rescue to reset */
	else if (json_object_object_get_ex(doc, "rescues", &o) && o &&
		 (!get_int(o, "reset", &reset) || !get_int(o, "counters_id", &counters_id) || reset < 0 ||
		  counters_id < 0))
		snprintf(why, wl, "the report's rescues are malformed");
	else
		ret = 0;
	if (!ret) {
		snprintf(v->boot_id, sizeof(v->boot_id), "%s", boot);
		v->netns = netns;
		v->boottime_ns = boottime;
		v->reset = reset;
		v->counters_id = counters_id;
	}
	json_object_put(doc);
	return ret;
}

static void take(struct truth_rt *r, const struct verdict *v, __u64 now)
{
	r->have_last = true;
	memcpy(r->boot_id, v->boot_id, sizeof(r->boot_id));
	r->netns = v->netns;
	r->boottime_ns = v->boottime_ns;
	if (!r->have_base || v->counters_id != r->counters_id) {
		/* what the old counters saw in this drain stays counted */
		if (r->have_base)
			r->carried += r->last_reset - r->base;
		r->have_base = true;
		r->counters_id = v->counters_id;
		r->base = v->reset;
	}
	if (v->reset < r->base) /* the same counters going back: never a negative figure */
		r->base = v->reset;
	r->last_reset = v->reset;
	r->t.status = TRUTH_OK;
	r->t.why[0] = '\0';
	r->t.live = v->live;
	r->t.reset = r->carried + (r->last_reset - r->base);
	r->t.at_ns = now;
	r->t.asked_ns = r->asked_ns;
	if (v->live)
		r->t.live_asked_ns = r->asked_ns;
	r->logged[0] = '\0';
}

/* An answer (the command's output, the URL's body) and whether the command or request
 * succeeded, with why not. */
static void answered(struct truth_ctx *c, bool ran, const char *out, const char *why)
{
	struct agent *a = c->a;
	struct truth_rt *r = &rt[c->id];
	struct node *n = &a->nodes[c->id];
	const struct truth_cfg *tc;
	bool current = n->used && n->gen == c->gen && r->gen == c->gen && r->seq == c->seq && r->drain;
	bool was_ok = r->t.status == TRUTH_OK, have = out && *out;
	__u64 live_before = r->t.live, now = ebb_now_ns();
	char reason[sizeof(r->t.why)];
	struct verdict v = {};
	int bad;

	r->busy = false;
	free(c);
	tc = current ? pool_truth(a, n) : NULL;
	if (!tc)
		return; /* for a drain or a node no longer read */
	bad = have ? judge(a, r, n, tc, out, &v, reason, sizeof(reason)) : -1;
	if (!bad && ran) {
		take(r, &v, now);
		if (!was_ok || live_before != r->t.live) {
			json_object *ev = log_new(LOG_INFO, "truth");

			json_add_str(ev, "node", n->name);
			json_add_int(ev, "live", r->t.live);
			json_add_int(ev, "reset", r->t.reset);
			json_add_double(ev, "answer_ms", (now - r->t.asked_ns) / 1e6);
			log_emit(ev);
		}
		return;
	}
	/* A failed command's signed report still says best what is wrong ("incomplete"); when
	 * it is no signed report at all, or it passes, the exit status does. */
	if (!have)
		snprintf(reason, sizeof(reason), "%s", ran ? "the answer is empty" : why);
	else if (!ran && (!bad || !strncmp(reason, "not a signed report", 19) ||
			  !strncmp(reason, "the report's HMAC", 17) || !strncmp(reason, "hmac_sha256", 11)))
		snprintf(reason, sizeof(reason), "%s", why);
	failed(r, n, reason);
}

static void on_proc(int status, bool timed_out, const char *out, void *arg)
{
	struct truth_ctx *c = arg;
	const struct truth_cfg *tc = c->id < EBB_MAX_NODES ? pool_truth(c->a, &c->a->nodes[c->id]) : NULL;
	char why[96];

	if (timed_out)
		snprintf(why, sizeof(why), "the truth command timed out after %g s (killed)",
			 tc ? tc->timeout : 0);
	else if (WIFEXITED(status))
		snprintf(why, sizeof(why), "the truth command exited with status %d", WEXITSTATUS(status));
	else
		snprintf(why, sizeof(why), "the truth command was killed by signal %d", WTERMSIG(status));
	answered(c, !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0, out, why);
}

static void on_http(bool ok, const char *detail, const char *body, void *arg)
{
	char why[96];

	snprintf(why, sizeof(why), "the truth URL failed: %s", detail ? detail : "no answer");
	if (ok && detail && strstr(detail, "truncated")) {
		snprintf(why, sizeof(why), "the answer is longer than %d bytes", TRUTH_ANSWER_MAX);
		ok = false;
		body = NULL;
	}
	answered(arg, ok, body, why);
}

static int ask(struct agent *a, struct node *n, struct truth_rt *r, const struct truth_cfg *tc)
{
	struct truth_ctx *c = malloc(sizeof(*c));
	unsigned char rnd[16];
	int ret = -ENOMEM;

	if (!c)
		return ret;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		free(c);
		return -EIO;
	}
	for (int i = 0; i < 16; i++)
		snprintf(r->nonce + 2 * i, 3, "%02x", rnd[i]);
	*c = (struct truth_ctx){ .a = a, .id = n->id, .gen = n->gen, .seq = r->seq };
	if (tc->argv) {
		char env[2][96], *envp[] = { env[0], env[1], NULL };
		char **argv = argv_dup(tc->argv);

		snprintf(env[0], sizeof(env[0]), "EBB_NODE=%s", n->name);
		snprintf(env[1], sizeof(env[1]), "EBB_NONCE=%s", r->nonce);
		for (int i = 0; argv && argv[i]; i++) {
			char *s = truth_subst(argv[i], n->name, r->nonce);

			free(argv[i]);
			argv[i] = s ? s : strdup("");
		}
		ret = argv ? proc_spawn_max(argv, envp, tc->timeout, true, TRUTH_ANSWER_MAX + 1, on_proc, c) :
			     -ENOMEM;
		argv_free(argv);
	} else {
		char node[80], host[80], *url, *path = NULL;
		struct net_req_opts o = { .http = true, .want_body = true, .timeout_s = tc->timeout,
					  .max_len = TRUTH_ANSWER_MAX + TRUTH_HTTP_HEAD };

		snprintf(node, sizeof(node), n->addr.family == EBB_FAMILY_V6 ? "[%s]" : "%s", n->name);
		url = truth_subst(tc->url, node, r->nonce);
		ret = url ? probe_parse_url(url, &o, host, sizeof(host), &path) : -ENOMEM;
		if (!ret) {
			o.host = host;
			o.path = path;
			ret = net_start(&o, on_http, c);
		}
		free(url);
		free(path);
	}
	if (ret)
		free(c);
	return ret;
}

void truth_tick(struct agent *a, __u64 now)
{
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct node *n = &a->nodes[id];
		struct truth_rt *r = &rt[id];
		const struct truth_cfg *tc;
		char why[96];
		int ret;

		if (n->used && r->gen != n->gen) {
			/* another node in this slot: nothing of the old one's reports applies */
			bool busy = r->busy;

			forget(r);
			r->have_last = false;
			r->busy = busy;
			r->gen = n->gen;
		}
		tc = n->used ? pool_truth(a, n) : NULL;
		if (!tc || n->entry.state != EBB_NODE_DRAINING || !has_tcp_vip(a, n)) {
			if (r->drain)
				forget(r);
			continue;
		}
		if (r->drain != n->entry.state_since_ns) { /* a drain began (or began again) */
			forget(r);
			r->drain = n->entry.state_since_ns;
			r->t.status = TRUTH_PENDING;
		}
		if (r->busy || now < r->next_ns)
			continue;
		r->asked_ns = now;
		r->next_ns = now + (__u64)(tc->interval * NS_PER_S);
		ret = ask(a, n, r, tc);
		if (!ret) {
			r->busy = true;
			continue;
		}
		snprintf(why, sizeof(why), "cannot ask: %s", strerror(-ret));
		failed(r, n, why);
	}
}

const struct node_truth *truth_get(struct agent *a, const struct node *n)
{
	static const struct node_truth none = { .status = TRUTH_NONE };
	const struct truth_rt *r;

	(void)a;
	if (!n || n->id == 0 || n->id >= EBB_MAX_NODES)
		return &none;
	r = &rt[n->id];
	return r->gen == n->gen && r->drain ? &r->t : &none;
}

void truth_forget(struct agent *a, const struct node *n)
{
	(void)a;
	if (n && n->id > 0 && n->id < EBB_MAX_NODES && rt[n->id].gen == n->gen)
		forget(&rt[n->id]);
}
