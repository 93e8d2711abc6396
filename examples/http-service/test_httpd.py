#!/usr/bin/env python3
"""End-to-end test of miaopi-httpd, on the loopback interface only.

Starts the service on a free port with a decision log, decides a case of
each outcome (also from several threads at once), checks /healthz, the
error answers (400 malformed case, 404, 405, 413 oversized body, 422 not
in force, 422 prefill without prefill fields), hot-reloads a changed and an added ruleset
version with SIGHUP (and survives a broken one), stops it with SIGTERM
and verifies the decision log with `miaopi verify`.

usage: test_httpd.py MIAOPI_HTTPD MIAOPI SOURCE_ROOT
Prints "N passed, N failed" and exits 1 on any failure.
"""
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

    def health(self):
        return json.loads(self.request("GET", "/healthz")[2])


def start(rules_dir, log_path):
    proc = subprocess.Popen(
        [HTTPD, "--rules", rules_dir, "--port", "0", "--threads", "4",
         "--log", log_path, "--max-body", str(1 << 20)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
    deadline = time.time() + timeout
    while time.time() < deadline:
        h = client.health()
        if h["generation"] >= gen:
            return h
        time.sleep(0.05)
    return client.health()


def with_version(src, version, start_date, until):
    src = src.replace('version="2024.1"', 'version="%s"' % version)
    src = src.replace('effective-from="2024-01-01"',
                      'effective-from="%s"' % start_date)
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
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait(timeout=10)
            err = proc.stderr.read()
            check("stops cleanly on SIGTERM", rc == 0, "rc=%s %s" % (rc, err))
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


served = [0]


def run_tests(client, proc, src, rules_dir, a):
    h = client.health()
    check("healthz", h["status"] == "ok" and h["generation"] == 0 and
          len(h["rulesets"]) == 1 and h["rulesets"][0]["version"] == "2024.1"
          and h["logging"], h)

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
    status, _, text = client.request("POST", "/v1/prefill",
                                     case_text("approve"))
    doc = json.loads(text)
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
          sorted(r["version"] for r in h["rulesets"]) == ["2024.2", "2027.1"],
          h)
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

    # A broken file: the reload is refused and the last good set serves.
    broken = os.path.join(rules_dir, "broken.xml")
    with open(broken, "w", encoding="utf-8") as f:
        f.write(src.replace("application.degree in eligible_degrees</require>",
                            "application.degre in eligible_degrees</require>"))
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    h = client.health()
    check("broken reload keeps serving", h["generation"] == 1 and
          len(h["rulesets"]) == 2, h)
    status, _, doc = client.decide(case_text("approve"))
    served[0] += status == 200
    check("decides after a failed reload", status == 200 and
          doc["decision"] == "APPROVE", doc)
    os.remove(broken)


if __name__ == "__main__":
    main()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
