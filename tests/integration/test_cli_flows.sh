#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2015  # called indirectly; `A && pass || fail` is safe: pass never fails
# ebbctl and the flow table, with real packets through the attached balancer (sent into the
# scratch veth v1 -> v0 with an AF_PACKET socket):
#  - `flow lookup` answers for a mid-flow packet as the datapath handles it: with a node
#    draining, a flow not in the table gets the second chance (the draining node for some
#    ports), and an ACK sent for such a flow is pinned to exactly the node lookup named;
#  - `vip del force` purges the VIP's flows, so the VIP added again starts with no pin;
#  - `flow show vip V` does not list flows left behind by a deleted VIP whose id V reused.
set -u
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUT=${OUTPUT:-.output}
[[ $OUT == /* ]] || OUT=$ROOT/$OUT
NS=ebbflw$$
DIR=/sys/fs/bpf/ebbflw-$$
TMP=$(mktemp -d /tmp/ebb-test-flows.XXXXXX)
CTL=$OUT/ebbctl
. "$(dirname "$0")/lib_scratch.sh"

VIPA=203.0.113.10:80/tcp VIPX=203.0.113.20:80/tcp VIPY=203.0.113.21:80/tcp
N1=198.51.100.1 N2=198.51.100.2 CLIENT=192.0.2.1

[ "$(id -u)" -eq 0 ] || bail "needs root"
[ -x "$CTL" ] || bail "no $CTL: run make first"
if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
	mount -t bpf bpf /sys/fs/bpf || bail "cannot mount bpffs on /sys/fs/bpf"
fi
ip netns add "$NS" || bail "cannot create netns $NS"
nsenter --net="/run/netns/$NS" -- sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 || bail "cannot disable IPv6 in $NS"
ip -n "$NS" link add name v0 type veth peer name v1 || bail "cannot create veths"
ip -n "$NS" link set v0 up && ip -n "$NS" link set v1 up || bail "cannot set veths up"
V0MAC=$(ip -n "$NS" -j link show v0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')

# send FLAGS DST SPORT...: one TCP packet CLIENT:SPORT -> DST:80 per SPORT, into v1 (so v0's XDP
# program sees it), with valid IPv4 and TCP checksums.
cat >"$TMP/send.py" <<'PY'
import socket, struct, sys
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
dmac = bytes.fromhex(sys.argv[1].replace(":", ""))
flags = {"S": 0x02, "A": 0x10}[sys.argv[2]]
src, dst = socket.inet_aton(sys.argv[3]), socket.inet_aton(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("v1", 0))
for sport in map(int, sys.argv[5:]):
    tcp = struct.pack("!HHIIBBHHH", sport, 80, 1000, 1 if flags == 0x10 else 0, 5 << 4, flags, 64240, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(dmac + b"\x02\x00\x00\x00\x00\xc1" + b"\x08\x00" + ip + tcp)
PY
send() { local fl=$1 dst=$2; shift 2; nsenter --net="/run/netns/$NS" -- python3 "$TMP/send.py" "$V0MAC" "$fl" "$CLIENT" "$dst" "$@"; }
# flows_of [vip VIP]: "sport node" per flow in the table (of the VIP)
flows_of() { ctl -j flow show "$@" | python3 -c '
import json, sys
for f in json.load(sys.stdin): print(f["sport"], f["node"])' | sort -n; }

setup() {
	ctl prog attach dev v0 mode generic &&
		ctl vip add "$VIPX" && ctl node add "$N1" vip "$VIPX" mac 02:00:00:00:00:01 &&
		ctl vip add "$VIPA" && ctl node add "$N1" vip "$VIPA" &&
		ctl node add "$N2" vip "$VIPA" mac 02:00:00:00:00:02
}
setup >"$TMP/setup" 2>&1 || { fail "setup: attach, 2 VIPs, 2 nodes" "$TMP/setup"; exit 1; }
pass "setup: attach (generic), VIP X with n1, VIP A with n1 and n2"

# --- flow lookup answers for a mid-flow packet -------------------------------------------------
ctl node drain "$N2" >/dev/null 2>&1 && pass "node drain n2" || fail "node drain n2"
for p in $(seq 2000 2063); do
	echo "$p $(ctl -j flow lookup "$CLIENT:$p" "$VIPA" | tr -d '\n')"
done | python3 -c '
import json, sys
for line in sys.stdin:
    p, doc = line.split(" ", 1)
    d = json.loads(doc)
    print(p, d["node"], d.get("path", "?"), d["state"])' >"$TMP/lookups"
n2ports=$(awk -v n="$N2" '$2 == n' "$TMP/lookups" | wc -l)
n1ports=$(awk -v n="$N1" '$2 == n' "$TMP/lookups" | wc -l)
[ "$n2ports" -gt 0 ] && [ $((n1ports + n2ports)) -eq 64 ] &&
	pass "flow lookup of 64 unpinned flows: $n2ports to draining n2 (second chance), $n1ports to n1" ||
	fail "flow lookup of 64 unpinned flows: some to draining n2 by the second chance ($n2ports to n2, $n1ports to n1)" "$TMP/lookups"
awk -v n="$N2" '$2 == n && ($3 != "second_chance" || $4 != "draining")' "$TMP/lookups" >"$TMP/bad"
[ ! -s "$TMP/bad" ] && pass "... each said second_chance, node draining" || fail "... each said second_chance, node draining" "$TMP/bad"
# The datapath agrees: an ACK for each of these flows is pinned to the node lookup named.
send A 203.0.113.10 $(seq 2000 2063)
flows_of vip "$VIPA" >"$TMP/pinned"
awk '{print $1, $2}' "$TMP/lookups" | sort -n >"$TMP/named"
cmp -s "$TMP/named" "$TMP/pinned" &&
	pass "64 ACKs through the balancer: every flow pinned to the node flow lookup named" ||
	{ paste "$TMP/named" "$TMP/pinned" | awk '$1 != $3 || $2 != $4' >"$TMP/diff"; fail "64 ACKs: pinned where flow lookup said (named | pinned, where they differ; $(wc -l <"$TMP/pinned") pinned)" "$TMP/diff"; }
p=$(awk -v n="$N2" '$2 == n {print $1; exit}' "$TMP/lookups")
ctl -j flow lookup "$CLIENT:${p:-2000}" "$VIPA" | grep -q '"path": *"pinned"' &&
	pass "flow lookup of a pinned flow says pinned" || fail "flow lookup of a pinned flow says pinned"

# --- vip del force purges the VIP's flows ----------------------------------------------------
ctl node activate "$N2" >/dev/null
ctl vip del "$VIPA" force >"$TMP/out" 2>&1 && pass "vip del VIP A force" || fail "vip del VIP A force" "$TMP/out"
left=$(bpftool map dump pinned "$DIR/flows" -j | python3 -c '
import json, sys
print(sum(1 for e in json.load(sys.stdin) if bytes(int(b, 16) for b in e["key"][16:20]) == bytes([203, 0, 113, 10])))')
[ "$left" = 0 ] && pass "no flow of VIP A is left in the flow table" || fail "no flow of VIP A left in the flow table ($left left)"
ctl vip add "$VIPA" && ctl node add "$N2" vip "$VIPA" >/dev/null
ctl -j flow lookup "$CLIENT:${p:-2000}" "$VIPA" >"$TMP/l"
grep -q '"path": *"second_chance"' "$TMP/l" &&
	pass "VIP A added again (n2 only): its old flow is not pinned, it inherits nothing" ||
	fail "VIP A added again: its old flow inherits no pin" "$TMP/l"

# --- flow show vip V: not the flows of a deleted VIP whose id V reused ------------------------
send S 203.0.113.20 3000
[ "$(flows_of vip "$VIPX")" = "3000 $N1" ] && pass "a SYN to VIP X is pinned to n1" || fail "a SYN to VIP X is pinned to n1"
# VIP X vanishes as a crash mid-delete (or an older ebbctl) would leave it: its flow stays.
key=$(bpftool map dump pinned "$DIR/vips" -j | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if bytes(int(b, 16) for b in e["key"][:4]) == bytes([203, 0, 113, 20]):
        print(" ".join(b[2:] for b in e["key"]))')
bpftool map delete pinned "$DIR/vips" key hex $key && pass "VIP X's entry deleted by hand, its flow left" ||
	fail "delete VIP X's entry by hand"
ctl vip add "$VIPY" >/dev/null
idy=$(ctl -j vip show "$VIPY" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
[ "$idy" = 0 ] && pass "VIP Y got the id VIP X had (0)" || fail "VIP Y got the id VIP X had (0; got $idy)"
shown=$(flows_of vip "$VIPY" | wc -l)
[ "$shown" = 0 ] && pass "flow show vip Y lists none of VIP X's flows" ||
	{ flows_of vip "$VIPY" >"$TMP/f"; fail "flow show vip Y lists none of VIP X's flows ($shown listed)" "$TMP/f"; }
ctl node add "$N1" vip "$VIPY" >"$TMP/out" 2>&1 && pass "node add n1 vip Y: VIP X's leftover membership does not show through" ||
	fail "node add n1 vip Y (VIP X's leftover membership must not show through)" "$TMP/out"
flows=$(ctl -j vip show "$VIPY" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["flows"])')
[ "$flows" = 0 ] && pass "vip show Y counts 0 flows" || fail "vip show Y counts 0 flows (got $flows)"
[ "$FAILED" -eq 0 ]
