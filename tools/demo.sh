#!/usr/bin/env bash
# make demo: the whole story. ebb balances real traffic over 3 nginx nodes running ebb's node
# program; ebbd watches the flows. Load falls: ebbd picks the node whose flows end soonest and
# drains it; the node itself reports its last connection gone and ebbd retires it (inactive),
# its flows_cut measured by the node; load rises: ebbd brings it back; then the LB loses its
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
QUIET_S=14   # phase 2: only a trickle of new connections
RISE_S=9     # phase 3: the load comes back

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

# One row of the timeline; the same figures go to timeline.jsonl for the SVG picture.
snapshot() { # snapshot T PHASE
	ctl -j node show | python3 -c '
import json, sys
nodes = json.load(sys.stdin)
with open(sys.argv[3], "a") as f:
    f.write(json.dumps({"t": int(sys.argv[1]), "phase": sys.argv[2],
                        "nodes": [[n["addr"], n["state"], n["flows"]] for n in nodes]}) + "\n")
print(" | ".join("%-9s %3d" % (n["state"], n["flows"]) for n in nodes))' "$1" "$2" "$TMP/timeline.jsonl"
}
# New ebbd decisions since the last call, one line each.
seen=0
events() {
	python3 - "$TMP/ebbd.log" "$seen" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
for line in lines[int(sys.argv[2]):]:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    ev = e.get("event")
    if ev in ("scale_in", "scale_out"):
        print(f"ebbd: {ev.replace('_', '-')} {e['node']} ({e['old_state']} -> {e['new_state']}): "
              f"{e['total']:.0f} live flows over {e['active']} active nodes, target {e['target']:.0f} each")
    elif ev == "scale_out_wanted":
        print(f"ebbd: {e['total']:.0f} live flows want {e['desired']} nodes, the pool has max {e['max']}: scale-out hook")
    elif ev == "drained":
        ago = e.get("last_flow_end_ago_ms")
        print(f"ebbd: {e['node']} retired (draining -> inactive): {e['reason']}, {e.get('flows_cut', e.get('flows_cut_estimate'))} flows cut"
              + (' (measured by the node)' if e.get('verified') else ' (LB estimate: unverified, no node report)')
              + (f", {ago} ms after its last flow ended" if ago is not None else ""))
    elif ev in ("down", "up"):
        print(f"ebbd: {e.get('node')} {ev}")
print("#seen", len(lines))
PY
}

printf '\n   %-5s %-7s | %-13s | %-13s | %-13s\n' "t" "phase" "n1 .11" "n2 .12" "n3 .13"
printf '   %-5s %-7s | %-13s | %-13s | %-13s\n' "" "" "state  flows" "state  flows" "state  flows"
start=$(ms)
phase=busy
client wrk -t2 -c24 -d${BUSY_S}s $URL >"$TMP/wrk1.out" 2>&1 &
t=0
while :; do
	while [ $(($(ms) - start)) -lt $((t * 1000)) ]; do sleep 0.05; done
	if [ $t -eq $BUSY_S ]; then
		phase=quiet
		echo 0.25 >"$TMP/period"
		printf '   ----- t=%ss: load falls: wrk stops, a new connection every 250 ms -----\n' $t
	fi
	if [ $t -eq $((BUSY_S + QUIET_S)) ]; then
		phase=rising
		client wrk -t2 -c24 -d${RISE_S}s $URL >"$TMP/wrk2.out" 2>&1 &
		printf '   ----- t=%ss: load rises: wrk with 24 keep-alive connections -----\n' $t
	fi
	if [ $t -eq $((BUSY_S + QUIET_S + RISE_S / 2)) ]; then
		flushed=$(python3 "$ROOT/tests/integration/flush_flows.py" "$BPFFS/flows")
		echo "$flushed" >"$TMP/flushed"
		printf '   ----- t=%ss: the LB loses its flow table (%s entries flushed) under load -----\n' $t "$flushed"
	fi
	printf '   %-5s %-7s | %s\n' "${t}s" "$phase" "$(snapshot "$t" "$phase")"
	events >"$TMP/ev"
	grep -v '^#seen' "$TMP/ev" | sed 's/^/             /' || true
	seen=$(sed -n 's/^#seen //p' "$TMP/ev")
	[ $t -ge $((BUSY_S + QUIET_S + RISE_S)) ] && break
	t=$((t + 1))
done
rm -f "$TMP/period"
wait %3 2>/dev/null || true
sleep 1
ctl -j stats show >"$TMP/stats.json"

say "Timeline picture: $OUTPUT/demo-timeline.svg"
# Live flows per node (lines) over the run, each node's state as a band under the plot, the
# phases shaded and ebbd's decisions marked: what the table above says, as one picture.
python3 - "$TMP/timeline.jsonl" "$TMP/ebbd.log" "$OUTPUT/demo-timeline.svg" "$start" <<'PY'
import json, sys
from xml.sax.saxutils import escape
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
start_ms = int(sys.argv[4])
events = []
for line in open(sys.argv[2]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") in ("scale_in", "scale_out", "drained", "down", "up"):
        events.append(e)
nodes = [n[0] for n in rows[0]["nodes"]] if rows else []
T = max(r["t"] for r in rows) if rows else 1
ymax = max([n[2] for r in rows for n in r["nodes"]] + [1])
p = 1
while p * 10 <= ymax:
    p *= 10
top = next(m * p for m in (1, 2, 5, 10) if m * p >= ymax)
W, L, R, Tm, PH, BAND = 900, 120, 20, 40, 260, 16
pw = W - L - R
H = Tm + PH + 30 + len(nodes) * (BAND + 6) + 30
x = lambda t: L + pw * t / max(T, 1)
y = lambda v: Tm + PH - PH * v / top
colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
state_fill = {"active": "#cdeccd", "draining": "#ffe7a3", "inactive": "#dddddd", "down": "#f5b7b7"}
phase_fill = {"busy": "#f4f8ff", "quiet": "#fbfbfb", "rising": "#f4fff6"}
o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
     f'font-family="sans-serif" font-size="12">',
     f'<rect width="{W}" height="{H}" fill="white"/>',
     f'<text x="{L}" y="22" font-size="15" font-weight="bold">make demo: live flows per node, node states and ebbd decisions</text>']
# phases
spans, cur = [], None
for r in rows:
    if not cur or cur[0] != r["phase"]:
        cur = [r["phase"], r["t"], r["t"]]; spans.append(cur)
    cur[2] = r["t"]
for i, (ph, a, b) in enumerate(spans):
    b2 = spans[i + 1][1] if i + 1 < len(spans) else b
    o.append(f'<rect x="{x(a):.1f}" y="{Tm}" width="{x(b2) - x(a):.1f}" height="{PH}" fill="{phase_fill.get(ph, "#fff")}"/>')
    o.append(f'<text x="{x(a) + 4:.1f}" y="{Tm + 14}" fill="#666">{escape(ph)}</text>')
for g in range(5):
    v = top * g / 4
    o.append(f'<line x1="{L}" x2="{L + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e5e5e5"/>')
    o.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
for t in range(0, T + 1, 5):
    o.append(f'<text x="{x(t):.1f}" y="{Tm + PH + 16}" text-anchor="middle">{t}s</text>')
o.append(f'<text x="{L - 40}" y="{Tm + PH / 2}" transform="rotate(-90 {L - 40} {Tm + PH / 2})" text-anchor="middle">live flows</text>')
for i, addr in enumerate(nodes):
    pts = " ".join(f"{x(r['t']):.1f},{y(r['nodes'][i][2]):.1f}" for r in rows if i < len(r["nodes"]))
    o.append(f'<polyline fill="none" stroke="{colors[i % len(colors)]}" stroke-width="2.5" points="{pts}"/>')
    by = Tm + PH + 30 + i * (BAND + 6)
    o.append(f'<text x="{L - 8}" y="{by + 12}" text-anchor="end" fill="{colors[i % len(colors)]}" font-weight="bold">{escape(addr)}</text>')
    labels = []
    for j, r in enumerate(rows):
        t1 = rows[j + 1]["t"] if j + 1 < len(rows) else r["t"] + 1
        st = r["nodes"][i][1] if i < len(r["nodes"]) else "?"
        o.append(f'<rect x="{x(r["t"]):.1f}" y="{by}" width="{x(min(t1, T)) - x(r["t"]) + 0.5:.1f}" height="{BAND}" fill="{state_fill.get(st, "#fff")}"><title>{escape(st)}</title></rect>')
        if j == 0 or rows[j - 1]["nodes"][i][1] != st:
            labels.append(f'<text x="{x(r["t"]) + 3:.1f}" y="{by + 12}" font-size="10">{escape(st)}</text>')
    o += labels  # over the bands, not under the next one
for e in events:
    t = (float(e["ts"]) * 1000 - start_ms) / 1000
    if t < 0 or t > T + 1:
        continue
    label = {"scale_in": "scale-in", "scale_out": "scale-out", "drained": "retired"}.get(e["event"], e["event"])
    o.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{Tm}" y2="{Tm + PH}" stroke="#444" stroke-dasharray="4 3"/>')
    o.append(f'<text x="{x(t) + 3:.1f}" y="{Tm + 28 + 14 * (events.index(e) % 3)}" font-size="11">{escape(label)} {escape(str(e.get("node", "")))}</text>')
ly = H - 14
for k, (st, c) in enumerate(state_fill.items()):
    o.append(f'<rect x="{L + k * 100}" y="{ly - 10}" width="14" height="12" fill="{c}"/><text x="{L + k * 100 + 18}" y="{ly}">{st}</text>')
o.append("</svg>")
open(sys.argv[3], "w").write("\n".join(o) + "\n")
import xml.dom.minidom
xml.dom.minidom.parse(sys.argv[3])  # well-formed, or the demo says so
print(f"   {len(rows)} seconds, {len(nodes)} nodes, {len(events)} decisions marked")
PY

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
for line in open(f"{tmp}/ebbd.log"):
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
ok = (s1 + n1 + s2 + n2 + errors == 0 and ins and drained
      and all(d.get("verified") and d.get("flows_cut") == 0 for d in drained) and outs and claimed > 0)
print("   result         : " + ("0 client errors, 0 flows cut (measured by the node), a node handed back and brought back, a lost flow table rescued: nobody noticed"
                               if ok else "SOMETHING WAS NOTICED (see above)"))
sys.exit(0 if ok else 1)
PY
say "Cleaning up the lab"
