#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""test_bpf_e2e.py: live migrations whose source tracks dirty pages with the bpf tracker.

    python3 tests/bpf/test_bpf_e2e.py --build build

1. A dirtying 256 MiB workload migrates over TCP with the bpf tracker (x-kmig-tracker bpf);
   the destination's memory is checked page by page and by
   whole-memory hash against the source's final memory (the e2e suite's check).
2. The same with kmigd stripped of CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN: the bpf tracker cannot
   load, kmigd says why and that it falls back, and the migration completes, verified, with
   uffd-wp.
Prints TAP; cleans up every process and directory, also on failure.  ~15 s.
"""

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bpf_harness import NO_BPF_PRIVS, ROOT, BpfHarness  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import Tap, install_signal_handlers  # noqa: E402
from steps import check_completed, listen, migrate  # noqa: E402
from test_migration import run_in, sanitized  # noqa: E402


def pair(h, tag, size, tracker, src_prefix=None, **opts):
    if src_prefix:
        h.prefix[tag + "-src"] = src_prefix
    src = h.kmigd(tag + "-src")
    src.cmd("migrate-set-parameters", {"x-kmig-tracker": tracker})
    dst = h.kmigd(tag + "-dst", incoming=True)
    sdg = h.dirtygen(tag + "-sdg", src, size=size, wait=False, **opts)
    ddg = h.dirtygen(tag + "-ddg", dst, size=size, role="dst", wait=False)
    h.wait_registered(sdg)
    h.wait_registered(ddg)
    return src, dst, sdg, ddg


def s1_bpf_migration(t, h):
    src, dst, sdg, ddg = pair(h, "b1", "256M", "bpf", rate=20000)
    time.sleep(0.5)     # let the writer dirty a working set first
    migrate(src, listen(dst, "tcp:127.0.0.1:0"))
    info = check_completed(t, "bpf tracker: dirtying 256M rate 20000 over tcp", src, dst,
                           sdg, ddg)
    t.ok(info.get("x-kmig-tracker") == "bpf", "bpf tracker: query-migrate names it "
         "(x-kmig-tracker %s)" % info.get("x-kmig-tracker"), json.dumps(info))
    syncs = info["ram"]["dirty-sync-count"]
    t.ok(syncs >= 2, "bpf tracker: the migration went through %d dirty syncs" % syncs)
    thr = info.get("x-kmig-threads", [])
    t.ok(thr and all(x["tid"] > 0 and x["dirty-pages"] > 0 for x in thr),
         "bpf tracker: query-migrate names the threads that dirtied the last pass (%s)"
         % ", ".join("%s/%d: %d pages" % (x["name"], x["tid"], x["dirty-pages"]) for x in thr),
         json.dumps(info))
    text = src.text()
    t.ok("falling back" not in text and "cannot be used" not in text,
         "bpf tracker: no fallback was needed", text[-2000:])


def s2_fallback(t, h):
    if not shutil.which("setpriv"):
        t.skip("fallback without BPF privileges", "setpriv (util-linux) not installed")
        return
    src, dst, sdg, ddg = pair(h, "b2", "128M", "bpf", NO_BPF_PRIVS,
                              rate=5000)
    migrate(src, listen(dst, "tcp:127.0.0.1:0"))
    info = check_completed(t, "bpf cannot load: migration completes anyway", src, dst, sdg, ddg)
    t.ok(info.get("x-kmig-tracker") == "uffd-wp", "bpf cannot load: uffd-wp tracked it "
         "(x-kmig-tracker %s)" % info.get("x-kmig-tracker"), json.dumps(info))
    text = src.text()
    why = [ln for ln in text.splitlines() if "CAP_BPF+CAP_PERFMON" in ln]
    fb = [ln for ln in text.splitlines() if "falling back to tracker auto" in ln]
    t.ok(bool(why) and bool(fb), "bpf cannot load: kmigd says why (%s) and that it falls "
         "back" % (why[0].split(": ", 2)[-1][:120] if why else "nothing"), text[-3000:])


SCENARIOS = [(1, "migration with the bpf tracker", s1_bpf_migration),
             (2, "fallback when BPF cannot load", s2_fallback)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    bindir = os.path.join(build, "bin")
    t = Tap()
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (eBPF, userfaultfd of another process)")
        return 0
    install_signal_handlers()
    for num, title, fn in SCENARIOS:
        run_in(t, BpfHarness(bindir, "bpf%d" % num), title, fn, sanitized(bindir))
    print("1..%d" % t.n)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
