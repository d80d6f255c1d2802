# shellcheck shell=bash disable=SC2317,SC2015,SC2181
# The CLI error suites' shared part: a scratch namespace with veths, ebb attached under a
# private bpffs directory with 2 VIPs and 4 nodes (one draining), a snapshot of every pinned map,
# ring table id and XDP attachment, and the checks `bad` (must fail with "Error: …" and change
# nothing), `bad_json`, `good` (must succeed and change nothing), `raw_bad`. The suite sets NS,
# DIR, TMP, the addresses below, and calls cli_setup.
. "$(dirname "${BASH_SOURCE[0]}")/lib_scratch.sh"

# Inner table ids of the rings map: the value of a map-of-maps dump is an id, little-endian.
ring_ids() {
	bpftool map dump pinned "$DIR/rings" -j | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    k = int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little")
    v = int.from_bytes(bytes(int(b, 16) for b in e["value"]), "little")
    print(k, v)'
}

# The whole state a command could change: the pins, every pinned map (link pins are not maps),
# the rings' inner ids, and which XDP program runs on each veth. With "full", the content of
# every inner table too (0.4 s each: done at the start and at the end, not after every check —
# a rebuild swaps the tables, so it already shows in the inner ids).
snapshot() { # snapshot FILE [full]
	local f name id
	{
		echo "== pins"
		ls "$DIR"
		# One bpftool for every map (a process each took most of a check's time on a busy
		# machine). Entries one per line, sorted: an entry deleted and written again (a failed
		# restore putting it back) may come back elsewhere in its bucket when two keys share
		# one (CI saw it for two VIP addresses and in the slot history), and a hash map's order
		# is not its content. A map's last entry gives up its closing brackets to a line of their own
		# (or it would compare by position after all).
		for f in "$DIR"/*; do
			name=${f##*/}
			[[ $name == link_* ]] || echo "map dump pinned $f"
		done >"$TMP/dump.batch"
		echo "== maps, entries sorted"
		bpftool -j batch file "$TMP/dump.batch" 2>&1 |
			sed -e 's/"output":\[/"output":[\n/g' -e 's/},{"key"/}\n{"key"/g' -e 's/}\]}/}\n]}/g' | sort
		echo "== ring ids"
		ring_ids
		echo "== xdp"
		ip -n "$NS" -d link show | grep -Eo '^[0-9]+: [^:@]+| xdp[a-z]* |prog/xdp id [0-9]+'
		if [ "${2:-}" = full ]; then
			ring_ids | while read -r _ id; do
				echo "== inner table $id"
				bpftool map dump id "$id" 2>&1
			done
		fi
	} >"$1"
}

unchanged() { # unchanged: the state equals the snapshot taken after setup
	snapshot "$TMP/now"
	if cmp -s "$TMP/snap" "$TMP/now"; then
		return 0
	fi
	diff "$TMP/snap" "$TMP/now" | head -20 >"$TMP/diff"
	cp "$TMP/now" "$TMP/snap" # report each change once, not in every later check
	return 1
}

# bad DESC PATTERN ARGS…: ebbctl ARGS must exit non-zero, print nothing on stdout, an
# "Error: …" line matching PATTERN (extended regex, case-insensitive) on stderr, and change nothing.
bad() {
	local desc=$1 pat=$2 rc why=""
	shift 2
	ctl "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" -ne 0 ] || why+="exit status 0; "
	grep -q '^Error: ' "$TMP/err" || why+="no 'Error:' line on stderr; "
	[ -z "$pat" ] || grep -Eiq "^Error: .*($pat)" "$TMP/err" || why+="error does not match /$pat/; "
	[ ! -s "$TMP/out" ] || why+="output on stdout; "
	unchanged || why+="state changed; "
	if [ -z "$why" ]; then
		pass "$desc: $(head -1 "$TMP/err")"
	else
		echo "ebbctl $* -> exit $rc: $why" >"$TMP/why"
		fail "$desc" "$TMP/why" "$TMP/err" "$TMP/out" "$TMP/diff"
	fi
	: >"$TMP/diff"
}

# bad_json DESC ARGS…: with -j, one JSON document {"error": "…"} on stdout, non-zero exit, no change.
bad_json() {
	local desc=$1 rc why=""
	shift
	ctl -j "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" -ne 0 ] || why+="exit status 0; "
	python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))  # fails on anything but exactly one document
assert isinstance(doc, dict) and list(doc) == ["error"] and isinstance(doc["error"], str) \
    and doc["error"], doc' "$TMP/out" 2>"$TMP/py" || why+="stdout is not one {\"error\": …} document; "
	unchanged || why+="state changed; "
	if [ -z "$why" ]; then
		pass "-j $desc: $(tr -d '\n' <"$TMP/out" | head -c 200)"
	else
		echo "ebbctl -j $* -> exit $rc: $why" >"$TMP/why"
		fail "-j $desc" "$TMP/why" "$TMP/out" "$TMP/err" "$TMP/py" "$TMP/diff"
	fi
	: >"$TMP/diff"
}

# good DESC ARGS…: ebbctl ARGS must exit 0, print no "Error:", and change nothing.
good() {
	local desc=$1 rc why=""
	shift
	ctl "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" -eq 0 ] || why+="exit status $rc; "
	! grep -q '^Error' "$TMP/err" || why+="error printed; "
	unchanged || why+="state changed; "
	if [ -z "$why" ]; then
		pass "$desc"
	else
		echo "ebbctl $* -> $why" >"$TMP/why"
		fail "$desc" "$TMP/why" "$TMP/err" "$TMP/diff"
	fi
	: >"$TMP/diff"
}

# Options go before --bpffs here, straight to the binary.
raw_bad() { # raw_bad DESC PATTERN ARGS…: like bad, without the --bpffs the others get
	local desc=$1 pat=$2 rc why=""
	shift 2
	ctl_raw "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" -ne 0 ] || why+="exit status 0; "
	grep -Eiq "^Error: .*($pat)" "$TMP/err" || why+="no 'Error:' line matching /$pat/; "
	unchanged || why+="state changed; "
	if [ -z "$why" ]; then
		pass "$desc: $(head -1 "$TMP/err")"
	else
		echo "ebbctl $* -> exit $rc: $why" >"$TMP/why"
		fail "$desc" "$TMP/why" "$TMP/err" "$TMP/diff"
	fi
	: >"$TMP/diff"
}
cli_setup() {
	[ "$(id -u)" -eq 0 ] || bail "needs root"
	[ -x "$BUILT_CTL" ] || bail "no $BUILT_CTL: run make first"
	# A private copy: a `make` running meanwhile must not swap the binary under the test.
	CTL=$TMP/ebbctl
	for try in 1 2 3 4 5; do
		cp "$BUILT_CTL" "$CTL" 2>/dev/null && "$CTL" -V >/dev/null 2>&1 && break
		[ "$try" -lt 5 ] || bail "cannot copy a working $BUILT_CTL"
		sleep 2
	done
	command -v bpftool >/dev/null || bail "no bpftool"
	if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
		mount -t bpf bpf /sys/fs/bpf || bail "cannot mount bpffs on /sys/fs/bpf"
	fi
	ip netns add "$NS" || bail "cannot create netns $NS"
	# No IPv6 on the veths: no DAD, router or MLD packet reaches the balancer and moves a counter.
	nsenter --net="/run/netns/$NS" -- sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 || bail "cannot disable IPv6 in $NS"
	ip -n "$NS" link add name v0 type veth peer name v1 || bail "cannot create veths"
	ip -n "$NS" link set v0 up && ip -n "$NS" link set v1 up || bail "cannot set veths up"

	setup() {
		ctl prog attach dev v0 &&
			ctl vip add "$VIP4" &&
			ctl vip add "$VIP6" &&
			ctl node add "$N1" vip "$VIP4" mac "$MAC1" &&
			ctl node add "$N2" vip "$VIP4" mac "$MAC2" weight 200 &&
			ctl node add "$N3" vip "$VIP4" mac "$MAC3" inactive &&
			ctl node add "$N6" vip "$VIP6" mac "$MAC6" &&
			ctl node drain "$N2"
	}
	setup >"$TMP/setup" 2>&1 || { fail "setup: attach, 2 VIPs, 4 nodes, one draining" "$TMP/setup"; exit 1; }
	pass "setup: attach, 2 VIPs, 4 nodes, one draining"
	snapshot "$TMP/snap.full" full
	snapshot "$TMP/snap"
	grep -q '^prog/xdp id' "$TMP/snap" || { fail "the snapshot sees the XDP program on v0" "$TMP/snap"; exit 1; }
	[ "$(ring_ids | wc -l)" -eq 4 ] || { ring_ids >"$TMP/r"; fail "4 rings installed (2 VIPs x new/second)" "$TMP/r"; exit 1; }
	: >"$TMP/diff"
}
