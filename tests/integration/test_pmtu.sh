#!/usr/bin/env bash
# Path MTU discovery through ipip: a full-size packet no longer fits once encapsulated, so ebb
# answers with ICMP "fragmentation needed" (IPv4) / "packet too big" (IPv6) like a router would;
# the client's kernel lowers its path MTU and a large upload goes through.
. "$(dirname "$0")/lib.sh"
LAB_FWD=ipip lab_setup 2

head -c 300000 /dev/urandom >"$TMP/body"
for family in 4 6; do
	if [ $family = 6 ]; then
		VIP='[2001:db8:100::10]:80/tcp' URL='http://[2001:db8:100::10]/' addr=2001:db8:100::10
	else
		VIP=203.0.113.10:80/tcp URL=http://203.0.113.10/ addr=203.0.113.10
	fi
	check "IPv$family: vip add $VIP fwd ipip" ctl vip add "$VIP" fwd ipip
	for i in 1 2; do
		a=$([ $family = 6 ] && node_ip6 $i || node_ip4 $i)
		check "IPv$family: node add $a" ctl node add "$a" vip "$VIP"
	done
	before=$(ctl -j stats show | json_get 'd["reasons"]["tx_icmp_too_big"]["packets"]')
	code=$(on client curl -s -m 20 -o /dev/null -w '%{http_code}' --data-binary @"$TMP/body" "$URL")
	after=$(ctl -j stats show | json_get 'd["reasons"]["tx_icmp_too_big"]["packets"]')
	check "IPv$family: a 300 kB upload through the tunnel succeeds (HTTP $code)" [ "$code" = 200 ]
	check "IPv$family: ebb sent ICMP too-big to the client ($((after - before)))" [ $((after - before)) -gt 0 ]
	mtu=$(on client ip -$family route get "$addr" | grep -o 'mtu [0-9]*' | awk '{print $2}')
	want=$([ $family = 6 ] && echo 1460 || echo 1480)
	check "IPv$family: the client learnt path MTU $want (${mtu:-none})" [ "${mtu:-0}" = "$want" ]
done
finish
