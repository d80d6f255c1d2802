#!/usr/bin/env bash
# tools/bench/flowtable.sh — issue 16's flow-table prototype (tools/bench/flowtable.h), measured:
#  1. the fill sweep: per variant, the highest load at which 99.9 % of 1M random inserts succeed
#     (ft_sweep, the prototype's insert in user space), and the bytes per flow there;
#  2. one bench_xdp run: every variant's hit at 1M flows and new flow into 1M, each beside ebb's
#     own path (hit_1m_spread, new_flow) and, with KATRAN_SRC=DIR, Katran's, in the same
#     interleaved rounds (medians); the census of each mmapped table and ebb's census at 1M.
# Root only. Needs `make` first (the ft_*.bpf.o objects and bench_xdp). About a minute.
#
#   [KATRAN_SRC=DIR] [ONLY=hit_1m_spread,new_flow,syn_flood] [SWEEP=0] bash tools/bench/flowtable.sh [--rounds N] [--runs N]
# (ONLY=...,syn_flood adds the prototype's miss rows, beside the flood guard's SYN)
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUTPUT=${OUTPUT:-.output}
case "$OUTPUT" in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
ROUNDS=11 RUNS=1
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	-h | --help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "Error: unknown argument '$1' (--rounds N, --runs N)" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "Error: root is needed (BPF_PROG_TEST_RUN, bpffs)" >&2; exit 2; }
[ -x "$OUTPUT/bench/bench_xdp" ] && [ -f "$OUTPUT/bench/ft_a8w8.bpf.o" ] ||
	{ echo "Error: build first (make)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/ebb-flowtable.XXXXXX)
BPFFS=/sys/fs/bpf/ebb-flowtable-$$
cleanup() { rm -rf "$TMP" "$BPFFS"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
DIR=$OUTPUT/flowtable
mkdir -p "$DIR"

: >"$DIR/sweep.jsonl"
[ "${SWEEP:-1}" = 1 ] && echo "== fill sweep: highest load with 99.9 % of 1M random inserts succeeding =="
[ "${SWEEP:-1}" = 1 ] && for v in "a8w8:" "a8w8ff:-DFT_POLICY=0" "a8w8c1:-DFT_CHOICES=1" "a8w4:-DFT_WAYS=4" \
	"a8w16:-DFT_WAYS=16" "a8w16c1:-DFT_WAYS=16 -DFT_CHOICES=1" "a8w8mul:-DFT_HASH=1"; do
	name=${v%%:*}
	# shellcheck disable=SC2086 # the variant's flags, word-split on purpose
	gcc -O2 -Wall -Werror -I"$ROOT/include" -I"$ROOT/tools/bench" ${v#*:} \
		"$ROOT/tools/bench/ft_sweep.c" -o "$TMP/ft_sweep_$name"
	"$TMP/ft_sweep_$name" "$name" >>"$DIR/sweep.jsonl"
done

katran=()
if [ -n "${KATRAN_SRC:-}" ]; then
	bash "$ROOT/tools/bench/katran_build.sh" "$KATRAN_SRC" "$OUTPUT/katran"
	katran=(--katran "$OUTPUT/katran/balancer.bpf.o" --katran-flood "$OUTPUT/katran/balancer_flood.bpf.o")
fi
files=()
for ((r = 1; r <= RUNS; r++)); do
	echo "== bench_xdp run $r of $RUNS ($ROUNDS rounds) ==" >&2
	"$OUTPUT/bench/bench_xdp" --bpffs "$BPFFS" --rounds "$ROUNDS" --no-control \
		--only "${ONLY:-hit_1m_spread,new_flow}" --flowtable "$OUTPUT/bench" "${katran[@]}" \
		--json "$DIR/run-$r.json" 2>"$DIR/run-$r.log" ||
		{ echo "Error: bench_xdp failed in run $r:" >&2; tail -5 "$DIR/run-$r.log" >&2; exit 1; }
	files+=("$DIR/run-$r.json")
done
echo "(git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs," \
	"kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$DIR/sweep.jsonl" "${files[@]}" <<'PY'
import json, sys, statistics as st
sweep = [json.loads(l) for l in open(sys.argv[1])]
print("\nfill sweep (1,048,576 random IPv4 flows; load = flows / ways at <= 0.1 % evicted):")
print(f"  {'variant':10} {'ways':>4} {'choices':>7} {'policy':>13} {'load':>6} {'B/flow hot':>10} {'+keys':>7}")
for s in sweep:
    print(f"  {s['variant']:10} {s['ways']:4} {s['choices']:7} {s['policy']:>13} {s['load']:6.3f} "
          f"{s['hot_bytes_per_flow']:10.2f} {s['bytes_per_flow_with_keys']:7.2f}")
runs = [json.load(open(f)) for f in sys.argv[2:]]
def cells(pid, key):
    v = [p.get(key) for d in runs for p in d['paths'] if p['id'] == pid and not p.get('na')]
    v = [x for x in v if x is not None]
    return st.median(v) if v else None
def fmt(x, f="{:.2f}"):
    return f.format(x) if x is not None else "n/a"
print(f"\nper packet, {len(runs)} run(s), medians over rounds (then over runs); floor "
      f"{st.median(d['floor_ns'] for d in runs):.1f} ns:")
print(f"  {'row':22} {'ns':>8} {'x floor':>8} {'/ ebb':>7} {'/ Katran':>9}")
for pid in ["hit_1m_spread", "k_hit_1m_spread"] + [f"ft_{v}_hit" for v in
            ["none", "lru", "a8w8", "a8w8ff", "a8w8c1", "a8w4", "a8w8mul", "a8w8jif", "a8w8il", "a8w4il"]] + \
           ["new_flow", "k_new_flow"] + [f"ft_{v}_new" for v in
            ["none", "lru", "a8w8", "a8w8ff", "a8w8c1", "a8w4", "a8w8mul", "a8w8jif", "a8w8il", "a8w4il"]] + \
           ["syn_flood", "k_syn_flood", "ft_lru_miss", "ft_a8w8_miss", "ft_a8w8il_miss"]:
    if cells(pid, 'ns') is None:
        continue
    print(f"  {pid:22} {fmt(cells(pid, 'ns'), '{:.1f}'):>8} {fmt(cells(pid, 'ratio')):>8} "
          f"{fmt(cells(pid, 'vs_ebb')):>7} {fmt(cells(pid, 'vs_katran')):>9}")
ft = runs[-1].get('flowtable', {})
print(f"\ntables at {ft.get('flows')} flows (last run); ebb's census (kernel walk of the LRU): "
      f"{fmt(ft.get('ebb_census_ms'))} ms")
for v in ft.get('variants', []):
    if v.get('na') or v['variant'] == 'none':
        continue
    if v['variant'] == 'lru':
        print(f"  {'lru':10} {v['table_bytes'] / 1e6:7.1f} MB (memlock) for {ft['flows'] + 262144} entries"
              f" = {v['bytes_per_entry']:6.1f} B/entry; filled in {v['fill_s']:.2f} s")
        continue
    print(f"  {v['variant']:10} {v['table_bytes'] / 1e6:7.1f} MB table + {v['keys_bytes'] / 1e6:5.1f} MB keys"
          f" = {v['bytes_per_flow']:6.1f} B/flow; pinned by SYNs in {v['fill_s']:.2f} s,"
          f" {v['fill_evicted']} evicted, {v.get('fill_false_hits', 0)} false hits; census of the mmap "
          f"{fmt(v.get('census_ms'))} ms")
PY
