#!/usr/bin/env python3
"""Decide every bundled case and compare with its expectation.

For every rules/*/ruleset.xml (and every later version
rules/*/ruleset-TAG.xml, whose cases are in cases-TAG/): `miaopi check` must report no error or
warning, and each rules/*/cases/<case>.json is decided with `miaopi eval
--json`; the decision and every rule's status must equal
<case>.expected.json ({"decision": ..., "rules": {rule id: status}}).

Each ruleset's cases are also held to the coverage the rule library
promises: every rule fails in at least one case, and every declared
source is unavailable (null or absent) in at least one case that ends in
ESCALATE.

usage: rules_test.py MIAOPI SOURCE_ROOT
Prints "N passed, N failed" and exits 1 on any failure.
"""
import glob
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

MIAOPI, ROOT = sys.argv[1:3]
NS = "{urn:miaopi:rules:1}"
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def run(*args):
    p = subprocess.run([MIAOPI, *args], capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


def declared(rules_path):
    root = ET.parse(rules_path).getroot()
    rule_ids = [r.get("id") for r in root.iter(NS + "rule")]
    # Fields declared verify="source.field" become generated rules
    # verify.FIELD (docs/rule-language.md).
    app = root.find(NS + "application")
    if app is not None:
        rule_ids += ["verify." + f.get("name") for f in app.findall(NS + "field")
                     if f.get("verify")]
    sources = [s.get("name") for s in root.iter(NS + "source")]
    return rule_ids, sources


def decide(rules_path, case_path):
    rc, out, err = run("eval", "-r", rules_path, case_path, "--json")
    if rc != 0:
        return None, "exit %d: %s" % (rc, err.strip())
    got = json.loads(out)
    return {"decision": got["decision"],
            "version": got["ruleset"]["version"],
            "rules": {r["id"]: r["status"] for r in got["rules"]}}, ""


def cases_dir(rules_path):
    base = os.path.basename(rules_path)[:-len(".xml")]
    tag = base[len("ruleset"):]  # "" or "-2025"
    return os.path.join(os.path.dirname(rules_path), "cases" + tag)


def diff(want, got):
    out = []
    if want["decision"] != got["decision"]:
        out.append("decision %s != expected %s" % (got["decision"],
                                                   want["decision"]))
    for rid in sorted(set(want["rules"]) | set(got["rules"])):
        w, g = want["rules"].get(rid), got["rules"].get(rid)
        if w != g:
            out.append("%s: %s != expected %s" % (rid, g, w))
    return "; ".join(out)


def test_ruleset(rules_path):
    name = os.path.basename(os.path.dirname(rules_path))
    if os.path.basename(rules_path) != "ruleset.xml":
        name += "/" + os.path.basename(rules_path)
    rc, out, err = run("check", rules_path)
    check(name + " check", rc == 0 and "warning" not in err, err.strip())
    rule_ids, sources = declared(rules_path)
    failing, unavailable = set(), set()
    if not os.path.isdir(cases_dir(rules_path)):
        return  # e.g. a screening ruleset, tested by its population
    cases = sorted(p for p in glob.glob(os.path.join(
        cases_dir(rules_path), "*.json"))
        if not p.endswith(".expected.json"))
    # A folder with several versions is a registry: each case decided
    # through the folder must get this file's version and the same result.
    folder = os.path.dirname(rules_path)
    versioned = len(glob.glob(os.path.join(folder, "*.xml"))) > 1
    version = ET.parse(rules_path).getroot().get("version")
    check(name + " has at least 12 cases", len(cases) >= 12,
          "%d cases" % len(cases))
    for case_path in cases:
        label = "%s/%s" % (name, os.path.basename(case_path)[:-5])
        with open(case_path[:-5] + ".expected.json", encoding="utf-8") as f:
            want = json.load(f)
        check(label + " expectation names every rule",
              sorted(want["rules"]) == sorted(rule_ids),
              sorted(set(rule_ids) ^ set(want["rules"])))
        got, err = decide(rules_path, case_path)
        if got is None:
            check(label, False, err)
            continue
        d = diff(want, got)
        check(label, not d, d)
        if versioned:
            via, err = decide(folder, case_path)
            check(label + " through the folder picks " + version,
                  via is not None and via["version"] == version and
                  not diff(want, via), err or via)
        failing.update(r for r, s in want["rules"].items() if s == "fail")
        if want["decision"] == "ESCALATE":
            with open(case_path, encoding="utf-8") as f:
                srcs = json.load(f).get("sources") or {}
            unavailable.update(s for s in sources if srcs.get(s) is None)
    for rid in rule_ids:
        check("%s rule %s fails in some case" % (name, rid), rid in failing)
    for src in sources:
        check("%s source %s unavailable escalates in some case" % (name, src),
              src in unavailable)


def main():
    rulesets = sorted(glob.glob(os.path.join(ROOT, "rules", "*",
                                             "ruleset.xml")) +
                      glob.glob(os.path.join(ROOT, "rules", "*",
                                             "ruleset-*.xml")))
    check("rulesets found", len(rulesets) >= 4, "%d" % len(rulesets))
    for rules_path in rulesets:
        test_ruleset(rules_path)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
