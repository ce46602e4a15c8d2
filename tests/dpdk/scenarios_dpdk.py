# SPDX-License-Identifier: GPL-2.0-only
"""scenarios_dpdk.py: the dpdk suite's scenarios.  Each starts two kmigd (EAL started by
kmigd --dpdk), their kmig-dirtygen workloads and a dpdk: migration between them, over memif
(both agents on this host) or af_packet / af_xdp on a veth pair between two namespaces the
scenario creates.  Completed migrations are checked page by page (the e2e suite's check);
failed ones prove the source intact by migrating it again."""

import json
import os
import re
import signal
import subprocess
import sys
import time

from dpdk_harness import HERE, chan_lines
from harness import Fail, wait_until
from steps import (MiB, check_completed, check_source_alive, fresh_dst, listen, migrate, must,
                   start_pair)


def kv(line):
    """The key=value pairs of one kmigd log line."""
    return dict(re.findall(r"(\w+)=(\S+)", line))


def closed_stats(agent):
    """key=value counters of the agent's last closed dpdk channel ({} if none)."""
    _, closed = chan_lines(agent)
    return kv(closed[-1]) if closed else {}


def opened_info(agent):
    opened, _ = chan_lines(agent)
    return kv(opened[-1]) if opened else {}


def gate_parks(agent, timeout=5):
    """How often the agent's gate parked EAL's interrupt thread, from the line its memif
    device logs when it closes (waits for it up to @timeout s); -1 without one."""
    pat = re.compile(r"interrupt thread parked (\d+) times so far, (\d+) bursts waited")
    found = []

    def seen():
        found[:] = pat.findall(agent.text())
        return bool(found)
    try:
        wait_until(seen, timeout, what="the memif device's closing line")
    except Fail:
        return -1
    return int(found[-1][0])


def memif_uris(h, tag, src_extra="", dst_extra="", zero_copy=True):
    """The recommended memif pair: the source serves (it copies pages into the ring), the
    destination is the zero-copy client (it reads them where the source put them)."""
    sock = h.path(tag + ".memif")
    src = "dpdk:vdev=net_memif0,role=server,socket=%s%s" % (sock, src_extra)
    dst = "dpdk:vdev=net_memif0,role=client,socket=%s%s%s" % (
        sock, ",zero-copy=yes" if zero_copy else "", dst_extra)
    return src, dst


def go(src, dst, src_uri, dst_uri, bandwidth=0):
    """migrate-incoming on the destination, then migrate on the source."""
    dst.cmd("migrate-incoming", {"uri": dst_uri})
    migrate(src, src_uri, bandwidth)


def copies_diag(t, label, src, dst):
    s, d = closed_stats(src), closed_stats(dst)
    t.diag("%s: copies per page: kmig on send %s, PMD on send %s, PMD on receive %s, kmig on "
           "receive %s; frames %s out, %s sent again, %s by reference" % (
               label, s.get("copies_kmig_tx"), s.get("copies_pmd_tx"),
               d.get("copies_pmd_rx"), d.get("copies_kmig_rx"), s.get("data_out"),
               s.get("rtx"), s.get("ref_bytes")))
    return s, d


# ---- completed migrations ---------------------------------------------------------------

def m1_memif(t, h):
    """memif, zero-copy destination, dirtying workload."""
    src, dst, sdg, ddg = start_pair(h, "m1", "256M", rate=5000)
    su, du = memif_uris(h, "m1")
    go(src, dst, su, du)
    label = "memif zero-copy: dirtying 256M rate 5000"
    info = check_completed(t, label, src, dst, sdg, ddg)
    s, d = copies_diag(t, label, src, dst)
    t.ok(info.get("x-kmig-transport") == "dpdk", "%s: x-kmig-transport is dpdk" % label,
         json.dumps(info))
    so, do = opened_info(src), opened_info(dst)
    t.ok(so.get("pages") == "by-reference" and s.get("copies_kmig_tx") == "0" and
         int(s.get("ref_bytes", 0)) >= 256 * MiB * 0.9,
         "%s: pages left the source by reference, kmig copied none on send (%s bytes by "
         "reference)" % (label, s.get("ref_bytes")), "%s\n%s" % (so, s))
    t.ok(do.get("driver") == "net_memif" and d.get("copies_pmd_rx") == "0",
         "%s: the destination received in place (memif zero-copy, PMD copies on receive %s)"
         % (label, d.get("copies_pmd_rx")), "%s\n%s" % (do, d))
    # memif's teardown on EAL's interrupt thread is kept off the bursts (dpdk_gate.c)
    sp, dp = gate_parks(src), gate_parks(dst)
    t.ok(sp > 0 and dp > 0, "%s: bursts ran with EAL's interrupt thread parked (source %d "
         "parks, destination %d)" % (label, sp, dp), src.text()[-800:] + dst.text()[-800:])


def m2_memif_lossy(t, h):
    """1 % loss, reordering and duplication injected on both receive paths."""
    src, dst, sdg, ddg = start_pair(h, "m2", "128M", rate=5000)
    inj = ",x-loss=1,x-reorder=1,x-dup=1,x-seed=%d" % os.getpid()
    su, du = memif_uris(h, "m2", src_extra=inj + ",csum=full", dst_extra=inj + ",csum=full")
    go(src, dst, su, du)
    label = "memif, 1% loss/reorder/duplication both ways"
    check_completed(t, label, src, dst, sdg, ddg, timeout=90)
    s, d = closed_stats(src), closed_stats(dst)
    lost, dup, reo = (int(d.get(k, 0)) for k in ("inj_lost", "inj_dup", "inj_reordered"))
    t.diag("%s: source: %s timeouts, %s sent again on selective acks; destination: %s "
           "frames out of order" % (label, s.get("timeouts"), s.get("fast_rtx"), d.get("ooo_in")))
    t.ok(lost > 100 and dup > 100 and reo > 100 and int(s.get("rtx", 0)) >= lost * 0.5 and
         int(d.get("drop_duplicate", 0)) > 0,
         "%s: %d frames lost, %d duplicated, %d reordered at the destination; %s sent again, "
         "%s duplicates dropped" % (label, lost, dup, reo, s.get("rtx"),
                                    d.get("drop_duplicate")), "%s\n%s" % (s, d))


def injector(h, ns, ifname, seconds):
    """Frames of other protocols (IPv6 neighbour discovery and MLD use ethertype 0x86dd, ARP
    0x0806) sent from namespace @ns on @ifname for @seconds, in the background."""
    code = r"""
import socket, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((%r, 0))
mac = s.getsockname()[4]
end, n = time.monotonic() + %f, 0
while time.monotonic() < end:
    s.send(b"\x33\x33\0\0\0\x01" + mac + b"\x86\xdd" + b"\x60" + b"\0" * 59)
    s.send(b"\xff" * 6 + mac + b"\x08\x06" + b"\0" * 46)
    n += 2
    time.sleep(0.002)
print(n)
""" % (ifname, seconds)
    log = open(h.path("injector.log"), "w")
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                            stdout=log, stderr=log, start_new_session=True)


def m3_af_packet(t, h, mtu, size, inject):
    tag = "a%d" % mtu
    ns_a, ns_b, va, vb = h.veth(tag[:3], mtu)
    src, dst, sdg, ddg = start_pair(h, tag, size, src_ns=ns_a, dst_ns=ns_b, rate=3000)
    dst.cmd("migrate-incoming", {"uri": "dpdk:iface=%s" % vb})
    inj = injector(h, ns_a, va, 3) if inject else None
    migrate(src, "dpdk:iface=%s" % va, 0)
    label = "af_packet over veth MTU %d: dirtying %s" % (mtu, size)
    try:
        check_completed(t, label, src, dst, sdg, ddg, timeout=90)
    finally:
        if inj:
            try:
                inj.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(inj.pid, signal.SIGKILL)
    s, d = copies_diag(t, label, src, dst)
    so = opened_info(src)
    want = min(mtu - 80, 16384)     # the MTU less kmig's 80-byte frame header
    t.ok(so.get("driver") == "net_af_packet" and so.get("payload") == str(want),
         "%s: %s payload bytes per frame (a page in %s frames)" % (
             label, so.get("payload"), -(-4096 // int(so.get("payload", 4096)))), str(so))
    if inject:
        t.ok(int(d.get("drop_foreign", 0)) > 20,
             "%s: the destination ignored %s frames of other protocols (IPv6, ARP) that "
             "arrived on its port meanwhile" % (label, d.get("drop_foreign")), str(d))


def m3_af_packet_9000(t, h):
    m3_af_packet(t, h, 9000, "128M", inject=True)


def m4_af_packet_1500(t, h):
    m3_af_packet(t, h, 1500, "64M", inject=False)


def m5_af_xdp(t, h):
    """af_xdp on a veth (native XDP, copy sockets): where it loads."""
    ns_a, ns_b, va, vb = h.veth("x", 3000)
    src, dst, sdg, ddg = start_pair(h, "m5", "64M", src_ns=ns_a, dst_ns=ns_b, idle=True)
    args = "start_queue=0,queue_count=1,force_copy=1"
    r = dst.request("migrate-incoming", {"uri": "dpdk:vdev=net_af_xdp0,iface=%s,%s" % (vb, args)})
    if "error" in r:
        t.skip("af_xdp on veth", "the af_xdp port did not come up here: %s"
               % r["error"].get("desc", "")[:200])
        return
    migrate(src, "dpdk:vdev=net_af_xdp0,iface=%s,%s" % (va, args))
    try:
        info = src.wait_status(("completed", "failed"), 60)
    except Fail as e:
        info = {"status": str(e)}
    if info.get("status") == "failed" and "cannot" in info.get("error-desc", ""):
        t.skip("af_xdp on veth", "the source's af_xdp port did not come up: %s"
               % info.get("error-desc", "")[:200])
        return
    label = "af_xdp over veth MTU 3000 (1514-byte frames): idle 64M"
    check_completed(t, label, src, dst, sdg, ddg)
    s, d = copies_diag(t, label, src, dst)
    t.diag("%s: %s of %s frames sent again (af_xdp is lossy under CPU contention)" % (
        label, s.get("rtx"), s.get("data_out")))


def m6_hugepages(t, h):
    """EAL on hugepages (a hugetlbfs of our own) instead of --no-huge."""
    try:
        path = h.hugepages(160)
    except Fail as e:
        t.skip("memif with EAL on hugepages", str(e))
        return
    for name in ("m6-src", "m6-dst"):
        h.eal[name] = {"huge": 1, "huge-dir": path, "mem": 128}
    src, dst, sdg, ddg = start_pair(h, "m6", "128M", rate=2000)
    su, du = memif_uris(h, "m6", zero_copy=False)
    go(src, dst, su, du)
    check_completed(t, "memif with EAL on hugepages: dirtying 128M", src, dst, sdg, ddg)
    t.ok("--iova-mode=va" in src.text() and "--no-huge" not in src.text(),
         "memif with EAL on hugepages: EAL ran on hugepages", src.text()[-1500:])


def m7_memif_codecs(t, h):
    """compress and xbzrle over memif: frames whose copied stream bytes (compressed records,
    deltas, runs of small records) are long enough to go by reference, followed by a page."""
    sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
    from scenarios_engine import set_caps
    for tag, content, caps, params in (
            ("m7c", "mixed", {"compress": True}, {"compress-threads": 2, "compress-level": 1}),
            ("m7x", "delta", {"xbzrle": True}, {"xbzrle-cache-size": 32 * MiB})):
        src, dst, sdg, ddg = start_pair(h, tag, "64M", rate=4000, content=content)
        for a in (src, dst):
            set_caps(a, **caps)
        src.cmd("migrate-set-parameters", params)
        su, du = memif_uris(h, tag)
        go(src, dst, su, du, bandwidth=32 * MiB)
        label = "memif with %s, %s content" % (list(caps)[0], content)
        info = check_completed(t, label, src, dst, sdg, ddg, timeout=90)
        s = closed_stats(src)
        n = (info.get("compression") or {}).get("compressed-size", 0) if "compress" in caps \
            else (info.get("xbzrle-cache") or {}).get("pages", 0)
        t.ok(n > 0 and s.get("rtx") is not None,
             "%s: the codec's records went (%s), %s frames sent again, %s dropped on send"
             % (label, n, s.get("rtx"), s.get("tx_dropped")), json.dumps(info))


def pc_dpdk_pair(h, tag, kind):
    """A postcopy pair (pc_pair) and its URIs over @kind: memif, or af_packet on a veth pair
    (MTU 9000) between two namespaces.  Returns (name, src, dst, sdg, ddg, src_uri,
    dst_uri)."""
    sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
    from scenarios_postcopy import pc_pair
    if kind == "memif":
        return ("memif",) + pc_pair(h, tag, size="64M") + memif_uris(h, tag)
    ns_a, ns_b, va, vb = h.veth(tag[:3], 9000)
    return (kind,) + pc_pair(h, tag, size="64M", src_ns=ns_a, dst_ns=ns_b) + (
        "dpdk:iface=%s" % va, "dpdk:iface=%s" % vb)


def m8_memif_postcopy(t, h, kind="memif"):
    """postcopy over memif (or af_packet on a veth pair): precopy cannot converge at 16 MiB/s,
    migrate-start-postcopy; the destination's faults ask for pages on the dpdk channel's
    return path."""
    from scenarios_postcopy import start_postcopy
    name, src, dst, sdg, ddg, su, du = pc_dpdk_pair(h, "m8" + kind[3:4], kind)
    go(src, dst, su, du, bandwidth=16 * MiB)
    start_postcopy(t, "%s postcopy" % name, src, dst)
    label = "%s postcopy, dirtying ~10x the link" % name
    info = check_completed(t, label, src, dst, sdg, ddg, timeout=90)
    ram = info["ram"]
    dpc = dst.query().get("x-kmig-postcopy", {})
    t.ok(ram["postcopy-requests"] > 0 and dpc.get("faults", 0) > 0 and
         dpc.get("missing-pages") == 0,
         "%s: %d requests served, %d faults (latency mean %.0f us), nothing missing, "
         "downtime %d ms" % (label, ram["postcopy-requests"], dpc.get("faults", 0),
                             dpc.get("fault-latency-mean-us", 0), info.get("downtime", -1)),
         json.dumps(info) + json.dumps(dpc))


def m9_memif_postcopy_recover(t, h, kind="memif"):
    """postcopy over memif (or af_packet on a veth pair) broken on purpose (migrate-pause on
    the destination), then migrate-recover and migrate resume over the same kind of port
    again: completes, verified."""
    from scenarios_postcopy import start_postcopy
    name, src, dst, sdg, ddg, su, du = pc_dpdk_pair(h, "r9" + kind[3:4], kind)
    src.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 8 * MiB})
    go(src, dst, su, du, bandwidth=16 * MiB)
    start_postcopy(t, "%s postcopy recovery" % name, src, dst)
    time.sleep(0.5)
    label = "%s postcopy recovery" % name
    dst.cmd("migrate-pause")
    try:
        src.wait_status("postcopy-paused", 15)
        dst.wait_status("postcopy-paused", 15)
        good, why = True, ""
    except Fail as e:
        good, why = False, str(e)
    must(t, good, "%s: migrate-pause on the destination: both sides postcopy-paused" % label,
         why)
    # memif: the same device on a new socket (a second zero-copy client of a process would
    # copy); af_packet: the same interfaces
    su2, du2 = memif_uris(h, "m9r", zero_copy=False) if kind == "memif" else (su, du)
    dst.cmd("migrate-recover", {"uri": du2})
    src.cmd("migrate", {"uri": su2, "resume": True})
    try:
        src.wait_status("postcopy-active", 20)
        good, why = True, ""
    except Fail as e:
        good, why = False, str(e)
    must(t, good, "%s: recovered over %s, postcopy-active again" % (label, name), why)
    src.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 0})
    check_completed(t, "%s: completes" % label, src, dst, sdg, ddg, timeout=90)


def m10_memif_multifd(t, h):
    """multifd over memif: queues=3 on both URIs, multifd-channels=2, each channel one
    connection on a queue pair of its own, while the workload dirties."""
    sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
    from scenarios_engine import multifd
    src, dst, sdg, ddg = start_pair(h, "m10", "128M", rate=4000)
    for a in (src, dst):
        multifd(a, 2)
    su, du = memif_uris(h, "m10", src_extra=",queues=3", dst_extra=",queues=3")
    go(src, dst, su, du)
    label = "memif multifd, 2 data channels on queues 1 and 2"
    check_completed(t, label, src, dst, sdg, ddg, timeout=90)
    for agent, side in ((src, "source"), (dst, "destination")):
        opened, closed = chan_lines(agent)
        queues = sorted(kv(ln).get("queue") for ln in opened)
        t.ok(queues == ["0/3", "1/3", "2/3"],
             "%s: the %s opened a channel on each queue (%s)" % (label, side, queues),
             "\n".join(opened))
    _, closed = chan_lines(src)
    per_q = {kv(ln).get("queue"): int(kv(ln).get("ref_bytes", 0)) for ln in closed}
    t.ok(len(per_q) == 3 and per_q.get("1/3", 0) > 16 * MiB and per_q.get("2/3", 0) > 16 * MiB,
         "%s: both data channels carried pages (bytes by reference per queue: %s)" % (
             label, per_q), "\n".join(closed))
