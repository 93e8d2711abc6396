#!/usr/bin/env python3
"""Run the examples of docs/rule-language.md through `miaopi expr`.

Each line of an ```examples block is `EXPRESSION ⇒ VALUE`; VALUE must be
what `miaopi expr` prints as the value ("UNKNOWN" when there is none).
A line may start with `@rules=FILE @case=FILE` (paths relative to the
source root) to evaluate in a ruleset's scope against a case.
Every builtin of lib/builtins.c must have an example and a row in the
reference table, so the reference cannot drift from the code.

usage: doc_examples.py MIAOPI SOURCE_ROOT
Prints "N passed, N failed" and exits 1 on any failure.
"""
import json
import os
import re
import subprocess
import sys

MIAOPI, ROOT = sys.argv[1:3]
DOC = os.path.join(ROOT, "docs", "rule-language.md")
BUILTINS = os.path.join(ROOT, "lib", "builtins.c")
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


text = open(DOC, encoding="utf-8").read()
examples = []
for block in re.findall(r"```examples\n(.*?)```", text, re.S):
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        expr, sep, want = line.partition("⇒")
        check("example syntax: " + line, sep == "⇒")
        scope = []
        expr = expr.strip()
        while expr.startswith("@"):
            word, _, expr = expr.partition(" ")
            key, _, path = word[1:].partition("=")
            scope += ["-r" if key == "rules" else "-c",
                      os.path.join(ROOT, path)]
            expr = expr.strip()
        examples.append((expr, want.strip(), scope))
check("examples found", len(examples) > 30, str(len(examples)))

for expr, want, scope in examples:
    p = subprocess.run([MIAOPI, "expr", "--json", *scope, "--", expr],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        check(expr, False, "exit %d: %s" % (p.returncode, p.stderr))
        continue
    got = json.loads(p.stdout)
    value = got["value"] if got["known"] else "UNKNOWN"
    check(expr, value == want, "doc says %s, miaopi says %s" % (want, value))

# Every builtin has an example and a row in the reference table.
names = re.findall(r'^\s*\{"(\w+)", \d, \d, check_', open(
    BUILTINS, encoding="utf-8").read(), re.M)
check("builtins found", len(names) > 20, str(names))
names += ["any", "all", "count"]
table = text[text.index("### Builtins"):]
for n in names:
    check("example for " + n,
          any(re.search(r"\b%s\(" % n, e) for e, _, _ in examples))
    check("reference for " + n, ("`%s(" % n) in text or
          (", `%s(" % n) in table)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
