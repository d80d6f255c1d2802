// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ebbctl decap: the decapsulator on a backend of `fwd ipip` VIPs. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ebbctl.h"

#define MAX_PREFIXES 256

static const struct ctl_choice xdp_modes[] = { { "native", 0 }, { "generic", 1 }, { NULL, 0 } };

const struct ctl_arg ctl_xdp_attach_spec[] = {
	{ .name = "dev", .metavar = "IFNAME", .kind = CTL_WORD, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct ctl_xdp_args, dev), .missing = "device name" },
	{ .name = "mode", .kind = CTL_CHOICE, .choices = xdp_modes,
	  .offset = offsetof(struct ctl_xdp_args, generic), .missing = "'native' or 'generic'" },
	{ 0 },
};

const struct ctl_arg ctl_xdp_detach_spec[] = {
	{ .name = "dev", .metavar = "IFNAME", .kind = CTL_WORD, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct ctl_xdp_args, dev), .missing = "device name" },
	{ 0 },
};

const struct ctl_arg ctl_prefix_spec[] = {
	{ .metavar = "PREFIX", .kind = CTL_WORD, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct ctl_prefix_args, prefix), .missing = "PREFIX (ADDR or ADDR/LEN)" },
	{ 0 },
};

int ctl_xdp_attach(const struct ctl_xdp_args *a, const char *object,
		   int (*attach)(const char *bpffs, const char *ifname, bool generic, struct ebb_err *err))
{
	struct ebb_err err = {};

	if (attach(bpffs, a->dev, a->generic, &err))
		return ctl_error("%s", err.msg);
	ctl_record_node_side = true;
	return ctl_said(NULL, "%s attached to %s (%s mode)", object, a->dev, a->generic ? "generic" : "native");
}

int ctl_xdp_detach(const struct ctl_xdp_args *a, const char *object,
		   int (*detach)(const char *bpffs, const char *ifname, struct ebb_err *err))
{
	struct ebb_err err = {};

	if (detach(bpffs, a->dev, &err))
		return ctl_error("%s", err.msg);
	ctl_record_node_side = true;
	return ctl_said(NULL, "%s detached from %s", object, a->dev);
}

int ctl_prefix_change(const struct ctl_prefix_args *a, bool add, const char *object,
		      int (*state_dir)(char *dir, size_t len))
{
	struct ebb_decap_key key;
	struct ebb_err err = {};
	char dir[4096];

	if (ebb_parse_prefix(a->prefix, &key, &err))
		return ctl_error("%s", err.msg);
	if (state_dir && state_dir(dir, sizeof(dir)))
		return 1;
	if (ebb_decap_prefix(state_dir ? dir : bpffs, &key, add, &err))
		return ctl_error("%s", err.msg);
	ctl_record_node_side = true;
	return ctl_said(NULL, "%s: prefix %s %s", object, a->prefix, add ? "added" : "deleted");
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

static int do_attach(void *args)
{
	return ctl_xdp_attach(args, "decap", ebb_decap_attach);
}

static int do_detach(void *args)
{
	return ctl_xdp_detach(args, "decap", ebb_decap_detach);
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

static int do_add(void *args)
{
	return ctl_prefix_change(args, true, "decap", decap_state_dir);
}

static int do_del(void *args)
{
	return ctl_prefix_change(args, false, "decap", decap_state_dir);
}

static int do_show(void *args)
{
	struct ebb_decap_key prefixes[MAX_PREFIXES];
	struct ebb_link_info links[64];
	struct ebb_err err = {};
	json_object *doc = NULL, *jl = NULL, *jp = NULL, *js = NULL;
	int n_links, n_prefixes;
	char dir[4096];

	(void)args;
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

static void decap_notes(FILE *f)
{
	fprintf(f,
		"\n"
		"  On a backend of 'fwd ipip' VIPs: strips the outer IPIP / IPv6 header of packets\n"
		"  whose inner destination is in PREFIX (ADDR or ADDR/LEN), and hands them to the stack.\n"
		"  Its pins live in BPFFS/decap-<netns inode>: one state per network namespace.\n");
}

static const struct ctl_command decap_commands[] = {
	{ .name = "attach", .run = do_attach, CTL_ARGS(ctl_xdp_args, ctl_xdp_attach_spec) },
	{ .name = "detach", .run = do_detach, CTL_ARGS(ctl_xdp_args, ctl_xdp_detach_spec) },
	{ .name = "add", .run = do_add, CTL_ARGS(ctl_prefix_args, ctl_prefix_spec) },
	{ .name = "del", .alias = "delete", .run = do_del, CTL_ARGS(ctl_prefix_args, ctl_prefix_spec) },
	{ .name = "show", .alias = "list", .run = do_show },
	{ NULL },
};

const struct ctl_object ctl_decap_object = { "decap", decap_commands, decap_notes };
