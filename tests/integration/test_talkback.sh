#!/usr/bin/env bash
# A drain talks back (issue 17, item 3). Every change ebbctl makes says on stdout what it did and
# what happens next (-j: one JSON document with the same facts, no prose); with no ebbd running
# on the state (never ran, stopped, SIGKILLed), a drain warns on stderr that nothing will retire
# the node. `node wait` prints its progress (flows left, elapsed of the timeout) and ends
# "inactive, 0 flows cut: safe to power off" when the node's own count judged the drain, and says
# "unverified" when it did not.
# ebbctl's changes reach ebbd's log (ebbctl_change: uid, user, command line, what, when; those
# made while no ebbd ran are logged by the next one) and its status page, whose rendered
# DOM (headless Chromium) shows the VIP table with weights, a real drain's progress while a
# keep-alive connection holds it, and the moment the node became safe to power off.
# TAP output.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"
LAB_UP_OPTS=--node-prog lab_setup 3
node_truth_setup

VIP=203.0.113.10:80/tcp
N1=$(node_ip4 1) N2=$(node_ip4 2) N3=$(node_ip4 3)
GHOST=198.51.100.77 # a node address nothing answers for: its drain can only be unverified
METRICS=127.0.0.1:19478 # the LB namespace's own loopback
cat >"$TMP/ebbd.conf" <<CONF
metrics = "$METRICS";
$(truth_pool "$VIP")
CONF

# said NAME ARGS…: ebbctl ARGS, its stdout in $TMP/NAME.out, stderr in $TMP/NAME.err
said() { local name=$1; shift; ctl "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; }
# out_is NAME REGEX: stdout is one line matching REGEX (extended, whole line)
out_is() { [ "$(wc -l <"$TMP/$1.out")" -eq 1 ] && grep -Eqx "$2" "$TMP/$1.out"; }
no_warning() { ! grep -q 'Warning' "$TMP/$1.err"; }
# json_ok NAME PYEXPR: stdout is exactly one JSON document d for which PYEXPR holds
json_ok() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$TMP/$1.out" "$2" 2>/dev/null
}
show() { sed 's/^/#   /' "$TMP/$1.out" "$TMP/$1.err"; }

# --- what each change says, before any ebbd ran on this state ------------------------------------
said vipadd vip add "$VIP" fin-timeout 1
check "vip add says it and what comes next: $(cat "$TMP/vipadd.out")" \
	out_is vipadd "203\.0\.113\.10:80/tcp: added; no node serves it yet, so its packets are dropped until 'ebbctl node add NODE vip 203\.0\.113\.10:80/tcp'"
for i in 1 2 3; do said "add$i" node add "$(node_ip4 "$i")" vip "$VIP" node-prog; done
check "node add says state, weight, next: $(cat "$TMP/add1.out")" \
	out_is add1 "$N1: added to 203\.0\.113\.10:80/tcp, active \(203\.0\.113\.10:80/tcp weight 100\); it takes new flows now"
said ghost node add "$GHOST" vip "$VIP" mac 02:00:00:00:00:77 inactive
show ghost
check "node add inactive says how to activate: $(cat "$TMP/ghost.out")" \
	out_is ghost "$GHOST: added to .*, inactive \(.*\); it takes no flows until 'ebbctl node activate $GHOST'"
said weight node set "$N3" vip "$VIP" weight 50
check "node set weight: $(cat "$TMP/weight.out")" \
	out_is weight "$N3: weight 50 on 203\.0\.113\.10:80/tcp; new flows follow the new weights now, live flows stay where they are"
said weightj -j node set "$N3" vip "$VIP" weight 50
check "-j node set: one JSON document with node, vip, weight" \
	json_ok weightj 'd == {"node": "'"$N3"'", "vip": "203.0.113.10:80/tcp", "weight": 50}'

said lonely node drain "$N3"
rc=$?
show lonely
check "node drain with no ebbd: exit 0, stdout says nobody will retire it" \
	eval '[ $rc -eq 0 ] && out_is lonely "$N3: draining \(was active\), 0 live flows; no ebbd is running to retire it when they end \(timeout 300 s\)"'
check "... and stderr warns: nothing will retire it" \
	grep -Eq "^Warning: no ebbd has run on $BPFFS: nothing will retire $N3" "$TMP/lonely.err"
said lonelyj -j node drain "$N3" timeout 30
check "-j node drain with no ebbd: JSON (ebbd_running false, live_flows, timeout), warning on stderr only" \
	eval 'json_ok lonelyj "d[\"state\"] == \"draining\" and d[\"ebbd_running\"] is False and d[\"live_flows\"] == 0 and d[\"drain_timeout_s\"] == 30" && grep -q "^Warning: .*nothing will retire" "$TMP/lonelyj.err"'
said act node activate "$N3"
check "node activate: $(cat "$TMP/act.out")" out_is act "$N3: active \(was draining\); it takes new flows now"
said quiet -q node activate "$N3"
check "-q: a change prints nothing" [ ! -s "$TMP/quiet.out" ]

# --- ebbd starts: it logs what was changed while it did not run ----------------------------------
start_ebbd
wait_for 100 has_event state_open
check "ebbd started" has_event state_open
wait_for 100 eval '[ -n "$(events ebbctl_change what="$(cat "$TMP/lonely.out")")" ]'
ev=$(events ebbctl_change what="$(cat "$TMP/lonely.out")")
note "$ev"
check "ebbd logs the drain made before it ran: who (uid 0, root), the command line, what, when (before ebbd's start)" \
	python3 - "$ev" "$N3" "$(events start | head -1)" <<'PY'
import datetime, json, sys
e = json.loads(sys.argv[1].splitlines()[0])
start = json.loads(sys.argv[3])["ts"]
at = datetime.datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
ok = (e["uid"] == 0 and e["user"] == "root" and e["pid"] > 0 and at.timestamp() < start
      and e["cmd"].endswith("node drain " + sys.argv[2]) and e["cmd"].split()[0].endswith("ebbctl"))
sys.exit(0 if ok else 1)
PY
check "... each change once: 12 records (the lab's prog attach, vip add, 4 node add, 2 node set, 2 drains, 2 activates)" \
	[ "$(events ebbctl_change | wc -l)" -eq 12 ]

# --- a real drain, held by a keep-alive connection -----------------------------------------------
hold "$TMP/hold.out" 100 n1=1
check "an idle keep-alive connection held on n1 ($(cat "$TMP/hold.out"))" grep -q "ready n1=1" "$TMP/hold.out"
said drain node drain "$N1" timeout 120
show drain
check "node drain with ebbd running: live flows, who retires it, the timeout; no warning" \
	eval 'out_is drain "$N1: draining \(was active\), 1 live flow; ebbd will retire it when they end \(timeout 120 s\)" && no_warning drain'
ctl node wait "$N1" state inactive timeout 200 >"$TMP/wait.out" 2>"$TMP/wait.err" &
wait_pid=$!
# the node's own count judges it (truth): the progress line says so
wait_for 600 grep -q "the node's count" "$TMP/wait.out"
check "node wait prints progress: flows left, by whose count, elapsed of the timeout ($(head -1 "$TMP/wait.out"))" \
	grep -Eq "^$N1: draining, 1 flow left \(the node's count\), [0-9]+ s of 120 s$" "$TMP/wait.out"

if ! command -v chromium >/dev/null; then
	echo "ok - chromium renders the drain's progress # SKIP no chromium"
else
	# the page is rendered once a second: wait for one that has the node's own count
	draining_dom() { status_dom during && dom_holds during "d['drains']['$N1']['data-flows-left'] == '1' and 'verified' in open('$TMP/during.html').read()"; }
	wait_for 100 draining_dom
	sed 's/^/#   /' "$TMP/during.json" | head -c 1500
	echo
	check "chromium DOM, during the drain: the VIP table has the 4 nodes, their weights and states" \
		dom_holds during "d['vips']['$VIP'] == {'$N1': [100, 'draining'], '$N2': [100, 'active'], '$N3': [50, 'active'], '$GHOST': [100, 'inactive']}"
	check "... the drain's progress: 1 flow left, timeout 120 s, a progress bar, not yet safe to power off" \
		dom_holds during "(r := d['drains']['$N1'])['data-timeout'] == '120' and r['progress'][1] == '120' and 0 <= int(r['data-elapsed']) <= 120 and r['safe'] == '0'"
	check "... ebbctl's changes with who and what: the drain by uid 0" \
		dom_holds during "any(c['uid'] == '0' and 'node drain $N1' in c['text'] and 'root' in c['text'] and '1 live flow' in c['text'] for c in d['changes'])"
fi

kill "$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' "$TMP/hold.out")" 2>/dev/null
note "the held connection closed (FIN)"
for _ in $(seq 1200); do kill -0 $wait_pid 2>/dev/null || break; sleep 0.1; done
wait $wait_pid
rc=$?
sed 's/^/#   /' "$TMP/wait.out" "$TMP/wait.err"
check "node wait ends (exit 0): \"inactive, 0 flows cut: safe to power off\"" \
	eval '[ $rc -eq 0 ] && [ "$(tail -1 "$TMP/wait.out")" = "$N1: inactive, 0 flows cut: safe to power off" ]'
check "... after ebbd retired it verified, flows_cut 0" has_event drained node="$N1" verified=True flows_cut=0
said waitj -j node wait "$N1" state inactive
check "-j node wait: JSON, verified, flows_cut 0, safe_to_power_off" \
	json_ok waitj 'd["state"] == "inactive" and d["drain_verified"] is True and d["flows_cut"] == 0 and d["safe_to_power_off"] is True'
if command -v chromium >/dev/null; then
	done_dom() { status_dom after && dom_holds after "d['drains']['$N1']['safe'] == '1'"; }
	wait_for 100 done_dom
	check "chromium DOM, after: n1 inactive, 0 cut (verified): \"safe to power off since HH:MM:SS\"" \
		dom_holds after "(r := d['drains']['$N1'])['data-state'] == 'inactive' and r['data-flows-cut'] == '0' and r['data-verified'] == '1' and r['poweroff'].startswith('safe to power off since ')"
fi

# --- an unverified drain: the node reports nothing (truth fails for it) ---------------------------
said gact node activate "$GHOST"
said gdrain node drain "$GHOST" timeout 60
said gwait node wait "$GHOST" state inactive timeout 200
sed 's/^/#   /' "$TMP/gwait.out"
check "node wait on an unverified drain says so: $(tail -1 "$TMP/gwait.out")" \
	grep -Eqx "$GHOST: inactive, ~0 flows cut by the LB's estimate; unverified: the node's own count was not read, so check the node before powering it off" \
	<(tail -1 "$TMP/gwait.out")

# --- ebbd stopped: a drain warns again ------------------------------------------------------------
kill -TERM "$ebbd_pid"
wait "$ebbd_pid"
check "ebbd stopped cleanly" has_event stop
said after node drain "$N2"
show after
check "node drain after ebbd stopped: stderr says it stopped and nothing will retire the node" \
	grep -Eq "^Warning: ebbd \(pid $ebbd_pid\) stopped [0-9]+ s ago: nothing will retire $N2" "$TMP/after.err"
# killed: its heartbeat stops without a word; a few ticks and 5 s later a drain warns again
start_ebbd
# a probe: n2 drained anew (the running ebbd retires it at once: it has no flow)
probe() { ctl node activate "$N2" >/dev/null 2>&1; said probe node drain "$N2"; }
running() { probe && ! grep -q Warning "$TMP/probe.err"; }
wait_for 300 running
check "a new ebbd: a drain no longer warns" running
kill -KILL "$ebbd_pid"
wait "$ebbd_pid" 2>/dev/null
killed() { probe && grep -q "killed or hung" "$TMP/probe.err"; }
wait_for 300 killed
show probe
check "ebbd SIGKILLed: a drain warns that its last tick is old and nothing will retire the node" \
	grep -Eq "^Warning: ebbd \(pid $ebbd_pid\) last ticked [0-9]+ s ago: killed or hung: nothing will retire $N2" "$TMP/probe.err"
said bad node drain 198.51.100.250
check "a drain that fails says only its error (stdout empty)" \
	eval '[ ! -s "$TMP/bad.out" ] && grep -q "^Error: " "$TMP/bad.err"'

# --- the journal: each change also goes to syslog where something listens on /dev/log ----------
# This machine runs no syslog daemon or journald: a private mount namespace gets its own /dev
# (the devices ebbctl may open, bound from the real one) with a listener on /dev/log, and
# ebbctl changes a weight there. What the listener receives is what journald would store.
cat >"$TMP/devlog.sh" <<'SH'
set -eu
tmp=$1; shift
mkdir -p "$tmp/olddev"
mount --rbind /dev "$tmp/olddev"
mount -t tmpfs tmpfs /dev
for f in null zero urandom random full; do touch "/dev/$f"; mount --bind "$tmp/olddev/$f" "/dev/$f"; done
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
os.chmod("/dev/log", 0o666)
out = open(sys.argv[1], "ab", buffering=0)
while True:
    out.write(s.recv(65536) + b"\n")' "$tmp/syslog.out" &
listener=$!
trap 'kill $listener 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S /dev/log ] && break; sleep 0.1; done
"$@"
for _ in $(seq 100); do grep -q 'weight' "$tmp/syslog.out" 2>/dev/null && break; sleep 0.1; done
SH
: >"$TMP/syslog.out"
unshare -m --propagation private bash "$TMP/devlog.sh" "$TMP" \
	nsenter --net="/run/netns/${PFX}lb" "$EBBCTL" --bpffs "$BPFFS" node set "$N3" vip "$VIP" weight 60 \
	>"$TMP/journal.out" 2>"$TMP/journal.err"
note "syslog received: $(head -c 300 "$TMP/syslog.out")"
check "the change reached syslog: ebbctl's tag and pid, uid, the command line, what it did" \
	grep -Eq "ebbctl\[[0-9]+\]: uid=0 cmd=\".*node set $N3 vip $VIP weight 60\": .*$N3.*weight" "$TMP/syslog.out"
check "... and said the same on stdout ($(cat "$TMP/journal.out"))" grep -q "weight" "$TMP/journal.out"
finish
