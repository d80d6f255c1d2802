// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent's view of the pinned state, read again at every tick (nodes, VIPs, members: a few
 * batch lookups), and the one way ebbd changes it: a node transition that applies only if the
 * node is still as ebbd saw it, so that an operator's ebbctl in between always wins.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "ebbd.h"

static int pin_inodes(const char *bpffs, ino_t ino[2])
{
	static const char *const names[2] = { "nodes", "flows" };
	char path[600];
	struct stat st;

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", bpffs, names[i]);
		if (stat(path, &st))
			return -errno;
		ino[i] = st.st_ino;
	}
	return 0;
}

/* The node's flow lists: the one a pass left for drain.c, and the drain's own. */
static void node_lists_free(struct node *n)
{
	watch_reset(&n->census.list.keys);
	watch_reset(&n->drain.list);
}

void state_close(struct agent *a)
{
	if (!a->open)
		return;
	ebb_close(&a->e);
	a->open = false;
	measure_close(a);
	for (__u32 id = 0; id < EBB_MAX_NODES; id++) {
		node_lists_free(&a->nodes[id]);
		if (a->nodes[id].used)
			status_nodes_changed();
		a->nodes[id].used = false;
	}
}

/* A node's entry as the maps have it now (read in, or after ebbd's own write). */
static void node_take(struct node *n, const struct ebb_node *now)
{
	if (n->entry.state != now->state || n->entry.state_since_ns != now->state_since_ns)
		status_nodes_changed();
	n->entry = *now;
}

/* Opens the maps, or notices that they were re-created (detach, rm, attach) and re-opens. */
static int ensure_open(struct agent *a)
{
	struct ebb_err err = {};
	ino_t ino[2];
	static bool said;

	if (pin_inodes(a->bpffs, ino)) {
		if (a->open)
			log_msg(LOG_ERROR, "state_lost", "the pinned maps under %s are gone; waiting for them",
				a->bpffs);
		state_close(a);
		if (!said)
			log_msg(LOG_WARN, "no_state", "no ebb state under %s yet (ebbctl prog attach); waiting",
				a->bpffs);
		said = true;
		return -ENOENT;
	}
	if (a->open && !memcmp(ino, a->pins, sizeof(ino)))
		return 0;
	if (a->open)
		log_msg(LOG_WARN, "state_recreated", "the maps under %s were re-created; re-opening", a->bpffs);
	state_close(a);
	if (ebb_open(&a->e, a->bpffs, &err)) {
		log_msg(LOG_ERROR, "open_failed", "%s", err.msg);
		return -EIO;
	}
	memcpy(a->pins, ino, sizeof(ino));
	a->open = true;
	said = false;
	log_msg(LOG_INFO, "state_open", "using the ebb state under %s", a->bpffs);
	return 0;
}

/*
 * A pool naming a VIP the maps do not have is not an error of the file (VIPs are added with
 * ebbctl, before or after ebbd starts), but likely a typo: said once as a warning with the
 * file's line, and again if the VIP comes and goes.
 */
static void pools_check_vips(struct agent *a)
{
	for (int p = 0; p < a->cfg.n_pools; p++) {
		struct pool_cfg *pc = &a->cfg.pools[p];

		for (int k = 0; k < pc->n_vips; k++) {
			bool known = vip_find(a, &pc->vips[k]) != NULL;
			char name[64];

			if (known || pc->vip_missing[k]) {
				pc->vip_missing[k] = !known;
				continue;
			}
			pc->vip_missing[k] = true;
			ebb_fmt_vip(&pc->vips[k], name, sizeof(name));
			log_msg(LOG_WARN, "pool_vip_unknown",
				"pool '%s' names VIP %s (%s:%d), which is not configured under %s: its nodes are not managed until it is added (ebbctl vip add)",
				pc->name, name, a->cfg_path ? a->cfg_path : "?", pc->vip_lines[k], a->bpffs);
		}
	}
}

/* The pool owning a node: the first (in file order) that lists one of its VIPs. */
static int pool_of(const struct agent *a, const struct node *n)
{
	for (int p = 0; p < a->cfg.n_pools; p++)
		for (int i = 0; i < n->n_vips; i++)
			for (int j = 0; j < a->n_vips; j++) {
				if (a->vips[j].vip.id != n->vip_ids[i])
					continue;
				for (int k = 0; k < a->cfg.pools[p].n_vips; k++)
					if (!memcmp(&a->cfg.pools[p].vips[k], &a->vips[j].key,
						    sizeof(struct ebb_vip_key)))
						return p;
			}
	return -1;
}

int state_refresh(struct agent *a)
{
	static __u32 ids[EBB_MAX_NODES];
	static struct ebb_node entries[EBB_MAX_NODES];
	static struct ebb_member_key mkeys[EBB_MAX_MEMBERS];
	static struct ebb_member mvals[EBB_MAX_MEMBERS];
	struct ebb_vip_key vkeys[EBB_MAX_VIPS];
	struct ebb_vip vvals[EBB_MAX_VIPS];
	int n, nm;

	if (ensure_open(a))
		return -1;
	n = ebb_map_dump(a->e.nodes_fd, ids, entries, EBB_MAX_NODES, sizeof(*ids), sizeof(*entries));
	nm = ebb_map_dump(a->e.members_fd, mkeys, mvals, EBB_MAX_MEMBERS, sizeof(*mkeys), sizeof(*mvals));
	a->n_vips = ebb_map_dump(a->e.vips_fd, vkeys, vvals, EBB_MAX_VIPS, sizeof(*vkeys), sizeof(*vvals));
	if (n < 0 || nm < 0 || a->n_vips < 0) {
		log_msg(LOG_ERROR, "read_failed", "cannot read the maps under %s: %s", a->bpffs,
			strerror(-(n < 0 ? n : nm < 0 ? nm : a->n_vips)));
		a->n_vips = 0;
		return -1;
	}
	for (int i = 0; i < a->n_vips; i++)
		a->vips[i] = (struct vip_ent){ .key = vkeys[i], .vip = vvals[i] };
	vip_index(a);
	pools_check_vips(a);

	for (int i = 0; i < n; i++) {
		struct node *nd;
		__u32 id = ids[i];

		if (id >= EBB_MAX_NODES)
			continue;
		nd = &a->nodes[id];
		if (entries[i].state == EBB_NODE_UNUSED) {
			if (nd->used) {
				node_lists_free(nd);
				status_nodes_changed();
			}
			nd->used = false;
			continue;
		}
		/* Same slot, other address: another node, whose observations start afresh. */
		if (!nd->used || nd->entry.family != entries[i].family ||
		    !ebb_addr_eq(nd->entry.addr, entries[i].addr, entries[i].family)) {
			__u64 gen = nd->gen + 1;

			node_lists_free(nd);
			memset(nd, 0, sizeof(*nd));
			nd->gen = gen;
			nd->id = id;
			memcpy(nd->addr.a, entries[i].addr, sizeof(nd->addr.a));
			nd->addr.family = entries[i].family;
			ebb_fmt_addr(entries[i].addr, entries[i].family, nd->name, sizeof(nd->name));
		}
		nd->used = true;
		node_take(nd, &entries[i]);
		nd->n_vips = 0;
	}
	for (int i = 0; i < nm; i++) {
		struct node *nd = mkeys[i].node_id < EBB_MAX_NODES ? &a->nodes[mkeys[i].node_id] : NULL;

		if (nd && nd->used && nd->n_vips < EBB_MAX_VIPS) {
			nd->vip_weights[nd->n_vips] = mvals[i].weight;
			nd->vip_ids[nd->n_vips++] = mkeys[i].vip_id;
		}
	}
	for (__u32 id = 1; id < EBB_MAX_NODES; id++)
		if (a->nodes[id].used)
			a->nodes[id].pool = pool_of(a, &a->nodes[id]);
	return 0;
}

int node_transition(struct agent *a, struct node *n, __u8 to, __u32 drain_timeout_s, int hook,
		    json_object *ev, long long flows_cut)
{
	const char *from = ebb_state_name(n->entry.state);
	struct ebb_err err = {};
	struct ebb_node now;
	bool fleet = fleet_enabled();
	int ret;

	/* In a fleet only the leader decides, and the decision goes to etcd first (fleet.c):
	 * once written there it is made, whatever happens to the local write below (every host,
	 * this one too, applies it from etcd). */
	ret = fleet_transition(a, n, to, drain_timeout_s, ev);
	if (ret) {
		json_object_put(ev);
		return ret;
	}
	ret = ebb_trylock(&a->e);
	/* The maps were replaced since this tick opened them (`prog upgrade` across a layout):
	 * the next tick re-opens them and decides on what they hold. */
	if (!ret && ebb_stale(&a->e)) {
		ebb_unlock(&a->e);
		if (fleet)
			goto decided;
		log_msg(LOG_DEBUG, "state_stale", "the maps under %s were replaced; deciding again on the new ones",
			a->bpffs);
		json_object_put(ev);
		return -EAGAIN;
	}
	if (ret && fleet)
		goto decided;
	if (ret) {
		/* An ebbctl is writing: decide again next tick, on what it wrote. */
		log_msg(LOG_DEBUG, "lock_busy", "state locked by another writer; retrying %s", n->name);
		json_object_put(ev);
		return -EAGAIN;
	}
	if (bpf_map_lookup_elem(a->e.nodes_fd, &n->id, &now) || memcmp(&now, &n->entry, sizeof(now))) {
		ebb_unlock(&a->e);
		if (fleet)
			goto decided;
		log_msg(LOG_DEBUG, "node_changed", "%s changed under us; deciding again", n->name);
		json_object_put(ev);
		return -EAGAIN;
	}
	ret = ebb_node_set_state(&a->e, &n->addr, to, drain_timeout_s, &err);
	if (!ret && bpf_map_lookup_elem(a->e.nodes_fd, &n->id, &now) == 0)
		node_take(n, &now);
	ebb_unlock(&a->e);
	if (ret && !fleet) {
		json_object *e = log_new(LOG_ERROR, "transition_failed");

		json_add_str(e, "node", n->name);
		json_add_str(e, "old_state", from);
		json_add_str(e, "new_state", ebb_state_name(to));
		json_add_str(e, "error", err.msg);
		log_emit(e);
		json_object_put(ev);
		return -EIO;
	}
decided:
	a->transitions++;
	json_add_str(ev, "node", n->name);
	if (n->pool >= 0)
		json_add_str(ev, "pool", pool_name(a, n->pool));
	json_add_str(ev, "old_state", from);
	json_add_str(ev, "new_state", ebb_state_name(to));
	log_emit(ev);
	/* Only now, after the write: a kill before this line skips the hook, never doubles it. */
	if (hook < EV_MAX)
		hook_fire(a, hook, n, n->pool, from, ebb_state_name(to), flows_cut, a->hook_extra);
	return 0;
}
