#!/usr/bin/env bash
# CLI fuzzing under ASan/UBSan (make check-asan): N random argument vectors (valid words,
# malformed addresses, huge and negative numbers, bytes that are not UTF-8, long strings) through
# the sanitized ebbctl against a scratch state (netns + veth + private bpffs dir). Each run must
# end without a sanitizer report, a crash or a hang; a failing run must print an error and leave
# every map exactly as it was (tests/asan/mapsum: one hash over all pinned maps); a run that
# succeeds (a valid command, by chance) sets the new reference. With -j the output must be one
# valid JSON document. Usage: fuzz_cli.sh SANITIZED_OUTPUT_DIR [N] [SEED]
set -u
SAN=$1 N=${2:-1000} SEED=${3:-$$}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NS=ebbfz$$ DIR=/sys/fs/bpf/ebbfz-$$ TMP=$(mktemp -d /tmp/ebb-fuzz.XXXXXX)
cleanup() {
	rm -f "$DIR"/link_* 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$DIR" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export ASAN_OPTIONS=abort_on_error=0:detect_leaks=0:exitcode=99 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99
CTL=$SAN/ebbctl
cc -O2 "$ROOT/tests/asan/mapsum.c" -lbpf -o "$TMP/mapsum" || exit 1
ip netns add "$NS" && nsenter --net="/run/netns/$NS" -- sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 && ip -n "$NS" link add v0 type veth peer name v1 &&
	ip -n "$NS" link set v0 up && ip -n "$NS" link set v1 up &&
	ip -n "$NS" addr add 192.0.2.50/24 dev v0 || exit 1 # encap-src must be this host's own
ctl() { timeout 20 nsenter --net="/run/netns/$NS" -- "$CTL" --bpffs "$DIR" "$@"; }
{ ctl prog attach dev v0 mode generic && ctl vip add 203.0.113.10:80/tcp && ctl vip add '[2001:db8::10]:443/udp' &&
	ctl vip add 203.0.113.20:0/tcp fwd ipip encap-src 192.0.2.50 &&
	ctl node add 198.51.100.1 vip 203.0.113.10:80/tcp mac 02:00:00:00:00:01 &&
	ctl node add 198.51.100.2 vip 203.0.113.10:80/tcp mac 02:00:00:00:00:02 weight 200 &&
	ctl node add 2001:db8::1 vip '[2001:db8::10]:443/udp' mac 02:00:00:00:00:06 &&
	ctl node drain 198.51.100.2; } >"$TMP/setup" 2>&1 || { cat "$TMP/setup"; echo "not ok - fuzz_cli setup"; exit 1; }
ref=$("$TMP/mapsum" "$DIR")

objs=(vip node flow stats prog decap help v n f s bogus "" -j)
cmds=(add del delete show list drain activate lookup help a d sh s li lo set bogus "")
words=(vip node weight mac inactive force fwd dsr ipip encap-src tcp-idle udp-idle fin-timeout
	drain-timeout timeout state limit dev mode native generic flows obj active draining down
	inactive unused now extra)
vals=(203.0.113.10:80/tcp '[2001:db8::10]:443/udp' 203.0.113.20:0/tcp 203.0.113.99:80/tcp
	198.51.100.1 198.51.100.2 2001:db8::1 198.51.100.9 0.0.0.0 255.255.255.255 224.0.0.1 ::
	::ffff:198.51.100.9 '[::ffff:1.2.3.4]:80/tcp' 203.0.113.10:70000/tcp 203.0.113.10:-1/tcp
	'203.0.113.10:80/tcp ' 203.0.113.10/tcp '[2001:db8::zz]:1/tcp' 1.2.3 1.2.3.4.5 192.0.2.1:1000
	'[2001:db8::9]:5' 02:00:00:00:00:09 ff:ff:ff:ff:ff:ff 00:00:00:00:00:00 02:00:00:00:09 0 1 -1
	100 1000 1001 4294967295 4294967296 18446744073709551616 99999999999999999999 0x10 1e3 ' ' '%s%n'
	$'\xff\xfe' $'\xc3\x28' $'\xe2\x82' $'caf\xc3\xa9' $'\x01\x1b[31m' "$(printf 'A%.0s' $(seq 3000))"
	"$(printf '9%.0s' $(seq 300))" '--bpffs' '-p' '-q' '-v' '--' v0 v1 lo nosuch0)
pick() { local -n arr=$1; printf '%s' "${arr[RANDOM % ${#arr[@]}]}"; }

RANDOM=$SEED
fails=0 runs=0 ok_runs=0 san=0 json_runs=0
: >"$TMP/json"
for ((i = 0; i < N; i++)); do
	vec=()
	[ $((RANDOM % 3)) -eq 0 ] && { vec+=(-j); json=1; } || json=0
	vec+=("$(pick objs)" "$(pick cmds)")
	for ((j = RANDOM % 6; j > 0; j--)); do
		case $((RANDOM % 3)) in
		0) vec+=("$(pick words)") ;;
		*) vec+=("$(pick vals)") ;;
		esac
	done
	# Commands that wait, or attach and detach programs, are not fuzzed here.
	case " ${vec[*]} " in *" wait "* | *" prog "* | *" p "* | *" decap "* | *" watch "*) continue ;; esac
	ctl "${vec[@]}" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	runs=$((runs + 1))
	why=""
	grep -qE "AddressSanitizer|runtime error:|LeakSanitizer|UndefinedBehaviorSanitizer" "$TMP/err" && { why+="sanitizer report; "; san=$((san + 1)); }
	[ $rc -eq 124 ] && why+="hang (timeout); "
	[ $rc -ge 126 ] && [ $rc -ne 124 ] && why+="exit status $rc; "
	now=$("$TMP/mapsum" "$DIR")
	if [ $rc -eq 0 ]; then
		ok_runs=$((ok_runs + 1))
		ref=$now
	elif [ -z "$why" ]; then
		[ "$now" = "$ref" ] || why+="a failing command changed the maps; "
		grep -qE '^(Error: |Usage: )' "$TMP/err" || grep -q '"error"' "$TMP/out" || why+="no 'Error:' line (nor {\"error\": ...} with -j); "
		ref=$now
	fi
	if [ $json -eq 1 ] && [ -s "$TMP/out" ]; then
		json_runs=$((json_runs + 1))
		{ tr -d '\n' <"$TMP/out"; printf '\n'; } >>"$TMP/json"
	fi
	if [ -n "$why" ]; then
		fails=$((fails + 1))
		echo "not ok - ebbctl$(printf ' %q' "${vec[@]}" | head -c 300): $why"
		head -c 2000 "$TMP/err" | sed 's/^/#   /'
	fi
done
# Every -j output, one document each (a JSON parser, once for all).
python3 -c '
import json, sys
bad = 0
for n, line in enumerate(open(sys.argv[1], "rb"), 1):
    try:
        json.loads(line.decode("utf-8"))
    except Exception as e:
        bad += 1
        print("#   -j output %d is not JSON: %r (%s)" % (n, line[:200], e))
sys.exit(1 if bad else 0)' "$TMP/json" || { fails=$((fails + 1)); echo "not ok - every -j output is valid UTF-8 JSON"; }
echo "# fuzz_cli: seed $SEED, $runs argument vectors ($ok_runs valid by chance, $json_runs -j outputs parsed), $fails failed, $san sanitizer reports"
[ $fails -eq 0 ] && echo "ok - fuzz_cli: $runs vectors through the sanitized ebbctl, maps unchanged by every failure, no sanitizer report"
[ $fails -eq 0 ]
