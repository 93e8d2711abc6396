#!/usr/bin/env python3
"""End-to-end tests of the rule author's commands: miaopi test, miaopi
expr, miaopi eval --trace / --batch, and check's diagnostics.

usage: authoring_test.py MIAOPI SOURCE_ROOT [jobs]
(with "jobs", only the tests of eval --batch --jobs)
Prints "N passed, N failed" and exits 1 on any failure.
"""
import glob
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile

MIAOPI, ROOT = sys.argv[1:3]
ROOT = os.path.abspath(ROOT)
RULES = os.path.join(ROOT, "rules", "sz-talent", "ruleset.xml")
CASES = os.path.join(ROOT, "rules", "sz-talent", "cases")
SUITE = os.path.join(ROOT, "rules", "sz-talent", "sz-talent.test.json")
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
        print("FAIL %s %s" % (name, str(detail)[:2000]))


def case(name):
    return os.path.join(CASES, name + ".json")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text if isinstance(text, str) else json.dumps(text))


def last(out):
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""


APPROVE = load(case("approve"))
ID = APPROVE["application"]["id_number"]


# ---------------------------------------------------------------- --jobs
def runb(*args, stdin=None, limit=None):
    """Run with bytes in and out, optionally under a file size limit."""
    def fsize():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    p = subprocess.run([MIAOPI, *args], input=stdin, capture_output=True,
                       timeout=300, preexec_fn=fsize if limit else None)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def counts(err):
    """The summary line without its timing."""
    m = re.search(r"^(\d+ lines?: .*errors?);", err, re.M)
    return m.group(1) if m else err


def masked_log(path):
    """A log's entries without what differs by nature: the chain hashes
    (they cover the rest), times and generated ids."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)["entry"]
            for k in ("prev", "logged_at", "created_at", "id"):
                e.pop(k, None)
            out.append(e)
    return out


def batch_jobs_tests():
    """--jobs N writes what --jobs 1 writes, in the same order."""
    cases = sorted(p for p in glob.glob(os.path.join(CASES, "*.json"))
                   if not p.endswith(".expected.json"))
    good = [json.dumps(load(p), ensure_ascii=False) for p in cases]
    nodate = json.loads(json.dumps(APPROVE))
    del nodate["context"]["decision_date"]
    bad = ['{"application": {"a": 1,}', "[1, 2, 3]", '"a string"',
           json.dumps(nodate), "{not json at all"]
    # Past the library's 8 MiB case limit, and past a batch's 1 MiB.
    huge = json.dumps({"application": {"pad": "x" * (9 << 20)},
                       "context": {"decision_date": "2024-05-01"}})
    rng = random.Random(20240501)
    lines = []
    for _ in range(3000):
        r = rng.random()
        lines.append(rng.choice(bad) if r < 0.04 else
                     "" if r < 0.06 else rng.choice(good))
    lines.insert(1500, huge)
    numbers = [i + 1 for i, l in enumerate(lines) if l]
    bad_numbers = [i + 1 for i, l in enumerate(lines) if l in bad or
                   l is huge]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mixed.jsonl")
        with open(path, "wb") as f:
            f.write(data)
        base = ("eval", "-r", RULES, "--batch", path)
        rc1, out1, err1 = runb(*base, "--jobs", "1")
        recs = [json.loads(l) for l in out1.splitlines()]
        check("jobs 1 exit", rc1 == 1, err1)
        check("jobs 1 line numbers", [r["line"] for r in recs] == numbers,
              [r["line"] for r in recs][:20])
        check("jobs 1 error lines", [r["line"] for r in recs
                                     if "error" in r] == bad_numbers,
              [r for r in recs if "error" in r][:5])
        # Any two records swapped would change the bytes compared below.
        swapped = out1.splitlines(keepends=True)
        swapped[100], swapped[101] = swapped[101], swapped[100]
        check("a swap is seen", b"".join(swapped) != out1)
        for j in ("2", "4", "0", "auto", "256"):
            rc, out, err = runb(*base, "--jobs", j)
            check("jobs %s same output" % j, out == out1, len(out))
            check("jobs %s same exit" % j, rc == rc1, err)
            check("jobs %s same counts" % j, counts(err) == counts(err1),
                  (err, err1))
        for form in (("-j", "3"), ("-j3",), ("--jobs=3",)):
            rc, out, _ = runb(*base, *form)
            check("jobs as " + " ".join(form), rc == rc1 and out == out1)
        rc, out, err = runb("eval", "-r", RULES, "--batch", "-", "--jobs",
                            "2", stdin=data)
        check("jobs 2 stdin", rc == rc1 and out == out1 and
              counts(err) == counts(err1), err)
        # No line: no output, a summary of zero lines.
        rc, out, err = runb("eval", "-r", RULES, "--batch", "-", "-j", "2",
                            stdin=b"")
        check("jobs 2 empty input", rc == 0 and out == b"" and
              "0 lines: 0 APPROVE" in err, err)

        # The log: entries in input order, the same as --jobs 1's.
        logs, outs = {}, {}
        # (64 workers with a log take batches of 64 lines.)
        for j in ("1", "2", "4", "64"):
            logs[j] = os.path.join(tmp, "jobs%s.log" % j)
            rc, out, err = runb(*base, "--jobs", j, "--log", logs[j])
            outs[j] = re.sub(rb',"id":"[0-9a-f-]{36}"', b"", out)
            # Logging gives each decision a random id, in its output
            # record too; without the ids the output is as without a log.
            ndecided = sum(1 for l in lines if l in good)
            check("jobs %s log output" % j, outs[j] == out1 and
                  len(out) - len(outs[j]) == len(',"id":""') * ndecided +
                  36 * ndecided, len(out) - len(outs[j]))
            check("jobs %s log exit" % j, rc == rc1, err)
            rc, out, err = runb("verify", logs[j])
            check("jobs %s log verifies" % j, rc == 0 and b"intact" in out,
                  (out, err))
            rc, out, err = runb("replay", logs[j], "-r", RULES)
            check("jobs %s log replays" % j, rc == 0 and
                  b" reproduced, 0 differed" in out, (out, err))
        first = masked_log(logs["1"])
        check("jobs 1 log holds the decided lines in order",
              [e.get("case") for e in first[1:]] ==
              [json.loads(l) for l in lines
               if l in good], len(first))
        for j in ("2", "4", "64"):
            check("jobs %s log entries" % j, masked_log(logs[j]) == first)
        # With a given decision id nothing differs but times and hashes.
        for j in ("1", "2"):
            rc, out, _ = runb(*base, "--jobs", j, "--decision-id", "D",
                              "--log", os.path.join(tmp, "d%s.log" % j))
            outs[j] = (rc, out)
        check("jobs 2 decision id output", outs["2"] == outs["1"])

        # A log that cannot grow: every line after the failure is an error
        # record, at the same line as with --jobs 1.
        small = []
        for j in ("1", "2"):
            log = os.path.join(tmp, "small%s.log" % j)
            small.append(runb(*base, "--jobs", j, "--decision-id", "D",
                              "--log", log, limit=200000)[:2])
        check("full log same as jobs 1", small[0] == small[1] and
              small[0][0] == 1 and b"cannot write the log" in small[0][1] and
              b"earlier write" in small[0][1], small[0][1][-300:])

        # Each output record carries the id of its log entry, in order
        # (the id is fixed before the entry is appended, with --jobs).
        for j in ("1", "2"):
            rc, out, err = runb(*base, "--jobs", j, "--log", logs[j] + ".2")
            shown = [r["id"] for r in map(json.loads, out.splitlines())
                     if "id" in r]
            with open(logs[j] + ".2", "rb") as f:
                logged = [json.loads(l)["entry"].get("id") for l in
                          f.read().splitlines()[1:]]
            check("jobs %s output ids are the log's" % j,
                  shown == logged and len(shown) == ndecided,
                  (shown[:2], logged[:2]))

        # Standard output that cannot be written: the run stops with
        # exit 2 and says so, and does not go on logging decisions that
        # nobody reads (at most the batches already under way).
        for j in ("1", "2"):
            log = os.path.join(tmp, "full%s.log" % j)
            with open("/dev/full", "wb") as full:
                p = subprocess.run([MIAOPI, *base, "--jobs", j, "--log", log],
                                   stdout=full, stderr=subprocess.PIPE,
                                   timeout=300)
            with open(log, "rb") as f:
                entries = len(f.read().splitlines()) - 1
            check("jobs %s stdout full: exit 2" % j, p.returncode == 2 and
                  b"cannot write the output" in p.stderr, p.stderr[-300:])
            check("jobs %s stdout full: logging stops" % j,
                  entries < 2 * 2 * 256 + 256, entries)

        # Usage errors.
        for j in ("-1", "x", "257", "", "2x"):
            rc, out, err = runb(*base, "--jobs", j)
            check("jobs %r usage error" % j, rc == 2 and out == b"" and
                  "usage:" in err, err)
        rc, _, err = runb(*base, "--jobs")
        check("jobs needs a number", rc == 2 and "usage:" in err, err)
        rc, _, err = runb("eval", "-r", RULES, case("approve"), "-j", "2")
        check("jobs needs batch", rc == 2 and "--batch" in err, err)


if sys.argv[3:] == ["jobs"]:
    # The "threads" suite runs just these under ThreadSanitizer.
    batch_jobs_tests()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)

# ---------------------------------------------------------------- test
suites = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(ROOT, "rules"))
          for f in files if f.endswith(".test.json")]
ncases = sum(len(load(s)["cases"]) for s in suites)
rc, out, err = run("test", os.path.join(ROOT, "rules"))
check("test rules/ passes", rc == 0 and len(suites) >= 4 and
      last(out) == "%d passed, 0 failed" % ncases, out + err)
rc, out, _ = run("test", SUITE, "--verbose")
check("test verbose lists passing", rc == 0 and "ok   approve (APPROVE)" in
      out and "ok   reject-age (REJECT)" in out, out)
rc, out, _ = run("test", "--filter", "reject-*", SUITE, "-v")
oks = [l for l in out.splitlines() if l.startswith("ok")]
check("test filter glob", rc == 0 and oks and
      all(" reject-" in l for l in oks) and
      last(out) == "%d passed, 0 failed" % len(oks), out)
rc, out, _ = run("test", "-f", "leap", SUITE)
check("test filter substring", rc == 0 and last(out) == "1 passed, 0 failed",
      out)
rc, out, _ = run("test", "--coverage", SUITE)
check("test coverage", rc == 0 and "coverage of sz-talent" in out and
      "never failed (0): none" in out and "never unknown (" in out, out)
for args in ([], ["--bogus", SUITE], ["--filter"], ["--color=sometimes",
                                                      SUITE]):
    rc, _, err = run("test", *args)
    check("test usage " + " ".join(args), rc == 2 and "usage:" in err, err)
rc, out, _ = run("test", "--help")
check("test help", rc == 0 and "usage: miaopi test" in out)

with tempfile.TemporaryDirectory() as tmp:
    def suite(cases, name="s.test.json", ruleset=RULES, where=tmp):
        p = os.path.join(where, name)
        write(p, {"ruleset": ruleset, "cases": cases})
        return p

    # A failing case: expected vs got, every rule's status.
    p = suite([{"name": "wrong", "case": case("reject-age"),
                "expect": {"decision": "APPROVE", "fail": []}}])
    rc, out, _ = run("test", p)
    check("test failing exit", rc == 1, out)
    check("test failing block", "FAIL wrong" in out and
          "decision: expected APPROVE, got REJECT" in out and
          "rule age-limit: fail, but expect.fail does not list it" in out and
          "rules:" in out and "fail            age-limit [AGE_OVER_LIMIT]" in
          out and "pass            id-number-valid" in out, out)
    check("test failing last line", last(out) == "0 passed, 1 failed", out)

    # Unknown statuses and reasons are compared too.
    p = suite([{"name": "unk", "case": case("escalate-no-xuexin"),
                "expect": {"decision": "ESCALATE",
                           "unknown": ["xuexin-identity"],
                           "reasons": ["NOPE"]}}])
    rc, out, _ = run("test", p)
    check("test unknown/reasons mismatch", rc == 1 and
          "degree-verified: unknown, but expect.unknown does not list it" in
          out and "reasons: expected [NOPE], got [" in out and
          "(source xuexin is unavailable)" in out, out)

    # A misspelt rule id is a failure with a suggestion, never ignored.
    p = suite([{"name": "typo", "case": case("reject-age"),
                "expect": {"decision": "REJECT", "fail": ["age-limt"]}}])
    rc, out, _ = run("test", p)
    check("test unknown rule", rc == 1 and
          "no rule 'age-limt'; did you mean 'age-limit'?" in out, out)

    # Expected errors; inline cases; expect from a file; per-case ruleset.
    nodate = json.loads(json.dumps(APPROVE))
    del nodate["context"]["decision_date"]
    exp = os.path.join(tmp, "approve.expected.json")
    write(exp, load(os.path.join(CASES, "approve.expected.json")))
    p = suite([
        {"name": "ecase", "case": nodate, "expect": {"error": "MIAOPI_ECASE"}},
        {"name": "from-file", "case": case("approve"),
         "expect": "approve.expected.json"},
        {"name": "own-ruleset", "ruleset": RULES, "case": APPROVE,
         "expect": {"decision": "APPROVE"}},
        {"name": "bad-json-case", "case": {"application": []},
         "expect": {"error": "MIAOPI_ECASE"}},
    ])
    rc, out, err = run("test", p, "-v")
    check("test errors/inline/file", rc == 0 and
          last(out) == "4 passed, 0 failed", out + err)
    p = suite([{"name": "wants-error", "case": APPROVE,
                "expect": {"error": "MIAOPI_ECASE"}},
               {"name": "surprise-error", "case": nodate,
                "expect": {"decision": "APPROVE"}}])
    rc, out, _ = run("test", p)
    check("test error mismatch", rc == 1 and
          "expected error MIAOPI_ECASE, got APPROVE" in out and
          "expected APPROVE, got error MIAOPI_ECASE" in out and
          last(out) == "0 passed, 2 failed", out)

    # Suite problems exit 2 and say where.
    bad = os.path.join(tmp, "bad.test.json")
    write(bad, '{"ruleset": "x.xml", "cases": [}')
    rc, out, err = run("test", bad)
    check("test invalid suite json", rc == 2 and "bad.test.json" in err and
          "line 1" in err, err)
    p = suite([{"name": "k", "case": APPROVE,
                "expext": {"decision": "APPROVE"}}])
    rc, out, err = run("test", p)
    check("test unknown key", rc == 2 and
          "unknown key 'expext' in a case; did you mean 'expect'?" in err,
          err)
    p = suite([{"name": "m", "case": "nope.json",
                "expect": {"decision": "APPROVE"}}])
    rc, out, err = run("test", p)
    check("test missing case file", rc == 2 and "nope.json" in err, err)
    p = suite([{"name": "r", "case": APPROVE,
                "expect": {"decision": "MAYBE"}}])
    rc, out, err = run("test", p)
    check("test bad decision word", rc == 2 and "APPROVE, REJECT or "
          "ESCALATE" in err, err)
    p = suite([], ruleset="missing.xml")
    rc, out, err = run("test", p)
    check("test missing ruleset", rc == 2 and "missing.xml" in err, err)
    broken = os.path.join(tmp, "broken.xml")
    write(broken, open(RULES, encoding="utf-8").read().replace(
        "application.degree in eligible_degrees</require>",
        "application.degre in eligible_degrees</require>"))
    p = suite([{"case": APPROVE, "expect": {"decision": "APPROVE"}}],
              ruleset=broken)
    rc, out, err = run("test", p)
    check("test broken ruleset", rc == 2 and "did you mean 'degree'" in err
          and "^~~~~" in err, err)
    rc, out, err = run("test", os.path.join(tmp, "none.test.json"))
    check("test missing suite", rc == 2 and "none.test.json" in err, err)

    # Directory discovery: *.test.json only, recursively, in name order.
    d = os.path.join(tmp, "lib")
    os.makedirs(os.path.join(d, "b", "c"))
    os.makedirs(os.path.join(d, ".hidden"))
    good = [{"name": "ok", "case": case("approve"),
             "expect": {"decision": "APPROVE"}}]
    suite(good, "one.test.json", where=d)
    suite(good, "two.test.json", where=os.path.join(d, "b", "c"))
    suite(good, "x.test.json", where=os.path.join(d, ".hidden"))
    write(os.path.join(d, "b", "other.json"), {"not": "a suite"})
    rc, out, err = run("test", d)
    check("test directory", rc == 0 and last(out) == "2 passed, 0 failed",
          out + err)

# ---------------------------------------------------------------- expr
rc, out, _ = run("expr", 'age(date("1990-05-01"), date("2024-05-01"))')
check("expr value", rc == 0 and out == "34 (integer)\n", out)
rc, out, _ = run("expr", "--json", 'id_sex("11010519491231002X")')
j = json.loads(out) if rc == 0 else {}
check("expr json", j.get("value") == '"女"' and j.get("type") == "string"
      and j.get("known") is True, out)
rc, out, _ = run("expr", "-1 + 2")
check("expr negative", rc == 0 and out == "1 (integer)\n", out)
rc, out, _ = run("expr", 'add_days(context.decision_date, 1)')
check("expr no date is unknown", rc == 0 and out.startswith(
    "UNKNOWN (date): context.decision_date is missing"), out)
rc, out, _ = run("expr", "-c", case("approve"),
                 "add_days(context.decision_date, 1)")
check("expr date from case", rc == 0 and out == "2024-05-02 (date)\n", out)
rc, out, _ = run("expr", "-r", RULES, "-c", case("escalate-no-xuexin"),
                 "--json", "xuexin.degree == application.degree")
j = json.loads(out) if rc == 0 else {}
check("expr unknown why", j.get("known") is False and
      j["unknown"]["reason"] == "source xuexin is unavailable" and
      j["unknown"]["path"] == "xuexin.degree", out)
rc, out, _ = run("expr", "-r", RULES, "-c", case("approve"),
                 "age_limit[application.degree]")
check("expr table", rc == 0 and out == "35 (integer)\n", out)
rc, out, _ = run("expr", "-r", RULES, "-c", case("approve"),
                 "upper(application.id_number)")
check("expr masks personal data", rc == 0 and ID not in out and
      "4403**********" in out, out)
rc, out, _ = run("expr", "-r", RULES, "eligible_degrees")
check("expr constant", out == '["本科", "硕士", "博士"] (list of string)\n',
      out)
rc, out, _ = run("expr", "-r", RULES, "application.degree")
check("expr no case", out.startswith("UNKNOWN (string): application.degree"
                                     " is missing"), out)
rc, out, err = run("expr", "-r", RULES, 'application.degre == "本科"')
check("expr compile error", rc == 1 and not out and
      "<expr>:1:13: error: 'application' has no field 'degre'; did you "
      "mean 'degree'? [MIAOPI-E012]" in err and
      "      |             ^~~~~" in err, err)
rc, out, err = run("expr", "--color=never", "1 +")
check("expr syntax error", rc == 1 and "[MIAOPI-E011]" in err and
      "\033[" not in err, err)
rc, out, err = run("expr", "--color=always", "agee(1)")
check("expr colour", rc == 1 and "\033[" in err and "did you mean 'age'" in
      err, err)
for text, msg in (
        ('age_limit("本科")', "'age_limit' is a table: look a key up with "
                              "age_limit[KEY]"),
        ("eligible_degrees(1)", "'eligible_degrees' is a constant, not a "
                                "function"),
        ('age_limt["本科"]', "did you mean 'age_limit'?"),
        ("eligble_degrees", "did you mean 'eligible_degrees'?"),
        ("hukuo.name", "did you mean 'hukou'?"),
        ("id_valid", "'id_valid' is a function; call it as id_valid(...)")):
    rc, out, err = run("expr", "-r", RULES, text)
    check("expr suggests: " + text, rc == 1 and msg in err, err)
rc, out, err = run("expr", "--color=never",
                   'matches("a1234567", "\\\\d{6}")')
check("expr warns unanchored regex", rc == 0 and out == "true (boolean)\n"
      and "<expr>:1:21: warning:" in err and "[MIAOPI-E031]" in err and
      "|" + " " * 21 + "^" in err, out + err)
rc, out, err = run("expr", 'matches("123456", "^\\\\d{6}$")')
check("expr anchored regex quiet", rc == 0 and not err, err)
rc, out, err = run("expr", "degree")
check("expr empty scope", rc == 1 and "unknown name 'degree'" in err, err)
for args in ([], ["1", "2"], ["-r"], ["--bogus", "1"]):
    rc, _, err = run("expr", *args)
    check("expr usage " + " ".join(args), rc == 2 and "usage:" in err, err)
rc, _, err = run("expr", "-r", "/nonexistent.xml", "1")
check("expr missing rules", rc == 2 and "nonexistent" in err, err)
rc, _, err = run("expr", "-c", "/nonexistent.json", "1")
check("expr missing case", rc == 2 and "nonexistent" in err, err)
with open(case("approve"), encoding="utf-8") as f:
    rc, out, _ = run("expr", "-c", "-", "context.decision_date",
                     stdin=f.read())
check("expr case stdin", rc == 0 and out == "2024-05-01 (date)\n", out)

# ---------------------------------------------------------------- trace
rc, out, err = run("eval", "-r", RULES, case("escalate-no-xuexin"),
                   "--trace", "--lang", "en")
check("trace text", rc == 0 and "\nTrace:\n" in out and
      "  degree-verified: unknown" in out and
      "→ UNKNOWN (source xuexin is unavailable)" in out and
      "age_limit[application.degree]  → 35" in out, out + err)
nid = load(case("escalate-no-xuexin"))["application"]["id_number"]
check("trace masks", nid not in out and "4403**********" in out, out)
rc, out, _ = run("eval", "-r", RULES, case("approve"))
check("no trace by default", "Trace:" not in out, out)

all_cases = sorted(p for p in glob.glob(os.path.join(CASES, "*.json"))
                   if not p.endswith(".expected.json"))
na_checked = 0
for p in all_cases:
    rc, out, _ = run("eval", "-r", RULES, p, "--json", "--trace")
    d = json.loads(out)
    steps = d.get("trace", [])
    check("trace json " + p, rc == 0 and steps and
          set(steps[0]) >= {"rule", "part", "depth", "start", "length",
                            "expr", "value", "type", "known"}, steps[:1])
    raw = load(p)
    for secret in (raw["application"]["id_number"], raw["application"][
            "name"]):
        check("trace json masked " + p, secret not in out)
    status = {r["id"]: r["status"] for r in d["rules"]}
    # Every rule has its top-level steps; not-applicable rules stop at when.
    for rid, st in status.items():
        tops = {s["part"]: s for s in steps if s["rule"] == rid and
                s["depth"] == 0}
        when = tops.get("when")
        if st == "not-applicable":
            na_checked += 1
            check("trace n/a " + rid, set(tops) == {"when"} and
                  when["value"] == "false", tops)
        elif when and when["value"] != "true":
            check("trace unknown when " + rid, set(tops) == {"when"} and
                  st == "unknown", tops)
        else:
            check("trace require " + rid, "require" in tops, tops)
    # Spans: a step's text is its parent's text at [start, start+length).
    tops = {}
    for s in steps:
        if s["depth"] == 0:
            tops[(s["rule"], s["part"])] = s
        else:
            top = tops[(s["rule"], s["part"])]
            src = top["expr"].encode()
            base = top["start"]
            piece = src[s["start"] - base:s["start"] - base + s["length"]]
            check("trace span", piece.decode() == s["expr"], (s, top))
        if not s["known"]:
            check("trace unknown reason", s.get("unknown"), s)
check("trace saw a not-applicable rule", na_checked > 0)
with tempfile.TemporaryDirectory() as tmp:
    # A long chain is traced to a bounded depth and number of steps (the
    # loader refuses chains deeper than 256 operators, so 250 terms).
    deep = os.path.join(tmp, "deep.xml")
    write(deep, open(RULES, encoding="utf-8").read().replace(
        'shebao.months_paid ge 1</require>',
        " + ".join(["shebao.months_paid"] * 250) + " ge 1</require>"))
    rc, out, err = run("eval", "-r", deep, case("approve"), "--json",
                       "--trace")
    steps = [s for s in json.loads(out)["trace"]
             if s["rule"] == "shebao-shenzhen"] if rc == 0 else []
    check("trace bounded", rc == 0 and steps and
          max(s["depth"] for s in steps) <= 24 and len(steps) <= 256,
          err)

# ---------------------------------------------------------------- batch
with tempfile.TemporaryDirectory() as tmp:
    lines, expected = [], []
    for p in all_cases:
        lines.append(json.dumps(load(p), ensure_ascii=False))
        rc, out, _ = run("eval", "-r", RULES, p, "--json")
        expected.append(json.loads(out)["decision"])
    nodate = json.loads(json.dumps(APPROVE))
    del nodate["context"]["decision_date"]
    mixed = lines[:3] + ['{"application": {"a": 1,}', "",
                         json.dumps(nodate)] + lines[3:]
    path = os.path.join(tmp, "cases.jsonl")
    write(path, "\n".join(mixed) + "\n")
    rc, out, err = run("eval", "-r", RULES, "--batch", path)
    recs = [json.loads(l) for l in out.splitlines()]
    check("batch exit with errors", rc == 1, err)
    check("batch one record per non-blank line", len(recs) == len(mixed) - 1,
          len(recs))
    check("batch line numbers", [r["line"] for r in recs] ==
          [i + 1 for i, l in enumerate(mixed) if l], [r["line"] for r in recs])
    decided = [r["decision"] for r in recs if "decision" in r]
    check("batch order and decisions", decided == expected,
          (decided, expected))
    errs = [r for r in recs if "error" in r]
    check("batch error records", len(errs) == 2 and errs[0]["line"] == 4 and
          errs[0]["code"] == "MIAOPI_ECASE" and errs[1]["line"] == 6 and
          "decision_date" in errs[1]["error"], errs)
    n = {k: expected.count(k) for k in ("APPROVE", "REJECT", "ESCALATE")}
    check("batch summary", ("%d lines: %d APPROVE, %d REJECT, %d ESCALATE, 2 "
                            "errors" % (len(mixed), n["APPROVE"], n["REJECT"],
                                        n["ESCALATE"])) in err and
          "decisions/s" in err and "\r" not in err, err)
    check("batch masks", ID not in out)
    good = os.path.join(tmp, "good.jsonl")
    write(good, "\n".join(lines) + "\n")
    rc, out, err = run("eval", "-r", RULES, "--batch", good, "--trace")
    recs = [json.loads(l) for l in out.splitlines()]
    check("batch all good", rc == 0 and len(recs) == len(lines) and
          all(r.get("trace") for r in recs), err)
    rc, out, err = run("eval", "-r", RULES, "--batch", "-",
                       stdin="\n".join(lines))
    check("batch stdin", rc == 0 and len(out.splitlines()) == len(lines),
          err)
    rc, _, err = run("eval", "-r", RULES, "--batch", path, case("approve"))
    check("batch with case file is usage error", rc == 2, err)
    rc, _, err = run("eval", "-r", RULES, "--batch",
                     os.path.join(tmp, "nope.jsonl"))
    check("batch missing file", rc == 2 and "nope.jsonl" in err, err)
batch_jobs_tests()

# ---------------------------------------------------------------- check
WARN_XML = """<?xml version="1.0" encoding="UTF-8"?>
<ruleset xmlns="urn:miaopi:rules:1" id="warn" version="1" effective-from="2024-01-01">
  <title xml:lang="zh-CN">警告</title>
  <title xml:lang="en">Warnings</title>
  <application>
    <field name="id_number" type="string" pii="id-number"/>
    <field name="unused_field" type="string"/>
  </application>
  <rules>
    <rule id="id-format" on-fail="reject" code="ID_BAD">
      <title xml:lang="zh-CN">号码格式</title>
      <title xml:lang="en">ID format</title>
      <basis>test</basis>
      <require>matches(application.id_number, "\\\\d{17}[0-9X]")</require>
      <message xml:lang="zh-CN">不符合</message>
      <message xml:lang="en">Not met</message>
    </rule>
    <rule id="anchored" on-fail="reject" code="ID_OK">
      <title xml:lang="zh-CN">号码格式</title>
      <title xml:lang="en">ID format</title>
      <basis>test</basis>
      <require>matches(application.id_number, "^\\\\d{17}[0-9X]$")</require>
      <message xml:lang="zh-CN">不符合</message>
      <message xml:lang="en">Not met</message>
    </rule>
    <rule id="always" on-fail="reject" code="ID_BAD">
      <title xml:lang="zh-CN">恒真</title>
      <title xml:lang="en">Always</title>
      <basis>test</basis>
      <require>1 lt 2</require>
      <message xml:lang="zh-CN">不符合</message>
      <message xml:lang="en">Not met</message>
    </rule>
    <rule id="never" on-fail="reject" code="NEVER">
      <title xml:lang="zh-CN">不适用</title>
      <title xml:lang="en">Never</title>
      <basis>test</basis>
      <when>false</when>
      <require>true</require>
      <message xml:lang="zh-CN">不符合</message>
    </rule>
  </rules>
</ruleset>
"""
with tempfile.TemporaryDirectory() as tmp:
    w = os.path.join(tmp, "w.xml")
    write(w, WARN_XML)
    rc, out, err = run("check", w)
    check("warnings do not fail", rc == 0 and "ok: warn 1" in out, err)
    for wid, text in (
            ("E028", "application field 'unused_field' is declared but no "
                    "rule or message uses it"),
            ("E029", "rule 'always' can never fail"),
            ("E029", "rule 'never' never applies"),
            ("E030", "reason code 'ID_BAD' is also reported by rule "
                    "'id-format'"),
            ("E031", "not anchored at its start or end"),
            ("E027", "rule 'never' has no en message")):
        check("warning " + wid + " " + text,
              any(text in l and "warning:" in l and
                  ("[MIAOPI-%s]" % wid) in l for l in err.splitlines()),
              err)
    check("anchored regex not warned", err.count("[MIAOPI-E031]") == 1, err)
    check("warning points at the value", "w.xml:7:18: warning" in err and
          "^~~~~~~~~~~~" in err, err)
    rc, out, err = run("check", "--werror", w)
    check("werror fails", rc == 1 and "treated as errors (--werror)" in err,
          err)
    rc, out, err = run("check", "--werror", RULES)
    check("werror on bundled ruleset", rc in (0, 1))
    bad = os.path.join(tmp, "bad.xml")
    write(bad, open(RULES, encoding="utf-8").read().replace(
        "application.degree in eligible_degrees</require>",
        "application.degre in eligible_degrees</require>"))
    rc, out, err = run("check", "--color=never", bad)
    lines = err.splitlines()
    i = next((k for k, l in enumerate(lines) if "[MIAOPI-E012]" in l), -1)
    check("caret diagnostic", rc == 1 and i >= 0 and i + 2 < len(lines) and
          "application.degre in" in lines[i + 1] and
          lines[i + 2].rstrip().endswith("^~~~~") and "\033[" not in err,
          err)
    if i >= 0 and i + 2 < len(lines):
        col = int(lines[i].split(":")[2])
        caret = lines[i + 2].index("^") - lines[i + 2].index("|") - 2
        src = lines[i + 1][lines[i + 1].index("|") + 2:]
        check("caret under the column", caret == col - 1 and
              src[caret:].startswith("degre"), (col, caret, src))
    rc, out, err = run("check", "--color=always", bad)
    check("colour always", "\033[1;31merror" in err, err)
    rc, out, err = run("check", bad)
    check("colour auto off when piped", "\033[" not in err, err)
    rc, _, err = run("check", "--color=purple", bad)
    check("colour bad word", rc == 2 and "usage:" in err, err)
    rc, out, err = run("eval", "-r", bad, case("approve"))
    check("eval load error has caret", rc == 2 and "[MIAOPI-E012]" in err and
          "^~~~~" in err and not out, err)
    cjk = os.path.join(tmp, "cjk.xml")
    write(cjk, open(RULES, encoding="utf-8").read().replace(
        'xuexin.study_mode == "全日制"</require>',
        '"全日制" == xuexin.study_mod</require>'))
    rc, out, err = run("check", "--color=never", cjk)
    lines = err.splitlines()
    i = next((k for k, l in enumerate(lines) if "[MIAOPI-E012]" in l), -1)
    # Chinese characters take two terminal cells: the caret stays under
    # the name it points at.
    check("caret after CJK text", i >= 0 and lines[i + 2].index("^") ==
          lines[i + 1].index("study_mod") + 3, err)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
