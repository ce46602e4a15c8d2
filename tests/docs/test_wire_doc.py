#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""test_wire_doc.py: keeps docs/stream-format.md and userspace/xport/wire.h in step.

Reads every record type, page encoding, constant and struct size from the header and checks
that the document's tables and layout blocks say the same; also the reverse, so a row for a
type that no longer exists fails too.  Prints TAP.
"""

import ast
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def int_expr(text):
    """The value of an integer expression of literals, <<, * and +."""
    ops = {ast.LShift: lambda a, b: a << b, ast.Mult: lambda a, b: a * b,
           ast.Add: lambda a, b: a + b}

    def ev(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError("not a plain integer expression: %s" % text)
    return ev(ast.parse(text, mode="eval").body)


def enum_values(h, prefix):
    return {m.group(1): int(m.group(2), 0)
            for m in re.finditer(r"\b%s([A-Z_]+)\s*=\s*(\w+)" % prefix, h)}


def main():
    h, doc = read("userspace/xport/wire.h"), read("docs/stream-format.md")
    n = fails = 0

    def ok(cond, name, diag=""):
        nonlocal n, fails
        n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", n, name))
        if not cond:
            fails += 1
            if diag:
                print("# " + diag)

    # record types: "| 1 | PAGES |" rows, both ways
    types = enum_values(h, "KMIG_REC_")
    rows = {name: int(v) for v, name in re.findall(r"^\| (\d+) \| ([A-Z]+) \|", doc, re.M)}
    encs = enum_values(h, "KMIG_ENC_")
    enc_rows = {k: v for k, v in rows.items() if k in encs}
    type_rows = {k: v for k, v in rows.items() if k not in encs}
    for name, val in sorted(types.items()):
        ok(type_rows.get(name) == val, "record type %s = %d is in the document" % (name, val),
           "document says %s" % type_rows.get(name))
    for name, val in sorted(type_rows.items()):
        ok(types.get(name) == val, "document's record type %s exists in wire.h" % name)
    for name, val in sorted(encs.items()):
        if name == "MAX":
            continue
        ok(enc_rows.get(name) == val, "encoding %s = %d is in the document" % (name, val),
           "document says %s" % enc_rows.get(name))
    ok(set(enc_rows) == set(encs) - {"MAX"}, "no extra encodings in the document")

    # constants: "| `KMIG_WIRE_X` | `value` |" rows
    defines = {m.group(1): int(m.group(2).rstrip("ul"), 0) if not m.group(2).startswith("(")
               else None for m in re.finditer(r"#define (KMIG_WIRE_[A-Z_]+)[ \t]+(\S+)", h)}
    for name, val in re.findall(r"^\| `(KMIG_WIRE_[A-Z_]+)` \| `([0-9a-fx]+)` \|", doc, re.M):
        want = defines.get(name)
        if want is None and name in defines:      # an expression: evaluate it here
            expr = re.search(r"#define %s[ \t]+\(([^)]*)\)" % name, h).group(1)
            want = int_expr(re.sub(r"(\d+)u\b", r"\1", expr))
        ok(want == int(val, 0), "constant %s = %s" % (name, val), "wire.h says %s" % want)

    # struct sizes: the _Static_asserts and the document's "(N bytes)"
    sizes = dict(re.findall(r"sizeof\(struct kmig_wire_(\w+)\) == (\d+)", h))
    for struct, where in (("hdr", "header"), ("block", "block"), ("rec", "reserved2"),
                          ("chan_hello", "hello")):
        m = re.search(r"^%s\b.*?\((\d+) bytes\)" % where, doc, re.M | re.S) if struct != "rec" \
            else re.search(r"reserved2:u32 = 0\s+\((\d+) bytes\)", doc)
        ok(m and m.group(1) == sizes.get(struct),
           "struct kmig_wire_%s is %s bytes in both" % (struct, sizes.get(struct)),
           "document says %s" % (m.group(1) if m else None))

    print("1..%d" % n)
    print("%d passed, %d failed" % (n - fails, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
