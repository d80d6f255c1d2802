#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2015,SC2181  # called indirectly; `A && pass || fail` is safe: pass never fails
# ebbctl's error contract (design.md, "ebbctl"): a wrong invocation exits non-zero, says
# "Error: …" on stderr ({"error": …} on stdout with -j), and changes nothing — every pinned map
# dumps byte-identical afterwards, the rings still hold the same inner tables (a rebuild would
# swap in new ones, with new ids), and the XDP attachments are the same.
# Also: prefix matching that must work, and `help` on every object.
# Output is TAP, one `ok - …` / `not ok - …` line per check; exits 1 if any failed.
# Needs root and a built tree (make).
set -u # no pipefail: `cmd | grep -q` must not fail when grep exits early

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUT=${OUTPUT:-.output}
[[ $OUT == /* ]] || OUT=$ROOT/$OUT
BUILT_CTL=$OUT/ebbctl
NS=ebbcli$$
DIR=/sys/fs/bpf/ebbcli-$$
TMP=$(mktemp -d /tmp/ebb-test-cli.XXXXXX)

VIP4=203.0.113.10:80/tcp
VIP6='[2001:db8::10]:443/tcp'
N1=198.51.100.1 N2=198.51.100.2 N3=198.51.100.3 N6=2001:db8::1
MAC1=02:00:00:00:00:01 MAC2=02:00:00:00:00:02 MAC3=02:00:00:00:00:03 MAC6=02:00:00:00:00:06
NOVIP=203.0.113.99:80/tcp NONODE=198.51.100.77

. "$(dirname "$0")/lib_cli.sh"
cli_setup

json_src4() { python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["encap_src4"])'; }

# --- objects, commands, options ----------------------------------------------------------------

bad "unknown object" "unknown" bogus show
bad "unknown command" "unknown" vip bogus
bad "unknown command with arguments" "unknown" node frobnicate "$N1"
bad "ambiguous prefix: node a (add|activate)" "ambiguous" node a "$N1"
bad "ambiguous prefix: node d (del|drain)" "ambiguous" node d "$N1"
bad "ambiguous prefix: flow l (list|lookup)" "ambiguous" flow l 192.0.2.1:1000 "$VIP4"
bad "node de NODE: del|delete are one command, so not ambiguous" "no node" node de "$NONODE"
bad "empty object name" "" "" show
# The top level is a table as the objects are: its commands' words are checked the same way.
bad "no object" "missing OBJECT"
bad "ambiguous prefix: s (stats|save)" "ambiguous 's'" s
bad "version takes no word" "unexpected 'extra'; usage: version" version extra
bad "save: unknown word" "unexpected 'x'; usage: save \[file FILE\]" save x
bad "save file: missing FILE" "missing FILE after 'file'" save file
bad "save file given twice" "'file' given twice" save file "$TMP/a" file "$TMP/b"
bad "restore: trailing word after if-empty" "unexpected 'c'; usage: restore FILE \[if-empty\]" \
	restore "$TMP/none" if-empty c
bad_json "no object (the error is the one document)"
bad "--bpffs relative/path" "absolute" --bpffs relative/path vip show
bad "--bpffs DIR with no ebb state in it" "no ebb state|attach" --bpffs "$DIR-none" vip add 203.0.113.11:80/tcp
[ ! -e "$DIR-none" ] && pass "--bpffs DIR with no state: DIR is not created" ||
	fail "--bpffs DIR with no state: DIR is not created"
rmdir "$DIR-none" 2>/dev/null

raw_bad "unknown option -x" "unknown option|-x" -x --bpffs "$DIR" vip show
raw_bad "unknown long option --bogus" "unknown option|bogus" --bogus --bpffs "$DIR" vip show
raw_bad "--bpffs without its directory" "bpffs" --bpffs

# No object at all: the usage, and a failure (bpftool does the same; no "Error:" needed).
ctl >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'Usage:' "$TMP/err" && unchanged; then
	pass "no object: usage on stderr, exit $rc"
else
	fail "no object: usage on stderr, non-zero exit (got $rc)" "$TMP/err" "$TMP/diff"
fi

# --- prog --------------------------------------------------------------------------------------

bad "prog attach: missing 'dev IFNAME'" "missing|dev" prog attach
bad "prog attach dev: missing device name" "missing|device" prog attach dev
bad "prog attach to a missing device" "no device|nosuch" prog attach dev nosuch0
bad "prog attach twice to the same device" "already" prog attach dev v0
bad "prog attach mode bogus" "mode" prog attach dev v1 mode bogus
bad "prog attach flows 5 (below 1024)" "flows" prog attach dev v1 flows 5
bad "prog attach flows N that differs from the pinned flow table" "flow table|entries" \
	prog attach dev v1 flows 2048
bad "prog attach: unknown keyword" "unexpected" prog attach dev v1 colour red
if ip -n "$NS" link set dev v1 xdpgeneric obj "$OUT/peer_pass.bpf.o" sec xdp 2>"$TMP/err"; then
	snapshot "$TMP/snap" # the foreign program is part of the state now
	bad "prog attach to a device that runs another XDP program" "already runs|detach" \
		prog attach dev v1 mode generic
	ip -n "$NS" link set dev v1 xdpgeneric off
	snapshot "$TMP/snap"
else
	fail "load a foreign XDP program on v1 for the next check" "$TMP/err"
fi
bad "prog detach of a device not attached" "not attached" prog detach dev v1
bad "prog detach of a missing device" "not attached|no device" prog detach dev nosuch0
bad "prog detach: missing 'dev'" "usage|dev" prog detach
bad "prog detach v0 (no 'dev' keyword)" "usage|dev" prog detach v0
bad "prog detach dev: missing device name" "missing|device" prog detach dev
bad "prog detach: trailing garbage" "unexpected" prog detach dev v0 now
bad "prog show: trailing garbage" "unexpected" prog show v0

# --- vip ---------------------------------------------------------------------------------------

bad "vip add: missing VIP" "missing" vip add
bad "vip add: bad IPv4 address" "address|invalid" vip add 203.0.113.300:80/tcp
bad "vip add: bad IPv6 address" "address|invalid" vip add '[2001:db8::zz]:80/tcp'
bad "vip add: IPv6 VIP without brackets" "invalid|bracket" vip add 2001:db8::11:80/tcp
bad "vip add: IPv4 VIP in brackets" "invalid" vip add '[203.0.113.11]:80/tcp'
bad "vip add: port 70000" "port" vip add 203.0.113.11:70000/tcp
bad "vip add: port -1" "port" vip add 203.0.113.11:-1/tcp
bad "vip add: port abc" "port" vip add 203.0.113.11:abc/tcp
bad "vip add: empty port" "port" vip add 203.0.113.11:/tcp
bad "vip add: proto sctp" "sctp|protocol" vip add 203.0.113.11:80/sctp
bad "vip add: missing /proto" "tcp|udp|proto" vip add 203.0.113.11:80
bad "vip add: empty proto" "tcp|udp|proto" vip add 203.0.113.11:80/
bad "vip add: duplicate VIP" "exists" vip add "$VIP4"
bad "vip add: duplicate IPv6 VIP" "exists" vip add "$VIP6"
bad "vip add: fwd bogus" "forwarding|fwd|dsr" vip add 203.0.113.11:80/tcp fwd bogus
bad "vip add: fwd without a mode" "missing|fwd" vip add 203.0.113.11:80/tcp fwd
bad "vip add: tcp-idle 0" "tcp-idle" vip add 203.0.113.11:80/tcp tcp-idle 0
bad "vip add: tcp-idle abc" "tcp-idle" vip add 203.0.113.11:80/tcp tcp-idle abc
bad "vip add: udp-idle 604801 (over a week)" "udp-idle" vip add 203.0.113.11:80/tcp udp-idle 604801
bad "vip add: drain-timeout without a value" "missing|drain-timeout" vip add 203.0.113.11:80/tcp drain-timeout
bad "vip add: table-size 250 (not an allowed prime)" "table-size must be one of 251, 509, .*65537" vip add 203.0.113.11:80/tcp table-size 250
bad "vip add: table-size 65521 (Cilium's, not ebb's)" "table-size must be one of" vip add 203.0.113.11:80/tcp table-size 65521
bad "vip add: table-size 131071 (past the largest)" "table-size must be one of" vip add 203.0.113.11:80/tcp table-size 131071
bad "vip add: table-size abc" "table-size must be one of" vip add 203.0.113.11:80/tcp table-size abc
bad "vip add: table-size without a value" "missing size after 'table-size'" vip add 203.0.113.11:80/tcp table-size
bad "vip add: a good table-size, then a bad keyword: nothing added" "unexpected" vip add 203.0.113.11:80/tcp table-size 251 colour red
bad "vip add: unknown keyword" "unexpected" vip add 203.0.113.11:80/tcp colour red
bad "vip add: trailing garbage" "unexpected" vip add 203.0.113.11:80/tcp extra
bad "vip add: 0.0.0.0" "unspecified" vip add 0.0.0.0:80/tcp
bad "vip add: 255.255.255.255" "broadcast" vip add 255.255.255.255:80/tcp
bad "vip add: multicast 224.0.0.1" "multicast" vip add 224.0.0.1:80/tcp
bad "vip add: v4-mapped IPv6 [::ffff:203.0.113.11]" "IPv4-mapped" vip add '[::ffff:203.0.113.11]:80/tcp'
bad "vip add: unspecified [::]" "unspecified" vip add '[::]:80/tcp'
bad "vip add: IPv6 multicast [ff02::1]" "multicast" vip add '[ff02::1]:80/tcp'
bad "vip add: a node's address as VIP" "node's address" vip add "$N1:80/tcp"
bad "vip add: a second IPv4 encap-src" "second IPv4 encap-src" vip add 203.0.113.11:80/tcp fwd ipip encap-src 198.51.100.2 encap-src 198.51.100.3
bad "vip add: a second IPv6 encap-src" "second IPv6 encap-src" vip add 203.0.113.11:80/tcp fwd ipip encap-src 2001:db8::2 encap-src 2001:db8::3
bad "vip add: encap-src 0.0.0.0" "unspecified" vip add 203.0.113.11:80/tcp fwd ipip encap-src 0.0.0.0
bad "vip add: encap-src multicast" "multicast" vip add 203.0.113.11:80/tcp fwd ipip encap-src ff02::2
# This host's own address (one on the attached device, as on a real LB): ebb would take the
# host's own traffic for a VIP, and send a node's to itself. An address add sends nothing here
# (IPv6 is off in the namespace, no gratuitous ARP), so no counter moves.
OWN4=192.0.2.50
if ip -n "$NS" addr add "$OWN4/24" dev v0 2>"$TMP/err"; then
	bad "vip add: this host's own address as VIP" "$OWN4 is this host's own address \\(dev v0\\).*VIP" \
		vip add "$OWN4:80/tcp"
	bad_json "vip add: this host's own address as VIP" vip add "$OWN4:443/udp"
	bad "node add: this host's own address as node" "$OWN4 is this host's own address \\(dev v0\\).*node" \
		node add "$OWN4" vip "$VIP4" mac 02:00:00:00:00:09
	bad "vip add: this VIP's own address as encap-src" "encap-src 203.0.113.11 is a VIP address" \
		vip add 203.0.113.11:80/tcp fwd ipip encap-src 203.0.113.11
	bad "vip add: another VIP's address as encap-src" "encap-src 203.0.113.10 is a VIP address" \
		vip add 203.0.113.11:80/tcp fwd ipip encap-src 203.0.113.10
	bad "vip add: encap-src not an address of this host" "encap-src 192.0.2.99 is not an address of this host" \
		vip add 203.0.113.11:80/tcp fwd ipip encap-src 192.0.2.99
	bad "vip add: a node's address as encap-src" "encap-src $N1 is not an address of this host" \
		vip add 203.0.113.11:80/tcp fwd ipip encap-src "$N1"
else
	fail "add $OWN4 to v0 for the own-address checks" "$TMP/err"
fi
bad "vip del: missing VIP" "missing" vip del
bad "vip del: unknown VIP" "no VIP" vip del "$NOVIP"
bad "vip del: bad VIP" "invalid" vip del 203.0.113.10:80/icmp
bad "vip del: trailing garbage" "unexpected" vip del "$VIP4" now
bad "vip show: unknown VIP" "no VIP" vip show "$NOVIP"
bad "vip show: bad VIP" "invalid" vip show nonsense
bad "vip show: trailing garbage" "unexpected" vip show "$VIP4" extra

# --- node --------------------------------------------------------------------------------------

bad "node add: missing NODE" "missing" node add
bad "node add: missing 'vip VIP'" "missing.*vip" node add 198.51.100.9 mac 02:00:00:00:00:09
bad "node add: 'vip' without a VIP" "missing" node add 198.51.100.9 vip
bad "node add: bad IPv4 node" "invalid" node add 198.51.100.999 vip "$VIP4" mac 02:00:00:00:00:09
bad "node add: bad IPv6 node" "invalid" node add 2001:db8:::9 vip "$VIP6" mac 02:00:00:00:00:09
bad "node add: unknown VIP" "no VIP" node add 198.51.100.9 vip "$NOVIP" mac 02:00:00:00:00:09
bad "node add: bad VIP" "invalid" node add 198.51.100.9 vip 203.0.113.10:80 mac 02:00:00:00:00:09
bad "node add: already a member" "already" node add "$N1" vip "$VIP4"
bad "node add: already a member (draining node)" "already" node add "$N2" vip "$VIP4"
bad "node add: weight 0" "weight" node add 198.51.100.9 vip "$VIP4" weight 0 mac 02:00:00:00:00:09
bad "node add: weight 1001" "weight" node add 198.51.100.9 vip "$VIP4" weight 1001 mac 02:00:00:00:00:09
bad "node add: weight abc" "weight" node add 198.51.100.9 vip "$VIP4" weight abc mac 02:00:00:00:00:09
bad "node add: weight -5" "weight" node add 198.51.100.9 vip "$VIP4" weight -5 mac 02:00:00:00:00:09
bad "node add: weight without a value" "missing|weight" node add 198.51.100.9 vip "$VIP4" mac 02:00:00:00:00:09 weight
bad "node add: zero MAC" "MAC" node add 198.51.100.9 vip "$VIP4" mac 00:00:00:00:00:00
bad "node add: multicast MAC" "MAC" node add 198.51.100.9 vip "$VIP4" mac 01:00:5e:00:00:01
bad "node add: broadcast MAC" "MAC" node add 198.51.100.9 vip "$VIP4" mac ff:ff:ff:ff:ff:ff
bad "node add: short MAC" "MAC" node add 198.51.100.9 vip "$VIP4" mac 02:00:00:00:09
bad "node add: MAC with a non-hex digit" "MAC" node add 198.51.100.9 vip "$VIP4" mac 02:00:00:00:00:0g
bad "node add: no MAC given, none known" "MAC" node add 198.51.100.9 vip "$VIP4"
bad "node add: existing node, another MAC" "MAC" node add "$N1" vip "$VIP6" mac 02:00:00:00:00:42
bad "node add: existing node, 'inactive'" "inactive|exists" node add "$N1" vip "$VIP6" inactive
bad "node add: unknown keyword" "unexpected|bogus" node add 198.51.100.9 vip "$VIP4" mac 02:00:00:00:00:09 bogus 1
bad "node add: trailing keyword without value" "unexpected|bogus|missing" node add 198.51.100.9 vip "$VIP4" mac 02:00:00:00:00:09 bogus

bad "node add: node-prog on an existing node without it" "without node-prog.*node set" node add "$N1" vip "$VIP6" node-prog
bad "node add: node-prog with a value" "unexpected|on" node add 198.51.100.9 vip "$VIP4" mac 02:00:00:00:00:09 node-prog on
bad "node set: node-prog without a value" "missing" node set "$N1" node-prog
bad "node set: node-prog maybe" "on.*off" node set "$N1" node-prog maybe
bad "node set: node-prog ON (the words are lower case)" "on.*off" node set "$N1" node-prog ON
bad "node set: node-prog twice" "twice" node set "$N1" node-prog on node-prog off
bad "node set: node-prog with a weight" "node-prog.*apart" node set "$N1" vip "$VIP4" weight 5 node-prog on
bad "node set: node-prog of an unknown node" "no node" node set "$NONODE" node-prog on
bad "node set: node-prog of a bad address" "invalid" node set 198.51.100.999 node-prog on
good "node set: node-prog off on a node without it: nothing changes" node set "$N1" node-prog off
bad "prog set: rescue-rate without a value" "usage" prog set rescue-rate
bad "prog set: rescue-rate -1" "rescue-rate" prog set rescue-rate -1
bad "prog set: rescue-rate abc" "rescue-rate" prog set rescue-rate abc
bad "prog set: rescue-rate over 100000000" "rescue-rate" prog set rescue-rate 100000001
bad "prog set: rescue-rate with trailing garbage" "usage" prog set rescue-rate 5 now
bad "prog set: rescue rate (two words)" "usage" prog set rescue rate 5
bad "prog set: mtu 500 (0 is off; a tunnel needs 1320)" "mtu must be 0 \(off\) or 1320\.\.65535, not 500" prog set mtu 500
bad "prog set: mtu 65536" "mtu must be 0 \(off\) or 1320\.\.65535, not '?65536" prog set mtu 65536
bad "prog set: mtu abc" "mtu must be 0 \(off\)" prog set mtu abc
# mtu 0 is off (the model's value for "not set"), then back to what it was: the snapshot again
mtu0=$(ctl prog show | sed -nE 's/.*; mtu ([0-9]+).*/\1/p')
if ctl prog set mtu 0 >"$TMP/out" 2>"$TMP/err" && grep -q "mtu 0 (off)" < <(ctl prog show) &&
	ctl -q prog set mtu "$mtu0" && unchanged; then
	pass "prog set: mtu 0 turns the check off (prog show: mtu 0 (off)), mtu $mtu0 puts it back"
else
	fail "prog set: mtu 0 turns the check off, mtu $mtu0 puts it back" "$TMP/out" "$TMP/err" "$TMP/diff"
fi
bad "node add: 0.0.0.0" "unspecified" node add 0.0.0.0 vip "$VIP4" mac 02:00:00:00:00:09
bad "node add: 255.255.255.255" "broadcast" node add 255.255.255.255 vip "$VIP4" mac 02:00:00:00:00:09
bad "node add: multicast 239.1.1.1" "multicast" node add 239.1.1.1 vip "$VIP4" mac 02:00:00:00:00:09
bad "node add: v4-mapped ::ffff:198.51.100.9" "IPv4-mapped" node add ::ffff:198.51.100.9 vip "$VIP6" mac 02:00:00:00:00:09
bad "node add: unspecified ::" "unspecified" node add :: vip "$VIP6" mac 02:00:00:00:00:09
bad "node add: the VIP's own address" "is a VIP address" node add 203.0.113.10 vip "$VIP4" mac 02:00:00:00:00:09
bad "node add: another VIP's address" "is a VIP address" node add 2001:db8::10 vip "$VIP6" mac 02:00:00:00:00:09
bad "node del: missing NODE" "missing" node del
bad "node del: unknown node" "no node" node del "$NONODE"
bad "node del: bad node address" "invalid" node del 198.51.100
bad "node del: unknown VIP" "no VIP" node del "$N1" vip "$NOVIP"
bad "node del: a VIP the node does not serve" "does not serve|not a member" node del "$N1" vip "$VIP6"
bad "node del: 'vip' without a VIP" "missing" node del "$N1" vip
bad "node del: trailing garbage" "unexpected" node del "$N1" now

bad "node drain: missing NODE" "missing" node drain
bad "node drain: unknown node" "no node" node drain "$NONODE"
bad "node drain: an inactive node" "inactive" node drain "$N3"
bad "node drain: timeout without value" "missing|timeout" node drain "$N1" timeout
bad "node drain: timeout 0" "timeout" node drain "$N1" timeout 0
bad "node drain: timeout abc" "timeout" node drain "$N1" timeout abc
bad "node drain: unknown keyword" "unexpected" node drain "$N1" slowly
bad "node drain: trailing garbage" "unexpected" node drain "$N1" timeout 5 now

bad "node activate: missing NODE" "missing" node activate
bad "node activate: unknown node" "no node" node activate "$NONODE"
bad "node activate: unknown IPv6 node" "no node" node activate 2001:db8::77
bad "node activate: trailing garbage" "unexpected" node activate "$N2" now

bad "node show: unknown node" "no node" node show "$NONODE"
bad "node show: bad address" "invalid" node show bogus
bad "node show: trailing garbage" "unexpected" node show "$N1" extra

bad "node wait: missing NODE" "missing" node wait
bad "node wait: missing 'state'" "usage|state" node wait "$N1"
bad "node wait: 'state' without a value" "usage|state" node wait "$N1" state
bad "node wait: state bogus" "state" node wait "$N1" state bogus
bad "node wait: state unused" "state" node wait "$N1" state unused
bad "node wait: unknown node" "no node" node wait "$NONODE" state active timeout 1
bad "node wait: timeout 0" "usage|timeout" node wait "$N1" state active timeout 0
bad "node wait: trailing garbage" "unexpected" node wait "$N1" state active timeout 1 now
start=$(date +%s%N)
bad "node wait: a state never reached (timeout 1)" "timed out" node wait "$N1" state inactive timeout 1
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -ge 900 ] && [ "$ms" -lt 10000 ] && pass "node wait timeout 1 took about a second (${ms} ms)" ||
	fail "node wait timeout 1 took about a second (took ${ms} ms)"

# --- flow, stats -------------------------------------------------------------------------------

bad "flow lookup: missing arguments" "usage" flow lookup
bad "flow lookup: missing VIP" "usage" flow lookup 192.0.2.1:1000
bad "flow lookup: endpoint without port" "endpoint" flow lookup 192.0.2.1 "$VIP4"
bad "flow lookup: endpoint port 70000" "endpoint" flow lookup 192.0.2.1:70000 "$VIP4"
bad "flow lookup: bad endpoint address" "endpoint" flow lookup 192.0.2.300:1000 "$VIP4"
bad "flow lookup: IPv6 endpoint without brackets" "endpoint" flow lookup 2001:db8::99:1000 "$VIP6"
bad "flow lookup: unknown VIP" "no VIP" flow lookup 192.0.2.1:1000 "$NOVIP"
bad "flow lookup: address families differ" "famil" flow lookup 192.0.2.1:1000 "$VIP6"
bad "flow lookup: trailing garbage" "usage|unexpected" flow lookup 192.0.2.1:1000 "$VIP4" now
bad "flow show: vip without value" "missing" flow show vip
bad "flow trace: unknown type" "unknown type" flow trace type bogus
bad "flow trace: sample 0" "invalid sample" flow trace sample 0
bad "flow trace: count not a number" "invalid count" flow trace count x
bad "flow trace: timeout without value" "missing" flow trace timeout
bad "flow trace: unknown VIP" "no VIP" flow trace vip "$NOVIP"
bad "flow trace: trailing garbage" "unexpected" flow trace now
bad "flow show: unknown VIP" "no VIP" flow show vip "$NOVIP"
bad "flow show: unknown node" "no node" flow show node "$NONODE"
bad "flow show: limit 0" "limit" flow show limit 0
bad "flow show: unknown keyword" "unexpected" flow show colour red
bad "stats show: vip without value" "usage|missing" stats show vip
bad "stats show: node without value" "usage|missing" stats show node
bad "stats show: unknown VIP" "no VIP" stats show vip "$NOVIP"
bad "stats show: unknown node" "no node" stats show node "$NONODE"
bad "stats show: unknown keyword" "unexpected" stats show colour red
bad "stats show: trailing garbage" "usage|unexpected" stats show vip "$VIP4" extra

# --- JSON errors -------------------------------------------------------------------------------

bad_json "duplicate VIP" vip add "$VIP4"
bad_json "unknown node" node del "$NONODE"
bad_json "unknown object" bogus
bad_json "bad port" vip add 203.0.113.11:70000/tcp
bad_json "ambiguous prefix" node a "$N1"
bad_json "weight 0" node add 198.51.100.9 vip "$VIP4" weight 0 mac 02:00:00:00:00:09
bad_json "prog attach twice" prog attach dev v0
bad_json "-p: unknown VIP (pretty)" -p vip show "$NOVIP"
bad_json "an argument that is not UTF-8 (echoed in the error)" vip add $'203.0.113.\xff\xfe:80/tcp'
bad_json "a node address that is not UTF-8" node add $'\xc3\x28\xe2\x82' vip "$VIP4"

# --- what must work, and change nothing ------------------------------------------------------

good "no sh (node show)" no sh
good "n s NODE (node show NODE)" n s "$N1"
good "vi s (vip show)" vi s
good "vip li (vip list)" vip li
good "p sh (prog show)" p sh
good "fl sh (flow show)" fl sh
good "st sh vip VIP (stats show)" st sh vip "$VIP4"
good "node he (node help)" node he
good "flow lo (flow lookup)" flow lo 192.0.2.1:1000 "$VIP4"
good "-j node show" -j node show
good "node activate of an active node (nothing to do)" node activate "$N1"
good "node wait for the state a node is in" node wait "$N1" state active timeout 1
good "node wait for a draining node" node wait "$N2" state draining timeout 1
for obj in prog vip node flow stats; do
	good "$obj help" "$obj" help
done
good "help" help
good "version" version
good "-V" -V

# Help asked for is output (stdout: `ebbctl help | less`); help for a missing command comes with
# the error, on stderr. A typo names the command it most likely meant; a non-root user is told
# what ebbctl needs.
help_to_stdout() { # help_to_stdout DESC ARGS…
	local desc=$1
	shift
	ctl "$@" >"$TMP/out" 2>"$TMP/err"
	if [ $? -eq 0 ] && grep -q '^Usage: ' "$TMP/out" && [ ! -s "$TMP/err" ] && unchanged; then
		pass "$desc: usage on stdout, nothing on stderr"
	else
		fail "$desc: usage on stdout, nothing on stderr" "$TMP/out" "$TMP/err" "$TMP/diff"
	fi
}
help_to_stdout "help" help
help_to_stdout "--help" --help
for obj in prog vip node flow stats decap backend fleet; do
	help_to_stdout "$obj help" "$obj" help
done
ctl node >"$TMP/out" 2>"$TMP/err"
if [ ! -s "$TMP/out" ] && grep -q '^Usage: ' "$TMP/err"; then
	pass "node without a command: its usage on stderr, nothing on stdout"
else
	fail "node without a command: its usage on stderr, nothing on stdout" "$TMP/out" "$TMP/err"
fi
bad "a typo names the command meant (node drian)" "unknown 'drian': did you mean 'drain'" node drian "$N1"
bad "a typo names the object meant (nide show)" "unknown 'nide': did you mean 'node'" nide show
bad "a transposition (vip shwo)" "did you mean 'show'" vip shwo
bad "no guess for a word near nothing (node xyzzy)" "unknown 'xyzzy'; try" node xyzzy
if [ -z "$(getent passwd nobody)" ]; then
	fail "a user without privilege: Error and a hint (no user 'nobody' on this machine)"
else
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" --bpffs "$DIR" node show >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q '^Error: .*\(Permission denied\|Operation not permitted\)' "$TMP/err" &&
		grep -q '^Hint: ebbctl needs root, or the capabilities CAP_BPF' "$TMP/err" && unchanged; then
		pass "a user without privilege: $(tr '\n' ' ' <"$TMP/err")"
	else
		fail "a user without privilege: an Error and the root/CAP_BPF hint (exit $rc)" "$TMP/err" "$TMP/diff"
	fi
fi

# Completion offers the live VIPs and node addresses (read from the state named by --bpffs), as
# bpftool completes live ids.
complete_words() { # complete_words WORD…: what bash completion offers for the last word
	env -i PATH="$PATH" bash --norc -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ebbctl; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$ROOT/tools/ebbctl.bash-completion" "$CTL" --bpffs "$DIR" "$@"
}
got=$(complete_words node drain "")
if grep -qx "$N1" <<<"$got" && grep -qx "$N2" <<<"$got"; then
	pass "completion of node drain: the live nodes ($(tr '\n' ' ' <<<"$got"))"
else
	fail "completion of node drain: the live nodes $N1 and $N2 (got: $(tr '\n' ' ' <<<"$got"))"
fi
got=$(complete_words node add 192.0.2.50 vip "")
if grep -qx "$VIP4" <<<"$got" && ! grep -qx "$N1" <<<"$got" && ! grep -qx weight <<<"$got"; then
	pass "completion after vip: the live VIPs only ($(tr '\n' ' ' <<<"$got"))"
else
	fail "completion after vip: the live VIP $VIP4, no node, no keyword (got: $(tr '\n' ' ' <<<"$got"))"
fi
got=$(complete_words flow show node "")
if grep -qx "$N2" <<<"$got" && ! grep -qx vip <<<"$got"; then
	pass "completion after flow show node: the live nodes only ($(tr '\n' ' ' <<<"$got"))"
else
	fail "completion after flow show node: the live node $N2, no keyword (got: $(tr '\n' ' ' <<<"$got"))"
fi
got=$(complete_words node add "")
if [ -z "$(grep -x "$N1" <<<"$got")" ]; then
	pass "completion of node add: no existing node offered as the new one"
else
	fail "completion of node add: offered an existing node ($(tr '\n' ' ' <<<"$got"))"
fi

# `v` is a prefix of both `vip` and `version`: bpftool would take the first (vip); ebbctl refuses
# it as ambiguous. Reported; this check turns into a plain pass once `v` means vip.
ctl v s >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ "$rc" -eq 0 ] && unchanged; then
	pass "v s (vip show)"
elif grep -q 'ambiguous' "$TMP/err"; then
	echo "ok - v s (vip show) # SKIP ebbctl refuses 'v' as ambiguous (vip or version): $(head -1 "$TMP/err")"
else
	fail "v s (vip show): exit $rc" "$TMP/err" "$TMP/diff"
fi
: >"$TMP/diff"

# --- the end: the inner tables too -------------------------------------------------------------

snapshot "$TMP/now" full
if cmp -s "$TMP/snap.full" "$TMP/now"; then
	pass "at the end every map, ring table and attachment is as after setup"
else
	diff "$TMP/snap.full" "$TMP/now" | head -20 >"$TMP/diff"
	fail "at the end every map, ring table and attachment is as after setup" "$TMP/diff"
fi

# What the own-address checks must let through (after the end check: it changes the state):
# an ipip VIP whose encap-src is this host's own address.
if ctl vip add 203.0.113.11:80/tcp fwd ipip encap-src "$OWN4" >"$TMP/out" 2>"$TMP/err" &&
	ctl -j vip show 203.0.113.11:80/tcp | json_src4 | grep -qx "$OWN4"; then
	pass "vip add fwd ipip encap-src $OWN4 (this host's own address) is accepted"
else
	fail "vip add fwd ipip encap-src $OWN4 (this host's own address) is accepted" "$TMP/err"
fi

# On a fleet host ebbctl writes etcd, not the maps: the writing host's own addresses are
# checked before that. A fleet marker of our own (etcd on this namespace's loopback: the
# check comes first, so nothing is ever sent) in a directory under DIR, removed with it.
FDIR=$DIR/fleet-host
make_marker() {
	mkdir -p "$FDIR" &&
		bpftool map create "$FDIR/fleet" type array key 4 value 2048 entries 1 name ebb_fleet &&
		python3 -c '
import json
v = json.dumps({"fleet": "t", "host": "h", "etcd": ["http://127.0.0.1:9"], "lease_ttl": 5}).encode()
print("key 0 0 0 0 value hex " + " ".join("%02x" % b for b in v.ljust(2048, b"\0")))' >"$TMP/marker" ||
		return 1
	# shellcheck disable=SC2046  # the words of the update, one per byte
	bpftool map update pinned "$FDIR/fleet" $(cat "$TMP/marker")
}
if make_marker; then
	for args in "vip add $OWN4:80/tcp|cannot be a VIP" "node add $OWN4 vip $VIP4|cannot be a node" \
		"vip add 203.0.113.11:80/tcp fwd ipip encap-src 192.0.2.99|encap-src 192.0.2.99 is not an address of this host" \
		"vip add 203.0.113.11:80/tcp fwd ipip encap-src 203.0.113.11|encap-src 203.0.113.11 is a VIP address"; do
		# shellcheck disable=SC2086  # the command's words
		ctl_raw --bpffs "$FDIR" ${args%%|*} >"$TMP/out" 2>"$TMP/err"
		rc=$?
		if [ "$rc" -ne 0 ] && grep -q "^Error: .*${args#*|}" "$TMP/err" && ! grep -q etcd "$TMP/err"; then
			pass "fleet host: ${args%%|*}: refused before etcd: $(head -1 "$TMP/err")"
		else
			fail "fleet host: ${args%%|*}: refused before etcd (exit $rc)" "$TMP/err"
		fi
	done
else
	fail "a fleet marker for the fleet-host checks" "$TMP/marker"
fi

echo "# cli_errors: $FAILED failed"
[ "$FAILED" -eq 0 ]
