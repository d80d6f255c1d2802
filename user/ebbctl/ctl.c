// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What every command of ebbctl shares: the options' state, errors and JSON output, and the
 * choice of a command from a word. main.c, args.c and each cmd_*.c call down into it; it calls
 * none of them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ebbctl.h"

bool json_output, pretty_output, quiet, verbose;
const char *bpffs = EBB_DEFAULT_BPFFS;
const char *bin_name = "ebbctl";
const char *batch_file;
int batch_line;
bool batch_vetting;
const char *vet_object, *vet_command;
bool batch_locked;
FILE *help_out;
const struct ctl_object *ctl_top;

int ctl_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (batch_file && batch_line > 0) {
		char body[1024];

		/* In a batch (restore), the error names the file and the line that failed. */
		memcpy(body, msg, sizeof(body));
		snprintf(msg, sizeof(msg), "%.200s line %d: %.800s", batch_file, batch_line, body);
	}
	if (json_output) {
		json_object *doc = json_object_new_object();

		json_object_object_add(doc, "error", json_object_new_string(msg));
		json_print(doc);
	} else {
		fprintf(stderr, "Error: %s\n", msg);
		/* bpffs pins and BPF syscalls need privilege: say which, not only the errno's words. */
		if (geteuid() != 0 && (strstr(msg, "Operation not permitted") || strstr(msg, "Permission denied")))
			fprintf(stderr, "Hint: ebbctl needs root, or the capabilities CAP_BPF, CAP_NET_ADMIN "
					"and CAP_SYS_ADMIN (and read access to %s)\n", bpffs);
	}
	return -1;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF), 0 if there is none. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		unsigned char lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		unsigned char lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/*
 * JSON must be UTF-8, and json-c copies a string's bytes as they are: an argument that is not
 * UTF-8 (echoed in an error) would make the document invalid. Bytes outside a valid sequence
 * can only be inside strings (the syntax is ASCII): each becomes \ufffd, the replacement char.
 */
static void print_utf8(const char *text)
{
	const unsigned char *s = (const unsigned char *)text;

	while (*s) {
		const unsigned char *run = s;
		size_t n;

		/* a run of valid sequences in one write: a document may be megabytes (flow show) */
		while (*s && (n = utf8_len(s)))
			s += n;
		if (s > run)
			fwrite(run, 1, (size_t)(s - run), stdout);
		if (*s) {
			fputs("\\ufffd", stdout);
			s++;
		}
	}
}

void json_print_text(const char *text)
{
	print_utf8(text);
	putchar('\n');
}

void json_print(json_object *doc)
{
	int flags = pretty_output ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED :
				    JSON_C_TO_STRING_PLAIN;

	print_utf8(json_object_to_json_string_ext(doc, flags | JSON_C_TO_STRING_NOSLASHESCAPE));
	putchar('\n');
	json_object_put(doc);
}

void ctl_warn_table_size(const struct ebb_vip_key *vip, int nodes, __u32 m)
{
	char name[64];

	if ((__u64)nodes * 100 <= m)
		return;
	ebb_fmt_vip(vip, name, sizeof(name));
	fprintf(stderr, "Warning: VIP %s has %d nodes and table-size %u: Maglev spreads flows evenly (within ~1 %%) up to %u nodes; %s\n",
		name, nodes, m, m / 100,
		(__u32)nodes > m ? "some nodes have no slot and get no new flows" :
		"the spread is coarser (delete and add the VIP with a larger table-size)");
}

int done_ok(void)
{
	if (json_output && !batch_file)
		printf("null\n");
	return 0;
}

int ctl_close(struct ebb *e, int ret, const struct ebb_err *err)
{
	ebb_close(e);
	return ret ? ctl_error("%s", err->msg) : 0;
}

bool is_prefix(const char *pfx, const char *str)
{
	return *pfx && !strncmp(str, pfx, strlen(pfx));
}

/* Edit distance (insertions, deletions, substitutions, adjacent swaps) of two short words. */
static int word_distance(const char *a, const char *b)
{
	enum { MAX = 32 };
	int la = strlen(a), lb = strlen(b), d[MAX + 1][MAX + 1];

	if (la > MAX || lb > MAX)
		return MAX;
	for (int i = 0; i <= la; i++)
		d[i][0] = i;
	for (int j = 0; j <= lb; j++)
		d[0][j] = j;
	for (int i = 1; i <= la; i++) {
		for (int j = 1; j <= lb; j++) {
			int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* The one name a typo most likely meant (`drian` -> drain): at most 2 edits away and a third of
 * the word, and closer than any other name; NULL when none or a tie. */
static const char *nearest_name(const struct ctl_name *names, size_t n, const char *word)
{
	const char *best = NULL;
	int best_d = 3, ties = 0, len = strlen(word);

	for (size_t i = 0; i < n; i++) {
		const char *name = names[i].name;
		int d = word_distance(word, name);

		if (d > 2 || d * 3 > (len > (int)strlen(name) ? len : (int)strlen(name)))
			continue;
		if (d < best_d) {
			best = name, best_d = d, ties = 0;
		} else if (d == best_d && strcmp(best, name)) {
			ties++;
		}
	}
	return ties ? NULL : best;
}

int ctl_pick(const struct ctl_name *names, size_t n, const char *word)
{
	int match = -1;

	for (size_t i = 0; i < n; i++) {
		if (!strcmp(word, names[i].name))
			return (int)i;
		if (is_prefix(word, names[i].name) &&
		    strlen(word) >= (names[i].shortest ? names[i].shortest : 1)) {
			if (match >= 0 && names[match].id != names[i].id)
				return ctl_error("ambiguous '%s': %s or %s?", word, names[match].name,
						 names[i].name);
			match = (int)i;
		}
	}
	if (match < 0) {
		const char *near = nearest_name(names, n, word);

		if (near)
			return ctl_error("unknown '%s': did you mean '%s'? (try '%s help')", word, near,
					 bin_name);
		return ctl_error("unknown '%s'; try '%s help'", word, bin_name);
	}
	return match;
}
