#!/usr/bin/env bash
# Runs every test suite and ends with one line: "N passed, N failed, N skipped".
# Each suite prints TAP lines ("ok N - ...", "not ok N - ...", "# SKIP" for skips); a suite that
# crashes or exits non-zero without a failing line counts as one failure itself.
# Usage: tests/run.sh [PATTERN]   (runs suites whose path contains PATTERN)
set -u
cd "$(dirname "$0")/.."
# The suites lean on Debian's own tools (tools/deps.sh installs them): a python3 shim earlier in
# PATH (pyenv here) costs 0.5 s a start, seconds under wrk's load, which bends timed checks.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
OUTPUT=${OUTPUT:-.output}
export OUTPUT EBB_OUTPUT=$OUTPUT
pattern=${1:-}
passed=0 failed=0 skipped=0
logdir=$OUTPUT/test-logs
mkdir -p "$logdir"

suites=()
for t in "$OUTPUT"/tests/test_*; do [ -x "$t" ] && suites+=("$t"); done
for t in tests/fuzz/test_*.sh tests/integration/test_*.sh; do [ -f "$t" ] && suites+=("$t"); done

for suite in "${suites[@]}"; do
	[ -n "$pattern" ] && [[ "$suite" != *"$pattern"* ]] && continue
	name=$(basename "$suite")
	log=$logdir/$name.log
	echo "=== $name"
	start=$(date +%s)
	if [[ "$suite" == *.sh ]]; then
		timeout --kill-after=10 900 bash "$suite" >"$log" 2>&1
	else
		timeout --kill-after=10 300 "$suite" >"$log" 2>&1
	fi
	rc=$?
	s_pass=$(grep -Ec '^ok [0-9]* ?-? ?' "$log" || true)
	s_skip=$(grep -Ec '^ok .*# SKIP' "$log" || true)
	s_fail=$(grep -Ec '^not ok' "$log" || true)
	s_pass=$((s_pass - s_skip))
	if [ "$rc" -ne 0 ] && [ "$s_fail" -eq 0 ]; then
		echo "not ok - $name exited with status $rc" >>"$log"
		s_fail=1
	fi
	grep -E '^(not ok|#)' "$log" | sed 's/^/    /' | head -40
	echo "    $name: $s_pass passed, $s_fail failed, $s_skip skipped ($(( $(date +%s) - start ))s, log: $log)"
	passed=$((passed + s_pass)) failed=$((failed + s_fail)) skipped=$((skipped + s_skip))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
