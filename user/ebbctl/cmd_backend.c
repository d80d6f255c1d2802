// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ebbctl backend: the node program (bpf/node.bpf.c) on a backend: rescues judged by the node's
 * own sockets, and the decapsulator's work. Its state lives in BPFFS/node-<netns inode>, so each
 * network namespace (each lab node) has its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "ebbctl.h"

#define MAX_PREFIXES 256

static int do_attach(void *args)
{
	return ctl_xdp_attach(args, "backend", ebb_node_attach);
}

static int do_detach(void *args)
{
	return ctl_xdp_detach(args, "backend", ebb_node_detach);
}

/* This namespace's node directory, if the node program was attached here once. */
static int node_state_dir(char *dir, size_t len)
{
	char path[4200];

	if (ebb_node_dir(bpffs, dir, len))
		return ctl_error("cannot name this network namespace's node directory");
	snprintf(path, sizeof(path), "%s/node_stats", dir);
	if (access(path, F_OK))
		return ctl_error("no node program state under %s: run 'ebbctl backend attach dev IFNAME' first",
				 dir);
	return 0;
}

static int do_add(void *args)
{
	return ctl_prefix_change(args, true, "backend", node_state_dir);
}

static int do_del(void *args)
{
	return ctl_prefix_change(args, false, "backend", node_state_dir);
}

static int do_show(void *args)
{
	struct ebb_decap_key prefixes[MAX_PREFIXES];
	struct ebb_link_info links[64];
	struct ebb_err err = {};
	json_object *doc = NULL, *jl = NULL, *jp = NULL, *jr = NULL, *jd = NULL;
	int n_links, n_prefixes;
	char dir[4096];

	(void)args;
	if (node_state_dir(dir, sizeof(dir)))
		return 1;
	n_links = ebb_node_list(bpffs, links, 64);
	n_prefixes = ebb_decap_prefixes(dir, prefixes, MAX_PREFIXES, &err);
	if (n_prefixes < 0)
		return ctl_error("%s", err.msg);
	if (json_output) {
		doc = json_object_new_object();
		jl = json_object_new_array();
		jp = json_object_new_array();
		jr = json_object_new_object();
		jd = json_object_new_object();
	} else {
		printf("state %s\n", dir);
	}
	ctl_show_links(jl, links, n_links);
	ctl_show_prefixes(jp, prefixes, n_prefixes);
	ctl_show_counters(jr, ebb_node_reason_name, EBB_N_MAX, ebb_node_stat, bpffs, 18);
	ctl_show_counters(jd, ebb_decap_reason_name, EBB_D_MAX, ebb_decap_stat, dir, 18);
	if (doc) {
		json_object_object_add(doc, "state", json_object_new_string(dir));
		json_object_object_add(doc, "devices", jl);
		json_object_object_add(doc, "prefixes", jp);
		json_object_object_add(doc, "rescues", jr);
		json_object_object_add(doc, "decap", jd);
		json_print(doc);
	}
	return 0;
}

#define MAX_CONNS 4096

/* The shared key of `backend conns key FILE`: secret, so a file only its owner can read. */
static int read_key(const char *path, unsigned char *key, size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return ctl_error("cannot open key file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || (st.st_mode & 077)) {
		close(fd);
		return ctl_error("key file %s is readable by others (chmod 600 it)", path);
	}
	n = read(fd, key, *len);
	close(fd);
	if (n < 16)
		return ctl_error("key file %s: %s", path,
				 n < 0 ? strerror(errno) : "shorter than 16 bytes");
	*len = n;
	return 0;
}

/* The node_stats map's id: it changes when the node program's state is made anew (its counters
 * start again from 0), so a reader taking differences of `reset` knows when not to. */
static __u32 node_stats_id(const char *dir)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/node_stats", dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.id = 0;
	close(fd);
	return info.id;
}

struct backend_conns_args {
	bool all;
	const char *key, *nonce;
};

static const struct ctl_arg backend_conns_spec[] = {
	{ .name = "all", .kind = CTL_FLAG, .offset = offsetof(struct backend_conns_args, all) },
	{ .name = "key", .metavar = "FILE", .kind = CTL_WORD,
	  .offset = offsetof(struct backend_conns_args, key) },
	{ .name = "nonce", .metavar = "TEXT", .kind = CTL_WORD,
	  .offset = offsetof(struct backend_conns_args, nonce) },
	{ 0 },
};

static int do_conns(void *args)
{
	struct backend_conns_args *a = args;
	static struct ebb_conns_entry ents[MAX_CONNS];
	struct ebb_decap_key pre[2][MAX_PREFIXES];
	int n_pre[2] = { 0, 0 };
	unsigned char key[4096];
	size_t key_len = sizeof(key);
	const char *key_file = a->key, *nonce = a->nonce;
	struct ebb_conns_count c;
	struct ebb_err err = {};
	bool all = a->all, have_node;
	char dir[4096], path[4200];
	json_object *doc, *jv, *jr = NULL;
	unsigned long long total = 0, total_tw = 0;
	int n, pfd = -1;

	if (nonce && strlen(nonce) > 128)
		return ctl_error("nonce must be at most 128 characters; usage: %s", ctl_usage());
	if (key_file && read_key(key_file, key, &key_len))
		return 1;
	if (ebb_node_dir(bpffs, dir, sizeof(dir)))
		return ctl_error("cannot name this network namespace's node directory");
	snprintf(path, sizeof(path), "%s/node_stats", dir);
	have_node = !access(path, F_OK);
	if (!all) {
		if (node_state_dir(dir, sizeof(dir)))
			return 1;
		snprintf(path, sizeof(path), "%s/decap_prefixes", dir);
		pfd = bpf_obj_get(path);
		if (pfd < 0)
			return ctl_error("cannot open %s: %s", path, strerror(errno));
		n_pre[0] = ebb_decap_prefixes(dir, pre[0], MAX_PREFIXES, &err);
	}
	n = n_pre[0] < 0 ? n_pre[0] : ebb_conns_count(pfd, ents, MAX_CONNS, &c, &err);
	/* read again after the walk: the report names only prefixes there all along */
	if (n >= 0 && !all)
		n_pre[1] = ebb_decap_prefixes(dir, pre[1], MAX_PREFIXES, &err);
	if (pfd >= 0)
		close(pfd);
	if (n < 0 || n_pre[1] < 0)
		return ctl_error("%s", err.msg);

	doc = json_object_new_object();
	jv = json_object_new_array();
	for (int i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		char addr[64];

		ebb_fmt_addr(ents[i].key.addr, ents[i].key.family, addr, sizeof(addr));
		json_object_object_add(o, "addr", json_object_new_string(addr));
		json_object_object_add(o, "port", json_object_new_int(ents[i].key.port));
		json_object_object_add(o, "live", json_object_new_int64(ents[i].val.live));
		json_object_object_add(o, "time_wait", json_object_new_int64(ents[i].val.time_wait));
		json_object_array_add(jv, o);
		total += ents[i].val.live;
		total_tw += ents[i].val.time_wait;
	}
	if (have_node) {
		struct ebb_reason_counter last = {}, owner = {}, claimed = {};

		ebb_node_stat(bpffs, EBB_N_DELIVERED_LAST, &last);
		ebb_node_stat(bpffs, EBB_N_DELIVERED_OWNER, &owner);
		ebb_node_stat(bpffs, EBB_N_CLAIMED, &claimed);
		jr = json_object_new_object();
		/* a rescue the last candidate delivered without a socket: the stack answered it with
		 * a RST, a connection a change did cut */
		json_object_object_add(jr, "reset", json_object_new_int64(last.packets));
		json_object_object_add(jr, "delivered_owner", json_object_new_int64(owner.packets));
		/* rescues this node owned and claimed back to the balancer (which then sends it the
		 * client's packet the ordinary way): kept connections, like delivered_owner */
		json_object_object_add(jr, "claimed", json_object_new_int64(claimed.packets));
		json_object_object_add(jr, "counters_id", json_object_new_int64(node_stats_id(dir)));
	}
	json_object_object_add(doc, "version", json_object_new_int(1));
	json_object_object_add(doc, "unit", json_object_new_string("connections"));
	json_object_object_add(doc, "scope", json_object_new_string(all ? "all" : "vip_prefixes"));
	json_object_object_add(doc, "boot_id", json_object_new_string(c.boot_id));
	json_object_object_add(doc, "netns", json_object_new_int64(c.netns));
	json_object_object_add(doc, "boottime_ns", json_object_new_int64(c.boottime_ns));
	json_object_object_add(doc, "walk_ns",
			       json_object_new_int64(c.end_boottime_ns - c.boottime_ns));
	json_object_object_add(doc, "realtime", json_object_new_int64(c.realtime_ns / 1000000000ull));
	json_object_object_add(doc, "complete", json_object_new_boolean(!c.overflow));
	json_object_object_add(doc, "live", json_object_new_int64(total));
	json_object_object_add(doc, "time_wait", json_object_new_int64(total_tw));
	json_object_object_add(doc, "vips", jv);
	if (!all) {
		/* the prefixes counted: a reader takes a VIP within one and absent from vips as 0
		 * connections, a VIP outside them as one this report does not speak for */
		json_object *jp = json_object_new_array();

		for (int i = 0; i < n_pre[0]; i++)
			for (int j = 0; j < n_pre[1]; j++)
				if (!memcmp(&pre[0][i], &pre[1][j], sizeof(pre[0][i]))) {
					char addr[64], text[80];

					ebb_fmt_addr(pre[0][i].addr, pre[0][i].family, addr, sizeof(addr));
					snprintf(text, sizeof(text), "%s/%u", addr, pre[0][i].prefixlen - 32);
					json_object_array_add(jp, json_object_new_string(text));
					break;
				}
		json_object_object_add(doc, "prefixes", jp);
	}
	json_object_object_add(doc, "rescues", jr);
	if (nonce)
		json_object_object_add(doc, "nonce", json_object_new_string(nonce));

	if (key_file) {
		/* signed: the report as a string, so the reader checks the very bytes signed */
		char *env = ebb_conns_sign(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN),
					   key, key_len);

		json_object_put(doc);
		if (!env)
			return ctl_error("cannot compute the report's HMAC");
		printf("%s\n", env);
		free(env);
		return c.overflow ? 1 : 0;
	}
	if (json_output) {
		json_print(doc);
		return c.overflow ? 1 : 0;
	}
	{
		time_t t = c.realtime_ns / 1000000000ull;
		char when[64];

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		printf("taken %s boottime_ns %llu boot_id %s netns %llu (%s)\n", when,
		       (unsigned long long)c.boottime_ns, c.boot_id, (unsigned long long)c.netns,
		       all ? "every local address" : "this node's VIP prefixes");
		printf("%-40s %5s %12s %12s\n", "VIP", "PORT", "LIVE", "TIME_WAIT");
		for (int i = 0; i < n; i++) {
			char addr[64];

			ebb_fmt_addr(ents[i].key.addr, ents[i].key.family, addr, sizeof(addr));
			printf("%-40s %5u %12llu %12llu\n", addr, ents[i].key.port,
			       (unsigned long long)ents[i].val.live,
			       (unsigned long long)ents[i].val.time_wait);
		}
		printf("%-40s %5s %12llu %12llu connections\n", "total", "", total, total_tw);
		if (jr)
			printf("rescues reset %lld (delivered_last), claimed %lld, counters_id %lld\n",
			       (long long)json_object_get_int64(json_object_object_get(jr, "reset")),
			       (long long)json_object_get_int64(json_object_object_get(jr, "claimed")),
			       (long long)json_object_get_int64(json_object_object_get(jr, "counters_id")));
		if (c.overflow)
			printf("INCOMPLETE: %llu sockets not counted (more than %d VIP ports)\n",
			       (unsigned long long)c.overflow, MAX_CONNS);
	}
	json_object_put(doc);
	return c.overflow ? 1 : 0;
}

static void backend_notes(FILE *f)
{
	fprintf(f,
		"\n"
		"  On a backend node: ebb's node program. A rescue (a mid-flow TCP packet the balancer\n"
		"  sends with its candidate nodes) is kept when this node has a socket for it, else\n"
		"  passed to the next candidate; the last delivers it. Other packets: as 'decap' does,\n"
		"  for the VIP prefixes added here. State in BPFFS/node-<netns inode>, one per node.\n"
		"  'conns': this node's live TCP connections per VIP address and port, counted in\n"
		"  its own socket table (a BPF iterator), and the rescues it had to reset; 'all':\n"
		"  every local address; 'key': the report signed with HMAC-SHA256 (JSON envelope).\n");
}

static const struct ctl_command backend_commands[] = {
	{ .name = "attach", .run = do_attach, CTL_ARGS(ctl_xdp_args, ctl_xdp_attach_spec) },
	{ .name = "detach", .run = do_detach, CTL_ARGS(ctl_xdp_args, ctl_xdp_detach_spec) },
	{ .name = "add", .run = do_add, CTL_ARGS(ctl_prefix_args, ctl_prefix_spec) },
	{ .name = "del", .alias = "delete", .run = do_del, CTL_ARGS(ctl_prefix_args, ctl_prefix_spec) },
	{ .name = "show", .alias = "list", .run = do_show },
	{ .name = "conns", .run = do_conns, CTL_ARGS(backend_conns_args, backend_conns_spec) },
	{ NULL },
};

const struct ctl_object ctl_backend_object = { "backend", backend_commands, backend_notes };
