// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ebbctl decap: the decapsulator on a backend of `fwd ipip` VIPs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ebbctl.h"

#define MAX_PREFIXES 256

int ctl_xdp_attach(int argc, char **argv, const char *object,
		   int (*attach)(const char *bpffs, const char *ifname, bool generic, struct ebb_err *err))
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
			return ctl_error("usage: %s attach dev IFNAME [mode {native|generic}]", object);
		}
		argc -= 2;
		argv += 2;
	}
	if (!ifname)
		return ctl_error("missing 'dev IFNAME'");
	if (attach(bpffs, ifname, generic, &err))
		return ctl_error("%s", err.msg);
	return done_ok();
}

int ctl_xdp_detach(int argc, char **argv, const char *object,
		   int (*detach)(const char *bpffs, const char *ifname, struct ebb_err *err))
{
	struct ebb_err err = {};

	if (argc != 2 || strcmp(argv[0], "dev"))
		return ctl_error("usage: %s detach dev IFNAME", object);
	if (detach(bpffs, argv[1], &err))
		return ctl_error("%s", err.msg);
	return done_ok();
}

int ctl_prefix_change(int argc, char **argv, bool add, const char *object, const char *vips,
		      int (*state_dir)(char *dir, size_t len))
{
	struct ebb_decap_key key;
	struct ebb_err err = {};
	char dir[4096];

	if (argc != 1)
		return ctl_error("usage: %s %s PREFIX   (ADDR or ADDR/LEN of this node's %s)", object,
				 add ? "add" : "del", vips);
	if (ebb_parse_prefix(argv[0], &key, &err))
		return ctl_error("%s", err.msg);
	if (state_dir && state_dir(dir, sizeof(dir)))
		return 1;
	if (ebb_decap_prefix(state_dir ? dir : bpffs, &key, add, &err))
		return ctl_error("%s", err.msg);
	return done_ok();
}

void ctl_show_links(json_object *jl, const struct ebb_link_info *links, int n)
{
	for (int i = 0; i < n; i++) {
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
}

void ctl_show_prefixes(json_object *jp, const struct ebb_decap_key *prefixes, int n)
{
	for (int i = 0; i < n; i++) {
		char addr[64], text[80];

		ebb_fmt_addr(prefixes[i].addr, prefixes[i].family, addr, sizeof(addr));
		snprintf(text, sizeof(text), "%s/%u", addr, prefixes[i].prefixlen - 32);
		if (jp)
			json_object_array_add(jp, json_object_new_string(text));
		else
			printf("prefix %s\n", text);
	}
}

/* width: of the reason's column (each command aligns its own names) */
void ctl_show_counters(json_object *js, const char *(*name)(__u32), __u32 max,
		       int (*stat)(const char *, __u32, struct ebb_reason_counter *),
		       const char *where, int width)
{
	for (__u32 r = 0; r < max; r++) {
		struct ebb_reason_counter c;

		if (stat(where, r, &c))
			continue;
		if (js)
			json_object_object_add(js, name(r), json_object_new_int64(c.packets));
		else
			printf("%-*s %12llu packets %14llu bytes\n", width, name(r),
			       (unsigned long long)c.packets, (unsigned long long)c.bytes);
	}
}

static int do_attach(int argc, char **argv)
{
	return ctl_xdp_attach(argc, argv, "decap", ebb_decap_attach);
}

static int do_detach(int argc, char **argv)
{
	return ctl_xdp_detach(argc, argv, "decap", ebb_decap_detach);
}

/* This namespace's decapsulator state (BPFFS/decap-<netns inode>), if it was attached here. */
static int decap_state_dir(char *dir, size_t len)
{
	int ret = ebb_decap_state_dir(bpffs, dir, len);

	if (ret == -ENOENT)
		return ctl_error("no decapsulator state under %s: run 'ebbctl decap attach dev IFNAME' first",
				 dir);
	if (ret)
		return ctl_error("cannot name this network namespace's decapsulator directory: %s",
				 strerror(-ret));
	return 0;
}

static int do_add(int argc, char **argv)
{
	return ctl_prefix_change(argc, argv, true, "decap", "VIPs", decap_state_dir);
}

static int do_del(int argc, char **argv)
{
	return ctl_prefix_change(argc, argv, false, "decap", "VIPs", decap_state_dir);
}

static int do_show(int argc, char **argv)
{
	struct ebb_decap_key prefixes[MAX_PREFIXES];
	struct ebb_link_info links[64];
	struct ebb_err err = {};
	json_object *doc = NULL, *jl = NULL, *jp = NULL, *js = NULL;
	int n_links, n_prefixes;
	char dir[4096];

	if (argc > 0)
		return ctl_error("unexpected '%s'", argv[0]);
	if (decap_state_dir(dir, sizeof(dir)))
		return 1;
	n_links = ebb_decap_list(bpffs, links, 64);
	n_prefixes = ebb_decap_prefixes(dir, prefixes, MAX_PREFIXES, &err);
	if (n_prefixes < 0)
		return ctl_error("%s", err.msg);
	if (json_output) {
		doc = json_object_new_object();
		jl = json_object_new_array();
		jp = json_object_new_array();
		js = json_object_new_object();
	} else {
		printf("state %s\n", dir);
	}
	ctl_show_links(jl, links, n_links);
	ctl_show_prefixes(jp, prefixes, n_prefixes);
	ctl_show_counters(js, ebb_decap_reason_name, EBB_D_MAX, ebb_decap_stat, dir, 16);
	if (doc) {
		json_object_object_add(doc, "state", json_object_new_string(dir));
		json_object_object_add(doc, "devices", jl);
		json_object_object_add(doc, "prefixes", jp);
		json_object_object_add(doc, "packets", js);
		json_print(doc);
	}
	return 0;
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(help_out,
		"Usage: %1$s decap attach dev IFNAME [mode {native|generic}]\n"
		"       %1$s decap detach dev IFNAME\n"
		"       %1$s decap add PREFIX\n"
		"       %1$s decap del PREFIX\n"
		"       %1$s decap show\n"
		"       %1$s decap help\n"
		"\n"
		"  On a backend of 'fwd ipip' VIPs: strips the outer IPIP / IPv6 header of packets\n"
		"  whose inner destination is in PREFIX (ADDR or ADDR/LEN), and hands them to the stack.\n"
		"  Its pins live in BPFFS/decap-<netns inode>: one state per network namespace.\n",
		bin_name);
	return 0;
}

int do_decap(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "attach", do_attach }, { "detach", do_detach }, { "add", do_add },
		{ "del", do_del },	 { "delete", do_del },	  { "show", do_show },
		{ "list", do_show },	 { "help", do_help },	  { NULL, NULL },
	};

	return cmd_select(cmds, argc, argv, do_help);
}
