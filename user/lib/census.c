// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The census: live flows per node, counted in user space by reading the flow table where the
 * datapath keeps it (issue 16, plan step 3 of doc/flow-table.md). The IPv4 table is mmapped
 * once and its entry words read in place (the key line of a bucket only for a watched node's
 * live flow); IPv6 flows (flows6, an LRU hash of the same word) are read with batch lookups.
 *
 * A pass also clears, by compare-and-swap, every entry no rule needs any more: an entry's tick
 * is 12 bits of 2^30 ns and wraps in ~73 minutes, after which an idle flow would look fresh
 * again. The rule, and why it never clears a live flow, is in doc/flow-table.md, "The census
 * over the table"; census_judge() below is where it is applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libebb_agent.h"
#include "ebb_flowtable.h"

#define TICK_NS (1ULL << EBB_FT_TICK_SHIFT)
/* Cleared only when quiet for this many ticks beyond what any rule reads: an age is known to a
 * tick (live by the least, cleared by the most), the datapath's coarse clock may be a tick
 * behind ours, and one tick more leaves every entry a pass or so ended but kept. */
#define CLEAR_MARGIN_TICKS 3
/* A watched node's ended entries are cleared only once quiet for this long: what every
 * timeout is capped to, and the margin (EBB_CENSUS_MAX_TIMEOUT_S). */
#define WATCHED_CLEAR_NS (EBB_CENSUS_MAX_TIMEOUT_S * 1000000000ULL + CLEAR_MARGIN_TICKS * TICK_NS)
#define BATCH 4096

struct census_vip {
	__u64 idle_ns; /* the VIP's proto's idle timeout (unknown id: the longer of the two) */
	__u64 fin_ns;
	__u64 clear_idle_ns; /* cleared when its age (the upper bound, as judged) is past this */
	__u64 clear_fin_ns; /* FIN or RST: past this */
	/* This pass's fast path: an unflagged entry of a known VIP at most this many ticks old
	 * is live (the same test as age <= idle_ns, in ticks; -1: never taken) */
	__s32 fast_live_ticks;
	struct ebb_vip_key key; /* family 0: no VIP has this id (its flows are not counted) */
};

struct ebb_census {
	int flows_fd, flows6_fd, vips_by_id_fd;
	__u32 flows_id, nbuckets;
	struct ebb_ft_bucket *table;
	size_t table_bytes;
	struct ebb_census_io io;
	struct census_vip vips[EBB_FT_VIP_MASK + 1]; /* by an entry's VIP id, any of its 10 bits */
	struct ebb_census_key *keys; /* EBB_CENSUS_KEYS, allocated by the first pass that lists */
	struct ebb_flow_key *keys6; /* batch buffers for flows6 */
	__u64 *vals6, *del6;
	__u32 n_del6;
};

static int flows_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		return -errno;
	/* the bucket table of include/ebb_flowtable.h; another layout is not this census's */
	if (info->type != BPF_MAP_TYPE_ARRAY || info->value_size != sizeof(struct ebb_ft_bucket) ||
	    !(info->map_flags & BPF_F_MMAPABLE))
		return -EPROTO;
	return 0;
}

int ebb_census_open(struct ebb *e, struct ebb_census **out)
{
	struct ebb_census *c = calloc(1, sizeof(*c));
	long page = sysconf(_SC_PAGESIZE);
	struct bpf_map_info info;
	void *t;
	int ret;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->flows_fd = c->flows6_fd = c->vips_by_id_fd = -1;
	ret = flows_info(e->flows_fd, &info);
	if (ret)
		goto fail;
	c->flows_id = info.id;
	c->nbuckets = info.max_entries;
	c->table_bytes = ((size_t)c->nbuckets * sizeof(struct ebb_ft_bucket) + page - 1) / page * page;
	/* Writable: a pass clears entries by CAS on the words the datapath reads. */
	t = mmap(NULL, c->table_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, e->flows_fd, 0);
	if (t == MAP_FAILED) {
		ret = -errno;
		goto fail;
	}
	c->table = t;
	/* Each page written once now (a CAS of a word to itself changes nothing, whether it wins
	 * or loses to the datapath): else a pass's first clear in a page takes a write fault,
	 * which made the first pass many times slower than the others. */
	for (size_t off = 0; off < c->table_bytes; off += (size_t)page) {
		__u64 *p = (__u64 *)((char *)t + off), w = ebb_ft_read(p);

		ebb_ft_cas(p, w, w);
	}
	/* Own descriptors: the census outlives a refresh of e's (ebb_census_current). Close on
	 * exec, as libebb's: ebbd's hooks must not inherit the maps. */
	c->flows_fd = fcntl(e->flows_fd, F_DUPFD_CLOEXEC, 0);
	c->vips_by_id_fd = fcntl(e->vips_by_id_fd, F_DUPFD_CLOEXEC, 0);
	if (e->flows6_fd >= 0)
		c->flows6_fd = fcntl(e->flows6_fd, F_DUPFD_CLOEXEC, 0);
	c->keys6 = calloc(BATCH, sizeof(*c->keys6));
	c->vals6 = calloc(BATCH, sizeof(*c->vals6));
	c->del6 = calloc(BATCH, sizeof(*c->del6));
	if (c->flows_fd < 0 || c->vips_by_id_fd < 0 || (e->flows6_fd >= 0 && c->flows6_fd < 0) ||
	    !c->keys6 || !c->vals6 || !c->del6) {
		ret = -ENOMEM;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	ebb_census_close(c);
	return ret < 0 ? ret : -EINVAL;
}

void ebb_census_close(struct ebb_census *c)
{
	if (!c)
		return;
	if (c->table)
		munmap(c->table, c->table_bytes);
	if (c->flows_fd >= 0)
		close(c->flows_fd);
	if (c->flows6_fd >= 0)
		close(c->flows6_fd);
	if (c->vips_by_id_fd >= 0)
		close(c->vips_by_id_fd);
	free(c->keys);
	free(c->keys6);
	free(c->vals6);
	free(c->del6);
	free(c);
}

bool ebb_census_current(struct ebb_census *c, struct ebb *e)
{
	struct bpf_map_info info;

	return c && !flows_info(e->flows_fd, &info) && info.id == c->flows_id;
}

struct ebb_census_io *ebb_census_io(struct ebb_census *c)
{
	return &c->io;
}

/* A timeout in ns, capped to what the tick can age (EBB_CENSUS_MAX_TIMEOUT_S says why). */
static __u64 cap_ns(__u64 ns)
{
	return ns < EBB_CENSUS_MAX_TIMEOUT_S * 1000000000ULL ? ns : EBB_CENSUS_MAX_TIMEOUT_S * 1000000000ULL;
}

/* This pass's view of every VIP id: its key (vips_by_id, read once a pass) and its timeouts. */
static void census_vips(struct ebb_census *c, __u64 now_frac)
{
	const __u64 longest = EBB_CENSUS_MAX_TIMEOUT_S * 1000000000ULL;

	for (__u32 id = 0; id <= EBB_FT_VIP_MASK; id++) {
		struct census_vip *v = &c->vips[id];
		struct ebb_vip_entry ent;

		memset(v, 0, sizeof(*v));
		if (id >= EBB_MAX_VIPS) { /* no VIP can have it: kept as long as any timeout */
			v->idle_ns = v->fin_ns = longest;
		} else {
			const struct ebb_census_vip *t = &c->io.vips[id], dflt = ebb_census_vip_of(NULL);
			/* 0: the default (a caller that set none must not have every flow cleared) */
			__u64 tcp = t->tcp_idle_ns ? t->tcp_idle_ns : dflt.tcp_idle_ns;
			__u64 udp = t->udp_idle_ns ? t->udp_idle_ns : dflt.udp_idle_ns;
			__u64 fin = t->fin_ns ? t->fin_ns : dflt.fin_ns;

			if (!bpf_map_lookup_elem(c->vips_by_id_fd, &id, &ent) && ent.key.family)
				v->key = ent.key;
			if (v->key.family)
				v->idle_ns = v->key.proto == IPPROTO_UDP ? udp : tcp;
			else /* its proto unknown: whichever idle timeout keeps it longer */
				v->idle_ns = tcp > udp ? tcp : udp;
			v->idle_ns = cap_ns(v->idle_ns);
			v->fin_ns = cap_ns(fin);
		}
		v->clear_idle_ns = v->idle_ns + CLEAR_MARGIN_TICKS * TICK_NS;
		v->clear_fin_ns = (v->fin_ns < v->idle_ns ? v->fin_ns : v->idle_ns) +
				  CLEAR_MARGIN_TICKS * TICK_NS;
		/* live by the least age, which for t ticks old is now_frac + (t - 1) ticks */
		v->fast_live_ticks = !v->key.family ? -1 :
				     v->idle_ns < now_frac ? 0 :
				     (__s32)((v->idle_ns - now_frac) >> EBB_FT_TICK_SHIFT) + 1;
	}
}

/*
 * An entry's age at now is known to a tick: it was last seen somewhere in the tick it holds.
 * The most is from that tick's start, the least from its end; both 0 if seen in now's tick or
 * after now was read. A flow is live, and ended, by the least (a flow seen late in its tick must
 * not be judged over before its timeout), and cleared by the most (never while live).
 */
static inline __u64 word_age_most_ns(__u64 w, __u32 now_tick, __u64 now_frac)
{
	__u32 t = ebb_ft_age(w, now_tick);

	return t && t < EBB_FT_USABLE_TICKS ? now_frac + ((__u64)t << EBB_FT_TICK_SHIFT) : 0;
}

static inline __u64 word_age_least_ns(__u64 w, __u32 now_tick, __u64 now_frac)
{
	__u64 most = word_age_most_ns(w, now_tick, now_frac);

	return most ? most - TICK_NS : 0;
}

enum { JUDGE_NONE, JUDGE_LIVE, JUDGE_LIVE_WATCHED, JUDGE_CLEAR };

/*
 * The kernel census's rules (census.bpf.c's count_flow), on an entry word: counts it, notes
 * when a watched node's finished flow ended, and says whether it is a watched node's live flow (its key is wanted) or
 * may be cleared. Cleared: UNCONFIRMED or unflagged, quiet for longer than the idle timeout;
 * FIN or RST, quiet for longer than the FIN timeout (or the idle timeout, if shorter); either
 * by CLEAR_MARGIN_TICKS more. A live flow is one quiet for at most that timeout by the same
 * age, so no entry is both.
 */
static inline int census_judge(struct ebb_census *c, __u64 w, __u32 now_tick, __u64 now_frac)
{
	struct ebb_census_io *io = &c->io;
	__u32 id = ebb_ft_node(w), flags = ebb_ft_flags(w);
	const struct census_vip *v = &c->vips[ebb_ft_vip(w)];
	__u64 age = word_age_least_ns(w, now_tick, now_frac), most = word_age_most_ns(w, now_tick, now_frac);
	__u64 last, end;
	bool live, done = flags & (EBB_FLOW_FIN | EBB_FLOW_RST);
	int judged = most > (done ? v->clear_fin_ns : v->clear_idle_ns) ? JUDGE_CLEAR : JUDGE_NONE;

	io->visited++;
	/* Placed by a mid-flow packet no node has claimed (a stray or spoofed ACK): no flow, for
	 * a drain or a scaling decision, until a claim confirms it. A flow of a VIP id no VIP has
	 * (deleted, or added after this pass read vips_by_id) is nobody's yet. */
	if (id >= EBB_MAX_NODES || (flags & EBB_FLOW_UNCONFIRMED) || !v->key.family)
		return judged;
	/* A watched (draining) node's flow may be on its drain's list, which counts a listed key
	 * gone from the table as a lost flow (ebbd's drain.c looks its list up from the front and
	 * stops at the first live key, so an ended key behind it waits). Kept until the tick's
	 * own deadline; the node's entries go at the first pass after its drain. */
	if (judged == JUDGE_CLEAR && io->watch[id] && most <= WATCHED_CLEAR_NS)
		judged = JUDGE_NONE;
	last = io->now_ns - age;
	if (flags & EBB_FLOW_RST) {
		live = false;
		end = last;
	} else if (flags & EBB_FLOW_FIN) {
		live = age <= v->fin_ns && age <= v->idle_ns;
		end = last + v->fin_ns;
	} else {
		live = age <= v->idle_ns;
		end = last + v->idle_ns;
	}
	if (!live) {
		/* noted before it is cleared: this pass is the last to see it */
		if (io->watch[id] && end > io->last_end[id])
			io->last_end[id] = end;
		if (io->watch[id] && io->ended_after[id] && end >= io->ended_after[id])
			io->ended[id]++;
		return judged;
	}
	io->live[id]++;
	io->live_total++;
	return io->watch[id] ? JUDGE_LIVE_WATCHED : JUDGE_LIVE;
}

static void list_key(struct ebb_census *c, const struct ebb_flow_key *k, __u32 node_id)
{
	__u32 i = c->io.n_keys++;

	if (i < EBB_CENSUS_KEYS && c->keys)
		c->keys[i] = (struct ebb_census_key){ .key = *k, .node_id = node_id };
}

/* The IPv4 flow of bucket b's way i: its key word and its VIP's address, believed only when
 * they hash to the entry's fingerprint and to b (a pin writes its key word after its entry). */
static bool key4(struct ebb_census *c, __u32 b, int i, __u64 w, struct ebb_flow_key *k)
{
	const struct census_vip *v = &c->vips[ebb_ft_vip(w)];
	struct ebb_ft_where where;
	union ebb_ft_keyword kw;

	for (int tries = 0; tries < 2; tries++) {
		kw.word = ebb_ft_read(&c->table[b].key[i].word);
		memset(k, 0, sizeof(*k));
		k->family = EBB_FAMILY_V4;
		k->proto = v->key.proto;
		k->src[0] = kw.k.addr;
		k->sport = kw.k.sport;
		k->dport = kw.k.dport;
		k->dst[0] = v->key.addr[0];
		where = ebb_ft_where_key(k, c->nbuckets);
		if (ebb_ft_fp(w) == where.fp && (where.b[0] == b || where.b[1] == b))
			return true;
		/* a pin in progress: its key word may land now; the entry must still be this one */
		if (ebb_ft_read(&c->table[b].entry[i].word) != w)
			return false;
	}
	return false;
}

static void census4(struct ebb_census *c, __u32 now_tick, __u64 now_frac, bool may_clear)
{
	struct ebb_ft_bucket *t = c->table;
	struct ebb_census_io *io = &c->io;
	__u64 fast = 0;

	for (__u32 b = 0; b < c->nbuckets; b++) {
		for (int i = 0; i < EBB_FT_WAYS; i++) {
			__u64 *p = &t[b].entry[i].word, w = ebb_ft_read(p);
			__u32 id = ebb_ft_node(w), age = ebb_ft_age(w, now_tick);
			struct ebb_flow_key k;

			if (!id)
				continue;
			/* Most entries: unflagged, live, of a known VIP, an unwatched node's. The
			 * same verdict as census_judge's, without its arithmetic in ns. */
			if (age >= EBB_FT_USABLE_TICKS)
				age = 0;
			if (!ebb_ft_flags(w) && id < EBB_MAX_NODES && !io->watch[id] &&
			    (__s32)age <= c->vips[ebb_ft_vip(w)].fast_live_ticks) {
				io->live[id]++;
				fast++;
				continue;
			}
			switch (census_judge(c, w, now_tick, now_frac)) {
			case JUDGE_CLEAR:
				/* only the word judged: one the datapath touched since is kept */
				if (may_clear && ebb_ft_cas(p, w, 0))
					io->cleared++;
				break;
			case JUDGE_LIVE_WATCHED:
				if (key4(c, b, i, w, &k))
					list_key(c, &k, id);
				else
					io->unlisted++;
				break;
			}
		}
	}
	io->visited += fast;
	io->live_total += fast;
}

/*
 * flows6 cannot be changed by CAS from user space: an entry judged clearable is taken out with
 * lookup-and-delete, and put back (unless the datapath pinned the flow again meanwhile) when
 * the word taken is not the one judged: the datapath refreshed it in between.
 */
static void clear6(struct ebb_census *c, const struct ebb_flow_key *k, __u64 judged)
{
	__u64 was;

	if (bpf_map_lookup_and_delete_elem(c->flows6_fd, k, &was))
		return;
	if (was == judged)
		c->io.cleared++;
	else
		bpf_map_update_elem(c->flows6_fd, k, &was, BPF_NOEXIST);
}

static int census6(struct ebb_census *c, __u32 now_tick, __u64 now_frac, bool may_clear)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct ebb_flow_key out_batch;
	void *in = NULL;

	if (c->flows6_fd < 0)
		return 0;
	for (;;) {
		__u32 count = BATCH, n_del = 0;
		int err = bpf_map_lookup_batch(c->flows6_fd, in, &out_batch, c->keys6, c->vals6, &count,
					       &opts);

		if (err && errno != ENOENT)
			return -errno;
		for (__u32 i = 0; i < count; i++) {
			__u64 w = c->vals6[i];

			if (!ebb_ft_node(w))
				continue;
			switch (census_judge(c, w, now_tick, now_frac)) {
			case JUDGE_CLEAR:
				/* deleted after the batch is read (the cursor is a bucket index) */
				c->keys6[n_del] = c->keys6[i];
				c->del6[n_del++] = w;
				break;
			case JUDGE_LIVE_WATCHED:
				list_key(c, &c->keys6[i], ebb_ft_node(w));
				break;
			}
		}
		for (__u32 i = 0; may_clear && i < n_del; i++)
			clear6(c, &c->keys6[i], c->del6[i]);
		if (err) /* ENOENT: that was the last batch */
			return 0;
		in = &out_batch;
	}
}

int ebb_census_run(struct ebb_census *c)
{
	struct ebb_census_io *io = &c->io;
	__u64 now = io->now_ns;
	bool listing = false, may_clear;

	io->visited = io->live_total = io->cleared = io->unlisted = 0;
	io->n_keys = 0;
	memset(io->live, 0, sizeof(io->live));
	memset(io->last_end, 0, sizeof(io->last_end));
	memset(io->ended, 0, sizeof(io->ended));
	for (__u32 id = 0; id < EBB_MAX_NODES; id++)
		listing |= io->watch[id] != 0;
	if (listing && !c->keys) {
		c->keys = calloc(EBB_CENSUS_KEYS, sizeof(*c->keys));
		if (!c->keys)
			return -ENOMEM;
	}
	census_vips(c, now & (TICK_NS - 1));
	/* A `now` ahead of the clock (a caller's what-if) judges, but clears nothing: ages from
	 * it overstate, and a live flow must never be cleared. */
	may_clear = !io->no_clear && now <= ebb_now_ns();
	census4(c, ebb_ft_tick_of_ns(now), now & (TICK_NS - 1), may_clear);
	return census6(c, ebb_ft_tick_of_ns(now), now & (TICK_NS - 1), may_clear);
}

int ebb_census_keys(struct ebb_census *c, struct ebb_census_key *keys, __u32 n)
{
	__u32 have = c->io.n_keys < EBB_CENSUS_KEYS ? c->io.n_keys : EBB_CENSUS_KEYS;

	if (n > have)
		n = have;
	if (n)
		memcpy(keys, c->keys, (size_t)n * sizeof(*keys));
	return (int)n;
}

