#!/usr/bin/env bash
# shellcheck disable=SC2317  # check functions are called indirectly, through check()
# Integration test of tools/lab: builds a lab, checks every property the other integration
# tests rely on, checks that a failed or killed `up` leaves nothing behind, and tears down.
# Output is TAP: one `ok - …` / `not ok - …` line per check. Needs root and
# .output/peer_pass.bpf.o (make .output/peer_pass.bpf.o).
set -u  # no pipefail: `cmd | grep -q` must not fail when grep exits early

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
LAB="$ROOT/tools/lab"
export LAB_QUIET=1

# Unique, short prefixes (namespace names stay under 20 characters): the main lab, one whose
# `up` is made to fail, one whose `up` is killed.
P="ebbt$$-"
PF="ebbf$$-"
PK="ebbk$$-"
TMP=$(mktemp -d /tmp/ebb-test-lab.XXXXXX)
NODES=3

cleanup() {
	local p
	for p in "$P" "$PF" "$PK"; do
		"$LAB" down --prefix "$p" >/dev/null 2>&1 || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

N=0
FAILED=0
check() { # check DESCRIPTION CMD…: one TAP line, from CMD's exit status
	local desc=$1; shift
	N=$((N + 1))
	if "$@" >"$TMP/out" 2>&1; then
		echo "ok - $desc"
	else
		FAILED=$((FAILED + 1))
		echo "not ok - $desc"
		sed 's/^/#   /' "$TMP/out" | head -20
	fi
}

in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; }
curl_is() { # curl_is NS URL WANT
	local got
	got=$(in_ns "$1" curl -s --noproxy '*' --max-time 3 "$2") || { echo "curl $2 failed"; return 1; }
	[ "$got" = "$3" ] || { echo "curl $2: got '$got', want '$3'"; return 1; }
}

# Namespaces of a prefix that still exist (none expected after down).
lab_namespaces() { ip netns list | awk '{print $1}' | grep -E "^$1(sw|client|lb|n[1-9])\$" || true; }
# Live (non-zombie) processes among the given pids.
alive() {
	local pid st
	for pid in "$@"; do
		st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || continue
		[ "$st" = Z ] || echo "$pid"
	done
}
nothing_left() { # nothing_left PREFIX [PIDS…]: no namespace, state or bpffs dir or process of the lab
	local p=$1 left; shift
	left=$(lab_namespaces "$p")
	[ -z "$left" ] || { echo "namespaces left: $left"; return 1; }
	[ ! -e "/run/ebb-lab/$p" ] || { echo "/run/ebb-lab/$p left"; return 1; }
	left=$(ls -d "/sys/fs/bpf/ebb-lab-$p"* 2>/dev/null)
	[ -z "$left" ] || { echo "bpffs directories left: $left"; return 1; }
	left=$(pgrep -f "/run/ebb-lab/$p" || true)
	[ -z "$left" ] || { echo "processes left: $left"; return 1; }
	left=$(alive "$@")
	[ -z "$left" ] || { echo "processes left: $left"; return 1; }
}

# --- up ------------------------------------------------------------------------------------

up_ok() {
	local out
	out=$("$LAB" up --prefix "$P" --nodes "$NODES") || return 1
	[ "$out" = "$P" ] || { echo "up printed '$out', want '$P'"; return 1; }
}
check "up --prefix $P --nodes $NODES succeeds and prints the prefix" up_ok

env_ok() {
	"$LAB" env --prefix "$P" >"$TMP/env" || return 1
	# shellcheck disable=SC1091
	. "$TMP/env" || return 1
	local v
	for v in PREFIX NODES NS_CLIENT NS_LB NS_SW LB_IP4 LB_IP6 LB_MAC CLIENT_IP4 CLIENT_IP6 STATE_DIR \
		NODE_NS_1 NODE_IP4_1 NODE_IP6_1 NODE_MAC_1 "NODE_NS_$NODES" "NODE_MAC_$NODES"; do
		[ -n "${!v:-}" ] || { echo "$v missing"; return 1; }
	done
	[ "$PREFIX" = "$P" ] && [ "$NODES" = 3 ] && [ "$NS_LB" = "${P}lb" ] &&
		[ "$NODE_IP4_2" = 198.51.100.12 ] && [ "$NODE_IP6_2" = 2001:db8::12 ] &&
		[ "$NODE_MAC_2" = 02:eb:00:00:01:02 ] && [ "$LB_MAC" = 02:eb:00:00:00:02 ] &&
		[ "$STATE_DIR" = "/run/ebb-lab/$P" ]
}
check "env prints a sourceable state file with the expected values" env_ok
# Values for the rest of the test; fixed by the lab's design, not read from the file, so a
# broken env file does not break unrelated checks.
NS_CLIENT="${P}client" NS_LB="${P}lb" NS_SW="${P}sw"

namespaces_ok() {
	local r
	for r in sw client lb $(seq -f n%g 1 "$NODES"); do
		[ -e "/run/netns/$P$r" ] || { echo "missing $P$r"; return 1; }
	done
}
check "namespaces sw, client, lb, n1..n$NODES exist" namespaces_ok

macs_ok() {
	local i
	ip -n "$NS_CLIENT" link show eth0 | grep -q 'link/ether 02:eb:00:00:00:01' || return 1
	ip -n "$NS_LB" link show eth0 | grep -q 'link/ether 02:eb:00:00:00:02' || return 1
	for ((i = 1; i <= NODES; i++)); do
		ip -n "${P}n$i" link show eth0 | grep -q "link/ether 02:eb:00:00:01:0$i" || return 1
	done
}
check "eth0 MACs are the fixed ones" macs_ok

for ((i = 1; i <= NODES; i++)); do
	check "n$i answers 'n$i' on http://198.51.100.1$i/ from the client" \
		curl_is "$NS_CLIENT" "http://198.51.100.1$i/" "n$i"
	check "n$i answers 'n$i' on http://[2001:db8::1$i]/ from the client" \
		curl_is "$NS_CLIENT" "http://[2001:db8::1$i]/" "n$i"
done

# DSR backends must accept connections to any VIP: route one VIP straight to each node from
# the client (a more specific route than the one via the LB), then remove the routes again.
vip_ok() { # vip_ok I
	local i=$1 rc=0
	in_ns "$NS_CLIENT" ip route add 203.0.113.10/32 via "198.51.100.1$i" || return 1
	in_ns "$NS_CLIENT" ip -6 route add 2001:db8:100::10/128 via "2001:db8::1$i" || return 1
	curl_is "$NS_CLIENT" http://203.0.113.10/ "n$i" || rc=1
	curl_is "$NS_CLIENT" 'http://[2001:db8:100::10]/' "n$i" || rc=1
	in_ns "$NS_CLIENT" ip route del 203.0.113.10/32 || rc=1
	in_ns "$NS_CLIENT" ip -6 route del 2001:db8:100::10/128 || rc=1
	return "$rc"
}
for ((i = 1; i <= NODES; i++)); do
	check "n$i accepts TCP to VIPs 203.0.113.10 and [2001:db8:100::10]" vip_ok "$i"
done

routes_ok() {
	in_ns "$NS_CLIENT" ip route show 203.0.113.0/24 | grep -q 'via 198.51.100.2' || return 1
	in_ns "$NS_CLIENT" ip -6 route show 2001:db8:100::/64 | grep -q 'via 2001:db8::2' || return 1
	local ns
	for ns in "$NS_CLIENT" "$NS_LB" "${P}n1"; do
		[ -z "$(ip -n "$ns" route show default)" ] || { echo "default route in $ns"; return 1; }
		[ -z "$(ip -n "$ns" -6 route show default)" ] || { echo "v6 default route in $ns"; return 1; }
	done
}
check "client routes the VIP ranges via the LB; no default route anywhere" routes_ok

check "lb eth0 has no XDP program yet" bash -c "! ip -n '$NS_LB' link show eth0 | grep -q xdp"
check "p-lb (the LB's peer in sw) has an XDP program" bash -c "ip -n '$NS_SW' link show p-lb | grep -qE ' xdp(generic)? '"

# The point of the peer program (lab.md trap 1): a frame the LB sends with XDP_TX must arrive.
# floor_tx reflects every frame back to its sender; pings from the client to the LB must come
# back to the client's eth0 (its RX counter grows). Without p-lb's program it stays flat.
client_rx() { ip -n "$NS_CLIENT" -s link show eth0 | awk '/RX:/ { getline; print $2; exit }'; }
xdp_tx_ok() {
	local before after rc=0
	# The reflected ARP request would have a broadcast source MAC, which the bridge drops:
	# give the client the LB's MAC up front.
	ip -n "$NS_CLIENT" neigh replace 198.51.100.2 dev eth0 lladdr 02:eb:00:00:00:02 nud permanent || return 1
	ip -n "$NS_LB" link set dev eth0 xdpdrv obj "$FLOOR_TX" sec xdp || return 1
	before=$(client_rx)
	in_ns "$NS_CLIENT" ping -q -c3 -i0.2 -W1 198.51.100.2 >/dev/null
	after=$(client_rx)
	((after >= before + 3)) || { echo "client RX packets $before -> $after, want +3"; rc=1; }
	ip -n "$NS_LB" link set dev eth0 xdpdrv off || rc=1
	ip -n "$NS_CLIENT" neigh del 198.51.100.2 dev eth0 || rc=1
	return "$rc"
}
OUT=${EBB_OUTPUT:-.output}
[[ $OUT = /* ]] || OUT="$ROOT/$OUT" # relative to the repo root, as tools/lab takes it
FLOOR_TX="$OUT/bench/floor_tx.bpf.o"
if [ -f "$FLOOR_TX" ]; then
	check "a frame the LB sends with XDP_TX reaches the client (peer XDP works)" xdp_tx_ok
	check "lb eth0 has no XDP program again" bash -c "! ip -n '$NS_LB' link show eth0 | grep -q xdp"
else
	N=$((N + 1))
	echo "ok - a frame the LB sends with XDP_TX reaches the client # SKIP no $FLOOR_TX"
fi

lb_tcp_ok() {
	local i
	for ((i = 1; i <= NODES; i++)); do
		curl_is "$NS_LB" "http://198.51.100.1$i/" "n$i" || return 1
		curl_is "$NS_LB" "http://[2001:db8::1$i]/" "n$i" || return 1
	done
}
check "lb reaches every node's nginx itself (health-check path)" lb_tcp_ok

tx_off_ok() {
	local ns
	for ns in "$NS_CLIENT" $(seq -f "${P}n%g" 1 "$NODES"); do
		in_ns "$ns" ethtool -k eth0 | grep -q '^tx-checksumming: off' || { echo "$ns: tx on"; return 1; }
	done
}
check "tx checksum offload is off on the client and the nodes" tx_off_ok

neigh_ok() {
	local i mac
	for ((i = 1; i <= NODES; i++)); do
		mac="02:eb:00:00:01:0$i"
		ip -n "$NS_LB" neigh show "198.51.100.1$i" dev eth0 | grep -q "lladdr $mac" ||
			{ echo "no v4 neighbour n$i"; return 1; }
		ip -n "$NS_LB" -6 neigh show "2001:db8::1$i" dev eth0 | grep -q "lladdr $mac" ||
			{ echo "no v6 neighbour n$i"; return 1; }
	done
}
check "lb's neighbour tables hold every node's MAC (v4 and v6)" neigh_ok

sysctl_ok() {
	local ns
	for ns in "$NS_CLIENT" "$NS_LB" "${P}n1"; do
		[ "$(in_ns "$ns" sysctl -n net.ipv4.conf.all.arp_ignore)" = 1 ] || return 1
		[ "$(in_ns "$ns" sysctl -n net.ipv4.conf.all.arp_announce)" = 2 ] || return 1
		[ "$(in_ns "$ns" sysctl -n net.ipv4.conf.all.rp_filter)" = 0 ] || return 1
		[ "$(in_ns "$ns" sysctl -n net.ipv4.conf.eth0.rp_filter)" = 0 ] || return 1
	done
}
check "arp_ignore=1, arp_announce=2, rp_filter=0 on client, lb, nodes" sysctl_ok

check "nginx access log records the 'ebb' format" bash -c "
	tail -1 '/run/ebb-lab/$P/n1/access.log' |
	grep -qE '^[0-9]+\.[0-9]{3} [0-9]+ [0-9]+ [0-9a-f.:]+ [0-9]+ 200 [0-9a-f.:]+\$'"

# --- exec --------------------------------------------------------------------------------

check "exec runs in the role's namespace" bash -c \
	"'$LAB' exec --prefix '$P' lb -- ip -o addr show dev eth0 | grep -q 198.51.100.2/24"
exec_rc() {
	local rc=0
	"$LAB" exec --prefix "$P" n2 -- sh -c 'exit 7' || rc=$?
	[ "$rc" = 7 ] || { echo "exit code $rc, want 7"; return 1; }
}
check "exec passes the command's exit code through" exec_rc
# exec and shell give a role ebbctl's default paths of its own (issue 17): what the guide does
# in `tools/lab shell lb` lands in the lab's directories, never in the host's.
exec_private() {
	"$LAB" exec --prefix "$P" lb -- sh -c "[ \"\$(stat -f -c %T /sys/fs/bpf/ebb)\" = bpf_fs ] &&
		mkdir /sys/fs/bpf/ebb/probe-$P /var/lib/probe-$P" || { echo "mkdir in exec failed"; return 1; }
	[ -d "/sys/fs/bpf/ebb-lab-${P}lb/probe-$P" ] || { echo "not in /sys/fs/bpf/ebb-lab-${P}lb"; return 1; }
	[ -d "/run/ebb-lab/$P/varlib/lb/probe-$P" ] || { echo "not in /run/ebb-lab/$P/varlib/lb"; return 1; }
	[ ! -e "/sys/fs/bpf/ebb/probe-$P" ] && [ ! -e "/var/lib/probe-$P" ] || { echo "on the host"; return 1; }
	echo 'ls -d /sys/fs/bpf/ebb/probe-'"$P"' /var/lib/probe-'"$P"'; echo "PATH=$PATH"' |
		EBB_OUTPUT=/x/out "$LAB" shell --prefix "$P" lb >"$TMP/shell.out" 2>&1 || { cat "$TMP/shell.out"; return 1; }
	grep -q "^/sys/fs/bpf/ebb/probe-$P" "$TMP/shell.out" && grep -q "^/var/lib/probe-$P" "$TMP/shell.out" &&
		grep -q '^PATH=/x/out:' "$TMP/shell.out" || { cat "$TMP/shell.out"; return 1; }
}
check "exec and shell: /sys/fs/bpf/ebb and /var/lib are the lab's, not the host's; shell puts the build on PATH" exec_private
check "shell with words after its ROLE is refused with 'Error:'" bash -c "
	! '$LAB' shell --prefix '$P' lb -c true </dev/null 2>'$TMP/err' && grep -q '^Error: shell takes only a ROLE' '$TMP/err'"

# --- failures ----------------------------------------------------------------------------

up_again_fails() {
	if "$LAB" up --prefix "$P" 2>"$TMP/err"; then echo "second up succeeded"; return 1; fi
	grep -q '^Error: ' "$TMP/err" || { cat "$TMP/err"; return 1; }
	curl_is "$NS_CLIENT" http://198.51.100.11/ n1 # the existing lab is untouched
}
check "up over an existing lab fails with 'Error:' and leaves that lab alone" up_again_fails

# An up that fails halfway (here: nginx cannot start) must undo everything it did.
failed_up_cleans() {
	mkdir -p "$TMP/bin"
	printf '#!/bin/sh\necho "fake nginx fails" >&2\nexit 1\n' >"$TMP/bin/nginx"
	chmod +x "$TMP/bin/nginx"
	if PATH="$TMP/bin:$PATH" "$LAB" up --prefix "$PF" --nodes 2 2>"$TMP/err"; then
		echo "up with a broken nginx succeeded"; return 1
	fi
	grep -q '^Error: ' "$TMP/err" || { cat "$TMP/err"; return 1; }
	# It must have failed halfway (namespaces made), not in the checks before any work.
	grep -q 'nginx of n1 did not start' "$TMP/err" || { cat "$TMP/err"; return 1; }
	nothing_left "$PF"
}
check "an up that fails halfway exits non-zero and leaves nothing behind" failed_up_cleans

# An up killed with SIGKILL (no handler runs) once nginx is running: down must clean up.
killed_up_cleans() {
	local pid i pids
	"$LAB" up --prefix "$PK" --nodes 2 >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		[ -s "/run/ebb-lab/$PK/n1/nginx.pid" ] && break
		sleep 0.02
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ -n "$(lab_namespaces "$PK")" ] || { echo "the killed up left no namespace: test did not bite"; return 1; }
	pids=$(for ns in $(lab_namespaces "$PK"); do ip netns pids "$ns"; done)
	"$LAB" down --prefix "$PK" || return 1
	# shellcheck disable=SC2086
	nothing_left "$PK" $pids
}
check "down after a killed up leaves no namespace, process or state" killed_up_cleans

# --- down --------------------------------------------------------------------------------

PIDS=$(for ns in $(lab_namespaces "$P"); do ip netns pids "$ns"; done)
check "lab has nginx processes before down" test -n "$PIDS"
check "down succeeds" "$LAB" down --prefix "$P"
# shellcheck disable=SC2086
check "down leaves no namespace, nginx process or state of the prefix" nothing_left "$P" $PIDS
check "down is safe to run twice" "$LAB" down --prefix "$P"

echo "1..$N"
if [ "$FAILED" -ne 0 ]; then
	echo "# $FAILED of $N checks failed"
	exit 1
fi
exit 0
