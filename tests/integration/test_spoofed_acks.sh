#!/usr/bin/env bash
# Nothing the network says alone is a flow (issue 14 item 6): 3000 bare ACKs from spoofed
# sources, mid-flow segments of connections that never existed. Before rescues each was pinned
# by the second chance and counted as a live flow for the VIP's idle timeout: they drove a
# scale-out and undid an operator's drain. Now each misses the table, goes out as a rescue that
# no node claims (the last candidate answers it, as a node without ebb would), and its entry
# stays unconfirmed: no live flow, no load. Rescues are rate-limited, so the flood cannot make
# ebb an amplifier: what is over the rate goes the old way, counted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_agent.sh"
LAB_UP_OPTS=--node-prog lab_setup 3

VIP=203.0.113.10:80/tcp
N1=$(node_ip4 1)
METRICS=127.0.0.1:19478 # the LB namespace's own loopback
ACKS=3000 RATE=1500 RESCUE_RATE=300

hook_script "\$EBB_EVENT node=\$EBB_NODE \$EBB_OLD_STATE \$EBB_NEW_STATE"
# ebbd reads the nodes' own counts: the operator's drain is judged by n1's socket table
node_truth_setup
{
	echo "metrics = \"$METRICS\";"
	truth_pool "$VIP" \
		'scale = { metric = "flows"; target = 4; min = 1; max = 3; tolerance = 0.1;' \
		'          scale-in-window = 600; scale-out-window = 0; hook-cooldown = 600; };' \
		"hooks = { on-scale-out = [\"$TMP/hook.sh\"]; };"
} >"$TMP/ebbd.conf"

metric() { on lb curl -s "http://$METRICS/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
reason() { ctl -j stats show | json_get "d['reasons'].get('$1', {}).get('packets', 0)"; }
live_total() { ctl -j node show | json_get 'sum(n["flows"] for n in d)'; }

check "vip add $VIP fin-timeout 1" ctl vip add $VIP fin-timeout 1
for i in 1 2 3; do check "node add n$i node-prog" ctl node add "$(node_ip4 $i)" vip $VIP node-prog; done
check "prog set rescue-rate $RESCUE_RATE" ctl prog set rescue-rate $RESCUE_RATE

# A real, idle keep-alive connection on n1 keeps n1's drain going through the whole test.
hold "$TMP/hold.out" 100 n1=1
check "one idle connection held on n1: $(cat "$TMP/hold.out")" grep -q "ready n1=1" "$TMP/hold.out"
start_ebbd
wait_for 100 has_event start
check "ebbd started" has_event start
check "node drain n1 (an operator's drain)" ctl node drain "$N1"
check "n1 is draining" [ "$(state_of "$N1")" = draining ]

rescued0=$(reason rescued) limited0=$(reason rescue_limited)
on client "$OUTPUT/load/synflood" eth0 "$LB_MAC" 203.0.113.10 80 192.0.2.0 $ACKS $RATE ack >"$TMP/flood.out" 2>&1
check "synflood sent $ACKS spoofed ACKs ($(cat "$TMP/flood.out"))" grep -q "sent $ACKS ACKs" "$TMP/flood.out"
secs=$(sed -nE 's/.* in ([0-9.]+) s/\1/p' "$TMP/flood.out")

# ebbd has judged the table holding the spoofed entries once a walk saw them all; then two more
# walks, each followed by a decision tick (a scale-out window of 0 acts at the first).
walked() { [ "$(metric ebb_agent_flows_walked)" -ge $ACKS ] 2>/dev/null; }
wait_for 300 walked
check "ebbd walked the flow table with the spoofed entries ($(metric ebb_agent_flows_walked) entries)" walked
w0=$(metric ebb_agent_walks_total)
walks_after() { [ "$(metric ebb_agent_walks_total)" -ge $((w0 + 2)) ] 2>/dev/null; }
wait_for 300 walks_after
check "ebbd walked the table twice more ($(metric ebb_agent_walks_total) walks)" walks_after

total=$(live_total)
check "the spoofed ACKs count as no live flow ($total live in all; the held connection only)" [ "$total" -le 2 ]
check "no scale-out: ebbd logged none ($(events scale_out | wc -l))" [ "$(events scale_out | wc -l)" -eq 0 ]
check "... and ran no on-scale-out hook" [ ! -s "$HOOKS" ]
check "the operator's drain is not undone: n1 still draining ($(state_of "$N1"))" [ "$(state_of "$N1")" = draining ]
# ... and it is judged by the node: 1 live connection (the held one), none of the spoofed ones
n1_drain() { ctl -j node show "$N1" | json_get '"%s %s" % (d[0]["drain_verified"], d[0]["node_live_connections"])'; }
wait_for 300 holds = "True 1" n1_drain
check "n1's drain is verified by its own count: 1 live connection, the held one ($(n1_drain))" \
	[ "$(n1_drain)" = "True 1" ]
load=$(metric 'ebb_pool_load{pool="web"}')
note "pool load after the flood: $load (target 4 per node)"

rescued=$(($(reason rescued) - rescued0)) limited=$(($(reason rescue_limited) - limited0))
ncpu=$(nproc)
bound=$(python3 -c "import math; print(int($RESCUE_RATE * $ncpu * (math.ceil(float('${secs:-2}')) + 1)))")
note "$ACKS spoofed ACKs in ${secs}s: $rescued rescued, $limited over the rate (rescue-rate $RESCUE_RATE per CPU, $ncpu CPUs)"
check "every spoofed ACK was rescued or refused by the rate ($rescued + $limited >= $ACKS)" \
	[ $((rescued + limited)) -ge $ACKS ]
check "rescues stayed within the rate limit ($rescued <= $bound)" [ "$rescued" -le "$bound" ]
check "the rate limit refused some ($limited)" [ "$limited" -gt 0 ]
# what the node programs did with the rescues
node_count() { on "n$1" "$EBBCTL" -j --bpffs "/sys/fs/bpf/ebb-lab-${PFX}n$1" backend show |
	json_get "d['rescues'].get('$2', 0)"; }
claimed=0 last=0
for i in 1 2 3; do
	claimed=$((claimed + $(node_count "$i" claimed)))
	last=$((last + $(node_count "$i" delivered_last)))
done
note "the nodes: $last rescues ended at the last candidate (answered as without ebb), $claimed claimed"
check "every rescue reached a node and ended there ($last >= $rescued)" [ "$last" -ge "$rescued" ]
check "no node claimed a spoofed ACK's flow ($claimed)" [ "$claimed" -eq 0 ]
finish
