// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbctl save: the configuration as a batch of ebbctl commands (like ipvsadm-save): the
 * attachments, settings, VIPs with their timeouts, nodes with MAC, weights and states.
 * The file ends with "# end sha256 HEX", HEX the SHA-256 of every byte before that line (what
 * `head -n -1 FILE | sha256sum` prints), so that a file cut short or changed is told apart.
 * ebbctl restore FILE: runs such a batch as one change, whole or nothing. The file is checked
 * first (its end line, then every line names a command restore can undo); then every line runs
 * under one lock, and if one fails the error names it and the configuration maps and the
 * attachments (also those the batch detached) go back to what they were.
 */
#include <errno.h>
#include <stddef.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <bpf/bpf.h>

#include "ebbctl.h"

static void save_vip(FILE *out, const struct ebb_vip_key *k, const struct ebb_vip *v)
{
	char name[64], a[64];

	fprintf(out, "vip add %s fwd %s", ebb_fmt_vip(k, name, sizeof(name)), ebb_fwd_name(v->fwd));
	if (v->fwd == EBB_FWD_IPIP) {
		if (v->encap_src4)
			fprintf(out, " encap-src %s", ebb_fmt_addr(&v->encap_src4, EBB_FAMILY_V4, a, sizeof(a)));
		if (v->encap_src6[0] | v->encap_src6[1] | v->encap_src6[2] | v->encap_src6[3])
			fprintf(out, " encap-src %s", ebb_fmt_addr(v->encap_src6, EBB_FAMILY_V6, a, sizeof(a)));
	}
	fprintf(out, " tcp-idle %u udp-idle %u fin-timeout %u drain-timeout %u", v->tcp_idle_s,
	       v->udp_idle_s, v->fin_s, v->drain_timeout_s);
	/* only where not the default: a save of default VIPs reads as it did before sizes */
	if (ebb_vip_table_size(v) != EBB_TABLE_SIZE_DEFAULT)
		fprintf(out, " table-size %u", ebb_vip_table_size(v));
	fputc('\n', out);
}

static int save_to(FILE *out);

/* The first line of a save that ends with an end line; a file with another first line and no
 * end line is an older save, or a batch written by hand. */
#define SAVE_HEADER "# ebbctl save format 2, "
#define END_LINE "# end sha256 "
#define END_MARK "# end sha256" /* what makes a line an end line, whole or damaged */

/* The checksum of an end line: SHA-256 of len bytes, as 64 lowercase hex digits. */
static void sum_hex(const char *text, size_t len, char hex[65])
{
	unsigned char sum[32];

	ebb_sha256(text, len, sum);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", sum[i]);
}

/*
 * Checks the end line of text (len bytes, the last a newline; added_nl: that newline was not
 * in the file). Returns 0 when the end line is there and right, *body_end then where it
 * starts; 1 when there is none and the file does not claim one (no SAVE_HEADER); -1 with the
 * reason in why otherwise.
 */
static int end_check(const char *text, size_t len, bool added_nl, size_t *body_end, char *why,
		     size_t why_len)
{
	const char *last = text + len - 1, *hex;
	char want[65];
	int lineno = 1;

	while (last > text && last[-1] != '\n')
		last--;
	/* An end line anywhere but last: something was appended after the save. */
	for (const char *p = text; p < last; p = (const char *)memchr(p, '\n', last - p) + 1, lineno++)
		if (!strncmp(p, END_MARK, strlen(END_MARK))) {
			snprintf(why, why_len, "line %d is an end line and more lines come after the "
				 "end line: a save ends there", lineno);
			return -1;
		}
	if (strncmp(last, END_MARK, strlen(END_MARK))) {
		if (strncmp(text, SAVE_HEADER, strlen(SAVE_HEADER)))
			return 1;
		snprintf(why, why_len, "cut short: it has no end line ('%s' and 64 hex digits, "
			 "the last line of every save); its last line, %d, is '%.*s'", END_LINE,
			 lineno, (int)(text + len - 1 - last < 40 ? text + len - 1 - last : 40), last);
		return -1;
	}
	hex = last + strlen(END_LINE);
	if (strncmp(last, END_LINE, strlen(END_LINE)) || added_nl || text + len - 1 - hex != 64 ||
	    strspn(hex, "0123456789abcdef") != 64) {
		snprintf(why, why_len, "its end line (line %d) is damaged or cut short: not '%s' "
			 "and 64 hex digits and a newline", lineno, END_LINE);
		return -1;
	}
	sum_hex(text, last - text, want);
	if (strncmp(hex, want, 64)) {
		snprintf(why, why_len, "checksum mismatch: lines 1-%d have sha256 %.12s…, the end line "
			 "says %.12s…: the file was changed or damaged after it was saved",
			 lineno - 1, want, hex);
		return -1;
	}
	*body_end = last - text;
	return 0;
}

/* The whole file `save` writes: the configuration, then the end line over every byte before. */
static int save_text(char **text, size_t *len)
{
	FILE *m = open_memstream(text, len);
	char *whole, hex[65];
	int ret;

	*text = NULL;
	if (!m)
		return ctl_error("out of memory");
	ret = save_to(m);
	if (fclose(m) && !ret)
		ret = ctl_error("out of memory");
	if (ret) {
		free(*text);
		return ret;
	}
	sum_hex(*text, *len, hex);
	whole = realloc(*text, *len + strlen(END_LINE) + 64 + 2);
	if (!whole) {
		free(*text);
		return ctl_error("out of memory");
	}
	*len += sprintf(whole + *len, END_LINE "%s\n", hex);
	*text = whole;
	return 0;
}

static char *read_all(FILE *f, size_t *len, bool *added_nl);

/* The configuration a whole save holds: between its dated first line and its end line. */
static bool same_config(const char *old, size_t old_len, const char *mem, size_t mem_len)
{
	size_t old_end, mem_end;
	const char *a, *b;
	char why[256];

	if (end_check(old, old_len, false, &old_end, why, sizeof(why)) ||
	    end_check(mem, mem_len, false, &mem_end, why, sizeof(why)))
		return false;
	a = strchr(old, '\n') + 1;
	b = strchr(mem, '\n') + 1;
	return old + old_end - a == mem + mem_end - b && !memcmp(a, b, mem + mem_end - b);
}

/* `save file FILE`: written whole under a temporary name, then renamed over FILE, so a crash
 * never leaves half a file; left alone when FILE is a whole save of the same configuration
 * (an older save, or a damaged one, is written anew). */
static int save_file(const char *path)
{
	char tmp[4200], *mem = NULL, *old = NULL;
	size_t mem_len = 0, old_len;
	bool added_nl;
	FILE *f;
	int fd, ret;

	ret = save_text(&mem, &mem_len);
	if (ret)
		return ret;
	f = fopen(path, "r");
	if (f) {
		old = read_all(f, &old_len, &added_nl);
		fclose(f);
		if (old && !added_nl && same_config(old, old_len, mem, mem_len)) {
			free(old);
			free(mem);
			return done_ok();
		}
		free(old);
	}
	/* Its directory too (systemd makes /var/lib/ebb for the unit; an operator may not). */
	{
		char dir[4100], *slash;

		snprintf(dir, sizeof(dir), "%.4000s", path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0700) && errno != EEXIST) {
				ret = ctl_error("cannot create %s: %s", dir, strerror(errno));
				free(mem);
				return ret;
			}
		}
	}
	snprintf(tmp, sizeof(tmp), "%.4000s.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		ret = ctl_error("cannot write %s: %s", path, strerror(errno));
		free(mem);
		return ret;
	}
	if (write(fd, mem, mem_len) != (ssize_t)mem_len || fsync(fd) || close(fd) ||
	    rename(tmp, path)) {
		ret = ctl_error("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		free(mem);
		return ret;
	}
	free(mem);
	return done_ok();
}

const struct ctl_arg ctl_save_spec[] = {
	{ .name = "file", .metavar = "FILE", .kind = CTL_WORD, .flags = CTL_ONCE,
	  .offset = offsetof(struct ctl_save_args, file), .missing = "FILE" },
	{ 0 },
};

int ctl_save(void *args)
{
	const struct ctl_save_args *a = args;

	if (a->file)
		return save_file(a->file);
	if (json_output)
		return ctl_error("save prints commands, not JSON");
	{
		char *text;
		size_t len;
		int ret = save_text(&text, &len);

		if (ret)
			return ret;
		if (fwrite(text, 1, len, stdout) != len || fflush(stdout))
			ret = ctl_error("cannot write: %s", strerror(errno));
		free(text);
		return ret;
	}
}

static int save_to(FILE *out)
{
	struct ebb_link_info links[64];
	struct bpf_map_info info = {};
	struct ebb_settings settings = {};
	struct ebb_vip_key vkeys[EBB_MAX_VIPS];
	bool have_vip[EBB_MAX_VIPS] = {};
	struct ebb_vip_key k, *prev = NULL;
	__u32 zero = 0, len = sizeof(info);
	time_t now = time(NULL);
	char when[64];
	struct ebb e;
	int n;

	if (ctl_open(&e, false))
		return -1;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(out, SAVE_HEADER "%s, state under %s; apply with: ebbctl restore FILE\n", when, bpffs);
	n = ebb_prog_list(bpffs, links, 64);
	/* flows N: N is flows6's entries (the IPv4 table is EBB_FT_BUCKETS(N) buckets) */
	bpf_obj_get_info_by_fd(e.flows6_fd >= 0 ? e.flows6_fd : e.flows_fd, &info, &len);
	for (int i = 0; i < n; i++) {
		if (strcmp(links[i].mode, "native") && strcmp(links[i].mode, "generic"))
			continue; /* a pin whose device is gone: nothing to re-attach */
		fprintf(out, "prog attach dev %s mode %s flows %u\n", links[i].ifname, links[i].mode,
		       info.max_entries);
	}
	if (!bpf_map_lookup_elem(e.settings_fd, &zero, &settings)) {
		fprintf(out, "prog set flood-rate %u\n", settings.flood_rate);
		if (settings.mtu >= 1320)
			fprintf(out, "prog set mtu %u\n", settings.mtu);
		fprintf(out, "prog set rescue-rate %u\n", settings.rescue_rate);
	}
	/* VIPs and nodes in id order: a restore on empty maps gives them the same ids. */
	while (!bpf_map_get_next_key(e.vips_fd, prev, &k)) {
		struct ebb_vip v;

		prev = &k;
		if (!bpf_map_lookup_elem(e.vips_fd, &k, &v) && v.id < EBB_MAX_VIPS) {
			vkeys[v.id] = k;
			have_vip[v.id] = true;
		}
	}
	for (__u32 id = 0; id < EBB_MAX_VIPS; id++) {
		struct ebb_vip v = {}; /* a layout before 8 has no table_size: 0 reads as 65537 */

		if (have_vip[id] && !bpf_map_lookup_elem(e.vips_fd, &vkeys[id], &v))
			save_vip(out, &vkeys[id], &v);
	}
	for (int pass = 0; pass < 2; pass++) {
		for (__u32 id = 1; id < EBB_MAX_NODES; id++) {
			struct ebb_node node;
			char addr[64], mac[24], vname[64];
			bool first = true;
			__u8 state;

			if (bpf_map_lookup_elem(e.nodes_fd, &id, &node) || node.state == EBB_NODE_UNUSED)
				continue;
			ebb_fmt_addr(node.addr, node.family, addr, sizeof(addr));
			/* A down node is saved in the state it returns to; ebbd's checks decide anew. */
			state = node.state == EBB_NODE_DOWN ? node.state_before_down : node.state;
			if (pass == 1) {
				if (node.state == EBB_NODE_DOWN)
					fprintf(out, "# %s was down (health checks); saved as %s\n", addr,
					       ebb_state_name(state));
				if (state == EBB_NODE_DRAINING) {
					if (node.drain_timeout_s)
						fprintf(out, "node drain %s timeout %u\n", addr, node.drain_timeout_s);
					else
						fprintf(out, "node drain %s\n", addr);
				}
				continue;
			}
			for (__u32 vid = 0; vid < EBB_MAX_VIPS; vid++) {
				struct ebb_member_key mk = { .vip_id = vid, .node_id = id };
				struct ebb_member m;

				if (!have_vip[vid] || bpf_map_lookup_elem(e.members_fd, &mk, &m))
					continue;
				fprintf(out, "node add %s vip %s weight %u", addr,
				       ebb_fmt_vip(&vkeys[vid], vname, sizeof(vname)), m.weight);
				if (first) {
					fprintf(out, " mac %s%s%s", ebb_fmt_mac(node.mac, mac, sizeof(mac)),
					       state == EBB_NODE_INACTIVE ? " inactive" : "",
					       node.flags & EBB_NODE_F_NODE_PROG ? " node-prog" : "");
					first = false;
				}
				fprintf(out, "\n");
			}
			if (first)
				fprintf(out, "# %s serves no VIP: not saved\n", addr);
		}
	}
	ebb_close(&e);
	return 0;
}

/* ---- restore ---- */

#define MAX_WORDS 64

static int split_words(char *line, char **words)
{
	int n = 0;

	for (char *tok = strtok(line, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
		if (tok[0] == '#')
			break;
		if (n == MAX_WORDS)
			return -1;
		words[n++] = tok;
	}
	return n;
}

/* The files in the state directory now (pins), to remove what a failed batch created. */
static int list_pins(char names[][256], int max)
{
	DIR *d = opendir(bpffs);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while (n < max && (de = readdir(d)))
		if (de->d_name[0] != '.')
			snprintf(names[n++], 256, "%s", de->d_name);
	closedir(d);
	return n;
}

static bool in_list(char names[][256], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static char *read_all(FILE *f, size_t *len, bool *added_nl)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap + 2);

	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *bigger = cap < (64u << 20) ? realloc(buf, cap * 2 + 2) : NULL;

			if (!bigger) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	if (!buf || ferror(f)) {
		free(buf);
		return NULL;
	}
	/* Always end on a newline: the last line needs no special case. */
	*added_nl = n == 0 || buf[n - 1] != '\n';
	if (*added_nl)
		buf[n++] = '\n';
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * A line must name a command restore can undo if a later line fails. Counters zeroed, flows
 * purged, a program swapped or the state of the decapsulator and the node program (decap,
 * backend) are not in what it rolls back to, and a fleet host's command is already in etcd:
 * such a line is refused before any line runs.
 */
static int vet_line(int n, char **words)
{
	const char *obj, *cmd;
	bool force = false;
	int ret;

	vet_object = vet_command = NULL;
	batch_vetting = true;
	ret = ctl_object_run(ctl_top, n, words);
	batch_vetting = false;
	if (ret || !vet_object || !vet_command)
		return ret;
	obj = vet_object;
	cmd = vet_command;
	for (int i = 2; i < n; i++)
		force |= !strcmp(words[i], "force");
	if (!strcmp(obj, "stats") && !strcmp(cmd, "zero"))
		return ctl_error("'stats zero' cannot be undone if a later line fails: it has no "
				 "place in a restore file (run it on its own)");
	if ((!strcmp(obj, "node") || !strcmp(obj, "vip")) && force &&
	    (!strcmp(cmd, "del") || !strcmp(cmd, "delete")))
		return ctl_error("'%s %s … force' purges live flows, which cannot be undone if a "
				 "later line fails: it has no place in a restore file (drain first, "
				 "or run it on its own)", obj, cmd);
	if (!strcmp(obj, "prog") && !strcmp(cmd, "upgrade"))
		return ctl_error("'prog upgrade' is not rolled back if a later line fails: it has no "
				 "place in a restore file (run it on its own)");
	if ((!strcmp(obj, "decap") || !strcmp(obj, "backend") || !strcmp(obj, "fleet")) &&
	    strcmp(cmd, "show") && strcmp(cmd, "list") && strcmp(cmd, "conns") &&
	    strcmp(cmd, "help") && cmd[0])
		return ctl_error("'%s %s' is not rolled back if a later line fails: it has no place "
				 "in a restore file (run it on its own)", obj, cmd);
	return 0;
}

const struct ctl_arg ctl_restore_spec[] = {
	{ .metavar = "FILE", .kind = CTL_WORD, .flags = CTL_REQUIRED,
	  .offset = offsetof(struct ctl_restore_args, file) },
	{ .name = "if-empty", .kind = CTL_FLAG, .flags = CTL_ONCE,
	  .offset = offsetof(struct ctl_restore_args, if_empty) },
	{ 0 },
};

int ctl_restore(void *args)
{
	const struct ctl_restore_args *a = args;
	static char before[128][256], after[128][256];
	struct ebb_attachments *atts = NULL;
	struct ebb_snapshot *snap = NULL;
	bool if_empty = a->if_empty, had_state, had_dir, saved_quiet = quiet, added_nl;
	int n_before, lock_fd = -1, ret = 0, lineno = 0, commands = 0, checked, rollback_failed = 0;
	const char *file = a->file;
	char *text = NULL, why[512], rollback_why[512];
	size_t text_len = 0, body_end;
	struct ebb e;
	FILE *f;

	if (batch_file)
		return ctl_error("restore cannot be nested in a batch");
	had_state = !ebb_open(&e, bpffs, &(struct ebb_err){});
	if (had_state)
		ebb_close(&e);
	f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!f && if_empty && errno == ENOENT) {
		if (!quiet && !json_output)
			printf("nothing to restore: %s does not exist\n", file);
		return done_ok();
	}
	if (!f)
		return ctl_error("cannot open %s: %s", file, strerror(errno));
	if (if_empty && had_state) {
		if (f != stdin)
			fclose(f);
		if (!quiet && !json_output)
			printf("ebb state exists under %s: nothing restored (if-empty)\n", bpffs);
		return done_ok();
	}
	/* Read and check the whole file before anything changes. */
	text = read_all(f, &text_len, &added_nl);
	if (f != stdin)
		fclose(f);
	if (!text)
		return ctl_error("cannot read %s: %s", file, strerror(errno));
	if (memchr(text, '\0', text_len)) {
		/* The lines would end at it, unseen: a file cut there would pass for whole. */
		free(text);
		return ctl_error("%s holds a NUL byte: not a batch of commands; nothing restored", file);
	}
	checked = end_check(text, text_len, added_nl, &body_end, why, sizeof(why));
	if (checked < 0) {
		free(text);
		return ctl_error("%s: %s; nothing restored", file, why);
	}
	for (char *p = text, *nl; *p; p = nl + 1) {
		char *words[MAX_WORDS];
		char copy[4096];
		int n;

		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p) - 1;
		lineno++;
		if ((size_t)(nl - p) >= sizeof(copy)) {
			ret = ctl_error("%s line %d: longer than %zu characters", file, lineno,
					sizeof(copy) - 1);
			break;
		}
		memcpy(copy, p, nl - p + 1);
		copy[nl - p + 1] = '\0';
		n = split_words(copy, words);
		if (n < 0) {
			ret = ctl_error("%s line %d: more than %d words", file, lineno, MAX_WORDS);
			break;
		}
		if (n > 0 && (is_prefix(words[0], "save") || is_prefix(words[0], "restore") ||
			      !strcmp(words[0], "version") || is_prefix(words[0], "help") ||
			      words[0][0] == '-')) {
			ret = ctl_error("%s line %d: '%s' has no place in a batch (commands only, no options)",
					file, lineno, words[0]);
			break;
		}
		if (n > 0) {
			batch_file = file;
			batch_line = lineno;
			ret = vet_line(n, words);
			batch_file = NULL;
			batch_line = 0;
			if (ret)
				break;
		}
	}
	if (ret) {
		free(text);
		return ret;
	}

	if (checked > 0)
		fprintf(stderr, "Warning: %s has no end line '%s…' (a save by an older ebbctl, or "
			"written by hand): whether it is whole cannot be checked\n", file, END_LINE);
	had_dir = access(bpffs, F_OK) == 0;
	n_before = had_dir ? list_pins(before, 128) : 0;
	/* Held before the first line: a detach in the batch leaves the program nothing else. */
	atts = ebb_attachments_take(bpffs);
	if (!atts) {
		free(text);
		return ctl_error("cannot hold the attachments under %s to roll back to: %s", bpffs,
				 strerror(errno));
	}
	batch_file = file;
	/* Lines print only what they show; the batch prints one summary. */
	quiet = true;
	lineno = 0;
	for (char *p = text, *nl; !ret && *p; p = nl + 1) {
		char *words[MAX_WORDS];
		int n;

		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p) - 1;
		*nl = '\0';
		lineno++;
		n = split_words(p, words);
		if (n <= 0)
			continue;
		batch_line = lineno;
		/* The first line that finds the maps takes the lock and the snapshot. */
		if (!snap && !ebb_open(&e, bpffs, &(struct ebb_err){})) {
			lock_fd = open(bpffs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (lock_fd < 0 || flock(lock_fd, LOCK_EX)) {
				ret = ctl_error("cannot lock %s: %s", bpffs, strerror(errno));
				ebb_close(&e);
				break;
			}
			batch_locked = true;
			snap = ebb_snapshot_take(&e);
			ebb_close(&e);
			if (!snap) {
				ret = ctl_error("cannot read the configuration to roll back to");
				break;
			}
		}
		ret = ctl_object_run(ctl_top, n, words);
		commands++;
	}
	batch_line = 0;
	if (ret) {
		/* Roll back: configuration maps, then attachments (those the batch made go, those
		 * it detached or changed come back), then pins the batch created. */
		struct ebb_err err = {};

		if (snap && !ebb_open(&e, bpffs, &err)) {
			int r = ebb_snapshot_restore(&e, snap);

			if (r)
				rollback_failed = snprintf(rollback_why, sizeof(rollback_why),
							   "the configuration maps: %s", strerror(-r));
			ebb_close(&e);
		}
		if (ebb_attachments_restore(bpffs, atts, &err) && !rollback_failed)
			rollback_failed = snprintf(rollback_why, sizeof(rollback_why), "%s", err.msg);
		if (!had_state) {
			int n_after = list_pins(after, 128);
			char path[1024];

			for (int i = 0; i < n_after; i++) {
				if (in_list(before, n_before, after[i]))
					continue;
				snprintf(path, sizeof(path), "%.500s/%.255s", bpffs, after[i]);
				unlink(path);
			}
			if (!had_dir)
				rmdir(bpffs);
		}
	}
	batch_file = NULL;
	batch_locked = false;
	if (lock_fd >= 0)
		close(lock_fd);
	ebb_snapshot_free(snap);
	ebb_attachments_free(atts);
	free(text);
	quiet = saved_quiet;
	if (ret && rollback_failed) {
		/* Not the promise below: say what could not be put back. */
		fprintf(stderr, "Error: rolling back %s: cannot put back %s; the state may differ "
			"from before\n", file, rollback_why);
		return ret;
	}
	if (ret) {
		if (!quiet && !json_output)
			fprintf(stderr, "nothing restored: the state is as it was before\n");
		return ret;
	}
	if (json_output) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "file", json_object_new_string(file));
		json_object_object_add(o, "commands", json_object_new_int(commands));
		json_object_object_add(o, "checksum",
				       json_object_new_string(checked ? "none" : "sha256 verified"));
		json_print(o);
	} else if (!quiet) {
		printf("restored %d commands from %s\n", commands, file);
	}
	{
		char what[300];

		snprintf(what, sizeof(what), "restored %d commands from %.250s", commands, file);
		ctl_record(what);
	}
	return 0;
}
