#!/usr/bin/env bash
# A verified fleet drain across ebbd restarts (issue 14's proof): the nodes run the node program
# and every host's ebbd asks them for their own count of their connections. The client holds 3
# idle keep-alive connections on n1 and wrk runs 24 keep-alive connections over n1..n3; n1
# drains. Then ebbd is SIGKILLed and restarted, then stopped (SIGTERM) and restarted 3 times, on
# an LB host that carries a held connection of n1 (a non-leading one when it can): before
# verified drains a restarted host's first report said 0 flows before it had counted, and the
# leader retired the node, resetting 4-7 connections through that host. Checked: wrk sees 0
# socket errors, the held connections answer from n1 after the restarts, n1 stays draining on
# every host across them and no host retires it; once the client closes them, n1 retires,
# verified by its own count, flows_cut 0, after the close.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fleet.sh"

SCENARIOS=("ebbd SIGKILLed and restarted 4 times on a host carrying a draining node's flows: 0 reset"
	"no retirement while they live; retired verified, 0 cut, after they closed")
fleet_supported || skip_all "this build's ebbd/ebbctl have no fleet mode" "${SCENARIOS[@]}"
LAB_UP_OPTS=--node-prog NODE_ADD_OPTS=node-prog fleet_up 3
trap 'fleet_save_logs; lab_teardown' EXIT
N1=$(node_ip4 1)
HELD=3

check "every host's ebbd asks the nodes for their own counts (pool with truth, SIGHUP)" fleet_truth_on
keep "$TMP/keep.out" n1 $HELD
check "the client holds $HELD idle keep-alive connections on n1 ($(head -c 80 "$TMP/keep.out"))" \
	grep -q "^ready n1=$HELD " "$TMP/keep.out"
HELD_PORTS=$(sed -nE 's/^ready .* ports=([0-9,]+) .*/\1/p' "$TMP/keep.out")
# held_on I: the held connections host I's table holds, live, on n1
held_on() {
	lbctl "$1" -j flow show limit 100000 | python3 -c "
import json, sys
held = set('$HELD_PORTS'.split(','))
print(len([f for f in json.load(sys.stdin) if f['live'] and f['node'] == '$N1' and str(f['sport']) in held]))"
}
leader=$(leader_of 1)
target=0 said=""
for i in 1 2 3; do
	h=$(held_on "$i")
	said="$said lb$i:$h"
	[ "$h" -gt 0 ] || continue
	# a carrier that does not lead, else the leader
	if [ "$target" = 0 ] || [ "lb$target" = "$leader" ]; then target=$i; fi
done
note "held connections of n1 per LB host:$said; leader $leader"
check "an LB host carries a held connection of n1: lb$target" [ "$target" -gt 0 ]
[ "$target" -gt 0 ] || target=2
T=lb$target
held_t=$(held_on "$target")

wrk_bg "$TMP/wrk.out" 24
fresh_flows() { lbctl "$1" -j flow show limit 100000 | json_get 'len([f for f in d if f["live"] and f["idle_s"] < 2])'; }
wrk_pinned() { [ $(($(fresh_flows 1) + $(fresh_flows 2) + $(fresh_flows 3))) -ge 24 ]; }
within 30 wrk_pinned
check "wrk's 24 keep-alive connections are pinned, over n1..n3, before the drain" wrk_pinned
drainer=$((target % 3 + 1))
check "node drain n1 (lb$drainer): applied by every host" lbctl "$drainer" node drain "$N1" timeout 3600
drained_at=$(date +%s.%N)
li=${leader#lb}
live_at_least() { local l; l=$(node_live "$1" "$N1"); [ "$l" != None ] && [ "$l" -ge $HELD ]; }
within 30 live_at_least "$li"
check "the leader ($leader) judges n1's drain by n1's own count: $(node_live "$li" "$N1") live (>= $HELD held)" \
	live_at_least "$li"

# counted_n1 I: host I's report in etcd names n1 (its ebbd has counted n1's flows since its start)
counted_n1() { [ "$(fleet_get 1 "'$N1' in host(d, '$T').get('flows', {})")" = True ]; }
ebbd_gone() { ! kill -0 "$1" 2>/dev/null; }
in_step() { restarted_in_step 1 "$target" && counted_n1; }
step_says() { fleet_get 1 "'pid %s, lag %s, flows %s' % tuple(host(d, '$T').get(k) for k in ('pid', 'lag', 'flows'))"; }
all_draining() { local i; for i in 1 2 3; do is_state "$i" "$N1" draining || return 1; done; }
restart_round() {
	local sig=$1 k=$2 pid
	pid=$(ebbd_pid "$target")
	kill "-$sig" "$pid"
	within 20 ebbd_gone "$pid"
	check "$k: $T's ebbd (pid $pid) stopped by SIG$sig" ebbd_gone "$pid"
	restart_ebbd "$target"
	within 30 in_step
	check "$k: $T's ebbd restarted (pid $(ebbd_pid "$target")), in step, its report counts n1 again ($(step_says))" in_step
	# its first walk has been reported: the leader has weighed it at least once since
	check "$k: n1 draining on every host, no host retired it ($(for i in 1 2 3; do printf '%s ' "$(node_state "$i" "$N1")"; done))" \
		all_draining
	check "$k: no drained event for n1" [ -z "$(drained_events "$N1")" ]
}
restart_round KILL "restart 1"
for k in 2 3 4; do restart_round TERM "restart $k"; done
h=$(held_on "$target")
check "$T still holds n1's held connections in its table after the restarts ($h of $held_t)" [ "$h" -eq "$held_t" ]
wrk_stop
wrk_check "$TMP/wrk.out" "24 connections across 4 ebbd restarts on $T"
keep_ask "$TMP/keep.out"
ans=$(grep '^answered' "$TMP/keep.out" | tail -n 1)
check "each held connection of n1 answers from n1 after the restarts ($ans)" \
	grep -qx "answered n1=$HELD/$HELD errors=0" <<<"$ans"
read -r _ _ new_after < <(conns_around 1 "$drained_at")
check "n1's nginx log: 0 new connections after the drain ($new_after)" [ "$new_after" -eq 0 ]
within 30 node_live_is "$li" "$N1" $HELD
check "after wrk: n1's own count is its $HELD held connections ($(node_live "$li" "$N1")), still draining" \
	all_draining
check "no host retired n1 while its connections lived" [ -z "$(drained_events "$N1")" ]

closed_at=$(keep_close "$TMP/keep.out")
check "the client closed n1's $HELD connections (at ${closed_at:-?})" [ -n "$closed_at" ]
verified_retirement "$N1" "$closed_at"
note "ebbd on $T (leader $leader, retired by $by): SIGKILL + 3 SIGTERM restarts with $held_t held connection(s) of draining n1 through it; n1 retired $after s after its last connection closed, verified, flows_cut 0"
finish
