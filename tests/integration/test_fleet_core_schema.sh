#!/usr/bin/env bash
# Fleet mode, the schema of the desired state (doc/fleet.md, "Schema"): a real etcd and two hosts
# A and B. Values that fail the schema, put straight into etcd with a serial bump (what a careless
# script or a cut write would leave), never delete, default or activate anything on any host:
#  - a truncated node value (the node carries live flows) and a truncated VIP value: on both hosts
#    the node and the VIP stay as they were, the node's pinned flows stay, and the rest of the
#    same revision applies (a good VIP key beside them is added);
#  - a retired node's state "bogus", 7, null, "INACTIVE", or drain_timeout_s -1: it stays inactive;
#  - a host whose ebbd restarts while the keys are bad (it never saw a good value) purges nothing;
#  - every host reports state_invalid with the key and the reason: ebbd's log (one event when it
#    appears, one when it is fixed), fleet show (text and -j), metrics, the status page;
#  - a good value clears state_invalid everywhere and applies.
. "$(dirname "$0")/lib_fleet_core.sh"

# metrics and the status page on each host, on the private namespace's loopback
eval "lib_$(declare -f conf)"
conf() {
	lib_conf "$1"
	sed -i "s|^metrics = .*|metrics = \"127.0.0.1:$([ "$1" = lba ] && echo 19477 || echo 19478)\";|" "$TMP/ebbd-$1.conf"
}
mport() { [ "$1" = a ] && echo 19477 || echo 19478; }
metrics() { in_core curl -s --max-time 3 "http://127.0.0.1:$(mport "$1")/metrics"; }
status_page() { in_core curl -s --max-time 3 "http://127.0.0.1:$(mport "$1")/"; }
ctl() { if [ "$1" = a ]; then shift; ctl_a "$@"; else shift; ctl_b "$@"; fi; }
log_of() { echo "$TMP/ebbd-lb$1.log"; }

N3=198.51.100.12 MAC3=02:00:00:00:00:0c
K=/ebb/$FLEET/state
KN1=$K/nodes/$N1 KN3=$K/nodes/$N3 KV=$K/vips/$VIPU
bump() { etcdctl_ put "$K/serial" "{\"by\":\"test\",\"what\":\"$1\",\"time\":0}" >/dev/null; }
serial_rev() { etcdctl_ get "$K/serial" -w json | json_get 'd["kvs"][0]["mod_revision"]'; }
# applied HOST REV: the host reports REV (or later) applied
applied() { [ "$(ctl_a -j fleet show 2>/dev/null | json_get "[h['applied_revision'] for h in d['hosts'] if h['host'] == 'lb$1'][0]" 2>/dev/null)" -ge "$2" ] 2>/dev/null; }
both_applied() { local rev; rev=$(serial_rev); wait_for 100 applied a "$rev" && wait_for 100 applied b "$rev"; }
# host_invalid HOST KEY: fleet show -j says HOST reports KEY in state_invalid
host_invalid() { ctl_a -j fleet show 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(not any(h["host"] == "lb" + sys.argv[1] and any(e["key"] == sys.argv[2] for e in h.get("state_invalid", [])) for h in d["hosts"]))' "$1" "$2"; }
# host_kept HOST KEY: ... and says that key's last good value stays applied ("kept": true)
host_kept() { ctl_a -j fleet show 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(not any(h["host"] == "lb" + sys.argv[1] and any(e["key"] == sys.argv[2] and e.get("kept") is True for e in h.get("state_invalid", [])) for h in d["hosts"]))' "$1" "$2"; }
both_kept() { host_kept "$1" "$KN1" && host_kept "$1" "$KV"; }
host_clean() { ctl_a -j fleet show 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(not (d.get("state_invalid") == [] and all(h.get("state_invalid") == [] for h in d["hosts"] if h["status"] != "unreachable")))'; }
flows_of() { ctl "$1" -j flow show node "$2" 2>/dev/null | json_get 'len(d if isinstance(d, list) else d.get("flows", []))' 2>/dev/null; }
weight_of() { ctl "$1" -j node show "$2" 2>/dev/null | json_get "d[0]['weights']['$VIPU']" 2>/dev/null; }
vip_idle() { ctl "$1" -j vip show "$VIPU" 2>/dev/null | json_get 'd[0]["udp_idle_s"]' 2>/dev/null; }
events() { grep -c "\"event\":\"$2\".*\"key\":\"$3\"" "$(log_of "$1")"; }
n1_kept() { [ "$(node_state ctl_$1 $N1)" = active ] && [ "$(weight_of "$1" $N1)" = 70 ]; }
n1_flows_kept() { [ "$(node_state ctl_$1 $N1)" = active ] && [ "$(flows_of "$1" $N1)" -ge "$2" ]; }
page_lists() { status_page "$1" | grep -q 'id="state_invalid"' && status_page "$1" | grep -qF "$2"; }
metric_key() { metrics "$1" | grep -qxF "ebb_fleet_state_invalid{key=\"$2\"} 1"; }
metric_keys() { metrics "$1" | grep -qx "ebb_fleet_state_invalid_keys $2"; }
n3_held() { [ "$(node_state ctl_a $N3)" = inactive ] && [ "$(node_state ctl_b $N3)" = inactive ] && host_invalid a "$KN3" && host_invalid b "$KN3"; }
said_once() { [ "$1" = 1 ] && [ "$(events a fleet_state_invalid "$KN1")" = 1 ]; }
no_text_invalid() { ! ctl_a fleet show | grep -q '^state_invalid'; }

fleet_setup
note "etcd at $ETCD_URL in netns $CORE; A=$DIRA, B=$DIRB; fleet $FLEET"

check "vip add $VIPU (udp idle 600 s: its flows outlive the test)" ctl_a vip add $VIPU udp-idle 600
check "node add N1 (active, weight 70)" ctl_a node add $N1 vip $VIPU mac $MAC1 weight 70
check "node add N3 inactive (a retired node)" ctl_a node add $N3 vip $VIPU mac $MAC3 inactive
# UDP flows through both hosts, all on N1 (the only active node), pinned in each flow table
udp_flows a 6 1
pa=$udp_pid
udp_flows b 6 1
wait "$pa" "$udp_pid"
check "A pins flows to N1" wait_for 50 holds -ge 1 flows_of a $N1
check "B pins flows to N1" wait_for 50 holds -ge 1 flows_of b $N1
fa=$(flows_of a $N1) fb=$(flows_of b $N1)
note "flows on N1: A $fa, B $fb"
good_n1=$(etcdctl_ get "$KN1" --print-value-only)
good_n3=$(etcdctl_ get "$KN3" --print-value-only)
good_v=$(etcdctl_ get "$KV" --print-value-only)
note "good values: $KN1 = $good_n1; $KV = $good_v"

# ---- truncated values, and a good key in the same revision ----
etcdctl_ put "$KN1" "${good_n1:0:30}" >/dev/null
etcdctl_ put "$KV" "${good_v:0:25}" >/dev/null
etcdctl_ put "$K/vips/$VIP" '{"fwd":"dsr","tcp_idle_s":900,"udp_idle_s":300,"fin_s":10,"drain_timeout_s":300}' >/dev/null
bump "truncated values"
check "truncated N1 and VIP values, serial bumped: both hosts apply the revision" both_applied
for h in a b; do
	check "$h: N1 still there, active, weight 70 (its last good value)" n1_kept $h
	check "$h: $VIPU still there with its udp idle 600 s" [ "$(vip_idle $h)" = 600 ]
	check "$h: N1's pinned flows still there ($(flows_of $h $N1))" [ "$(flows_of $h $N1)" -ge "$([ $h = a ] && echo "$fa" || echo "$fb")" ]
	check "$h: the rest of the revision applied (the good VIP $VIP added)" \
		[ "$(ctl $h -j vip show $VIP 2>/dev/null | json_get 'd[0]["vip"]')" = "$VIP" ]
	check "$h: fleet show -j lists N1's key in the host's state_invalid" wait_for 20 host_invalid $h "$KN1"
	check "$h: ... and the VIP's key" wait_for 20 host_invalid $h "$KV"
	check "$h: ebbd logged fleet_state_invalid for N1's key" wait_for 50 grep -q "\"event\":\"fleet_state_invalid\".*\"key\":\"$KN1\".*truncated" "$(log_of $h)"
	check "$h: ... and for the VIP's key" grep -q "\"event\":\"fleet_state_invalid\".*\"key\":\"$KV\".*truncated" "$(log_of $h)"
	check "$h: ... both reported with their last good value kept" both_kept $h
	check "$h: metrics ebb_fleet_state_invalid{key=\"$KN1\"} 1" wait_for 30 metric_key $h "$KN1"
	check "$h: metrics ebb_fleet_state_invalid_keys 2" wait_for 30 metric_keys $h 2
	check "$h: the status page lists N1's key" wait_for 30 page_lists $h "$KN1"
done
out=$(ctl_a fleet show)
note "fleet show: $(tail -n 2 <<<"$out" | tr '\n' '|')"
check "fleet show (text) names N1's key, its reason and both hosts" \
	grep -qE "^state_invalid $KN1: truncated JSON.*\(reported by: (lba,lbb|lbb,lba)\)" <<<"$out"
check "fleet show -j: top-level state_invalid has both keys" \
	[ "$(ctl_a -j fleet show | json_get 'sorted(e["key"] for e in d["state_invalid"]) == sorted(["'"$KN1"'", "'"$KV"'"])')" = True ]
err=$(ctl_a node drain $N1 2>&1)
check "node drain N1 is refused, naming the invalid key ($err)" grep -q "^Error: node $N1: its key $KN1 fails the schema" <<<"$err"

# ---- a host that never saw a good value: B's ebbd restarts while the keys are bad ----
kill -9 "$ebbd_b"; wait "$ebbd_b" 2>/dev/null; ebbd_b=
bump "while B is down"
start_b
check "B restarted with the keys bad: it applies the revision" both_applied
check "B: N1 still there, active, with its flows (nothing purged)" n1_flows_kept b "$fb"
check "B: $VIPU still there" [ "$(vip_idle b)" = 600 ]
check "B: reports N1's key invalid again" wait_for 20 host_invalid b "$KN1"
check "B: ... and the VIP's key" wait_for 20 host_invalid b "$KV"
n_ev=$(events a fleet_state_invalid "$KN1")
sleep 1 # polls go on (10 a second): the key must not be said again
check "A said N1's key invalid once, not every poll ($n_ev, then $(events a fleet_state_invalid "$KN1"))" said_once "$n_ev"

# ---- a retired node's bad states: never active ----
for v in '"bogus"' 7 null '"INACTIVE"' '"inactive","drain_timeout_s":-1,"x":1' '"draining","drain_timeout_s":-1'; do
	etcdctl_ put "$KN3" "{\"state\":$v,\"weights\":{\"$VIPU\":100}}" >/dev/null
	bump "N3 state $v"
	both_applied
	check "N3 {\"state\":$v}: inactive on A and B ($(node_state ctl_a $N3), $(node_state ctl_b $N3)), listed invalid" wait_for 10 n3_held
done
check "A's log: N3's reason names the state (\"state\" must be one of …)" \
	grep -q "\"event\":\"fleet_state_invalid\".*\"key\":\"$KN3\".*state.* must be one of" "$(log_of a)"

# ---- good values again: cleared everywhere, applied ----
etcdctl_ put "$KN1" "$(sed 's/:70}/:60}/' <<<"$good_n1")" >/dev/null
etcdctl_ put "$KV" "$good_v" >/dev/null
etcdctl_ put "$KN3" "$good_n3" >/dev/null
bump "good values"
check "good values, serial bumped: both hosts apply" both_applied
check "state_invalid cleared in fleet show -j (top level and every host)" wait_for 50 host_clean
for h in a b; do
	check "$h: the fixed N1 value applies (weight 60)" wait_for 30 holds = 60 weight_of $h $N1
	check "$h: N1's flows still there" [ "$(flows_of $h $N1)" -ge 1 ]
	check "$h: N3 inactive" [ "$(node_state ctl_$h $N3)" = inactive ]
	check "$h: metrics ebb_fleet_state_invalid_keys 0" wait_for 30 metric_keys $h 0
	check "$h: ebbd logged fleet_state_valid for N1's key" wait_for 30 grep -q "\"event\":\"fleet_state_valid\".*\"key\":\"$KN1\"" "$(log_of $h)"
done
check "fleet show (text) has no state_invalid line" no_text_invalid
finish
