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
# An address this host does not have: start could not listen there, so --check refuses it too
# (found by a bind to port 0, which sends nothing: 8.8.8.8 is only a string here).
refused metrics-not-local 3 "'metrics': cannot serve metrics on 8.8.8.8:9477: Cannot assign requested address (not an address of this host)" <<'C'
interval = 1;
# a public resolver's address, by mistake
metrics = "8.8.8.8:9477";
C
refused metrics-not-local6 1 "cannot serve metrics on \\[2001:db8::77\\]:9477: .*not an address of this host" <<'C'
metrics = "[2001:db8::77]:9477";
C
for m in 127.0.0.1:9477 0.0.0.0:19477; do
	printf 'metrics = "%s";\n' "$m" >"$TMP/local.conf"
	out=$("$EBBD" --check "$TMP/local.conf" 2>&1)
	if [ $? -eq 0 ] && echo "$out" | grep -q ": OK"; then ok "--check passes metrics on a local address ($m): $(echo "$out" | sed "s|$TMP/||g" | tr '\n' ' ')"
	else not_ok "--check with metrics = \"$m\": $out"; fi
done
# A port held now (by a running ebbd, most often) is a warning, not a refusal: --check is run
# beside the daemon it is about to replace. A listener of ours holds one (it says when it does).
exec {lst}< <(exec python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True); time.sleep(60)')
lst_pid=$!
read -r -t 20 held <&$lst
printf 'metrics = "127.0.0.1:%s";\n' "$held" >"$TMP/held.conf"
out=$("$EBBD" --check "$TMP/held.conf" 2>&1)
rc=$?
kill "$lst_pid" 2>/dev/null
exec {lst}<&-
if [ $rc -eq 0 ] && echo "$out" | grep -q "^Warning: $TMP/held.conf:1: 'metrics': 127.0.0.1:$held cannot be bound now: Address already in use" &&
	echo "$out" | grep -q ": OK"; then
	ok "a metrics port held by another process warns, exit 0: $(echo "$out" | head -1 | sed "s|$TMP/||")"
else not_ok "metrics port in use (port ${held:-none}): exit $rc, $out"; fi
refused timeout-20-digits 2 "'hook-timeout' must be between 0.1 and 86400, not 99999999999999999999 (out of range)" <<'C'
interval = 1;
hook-timeout = 99999999999999999999;
C
refused rise-20-digits 3 "'rise' must be between 1 and 100, not 12345678901234567890" <<'C'
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  health = { type = "tcp";
    rise = 12345678901234567890; }; } );
C
refused hook-missing 2 "program '/nonexistent/ebb-hook': No such file or directory" <<'C'
hooks = { on-down = ["/usr/bin/logger"];
  on-drained = ["/nonexistent/ebb-hook", "x"]; };
C
refused hook-relative 1 "program 'bin/hook' must be an absolute path or a name found in PATH" <<'C'
hooks = { on-up = ["bin/hook"]; };
C
refused hook-not-in-path 2 "program 'no-such-ebb-hook' is not found in PATH" <<'C'
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  hooks = { on-scale-out = ["no-such-ebb-hook"]; }; } );
C
printf '#!/bin/sh\n' >"$TMP/noexec.sh"
chmod 644 "$TMP/noexec.sh"
refused hook-not-executable 1 "program '$TMP/noexec.sh' is not executable" <<C
hooks = { on-down = ["$TMP/noexec.sh"]; };
C
refused hook-directory 1 "program '/tmp' is not a regular file" <<'C'
hooks = { on-down = ["/tmp"]; };
C
refused probe-missing 3 "program '/nonexistent/load': No such file" <<'C'
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  probe = {
    command = ["/nonexistent/load", "{node}"]; }; } );
C
refused vip-unspecified 2 "VIP address 0.0.0.0 is an unspecified" <<'C'
pools = ( { name = "web";
  vips = ["0.0.0.0:80/tcp"]; } );
C
refused vip-mapped 1 "IPv4-mapped" <<'C'
pools = ( { name = "web"; vips = ["[::ffff:203.0.113.10]:80/tcp"]; } );
C
# truth: the reader of draining nodes' own reports needs its key, a secret file of 16..4096 bytes
head -c 32 /dev/urandom >"$TMP/node.key" && chmod 600 "$TMP/node.key"
head -c 32 /dev/urandom >"$TMP/shared.key" && chmod 640 "$TMP/shared.key"
head -c 8 /dev/urandom >"$TMP/short.key" && chmod 600 "$TMP/short.key"
head -c 5000 /dev/urandom >"$TMP/long.key" && chmod 600 "$TMP/long.key"
refused truth-no-key 2 "'truth' needs 'truth-key'" <<'C'
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  truth = ["/bin/true", "{node}", "{nonce}"]; } );
C
refused truth-key-alone 3 "'truth-key' needs 'truth'" <<C
pools = ( { name = "web";
  vips = ["203.0.113.10:80/tcp"];
  truth-key = "$TMP/node.key"; } );
C
refused truth-key-shared 3 "'truth-key': $TMP/shared.key can be read or written by its group or others (chmod 600 it)" <<C
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  truth = "http://{node}:9478/conns?nonce={nonce}";
  truth-key = "$TMP/shared.key"; } );
C
refused truth-key-short 3 "'truth-key': $TMP/short.key: shorter than 16 bytes" <<C
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  truth = "http://{node}:9478/conns?nonce={nonce}";
  truth-key = "$TMP/short.key"; } );
C
refused truth-key-long 2 "longer than 4096 bytes" <<C
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"]; truth = "http://{node}/?n={nonce}";
  truth-key = "$TMP/long.key"; } );
C
refused truth-key-missing 2 "'truth-key': cannot open /nonexistent/node.key: No such file" <<'C'
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"]; truth = "http://{node}/?n={nonce}";
  truth-key = "/nonexistent/node.key"; } );
C
refused truth-url-scheme 2 "'truth' must be a command" <<C
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  truth = "https://{node}/conns?nonce={nonce}"; truth-key = "$TMP/node.key"; } );
C
refused truth-url-nonce 2 "'truth' URL must pass {nonce}" <<C
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  truth = "http://{node}:9478/conns"; truth-key = "$TMP/node.key"; } );
C
refused truth-url-host 2 "'truth' URL must be http://{node}" <<C
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  truth = "http://node.example:9478/?n={nonce}"; truth-key = "$TMP/node.key"; } );
C
refused truth-program 2 "program '/nonexistent/ebb-truth': No such file" <<C
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  truth = ["/nonexistent/ebb-truth", "{node}"]; truth-key = "$TMP/node.key"; } );
C
refused truth-interval 3 "'truth-interval' must be between 0.1 and 3600, not 0" <<C
pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];
  truth = ["/bin/true"]; truth-key = "$TMP/node.key";
  truth-interval = 0; } );
C
printf 'pools = ( { name = "web"; vips = ["203.0.113.10:80/tcp"];\n  truth = "http://{node}:9478/conns?nonce={nonce}"; truth-key = "%s";\n  truth-interval = 0.5; truth-timeout = 3; } );\n' \
	"$TMP/node.key" >"$TMP/truth.conf"
out=$("$EBBD" --check "$TMP/truth.conf" 2>&1)
if [ $? -eq 0 ]; then ok "a pool reading its nodes' reports by URL, with a 0600 key, passes"; else not_ok "truth by URL: $out"; fi
printf 'hooks = { on-down = ["logger", "-t", "ebbd"]; };\n' >"$TMP/inpath.conf"
out=$("$EBBD" --check "$TMP/inpath.conf" 2>&1)
if [ $? -eq 0 ]; then ok "a hook named by a program in PATH (logger) passes"; else not_ok "hook found in PATH: $out"; fi
err=$("$EBBD" --check "$TMP" 2>&1)
if [ $? -eq 1 ] && echo "$err" | grep -q "^Error: $TMP: is a directory" && ! echo "$err" | grep -q "No such file"; then
	ok "a directory as configuration file is named as such: $(echo "$err" | sed "s|$TMP|DIR|")"
else not_ok "directory as config file: $err"; fi

# --config refuses what --check refuses, with the same line.
printf 'interval = 1;\nmetrics = "999.1.1.1:99999";\n' >"$TMP/m.conf"
err=$(timeout 10 "$EBBD" --config "$TMP/m.conf" --bpffs "$TMP/none" 2>&1)
if [ $? -eq 1 ] && echo "$err" | grep -q "^Error: $TMP/m.conf:2: 'metrics' must be"; then
	ok "--config refuses the bad metrics address as --check does, naming line 2"
else not_ok "--config with a bad metrics address: $err"; fi
# An address this host does not have: said so, not "in use?", with its line as --check says it.
printf 'metrics = "192.0.2.77:9477";\n' >"$TMP/m2.conf"
err=$(timeout 10 "$EBBD" --config "$TMP/m2.conf" --bpffs "$TMP/none" 2>&1)
if [ $? -eq 1 ] && echo "$err" | grep -q "^Error: $TMP/m2.conf:1: .*Cannot assign requested address (not an address of this host)" &&
	! echo "$err" | grep -q "in use"; then
	ok "a metrics address not on this host is named as such: $(echo "$err" | sed "s|$TMP/||")"
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
