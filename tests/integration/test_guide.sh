#!/usr/bin/env bash
# The operator's guide (doc/guide.md) as an executable test (issue 11): every `sh` block of its
# first section (up to the first `## ` heading) runs exactly as printed, in order, each with `bash -e` (every command must succeed), in the
# lab namespace its marker names (<!-- guide: lb|client|nN -->). The LB host's paths are the
# guide's own — /sys/fs/bpf/ebb, /var/lib/ebb — inside a private mount namespace with a fresh
# bpffs and a tmpfs on /var/lib, so nothing of the host's is touched; ebbctl, ebbd and bpftool
# come from PATH (the build first). Every block of the section is either such a `sh` block or
# a `text` block (output, not run). Each block's output is printed as TAP comments. At the end
# every process started in that mount namespace (ebbd) is stopped and the lab torn down.
. "$(dirname "$0")/lib.sh"
trap lab_teardown EXIT
trap 'exit 130' INT TERM
GUIDE=${GUIDE:-$EBB_ROOT/doc/guide.md}

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
        marker = re.fullmatch(r"<!-- guide: (lb|client|n[1-9]) -->", lines[i - 1].strip()) if i else None
        if info == "sh":
            if not marker:
                bad.append(f"sh block without a <!-- guide: ROLE --> marker: {body[:60]!r}")
            else:
                n += 1
                open(f"{out}/{n:02d}.{marker.group(1)}", "w").write(body)
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

if ! "$LAB" up --prefix "$PFX" --nodes 3 >"$TMP/lab-up.log" 2>&1; then
	sed 's/^/# /' "$TMP/lab-up.log"
	not_ok "lab up"
	exit 1
fi

# The driver runs in its own mount namespace: a fresh bpffs on /sys/fs/bpf and a tmpfs on
# /var/lib for the guide's paths. Each block runs in its role's network namespace.
cat >"$TMP/driver.sh" <<DRIVER
set -u
mount -t bpf bpf /sys/fs/bpf || exit 90
mount -t tmpfs tmpfs /var/lib || exit 91
export PATH="$OUTPUT:\$PATH"
for f in "$TMP"/blocks/*; do
	role=\${f##*.}
	nsenter --net="/run/netns/${PFX}\$role" -- bash -e "\$f" >"\$f.out" 2>&1 </dev/null
	echo "\$? \$f" >>"$TMP/results"
	[ "\$(tail -1 "$TMP/results" | cut -d' ' -f1)" = 0 ] || break
done
# Stop what the blocks started (ebbd): every other process in this mount namespace.
me=\$(readlink /proc/self/ns/mnt)
for p in /proc/[0-9]*; do
	pid=\${p#/proc/}
	[ "\$pid" = \$\$ ] && continue
	[ "\$(readlink "\$p/ns/mnt" 2>/dev/null)" = "\$me" ] && kill "\$pid" 2>/dev/null
done
sleep 1
DRIVER
: >"$TMP/results"
unshare --mount --propagation private bash "$TMP/driver.sh"
rc=$?
check "the guide's private mount namespace (bpffs, /var/lib) was set up (driver exit $rc)" [ "$rc" -lt 90 ]
for f in "$TMP"/blocks/[0-9]*; do
	case $f in *.out) continue ;; esac
	role=${f##*.}
	first=$(grep -m1 -v '^\s*$' "$f")
	res=$(grep " $f\$" "$TMP/results" | cut -d' ' -f1)
	note "--- block ${f##*/} on $role:"
	sed 's/^/#   $ /' "$f"
	[ -f "$f.out" ] && sed "s/^/#   /" "$f.out" | head -80
	if [ -z "$res" ]; then
		not_ok "guide block ${f##*/} ($role: $first...) did not run: an earlier block failed"
	else
		check "guide block ${f##*/} runs as printed on $role: $first$( [ "$(grep -c . "$f")" -gt 1 ] && echo " (+$(($(grep -c . "$f") - 1)) lines)")" [ "$res" = 0 ]
	fi
done
finish
