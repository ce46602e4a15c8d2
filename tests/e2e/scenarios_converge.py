# SPDX-License-Identifier: GPL-2.0-only
"""scenarios_converge.py: end-to-end scenarios for the convergence tools: page compression
(the compress capability's zlib threads on the main channel, multifd-compression zlib and zstd
on the data channels), XBZRLE, and what a destination does with a damaged compressed record
or delta.  Every
completed migration is checked page by page."""

import glob
import json
import os
import re
import signal
import time

import kstream
from harness import Fail, wait_until
from scenarios_engine import multifd, set_caps
from steps import (MiB, check_completed, check_source_alive, fresh_dst, listen, memory_matches,
                   migrate, must, start_pair)


def compression_of(info):
    return info.get("compression") or {}


def s23_compression(t, h):
    """compress (zlib, 4 threads) over tcp, multifd-compression zlib and zstd over 2 channels,
    while the workload dirties compressible memory; random memory goes raw and still arrives."""
    modes = [
        ("compress", "mixed", {"compress": True}, {"compress-threads": 4, "compress-level": 1}),
        ("multifd zlib", "mixed", {"multifd": True},
         {"multifd-channels": 2, "multifd-compression": "zlib", "multifd-zlib-level": 1}),
        ("multifd zstd", "mixed", {"multifd": True},
         {"multifd-channels": 2, "multifd-compression": "zstd", "multifd-zstd-level": 1}),
        ("multifd zstd, random memory", "random", {"multifd": True},
         {"multifd-channels": 2, "multifd-compression": "zstd"}),
    ]
    for i, (label, content, caps, params) in enumerate(modes):
        tag = "s23%d" % i
        src, dst, sdg, ddg = start_pair(h, tag, "128M", rate=2000, content=content)
        for a in (src, dst):
            set_caps(a, **caps)
            a.cmd("migrate-set-parameters", params)
        migrate(src, listen(dst, "tcp:127.0.0.1:0"))
        info = check_completed(t, "23 %s, dirtying %s memory" % (label, content), src, dst,
                               sdg, ddg)
        if not info:
            continue
        c, ram = compression_of(info), info["ram"]
        if content == "random":
            t.ok(c and c["pages"] < ram["normal"] / 100,
                 "23 %s: pages that do not shrink go raw (%s of %d compressed)"
                 % (label, c.get("pages"), ram["normal"]), json.dumps(info))
            continue
        rate = c.get("compression-rate", 0)
        t.ok(c and c["pages"] > 0.9 * ram["normal"] and rate > 2.5 and
             ram["transferred"] < 0.5 * ram["normal-bytes"],
             "23 %s: pages went compressed, %.2fx (%s of %d pages; %d bytes on the wire for %d "
             "bytes of pages)" % (label, rate, c.get("pages"), ram["normal"], ram["transferred"],
                                  ram["normal-bytes"]), json.dumps(info))

    # compress with multifd: refused with a reason, the source untouched
    src = h.kmigd("s23x-src")
    h.dirtygen("s23x-sdg", src, size="16M", idle=True)
    set_caps(src, compress=True, multifd=True)
    r = src.request("migrate", {"uri": "tcp:127.0.0.1:1"})
    t.ok("multifd-compression" in r.get("error", {}).get("desc", ""),
         "23 compress together with multifd: refused, pointing at multifd-compression",
         json.dumps(r))


def s24_bad_compressed(t, h):
    """A compressed stream in a file: it loads; with a byte of a zlib record flipped, or a zlib
    record that claims more pages than its stream holds, the destination fails saying so."""
    src = h.kmigd("s24-src")
    sdg = h.dirtygen("s24-sdg", src, size="64M", idle=True, content="mixed")
    set_caps(src, compress=True)
    stream = h.path("stream")
    migrate(src, "file:" + stream)
    info = src.wait_status("completed", 30)
    must(t, sdg.wait_exit(10) == 0, "24 compressed migrate to file completes on the source",
         json.dumps(info))
    with open(stream, "rb") as f:
        data = f.read()
    blocks, recs = kstream.parse(data)
    zrecs = [r for r in recs if r.type == kstream.PAGES and r.enc == kstream.ENC_ZLIB]
    must(t, len([z for z in zrecs if z.count < 256]) > 10 and len(data) < 0.5 * 64 * MiB,
         "24 the file holds zlib records (%d of %d records, %d bytes for 64 MiB)"
         % (len(zrecs), len(recs), len(data)))

    def incoming(tag, content, want, label):
        path = h.path("stream-" + tag)
        with open(path, "wb") as f:
            f.write(content)
        dst, ddg = fresh_dst(h, "s24" + tag, "64M", content="mixed")
        dst.cmd("migrate-incoming", {"uri": "file:" + path})
        try:
            q = dst.wait_status(("completed", "failed"), 20)
        except Fail as e:
            q = {"status": str(e)}
        if want == "completed":
            good, vline, ssum, dsum = memory_matches(sdg, ddg)
            t.ok(q == {"status": "completed"} and good,
                 "24%s %s: destination completed, memory == source's (%s, xxh64 %s)"
                 % (tag, label, vline, dsum), "%s; src.sum %s" % (json.dumps(q), ssum))
            return
        desc = q.get("error-desc", "")
        t.ok(q.get("status") == "failed" and re.search(want, desc) and
             "started" not in ddg.text(),
             "24%s %s: destination failed, error-desc %r" % (tag, label, desc),
             "want /%s/; %s" % (want, json.dumps(q)))

    incoming("a", data, "completed", "the compressed file as written")
    r = [z for z in zrecs if z.count < 256][len(zrecs) // 4]
    buf = bytearray(data)
    for k in range(4):
        buf[r.payload_pos + r.len // 2 + k] ^= 0x5A
    incoming("b", bytes(buf), r"bad zlib page record at block 'ram0'", "zlib bytes flipped")
    buf = bytearray(data)
    kstream.set_count(buf, r, r.count + 1)
    incoming("c", bytes(buf), r"bad zlib page record .*zlib:", "zlib record claims a page more")


def s25_xbzrle(t, h):
    """XBZRLE while the workload keeps changing two words per page it writes: deltas go, the
    destination verifies page by page; cache-size changes during the migration; xbzrle with
    multifd is refused; a file stream with a damaged delta fails the destination cleanly."""
    src, dst, sdg, ddg = start_pair(h, "s25", "64M", rate=6000, content="delta")
    for a in (src, dst):
        set_caps(a, xbzrle=True)
    src.cmd("migrate-set-parameters", {"xbzrle-cache-size": 32 * MiB})
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=24 * MiB)
    src.wait_status("active", 5)
    wait_until(lambda: src.query().get("ram", {}).get("dirty-sync-count", 0) >= 2, 20,
               what="pass 2")
    src.cmd("migrate-set-cache-size", {"value": 64 * MiB})
    info = check_completed(t, "25 xbzrle, two words per write", src, dst, sdg, ddg)
    x = info.get("xbzrle-cache") or {}
    t.ok(x.get("pages", 0) > 100 and x.get("cache-miss", 0) > 0 and
         x.get("encoding-rate", 0) > 20 and x.get("cache-size") == 64 * MiB,
         "25 deltas went: %s pages, %s misses, encoding-rate %.1f, cache-size %s"
         % (x.get("pages"), x.get("cache-miss"), x.get("encoding-rate", 0),
            x.get("cache-size")), json.dumps(info))

    src2 = h.kmigd("s25x-src")
    h.dirtygen("s25x-sdg", src2, size="16M", idle=True)
    set_caps(src2, xbzrle=True, multifd=True)
    r = src2.request("migrate", {"uri": "tcp:127.0.0.1:1"})
    t.ok("does not combine with 'multifd'" in r.get("error", {}).get("desc", ""),
         "25 xbzrle with multifd: refused with a reason", json.dumps(r))

    # a file stream with deltas in it, then one delta damaged
    src3 = h.kmigd("s25f-src")
    sdg3 = h.dirtygen("s25f-sdg", src3, size="32M", rate=20000, content="delta")
    set_caps(src3, xbzrle=True)
    stream = h.path("stream")
    migrate(src3, "file:" + stream, bandwidth=48 * MiB)
    info = src3.wait_status("completed", 60)
    must(t, sdg3.wait_exit(10) == 0, "25 xbzrle migrate to file completes on the source",
         json.dumps(info))
    with open(stream, "rb") as f:
        data = f.read()
    blocks, recs = kstream.parse(data)
    xrecs = [r for r in recs if r.type == kstream.PAGES and r.enc == kstream.ENC_XBZRLE]
    must(t, len(xrecs) > 10, "25 the file holds XBZRLE records (%d of %d)"
         % (len(xrecs), len(recs)))
    r = xrecs[len(xrecs) // 2]
    buf = bytearray(data)
    buf[r.payload_pos:r.payload_pos + 3] = b"\xff\xff\xff"
    path = h.path("stream-bad")
    with open(path, "wb") as f:
        f.write(bytes(buf))
    dst3, ddg3 = fresh_dst(h, "s25f", "32M", content="delta")
    dst3.cmd("migrate-incoming", {"uri": "file:" + path})
    q = dst3.wait_status(("completed", "failed"), 20)
    desc = q.get("error-desc", "")
    t.ok(q.get("status") == "failed" and "bad xbzrle page record" in desc and
         "started" not in ddg3.text(),
         "25 a damaged XBZRLE delta: destination failed, error-desc %r" % desc, json.dumps(q))


AC_PARAMS = {"cpu-throttle-initial": 5, "cpu-throttle-increment": 25, "max-cpu-throttle": 95}


def throttles(w):
    """The throttle percentages a dirtygen applied, in order, from its log."""
    return [int(m) for m in re.findall(r"dirtygen: throttle (\d+)% \(was", w.text())]


def ac_pair(h, tag, extra=()):
    """A workload that dirties about three times what the 16 MiB/s link drains (hot pages)."""
    return start_pair(h, tag, "64M", rate=12000, pattern="hot", extra=extra)


def s26_auto_converge(t, h):
    """auto-converge: without it the workload never converges; with it the throttle rises 5,
    30, 55, 80, 95 (QEMU's own test's parameters) and the migration completes and verifies;
    the throttle is gone after cancel and after kmigd is killed; a workload that does not
    throttle itself is throttled through a cgroup that is removed afterwards."""
    src, dst, sdg, ddg = ac_pair(h, "s26n")
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=16 * MiB)
    src.wait_status("active", 5)
    time.sleep(10)
    q = src.query()
    t.ok(q.get("status") == "active" and "cpu-throttle-percentage" not in q and
         "do not fit" in q.get("x-kmig-convergence", ""),
         "26 without auto-converge: still iterating after 10 s (%s passes), no throttle, "
         "x-kmig-convergence says why" % q.get("ram", {}).get("dirty-sync-count"),
         json.dumps(q))
    src.cmd("migrate_cancel")
    src.wait_status("cancelled", 10)
    check_source_alive(t, "26 cancelled without auto-converge", src, sdg)

    src, dst, sdg, ddg = ac_pair(h, "s26a")
    for a in (src, dst):
        set_caps(a, auto_converge=True)
    src.cmd("migrate-set-parameters", dict(AC_PARAMS, **{"downtime-limit": 1}))
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=16 * MiB)
    seen = []

    def at_max():
        p = src.query().get("cpu-throttle-percentage")
        if p and (not seen or seen[-1] != p):
            seen.append(p)
        return p == 95
    try:
        wait_until(at_max, 60, interval=0.1, what="the throttle to reach 95%")
        good, why = seen == [5, 30, 55, 80, 95], "seen %s" % seen
    except Fail as e:
        good, why = False, "%s; seen %s" % (e, seen)
    t.ok(good, "26 with auto-converge: cpu-throttle-percentage went 5, 30, 55, 80, 95", why)
    wait_until(lambda: throttles(sdg)[-1:] == [95], 10, what="the workload at 95%")
    t.ok(throttles(sdg) == [5, 30, 55, 80, 95],
         "26 the workload's writer was throttled 5, 30, 55, 80, 95 (libkmig)",
         "dirtygen says %s" % throttles(sdg))
    src.cmd("migrate-set-parameters", {"downtime-limit": 300})
    info = check_completed(t, "26 auto-converge, then downtime-limit 300", src, dst, sdg, ddg)
    t.ok(info and info.get("downtime", 10**6) <= 1000,
         "26 converged with downtime %s ms" % (info or {}).get("downtime"), json.dumps(info))

    # the throttle goes with a cancel, and with a kmigd that dies
    for how in ("cancel", "kill"):
        src, dst, sdg, ddg = ac_pair(h, "s26" + how[0])
        set_caps(src, auto_converge=True)
        src.cmd("migrate-set-parameters", dict(AC_PARAMS, **{"downtime-limit": 1}))
        migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=16 * MiB)
        wait_until(lambda: throttles(sdg), 40, interval=0.1, what="a throttle")
        if how == "cancel":
            src.cmd("migrate_cancel")
        else:
            src.signal(signal.SIGKILL)
        try:
            wait_until(lambda: throttles(sdg)[-1:] == [0], 10, interval=0.05,
                       what="the throttle lifted")
            good, why = sdg.running(), "throttles %s" % throttles(sdg)
        except Fail as e:
            good, why = False, "%s; throttles %s" % (e, throttles(sdg))
        t.ok(good, "26 throttled, then %s: the workload runs unthrottled"
             % ("migrate_cancel" if how == "cancel" else "kmigd killed"), why)

    # a workload that does not throttle itself: a cgroup does it, and goes afterwards
    src, dst, sdg, ddg = ac_pair(h, "s26g", extra=("--no-throttle",))
    for a in (src, dst):
        set_caps(a, auto_converge=True)
    src.cmd("migrate-set-parameters", dict(AC_PARAMS, **{"downtime-limit": 1}))
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=16 * MiB)

    def cgroups():
        return glob.glob("/sys/fs/cgroup/**/kmig-throttle.*.%d" % sdg.pid, recursive=True)
    try:
        wait_until(lambda: src.query().get("cpu-throttle-percentage", 0) >= 30 and cgroups(),
                   60, interval=0.1, what="a cgroup throttle")
        cg = cgroups()[0]
        quota = [open(os.path.join(cg, f)).read().strip() for f in
                 ("cpu.max", "cpu.cfs_quota_us") if os.path.exists(os.path.join(cg, f))]
        good, why = str(sdg.pid) in open(os.path.join(cg, "cgroup.procs")).read().split(), \
            "%s: quota %s" % (cg, quota)
    except (Fail, OSError) as e:
        good, why = False, str(e)
    t.ok(good, "26 --no-throttle: the workload sits in a kmig-throttle cgroup with a quota", why)
    src.cmd("migrate-set-parameters", {"downtime-limit": 300})
    check_completed(t, "26 cgroup-throttled workload", src, dst, sdg, ddg)
    t.ok(not cgroups(), "26 the throttle cgroup is removed after the migration",
         "left: %s" % cgroups())
