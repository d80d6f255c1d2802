/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The desired state, one model for both of its stores (the pinned maps, the fleet's etcd):
 * what an operator wants of a VIP, of a node on a VIP, and of the datapath's settings, and the
 * one validation every write of either store passes (desired.c). A store answers the questions
 * a check needs in a struct ebb_desired_have; the checks themselves read nothing else, so that
 * ebbctl, restore, the fleet's writers and every host reading etcd refuse the same things with
 * the same words.
 */
#ifndef LIBEBB_DESIRED_H
#define LIBEBB_DESIRED_H

#include "libebb.h"

/* A VIP as wanted: 0 in a timeout or the table size is "the default". */
struct ebb_desired_vip {
	struct ebb_vip_key key;
	struct ebb_vip_opts o;
};

/* A node as wanted on one VIP: its weight there, and what is the node's on every VIP. */
struct ebb_desired_node {
	struct ebb_addr addr;
	struct ebb_vip_key vip;
	__u32 weight; /* 0 = EBB_DEFAULT_WEIGHT */
	__u8 state; /* EBB_NODE_ACTIVE, _DRAINING, _INACTIVE or _DOWN */
	__u32 drain_timeout_s; /* 0 = its VIPs' */
	bool have_mac;
	__u8 mac[6];
	bool node_prog;
};

/* The datapath's settings (struct ebb_settings), as `prog set` writes them. */
struct ebb_desired_settings {
	__u32 flood_rate; /* 0 = off */
	__u32 mtu; /* 0 = off */
	__u32 rescue_rate; /* 0 = no rescues */
};

#define EBB_MTU_MIN 1320 /* an IPv6 tunnel still leaves IPv6's minimum of 1280 (RFC 8201) */
#define EBB_MTU_MAX 65535
#define EBB_RATE_MAX 100000000u

/*
 * What a store holds about the objects one write names: filled by the store (ops.c from the
 * maps, ebbctl from the fleet's state in etcd) before it calls a check below.
 */
struct ebb_desired_have {
	bool vip; /* the VIP the write names exists */
	bool node; /* the node it names exists (serves a VIP, or is held inactive) */
	struct ebb_desired_node node_is; /* ... as it is (addr, state, mac, node_prog) */
	bool serves; /* the node serves the VIP named */
	int node_vips; /* how many VIPs the node serves */
	bool addr_is_vip; /* the node's address is a VIP's address */
	bool addr_is_node; /* the VIP's address is a node's */
	/* the address the write adds (the VIP's, the node's) is this host's own, on this device
	 * ("": it is not); the host's, not the store's: ebb_addr_local where the write is made */
	char local_dev[32];
	bool src4_is_vip, src6_is_vip; /* the VIP's encap-src of that family is a VIP's address */
	int n_vips, n_nodes, n_members; /* in the store */
};

/* The host's own answer for h->local_dev: whether address a is one of its own. */
void ebb_desired_have_local(struct ebb_desired_have *h, const struct ebb_addr *a);

/* The records alone, nothing else read: 0, or -EINVAL with err set. */
int ebb_desired_vip_check(const struct ebb_desired_vip *v, struct ebb_err *err);
int ebb_desired_node_check(const struct ebb_desired_node *n, struct ebb_err *err);
/* A node's MAC: one host's (not zero, not a group's). */
int ebb_desired_mac_check(const __u8 mac[6], struct ebb_err *err);
int ebb_desired_settings_check(const struct ebb_desired_settings *s, struct ebb_err *err);

/* Each write against what its store holds (h): 0, or -EINVAL with err set. */
int ebb_desired_vip_add_check(const struct ebb_desired_vip *v, const struct ebb_desired_have *h,
			      struct ebb_err *err);
int ebb_desired_vip_del_check(const struct ebb_vip_key *k, const struct ebb_desired_have *h,
			      struct ebb_err *err);
/* A VIP's timeouts changed in place (the non-zero ones of o). */
int ebb_desired_vip_set_check(const struct ebb_vip_key *k, const struct ebb_vip_opts *o,
			      const struct ebb_desired_have *h, struct ebb_err *err);
/* A VIP made v in place (the change ebb_desired_vips_diff calls EBB_DESIRED_VIP_SET): was, as
 * the store holds it, differs in timeouts and outer sources only; a source that changes is
 * checked as one added (h->src4_is_vip, h->src6_is_vip: of v's sources). */
int ebb_desired_vip_replace_check(const struct ebb_desired_vip *v, const struct ebb_desired_vip *was,
				  const struct ebb_desired_have *h, struct ebb_err *err);
/* n->state: EBB_NODE_INACTIVE when added inactive, else EBB_NODE_ACTIVE. */
int ebb_desired_node_add_check(const struct ebb_desired_node *n, const struct ebb_desired_have *h,
			       struct ebb_err *err);
/* vk NULL: the node from every VIP. */
int ebb_desired_node_del_check(const struct ebb_addr *a, const struct ebb_vip_key *vk,
			       const struct ebb_desired_have *h, struct ebb_err *err);
/* A node-wide option (node-prog) changed: the node must exist. */
int ebb_desired_node_flags_check(const struct ebb_addr *a, const struct ebb_desired_have *h,
				 struct ebb_err *err);
int ebb_desired_node_state_check(const struct ebb_addr *a, __u8 state,
				 const struct ebb_desired_have *h, struct ebb_err *err);
/* A state written with where it began (since_ns, on the store's monotonic clock; now: that
 * clock's now) and, for a down node, where it returns to (before_down; 0: the state it
 * leaves): a start not in the future, a state a node can return to. */
int ebb_desired_node_state_at_check(const struct ebb_addr *a, __u8 state, __u64 since_ns,
				    __u8 before_down, __u64 now, const struct ebb_desired_have *h,
				    struct ebb_err *err);
/* A node's MAC changed in place: a unicast MAC, of a node that exists. */
int ebb_desired_node_mac_check(const struct ebb_addr *a, const __u8 mac[6],
			       const struct ebb_desired_have *h, struct ebb_err *err);
int ebb_desired_node_weight_check(const struct ebb_addr *a, const struct ebb_vip_key *vk,
				  __u32 weight, const struct ebb_desired_have *h, struct ebb_err *err);

/* A new node's MAC: given, or this host's neighbour entry for it (a node must be reachable
 * from the balancer, directly). */
int ebb_desired_node_mac(struct ebb_desired_node *n, struct ebb_err *err);

/* The write of EBB_DESIRED_VIP_SET on the maps, checked by ebb_desired_vip_replace_check: the
 * VIP's timeouts (0: the default) and outer sources as v has them, in one map update, its flows
 * kept. ebbctl's `vip set` (ebb_vip_set) is this, with the VIP's other values as they are. */
int ebb_vip_replace(struct ebb *e, const struct ebb_desired_vip *v, struct ebb_err *err);

/* ---- diff: what makes a store's VIPs the desired ones ---- */
/* The maps' VIPs as desired records (out: room for EBB_MAX_VIPS): how many, or -errno. */
int ebb_desired_vips_read(struct ebb *e, struct ebb_desired_vip *out);

enum ebb_desired_op {
	EBB_DESIRED_VIP_DEL, /* a VIP the store has and the desired state has not */
	EBB_DESIRED_VIP_ADD, /* one the desired state has and the store has not */
	/* another forwarding mode or table size: made again (its flows re-placed), as the same
	 * tables on every host need */
	EBB_DESIRED_VIP_REMAKE,
	EBB_DESIRED_VIP_SET, /* timeouts or outer sources: changed in place, flows kept */
};

struct ebb_desired_change {
	enum ebb_desired_op op;
	struct ebb_desired_vip vip; /* as wanted (EBB_DESIRED_VIP_DEL: as the store has it) */
};

/*
 * The changes that make the n_cur VIPs a store holds (cur) the n_want VIPs wanted: first the
 * deletes (in cur's order), then, in want's order, each VIP to add, make again or set. A table
 * size of 0 is EBB_TABLE_SIZE_DEFAULT on either side. out has room for n_cur + n_want; returns
 * how many. Pure: the caller applies them.
 */
size_t ebb_desired_vips_diff(const struct ebb_desired_vip *want, size_t n_want,
			     const struct ebb_desired_vip *cur, size_t n_cur,
			     struct ebb_desired_change *out);

/* ---- diff: what makes a store's nodes and memberships the desired ones ---- */
/*
 * The maps' nodes as desired records: one per membership (vip: the VIP, weight: the node's
 * there), and one with vip.family 0 for a node that serves no VIP; the node-wide fields (state,
 * drain_timeout_s, mac as the maps have it, have_mac true, node_prog) on each. By node id, a
 * node's memberships in the members map's order. out: room for EBB_MAX_MEMBERS + EBB_MAX_NODES.
 * How many, or -errno.
 */
int ebb_desired_members_read(struct ebb *e, struct ebb_desired_node *out);

enum ebb_desired_member_op {
	EBB_DESIRED_NODE_DEL, /* a node the desired state has not: from every VIP, and gone */
	EBB_DESIRED_MEMBER_DEL, /* the node off one VIP it is not wanted on; the node stays */
	EBB_DESIRED_NODE_MAC, /* the node's MAC, in place */
	/* the node onto a VIP: the add that makes the node makes it inactive unless it is wanted
	 * active, with node_prog as wanted (on an existing node both are the node's own already) */
	EBB_DESIRED_MEMBER_ADD,
	EBB_DESIRED_MEMBER_WEIGHT, /* its weight on one VIP, in place */
	EBB_DESIRED_NODE_FLAGS, /* node_prog */
	EBB_DESIRED_NODE_STATE, /* state, and a drain's own timeout */
};

struct ebb_desired_member_change {
	enum ebb_desired_member_op op;
	/* as wanted (EBB_DESIRED_NODE_DEL, EBB_DESIRED_MEMBER_DEL: as the store has it) */
	struct ebb_desired_node node;
};

/*
 * The changes that make the n_cur records a store holds (cur, as ebb_desired_members_read
 * gives them) the n_want wanted, records of the same shape: a node's records need not be
 * adjacent, and the node-wide fields are taken from its first. A wanted node whose VIPs the
 * store lacks is a record with vip.family 0 (its state still applies if the node is there). In
 * this order, each step needing the ones before it:
 *   1. the nodes not wanted, deleted (in cur's order);
 *   2. then each wanted node in turn (in want's order, at its first record):
 *      a. its memberships not wanted, deleted (cur's order): before an add, so that the
 *         store's room for members holds the new ones;
 *      b. its MAC, if wanted and another: before an add, which refuses a MAC the node lacks;
 *      c. its memberships added, or their weight set (want's order);
 *      d. node_prog, then its state (or a drain's timeout), on a node that exists by then:
 *         after the adds, which make a new node inactive and can give node_prog only to a
 *         new node. A node wanted on no VIP the store has and not in it is left out.
 * A node is never deleted for what it is not given: one whose key failed the schema is wanted
 * as the store has it (its records in want: no change). A weight of 0 is EBB_DEFAULT_WEIGHT.
 * out has room for n_cur + 4 x n_want; returns how many, or -ENOMEM. O(n log n) in the
 * records. Pure: the caller applies them.
 */
ssize_t ebb_desired_members_diff(const struct ebb_desired_node *want, size_t n_want,
				 const struct ebb_desired_node *cur, size_t n_cur,
				 struct ebb_desired_member_change *out);

#endif /* LIBEBB_DESIRED_H */
