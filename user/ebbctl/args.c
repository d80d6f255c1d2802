// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbctl's words as data: the global options are a table, and one parser reads argv against it,
 * before the object and after it; the OPTIONS lines of `help` are written from the same table.
 * Calls down into ctl.c only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebbctl.h"

enum option_id { OPT_JSON, OPT_PRETTY, OPT_QUIET, OPT_VERBOSE, OPT_BPFFS, OPT_VERSION, OPT_HELP };

struct ctl_option {
	enum option_id id;
	const char *name;	/* the long form, without its "--" */
	char short_name;	/* 0: none */
	const char *value;	/* the value's name in the usage; NULL: the option takes none */
	/* Only before the object: after it, `-V` or `-h` is a command's argument to judge. */
	bool leading_only;
	/* Not listed in the usage (help is how one reads the usage). */
	bool unlisted;
};

static const struct ctl_option options[] = {
	{ .id = OPT_JSON, .name = "json", .short_name = 'j' },
	{ .id = OPT_PRETTY, .name = "pretty", .short_name = 'p' },
	{ .id = OPT_QUIET, .name = "quiet", .short_name = 'q' },
	{ .id = OPT_VERBOSE, .name = "verbose", .short_name = 'v' },
	{ .id = OPT_BPFFS, .name = "bpffs", .value = "DIR" },
	{ .id = OPT_VERSION, .name = "version", .short_name = 'V', .leading_only = true },
	{ .id = OPT_HELP, .name = "help", .short_name = 'h', .leading_only = true, .unlisted = true },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

struct option_flags {
	bool *version, *help;
};

static int apply_option(const struct ctl_option *o, const char *value, struct option_flags *f)
{
	switch (o->id) {
	case OPT_JSON:
		json_output = true;
		break;
	case OPT_PRETTY:
		json_output = pretty_output = true;
		break;
	case OPT_QUIET:
		quiet = true;
		break;
	case OPT_VERBOSE:
		verbose = true;
		break;
	case OPT_BPFFS:
		if (value[0] != '/')
			return ctl_error("--bpffs needs an absolute directory");
		bpffs = value;
		break;
	case OPT_VERSION:
		*f->version = true;
		break;
	case OPT_HELP:
		*f->help = true;
		break;
	}
	return 0;
}

/*
 * A long option at argv[*i] ("--name" or "--name=value"); an abbreviation of one long name
 * (`--verb`) when abbrev. Takes its value from the next word when it needs one and has no
 * "=value". Returns the option, NULL when the word names none (or more than one).
 */
static const struct ctl_option *long_option(int argc, char **argv, int *i, bool abbrev,
					    const char **value, bool *bad_value)
{
	const char *word = argv[*i] + 2, *eq = strchr(word, '=');
	size_t len = eq ? (size_t)(eq - word) : strlen(word);
	const struct ctl_option *found = NULL;

	*value = NULL;
	*bad_value = false;
	for (size_t k = 0; k < N_OPTIONS; k++) {
		if (strncmp(word, options[k].name, len))
			continue;
		if (options[k].name[len] == '\0') {
			found = &options[k];
			break;
		}
		if (!abbrev)
			continue;
		if (found)
			return NULL;
		found = &options[k];
	}
	if (!found)
		return NULL;
	if (!found->value) {
		*bad_value = eq != NULL;
		return found;
	}
	if (eq)
		*value = eq + 1;
	else if (*i + 1 < argc)
		*value = argv[++*i];
	return found;
}

int ctl_parse_options(int argc, char **argv, bool *version, bool *help)
{
	struct option_flags flags = { version, help };
	int i = 0, out = 0;

	/* Before the object every word that starts with '-' is an option: clusters (`-jq`) and
	 * abbreviations (`--pre`) as getopt takes them, "--" ends them. */
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *word = argv[i], *value;
		const struct ctl_option *o;
		bool bad_value;

		if (!strcmp(word, "--")) {
			i++;
			break;
		}
		if (word[1] == '-') {
			o = long_option(argc, argv, &i, true, &value, &bad_value);
			if (!o || bad_value)
				return ctl_error("unknown option '%s'", word);
			if (o->value && !value)
				return ctl_error("option '%s' needs a value", word);
			if (apply_option(o, value, &flags))
				return -1;
			if (*help)
				return 0;
			continue;
		}
		for (const char *c = word + 1; *c; c++) {
			o = NULL;
			for (size_t k = 0; k < N_OPTIONS && !o; k++)
				if (options[k].short_name == *c && !options[k].value)
					o = &options[k];
			if (!o)
				return ctl_error("unknown option '-%c'", *c);
			apply_option(o, NULL, &flags);
			if (*help)
				return 0;
		}
	}
	/* After it, only a word that is exactly an option is one: "-5" stays a weight, for the
	 * command to judge. */
	for (; i < argc; i++) {
		const char *word = argv[i], *value = NULL;
		const struct ctl_option *o = NULL;
		bool bad_value = false;

		if (word[0] == '-' && word[1] == '-' && word[2])
			o = long_option(argc, argv, &i, false, &value, &bad_value);
		else if (word[0] == '-' && word[1] && !word[2])
			for (size_t k = 0; k < N_OPTIONS && !o; k++)
				if (options[k].short_name == word[1] && !options[k].value)
					o = &options[k];
		if (!o || bad_value || o->leading_only) {
			argv[out++] = argv[i];
			continue;
		}
		if (o->value && !value)
			return ctl_error("option '%s' needs a value", word);
		if (apply_option(o, value, &flags))
			return -1;
	}
	argv[out] = NULL;
	return out;
}

void ctl_options_usage(FILE *f)
{
	const char *lead = "       OPTIONS := { ";
	int col = fprintf(f, "%s", lead);

	for (size_t k = 0; k < N_OPTIONS; k++) {
		char item[64];
		int len;

		if (options[k].unlisted)
			continue;
		if (options[k].short_name)
			len = snprintf(item, sizeof(item), "-%c|--%s", options[k].short_name, options[k].name);
		else
			len = snprintf(item, sizeof(item), "--%s %s", options[k].name, options[k].value);
		if (col > (int)strlen(lead) && col + len + 3 > 80) {
			fprintf(f, " |\n%*s", (int)strlen(lead), "");
			col = (int)strlen(lead);
		} else if (col > (int)strlen(lead)) {
			col += fprintf(f, " | ");
		}
		col += fprintf(f, "%s", item);
	}
	fprintf(f, " }   (before or after the command)\n");
}
