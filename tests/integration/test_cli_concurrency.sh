#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2015,SC2181  # called indirectly; `A && pass || fail` is safe: pass never fails
# Two (or three) ebbctl writers at once must not corrupt the pinned state: libebb serialises
# writers with a lock on the pin directory, and readers never see a broken document.
#  1. concurrent `prog attach` on a fresh bpffs: all succeed, and every program uses the pinned maps;
#  2. concurrent `vip add` of VIPs sharing an address: distinct ids, vip_addrs counts right;
#  3. two writers, 30 rounds each, add/remove nodes 198.51.100.21..30 on VIP A and on VIP B and
#     drain/activate them, while readers run `node show -j` / `vip show -j`; then: every command
#     succeeded, memberships are exactly what the writers did, `node show -j`, `vip show -j` and
#     the members map agree, each ring holds exactly the active (new-flow table) or
#     active+draining (second-chance table) members, `flow lookup` only gives active members,
#     and each table is byte-identical to one built afresh from the same members;
#  4. two writers adding and deleting VIPs (some on one shared address): ids unique, vip_addrs
#     counts right, no ring, member or counter left of a deleted VIP.
# Output is TAP, one `ok - …` / `not ok - …` line per check; exits 1 if any failed.
set -u

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUT=${OUTPUT:-.output}
[[ $OUT == /* ]] || OUT=$ROOT/$OUT
BUILT_CTL=$OUT/ebbctl
NS=ebbcc$$
DIR=/sys/fs/bpf/ebbcc-$$
TMP=$(mktemp -d /tmp/ebb-test-cc.XXXXXX)
ROUNDS=${ROUNDS:-30}

VIPA=203.0.113.20:80/tcp
VIPA2=203.0.113.20:443/tcp # same address as A: vip_addrs counts 2
VIPB=203.0.113.21:80/tcp
VIPC=203.0.113.29:80/tcp # scratch VIP for the fresh-build comparison

. "$(dirname "$0")/lib_scratch.sh"

# --- setup -----------------------------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || bail "needs root"
[ -x "$BUILT_CTL" ] || bail "no $BUILT_CTL: run make first"
command -v bpftool >/dev/null || bail "no bpftool"
command -v python3 >/dev/null || bail "no python3"
# A private copy: a `make` running meanwhile must not swap the binary under the test.
CTL=$TMP/ebbctl
for try in 1 2 3 4 5; do
	cp "$BUILT_CTL" "$CTL" 2>/dev/null && "$CTL" -V >/dev/null 2>&1 && break
	[ "$try" -lt 5 ] || bail "cannot copy a working $BUILT_CTL"
	sleep 2
done
if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
	mount -t bpf bpf /sys/fs/bpf || bail "cannot mount bpffs on /sys/fs/bpf"
fi
ip netns add "$NS" || bail "cannot create netns $NS"
# No IPv6 on the veths: no stray packet reaches the balancer.
nsenter --net="/run/netns/$NS" -- sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 || bail "cannot disable IPv6 in $NS"
for i in 0 2 4; do
	ip -n "$NS" link add name "v$i" type veth peer name "v$((i + 1))" &&
		ip -n "$NS" link set "v$i" up && ip -n "$NS" link set "v$((i + 1))" up ||
		bail "cannot create veth v$i"
done

# --- 1. concurrent attach on a fresh bpffs -----------------------------------------------------

for i in 0 2 4; do
	ctl prog attach dev "v$i" >"$TMP/attach$i" 2>&1 &
done
ok=1
for pid in $(jobs -p); do wait "$pid" || ok=0; done
if [ "$ok" = 1 ]; then
	pass "3 concurrent 'prog attach' on a fresh bpffs all succeed"
else
	fail "3 concurrent 'prog attach' on a fresh bpffs all succeed" "$TMP/attach0" "$TMP/attach2" "$TMP/attach4"
	exit 1
fi

# Every map a program uses that is pinned by name (not its .rodata, not a deliberately private
# one) is the pinned map itself: no program got a copy of its own in a race to create the pins.
{
	for f in "$DIR"/*; do
		[[ ${f##*/} == link_* ]] && continue
		printf '%s ' "${f##*/}"
		bpftool map show pinned "$f" -j
		echo
	done
} >"$TMP/pinned"
for i in 0 2 4; do
	ip -n "$NS" -d link show "v$i" | grep -Eo 'prog/xdp id [0-9]+' | awk '{print $3}'
done >"$TMP/progs"
python3 - "$TMP/pinned" "$TMP/progs" >"$TMP/shared" 2>&1 <<'EOF'
import json, subprocess, sys
pinned = {}
for line in open(sys.argv[1]):
    if line.strip():
        name, doc = line.split(" ", 1)
        pinned[name[:15]] = json.loads(doc)["id"]  # kernel map names stop at 15 characters
progs = open(sys.argv[2]).read().split()
assert len(progs) == 3, f"programs attached: {progs}"
shared = set()
for p in progs:
    info = json.loads(subprocess.check_output(["bpftool", "prog", "show", "id", p, "-j"]))
    for m in info["map_ids"]:
        name = json.loads(subprocess.check_output(["bpftool", "map", "show", "id", str(m), "-j"]))["name"]
        if name in pinned:
            assert m == pinned[name], f"prog {p} uses map {m} '{name}', but the pinned '{name}' is map {pinned[name]}"
            shared.add(name)
assert len(shared) >= 5, f"the programs use only {sorted(shared)} of the pinned maps {sorted(pinned)}"
print(f"{len(progs)} programs, {len(shared)} pinned maps used")
EOF
[ $? -eq 0 ] && pass "the 3 programs use the pinned maps ($(tail -1 "$TMP/shared"))" ||
	fail "the 3 programs use the pinned maps" "$TMP/shared"

# --- 2. concurrent VIP adds ----------------------------------------------------------------------

ctl vip add "$VIPA" >"$TMP/va" 2>&1 &
ctl vip add "$VIPA2" >"$TMP/va2" 2>&1 &
ctl vip add "$VIPB" >"$TMP/vb" 2>&1 &
ok=1
for pid in $(jobs -p); do wait "$pid" || ok=0; done
[ "$ok" = 1 ] && pass "3 concurrent 'vip add' (two on one address) all succeed" ||
	{ fail "3 concurrent 'vip add' all succeed" "$TMP/va" "$TMP/va2" "$TMP/vb"; exit 1; }

# --- the checker -------------------------------------------------------------------------------

# check.py MODE [ARGS]: reads the state through ebbctl -j and bpftool, prints TAP lines.
cat >"$TMP/check.py" <<'EOF'
import collections, ipaddress, json, subprocess, sys

NS, DIR, CTL = sys.argv[1], sys.argv[2], sys.argv[3]
mode, args = sys.argv[4], sys.argv[5:]
failed = 0

def tap(ok, desc, detail=""):
    global failed
    print(("ok - " if ok else "not ok - ") + desc)
    if not ok:
        failed += 1
        for line in str(detail).splitlines()[:20]:
            print("#   " + line)

def ctl(*a):
    out = subprocess.run(["nsenter", f"--net=/run/netns/{NS}", "--", CTL, "--bpffs", DIR, "-j", *a],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"ebbctl {' '.join(a)}: {out.stdout}{out.stderr}")
    return json.loads(out.stdout)

def dump(path_or_id):
    cmd = ["bpftool", "map", "dump"] + (["id", str(path_or_id)] if isinstance(path_or_id, int)
                                        else ["pinned", f"{DIR}/{path_or_id}"]) + ["-j"]
    return json.loads(subprocess.check_output(cmd))

def le(bytelist):
    return int.from_bytes(bytes(int(b, 16) for b in bytelist), "little")

def state():
    nodes = ctl("node", "show")
    vips = {v["vip"]: v for v in ctl("vip", "show")}
    members = [(e["formatted"]["key"]["vip_id"], e["formatted"]["key"]["node_id"],
                e["formatted"]["value"]["weight"]) for e in dump("members")]
    rings = {le(e["key"]): le(e["value"]) for e in dump("rings")}
    return nodes, vips, members, rings

def ring_table(rings, ring_id):
    # four 16-bit slots to an 8-byte element (include/ebb.h); the last element's tail is padding
    if ring_id not in rings:
        return None
    slots = []
    for e in dump(rings[ring_id]):
        b = bytes(int(x, 16) for x in e["value"])
        slots += [int.from_bytes(b[i:i + 2], "little") for i in range(0, len(b), 2)]
    return slots[:65537]

def consistency(label):
    nodes, vips, members, rings = state()
    by_id = {n["id"]: n for n in nodes}
    vip_by_id = {v["id"]: name for name, v in vips.items()}
    addrs = [n["addr"] for n in nodes]
    dup = [a for a, c in collections.Counter(addrs).items() if c > 1]
    tap(not dup and len(by_id) == len(nodes), f"{label}: node addresses and ids are unique ({len(nodes)} nodes)",
        f"duplicates: {dup}")
    dangling = [m for m in members if m[1] not in by_id or m[0] not in vip_by_id]
    tap(not dangling, f"{label}: every member is an existing node of an existing VIP ({len(members)} members)",
        f"dangling (vip_id, node_id, weight): {dangling}")
    bad = []
    for n in nodes:
        want = sorted(vip_by_id.get(v, f"?{v}") for v, nid, _ in members if nid == n["id"])
        if sorted(n["vips"]) != want:
            bad.append(f"{n['addr']}: node show says {sorted(n['vips'])}, members map {want}")
        for v, nid, w in members:
            if nid == n["id"] and n["weights"].get(vip_by_id.get(v)) != w:
                bad.append(f"{n['addr']}: weight {n['weights']} vs members map {w} on vip {v}")
        if n["state"] not in ("active", "draining", "inactive", "down"):
            bad.append(f"{n['addr']}: state {n['state']}")
    tap(not bad, f"{label}: each node's vips and weights in 'node show -j' match the members map", "\n".join(bad))
    bad = []
    for name, v in vips.items():
        count = sum(1 for vid, _, _ in members if vid == v["id"])
        if v["nodes"] != count:
            bad.append(f"{name}: vip show says {v['nodes']} nodes, members map has {count}")
    tap(not bad, f"{label}: 'vip show -j' node counts equal the members map", "\n".join(bad))
    stray = sorted(r for r in rings if r // 2 not in vip_by_id)
    tap(not stray, f"{label}: no ring is left of a deleted VIP", f"rings of no VIP: {stray}")
    return nodes, vips, members, rings

def rings_check(label, names):
    nodes, vips, members, rings = state()
    by_id = {n["id"]: n for n in nodes}
    for name in names:
        vid = vips[name]["id"]
        mine = [nid for v, nid, _ in members if v == vid]
        active = {nid for nid in mine if by_id[nid]["state"] == "active"}
        second = {nid for nid in mine if by_id[nid]["state"] in ("active", "draining")}
        for ring_id, want, kind in ((2 * vid, active, "new-flow"), (2 * vid + 1, second, "second-chance")):
            t = ring_table(rings, ring_id)
            got = set(t) if t else set()
            tap(got == want and (t is None or len(t) == 65537),
                f"{label}: {name} {kind} table holds exactly its {kind == 'new-flow' and 'active' or 'active+draining'} members ({len(want)})",
                f"table has ids {sorted(got)}, want {sorted(want)}")

def lookups(label, names, count):
    nodes, vips, members, rings = state()
    by_id = {n["id"]: n for n in nodes}
    for name in names:
        vid = vips[name]["id"]
        active = {by_id[nid]["addr"] for v, nid, _ in members if v == vid and by_id[nid]["state"] == "active"}
        second = {by_id[nid]["addr"] for v, nid, _ in members
                  if v == vid and by_id[nid]["state"] in ("active", "draining")}
        seen, bad = collections.Counter(), []
        for port in range(20000, 20000 + count):
            r = ctl("flow", "lookup", f"192.0.2.7:{port}", name)
            # flow lookup answers for a mid-flow packet: a flow the table lacks gets the second
            # chance (active + draining members); only a new flow is held to the active ones.
            allowed = second if r.get("path") == "second_chance" else active
            if r["node"] is None:
                if allowed:
                    bad.append(f"port {port}: no node ({r['reason']}), but members {sorted(allowed)}")
            elif r["node"] not in allowed or r["state"] not in ("active", "draining"):
                bad.append(f"port {port}: {r['node']} ({r['state']}, {r.get('path')}) is not a member "
                           f"that path may use")
            seen[r["node"]] += 1
        tap(not bad, f"{label}: {count} flow lookups on {name} give only members their path may use "
            f"({len([s for s in seen if s])} of {len(second)} seen)", "\n".join(bad))

def fresh(label, name, scratch):
    # Builds `scratch` from the members of `name` (same nodes, same weights) and compares tables.
    nodes, vips, members, rings = state()
    by_id = {n["id"]: n for n in nodes}
    vid = vips[name]["id"]
    for v, nid, w in members:
        if v == vid:
            ctl("node", "add", by_id[nid]["addr"], "vip", scratch, "weight", str(w))
    nodes, vips, members, rings = state()
    sid = vips[scratch]["id"]
    for k, kind in ((0, "new-flow"), (1, "second-chance")):
        a, b = ring_table(rings, 2 * vid + k), ring_table(rings, 2 * sid + k)
        same = a == b
        diff = "" if same else (f"{name}: {'none' if a is None else len(a)} slots, {scratch}: "
                                f"{'none' if b is None else len(b)} slots, "
                                f"{0 if a is None or b is None else sum(x != y for x, y in zip(a, b))} differ")
        tap(same, f"{label}: {name} {kind} table is byte-identical to a fresh build from its members", diff)

def memberships(label, expect_file):
    # expect_file lines: VIP ADDR… (the members the writer of VIP left)
    nodes, vips, members, rings = state()
    by_id = {n["id"]: n for n in nodes}
    for line in open(expect_file):
        name, *want = line.split()
        vid = vips[name]["id"]
        got = sorted(by_id[nid]["addr"] for v, nid, _ in members if v == vid)
        tap(got == sorted(want), f"{label}: {name} has exactly the members its writer left ({len(want)})",
            f"got {got}\nwant {sorted(want)}")

def vip_addrs(label):
    vips = ctl("vip", "show")
    counts = collections.Counter(v["vip"].rsplit(":", 1)[0].strip("[]") for v in vips)
    got = {}
    for e in dump("vip_addrs"):
        k = e["formatted"]["key"]
        raw = bytes(int(b, 16) for b in e["key"])
        addr = str(ipaddress.ip_address(raw[:4] if k["family"] == 4 else raw[:16]))
        got[addr] = e["formatted"]["value"]
    tap(got == dict(counts), f"{label}: vip_addrs counts the VIPs on each address ({len(got)} addresses)",
        f"vip_addrs {got}\nVIPs per address {dict(counts)}")
    ids = [v["id"] for v in vips]
    tap(len(ids) == len(set(ids)), f"{label}: VIP ids are unique ({len(ids)} VIPs)", f"ids {ids}")

try:
    if mode == "consistency":
        consistency(args[0])
    elif mode == "rings":
        rings_check(args[0], args[1:])
    elif mode == "lookups":
        lookups(args[0], args[2:], int(args[1]))
    elif mode == "fresh":
        fresh(args[0], args[1], args[2])
    elif mode == "memberships":
        memberships(args[0], args[1])
    elif mode == "vip_addrs":
        vip_addrs(args[0])
except Exception as e:  # a crash is a failed check, with its reason
    tap(False, f"{mode} {' '.join(args[:1])}: checker crashed", repr(e))
sys.exit(1 if failed else 0)
EOF
check() { python3 "$TMP/check.py" "$NS" "$DIR" "$CTL" "$@" || FAILED=$((FAILED + 1)); }

check vip_addrs "after concurrent vip add"

# --- 3. two node writers, with readers ------------------------------------------------------------

mac_of() { printf '02:00:00:00:01:%02x' "$1"; }

# writer NAME VIP SEED: ROUNDS rounds of: toggle the membership of a random node 21..30 on VIP
# (add with a random weight, or del), then drain or activate a random member of VIP. The seed
# makes each writer's own sequence repeatable; the interleaving of the two is not, and node
# states are per node, shared by both VIPs: checks compare the maps with each other, not with a
# predicted state.
writer() {
	local name=$1 vip=$2 i x y a n keys
	local -A mem=()
	RANDOM=$3
	: >"$TMP/$name.fail"
	for ((i = 0; i < ROUNDS; i++)); do
		x=$((21 + RANDOM % 10))
		a=198.51.100.$x
		if [ -n "${mem[$x]:-}" ]; then
			ctl node del "$a" vip "$vip" >/dev/null 2>"$TMP/$name.err" ||
				echo "round $i: node del $a vip $vip: $(cat "$TMP/$name.err")" >>"$TMP/$name.fail"
			unset "mem[$x]"
		else
			ctl node add "$a" vip "$vip" mac "$(mac_of "$x")" weight $((100 + 50 * (RANDOM % 5))) \
				>/dev/null 2>"$TMP/$name.err" ||
				echo "round $i: node add $a vip $vip: $(cat "$TMP/$name.err")" >>"$TMP/$name.fail"
			mem[$x]=1
		fi
		keys=("${!mem[@]}")
		n=${#keys[@]}
		[ "$n" -gt 0 ] || continue
		y=198.51.100.${keys[RANDOM % n]}
		case $((RANDOM % 3)) in
		0) ctl node drain "$y" >/dev/null 2>"$TMP/$name.err" ;;
		1) ctl node drain "$y" timeout 60 >/dev/null 2>"$TMP/$name.err" ;;
		2) ctl node activate "$y" >/dev/null 2>"$TMP/$name.err" ;;
		esac || echo "round $i: drain/activate $y: $(cat "$TMP/$name.err")" >>"$TMP/$name.fail"
	done
	# Last, activate the members with an even last octet: the tables then have some of each.
	for x in "${!mem[@]}"; do
		[ $((x % 2)) -eq 0 ] || continue
		ctl node activate "198.51.100.$x" >/dev/null 2>"$TMP/$name.err" ||
			echo "end: node activate 198.51.100.$x: $(cat "$TMP/$name.err")" >>"$TMP/$name.fail"
	done
	printf '%s' "$vip" >"$TMP/$name.members"
	for x in "${!mem[@]}"; do printf ' 198.51.100.%s' "$x"; done >>"$TMP/$name.members"
	echo >>"$TMP/$name.members"
}

# reader NAME: `node show -j` and `vip show -j` until told to stop; every output one JSON array.
reader() {
	local name=$1 n=0 bad=0
	while [ ! -e "$TMP/stop" ]; do
		for what in node vip; do
			n=$((n + 1))
			if ! ctl -j "$what" show >"$TMP/$name.out" 2>&1 ||
				! python3 -c 'import json,sys; assert isinstance(json.load(open(sys.argv[1])), list)' \
					"$TMP/$name.out" 2>/dev/null; then
				bad=$((bad + 1))
				{ echo "read $n ($what show):"; head -c 300 "$TMP/$name.out"; echo; } >>"$TMP/$name.fail"
			fi
		done
	done
	echo "$n $bad" >"$TMP/$name.count"
}

: >"$TMP/reader.fail"
reader reader &
rpid=$!
start=$(date +%s)
writer wa "$VIPA" 1001 &
wa=$!
writer wb "$VIPB" 2002 &
wb=$!
wait "$wa"
wait "$wb"
touch "$TMP/stop"
wait "$rpid"
echo "# writers took $(($(date +%s) - start)) s for 2 x $ROUNDS rounds"

for w in wa wb; do
	if [ ! -s "$TMP/$w.fail" ]; then
		pass "writer $w: every command of $ROUNDS rounds succeeded"
	else
		fail "writer $w: every command of $ROUNDS rounds succeeded" "$TMP/$w.fail"
	fi
done
read -r reads rbad <"$TMP/reader.count"
[ "$rbad" -eq 0 ] && [ "$reads" -gt 0 ] &&
	pass "concurrent reader: $reads 'node show -j' / 'vip show -j' during the writes, each one JSON array" ||
	fail "concurrent reader: $rbad of $reads reads failed or were not one JSON array" "$TMP/reader.fail"

cat "$TMP/wa.members" "$TMP/wb.members" >"$TMP/expect"
check memberships "after the node writers" "$TMP/expect"
check consistency "after the node writers"
check rings "after the node writers" "$VIPA" "$VIPB"
check lookups "after the node writers" 200 "$VIPA" "$VIPB"
for v in "$VIPA" "$VIPB"; do
	if ctl vip add "$VIPC" >"$TMP/c" 2>&1; then
		check fresh "after the node writers" "$v" "$VIPC"
		ctl vip del "$VIPC" force >>"$TMP/c" 2>&1 || fail "delete the scratch VIP" "$TMP/c"
	else
		fail "add the scratch VIP $VIPC" "$TMP/c"
	fi
done

# --- 4. two VIP writers ----------------------------------------------------------------------------

# vip_writer NAME BASE: adds and deletes its own VIPs 203.0.113.BASE+k:80/tcp and
# 203.0.113.60:PORT/udp (an address both writers share), with a node on each.
vip_writer() {
	local name=$1 base=$2 i k v
	local -A have=()
	: >"$TMP/$name.fail"
	for ((i = 0; i < ROUNDS; i++)); do
		k=$((i % 4))
		if [ "$k" -lt 2 ]; then v=203.0.113.$((base + k)):80/tcp; else v=203.0.113.60:$((base * 10 + k))/udp; fi
		if [ -n "${have[$v]:-}" ]; then
			ctl vip del "$v" >/dev/null 2>"$TMP/$name.err" ||
				echo "round $i: vip del $v: $(cat "$TMP/$name.err")" >>"$TMP/$name.fail"
			unset "have[$v]"
		else
			{ ctl vip add "$v" && ctl node add 198.51.100.$((base + k)) vip "$v" mac "$(mac_of $((base + k)))"; } \
				>/dev/null 2>"$TMP/$name.err" ||
				echo "round $i: vip add $v + node: $(cat "$TMP/$name.err")" >>"$TMP/$name.fail"
			have[$v]=1
		fi
	done
}
vip_writer va 40 &
pa=$!
vip_writer vb 50 &
pb=$!
wait "$pa"
wait "$pb"
for w in va vb; do
	[ ! -s "$TMP/$w.fail" ] && pass "VIP writer $w: every command of $ROUNDS rounds succeeded" ||
		fail "VIP writer $w: every command of $ROUNDS rounds succeeded" "$TMP/$w.fail"
done
check vip_addrs "after the VIP writers"
check consistency "after the VIP writers"
check rings "after the VIP writers (A and B untouched)" "$VIPA" "$VIPB"

echo "# cli_concurrency: $FAILED failed"
[ "$FAILED" -eq 0 ]
