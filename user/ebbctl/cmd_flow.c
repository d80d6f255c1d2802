// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ebbctl flow: show the flow table, and explain where one flow goes. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ebbctl.h"
#include "libebb_agent.h"
#include "ebb_hash.h"
#include "ebb_flowtable.h"

struct show_ctx {
	struct ebb *e;
	bool by_vip, by_node;
	struct ebb_vip_key vip_key;
	struct ebb_vip vip;
	/* the VIPs by id, read once */
	bool used[EBB_MAX_VIPS];
	struct ebb_vip_key keys[EBB_MAX_VIPS];
	struct ebb_vip vips[EBB_MAX_VIPS];
	__u32 node_id;
	__u32 limit, shown;
	__u64 now;
	json_object *arr;
	/* -j, not pretty: the array's text, each flow serialized as it is found (the objects of
	 * millions of flows took more memory and time than the text) */
	char *text;
	size_t text_len, text_cap;
	bool text_failed;
	/* each node's address as shown, looked up once (a VIP's flows may be millions) */
	char (*node_addr)[64];
	bool *node_looked;
};

static const char *flow_status(const struct ebb_flow_entry *f, bool live)
{
	if (f->val.flags & EBB_FLOW_RST)
		return "reset";
	if (f->val.flags & EBB_FLOW_UNCONFIRMED)
		return "unconfirmed"; /* rescued, no node has claimed it yet */
	if (!live)
		return (f->val.flags & EBB_FLOW_FIN) ? "closed" : "idle";
	return (f->val.flags & EBB_FLOW_FIN) ? "fin" : "live";
}

static int show_one(const struct ebb_flow_entry *f, void *arg)
{
	struct show_ctx *c = arg;
	struct ebb_vip_key vk = { .port = f->key.dport, .proto = f->key.proto, .family = f->key.family };
	char src[64], vip[64], node_addr[64] = "?";
	const struct ebb_vip *v = NULL;
	struct ebb_node node;
	__u32 id = f->val.vip_id;
	double age;
	bool live;

	if (c->limit && c->shown >= c->limit)
		return 1;
	if (c->by_node && f->val.node_id != c->node_id)
		return 0;
	memcpy(vk.addr, f->key.dst, sizeof(vk.addr));
	/* Its VIP is the one it was placed for, if that still exists: a VIP that reused the id
	 * of a deleted one does not own the deleted one's flows. */
	if (id < EBB_MAX_VIPS && c->used[id] && ebb_flow_of_vip(&f->key, &f->val, &c->keys[id], &c->vips[id]))
		v = &c->vips[id];
	if (c->by_vip && (!v || v->id != c->vip.id))
		return 0;
	live = ebb_flow_live(&f->key, &f->val, v, c->now);
	ebb_fmt_addr(f->key.src, f->key.family, src, sizeof(src));
	ebb_fmt_vip(&vk, vip, sizeof(vip));
	if (f->val.node_id < EBB_MAX_NODES && c->node_looked && c->node_looked[f->val.node_id]) {
		memcpy(node_addr, c->node_addr[f->val.node_id], sizeof(node_addr));
	} else {
		if (!bpf_map_lookup_elem(c->e->nodes_fd, &(__u32){ f->val.node_id }, &node) && node.family)
			ebb_fmt_addr(node.addr, node.family, node_addr, sizeof(node_addr));
		if (f->val.node_id < EBB_MAX_NODES && c->node_looked) {
			memcpy(c->node_addr[f->val.node_id], node_addr, sizeof(node_addr));
			c->node_looked[f->val.node_id] = true;
		}
	}
	age = ebb_flow_age_ns(&f->val, c->now) / 1e9;
	c->shown++;
	if (c->arr) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "src", json_object_new_string(src));
		json_object_object_add(o, "sport", json_object_new_int(ntohs(f->key.sport)));
		json_object_object_add(o, "vip", json_object_new_string(vip));
		json_object_object_add(o, "node", json_object_new_string(node_addr));
		json_object_object_add(o, "status", json_object_new_string(flow_status(f, live)));
		json_object_object_add(o, "live", json_object_new_boolean(live));
		json_object_object_add(o, "idle_s", json_object_new_double(age));
		if (!pretty_output) {
			const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
									  JSON_C_TO_STRING_NOSLASHESCAPE);
			size_t need = c->text_len + strlen(t) + 3;

			if (need > c->text_cap) {
				size_t cap = need > 2 * c->text_cap ? need : 2 * c->text_cap;
				char *more = realloc(c->text, cap);

				if (!more) {
					json_object_put(o);
					c->text_failed = true;
					return -1;
				}
				c->text = more;
				c->text_cap = cap;
			}
			/* json-c's plain array: its elements joined by ',' */
			c->text_len += (size_t)sprintf(c->text + c->text_len, "%s%s", c->shown > 1 ? "," : "", t);
			json_object_put(o);
		} else {
			json_object_array_add(c->arr, o);
		}
	} else {
		char ep[80];

		snprintf(ep, sizeof(ep), f->key.family == EBB_FAMILY_V6 ? "[%s]:%u" : "%s:%u", src,
			 ntohs(f->key.sport));
		printf("%-46s %-28s %-24s %-7s %6.1f\n", ep, vip, node_addr, flow_status(f, live), age);
	}
	return 0;
}

struct flow_show_args {
	struct ebb_vip_key vip;
	struct ebb_addr node;
	__u32 limit;
};

static const struct ctl_arg flow_show_spec[] = {
	{ .name = "vip", .metavar = "VIP", .kind = CTL_VIP, .offset = offsetof(struct flow_show_args, vip) },
	{ .name = "node", .metavar = "NODE", .kind = CTL_ADDR,
	  .offset = offsetof(struct flow_show_args, node) },
	{ .name = "limit", .metavar = "N", .kind = CTL_U32, .min = 1, .max = 100000000,
	  .offset = offsetof(struct flow_show_args, limit),
	  .bad = "limit must be a positive number, not '%s'" },
	{ 0 },
};

static int do_show(void *args)
{
	struct flow_show_args *a = args;
	struct show_ctx c = { .now = ebb_now_ns(), .vip_key = a->vip, .by_vip = a->vip.family != 0,
			      .by_node = a->node.family != 0, .limit = a->limit };
	struct ebb_addr node_addr = a->node;
	struct ebb e;
	int ret;

	if (ctl_open(&e, false))
		return -1;
	c.e = &e;
	if (c.by_vip && ebb_vip_find(&e, &c.vip_key, &c.vip)) {
		ebb_close(&e);
		return ctl_error("no VIP %s", ebb_fmt_vip(&c.vip_key, (char[64]){}, 64));
	}
	{
		struct ebb_vip_key k, *prev = NULL;
		struct ebb_vip v;

		while (!bpf_map_get_next_key(e.vips_fd, prev, &k)) {
			prev = &k;
			if (!bpf_map_lookup_elem(e.vips_fd, &k, &v) && v.id < EBB_MAX_VIPS) {
				c.used[v.id] = true;
				c.keys[v.id] = k;
				c.vips[v.id] = v;
			}
		}
	}
	if (c.by_node && ebb_node_find(&e, &node_addr, &c.node_id, NULL)) {
		ebb_close(&e);
		return ctl_error("no node %s", ebb_fmt_addr(node_addr.a, node_addr.family, (char[64]){}, 64));
	}
	c.node_addr = calloc(EBB_MAX_NODES, sizeof(*c.node_addr));
	c.node_looked = calloc(EBB_MAX_NODES, sizeof(*c.node_looked));
	if (!c.node_addr || !c.node_looked) { /* then looked up for each flow */
		free(c.node_addr);
		free(c.node_looked);
		c.node_addr = NULL;
		c.node_looked = NULL;
	}
	/* A VIP's flows may be millions of lines: one write per line (main's line buffering) cost
	 * more than finding them. Still line by line on a terminal. */
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (json_output) {
		c.arr = json_object_new_array();
		c.text_cap = 1 << 16;
		c.text = malloc(c.text_cap);
		if (!c.text) {
			json_object_put(c.arr);
			ebb_close(&e);
			return ctl_error("out of memory");
		}
		c.text[c.text_len++] = '[';
	} else if (!quiet) {
		printf("%-46s %-28s %-24s %-7s %6s\n", "CLIENT", "VIP", "NODE", "STATUS", "IDLE_S");
	}
	/* show_one still judges each flow; the filter spares it (and the key's rebuilding) the
	 * other nodes' and VIPs' entries: millions of them, at scale */
	ret = ebb_flows_each_of(&e, &(struct ebb_flows_filter){ .node_id = c.by_node ? c.node_id : 0,
								 .by_vip = c.by_vip, .vip_id = c.vip.id },
				show_one, &c);
	ebb_close(&e);
	free(c.node_addr);
	free(c.node_looked);
	if (ret || c.text_failed) {
		json_object_put(c.arr);
		free(c.text);
		return ctl_error(c.text_failed ? "out of memory" : "cannot read the flow table");
	}
	if (c.arr && !pretty_output) {
		json_object_put(c.arr);
		c.text[c.text_len++] = ']';
		c.text[c.text_len] = '\0';
		json_print_text(c.text);
	} else if (c.arr) {
		json_print(c.arr);
	}
	free(c.text);
	return 0;
}

/*
 * Mirrors the datapath's decision for a TCP packet of this flow that is not a SYN, a mid-flow
 * packet (a UDP packet for a UDP VIP; see bpf/balancer.bpf.c): a flow-table hit on an active or draining node goes there;
 * a hit on a node that takes no flows is placed again by the table of active nodes; a miss
 * goes to a handshake pinned aside by the flood guard (syn_pins), else gets the second chance,
 * the table of active and draining nodes.
 */
struct flow_lookup_args {
	struct ctl_endpoint src;
	struct ebb_vip_key vip;
};

static const struct ctl_arg flow_lookup_spec[] = {
	{ .metavar = "SRC:SPORT", .kind = CTL_ENDPOINT, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct flow_lookup_args, src) },
	{ .metavar = "VIP", .kind = CTL_VIP, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct flow_lookup_args, vip) },
	{ 0 },
};

static int do_lookup(void *args)
{
	struct flow_lookup_args *a = args;
	struct ebb_flow_key fk = {};
	struct ebb_vip_key vk = a->vip;
	struct ebb_addr src = a->src.addr;
	struct ebb_vip vip;
	struct ebb_flow flow;
	struct ebb_node node = {};
	__u32 node_id = 0, slot;
	const char *why, *path;
	char naddr[64] = "none", vname[64], pins[600];
	__u16 sport = a->src.port;
	struct ebb e;
	int syn_fd;
	__u64 syn_word = 0;

	if (src.family != vk.family)
		return ctl_error("%s and %s are of different address families", a->src.word,
				 ebb_fmt_vip(&vk, vname, sizeof(vname)));
	if (ctl_open(&e, false))
		return -1;
	memcpy(fk.src, src.a, sizeof(fk.src));
	memcpy(fk.dst, vk.addr, sizeof(fk.dst));
	fk.sport = htons(sport);
	fk.dport = vk.port;
	fk.proto = vk.proto;
	fk.family = vk.family;
	if (ebb_vip_of_flow(&e, &fk, &vip)) {
		ebb_close(&e);
		return ctl_error("no VIP %s", ebb_fmt_vip(&vk, vname, sizeof(vname)));
	}
	slot = ebb_ring_slot_m(&fk, ebb_vip_table_size(&vip));
	snprintf(pins, sizeof(pins), "%s/syn_pins", e.bpffs);
	syn_fd = bpf_obj_get(pins);
	if (!ebb_flow_get(&e, &fk, &flow)) {
		/* The entry's node id is narrower than the nodes map's key. */
		if (!bpf_map_lookup_elem(e.nodes_fd, &(__u32){ flow.node_id }, &node) &&
		    (node.state == EBB_NODE_ACTIVE || node.state == EBB_NODE_DRAINING)) {
			node_id = flow.node_id;
			why = "pinned in the flow table";
			path = "pinned";
		} else {
			node_id = ebb_ring_node(&e, EBB_RING_NEW(vip.id), slot);
			why = "pinned to a node that takes no flows: placed again by the table of active nodes";
			path = "replaced";
		}
	} else if (fk.proto != IPPROTO_TCP) {
		node_id = ebb_ring_node(&e, EBB_RING_NEW(vip.id), slot);
		why = "not in the flow table: a new UDP flow, placed by the table of active nodes";
		path = "new";
	} else if (syn_fd >= 0 && !bpf_map_lookup_elem(syn_fd, &fk, &syn_word) &&
		   ebb_ft_node(syn_word)) { /* an entry word, as the flow table's */
		node_id = ebb_ft_node(syn_word);
		why = "its handshake was pinned aside under the flood guard (syn_pins)";
		path = "syn_pin";
	} else {
		node_id = ebb_ring_node(&e, EBB_RING_SECOND(vip.id), slot);
		why = "not in the flow table: second chance, by the table of active and draining nodes";
		path = "second_chance";
	}
	if (syn_fd >= 0)
		close(syn_fd);
	memset(&node, 0, sizeof(node));
	if (node_id)
		bpf_map_lookup_elem(e.nodes_fd, &node_id, &node);
	else
		why = "dropped: the VIP has no node for it";
	if (node_id)
		ebb_fmt_addr(node.addr, node.family, naddr, sizeof(naddr));
	ebb_close(&e);
	if (json_output) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "node", node_id ? json_object_new_string(naddr) : NULL);
		json_object_object_add(o, "state", json_object_new_string(node_id ? ebb_state_name(node.state) : "none"));
		json_object_object_add(o, "path", json_object_new_string(node_id ? path : "dropped"));
		json_object_object_add(o, "reason", json_object_new_string(why));
		json_object_object_add(o, "slot", json_object_new_int64(slot));
		json_print(o);
	} else {
		printf("%s -> %s (%s): %s, slot %u\n", a->src.word, naddr,
		       node_id ? ebb_state_name(node.state) : "none", why, slot);
	}
	return 0;
}


/* ---- flow trace: the datapath's monitor ring (include/ebb.h, struct ebb_monitor) ---- */

struct trace_ctx {
	struct ebb *e;
	bool used[EBB_MAX_VIPS];
	char vip_names[EBB_MAX_VIPS][64];
	__s64 mono_to_real_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC at the start */
	__u64 count, seen;
};

static volatile sig_atomic_t trace_stop;

static void trace_signal(int sig)
{
	(void)sig;
	trace_stop = 1;
}

static const char *verdict_name(__u8 v)
{
	return v == 1 ? "drop" : v == 2 ? "pass" : v == 3 ? "tx" : "?";
}

static const char *proto_name(__u8 p)
{
	return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : p == IPPROTO_ICMP ? "icmp" :
	       p == IPPROTO_ICMPV6 ? "icmp6" : "ip";
}

static __s64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__s64)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int trace_event(void *arg, void *data, size_t size)
{
	struct trace_ctx *c = arg;
	const struct ebb_monitor_event *ev = data;
	char when[48], src[64] = "-", dst[64] = "-", node_addr[64] = "-", vip[64] = "-";
	__s64 real = (__s64)ev->ns + c->mono_to_real_ns;
	time_t sec = real / 1000000000LL;
	struct ebb_node node;
	struct tm tm;

	if (size < sizeof(*ev) || (c->count && c->seen >= c->count))
		return 0;
	c->seen++;
	gmtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%06lld",
		 (long long)(real % 1000000000LL / 1000));
	if (ev->key.family) {
		ebb_fmt_addr(ev->key.src, ev->key.family, src, sizeof(src));
		ebb_fmt_addr(ev->key.dst, ev->key.family, dst, sizeof(dst));
	}
	if (ev->vip_id < EBB_MAX_VIPS && c->used[ev->vip_id])
		snprintf(vip, sizeof(vip), "%s", c->vip_names[ev->vip_id]);
	if (ev->node_id && !bpf_map_lookup_elem(c->e->nodes_fd, &(__u32){ ev->node_id }, &node) &&
	    node.family)
		ebb_fmt_addr(node.addr, node.family, node_addr, sizeof(node_addr));
	if (json_output) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "time", json_object_new_string(when));
		json_object_object_add(o, "verdict", json_object_new_string(verdict_name(ev->verdict)));
		json_object_object_add(o, "reason", json_object_new_string(ebb_reason_name(ev->reason)));
		json_object_object_add(o, "src", json_object_new_string(src));
		json_object_object_add(o, "sport", json_object_new_int(ntohs(ev->key.sport)));
		json_object_object_add(o, "dst", json_object_new_string(dst));
		json_object_object_add(o, "dport", json_object_new_int(ntohs(ev->key.dport)));
		json_object_object_add(o, "proto", json_object_new_string(proto_name(ev->key.proto)));
		json_object_object_add(o, "vip", json_object_new_string(vip));
		json_object_object_add(o, "node", json_object_new_string(node_addr));
		json_object_object_add(o, "bytes", json_object_new_int64(ev->bytes));
		json_object_object_add(o, "tcp_flags", json_object_new_int(ev->tcp_flags));
		json_object_object_add(o, "cpu", json_object_new_int(ev->cpu));
		json_print(o); /* one document per event: a stream, as bpftool's event_pipe */
	} else {
		printf("%s %-4s %-18s %s%s%s:%u -> %s%s%s:%u/%s vip %s node %s %u bytes cpu %u\n", when,
		       verdict_name(ev->verdict), ebb_reason_name(ev->reason),
		       ev->key.family == EBB_FAMILY_V6 ? "[" : "", src,
		       ev->key.family == EBB_FAMILY_V6 ? "]" : "", ntohs(ev->key.sport),
		       ev->key.family == EBB_FAMILY_V6 ? "[" : "", dst,
		       ev->key.family == EBB_FAMILY_V6 ? "]" : "", ntohs(ev->key.dport),
		       proto_name(ev->key.proto), vip, node_addr, ev->bytes, ev->cpu);
	}
	return 0;
}

static int discard_event(void *arg, void *data, size_t size)
{
	(void)arg;
	(void)data;
	(void)size;
	return 0;
}

/* The listener named in the monitor map is still there (not us, not gone). */
static bool listener_alive(__u32 pid)
{
	return pid && pid != (__u32)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/*
 * Sets the monitor map for as long as it runs and prints what the datapath did to the sampled
 * packets. Only one listener at a time: the ring has one reader. The map is put back to
 * "nobody listens" on the way out (count reached, timeout, SIGINT/SIGTERM); a listener killed
 * outright leaves it set, and the next one takes over once that process is gone.
 */
struct flow_trace_args {
	int verdicts;
	struct ebb_vip_key vip;
	__u32 sample, count, timeout;
};

/* The verdicts a trace reports, as bits of the monitor's mask: XDP_DROP, XDP_PASS, XDP_TX. */
static const struct ctl_choice trace_types[] = {
	{ "drop", 1u << 1 }, { "pass", 1u << 2 }, { "tx", 1u << 3 },
	{ "all", 1u << 1 | 1u << 2 | 1u << 3 }, { NULL, 0 },
};

static const struct ctl_arg flow_trace_spec[] = {
	{ .name = "type", .kind = CTL_CHOICE, .choices = trace_types,
	  .offset = offsetof(struct flow_trace_args, verdicts), .missing = "drop, pass, tx or all" },
	{ .name = "vip", .metavar = "VIP", .kind = CTL_VIP,
	  .offset = offsetof(struct flow_trace_args, vip), .missing = "a VIP" },
	{ .name = "sample", .metavar = "N", .kind = CTL_U32, .min = 1, .max = 1000000000,
	  .offset = offsetof(struct flow_trace_args, sample), .missing = "a number",
	  .bad = "invalid sample '%s': one packet in N, N from 1" },
	{ .name = "count", .metavar = "N", .kind = CTL_U32, .min = 1, .max = 1000000000,
	  .offset = offsetof(struct flow_trace_args, count), .missing = "a number",
	  .bad = "invalid count '%s'" },
	{ .name = "timeout", .metavar = "SECONDS", .kind = CTL_U32, .min = 1, .max = 86400 * 365,
	  .offset = offsetof(struct flow_trace_args, timeout), .missing = "seconds",
	  .bad = "invalid timeout '%s'" },
	{ 0 },
};

static int do_trace(void *args)
{
	struct flow_trace_args *a = args;
	struct ebb_monitor mon = { .sample = a->sample, .verdicts = a->verdicts }, cur = {};
	struct ebb_err lock_err = {};
	struct trace_ctx c = { .count = a->count };
	struct ring_buffer *rb = NULL;
	struct ebb_vip_key vk = a->vip;
	__u32 zero = 0, timeout_s = a->timeout;
	int mon_fd = -1, ring_fd = -1, ret = 0;
	bool have_vip = vk.family != 0;
	char path[600];
	__s64 deadline = 0;
	struct ebb e;

	if (ctl_open(&e, false))
		return -1;
	c.e = &e;
	for (__u32 id = 0; id < EBB_MAX_VIPS; id++) {
		struct ebb_vip_entry ve;

		if (!bpf_map_lookup_elem(e.vips_by_id_fd, &id, &ve) && ve.key.family) {
			c.used[id] = true;
			ebb_fmt_vip(&ve.key, c.vip_names[id], sizeof(c.vip_names[id]));
		}
	}
	if (have_vip) {
		struct ebb_vip vip;
		char name[64];

		if (bpf_map_lookup_elem(e.vips_fd, &vk, &vip)) {
			ebb_close(&e);
			return ctl_error("no VIP %s", ebb_fmt_vip(&vk, name, sizeof(name)));
		}
		mon.vip_id1 = vip.id + 1;
	}
	snprintf(path, sizeof(path), "%s/monitor", bpffs);
	mon_fd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/monitor_events", bpffs);
	ring_fd = mon_fd < 0 ? -1 : bpf_obj_get(path);
	if (mon_fd < 0 || ring_fd < 0) {
		ret = ctl_error("no monitor under %s: the running program predates it; run 'ebbctl prog upgrade'",
				bpffs);
		goto out;
	}
	/* The check and the claim below under the state's lock: two traces started at once
	 * would both find the monitor free, and split one ring's events between them. (Its
	 * holders are writers, for milliseconds; out: releases it on every error.) */
	if (ebb_lock(&e, &lock_err)) {
		ret = ctl_error("%s", lock_err.msg);
		goto out;
	}
	if (!bpf_map_lookup_elem(mon_fd, &zero, &cur) && cur.sample && listener_alive(cur.pid)) {
		ret = ctl_error("another 'flow trace' is listening (pid %u); one at a time", cur.pid);
		goto out;
	}
	/* Events a listener killed outright left in the ring are not this run's. */
	rb = ring_buffer__new(ring_fd, discard_event, NULL, NULL);
	if (!rb) {
		ret = ctl_error("cannot read the monitor ring: %s", strerror(errno));
		goto out;
	}
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
	rb = ring_buffer__new(ring_fd, trace_event, &c, NULL);
	if (!rb) {
		ret = ctl_error("cannot read the monitor ring: %s", strerror(errno));
		goto out;
	}
	mon.pid = getpid();
	mon.lost = 0;
	signal(SIGINT, trace_signal);
	signal(SIGTERM, trace_signal);
	signal(SIGPIPE, trace_signal);
	c.mono_to_real_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	if (bpf_map_update_elem(mon_fd, &zero, &mon, BPF_ANY)) {
		ret = ctl_error("cannot set the monitor: %s", strerror(errno));
		goto out;
	}
	ebb_unlock(&e);
	/* on stderr, -j too: a script can wait for it to know the monitor is on */
	if (!quiet)
		fprintf(stderr, "tracing 1 packet in %u (%s)%s%s; Ctrl-C to stop\n", mon.sample,
			mon.verdicts == 1u << 1 ? "drop" : mon.verdicts == 1u << 2 ? "pass" :
			mon.verdicts == 1u << 3 ? "tx" : "drop, pass, tx",
			have_vip ? " of VIP " : "", have_vip ? c.vip_names[mon.vip_id1 - 1] : "");
	if (timeout_s)
		deadline = clock_ns(CLOCK_MONOTONIC) + (__s64)timeout_s * 1000000000LL;
	while (!trace_stop && (!c.count || c.seen < c.count) &&
	       (!deadline || clock_ns(CLOCK_MONOTONIC) < deadline)) {
		int r = ring_buffer__poll(rb, 200);

		if (r < 0 && r != -EINTR) {
			ret = ctl_error("cannot read the monitor ring: %s", strerror(-r));
			break;
		}
		fflush(stdout);
	}
	/* Nobody listens any more: the datapath stops paying for it (unless another took over). */
	if (!bpf_map_lookup_elem(mon_fd, &zero, &cur) && cur.pid == (__u32)getpid()) {
		if (cur.lost && !quiet)
			fprintf(stderr, "%llu events lost: the ring was full (try a larger 'sample')\n",
				(unsigned long long)cur.lost);
		bpf_map_update_elem(mon_fd, &zero, &(struct ebb_monitor){}, BPF_ANY);
	}
out:
	ring_buffer__free(rb);
	if (mon_fd >= 0)
		close(mon_fd);
	if (ring_fd >= 0)
		close(ring_fd);
	ebb_close(&e);
	return ret;
}

static void flow_notes(FILE *f)
{
	fprintf(f,
		"\n"
		"  trace: what the datapath did to packets as they pass (verdict, reason, VIP, node,\n"
		"  addresses), 1 in N at random (sample, default 1), until count events, timeout or\n"
		"  Ctrl-C. Costs the datapath nothing while no trace runs; one trace at a time.\n");
}

static const struct ctl_command flow_commands[] = {
	{ .name = "show", .alias = "list", .run = do_show, CTL_ARGS(flow_show_args, flow_show_spec) },
	{ .name = "lookup", .run = do_lookup, CTL_ARGS(flow_lookup_args, flow_lookup_spec) },
	{ .name = "trace", .run = do_trace, CTL_ARGS(flow_trace_args, flow_trace_spec),
	  .defaults = &(struct flow_trace_args){ .verdicts = 1u << 1 | 1u << 2 | 1u << 3, .sample = 1 } },
	{ NULL },
};

const struct ctl_object ctl_flow_object = { "flow", flow_commands, flow_notes };
