#!/usr/bin/env bash
# A verified fleet drain across an LB host leaving (issue 14's proof): the nodes run the node
# program and every host's ebbd asks them for their own count of their connections. The client
# holds 6 idle keep-alive connections on n1, then n1 drains; during the drain wrk opens 36
# keep-alive connections (placed on n2 and n3), then the LB host whose flow table holds most of
# them (of those not leading that carry a held connection) leaves (`fleet host drain`). Their
# packets reach hosts that never saw them, whose second chance names draining n1 for some:
# before rescues those were reset (6-7 of 36). Checked: 0
# socket errors, n1 takes no new connection, the held connections (some through the leaving
# host) answer one more request each from n1 and n1 stays draining while they live; once the
# client closes them, n1 retires whichever host leads, verified by n1's own count, flows_cut 0,
# after the close and within seconds, not at the idle timeout of the entries the leaving host
# keeps of its moved connections (the drained event counts them in host_flows_outweighed).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fleet.sh"

SCENARIOS=("36 connections opened during a drain, their LB host leaves: 0 reset"
	"the draining node retires after its own last connection closed, verified, 0 cut")
fleet_supported || skip_all "this build's ebbd/ebbctl have no fleet mode" "${SCENARIOS[@]}"
LAB_UP_OPTS=--node-prog NODE_ADD_OPTS=node-prog fleet_up 3
trap 'fleet_save_logs; lab_teardown' EXIT
N1=$(node_ip4 1)
CONNS=36 HELD=6

check "every host's ebbd asks the nodes for their own counts (pool with truth, SIGHUP)" fleet_truth_on

keep "$TMP/keep.out" n1 $HELD
check "the client holds $HELD idle keep-alive connections on n1 ($(head -c 80 "$TMP/keep.out"))" \
	grep -q "^ready n1=$HELD " "$TMP/keep.out"
HELD_PORTS=$(sed -nE 's/^ready .* ports=([0-9,]+) .*/\1/p' "$TMP/keep.out")

leader=$(leader_of 1)
li=${leader#lb}
check "node drain n1 (lb1): applied by every host" lbctl 1 node drain "$N1" timeout 3600
drained_at=$(date +%s.%N)
within 30 node_live_is "$li" "$N1" $HELD
check "the leader ($leader) judges n1's drain by n1's own count: $(node_live "$li" "$N1") live (held $HELD)" \
	node_live_is "$li" "$N1" $HELD

# flows IN: per host, "wrk held" = wrk's flows (live, seen in the last 2 s, not on n1) and the
# held connections' flows on n1 (by client port).
host_counts() {
	lbctl "$1" -j flow show limit 100000 | python3 -c "
import json, sys
d = json.load(sys.stdin)
held = set('$HELD_PORTS'.split(','))
w = len([f for f in d if f['live'] and f['idle_s'] < 2 and f['node'] != '$N1'])
h = len([f for f in d if f['live'] and f['node'] == '$N1' and str(f['sport']) in held])
print(w, h)"
}
wrk_flows() { local s=0 i w h; for i in 1 2 3; do read -r w h < <(host_counts "$i"); s=$((s + w)); done; echo "$s"; }
conns_pinned() { [ "$(wrk_flows)" -ge $CONNS ]; }

wrk_bg "$TMP/wrk.out" $CONNS
within 30 conns_pinned
check "wrk's $CONNS keep-alive connections, opened during the drain, are pinned ($(wrk_flows))" conns_pinned
# The leaver: the host with most of wrk's flows among those that also carry a held connection
# (so that one of n1's own connections crosses the leave too) and do not lead (so that the
# entries the leaver keeps of its moved flows, "live" until the idle timeout, are in a report
# the leader weighs: the leader's own table is not asked once n1 counts); the busiest carrier
# if every carrier leads.
leader=$(leader_of 1)
leaver=0 max=-1 said="" busiest=0 bmax=-1
for i in 1 2 3; do
	read -r w h < <(host_counts "$i")
	said="$said lb$i:$w+${h}held"
	[ "$h" -gt 0 ] || continue
	[ "$w" -gt "$bmax" ] && busiest=$i bmax=$w
	if [ "lb$i" != "$leader" ] && [ "$w" -gt "$max" ]; then leaver=$i max=$w; fi
done
[ "$leaver" -gt 0 ] || leaver=$busiest max=$bmax
note "flows per LB host (wrk + held on n1):$said; leader $leader"
check "an LB host carries both wrk's flows and a held connection of n1 (lb$leaver, $max of wrk's $CONNS)" [ "$leaver" -gt 0 ]
[ "$leaver" -gt 0 ] || leaver=1
check "fleet host drain lb$leaver" lbctl 1 fleet host drain "lb$leaver"
others=$(for i in 1 2 3; do [ "$i" = "$leaver" ] || printf '2%s ' "$i"; done)
wait_nexthops 1000 "${others% }"
check "router: lb$leaver's routes withdrawn ($(nexthops))" [ "$(nexthops)" = "${others% }" ]
host_is() { [ "$(fleet_get 1 'host(d, "'"$1"'").get("'"$2"'", "?")')" = "$3" ]; }
within 30 host_is "lb$leaver" state inactive
check "lb$leaver reports inactive: its VIP traffic has moved to the others" host_is "lb$leaver" state inactive

# n1's held connections, some of them through the host that left: one more request each
keep_ask "$TMP/keep.out"
ans=$(grep '^answered' "$TMP/keep.out" | tail -n 1)
check "each held connection of n1 answers from n1 after lb$leaver left ($ans)" \
	grep -qx "answered n1=$HELD/$HELD errors=0" <<<"$ans"
wrk_stop
wrk_check "$TMP/wrk.out" "$CONNS connections opened during the drain, lb$leaver left"
read -r _ _ new_after < <(conns_around 1 "$drained_at")
check "n1's nginx log: 0 new connections after the drain ($new_after)" [ "$new_after" -eq 0 ]
for i in 1 2 3; do
	st=$(node_state "$i" "$N1")
	check "lb$i: n1 still draining while its connections live ($st)" [ "$st" = draining ]
done
check "no host retired n1 while its connections lived" [ -z "$(drained_events "$N1")" ]

# Retirement, once the client closes n1's last connections.
closed_at=$(keep_close "$TMP/keep.out")
check "the client closed n1's $HELD connections (at ${closed_at:-?})" [ -n "$closed_at" ]
verified_retirement "$N1" "$closed_at"
outweighed=$(echo "$ev" | json_get 'd.get("host_flows_outweighed", 0)')
if [ "lb$leaver" != "$leader" ]; then
	check "the leaver's entries of n1's moved connections (live for the idle timeout, 900 s) did not hold n1: $outweighed outweighed by n1's 0" \
		[ "$outweighed" -ge 1 ]
else
	ok "the leaver's entries did not hold n1 # SKIP lb$leaver led: its own table is not weighed ($outweighed other hosts' entries outweighed)"
fi
note "leader $leader (retired by $by), lb$leaver left carrying $max of wrk's $CONNS connections; n1 retired $after s after its last connection closed, verified, flows_cut 0"
finish
