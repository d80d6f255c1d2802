// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ebbctl stats: per-VIP, per-node and per-reason counters, summed over CPUs. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>

#include "ebbctl.h"

static json_object *counters_json(const struct ebb_counters *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "packets", json_object_new_int64(c->packets));
	json_object_object_add(o, "bytes", json_object_new_int64(c->bytes));
	json_object_object_add(o, "new_flows", json_object_new_int64(c->new_flows));
	json_object_object_add(o, "second_chance", json_object_new_int64(c->second_chance));
	json_object_object_add(o, "unpinned", json_object_new_int64(c->unpinned));
	return o;
}

static void counters_line(const char *kind, const char *name, const struct ebb_counters *c)
{
	printf("%-5s %-28s %12llu %14llu %10llu %8llu %9llu\n", kind, name,
	       (unsigned long long)c->packets, (unsigned long long)c->bytes,
	       (unsigned long long)c->new_flows, (unsigned long long)c->second_chance,
	       (unsigned long long)c->unpinned);
}

struct stats_show_args {
	struct ebb_vip_key vip;
	struct ebb_addr node;
};

static const struct ctl_arg stats_show_spec[] = {
	{ .name = "vip", .metavar = "VIP", .kind = CTL_VIP, .offset = offsetof(struct stats_show_args, vip) },
	{ .name = "node", .metavar = "NODE", .kind = CTL_ADDR, .flags = CTL_OR,
	  .offset = offsetof(struct stats_show_args, node) },
	{ 0 },
};

static int do_show(void *args)
{
	struct stats_show_args *a = args;
	struct ebb_vip_key want_vip = a->vip, k, *prev = NULL;
	struct ebb_addr want_node = a->node;
	struct ebb_vip want_v = {};
	bool by_vip = want_vip.family != 0, by_node = want_node.family != 0;
	json_object *doc = NULL, *jv = NULL, *jn = NULL, *jr = NULL;
	char name[64];
	struct ebb e;

	if (ctl_open(&e, false))
		return -1;
	if (by_vip && ebb_vip_find(&e, &want_vip, &want_v)) {
		ebb_close(&e);
		return ctl_error("no VIP %s", ebb_fmt_vip(&want_vip, name, sizeof(name)));
	}
	if (by_node && ebb_node_find(&e, &want_node, NULL, NULL)) {
		ebb_close(&e);
		return ctl_error("no node %s", ebb_fmt_addr(want_node.a, want_node.family, name, sizeof(name)));
	}
	if (json_output) {
		doc = json_object_new_object();
		jv = json_object_new_object();
		jn = json_object_new_object();
		jr = json_object_new_object();
	} else if (!quiet) {
		printf("%-5s %-28s %12s %14s %10s %8s %9s\n", "KIND", "NAME", "PACKETS", "BYTES",
		       "NEW_FLOWS", "2ND_CH", "UNPINNED");
	}
	while (!by_node && !bpf_map_get_next_key(e.vips_fd, prev, &k)) {
		struct ebb_counters c;
		struct ebb_vip v;
		char name[64];

		prev = &k;
		if ((by_vip && memcmp(&k, &want_vip, sizeof(k))) || bpf_map_lookup_elem(e.vips_fd, &k, &v) ||
		    ebb_counters_sum(e.vip_stats_fd, v.id, &c))
			continue;
		ebb_fmt_vip(&k, name, sizeof(name));
		if (jv)
			json_object_object_add(jv, name, counters_json(&c));
		else
			counters_line("vip", name, &c);
	}
	for (__u32 id = 1; !by_vip && id < EBB_MAX_NODES; id++) {
		struct ebb_counters c;
		struct ebb_node n;
		char name[64];

		if (bpf_map_lookup_elem(e.nodes_fd, &id, &n) || n.state == EBB_NODE_UNUSED)
			continue;
		if (by_node && (n.family != want_node.family || !ebb_addr_eq(n.addr, want_node.a, n.family)))
			continue;
		if (ebb_counters_sum(e.node_stats_fd, id, &c))
			continue;
		ebb_fmt_addr(n.addr, n.family, name, sizeof(name));
		if (jn)
			json_object_object_add(jn, name, counters_json(&c));
		else
			counters_line("node", name, &c);
	}
	/* Every reason of the datapath; for one VIP, its packets that were not plainly forwarded,
	 * by reason (vip_reasons: the VIP's drops and why). */
	for (__u32 r = by_vip; !by_node && r < EBB_R_MAX; r++) {
		struct ebb_reason_counter rc;

		if (by_vip ? ebb_vip_reason_sum(&e, want_v.id, r, &rc) || !rc.packets :
			     ebb_reason_sum(&e, r, &rc))
			continue;
		if (jr) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "packets", json_object_new_int64(rc.packets));
			json_object_object_add(o, "bytes", json_object_new_int64(rc.bytes));
			json_object_object_add(jr, ebb_reason_name(r), o);
		} else {
			printf("%-5s %-28s %12llu %14llu\n", "why", ebb_reason_name(r),
			       (unsigned long long)rc.packets, (unsigned long long)rc.bytes);
		}
	}
	if (!by_vip && !by_node) {
		/* The slot history's fill: past EBB_HISTORY_SIZE a change records no older owners
		 * for the slots without room, counted per VIP (history_lost). */
		struct ebb_history_stats *h = calloc(1, sizeof(*h));
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		__u64 lost = 0;

		prev = NULL;
		while (!bpf_map_get_next_key(e.vips_fd, prev, &k)) {
			struct ebb_vip v;

			prev = &k;
			if (!bpf_map_lookup_elem(e.vips_fd, &k, &v))
				lost += v.history_lost;
		}
		bpf_obj_get_info_by_fd(e.slot_history_fd, &info, &len);
		if (h && !ebb_history_stats(&e, h)) {
			if (doc) {
				json_object *o = json_object_new_object();

				json_object_object_add(o, "entries", json_object_new_int64(h->entries));
				json_object_object_add(o, "max_entries", json_object_new_int64(info.max_entries));
				json_object_object_add(o, "owners", json_object_new_int64(h->owners));
				json_object_object_add(o, "lost", json_object_new_int64(lost));
				json_object_object_add(doc, "history", o);
			} else if (!quiet) {
				printf("slot history: %llu of %u entries, %llu owners not expired, %llu slots found no room\n",
				       (unsigned long long)h->entries, info.max_entries,
				       (unsigned long long)h->owners, (unsigned long long)lost);
			}
		}
		free(h);
	}
	ebb_close(&e);
	if (doc) {
		json_object_object_add(doc, "vips", jv);
		json_object_object_add(doc, "nodes", jn);
		json_object_object_add(doc, "reasons", jr);
		json_print(doc);
	}
	return 0;
}

static int do_zero(void *args)
{
	struct ebb_err err = {};
	struct ebb e;

	(void)args;
	if (ctl_open(&e, true))
		return -1;
	if (ctl_close(&e, ebb_stats_zero(&e, &err), &err))
		return -1;
	return ctl_said(NULL, "counters zeroed; rates and totals count from now");
}

static const struct ctl_command stats_commands[] = {
	{ .name = "show", .alias = "list", .run = do_show, CTL_ARGS(stats_show_args, stats_show_spec) },
	{ .name = "zero", .run = do_zero },
	{ NULL },
};

const struct ctl_object ctl_stats_object = { "stats", stats_commands, NULL };
