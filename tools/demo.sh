#!/usr/bin/env bash
# make demo: the whole story. ebb balances real traffic over 3 nginx nodes running ebb's node
# program; ebbd watches the flows. Load falls: ebbd picks the node whose flows end soonest and
# drains it; a client holds one keep-alive connection on each node, so the drain lasts until it
# lets them go a few seconds later, the draining node answering on its connection to the end;
# the node itself reports its last connection gone and ebbd retires it (inactive), its
# flows_cut measured by the node; load rises: ebbd brings it back; then the LB loses its
# whole flow table under that load, and the node program's rescues keep every connection.
# Clients notice nothing. Prints a timeline and a summary, then tears everything down.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH # Debian's python3 first: a pyenv shim costs 0.5 s a start
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTPUT=${OUTPUT:-.output}
case "$OUTPUT" in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
export EBB_OUTPUT=$OUTPUT
PFX=demo$$-
BPFFS=/sys/fs/bpf/ebb-demo$$
LAB=$ROOT/tools/lab
TMP=$(mktemp -d /tmp/ebb-demo.XXXXXX)
VIP=203.0.113.10:80/tcp
URL=http://203.0.113.10/
BUSY_S=9     # phase 1: wrk keep-alive load plus new connections
QUIET_S=16   # phase 2: only a trickle of new connections
RISE_S=9     # phase 3: the load comes back
HOLD_S=4     # the held connections end this long after ebbd starts draining a node

cleanup() {
	for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	LAB_QUIET=1 "$LAB" down --prefix "$PFX" >/dev/null 2>&1 || true
	rm -rf "$BPFFS" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { nsenter --net="/run/netns/${PFX}lb" "$OUTPUT/ebbctl" --bpffs "$BPFFS" "$@"; }
client() { nsenter --net="/run/netns/${PFX}client" "$@"; }
say() { printf '\n== %s\n' "$*"; }
show() { printf '   $ ebbctl %s\n' "$*"; ctl "$@" | sed 's/^/     /'; }
ms() { echo $(($(date +%s%N) / 1000000)); }

say "Building the lab: client, LB host, 3 nginx nodes on one bridge (network namespaces)"
say "Each node runs ebb's node program (ebbctl backend attach): rescues, claims, its own count"
LAB_QUIET=1 "$LAB" up --prefix "$PFX" --nodes 3 --node-prog >/dev/null

say "Attaching ebb to the LB's eth0 and putting a VIP in front of the nodes"
show prog attach dev eth0
show vip add $VIP fin-timeout 1
for i in 1 2 3; do show node add "198.51.100.1$i" vip $VIP node-prog; done

# The nodes' own count, for ebbd: each node's signed report of its live connections, read in
# its namespace (in production: ssh or HTTP to the node, doc/node-truth.md).
head -c 32 /dev/urandom >"$TMP/node.key"
chmod 600 "$TMP/node.key"
cat >"$TMP/truth.sh" <<SH
#!/bin/sh
ns=${PFX}n\${1##*.1}
exec nsenter --net="/run/netns/\$ns" "$OUTPUT/ebbctl" --bpffs "/sys/fs/bpf/ebb-lab-\$ns" -j backend conns key "$TMP/node.key" nonce "\$2"
SH
chmod +x "$TMP/truth.sh"

say "Starting ebbd: target 8 live flows per node, min 2 nodes, max 3, scale-in window 4 s"
cat >"$TMP/ebbd.conf" <<CONF
metrics = "127.0.0.1:9477";
pools = ( {
  name = "web";
  vips = ["$VIP"];
  health = { type = "http"; port = 80; path = "/"; interval = 1; timeout = 0.5; rise = 2; fall = 2; };
  truth = ["$TMP/truth.sh", "{node}", "{nonce}"];
  truth-key = "$TMP/node.key";
  truth-interval = 0.5;
  scale = { metric = "flows"; target = 8; min = 2; max = 3; tolerance = 0.1;
            scale-in-window = 4; scale-out-window = 0; hook-cooldown = 600; };
} );
CONF
sed 's/^/     /' "$TMP/ebbd.conf"
nsenter --net="/run/netns/${PFX}lb" "$OUTPUT/ebbd" --bpffs "$BPFFS" --config "$TMP/ebbd.conf" \
	2>"$TMP/ebbd.log" &

# Fresh connections all along, one every `period` seconds (read from a file so phases change it).
echo 0.2 >"$TMP/period"
(
	while [ -f "$TMP/period" ]; do
		printf '%s %s\n' "$(date +%s.%N)" "$(client curl -s -m 3 $URL || echo ERROR)"
		sleep "$(cat "$TMP/period" 2>/dev/null || echo 0.2)"
	done
) >"$TMP/curls" &

# One row of the timeline, stamped with the moment it was read (rows run late under load: the
# stamp says so, not the second the row was due); the same figures go to timeline.jsonl for the
# SVG picture.
snapshot() { # snapshot PHASE TAKEN_MS
	ctl -j node show | python3 -c '
import json, sys
nodes = json.load(sys.stdin)
t = int(sys.argv[1]) / 1000
with open(sys.argv[3], "a") as f:
    f.write(json.dumps({"t": round(t, 3), "phase": sys.argv[2],
                        "nodes": [[n["addr"], n["state"], n["flows"]] for n in nodes]}) + "\n")
print("%-6s %-7s | " % ("%.1fs" % t, sys.argv[2]) + " | ".join("%-9s %3d" % (n["state"], n["flows"]) for n in nodes))' "$2" "$1" "$TMP/timeline.jsonl"
}
# ebbd's decisions logged since the last call up to CUTOFF_MS (since start), one line each, at
# the time ebbd logged them: printed before a row or a phase line taken after them, so the
# timeline reads in time order. The lines read go to ebbd-seen.log: the picture and the summary
# tell of those, as the table does.
seen=0
events() { # events CUTOFF_MS
	python3 - "$TMP/ebbd.log" "$seen" "$start" "$TMP/ebbd-seen.log" "$1" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
start = int(sys.argv[3]) / 1000
cutoff = start + int(sys.argv[5]) / 1000
used = int(sys.argv[2])
for line in lines[used:]:
    try:
        e = json.loads(line)
    except ValueError:
        used += 1
        continue
    if float(e.get("ts", 0)) > cutoff:
        break  # after the row about to be printed: the next call tells of it
    used += 1
    ev = e.get("event")
    at = "%5.1fs ebbd: " % (float(e.get("ts", start)) - start)
    if ev in ("scale_in", "scale_out"):
        print(f"{at}{ev.replace('_', '-')} {e['node']} ({e['old_state']} -> {e['new_state']}): "
              f"{e['total']:.0f} live flows over {e['active']} active nodes, target {e['target']:.0f} each")
        if ev == "scale_in":
            print("#scale_in_ms", int(float(e["ts"]) * 1000))
    elif ev == "scale_out_wanted":
        print(f"{at}{e['total']:.0f} live flows want {e['desired']} nodes, the pool has max {e['max']}: scale-out hook")
    elif ev == "drained":
        ago = e.get("last_flow_end_ago_ms")
        print(f"{at}{e['node']} retired (draining -> inactive): {e['reason']}, {e.get('flows_cut', e.get('flows_cut_estimate'))} flows cut"
              + (' (measured by the node)' if e.get('verified') else ' (LB estimate: unverified, no node report)')
              + (f", {ago} ms after its last flow ended" if ago is not None else ""))
    elif ev in ("down", "up"):
        print(f"{at}{e.get('node')} {ev}")
open(sys.argv[4], "w").write("".join(l + "\n" for l in lines[:used]))
print("#seen", used)
PY
}
# events up to CUTOFF_MS, printed; remembers what was read and the first scale-in's time
show_events() { # show_events CUTOFF_MS
	events "$1" >"$TMP/ev"
	grep -v '^#' "$TMP/ev" | sed 's/^/      /' || true
	seen=$(sed -n 's/^#seen //p' "$TMP/ev")
	[ -n "$scale_in_ms" ] || scale_in_ms=$(sed -n 's/^#scale_in_ms //p' "$TMP/ev" | head -n 1)
}
# a phase line, after the decisions that came before it
phase_line() { # phase_line TEXT
	local now=$(($(ms) - start))
	show_events "$now"
	printf '   ----- %s: %s -----\n' "$(printf '%.1fs' "${now}e-3")" "$1"
}

# The held connections: one keep-alive connection answered by each node (a long download, say),
# held until $TMP/release appears, then asked once more (who answers: the same node, even the
# draining one) and closed by the client.
cat >"$TMP/hold.py" <<'PY'
import os, socket, sys, time
import http_keepalive
vip, want, ready, release, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
held = {}
for _ in range(60):
    s = socket.create_connection((vip, 80), timeout=5)
    node = http_keepalive.node_of(s)
    if node in held:
        s.close()
    else:
        held[node] = s
    if len(held) >= want:
        break
open(ready, "w").write(" ".join(sorted(held)) + "\n")
while not os.path.exists(release):
    time.sleep(0.05)
answers = []
for node, s in sorted(held.items()):
    try:
        answers.append(f"{node}:{http_keepalive.node_of(s)}")
    except (OSError, ConnectionError, IndexError, ValueError):
        answers.append(f"{node}:ERROR")
    s.close()
open(out, "w").write(" ".join(answers) + "\n")
PY
release_held() {
	touch "$TMP/release"
	released=1
	phase_line "the client lets its held connections go (one more request on each, then close)"
}

printf '\n   %-6s %-7s | %-13s | %-13s | %-13s\n' "t" "phase" "n1 .11" "n2 .12" "n3 .13"
printf '   %-6s %-7s | %-13s | %-13s | %-13s\n' "" "" "state  flows" "state  flows" "state  flows"
start=$(ms)
phase=busy
client wrk -t2 -c24 -d${BUSY_S}s $URL >"$TMP/wrk1.out" 2>&1 &
next=0 released=0 flushed=0 scale_in_ms=
while :; do
	while [ $(($(ms) - start)) -lt $((next * 1000)) ]; do sleep 0.05; done
	now=$(($(ms) - start))
	if [ $phase = busy ] && [ $now -ge $((BUSY_S * 1000)) ]; then
		phase=quiet
		echo 0.25 >"$TMP/period"
		client env PYTHONPATH="$ROOT/tests/integration" python3 "$TMP/hold.py" 203.0.113.10 3 \
			"$TMP/held" "$TMP/release" "$TMP/held.out" 2>"$TMP/hold.err" &
		phase_line "load falls: wrk stops, a new connection every 250 ms; a client holds one keep-alive connection on each node"
	fi
	if [ $phase = quiet ] && [ $now -ge $(((BUSY_S + QUIET_S) * 1000)) ]; then
		[ $released = 1 ] || release_held
		phase=rising
		# past the last row, so that the last row still has the load
		client wrk -t2 -c24 -d$((RISE_S + 2))s $URL >"$TMP/wrk2.out" 2>&1 &
		wrk2=$!
		phase_line "load rises: wrk with 24 keep-alive connections"
	fi
	if [ $phase = rising ] && [ $flushed = 0 ] && [ $now -ge $(((BUSY_S + QUIET_S + RISE_S / 2) * 1000)) ]; then
		flushed=$(python3 "$ROOT/tests/integration/flush_flows.py" "$BPFFS/flows")
		echo "$flushed" >"$TMP/flushed"
		phase_line "the LB loses its flow table ($flushed entries flushed) under load"
	fi
	if [ $released = 0 ] && [ -n "$scale_in_ms" ] && [ $(($(ms) - scale_in_ms)) -ge $((HOLD_S * 1000)) ]; then
		release_held
	fi
	taken=$(($(ms) - start))
	row=$(snapshot "$phase" "$taken")
	show_events "$taken"
	printf '   %s\n' "$row"
	[ $now -ge $(((BUSY_S + QUIET_S + RISE_S) * 1000)) ] && break
	# the next whole second: a row that ran late is not followed by rows catching up
	next=$((($(ms) - start) / 1000 + 1))
done
rm -f "$TMP/period"
wait "${wrk2:-}" 2>/dev/null || true
for _ in $(seq 100); do [ -s "$TMP/held.out" ] && break; sleep 0.1; done
sleep 1
ctl -j stats show >"$TMP/stats.json"

say "Timeline picture: $OUTPUT/demo-timeline.svg"
# What the table above says, as one picture (tools/demo_svg.py); then the picture read back: every
# decision the table printed drawn, a draining band to see, no label over another.
python3 "$ROOT/tools/demo_svg.py" render "$TMP/timeline.jsonl" "$TMP/ebbd-seen.log" "$OUTPUT/demo-timeline.svg" "$start"
picture=ok
python3 "$ROOT/tools/demo_svg.py" check "$OUTPUT/demo-timeline.svg" "$TMP/ebbd-seen.log" "$start" 2 || picture=failed
echo "$picture" >"$TMP/picture"

say "Summary"
python3 - "$TMP" <<'PY'
import json, re, sys
tmp = sys.argv[1]
def wrk(name):
    text = open(f"{tmp}/{name}").read()
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    sock = sum(map(int, m.groups())) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return int(re.search(r"(\d+) requests in", text).group(1)), sock, int(m.group(1)) if m else 0
events = []
for line in open(f"{tmp}/ebbd-seen.log"):
    try:
        events.append(json.loads(line))
    except ValueError:
        pass
curls = [l.split() for l in open(f"{tmp}/curls") if l.strip()]
stats = json.load(open(f"{tmp}/stats.json"))
reasons = stats.get("reasons", {})
rescued = reasons.get("rescued", {}).get("packets", 0)
claimed = reasons.get("claimed", {}).get("packets", 0)
flushed = open(f"{tmp}/flushed").read().strip() if __import__("os").path.exists(f"{tmp}/flushed") else "?"
errors = sum(1 for c in curls if len(c) < 2 or c[1] == "ERROR")
drained = [e for e in events if e.get("event") == "drained"]
ins = [e for e in events if e.get("event") == "scale_in"]
outs = [e for e in events if e.get("event") == "scale_out"]
r1, s1, n1 = wrk("wrk1.out")
r2, s2, n2 = wrk("wrk2.out")
print(f"   wrk (busy)     : {r1} requests, {s1} socket errors, {n1} non-2xx")
print(f"   wrk (rising)   : {r2} requests, {s2} socket errors, {n2} non-2xx")
print(f"   curl           : {len(curls)} new connections, {errors} errors")
def read(name):
    try:
        return open(f"{tmp}/{name}").read().split()
    except OSError:
        return []
held = [a.split(":") for a in read("held.out")]
held_ok = len(held) == 3 and all(a == b for a, b in held)
print(f"   held           : {len(held)} keep-alive connections, one on each node ({' '.join(a for a, _ in held) or 'none'}), "
      f"held through the drain; asked once more before closing: answered by {' '.join(b for _, b in held) or 'none'}")
for e in ins:
    print(f"   scale-in       : {e['node']} drained ({e['total']:.0f} live flows, {e['active']} active, target {e['target']:.0f})")
for e in drained:
    ago = e.get("last_flow_end_ago_ms")
    print(f"   retired        : {e['node']} after {e['drain_s']:.1f} s of draining, {e.get('flows_cut', e.get('flows_cut_estimate'))} flows cut"
              + (' (measured by the node)' if e.get('verified') else ' (LB estimate: unverified, no node report)')
          + (f", {ago} ms after its last flow ended" if ago is not None else ""))
for e in outs:
    print(f"   scale-out      : {e['node']} back to active ({e['total']:.0f} live flows over {e['active']} nodes)")
print(f"   table loss     : {flushed} flow entries flushed under load; {rescued} packets rescued, {claimed} claimed by their nodes")
picture = (read("picture") or ["?"])[0]
print(f"   picture        : {picture} (every decision drawn, a draining band of 2 s or more, no label over another)")
story = (s1 + n1 + s2 + n2 + errors == 0 and held_ok and ins and drained
         and all(d.get("verified") and d.get("flows_cut") == 0 for d in drained) and outs and claimed > 0)
ok = story and picture == "ok"
print("   result         : " + ("0 client errors, 0 flows cut (measured by the node), a node handed back and brought back, a lost flow table rescued: nobody noticed"
                               if ok else "SOMETHING WAS NOTICED (see above)" if not story
                               else "the run went well, but the picture does not show it (see above)"))
sys.exit(0 if ok else 1)
PY
say "Cleaning up the lab"
