#!/usr/bin/env bash
# ebbd keeps no state of its own: killed with SIGKILL while n1 drains (held by an idle
# connection) and n2 is down, a new ebbd carries on from the maps: n1 stays draining while its
# flow lives (nothing cut), completes once it ends (flows_cut=0), n2 stays down without a second
# on-down and comes back up once; every hook ran exactly once across both processes.
. "$(dirname "$0")/lib.sh"
lab_setup 3

EBBD=$OUTPUT/ebbd
VIP=203.0.113.10:80/tcp
N1=$(node_ip4 1) N2=$(node_ip4 2)
LOG=$TMP/ebbd.log HOOKS=$TMP/hooks.log

cat >"$TMP/hook.sh" <<HOOK
#!/bin/sh
echo "\$EBB_EVENT \$EBB_NODE \$EBB_OLD_STATE \$EBB_NEW_STATE cut=\$EBB_FLOWS_CUT" >>"$HOOKS"
HOOK
chmod +x "$TMP/hook.sh"
cat >"$TMP/ebbd.conf" <<CONF
metrics = "";
hooks = { on-drained = ["$TMP/hook.sh"]; on-down = ["$TMP/hook.sh"]; on-up = ["$TMP/hook.sh"]; };
pools = ( {
  name = "web";
  vips = ["$VIP"];
  health = { type = "tcp"; port = 80; interval = 0.5; timeout = 0.4; rise = 2; fall = 2; };
} );
CONF

# events NAME [KEY=VALUE...]: ebbd's log lines of that event (JSON), filtered by fields.
events() {
	python3 - "$LOG" "$@" <<'PY'
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
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }

# hold.py VIP PORT NODE=COUNT...: opens connections until each NODE (by nginx's answer) has
# COUNT idle keep-alive connections, closes the others, prints "ready ... pid=PID", then holds
# them until killed (its connections then close with a FIN).
cat >"$TMP/hold.py" <<'PY'
import os, socket, sys, time
want = {k: int(v) for k, v in (a.split("=") for a in sys.argv[3:])}
held = {k: [] for k in want}
for _ in range(300):
    if all(len(held[k]) >= n for k, n in want.items()):
        break
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < length:
        body += s.recv(4096)
    node = body.strip().decode()
    if node in held and len(held[node]) < want[node]:
        held[node].append(s)
    else:
        s.close()
print("ready", " ".join("%s=%d" % (k, len(v)) for k, v in held.items()), "pid=%d" % os.getpid(),
      flush=True)
time.sleep(3600)
PY

nginx_dir() { echo "/run/ebb-lab/$PFX/n$1"; }
state_of() { ctl -j node show "$1" | json_get 'd[0]["state"]'; }
start_ebbd() {
	nsenter --net="/run/netns/${PFX}lb" "$EBBD" --bpffs "$BPFFS" --config "$TMP/ebbd.conf" 2>>"$LOG" &
	ebbd_pid=$!
}

check "vip add $VIP fin-timeout 1" ctl vip add $VIP fin-timeout 1
for i in 1 2 3; do check "node add n$i" ctl node add "$(node_ip4 $i)" vip $VIP; done
on client python3 "$TMP/hold.py" 203.0.113.10 80 n1=1 >"$TMP/hold.out" 2>&1 &
for _ in $(seq 50); do grep -q ready "$TMP/hold.out" && break; sleep 0.1; done
check "an idle connection held on n1 ($(cat "$TMP/hold.out"))" grep -q "ready n1=1" "$TMP/hold.out"
check "node drain n1 timeout 60" ctl node drain "$N1" timeout 60

start_ebbd
first_pid=$ebbd_pid
kill -TERM "$(cat "$(nginx_dir 2)/nginx.pid")"
check "first ebbd takes n2 down (nginx stopped)" ctl node wait "$N2" state down timeout 5
for _ in $(seq 20); do grep -q "^down $N2" "$HOOKS" 2>/dev/null && break; sleep 0.1; done
check "n1 still draining under the first ebbd" [ "$(state_of "$N1")" = draining ]

kill -KILL $first_pid
wait $first_pid 2>/dev/null
note "first ebbd killed with SIGKILL while n1 drains and n2 is down"
start_ebbd
sleep 2
check "second ebbd: n1 still draining, its live flow not cut" [ "$(state_of "$N1")" = draining ]
check "... n2 still down" [ "$(state_of "$N2")" = down ]
check "... the drain clock kept running from the map (drain_elapsed_s > 2)" \
	python3 -c "import sys; sys.exit(not $(ctl -j node show "$N1" | json_get 'd[0]["drain_elapsed_s"]') > 2)"

kill "$(sed -n 's/.*pid=//p' "$TMP/hold.out")" # its connection closes (FIN): n1's last flow ends 1 s later
check "n1 becomes inactive under the second ebbd" ctl node wait "$N1" state inactive timeout 5
ev=$(events drained node="$N1")
note "drained: $ev"
check "... with 0 flows cut" [ "$(echo "$ev" | field flows_cut)" = 0 ]
check "... and within 1.5 s of its last flow ending ($(echo "$ev" | field last_flow_end_ago_ms) ms)" \
	[ "$(echo "$ev" | field last_flow_end_ago_ms)" -le 1500 ]
d=$(nginx_dir 2)
on n2 nginx -q -e "$d/error.log" -p "$d/" -c "$d/nginx.conf"
check "n2 comes back active under the second ebbd" ctl node wait "$N2" state active timeout 5
sleep 0.5
sed 's/^/# hook: /' "$HOOKS"
check "each hook ran exactly once across both ebbd processes" python3 - "$HOOKS" "$N1" "$N2" <<'PY'
import sys
got = sorted(l.strip() for l in open(sys.argv[1]))
n1, n2 = sys.argv[2], sys.argv[3]
want = sorted(["down %s active down cut=0" % n2, "drained %s draining inactive cut=0" % n1,
               "up %s down active cut=0" % n2])
sys.exit(0 if got == want else 1)
PY
kill -TERM $ebbd_pid
wait $ebbd_pid
check "second ebbd exits cleanly" [ $? = 0 ]
finish
