#!/usr/bin/env python3
"""Draw the dependency graph between the C files of a directory and fail on a circle.

File A depends on file B when A includes B's header (b.h beside b.c) or when A names a
function or a global that B defines. Calls count as much as includes: a circle through calls
binds the files as tightly as one through headers, so none of them can be read or tested alone.

Definitions are found by their shape (the kernel's style, which the project follows): a
function definition starts at column 0 and its body's "{" opens a line of its own at column 0;
a global is a column-0 declaration outside any body. Static names are private to their file and
tie nothing. Each directory is its own graph (the binaries do not call one another).

Usage: tools/depgraph.py [--dot] DIR...
Prints each circle (strongly connected component of more than one file) with the names that
tie its edges; exits 1 when a directory has one, 0 when every directory is clean.
With --dot, prints a Graphviz picture of the graphs instead (the exit status is the same).
"""
import os
import re
import sys

IDENT = re.compile(r"[A-Za-z_]\w*")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else", "case"}


def strip(text):
    """Source without comments, string and character literals (their words are no uses)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))  # keep line numbers and columns honest
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def definitions(code, private=None):
    """Names of the non-static functions and globals a file defines; static function names go
    to private (a file's own static of the same name as another file's function is no use)."""
    names = set()
    lines = code.split("\n")
    depth = 0
    stmt = []  # the column-0 statement being read, outside any body
    for line in lines:
        if depth == 0:
            if line.startswith("#"):
                stmt = []
            elif line.startswith("{") and stmt:
                head = " ".join(stmt)
                m = re.search(r"(\w+)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*(?:__attribute__.*)?$", head)
                if m and m.group(1) not in KEYWORDS:
                    if not re.match(r"\s*static\b", head):
                        names.add(m.group(1))
                    elif private is not None:
                        private.add(m.group(1))
                stmt = []
            elif line.strip():
                stmt.append(line.strip())
                joined = " ".join(stmt)
                if joined.endswith(";") or (joined.endswith("{") and "=" in joined):
                    names |= global_name(joined)
                    stmt = [] if joined.endswith(";") else stmt
        depth += line.count("{") - line.count("}")
        if depth == 0 and line.rstrip().endswith("};"):
            stmt = []
        if depth < 0:
            depth = 0
    return names


def global_name(decl):
    """The names a column-0 declaration defines, if it declares non-static, non-extern variables."""
    if re.match(r"(static|extern|typedef)\b", decl):
        return set()
    if "{" in decl.split("=", 1)[0]:
        return set()  # a struct, union or enum type
    pieces, depth, cur = [], 0, ""
    for c in decl.rstrip(";{"):
        depth += c in "({[" and 1 or c in ")}]" and -1 or 0
        if c == "," and depth == 0:
            pieces.append(cur)
            cur = ""
        else:
            cur += c
    pieces.append(cur)
    out = set()
    for i, piece in enumerate(pieces):
        head = re.sub(r"\[[^\]]*\]", "", piece.split("=", 1)[0])
        if "(" in head:
            return set()  # a prototype, or a function pointer (rare enough to leave out)
        words = IDENT.findall(head)
        if len(words) >= 2 or (i > 0 and words):
            out.add(words[-1])
    return out


def graph(directory):
    """{file: {dep: set(names)}} for the .c files of directory, and the sorted file list."""
    files = sorted(f for f in os.listdir(directory) if f.endswith(".c"))
    code, defs, uses = {}, {}, {}
    for f in files:
        with open(os.path.join(directory, f), encoding="utf-8", errors="replace") as fh:
            raw = fh.read()
        code[f] = raw
        text = strip(raw)
        private = set()
        defs[f] = definitions(text, private)
        uses[f] = set(IDENT.findall(text)) - private
    owner = {}
    for f in files:
        for name in defs[f]:
            owner.setdefault(name, f)
    edges = {f: {} for f in files}
    for f in files:
        for inc in INCLUDE.findall(code[f]):
            # Only a header beside the sources is theirs; "fleet.h" of another library is not.
            local = inc.endswith(".h") and os.path.exists(os.path.join(directory, inc))
            target = inc[:-2] + ".c" if local else None
            if target in edges and target != f:
                edges[f].setdefault(target, set()).add("#include " + inc)
        for name in uses[f] - defs[f]:
            target = owner.get(name)
            if target and target != f:
                edges[f].setdefault(target, set()).add(name)
    return files, edges


def circles(files, edges):
    """Strongly connected components of more than one file (Tarjan, iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in files:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return sorted(out)


def names(tie, limit=6):
    tie = sorted(tie)
    return ", ".join(tie[:limit]) + (", ..." if len(tie) > limit else "")


def main(argv):
    dot = "--dot" in argv
    dirs = [a for a in argv if a != "--dot"]
    if not dirs or any(a.startswith("-") for a in dirs):
        sys.stderr.write("Error: usage: tools/depgraph.py [--dot] DIR...\n")
        return 2
    found = False
    if dot:
        print("digraph deps {\n\trankdir=LR;\n\tnode [shape=box, fontname=monospace];")
    for d in dirs:
        if not os.path.isdir(d):
            sys.stderr.write("Error: %s: not a directory\n" % d)
            return 2
        files, edges = graph(d)
        comps = circles(files, edges)
        found = found or bool(comps)
        inside = {f: i for i, c in enumerate(comps) for f in c}
        if dot:
            tag = d.strip("/").replace("/", "_")
            print('\tsubgraph "cluster_%s" {\n\t\tlabel="%s";' % (tag, d))
            for f in files:
                color = ', color=red' if f in inside else ''
                print('\t\t"%s/%s" [label="%s"%s];' % (tag, f, f, color))
            print("\t}")
            for f in files:
                for t in sorted(edges[f]):
                    back = f in inside and inside.get(t) == inside[f]
                    print('\t"%s/%s" -> "%s/%s" [tooltip="%s"%s];' % (
                        tag, f, tag, t, names(edges[f][t]), ", color=red" if back else ""))
            continue
        if not comps:
            print("%s: no circle (%d files)" % (d, len(files)))
        for c in comps:
            print("%s: circle of %d files: %s" % (d, len(c), " ".join(c)))
            for f in c:
                for t in sorted(edges[f]):
                    if t in c:
                        print("  %s -> %s: %s" % (f, t, names(edges[f][t])))
    if dot:
        print("}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
