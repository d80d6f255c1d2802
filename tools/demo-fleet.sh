#!/usr/bin/env bash
# make demo-fleet: the fleet story. A router spreads a VIP over 3 LB hosts by BGP/ECMP (BIRD);
# each runs ebb + ebbd in fleet mode, one desired state in a 3-member etcd; the nodes run ebb's
# node program. Under wrk, a node is added (a scale-out), then one LB host leaves (`ebbctl fleet
# host drain lb3`): its routes go, its flows move to the other hosts, and those whose slot the
# new node took are rescued to the node that holds them. Load falls: the leader ebbd, on fleet-wide sums, drains a node and
# retires it once no host carries a flow of it. Then lb3 comes back. Clients notice nothing.
# Prints a timeline and a summary, then tears everything down.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH # Debian's python3 first: a pyenv shim costs 0.5 s a start
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTPUT=${OUTPUT:-.output}
case "$OUTPUT" in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
export EBB_OUTPUT=$OUTPUT
PFX=dfleet$$-
LAB=$ROOT/tools/lab
TMP=$(mktemp -d /tmp/ebb-demo-fleet.XXXXXX)
VIP=203.0.113.10:80/tcp
URL=http://203.0.113.10/
ADD_AT=3     # a scale-out under wrk: node n4 added
LEAVE_AT=5   # lb3 leaves (fleet host drain) under wrk
FALL_AT=12   # load falls: wrk stops, a trickle of new connections
BACK_AT=27   # lb3 comes back (fleet host activate)
END_AT=30
CONNS=24     # wrk's keep-alive connections
PACE_MS=10   # each waits this long after an answer before its next request

LOGS=$OUTPUT/demo-fleet # every host's ebbd and BIRD log, etcd's, wrk's: kept after the demo
cleanup() {
	for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "${STATE_DIR:-}" ] && [ -d "$STATE_DIR" ]; then
		rm -rf "$LOGS" && mkdir -p "$LOGS"
		for f in "$STATE_DIR"/*/*.log "$TMP"/*.out "$TMP"/curls; do
			[ -f "$f" ] && cp "$f" "$LOGS/$(basename "$(dirname "$f")")-$(basename "$f")"
		done
		echo "   (logs kept in $LOGS)"
	fi
	LAB_QUIET=1 "$LAB" down --prefix "$PFX" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
ms() { echo $(($(date +%s%N) / 1000000)); }

say "Building the fleet lab: a router (BIRD, ECMP), 3 LB hosts (ebb in native XDP + BIRD), 3 etcd members, 4 nginx nodes (n4 joins the pool at 3 s), a client behind the router"
LAB_QUIET=1 "$LAB" up --fleet --prefix "$PFX" --nodes 4 --node-prog >/dev/null
# shellcheck disable=SC1090
. "/run/ebb-lab/$PFX/env"
v() { eval "echo \"\$$1_$2\""; }
ctl() { local i=$1; shift; nsenter --net="/run/netns/$(v LB_NS "$i")" "$OUTPUT/ebbctl" --bpffs "$(v LB_BPFFS "$i")" "$@"; }
client() { nsenter --net="/run/netns/${PFX}client" "$@"; }
show() { local i=$1; shift; printf '   lb%s$ ebbctl %s\n' "$i" "$*"; ctl "$i" "$@" | sed 's/^/     /'; }
nexthops() { ip -n "$NS_RT" route show 203.0.113.10 | grep -c nexthop || true; }

say "Starting ebbd on every LB host: fleet 'edge', etcd x3 over TLS (client certificates, etcd user 'ebb' limited to /ebb/edge/), BIRD control (the lab's fleet block)"
for i in 1 2 3; do "$(v LB_DIR "$i")/ebbd-start"; done
sed 's/^/     /' "$LB_EBBD_CONF_1"
for _ in $(seq 100); do [ -n "$(ctl 1 -j fleet show 2>/dev/null)" ] && break; sleep 0.1; done

say "One write, on lb1, for the whole fleet: the VIP and its 3 nodes go to etcd; every host applies them and announces the VIP"
# tcp-idle 5: when the router's ECMP moves a flow to another LB host, the old host's entry of it
# stays "live" until this idle timeout (doc/fleet.md, "Fleet lab, demo and tests"); short here
# so that the fleet-wide counts the leader scales on are right again a few seconds after lb3 leaves.
show 1 vip add $VIP fin-timeout 1 tcp-idle 5
for n in 1 2 3; do show 1 node add "198.51.100.1$n" vip $VIP node-prog; done
for _ in $(seq 100); do [ "$(nexthops)" = 3 ] && break; sleep 0.1; done
printf '   router$ ip route show 203.0.113.10\n'
ip -n "$NS_RT" route show 203.0.113.10 | sed 's/^/     /'
show 2 fleet show

# Fresh connections all along, one every `period` seconds (read from a file so phases change it).
echo 0.2 >"$TMP/period"
(
	while [ -f "$TMP/period" ]; do
		printf '%s %s\n' "$(date +%s.%N)" "$(client curl -s -m 3 $URL || echo ERROR)"
		sleep "$(cat "$TMP/period" 2>/dev/null || echo 0.2)"
	done
) >"$TMP/curls" &

# One line a second: each node's state and fleet-wide live flows, each host's routing status
# and VIP packets/s, and how many LB hosts the router's ECMP route has.
snapshot() {
	{ ctl 1 -j node show; echo; ctl 1 -j fleet show; } 2>/dev/null | python3 -c '
import json, sys
docs = [json.loads(l) for l in sys.stdin.read().split("\n") if l.strip()]
nodes, fleet = docs[0], docs[1]
cols = ["%-8s %3d" % (n["state"], n["flows"]) for n in nodes]
st = {"announcing": "ann", "withdrawn": "wdr", "unreachable": "unr"}
hs = {"active": "", "draining": "-dr", "inactive": "-off"}
hosts = ["%-7s %4.0f" % (st.get(h["status"], h["status"][:3]) + hs.get(h.get("state"), "?")
                         + ("*" if h.get("leader") else ""), h.get("vip_pps", 0))
         for h in sorted(fleet["hosts"], key=lambda h: h["host"])]
for h in fleet["hosts"]:
    if h["host"] == "lb3" and h.get("state") == "inactive":
        open(sys.argv[2], "a").write(sys.argv[3] + "\n")
print(" | ".join(cols) + " || " + " | ".join(hosts) + " || " + sys.argv[1])' "$(nexthops)" "$TMP/lb3_inactive_at" "$t"
}
# New ebbd decisions on any host since the last call, one line each.
seen=0
events() {
	python3 - "$seen" "$STATE_DIR" <<'PY'
import glob, json, sys
evs = []
for f in sorted(glob.glob(sys.argv[2] + "/lb*/ebbd.log")):
    host = f.split("/")[-2]
    for line in open(f):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        e["_host"] = host
        evs.append(e)
evs.sort(key=lambda e: e.get("ts", 0))
seen = int(sys.argv[1])
for e in evs[seen:]:
    ev, h = e.get("event"), e["_host"]
    if ev == "scale_in":
        print(f"{h} ebbd (leader): scale-in {e['node']} ({e['old_state']} -> {e['new_state']}): "
              f"{e['total']:.0f} live flows fleet-wide over {e['active']} active nodes, target {e['target']:.0f} each")
    elif ev == "scale_out":
        print(f"{h} ebbd (leader): scale-out {e['node']} ({e['old_state']} -> {e['new_state']})")
    elif ev == "drained":
        ago = e.get("last_flow_end_ago_ms")
        print(f"{h} ebbd (leader): {e['node']} retired (draining -> inactive): {e['reason']}, {e.get('flows_cut', e.get('flows_cut_estimate'))} flows cut"
              + (' (measured by the node)' if e.get('verified') else ' (LB estimate: unverified, no node report)')
              + (f", {ago} ms after its last flow ended" if ago is not None else ""))
    elif ev in ("fleet_withdraw", "fleet_announce") and e.get("applied_revision"):
        print(f"{h} ebbd: {'withdraws its routes' if ev == 'fleet_withdraw' else 'announces the VIP again'}"
              + (" (host drain)" if e.get("host_drain") else ""))
    elif ev == "fleet_leader" and e.get("ts"):
        print(f"{h} ebbd: {e.get('msg', 'leads')}")
print("#seen", len(evs))
PY
}
events >"$TMP/ev"
seen=$(sed -n 's/^#seen //p' "$TMP/ev")

echo "function delay() return $PACE_MS end" >"$TMP/pace.lua"
say "Timeline: wrk with $CONNS keep-alive connections ($PACE_MS ms between requests) + a new connection every 200 ms; scaling on (SIGHUP): target 8 live flows per node fleet-wide, min 2, max 3, scale-in window 6 s"
printf '\n   %-4s %-6s | %-12s | %-12s | %-12s || %-12s | %-12s | %-12s || %s\n' t phase "n1 .11" "n2 .12" "n3 .13" lb1 lb2 lb3 ECMP
printf '   %-4s %-6s | %-12s | %-12s | %-12s || %-12s | %-12s | %-12s || %s\n' "" "" "state  flows" "state  flows" "state  flows" "host     pps" "host     pps" "host     pps" "hosts"
start=$(ms)
nsenter --net="/run/netns/${PFX}client" wrk -t2 -c$CONNS -d600s --timeout 2s -s "$TMP/pace.lua" $URL >"$TMP/wrk.out" 2>&1 &
wrk_pid=$!
# The nodes' own count, for every host's ebbd: each node's signed report of its connections,
# read in its namespace (in production: ssh or HTTP to the node, doc/node-truth.md).
head -c 32 /dev/urandom >"$TMP/node.key"
chmod 600 "$TMP/node.key"
cat >"$TMP/truth.sh" <<SH
#!/bin/sh
ns=${PFX}n\${1##*.1}
exec nsenter --net="/run/netns/\$ns" "$OUTPUT/ebbctl" --bpffs "/sys/fs/bpf/ebb-lab-\$ns" -j backend conns key "$TMP/node.key" nonce "\$2"
SH
chmod +x "$TMP/truth.sh"
# Scaling is switched on once the load is there (ebbd reloads its configuration on SIGHUP):
# an idle fleet would otherwise be scaled in before the first request.
for i in 1 2 3; do
	cat >>"$(v LB_EBBD_CONF "$i")" <<CONF
pools = ( {
  name = "web";
  vips = ["$VIP"];
  health = { type = "http"; port = 80; path = "/"; interval = 1; timeout = 0.5; rise = 2; fall = 2; };
  truth = ["$TMP/truth.sh", "{node}", "{nonce}"];
  truth-key = "$TMP/node.key";
  truth-interval = 0.5;
  scale = { metric = "flows"; target = 8; min = 2; max = 3; tolerance = 0.1;
            scale-in-window = 6; scale-out-window = 0; hook-cooldown = 600; };
} );
CONF
	kill -HUP "$(cat "$(v LB_DIR "$i")/ebbd.pid")"
done
phase=busy
t=0
while :; do
	while [ $(($(ms) - start)) -lt $((t * 1000)) ]; do sleep 0.05; done
	if [ $t -eq $ADD_AT ]; then
		printf '   ----- t=%ss: scale-out: `ebbctl node add 198.51.100.14 vip %s node-prog` on lb2 -----\n' $t "$VIP"
		ctl 2 node add 198.51.100.14 vip $VIP node-prog >/dev/null
		phase=added
	fi
	if [ $t -eq $LEAVE_AT ]; then
		printf '   ----- t=%ss: LB host lb3 leaves: `ebbctl fleet host drain lb3` on lb1 -----\n' $t
		leave_ms=$(ms)
		ctl 1 fleet host drain lb3 >/dev/null
		echo "$(($(ms) - leave_ms))" >"$TMP/leave_cmd_ms"
		( for _ in $(seq 200); do [ "$(nexthops)" = 2 ] && break; sleep 0.02; done
		  echo "$(($(ms) - leave_ms))" >"$TMP/leave_route_ms" ) &
		phase=leave
	fi
	if [ $t -eq $FALL_AT ]; then
		kill -INT "$wrk_pid" 2>/dev/null || true
		wait "$wrk_pid" 2>/dev/null || true
		echo 0.25 >"$TMP/period"
		printf '   ----- t=%ss: load falls: wrk stops, a new connection every 250 ms -----\n' $t
		phase=quiet
	fi
	if [ $t -eq $BACK_AT ]; then
		printf '   ----- t=%ss: lb3 comes back: `ebbctl fleet host activate lb3` on lb2 -----\n' $t
		ctl 2 fleet host activate lb3 >/dev/null
		phase=back
	fi
	printf '   %-4s %-6s | %s\n' "${t}s" "$phase" "$(snapshot)"
	events >"$TMP/ev"
	grep -v '^#seen' "$TMP/ev" | sed 's/^/          /' || true
	seen=$(sed -n 's/^#seen //p' "$TMP/ev")
	[ $t -ge $END_AT ] && break
	t=$((t + 1))
done
rm -f "$TMP/period"
sleep 1
echo "   (host: ann = announcing, wdr = routes withdrawn, -dr = host draining, -off = host inactive (no VIP"
echo "    traffic any more), * = leader; pps = VIP packets/s through the host; ECMP: LB hosts in the router's route)"
inactive_t=$(head -n 1 "$TMP/lb3_inactive_at" 2>/dev/null || echo "")
[ -z "$inactive_t" ] || echo "$((inactive_t - LEAVE_AT))" >"$TMP/leave_inactive_s"

say "Summary"
cat "$STATE_DIR"/lb*/ebbd.log >"$TMP/ebbd-all.log"
for i in 1 2 3; do ctl "$i" -j stats show >"$TMP/stats$i.json"; done
python3 - "$TMP" "$CONNS" "$PACE_MS" <<'PY'
import json, re, sys
tmp, conns, pace_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def num(name, default="?"):
    try:
        return int(open(f"{tmp}/{name}").read())
    except (OSError, ValueError):
        return default
text = open(f"{tmp}/wrk.out").read()
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
sock = sum(map(int, m.groups())) if m else 0
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
non2xx = int(m.group(1)) if m else 0
m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", text)
reqs = int(m.group(1)) if m else 0
secs = float(m.group(2)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(3)] if m else 0.0
# what the pacing allows: each connection at most one request per PACE_MS (plus its answer)
most = int(conns * secs * 1000 / pace_ms)
m = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", text)
maxlat = m.group(1) if m else "?"
events = []
for line in open(f"{tmp}/ebbd-all.log"):
    try:
        events.append(json.loads(line))
    except ValueError:
        pass
curls = [l.split() for l in open(f"{tmp}/curls") if l.strip()]
errors = sum(1 for c in curls if len(c) < 2 or c[1] == "ERROR")
drained = [e for e in events if e.get("event") == "drained"]
ins = [e for e in events if e.get("event") == "scale_in"]
print(f"   wrk ({conns} keep-alive) : {reqs} requests in {secs:.1f} s (its pacing allows at most {most}: {conns} connections, "
      f"{pace_ms} ms between requests), {sock} socket errors, {non2xx} non-2xx, longest request {maxlat}")
print(f"   curl                : {len(curls)} new connections, {errors} errors")
print(f"   lb3 leaves          : command {num('leave_cmd_ms')} ms, router's route without lb3 after {num('leave_route_ms')} ms, "
      f"lb3 reports inactive (no VIP traffic) in the snapshot {num('leave_inactive_s')} s after")
for e in ins:
    print(f"   scale-in            : {e['node']} drained by the leader ({e['total']:.0f} live flows fleet-wide, "
          f"{e['active']} active, target {e['target']:.0f})")
for e in drained:
    ago = e.get("last_flow_end_ago_ms")
    print(f"   retired             : {e['node']} after {e['drain_s']:.1f} s of draining, {e.get('flows_cut', e.get('flows_cut_estimate'))} flows cut"
              + (' (measured by the node)' if e.get('verified') else ' (LB estimate: unverified, no node report)')
          + (f", {ago} ms after the fleet's last flow on it ended" if ago is not None else ""))
stats = [json.load(open(f"{tmp}/stats{i}.json")) for i in (1, 2, 3)]
rescued = sum(s.get("reasons", {}).get("rescued", {}).get("packets", 0) for s in stats)
claimed = sum(s.get("reasons", {}).get("claimed", {}).get("packets", 0) for s in stats)
print(f"   rescues             : {rescued} packets rescued, {claimed} claimed by the node holding them")
ok = (sock + non2xx + errors == 0 and 0 < reqs <= most and ins and drained
      and all(d.get("verified") and d.get("flows_cut") == 0 for d in drained))
print("   result              : " + ("0 client errors, 0 flows cut (measured by the nodes): a node added, an LB host "
                                    "left and came back, a node was handed back, nobody noticed" if ok else "SOMETHING WAS NOTICED (see above)"))
sys.exit(0 if ok else 1)
PY
say "Cleaning up the lab"
