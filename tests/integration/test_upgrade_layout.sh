#!/usr/bin/env bash
# `prog upgrade` across a map layout change (an older build's to this one's, e.g. 5 -> ... -> 9)
# keeps every flow. The older ebb is built from history (UPGRADE_FROM, default e909009: layout 5,
# the build before vip_reasons and the monitor, through 6, 7 and 8 to 9 in four steps; 172df19 is
# layout 4; 19c011d layout 6; 1e01558 layout 7; 8cea2e0 layout 8, main's last LRU flow table;
# the project's own Makefile: the same clang flags), attached in a
# lab with real nginx nodes and configured, rescues off (rescue-rate 0 from layout 5; the nodes run
# no node program), so that no rescue can find the node of a flow whose entry was lost. Under wrk
# (64 keep-alive connections, until the checks are done), a new connection every 20 ms and 12 idle keep-alive
# connections (6 more to an IPv6 VIP), the current ebbctl upgrades to the current object: 0 wrk
# socket errors; every flow entry the old ebbctl listed before is in the new tables with the same
# node (F copied, G after the swap; IPv6 in flows6), 8 connections opened between the first copy
# and the swap are served by their nodes between the swap and the second copy, and the migration's own check after its second copy found every entry of the
# old table in the new one (the LRU -> bucket table step: both tables read between the copies);
# no packet went by the second chance (which would re-place a lost flow, most likely on the node
# it was on); the idle connections' next requests reach the node they were on, VIPs, nodes,
# settings and counters are carried over, ebbd keeps working on the new maps, `prog show` says
# the new layout, every VIP has table size 65537 (layout 8) and its tables are copied slot
# for slot. Failures before the swap (a bad object, an object whose staging fails) leave the
# old program and pins untouched; an unknown layout pair is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_agent.sh"
. "$(dirname "$0")/lib_maps.sh"

OLD_REV=${UPGRADE_FROM:-e909009}
NEW_EBBCTL=$EBBCTL
NEW_LAYOUT=$("$EBBCTL" -j version | json_get 'd["map_layout"]')

# The older tree and its ebbctl, whose built-in balancer creates the maps as it did.
mkdir -p "$TMP/old"
if ! git -C "$EBB_ROOT" archive "$OLD_REV" | tar -x -C "$TMP/old" ||
	! make -C "$TMP/old" OUTPUT="$TMP/old/.output" "$TMP/old/.output/ebbctl" \
		"$TMP/old/.output/balancer.bpf.o" >"$TMP/old-build.log" 2>&1; then
	sed 's/^/# /' "$TMP/old-build.log" | tail -20
	not_ok "build ebbctl of $OLD_REV"
	finish
	exit 1
fi
OLD_EBBCTL=$TMP/old/.output/ebbctl
OLD_LAYOUT=$("$OLD_EBBCTL" -j version | json_get 'd["map_layout"]')
check "ebbctl of $OLD_REV is built ($("$OLD_EBBCTL" version | head -1)), an older layout ($OLD_LAYOUT < $NEW_LAYOUT)" \
	[ "${OLD_LAYOUT:-0}" -ge 4 -a "${OLD_LAYOUT:-0}" -lt "$NEW_LAYOUT" ]

EBBCTL=$OLD_EBBCTL
lab_setup 3 # attached by the old ebbctl: maps of its layout

VIP=203.0.113.10:80/tcp
check "vip add $VIP (layout $OLD_LAYOUT)" ctl vip add $VIP
for i in 1 2 3; do check "node add n$i (layout $OLD_LAYOUT)" ctl node add "$(node_ip4 $i)" vip $VIP; done
# IPv6 flows leave the LRU for flows6 (layout 8), not the bucket table
VIP6='[2001:db8:100::10]:80/tcp'
check "vip add $VIP6 (layout $OLD_LAYOUT)" ctl vip add $VIP6
for i in 1 2 3; do check "node add n$i's IPv6 address (layout $OLD_LAYOUT)" ctl node add "$(node_ip6 $i)" vip $VIP6; done
check "prog set flood-rate 12345 (layout $OLD_LAYOUT)" ctl prog set flood-rate 12345
check "prog set mtu 1400 (layout $OLD_LAYOUT)" ctl prog set mtu 1400
# Rescues off: a flow entry the upgrade lost must not be hidden by a rescue finding its node
# (the lab's nodes run no node program either). The second chance could hide one too: its
# counter must not move (below).
if [ "$OLD_LAYOUT" -ge 5 ]; then
	check "prog set rescue-rate 0 (layout $OLD_LAYOUT)" ctl prog set rescue-rate 0
fi
EBBCTL=$NEW_EBBCTL
# This ebbctl on the older layout's maps: its outer rings map takes only tables of 65537 slots
# without BPF_F_INNER_MAP (layout 8 sizes them per VIP), and its VIPs have no table_size.
VIP2=203.0.113.11:80/tcp
check "this ebbctl adds a VIP and a node on the layout-$OLD_LAYOUT maps (their tables as that layout wants)" \
	bash -c "'$EBBCTL' --bpffs '$BPFFS' vip add $VIP2 && '$EBBCTL' --bpffs '$BPFFS' node add $(node_ip4 1) vip $VIP2"
# The old layout's maps are read by the old ebbctl: this build's reads the bucket table only.
octl() { EBBCTL=$OLD_EBBCTL ctl "$@"; }

prog_id() { ctl -j prog show | json_get 'd[0]["prog_id"]'; }
layout() { ctl -j prog show | json_get 'd[0].get("map_layout")'; }
map_id() { bpftool -j map show pinned "$BPFFS/$1" | json_get 'd["id"]'; }
check "prog show reports layout $OLD_LAYOUT before the upgrade" [ "$(layout)" = "$OLD_LAYOUT" ]
old_id=$(prog_id)
flows_map_id=$(map_id flows)
nodes_map_id=$(map_id nodes)

# The configuration as the new ebbctl reads it: what the upgrade must carry over.
config() {
	local ctl=${1:-ctl}
	{
		$ctl -j vip show | json_get '"\n".join("vip %s fwd=%s tcp_idle=%s" % (v["vip"], v["fwd"], v.get("tcp_idle_s")) for v in d)'
		# a node's VIPs sorted: their order is the members hash map's, which a copy may change
		$ctl -j node show | json_get '"\n".join("node %s id=%s state=%s weight=%s vips=%s" % (n["addr"], n.get("id"), n["state"], n.get("weight"), sorted(n.get("vips") or [])) for n in d)'
		$ctl -j prog show | json_get '"settings flood_rate=%s mtu=%s flow_table=%s" % (d[0]["flood_rate"], d[0]["mtu"], d[0]["flow_table_size"])'
	} | LC_ALL=C sort
}
config octl >"$TMP/config.before"
sed 's/^/#   /' "$TMP/config.before"

# --- failures before the swap change nothing
ctl prog upgrade obj "$OUTPUT/decap.bpf.o" 2>"$TMP/bad.err"
check "an upgrade to an object that is not a balancer is refused" [ $? -ne 0 ]
check "... with a clear error: $(head -c 90 "$TMP/bad.err")" grep -q '^Error: .*is not an ebb balancer object' "$TMP/bad.err"
# An object of the new layout whose slot_history cannot be created: the staging fails after the other
# maps were created and pinned there.
clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -D__bpf__ -DEBB_HISTORY_SIZE=0 \
	-I"$EBB_ROOT" -I"$EBB_ROOT/include" -I"$EBB_ROOT/bpf" \
	-c "$EBB_ROOT/bpf/balancer.bpf.c" -o "$TMP/nohistory.bpf.o"
ctl prog upgrade obj "$TMP/nohistory.bpf.o" 2>"$TMP/staging.err"
check "an upgrade whose staging fails is an error" [ $? -ne 0 ]
check "... with a clear error: $(head -c 90 "$TMP/staging.err")" grep -q '^Error: cannot load the balancer' "$TMP/staging.err"
check "... the running program is unchanged" [ "$(prog_id)" = "$old_id" ]
check "... the pins are the old maps (flows $flows_map_id, nodes $nodes_map_id)" \
	[ "$(map_id flows)" = "$flows_map_id" -a "$(map_id nodes)" = "$nodes_map_id" ]
check "... still layout $OLD_LAYOUT, no staging directory left" [ "$(layout)" = "$OLD_LAYOUT" -a ! -e "$BPFFS/upgrade-staging" ]
check "... the configuration is as it was" diff -u "$TMP/config.before" <(config octl)

# --- ebbd runs throughout, with health checks: after the upgrade it must act on the new maps
cat >"$TMP/ebbd.conf" <<CONF
metrics = "";
pools = ( {
  name = "web";
  vips = ["$VIP"];
  health = { type = "http"; port = 80; path = "/"; interval = 0.5; timeout = 0.4; rise = 2; fall = 2; };
} );
CONF
start_ebbd
wait_for 100 has_event state_open
check "ebbd opened the layout-$OLD_LAYOUT state" has_event state_open

# --- idle keep-alive connections: one request each now, the next after the upgrade
cat >"$TMP/idle.py" <<'PY'
import os, socket, sys, time
from http_keepalive import node_of
def ask(s):
    try:
        return node_of(s)
    except ConnectionError:
        return "closed"
conns = []
for _ in range(int(sys.argv[3])):
    s = socket.create_connection((sys.argv[1], 80), timeout=5)
    conns.append((s, s.getsockname()[1], ask(s)))
print("ready", len(conns), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
for s, port, first in conns:
    try:
        second = ask(s)
    except OSError as e:
        second = "error:%s" % e
    print("conn", port, first, second, flush=True)
print("done", flush=True)
PY
on client python3 "$TMP/idle.py" 203.0.113.10 "$TMP/idle.go" 12 >"$TMP/idle.out" 2>&1 &
wait_for 100 grep -q ready "$TMP/idle.out"
check "12 idle keep-alive connections are open" grep -q '^ready 12' "$TMP/idle.out"
on client python3 "$TMP/idle.py" 2001:db8:100::10 "$TMP/idle.go" 6 >"$TMP/idle6.out" 2>&1 &
wait_for 100 grep -q ready "$TMP/idle6.out"
check "6 idle keep-alive connections to the IPv6 VIP are open" grep -q '^ready 6' "$TMP/idle6.out"

# The VIP's new-flow table as the datapath reads it, before and after (read before wrk starts:
# it takes seconds under load, and no node changes meanwhile).
# read by the old ebbctl: this build reads only the bucket table, and this is the old layout
vip_id=$(octl -j vip show $VIP | json_get 'd[0]["id"]')
[ -n "$vip_id" ] || not_ok "the VIP's id read by the old ebbctl"
ring_dump "$BPFFS" $((vip_id * 2)) >"$TMP/ring.before"

pins() {
	${1:-ctl} -j flow show vip ${2:-$VIP} | python3 -c '
import json, sys
for f in json.load(sys.stdin):
    print("%s:%s>%s" % (f["src"], f["sport"], f["node"]))' | LC_ALL=C sort
}
# New connections throughout: some open between the first copy and the swap (the second copy's).
on client bash -c "while [ ! -e '$TMP/newconns.stop' ]; do curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 http://203.0.113.10/; sleep 0.02; done" >"$TMP/newconns.out" 2>&1 &
newconns_pid=$!
wait_for 100 grep -q . "$TMP/newconns.out"
# wrk runs until it is stopped after the last check of the upgrade's window (SIGINT: it
# prints its report), not for a fixed time that a loaded machine's setup could outlast
# (nsenter execs wrk: $! is wrk's own pid, which SIGINT must reach; through `on`, a function,
# it would be a subshell's, and the subshell ignores SIGINT)
nsenter --net="/run/netns/${PFX}client" wrk -t2 -c64 -d600s http://203.0.113.10/ >"$TMP/wrk.out" 2>&1 &
wrk_pid=$!
# wrk's connections are in the flow table (12 idle + 64): then the upgrade is in the middle.
# Flows in the window between the copies, made there without a race: the upgrade waits at its
# two points (EBB_MIGRATE_HOLD, user/lib/migrate.c). After the first copy, before the swap, 8
# keep-alive connections are opened (the old program pins them: only the old table has them);
# after the swap, before the second copy, a request on each reaches the new program, whose table
# misses them: flows_old must name their nodes, or they go by the second chance.
mkdir -p "$TMP/hold"
cat >"$TMP/window.py" <<'PY'
import os, socket, sys, time
from http_keepalive import node_of
hold, n = sys.argv[2], int(sys.argv[3])
def wait(name):
    for _ in range(12000):
        if os.path.exists(os.path.join(hold, name)):
            return True
        time.sleep(0.01)
    return False
def touch(name):
    open(os.path.join(hold, name), "w").close()
if not wait("at1"):
    print("never at point 1", flush=True)
    sys.exit(1)
conns = []
for _ in range(n):
    s = socket.create_connection((sys.argv[1], 80), timeout=5)
    conns.append((s, s.getsockname()[1], node_of(s)))
print("opened", len(conns), flush=True)
touch("go1")
if not wait("at2"):
    print("never at point 2", flush=True)
    sys.exit(1)
for s, port, first in conns:
    try:
        second = node_of(s)
    except OSError as e:
        second = "error:%s" % e
    print("conn", port, first, second, flush=True)
touch("go2")
print("done", flush=True)
PY
on client python3 "$TMP/window.py" 203.0.113.10 "$TMP/hold" 8 >"$TMP/window.out" 2>&1 &
window_pid=$!
live() { [ "$(octl -j vip show $VIP | json_get 'd[0]["flows"]')" -ge 76 ]; }
wait_for 100 live
pins octl >"$TMP/pins.before"
pins octl "$VIP6" >"$TMP/pins6.before"
ctl -j stats show >"$TMP/stats.before"
upgrade_at=$(date +%s.%N)
EBB_MIGRATE_HOLD=$TMP/hold ctl -j prog upgrade >"$TMP/upgrade.json" 2>"$TMP/upgrade.err"
rc=$?
up() { json_get "d[\"$1\"]" <"$TMP/upgrade.json"; }
note "prog upgrade took $(python3 -c "import time; print('%.3f' % (time.time() - $upgrade_at))") s (under wrk, load average $(cut -d' ' -f1 /proc/loadavg))"
kill -0 $wrk_pid 2>/dev/null
check "wrk was still running when the upgrade returned" [ $? -eq 0 ]
check "prog upgrade from layout $OLD_LAYOUT: $(tr -d '\n' <"$TMP/upgrade.json"; cat "$TMP/upgrade.err")" [ "$rc" -eq 0 ]
ctl -j stats show >"$TMP/stats.after"
pins >"$TMP/pins.after"
pins ctl "$VIP6" >"$TMP/pins6.after"
newconns_at_upgrade=$(grep -c . "$TMP/newconns.out")
# (in eval's quotes: counted at each try, not once when the line is read)
wait_for 100 eval '[ "$(grep -c . "$TMP/newconns.out")" -ge $((newconns_at_upgrade + 20)) ]'
touch "$TMP/newconns.stop"
wait $newconns_pid
F=$(up flows_copied)
G=$(up flows_copied_after_swap)
check "the output says it: 1 device, prog_id $old_id -> $(up new_prog_id), layout $(up old_layout) -> $(up new_layout), migrated, flows copied F=$F (+G=$G after the swap)" \
	[ "$(up devices)" = 1 -a "$(up old_prog_id)" = "$old_id" -a "$(up old_layout)" = "$OLD_LAYOUT" -a \
	  "$(up new_layout)" = "$NEW_LAYOUT" -a "$(up migrated)" = True ]
new_id=$(prog_id)
check "the device runs a new program ($old_id -> $new_id)" [ "$new_id" != "$old_id" ]
check "prog show reports layout $NEW_LAYOUT" [ "$(layout)" = "$NEW_LAYOUT" ]
check "the pins are new maps (flows $flows_map_id -> $(map_id flows))" \
	[ "$(map_id flows)" != "$flows_map_id" -a "$(map_id nodes)" != "$nodes_map_id" ]
check "no staging directory is left" [ ! -e "$BPFFS/upgrade-staging" ]

n_before=$(grep -c . "$TMP/pins.before")
kept=$(LC_ALL=C comm -12 "$TMP/pins.before" "$TMP/pins.after" | grep -c .)
note "flow entries before the upgrade: $n_before; copied: F=${F:-?} before the swap, G=${G:-?} after; the same node after: $kept"
LC_ALL=C comm -12 "$TMP/pins.before" "$TMP/pins.after" | sed 's/^/#   kept /'
LC_ALL=C comm -23 "$TMP/pins.before" "$TMP/pins.after" | sed 's/^/#   LOST /'
check "every flow entry present before is present after with the same node ($kept of $n_before)" \
	[ "$kept" -eq "$n_before" -a "$kept" -ge 76 ]
check "F counts them all: F=${F:-?} >= $n_before" [ "${F:-0}" -ge "$n_before" ]
# The migration's own count, after its second copy: every entry of the old table looked up in
# the new one while wrk ran (one the copies missed would be absent, or re-placed by then).
check "the upgrade checked the old table against the new: $(up flows_checked) entries, $(up flows_missing) missing, $(up flows_other_node) on another node, $(up flows_evicted) evicted, $(up flows_failed) failed" \
	[ "$(up flows_checked)" -ge "$n_before" -a "$(up flows_missing)" = 0 -a "$(up flows_other_node)" = 0 -a \
	  "$(up flows_evicted)" = 0 -a "$(up flows_failed)" = 0 ]
n6_before=$(grep -c . "$TMP/pins6.before")
kept6=$(LC_ALL=C comm -12 "$TMP/pins6.before" "$TMP/pins6.after" | grep -c .)
LC_ALL=C comm -23 "$TMP/pins6.before" "$TMP/pins6.after" | sed 's/^/#   LOST /'
check "every IPv6 flow entry present before is in flows6 after with the same node ($kept6 of $n6_before)" \
	[ "$kept6" -eq "$n6_before" -a "$kept6" -ge 6 ]
n_after=$(grep -c . "$TMP/pins.after")
note "flow entries: $n_before before the upgrade (old ebbctl), $n_after after (this one)"


wait $window_pid
sed 's/^/#   window /' "$TMP/window.out"
same=$(awk '$1 == "conn" && $3 == $4 && $3 ~ /^n[0-9]/' "$TMP/window.out" | grep -c .)
check "8 connections opened between the first copy and the swap: their requests between the swap and the second copy answered by the node they were on ($same of 8)" \
	[ "$same" -eq 8 ]

n_new=$(grep -c . "$TMP/newconns.out")
check "new connections before, across and after the upgrade: all answered 200 ($(grep -c '^200$' "$TMP/newconns.out") of $n_new)" \
	[ "$(grep -c '^200$' "$TMP/newconns.out")" -eq "$n_new" -a "$n_new" -gt "$newconns_at_upgrade" ]

# Counters: carried over, so never below what they were before the upgrade.
python3 - "$TMP/stats.before" "$TMP/stats.after" >"$TMP/stats.cmp" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
bad = 0
for kind in ("vips", "nodes", "reasons"):
    for name, c in a[kind].items():
        for f, v in c.items():
            if b[kind].get(name, {}).get(f, 0) < v:
                bad += 1
                print("# lower after:", kind, name, f, v, b[kind].get(name, {}).get(f))
vp = sum(c["packets"] for c in a["vips"].values())
print("# vip packets before %d, after %d" % (vp, sum(c["packets"] for c in b["vips"].values())))
sys.exit(1 if bad or vp == 0 else 0)
PY
check "counters carried over: none lower after the upgrade" [ $? -eq 0 ]
cat "$TMP/stats.cmp"

# The idle connections' next requests.
touch "$TMP/idle.go"
wait_for 100 grep -q '^done' "$TMP/idle.out"
sed 's/^/#   idle /' "$TMP/idle.out"
same=$(awk '$1 == "conn" && $3 == $4 && $3 ~ /^n[0-9]/' "$TMP/idle.out" | grep -c .)
check "the 12 idle connections' next requests are answered by the same node ($same of 12)" [ "$same" -eq 12 ]
wait_for 100 grep -q '^done' "$TMP/idle6.out"
sed 's/^/#   idle6 /' "$TMP/idle6.out"
same=$(awk '$1 == "conn" && $3 == $4 && $3 ~ /^n[0-9]/' "$TMP/idle6.out" | grep -c .)
check "the 6 idle IPv6 connections' next requests are answered by the same node ($same of 6)" [ "$same" -eq 6 ]

kill -INT $wrk_pid
wait $wrk_pid
# A flow whose entry the upgrade lost would be placed again by its next packet through the
# second chance (rescues are off), most likely on the node it was on: only this counter says.
sc() { json_get "d[\"vips\"][\"${2:-$VIP}\"][\"second_chance\"]" <"$1"; }
ctl -j stats show >"$TMP/stats.end"
check "no packet went by the second chance across the upgrade (VIP second_chance $(sc "$TMP/stats.before") before, $(sc "$TMP/stats.end") after wrk; IPv6 VIP $(sc "$TMP/stats.before" "$VIP6"), $(sc "$TMP/stats.end" "$VIP6"))" \
	[ "$(sc "$TMP/stats.before")" = "$(sc "$TMP/stats.end")" -a \
	  "$(sc "$TMP/stats.before" "$VIP6")" = "$(sc "$TMP/stats.end" "$VIP6")" ]
read -r sock non2xx reqs < <(wrk_errors "$TMP/wrk.out")
note "wrk: $reqs requests, $sock socket errors, $non2xx non-2xx"
check "wrk: requests served across the upgrade ($reqs)" [ "$reqs" -gt 1000 ]
check "wrk: 0 socket errors ($sock)" [ "$sock" -eq 0 ]
check "wrk: 0 non-2xx ($non2xx)" [ "$non2xx" -eq 0 ]
# From the nodes' own logs: every request after the upgrade on a connection that was pinned
# before it reached the node the pin named.
read -r served moved < <(python3 - "$TMP/pins.before" "$upgrade_at" \
	"$(node_ip4 1)=$(access_log 1)" "$(node_ip4 2)=$(access_log 2)" "$(node_ip4 3)=$(access_log 3)" <<'PY'
import sys
pin = {}
for line in open(sys.argv[1]):
    src, node = line.strip().split(">")
    pin[src.rsplit(":", 1)[1]] = node
served = moved = 0
for arg in sys.argv[3:]:
    node, log = arg.split("=", 1)
    for line in open(log):
        f = line.split()
        if len(f) < 7 or f[6] != "203.0.113.10" or float(f[0]) < float(sys.argv[2]) or f[4] not in pin:
            continue
        served += 1
        moved += pin[f[4]] != node
print(served, moved)
PY
)
check "nginx logs: $served requests after the upgrade on connections pinned before, $moved on another node" \
	[ "$served" -gt 1000 -a "$moved" -eq 0 ]

check "VIPs, nodes and settings carried over" diff -u "$TMP/config.before" <(config)
# Layout 8: a VIP of an older layout has 65537 slots, its tables copied slot for slot, so a
# flow's slot and node are what they were (the pins above; the tables here).
sizes=$(ctl -j vip show | json_get '" ".join(sorted(set(str(v.get("table_size")) for v in d)))')
check "layout 8: the upgraded VIPs have table size 65537 (vip show -j: $sizes)" [ "$sizes" = 65537 ]
check "... and so has their datapath copy in vips_by_id (bpftool: table_size 65537)" \
	bash -c "bpftool -j map lookup pinned '$BPFFS/vips_by_id' key $vip_id 0 0 0 | grep -q '\"table_size\":65537'"
ring_dump "$BPFFS" $((vip_id * 2)) >"$TMP/ring.after"
check "... its new-flow table copied as it was: $(head -1 "$TMP/ring.after") elements, every one the same ($(($(wc -l <"$TMP/ring.before") - 1)) before)" \
	cmp -s "$TMP/ring.before" "$TMP/ring.after"
want_rescue=0 # as set above
[ "$OLD_LAYOUT" -lt 5 ] && want_rescue=20000 # the 4 -> 5 step's default
check "settings: rescue_rate $want_rescue, migrating 0 ($(bpftool -j map lookup pinned "$BPFFS/settings" key 0 0 0 0 | json_get 'd["formatted"]["value"]'))" \
	bash -c "bpftool -j map lookup pinned '$BPFFS/settings' key 0 0 0 0 | grep -q '\"rescue_rate\":$want_rescue,\"migrating\":0'"
check "rescue_secret was made (random, not zero)" \
	bash -c "bpftool -j map lookup pinned '$BPFFS/rescue_secret' key 0 0 0 0 | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(d[\"formatted\"][\"value\"][\"key\"]) else 1)'"

if [ "$OLD_LAYOUT" -lt 6 ]; then
	check "layout 6's maps are made: vip_reasons, monitor (nobody listening), monitor_events" \
		bash -c "[ -e '$BPFFS/vip_reasons' -a -e '$BPFFS/monitor_events' ] && bpftool -j map lookup pinned '$BPFFS/monitor' key 0 0 0 0 | grep -q '\"sample\":0,'"
fi

if [ "$OLD_LAYOUT" -lt 7 ]; then
	# a VIP's SYNs within its retry window ask the flow table as before the upgrade
	check "layout 7's ring_changes is made with every slot marked (first and last word all ones)" \
		bash -c "bpftool -j map lookup pinned '$BPFFS/ring_changes' key 0 0 0 0 | grep -q '\"value\":18446744073709551615' &&
			 bpftool -j map lookup pinned '$BPFFS/ring_changes' key hex $(printf '%08x' $((64 * 1025 - 1)) | sed 's/\(..\)\(..\)\(..\)\(..\)/\4 \3 \2 \1/') | grep -q '\"value\":18446744073709551615'"
fi

# ebbd noticed the new maps and acts on them: n3's nginx stops -> ebbd marks it down there.
wait_for 100 has_event state_recreated
check "ebbd noticed the maps were replaced (state_recreated)" has_event state_recreated
nginx_stop() {
	local pid
	pid=$(cat "$(nginx_dir "$1")/nginx.pid")
	kill -TERM "$pid"
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
check "n3's nginx stopped" nginx_stop 3
is_down() { [ "$(state_of "$(node_ip4 3)")" = down ]; }
wait_for 100 is_down
check "ebbd marked n3 down in the new maps" is_down
check "... the new program's nodes map says so (bpftool)" \
	bash -c "bpftool -j map dump pinned '$BPFFS/nodes' | grep -q '\"state\":\"EBB_NODE_DOWN\"'"
nginx_start 3
is_active() { [ "$(state_of "$(node_ip4 3)")" = active ]; }
wait_for 100 is_active
check "... and active again once nginx is back" is_active

# --- unknown pairs are refused, changing nothing
ctl prog upgrade obj "$TMP/old/.output/balancer.bpf.o" 2>"$TMP/down.err"
check "an upgrade to the layout-$OLD_LAYOUT object ($NEW_LAYOUT -> $OLD_LAYOUT) is refused" [ $? -ne 0 ]
check "... with a clear error: $(head -c 120 "$TMP/down.err")" \
	grep -q "^Error: refusing: .*layout version $NEW_LAYOUT, the program expects $OLD_LAYOUT, and ebb knows no migration from $NEW_LAYOUT to $OLD_LAYOUT" "$TMP/down.err"
clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -D__bpf__ -DEBB_MAP_LAYOUT_VERSION=99 \
	-I"$EBB_ROOT" -I"$EBB_ROOT/include" -I"$EBB_ROOT/bpf" \
	-c "$EBB_ROOT/bpf/balancer.bpf.c" -o "$TMP/layout99.bpf.o"
ctl prog upgrade obj "$TMP/layout99.bpf.o" 2>"$TMP/l99.err"
check "an upgrade to layout 99 is refused" [ $? -ne 0 ]
check "... with a clear error: $(head -c 120 "$TMP/l99.err")" \
	grep -q "^Error: refusing: .*layout version $NEW_LAYOUT, the program expects 99, and ebb knows no migration from $NEW_LAYOUT to 99" "$TMP/l99.err"
check "... the running program and the maps are unchanged" \
	[ "$(prog_id)" = "$new_id" -a "$(layout)" = "$NEW_LAYOUT" -a ! -e "$BPFFS/upgrade-staging" ]
check "a same-layout upgrade still keeps the maps" bash -c "nsenter --net=/run/netns/${PFX}lb $EBBCTL --bpffs $BPFFS prog upgrade | grep -q 'maps and flows kept'"

# A writer that opened the maps, then waited for the lock while an upgrade replaced them, must
# write to the maps pinned when it gets the lock (a write to the old ones reaches no program).
# The replacement is made by hand here, as the upgrade makes it: a new map renamed over a pin.
# Last: the settings pin is then a map no program reads.
flock -o "$BPFFS" bash -c '
	nsenter --net=/run/netns/'"${PFX}"'lb '"$EBBCTL"' --bpffs '"$BPFFS"' prog set flood-rate 777 &
	w=$!
	echo "writer $w" >'"$TMP"'/writer.pid
	for _ in $(seq 100); do ls -l /proc/$w/fd 2>/dev/null | grep -q " '"$BPFFS"'$" && break; sleep 0.1; done
	ls -l /proc/$w/fd 2>/dev/null | grep -q " '"$BPFFS"'$" && echo waiting >'"$TMP"'/writer.state
	bpftool map create '"$BPFFS"'/settings_new type array key 4 value 16 entries 1 name settings &&
		mv '"$BPFFS"'/settings_new '"$BPFFS"'/settings && echo replaced >>'"$TMP"'/writer.state'
check "a writer waited for the lock with the old maps open, and the settings pin was replaced meanwhile" \
	[ "$(tr '\n' ' ' <"$TMP/writer.state")" = "waiting replaced " ]
writer=$(awk '{print $2}' "$TMP/writer.pid")
for _ in $(seq 100); do kill -0 "$writer" 2>/dev/null || break; sleep 0.1; done
check "... it wrote to the map pinned when it got the lock (flood_rate 777 there)" \
	bash -c "bpftool -j map lookup pinned '$BPFFS/settings' key 0 0 0 0 | grep -q '\"value\":\[\"0x09\",\"0x03\"'"
finish
