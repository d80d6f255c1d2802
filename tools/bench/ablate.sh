#!/usr/bin/env bash
# tools/bench/ablate.sh — where a path's cost goes. Builds variants of the balancer from a copy
# of bpf/ (each with one piece of work taken out, or done another way), and times each beside
# the floor with `bench_xdp --object`. Ratios to the floor compare across variants; nanoseconds
# drift between runs (lab.md trap 6). Not part of `make bench` (about 15 s per variant and pass).
#
#   bash tools/bench/ablate.sh [--only ID,ID...] [--rounds N] [--passes N] [VARIANT[+VARIANT...]...]
#
# A variant is not a proposal as such: "no_stats" says what the counters cost, not that they
# should go. The suggestions drawn from these figures are in doc/performance.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUTPUT=${OUTPUT:-.output}
case "$OUTPUT" in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
ARCH=$(uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
ONLY=pass_not_vip,hit,hit_1m_spread,new_flow,ipip_hit,syn_flood
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
[ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=(base no_stats no_filter no_csum no_touch syn_lookup
	no_stats+no_csum)

TMP=$(mktemp -d /tmp/ebb-ablate.XXXXXX)
BPFFS=/sys/fs/bpf/ebb-ablate-$$
cleanup() { rm -rf "$TMP" "$BPFFS"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# patch NAME: one change to the copy of bpf/ in $dir.
patch_one() {
	local name=$1 f=$dir/bpf/balancer.bpf.c p=$dir/bpf/parsing.h
	case $name in
	base) ;;
	no_stats) # no per-CPU counters at all (vip, node, reason)
		perl -0pi -e 's/(static __always_inline int account\([^)]*\)\n\{).*?\n\}/$1\n\treturn verdict;\n}/s;
			s/(static __always_inline void count\([^)]*\)\n\{).*?\n\}/$1\n}/s' "$f" ;;
	no_filter) # no vip_filter bit test: every IP packet goes on to the VIP lookup
		perl -0pi -e 's/(static __always_inline bool maybe_vip_addr\([^)]*\)\n\{).*?\n\}/$1\n\treturn true;\n}/s' "$p" ;;
	no_csum) # no IPv4 header checksum check (the malformed-packet hardening's dearest part)
		perl -0pi -e 's/(static __always_inline bool ipv4_csum_ok\([^)]*\)\n\{).*?\n\}/$1\n\treturn true;\n}/s' "$p" ;;
	no_touch) # a hit never refreshes the entry's last-seen tick (what the 250 ms touch costs)
		perl -0pi -e 's/\t\t\tif \(\(__s32\)\(ebb_seen_tick\(s->now\) - flow->seen\) > EBB_TOUCH_TICKS\)\n\t\t\t\tflow->seen = ebb_seen_tick\(s->now\);\n//s' "$f" ;;
	syn_lookup) # every bare SYN asks the flow table (as for 135 s after a table change)
		perl -0pi -e 's/if \(bare_syn\(pkt\) && !slot_changed_lately\(s\)\)/if (0)/s' "$f" ;;
	no_flood_check) # the flood guard's per-packet check, gone (run it with new_flow only:
		# without the guard the flood path fills the table and evicts the 1M flows)
		sed -i 's/if (flood_guard_on(s->now))/if (0 \&\& flood_guard_on(s->now))/' "$f" ;;
	no_second_pick) # under the guard, no second ring lookup to decide on syn_pins
		perl -0pi -e 's/syn_pin = pkt->key\.proto == IPPROTO_TCP && vip->has_draining &&\s*ring_pick\(EBB_RING_SECOND\(vip->id\), slot\) != node_id;/syn_pin = false;/s' "$f" ;;
	jiffies) # the clock read as the inlined bpf_jiffies64 load instead of a helper call (cost
		# only: the ticks it gives are not CLOCK_MONOTONIC's, so idle ages would be wrong)
		sed -i 's/s\.now = bpf_ktime_get_coarse_ns();/s.now = bpf_jiffies64() << 22;/' "$f" ;;
	vip_hash) # every VIP found as before vip_slots and vips_by_id: a hash-map lookup of the key
		perl -0pi -e 's/(static __always_inline struct ebb_vip \*vip_by_key\([^)]*\)\n\{\n)/$1\tif (vk)\n\t\treturn bpf_map_lookup_elem(&vips, vk);\n/s;
			s/(static __always_inline bool classify_by_flow\([^)]*\)\n\{)/$1\n\tif (flow) return false;/s' "$f" ;;
	map_only) # the kernel's flow-table work alone: parse, then only the flow-table lookup (a
		# hit: XDP_TX, the frame unchanged) or, for a SYN, only the insert. What is left of
		# a path's cost above this row is ebb's own work; the row itself both balancers pay.
		perl -0pi -e 's/(\treason = parse\(ctx, &s\.pkt\); \/\* 1 \*\/\n)/$1\tif (reason == EBB_R_FORWARDED) {\n\t\tstruct ebb_flow fresh = { .node_id = 1 };\n\n\t\tif (bare_syn(&s.pkt))\n\t\t\treturn bpf_map_update_elem(&flows, &s.pkt.key, &fresh, BPF_ANY) ? XDP_DROP : XDP_TX;\n\t\treturn bpf_map_lookup_elem(&flows, &s.pkt.key) ? XDP_TX : XDP_DROP;\n\t}\n/' "$f" ;;
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
		{ "$OUTPUT/bench/bench_report" --cell "${files[@]}" "$id" || true; } | xargs printf ' %15s'
	done
	printf '\n'
done
