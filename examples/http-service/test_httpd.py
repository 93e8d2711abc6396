#!/usr/bin/env python3
"""End-to-end test of miaopi-httpd, on the loopback interface only.

Part one starts the service on a free port with a decision log and one
registry directory (DIR/*.xml), decides a case of each outcome (also from
several threads at once), checks /healthz, the error answers (400
malformed case, 404, 405, 413 oversized body, 422 not in force, 422 for
pre-fill under a ruleset without prefill fields), hot-reloads a changed
and an added ruleset version with SIGHUP (and survives a broken one),
checks that the version chosen per decision date is the one
`miaopi eval -r DIR` chooses, stops it with SIGTERM and verifies the
decision log with `miaopi verify`.

Part two starts it on a tree of registry directories (DIR/*/*.xml, the
layout of the repository's rules/): two versions of sz-talent, the later
one a transitional provision (select-by="filing-date"), and a ruleset
with prefill fields. It checks the version the registry picks for each
decision and filing date, /v1/prefill's answer and its errors (400 bad
JSON with its position, 404, 405, 413, 422), and hot reload through the
registry while decisions run: a reload that would overlap two versions
is refused and the old set keeps serving; the corrected one is served.

usage: test_httpd.py MIAOPI_HTTPD MIAOPI SOURCE_ROOT
Prints "N passed, N failed" and exits 1 on any failure.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HTTPD, MIAOPI, ROOT = sys.argv[1:4]
TALENT = os.path.join(ROOT, "rules", "sz-talent")
# A ruleset whose application fields are pre-filled from the hukou source.
PREFILL_RULES = os.path.join(ROOT, "tests", "data", "verify.xml")
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def case_text(name):
    with open(os.path.join(TALENT, "cases", name + ".json"),
              encoding="utf-8") as f:
        return f.read()


class Client:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def request(self, method, path, body=None):
        data = body.encode("utf-8") if isinstance(body, str) else body
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode("utf-8")

    def decide(self, body, query=""):
        status, headers, text = self.request("POST", "/v1/decisions" + query,
                                             body)
        try:
            doc = json.loads(text)
        except ValueError:
            doc = {}
        return status, headers, doc

    def prefill(self, body, query=""):
        status, _, text = self.request("POST", "/v1/prefill" + query, body)
        try:
            doc = json.loads(text)
        except ValueError:
            doc = {"unparsed": text}
        return status, doc

    def health(self):
        return json.loads(self.request("GET", "/healthz")[2])


def start(rules_dir, log_path=None):
    args = [HTTPD, "--rules", rules_dir, "--port", "0", "--threads", "4",
            "--max-body", str(1 << 20)]
    if log_path:
        args += ["--log", log_path]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = [None]
    reader = threading.Thread(target=lambda: line.__setitem__(
        0, proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(10)
    port = None
    if line[0] and "port" in line[0]:
        port = int(line[0].split("port")[1].split(",")[0])
    return proc, port


def wait_for_generation(client, gen, timeout=10):
    return wait_for(client, lambda h: h["generation"] >= gen, timeout)


def wait_for(client, pred, timeout=10):
    """/healthz once pred(healthz) holds (or the last one after timeout)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        h = client.health()
        if pred(h):
            return h
        time.sleep(0.05)
    return client.health()


def one_set_per_directory(h):
    """Each version row carries the generation of its directory's set."""
    gens = {d["path"]: d["generation"] for d in h["directories"]}
    return all(r["generation"] == gens[r["directory"]]
               for r in h["rulesets"]) and all(g >= 1 for g in gens.values())


def directory(h, suffix):
    """The /healthz entry of the registry directory ending in suffix."""
    return next(d for d in h["directories"] if d["path"].endswith(suffix))


def cli_version(rules_dir, case):
    """The (version, sha256) `miaopi eval -r DIR` decides case under."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8",
                                     delete=False) as f:
        json.dump(case, f, ensure_ascii=False)
    try:
        p = subprocess.run([MIAOPI, "eval", "-r", rules_dir, f.name,
                            "--json"], capture_output=True, text=True,
                           timeout=60)
    finally:
        os.unlink(f.name)
    if p.returncode != 0:
        return None, p.stderr
    d = json.loads(p.stdout)
    return d["ruleset"]["version"], d["ruleset"]["sha256"]


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def stop(proc):
    """SIGTERM; the exit status (non-zero also when a sanitizer found a
    leak) and stderr. A sanitizer report in stderr counts as a failure."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait(timeout=10)
    err = proc.stderr.read()
    check("no sanitizer report", "runtime error:" not in err and
          "Sanitizer" not in err, err)
    return rc, err


def with_version(src, version, start_date, until, extra=""):
    """sz-talent as another version; extra: more <ruleset> attributes."""
    src = src.replace('version="2024.1"', 'version="%s"' % version)
    src = src.replace('effective-from="2024-01-01"',
                      'effective-from="%s"%s' % (start_date, extra))
    return src.replace('effective-until="2027-01-01"',
                       'effective-until="%s"' % until if until else "")


def main():
    with open(os.path.join(TALENT, "ruleset.xml"), encoding="utf-8") as f:
        src = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        rules_dir = os.path.join(tmp, "rules")
        os.mkdir(rules_dir)
        a = os.path.join(rules_dir, "sz-talent-2024.xml")
        with open(a, "w", encoding="utf-8") as f:
            f.write(src)
        log_path = os.path.join(tmp, "decisions.log")
        proc, port = start(rules_dir, log_path)
        check("starts and reports its port", port is not None)
        if port is None:
            proc.kill()
            print(proc.communicate(timeout=10))
            return
        try:
            run_tests(Client(port), proc, src, rules_dir, a)
        finally:
            rc, err = stop(proc)
            check("stops cleanly on SIGTERM", rc == 0, "rc=%s %s" % (rc, err))
            check("broken reload's diagnostics printed",
                  "broken.xml" in err and "MIAOPI-E" in err and
                  "reload of" in err, err)
        p = subprocess.run([MIAOPI, "verify", log_path], capture_output=True,
                           text=True, timeout=60)
        check("decision log verifies", p.returncode == 0,
              p.stdout + p.stderr)
        with open(log_path, encoding="utf-8") as f:
            entries = [json.loads(line)["entry"] for line in f]
        decisions = [e for e in entries if e.get("type") == "decision"]
        check("every served decision is logged",
              len(decisions) == served[0], "%d logged, %d served" %
              (len(decisions), served[0]))
        check("log names both versions",
              {e["ruleset"]["version"] for e in decisions} >=
              {"2024.1", "2024.2", "2027.1"},
              {e["ruleset"]["version"] for e in decisions})
        registry_tree_tests(tmp, src)


served = [0]


def run_tests(client, proc, src, rules_dir, a):
    h = client.health()
    check("healthz", h["status"] == "ok" and h["generation"] == 0 and
          len(h["rulesets"]) == 1 and h["rulesets"][0]["version"] == "2024.1"
          and h["logging"], h)
    # The library's generation of the directory's set: 1 after the load.
    check("healthz generation", h["directories"][0]["generation"] == 1 and
          one_set_per_directory(h), h)

    for name, want in (("approve", "APPROVE"), ("reject-age", "REJECT"),
                       ("escalate-no-xuexin", "ESCALATE")):
        status, headers, doc = client.decide(case_text(name))
        served[0] += status == 200
        check("decide " + name, status == 200 and doc.get("decision") == want,
              "%s %s" % (status, doc))
        check("decision id header " + name,
              headers.get("X-Miaopi-Decision-Id") == doc.get("id"), headers)
        if want != "APPROVE":
            check("reasons " + name, doc.get("reasons") and
                  doc["reasons"][0]["message"] and
                  doc["reasons"][0]["basis"], doc.get("reasons"))
    status, _, doc = client.decide(case_text("reject-age"),
                                   "?ruleset=sz-talent&lang=en")
    served[0] += status == 200
    check("named ruleset, English", status == 200 and
          "above the limit" in doc["reasons"][0]["message"], doc)

    # Many requests at once, one decision object per worker thread.
    results, lock = [], threading.Lock()
    names = [("approve", "APPROVE"), ("reject-age", "REJECT"),
             ("escalate-no-xuexin", "ESCALATE")]
    bodies = {n: case_text(n) for n, _ in names}

    def worker(k):
        for i in range(20):
            n, want = names[(i + k) % 3]
            status, _, doc = client.decide(bodies[n])
            with lock:
                results.append(status == 200 and doc.get("decision") == want)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    served[0] += sum(results)
    check("160 concurrent decisions", len(results) == 160 and all(results),
          "%d/%d" % (sum(results), len(results)))

    # Errors.
    status, _, doc = client.decide('{"application": {"id_number": ')
    check("malformed JSON is 400", status == 400 and
          doc["error"]["code"] == "MIAOPI_ECASE" and doc["error"]["line"] >= 1,
          "%s %s" % (status, doc))
    case = json.loads(case_text("approve"))
    del case["context"]["decision_date"]
    status, _, doc = client.decide(json.dumps(case))
    check("case without a decision date is 400", status == 400, doc)
    big = '{"application": {"x": "' + "a" * (1 << 20) + '"}}'
    status, _, doc = client.decide(big)
    check("oversized body is 413", status == 413 and
          doc["error"]["code"] == "BODY_TOO_LARGE", "%s %s" % (status, doc))
    status, _, doc = client.decide(case_text("approve"), "?ruleset=nope")
    check("unknown ruleset is 404", status == 404, doc)
    case = json.loads(case_text("approve"))
    case["context"]["decision_date"] = "2030-01-01"
    status, _, doc = client.decide(json.dumps(case))
    check("no version in force is 422", status == 422, doc)
    status, doc = client.prefill(case_text("approve"))
    check("prefill under a ruleset without prefill fields is 422",
          status == 422 and doc["error"]["code"] == "PREFILL_NOT_SUPPORTED"
          and "sz-talent 2024.1" in doc["error"]["message"],
          "%s %s" % (status, doc))
    status, _, _ = client.request("GET", "/v1/decisions")
    check("GET decisions is 405", status == 405)
    status, _, _ = client.request("GET", "/nope")
    check("unknown path is 404", status == 404)
    check("still healthy after errors", client.health()["status"] == "ok")

    # Hot reload: change the file in place (a new version) and add the
    # next version, in force from 2027; SIGHUP.
    with open(a, "w", encoding="utf-8") as f:
        f.write(with_version(src, "2024.2", "2024-01-01", "2027-01-01"))
    with open(os.path.join(rules_dir, "sz-talent-2027.xml"), "w",
              encoding="utf-8") as f:
        f.write(with_version(src, "2027.1", "2027-01-01", None))
    proc.send_signal(signal.SIGHUP)
    h = wait_for_generation(client, 1)
    check("reloaded on SIGHUP", h["generation"] == 1 and
          sorted(r["version"] for r in h["rulesets"]) == ["2024.2", "2027.1"]
          and h["directories"][0]["generation"] == 2 and
          one_set_per_directory(h), h)
    status, _, doc = client.decide(case_text("approve"))
    served[0] += status == 200
    check("changed version served", status == 200 and
          doc["ruleset"]["version"] == "2024.2", doc.get("ruleset"))
    case = json.loads(case_text("approve"))
    case["context"]["decision_date"] = "2027-03-01"
    status, _, doc = client.decide(json.dumps(case))
    served[0] += status == 200
    check("version in force on the decision date", status == 200 and
          doc["ruleset"]["version"] == "2027.1", doc.get("ruleset"))
    # The edges of the ranges, and the same choice as `miaopi eval -r DIR`
    # (effective-from inclusive, effective-until exclusive).
    for date, want in (("2026-12-31", "2024.2"), ("2027-01-01", "2027.1"),
                       ("2024-01-01", "2024.2")):
        case["context"]["decision_date"] = date
        status, _, doc = client.decide(json.dumps(case))
        served[0] += status == 200
        got = (doc.get("ruleset", {}).get("version"),
               doc.get("ruleset", {}).get("sha256"))
        check("version on " + date, status == 200 and got[0] == want,
              "%s %s" % (status, got))
        check("same version as miaopi eval -r DIR on " + date,
              got == cli_version(rules_dir, case), got)
    case["context"]["decision_date"] = "2023-12-31"
    status, _, doc = client.decide(json.dumps(case))
    check("before the first version is 422 naming the date",
          status == 422 and "2023-12-31" in doc["error"]["message"],
          "%s %s" % (status, doc))

    # A broken file: the reload is refused and the last good set serves.
    broken = os.path.join(rules_dir, "broken.xml")
    with open(broken, "w", encoding="utf-8") as f:
        f.write(src.replace("application.degree in eligible_degrees</require>",
                            "application.degre in eligible_degrees</require>"))
    proc.send_signal(signal.SIGHUP)
    h = wait_for(client, lambda h: h["directories"][0]["last_reload_error"])
    check("broken reload keeps serving", h["generation"] == 1 and
          h["directories"][0]["generation"] == 2 and
          one_set_per_directory(h) and len(h["rulesets"]) == 2 and
          sorted(r["version"] for r in h["rulesets"]) == ["2024.2", "2027.1"],
          h)
    error = h["directories"][0]["last_reload_error"]
    check("healthz says why the reload was refused",
          "broken.xml" in error and "degre" in error, error)
    status, _, doc = client.decide(case_text("approve"))
    served[0] += status == 200
    check("decides after a failed reload", status == 200 and
          doc["decision"] == "APPROVE", doc)
    os.remove(broken)


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def registry_tree_tests(tmp, src):
    """Part two: a tree of registry directories, version selection by date,
    /v1/prefill, and hot reload through the registry."""
    tree = os.path.join(tmp, "tree")
    talent = os.path.join(tree, "sz-talent")
    data = os.path.join(tree, "data-test")
    os.makedirs(talent)
    os.makedirs(data)
    # 2024.1 until 2025; 2025.1 from 2025 on, a transitional provision:
    # applications filed before 2025 keep the 2024 criteria.
    write(os.path.join(talent, "2024.xml"),
          with_version(src, "2024.1", "2024-01-01", "2025-01-01"))
    filing = ' select-by="filing-date"'
    write(os.path.join(talent, "2025.xml"),
          with_version(src, "2025.1", "2025-01-01", None, filing))
    with open(PREFILL_RULES, encoding="utf-8") as f:
        prefill_src = f.read()
    write(os.path.join(data, "data-test.xml"), prefill_src)
    proc, port = start(tree + "/")
    check("tree: starts", port is not None)
    if port is None:
        proc.kill()
        print(proc.communicate(timeout=10))
        return
    try:
        client = Client(port)
        tree_selection(client, talent)
        tree_prefill(client)
        tree_reload(client, proc, src, talent, data, prefill_src)
    finally:
        rc, err = stop(proc)
        check("tree: stops cleanly on SIGTERM", rc == 0,
              "rc=%s %s" % (rc, err))
        check("tree: refused reload's diagnostics printed",
              "MIAOPI-E060" in err and "reload of" in err and
              "2026.xml" in err, err)


def talent_case(decision_date, filing_date=None):
    case = json.loads(case_text("approve"))
    case["context"]["decision_date"] = decision_date
    if filing_date:
        case["context"]["filing_date"] = filing_date
    return case


def tree_selection(client, talent):
    h = client.health()
    got = [(r["id"], r["version"]) for r in h["rulesets"]]
    check("tree: healthz lists every version", got == [
        ("data-test", "1"), ("sz-talent", "2024.1"), ("sz-talent", "2025.1")],
        got)
    check("tree: one registry per directory",
          [os.path.basename(d["path"]) for d in h["directories"]] ==
          ["data-test", "sz-talent"] and
          all(d["generation"] == 1 and d["last_reload_error"] == ""
              for d in h["directories"]) and not h["logging"] and
          one_set_per_directory(h), h)
    by_version = {r["version"]: r for r in h["rulesets"]}
    for version, name in (("2024.1", "2024.xml"), ("2025.1", "2025.xml")):
        r = by_version[version]
        path = os.path.join(talent, name)
        check("tree: healthz file and sha256 of " + version,
              os.path.samefile(r["file"], path) and
              r["sha256"] == sha256_file(path) and
              r["effective_from"] == version[:4] + "-01-01", r)

    status, _, doc = client.decide(json.dumps(talent_case("2024-06-01")))
    check("tree: several rulesets and none named is 400",
          status == 400 and doc["error"]["code"] == "RULESET_REQUIRED", doc)
    q = "?ruleset=sz-talent"
    for dd, fd, want in (("2024-12-31", None, "2024.1"),
                         ("2025-01-01", "2025-01-01", "2025.1"),
                         ("2025-03-01", "2025-01-05", "2025.1"),
                         # filed before 2025: the transitional provision
                         ("2025-03-01", "2024-12-20", "2024.1"),
                         ("2026-06-30", "2024-01-01", "2024.1")):
        case = talent_case(dd, fd)
        status, _, doc = client.decide(json.dumps(case), q)
        got = (doc.get("ruleset", {}).get("version"),
               doc.get("ruleset", {}).get("sha256"))
        label = "tree: decided %s filed %s" % (dd, fd)
        check(label + " under " + want, status == 200 and got[0] == want and
              got[1] == by_version[want]["sha256"] and
              doc.get("decision_date") == dd, "%s %s" % (status, doc))
        check(label + " as miaopi eval -r DIR", got ==
              cli_version(talent, case), got)
    status, _, doc = client.decide(json.dumps(talent_case("2025-03-01")), q)
    check("tree: transitional version without a filing date is 400",
          status == 400 and doc["error"]["code"] == "MIAOPI_ECASE" and
          "filing_date" in doc["error"]["message"], "%s %s" % (status, doc))
    status, _, doc = client.decide(json.dumps(talent_case("2023-06-01")), q)
    check("tree: before every version is 422", status == 422 and
          doc["error"]["message"] ==
          "no version of sz-talent is in force on 2023-06-01",
          "%s %s" % (status, doc))
    status, _, doc = client.decide(json.dumps(talent_case("2024-06-01")),
                                   "?ruleset=sz-talentt")
    check("tree: unknown ruleset is 404", status == 404 and
          doc["error"]["code"] == "RULESET_NOT_FOUND" and
          "sz-talentt" in doc["error"]["message"], "%s %s" % (status, doc))


ID = "44030519900101123X"


def prefill_case(**context):
    case = {"application": {"id_number": ID},
            "sources": {"hukou": {"id_number": ID, "name": "张三",
                                  "birth_date": "1990-01-01"},
                        "xuexin": None},
            "context": {"decision_date": "2024-05-01"}}
    case["context"].update(context)
    return case


def tree_prefill(client):
    h = client.health()
    sha = next(r["sha256"] for r in h["rulesets"] if r["id"] == "data-test")
    q = "?ruleset=data-test"
    status, doc = client.prefill(json.dumps(prefill_case()), q)
    check("prefill: 200", status == 200, "%s %s" % (status, doc))
    if status == 200:
        check("prefill: application filled from hukou", doc["application"] ==
              {"id_number": ID, "name": "张三", "birth_date": "1990-01-01"},
              doc["application"])
        check("prefill: status of every prefill field",
              [(f["field"], f["from"], f["status"]) for f in doc["fields"]] ==
              [("name", "hukou.name", "filled"),
               ("birth_date", "hukou.birth_date", "filled"),
               ("address", "hukou.address", "missing")], doc["fields"])
        check("prefill: names the ruleset version", doc["ruleset"] ==
              {"id": "data-test", "version": "1", "sha256": sha},
              doc["ruleset"])
        check("prefill: sources", {s["name"]: s["status"]
                                   for s in doc["sources"]}.get("hukou") ==
              "inline", doc["sources"])

    # What the applicant typed is kept; only prefill fields are filled.
    case = prefill_case()
    case["application"]["degree"] = "硕士"
    case["application"]["name"] = "李四"
    status, doc = client.prefill(json.dumps(case), q)
    check("prefill: source value replaces the typed one, others kept",
          status == 200 and doc["application"]["name"] == "张三" and
          doc["application"]["degree"] == "硕士", doc)

    # No records and no resolver: still 200, every field says why.
    case = prefill_case()
    del case["sources"]
    status, doc = client.prefill(json.dumps(case), q)
    check("prefill: sources unavailable is 200 with statuses",
          status == 200 and doc["application"] == {"id_number": ID} and
          {f["status"] for f in doc["fields"]} == {"unavailable"},
          "%s %s" % (status, doc))

    # Errors.
    body = ('{"application": {"id_number": "4403"},\n'
            '  "context": {"decision_date": "2024-05-01",}}')
    status, doc = client.prefill(body, q)
    e = doc.get("error", {})
    # The first "}" after the trailing comma is line 2, column 45.
    check("prefill: bad JSON is 400 with its position", status == 400 and
          e.get("code") == "MIAOPI_ECASE" and e.get("line") == 2 and
          e.get("column") == 45 and body.split("\n")[1][44:46] == "}}" and
          body.encode()[e.get("offset", -1):].startswith(b"}}"),
          "%s %s" % (status, doc))
    for label, text, want, code in (
            ("empty body", "", 400, "MIAOPI_ECASE"),
            ("not an object", "[1, 2]", 400, "MIAOPI_ECASE"),
            ("invalid UTF-8", b'{"application": {"name": "\xff"}}', 400,
             "MIAOPI_ECASE"),
            ("nested too deep", '{"a":' * 100 + "1" + "}" * 100, 413,
             "MIAOPI_ELIMIT"),
            ("no decision date", json.dumps(
                {"application": {"id_number": ID}, "context": {}}), 400,
             "MIAOPI_ECASE")):
        status, doc = client.prefill(text, q)
        check("prefill: %s is %d" % (label, want), status == want and
              doc["error"]["code"] == code and doc["error"]["message"],
              "%s %s" % (status, doc))
    status, doc = client.prefill(json.dumps(prefill_case()))
    check("prefill: no ruleset named is 400", status == 400 and
          doc["error"]["code"] == "RULESET_REQUIRED", doc)
    status, doc = client.prefill(json.dumps(prefill_case()), "?ruleset=nope")
    check("prefill: unknown ruleset is 404", status == 404 and
          doc["error"]["code"] == "RULESET_NOT_FOUND", doc)
    status, doc = client.prefill(
        json.dumps(prefill_case(decision_date="2023-12-31")), q)
    check("prefill: no version in force is 422", status == 422 and
          doc["error"]["code"] == "MIAOPI_ENOTINFORCE" and
          "2023-12-31" in doc["error"]["message"], doc)
    status, doc = client.prefill(json.dumps(talent_case("2024-06-01")),
                                 "?ruleset=sz-talent")
    check("prefill: ruleset without prefill fields is 422",
          status == 422 and doc["error"]["code"] == "PREFILL_NOT_SUPPORTED",
          doc)
    big = '{"application": {"x": "' + "a" * (1 << 20) + '"}}'
    status, doc = client.prefill(big, q)
    check("prefill: oversized body is 413", status == 413 and
          doc["error"]["code"] == "BODY_TOO_LARGE", "%s %s" % (status, doc))
    status, _, _ = client.request("GET", "/v1/prefill" + q)
    check("prefill: GET is 405", status == 405)
    check("prefill: still healthy", client.health()["status"] == "ok")


def tree_reload(client, proc, src, talent, data, prefill_src):
    # Decisions keep running, lock-free, while the registries reload.
    stop_flag, seen, lock = threading.Event(), [], threading.Lock()
    body = json.dumps(talent_case("2024-06-01"))

    def hammer():
        while not stop_flag.is_set():
            status, _, doc = client.decide(body, "?ruleset=sz-talent")
            with lock:
                seen.append((status, doc.get("ruleset", {}).get("version")))

    # And /healthz: every answer lists each directory's versions from the
    # one set whose generation it prints.
    healths = []

    def poll_health():
        while not stop_flag.is_set():
            h = client.health()
            with lock:
                healths.append(one_set_per_directory(h))
    threads = [threading.Thread(target=hammer) for _ in range(4)]
    threads.append(threading.Thread(target=poll_health))
    for t in threads:
        t.start()
    try:
        # A 2026 version while 2025.1 is still open-ended: two versions
        # would be in force at once. The registry refuses the reload of
        # sz-talent and keeps serving; data-test reloads.
        write(os.path.join(talent, "2026.xml"),
              with_version(src, "2026.1", "2026-01-01", None))
        write(os.path.join(data, "data-test.xml"),
              prefill_src.replace('version="1"', 'version="2"', 1))
        proc.send_signal(signal.SIGHUP)
        h = wait_for(client, lambda h: h["generation"] >= 1)
        t_dir, d_dir = directory(h, "sz-talent"), directory(h, "data-test")
        check("reload: overlap refused, old set kept",
              h["generation"] == 1 and t_dir["generation"] == 1 and
              "overlaps" in t_dir["last_reload_error"] and
              "MIAOPI-E060" in t_dir["last_reload_error"] and
              d_dir["generation"] == 2 and d_dir["last_reload_error"] == ""
              and one_set_per_directory(h), h)
        check("reload: versions after the refused reload",
              [(r["id"], r["version"]) for r in h["rulesets"]] ==
              [("data-test", "2"), ("sz-talent", "2024.1"),
               ("sz-talent", "2025.1")], h["rulesets"])
        status, _, doc = client.decide(json.dumps(
            talent_case("2026-03-01", "2026-03-01")), "?ruleset=sz-talent")
        check("reload: refused version not served", status == 200 and
              doc["ruleset"]["version"] == "2025.1", doc.get("ruleset"))
        status, doc = client.prefill(json.dumps(prefill_case()),
                                     "?ruleset=data-test")
        check("reload: prefill under the reloaded version", status == 200 and
              doc["ruleset"]["version"] == "2" and
              doc["application"]["name"] == "张三", doc)

        # Close 2025.1 at the end of 2025: now the reload goes through.
        write(os.path.join(talent, "2025.xml"),
              with_version(src, "2025.1", "2025-01-01", "2026-01-01",
                           filing))
        proc.send_signal(signal.SIGHUP)
        h = wait_for(client, lambda h: h["generation"] >= 2)
        t_dir = directory(h, "sz-talent")
        check("reload: corrected set loaded", t_dir["generation"] == 2 and
              one_set_per_directory(h) and
              t_dir["last_reload_error"] == "" and
              [r["version"] for r in h["rulesets"]] ==
              ["2", "2024.1", "2025.1", "2026.1"], h)
        for dd, fd, want in (("2026-03-01", "2026-03-01", "2026.1"),
                             ("2025-12-31", "2025-12-31", "2025.1"),
                             ("2024-06-01", None, "2024.1")):
            case = talent_case(dd, fd)
            status, _, doc = client.decide(json.dumps(case),
                                           "?ruleset=sz-talent")
            got = doc.get("ruleset", {}).get("version")
            check("reload: %s decided under %s" % (dd, want),
                  status == 200 and got == want and
                  (got, doc["ruleset"]["sha256"]) ==
                  cli_version(talent, case), "%s %s" % (status, doc))
    finally:
        stop_flag.set()
        for t in threads:
            t.join(30)
    check("reload: every /healthz during the reloads is one set per "
          "directory", len(healths) > 0 and all(healths),
          "%d %d" % (len(healths), healths.count(False)))
    check("reload: every decision during the reloads served",
          len(seen) > 0 and all(x == (200, "2024.1") for x in seen),
          "%d %s" % (len(seen), [x for x in seen if x != (200, "2024.1")][:5]))


filing = ' select-by="filing-date"'


if __name__ == "__main__":
    main()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
