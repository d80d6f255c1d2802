#!/usr/bin/env bash
# Fleet mode, the slot history with the desired state (doc/fleet.md, "The slot history's
# generations"; issue 14 item 3): a real etcd and two hosts A and B (no nginx: the history is
# compared in the maps, by owner address, as bpftool dumps them).
#  - every write that changes a VIP's member set puts the set it replaced under
#    state/history/VIP/LEASE, in its own transaction, under a lease of the VIP's tcp_idle_s;
#  - B's ebbd is stopped while two changes are made (node add, weight change); started again,
#    B's slot history names, slot by slot, the same older owners (by address) as A's, which saw
#    every change, and each owner's until agrees within 3 s; the same once B is made anew (its
#    pins removed: a host set up after the changes);
#  - a generation value that fails the schema is reported state_invalid by both hosts and
#    deletes nothing (B's history and nodes as they were);
#  - at most 8 generations per VIP; a generation's key expires with its lease.
. "$(dirname "$0")/lib_fleet_core.sh"

N3=198.51.100.12 MAC3=02:00:00:00:00:0c
N4=198.51.100.13 MAC4=02:00:00:00:00:0d
K=/ebb/$FLEET/state
H=$K/history/$VIP
gens() { etcdctl_ get --prefix "$1/" --keys-only 2>/dev/null | grep -c .; }
serial_rev() { etcdctl_ get "$K/serial" -w json | json_get 'd["kvs"][0]["mod_revision"]'; }
applied() { [ "$(ctl_a -j fleet show 2>/dev/null | json_get "[h['applied_revision'] for h in d['hosts'] if h['host'] == 'lb$1'][0]" 2>/dev/null)" -ge "$2" ] 2>/dev/null; }
host_invalid() { ctl_a -j fleet show 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(not any(h["host"] == "lb" + sys.argv[1] and any(e["key"] == sys.argv[2] for e in h.get("state_invalid", [])) for h in d["hosts"]))' "$1" "$2"; }
# history DIR CTL: the VIP's slot history as {slot: [[owner address, until tick], ...]}, by
# address (node and VIP ids are each host's own)
history() {
	local vid nodes
	vid=$("$2" -j vip show $VIP | json_get 'd[0]["id"]')
	nodes=$("$2" -j node show)
	bpftool -j map dump pinned "$1/slot_history" | python3 -c '
import json, sys
vid, nodes = int(sys.argv[1]), json.loads(sys.argv[2])
name = {n["id"]: n["addr"] for n in nodes}
out = {}
for e in json.load(sys.stdin):
    k, v = e["formatted"]["key"], e["formatted"]["value"]
    if k["vip_id"] != vid:
        continue
    out[k["slot"]] = [[name.get(o, "id%d" % o), u] for o, u in zip(v["owner"], v["until"]) if o]
json.dump(out, sys.stdout)' "$vid" "$nodes"
}
# same_history A.json B.json: the same owners slot by slot, each until within 3 s (ticks of
# 2^24 ns: 179), and some slots with two owners (successive changes)
same_history() {
	python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
diff = [s for s in set(a) | set(b) if [o for o, _ in a.get(s, [])] != [o for o, _ in b.get(s, [])]]
late = sum(1 for s in a if s in b for (o1, u1), (o2, u2) in zip(a[s], b[s]) if abs(((u1 - u2 + 2**31) % 2**32) - 2**31) > 179)
two = sum(1 for s in a if len(a[s]) == 2)
print("# A: %d slots with history (%d with two owners), B: %d; %d differ by owners, %d untils more than 3 s apart%s"
      % (len(a), two, len(b), len(diff), late, (": e.g. slot %s A %s B %s" % (diff[0], a.get(diff[0]), b.get(diff[0]))) if diff else ""))
sys.exit(not (len(a) > 1000 and two > 100 and not diff and not late))
PY
}

fleet_setup
note "etcd at $ETCD_URL in netns $CORE; A=$DIRA, B=$DIRB; fleet $FLEET"

check "vip add $VIP tcp-idle 300" ctl_a vip add $VIP tcp-idle 300
add3() { ctl_a node add $N1 vip $VIP mac $MAC1 && ctl_a node add $N2 vip $VIP mac $MAC2 && ctl_a node add $N3 vip $VIP mac $MAC3; }
check "node add N1, N2, N3" add3
note "t=${SECONDS}s"
check "two generations in etcd: the sets {N1} and {N1, N2} that the adds replaced ($(gens "$H"))" [ "$(gens "$H")" = 2 ]
first=$(etcdctl_ get --prefix "$H/" --keys-only | grep . | head -1)
lease=${first##*/}
ttl=$(etcdctl_ lease timetolive "$(printf %x "$lease")")
check "... each under its lease, granted for the VIP's tcp-idle ($ttl)" grep -q 'granted with TTL(300s)' <<<"$ttl"
check "... the first names N1 alone ($(etcdctl_ get --print-value-only "$first"))" \
	[ "$(etcdctl_ get --print-value-only "$first")" = "{\"active\":{\"$N1\":100},\"draining\":{}}" ]

# ---- B misses two changes ----
kill "$ebbd_b"; wait "$ebbd_b" 2>/dev/null; ebbd_b=
check "B's ebbd stopped (its lease gone)" wait_for 100 hosts_live 1
check "change 1 with B down: node add N4" ctl_a node add $N4 vip $VIP mac $MAC4
check "change 2 with B down: N2's weight 100 -> 40" ctl_a node set $N2 vip $VIP weight 40
check "... 4 generations" [ "$(gens "$H")" = 4 ]
rev=$(serial_rev)
start_b
check "B's ebbd started again: it applies revision $rev" wait_for 150 applied b "$rev"
check "... and rebuilt the VIP's history from the 4 generations" \
	wait_for 50 grep -q "\"event\":\"fleet_history_rebuilt\".*\"generations\":4" "$TMP/ebbd-lbb.log"
note "t=${SECONDS}s"
history "$DIRA" ctl_a >"$TMP/ha.json"
note "t=${SECONDS}s (A's history read)"
history "$DIRB" ctl_b >"$TMP/hb.json"
check "B's slot history equals A's (which saw every change), slot by slot, by owner address" \
	same_history "$TMP/ha.json" "$TMP/hb.json"
note "t=${SECONDS}s"

# ---- B set up after the changes: its pins made anew ----
kill "$ebbd_b"; wait "$ebbd_b" 2>/dev/null; ebbd_b=
ctl_b prog detach >/dev/null 2>&1
rm -rf "$DIRB"
check "B made anew: no pins, ebb attached again" ctl_b prog attach dev lbb
from=$(($(wc -l <"$TMP/ebbd-lbb.log") + 1))
start_b
rebuilt_again() { tail -n +"$from" "$TMP/ebbd-lbb.log" | grep -q '"event":"fleet_history_rebuilt".*"generations":4'; }
check "... its ebbd applies the state and rebuilds the VIP's history from the 4 generations" wait_for 150 rebuilt_again
history "$DIRB" ctl_b >"$TMP/hb.json"
check "... its slot history equals A's, slot by slot, by owner address" same_history "$TMP/ha.json" "$TMP/hb.json"
note "t=${SECONDS}s"

# ---- a generation value that fails the schema ----
rebuilt_b=$(grep -c '"event":"fleet_history_rebuilt"' "$TMP/ebbd-lbb.log")
bad=$H/1234567
etcdctl_ put "$bad" '{"active":{"198.51.100.10":' >/dev/null
etcdctl_ put "$K/serial" '{"by":"test","what":"a cut generation","time":0}' >/dev/null
check "a cut generation value: A reports it state_invalid" wait_for 100 host_invalid a "$bad"
check "... and B" wait_for 100 host_invalid b "$bad"
slots_b() { ctl_b -j vip show $VIP | json_get 'd[0]["history_slots"]'; }
check "... B's slot history is as it was ($(slots_b) slots)" [ "$(slots_b)" = "$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/hb.json")" ]
check "... and was not rebuilt for it" [ "$(grep -c '"event":"fleet_history_rebuilt"' "$TMP/ebbd-lbb.log")" = "$rebuilt_b" ]
check "... B still has its 4 nodes" [ "$(ctl_b -j node show | json_get 'len(d)')" = 4 ]
etcdctl_ del "$bad" >/dev/null
note "t=${SECONDS}s"

# ---- the bound, and expiry ----
for w in 41 42 43 44 45; do ctl_a node set $N2 vip $VIP weight $w || not_ok "weight $w"; done
check "after 9 changes, at most 8 generations of the VIP ($(gens "$H"))" [ "$(gens "$H")" = 8 ]
vipu() { ctl_a vip add $VIPU tcp-idle 3 && ctl_a node add $N1 vip $VIPU && ctl_a node add $N2 vip $VIPU; }
check "vip add $VIPU tcp-idle 3, N1 and N2" vipu
check "... its generation is written" [ "$(gens "$K/history/$VIPU")" = 1 ]
ttl=$(etcdctl_ lease timetolive "$(printf %x "$(etcdctl_ get --prefix "$K/history/$VIPU/" --keys-only | grep . | sed 's|.*/||')")")
note "its lease: $ttl"
no_gens() { [ "$(gens "$K/history/$VIPU")" = 0 ]; }
check "... and gone with its lease (3 s)" wait_for 150 no_gens
note "t=${SECONDS}s"
finish
