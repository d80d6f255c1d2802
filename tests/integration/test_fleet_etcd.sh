#!/usr/bin/env bash
# The fleet's control plane fails, the datapath does not notice:
# (d) the leader's ebbd is SIGKILLed: another host's ebbd takes the leader key within the lease
#     TTL (5 s; measured from its log) and decides (it retires a drained node once the old
#     leader's host is accounted for again);
# (e) one etcd member of three is SIGKILLed, the raft leader (the hard one: the others must
#     elect a new leader first): writes through ebbctl still work, every host applies them;
#     the member restarts on its data and rejoins;
# (f) all three etcd members are SIGKILLed under wrk keep-alive: 0 socket errors, the routes
#     stay, a write is refused with a clear error (exit non-zero, naming etcd); etcd back, writes
#     work again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fleet.sh"

SCENARIOS=("leader ebbd killed: another host decides within the lease TTL"
	"one etcd member killed: the fleet goes on, writes work"
	"all etcd down: traffic unaffected, writes refused with a clear error")
fleet_supported || skip_all "this build's ebbd/ebbctl have no fleet mode (fleet-core, issue 8 items 1-4)" "${SCENARIOS[@]}"
fleet_up 4 3
N2=$(node_ip4 2) N3=$(node_ip4 3)
TTL=5
etcd_pid() { cat "$(v ETCD_DIR "$1")/etcd.pid"; }
etcd_kill() { kill -9 "$(etcd_pid "$1")" 2>/dev/null; }
etcd_start() { "$(v ETCD_DIR "$1")/start"; }
etcd_up() { etcdctl_ endpoint health >/dev/null 2>&1; }

# etcd_leader: the index (1..3) of the member raft elected; empty when none answers.
etcd_leader() {
	etcdctl_ endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    h = e["Status"]["header"]
    if h["member_id"] == e["Status"]["leader"]:
        print(sys.argv[1].split(",").index(e["Endpoint"]) + 1)
' "$ETCD_ENDPOINTS"
}

wrk_bg "$TMP/wrk.out" 36

# (d) leader killed
has_leader() { [ -n "$(leader_of 1)" ]; }
within 5 has_leader
old=$(leader_of 1)
check "the fleet has a leader ($old)" [ -n "$old" ]
oi=${old#lb}
ask=$((oi % 3 + 1)) # a host that stays up
kill_s=$(date +%s.%N)
kill_ebbd "$oi"
within $((TTL * 3)) leader_is_not "$ask" "$old"
new=$(leader_of "$ask")
ni=${new#lb}
# The takeover moment from the new leader's own log (polling ebbctl on a loaded machine is
# coarser): the old lease lasts TTL after its last keepalive (sent every TTL/4), etcd revokes
# it on its next expiry check, the next host to ask (every 100 ms) takes the key: TTL + 1 s.
took_ms=-1
if [ -n "$new" ] && [ "$new" != "$old" ]; then
	ev=$(fevents "$ni" fleet_leader | tail -n 1)
	note "new leader's log: $ev"
	took_ms=$(echo "$ev" | json_get "int((d['ts'] - $kill_s) * 1000)")
fi
check "leader $old's ebbd killed: $new leads $took_ms ms later (lease TTL ${TTL} s)" \
	[ -n "$new" -a "$new" != "$old" -a "$took_ms" -ge 0 -a "$took_ms" -le $((TTL * 1000 + 1000)) ]
# Until $old is back, the new leader must not retire anything: $old's datapath still forwards
# and it cannot report its flows. Back in step, the new leader decides: n4 (added now, so no
# wrk flow of its own) is drained and retired.
restart_ebbd "$oi"
within 15 restarted_in_step "$ask" "$oi"
check "$old's ebbd restarted: back in step (lag 0)" restarted_in_step "$ask" "$oi"
N4=$(node_ip4 4)
check "node add n4 (no flows: wrk's connections are placed)" lbctl "$ask" node add "$N4" vip "$VIP4"
t1=$(ms)
check "node drain n4 on $old" lbctl "$oi" node drain "$N4"
within 10 is_state "$ask" "$N4" inactive
retire_ms=$(($(ms) - t1))
st=$(node_state "$ask" "$N4")
ev=$(fevents "$ni" drained node="$N4" | tail -n 1)
check "the new leader $new retired n4 ($st, within $retire_ms ms; its log: $(echo "$ev" | head -c 120))" \
	[ "$st" = inactive -a -n "$ev" ]
check "$old did not take the lead back ($(leader_of "$ask"))" [ "$(leader_of "$ask")" = "$new" ]

# (e) one etcd member down: the raft leader, so that the write meets an election
EL=$(etcd_leader)
note "etcd's raft leader: e${EL:-?}"
EL=${EL:-1}
etcd_kill "$EL"
t0=$(ms)
lbctl 2 node drain "$N2" >"$TMP/e-drain.out" 2>&1
rc=$?
e_ms=$(($(ms) - t0))
[ "$rc" -eq 0 ] || note "the write's output: $(head -c 400 "$TMP/e-drain.out" | tr '\n' ' ')"
check "etcd member e$EL (raft leader) killed: node drain n2 still works ($rc, $e_ms ms)" [ "$rc" -eq 0 ]
st=$(node_state 3 "$N2")
check "... applied on lb3 ($st)" [ "$st" = draining -o "$st" = inactive ]
check "node activate n2 (one member down)" lbctl 3 node activate "$N2"
rev=$(fleet_get 1 'len([h for h in d["hosts"] if h.get("lag") == 0])')
check "every host in step ($rev of 3 with lag 0)" [ "$rev" = 3 ]
etcd_start "$EL"
within 20 etcd_up
check "e$EL restarted on its data: the cluster is healthy again" etcd_up

# (f) all etcd down
sleep 1
wrk_stop
mv "$TMP/wrk.out" "$TMP/wrk-de.out"
wrk_check "$TMP/wrk-de.out" "leader killed, one etcd member killed"
wrk_bg "$TMP/wrk.out" 36
sleep 1
down_at=$(ms)
for i in 1 2 3; do etcd_kill "$i"; done
sleep 1
t0=$(ms)
lbctl 1 node drain "$N2" >"$TMP/f-drain.out" 2>&1
rc=$?
w_ms=$(($(ms) - t0))
note "refused write: $(head -c 300 "$TMP/f-drain.out" | tr '\n' ' ')"
check "all etcd down: node drain refused (exit $rc, after $w_ms ms)" [ "$rc" -ne 0 ]
check "... with a clear error naming etcd" grep -qi 'error.*etcd' "$TMP/f-drain.out"
st=$(node_state 1 "$N2")
check "... and nothing changed locally (n2 $st)" [ "$st" = active ]
sleep 3
check "routes unchanged while etcd is down ($(nexthops))" [ "$(nexthops)" = "21 22 23" ]
wrk_stop
etcd_down_s=$(python3 -c "print('%.1f' % (($(ms) - $down_at) / 1000))")
wrk_check "$TMP/wrk.out" "all etcd down for $etcd_down_s s"
for i in 1 2 3; do etcd_start "$i"; done
within 20 etcd_up
check "etcd back (3 members restarted on their data)" etcd_up
if ! etcd_up; then # what the members said, for the failure's record
	etcdctl_ endpoint health 2>&1 | sed 's/^/# health: /'
	for i in 1 2 3; do tail -n 15 "$(v ETCD_DIR "$i")/etcd.log" | cut -c1-400 | sed "s/^/# e$i: /"; done
fi
ok_w=1
within 15 lbctl 1 node drain "$N2" >/dev/null 2>&1 && ok_w=0
check "writes work again once etcd is back" [ "$ok_w" = 0 ]
note "leader takeover ${took_ms} ms (TTL ${TTL} s); write with one member down took ${e_ms} ms; all down: write refused after ${w_ms} ms, wrk 0 errors"
finish
