#!/usr/bin/env bash
# An IPv6 VIP end to end: real curls over IPv6 through ebb to nginx, a drain, and UDP-free
# placement consistency: the node that answers is the node ebbctl says the flow goes to.
. "$(dirname "$0")/lib.sh"
lab_setup 3

VIP='[2001:db8:100::10]:80/tcp'
check "vip add $VIP" ctl vip add "$VIP" fin-timeout 1
for i in 1 2 3; do
	check "node add $(node_ip6 $i)" ctl node add "$(node_ip6 $i)" vip "$VIP"
done

mismatch=0
for port in $(seq 21000 21059); do
	predicted=$(ctl -j flow lookup "[2001:db8::1]:$port" "$VIP" | json_get 'd["node"]')
	answer=$(on client curl -s -m 3 --local-port "$port" 'http://[2001:db8:100::10]/')
	[ "$predicted" = "2001:db8::1${answer#n}" ] || mismatch=$((mismatch + 1))
	echo "$answer"
done >"$TMP/answers"
check "60 IPv6 curls answered" [ "$(grep -c '^n[123]$' "$TMP/answers")" -eq 60 ]
for i in 1 2 3; do
	check "n$i served IPv6 requests" grep -q "^n$i\$" "$TMP/answers"
done
check "every answer came from the node 'flow lookup' predicted" [ "$mismatch" -eq 0 ]

check "node drain 2001:db8::11" ctl node drain 2001:db8::11
for port in $(seq 22000 22059); do
	on client curl -s -m 3 --local-port "$port" 'http://[2001:db8:100::10]/'; echo
done >"$TMP/after"
check "after the drain, 60 new IPv6 connections all answered" [ "$(grep -c '^n[23]$' "$TMP/after")" -eq 60 ]
check "after the drain, none reached n1" bash -c "! grep -q '^n1\$' $TMP/after"
# The LB's own IPv6 address (2001:db8::2 on eth0 of its namespace) is neither a VIP nor a node,
# and an ipip encap-src must be one of its own.
refused() { # refused PATTERN ARGS…: ctl ARGS fails with an Error: line matching PATTERN
	local pat=$1
	shift
	! ctl "$@" >"$TMP/out" 2>"$TMP/err" && grep -q "^Error: .*$pat" "$TMP/err" && [ ! -s "$TMP/out" ]
}
check "vip add [2001:db8::2]:80/tcp (the LB's own address) refused" \
	refused "2001:db8::2 is this host's own address (dev eth0): it cannot be a VIP" vip add '[2001:db8::2]:80/tcp'
check "node add 2001:db8::2 (the LB's own address) refused" \
	refused "2001:db8::2 is this host's own address (dev eth0): it cannot be a node" node add 2001:db8::2 vip "$VIP"
check "vip add fwd ipip encap-src 2001:db8::77 (not the LB's) refused" \
	refused "encap-src 2001:db8::77 is not an address of this host" vip add '[2001:db8:100::20]:80/tcp' fwd ipip encap-src 2001:db8::77
check "vip add fwd ipip encap-src 2001:db8::2 (the LB's own) accepted" \
	ctl vip add '[2001:db8:100::20]:80/tcp' fwd ipip encap-src 2001:db8::2
finish
