#!/usr/bin/env bash
# The node program on two lab nodes (doc/node-truth.md), with a rescue sent by hand (the balancer
# does not send rescues yet: tools/node/rescue_send.py). The client opens a real connection to a
# VIP on n2 (a host route, no balancer on the way), then the connection's next segment, an HTTP
# request, goes as a rescue to n1 first, candidates [n1, n2]: n1 has no socket for it and sends it
# on (XDP_TX), n2 owns it and its nginx answers the request in that connection. A rescue for no
# connection goes n1 -> n2 and is delivered by n2 as the last candidate. Both nodes keep their pins
# in one bpffs directory, each under its own node-<netns inode>. Then the first case over IPv6.
# TAP output.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

VIP=203.0.113.10
NB=$BPFFS-nodes
SENDER=$EBB_ROOT/tools/node/rescue_send.py

lab_setup 2
trap 'rm -rf "$NB"; lab_teardown' EXIT

node_ctl() { local n=$1; shift; on "n$n" "$EBBCTL" --bpffs "$NB" "$@"; }
# counter N REASON: node N's rescue counter
counter() { node_ctl "$1" -j backend show | json_get "d['rescues']['$2']"; }

# XDP_TX out of a veth is lost unless its peer runs XDP (doc/xdp-on-veth.md, trap 1).
for n in 1 2; do
	# native: a frame XDP_TX'd by a native program reaches only a peer running native XDP
	ip -n "$NS_SW" link set dev "p-n$n" xdpdrv obj "$OUTPUT/peer_pass.bpf.o" sec xdp ||
		{ not_ok "peer_pass on p-n$n"; exit 1; }
	node_ctl "$n" backend attach dev eth0 >/dev/null 2>&1 ||
		node_ctl "$n" backend attach dev eth0 mode generic >/dev/null ||
		{ not_ok "backend attach on n$n"; exit 1; }
done
check "one state directory per node under one bpffs" \
	test "$(find "$NB" -mindepth 1 -maxdepth 1 -name 'node-*' | wc -l)" -eq 2
# errors: "Error: ...", exit 1, the node's state unchanged
err_case() {
	local d=$1 out; shift
	if out=$(node_ctl 1 "$@" 2>&1); then not_ok "$d: exit 1 (got 0: $out)"
	elif [[ $out == Error:* ]]; then ok "$d: $out"
	else not_ok "$d: Error: on stderr (got '$out')"; fi
}
before=$(node_ctl 1 -j backend show | json_get "d['prefixes'], d['devices']")
err_case "backend attach without dev" backend attach
err_case "backend attach of a device it runs on" backend attach dev eth0
err_case "backend attach dev nosuch0" backend attach dev nosuch0
err_case "backend add 203.0.113.300" backend add 203.0.113.300
err_case "backend del of a prefix never added" backend del 192.0.2.0/24
check "after the errors, n1's prefixes and devices unchanged" \
	test "$(node_ctl 1 -j backend show | json_get "d['prefixes'], d['devices']")" = "$before"
if out=$("$EBBCTL" --bpffs "$NB" backend show 2>&1); then not_ok "backend show where it never ran: exit 1"
elif [[ $out == Error:*"backend attach"* ]]; then ok "backend show where it never ran: $out"
else not_ok "backend show where it never ran says what to do (got '$out')"; fi

# The crafted segment carries no timestamp option, so the connection must not use them.
on client sysctl -qw net.ipv4.tcp_timestamps=0
ip -n "$NS_CLIENT" route replace "$VIP/32" via "$NODE_IP4_2"

# 1. owned by the second candidate
coproc SEND { on client python3 "$SENDER" eth0 "$CLIENT_MAC" "$LB_IP4" "$VIP" 80 /rescued \
	"$NODE_IP4_1,$NODE_MAC_1" "$NODE_IP4_2,$NODE_MAC_2"; }
read -r -t 10 sport <&"${SEND[0]}" || sport=""
check "rescue sent for a real connection (client port ${sport:-none})" test -n "$sport"
served() { awk -v p="$1" '$5 == p && $6 == 200' "$(access_log 2)" | grep -q .; }
for _ in $(seq 100); do served "$sport" && break; sleep 0.1; done
check "n2's nginx answered the rescued request in the client's connection (port $sport)" served "$sport"
check "no request of that connection reached n1" \
	bash -c "! awk -v p=$sport '\$5 == p' $(access_log 1) | grep -q ."
check "n1: forwarded_next 1" test "$(counter 1 forwarded_next)" = 1
check "n1: delivered_owner 0" test "$(counter 1 delivered_owner)" = 0
check "n2: delivered_owner 1" test "$(counter 2 delivered_owner)" = 1
if [ -n "${SEND[1]:-}" ]; then
	send_in=${SEND[1]}
	exec {send_in}>&- # the sender closes its connection at end of input
fi
wait "${SEND_PID:-}" 2>/dev/null

# 2. no node owns it: the last candidate delivers
on client python3 "$SENDER" --no-conn eth0 "$CLIENT_MAC" "$LB_IP4" "$VIP" 80 /nobody \
	"$NODE_IP4_1,$NODE_MAC_1" "$NODE_IP4_2,$NODE_MAC_2" >/dev/null
for _ in $(seq 100); do [ "$(counter 2 delivered_last)" = 1 ] && break; sleep 0.1; done
check "no owner: n1 forwarded_next 2" test "$(counter 1 forwarded_next)" = 2
check "no owner: n2 delivered_last 1" test "$(counter 2 delivered_last)" = 1
check "no drop counted on either node" bash -c "
	for n in 1 2; do nsenter --net=/run/netns/${PFX}n\$n $EBBCTL --bpffs $NB -j backend show |
		python3 -c 'import json,sys; d=json.load(sys.stdin)[\"rescues\"]; sys.exit(any(v for k, v in d.items() if k.startswith(\"drop\")))' || exit 1; done"

# 3. the same over IPv6 (outer and client's packet), from n1 to n2
VIP6=2001:db8:100::10
ip -n "$NS_CLIENT" -6 route replace "$VIP6/128" via "$NODE_IP6_2"
coproc SEND6 { on client python3 "$SENDER" eth0 "$CLIENT_MAC" "$LB_IP6" "$VIP6" 80 /rescued6 \
	"$NODE_IP6_1,$NODE_MAC_1" "$NODE_IP6_2,$NODE_MAC_2"; }
read -r -t 10 sport6 <&"${SEND6[0]}" || sport6=""
check "IPv6: rescue sent for a real connection (client port ${sport6:-none})" test -n "$sport6"
for _ in $(seq 100); do served "$sport6" && break; sleep 0.1; done
check "IPv6: n2's nginx answered the rescued request in that connection" served "$sport6"
check "IPv6: n1 forwarded_next 3" test "$(counter 1 forwarded_next)" = 3
check "IPv6: n2 delivered_owner 2" test "$(counter 2 delivered_owner)" = 2
if [ -n "${SEND6[1]:-}" ]; then
	send_in=${SEND6[1]}
	exec {send_in}>&-
fi
wait "${SEND6_PID:-}" 2>/dev/null

for n in 1 2; do check "n$n: backend detach removes its state" node_ctl "$n" backend detach dev eth0; done
check "the bpffs directory holds no node state after both detached" \
	test "$(find "$NB" -mindepth 1 | wc -l)" -eq 0
finish
