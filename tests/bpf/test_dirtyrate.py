#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""test_dirtyrate.py: calc-dirty-rate / query-dirty-rate and `kmig dirtyrate`, end to end.

    python3 tests/bpf/test_dirtyrate.py --build build

1. The QMP contract without a measurement: QEMU's unstarted reply and QEMU 7.2's error texts
   (calc-time and sample-pages bounds, sample-pages with dirty-ring), kmig's own text when no
   workload is registered.
2. A workload dirtying a known rate (kmig-dirtygen, 256 MiB, 10000 pages/s, sequential so no
   page is dirtied twice in the window): every mode reports 39.06 MiB/s within 10 %; dirty-ring
   credits the writer thread; a second calc and a migrate during a tracker measurement are
   refused; afterwards the workload still migrates and verifies page by page.
3. The CLI: `kmig dirtyrate --qmp` (rate, threads, text heat map, an SVG whose cells are the
   block's 2 MiB regions) and `kmig dirtyrate --pid` on a process that registered nothing.
4. The workload exits during a measurement: measured, dirty-rate -1, the reason in x-kmig-error.
5. Writes the kernel makes through get_user_pages (/proc/PID/mem here) count in dirty-ring
   mode, under tid 0.
Prints TAP; cleans up everything it starts, also on failure.  ~15 s.
"""

import argparse
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bpf_harness import ROOT, BpfHarness  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import Tap, install_signal_handlers, wait_until  # noqa: E402
from steps import check_completed, listen, migrate  # noqa: E402
from test_migration import run_in, sanitized  # noqa: E402

RATE = 10000                          # pages/s the workload dirties
WANT_MIB = RATE * 4096 / (1 << 20)    # 39.06 MiB/s


def error_of(agent, execute, arguments=None):
    rep = agent.request(execute, arguments)
    return rep.get("error", {}).get("desc") if "error" in rep else None


def measure(agent, args, timeout):
    agent.cmd("calc-dirty-rate", args)
    first = agent.cmd("query-dirty-rate")
    info = wait_until(lambda: (lambda i: i if i["status"] == "measured" else None)(
        agent.cmd("query-dirty-rate")), timeout, interval=0.05, what="status measured")
    return first, info


def within(value, want, pct):
    return abs(value - want) <= want * pct / 100.0


def writer_tid(pid):
    tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    others = [t for t in tids if t != pid]
    return others[0] if len(others) == 1 else None


def d1_contract(t, h):
    a = h.kmigd("d1")
    t.ok(a.cmd("query-dirty-rate") == {"status": "unstarted", "start-time": 0, "calc-time": 0,
                                       "sample-pages": 0, "mode": "page-sampling"},
         "before any measurement: QEMU's unstarted reply", str(a.cmd("query-dirty-rate")))
    cases = [
        ({"calc-time": 0}, "calc-time is out of range[1, 60]."),
        ({"calc-time": 61}, "calc-time is out of range[1, 60]."),
        ({"calc-time": 1, "sample-pages": 127}, "sample-pages is out of range[128, 16384]."),
        ({"calc-time": 1, "sample-pages": 16385}, "sample-pages is out of range[128, 16384]."),
        ({"calc-time": 1, "sample-pages": 512, "mode": "dirty-ring"},
         "either sample-pages or dirty-ring can be specified."),
        ({"calc-time": 1}, "No workload is registered with kmigd: there is no memory to "
                           "measure"),
        ({"calc-time": 1, "mode": "no-such"}, "Parameter 'mode' does not accept value 'no-such'"),
    ]
    for args, want in cases:
        got = error_of(a, "calc-dirty-rate", args)
        t.ok(got == want, "calc-dirty-rate %s: %r" % (args, want), "got %r" % got)


def d2_known_rate(t, h):
    src = h.kmigd("d2-src")
    sdg = h.dirtygen("d2-sdg", src, size="256M", rate=RATE, pattern="seq")
    time.sleep(0.3)
    wtid = writer_tid(sdg.pid)
    for mode, extra, secs in (("dirty-bitmap", {}, 1), ("dirty-ring", {}, 1),
                              ("page-sampling", {"sample-pages": 16384}, 2)):
        args = dict({"calc-time": secs, "mode": mode}, **extra)
        src.cmd("calc-dirty-rate", args)
        first = src.cmd("query-dirty-rate")
        if mode != "page-sampling":
            busy = error_of(src, "migrate", {"uri": "tcp:127.0.0.1:1"})
            again = error_of(src, "calc-dirty-rate", {"calc-time": 1})
            t.ok(busy and "dirty rate is being measured" in busy and
                 again == "the dirty rate is already being measured.",
                 "%s: while it measures, migrate and a second calc-dirty-rate are refused"
                 % mode, "migrate: %r; calc: %r" % (busy, again))
        info = wait_until(lambda: (lambda i: i if i["status"] == "measured" else None)(
            src.cmd("query-dirty-rate")), secs + 10, interval=0.05, what="measured")
        t.ok(first["status"] == "measuring" and "dirty-rate" not in first and
             first["mode"] == mode and first["calc-time"] == secs,
             "%s: measuring at first, without a rate" % mode, str(first))
        rate, ms, pages = info.get("dirty-rate"), info.get("x-kmig-calc-time-ms"), \
            info.get("x-kmig-dirty-pages")
        pps = pages * 1000.0 / ms if ms else 0
        t.ok(rate is not None and within(rate, WANT_MIB, 10) and within(pps, RATE, 10),
             "%s: dirty-rate %s MiB/s (%.0f pages/s) is %.2f MiB/s within 10 %%"
             % (mode, rate, pps, WANT_MIB), str({k: v for k, v in info.items()
                                                  if k != "x-kmig-blocks"}))
        blocks = info.get("x-kmig-blocks", [])
        regions = blocks[0]["regions"] if blocks else []
        if mode == "page-sampling":
            t.ok(info["sample-pages"] == 16384 and info.get("x-kmig-tracker") == "page-sampling"
                 and len(regions) == 128, "page-sampling: sample-pages 16384, 128 regions "
                 "in the heat map", str(info.get("x-kmig-tracker")))
            continue
        t.ok(info["sample-pages"] == 0 and len(regions) == 128 and
             sum(r for r in regions if r > 0) == blocks[0]["dirty-pages"],
             "%s: sample-pages 0, the heat map's 128 regions add up to the block's pages"
             % mode, "tracker %s" % info.get("x-kmig-tracker"))
        if mode == "dirty-ring":
            th = info.get("x-kmig-threads", [])
            vc = info.get("vcpu-dirty-rate", [])
            top = th[0] if th else {}
            t.ok(info.get("x-kmig-tracker") == "bpf" and top.get("tid") == wtid and
                 top.get("name") == "kmig-dirtygen" and
                 sum(x["dirty-pages"] for x in th) == pages and
                 top.get("dirty-pages", 0) >= 0.99 * pages and
                 vc and vc[0]["id"] == wtid and within(vc[0]["dirty-rate"], WANT_MIB, 10),
                 "dirty-ring: the bpf tracker credits the writer thread (tid %s) and the "
                 "threads add up to the total" % wtid, "threads %s vcpu %s" % (th[:4], vc[:4]))
    # the measurements gave the workload's userfaultfd back: it still migrates
    dst = h.kmigd("d2-dst", incoming=True)
    ddg = h.dirtygen("d2-ddg", dst, size="256M", role="dst")
    migrate(src, listen(dst, "tcp:127.0.0.1:0"))
    check_completed(t, "after the measurements, a migration", src, dst, sdg, ddg)
    busy = error_of(src, "calc-dirty-rate", {"calc-time": 1, "mode": "dirty-bitmap"})
    t.ok(busy is not None, "after the migration the source's workload is gone: calc refused "
         "(%s)" % busy)


def d3_cli(t, h):
    src = h.kmigd("d3")
    sdg = h.dirtygen("d3-sdg", src, size="128M", rate=RATE, pattern="seq")
    svg = h.path("heat.svg")
    kmig = os.path.join(h.bindir, "kmig")
    r = subprocess.run([kmig, "dirtyrate", "--qmp", src.qmp_path, "--mode", "dirty-ring",
                        "--calc-time", "1", "--svg", svg], capture_output=True, text=True,
                       timeout=60)
    out = r.stdout
    t.ok(r.returncode == 0 and "dirty rate:" in out and "kmig-dirtygen" in out and
         "heat map of block ram0" in out and out.count("|") >= 2,
         "kmig dirtyrate --qmp --mode dirty-ring: rate, threads, heat map", out + r.stderr)
    try:
        root = ET.parse(svg).getroot()
        cells = [e for e in root.iter() if e.tag.endswith("rect") and e.get("class") == "cell"]
        ok = root.tag.endswith("svg") and len(cells) == 64
    except (OSError, ET.ParseError) as e:
        ok, cells = False, str(e)
    t.ok(ok, "kmig dirtyrate --svg: an SVG with one cell per 2 MiB region (64)",
         "cells: %s" % (len(cells) if isinstance(cells, list) else cells))
    r = subprocess.run([kmig, "dirtyrate", "--pid", "1", "--mode", "dirty-ring"],
                       capture_output=True, text=True, timeout=10)
    t.ok(r.returncode == 2 and "page-sampling only" in r.stderr,
         "kmig dirtyrate --pid --mode dirty-ring: refused, exit 2", r.stderr)
    r = subprocess.run([kmig, "dirtyrate", "--qmp", src.qmp_path, "--calc-time", "0"],
                       capture_output=True, text=True, timeout=10)
    t.ok(r.returncode == 1 and "calc-time is out of range[1, 60]." in r.stderr,
         "kmig dirtyrate --calc-time 0: kmigd's error, exit 1", r.stderr)

    # a process that registered nothing: a Python loop dirtying 256 MiB at RATE pages/s
    code = ("import time,sys\nb=bytearray(256<<20)\nfor i in range(0,len(b),4096): b[i]=1\n"
            "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
            "p=0;n=len(b)//4096;t0=time.monotonic();done=0\n"
            "while True:\n"
            "  due=int((time.monotonic()-t0)*%d)\n"
            "  while done<due:\n"
            "    b[(p%%n)*4096]=(b[(p%%n)*4096]+1)&255; p+=1; done+=1\n"
            "  time.sleep(0.002)\n" % RATE)
    py = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        py.stdout.readline()
        r = subprocess.run([kmig, "dirtyrate", "--pid", str(py.pid), "--calc-time", "2",
                            "--sample-pages", "16384"], capture_output=True, text=True,
                           timeout=60)
    finally:
        py.kill()
        py.wait()
    rate = None
    for line in r.stdout.splitlines():
        if "dirty rate:" in line:
            rate = float(line.split("(")[1].split()[0])
    t.ok(r.returncode == 0 and rate is not None and within(rate, WANT_MIB, 15),
         "kmig dirtyrate --pid on an unregistered process: %s MiB/s is %.2f within 15 %%"
         % (rate, WANT_MIB), r.stdout + r.stderr)


def d4_workload_exits(t, h):
    src = h.kmigd("d4")
    sdg = h.dirtygen("d4-sdg", src, size="64M", rate=RATE)
    src.cmd("calc-dirty-rate", {"calc-time": 2, "mode": "dirty-bitmap"})
    time.sleep(0.3)
    sdg.stop()
    info = wait_until(lambda: (lambda i: i if i["status"] == "measured" else None)(
        src.cmd("query-dirty-rate")), 15, interval=0.05, what="measured")
    t.ok(info.get("dirty-rate") == -1 and "exited" in info.get("x-kmig-error", ""),
         "the workload exits while measured: dirty-rate -1, x-kmig-error says why (%s)"
         % info.get("x-kmig-error"), str(info))


def d5_kernel_writes(t, h):
    src = h.kmigd("d5")
    sdg = h.dirtygen("d5-sdg", src, size="64M", idle=True)
    with open("/proc/%d/maps" % sdg.pid) as f:
        addr = next(int(ln.split("-")[0], 16) for ln in f
                    if "memfd:ram0" in ln and " rw-s " in ln)
    src.cmd("calc-dirty-rate", {"calc-time": 1, "mode": "dirty-ring"})
    time.sleep(0.2)
    fd = os.open("/proc/%d/mem" % sdg.pid, os.O_RDWR)
    try:
        for i in range(1000):       # get_user_pages writes, as O_DIRECT reads would make
            os.pwrite(fd, b"k", addr + i * 4096)
    finally:
        os.close(fd)
    info = wait_until(lambda: (lambda i: i if i["status"] == "measured" else None)(
        src.cmd("query-dirty-rate")), 10, interval=0.05, what="measured")
    th = info.get("x-kmig-threads", [])
    t.ok(info.get("x-kmig-dirty-pages") == 1000 and th and th[0]["tid"] == 0 and
         th[0]["dirty-pages"] == 1000 and all(v["id"] != 0 for v in info.get("vcpu-dirty-rate", [])),
         "dirty-ring: 1000 pages written through /proc/PID/mem count, as tid 0 '[kernel gup]' "
         "(no vCPU entry)", str({k: v for k, v in info.items() if k != "x-kmig-blocks"}))


SCENARIOS = [(1, "QMP contract", d1_contract), (2, "known dirty rate", d2_known_rate),
             (3, "kmig dirtyrate", d3_cli), (4, "workload exits", d4_workload_exits),
             (5, "kernel writes", d5_kernel_writes)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", dest="only", type=int, action="append")
    args = ap.parse_args()
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    bindir = os.path.join(build, "bin")
    t = Tap()
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (eBPF, another process's memory)")
        return 0
    install_signal_handlers()
    for num, title, fn in SCENARIOS:
        if args.only and num not in args.only:
            continue
        run_in(t, BpfHarness(bindir, "dr%d" % num), title, fn, sanitized(bindir))
    print("1..%d" % t.n)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
