#!/usr/bin/env python3
"""End-to-end tests of the government-data commands (issue 5): the
electronic-licence example's cases, prefill, check/eval on a directory,
and screening a generated population against independently computed
expectations.

usage: cli_data_test.py MIAOPI SOURCE_ROOT
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

MIAOPI, ROOT = sys.argv[1:3]
passed = failed = 0


def run(*args, stdin=None):
    p = subprocess.run([MIAOPI, *args], input=stdin, capture_output=True,
                       text=True, timeout=240)
    return p.returncode, p.stdout, p.stderr


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, str(detail)[:2000]))


# --help, --version and usage errors of the new commands
for cmd in ("prefill", "screen"):
    rc, out, _ = run(cmd, "--help")
    check("help " + cmd, rc == 0 and out.startswith("usage: miaopi " + cmd))
    rc, out, _ = run(cmd, "--version")
    check("version " + cmd, rc == 0 and out.startswith("miaopi "))
    rc, _, err = run(cmd)
    check("usage " + cmd, rc == 2 and "usage" in err, err)
rc, out, _ = run("--help")
check("main help lists", "prefill" in out and "screen" in out, out)

# Every case of every bundled ruleset that has cases (the registry's own
# cli_test.py covers sz-talent; this covers the data examples).
for rules in ("sz-food-licence",):
    rfile = os.path.join(ROOT, "rules", rules, "ruleset.xml")
    for case in sorted(glob.glob(os.path.join(ROOT, "rules", rules, "cases",
                                              "*.json"))):
        if case.endswith(".expected.json"):
            continue
        name = os.path.basename(case)
        exp = json.load(open(case[:-5] + ".expected.json", encoding="utf-8"))
        rc, out, err = run("eval", "-r", rfile, case, "--json")
        check("eval " + name, rc == 0, err)
        if rc:
            continue
        d = json.loads(out)
        got = {r["id"]: r["status"] for r in d["rules"]}
        check("decision " + name, d["decision"] == exp["decision"],
              d["decision"])
        check("statuses " + name, got == exp["rules"], got)

# Provenance and unavailable sources in the decision JSON.
lic = os.path.join(ROOT, "rules", "sz-food-licence")
rc, out, _ = run("eval", "-r", os.path.join(lic, "ruleset.xml"),
                 os.path.join(lic, "cases", "escalate-stale-catalogue.json"),
                 "--json")
d = json.loads(out)
check("stale listed", d["unavailable_sources"] == ["dzzz"], d)
check("provenance", d["sources"][0]["provenance"]["origin"] ==
      "广东省电子证照系统", d["sources"])

# prefill
verify = os.path.join(ROOT, "tests", "data", "verify.xml")
case = {"application": {"id_number": "44030519900101123X"},
        "sources": {"hukou": {"id_number": "44030519900101123X",
                              "name": "张三", "birth_date": "1990-01-01"},
                    "xuexin": None},
        "context": {"decision_date": "2024-05-01"}}
rc, out, err = run("prefill", "-r", verify, "-", stdin=json.dumps(case))
check("prefill rc", rc == 0, err)
if rc == 0:
    p = json.loads(out)
    check("prefill application", p["application"] == {
        "id_number": "44030519900101123X", "name": "张三",
        "birth_date": "1990-01-01"}, p)
    check("prefill fields", [(f["field"], f["status"]) for f in p["fields"]]
          == [("name", "filled"), ("birth_date", "filled"),
              ("address", "missing")], p["fields"])
rc, _, err = run("prefill", "-r", verify)
check("prefill usage", rc == 2 and "usage" in err, err)

# check DIR and eval -r DIR
VERSION = """<ruleset xmlns="urn:miaopi:rules:1" id="grant" version="%s"
 effective-from="%s"%s><title>g</title>
 <application><field name="age" type="integer"/></application>
 <rules><rule id="age" on-fail="reject" code="AGE"><title>age</title>
 <basis>b</basis><require>application.age le %s</require>
 <message>m</message></rule></rules></ruleset>
"""
with tempfile.TemporaryDirectory() as tmp:
    def put(name, version, start, until, limit):
        with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
            f.write(VERSION % (version, start, ' effective-until="%s"' % until
                               if until else "", limit))
    put("v1.xml", "1", "2024-01-01", "2024-07-01", 35)
    put("v2.xml", "2", "2024-07-01", None, 40)
    rc, out, err = run("check", tmp)
    check("check dir ok", rc == 0 and "2 ruleset versions" in out and
          "grant 1: 2024-01-01 .. 2024-07-01" in out, out + err)
    c = os.path.join(tmp, "case.json")
    for date, want_version, want in (("2024-06-30", "1", "REJECT"),
                                     ("2024-07-01", "2", "APPROVE")):
        with open(c, "w") as f:
            json.dump({"application": {"age": 38},
                       "context": {"decision_date": date}}, f)
        rc, out, err = run("eval", "-r", tmp, c, "--json")
        d = json.loads(out) if rc == 0 else {}
        check("eval dir " + date, rc == 0 and
              d["ruleset"]["version"] == want_version and
              d["decision"] == want, out + err)
    put("v2.xml", "2", "2024-08-01", None, 40)
    rc, out, err = run("check", tmp)
    check("check dir gap", rc == 0 and "warning" in err and
          "[MIAOPI-E061]" in err, err)
    put("v2.xml", "2", "2024-06-01", None, 40)
    rc, out, err = run("check", tmp)
    check("check dir overlap", rc == 1 and "error" in err and
          "[MIAOPI-E060]" in err and "v2.xml" in err, err)
    rc, out, err = run("eval", "-r", tmp, c)
    check("eval dir overlap", rc == 2, err)
with tempfile.TemporaryDirectory() as tmp:
    rc, out, err = run("check", tmp)
    check("check empty dir", rc == 2 and "no rule files" in err, err)

# A directory with two ruleset ids needs --id: a usage error (exit 2)
# that names the ids, said once for a whole batch.
with tempfile.TemporaryDirectory() as tmp:
    rules = os.path.join(tmp, "rules")
    os.mkdir(rules)
    for name in ("grant", "other"):
        with open(os.path.join(rules, name + ".xml"), "w",
                  encoding="utf-8") as f:
            f.write(VERSION.replace('id="grant"', 'id="%s"' % name)
                    % ("1", "2024-01-01", "", 40))
    c = os.path.join(tmp, "case.json")
    line = json.dumps({"application": {"age": 38},
                       "context": {"decision_date": "2024-05-01"}})
    with open(c, "w") as f:
        f.write(line + "\n")
    batch = os.path.join(tmp, "cases.jsonl")
    with open(batch, "w") as f:
        f.write(line + "\n" + line + "\n")
    rc, out, err = run("eval", "-r", rules, c)
    check("eval ambiguous dir", rc == 2 and "grant, other" in err and
          "--id" in err and out == "", (rc, out, err))
    rc, out, err = run("eval", "-r", rules, "--batch", batch)
    check("eval --batch ambiguous dir", rc == 2 and out == "" and
          err.count("--id") == 1, (rc, out, err))
    # With --jobs the run stops as it does on one thread: the lines before
    # the first decidable one are written, none after, nothing is logged,
    # and the message is said once however many workers hit it.
    with open(batch, "w") as f:
        f.write("{bad\n" + (line + "\n") * 3000)
    base = None
    for jobs in ("1", "2", "4"):
        log = os.path.join(tmp, "ambiguous%s.log" % jobs)
        rc, out, err = run("eval", "-r", rules, "--batch", batch, "--log",
                           log, "--jobs", jobs)
        with open(log) as f:
            entries = f.read().splitlines()
        base = base or (rc, out)
        check("eval --batch --jobs %s ambiguous dir" % jobs, rc == 2 and
              (rc, out) == base and out.count("\n") == 1 and
              '"line":1,' in out and err.count("--id") == 1 and
              len(entries) == 1, (rc, out, err, len(entries)))
    rc, out, err = run("eval", "-r", rules, "--id", "other", c, "--json")
    check("eval ambiguous dir --id", rc == 0 and
          json.loads(out)["ruleset"]["id"] == "other", (rc, out, err))

# screen a generated population and compare with the generator's own
# classification.
with tempfile.TemporaryDirectory() as tmp:
    pop = os.path.join(tmp, "pop.jsonl")
    exp = os.path.join(tmp, "pop.expected.jsonl")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "screen",
                                                 "gen_population.py"),
                    "5000", pop, "--seed", "7", "--expected", exp],
                   check=True)
    rc, out, err = run("screen", "-r", os.path.join(
        ROOT, "rules", "sz-elderly-outreach", "ruleset.xml"),
        "-d", "2024-05-01", "--lang", "en", pop)
    check("screen rc", rc == 0, err)
    got = {}
    for line in out.splitlines():
        r = json.loads(line)
        got[r["id"]] = r
    want = {}
    for line in open(exp, encoding="utf-8"):
        r = json.loads(line)
        if r["result"] != "other":
            want[r["id"]] = r
    check("screen same people", set(got) == set(want),
          sorted(set(got) ^ set(want))[:10])
    bad = [i for i in want if i in got and
           (got[i]["result"] != want[i]["result"] or
            got[i].get("rule") != want[i].get("rule"))]
    check("screen same results", not bad, bad[:10])
    nq = sum(1 for r in want.values() if r["result"] == "qualifies")
    nn = len(want) - nq
    check("screen summary", ("%d qualify, %d near misses" % (nq, nn)) in err,
          err)
    check("screen both kinds", nq > 100 and nn > 100, (nq, nn))
    near = next(r for r in got.values() if r["result"] == "near-miss")
    check("screen near-miss shape", near["code"] and near["message"], near)
    # Malformed lines are counted and reported, not fatal.
    with open(pop, "a") as f:
        f.write("{not json\n")
    rc, out, err = run("screen", "-r", os.path.join(
        ROOT, "rules", "sz-elderly-outreach", "ruleset.xml"),
        "-d", "2024-05-01", "-q", pop)
    check("screen bad line", rc == 1 and ":5001:" in err and
          "1 errors" in err and out == "", err)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
