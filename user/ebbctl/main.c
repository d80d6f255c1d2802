// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbctl: bpftool-style control of ebb.  ebbctl [OPTIONS] OBJECT { COMMAND | help }
 * Every command validates all its arguments before it changes anything, so a wrong invocation
 * prints "Error: ...", exits non-zero and leaves every map as it was.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "ebbctl.h"

static int run_version(void *args)
{
	(void)args;
	if (json_output) {
		json_object *doc = json_object_new_object();

		json_object_object_add(doc, "version", json_object_new_string(EBB_VERSION));
		json_object_object_add(doc, "map_layout", json_object_new_int(EBB_MAP_LAYOUT_VERSION));
		json_print(doc);
	} else {
		printf("%s v%s (map layout %d, libbpf %s)\n", bin_name, EBB_VERSION,
		       EBB_MAP_LAYOUT_VERSION, libbpf_version_string());
	}
	return 0;
}

/* In the order help lists them; `help` itself is every table's (args.c). A word selects the
 * first entry it is a prefix of, and names two only to be refused as ambiguous ('s': stats or
 * save?). */
static const struct ctl_command top_commands[] = {
	{ .name = "prog", .object = &ctl_prog_object },
	{ .name = "vip", .object = &ctl_vip_object },
	{ .name = "node", .object = &ctl_node_object },
	{ .name = "flow", .object = &ctl_flow_object },
	{ .name = "stats", .object = &ctl_stats_object },
	{ .name = "decap", .object = &ctl_decap_object },
	{ .name = "backend", .object = &ctl_backend_object },
	/* `f` and `fl` stay flow, as they were before fleet */
	{ .name = "fleet", .object = &ctl_fleet_object, .shortest = 3 },
	/* only in full, so that `v` is vip as in bpftool */
	{ .name = "version", .shortest = sizeof("version") - 1, .run = run_version },
	{ .name = "save", .run = ctl_save, CTL_ARGS(ctl_save_args, ctl_save_spec) },
	{ .name = "restore", .run = ctl_restore, CTL_ARGS(ctl_restore_args, ctl_restore_spec) },
	{ NULL },
};

static const struct ctl_object top = { NULL, top_commands, NULL };

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own chatter only with -v: errors reach the user as one "Error:" line. */
	(void)level;
	return verbose ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	bool version = false, help = false;
	char *help_words[] = { "help", NULL }, *version_words[] = { "version", NULL };

	setvbuf(stdout, NULL, _IOLBF, 0);
	ctl_top = &top;
	help_out = stderr;
	ctl_cmdline_set(argc, argv);
	libbpf_set_print(libbpf_quiet);
	argc = ctl_parse_options(argc - 1, argv + 1, &version, &help);
	argv++;
	if (argc < 0)
		return 1;
	/* --help is `help`, -V `version` */
	if (help)
		return ctl_object_run(&top, 1, help_words) ? 1 : 0;
	if (version)
		return ctl_object_run(&top, 1, version_words) ? 1 : 0;
	return ctl_object_run(&top, argc, argv) ? 1 : 0;
}
