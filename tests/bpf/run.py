#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""run.py: the bpf suite (issue 9) for one build: the tracker's exactness test (C), the e2e
migrations with the bpf tracker and its fallback, and the dirty-rate tests, as one TAP stream.

    python3 tests/bpf/run.py --build build

Each part prints TAP; this renumbers their lines into one plan, passes '#' lines through,
and turns a part that exits non-zero without a 'not ok' line into one failure (a crash is
never a pass).  Costs on the 2-vCPU machine: ~2 s, ~3 s and ~12 s (plain build); about
twice that under ASan."""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TAP = re.compile(r"^(not ok|ok)\s+\d+\s*(.*)$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    parts = [
        ("track", [os.path.join(build, "tests-bpf", "test_bpf_track")]),
        ("e2e", [sys.executable, os.path.join(HERE, "test_bpf_e2e.py"), "--build", build]),
        ("dirtyrate", [sys.executable, os.path.join(HERE, "test_dirtyrate.py"), "--build", build]),
    ]
    n = failed = 0
    for label, cmd in parts:
        bad = 0
        try:
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
            out, rc = p.stdout + p.stderr, p.returncode
        except (OSError, subprocess.TimeoutExpired) as e:
            out, rc = "# %s: %s" % (label, e), -1
        if label == "track" and rc == 0 and out.startswith("1..0 # SKIP"):
            print(out.splitlines()[0])  # built without eBPF, or not root: nothing to run
            return 0
        for line in out.splitlines():
            m = TAP.match(line)
            if m:
                n += 1
                ok = m.group(1) == "ok"
                bad += not ok
                print("%s %d - %s: %s" % (m.group(1), n, label, m.group(2).lstrip("- ")))
            elif line.startswith("#") or (bad and line.strip()):
                print("# %s" % line.lstrip("# ") if not line.startswith("#") else line)
        if rc != 0 and not bad:
            n += 1
            bad = 1
            print("not ok %d - %s: exited %d without a failing test" % (n, label, rc))
            print("\n".join("# " + ln for ln in out.splitlines()[-30:]))
        failed += bad
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
