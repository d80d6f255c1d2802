#!/usr/bin/env python3
"""make demo's timeline picture, and its check.

  demo_svg.py render TIMELINE.jsonl EBBD.log OUT.svg START_MS
      Live flows per node (lines) over the run, each node's state as a band under the plot, the
      phases shaded and every ebbd decision in EBBD.log marked: what the demo's table says, as one
      picture. TIMELINE.jsonl: one row per snapshot, {"t": seconds since START_MS when the row was
      taken, "phase", "nodes": [[addr, state, flows], ...]}. Prints one line saying what it drew.
  demo_svg.py check OUT.svg EBBD.log START_MS [MIN_DRAIN_S]
      Reads the picture back: the decisions it states it marked are the ones it draws, and the
      ones in EBBD.log; no two labels overlap; a draining band at least MIN_DRAIN_S seconds wide
      (default 0: any). Prints what it found; exits 1 when one of these does not hold.
"""
import json
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

DECISIONS = ("scale_in", "scale_out", "drained", "down", "up")
NAMES = {"scale_in": "scale-in", "scale_out": "scale-out", "drained": "retired"}
STATE_FILL = {"active": "#cdeccd", "draining": "#ffe7a3", "inactive": "#dddddd", "down": "#f5b7b7"}
PHASE_FILL = {"busy": "#f4f8ff", "quiet": "#fbfbfb", "rising": "#f4fff6"}
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
W, L, R, TM, PH, BAND = 900, 120, 20, 62, 260, 16
NS = "{http://www.w3.org/2000/svg}"


def text_width(text, size):
    """A generous estimate of a sans-serif label's width in pixels (no font metrics here): wide
    enough that labels laid out with it do not touch on screen."""
    return 0.62 * size * len(text)


def decisions(log_path, start_ms):
    out = []
    for line in open(log_path):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") in DECISIONS and "ts" in e:
            out.append((float(e["ts"]) - start_ms / 1000.0, e))
    return sorted(out, key=lambda te: te[0])


def label_rows(spans, gap=4):
    """spans: [(x0, x1)] in the order given; returns a row for each, the first row where it
    overlaps no earlier span."""
    ends, rows = [], []
    for x0, x1 in spans:
        for i, end in enumerate(ends):
            if x0 >= end + gap:
                ends[i] = x1
                rows.append(i)
                break
        else:
            ends.append(x1)
            rows.append(len(ends) - 1)
    return rows


def render(timeline, log_path, out_path, start_ms):
    rows = [json.loads(l) for l in open(timeline) if l.strip()]
    evs = decisions(log_path, start_ms)
    nodes = [n[0] for n in rows[0]["nodes"]] if rows else []
    # the axis covers every row and every decision, so each decision has its place on it
    T = max([r["t"] for r in rows] + [t for t, _ in evs] + [1.0])
    ymax = max([n[2] for r in rows for n in r["nodes"]] + [1])
    p = 1
    while p * 10 <= ymax:
        p *= 10
    top = next(m * p for m in (1, 2, 5, 10) if m * p >= ymax)
    pw = W - L - R
    H = TM + PH + 30 + len(nodes) * (BAND + 6) + 30
    x = lambda t: L + pw * max(t, 0.0) / T
    y = lambda v: TM + PH - PH * v / top
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="22" font-size="15" font-weight="bold">make demo: live flows per node, node states and ebbd decisions</text>',
         f'<text class="stated" data-decisions="{len(evs)}" x="{L}" y="38" fill="#444">'
         f'{len(evs)} ebbd decisions marked (dashed lines); rows are placed at the second they were taken</text>']
    labels = []  # (x0, y0, x1, y1) of every label drawn, for the check
    # phases
    spans, cur = [], None
    for r in rows:
        if not cur or cur[0] != r["phase"]:
            cur = [r["phase"], r["t"], r["t"]]
            spans.append(cur)
        cur[2] = r["t"]
    for i, (ph, a, b) in enumerate(spans):
        b2 = spans[i + 1][1] if i + 1 < len(spans) else T
        o.append(f'<rect x="{x(a):.1f}" y="{TM}" width="{x(b2) - x(a):.1f}" height="{PH}" fill="{PHASE_FILL.get(ph, "#fff")}"/>')
        # above the plot, where no decision's line crosses it
        o.append(f'<text class="label" x="{x(a) + 4:.1f}" y="{TM - 4}" font-size="12" fill="#666">{escape(ph)}</text>')
    for g in range(5):
        v = top * g / 4
        o.append(f'<line x1="{L}" x2="{L + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e5e5e5"/>')
        o.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for t in range(0, int(T) + 1, 5):
        o.append(f'<text x="{x(t):.1f}" y="{TM + PH + 16}" text-anchor="middle">{t}s</text>')
    o.append(f'<text x="{L - 40}" y="{TM + PH / 2}" transform="rotate(-90 {L - 40} {TM + PH / 2})" text-anchor="middle">live flows</text>')
    for i, addr in enumerate(nodes):
        pts = " ".join(f"{x(r['t']):.1f},{y(r['nodes'][i][2]):.1f}" for r in rows if i < len(r["nodes"]))
        o.append(f'<polyline fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="2.5" points="{pts}"/>')
        by = TM + PH + 30 + i * (BAND + 6)
        o.append(f'<text x="{L - 8}" y="{by + 12}" text-anchor="end" fill="{COLORS[i % len(COLORS)]}" font-weight="bold">{escape(addr)}</text>')
        band_labels, last_end = [], -1e9
        for j, r in enumerate(rows):
            t1 = rows[j + 1]["t"] if j + 1 < len(rows) else T
            st = r["nodes"][i][1] if i < len(r["nodes"]) else "?"
            o.append(f'<rect class="band {escape(st)}" data-t0="{r["t"]:.2f}" data-t1="{t1:.2f}" x="{x(r["t"]):.1f}" y="{by}" '
                     f'width="{max(x(t1) - x(r["t"]), 0) + 0.5:.1f}" height="{BAND}" fill="{STATE_FILL.get(st, "#fff")}"><title>{escape(st)}</title></rect>')
            if j == 0 or rows[j - 1]["nodes"][i][1] != st:
                x0 = x(r["t"]) + 3
                # a state too short for its name keeps its colour (and the legend) only
                if x0 >= last_end + 4:
                    last_end = x0 + text_width(st, 10)
                    band_labels.append(f'<text class="label" x="{x0:.1f}" y="{by + 12}" font-size="10">{escape(st)}</text>')
        o += band_labels  # over the bands, not under the next one
    # decisions: one dashed line each, its label in the first row where it overlaps no other
    texts = [f'{NAMES.get(e["event"], e["event"])} {e.get("node", "")}'.strip() for _, e in evs]
    boxes = []
    for (t, e), s in zip(evs, texts):
        w = text_width(s, 11)
        xt = x(t)
        boxes.append((xt + 3, xt + 3 + w, "start") if xt + 3 + w <= W - R else (xt - 3 - w, xt - 3, "end"))
    for (t, e), s, (x0, x1, anchor), row in zip(evs, texts, boxes, label_rows([(b[0], b[1]) for b in boxes])):
        xt = x(t)
        ly = TM + 16 + 14 * row
        o.append(f'<line class="decision" data-event="{escape(e["event"])}" data-t="{t:.2f}" x1="{xt:.1f}" x2="{xt:.1f}" '
                 f'y1="{TM}" y2="{TM + PH}" stroke="#444" stroke-dasharray="4 3"><title>{t:.1f}s {escape(s)}</title></line>')
        # a white halo: readable where another decision's line crosses it
        o.append(f'<text class="label" x="{xt + 3 if anchor == "start" else xt - 3:.1f}" y="{ly}" font-size="11" '
                 f'text-anchor="{anchor}" stroke="white" stroke-width="3" paint-order="stroke">{escape(s)}</text>')
    ly = H - 14
    for k, (st, c) in enumerate(STATE_FILL.items()):
        o.append(f'<rect x="{L + k * 100}" y="{ly - 10}" width="14" height="12" fill="{c}"/><text x="{L + k * 100 + 18}" y="{ly}">{st}</text>')
    o.append("</svg>")
    open(out_path, "w").write("\n".join(o) + "\n")
    ET.parse(out_path)  # well-formed, or the demo says so
    drained = sum(1 for _, e in evs if e["event"] == "drained")
    print(f"   {len(rows)} rows over {T:.1f} s, {len(nodes)} nodes, {len(evs)} ebbd decisions marked"
          + (f" ({', '.join(sorted(set(NAMES.get(e['event'], e['event']) for _, e in evs)))})" if evs else "")
          + (f"; draining band {draining_seconds(rows):.1f} s" if drained else ""))


def draining_seconds(rows):
    """The longest time a node stayed draining, from the rows' own stamps."""
    best = 0.0
    if not rows:
        return best
    for i in range(len(rows[0]["nodes"])):
        run = None
        for j, r in enumerate(rows):
            t1 = rows[j + 1]["t"] if j + 1 < len(rows) else r["t"]
            if i < len(r["nodes"]) and r["nodes"][i][1] == "draining":
                run = (run or 0.0) + (t1 - r["t"])
                best = max(best, run)
            else:
                run = None
    return best


def check(svg_path, log_path, start_ms, min_drain_s=0.0):
    root = ET.parse(svg_path).getroot()
    failed = []
    stated = [int(e.get("data-decisions")) for e in root.iter(NS + "text") if e.get("class") == "stated"]
    marks = [e for e in root.iter(NS + "line") if e.get("class") == "decision"]
    logged = decisions(log_path, start_ms)
    print(f"   picture: states {stated[0] if stated else 'no count of'} decisions marked, draws {len(marks)}, "
          f"ebbd logged {len(logged)}")
    if len(stated) != 1 or stated[0] != len(marks) or len(marks) != len(logged):
        failed.append("the decisions stated, drawn and logged differ")
    if sorted(m.get("data-event") for m in marks) != sorted(e["event"] for _, e in logged):
        failed.append("the decisions drawn are not the ones logged")
    boxes = []
    for e in root.iter(NS + "text"):
        if e.get("class") != "label":
            continue
        size = float(e.get("font-size", 12))
        w = text_width(e.text or "", size)
        x0 = float(e.get("x")) - (w if e.get("text-anchor") == "end" else 0)
        y1 = float(e.get("y"))
        boxes.append((x0, y1 - size, x0 + w, y1, e.text))
    clashes = [(a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
               if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
    print(f"   labels: {len(boxes)}, overlapping pairs: {len(clashes)}" + "".join(f"; '{a}' / '{b}'" for a, b in clashes[:5]))
    if clashes:
        failed.append("labels overlap")
    bands = [e for e in root.iter(NS + "rect") if (e.get("class") or "").split()[-1:] == ["draining"]]
    # one node's longest unbroken draining stretch, from the stamps the bands carry
    longest, runs = 0.0, {}
    for b in bands:
        key = b.get("y")
        t0, t1 = float(b.get("data-t0")), float(b.get("data-t1"))
        run = runs.get(key)
        run = (run[0], t1) if run and abs(run[1] - t0) < 1e-6 else (t0, t1)
        runs[key] = run
        longest = max(longest, run[1] - run[0])
    width = sum(float(b.get("width")) for b in bands)
    print(f"   draining band: {len(bands)} pieces, {width:.0f} px, longest {longest:.1f} s")
    if not bands or width < 8 or longest < min_drain_s:
        failed.append(f"no visible draining band (>= {min_drain_s:g} s)")
    for f in failed:
        print(f"   picture check FAILED: {f}")
    return not failed


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "render":
        render(a[1], a[2], a[3], int(a[4]))
    elif len(a) in (4, 5) and a[0] == "check":
        sys.exit(0 if check(a[1], a[2], int(a[3]), float(a[4]) if len(a) == 5 else 0.0) else 1)
    else:
        sys.exit(__doc__)
