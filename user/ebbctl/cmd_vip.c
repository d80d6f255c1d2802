// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ebbctl vip: add, set, del, show. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "ebbctl.h"

static int parse_seconds(const char *word, const char *s, __u32 *out)
{
	if (!s)
		return ctl_error("missing seconds after '%s'", word);
	if (ebb_parse_u32(s, 1, EBB_MAX_TIMEOUT_S, out))
		return ctl_error("%s must be 1..%u seconds, not '%s'", word, EBB_MAX_TIMEOUT_S, s);
	return 0;
}

/* The encap-src given: neither a VIP's address nor one this host does not have. */
static int check_sources(struct ebb *e, const struct ebb_vip_key *key, const struct ebb_vip_opts *o)
{
	struct ebb_addr src4 = { .family = EBB_FAMILY_V4, .a = { o->encap_src4 } },
			src6 = { .family = EBB_FAMILY_V6 };
	struct ebb_err err = {};

	memcpy(src6.a, o->encap_src6, sizeof(src6.a));
	if ((o->encap_src4 && ebb_check_encap_src(e, key, &src4, true, &err)) ||
	    ((o->encap_src6[0] | o->encap_src6[1] | o->encap_src6[2] | o->encap_src6[3]) &&
	     ebb_check_encap_src(e, key, &src6, true, &err)))
		return ctl_error("%s", err.msg);
	return 0;
}

/* What a VIP change did (issue 17); fleet_ret as ctl_fleet_* return it. */
static int say_vip(const struct ebb_vip_key *key, const char *did, const char *detail, const char *next,
		   int fleet_ret, json_object *o)
{
	char name[64], fl[160] = "", nb[200];

	ebb_fmt_vip(key, name, sizeof(name));
	if (ctl_fleet() && fleet_ret == 1)
		snprintf(fl, sizeof(fl), " (fleet \"%s\": so already, nothing written)", ctl_fleet_name());
	else if (ctl_fleet())
		snprintf(fl, sizeof(fl), " (fleet \"%s\", revision %lld, applied by every live host)",
			 ctl_fleet_name(), ctl_fleet_rev);
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


static int do_add(int argc, char **argv)
{
	struct ebb_vip_opts o = { .fwd = EBB_FWD_DSR };
	struct ebb_err err = {};
	struct ebb_vip_key key;
	bool have_src = false;
	struct ebb e;
	int ret;

	if (argc < 1)
		return ctl_error("missing VIP; usage: vip add VIP [fwd {dsr|ipip}]");
	if (ebb_parse_vip(argv[0], &key, &err))
		return ctl_error("%s", err.msg);
	NEXT_ARG();
	while (argc > 0) {
		const char *word = argv[0], *val = argc > 1 ? argv[1] : NULL;
		__u32 *slot = NULL;

		if (!strcmp(word, "fwd")) {
			if (!val)
				return ctl_error("missing 'dsr' or 'ipip' after 'fwd'");
			if (!strcmp(val, "dsr"))
				o.fwd = EBB_FWD_DSR;
			else if (!strcmp(val, "ipip"))
				o.fwd = EBB_FWD_IPIP;
			else
				return ctl_error("unknown forwarding mode '%s': dsr or ipip", val);
		} else if (!strcmp(word, "encap-src")) {
			struct ebb_addr src;

			if (!val || ebb_parse_addr(val, &src, &err))
				return ctl_error("encap-src needs an address, not '%s'", val ? val : "");
			if (ebb_check_unicast(&src, "encap-src", &err))
				return ctl_error("%s", err.msg);
			if (src.family == EBB_FAMILY_V4 ? !!o.encap_src4 :
			    !!(o.encap_src6[0] | o.encap_src6[1] | o.encap_src6[2] | o.encap_src6[3]))
				return ctl_error("a second IPv%d encap-src '%s': give one per address family",
						 src.family, val);
			if (src.family == EBB_FAMILY_V4)
				o.encap_src4 = src.a[0];
			else
				memcpy(o.encap_src6, src.a, sizeof(o.encap_src6));
			have_src = true;
		} else if (!strcmp(word, "tcp-idle")) {
			slot = &o.tcp_idle_s;
		} else if (!strcmp(word, "udp-idle")) {
			slot = &o.udp_idle_s;
		} else if (!strcmp(word, "fin-timeout")) {
			slot = &o.fin_s;
		} else if (!strcmp(word, "drain-timeout")) {
			slot = &o.drain_timeout_s;
		} else if (!strcmp(word, "table-size")) {
			if (!val)
				return ctl_error("missing size after 'table-size': one of %s",
						 ebb_table_sizes_str());
			if (ebb_parse_u32(val, 1, EBB_RING_SIZE, &o.table_size) ||
			    !ebb_table_size_ok(o.table_size))
				return ctl_error("table-size must be one of %s (a prime >= 100 x the VIP's nodes), not '%s'",
						 ebb_table_sizes_str(), val);
		} else {
			return ctl_error("unexpected '%s'; usage: vip add VIP [fwd {dsr|ipip}] [encap-src ADDR] [tcp-idle S] [udp-idle S] [fin-timeout S] [drain-timeout S] [table-size M]",
					 word);
		}
		if (slot && parse_seconds(word, val, slot))
			return -1;
		argc -= 2;
		argv += 2;
	}
	/* dsr takes one too: a rescue's outer source, where the nodes' claims come back
	 * (doc/node-truth.md) */
	if (ctl_fleet()) {
		/* Checked here, before the write to etcd, on the host whose addresses ebbctl sees;
		 * on the maps, ebb_vip_add checks it. */
		struct ebb_addr a = { .family = key.family };

		memcpy(a.a, key.addr, sizeof(a.a));
		if (ebb_check_not_local(&a, "a VIP", EBB_VIP_LOCAL_WHY, &err))
			return ctl_error("%s", err.msg);
		if (check_sources(NULL, &key, &o))
			return -1;
		/* in a fleet, each host fills in its own device's addresses when none is given */
		ret = ctl_fleet_vip_add(&key, &o);
		return ret < 0 ? -1 : say_vip(&key, "added", NULL, NULL, ret, NULL);
	}
	if (ctl_open(&e, true))
		return -1;
	if (check_sources(&e, &key, &o)) {
		ebb_close(&e);
		return -1;
	}
	/* Unless told, tunnels and rescues start from the addresses of the device ebb is
	 * attached to (a dsr VIP without any sends no rescue: its flows go the old way). */
	if (!have_src)
		ebb_device_sources(bpffs, &o.encap_src4, o.encap_src6);
	ret = ebb_vip_add(&e, &key, &o, &err);
	ebb_close(&e);
	return ret ? ctl_error("%s", err.msg) : say_vip(&key, "added", NULL, NULL, 0, NULL);
}

static int do_set(int argc, char **argv)
{
	struct ebb_vip_opts o = {};
	struct ebb_err err = {};
	struct ebb_vip_key key;
	struct ebb e;
	int ret;

	if (argc < 1)
		return ctl_error("missing VIP; usage: vip set VIP [tcp-idle S] [udp-idle S] [fin-timeout S] [drain-timeout S]");
	if (ebb_parse_vip(argv[0], &key, &err))
		return ctl_error("%s", err.msg);
	NEXT_ARG();
	if (argc < 1)
		return ctl_error("nothing to set; usage: vip set VIP [tcp-idle S] [udp-idle S] [fin-timeout S] [drain-timeout S]");
	while (argc > 0) {
		const char *word = argv[0], *val = argc > 1 ? argv[1] : NULL;
		__u32 *slot;

		if (!strcmp(word, "tcp-idle"))
			slot = &o.tcp_idle_s;
		else if (!strcmp(word, "udp-idle"))
			slot = &o.udp_idle_s;
		else if (!strcmp(word, "fin-timeout"))
			slot = &o.fin_s;
		else if (!strcmp(word, "drain-timeout"))
			slot = &o.drain_timeout_s;
		else if (!strcmp(word, "fwd") || !strcmp(word, "encap-src") || !strcmp(word, "table-size"))
			return ctl_error("'%s' is fixed when the VIP is added: delete and add it again", word);
		else
			return ctl_error("unexpected '%s'; usage: vip set VIP [tcp-idle S] [udp-idle S] [fin-timeout S] [drain-timeout S]",
					 word);
		if (*slot)
			return ctl_error("'%s' given twice", word);
		if (parse_seconds(word, val, slot))
			return -1;
		argc -= 2;
		argv += 2;
	}
	if (ctl_open(&e, true))
		return -1;
	ret = ebb_vip_set(&e, &key, &o, &err);
	ebb_close(&e);
	if (ret)
		return ctl_error("%s", err.msg);
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
		return say_vip(&key, "set", detail, NULL, 0, f);
	}
}

static int do_del(int argc, char **argv)
{
	struct ebb_err err = {};
	struct ebb_vip_key key;
	bool force = false;
	struct ebb e;
	int ret;

	if (argc < 1)
		return ctl_error("missing VIP; usage: vip del VIP [force]");
	if (ebb_parse_vip(argv[0], &key, &err))
		return ctl_error("%s", err.msg);
	if (argc > 1 && !strcmp(argv[1], "force"))
		force = true;
	if (argc > (force ? 2 : 1))
		return ctl_error("unexpected '%s'", argv[force ? 2 : 1]);
	if (ctl_fleet()) {
		ret = ctl_fleet_vip_del(&key, force);
		return ret < 0 ? -1 : say_vip(&key, "deleted", NULL, NULL, ret, NULL);
	}
	if (ctl_open(&e, true))
		return -1;
	ret = ebb_vip_del(&e, &key, force, &err);
	ebb_close(&e);
	return ret ? ctl_error("%s", err.msg) : say_vip(&key, "deleted", NULL, NULL, 0, NULL);
}

static int do_show(int argc, char **argv)
{
	struct ebb_vip_key k, *prev = NULL, want;
	struct ebb_history_stats *hist;
	struct ebb_err err = {};
	json_object *arr = NULL;
	__u32 members[EBB_MAX_VIPS] = { 0 };
	__u64 *live;
	struct ebb e;

	if (argc > 0 && ebb_parse_vip(argv[0], &want, &err))
		return ctl_error("%s", err.msg);
	if (argc > 1)
		return ctl_error("unexpected '%s'", argv[1]);
	if (ctl_open(&e, false))
		return -1;
	if (argc > 0 && ebb_vip_find(&e, &want, &(struct ebb_vip){})) {
		ebb_close(&e);
		return ctl_error("no VIP %s", argv[0]);
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
		if ((argc > 0 && memcmp(&k, &want, sizeof(k))) || bpf_map_lookup_elem(e.vips_fd, &k, &v))
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

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(help_out,
		"Usage: %1$s vip add VIP [fwd {dsr|ipip}] [encap-src ADDR]... [tcp-idle S] [udp-idle S]\n"
		"                        [fin-timeout S] [drain-timeout S] [table-size M]\n"
		"       %1$s vip set VIP [tcp-idle S] [udp-idle S] [fin-timeout S] [drain-timeout S]\n"
		"       %1$s vip del VIP [force]\n"
		"       %1$s vip show [VIP]\n"
		"       %1$s vip help\n"
		"\n"
		"       VIP := { ADDR:PORT/PROTO | [ADDR6]:PORT/PROTO }   PORT 0 = every port\n"
		"       PROTO := { tcp | udp }\n"
		"       M := one of %2$s (default %3$u)\n",
		bin_name, ebb_table_sizes_str(), EBB_TABLE_SIZE_DEFAULT);
	return 0;
}

int do_vip(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", do_add },   { "del", do_del }, { "delete", do_del }, { "set", do_set },
		{ "show", do_show }, { "list", do_show }, { "help", do_help },
		{ NULL, NULL },
	};

	return cmd_select(cmds, argc, argv, do_help);
}
