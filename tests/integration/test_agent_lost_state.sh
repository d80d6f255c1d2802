#!/usr/bin/env bash
# Lost flow state mid-drain: a draining node holds one idle keep-alive connection, the flow table
# is flushed (as a restart or an eviction would lose it). ebbd must not take the emptied table
# for a finished drain: the node stays draining, the connection's next request is served by the
# same node over the same connection, and the node is retired only after that connection has
# ended, with 0 flows cut.
#
# Both orders (issue 14): the flush after ebbd listed the node's flows for the drain ("listed":
# the loss shows as a listed flow gone from the table), and before it ever did ("unlisted": only
# the node's live-flow count of the pass before the drain shows it). In both ebbd is stopped
# (SIGSTOP) for 2 s across the flush, so that whatever it does first on waking (a new pass, a
# drain check) meets the emptied table. Each order runs LOST_ROUNDS times (LOST_ORDERS: which
# orders, default both).
#
# Two ways, one suite:
# - LOST_TRUTH=0 (this file run alone): nodes without the node program, no node reports. The
#   LB's rules decide: the second chance brings the request back to the node, and it is retired
#   only once drain-lost-quiet seconds have passed without another one; the drain is logged
#   unverified (flows_cut_estimate). LOST_ROUNDS default 3 (6 rounds; 10-20 s a round on a
#   loaded 2-core machine); the last round of each order also waits for the retirement.
# - LOST_TRUTH=1 (test_agent_lost_truth.sh, test_agent_lost_truth_unlisted.sh: one order each,
#   so that each stays well within the runner's 900 s on a loaded machine: 30-50 s a round at
#   load average 18): the nodes run the node program (`--node-prog`,
#   nodes added `node-prog`) and ebbd's pool reads their own counts (`truth`). The request is
#   rescued and claimed by the node; the node's own count keeps the drain while the connection
#   lives and retires it once it closed, every round, verified, flows_cut 0. LOST_ROUNDS
#   default 10 (issue 14's 20 repetitions).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_agent.sh"
TRUTH=${LOST_TRUTH:-0}
if [ "$TRUTH" = 1 ]; then
	LAB_UP_OPTS=--node-prog lab_setup 3
	node_truth_setup
	NODE_OPT=node-prog
	ROUNDS=${LOST_ROUNDS:-10}
else
	lab_setup 3
	NODE_OPT=''
	ROUNDS=${LOST_ROUNDS:-3}
fi

VIP=203.0.113.10:80/tcp
N2=$(node_ip4 2)
QUIET=8 # long enough for a round's steps after ebbd wakes on a loaded machine
METRICS=127.0.0.1:19477 # the LB namespace's own loopback

# A cycle (and a pass over the table) every 0.25 s, not every second: each round waits on ebbd's
# passes several times, and nothing here depends on how often they come.
cat >"$TMP/ebbd.conf" <<CONF
metrics = "$METRICS";
interval = 0.25;
drain-lost-quiet = $QUIET;
CONF
if [ "$TRUTH" = 1 ]; then
	truth_pool "$VIP" >>"$TMP/ebbd.conf"
fi

# keep.py FIFO: holds one keep-alive connection answered by n2 (closing the others), prints
# "ready PORT"; then, for each line on its command FIFO: "get" sends one more request on it and
# prints the answer (or the error), "close" closes it and exits.
cat >"$TMP/keep.py" <<'PY'
import socket, sys, time
from http_keepalive import node_of as get
conn = None
for _ in range(200):
    s = socket.create_connection(("203.0.113.10", 80), timeout=3)
    if get(s) == "n2":
        conn = s
        break
    s.close()
print("ready %d" % conn.getsockname()[1] if conn else "no connection on n2", flush=True)
for line in open(sys.argv[1]):
    cmd = line.strip()
    if cmd == "get":
        try:
            print("answer", get(conn), flush=True)
        except Exception as e:
            print("error", type(e).__name__, e, flush=True)
    elif cmd == "close":
        conn.close()
        print("closed", flush=True)
        break
PY

# flush_flows: every entry of the pinned flow table deleted at once (flush_flows.py: through the
# bpf() syscall, well within the quiet period).
flush_flows() { python3 "$EBB_ROOT/tests/integration/flush_flows.py" "$BPFFS/flows" >"$TMP/flushed"; }
# n2's row of `node show` (text, read with awk: a python start costs a second on a loaded
# machine, and these are polled): its state, its flows, its drain as ebbd publishes it
# ("drain:verified(node 1 live)" when n2's own count judges it, "drain:unverified" else)
n2_row() { ctl node show "$N2" | awk 'NR == 2'; }
n2_flows() { n2_row | awk '{print $3}'; }
n2_state() { n2_row | awk '{print $2}'; }
drain_view() { n2_row | grep -o 'drain:[a-z]*\(([^)]*)\)\?'; }
V1="drain:verified(node 1 live)"
# ebbd's own count of n2's live flows (its last pass), from its metrics page
ebbd_n2_flows() {
	on lb curl -s -m 5 "http://$METRICS/metrics" |
		awk -v n="ebb_node_flows{node=\"$N2\"}" '$1 == n {print $2}'
}
# ebbd's complete passes over the flow table so far (its metrics page)
ebbd_walks() {
	on lb curl -s -m 5 "http://$METRICS/metrics" | awk '$1 == "ebb_agent_walks_total" {print $2}'
}
# n_events NAME: how many NAME events ebbd logged for n2 (grep on ebbd's compact JSON: polled
# often, on a growing log)
n_events() { grep -F "\"event\":\"$1\"" "$LOG" | grep -cF "\"node\":\"$N2\""; }
lost_or_drained() {
	[ "$(n_events drain_wait_lost)" -gt "$wait_lost0" ] || [ "$(n_events drained)" -gt "$drained0" ]
}
# n2's last drained event (grep: ebbd's log is long with -v, a JSON parse of it all costs seconds)
last_drained() { grep -F '"event":"drained"' "$LOG" | grep -F "\"node\":\"$N2\"" | tail -1; }
# n2's drain_listed events (one a pass, ebbd -v) logged after line $1 of the log
listed_after() { tail -n +$(($1 + 1)) "$LOG" | grep -F '"event":"drain_listed"' | grep -F "\"node\":\"$N2\""; }
# True once ebbd has judged the emptied table after waking (log line $1): a pass listed n2 with
# 0 flows and a later pass followed it (the drain check runs in the same tick as the pass before
# it, so the decision on the empty list is made and logged by then), or n2 was retired.
judged_empty() {
	[ "$(n_events drained)" -gt "$drained0" ] && return 0
	[ "$(listed_after "$1" | sed -n '/"flows":0[,}]/,$p' | wc -l)" -ge 2 ]
}
reason_count() { ctl -j stats show | json_get "d['reasons'].get('$1', {}).get('packets', 0)"; }
# nginx's connection number of the requests from client port $1 (one line per request) logged
# after line $2 (the round's start: a client port comes back in a later round)
conns_of_port() {
	tail -n +$(($2 + 1)) "$(access_log 2)" | awk -v p="$1" '$7 == "203.0.113.10" && $5 == p {print $2}'
}
# "REQUESTS:CONNECTIONS" of that port since that line
port_conns() { echo "$(conns_of_port "$1" "$2" | wc -l):$(conns_of_port "$1" "$2" | sort -u | wc -l)"; }

check "vip add $VIP fin-timeout 1" ctl vip add $VIP fin-timeout 1
# shellcheck disable=SC2086 # NODE_OPT: node-prog or nothing
for i in 1 2 3; do check "node add n$i $NODE_OPT" ctl node add "$(node_ip4 $i)" vip $VIP $NODE_OPT; done
start_ebbd -v
# a suite stopped while ebbd is (SIGSTOP) must wake it for the teardown's SIGTERM to end it
trap 'kill -CONT "$ebbd_pid" 2>/dev/null; lab_teardown' EXIT
wait_for 50 has_event state_open
check "ebbd started" [ -n "$(events state_open)" ]
check "ebbd is the process started here ($(cat /proc/"$ebbd_pid"/comm))" \
	[ "$(cat /proc/"$ebbd_pid"/comm)" = ebbd ]

# stop_ebbd: SIGSTOP, at a moment ebbd does not hold the writers' lock (a flock on the state's
# bpffs directory, taken e.g. by its slot-history sweep every 30 s): stopped holding it, ebbd
# would block this suite's next ebbctl write until it is woken, which the suite never gets to.
stop_ebbd() {
	local i
	for i in $(seq 100); do
		kill -STOP "$ebbd_pid"
		flock -n "$BPFFS" true && return 0
		kill -CONT "$ebbd_pid"
		sleep 0.1
	done
	return 1
}
mkfifo "$TMP/cmd"
# round ORDER LAST: one drain of n2 with its idle connection, the flush in ORDER (listed or
# unlisted) with ebbd stopped across it; LAST=1: n2 must stay draining past the quiet period while
# the connection lives. Then the connection closes: with the nodes' counts n2 must be retired,
# verified (every round); without, on the last round only, after the quiet period. n2 is
# activated again for the next round.
round() {
	local order=$1 last=$2 tag="$1 $3" port answer conns listed0 flush_t close_t wake_l ev keep_pid
	local start_t=$SECONDS log0 claimed0 v
	log0=$(wc -l <"$(access_log 2)")
	exec 7<>"$TMP/cmd" # held open both ways: keep.py never sees EOF between commands
	on client python3 "$TMP/keep.py" "$TMP/cmd" >"$TMP/keep.out" 2>&1 &
	keep_pid=$!
	wait_for 100 grep -q ready "$TMP/keep.out"
	port=$(awk '$1 == "ready" {print $2}' "$TMP/keep.out")
	check "$tag: an idle keep-alive connection is held on n2 ($(grep -m1 -v '^$' "$TMP/keep.out"))" [ -n "$port" ]
	# the other connections keep.py closed are over (FIN timeout 1 s): only this one is n2's
	wait_for 50 holds = 1 n2_flows
	wait_for 100 holds = 1 ebbd_n2_flows
	# ...in a pass begun after n2 was activated: a pass under way while n2 took no flows
	# counts it, but its count is no evidence of a loss later (measure.c), and ebbd would have
	# nothing to miss. The pass after the one under way now began after the count above.
	w=$(ebbd_walks)
	wait_for 200 holds -ge $((w + 2)) ebbd_walks
	v=$(ebbd_n2_flows) w2=$(ebbd_walks)
	check "$tag: ebbd counts it ($v live flow of n2, in pass $w2, begun after pass $w ended)" \
		[ "$v" = 1 -a "${w2:-0}" -ge $((w + 2)) ]
	wait_lost0=$(n_events drain_wait_lost)
	drained0=$(n_events drained)
	listed0=$(n_events drain_listed)
	if [ "$order" = listed ]; then
		check "$tag: node drain n2 timeout 300" ctl node drain "$N2" timeout 300
		wait_for 100 holds -gt "$listed0" n_events drain_listed
		ev=$(grep -F '"event":"drain_listed"' "$LOG" | grep -F "\"node\":\"$N2\"" | tail -1)
		check "$tag: ebbd listed n2's flow for the drain ($ev)" grep -qE '"flows":1[,}]' <<<"$ev"
		if [ "$TRUTH" = 1 ]; then
			wait_for 300 holds = "$V1" drain_view
			v=$(drain_view)
			check "$tag: ... and has n2's own count, 1 live ($v)" [ "$v" = "$V1" ]
		fi
		stop_ebbd
	else
		stop_ebbd
		check "$tag: node drain n2 timeout 300 (ebbd stopped: it has not listed n2)" \
			ctl node drain "$N2" timeout 300
	fi
	flush_t=$(date +%s.%N)
	check "$tag: flush the flow table, down to 0 entries" flush_flows
	note "$(cat "$TMP/flushed") entries deleted"
	sleep 2 # ebbd stopped across the flush
	wake_l=$(wc -l <"$LOG")
	kill -CONT "$ebbd_pid"
	if [ "$TRUTH" = 1 ]; then
		# whatever ebbd decides on waking shows: a pass over the emptied table and the drain
		# check after it, or a retirement; then the node's own count in the drain view
		wait_for 300 judged_empty "$wake_l"
		check "$tag: ebbd woke and listed n2 with 0 flows (the table is empty)" judged_empty "$wake_l"
		v=$(n2_state)
		check "$tag: ... n2 is still draining ($v)" [ "$v" = draining ]
		wait_for 300 holds = "$V1" drain_view
		v=$(drain_view)
		check "$tag: ... judged by n2's own count: verified, 1 live ($v)" [ "$v" = "$V1" ]
		claimed0=$(reason_count claimed)
	else
		# whatever ebbd decides on waking shows: a wait for lost state, or a retirement
		wait_for 100 lost_or_drained
		check "$tag: ebbd said it waits because flow state was lost" \
			[ "$(n_events drain_wait_lost)" -gt "$wait_lost0" ]
		v=$(n2_state)
		check "$tag: ... n2 is still draining ($v)" [ "$v" = draining ]
	fi
	echo get >&7
	wait_for 50 grep -q -E '^(answer|error)' "$TMP/keep.out"
	answer=$(grep -E '^(answer|error)' "$TMP/keep.out" | head -1)
	check "$tag: the connection's next request is answered by n2 ($answer)" [ "$answer" = "answer n2" ]
	# nginx writes its log line once the answer is out: waited for, not assumed
	wait_for 50 holds = 2:1 port_conns "$port" "$log0"
	conns=$(conns_of_port "$port" "$log0" | tr '\n' ' ')
	check "$tag: ... on the same connection, per n2's nginx log (port $port, connections: $conns)" \
		[ "$(port_conns "$port" "$log0")" = 2:1 ]
	if [ "$TRUTH" = 1 ]; then
		check "$tag: ... rescued to n2, which claimed it (claims +$(($(reason_count claimed) - claimed0)))" \
			[ "$(reason_count claimed)" -gt "$claimed0" ]
	fi
	check "$tag: ... no drained event before the request" \
		[ "$(n_events drained)" = "$drained0" ]
	if [ "$last" = 1 ]; then
		wait_for 30 holds = 1 n2_flows
		v=$(n2_flows)
		check "$tag: the flow is pinned to n2 again and counted live ($v)" [ "$v" = 1 ]
		sleep $((QUIET + 1))
		v=$(n2_state)
		check "$tag: n2 stays draining past the quiet period while the connection lives ($v)" \
			[ "$v" = draining ]
	fi
	# the moment the close is asked for: the connection closes after it, so no retirement
	# may come before it (taken after the client's "closed", a loaded shell's poll could read
	# it after ebbd, which reads the node's count every 0.5 s, had already retired n2)
	close_t=$(date +%s.%N)
	echo close >&7
	wait_for 30 grep -q closed "$TMP/keep.out"
	exec 7>&-
	if [ "$TRUTH" = 1 ]; then
		# the node's own count is 0 once the connection closed: retired then, every round
		check "$tag: n2 becomes inactive after the connection ended" \
			ctl node wait "$N2" state inactive timeout 60
		ev=$(last_drained)
		note "drained event: $ev"
		v=$(python3 -c "import json, sys; print('%.1f' % (json.loads(sys.argv[1])['ts'] - $close_t))" "$ev")
		check "$tag: ... logged verified: flows_ended, flows_cut 0 (the node's own count), $v s after the close" python3 -c "
import json, sys
e = json.loads(sys.argv[1])
sys.exit(not (e['reason'] == 'flows_ended' and e['verified'] is True and e['flows_cut'] == 0
              and e['node_live'] == 0 and 'flows_cut_estimate' not in e and e['ts'] > $close_t))" "$ev"
		check "$tag: ... one drained event this round" [ "$(n_events drained)" = $((drained0 + 1)) ]
	elif [ "$last" = 1 ]; then
		check "$tag: n2 becomes inactive after the connection ended" \
			ctl node wait "$N2" state inactive timeout $((QUIET + 20))
		ev=$(last_drained)
		note "drained event: $ev"
		check "$tag: ... logged as flows_ended, 0 cut (LB estimate, unverified), flows lost, after a quiet period" python3 -c "
import json, sys
e = json.loads(sys.argv[1])
sys.exit(not (e['reason'] == 'flows_ended' and e['flows_cut_estimate'] == 0 and e['verified'] is False
              and 'flows_cut' not in e and e['flows_lost'] >= 1
              and e['quiet_s'] >= $QUIET))" "$ev"
		check "$tag: ... not before the connection closed (retired $(python3 -c "print('%.1f' % ($(echo "$ev" | field ts) - $close_t))") s after)" \
			python3 -c "import sys; sys.exit(not $(echo "$ev" | field ts) > $close_t)"
		check "$tag: ... and not before $QUIET s after the flush" \
			python3 -c "import sys; sys.exit(not $(echo "$ev" | field ts) - $flush_t >= $QUIET)"
	fi
	check "$tag: node activate n2" ctl node activate "$N2"
	wait "$keep_pid"
	note "$tag: round took $((SECONDS - start_t)) s"
}

for order in ${LOST_ORDERS:-listed unlisted}; do
	for r in $(seq "$ROUNDS"); do
		round "$order" "$([ "$r" = "$ROUNDS" ] && echo 1 || echo 0)" "$r/$ROUNDS"
	done
done
finish
