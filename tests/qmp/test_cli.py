#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""test_cli.py: the kmig CLI's one-shot QMP mode and its error contract: a reply's
"return" goes to stdout as JSON with exit 0; any error is one line on stderr with a
non-zero exit (1 for a QMP or connection error, 2 for bad usage).

    python3 tests/qmp/test_cli.py --build build
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

N = 0
FAILED = 0


def check(cond, name, diag=""):
    global N, FAILED
    N += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", N, name))
    if not cond:
        FAILED += 1
        for line in str(diag).splitlines():
            print("# " + line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    kmig = os.path.join(args.build, "bin", "kmig")
    d = tempfile.mkdtemp(prefix="kmig-cli.")
    sock = os.path.join(d, "qmp")
    daemon = subprocess.Popen([os.path.join(args.build, "bin", "kmigd"), "--qmp", sock],
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)

        def run(*argv):
            return subprocess.run([kmig, *argv], capture_output=True, text=True, timeout=30)

        r = run("--qmp", sock, "query-migrate-parameters")
        try:
            got = json.loads(r.stdout)
        except ValueError:
            got = {}
        check(r.returncode == 0 and got.get("downtime-limit") == 300,
              "query-migrate-parameters prints the return value as JSON, exit 0",
              r.stdout + r.stderr)

        r = run("--qmp", sock, "migrate-set-parameters", "downtime-limit=1000",
                "tls-creds=tls0")
        r2 = run("--qmp", sock, "query-migrate-parameters")
        got = json.loads(r2.stdout or "{}")
        check(r.returncode == 0 and got.get("downtime-limit") == 1000 and
              got.get("tls-creds") == "tls0",
              "key=value arguments: numbers as JSON, other text as strings", r.stderr)

        r = run("--qmp", sock, "migrate-set-parameters", "downtime-limit=2000001")
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 1 and r.stdout == "" and lines == [
              "kmig: GenericError: Parameter 'downtime_limit' expects an integer in the range "
              "of 0 to (2000 * 1000) ms"],
              "a QMP error: one line on stderr, exit 1", "rc %d, %r" % (r.returncode, r.stderr))

        r = run("--qmp", sock, "raw", '{"execute": "query-status"}')
        check(r.returncode == 0 and json.loads(r.stdout or "{}").get("status") == "running",
              "raw mode sends the request as written", r.stdout + r.stderr)

        r = run("--qmp", sock, "no-such-command")
        check(r.returncode == 1 and "CommandNotFound" in r.stderr and
              len(r.stderr.strip().splitlines()) == 1,
              "an unknown command: CommandNotFound, one line, exit 1", r.stderr)

        r = run("--qmp", os.path.join(d, "nope"), "query-status")
        check(r.returncode == 1 and r.stderr.startswith("kmig: cannot connect") and
              len(r.stderr.strip().splitlines()) == 1,
              "no daemon: one line on stderr, exit 1", r.stderr)

        for argv, what in ((["--qmp", sock], "no command"),
                           (["--qmp", sock, "migrate-set-parameters", "=5"], "a bad key=value"),
                           (["migrate", "--src", sock, "--bandwidth", "12M", "tcp:x:1"],
                            "a bad migrate option value")):
            r = run(*argv)
            check(r.returncode == 2 and r.stderr.strip() != "", "%s: usage error, exit 2" % what,
                  "rc %d, %r" % (r.returncode, r.stderr))
    finally:
        daemon.terminate()
        daemon.wait(10)
        shutil.rmtree(d, ignore_errors=True)
    print("1..%d" % N)
    print("%d passed, %d failed" % (N - FAILED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
