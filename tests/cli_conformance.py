#!/usr/bin/env python3
"""Run the conformance corpus (tests/conformance/) through the miaopi CLI.

usage: cli_conformance.py MIAOPI [--root SOURCE_ROOT] [-v]

For every tests/conformance/valid/NAME/ (and every rules/NAME/ with a
ruleset.xml and cases/):
  - `miaopi check RULES` must exit 0 and print no error;
  - for each cases/CASE.json, `miaopi eval -r RULES CASE.json --json` must
    exit 0 and print the decision, rule statuses and reason codes of
    cases/CASE.expected.json, or exit 2 when that file names an "error".
For every tests/conformance/invalid/NAME.xml:
  - `miaopi check NAME.xml` must exit 1, and the first line of the form
    FILE:LINE:COL: error: MESSAGE [MIAOPI-Exxx] on standard error must
    carry the id, line and column of NAME.expected.json.

Standard library only.  Prints one line per failure and
"N passed, N failed" at the end; exits 1 if anything failed.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

DIAG_RE = re.compile(r"^(.*):(\d+):(\d+): error: (.*) \[(MIAOPI-E\d+)\]$")
TIMEOUT = 60


def diag_number(ident):
    """MIAOPI-E012 and MIAOPI-E12 name the same diagnostic."""
    m = re.match(r"^MIAOPI-E0*(\d+)$", ident or "")
    return int(m.group(1)) if m else ident


class Runner:
    def __init__(self, exe, root, verbose):
        self.exe = exe
        self.root = root
        self.verbose = verbose
        self.passed = 0
        self.failed = 0

    def rel(self, path):
        return os.path.relpath(path, self.root)

    def run(self, args):
        p = subprocess.run([self.exe] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def ok(self, name):
        self.passed += 1
        if self.verbose:
            print("ok   %s" % name)

    def fail(self, name, why):
        self.failed += 1
        print("FAIL %s: %s" % (name, why))

    # ---- valid rulesets -------------------------------------------------

    def check_valid(self, rules):
        name = "check " + self.rel(rules)
        rc, _, err = self.run(["check", rules])
        errors = [l for l in err.splitlines() if ": error: " in l]
        if rc != 0:
            self.fail(name, "exit %d, want 0; stderr: %s" % (rc, err.strip()))
        elif errors:
            self.fail(name, "errors printed: %s" % errors[0])
        else:
            self.ok(name)

    def eval_case(self, rules, case):
        name = "eval " + self.rel(case)
        exp_path = case[:-len(".json")] + ".expected.json"
        try:
            with open(exp_path, encoding="utf-8") as f:
                exp = json.load(f)
        except (OSError, ValueError) as e:
            self.fail(name, "cannot read %s: %s" % (self.rel(exp_path), e))
            return
        rc, out, err = self.run(["eval", "-r", rules, case, "--json"])
        if "error" in exp:
            if rc != 2:
                self.fail(name, "exit %d, want 2 (%s)" % (rc, exp["error"]))
            else:
                self.ok(name)
            return
        if rc != 0:
            self.fail(name, "exit %d, want 0; stderr: %s" % (rc, err.strip()))
            return
        try:
            got = json.loads(out)
        except ValueError as e:
            self.fail(name, "stdout is not JSON: %s" % e)
            return
        problems = []
        if got.get("decision") != exp.get("decision"):
            problems.append("decision %s, want %s"
                            % (got.get("decision"), exp.get("decision")))
        got_rules = {r.get("id"): r.get("status")
                     for r in got.get("rules", [])}
        want_rules = exp.get("rules", {})
        for rid, st in want_rules.items():
            if rid not in got_rules:
                problems.append("rule %s missing from the output" % rid)
            elif got_rules[rid] != st:
                problems.append("rule %s is %s, want %s"
                                % (rid, got_rules[rid], st))
        for rid in got_rules:
            if rid not in want_rules:
                problems.append("rule %s is not in the expected file" % rid)
        if "reasons" in exp:
            codes = [r.get("code") for r in got.get("reasons", [])]
            if codes != exp["reasons"]:
                problems.append("reasons %s, want %s"
                                % (codes, exp["reasons"]))
        if problems:
            self.fail(name, "; ".join(problems))
        else:
            self.ok(name)

    def valid_dir(self, rules, case_dir):
        self.check_valid(rules)
        for case in sorted(glob.glob(os.path.join(case_dir, "*.json"))):
            if case.endswith(".expected.json"):
                continue
            self.eval_case(rules, case)

    # ---- invalid rule files ---------------------------------------------

    def invalid_file(self, path):
        name = "check " + self.rel(path)
        exp_path = path[:-len(".xml")] + ".expected.json"
        try:
            with open(exp_path, encoding="utf-8") as f:
                exp = json.load(f)
        except (OSError, ValueError) as e:
            self.fail(name, "cannot read %s: %s" % (self.rel(exp_path), e))
            return
        rc, _, err = self.run(["check", path])
        if rc != 1:
            self.fail(name, "exit %d, want 1; stderr: %s" % (rc, err.strip()))
            return
        first = None
        for line in err.splitlines():
            m = DIAG_RE.match(line)
            if m:
                first = m
                break
        if not first:
            self.fail(name, "no FILE:LINE:COL: error: ... [MIAOPI-Exxx] line "
                      "on stderr: %s" % err.strip())
            return
        got = (first.group(1), first.group(5), int(first.group(2)),
               int(first.group(3)))
        want = (path, exp["id"], exp["line"], exp["column"])
        if (got[0], diag_number(got[1]), got[2], got[3]) != \
                (want[0], diag_number(want[1]), want[2], want[3]):
            self.fail(name, "first error %s:%d:%d %s, want %s:%d:%d %s (%s)"
                      % (got[0], got[2], got[3], got[1], want[0], want[2],
                         want[3], want[1], first.group(4)))
        else:
            self.ok(name)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("miaopi", help="path to the miaopi binary")
    ap.add_argument("--root", default=os.environ.get(
        "MIAOPI_SOURCE_ROOT", os.path.dirname(here)),
        help="source root (default: the parent of this script's directory)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    r = Runner(os.path.abspath(a.miaopi), root, a.verbose)
    corpus = os.path.join(root, "tests", "conformance")

    valid = sorted(glob.glob(os.path.join(corpus, "valid", "*", "rules.xml")))
    if not valid:
        r.fail("corpus", "no valid rulesets under %s" % corpus)
    for rules in valid:
        r.valid_dir(rules, os.path.join(os.path.dirname(rules), "cases"))
    for rules in sorted(glob.glob(os.path.join(root, "rules", "*",
                                               "ruleset.xml"))):
        r.valid_dir(rules, os.path.join(os.path.dirname(rules), "cases"))
    invalid = sorted(glob.glob(os.path.join(corpus, "invalid", "*.xml")))
    if not invalid:
        r.fail("corpus", "no invalid rule files under %s" % corpus)
    for path in invalid:
        r.invalid_file(path)

    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
