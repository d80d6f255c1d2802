/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the BPF_PROG_TEST_RUN suites (test_datapath.c, test_encap.c, test_decap.c) share: check
 * names, running a program once, reason counters, loading a skeleton with no map pinned, and
 * the start of main(). Include it after test.h and packets.h.
 *
 * A suite that tests the balancer defines FIXTURE_BALANCER before including this file: it then
 * also gets the loaded balancer (skel, e, prog_fd), set up by balancer_setup(), the MACs its
 * frames come from and go to, a run of one frame through it, and the helpers that write and
 * read its maps through libebb.
 */
#ifndef EBB_TEST_FIXTURE_H
#define EBB_TEST_FIXTURE_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ebb.h"
#include "ebb_flowtable.h"
#include "libebb.h"
#include "packets.h"
#include "test.h"

#define BUF_MAX 2048

/* Packets of a connection, for the case tables. UDP carries FIXTURE_UDP_PAYLOAD bytes of data
 * (16 unless the suite defines it before including this file). */
#ifndef FIXTURE_UDP_PAYLOAD
#define FIXTURE_UDP_PAYLOAD 16
#endif
#define TCP4(s, sp, d, dp, fl) \
	.family = 4, .src = s, .sport = sp, .dst = d, .dport = dp, .proto = IPPROTO_TCP, .flags = fl
#define TCP6(s, sp, d, dp, fl) \
	.family = 6, .src = s, .sport = sp, .dst = d, .dport = dp, .proto = IPPROTO_TCP, .flags = fl
#define UDP4(s, sp, d, dp)                                                                  \
	.family = 4, .src = s, .sport = sp, .dst = d, .dport = dp, .proto = IPPROTO_UDP, \
	.payload = FIXTURE_UDP_PAYLOAD
#define UDP6(s, sp, d, dp)                                                                  \
	.family = 6, .src = s, .sport = sp, .dst = d, .dport = dp, .proto = IPPROTO_UDP, \
	.payload = FIXTURE_UDP_PAYLOAD

/* A check's name, "who: ...": valid until the next call. */
static inline const char *nm(const char *who, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline const char *nm(const char *who, const char *fmt, ...)
{
	static char namebuf[512];
	va_list ap;
	int n = snprintf(namebuf, sizeof(namebuf), "%s: ", who);

	va_start(ap, fmt);
	vsnprintf(namebuf + n, sizeof(namebuf) - n, fmt, ap);
	va_end(ap);
	return namebuf;
}

static inline const char *verdict_name(int v)
{
	switch (v) {
	case XDP_ABORTED: return "XDP_ABORTED";
	case XDP_DROP: return "XDP_DROP";
	case XDP_PASS: return "XDP_PASS";
	case XDP_TX: return "XDP_TX";
	case XDP_REDIRECT: return "XDP_REDIRECT";
	}
	return "?";
}

/* With EBB_SEED_DIR set, every frame a suite runs is also written there, one file per distinct
 * frame: the fuzzer (tests/fuzz) starts from the unit tests' packets. */
static inline void seed_out(const uint8_t *frame, size_t len)
{
	const char *dir = getenv("EBB_SEED_DIR");
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	char path[4096];
	FILE *f;

	if (!dir || !*dir)
		return;
	for (size_t i = 0; i < len; i++)
		h = (h ^ frame[i]) * 0x100000001b3ULL;
	snprintf(path, sizeof(path), "%s/unit-%016llx", dir, (unsigned long long)h);
	f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(frame, 1, len, f);
	fclose(f);
}

/* Runs program fd once on frame; its output in out (out_size bytes at most: -E2BIG beyond).
 * BPF_PROG_TEST_RUN wants at least ETH_HLEN bytes of data_in, so a frame shorter than an
 * Ethernet header is given as a linear part of that length (xdp_md.data_end, kernel >= 6.18)
 * followed by padding the kernel puts in a fragment: the program sees data_end - data = the
 * short frame, as it would a short linear area. */
static inline int prog_run(int fd, const uint8_t *frame, size_t len, uint8_t *out, size_t out_size,
			   size_t *out_len, __u32 *verdict)
{
	uint8_t in[BUF_MAX], obuf[BUF_MAX + 256];
	size_t pad = len < 14 ? 14 - len : 0;
	struct xdp_md ctx = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len + pad,
		    .data_out = obuf, .data_size_out = sizeof(obuf), .repeat = 1);
	int err;

	if (len + pad > sizeof(in))
		return -E2BIG;
	seed_out(frame, len);
	memcpy(in, frame, len);
	memset(in + len, 0, pad);
	if (pad) {
		ctx.data = 0;
		ctx.data_end = len;
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	err = bpf_prog_test_run_opts(fd, &opts);
	if (err)
		return -errno;
	*verdict = opts.retval;
	if (opts.data_size_out < pad)
		return -EPROTO;
	*out_len = opts.data_size_out - pad;
	if (*out_len > out_size)
		return -E2BIG;
	memcpy(out, obuf, *out_len);
	return 0;
}

/* The checks on a run: it ran (false if not: nothing more to check), with the verdict want. */
static inline bool check_run(const char *n, int err, __u32 verdict, int want)
{
	if (!ASSERT_OK(err, nm(n, "BPF_PROG_TEST_RUN")))
		return false;
	if (!ASSERT_EQ(verdict, want, nm(n, "verdict %s", verdict_name(want))))
		printf("#   got %s\n", verdict_name(verdict));
	return true;
}

/* A flow entry's `seen` (the table's 12-bit tick, include/ebb_flowtable.h) was written between
 * t0 and t1 (ebb_now_ns()): its tick lies between theirs, modulo the tick's span, t0 taken
 * 20 ms early for the coarse clock the datapath reads. */
static inline bool seen_between(const struct ebb_flow *f, __u64 t0, __u64 t1)
{
	__u32 lo = ebb_ft_tick_of_ns(t0 - 20000000ULL), hi = ebb_ft_tick_of_ns(t1);

	return ((f->seen - lo) & EBB_FT_TICK_MASK) <= ((hi - lo) & EBB_FT_TICK_MASK);
}

/* A per-CPU array of reason counters (decap_stats), summed over the CPUs. */
static inline int percpu_reason_sum(int fd, __u32 reason, struct ebb_reason_counter *sum)
{
	int ncpus = libbpf_num_possible_cpus();
	struct ebb_reason_counter per_cpu[ncpus > 0 ? ncpus : 1];

	memset(sum, 0, sizeof(*sum));
	if (ncpus <= 0 || bpf_map_lookup_elem(fd, &reason, per_cpu))
		return -1;
	for (int i = 0; i < ncpus; i++) {
		sum->packets += per_cpu[i].packets;
		sum->bytes += per_cpu[i].bytes;
	}
	return 0;
}

/* Reason counters 0..max-1 before (b) and after (a) one packet of len bytes: exactly one moved,
 * by this packet. `what` names the counters in the checks ("reason", "decap_stats"), name_of
 * their reasons. Two checks. */
static inline void check_one_reason(const char *n, const char *what, const char *(*name_of)(__u32),
				    const struct ebb_reason_counter *b,
				    const struct ebb_reason_counter *a, __u32 max, int reason,
				    size_t len)
{
	__u64 dp = a[reason].packets - b[reason].packets;
	__u64 db = a[reason].bytes - b[reason].bytes;
	bool others_ok = true;

	if (!CHECK(dp == 1 && db == len, "%s",
		   nm(n, "%s %s +1 packet, +%zu bytes", what, name_of(reason), len)))
		printf("#   got +%llu packets, +%llu bytes\n", (unsigned long long)dp,
		       (unsigned long long)db);
	for (__u32 r = 0; r < max; r++) {
		if (r == (__u32)reason || a[r].packets == b[r].packets)
			continue;
		printf("#   %s %s moved by %llu\n", what, name_of(r),
		       (unsigned long long)(a[r].packets - b[r].packets));
		others_ok = false;
	}
	CHECK(others_ok, "%s", nm(n, "no other %s counter moved", what));
}

/* No pin anywhere: the maps are declared pinned by name, and with every pin path cleared before
 * load they live and die with this process (nothing is left pinned, not even after a crash) and
 * a running ebb's maps are never touched. */
static inline void unpin_maps(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
		bpf_map__set_pin_path(map, NULL);
}

static inline bool check_unpinned(struct bpf_object *obj)
{
	struct bpf_map *map;
	bool pinned = false;

	bpf_object__for_each_map(map, obj)
		pinned |= bpf_map__is_pinned(map);
	return ASSERT_TRUE(!pinned, "setup: no map is pinned");
}

/* skel = NAME__open(), its pin paths cleared (unpin_maps), NAME__load(skel): one check each,
 * named open_what and load_what. True once loaded. */
#define OPEN_LOAD_UNPINNED(skel, NAME, open_what, load_what)                     \
	({                                                                        \
		bool _loaded = false;                                             \
		(skel) = NAME##__open();                                          \
		if (ASSERT_TRUE((skel) != NULL, open_what)) {                     \
			unpin_maps((skel)->obj);                                  \
			_loaded = ASSERT_OK(NAME##__load(skel), load_what);       \
		}                                                                 \
		_loaded;                                                          \
	})

static inline int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

/* The start of a suite's main(): TAP line by line, libbpf's debug output off. Without root
 * (BPF_PROG_TEST_RUN needs it) the suite is one skipped check: false, main() returns 0. */
static inline bool suite_start(const char *suite)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_quiet);
	if (geteuid() != 0) {
		printf("ok 1 - %s # SKIP needs root (BPF_PROG_TEST_RUN)\n", suite);
		return false;
	}
	return true;
}

#ifdef FIXTURE_BALANCER
/* ---- the balancer (bpf/balancer.bpf.c), loaded and reached through libebb ---- */
#include "balancer.skel.h"

static struct balancer_bpf *skel;
static struct ebb e;
static bool have_e;
static int prog_fd = -1;

/* Every frame a suite runs comes from the router to this host. */
static const uint8_t LB_MAC[6] = { 0x02, 0xeb, 0xb0, 0x00, 0x00, 0x01 }; /* this host */
static const uint8_t GW_MAC[6] = { 0x02, 0xcc, 0x00, 0x00, 0x00, 0xfe }; /* the router */
/* The MACs of the nodes a suite names A, B and C. */
static const uint8_t MAC_A[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t MAC_B[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b };
static const uint8_t MAC_C[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0c };

/* The flow tables, through include/ebb_flowtable.h as the datapath sees them: the IPv4 bucket
 * array mmapped (e.flows_fd), IPv6 flows in flows6 by key. A test sees an entry as a struct
 * ebb_flow (node, VIP id, flags; `seen` the entry's 12-bit tick). */
static struct ebb_ft_bucket *ft_table;
static __u32 ft_nbuckets;
static size_t ft_bytes;
static int flows6_fd = -1;

static inline bool flow_tables_open(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *m;

	ft_nbuckets = bpf_map__max_entries(skel->maps.flows);
	ft_bytes = ((size_t)ft_nbuckets * sizeof(struct ebb_ft_bucket) + page - 1) / page * page;
	m = mmap(NULL, ft_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, e.flows_fd, 0);
	if (m == MAP_FAILED)
		return false;
	ft_table = m;
	flows6_fd = bpf_map__fd(skel->maps.flows6);
	return flows6_fd >= 0;
}

static inline void flow_of_word(__u64 w, struct ebb_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->node_id = ebb_ft_node(w);
	f->vip_id = ebb_ft_vip(w);
	f->flags = ebb_ft_flags(w);
	f->seen = ebb_ft_tick(w);
}

/* The IPv4 flow's entry word and where it is (NULL: none). */
static inline __u64 *flow_slot4(const struct ebb_flow_key *k, __u64 *word)
{
	struct ebb_ft_where w = ebb_ft_where_key(k, ft_nbuckets);
	int way = ebb_ft_find(&ft_table[w.b[0]], &ft_table[w.b[1]], w.fp, ebb_ft_keyword4(k), word);

	if (way < 0)
		return NULL;
	return &ft_table[w.b[way / EBB_FT_WAYS]].entry[way % EBB_FT_WAYS].word;
}

/* 0 and the flow's entry in *f, or -ENOENT. */
static inline int flow_get(const struct ebb_flow_key *k, struct ebb_flow *f)
{
	__u64 w = 0;

	memset(f, 0, sizeof(*f));
	if (k->family == EBB_FAMILY_V6) {
		if (bpf_map_lookup_elem(flows6_fd, k, &w) || !ebb_ft_node(w))
			return -ENOENT;
	} else if (!flow_slot4(k, &w)) {
		return -ENOENT;
	}
	flow_of_word(w, f);
	return 0;
}

/* Pins k to f (its `seen` a tick), as the datapath's pin does; -EBUSY if the pin lost. */
static inline int flow_put(const struct ebb_flow_key *k, const struct ebb_flow *f)
{
	__u64 w = ebb_ft_entry(0, f->vip_id, f->node_id, f->flags, f->seen);
	struct ebb_ft_where where;
	struct ebb_ft_scan st;
	int way;

	if (k->family == EBB_FAMILY_V6)
		return bpf_map_update_elem(flows6_fd, k, &w, BPF_ANY) ? -errno : 0;
	where = ebb_ft_where_key(k, ft_nbuckets);
	ebb_ft_pin_prepare(&st, where.fp, ebb_ft_keyword4(k),
			   w | ebb_ft_entry(where.fp, 0, 0, 0, 0), f->seen);
	return ebb_ft_pin(&ft_table[where.b[0]], &ft_table[where.b[1]], &st, &way) == EBB_FT_LOST ?
		       -EBUSY : 0;
}

/* Forgets k's entry (its word cleared by CAS, as the census will); -ENOENT if none. */
static inline int flow_del(const struct ebb_flow_key *k)
{
	__u64 w, *slot;

	if (k->family == EBB_FAMILY_V6)
		return bpf_map_delete_elem(flows6_fd, k) ? -errno : 0;
	slot = flow_slot4(k, &w);
	if (!slot)
		return -ENOENT;
	return ebb_ft_cas(slot, w, 0) ? 0 : -EBUSY;
}

/* Forgets every flow of both tables. */
static inline void flow_clear_all(void)
{
	struct ebb_flow_key k;

	for (__u32 b = 0; b < ft_nbuckets; b++)
		for (int i = 0; i < EBB_FT_WAYS; i++) {
			__u64 w = ebb_ft_read(&ft_table[b].entry[i].word);

			if (w)
				ebb_ft_cas(&ft_table[b].entry[i].word, w, 0);
		}
	while (!bpf_map_get_next_key(flows6_fd, NULL, &k))
		bpf_map_delete_elem(flows6_fd, &k);
}

/* Runs d once through the balancer: its verdict (~0u: it did not run) and, with mac, the MAC
 * the frame was sent to (zero unless XDP_TX). */
static inline __u32 balancer_run(const struct pkt_desc *d, uint8_t mac[6])
{
	uint8_t in[PKT_MAX], out[PKT_MAX + 64];
	struct pkt_layout lay = build_frame(d, LB_MAC, GW_MAC, in);
	size_t out_len = 0;
	__u32 verdict = ~0u;

	if (mac)
		memset(mac, 0, 6);
	if (prog_run(prog_fd, in, lay.len, out, sizeof(out), &out_len, &verdict))
		return ~0u;
	if (mac && verdict == XDP_TX && out_len >= 6)
		memcpy(mac, out, 6);
	return verdict;
}

/* The key of the IPv4 flow src:sport -> dst:dport of proto, as the datapath keys it. */
static inline struct ebb_flow_key flow_key4(const char *src, __u16 sport, const char *dst,
					    __u16 dport, __u8 proto)
{
	struct ebb_flow_key k = {};

	pkt_addr(src, 4, (uint8_t *)k.src);
	pkt_addr(dst, 4, (uint8_t *)k.dst);
	k.sport = htons(sport);
	k.dport = htons(dport);
	k.proto = proto;
	k.family = EBB_FAMILY_V4;
	return k;
}

/* Loads the balancer with no map pinned and opens it with libebb (e). */
static inline bool balancer_setup(void)
{
	struct ebb_err err = {};

	if (!OPEN_LOAD_UNPINNED(skel, balancer_bpf, "setup: open the balancer skeleton",
				"setup: load the balancer (verifier)"))
		return false;
	check_unpinned(skel->obj);
	prog_fd = bpf_program__fd(skel->progs.ebb_balancer);
	if (!ASSERT_OK(ebb_from_object(&e, skel->obj, &err), "setup: ebb_from_object")) {
		printf("#   %s\n", err.msg);
		return false;
	}
	have_e = true;
	return ASSERT_TRUE(flow_tables_open(), "setup: mmap the flow table");
}

static inline void balancer_teardown(void)
{
	if (ft_table)
		munmap(ft_table, ft_bytes);
	if (have_e)
		ebb_close(&e);
	balancer_bpf__destroy(skel);
}

/* Adds node addr (with its MAC) to vip; its id in *id. Non-zero: libebb refused, err says why. */
static inline int add_node(const char *addr, const char *vip, const uint8_t mac[6], bool inactive,
			   __u32 *id, struct ebb_err *err)
{
	struct ebb_node_opts o = { .have_mac = true, .inactive = inactive };
	struct ebb_vip_key k;
	struct ebb_addr a;
	int ret;

	memcpy(o.mac, mac, 6);
	if (ebb_parse_vip(vip, &k, NULL) || ebb_parse_addr(addr, &a, NULL))
		abort(); /* a typo in the table */
	ret = ebb_node_add(&e, &a, &k, &o, err);
	if (ret)
		return ret;
	if (ebb_node_find(&e, &a, id, NULL) || !*id)
		abort();
	return 0;
}

/* Adds vip (forwarded DSR); non-zero if libebb refused it, and why is printed. */
static inline int vip_add(const char *vip)
{
	struct ebb_vip_opts o = { .fwd = EBB_FWD_DSR };
	struct ebb_err err = {};
	struct ebb_vip_key k;
	int ret;

	if (ebb_parse_vip(vip, &k, NULL))
		abort(); /* a typo in the table */
	ret = ebb_vip_add(&e, &k, &o, &err);
	if (ret)
		printf("#   vip add %s: %s\n", vip, err.msg);
	return ret;
}

static inline __u32 vip_id_of(const char *vip)
{
	struct ebb_vip_key k;
	struct ebb_vip v;

	if (ebb_parse_vip(vip, &k, NULL) || ebb_vip_find(&e, &k, &v))
		return ~0u;
	return v.id;
}

/* The node in slot of table ring_id; 0: no table or no node. */
static inline __u32 ring_node(__u32 ring_id, __u32 slot)
{
	return ebb_ring_node(&e, ring_id, slot);
}

/* Entries in both tables (an IPv4 entry is a word whose node is not 0). */
static inline long flow_count(void)
{
	struct ebb_flow_key k, *prev = NULL;
	long n = 0;

	for (__u32 b = 0; b < ft_nbuckets; b++)
		for (int i = 0; i < EBB_FT_WAYS; i++)
			n += ebb_ft_node(ebb_ft_read(&ft_table[b].entry[i].word)) != 0;
	while (!bpf_map_get_next_key(flows6_fd, prev, &k)) {
		prev = &k;
		n++;
	}
	return n;
}

/* The counters and the flow table around one packet. */
struct snap {
	struct ebb_reason_counter r[EBB_R_MAX];
	struct ebb_counters vip, node;
	long flows;
	bool has_flow;
	struct ebb_flow flow;
};

static inline void take_snap(struct snap *s, const struct ebb_flow_key *key, __u32 vip_id,
			     __u32 node_id)
{
	memset(s, 0, sizeof(*s));
	for (__u32 r = 0; r < EBB_R_MAX; r++)
		ebb_reason_sum(&e, r, &s->r[r]);
	if (vip_id < EBB_MAX_VIPS)
		ebb_counters_sum(e.vip_stats_fd, vip_id, &s->vip);
	if (node_id && node_id < EBB_MAX_NODES)
		ebb_counters_sum(e.node_stats_fd, node_id, &s->node);
	s->flows = flow_count();
	if (key)
		s->has_flow = !flow_get(key, &s->flow);
}
#endif /* FIXTURE_BALANCER */

#endif
