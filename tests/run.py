#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Runs every kmig test suite and prints one closing 'N passed, N failed, N skipped' line.

Why it exists: suites come in several shapes (cmocka binaries, the QAPI
golden-file runner, Python protocol tests against a live kmigd); each speaks
TAP ('ok N - name' / 'not ok N - name'), and this driver runs them for each
build directory given (plain and ASan+UBSan), prefixes their lines, and
counts.  A suite that exits non-zero without a 'not ok' line counts as one
failure, so a crash is never a pass.
"""

import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAP = re.compile(r"^(not ok|ok)\b")
SKIP = re.compile(r"#\s*SKIP\b", re.I)


def suites(build):
    tests = os.path.join(build, "tests")
    for name in sorted(os.listdir(tests)) if os.path.isdir(tests) else []:
        yield f"unit/{name}", [os.path.join(tests, name)]
    yield "qmp", [sys.executable, "tests/qmp/test_protocol.py", "--kmigd",
                  os.path.join(build, "bin", "kmigd")]
    yield "cli", [sys.executable, "tests/qmp/test_cli.py", "--build", build]
    yield "e2e", [sys.executable, "tests/e2e/test_migration.py", "--build", build]
    yield "bpf", [sys.executable, "tests/bpf/run.py", "--build", build]
    yield "dpdk", [sys.executable, "tests/dpdk/test_dpdk.py", "--build", build]


def run_suite(label, cmd, env, timeout, failures):
    """Returns (passed, failed, skipped).  A skipped test is neither: it is listed.
    Each failing line is also appended to failures, for the closing summary."""
    passed = failed = skipped = 0
    why = 0         # kmigd's warnings after a failing line that go into the summary too
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=timeout)
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode(errors="replace") + "\n# TIMEOUT", -1
    for line in out.splitlines():
        m = TAP.match(line)
        if m and not line.startswith("ok -") and not line.startswith("not ok -"):
            if m.group(1) == "ok" and SKIP.search(line):
                skipped += 1
            elif m.group(1) == "ok":
                passed += 1
            else:
                failed += 1
                failures.append(f"{label}: {line}")
                why = 6
            print(f"{label}: {line}")
        elif line.startswith("#") and failed:
            print(f"{label}: {line}")
            if why and ("kmigd: WARN" in line or "kmigd: ERR" in line or "ERROR:" in line):
                failures[-1] += f"\n#     {line.lstrip('# ')[:300]}"
                why -= 1
    if rc != 0 and failed == 0:
        failed += 1
        failures.append(f"{label}: not ok - suite exited {rc} without a failing test")
        print(failures[-1])
        print("\n".join(f"{label}: # {line}" for line in out.splitlines()[-30:]))
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append", default=[],
                    help="build directory (repeatable); default: build")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--fuzz", help="directory of the libFuzzer targets: run each briefly")
    ap.add_argument("--fuzz-seconds", type=int, default=10)
    args = ap.parse_args()
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP",
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    total_p = total_f = total_s = 0
    skipped_lines = []
    failures = []
    runs = [("qapi", [sys.executable, "tests/qapi/run.py"]),
            ("docs", [sys.executable, "tests/docs/test_wire_doc.py"]),
            # checkpatch, builds, KUnit on UML, the in-VM tests: ~4 min warm, ~20 cold
            ("kmod", [sys.executable, "tests/kmod/run.py"], 3600)]
    for build in args.build or ["build"]:
        tag = os.path.basename(build.rstrip("/"))
        runs += [(f"{tag}/{label}", cmd) for label, cmd in suites(build)]
    if args.fuzz:
        runs.append(("fuzz", [sys.executable, "tests/fuzz/run.py", "--bindir", args.fuzz,
                              "--seconds", str(args.fuzz_seconds)]))
    for label, cmd, *limit in runs:
        p, f, s = run_suite(label, cmd, env, limit[0] if limit else args.timeout,
                            failures)
        print(f"# {label}: {p} passed, {f} failed, {s} skipped", flush=True)
        total_p += p
        total_f += f
        total_s += s
        if s:
            skipped_lines.append(f"{label}: {s} skipped")
    for line in skipped_lines:
        print(f"# SKIPPED {line}")
    # repeated at the end, where a CI log's tail shows them
    for line in failures:
        print(f"# FAILED {line}")
    print(f"{total_p} passed, {total_f} failed, {total_s} skipped")
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main())
