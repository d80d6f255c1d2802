#!/usr/bin/env python3
"""ebbctl(8)'s SYNOPSIS written from `ebbctl help`, which ebbctl writes from its tables.

    man_synopsis.py EBBCTL            print the section (.SH SYNOPSIS up to the next .SH)
    man_synopsis.py EBBCTL --write MAN   put it in place of MAN's own

`make man-synopsis` runs the second; tests/integration/test_cli_tables.sh compares the first with
doc/ebbctl.8. Keywords are bold, metavariables (upper case) italic, as in the rest of the page.
"""
import re
import subprocess
import sys


def roff(text):
    """A usage text in man fonts: "save [file FILE]" -> "\\fBsave\\fR [\\fBfile\\fR \\fIFILE\\fR]"."""
    def word(m):
        w = m.group(0)
        font = "I" if w[0].isupper() else "B"
        return "\\f%s%s\\fR" % (font, w.replace("-", "\\-"))
    return re.sub(r"-{0,2}[A-Za-z][A-Za-z0-9-]*", word, text)


def synopsis(ebbctl):
    out = subprocess.run([ebbctl, "help"], capture_output=True, text=True, check=True).stdout
    forms, objects, options = [], "", ""
    for line in out.splitlines():
        line = re.sub(r"^(Usage:)?\s*", "", line)
        if line.startswith("ebbctl "):
            forms.append(line[len("ebbctl "):])
        elif line.startswith("OBJECT := "):
            objects = line
        elif line.startswith("OPTIONS := ") or (options and not options.endswith(")")):
            options += (" " if options else "") + line
    options = re.sub(r"\s*\(.*\)$", "", options)  # "(before or after the command)": OPTIONS says it
    lines = [".SH SYNOPSIS"]
    for i, form in enumerate(forms):
        if i:
            # the objects' grammar apart from the top level's own commands
            lines += [".PP"] if i == 1 and forms[0].startswith("[OPTIONS] OBJECT") else []
            lines.append(".br")
        lines += [".B ebbctl", roff(form if form.startswith("[OPTIONS]") else "[OPTIONS] " + form)]
    lines += [".PP", roff(objects), ".br"]
    # roff source lines of at most 100 characters
    opts = roff(options).split(" | ")
    text, cur = [], ""
    for o in opts:
        if cur and len(cur) + len(" | ") + len(o) + len(" |") > 100:
            text.append(cur + " |")
            cur = o
        else:
            cur = cur + " | " + o if cur else o
    lines += text + [cur]
    return "\n".join(lines) + "\n"


def main():
    ebbctl = sys.argv[1]
    new = synopsis(ebbctl)
    if len(sys.argv) == 4 and sys.argv[2] == "--write":
        path = sys.argv[3]
        man = open(path).read()
        m = re.search(r"^\.SH SYNOPSIS\n.*?(?=^\.SH )", man, re.S | re.M)
        if not m:
            sys.exit(f"{path}: no .SH SYNOPSIS section")
        if man[m.start():m.end()] != new:
            open(path, "w").write(man[:m.start()] + new + man[m.end():])
    elif len(sys.argv) == 2:
        sys.stdout.write(new)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
