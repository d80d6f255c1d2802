#!/usr/bin/env bash
# ebbd's scaling on live flows (target 4 per node, min 2, max 6, scale-in window 3 s): with
# 3 flows over 4 active nodes it drains, after the window, exactly the nodes whose flows end
# soonest (n4 with none, then n3: one flow, the youngest of the one-flow nodes), and never goes
# below min; when 18 more connections arrive it re-activates the draining n3 first, then the
# inactive n4, then asks the on-scale-out hook for the rest. Hooks record every decision.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_agent.sh"
lab_setup 4

VIP=203.0.113.10:80/tcp
N1=$(node_ip4 1) N2=$(node_ip4 2) N3=$(node_ip4 3) N4=$(node_ip4 4)

hook_script "\$EBB_EVENT node=\$EBB_NODE \$EBB_OLD_STATE \$EBB_NEW_STATE wanted=\$EBB_NODES_WANTED"
cat >"$TMP/ebbd.conf" <<CONF
metrics = "";
pools = ( {
  name = "web";
  vips = ["$VIP"];
  scale = { metric = "flows"; target = 4; min = 2; max = 6; tolerance = 0.1;
            scale-in-window = 3; scale-out-window = 0; hook-cooldown = 600; };
  hooks = { on-scale-in = ["$TMP/hook.sh"]; on-scale-out = ["$TMP/hook.sh"];
            on-drained = ["$TMP/hook.sh"]; };
} );
CONF

states() { ctl -j node show | json_get '" ".join(n["state"] for n in d)'; }

check "vip add $VIP fin-timeout 1" ctl vip add $VIP fin-timeout 1
for i in 1 2 3 4; do check "node add n$i" ctl node add "$(node_ip4 $i)" vip $VIP; done

# Low load: one idle connection each on n1, n2, n3; none on n4.
hold "$TMP/hold1.out" 50 n1=1 n2=1 n3=1
check "3 idle connections held: $(cat "$TMP/hold1.out")" grep -q "ready n1=1 n2=1 n3=1" "$TMP/hold1.out"
sleep 1.3 # the connections hold.py closed are over (FIN timeout 1 s)

start_ebbd
wait_for 50 has_event start
start_ts=$(events start | field ts)
for _ in $(seq 60); do [ "$(events scale_in | wc -l)" -ge 2 ] && break; sleep 0.1; done
events scale_in >"$TMP/scale_in"
sed 's/^/# /' "$TMP/scale_in"
check "two scale-in decisions: n4 (0 flows) then n3 (1 flow, youngest)" \
	[ "$(field node <"$TMP/scale_in" 2>/dev/null; sed -n 2p "$TMP/scale_in" | field node)" = "$N4
$N3" ]
first=$(head -1 "$TMP/scale_in" | field ts)
waited=$(python3 -c "print('%.2f' % ($first - $start_ts))")
check "... only after the 3 s window (${waited}s after ebbd started)" \
	python3 -c "import sys; sys.exit(not 3 <= $waited < 5)"
check "... with its numbers: total 3, target 4, 4 active, desired 2 (min)" python3 -c "
import json; e = json.loads(open('$TMP/scale_in').readline())
assert (e['total'], e['target'], e['active'], e['desired'], e['metric']) == (3, 4, 4, 2, 'flows'), e"
check "n4 (no flow) is inactive, n3 (one flow) draining" ctl node wait "$N4" state inactive timeout 3
check "... n3 draining" [ "$(ctl -j node show "$N3" | json_get 'd[0]["state"]')" = draining ]
sleep 4
check "never below min 2: n1 and n2 still active after another window ($(states))" \
	[ "$(states)" = "active active draining inactive" ]
check "... and no third scale-in" [ "$(events scale_in | wc -l)" = 2 ]

# Rising load: 18 more connections (n1, n2 take them: n3 drains, n4 is inactive).
hold "$TMP/hold2.out" 100 n1=9 n2=9
check "18 more connections held: $(cat "$TMP/hold2.out")" grep -q "ready n1=9 n2=9" "$TMP/hold2.out"
wait_for 40 has_event scale_out_wanted
events scale_out | sed 's/^/# /'
check "scale-out re-activated the draining n3 first, then the inactive n4" \
	[ "$(events scale_out | field node 2>/dev/null; events scale_out | sed -n 2p | field node)" = "$N3
$N4" ]
check "... then asked the hook for more nodes ($(events scale_out_wanted | field nodes_wanted) wanted)" \
	python3 -c "import sys; sys.exit(not $(events scale_out_wanted | field nodes_wanted) >= 1)"
check "all 4 nodes active ($(states))" [ "$(states)" = "active active active active" ]
sleep 0.5
sed 's/^/# hook: /' "$HOOKS"
check "hooks ran once per decision" python3 - "$HOOKS" "$N3" "$N4" <<'PY'
import sys
lines = [l.split() for l in open(sys.argv[1])]
n3, n4 = "node=" + sys.argv[2], "node=" + sys.argv[3]
want = [["scale-in", n4, "active", "draining"], ["scale-in", n3, "active", "draining"],
        ["drained", n4, "draining", "inactive"], ["scale-out", n3, "draining", "active"],
        ["scale-out", n4, "inactive", "active"], ["scale-out", "node="]]
got = [l[:4] if l[1] != "node=" else l[:2] for l in lines]
# Hooks run concurrently: their lines may land in any order. The "more nodes" one has a count.
wanted = [l for l in lines if l[1] == "node="]
sys.exit(0 if sorted(got) == sorted(want) and len(wanted) == 1 and wanted[0][2].startswith("wanted=")
         and wanted[0][2] != "wanted=" else 1)
PY
finish
