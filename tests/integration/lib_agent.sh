# shellcheck shell=bash
# Shared by the ebbd suites (test_agent_*.sh); source it after lib.sh. ebbd runs in the LB
# namespace on the lab's state, configured by $TMP/ebbd.conf (the suite writes it), logging one
# JSON object a line to $LOG; hooks written with hook_script append a line each to $HOOKS.
EBBD=$OUTPUT/ebbd
LOG=$TMP/ebbd.log HOOKS=$TMP/hooks.log

# start_ebbd [ARGS]: ebbd (with ARGS) in the background (stopped by lab_teardown), its pid in ebbd_pid, its log
# appended to $LOG (a second ebbd adds to the first one's).
start_ebbd() {
	nsenter --net="/run/netns/${PFX}lb" "$EBBD" --bpffs "$BPFFS" --config "$TMP/ebbd.conf" "$@" 2>>"$LOG" &
	# shellcheck disable=SC2034 # for the suite
	ebbd_pid=$!
}

# events NAME [KEY=VALUE...]: ebbd's log lines of that event (JSON), filtered by fields.
events() {
	log_events "$LOG" "$@"
}
# has_event NAME [KEY=VALUE...]: true once ebbd has logged such an event.
has_event() { [ -n "$(events "$@")" ]; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }

# truth_pool VIP [SETTING...]: ebbd's `pools`, one pool "web" over VIP with the SETTING lines and
# truth_settings, so its drains are judged by the nodes' own counts (call node_truth_setup first).
truth_pool() {
	local vip=$1 s
	shift
	printf 'pools = ( {\n  name = "web";\n  vips = ["%s"];\n' "$vip"
	for s; do printf '  %s\n' "$s"; done
	truth_settings
	echo '} );'
}
# truth_settings: a pool's settings that read the nodes' counts (lib.sh's node_truth_conf), with
# truth-timeout 30: a read takes seconds on a loaded machine, and it must not fail for that.
truth_settings() { printf '  %s\n  truth-timeout = 30;\n' "$(node_truth_conf)"; }

# wait_for, holds (lib_wait.sh)
. "$(dirname "${BASH_SOURCE[0]}")/lib_wait.sh"

# hook_script LINE: $TMP/hook.sh, a hook that appends LINE to $HOOKS. The hook's shell expands
# LINE, so its \$EBB_EVENT and the like (escaped by the caller) are the event's.
hook_script() {
	printf '#!/bin/sh\necho "%s" >>"%s"\n' "$1" "$HOOKS" >"$TMP/hook.sh"
	chmod +x "$TMP/hook.sh"
}

# chrome ARGS...: headless Chromium in the LB namespace, where ebbd's status page listens, with a
# profile of its own each run; 90 s at most, its stderr appended to $TMP/chrome.err.
chrome() {
	local prof
	prof=$(mktemp -d "$TMP/chrome.XXXXXX")
	timeout 90 nsenter --net="/run/netns/${PFX}lb" chromium --headless --no-sandbox --disable-gpu \
		--disable-quic --no-first-run --disable-background-networking --disable-component-update \
		--disable-sync --disable-dev-shm-usage --user-data-dir="$prof" "$@" 2>>"$TMP/chrome.err"
}
# status_dom NAME: the status page (http://$METRICS/) as Chromium rendered it, in $TMP/NAME.html,
# and dom.py's reading of that DOM (JSON: node rows, VIP table, drains, changes...) in
# $TMP/NAME.json.
status_dom() {
	chrome --dump-dom "http://$METRICS/" >"$TMP/$1.html" &&
		python3 "$EBB_ROOT/tests/integration/dom.py" "$TMP/$1.html" >"$TMP/$1.json"
}
# dom_holds NAME PYEXPR: PYEXPR holds for d, the DOM status_dom NAME read.
dom_holds() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$TMP/$1.json" "$2" 2>/dev/null; }

# nginx_dir N: node N's nginx (its nginx.pid, nginx.conf, logs); nginx_start N starts it again.
nginx_dir() { echo "/run/ebb-lab/$PFX/n$1"; }
nginx_start() { local d; d=$(nginx_dir "$1"); on "n$1" nginx -q -e "$d/error.log" -p "$d/" -c "$d/nginx.conf"; }
state_of() { ctl -j node show "$1" | json_get 'd[0]["state"]'; }

# hold.py VIP PORT NODE=COUNT...: opens connections until each NODE (by nginx's answer) has
# COUNT idle keep-alive connections, closes the others, prints "ready ... pid=PID", then holds
# them until killed (its connections then close with a FIN).
cat >"$TMP/hold.py" <<'PY'
import os, socket, sys, time
from http_keepalive import node_of
want = {k: int(v) for k, v in (a.split("=") for a in sys.argv[3:])}
held = {k: [] for k in want}
for _ in range(300):
    if all(len(held[k]) >= n for k, n in want.items()):
        break
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    node = node_of(s)
    if node in held and len(held[node]) < want[node]:
        held[node].append(s)
    else:
        s.close()
print("ready", " ".join("%s=%d" % (k, len(v)) for k, v in held.items()), "pid=%d" % os.getpid(),
      flush=True)
time.sleep(3600)
PY

# hold OUT TRIES NODE=COUNT...: hold.py from the client to 203.0.113.10:80 in the background
# (stopped by lab_teardown), its output in OUT; waits for its "ready" line (TRIES x 0.1 s at most).
hold() {
	local out=$1 tries=$2
	shift 2
	on client python3 "$TMP/hold.py" 203.0.113.10 80 "$@" >"$out" 2>&1 &
	wait_for "$tries" grep -q ready "$out"
}
