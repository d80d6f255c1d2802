#!/usr/bin/env bash
# tools/bench/ablate.sh — where a path's cost goes. Builds variants of the balancer from a copy
# of bpf/ (each with one piece of work taken out, or done another way), and times each beside
# the floor with `bench_xdp --object`. Ratios to the floor compare across variants; nanoseconds
# drift between runs (lab.md trap 6). Not part of `make bench` (about 15 s per variant and pass).
#
#   bash tools/bench/ablate.sh [--only ID,ID...] [--rounds N] [--passes N] [VARIANT[+VARIANT...]...]
#
# A variant is not a proposal as such: "no_stats" says what the counters cost, not that they
# should go. The suggestions drawn from these figures are in the README's Performance section.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUTPUT=${OUTPUT:-.output}
case "$OUTPUT" in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
ARCH=$(uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
ONLY=pass_not_vip,hit,hit_1m_spread,new_flow,second_chance,syn_flood,syn_flood_small
ROUNDS=5
PASSES=3
VARIANTS=()
while [ $# -gt 0 ]; do
	case $1 in
	--only) ONLY=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--passes) PASSES=$2; shift 2 ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) VARIANTS+=("$1"); shift ;;
	esac
done
[ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=(base coarse_clock no_stats no_addr_check no_second_pick
	flood_syn_no_lookup coarse_clock+no_second_pick)

TMP=$(mktemp -d /tmp/ebb-ablate.XXXXXX)
BPFFS=/sys/fs/bpf/ebb-ablate-$$
cleanup() { rm -rf "$TMP" "$BPFFS"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# patch NAME FILE: one change to the copy of bpf/ in $dir.
patch_one() {
	local name=$1 f=$dir/bpf/balancer.bpf.c
	case $name in
	base) ;;
	coarse_clock) # the tick-resolution clock: no clock-source read per packet
		sed -i 's/bpf_ktime_get_ns()/bpf_ktime_get_coarse_ns()/' "$f" ;;
	no_stats) # no per-CPU counters at all (vip, node, reason)
		perl -0pi -e 's/(static __always_inline int account\([^)]*\)\n\{).*?\n\}/$1\n\treturn verdict;\n}/s;
			s/(static __always_inline void count\([^)]*\)\n\{).*?\n\}/$1\n}/s' "$f" ;;
	no_addr_check) # no vip_addrs pre-check: the VIP lookup alone tells ours from not-ours
		perl -0pi -e 's/(static __always_inline bool is_vip_addr\([^)]*\)\n\{).*?\n\}/$1\n\treturn true;\n}/s' \
			"$dir/bpf/parsing.h" ;;
	no_flood_check) # the flood guard's per-packet check, gone (run it with new_flow only:
		# without the guard the flood path fills the table and evicts the 1M flows)
		sed -i 's/if (flood_guard_on(now))/if (0 \&\& flood_guard_on(now))/' "$f" ;;
	no_second_pick) # under the guard, no second ring lookup to decide on syn_pins (what a
		# per-VIP "has a draining node" flag would give while no node drains)
		perl -0pi -e 's/syn_pin = pkt\.key\.proto == IPPROTO_TCP &&\s*ring_pick\(EBB_RING_SECOND\(vip->id\), (?:&pkt\.key|slot)\) != node_id;/syn_pin = false;/s' "$f" ;;
	flood_syn_no_lookup) # while the flood guard is on, a bare SYN skips the flow-table lookup
		# (what a "rings unchanged for longer than the SYN retry window" rule would allow)
		perl -0pi -e 's/(static __always_inline __u32 ring_pick)/static __always_inline bool flood_guard_peek(__u64 now)\n{\n\t__u32 zero = 0;\n\tstruct ebb_settings *s = bpf_map_lookup_elem(&settings, &zero);\n\tstruct ebb_flood_window *w = bpf_map_lookup_elem(&flood_window, &zero);\n\n\treturn s && w && s->flood_rate && now - w->start_ns <= 1000000000ULL && w->new_flows > s->flood_rate;\n}\n\n$1/s;
			s/\tflow = bpf_map_lookup_elem\(&flows, &pkt\.key\);/\tflow = pkt.key.proto == IPPROTO_TCP && (pkt.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN && flood_guard_peek(now) ? NULL : bpf_map_lookup_elem(&flows, &pkt.key);/s' "$f" ;;
	*) echo "unknown variant $name" >&2; return 1 ;;
	esac
}

# variant NAME[+NAME...]: a copy of bpf/ and include/ with those changes, compiled like the
# Makefile does.
variant() {
	local name=$1 part f
	dir=$TMP/$1
	mkdir -p "$dir"
	cp -r "$ROOT/bpf" "$ROOT/include" "$dir/"
	f=$dir/bpf/balancer.bpf.c
	IFS=+ read -r -a parts <<<"$name"
	for part in "${parts[@]}"; do
		patch_one "$part" || return 1
		if [ "$part" != base ] && cmp -s "$ROOT/bpf/balancer.bpf.c" "$f" &&
			cmp -s "$ROOT/bpf/parsing.h" "$dir/bpf/parsing.h"; then
			echo "variant $part: the patch did not apply (bpf/ changed?)" >&2
			return 1
		fi
	done
	clang -g -O2 -target bpf -D__TARGET_ARCH_"$ARCH" -D__bpf__ -I"$dir/bpf" -I"$dir/include" \
		-I"$ROOT" -Wall -Werror -c "$f" -o "$dir/balancer.bpf.o"
}

# Every variant once per pass, passes in turn (the order rotated), so that a slow minute of the
# machine hits one pass of each variant, not all of one: each cell is the median over passes.
for v in "${VARIANTS[@]}"; do
	variant "$v" || exit 1
done
printf '%s passes of %s rounds each; cells: median ratio to the floor (median ns)\n' "$PASSES" "$ROUNDS"
for ((p = 0; p < PASSES; p++)); do
	n=${#VARIANTS[@]}
	for ((k = 0; k < n; k++)); do
		v=${VARIANTS[$(((k + p) % n))]}
		"$OUTPUT/bench/bench_xdp" --bpffs "$BPFFS" --object "$TMP/$v/balancer.bpf.o" \
			--only "$ONLY" --rounds "$ROUNDS" --no-control --no-verify \
			--json "$TMP/$v.$p.json" 2>/dev/null || echo "$v: bench_xdp failed in pass $p" >&2
	done
done
printf '%-36s' variant
IFS=, read -r -a IDS <<<"$ONLY"
for id in "${IDS[@]}"; do printf ' %15s' "$id"; done
printf '\n'
for v in "${VARIANTS[@]}"; do
	printf '%-36s' "$v"
	for id in "${IDS[@]}"; do
		files=()
		for ((p = 0; p < PASSES; p++)); do
			[ ! -f "$TMP/$v.$p.json" ] || files+=("$TMP/$v.$p.json")
		done
		"$OUTPUT/bench/bench_report" --cell "${files[@]}" "$id" | xargs printf ' %15s'
	done
	printf '\n'
done
