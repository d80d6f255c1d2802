#!/usr/bin/env bash
# ebbctl's command tables against what tells an operator about them: `ebbctl help`, `ebbctl
# OBJECT help`, bash completion (tools/ebbctl.bash-completion, run in a bare bash without
# bash-completion's helpers, also after `--bpffs DIR` and options) and ebbctl(8). The tables are
# the options in user/ebbctl/args.c, the top level's `struct ctl_command` array in
# user/ebbctl/main.c (objects and its own commands) and each object's, from which help writes its
# usage. A command or an option in the tables but missing from one of them fails, and so does one
# they list that the tables lack; each keyword of a command's usage must be completed and appear
# in its man page entry, and an entry's synopsis line names no keyword its usage lacks; the man
# page's SYNOPSIS is the top-level usage (tools/man_synopsis.py writes it: make man-synopsis).
# Needs no root, no lab. TAP output.
set -u
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUT=${OUTPUT:-.output}
[[ $OUT == /* ]] || OUT=$ROOT/$OUT
[ -x "$OUT/ebbctl" ] || { echo "Bail out! no $OUT/ebbctl: run make first"; exit 1; }
exec python3 - "$ROOT" "$OUT/ebbctl" <<'PY'
import difflib, os, re, subprocess, sys

root, ctl = sys.argv[1], sys.argv[2]
failed = 0
def tap(ok, desc, detail=""):
    global failed
    print(("ok - " if ok else "not ok - ") + desc)
    if not ok:
        failed += 1
        for l in str(detail).splitlines()[:20]:
            print("#   " + l)

src = {f: open(os.path.join(root, "user/ebbctl", f)).read()
       for f in os.listdir(os.path.join(root, "user/ebbctl")) if f.endswith(".c")}

def struct_table(text, kind, name):
    """The body of `struct KIND NAME[] = { ... };` in text, None when there is none."""
    m = re.search(r'struct\s+%s\s+%s\[\]\s*=\s*\{(.*?)\n\};' % (kind, name), text, re.S)
    return m.group(1) if m else None

# Top level: main.c's struct ctl_command array that its top-level struct ctl_object names; an
# entry with .object is an object, the others are the top level's own commands.
main = src["main.c"]
top_obj = re.search(r'struct\s+ctl_object\s+\w+\s*=\s*\{\s*NULL\s*,\s*(\w+)', main)
top_body = top_obj and struct_table(main, "ctl_command", top_obj.group(1))
top = re.findall(r'\{\s*\.name\s*=\s*"([a-z-]+)"\s*,\s*(?:\.object\s*=\s*&(\w+))?', top_body or "")
tap(len(top) > 5, f"top-level table parsed: {[n for n, _ in top]}")
tables = {}   # object -> [commands] (an alias, .alias, is not another command)
for name, var in top:
    if not var:
        continue
    body = next((t for t in src.values() if re.search(r'struct\s+ctl_object\s+%s\s*=' % var, t)), None)
    obj = body and re.search(r'struct\s+ctl_object\s+%s\s*=\s*\{\s*"([a-z]+)"\s*,\s*(\w+)' % var, body)
    tab = obj and struct_table(body, "ctl_command", obj.group(2))
    if not tab or obj.group(1) != name:
        tap(False, f"object {name}: {var} is a struct ctl_object named '{name}' with a struct ctl_command table")
        continue
    tables[name] = re.findall(r'\.name\s*=\s*"([a-z-]+)"', tab)
tap(set(tables) >= {"prog", "vip", "node", "flow", "stats", "decap"},
    "object tables parsed: " + "; ".join(f"{o}: {' '.join(c)}" for o, c in tables.items()))
toplevel = [n for n, var in top if not var]
tap(set(toplevel) >= {"version", "save", "restore"}, f"top-level commands parsed: {toplevel}")

# The options: args.c's table; an .unlisted one is left out of the usage.
opt_body = struct_table(src["args.c"], "ctl_option", "options") or ""
options = []   # (["-j", "--json"], listed)
for e in re.findall(r'\{([^{}]*\.name\s*=[^{}]*)\}', opt_body):
    long_ = re.search(r'\.name\s*=\s*"([a-z-]+)"', e).group(1)
    short = re.search(r"\.short_name\s*=\s*'(.)'", e)
    options.append(((["-" + short.group(1)] if short else []) + ["--" + long_],
                    not re.search(r'\.unlisted\s*=\s*true', e)))
tap(len(options) >= 6, f"options table parsed: {' '.join('|'.join(n) for n, _ in options)}")

# --- help -----------------------------------------------------------------------------------
def usage(*args):
    out = subprocess.run([ctl, *args, "help"], capture_output=True, text=True)
    lines, cur = [], None
    for l in (out.stdout + out.stderr).splitlines():
        l = re.sub(r"^Usage:\s*", "", l.strip())
        if l.startswith("ebbctl "):
            cur = l[len("ebbctl "):]
            lines.append(cur)
        elif cur is not None and l.startswith("["):
            lines[-1] += " " + l
        else:
            cur = None
    return lines

def keywords(text):
    text = re.sub(r"\{[a-z|-]+\}", " ", text)
    return [w for w in re.sub(r"[\[\]{}|.]", " ", text).split() if re.fullmatch(r"[a-z][a-z0-9-]*", w)]

helps = {}
for obj, cmds in tables.items():
    lines = usage(obj)
    listed = {}
    for l in lines:
        w = l.split()
        if len(w) >= 2 and w[0] == obj:
            listed.setdefault(w[1], []).append(" ".join(w[2:]))
    helps[obj] = listed
    missing = [c for c in cmds if c not in listed]
    extra = [c for c in listed if c not in cmds and c != "help"]
    tap(not missing and not extra, f"'{obj} help' lists exactly the table's commands ({len(cmds)})",
        f"in the table, not in help: {missing}\nin help, not in the table: {extra}")
top_usage = usage()
top_help = subprocess.run([ctl, "help"], capture_output=True, text=True).stdout
top_listed = [l.split()[0] for l in top_usage if not l.startswith("[OPTIONS]")]
tap(sorted(top_listed) == sorted(toplevel), f"'ebbctl help' lists exactly the top level's commands ({' '.join(toplevel)})",
    "\n".join(top_usage))
help_objects = re.search(r"OBJECT := \{([^}]*)\}", top_help)
help_objects = help_objects.group(1).replace("|", " ").split() if help_objects else []
tap(help_objects == [n for n, v in top if v], f"'ebbctl help' OBJECT := lists exactly the table's objects",
    f"help: {help_objects}, table: {[n for n, v in top if v]}")
help_opts = re.search(r"OPTIONS := \{(.*?)\}", top_help, re.S)
help_opts = help_opts.group(1).replace("|", " ").split() if help_opts else []
table_opts = [n for names, listed in options if listed for n in names]
tap(sorted(o for o in help_opts if o.startswith("-")) == sorted(table_opts),
    "'ebbctl help' OPTIONS := lists exactly the table's listed options", f"help: {help_opts}, table: {table_opts}")

# --- completion -----------------------------------------------------------------------------
comp = os.path.join(root, "tools/ebbctl.bash-completion")
def complete(*words):
    script = f'''. {comp!r}
type _init_completion >/dev/null 2>&1 && echo "bash-completion is loaded" && exit 9
COMP_WORDS=({" ".join("'" + w + "'" for w in words)}); COMP_CWORD={len(words) - 1}
_ebbctl; printf '%s\\n' "${{COMPREPLY[@]}}"'''
    env = {"PATH": os.path.dirname(ctl) + ":/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/nonexistent"}
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, env=env, cwd="/")
    return r.returncode, set(r.stdout.split()), r.stderr

rc, got, err = complete("ebbctl", "")
want = set(tables) | set(toplevel)
tap(rc == 0 and want <= got, f"completion of objects in plain bash (no bash-completion): {' '.join(sorted(want))}",
    f"rc {rc}, got {sorted(got)} {err}")
rc, got, err = complete("ebbctl", "--bpffs", "/tmp/some dir", "-j", "")
tap(want <= got, "completion of objects after '--bpffs DIR -j'", f"got {sorted(got)} {err}")
for obj, cmds in tables.items():
    for prefix in ([], ["--bpffs", "/tmp", "-p"]):
        rc, got, err = complete("ebbctl", *prefix, obj, "")
        tap(rc == 0 and set(cmds) <= got and got - {"help"} <= set(cmds),
            f"completion of '{' '.join(prefix + [obj])} ': exactly the table's commands",
            f"got {sorted(got)}, table {cmds} {err}")
    for cmd in cmds:
        kws = set()
        for u in helps[obj].get(cmd, []):
            kws |= set(keywords(u))
        rc, got, err = complete("ebbctl", "--bpffs", "/x", obj, cmd, "")
        if cmd in ("watch", "show", "set", "zero", "add", "del", "attach") or kws:
            tap(kws <= got, f"completion of '{obj} {cmd} ': its keywords {' '.join(sorted(kws)) or '(none)'}",
                f"got {sorted(got)} {err}")
opts = set()
for l in subprocess.run([ctl, "help"], capture_output=True, text=True).stdout.split("OPTIONS := {", 1)[-1].split("}")[0].split():
    opts |= {w for w in l.split("|") if w.startswith("-")}
rc, got, err = complete("ebbctl", "-")
tap(len(opts) >= 10 and opts <= got, f"completion of '-': the options 'ebbctl help' lists ({' '.join(sorted(opts))})",
    f"got {sorted(got)} {err}")
rc, got, _ = complete("ebbctl", "n", "")
tap(set(tables["node"]) <= got, "completion after an abbreviated object ('n ')", sorted(got))
rc, got, _ = complete("ebbctl", "prog", "attach", "dev", "lo", "mode", "")
tap(got == {"native", "generic"}, "completion of a keyword's values from its usage: mode {native|generic}", sorted(got))
rc, got, _ = complete("ebbctl", "restore", "/etc/hostname", "")
tap("if-empty" in got, "completion of restore FILE: if-empty", sorted(got))

# --- man page -------------------------------------------------------------------------------
man = open(os.path.join(root, "doc/ebbctl.8")).read()
def plain(s):
    return re.sub(r"\\f[BIRP]", "", s).replace("\\-", "-")
def section(name):
    m = re.search(r"^\.SH %s\n(.*?)^\.SH " % name, man, re.S | re.M)
    return m.group(1) if m else ""
def words(s):
    return " ".join(s.split())

# SYNOPSIS: the top-level usage, as `ebbctl help` writes it from the tables (every form there
# written with [OPTIONS]), its OBJECT := and OPTIONS := lines.
syn_forms, syn_items, cur = [], [], None
for l in section("SYNOPSIS").splitlines():
    if l == ".B ebbctl":
        cur = []
        syn_forms.append(cur)
    elif l.startswith("."):
        cur = None
    elif cur is not None:
        cur.append(plain(l))
    else:
        syn_items.append(plain(l))
syn_forms = [words(re.sub(r"^\[OPTIONS\]\s*", "", " ".join(f))) for f in syn_forms]
help_forms = [words(re.sub(r"^\[OPTIONS\]\s*", "", l)) for l in top_usage]
tap(syn_forms == help_forms, "ebbctl(8) SYNOPSIS has the forms of 'ebbctl help', in its order",
    "\n".join([f"man:  {f}" for f in syn_forms] + [f"help: {f}" for f in help_forms]))
gen = subprocess.run([sys.executable, os.path.join(root, "tools/man_synopsis.py"), ctl], capture_output=True, text=True)
m = re.search(r"^\.SH SYNOPSIS\n.*?(?=^\.SH )", man, re.S | re.M)
tap(gen.returncode == 0 and m is not None and m.group(0) == gen.stdout,
    "ebbctl(8) SYNOPSIS is the one tools/man_synopsis.py writes from 'ebbctl help' (make man-synopsis)",
    gen.stderr + "".join(difflib.unified_diff((m.group(0) if m else "").splitlines(True), gen.stdout.splitlines(True), "doc/ebbctl.8", "generated")))
syn_rest = " ".join(syn_items)
m = re.search(r"OBJECT := \{([^}]*)\}", syn_rest)
man_objects = m.group(1).replace("|", " ").split() if m else []
tap(man_objects == [n for n, v in top if v], "ebbctl(8) SYNOPSIS OBJECT := names exactly the table's objects",
    f"man: {man_objects}, table: {[n for n, v in top if v]}")
m = re.search(r"OPTIONS := \{([^}]*)\}", syn_rest)
man_opts = [w for w in (m.group(1).replace("|", " ").split() if m else []) if w.startswith("-")]
tap(sorted(man_opts) == sorted(table_opts), "ebbctl(8) SYNOPSIS OPTIONS := names exactly the table's listed options",
    f"man: {man_opts}, table: {table_opts}")

# OPTIONS: an entry for each option the usage lists, naming its short and long forms, and none
# for an option the table lacks; an unlisted one (--help) is still named somewhere.
opt_entries = [[w.strip(",") for w in plain(l).split() if w.startswith("-")]
               for l in re.findall(r"^\.TP\n(.*)$", section("OPTIONS"), re.M)]
for names, listed in options:
    if listed:
        tap(names in opt_entries, f"ebbctl(8) OPTIONS has an entry for {', '.join(names)}", f"entries: {opt_entries}")
    else:
        tap(names[-1] in plain(man), f"ebbctl(8) names the unlisted option {names[-1]}")
for e in opt_entries:
    tap(any(e == names for names, _ in options), f"ebbctl(8) OPTIONS entry {', '.join(e)} is an option of the table")

# COMMANDS: an entry (.TP/.TQ line) for each command of each object and of the top level, with
# every keyword of its usage; its bold words are its usage's (keywords, choices), nothing else.
sec = section("COMMANDS")
entries = {}
for m in re.finditer(r"^\.T[PQ]\n(.*)$", sec, re.M):
    line = m.group(1)
    w = plain(line).split()
    if not w:
        continue
    key = (w[0], w[1]) if w[0] in tables and len(w) >= 2 else (w[0], None)
    entries[key] = line
def entry_check(name, forms, e):
    kws = set()
    for u in forms:
        kws |= set(keywords(u))
    text = plain(e)
    miss = [k for k in kws if not re.search(r"(^|[\s\[{|])%s\b" % re.escape(k), text)]
    tap(not miss, f"ebbctl(8) entry for '{name}' names every keyword of its usage", f"missing {miss}: {text}")
    allowed = set(name.split())
    for u in forms:
        allowed |= set(re.findall(r"[a-z][a-z0-9-]*", u))
    bold = set()
    for b in re.findall(r"\\fB(.*?)(?=\\f[RIP]|$)", e):
        bold |= set(re.findall(r"[a-z][a-z0-9-]*", b.replace("\\-", "-")))
    extra = sorted(bold - allowed)
    tap(not extra, f"ebbctl(8) entry for '{name}' names no keyword its usage lacks", f"not in its usage {forms}: {extra}")
for obj, cmds in tables.items():
    for cmd in cmds:
        e = entries.get((obj, cmd))
        tap(e is not None, f"ebbctl(8) has an entry for '{obj} {cmd}'")
        if e:
            entry_check(f"{obj} {cmd}", helps[obj].get(cmd, []), e)
for t in toplevel:
    e = entries.get((t, None))
    tap(e is not None, f"ebbctl(8) has an entry for '{t}'")
    if e:
        entry_check(t, [" ".join(l.split()[1:]) for l in top_usage if l.split()[0] == t], e)
for (obj, cmd) in entries:
    if cmd is None:
        tap(obj in toplevel, f"ebbctl(8) entry '{obj}' is a top-level command in the tables")
    else:
        tap(obj in tables and cmd in tables[obj], f"ebbctl(8) entry '{obj} {cmd}' is a command in the tables")
for s in ("OPTIONS", "EXAMPLES", "FILES"):
    tap(re.search(r"^\.SH %s$" % s, man, re.M) is not None, f"ebbctl(8) has a {s} section")
if subprocess.run(["sh", "-c", "command -v man"], capture_output=True).returncode:
    print("ok - man renders ebbctl(8) # SKIP no man here")
else:
    r = subprocess.run(["man", "--warnings", "-l", "-Tutf8", os.path.join(root, "doc/ebbctl.8")], capture_output=True, text=True)
    tap(r.returncode == 0 and not r.stderr.strip(), "man --warnings renders ebbctl(8) without a warning", r.stderr)
print(f"# cli_tables: {failed} failed")
sys.exit(1 if failed else 0)
PY
