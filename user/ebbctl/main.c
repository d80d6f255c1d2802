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

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (json_output)
		return ctl_error("help has no JSON form");
	fprintf(help_out,
		"Usage: %s [OPTIONS] OBJECT { COMMAND | help }\n"
		"       %s version\n"
		"       %s save [file FILE]\n"
		"       %s restore FILE [if-empty]\n"
		"\n"
		"       OBJECT := { prog | vip | node | flow | stats | decap | backend | fleet }\n",
		bin_name, bin_name, bin_name, bin_name);
	ctl_options_usage(help_out);
	return 0;
}

static int do_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
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

static const struct cmd ctl_objects[] = {
	{ "help", do_help },   { "prog", do_prog },   { "vip", do_vip },	 { "node", do_node },
	{ "flow", do_flow },   { "stats", do_stats }, { "decap", do_decap }, { "backend", do_backend },
	{ "fleet", do_fleet },
	{ "save", do_save },   { "restore", do_restore },
		{ "version", do_version }, { NULL, NULL },
};

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own chatter only with -v: errors reach the user as one "Error:" line. */
	(void)level;
	return verbose ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	bool version = false, help = false;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ctl_top = ctl_objects;
	help_out = stderr;
	ctl_cmdline_set(argc, argv);
	libbpf_set_print(libbpf_quiet);
	argc = ctl_parse_options(argc - 1, argv + 1, &version, &help);
	argv++;
	if (argc < 0)
		return 1;
	if (help) {
		help_out = stdout;
		return do_help(0, NULL) ? 1 : 0;
	}
	if (version)
		return do_version(0, NULL) ? 1 : 0;
	if (argc < 1) {
		ctl_error("missing OBJECT");
		do_help(0, NULL);
		return 1;
	}
	ret = cmd_select(ctl_objects, argc, argv);
	return ret ? 1 : 0;
}
