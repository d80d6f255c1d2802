// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ebbctl flow: show the flow table, and explain where one flow goes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include "ebbctl.h"
#include "ebb_hash.h"

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
	if (!bpf_map_lookup_elem(c->e->nodes_fd, &(__u32){ f->val.node_id }, &node) && node.family)
		ebb_fmt_addr(node.addr, node.family, node_addr, sizeof(node_addr));
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
		json_object_array_add(c->arr, o);
	} else {
		char ep[80];

		snprintf(ep, sizeof(ep), f->key.family == EBB_FAMILY_V6 ? "[%s]:%u" : "%s:%u", src,
			 ntohs(f->key.sport));
		printf("%-46s %-28s %-24s %-7s %6.1f\n", ep, vip, node_addr, flow_status(f, live), age);
	}
	return 0;
}

static int do_show(int argc, char **argv)
{
	struct show_ctx c = { .now = ebb_now_ns() };
	struct ebb_err err = {};
	struct ebb_addr node_addr;
	struct ebb e;
	int ret;

	while (argc > 0) {
		const char *word = argv[0], *val = argc > 1 ? argv[1] : NULL;

		if (!val)
			return ctl_error("missing value after '%s'", word);
		if (!strcmp(word, "vip")) {
			if (ebb_parse_vip(val, &c.vip_key, &err))
				return ctl_error("%s", err.msg);
			c.by_vip = true;
		} else if (!strcmp(word, "node")) {
			if (ebb_parse_addr(val, &node_addr, &err))
				return ctl_error("%s", err.msg);
			c.by_node = true;
		} else if (!strcmp(word, "limit")) {
			if (ebb_parse_u32(val, 1, 100000000, &c.limit))
				return ctl_error("limit must be a positive number, not '%s'", val);
		} else {
			return ctl_error("unexpected '%s'; usage: flow show [vip VIP] [node NODE] [limit N]", word);
		}
		argc -= 2;
		argv += 2;
	}
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
	if (json_output)
		c.arr = json_object_new_array();
	else if (!quiet)
		printf("%-46s %-28s %-24s %-7s %6s\n", "CLIENT", "VIP", "NODE", "STATUS", "IDLE_S");
	ret = ebb_flows_each(&e, show_one, &c);
	ebb_close(&e);
	if (ret) {
		json_object_put(c.arr);
		return ctl_error("cannot read the flow table");
	}
	if (c.arr)
		json_print(c.arr);
	return 0;
}

/*
 * Mirrors the datapath's decision for a TCP packet of this flow that is not a SYN, a mid-flow
 * packet (a UDP packet for a UDP VIP; see bpf/balancer.bpf.c): a flow-table hit on an active or draining node goes there;
 * a hit on a node that takes no flows is placed again by the table of active nodes; a miss
 * goes to a handshake pinned aside by the flood guard (syn_pins), else gets the second chance,
 * the table of active and draining nodes.
 */
static int do_lookup(int argc, char **argv)
{
	struct ebb_flow_key fk = {};
	struct ebb_err err = {};
	struct ebb_vip_key vk;
	struct ebb_addr src;
	struct ebb_vip vip;
	struct ebb_flow flow;
	struct ebb_node node = {};
	__u32 node_id = 0, slot;
	const char *why, *path;
	char naddr[64] = "none", vname[64], pins[600];
	__u16 sport;
	struct ebb e;
	int syn_fd;

	if (argc != 2)
		return ctl_error("usage: flow lookup SRC:SPORT VIP");
	if (ebb_parse_endpoint(argv[0], &src, &sport, &err) || ebb_parse_vip(argv[1], &vk, &err))
		return ctl_error("%s", err.msg);
	if (src.family != vk.family)
		return ctl_error("%s and %s are of different address families", argv[0], argv[1]);
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
	slot = ebb_ring_slot(&fk);
	snprintf(pins, sizeof(pins), "%s/syn_pins", e.bpffs);
	syn_fd = bpf_obj_get(pins);
	if (!bpf_map_lookup_elem(e.flows_fd, &fk, &flow)) {
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
	} else if (syn_fd >= 0 && !bpf_map_lookup_elem(syn_fd, &fk, &flow)) {
		node_id = flow.node_id;
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
		printf("%s -> %s (%s): %s, slot %u\n", argv[0], naddr,
		       node_id ? ebb_state_name(node.state) : "none", why, slot);
	}
	return 0;
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(help_out,
		"Usage: %1$s flow show [vip VIP] [node NODE] [limit N]\n"
		"       %1$s flow lookup SRC:SPORT VIP\n"
		"       %1$s flow help\n",
		bin_name);
	return 0;
}

int do_flow(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "show", do_show }, { "list", do_show }, { "lookup", do_lookup },
		{ "help", do_help }, { NULL, NULL },
	};

	return cmd_select(cmds, argc, argv, do_help);
}
