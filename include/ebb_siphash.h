/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012), written from
 * the paper: the keyed hash of a rescue's cookie (doc/node-truth.md). A claim must carry the
 * cookie of its flow back, so the cookie must be a PRF of the flow under a key only the
 * balancer knows (rescue_secret): a client that never saw a rescue cannot compute one, and a
 * seeded non-cryptographic hash (jhash, ebb_flow_hash) can be inverted from a few samples.
 *
 * Shared by the datapath and user space (the tests compute the cookie independently). The
 * message is a whole number of 32-bit words read in memory order, which on the little-endian
 * machines ebb runs on (x86-64, arm64; BPF here is bpfel) is the byte order the paper uses:
 * the test vectors with 0, 8 and 32 bytes hold (tests/unit/test_rescue.c). Words, not bytes:
 * the datapath hashes keys on its stack, where the verifier refuses a misaligned 8-byte load.
 */
#ifndef EBB_SIPHASH_H
#define EBB_SIPHASH_H

#include "ebb.h"

static inline __u64 ebb_rotl64(__u64 x, unsigned int b)
{
	return (x << b) | (x >> (64 - b));
}

#define EBB_SIPROUND(v0, v1, v2, v3)                                                   \
	do {                                                                           \
		v0 += v1; v1 = ebb_rotl64(v1, 13); v1 ^= v0; v0 = ebb_rotl64(v0, 32); \
		v2 += v3; v3 = ebb_rotl64(v3, 16); v3 ^= v2;                           \
		v0 += v3; v3 = ebb_rotl64(v3, 21); v3 ^= v0;                           \
		v2 += v1; v1 = ebb_rotl64(v1, 17); v1 ^= v2; v2 = ebb_rotl64(v2, 32); \
	} while (0)

/* SipHash-2-4 of the 4 * n_words bytes at w, with the 16-byte key k (as bytes: k[0] holds bytes
 * 0-3). n_words is a constant where the datapath calls it, so the loop unrolls. */
static inline __u64 ebb_siphash24(const __u32 k[4], const __u32 *w, unsigned int n_words)
{
	__u64 k0 = (__u64)k[0] | (__u64)k[1] << 32, k1 = (__u64)k[2] | (__u64)k[3] << 32;
	__u64 v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	__u64 v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	__u64 m, b = (__u64)(n_words * 4) << 56;
	unsigned int i;

	for (i = 0; i + 2 <= n_words; i += 2) {
		m = (__u64)w[i] | (__u64)w[i + 1] << 32;
		v3 ^= m;
		EBB_SIPROUND(v0, v1, v2, v3);
		EBB_SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	if (n_words & 1) /* the last 4 bytes are the final block's low half */
		b |= w[n_words - 1];
	v3 ^= b;
	EBB_SIPROUND(v0, v1, v2, v3);
	EBB_SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	EBB_SIPROUND(v0, v1, v2, v3);
	EBB_SIPROUND(v0, v1, v2, v3);
	EBB_SIPROUND(v0, v1, v2, v3);
	EBB_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* The cookie of a rescue of flow `key`: 32 bits of its SipHash under rescue_secret. 32 bits
 * suffice: a forged claim is one guess per packet, each counted (drop_bad_claim), and what a
 * right guess wins is the pin of one flow to a node of ours that takes pinned flows. */
static inline __u32 ebb_rescue_cookie(const struct ebb_rescue_secret *s, const struct ebb_flow_key *key)
{
	return (__u32)ebb_siphash24(s->key, (const __u32 *)key, sizeof(*key) / 4);
}

#endif /* EBB_SIPHASH_H */
