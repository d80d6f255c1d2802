#!/usr/bin/env bash
# 300 real curls through ebb spread over 3 nginx nodes as their weights say (within 5 points),
# and each node's own access log agrees with what the clients were told.
. "$(dirname "$0")/lib.sh"
lab_setup 3

VIP=203.0.113.10:80/tcp
weights=(0 100 200 300)
# A long FIN timeout: 300 sequential curls take ~10 s, and the pin count below must not depend
# on how fast they ran (a finished flow past the 10 s default no longer counts as live).
check "vip add $VIP fin-timeout 300" ctl vip add $VIP fin-timeout 300
for i in 1 2 3; do
	check "node add n$i weight ${weights[$i]}" ctl node add "$(node_ip4 $i)" vip $VIP weight "${weights[$i]}"
done

# Fixed source ports make the run repeatable: the placement is a pure function of the flow.
for port in $(seq 20000 20299); do
	on client curl -s -m 3 --local-port "$port" http://203.0.113.10/ || echo FAIL
done >"$TMP/answers"
total=$(grep -c . "$TMP/answers")
check "300 curls answered" [ "$(grep -c '^n[123]$' "$TMP/answers")" -eq 300 ]
for i in 1 2 3; do
	got=$(grep -c "^n$i\$" "$TMP/answers")
	want=$((300 * weights[i] / 600))
	note "n$i: $got of $total (weight share $want)"
	check "n$i got $got of 300, weight share $want ±15 (5 %)" [ $((got - want)) -le 15 -a $((want - got)) -le 15 ]
	logged=$(awk '$7 == "203.0.113.10"' "$(access_log $i)" | grep -c .)
	check "n$i's nginx log shows the $got requests it answered ($logged)" [ "$logged" -eq "$got" ]
done

flows=$(ctl -j vip show $VIP | json_get 'd[0]["flows"]')
check "the flow table pinned 300 flows ($flows)" [ "$flows" -eq 300 ]
new=$(ctl -j stats show vip $VIP | json_get 'd["vips"]["203.0.113.10:80/tcp"]["new_flows"]')
check "vip counters saw 300 new flows ($new)" [ "$new" -eq 300 ]
finish
