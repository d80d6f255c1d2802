// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbctl save: the configuration as a batch of ebbctl commands (like ipvsadm-save): the
 * attachments, settings, VIPs with their timeouts, nodes with MAC, weights and states.
 * ebbctl restore FILE: runs such a batch as one change, whole or nothing: every line runs
 * under one lock; if a line fails, the error names it and the configuration maps (and any
 * attachment the batch made) go back to what they were.
 */
#include <errno.h>
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
	fprintf(out, " tcp-idle %u udp-idle %u fin-timeout %u drain-timeout %u\n", v->tcp_idle_s,
	       v->udp_idle_s, v->fin_s, v->drain_timeout_s);
}

static int save_to(FILE *out);

/* Everything after the first (dated) line: what decides whether the file must be rewritten. */
static char *body_of(const char *text)
{
	const char *nl = strchr(text, '\n');

	return (char *)(nl ? nl + 1 : text);
}

static char *read_all(FILE *f, size_t *len);

/* `save file FILE`: written whole under a temporary name, then renamed over FILE, so a crash
 * never leaves half a file; left alone when the configuration is the same as in FILE. */
static int save_file(const char *path)
{
	char tmp[4200], *mem = NULL, *old = NULL;
	size_t mem_len = 0, old_len;
	FILE *f, *m = open_memstream(&mem, &mem_len);
	int fd, ret;

	if (!m)
		return ctl_error("out of memory");
	ret = save_to(m);
	fclose(m);
	if (ret) {
		free(mem);
		return ret;
	}
	f = fopen(path, "r");
	if (f) {
		old = read_all(f, &old_len);
		fclose(f);
		if (old && !strcmp(body_of(old), body_of(mem))) {
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

int do_save(int argc, char **argv)
{
	if (argc > 0 && !strcmp(argv[0], "file")) {
		if (argc < 2)
			return ctl_error("missing FILE after 'file'");
		if (argc > 2)
			return ctl_error("unexpected '%s'; usage: save [file FILE]", argv[2]);
		return save_file(argv[1]);
	}
	if (argc > 0)
		return ctl_error("unexpected '%s'; usage: save [file FILE]", argv[0]);
	if (json_output)
		return ctl_error("save prints commands, not JSON");
	return save_to(stdout);
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
	fprintf(out, "# ebbctl save, %s, state under %s; apply with: ebbctl restore FILE\n", when, bpffs);
	n = ebb_prog_list(bpffs, links, 64);
	bpf_obj_get_info_by_fd(e.flows_fd, &info, &len);
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
		struct ebb_vip v;

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
					fprintf(out, " mac %s%s", ebb_fmt_mac(node.mac, mac, sizeof(mac)),
					       state == EBB_NODE_INACTIVE ? " inactive" : "");
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

static char *read_all(FILE *f, size_t *len)
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
	if (n == 0 || buf[n - 1] != '\n')
		buf[n++] = '\n';
	buf[n] = '\0';
	*len = n;
	return buf;
}

int do_restore(int argc, char **argv)
{
	static char before[128][256], after[128][256];
	struct ebb_link_info links_before[64], links_after[64];
	struct ebb_snapshot *snap = NULL;
	bool if_empty = false, had_state, had_dir, saved_quiet = quiet;
	int n_before, n_links_before, lock_fd = -1, ret = 0, lineno = 0, commands = 0;
	const char *file;
	char *text = NULL;
	size_t text_len = 0;
	struct ebb e;
	FILE *f;

	if (argc < 1)
		return ctl_error("missing FILE; usage: restore FILE [if-empty]");
	file = argv[0];
	if (argc > 1) {
		if (strcmp(argv[1], "if-empty"))
			return ctl_error("unexpected '%s'; usage: restore FILE [if-empty]", argv[1]);
		if_empty = true;
	}
	if (argc > 2)
		return ctl_error("unexpected '%s'", argv[2]);
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
	text = read_all(f, &text_len);
	if (f != stdin)
		fclose(f);
	if (!text)
		return ctl_error("cannot read %s: %s", file, strerror(errno));
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
	}
	if (ret) {
		free(text);
		return ret;
	}

	had_dir = access(bpffs, F_OK) == 0;
	n_before = had_dir ? list_pins(before, 128) : 0;
	n_links_before = ebb_prog_list(bpffs, links_before, 64);
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
		ret = cmd_select(ctl_objects, n, words, NULL);
		commands++;
	}
	batch_line = 0;
	if (ret) {
		/* Roll back: configuration maps, then attachments and pins the batch created. */
		int n_links = ebb_prog_list(bpffs, links_after, 64);

		if (snap && !ebb_open(&e, bpffs, &(struct ebb_err){})) {
			ebb_snapshot_restore(&e, snap);
			ebb_close(&e);
		}
		for (int i = 0; i < n_links; i++) {
			bool old = false;

			for (int j = 0; j < n_links_before; j++)
				old |= !strcmp(links_after[i].ifname, links_before[j].ifname);
			if (!old)
				ebb_prog_detach(bpffs, links_after[i].ifname, &(struct ebb_err){});
		}
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
	free(text);
	quiet = saved_quiet;
	if (ret) {
		if (!quiet && !json_output)
			fprintf(stderr, "nothing restored: the state is as it was before\n");
		return ret;
	}
	if (json_output) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "file", json_object_new_string(file));
		json_object_object_add(o, "commands", json_object_new_int(commands));
		json_print(o);
	} else if (!quiet) {
		printf("restored %d commands from %s\n", commands, file);
	}
	return 0;
}
