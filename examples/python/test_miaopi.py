#!/usr/bin/env python3
"""Tests of the ctypes binding (examples/python/miaopi.py).

usage: test_miaopi.py LIBMIAOPI SOURCE_ROOT [SANITIZE CC...]
LIBMIAOPI is the shared library to load (set as $MIAOPI_LIBRARY). When
the library was built with sanitizers (SANITIZE not "none"), the script
re-runs itself with the sanitizer runtimes preloaded, as Python itself
is not instrumented. Prints "N passed, N failed".
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import threading

LIB, ROOT = sys.argv[1:3]
SANITIZE = sys.argv[3] if len(sys.argv) > 3 else "none"
CC = sys.argv[4:]

if SANITIZE not in ("", "none") and "MIAOPI_TEST_PRELOADED" not in os.environ:
    runtimes = []
    for part, lib in (("address", "libasan.so"), ("undefined", "libubsan.so")):
        if part in SANITIZE and CC:
            p = subprocess.run(CC + ["-print-file-name=" + lib],
                               capture_output=True, text=True)
            path = p.stdout.strip()
            if os.path.isabs(path) and os.path.exists(path):
                runtimes.append(path)
    env = dict(os.environ, MIAOPI_TEST_PRELOADED="1",
               LD_PRELOAD=" ".join(runtimes),
               # CPython's own allocations are not ours to judge.
               ASAN_OPTIONS="detect_leaks=0")
    sys.exit(subprocess.run([sys.executable] + sys.argv, env=env).returncode)

os.environ["MIAOPI_LIBRARY"] = os.path.abspath(LIB)
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))
import miaopi  # noqa: E402

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def raises(fn):
    try:
        fn()
    except miaopi.MiaopiError as e:
        return e
    return None


TALENT = os.path.join(ROOT, "rules", "sz-talent")
rules = miaopi.Ruleset(os.path.join(TALENT, "ruleset.xml"))
check("version", miaopi.version().count(".") == 2, miaopi.version())
check("ruleset identity", rules.id == "sz-talent" and len(rules.sha256) == 64
      and rules.version and rules.title("en").startswith("Shenzhen"))
check("rule ids", rules.rule_ids()[0] == "id-number-valid", rules.rule_ids())

# The README's three lines.
with open(os.path.join(TALENT, "cases", "reject-age.json"),
          encoding="utf-8") as f:
    text = f.read()
d = rules.decide(text, lang="en")
check("decide JSON text", d.outcome == "REJECT", d.outcome)
check("reason", d.reasons and d.reasons[0].code == "AGE_OVER_LIMIT" and
      "above the limit" in d.reasons[0].message and d.reasons[0].basis,
      d.reasons)
check("rule statuses", d.rules["age-limit"] == "fail" and
      d.rules["graduation-window"] == "not-applicable", d.rules)
check("to_dict", d.to_dict()["decision"] == "REJECT" and
      d.to_dict()["reasons"], d.json_text[:200])
d = rules.decide(json.loads(text))
check("decide dict, default language", d.outcome == "REJECT" and
      "周岁" in d.reasons[0].message, d.reasons)
check("masked personal data", "4403" not in d.reasons[0].message or
      "*" in d.reasons[0].message, d.reasons[0].message)

# Every bundled case through the binding agrees with its expectation.
for path in sorted(glob.glob(os.path.join(ROOT, "rules", "*",
                                          "ruleset.xml"))):
    rs = miaopi.Ruleset(path)
    for case in sorted(glob.glob(os.path.join(os.path.dirname(path),
                                              "cases", "*.json"))):
        if case.endswith(".expected.json"):
            continue
        with open(case[:-5] + ".expected.json", encoding="utf-8") as f:
            want = json.load(f)
        with open(case, encoding="utf-8") as f:
            got = rs.decide(f.read())
        check("case %s/%s" % (rs.id, os.path.basename(case)),
              got.outcome == want["decision"] and got.rules == want["rules"])
    rs.close()

# Unknown: the reason and path of an unavailable source.
d = rules.decide(open(os.path.join(TALENT, "cases",
                                   "escalate-no-xuexin.json")).read())
u = [r for r in d.rule_results if r.status == "unknown"]
check("unknown reason", d.outcome == "ESCALATE" and u and
      "xuexin" in u[0].unknown_reason, u)

# Errors carry the library's code, message and position.
e = raises(lambda: rules.decide('{"application": {,}'))
check("malformed JSON", e is not None and e.name == "MIAOPI_ECASE" and
      e.line == 1 and e.column > 1, e)
case = json.loads(text)
case["context"]["decision_date"] = "2030-01-01"
e = raises(lambda: rules.decide(case))
check("not in force", e is not None and e.name == "MIAOPI_ENOTINFORCE", e)
check("ignore effective dates",
      rules.decide(case, ignore_effective_dates=True).outcome == "REJECT")
del case["context"]["decision_date"]
e = raises(lambda: rules.decide(case))
check("no decision date", e is not None and e.name == "MIAOPI_ECASE", e)
e = raises(lambda: miaopi.Ruleset("/nonexistent/rules.xml"))
check("missing file", e is not None and e.name == "MIAOPI_EIO", e)
with open(os.path.join(TALENT, "ruleset.xml"), encoding="utf-8") as f:
    src = f.read()
bad = src.replace("application.degree in eligible_degrees</require>",
                  "application.degre in eligible_degrees</require>")
e = raises(lambda: miaopi.Ruleset(text=bad, name="bad.xml"))
check("rule error position", e is not None and e.name == "MIAOPI_ERULES" and
      e.id == "MIAOPI-E012" and e.file == "bad.xml" and e.line > 1 and
      e.column > 1 and "degree" in e.message, e)
check("diagnostics list", e is not None and e.diagnostics and
      e.diagnostics[0].severity == "error", e and e.diagnostics)
check("str(error)", e is not None and str(e).startswith("bad.xml:"), str(e))
check("load from text", miaopi.Ruleset(text=src).sha256 == rules.sha256)

# One ruleset shared by threads, each with its own decision object.
cases = {}
for name in ("approve", "reject-age", "escalate-no-xuexin"):
    with open(os.path.join(TALENT, "cases", name + ".json"),
              encoding="utf-8") as f:
        cases[name] = f.read()
want = {"approve": "APPROVE", "reject-age": "REJECT",
        "escalate-no-xuexin": "ESCALATE"}
errors = []


def worker(n):
    try:
        for i in range(200):
            name = list(cases)[(i + n) % 3]
            got = rules.decide(cases[name]).outcome
            if got != want[name]:
                errors.append((name, got))
    except Exception as exc:  # noqa: BLE001 - reported below
        errors.append(exc)


threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
check("8 threads share one ruleset", not errors, errors[:3])

rules.close()
try:
    rules.decide(text)
    check("decide after close raises", False)
except ValueError:
    check("decide after close raises", True)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
