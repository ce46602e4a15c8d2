#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""make bench: kmig's performance numbers, each a ratio against a baseline
measured in the same run (absolute numbers on a shared VM mean little).

1. Throughput: a 1 GiB idle workload migrated over TCP loopback, against
   kmig-sendloop, a bare send() loop of the same bytes, and against QEMU 7.2
   migrating a stopped 1 GiB guest (when qemu-system-x86_64 is installed).
2. multifd: the same migration on 1, 2 and 4 data channels: GiB/s and CPU
   seconds per GiB (both kmigd together), as ratios to the send() loop's.
3. Downtime: dirtying workloads migrated repeatedly; the share of runs whose
   measured downtime is within downtime-limit.
4. Dirty trackers: uffd-wp against bpf on 1 GiB at 1/10/100 % dirty (bench_bpf.py).
5. Compression: 1 GiB of compressible memory, uncompressed against compress and
   multifd zlib / zstd: GiB/s and wire bytes as ratios to the uncompressed run.
6. Codecs: zlib and zstd encode / decode speed against memcpy (kmig-codecbench).
7. Auto-converge: a workload dirtying twice what the link drains, with and
   without auto-converge and the downtime guarantee (bench_converge.py).
8. The dpdk: channel: 1 GiB idle and dirtying over memif, af_packet and kmig's
   TCP, with QEMU's TCP (bench_dpdk.py; root and DPDK only).
9. Postcopy: a workload that never converges, switched to postcopy after 1 s;
   downtime, faults and their latency (bench_postcopy.py).

This is a benchmark, not a test: it asserts nothing but that every
migration completed and verified.  Output: a table, and a JSON summary line.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "qmp"))
import qmp_client  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_baseline  # noqa: E402
import bench_bpf  # noqa: E402  (3. the uffd-wp and bpf dirty trackers, issue 9)
import bench_converge  # noqa: E402  (5-7. compression, codecs, auto-converge)
import bench_dpdk  # noqa: E402  (8. the dpdk: channel, issue 10)
import bench_postcopy  # noqa: E402  (9. postcopy, issue 11)


class Pair:
    """A source and a destination kmigd with one workload each."""

    def __init__(self, binpath, size, rate, downtime_ms=None, channels=0, content=None,
                 caps=None, params=None, src_args=()):
        self.bin = binpath
        self.dir = tempfile.mkdtemp(prefix="kmig-bench.")
        self.procs = []
        d = self.dir
        self.spawn("kmigd", "--qmp", f"{d}/src.qmp", "--workload", f"{d}/src.wl")
        self.spawn("kmigd", "--qmp", f"{d}/dst.qmp", "--workload", f"{d}/dst.wl",
                   "--incoming", "defer")
        self.wait(f"{d}/src.wl")
        self.wait(f"{d}/dst.wl")
        gen = ["--size", size] + (["--idle"] if rate == "idle" else ["--rate", str(rate)])
        cont = ["--content", content] if content else []
        self.spawn("kmig-dirtygen", "--agent", f"{d}/src.wl", *gen, *cont, *src_args,
                   "--pidfile", f"{d}/s.pid", "--report", f"{d}/src.report")
        self.spawn("kmig-dirtygen", "--agent", f"{d}/dst.wl", "--size", size, "--role", "dst",
                   *cont, "--checksum-out", f"{d}/dst.sum", "--pidfile", f"{d}/d.pid")
        self.wait(f"{d}/s.pid", 120)
        self.wait(f"{d}/d.pid", 120)
        self.src = qmp_client.connect(f"{d}/src.qmp")
        self.dst = qmp_client.connect(f"{d}/dst.qmp")
        base = {"max-bandwidth": 0}
        if downtime_ms is not None:
            base["downtime-limit"] = downtime_ms
        self.src.cmd("migrate-set-parameters", base)
        if channels:
            for q in (self.src, self.dst):
                q.cmd("migrate-set-capabilities",
                      {"capabilities": [{"capability": "multifd", "state": True}]})
                q.cmd("migrate-set-parameters", {"multifd-channels": channels})
        for q in (self.src, self.dst):
            if caps:
                q.cmd("migrate-set-capabilities",
                      {"capabilities": [{"capability": c, "state": True} for c in caps]})
            if params:
                q.cmd("migrate-set-parameters", params)

    def spawn(self, prog, *args):
        log = open(os.path.join(self.dir, f"{prog}.{len(self.procs)}.log"), "w")
        self.procs.append(subprocess.Popen([os.path.join(self.bin, prog), *args],
                                           stdout=log, stderr=log))

    @staticmethod
    def wait(path, secs=10):
        end = time.time() + secs
        while not os.path.exists(path):
            if time.time() > end:
                raise RuntimeError(f"timed out waiting for {path}")
            time.sleep(0.05)

    def cpu(self):
        """CPU seconds both kmigd used so far."""
        total = 0.0
        for p in self.procs[:2]:
            with open("/proc/%d/stat" % p.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def migrate(self, timeout=300, on_poll=None):
        self.cpu0 = self.cpu()
        self.dst.cmd("migrate-incoming", {"uri": "tcp:127.0.0.1:0"})
        port = self.dst.cmd("query-migrate")["socket-address"][0]["port"]
        self.src.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        end = time.time() + timeout
        while True:
            info = self.src.cmd("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            if on_poll:
                on_poll(info)
            if time.time() > end:
                self.src.cmd("migrate_cancel")
                end = time.time() + 30
                timeout = None
            time.sleep(0.05)
        if timeout is None:
            info["x-bench-timed-out"] = True
            return info
        if info.get("status") != "completed":
            raise RuntimeError(f"migration ended {info.get('status')}: {info.get('error-desc')}")
        self.cpu_s = self.cpu() - self.cpu0
        self.wait(os.path.join(self.dir, "dst.sum"), 60)
        return info

    def close(self):
        self.src.close()
        self.dst.close()
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def sendloop(binpath, mib, with_cpu=False):
    out = json.loads(subprocess.run([os.path.join(binpath, "kmig-sendloop"), str(mib)],
                                    check=True, capture_output=True, text=True).stdout)
    return (out["gib_per_s"], out["cpu_s"] / (mib / 1024)) if with_cpu else out["gib_per_s"]


def multifd_rows(binpath, rounds):
    """GiB/s and CPU s/GiB per channel count, each as a median of paired ratios to the
    send() loop run just before it."""
    rows = {}
    for n in (0, 1, 2, 4):
        rate, cpu, rr, cr = [], [], [], []
        for _ in range(rounds):
            b, bc = sendloop(binpath, 1024, with_cpu=True)
            pair = Pair(binpath, "1G", "idle", channels=n)
            try:
                info = pair.migrate()
                c = pair.cpu_s / (info["ram"]["total"] / 2**30)
            finally:
                pair.close()
            g = info["ram"]["total"] / (info["total-time"] / 1000) / 2**30
            rate.append(g)
            cpu.append(c)
            rr.append(g / b)
            cr.append(c / bc)
        rows[n] = (statistics.median(rate), statistics.median(rr), statistics.median(cpu),
                   statistics.median(cr))
        print(f"multifd {n or 'off'}: {rows[n][0]:.2f} GiB/s ({rows[n][1]:.2f}x send()), "
              f"{rows[n][2]:.2f} CPU s/GiB ({rows[n][3]:.2f}x send())", flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--downtime-runs", type=int, default=10)
    ap.add_argument("--multifd-rounds", type=int, default=3)
    ap.add_argument("--compression-rounds", type=int, default=2)
    args = ap.parse_args()
    binpath = os.path.join(args.build, "bin")
    # a terminated bench still stops its agents and workloads (the finally blocks)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))

    base, mig, qemu = [], [], []
    for r in range(args.rounds):
        base.append(sendloop(binpath, 1024))
        if qemu_baseline.QEMU:
            qemu.append(qemu_baseline.migrate_1g())
        pair = Pair(binpath, "1G", "idle")
        try:
            info = pair.migrate()
        finally:
            pair.close()
        mig.append(info["ram"]["total"] / (info["total-time"] / 1000) / 2**30)
        print(f"round {r + 1}: send() loop {base[-1]:.2f} GiB/s, "
              + (f"QEMU {qemu[-1]:.2f} GiB/s, " if qemu else "") +
              f"migration {mig[-1]:.2f} GiB/s (total-time {info['total-time']} ms, "
              f"setup {info['setup-time']} ms, downtime {info['downtime']} ms)", flush=True)
    b, m = statistics.median(base), statistics.median(mig)
    # each round pairs a baseline with a migration run back to back; the
    # median of the paired ratios is steadier on a noisy VM than m / b
    ratio = statistics.median(x / y for x, y in zip(mig, base))

    mrows = multifd_rows(binpath, args.multifd_rounds)

    within, downs = 0, []
    limit = 300
    for r in range(args.downtime_runs):
        pair = Pair(binpath, "256M", 20000, downtime_ms=limit)
        try:
            info = pair.migrate()
        finally:
            pair.close()
        downs.append(info["downtime"])
        within += info["downtime"] <= limit
    # the same runs with the downtime guarantee (half the limit for the last pages)
    gwithin, gdowns, gtotal = 0, [], []
    for r in range(args.downtime_runs):
        pair = Pair(binpath, "256M", 20000, downtime_ms=limit,
                    caps=["x-kmig-downtime-guarantee"])
        try:
            info = pair.migrate()
        finally:
            pair.close()
        gdowns.append(info["downtime"])
        gtotal.append(info["total-time"])
        gwithin += info["downtime"] <= limit
    print()
    print("metric                                   value")
    print(f"send() loop, 1 GiB over loopback         {b:.2f} GiB/s (median of {len(base)})")
    print(f"kmig migration, 1 GiB idle, tcp          {m:.2f} GiB/s (median of {len(mig)})")
    print(f"ratio migration / send() loop            {ratio:.2f}  (median of paired rounds; "
          f"target >= 0.90)")
    if qemu:
        q = statistics.median(qemu)
        qratio = statistics.median(x / y for x, y in zip(mig, qemu))
        print(f"QEMU 7.2, stopped 1 GiB guest, tcp       {q:.2f} GiB/s (median of {len(qemu)})")
        print(f"ratio kmig / QEMU                        {qratio:.2f}  (median of paired rounds)")
    else:
        qratio = None
        print("QEMU 7.2 baseline                        skipped: qemu-system-x86_64 not installed")
    for n, (g, rr, c, cr) in mrows.items():
        print(f"multifd {str(n) + ' ch' if n else 'off '}, 1 GiB idle, tcp      {g:.2f} GiB/s = "
              f"{rr:.2f}x send(); {c:.2f} CPU s/GiB = {cr:.2f}x send()")
    print(f"downtime <= {limit} ms, 256 MiB @20k pg/s   {within}/{len(downs)} runs "
          f"(median {statistics.median(downs)} ms, max {max(downs)} ms; target >= 95%)")
    print(f"... with x-kmig-downtime-guarantee         {gwithin}/{len(gdowns)} runs (median "
          f"{statistics.median(gdowns)} ms, max {max(gdowns)} ms; total-time median "
          f"{statistics.median(gtotal)} ms)")
    crows = bench_converge.compression_rows(Pair, binpath, args.compression_rounds)
    for label, r, rr, w, wr in crows:
        print(f"compression {label:30s} {r:.2f} GiB/s = {rr:.2f}x none; {w:.0f} MiB on the "
              f"wire = {wr:.2f}x none")
    codecs = bench_converge.codec_speed(binpath)
    for name, c in codecs["codecs"].items():
        print(f"codec {name} level {c['level']}, mixed pages       encode {c['encode_mib_s']:.0f} "
              f"MiB/s = {c['encode_vs_memcpy']:.3f}x memcpy, decode {c['decode_mib_s']:.0f} MiB/s "
              f"= {c['decode_vs_memcpy']:.3f}x memcpy, {c['ratio']:.2f}x smaller")
    conv = bench_converge.converge_rows(Pair, binpath)
    trackers = bench_bpf.run(args.build)
    dpdk = bench_dpdk.main_rows(binpath)
    postcopy = bench_postcopy.postcopy_rows(Pair, binpath)
    print(json.dumps({"sendloop_gib_s": round(b, 3), "migration_gib_s": round(m, 3),
                      "trackers": trackers,
                      "ratio": round(ratio, 3),
                      "qemu_ratio": round(qratio, 3) if qratio else None,
                      "multifd": {str(n): [round(x, 3) for x in v] for n, v in mrows.items()},
                      "compression": [[lbl, round(r, 3), round(rr, 3), round(w), round(wr, 3)]
                                      for lbl, r, rr, w, wr in crows],
                      "codecs": codecs, "converge": conv, "dpdk": dpdk, "postcopy": postcopy,
                      "downtime_within": within,
                      "downtime_runs": len(downs), "downtimes_ms": downs,
                      "guarantee_downtimes_ms": gdowns, "guarantee_within": gwithin}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
