#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench_dpdk.py: make bench's rows for the dpdk: channel (root, DPDK built in).

1 GiB workloads, idle and dirtying (20k pages/s), migrated over dpdk memif (the source serves,
the destination is the zero-copy client), dpdk af_packet on a veth pair between two
namespaces (MTU 9000) and kmig's TCP over loopback, plus QEMU 7.2's TCP migration of a stopped
1 GiB guest (idle only), and (idle only) multifd over memif with 1 and 2 data channels on queue
pairs of their own, in paired rounds.  For each: Gbit/s (bytes transferred over QEMU's
total-time, setup included) and the source kmigd's CPU seconds per GiB sent, with the medians
of the per-round ratios to kmig's TCP (and to QEMU).  Also the copies per page each PMD made
and the time the source spent in the PMD's transmit bursts (memif's copy into the shared
buffers), from kmigd's channel counters.

    python3 tests/bench/bench_dpdk.py --build build [--rounds 3]

Imported by bench.py (rows()); prints a table and a JSON line when run alone."""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "qmp"))
sys.path.insert(0, HERE)
import qmp_client  # noqa: E402
import qemu_baseline  # noqa: E402

GiB = 1 << 30
RATE = 20000
# memif-mf1 / memif-mf2: multifd with 1 / 2 data channels, a memif queue pair each
TRANSPORTS = {"idle": ("tcp", "memif", "memif-mf1", "memif-mf2", "af_packet"),
              "dirty": ("tcp", "memif", "af_packet")}


class Pair:
    """Two kmigd with a 1 GiB workload each, for one transport; everything removed at close."""

    def __init__(self, binpath, transport, rate, size="1G"):
        # "memif-mfN": memif with multifd, N data channels on queues 1..N
        self.chans = int(transport.split("-mf")[1]) if "-mf" in transport else 0
        transport = transport.split("-mf")[0]
        self.bin, self.transport = binpath, transport
        self.dir = tempfile.mkdtemp(prefix="kmig-bench-dpdk.")
        self.procs, self.netns, self.prefixes = [], [], []
        tag = "%d%s" % (os.getpid() % 10000, transport[0])
        ns = (None, None)
        if transport == "af_packet":
            ns = ("kmig-bd-%sa" % tag, "kmig-bd-%sb" % tag)
            self.veth = ("kb%sa" % tag, "kb%sb" % tag)
            for n in ns:
                self.ip("netns", "add", n)
                self.netns.append(n)
            self.ip("link", "add", self.veth[0], "type", "veth", "peer", "name", self.veth[1])
            for n, v in zip(ns, self.veth):
                self.ip("link", "set", v, "netns", n)
                self.ip("-n", n, "link", "set", v, "mtu", "9000", "up")
        d = self.dir
        for side, n in zip(("src", "dst"), ns):
            args = ["--qmp", f"{d}/{side}.qmp", "--workload", f"{d}/{side}.wl"]
            if side == "dst":
                args += ["--incoming", "defer"]
            if transport != "tcp":
                prefix = "kmig-bench-%d-%s" % (os.getpid(), side)
                self.prefixes.append(prefix)
                args += ["--dpdk", "prefix=%s,mem=512" % prefix]
            self.spawn(side, [os.path.join(binpath, "kmigd")] + args, n)
        self.wait(f"{d}/src.wl")
        self.wait(f"{d}/dst.wl")
        gen = ["--idle"] if rate == "idle" else ["--rate", str(rate)]
        self.spawn("sdg", [os.path.join(binpath, "kmig-dirtygen"), "--agent", f"{d}/src.wl",
                           "--size", size, *gen, "--pidfile", f"{d}/s.pid"])
        self.spawn("ddg", [os.path.join(binpath, "kmig-dirtygen"), "--agent", f"{d}/dst.wl",
                           "--size", size, "--role", "dst", "--checksum-out", f"{d}/dst.sum",
                           "--pidfile", f"{d}/d.pid"])
        self.wait(f"{d}/s.pid", 120)
        self.wait(f"{d}/d.pid", 120)
        self.src = qmp_client.connect(f"{d}/src.qmp")
        self.dst = qmp_client.connect(f"{d}/dst.qmp")
        self.src.cmd("migrate-set-parameters", {"max-bandwidth": 0})
        for q in (self.src, self.dst) if self.chans else ():
            q.cmd("migrate-set-capabilities",
                  {"capabilities": [{"capability": "multifd", "state": True}]})
            q.cmd("migrate-set-parameters", {"multifd-channels": self.chans})
        time.sleep(1)       # the workloads' first writes settle

    @staticmethod
    def ip(*args):
        subprocess.run(["ip"] + list(args), check=True, capture_output=True, timeout=15)

    def spawn(self, name, argv, netns=None):
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        log = open(os.path.join(self.dir, name + ".log"), "w")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=log,
                                           start_new_session=True))

    @staticmethod
    def wait(path, secs=15):
        end = time.time() + secs
        while not os.path.exists(path):
            if time.time() > end:
                raise RuntimeError(f"timed out waiting for {path}")
            time.sleep(0.05)

    def kmigd_pid(self, side):
        """The kmigd itself (under ip netns exec it is that process, after its exec)."""
        return self.procs[0 if side == "src" else 1].pid

    def cpu(self):
        with open("/proc/%d/stat" % self.kmigd_pid("src")) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def uris(self):
        if self.transport == "tcp":
            return None, "tcp:127.0.0.1:0"
        if self.transport == "memif":
            sock = os.path.join(self.dir, "m.sock")
            q = ",queues=%d" % (self.chans + 1) if self.chans else ""
            return ("dpdk:vdev=net_memif0,role=server,socket=%s%s" % (sock, q),
                    "dpdk:vdev=net_memif0,role=client,socket=%s,zero-copy=yes%s" % (sock, q))
        return "dpdk:iface=%s" % self.veth[0], "dpdk:iface=%s" % self.veth[1]

    def migrate(self, timeout=300):
        src_uri, dst_uri = self.uris()
        self.dst.cmd("migrate-incoming", {"uri": dst_uri})
        if src_uri is None:
            port = self.dst.cmd("query-migrate")["socket-address"][0]["port"]
            src_uri = "tcp:127.0.0.1:%s" % port
        c0 = self.cpu()
        self.src.cmd("migrate", {"uri": src_uri})
        end = time.time() + timeout
        while True:
            info = self.src.cmd("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            if time.time() > end:
                self.src.cmd("migrate_cancel")
                raise RuntimeError("migration over %s timed out" % self.transport)
            time.sleep(0.02)
        cpu = self.cpu() - c0
        if info.get("status") != "completed":
            raise RuntimeError("migration over %s ended %s: %s" % (
                self.transport, info.get("status"), info.get("error-desc")))
        self.wait(os.path.join(self.dir, "dst.sum"), 60)
        return info, cpu

    def channel_counters(self, side):
        """key=value counters of the side's closed dpdk channels: the last one's, with the
        PMD's tx time (pmd_tx_us) summed over all of them (multifd: one per queue)."""
        try:
            with open(os.path.join(self.dir, side + ".log")) as f:
                lines = [ln for ln in f if "dpdk: channel closed " in ln]
        except OSError:
            return {}
        if not lines:
            return {}
        kv = [dict(re.findall(r"(\w+)=(\S+)", ln)) for ln in lines]
        out = dict(kv[-1])
        out["pmd_tx_us"] = sum(int(x.get("pmd_tx_us", 0)) for x in kv)
        out["rtx"] = sum(int(x.get("rtx", 0)) for x in kv)
        return out

    def close(self):
        for q in (getattr(self, "src", None), getattr(self, "dst", None)):
            if q:
                q.close()
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for n in self.netns:
            subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=15)
        for prefix in self.prefixes:
            shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def one(binpath, transport, rate, size="1G"):
    pair = Pair(binpath, transport, rate, size)
    try:
        info, cpu = pair.migrate()
        sent = info["ram"]["transferred"]
        row = {"gbit_s": sent * 8 / (info["total-time"] / 1000) / 1e9,
               "cpu_s_per_gib": cpu / (sent / GiB), "total_ms": info["total-time"],
               "setup_ms": info["setup-time"], "passes": info["ram"]["dirty-sync-count"],
               "downtime_ms": info.get("downtime")}
        if transport != "tcp":
            s, d = pair.channel_counters("src"), pair.channel_counters("dst")
            row["copies"] = {"kmig_tx": s.get("copies_kmig_tx"), "pmd_tx": s.get("copies_pmd_tx"),
                             "pmd_rx": d.get("copies_pmd_rx"), "kmig_rx": d.get("copies_kmig_rx")}
            row["resent"] = int(s.get("rtx", 0))
            row["pmd_tx_s_per_gib"] = int(s.get("pmd_tx_us", 0)) / 1e6 / (sent / GiB)
        return row
    finally:
        pair.close()


def unavailable(binpath):
    if os.geteuid() != 0:
        return "needs root"
    r = subprocess.run(["ldd", os.path.join(binpath, "kmigd")], capture_output=True, text=True)
    return None if "librte_eal" in r.stdout else "kmigd was built without DPDK"


def rows(binpath, rounds=3, size="1G", qemu=True):
    """Runs the rounds; returns {mode: {transport: [row, ...]}, "qemu": [Gbit/s, ...]}."""
    res = {"idle": {}, "dirty": {}, "qemu": []}
    for r in range(rounds):
        for mode, rate in (("idle", "idle"), ("dirty", RATE)):
            for tr in TRANSPORTS[mode]:
                row = one(binpath, tr, rate, size)
                res[mode].setdefault(tr, []).append(row)
                print("round %d %s %-9s %6.2f Gbit/s, %.3f CPU s/GiB, total %d ms (setup %d), "
                      "%d passes%s%s" % (r + 1, mode, tr, row["gbit_s"], row["cpu_s_per_gib"],
                                        row["total_ms"], row["setup_ms"], row["passes"],
                                        ", %d frames sent again" % row["resent"]
                                        if "resent" in row else "",
                                        ", PMD tx %.3f s/GiB" % row["pmd_tx_s_per_gib"]
                                        if "pmd_tx_s_per_gib" in row else ""), flush=True)
        if qemu and qemu_baseline.QEMU:
            res["qemu"].append(qemu_baseline.migrate_1g() * GiB * 8 / 1e9)
            print("round %d QEMU 7.2 tcp, stopped 1 GiB guest: %.2f Gbit/s" % (
                r + 1, res["qemu"][-1]), flush=True)
    return res


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def table(res):
    out = []
    for mode in ("idle", "dirty"):
        tcp = res[mode]["tcp"]
        for tr in TRANSPORTS[mode]:
            rs = res[mode][tr]
            g, c = med([x["gbit_s"] for x in rs]), med([x["cpu_s_per_gib"] for x in rs])
            line = "%-5s %-9s %6.2f Gbit/s  %.3f sender CPU s/GiB" % (mode, tr, g, c)
            if tr != "tcp":
                rg = med([x["gbit_s"] / y["gbit_s"] for x, y in zip(rs, tcp)])
                rc = med([x["cpu_s_per_gib"] / y["cpu_s_per_gib"] for x, y in zip(rs, tcp)])
                line += "  = %.2fx tcp's rate, %.2fx tcp's CPU" % (rg, rc)
                if mode == "idle" and res["qemu"]:
                    rq = med([x["gbit_s"] / q for x, q in zip(rs, res["qemu"])])
                    line += ", %.2fx QEMU's rate" % rq
                cp = rs[-1].get("copies", {})
                line += "; copies/page kmig-tx %s pmd-tx %s pmd-rx %s kmig-rx %s" % (
                    cp.get("kmig_tx"), cp.get("pmd_tx"), cp.get("pmd_rx"), cp.get("kmig_rx"))
                pt = med([x["pmd_tx_s_per_gib"] for x in rs])
                # wall time (TSC) in tx bursts: a PMD that waits in the kernel (af_packet) can
                # spend more than the sender's CPU time there
                line += "; in PMD tx bursts %.3f s/GiB = %.2fx the sender's CPU time" % (pt, pt / c)
                if "-mf" in tr:
                    one = res[mode]["memif"]
                    line += "; %.2fx one memif channel's rate" % med(
                        [x["gbit_s"] / y["gbit_s"] for x, y in zip(rs, one)])
            elif mode == "idle" and res["qemu"]:
                line += "  = %.2fx QEMU's rate" % med([x["gbit_s"] / q for x, q in
                                                       zip(rs, res["qemu"])])
            out.append(line)
    if res["qemu"]:
        out.append("idle  QEMU 7.2  %6.2f Gbit/s (tcp, stopped guest)" % med(res["qemu"]))
    return out


def main_rows(binpath, rounds=3):
    """bench.py's entry: runs the rows, prints the table; returns the results (or the reason
    they were skipped)."""
    why = unavailable(binpath)
    if why:
        print("dpdk channel rows skipped: %s" % why)
        return {"skipped": why}
    res = rows(binpath, rounds)
    print("\n".join(table(res)))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", default="1G", help="workload size (a smaller one for a smoke run)")
    ap.add_argument("--no-qemu", action="store_true")
    args = ap.parse_args()
    binpath = os.path.join(args.build, "bin")
    why = unavailable(binpath)
    if why:
        print("dpdk bench skipped: %s" % why)
        return 0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    res = rows(binpath, args.rounds, args.size, not args.no_qemu)
    print()
    print("\n".join(table(res)))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
