#!/usr/bin/env bash
# The node program on two lab nodes (doc/node-truth.md), with rescues (version 2) sent by hand
# (tools/node/rescue_send.py). The client opens a real connection to a VIP on n2 (a host route,
# no balancer on the way), then the connection's next segment, an HTTP request, goes as a rescue
# with no balancer MAC (no claim wanted) to n1 first, candidates [n1, n2]: n1 has no socket for
# it and sends it on (XDP_TX), n2 owns it and its nginx answers the request in that connection.
# A rescue for no connection goes n1 -> n2 and is delivered by n2 as the last candidate. Both
# nodes keep their pins in one bpffs directory, each under its own node-<netns inode>. Then the
# first case over IPv6. Then the claim: the same rescue naming the client's MAC as the
# balancer's comes back to the client from its owner n2 as a claim (captured on the client's
# eth0), which then plays the balancer's part and sends the packet to n2 unwrapped; over IPv4
# (n2 second) and IPv6 (n2 first).
# First of all, the node's own connection count (`backend conns`) against connections the
# client holds and `ss` on the node.
# TAP output.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

VIP=203.0.113.10
NB=$BPFFS-nodes
SENDER=$EBB_ROOT/tools/node/rescue_send.py

lab_setup 2
trap 'rm -rf "$NB" "${KEY:-}"; lab_teardown' EXIT

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

# 0. the node's own count (bpf/conns.bpf.c): the client holds keep-alive connections to n2's
# nginx, each with a request answered; `backend conns` on n2 must count exactly them, as `ss`
# in n2's namespace does. The holder prints "ready" once every connection has its answer
# and closes them all at end of input.
VIP6=2001:db8:100::10
ip -n "$NS_CLIENT" -6 route replace "$VIP6/128" via "$NODE_IP6_2"
for p in "$VIP/32" "$VIP6/128"; do node_ctl 2 backend add "$p" >/dev/null || not_ok "n2: backend add $p"; done
HOLD='
import socket, sys
conns = []
for addr, n in ((sys.argv[1], int(sys.argv[2])), (sys.argv[3], int(sys.argv[4]))):
    for i in range(n):
        s = socket.create_connection((addr, 80), timeout=30)
        s.sendall(b"GET /held HTTP/1.1\r\nHost: vip\r\nConnection: keep-alive\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(4096)
        conns.append(s)
print("ready", flush=True)
sys.stdin.read()
for s in conns:
    s.close()
'
N4=8 N6=3
coproc HOLDER { on client python3 -c "$HOLD" "$VIP" $N4 "$VIP6" $N6; }
read -r -t 30 ready <&"${HOLDER[0]}" || ready=""
check "client holds $N4 IPv4 and $N6 IPv6 keep-alive connections, each answered by n2's nginx" \
	test "$ready" = ready
conns_live() { node_ctl "$1" -j backend conns | json_get "sum(v['live'] for v in d['vips'] if v['addr'] == '$2' and v['port'] == 80)"; }
ss_est() { on "n$1" ss -Htn state established "( sport = :80 )" | awk -v a="$2" 'index($3, a ":80") == 1 || index($3, "[" a "]:80") == 1' | wc -l; }
c4=$(conns_live 2 "$VIP") s4=$(ss_est 2 "$VIP")
check "n2: backend conns counts $N4 live on $VIP:80 (got $c4; ss established: $s4)" \
	test "$c4" = "$N4" -a "$s4" = "$N4"
c6=$(conns_live 2 "$VIP6") s6=$(ss_est 2 "$VIP6")
check "n2: backend conns counts $N6 live on [$VIP6]:80 (got $c6; ss established: $s6)" \
	test "$c6" = "$N6" -a "$s6" = "$N6"
check "n1: backend conns counts nothing (no VIP prefix, no connection)" \
	test "$(node_ctl 1 -j backend conns | json_get "d['live']")" = 0
doc=$(node_ctl 2 -j backend conns)
check "the report: unit connections, boot id, CLOCK_BOOTTIME, complete, rescues" \
	test "$(json_get "d['unit'], d['boot_id'] == open('/proc/sys/kernel/random/boot_id').read().strip(), d['boottime_ns'] > 0, d['complete'], sorted(d['rescues'])" <<<"$doc")" \
	= "connections True True True ['claimed', 'counters_id', 'delivered_owner', 'reset']"
# signed: HMAC-SHA256 of the report string with the shared key, the nonce copied in
KEY=$(mktemp /tmp/ebb-test-conns-key.XXXXXX)
head -c 32 /dev/urandom >"$KEY" && chmod 600 "$KEY"
signed=$(node_ctl 2 backend conns key "$KEY" nonce n0nce-42)
check "backend conns key FILE nonce: the HMAC verifies, the nonce and the count are in the report" \
	python3 -c '
import hashlib, hmac, json, sys
env = json.loads(sys.argv[1]); key = open(sys.argv[2], "rb").read()
mac = hmac.new(key, env["report"].encode(), hashlib.sha256).hexdigest()
r = json.loads(env["report"])
sys.exit(not (hmac.compare_digest(mac, env["hmac_sha256"]) and r["nonce"] == "n0nce-42" and r["live"] == int(sys.argv[3])))' \
	"$signed" "$KEY" $((N4 + N6))
chmod 644 "$KEY"
err_case "backend conns with a key file others can read" backend conns key "$KEY"
err_case "backend conns with an unknown word" backend conns everything
rm -f "$KEY"
holder_in=${HOLDER[1]}
exec {holder_in}>&- # the holder closes its connections
wait "${HOLDER_PID:-}" 2>/dev/null
for _ in $(seq 300); do [ "$(node_ctl 2 -j backend conns | json_get "d['live']")" = 0 ] && break; sleep 0.1; done
check "n2: once the client closed them, backend conns counts 0 live" \
	test "$(node_ctl 2 -j backend conns | json_get "d['live']")" = 0

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
check "no owner: n2's backend conns reports 1 rescue reset" \
	test "$(node_ctl 2 -j backend conns | json_get "d['rescues']['reset']")" = 1
check "no drop counted on either node" bash -c "
	for n in 1 2; do nsenter --net=/run/netns/${PFX}n\$n $EBBCTL --bpffs $NB -j backend show |
		python3 -c 'import json,sys; d=json.load(sys.stdin)[\"rescues\"]; sys.exit(any(v for k, v in d.items() if k.startswith(\"drop\")))' || exit 1; done"

# 3. the same over IPv6 (outer and client's packet), from n1 to n2 (route set in 0.)
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

# 4. the claim: lb_mac = the client's MAC. n1 passes it on (lb_mac and cookie kept), n2 owns the
# connection and sends the frame back to the client as a claim: flag set, hop = n2's index,
# outer addresses swapped, everything else as sent. The sender prints what it captured, then
# sends the client's packet to n2 as a dsr balancer would, and n2's nginx answers it.
# claim_case NAME OUTER_SRC VIP PATH OWNER_INDEX OWNER_IP CANDIDATES...
claim_case() {
	local name=$1 osrc=$2 vip=$3 path=$4 hop=$5 owner_ip=$6 cport claim want in
	shift 6
	coproc CLAIM { on client python3 "$SENDER" --claim eth0 "$CLIENT_MAC" "$osrc" "$vip" 80 "$path" "$@"; }
	in=${CLAIM[1]}
	read -r -t 10 cport <&"${CLAIM[0]}" || cport=""
	check "$name: rescue sent with lb_mac = the client's MAC (client port ${cport:-none})" test -n "$cport"
	# the sender waits at most 10 s for the claim, then prints {"claim": null}
	read -r -t 30 claim <&"${CLAIM[0]}" || claim='{"claim": null}'
	note "$name: $claim"
	want="1 $hop 2 $osrc $owner_ip ${CLIENT_MAC,,} ${NODE_MAC_2,,} ${CLIENT_MAC,,} $((0x5EC0C1E5)) True True True 64"
	check "$name: the claim came back (flag, hop $hop, outer $owner_ip -> $osrc, to lb_mac from n2, cookie, the rest as sent, same size)" \
		test "$(json_get "d['claim'] and ' '.join(str(d['claim'][k]) for k in ('flags', 'hop', 'version', 'outer_dst', 'outer_src', 'eth_dst', 'eth_src', 'lb_mac', 'cookie', 'rest_unchanged')) + ' %s %s %s' % (d['claim']['len'] == d['claim']['sent_len'], d['claim']['outer_csum_ok'], d['claim']['ttl'])" <<<"$claim")" = "$want"
	for _ in $(seq 100); do served "$cport" && break; sleep 0.1; done
	check "$name: the client's packet, sent to n2 once claimed, answered in its connection" served "$cport"
	exec {in}>&- # the sender closes its connection at end of input
	wait "${CLAIM_PID:-}" 2>/dev/null
}
claim_case "claim (IPv4, n2 second)" "$LB_IP4" "$VIP" /claimed 1 "$NODE_IP4_2" \
	"$NODE_IP4_1,$NODE_MAC_1" "$NODE_IP4_2,$NODE_MAC_2"
check "claim (IPv4): n1 forwarded_next 4" test "$(counter 1 forwarded_next)" = 4
check "claim (IPv4): n2 claimed 1, delivered_owner still 2" \
	test "$(counter 2 claimed) $(counter 2 delivered_owner)" = "1 2"
claim_case "claim (IPv6, n2 first)" "$LB_IP6" "$VIP6" /claimed6 0 "$NODE_IP6_2" \
	"$NODE_IP6_2,$NODE_MAC_2" "$NODE_IP6_1,$NODE_MAC_1"
check "claim (IPv6): n1 forwarded_next still 4, n2 claimed 2" \
	test "$(counter 1 forwarded_next) $(counter 2 claimed)" = "4 2"
check "n2: backend conns reports the claims (rescues.claimed 2)" \
	test "$(node_ctl 2 -j backend conns | json_get "d['rescues']['claimed']")" = 2
check "n2: backend show (text) lists claimed 2" \
	bash -c "nsenter --net=/run/netns/${PFX}n2 $EBBCTL --bpffs $NB backend show | grep -Eq '^claimed +2 packets'"
check "no drop counted on either node after the claims" bash -c "
	for n in 1 2; do nsenter --net=/run/netns/${PFX}n\$n $EBBCTL --bpffs $NB -j backend show |
		python3 -c 'import json,sys; d=json.load(sys.stdin)[\"rescues\"]; sys.exit(any(v for k, v in d.items() if k.startswith(\"drop\")))' || exit 1; done"

for n in 1 2; do check "n$n: backend detach removes its state" node_ctl "$n" backend detach dev eth0; done
check "the bpffs directory holds no node state after both detached" \
	test "$(find "$NB" -mindepth 1 | wc -l)" -eq 0
finish
