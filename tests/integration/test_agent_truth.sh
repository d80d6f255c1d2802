#!/usr/bin/env bash
# ebbd reads each draining node's own count of its connections (doc/node-truth.md, "How the LB
# reads it"): two nginx nodes run the node program (`backend attach`, `backend add VIP/32`, pins
# in one bpffs directory), ebbd's pool has `truth` = a wrapper that runs `ebbctl -j backend conns
# key FILE nonce {nonce}` in the node's network namespace. The client holds keep-alive
# connections, both nodes drain: ebbd's metrics and status page give each node's live count,
# equal to the connections held and to `ss` on the node, going to 0 once they close. Each way a
# report can be wrong (another key, a replayed answer, a stale clock, an incomplete count, a
# command that fails or hangs, a VIP the report does not cover) makes the node's truth FAILED
# with its reason, logged once, with no live figure shown; then a good report makes it OK again.
# TAP output.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"

VIP=203.0.113.10
NB=$BPFFS-nodes
METRICS=127.0.0.1:19477 # the LB namespace's own loopback: no clash with other labs

lab_setup 2
trap 'rm -rf "$NB"; lab_teardown' EXIT
N1=$(node_ip4 1) N2=$(node_ip4 2)

node_ctl() { local n=$1; shift; on "n$n" "$EBBCTL" --bpffs "$NB" "$@"; }
for n in 1 2; do
	node_ctl "$n" backend attach dev eth0 >/dev/null 2>&1 ||
		node_ctl "$n" backend attach dev eth0 mode generic >/dev/null ||
		{ not_ok "backend attach on n$n"; exit 1; }
	node_ctl "$n" backend add "$VIP/32" >/dev/null || { not_ok "n$n: backend add $VIP/32"; exit 1; }
done
# the LB keeps a closed connection's flow 60 s: the drain outlives the node's count going to 0
check "vip add $VIP:80/tcp fin-timeout 60" ctl vip add "$VIP:80/tcp" fin-timeout 60
for i in 1 2; do check "node add n$i" ctl node add "$(node_ip4 $i)" vip "$VIP:80/tcp"; done

KEY=$TMP/node.key KEY2=$TMP/other.key
head -c 32 /dev/urandom >"$KEY" && head -c 32 /dev/urandom >"$KEY2" && chmod 600 "$KEY" "$KEY2"

# resign.py KEY FIELD=JSON|FIELD=@SAVED...: the envelope on stdin with its report's fields
# changed (@SAVED: the field as in a saved envelope) and signed again with KEY, as a node holding
# the key could forge it.
cat >"$TMP/resign.py" <<'PY'
import hashlib, hmac, json, sys
key = open(sys.argv[1], "rb").read()
r = json.loads(json.loads(sys.stdin.read())["report"])
for a in sys.argv[2:]:
    k, v = a.split("=", 1)
    r[k] = json.loads(json.loads(open(v[1:]).read())["report"])[k] if v.startswith("@") else json.loads(v)
rep = json.dumps(r, separators=(",", ":"))
print(json.dumps({"report": rep, "hmac_sha256": hmac.new(key, rep.encode(), hashlib.sha256).hexdigest()}))
PY
# truth.sh NODE NONCE: the node's signed report, read in its network namespace. $TMP/mode.NODE
# says which wrong answer to give instead; every call appends its mode to $TMP/calls.NODE.
cat >"$TMP/truth.sh" <<SH
#!/bin/bash
node=\$1 nonce=\$2
case \$node in
$N1) ns=${PFX}n1 ;;
$N2) ns=${PFX}n2 ;;
*) exit 3 ;;
esac
mode=\$(cat "$TMP/mode.\$node" 2>/dev/null || echo normal)
echo "\$mode" >>"$TMP/calls.\$node"
real() { nsenter --net="/run/netns/\$ns" "$EBBCTL" --bpffs "$NB" -j backend conns key "\${1:-$KEY}" nonce "\$nonce"; }
case \$mode in
normal) out=\$(real) || exit 1; echo "\$out" >"$TMP/saved.\$node"; echo "\$out" ;;
wrongkey) real "$KEY2" ;;
replay) cat "$TMP/saved.\$node" ;;
stale) real | python3 "$TMP/resign.py" "$KEY" "boottime_ns=@$TMP/saved.\$node" ;;
incomplete) real | python3 "$TMP/resign.py" "$KEY" complete=false; exit 1 ;;
exit1) exit 1 ;;
hang) echo \$\$ >"$TMP/hang.pid"; exec sleep 600 ;;
esac
SH
chmod +x "$TMP/truth.sh"

cat >"$TMP/ebbd.conf" <<CONF
metrics = "$METRICS";
pools = ( {
  name = "web";
  vips = ["$VIP:80/tcp"];
  truth = ["$TMP/truth.sh", "{node}", "{nonce}"];
  truth-key = "$KEY";
  truth-interval = 0.5;
  truth-timeout = 6;
} );
CONF
out=$("$EBBD" --check "$TMP/ebbd.conf" 2>&1)
check "ebbd --check accepts the pool's truth settings ($out)" grep -q ": OK" <<<"$out"

# the client holds 3 idle keep-alive connections on n1 and 1 on n2, then both drain
hold "$TMP/hold.out" 100 n1=3 n2=1
check "the client holds 3 connections on n1, 1 on n2 ($(head -c 80 "$TMP/hold.out"))" \
	grep -q "ready n1=3 n2=1" "$TMP/hold.out"
hold_pid=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' "$TMP/hold.out")
# wait_until TRIES 'TEST': evaluates TEST (a string, so that its $(...) runs each time) every
# 0.1 s until it holds, TRIES times at most; the suite checks afterwards what it waited for.
wait_until() {
	local tries=$1
	shift
	for _ in $(seq "$tries"); do eval "$*" && return 0; sleep 0.1; done
	gave_up "wait_until $tries $*"
	return 1
}
metrics() { on lb curl -s -m 5 "http://$METRICS/metrics"; }
# metric NAME NODE: its value on the metrics page, "none" when absent
metric() {
	metrics | awk -v m="$1{node=\"$2\"}" '$1 == m { print $2; f = 1 } END { if (!f) print "none" }'
}
start_ebbd
wait_for 100 has_event state_open
wait_until 100 '[ "$(metric ebb_node_flows "$N1")" != none ]'
check "an active node is not asked: no truth figure for n1 yet" \
	test "$(metric ebb_node_flows "$N1")" != none -a "$(metric ebb_node_truth_ok "$N1")" = none -a ! -e "$TMP/calls.$N1"
# a long drain timeout: the failure cases below take their time on a loaded machine
check "node drain n1, n2" ctl node drain "$N1" timeout 3600
ctl node drain "$N2" timeout 3600 >/dev/null
# Polled with grep, not with python: a python start takes seconds on a loaded machine. ebbd
# writes each event's fields in a fixed order (event, node, then the rest).
ev_lines() { grep -F "\"event\":\"$1\",\"node\":\"$2\"" "$LOG"; }
truth_live() { ev_lines truth "$1" | grep -q -F "\"live\":$2,"; }
wait_for 300 truth_live "$N1" 3
wait_for 100 truth_live "$N2" 1
ebbd_fds() { ls "/proc/$ebbd_pid/fd" | wc -l; }
fd0=$(ebbd_fds) # before the hundreds of reads below, good and bad
ss_est() { on "n$1" ss -Htn state established "( sport = :80 )" | wc -l; }
wait_until 50 '[ "$(metric ebb_node_truth_live "$N1")" = 3 ]'
l1=$(metric ebb_node_truth_live "$N1") ok1=$(metric ebb_node_truth_ok "$N1") s1=$(ss_est 1)
check "n1's own count in ebbd's metrics: live $l1, ok $ok1 (3 held, ss on n1: $s1)" \
	test "$l1" = 3 -a "$ok1" = 1 -a "$s1" = 3
wait_until 50 '[ "$(metric ebb_node_truth_live "$N2")" = 1 ]'
l2=$(metric ebb_node_truth_live "$N2") s2=$(ss_est 2)
check "n2's own count in ebbd's metrics: live $l2 (1 held, ss on n2: $s2)" test "$l2" = 1 -a "$s2" = 1
check "n1: 0 rescues reset in this drain, the report 0.0-a few s old" python3 -c "
import sys; r, age = sys.argv[1], float(sys.argv[2]); sys.exit(not (r == '0' and 0 <= age < 30))" \
	"$(metric ebb_node_truth_reset "$N1")" "$(metric ebb_node_truth_age_seconds "$N1")"
status_has() { on lb curl -s -m 5 "http://$METRICS/" >"$TMP/status.html" && grep -q "$1" "$TMP/status.html"; }
wait_for 100 status_has 'data-truth="ok">3 live, 0 reset<'
check "the status page shows n1's count (3 live, 0 reset): $(grep -o 'data-truth="[a-z]*">[^<]*' "$TMP/status.html" | tr '\n' ' ')" \
	grep -q 'data-truth="ok">3 live, 0 reset<' "$TMP/status.html"

# --- each wrong answer: FAILED with its reason, logged once, no live figure; then OK again
whys() { ev_lines truth_failed "$1" | sed 's/.*"why":"\(.*\)"}$/\1/'; }
n_why() { ev_lines truth_failed "$1" | grep -c -F -- "$2"; }
n_truth() { ev_lines truth "$1" | wc -l; }
calls() { grep -c -x "$2" "$TMP/calls.$1"; }
# fails MODE WHY [SETUP]: n2 answers in MODE; ebbd must say WHY (a substring)
fails() {
	local mode=$1 why=$2 before
	before=$(n_truth "$N2")
	echo "$mode" >"$TMP/mode.$N2"
	: >"$TMP/calls.$N2"
	wait_until 400 '[ "$(n_why "$N2" "$why")" -ge 1 ]'
	check "$mode: n2's truth FAILED: $(whys "$N2" | tail -1)" test "$(n_why "$N2" "$why")" -ge 1
	wait_until 400 '[ "$(calls "$N2" "$mode")" -ge 3 ]'
	wait_until 50 '[ "$(metric ebb_node_truth_ok "$N2")" = 0 ]'
	check "$mode: metrics say ebb_node_truth_ok 0 and give no live figure for n2 ($(calls "$N2" "$mode") calls, logged $(n_why "$N2" "$why") time)" \
		test "$(metric ebb_node_truth_ok "$N2")" = 0 -a "$(metric ebb_node_truth_live "$N2")" = none -a \
		"$(n_why "$N2" "$why")" = 1
	echo normal >"$TMP/mode.$N2"
	wait_until 400 '[ "$(n_truth "$N2")" -gt "$before" ]'
	check "$mode: back to a good report, n2's truth is OK again (live $(metric ebb_node_truth_live "$N2"))" \
		test "$(n_truth "$N2")" -gt "$before"
}
fails wrongkey "HMAC does not verify"
fails replay "nonce mismatch"
fails stale "stale report: boottime_ns"
fails incomplete "incomplete"
fails exit1 "exited with status 1"
fails hang "timed out after 6 s (killed)"
hang_pid=$(cat "$TMP/hang.pid" 2>/dev/null)
wait_for 100 test ! -e "/proc/${hang_pid:-0}"
check "the hanging command (pid ${hang_pid:-none}) was killed" test -n "$hang_pid" -a ! -e "/proc/${hang_pid:-0}"
# a VIP the report does not speak for: n2 no longer counts its prefix
node_ctl 2 backend del "$VIP/32" >/dev/null
before=$(n_truth "$N2")
wait_until 300 '[ "$(n_why "$N2" "VIP $VIP:80/tcp is not in the report")" -ge 1 ]'
check "VIP missing from the report: n2's truth FAILED: $(whys "$N2" | tail -1)" \
	test "$(n_why "$N2" "VIP $VIP:80/tcp is not in the report")" -ge 1
node_ctl 2 backend add "$VIP/32" >/dev/null
wait_until 300 '[ "$(n_truth "$N2")" -gt "$before" ]'
check "prefix back: n2's truth is OK again" test "$(n_truth "$N2")" -gt "$before"
check "n1 was never FAILED meanwhile" test -z "$(ev_lines truth_failed "$N1")"

# --- no leak: ebbd's descriptors after every read above, good and bad; a read's pipe is open
# while it runs (one per node at most)
c0=$(wc -l <"$TMP/calls.$N1")
wait_until 600 '[ "$(wc -l <"$TMP/calls.$N1")" -ge $((c0 + 20)) ]'
wait_until 50 '[ "$(ebbd_fds)" -le $((fd0 + 2)) ]'
check "ebbd's descriptors after $(cat "$TMP"/calls.* | wc -l) reads: $(ebbd_fds) (at the first: $fd0, + 2 reads running at most)" \
	test "$(ebbd_fds)" -le $((fd0 + 2))
check "ebbd's children: at most the reads running now ($(pgrep -c -P "$ebbd_pid"))" \
	test "$(pgrep -c -P "$ebbd_pid")" -le 2

# --- the client closes its connections: the nodes' counts go to 0 (waited for, bounded)
closed_at=$(date +%s.%N)
kill "$hold_pid" 2>/dev/null
wait_for 300 truth_live "$N1" 0
check "n1's own count went to 0 once the client closed (ss on n1: $(ss_est 1))" truth_live "$N1" 0
wait_for 300 truth_live "$N2" 0
check "n2's own count went to 0" truth_live "$N2" 0
# The drain decision takes the node's word: n1's own 0 ends its drain, verified, long before the
# LB's table would (its flows' FIN timeout is 60 s).
wait_for 300 sh -c "grep -q '\"event\":\"drained\".*\"node\":\"$N1\"' '$LOG'"
ev=$(grep '"event":"drained"' "$LOG" | grep "\"node\":\"$N1\"" | head -1)
note "n1 drained: $ev"
# (Timed from the client's close, not the drain's start: the failure cases above take minutes on
# a loaded machine, CI saw drain_s 117.)
check "n1 retired on its own count of 0: verified, flows_cut 0, before the LB's 60 s FIN timeout ran out ($(python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['ts'] - float(sys.argv[2]), 1))" "$ev" "$closed_at" 2>/dev/null) s after the client closed)" python3 -c "
import json, sys; e = json.loads(sys.argv[1])
sys.exit(not (e['verified'] is True and e['flows_cut'] == 0 and e['reason'] == 'flows_ended' and 0 <= e['ts'] - float(sys.argv[2]) < 60))" "$ev" "$closed_at"
# The LB sees the closed connections finish only 60 s later; "how long after its last flow
# ended" is counted from n1's last report that still saw one (an upper bound within the drain).
check "n1's last_flow_end_ago_ms counts from within its drain ($(echo "$ev" | python3 -c "import json,sys; print(json.load(sys.stdin).get('last_flow_end_ago_ms'))") ms, drain $(echo "$ev" | python3 -c "import json,sys; print(json.load(sys.stdin)['drain_s'])") s)" python3 -c "
import json, sys; e = json.loads(sys.argv[1])
ago = e.get('last_flow_end_ago_ms')
sys.exit(not (ago is not None and 0 <= ago <= e['drain_s'] * 1000))" "$ev"
# A drain timeout with open connections: what it cuts is what the node counted. n2 active
# again, 2 idle connections on it, drained with a 4 s timeout.
drained_n2() { grep '"event":"drained"' "$LOG" | grep "\"node\":\"$N2\""; }
wait_for 300 sh -c "grep -q '\"event\":\"drained\".*\"node\":\"$N2\"' '$LOG'"
d0=$(drained_n2 | wc -l)
check "node activate n2" ctl node activate "$N2"
hold "$TMP/hold2.out" 100 n2=2
check "the client holds 2 connections on n2 ($(head -c 60 "$TMP/hold2.out"))" grep -q "ready n2=2" "$TMP/hold2.out"
check "node drain n2 timeout 4" ctl node drain "$N2" timeout 4
wait_until 600 '[ "$(drained_n2 | wc -l)" -gt "$d0" ]'
ev=$(drained_n2 | tail -1)
note "n2 drained at its timeout: $ev"
check "n2 retired at its timeout: verified, flows_cut 2 = the connections the node had" python3 -c "
import json, sys; e = json.loads(sys.argv[1])
sys.exit(not (e['verified'] is True and e['flows_cut'] == 2 and e['reason'] == 'drain_timeout'))" "$ev"
check "ebbd is still running" kill -0 "$ebbd_pid"
finish
