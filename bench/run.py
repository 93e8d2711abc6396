#!/usr/bin/env python3
"""Build the release tree, generate the workloads and print the benchmark
table (see bench/README.md).

    bench/run.py [--quick] [--cases N] [--build-dir DIR]
                 [--bench EXE --miaopi EXE --workdir DIR]   (no build step)

--quick (a few thousand cases, figures not meaningful) is what the
'bench' meson test suite runs so the benchmarks cannot rot; it asserts
that every figure was produced, never how fast.
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(ROOT, "bench", "gen.py")
RULES = os.path.join(ROOT, "rules", "sz-talent", "ruleset.xml")

TARGETS = {
    "a-eval": ">= 1,000,000",
    "a-eval-hot": ">= 1,000,000",
    "a-eval-cached": ">= 1,000,000",
    "g-allocs": "0",
    "b-e2e": ">= 300,000",
    "c-e2e-log-sha256": ">= 250,000",
    "c-e2e-log-sm3": ">= 250,000",
    "d-eval-2t": ">= 1.8",
    "e-load-1000": "<= 50 ms",
    "f-replay-api": ">= 500,000",
    "f-replay-cli": ">= 500,000",
    "f-screen-cli": ">= 1,000,000",
}


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def build(build_dir):
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        sh(["meson", "setup", build_dir, "--buildtype=release",
            "-Db_ndebug=true"], cwd=ROOT, stdout=subprocess.DEVNULL)
    sh(["ninja", "-C", build_dir], cwd=ROOT, stdout=subprocess.DEVNULL)


def gen(kind, n, out):
    if not os.path.exists(out):
        sh([sys.executable, GEN, kind, str(n), out])


def bench(exe, *args):
    """Run one figure in its own process; return its result lines."""
    p = subprocess.run([exe] + [str(a) for a in args], check=True,
                       stdout=subprocess.PIPE, text=True)
    return [l.split("\t") for l in p.stdout.splitlines() if l.strip()]


def replay_cli(miaopi, log, n):
    """`miaopi replay` entries/s and its own peak RSS (wait4)."""
    t0 = time.monotonic()
    p = subprocess.Popen([miaopi, "replay", log, "-r", RULES, "-q"],
                         stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit("miaopi replay failed: %d" % p.returncode)
    return [["f-replay-cli", "%.6g" % (n / wall), "entries/s",
             str(ru.ru_maxrss), "%d entries; %.0f/s per CPU-second" %
             (n, n / (ru.ru_utime + ru.ru_stime))]]


def screen_cli(miaopi, work, n):
    """`miaopi screen` records/minute on a generated population, and the
    child's own peak RSS (wait4)."""
    pop = os.path.join(work, "population-%d.jsonl" % n)
    if not os.path.exists(pop):
        sh([sys.executable, os.path.join(ROOT, "bench", "screen",
                                         "gen_population.py"), str(n), pop])
    t0 = time.monotonic()
    p = subprocess.Popen([miaopi, "screen", "-r", os.path.join(
        ROOT, "rules", "sz-elderly-outreach", "ruleset.xml"),
        "-d", "2024-05-01", "-o", os.devnull, pop],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit("miaopi screen failed")
    return [["f-screen-cli", "%.6g" % (n * 60 / wall), "records/minute",
             str(ru.ru_maxrss), "%d records; %.0f per CPU-minute" %
             (n, n * 60 / (ru.ru_utime + ru.ru_stime))]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cases", type=int)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-rel"))
    ap.add_argument("--bench")
    ap.add_argument("--miaopi")
    ap.add_argument("--workdir")
    a = ap.parse_args()
    n = a.cases or (3000 if a.quick else 100000)
    if a.bench:
        exe, miaopi = a.bench, a.miaopi
    else:
        build(a.build_dir)
        exe = os.path.join(a.build_dir, "bench", "miaopi-bench")
        miaopi = os.path.join(a.build_dir, "cli", "miaopi")
    work = a.workdir or os.path.join(a.build_dir, "bench-data")
    os.makedirs(work, exist_ok=True)
    cases = os.path.join(work, "cases-%d.jsonl" % n)
    big = os.path.join(work, "rules-1000.xml")
    table = os.path.join(work, "table-3000.xml")
    gen("cases", n, cases)
    gen("ruleset", 1000, big)
    gen("table", 3000, table)
    out = os.path.join(work, "decisions.jsonl")
    log = os.path.join(work, "decisions.log")
    passes = 1 if a.quick else 5
    loads = 3 if a.quick else 21

    rows = []
    rows += bench(exe, "mix", RULES, cases)
    rows += bench(exe, "eval", RULES, cases, "-n", passes)
    rows += bench(exe, "eval", RULES, cases, "-c", 2000,
                  "-n", 5 if a.quick else 100)
    rows += bench(exe, "eval", RULES, cases, "-c", 200,
                  "-n", 50 if a.quick else 1000)
    rows += bench(exe, "allocs", RULES, cases)
    rows += bench(exe, "e2e", RULES, cases, out)
    rows += bench(exe, "parse", RULES, cases)
    rows += bench(exe, "e2e", RULES, cases, out, "--log", log + ".sm3",
                  "--alg", "sm3")
    rows += bench(exe, "e2e", RULES, cases, out, "--log", log,
                  "--alg", "sha256")
    rows += bench(exe, "eval", RULES, cases, "-t", 2, "-c", 2000,
                  "-n", 5 if a.quick else 100)
    rows += bench(exe, "load", RULES, "-n", loads)
    rows += bench(exe, "load", big, "-n", loads)
    rows += bench(exe, "replay", RULES, log)
    rows += bench(exe, "read-log", RULES, log)
    rows += bench(exe, "read-log", RULES, log, "--lazy")
    rows += replay_cli(miaopi, log, n)
    rows += screen_cli(miaopi, work, 3000 if a.quick else 500000)
    rows += bench(exe, "table", table, "-i", 1000 if a.quick else 50000)

    load = os.getloadavg()
    print("miaopi benchmarks: %d cases%s; load average %.2f %.2f %.2f on %d "
          "CPUs" % (n, " (quick mode: figures not meaningful)" if a.quick
                    else "", load[0], load[1], load[2], os.cpu_count()))
    w = [20, 14, 16, 12, 12]
    head = ["figure", "value", "unit", "target", "peak RSS"]
    print("  ".join(h.ljust(x) for h, x in zip(head, w)) + "  notes")
    for r in rows:
        fig, val, unit, rss, notes = r
        v = float(val)
        val = ("%.0f" % v) if v >= 100 else ("%.3g" % v)
        print("  ".join(s.ljust(x) for s, x in zip(
            [fig, val, unit, TARGETS.get(fig, ""),
             "%.1f MiB" % (int(rss) / 1024)], w)) + "  " + notes)
    expected = {"mix", "a-eval", "g-allocs", "b-e2e", "c-e2e-log-sha256",
                "c-e2e-log-sm3", "d-eval-2t", "e-load-12", "e-load-1000",
                "f-replay-api", "f-replay-cli", "f-screen-cli", "table-first",
                "table-last"}
    missing = expected - {r[0] for r in rows}
    if missing:
        print("missing figures: " + ", ".join(sorted(missing)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
