#!/usr/bin/env bash
# The systemd units (issue 10's hardening, issue 11's reboot survival), checked offline since
# no systemd runs here: `make install` fills in PREFIX (nothing hard-codes /usr/local/sbin),
# `systemd-analyze verify` accepts them, `systemd-analyze security --offline` rates each at
# most 3.0 ("OK"), and the directives the brief names are there. The restore/save commands
# they run are exercised for real in test_reboot.sh. TAP output.
set -u
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
cd "$ROOT" || exit 1
OUT=${OUTPUT:-.output}
[[ $OUT == /* ]] || OUT=$ROOT/$OUT
TMP=$(mktemp -d /tmp/ebb-test-unit.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILED=0
pass() { echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1"; [ -f "${2:-}" ] && sed 's/^/#   /' "$2" | head -30; }
UNITS="ebbd.service ebbd-save.service ebbd-save.timer"

if grep -n '/usr/local' tools/ebbd.service tools/ebbd-save.service tools/ebbd-save.timer | grep -v '^[^:]*:[0-9]*:#' >"$TMP/hard"; then
	fail "no unit hard-codes /usr/local" "$TMP/hard"
else
	pass "no unit hard-codes /usr/local (ExecStart paths are @SBINDIR@)"
fi
[ -x "$OUT/ebbctl" ] || { echo "Bail out! build first (make)"; exit 1; }
make --no-print-directory -s install DESTDIR="$TMP/dest" PREFIX=/opt/ebb OUTPUT="$OUT" >"$TMP/install" 2>&1 ||
	fail "make install DESTDIR=… PREFIX=/opt/ebb" "$TMP/install"
for u in $UNITS; do
	f=$TMP/dest/lib/systemd/system/$u
	if [ -f "$f" ] && ! grep -q '@SBINDIR@' "$f" && ! grep -Ev '^#' "$f" | grep -q '/usr/local'; then
		pass "make install PREFIX=/opt/ebb: $u has $(grep -c '/opt/ebb/sbin/' "$f") commands under /opt/ebb/sbin"
	else
		fail "make install PREFIX=/opt/ebb: $u installed with PREFIX substituted" "$f"
	fi
done
[ -x "$TMP/dest/opt/ebb/sbin/ebbctl" ] && pass "make install puts ebbctl under PREFIX/sbin" ||
	fail "make install puts ebbctl under PREFIX/sbin" "$TMP/install"

# For verify, the commands must exist: point them at the build.
mkdir -p "$TMP/v"
for u in $UNITS; do sed "s|@SBINDIR@|$OUT|g" "tools/$u" >"$TMP/v/$u"; done
if ! command -v systemd-analyze >/dev/null; then
	echo "ok - systemd-analyze # SKIP not installed"
else
	(cd "$TMP/v" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no ./ebbd.service \
		./ebbd-save.service ./ebbd-save.timer) >"$TMP/verify" 2>&1
	[ ! -s "$TMP/verify" ] && pass "systemd-analyze verify: no complaint about any unit" ||
		fail "systemd-analyze verify" "$TMP/verify"
	for u in ebbd.service ebbd-save.service; do
		systemd-analyze security --offline=yes --threshold=30 "$TMP/v/$u" >"$TMP/sec" 2>&1
		rc=$?
		line=$(grep 'Overall exposure' "$TMP/sec" | sed 's/.*: //')
		[ "$rc" -eq 0 ] && pass "systemd-analyze security $u: $line (threshold 3.0)" ||
			fail "systemd-analyze security $u: $line, over 3.0" "$TMP/sec"
	done
fi
for d in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
	'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_ADMIN' RestrictAddressFamilies= \
	LimitNOFILE=65536 LimitMEMLOCK=infinity ReadWritePaths=/sys/fs/bpf StateDirectory=ebb \
	'ExecStartPre=@SBINDIR@/ebbctl -q restore /var/lib/ebb/state if-empty' \
	'ExecStopPost=-@SBINDIR@/ebbctl save file /var/lib/ebb/state'; do
	grep -qxF -- "$d" tools/ebbd.service || grep -q -- "^$d" tools/ebbd.service &&
		pass "ebbd.service has $d" || fail "ebbd.service has $d"
done
echo "# unit: $FAILED failed"
[ "$FAILED" -eq 0 ]
