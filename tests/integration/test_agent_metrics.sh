#!/usr/bin/env bash
# ebbd's metrics endpoint under a local user's abuse: 1200 idle connections to it must not take
# the descriptors ebbd's health checks need (ebbd runs with the systemd default of 1024): a node
# whose nginx stops still goes down in time, ebbd holds few descriptors, and /metrics answers
# again once the idle connections have timed out. Label values are escaped (a pool named with
# a quote, a backslash and a newline) and the page passes `promtool check metrics`. A pool that
# names a VIP the maps do not have draws a warning with the file's line. Slow clients cannot
# deny the endpoint either: with 100 slowloris connections from 10 addresses (and 40 from the
# scraper's own address) /metrics and the status page still answer, each slow connection is
# closed at its header deadline, ebbd's descriptors stay bounded and the health checks go on.
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

# ebbd's own HTTP server: HEAD, other paths, other methods, a header too long.
code() { on lb curl -s -o /dev/null -m 5 -w '%{http_code}' "$@"; }
# curl -I would hide a body sent after the header: read the raw answer to its close instead.
head_answer() {
	on lb python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $MPORT), timeout=5)
s.sendall(b'HEAD /metrics HTTP/1.0\r\n\r\n')
a = b''
while True:
    b = s.recv(65536)
    if not b: break
    a += b
head, _, body = a.partition(b'\r\n\r\n')
print(head.split(b'\r\n')[0].split()[1].decode(), len(body))"
}
read -r head_code head_body < <(head_answer)
check "HEAD /metrics: 200, no body (status $head_code, $head_body bytes after the header)" \
	[ "$head_code:$head_body" = 200:0 ]
check "an unknown path: 404" [ "$(code "http://127.0.0.1:$MPORT/nope?x=1")" = 404 ]
check "POST: 405" [ "$(code -d x "http://127.0.0.1:$MPORT/metrics")" = 405 ]
check "a 9 KB header: 431" [ "$(code -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "http://127.0.0.1:$MPORT/metrics")" = 431 ]
# A client that sends its request, reads the answer and then keeps sending (never closing) is
# closed all the same: a byte sent after ebbd's close draws a reset.
t=$(on lb python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
while s.recv(65536): pass
t0 = time.monotonic()
try:
    while time.monotonic() - t0 < 30:
        s.send(b"x")
        time.sleep(0.1)
except OSError:
    pass
print("%.2f" % (time.monotonic() - t0))' "$MPORT" 2>&1)
check "a client that keeps its connection after the answer is closed 2 s after it ($t s, bound 6 s)" \
	python3 -c "import sys; sys.exit(not float('$t') <= 6)"

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

# 100 slowloris clients from 10 addresses (127.0.0.10-19, 10 each): the request's header one line
# every 1-2 s, never finished; each connection ebbd closes is replaced at once (reconnect 1). A scrape of
# /metrics and of the status page must be answered all the same, every slow connection closed
# at its header deadline (3 s after accept, whatever trickles in), and the health checks go on.
cat >"$TMP/slow.py" <<'PY'
# Slowloris: N connections from A addresses 127.0.0.B.., each sending its request's header one
# line every 1-2 s and never the blank line that ends it. A connection the server closes is
# reported ("closed LIFETIME ADDR", seconds since its connect) and, with RECONNECT 1, replaced,
# so N stay pending.
import random, resource, select, signal, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
port, n, naddr, base, reconnect = (int(a) for a in sys.argv[1:6])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
conns = {}  # socket -> [address, start, next send, connected]

def open_one(i):
    addr = "127.0.0.%d" % (base + i % naddr)
    s = socket.socket()
    s.setblocking(False)
    s.bind((addr, 0))
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    now = time.monotonic()
    conns[s] = [addr, now, now, False, i]

for i in range(n):
    open_one(i)
t0, ready = time.monotonic(), False
while True:
    now = time.monotonic()
    if not ready and (all(c[3] for c in conns.values()) or now - t0 > 5):
        print("ready", sum(c[3] for c in conns.values()), flush=True)
        ready = True
    wr = [s for s, c in conns.items() if not c[3]]
    rd = [s for s, c in conns.items() if c[3]]
    r, w, _ = select.select(rd, wr, [], 0.1)
    gone = []
    for s in w:
        c = conns[s]
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            gone.append(s)
            continue
        c[3] = True
        try:
            s.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        except OSError:
            gone.append(s)
        c[2] = time.monotonic() + random.uniform(1, 2)
    for s in r:
        try:
            if s.recv(4096) == b"":
                gone.append(s)
        except OSError:
            gone.append(s)
    now = time.monotonic()
    for s, c in conns.items():
        if c[3] and s not in gone and now >= c[2]:
            try:
                s.send(b"X-Slow-%d: %d\r\n" % (c[4], int(now)))
            except OSError:
                gone.append(s)
            c[2] = now + random.uniform(1, 2)
    for s in set(gone):
        c = conns.pop(s)
        print("closed" if c[3] else "failed", "%.2f %s" % (time.monotonic() - c[1], c[0]), flush=True)
        s.close()
        if reconnect:
            open_one(c[4])
PY
on lb python3 "$TMP/slow.py" "$MPORT" 100 10 10 1 >"$TMP/slow.out" 2>&1 &
slow_pid=$!
wait_for 100 grep -q '^ready' "$TMP/slow.out"
check "100 slowloris connections opened from 10 addresses ($(grep ^ready "$TMP/slow.out"))" \
	grep -q '^ready 100$' "$TMP/slow.out"
for path in /metrics /; do
	t0=$(date +%s.%N)
	on lb curl -s -m 10 -o "$TMP/slow-page" -w '%{http_code}' "http://127.0.0.1:$MPORT$path" >"$TMP/slow-code"
	t=$(python3 -c "print('%.2f' % ($(date +%s.%N) - $t0))")
	check "$path answers while 100 slow clients hold connections (HTTP $(cat "$TMP/slow-code") in $t s, bound 10 s)" \
		grep -q '^200$' "$TMP/slow-code"
done
check "the page is the metrics one" grep -q '^ebb_pool_active_nodes' <(on lb curl -s -m 10 "http://127.0.0.1:$MPORT/metrics")
check "a scrape from one of the slow clients' addresses answers too" \
	grep -q '^ebb_pool_active_nodes' <(on lb curl -s -m 10 --interface 127.0.0.10 "http://127.0.0.1:$MPORT/metrics")
fds=$(ls "/proc/$ebbd_pid/fd" | wc -l)
check "ebbd's descriptors stay bounded ($fds open: 128 connections at most, limit 1024)" [ "$fds" -lt 180 ]
check "n2 whose nginx is back comes up meanwhile: health checks run" ctl node wait "$N2" state active timeout 10
kill -TERM "$(cat "$(nginx_dir 3)/nginx.pid")"
check "n3 whose nginx stopped goes down within 4 s meanwhile" ctl node wait "$(node_ip4 3)" state down timeout 4
check "no health check was left unstarted" [ -z "$(events check_not_started)" ]
# The first 100 connections and their replacements: every close ebbd made, timed from connect.
wait_for 200 eval '[ "$(grep -c ^closed "$TMP/slow.out")" -ge 100 ]'
read -r nclosed lo hi < <(awk '/^closed/ { n++; if (n == 1 || $2 < lo) lo = $2; if ($2 > hi) hi = $2 }
	END { print n + 0, lo + 0, hi + 0 }' "$TMP/slow.out")
check "ebbd closed the slow connections at their header deadline ($nclosed closed, after $lo-$hi s; deadline 3 s)" \
	python3 -c "import sys; sys.exit(not ($nclosed >= 100 and $lo >= 2.9 and $hi <= 7))"
check "no slow client's connect failed ($(grep -c ^failed "$TMP/slow.out") failed)" [ "$(grep -c ^failed "$TMP/slow.out")" -eq 0 ]
kill "$slow_pid" 2>/dev/null
wait "$slow_pid" 2>/dev/null

# 40 slow clients from 127.0.0.1, the scrapers' own address: past its 16 places the oldest slow
# connection makes room (a cap that refused newcomers would lock the scrape out).
on lb python3 "$TMP/slow.py" "$MPORT" 40 1 1 0 >"$TMP/slow1.out" 2>&1 &
slow_pid=$!
wait_for 100 grep -q '^ready' "$TMP/slow1.out"
wait_for 100 eval '[ "$(grep -c ^closed "$TMP/slow1.out")" -ge 24 ]'
check "a scrape from 127.0.0.1 answers all the same" \
	grep -q '^ebb_pool_active_nodes' <(on lb curl -s -m 10 "http://127.0.0.1:$MPORT/metrics")
# Those past the cap closed at once (the scrape's arrival shed one more, if still held), the
# rest at their header deadline.
wait_for 150 eval '[ "$(grep -c ^closed "$TMP/slow1.out")" -ge 40 ]'
read -r early late < <(awk '/^closed/ { if ($2 < 2.5) e++; else if ($2 >= 2.9 && $2 <= 7) l++ }
	END { print e + 0, l + 0 }' "$TMP/slow1.out")
check "40 slow connections from 127.0.0.1: ebbd held 16 at most ($early closed at once, $late at the deadline)" \
	python3 -c "import sys; sys.exit(not ($early >= 24 and $early + $late == 40))"
check "ebbd is still running" kill -0 "$ebbd_pid"
kill "$slow_pid" 2>/dev/null
wait "$slow_pid" 2>/dev/null
nginx_start 3
finish
