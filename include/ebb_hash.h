/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The flow hash that picks a Maglev slot. It lives here, not in bpf/, because user space must
 * compute the very same number: `ebbctl flow lookup` explains a placement, the tests predict one,
 * and two LB hosts with the same configuration must agree (ECMP in front of them), so the seed
 * is a constant and never per host.
 *
 * A Jenkins-style mix over 32-bit words (Bob Jenkins, lookup3, public domain).
 */
#ifndef EBB_HASH_H
#define EBB_HASH_H

#include "ebb.h"

#define EBB_HASH_SEED 0x65626230u /* "ebb0" */

static inline __u32 ebb_rol32(__u32 word, unsigned int shift)
{
	return (word << shift) | (word >> ((-shift) & 31));
}

#define EBB_MIX(a, b, c)                                 \
	do {                                             \
		a -= c; a ^= ebb_rol32(c, 4); c += b;    \
		b -= a; b ^= ebb_rol32(a, 6); a += c;    \
		c -= b; c ^= ebb_rol32(b, 8); b += a;    \
		a -= c; a ^= ebb_rol32(c, 16); c += b;   \
		b -= a; b ^= ebb_rol32(a, 19); a += c;   \
		c -= b; c ^= ebb_rol32(b, 4); b += a;    \
	} while (0)

#define EBB_FINAL(a, b, c)                       \
	do {                                     \
		c ^= b; c -= ebb_rol32(b, 14);   \
		a ^= c; a -= ebb_rol32(c, 11);   \
		b ^= a; b -= ebb_rol32(a, 25);   \
		c ^= b; c -= ebb_rol32(b, 16);   \
		a ^= c; a -= ebb_rol32(c, 4);    \
		b ^= a; b -= ebb_rol32(a, 14);   \
		c ^= b; c -= ebb_rol32(b, 24);   \
	} while (0)

/*
 * Hash of the client side of a flow: source address and both ports. The VIP is implied by the
 * ring being consulted. IPv4 flows hash one address word, IPv6 all four.
 */
static inline __u32 ebb_flow_hash(const struct ebb_flow_key *key)
{
	__u32 a, b, c;

	a = b = c = EBB_HASH_SEED + key->proto;
	a += key->src[0];
	b += ((__u32)key->sport << 16) | key->dport;
	if (key->family == EBB_FAMILY_V6) {
		c += key->src[1];
		EBB_MIX(a, b, c);
		a += key->src[2];
		b += key->src[3];
	}
	EBB_FINAL(a, b, c);
	return c;
}

/* The flow's slot in a table of m slots (its VIP's table_size; 0 reads as EBB_RING_SIZE). */
static inline __u32 ebb_ring_slot_m(const struct ebb_flow_key *key, __u32 m)
{
	return ebb_flow_hash(key) % (m ? m : EBB_RING_SIZE);
}

/* ... in a table of the default size, EBB_RING_SIZE. */
static inline __u32 ebb_ring_slot(const struct ebb_flow_key *key)
{
	return ebb_ring_slot_m(key, EBB_RING_SIZE);
}

#endif /* EBB_HASH_H */
