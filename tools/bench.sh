#!/usr/bin/env bash
# tools/bench.sh — `make bench`: what ebb costs, each figure beside a floor measured in the same
# run. Three parts, then one table on stdout and one JSON document ($OUTPUT/bench.json):
#
#  1. per packet (bench_xdp): BPF_PROG_TEST_RUN on every datapath path, in interleaved rounds
#     with floor_tx (swap MACs + XDP_TX), as ns and as a ratio to the floor, beside the targets;
#     rescues and claims (issue 14) and the node program (bpf/node.bpf.c) included, and the
#     hit and new-flow paths beside the base commit's (BENCH_BASE below);
#  2. end to end (a private lab from tools/lab): a bounded UDP flood from the client through the
#     LB (ebb, native XDP on veth) to the nodes, beside floor_tx in the LB's place; and wrk
#     (keep-alive, and new connections) through the VIP beside the same nginx addressed directly;
#  3. control plane (bench_xdp): Maglev builds, drain -> datapath latency, memory per flow,
#     the agent's cycle.
#
# Options: --quick (smaller tables, shorter runs: a smoke test, not figures to quote),
#          --no-lab (skip part 2). Environment: OUTPUT (build dir, default .output);
#          KATRAN_SRC=DIR (a Katran source tree, e.g. github facebookincubator/katran): part 1
#          also builds Katran's XDP object from it, as its own lib/Makefile-bpf does, into
#          $OUTPUT/katran/ (a second copy with MAX_CONN_RATE=1 for the flood path), and times
#          it beside ebb in the same rounds with the same packets. Without it, no Katran column.
#          BENCH_BASE=REF (a git commit): part 1 also builds that commit's balancer (bpf/,
#          include/ and vmlinux.h of REF, by git archive, with this Makefile's clang flags) into
#          $OUTPUT/bench-base/ and times its hit, new-flow and second-chance paths beside this
#          tree's in the same rounds ("vs base"). Default: the last commit before HEAD that
#          changed bpf/ or include/ (git log -1 HEAD~1 -- bpf include), i.e. the datapath HEAD~1
#          had, named by the commit that made it: on the merge of a datapath change, the datapath
#          main had before it. If REF's bpf/ and include/ are this
#          tree's, the table says so (an A/A comparison). BENCH_BASE=none, or no git history:
#          no base column, and the table says why.
# Root only; about 1.5 minutes. Everything it makes (namespaces, nginx, bpffs pins, temp files)
# is removed when it ends, also on failure or Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
OUTPUT=${OUTPUT:-.output}
case "$OUTPUT" in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
export EBB_OUTPUT=$OUTPUT
BENCH=$OUTPUT/bench
EBBCTL=$OUTPUT/ebbctl
LAB=$ROOT/tools/lab

QUICK=0 LAB_PART=1
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	--no-lab) LAB_PART=0 ;;
	-h | --help) sed -n '2,31p' "$0"; exit 0 ;;
	*) echo "Error: unknown option '$arg' (--quick, --no-lab)" >&2; exit 2 ;;
	esac
done

# Per-run names: two benches (or a bench and the tests) never collide.
PFX=ebbbench$$-
BPFFS_XDP=/sys/fs/bpf/ebb-bench-$$
BPFFS_LAB=/sys/fs/bpf/ebb-bench-$$-lab
TMP=$(mktemp -d /tmp/ebb-bench.XXXXXX)

# Sizes of part 2.
FLOOD_ROUNDS=3 FLOOD_SECONDS=3
WRK_ROUNDS=3 WRK_SECONDS=2 WRK_CONNS=8
if [ "$QUICK" = 1 ]; then
	FLOOD_ROUNDS=1 FLOOD_SECONDS=1 WRK_ROUNDS=1 WRK_SECONDS=1
fi

log() { echo "bench: $*" >&2; }

# A child that died of (or reported) SIGHUP/SIGINT/SIGTERM: stop here. bash itself may carry on,
# since the child, not bash, handled the signal.
stop_if_signalled() {
	case $1 in 129 | 130 | 143) exit "$1" ;; esac
	return "$1"
}

# bounded SECONDS CMD...: CMD with a time limit. --foreground keeps it in our process group,
# so that a Ctrl-C reaches it too.
bounded() {
	local secs=$1 rc=0
	shift
	timeout --foreground "$secs" "$@" || rc=$?
	stop_if_signalled "$rc"
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM HUP
	for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -d "/run/ebb-lab/$PFX" ] || ls /run/netns 2>/dev/null | grep -q "^$PFX"; then
		LAB_QUIET=1 "$LAB" down --prefix "$PFX" >/dev/null 2>&1 ||
			echo "Error: could not tear down lab $PFX" >&2
	fi
	rm -rf "$BPFFS_XDP" "$BPFFS_LAB" "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

[ "$(id -u)" -eq 0 ] || { echo "Error: make bench must run as root (BPF, namespaces)" >&2; exit 1; }
for f in "$BENCH/bench_xdp" "$BENCH/bench_flood" "$BENCH/bench_report" "$EBBCTL" \
	"$BENCH/floor_tx.bpf.o" "$OUTPUT/peer_pass.bpf.o"; do
	[ -e "$f" ] || { echo "Error: $f is missing: run 'make' first" >&2; exit 1; }
done

# ---------------------------------------------------------------------------------------------
# The machine

json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
virt=""
if grep -qw hypervisor /proc/cpuinfo; then
	virt="virtual machine"
	v=$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p')
	[ -z "$v" ] || virt="$v guest"
fi
git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || git_rev="$git_rev+changes"
{
	printf '{"date": %s, "git": %s, "nproc": "%s", "kernel": %s, "cpu": %s, "virt": %s,' \
		"$(json_str "$(date -u '+%Y-%m-%d %H:%M UTC')")" "$(json_str "git $git_rev")" "$(nproc)" \
		"$(json_str "$(uname -r)")" "$(json_str "${cpu:-unknown}")" "$(json_str "$virt")"
	printf ' "mem_mib": %s, "quick": %s}\n' \
		"$(awk '/^MemTotal/ {print int($2 / 1024)}' /proc/meminfo)" \
		"$([ "$QUICK" = 1 ] && echo true || echo false)"
} >"$TMP/machine.json"

# ---------------------------------------------------------------------------------------------
# 1 and 3: per packet and control plane

# Katran's balancer, from its own tree with its own flags; never part of the repository.
katran_build() {
	bash "$ROOT/tools/bench/katran_build.sh" "$1" "$OUTPUT/katran"
}

# The balancer of the base commit (BENCH_BASE, see above) into $OUTPUT/bench-base/, built from
# a git archive of its datapath by this tree's Makefile rule (same clang, same flags). Prints the
# bench_xdp arguments: --base OBJ --base-label TEXT, or --base-na WHY.
base_build() {
	local ref=${BENCH_BASE-} src=$TMP/base-src out=$OUTPUT/bench-base label paths
	if [ "$ref" = none ]; then
		printf '%s\n' --base-na "BENCH_BASE=none"
		return
	fi
	if ! git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null 2>&1; then
		printf '%s\n' --base-na "no git history in $ROOT: nothing to compare with"
		return
	fi
	if [ -z "$ref" ]; then
		ref=$(git -C "$ROOT" log -1 --format=%H HEAD~1 -- bpf include 2>/dev/null || true)
		if [ -z "$ref" ]; then
			printf '%s\n' --base-na "no commit before HEAD changed bpf/ or include/"
			return
		fi
	fi
	if ! ref=$(git -C "$ROOT" rev-parse --verify -q "$ref^{commit}"); then
		printf '%s\n' --base-na "BENCH_BASE=${BENCH_BASE-}: no such commit"
		return
	fi
	paths=$(git -C "$ROOT" ls-tree --name-only "$ref" bpf include vmlinux.h | tr '\n' ' ')
	mkdir -p "$src" "$out"
	rm -f "$out/balancer.bpf.o" "$out/balancer.bpf.d"
	# shellcheck disable=SC2086 # one word per path
	if ! git -C "$ROOT" archive "$ref" $paths | tar -x -C "$src" 2>"$TMP/base.err" ||
		! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$src" -f "$ROOT/Makefile" \
			OUTPUT="$out" "$out/balancer.bpf.o" >>"$TMP/base.err" 2>&1; then
		log "the base commit's balancer did not build: $(tail -c 300 "$TMP/base.err")"
		printf '%s\n' --base-na "the balancer of ${ref:0:7} did not build"
		return
	fi
	label=$(git -C "$ROOT" log -1 --format='%h %s' "$ref")
	if git -C "$ROOT" diff --quiet "$ref" -- bpf include vmlinux.h 2>/dev/null; then
		label="$label (its bpf/ and include/ are this tree's: an A/A comparison)"
	fi
	log "base commit: $label, built into $out/"
	printf '%s\n' --base "$out/balancer.bpf.o" --base-label "$label"
}

log "per packet and control plane (bench_xdp)..."
xdp_args=(--bpffs "$BPFFS_XDP" --json "$TMP/xdp.json" --ebbctl "$EBBCTL" --ebbd "$OUTPUT/ebbd")
mapfile -t base_args < <(base_build)
xdp_args+=("${base_args[@]}")
[ "$QUICK" = 0 ] || xdp_args+=(--quick)
if [ -n "${KATRAN_SRC:-}" ]; then
	log "building Katran's XDP object from $KATRAN_SRC into $OUTPUT/katran/..."
	if katran_build "$KATRAN_SRC" 2>"$TMP/katran.err"; then
		xdp_args+=(--katran "$OUTPUT/katran/balancer.bpf.o"
			--katran-flood "$OUTPUT/katran/balancer_flood.bpf.o")
	else
		log "Katran did not build ($(tail -c 300 "$TMP/katran.err")); no Katran column"
	fi
fi
if ! bounded 300 "$BENCH/bench_xdp" "${xdp_args[@]}"; then
	log "bench_xdp failed; the per-packet part is n/a"
	rm -f "$TMP/xdp.json"
fi
rm -rf "$BPFFS_XDP"

# ---------------------------------------------------------------------------------------------
# 2: end to end, in a private lab

ns() { echo "/run/netns/$PFX$1"; }
on() { local role=$1; shift; nsenter --net="$(ns "$role")" -- "$@"; }
ctl() { on lb "$EBBCTL" --bpffs "$BPFFS_LAB" "$@"; }

# eth0 received packets of a lab host, from its namespace's /proc/net/dev (lab.md trap 7: not
# /sys/class/net, which shows the root namespace's devices).
rx() { on "$1" cat /proc/net/dev | tr ':' ' ' | awk '$1 == "eth0" {print $3}'; }

# Which program the LB's eth0 runs: ebb (through ebbctl: its pinned maps keep the VIPs) or the
# floor (netlink, native mode, like the lab's peer programs).
lb_program() {
	case $1 in
	ebb)
		ip -n "${PFX}lb" link set dev eth0 xdpdrv off 2>/dev/null || true
		ctl -q prog attach dev eth0 ;;
	floor)
		ctl -q prog detach dev eth0 2>/dev/null || true
		ip -n "${PFX}lb" link set dev eth0 xdpdrv obj "$BENCH/floor_tx.bpf.o" sec xdp ;;
	esac
}

# The UDP flood's VIP is in the spare documentation range, owned by no node: the nodes drop the
# packets ebb forwards exactly as the client drops what the floor reflects (not for this host,
# no forwarding), so both sides pay the same at the receiver and the difference is the LB's.
FLOOD_VIP=192.0.2.9 FLOOD_PORT=9
WEB_VIP=203.0.113.10

lab_setup() {
	local rc=0
	LAB_QUIET=1 bounded 120 "$LAB" up --prefix "$PFX" --nodes 2 >"$TMP/lab-up.log" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		sed 's/^/  lab: /' "$TMP/lab-up.log" >&2
		return 1
	fi
	# shellcheck disable=SC1090
	. "/run/ebb-lab/$PFX/env"
	ctl -q prog attach dev eth0 &&
		ctl -q vip add "$WEB_VIP:80/tcp" &&
		ctl -q node add "$NODE_IP4_1" vip "$WEB_VIP:80/tcp" &&
		ctl -q vip add "$FLOOD_VIP:$FLOOD_PORT/udp" &&
		ctl -q node add "$NODE_IP4_1" vip "$FLOOD_VIP:$FLOOD_PORT/udp" &&
		ctl -q node add "$NODE_IP4_2" vip "$FLOOD_VIP:$FLOOD_PORT/udp" || return 1
	# The live-frames generator transmits with XDP out of the client's eth0: its veth peer
	# needs an XDP program too (lab.md trap 1), as p-lb has.
	ip -n "${PFX}sw" link set dev p-client xdpdrv obj "$OUTPUT/peer_pass.bpf.o" sec xdp 2>/dev/null ||
		ip -n "${PFX}sw" link set dev p-client xdpgeneric obj "$OUTPUT/peer_pass.bpf.o" sec xdp
	[ "$(on client curl -s --noproxy '*' -m 3 "http://$WEB_VIP/")" = n1 ]
}

# The id of the XDP program on the LB's eth0.
lb_prog_id() { ip -n "${PFX}lb" link show dev eth0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p'; }

# One flood run: which program, then {"lb", "sent", "seconds", "delivered", ...}; with the
# program's own time per packet in the lab (BPF run-time statistics, on during the run only).
flood_run() {
	local lb=$1 mode=$2 before after out id
	id=$(lb_prog_id)
	if [ "$lb" = ebb ]; then
		before=$(($(rx n1) + $(rx n2)))
	else
		before=$(rx client)
	fi
	if [ "$mode" = live ]; then
		bounded 30 nsenter --net="$(ns client)" -- "$BENCH/bench_flood" live eth0 "$LB_MAC" \
			"$CLIENT_IP4" "$FLOOD_VIP" "$FLOOD_PORT" "$FLOOD_SECONDS" 16 $id >"$TMP/one.json" || return 1
	else
		bounded 30 nsenter --net="$(ns client)" -- "$BENCH/bench_flood" udp "$FLOOD_VIP" \
			"$FLOOD_PORT" "$FLOOD_SECONDS" 16 $id >"$TMP/one.json" || return 1
	fi
	out=$(cat "$TMP/one.json")
	sleep 0.2 # the last frames still on their way
	if [ "$lb" = ebb ]; then
		after=$(($(rx n1) + $(rx n2)))
	else
		after=$(rx client)
	fi
	# {"mode": .., "sent": .., "seconds": .., "pps": ..} + lb + delivered
	printf '%s\n' "$out" | sed "s/^{/{\"lb\": \"$lb\", \"delivered\": $((after - before)), /"
}

flood() {
	local mode=live r lb first=1
	# The generator needs live frames on a veth; else sendmmsg through the client's stack
	# (the client needs a route and a neighbour for the spare range: via the LB).
	if ! bounded 30 nsenter --net="$(ns client)" -- "$BENCH/bench_flood" live eth0 "$LB_MAC" \
		"$CLIENT_IP4" "$FLOOD_VIP" "$FLOOD_PORT" 0.1 1 >/dev/null 2>"$TMP/live.err"; then
		log "live frames do not work here ($(head -c 200 "$TMP/live.err")); flooding with sendmmsg"
		mode=udp
		ip -n "${PFX}client" route add 192.0.2.0/24 via "$LB_IP4"
	fi
	printf '{"mode": "%s", "bytes": 64, "rounds": %d, "seconds": %d, "vip": "%s:%d/udp", "runs": [' \
		"$mode" "$FLOOD_ROUNDS" "$FLOOD_SECONDS" "$FLOOD_VIP" "$FLOOD_PORT"
	for ((r = 1; r <= FLOOD_ROUNDS; r++)); do
		# ebb, floor | floor, ebb | ...: drift cancels, and one switch per run at most
		for lb in $( ((r % 2)) && echo ebb floor || echo floor ebb); do
			lb_program "$lb"
			[ "$first" = 1 ] || printf ', '
			first=0
			flood_run "$lb" "$mode" || return 1
		done
	done
	printf ']}'
	lb_program ebb
	# The floor reflected the client's ARP too: let it find the LB again.
	ip -n "${PFX}client" neigh flush dev eth0 2>/dev/null || true
}

# wrk's summary as JSON fields: req/s, latency percentiles in us, errors.
wrk_json() {
	awk '
	function us(v) {
		if (v ~ /us$/) { sub(/us$/, "", v); return v + 0 }
		if (v ~ /ms$/) { sub(/ms$/, "", v); return v * 1000 }
		if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000000 }
		return v + 0
	}
	$1 == "50%" { p50 = us($2) } $1 == "75%" { p75 = us($2) }
	$1 == "90%" { p90 = us($2) } $1 == "99%" { p99 = us($2) }
	/^Requests\/sec:/ { rps = $2 }
	/Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx responses:/ { err += $5 }
	END { printf "\"rps\": %s, \"p50_us\": %s, \"p75_us\": %s, \"p90_us\": %s, \"p99_us\": %s, \"errors\": %d",
		rps + 0, p50 + 0, p75 + 0, p90 + 0, p99 + 0, err }' "$1"
}

wrk_all() {
	local r kind target url first=1 hdr
	printf '{"threads": 1, "connections": %d, "rounds": %d, "seconds": %d, "vip": "%s:80/tcp", "node": "%s", "runs": [' \
		"$WRK_CONNS" "$WRK_ROUNDS" "$WRK_SECONDS" "$WEB_VIP" "$NODE_IP4_1"
	for ((r = 1; r <= WRK_ROUNDS; r++)); do
		for kind in keepalive close; do
			for target in $( ((r % 2)) && echo ebb direct || echo direct ebb); do
				url="http://$WEB_VIP/"
				[ "$target" = ebb ] || url="http://$NODE_IP4_1/"
				hdr=()
				[ "$kind" = keepalive ] || hdr=(-H 'Connection: close')
				bounded $((WRK_SECONDS + 20)) nsenter --net="$(ns client)" -- wrk -t1 \
					-c"$WRK_CONNS" -d"${WRK_SECONDS}s" --latency "${hdr[@]}" "$url" \
					>"$TMP/wrk.out" 2>&1 || true
				[ "$first" = 1 ] || printf ', '
				first=0
				printf '{"kind": "%s", "target": "%s", %s}' "$kind" "$target" "$(wrk_json "$TMP/wrk.out")"
			done
		done
	done
	printf ']}'
}

e2e_na() { printf '{"na": "%s"}\n' "$1" >"$TMP/e2e.json"; }

if [ "$LAB_PART" = 0 ]; then
	e2e_na "skipped (--no-lab)"
elif ! lab_setup; then
	log "the lab did not come up; the end-to-end part is n/a"
	e2e_na "the lab did not come up"
else
	log "end to end: UDP flood (ebb vs floor), ${FLOOD_ROUNDS}x${FLOOD_SECONDS} s each..."
	if flood >"$TMP/flood.json" 2>"$TMP/flood.err"; then
		flood_json=$(cat "$TMP/flood.json")
	else
		log "the flood failed: $(head -c 300 "$TMP/flood.err")"
		flood_json='{"na": "the flood failed"}'
		lb_program ebb || true
	fi
	log "end to end: wrk through the VIP vs direct, ${WRK_ROUNDS}x4 runs of ${WRK_SECONDS} s..."
	wrk_all >"$TMP/wrk.json"
	printf '{"nodes": "2", "flood": %s, "wrk": %s}\n' "$flood_json" "$(cat "$TMP/wrk.json")" \
		>"$TMP/e2e.json"
	ctl -q prog detach dev eth0 || true
fi

# ---------------------------------------------------------------------------------------------
# The table and the JSON

echo
"$BENCH/bench_report" --machine "$TMP/machine.json" --xdp "$TMP/xdp.json" --e2e "$TMP/e2e.json" \
	--out "$OUTPUT/bench.json"
