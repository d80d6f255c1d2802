#!/usr/bin/env bash
# A pool mixing nodes with and without ebb's node program (issue 14 item 4), one host: n1, n2 and
# n4 run the node program (`tools/lab up --node-prog 1,2,4`, added `node-prog`), n3 takes the
# plain dsr path (added without). The client holds idle keep-alive connections on n1, n2 and n3
# while wrk's 64 run; n4 is added (a scale-out) and the flow table is flushed under that load.
# A segment whose slot's second-chance owner runs the program is rescued, to the nodes that run
# it only: n1's and n2's connections are claimed by their owners, every one answered on its
# own connection; n3, which would answer a rescue "protocol unreachable", never gets one. n3's
# connections keep today's rules: sent to n3 where the slot still names it, reset where the
# slot now names n4 (counted, not asserted: it depends on the hash). Then ebbd, its pool
# reading the nodes' own counts (`truth`), drains n1 and n3, each holding an idle connection:
# n1's drain is judged by n1's count (verified, flows_cut 0); n3 has no count to give: its drain
# is shown and logged unverified, flows_cut_estimate, never flows_cut.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_agent.sh"
LAB_UP_OPTS="--node-prog 1,2,4" lab_setup 4
node_truth_setup

VIP=203.0.113.10:80/tcp URL=http://203.0.113.10/
CONNS=64 HELD=4
N1=$(node_ip4 1) N3=$(node_ip4 3) N4=$(node_ip4 4)

check "the lab says which nodes run the node program (1 1 0 1: $NODE_PROG_1 $NODE_PROG_2 $NODE_PROG_3 $NODE_PROG_4)" \
	[ "$NODE_PROG_1 $NODE_PROG_2 $NODE_PROG_3 $NODE_PROG_4" = "1 1 0 1" ]
node_ctl() { local n=$1; shift; on "n$n" "$EBBCTL" --bpffs "/sys/fs/bpf/ebb-lab-${PFX}n$n" "$@"; }
check "n1 runs the node program (backend show)" eval 'node_ctl 1 backend show >/dev/null'
check "n3 does not: ebbctl backend show fails there" eval '! node_ctl 3 backend show >/dev/null 2>&1'
reason() { ctl -j stats show | json_get "d['reasons'].get('$1', {}).get('packets', 0)"; }
# what node N's program claimed back to the LB (its backend show)
node_claimed() { node_ctl "$1" -j backend show | json_get 'd["rescues"]["claimed"]'; }
# packets of an IP protocol nothing on n3 takes (a rescue, IP protocol 253, would be one): the
# kernel's own counter in n3's namespace
unknown_protos() {
	on n3 awk '$1 == "Ip:" && !h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next }
		$1 == "Ip:" { print $c["InUnknownProtos"] }' /proc/net/snmp
}
flows_of() { ctl -j flow show vip "$VIP" limit 100000 | json_get 'len(d)'; }

# held.py FIFO NODE=COUNT...: holds COUNT idle keep-alive connections answered by each NODE
# (closing the others), prints "ready"; on each "get" line of FIFO sends one request on every
# connection and prints "NODE ANSWER" per connection (ANSWER: the node that answered, or
# error:WHAT), then "done"; "close" closes them all.
cat >"$TMP/held.py" <<'PY'
import socket, sys
from http_keepalive import node_of as get
want = {k: int(v) for k, v in (a.split("=") for a in sys.argv[2:])}
held = []
for _ in range(400):
    if all(sum(1 for n, _ in held if n == k) >= c for k, c in want.items()):
        break
    s = socket.create_connection(("203.0.113.10", 80), timeout=5)
    n = get(s)
    if n in want and sum(1 for m, _ in held if m == n) < want[n]:
        held.append((n, s))
    else:
        s.close()
print("ready", " ".join("%s=%d" % (k, sum(1 for n, _ in held if n == k)) for k in want), flush=True)
for line in open(sys.argv[1]):
    if line.strip() == "get":
        for n, s in held:
            try:
                print(n, get(s), flush=True)
            except Exception as e:
                print(n, "error:" + type(e).__name__, flush=True)
        print("done", flush=True)
    elif line.strip() == "close":
        for _, s in held:
            s.close()
        break
PY

check "vip add $VIP fin-timeout 1" ctl vip add "$VIP" fin-timeout 1
for i in 1 2; do check "node add n$i node-prog" ctl node add "$(node_ip4 $i)" vip "$VIP" node-prog; done
check "node add n3 (without the node program)" ctl node add "$N3" vip "$VIP"
mkfifo "$TMP/cmd"
exec 7<>"$TMP/cmd" # held open both ways: held.py never sees EOF between commands
on client python3 "$TMP/held.py" "$TMP/cmd" n1=$HELD n2=$HELD n3=$HELD >"$TMP/held.out" 2>&1 &
held_pid=$!
wait_for 300 grep -q ready "$TMP/held.out"
check "the client holds $HELD idle connections on each of n1, n2, n3 ($(head -1 "$TMP/held.out"))" \
	grep -qx "ready n1=$HELD n2=$HELD n3=$HELD" "$TMP/held.out"
rescued0=$(reason rescued) claimed0=$(reason claimed) unk0=$(unknown_protos)
c10=$(node_claimed 1) c20=$(node_claimed 2) c40=$(node_claimed 4)
# 30 s: long enough that the change and the flush come well before its end on a loaded machine
# (checked below: a flush after wrk's end would prove nothing)
on client wrk -t2 -c$CONNS -d30s --timeout 4s "$URL" >"$TMP/wrk.out" 2>&1 &
wrk_pid=$!
wait_for 300 holds -gt $((CONNS + 3 * HELD - 1)) flows_of
check "wrk's $CONNS connections and the held ones pinned before the change ($(flows_of))" \
	[ "$(flows_of)" -ge $((CONNS + 3 * HELD)) ]
check "node add n4 node-prog (scale-out)" ctl node add "$N4" vip "$VIP" node-prog
flushed=$(python3 "$EBB_ROOT/tests/integration/flush_flows.py" "$BPFFS/flows")
check "flow table flushed under load ($flushed entries)" [ "${flushed:-0}" -ge $CONNS ]
# the connections' next segments miss the table: rescued, then claimed (counted by the LB)
wait_for 300 holds -gt "$claimed0" reason claimed
check "... while wrk still runs, and segments were rescued and claimed since" \
	eval 'kill -0 "$wrk_pid" && [ "$(reason claimed)" -gt "$claimed0" ]'
echo get >&7
wait_for 600 grep -qx 'done' "$TMP/held.out"
sed -n '/^n[0-9] /p' "$TMP/held.out" >"$TMP/answers"
note "the held connections' next requests: $(sort "$TMP/answers" | uniq -c | tr -s ' \n' ' ')"
for n in n1 n2; do
	check "$n's $HELD connections: each next request answered by $n on its own connection" \
		[ "$(grep -c "^$n $n\$" "$TMP/answers")" = $HELD ]
done
n3_ok=$(grep -c '^n3 n3$' "$TMP/answers") n3_err=$(grep -c '^n3 error' "$TMP/answers")
check "n3's $HELD connections: answered by n3 ($n3_ok) or reset where the slot now names n4 ($n3_err), never taken by another node" \
	[ $((n3_ok + n3_err)) = $HELD ]
echo close >&7
exec 7>&-
wait "$held_pid"
wait "$wrk_pid"
read -r sock non2xx reqs < <(wrk_errors "$TMP/wrk.out")
note "wrk: $reqs requests, $sock socket errors (connections n3 held whose slot went to n4: today's rules), $non2xx non-2xx"
check "wrk made requests ($reqs), 0 non-2xx answers ($non2xx)" [ "$reqs" -gt 0 -a "$non2xx" = 0 ]
rescued=$(($(reason rescued) - rescued0)) claimed=$(($(reason claimed) - claimed0))
c1=$(($(node_claimed 1) - c10)) c2=$(($(node_claimed 2) - c20)) c4=$(($(node_claimed 4) - c40))
note "$rescued packets rescued, $claimed claims taken by the LB; claimed by n1 $c1, n2 $c2, n4 $c4"
check "the LB sent rescues ($rescued) and took claims ($claimed)" [ "$rescued" -gt 0 -a "$claimed" -gt 0 ]
check "... claimed by the node programs of n1 and n2 (backend show: $c1 + $c2 + $c4 >= $claimed)" \
	[ "$c1" -gt 0 -a "$c2" -gt 0 -a $((c1 + c2 + c4)) -ge "$claimed" ]
unk=$(($(unknown_protos) - unk0))
check "n3 got no rescue: 0 packets of an unknown IP protocol there ($unk)" [ "$unk" -eq 0 ]
progs=$(ctl -j node show | json_get '" ".join(str(n["node_prog"]) for n in d)')
check "node show: PROG of n1..n4: $progs" [ "$progs" = "True True False True" ]

# --- drains, with the pool reading the nodes' own counts
cat >"$TMP/ebbd.conf" <<CONF
metrics = "";
$(truth_pool "$VIP")
CONF
hold "$TMP/hold.out" 300 n1=1 n3=1
check "an idle connection held on n1 and one on n3 ($(head -c 60 "$TMP/hold.out"))" \
	grep -q "ready n1=1 n3=1" "$TMP/hold.out"
start_ebbd
wait_for 100 has_event state_open
check "node drain n1 and n3" ctl node drain "$N1" timeout 300
ctl node drain "$N3" timeout 300 >/dev/null
drain_of() { ctl node show "$1" | awk 'NR == 2' | grep -o 'drain:[a-z]*\(([^)]*)\)\?'; }
ev_lines() { grep -F "\"event\":\"$1\",\"node\":\"$2\"" "$LOG"; }
wait_for 300 holds = "drain:verified(node 1 live)" drain_of "$N1"
v=$(drain_of "$N1")
check "n1's drain is judged by its own count ($v)" [ "$v" = "drain:verified(node 1 live)" ]
wait_for 300 eval '[ -n "$(ev_lines truth_failed "$N3")" ]'
ev=$(ev_lines truth_failed "$N3" | head -1)
check "n3 cannot report its count: $ev" [ -n "$ev" ]
v=$(drain_of "$N3")
check "n3's drain is shown unverified ($v)" [ "$v" = drain:unverified ]

kill "$(sed -n 's/.*pid=//p' "$TMP/hold.out")" # both connections close
close_t=$(date +%s.%N)
check "n1 becomes inactive once its connection closed" ctl node wait "$N1" state inactive timeout 60
check "n3 becomes inactive once its connection closed" ctl node wait "$N3" state inactive timeout 60
ev1=$(events drained node="$N1" | tail -1) ev3=$(events drained node="$N3" | tail -1)
note "n1 drained: $ev1"
note "n3 drained: $ev3"
check "n1: verified, flows_ended, flows_cut 0 (the node's own count), after the close" python3 -c "
import json, sys
e = json.loads(sys.argv[1])
sys.exit(not (e['reason'] == 'flows_ended' and e['verified'] is True and e['flows_cut'] == 0
              and 'flows_cut_estimate' not in e and e['ts'] > float(sys.argv[2])))" "$ev1" "$close_t"
check "n3: unverified, flows_cut_estimate 0 (the LB's), never flows_cut, truth failed" python3 -c "
import json, sys
e = json.loads(sys.argv[1])
sys.exit(not (e['reason'] == 'flows_ended' and e['verified'] is False and e['flows_cut_estimate'] == 0
              and 'flows_cut' not in e and e['truth'] == 'failed' and e['ts'] > float(sys.argv[2])))" "$ev3" "$close_t"
v1=$(ctl node show "$N1" | grep -o 'last-drain:[^ ]*') v3=$(ctl node show "$N3" | grep -o 'last-drain:[^ ]*')
check "node show: n1 $v1, n3 $v3" [ "$v1 $v3" = "last-drain:0-cut(verified) last-drain:~0-cut(unverified)" ]
j3=$(ctl -j node show "$N3" | json_get 'd[0]["last_drain"]')
check "node show -j: n3's last drain has flows_cut_estimate, verified false, no flows_cut ($j3)" python3 -c "
import sys; d = eval(sys.argv[1]); sys.exit(not (d['verified'] is False and d['flows_cut_estimate'] == 0 and 'flows_cut' not in d))" "$j3"
finish
