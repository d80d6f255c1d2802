#!/usr/bin/env bash
# Fleet mode, the desired state (doc/fleet.md): a real etcd and two hosts A and B (ebbd each, on
# its own bpffs directory and veth). ebbd --check names the line of a bad fleet block; a write
# on one host reaches the other host's maps before ebbctl returns; a local-only write is
# refused and changes nothing; node show is fleet-wide with a per-host breakdown; with etcd
# down, writes are refused with a clear error, the maps stay as they were and the datapath
# keeps forwarding; a host whose ebbd was down lags (ebbctl names it), then adopts the pinned
# state and catches up when ebbd starts again.
. "$(dirname "$0")/lib_fleet_core.sh"
. "$(dirname "$0")/lib_maps.sh"

# ---- configuration ----
conf lba
out=$("$EBBD" --check "$TMP/ebbd-lba.conf" 2>&1)
check "ebbd --check accepts a fleet block ($out)" grep -q "fleet \"$FLEET\", host \"lba\"" <<<"$out"
bad() { # bad DESCRIPTION LINE FLEET-BODY: --check fails naming LINE
	printf 'metrics = "";\nfleet = {\n%b\n};\n' "$3" >"$TMP/bad.conf"
	local o
	o=$("$EBBD" --check "$TMP/bad.conf" 2>&1)
	if [ $? -ne 0 ] && grep -q "^Error: $TMP/bad.conf:$2: " <<<"$o"; then ok "--check: $1 ($o)"; else not_ok "--check: $1 (got: $o)"; fi
}
bad "missing etcd, at the block's line" 2 '  name = "f";\n  host = "h";'
bad "an endpoint that is not https://, at its line" 6 '  name = "f";\n  host = "h";\n  etcd = [\n    "127.0.0.1:2379"];'
bad "an unknown setting, at its line" 6 '  name = "f";\n  host = "h";\n  etcd = ["https://127.0.0.1:2379"];\n  lease-tll = 5;'
bad "a bad host name, at its line" 4 '  name = "f";\n  host = "h/1";\n  etcd = ["https://127.0.0.1:2379"];'
bad "bird-socket without bird-dir" 2 '  name = "f";\n  host = "h";\n  etcd = ["https://127.0.0.1:2379"];\n  bird-socket = "/run/b.ctl";'
bad "a lease-ttl out of range, at its line" 6 '  name = "f";\n  host = "h";\n  etcd = ["https://127.0.0.1:2379"];\n  lease-ttl = 1;'

# ---- two hosts ----
fleet_setup
note "etcd at $ETCD_URL in netns $CORE; A=$DIRA, B=$DIRB; fleet $FLEET, lease TTL ${TTL}s"

ms() { date +%s%N | cut -b1-13; }
t0=$(ms)
check "vip add on A (goes to etcd)" ctl_a vip add $VIP tcp-idle 3 fin-timeout 1
t1=$(ms)
check "... B has the VIP as ebbctl returns, without waiting" [ "$(ctl_b -j vip show | json_get 'd[0]["vip"]')" = 203.0.113.10:80/tcp ]
check "... with its timeouts" [ "$(ctl_b -j vip show | json_get 'd[0]["tcp_idle_s"]')" = 3 ]
note "write applied on both hosts in $((t1 - t0)) ms (vip add, from the call to the return of ebbctl)"
echo "# measure: write_apply_ms=$((t1 - t0))"
check "node add N1 on B" ctl_b node add $N1 vip $VIP mac $MAC1
check "node add N2 on B" ctl_b node add $N2 vip $VIP mac $MAC2 weight 50
check "... A has both nodes (N2 weight 50)" [ "$(ctl_a -j node show $N2 | json_get 'd[0]["weights"]["203.0.113.10:80/tcp"]')" = 50 ]
# node-prog (issue 14 item 4): a boolean in the node's key, the flag on every host's map
check "node set N2 node-prog on, on B" ctl_b node set $N2 node-prog on
check "... A's map says node_prog true as ebbctl returns" [ "$(ctl_a -j node show $N2 | json_get 'd[0]["node_prog"]')" = True ]
check "... and B's" [ "$(ctl_b -j node show $N2 | json_get 'd[0]["node_prog"]')" = True ]
check "... N1 still false on A" [ "$(ctl_a -j node show $N1 | json_get 'd[0]["node_prog"]')" = False ]
nkey=$(etcdctl_ get --print-value-only "/ebb/$FLEET/state/nodes/$N2" 2>/dev/null)
check "... the node's key in etcd has \"node_prog\": true ($nkey)" \
	python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1]).get("node_prog") is not True)' "$nkey"
check "node set N2 node-prog off, on A" ctl_a node set $N2 node-prog off
check "... B's map says node_prog false as ebbctl returns" [ "$(ctl_b -j node show $N2 | json_get 'd[0]["node_prog"]')" = False ]
t0=$(ms)
check "node drain N1 on A" ctl_a node drain $N1
t1=$(ms)
# (it has no flow anywhere: the leader may retire it at once)
check "... N1 out of service on B as ebbctl returns ($(node_state ctl_b $N1))" [ "$(node_state ctl_b $N1)" != active ]
note "node drain applied on both hosts in $((t1 - t0)) ms"
echo "# measure: drain_apply_ms=$((t1 - t0))"
in_step() { ctl_a -j fleet show | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not all(h["lag"] == 0 and h["applied_revision"] == d["revision"] for h in d["hosts"]))'; }
# The leader retires N1 (it has no flow) once every host has counted after the drain: a new
# revision, which both hosts apply in their next pass. Checked once that has happened, or the
# check may land between the retirement and its application (CI saw it, twice).
settled() { [ "$(node_state ctl_a $N1)" = inactive ] && [ "$(node_state ctl_b $N1)" = inactive ] && in_step; }
wait_for 150 settled
check "... N1 retired on both hosts, both report the fleet's revision (lag 0)" settled
err=$(ctl_a node drain 198.51.100.99 2>&1)
rc=$?
check "an invalid write is refused, non-zero, before anything is written ($err)" [ $rc -ne 0 ]
check "... 'Error: no node …'" grep -q "^Error: no node 198.51.100.99" <<<"$err"

# ---- a local-only write ----
before=$(bpftool map dump pinned "$DIRA/settings" 2>&1)
err=$(ctl_a prog set mtu 1500 2>&1)
rc=$?
check "a local-only write (prog set) is refused ($err)" [ $rc -ne 0 ]
check "... with 'Error: this host is managed by fleet \"$FLEET\" (etcd …)'" grep -q "^Error: this host is managed by fleet \"$FLEET\" (etcd $ETCD_URL)" <<<"$err"
check "... and changes nothing" [ "$before" = "$(bpftool map dump pinned "$DIRA/settings" 2>&1)" ]

# ---- fleet-wide flows ----
flows_on() { ctl_a -j node show "$1" 2>/dev/null | json_get "d[0]['hosts'].get('$2', 0)" 2>/dev/null; }
check "vip add $VIPU table-size 2039" ctl_a vip add $VIPU table-size 2039
check "node add N2 vip $VIPU" ctl_a node add $N2 vip $VIPU
# The table size is the fleet's: in the VIP's key, and every host builds the same tables from it.
vkey=$(etcdctl_ get --print-value-only "/ebb/$FLEET/state/vips/$VIPU" 2>/dev/null)
dkey=$(etcdctl_ get --print-value-only "/ebb/$FLEET/state/vips/$VIP" 2>/dev/null)
check "... the VIP's key in etcd has \"table_size\": 2039 ($vkey); the default VIP's has none ($dkey)" \
	python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1]).get("table_size") != 2039 or "table_size" in json.loads(sys.argv[2]))' "$vkey" "$dkey"
size_on() { "$1" -j vip show $VIPU | json_get 'd[0]["table_size"]'; }
check "... table size 2039 on A and on B ($(size_on ctl_a), $(size_on ctl_b))" [ "$(size_on ctl_a)" = 2039 -a "$(size_on ctl_b)" = 2039 ]
ring_dump "$DIRA" "$(ctl_a -j vip show $VIPU | json_get 'd[0]["id"]') * 2" >"$TMP/ring.a"
ring_dump "$DIRB" "$(ctl_b -j vip show $VIPU | json_get 'd[0]["id"]') * 2" >"$TMP/ring.b"
check "... A's and B's new-flow tables are the same $(head -1 "$TMP/ring.a") elements of 4 slots ($(wc -l <"$TMP/ring.a") lines)" \
	bash -c "[ \"\$(head -1 '$TMP/ring.a')\" = 510 ] && cmp -s '$TMP/ring.a' '$TMP/ring.b'"
udp_flows b 4 8 # live flows through B for 8 s (N1 is out of service: all on N2)
wait_for 60 holds -ge 1 flows_on $N2 lbb 2>/dev/null
doc=$(ctl_a -j node show $N2)
note "node show on A: $doc"
check "node show on A counts a flow that lives on B (hosts.lbb >= 1)" [ "$(echo "$doc" | json_get 'd[0]["hosts"]["lbb"]')" -ge 1 ]
check "... flows is the fleet-wide sum" [ "$(echo "$doc" | json_get 'd[0]["flows"] == sum(d[0]["hosts"].values())')" = True ]
# A VIP's timeout changed in etcd by another writer: every host changes it in place (the same
# VIP id, the same tables, its flows kept: made again, it would lose them), as
# ebb_desired_vips_diff says of a change of timeouts.
vflows_b() { ctl_b -j vip show $VIPU | json_get 'd[0]["flows"]'; }
wait "$udp_pid" # no packet left to pin a flow again
fl0=$(vflows_b)
vid_a=$(ctl_a -j vip show $VIPU | json_get 'd[0]["id"]')
vid_b=$(ctl_b -j vip show $VIPU | json_get 'd[0]["id"]')
etcdctl_ put "/ebb/$FLEET/state/vips/$VIPU" \
	"$(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d["tcp_idle_s"] = 77; print(json.dumps(d, separators=(",", ":")))' "$vkey")" >/dev/null
etcdctl_ put "/ebb/$FLEET/state/serial" '{"by":"test","what":"tcp_idle_s 77","time":0}' >/dev/null
idle_on() { "$1" -j vip show $VIPU | json_get 'd[0]["tcp_idle_s"]'; }
idle_77() { [ "$(idle_on ctl_a)" = 77 ] && [ "$(idle_on ctl_b)" = 77 ]; }
wait_for 100 idle_77
check "tcp_idle_s 77 put in etcd: A and B apply it ($(idle_on ctl_a), $(idle_on ctl_b))" idle_77
check "... in place: the same VIP id on A and on B ($vid_a, $vid_b)" \
	[ "$(ctl_a -j vip show $VIPU | json_get 'd[0]["id"]')" = "$vid_a" -a "$(ctl_b -j vip show $VIPU | json_get 'd[0]["id"]')" = "$vid_b" ]
ring_dump "$DIRA" "$vid_a * 2" >"$TMP/ring.a2"
check "... and A's new-flow table as it was" cmp -s "$TMP/ring.a" "$TMP/ring.a2"
vkept() { [ "$fl0" -ge 1 ] && [ "$(vflows_b)" -ge "$fl0" ]; }
check "... B's flows of the VIP kept ($fl0 -> $(vflows_b))" vkept

# ---- etcd wholly down ----
snap() { for m in vips nodes members vip_addrs; do bpftool map dump pinned "$1/$m"; done 2>&1; }
snap "$DIRA" >"$TMP/a.before"
snap "$DIRB" >"$TMP/b.before"
stop_etcd
err=$(ctl_a node activate $N1 2>&1)
rc=$?
check "etcd down: a write is refused ($err)" [ $rc -ne 0 ]
check "... with a clear error" grep -q "^Error: fleet \"$FLEET\": etcd cannot be reached, so writes are refused and nothing changed" <<<"$err"
sleep 1
snap "$DIRA" >"$TMP/a.after"
snap "$DIRB" >"$TMP/b.after"
check "... A's maps unchanged" cmp -s "$TMP/a.before" "$TMP/a.after"
check "... B's maps unchanged" cmp -s "$TMP/b.before" "$TMP/b.after"
check "... both ebbd say they are cut off" bash -c "grep -q fleet_etcd_unreachable '$TMP/ebbd-lba.log' && grep -q fleet_etcd_unreachable '$TMP/ebbd-lbb.log'"
p0=$(node_fwd ctl_a $N2)
for _ in 1 2 3; do syn a; done
p1=$(node_fwd ctl_a $N2)
check "... A's datapath keeps forwarding to N2 (packets $p0 -> $p1)" [ "$p1" -gt "$p0" ]
err=$(ctl_a fleet show 2>&1)
check "... fleet show says etcd cannot be reached" grep -q "etcd cannot be reached" <<<"$err"

# ---- etcd back; B's ebbd down, then back ----
start_etcd || bail "etcd does not restart"
wait_for 50 grep -q fleet_etcd_reachable "$TMP/ebbd-lba.log"
check "etcd back: A says so" grep -q fleet_etcd_reachable "$TMP/ebbd-lba.log"
kill -9 "$ebbd_b"; wait "$ebbd_b" 2>/dev/null; ebbd_b=
err=$(EBBCTL_FLEET_TIMEOUT=1 ctl_a node activate $N1 2>&1)
rc=$?
check "with B's ebbd killed (lease not yet expired), a write names B as lagging ($err)" \
	bash -c "[ $rc -ne 0 ] && grep -q 'lbb (applied' <<<'$err'"
check "... A applied it (N1 active)" [ "$(node_state ctl_a $N1)" = active ]
check "... B's maps still have N1 out of service" [ "$(node_state ctl_b $N1)" != active ]
check "node del N2 force on A (B still down)" ctl_a node del $N2 force
start_b
wait_for 50 holds = active node_state ctl_b $N1
check "B's ebbd restarted: it adopts the pinned state and catches up (N1 active)" [ "$(node_state ctl_b $N1)" = active ]
check "... N2 gone from B" [ "$(ctl_b -j node show | json_get 'len(d)')" = 1 ]
b_ok() { ctl_a -j fleet show | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not [h for h in d["hosts"] if h["host"] == "lbb" and h["lag"] == 0 and h["status"] == "announcing"])'; }
check "... and reports it applied, announcing again (fleet show)" wait_for 30 b_ok
finish
