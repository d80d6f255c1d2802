#!/usr/bin/env bash
# The operator's guide (doc/guide.md) as an executable test (issues 11 and 17): every `sh` block
# of its first section (up to the first `## ` heading) runs as printed, in order, with `set -e`
# (every command must succeed), the way the guide tells a reader to run it: a block marked
# <!-- guide: host --> in a shell in the repository (it builds, puts the build on PATH and
# starts the lab: here under this suite's prefix, EBB_LAB_PREFIX), every other block fed to
# `tools/lab shell ROLE` for the role its marker names (lb|client|nN), whose /sys/fs/bpf/ebb and
# /var/lib are the lab's, not the host's. Every block of the section is either such a `sh`
# block or a `text` block (shown, not run); a text block right after a sh block is its output,
# and each of its lines must be one the block printed, in order (digits aside; "..." for lines
# left out). Each block's output is printed as TAP comments.
# The lab goes at the end (ebbd with it: it runs in the LB's network namespace); the host's
# /sys/fs/bpf/ebb and /var/lib/ebb must be as they were. GUIDE=FILE tests another copy.
. "$(dirname "$0")/lib.sh"
trap lab_teardown EXIT
trap 'exit 130' INT TERM
GUIDE=${GUIDE:-$EBB_ROOT/doc/guide.md}
export EBB_LAB_PREFIX=$PFX

python3 - "$GUIDE" "$TMP/blocks" >"$TMP/extract.out" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^# Operator's guide\n(.*?)(?=^## |\Z)", text, re.S | re.M)
if not m:
    print("no Operator's guide section"); sys.exit(1)
sec, out, n, bad = m.group(1), sys.argv[2], 0, []
os.makedirs(out, exist_ok=True)
lines = sec.split("\n")
i = 0
while i < len(lines):
    l = lines[i]
    if l.startswith("```"):
        info = l[3:].strip()
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        body = "\n".join(lines[i + 1:j]) + "\n"
        marker = re.fullmatch(r"<!-- guide: (host|lb|client|n[1-9]) -->", lines[i - 1].strip()) if i else None
        if info == "sh":
            if not marker:
                bad.append(f"sh block without a <!-- guide: ROLE --> marker: {body[:60]!r}")
            else:
                n += 1
                open(f"{out}/{n:02d}.{marker.group(1)}", "w").write(body)
                # Its printed output: a text block right after it (blank lines between).
                k = j + 1
                while k < len(lines) and not lines[k].strip():
                    k += 1
                if k < len(lines) and lines[k].strip() == "```text":
                    e = k + 1
                    while e < len(lines) and not lines[e].startswith("```"):
                        e += 1
                    open(f"{out}/{n:02d}.{marker.group(1)}.sample", "w").write("\n".join(lines[k + 1:e]) + "\n")
        elif info != "text":
            bad.append(f"block with info string {info!r} (only sh, run, or text, shown but not run): {body[:60]!r}")
        i = j + 1
    else:
        i += 1
for b in bad:
    print(b)
print(f"{n} blocks")
sys.exit(1 if bad or n == 0 else 0)
PY
rc=$?
check "the operator's guide: every block is a marked sh block or output ($(tail -1 "$TMP/extract.out"))" [ "$rc" -eq 0 ]
grep -v blocks "$TMP/extract.out" | sed 's/^/# /'

# run_block ROLE FILE: as a reader would, stopping at the first command that fails.
run_block() {
	if [ "$1" = host ]; then
		(cd "$EBB_ROOT" && env -u OUTPUT -u EBB_OUTPUT -u MAKEFLAGS -u MFLAGS -u MAKELEVEL bash -e "$2")
	else
		{ echo "set -e"; cat "$2"; } | "$LAB" shell "$1"
	fi
}

# sample_matches SAMPLE OUTPUT: every line the guide prints as a block's output is a line of the
# real output, in order; digits, hashes, program tags and column widths aside (ids, times and
# counts differ from run to run, a tag with every change of the datapath), and "..." stands for any lines. The real output may have more lines.
sample_matches() {
	python3 - "$1" "$2" <<'PY'
import re, sys
def norm(l):
    l = re.sub(r"[0-9a-f]{64}", "H", l)
    l = re.sub(r"\btag [0-9a-f]{16}\b", "tag T", l)  # the program's hash: new with every build of it
    return " ".join(re.sub(r"[0-9]+", "N", l).split())
want = [norm(l) for l in open(sys.argv[1]) if l.strip() and l.strip() != "..."]
got = [norm(l) for l in open(sys.argv[2], errors="replace") if l.strip()]
i = 0
for w in want:
    while i < len(got) and got[i] != w:
        i += 1
    if i == len(got):
        print(f"printed in the guide, not in the output (in this order): {w!r}")
        sys.exit(1)
    i += 1
PY
}

# What the host had before: the guide's paths must not be touched outside the lab.
host_paths() { ls -la --time-style=+%s.%N /sys/fs/bpf/ebb /var/lib/ebb 2>&1; }
host_paths >"$TMP/host.before"

failed_at=""
for f in "$TMP"/blocks/[0-9]*; do
	case $f in *.sample | *.out | *.cmp) continue ;; esac
	role=${f##*.}
	first=$(grep -m1 -v "^\s*$" "$f" | sed "s/  \+#.*//")
	note "--- block ${f##*/} on $role:"
	sed 's/^/#   $ /' "$f"
	if [ -n "$failed_at" ]; then
		not_ok "guide block ${f##*/} ($role: $first...) did not run: block $failed_at failed"
		continue
	fi
	run_block "$role" "$f" >"$f.out" 2>&1 </dev/null
	res=$?
	sed "s/^/#   /" "$f.out" | head -80
	check "guide block ${f##*/} runs as printed on $role: $first$( [ "$(grep -c . "$f")" -gt 1 ] && echo " (+$(($(grep -c . "$f") - 1)) lines)")" [ "$res" = 0 ]
	[ "$res" = 0 ] || failed_at=${f##*/}
	if [ -f "$f.sample" ]; then
		sample_matches "$f.sample" "$f.out" >"$f.cmp" 2>&1
		res=$?
		check "guide block ${f##*/}: the output the guide prints is what it printed ($(grep -vc '^\s*$' "$f.sample") lines)" [ "$res" = 0 ]
		sed 's/^/#   /' "$f.cmp"
	fi
done

# The guide's state went to the lab shell's paths, and nowhere else.
check "the guide's maps are pinned in the lab's LB directory (/sys/fs/bpf/ebb-lab-${PFX}lb)" \
	[ -e "/sys/fs/bpf/ebb-lab-${PFX}lb/nodes" ]
check "the guide's saved state is in the lab's /var/lib (/run/ebb-lab/$PFX/varlib/lb/ebb/state)" \
	[ -s "/run/ebb-lab/$PFX/varlib/lb/ebb/state" ]
host_paths >"$TMP/host.after"
check "the host's /sys/fs/bpf/ebb and /var/lib/ebb are as they were" cmp -s "$TMP/host.before" "$TMP/host.after"
diff "$TMP/host.before" "$TMP/host.after" | sed 's/^/#   /'

# The runner itself can fail: a block stops at its first failing command, in a lab shell too.
printf 'false\ntouch /var/lib/after-false\n' >"$TMP/wrong"
run_block lb "$TMP/wrong" >/dev/null 2>&1
res=$?
check "a block whose first command fails fails (exit $res), and runs no further" \
	[ "$res" -ne 0 ] && [ ! -e "/run/ebb-lab/$PFX/varlib/lb/after-false" ]
finish
