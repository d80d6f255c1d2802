// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbctl: bpftool-style control of ebb.  ebbctl [OPTIONS] OBJECT { COMMAND | help }
 * Every command validates all its arguments before it changes anything, so a wrong invocation
 * prints "Error: ...", exits non-zero and leaves every map as it was.
 */
#include <getopt.h>
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
		"       OBJECT := { prog | vip | node | flow | stats | decap | backend | fleet }\n"
		"       OPTIONS := { -j|--json | -p|--pretty | -q|--quiet | -v|--verbose |\n"
		"                    --bpffs DIR | -V|--version }   (before or after the command)\n",
		bin_name, bin_name, bin_name, bin_name);
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

/*
 * Options may also follow the command, as in bpftool (`ebbctl node show -j`): the words that
 * are exactly an option are taken out of argv; anything else ("-5" as a weight) stays an
 * argument for the command to judge. Returns the new argc, or -1 after an error.
 */
int ctl_strip_options(int argc, char **argv, bool allow_bpffs)
{
	int out = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-j") || !strcmp(a, "--json")) {
			json_output = true;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--pretty")) {
			json_output = pretty_output = true;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			quiet = true;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			verbose = true;
		} else if (!strcmp(a, "--bpffs") || !strncmp(a, "--bpffs=", 8)) {
			const char *dir = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);

			if (!allow_bpffs)
				return ctl_error("--bpffs is not allowed here"), -1;
			if (!dir)
				return ctl_error("option '--bpffs' needs a value"), -1;
			if (dir[0] != '/')
				return ctl_error("--bpffs needs an absolute directory"), -1;
			bpffs = dir;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	return out;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own chatter only with -v: errors reach the user as one "Error:" line. */
	(void)level;
	return verbose ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },	  { "pretty", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },	  { "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },	  { "bpffs", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },	  { 0 },
	};
	bool version = false;
	int opt, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ctl_top = ctl_objects;
	help_out = stderr;
	ctl_cmdline_set(argc, argv);
	libbpf_set_print(libbpf_quiet);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:jpqvVh", options, NULL)) >= 0) {
		switch (opt) {
		case 'j':
			json_output = true;
			break;
		case 'p':
			json_output = pretty_output = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'V':
			version = true;
			break;
		case 'B':
			if (!*optarg || optarg[0] != '/')
				return ctl_error("--bpffs needs an absolute directory") ? 1 : 0;
			bpffs = optarg;
			break;
		case 'h':
			help_out = stdout;
			return do_help(0, NULL) ? 1 : 0;
		case ':':
			ctl_error("option '%s' needs a value", argv[optind - 1]);
			return 1;
		default:
			ctl_error("unknown option '%s'", argv[optind - 1]);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	argc = ctl_strip_options(argc, argv, true);
	if (argc < 0)
		return 1;
	if (version)
		return do_version(0, NULL) ? 1 : 0;
	if (argc < 1) {
		ctl_error("missing OBJECT");
		do_help(0, NULL);
		return 1;
	}
	ret = cmd_select(ctl_objects, argc, argv, NULL);
	return ret ? 1 : 0;
}
