#!/usr/bin/env bash
# Any change is safe, in the fleet (issue 14): a scale-out (node add), then the LB host carrying
# the most connections leaves (`fleet host drain`), under wrk's 64 keep-alive connections. The
# leaving host's flows reach hosts that never saw them, and the slot of some now names the new
# node; today those were reset (7 of 64). With ebb's node program on the nodes, such a segment
# goes out as a rescue, the owner claims it: 0 socket errors. The same with a weight change
# instead of the node add.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fleet.sh"

SCENARIOS=("node add, then the busiest LB host leaves, under wrk: 0 socket errors"
	"weight change, then the busiest LB host leaves, under wrk: 0 socket errors")
fleet_supported || skip_all "this build's ebbd/ebbctl have no fleet mode" "${SCENARIOS[@]}"
LAB_UP_OPTS=--node-prog NODE_ADD_OPTS=node-prog fleet_up 4 3
N1=$(node_ip4 1) N4=$(node_ip4 4)
CONNS=64

# live flows host I's table holds for the VIP, seen in the last 2 s
host_flows() { lbctl "$1" -j flow show limit 100000 | json_get 'len([f for f in d if f["live"] and f["idle_s"] < 2])'; }
all_flows() { echo $(($(host_flows 1) + $(host_flows 2) + $(host_flows 3))); }
conns_pinned() { [ "$(all_flows)" -ge $CONNS ]; }
# busiest: the LB host whose table carries the most of wrk's connections
busiest() {
	local i best=1 n max=-1 said=""
	for i in 1 2 3; do
		n=$(host_flows "$i")
		said="$said lb$i:$n"
		[ "$n" -gt "$max" ] && max=$n best=$i
	done
	echo "$best$said"
}
reason_sum() {
	local i s=0
	for i in 1 2 3; do s=$((s + $(lbctl "$i" -j stats show | json_get "d['reasons'].get('$1', {}).get('packets', 0)"))); done
	echo "$s"
}
applied_everywhere() {
	local i
	for i in 1 2 3; do eval "$1" "$i" || return 1; done
}

# scenario LABEL CHANGE...: wrk, CHANGE (an ebbctl command on lb1), the busiest host leaves, wrk
# goes on 4 s through the others; the host comes back for the next scenario.
scenario() {
	local label=$1 leaver
	shift
	wrk_bg "$TMP/wrk-$label.out" $CONNS
	within 20 conns_pinned
	check "$label: wrk's $CONNS connections are pinned on the LB hosts ($(all_flows))" [ "$(all_flows)" -ge $CONNS ]
	check "$label: $*" lbctl 1 "$@"
	check "$label: applied by every host" within 20 applied_everywhere "$APPLIED"
	leaver=$(busiest)
	note "$label: flows per LB host:${leaver#* }"
	leaver=${leaver%% *}
	check "$label: fleet host drain lb$leaver (the busiest)" lbctl 1 fleet host drain "lb$leaver"
	local others
	others=$(for i in 1 2 3; do [ "$i" = "$leaver" ] || printf '2%s ' "$i"; done)
	wait_nexthops 1000 "${others% }"
	check "$label: router: lb$leaver's routes withdrawn ($(nexthops))" [ "$(nexthops)" = "${others% }" ]
	# its flows now reach the other hosts; wrk goes on through them
	sleep 4
	wrk_stop
	wrk_check "$TMP/wrk-$label.out" "$label"
	check "$label: fleet host activate lb$leaver" lbctl 1 fleet host activate "lb$leaver"
	wait_nexthops 1000 "21 22 23"
}

rescued0=$(reason_sum rescued) claimed0=$(reason_sum claimed)
n4_active() { [ "$(node_state "$1" "$N4")" = active ]; }
APPLIED=n4_active scenario add node add "$N4" vip "$VIP4" node-prog
note "add: $(($(reason_sum rescued) - rescued0)) packets rescued, $(($(reason_sum claimed) - claimed0)) claimed"
check "add: the LB hosts sent rescues and got claims" \
	[ "$(($(reason_sum claimed) - claimed0))" -gt 0 ]

n1_w300() { lbctl "$1" -j node show "$N1" | json_get 'd[0]["weight"]' | grep -qx 300; }
APPLIED=n1_w300 scenario weight node set "$N1" vip "$VIP4" weight 300
finish
