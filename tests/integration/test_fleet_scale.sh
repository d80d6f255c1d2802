#!/usr/bin/env bash
# Scaling in a fleet decides on fleet-wide sums, and nobody sees them where a host's own count
# belongs (issue 18). wrk's keep-alive flows spread by the router over lb1, lb2 and lb3; every
# host's pool figure (/metrics ebb_pool_load, flows) is the fleet's total, the leader's and the
# others' alike, while each host's per-node counts (ebb_node_flows, and the reports the others
# sum) stay its own share. The pool may grow to 5 but has only its 3 nodes, all active: nothing
# moves, and the fleet's load asks for 2 machines more, through the leader's on-scale-out hook
# alone (every host used to run it: the autoscaler was asked once per host).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fleet.sh"
. "$(dirname "$0")/lib_wait.sh" # holds

SCENARIOS=("every host's pool load is the fleet's sum of flows"
	"each host's per-node counts stay its own"
	"only the leader runs the on-scale-out hook")
fleet_supported || skip_all "this build's ebbd/ebbctl have no fleet mode" "${SCENARIOS[@]}"
fleet_up 3
CONNS=36

mport() { echo $((19480 + $1)); }
metrics() { nsenter --net="/run/netns/$(v LB_NS "$1")" curl -s -m 3 "http://127.0.0.1:$(mport "$1")/metrics"; }
# The metrics address is read at start only: each ebbd stops (its lease and leadership go) and
# starts again with it and the scaling pool, before any load.
for i in 1 2 3; do
	printf '#!/bin/sh\necho "wanted=$EBB_NODES_WANTED" >>%s\n' "$TMP/hook-lb$i.out" >"$TMP/hook-lb$i.sh"
	chmod +x "$TMP/hook-lb$i.sh"
	cat >>"$(v LB_EBBD_CONF "$i")" <<CONF
metrics = "127.0.0.1:$(mport "$i")";
pools = ( {
  name = "web";
  vips = ["$VIP4"];
  scale = { metric = "flows"; target = 8; min = 3; max = 5; tolerance = 0.1;
            scale-in-window = 6; scale-out-window = 0; hook-cooldown = 600; };
  hooks = { on-scale-out = ["$TMP/hook-lb$i.sh"]; };
} );
CONF
	pid=$(ebbd_pid "$i")
	kill -TERM "$pid"
	within 20 eval "! kill -0 $pid 2>/dev/null"
	restart_ebbd "$i"
done
has_pool_load() { metrics "$1" | grep -q '^ebb_pool_load{pool="web"}'; }
up=""
for i in 1 2 3; do within 30 has_pool_load "$i" && up+=" lb$i"; done
check "every restarted ebbd serves its pool's figures:${up:- none}" [ "$up" = " lb1 lb2 lb3" ]
wait_nexthops 1000 "21 22 23"
check "every host announces the VIP again: router's route over $(nexthops)" [ "$(nexthops)" = "21 22 23" ]

wrk_bg "$TMP/wrk.out" "$CONNS"
# figures HOST...: "load own" per host, from one reading of each /metrics: the pool's load and
# the sum of the host's own per-node counts
figures() {
	local i
	for i in "$@"; do
		metrics "$i" | python3 -c '
import re, sys
text = sys.stdin.read()
load = re.search(r"^ebb_pool_load\{pool=\"web\"\} (\S+)$", text, re.M)
own = sum(float(v) for v in re.findall(r"^ebb_node_flows\{node=\"[^\"]+\"\} (\S+)$", text, re.M))
print("%d %d" % (float(load.group(1)) if load else -1, own))'
	done
}
# settled: every host's load is the sum of the three hosts' own counts, the whole of wrk's
# connections, and no host carries them all (else its own count and the sum could not differ)
settled() {
	local sums own=0 busiest=0 o
	sums=$(figures 1 2 3)
	while read -r _ o; do
		own=$((own + o))
		[ "$o" -gt "$busiest" ] && busiest=$o
	done <<<"$sums"
	said=$(tr '\n' ' ' <<<"$sums")
	[ "$own" -eq "$CONNS" ] && [ "$busiest" -lt "$CONNS" ] &&
		[ "$(awk -v s="$own" '$1 != s' <<<"$sums" | wc -l)" -eq 0 ]
}
said=""
within 30 settled
check "wrk's $CONNS flows spread over the hosts; each host's pool load is their sum (load own per host: $said)" settled
leader=$(leader_of 1)
read -r load own < <(figures "${leader#lb}")
check "the leader $leader: its pool load ($load) is the fleet's, its own counts ($own) its share" \
	[ "$load" -eq "$CONNS" -a "$own" -lt "$CONNS" ]
# what the other hosts sum is each host's own report: the fleet's count of a node is the sum
# of the hosts' (ebbctl node show reads them from etcd)
reports() {
	local n sum=0 f
	for n in 1 2 3; do
		f=$(lbctl 1 -j node show "$(node_ip4 "$n")" | json_get 'sum(d[0].get("hosts", {}).values())')
		sum=$((sum + f))
	done
	[ "$sum" -eq "$CONNS" ]
}
check "the hosts' reports of their own counts add up to wrk's $CONNS flows" within 20 reports
# The leader asks for machines (36 flows at 8 a node want 5, the pool has 3); the others, given
# two more cycles each after it did, never do.
walks() { metrics "$1" | awk '$1 == "ebb_agent_walks_total" {print int($2)}'; }
li=${leader#lb}
within 30 has_fevent "$li" scale_out_wanted
check "the leader $leader asked for machines: scale_out_wanted ($(fevents "$li" scale_out_wanted | head -c 160))" \
	has_fevent "$li" scale_out_wanted
within 10 eval '[ -s "$TMP/hook-lb$li.out" ]'
check "... and ran its on-scale-out hook once ($(tr '\n' ' ' <"$TMP/hook-lb$li.out" 2>/dev/null))" \
	[ "$(cat "$TMP/hook-lb$li.out" 2>/dev/null)" = "wanted=2" ]
for i in 1 2 3; do
	[ "$i" = "$li" ] && continue
	w0=$(walks "$i")
	within 20 holds -ge $((w0 + 2)) walks "$i"
	check "lb$i (not the leader), two cycles later: no scale_out_wanted, no hook run" \
		[ -z "$(fevents "$i" scale_out_wanted)" -a ! -s "$TMP/hook-lb$i.out" ]
done
check "the pool held at 3 nodes: no scale-in or scale-out on any host" \
	[ -z "$(fevents 1 scale_in; fevents 2 scale_in; fevents 3 scale_in; fevents 1 scale_out; fevents 2 scale_out; fevents 3 scale_out)" ]
wrk_stop
wrk_check "$TMP/wrk.out" "$CONNS keep-alive connections across the checks"
fleet_save_logs
finish
