#!/usr/bin/env bash
# The docs cite only files that exist (issue 11): every repository path named in README.md,
# doc/*.md, doc/*.8 and the comments of tools/ (tools/…, doc/…, tests/…, user/…, bpf/…,
# include/…; a * must match at least one file) is in the tree, and every relative Markdown link
# of a .md file resolves from that file's directory. Build outputs (.output/…) and
# installed paths are not repository paths and are not checked. No root needed. TAP output.
set -u
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
exec python3 - "$ROOT" <<'PY'
import glob, os, re, sys
root = sys.argv[1]
files = ["README.md"] + sorted(glob.glob("doc/*.md", root_dir=root)) + sorted(glob.glob("doc/*.8", root_dir=root)) \
    + sorted(f for f in glob.glob("tools/*", root_dir=root) if os.path.isfile(os.path.join(root, f)))
pat = re.compile(r"(?<![\w./-])((?:tools|doc|tests|user|bpf|include)/[A-Za-z0-9_.*/-]*[A-Za-z0-9_*/])")
failed = 0
for f in files:
    text = open(os.path.join(root, f), errors="replace").read()
    if f.startswith("tools/") and not f.endswith(".md"):
        # scripts: only what their comments cite
        text = "\n".join(l for l in text.splitlines() if l.lstrip().startswith("#"))
    text = text.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")
    cited = sorted(set(pat.findall(text)))
    missing = []
    for p in cited:
        p = p.rstrip("/.")
        full = os.path.join(root, p)
        if "*" in p:
            ok = bool(glob.glob(full))
        else:
            ok = os.path.exists(full)
        if not ok:
            missing.append(p)
    failed += bool(missing)
    print(("not ok - " if missing else "ok - ") + f"{f} cites {len(cited)} repository paths, all present"
          + (f"; missing: {', '.join(missing)}" if missing else ""))
    if f.endswith(".md"):
        # Markdown links resolve from the file's own directory (README's doc/x.md, doc/'s x.md).
        links = [l.split("#")[0] for l in re.findall(r"\]\(([^)\s]+)\)", text)
                 if not re.match(r"[a-z]+:|#", l)]
        broken = sorted(set(l for l in links if not os.path.exists(os.path.join(root, os.path.dirname(f), l))))
        failed += bool(broken)
        print(("not ok - " if broken else "ok - ") + f"{f}: its {len(links)} relative links resolve"
              + (f"; broken: {', '.join(broken)}" if broken else ""))
# README is the front door (issue 17 item 9): short, with the rest in doc/.
n = open(os.path.join(root, "README.md")).read().count("\n")
failed += n > 250
print(("not ok - " if n > 250 else "ok - ") + f"README.md is a front door: {n} lines (at most 250)")
print(f"# docs: {failed} failed")
sys.exit(1 if failed else 0)
PY
