#!/usr/bin/env python3
"""Add every rules/NAME/cases/<case>.json with its <case>.expected.json to
the ruleset's test suite rules/NAME/NAME.test.json (docs/testing.md),
creating the suite if needed. Cases already in the suite are kept as they
are. Run after adding cases; `miaopi test rules/` then runs them.

usage: cases_to_suite.py RULES_DIR...
"""
import json
import os
import sys

for d in sys.argv[1:]:
    d = d.rstrip("/")
    name = os.path.basename(d)
    suite_path = os.path.join(d, name + ".test.json")
    if os.path.exists(suite_path):
        suite = json.load(open(suite_path, encoding="utf-8"))
    else:
        suite = {"description": name + ": every bundled case",
                 "ruleset": "ruleset.xml", "cases": []}
    have = {c["name"] for c in suite["cases"]}
    cases_dir = os.path.join(d, "cases")
    for f in sorted(os.listdir(cases_dir)):
        if not f.endswith(".expected.json"):
            continue
        case = f[:-len(".expected.json")]
        if case in have:
            continue
        exp = json.load(open(os.path.join(cases_dir, f), encoding="utf-8"))
        rules = exp["rules"]
        suite["cases"].append({
            "name": case,
            "case": "cases/%s.json" % case,
            "expect": {
                "decision": exp["decision"],
                "fail": sorted(r for r, s in rules.items() if s == "fail"),
                "unknown": sorted(r for r, s in rules.items()
                                  if s == "unknown"),
            }})
    with open(suite_path, "w", encoding="utf-8") as out:
        json.dump(suite, out, ensure_ascii=False, indent=2)
        out.write("\n")
    print("%s: %d cases" % (suite_path, len(suite["cases"])))
