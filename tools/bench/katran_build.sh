#!/usr/bin/env bash
# tools/bench/katran_build.sh SRC OUT: Katran's XDP balancer built from its own tree the way its
# lib/Makefile-bpf does (clang -emit-llvm | llc -march=bpf; -I. -D__KERNEL__ -DDEBUG ...), into
# OUT/balancer.bpf.o, and a second copy with MAX_CONN_RATE=1 (its flood path) into
# OUT/balancer_flood.bpf.o. Katran's code is never part of this repository: SRC is a checkout
# the operator fetched (github facebookincubator/katran).
set -euo pipefail
src=${1:?usage: katran_build.sh KATRAN_SRC OUTDIR}
out=${2:?usage: katran_build.sh KATRAN_SRC OUTDIR}
flags=(-I. -I./include -I./usr/include -DDEBUG -D__KERNEL__ -Wno-unused-value -Wno-pointer-sign
	-Wno-compare-distinct-pointer-types -O2 -emit-llvm -c -g)
[ -f "$src/katran/lib/bpf/balancer.bpf.c" ] ||
	{ echo "Error: $src has no katran/lib/bpf/balancer.bpf.c (a Katran checkout?)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$src"
clang "${flags[@]}" katran/lib/bpf/balancer.bpf.c -o - |
	llc -march=bpf -filetype=obj -o "$out/balancer.bpf.o"
clang "${flags[@]}" -DMAX_CONN_RATE=1 katran/lib/bpf/balancer.bpf.c -o - |
	llc -march=bpf -filetype=obj -o "$out/balancer_flood.bpf.o"
