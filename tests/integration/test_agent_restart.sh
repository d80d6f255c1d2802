#!/usr/bin/env bash
# ebbd keeps no state of its own: killed with SIGKILL while n1 drains (held by an idle
# connection) and n2 is down, a new ebbd carries on from the maps: n1 stays draining while its
# flow lives (nothing cut), completes once it ends (flows_cut=0), n2 stays down without a second
# on-down and comes back up once; every hook ran exactly once across both processes.
# RESTART_TRUTH=1 (test_agent_restart_truth.sh): the nodes run the node program and the pool reads
# their own counts (`truth`): the new ebbd keeps n1 draining on n1's own count of 1, then retires
# it verified, flows_cut 0 (issue 14). Otherwise no node reports: the drain is unverified.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_agent.sh"
TRUTH=${RESTART_TRUTH:-0}
if [ "$TRUTH" = 1 ]; then
	LAB_UP_OPTS=--node-prog lab_setup 3
	node_truth_setup
	NODE_OPT=node-prog VERIFIED=true
else
	lab_setup 3
	NODE_OPT='' VERIFIED=false
fi

VIP=203.0.113.10:80/tcp
N1=$(node_ip4 1) N2=$(node_ip4 2)

hook_script "\$EBB_EVENT \$EBB_NODE \$EBB_OLD_STATE \$EBB_NEW_STATE cut=\$EBB_FLOWS_CUT verified=\$EBB_FLOWS_CUT_VERIFIED"
cat >"$TMP/ebbd.conf" <<CONF
metrics = "";
hooks = { on-drained = ["$TMP/hook.sh"]; on-down = ["$TMP/hook.sh"]; on-up = ["$TMP/hook.sh"]; };
pools = ( {
  name = "web";
  vips = ["$VIP"];
  health = { type = "tcp"; port = 80; interval = 0.5; timeout = 0.4; rise = 2; fall = 2; };
$([ "$TRUTH" = 1 ] && truth_settings)
} );
CONF

check "vip add $VIP fin-timeout 1" ctl vip add $VIP fin-timeout 1
# shellcheck disable=SC2086 # NODE_OPT: node-prog or nothing
for i in 1 2 3; do check "node add n$i $NODE_OPT" ctl node add "$(node_ip4 $i)" vip $VIP $NODE_OPT; done
hold "$TMP/hold.out" 50 n1=1
check "an idle connection held on n1 ($(cat "$TMP/hold.out"))" grep -q "ready n1=1" "$TMP/hold.out"
check "node drain n1 timeout 60" ctl node drain "$N1" timeout 60

start_ebbd
first_pid=$ebbd_pid
kill -TERM "$(cat "$(nginx_dir 2)/nginx.pid")"
check "first ebbd takes n2 down (nginx stopped)" ctl node wait "$N2" state down timeout 5
wait_for 20 grep -q "^down $N2" "$HOOKS" 2>/dev/null
check "n1 still draining under the first ebbd" [ "$(state_of "$N1")" = draining ]
# n1's drain as ebbd publishes it in node show: "verified(node 1 live)" on the node's own count
drain_text() { ctl node show "$N1" | grep -o 'drain:[a-z]*\(([^)]*)\)\?'; }
if [ "$TRUTH" = 1 ]; then
	wait_for 300 holds = "drain:verified(node 1 live)" drain_text
	check "the first ebbd judges n1's drain by n1's own count ($(drain_text))" \
		[ "$(drain_text)" = "drain:verified(node 1 live)" ]
fi

kill -KILL $first_pid
wait $first_pid 2>/dev/null
note "first ebbd killed with SIGKILL while n1 drains and n2 is down"
log0=$(wc -l <"$LOG")
start2_t=$(date +%s.%N)
start_ebbd
# the new ebbd's first decisions: its first pass over the table (drain_listed, ebbd -v would
# say; here the metrics are off) is not logged at info level, so wait for what it reads itself
if [ "$TRUTH" = 1 ]; then
	new_truth() { tail -n +$((log0 + 1)) "$LOG" | grep -F '"event":"truth"' | grep -F "\"node\":\"$N1\""; }
	wait_for 300 eval '[ -n "$(new_truth)" ]'
	check "second ebbd read n1's own count: $(new_truth | head -1)" grep -q '"live":1,' <<<"$(new_truth | head -1)"
	wait_for 100 holds = "drain:verified(node 1 live)" drain_text
	check "second ebbd: n1 still draining, judged by its own count ($(drain_text))" \
		[ "$(drain_text)" = "drain:verified(node 1 live)" ]
else
	sleep 2
fi
check "second ebbd: n1 still draining, its live flow not cut" [ "$(state_of "$N1")" = draining ]
check "... n2 still down" [ "$(state_of "$N2")" = down ]
# the drain's age in the map, against the second ebbd's: a clock started again would be younger
el=$(ctl -j node show "$N1" | json_get 'd[0]["drain_elapsed_s"]')
age=$(python3 -c "import time; print('%.1f' % (time.time() - $start2_t))")
check "... the drain clock kept running from the map (drain_elapsed_s $el, the second ebbd is $age s old)" \
	python3 -c "import sys; sys.exit(not $el > $age)"

kill "$(sed -n 's/.*pid=//p' "$TMP/hold.out")" # its connection closes (FIN): n1's last flow ends 1 s later
close_t=$(date +%s.%N)
if [ "$TRUTH" = 1 ]; then
	check "n1 becomes inactive under the second ebbd" ctl node wait "$N1" state inactive timeout 60
	ev=$(events drained node="$N1")
	note "drained: $ev"
	check "... verified: flows_ended, flows_cut 0 by n1's own count" python3 -c "
import json, sys
e = json.loads(sys.argv[1])
sys.exit(not (e['reason'] == 'flows_ended' and e['verified'] is True and e['flows_cut'] == 0
              and e['node_live'] == 0 and 'flows_cut_estimate' not in e))" "$ev"
	check "... not before the connection closed ($(python3 -c "print('%.1f' % ($(echo "$ev" | field ts) - $close_t))") s after)" \
		python3 -c "import sys; sys.exit(not $(echo "$ev" | field ts) > $close_t)"
	check "... node show: last-drain 0 cut, verified ($(ctl node show "$N1" | grep -o 'last-drain:[^ ]*'))" \
		grep -qF 'last-drain:0-cut(verified)' <<<"$(ctl node show "$N1")"
else
	check "n1 becomes inactive under the second ebbd" ctl node wait "$N1" state inactive timeout 5
	ev=$(events drained node="$N1")
	note "drained: $ev"
	check "... with 0 flows cut by the LB's estimate, unverified (no node report)" \
		[ "$(echo "$ev" | field flows_cut_estimate):$(echo "$ev" | field verified)" = 0:False ]
	check "... and within 1.5 s of its last flow ending ($(echo "$ev" | field last_flow_end_ago_ms) ms)" \
		[ "$(echo "$ev" | field last_flow_end_ago_ms)" -le 1500 ]
fi
nginx_start 2
check "n2 comes back active under the second ebbd" ctl node wait "$N2" state active timeout 5
sleep 0.5
sed 's/^/# hook: /' "$HOOKS"
check "each hook ran exactly once across both ebbd processes" python3 - "$HOOKS" "$N1" "$N2" "$VERIFIED" <<'PY'
import sys
got = sorted(l.strip() for l in open(sys.argv[1]))
n1, n2, verified = sys.argv[2], sys.argv[3], sys.argv[4]
want = sorted(["down %s active down cut=0 verified=" % n2,
               "drained %s draining inactive cut=0 verified=%s" % (n1, verified),
               "up %s down active cut=0 verified=" % n2])
sys.exit(0 if got == want else 1)
PY
kill -TERM $ebbd_pid
wait $ebbd_pid
check "second ebbd exits cleanly" [ $? = 0 ]
finish
