#!/usr/bin/env bash
# ebbd's command line and configuration checks (no lab needed): `ebbd --check` accepts the
# example configuration and refuses bad ones with "Error: FILE:LINE: ...", the line being the
# offending setting's; wrong invocations and missing state say so and exit 1.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUTPUT=${OUTPUT:-.output}
case "$OUTPUT" in /*) ;; *) OUTPUT=$ROOT/$OUTPUT ;; esac
EBBD=$OUTPUT/ebbd
TMP=$(mktemp -d /tmp/ebb-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
n_ok=0 n_fail=0
ok() { n_ok=$((n_ok + 1)); echo "ok - $*"; }
not_ok() { n_fail=$((n_fail + 1)); echo "not ok - $*"; }

out=$("$EBBD" --check "$ROOT/tools/ebbd.example.conf" 2>&1)
if [ $? -eq 0 ]; then ok "the example configuration passes --check ($out)"; else not_ok "example config: $out"; fi

# refused NAME LINE PATTERN: $TMP/NAME.conf (from stdin) fails with Error: FILE:LINE: PATTERN
refused() {
	local name=$1 line=$2 pattern=$3 f="$TMP/$1.conf" err rc
	cat >"$f"
	err=$("$EBBD" --check "$f" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && echo "$err" | grep -q "^Error: $f:$line: .*$pattern"; then
		ok "$name refused: $(echo "$err" | sed "s|$TMP/||")"
	else
		not_ok "$name: want 'Error: $name.conf:$line: ...$pattern', exit 1; got (exit $rc) $err"
	fi
}

refused syntax 2 "syntax error" <<'C'
interval = 1;
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp" }; );
C
refused unknown-setting 4 "unknown setting 'targt'" <<'C'
pools = ( {
  name = "web"; vips = ["203.0.113.10:80/tcp"];
  scale = { metric = "flows";
            targt = 10; };
} );
C
refused min-above-max 3 "'min' (5) is above 'max' (2)" <<'C'
pools = ( {
  name = "web"; vips = ["203.0.113.10:80/tcp"];
  scale = { metric = "flows"; target = 10; min = 5; max = 2; };
} );
C
refused bad-vip 2 "invalid VIP" <<'C'
pools = ( { name = "web";
  vips = ["203.0.113.10:80/tcp", "203.0.113.10/tcp"]; } );
C
refused probe-metric 3 "needs a 'probe' group" <<'C'
pools = ( {
  name = "web"; vips = ["203.0.113.10:80/tcp"];
  scale = { metric = "probe"; target = 0.7; };
} );
C
refused hook-not-argv 1 "must be an array of strings" <<'C'
hooks = { on-drained = "/usr/local/bin/retire $EBB_NODE"; };
C
refused interval-range 2 "'interval' must be between" <<'C'
# comment
interval = -1;
C
refused duplicate-pool 3 "defined twice" <<'C'
pools = (
  { name = "web"; vips = ["203.0.113.10:80/tcp"]; },
  { name = "web"; vips = ["203.0.113.11:80/tcp"]; }
);
C
refused health-type 2 "\"tcp\" or \"http\"" <<'C'
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  health = { type = "icmp"; }; } );
C
refused metrics-address 2 "'metrics' must be \"IPv4:PORT\"" <<'C'
interval = 1;
metrics = "999.1.1.1:99999";
C
refused metrics-port 1 "'metrics' must be" <<'C'
metrics = "127.0.0.1:0";
C

# --config refuses what --check refuses, with the same line.
printf 'interval = 1;\nmetrics = "999.1.1.1:99999";\n' >"$TMP/m.conf"
err=$(timeout 10 "$EBBD" --config "$TMP/m.conf" --bpffs "$TMP/none" 2>&1)
if [ $? -eq 1 ] && echo "$err" | grep -q "^Error: $TMP/m.conf:2: 'metrics' must be"; then
	ok "--config refuses the bad metrics address as --check does, naming line 2"
else not_ok "--config with a bad metrics address: $err"; fi
# An address this host does not have: said so, not "in use?".
printf 'metrics = "192.0.2.77:9477";\n' >"$TMP/m2.conf"
err=$(timeout 10 "$EBBD" --config "$TMP/m2.conf" --bpffs "$TMP/none" 2>&1)
if [ $? -eq 1 ] && echo "$err" | grep -q "Cannot assign requested address (not an address of this host)" &&
	! echo "$err" | grep -q "in use"; then
	ok "a metrics address not on this host is named as such: $(echo "$err" | grep -o '"msg":"[^"]*"')"
else not_ok "metrics on a foreign address: $err"; fi

err=$("$EBBD" --check "$TMP/missing.conf" 2>&1)
if [ $? -eq 1 ] && echo "$err" | grep -q "^Error: $TMP/missing.conf: cannot read"; then
	ok "a missing file is an error: $(echo "$err" | sed "s|$TMP/||")"
else not_ok "missing file: $err"; fi
err=$("$EBBD" --frobnicate 2>&1)
if [ $? -eq 1 ] && echo "$err" | grep -q "^Error: unknown option '--frobnicate'"; then
	ok "an unknown option is refused with usage"
else not_ok "unknown option: $err"; fi
err=$("$EBBD" --once --bpffs "$TMP/none" 2>&1)
if [ $? -eq 1 ] && echo "$err" | grep -q "^Error: no ebb state under $TMP/none"; then
	ok "ebbd --once without pinned state says so and exits 1"
else not_ok "--once without state: $err"; fi
echo "# $n_ok passed, $n_fail failed"
[ "$n_fail" -eq 0 ]
