// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The node's connection count (doc/node-truth.md): a TCP socket iterator over the socket table
 * of the network namespace that reads it, counting per local (address, port) of this node's VIPs
 * the sockets that own a connection (include/ebb.h's EBB_TCP_OWNS, the rule the node program
 * judges rescues by) and, apart, those in TIME_WAIT. It is the kernel's own table walked at the
 * moment of reading, not a second record kept by the node program: nothing here can drift from
 * what the stack holds, and a connection the node program never saw (one opened before it was
 * attached, one that never needed a rescue) counts as well.
 *
 * Which local addresses: those in decap_prefixes, the node program's VIP prefixes (user space
 * hands it the node's pinned map), so that the node's own outgoing connections (to etcd, to a
 * package mirror, ssh) never count as a VIP's; with count_all set, every local address (a node
 * whose VIPs were not added, e.g. dsr ones, can still be asked).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ebb.h"

#define AF_INET 2
#define AF_INET6 10

_Static_assert(EBB_TCP_LISTEN == BPF_TCP_LISTEN && EBB_TCP_TIME_WAIT == BPF_TCP_TIME_WAIT,
	       "include/ebb.h's TCP states are the kernel's");

const volatile bool count_all = false;

/* the node program's VIP prefixes: user space reuses the node's pinned map here */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct ebb_decap_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} decap_prefixes SEC(".maps");

/* one walk's result, read by user space once the walk ends; a fresh object per count */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBB_CONNS_KEYS);
	__type(key, struct ebb_conns_key);
	__type(value, struct ebb_conns_val);
} conns SEC(".maps");

/* sockets whose (address, port) found no room in conns: a count with any is incomplete */
__u64 overflow = 0;

SEC("iter/tcp")
int ebb_conns(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct ebb_conns_key key = {};
	struct ebb_decap_key pk = {};
	struct ebb_conns_val *v, zero = {};
	__u8 state;

	if (!skc)
		return 0;
	state = skc->skc_state;
	if (state == EBB_TCP_LISTEN) /* no connection, and no VIP lookup for it */
		return 0;
	key.port = skc->skc_num;
	if (skc->skc_family == AF_INET) {
		key.family = EBB_FAMILY_V4;
		key.addr[0] = skc->skc_rcv_saddr;
	} else if (skc->skc_family == AF_INET6) {
		__u32 *a = skc->skc_v6_rcv_saddr.in6_u.u6_addr32;

		/* ::ffff:a.b.c.d, a dual-stack socket's IPv4 connection: the VIP is IPv4 */
		if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff)) {
			key.family = EBB_FAMILY_V4;
			key.addr[0] = a[3];
		} else {
			key.family = EBB_FAMILY_V6;
			key.addr[0] = a[0];
			key.addr[1] = a[1];
			key.addr[2] = a[2];
			key.addr[3] = a[3];
		}
	} else {
		return 0;
	}
	if (!count_all) {
		pk.prefixlen = 32 + (key.family == EBB_FAMILY_V4 ? 32 : 128);
		pk.family = key.family;
		__builtin_memcpy(pk.addr, key.addr, sizeof(pk.addr));
		if (!bpf_map_lookup_elem(&decap_prefixes, &pk))
			return 0;
	}
	v = bpf_map_lookup_elem(&conns, &key);
	if (!v) {
		/* a failed insert is a full map: no entry to count in then */
		bpf_map_update_elem(&conns, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&conns, &key);
		if (!v) {
			__sync_fetch_and_add(&overflow, 1);
			return 0;
		}
	}
	if (EBB_TCP_OWNS(state))
		v->live++;
	else /* TIME_WAIT: LISTEN returned above */
		v->time_wait++;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
