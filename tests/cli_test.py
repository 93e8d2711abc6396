#!/usr/bin/env python3
"""End-to-end tests of the miaopi command on the bundled example ruleset.

usage: cli_test.py MIAOPI SOURCE_ROOT
Prints "N passed, N failed" and exits 1 on any failure.
"""
import json
import os
import subprocess
import sys
import tempfile

MIAOPI, ROOT = sys.argv[1:3]
RULES = os.path.join(ROOT, "rules", "sz-talent", "ruleset.xml")
CASES = os.path.join(ROOT, "rules", "sz-talent", "cases")
passed = failed = 0


def run(*args, stdin=None):
    p = subprocess.run([MIAOPI, *args], input=stdin, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def case(name):
    return os.path.join(CASES, name + ".json")


# --help and --version everywhere
for args in (["--help"], ["check", "--help"], ["eval", "--help"]):
    rc, out, err = run(*args)
    check("help " + " ".join(args), rc == 0 and "usage: miaopi" in out, err)
for args in (["--version"], ["check", "--version"], ["eval", "--version"]):
    rc, out, _ = run(*args)
    check("version " + " ".join(args), rc == 0 and out.startswith("miaopi "))

# usage errors exit 2
for args in ([], ["frobnicate"], ["check"], ["eval", case("approve")],
             ["eval", "-r", RULES], ["eval", "--bogus"],
             ["eval", "-r", RULES, "--lang", "fr", case("approve")]):
    rc, _, err = run(*args)
    check("usage " + " ".join(args), rc == 2 and err, "rc=%d" % rc)

# check
rc, out, _ = run("check", RULES)
check("check valid", rc == 0 and "ok: sz-talent 2024.1" in out, out)
with tempfile.TemporaryDirectory() as tmp:
    bad = os.path.join(tmp, "bad.xml")
    src = open(RULES, encoding="utf-8").read()
    with open(bad, "w", encoding="utf-8") as f:
        f.write(src.replace("application.degree in eligible_degrees</require>",
                            "application.degre in eligible_degrees</require>"))
    rc, out, err = run("check", RULES, bad)
    line = next((l for l in err.splitlines() if l.startswith(bad + ":")), "")
    check("check invalid exit", rc == 1, "rc=%d" % rc)
    check("check invalid diagnostic",
          ": error: " in line and "[MIAOPI-E012]" in line and
          "did you mean 'degree'" in line, err)
    parts = line.split(":")
    check("check position", len(parts) > 3 and parts[1].isdigit() and
          parts[2].isdigit() and int(parts[2]) > 1, line)
    rc, _, err = run("check", os.path.join(tmp, "missing.xml"))
    check("check missing file", rc == 2 and "missing.xml" in err, err)

# eval: one case per outcome, text and JSON
for name, want in (("approve", "APPROVE"), ("reject-age", "REJECT"),
                   ("escalate-no-xuexin", "ESCALATE")):
    rc, out, err = run("eval", "-r", RULES, case(name), "--json")
    check("eval json " + name, rc == 0, err)
    if rc != 0:
        continue
    d = json.loads(out)
    expected = json.load(open(case(name + ".expected"), encoding="utf-8"))
    check("eval decision " + name, d["decision"] == want, d["decision"])
    check("eval ruleset " + name,
          d["ruleset"]["id"] == "sz-talent" and
          len(d["ruleset"]["sha256"]) == 64)
    check("eval statuses " + name,
          {r["id"]: r["status"] for r in d["rules"]} == expected["rules"])
    rc, out, _ = run("eval", "-r", RULES, case(name))
    check("eval text " + name, rc == 0 and want in out.splitlines()[0], out)

rc, out, _ = run("eval", "-r", RULES, case("reject-age"), "--lang", "en")
check("eval en", rc == 0 and "Decision: REJECT" in out and "Basis:" in out,
      out)
rc, out, _ = run("eval", "-r", RULES, case("reject-age"))
check("eval zh reason", "年龄上限" in out and "依据：" in out, out)
# Personal data is masked in explanations.
rc, out, _ = run("eval", "-r", RULES, case("escalate-multiple"), "--json")
d = json.loads(out)
ids = [json.load(open(case("escalate-multiple"), encoding="utf-8"))
       ["application"]["id_number"]]
check("masked", not any(i in out for i in ids), out)
# stdin
with open(case("approve"), encoding="utf-8") as f:
    rc, out, _ = run("eval", "-r", RULES, "-", "--json", stdin=f.read())
check("eval stdin", rc == 0 and json.loads(out)["decision"] == "APPROVE")

# eval errors exit 2 with a message
with tempfile.TemporaryDirectory() as tmp:
    broken = os.path.join(tmp, "broken.json")
    with open(broken, "w") as f:
        f.write('{"application": {"a": 1,}}')
    rc, out, err = run("eval", "-r", RULES, broken)
    check("eval bad json", rc == 2 and "broken.json:1:" in err and not out,
          err)
    nodate = os.path.join(tmp, "nodate.json")
    c = json.load(open(case("approve"), encoding="utf-8"))
    del c["context"]["decision_date"]
    with open(nodate, "w") as f:
        json.dump(c, f)
    rc, out, err = run("eval", "-r", RULES, nodate)
    check("eval no date", rc == 2 and "decision_date" in err and
          "APPROVE" not in out, err)
    c["context"]["decision_date"] = "2030-01-01"
    with open(nodate, "w") as f:
        json.dump(c, f)
    rc, out, err = run("eval", "-r", RULES, nodate)
    check("eval not in force", rc == 2 and "not in force" in err, err)
    rc, out, err = run("eval", "-r", RULES, nodate, "--json",
                       "--ignore-effective-dates")
    check("eval ignore dates", rc == 0 and json.loads(out)["decision"], err)
rc, _, err = run("eval", "-r", "/nonexistent.xml", case("approve"))
check("eval missing rules", rc == 2 and "nonexistent" in err, err)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
