# SPDX-License-Identifier: GPL-2.0-only
"""scenarios_fail.py: the dpdk suite's failure scenarios: a cancel, a killed destination, a
destination that stops acknowledging (SIGSTOP), and a hostile source on a veth that sends
frames the destination must drop and a record that points outside its RAM block.  In each the
source workload must keep running with its memory intact (proven by a second migration that
verifies) and the destination must not start."""

import json
import os
import signal
import subprocess
import sys
import time

from dpdk_harness import HERE
from harness import Fail
from scenarios_dpdk import closed_stats, go, memif_uris
from steps import (MiB, check_completed, check_source_alive, fresh_dst, listen, migrate, must,
                   start_pair)


def dst_not_started(t, label, dst, ddg, timeout=15):
    try:
        q = dst.wait_status("failed", timeout)
        good, why = "started" not in ddg.text(), json.dumps(q)
    except Fail as e:
        good, why = False, str(e)
    t.ok(good, "%s: the destination failed and did not start its workload" % label, why)


def again(t, h, label, src, sdg, size):
    """The source's memory is intact: a second memif migration of it verifies."""
    tag = label.split(":")[0].replace(" ", "")[:6] + "2"
    dst, ddg = fresh_dst(h, tag, size)
    su, du = memif_uris(h, tag)
    go(src, dst, su, du)
    check_completed(t, "%s: second migration to a fresh destination" % label, src, dst, sdg, ddg)


def f1_cancel(t, h):
    src, dst, sdg, ddg = start_pair(h, "f1", "128M", rate=3000)
    su, du = memif_uris(h, "f1")
    go(src, dst, su, du, bandwidth=16 * MiB)
    src.wait_status("active", 10)
    time.sleep(1.0)
    src.cmd("migrate_cancel")
    try:
        q = src.wait_status("cancelled", 10)
        good, why = q.get("status") == "cancelled", json.dumps(q)
    except Fail as e:
        good, why = False, str(e)
    label = "dpdk cancel"
    must(t, good, "%s: migrate_cancel during a memif migration -> cancelled" % label, why)
    check_source_alive(t, label, src, sdg)
    dst_not_started(t, label, dst, ddg)
    t.ok("the peer ended the connection" in dst.text(),
         "%s: the destination heard the source end the connection" % label,
         dst.text()[-1500:])
    again(t, h, label, src, sdg, "128M")


def f2_killed(t, h):
    src, dst, sdg, ddg = start_pair(h, "f2", "128M", rate=3000)
    su, du = memif_uris(h, "f2")
    go(src, dst, su, du, bandwidth=16 * MiB)
    src.wait_status("active", 10)
    time.sleep(1.0)
    t0 = time.monotonic()
    dst.signal(signal.SIGKILL)
    label = "dpdk killed destination"
    try:
        q = src.wait_status("failed", 15)
        good, why = True, json.dumps(q)
    except Fail as e:
        q, good, why = {}, False, str(e)
    must(t, good, "%s: the source fails (in %.1f s): %s" % (
        label, time.monotonic() - t0, q.get("error-desc", "")[:120]), why)
    check_source_alive(t, label, src, sdg)
    t.ok("link to the peer went down" in src.text() or "no frame from the peer" in src.text(),
         "%s: the source's log says why (link down, or the peer went silent)" % label,
         src.text()[-1500:])
    again(t, h, label, src, sdg, "128M")


def f2b_killed_source(t, h):
    """The source's kmigd dies mid-migration: the destination fails and does not start."""
    src, dst, sdg, ddg = start_pair(h, "f2b", "128M", rate=3000)
    su, du = memif_uris(h, "f2b")
    go(src, dst, su, du, bandwidth=16 * MiB)
    src.wait_status("active", 10)
    time.sleep(1.0)
    src.signal(signal.SIGKILL)
    label = "dpdk killed source"
    dst_not_started(t, label, dst, ddg, timeout=15)
    q = dst.query()
    t.ok("Connection" in q.get("error-desc", "") or "ended early" in q.get("error-desc", ""),
         "%s: the destination says why: %s" % (label, q.get("error-desc", "")[:120]),
         json.dumps(q))


def f3_stops_acking(t, h):
    """A destination frozen with SIGSTOP: its port stays up, only acknowledgements stop."""
    src, dst, sdg, ddg = start_pair(h, "f3", "128M", rate=3000)
    su, du = memif_uris(h, "f3", src_extra=",timeout=1500", dst_extra=",timeout=1500")
    go(src, dst, su, du, bandwidth=16 * MiB)
    src.wait_status("active", 10)
    time.sleep(1.0)
    dst.signal(signal.SIGSTOP)
    label = "dpdk destination stops acknowledging"
    try:
        q = src.wait_status("failed", 15)
        good, why = True, json.dumps(q)
    except Fail as e:
        q, good, why = {}, False, str(e)
    dst.signal(signal.SIGCONT)
    must(t, good, "%s: the source fails: %s" % (label, q.get("error-desc", "")[:120]), why)
    t.ok("stopped acknowledging" in src.text() or "no frame from the peer" in src.text(),
         "%s: the source's log names the silent peer" % label, src.text()[-1500:])
    check_source_alive(t, label, src, sdg)
    dst_not_started(t, label, dst, ddg)
    again(t, h, label, src, sdg, "128M")


def f4_hostile_source(t, h):
    """A fake source on a veth: hostile frames dropped, a record outside the block refused."""
    import dpwire
    why = dpwire.available()
    if why:
        t.skip("hostile source on af_packet", why)
        return
    ns_a, ns_b, va, vb = h.veth("h", 9000)
    dst = h.kmigd("f4-dst", incoming=True, netns=ns_b)
    ddg = h.dirtygen("f4-ddg", dst, size="16M", role="dst")
    dst.cmd("migrate-incoming", {"uri": "dpdk:iface=%s" % vb})
    r = subprocess.run(["ip", "netns", "exec", ns_a, sys.executable,
                        os.path.join(HERE, "fake_source.py"), va, "ram0", str(16 * MiB)],
                       capture_output=True, text=True, timeout=60)
    label = "hostile source"
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        out = {"error": "no output: %s" % r.stderr[-500:]}
    must(t, out.get("connected"), "%s: it opened a connection to the destination" % label,
         json.dumps(out))
    try:
        q = dst.wait_status("failed", 15)
    except Fail as e:
        q = {"error-desc": str(e)}
    desc = q.get("error-desc", "")
    t.ok("beyond the end of block" in desc,
         "%s: the destination refused the page record outside its block (%s)" % (label, desc),
         json.dumps(q))
    t.ok("beyond the end of block" in out.get("reply", ""),
         "%s: and told the source why on the return path" % label, json.dumps(out))
    time.sleep(0.5)
    d = closed_stats(dst)
    want = {"drop_malformed": 4, "drop_checksum": 1, "drop_connection": 1,
            "drop_duplicate": 1, "drop_window": 1, "drop_bad_ack": 1}
    got = {k: int(d.get(k, -1)) for k in want}
    t.ok(all(got[k] >= v for k, v in want.items()),
         "%s: every hostile frame was dropped for its reason (%s)" % (
             label, ", ".join("%s %d" % (k[5:], v) for k, v in got.items())),
         "%s\n%s" % (d, dst.text()[-2000:]))
    t.ok("started" not in ddg.text(),
         "%s: the destination workload did not start" % label, ddg.text()[-500:])


def f5_release_ram(t, h):
    """postcopy-ram with release-ram over dpdk: refused at migrate (a frame sent again re-reads
    its page, which release-ram would have freed); the source runs on and migrates without."""
    sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
    from scenarios_engine import set_caps
    src, dst, sdg, ddg = start_pair(h, "f5", "32M", rate=1000)
    set_caps(src, postcopy_ram=True, release_ram=True)
    su, du = memif_uris(h, "f5")
    r = src.request("migrate", {"uri": su})
    desc = r.get("error", {}).get("desc", "")
    label = "dpdk release-ram"
    must(t, "release-ram is not supported over dpdk" in desc,
         "%s: migrate with postcopy-ram and release-ram over dpdk: refused (%s)" % (label, desc),
         json.dumps(r))
    check_source_alive(t, label, src, sdg)
    set_caps(src, postcopy_ram=False, release_ram=False)
    go(src, dst, su, du)
    check_completed(t, "%s: then without them" % label, src, dst, sdg, ddg)


def f6_queues(t, h):
    """multifd over dpdk needs a queue pair per channel: refused at migrate without them; a
    destination with fewer queues fails the source's connect with a hint; a device that
    spreads frames by its own hash refuses queues=; then a right pair migrates, verified."""
    sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
    from scenarios_engine import multifd
    src, dst, sdg, ddg = start_pair(h, "f6", "64M", rate=2000)
    multifd(src, 2)
    label = "dpdk multifd queues"
    su, du = memif_uris(h, "f6")
    r = src.request("migrate", {"uri": su})
    desc = r.get("error", {}).get("desc", "")
    must(t, "wants queues=3" in desc,
         "%s: multifd-channels=2 over a one-queue memif URI: refused at migrate (%s)" % (
             label, desc), json.dumps(r))
    check_source_alive(t, label, src, sdg)
    r = dst.request("migrate-incoming", {"uri": "dpdk:vdev=net_null0,queues=2"})
    q = dst.query()
    desc = r.get("error", {}).get("desc", "") or q.get("error-desc", "")
    t.ok("needs a port that delivers each queue's frames" in desc,
         "%s: queues=2 on net_null (no queue pairing): refused (%s)" % (label, desc),
         json.dumps(r) + json.dumps(q))
    # a destination with 2 queues, a source with 3: the second data channel finds nobody
    dst, ddg = fresh_dst(h, "f6b", "64M")
    multifd(dst, 2)
    su, du = memif_uris(h, "f6b", src_extra=",queues=3,connect-timeout=1500",
                       dst_extra=",queues=2")
    go(src, dst, su, du)
    try:
        q = src.wait_status("failed", 30)
        desc, good = q.get("error-desc", ""), True
    except Fail as e:
        desc, good = str(e), False
    # the destination notices first (a third channel for its two queues), or the source's
    # connect on queue 2 times out: either says which queues= to give
    t.ok(good and ("have queues=3?" in desc or "give both URIs the same queues=" in desc),
         "%s: a destination with fewer queues: the source fails saying so (%s)" % (label, desc),
         desc)
    check_source_alive(t, label, src, sdg)
    dst_not_started(t, label, dst, ddg)
    dst, ddg = fresh_dst(h, "f6c", "64M")
    multifd(dst, 2)
    su, du = memif_uris(h, "f6c", src_extra=",queues=3", dst_extra=",queues=3")
    go(src, dst, su, du)
    check_completed(t, "%s: then with queues=3 on both" % label, src, dst, sdg, ddg)
