#!/usr/bin/env bash
# The promise: drain a node under real load and nobody notices. wrk holds keep-alive
# connections on every node while curl opens new connections every few ms; after
# `node drain n1`, n1 accepts no new connection (its own nginx log says so) yet keeps serving the
# keep-alive connections it had, with 0 client errors; `node del` refuses while they live.
# Runs as is for dsr over IPv4; EBB_FWD=ipip and EBB_FAMILY=6 run the very same test over
# tunnels and/or IPv6 (test_drain_ipip4.sh, test_drain_ipip6.sh).
. "$(dirname "$0")/lib.sh"
FWD=${EBB_FWD:-dsr} FAMILY=${EBB_FAMILY:-4}
LAB_FWD=$FWD lab_setup 3

if [ "$FAMILY" = 6 ]; then
	VIP_ADDR=2001:db8:100::10 VIP='[2001:db8:100::10]:80/tcp' URL='http://[2001:db8:100::10]/'
	node_addr() { node_ip6 "$1"; }
else
	VIP_ADDR=203.0.113.10 VIP=203.0.113.10:80/tcp URL=http://203.0.113.10/
	node_addr() { node_ip4 "$1"; }
fi
N1=$(node_addr 1)
note "fwd $FWD, IPv$FAMILY"
check "vip add $VIP fwd $FWD fin-timeout 1" ctl vip add "$VIP" fwd "$FWD" fin-timeout 1
for i in 1 2 3; do check "node add n$i" ctl node add "$(node_addr $i)" vip "$VIP"; done

# wrk runs until it is stopped after the new connections below (SIGINT: it prints its report),
# so the drain, `node del`'s refusal and the new connections all happen while its flows live,
# however long a loaded machine takes to get there
# (nsenter execs wrk: $! is wrk's own pid, which SIGINT must reach; through `on`, a function,
# it would be a subshell's, and the subshell ignores SIGINT)
nsenter --net="/run/netns/${PFX}client" wrk -t2 -c24 -d600s "$URL" >"$TMP/wrk.out" 2>&1 &
wrk_pid=$!
n1_flows() { ctl -j node show "$N1" | json_get 'd[0]["flows"]'; }
for _ in $(seq 1 300); do
	flows_before=$(n1_flows)
	[ "${flows_before:-0}" -gt 0 ] 2>/dev/null && break
	sleep 0.1
done
check "n1 carries wrk's keep-alive flows before the drain ($flows_before)" [ "$flows_before" -gt 0 ]

drain_at=$(date +%s.%N)
check "node drain n1" ctl node drain "$N1"
state=$(ctl -j node show "$N1" | json_get 'd[0]["state"]')
check "n1 is draining ($state)" [ "$state" = draining ]

ctl node del "$N1" 2>"$TMP/del.err"
del_rc=$?
check "node del refuses while n1 has live flows" [ "$del_rc" -ne 0 ]
check "... saying why: $(head -c 100 "$TMP/del.err")" grep -q '^Error: .*live flows' "$TMP/del.err"
check "... and n1 is still there, draining" [ "$(ctl -j node show "$N1" | json_get 'd[0]["state"]')" = draining ]

# New connections every ~10 ms while wrk runs.
for i in $(seq 1 200); do
	on client curl -s -m 3 "$URL" || echo FAIL
	sleep 0.01
done >"$TMP/new-conns"
answered=$(grep -c '^n[23]$' "$TMP/new-conns")
check "200 new connections after the drain all answered by n2/n3 ($answered)" [ "$answered" -eq 200 ]
check "no new connection reached n1 (client side)" bash -c "! grep -q '^n1\$' $TMP/new-conns"

kill -INT $wrk_pid
wait $wrk_pid
read -r sock non2xx reqs < <(wrk_errors "$TMP/wrk.out")
note "wrk: $reqs requests, $sock socket errors, $non2xx non-2xx"
check "wrk: requests were served ($reqs)" [ "$reqs" -gt 1000 ]
check "wrk: 0 socket errors across the drain ($sock)" [ "$sock" -eq 0 ]
check "wrk: 0 non-2xx responses ($non2xx)" [ "$non2xx" -eq 0 ]

# n1's own log: after the drain it served requests only on connections it had before.
read -r old_conns served_after new_after < <(conns_around 1 "$drain_at" "$VIP_ADDR")
note "n1 log: $old_conns connections before the drain, $served_after requests after it, $new_after new connections after it"
check "n1 kept serving its keep-alive connections after the drain ($served_after requests)" [ "$served_after" -gt 0 ]
check "n1's nginx log shows 0 new connections after the drain ($new_after)" [ "$new_after" -eq 0 ]

if [ "$FWD" = ipip ]; then
	decapped=$(on n1 "$EBBCTL" --bpffs "/sys/fs/bpf/ebb-lab-${PFX}n1" -j decap show | json_get 'd["packets"]["decapsulated"]')
	check "n1's decapsulator unwrapped the tunnelled packets ($decapped)" [ "$decapped" -gt 1000 ]
fi

# wrk closed its connections (FIN): n1's flows end after the 1 s FIN timeout.
for _ in $(seq 1 300); do
	left=$(n1_flows)
	[ "$left" -eq 0 ] && break
	sleep 0.1
done
check "n1's live flows reach 0 once wrk closed ($left left)" [ "$left" -eq 0 ]
check "node del n1 succeeds once its flows are over" ctl node del "$N1"
check "n1 is gone from node show" bash -c "! ctl_out=\$(nsenter --net=/run/netns/${PFX}lb $EBBCTL --bpffs $BPFFS node show $N1 2>&1)"
finish
