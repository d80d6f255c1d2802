#!/usr/bin/env bash
# "Why was this packet dropped" (issue 17 item 8), in a lab with real nginx nodes: a VIP whose
# only node is inactive drops the client's SYNs; `ebbctl flow trace type drop` shows such a drop
# with its reason, VIP and addresses; `-j flow trace vip VIP` shows a forwarded packet with its
# node; a second trace is refused while one runs, and the monitor is off again once a trace ends
# (count, SIGINT); `stats show vip VIP` gives the VIP's drops by reason. ebbd's /metrics has the VIP's drops by reason, the per-VIP and per-reason
# series and ebb_build_info; promtool accepts the page; every family it exports is named in
# doc/ebbd.8, and every metric the Grafana dashboard queries is exported. `prog show` gives the
# program's tag (bpftool's) and load time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_agent.sh"
lab_setup 2

VIP=203.0.113.10:80/tcp DEAD=203.0.113.20:80/tcp
N1=$(node_ip4 1) N2=$(node_ip4 2)
METRICS=127.0.0.1:19478
check "vip add $VIP" ctl vip add $VIP
check "vip add $DEAD" ctl vip add $DEAD
check "node add n1 vip $VIP" ctl node add "$N1" vip $VIP
check "node add n2 vip $DEAD inactive (the VIP has no node for new flows)" ctl node add "$N2" vip $DEAD inactive
monitor_sample() { bpftool -j map lookup pinned "$BPFFS/monitor" key 0 0 0 0 | json_get 'd["formatted"]["value"]["sample"]'; }
check "nobody listens: monitor sample 0" [ "$(monitor_sample)" = 0 ]

# trace ARGS...: ebbctl flow trace in the LB namespace, in the background (nsenter execs ebbctl:
# $! is its pid), its events in $TMP/trace.out, its banner and errors in $TMP/trace.err.
trace() {
	# the last trace's banner must not be taken for this one's: the shell truncates the files
	# only once the background child runs, which can be after wait_for has read them
	rm -f "$TMP/trace.out" "$TMP/trace.err"
	nsenter --net="/run/netns/${PFX}lb" "$EBBCTL" --bpffs "$BPFFS" "$@" >"$TMP/trace.out" 2>"$TMP/trace.err" &
	trace_pid=$!
	wait_for 100 grep -q '^tracing' "$TMP/trace.err"
}

# --- a drop, shown with its reason
trace flow trace type drop count 1 timeout 120
check "flow trace started: $(head -1 "$TMP/trace.err")" grep -q '^tracing 1 packet in 1 (drop)' "$TMP/trace.err"
check "... the monitor is on while it runs (sample 1)" [ "$(monitor_sample)" = 1 ]
on client curl -s -m 3 -o /dev/null "http://${DEAD%:*}/"
check "curl to $DEAD fails (its SYNs are dropped)" [ $? -ne 0 ]
wait "$trace_pid"
rc=$?
sed 's/^/#   trace: /' "$TMP/trace.out"
check "flow trace ended after 1 event (count 1), status 0" [ "$rc" -eq 0 -a "$(grep -c . "$TMP/trace.out")" -eq 1 ]
check "... it shows the drop's reason, the client, the VIP, no node" \
	grep -Eq "^[0-9:.]+ drop +drop_no_node +$CLIENT_IP4:[0-9]+ -> ${DEAD%/tcp}/tcp vip $DEAD node - [0-9]+ bytes cpu [0-9]+$" "$TMP/trace.out"
check "... and the monitor is off again (sample 0)" [ "$(monitor_sample)" = 0 ]
drops=$(ctl -j stats show | json_get 'd["reasons"]["drop_no_node"]["packets"]')
check "stats show: drop_no_node counted ($drops)" [ "${drops:-0}" -ge 1 ]
ctl -j stats show vip $DEAD >"$TMP/vipstats.json"
check "stats show vip $DEAD: its drops by reason, drop_no_node ($(cat "$TMP/vipstats.json"))" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["reasons"]
sys.exit(0 if d.get("drop_no_node", {}).get("packets", 0) >= 1 and "forwarded" not in d else 1)' "$TMP/vipstats.json"
vip_drops=$(ctl -j stats show vip $VIP | json_get 'len(d["reasons"])')
check "stats show vip $VIP: no reason counted (all its packets forwarded)" [ "$vip_drops" = 0 ]

# --- a forward, as JSON, of one VIP only
trace -j flow trace vip $VIP count 1 timeout 120
on client curl -s -m 3 -o /dev/null "http://${DEAD%:*}/" # not this VIP's: not shown
on client curl -s -m 3 -o /dev/null "http://${VIP%:*}/"
check "curl to $VIP answered" [ $? -eq 0 ]
wait "$trace_pid"
sed 's/^/#   trace -j: /' "$TMP/trace.out"
check "flow trace -j vip $VIP: the client's packet, forwarded to n1" python3 - "$TMP/trace.out" "$VIP" "$N1" "$CLIENT_IP4" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
e = ev[0] if len(ev) == 1 else {}
sys.exit(0 if e.get("verdict") == "tx" and e.get("reason") == "forwarded" and e.get("vip") == sys.argv[2]
         and e.get("node") == sys.argv[3] and e.get("src") == sys.argv[4] and e.get("dport") == 80 else 1)
PY

# --- one listener at a time; SIGINT ends a trace and turns the monitor off
trace flow trace timeout 120
ctl flow trace count 1 timeout 5 >/dev/null 2>"$TMP/second.err"
check "a second trace is refused while one runs: $(cat "$TMP/second.err")" \
	grep -q "^Error: another 'flow trace' is listening (pid $trace_pid)" "$TMP/second.err"
kill -INT "$trace_pid"
wait "$trace_pid"
check "SIGINT ends the first (status $?) and the monitor is off (sample $(monitor_sample))" [ "$(monitor_sample)" = 0 ]
# Ten pairs started at once: in each, one listens and the other is refused (the claim is made
# under the state's lock; without it both can find the monitor free and both listen). The
# listener is stopped once the other has ended, so the pair overlaps whatever the load.
both=0 refused=0
for i in $(seq 10); do
	for j in 1 2; do
		nsenter --net="/run/netns/${PFX}lb" "$EBBCTL" --bpffs "$BPFFS" flow trace timeout 30 \
			>/dev/null 2>"$TMP/pair$j.err" &
		pair_pid[j]=$!
	done
	wait -n "${pair_pid[1]}" "${pair_pid[2]}"
	kill -INT "${pair_pid[1]}" "${pair_pid[2]}" 2>/dev/null
	wait "${pair_pid[1]}" "${pair_pid[2]}"
	n=$(grep -l "^Error: another 'flow trace' is listening" "$TMP/pair1.err" "$TMP/pair2.err" | wc -l)
	[ "$n" -eq 0 ] && both=$((both + 1))
	[ "$n" -eq 1 ] && refused=$((refused + 1))
done
check "two traces started at once: one listens, one is refused, in $refused of 10 pairs ($both with both listening)" \
	[ "$refused" -eq 10 ]
check "... and the monitor is off after them (sample $(monitor_sample))" [ "$(monitor_sample)" = 0 ]
ctl flow trace type bogus 2>"$TMP/bad.err"
rc=$?
[ "$rc" -ne 0 -a "$(monitor_sample)" = 0 ] && grep -q "^Error: unknown type 'bogus'" "$TMP/bad.err"
check "a wrong argument: $(cat "$TMP/bad.err"), status $rc, monitor untouched" [ $? -eq 0 ]

# --- prog show: the tag and load time of the running program
ctl prog show | sed 's/^/#   prog show: /'
ctl -j prog show >"$TMP/prog.json"
id=$(json_get 'd[0]["prog_id"]' <"$TMP/prog.json")
tag=$(json_get 'd[0]["tag"]' <"$TMP/prog.json")
check "prog show -j: tag $tag is bpftool's for prog $id" [ "$tag" = "$(bpftool -j prog show id "$id" | json_get 'd["tag"]')" ]
check "prog show -j: loaded_at $(json_get 'd[0]["loaded_at"]' <"$TMP/prog.json") is today, UTC" \
	grep -q "\"loaded_at\":\"$(date -u +%Y-%m-%d)T[0-9:]*Z\"" "$TMP/prog.json"
check "prog show: the same in text" bash -c "nsenter --net=/run/netns/${PFX}lb $EBBCTL --bpffs $BPFFS prog show | grep -q 'prog_id $id link_id [0-9]* tag $tag loaded_at '"

# --- /metrics
cat >"$TMP/ebbd.conf" <<CONF
metrics = "$METRICS";
CONF
start_ebbd
scrape() { on lb curl -s -m 2 "http://$METRICS/metrics"; }
wait_for 100 eval 'scrape | grep -q "^ebb_vip_reason_packets_total"'
scrape >"$TMP/metrics.txt"
grep -E '^ebb_(vip|reason|build)' "$TMP/metrics.txt" | sed 's/^/#   /'
check "ebb_vip_reason_packets_total: $DEAD's drop_no_node drops" \
	grep -Eq "^ebb_vip_reason_packets_total\{vip=\"$DEAD\",reason=\"drop_no_node\"\} [1-9][0-9]*$" "$TMP/metrics.txt"
check "ebb_vip_packets_total for both VIPs" \
	bash -c "grep -q '^ebb_vip_packets_total{vip=\"$VIP\"} [1-9]' '$TMP/metrics.txt' && grep -q '^ebb_vip_packets_total{vip=\"$DEAD\"} [1-9]' '$TMP/metrics.txt'"
check "ebb_reason_packets_total{reason=\"forwarded\"} counts the forwarded packets" \
	grep -Eq '^ebb_reason_packets_total\{reason="forwarded"\} [1-9]' "$TMP/metrics.txt"
# the commit HEAD was when ebbd was built (the Makefile's record of it)
commit=$(sed -n 's/^#define EBB_GIT_COMMIT "\(.*\)"$/\1/p' "$OUTPUT/build_commit.h")
check "ebb_build_info: version, commit $commit, layout" \
	grep -Eq "^ebb_build_info\{version=\"[0-9.]+\",commit=\"$commit\",layout=\"[0-9]+\"\} 1$" "$TMP/metrics.txt"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.out" 2>&1
rc=$?
check "promtool check metrics: clean ($(head -c 200 "$TMP/promtool.out" | tr '\n' ' '))" [ "$rc" -eq 0 -a ! -s "$TMP/promtool.out" ]
undocumented=$(grep '^# TYPE ' "$TMP/metrics.txt" | awk '{print $3}' | while read -r m; do
	grep -q "\b$m\b" "$EBB_ROOT/doc/ebbd.8" || echo "$m"
done | tr '\n' ' ')
check "every family /metrics exports is named in doc/ebbd.8${undocumented:+ (not: $undocumented)}" [ -z "$undocumented" ]
python3 - "$EBB_ROOT/tools/grafana-ebb.json" "$TMP/metrics.txt" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
exported = {l.split()[2] for l in open(sys.argv[2]) if l.startswith("# TYPE ")}
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
used = {n for e in exprs for n in re.findall(r"\b(ebb_[a-z0-9_]+)", e)}
print("# dashboard: vip/reason panels use", sorted(n for n in used if "reason" in n or "vip" in n or "build" in n))
sys.exit(0 if {"ebb_vip_reason_packets_total", "ebb_reason_packets_total", "ebb_build_info"} <= used and used <= exported else 1)
PY
check "tools/grafana-ebb.json queries the per-VIP and per-reason series and ebb_build_info, all exported" [ $? -eq 0 ]
finish
