#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2015,SC2181  # called indirectly; `A && pass || fail` is safe: pass never fails
# ebbctl restore is all-or-nothing, attachments included (issue 15, item 5): a batch that
# detaches XDP and then fails leaves it attached as it was; lines restore cannot undo (stats
# zero, force purges, prog upgrade, decap, backend) are refused before anything runs; a saved file ends
# with "# end sha256 HEX" over the bytes before it, and one cut at a line boundary or with a
# changed byte is refused whole, while a file without that line (an older save, or written by
# hand) restores with a warning. Counters and flows are made non-zero by real frames through the
# balancer first, so that a zeroing or a purge shows in the map snapshot. TAP output; needs root
# and a built tree (make).
set -u

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUT=${OUTPUT:-.output}
[[ $OUT == /* ]] || OUT=$ROOT/$OUT
BUILT_CTL=$OUT/ebbctl
NS=ebbcrs$$
DIR=/sys/fs/bpf/ebbcrs-$$
DIR2=/sys/fs/bpf/ebbcrs2-$$ # a second, fresh state: a restore as at boot
TMP=$(mktemp -d /tmp/ebb-test-crs.XXXXXX)

VIP4=203.0.113.10:80/tcp
VIP6='[2001:db8::10]:443/tcp'
N1=198.51.100.1 N2=198.51.100.2 N3=198.51.100.3 N6=2001:db8::1
MAC1=02:00:00:00:00:01 MAC2=02:00:00:00:00:02 MAC3=02:00:00:00:00:03 MAC6=02:00:00:00:00:06

. "$(dirname "$0")/lib_cli.sh"
trap 'rm -f "$DIR2"/link_* 2>/dev/null; rm -rf "$DIR2"; cleanup' EXIT
cli_setup

ctl2() { nsenter --net="/run/netns/$NS" -- "$CTL" --bpffs "$DIR2" "$@"; }

# --- live counters and flows: 16 TCP SYNs from v1 through the balancer on v0 ----------------

V0MAC=$(ip -n "$NS" -j link show v0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
nsenter --net="/run/netns/$NS" -- python3 - "$V0MAC" >"$TMP/send" 2>&1 <<'PY'
import socket, struct, sys
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
dst_mac = bytes.fromhex(sys.argv[1].replace(":", ""))
src, dst = socket.inet_aton("192.0.2.7"), socket.inet_aton("203.0.113.10")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("v1", 0))
for sport in range(40000, 40016):
    tcp = struct.pack("!HHIIBBHHH", sport, 80, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(dst_mac + b"\x02\x00\x00\x00\x00\xfe" + b"\x08\x00" + ip + tcp)
print("sent 16")
PY
flows() { ctl -j flow show | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null; }
for _ in $(seq 100); do [ "$(flows)" = 16 ] && break; sleep 0.1; done
[ "$(flows)" = 16 ] && pass "16 SYNs through the balancer: 16 flows pinned" ||
	{ flows >>"$TMP/send"; fail "16 SYNs through the balancer: 16 flows pinned" "$TMP/send"; }
ctl -j stats show >"$TMP/stats"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if "\"packets\": 16" in json.dumps(d) else 1)' "$TMP/stats" &&
	pass "the counters are not zero" || fail "the counters are not zero" "$TMP/stats"
snapshot "$TMP/snap"
ctl -j prog show >"$TMP/prog.before"
same_prog() { # the attachment as prog show -j reports it (a re-attached link has a new link_id)
	ctl -j prog show >"$TMP/prog.now"
	python3 - "$TMP/prog.before" "$TMP/prog.now" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
key = lambda l: [(d["dev"], d["ifindex"], d["mode"], d["prog_id"]) for d in l]
print("# before:", key(a), "now:", key(b))
sys.exit(0 if key(a) == key(b) and key(a) else 1)
PY
}

# --- attachments: a detach in a refused batch is undone ---------------------------------------

printf 'prog detach dev v0\nvip add 203.0.113.50:80/tcp\nnode add %s vip 203.0.113.99:80/tcp\n' "$N1" >"$TMP/b"
bad "detach, then a failing line 3: XDP attached again as it was" "line 3: no VIP" restore "$TMP/b"
same_prog >"$TMP/why" && pass "prog show -j: v0 native with the same program after the refused detach" ||
	fail "prog show -j: v0 native with the same program after the refused detach" "$TMP/why"
ip -n "$NS" -d link show v0 >"$TMP/link"
grep -q "prog/xdp id $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["prog_id"])' "$TMP/prog.before")" "$TMP/link" &&
	pass "ip link: v0 runs the same XDP program" || fail "ip link: v0 runs the same XDP program" "$TMP/link"
printf 'prog detach dev v0\nprog attach dev v0 mode generic\nvip add 203.0.113.50:80/tcp\nbogus\n' >"$TMP/b"
bad "detach, attach generic, then a failing line: native again, same program" "line 4" restore "$TMP/b"
same_prog >"$TMP/why" && pass "prog show -j: v0 native again" || fail "prog show -j: v0 native again" "$TMP/why"
printf 'prog detach dev v0\nprog attach dev v0\n' >"$TMP/b"
ctl restore "$TMP/b" >"$TMP/out" 2>&1 && ip -n "$NS" -d link show v0 | grep -q 'prog/xdp' &&
	pass "detach then attach the same device in one batch succeeds" ||
	fail "detach then attach the same device in one batch succeeds" "$TMP/out"
snapshot "$TMP/snap" # a new program id now: that is what the batch asked for
ctl -j prog show >"$TMP/prog.before"

# --- lines restore cannot undo: refused before anything runs ---------------------------------

printf 'vip add 203.0.113.50:80/tcp\nstats zero\n' >"$TMP/b"
bad "stats zero in a restore file is refused, counters kept" "line 2: .*stats zero" restore "$TMP/b"
printf 'prog detach dev v0\nvip add 203.0.113.50:80/tcp\nst z\n' >"$TMP/b"
bad "'st z' (stats zero abbreviated) refused before the detach on line 1 runs" "line 3: " restore "$TMP/b"
printf 'vip set %s tcp-idle 60\nnode del %s force\n' "$VIP4" "$N1" >"$TMP/b"
bad "node del ... force in a restore file is refused, 16 flows kept" "line 2: .*force" restore "$TMP/b"
printf 'n delete %s vip %s force\n' "$N1" "$VIP4" >"$TMP/b"
bad "'n delete NODE vip VIP force' refused too" "line 1: .*force" restore "$TMP/b"
printf 'vip del %s force\n' "$VIP4" >"$TMP/b"
bad "vip del ... force in a restore file is refused" "line 1: .*force" restore "$TMP/b"
printf '# upgrade\nprog upgrade\n' >"$TMP/b"
bad "prog upgrade in a restore file is refused" "line 2: .*upgrade" restore "$TMP/b"
printf 'decap add 203.0.113.0/24\n' >"$TMP/b"
bad "decap lines in a restore file are refused" "line 1: .*decap" restore "$TMP/b"
printf 'backend attach dev v0\n' >"$TMP/b"
bad "backend lines in a restore file are refused" "line 1: .*backend" restore "$TMP/b"
printf 'vip add 203.0.113.50:80/tcp\nnode frobnicate %s\n' "$N1" >"$TMP/b"
bad "an unknown command is refused before line 1 runs" "line 2: unknown" restore "$TMP/b"
[ "$(flows)" = 16 ] && pass "the 16 flows are all still pinned" || fail "the 16 flows are all still pinned"

# --- the end line: a whole save restores, a cut or changed one does not ----------------------

ip -n "$NS" link add name v2 type veth peer name v3 && ip -n "$NS" link set v2 up && ip -n "$NS" link set v3 up ||
	bail "cannot create v2/v3"
src_setup() {
	ctl2 prog attach dev v2 flows 4096 && ctl2 prog set flood-rate 5000 &&
		ctl2 vip add 203.0.113.20:80/tcp tcp-idle 300 table-size 2039 || return 1
	for i in $(seq 10 19); do
		ctl2 node add "198.51.100.$i" vip 203.0.113.20:80/tcp mac "02:00:00:00:01:$i" weight "$((i * 10))" || return 1
	done
	# rescues: a rate, and two nodes that run the node program (one from its add, one set)
	ctl2 prog set rescue-rate 1234 && ctl2 node set 198.51.100.11 node-prog on &&
		ctl2 node add 198.51.100.20 vip 203.0.113.20:80/tcp mac 02:00:00:00:01:20 node-prog || return 1
	ctl2 -j node show >"$TMP/nodes.json" && ctl2 node show >"$TMP/nodes.txt" && ctl2 -j prog show >"$TMP/prog.json" || return 1
	ctl2 node drain 198.51.100.12 && ctl2 save file "$TMP/state" && ctl2 prog detach dev v2 && rm -rf "$DIR2"
}
node_progs() { # the nodes that run the node program, from `node show -j`
	python3 -c 'import json, sys; print(" ".join(sorted(n["addr"] for n in json.load(sys.stdin) if n["node_prog"] is True)))'
}
src_setup >"$TMP/src" 2>&1 && pass "a state of 11 nodes on v2 saved, then v2 detached and its pins gone (a reboot)" ||
	fail "a state of 11 nodes on v2 saved, then v2 detached and its pins gone (a reboot)" "$TMP/src"
sed 's/^/# /' "$TMP/state"
[ "$(node_progs <"$TMP/nodes.json")" = "198.51.100.11 198.51.100.20" ] &&
	python3 -c 'import json, sys; n = json.load(open(sys.argv[1])); sys.exit(not all(type(x["node_prog"]) is bool for x in n) or len(n) != 11)' "$TMP/nodes.json" &&
	pass "node-prog: node show -j says node_prog true for the node added with it and the one set, false for 9 others" ||
	fail "node-prog: node show -j says node_prog true for exactly 198.51.100.11 and .20" "$TMP/nodes.json"
grep -Eq '^198\.51\.100\.11 .* yes ' "$TMP/nodes.txt" && grep -Eq '^198\.51\.100\.10 .* no ' "$TMP/nodes.txt" &&
	head -1 "$TMP/nodes.txt" | grep -q ' PROG ' &&
	pass "node-prog: node show's PROG column says yes and no" || fail "node-prog: node show's PROG column" "$TMP/nodes.txt"
python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))[0]["rescue_rate"] != 1234)' "$TMP/prog.json" &&
	pass "prog set rescue-rate 1234: prog show -j says rescue_rate 1234" || fail "prog show -j says rescue_rate 1234" "$TMP/prog.json"
grep -qx 'prog set rescue-rate 1234' "$TMP/state" && grep -q '^node add 198.51.100.11 .* node-prog$' "$TMP/state" &&
	grep -q '^node add 198.51.100.20 .* node-prog$' "$TMP/state" && [ "$(grep -c 'node-prog' "$TMP/state")" -eq 2 ] &&
	pass "save: the rescue rate and node-prog on the two nodes' add lines" || fail "save: rescue-rate and node-prog lines" "$TMP/state"
grep -q '^vip add 203\.0\.113\.20:80/tcp .* table-size 2039$' "$TMP/state" &&
	pass "save: the VIP's table-size 2039 on its add line" || fail "save: the VIP's table-size 2039 on its add line" "$TMP/state"
tail -1 "$TMP/state" >"$TMP/end"
[ "$(cut -d' ' -f1-3 "$TMP/end")" = "# end sha256" ] &&
	[ "$(cut -d' ' -f4 "$TMP/end")" = "$(head -n -1 "$TMP/state" | sha256sum | cut -d' ' -f1)" ] &&
	pass "save ends with '# end sha256 HEX', HEX = sha256sum of the lines before it" ||
	fail "save ends with '# end sha256 HEX', HEX = sha256sum of the lines before it" "$TMP/end"

fresh() { # fresh DESC: after a refused restore into DIR2, nothing exists there and v2 runs no XDP
	local why=""
	[ ! -e "$DIR2" ] || why+="$DIR2 exists: $(ls "$DIR2" | tr '\n' ' '); "
	ip -n "$NS" -d link show v2 | grep -q 'prog/xdp' && why+="v2 runs XDP; "
	if [ -z "$why" ]; then pass "$1"; else echo "$why" >"$TMP/why"; fail "$1" "$TMP/why"; fi
}
restore_bad() { # restore_bad DESC PATTERN FILE: into the fresh DIR2, refused whole
	local rc
	ctl2 restore "$3" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" -ne 0 ] && grep -Eiq "^Error: .*($2)" "$TMP/err" && [ ! -s "$TMP/out" ]; then
		pass "$1: $(head -1 "$TMP/err")"
	else
		echo "exit $rc" >"$TMP/why"
		fail "$1" "$TMP/why" "$TMP/err" "$TMP/out"
	fi
	fresh "$1: nothing created"
}
lines=$(wc -l <"$TMP/state")
head -n 6 "$TMP/state" >"$TMP/cut"
restore_bad "a save cut at a line boundary (6 of $lines lines) is refused" "cut short|end line" "$TMP/cut"
head -n $((lines - 1)) "$TMP/state" >"$TMP/cut"
restore_bad "a save without just its end line is refused" "cut short|end line" "$TMP/cut"
head -c -10 "$TMP/state" >"$TMP/cut"
restore_bad "a save cut inside its end line is refused" "end line|checksum" "$TMP/cut"
sed 's/weight 150/weight 151/' "$TMP/state" >"$TMP/changed"
cmp -s "$TMP/state" "$TMP/changed" && fail "the test changed a byte" || pass "one byte changed (weight 150 -> 151)"
restore_bad "a save with a changed byte is refused" "checksum" "$TMP/changed"
sed '1s/state under/state-under/' "$TMP/state" >"$TMP/changed"
restore_bad "a save with a changed byte in its header comment is refused" "checksum" "$TMP/changed"
{ cat "$TMP/state"; echo "node del 198.51.100.10"; } >"$TMP/changed"
restore_bad "a line after the end line is refused" "after the end line" "$TMP/changed"

ctl2 restore "$TMP/state" >"$TMP/out" 2>"$TMP/err" && [ ! -s "$TMP/err" ] &&
	pass "the whole save restores, no warning: $(cat "$TMP/out")" || fail "the whole save restores, no warning" "$TMP/out" "$TMP/err"
ctl2 save >"$TMP/resaved"
ctl2 -j node show | node_progs >"$TMP/np"
[ "$(cat "$TMP/np")" = "198.51.100.11 198.51.100.20" ] && pass "restored: node_prog true on the same two nodes" ||
	fail "restored: node_prog true on the same two nodes" "$TMP/np"
ctl2 -j prog show | python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)[0]["rescue_rate"] != 1234)' &&
	pass "restored: rescue_rate 1234" || fail "restored: rescue_rate 1234"
cmp -s <(sed '1d;$d' "$TMP/state") <(sed '1d;$d' "$TMP/resaved") &&
	pass "saved again: the same 11 nodes, weights, drain, node-prog and settings" ||
	{ diff <(sed '1d;$d' "$TMP/state") <(sed '1d;$d' "$TMP/resaved") >"$TMP/diff"; fail "saved again: the same configuration" "$TMP/diff"; }
ino=$(stat -c %i "$TMP/state")
ctl2 save file "$TMP/state" && [ "$(stat -c %i "$TMP/state")" = "$ino" ] &&
	pass "save file on the same configuration leaves the file alone" ||
	fail "save file on the same configuration leaves the file alone"
ctl2 prog detach dev v2 && rm -rf "$DIR2"

# A save from before the end line existed: the old header, no end line.
sed -e '1s/^# ebbctl save format 2, /# ebbctl save, /' -e '/^# end sha256 /d' "$TMP/state" >"$TMP/old"
ctl2 restore "$TMP/old" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ "$rc" -eq 0 ] && grep -q '^Warning: .*end line' "$TMP/err" && ! grep -q '^Error' "$TMP/err" &&
	pass "an old-format save restores with a warning: $(head -1 "$TMP/err")" ||
	{ echo "exit $rc" >"$TMP/why"; fail "an old-format save restores with a warning" "$TMP/why" "$TMP/err"; }
ctl2 save >"$TMP/resaved"
cmp -s <(sed '1d;$d' "$TMP/state") <(sed '1d;$d' "$TMP/resaved") && pass "the old-format save restored whole" ||
	fail "the old-format save restored whole"
ctl2 prog detach dev v2 && rm -rf "$DIR2"
{ cat "$TMP/old"; echo "node add 198.51.100.30 vip 203.0.113.99:80/tcp"; } >"$TMP/oldbad"
restore_bad "an old-format file failing on its last line: refused whole" "line $(( $(wc -l <"$TMP/old") + 1 )): no VIP" "$TMP/oldbad"

# A batch written by hand, given an end line as ebbctl(8) tells: checked, no warning.
printf 'prog attach dev v2\nvip add 203.0.113.20:80/tcp\n' >"$TMP/hand"
echo "# end sha256 $(sha256sum <"$TMP/hand" | cut -c1-64)" >>"$TMP/hand"
ctl2 -j restore "$TMP/hand" >"$TMP/out" 2>"$TMP/err" && [ ! -s "$TMP/err" ] && grep -q '"checksum": *"sha256 verified"' "$TMP/out" &&
	pass "a hand-written batch with an end line made by sha256sum: checked, no warning" ||
	fail "a hand-written batch with an end line made by sha256sum: checked, no warning" "$TMP/out" "$TMP/err"
ctl2 prog detach dev v2 && rm -rf "$DIR2"

# --- the end ---------------------------------------------------------------------------------

ip -n "$NS" link del v2

unchanged && pass "the first state (DIR, v0) is as before the restores into DIR2" ||
	fail "the first state (DIR, v0) is as before the restores into DIR2" "$TMP/diff"
echo "# cli_restore: $FAILED failed"
[ "$FAILED" -eq 0 ]
