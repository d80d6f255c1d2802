#!/usr/bin/env bash
# Build hygiene (issue 11): plain `make` never calls apt (test, demo, bench and deps do); every
# object depends on the headers it includes (touching one rebuilds exactly its users); V=1
# shows full commands; OUTPUT moves the objects. Uses `make -n` (-W: "what if this file
# changed"), so nothing in the tree is touched. TAP output.
set -u
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
cd "$ROOT" || exit 1
OUT=${OUTPUT:-.output}
TMP=$(mktemp -d /tmp/ebb-test-build.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILED=0
pass() { echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1"; [ -f "${2:-}" ] && sed 's/^/#   /' "$2" | head -20; }
mk() { make --no-print-directory "$@" 2>&1; }

mk -n OUTPUT="$TMP/fresh" >"$TMP/n.all"
if grep -Eq 'deps\.sh|apt-get' "$TMP/n.all"; then fail "plain make (fresh OUTPUT) calls no apt" "$TMP/n.all"
else pass "plain make (fresh OUTPUT) calls no apt: $(wc -l <"$TMP/n.all") commands, none of them deps.sh"; fi
grep -q "$TMP/fresh/obj/ebbctl/main.o" "$TMP/n.all" && pass "OUTPUT=dir puts the objects there" ||
	fail "OUTPUT=dir puts the objects there" "$TMP/n.all"
for t in test demo bench deps; do
	mk -n "$t" >"$TMP/n.$t"
	grep -q 'deps\.sh' "$TMP/n.$t" && pass "make $t installs what is missing (runs tools/deps.sh)" ||
		fail "make $t runs tools/deps.sh" "$TMP/n.$t"
done

[ -x "$OUT/ebbctl" ] && [ -x "$OUT/ebbd" ] || { echo "Bail out! build first (make)"; exit 1; }
mk -n OUTPUT="$OUT" >"$TMP/n.built"
grep -q 'Nothing to be done' "$TMP/n.built" && pass "a built tree: nothing to rebuild" ||
	fail "a built tree: nothing to rebuild" "$TMP/n.built"

# whatif HEADER MUST_REBUILD… -- MUST_NOT: `make -n -W HEADER` lists these objects, not those.
whatif() {
	local h=$1 why="" o; shift
	mk -n -W "$h" OUTPUT="$OUT" >"$TMP/w"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		grep -q -- "-o $OUT/$1\b" "$TMP/w" || why+="$1 not rebuilt; "; shift
	done
	[ "${1:-}" = -- ] && shift
	for o in "$@"; do grep -q -- "-o $OUT/$o\b" "$TMP/w" && why+="$o rebuilt; "; done
	[ -z "$why" ] && pass "touching $h rebuilds its users only ($(grep -c -- ' -o ' "$TMP/w") commands)" ||
		{ echo "$why" >"$TMP/why"; cat "$TMP/w" >>"$TMP/why"; fail "touching $h: $why" "$TMP/why"; }
}
whatif include/ebb.h balancer.bpf.o decap.bpf.o lib/ops.o obj/ebbctl/cmd_node.o obj/ebbd/main.o tests/test_datapath
whatif bpf/parsing.h balancer.bpf.o -- lib/ops.o decap.bpf.o
whatif user/ebbd/ebbd.h obj/ebbd/main.o ebbd -- lib/ops.o obj/ebbctl/main.o
whatif user/ebbctl/ebbctl.h obj/ebbctl/main.o obj/ebbctl/cmd_node.o ebbctl -- lib/ops.o obj/ebbd/main.o
whatif user/lib/internal.h lib/ops.o -- obj/ebbctl/main.o
whatif tests/unit/fixture.h tests/test_datapath -- lib/ops.o

mk -n -B V=1 OUTPUT="$TMP/v" "$TMP/v/obj/ebbctl/main.o" >"$TMP/v1"
grep -q -- '-Wall' "$TMP/v1" && pass "V=1 prints full commands" || fail "V=1 prints full commands" "$TMP/v1"
grep -q '^\.DELETE_ON_ERROR:' Makefile && pass "Makefile has .DELETE_ON_ERROR" || fail "Makefile has .DELETE_ON_ERROR"
echo "# build: $FAILED failed"
[ "$FAILED" -eq 0 ]
