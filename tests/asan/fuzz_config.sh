#!/usr/bin/env bash
# Configuration fuzzing under ASan/UBSan (make check-asan): N files mutated from the example
# configuration and the suites' own (lines dropped, duplicated or cut; values swapped for huge,
# negative, empty, non-UTF-8 or wrong-typed ones; random bytes), each through the sanitized
# `ebbd --check`. Every run must end with exit 0 or 1, no sanitizer report, and every refusal
# must name the line: "Error: FILE:LINE: ...". Usage: fuzz_config.sh SANITIZED_OUTPUT_DIR [N] [SEED]
set -u
SAN=$1 N=${2:-2000} SEED=${3:-$$}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d /tmp/ebb-fuzzcfg.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
export LSAN_OPTIONS=suppressions=$ROOT/tests/asan/lsan.supp:print_suppressions=0 ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:exitcode=99 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99
mkdir -p "$TMP/in"
cat "$ROOT/tools/ebbd.example.conf" >"$TMP/seed0.conf"
cat >"$TMP/seed1.conf" <<'C'
interval = 0.5; drain-check = 0.1; walk-cpu = 4; metrics = "127.0.0.1:9477"; hook-timeout = 5;
hooks = { on-down = ["logger", "-t", "ebbd"]; on-up = ["/usr/bin/logger"]; };
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp", "[2001:db8::10]:443/udp"];
  health = { type = "http"; port = 80; path = "/"; interval = 0.5; timeout = 0.4; rise = 2; fall = 2; };
  probe = { url = "http://{node}:9100/load"; timeout = 0.5; };
  scale = { metric = "probe"; target = 0.7; min = 1; max = 3; tolerance = 0.1; scale-in-window = 4; }; },
  { name = "b"; vips = ["203.0.113.11:0/tcp"]; health = { type = "tcp"; }; } );
C
python3 - "$TMP" "$N" "$SEED" <<'PY'
import random, sys
tmp, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
seeds = [open("%s/seed%d.conf" % (tmp, i), "rb").read() for i in (0, 1)]
vals = [b"99999999999999999999", b"-1", b"0", b"1e999", b"-1e999", b"0x7fffffffffffffff", b'""',
        b'"\xff\xfe"', b'"' + b"A" * 5000 + b'"', b"[]", b"()", b"{}", b'["/nonexistent"]',
        b'"999.1.1.1:99999"', b'"0.0.0.0:80/tcp"', b"true", b"1.5", b"9223372036854775808",
        b'"%s%n"', b"@include \"/etc/passwd\"", b'"\\"\\\\\\n"', b"2147483648", b"-2147483649"]
for i in range(n):
    lines = rnd.choice(seeds).split(b"\n")
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(7)
        k = rnd.randrange(len(lines)) if lines else 0
        if not lines:
            lines = [b""]
        if op == 0:
            del lines[k]
        elif op == 1:
            lines.insert(k, lines[k])
        elif op == 2 and b"=" in lines[k]:
            name, _ = lines[k].split(b"=", 1)
            lines[k] = name + b"= " + rnd.choice(vals) + b";"
        elif op == 3:
            lines[k] = lines[k][: rnd.randrange(len(lines[k]) + 1)]
        elif op == 4:
            s = bytearray(lines[k])
            for _ in range(rnd.randint(1, 3)):
                pos = rnd.randrange(len(s) + 1)
                s[pos:pos] = bytes([rnd.randrange(256)])
            lines[k] = bytes(s)
        elif op == 5:
            lines.insert(k, rnd.choice([b"pools = ();", b"interval = 1;", b"hooks = {};", b"bogus = 1;", b"pools = ( 1 );", b"metrics = 5;"]))
        else:
            s = bytearray(lines[k])
            if s:
                s[rnd.randrange(len(s))] = rnd.choice(b'"{}[]();=:,\\\x00\xff#/*')
            lines[k] = bytes(s)
    open("%s/in/%05d.conf" % (tmp, i), "wb").write(b"\n".join(lines))
PY
fails=0 runs=0 refused=0 accepted=0 san=0
for f in "$TMP"/in/*.conf; do
	"$SAN/ebbd" --check "$f" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	runs=$((runs + 1))
	why=""
	grep -qE "AddressSanitizer|runtime error:|LeakSanitizer|UndefinedBehaviorSanitizer" "$TMP/err" && { why+="sanitizer report; "; san=$((san + 1)); }
	case $rc in
	0) accepted=$((accepted + 1)) ;;
	1) refused=$((refused + 1))
	   # The first error line names the file and a line number >= 1.
	   head -1 "$TMP/err" | grep -qE "^Error: $f:[1-9][0-9]*: " || why+="the error names no line: $(head -c 200 "$TMP/err"); " ;;
	*) why+="exit status $rc; " ;;
	esac
	if [ -n "$why" ]; then
		fails=$((fails + 1))
		cp "$f" "/tmp/ebb-fuzz-config-fail-$SEED-$(basename "$f")"
		echo "not ok - ebbd --check $(basename "$f") (kept as /tmp/ebb-fuzz-config-fail-$SEED-$(basename "$f")): $why"
		head -c 2000 "$TMP/err" | sed 's/^/#   /'
	fi
done
echo "# fuzz_config: seed $SEED, $runs mutated files ($accepted accepted, $refused refused), $fails failed, $san sanitizer reports"
[ $fails -eq 0 ] && echo "ok - fuzz_config: $runs mutated configurations through the sanitized ebbd --check, every refusal names its line"
[ $fails -eq 0 ]
