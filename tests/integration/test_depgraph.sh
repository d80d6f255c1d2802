#!/usr/bin/env bash
# No circle between the C files of a room that is clean (issue 18: ebbd, ebbctl, libebb and the fleet
# library): tools/depgraph.py counts calls as well as includes (a file naming a function another
# file defines depends on it). The script is also shown to fail: on small sources with a circle
# of calls and of headers, and on copies of ebbd and libebb with one call up put back (the log
# calling the status page, the slot history calling the tables' rebuild, as they did).
# Reads sources only: no build, no root. TAP output.
set -u
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
cd "$ROOT" || exit 1
TMP=$(mktemp -d /tmp/ebb-test-depgraph.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; [ -f "${2:-}" ] && sed 's/^/#   /' "$2" | head -30; }
dg() { python3 tools/depgraph.py "$@"; }

# The rooms that have no circle today; each new clean one joins this list.
CLEAN=(user/ebbd user/ebbctl user/lib user/fleet)
for d in "${CLEAN[@]}"; do
	if dg "$d" >"$TMP/out" 2>&1; then ok "$d: no circle between its files ($(cat "$TMP/out"))"
	else notok "$d: no circle between its files" "$TMP/out"; fi
done

# A circle of calls alone: a.c calls b(), b.c calls a(); c.c only calls down (no part of it).
mkdir -p "$TMP/calls"
printf 'int b(void);\nint a(void)\n{\n\treturn b();\n}\n' >"$TMP/calls/a.c"
printf 'int a(void);\nint b(void)\n{\n\treturn a() + 1;\n}\n' >"$TMP/calls/b.c"
printf 'int a(void);\nstatic int b(void)\n{\n\treturn 2;\n}\nint c(void)\n{\n\treturn a() + b();\n}\n' \
	>"$TMP/calls/c.c"
dg "$TMP/calls" >"$TMP/out" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'circle of 2 files: a.c b.c$' "$TMP/out" &&
	grep -q 'a.c -> b.c: b$' "$TMP/out" && grep -q 'b.c -> a.c: a$' "$TMP/out"; then
	ok "a circle of calls: exit 1, the two files and the names that tie them (c.c's own static b() ties nothing)"
else notok "a circle of calls: exit 1 (got $rc), a.c b.c and their names" "$TMP/out"; fi

# A circle through a header: x.c includes y.h, y.c calls x().
mkdir -p "$TMP/hdr"
printf 'int y(void);\n' >"$TMP/hdr/y.h"
printf '#include "y.h"\nint x(void)\n{\n\treturn y();\n}\n' >"$TMP/hdr/x.c"
printf 'int x(void);\nint y(void)\n{\n\treturn 0;\n}\nint z(void)\n{\n\treturn x();\n}\n' >"$TMP/hdr/y.c"
dg "$TMP/hdr" >"$TMP/out" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'x.c -> y.c: #include y.h, y$' "$TMP/out"; then
	ok "a circle through a header: x.c -> y.c by #include y.h, exit 1"
else notok "a circle through a header (got $rc)" "$TMP/out"; fi

# ebbd with the log calling up into the status page again, as before the log kept its events.
cp -r user/ebbd "$TMP/ebbd"
printf '\nvoid log_page_changed(void)\n{\n\tstatus_nodes_changed();\n}\n' >>"$TMP/ebbd/log.c"
dg "$TMP/ebbd" >"$TMP/out" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'log.c -> status.c: status_nodes_changed$' "$TMP/out"; then
	ok "ebbd with log.c calling status.c put back: exit 1, $(grep -o 'circle of [0-9]* files' "$TMP/out")"
else notok "ebbd with log.c calling status.c put back: exit 1 (got $rc)" "$TMP/out"; fi

# libebb with the slot history calling up into rings.c again, as it did for the installed tables.
cp -r user/lib "$TMP/lib"
printf '\nint ebb_history_refresh(struct ebb *e, __u32 vip_id)\n{\n\treturn ebb_rings_rebuild(e, vip_id, NULL);\n}\n' \
	>>"$TMP/lib/history.c"
dg "$TMP/lib" >"$TMP/out" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'circle of 2 files: history.c rings.c$' "$TMP/out" &&
	grep -q 'history.c -> rings.c: ebb_rings_rebuild$' "$TMP/out"; then
	ok "libebb with history.c calling rings.c put back: exit 1, the circle history.c rings.c"
else notok "libebb with history.c calling rings.c put back: exit 1 (got $rc)" "$TMP/out"; fi

# The picture: a digraph whose circle's files and edges are red.
dg --dot "$TMP/calls" >"$TMP/dot" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && head -1 "$TMP/dot" | grep -q '^digraph' &&
	grep -q '"[^"]*/a.c" -> "[^"]*/b.c" \[tooltip="b", color=red\]' "$TMP/dot" &&
	grep -q '"[^"]*/c.c" -> "[^"]*/a.c" \[tooltip="a"\]' "$TMP/dot"; then
	ok "--dot: a Graphviz digraph, the circle's edges red, the others not; exit 1"
else notok "--dot: a Graphviz digraph with the circle in red (got $rc)" "$TMP/dot"; fi

dg --bogus >"$TMP/out" 2>&1
rc=$?
if [ "$rc" -eq 2 ] && grep -q '^Error: ' "$TMP/out"; then ok "a wrong option: Error: on stderr, exit 2"
else notok "a wrong option: Error: on stderr, exit 2 (got $rc)" "$TMP/out"; fi
[ "$failed" -eq 0 ]
