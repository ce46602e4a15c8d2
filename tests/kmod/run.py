#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The kernel-module suite of `make check`, as one TAP stream for tests/run.py.

Why it exists: the module is checked in four steps that need different
machinery, and tests/run.py wants one suite.  In order: checkpatch (kernel
style), the out-of-tree build against Debian's 6.1 and 6.12 headers (any
warning, e.g. an unexported symbol, fails), KUnit on UML
(tests/kmod/run_kunit.py) and the in-VM tests (tests/vm/run_vm.py).  Each
step's TAP lines are renumbered into one stream; a step that crashes or
prints nothing counts as a failure.  KMIG_SKIP_VM=1 leaves out the VM step.
"""

import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TAP = re.compile(r"^(not ok|ok) \d+ - (.*)$")
n = failed = 0


def line(ok, name):
    global n, failed
    n += 1
    failed += not ok
    print(f"{'ok' if ok else 'not ok'} {n} - {name}", flush=True)


def step(label, cmd, timeout, tap):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, errors="replace", timeout=timeout)
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or ""), f"timeout after {timeout} s"
    secs = time.monotonic() - t0
    count = 0
    if tap:
        for text in out.splitlines():
            m = TAP.match(text)
            if m:
                count += 1
                line(m.group(1) == "ok", f"{label}: {m.group(2)}")
            elif text.startswith("#"):
                print(text)
    if not tap or rc != 0 and not any(t.startswith("not ok") for t in out.splitlines()) \
            or tap and not count:
        line(rc == 0 and (count or not tap), f"{label}: exit {rc} ({secs:.0f} s)")
        if rc != 0:
            print("\n".join("# " + t for t in out.splitlines()[-30:]))
    print(f"# {label}: {secs:.0f} s", flush=True)


def main():
    step("checkpatch --strict", [os.path.join(ROOT, "scripts", "kmod-checkpatch.sh")], 300,
         False)
    step("build against Debian 6.1 and 6.12 headers",
         [os.path.join(ROOT, "scripts", "kmod-build.sh"), os.path.join(ROOT, "build", "kmod")],
         600, False)
    step("kunit", [sys.executable, os.path.join(ROOT, "tests", "kmod", "run_kunit.py")],
         2400, True)
    if os.environ.get("KMIG_SKIP_VM"):
        print("# vm: skipped (KMIG_SKIP_VM)")
    else:
        step("vm", [sys.executable, os.path.join(ROOT, "tests", "vm", "run_vm.py")], 3000, True)
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
