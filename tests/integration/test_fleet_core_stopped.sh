#!/usr/bin/env bash
# Fleet mode, one leader at a time in what hosts say (issue 15, item 4): the leader's ebbd is
# SIGSTOPped past its lease, the other host takes the lead, and the old one is resumed. The
# decisions were always fenced by the leader key; this checks what the hosts *say*: their
# /metrics (ebb_fleet_leader) and status pages (the fleet line's data-leader) must never both
# claim the lead. The sampler resumes the stopped ebbd itself, with a request to it already
# waiting in the kernel's backlog, so the first answer after the stop is always sampled (a page
# rendered before the stop would be it), then samples both hosts back to back for 3 s.
# shellcheck disable=SC2034 # read by lib_fleet_core.sh's conf
CORE_METRICS=1
. "$(dirname "$0")/lib_fleet_core.sh"

fleet_setup
L=$(leader)
case $L in lba) O=lbb ;; lbb) O=lba ;; *) bail "no leader ($L)" ;; esac
port() { metrics_addr "$1" | sed 's/.*://'; }
# says HOST: HOST's ebb_fleet_leader (empty when it does not answer)
says() { in_core curl -s -m 2 "http://127.0.0.1:$(port "$1")/metrics" | sed -n 's/^ebb_fleet_leader //p'; }
check "the leader $L says so in its metrics" wait_for 50 holds = 1 says "$L"
check "... and $O does not" [ "$(says "$O")" = 0 ]
page=$(in_core curl -s -m 2 "http://127.0.0.1:$(port "$L")/")
check "the status page has the fleet line: $L leads" grep -q 'id="fleet"[^>]*data-leader="1"' <<<"$page"

pid=
eval "pid=\$ebbd_${L#lb}"
kill -STOP "$pid"
note "stopped $L's ebbd (pid $pid) at $(date +%s.%N); lease TTL ${TTL}s"
# the event: the other host took the lead (its lease had to expire in etcd first)
wait_for $((TTL * 10 + 50)) holds = 1 says "$O"
check "$O leads while $L's ebbd is stopped" [ "$(says "$O")" = 1 ]

in_core python3 - "$pid" "$(port "$L")" "$(port "$O")" >"$TMP/samples" 2>&1 <<'PY'
import os, re, signal, socket, sys, time

pid, port_old, port_new = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def send(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\nHost: lab\r\n\r\n")
    return s

def read(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode(errors="replace")

def value(path, text):
    m = re.search(r"^ebb_fleet_leader (\d)", text, re.M) if path == "/metrics" else \
        re.search(r'id="fleet"[^>]*data-leader="(\d)"', text)
    return m.group(1) if m else "?"

def sample(port, path):
    t0 = time.monotonic()
    v = value(path, read(send(port, path)))
    return t0, time.monotonic(), v

# a request to the stopped host waits in its listen backlog: its answer is the first thing
# it says after SIGCONT
waiting = [send(port_old, p) for p in ("/metrics", "/")]
t_cont = time.monotonic()
os.kill(pid, signal.SIGCONT)
first = []
for s, p in zip(waiting, ("/metrics", "/")):
    v = value(p, read(s))
    first.append((p, v, sample(port_new, p)))
    print("first %s old=%s new=%s (%.1f ms after SIGCONT)" % (p, v, first[-1][2][2], (time.monotonic() - t_cont) * 1e3))
both = {"/metrics": 0, "/": 0}
unreadable = 0
for p, v, n in first:
    both[p] += v == "1" and n[2] == "1"
    unreadable += v not in "01" or n[2] not in "01"
pairs = len(first)
end = time.monotonic() + 3
while time.monotonic() < end:
    for p in ("/metrics", "/"):
        a = sample(port_old, p)
        b = sample(port_new, p)
        pairs += 1
        if a[2] == "1" and b[2] == "1":
            both[p] += 1
            if both[p] <= 5:
                print("both %s: old [%.1f, %.1f] new [%.1f, %.1f] ms after SIGCONT" % (p,
                      (a[0] - t_cont) * 1e3, (a[1] - t_cont) * 1e3, (b[0] - t_cont) * 1e3, (b[1] - t_cont) * 1e3))
        unreadable += a[2] not in "01" or b[2] not in "01"
print("pairs %d both_metrics %d both_status %d unreadable %d" % (pairs, both["/metrics"], both["/"], unreadable))
PY
sed 's/^/# /' "$TMP/samples" | head -20
read -r pairs bm bs unr < <(sed -n 's/^pairs \([0-9]*\) both_metrics \([0-9]*\) both_status \([0-9]*\) unreadable \([0-9]*\)/\1 \2 \3 \4/p' "$TMP/samples")
check "sampled both hosts back to back after SIGCONT (${pairs:-no} pairs, /metrics and status page in turn)" [ "${pairs:-0}" -gt 20 ]
check "... the metrics never both say ebb_fleet_leader 1 (${bm:-?} pairs did)" [ "${bm:-1}" = 0 ]
check "... the status pages never both say data-leader=1 (${bs:-?} pairs did)" [ "${bs:-1}" = 0 ]
check "... every answer said 0 or 1 (${unr:-?} did not)" [ "${unr:-1}" = 0 ]
echo "# measure: stopped_leader_pairs=${pairs:-0} both_metrics=${bm:-} both_status=${bs:-}"
check "$L, resumed, says it lost the lead (its log)" wait_for 50 grep -q '"event":"fleet_leader_lost"' "$TMP/ebbd-$L.log"
check "... $O still leads (fleet show)" [ "$(leader)" = "$O" ]
check "... and $L says 0" [ "$(says "$L")" = 0 ]
finish
