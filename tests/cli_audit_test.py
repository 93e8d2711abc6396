#!/usr/bin/env python3
"""End-to-end tests of the audit commands: eval --log, verify, replay,
replay --what-if and log redact. The chain is also checked by an
independent implementation here, from docs/audit-log.md alone.

usage: cli_audit_test.py MIAOPI SOURCE_ROOT
Prints "N passed, N failed" and exits 1 on any failure.
"""
import glob
import hashlib
import hmac
import json
import os
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
    p = subprocess.run([MIAOPI, *args], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, str(detail)[:2000]))


def independent_verify(path, key=None):
    """Verify a log as docs/audit-log.md describes, without miaopi."""
    prev = "0" * 64
    alg = "sha256"
    with open(path, "rb") as f:
        raw = f.read()
    lines = raw.split(b"\n")
    if lines[-1] != b"":
        return "torn"
    for n, line in enumerate(lines[:-1]):
        head = b'{"hash":"'
        if not line.startswith(head) or line[73:83] != b'","entry":':
            return "malformed at %d" % n
        stated = line[9:73].decode()
        entry = line[83:-1]
        obj = json.loads(entry)
        if n == 0:
            alg = obj["alg"]
        if alg == "sm3":
            return "ok-sm3"  # hashlib may lack SM3; trust miaopi there
        digest = (hmac.new(key, entry, hashlib.sha256).hexdigest() if key
                  else hashlib.sha256(entry).hexdigest())
        if digest != stated:
            return "hash mismatch at %d" % n
        if obj["seq"] != n or obj["prev"] != prev:
            return "chain broken at %d" % n
        prev = stated
    return "ok"


def rechain(path, edit):
    """Apply edit(entry_dict) to every decision entry and re-hash the
    chain: a consistent log whose logged decisions are wrong."""
    out, prev = [], "0" * 64
    for n, line in enumerate(open(path, "rb").read().split(b"\n")[:-1]):
        obj = json.loads(line[83:-1])
        if obj.get("type") == "decision":
            edit(obj)
        obj["prev"] = prev
        entry = json.dumps(obj, ensure_ascii=False,
                           separators=(",", ":")).encode()
        prev = hashlib.sha256(entry).hexdigest()
        out.append(b'{"hash":"' + prev.encode() + b'","entry":' + entry +
                   b"}")
    open(path, "wb").write(b"\n".join(out) + b"\n")


with tempfile.TemporaryDirectory() as tmp:
    log = os.path.join(tmp, "d.log")
    for c in CASES:
        rc, out, err = run("eval", "-r", RULES, c, "--log", log, "--json",
                           "--spot-check", "0.5")
        check("eval --log " + os.path.basename(c), rc == 0, err)
    rc, out, err = run("verify", log)
    check("verify intact", rc == 0 and "intact: %d entries" %
          (len(CASES) + 1) in out, out + err)
    check("independent verify", independent_verify(log) == "ok",
          independent_verify(log))
    rc, out, err = run("verify", "--json", log)
    check("verify json", rc == 0 and json.loads(out)["problem"] == "intact",
          out)

    # replay reproduces everything
    rc, out, err = run("replay", log, "-r", os.path.join(ROOT, "rules"))
    check("replay all", rc == 0 and "%d reproduced, 0 differed" % len(CASES)
          in out, out + err)
    rc, out, err = run("replay", log, "-r", RULES, "--json")
    rep = json.loads(out) if rc == 0 else {}
    check("replay json", rep.get("reproduced") == len(CASES) and
          rep.get("differed") == 0, out + err)

    # a ruleset that is not supplied is reported, not guessed
    other = os.path.join(tmp, "other.xml")
    src = open(RULES, encoding="utf-8").read()
    open(other, "w", encoding="utf-8").write(
        src.replace('<row key="本科">35</row>', '<row key="本科">24</row>'))
    rc, out, err = run("replay", log, "-r", other)
    check("replay missing ruleset", rc == 1 and
          "%d ruleset missing" % len(CASES) in out and "was not given" in out,
          out + err)

    # what-if: exactly the cases whose decision changes
    expect = set()
    for c in CASES:
        a = json.loads(run("eval", "-r", RULES, c, "--json")[1])["decision"]
        b = json.loads(run("eval", "-r", other, c, "--json",
                           "--ignore-effective-dates")[1])["decision"]
        if a != b:
            expect.add((os.path.basename(c), a, b))
    check("what-if has changes", len(expect) > 0, expect)
    rc, out, err = run("replay", log, "--what-if", other, "--json")
    rep = json.loads(out) if rc == 0 else {}
    items = rep.get("items", [])
    check("what-if count", rep.get("changed") == len(expect) and
          len(items) == len(expect), out + err)
    check("what-if rules named",
          all(any(r["rule"] == "age-limit" for r in i["rules"])
              for i in items), items)
    m = rep.get("matrix", {})
    check("what-if matrix", sum(sum(v.values()) for v in m.values()) ==
          len(CASES) and m.get("APPROVE", {}).get("REJECT") ==
          sum(1 for e in expect if e[1:] == ("APPROVE", "REJECT")), m)
    rc, out, err = run("replay", log, "--what-if", other)
    check("what-if text", rc == 0 and "from \\ to" in out and
          "age-limit pass→fail" in out, out + err)

    # replay notices a logged decision that the rules do not reproduce
    forged = os.path.join(tmp, "forged.log")
    open(forged, "wb").write(open(log, "rb").read())

    def flip(e):
        if e["decision"] == "REJECT":
            e["decision"] = "APPROVE"
    rechain(forged, flip)
    check("forged chain verifies", run("verify", forged)[0] == 0)
    rc, out, err = run("replay", forged, "-r", RULES)
    check("replay differs", rc == 1 and "differs: logged APPROVE, replayed "
          "REJECT" in out, out + err)

    # tampering through the CLI: exit 1 naming the entry
    lines = open(log, "rb").read().split(b"\n")
    bad = os.path.join(tmp, "bad.log")
    open(bad, "wb").write(b"\n".join(lines[:3] + lines[4:]))
    rc, out, err = run("verify", bad)
    check("verify missing", rc == 1 and "missing" in out and
          "(entry 3)" in out, out + err)
    open(bad, "wb").write(b"\n".join(lines)[:-40])
    rc, out, err = run("verify", bad)
    check("verify torn", rc == 1 and "torn" in out, out)
    check("verify io error", run("verify", os.path.join(tmp, "nope"))[0] == 2)

    # keyed and SM3 logs
    key = os.path.join(tmp, "key")
    open(key, "w").write("correct horse\n")
    wrong = os.path.join(tmp, "wrong")
    open(wrong, "w").write("battery staple\n")
    klog = os.path.join(tmp, "k.log")
    for c in CASES[:3]:
        run("eval", "-r", RULES, c, "--log", klog, "--log-key", key,
            "--log-sm3")
    rc, out, _ = run("verify", "--key", key, klog)
    check("verify keyed sm3", rc == 0 and "hmac-sm3" in out, out)
    rc, out, _ = run("verify", "--key", wrong, klog)
    check("verify wrong key", rc == 1 and "wrong-key" in out, out)
    rc, out, _ = run("verify", klog)
    check("verify key required", rc == 1 and "key-required" in out, out)
    hlog = os.path.join(tmp, "h.log")
    run("eval", "-r", RULES, CASES[0], "--log", hlog, "--log-key", key)
    check("independent hmac verify",
          independent_verify(hlog, b"correct horse") == "ok")

    # redaction
    red = os.path.join(tmp, "red.log")
    rc, out, err = run("log", "redact", log, "-r", RULES, "-o", red)
    check("redact", rc == 0, err)
    rc, out, err = run("verify", red)
    check("redacted verifies", rc == 0, out + err)
    text = open(red, encoding="utf-8").read()
    ids = {json.load(open(c, encoding="utf-8"))["application"]["id_number"]
           for c in CASES}
    check("redacted masks ids", not any(i in text for i in ids))
    check("redacted header", '"redacted_from"' in text.split("\n")[0])
    rc, out, err = run("log", "redact", log, "-r", other)
    check("redact missing ruleset", rc == 1 and "was not given" in err, err)
    rc, out, err = run("log", "redact", log, "-r", RULES)
    check("redact to stdout", rc == 0 and out.startswith('{"hash":"'), err)

    # shadow mode through eval
    rc, out, err = run("eval", "-r", RULES, CASES[0], "--shadow", other,
                       "--json")
    d = json.loads(out) if rc == 0 else {}
    check("eval shadow", "shadow" in d and "diverged" in d, out + err)

for args in (["verify"], ["replay", "x.log"], ["log"], ["log", "frob"]):
    check("usage " + " ".join(args), run(*args)[0] == 2)
for args in (["verify", "--help"], ["replay", "--help"], ["log", "--help"]):
    rc, out, _ = run(*args)
    check("help " + args[0], rc == 0 and "usage:" in out)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
