# shellcheck shell=bash
# Shared by the fleet suites (test_fleet_*.sh); source it after lib.sh. A private fleet lab
# (tools/lab up --fleet: router with BIRD and ECMP, LB hosts lb1..lb3 each with ebb + BIRD, a
# 3-member etcd, nginx nodes n1..nN, a client behind the router), torn down on exit, also on
# failure: lab_teardown kills the suite's own jobs (wrk, curl loops), then `tools/lab down`
# kills every process left in the lab's namespaces (ebbd, bird, etcd, nginx) and deletes them.
EBBD=$OUTPUT/ebbd
VIP4=203.0.113.10:80/tcp VIP6='[2001:db8:100::10]:80/tcp'
URL4=http://203.0.113.10/ URL6='http://[2001:db8:100::10]/'

# fleet_setup NODES: the fleet lab; every LB host has ebb attached to eth0 (native XDP) and
# announces nothing yet.
fleet_setup() {
	trap lab_teardown EXIT
	trap 'exit 130' INT TERM
	if ! "$LAB" up --fleet --prefix "$PFX" --nodes "$1" >"$TMP/lab-up.log" 2>&1; then
		sed 's/^/# /' "$TMP/lab-up.log"
		not_ok "lab up --fleet"
		exit 1
	fi
	# shellcheck disable=SC1090
	. "/run/ebb-lab/$PFX/env"
}

v() { eval "echo \"\$$1_$2\""; }            # v NAME I: the env variable NAME_I
lbctl() { local i=$1; shift; nsenter --net="/run/netns/$(v LB_NS "$i")" "$EBBCTL" --bpffs "$(v LB_BPFFS "$i")" "$@"; }
rtbirdc() { birdc -s "$ROUTER_BIRD_SOCK" "$@"; }

# configure_all: the same VIPs (v4 and v6) and nodes on every LB host through its own ebbctl
# (what a fleet does through etcd), so every host builds the same Maglev tables.
configure_all() {
	local i n
	for ((i = 1; i <= LBS; i++)); do
		lbctl "$i" vip add "$VIP4" fin-timeout 1 "$@" || return 1
		lbctl "$i" vip add "$VIP6" fin-timeout 1 "$@" || return 1
		for ((n = 1; n <= NODES; n++)); do
			lbctl "$i" node add "$(node_ip4 "$n")" vip "$VIP4" || return 1
			lbctl "$i" node add "$(node_ip6 "$n")" vip "$VIP6" || return 1
		done
	done
}

# announce I / withdraw I: LB host I's BIRD announces the VIP addresses (or nothing), as ebbd
# does in fleet mode: the two include files, then `birdc configure`.
announce() {
	local dir
	dir=$(v LB_DIR "$1")
	echo 'route 203.0.113.10/32 blackhole;' >"$dir/ebb-vips4.conf"
	echo 'route 2001:db8:100::10/128 blackhole;' >"$dir/ebb-vips6.conf"
	birdc -s "$(v LB_BIRD_SOCK "$1")" configure >/dev/null
}
withdraw() {
	local dir
	dir=$(v LB_DIR "$1")
	: >"$dir/ebb-vips4.conf"
	: >"$dir/ebb-vips6.conf"
	birdc -s "$(v LB_BIRD_SOCK "$1")" configure >/dev/null
}

# nexthops [ADDR]: the LB hosts (last octet of each next hop, e.g. "21 22 23") the router's
# multipath route to ADDR (default the IPv4 VIP) points to.
nexthops() {
	ip -n "$NS_RT" route show "${1:-203.0.113.10}" |
		sed -nE 's/.*via 198\.51\.100\.([0-9]+) .*/\1/p' | sort | tr '\n' ' ' | sed 's/ $//'
}
nexthops6() {
	ip -n "$NS_RT" -6 route show 2001:db8:100::10 |
		sed -nE 's/.*via 2001:db8::([0-9a-f]+) .*/\1/p' | sort | tr '\n' ' ' | sed 's/ $//'
}
# wait_nexthops TRIES WANT: polls every 10 ms until the IPv4 VIP's next hops are WANT.
wait_nexthops() {
	local tries=$1 want=$2
	for _ in $(seq "$tries"); do [ "$(nexthops)" = "$want" ] && return 0; sleep 0.01; done
	return 1
}

# vip_packets I: packets LB host I's datapath has forwarded for the IPv4 VIP; also
# second_chance I, new_flows I.
vip_stat() { lbctl "$1" -j stats show | json_get "d['vips']['$VIP4']['$2']"; }
vip_packets() { vip_stat "$1" packets; }

# kill_lb_host I: LB host I dies as a machine does: its link goes down (the router hears
# nothing more from it: no BGP notification, no FIN; BFD or the hold timer must notice) and its
# BIRD and ebbd are SIGKILLed. The datapath is stopped by the link, the pins stay.
kill_lb_host() {
	local dir pidf pid
	dir=$(v LB_DIR "$1")
	ip -n "$(v LB_NS "$1")" link set eth0 down
	for pidf in "$dir/bird.pid" "$dir/ebbd.pid"; do
		[ -f "$pidf" ] || continue
		pid=$(cat "$pidf")
		[[ $pid =~ ^[0-9]+$ ]] && kill -9 "$pid" 2>/dev/null
	done
	return 0
}

# ms: milliseconds since the epoch.
ms() { echo $(($(date +%s%N) / 1000000)); }

# node_conns_after N TIME: new connections node N's nginx took after TIME (from its log).
node_new_conns_after() { conns_around "$1" "$2" | awk '{print $3}'; }

# wrk_bg OUT CONNS [URL]: wrk from the client in the background (pid in wrk_pid) with CONNS
# keep-alive connections, each pausing 20 ms between requests: steady flows that leave the two
# cores room for the control plane; stopped by wrk_stop (SIGINT: wrk prints its summary).
echo 'function delay() return 20 end' >"$TMP/pace.lua"
wrk_bg() {
	# nsenter execs wrk: $! is wrk's own pid (through a function it would be a subshell's).
	nsenter --net="/run/netns/${PFX}client" wrk -t2 -c"$2" -d600s --latency --timeout 2s \
		-s "$TMP/pace.lua" "${3:-$URL4}" >"$1" 2>&1 &
	wrk_pid=$!
}
wrk_stop() {
	kill -INT "$wrk_pid" 2>/dev/null
	wait "$wrk_pid" 2>/dev/null
}
# wrk_maxlat FILE: the longest request wrk saw (its "Max" latency column).
wrk_maxlat() { sed -nE 's/^ +Latency +[^ ]+ +[^ ]+ +([^ ]+).*/\1/p' "$1"; }

# ---------------------------------------------------------------------------------------------
# Fleet mode: ebbd on every LB host with the lab's fleet block (TEAM.md contract), the desired
# state in the lab's 3-member etcd, writes through any host's ebbctl.

# fleet_supported: true when this build's ebbd takes a `fleet` block and ebbctl has `fleet`.
# The suites mark every scenario SKIP (with the reason) when it does not, never as passed.
fleet_supported() {
	local conf=$TMP/fleet-check.conf
	printf 'fleet = { name = "x"; host = "h"; etcd = ["https://198.51.100.201:2379"]; lease-ttl = 5; };\n' >"$conf"
	"$EBBD" --check "$conf" >/dev/null 2>&1 && "$EBBCTL" fleet help >/dev/null 2>&1
}

# skip_all REASON DESCRIPTION...: one "ok - # SKIP" line per scenario, then exit.
skip_all() {
	local why=$1 d
	shift
	for d in "$@"; do echo "ok - $d # SKIP $why"; done
	echo "# 0 passed, 0 failed ($# skipped: $why)"
	exit 0
}

# fleet_up NODES [ADD]: the fleet lab with NODES nginx nodes and ebbd running on every host
# (LAB_UP_OPTS and NODE_ADD_OPTS add words to `lab up` and to each `node add`)
# (tools/lab up --fleet --ebbd), then the VIP and nodes n1..nADD (default all) written once,
# through lb1, into the fleet's state: every host builds the same tables and announces the VIP.
fleet_up() {
	trap lab_teardown EXIT
	trap 'exit 130' INT TERM
	# shellcheck disable=SC2086 # LAB_UP_OPTS: extra words for `lab up` (e.g. --node-prog)
	if ! "$LAB" up --fleet --ebbd --prefix "$PFX" --nodes "$1" ${LAB_UP_OPTS:-} >"$TMP/lab-up.log" 2>&1; then
		sed 's/^/# /' "$TMP/lab-up.log"
		not_ok "lab up --fleet --ebbd"
		exit 1
	fi
	# shellcheck disable=SC1090
	. "/run/ebb-lab/$PFX/env"
	local n ok_w=1 i joined=""
	# Before an ebbd joins, an ebbctl write lands in its host's own maps and its first apply
	# replaces it (CI: the VIP written below vanished, "no VIP" for each node add).
	for ((i = 1; i <= LBS; i++)); do
		grep -q '"event":"fleet_announce"' "$STATE_DIR/lb$i/ebbd.log" && joined+=" lb$i"
	done
	check "lab up returns once every host's ebbd joined the fleet:${joined:- none}" \
		[ "$joined" = "$(for ((i = 1; i <= LBS; i++)); do printf ' lb%s' "$i"; done)" ]
	lbctl 1 vip add "$VIP4" fin-timeout 1 >/dev/null || ok_w=0
	for ((n = 1; n <= ${2:-$NODES}; n++)); do
		# shellcheck disable=SC2086 # NODE_ADD_OPTS: extra words for `node add` (node-prog)
		lbctl 1 node add "$(node_ip4 "$n")" vip "$VIP4" ${NODE_ADD_OPTS:-} >/dev/null || ok_w=0
	done
	check "VIPs and nodes written once, on lb1, applied by every host" [ "$ok_w" = 1 ]
	wait_nexthops 1000 "21 22 23"
	check "every host announces the VIP: router's route over $(nexthops)" [ "$(nexthops)" = "21 22 23" ]
}

ebbd_log() { echo "$(v LB_DIR "$1")/ebbd.log"; }
ebbd_pid() { cat "$(v LB_DIR "$1")/ebbd.pid"; }
# kill_ebbd I: SIGKILL LB host I's ebbd (nothing else of the host).
kill_ebbd() { kill -9 "$(ebbd_pid "$1")" 2>/dev/null; }
restart_ebbd() { "$(v LB_DIR "$1")/ebbd-start"; }

# fleet_get I EXPR: EXPR over `ebbctl -j fleet show` on host I (as d); host(d, NAME) is that
# host's entry.
fleet_get() {
	lbctl "$1" -j fleet show 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
def host(d, name):
    return ([h for h in d['hosts'] if h['host'] == name] or [{}])[0]
print($2)"
}
leader_of() { fleet_get "$1" 'd.get("leader") or ""'; }

# node_state I NODE: NODE's state as host I's ebbctl reports it.
node_state() { lbctl "$1" -j node show "$2" | json_get 'd[0]["state"]'; }

# fevents I NAME [KEY=VALUE...]: host I's ebbd log lines of that event.
fevents() {
	local i=$1
	shift
	log_events "$(ebbd_log "$i")" "$@"
}

# curl_loop OUT: a new connection every ~50 ms from the client, "TIME ANSWER" a line (FAIL when
# none), until killed; pid in curl_pid.
curl_loop() {
	(
		while :; do
			printf '%s %s\n' "$(date +%s.%N)" "$(on client curl -s -m 3 "$URL4" || echo FAIL)"
			sleep 0.05
		done
	) >"$1" &
	curl_pid=$!
}
curl_stop() { kill "$curl_pid" 2>/dev/null; wait "$curl_pid" 2>/dev/null; }

# wrk_check FILE WHAT: the usual three checks on a wrk summary, one line of figures.
wrk_check() {
	local sock non2xx reqs
	read -r sock non2xx reqs < <(wrk_errors "$1")
	note "wrk ($2): $reqs requests, $sock socket errors, $non2xx non-2xx, max latency $(wrk_maxlat "$1")"
	check "wrk ($2): requests were served ($reqs)" [ "$reqs" -gt 500 ]
	check "wrk ($2): 0 socket errors ($sock)" [ "$sock" -eq 0 ]
	check "wrk ($2): 0 non-2xx ($non2xx)" [ "$non2xx" -eq 0 ]
}

. "$(dirname "${BASH_SOURCE[0]}")/lib_wait.sh"
# within SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds or SECONDS have passed
# (wall clock: a loaded machine makes each try slower, not the wait longer). Its status.
within() {
	local end=$(($(ms) + $1 * 1000))
	shift
	while :; do
		"$@" && return 0
		[ "$(ms)" -lt "$end" ] || { gave_up "within $*"; return 1; }
		sleep 0.1
	done
}
# is_state I NODE STATE; leader_is_not I HOST; host_lag0 I HOST
is_state() { [ "$(node_state "$1" "$2")" = "$3" ]; }
leader_is_not() { local l; l=$(leader_of "$1"); [ -n "$l" ] && [ "$l" != "$2" ]; }
host_lag0() { [ "$(fleet_get "$1" 'host(d, "'"$2"'").get("lag", -1)')" = 0 ]; }
# restarted_in_step ASK I: as host ASK reads etcd, lbI's report is its running ebbd's (a restarted
# ebbd's predecessor's report stays until the new one writes its own) and it applied the fleet's
# revision
restarted_in_step() { [ "$(fleet_get "$1" "host(d, 'lb$2').get('pid')")" = "$(ebbd_pid "$2")" ] && host_lag0 "$1" "lb$2"; }

# etcdctl_ ARGS...: etcdctl as etcd's root user against the lab's cluster (TLS with the lab's
# client certificate; from etcd member e1's namespace; the password through the environment).
etcdctl_() {
	ETCDCTL_USER="root:$(cat "$ETCD_ROOT_PASSWORD_FILE")" on e1 env ETCDCTL_API=3 etcdctl \
		--endpoints "$ETCD_ENDPOINTS" --cacert "$ETCD_CA" --cert "$ETCD_ROOT_CERT" --key "$ETCD_ROOT_KEY" \
		--dial-timeout 1s --command-timeout 2s "$@"
}
# host_lease_gone HOST: HOST's report under its lease (/ebb/<fleet>/hosts/HOST) is gone from
# etcd, i.e. its lease expired (doc/fleet.md's key layout).
host_lease_gone() {
	local out
	out=$(etcdctl_ get --keys-only "/ebb/$FLEET_NAME/hosts/$1") || return 1
	[ -z "$out" ]
}

# ---------------------------------------------------------------------------------------------
# Verified drains in the fleet (issue 14): the nodes run the node program (fleet_up with
# LAB_UP_OPTS=--node-prog NODE_ADD_OPTS=node-prog) and every host's ebbd asks them for their own
# count of their connections.

# fleet_save_logs: after a failed check, every host's ebbd log kept beside the suite's own
# (OUTPUT/test-logs/SUITE-lbI-ebbd.log), since lab_teardown removes the lab's state.
fleet_save_logs() {
	local i base
	[ "$n_fail" -gt 0 ] && [ -n "${STATE_DIR:-}" ] || return 0
	base=$OUTPUT/test-logs/$(basename "$0" .sh)
	mkdir -p "$OUTPUT/test-logs"
	for ((i = 1; i <= ${LBS:-0}; i++)); do cp "$STATE_DIR/lb$i/ebbd.log" "$base-lb$i-ebbd.log" 2>/dev/null; done
	return 0
}

# fleet_truth_on: a pool over the IPv4 VIP with the nodes' signed counts (lib.sh's
# node_truth_conf) appended to every host's ebbd configuration, as tools/demo-fleet.sh does, and
# a SIGHUP; waits until each ebbd logged the reload (its restarts read the same file).
fleet_truth_on() {
	local i
	node_truth_setup
	for ((i = 1; i <= LBS; i++)); do
		printf 'pools = ( {\n  name = "web";\n  vips = ["%s"];\n  %s} );\n' "$VIP4" "$(node_truth_conf)" \
			>>"$(v LB_EBBD_CONF "$i")"
		kill -HUP "$(ebbd_pid "$i")"
	done
	for ((i = 1; i <= LBS; i++)); do
		within 20 has_fevent "$i" reloaded || return 1
	done
}
has_fevent() { [ -n "$(fevents "$@")" ]; }

# node_live I NODE: the node's own live count as host I's ebbd last read it for NODE's drain
# (`node show`'s node_live_connections: set only while the drain is verified), "None" else.
node_live() { lbctl "$1" -j node show "$2" | json_get 'd[0].get("node_live_connections")'; }
node_live_is() { [ "$(node_live "$1" "$2")" = "$3" ]; }

# drained_events NODE: every host's `drained` events of NODE (one JSON line each, "_host" added).
drained_events() {
	local i
	for ((i = 1; i <= LBS; i++)); do fevents "$i" drained node="$1" | sed "s/^{/{\"_host\": \"lb$i\", /"; done
}
has_retired() { [ -n "$(drained_events "$1")" ]; }

# verified_retirement NODE CLOSED_AT: NODE retires once the client closed its last connection at
# CLOSED_AT (epoch s): a drained event on some host, verified by the node's own count, flows_cut
# 0 (flows_ended), after the close and within 20 s of it (the node's count is read every 0.5 s,
# hosts report every second; an entry another host still lists, or a timeout, would take far
# longer), NODE inactive on every host. Sets ev (the event, "_host" added), by (its host) and
# after (seconds after the close).
verified_retirement() {
	local node=$1 closed=$2 i st ts
	within 45 has_retired "$node"
	ev=$(drained_events "$node" | head -n 1)
	note "drained: $ev"
	[ -n "$ev" ] || for ((i = 1; i <= LBS; i++)); do note "lb$i: $(fevents "$i" fleet_retire_blocked node="$node" | tail -n 1)"; done
	check "$node retired (a drained event)" [ -n "$ev" ]
	ev=${ev:-'{}'}
	by=$(echo "$ev" | json_get 'd.get("_host", "?")' 2>/dev/null)
	check "the drained event is verified, by $node's own count ($(echo "$ev" | json_get 'd.get("verified")'))" \
		[ "$(echo "$ev" | json_get 'd.get("verified")')" = True ]
	check "flows_cut 0 ($(echo "$ev" | json_get 'd.get("flows_cut")'); reason $(echo "$ev" | json_get 'd.get("reason")'))" \
		[ "$(echo "$ev" | json_get 'd.get("flows_cut")')" = 0 -a "$(echo "$ev" | json_get 'd.get("reason")')" = flows_ended ]
	ts=$(echo "$ev" | json_get 'd.get("ts", 0)')
	after=$(python3 -c "print('%.2f' % ($ts - ${closed:-0}))")
	check "retired $after s after the client closed $node's last connection: after it, not at an idle timeout (< 20 s)" \
		python3 -c "import sys; sys.exit(not (0 < $ts - ${closed:-0} < 20))"
	for ((i = 1; i <= LBS; i++)); do
		within 15 is_state "$i" "$node" inactive
		st=$(node_state "$i" "$node")
		check "lb$i: $node inactive ($st)" [ "$st" = inactive ]
	done
}

# keep.py VIP PORT NODE COUNT: opens connections until COUNT of them (by nginx's answer) are on
# NODE, closes the others, prints "ready NODE=COUNT ports=P,... pid=PID" and holds them idle.
# SIGUSR1: one more request on each, "answered NODE=K/COUNT errors=E" (an answer from NODE with
# 200 counts; a reset or another node is an error). SIGTERM: closes them all (FIN), "closed T"
# (T: epoch seconds, after the last close), exits.
cat >"$TMP/keep.py" <<'PY'
import os, signal, socket, sys, time
from http_keepalive import request
vip, port, node, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
held = []
for _ in range(300):
    if len(held) >= count:
        break
    s = socket.create_connection((vip, port), timeout=3)
    status, who = request(s)
    if who == node and status == "200":
        held.append(s)
    else:
        s.close()
ports = ",".join(str(s.getsockname()[1]) for s in held)
print("ready %s=%d ports=%s pid=%d" % (node, len(held), ports, os.getpid()), flush=True)
todo = []
signal.signal(signal.SIGUSR1, lambda *_: todo.append("ask"))
signal.signal(signal.SIGTERM, lambda *_: todo.append("close"))
while True:
    while not todo:
        time.sleep(0.05)
    what = todo.pop(0)
    if what == "ask":
        ok = errors = 0
        for s in held:
            try:
                status, who = request(s)
                ok += status == "200" and who == node
                errors += not (status == "200" and who == node)
            except Exception as e:
                errors += 1
                print("error %s %s" % (s.getsockname()[1], e), flush=True)
        print("answered %s=%d/%d errors=%d" % (node, ok, len(held), errors), flush=True)
    else:
        for s in held:
            s.close()
        print("closed %.6f" % time.time(), flush=True)
        sys.exit(0)
PY
# keep OUT NODE COUNT: keep.py from the client to the IPv4 VIP in the background (stopped by
# lab_teardown), its output in OUT, its pid (from its "ready" line) in keep_pid; waits for
# "ready" (30 s at most).
keep() {
	nsenter --net="/run/netns/${PFX}client" python3 "$TMP/keep.py" 203.0.113.10 80 "$2" "$3" >"$1" 2>&1 &
	within 30 grep -q '^ready' "$1" || return 1
	keep_pid=$(sed -nE 's/^ready .* pid=([0-9]+)$/\1/p' "$1")
}
lines_more() { [ "$(grep -c "$2" "$1")" -gt "$3" ]; }
# keep_ask OUT: one request on each held connection; waits for the "answered" line (30 s).
keep_ask() {
	local n
	n=$(grep -c '^answered' "$1")
	kill -USR1 "$keep_pid"
	within 30 lines_more "$1" '^answered' "$n"
}
# keep_close OUT: closes the held connections; waits for "closed T" (30 s), prints T.
keep_close() {
	kill -TERM "$keep_pid"
	within 30 grep -q '^closed' "$1"
	sed -n 's/^closed //p' "$1"
}
