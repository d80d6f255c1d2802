#!/usr/bin/env bash
# LB hosts leave and fail under load, with ebbd in fleet mode on every host:
# (c) `ebbctl fleet host drain lb3` (a graceful leave) under wrk keep-alive: lb3's ebbd
#     withdraws its routes, its flows move to lb1/lb2 which keep each on its node: 0 errors;
#     lb3 reports inactive once its VIP traffic has stopped; `fleet host activate` brings it back.
# (b) lb2 dies (link down, BIRD and ebbd SIGKILLed) under wrk keep-alive while node n1 drains:
#     BFD withdraws its routes, its flows (n1's among them) go on through lb1/lb3 on their
#     nodes: 0 socket errors; n1 takes no new connection; the fleet reports lb2 unreachable.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fleet.sh"

SCENARIOS=("fleet host drain under wrk: 0 errors, the host reports inactive"
	"an LB host killed under wrk keep-alive, also carrying a draining node's flows: 0 socket errors")
fleet_supported || skip_all "this build's ebbd/ebbctl have no fleet mode (fleet-core, issue 8 items 1-4)" "${SCENARIOS[@]}"
fleet_up 3
N1=$(node_ip4 1)

# (c) graceful leave of lb3
wrk_bg "$TMP/wrk-c.out" 36
sleep 2
lb3_before=$(vip_packets 3)
t0=$(ms)
lbctl 1 fleet host drain lb3 >"$TMP/hdrain.out" 2>&1
rc=$?
check "ebbctl fleet host drain lb3 (on lb1): exit 0 ($(($(ms) - t0)) ms)" [ "$rc" -eq 0 ]
wait_nexthops 1000 "21 22"
withdrawn_ms=$(($(ms) - t0))
check "router: lb3's routes withdrawn $withdrawn_ms ms after the command ($(nexthops))" [ "$(nexthops)" = "21 22" ]
host_is() { [ "$(fleet_get 1 'host(d, "'"$1"'").get("'"$2"'", "?")')" = "$3" ]; }
within 20 host_is lb3 state inactive
inactive_ms=$(($(ms) - t0))
st=$(fleet_get 1 'host(d, "lb3").get("state", "?") + " " + host(d, "lb3").get("status", "?")')
check "lb3 reports inactive once its VIP traffic stopped ($st, $inactive_ms ms after the command)" [ "${st%% *}" = inactive ]
lb3_a=$(vip_packets 3)
sleep 1
lb3_b=$(vip_packets 3)
check "lb3 forwards nothing any more ($((lb3_b - lb3_a)) packets in 1 s; $((lb3_a - lb3_before)) since the command)" [ "$lb3_b" -eq "$lb3_a" ]
wrk_stop
wrk_check "$TMP/wrk-c.out" "host drain lb3"
check "ebbctl fleet host activate lb3" lbctl 2 fleet host activate lb3
wait_nexthops 1000 "21 22 23"
check "router: lb3 announces again ($(nexthops))" [ "$(nexthops)" = "21 22 23" ]
# ebbd's main loop reloads BIRD, and its fleet thread reports to etcd on its own next pass: the
# router may see the route before etcd sees the report (CI saw "withdrawn" in that gap).
within 10 host_is lb3 status announcing
st=$(fleet_get 1 'host(d, "lb3").get("status", "?")')
check "lb3 reports announcing ($st)" [ "$st" = announcing ]

# (b) lb2 dies while n1 drains
wrk_bg "$TMP/wrk-b.out" 48
curl_loop "$TMP/curls"
sleep 2
lbctl 3 node drain "$N1" >/dev/null
rc=$?
drained_at=$(date +%s.%N)
check "node drain n1 (on lb3), applied by every host" [ "$rc" -eq 0 ]
sleep 1
# n1's flows on lb2 by client port; only open ones (status "live": no FIN seen, unlike a curl
# connection closed just before, live for its FIN timeout) seen in the last second: an entry
# whose flow an earlier ECMP re-split (lb3 leaving and coming back) moved to another host stays
# "live" here until its idle timeout.
lbctl 2 -j flow show >"$TMP/lb2-flows.json"
json_get '" ".join(str(f["sport"]) for f in d if f["status"] == "live" and f["idle_s"] < 1 and f["node"] == "'"$N1"'")' \
	<"$TMP/lb2-flows.json" >"$TMP/lb2-n1-ports"
n_moved=$(wc -w <"$TMP/lb2-n1-ports")
n_lb2=$(json_get 'len([f for f in d if f["live"] and f["idle_s"] < 1])' <"$TMP/lb2-flows.json")
check "lb2's flow table lists the live flows it forwards ($n_lb2; $n_moved of them on n1)" [ "$n_lb2" -gt 0 ]
sc_before=$(($(vip_stat 1 second_chance) + $(vip_stat 3 second_chance)))
kill_at=$(date +%s.%N) t0=$(ms)
kill_lb_host 2
wait_nexthops 1000 "21 23"
reroute_ms=$(($(ms) - t0))
check "router withdrew dead lb2 in $reroute_ms ms (BFD; hold time 3 s)" [ "$(nexthops)" = "21 23" -a "$reroute_ms" -lt 3000 ]
within 20 host_lease_gone lb2
unreach_ms=$(($(ms) - t0))
check "lb2's lease expired in etcd $unreach_ms ms after its death (lease TTL 5 s)" host_lease_gone lb2
within 10 host_is lb2 status unreachable
st=$(fleet_get 1 'host(d, "lb2").get("status", "?")')
check "fleet show (lb1): lb2 unreachable ($st)" [ "$st" = unreachable ]
sleep 2
wrk_stop
curl_stop
sc_after=$(($(vip_stat 1 second_chance) + $(vip_stat 3 second_chance)))
check "lb1/lb3 took over lb2's flows by second chance ($((sc_after - sc_before)))" [ "$sc_after" -gt "$sc_before" ]
wrk_check "$TMP/wrk-b.out" "lb2 killed while n1 drains"
fails=$(grep -c FAIL "$TMP/curls")
on_n1=$(awk -v t="$drained_at" '$1 > t && $2 == "n1"' "$TMP/curls" | wc -l)
check "new connections: 0 failed ($fails of $(wc -l <"$TMP/curls")), none on draining n1 ($on_n1)" [ "$fails" -eq 0 -a "$on_n1" -eq 0 ]
read -r _ served_after new_after < <(conns_around 1 "$drained_at")
check "n1's nginx log: 0 new connections after the drain ($new_after), its flows served on ($served_after requests)" \
	[ "$new_after" -eq 0 -a "$served_after" -gt 0 ]
if [ "$n_moved" -gt 0 ]; then
	served=$(python3 - "$(access_log 1)" "$kill_at" "$TMP/lb2-n1-ports" <<'PY'
import sys
ports = set(open(sys.argv[3]).read().split())
seen = set()
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 7 and float(f[0]) > float(sys.argv[2]) + 1 and f[4] in ports:
        seen.add(f[4])
print(len(seen))
PY
)
	check "n1 served on, after lb2's death, all $n_moved flows of draining n1 that lb2 carried ($served)" [ "$served" -eq "$n_moved" ]
else
	ok "n1's flows through lb2 followed # SKIP lb2 carried no flow of n1 this run (ECMP hash)"
fi
note "host drain: routes gone in $withdrawn_ms ms, inactive after $inactive_ms ms; host death: reroute $reroute_ms ms, unreachable after $unreach_ms ms, max latency $(wrk_maxlat "$TMP/wrk-b.out")"
finish
