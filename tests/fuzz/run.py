#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""run.py: runs kmig's libFuzzer targets for a bounded time each and reports TAP.

    python3 tests/fuzz/run.py --bindir build/fuzz/fuzz --seconds 60

Each target starts from its seed corpus (tests/fuzz/corpus/<name>/, read only; what the fuzzer
finds goes to a temporary directory) and runs for --seconds.  A crash, a sanitizer report, or a
target's own oracle failing (abort) is a 'not ok' with the reproducer's path and the report's
tail; otherwise 'ok' with the number of inputs executed.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = [("fuzz_qmp", "qmp"), ("fuzz_stream", "stream")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--seconds", type=int, default=60)
    args = ap.parse_args()
    n = failed = 0
    for binary, corpus in TARGETS:
        n += 1
        path = os.path.join(args.bindir, binary)
        work = tempfile.mkdtemp(prefix="kmig-fuzz-%s-" % corpus)
        try:
            cmd = [path, "-max_total_time=%d" % args.seconds, "-rss_limit_mb=2048",
                   "-timeout=20", "-print_final_stats=1", "-artifact_prefix=%s/" % work,
                   work, os.path.join(HERE, "corpus", corpus)]
            p = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                               timeout=args.seconds + 120)
            out = p.stdout + p.stderr
            m = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
            runs = int(m.group(1)) if m else 0
            crashes = [f for f in os.listdir(work) if f.startswith(("crash-", "leak-", "timeout-"))]
            if p.returncode == 0 and not crashes and runs:
                print("ok %d - %s: %d inputs in %d s, no crash, every input answered"
                      % (n, binary, runs, args.seconds))
            else:
                failed += 1
                print("not ok %d - %s: exit %d after %d inputs" % (n, binary, p.returncode, runs))
                for f in crashes:
                    keep = os.path.join(tempfile.gettempdir(), "kmig-%s-%s" % (binary, f))
                    shutil.copy(os.path.join(work, f), keep)
                    print("# reproducer kept at %s" % keep)
                for line in out.splitlines()[-40:]:
                    print("# " + line)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % n)
    print("%d passed, %d failed" % (n - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
