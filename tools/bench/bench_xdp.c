// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench_xdp: what one packet costs on each datapath path, and what the control plane costs.
 * Run by tools/bench.sh (`make bench`); writes one JSON document (--json FILE), which
 * bench_report prints as the table.
 *
 * Per packet. BPF_PROG_TEST_RUN (repeat N) runs the balancer on a 64-byte frame; the cost of a
 * run is the calling thread's CPU time across the syscall divided by N (the kernel's own
 * `duration` is whole nanoseconds, too coarse next to a floor of 25-30 ns). Every measurement is
 * bracketed by two runs of the floor, floor_tx.bpf.o (swap the MACs, XDP_TX: the least an XDP
 * forwarder does), and its ratio is taken against their mean, so that a machine that drifts by
 * 2x between runs (lab.md trap 6) still gives a stable ratio. Rounds interleave every path;
 * the figures are medians over the rounds.
 *
 * Repeat reuses ONE buffer (lab.md trap 5), so a path that must see a different packet each
 * time (a new flow, a second chance, hits spread over a big table) runs behind a wrapper: a
 * hand-assembled XDP program that writes a counter into the source address and port, then
 * tail-calls the balancer. The same wrapper tail-calling the floor runs right before and after;
 * the balancer's cost is  t(wrapper -> balancer) - t(wrapper -> floor) + t(floor). Flows a
 * run inserted into the 1M table are deleted after it, so that the table stays at 1M.
 * A path that grows the frame (ipip) runs behind a wrapper that first shrinks it back with
 * bpf_xdp_adjust_head; that call's own cost is estimated by a program that moves the head out
 * and back again in one run, and taken off too.
 *
 * The balancer is loaded privately: its maps are pinned under --bpffs DIR, never under
 * /sys/fs/bpf/ebb, and DIR is removed at exit, also on SIGINT/SIGTERM/SIGHUP/SIGPIPE. Three
 * instances, one per flow table: DIR/small (the default 256k entries, a few flows in it),
 * DIR/big (1,048,576 flows, room for more: inserts do not evict) and DIR/full (1,048,576 entries,
 * all taken: every insert evicts, as in an LB's steady state).
 *
 * The flow table (issue 16), in every run (--only and --no-control too): memory per flow
 * (memlock of /proc/self/fdinfo over the flows a table holds after 1M random inserts: the table
 * for 1M flows, and the smallest where 99.9 % of them succeed; IPv6's flows6; Katran's LRU) and
 * the census at 1M flows (user/lib/census.c on the big instance's mapped table).
 *
 * Control plane. Maglev build time (ebb_maglev_build), drain latency (`ebbctl node drain`
 * while a thread keeps offering a SYN whose slot is the drained node's, until the datapath
 * places it elsewhere), and the agent's cycle (`ebbd --once`) at 10k, 100k and 1M flows.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "libebb.h"
#include "ebb_flowtable.h"
#include "libebb_agent.h"
#include "packets.h"
#include "bench_util.h"
#include "balancer.skel.h"
#include "floor_tx.skel.h"
#include "node.skel.h"
#include "flowtable.h"

/* tests/unit/sockets.h: the real TCP sockets the node program's rows look up (as test_node's) */
#define TCP4(s, sp, d, dp, fl) \
	.family = 4, .src = s, .sport = sp, .dst = d, .dport = dp, .proto = IPPROTO_TCP, .flags = fl
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "sockets.h"
#pragma GCC diagnostic pop

uint16_t test_ports[8]; /* packets.h's run-time ports; the bench uses fixed ones */

#define MAX_ROUNDS 64
#define MILLION (1u << 20) /* the "1M flows" table: 1,048,576 entries */
#define V4(a, b, c, d) ((__u32)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static const __u8 LB_MAC[6] = { 0x02, 0xeb, 0, 0, 0, 0x02 };
static const __u8 CLIENT_MAC[6] = { 0x02, 0xeb, 0, 0, 0, 0x01 };

/* ---- options ---- */
static int opt_rounds = 11;
static __u32 opt_repeat = 500000; /* a plain run: one packet, repeated */
static __u32 opt_wrap_repeat = 100000; /* a wrapped run: a distinct packet each time */
static const char *opt_bpffs;
static const char *opt_json;
static const char *opt_ebbctl;
static const char *opt_ebbd;
static bool opt_quick; /* smaller tables, fewer rounds: for trying the bench out */
static bool opt_no_control;
static const char *opt_only; /* comma-separated path ids: measure only these */
static bool opt_no_verify; /* ablation variants may not count what the checks look at */
static bool opt_settling; /* VIP tables "just changed": bare SYNs ask the flow table */

/* ---- cleanup of the private bpffs directory, also from a signal ---- */
#define N_PIN_DIRS 5 /* one per balancer instance (enum SMALL...BASE_BIG) */
static char pin_dirs[N_PIN_DIRS][256];

static void unpin_all(void)
{
	char path[1100];

	for (int d = 0; d < N_PIN_DIRS; d++) {
		DIR *dir = pin_dirs[d][0] ? opendir(pin_dirs[d]) : NULL;
		struct dirent *de;

		if (!dir)
			continue;
		while ((de = readdir(dir)))
			if (de->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%.255s/%.255s", pin_dirs[d], de->d_name);
				unlink(path);
			}
		closedir(dir);
		rmdir(pin_dirs[d]);
	}
	if (opt_bpffs)
		rmdir(opt_bpffs);
}

static void on_signal(int sig)
{
	unpin_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench_xdp: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "  xdp: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* ---- one balancer instance ---- */
struct inst {
	const char *name;
	struct bpf_object *obj;
	struct ebb e;
	int prog_fd;
	__u32 flows_max;
	char dir[256];
};

/* The built-in balancer (the skeleton's bytes), or --object FILE: a variant for ablation. */
static const char *opt_object;
/* --base FILE: the balancer of the base commit, timed beside this one (hit, new flow) */
static const char *opt_base, *opt_base_label, *opt_base_na;
static char base_na[256]; /* why the base column is n/a */

/* The base commit's object may lack a map this tree's libebb opens (one added since): a map of
 * this tree's definition (from `like`, a loaded object of this tree), pinned beside the base's
 * own, takes libebb's writes, which that datapath never reads. Returns how many were made, -1
 * when one could not be. */
static int base_placeholders(struct inst *in, struct bpf_object *like)
{
	struct bpf_map *m;
	char path[600];
	int made = 0;

	bpf_object__for_each_map(m, like) {
		LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = bpf_map__map_flags(m));
		int fd;

		if (!bpf_map__pin_path(m))
			continue; /* not pinned: no part of the state libebb opens */
		snprintf(path, sizeof(path), "%s/%s", in->dir, bpf_map__name(m));
		if (!access(path, F_OK))
			continue;
		fd = bpf_map_create(bpf_map__type(m), bpf_map__name(m), bpf_map__key_size(m),
				    bpf_map__value_size(m), bpf_map__max_entries(m), &mo);
		if (fd < 0 || bpf_obj_pin(fd, path)) {
			snprintf(base_na, sizeof(base_na), "no map %s in the base commit's object, and "
				 "no stand-in for it: %s", bpf_map__name(m), strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
		note("%s: no map %s in the base commit's object: a stand-in (unread by it) takes "
		     "libebb's writes", in->name, bpf_map__name(m));
		made++;
	}
	return made;
}

/* Loads the balancer (obj_path: that object file instead) with its maps pinned in a directory
 * of its own. With like (soft), a failure returns -1 with the reason in base_na instead of
 * ending the bench: the base commit's object may not load here. */
static int inst_load_from(struct inst *in, int slot, const char *name, __u32 flows,
			  const char *obj_path, struct bpf_object *like)
{
	bool soft = like != NULL;

	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct ebb_err err = {};
	struct bpf_program *prog;
	size_t sz = 0;

	in->name = name;
	snprintf(in->dir, sizeof(in->dir), "%s/%s", opt_bpffs, name);
	if (mkdir(in->dir, 0700) && errno != EEXIST)
		die("cannot create %s: %s", in->dir, strerror(errno));
	snprintf(pin_dirs[slot], sizeof(pin_dirs[slot]), "%s", in->dir);
	oo.pin_root_path = in->dir;
	oo.object_name = "balancer_bpf";
	if (!obj_path)
		obj_path = opt_object;
	if (obj_path)
		in->obj = bpf_object__open_file(obj_path, &oo);
	else {
		const void *bytes = balancer_bpf__elf_bytes(&sz);

		in->obj = bpf_object__open_mem(bytes, sz, &oo);
	}
#define LOAD_FAIL(...)                                                              \
	do {                                                                        \
		if (!soft)                                                          \
			die(__VA_ARGS__);                                           \
		snprintf(base_na, sizeof(base_na), __VA_ARGS__);                   \
		return -1;                                                          \
	} while (0)
	if (!in->obj)
		LOAD_FAIL("cannot open the balancer %s: %s", obj_path ?: "", strerror(errno));
	if (!bpf_object__find_map_by_name(in->obj, "flows"))
		LOAD_FAIL("the balancer %s has no flow table", obj_path ?: "");
	/* a base build's flows too: the LRU of that many entries */
	if (ebb_flow_maps_size(in->obj, flows))
		LOAD_FAIL("cannot size the flow tables of the balancer %s", obj_path ?: "");
	if (bpf_object__load(in->obj))
		LOAD_FAIL("cannot load the balancer (%s)", name);
	if (ebb_from_object(&in->e, in->obj, &err)) {
		/* its pinned maps, and stand-ins for those it lacks */
		if (!soft)
			die("%s", err.msg);
		if (base_placeholders(in, like) < 0)
			return -1;
		if (ebb_open(&in->e, in->dir, &err))
			LOAD_FAIL("%s: %.200s", name, err.msg);
	}
	snprintf(in->e.bpffs, sizeof(in->e.bpffs), "%s", in->dir);
	prog = bpf_object__find_program_by_name(in->obj, "ebb_balancer");
	if (!prog)
		LOAD_FAIL("no program ebb_balancer in the object (%s)", name);
#undef LOAD_FAIL
	in->prog_fd = bpf_program__fd(prog);
	in->flows_max = flows;
	return 0;
}

static void inst_load(struct inst *in, int slot, const char *name, __u32 flows)
{
	inst_load_from(in, slot, name, flows, NULL, NULL);
}

/* A map's value size, as the kernel has it. */
static __u32 map_value_size(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.value_size;
}

/* Writes one 32-bit field of settings[0], through a buffer of the map's own value size: the
 * base commit's `settings` may be shorter (8 bytes before layout 5) or longer than this tree's.
 * A field the map does not have is left alone; false then. */
static bool settings_put(struct inst *in, size_t off, __u32 v)
{
	__u8 buf[256] = {};
	__u32 zero = 0, vs;

	if (in->e.settings_fd < 0)
		return false;
	vs = map_value_size(in->e.settings_fd);
	if (!vs || vs > sizeof(buf) || off + sizeof(v) > vs)
		return false;
	bpf_map_lookup_elem(in->e.settings_fd, &zero, buf);
	memcpy(buf + off, &v, sizeof(v));
	if (bpf_map_update_elem(in->e.settings_fd, &zero, buf, BPF_ANY))
		die("cannot write settings (%s): %s", in->name, strerror(errno));
	return true;
}

#define RATE_ARMED 100000000 /* new flows per second and CPU: the flood guard's check runs */

static void set_flood_rate(struct inst *in, __u32 rate)
{
	settings_put(in, offsetof(struct ebb_settings, flood_rate), rate);
}

static struct ebb_vip_key vip_key(const char *s)
{
	struct ebb_vip_key k;
	struct ebb_err err = {};

	if (ebb_parse_vip(s, &k, &err))
		die("%s", err.msg);
	return k;
}

static struct ebb_addr addr_of(const char *s)
{
	struct ebb_addr a;
	struct ebb_err err = {};

	if (ebb_parse_addr(s, &a, &err))
		die("%s", err.msg);
	return a;
}

static void add_vip(struct inst *in, const char *vip, __u8 fwd)
{
	struct ebb_vip_opts o = { .fwd = fwd };
	struct ebb_vip_key k = vip_key(vip);
	struct ebb_err err = {};

	if (ebb_vip_add(&in->e, &k, &o, &err))
		die("vip add %s: %s", vip, err.msg);
}

/* Node i of the bench: 198.51.100.1i / 2001:db8::1i, MAC 02:eb:00:00:01:0i as in the lab. */
static void add_node(struct inst *in, const char *addr, int i, const char *vip)
{
	struct ebb_node_opts o = { .have_mac = true, .mac = { 0x02, 0xeb, 0, 0, 0x01, (__u8)i } };
	struct ebb_addr a = addr_of(addr);
	struct ebb_vip_key k = vip_key(vip);
	struct ebb_err err = {};

	if (ebb_node_add(&in->e, &a, &k, &o, &err))
		die("node add %s: %s", addr, err.msg);
}

/* What syn_recent (include/ebb.h) says while a window row runs. */
enum {
	SR_AS_IS, /* as the rows before left it */
	SR_QUIET, /* trusted for over a window, no record: no handshake in flight */
	SR_OPEN, /* trusted, SR_OPEN_RECORDS handshakes in flight or never completed, at random
		  * ways of the table: a busy host's */
	SR_BUSY, /* its window just started (the first window after a load): every SYN of a
		  * changed slot asks the flow table */
};

/* A busy host's records: 20,000 new connections a second whose ACKs come 0.2 s after their
 * SYNs (4,000 in flight), and ~200 a second never completed (scans, spoofed SYNs below the
 * flood guard's rate) for a window (~28,000): a third of the filter's 98,304. */
#define SR_OPEN_RECORDS 32768

/* VIP4's tables "changed" now (within the SYN retry window) or long before it: its
 * rings_changed, as libebb writes it with a change. The marked slots stay as they are. */
static void set_window(struct inst *in, bool open)
{
	struct ebb_vip_key k = vip_key("203.0.113.10:80/tcp");
	struct ebb_vip v;

	if (ebb_vip_find(&in->e, &k, &v))
		die("no VIP 203.0.113.10:80/tcp");
	v.rings_changed = ebb_seen_tick(ebb_now_ns());
	if (!open)
		v.rings_changed -= (__u32)EBB_SYN_RETRY_TICKS + 600;
	if (ebb_vip_store(&in->e, &k, &v, BPF_EXIST))
		die("cannot set the VIP's rings_changed: %s", strerror(errno));
}

/* syn_recent as mode says (SR_QUIET, SR_OPEN, SR_BUSY); a build without it asks for every SYN
 * anyway. */
static void set_syn_recent(struct inst *in, int mode)
{
	union ebb_syn_cell cell = {};
	struct bpf_map_info info = {};
	__u32 i, len = sizeof(info), unit = ebb_syn_unit(ebb_now_ns());

	if (in->e.syn_recent_fd < 0)
		return;
	for (i = 1; mode != SR_BUSY && i <= EBB_SYN_RECENT_CELLS; i++)
		if (bpf_map_update_elem(in->e.syn_recent_fd, &i, &cell, BPF_ANY))
			die("cannot clear syn_recent: %s", strerror(errno));
	if (mode == SR_OPEN) {
		if (bpf_obj_get_info_by_fd(in->e.flows_fd, &info, &len) || !info.max_entries)
			die("cannot read the flow table's size: %s", strerror(errno));
		srand(16);
		for (i = 0; i < SR_OPEN_RECORDS; i++) {
			__u32 bucket = (__u32)(((__u64)(__u32)rand() << 1 ^ (__u32)rand()) %
					       info.max_entries),
			      idx = ebb_syn_cell_of(bucket);

			if (ebb_syn_q_of(bucket) >= EBB_SYN_Q_OVERFLOW ||
			    bpf_map_lookup_elem(in->e.syn_recent_fd, &idx, &cell))
				die("cannot record in syn_recent: %s", strerror(errno));
			cell.word = ebb_syn_cell_with(cell.word, ebb_syn_q_of(bucket),
						      (__u32)rand() & 7, (__u32)rand(), unit);
			if (bpf_map_update_elem(in->e.syn_recent_fd, &idx, &cell, BPF_ANY))
				die("cannot record in syn_recent: %s", strerror(errno));
		}
	}
	cell.word = EBB_SYN_SINCE_VALID | ebb_now_ns();
	if (mode != SR_BUSY)
		cell.word -= 2 * EBB_SYN_RETRY_NS;
	i = 0;
	if (bpf_map_update_elem(in->e.syn_recent_fd, &i, &cell, BPF_ANY))
		die("cannot set syn_recent's window: %s", strerror(errno));
}

static __u32 vip_id_of(struct inst *in, const char *vip)
{
	struct ebb_vip_key k = vip_key(vip);
	struct ebb_vip v;

	if (ebb_vip_find(&in->e, &k, &v))
		die("no VIP %s", vip);
	return v.id;
}

static __u32 node_id_of(struct inst *in, const char *addr)
{
	struct ebb_addr a = addr_of(addr);
	__u32 id;

	if (ebb_node_find(&in->e, &a, &id, NULL))
		die("no node %s", addr);
	return id;
}

/* The flow key the datapath builds for an IPv4 client of the VIP 203.0.113.10:80/tcp. */
static struct ebb_flow_key key4(__u32 src, __u16 sport, __u32 vip)
{
	struct ebb_flow_key k = {};

	k.src[0] = htonl(src);
	k.dst[0] = htonl(vip);
	k.sport = htons(sport);
	k.dport = htons(80);
	k.proto = IPPROTO_TCP;
	k.family = EBB_FAMILY_V4;
	return k;
}

/* Key i of a wrapper's sequence: source base + (i >> 16), source port i & 0xffff. */
static struct ebb_flow_key seq_key(__u32 base, __u64 i, __u32 vip)
{
	return key4(base + (__u32)(i >> 16), (__u16)(i & 0xffff), vip);
}

/*
 * The flow table behind a `flows` descriptor: this build's bucket table (include/ebb_flowtable.h),
 * mapped once, or NULL for a base build's LRU hash (read and written by key, as before).
 */
struct ft_mapped {
	int fd;
	struct ebb_ft_bucket *t;
	__u32 nb;
};

static struct ft_mapped *ft_of(int fd)
{
	static struct ft_mapped m[16];
	static int n;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	size_t bytes;
	void *t;

	for (int i = 0; i < n; i++)
		if (m[i].fd == fd)
			return m[i].t ? &m[i] : NULL;
	if (n == (int)(sizeof(m) / sizeof(m[0])))
		die("too many flow tables");
	m[n].fd = fd;
	m[n].t = NULL;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_MAP_TYPE_ARRAY &&
	    info.value_size == sizeof(struct ebb_ft_bucket)) {
		bytes = ((size_t)info.max_entries * sizeof(struct ebb_ft_bucket) + page - 1) / page * page;
		t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (t == MAP_FAILED)
			die("cannot map the flow table: %s", strerror(errno));
		m[n].t = t;
		m[n].nb = info.max_entries;
	}
	n++;
	return m[n - 1].t ? &m[n - 1] : NULL;
}

/* Pins k as v (v->seen a 2^24 ns tick, converted) in the table behind fd, or its LRU. */
static int flows_put(int fd, const struct ebb_flow_key *k, const struct ebb_flow *v)
{
	struct ft_mapped *m = ft_of(fd);
	struct ebb_ft_where w;
	struct ebb_ft_scan st;
	__u32 tick = ebb_ft_tick_of_ns((__u64)v->seen << EBB_SEEN_SHIFT);
	int way;

	if (!m) { /* a base commit's LRU: the LRU layouts' value */
		struct ebb_flow_lru l = { .node_id = v->node_id, .vip_id = (__u8)v->vip_id,
					  .flags = v->flags, .seen = v->seen };

		return bpf_map_update_elem(fd, k, &l, BPF_ANY);
	}
	w = ebb_ft_where_key(k, m->nb);
	ebb_ft_pin_prepare(&st, w.fp, ebb_ft_keyword4(k),
			   ebb_ft_entry(w.fp, v->vip_id, v->node_id, v->flags, tick), tick);
	return ebb_ft_pin(&m->t[w.b[0]], &m->t[w.b[1]], &st, &way) == EBB_FT_LOST ? -1 : 0;
}

/* Forgets k in the table behind fd (nothing if it is not there). */
static void flows_del(int fd, const struct ebb_flow_key *k)
{
	struct ft_mapped *m = ft_of(fd);
	struct ebb_ft_where w;
	__u64 word;
	int way;

	if (!m) {
		bpf_map_delete_elem(fd, k);
		return;
	}
	w = ebb_ft_where_key(k, m->nb);
	way = ebb_ft_find(&m->t[w.b[0]], &m->t[w.b[1]], w.fp, ebb_ft_keyword4(k), &word);
	if (way >= 0)
		ebb_ft_cas(&m->t[w.b[way / EBB_FT_WAYS]].entry[way % EBB_FT_WAYS].word, word, 0);
}

/* Flows base+0 .. base+n-1 of a sequence to the VIP (address vip, id vip_id), pinned
 * round-robin to node ids, seen just now. */
static void fill_flows(int fd, __u32 base, __u64 from, __u64 n, __u32 vip, __u32 vip_id,
		       const __u32 *ids, int nids)
{
	const __u32 chunk = 65536;
	struct ebb_flow_key *keys = calloc(chunk, sizeof(*keys));
	struct ebb_flow *vals = calloc(chunk, sizeof(*vals));
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	__u64 now = ebb_now_ns();

	if (!keys || !vals)
		die("out of memory");
	for (__u64 done = 0; done < n;) {
		__u32 cnt = n - done < chunk ? (__u32)(n - done) : chunk;

		for (__u32 j = 0; j < cnt; j++) {
			__u64 i = from + done + j;

			keys[j] = seq_key(base, i, vip);
			vals[j] = (struct ebb_flow){ .node_id = (__u16)ids[i % nids],
						     .vip_id = (__u16)vip_id, .seen = ebb_seen_tick(now) };
		}
		if (ft_of(fd)) { /* pinned one by one, as the datapath pins (a lost one: evicted) */
			for (__u32 j = 0; j < cnt; j++)
				flows_put(fd, &keys[j], &vals[j]);
		} else {
			/* a base commit's LRU: the LRU layouts' 8-byte value */
			struct ebb_flow_lru *lru = calloc(cnt, sizeof(*lru));

			for (__u32 j = 0; lru && j < cnt; j++)
				lru[j] = (struct ebb_flow_lru){ .node_id = vals[j].node_id,
								.vip_id = (__u8)vals[j].vip_id,
								.seen = vals[j].seen };
			if (!lru || bpf_map_update_batch(fd, keys, lru, &cnt, &bo))
				die("filling the flow table: %s", strerror(errno));
			free(lru);
		}
		done += cnt;
	}
	free(keys);
	free(vals);
}

/* Deletes keys from..from+n-1 of a sequence; keys that are not there are fine. */
static void delete_flows(int fd, __u32 base, __u64 from, __u64 n, __u32 vip)
{
	const __u32 chunk = 65536;
	struct ebb_flow_key *keys = calloc(chunk, sizeof(*keys));
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	if (!keys)
		die("out of memory");
	for (__u64 done = 0; done < n;) {
		__u32 cnt = n - done < chunk ? (__u32)(n - done) : chunk, did = cnt;

		for (__u32 j = 0; j < cnt; j++)
			keys[j] = seq_key(base, from + done + j, vip);
		if (ft_of(fd)) {
			for (__u32 j = 0; j < cnt; j++)
				flows_del(fd, &keys[j]);
		} else if (bpf_map_delete_batch(fd, keys, &did, &bo)) {
			/* A key was missing: the batch stops there; finish one by one. */
			for (__u32 j = did; j < cnt; j++)
				bpf_map_delete_elem(fd, &keys[j]);
		}
		done += cnt;
	}
	free(keys);
}

static __u64 count_flows(int fd)
{
	const __u32 chunk = 65536;
	struct ebb_flow_key *keys = calloc(chunk, sizeof(*keys));
	struct ebb_flow *vals = calloc(chunk, sizeof(*vals));
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	struct ebb_flow_key out;
	void *in = NULL;
	__u64 total = 0;

	if (!keys || !vals)
		die("out of memory");
	if (ft_of(fd)) {
		struct ft_mapped *m = ft_of(fd);

		for (__u32 b = 0; b < m->nb; b++)
			for (int i = 0; i < EBB_FT_WAYS; i++)
				total += ebb_ft_node(ebb_ft_read(&m->t[b].entry[i].word)) != 0;
		free(keys);
		free(vals);
		return total;
	}
	for (;;) {
		__u32 cnt = chunk;
		int err = bpf_map_lookup_batch(fd, in, &out, keys, vals, &cnt, &bo);

		total += cnt;
		if (err)
			break;
		in = &out;
	}
	free(keys);
	free(vals);
	return total;
}

/* ---- the wrapper program ---- */
struct wrap_spec {
	int target_fd; /* the program tail-called */
	bool rewrite; /* source address/port from the counter */
	__u32 base, mask; /* source = base + (i >> 16), port = i & 0xffff, i = counter & mask */
	bool scramble; /* i = (counter x SCRAMBLE_MUL) & mask: see struct bcase */
	__u32 dst_base, dst_mask; /* dst_mask: destination = dst_base + (i & dst_mask) (its low
				   * 16 bits must not carry): traffic spread over VIPs */
	bool restore; /* undo a head growth of `grow` bytes (or a shrink by `shrink`) on a `len`-byte
		       * frame ... */
	__u32 len, grow, shrink;
	__u32 hdr_len; /* ... and write the original frame's first hdr_len bytes back (14 = the
			* Ethernet header; more for a program that rewrites the headers after it) */
	const __u8 *hdr;
};

#define WRAP_HDR_MAX 200
/* Odd: times it, modulo a power of two, is a permutation; each step is a stride of ~0.37 of the
 * flows, far beyond any prefetcher's reach. */
#define SCRAMBLE_MUL 0x2545F491

struct wrap {
	int prog_fd, ctr_fd, parray_fd;
};

static int load_prog(const char *name, const struct bpf_insn *insns, size_t n)
{
	static char log[65536];
	LIBBPF_OPTS(bpf_prog_load_opts, po, .log_buf = log, .log_size = sizeof(log), .log_level = 1,
		    .expected_attach_type = BPF_XDP);
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "Dual BSD/GPL", insns, n, &po);

	if (fd < 0)
		die("cannot load %s: %s\n%s", name, strerror(errno), log);
	return fd;
}

static __s32 le32_of(const __u8 *b)
{
	return (__s32)((__u32)b[0] | (__u32)b[1] << 8 | (__u32)b[2] << 16 | (__u32)b[3] << 24);
}

/* r = the map (BPF_PSEUDO_MAP_FD) or its value (BPF_PSEUDO_MAP_VALUE): two instructions. */
static int emit_ld_map(struct bpf_insn *p, int n, int reg, int kind, int fd)
{
	p[n++] = BI(BPF_LD | BPF_DW | BPF_IMM, reg, kind, 0, fd);
	p[n++] = BI(0, 0, 0, 0, 0);
	return n;
}

static struct wrap wrap_load(const struct wrap_spec *s)
{
	struct bpf_insn p[WRAP_HDR_MAX / 2 + 64];
	__u32 hdr_len = s->restore ? s->hdr_len : 0, off;
	struct wrap w;
	__u32 zero = 0;
	int n = 0, jmp_out;

	if (s->scramble && (!s->mask || (s->mask & (s->mask + 1))))
		die("wrapper: a scrambled order needs a mask of all ones (0x%x)", s->mask);
	if (hdr_len > WRAP_HDR_MAX || hdr_len > s->len)
		die("wrapper: %u header bytes to restore (at most %d)", hdr_len, WRAP_HDR_MAX);

	w.ctr_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bench_ctr", 4, 8, 1, NULL);
	w.parray_fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "bench_tail", 4, 4, 1, NULL);
	if (w.ctr_fd < 0 || w.parray_fd < 0)
		die("cannot create the wrapper's maps: %s", strerror(errno));

	p[n++] = BI_MOV64_REG(BPF_REG_6, BPF_REG_1); /* r6 = ctx */
	if (s->rewrite) {
		/* r7 = counter++ & mask */
		n = emit_ld_map(p, n, BPF_REG_1, BPF_PSEUDO_MAP_VALUE, w.ctr_fd);
		p[n++] = BI_LDX(BPF_DW, BPF_REG_7, BPF_REG_1, 0);
		p[n++] = BI_MOV64_REG(BPF_REG_2, BPF_REG_7);
		p[n++] = BI_ALU64_IMM(BPF_ADD, BPF_REG_2, 1);
		p[n++] = BI_STX(BPF_DW, BPF_REG_1, BPF_REG_2, 0);
		if (s->scramble)
			p[n++] = BI_ALU64_IMM(BPF_MUL, BPF_REG_7, SCRAMBLE_MUL);
		if (s->mask)
			p[n++] = BI_ALU64_IMM(BPF_AND, BPF_REG_7, (__s32)s->mask);
	}
	if (s->restore && s->grow) {
		/* if (data + len + grow <= data_end) bpf_xdp_adjust_head(ctx, grow) */
		p[n++] = BI_LDX(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct xdp_md, data));
		p[n++] = BI_LDX(BPF_W, BPF_REG_3, BPF_REG_6, offsetof(struct xdp_md, data_end));
		p[n++] = BI_ALU64_IMM(BPF_ADD, BPF_REG_2, (__s32)(s->len + s->grow));
		p[n++] = BI_JGT_REG(BPF_REG_2, BPF_REG_3, 3);
		p[n++] = BI_MOV64_REG(BPF_REG_1, BPF_REG_6);
		p[n++] = BI_MOV64_IMM(BPF_REG_2, (__s32)s->grow);
		p[n++] = BI_CALL(BPF_FUNC_xdp_adjust_head);
	} else if (s->restore && s->shrink) {
		/* the program cut `shrink` bytes off the front (an unwrap): the frame is shorter
		 * than it came; if (data + len > data_end) bpf_xdp_adjust_head(ctx, -shrink) */
		p[n++] = BI_LDX(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct xdp_md, data));
		p[n++] = BI_LDX(BPF_W, BPF_REG_3, BPF_REG_6, offsetof(struct xdp_md, data_end));
		p[n++] = BI_ALU64_IMM(BPF_ADD, BPF_REG_2, (__s32)s->len);
		p[n++] = BI(BPF_JMP | BPF_JGE | BPF_X, BPF_REG_3, BPF_REG_2, 3, 0);
		p[n++] = BI_MOV64_REG(BPF_REG_1, BPF_REG_6);
		p[n++] = BI_MOV64_IMM(BPF_REG_2, -(__s32)s->shrink);
		p[n++] = BI_CALL(BPF_FUNC_xdp_adjust_head);
	}
	/* r2 = data; if (data + max(36, hdr_len) > data_end) goto out */
	p[n++] = BI_LDX(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct xdp_md, data));
	p[n++] = BI_LDX(BPF_W, BPF_REG_3, BPF_REG_6, offsetof(struct xdp_md, data_end));
	p[n++] = BI_MOV64_REG(BPF_REG_4, BPF_REG_2);
	p[n++] = BI_ALU64_IMM(BPF_ADD, BPF_REG_4, hdr_len > 36 ? (__s32)hdr_len : 36);
	jmp_out = n;
	p[n++] = BI_JGT_REG(BPF_REG_4, BPF_REG_3, 0); /* patched below */
	/* the original first bytes back, as immediates: 4, then 2, then 1 at a time */
	for (off = 0; off + 4 <= hdr_len; off += 4)
		p[n++] = BI(BPF_ST | BPF_MEM | BPF_W, BPF_REG_2, 0, (__s16)off, le32_of(s->hdr + off));
	if (off + 2 <= hdr_len) {
		p[n++] = BI(BPF_ST | BPF_MEM | BPF_H, BPF_REG_2, 0, (__s16)off,
			    (__s32)((__u32)s->hdr[off] | (__u32)s->hdr[off + 1] << 8));
		off += 2;
	}
	if (off < hdr_len)
		p[n++] = BI(BPF_ST | BPF_MEM | BPF_B, BPF_REG_2, 0, (__s16)off, s->hdr[off]);
	if (s->rewrite) {
		/* saddr (offset 26) = htonl(base + (i >> 16)); sport (34) = htons(i & 0xffff) */
		p[n++] = BI_MOV64_REG(BPF_REG_5, BPF_REG_7);
		p[n++] = BI_ALU64_IMM(BPF_RSH, BPF_REG_5, 16);
		p[n++] = BI_ALU32_IMM(BPF_ADD, BPF_REG_5, (__s32)s->base);
		p[n++] = BI_TO_BE(BPF_REG_5, 32);
		p[n++] = BI_STX(BPF_W, BPF_REG_2, BPF_REG_5, 26);
		/* IP id (18) = htons(0x4000 - (i >> 16)): the source's low word grew by as much,
		 * so the header checksum still verifies (the frame was built with id 0x4000) */
		p[n++] = BI_MOV64_REG(BPF_REG_4, BPF_REG_7);
		p[n++] = BI_ALU64_IMM(BPF_RSH, BPF_REG_4, 16);
		p[n++] = BI(BPF_ALU64 | BPF_NEG, BPF_REG_4, 0, 0, 0);
		p[n++] = BI_ALU64_IMM(BPF_ADD, BPF_REG_4, 0x4000);
		if (s->dst_mask) {
			/* daddr (30) = htonl(dst_base + (i & dst_mask)); its low word grew by as
			 * much as the id gives back */
			p[n++] = BI_MOV64_REG(BPF_REG_3, BPF_REG_7);
			p[n++] = BI_ALU64_IMM(BPF_AND, BPF_REG_3, (__s32)s->dst_mask);
			p[n++] = BI(BPF_ALU64 | BPF_SUB | BPF_X, BPF_REG_4, BPF_REG_3, 0, 0);
			p[n++] = BI_ALU32_IMM(BPF_ADD, BPF_REG_3, (__s32)s->dst_base);
			p[n++] = BI_TO_BE(BPF_REG_3, 32);
			p[n++] = BI_STX(BPF_W, BPF_REG_2, BPF_REG_3, 30);
		}
		p[n++] = BI_TO_BE(BPF_REG_4, 16);
		p[n++] = BI_STX(BPF_H, BPF_REG_2, BPF_REG_4, 18);
		p[n++] = BI_MOV64_REG(BPF_REG_5, BPF_REG_7);
		p[n++] = BI_ALU64_IMM(BPF_AND, BPF_REG_5, 0xffff);
		p[n++] = BI_TO_BE(BPF_REG_5, 16);
		p[n++] = BI_STX(BPF_H, BPF_REG_2, BPF_REG_5, 34);
	}
	/* bpf_tail_call(ctx, &tail, 0) */
	p[n++] = BI_MOV64_REG(BPF_REG_1, BPF_REG_6);
	n = emit_ld_map(p, n, BPF_REG_2, BPF_PSEUDO_MAP_FD, w.parray_fd);
	p[n++] = BI_MOV64_IMM(BPF_REG_3, 0);
	p[n++] = BI_CALL(BPF_FUNC_tail_call);
	p[jmp_out].off = (__s16)(n - jmp_out - 1);
	p[n++] = BI_MOV64_IMM(BPF_REG_0, XDP_ABORTED); /* out: */
	p[n++] = BI_EXIT();

	w.prog_fd = load_prog("bench_wrap", p, n);
	if (bpf_map_update_elem(w.parray_fd, &zero, &s->target_fd, BPF_ANY))
		die("cannot install the wrapper's tail call: %s", strerror(errno));
	return w;
}

static void wrap_reset(const struct wrap *w)
{
	__u32 zero = 0;
	__u64 v = 0;

	bpf_map_update_elem(w->ctr_fd, &zero, &v, BPF_ANY);
}

/* One frame with its head moved out by `grow` and back: twice the cost of one move. */
static int load_adjust_pair(__u32 grow)
{
	struct bpf_insn p[] = {
		BI_MOV64_REG(BPF_REG_6, BPF_REG_1),
		BI_MOV64_REG(BPF_REG_1, BPF_REG_6),
		BI_MOV64_IMM(BPF_REG_2, -(__s32)grow),
		BI_CALL(BPF_FUNC_xdp_adjust_head),
		BI_MOV64_REG(BPF_REG_1, BPF_REG_6),
		BI_MOV64_IMM(BPF_REG_2, (__s32)grow),
		BI_CALL(BPF_FUNC_xdp_adjust_head),
		BI_MOV64_IMM(BPF_REG_0, XDP_TX),
		BI_EXIT(),
	};

	return load_prog("bench_adjust2", p, sizeof(p) / sizeof(p[0]));
}

/* ---- running a program ---- */
struct run_out {
	__u32 retval;
	__u8 data[256];
	__u32 len;
};

/* ns per run: thread CPU time across the syscall / repeat. */
static double run_ns(int fd, const void *pkt, size_t len, __u32 repeat, struct run_out *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)len,
		    .repeat = repeat);
	double t0, t1;

	if (out) {
		o.data_out = out->data;
		o.data_size_out = sizeof(out->data);
	}
	t0 = thread_cpu_ns();
	if (bpf_prog_test_run_opts(fd, &o))
		die("BPF_PROG_TEST_RUN: %s", strerror(errno));
	t1 = thread_cpu_ns();
	if (out) {
		out->retval = o.retval;
		out->len = o.data_size_out;
	}
	return (t1 - t0) / repeat;
}

/* ---- the paths ---- */
/* BASE_*: the balancer of the base commit (bench.sh's BENCH_BASE), with maps of its own */
enum { SMALL, BIG, FULL, VIPS, BASE_SMALL, BASE_BIG, N_INST };

struct bcase {
	const char *id, *label, *table;
	int inst;
	const char *na; /* not measurable: why */
	double target; /* ratio target to the floor; 0 = none */
	double kat_target; /* ebb/Katran target, when Katran runs beside (--katran) */
	/* --katran: a Katran cell (lb) and the ebb path it runs beside (twin; set for both) */
	int lb;
	const char *twin;
	int twin_idx; /* index of the other cell of the pair, -1 = none */
	bool kat_flood; /* Katran's MAX_CONN_RATE=1 build */
	bool secondary; /* the target is shown, but counted on the path's main row */
	/* the frame */
	struct pkt_desc d;
	__u8 pkt[PKT_MAX];
	size_t len;
	__u32 expect; /* XDP verdict */
	int check; /* what the counters must show after one packet (CHK_*) */
	/* wrapped: a distinct packet per run */
	bool wrapped, reset, restore;
	__u32 base, mask, grow;
	/* wrapped with a mask: the flows in an order unrelated to the one they were inserted in,
	 * each once per mask + 1 runs. Visited in insertion order, Katran's hit cost 344-378 ns,
	 * shuffled 549-606 (ebb's the same either way): most likely its LRU's entries, taken from
	 * the preallocated pool one after the other, lie in the order read and are prefetched. No
	 * traffic visits flows in the order they were created. */
	bool scramble;
	__u32 shrink; /* restore: the program cuts this many bytes off the front (an unwrap) */
	__u32 hdr_len; /* restore: bytes of the frame written back before each run; 0 = 14 */
	/* the rows of issue 14 (rescues, claims, the node program): what the path must count
	 * (a reason of the balancer, EBB_R_*, or of the node program, EBB_N_* / EBB_D_*), and
	 * what it did count, in words: a build without rescues takes another path, which is
	 * timed and named instead of failing the bench */
	int rs; /* RS_*: the counters want_reason indexes */
	int want_reason; /* soft rows only */
	char measured[128];
	bool soft; /* a verification failure makes the row n/a, not the bench fail */
	bool del_key; /* delete `key` from the flow table before each run of the batch */
	struct ebb_flow_key key;
	int base_idx; /* its twin built from the base commit (-1 = none) */
	int ft; /* LB_FT: the flow-table variant (ft_insts) */
	__u32 flood_rate; /* settings while it runs; 0 = guard off */
	bool window; /* VIP4's tables changed within the SYN retry window while it runs */
	int syn_recent; /* SR_*: the filter of SYNs pinned lately (syn_recent) while it runs */
	__u32 vip; /* the VIP address of a wrapped sequence's flows; 0 = VIP4 */
	__u32 vip_mask; /* wrapped: the flows' VIP is vip + (i & vip_mask), i their index */
	struct wrap w, wf; /* wrapper -> balancer, wrapper -> floor */
	/* results */
	double ns[MAX_ROUNDS], ratio[MAX_ROUNDS];
	int n;
};

enum { CHK_NONE, CHK_PASS_NOT_VIP, CHK_HIT, CHK_NEW, CHK_SECOND, CHK_UNPINNED, CHK_K_PASS,
       CHK_K_HIT, CHK_K_NEW, CHK_K_FLOOD };
enum { LB_EBB, LB_KATRAN, LB_BASE, LB_NODE, LB_FT };
enum { RS_LB, RS_NODE, RS_DECAP }; /* which counters want_reason indexes */

static struct inst insts[N_INST];
static int floor_fd, adjust_fd;
static double floor_all[MAX_ROUNDS * 128];
static int n_floor;

#define VIP4 V4(203, 0, 113, 10)
#define CLIENT4 V4(198, 51, 100, 1)
#define SEQ_1M V4(192, 0, 2, 0) /* the 1M established flows: 192.0.2.0-15, every port */
#define SEQ_NEW V4(192, 0, 2, 64) /* new flows: 192.0.2.64.. */
#define SEQ_SECOND V4(192, 0, 2, 128) /* second chances: 192.0.2.128.. */
#define SEQ_FLOOD V4(192, 0, 2, 192) /* SYNs under the flood guard: 192.0.2.192.. */
#define SEQ_CHECK V4(192, 0, 2, 32) /* the method check's two established flows */
#define SEQ_RESCUE V4(192, 0, 2, 96) /* rescues: 192.0.2.96.. */
/* Issue 16, at EBB_MAX_VIPS VIPs (the VIPS instance): 64k flows of one VIP, 64k over all */
#define SEQ_VIPS1 V4(192, 0, 2, 40)
#define SEQ_VIPS V4(192, 0, 2, 41)
#define VIPS_BASE V4(100, 64, 0, 0) /* the VIPs 100.64.0.0-100.64.3.255:80/tcp */
#define CLAIM_CLIENT "192.0.2.250" /* the client of the claimed flow */
/* The rescue VIP (outer source = the balancer's address) and its nodes, which run the node
 * program: nodes of their own, so that no other row's node is flagged */
#define RESCUE_VIP "203.0.113.40:80/tcp"
#define LB_ADDR4 "198.51.100.2"
#define RNODE_A "198.51.100.21"
#define RNODE_B "198.51.100.22"
/* The node program's rows: its VIP and a client, on the loopback of the bench's own network
 * namespace, with a real connection between them */
#define NODE_VIP4 "203.0.113.50"
#define NODE_CLI4 "198.51.100.200"

static struct pkt_desc tcp4(const char *src, const char *dst, uint16_t sport, uint8_t flags)
{
	/* 14 + 20 + 20 + 10 bytes of payload = 64 */
	return (struct pkt_desc){ .family = 4, .src = src, .dst = dst, .proto = IPPROTO_TCP,
				  .sport = sport, .dport = 80, .flags = flags, .payload = 10 };
}

static struct pkt_desc tcp6(const char *src, const char *dst, uint16_t sport, uint8_t flags)
{
	/* 14 + 40 + 20 = 74: the smallest TCP/IPv6 frame */
	return (struct pkt_desc){ .family = 6, .src = src, .dst = dst, .proto = IPPROTO_TCP,
				  .sport = sport, .dport = 80, .flags = flags };
}

/* The quoted packets of the ICMP errors: the node's replies (VIP -> client) of the flows. */
static const struct pkt_desc reply4 = { .family = 4, .src = "203.0.113.10", .dst = "198.51.100.1",
					.proto = IPPROTO_TCP, .sport = 80, .dport = 40000,
					.flags = TH_ACK };
static const struct pkt_desc reply6 = { .family = 6, .src = "2001:db8:100::10", .dst = "2001:db8::1",
					.proto = IPPROTO_TCP, .sport = 80, .dport = 40001,
					.flags = TH_ACK };

static struct bcase cases[] = {
	{ .id = "pass_not_vip", .label = "non-VIP pass", .table = "-", .inst = SMALL,
	  .target = 3, .kat_target = 0.5, .expect = XDP_PASS, .check = CHK_PASS_NOT_VIP },
	{ .id = "hit", .label = "established hit", .table = "1 flow", .inst = SMALL, .target = 7,
	  .kat_target = 0.8, .expect = XDP_TX, .check = CHK_HIT },
	{ .id = "hit_1m", .label = "established hit", .table = "1M, same flow", .inst = BIG,
	  .target = 7, .secondary = true, .expect = XDP_TX, .check = CHK_HIT },
	{ .id = "hit_1m_spread", .label = "established hit", .table = "1M, shuffled", .inst = BIG,
	  .kat_target = 0.6, .expect = XDP_TX, .check = CHK_HIT, .wrapped = true, .base = SEQ_1M,
	  .mask = MILLION - 1, .scramble = true },
	/* The same flows in the order they were inserted (struct bcase's scramble says why this
	 * is not the target's row): shown so that the gap between the two stays visible */
	{ .id = "hit_1m_inorder", .label = "established hit", .table = "1M, in order",
	  .inst = BIG, .expect = XDP_TX, .check = CHK_HIT, .wrapped = true, .base = SEQ_1M,
	  .mask = MILLION - 1 },
	/* Issue 16: a hit costs the same at EBB_MAX_VIPS VIPs as at 1 (setup_vips): the same
	 * table, node and flow count, the flows of one VIP or spread over all 1024 */
	{ .id = "hit_vips_1", .label = "established hit, 1 VIP", .table = "64k, 1024 VIPs",
	  .inst = VIPS, .expect = XDP_TX, .check = CHK_HIT, .wrapped = true, .base = SEQ_VIPS1,
	  .mask = 65535, .vip = VIPS_BASE },
	{ .id = "hit_vips_1024", .label = "established hit, 1024 VIPs", .table = "64k, 1024 VIPs",
	  .inst = VIPS, .expect = XDP_TX, .check = CHK_HIT, .wrapped = true, .base = SEQ_VIPS,
	  .mask = 65535, .vip = VIPS_BASE, .vip_mask = EBB_MAX_VIPS - 1 },
	{ .id = "new_flow", .label = "new flow (SYN, insert)", .table = "1M flows", .inst = BIG,
	  .target = 40, .kat_target = 0.6, .expect = XDP_TX, .check = CHK_NEW, .wrapped = true,
	  .reset = true, .base = SEQ_NEW },
	{ .id = "new_flow_small", .label = "new flow (SYN, insert)", .table = "few flows",
	  .inst = SMALL, .target = 40, .secondary = true, .expect = XDP_TX, .check = CHK_NEW, .wrapped = true, .reset = true,
	  .base = SEQ_NEW },
	{ .id = "new_flow_full", .label = "new flow (SYN, insert)", .table = "1M, full",
	  .inst = FULL, .target = 40, .secondary = true, .expect = XDP_TX,
	  .check = CHK_NEW, .wrapped = true, .base = SEQ_NEW },
	{ .id = "second_chance", .label = "second chance (ACK miss)", .table = "1M flows",
	  .inst = BIG, .expect = XDP_TX, .check = CHK_SECOND, .wrapped = true, .reset = true,
	  .base = SEQ_SECOND },
	{ .id = "hit_wrapped", .label = "method check: hit, wrapped", .table = "2 flows",
	  .inst = SMALL, .expect = XDP_TX, .check = CHK_HIT, .wrapped = true, .base = SEQ_CHECK,
	  .mask = 1 },
	{ .id = "hit_draining", .label = "hit on a draining node", .table = "few flows",
	  .inst = SMALL, .expect = XDP_TX, .check = CHK_HIT },
	{ .id = "hit_ipv6", .label = "IPv6 established hit", .table = "few flows", .inst = SMALL,
	  .expect = XDP_TX, .check = CHK_HIT },
	{ .id = "icmp4_too_big", .label = "ICMP frag-needed steering", .table = "few flows",
	  .inst = SMALL, .expect = XDP_TX, .check = CHK_HIT },
	{ .id = "icmp6_too_big", .label = "ICMPv6 too-big steering", .table = "few flows",
	  .inst = SMALL, .expect = XDP_TX, .check = CHK_HIT },
	{ .id = "ipip_hit", .label = "ipip encapsulation hit", .table = "few flows", .inst = SMALL,
	  .kat_target = 0.9, .expect = XDP_TX, .check = CHK_HIT, .restore = true, .grow = 20 },
	{ .id = "syn_flood", .label = "SYN under the flood guard", .table = "1M flows", .inst = BIG,
	  .target = 12, .kat_target = 1.0, .expect = XDP_TX, .check = CHK_UNPINNED, .wrapped = true,
	  .base = SEQ_FLOOD, .flood_rate = 1 },
	/* The same SYNs within the retry window after a scale-out of VIP4 from 3 nodes to 4 (and
	 * back): the SYNs of the quarter of slots that changed owner ask the flow table. */
	{ .id = "syn_flood_window", .label = "SYN, flood guard, retry window", .table = "1M flows",
	  .inst = BIG, .target = 12, .kat_target = 1.0, .expect = XDP_TX, .check = CHK_UNPINNED,
	  .wrapped = true, .base = SEQ_FLOOD, .flood_rate = 1, .window = true,
	  .syn_recent = SR_QUIET },
	/* The same on a busy host: the filter holds the handshakes in flight and those never
	 * completed (SR_OPEN_RECORDS); the SYNs of a changed slot whose buckets have a record ask
	 * the flow table. Issue 16's target holds for it too. */
	{ .id = "syn_flood_window_open", .label = "SYN, retry window, busy",
	  .table = "1M flows", .inst = BIG, .target = 12, .kat_target = 1.0, .expect = XDP_TX,
	  .check = CHK_UNPINNED,
	  .wrapped = true, .base = SEQ_FLOOD, .flood_rate = 1, .window = true,
	  .syn_recent = SR_OPEN },
	/* The same with the filter no help: every SYN of a changed slot asks the flow table, as
	 * in the first window after a load of the balancer (an attach, an upgrade), when the
	 * filter has not yet seen a whole window of pins. For information: no target. */
	{ .id = "syn_flood_window_busy", .label = "SYN, retry window, all ask",
	  .table = "1M flows", .inst = BIG, .target = 12, .expect = XDP_TX, .check = CHK_UNPINNED,
	  .wrapped = true, .base = SEQ_FLOOD, .flood_rate = 1, .window = true,
	  .syn_recent = SR_BUSY },
	{ .id = "syn_flood_small", .label = "SYN under the flood guard", .table = "few flows",
	  .inst = SMALL, .target = 12, .secondary = true, .expect = XDP_TX, .check = CHK_UNPINNED, .wrapped = true, .base = SEQ_FLOOD,
	  .flood_rate = 1 },
	/* Issue 14, the balancer's side: a mid-flow ACK no flow entry knows, on a VIP whose slots
	 * changed owner (slot_history names a node that left it), every candidate running the node
	 * program: sent as a rescue; and the claim of the node that owns it. A build without
	 * rescues takes another path: timed and named as such (want_reason, measured). */
	{ .id = "rescue", .label = "rescue (ACK miss, 2 cands)", .table = "1M flows", .inst = BIG,
	  .wrapped = true, .reset = true, .base = SEQ_RESCUE, .soft = true,
	  .want_reason = EBB_R_RESCUED },
	{ .id = "claim", .label = "claim (node -> LB)", .table = "1M flows", .inst = BIG,
	  .restore = true, .soft = true, .del_key = true, .want_reason = EBB_R_CLAIMED },
	/* Issue 14: "the hit path costs what it costs today (bench row with and without node
	 * programs)": a flow of the rescue VIP, pinned to A, which runs the node program; beside
	 * hit_1m (the same table, a node without it) and both beside the base commit. */
	{ .id = "hit_node_prog", .label = "established hit, node prog", .table = "1M, same flow",
	  .inst = BIG, .expect = XDP_TX, .check = CHK_HIT },
	/* Katran beside ebb (--katran): the same packets, each cell timed right next to its twin.
	 * Katran always encapsulates (IPIP): every forwarded frame grows by 20 bytes. */
	{ .id = "k_pass_not_vip", .label = "Katran: non-VIP pass", .table = "-", .lb = LB_KATRAN,
	  .twin = "pass_not_vip", .expect = XDP_PASS, .check = CHK_K_PASS },
	{ .id = "k_hit", .label = "Katran: hit (IPIP)", .table = "1M, same flow", .lb = LB_KATRAN,
	  .twin = "hit", .expect = XDP_TX, .check = CHK_K_HIT, .restore = true, .grow = 20 },
	{ .id = "k_hit_1m_spread", .label = "Katran: hit (IPIP)", .table = "1M, shuffled",
	  .lb = LB_KATRAN, .twin = "hit_1m_spread", .expect = XDP_TX, .check = CHK_K_HIT,
	  .wrapped = true, .restore = true, .grow = 20, .base = SEQ_1M, .mask = MILLION - 1 },
	{ .id = "k_hit_1m_inorder", .label = "Katran: hit (IPIP)", .table = "1M, in order",
	  .lb = LB_KATRAN, .twin = "hit_1m_inorder", .expect = XDP_TX, .check = CHK_K_HIT,
	  .wrapped = true, .restore = true, .grow = 20, .base = SEQ_1M, .mask = MILLION - 1 },
	{ .id = "k_new_flow", .label = "Katran: new flow (IPIP)", .table = "1M flows",
	  .lb = LB_KATRAN, .twin = "new_flow", .expect = XDP_TX, .check = CHK_K_NEW, .wrapped = true,
	  .restore = true, .grow = 20, .reset = true, .base = SEQ_NEW },
	{ .id = "k_ipip_hit", .label = "Katran: hit (IPIP)", .table = "1M, same flow",
	  .lb = LB_KATRAN, .twin = "ipip_hit", .expect = XDP_TX, .check = CHK_K_HIT, .restore = true,
	  .grow = 20 },
	{ .id = "k_syn_flood", .label = "Katran: SYN, MAX_CONN_RATE=1", .table = "1M flows",
	  .lb = LB_KATRAN, .twin = "syn_flood", .expect = XDP_TX, .check = CHK_K_FLOOD,
	  .wrapped = true, .restore = true, .grow = 20, .base = SEQ_FLOOD, .kat_flood = true },
	{ .id = "k_syn_flood_window", .label = "Katran: SYN, MAX_CONN_RATE=1", .table = "1M flows",
	  .lb = LB_KATRAN, .twin = "syn_flood_window", .expect = XDP_TX, .check = CHK_K_FLOOD,
	  .wrapped = true, .restore = true, .grow = 20, .base = SEQ_FLOOD, .kat_flood = true },
	{ .id = "k_syn_flood_window_open", .label = "Katran: SYN, MAX_CONN_RATE=1",
	  .table = "1M flows", .lb = LB_KATRAN, .twin = "syn_flood_window_open", .expect = XDP_TX,
	  .check = CHK_K_FLOOD, .wrapped = true, .restore = true, .grow = 20, .base = SEQ_FLOOD,
	  .kat_flood = true },
	{ .id = "k_syn_flood_window_busy", .label = "Katran: SYN, MAX_CONN_RATE=1",
	  .table = "1M flows", .lb = LB_KATRAN, .twin = "syn_flood_window_busy", .expect = XDP_TX,
	  .check = CHK_K_FLOOD, .wrapped = true, .restore = true, .grow = 20, .base = SEQ_FLOOD,
	  .kat_flood = true },
	/* Issue 16's flow-table prototype (--flowtable DIR: tools/bench/flowtable.bpf.c built per
	 * variant), each variant beside the same two ebb paths: the table alone on a minimal parse,
	 * and the kernel LRU hash ebb uses today on that same parse (lru), and no table (none). */
#define FT_CASE(v, i)                                                                          \
	{ .id = "ft_" v "_hit", .label = "prototype " v ": hit", .table = "1M, shuffled",      \
	  .lb = LB_FT, .ft = i, .twin = "hit_1m_spread", .expect = XDP_TX, .wrapped = true,     \
	  .base = SEQ_1M, .mask = MILLION - 1 },                                               \
	{ .id = "ft_" v "_new", .label = "prototype " v ": new flow", .table = "1M flows",    \
	  .lb = LB_FT, .ft = i, .twin = "new_flow", .expect = XDP_TX, .wrapped = true,          \
	  .reset = true, .base = SEQ_NEW }
	FT_CASE("none", 0), FT_CASE("lru", 1), FT_CASE("a8w8", 2), FT_CASE("a8w8ff", 3),
	FT_CASE("a8w8c1", 4), FT_CASE("a8w4", 5), FT_CASE("a8w8mul", 6), FT_CASE("a8w8jif", 7),
	FT_CASE("a8w8il", 8), FT_CASE("a8w4il", 9),
	/* a miss without a pin (an ACK no entry knows): what a bare SYN within the retry window
	 * adds under the flood guard (it asks the table, then is not pinned); beside the flood
	 * guard's SYN of today, which does not ask */
#define FT_MISS(v, i)                                                                          \
	{ .id = "ft_" v "_miss", .label = "prototype " v ": miss", .table = "1M flows",       \
	  .lb = LB_FT, .ft = i, .twin = "syn_flood", .expect = XDP_DROP, .wrapped = true,       \
	  .base = SEQ_SECOND }
	FT_MISS("lru", 1), FT_MISS("a8w8", 2), FT_MISS("a8w8il", 8),
	/* The base commit's balancer beside this one (--base OBJ): the same packets on instances of
	 * its own, set up by the same code, each cell timed right next to its twin. */
	{ .id = "b_hit", .label = "base: established hit", .table = "1 flow", .lb = LB_BASE,
	  .twin = "hit", .inst = BASE_SMALL, .expect = XDP_TX, .check = CHK_HIT },
	{ .id = "b_hit_1m", .label = "base: established hit", .table = "1M, same flow",
	  .lb = LB_BASE, .twin = "hit_1m", .inst = BASE_BIG, .expect = XDP_TX, .check = CHK_HIT },
	{ .id = "b_hit_node_prog", .label = "base: established hit, node prog",
	  .table = "1M, same flow", .lb = LB_BASE, .twin = "hit_node_prog", .inst = BASE_BIG,
	  .expect = XDP_TX, .check = CHK_HIT },
	{ .id = "b_hit_1m_spread", .label = "base: established hit", .table = "1M, shuffled",
	  .lb = LB_BASE, .twin = "hit_1m_spread", .inst = BASE_BIG, .expect = XDP_TX,
	  .check = CHK_HIT, .wrapped = true, .base = SEQ_1M, .mask = MILLION - 1 },
	{ .id = "b_new_flow", .label = "base: new flow (SYN, insert)", .table = "1M flows",
	  .lb = LB_BASE, .twin = "new_flow", .inst = BASE_BIG, .expect = XDP_TX, .check = CHK_NEW,
	  .wrapped = true, .reset = true, .base = SEQ_NEW },
	{ .id = "b_second_chance", .label = "base: second chance", .table = "1M flows",
	  .lb = LB_BASE, .twin = "second_chance", .inst = BASE_BIG, .expect = XDP_TX,
	  .check = CHK_SECOND, .wrapped = true, .reset = true, .base = SEQ_SECOND },
	/* Issue 14, the node's side (bpf/node.bpf.c, maps of its own): real sockets in the bench's
	 * own network namespace; paths that rewrite their input run behind the restoring wrapper. */
	{ .id = "node_pass", .label = "node: plain packet passed", .table = "-", .lb = LB_NODE,
	  .soft = true, .rs = RS_DECAP, .want_reason = EBB_D_PASS_NOT_TUNNEL },
	{ .id = "node_decap", .label = "node: ipip decapsulated", .table = "-", .lb = LB_NODE,
	  .restore = true, .soft = true, .rs = RS_DECAP, .want_reason = EBB_D_DECAPSULATED },
	{ .id = "node_owner", .label = "node: rescue, owner delivers", .table = "1 socket",
	  .lb = LB_NODE, .restore = true, .soft = true, .rs = RS_NODE,
	  .want_reason = EBB_N_DELIVERED_OWNER },
	{ .id = "node_forward", .label = "node: rescue to next cand", .table = "no socket",
	  .lb = LB_NODE, .restore = true, .soft = true, .rs = RS_NODE,
	  .want_reason = EBB_N_FORWARDED_NEXT },
	{ .id = "node_claim", .label = "node: rescue claimed", .table = "1 socket", .lb = LB_NODE,
	  .restore = true, .soft = true, .rs = RS_NODE, .want_reason = EBB_N_CLAIMED },
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static struct bcase *case_by_id(const char *id)
{
	for (size_t i = 0; i < N_CASES; i++)
		if (!strcmp(cases[i].id, id))
			return &cases[i];
	die("no case %s", id);
}

static void build(struct bcase *c, struct pkt_desc d)
{
	struct pkt_layout lay;

	c->d = d;
	lay = build_frame(&c->d, LB_MAC, CLIENT_MAC, c->pkt);
	c->len = lay.len;
}

/* The drop/pass reasons counted so far: what a path that went wrong did instead. */
static void show_reasons(struct inst *in)
{
	for (__u32 r = 0; r < EBB_R_MAX; r++) {
		struct ebb_reason_counter c;

		if (!ebb_reason_sum(&in->e, r, &c) && c.packets)
			fprintf(stderr, "  %s: %s %llu\n", in->name, ebb_reason_name(r),
				(unsigned long long)c.packets);
	}
}

/* Runs the packet once through the datapath (repeat 1), as a client's first packet would. */
static struct run_out once(struct inst *in, struct pkt_desc d)
{
	__u8 pkt[PKT_MAX];
	struct pkt_layout lay = build_frame(&d, LB_MAC, CLIENT_MAC, pkt);
	struct run_out out;

	run_ns(in->prog_fd, pkt, lay.len, 1, &out);
	return out;
}

/* ---- Katran beside ebb (--katran OBJ --katran-flood OBJ) ----
 *
 * Katran's XDP object, built from its own tree the way its lib/Makefile-bpf does (tools/bench.sh
 * with KATRAN_SRC=DIR), is loaded here and configured through its maps by this loader, not by
 * Katran's C++ library: one VIP (203.0.113.10:80/tcp, vip_num 0), the same three nodes as reals
 * (same ids as ebb's node ids), ebb's own Maglev table for the VIP copied into ch_rings, and the
 * default gateway's MAC in ctl_array[0] (Katran sends everything there, encapsulated in IPIP).
 * Its flow table is the per-CPU LRU of the bench's CPU, lru_mapping[cpu], an LRU_HASH as
 * KatranLb creates one per forwarding core, sized and filled like ebb's big table. The second
 * object (MAX_CONN_RATE=1, its compile-time flood threshold) shares every map. Only the layouts
 * of the few structs written here are restated; their sizes are checked against Katran's maps.
 */
static const char *opt_katran, *opt_katran_flood;

struct k_flow_key {
	__be32 src[4];
	__be32 dst[4];
	__be16 port16[2]; /* source, destination */
	__u8 proto;
	__u8 pad[3];
};
struct k_real_pos_lru {
	__u32 pos;
	__u64 atime;
};
struct k_vip_definition {
	__be32 vip[4];
	__be16 port;
	__u8 proto;
	__u8 pad;
};
struct k_vip_meta {
	__u32 flags;
	__u32 vip_num;
};
struct k_real_definition {
	__be32 dst[4];
	__u8 flags;
	__u8 pad[3];
};
struct k_lb_stats {
	__u64 v1, v2;
};
#define K_MAX_VIPS 512 /* its stats map: per-VIP counters, then global ones at MAX_VIPS + i */
#define K_LRU_MISS_CNTR 1
#define K_NEW_CONN_RATE_CNTR 2
#define K_FALLBACK_LRU_CNTR 3
static const __u8 K_GW_MAC[6] = { 0x02, 0xeb, 0, 0, 0, 0xfe };

static struct {
	struct bpf_object *obj, *obj_flood;
	int prog_fd, prog_flood_fd, lru_fd, stats_fd;
	__u32 lru_entries;
	int cpu;
	char why[128]; /* why Katran could not run beside ebb */
} K;

static int kmap(struct bpf_object *obj, const char *name, __u32 key_size, __u32 value_size)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m)
		die("Katran: no map %s", name);
	if ((key_size && bpf_map__key_size(m) != key_size) ||
	    (value_size && bpf_map__value_size(m) != value_size))
		die("Katran: map %s has %u/%u-byte keys/values, this loader knows %u/%u", name,
		    bpf_map__key_size(m), bpf_map__value_size(m), key_size, value_size);
	return bpf_map__fd(m);
}

static struct k_flow_key k_key(__u32 base, __u64 i)
{
	struct k_flow_key k = {};

	k.src[0] = htonl(base + (__u32)(i >> 16));
	k.dst[0] = htonl(VIP4);
	k.port16[0] = htons((__u16)(i & 0xffff));
	k.port16[1] = htons(80);
	k.proto = IPPROTO_TCP;
	return k;
}

static struct k_lb_stats k_stat(__u32 idx)
{
	struct k_lb_stats v[512], s = {};
	__u32 key = K_MAX_VIPS + idx;
	int n = libbpf_num_possible_cpus();

	if (n > 512 || bpf_map_lookup_elem(K.stats_fd, &key, v))
		die("Katran stats: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		s.v1 += v[i].v1;
		s.v2 += v[i].v2;
	}
	return s;
}

/* Zeroes its new-connection rate window (per CPU): the next new flow opens a fresh second. */
static void k_reset_conn_rate(void)
{
	static struct k_lb_stats v[512];
	__u32 key = K_MAX_VIPS + K_NEW_CONN_RATE_CNTR;

	if (bpf_map_update_elem(K.stats_fd, &key, v, BPF_ANY))
		die("Katran stats reset: %s", strerror(errno));
}

static void k_fill(__u32 base, __u64 n, const __u32 *ids, int nids)
{
	const __u32 chunk = 65536;
	struct k_flow_key *keys = calloc(chunk, sizeof(*keys));
	struct k_real_pos_lru *vals = calloc(chunk, sizeof(*vals));
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	if (!keys || !vals)
		die("out of memory");
	for (__u64 done = 0; done < n;) {
		__u32 cnt = n - done < chunk ? (__u32)(n - done) : chunk;

		for (__u32 j = 0; j < cnt; j++) {
			keys[j] = k_key(base, done + j);
			vals[j] = (struct k_real_pos_lru){ .pos = ids[(done + j) % nids] };
		}
		if (bpf_map_update_batch(K.lru_fd, keys, vals, &cnt, &bo))
			die("filling Katran's LRU: %s", strerror(errno));
		done += cnt;
	}
	free(keys);
	free(vals);
}

/* Deletes keys 0..n-1 of a sequence from Katran's LRU; returns how many were there. */
static __u64 k_delete(__u32 base, __u64 n)
{
	__u64 gone = 0;

	for (__u64 i = 0; i < n; i++) {
		struct k_flow_key k = k_key(base, i);

		gone += !bpf_map_delete_elem(K.lru_fd, &k);
	}
	return gone;
}

/* The CPU the rounds run on (the last one allowed): its Katran LRU is the one filled. */
static int bench_cpu(void)
{
	cpu_set_t all;

	sched_getaffinity(0, sizeof(all), &all);
	for (int c = CPU_SETSIZE - 1; c >= 0; c--)
		if (CPU_ISSET(c, &all))
			return c;
	return 0;
}

/* Loads and configures Katran; ebb's big instance gives the node ids and the ring. */
static void katran_setup(struct inst *b, __u32 fill)
{
	struct k_vip_definition vd = {};
	struct k_vip_meta vm = { .flags = 0, .vip_num = 0 };
	__u32 ids[3], key, ring_id, inner_id, *keys, *vals, cnt, zero = 0;
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	static const char *const addrs[] = { "198.51.100.11", "198.51.100.12", "198.51.100.13" };
	struct bpf_map *m;
	__u64 ctl = 0;
	int lru_mapping_fd, rings_fd;

	K.obj = bpf_object__open_file(opt_katran, NULL);
	if (!K.obj || bpf_object__load(K.obj))
		die("cannot load Katran's %s", opt_katran);
	K.prog_fd = bpf_program__fd(bpf_object__find_program_by_name(K.obj, "balancer_ingress"));
	K.obj_flood = bpf_object__open_file(opt_katran_flood, NULL);
	if (!K.obj_flood)
		die("cannot open Katran's %s", opt_katran_flood);
	bpf_object__for_each_map(m, K.obj_flood)
		if (bpf_map__reuse_fd(m, kmap(K.obj, bpf_map__name(m), 0, 0)))
			die("Katran: cannot share map %s", bpf_map__name(m));
	if (bpf_object__load(K.obj_flood))
		die("cannot load Katran's %s", opt_katran_flood);
	K.prog_flood_fd = bpf_program__fd(bpf_object__find_program_by_name(K.obj_flood,
									  "balancer_ingress"));
	if (K.prog_fd < 0 || K.prog_flood_fd < 0)
		die("Katran: no program balancer_ingress");
	K.stats_fd = kmap(K.obj, "stats", 4, sizeof(struct k_lb_stats));

	vd.vip[0] = htonl(VIP4);
	vd.port = htons(80);
	vd.proto = IPPROTO_TCP;
	if (bpf_map_update_elem(kmap(K.obj, "vip_map", sizeof(vd), sizeof(vm)), &vd, &vm, BPF_ANY))
		die("Katran vip_map: %s", strerror(errno));
	for (int i = 0; i < 3; i++) {
		struct k_real_definition r = {};

		ids[i] = node_id_of(b, addrs[i]);
		r.dst[0] = addr_of(addrs[i]).a[0];
		if (bpf_map_update_elem(kmap(K.obj, "reals", 4, sizeof(r)), &ids[i], &r, BPF_ANY))
			die("Katran reals: %s", strerror(errno));
	}
	/* ch_rings[vip_num 0]: ebb's table for the VIP, slot for slot (node id = real index) */
	rings_fd = b->e.rings_fd;
	ring_id = EBB_RING_NEW(vip_id_of(b, "203.0.113.10:80/tcp"));
	if (bpf_map_lookup_elem(rings_fd, &ring_id, &inner_id))
		die("ebb's ring: %s", strerror(errno));
	keys = calloc(EBB_RING_SIZE, 4);
	vals = calloc(EBB_RING_SIZE, 4);
	if (!keys || !vals || ebb_ring_read(&b->e, ring_id, vals))
		die("ebb's ring: %s", strerror(errno));
	for (__u32 i = 0; i < EBB_RING_SIZE; i++)
		keys[i] = i;
	cnt = EBB_RING_SIZE;
	if (bpf_map_update_batch(kmap(K.obj, "ch_rings", 4, 4), keys, vals, &cnt, &bo) ||
	    cnt != EBB_RING_SIZE)
		die("Katran ch_rings: %s", strerror(errno));
	free(keys);
	free(vals);
	memcpy(&ctl, K_GW_MAC, 6);
	if (bpf_map_update_elem(kmap(K.obj, "ctl_array", 4, 8), &zero, &ctl, BPF_ANY))
		die("Katran ctl_array: %s", strerror(errno));
	/* the flow table of the bench's CPU, sized like ebb's big one */
	K.lru_entries = b->flows_max;
	K.lru_fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "katran_lru", sizeof(struct k_flow_key),
				  sizeof(struct k_real_pos_lru), K.lru_entries, NULL);
	if (K.lru_fd < 0)
		die("cannot create Katran's LRU: %s", strerror(errno));
	lru_mapping_fd = kmap(K.obj, "lru_mapping", 4, 4);
	K.cpu = bench_cpu();
	key = (__u32)K.cpu;
	if (bpf_map_update_elem(lru_mapping_fd, &key, &K.lru_fd, BPF_ANY))
		die("Katran lru_mapping[%d]: %s", K.cpu, strerror(errno));
	k_fill(SEQ_1M, fill, ids, 3);
	note("Katran loaded twice (MAX_CONN_RATE default and 1, maps shared); its LRU of CPU %d: %u "
	     "entries, %u flows", K.cpu, K.lru_entries, fill);
}

/* Katran's memory per flow entry: its LRU's memlock, beside ebb's. */
static json_object *katran_memory(void)
{
	json_object *o = json_object_new_object();
	long long mem = fdinfo_field(K.lru_fd, "memlock:");

	json_object_object_add(o, "key_bytes", json_object_new_int(sizeof(struct k_flow_key)));
	json_object_object_add(o, "value_bytes", json_object_new_int(sizeof(struct k_real_pos_lru)));
	json_object_object_add(o, "entries", json_object_new_int64(K.lru_entries));
	json_object_object_add(o, "memlock_bytes", json_object_new_int64(mem));
	json_object_object_add(o, "bytes_per_entry",
			       json_object_new_double((double)mem / K.lru_entries));
	json_object_object_add(o, "tables", json_object_new_string(
		"one such LRU per forwarding CPU (lru_mapping), each flow in one of them"));
	return o;
}


/* ---- issue 14: rescues, claims and the node program ---- */

static const __u8 RNODE_A_MAC[6] = { 0x02, 0xeb, 0, 0, 0x01, 0x21 };
static const __u8 RNODE_B_MAC[6] = { 0x02, 0xeb, 0, 0, 0x01, 0x22 };

/* A rescue (or claim) frame of the wire format of include/ebb.h, IPv4 outer. */
struct rframe {
	const char *osrc, *odst;
	const __u8 *edst, *esrc;
	__u8 hop, flags;
	const __u8 *lb_mac; /* NULL: all zero (no claim wanted) */
	__u32 cookie;
	int ncand;
	const char *cand_addr[EBB_RESCUE_MAX_HOPS];
	const __u8 *cand_mac[EBB_RESCUE_MAX_HOPS];
	__u16 cand_id[EBB_RESCUE_MAX_HOPS];
	struct pkt_desc inner;
};

/* Builds it into out; returns the length, *inner_off where the client's packet starts. */
static size_t build_rescue4(const struct rframe *f, __u8 *out, __u32 *inner_off)
{
	uint8_t inner[PKT_MAX];
	size_t l4, ilen = build_ip(&f->inner, inner, &l4), rlen = EBB_RESCUE_LEN(f->ncand), off;
	struct ebb_rescue_hdr h = { .magic = EBB_RESCUE_MAGIC, .version = EBB_RESCUE_VERSION,
				    .hop = f->hop, .count = (__u8)f->ncand,
				    .next_proto = IPPROTO_IPIP, .flags = f->flags,
				    .cookie = f->cookie };
	struct outer_desc o = { .family = 4, .src = f->osrc, .dst = f->odst,
				.proto = EBB_RESCUE_PROTO, .frag = 0x4000 };

	if (f->lb_mac)
		memcpy(h.lb_mac, f->lb_mac, 6);
	off = build_l2(f->edst, f->esrc, 0, ETHERTYPE_IPV4, out);
	off += build_outer(&o, rlen + ilen, out + off);
	memcpy(out + off, &h, sizeof(h));
	off += sizeof(h);
	for (int i = 0; i < f->ncand; i++) {
		struct ebb_rescue_cand c = { .node_id = f->cand_id[i] };

		pkt_addr(f->cand_addr[i], 4, (uint8_t *)c.addr);
		memcpy(c.mac, f->cand_mac[i], 6);
		memcpy(out + off, &c, sizeof(c));
		off += sizeof(c);
	}
	*inner_off = (__u32)off;
	memcpy(out + off, inner, ilen);
	return off + ilen;
}

/* The node program, loaded with maps of its own (unpinned), and the real connection it finds. */
static struct node_bpf *node_skel;
static int node_fd = -1, nstats_fd = -1, dstats_fd = -1;
static int node_sock[2] = { -1, -1 };
static const char *node_na; /* why the node program's rows are n/a */

/* ---- issue 16's flow-table prototype beside ebb (--flowtable DIR) ----
 *
 * DIR holds tools/bench/flowtable.bpf.c built once per variant (ft_VARIANT.bpf.o, the Makefile's
 * FT_VARIANTS). Each is loaded with a table for 1M flows at the load factor its design would run
 * at (the highest at which ft_sweep pinned 99.9 % of 1M random flows; --ft-load F: F for all), filled with the same 1M
 * established flows as the big table by its own datapath (SYNs through the wrapper), and timed
 * beside hit_1m_spread and new_flow. A new-flow run's inserts are undone by copying the table
 * back as it was after the fill (the mmapped array; lru: the keys deleted, as ebb's). */
static const char *opt_flowtable;
static double opt_ft_load; /* 0: each variant's own (ft_variants[].load) */

static const struct {
	const char *name;
	int ways, choices, lru, none, il; /* il: keys in the bucket (FT_KEYS_INLINE) */
	double load; /* the highest with 99.9 % of 1M random inserts pinned (ft_sweep) */
} ft_variants[] = {
	{ "none", 8, 2, 0, 1, 0, 0.84 },    { "lru", 8, 2, 1, 0, 0, 0 },
	{ "a8w8", 8, 2, 0, 0, 0, 0.84 },    { "a8w8ff", 8, 2, 0, 0, 0, 0.575 },
	{ "a8w8c1", 8, 1, 0, 0, 0, 0.336 }, { "a8w4", 4, 2, 0, 0, 0, 0.646 },
	{ "a8w8mul", 8, 2, 0, 0, 0, 0.84 }, { "a8w8jif", 8, 2, 0, 0, 0, 0.84 },
	{ "a8w8il", 8, 2, 0, 0, 1, 0.84 },  { "a8w4il", 4, 2, 0, 0, 1, 0.646 },
};
#define N_FT (sizeof(ft_variants) / sizeof(ft_variants[0]))

static struct ft_inst {
	struct bpf_object *obj;
	int prog_fd, table_fd, keys_fd, lru_fd, bss_fd;
	__u32 nbuckets;
	size_t table_bytes, keys_bytes;
	void *table, *keys, *table_snap, *keys_snap;
	double fill_s, census_ms;
	__u64 fill_evicted, fill_lost, fill_fp_hits, live;
	const char *na;
} ft_insts[N_FT];

static struct ft_stats ft_stats_of(const struct ft_inst *f)
{
	struct ft_stats st = {};
	__u32 zero = 0;

	if (f->bss_fd >= 0)
		bpf_map_lookup_elem(f->bss_fd, &zero, &st);
	return st;
}

/* The census as user space would run it on the mmapped table: every entry's node, flags and age
 * against an idle timeout, live flows counted per node. */
static __u64 ft_census(const struct ft_inst *f, __u64 *per_node, __u32 now, __u32 idle_ticks)
{
	const __u64 *w = f->table;
	__u64 live = 0;
	/* every entry word: in a bucket of `ways` words, or of `ways` entry words then `ways`
	 * key words */
	__u32 ways = (__u32)ft_variants[f - ft_insts].ways, stride = ft_variants[f - ft_insts].il ? 2 : 1;
	__u64 n = f->table_bytes / 8;

	memset(per_node, 0, 8192 * sizeof(*per_node));
	for (__u64 i = 0; i < n; i++) {
		__u64 e = w[i];

		if (stride == 2 && (i / ways) % 2) {
			i += ways - 1; /* a line of keys */
			continue;
		}
		if (!e || (ft_flags(e) & (EBB_FLOW_RST | EBB_FLOW_UNCONFIRMED)) ||
		    ft_age(e, now) > idle_ticks)
			continue;
		per_node[ft_node(e)]++;
		live++;
	}
	return live;
}

static void ft_setup(__u32 fill)
{
	char path[600];

	for (size_t v = 0; v < N_FT; v++) {
		struct ft_inst *f = &ft_insts[v];
		struct bpf_map *m;
		struct wrap w;
		struct wrap_spec ws = { .rewrite = true, .base = SEQ_1M, .mask = MILLION - 1 };
		__u8 syn[PKT_MAX];
		struct pkt_desc d = tcp4("192.0.2.0", "203.0.113.10", 1, TH_SYN);
		struct pkt_layout lay;
		double load = opt_ft_load > 0 ? opt_ft_load : ft_variants[v].load, t0;

		f->bss_fd = f->lru_fd = -1;
		snprintf(path, sizeof(path), "%s/ft_%s.bpf.o", opt_flowtable, ft_variants[v].name);
		f->obj = bpf_object__open_file(path, NULL);
		if (!f->obj) {
			f->na = "no such object (--flowtable DIR)";
			continue;
		}
		f->nbuckets = (__u32)(fill / (ft_variants[v].ways * load)) + 1;
		bpf_map__set_max_entries(bpf_object__find_map_by_name(f->obj, "ft_table"), f->nbuckets);
		bpf_map__set_max_entries(bpf_object__find_map_by_name(f->obj, "ft_keys"),
					 ft_variants[v].il ? 1 : f->nbuckets);
		bpf_map__set_max_entries(bpf_object__find_map_by_name(f->obj, "ft_lru"),
					 ft_variants[v].lru ? fill + 262144 : 1);
		m = bpf_object__find_map_by_name(f->obj, ".rodata");
		if (m) {
			size_t sz = 0;
			const void *ro = bpf_map__initial_value(m, &sz);
			__u32 buf[16];

			if (ro && sz >= 4 && sz <= sizeof(buf)) {
				memcpy(buf, ro, sz);
				buf[0] = f->nbuckets; /* ft_nbuckets, the first of .rodata */
				bpf_map__set_initial_value(m, buf, sz);
			}
		}
		if (bpf_object__load(f->obj)) {
			f->na = "the variant did not load";
			note("flowtable %s: %s", ft_variants[v].name, f->na);
			continue;
		}
		f->prog_fd = bpf_program__fd(bpf_object__find_program_by_name(f->obj, "ft_xdp"));
		f->table_fd = bpf_map__fd(bpf_object__find_map_by_name(f->obj, "ft_table"));
		f->keys_fd = bpf_map__fd(bpf_object__find_map_by_name(f->obj, "ft_keys"));
		f->lru_fd = bpf_map__fd(bpf_object__find_map_by_name(f->obj, "ft_lru"));
		m = bpf_object__find_map_by_name(f->obj, ".bss");
		f->bss_fd = m ? bpf_map__fd(m) : -1;
		if (ft_variants[v].none)
			continue;
		if (ft_variants[v].lru) {
			__u32 ids[3] = { 1, 2, 3 };

			t0 = now_s();
			fill_flows(f->lru_fd, SEQ_1M, 0, fill, VIP4, 0, ids, 3);
			f->fill_s = now_s() - t0;
			f->table_bytes = (size_t)fdinfo_field(f->lru_fd, "memlock:");
			continue;
		}
		f->table_bytes = (size_t)f->nbuckets * ft_variants[v].ways * 8 * (ft_variants[v].il ? 2 : 1);
		f->keys_bytes = ft_variants[v].il ? 0 : (size_t)f->nbuckets * ft_variants[v].ways * 8;
		f->table = mmap(NULL, f->table_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f->table_fd, 0);
		f->keys = f->keys_bytes ? mmap(NULL, f->keys_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
					       f->keys_fd, 0) : NULL;
		f->table_snap = malloc(f->table_bytes);
		f->keys_snap = malloc(f->keys_bytes + 1);
		if (f->table == MAP_FAILED || f->keys == MAP_FAILED || !f->table_snap || !f->keys_snap)
			die("flowtable %s: cannot map its table: %s", ft_variants[v].name, strerror(errno));
		/* the 1M flows, pinned by the variant's own datapath: a SYN each */
		lay = build_frame(&d, LB_MAC, CLIENT_MAC, syn);
		ws.target_fd = f->prog_fd;
		ws.hdr = syn;
		ws.hdr_len = 14;
		ws.len = (__u32)lay.len;
		w = wrap_load(&ws);
		t0 = now_s();
		run_ns(w.prog_fd, syn, lay.len, fill, NULL);
		f->fill_s = now_s() - t0;
		close(w.prog_fd);
		close(w.ctr_fd);
		close(w.parray_fd);
		{
			struct ft_stats st = ft_stats_of(f);

			f->fill_evicted = st.evicted;
			f->fill_lost = st.lost;
			/* a SYN that "hits": its fingerprint is another flow's in its buckets */
			f->fill_fp_hits = st.hits;
			if (st.inserted + st.lost + st.hits != fill)
				die("flowtable %s: the fill pinned %llu of %u flows", ft_variants[v].name,
				    (unsigned long long)st.inserted, fill);
		}
		memcpy(f->table_snap, f->table, f->table_bytes);
		if (f->keys)
			memcpy(f->keys_snap, f->keys, f->keys_bytes);
		/* jiffies: user space has no clock of those ticks to age entries by (one reason
		 * against that variant) */
		if (!strcmp(ft_variants[v].name, "a8w8jif"))
			f->census_ms = -1;
		else {
			static __u64 per_node[8192];
			double t[5];
			__u32 now = ft_tick_of_ns(ebb_now_ns());

			for (int r = 0; r < 5; r++) {
				double c0 = now_s();

				f->live = ft_census(f, per_node, now, 900);
				t[r] = (now_s() - c0) * 1e3;
			}
			f->census_ms = median(t, 5);
		}
		note("flowtable %s: %u buckets of %d ways (%.1f MB + %.1f MB keys), 1M flows pinned by "
		     "SYNs in %.2f s (%llu evicted, %llu lost, %llu false hits); census of the mmapped "
		     "table %.2f ms (%llu live)", ft_variants[v].name, f->nbuckets, ft_variants[v].ways,
		     f->table_bytes / 1e6, f->keys_bytes / 1e6, f->fill_s,
		     (unsigned long long)f->fill_evicted, (unsigned long long)f->fill_lost,
		     (unsigned long long)f->fill_fp_hits,
		     f->census_ms, (unsigned long long)f->live);
	}
}

/* After a new-flow run: the table as the fill left it. */
static void ft_restore(struct bcase *c, __u32 repeat)
{
	struct ft_inst *f = &ft_insts[c->ft];

	if (ft_variants[c->ft].lru)
		delete_flows(f->lru_fd, c->base, 0, repeat, VIP4);
	else if (f->table) {
		memcpy(f->table, f->table_snap, f->table_bytes);
		if (f->keys)
			memcpy(f->keys, f->keys_snap, f->keys_bytes);
	}
}

/* ebb's own census (user/lib/census.c on the mmapped table) at 1M flows, in this run, for the
 * comparison; 0 if it cannot run. */
static double ebb_census_ms(struct inst *b)
{
	struct ebb_census *census = NULL;
	double t[5];

	if (ebb_census_open(&b->e, &census))
		return 0;
	for (__u32 v = 0; v < EBB_MAX_VIPS; v++)
		ebb_census_io(census)->vips[v] = (struct ebb_census_vip){
			.tcp_idle_ns = 900000000000ULL, .udp_idle_ns = 30000000000ULL,
			.fin_ns = 10000000000ULL };
	for (int r = 0; r < 5; r++) {
		double t0;

		ebb_census_io(census)->now_ns = ebb_now_ns();
		t0 = now_s();
		ebb_census_run(census);
		t[r] = (now_s() - t0) * 1e3;
	}
	ebb_census_close(census);
	return median(t, 5);
}

static json_object *ft_json(struct inst *b, __u32 fill)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();

	for (size_t v = 0; v < N_FT; v++) {
		const struct ft_inst *f = &ft_insts[v];
		json_object *e = json_object_new_object();

		json_object_object_add(e, "variant", json_object_new_string(ft_variants[v].name));
		if (f->na) {
			json_object_object_add(e, "na", json_object_new_string(f->na));
			json_object_array_add(arr, e);
			continue;
		}
		json_object_object_add(e, "buckets", json_object_new_int64(f->nbuckets));
		json_object_object_add(e, "ways", json_object_new_int(ft_variants[v].ways));
		json_object_object_add(e, "table_bytes", json_object_new_int64((long long)f->table_bytes));
		json_object_object_add(e, "keys_bytes", json_object_new_int64((long long)f->keys_bytes));
		json_object_object_add(e, "bytes_per_flow", json_object_new_double(
			(double)(f->table_bytes + f->keys_bytes) / fill));
		json_object_object_add(e, "fill_s", json_object_new_double(f->fill_s));
		json_object_object_add(e, "fill_evicted", json_object_new_int64((long long)f->fill_evicted));
		json_object_object_add(e, "fill_false_hits", json_object_new_int64((long long)f->fill_fp_hits));
		if (ft_variants[v].lru)
			json_object_object_add(e, "bytes_per_entry", json_object_new_double(
				(double)f->table_bytes / (fill + 262144)));
		if (f->census_ms >= 0 && !ft_variants[v].lru)
			json_object_object_add(e, "census_ms", json_object_new_double(f->census_ms));
		json_object_object_add(e, "census_live", json_object_new_int64((long long)f->live));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "variants", arr);
	json_object_object_add(o, "flows", json_object_new_int64(fill));
	json_object_object_add(o, "ebb_census_ms", json_object_new_double(ebb_census_ms(b)));
	return o;
}

static int case_prog(const struct bcase *c)
{
	return c->lb == LB_NODE ? node_fd : c->lb == LB_FT ? ft_insts[c->ft].prog_fd :
	       insts[c->inst].prog_fd;
}

/* The base commit's maps that the bench's setup writes through libebb (this tree's layouts)
 * must have this tree's key and value sizes; `settings` is written by its own size. */
static void base_check_layout(void)
{
	static const char *const names[] = { "vip_addrs", "vips", "vips_by_id", "vip_slots",
					     "vip_filter", "nodes", "members", "flows", "reasons",
					     "vip_stats", "node_stats" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct bpf_map *h = bpf_object__find_map_by_name(insts[SMALL].obj, names[i]);
		struct bpf_map *m = bpf_object__find_map_by_name(insts[BASE_SMALL].obj, names[i]);

		/* this build's bucket table beside a base's LRU: the fill, the clears and the
		 * counts go by each descriptor's kind (ft_of) */
		if (h && m && !strcmp(names[i], "flows") &&
		    bpf_map__type(h) == BPF_MAP_TYPE_ARRAY &&
		    bpf_map__value_size(h) == sizeof(struct ebb_ft_bucket) &&
		    bpf_map__type(m) == BPF_MAP_TYPE_LRU_HASH &&
		    bpf_map__key_size(m) == sizeof(struct ebb_flow_key) &&
		    bpf_map__value_size(m) == sizeof(struct ebb_flow_lru))
			continue;
		if (!h || !m || bpf_map__key_size(h) != bpf_map__key_size(m) ||
		    bpf_map__value_size(h) != bpf_map__value_size(m)) {
			snprintf(base_na, sizeof(base_na),
				 "the base commit's map %s has another layout (%u/%u-byte keys/values, "
				 "here %u/%u)", names[i], m ? bpf_map__key_size(m) : 0,
				 m ? bpf_map__value_size(m) : 0, h ? bpf_map__key_size(h) : 0,
				 h ? bpf_map__value_size(h) : 0);
			return;
		}
	}
}

/* The node program looks sockets up in the network namespace of the caller of
 * BPF_PROG_TEST_RUN: the bench moves into one of its own (it ends with the process), with the
 * node's VIP and a client on its loopback and one real connection between them, as test_node. */
static const char *node_setup(__u16 *port)
{
	struct ebb_decap_key k;
	struct ebb_err err = {};
	struct bpf_map *m;
	__u32 one = 1;
	int l;

	if (unshare(CLONE_NEWNET))
		return "cannot make a network namespace of its own (unshare)";
	if (system("ip link set lo up && ip addr add " NODE_VIP4 "/32 dev lo && ip addr add "
		   NODE_CLI4 "/32 dev lo"))
		return "cannot set up the loopback of its network namespace (ip)";
	l = tcp_listen(4, NODE_VIP4, 80, true);
	node_sock[0] = l;
	node_sock[1] = l >= 0 ? tcp_connect(4, NODE_CLI4, NODE_VIP4, 80, port) : -1;
	if (node_sock[1] < 0)
		return "cannot open a TCP connection in its network namespace";
	node_skel = node_bpf__open();
	if (!node_skel)
		return "cannot open the node program";
	bpf_object__for_each_map(m, node_skel->obj)
		bpf_map__set_pin_path(m, NULL);
	if (node_bpf__load(node_skel))
		return "the node program does not load";
	node_fd = bpf_program__fd(node_skel->progs.ebb_node);
	nstats_fd = bpf_map__fd(node_skel->maps.node_stats);
	dstats_fd = bpf_map__fd(node_skel->maps.decap_stats);
	if (ebb_parse_prefix(NODE_VIP4 "/32", &k, &err) ||
	    bpf_map_update_elem(bpf_map__fd(node_skel->maps.decap_prefixes), &k, &one, BPF_NOEXIST))
		return "cannot add the node's VIP prefix";
	return NULL;
}

/* The node program's frames: its rescues name this node (A) and another (B). */
static void node_frames(__u16 port)
{
	struct rframe f = { .osrc = LB_ADDR4, .odst = RNODE_A, .edst = RNODE_A_MAC,
			    .esrc = LB_MAC, .ncand = 2, .cand_addr = { RNODE_A, RNODE_B },
			    .cand_mac = { RNODE_A_MAC, RNODE_B_MAC }, .cand_id = { 1, 2 },
			    .cookie = 0x5eed };
	struct outer_desc o = { .family = 4, .src = LB_ADDR4, .dst = RNODE_A,
				.proto = IPPROTO_IPIP, .frag = 0x4000 };
	struct pkt_desc ack = tcp4(NODE_CLI4, NODE_VIP4, port, TH_ACK);
	struct tun_layout tl;
	struct bcase *c;

	build(case_by_id("node_pass"), ack);
	c = case_by_id("node_decap");
	c->d = ack;
	tl = build_tunnel_frame(&o, &ack, RNODE_A_MAC, LB_MAC, c->pkt);
	c->len = tl.len;
	c->hdr_len = (__u32)tl.inner;
	/* the owner: the connection's own 4-tuple */
	c = case_by_id("node_owner");
	f.inner = ack;
	c->d = ack;
	c->len = build_rescue4(&f, c->pkt, &c->hdr_len);
	/* asked for a claim: the balancer's MAC in the header */
	c = case_by_id("node_claim");
	f.lb_mac = LB_MAC;
	c->d = ack;
	c->len = build_rescue4(&f, c->pkt, &c->hdr_len);
	/* no socket for this client port (the listener does not own it): on to B */
	c = case_by_id("node_forward");
	f.lb_mac = NULL;
	f.inner = tcp4(NODE_CLI4, NODE_VIP4, 40999, TH_ACK);
	c->d = f.inner;
	c->len = build_rescue4(&f, c->pkt, &c->hdr_len);
}

/* The rescue VIP on the big instance: dsr, with an outer source (the balancer's address, where
 * claims come back); one active node A; every slot's history names B, a node that left the VIP
 * (it serves another one), for an hour: every ACK that misses has two candidates, A and B, both
 * running the node program. Written against the contract of include/ebb.h (slot_history,
 * ebb_node.flags, settings.rescue_rate); a build without them gets what it can, and the row
 * says which path it measured. */
static void rescue_setup(struct inst *b)
{
	struct ebb_vip_opts o = { .fwd = EBB_FWD_DSR, .encap_src4 = htonl(V4(198, 51, 100, 2)) };
	struct ebb_vip_key k = vip_key(RESCUE_VIP);
	struct ebb_err err = {};
	__u32 ids[2], vip_id;
	struct bpf_map *m;

	if (ebb_vip_add(&b->e, &k, &o, &err))
		die("vip add %s: %s", RESCUE_VIP, err.msg);
	add_node(b, RNODE_A, 0x21, RESCUE_VIP);
	add_vip(b, "203.0.113.41:80/tcp", EBB_FWD_DSR);
	add_node(b, RNODE_B, 0x22, "203.0.113.41:80/tcp");
	ids[0] = node_id_of(b, RNODE_A);
	ids[1] = node_id_of(b, RNODE_B);
	vip_id = vip_id_of(b, RESCUE_VIP);
	if (map_value_size(b->e.nodes_fd) == sizeof(struct ebb_node)) {
		for (int i = 0; i < 2; i++) {
			struct ebb_node n;

			if (bpf_map_lookup_elem(b->e.nodes_fd, &ids[i], &n))
				die("node %u: %s", ids[i], strerror(errno));
			n.flags |= EBB_NODE_F_NODE_PROG;
			if (bpf_map_update_elem(b->e.nodes_fd, &ids[i], &n, BPF_EXIST))
				die("node %u: %s", ids[i], strerror(errno));
		}
	}
	/* as on a 1500-byte device; rescues without a rate limit in reach (a run offers 100k) */
	settings_put(b, offsetof(struct ebb_settings, mtu), 1500);
	if (!settings_put(b, offsetof(struct ebb_settings, rescue_rate), RATE_ARMED))
		note("rescue (%s): no rescue_rate in its settings", b->name);
	m = bpf_object__find_map_by_name(b->obj, "slot_history");
	if (!m) {
		note("rescue (%s): no slot_history map in its object", b->name);
		return;
	}
	if (bpf_map__key_size(m) != sizeof(struct ebb_history_key) ||
	    bpf_map__value_size(m) != sizeof(struct ebb_slot_history)) {
		note("rescue (%s): slot_history has %u/%u-byte keys/values, the contract %zu/%zu: left "
		     "empty", b->name, bpf_map__key_size(m), bpf_map__value_size(m), sizeof(struct ebb_history_key),
		     sizeof(struct ebb_slot_history));
		return;
	}
	{
		struct ebb_history_key *keys = calloc(EBB_RING_SIZE, sizeof(*keys));
		struct ebb_slot_history *vals = calloc(EBB_RING_SIZE, sizeof(*vals));
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 until = ebb_seen_tick(ebb_now_ns() + 3600ULL * 1000000000ULL), cnt = EBB_RING_SIZE;

		if (!keys || !vals)
			die("out of memory");
		for (__u32 i = 0; i < EBB_RING_SIZE; i++) {
			keys[i] = (struct ebb_history_key){ .vip_id = vip_id, .slot = i };
			vals[i].owner[0] = (__u16)ids[1];
			vals[i].until[0] = until;
		}
		if (bpf_map_update_batch(bpf_map__fd(m), keys, vals, &cnt, &bo))
			note("rescue (%s): cannot fill slot_history (%u of %u): %s", b->name, cnt, EBB_RING_SIZE,
			     strerror(errno));
		free(keys);
		free(vals);
	}
}

/* The claim of the rescue row's owner (A): the balancer's own rescue of one ACK, turned into a
 * claim as the node program does (include/ebb.h, EBB_RESCUE_F_CLAIM), so that it carries the
 * balancer's cookie; by hand (cookie 0) when this build sent no rescue. */
static void claim_frame(struct inst *b)
{
	struct bcase *c = case_by_id("claim");
	struct pkt_desc ack = tcp4(CLAIM_CLIENT, "203.0.113.40", 1, TH_ACK);
	struct run_out out = once(b, ack);
	__u8 *d = out.data;

	c->key = key4(V4(192, 0, 2, 250), 1, V4(203, 0, 113, 40));
	flows_del(b->e.flows_fd, &c->key);
	c->d = ack;
	if (out.retval == XDP_TX && out.len >= 14 + 20 + sizeof(struct ebb_rescue_hdr) &&
	    d[12] == 0x08 && d[13] == 0 && d[23] == EBB_RESCUE_PROTO) {
		struct ebb_rescue_hdr *h = (void *)(d + 34);
		struct ebb_rescue_cand *c0 = (void *)(h + 1);
		__u32 inner = 34 + (__u32)EBB_RESCUE_LEN(h->count);
		__u8 lb[4];

		if (!h->count || inner > out.len)
			die("claim: the balancer's rescue has %u candidates in %u bytes", h->count,
			    out.len);
		memcpy(lb, d + 26, 4);
		memcpy(d + 26, c0->addr, 4); /* from the owner ... */
		memcpy(d + 30, lb, 4); /* ... back to the balancer */
		d[24] = d[25] = 0;
		put16(d + 24, csum_fold(csum_add(0, d + 14, 20)));
		h->hop = 0;
		h->flags |= EBB_RESCUE_F_CLAIM;
		memcpy(d, (h->lb_mac[0] | h->lb_mac[1] | h->lb_mac[2] | h->lb_mac[3] | h->lb_mac[4] |
			   h->lb_mac[5]) ? h->lb_mac : LB_MAC, 6);
		memcpy(d + 6, c0->mac, 6);
		memcpy(c->pkt, d, out.len);
		c->len = out.len;
		c->hdr_len = inner;
		note("claim: the balancer's rescue (%u candidates) turned into the owner's claim",
		     h->count);
	} else {
		struct rframe f = { .osrc = RNODE_A, .odst = LB_ADDR4, .edst = LB_MAC,
				    .esrc = RNODE_A_MAC, .flags = EBB_RESCUE_F_CLAIM,
				    .lb_mac = LB_MAC, .ncand = 2, .cand_addr = { RNODE_A, RNODE_B },
				    .cand_mac = { RNODE_A_MAC, RNODE_B_MAC },
				    .cand_id = { (__u16)node_id_of(b, RNODE_A),
						 (__u16)node_id_of(b, RNODE_B) },
				    .inner = ack };

		c->len = build_rescue4(&f, c->pkt, &c->hdr_len);
		note("claim: this build sent no rescue (verdict %u): a claim built by hand, cookie 0",
		     out.retval);
	}
}

/* Each reason's packet count, of the counters the row's path counts in. */
static int reason_counts(const struct bcase *c, __u64 *v)
{
	int n = c->lb != LB_NODE ? EBB_R_MAX : c->rs == RS_DECAP ? EBB_D_MAX : EBB_N_MAX;
	int fd = c->rs == RS_DECAP ? dstats_fd : nstats_fd, ncpu = libbpf_num_possible_cpus();

	for (int r = 0; r < n; r++) {
		struct ebb_reason_counter rc = {}, per[512];
		__u32 key = (__u32)r;

		v[r] = 0;
		if (c->lb != LB_NODE) {
			if (!ebb_reason_sum(&insts[c->inst].e, (__u32)r, &rc))
				v[r] = rc.packets;
			continue;
		}
		if (ncpu > 512 || bpf_map_lookup_elem(fd, &key, per))
			die("node program counters: %s", strerror(errno));
		for (int i = 0; i < ncpu; i++)
			v[r] += per[i].packets;
	}
	return n;
}

static const char *reason_of(const struct bcase *c, int r)
{
	if (c->lb != LB_NODE)
		return ebb_reason_name((__u32)r);
	return c->rs == RS_DECAP ? ebb_decap_reason_name((__u32)r) : ebb_node_reason_name((__u32)r);
}

static const char *verdict_name(__u32 v)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
					     "XDP_REDIRECT" };

	return v < 5 ? names[v] : "?";
}

/* How much the path grows or shrinks its frame: one run, before its wrapper is made. */
static void probe_size(struct bcase *c, int prog_fd)
{
	struct run_out out;

	run_ns(prog_fd, c->pkt, c->len, 1, &out);
	c->grow = out.len > c->len ? (__u32)(out.len - c->len) : 0;
	c->shrink = out.len < c->len ? (__u32)(c->len - out.len) : 0;
	if (c->grow || c->shrink)
		c->restore = true;
}

/*
 * Issue 16's rows at EBB_MAX_VIPS VIPs: the VIPS instance holds 1024 VIPs
 * (100.64.0.0-100.64.3.255:80/tcp, each with table size 1021 for its one node) and 2 x 64k
 * established flows, all to node 198.51.100.11: 192.0.2.40:0-65535 to the first VIP
 * (hit_vips_1) and 192.0.2.41:P to VIP P & 1023 (hit_vips_1024, the wrapper rewriting the
 * destination). Same table, node and flow count: only the number of VIPs the hits touch
 * (their vips_by_id entries, counters and Maglev tables) differs.
 */
static void setup_vips(void)
{
	struct inst *in = &insts[VIPS];
	static __u32 ids[EBB_MAX_VIPS];
	__u64 now = ebb_now_ns();
	double t0 = now_s();
	__u32 node;
	char vip[32];

	set_flood_rate(in, RATE_ARMED);
	for (__u32 k = 0; k < EBB_MAX_VIPS; k++) {
		struct ebb_vip_opts o = { .fwd = EBB_FWD_DSR, .table_size = 1021 };
		struct ebb_vip_key key;
		struct ebb_err err = {};

		snprintf(vip, sizeof(vip), "100.64.%u.%u:80/tcp", k >> 8, k & 255);
		key = vip_key(vip);
		if (ebb_vip_add(&in->e, &key, &o, &err))
			die("vip add %s: %s", vip, err.msg);
		add_node(in, "198.51.100.11", 1, vip);
		ids[k] = vip_id_of(in, vip);
	}
	node = node_id_of(in, "198.51.100.11");
	for (__u32 i = 0; i < 65536; i++) {
		struct ebb_flow v = { .node_id = (__u16)node, .vip_id = (__u16)ids[0],
				      .seen = ebb_seen_tick(now) };
		struct ebb_flow_key k = key4(SEQ_VIPS1, (__u16)i, VIPS_BASE);

		if (flows_put(in->e.flows_fd, &k, &v))
			die("cannot pin a flow of the first VIP");
		k = key4(SEQ_VIPS, (__u16)i, VIPS_BASE + (i & (EBB_MAX_VIPS - 1)));
		v.vip_id = (__u16)ids[i & (EBB_MAX_VIPS - 1)];
		if (flows_put(in->e.flows_fd, &k, &v))
			die("cannot pin a flow of VIP %u", i & (EBB_MAX_VIPS - 1));
	}
	note("%u VIPs and 2 x 65536 flows in the vips instance in %.2f s", EBB_MAX_VIPS,
	     now_s() - t0);
	build(case_by_id("hit_vips_1"), tcp4("192.0.2.40", "100.64.0.0", 0, TH_ACK));
	build(case_by_id("hit_vips_1024"), tcp4("192.0.2.41", "100.64.0.0", 0, TH_ACK));
}

static void setup(void)
{
	struct inst *s = &insts[SMALL], *b = &insts[BIG];
	__u32 big_flows = opt_quick ? (MILLION / 8 + 262144) : (MILLION + 262144);
	__u32 fill = opt_quick ? MILLION / 8 : MILLION;
	__u32 ids[3];
	struct run_out out;
	struct bcase *c;

	note("loading the balancer three times under %s (flow tables of %u, %u and %u entries)",
	     opt_bpffs, EBB_FLOW_TABLE_SIZE, big_flows, fill);
	inst_load(s, SMALL, "small", EBB_FLOW_TABLE_SIZE);
	inst_load(b, BIG, "big", big_flows);
	/* full: a table at capacity, as an LB's is in its steady state: each insert evicts */
	inst_load(&insts[FULL], FULL, "full", fill);
	inst_load(&insts[VIPS], VIPS, "vips", EBB_FLOW_TABLE_SIZE);
	if (opt_base_na) {
		snprintf(base_na, sizeof(base_na), "%s", opt_base_na);
	} else if (!opt_base) {
		snprintf(base_na, sizeof(base_na), "no base object (--base)");
	} else if (!inst_load_from(&insts[BASE_SMALL], BASE_SMALL, "base-small", EBB_FLOW_TABLE_SIZE,
				   opt_base, s->obj) &&
		   !inst_load_from(&insts[BASE_BIG], BASE_BIG, "base-big", big_flows, opt_base, s->obj)) {
		base_check_layout();
		note("the base commit's balancer (%s) loaded twice beside it, maps of its own",
		     opt_base_label ?: opt_base);
	}
	if (base_na[0]) {
		note("no base column: %s", base_na);
		for (int k = BASE_SMALL; k <= BASE_BIG; k++)
			if (insts[k].obj) {
				if (insts[k].e.bpffs[0]) /* its maps were taken: else none to close */
					ebb_close(&insts[k].e);
				bpf_object__close(insts[k].obj);
				insts[k].obj = NULL;
			}
	}
	{
		struct floor_tx_bpf *f = floor_tx_bpf__open_and_load();

		if (!f)
			die("cannot load floor_tx");
		floor_fd = bpf_program__fd(f->progs.xdp_swap_tx);
	}
	adjust_fd = load_adjust_pair(20);

	for (int k = 0; k < N_INST; k++) {
		struct inst *in = &insts[k];

		if (!in->obj || k == VIPS) /* VIPs of its own (setup_vips) */
			continue;
		/* The guard armed, as it is by default (and as Katran's always is), but out of reach
		 * but where a path asks for it: a run offers 100k new flows in well under a second. */
		set_flood_rate(in, RATE_ARMED);
		add_vip(in, "203.0.113.10:80/tcp", EBB_FWD_DSR);
		add_vip(in, "[2001:db8:100::10]:80/tcp", EBB_FWD_DSR);
		add_node(in, "198.51.100.11", 1, "203.0.113.10:80/tcp");
		add_node(in, "198.51.100.12", 2, "203.0.113.10:80/tcp");
		add_node(in, "198.51.100.13", 3, "203.0.113.10:80/tcp");
		add_node(in, "2001:db8::11", 1, "[2001:db8:100::10]:80/tcp");
		add_node(in, "2001:db8::12", 2, "[2001:db8:100::10]:80/tcp");
		add_node(in, "2001:db8::13", 3, "[2001:db8:100::10]:80/tcp");
	}
	/* small: a VIP with a node to drain (its flows still hit; a VIP of its own, so that the
	 * other paths see no drain), and the drain-latency VIP's nodes. The base commit's small
	 * instance gets all that small gets, so that its hit is timed in the same state. */
	for (int k = 0; k < 2; k++) {
		struct inst *in = &insts[k ? BASE_SMALL : SMALL];

		if (!in->obj)
			continue;
		add_vip(in, "203.0.113.12:80/tcp", EBB_FWD_DSR);
		add_node(in, "198.51.100.11", 1, "203.0.113.12:80/tcp");
		add_node(in, "198.51.100.14", 4, "203.0.113.12:80/tcp");
		add_vip(in, "203.0.113.20:80/tcp", EBB_FWD_DSR);
		add_node(in, "198.51.100.15", 5, "203.0.113.20:80/tcp");
		add_node(in, "198.51.100.16", 6, "203.0.113.20:80/tcp");
		add_node(in, "198.51.100.17", 7, "203.0.113.20:80/tcp");
	}

	/* big: 1M established flows 192.0.2.0-15:0-65535 -> VIP, over the three nodes */
	if (node_id_of(s, "198.51.100.11") != node_id_of(b, "198.51.100.11") ||
	    node_id_of(b, "198.51.100.11") != node_id_of(&insts[FULL], "198.51.100.11") ||
	    (insts[BASE_BIG].obj &&
	     node_id_of(b, "198.51.100.13") != node_id_of(&insts[BASE_BIG], "198.51.100.13")))
		die("the instances number their nodes differently");
	ids[0] = node_id_of(b, "198.51.100.11");
	ids[1] = node_id_of(b, "198.51.100.12");
	ids[2] = node_id_of(b, "198.51.100.13");
	{
		double t0 = now_s();

		fill_flows(b->e.flows_fd, SEQ_1M, 0, fill, VIP4, vip_id_of(b, "203.0.113.10:80/tcp"),
			   ids, 3);
		fill_flows(insts[FULL].e.flows_fd, SEQ_1M, 0, fill, VIP4,
			   vip_id_of(&insts[FULL], "203.0.113.10:80/tcp"), ids, 3);
		if (insts[BASE_BIG].obj)
			fill_flows(insts[BASE_BIG].e.flows_fd, SEQ_1M, 0, fill, VIP4,
				   vip_id_of(&insts[BASE_BIG], "203.0.113.10:80/tcp"), ids, 3);
		note("filled the big and the full tables with %u flows each in %.2f s (this build's "
		     "table pinned through include/ebb_flowtable.h, a base build's LRU by batch update)",
		     fill, now_s() - t0);
	}
	case_by_id("hit_1m_spread")->mask = fill - 1;
	case_by_id("hit_1m_inorder")->mask = fill - 1;
	if (opt_quick) /* say what the big table holds */
		for (size_t i = 0; i < N_CASES; i++) {
			static char labels[N_CASES][32];
			const char *t = cases[i].table;

			if (strncmp(t, "1M", 2))
				continue;
			snprintf(labels[i], sizeof(labels[i]), "%uk%s", fill / 1024, t + 2);
			cases[i].table = labels[i];
		}

	/* the frames */
	build(case_by_id("pass_not_vip"), tcp4("198.51.100.1", "198.51.100.50", 40000, TH_ACK));
	out = once(s, tcp4("198.51.100.1", "203.0.113.10", 40000, TH_SYN));
	if (out.retval != XDP_TX) {
		show_reasons(s);
		die("the SYN of the established flow was not forwarded (verdict %u)", out.retval);
	}
	if (insts[BASE_SMALL].obj &&
	    once(&insts[BASE_SMALL], tcp4("198.51.100.1", "203.0.113.10", 40000, TH_SYN)).retval != XDP_TX)
		snprintf(base_na, sizeof(base_na), "the base balancer did not forward the hit's SYN");
	build(case_by_id("hit"), tcp4("198.51.100.1", "203.0.113.10", 40000, TH_ACK));
	{
		/* one flow from the middle of the big table */
		static char src[32];
		__u32 i = fill / 2 + 4242;

		snprintf(src, sizeof(src), "192.0.2.%u", i >> 16);
		build(case_by_id("hit_1m"), tcp4(src, "203.0.113.10", (uint16_t)(i & 0xffff), TH_ACK));
	}
	build(case_by_id("hit_1m_spread"), tcp4("192.0.2.0", "203.0.113.10", 1, TH_ACK));
	build(case_by_id("hit_1m_inorder"), tcp4("192.0.2.0", "203.0.113.10", 1, TH_ACK));
	build(case_by_id("new_flow"), tcp4("192.0.2.64", "203.0.113.10", 1, TH_SYN));
	build(case_by_id("new_flow_small"), tcp4("192.0.2.64", "203.0.113.10", 1, TH_SYN));
	build(case_by_id("new_flow_full"), tcp4("192.0.2.64", "203.0.113.10", 1, TH_SYN));
	build(case_by_id("second_chance"), tcp4("192.0.2.128", "203.0.113.10", 1, TH_ACK));
	build(case_by_id("syn_flood"), tcp4("192.0.2.192", "203.0.113.10", 1, TH_SYN));
	build(case_by_id("syn_flood_window"), tcp4("192.0.2.192", "203.0.113.10", 1, TH_SYN));
	build(case_by_id("syn_flood_window_open"), tcp4("192.0.2.192", "203.0.113.10", 1, TH_SYN));
	build(case_by_id("syn_flood_window_busy"), tcp4("192.0.2.192", "203.0.113.10", 1, TH_SYN));
	build(case_by_id("syn_flood_small"), tcp4("192.0.2.192", "203.0.113.10", 1, TH_SYN));

	/* The method check: the same hit as "hit", but through the wrapper, over two flows (its
	 * counter alternates between them), so that the subtraction can be compared with a plain
	 * repeat of the same path. */
	fill_flows(s->e.flows_fd, SEQ_CHECK, 0, 2, VIP4, vip_id_of(s, "203.0.113.10:80/tcp"), ids, 1);
	build(case_by_id("hit_wrapped"), tcp4("192.0.2.32", "203.0.113.10", 0, TH_ACK));

	/* a flow of 198.51.100.14, which then drains */
	for (int i = 0; i < 2; i++) {
		struct inst *in = &insts[i ? BASE_SMALL : SMALL];
		struct ebb_flow_key k = key4(CLIENT4, 40002, V4(203, 0, 113, 12));
		struct ebb_flow v = { .seen = ebb_seen_tick(ebb_now_ns()) };
		struct ebb_addr a = addr_of("198.51.100.14");
		struct ebb_err err = {};

		if (!in->obj)
			continue;
		v.node_id = (__u16)node_id_of(in, "198.51.100.14");
		v.vip_id = (__u8)vip_id_of(in, "203.0.113.12:80/tcp");
		if (flows_put(in->e.flows_fd, &k, &v))
			die("cannot pin the draining node's flow: %s", strerror(errno));
		if (ebb_node_set_state(&in->e, &a, EBB_NODE_DRAINING, 0, &err))
			die("drain: %s", err.msg);
		build(case_by_id("hit_draining"), tcp4("198.51.100.1", "203.0.113.12", 40002, TH_ACK));
	}
	out = once(s, tcp6("2001:db8::1", "2001:db8:100::10", 40001, TH_SYN));
	if (out.retval != XDP_TX)
		die("the IPv6 SYN was not forwarded (verdict %u)", out.retval);
	build(case_by_id("hit_ipv6"), tcp6("2001:db8::1", "2001:db8:100::10", 40001, TH_ACK));
	build(case_by_id("icmp4_too_big"),
	      (struct pkt_desc){ .family = 4, .src = "198.51.100.254", .dst = "203.0.113.10",
				 .proto = IPPROTO_ICMP, .icmp_type = 3, .icmp_code = 4,
				 .quote = &reply4 });
	build(case_by_id("icmp6_too_big"),
	      (struct pkt_desc){ .family = 6, .src = "2001:db8::fe", .dst = "2001:db8:100::10",
				 .proto = IPPROTO_ICMPV6, .icmp_type = 2, .quote = &reply6 });

	/* ipip: measurable once libebb accepts `fwd ipip` (the datapath grows the frame) */
	c = case_by_id("ipip_hit");
	{
		struct ebb_vip_opts o = { .fwd = EBB_FWD_IPIP, .encap_src4 = htonl(V4(198, 51, 100, 2)) };
		struct ebb_vip_key k = vip_key("203.0.113.30:80/tcp");
		struct ebb_err err = {};

		if (ebb_vip_add(&s->e, &k, &o, &err)) {
			c->na = "not implemented yet";
			note("ipip: %s", err.msg);
		} else {
			add_node(s, "198.51.100.11", 1, "203.0.113.30:80/tcp");
			if (insts[BASE_SMALL].obj && !ebb_vip_add(&insts[BASE_SMALL].e, &k, &o, &err))
				add_node(&insts[BASE_SMALL], "198.51.100.11", 1, "203.0.113.30:80/tcp");
			out = once(s, tcp4("198.51.100.1", "203.0.113.30", 40003, TH_SYN));
			if (out.retval != XDP_TX || out.len <= 64) {
				c->na = "ipip VIP did not encapsulate";
			} else {
				c->grow = out.len - 64;
				build(c, tcp4("198.51.100.1", "203.0.113.30", 40003, TH_ACK));
			}
		}
	}
	if (s->e.settings_fd < 0) {
		case_by_id("syn_flood")->na = "not implemented yet";
		case_by_id("syn_flood_small")->na = "not implemented yet";
	}

	/* Steady state: no VIP's tables changed in the last minutes, so a bare SYN is placed
	 * without asking the flow table (ebb_vip.rings_changed). --rings-settling keeps them
	 * "just changed": every SYN asks it, as for 135 s after a change. */
	rescue_setup(b);
	if (insts[BASE_BIG].obj) /* the same VIPs, nodes and settings, as far as its maps go */
		rescue_setup(&insts[BASE_BIG]);
	/* The retry window's row: a real scale-out of VIP4 by a fourth node and back, made after
	 * its first window closed, marks the slots a fourth node takes (ring_changes): a quarter.
	 * Its tables are then as before. (--rings-settling: every slot stays marked, as the VIP's
	 * creation left them.) */
	if (!opt_settling && insts[BIG].e.ring_changes_fd >= 0) {
		struct ebb_vip_key k = vip_key("203.0.113.10:80/tcp");
		struct ebb_addr a = addr_of("198.51.100.14");
		struct ebb_err err = {};

		set_window(&insts[BIG], false);
		add_node(&insts[BIG], "198.51.100.14", 4, "203.0.113.10:80/tcp");
		if (ebb_node_del(&insts[BIG].e, &a, &k, false, &err))
			die("node del 198.51.100.14: %s", err.msg);
	} else if (insts[BIG].e.ring_changes_fd < 0) {
		case_by_id("syn_flood_window")->na = "no ring_changes in this build";
		case_by_id("syn_flood_window_open")->na = "no ring_changes in this build";
		case_by_id("syn_flood_window_busy")->na = "no ring_changes in this build";
	}
	for (int k = 0; k < N_INST && !opt_settling; k++) {
		struct ebb_vip_key keys[EBB_MAX_VIPS], *prev = NULL;

		if (!insts[k].obj)
			continue;
		__u32 long_ago = ebb_seen_tick(ebb_now_ns()) - (__u32)EBB_SYN_RETRY_TICKS - 600;
		int n = 0;

		/* keys first: an update re-links a hash entry, which a key walk must not see */
		while (n < EBB_MAX_VIPS && !bpf_map_get_next_key(insts[k].e.vips_fd, prev, &keys[n])) {
			prev = &keys[n];
			n++;
		}
		for (int i = 0; i < n; i++) {
			struct ebb_vip v;

			if (bpf_map_lookup_elem(insts[k].e.vips_fd, &keys[i], &v))
				continue;
			v.rings_changed = long_ago;
			if (ebb_vip_store(&insts[k].e, &keys[i], &v, BPF_EXIST))
				die("cannot age the VIP's rings_changed: %s", strerror(errno));
		}
	}

	setup_vips();

	/* Issue 14's rows: the rescue (a fresh client per run, as the second chance), the claim
	 * of its owner, the node program in a network namespace of the bench's own */
	c = case_by_id("rescue");
	build(c, tcp4("192.0.2.96", "203.0.113.40", 1, TH_ACK));
	c->vip = V4(203, 0, 113, 40);
	/* the node-program hit's flow, pinned by its SYN (in the base too: a base that does not
	 * forward it leaves that cell's counters wrong, and the cell n/a) */
	out = once(b, tcp4("198.51.100.1", "203.0.113.40", 40004, TH_SYN));
	if (out.retval != XDP_TX) {
		show_reasons(b);
		die("the SYN of the node-program hit was not forwarded (verdict %u)", out.retval);
	}
	if (insts[BASE_BIG].obj)
		once(&insts[BASE_BIG], tcp4("198.51.100.1", "203.0.113.40", 40004, TH_SYN));
	build(case_by_id("hit_node_prog"), tcp4("198.51.100.1", "203.0.113.40", 40004, TH_ACK));
	probe_size(c, b->prog_fd);
	delete_flows(b->e.flows_fd, c->base, 0, 2, c->vip);
	claim_frame(b);
	probe_size(case_by_id("claim"), b->prog_fd);
	flows_del(b->e.flows_fd, &case_by_id("claim")->key);
	{
		__u16 port = 0;

		node_na = node_setup(&port);
		if (!node_na)
			node_frames(port);
		for (size_t i = 0; i < N_CASES; i++) {
			if (cases[i].lb != LB_NODE)
				continue;
			if (node_na)
				cases[i].na = node_na;
			else
				probe_size(&cases[i], node_fd);
		}
		if (!node_na)
			note("node program loaded (its own maps), a real connection %s:%u -> %s:80 in the "
			     "bench's own network namespace", NODE_CLI4, port, NODE_VIP4);
	}

	/* Katran beside: each cell paired with its ebb twin, the same frame (its own flow for the
	 * 1-flow hits: Katran has one VIP, ebb's ipip one is another address) */
	for (size_t i = 0; i < N_CASES; i++) {
		cases[i].twin_idx = -1;
		cases[i].base_idx = -1;
	}
	if (opt_katran)
		katran_setup(b, fill);
	for (size_t i = 0; i < N_CASES; i++) {
		struct bcase *k = &cases[i], *t;

		if (k->lb != LB_KATRAN)
			continue;
		if (!opt_katran) {
			k->na = "no Katran (KATRAN_SRC unset)";
			continue;
		}
		t = case_by_id(k->twin);
		if (t->na) {
			k->na = "its ebb twin is n/a";
			continue;
		}
		t->twin_idx = (int)i;
		k->twin_idx = (int)(t - cases);
		if (k->check == CHK_K_HIT && !k->wrapped) {
			__u8 syn[PKT_MAX];
			struct pkt_desc d = tcp4("198.51.100.1", "203.0.113.10", 40000, TH_SYN);
			struct pkt_layout lay = build_frame(&d, LB_MAC, CLIENT_MAC, syn);

			run_ns(K.prog_fd, syn, lay.len, 1, &out);
			if (out.retval != XDP_TX)
				die("Katran: the SYN of the 1-flow hit was not forwarded (%u)", out.retval);
			build(k, tcp4("198.51.100.1", "203.0.113.10", 40000, TH_ACK));
		} else {
			k->d = t->d;
			memcpy(k->pkt, t->pkt, t->len);
			k->len = t->len;
		}
		if (k->mask)
			k->mask = t->mask;
		k->scramble = t->scramble;
	}

	/* the flow-table prototype's cells: the same frames as their twins */
	if (opt_flowtable)
		ft_setup(fill);
	for (size_t i = 0; i < N_CASES; i++) {
		struct bcase *k = &cases[i], *t;

		if (k->lb != LB_FT)
			continue;
		if (!opt_flowtable) {
			k->na = "no prototype (--flowtable DIR)";
			continue;
		}
		t = case_by_id(k->twin);
		if (ft_insts[k->ft].na || t->na) {
			k->na = ft_insts[k->ft].na ? ft_insts[k->ft].na : "its twin is n/a";
			continue;
		}
		k->twin_idx = (int)(t - cases);
		if (k->expect == XDP_DROP) { /* a miss: an ACK of flows never pinned */
			build(k, tcp4("192.0.2.128", "203.0.113.10", 1, TH_ACK));
			continue;
		}
		k->d = t->d;
		memcpy(k->pkt, t->pkt, t->len);
		k->len = t->len;
		k->mask = t->mask;
		k->scramble = t->scramble;
	}

	/* the base commit's cells: the same frames as their twins */
	for (size_t i = 0; i < N_CASES; i++) {
		struct bcase *k = &cases[i], *t;

		if (k->lb != LB_BASE)
			continue;
		if (base_na[0]) {
			k->na = base_na;
			continue;
		}
		t = case_by_id(k->twin);
		if (t->na) {
			k->na = "its twin is n/a";
			continue;
		}
		t->base_idx = (int)i;
		k->twin_idx = (int)(t - cases);
		k->d = t->d;
		memcpy(k->pkt, t->pkt, t->len);
		k->len = t->len;
		k->mask = t->mask;
		k->scramble = t->scramble;
	}

	/* wrappers */
	for (size_t i = 0; i < N_CASES; i++) {
		struct bcase *k = &cases[i];
		struct wrap_spec ws = { .rewrite = k->wrapped, .base = k->base, .mask = k->mask,
					.scramble = k->scramble,
					.restore = k->restore, .len = (__u32)k->len, .grow = k->grow,
					.dst_base = k->vip, .dst_mask = k->vip_mask };

		if (k->na || !(k->wrapped || k->restore))
			continue;
		if (k->wrapped) {
			/* IP id 0x4000, checksum again: the wrapper keeps it valid as it rewrites
			 * the source (a bad header checksum is dropped, cheaply, by the balancer) */
			__u8 *ip = k->pkt + 14;
			__u32 sum = 0;

			ip[4] = 0x40;
			ip[5] = 0;
			ip[10] = ip[11] = 0;
			for (int w = 0; w < 20; w += 2)
				sum += (__u32)ip[w] << 8 | ip[w + 1];
			while (sum >> 16)
				sum = (sum & 0xffff) + (sum >> 16);
			ip[10] = (__u8)(~sum >> 8);
			ip[11] = (__u8)~sum;
		}
		ws.hdr = k->pkt;
		ws.hdr_len = k->hdr_len ? k->hdr_len : 14;
		ws.shrink = k->shrink;
		ws.target_fd = k->lb == LB_KATRAN ? (k->kat_flood ? K.prog_flood_fd : K.prog_fd) :
			       case_prog(k);
		k->w = wrap_load(&ws);
		ws.target_fd = floor_fd;
		k->wf = wrap_load(&ws);
	}
}

/* ---- checking that each path is the path it claims to be ---- */
static struct ebb_counters vip_counters(struct inst *in)
{
	struct ebb_counters c = {}, v;

	/* all VIPs together: each path's packet goes to one of them */
	for (__u32 id = 0; id < EBB_MAX_VIPS; id++) {
		if (ebb_counters_sum(in->e.vip_stats_fd, id, &v))
			continue;
		c.packets += v.packets;
		c.new_flows += v.new_flows;
		c.second_chance += v.second_chance;
		c.unpinned += v.unpinned;
	}
	return c;
}

static __u64 k_last_found; /* Katran new flows: how many of the last run's were in its LRU */

static void run_katran(struct bcase *c, __u32 repeat, struct run_out *out, double *ns,
		       double *wf_ns)
{
	if (c->check == CHK_K_NEW)
		k_reset_conn_rate();
	if (c->wrapped || c->restore) {
		if (c->reset)
			wrap_reset(&c->w);
		*ns = run_ns(c->w.prog_fd, c->pkt, c->len, repeat, out);
		if (c->reset)
			k_last_found = k_delete(c->base, repeat);
		if (wf_ns)
			*wf_ns = run_ns(c->wf.prog_fd, c->pkt, c->len, repeat, NULL);
	} else {
		*ns = run_ns(K.prog_fd, c->pkt, c->len, repeat, out);
	}
}

static void run_case(struct bcase *c, __u32 repeat, struct run_out *out, double *ns, double *wf_ns)
{
	struct inst *in = c->lb == LB_NODE ? NULL : &insts[c->inst];

	if (c->lb == LB_KATRAN)
		return run_katran(c, repeat, out, ns, wf_ns);

	if (c->flood_rate)
		set_flood_rate(in, c->flood_rate);
	if (c->window && !opt_settling)
		set_window(in, true);
	if (c->syn_recent != SR_AS_IS)
		set_syn_recent(in, c->syn_recent);
	if (c->del_key) /* the claimed flow is new to each batch */
		flows_del(in->e.flows_fd, &c->key);
	if (c->wrapped || c->restore) {
		if (c->reset)
			wrap_reset(&c->w);
		*ns = run_ns(c->w.prog_fd, c->pkt, c->len, repeat, out);
		if (c->reset && c->lb == LB_FT)
			ft_restore(c, repeat);
		else if (c->reset)
			delete_flows(in->e.flows_fd, c->base, 0, repeat, c->vip ? c->vip : VIP4);
		if (wf_ns)
			*wf_ns = run_ns(c->wf.prog_fd, c->pkt, c->len, repeat, NULL);
	} else {
		*ns = run_ns(case_prog(c), c->pkt, c->len, repeat, out);
	}
	if (c->flood_rate)
		set_flood_rate(in, RATE_ARMED);
	if (c->window && !opt_settling)
		set_window(in, false);
}

/* A row of issue 14: whatever path this build takes, every one of its packets must take the
 * same one (one reason counts them all), and a rescue must leave as one; the path is named in
 * the table. Anything else makes the row n/a (with the counters on stderr), not the bench. */
static void verify_soft(struct bcase *c)
{
	static char why[N_CASES][160];
	__u64 before[EBB_R_SLOTS + EBB_N_SLOTS], after[EBB_R_SLOTS + EBB_N_SLOTS];
	const __u32 n = 8;
	struct run_out out;
	int nr, got = -1;
	bool mixed = false;
	char *w = why[c - cases];
	double ns;

	nr = reason_counts(c, before);
	run_case(c, n, &out, &ns, NULL);
	reason_counts(c, after);
	for (int r = 0; r < nr; r++) {
		if (after[r] - before[r] == n && got < 0)
			got = r;
		else if (after[r] != before[r])
			mixed = true;
	}
	if (got < 0 || mixed) {
		snprintf(w, sizeof(why[0]), "its packets took no one path (%s)", verdict_name(out.retval));
		for (int r = 0; r < nr; r++)
			if (after[r] != before[r])
				fprintf(stderr, "  %s: %s +%llu\n", c->id, reason_of(c, r),
					(unsigned long long)(after[r] - before[r]));
		c->na = w;
		note("%s: n/a, %s", c->id, w);
		return;
	}
	if (c->lb != LB_NODE && got == EBB_R_RESCUED &&
	    (out.len < 34 || out.data[23] != EBB_RESCUE_PROTO)) {
		snprintf(w, sizeof(why[0]), "counted as rescued, but no rescue header came out");
		c->na = w;
		return;
	}
	snprintf(c->measured, sizeof(c->measured), "%s, %s%s%s%s", verdict_name(out.retval),
		 reason_of(c, got), got == c->want_reason ? "" : " (not ",
		 got == c->want_reason ? "" : reason_of(c, c->want_reason),
		 got == c->want_reason ? "" : ": not in this build)");
	if (c->lb != LB_NODE && got == EBB_R_RESCUED) /* the header's count of candidates */
		snprintf(c->measured + strlen(c->measured), sizeof(c->measured) - strlen(c->measured),
			 ", %u candidates", out.data[34 + 3]);
	note("%s: %s", c->id, c->measured);
}

/* A Katran cell: its verdict, the frame it sent (IPIP toward a real, via the gateway's MAC) and
 * its own counters (LRU misses) or flow table say it took the path it is timed on. */
static void verify_katran(struct bcase *c)
{
	const __u32 n = 8;
	struct k_lb_stats m0 = k_stat(K_LRU_MISS_CNTR), m1, fb;
	struct run_out out;
	__u64 pinned = 0;
	double ns;
	bool ok;

	run_case(c, n, &out, &ns, NULL);
	m1 = k_stat(K_LRU_MISS_CNTR);
	fb = k_stat(K_FALLBACK_LRU_CNTR);
	ok = out.retval == c->expect;
	if (c->expect == XDP_TX)
		ok = ok && out.len == c->len + 20 && out.data[23] == IPPROTO_IPIP &&
		     !memcmp(out.data, K_GW_MAC, 6) && fb.v1 == 0;
	switch (c->check) {
	case CHK_K_PASS:
		ok = ok && out.len == c->len;
		break;
	case CHK_K_HIT:
		ok = ok && m1.v1 == m0.v1 && m1.v2 == m0.v2;
		break;
	case CHK_K_NEW:
		ok = ok && m1.v1 - m0.v1 == n && k_last_found == n;
		break;
	case CHK_K_FLOOD:
		/* the first SYN of a fresh rate window may be pinned, the rest must not */
		pinned = k_delete(c->base, n);
		ok = ok && m1.v1 - m0.v1 == n && pinned <= 1;
		break;
	}
	if (!ok)
		die("%s: Katran did not take the path measured (verdict %u, len %u, SYN misses +%llu, "
		    "other misses +%llu, flows found %llu, fallback LRU %llu)", c->id, out.retval,
		    out.len, (unsigned long long)(m1.v1 - m0.v1), (unsigned long long)(m1.v2 - m0.v2),
		    (unsigned long long)(c->check == CHK_K_NEW ? k_last_found : pinned),
		    (unsigned long long)fb.v1);
}

/* A prototype cell: its verdict, and its counters moved as the path says (all hits; all pinned). */
static void verify_ft(struct bcase *c)
{
	const struct ft_inst *f = &ft_insts[c->ft];
	struct ft_stats a = ft_stats_of(f), z;
	struct run_out out;
	double ns;
	const __u32 n = 8;

	run_case(c, n, &out, &ns, NULL);
	z = ft_stats_of(f);
	if (out.retval != c->expect)
		c->na = "wrong verdict";
	else if (c->expect == XDP_DROP && z.misses - a.misses != n)
		c->na = "its flows did not all miss";
	else if (!ft_variants[c->ft].none && c->reset && z.inserted - a.inserted != n)
		c->na = "its new flows were not all pinned";
	else if (!ft_variants[c->ft].none && !c->reset && c->expect == XDP_TX &&
		 z.hits - a.hits != n)
		c->na = "its established flows did not all hit";
	if (c->na)
		note("%s: %s (hits +%llu, pinned +%llu)", c->id, c->na,
		     (unsigned long long)(z.hits - a.hits),
		     (unsigned long long)(z.inserted - a.inserted));
}

static void verify(struct bcase *c)
{
	struct inst *in = &insts[c->inst];

	if (c->lb == LB_KATRAN)
		return verify_katran(c);
	if (c->lb == LB_FT)
		return verify_ft(c);
	if (c->soft)
		return verify_soft(c);

	struct ebb_counters before = vip_counters(in), after;
	struct ebb_reason_counter r0 = {}, r1 = {};
	struct run_out out;
	double ns;
	const __u32 n = 8;
	bool ok = true;
	__u64 t0, t1;

	ebb_reason_sum(&in->e, EBB_R_PASS_NOT_VIP, &r0);
	t0 = ebb_now_ns();
	if (c->check == CHK_UNPINNED) {
		/* open the flood window: the guard is on from the second new flow of the second */
		set_flood_rate(in, 1);
		once(in, tcp4("192.0.2.255", "203.0.113.10", 1, TH_SYN));
		before = vip_counters(in);
	}
	run_case(c, n, &out, &ns, NULL);
	t1 = ebb_now_ns();
	after = vip_counters(in);
	ebb_reason_sum(&in->e, EBB_R_PASS_NOT_VIP, &r1);
	if (out.retval != c->expect)
		ok = false;
	switch (opt_no_verify ? CHK_NONE : c->check) {
	case CHK_PASS_NOT_VIP:
		ok = ok && r1.packets - r0.packets == n;
		break;
	case CHK_HIT:
		ok = ok && after.packets - before.packets == n && after.new_flows == before.new_flows;
		break;
	case CHK_NEW:
		ok = ok && after.new_flows - before.new_flows == n &&
		     after.second_chance == before.second_chance && after.unpinned == before.unpinned;
		break;
	case CHK_SECOND:
		ok = ok && after.second_chance - before.second_chance == n;
		break;
	case CHK_UNPINNED:
		/* At a rate of 1 the guard lets the first new flow of each 1 s window be pinned.
		 * The window the SYN above opened (or found open) can end among the n: then one
		 * SYN opens the next and is pinned. Less than 1 s spans at most two windows. */
		ok = ok && after.new_flows - before.new_flows == n &&
		     (after.unpinned - before.unpinned == n ||
		      (after.unpinned - before.unpinned == n - 1 && t1 - t0 < 1000000000ULL));
		break;
	}
	if (!ok)
		show_reasons(in);
	if (!ok && c->lb == LB_BASE) {
		/* the base commit may count differently: no column, not a failed bench */
		c->na = "the base commit's balancer did not take this path (counters on stderr)";
		note("%s: %s", c->id, c->na);
		return;
	}
	if (!ok)
		die("%s: the packet did not take the path measured (verdict %u, packets +%llu, new +%llu, second +%llu, unpinned +%llu)",
		    c->id, out.retval, (unsigned long long)(after.packets - before.packets),
		    (unsigned long long)(after.new_flows - before.new_flows),
		    (unsigned long long)(after.second_chance - before.second_chance),
		    (unsigned long long)(after.unpinned - before.unpinned));
}

/* ---- the rounds ---- */
static double adjust_one_ns(double floor_ns)
{
	struct bcase *c = case_by_id("hit");
	double t = run_ns(adjust_fd, c->pkt, c->len, opt_repeat, NULL);

	return (t - floor_ns) / 2;
}

/* One timing of one path, bracketed by the floor (and, wrapped, by the wrapper on the floor). */
static void measure(struct bcase *c, const __u8 *floor_pkt, size_t floor_len)
{
	bool wrapped = c->wrapped || c->restore;
	__u32 repeat = wrapped ? opt_wrap_repeat : opt_repeat;
	double f0, f1, t, w0 = 0, w1 = 0, fl, ns;

	f0 = run_ns(floor_fd, floor_pkt, floor_len, opt_repeat, NULL);
	if (wrapped)
		w0 = run_ns(c->wf.prog_fd, c->pkt, c->len, repeat, NULL);
	run_case(c, repeat, NULL, &t, NULL);
	if (wrapped)
		w1 = run_ns(c->wf.prog_fd, c->pkt, c->len, repeat, NULL);
	f1 = run_ns(floor_fd, floor_pkt, floor_len, opt_repeat, NULL);
	fl = (f0 + f1) / 2;
	ns = wrapped ? t - (w0 + w1) / 2 + fl : t;
	if (c->grow || c->shrink) /* the wrapper moved the head back once per run: not the path's */
		ns -= adjust_one_ns(fl);
	c->ns[c->n] = ns;
	c->ratio[c->n++] = ns / fl;
	floor_all[n_floor++] = f0;
	floor_all[n_floor++] = f1;
}

static void rounds(void)
{
	const __u8 *floor_pkt = case_by_id("hit")->pkt;
	size_t floor_len = case_by_id("hit")->len;

	for (int r = 0; r < opt_rounds; r++) {
		for (size_t i = 0; i < N_CASES; i++) {
			struct bcase *c = &cases[i], *k;

			struct bcase *g[4 + N_FT * 2];
			int ng = 0;

			if (c->na || c->lb == LB_KATRAN || c->lb == LB_BASE || c->lb == LB_FT)
				continue;
			/* with its Katran and base twins back to back; which goes first turns by
			 * round */
			g[ng++] = c;
			if (c->twin_idx >= 0 && !(k = &cases[c->twin_idx])->na)
				g[ng++] = k;
			if (c->base_idx >= 0 && !(k = &cases[c->base_idx])->na)
				g[ng++] = k;
			for (size_t j = 0; j < N_CASES; j++) /* the prototype's, beside their twin */
				if (cases[j].lb == LB_FT && !cases[j].na && cases[j].twin_idx == (int)i)
					g[ng++] = &cases[j];
			for (int j = 0; j < ng; j++)
				measure(g[(j + r) % ng], floor_pkt, floor_len);
		}
		note("round %d/%d: floor %.1f ns, hit %.1f ns, new flow %.1f ns", r + 1, opt_rounds,
		     floor_all[n_floor - 1], case_by_id("hit")->ns[r], case_by_id("new_flow")->ns[r]);
	}
}

/* ---- control plane ---- */
static json_object *maglev_times(void)
{
	static const int sizes[] = { 10, 100, 1000 };
	json_object *arr = json_object_new_array();
	__u32 *table = calloc(EBB_RING_SIZE, sizeof(*table));

	if (!table)
		die("out of memory");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int n = sizes[s];
		struct ebb_maglev_node *nodes = calloc(n, sizeof(*nodes));
		double t[9];
		const int runs = 9;

		if (!nodes)
			die("out of memory");
		for (int i = 0; i < n; i++) {
			/* 2001:db8::/32 addresses, weight 100, as `node add` makes them */
			__u8 a[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				       (__u8)(i >> 8), (__u8)i };

			nodes[i].id = (__u32)i + 1;
			nodes[i].weight = EBB_DEFAULT_WEIGHT;
			memcpy(nodes[i].seed, a, 16);
			nodes[i].seed[16] = EBB_FAMILY_V6;
		}
		for (int r = 0; r < runs; r++) {
			double t0 = now_s();

			ebb_maglev_build(nodes, n, table);
			t[r] = (now_s() - t0) * 1e3;
		}
		json_object *o = json_object_new_object();

		json_object_object_add(o, "nodes", json_object_new_int(n));
		json_object_object_add(o, "ms", json_object_new_double(median(t, runs)));
		json_object_array_add(arr, o);
		note("maglev build, %d nodes: %.2f ms", n, median(t, runs));
		free(nodes);
	}
	free(table);
	return arr;
}

/*
 * Issue 16's memory figure, IPv4: a table of this build's layout with nb buckets (a
 * BPF_F_MMAPABLE array of struct ebb_ft_bucket, as the loader makes `flows`), n random IPv4
 * flows pinned into it through the header's own pin (as the datapath pins: least loaded of
 * two buckets, else the way seen least recently evicted). A pin succeeds if it took an empty
 * way (or its own: a repeated key); it fails if it evicted another flow or lost its way.
 * Fills m: its memlock and what it holds after the n pins.
 */
struct ft_mem {
	__u32 buckets;
	long long memlock;
	__u64 inserts, failed, held;
};

static __u64 rnd_next(__u64 *s)
{
	__u64 z = (*s += 0x9e3779b97f4a7c15ULL); /* splitmix64: a fixed sequence, every run */

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int ft_mem_fill(__u32 nb, __u64 n, struct ft_mem *m)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_MMAPABLE);
	long page = sysconf(_SC_PAGESIZE);
	size_t bytes = ((size_t)nb * sizeof(struct ebb_ft_bucket) + page - 1) / page * page;
	__u32 tick = ebb_ft_tick_of_ns(ebb_now_ns());
	struct ebb_ft_bucket *t;
	__u64 seed = 16;
	int fd;

	memset(m, 0, sizeof(*m));
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bench_ft_mem", sizeof(__u32),
			    sizeof(struct ebb_ft_bucket), nb, &mo);
	if (fd < 0)
		return -1;
	t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (t == MAP_FAILED) {
		close(fd);
		return -1;
	}
	m->buckets = nb;
	m->memlock = fdinfo_field(fd, "memlock:");
	m->inserts = n;
	for (__u64 i = 0; i < n; i++) {
		__u64 r = rnd_next(&seed);
		/* a random client (address, port) of VIP4:80 */
		struct ebb_flow_key k = key4((__u32)r, (__u16)(r >> 32), VIP4);
		struct ebb_ft_where w = ebb_ft_where_key(&k, nb);
		struct ebb_ft_scan st;
		int way, ret;

		ebb_ft_pin_prepare(&st, w.fp, ebb_ft_keyword4(&k),
				   ebb_ft_entry(w.fp, 1, 1 + (__u32)(i % 3), 0, tick), tick);
		ret = ebb_ft_pin(&t[w.b[0]], &t[w.b[1]], &st, &way);
		if (ret != EBB_FT_INSERTED && ret != EBB_FT_UPDATED)
			m->failed++;
	}
	for (__u32 b = 0; b < nb; b++)
		for (int w = 0; w < EBB_FT_WAYS; w++)
			m->held += t[b].entry[w].word != 0;
	munmap(t, bytes);
	close(fd);
	return 0;
}

static json_object *ft_mem_json(const struct ft_mem *m)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "buckets", json_object_new_int64(m->buckets));
	json_object_object_add(o, "load", json_object_new_double(
		(double)m->inserts / ((double)m->buckets * EBB_FT_WAYS)));
	json_object_object_add(o, "memlock_bytes", json_object_new_int64(m->memlock));
	json_object_object_add(o, "inserts", json_object_new_int64((long long)m->inserts));
	json_object_object_add(o, "failed", json_object_new_int64((long long)m->failed));
	json_object_object_add(o, "success_pct", json_object_new_double(
		100.0 * (double)(m->inserts - m->failed) / (double)m->inserts));
	json_object_object_add(o, "held", json_object_new_int64((long long)m->held));
	json_object_object_add(o, "bytes_per_flow", json_object_new_double(
		(double)m->memlock / (double)m->held));
	return o;
}

/*
 * Memory per flow (issue 16: <= 32 bytes per IPv4 flow at the load where 99.9 % of the bench's
 * 1M random inserts succeed; Katran 129.6 B per entry; IPv6 stated), all in this run:
 *  - ipv4: the table `prog attach ... flows 1048576` makes (EBB_FT_BUCKETS), 1M random flows
 *    pinned into it: memlock / the flows it then holds;
 *  - ipv4_999: the smallest table (in buckets, by bisection) where 99.9 % of the same 1M inserts
 *    still succeed: the load the issue names, what the layout itself needs;
 *  - ipv6: flows6, an LRU hash of 40-byte keys and 8-byte entry words, 1M entries (preallocated:
 *    its memlock is the same full or empty): memlock / entries;
 *  - katran: its flow LRU for the bench's CPU, the size of ebb's big table: memlock / entries.
 */
static json_object *flow_memory(void)
{
	const __u64 n = opt_quick ? MILLION / 8 : MILLION;
	json_object *o = json_object_new_object(), *v6 = json_object_new_object();
	struct ft_mem m, best;
	__u32 lo, hi;
	long long mem6;
	int fd;

	if (ft_mem_fill(EBB_FT_BUCKETS(n), n, &m))
		die("cannot make a flow table of %u buckets: %s", EBB_FT_BUCKETS(n), strerror(errno));
	json_object_object_add(o, "ipv4", ft_mem_json(&m));
	note("flow table memory, IPv4: %u buckets for %llu flows, %lld bytes memlock; %llu random "
	     "inserts, %llu failed (%.3f %%), %llu held: %.1f bytes per flow", m.buckets,
	     (unsigned long long)n, m.memlock, (unsigned long long)m.inserts,
	     (unsigned long long)m.failed, 100.0 * (double)m.failed / (double)m.inserts,
	     (unsigned long long)m.held, (double)m.memlock / (double)m.held);
	/* bisection on buckets: hi succeeds (>= 99.9 %), lo does not */
	best = m;
	hi = m.buckets;
	lo = (__u32)(n / EBB_FT_WAYS); /* load 1.0: far more than 0.1 % fail */
	if (m.failed * 1000 > n) {
		lo = hi;
		hi = hi * 2;
		if (ft_mem_fill(hi, n, &best))
			die("cannot make a flow table of %u buckets", hi);
	}
	while (hi - lo > hi / 400) { /* to 0.25 % of the size */
		__u32 mid = lo + (hi - lo) / 2;

		if (ft_mem_fill(mid, n, &m))
			die("cannot make a flow table of %u buckets", mid);
		if (m.failed * 1000 <= n) {
			hi = mid;
			best = m;
		} else {
			lo = mid;
		}
	}
	json_object_object_add(o, "ipv4_999", ft_mem_json(&best));
	note("flow table memory, IPv4 at 99.9 %% success: %u buckets (load %.3f), %.1f bytes per flow",
	     best.buckets, (double)n / ((double)best.buckets * EBB_FT_WAYS),
	     (double)best.memlock / (double)best.held);

	fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "bench_flows6", sizeof(struct ebb_flow_key),
			    sizeof(union ebb_ft_entry), (__u32)n, NULL);
	if (fd < 0)
		die("cannot create an IPv6 flow table of %llu: %s", (unsigned long long)n, strerror(errno));
	mem6 = fdinfo_field(fd, "memlock:");
	close(fd);
	json_object_object_add(v6, "entries", json_object_new_int64((long long)n));
	json_object_object_add(v6, "key_bytes", json_object_new_int(sizeof(struct ebb_flow_key)));
	json_object_object_add(v6, "value_bytes", json_object_new_int(sizeof(union ebb_ft_entry)));
	json_object_object_add(v6, "memlock_bytes", json_object_new_int64(mem6));
	json_object_object_add(v6, "bytes_per_flow", json_object_new_double((double)mem6 / (double)n));
	json_object_object_add(o, "ipv6", v6);
	note("flow table memory, IPv6 (flows6, LRU hash): %.1f bytes per flow", (double)mem6 / (double)n);
	if (opt_katran)
		json_object_object_add(o, "katran", katran_memory());
	return o;
}

/*
 * The census at 1M flows (issue 16: <= 10 ms): ebb's own (user/lib/census.c) on an instance's
 * mapped table holding the bench's 1M established flows, every one live at these timeouts (so
 * a pass clears none and each pass does the same work): the full instance's, the table `flows
 * 1048576` makes, and the big one's, sized for 1,310,720 as Katran's LRU beside it (a census
 * reads every bucket: a quarter more). Opening it (mapping the table, and writing each page
 * once) is timed apart: ebbd does it once per table.
 */
/* One pass of batch lookups over an IPv6 flow table, as the census's IPv6 part reads flows6:
 * CPU ms. The kernel walks every bucket of the hash, so it costs even when empty. */
static double flows6_pass_cpu_ms(int fd)
{
	static struct ebb_flow_key keys[4096];
	static __u64 vals[4096];
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	struct ebb_flow_key out;
	double c0 = thread_cpu_ns();
	void *in = NULL;

	for (;;) {
		__u32 count = 4096;
		int err = bpf_map_lookup_batch(fd, in, &out, keys, vals, &count, &bo);

		if (err)
			break; /* ENOENT: the last batch */
		in = &out;
	}
	return (thread_cpu_ns() - c0) / 1e6;
}

static json_object *census_1m(struct inst *b)
{
	json_object *o = json_object_new_object();
	struct ebb_census *census = NULL;
	struct ebb_census_io *io;
	double wall[9], cpu[9], cpu6[9], t0;
	int err;

	t0 = now_s();
	err = ebb_census_open(&b->e, &census);
	if (err) {
		json_object_object_add(o, "na", json_object_new_string(strerror(-err)));
		return o;
	}
	json_object_object_add(o, "open_ms", json_object_new_double((now_s() - t0) * 1e3));
	json_object_object_add(o, "table", json_object_new_string(b->name));
	json_object_object_add(o, "buckets", json_object_new_int64(EBB_FT_BUCKETS(b->flows_max)));
	json_object_object_add(o, "sized_for", json_object_new_int64(b->flows_max));
	io = ebb_census_io(census);
	for (__u32 v = 0; v < EBB_MAX_VIPS; v++)
		io->vips[v] = (struct ebb_census_vip){ .tcp_idle_ns = 900000000000ULL,
						       .udp_idle_ns = 30000000000ULL,
						       .fin_ns = 10000000000ULL };
	for (int r = 0; r < 9; r++) {
		double c0;

		io->now_ns = ebb_now_ns();
		c0 = thread_cpu_ns();
		t0 = now_s();
		ebb_census_run(census);
		wall[r] = (now_s() - t0) * 1e3;
		cpu[r] = (thread_cpu_ns() - c0) / 1e6;
	}
	json_object_object_add(o, "flows", json_object_new_int64((long long)io->live_total));
	json_object_object_add(o, "cleared", json_object_new_int64((long long)io->cleared));
	if (b->e.flows6_fd >= 0) { /* the part of it that reads flows6 (empty here: no IPv6 flow) */
		for (int r = 0; r < 9; r++)
			cpu6[r] = flows6_pass_cpu_ms(b->e.flows6_fd);
		json_object_object_add(o, "flows6_cpu_ms", json_object_new_double(median(cpu6, 9)));
	}
	json_object_object_add(o, "passes", json_object_new_int(9));
	json_object_object_add(o, "ms", json_object_new_double(median(wall, 9)));
	json_object_object_add(o, "cpu_ms", json_object_new_double(median(cpu, 9)));
	note("census at %llu flows (user/lib/census.c, the %s table, %u buckets): %.2f ms wall, "
	     "%.2f ms CPU, median of 9; its pass over the empty flows6 alone: %.2f ms CPU",
	     (unsigned long long)io->live_total, b->name, EBB_FT_BUCKETS(b->flows_max),
	     median(wall, 9), median(cpu, 9), b->e.flows6_fd >= 0 ? median(cpu6, 9) : 0.0);
	ebb_census_close(census);
	return o;
}

static void add_ms(json_object *o, const char *key, double ms)
{
	json_object_object_add(o, key, json_object_new_double(ms));
}

/* Runs argv; stdout into buf (if given). Returns the exit status, -1 if it could not run. */
static int run_cmd(char *const argv[], char *buf, size_t len, int timeout_s, double *secs)
{
	int pipefd[2], status = 0;
	double t0 = now_s();
	size_t got = 0;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(pipefd[1], 1);
		if (devnull >= 0)
			dup2(devnull, 0);
		close(pipefd[0]);
		alarm(timeout_s);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		char tmp[4096];
		ssize_t r = read(pipefd[0], tmp, sizeof(tmp));

		if (r <= 0)
			break;
		if (buf && got + 1 < len) {
			size_t take = (size_t)r < len - 1 - got ? (size_t)r : len - 1 - got;

			memcpy(buf + got, tmp, take);
			got += take;
		}
	}
	if (buf)
		buf[got] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	if (secs)
		*secs = now_s() - t0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The drain probe: a SYN offered again and again (its flow forgotten each time, so the
 * datapath places it afresh) until it stops, or starts, going to one node. */
struct probe {
	int prog_fd, flows_fd;
	__u8 pkt[PKT_MAX];
	size_t len;
	struct ebb_flow_key key;
	__u8 mac[6];
	bool want_on; /* wait until it goes to mac (true) or elsewhere (false) */
	volatile bool stop, ready;
	double t; /* when it changed */
	long probes;
};

static void *probe_thread(void *arg)
{
	struct probe *p = arg;

	p->t = 0;
	p->probes = 0;
	while (!p->stop) {
		struct run_out out;

		flows_del(p->flows_fd, &p->key);
		run_ns(p->prog_fd, p->pkt, p->len, 1, &out);
		p->probes++;
		p->ready = true;
		if (out.retval == XDP_TX && (memcmp(out.data, p->mac, 6) == 0) == p->want_on) {
			p->t = now_s();
			break;
		}
	}
	return NULL;
}

/* How long after t0 the probe saw the change; runs `action` in between. */
static double probe_change(struct probe *p, bool want_on, int (*action)(void *), void *arg,
			   double *action_s)
{
	pthread_t th;
	double t0, t1;

	p->want_on = want_on;
	p->stop = false;
	p->ready = false;
	if (pthread_create(&th, NULL, probe_thread, p))
		die("pthread_create");
	while (!p->ready)
		sched_yield();
	t0 = now_s();
	if (action(arg))
		die("the drain action failed");
	t1 = now_s();
	while (!p->t && now_s() - t0 < 5)
		usleep(100);
	p->stop = true;
	pthread_join(th, NULL);
	if (action_s)
		*action_s = t1 - t0;
	return p->t ? p->t - t0 : -1;
}

struct state_action {
	const char *addr;
	__u8 state;
	bool use_ebbctl;
};

static int do_state(void *arg)
{
	struct state_action *a = arg;

	if (a->use_ebbctl) {
		char *argv[] = { (char *)opt_ebbctl, "-q", "--bpffs", insts[SMALL].dir, "node",
				 a->state == EBB_NODE_DRAINING ? "drain" : "activate",
				 (char *)a->addr, NULL };

		return run_cmd(argv, NULL, 0, 30, NULL);
	}
	struct ebb_addr ad = addr_of(a->addr);
	struct ebb_err err = {};

	return ebb_node_set_state(&insts[SMALL].e, &ad, a->state, 0, &err);
}

static json_object *drain_latency(void)
{
	struct inst *s = &insts[SMALL];
	json_object *o = json_object_new_object();
	struct probe p = { .prog_fd = s->prog_fd, .flows_fd = s->e.flows_fd };
	struct pkt_desc d = tcp4("198.51.100.1", "203.0.113.20", 41000, TH_SYN);
	struct pkt_layout lay = build_frame(&d, LB_MAC, CLIENT_MAC, p.pkt);
	struct run_out out;
	char node[32];
	const int runs = 5;
	bool have_ctl = opt_ebbctl && access(opt_ebbctl, X_OK) == 0;

	p.len = lay.len;
	p.key = key4(CLIENT4, 41000, V4(203, 0, 113, 20));
	run_ns(s->prog_fd, p.pkt, p.len, 1, &out);
	flows_del(s->e.flows_fd, &p.key);
	if (out.retval != XDP_TX || out.data[0] != 0x02 || out.data[4] != 0x01)
		die("drain probe: not forwarded to a bench node");
	memcpy(p.mac, out.data, 6);
	snprintf(node, sizeof(node), "198.51.100.1%d", out.data[5]);

	for (int mode = 0; mode < 2; mode++) {
		bool ctl = mode == 0;
		double lat[16], cmd[16], back[16];
		int n = 0;

		if (ctl && !have_ctl) {
			json_object_object_add(o, "ebbctl", json_object_new_string("n/a (no ebbctl)"));
			continue;
		}
		for (int r = 0; r < runs; r++) {
			struct state_action drain = { node, EBB_NODE_DRAINING, ctl };
			struct state_action act = { node, EBB_NODE_ACTIVE, ctl };

			lat[n] = probe_change(&p, false, do_state, &drain, &cmd[n]);
			back[n] = probe_change(&p, true, do_state, &act, NULL);
			if (lat[n] < 0 || back[n] < 0)
				die("drain probe: the datapath never changed (%s)", ctl ? "ebbctl" : "libebb");
			lat[n] *= 1e3;
			cmd[n] *= 1e3;
			back[n] *= 1e3;
			n++;
		}
		json_object *m = json_object_new_object();

		json_object_object_add(m, "drain_to_datapath_ms", json_object_new_double(median(lat, n)));
		json_object_object_add(m, "command_ms", json_object_new_double(median(cmd, n)));
		json_object_object_add(m, "activate_to_datapath_ms",
				       json_object_new_double(median(back, n)));
		json_object_object_add(m, "runs", json_object_new_int(n));
		json_object_object_add(o, ctl ? "ebbctl" : "libebb", m);
		note("drain via %s: datapath after %.2f ms, command %.2f ms", ctl ? "ebbctl" : "libebb",
		     median(lat, n), median(cmd, n));
	}
	json_object_object_add(o, "probe", json_object_new_string(
		"a SYN offered in a loop, its flow deleted before each, until its Maglev slot no longer sends it to the node"));
	return o;
}

/* What one ring swap costs, in its two parts: building and filling a fresh table, and the
 * update of the outer map-in-map (the syscall waits for an RCU grace period there). The drain
 * VIP's new-flow ring is swapped for an identical one, so the datapath does not change. */
static json_object *ring_swap(void)
{
	struct inst *s = &insts[SMALL];
	static const char *const addrs[] = { "198.51.100.15", "198.51.100.16", "198.51.100.17" };
	struct ebb_maglev_node nodes[3] = {};
	struct ebb_vip_key vk = vip_key("203.0.113.20:80/tcp");
	json_object *o = json_object_new_object();
	__u32 *table = calloc(EBB_RING_SIZE, sizeof(*table)), *keys = calloc(EBB_RING_ELEMS, sizeof(*keys));
	struct ebb_ring_elem *elems = calloc(EBB_RING_ELEMS, sizeof(*elems));
	double fill[9], upd[9], mm[9];
	__u32 inner_flags = 0;
	struct ebb_vip vip;
	const int runs = 9;
	__u32 ring_id;

	if (!table || !keys || !elems)
		die("out of memory");
	if (ebb_vip_find(&s->e, &vk, &vip))
		die("no drain VIP");
	ring_id = EBB_RING_NEW(vip.id);
	for (int i = 0; i < 3; i++) {
		struct ebb_addr a = addr_of(addrs[i]);

		nodes[i].id = node_id_of(s, addrs[i]);
		nodes[i].weight = EBB_DEFAULT_WEIGHT;
		memcpy(nodes[i].seed, a.a, 16);
		nodes[i].seed[16] = a.family;
	}
	for (__u32 i = 0; i < EBB_RING_ELEMS; i++)
		keys[i] = i;
	for (int r = 0; r < runs; r++) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		/* the flags of the datapath's inner-map template (mmapable or not) */
		LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = inner_flags);
		__u32 count = EBB_RING_ELEMS;
		double t0 = now_s(), t1;
		int inner;

		ebb_maglev_build(nodes, 3, table);
		for (__u32 i = 0; i < EBB_RING_SIZE; i++)
			elems[i / 4].node[i % 4] = (__u16)table[i];
		inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ebb_ring", 4, sizeof(*elems), EBB_RING_ELEMS, &mo);
		if (inner < 0 || bpf_map_update_batch(inner, keys, elems, &count, &bo))
			die("ring swap: %s", strerror(errno));
		t1 = now_s();
		if (bpf_map_update_elem(s->e.rings_fd, &ring_id, &inner, BPF_ANY)) {
			if (errno == EINVAL && inner_flags != (BPF_F_MMAPABLE | BPF_F_INNER_MAP) && !r) {
				/* a datapath whose rings are mmapable; then one whose tables are
				 * sized per VIP (layout 8) */
				inner_flags = inner_flags ? BPF_F_MMAPABLE | BPF_F_INNER_MAP : BPF_F_MMAPABLE;
				close(inner);
				r--;
				continue;
			}
			die("ring swap: %s", strerror(errno));
		}
		upd[r] = (now_s() - t1) * 1e3;
		fill[r] = (t1 - t0) * 1e3;
		close(inner);
	}
	/* The same table written through mmap (BPF_F_MMAPABLE) instead of a batch update: what
	 * rings.c would spend if the inner maps were mmapable (a suggestion, not what it does). */
	for (int r = 0; r < runs; r++) {
		LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_MMAPABLE);
		size_t len = ((size_t)EBB_RING_ELEMS * sizeof(*elems) + 4095) & ~(size_t)4095;
		double t0 = now_s();
		int inner;
		void *m;

		ebb_maglev_build(nodes, 3, table);
		inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ebb_ring", 4, sizeof(*elems), EBB_RING_ELEMS, &mo);
		if (inner < 0)
			die("mmapable ring: %s", strerror(errno));
		m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, inner, 0);
		if (m == MAP_FAILED)
			die("mmap ring: %s", strerror(errno));
		for (__u32 i = 0; i < EBB_RING_SIZE; i++)
			((__u16 *)m)[i] = (__u16)table[i];
		munmap(m, len);
		mm[r] = (now_s() - t0) * 1e3;
		close(inner);
	}
	add_ms(o, "fill_ms", median(fill, runs));
	add_ms(o, "fill_mmap_ms", median(mm, runs));
	add_ms(o, "outer_update_ms", median(upd, runs));
	note("ring swap: build+fill %.2f ms (through mmap: %.2f ms), outer map update %.2f ms",
	     median(fill, runs), median(mm, runs), median(upd, runs));
	free(table);
	free(keys);
	free(elems);
	return o;
}

static json_object *agent_cycle(void)
{
	static const __u32 sizes[] = { 1000000, 100000, 10000 };
	struct inst *b = &insts[BIG];
	json_object *arr = json_object_new_array();
	char out[65536];
	bool have = opt_ebbd && access(opt_ebbd, X_OK) == 0;
	const char *why = have ? NULL : "ebbd not built";
	__u64 top = opt_quick ? MILLION / 8 : MILLION, have_flows;
	struct ebb_census *census = NULL;

	/* The census again, in this process (no ebbd start-up in the figure): user space reading
	 * the mmapped table (user/lib/census.c), which also clears finished and idle entries (none
	 * here: every bench flow is live at these timeouts). */
	if (ebb_census_open(&b->e, &census))
		census = NULL;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		json_object *e;
		__u32 n = sizes[s];

		if (n > top)
			continue;
		/* the table keeps bench flows 0..n-1 of the 1M: delete the ones above */
		delete_flows(b->e.flows_fd, SEQ_1M, n, top - n, VIP4);
		top = n;
		e = json_object_new_object();
		have_flows = count_flows(b->e.flows_fd);
		json_object_object_add(e, "flows", json_object_new_int64((long long)have_flows));
		if (!why) {
			char *argv[] = { "unshare", "--net", (char *)opt_ebbd, "--once", "--bpffs",
					 b->dir, NULL };
			double secs = 0;
			int rc = run_cmd(argv, out, sizeof(out), 120, &secs);
			json_object *doc = rc == 0 ? json_tokener_parse(out) : NULL;
			json_object *ms = NULL;

			if (!doc || !json_object_object_get_ex(doc, "cycle_ms", &ms)) {
				why = rc == 0 ? "ebbd has no --once yet" : "ebbd --once failed";
				note("agent: %s (exit %d)", why, rc);
			} else {
				json_object_object_add(e, "cycle_ms",
						       json_object_new_double(json_object_get_double(ms)));
				json_object_object_add(e, "process_ms", json_object_new_double(secs * 1e3));
				json_object *walk = NULL, *by = NULL, *wcpu = NULL;

				if (json_object_object_get_ex(doc, "walk_cpu_ms", &wcpu))
					json_object_object_add(e, "census_cpu_ms", json_object_new_double(
								       json_object_get_double(wcpu)));

				if (json_object_object_get_ex(doc, "walk_ms", &walk))
					json_object_object_add(e, "census_ms", json_object_new_double(
								       json_object_get_double(walk)));
				if (json_object_object_get_ex(doc, "counted_by", &by))
					json_object_object_add(e, "counted_by", json_object_new_string(
								       json_object_get_string(by)));
				note("agent cycle at %llu flows: %.1f ms, of which the pass over the flows "
				     "%.1f ms, %.1f ms CPU (%s)", (unsigned long long)have_flows,
				     json_object_get_double(ms), walk ? json_object_get_double(walk) : -1,
				     wcpu ? json_object_get_double(wcpu) : -1,
				     by ? json_object_get_string(by) : "?");
			}
			if (doc)
				json_object_put(doc);
		}
		if (why)
			json_object_object_add(e, "na", json_object_new_string(why));
		if (census) {
			struct ebb_census_io *io = ebb_census_io(census);
			double full[5];

			for (int v = 0; v < EBB_MAX_VIPS; v++) /* every bench flow live */
				io->vips[v] = (struct ebb_census_vip){ .tcp_idle_ns = 900000000000ULL,
								       .udp_idle_ns = 30000000000ULL,
								       .fin_ns = 10000000000ULL };
			for (int r = 0; r < 5; r++) {
				double t0;

				io->now_ns = ebb_now_ns();
				t0 = now_s();
				ebb_census_run(census);
				full[r] = (now_s() - t0) * 1e3;
			}
			json_object_object_add(e, "census_inproc_ms", json_object_new_double(median(full, 5)));
			note("census in process at %llu flows (%llu live, %llu cleared): %.1f ms, median of 5",
			     (unsigned long long)have_flows, (unsigned long long)io->live_total,
			     (unsigned long long)io->cleared, median(full, 5));
		}
		{
			/* What `node show` and `vip show` count (libebb, as ebbctl calls it): live
			 * flows per node, per VIP (issue 16; tools/bench/show.sh times the commands
			 * at 4M flows) */
			__u64 *live = calloc(EBB_MAX_NODES, sizeof(*live));
			double ns[5], vs[5];
			int bad = !live;

			for (int r = 0; r < 5 && !bad; r++) {
				double t0 = now_s();

				bad |= ebb_live_flows(&b->e, live, NULL);
				ns[r] = (now_s() - t0) * 1e3;
				t0 = now_s();
				bad |= ebb_live_flows_per_vip(&b->e, live);
				vs[r] = (now_s() - t0) * 1e3;
			}
			if (!bad) {
				json_object_object_add(e, "node_show_count_ms", json_object_new_double(median(ns, 5)));
				json_object_object_add(e, "vip_show_count_ms", json_object_new_double(median(vs, 5)));
				note("node show's and vip show's counts in process at %llu flows: %.1f ms, %.1f ms, "
				     "median of 5", (unsigned long long)have_flows, median(ns, 5), median(vs, 5));
			}
			free(live);
		}
		json_object_array_add(arr, e);
	}
	ebb_census_close(census);
	return arr;
}

/* ---- output ---- */
static json_object *case_json(const struct bcase *c, double floor_ns)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(c->id));
	json_object_object_add(o, "path", json_object_new_string(c->label));
	json_object_object_add(o, "table", json_object_new_string(c->table));
	json_object_object_add(o, "bytes", json_object_new_int((int)c->len));
	json_object_object_add(o, "method", json_object_new_string(
		c->restore && !c->grow && !c->shrink ?
			"restoring wrapper (headers written back) + tail call, wrapper cost subtracted" :
		c->restore ? "restoring wrapper + tail call, wrapper and adjust_head cost subtracted" :
		c->wrapped ? "wrapper + tail call (distinct packet per run), wrapper cost subtracted" :
			     "repeat"));
	if (c->target > 0)
		json_object_object_add(o, "target_ratio", json_object_new_double(c->target));
	json_object_object_add(o, "lb", json_object_new_string(c->lb == LB_KATRAN ? "katran" :
							       c->lb == LB_BASE ? "base" :
							       c->lb == LB_NODE ? "node" :
							       c->lb == LB_FT ? "flowtable" : "ebb"));
	if (c->twin)
		json_object_object_add(o, "twin", json_object_new_string(c->twin));
	if (c->measured[0])
		json_object_object_add(o, "measured", json_object_new_string(c->measured));
	if (c->na) {
		json_object_object_add(o, "na", json_object_new_string(c->na));
		return o;
	}
	double ratio = median(c->ratio, c->n);
	json_object *rounds = json_object_new_array();

	for (int i = 0; i < c->n; i++)
		json_object_array_add(rounds, json_object_new_double(c->ns[i]));
	json_object_object_add(o, "ns", json_object_new_double(median(c->ns, c->n)));
	json_object_object_add(o, "ratio", json_object_new_double(ratio));
	json_object_object_add(o, "floor_ns", json_object_new_double(floor_ns));
	json_object_object_add(o, "ns_rounds", rounds);
	if (c->lb == LB_EBB && c->twin_idx >= 0 && cases[c->twin_idx].n == c->n) {
		/* beside Katran: ebb's ratio to the floor over Katran's, round by round (the two
		 * ran back to back), and the median of those */
		const struct bcase *k = &cases[c->twin_idx];
		double q[MAX_ROUNDS];
		json_object *qa = json_object_new_array();

		for (int i = 0; i < c->n; i++) {
			q[i] = c->ratio[i] / k->ratio[i];
			json_object_array_add(qa, json_object_new_double(q[i]));
		}
		json_object_object_add(o, "katran_id", json_object_new_string(k->id));
		json_object_object_add(o, "katran_ns", json_object_new_double(median(k->ns, k->n)));
		json_object_object_add(o, "katran_ratio", json_object_new_double(median(k->ratio, k->n)));
		json_object_object_add(o, "vs_katran", json_object_new_double(median(q, c->n)));
		json_object_object_add(o, "vs_katran_rounds", qa);
		if (c->kat_target > 0) {
			json_object_object_add(o, "vs_katran_target", json_object_new_double(c->kat_target));
			json_object_object_add(o, "vs_katran_met",
					       json_object_new_boolean(median(q, c->n) <= c->kat_target));
		}
	}
	if (c->lb == LB_FT && c->twin_idx >= 0 && cases[c->twin_idx].n == c->n) {
		/* beside its ebb twin and that twin's Katran cell, round by round (all ran back to
		 * back in the same round) */
		const struct bcase *t = &cases[c->twin_idx];
		const struct bcase *k = t->twin_idx >= 0 && cases[t->twin_idx].n == c->n ?
						&cases[t->twin_idx] : NULL;
		double q[MAX_ROUNDS], qk[MAX_ROUNDS];

		for (int i = 0; i < c->n; i++) {
			q[i] = c->ratio[i] / t->ratio[i];
			if (k)
				qk[i] = c->ratio[i] / k->ratio[i];
		}
		json_object_object_add(o, "vs_ebb", json_object_new_double(median(q, c->n)));
		if (k)
			json_object_object_add(o, "vs_katran", json_object_new_double(median(qk, c->n)));
	}
	if (c->lb == LB_EBB && c->base_idx >= 0 && cases[c->base_idx].n == c->n) {
		/* beside the base commit: (this x floor) / (base x floor) - 1 round by round (the
		 * two ran back to back), in %, and the median of those */
		const struct bcase *b = &cases[c->base_idx];
		double q[MAX_ROUNDS];
		json_object *qa = json_object_new_array();

		for (int i = 0; i < c->n; i++) {
			q[i] = 100 * (c->ratio[i] / b->ratio[i] - 1);
			json_object_array_add(qa, json_object_new_double(q[i]));
		}
		json_object_object_add(o, "base_id", json_object_new_string(b->id));
		json_object_object_add(o, "base_ns", json_object_new_double(median(b->ns, b->n)));
		json_object_object_add(o, "base_ratio", json_object_new_double(median(b->ratio, b->n)));
		json_object_object_add(o, "vs_base_pct", json_object_new_double(median(q, c->n)));
		json_object_object_add(o, "vs_base_rounds", qa);
		json_object_object_add(o, "vs_base_target_pct", json_object_new_double(5));
		json_object_object_add(o, "vs_base_met", json_object_new_boolean(median(q, c->n) <= 5));
	}
	rounds = json_object_new_array();
	for (int i = 0; i < c->n; i++)
		json_object_array_add(rounds, json_object_new_double(c->ratio[i]));
	json_object_object_add(o, "ratio_rounds", rounds);
	if (c->target > 0) {
		json_object_object_add(o, "met", json_object_new_boolean(ratio <= c->target));
		json_object_object_add(o, "counted", json_object_new_boolean(!c->secondary));
	}
	return o;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_xdp --bpffs DIR [--json FILE] [--rounds N] [--repeat N] [--wrap-repeat N]\n"
		"                 [--ebbctl PATH] [--ebbd PATH] [--quick] [--no-control]\n"
		"                 [--object BALANCER.bpf.o] [--only ID,ID...] [--no-verify]\n"
		"                 [--katran KATRAN.o --katran-flood KATRAN_MAX_CONN_RATE_1.o]\n"
		"                 [--rings-settling] [--flowtable DIR [--ft-load F]]\n"
		"                 [--base BALANCER.bpf.o [--base-label TEXT] | --base-na WHY]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "bpffs", required_argument, NULL, 'b' }, { "json", required_argument, NULL, 'j' },
		{ "rounds", required_argument, NULL, 'r' }, { "repeat", required_argument, NULL, 'n' },
		{ "wrap-repeat", required_argument, NULL, 'w' },
		{ "ebbctl", required_argument, NULL, 'c' }, { "ebbd", required_argument, NULL, 'd' },
		{ "quick", no_argument, NULL, 'q' }, { "no-control", no_argument, NULL, 'C' },
		{ "object", required_argument, NULL, 'o' }, { "only", required_argument, NULL, 'O' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "katran", required_argument, NULL, 'k' },
		{ "rings-settling", no_argument, NULL, 'S' },
		{ "katran-flood", required_argument, NULL, 'K' },
		{ "base", required_argument, NULL, 'B' },
		{ "base-label", required_argument, NULL, 'L' },
		{ "base-na", required_argument, NULL, 'N' },
		{ "flowtable", required_argument, NULL, 'F' },
		{ "ft-load", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	json_object *doc, *rows;
	struct ebb_err err = {};
	cpu_set_t all, one;
	double floor_ns;
	int opt;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'b': opt_bpffs = optarg; break;
		case 'j': opt_json = optarg; break;
		case 'r': opt_rounds = atoi(optarg); break;
		case 'n': opt_repeat = (__u32)atol(optarg); break;
		case 'w': opt_wrap_repeat = (__u32)atol(optarg); break;
		case 'c': opt_ebbctl = optarg; break;
		case 'd': opt_ebbd = optarg; break;
		case 'q': opt_quick = true; break;
		case 'C': opt_no_control = true; break;
		case 'o': opt_object = optarg; break;
		case 'O': opt_only = optarg; break;
		case 'V': opt_no_verify = true; break;
		case 'k': opt_katran = optarg; break;
		case 'S': opt_settling = true; break;
		case 'K': opt_katran_flood = optarg; break;
		case 'B': opt_base = optarg; break;
		case 'L': opt_base_label = optarg; break;
		case 'N': opt_base_na = optarg; break;
		case 'F': opt_flowtable = optarg; break;
		case 'l': opt_ft_load = atof(optarg); break;
		default: usage();
		}
	}
	if (!opt_bpffs || opt_bpffs[0] != '/' || strlen(opt_bpffs) > 200 || !opt_katran != !opt_katran_flood)
		usage();
	if (opt_quick) {
		opt_rounds = opt_rounds > 5 ? 5 : opt_rounds;
		opt_repeat /= 5;
		opt_wrap_repeat /= 5;
	}
	if (opt_rounds < 1 || opt_rounds > MAX_ROUNDS || !opt_repeat || !opt_wrap_repeat ||
	    opt_wrap_repeat > 262144)
		die("bad --rounds / --repeat / --wrap-repeat");

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, on_signal);
	atexit(unpin_all);
	libbpf_set_print(NULL);
	if (ebb_ensure_bpffs(opt_bpffs, &err))
		die("%s", err.msg);
	/* Pins left in this private directory by a run that was killed outright: not state
	 * anyone else uses (the directory is ours by name), and they would be reused. */
	snprintf(pin_dirs[0], sizeof(pin_dirs[0]), "%s/small", opt_bpffs);
	snprintf(pin_dirs[1], sizeof(pin_dirs[1]), "%s/big", opt_bpffs);
	snprintf(pin_dirs[2], sizeof(pin_dirs[2]), "%s/full", opt_bpffs);
	snprintf(pin_dirs[3], sizeof(pin_dirs[3]), "%s/base-small", opt_bpffs);
	snprintf(pin_dirs[4], sizeof(pin_dirs[4]), "%s/base-big", opt_bpffs);
	unpin_all();
	if (ebb_ensure_bpffs(opt_bpffs, &err))
		die("%s", err.msg);

	/* One CPU for setup and rounds: no migration between the floor and the path it brackets,
	 * one flood-guard window (it is per CPU), and Katran's per-CPU flow table is this CPU's. */
	sched_getaffinity(0, sizeof(all), &all);
	CPU_ZERO(&one);
	for (int c = CPU_SETSIZE - 1; c >= 0; c--)
		if (CPU_ISSET(c, &all)) {
			CPU_SET(c, &one);
			break;
		}
	sched_setaffinity(0, sizeof(one), &one);
	setup();
	if (opt_only)
		for (size_t i = 0; i < N_CASES; i++) {
			char list[512];

			snprintf(list, sizeof(list), ",%s,", opt_only);
			char id[64];

			/* a Katran cell runs when its ebb twin does */
			snprintf(id, sizeof(id), ",%s,", cases[i].twin ? cases[i].twin : cases[i].id);
			if (!strstr(list, id) && !cases[i].na)
				cases[i].na = "not selected (--only)";
		}
	for (size_t i = 0; i < N_CASES; i++)
		if (!cases[i].na)
			verify(&cases[i]);
	note("every path verified by its counters; %d rounds of %u (wrapped: %u) runs each",
	     opt_rounds, opt_repeat, opt_wrap_repeat);
	rounds();
	sched_setaffinity(0, sizeof(all), &all);

	floor_ns = median(floor_all, n_floor > 256 ? 256 : n_floor);
	doc = json_object_new_object();
	rows = json_object_new_array();
	json_object_object_add(doc, "floor_ns", json_object_new_double(floor_ns));
	json_object_object_add(doc, "rounds", json_object_new_int(opt_rounds));
	json_object_object_add(doc, "rings", json_object_new_string(opt_settling ?
		"just changed (bare SYNs ask the flow table)" :
		"still for minutes (bare SYNs placed without asking the flow table)"));
	json_object_object_add(doc, "repeat", json_object_new_int64(opt_repeat));
	json_object_object_add(doc, "wrap_repeat", json_object_new_int64(opt_wrap_repeat));
	json_object_object_add(doc, "flows_in_big_table",
			       json_object_new_int64(opt_quick ? MILLION / 8 : MILLION));
	{
		json_object *bo = json_object_new_object();

		if (opt_base)
			json_object_object_add(bo, "object", json_object_new_string(opt_base));
		if (opt_base_label)
			json_object_object_add(bo, "label", json_object_new_string(opt_base_label));
		if (base_na[0])
			json_object_object_add(bo, "na", json_object_new_string(base_na));
		json_object_object_add(doc, "base", bo);
	}
	if (node_na)
		json_object_object_add(doc, "node_na", json_object_new_string(node_na));
	for (size_t i = 0; i < N_CASES; i++)
		json_object_array_add(rows, case_json(&cases[i], floor_ns));
	json_object_object_add(doc, "paths", rows);
	/* issue 16's figures of the table beside its rows: also under --no-control (make
	 * bench-katran) and --only */
	json_object_object_add(doc, "census", census_1m(&insts[FULL]));
	json_object_object_add(doc, "census_big", census_1m(&insts[BIG]));
	json_object_object_add(doc, "flow_memory", flow_memory());
	if (opt_flowtable)
		json_object_object_add(doc, "flowtable",
				       ft_json(&insts[BIG], opt_quick ? MILLION / 8 : MILLION));

	if (!opt_no_control) {
		json_object *cp = json_object_new_object();

		json_object_object_add(cp, "maglev_build", maglev_times());
		json_object_object_add(cp, "drain", drain_latency());
		json_object_object_add(cp, "ring_swap", ring_swap());
		json_object_object_add(cp, "ring_size", json_object_new_int(EBB_RING_SIZE));
		json_object_object_add(cp, "agent_cycle", agent_cycle());
		json_object_object_add(doc, "control_plane", cp);
	}
	if (opt_json) {
		if (json_object_to_file_ext(opt_json, doc, JSON_C_TO_STRING_PRETTY))
			die("cannot write %s", opt_json);
	} else {
		printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY));
	}
	json_object_put(doc);
	return 0;
}
