#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Golden-file tests for the QAPI generator (qapi/gen), after QEMU's
tests/qapi-schema/.

  bad-NAME.json   a broken schema; bad-NAME.err is the exact stderr expected
                  (exit status 1, nothing on stdout)
  good-NAME.json  a valid schema; the generator must succeed, write every
                  file, and good-NAME.out must equal a summary of the
                  generated introspection data.  The generated C must
                  compile warning-free, and a second run must not rewrite
                  any file (make relies on unchanged mtimes).

Usage: python3 tests/qapi/run.py [--update]
--update rewrites the .err/.out goldens from what the generator does now;
review the diff before committing it.
"""

import difflib
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = [sys.executable, "-B", "qapi/gen/main.py"]  # -B: no __pycache__ in the tree
FILES = ["qapi-types.h", "qapi-types.c", "qapi-visit.h", "qapi-visit.c",
         "qapi-commands.h", "qapi-commands.c", "qapi-events.h", "qapi-events.c",
         "qapi-introspect.c"]
CFLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
          "-fsyntax-only", "-I", "userspace/qmp"]


class Runner:
    def __init__(self, update):
        self.update = update
        self.passed = self.failed = 0

    def result(self, name, diag=""):
        """One TAP-style line; diag (empty on success) becomes '#' lines."""
        n = self.passed + self.failed + 1
        if diag:
            self.failed += 1
            print(f"not ok {n} - {name}")
            for line in diag.rstrip("\n").split("\n"):
                print("# " + line)
        else:
            self.passed += 1
            print(f"ok {n} - {name}")

    def golden(self, path, got):
        """'' if got matches the golden file (or --update wrote it), else a diff."""
        if self.update:
            with open(path, "w", encoding="utf-8") as f:
                f.write(got)
            return ""
        try:
            with open(path, encoding="utf-8") as f:
                want = f.read()
        except FileNotFoundError:
            want = ""
        if got == want:
            return ""
        return "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            path, "got"))


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def introspection(outdir):
    """The SchemaInfo list, read back out of the C string in qapi-introspect.c."""
    with open(os.path.join(outdir, "qapi-introspect.c"), encoding="utf-8") as f:
        literals = re.findall(r'^\t"(.*)"$', f.read(), re.M)
    text = re.sub(r'\\(["\\]|[0-7]{3})',
                  lambda m: chr(int(m[1], 8)) if m[1][0].isdigit() else m[1],
                  "".join(literals))
    return json.loads(text)


def summary(infos):
    """One line per SchemaInfo entry, in the order they are emitted."""
    lines = []
    for i in infos:
        meta, name = i["meta-type"], i["name"]
        if meta == "command":
            detail = f"arg={i['arg-type']} ret={i['ret-type']}"
        elif meta == "event":
            detail = f"arg={i['arg-type']}"
        elif meta == "builtin":
            detail = f"json={i['json-type']}"
        elif meta == "enum":
            detail = "values=" + ",".join(i["values"])
        elif meta == "array":
            detail = f"element={i['element-type']}"
        elif meta == "alternate":
            detail = "types=" + ",".join(m["type"] for m in i["members"])
        else:
            detail = "members=" + ",".join(("*" if "default" in m else "") + f"{m['name']}:{m['type']}"
                                           for m in i["members"])
            if "tag" in i:
                detail += f" tag={i['tag']} variants=" + ",".join(
                    f"{v['case']}:{v['type']}" for v in i["variants"])
        lines.append(f"{meta} {name} {detail}\n")
    return "".join(lines)


def test_bad(r, schema):
    name = os.path.basename(schema)[:-5]
    p = run(GEN + ["--check-only", schema])
    diag = r.golden(schema[:-5] + ".err", p.stderr)
    if p.returncode != 1:
        diag = f"exit status {p.returncode}, expected 1\n" + diag
    if p.stdout:
        diag += "unexpected stdout:\n" + p.stdout
    r.result(name, diag)


def test_good(r, schema, cflags):
    name = os.path.basename(schema)[:-5]
    with tempfile.TemporaryDirectory(prefix="qapi-test-") as out:
        p = run(GEN + ["-o", out, schema])
        missing = [f for f in FILES if not os.path.exists(os.path.join(out, f))]
        diag = "" if p.returncode == 0 and not p.stderr else \
            f"exit status {p.returncode}\n{p.stderr}"
        if missing:
            diag += "missing: " + " ".join(missing) + "\n"
        r.result(f"{name}: generate", diag)
        if diag:
            return

        try:
            got = summary(introspection(out))
        except (ValueError, KeyError) as e:
            r.result(f"{name}: introspection", f"can't read qapi-introspect.c: {e!r}")
        else:
            r.result(f"{name}: introspection", r.golden(schema[:-5] + ".out", got))

        diag = ""
        for f in sorted(f for f in FILES if f.endswith(".c")):
            c = run(["cc"] + CFLAGS + ["-I", out] + cflags + [os.path.join(out, f)])
            if c.returncode or c.stderr:
                diag += f"cc {f}:\n{c.stderr}"
        r.result(f"{name}: generated C compiles", diag)

        # age every file, regenerate, and check that nothing was rewritten
        old = 946684800_000_000_000  # 2000-01-01
        for f in os.listdir(out):
            os.utime(os.path.join(out, f), ns=(old, old))
        p = run(GEN + ["-o", out, schema])
        diag = "" if p.returncode == 0 else f"exit status {p.returncode}\n{p.stderr}"
        for f in sorted(os.listdir(out)):
            if not f.startswith("qapi-") or f.endswith(".tmp"):
                diag += f"stray file {f}\n"
            elif os.stat(os.path.join(out, f)).st_mtime_ns != old:
                diag += f"{f} was rewritten\n"
        r.result(f"{name}: regenerate leaves files untouched", diag)


def main():
    update = "--update" in sys.argv[1:]
    os.chdir(ROOT)  # the paths in error messages are relative to the repo root
    p = run(["pkg-config", "--cflags", "json-c"])
    cflags = shlex.split(p.stdout) if p.returncode == 0 else []
    r = Runner(update)
    for schema in sorted(glob.glob("tests/qapi/bad-*.json")):
        test_bad(r, schema)
    for schema in sorted(glob.glob("tests/qapi/good-*.json")):
        test_good(r, schema, cflags)
    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
