/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Protocol numbers vmlinux.h cannot carry (they are macros in the kernel's uapi headers). */
#ifndef EBB_CONSTS_H
#define EBB_CONSTS_H

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

#define ICMP_DEST_UNREACH 3 /* carries "fragmentation needed" (code 4) */
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2

#define ICMP_FRAG_NEEDED 4
#define ICMP_TOO_BIG_QUOTE 64 /* bytes of the original packet an ICMP error quotes */
#define ICMPV6_TOO_BIG_QUOTE 128

#define IPV6_NH_HOP 0
#define IPV6_NH_ROUTING 43
#define IPV6_NH_FRAGMENT 44
#define IPV6_NH_ESP 50
#define IPV6_NH_AUTH 51
#define IPV6_NH_ICMP 58
#define IPV6_NH_DSTOPTS 60
#define IPV6_NH_MOBILITY 135

#endif /* EBB_CONSTS_H */
