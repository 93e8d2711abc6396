#!/usr/bin/env python3
"""Build examples/embed against the *installed* library, as a user would.

`meson install --destdir TMP` stages an install, then the example is
compiled with the flags `pkg-config --cflags --libs miaopi` gives for
that staged install and run on a case of each outcome.

usage: install_test.py MESON BUILDDIR PREFIX LIBDIR SANITIZE CC... -- ROOT
Prints "N passed, N failed" and exits 1 on any failure.
"""
import os
import shlex
import subprocess
import sys
import tempfile

MESON, BUILD, PREFIX, LIBDIR, SANITIZE = sys.argv[1:6]
sep = sys.argv.index("--")
CC = sys.argv[6:sep]
ROOT = sys.argv[sep + 1]
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def run(cmd, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env=env)


with tempfile.TemporaryDirectory() as tmp:
    dest = os.path.join(tmp, "dest")
    p = run([MESON, "install", "-C", BUILD, "--destdir", dest,
             "--no-rebuild", "--quiet"])
    check("meson install --destdir", p.returncode == 0, p.stderr)
    staged = dest + PREFIX
    libdir = os.path.join(staged, LIBDIR)
    pcdir = os.path.join(libdir, "pkgconfig")
    env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
    # The staged .pc names the final prefix; point it at the staging area.
    p = run(["pkg-config", "--define-variable=prefix=" + staged,
             "--cflags", "--libs", "miaopi"], env=env)
    check("pkg-config finds miaopi", p.returncode == 0, p.stderr)
    flags = shlex.split(p.stdout)
    check("pkg-config points into the staged install",
          any(f.startswith("-I" + staged) for f in flags), p.stdout)
    if SANITIZE not in ("", "none"):
        # The staged library is instrumented; so must the program be.
        flags += ["-fsanitize=" + SANITIZE]
    exe = os.path.join(tmp, "embed")
    src = os.path.join(ROOT, "examples", "embed", "embed.c")
    p = run(CC + ["-std=c11", "-Wall", "-Wextra", "-Werror", src, "-o", exe]
            + flags)
    check("compile against installed library", p.returncode == 0,
          p.stderr)
    if p.returncode == 0:
        renv = dict(os.environ, LD_LIBRARY_PATH=libdir)
        for case, want, rc in (("approve", "APPROVE", 0),
                               ("reject-age", "REJECT", 1),
                               ("escalate-no-xuexin", "ESCALATE", 3)):
            rules = os.path.join(ROOT, "rules", "sz-talent")
            p = run([exe, os.path.join(rules, "ruleset.xml"),
                     os.path.join(rules, "cases", case + ".json"), "en"],
                    env=renv)
            check("embed " + case, p.returncode == rc and
                  p.stdout.startswith(want), p.stdout + p.stderr)
        # It really is the staged library that was loaded.
        p = run(["ldd", exe], env=renv)
        check("runs with the staged libmiaopi",
              p.returncode != 0 or libdir in p.stdout, p.stdout)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
