#!/usr/bin/env python3
"""Generate docs/diagnostics.md from lib/diag.def, the diagnostic registry.

usage: gen_diagnostics.py lib/diag.def > docs/diagnostics.md
       gen_diagnostics.py --check lib/diag.def docs/diagnostics.md
"""
import re
import sys

ENTRY = re.compile(r'^MIAOPI_DIAG\((\d+),\s*(\w+),\s*(\w+),\s*"((?:[^"\\]|\\.)*)"\)',
                   re.M)


def render(defpath):
    text = open(defpath, encoding="utf-8").read()
    rows = ENTRY.findall(text)
    seen = set()
    out = ["# Diagnostics", "",
           "Every diagnostic miaopi reports has a stable id. Ids are never "
           "renumbered or reused.",
           "This file is generated from `lib/diag.def` by "
           "`tools/gen_diagnostics.py`; a test keeps it in sync.", "",
           "Diagnostics are printed as",
           "", "    FILE:LINE:COLUMN: error: MESSAGE [MIAOPI-E012]", "",
           "| id | severity | meaning |", "| --- | --- | --- |"]
    for num, sym, sev, summary in rows:
        if num in seen:
            raise SystemExit("duplicate diagnostic number %s" % num)
        seen.add(num)
        out.append("| MIAOPI-E%03d | %s | %s |" % (int(num), sev.lower(),
                                                  summary.replace("|", "\\|")))
    return "\n".join(out) + "\n"


if sys.argv[1] == "--check":
    want = render(sys.argv[2])
    have = open(sys.argv[3], encoding="utf-8").read()
    if want != have:
        print("docs/diagnostics.md is out of date: run "
              "tools/gen_diagnostics.py lib/diag.def > docs/diagnostics.md")
        sys.exit(1)
    print("1 passed, 0 failed")
else:
    sys.stdout.write(render(sys.argv[1]))
