#!/usr/bin/env python3
"""Sum test results from meson test logs into one line: N passed, N failed.

Each meson test counts by what it ran: a check suite by its "Checks: N,
Failures: F, Errors: E" line, a script by its "N passed, N failed" line,
anything else as one test by its result.
usage: count.py BUILDDIR...
"""
import json
import re
import sys

CHECK = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
PLAIN = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed", re.M)
passed = failed = 0
for build in sys.argv[1:]:
    with open(build + "/meson-logs/testlog.json", encoding="utf-8") as f:
        for line in f:
            t = json.loads(line)
            out = t.get("stdout") or ""
            ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
            m = CHECK.findall(out)
            p = PLAIN.findall(out)
            if m:
                n = sum(int(a) for a, _, _ in m)
                bad = sum(int(b) + int(c) for _, b, c in m)
            elif p:
                n = sum(int(a) + int(b) for a, b in p)
                bad = sum(int(b) for _, b in p)
            else:
                n, bad = 1, 0
            if not ok and bad == 0:
                bad = 1  # crashed or timed out before reporting
                n = max(n, 1)
            passed += n - bad if n >= bad else 0
            failed += bad
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
