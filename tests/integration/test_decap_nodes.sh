#!/usr/bin/env bash
# The decapsulator on two lab nodes that share one bpffs directory (issue 17, item 7): each node
# (network namespace) attaches `decap` to its own eth0 and keeps its own pins under
# BPFFS/decap-<netns inode>; `decap show` on each lists its own link and prefixes only; detaching
# one leaves the other running. Then pins in the layout of an older ebbctl (BPFFS/decap_xdp_eth0,
# decap_prefixes, decap_stats at the top) are still read, and detached, by the node they belong
# to, and never taken for another node's. TAP output.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

NB=$BPFFS-nodes
lab_setup 2
trap 'rm -rf "$NB"; lab_teardown' EXIT

node_ctl() { local n=$1; shift; on "n$n" "$EBBCTL" --bpffs "$NB" "$@"; }
# the XDP program id running on node N's eth0 (0: none), from the kernel, not from ebbctl
xdp_id() { on "n$1" ip -j link show dev eth0 | json_get 'd[0].get("xdp", {}).get("prog", {}).get("id", 0)'; }
# decap show -j of node N, one field
shown() { node_ctl "$1" -j decap show | json_get "$2"; }
netns_ino() { stat -L -c %i "/run/netns/${PFX}n$1"; }

for n in 1 2; do
	if node_ctl "$n" decap attach dev eth0 >/dev/null 2>"$TMP/attach$n.err" ||
		node_ctl "$n" decap attach dev eth0 mode generic >/dev/null 2>"$TMP/attach$n.err"; then
		ok "n$n: decap attach dev eth0 in the shared bpffs"
	else
		not_ok "n$n: decap attach dev eth0 in the shared bpffs ($(cat "$TMP/attach$n.err"))"
	fi
done
node_ctl 1 decap add 203.0.113.0/24 >/dev/null
node_ctl 2 decap add 198.18.0.0/15 >/dev/null
for n in 1 2; do
	check "n$n: its pins under $NB/decap-<its netns inode>" \
		test -e "$NB/decap-$(netns_ino "$n")/decap_xdp_eth0" -a -e "$NB/decap-$(netns_ino "$n")/decap_prefixes"
done
check "nothing pinned at the top of the shared bpffs (no decap_xdp_eth0 there)" test ! -e "$NB/decap_xdp_eth0"
id1=$(xdp_id 1) id2=$(xdp_id 2)
check "two programs: n1 runs id $id1, n2 runs id $id2" test "$id1" -gt 0 -a "$id2" -gt 0 -a "$id1" != "$id2"
for n in 1 2; do
	want=$([ "$n" = 1 ] && echo "$id1" || echo "$id2")
	got=$(shown "$n" '" ".join("%s:%s" % (l["dev"], l["prog_id"]) for l in d["devices"])')
	check "n$n: decap show lists its own link only (eth0:$want, got '$got')" test "$got" = "eth0:$want"
done
check "n1: decap show lists n1's prefix only" test "$(shown 1 '" ".join(d["prefixes"])')" = "203.0.113.0/24"
check "n2: decap show lists n2's prefix only" test "$(shown 2 '" ".join(d["prefixes"])')" = "198.18.0.0/15"
check "n1: state is its own directory" test "$(shown 1 'd["state"]')" = "$NB/decap-$(netns_ino 1)"

if out=$(node_ctl 1 decap attach dev eth0 2>&1); then not_ok "n1: a second attach to eth0 is refused (got: $out)"
elif [[ $out == "Error: already attached to eth0"* ]]; then ok "n1: a second attach to eth0 is refused: $out"
else not_ok "n1: a second attach to eth0 says 'already attached' (got: $out)"; fi

check "n1: decap detach dev eth0" eval 'node_ctl 1 decap detach dev eth0 >/dev/null'
check "n1: no XDP program left on its eth0" test "$(xdp_id 1)" = 0
check "n1: its directory went with its last link" test ! -e "$NB/decap-$(netns_ino 1)"
check "n2: still runs its program (id $id2)" test "$(xdp_id 2)" = "$id2"
check "n2: decap show still lists its link and prefix" \
	test "$(shown 2 '"%s %s" % (" ".join(l["dev"] for l in d["devices"]), " ".join(d["prefixes"]))')" = "eth0 198.18.0.0/15"
if out=$(node_ctl 1 decap show 2>&1); then not_ok "n1: decap show after its detach: exit 1 (got: $out)"
elif [[ $out == Error:*"decap attach"* ]]; then ok "n1: decap show after its detach: $out"
else not_ok "n1: decap show after its detach says what to do (got: $out)"; fi

# The layout of an older ebbctl, made by moving n1's new pins to the top (bpffs renames pins).
node_ctl 1 decap attach dev eth0 >/dev/null 2>&1 || node_ctl 1 decap attach dev eth0 mode generic >/dev/null
node_ctl 1 decap add 192.0.2.0/24 >/dev/null
d1=$NB/decap-$(netns_ino 1)
for p in decap_xdp_eth0 decap_prefixes decap_stats; do mv "$d1/$p" "$NB/$p"; done
rmdir "$d1"
lid1=$(xdp_id 1)
check "old layout: n1: decap show reads the pins at the top (link eth0:$lid1, prefix 192.0.2.0/24)" \
	test "$(shown 1 '"%s %s %s" % (d["state"], " ".join("%s:%s" % (l["dev"], l["prog_id"]) for l in d["devices"]), " ".join(d["prefixes"]))')" = "$NB eth0:$lid1 192.0.2.0/24"
check "old layout: n2: decap show lists its own link only, not n1's old one" \
	test "$(shown 2 '" ".join("%s:%s" % (l["dev"], l["prog_id"]) for l in d["devices"])')" = "eth0:$id2"
check "old layout: n1: decap add goes to the old maps" eval 'node_ctl 1 decap add 192.0.3.0/24 >/dev/null &&
	test "$(shown 1 "\" \".join(d[\"prefixes\"])")" = "192.0.2.0/24 192.0.3.0/24"'
if out=$(node_ctl 1 decap attach dev eth0 2>&1); then not_ok "old layout: n1: attach to eth0 again is refused (got: $out)"
elif [[ $out == "Error: already attached to eth0"* ]]; then ok "old layout: n1: attach to eth0 again is refused: $out"
else not_ok "old layout: n1: attach again says 'already attached' (got: $out)"; fi
check "old layout: n1: decap detach dev eth0" eval 'node_ctl 1 decap detach dev eth0 >/dev/null'
check "old layout: n1's old link and maps are gone" \
	test ! -e "$NB/decap_xdp_eth0" -a ! -e "$NB/decap_prefixes" -a ! -e "$NB/decap_stats"
check "old layout: n1 runs no XDP program, n2 still its own" test "$(xdp_id 1)" = 0 -a "$(xdp_id 2)" = "$id2"

check "n2: decap detach dev eth0" eval 'node_ctl 2 decap detach dev eth0 >/dev/null'
check "nothing of the decapsulator left in the shared bpffs" \
	test -z "$(find "$NB" -mindepth 1 -name 'decap*' 2>/dev/null)"
finish
