// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Prometheus metrics over HTTP (http.c, its own thread). The main loop renders the page
 * after every tick into a buffer; a scrape copies that buffer under a mutex, so a scrape never
 * touches the maps and never waits for the loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <netinet/in.h>

#include "ebbd.h"
#include "truth.h"
#include "build_commit.h" /* EBB_GIT_COMMIT, made by the Makefile */

static pthread_mutex_t page_lock = PTHREAD_MUTEX_INITIALIZER;
static char *page;
static size_t page_len;

/* The endpoint's pages; the server (http.c) answers GET and HEAD with them. */
static void route(const char *path, struct http_reply *r)
{
	static const char not_found[] = "not found: try /metrics or /\n";

	if (!strcmp(path, "/") || !strcmp(path, "/status")) {
		/* The status page (status.c): nodes, flows chart, recent decisions. */
		r->body = status_copy(&r->len);
		r->body_free = true;
		r->status = r->body ? 200 : 503;
		r->type = "text/html; charset=utf-8";
		r->extra = "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:\r\n";
	} else if (!strcmp(path, "/metrics")) {
		/* fleet mode's lines are made now, not with the cached page (fleet_metrics) */
		char fl[2048];
		size_t n = (size_t)fleet_metrics(fl, sizeof(fl));

		pthread_mutex_lock(&page_lock);
		r->body = malloc(page_len + n + 1);
		r->len = r->body && page ? page_len : 0;
		if (r->len)
			memcpy(r->body, page, page_len);
		if (r->body) {
			memcpy(r->body + r->len, fl, n);
			r->len += n;
		}
		pthread_mutex_unlock(&page_lock);
		r->body_free = true;
		r->status = r->body ? 200 : 503;
		r->type = "text/plain; version=0.0.4";
	} else {
		r->status = 404;
		r->body = (char *)not_found;
		r->len = sizeof(not_found) - 1;
	}
}

/* Connects the server has not accepted yet wait here, holding no descriptor of ebbd's; it
 * accepts them as fast as they come and sheds the slow ones (http.c). */
#define METRICS_BACKLOG 64

int metrics_start(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	if (!addr[0])
		return 0; /* metrics = "": no endpoint */
	if (metrics_parse_addr(addr, &ss, &sl)) {
		log_msg(LOG_ERROR, "metrics_failed", "bad metrics address '%s' (IPv4:PORT or [IPv6]:PORT)", addr);
		return -1;
	}
	/* The socket is ours, so that a failure says exactly why (in use, not a local address...). */
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, METRICS_BACKLOG)) {
		int err = errno;

		log_msg(LOG_ERROR, "metrics_failed", "cannot serve metrics on %s: %s%s", addr, strerror(err),
			err == EADDRINUSE ? " (another process listens there)" :
			err == EADDRNOTAVAIL ? " (not an address of this host)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (http_start(fd, route)) {
		log_msg(LOG_ERROR, "metrics_failed", "cannot serve metrics on %s: the HTTP server did not start",
			addr);
		close(fd);
		return -1;
	}
	log_msg(LOG_INFO, "metrics", "serving Prometheus metrics on http://%s/metrics (at most %u connections, %u per address; a request's header within %u s of its connect, the whole connection within %u s)",
		addr, HTTP_CONNS, HTTP_PER_ADDR, HTTP_HEADER_S, HTTP_TOTAL_S);
	return 0;
}

void metrics_stop(void)
{
	http_stop();
}

static void help(FILE *f, const char *name, const char *type, const char *text)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A label value as the exposition format wants it: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void val(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, " %.17g\n", v);
	else
		fprintf(f, " NaN\n");
}

/* One family: a line per used node, value from fn (skipped when fn says unknown). */
static void node_family(FILE *f, const struct agent *a, const char *name, const char *type,
			const char *text, bool (*fn)(const struct agent *, const struct node *, double *))
{
	double v;

	help(f, name, type, text);
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];

		if (n->used && fn(a, n, &v)) {
			fprintf(f, "%s{", name);
			label(f, "node", n->name);
			fputc('}', f);
			val(f, v);
		}
	}
}

static __u64 render_now;

static bool m_flows(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = n->census.flows;
	return n->census.flows_known;
}
static bool m_new_rate(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = n->census.new_flows_s;
	return n->census.have_rates;
}
static bool m_pkt_rate(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = n->census.packets_s;
	return n->census.have_rates;
}
static bool m_byte_rate(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = n->census.bytes_s;
	return n->census.have_rates;
}
static bool m_new(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = n->census.ctr.new_flows;
	return n->census.have_ctr;
}
static bool m_pkts(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = n->census.ctr.packets;
	return n->census.have_ctr;
}
static bool m_bytes(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = n->census.ctr.bytes;
	return n->census.have_ctr;
}
static bool m_load(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = n->probe.load;
	return n->probe.load_known;
}
static bool m_drain_elapsed(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = (render_now - n->entry.state_since_ns) / 1e9;
	return n->entry.state == EBB_NODE_DRAINING;
}
static bool m_drain_timeout(const struct agent *a, const struct node *n, double *v)
{
	*v = node_drain_timeout(a, n);
	return n->entry.state == EBB_NODE_DRAINING;
}
static bool m_state_age(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = (render_now - n->entry.state_since_ns) / 1e9;
	return true;
}
/* A draining node the drain decision has judged (this drain): by the node's own report or not. */
static bool judged(const struct node *n)
{
	return n->entry.state == EBB_NODE_DRAINING && n->drain.ds.drain == n->entry.state_since_ns &&
	       n->drain.reason;
}
static bool m_drain_verified(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = n->drain.verified;
	return judged(n);
}
static bool m_live_conns(const struct agent *a, const struct node *n, double *v)
{
	(void)a;
	*v = n->drain.ds.node_live;
	return judged(n) && n->drain.ds.node_known;
}
static bool m_health(const struct agent *a, const struct node *n, double *v)
{
	*v = n->health.fail_streak;
	return n->pool >= 0 && a->cfg.pools[n->pool].health.type != CHECK_NONE &&
	       n->entry.state != EBB_NODE_INACTIVE;
}

/* The node's own count (truth.c), for draining nodes of pools that read it. truth_get reads only. */
static const struct node_truth *truth_of(const struct agent *a, const struct node *n)
{
	return truth_get((struct agent *)a, n);
}
static bool m_truth_ok(const struct agent *a, const struct node *n, double *v)
{
	const struct node_truth *t = truth_of(a, n);

	*v = t->status == TRUTH_OK;
	return t->status != TRUTH_NONE;
}
/* Only from a believed report: a node that cannot report has no figure, never a 0. */
static bool m_truth_live(const struct agent *a, const struct node *n, double *v)
{
	const struct node_truth *t = truth_of(a, n);

	*v = t->live;
	return t->status == TRUTH_OK;
}
static bool m_truth_reset(const struct agent *a, const struct node *n, double *v)
{
	const struct node_truth *t = truth_of(a, n);

	*v = t->reset;
	return t->status == TRUTH_OK;
}
static bool m_truth_age(const struct agent *a, const struct node *n, double *v)
{
	const struct node_truth *t = truth_of(a, n);

	*v = render_now > t->asked_ns ? (render_now - t->asked_ns) / 1e9 : 0;
	return t->status == TRUTH_OK;
}

/* Per VIP: its counters, and every reason but a plain forward (vip_reasons); per reason, the
 * whole datapath's. A reason's series appears once it has counted a packet. */
static void vip_families(FILE *f, const struct agent *a)
{
	static const struct {
		const char *name, *text;
		size_t off;
	} ctr[] = {
		{ "ebb_vip_packets_total", "Packets of the VIP the datapath handled (forwarded or not)",
		  offsetof(struct ebb_counters, packets) },
		{ "ebb_vip_bytes_total", "Bytes of the VIP's packets", offsetof(struct ebb_counters, bytes) },
		{ "ebb_vip_new_flows_total", "New flows of the VIP placed by a table",
		  offsetof(struct ebb_counters, new_flows) },
	};
	struct ebb_counters c[EBB_MAX_VIPS];
	bool have[EBB_MAX_VIPS] = {};
	char names[EBB_MAX_VIPS][64];
	struct ebb_reason_counter r;
	struct ebb *e = (struct ebb *)&a->e;

	if (!a->open)
		return;
	for (int i = 0; i < a->n_vips && i < EBB_MAX_VIPS; i++) {
		have[i] = !ebb_counters_sum(e->vip_stats_fd, a->vips[i].vip.id, &c[i]);
		ebb_fmt_vip(&a->vips[i].key, names[i], sizeof(names[i]));
	}
	for (size_t k = 0; k < sizeof(ctr) / sizeof(ctr[0]); k++) {
		help(f, ctr[k].name, "counter", ctr[k].text);
		for (int i = 0; i < a->n_vips && i < EBB_MAX_VIPS; i++) {
			if (!have[i])
				continue;
			fprintf(f, "%s{", ctr[k].name);
			label(f, "vip", names[i]);
			fprintf(f, "} %llu\n", *(unsigned long long *)((char *)&c[i] + ctr[k].off));
		}
	}
	help(f, "ebb_vip_reason_packets_total", "counter",
	     "The VIP's packets by what happened to them, every reason but a plain forward (a drop's reason, an ICMP too big, a rescue...)");
	for (int i = 0; i < a->n_vips && i < EBB_MAX_VIPS; i++)
		for (__u32 rs = 1; rs < EBB_R_MAX; rs++)
			if (!ebb_vip_reason_sum(e, a->vips[i].vip.id, rs, &r) && r.packets) {
				fputs("ebb_vip_reason_packets_total{", f);
				label(f, "vip", names[i]);
				fputc(',', f);
				label(f, "reason", ebb_reason_name(rs));
				fprintf(f, "} %llu\n", (unsigned long long)r.packets);
			}
	help(f, "ebb_reason_packets_total", "counter",
	     "Every packet the balancer saw, by what it did and why (forwarded, or a pass or drop reason)");
	for (__u32 rs = 0; rs < EBB_R_MAX; rs++)
		if (!ebb_reason_sum(e, rs, &r)) {
			fputs("ebb_reason_packets_total{", f);
			label(f, "reason", ebb_reason_name(rs));
			fprintf(f, "} %llu\n", (unsigned long long)r.packets);
		}
	help(f, "ebb_reason_bytes_total", "counter", "Bytes of those packets, by reason");
	for (__u32 rs = 0; rs < EBB_R_MAX; rs++)
		if (!ebb_reason_sum(e, rs, &r)) {
			fputs("ebb_reason_bytes_total{", f);
			label(f, "reason", ebb_reason_name(rs));
			fprintf(f, "} %llu\n", (unsigned long long)r.bytes);
		}
}

void metrics_render(const struct agent *a, __u64 now)
{
	static const __u8 states[] = { EBB_NODE_ACTIVE, EBB_NODE_DRAINING, EBB_NODE_INACTIVE,
				       EBB_NODE_DOWN };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	render_now = now;
	help(f, "ebb_build_info", "gauge", "1, labelled with this ebbd's version, git commit and map layout");
	fputs("ebb_build_info{", f);
	label(f, "version", EBBD_VERSION);
	fputc(',', f);
	label(f, "commit", EBB_GIT_COMMIT);
	fprintf(f, ",layout=\"%d\"} 1\n", EBB_MAP_LAYOUT_VERSION);
	help(f, "ebb_node_state", "gauge", "1 for the state the node is in");
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];

		for (size_t s = 0; n->used && s < sizeof(states); s++) {
			fputs("ebb_node_state{", f);
			label(f, "node", n->name);
			fputc(',', f);
			label(f, "state", ebb_state_name(states[s]));
			fprintf(f, "} %d\n", n->entry.state == states[s]);
		}
	}
	node_family(f, a, "ebb_node_flows", "gauge", "Live flows pinned to the node (last walk)", m_flows);
	node_family(f, a, "ebb_node_new_flows_per_second", "gauge", "New flows placed on the node per second", m_new_rate);
	node_family(f, a, "ebb_node_packets_per_second", "gauge", "Packets forwarded to the node per second", m_pkt_rate);
	node_family(f, a, "ebb_node_bytes_per_second", "gauge", "Bytes forwarded to the node per second", m_byte_rate);
	node_family(f, a, "ebb_node_new_flows_total", "counter", "New flows placed on the node", m_new);
	node_family(f, a, "ebb_node_packets_total", "counter", "Packets forwarded to the node", m_pkts);
	node_family(f, a, "ebb_node_bytes_total", "counter", "Bytes forwarded to the node", m_bytes);
	node_family(f, a, "ebb_node_load", "gauge", "The node's figure from the pool's load probe", m_load);
	node_family(f, a, "ebb_node_state_seconds", "gauge", "Seconds since the node's last state change", m_state_age);
	node_family(f, a, "ebb_node_drain_elapsed_seconds", "gauge", "Seconds the node has been draining", m_drain_elapsed);
	node_family(f, a, "ebb_node_drain_timeout_seconds", "gauge", "Drain timeout that applies to the node", m_drain_timeout);
	node_family(f, a, "ebb_node_drain_verified", "gauge",
		    "1: the draining node's own report of its connections judges its drain; 0: the LB's flow table does (unverified)",
		    m_drain_verified);
	node_family(f, a, "ebb_node_live_connections", "gauge",
		    "The draining node's live TCP connections, from its last report asked since the drain began", m_live_conns);
	node_family(f, a, "ebb_node_health_failures", "gauge", "Failed health checks in a row", m_health);
	node_family(f, a, "ebb_node_truth_ok", "gauge",
		    "1 when the draining node's last answer was a verified report of its own connections, 0 when it failed or is pending",
		    m_truth_ok);
	node_family(f, a, "ebb_node_truth_live", "gauge",
		    "Live TCP connections of the draining node's VIPs, in its own last verified report", m_truth_live);
	node_family(f, a, "ebb_node_truth_reset", "gauge",
		    "Rescues the draining node answered with a RST since its drain began, in its own reports",
		    m_truth_reset);
	node_family(f, a, "ebb_node_truth_age_seconds", "gauge",
		    "Seconds since the request that the node's last verified report answers", m_truth_age);

	vip_families(f, a);

	help(f, "ebb_pool_load", "gauge", "Total load of the pool's active and draining nodes, in its metric");
	for (int p = 0; p < a->cfg.n_pools; p++)
		if (a->pools[p].hist.evaluated) {
			fputs("ebb_pool_load{", f);
			label(f, "pool", a->cfg.pools[p].name);
			fputc('}', f);
			val(f, a->pools[p].total);
		}
	help(f, "ebb_pool_active_nodes", "gauge", "Active nodes of the pool");
	for (int p = 0; p < a->cfg.n_pools; p++)
		if (a->pools[p].hist.evaluated) {
			fputs("ebb_pool_active_nodes{", f);
			label(f, "pool", a->cfg.pools[p].name);
			fprintf(f, "} %d\n", a->pools[p].active);
		}
	help(f, "ebb_pool_desired_nodes", "gauge", "Active nodes the pool's load asks for (before the windows)");
	for (int p = 0; p < a->cfg.n_pools; p++)
		if (a->pools[p].hist.evaluated) {
			fputs("ebb_pool_desired_nodes{", f);
			label(f, "pool", a->cfg.pools[p].name);
			fprintf(f, "} %d\n", a->pools[p].desired);
		}

	help(f, "ebb_agent_cycle_seconds", "gauge", "Duration of the last measurement cycle");
	fprintf(f, "ebb_agent_cycle_seconds");
	val(f, a->cycle_ms / 1e3);
	help(f, "ebb_agent_walk_seconds", "gauge", "Wall time of the last complete flow-table walk (may span ticks)");
	fprintf(f, "ebb_agent_walk_seconds");
	val(f, a->census.pass_ms / 1e3);
	help(f, "ebb_agent_flows_walked", "gauge", "Entries in the flow table at the last walk");
	fprintf(f, "ebb_agent_flows_walked %llu\n", (unsigned long long)a->census.walked);
	help(f, "ebb_agent_walks_total", "counter", "Passes over the flow table published");
	fprintf(f, "ebb_agent_walks_total %llu\n", (unsigned long long)a->census.passes);
	help(f, "ebb_agent_transitions_total", "counter", "Node state changes made by this ebbd");
	fprintf(f, "ebb_agent_transitions_total %llu\n", (unsigned long long)a->transitions);
	help(f, "ebb_agent_flows_cut_total", "counter",
	     "Connections drains cut, as the drained nodes counted them (verified drains only)");
	fprintf(f, "ebb_agent_flows_cut_total %llu\n", (unsigned long long)a->flows_cut_total);
	help(f, "ebb_agent_flows_cut_estimate_total", "counter",
	     "The LB's estimate of live flows cut by drains no node report judged (unverified)");
	fprintf(f, "ebb_agent_flows_cut_estimate_total %llu\n", (unsigned long long)a->flows_cut_estimate_total);
	help(f, "ebb_agent_drains_total", "counter",
	     "Drains completed by this ebbd, verified (judged by the node's own report) or not");
	fprintf(f, "ebb_agent_drains_total{verified=\"true\"} %llu\n", (unsigned long long)a->drains[1]);
	fprintf(f, "ebb_agent_drains_total{verified=\"false\"} %llu\n", (unsigned long long)a->drains[0]);
	help(f, "ebb_agent_hook_runs_total", "counter", "Hooks started");
	fprintf(f, "ebb_agent_hook_runs_total %llu\n", (unsigned long long)a->hook_runs);
	help(f, "ebb_agent_hook_failures_total", "counter", "Hooks that failed, timed out or did not start");
	fprintf(f, "ebb_agent_hook_failures_total %llu\n", (unsigned long long)a->hook_failures);
	help(f, "ebb_agent_health_check_failures_total", "counter", "Failed health checks");
	fprintf(f, "ebb_agent_health_check_failures_total %llu\n", (unsigned long long)a->check_failures);
	help(f, "ebb_agent_state_open", "gauge", "1 while ebbd has the pinned maps open");
	fprintf(f, "ebb_agent_state_open %d\n", a->open);
	{
		json_object *inv = fleet_state_invalid(), *x;

		if (inv) {
			help(f, "ebb_fleet_state_invalid_keys", "gauge",
			     "Keys of the fleet's desired state that fail the schema (each keeps its last good value here)");
			fprintf(f, "ebb_fleet_state_invalid_keys %zu\n", json_object_array_length(inv));
			help(f, "ebb_fleet_state_invalid", "gauge", "1 per key of the desired state that fails the schema");
			for (size_t i = 0; i < json_object_array_length(inv); i++) {
				json_object *o = json_object_array_get_idx(inv, i);

				fprintf(f, "ebb_fleet_state_invalid{");
				label(f, "key", json_object_object_get_ex(o, "key", &x) ? json_object_get_string(x) : "");
				fprintf(f, "} 1\n");
			}
			json_object_put(inv);
		}
	}
	fclose(f);

	pthread_mutex_lock(&page_lock);
	free(page);
	page = buf;
	page_len = len;
	pthread_mutex_unlock(&page_lock);
	status_render(a, now);
}
