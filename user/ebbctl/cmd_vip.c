// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ebbctl vip: add, set, del, show. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "ebbctl.h"

/* What a VIP change did (issue 17); store_ret as the store's write returned it. */
static int say_vip(const struct ebb_vip_key *key, const char *did, const char *detail, const char *next,
		   int store_ret, json_object *o)
{
	char name[64], fl[160], nb[200];

	ebb_fmt_vip(key, name, sizeof(name));
	ctl_store_here()->where(store_ret, fl, sizeof(fl));
	if (!o)
		o = json_object_new_object();
	if (!strcmp(did, "added")) {
		snprintf(nb, sizeof(nb), "no node serves it yet, so its packets are dropped until 'ebbctl node add NODE vip %s'",
			 name);
		next = nb;
	}
	json_object_object_add(o, "vip", json_object_new_string(name));
	json_object_object_add(o, "done", json_object_new_string(did));
	return ctl_said(o, "%s: %s%s%s%s%s", name, did, detail ? detail : "", next ? "; " : "",
			next ? next : "", fl);
}


struct vip_add_args {
	struct ebb_vip_key vip;
	struct ebb_vip_opts o;
	int fwd;
	bool have_src;
};

/* One encap-src per address family, a unicast address. */
static int parse_encap_src(void *args, const char *val)
{
	struct vip_add_args *a = args;
	struct ebb_err err = {};
	struct ebb_addr src;

	if (!val || ebb_parse_addr(val, &src, &err))
		return ctl_error("encap-src needs an address, not '%s'", val ? val : "");
	if (ebb_check_unicast(&src, "encap-src", &err))
		return ctl_error("%s", err.msg);
	if (src.family == EBB_FAMILY_V4 ? !!a->o.encap_src4 :
	    !!(a->o.encap_src6[0] | a->o.encap_src6[1] | a->o.encap_src6[2] | a->o.encap_src6[3]))
		return ctl_error("a second IPv%d encap-src '%s': give one per address family",
				 src.family, val);
	if (src.family == EBB_FAMILY_V4)
		a->o.encap_src4 = src.a[0];
	else
		memcpy(a->o.encap_src6, src.a, sizeof(a->o.encap_src6));
	a->have_src = true;
	return 0;
}

/* The allowed sizes are primes chosen at build time: the message lists them. */
static int parse_table_size(void *args, const char *val)
{
	struct vip_add_args *a = args;

	if (!val)
		return ctl_error("missing size after 'table-size': one of %s", ebb_table_sizes_str());
	if (ebb_parse_u32(val, 1, EBB_RING_SIZE, &a->o.table_size) ||
	    !ebb_table_size_ok(a->o.table_size))
		return ctl_error("table-size must be one of %s (a prime >= 100 x the VIP's nodes), not '%s'",
				 ebb_table_sizes_str(), val);
	return 0;
}

static const struct ctl_choice fwd_modes[] = {
	{ "dsr", EBB_FWD_DSR }, { "ipip", EBB_FWD_IPIP }, { NULL, 0 },
};

/* A VIP's timeouts, in `add` and `set` alike (where each may come once). */
#define VIP_SECONDS(word, type, field, more)                                                 \
	{ .name = word, .metavar = "S", .kind = CTL_U32, .flags = more,                       \
	  .offset = offsetof(type, field), .min = 1, .max = EBB_MAX_TIMEOUT_S,                \
	  .unit = "seconds", .missing = "seconds" }

static const struct ctl_arg vip_add_spec[] = {
	{ .metavar = "VIP", .kind = CTL_VIP, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct vip_add_args, vip) },
	{ .name = "fwd", .kind = CTL_CHOICE, .choices = fwd_modes,
	  .offset = offsetof(struct vip_add_args, fwd), .missing = "'dsr' or 'ipip'",
	  .bad = "unknown forwarding mode '%s': dsr or ipip" },
	{ .name = "encap-src", .metavar = "ADDR", .kind = CTL_PARSE, .flags = CTL_MANY,
	  .parse = parse_encap_src },
	VIP_SECONDS("tcp-idle", struct vip_add_args, o.tcp_idle_s, 0),
	VIP_SECONDS("udp-idle", struct vip_add_args, o.udp_idle_s, 0),
	VIP_SECONDS("fin-timeout", struct vip_add_args, o.fin_s, 0),
	VIP_SECONDS("drain-timeout", struct vip_add_args, o.drain_timeout_s, 0),
	{ .name = "table-size", .metavar = "M", .kind = CTL_PARSE, .parse = parse_table_size },
	{ 0 },
};

static int do_add(void *args)
{
	struct vip_add_args *a = args;
	struct ebb_vip_opts o = a->o;
	int ret;

	/* dsr takes one too: a rescue's outer source, where the nodes' claims come back
	 * (doc/node-truth.md) */
	o.fwd = a->fwd;
	ret = ctl_store_here()->vip_add(&a->vip, &o, a->have_src);
	return ret < 0 ? -1 : say_vip(&a->vip, "added", NULL, NULL, ret, NULL);
}

struct vip_set_args {
	struct ebb_vip_key vip;
	struct ebb_vip_opts o;
};

#define VIP_FIXED(word)                                                                      \
	{ .name = word, .kind = CTL_REFUSED,                                                 \
	  .bad = "'%s' is fixed when the VIP is added: delete and add it again" }

static const struct ctl_arg vip_set_spec[] = {
	{ .metavar = "VIP", .kind = CTL_VIP, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct vip_set_args, vip) },
	VIP_SECONDS("tcp-idle", struct vip_set_args, o.tcp_idle_s, CTL_ONCE),
	VIP_SECONDS("udp-idle", struct vip_set_args, o.udp_idle_s, CTL_ONCE),
	VIP_SECONDS("fin-timeout", struct vip_set_args, o.fin_s, CTL_ONCE),
	VIP_SECONDS("drain-timeout", struct vip_set_args, o.drain_timeout_s, CTL_ONCE),
	VIP_FIXED("fwd"),
	VIP_FIXED("encap-src"),
	VIP_FIXED("table-size"),
	{ 0 },
};

static int do_set(void *args)
{
	struct vip_set_args *a = args;
	struct ebb_vip_key key = a->vip;
	struct ebb_vip_opts o = a->o;
	int ret;

	if (!o.tcp_idle_s && !o.udp_idle_s && !o.fin_s && !o.drain_timeout_s)
		return ctl_error("nothing to set; usage: %s", ctl_usage());
	ret = ctl_store_here()->vip_set(&key, &o);
	if (ret < 0)
		return -1;
	{
		char detail[160] = "";
		json_object *f = json_object_new_object();
		const struct { const char *name, *field; __u32 v; } t[] = {
			{ "tcp-idle", "tcp_idle_s", o.tcp_idle_s }, { "udp-idle", "udp_idle_s", o.udp_idle_s },
			{ "fin-timeout", "fin_s", o.fin_s }, { "drain-timeout", "drain_timeout_s", o.drain_timeout_s },
		};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
			if (t[i].v) {
				snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), " %s %u s",
					 t[i].name, t[i].v);
				json_object_object_add(f, t[i].field, json_object_new_int64(t[i].v));
			}
		return say_vip(&key, "set", detail, NULL, ret, f);
	}
}

struct vip_del_args {
	struct ebb_vip_key vip;
	bool force;
};

static const struct ctl_arg vip_del_spec[] = {
	{ .metavar = "VIP", .kind = CTL_VIP, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct vip_del_args, vip) },
	{ .name = "force", .kind = CTL_FLAG, .flags = CTL_ONCE,
	  .offset = offsetof(struct vip_del_args, force) },
	{ 0 },
};

static int do_del(void *args)
{
	struct vip_del_args *a = args;
	struct ebb_vip_key key = a->vip;
	int ret;

	ret = ctl_store_here()->vip_del(&key, a->force);
	return ret < 0 ? -1 : say_vip(&key, "deleted", NULL, NULL, ret, NULL);
}

struct vip_show_args {
	struct ebb_vip_key vip;
};

static const struct ctl_arg vip_show_spec[] = {
	{ .metavar = "VIP", .kind = CTL_VIP, .offset = offsetof(struct vip_show_args, vip) },
	{ 0 },
};

static int do_show(void *args)
{
	struct vip_show_args *a = args;
	struct ebb_vip_key k, *prev = NULL, want = a->vip;
	bool one = want.family != 0;
	struct ebb_history_stats *hist;
	json_object *arr = NULL;
	__u32 members[EBB_MAX_VIPS] = { 0 };
	__u64 *live;
	struct ebb e;

	if (ctl_open(&e, false))
		return -1;
	if (one && ebb_vip_find(&e, &want, &(struct ebb_vip){})) {
		char name[64];

		ebb_close(&e);
		return ctl_error("no VIP %s", ebb_fmt_vip(&want, name, sizeof(name)));
	}
	/* One walk of the flow table for every VIP: it may hold millions of entries. */
	live = calloc(EBB_MAX_VIPS, sizeof(*live));
	if (!live || ebb_live_flows_per_vip(&e, live)) {
		free(live);
		ebb_close(&e);
		return ctl_error("cannot read the flow table");
	}
	/* The slot history's entries per VIP: one walk of that map too. */
	hist = calloc(1, sizeof(*hist));
	if (!hist || ebb_history_stats(&e, hist)) {
		free(hist);
		free(live);
		ebb_close(&e);
		return ctl_error("cannot read the slot history");
	}
	/* Members per VIP id: one walk of that map too, not one per VIP. */
	{
		struct ebb_member_key mk, *mprev = NULL;

		while (!bpf_map_get_next_key(e.members_fd, mprev, &mk)) {
			mprev = &mk;
			if (mk.vip_id < EBB_MAX_VIPS)
				members[mk.vip_id]++;
		}
	}
	if (json_output)
		arr = json_object_new_array();
	else if (!quiet)
		printf("%-28s %-4s %3s %5s %7s %8s %8s %5s %7s %7s %5s %6s\n", "VIP", "FWD", "ID", "NODES",
		       "FLOWS", "TCP_IDLE", "UDP_IDLE", "FIN", "DRAIN", "HISTORY", "LOST", "TABLE");
	while (!bpf_map_get_next_key(e.vips_fd, prev, &k)) {
		struct ebb_vip v = {}; /* a layout before 8 has no table_size: 0 reads as 65537 */
		unsigned long long flows = 0, hslots = 0;
		int nodes = 0;
		char name[64];

		prev = &k;
		if ((one && memcmp(&k, &want, sizeof(k))) || bpf_map_lookup_elem(e.vips_fd, &k, &v))
			continue;
		if (v.id < EBB_MAX_VIPS) {
			nodes = (int)members[v.id];
			flows = live[v.id];
			hslots = hist->vip_entries[v.id];
		}
		ebb_fmt_vip(&k, name, sizeof(name));
		if (json_output) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "vip", json_object_new_string(name));
			json_object_object_add(o, "id", json_object_new_int(v.id));
			json_object_object_add(o, "fwd", json_object_new_string(ebb_fwd_name(v.fwd)));
			if (v.fwd == EBB_FWD_IPIP) {
				char a4[64], a6[64];

				json_object_object_add(o, "encap_src4", v.encap_src4 ?
					json_object_new_string(ebb_fmt_addr(&v.encap_src4, EBB_FAMILY_V4, a4, sizeof(a4))) : NULL);
				json_object_object_add(o, "encap_src6", (v.encap_src6[0] | v.encap_src6[3]) ?
					json_object_new_string(ebb_fmt_addr(v.encap_src6, EBB_FAMILY_V6, a6, sizeof(a6))) : NULL);
			}
			json_object_object_add(o, "nodes", json_object_new_int(nodes));
			json_object_object_add(o, "flows", json_object_new_int64(flows));
			json_object_object_add(o, "tcp_idle_s", json_object_new_int64(v.tcp_idle_s));
			json_object_object_add(o, "udp_idle_s", json_object_new_int64(v.udp_idle_s));
			json_object_object_add(o, "fin_timeout_s", json_object_new_int64(v.fin_s));
			json_object_object_add(o, "drain_timeout_s",
					       json_object_new_int64(v.drain_timeout_s));
			/* slots with older owners (a rescue's candidates), and those that found
			 * no room in slot_history */
			json_object_object_add(o, "history_slots", json_object_new_int64(hslots));
			json_object_object_add(o, "history_lost", json_object_new_int64(v.history_lost));
			/* M: the slots of each of its two tables (doc/datapath.md) */
			json_object_object_add(o, "table_size", json_object_new_int64(ebb_vip_table_size(&v)));
			json_object_array_add(arr, o);
		} else {
			printf("%-28s %-4s %3u %5d %7llu %7us %7us %4us %6us %7llu %5u %6u\n", name,
			       ebb_fwd_name(v.fwd), v.id, nodes, flows, v.tcp_idle_s, v.udp_idle_s,
			       v.fin_s, v.drain_timeout_s, hslots, v.history_lost, ebb_vip_table_size(&v));
		}
	}
	free(live);
	free(hist);
	ebb_close(&e);
	if (json_output)
		json_print(arr);
	return 0;
}

static void vip_notes(FILE *f)
{
	fprintf(f,
		"\n"
		"       VIP := { ADDR:PORT/PROTO | [ADDR6]:PORT/PROTO }   PORT 0 = every port\n"
		"       PROTO := { tcp | udp }\n"
		"       M := one of %s (default %u)\n",
		ebb_table_sizes_str(), EBB_TABLE_SIZE_DEFAULT);
}

static const struct ctl_command vip_commands[] = {
	{ .name = "add", .run = do_add, CTL_ARGS(vip_add_args, vip_add_spec),
	  .defaults = &(struct vip_add_args){ .fwd = EBB_FWD_DSR } },
	{ .name = "set", .shortest = 2, .run = do_set, CTL_ARGS(vip_set_args, vip_set_spec) },
	{ .name = "del", .alias = "delete", .run = do_del, CTL_ARGS(vip_del_args, vip_del_spec) },
	{ .name = "show", .alias = "list", .run = do_show, CTL_ARGS(vip_show_args, vip_show_spec) },
	{ NULL },
};

const struct ctl_object ctl_vip_object = { "vip", vip_commands, vip_notes };
