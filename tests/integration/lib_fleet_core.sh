# shellcheck shell=bash
# Shared by the fleet-core suites (test_fleet_core_*.sh): a real one-member etcd and two LB
# hosts A and B, each an ebbd on its own bpffs directory with ebb attached to its own veth, all
# inside one private network namespace made here ($CORE, etcd on its loopback, so no port can
# collide with anything outside), plus one client namespace per host ($P-ca, $P-cb) to send
# packets through each host's XDP. Everything is removed on exit, also on failure.
# shellcheck disable=SC2317  # functions called indirectly
set -u
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUT=${OUTPUT:-.output}
[[ $OUT == /* ]] || OUT=$ROOT/$OUT
CTL=$OUT/ebbctl EBBD=$OUT/ebbd
P=efc$$
CORE=$P-core
# tmpfs: etcd fsyncs every write, and a shared machine's disk can take seconds for one
TMP=$(mktemp -d /dev/shm/ebb-test-fleet.XXXXXX)
DIRA=/sys/fs/bpf/$P-a DIRB=/sys/fs/bpf/$P-b
ETCD_URL=https://127.0.0.1:23790
# etcd as in production (doc/fleet.md "etcd security"): TLS with client certificates, auth on,
# ebbd as user ebb limited to /ebb/$FLEET/; the CA and certificates made here with openssl
PKI=$TMP/pki
ETCD_SECURE=$ROOT/tools/fleet/etcd-secure
FLEET=t$$
TTL=${TTL:-3}
VIP=203.0.113.10:80/tcp VIPU=203.0.113.10:5353/udp
N1=198.51.100.10 N2=198.51.100.11
MAC1=02:00:00:00:00:0a MAC2=02:00:00:00:00:0b
etcd_pid= ebbd_a= ebbd_b=
n_ok=0 n_fail=0

ok() { n_ok=$((n_ok + 1)); echo "ok - $*"; }
not_ok() { n_fail=$((n_fail + 1)); echo "not ok - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
note() { echo "# $*"; }
bail() { not_ok "$1"; echo "Bail out! $1"; exit 1; }
finish() { echo "# $n_ok passed, $n_fail failed"; [ "$n_fail" -eq 0 ]; }

cleanup() {
	local pid
	for pid in $ebbd_a $ebbd_b $etcd_pid $(jobs -p); do kill -9 "$pid" 2>/dev/null; done
	wait 2>/dev/null
	if [ "$n_fail" -gt 0 ]; then # keep the daemons' logs of a failed run
		mkdir -p "$OUT/test-logs"
		for f in "$TMP"/*.log; do [ -f "$f" ] && cp "$f" "$OUT/test-logs/$P-${f##*/}"; done
		echo "# logs kept in $OUT/test-logs/$P-*.log"
	fi
	rm -f "$DIRA"/link_* "$DIRB"/link_* 2>/dev/null
	for ns in "$CORE" "$P-ca" "$P-cb"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$DIRA" "$DIRB" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_core() { nsenter --net="/run/netns/$CORE" -- "$@"; }
ctl_a() { in_core "$CTL" --bpffs "$DIRA" "$@"; }
ctl_b() { in_core "$CTL" --bpffs "$DIRB" "$@"; }
# etcdctl_ ARGS...: etcdctl as etcd's root user (the password through the environment)
etcdctl_() {
	ETCDCTL_USER="root:$(cat "$PKI/root.password")" in_core env ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URL" \
		--cacert="$PKI/ca.pem" --cert="$PKI/root.pem" --key="$PKI/root-key.pem" \
		--dial-timeout=1s --command-timeout=2s "$@"
}
make_pki() { [ -f "$PKI/ca.pem" ] || "$ETCD_SECURE" certs "$PKI" 127.0.0.1 || bail "cannot make etcd certificates"; }
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
. "$ROOT/tests/integration/lib_wait.sh"

# start_etcd: etcd on its data; the first time, auth is enabled once it answers
start_etcd() {
	make_pki
	# shellcheck disable=SC2046  # the flags are words
	nsenter --net="/run/netns/$CORE" -- etcd --name m1 --data-dir "$TMP/etcd" --listen-client-urls "$ETCD_URL" \
		--advertise-client-urls "$ETCD_URL" --listen-peer-urls https://127.0.0.1:23800 \
		--initial-advertise-peer-urls https://127.0.0.1:23800 \
		--initial-cluster m1=https://127.0.0.1:23800 $("$ETCD_SECURE" etcd-flags "$PKI") \
		--log-level error >>"$TMP/etcd.log" 2>&1 &
	etcd_pid=$!
	wait_for 100 etcdctl_ endpoint health >/dev/null 2>&1 || return 1
	[ -f "$TMP/etcd-auth" ] && return 0
	in_core "$ETCD_SECURE" auth "$PKI" "$FLEET" "$ETCD_URL" && : >"$TMP/etcd-auth"
}
stop_etcd() { kill -9 "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null; etcd_pid=; }

# metrics_addr HOST: where HOST's ebbd serves /metrics and its status page: none unless the
# suite set CORE_METRICS=1 (ports of the lab's own namespace, so nothing can collide)
metrics_addr() { [ "${CORE_METRICS:-0}" = 1 ] && case $1 in lba) echo 127.0.0.1:19477 ;; lbb) echo 127.0.0.1:19478 ;; esac; }
# conf HOST: host HOST's ebbd configuration
conf() {
	make_pki
	cat >"$TMP/ebbd-$1.conf" <<CONF
metrics = "$(metrics_addr "$1")";
drain-check = 0.1;
interval = 0.5;
fleet = {
  name = "$FLEET";
  host = "$1";
  etcd = ["$ETCD_URL"];
  etcd-ca = "$PKI/ca.pem";
  etcd-cert = "$PKI/ebb.pem";
  etcd-key = "$PKI/ebb-key.pem";
  etcd-user = "ebb";
  etcd-password-file = "$PKI/ebb.password";
  lease-ttl = $TTL;
};
CONF
}
# (nsenter itself, not a shell function, in the background: $! is then ebbd's own pid)
start_a() { nsenter --net="/run/netns/$CORE" -- "$EBBD" --bpffs "$DIRA" --config "$TMP/ebbd-lba.conf" 2>>"$TMP/ebbd-lba.log" & ebbd_a=$!; }
start_b() { nsenter --net="/run/netns/$CORE" -- "$EBBD" --bpffs "$DIRB" --config "$TMP/ebbd-lbb.conf" 2>>"$TMP/ebbd-lbb.log" & ebbd_b=$!; }

# fleet_setup: namespaces, veths, ebb attached on both hosts, etcd, both ebbd running
fleet_setup() {
	[ "$(id -u)" -eq 0 ] || bail "needs root"
	[ -x "$CTL" ] && [ -x "$EBBD" ] || bail "no $CTL or $EBBD: run make first"
	command -v etcd >/dev/null || bail "no etcd (Debian etcd-server)"
	ip netns add "$CORE" && ip netns add "$P-ca" && ip netns add "$P-cb" || bail "cannot create namespaces"
	ip -n "$CORE" link set lo up
	local h c addr peer i=0
	for h in a b; do
		c=$P-c$h
		addr=198.51.100.$((1 + 4 * i)) peer=198.51.100.$((2 + 4 * i))
		ip -n "$CORE" link add "lb$h" type veth peer name eth0 netns "$c" || bail "veth"
		ip -n "$CORE" addr add "$addr/30" dev "lb$h"
		ip -n "$CORE" link set "lb$h" up
		ip -n "$c" link set lo up
		ip -n "$c" addr add "$peer/30" dev eth0
		ip -n "$c" link set eth0 up
		ip -n "$c" route add 203.0.113.0/24 via "$addr"
		i=$((i + 1))
	done
	ctl_a prog attach dev lba >/dev/null || bail "prog attach on A"
	ctl_b prog attach dev lbb >/dev/null || bail "prog attach on B"
	start_etcd || bail "etcd does not start (see $TMP/etcd.log)"
	conf lba
	conf lbb
	start_a
	start_b
	wait_for 50 in_core test -e "$DIRA/fleet" && wait_for 50 in_core test -e "$DIRB/fleet" ||
		bail "ebbd left no fleet marker"
	wait_for 50 hosts_live 2 || bail "both hosts report to etcd"
}

# hosts_live N: N hosts are live (under their lease) in fleet show
hosts_live() { [ "$(ctl_a -j fleet show 2>/dev/null | json_get 'sum(h["status"] != "unreachable" for h in d["hosts"])' 2>/dev/null)" = "$1" ]; }
leader() { ctl_a -j fleet show 2>/dev/null | json_get 'd["leader"]' 2>/dev/null; }
# node_state CTL NODE: the node's state in that host's maps
node_state() { "$1" -j node show "$2" 2>/dev/null | json_get 'd[0]["state"]' 2>/dev/null; }
node_fwd() { "$1" -j stats show node "$2" 2>/dev/null | json_get 'd["nodes"]["'"$2"'"]["packets"]' 2>/dev/null; }
# udp_flows HOST N SECONDS: N UDP flows from HOST's client (a or b) to $VIPU, one datagram
# each every 0.3 s for SECONDS (in the background, its pid in udp_pid): flows that stay live
# while it runs
udp_flows() {
	ip netns exec "$P-c$1" python3 -c '
import socket, sys, time
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(int(sys.argv[1]))]
end = time.time() + float(sys.argv[2])
while time.time() < end:
    for s in socks:
        s.sendto(b"x", ("203.0.113.10", 5353))
    time.sleep(0.3)
' "$2" "$3" &
	udp_pid=$!
}
# syn HOST PORT: a TCP connection attempt from host HOST's client (a or b) to the VIP
syn() { ip netns exec "$P-c$1" timeout 0.3 bash -c "exec 3<>/dev/tcp/203.0.113.10/80" 2>/dev/null; true; }
