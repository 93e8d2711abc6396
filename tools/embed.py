#!/usr/bin/env python3
"""Embed a file in C source as a byte array: embed.py INPUT OUTPUT SYMBOL.

The rule-file schema is compiled into the library so that validation never
depends on where (or whether) the schema was installed.
"""
import sys

src, dst, sym = sys.argv[1:4]
data = open(src, "rb").read()
with open(dst, "w") as out:
    out.write("/* Generated from %s by tools/embed.py. Do not edit. */\n"
              % src.split("/")[-1])
    out.write("#include <stddef.h>\n")
    out.write("extern const char %s[];\n" % sym)
    out.write("extern const size_t %s_len;\n" % sym)
    out.write("const char %s[] = {\n" % sym)
    for i in range(0, len(data), 12):
        out.write("    " + ", ".join(("0x%02x" if b < 128 else "(char)0x%02x") % b for b in data[i:i + 12])
                  + ",\n")
    out.write("    0x00\n};\n")
    out.write("const size_t %s_len = %d;\n" % (sym, len(data)))
