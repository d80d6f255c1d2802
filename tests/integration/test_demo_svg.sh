#!/usr/bin/env bash
# make demo's timeline picture (tools/demo_svg.py, issue 17 item 4), on a run shaped like a real
# one: rows taken late and unevenly, a node draining 5 s, decisions close together (a scale-in,
# a retirement, a scale-out and a node down and up within a second, one at the right edge),
# and a decision after the last row. The picture must state as many decisions as it draws and
# as ebbd logged, show the draining band, and lay out labels that do not overlap; and its check
# must fail on a picture missing a decision, with overlapping labels, or without a band.
# No root, no lab. TAP output.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SVG=$ROOT/tools/demo_svg.py
TMP=$(mktemp -d /tmp/ebb-demo-svg.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
n_ok=0 n_fail=0
ok() { n_ok=$((n_ok + 1)); echo "ok - $*"; }
not_ok() { n_fail=$((n_fail + 1)); echo "not ok - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

START=1700000000000
# fixture DIR DRAIN_S: timeline.jsonl and ebbd.log; n1 drains from 14.2 s for DRAIN_S seconds
fixture() {
	mkdir -p "$1"
	python3 - "$1" "$2" "$START" <<'PY'
import json, sys
d, drain, start = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]) / 1000
rows, t, k = [], 0.0, 0
while t < 34:
    phase = "busy" if t < 9 else "quiet" if t < 25 else "rising"
    s1 = ("draining" if 14.2 <= t < 14.2 + drain else "inactive" if 14.2 + drain <= t < 25.5 else "active")
    s2 = "down" if 25.4 <= t < 26.4 else "active"
    rows.append({"t": round(t, 3), "phase": phase,
                 "nodes": [["198.51.100.11", s1, 0 if s1 == "inactive" else 3],
                           ["198.51.100.12", s2, 9 + k % 5], ["198.51.100.13", "active", 7 + k % 3]]})
    t += 1.0 + (0.35 if k % 4 == 1 else 0.05)   # late rows, as under load
    k += 1
log = [("start", 0.3, {}), ("check", 1.0, {"node": "198.51.100.11"}),
       ("scale_in", 14.2, {"node": "198.51.100.11"}), ("drained", 14.2 + drain, {"node": "198.51.100.11"}),
       ("scale_out", 25.3, {"node": "198.51.100.11"}), ("down", 25.4, {"node": "198.51.100.12"}),
       ("up", 26.4, {"node": "198.51.100.12"}), ("scale_in", 34.6, {"node": "198.51.100.13"})]
with open(f"{d}/timeline.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
with open(f"{d}/ebbd.log", "w") as f:
    f.write("ebbd: not json, skipped\n")
    for ev, at, extra in log:
        f.write(json.dumps(dict({"ts": start + at, "event": ev}, **extra)) + "\n")
PY
}

fixture "$TMP/run" 5.2
if python3 "$SVG" render "$TMP/run/timeline.jsonl" "$TMP/run/ebbd.log" "$TMP/run/out.svg" "$START" >"$TMP/render.out"; then
	ok "render: $(sed 's/^ *//' "$TMP/render.out")"
else
	not_ok "render exits 0 ($(cat "$TMP/render.out"))"
fi
check "render says it marked the 6 decisions ebbd logged" grep -q ' 6 ebbd decisions marked' "$TMP/render.out"
marks=$(grep -c 'class="decision"' "$TMP/run/out.svg")
check "the picture draws 6 decision marks (got $marks)" test "$marks" = 6
check "the picture states 6 (data-decisions=\"6\")" grep -q 'data-decisions="6"' "$TMP/run/out.svg"
check "a draining band is drawn" grep -q 'class="band draining"' "$TMP/run/out.svg"
check "the decision after the last row is on the axis too (x <= 880)" python3 - "$TMP/run/out.svg" <<'PY'
import re, sys
xs = [float(m) for m in re.findall(r'class="decision"[^>]* x1="([0-9.]+)"', open(sys.argv[1]).read())]
sys.exit(0 if xs and max(xs) <= 880 else 1)
PY
if python3 "$SVG" check "$TMP/run/out.svg" "$TMP/run/ebbd.log" "$START" 2 >"$TMP/check.out"; then
	ok "check passes: $(tr -s ' \n' ' ' <"$TMP/check.out")"
else
	not_ok "check passes on the picture as rendered: $(tr -s ' \n' ' ' <"$TMP/check.out")"
fi

# The check can fail: a mark removed, two labels on top of each other, a drain too short to see.
python3 - "$TMP/run/out.svg" "$TMP/one-less.svg" "$TMP/clash.svg" <<'PY'
import re, sys
svg = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(re.sub(r'<line class="decision".*?</line>\n', "", svg, count=1))
labels = re.findall(r'<text class="label" x="([0-9.]+)" y="([0-9.]+)"', svg)
(x0, y0), (x1, y1) = labels[-1], labels[-2]
open(sys.argv[3], "w").write(svg.replace(f'<text class="label" x="{x0}" y="{y0}"', f'<text class="label" x="{x1}" y="{y1}"'))
PY
if python3 "$SVG" check "$TMP/one-less.svg" "$TMP/run/ebbd.log" "$START" >"$TMP/c1.out"; then
	not_ok "check fails on a picture that draws one decision less than it states"
else
	ok "check fails on a picture that draws one decision less: $(grep FAILED "$TMP/c1.out" | head -n 1 | sed 's/^ *//')"
fi
if python3 "$SVG" check "$TMP/clash.svg" "$TMP/run/ebbd.log" "$START" >"$TMP/c2.out"; then
	not_ok "check fails on a picture with one label over another"
else
	ok "check fails on a picture with one label over another: $(grep FAILED "$TMP/c2.out" | head -n 1 | sed 's/^ *//')"
fi
fixture "$TMP/short" 0.3
python3 "$SVG" render "$TMP/short/timeline.jsonl" "$TMP/short/ebbd.log" "$TMP/short/out.svg" "$START" >/dev/null
if python3 "$SVG" check "$TMP/short/out.svg" "$TMP/short/ebbd.log" "$START" 2 >"$TMP/c3.out"; then
	not_ok "check fails on a drain of 0.3 s (no band of 2 s to see)"
else
	ok "check fails on a drain of 0.3 s: $(grep FAILED "$TMP/c3.out" | head -n 1 | sed 's/^ *//')"
fi
echo "# $n_ok passed, $n_fail failed"
[ "$n_fail" -eq 0 ]
