#!/usr/bin/env python3
"""The shared library exports exactly the functions miaopi.h declares.

usage: check_symbols.py HEADER LIBRARY
"""
import re
import subprocess
import sys

header, library = sys.argv[1:3]
text = open(header, encoding="utf-8").read()
declared = set(re.findall(r"MIAOPI_EXTERN[^;(]*?\b(miaopi_\w+)\s*\(", text,
                          re.S))
out = subprocess.run(["nm", "-D", "--defined-only", library],
                     capture_output=True, text=True, check=True).stdout
exported = set()
for line in out.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in "TDRBW":
        exported.add(parts[2].split("@")[0])
failed = 0
for name in sorted(declared - exported):
    print("declared but not exported:", name)
    failed += 1
for name in sorted(exported - declared):
    print("exported but not declared:", name)
    failed += 1
print("%d symbols declared, %d exported" % (len(declared), len(exported)))
sys.exit(1 if failed or not declared else 0)
