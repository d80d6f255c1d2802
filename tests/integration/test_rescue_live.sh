#!/usr/bin/env bash
# Any change is safe (issue 14, one host): under wrk's 64 keep-alive connections a node is
# added, a weight changes and the flow table is flushed (as a restart or an eviction would lose
# it). Every connection's next segment then misses the table, and for about a third of them the
# slot now names another node than the one holding the connection. With ebb's node program on
# the nodes, such a segment goes out as a rescue with its candidates; the owner claims it, the
# LB pins the flow there: 0 client errors. The same steps with rescues off (rescue-rate 0,
# today's second chance) reset connections: the scenario bites, the rescue is what saves it.
# Both over IPv4 dsr; the rescue round is then repeated over IPv6.
. "$(dirname "$0")/lib.sh"
LAB_UP_OPTS=--node-prog lab_setup 3

VIP4=203.0.113.10:80/tcp URL4=http://203.0.113.10/
VIP6='[2001:db8:100::10]:80/tcp' URL6='http://[2001:db8:100::10]/'
CONNS=64

reason() { ctl -j stats show | json_get "d['reasons'].get('$1', {}).get('packets', 0)"; }
# flows of VIP $1 the LB's table holds (any status)
flows_of() { ctl -j flow show vip "$1" limit 100000 | json_get 'len(d)'; }

# round LABEL VIP URL ADDR_FN: wrk from the client; once its connections are pinned, node add
# n3, n1's weight to 300, the flow table flushed; wrk's summary in $TMP/wrk-LABEL.out.
round() {
	local label=$1 vip=$2 url=$3 addr=$4 i flushed
	check "$label: vip add $vip" ctl vip add "$vip"
	for i in 1 2; do check "$label: node add n$i node-prog" ctl node add "$($addr $i)" vip "$vip" node-prog; done
	on client wrk -t2 -c$CONNS -d15s --timeout 4s "$url" >"$TMP/wrk-$label.out" 2>&1 &
	local wrk_pid=$!
	# wrk's connections are all open once the table pins as many flows (bounded wait)
	for i in $(seq 100); do [ "$(flows_of "$vip")" -ge $CONNS ] && break; sleep 0.1; done
	check "$label: wrk's $CONNS connections pinned before the changes ($(flows_of "$vip"))" \
		[ "$(flows_of "$vip")" -ge $CONNS ]
	check "$label: node add n3 (scale-out)" ctl node add "$($addr 3)" vip "$vip" node-prog
	check "$label: n1 weight 300" ctl node set "$($addr 1)" vip "$vip" weight 300
	# The entries outlive wrk: that the flush came while it ran, wrk itself must say (as it
	# begins: a flush of 100k+ entries one by one can outlast wrk's run; that it hit live flows,
	# the rescues and claims below say, or the old way's socket errors).
	check "$label: wrk still running as the flush begins" kill -0 "$wrk_pid"
	flushed=$(python3 "$EBB_ROOT/tests/integration/flush_flows.py" "$BPFFS/flows")
	check "$label: flow table flushed under load ($flushed entries)" [ "${flushed:-0}" -ge $CONNS ]
	wait "$wrk_pid"
	read -r sock non2xx reqs < <(wrk_errors "$TMP/wrk-$label.out")
	note "$label: wrk: $reqs requests, $sock socket errors, $non2xx non-2xx"
	sed 's/^/#   /' "$TMP/wrk-$label.out" | grep -i "error\|requests in" || true
	# the VIP goes, with its nodes, for the next round
	for i in 1 2 3; do ctl node del "$($addr $i)" vip "$vip" force >/dev/null 2>&1; done
	ctl vip del "$vip" force >/dev/null 2>&1
	LAST_SOCK=$sock LAST_NON2XX=$non2xx LAST_REQS=$reqs
}

rescued0=$(reason rescued) claimed0=$(reason claimed)
round rescue4 "$VIP4" "$URL4" node_ip4
check "rescue4: wrk made requests ($LAST_REQS)" [ "$LAST_REQS" -gt 0 ]
check "rescue4: 0 socket errors across scale-out + weight + table loss ($LAST_SOCK)" [ "$LAST_SOCK" -eq 0 ]
check "rescue4: 0 non-2xx answers ($LAST_NON2XX)" [ "$LAST_NON2XX" -eq 0 ]
rescued=$(($(reason rescued) - rescued0)) claimed=$(($(reason claimed) - claimed0))
note "rescue4: $rescued packets rescued, $claimed claims"
check "rescue4: the LB sent rescues ($rescued)" [ "$rescued" -gt 0 ]
check "rescue4: the owners claimed their flows ($claimed >= $CONNS)" [ "$claimed" -ge $CONNS ]
check "rescue4: no packet had to go the old way for the rate ($(reason rescue_limited))" \
	[ "$(reason rescue_limited)" -eq 0 ]

rescued0=$(reason rescued)
round rescue6 "$VIP6" "$URL6" node_ip6
check "rescue6: wrk made requests ($LAST_REQS)" [ "$LAST_REQS" -gt 0 ]
check "rescue6: 0 socket errors ($LAST_SOCK)" [ "$LAST_SOCK" -eq 0 ]
check "rescue6: 0 non-2xx answers ($LAST_NON2XX)" [ "$LAST_NON2XX" -eq 0 ]
check "rescue6: the LB sent rescues over IPv6 ($(($(reason rescued) - rescued0)))" \
	[ "$(($(reason rescued) - rescued0))" -gt 0 ]

# Today's behaviour, the same steps: the slot's second-chance owner is often not the node that
# holds the connection, and that node answers the segment with a RST.
check "prog set rescue-rate 0 (rescues off)" ctl prog set rescue-rate 0
round old4 "$VIP4" "$URL4" node_ip4
check "old4: without rescues the same steps do reset connections ($LAST_SOCK socket errors)" \
	[ "$LAST_SOCK" -gt 0 ]
finish
