#!/usr/bin/env bash
# Fuzzes the balancer (tests/fuzz/fuzz_balancer.c) for FUZZ_TIME seconds, seeded with every frame
# the unit tests run (written out by them with EBB_SEED_DIR). `make fuzz` keeps the corpus in
# $OUTPUT/fuzz/corpus, so each run starts where the last one stopped; with --tap (the suite in
# `make test`) the corpus is a temporary one and the result is printed as TAP lines.
# A violated invariant or a crash leaves the input in $OUTPUT/fuzz/artifacts and fails.
# Environment: OUTPUT (default .output), FUZZ_TIME (default 60), FUZZ_JOBS (default 1).
set -u
cd "$(dirname "$0")/../.."
OUTPUT=${OUTPUT:-.output}
FUZZ_TIME=${FUZZ_TIME:-60}
TAP=0
[ "${1:-}" = --tap ] && TAP=1
FUZZER=$OUTPUT/fuzz/fuzz_balancer
ART=$OUTPUT/fuzz/artifacts
TMP=$(mktemp -d /tmp/ebb-fuzz.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
n=0

say() { # say ok|fail TEXT: a TAP line, or a plain one outside the suite
	n=$((n + 1))
	if [ "$TAP" = 1 ]; then
		[ "$1" = ok ] && echo "ok $n - $2" || echo "not ok $n - $2"
	else
		echo "fuzz: $2"
	fi
}

if [ "$(id -u)" -ne 0 ]; then
	[ "$TAP" = 1 ] && echo "ok 1 - fuzz # SKIP needs root (BPF_PROG_TEST_RUN)" && exit 0
	echo "fuzz: needs root (BPF_PROG_TEST_RUN)" >&2
	exit 1
fi
if [ ! -x "$FUZZER" ]; then
	say fail "$FUZZER is built (make)"
	exit 1
fi

# Seeds: the unit tests' frames. Their own results do not matter here.
seeds=$TMP/seeds
mkdir -p "$seeds" "$ART"
for t in test_datapath test_encap test_decap test_rescue; do
	EBB_SEED_DIR=$seeds "$OUTPUT/tests/$t" >/dev/null 2>&1
done
nseeds=$(find "$seeds" -type f | wc -l)
if [ "$nseeds" -ge 100 ]; then
	say ok "seeds: $nseeds distinct frames from the unit tests"
else
	say fail "seeds: only $nseeds frames from the unit tests (want 100 or more)"
fi

if [ "$TAP" = 1 ]; then
	corpus=$TMP/corpus
else
	corpus=$OUTPUT/fuzz/corpus
fi
mkdir -p "$corpus"
before=$(find "$corpus" -type f | wc -l)
log=$TMP/fuzz.log
start=$(date +%s)
# The harness's setup prints TAP-like lines of the shared fixture on stdout: not this suite's.
"$FUZZER" -max_total_time="$FUZZ_TIME" -max_len=1600 -timeout=10 -rss_limit_mb=4096 \
	-print_final_stats=1 -artifact_prefix="$ART/" "$corpus" "$seeds" >/dev/null 2>"$log"
rc=$?
secs=$(($(date +%s) - start))
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
judged=$(grep '^#fuzz: ' "$log" | tail -1 | sed 's/^#fuzz: //')
after=$(find "$corpus" -type f | wc -l)
[ "$TAP" = 1 ] || cp "$log" "$OUTPUT/fuzz/last-run.log"
if [ "$rc" -eq 0 ]; then
	say ok "fuzz: ${execs:-?} inputs in ${secs}s, every invariant held (corpus $before -> $after)"
	echo "# $judged"
else
	say fail "fuzz: exit status $rc after ${execs:-?} inputs in ${secs}s"
	# the violation and the frame (the harness's report), else the sanitizer's first lines
	if grep -q '==ebb-fuzz==' "$log"; then
		sed -n '/==ebb-fuzz==/,/^#fuzz: /p' "$log" | head -120 | sed 's/^/# /'
	else
		grep -A15 -m1 -E 'ERROR: (libFuzzer|AddressSanitizer)|runtime error' "$log" | sed 's/^/# /'
	fi
	grep -E '^artifact_prefix|Test unit written to' "$log" | sed 's/^/# /'
fi
[ "$rc" -eq 0 ]
