# Shared by the integration suites: a private lab, ebbctl inside its LB namespace, TAP output.
# Source it, call lab_setup N; everything is torn down on exit, also on failure.
set -u
EBB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUTPUT=${OUTPUT:-.output}
case "$OUTPUT" in /*) ;; *) OUTPUT=$EBB_ROOT/$OUTPUT ;; esac
export EBB_OUTPUT=$OUTPUT
EBBCTL=$OUTPUT/ebbctl
LAB=$EBB_ROOT/tools/lab
PFX=${PFX:-t$$-}
BPFFS=/sys/fs/bpf/ebb-${PFX%-}
TMP=$(mktemp -d /tmp/ebb-test.XXXXXX)
# the scripts suites write import the shared HTTP client (http_keepalive.py) from here
export PYTHONPATH=$EBB_ROOT/tests/integration${PYTHONPATH:+:$PYTHONPATH}
n_ok=0 n_fail=0

ok() { n_ok=$((n_ok + 1)); echo "ok - $*"; }
not_ok() { n_fail=$((n_fail + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: one TAP line from a command's exit status.
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
note() { echo "# $*"; }

lab_teardown() {
	local pid
	for pid in $(jobs -p); do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	"$LAB" down --prefix "$PFX" >/dev/null 2>&1
	rm -rf "$BPFFS" "$TMP"
}

finish() {
	echo "# $n_ok passed, $n_fail failed"
	[ "$n_fail" -eq 0 ]
}

# lab_setup NODES: the lab, ebb attached to the LB's eth0, EBB state under a private bpffs dir.
lab_setup() {
	trap lab_teardown EXIT
	trap 'exit 130' INT TERM
	# shellcheck disable=SC2086 # LAB_UP_OPTS: extra words for `lab up` (e.g. --node-prog)
	if ! "$LAB" up --prefix "$PFX" --nodes "$1" --fwd "${LAB_FWD:-dsr}" ${LAB_UP_OPTS:-} >"$TMP/lab-up.log" 2>&1; then
		cat "$TMP/lab-up.log" | sed 's/^/# /'
		not_ok "lab up"
		exit 1
	fi
	# shellcheck disable=SC1090
	. "/run/ebb-lab/$PFX/env"
	if ! ctl prog attach dev eth0; then
		not_ok "ebbctl prog attach dev eth0"
		exit 1
	fi
}

ctl() { nsenter --net="/run/netns/${PFX}lb" "$EBBCTL" --bpffs "$BPFFS" "$@"; }
on() { local role=$1; shift; nsenter --net="/run/netns/${PFX}$role" "$@"; }
node_ip4() { eval "echo \$NODE_IP4_$1"; }
node_ip6() { eval "echo \$NODE_IP6_$1"; }
access_log() { echo "/run/ebb-lab/$PFX/n$1/access.log"; }

# Verified drains in a lab whose nodes run the node program (LAB_UP_OPTS=--node-prog): a key and
# $TMP/truth.sh NODE NONCE, which reads a node's signed count of its connections in the node's
# namespace (in production: ssh or HTTP to the node, doc/node-truth.md). node_truth_conf prints
# the settings to put in an ebbd pool. Call after the lab is up (it names the lab's nodes).
node_truth_setup() {
	local i ip cases=""
	head -c 32 /dev/urandom >"$TMP/node.key" && chmod 600 "$TMP/node.key"
	for ((i = 1; ; i++)); do
		eval "ip=\${NODE_IP4_$i:-}"
		[ -n "$ip" ] || break
		cases+="$ip|$(node_ip6 "$i")) ns=${PFX}n$i ;;"$'\n'
	done
	cat >"$TMP/truth.sh" <<SH
#!/bin/sh
case \$1 in
$cases*) exit 3 ;;
esac
exec nsenter --net="/run/netns/\$ns" "$EBBCTL" --bpffs "/sys/fs/bpf/ebb-lab-\$ns" -j backend conns key "$TMP/node.key" nonce "\$2"
SH
	chmod +x "$TMP/truth.sh"
}
node_truth_conf() {
	printf 'truth = ["%s", "{node}", "{nonce}"];\n  truth-key = "%s";\n  truth-interval = 0.5;\n' \
		"$TMP/truth.sh" "$TMP/node.key"
}

# log_events FILE NAME [KEY=VALUE...]: an ebbd log's JSON lines of that event, filtered by fields.
log_events() {
	local file=$1
	shift
	python3 - "$file" "$@" <<'PY'
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[3:])
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == sys.argv[2] and all(str(e.get(k)) == v for k, v in want.items()):
        print(json.dumps(e))
PY
}

# json_get EXPR: evaluates a python expression over the JSON document on stdin (as `d`).
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# conns_around NODE TIME [VIP_ADDR]: from node NODE's nginx log, requests to VIP_ADDR
# (default 203.0.113.10) split at TIME (epoch seconds): prints "connections before, requests
# after, connections after that were not there before" — what says whether a node took a new
# connection after a drain or an upgrade.
conns_around() {
	python3 - "$(access_log "$1")" "$2" "${3:-203.0.113.10}" <<'PY'
import sys
before, after, served_after = set(), set(), 0
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 7 or f[6] != sys.argv[3]:
        continue
    if float(f[0]) < float(sys.argv[2]):
        before.add(f[1])
    else:
        served_after += 1
        after.add(f[1])
print(len(before), served_after, len(after - before))
PY
}

# wrk_errors FILE: errors and counts from wrk's summary (0 when wrk printed no such line).
wrk_errors() {
	python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
sock = sum(map(int, m.groups())) if m else 0
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
non2xx = int(m.group(1)) if m else 0
m = re.search(r"(\d+) requests in", text)
reqs = int(m.group(1)) if m else 0
print(sock, non2xx, reqs)
PY
}
