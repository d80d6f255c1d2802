#!/usr/bin/env bash
# What an operator watches, with real parts (issue 11): ebbd's status page (HTML, no external
# asset) rendered by headless Chromium from the LB namespace — its DOM has one row per node with
# the address and state `node show -j` gives, the flows chart and ebbd's recent decisions; the
# screenshot is a real picture (size, colours) — and a real Prometheus scraping ebbd's /metrics
# (its own config and data dir, on the LB namespace's loopback), queried through its HTTP API
# for ebb metrics; `promtool check metrics` finds nothing to say about the page; every query of
# the Grafana dashboard (tools/grafana-ebb.json) uses metric names ebbd exports and runs against
# that Prometheus. The screenshot is kept as .output/status-page.png to look at.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_agent.sh"
lab_setup 3

VIP=203.0.113.10:80/tcp
N1=$(node_ip4 1) N2=$(node_ip4 2) N3=$(node_ip4 3)
METRICS=127.0.0.1:19477 PROM=127.0.0.1:19090 # the LB namespace's own loopback
cat >"$TMP/ebbd.conf" <<CONF
metrics = "$METRICS";
CONF
check "vip add $VIP" ctl vip add $VIP fin-timeout 1
for i in 1 2 3; do check "node add n$i" ctl node add "$(node_ip4 $i)" vip $VIP; done
start_ebbd
wait_for 50 has_event state_open
check "ebbd started" has_event state_open

# Load: keep-alive connections held on n1 and n2, a few more curls, then n3 drained and
# retired by ebbd (a decision for the page).
hold "$TMP/hold.out" 100 n1=4 n2=2
check "held keep-alive connections: $(head -1 "$TMP/hold.out")" grep -q 'ready n1=4 n2=2' "$TMP/hold.out"
for p in $(seq 22000 22029); do on client curl -s -m 2 --local-port "$p" http://203.0.113.10/ >/dev/null; done
check "node drain n3" ctl node drain "$N3"
wait_for 100 has_event drained
sleep 5 # a few samples for the chart (one every 2 s)

fetch() { on lb curl -s -m 5 "http://$METRICS$1"; }
fetch / >"$TMP/page.html"
check "GET / is the status page ($(wc -c <"$TMP/page.html") bytes of HTML)" grep -q '<table id="nodes">' "$TMP/page.html"
check "the page fetches nothing: no src=, no external href, no script" \
	sh -c "! grep -Eiq '<script|src=|href=\"(https?:)?//|@import|url\\(' '$TMP/page.html'"
ctl -j node show >"$TMP/show.json"

# --- headless Chromium, inside the LB namespace ---------------------------------------------
if ! command -v chromium >/dev/null; then
	echo "ok - chromium renders the status page # SKIP no chromium"
else
	status_dom dom
	check "chromium --dump-dom: the rendered DOM has one row per node, address and state as node show -j says" \
		python3 - "$TMP/dom.json" "$TMP/show.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
show = {n["addr"]: n["state"] for n in json.load(open(sys.argv[2]))}
print("# DOM rows:", d["nodes"], "| node show:", show, "| chart lines:", d["polylines"], "| event rows:", d["events"])
sys.exit(0 if d["nodes"] == show and d["polylines"] == len(show) and d["events"] > 0 else 1)
PY
	check "the DOM shows the drain as a decision (drained)" grep -q ">drained<" "$TMP/dom.html"
	chrome --screenshot="$TMP/status.png" --window-size=1100,1000 --hide-scrollbars "http://$METRICS/" >/dev/null
	cp "$TMP/status.png" "$OUTPUT/status-page.png" 2>/dev/null
	check "chromium --screenshot: a real picture ($(stat -c %s "$TMP/status.png" 2>/dev/null || echo 0) bytes)" \
		python3 - "$TMP/status.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
bpp = {2: 3, 6: 4}[ctype]
raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
for y in range(h):  # PNG filters undone, row by row
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0; b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line)); prev = line
colours = {r[i:i + 3] for r in rows[::4] for i in range(0, stride, bpp * 4)}
white = sum(1 for r in rows[::4] for i in range(0, stride, bpp * 4) if r[i:i + 3] == b"\xff\xff\xff")
total = len(rows[::4]) * len(range(0, stride, bpp * 4))
print(f"# {w}x{h}, {len(colours)} colours sampled, {100 - 100 * white // total}% not white")
sys.exit(0 if w >= 1000 and h >= 900 and len(colours) >= 20 and white < total * 0.97 else 1)
PY
fi

# --- Prometheus -------------------------------------------------------------------------------
fetch /metrics >"$TMP/metrics.txt"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.out" 2>&1
rc=$?
check "promtool check metrics: clean ($(grep -c '^# TYPE' "$TMP/metrics.txt") families)" \
	[ "$rc" -eq 0 -a ! -s "$TMP/promtool.out" ]
sed 's/^/#   promtool: /' "$TMP/promtool.out" | head -10
mkdir -p "$TMP/prom/data"
cat >"$TMP/prom/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ebbd
    static_configs:
      - targets: ["$METRICS"]
YML
on lb prometheus --config.file="$TMP/prom/prometheus.yml" --storage.tsdb.path="$TMP/prom/data" \
	--web.listen-address="$PROM" --log.level=warn >"$TMP/prom/log" 2>&1 &
prom_pid=$!
query() { on lb curl -s -m 5 -G "http://$PROM/api/v1/query" --data-urlencode "query=$1"; }
series() { query "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["data"]["result"]) if d["status"] == "success" else -1)' 2>/dev/null || echo -1; }
# the series of ebb_node_flows prometheus has (a function: `on` is none of sh -c's, and a
# wait through sh -c ran out its 30 s every run)
prom_flow_series() { query ebb_node_flows | grep -o '"node"' | wc -l; }
wait_for 300 holds -ge 3 prom_flow_series
check "prometheus scraped ebbd: up{job=\"ebbd\"} is 1" [ "$(query 'up{job="ebbd"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])' 2>/dev/null)" = 1 ]
query 'ebb_node_flows' >"$TMP/q.json"
check "prometheus has ebb_node_flows for 3 nodes, n1's as node show counted it" python3 - "$TMP/q.json" "$N1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["data"]["result"]
got = {s["metric"]["node"]: float(s["value"][1]) for s in r}
print("# prometheus ebb_node_flows:", got)
sys.exit(0 if len(got) == 3 and got.get(sys.argv[2], 0) >= 4 else 1)
PY
check "prometheus has ebb_node_state: n3 inactive" [ "$(series "ebb_node_state{node=\"$N3\",state=\"inactive\"} == 1")" = 1 ]

# --- the Grafana dashboard ----------------------------------------------------------------------
DASH=$EBB_ROOT/tools/grafana-ebb.json
python3 - "$DASH" "$TMP/metrics.txt" >"$TMP/exprs" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
exported = {l.split()[2] for l in open(sys.argv[2]) if l.startswith("# TYPE ")}
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
exprs += [v["query"] for v in d.get("templating", {}).get("list", []) if v.get("type") == "query"]
funcs = {"rate", "label_values", "sum", "by", "irate", "increase", "avg", "max", "min"}
bad = []
for e in exprs:
    names = {n for n in re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?=\s*[{\[(),]|\s*$|\s*==)", re.sub(r'"[^"]*"', '""', e))
             if n.startswith("ebb_")}
    bad += [f"{n} (in {e})" for n in names - exported]
    print(e.replace("$instance", ".*").replace("label_values(ebb_agent_state_open, instance)", "ebb_agent_state_open"))
print("# names:", len(exported), "exported;", "missing: " + "; ".join(bad) if bad else "all exported", file=sys.stderr)
sys.exit(1 if bad or not exprs else 0)
PY
check "tools/grafana-ebb.json: valid JSON, every metric its $(wc -l <"$TMP/exprs") queries name is one ebbd exports" [ $? -eq 0 ]
bad_q=""
while IFS= read -r e; do
	[ "$(series "$e")" -ge 0 ] || bad_q+="$e; "
done <"$TMP/exprs"
check "every dashboard query runs on the real Prometheus${bad_q:+ (failed: $bad_q)}" [ -z "$bad_q" ]
kill "$prom_pid" 2>/dev/null
wait "$prom_pid" 2>/dev/null
check "prometheus stopped" sh -c "! kill -0 $prom_pid 2>/dev/null"
finish
