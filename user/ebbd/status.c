// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The status page, served at / next to /metrics: the nodes with their states, live flows,
 * rates and health; live flows per node over the last minutes as an inline SVG chart; ebbd's
 * recent decisions. One HTML document with no external asset (no script, no font, no image
 * fetched), so it works on a host with no way out. Like the metrics page it is rendered by the
 * main loop (at most once a second) into a buffer that a request only copies.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ebbd.h"
#include "libebb_agent.h"
#include "truth.h"

#define HIST_N 300 /* samples kept: 10 minutes at one every 2 s */
#define HIST_STEP_NS (2 * NS_PER_S)
#define NO_SAMPLE UINT32_MAX
#define FLEET_MARK "<!--fleet-->\n"

static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static char *status_buf;
static size_t status_len;

/* Flows per node id at each sample (NO_SAMPLE: not that node then), oldest first from head. */
static __u64 hist_t[HIST_N];
static __u32 hist_flows[HIST_N][EBB_MAX_NODES];
static __u8 hist_state[HIST_N][EBB_MAX_NODES];
static __u64 hist_gen[EBB_MAX_NODES];
static int hist_head, hist_n;
static __u64 last_sample_ns, last_render_ns;
/* A node's state or last drain changed since the last render (status_nodes_changed). */
static bool nodes_changed;

static pthread_mutex_t changes_lock = PTHREAD_MUTEX_INITIALIZER;

/* ebbctl's last changes (talk.c), for the page's own table: who, what, when. */
#define CHANGES_N 20
static struct change_row {
	struct ebb_change_rec r;
	char user[32];
} changes[CHANGES_N];
static int changes_head, changes_n;

void status_change(const struct ebb_change_rec *r, const char *user)
{
	struct change_row *c;

	pthread_mutex_lock(&changes_lock);
	c = &changes[changes_head];
	c->r = *r;
	snprintf(c->user, sizeof(c->user), "%s", user ? user : "");
	changes_head = (changes_head + 1) % CHANGES_N;
	if (changes_n < CHANGES_N)
		changes_n++;
	pthread_mutex_unlock(&changes_lock);
}

static void esc(FILE *f, const char *s)
{
	if (!s) {
		fputs("&ndash;", f);
		return;
	}
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

static const char *const palette[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
				       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };
#define PALETTE_N (sizeof(palette) / sizeof(palette[0]))

static const char *state_color(__u8 s)
{
	switch (s) {
	case EBB_NODE_ACTIVE: return "#d9f2d9";
	case EBB_NODE_DRAINING: return "#fff0c2";
	case EBB_NODE_INACTIVE: return "#e6e6e6";
	case EBB_NODE_DOWN: return "#f8d0d0";
	default: return "#ffffff";
	}
}

static void sample(const struct agent *a, __u64 now)
{
	int i = hist_head;

	hist_t[i] = now;
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];

		if (!n->used) {
			hist_flows[i][id] = NO_SAMPLE;
			continue;
		}
		if (n->gen != hist_gen[id]) {
			/* Another node in this slot: the old one's history is not its. */
			for (int j = 0; j < HIST_N; j++)
				hist_flows[j][id] = NO_SAMPLE;
			hist_gen[id] = n->gen;
		}
		hist_flows[i][id] = n->census.flows_known ? (__u32)n->census.flows : NO_SAMPLE;
		hist_state[i][id] = n->entry.state;
	}
	hist_head = (hist_head + 1) % HIST_N;
	if (hist_n < HIST_N)
		hist_n++;
}

/* A round top for the axis: 1, 2 or 5 x 10^k, at least v. */
static __u32 nice_top(__u32 v)
{
	__u32 p = 1;

	while (p <= v / 10)
		p *= 10;
	return v <= p ? p : v <= 2 * p ? 2 * p : v <= 5 * p ? 5 * p : 10 * p;
}

/* The chart: x = time over the kept samples, y = live flows; one line per node, and under
 * the plot one thin band per node coloured by its state over time. */
static void chart(FILE *f, const struct agent *a, __u64 now)
{
	const int W = 960, H = 260, L = 110, R = 16, T = 12, B = 28, BAND = 10;
	__u32 ymax = 1;
	int rows = 0, first = (hist_head - hist_n + HIST_N) % HIST_N;
	double span = (double)HIST_N * HIST_STEP_NS / NS_PER_S, x0 = L, pw = W - L - R, ph = H - T - B;
	__u32 color_i = 0;

	for (__u32 id = 1; id < EBB_MAX_NODES; id++)
		if (a->nodes[id].used) {
			rows++;
			for (int k = 0; k < hist_n; k++) {
				__u32 v = hist_flows[(first + k) % HIST_N][id];

				if (v != NO_SAMPLE && v > ymax)
					ymax = v;
			}
		}
	ymax = nice_top(ymax);
	fprintf(f, "<svg id=\"flows-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		   "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"live flows per node\">\n",
		W, H + rows * (BAND + 2) + 8, W, H + rows * (BAND + 2) + 8);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%g\" height=\"%g\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n",
		L, T, pw, ph);
	/* Grid lines on whole numbers: 5 steps for 5 x 10^k and 10^k, 4 for 2 x 10^k. */
	{
		int div = ymax % 5 == 0 ? 5 : ymax % 4 == 0 ? 4 : ymax % 2 == 0 ? 2 : 1;

		for (int g = 0; g <= div; g++) {
			double y = T + ph - ph * g / div;

			fprintf(f, "<line x1=\"%d\" x2=\"%g\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>"
				   "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%u</text>\n",
				L, L + pw, y, y, L - 6, y + 4, ymax / div * g);
		}
	}
	for (int m = 0; m <= 10; m += 2) {
		double x = x0 + pw * (span - m * 60.0) / span;

		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s%d min</text>\n",
			x, T + (int)ph + 16, m ? "-" : "", m);
	}
	color_i = 0;
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];
		const char *color = palette[color_i++ % PALETTE_N];
		int pts = 0, row = 0;

		if (!n->used)
			continue;
		fprintf(f, "<polyline class=\"flows\" data-node=\"");
		esc(f, n->name);
		fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
		for (int k = 0; k < hist_n; k++) {
			int i = (first + k) % HIST_N;
			__u32 v = hist_flows[i][id];
			double age = (double)(now - hist_t[i]) / NS_PER_S;

			if (v == NO_SAMPLE || age > span)
				continue;
			fprintf(f, "%.1f,%.1f ", x0 + pw * (span - age) / span, T + ph - ph * v / ymax);
			pts++;
		}
		fprintf(f, "\"/>\n");
		(void)pts;
		/* State band for this node. */
		for (__u32 j = 1; j < id; j++)
			row += a->nodes[j].used;
		{
			double y = H + row * (BAND + 2);

			fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"9\" text-anchor=\"end\">", L - 6, y + 8);
			esc(f, n->name);
			fprintf(f, "</text>");
			for (int k = 0; k < hist_n; k++) {
				int i = (first + k) % HIST_N;
				double age = (double)(now - hist_t[i]) / NS_PER_S, w = pw * HIST_STEP_NS / NS_PER_S / span;

				if (hist_flows[i][id] == NO_SAMPLE && hist_state[i][id] == 0)
					continue;
				if (age > span)
					continue;
				fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>",
					x0 + pw * (span - age) / span - w, y, w + 0.5, BAND,
					state_color(hist_state[i][id]));
			}
			fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%g\" height=\"%d\" fill=\"none\" stroke=\"%s\"/>\n",
				L, y, pw, BAND, color);
		}
	}
	fprintf(f, "</svg>\n");
}

/* The draining node's own count (truth.c): what it said, or why it could not be believed. */
static void truth_cell(FILE *f, const struct agent *a, const struct node *n)
{
	const struct node_truth *t = truth_get((struct agent *)a, n);

	fprintf(f, "<td class=\"truth\" data-truth=\"%s\">",
		t->status == TRUTH_OK ? "ok" : t->status == TRUTH_FAILED ? "failed" :
		t->status == TRUTH_PENDING ? "pending" : "none");
	if (t->status == TRUTH_OK)
		fprintf(f, "%llu live, %llu reset", (unsigned long long)t->live, (unsigned long long)t->reset);
	else if (t->status == TRUTH_PENDING)
		fprintf(f, "asked");
	else if (t->status == TRUTH_FAILED) {
		fprintf(f, "cannot report: ");
		esc(f, t->why);
	}
	fprintf(f, "</td>");
}

static void human(FILE *f, double v)
{
	if (v >= 1e9)
		fprintf(f, "%.1f G", v / 1e9);
	else if (v >= 1e6)
		fprintf(f, "%.1f M", v / 1e6);
	else if (v >= 1e4)
		fprintf(f, "%.1f k", v / 1e3);
	else
		fprintf(f, "%.0f", v);
}

/* A monotonic time as wall-clock HH:MM:SS (the maps keep CLOCK_MONOTONIC). */
static void wall_of(__u64 mono, __u64 now, char *buf, size_t len)
{
	time_t t = time(NULL) - (time_t)((now > mono ? now - mono : 0) / NS_PER_S);

	strftime(buf, len, "%H:%M:%S", localtime(&t));
}

/* VIPs with their nodes, weights and states: what the balancer does with each. */
static void vip_table(FILE *f, const struct agent *a)
{
	fprintf(f, "<h2>VIPs</h2>\n<table id=\"vips\"><thead><tr><th>VIP</th><th>forwarding</th>"
		   "<th>drain timeout</th><th>nodes (weight, state)</th></tr></thead><tbody>\n");
	for (int i = 0; i < a->n_vips; i++) {
		const struct vip_ent *v = &a->vips[i];
		char name[64];
		int members = 0;

		ebb_fmt_vip(&v->key, name, sizeof(name));
		fprintf(f, "<tr class=\"vip\" data-vip=\"");
		esc(f, name);
		fprintf(f, "\"><td>");
		esc(f, name);
		fprintf(f, "</td><td>%s</td><td class=\"num\">%u s</td><td>", ebb_fwd_name(v->vip.fwd),
			ebb_drain_timeout_s(0, v->vip.drain_timeout_s));
		for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
			const struct node *n = &a->nodes[id];

			if (!n->used)
				continue;
			for (int k = 0; k < n->n_vips; k++) {
				const char *st = ebb_state_name(n->entry.state);

				if (n->vip_ids[k] != v->vip.id)
					continue;
				fprintf(f, "%s<span class=\"member\" data-node=\"", members++ ? " &middot; " : "");
				esc(f, n->name);
				fprintf(f, "\" data-weight=\"%u\" data-state=\"%s\">", n->vip_weights[k], st);
				esc(f, n->name);
				fprintf(f, " <span class=\"weight\">w%u</span> <span class=\"state s-%s\">%s</span></span>",
					n->vip_weights[k], st, st);
			}
		}
		if (!members)
			fprintf(f, "no node: its packets are dropped");
		fprintf(f, "</td></tr>\n");
	}
	if (!a->n_vips)
		fprintf(f, "<tr><td colspan=\"4\">no VIP (ebbctl vip add)</td></tr>\n");
	fprintf(f, "</tbody></table>\n");
}

/*
 * Each drain: while it runs, flows left (the node's own count when ebbd reads it, else the LB's
 * table) and elapsed of its timeout; once over, when it ended, what it cut and whether the node
 * can be powered off: only when the node's own count said 0 (verified).
 */
static void drain_table(FILE *f, const struct agent *a, __u64 now)
{
	int rows = 0;

	fprintf(f, "<h2>Drains</h2>\n<table id=\"drains\"><thead><tr><th>node</th><th>state</th>"
		   "<th>flows left</th><th>elapsed / timeout</th><th>progress</th><th>judged by</th>"
		   "<th>power off</th></tr></thead><tbody>\n");
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		const struct node *n = &a->nodes[id];
		char when[16];

		if (!n->used)
			continue;
		if (n->entry.state == EBB_NODE_DRAINING) {
			__u32 timeout = node_drain_timeout(a, n);
			double age = now > n->entry.state_since_ns ? (now - n->entry.state_since_ns) / 1e9 : 0;
			bool verified = n->drain.ds.drain == n->entry.state_since_ns && n->drain.verified;
			long long left = verified ? (long long)n->drain.ds.node_live : n->census.flows_known ? (long long)n->census.flows : -1;

			rows++;
			fprintf(f, "<tr class=\"drain\" data-node=\"");
			esc(f, n->name);
			fprintf(f, "\" data-state=\"draining\" data-flows-left=\"%lld\" data-elapsed=\"%.0f\" "
				   "data-timeout=\"%u\"><td>", left, age, timeout);
			esc(f, n->name);
			fprintf(f, "</td><td><span class=\"state s-draining\">draining</span></td><td class=\"num left\">");
			if (left >= 0)
				fprintf(f, "%lld", left);
			else
				fprintf(f, "&ndash;");
			fprintf(f, "</td><td class=\"num\">%.0f / %u s</td>"
				   "<td><progress value=\"%.0f\" max=\"%u\"></progress></td><td>%s</td>"
				   "<td class=\"poweroff\" data-safe=\"0\">not yet: it drains</td></tr>\n",
				age, timeout, age > timeout ? timeout : age, timeout,
				verified ? "the node's count (verified)" : "the LB's table (unverified)");
		} else if (n->drain.last.have && n->entry.state == EBB_NODE_INACTIVE) {
			bool safe = n->drain.last.verified && !n->drain.last.cut;

			rows++;
			wall_of(n->entry.state_since_ns, now, when, sizeof(when));
			fprintf(f, "<tr class=\"drain done\" data-node=\"");
			esc(f, n->name);
			fprintf(f, "\" data-state=\"inactive\" data-flows-cut=\"%lld\" data-verified=\"%d\"><td>",
				n->drain.last.cut, n->drain.last.verified);
			esc(f, n->name);
			fprintf(f, "</td><td><span class=\"state s-inactive\">inactive</span> since %s</td>"
				   "<td class=\"num\">%s%lld cut</td><td></td><td><progress value=\"1\" max=\"1\"></progress></td>"
				   "<td>%s</td><td class=\"poweroff\" data-safe=\"%d\">", when,
				n->drain.last.verified ? "" : "~", n->drain.last.cut,
				n->drain.last.verified ? "the node's count (verified)" : "the LB's estimate (unverified)",
				safe);
			if (safe)
				fprintf(f, "<b>safe to power off</b> since %s", when);
			else if (n->drain.last.verified)
				fprintf(f, "powering off ends its %lld cut connection(s)", n->drain.last.cut);
			else
				fprintf(f, "unverified: check the node first");
			fprintf(f, "</td></tr>\n");
		}
	}
	if (!rows)
		fprintf(f, "<tr><td colspan=\"7\">no drain since ebbd started</td></tr>\n");
	fprintf(f, "</tbody></table>\n");
}

/* ebbctl's changes: who (uid, login behind sudo), which command, what it did, when. */
static void change_table(FILE *f)
{
	fprintf(f, "<h2>Changes by ebbctl</h2>\n<table id=\"changes\"><thead><tr><th>time</th><th>who</th>"
		   "<th>command</th><th>what it did</th></tr></thead><tbody>\n");
	pthread_mutex_lock(&changes_lock);
	for (int k = 0; k < changes_n; k++) { /* newest first */
		const struct change_row *c = &changes[(changes_head - 1 - k + CHANGES_N) % CHANGES_N];
		time_t t = (time_t)(c->r.realtime_ns / NS_PER_S);
		char when[16];

		strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
		fprintf(f, "<tr class=\"change\" data-uid=\"%u\"><td>%s</td><td>", c->r.uid, when);
		if (c->user[0])
			esc(f, c->user);
		fprintf(f, " (uid %u", c->r.uid);
		if (c->r.loginuid != ~0u && c->r.loginuid != c->r.uid)
			fprintf(f, ", login uid %u", c->r.loginuid);
		fprintf(f, ", pid %u)</td><td class=\"cmd\"><code>", c->r.pid);
		esc(f, c->r.cmd);
		fprintf(f, "</code></td><td class=\"what\">");
		esc(f, c->r.what);
		fprintf(f, "</td></tr>\n");
	}
	if (!changes_n)
		fprintf(f, "<tr><td colspan=\"4\">none since ebbd started</td></tr>\n");
	pthread_mutex_unlock(&changes_lock);
	fprintf(f, "</tbody></table>\n");
}

/* One of the log's recent events (log_recent hands them newest first) as a row of the page. */
static void event_row(void *out, const char *text)
{
	FILE *f = out;
	json_object *o = json_tokener_parse(text), *v;
	char when[32] = "";

	if (!o)
		return;
	if (json_object_object_get_ex(o, "ts", &v)) {
		time_t t = (time_t)json_object_get_double(v);

		strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
	}
	fprintf(f, "<tr><td>%s</td><td>", when);
	if (json_object_object_get_ex(o, "level", &v))
		esc(f, json_object_get_string(v));
	fprintf(f, "</td><td class=\"ev\">");
	if (json_object_object_get_ex(o, "event", &v))
		esc(f, json_object_get_string(v));
	fprintf(f, "</td><td>");
	json_object_object_foreach(o, key, val)
	{
		if (!strcmp(key, "ts") || !strcmp(key, "level") || !strcmp(key, "event"))
			continue;
		fprintf(f, "<b>");
		esc(f, key);
		fprintf(f, "</b>=");
		esc(f, val ? json_object_get_string(val) : "null");
		fprintf(f, " ");
	}
	fprintf(f, "</td></tr>\n");
	json_object_put(o);
}

void status_nodes_changed(void)
{
	nodes_changed = true;
}

void status_render(const struct agent *a, __u64 now)
{
	char *buf = NULL, host[128] = "", when[64];
	size_t len = 0;
	FILE *f;
	time_t t = time(NULL);
	__u64 total = 0;
	int n_nodes = 0;

	if (!last_sample_ns || now - last_sample_ns >= HIST_STEP_NS) {
		sample(a, now);
		last_sample_ns = now;
	}
	/* At most once a second, but a node's state change at once: the page must never show a
	 * state /metrics, published in the same tick, has already left. */
	if (last_render_ns && now - last_render_ns < NS_PER_S && !nodes_changed)
		return;
	last_render_ns = now;
	nodes_changed = false;
	f = open_memstream(&buf, &len);
	if (!f)
		return;
	gethostname(host, sizeof(host) - 1);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
	for (__u32 id = 1; id < EBB_MAX_NODES; id++)
		if (a->nodes[id].used) {
			n_nodes++;
			total += a->nodes[id].census.flows_known ? a->nodes[id].census.flows : 0;
		}
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		   "<meta http-equiv=\"refresh\" content=\"5\">"
		   "<meta name=\"viewport\" content=\"width=device-width\"><title>ebb: ");
	esc(f, host);
	fprintf(f, "</title>\n<style>\n"
		   "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222}\n"
		   "h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 8px}\n"
		   ".sub{color:#666;font-size:13px}\n"
		   "table{border-collapse:collapse;font-size:13px}\n"
		   "th,td{padding:4px 10px;border-bottom:1px solid #e5e5e5;text-align:left}\n"
		   "th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
		   ".state{padding:1px 8px;border-radius:9px;font-weight:600}\n"
		   ".s-active{background:#d9f2d9}.s-draining{background:#fff0c2}"
		   ".s-inactive{background:#e6e6e6}.s-down{background:#f8d0d0}\n"
		   ".swatch{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}\n"
		   "#events td{vertical-align:top}#events td.ev{font-weight:600}\n"
		   "</style></head><body>\n<h1>ebb on ");
	esc(f, host);
	fprintf(f, "</h1>\n<div class=\"sub\">%s &middot; state under ", when);
	esc(f, a->bpffs);
	fprintf(f, " &middot; %s &middot; %d node(s), %llu live flow(s) &middot; "
		   "<a href=\"/metrics\">metrics</a></div>\n",
		a->open ? "maps open" : "<b>no pinned state</b>", n_nodes, (unsigned long long)total);
	fputs(FLEET_MARK, f); /* status_copy puts fleet mode's line there, made at the request */

	{
		/* fleet keys that fail the schema: shown until fixed (doc/fleet.md, "Schema") */
		json_object *inv = fleet_state_invalid(), *x;
		size_t n_inv = inv ? json_object_array_length(inv) : 0;

		if (n_inv) {
			fprintf(f, "<h2>Desired state: %zu invalid key(s)</h2>\n<table id=\"state_invalid\"><thead><tr>"
				   "<th>key</th><th>error</th><th>here</th></tr></thead><tbody>\n", n_inv);
			for (size_t i = 0; i < n_inv; i++) {
				json_object *o = json_object_array_get_idx(inv, i);

				fprintf(f, "<tr class=\"s-down\"><td>");
				esc(f, json_object_object_get_ex(o, "key", &x) ? json_object_get_string(x) : NULL);
				fprintf(f, "</td><td>");
				esc(f, json_object_object_get_ex(o, "error", &x) ? json_object_get_string(x) : NULL);
				fprintf(f, "</td><td>%s</td></tr>\n",
					json_object_object_get_ex(o, "kept", &x) && json_object_get_boolean(x) ?
						"last good value kept" : "left as the maps have it");
			}
			fprintf(f, "</tbody></table>\n");
		}
		json_object_put(inv);
	}
	fprintf(f, "<h2>Nodes</h2>\n<table id=\"nodes\"><thead><tr><th>node</th><th>state</th>"
		   "<th>pool</th><th>live flows</th><th>new flows/s</th><th>packets/s</th>"
		   "<th>bits/s</th><th>health</th><th>in state</th><th>drain</th><th>node's count</th>"
		   "</tr></thead><tbody>\n");
	{
		__u32 color_i = 0;

		for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
			const struct node *n = &a->nodes[id];
			const char *st;
			double age;

			if (!n->used)
				continue;
			st = ebb_state_name(n->entry.state);
			age = now > n->entry.state_since_ns ? (now - n->entry.state_since_ns) / 1e9 : 0;
			fprintf(f, "<tr class=\"node\" data-node=\"");
			esc(f, n->name);
			fprintf(f, "\" data-state=\"%s\"><td><span class=\"swatch\" style=\"background:%s\"></span>",
				st, palette[color_i++ % PALETTE_N]);
			esc(f, n->name);
			fprintf(f, "</td><td><span class=\"state s-%s\">%s</span></td><td>", st, st);
			esc(f, pool_name(a, n->pool));
			fprintf(f, "</td><td class=\"num\">");
			if (n->census.flows_known)
				fprintf(f, "%llu", (unsigned long long)n->census.flows);
			else
				fprintf(f, "&ndash;");
			fprintf(f, "</td><td class=\"num\">");
			if (n->census.have_rates)
				human(f, n->census.new_flows_s);
			fprintf(f, "</td><td class=\"num\">");
			if (n->census.have_rates)
				human(f, n->census.packets_s);
			fprintf(f, "</td><td class=\"num\">");
			if (n->census.have_rates)
				human(f, n->census.bytes_s * 8);
			fprintf(f, "</td><td>");
			if (n->pool >= 0 && a->cfg.pools[n->pool].health.type != CHECK_NONE)
				fprintf(f, "%s", n->entry.state == EBB_NODE_DOWN ? "failing" :
						 n->health.fail_streak ? "failing checks" : "ok");
			else
				fprintf(f, "not checked");
			fprintf(f, "</td><td class=\"num\">%.0f s</td><td>", age);
			/* whether the node's own count judges the drain, or only the LB's table does */
			if (n->entry.state == EBB_NODE_DRAINING) {
				fprintf(f, "%.0f / %u s", age, node_drain_timeout(a, n));
				if (n->drain.ds.drain == n->entry.state_since_ns && n->drain.verified)
					fprintf(f, " &middot; <span class=\"verified\" data-verified=\"1\">verified</span>, "
						   "node: %llu live", (unsigned long long)n->drain.ds.node_live);
				else
					fprintf(f, " &middot; <span class=\"unverified\" data-verified=\"0\">unverified</span>");
			} else if (n->drain.last.have) {
				if (n->drain.last.verified)
					fprintf(f, "last: %lld cut <span class=\"verified\" data-verified=\"1\">(verified)</span>",
						n->drain.last.cut);
				else
					fprintf(f, "last: ~%lld cut <span class=\"unverified\" data-verified=\"0\">(LB estimate, unverified)</span>",
						n->drain.last.cut);
			}
			fprintf(f, "</td>");
			truth_cell(f, a, n);
			fprintf(f, "</tr>\n");
		}
	}
	fprintf(f, "</tbody></table>\n");
	vip_table(f, a);
	drain_table(f, a, now);
	fprintf(f, "<h2>Live flows per node, last 10 minutes</h2>\n");
	chart(f, a, now);
	fprintf(f, "<div class=\"sub\">bands: node state over time &mdash; "
		   "<span class=\"state s-active\">active</span> <span class=\"state s-draining\">draining</span> "
		   "<span class=\"state s-inactive\">inactive</span> <span class=\"state s-down\">down</span></div>\n");
	change_table(f);
	fprintf(f, "<h2>Recent decisions</h2>\n<table id=\"events\"><thead><tr><th>time</th><th>level</th>"
		   "<th>event</th><th>details</th></tr></thead><tbody>\n");
	log_recent(event_row, f);
	fprintf(f, "</tbody></table>\n</body></html>\n");
	fclose(f);

	pthread_mutex_lock(&status_lock);
	free(status_buf);
	status_buf = buf;
	status_len = len;
	pthread_mutex_unlock(&status_lock);
}

char *status_copy(size_t *len)
{
	char fl[1024], *copy, *mark;
	size_t n = (size_t)fleet_status_html(fl, sizeof(fl)), at;

	pthread_mutex_lock(&status_lock);
	mark = status_buf ? strstr(status_buf, FLEET_MARK) : NULL;
	at = mark ? (size_t)(mark - status_buf) : status_len;
	if (!mark)
		n = 0;
	*len = status_len + n;
	copy = malloc(*len + 1);
	if (copy && status_buf) {
		/* whether this host leads is the lease's business at this moment (fleet.c, leads_now) */
		memcpy(copy, status_buf, at);
		memcpy(copy + at, fl, n);
		memcpy(copy + at + n, status_buf + at, status_len - at);
	} else {
		*len = 0; /* no page yet, or out of memory */
	}
	pthread_mutex_unlock(&status_lock);
	return copy;
}
