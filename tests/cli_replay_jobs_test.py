#!/usr/bin/env python3
"""miaopi replay --jobs N prints what --jobs 1 prints, byte for byte (the
rate masked), with the same exit status: plain, --json, -q and
--what-if, over a log of a few thousand entries with decisions that
differ, entries under a ruleset that is not given, a blank line, a line
that is not an entry, a head jansson refuses and a torn last line.

usage: cli_replay_jobs_test.py MIAOPI SOURCE_ROOT
Prints "N passed, N failed" and exits 1 on any failure.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

MIAOPI, ROOT = sys.argv[1:3]
RULES = os.path.join(ROOT, "rules", "sz-talent", "ruleset.xml")
CASES = sorted(p for p in glob.glob(os.path.join(ROOT, "rules", "sz-talent",
                                                 "cases", "*.json"))
               if not p.endswith(".expected.json"))
passed = failed = 0


def run(*args):
    p = subprocess.run([MIAOPI, *args], capture_output=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, str(detail)[:2000]))


def masked(out):
    """The output without the rate, which is all that may differ."""
    out = re.sub(rb"\([0-9]+ entries/s\)", b"(N entries/s)", out)
    return re.sub(rb'"entries_per_second":[0-9]+', b'"entries_per_second":N',
                  out)


def write_log(tmp, other):
    """About 3,000 decisions: most under RULES, every 50th case under
    `other` (a ruleset replay is not given), some with a spot check."""
    cases = [json.dumps(json.load(open(c, encoding="utf-8")),
                        ensure_ascii=False) for c in CASES]
    log = os.path.join(tmp, "d.log")
    for part, (rules, n, extra) in enumerate((
            (RULES, 1500, ()), (other, 30, ()),
            (RULES, 1400, ("--spot-check", "0.3")))):
        batch = os.path.join(tmp, "cases%d.jsonl" % part)
        with open(batch, "w", encoding="utf-8") as f:
            for i in range(n):
                f.write(cases[(i * 7 + part) % len(cases)] + "\n")
        rc, _, err = run("eval", "-r", rules, "--batch", batch, "--log", log,
                         "--jobs", "2", *extra)
        check("eval --batch --log part %d" % part, rc in (0, 1), err)
    return log


def damage(log):
    """Decisions that no longer reproduce (an outcome changed in place:
    replay does not check the chain), and lines that are not entries."""
    lines = open(log, "rb").read().split(b"\n")[:-1]
    for i in range(5, len(lines), 97):
        for a, b in ((b'"decision":"REJECT"', b'"decision":"APPROVE"'),
                     (b'"decision":"APPROVE"', b'"decision":"ESCALATE"')):
            if a in lines[i]:
                lines[i] = lines[i].replace(a, b, 1)
                break
    lines[700] = lines[700].replace(b'"decision_date":"',
                                    b'"decision_date":1e99999,"x":"', 1)
    lines.insert(1200, b"")
    lines.insert(2000, b'{"hash":"not an entry"}')
    whole = b"\n".join(lines) + b"\n"
    torn = whole[:-300]  # a crash in the middle of the last write
    nonl = whole[:-1]    # the last entry whole, without its newline
    return whole, torn, nonl


def compare(name, log, *args):
    base = ("replay", log, *args)
    rc1, out1, err1 = run(*base, "--jobs", "1")
    for j in ("2", "4", "0"):
        rc, out, err = run(*base, "--jobs", j)
        check("%s jobs %s same output" % (name, j),
              masked(out) == masked(out1), (out[-300:], out1[-300:]))
        check("%s jobs %s same errors" % (name, j), err == err1,
              (err[-300:], err1[-300:]))
        check("%s jobs %s same exit" % (name, j), rc == rc1, (rc, rc1))
    return rc1, out1, err1


with tempfile.TemporaryDirectory() as tmp:
    other = os.path.join(tmp, "other.xml")
    src = open(RULES, encoding="utf-8").read()
    open(other, "w", encoding="utf-8").write(
        src.replace('<row key="本科">35</row>', '<row key="本科">24</row>'))
    clean = write_log(tmp, other)
    whole, torn, nonl = damage(clean)

    # A clean log first: everything reproduced but the other ruleset's.
    rc, out, err = compare("clean", clean, "-r", RULES)
    check("clean: the other ruleset is missing", rc == 1 and
          b"30 ruleset missing" in out and b" 0 differed" in out, out[-300:])
    rc, out, err = compare("clean both", clean, "-r", RULES, "-r", other)
    check("clean both: all reproduced", rc == 0 and
          b"2930 reproduced, 0 differed, 0 ruleset missing" in out,
          out[-300:])

    for label, data in (("damaged", whole), ("torn", torn),
                        ("no newline", nonl)):
        log = os.path.join(tmp, label.replace(" ", "-") + ".log")
        open(log, "wb").write(data)
        rc, out, err = compare(label, log, "-r", RULES)
        check(label + ": differences found", rc == 1 and
              out.count(b": differs: ") >= 10, out[-300:])
        check(label + ": bad lines named", b"line 1201 is not a log entry"
              in err and b"line 2001 is not a log entry" in err and
              b"line 701 is not a log entry" in err, err)
        last = b"line %d is not a log entry" % whole.count(b"\n")
        check(label + ": torn last line named only when torn",
              (last in err) == (label == "torn"), err[-200:])
        compare(label + " json", log, "-r", RULES, "--json")
        compare(label + " quiet", log, "-r", RULES, "-q")
        compare(label + " json quiet", log, "-r", RULES, "--json", "-q")
        rc, out, err = compare(label + " what-if", log, "--what-if", other)
        check(label + " what-if: changes", b"changed" in out, out[-300:])
        rc, out, err = compare(label + " what-if json", log, "--what-if",
                               other, "--json")
        rep = json.loads(out) if out else {}
        check(label + " what-if json parses",
              rep.get("changed", 0) > 0 and len(rep["items"]) ==
              rep["changed"], out[-300:])
    rc, out, err = run("replay", os.path.join(tmp, "damaged.log"), "-r",
                       RULES, "--json", "--jobs", "3")
    rep = json.loads(out)
    check("json items are a list", rep["differed"] == sum(
        1 for i in rep["items"] if i["kind"] == "differs") and
        rep["ruleset_missing"] == 30, out[-300:])

    # The spellings of --jobs, and a log that is one header.
    rc1, out1, _ = run("replay", clean, "-r", RULES, "-q")
    for form in (("-j", "3"), ("-j3",), ("--jobs=3",), ("--jobs", "auto")):
        rc, out, _ = run("replay", clean, "-r", RULES, "-q", *form)
        check("jobs as " + " ".join(form),
              rc == rc1 and masked(out) == masked(out1), out)
    head = os.path.join(tmp, "head.log")
    open(head, "wb").write(open(clean, "rb").read().split(b"\n")[0] + b"\n")
    rc, out, _ = run("replay", head, "-r", RULES, "--jobs", "4", "--json")
    check("header only", rc == 0 and json.loads(out)["entries"] == 0, out)
    rc, out, err = run("replay", os.path.join(tmp, "nope.log"), "-r", RULES,
                       "--jobs", "2")
    check("no such log", rc == 2 and b"nope.log" in err and out == b"", err)

    # A report that cannot be written is a failed replay.
    for j in ("1", "2"):
        with open("/dev/full", "wb") as full:
            p = subprocess.run([MIAOPI, "replay", clean, "-r", RULES,
                                "--json", "--jobs", j], stdout=full,
                               stderr=subprocess.PIPE, timeout=600)
        check("jobs %s stdout full" % j, p.returncode == 2 and
              b"cannot write the output" in p.stderr, p.stderr[-300:])

# Usage errors.
for bad in ("-1", "257", "x", "", "2x"):
    rc, out, err = run("replay", "x.log", "-r", RULES, "--jobs", bad)
    check("jobs %r refused" % bad, rc == 2 and b"--jobs takes 0 to 256" in err
          and b"usage:" in err, err)
rc, out, err = run("replay", "x.log", "-r", RULES, "--jobs")
check("jobs without a number", rc == 2 and b"a number must follow" in err,
      err)
rc, out, _ = run("replay", "--help")
check("help names --jobs", rc == 0 and b"--jobs N" in out, out)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
