#!/usr/bin/env bash
# The fleet's datapath, without ebbd: three LB hosts behind a BGP router with ECMP, each
# configured alike with its own ebbctl (same VIPs and nodes, so the same Maglev tables). The
# router really spreads flows over the three (per-host counters); both families pass. Then,
# under wrk keep-alive and a stream of new connections, node n1 is drained on every host and
# LB host lb2 dies (link down, BIRD and all killed): BFD withdraws its routes, its flows' next
# packets reach lb1/lb3, which have never seen them and keep each on its node (second chance
# over active + draining nodes) — 0 socket errors, n1's flows that lb2 carried served on by n1,
# and n1 takes no new connection.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fleet.sh"
fleet_setup 3

check "same VIPs and nodes on the 3 LB hosts (local ebbctl)" configure_all
for i in 1 2 3; do announce "$i"; done
wait_nexthops 500 "21 22 23"
check "router: one multipath route to 203.0.113.10 over lb1 lb2 lb3 ($(nexthops))" [ "$(nexthops)" = "21 22 23" ]
for _ in $(seq 100); do [ "$(nexthops6)" = "21 22 23" ] && break; sleep 0.05; done
check "router: one multipath route to 2001:db8:100::10 over the 3 ($(nexthops6))" [ "$(nexthops6)" = "21 22 23" ]
got4=$(on client curl -s -m 3 "$URL4")
got6=$(on client curl -s -m 3 "$URL6")
check "client -> router -> LB host -> node over IPv4 ($got4)" bash -c "[[ '$got4' =~ ^n[123]\$ ]]"
check "... and over IPv6 ($got6)" bash -c "[[ '$got6' =~ ^n[123]\$ ]]"

# ECMP spreads: keep-alive flows and new connections land on every LB host.
wrk_bg "$TMP/wrk-spread.out" 48
sleep 3
wrk_stop
for _ in $(seq 60); do on client curl -s -m 3 -o /dev/null "$URL4"; done
total=0
for i in 1 2 3; do
	pk[i]=$(vip_packets "$i") nf[i]=$(vip_stat "$i" new_flows)
	total=$((total + pk[i]))
done
note "packets per LB host: lb1 ${pk[1]}, lb2 ${pk[2]}, lb3 ${pk[3]}; new flows ${nf[1]}/${nf[2]}/${nf[3]}"
for i in 1 2 3; do
	check "ECMP: lb$i forwarded >= 10% of the VIP's packets (${pk[i]} of $total)" [ $((pk[i] * 10)) -ge "$total" ]
	check "ECMP: lb$i placed new flows (${nf[i]} of 60+ connections)" [ "${nf[i]}" -ge 5 ]
done
read -r sock non2xx reqs < <(wrk_errors "$TMP/wrk-spread.out")
check "wrk through the router: $reqs requests, 0 socket errors ($sock), 0 non-2xx ($non2xx)" \
	[ "$reqs" -gt 1000 -a "$sock" -eq 0 -a "$non2xx" -eq 0 ]

# Failure under load: drain n1 everywhere, then kill lb2.
N1=$(node_ip4 1)
wrk_bg "$TMP/wrk.out" 48
(
	while :; do
		printf '%s %s\n' "$(date +%s.%N)" "$(on client curl -s -m 3 "$URL4" || echo FAIL)"
		sleep 0.02
	done
) >"$TMP/curls" &
curl_pid=$!
sleep 2
ok_drain=1
for i in 1 2 3; do lbctl "$i" node drain "$N1" >/dev/null || ok_drain=0; done
# Drained once the last host has it: without etcd the three drains are three moments, and a
# host not yet told may still place a new flow on n1 (the fleet suites drain with one command).
drain_at=$(date +%s.%N)
check "n1 drained on the 3 LB hosts" [ "$ok_drain" = 1 ]
sleep 1.5
# The flows of draining n1 that lb2 carries, by client port: they must go on at n1 via lb1/lb3.
# Open ones only (status "live": no FIN seen): a curl connection closed just before the drain
# is live for its FIN timeout, and its idle_s (the least age, known to a ~1.07 s tick) may
# still be under 1 s, but nothing of it comes after lb2's death.
lbctl 2 -j flow show >"$TMP/lb2-flows.json"
json_get '" ".join(str(f["sport"]) for f in d if f["status"] == "live" and f["idle_s"] < 1 and f["node"] == "'"$N1"'")' \
	<"$TMP/lb2-flows.json" >"$TMP/lb2-n1-ports"
n_moved=$(wc -w <"$TMP/lb2-n1-ports")
n_lb2=$(json_get 'len([f for f in d if f["live"] and f["idle_s"] < 1])' <"$TMP/lb2-flows.json")
check "lb2's flow table lists the live flows it forwards ($n_lb2; $n_moved of them on n1)" [ "$n_lb2" -gt 0 ]
sc_before=$(($(vip_stat 1 second_chance) + $(vip_stat 3 second_chance)))
lb2_before=$(vip_packets 2)
sleep 1
lb2_now=$(vip_packets 2)
check "lb2 carries flows before it dies ($((lb2_now - lb2_before)) packets in the last second; $n_moved live flows of draining n1)" \
	[ "$lb2_now" -gt "$lb2_before" ]
kill_at=$(date +%s.%N) t0=$(ms)
kill_lb_host 2
wait_nexthops 1000 "21 23"
reroute_ms=$(($(ms) - t0))
check "router withdrew lb2 (BFD) in $reroute_ms ms, < 3000 (the BGP hold time)" \
	[ "$(nexthops)" = "21 23" -a "$reroute_ms" -lt 3000 ]
sleep 3 # wrk and the new connections go on through lb1 and lb3
wrk_stop
kill "$curl_pid" 2>/dev/null
wait "$curl_pid" 2>/dev/null
sc_after=$(($(vip_stat 1 second_chance) + $(vip_stat 3 second_chance)))
check "lb1/lb3 took over lb2's flows by second chance ($((sc_after - sc_before)) flows)" [ "$sc_after" -gt "$sc_before" ]

read -r sock non2xx reqs < <(wrk_errors "$TMP/wrk.out")
maxlat=$(wrk_maxlat "$TMP/wrk.out")
note "wrk: $reqs requests, $sock socket errors, $non2xx non-2xx, max latency $maxlat (the reroute)"
check "wrk: requests were served ($reqs)" [ "$reqs" -gt 1000 ]
check "wrk was still running when lb2 died (its summary is there)" grep -q 'requests in' "$TMP/wrk.out"
check "wrk: 0 socket errors across the drain and lb2's death ($sock)" [ "$sock" -eq 0 ]
check "wrk: 0 non-2xx ($non2xx)" [ "$non2xx" -eq 0 ]
n_curl=$(wc -l <"$TMP/curls")
fails=$(grep -c FAIL "$TMP/curls")
on_n1=$(awk -v t="$drain_at" '$1 > t + 0.1 && $2 == "n1"' "$TMP/curls" | wc -l)
check "new connections: $n_curl, 0 failed ($fails)" [ "$fails" -eq 0 ]
check "no new connection reached n1 after the drain (client side: $on_n1)" [ "$on_n1" -eq 0 ]
read -r _ served_after new_after < <(conns_around 1 "$drain_at")
check "n1's nginx log: 0 new connections after the drain ($new_after), its old ones served on ($served_after requests)" \
	[ "$new_after" -eq 0 -a "$served_after" -gt 0 ]
if [ "$n_moved" -gt 0 ]; then
	# n1's log after the kill: requests from the client ports lb2 carried.
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
	check "n1 served on, after lb2's death, all $n_moved draining flows lb2 had carried ($served)" [ "$served" -eq "$n_moved" ]
else
	ok "# SKIP lb2 carried no flow of n1 this run (ECMP hash); nothing to follow"
fi
note "reroute ${reroute_ms} ms; wrk $reqs requests, $sock errors, max latency $maxlat; $n_curl new connections, $fails failed"
finish
