#!/usr/bin/env bash
# tools/bench/vs_katran.sh — ebb beside Katran, per packet, over several runs: `make bench-katran
# KATRAN_SRC=DIR [RUNS=3] [ROUNDS=11]`. Builds Katran's XDP object from DIR (katran_build.sh),
# runs bench_xdp RUNS times (each: ROUNDS interleaved rounds, every ebb path back to back with its
# Katran twin, the order alternating), and prints per path the median over runs of each run's
# median ebb/Katran, with every run's figure beside it; then the flow table's figures of the
# same runs (bytes per IPv4 flow at 99.9 % of 1M random inserts, IPv6's, Katran's per entry; the
# census at 1M flows) and the load average before and after each run (a shared machine's
# ratios hold within a run; its nanoseconds do not). The runs' JSON and logs stay in
# $OUTPUT/vs-katran/. Root only; about 30 s per run. Its bpffs pins and temp files are removed
# when it ends, also on failure or Ctrl-C.
#
#   bash tools/bench/vs_katran.sh [--runs N] [--rounds N] KATRAN_SRC
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUTPUT=${OUTPUT:-.output}
case "$OUTPUT" in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
RUNS=3 ROUNDS=11 SRC=
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0"; exit 0 ;;
	-*) echo "Error: unknown option '$1' (--runs N, --rounds N)" >&2; exit 2 ;;
	*) SRC=$1; shift ;;
	esac
done
[ -n "$SRC" ] || { echo "Error: no Katran source tree: give KATRAN_SRC=DIR (a checkout of github facebookincubator/katran)" >&2; exit 2; }
case "$RUNS$ROUNDS" in *[!0-9]*) echo "Error: --runs and --rounds take whole numbers" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "Error: root is needed (BPF_PROG_TEST_RUN, bpffs)" >&2; exit 2; }

BPFFS=/sys/fs/bpf/ebb-vs-katran-$$
DIR=$OUTPUT/vs-katran
cleanup() { rm -rf "$BPFFS"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

bash "$ROOT/tools/bench/katran_build.sh" "$SRC" "$OUTPUT/katran"
mkdir -p "$DIR"
rm -f "$DIR"/run-*.json
files=()
loads=()
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
for ((r = 1; r <= RUNS; r++)); do
	echo "run $r of $RUNS ($ROUNDS rounds), load average $(loadavg)..." >&2
	loads+=("run $r: $(date -u +%H:%M:%S) $(loadavg) ->")
	"$OUTPUT/bench/bench_xdp" --bpffs "$BPFFS" --katran "$OUTPUT/katran/balancer.bpf.o" \
		--katran-flood "$OUTPUT/katran/balancer_flood.bpf.o" --rounds "$ROUNDS" --no-control \
		--ebbctl "$OUTPUT/ebbctl" --ebbd "$OUTPUT/ebbd" --json "$DIR/run-$r.json" \
		--only pass_not_vip,hit,hit_1m_spread,hit_1m_inorder,new_flow,ipip_hit,syn_flood,syn_flood_window,syn_flood_window_open,syn_flood_window_busy >"$DIR/run-$r.log" 2>&1 ||
		{ echo "Error: bench_xdp failed in run $r:" >&2; tail -5 "$DIR/run-$r.log" >&2; exit 1; }
	files+=("$DIR/run-$r.json")
	loads[-1]+=" $(date -u +%H:%M:%S) $(loadavg)"
done
echo "ebb beside Katran (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs, kernel $(uname -r)):"
"$OUTPUT/bench/bench_report" --vs-katran "${files[@]}" || true
echo "load average (1, 5, 15 min) at the start and the end of each run:"
printf '  %s\n' "${loads[@]}"
