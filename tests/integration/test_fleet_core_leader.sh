#!/usr/bin/env bash
# Fleet mode, the decider (doc/fleet.md): with a real etcd and two hosts, exactly one ebbd leads
# (an etcd lease); a drained node is not retired while the other host still reports a live flow
# on it, and is retired (0 flows cut, decided on fleet-wide sums) once that flow ended; when the
# leader's ebbd is killed, the other host leads within the lease TTL, and a host whose lease is
# gone but that may still forward (it never said it withdrew) blocks a retirement until the
# drain timeout; the killed host's ebbd, restarted, catches up and does not lead.
. "$(dirname "$0")/lib_fleet_core.sh"

fleet_setup
check "vip add $VIP" ctl_a vip add $VIP
check "vip add $VIPU (udp idle 2 s)" ctl_a vip add $VIPU udp-idle 2
for v in $VIP $VIPU; do
	check "node add N1 vip $v" ctl_a node add $N1 vip $v mac $MAC1
	check "node add N2 vip $v" ctl_a node add $N2 vip $v mac $MAC2
done

L=$(leader)
case $L in lba) O=lbb oc=b lc=a ;; lbb) O=lba oc=a lc=b ;; *) bail "no leader ($L)" ;; esac
n_lead=$(ctl_a -j fleet show | json_get 'sum(h["leader"] for h in d["hosts"])')
check "exactly one host leads ($L; $n_lead host(s) say so)" [ "$n_lead" = 1 ]
ctl_l() { in_core "$CTL" --bpffs "/sys/fs/bpf/$P-$lc" "$@"; }
ctl_o() { in_core "$CTL" --bpffs "/sys/fs/bpf/$P-$oc" "$@"; }

# ---- retirement waits for the other host's last flow ----
flows_on() { ctl_a -j node show "$1" 2>/dev/null | json_get "d[0]['hosts'].get('$2', 0)" 2>/dev/null; }
# UDP flows through the other host until stopped, some of which Maglev puts on N1
udp_flows $oc 8 120
wait_for 30 holds -ge 1 flows_on $N1 $O 2>/dev/null
f=$(flows_on $N1 $O)
check "live flows on N1 through $O, the host that does not lead ($f)" [ "$f" -ge 1 ]
check "node drain N1" ctl_l node drain $N1
sleep 1
check "... N1 still draining 1 s later: $O reports its flow" [ "$(node_state ctl_l $N1)" = draining ]
log_l=$TMP/ebbd-$L.log
check "... the leader says why it waits" grep -q "\"event\":\"fleet_retire_blocked\".*$O reports" "$log_l"
kill "$udp_pid" # the flows end (udp idle 2 s)
wait_for 150 holds = inactive node_state ctl_l $N1
check "N1 inactive once $O's flows ended (idle 2 s)" [ "$(node_state ctl_l $N1)" = inactive ]
ev=$(grep '"event":"drained"' "$log_l" | grep "$N1" | tail -1)
note "drained: $ev"
check "... decided by the leader on fleet-wide sums, 0 flows cut (estimate, unverified)" bash -c "grep -q '\"flows_cut_estimate\":0' <<<'$ev' && grep -q '\"verified\":false' <<<'$ev' && grep -q '\"fleet_wide\":true' <<<'$ev'"
check "... and $O has it inactive too" wait_for 20 holds = inactive node_state ctl_o $N1

# ---- leader loss ----
eval "pid=\$ebbd_$lc"
t0=$(date +%s.%N)
kill -9 "$pid"
note "killed $L's ebbd at $t0"
wait_for $((TTL * 10 + 30)) grep -q '"event":"fleet_leader"' "$TMP/ebbd-$O.log"
# from the kill to the event in $O's log (ebbctl's own start-up is slow on a loaded machine)
took=$(python3 -c "import json,sys; print(int(1000 * (min(json.loads(l)['ts'] for l in open(sys.argv[1]) if '\"fleet_leader\"' in l) - $t0)))" "$TMP/ebbd-$O.log")
check "leader's ebbd killed: $O leads after $took ms (lease TTL ${TTL}s)" [ "$(ctl_o -j fleet show | json_get 'd["leader"]')" = "$O" ]
check "... within the lease TTL (+0.5 s: etcd's lease timer runs every 500 ms)" [ "$took" -le $((TTL * 1000 + 500)) ]
echo "# measure: leader_takeover_ms=$took ttl_s=$TTL"
check "... the killed host shows as unreachable" wait_for 30 bash -c "[ \"\$(nsenter --net=/run/netns/$CORE '$CTL' --bpffs /sys/fs/bpf/$P-$oc -j fleet show | python3 -c 'import json,sys; print([h[\"status\"] for h in json.load(sys.stdin)[\"hosts\"] if h[\"host\"] == \"$L\"][0])')\" = unreachable ]"

# The killed host's datapath still forwards (its XDP stays): until it says otherwise, a node's
# retirement waits for the drain timeout.
check "node drain N2 timeout 3 (on $O, the new leader)" ctl_o node drain $N2 timeout 3
sleep 1.5
check "... N2 still draining 1.5 s later: $L is unaccounted for" [ "$(node_state ctl_o $N2)" = draining ]
log_o=$TMP/ebbd-$O.log
check "... the new leader says so" grep -q "\"event\":\"fleet_retire_blocked\".*$L is unaccounted for" "$log_o"
wait_for 40 holds = inactive node_state ctl_o $N2
check "... N2 retired at the drain timeout" [ "$(node_state ctl_o $N2)" = inactive ]
check "... reason drain_timeout" bash -c "grep '\"event\":\"drained\"' '$log_o' | grep '$N2' | grep -q drain_timeout"

# ---- the old leader comes back ----
if [ "$lc" = a ]; then start_a; else start_b; fi
wait_for 50 holds = inactive node_state ctl_l $N2
check "the old leader's ebbd, restarted, catches up (N2 inactive in its maps)" [ "$(node_state ctl_l $N2)" = inactive ]
sleep 0.5
check "... and does not take the lead back" [ "$(ctl_l -j fleet show | json_get 'd["leader"]')" = "$O" ]
eval "pid=\$ebbd_$oc"
t0=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"
check "the leader stops cleanly (SIGTERM)" [ $? = 0 ]
leader_seen() { ctl_l -j fleet show 2>/dev/null | json_get 'd["leader"]' 2>/dev/null; }
wait_for 30 holds = "$L" leader_seen
t1=$(date +%s%N)
check "... its lease is revoked: $L leads after $(( (t1 - t0) / 1000000 )) ms" [ "$(ctl_l -j fleet show | json_get 'd["leader"]')" = "$L" ]
finish
