#!/usr/bin/env bash
# make demo: ebb balancing real traffic and scaling in live, with nobody noticing.
# Builds a lab (client, LB, 3 nginx nodes), attaches ebb, puts wrk keep-alive load and a stream
# of fresh connections on a VIP, drains one node mid-load, retires it once its last flow has
# ended, prints a timeline and a summary, and tears everything down.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTPUT=${OUTPUT:-.output}
case "$OUTPUT" in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
export EBB_OUTPUT=$OUTPUT
PFX=demo$$-
BPFFS=/sys/fs/bpf/ebb-demo$$
LAB=$ROOT/tools/lab
TMP=$(mktemp -d /tmp/ebb-demo.XXXXXX)
VIP=203.0.113.10:80/tcp
LOAD_S=16
DRAIN_AT_S=5

cleanup() {
	for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	LAB_QUIET=1 "$LAB" down --prefix "$PFX" >/dev/null 2>&1 || true
	rm -rf "$BPFFS" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { nsenter --net="/run/netns/${PFX}lb" "$OUTPUT/ebbctl" --bpffs "$BPFFS" "$@"; }
client() { nsenter --net="/run/netns/${PFX}client" "$@"; }
say() { printf '\n== %s\n' "$*"; }
show() { printf '   $ ebbctl %s\n' "$*"; ctl "$@" | sed 's/^/     /'; }

say "Building the lab: client, LB host, 3 nginx nodes on one bridge (network namespaces)"
LAB_QUIET=1 "$LAB" up --prefix "$PFX" --nodes 3 >/dev/null
. "/run/ebb-lab/$PFX/env"

say "Attaching ebb to the LB's eth0 and putting a VIP in front of the nodes"
show prog attach dev eth0
show vip add $VIP fin-timeout 1
for i in 1 2 3; do show node add "198.51.100.1$i" vip $VIP; done
show node show

say "Load: wrk with 30 keep-alive connections, plus a new connection every ~20 ms ($LOAD_S s)"
client wrk -t2 -c30 -d${LOAD_S}s http://203.0.113.10/ >"$TMP/wrk.out" 2>&1 &
wrk_pid=$!
(
	end=$((SECONDS + LOAD_S))
	while [ $SECONDS -lt $end ]; do
		printf '%s %s\n' "$(date +%s.%N)" "$(client curl -s -m 3 http://203.0.113.10/ || echo ERROR)"
		sleep 0.02
	done
) >"$TMP/curls" &
curl_pid=$!

# node_stats NAME: "flows new_flows" for each node, one line each, from the maps.
snapshot() {
	ctl -j node show | python3 -c '
import json, sys
for n in json.load(sys.stdin):
    print(n["addr"], n["state"], n["flows"])'
	ctl -j stats show | python3 -c '
import json, sys
d = json.load(sys.stdin)
for addr, c in d["nodes"].items():
    print("new", addr, c["new_flows"], c["packets"])'
}

printf '\n   %-5s | %-30s | %-30s | %-30s\n' "t" "n1 198.51.100.11" "n2 198.51.100.12" "n3 198.51.100.13"
printf '   %-5s | %-30s | %-30s | %-30s\n' "" "state  flows  new/s  pkts/s" "state  flows  new/s  pkts/s" "state  flows  new/s  pkts/s"
declare -A prev_new prev_pkts
drained=0 drain_time="" last_flow_end=""
ms() { echo $(($(date +%s%N) / 1000000)); }
start_ms=$(ms)
for tick in $(seq 0 $((LOAD_S + 6))); do
	# Ticks are wall-clock seconds since the load started, however long a snapshot takes.
	while [ $(($(ms) - start_ms)) -lt $((tick * 1000)) ]; do sleep 0.05; done
	t=$tick
	if [ "$t" -eq "$DRAIN_AT_S" ]; then
		drain_time=$(date +%s.%N)
		ctl node drain 198.51.100.12
		printf '   ----- t=%ss: ebbctl node drain 198.51.100.12 -----\n' "$t"
		drained=1
	fi
	snapshot >"$TMP/snap"
	line=""
	for i in 1 2 3; do
		addr=198.51.100.1$i
		read -r _ state flows < <(grep "^$addr " "$TMP/snap")
		read -r _ _ new pkts < <(grep "^new $addr " "$TMP/snap")
		dn=$((new - ${prev_new[$addr]:-$new})) dp=$((pkts - ${prev_pkts[$addr]:-$pkts}))
		prev_new[$addr]=$new prev_pkts[$addr]=$pkts
		line+=$(printf ' | %-8s %5s %6s %8s  ' "$state" "$flows" "$dn" "$dp")
		if [ "$i" -eq 2 ] && [ "$drained" -eq 1 ] && [ "$flows" -eq 0 ] && [ -z "$last_flow_end" ]; then
			last_flow_end=$(date +%s.%N)
		fi
	done
	printf '   %-5s%s\n' "${t}s" "$line"
	if [ -n "$last_flow_end" ] && ! kill -0 $wrk_pid 2>/dev/null; then
		break
	fi
done
wait $wrk_pid || true
wait $curl_pid || true

say "n2 has no live flow left: retiring it"
show node del 198.51.100.12
show node show

say "Summary"
grep -E "requests in|Latency" "$TMP/wrk.out" | sed "s/^/   wrk: /"
python3 - "$TMP/wrk.out" "$TMP/curls" "/run/ebb-lab/$PFX/n2/access.log" "$drain_time" <<'PY'
import re, sys
wrk, curls, n2log, drain = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3], float(sys.argv[4])
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", wrk)
sock = sum(map(int, m.groups())) if m else 0
m = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
non2xx = int(m.group(1)) if m else 0
reqs = int(re.search(r"(\d+) requests in", wrk).group(1))
before, after, errors = {}, {}, 0
for line in open(curls):
    t, who = line.split()
    if who == "ERROR":
        errors += 1
        continue
    side = before if float(t) < drain else after
    side[who] = side.get(who, 0) + 1
conns_before, conns_after, served_after = set(), set(), 0
for line in open(n2log):
    f = line.split()
    if len(f) < 7 or f[6] != "203.0.113.10":
        continue
    if float(f[0]) < drain:
        conns_before.add(f[1])
    else:
        served_after += 1
        conns_after.add(f[1])
fmt = lambda d: ", ".join(f"{k} {d.get(k, 0)}" for k in ("n1", "n2", "n3"))
print(f"   new connections before the drain : {fmt(before)}")
print(f"   new connections after the drain  : {fmt(after)}   <- the load moved off n2")
print(f"   n2 after the drain               : {served_after} requests on its {len(conns_before)} old keep-alive connections,"
      f" {len(conns_after - conns_before)} new connections")
print(f"   wrk                              : {reqs} requests, {sock} socket errors, {non2xx} non-2xx")
print(f"   curl                             : {sum(before.values()) + sum(after.values()) + errors} connections, {errors} errors")
ok = sock == 0 and non2xx == 0 and errors == 0 and after.get("n2", 0) == 0 and not (conns_after - conns_before)
print("   result                           : " + ("0 client errors, 0 new flows on the drained node: nobody noticed" if ok else "SOMETHING WAS NOTICED"))
sys.exit(0 if ok else 1)
PY
say "Cleaning up the lab"
