// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `prog upgrade` across a map layout change: the new program gets new maps, filled from the
 * pinned ones, and every flow keeps its node.
 *
 * The order, and why:
 *  1. The new object's maps are created in a staging directory under the same bpffs
 *     (DIR/upgrade-staging), and its program is loaded against them. Nothing the running
 *     datapath uses is touched: a failure here (a bad object, no memory, no room) removes the
 *     staging directory and leaves the old program, its maps and its pins as they were.
 *  2. First copy: every pinned map the new object also has is copied into its staged twin,
 *     through a per-map converter where the value changed between the layouts (the table of
 *     steps below) and as it is where not; the rings' inner tables are copied into new inner
 *     tables. The new maps only (slot_history, rescue_secret; vip_reasons, monitor,
 *     monitor_events; ring_changes) start as on a first creation (rescue_secret random,
 *     ring_changes all marked), and so does syn_recent, never copied. A `flow trace`
 *     listener's monitor and ring buffer are never copied: the new program starts unwatched. The old program keeps running throughout: the flows it creates
 *     meanwhile are picked up in 5. Still nothing to undo but the staging directory.
 *  3. The swap: bpf_link_update on every attached device, as the same-layout upgrade does; if one
 *     device fails, those already swapped go back and the staging directory goes. From here on
 *     the new program and its maps are the datapath.
 *  4. The pins move into place (rename(2) over the old ones: a reader that opens a name finds
 *     the old map or the new one, never none), meta last, so a reader that sees the new layout
 *     in meta sees every new map. Only now are the old pins gone; the old maps live on while
 *     this process holds them.
 *  5. Second copy, from the old maps, now frozen: the flow entries the old program created
 *     between the first copy and the swap, with BPF_NOEXIST, so an entry the new program already
 *     wrote for the same flow (placed by the same tables: writers are locked out) wins; and the
 *     per-CPU counters' increments since the first copy, added to the new ones.
 * Writers (ebbctl, ebbd) are held off by the state lock for the whole upgrade; one that opened
 * the old maps before it got the lock finds them stale (ebb_lock, ebb_stale) and re-opens.
 *
 * The flow table, across the switch from the LRU hash to the bucket table (the step
 * LRU_LAST_LAYOUT -> TABLE_FIRST_LAYOUT; include/ebb_flowtable.h, doc/flow-table-progress.md):
 * `flows` changes type, so it is not copied entry by entry but flow by flow. In 2, every LRU
 * entry (struct ebb_flow_lru) becomes an entry word (ebb_ft_entry_of_lru: the same node, VIP id,
 * flags, and the tick its `seen` falls in); an IPv4 one is pinned into the new table by user
 * space, on the mapped words, by the header's own pin "if absent" (ebb_ft_pin_absent: CAS, so
 * it is safe beside the datapath's pins), an IPv6 one into flows6 with BPF_NOEXIST. Then, still
 * before the swap, the old LRU goes into the new program's flows_old (an array of one map, empty
 * otherwise) and the new settings.migrating is set: from its first packet the new program looks a
 * flow it does not find up in the old LRU too, and pins the old entry if absent. So a flow the
 * old program made after the first copy is neither placed again nor sent by the second chance
 * or a rescue between the swap and 5: both tables are read while entries are copied. In 5 the
 * old LRU is copied again, pin if absent (an entry the new program made, or adopted, wins), then
 * every old entry is looked up in the new tables (flows_checked, flows_missing,
 * flows_other_node in struct ebb_upgrade), settings.migrating is cleared and flows_old emptied:
 * the old LRU is freed with this process's last fd.
 * What the old program changed in an entry already copied between the copies: a FIN or RST is
 * added to the new entry if it names the same node (ebb_ft_note_ended); another node (a claim)
 * is not carried, pin if absent keeps the first copy's word (with rescues, the flow is rescued
 * and claimed again).
 * A later step that keeps the bucket table copies it flow by flow too (table_copy: the key from
 * its key word and the VIP's address, pin if absent, in both copies), not bucket by bucket: the
 * new table may differ in size, and the new program may pin a flow into the other of its two
 * buckets. Its new program has no flows_old of that kind: a mid-flow packet of a flow the old
 * program made between the first copy and the swap goes by the second chance (or a rescue)
 * until 5 copies it, and the entry that placement pins wins over the copy.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libebb.h"
#include "libebb_agent.h"
#include "internal.h"
#include "ebb_flowtable.h"

#define STAGING "upgrade-staging" /* bpffs refuses a name with a dot */
#define MAX_STEPS 8

/* ---- the known layout steps ---- */

/* A map whose value changed in a step: old_size bytes in, new_size bytes out. A map a step does
 * not name kept its key and value in that step and is copied as it is. */
struct map_conv {
	const char *map;
	__u32 old_size, new_size;
	void (*fn)(const void *old, void *new);
};

struct layout_step {
	__u32 from, to;
	const struct map_conv *convs; /* ends with { NULL } */
	bool flows_to_table; /* `flows` goes from the LRU hash to the bucket table (below) */
};

/* 4 -> 5: settings grew by rescue_rate (the default, as on a first creation) and a pad. */
static void settings_4_5(const void *old, void *new)
{
	struct ebb_settings *s = new;

	memset(s, 0, sizeof(*s));
	memcpy(s, old, 8); /* flood_rate, mtu: as the operator left them */
	s->rescue_rate = EBB_DEFAULT_RESCUE_RATE;
}

/* 4 -> 5: ebb_node.pad[0] became flags: no node is known to run the node program yet. */
static void node_4_5(const void *old, void *new)
{
	struct ebb_node *n = new;

	memcpy(n, old, sizeof(*n));
	n->flags = 0;
	memset(n->pad, 0, sizeof(n->pad));
}

static const struct map_conv conv_4_5[] = {
	{ "settings", 8, sizeof(struct ebb_settings), settings_4_5 },
	{ "nodes", sizeof(struct ebb_node), sizeof(struct ebb_node), node_4_5 },
	{ NULL, 0, 0, NULL },
};

/* 5 -> 6: new maps only (vip_reasons, monitor, monitor_events); every old one kept its layout. */
static const struct map_conv conv_5_6[] = {
	{ NULL, 0, 0, NULL },
};

/* 6 -> 7: a new map only (ring_changes, every slot marked as on a first creation: the VIPs
 * keep their rings_changed, and a SYN within a window asks the flow table as it did). */
static const struct map_conv conv_6_7[] = {
	{ NULL, 0, 0, NULL },
};

/* 7 -> 8: ebb_vip grew by table_size; every VIP of layout 7 has tables of EBB_RING_SIZE
 * slots, and keeps them (copied as they are by copy_rings): its flows keep their slots. */
static void vip_7_8(const void *old, void *new)
{
	struct ebb_vip *v = new;

	memset(v, 0, sizeof(*v));
	memcpy(v, old, offsetof(struct ebb_vip, table_size));
	v->table_size = EBB_RING_SIZE;
}

static void vip_entry_7_8(const void *old, void *new)
{
	struct ebb_vip_entry *v = new;

	memset(v, 0, sizeof(*v));
	memcpy(&v->key, old, sizeof(v->key));
	vip_7_8((const char *)old + offsetof(struct ebb_vip_entry, vip), &v->vip);
	if (!v->key.family) /* no VIP has this id: nothing to give a size */
		v->vip.table_size = 0;
}

static const struct map_conv conv_7_8[] = {
	{ "vips", offsetof(struct ebb_vip, table_size), sizeof(struct ebb_vip), vip_7_8 },
	{ "vips_by_id", offsetof(struct ebb_vip_entry, vip) + offsetof(struct ebb_vip, table_size),
	  sizeof(struct ebb_vip_entry), vip_entry_7_8 },
	{ NULL, 0, 0, NULL },
};

/* 8 -> 9: flows from the LRU hash to the bucket table (include/ebb_flowtable.h), IPv6 flows
 * into flows6: not a value conversion but a copy by key, pin if absent (lru_copy below).
 * syn_pins keeps its key; its value becomes the entry word. */
static void syn_pin_lru(const void *old, void *new)
{
	__u64 w = ebb_ft_entry_of_lru(old);

	memcpy(new, &w, sizeof(w));
}

static const struct map_conv conv_lru_table[] = {
	{ "syn_pins", sizeof(struct ebb_flow_lru), sizeof(__u64), syn_pin_lru },
	{ NULL, 0, 0, NULL },
};

/* The step to the bucket table: its numbers are the only thing a renumbering changes (the
 * layout before it is the LRU's last). */
#define TABLE_FIRST_LAYOUT 9
#define LRU_LAST_LAYOUT (TABLE_FIRST_LAYOUT - 1)

static const struct layout_step layout_steps[] = {
	{ 4, 5, conv_4_5, false },
	{ 5, 6, conv_5_6, false },
	{ 6, 7, conv_6_7, false },
	{ 7, 8, conv_7_8, false },
	{ LRU_LAST_LAYOUT, TABLE_FIRST_LAYOUT, conv_lru_table, true },
};

/* The steps from -> to, one after the other; 0 steps when ebb knows no such way. */
static int find_chain(__u32 from, __u32 to, const struct layout_step **chain)
{
	int n = 0;

	while (from != to && n < MAX_STEPS) {
		const struct layout_step *s = NULL;

		for (size_t i = 0; i < sizeof(layout_steps) / sizeof(layout_steps[0]); i++)
			if (layout_steps[i].from == from)
				s = &layout_steps[i];
		if (!s)
			return 0;
		chain[n++] = s;
		from = s->to;
	}
	return from == to ? n : 0;
}

/* ---- one map's copy ---- */

enum flows_kind {
	FLOWS_NONE, /* not the flow table: copied entry by entry */
	FLOWS_FROM_LRU, /* the LRU hash into the bucket table and flows6 */
	FLOWS_TABLE, /* the bucket table into another: by key, not by bucket index */
};

struct map_copy {
	const char *name;
	enum flows_kind flows;
	const char *staged_pin;
	int old_fd, new_fd;
	struct bpf_map_info old_info, new_info;
	const struct map_conv *conv[MAX_STEPS];
	int n_conv;
	__u32 old_lane, new_lane; /* a value's bytes in a batch buffer, per CPU */
	__u32 lanes; /* CPUs for a per-CPU map, else 1 */
	void *tmp[2]; /* the conversion's two buffers */
	void *snap_keys, *snap_vals; /* per-CPU counters as the first copy found them */
	__u32 snap_n;
};

static bool is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static bool is_array(__u32 type)
{
	return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

static void convert(struct map_copy *m, const void *old, void *new)
{
	for (__u32 l = 0; l < m->lanes; l++) {
		const char *in = (const char *)old + (size_t)l * m->old_lane;
		char *out = (char *)new + (size_t)l * m->new_lane;

		if (!m->n_conv) {
			memcpy(out, in, m->new_info.value_size);
			continue;
		}
		memcpy(m->tmp[0], in, m->old_info.value_size);
		for (int i = 0; i < m->n_conv; i++)
			m->conv[i]->fn(m->tmp[i & 1], m->tmp[(i + 1) & 1]);
		memcpy(out, m->tmp[m->n_conv & 1], m->new_info.value_size);
	}
}

static bool all_zero(const void *p, size_t len)
{
	const char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i])
			return false;
	return true;
}

/* The whole old map, by batches: a hash map's walk is by bucket, so entries the old program adds
 * or evicts meanwhile never make it start over. */
static int dump_old(struct map_copy *m, void **keys, void **vals, __u32 *n)
{
	__u32 max = m->old_info.max_entries;
	int ret;

	*keys = calloc(max ? max : 1, m->old_info.key_size);
	*vals = calloc(max ? max : 1, (size_t)m->old_lane * m->lanes);
	if (!*keys || !*vals)
		return -ENOMEM;
	ret = ebb_map_dump(m->old_fd, *keys, *vals, max, m->old_info.key_size,
			   m->old_lane * m->lanes);
	if (ret < 0)
		return ret;
	*n = ret;
	return 0;
}

/* Copies every entry of the old map into the new one; flags BPF_NOEXIST keeps what the new map
 * has. *copied counts the entries written. */
static int copy_entries(struct map_copy *m, __u64 flags, __u64 *copied, bool keep_snapshot)
{
	size_t new_len = (size_t)m->new_lane * m->lanes;
	void *keys = NULL, *vals = NULL, *out = calloc(1, new_len);
	__u32 n = 0;
	int ret = out ? dump_old(m, &keys, &vals, &n) : -ENOMEM;

	*copied = 0;
	for (__u32 i = 0; !ret && i < n; i++) {
		const void *k = (char *)keys + (size_t)i * m->old_info.key_size;

		convert(m, (char *)vals + (size_t)i * m->old_lane * m->lanes, out);
		/* A new array is all zeros already: a few hundred entries written, not 65536. */
		if (is_array(m->new_info.type) && all_zero(out, new_len))
			continue;
		if (bpf_map_update_elem(m->new_fd, k, out, flags)) {
			if (errno == EEXIST && flags == BPF_NOEXIST)
				continue;
			ret = -errno;
			break;
		}
		(*copied)++;
	}
	if (!ret && keep_snapshot) {
		m->snap_keys = keys;
		m->snap_vals = vals;
		m->snap_n = n;
		keys = vals = NULL;
	}
	free(keys);
	free(vals);
	free(out);
	return ret;
}

/* After the swap: what the old program counted since the first copy, added to the new counters
 * (the new program counts from the copied totals on). */
static int percpu_catch_up(struct map_copy *m)
{
	size_t len = (size_t)m->old_lane * m->lanes;
	void *keys = NULL, *vals = NULL, *cur = calloc(1, len);
	__u32 n = 0;
	int ret = cur ? dump_old(m, &keys, &vals, &n) : -ENOMEM;

	for (__u32 i = 0; !ret && i < n && i < m->snap_n; i++) {
		const void *k = (char *)keys + (size_t)i * m->old_info.key_size;
		const __u64 *now = (const __u64 *)((char *)vals + i * len);
		const __u64 *then = (const __u64 *)((char *)m->snap_vals + i * len);

		if (memcmp(k, (char *)m->snap_keys + (size_t)i * m->old_info.key_size,
			   m->old_info.key_size) || !memcmp(now, then, len))
			continue;
		if (bpf_map_lookup_elem(m->new_fd, k, cur))
			continue;
		for (size_t w = 0; w < len / 8; w++)
			((__u64 *)cur)[w] += now[w] - then[w];
		if (bpf_map_update_elem(m->new_fd, k, cur, BPF_ANY))
			ret = -errno;
	}
	free(keys);
	free(vals);
	free(cur);
	return ret;
}

/* The rings: each inner table copied into a new one of the same shape and size (the old ones go
 * with the old outer map). */
static int copy_rings(struct map_copy *m)
{
	long page = sysconf(_SC_PAGESIZE);

	for (__u32 i = 0; i < m->old_info.max_entries; i++) {
		struct bpf_map_info info = {};
		__u32 id, len = sizeof(info);
		int old_inner, new_inner, ret = 0;
		void *src = MAP_FAILED, *dst = MAP_FAILED;
		size_t size;

		if (bpf_map_lookup_elem(m->old_fd, &i, &id))
			continue; /* no table in this slot */
		old_inner = bpf_map_get_fd_by_id(id);
		if (old_inner < 0)
			continue; /* replaced and freed since the lookup: the slot's next table is the
				   * one a writer would install, and writers are locked out */
		if (bpf_obj_get_info_by_fd(old_inner, &info, &len)) {
			close(old_inner);
			return -errno;
		}
		/* BPF_F_INNER_MAP: the new outer map's template has it (layout 8), and an inner
		 * table must match it flag for flag */
		LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = info.map_flags | BPF_F_INNER_MAP);
		new_inner = bpf_map_create(info.type, "ebb_ring", info.key_size, info.value_size,
					   info.max_entries, &opts);
		if (new_inner < 0) {
			ret = -errno;
			close(old_inner);
			return ret;
		}
		size = ((size_t)info.value_size * info.max_entries + page - 1) / page * page;
		if (info.map_flags & BPF_F_MMAPABLE) {
			src = mmap(NULL, size, PROT_READ, MAP_SHARED, old_inner, 0);
			dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, new_inner, 0);
		}
		if (src != MAP_FAILED && dst != MAP_FAILED) {
			memcpy(dst, src, (size_t)info.value_size * info.max_entries);
		} else {
			char val[64];

			if (info.value_size > sizeof(val))
				ret = -E2BIG;
			for (__u32 k = 0; !ret && k < info.max_entries; k++)
				if (!bpf_map_lookup_elem(old_inner, &k, val) &&
				    bpf_map_update_elem(new_inner, &k, val, BPF_ANY))
					ret = -errno;
		}
		if (src != MAP_FAILED)
			munmap(src, size);
		if (dst != MAP_FAILED)
			munmap(dst, size);
		if (!ret && bpf_map_update_elem(m->new_fd, &i, &new_inner, BPF_ANY))
			ret = -errno;
		close(old_inner);
		close(new_inner);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- the plan ---- */

struct ft_mapping {
	struct ebb_ft_bucket *t;
	__u32 nb;
	size_t bytes;
};

struct migration {
	const char *bpffs;
	char staging[600];
	const struct layout_step *chain[MAX_STEPS];
	int n_steps;
	struct map_copy maps[64];
	int n_maps;
	struct bpf_object *obj;
	bool flows_to_table; /* a step of the chain is the switch to the bucket table */
	struct ft_mapping ft_new, ft_old; /* the bucket tables, mapped (ft_old: table to table) */
	int flows6_fd, settings_fd, flows_old_fd; /* the new object's */
	int vips_by_id_fd; /* the old maps' */
	__u32 now_tick;
};

/* ---- the flow table: copies by key, pin if absent ---- */

static int ft_map(int fd, struct ft_mapping *m)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != sizeof(struct ebb_ft_bucket) ||
	    !(info.map_flags & BPF_F_MMAPABLE))
		return -EPROTO;
	m->nb = info.max_entries;
	m->bytes = ((size_t)m->nb * sizeof(*m->t) + page - 1) / page * page;
	m->t = mmap(NULL, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m->t == MAP_FAILED) {
		m->t = NULL;
		return -errno;
	}
	return 0;
}

static void ft_unmap(struct ft_mapping *m)
{
	if (m->t)
		munmap(m->t, m->bytes);
	m->t = NULL;
}

/* What copying a flow did, summed over a copy. */
struct flow_tally {
	__u64 copied; /* a new entry in the new table */
	__u64 present; /* the new table had the flow: its entry kept */
	__u64 evicted; /* ... copied over another flow's entry (both buckets full) */
	__u64 failed; /* no way for it (16 ways of its fingerprint, or lost CASes) */
};

/*
 * Pins entry (fingerprint 0) for flow k into the bucket table t (nb buckets) unless the flow
 * has an entry there: by the header's own pin (include/ebb_flowtable.h), on the mapped words,
 * by CAS, so that the datapath pinning at the same time (after the swap) loses nothing and sees
 * no half word. now_tick: the eviction's clock (a copied entry's own tick may be long past).
 */
int ebb_ft_pin_absent(struct ebb_ft_bucket *t, __u32 nb, const struct ebb_flow_key *k,
		      __u64 entry, __u32 now_tick)
{
	struct ebb_ft_where w = ebb_ft_where_key(k, nb);
	struct ebb_ft_scan st;
	int way, ret = EBB_FT_LOST;

	/* a CAS lost to the datapath: scan again (a few times; then the flow is reported) */
	for (int tries = 0; tries < 4 && ret == EBB_FT_LOST; tries++) {
		memset(&st, 0, sizeof(st));
		ebb_ft_pin_prepare(&st, w.fp, ebb_ft_keyword4(k), entry | ebb_ft_entry(w.fp, 0, 0, 0, 0),
				   now_tick);
		st.if_absent = 1;
		ret = ebb_ft_pin(&t[w.b[0]], &t[w.b[1]], &st, &way);
	}
	return ret;
}

/*
 * The flow k has an entry in t already (pin if absent kept it): if it names entry's node and VIP,
 * the FIN and RST entry has and it lacks are added to it (CAS; a word changed meanwhile is left:
 * the flow's next packet is the news). So a flow the old program saw end between the copies is
 * not counted live by the census until its idle timeout. Returns whether it wrote.
 */
bool ebb_ft_note_ended(struct ebb_ft_bucket *t, __u32 nb, const struct ebb_flow_key *k,
		       __u64 entry)
{
	struct ebb_ft_where w = ebb_ft_where_key(k, nb);
	__u32 ended = ebb_ft_flags(entry) & (EBB_FLOW_FIN | EBB_FLOW_RST), flags;
	__u64 word;
	int way;

	if (!ended)
		return false;
	way = ebb_ft_find(&t[w.b[0]], &t[w.b[1]], w.fp, ebb_ft_keyword4(k), &word);
	if (way < 0 || ebb_ft_node(word) != ebb_ft_node(entry) ||
	    ebb_ft_vip(word) != ebb_ft_vip(entry))
		return false;
	flags = ebb_ft_flags(word);
	if ((flags & ended) == ended)
		return false;
	return ebb_ft_cas(&t[w.b[way / EBB_FT_WAYS]].entry[way % EBB_FT_WAYS].word, word,
			  ebb_ft_with(word, flags | ended, ebb_ft_tick(word)));
}

static void tally(struct flow_tally *t, int ret)
{
	if (ret == EBB_FT_INSERTED || ret == EBB_FT_UPDATED)
		t->copied++;
	else if (ret == EBB_FT_EVICTED)
		t->copied++, t->evicted++;
	else if (ret == EBB_FT_PRESENT)
		t->present++;
	else
		t->failed++;
}

/* One flow of the old table into the new ones: IPv4 into the bucket table, IPv6 into flows6. */
static int copy_flow(struct migration *g, const struct ebb_flow_key *k, __u64 entry,
		     struct flow_tally *t)
{
	__u64 now_word;

	if (k->family == EBB_FAMILY_V4) {
		int ret = ebb_ft_pin_absent(g->ft_new.t, g->ft_new.nb, k, entry, g->now_tick);

		tally(t, ret);
		if (ret == EBB_FT_PRESENT)
			ebb_ft_note_ended(g->ft_new.t, g->ft_new.nb, k, entry);
		return 0;
	}
	if (!bpf_map_update_elem(g->flows6_fd, k, &entry, BPF_NOEXIST)) {
		t->copied++;
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	t->present++;
	/* (flows6 is a hash: no CAS; a write of the datapath in between loses its tick at most) */
	if (!bpf_map_lookup_elem(g->flows6_fd, k, &now_word) &&
	    ebb_ft_node(now_word) == ebb_ft_node(entry) && ebb_ft_vip(now_word) == ebb_ft_vip(entry) &&
	    (ebb_ft_flags(entry) & ~ebb_ft_flags(now_word) & (EBB_FLOW_FIN | EBB_FLOW_RST))) {
		now_word = ebb_ft_with(now_word,
				       ebb_ft_flags(now_word) |
					       (ebb_ft_flags(entry) & (EBB_FLOW_FIN | EBB_FLOW_RST)),
				       ebb_ft_tick(now_word));
		bpf_map_update_elem(g->flows6_fd, k, &now_word, BPF_EXIST);
	}
	return 0;
}

/* fn on every flow of the old LRU of m (struct ebb_flow_lru, its node set), from one dump,
 * until fn fails: the first copy, the second, and the check after it read the LRU alike. */
static int lru_each(struct migration *g, struct map_copy *m,
		    int (*fn)(struct migration *g, const struct ebb_flow_key *k,
			      const struct ebb_flow_lru *f, void *ctx),
		    void *ctx)
{
	void *keys = NULL, *vals = NULL;
	__u32 n = 0;
	int ret = dump_old(m, &keys, &vals, &n);

	for (__u32 i = 0; !ret && i < n; i++) {
		const struct ebb_flow_key *k = (const void *)((char *)keys + (size_t)i * sizeof(*k));
		struct ebb_flow_lru f;

		memcpy(&f, (char *)vals + (size_t)i * sizeof(f), sizeof(f));
		if (f.node_id)
			ret = fn(g, k, &f, ctx);
	}
	free(keys);
	free(vals);
	return ret;
}

static int lru_copy_one(struct migration *g, const struct ebb_flow_key *k,
			const struct ebb_flow_lru *f, void *tally)
{
	return copy_flow(g, k, ebb_ft_entry_of_lru(f), tally);
}

/* The old LRU's every entry, converted (ebb_ft_entry_of_lru), pinned if absent. */
static int lru_copy(struct migration *g, struct map_copy *m, struct flow_tally *t)
{
	return lru_each(g, m, lru_copy_one, t);
}

/*
 * The old bucket table's flows into the new one, by key (a later layout that keeps the table:
 * its buckets may be more or fewer, and the new program may have pinned a flow elsewhere than
 * the old bucket index): a key is its key word and its VIP's address and protocol (vips: by
 * VIP id, EBB_MAX_VIPS of them), believed only when it hashes to the entry's fingerprint and
 * bucket (as libebb's walk does); pinned if absent. counts: copied, present, evicted, failed.
 */
void ebb_ft_copy_table(const struct ebb_ft_bucket *from, __u32 from_nb, struct ebb_ft_bucket *to,
		       __u32 to_nb, const struct ebb_vip_entry *vips, __u32 now_tick,
		       __u64 counts[4])
{
	for (__u32 b = 0; b < from_nb; b++)
		for (int i = 0; i < EBB_FT_WAYS; i++) {
			__u64 w = ebb_ft_read(&from[b].entry[i].word);
			union ebb_ft_keyword kw = { .word = ebb_ft_read(&from[b].key[i].word) };
			const struct ebb_vip_entry *v;
			struct ebb_flow_key k = {};
			struct ebb_ft_where where;
			struct flow_tally t = {};

			if (!ebb_ft_node(w))
				continue;
			v = &vips[ebb_ft_vip(w)];
			if (v->key.family != EBB_FAMILY_V4)
				continue; /* its VIP is gone: nobody's flow */
			k.family = EBB_FAMILY_V4;
			k.proto = v->key.proto;
			k.src[0] = kw.k.addr;
			k.sport = kw.k.sport;
			k.dport = kw.k.dport;
			k.dst[0] = v->key.addr[0];
			where = ebb_ft_where_key(&k, from_nb);
			if (ebb_ft_fp(w) != where.fp || (where.b[0] != b && where.b[1] != b))
				continue; /* a pin in progress (its key word not yet written) */
			tally(&t, ebb_ft_pin_absent(to, to_nb, &k,
						    ebb_ft_entry(0, ebb_ft_vip(w), ebb_ft_node(w),
								 ebb_ft_flags(w), ebb_ft_tick(w)),
						    now_tick));
			counts[0] += t.copied;
			counts[1] += t.present;
			counts[2] += t.evicted;
			counts[3] += t.failed;
		}
}

static int table_copy(struct migration *g, struct flow_tally *t)
{
	struct ebb_vip_entry *vips = calloc(EBB_MAX_VIPS, sizeof(*vips));
	__u64 counts[4] = {};

	if (!vips)
		return -ENOMEM;
	for (__u32 id = 0; id < EBB_MAX_VIPS; id++)
		bpf_map_lookup_elem(g->vips_by_id_fd, &id, &vips[id]);
	ebb_ft_copy_table(g->ft_old.t, g->ft_old.nb, g->ft_new.t, g->ft_new.nb, vips, g->now_tick,
			  counts);
	t->copied += counts[0];
	t->present += counts[1];
	t->evicted += counts[2];
	t->failed += counts[3];
	free(vips);
	return 0;
}

/* The new tables' entry for flow k, if any: its node (0: none). */
static __u32 new_node_of(struct migration *g, const struct ebb_flow_key *k)
{
	__u64 w = 0;

	if (k->family == EBB_FAMILY_V4) {
		struct ebb_ft_where where = ebb_ft_where_key(k, g->ft_new.nb);

		ebb_ft_find(&g->ft_new.t[where.b[0]], &g->ft_new.t[where.b[1]], where.fp,
			    ebb_ft_keyword4(k), &w);
	} else if (bpf_map_lookup_elem(g->flows6_fd, k, &w)) {
		w = 0;
	}
	return ebb_ft_node(w);
}

static int lru_check_one(struct migration *g, const struct ebb_flow_key *k,
			 const struct ebb_flow_lru *f, void *upgrade)
{
	struct ebb_upgrade *res = upgrade;
	__u32 node = new_node_of(g, k);

	res->flows_checked++;
	if (!node)
		res->flows_missing++;
	else if (node != f->node_id)
		res->flows_other_node++;
	return 0;
}

/* After the second copy: every entry of the old LRU, looked up in the new tables. An entry
 * missing there is a flow lost by the migration. */
static int lru_check(struct migration *g, struct map_copy *m, struct ebb_upgrade *res)
{
	return lru_each(g, m, lru_check_one, res);
}

static void migration_free(struct migration *g)
{
	for (int i = 0; i < g->n_maps; i++) {
		struct map_copy *m = &g->maps[i];

		if (m->old_fd >= 0)
			close(m->old_fd);
		free(m->tmp[0]);
		free(m->tmp[1]);
		free(m->snap_keys);
		free(m->snap_vals);
	}
	g->n_maps = 0;
	ft_unmap(&g->ft_new);
	ft_unmap(&g->ft_old);
}

/* Empties and removes the staging directory: every name in it is one an upgrade pinned. */
static void staging_remove(const char *dir)
{
	char path[1200];
	struct dirent *d;
	DIR *dp = opendir(dir);

	if (!dp)
		return;
	while ((d = readdir(dp))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		unlink(path);
	}
	closedir(dp);
	rmdir(dir);
}

/* Pairs every pinned map of the new object with the pinned map of the same name and checks that
 * the steps turn one's entries into the other's. */
static int plan(struct migration *g, struct ebb_err *err)
{
	struct bpf_map *map;
	int ncpus = ebb_ncpus();

	bpf_object__for_each_map(map, g->obj) {
		const char *name = bpf_map__name(map);
		struct map_copy *m;
		char path[700];
		__u32 len, size;

		/* meta says what the new maps are (layout, created_ns), not what the old ones were */
		if (bpf_map__is_internal(map) || !bpf_map__pin_path(map) || !strcmp(name, "meta"))
			continue;
		/* A listener's wishes and its events belong to the program it listened to: the new
		 * one starts with nobody listening (`flow trace` is started again). */
		if (bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF || !strcmp(name, "monitor"))
			continue;
		/* The VIPs' indexes are hashes of their keys into as many bits as the layout has
		 * (they grew in 8 -> 9, for 1024 VIPs): made anew from the copied vips and
		 * vip_addrs (vip_index_rebuild), never copied. */
		if (!strcmp(name, "vip_filter") || !strcmp(name, "vip_slots"))
			continue;
		/* The SYNs the old program pinned between this copy and the swap would be missing
		 * from a copy: the new program's filter starts empty and untrusted, and asks the
		 * flow table for a window (include/ebb.h, syn_recent). */
		if (!strcmp(name, "syn_recent"))
			continue;
		if (g->n_maps == 64)
			return ebb_errf(err, "too many maps in the new object");
		m = &g->maps[g->n_maps];
		memset(m, 0, sizeof(*m));
		m->name = name;
		m->staged_pin = bpf_map__pin_path(map);
		m->new_fd = bpf_map__fd(map);
		snprintf(path, sizeof(path), "%s/%s", g->bpffs, name);
		m->old_fd = bpf_obj_get(path);
		if (m->old_fd < 0) {
			if (errno == ENOENT)
				continue; /* new in this layout: as a first creation made it */
			return ebb_errf(err, "cannot open %s: %s", path, strerror(errno));
		}
		g->n_maps++;
		len = sizeof(m->old_info);
		if (bpf_obj_get_info_by_fd(m->old_fd, &m->old_info, &len))
			return ebb_errf(err, "cannot read %s: %s", path, strerror(errno));
		len = sizeof(m->new_info);
		if (bpf_obj_get_info_by_fd(m->new_fd, &m->new_info, &len))
			return ebb_errf(err, "cannot read the new map %s: %s", name, strerror(errno));
		if (!strcmp(name, "flows") && g->flows_to_table) {
			/* the LRU (struct ebb_flow_key -> struct ebb_flow_lru) into the bucket table */
			if (m->old_info.type != BPF_MAP_TYPE_LRU_HASH ||
			    m->old_info.key_size != sizeof(struct ebb_flow_key) ||
			    m->old_info.value_size != sizeof(struct ebb_flow_lru))
				return ebb_errf(err, "cannot migrate map flows: the %u -> %u step converts the LRU hash of %zu-byte keys and %zu-byte values, not this one (type %u, %u, %u)",
						LRU_LAST_LAYOUT, TABLE_FIRST_LAYOUT,
						sizeof(struct ebb_flow_key), sizeof(struct ebb_flow_lru),
						m->old_info.type, m->old_info.key_size,
						m->old_info.value_size);
			m->flows = FLOWS_FROM_LRU;
			m->lanes = 1;
			m->old_lane = m->old_info.value_size;
			m->new_lane = m->new_info.value_size;
			continue;
		}
		if (!strcmp(name, "flows") && m->old_info.type == BPF_MAP_TYPE_ARRAY &&
		    m->old_info.value_size == sizeof(struct ebb_ft_bucket) &&
		    m->new_info.type == BPF_MAP_TYPE_ARRAY &&
		    m->new_info.value_size == sizeof(struct ebb_ft_bucket)) {
			m->flows = FLOWS_TABLE; /* by key: table_copy */
			continue;
		}
		if (m->old_info.type != m->new_info.type || m->old_info.key_size != m->new_info.key_size)
			return ebb_errf(err, "cannot migrate map %s: its type or key changed and no step converts it",
					name);
		size = m->old_info.value_size;
		for (int s = 0; s < g->n_steps; s++)
			for (const struct map_conv *c = g->chain[s]->convs; c->map; c++) {
				if (strcmp(c->map, name))
					continue;
				if (c->old_size != size)
					return ebb_errf(err, "cannot migrate map %s: %u-byte values, the %u -> %u step converts %u-byte ones",
							name, size, g->chain[s]->from, g->chain[s]->to,
							c->old_size);
				m->conv[m->n_conv++] = c;
				size = c->new_size;
			}
		if (size != m->new_info.value_size)
			return ebb_errf(err, "cannot migrate map %s: %u-byte values become %u-byte ones and no step converts them",
					name, m->old_info.value_size, m->new_info.value_size);
		m->lanes = is_percpu(m->new_info.type) ? (__u32)ncpus : 1;
		m->old_lane = m->lanes > 1 ? (m->old_info.value_size + 7) / 8 * 8 : m->old_info.value_size;
		m->new_lane = m->lanes > 1 ? (m->new_info.value_size + 7) / 8 * 8 : m->new_info.value_size;
		m->tmp[0] = calloc(1, 4096);
		m->tmp[1] = calloc(1, 4096);
		if (!m->tmp[0] || !m->tmp[1])
			return ebb_errf(err, "out of memory");
		for (int i = 0; i < m->n_conv; i++)
			if (m->conv[i]->old_size > 4096 || m->conv[i]->new_size > 4096)
				return ebb_errf(err, "map %s: values too large to convert", name);
	}
	return 0;
}

static bool flow_table(const struct map_copy *m)
{
	return m->new_info.type == BPF_MAP_TYPE_LRU_HASH || m->new_info.type == BPF_MAP_TYPE_HASH;
}

/* vip_filter, vip_slots and vips_by_id of the staged maps from their copied vips and vip_addrs,
 * before the new program sees a packet: each a function of those alone, as every writer keeps
 * them. */
static int vip_index_rebuild(struct migration *g, struct ebb_err *err)
{
	struct ebb_err ignored = {};
	struct ebb e;
	int ret;

	if (ebb_from_object(&e, g->obj, &ignored))
		return ebb_errf(err, "cannot open the new maps: %s", ignored.msg);
	ebb_vips_by_id_sync(&e); /* and vip_slots */
	ret = ebb_vip_filter_sync(&e, NULL, 0);
	ebb_close(&e);
	return ret ? ebb_errf(err, "cannot write the new vip_filter: %s", strerror(-ret)) : 0;
}

/* The first copy: everything, before the swap. */
static int copy_all(struct migration *g, struct ebb_upgrade *res, struct ebb_err *err)
{
	for (int i = 0; i < g->n_maps; i++) {
		struct map_copy *m = &g->maps[i];
		__u64 copied = 0;
		int ret;

		if (m->flows != FLOWS_NONE) {
			struct flow_tally t = {};

			ret = m->flows == FLOWS_FROM_LRU ? lru_copy(g, m, &t) : table_copy(g, &t);
			copied = t.copied;
			res->flows_evicted += t.evicted;
			res->flows_failed += t.failed;
		} else if (m->new_info.type == BPF_MAP_TYPE_ARRAY_OF_MAPS)
			ret = copy_rings(m);
		else
			ret = copy_entries(m, BPF_ANY, &copied,
					   m->new_info.type == BPF_MAP_TYPE_PERCPU_ARRAY &&
						   m->new_info.value_size % 8 == 0 && !m->n_conv);
		if (ret)
			return ebb_errf(err, "cannot copy map %s: %s", m->name, strerror(-ret));
		if (!strcmp(m->name, "flows"))
			res->flows_copied = copied;
		res->maps_copied++;
	}
	return 0;
}

/* The second copy, after the swap: what the old program did since the first. Errors here are
 * reported but undo nothing: the new program already runs. */
static int copy_late(struct migration *g, struct ebb_upgrade *res, struct ebb_err *err)
{
	int ret = 0;

	for (int i = 0; i < g->n_maps; i++) {
		struct map_copy *m = &g->maps[i];
		__u64 copied = 0;
		int r = 0;

		if (m->flows != FLOWS_NONE) {
			/* pin if absent: an entry the new program made since the swap wins (it found
			 * the flow in flows_old, or placed it as the old program would have) */
			struct flow_tally t = {};

			r = m->flows == FLOWS_FROM_LRU ? lru_copy(g, m, &t) : table_copy(g, &t);
			copied = t.copied;
			res->flows_evicted += t.evicted;
			res->flows_failed += t.failed;
			if (!r && m->flows == FLOWS_FROM_LRU)
				r = lru_check(g, m, res);
		} else if (m->snap_vals)
			r = percpu_catch_up(m);
		else if (flow_table(m) && m->new_info.type == BPF_MAP_TYPE_LRU_HASH)
			r = copy_entries(m, BPF_NOEXIST, &copied, false);
		if (r && !ret)
			ret = ebb_errf(err, "upgraded, but the second copy of map %s failed: %s", m->name,
				       strerror(-r));
		if (!strcmp(m->name, "flows"))
			res->flows_after_swap = copied;
	}
	return ret;
}

/* Puts the staged pins in place of the old ones, meta last. */
static int move_pins(struct migration *g, struct ebb_err *err)
{
	struct bpf_map *map, *meta = NULL;
	char path[700];
	int ret = 0;

	bpf_object__for_each_map(map, g->obj) {
		const char *pin = bpf_map__pin_path(map);

		if (bpf_map__is_internal(map) || !pin)
			continue;
		if (!strcmp(bpf_map__name(map), "meta")) {
			meta = map;
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", g->bpffs, bpf_map__name(map));
		if (rename(pin, path) && !ret)
			ret = ebb_errf(err, "upgraded, but cannot move %s to %s: %s", pin, path,
				       strerror(errno));
	}
	if (meta) {
		snprintf(path, sizeof(path), "%s/%s", g->bpffs, bpf_map__name(meta));
		if (rename(bpf_map__pin_path(meta), path) && !ret)
			ret = ebb_errf(err, "upgraded, but cannot move %s to %s: %s",
				       bpf_map__pin_path(meta), path, strerror(errno));
	}
	return ret;
}

/*
 * For tests (test_upgrade_layout): EBB_MIGRATE_HOLD=DIR makes an upgrade stop at point 1 (the
 * first copy done, before the swap) and point 2 (swapped and pins moved, before the second
 * copy): it creates DIR/atN and waits until DIR/goN exists (60 s at most), so that a test can
 * make flows in exactly the window the second copy and flows_old are for, without a race.
 */
static void test_hold(int point)
{
	const char *dir = getenv("EBB_MIGRATE_HOLD");
	char path[600];
	int fd;

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof(path), "%s/at%d", dir, point);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/go%d", dir, point);
	for (int i = 0; i < 6000 && access(path, F_OK); i++)
		usleep(10000);
}

/* N of the LRU layouts' `flows N`: the LRU's own size. */
static int lru_size(const char *bpffs, __u32 *size)
{
	struct bpf_map_info info;
	int ret = ebb_pinned_map_info(bpffs, "flows", &info);

	if (!ret && info.type != BPF_MAP_TYPE_LRU_HASH)
		ret = -EPROTO;
	if (!ret)
		*size = info.max_entries;
	return ret;
}

static struct map_copy *flows_copy(struct migration *g)
{
	for (int i = 0; i < g->n_maps; i++)
		if (g->maps[i].flows != FLOWS_NONE)
			return &g->maps[i];
	return NULL;
}

/* The new object's flow tables (and the old one's bucket table) mapped, and the maps a
 * migration from the LRU needs at hand. */
static int flow_tables_open(struct migration *g, struct ebb_err *err)
{
	struct map_copy *m = flows_copy(g);
	struct bpf_map *map;
	int ret;

	if (!m)
		return g->flows_to_table ? ebb_errf(err, "cannot migrate: no flows map under %s", g->bpffs) : 0;
	ret = ft_map(m->new_fd, &g->ft_new);
	if (!ret && m->flows == FLOWS_TABLE)
		ret = ft_map(m->old_fd, &g->ft_old);
	if (ret)
		return ebb_errf(err, "cannot map the flow table: %s", strerror(-ret));
	/* the old maps' VIPs: the flows' own (the new vips_by_id may be copied after flows) */
	for (int i = 0; i < g->n_maps; i++)
		if (!strcmp(g->maps[i].name, "vips_by_id"))
			g->vips_by_id_fd = g->maps[i].old_fd;
	if (m->flows == FLOWS_TABLE && g->vips_by_id_fd < 0)
		return ebb_errf(err, "cannot migrate the flow table: no vips_by_id under %s", g->bpffs);
	if (m->flows != FLOWS_FROM_LRU)
		return 0;
	map = bpf_object__find_map_by_name(g->obj, "flows6");
	g->flows6_fd = map ? bpf_map__fd(map) : -1;
	map = bpf_object__find_map_by_name(g->obj, "settings");
	g->settings_fd = map ? bpf_map__fd(map) : -1;
	map = bpf_object__find_map_by_name(g->obj, "flows_old");
	g->flows_old_fd = map ? bpf_map__fd(map) : -1;
	if (g->flows6_fd < 0 || g->settings_fd < 0 || g->flows_old_fd < 0)
		return ebb_errf(err, "cannot migrate from the LRU flow table: the new object lacks flows6, settings or flows_old");
	return 0;
}

/*
 * on: the old LRU into flows_old, then settings.migrating set (before the swap: the new
 * program reads both from its first packet). off: migrating cleared, then flows_old emptied
 * (a packet that saw the flag finds the slot empty, and places as without it).
 */
static int migrating_set(struct migration *g, bool on, struct ebb_err *err)
{
	struct map_copy *m = flows_copy(g);
	struct ebb_settings set;
	__u32 zero = 0;

	if (!m || m->flows != FLOWS_FROM_LRU)
		return 0;
	if (on && bpf_map_update_elem(g->flows_old_fd, &zero, &m->old_fd, BPF_ANY))
		return ebb_errf(err, "cannot give the new program the old flow table (flows_old): %s",
				strerror(errno));
	if (bpf_map_lookup_elem(g->settings_fd, &zero, &set))
		return ebb_errf(err, "cannot read the new settings: %s", strerror(errno));
	set.migrating = on;
	if (bpf_map_update_elem(g->settings_fd, &zero, &set, BPF_ANY))
		return ebb_errf(err, "cannot write the new settings: %s", strerror(errno));
	if (!on && bpf_map_delete_elem(g->flows_old_fd, &zero) && errno != ENOENT)
		return ebb_errf(err, "upgraded, but cannot drop the old flow table from flows_old: %s",
				strerror(errno));
	return 0;
}

int ebb_prog_migrate(const char *bpffs, const char *obj_path, __u32 from, __u32 to,
		     const struct ebb_link_info *links, int n, struct ebb_upgrade *res,
		     struct ebb_err *err)
{
	struct migration g = { .bpffs = bpffs };
	__u32 flow_size = 0;
	int ret;

	g.n_steps = find_chain(from, to, g.chain);
	if (!g.n_steps)
		return ebb_errf(err, "refusing: the maps under %s have layout version %u, the program expects %u, and ebb knows no migration from %u to %u; reusing them would lose or misread every flow",
				bpffs, from, to, from, to);
	snprintf(g.staging, sizeof(g.staging), "%s/" STAGING, bpffs);
	/* A staging directory left by an upgrade that died: none of it is in use. */
	staging_remove(g.staging);
	if (mkdir(g.staging, 0700))
		return ebb_errf(err, "cannot create %s: %s", g.staging, strerror(errno));

	for (int i = 0; i < g.n_steps; i++)
		g.flows_to_table |= g.chain[i]->flows_to_table;
	g.flows6_fd = g.vips_by_id_fd = g.settings_fd = g.flows_old_fd = -1;
	ret = ebb_pinned_flow_table_size(bpffs, &flow_size);
	if (ret && g.flows_to_table) /* no flows6 yet: N is the LRU's size */
		ret = lru_size(bpffs, &flow_size);
	g.obj = ebb_balancer_open(g.staging, obj_path, err);
	if (!g.obj) {
		ret = -EINVAL;
		goto undo;
	}
	if (!ret && ebb_flow_maps_size(g.obj, flow_size)) {
		ret = ebb_errf(err, "cannot size the flow tables for %u flows", flow_size);
		goto undo;
	}
	/* 1. the staged maps (as on a first creation: meta, settings, rescue_secret) and program */
	ret = ebb_balancer_load(g.obj, NULL, err);
	if (ret)
		goto undo;
	ret = plan(&g, err);
	if (!ret)
		ret = flow_tables_open(&g, err);
	if (ret)
		goto undo;
	g.now_tick = ebb_ft_tick_of_ns(ebb_now_ns());
	/* 2. the first copy */
	ret = copy_all(&g, res, err);
	if (!ret)
		ret = vip_index_rebuild(&g, err);
	/* the new program will read the old LRU on a miss until the second copy is done */
	if (!ret && g.flows_to_table)
		ret = migrating_set(&g, true, err);
	if (ret)
		goto undo;
	test_hold(1);
	/* 3. the swap */
	ret = ebb_links_swap(bpffs, links, n, bpf_program__fd(bpf_object__find_program_by_name(g.obj, "ebb_balancer")),
			     res, err);
	if (ret)
		goto undo;
	/* 4. the pins; 5. the second copy */
	ret = move_pins(&g, err);
	test_hold(2);
	{
		struct ebb_err late = {};
		int r = copy_late(&g, res, ret ? &late : err);

		if (!ret)
			ret = r;
	}
	/* 6. the new table has every flow: the old LRU goes (with this process's last fd) */
	if (g.flows_to_table) {
		struct ebb_err late = {};
		int r = migrating_set(&g, false, ret ? &late : err);

		if (!ret)
			ret = r;
	}
	rmdir(g.staging);
	res->migrated = true;
	res->old_layout = from;
	res->new_layout = to;
	migration_free(&g);
	bpf_object__close(g.obj);
	return ret;
undo:
	migration_free(&g);
	bpf_object__close(g.obj);
	staging_remove(g.staging);
	return ret ? ret : -EINVAL;
}
