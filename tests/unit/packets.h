/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Packet building for the datapath tests: a frame is described by a struct pkt_desc (Ethernet
 * [+ 802.1Q] + IPv4/IPv6 [+ options / extension header] + TCP/UDP/ICMP/ICMPv6, an ICMP error
 * quoting another described packet) and built with correct lengths and checksums. Nothing here
 * knows about ebb: the bytes are what a wire would carry.
 */
#ifndef EBB_TEST_PACKETS_H
#define EBB_TEST_PACKETS_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#define PKT_MAX 1500

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86DD
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_VLAN 0x8100

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

#define IP4_MF 0x2000

/* IPv6 extension header placed between the IPv6 header and L4. */
enum { EXT6_NONE = 0, EXT6_HOP, EXT6_FRAG };

struct pkt_desc {
	/* L2 */
	uint16_t vlan; /* 802.1Q VID; 0 = untagged */
	uint16_t ethertype; /* a non-IP frame (ARP) when set; the rest is then ignored */
	/* L3 */
	int family; /* 4 or 6 */
	const char *src, *dst;
	uint8_t ihl; /* IPv4 header length field; 0 = 5. Above 5, (ihl-5)*4 bytes of options are
		      * laid out; below 5 the field lies and a 20-byte header is laid out anyway */
	uint16_t frag; /* IPv4 flags + fragment offset (host order) */
	int ext6; /* EXT6_* */
	/* L4 */
	uint8_t proto; /* IPPROTO_TCP / UDP / ICMP / ICMPV6 */
	uint16_t sport, dport; /* host order */
	int sport_var, dport_var; /* > 0: the port is pkt_port_var[var], chosen at run time */
	uint8_t flags; /* TCP flags */
	int payload; /* bytes of L4 payload (TCP/UDP/ICMP echo) */
	uint8_t icmp_type, icmp_code;
	const struct pkt_desc *quote; /* ICMP error: the packet it quotes (IP and up) */
	int quote_len; /* bytes of that packet quoted; 0 = its IP header + 8 bytes, < 0 = none */
	/* Lies, for malformed packets; 0 = the true value. Checksums are computed after them, so
	 * each case has only the defect it names. */
	uint8_t version; /* IP version field; 0x10 says 0 */
	int ip_len; /* IPv4 total length / IPv6 payload length; < 0: 0 */
	uint8_t doff; /* TCP data offset (header length in 32-bit words); 0x10 says 0 */
	int udp_len; /* UDP length; < 0: 0 */
	uint8_t bad_csum; /* XORed into the IPv4 header checksum */
	bool csum_no_opts; /* the IPv4 checksum leaves the options out */
};

/* Where the layers of a built frame start. */
struct pkt_layout {
	size_t len, l3, l4;
};

/* Ports a test chooses at run time: a desc's sport_var / dport_var index this. */
#define PKT_PORT_VARS 16
static uint16_t pkt_port_var[PKT_PORT_VARS];

static inline uint16_t pkt_port(uint16_t port, int var)
{
	return var > 0 && var < PKT_PORT_VARS ? pkt_port_var[var] : port;
}

static inline uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static inline void pkt_addr(const char *s, int family, uint8_t *out)
{
	if (inet_pton(family == 6 ? AF_INET6 : AF_INET, s, out) != 1)
		abort(); /* a typo in a test table */
}

/* Pseudo-header sum of the L4 checksum. */
static inline uint32_t pseudo_sum(const struct pkt_desc *d, uint8_t proto, size_t l4len)
{
	uint8_t a[16], b[16], tail[8] = {};
	uint32_t sum = 0;
	size_t alen = d->family == 6 ? 16 : 4;

	pkt_addr(d->src, d->family, a);
	pkt_addr(d->dst, d->family, b);
	sum = csum_add(sum, a, alen);
	sum = csum_add(sum, b, alen);
	if (d->family == 6) {
		put32(tail, (uint32_t)l4len);
		tail[7] = proto;
		return csum_add(sum, tail, 8);
	}
	tail[1] = proto;
	put16(tail + 2, (uint16_t)l4len);
	return csum_add(sum, tail, 4);
}

static inline size_t build_ip(const struct pkt_desc *d, uint8_t *out, size_t *l4_off);

/* The L4 part (header + payload), checksummed. Returns its length. */
static inline size_t build_l4(const struct pkt_desc *d, uint8_t *p)
{
	uint16_t sport = pkt_port(d->sport, d->sport_var), dport = pkt_port(d->dport, d->dport_var);
	size_t len = 0, csum_at = 0;
	bool pseudo = true;

	switch (d->proto) {
	case IPPROTO_TCP:
		memset(p, 0, 20);
		put16(p, sport);
		put16(p + 2, dport);
		put32(p + 4, 0x01020304); /* seq */
		put32(p + 8, (d->flags & TH_ACK) ? 0x0a0b0c0d : 0);
		p[12] = (d->doff ? d->doff & 0x0f : 5) << 4; /* data offset */
		p[13] = d->flags;
		put16(p + 14, 65535); /* window */
		len = 20;
		csum_at = 16;
		break;
	case IPPROTO_UDP:
		memset(p, 0, 8);
		put16(p, sport);
		put16(p + 2, dport);
		len = 8;
		csum_at = 6;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		memset(p, 0, 8);
		p[0] = d->icmp_type;
		p[1] = d->icmp_code;
		if (d->quote)
			put16(p + 6, d->family == 6 ? 1280 : 1400); /* next-hop MTU */
		else
			put32(p + 4, 0x1234 << 16 | 1); /* echo id, seq */
		len = 8;
		csum_at = 2;
		pseudo = d->proto == IPPROTO_ICMPV6;
		if (d->quote) {
			uint8_t q[PKT_MAX];
			size_t q_l4, qlen = build_ip(d->quote, q, &q_l4);
			size_t keep = d->quote_len < 0 ? 0 :
				      d->quote_len ? (size_t)d->quote_len : q_l4 + 8;

			if (keep > qlen)
				keep = qlen;
			memcpy(p + len, q, keep);
			len += keep;
		}
		break;
	default:
		abort();
	}
	for (int i = 0; i < d->payload; i++)
		p[len++] = (uint8_t)('a' + i % 26);
	if (d->proto == IPPROTO_UDP)
		put16(p + 4, d->udp_len < 0 ? 0 : d->udp_len ? (uint16_t)d->udp_len : (uint16_t)len);
	{
		uint32_t sum = pseudo ? pseudo_sum(d, d->proto, len) : 0;
		uint16_t c = csum_fold(csum_add(sum, p, len));

		if (d->proto == IPPROTO_UDP && c == 0)
			c = 0xffff;
		put16(p + csum_at, c);
	}
	return len;
}

/* The IP packet (header, options or extension header, L4). Returns its length. */
static inline size_t build_ip(const struct pkt_desc *d, uint8_t *out, size_t *l4_off)
{
	uint8_t l4[PKT_MAX];
	size_t l4len = build_l4(d, l4), hl;

	if (d->family == 4) {
		uint8_t ihl = d->ihl ? d->ihl : 5;
		size_t opt = ihl > 5 ? (ihl - 5) * 4u : 0;

		hl = 20 + opt;
		memset(out, 0, hl);
		out[0] = (d->version ? d->version & 0x0f : 4) << 4 | (ihl & 0x0f);
		put16(out + 2, d->ip_len < 0 ? 0 : d->ip_len ? (uint16_t)d->ip_len :
							      (uint16_t)(hl + l4len));
		put16(out + 4, 0x4242); /* id */
		put16(out + 6, d->frag);
		out[8] = 64;
		out[9] = d->proto;
		pkt_addr(d->src, 4, out + 12);
		pkt_addr(d->dst, 4, out + 16);
		/* options: Router Alert (RFC 2113) first, then NOPs, then End of List */
		if (opt) {
			memset(out + 20, 0x01, opt);
			out[20] = 0x94;
			out[21] = 0x04;
			out[22] = 0;
			out[23] = 0;
			out[hl - 1] = 0x00;
		}
		put16(out + 10, csum_fold(csum_add(0, out, d->csum_no_opts ? 20 : hl)) ^ d->bad_csum);
	} else {
		size_t ext = d->ext6 ? 8 : 0;

		hl = 40 + ext;
		memset(out, 0, hl);
		out[0] = (d->version ? d->version & 0x0f : 6) << 4;
		put16(out + 4, d->ip_len < 0 ? 0 : d->ip_len ? (uint16_t)d->ip_len :
							      (uint16_t)(ext + l4len));
		out[7] = 64; /* hop limit */
		pkt_addr(d->src, 6, out + 8);
		pkt_addr(d->dst, 6, out + 24);
		if (d->ext6 == EXT6_HOP) {
			out[6] = 0; /* hop-by-hop */
			out[40] = d->proto;
			out[41] = 0;
			out[42] = 1; /* PadN */
			out[43] = 4;
		} else if (d->ext6 == EXT6_FRAG) {
			out[6] = 44;
			out[40] = d->proto;
			put16(out + 42, 0x0001); /* offset 0, more fragments */
			put32(out + 44, 0xebb00001);
		} else {
			out[6] = d->proto;
		}
	}
	memcpy(out + hl, l4, l4len);
	*l4_off = hl;
	return hl + l4len;
}

/* The whole frame: eth [+ 802.1Q] + IP. */
static inline struct pkt_layout build_frame(const struct pkt_desc *d, const uint8_t dst_mac[6],
					    const uint8_t src_mac[6], uint8_t *out)
{
	struct pkt_layout lay = {};
	size_t off = 12, l4;
	uint16_t type = d->ethertype ? d->ethertype :
			d->family == 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;

	memcpy(out, dst_mac, 6);
	memcpy(out + 6, src_mac, 6);
	if (d->vlan) {
		put16(out + off, ETHERTYPE_VLAN);
		put16(out + off + 2, d->vlan & 0x0fff);
		off += 4;
	}
	put16(out + off, type);
	off += 2;
	lay.l3 = off;
	if (type == ETHERTYPE_ARP) {
		/* who-has dst tell src, over Ethernet/IPv4 */
		uint8_t *a = out + off;

		memset(a, 0, 28);
		put16(a, 1);
		put16(a + 2, ETHERTYPE_IPV4);
		a[4] = 6;
		a[5] = 4;
		put16(a + 6, 1);
		memcpy(a + 8, src_mac, 6);
		pkt_addr(d->src, 4, a + 14);
		pkt_addr(d->dst, 4, a + 24);
		lay.l4 = off + 28;
		lay.len = off + 28;
		return lay;
	}
	lay.len = off + build_ip(d, out + off, &l4);
	lay.l4 = off + l4;
	return lay;
}

/* ---- tunnels (ipip): an outer IPv4 / IPv6 header in front of an IP packet ---- */

/* The outer header of an IPIP / 6-in-4 (IPv4) or 4-in-6 / 6-in-6 (IPv6) packet. */
struct outer_desc {
	int family; /* 4 or 6 */
	const char *src, *dst;
	uint8_t proto; /* IPPROTO_IPIP (4) / IPPROTO_IPV6 (41), or anything else */
	uint8_t ihl; /* IPv4, as in struct pkt_desc: 0 = 5, above 5 options are laid out */
	uint16_t frag; /* IPv4 flags + fragment offset (host order) */
	uint16_t id; /* IPv4 */
	uint8_t tos; /* IPv4 TOS / IPv6 traffic class */
	uint8_t ttl; /* TTL / hop limit; 0 = 64 */
	uint32_t flow_label; /* IPv6, 20 bits */
};

/* Sums an IPv4 header (its length from its IHL field, at least 20 bytes): a valid header's
 * checksum folds to 0. */
static inline uint16_t ip4_hdr_fold(const uint8_t *ip)
{
	size_t hl = (size_t)(ip[0] & 0x0f) * 4;

	return csum_fold(csum_add(0, ip, hl < 20 ? 20 : hl));
}

/* The outer header for an inner packet of inner_len bytes, IPv4 checksum computed. Returns
 * its length. */
static inline size_t build_outer(const struct outer_desc *o, size_t inner_len, uint8_t *out)
{
	if (o->family == 4) {
		uint8_t ihl = o->ihl ? o->ihl : 5;
		size_t opt = ihl > 5 ? (ihl - 5) * 4u : 0, hl = 20 + opt;

		memset(out, 0, hl);
		out[0] = 0x40 | ihl;
		out[1] = o->tos;
		put16(out + 2, (uint16_t)(hl + inner_len));
		put16(out + 4, o->id);
		put16(out + 6, o->frag);
		out[8] = o->ttl ? o->ttl : 64;
		out[9] = o->proto;
		pkt_addr(o->src, 4, out + 12);
		pkt_addr(o->dst, 4, out + 16);
		if (opt) { /* NOPs, then End of List */
			memset(out + 20, 0x01, opt);
			out[hl - 1] = 0x00;
		}
		put16(out + 10, csum_fold(csum_add(0, out, hl)));
		return hl;
	}
	memset(out, 0, 40);
	put32(out, 6u << 28 | (uint32_t)o->tos << 20 | (o->flow_label & 0xfffff));
	put16(out + 4, (uint16_t)inner_len);
	out[6] = o->proto;
	out[7] = o->ttl ? o->ttl : 64;
	pkt_addr(o->src, 6, out + 8);
	pkt_addr(o->dst, 6, out + 24);
	return 40;
}

/* Ethernet [+ 802.1Q tag] header with the given EtherType. Returns its length. */
static inline size_t build_l2(const uint8_t dst_mac[6], const uint8_t src_mac[6], uint16_t vlan,
			      uint16_t type, uint8_t *out)
{
	size_t off = 12;

	memcpy(out, dst_mac, 6);
	memcpy(out + 6, src_mac, 6);
	if (vlan) {
		put16(out + off, ETHERTYPE_VLAN);
		put16(out + off + 2, vlan & 0x0fff);
		off += 4;
	}
	put16(out + off, type);
	return off + 2;
}

/* Where the layers of a built tunnel frame start. */
struct tun_layout {
	size_t len, outer, inner, inner_len;
};

/* A tunnel frame: eth [+ 802.1Q, the inner desc's vlan] + outer header + the IP packet `in`
 * describes (built as build_ip() builds it). */
static inline struct tun_layout build_tunnel_frame(const struct outer_desc *o,
						   const struct pkt_desc *in,
						   const uint8_t dst_mac[6],
						   const uint8_t src_mac[6], uint8_t *out)
{
	struct tun_layout lay = {};
	uint8_t inner[PKT_MAX];
	size_t l4;

	lay.inner_len = build_ip(in, inner, &l4);
	lay.outer = build_l2(dst_mac, src_mac, in->vlan,
			     o->family == 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4, out);
	lay.inner = lay.outer + build_outer(o, lay.inner_len, out + lay.outer);
	memcpy(out + lay.inner, inner, lay.inner_len);
	lay.len = lay.inner + lay.inner_len;
	return lay;
}

#endif /* EBB_TEST_PACKETS_H */
