// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbctl backend: the node program (bpf/node.bpf.c) on a backend: rescues judged by the node's
 * own sockets, and the decapsulator's work. Its state lives in BPFFS/node-<netns inode>, so each
 * network namespace (each lab node) has its own.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ebbctl.h"

#define MAX_PREFIXES 256

static int do_attach(int argc, char **argv)
{
	struct ebb_err err = {};
	const char *ifname = NULL;
	bool generic = false;

	while (argc > 0) {
		if (!strcmp(argv[0], "dev") && argc > 1) {
			ifname = argv[1];
		} else if (!strcmp(argv[0], "mode") && argc > 1 &&
			   (!strcmp(argv[1], "native") || !strcmp(argv[1], "generic"))) {
			generic = !strcmp(argv[1], "generic");
		} else {
			return ctl_error("usage: backend attach dev IFNAME [mode {native|generic}]");
		}
		argc -= 2;
		argv += 2;
	}
	if (!ifname)
		return ctl_error("missing 'dev IFNAME'");
	if (ebb_node_attach(bpffs, ifname, generic, &err))
		return ctl_error("%s", err.msg);
	return done_ok();
}

static int do_detach(int argc, char **argv)
{
	struct ebb_err err = {};

	if (argc != 2 || strcmp(argv[0], "dev"))
		return ctl_error("usage: backend detach dev IFNAME");
	if (ebb_node_detach(bpffs, argv[1], &err))
		return ctl_error("%s", err.msg);
	return done_ok();
}

/* This namespace's node directory, if the node program was attached here once. */
static int node_state_dir(char *dir, size_t len)
{
	char path[4200];

	if (ebb_node_dir(bpffs, dir, len))
		return ctl_error("cannot name this network namespace's node directory");
	snprintf(path, sizeof(path), "%s/node_stats", dir);
	if (access(path, F_OK))
		return ctl_error("no node program state under %s: run 'ebbctl backend attach dev IFNAME' first",
				 dir);
	return 0;
}

static int change_prefix(int argc, char **argv, bool add)
{
	struct ebb_decap_key key;
	struct ebb_err err = {};
	char dir[4096];

	if (argc != 1)
		return ctl_error("usage: backend %s PREFIX   (ADDR or ADDR/LEN of this node's ipip VIPs)",
				 add ? "add" : "del");
	if (ebb_parse_prefix(argv[0], &key, &err))
		return ctl_error("%s", err.msg);
	if (node_state_dir(dir, sizeof(dir)))
		return 1;
	if (ebb_decap_prefix(dir, &key, add, &err))
		return ctl_error("%s", err.msg);
	return done_ok();
}

static int do_add(int argc, char **argv)
{
	return change_prefix(argc, argv, true);
}

static int do_del(int argc, char **argv)
{
	return change_prefix(argc, argv, false);
}

static void print_counters(json_object *js, const char *(*name)(__u32), __u32 max,
			   int (*stat)(const char *, __u32, struct ebb_reason_counter *),
			   const char *where)
{
	for (__u32 r = 0; r < max; r++) {
		struct ebb_reason_counter c;

		if (stat(where, r, &c))
			continue;
		if (js)
			json_object_object_add(js, name(r), json_object_new_int64(c.packets));
		else
			printf("%-18s %12llu packets %14llu bytes\n", name(r),
			       (unsigned long long)c.packets, (unsigned long long)c.bytes);
	}
}

static int do_show(int argc, char **argv)
{
	struct ebb_decap_key prefixes[MAX_PREFIXES];
	struct ebb_link_info links[64];
	struct ebb_err err = {};
	json_object *doc = NULL, *jl = NULL, *jp = NULL, *jr = NULL, *jd = NULL;
	int n_links, n_prefixes;
	char dir[4096];

	if (argc > 0)
		return ctl_error("unexpected '%s'", argv[0]);
	if (node_state_dir(dir, sizeof(dir)))
		return 1;
	n_links = ebb_node_list(bpffs, links, 64);
	n_prefixes = ebb_decap_prefixes(dir, prefixes, MAX_PREFIXES, &err);
	if (n_prefixes < 0)
		return ctl_error("%s", err.msg);
	if (json_output) {
		doc = json_object_new_object();
		jl = json_object_new_array();
		jp = json_object_new_array();
		jr = json_object_new_object();
		jd = json_object_new_object();
	} else {
		printf("state %s\n", dir);
	}
	for (int i = 0; i < n_links; i++) {
		if (jl) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "dev", json_object_new_string(links[i].ifname));
			json_object_object_add(o, "mode", json_object_new_string(links[i].mode));
			json_object_object_add(o, "prog_id", json_object_new_int64(links[i].prog_id));
			json_object_array_add(jl, o);
		} else {
			printf("%s: mode %s prog_id %u link_id %u\n", links[i].ifname, links[i].mode,
			       links[i].prog_id, links[i].link_id);
		}
	}
	for (int i = 0; i < n_prefixes; i++) {
		char addr[64], text[80];

		ebb_fmt_addr(prefixes[i].addr, prefixes[i].family, addr, sizeof(addr));
		snprintf(text, sizeof(text), "%s/%u", addr, prefixes[i].prefixlen - 32);
		if (jp)
			json_object_array_add(jp, json_object_new_string(text));
		else
			printf("prefix %s\n", text);
	}
	print_counters(jr, ebb_node_reason_name, EBB_N_MAX, ebb_node_stat, bpffs);
	print_counters(jd, ebb_decap_reason_name, EBB_D_MAX, ebb_decap_stat, dir);
	if (doc) {
		json_object_object_add(doc, "state", json_object_new_string(dir));
		json_object_object_add(doc, "devices", jl);
		json_object_object_add(doc, "prefixes", jp);
		json_object_object_add(doc, "rescues", jr);
		json_object_object_add(doc, "decap", jd);
		json_print(doc);
	}
	return 0;
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr,
		"Usage: %1$s backend attach dev IFNAME [mode {native|generic}]\n"
		"       %1$s backend detach dev IFNAME\n"
		"       %1$s backend add PREFIX\n"
		"       %1$s backend del PREFIX\n"
		"       %1$s backend show\n"
		"       %1$s backend help\n"
		"\n"
		"  On a backend node: ebb's node program. A rescue (a mid-flow TCP packet the balancer\n"
		"  sends with its candidate nodes) is kept when this node has a socket for it, else\n"
		"  passed to the next candidate; the last delivers it. Other packets: as 'decap' does,\n"
		"  for the VIP prefixes added here. State in BPFFS/node-<netns inode>, one per node.\n",
		bin_name);
	return 0;
}

int do_backend(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "attach", do_attach }, { "detach", do_detach }, { "add", do_add },
		{ "del", do_del },	 { "delete", do_del },	  { "show", do_show },
		{ "list", do_show },	 { "help", do_help },	  { NULL, NULL },
	};

	return cmd_select(cmds, argc, argv, do_help);
}
