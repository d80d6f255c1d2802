/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* libebb's private helpers, not for ebbctl or ebbd. */
#ifndef LIBEBB_INTERNAL_H
#define LIBEBB_INTERNAL_H

#include <bpf/libbpf.h>

#include "libebb.h"

/* Rebuilds the rings as if node override_id (0 = none) were in override_state: a state change
 * reaches the tables before the node entry, so no new flow slips onto a node being drained. */
int ebb_rings_rebuild_as(struct ebb *e, __u32 vip_id, __u32 override_id, __u8 override_state,
			 struct ebb_err *err);

int ebb_counters_zero(int map_fd, __u32 id);

struct ebb_desired_vip;
/* ops.c: a VIP of the maps as a desired record (libebb_desired.h). */
void ebb_desired_vip_of(const struct ebb_vip_key *key, const struct ebb_vip *v, struct ebb_desired_vip *out);

/* rings.c: marks in ring_changes (include/ebb.h) the slots (< m, its table size) of VIP vip_id's
 * new-flow table whose
 * owner differs between old and new (every slot when old is NULL), before either the table or
 * the VIP's rings_changed moves. rings_changed is the VIP's as it is now: when the window it
 * opened has passed, the bits it left are stale and replaced, else the new ones are added.
 * 0, or -errno when the bits cannot be written (the change must then not be made: a SYN would
 * skip the flow table where a retry can have gone elsewhere). */
int ebb_ring_changes_mark(struct ebb *e, __u32 vip_id, __u32 m, __u32 rings_changed,
			  const __u32 *old, const __u32 *new);
/* Every slot of every VIP marked (a first creation of the maps; state migrated from a layout
 * before ring_changes): every bare SYN within a VIP's window asks the flow table. */
int ebb_ring_changes_fill(int fd);

/* state.c: log2 of map fd's value size in bits divided by unit_bits (vip_filter: 1, vip_slots:
 * 16), so that this libebb writes the VIP indexes of the maps' own layout (fewer bits before
 * layout 9) until their `prog upgrade`; -errno when not a power of two within want. */
int ebb_index_log(int fd, __u32 unit_bits, unsigned int want);

/* state.c: every VIP of `vips` (at most EBB_MAX_VIPS), keys and values, in a few batched
 * syscalls: a walk by key costs two a VIP, and every VIP write walks them (1024 VIPs). The
 * count, or -errno. */
int ebb_vips_read(struct ebb *e, struct ebb_vip_key *keys, struct ebb_vip *vals);

/* state.c: the bytes of a lookup table of `elems` elements, as mmap wants them (the tables
 * rings.c fills, state.c reads). */
size_t ebb_ring_bytes(__u32 elems);

/* state.c: the map pinned at path, or (create) a new one pinned there; fd or -errno. Two
 * processes may both create it: the one whose pin loses uses the winner's map, so both write
 * the one map everyone reads. */
int ebb_map_pin_or_get(const char *path, enum bpf_map_type type, const char *name, __u32 key_size,
		       __u32 value_size, __u32 max, bool create);

/* maglev.c: a VIP table of m slots of set (all 0 when n == 0: the VIP has no such node): 0,
 * -ENOMEM or -EINVAL. How rings.c builds the tables it installs, and history.c those of a
 * fleet's older member sets. */
int ebb_table_build(const struct ebb_maglev_node *set, size_t n, __u32 m, __u32 *table);

/* history.c: what one rewrite of a VIP's tables does to its slot history. Planned from the
 * tables before and after (EBB_RING_SIZE node ids each, 0 = no table): the slots that gain an
 * owner, written before the tables swap (a slot's old owner is a candidate before it stops
 * owning the slot). The rest of the map is ebb_history_sweep's. */
struct ebb_history_plan;
struct ebb_history_plan *ebb_history_plan(struct ebb *e, __u32 vip_id, __u32 tcp_idle_s,
					  const __u32 *old_new, const __u32 *old_sec,
					  const __u32 *new_new, const __u32 *new_sec, __u64 now_ns);
/* Returns the slots whose list found no room (the map full), >= 0. */
long ebb_history_write(struct ebb *e, struct ebb_history_plan *p);
void ebb_history_plan_free(struct ebb_history_plan *p);
/* Adds lost (the slots whose history found no room; <= 0: nothing) to the VIP's history_lost,
 * saturating at 65535. */
void ebb_history_count_lost(struct ebb *e, __u32 vip_id, long lost);
/* The whole map, taken and put back as it was (a batch that fails rolls back its history too:
 * entries it added go, entries it rewrote or removed come back). */
struct ebb_history_copy;
struct ebb_history_copy *ebb_history_copy_take(struct ebb *e);
int ebb_history_copy_put_back(struct ebb *e, const struct ebb_history_copy *c);
void ebb_history_copy_free(struct ebb_history_copy *c);

/* links.c: the pin directory of this network namespace, BPFFS/PREFIX-<netns inode> (the
 * decapsulator's and the node program's): lab nodes share one bpffs and each has its own eth0.
 * 0, or -errno (-ENAMETOOLONG if it does not fit in buf). */
int ebb_netns_dir(const char *bpffs, const char *prefix, char *buf, size_t len);
/* links.c: XDP attachments pinned as PREFIX<ifname> under the bpffs directory. */
void ebb_link_path(const char *bpffs, const char *prefix, const char *ifname, char *buf, size_t len);
int ebb_link_precheck(const char *bpffs, const char *prefix, const char *ifname, int *ifindex,
		      struct ebb_err *err);
int ebb_link_create(const char *bpffs, const char *prefix, const char *ifname, int ifindex,
		    int prog_fd, bool generic, struct ebb_err *err);
int ebb_link_detach(const char *bpffs, const char *prefix, const char *ifname, struct ebb_err *err);
int ebb_link_list(const char *bpffs, const char *prefix, struct ebb_link_info *out, int max);
/* Loads an XDP object its skeleton opened (NULL: the open failed, errno says why) and links its
 * program prog to ifname, pinned under bpffs as PREFIX<ifname>: the decapsulator and the node
 * program attach the same way. `what` names the object in errors. The caller destroys it. */
int ebb_link_load(struct bpf_object_skeleton *s, struct bpf_program *prog, const char *what,
		  const char *bpffs, const char *prefix, const char *ifname, int ifindex,
		  bool generic, struct ebb_err *err);

/* stats.c: a per-CPU reason counter of the map pinned as DIR/NAME, summed (zero, and -ENOENT,
 * if there is no such pin or it cannot be read). */
int ebb_reason_sum_pinned(const char *dir, const char *name, __u32 reason,
			  struct ebb_reason_counter *sum);

/* The balancer's attachments: bpf_links pinned as BPFFS/EBB_LINK_PREFIX<ifname>. */
#define EBB_LINK_PREFIX "link_xdp_"

/* netdev.c: the first IPv4 and global IPv6 address of device ifname (fills zeros only); 0, or
 * -ENOENT when the addresses cannot be listed. */
int ebb_device_addrs(const char *ifname, __be32 *src4, __be32 *src6);

/* balancer.c, for loader.c and migrate.c: the balancer object (pinning under pin_root), the
 * layout version compiled into an object's read-only data (`layout_version`), its load (a
 * first creation of its maps sets meta, the settings and rescue_secret), a swap of every link
 * to prog_fd (those swapped go back if one fails), the pinned flow table's size. */
int ebb_object_layout_version(struct bpf_object *obj, __u32 *version);
struct bpf_object *ebb_balancer_open(const char *pin_root, const char *obj_path, struct ebb_err *err);
int ebb_balancer_load(struct bpf_object *obj, const char *ifname, struct ebb_err *err);
int ebb_links_swap(const char *bpffs, const struct ebb_link_info *links, int n, int prog_fd,
		   struct ebb_upgrade *res, struct ebb_err *err);
int ebb_pinned_map_info(const char *bpffs, const char *name, struct bpf_map_info *info);
int ebb_pinned_flow_table_size(const char *bpffs, __u32 *size);
/* migrate.c: `prog upgrade` from the pinned maps' layout `from` to the object's `to`. */
/* Pins entry (an entry word, fingerprint 0) for flow k into the mapped bucket table t of nb
 * buckets unless the flow has an entry there (migrate.c). Returns EBB_FT_* (include/ebb_flowtable.h). */
struct ebb_ft_bucket;
int ebb_ft_pin_absent(struct ebb_ft_bucket *t, __u32 nb, const struct ebb_flow_key *k,
		      __u64 entry, __u32 now_tick);
/* The FIN and RST of entry added to k's entry in t if it names the same node and VIP
 * (migrate.c). */
bool ebb_ft_note_ended(struct ebb_ft_bucket *t, __u32 nb, const struct ebb_flow_key *k,
		       __u64 entry);
/* Every flow of the bucket table from (its VIPs' keys in vips, by id) into the table to, by key,
 * pin if absent; counts: copied, present, evicted, failed (migrate.c). */
void ebb_ft_copy_table(const struct ebb_ft_bucket *from, __u32 from_nb, struct ebb_ft_bucket *to,
		       __u32 to_nb, const struct ebb_vip_entry *vips, __u32 now_tick,
		       __u64 counts[4]);
int ebb_prog_migrate(const char *bpffs, const char *obj_path, __u32 from, __u32 to,
		     const struct ebb_link_info *links, int n, struct ebb_upgrade *res,
		     struct ebb_err *err);

#endif
