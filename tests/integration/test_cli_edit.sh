#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2015,SC2181  # called indirectly; `A && pass || fail` is safe: pass never fails
# The commands of issue 11 under ebbctl's error contract (see test_cli_errors.sh): node set,
# vip set, stats zero, save, restore (a batch failing at any line rolls back every change it
# made, the lookup tables included, and names the line), node show rates, node watch, options
# after the command. Each wrong invocation exits non-zero with "Error: …" and leaves every
# pinned map, ring table and attachment byte-identical; what must work changes nothing either.
# TAP output. Needs root and a built tree (make).
set -u

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUT=${OUTPUT:-.output}
[[ $OUT == /* ]] || OUT=$ROOT/$OUT
BUILT_CTL=$OUT/ebbctl
NS=ebbcle$$
DIR=/sys/fs/bpf/ebbcle-$$
TMP=$(mktemp -d /tmp/ebb-test-cle.XXXXXX)

VIP4=203.0.113.10:80/tcp
VIP6='[2001:db8::10]:443/tcp'
N1=198.51.100.1 N2=198.51.100.2 N3=198.51.100.3 N6=2001:db8::1
MAC1=02:00:00:00:00:01 MAC2=02:00:00:00:00:02 MAC3=02:00:00:00:00:03 MAC6=02:00:00:00:00:06
NOVIP=203.0.113.99:80/tcp NONODE=198.51.100.77

. "$(dirname "$0")/lib_cli.sh"
cli_setup

bad "node set: missing NODE" "missing" node set
bad "node set: bad node address" "invalid" node set 198.51.100.999 vip "$VIP4" weight 5
bad "node set: unknown node" "no node" node set "$NONODE" vip "$VIP4" weight 5
bad "node set: missing 'vip VIP'" "missing.*vip" node set "$N1" weight 5
bad "node set: missing 'weight N'" "missing.*weight" node set "$N1" vip "$VIP4"
bad "node set: weight 0" "weight" node set "$N1" vip "$VIP4" weight 0
bad "node set: weight 1001" "weight" node set "$N1" vip "$VIP4" weight 1001
bad "node set: weight abc" "weight" node set "$N1" vip "$VIP4" weight abc
bad "node set: weight -5" "weight" node set "$N1" vip "$VIP4" weight -5
bad "node set: weight without a value" "missing|weight" node set "$N1" vip "$VIP4" weight
bad "node set: unknown VIP" "no VIP" node set "$N1" vip "$NOVIP" weight 5
bad "node set: bad VIP" "invalid" node set "$N1" vip 203.0.113.10:80 weight 5
bad "node set: a VIP the node does not serve" "does not serve" node set "$N1" vip "$VIP6" weight 5
bad "node set: two VIPs" "one VIP" node set "$N1" vip "$VIP4" vip "$VIP6" weight 5
bad "node set: unknown keyword" "unexpected" node set "$N1" vip "$VIP4" weight 5 mac "$MAC1"
bad "vip set: missing VIP" "missing" vip set
bad "vip set: bad VIP" "invalid" vip set 203.0.113.10:80/icmp tcp-idle 5
bad "vip set: unknown VIP" "no VIP" vip set "$NOVIP" tcp-idle 5
bad "vip set: nothing to set" "nothing to set" vip set "$VIP4"
bad "vip set: tcp-idle 0" "tcp-idle" vip set "$VIP4" tcp-idle 0
bad "vip set: fin-timeout abc" "fin-timeout" vip set "$VIP4" fin-timeout abc
bad "vip set: drain-timeout without a value" "missing|drain-timeout" vip set "$VIP4" drain-timeout
bad "vip set: udp-idle over a week" "udp-idle" vip set "$VIP4" udp-idle 604801
bad "vip set: the second timeout bad, the first not applied" "fin-timeout" vip set "$VIP4" tcp-idle 5 fin-timeout 0
bad "vip set: fwd is fixed" "fixed" vip set "$VIP4" fwd ipip
bad "vip set: table-size is fixed" "fixed" vip set "$VIP4" table-size 251
bad "vip set: a timeout twice" "twice" vip set "$VIP4" tcp-idle 5 tcp-idle 6
bad "vip set: unknown keyword" "unexpected" vip set "$VIP4" colour red
bad "stats zero: trailing garbage" "unexpected" stats zero now
bad "save: trailing garbage" "unexpected" save now
bad_json "save has no JSON form" save
bad_json "vip help has no JSON form" vip help
bad "restore: missing FILE" "missing" restore
bad "restore: no such file" "cannot open" restore "$TMP/nosuch"
bad "restore: unknown keyword" "unexpected" restore "$TMP/nosuch" now
printf 'vip add 203.0.113.50:80/tcp tcp-idle 50\nnode add 198.51.100.9 vip 203.0.113.50:80/tcp mac 02:00:00:00:00:09\n' >"$TMP/batch"
printf 'node add 198.51.100.8 vip %s mac 02:00:00:00:00:08\nnode set %s vip %s weight 7\n' "$VIP4" "$N1" "$VIP4" >>"$TMP/batch"
printf 'vip set %s fin-timeout 3\nnode drain %s\nnode activate %s\nprog set flood-rate 7\n# a comment\n\n' "$VIP4" "$N1" "$N2" >>"$TMP/batch"
cp "$TMP/batch" "$TMP/batch.ok"
printf 'node add 198.51.100.1 vip 203.0.113.99:80/tcp\n' >>"$TMP/batch"
bad "restore: 8 changes then a failing line 11: all rolled back, the error names the line" "line 11: no VIP" restore "$TMP/batch"
cp "$TMP/batch.ok" "$TMP/batch"; echo 'node set 198.51.100.9 vip 203.0.113.50:80/tcp weight 0' >>"$TMP/batch"
bad "restore: a bad argument on line 11 after 8 changes: all rolled back" "line 11: weight" restore "$TMP/batch"
cp "$TMP/batch.ok" "$TMP/batch"; echo 'prog attach dev nosuch0' >>"$TMP/batch"
bad "restore: an attach that fails after 8 changes: all rolled back" "line 11" restore "$TMP/batch"
printf 'vip add 203.0.113.50:80/tcp\n-j vip show\n' >"$TMP/batch"
bad "restore: options in a batch line are refused before anything runs" "line 2" restore "$TMP/batch"
printf 'vip add 203.0.113.50:80/tcp\nrestore %s\n' "$TMP/batch" >"$TMP/batch2"
bad "restore: a nested restore is refused before anything runs" "line 2" restore "$TMP/batch2"
printf 'vip add 203.0.113.50:80/tcp\nbogus show\n' >"$TMP/batch"
bad "restore: unknown object on line 2" "line 2: unknown" restore "$TMP/batch"
bad_json "restore: failing line" restore "$TMP/batch"
bad "node show: rates interval 0" "interval" node show rates interval 0
bad "node show: interval abc" "interval" node show "$N1" interval abc
bad "node show: interval without a value" "interval" node show interval
bad "node show: two nodes" "unexpected" node show "$N1" "$N2"
bad "node watch: count 0" "count" node watch count 0
bad "node watch: interval 0.01" "interval" node watch interval 0.01
bad "node watch: unknown keyword" "unexpected" node watch colour red
bad_json "node watch has no JSON form" node watch count 1
bad "--bpffs after the command needs an absolute directory" "absolute" vip show --bpffs relative/dir
bad "--bpffs after the command without a value" "needs a value|bpffs" vip show --bpffs
good "restore FILE if-empty on existing state: nothing restored" restore "$TMP/batch" if-empty
good "node set to the weight it has: nothing changes" node set "$N1" vip "$VIP4" weight 100
good "vip set to the timeouts it has: nothing changes" vip set "$VIP4" tcp-idle 900 fin-timeout 10
good "save" save
good "options after the command: node show -j" node show -j
good "options after the command: vip show --pretty" vip show --pretty
good "node show rates (one node, 0.2 s)" node show "$N1" rates interval 0.2
good "node watch, bounded: 2 frames" node watch interval 0.2 count 2
good "n se is node set, n s still node show" n s
good "n wa is still node wait" n wa "$N1" state active timeout 1
good "stats help" stats help

# --- the end: the inner tables too -------------------------------------------------------------

snapshot "$TMP/now" full
if cmp -s "$TMP/snap.full" "$TMP/now"; then
	pass "at the end every map, ring table and attachment is as after setup"
else
	diff "$TMP/snap.full" "$TMP/now" | head -20 >"$TMP/diff"
	fail "at the end every map, ring table and attachment is as after setup" "$TMP/diff"
fi

# --- table-size (after the end check: these change the state) ---------------------------------

VIPT=203.0.113.60:80/tcp
table_of() { # table_of VIP: its table_size in vip show -j
	ctl -j vip show "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["table_size"])'
}
[ "$(table_of "$VIP4")" = 65537 ] && pass "vip show -j: a VIP added without table-size has 65537" ||
	fail "vip show -j: a VIP added without table-size has 65537"
if ctl vip add "$VIPT" table-size 251 >"$TMP/out" 2>"$TMP/err"; then
	[ "$(table_of "$VIPT")" = 251 ] && pass "vip add table-size 251: vip show -j says table_size 251" ||
		fail "vip add table-size 251: vip show -j says table_size 251"
	ctl vip show "$VIPT" >"$TMP/out"
	awk 'NR == 1 && $NF != "TABLE" { exit 1 } NR == 2 && $NF != 251 { exit 1 }' "$TMP/out" &&
		pass "vip show: the TABLE column says 251" || fail "vip show: the TABLE column says 251" "$TMP/out"
	# Maglev's 1 % spread wants M >= 100 x nodes: 251 serves 2 evenly, a third is added with a warning
	ok_warn=1
	for i in 1 2 3; do
		ctl node add "198.51.100.6$i" vip "$VIPT" mac "02:00:00:00:00:6$i" >"$TMP/out" 2>"$TMP/err.$i" || ok_warn=0
	done
	[ "$ok_warn" = 1 ] && [ ! -s "$TMP/err.1" ] && [ ! -s "$TMP/err.2" ] &&
		grep -q "^Warning: VIP $VIPT has 3 nodes and table-size 251: .* up to 2 nodes" "$TMP/err.3" &&
		pass "node add: the third node of a table-size 251 VIP is added with a warning, the first two without" ||
		fail "node add: the third node of a table-size 251 VIP is added with a warning, the first two without" \
			"$TMP/err.1" "$TMP/err.2" "$TMP/err.3"
	# the tables the datapath reads: 251 slots, (251 + 3) / 4 elements of the rings' inner map
	ring=$(bpftool -j map lookup pinned "$DIR/rings" key $(( $(ctl -j vip show "$VIPT" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])') * 2 )) 0 0 0 2>/dev/null |
		python3 -c 'import json, sys; v = json.load(sys.stdin)["value"]
print(v if isinstance(v, int) else int.from_bytes(bytes(int(x, 16) for x in v), "little"))' 2>/dev/null)
	[ -n "$ring" ] && [ "$(bpftool -j map show id "$ring" | python3 -c 'import json, sys; print(json.load(sys.stdin)["max_entries"])')" = 63 ] &&
		pass "vip add table-size 251: its new-flow table has 63 elements of 4 slots" ||
		fail "vip add table-size 251: its new-flow table has 63 elements of 4 slots (ring id '$ring')"
else
	fail "vip add $VIPT table-size 251" "$TMP/err"
fi

echo "# cli_edit: $FAILED failed"
[ "$FAILED" -eq 0 ]
