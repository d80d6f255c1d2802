#!/usr/bin/env bash
# A drain's clock is etcd's, not the writer's (doc/fleet.md, "The drain clock"). On the fleet
# lab (3 LB hosts, 3-member etcd, nginx nodes running the node program, every ebbd reading
# their own counts), an idle keep-alive connection is held on n1 and
# one on n2, each through whichever host the router picks. Then `node drain NODE timeout 60` is
# written from a host that does not carry that flow, with its wall clock skewed by an
# LD_PRELOAD shim (tests/shim/clockskew.c): -600 s for n1, +600 s for n2. Before drain clocks,
# every host converted the writer's `since` with its own clock: the -600 s writer's drain had
# "run" 600 s already and the leader retired n1 at once, resetting the held connection.
# Checked: every host times both drains from etcd (its own view starts near 0), neither node
# retires before 60 s after the command started, both retire at about 60 s, and a leader
# change meanwhile (the leading ebbd stopped and restarted, and etcd's own leader moved to
# another member, which restarts the lease's countdown) does not shorten either drain.
# Beside them, n3: a drain re-issued with a new timeout keeps its age (new lease), and
# `node activate` revokes the drain's lease.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fleet.sh"
. "$(dirname "$0")/lib_agent.sh" # hold(): idle keep-alive connections to a chosen node

SCENARIOS=("a writer clock 600 s slow or fast: no host times the drain from it"
	"no retirement before the drain timeout, retirement at about it, across a leader change"
	"a re-issued drain keeps its age; activate revokes the drain's lease")
fleet_supported || skip_all "this build's ebbd/ebbctl have no fleet mode" "${SCENARIOS[@]}"
SHIM=${CLOCKSKEW_SO:-$OUTPUT/libclockskew.so}
[ -f "$SHIM" ] || skip_all "no $SHIM (make builds it)" "${SCENARIOS[@]}"
TIMEOUT=60

# skewed SECONDS I ARGS...: ebbctl on LB host I with its wall clock SECONDS off
skewed() {
	local s=$1
	shift
	LD_PRELOAD=$SHIM EBB_CLOCK_SKEW_S=$s lbctl "$@"
}
now() { date +%s.%N; }
# elapsed I NODE: how long NODE has drained by host I's own maps (ebbctl node show)
elapsed() { lbctl "$1" -j node show "$2" | json_get 'd[0].get("drain_elapsed_s")'; }
# clock_seen I NODE: host I logged the drain clock of NODE
clock_seen() { [ -n "$(fevents "$1" fleet_drain_clock node="$2")" ]; }
# carriers NODE: "lbI=n ..." for the hosts that report flows of NODE
carriers() { lbctl 1 -j node show "$1" | json_get '" ".join("%s=%s" % kv for kv in sorted(d[0].get("hosts", {}).items()) if kv[1])'; }
has_carrier() { [ -n "$(carriers "$1")" ]; }
# not_carrier NODE: the first LB host (its number) that reports no flow of NODE
not_carrier() {
	local c i
	c=$(carriers "$1")
	for i in 1 2 3; do [[ " $c" == *" lb$i="* ]] || { echo "$i"; return; }; done
	echo 1
}
ekey() { etcdctl_ get "/ebb/$FLEET_NAME/state/$1" --print-value-only; }
ekv_lease() { etcdctl_ get "/ebb/$FLEET_NAME/state/$1" -w json | json_get 'd.get("kvs", [{}])[0].get("lease", 0)'; }
lease_alive() { etcdctl_ lease timetolive "$(printf '%x' "$1")" | grep -q 'remaining('; }
lease_gone() { etcdctl_ lease timetolive "$(printf '%x' "$1")" | grep -q 'already expired'; }
# retired_at NODE: the epoch time of the first `drained` event of NODE in any host's log
retired_at() {
	local i
	for i in 1 2 3; do fevents "$i" drained node="$1"; done | python3 -c '
import json, sys
ts = [json.loads(l)["ts"] for l in sys.stdin if l.strip()]
print(min(ts) if ts else 0)'
}
has_retired() { grep -h '"event":"drained"' "$(ebbd_log 1)" "$(ebbd_log 2)" "$(ebbd_log 3)" | grep -q "\"node\":\"$1\""; }

# The nodes run ebb's node program and every host's ebbd reads their own counts: the drains are
# judged by the nodes, and what a timeout cuts is what they counted.
LAB_UP_OPTS=--node-prog NODE_ADD_OPTS=node-prog fleet_up 3
N1=$(node_ip4 1) N2=$(node_ip4 2) N3=$(node_ip4 3)
check "every host's ebbd asks the nodes for their own counts (pool with truth, SIGHUP)" fleet_truth_on
real=$(date +%s)
slow=$(LD_PRELOAD=$SHIM EBB_CLOCK_SKEW_S=-600 date +%s)
fast=$(LD_PRELOAD=$SHIM EBB_CLOCK_SKEW_S=600 date +%s)
check "the shim skews a command's wall clock: -600 s gives $((slow - real)), +600 s gives $((fast - real))" \
	[ $((slow - real)) -ge -601 -a $((slow - real)) -le -599 -a $((fast - real)) -ge 599 -a $((fast - real)) -le 601 ]

# One idle keep-alive connection held on each node, through whichever host the router picks: a
# drain must wait for it (else a node without flows retires at once).
hold "$TMP/hold.out" 100 n1=1 n2=1 n3=1
check "idle keep-alive connections held on n1, n2 and n3 ($(head -c 60 "$TMP/hold.out"))" grep -q 'ready n1=1 n2=1 n3=1' "$TMP/hold.out"

# n3 first: a drain re-issued with a new timeout gets a new lease and keeps its age; activate
# ends the drain and revokes its lease.
check "node drain n3 timeout 600 (lb1, clock right)" lbctl 1 node drain "$N3" timeout 600
lease3=$(ekey "nodes/$N3" | json_get 'd.get("drain_lease", 0)')
within 20 clock_seen 1 "$N3"
aged() { local e; e=$(elapsed 1 "$N3"); [ "$e" != None ] && python3 -c "import sys; sys.exit(not ($e >= 5))"; }
within 30 aged # an age worth keeping
e3a=$(elapsed 1 "$N3")
check "node drain n3 timeout 300 (lb2, clock -600 s): re-issued" skewed -600 2 node drain "$N3" timeout 300
v3=$(ekey "nodes/$N3")
lease3b=$(echo "$v3" | json_get 'd.get("drain_lease", 0)')
d3=$(ekey "drains/$N3")
age3=$(echo "$d3" | json_get 'd["elapsed_s"]')
check "the re-issued drain has a new lease ($lease3 -> $lease3b) that keeps its age (elapsed_s $age3 >= 3)" \
	[ "$lease3b" != "$lease3" -a "$lease3b" != 0 -a "$age3" -ge 3 ]
check "... and the old lease is revoked" lease_gone "$lease3"
e3=$(elapsed 1 "$N3")
# (each reading of a lease is up to 1 s short, never long: a re-issue may lose a second or two)
check "lb1: n3's drain kept its age across the re-issue (${e3a} s before, ${e3} s after), not restarted at 0" \
	python3 -c "import sys; sys.exit(not ($e3 >= $e3a - 2))"
check "node activate n3" lbctl 3 node activate "$N3"
check "activate deleted state/drains/$N3 and n3's drain_lease" \
	[ -z "$(ekey "drains/$N3")" -a "$(ekey "nodes/$N3" | json_get 'd.get("drain_lease", 0)')" = 0 ]
check "... and revoked its lease" lease_gone "$lease3b"

# A drain written before drain clocks (no drain_lease; put here with etcdctl, since = 30 s ago):
# timed from since, as it used to be. Re-issued, it gets a lease with that age; the lease then
# lost (revoked behind ebb's back): the drain has timed out and the leader retires n3.
legacy=$(ekey "nodes/$N3" | python3 -c '
import json, sys, time
d = json.load(sys.stdin)
d.update(state="draining", since=time.time() - 30, drain_timeout_s=600)
d.pop("drain_lease", None)
print(json.dumps(d, separators=(",", ":")))')
etcdctl_ put "/ebb/$FLEET_NAME/state/nodes/$N3" "$legacy" >/dev/null
etcdctl_ put "/ebb/$FLEET_NAME/state/serial" '{"by":"test","what":"legacy drain","time":0}' >/dev/null
is_draining3() { is_state "$1" "$N3" draining; }
for i in 1 2 3; do
	within 20 is_draining3 "$i"
	e=$(elapsed "$i" "$N3")
	check "lb$i: a drain without drain_lease is timed from since as before (${e} s, since 30 s ago)" \
		python3 -c "import sys; sys.exit(not (28 <= $e <= 40))"
done
check "node drain n3 timeout 600 on the legacy drain: re-issued" lbctl 2 node drain "$N3" timeout 600
lease3c=$(ekey "nodes/$N3" | json_get 'd.get("drain_lease", 0)')
age3c=$(ekey "drains/$N3" | json_get 'd["elapsed_s"]')
check "... with a lease ($lease3c) whose elapsed_s ($age3c) is the age since gave, once" \
	[ "$lease3c" != 0 -a "$age3c" -ge 28 -a "$age3c" -le 45 ]
for i in 1 2 3; do within 20 clock_seen "$i" "$N3"; done
etcdctl_ lease revoke "$(printf '%x' "$lease3c")" >/dev/null
gone_seen() { [ -n "$(fevents "$1" fleet_drain_clock_gone node="$N3")" ]; }
within 20 is_state 1 "$N3" inactive
st3=$(node_state 1 "$N3")
check "the drain's lease revoked behind ebb's back: n3 retired as timed out ($st3, 600 s timeout)" [ "$st3" = inactive ]
for i in 1 2 3; do
	check "lb$i logged fleet_drain_clock_gone for n3" within 10 gone_seen "$i"
done


within 20 has_carrier "$N1" && within 20 has_carrier "$N2"
c1=$(carriers "$N1") c2=$(carriers "$N2")
check "the fleet reports their flows (n1 on $c1; n2 on $c2)" [ -n "$c1" -a -n "$c2" ]
w1=$(not_carrier "$N1") w2=$(not_carrier "$N2")

t1=$(now)
skewed -600 "$w1" node drain "$N1" timeout "$TIMEOUT" >"$TMP/d1.out" 2>&1
rc1=$?
t2=$(now)
skewed 600 "$w2" node drain "$N2" timeout "$TIMEOUT" >"$TMP/d2.out" 2>&1
rc2=$?
check "lb$w1 (clock -600 s, not carrying n1's flow) drains n1 with timeout $TIMEOUT: returns 0 ($(head -c 200 "$TMP/d1.out"))" [ "$rc1" -eq 0 ]
check "lb$w2 (clock +600 s, not carrying n2's flow) drains n2 with timeout $TIMEOUT: returns 0 ($(head -c 200 "$TMP/d2.out"))" [ "$rc2" -eq 0 ]
# Every host times both drains from etcd: its own view starts near 0, not at 600 s (n1) nor
# held at 0 until the writer's future time (n2). Sampled first, the checks after.
for i in 1 2 3; do
	e1[i]=$(elapsed "$i" "$N1") e2[i]=$(elapsed "$i" "$N2") tn[i]=$(now)
done
for i in 1 2 3; do
	within 20 clock_seen "$i" "$N1"
	ev1=$(fevents "$i" fleet_drain_clock node="$N1" | tail -n 1)
	check "lb$i times n1's drain from etcd (${ev1:-no fleet_drain_clock event})" [ -n "$ev1" ]
	check "lb$i: n1 had drained ${e1[i]} s by its own maps (the writer's clock says 600 more), $(python3 -c "print('%.1f' % (${tn[i]} - $t1))") s by the test's clock" \
		python3 -c "import sys; sys.exit(not (0 <= ${e1[i]} <= ${tn[i]} - $t1 + 0.5))"
	check "lb$i: n2 had drained ${e2[i]} s (the writer's clock says 600 less), $(python3 -c "print('%.1f' % (${tn[i]} - $t2))") s by the test's clock" \
		python3 -c "import sys; sys.exit(not (${tn[i]} - $t2 - 5 <= ${e2[i]} <= ${tn[i]} - $t2 + 0.5))"
done

v1=$(ekey "nodes/$N1")
note "n1's key: $v1"
since1=$(echo "$v1" | json_get 'd["since"]')
lease1=$(echo "$v1" | json_get 'd.get("drain_lease", 0)')
check "the writer's skew reached the key: since is $(python3 -c "print('%.0f' % ($since1 - $t1))") s off (for people only)" \
	python3 -c "import sys; sys.exit(not (-610 < $since1 - $t1 < -590))"
check "n1's drain has a lease ($lease1), and state/drains/$N1 is under it ($(ekey "drains/$N1"))" \
	[ "$lease1" != 0 -a "$(ekv_lease "drains/$N1")" = "$lease1" ]
lease2=$(ekey "nodes/$N2" | json_get 'd.get("drain_lease", 0)')

# A leader change during the drains: the leading ebbd stops (its lease revoked: another host
# leads at once) and comes back; etcd's own leader moves to another member.
leader=$(leader_of 1)
li=${leader#lb}
clocks_before=$(fevents "$li" fleet_drain_clock node="$N1" | wc -l)
kill -TERM "$(ebbd_pid "$li")"
within 20 leader_is_not 1 "$leader"
new_leader=$(leader_of 1)
check "ebbd of the leader $leader stopped: $new_leader leads now" [ -n "$new_leader" -a "$new_leader" != "$leader" ]
sleep 1
restart_ebbd "$li"
within 20 restarted_in_step 1 "$li"
check "$leader's ebbd restarted and in step" restarted_in_step 1 "$li"
etcd_leader() { etcdctl_ endpoint status -w json | json_get '[s["Status"]["header"]["member_id"] for s in d if s["Status"]["leader"] == s["Status"]["header"]["member_id"]][0]'; }
el0=$(etcd_leader)
target=$(etcdctl_ endpoint status -w json | json_get '[s["Status"]["header"]["member_id"] for s in d if s["Status"]["leader"] != s["Status"]["header"]["member_id"]][0]')
etcdctl_ move-leader "$(printf '%x' "$target")" >"$TMP/move.out" 2>&1
el1=$(etcd_leader)
check "etcd's leader moved to another member ($(printf '%x' "$el0") -> $(printf '%x' "$el1"))" [ "$el0" != "$el1" ]
ttl_after=$(etcdctl_ lease timetolive "$(printf '%x' "$lease1")" | sed -nE 's/.*remaining\(([0-9-]+)s\).*/\1/p')
note "n1's lease after the etcd leader change: ${ttl_after} s remaining of $((TIMEOUT + 10)) ($(python3 -c "print('%.0f' % ($(now) - $t1))") s into the drain): etcd restarted the countdown; hosts keep the start they derived"
# Judged by the clock the restarted ebbd logged when it read n1's drain (not by its maps later:
# under load the steps above can outlast the 60 s drain, and a retired node shows no age).
clocks_after() { [ "$(fevents "$li" fleet_drain_clock node="$N1" | wc -l)" -gt "$clocks_before" ]; }
within 20 clocks_after
ck=$(fevents "$li" fleet_drain_clock node="$N1" | tail -n 1)
ck=${ck:-'{}'}
e1=$(echo "$ck" | json_get 'd.get("elapsed_s", -1)') tk=$(echo "$ck" | json_get 'd.get("ts", 0)')
check "$leader (restarted) kept n1's drain start: ${e1} s drained when it read the drain, $(python3 -c "print('%.1f' % ($tk - $t1))") s by the test's clock" \
	python3 -c "import sys; sys.exit(not ($tk - $t1 - 3 <= $e1 <= $tk - $t1 + 0.5))"

# Retirement: at the timeout (the held connections are still open: cut), not before.
within $((TIMEOUT + 60)) has_retired "$N1"
within 30 has_retired "$N2"
r1=$(retired_at "$N1") r2=$(retired_at "$N2")
a1=$(python3 -c "print('%.1f' % (${r1:-0} - $t1))") a2=$(python3 -c "print('%.1f' % (${r2:-0} - $t2))")
check "n1 (writer -600 s) retired ${a1} s after the drain command started: not before $TIMEOUT s" \
	python3 -c "import sys; sys.exit(not ($TIMEOUT <= ${r1:-0} - $t1 < $TIMEOUT + 30))"
check "n2 (writer +600 s) retired ${a2} s after the drain command started: not before $TIMEOUT s, not at +600 s" \
	python3 -c "import sys; sys.exit(not ($TIMEOUT <= ${r2:-0} - $t2 < $TIMEOUT + 30))"
ev=$(for i in 1 2 3; do fevents "$i" drained node="$N1"; done | head -n 1)
note "n1's drained event: $ev"
# the leader's own view of the drain's length, from the clock it derived
ds=$(echo "$ev" | json_get 'd["drain_s"]' 2>/dev/null)
check "n1's drained event: the leader timed the drain ${ds:-?} s (timeout $TIMEOUT)" \
	python3 -c "import sys; sys.exit(not ($TIMEOUT <= ${ds:-0} < $TIMEOUT + 30))"
# Judged by the nodes: each drain verified, and the timeout cut the one connection each node had.
cut_of() { # cut_of NODE: "verified flows_cut" of its first drained event
	for i in 1 2 3; do fevents "$i" drained node="$1"; done | head -n 1 |
		json_get '"%s %s" % (d.get("verified"), d.get("flows_cut"))' 2>/dev/null
}
check "n1's drain verified, flows_cut 1 = the connection n1 held ($(cut_of "$N1"))" [ "$(cut_of "$N1")" = "True 1" ]
check "n2's drain verified, flows_cut 1 = the connection n2 held ($(cut_of "$N2"))" [ "$(cut_of "$N2")" = "True 1" ]
within 15 is_state 1 "$N1" inactive
check "retirement removed state/drains/$N1 and n1's drain_lease" \
	[ -z "$(ekey "drains/$N1")" -a "$(ekey "nodes/$N1" | json_get 'd.get("drain_lease", 0)')" = 0 ]
check "... and revoked lease $lease1" lease_gone "$lease1"
note "drain clock: timeout $TIMEOUT s; n1 (writer -600 s) retired after ${a1} s, n2 (writer +600 s) after ${a2} s, across an ebbd leader hand-over and an etcd leader move (leases $lease1 $lease2)"
finish
