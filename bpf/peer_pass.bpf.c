// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Goes on the peer of every veth that ebb transmits on: a veth silently drops frames sent by
 * XDP (XDP_TX/XDP_REDIRECT) unless its peer runs an XDP program too (doc/xdp-on-veth.md, trap 1).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
