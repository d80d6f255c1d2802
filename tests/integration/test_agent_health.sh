#!/usr/bin/env bash
# ebbd's health checks: nginx stopped on n2 -> n2 `down` (on-down runs, new connections avoid
# it); nginx started again -> back to `active` (on-up). A draining node whose checks fail goes
# `down` and comes back `draining`, its live flow still there, never `active`.
. "$(dirname "$0")/lib.sh"
lab_setup 3

EBBD=$OUTPUT/ebbd
VIP=203.0.113.10:80/tcp
N2=$(node_ip4 2) N3=$(node_ip4 3)
LOG=$TMP/ebbd.log HOOKS=$TMP/hooks.log

cat >"$TMP/hook.sh" <<HOOK
#!/bin/sh
echo "\$EBB_EVENT \$EBB_NODE \$EBB_OLD_STATE \$EBB_NEW_STATE" >>"$HOOKS"
HOOK
chmod +x "$TMP/hook.sh"
cat >"$TMP/ebbd.conf" <<CONF
metrics = "";
hooks = { on-down = ["$TMP/hook.sh"]; on-up = ["$TMP/hook.sh"]; };
pools = ( {
  name = "web";
  vips = ["$VIP"];
  health = { type = "http"; port = 80; path = "/"; interval = 0.5; timeout = 0.4; rise = 2; fall = 2; };
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
nginx_stop() {
	local pid
	pid=$(cat "$(nginx_dir "$1")/nginx.pid")
	kill -TERM "$pid"
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
nginx_start() { local d; d=$(nginx_dir "$1"); on "n$1" nginx -q -e "$d/error.log" -p "$d/" -c "$d/nginx.conf"; }
state_of() { ctl -j node show "$1" | json_get 'd[0]["state"]'; }

check "vip add $VIP" ctl vip add $VIP
for i in 1 2 3; do check "node add n$i" ctl node add "$(node_ip4 $i)" vip $VIP; done
nsenter --net="/run/netns/${PFX}lb" "$EBBD" --bpffs "$BPFFS" --config "$TMP/ebbd.conf" 2>"$LOG" &
sleep 2
check "healthy nodes stay active under checks" \
	[ "$(ctl -j node show | json_get '",".join(n["state"] for n in d)')" = active,active,active ]

# --- nginx stopped on n2
t0=$(date +%s.%N)
check "nginx on n2 stopped" nginx_stop 2
check "n2 goes down" ctl node wait "$N2" state down timeout 5
note "n2 down $(python3 -c "print('%.2f' % ($(date +%s.%N) - $t0))") s after nginx stopped (fall 2, interval 0.5 s)"
check "... logged with the failing check" [ -n "$(events down node="$N2" reason=health_check)" ]
for i in $(seq 30); do on client curl -s -m 2 http://203.0.113.10/ || echo FAIL; done >"$TMP/curls"
check "30 new connections all answered, by n1/n3 only ($(sort "$TMP/curls" | uniq -c | tr '\n' ' '))" \
	[ "$(grep -c '^n[13]$' "$TMP/curls")" = 30 ]
check "nginx on n2 started again" nginx_start 2
check "n2 comes back active (its state before down)" ctl node wait "$N2" state active timeout 5
check "on-down then on-up ran once each for n2" \
	[ "$(grep -c "^down $N2 active down\$" "$HOOKS")" = 1 ] && [ "$(grep -c "^up $N2 down active\$" "$HOOKS")" = 1 ]

# --- a draining node that fails comes back draining
on client python3 "$TMP/hold.py" 203.0.113.10 80 n3=1 >"$TMP/hold.out" 2>&1 &
for _ in $(seq 50); do grep -q ready "$TMP/hold.out" && break; sleep 0.1; done
check "an idle connection held on n3 ($(cat "$TMP/hold.out"))" grep -q "ready n3=1" "$TMP/hold.out"
check "node drain n3" ctl node drain "$N3"
sleep 0.6
check "n3 is draining (its flow is live)" [ "$(state_of "$N3")" = draining ]
# n3 can no longer answer the LB (the checks); the client's DSR path is untouched.
check "n3 cut off from the LB's checks" ip -n "${PFX}n3" route add blackhole "$LB_IP4/32"
check "draining n3 goes down" ctl node wait "$N3" state down timeout 5
check "... and ebbd recorded draining as where it returns" \
	[ "$(events down node="$N3" | field old_state)" = draining ]
check "n3 reachable again" ip -n "${PFX}n3" route del blackhole "$LB_IP4/32"
check "n3 comes back draining, not active" ctl node wait "$N3" state draining timeout 5
sleep 0.6
check "... and stays draining while its flow lives" [ "$(state_of "$N3")" = draining ]
check "on-down/on-up for n3 say draining -> down -> draining" \
	[ "$(grep -c "^down $N3 draining down\$" "$HOOKS")" = 1 ] && [ "$(grep -c "^up $N3 down draining\$" "$HOOKS")" = 1 ]
check "ebbd never made a node inactive here (down is not a finished drain)" [ -z "$(events drained)" ]
finish
