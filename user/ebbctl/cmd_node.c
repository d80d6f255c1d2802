// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ebbctl node: add, del, drain, activate, show, wait. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>

#include "ebbctl.h"

static int parse_node(const char *s, struct ebb_addr *addr)
{
	struct ebb_err err = {};

	if (!s)
		return ctl_error("missing NODE address");
	if (ebb_parse_addr(s, addr, &err))
		return ctl_error("invalid node address '%s'", s);
	return 0;
}

static int do_add(int argc, char **argv)
{
	struct ebb_node_opts o = {};
	struct ebb_err err = {};
	struct ebb_vip_key vip;
	struct ebb_addr addr;
	bool have_vip = false;
	struct ebb e;
	int ret;

	if (parse_node(argc > 0 ? argv[0] : NULL, &addr))
		return -1;
	NEXT_ARG();
	while (argc > 0) {
		const char *word = argv[0], *val = argc > 1 ? argv[1] : NULL;

		if (!strcmp(word, "inactive")) {
			o.inactive = true;
			NEXT_ARG();
			continue;
		}
		if (strcmp(word, "vip") && strcmp(word, "weight") && strcmp(word, "mac"))
			return ctl_error("unexpected '%s'; usage: node add NODE vip VIP [weight N] [mac MAC] [inactive]",
					 word);
		if (!val)
			return ctl_error("missing value after '%s'", word);
		if (!strcmp(word, "vip")) {
			if (have_vip)
				return ctl_error("one VIP per 'node add'; add the node to each VIP in turn");
			if (ebb_parse_vip(val, &vip, &err))
				return ctl_error("%s", err.msg);
			have_vip = true;
		} else if (!strcmp(word, "weight")) {
			if (ebb_parse_u32(val, 1, EBB_MAX_WEIGHT, &o.weight))
				return ctl_error("weight must be 1..%d, not '%s'", EBB_MAX_WEIGHT, val);
		} else if (!strcmp(word, "mac")) {
			if (ebb_parse_mac(val, o.mac, &err))
				return ctl_error("%s", err.msg);
			o.have_mac = true;
		} else {
			return ctl_error("unexpected '%s'; usage: node add NODE vip VIP [weight N] [mac MAC] [inactive]",
					 word);
		}
		argc -= 2;
		argv += 2;
	}
	if (!have_vip)
		return ctl_error("missing 'vip VIP'");
	if (ctl_open(&e, true))
		return -1;
	ret = ebb_node_add(&e, &addr, &vip, &o, &err);
	ebb_close(&e);
	return ret ? ctl_error("%s", err.msg) : done_ok();
}

static int do_del(int argc, char **argv)
{
	struct ebb_err err = {};
	struct ebb_vip_key vip;
	struct ebb_addr addr;
	bool force = false, have_vip = false;
	struct ebb e;
	int ret;

	if (parse_node(argc > 0 ? argv[0] : NULL, &addr))
		return -1;
	NEXT_ARG();
	while (argc > 0) {
		if (!strcmp(argv[0], "force")) {
			force = true;
		} else if (!strcmp(argv[0], "vip")) {
			NEXT_ARG();
			REQ_ARG("VIP after 'vip'");
			if (ebb_parse_vip(argv[0], &vip, &err))
				return ctl_error("%s", err.msg);
			have_vip = true;
		} else {
			return ctl_error("unexpected '%s'; usage: node del NODE [vip VIP] [force]", argv[0]);
		}
		NEXT_ARG();
	}
	if (ctl_open(&e, true))
		return -1;
	ret = ebb_node_del(&e, &addr, have_vip ? &vip : NULL, force, &err);
	ebb_close(&e);
	return ret ? ctl_error("%s", err.msg) : done_ok();
}

static int set_state(struct ebb_addr *addr, __u8 state, __u32 timeout)
{
	struct ebb_err err = {};
	struct ebb e;
	int ret;

	if (ctl_open(&e, true))
		return -1;
	ret = ebb_node_set_state(&e, addr, state, timeout, &err);
	ebb_close(&e);
	return ret ? ctl_error("%s", err.msg) : done_ok();
}

static int do_drain(int argc, char **argv)
{
	struct ebb_addr addr;
	__u32 timeout = 0;

	if (parse_node(argc > 0 ? argv[0] : NULL, &addr))
		return -1;
	NEXT_ARG();
	if (argc > 0) {
		if (strcmp(argv[0], "timeout"))
			return ctl_error("unexpected '%s'; usage: node drain NODE [timeout SECONDS]", argv[0]);
		NEXT_ARG();
		REQ_ARG("seconds after 'timeout'");
		if (ebb_parse_u32(argv[0], 1, 86400 * 7, &timeout))
			return ctl_error("timeout must be 1..604800 seconds, not '%s'", argv[0]);
		if (argc > 1)
			return ctl_error("unexpected '%s'", argv[1]);
	}
	return set_state(&addr, EBB_NODE_DRAINING, timeout);
}

static int do_activate(int argc, char **argv)
{
	struct ebb_addr addr;

	if (parse_node(argc > 0 ? argv[0] : NULL, &addr))
		return -1;
	if (argc > 1)
		return ctl_error("unexpected '%s'; usage: node activate NODE", argv[1]);
	return set_state(&addr, EBB_NODE_ACTIVE, 0);
}

/* The drain timeout that applies to a node: its own, else the longest of its VIPs'. */
static __u32 drain_timeout_of(struct ebb *e, __u32 id, const struct ebb_node *n)
{
	struct ebb_member_key mk, *prev = NULL;
	__u32 t = 0;

	if (n->drain_timeout_s)
		return n->drain_timeout_s;
	while (!bpf_map_get_next_key(e->members_fd, prev, &mk)) {
		struct ebb_vip v;

		prev = &mk;
		if (mk.node_id == id && !ebb_vip_by_id(e, mk.vip_id, NULL, &v) && v.drain_timeout_s > t)
			t = v.drain_timeout_s;
	}
	return t ? t : EBB_DEFAULT_DRAIN_TIMEOUT_S;
}

static int do_show(int argc, char **argv)
{
	struct ebb_addr want;
	__u64 *live, now;
	json_object *arr = NULL;
	struct ebb e;

	if (argc > 0 && parse_node(argv[0], &want))
		return -1;
	if (argc > 1)
		return ctl_error("unexpected '%s'", argv[1]);
	if (ctl_open(&e, false))
		return -1;
	if (argc > 0 && ebb_node_find(&e, &want, NULL, NULL)) {
		ebb_close(&e);
		return ctl_error("no node %s", argv[0]);
	}
	live = calloc(EBB_MAX_NODES, sizeof(*live));
	if (!live || ebb_live_flows(&e, live, NULL)) {
		free(live);
		ebb_close(&e);
		return ctl_error("cannot read the flow table");
	}
	now = ebb_now_ns();
	if (json_output)
		arr = json_object_new_array();
	else if (!quiet)
		printf("%-24s %-9s %7s %6s %-17s %8s  %s\n", "NODE", "STATE", "FLOWS", "WEIGHT", "MAC",
		       "DRAIN_S", "VIPS");
	for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
		struct ebb_member_key mk, *prev = NULL;
		json_object *vips = NULL, *weights = NULL;
		char addr[64], mac[24], vlist[512] = "";
		struct ebb_node n;
		__u32 first_weight = 0;
		double elapsed = -1;

		if (bpf_map_lookup_elem(e.nodes_fd, &id, &n) || n.state == EBB_NODE_UNUSED)
			continue;
		if (argc > 0 && (n.family != want.family || !ebb_addr_eq(n.addr, want.a, n.family)))
			continue;
		ebb_fmt_addr(n.addr, n.family, addr, sizeof(addr));
		ebb_fmt_mac(n.mac, mac, sizeof(mac));
		if (n.state == EBB_NODE_DRAINING && now > n.state_since_ns)
			elapsed = (now - n.state_since_ns) / 1e9;
		if (json_output) {
			vips = json_object_new_array();
			weights = json_object_new_object();
		}
		while (!bpf_map_get_next_key(e.members_fd, prev, &mk)) {
			struct ebb_vip_key vk;
			struct ebb_member m;
			struct ebb_vip v;
			char vname[64];

			prev = &mk;
			if (mk.node_id != id || bpf_map_lookup_elem(e.members_fd, &mk, &m) ||
			    ebb_vip_by_id(&e, mk.vip_id, &vk, &v))
				continue;
			ebb_fmt_vip(&vk, vname, sizeof(vname));
			if (!first_weight)
				first_weight = m.weight;
			if (json_output) {
				json_object_array_add(vips, json_object_new_string(vname));
				json_object_object_add(weights, vname, json_object_new_int(m.weight));
			} else {
				size_t used = strlen(vlist);

				snprintf(vlist + used, sizeof(vlist) - used, "%s%s(w%u)",
					 used ? "," : "", vname, m.weight);
			}
		}
		if (json_output) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "id", json_object_new_int(id));
			json_object_object_add(o, "addr", json_object_new_string(addr));
			json_object_object_add(o, "state",
					       json_object_new_string(ebb_state_name(n.state)));
			json_object_object_add(o, "flows", json_object_new_int64(live[id]));
			json_object_object_add(o, "vips", vips);
			json_object_object_add(o, "weight", json_object_new_int(first_weight));
			json_object_object_add(o, "weights", weights);
			json_object_object_add(o, "mac", json_object_new_string(mac));
			json_object_object_add(o, "drain_elapsed_s",
					       elapsed < 0 ? NULL : json_object_new_double(elapsed));
			json_object_object_add(o, "drain_timeout_s",
					       n.state == EBB_NODE_DRAINING ?
						       json_object_new_int64(drain_timeout_of(&e, id, &n)) :
						       NULL);
			json_object_array_add(arr, o);
		} else {
			char drain[16] = "-";

			if (elapsed >= 0)
				snprintf(drain, sizeof(drain), "%.1f", elapsed);
			printf("%-24s %-9s %7llu %6u %-17s %8s  %s\n", addr, ebb_state_name(n.state),
			       (unsigned long long)live[id], first_weight, mac, drain, vlist);
		}
	}
	free(live);
	ebb_close(&e);
	if (json_output)
		json_print(arr);
	return 0;
}

static int do_wait(int argc, char **argv)
{
	struct ebb_addr addr;
	struct ebb_node n;
	__u32 timeout = 0;
	__u64 deadline;
	const char *node_arg = argc > 0 ? argv[0] : NULL;
	struct ebb e;
	int state;

	if (parse_node(node_arg, &addr))
		return -1;
	NEXT_ARG();
	if (argc < 2 || strcmp(argv[0], "state"))
		return ctl_error("usage: node wait NODE state STATE [timeout SECONDS]");
	state = ebb_state_parse(argv[1]);
	if (state < 0)
		return ctl_error("unknown state '%s': active, draining, inactive or down", argv[1]);
	argc -= 2;
	argv += 2;
	if (argc > 0) {
		if (strcmp(argv[0], "timeout") || argc < 2 || ebb_parse_u32(argv[1], 1, 86400 * 7, &timeout))
			return ctl_error("usage: node wait NODE state STATE [timeout SECONDS]");
		if (argc > 2)
			return ctl_error("unexpected '%s'", argv[2]);
	}
	if (ctl_open(&e, false))
		return -1;
	deadline = timeout ? ebb_now_ns() + timeout * 1000000000ULL : 0;
	for (;;) {
		if (ebb_node_find(&e, &addr, NULL, &n)) {
			ebb_close(&e);
			return ctl_error("no node %s", node_arg);
		}
		if (n.state == state)
			break;
		if (deadline && ebb_now_ns() >= deadline) {
			ebb_close(&e);
			return ctl_error("timed out after %us: node is %s, not %s", timeout,
					 ebb_state_name(n.state), ebb_state_name(state));
		}
		nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
	}
	ebb_close(&e);
	return done_ok();
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr,
		"Usage: %1$s node add NODE vip VIP [weight N] [mac MAC] [inactive]\n"
		"       %1$s node del NODE [vip VIP] [force]\n"
		"       %1$s node drain NODE [timeout SECONDS]\n"
		"       %1$s node activate NODE\n"
		"       %1$s node show [NODE]\n"
		"       %1$s node wait NODE state STATE [timeout SECONDS]\n"
		"       %1$s node help\n"
		"\n"
		"       NODE := { IPv4 | IPv6 address }   N := 1..%2$d (default %3$d)\n"
		"       STATE := { active | draining | inactive | down }\n",
		bin_name, EBB_MAX_WEIGHT, EBB_DEFAULT_WEIGHT);
	return 0;
}

int do_node(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", do_add },	     { "del", do_del },	  { "delete", do_del },
		{ "drain", do_drain },	     { "activate", do_activate },
		{ "show", do_show },	     { "list", do_show }, { "wait", do_wait },
		{ "help", do_help },	     { NULL, NULL },
	};

	return cmd_select(cmds, argc, argv, do_help);
}
