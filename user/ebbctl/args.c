// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbctl's words as data: the global options, the top level (objects and its own commands) and
 * each command's arguments are tables, and one parser reads argv against them; the usage
 * `help` prints (`ebbctl help` and `ebbctl OBJECT help`) and the errors' "usage: ..." are
 * written from the same tables, so that what ebbctl accepts and what it says it accepts cannot
 * drift apart (tools/ebbctl.bash-completion and tests/integration/test_cli_tables.sh read that
 * usage). Calls down into ctl.c only.
 */
#include <stdarg.h>
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

/* The "OPTIONS := ..." lines of the top level's usage. */
static void options_usage(FILE *f)
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

/* ---- commands ----------------------------------------------------------------------------- */

#define MAX_ARGS 32

/* The command of a table that runs now, and which of its entries its words gave. */
static const struct ctl_object *object_now;
static const struct ctl_command *command_now;
static bool given_now[MAX_ARGS];

static bool arg_end(const struct ctl_arg *a)
{
	return !a->kind;
}

/* Adds to the text in buf (of len bytes, used of them taken); what does not fit is cut. */
static void __attribute__((format(printf, 4, 5)))
append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used = *used + n < len ? *used + n : len - 1;
}

/* "{dsr|ipip}": a choice's words as the usage writes them when it has no metavar. */
static void choice_words(const struct ctl_arg *a, char *buf, size_t len)
{
	size_t used = 0;

	append(buf, len, &used, "{");

	for (const struct ctl_choice *c = a->choices; c->word; c++)
		append(buf, len, &used, "%s%s", c == a->choices ? "" : "|", c->word);
	append(buf, len, &used, "}");
}

/* What an error calls an entry: its keyword, else its metavar. */
static const char *arg_label(const struct ctl_arg *a)
{
	return a->name ? a->name : a->metavar ? a->metavar : "word";
}

/* One entry as the usage writes it, without its brackets: "fwd {dsr|ipip}", "VIP", "force",
 * and a positional choice spaced, "{ drain | activate }": its words are keywords (completion
 * offers them), where a keyword's compact values come only after it. */
static void arg_text(const struct ctl_arg *a, char *buf, size_t len)
{
	char value[128] = "";

	if (a->kind == CTL_CHOICE && !a->metavar && !a->name) {
		size_t used = 0;

		for (const struct ctl_choice *c = a->choices; c->word; c++)
			append(value, sizeof(value), &used, "%s%s", c == a->choices ? "{ " : " | ", c->word);
		append(value, sizeof(value), &used, " }");
	} else if (a->kind == CTL_CHOICE && !a->metavar) {
		choice_words(a, value, sizeof(value));
	} else if (a->metavar) {
		snprintf(value, sizeof(value), "%s", a->metavar);
	}
	if (!a->name)
		snprintf(buf, len, "%s", value);
	else if (a->kind == CTL_FLAG)
		snprintf(buf, len, "%s", a->name);
	else
		snprintf(buf, len, "%s %s", a->name, value);
}

/*
 * The words after "OBJECT COMMAND" in the usage: required entries bare, optional ones in
 * brackets, alternatives (CTL_OR) joined by " | " in one pair of brackets ("{ a | b }" when one
 * of them is required), an inner entry inside its outer one's brackets, "..." after a repeatable one.
 */
static void args_usage(const struct ctl_arg *args, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const struct ctl_arg *a = args; a && !arg_end(a); a++) {
		bool required = a->flags & CTL_REQUIRED, group = !arg_end(a + 1) && (a[1].flags & CTL_OR);
		const struct ctl_arg *first = a;
		char text[160];

		if (a->kind == CTL_REFUSED)
			continue;
		arg_text(a, text, sizeof(text));
		if (group) {
			append(buf, len, &used, "%s%s%s", used ? " " : "",
					 required ? "{ " : "[", text);
			while (!arg_end(a + 1) && (a[1].flags & CTL_OR)) {
				a++;
				arg_text(a, text, sizeof(text));
				append(buf, len, &used, " | %s", text);
			}
			append(buf, len, &used, "%s", required ? " }" : "]");
			continue;
		}
		if (required) {
			append(buf, len, &used, "%s%s", used ? " " : "", text);
		} else {
			int inner = 0;

			append(buf, len, &used, "%s[%s", used ? " " : "", text);
			while (!arg_end(a + 1) && (a[1].flags & CTL_INNER) && inner < 8) {
				a++;
				arg_text(a, text, sizeof(text));
				append(buf, len, &used, " [%s", text);
				inner++;
			}
			append(buf, len, &used, "%.*s]", inner, "]]]]]]]]");
		}
		if (first->flags & CTL_MANY)
			append(buf, len, &used, "...");
	}
}

/* The usage's forms of cmd, each "OBJECT COMMAND ARGS" ("COMMAND ARGS" at the top level),
 * joined by sep. */
static void command_usage(const struct ctl_object *obj, const struct ctl_command *cmd,
			  const char *sep, char *buf, size_t len)
{
	const char *space = obj->name ? " " : "", *object = obj->name ? obj->name : "";
	size_t used = 0;

	buf[0] = '\0';
	if (cmd->usage) {
		for (const char *const *u = cmd->usage; *u; u++)
			append(buf, len, &used, "%s%s%s%s%s%s", u == cmd->usage ? "" : sep,
					 object, space, cmd->name, **u ? " " : "", *u);
		return;
	}
	{
		char args[512];

		args_usage(cmd->args, args, sizeof(args));
		snprintf(buf, len, "%s%s%s%s%s", object, space, cmd->name, args[0] ? " " : "", args);
	}
}

const char *ctl_usage(void)
{
	static char buf[1024];

	if (!command_now)
		return "";
	command_usage(object_now, command_now, ", or ", buf, sizeof(buf));
	return buf;
}

bool ctl_given(const char *name)
{
	int i = 0;

	if (!command_now || !command_now->args)
		return false;
	for (const struct ctl_arg *a = command_now->args; !arg_end(a) && i < MAX_ARGS; a++, i++)
		if (a->name && !strcmp(a->name, name))
			return given_now[i];
	return false;
}

/* "Usage: ebbctl" (lead) and a line for each form of cmd; a long one wrapped, its continuation
 * under the first argument. */
static void command_help(const struct ctl_object *obj, const struct ctl_command *cmd,
			 const char *lead)
{
	int indent = (int)(strlen(lead) + strlen(bin_name) + strlen(cmd->name) + 2 +
			   (obj->name ? strlen(obj->name) + 1 : 0));
	char line[1024], *form, *save = NULL;

	command_usage(obj, cmd, "\n", line, sizeof(line));
	for (form = strtok_r(line, "\n", &save); form; form = strtok_r(NULL, "\n", &save)) {
		int col = fprintf(help_out, "%s%s", lead, bin_name);
		const char *word = form;

		/* cut at a space outside brackets: "[fwd {dsr|ipip}]" stays whole */
		while (*word) {
			const char *end = word;
			int depth = 0, n;

			while (*end && (depth || *end != ' ')) {
				depth += (*end == '[' || *end == '{') - (*end == ']' || *end == '}');
				end++;
			}
			n = (int)(end - word);
			if (col + 1 + n > 100) {
				fprintf(help_out, "\n%*s", indent - 1, "");
				col = indent - 1;
			}
			col += fprintf(help_out, " %.*s", n, word);
			word = *end ? end + 1 : end;
		}
		fprintf(help_out, "\n");
		lead = "       ";
	}
}

/*
 * The help of obj: "Usage: ebbctl OBJECT COMMAND ARGS" for each command, then its notes. The
 * top level's: the objects' grammar first, then its own commands, the objects and the options.
 */
static int object_help(const struct ctl_object *obj)
{
	const char *lead = "Usage: ";
	bool objects = false;

	for (const struct ctl_command *cmd = obj->commands; cmd->name; cmd++)
		objects |= cmd->object != NULL;
	if (objects) {
		fprintf(help_out, "%s%s [OPTIONS] OBJECT { COMMAND | help }\n", lead, bin_name);
		lead = "       ";
	}
	for (const struct ctl_command *cmd = obj->commands; cmd->name; cmd++) {
		if (cmd->object)
			continue;
		command_help(obj, cmd, lead);
		lead = "       ";
	}
	if (obj->name)
		fprintf(help_out, "%s%s %s help\n", lead, bin_name, obj->name);
	if (objects) {
		const char *sep = "\n       OBJECT := { ";

		for (const struct ctl_command *cmd = obj->commands; cmd->name; cmd++) {
			if (!cmd->object)
				continue;
			fprintf(help_out, "%s%s", sep, cmd->name);
			sep = " | ";
		}
		fprintf(help_out, " }\n");
	}
	if (!obj->name)
		options_usage(help_out);
	if (obj->notes)
		obj->notes(help_out);
	return 0;
}

/* "a, b or c": a choice's words in an error. */
static void choice_list(const struct ctl_arg *a, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const struct ctl_choice *c = a->choices; c->word; c++)
		append(buf, len, &used, "%s%s", c == a->choices ? "" : c[1].word ? ", " : " or ",
				 c->word);
}

/* Reads value into args for a (not CTL_FLAG, CTL_PARSE or CTL_REFUSED); -1 after the error. */
static int arg_value(const struct ctl_arg *a, const char *value, void *args)
{
	void *slot = (char *)args + a->offset;
	struct ebb_err err = {};

	switch (a->kind) {
	case CTL_WORD:
		*(const char **)slot = value;
		return 0;
	case CTL_U32:
		if (!ebb_parse_u32(value, a->min, a->max, slot))
			return 0;
		if (a->bad)
			return ctl_error(a->bad, value);
		return ctl_error("%s must be %u..%u%s%s, not '%s'", arg_label(a),
				 a->min, a->max, a->unit ? " " : "", a->unit ? a->unit : "", value);
	case CTL_CHOICE:
		for (const struct ctl_choice *c = a->choices; c->word; c++) {
			if (!strcmp(c->word, value)) {
				*(int *)slot = c->value;
				return 0;
			}
		}
		if (a->bad)
			return ctl_error(a->bad, value);
		{
			char words[256];

			choice_list(a, words, sizeof(words));
			return ctl_error("unknown %s '%s': %s", arg_label(a), value, words);
		}
	case CTL_VIP:
		if (!ebb_parse_vip(value, slot, &err))
			return 0;
		break;
	case CTL_ADDR:
		if (!ebb_parse_addr(value, slot, &err))
			return 0;
		break;
	case CTL_ENDPOINT: {
		struct ctl_endpoint *ep = slot;

		ep->word = value;
		if (!ebb_parse_endpoint(value, &ep->addr, &ep->port, &err))
			return 0;
		break;
	}
	default:
		return ctl_error("internal: no parse for the kind of '%s'", arg_label(a));
	}
	return a->bad ? ctl_error(a->bad, value) : ctl_error("%s", err.msg);
}

/* The entry of cmd a keyword names (exactly), NULL when none does. */
static const struct ctl_arg *keyword(const struct ctl_command *cmd, const char *word)
{
	for (const struct ctl_arg *a = cmd->args; a && !arg_end(a); a++)
		if (a->name && !strcmp(a->name, word))
			return a;
	return NULL;
}

/* The entry that opens a's group of alternatives (a itself when it is none's). */
static const struct ctl_arg *group_of(const struct ctl_arg *a)
{
	while (a->flags & CTL_OR)
		a--;
	return a;
}

/*
 * Reads a command's words into args: a keyword takes the word after it as its value (a flag
 * none), other words fill the positional entries in order. Structural errors (a word the
 * command has no place for, a keyword without its value, a required entry missing) end in the
 * command's usage; a value that does not parse says why in the entry's own words.
 */
static int parse_args(const struct ctl_command *cmd, int argc, char **argv, void *args)
{
	const struct ctl_arg *all = cmd->args, *pos = all;

	memset(given_now, 0, sizeof(given_now));
	for (int i = 0; i < argc;) {
		const char *word = argv[i];
		const struct ctl_arg *a = NULL;
		int idx;

		while (pos && !arg_end(pos) && (pos->name || given_now[pos - all]))
			pos++;
		/* A required positional takes the next word whatever it is (`vip add fwd` reads
		 * "fwd" as the VIP, and says it is not one); an optional one only a word that is no
		 * keyword. */
		if (pos && !arg_end(pos) && (pos->flags & CTL_REQUIRED))
			a = pos;
		if (!a)
			a = keyword(cmd, word);
		if (!a && pos && !arg_end(pos))
			a = pos;
		if (!a)
			return ctl_error("unexpected '%s'; usage: %s", word, ctl_usage());
		idx = (int)(a - all);
		if (a->kind == CTL_REFUSED)
			return ctl_error(a->bad, word);
		if (a->name && given_now[idx] && (a->flags & CTL_ONCE))
			return a->twice ? ctl_error("%s", a->twice) : ctl_error("'%s' given twice", a->name);
		/* one of a group of alternatives: another of them given already makes it one too many */
		if (a->name && ((a->flags & CTL_OR) || (!arg_end(a + 1) && (a[1].flags & CTL_OR)))) {
			const struct ctl_arg *g = group_of(a);

			for (const struct ctl_arg *o = g; o == g || (!arg_end(o) && (o->flags & CTL_OR)); o++)
				if (o != a && given_now[o - all])
					return ctl_error("unexpected '%s'; usage: %s", word, ctl_usage());
		}
		/* `node show interval 2` asks for rates as `rates interval 2` does */
		if (a->flags & CTL_INNER && a[-1].kind == CTL_FLAG) {
			*(bool *)((char *)args + a[-1].offset) = true;
			given_now[idx - 1] = true;
		}
		given_now[idx] = true;
		if (!a->name) {
			if (arg_value(a, word, args))
				return -1;
			i++;
			continue;
		}
		if (a->kind == CTL_FLAG) {
			*(bool *)((char *)args + a->offset) = true;
			i++;
			continue;
		}
		if (i + 1 >= argc) {
			if (a->kind == CTL_PARSE)
				return a->parse(args, NULL) ? -1 : ctl_error("missing value after '%s'", word);
			return ctl_error("missing %s after '%s'; usage: %s", a->missing ? a->missing : "value",
					 word, ctl_usage());
		}
		if (a->kind == CTL_PARSE ? a->parse(args, argv[i + 1]) : arg_value(a, argv[i + 1], args))
			return -1;
		i += 2;
	}
	for (const struct ctl_arg *a = all; a && !arg_end(a); a++) {
		char text[160];
		bool any;

		if (!(a->flags & CTL_REQUIRED))
			continue;
		any = given_now[a - all];
		for (const struct ctl_arg *o = a + 1; !arg_end(o) && (o->flags & CTL_OR); o++)
			any |= given_now[o - all];
		if (any)
			continue;
		if (!a->name)
			return ctl_error("missing %s; usage: %s", a->missing ? a->missing : arg_label(a),
					 ctl_usage());
		if (!arg_end(a + 1) && (a[1].flags & CTL_OR))
			return ctl_error("usage: %s", ctl_usage());
		arg_text(a, text, sizeof(text));
		return ctl_error("missing '%s'; usage: %s", text, ctl_usage());
	}
	return 0;
}

int ctl_object_run(const struct ctl_object *obj, int argc, char **argv)
{
	struct ctl_name names[64];
	const struct ctl_command *cmd;
	size_t n = 0;
	void *args;
	int i, ret;

	if (argc < 1 && batch_vetting) {
		vet_command = "";
		return 0;
	}
	if (argc < 1 && !obj->name) {
		ctl_error("missing OBJECT");
		/* with -j, the error is the one document */
		if (!json_output)
			object_help(obj);
		return -1;
	}
	if (argc < 1)
		return object_help(obj);
	for (cmd = obj->commands; cmd->name && n < 62; cmd++) {
		names[n++] = (struct ctl_name){ cmd->name, cmd, cmd->shortest };
		if (cmd->alias)
			names[n++] = (struct ctl_name){ cmd->alias, cmd, cmd->shortest };
	}
	names[n++] = (struct ctl_name){ "help", NULL, 0 };
	i = ctl_pick(names, n, argv[0]);
	if (i < 0)
		return -1;
	cmd = names[i].id;
	if (batch_vetting && !obj->name) {
		/* a batch is objects' commands: the top level's own are no change it could roll back */
		if (!cmd || !cmd->object)
			return ctl_error("'%s' has no place in a batch", names[i].name);
		vet_object = cmd->name;
	} else if (batch_vetting) {
		vet_command = names[i].name;
		return 0;
	}
	if (cmd && cmd->object)
		return ctl_object_run(cmd->object, argc - 1, argv + 1);
	if (!cmd) {
		/* -j asks for a document help cannot be */
		if (json_output)
			return ctl_error("%s%shelp has no JSON form", obj->name ? obj->name : "",
					 obj->name ? " " : "");
		/* Asked for by name, help is the output: stdout. */
		help_out = stdout;
		return object_help(obj);
	}
	for (n = 0; cmd->args && !arg_end(&cmd->args[n]); n++)
		if (n == MAX_ARGS)
			return ctl_error("internal: '%s %s' has more than %d arguments",
					 obj->name ? obj->name : bin_name, cmd->name, MAX_ARGS);
	args = calloc(1, cmd->args_size ? cmd->args_size : 1);
	if (!args)
		return ctl_error("out of memory");
	if (cmd->defaults)
		memcpy(args, cmd->defaults, cmd->args_size);
	{
		/* restore runs its lines' commands inside its own */
		const struct ctl_object *outer_object = object_now;
		const struct ctl_command *outer_command = command_now;
		bool outer_given[MAX_ARGS];

		memcpy(outer_given, given_now, sizeof(given_now));
		object_now = obj;
		command_now = cmd;
		ret = parse_args(cmd, argc - 1, argv + 1, args);
		if (!ret)
			ret = cmd->run(args);
		object_now = outer_object;
		command_now = outer_command;
		memcpy(given_now, outer_given, sizeof(given_now));
	}
	free(args);
	return ret;
}
