#!/usr/bin/env bash
# A SYN flood from many spoofed sources (several times the flow table's size) during a drain:
# the flood guard keeps the flood out of the flow table, so wrk's keep-alive connections to the
# draining node stay pinned and go on with 0 errors; the guard says what it did.
. "$(dirname "$0")/lib.sh"
TABLE=4096
trap lab_teardown EXIT
"$LAB" up --prefix "$PFX" --nodes 3 >"$TMP/lab-up.log" 2>&1 || { sed 's/^/# /' "$TMP/lab-up.log"; not_ok "lab up"; exit 1; }
. "/run/ebb-lab/$PFX/env"
check "prog attach with a $TABLE-entry flow table" ctl prog attach dev eth0 flows $TABLE
check "prog set flood-rate 200" ctl prog set flood-rate 200
check "prog show reports the table size and the guard" bash -c \
	"nsenter --net=/run/netns/${PFX}lb $EBBCTL --bpffs $BPFFS prog show | grep -q 'flow table: $TABLE entries; flood guard: 200 new flows/s per CPU; mtu 1500'"

VIP=203.0.113.10:80/tcp
N1=$(node_ip4 1)
check "vip add $VIP" ctl vip add $VIP
for i in 1 2 3; do check "node add n$i" ctl node add "$(node_ip4 $i)" vip $VIP; done

# wrk runs until it is stopped after the flood's checks (SIGINT: it prints its report): its
# flows live through the drain and the flood however long a loaded machine takes
# (nsenter execs wrk: $! is wrk's own pid, which SIGINT must reach; through `on`, a function,
# it would be a subshell's, and the subshell ignores SIGINT)
nsenter --net="/run/netns/${PFX}client" wrk -t2 -c24 -d600s http://203.0.113.10/ >"$TMP/wrk.out" 2>&1 &
wrk_pid=$!
for _ in $(seq 1 300); do
	pinned_n1=$(ctl -j flow show node "$N1" | json_get 'len(d)')
	[ "${pinned_n1:-0}" -gt 0 ] 2>/dev/null && break
	sleep 0.1
done
check "n1 has wrk's flows pinned before the drain ($pinned_n1)" [ "$pinned_n1" -gt 0 ]
drain_at=$(date +%s.%N)
check "node drain n1" ctl node drain "$N1"

FLOOD=$((TABLE * 5))
# Real clients keep opening connections while the flood runs.
(for _ in $(seq 1 100); do on client curl -s -m 3 http://203.0.113.10/ || echo FAIL; sleep 0.02; done) >"$TMP/curls" &
curls_pid=$!
on client "$OUTPUT/load/synflood" eth0 "$LB_MAC" 203.0.113.10 80 192.0.2.0 $FLOOD 5000 >"$TMP/flood.out" 2>&1
wait $curls_pid
check "100 new connections during the flood all answered ($(grep -c '^n[123]$' "$TMP/curls"))" [ "$(grep -c '^n[23]$' "$TMP/curls")" -eq 100 ]
check "synflood sent $FLOOD spoofed SYNs ($(cat "$TMP/flood.out"))" grep -q "sent $FLOOD SYNs" "$TMP/flood.out"

unpinned=$(ctl -j stats show vip $VIP | json_get 'd["vips"]["203.0.113.10:80/tcp"]["unpinned"]')
check "the guard placed flood flows without pinning them ($unpinned)" [ "$unpinned" -gt $((FLOOD / 2)) ]
# Within its rate the guard pins new flows: 200 a second per CPU, in each of the (up to) whole
# seconds the flood touched, both partial ones included. That, not a fixed share of the table,
# is what it may let in (CI once saw 1961 pinned of a 4.1 s flood: more than half the table).
secs=$(sed -n 's/.* in \([0-9.]*\) s.*/\1/p' "$TMP/flood.out")
spans=$(python3 -c "import math, sys; print(math.ceil(float(sys.argv[1])) + 1)" "${secs:-0}")
let_in=$((FLOOD - unpinned))
check "the guard pinned no more flood SYNs than its rate allows ($let_in <= 200/s x $(nproc) CPUs x $spans s)" \
	[ "$let_in" -le $((200 * $(nproc) * spans)) ]
# Every entry is a placement the guard let pin: at most the VIP's new flows less its unpinned
# ones (wrk's, the curls', the flood SYNs within the rate, and second chances: some spoofed
# sources' handshakes come back mid-flow, ~35 a run here). A fixed allowance for what is not a
# flood SYN (it was 24 + 100 + 64) was beaten by 4 entries in CI.
# (the entries first: a flow pinned between the two readings then only raises the bound)
entries=$(ctl -j flow show | json_get 'len(d)')
pinned=$(ctl -j stats show vip $VIP | json_get 'd["vips"]["203.0.113.10:80/tcp"]["new_flows"] - d["vips"]["203.0.113.10:80/tcp"]["unpinned"]')
check "the flow table was not flooded: $entries of $TABLE entries used, none the counters say was not pinned ($pinned) (the flood was $FLOOD SYNs)" \
	[ "$entries" -lt "$TABLE" -a "$entries" -le "$pinned" ]
still=$(ctl -j flow show node "$N1" | json_get 'len(d)')
check "n1's pinned flows survived the flood ($still of $pinned_n1)" [ "$still" -ge "$pinned_n1" ]

kill -INT $wrk_pid
wait $wrk_pid
read -r sock non2xx reqs < <(wrk_errors "$TMP/wrk.out")
note "wrk: $reqs requests, $sock socket errors, $non2xx non-2xx"
check "wrk: 0 socket errors through the flood and the drain ($sock)" [ "$sock" -eq 0 -a "$reqs" -gt 1000 ]
check "wrk: 0 non-2xx ($non2xx)" [ "$non2xx" -eq 0 ]
read -r _ served_after new_after < <(conns_around 1 "$drain_at")
check "n1 kept serving its keep-alive connections ($served_after requests after the drain)" [ "$served_after" -gt 0 ]
check "n1 took no new connection after the drain ($new_after)" [ "$new_after" -eq 0 ]
finish
