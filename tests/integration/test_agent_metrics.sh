#!/usr/bin/env bash
# ebbd's metrics endpoint under a local user's abuse: 1200 idle connections to it must not take
# the descriptors ebbd's health checks need (ebbd runs with the systemd default of 1024): a node
# whose nginx stops still goes down in time, ebbd holds few descriptors, and /metrics answers
# again once the idle connections have timed out. Label values are escaped (a pool named with
# a quote, a backslash and a newline) and the page passes `promtool check metrics`. A pool that
# names a VIP the maps do not have draws a warning with the file's line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_agent.sh"
lab_setup 3

VIP=203.0.113.10:80/tcp
N2=$(node_ip4 2)
MPORT=9477

cat >"$TMP/ebbd.conf" <<CONF
metrics = "127.0.0.1:$MPORT";
pools = ( {
  name = "w\"e\\\\b\nx";
  vips = ["$VIP"];
  health = { type = "http"; port = 80; path = "/"; interval = 0.5; timeout = 0.4; rise = 2; fall = 2; };
  scale = { metric = "flows"; target = 1000; min = 3; max = 3; };
}, {
  name = "ghost";
  vips = ["203.0.113.99:80/tcp"];
} );
CONF
ghost_line=$(grep -n 203.0.113.99 "$TMP/ebbd.conf" | cut -d: -f1)

check "vip add $VIP" ctl vip add $VIP
for i in 1 2 3; do check "node add n$i" ctl node add "$(node_ip4 $i)" vip $VIP; done
# The descriptor limit a systemd service gets by default (soft and hard).
prlimit --nofile=1024:1024 -- nsenter --net="/run/netns/${PFX}lb" "$EBBD" --bpffs "$BPFFS" \
	--config "$TMP/ebbd.conf" 2>>"$LOG" &
ebbd_pid=$!
scrape() { on lb curl -s -m "${1:-2}" "http://127.0.0.1:$MPORT/metrics"; }
wait_for 50 eval 'scrape | grep -q ebb_pool_active_nodes'
scrape >"$TMP/page"
check "the metrics page answers" grep -q '^ebb_node_state{node="198.51.100.11",state="active"} 1$' "$TMP/page"
check "a pool label with \", \\ and a newline is escaped: $(grep ^ebb_pool_active_nodes "$TMP/page")" \
	grep -qF 'ebb_pool_active_nodes{pool="w\"e\\b\nx"} 3' "$TMP/page"
check "a pool naming a VIP that is not configured: a warning with the file's line ($(events pool_vip_unknown | head -c 300))" \
	grep -qF "pool 'ghost' names VIP 203.0.113.99:80/tcp ($TMP/ebbd.conf:$ghost_line)" <<<"$(events pool_vip_unknown)"
promtool check metrics <"$TMP/page" >"$TMP/promtool.out" 2>&1
rc=$?
check "promtool check metrics accepts the page ($(head -c 200 "$TMP/promtool.out" | tr '\n' ' '))" \
	[ $rc -eq 0 ]

# 1200 idle connections from a local process, held open.
cat >"$TMP/idle.py" <<'PY'
import socket, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
socks, failed = [], 0
for _ in range(int(sys.argv[2])):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except BlockingIOError:
        pass
    except OSError:
        failed += 1
    socks.append(s)
print("ready", len(socks), "failed", failed, flush=True)
time.sleep(3600)
PY
on lb python3 "$TMP/idle.py" "$MPORT" 1200 >"$TMP/idle.out" 2>&1 &
idle_pid=$!
wait_for 100 grep -q ready "$TMP/idle.out"
check "1200 idle connections opened to the metrics port ($(cat "$TMP/idle.out"))" grep -q "ready 1200" "$TMP/idle.out"
sleep 1
fds=$(ls "/proc/$ebbd_pid/fd" | wc -l)
check "ebbd holds few descriptors meanwhile ($fds open, limit 1024)" [ "$fds" -lt 100 ]

t0=$(date +%s.%N)
kill -TERM "$(cat "$(nginx_dir 2)/nginx.pid")"
check "n2 whose nginx stopped goes down within 4 s all the same" ctl node wait "$N2" state down timeout 4
note "n2 down $(python3 -c "print('%.2f' % ($(date +%s.%N) - $t0))") s after nginx stopped (fall 2, interval 0.5 s)"
check "no health check was left unstarted for want of descriptors" [ -z "$(events check_not_started)" ]
check "ebbd is still running" kill -0 "$ebbd_pid"

# The connections are still held by the client; ebbd's side has timed them out.
sleep 6
t0=$(date +%s.%N)
scrape 3 >"$TMP/page2"
check "after the idle timeout /metrics answers again ($(python3 -c "print('%.2f' % ($(date +%s.%N) - $t0))") s), n2 down in it" \
	grep -q '^ebb_node_state{node="198.51.100.12",state="down"} 1$' "$TMP/page2"
kill "$idle_pid" 2>/dev/null
wait "$idle_pid" 2>/dev/null
nginx_start 2
finish
