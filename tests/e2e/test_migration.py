#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""test_migration.py: end-to-end live migration tests for kmig (Python 3 stdlib only).

Runs real migrations between two kmigd agents with kmig-dirtygen workloads and checks, for
every migration that completes, that the destination's memory is the source's final memory
(dirtygen --verify found 0 bad pages AND the whole-memory XXH64 of both sides agree); for every
failed or cancelled migration, that the source workload is still alive and running and that its
memory is intact, proven by a second migration of the same source to a fresh destination that
completes and verifies.

    python3 tests/e2e/test_migration.py --build build        # or build/san
    python3 tests/e2e/test_migration.py --build build -k 4 -k 9   # only scenarios 4 and 9

Prints TAP ('ok N - name' / 'not ok N - name', '#' diagnostics) and one closing
'X passed, Y failed, Z skipped' line; exits 1 if anything failed.  Every process, namespace and temporary
directory it creates is removed on the way out, also on failure, Ctrl-C and SIGTERM.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Fail, Harness, Interrupted, Tap, format_exc,  # noqa: E402
                     install_signal_handlers, wait_until)

from scenarios_engine import (s18_multifd, s19_multifd_failures, s20_multi_hop,  # noqa: E402
                              s21_agent_dies, s22_events_and_stats)
from scenarios_converge import (s23_compression, s24_bad_compressed, s25_xbzrle,  # noqa: E402
                                s26_auto_converge)
from scenarios_postcopy import (s27_postcopy, s28_postcopy_recover,  # noqa: E402
                                s29_postcopy_cancel, s30_postcopy_dst_killed,
                                s31_postcopy_bad_requests, s32_postcopy_combos)
from scenarios_streams import s9_streams, s14_exec_and_incoming_uri, s17_mutated_streams  # noqa: E402,E501
from steps import (MiB, Reported, check_completed, check_source_alive,  # noqa: E402
                   getfd, keyset_ok, listen, migrate, must, second_migration, start_pair)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---- scenarios ----------------------------------------------------------------------------

def s1_idle_unix(t, h):
    src, dst, sdg, ddg = start_pair(h, "s1", "128M", idle=True)
    uri = listen(dst, "unix:" + h.path("mig.sock"))
    migrate(src, uri)
    info = check_completed(t, "1 idle 128M over unix", src, dst, sdg, ddg)
    t.ok(info.get("x-kmig-transport") == "unix", "1 idle 128M over unix: transport is unix",
         json.dumps(info))
    src.cmd("query-status")     # drains anything sent meanwhile into the event list
    seen = [e.get("event") for e in src.qmp.events]
    t.ok(not any(e in ("MIGRATION", "MIGRATION_PASS") for e in seen),
         "1 with the events capability off, no MIGRATION/MIGRATION_PASS events",
         "received %s" % seen)


def s2_dirty_tcp(t, h):
    src, dst, sdg, ddg = start_pair(h, "s2u", "256M", rate=5000, pattern="uniform")
    uri = listen(dst, "tcp:127.0.0.1:0")
    migrate(src, uri)
    info = check_completed(t, "2a dirtying 256M rate 5000 uniform over tcp", src, dst, sdg, ddg)
    t.diag("2a: dirty-sync-count %s, transferred %s, downtime %s ms"
           % (info["ram"]["dirty-sync-count"], info["ram"]["transferred"], info.get("downtime")))

    # the hot pattern, driven by the CLI's `kmig migrate` instead of raw QMP
    src, dst, sdg, ddg = start_pair(h, "s2h", "256M", rate=5000, pattern="hot")
    r = subprocess.run([os.path.join(h.bindir, "kmig"), "migrate", "--src", src.qmp_path,
                        "--dst", dst.qmp_path, "--bandwidth", "0", "--timeout", "60",
                        "--multifd", "2", "tcp:127.0.0.1:0"], capture_output=True, text=True,
                       timeout=90)
    t.ok(r.returncode == 0 and "Job type:         Completed" in r.stdout,
         "2b kmig migrate --multifd 2 (CLI) exits 0 with a Completed summary",
         "exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr[-2000:]))
    if src.query() == {}:
        # the CLI never started it: migrate over raw QMP so the memory check still runs
        t.diag("2b: the CLI started no migration; migrating over QMP instead")
        migrate(src, listen(dst, "tcp:127.0.0.1:0"))
    check_completed(t, "2b dirtying 256M rate 5000 hot over tcp", src, dst, sdg, ddg)


def netns_unavailable():
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("ip"):
        return "ip (iproute2) is not installed"
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    if r.returncode:
        return "ip netns unavailable: %s" % r.stderr.strip()
    return None


def s3_netns(t, h):
    why = netns_unavailable()
    if why:
        t.skip("3 dirtying workload over TCP across a veth pair between two namespaces", why)
        return
    ns_a, ns_b, addr_a, addr_b = h.netns_pair("s3")
    t.diag("3: %s (%s) -> %s (%s)" % (ns_a, addr_a, ns_b, addr_b))
    src, dst, sdg, ddg = start_pair(h, "s3", "256M", src_ns=ns_a, dst_ns=ns_b, rate=5000)
    uri = listen(dst, "tcp:%s:0" % addr_b)
    must(t, uri.startswith("tcp:%s:" % addr_b), "3 destination listens on the veth address",
         uri)
    migrate(src, uri)
    info = check_completed(t, "3 dirtying 256M over tcp across veth %s -> %s" % (ns_a, ns_b),
                           src, dst, sdg, ddg)
    t.diag("3: transferred %s in %s ms" % (info["ram"]["transferred"], info["total-time"]))


def s4_bandwidth(t, h):
    limit = 16 * MiB
    src, dst, sdg, ddg = start_pair(h, "s4a", "128M", idle=True)
    uri = listen(dst, "tcp:127.0.0.1:0")
    migrate(src, uri, bandwidth=limit)
    info = check_completed(t, "4a idle 128M at max-bandwidth 16 MiB/s", src, dst, sdg, ddg,
                           timeout=40)
    secs = (info["total-time"] - info["downtime"]) / 1000.0
    rate = info["ram"]["transferred"] / secs if secs > 0 else 0
    t.ok(abs(rate - limit) <= 0.10 * limit,
         "4a achieved rate %.2f MiB/s within 10%% of 16 MiB/s" % (rate / MiB),
         "transferred %d bytes, total-time %d ms, downtime %d ms"
         % (info["ram"]["transferred"], info["total-time"], info["downtime"]))

    # raising the limit mid-migration takes effect at once
    src, dst, sdg, ddg = start_pair(h, "s4b", "128M", idle=True)
    uri = listen(dst, "tcp:127.0.0.1:0")
    migrate(src, uri, bandwidth=limit)
    t0 = time.monotonic()
    src.wait_status("active", 5)
    time.sleep(max(0, 2.0 - (time.monotonic() - t0)))
    before = src.query()
    must(t, before.get("status") == "active",
         "4b still active after 2 s at 16 MiB/s", json.dumps(before))
    sent = before["ram"]["transferred"]
    t1 = time.monotonic()
    src.cmd("migrate-set-parameters", {"max-bandwidth": 0})
    after = src.wait_status("completed", 20)
    took = time.monotonic() - t1
    left = before["ram"]["total"] - sent
    t.ok(sent < 48 * MiB and took < 2.0,
         "4b max-bandwidth 16 MiB/s -> 0 after 2 s: rest (%.0f MiB) sent in %.2f s"
         % (left / MiB, took),
         "sent %.1f MiB in the first 2 s (limit allows ~32); at the old limit the rest would "
         "take %.1f s; final %s" % (sent / MiB, left / limit, json.dumps(after)))
    check_completed(t, "4b bandwidth raised mid-migration", src, dst, sdg, ddg)


def s5_cancel_setup(t, h):
    src = h.kmigd("s5-src")
    sdg = h.dirtygen("s5-sdg", src, size="128M", rate=2000)
    port = h.listener_backlog_full()
    migrate(src, "tcp:127.0.0.1:%d" % port)
    time.sleep(0.5)
    q = src.query()
    must(t, q == {"status": "setup"},
         "5 connect to a full backlog hangs: query-migrate is {\"status\": \"setup\"}",
         json.dumps(q))
    t0 = time.monotonic()
    src.cmd("migrate_cancel")
    try:
        q = src.wait_status(("cancelling", "cancelled"), 3)
        good, why = q.get("status") in ("cancelling", "cancelled"), json.dumps(q)
    except Fail as e:
        good, why = False, str(e)
    t.ok(good, "5 migrate_cancel in setup -> cancelling/cancelled within 3 s (%.2f s)"
         % (time.monotonic() - t0), why)
    check_source_alive(t, "5 cancel in setup", src, sdg)
    # the connect polls for cancel; should it still hang, release it and see the cancel end
    try:
        q = src.wait_status("cancelled", 1.0)
        t.diag("5: cancelled %.2f s after migrate_cancel, connect still hanging"
               % (time.monotonic() - t0))
    except Fail:
        t.diag("5: still %s %.2f s after migrate_cancel; closing the listener"
               % (src.status(), time.monotonic() - t0))
        h.close_sockets()
        t1 = time.monotonic()
        q = src.wait_status("cancelled", 20)
        t.diag("5: cancelled %.2f s after the listener closed (%.2f s after migrate_cancel)"
               % (time.monotonic() - t1, time.monotonic() - t0))
    must(t, q == {"status": "cancelled"}, "5 ends {\"status\": \"cancelled\"}", json.dumps(q))
    check_source_alive(t, "5 cancel in setup", src, sdg)
    second_migration(t, h, "5 cancel in setup", src, sdg, "128M")


def s6_cancel_active(t, h):
    src, dst, sdg, ddg = start_pair(h, "s6", "128M", rate=2000)
    uri = listen(dst, "tcp:127.0.0.1:0")
    migrate(src, uri, bandwidth=4 * MiB)
    src.wait_status("active", 5)
    time.sleep(0.5)
    # while it runs: capabilities and a second migrate are refused, parameters may change
    busy = "There's a migration process in progress"
    r1 = src.request("migrate-set-capabilities",
                     {"capabilities": [{"capability": "events", "state": True}]})
    r2 = src.request("migrate", {"uri": uri})
    r3 = src.request("migrate-set-parameters", {"downtime-limit": 200})
    t.ok(r1.get("error", {}).get("desc") == busy and r2.get("error", {}).get("desc") == busy
         and r3 == {"return": {}} and src.status() == "active",
         "6 while active: set-capabilities and migrate refused as in QEMU, set-parameters "
         "accepted", "%s %s %s" % (r1, r2, r3))
    src.cmd("migrate_cancel")
    t0 = time.monotonic()
    try:
        q = src.wait_status("cancelled", 5)
        good, why = q == {"status": "cancelled"}, json.dumps(q)
    except Fail as e:
        good, why = False, str(e)
    must(t, good, "6 migrate_cancel while active (4 MiB/s) -> {\"status\": \"cancelled\"} "
         "in %.2f s" % (time.monotonic() - t0), why)
    check_source_alive(t, "6 cancel in active", src, sdg)
    try:
        dq = dst.wait_status("failed", 5)
        rc = ddg.wait_exit(5)
        good = rc == 2 and ddg.verify_line() is None
        why = "dst %s; dst dirtygen exit %s, verify line %r" % (json.dumps(dq), rc,
                                                                ddg.verify_line())
    except Fail as e:
        good, why = False, str(e)
    t.ok(good, "6 destination fails and its workload is told so", why)
    second_migration(t, h, "6 cancel in active", src, sdg, "128M")


def s7_cancel_paused(t, h):
    """Cancel while the source is stopped in the switch-over, before the hand-over: the
    source resumes and the destination, which never got the go-ahead, does not start."""
    src, dst, sdg, ddg = start_pair(h, "s7", "128M", rate=2000)
    dport = listen(dst, "tcp:127.0.0.1:0").rsplit(":", 1)[1]
    migrate(src, "tcp:127.0.0.1:%d" % h.return_path_blackhole(int(dport)))
    try:
        wait_until(lambda: src.run_state() == "finish-migrate", 20, interval=0.02,
                   what="source query-status finish-migrate")
        good, why = True, ""
    except Fail as e:
        good, why = False, "%s; query-migrate %s" % (e, json.dumps(src.query()))
    must(t, good, "7 destination's answers held back: source stopped in the switch-over, "
         "query-status finish-migrate", why)
    src.cmd("migrate_cancel")
    t0 = time.monotonic()
    try:
        q = src.wait_status("cancelled", 5)
        good, why = q == {"status": "cancelled"}, json.dumps(q)
    except Fail as e:
        good, why = False, str(e)
    must(t, good, "7 migrate_cancel while paused -> cancelled in %.2f s"
         % (time.monotonic() - t0), why)
    check_source_alive(t, "7 cancel while paused", src, sdg)
    h.close_sockets()   # the destination's stream ends without the go-ahead
    try:
        dq = dst.wait_status(("completed", "failed"), 15)
    except Fail as e:
        dq = {"status": str(e)}
    time.sleep(0.2)
    started = "started" in ddg.text()
    t.ok(dq.get("status") == "failed" and not started,
         "7 after the cancel the destination does not start the workload too (no split brain)",
         "destination query-migrate %s, query-status %s; destination dirtygen %s"
         % (json.dumps(dq), dst.run_state(),
            "STARTED (both copies run)" if started else "not started"))
    ddg.stop()
    dst.stop()
    second_migration(t, h, "7 cancel while paused", src, sdg, "128M")
    rep = sdg.report_json() or {}
    t.ok(rep.get("pauses") == 2 and rep.get("resumes") == 1,
         "7 source workload was paused twice and resumed once (after the cancel)",
         "report %s" % rep)


def s7b_failed_after_handover(t, h):
    """The destination was told to start but never confirms: the source cannot know whether
    the workload runs there, so it must not resume by itself (cancel is too late); it is held
    stopped until the operator's 'cont'."""
    src, dst, sdg, ddg = start_pair(h, "s7b", "128M", rate=2000)
    ddg.signal(signal.SIGSTOP)      # it will not answer LOAD
    migrate(src, listen(dst, "tcp:127.0.0.1:0"))
    wait_until(lambda: src.run_state() == "finish-migrate", 20, interval=0.02,
               what="source query-status finish-migrate")
    time.sleep(0.3)
    src.cmd("migrate_cancel")
    q = src.query()
    t.ok(q.get("status") == "active",
         "7b migrate_cancel after the hand-over is too late: still %s" % q.get("status"),
         json.dumps(q))
    try:
        q = src.wait_status("failed", 30)
        good = "cont" in q.get("error-desc", "") and src.run_state() == "paused"
        why = "%s; query-status %s" % (json.dumps(q), src.run_state())
    except Fail as e:
        good, why = False, str(e)
    must(t, good, "7b destination never confirmed: source failed and holds the workload "
         "stopped (query-status paused)", why)
    time.sleep(0.5)
    t.ok(sdg.alive() and "migrated" not in sdg.text(),
         "7b the held source workload is alive and was not told it migrated",
         "alive=%s" % sdg.alive())
    ddg.signal(signal.SIGKILL)      # the operator decides the destination copy is dead
    dst.stop()
    src.cmd("cont")
    check_source_alive(t, "7b after cont", src, sdg)
    second_migration(t, h, "7b after cont", src, sdg, "128M")


def s8_dst_killed(t, h):
    src, dst, sdg, ddg = start_pair(h, "s8", "128M", rate=2000)
    uri = listen(dst, "tcp:127.0.0.1:0")
    migrate(src, uri, bandwidth=8 * MiB)
    src.wait_status("active", 5)
    time.sleep(1.0)
    dst.signal(signal.SIGKILL)
    try:
        q = src.wait_status("failed", 10)
        good = set(q) == {"status", "error-desc"} and q["error-desc"].strip() != ""
        why = json.dumps(q)
    except Fail as e:
        q, good, why = {}, False, str(e)
    must(t, good, "8 destination kmigd killed while active: source failed, error-desc %r"
         % q.get("error-desc"), why)
    check_source_alive(t, "8 destination killed", src, sdg)
    second_migration(t, h, "8 destination killed", src, sdg, "128M")




def s10_closed_port(t, h):
    src = h.kmigd("s10-src")
    sdg = h.dirtygen("s10-sdg", src, size="128M", rate=2000)
    migrate(src, "tcp:127.0.0.1:1")
    try:
        q = src.wait_status("failed", 5)
        good = (set(q) == {"status", "error-desc"} and
                re.match(r"Failed to connect to '127\.0\.0\.1:1': Connection refused$",
                         q["error-desc"]))
        why = json.dumps(q)
    except Fail as e:
        q, good, why = {}, False, str(e)
    must(t, good, "10 closed port: failed, error-desc %r" % q.get("error-desc"), why)
    check_source_alive(t, "10 closed port", src, sdg)
    second_migration(t, h, "10 closed port", src, sdg, "128M")



def s15_fd(t, h):
    """fd:NAME on both sides: a socketpair handed to each kmigd with getfd."""
    src, dst, sdg, ddg = start_pair(h, "s15", "128M", rate=2000)
    a, b = socket.socketpair()
    try:
        ra, rb = getfd(src, "mig", a.fileno()), getfd(dst, "mig", b.fileno())
    finally:
        a.close()
        b.close()
    must(t, ra == {"return": {}} and rb == {"return": {}}, "15 getfd on both agents",
         "%s %s" % (ra, rb))
    dst.cmd("migrate-incoming", {"uri": "fd:mig"})
    migrate(src, "fd:mig")
    info = check_completed(t, "15 fd: over a socketpair", src, dst, sdg, ddg)
    t.ok(info.get("x-kmig-transport") == "fd", "15 transport is fd", json.dumps(info))
    r = src.request("migrate", {"uri": "fd:mig"})
    t.ok(r.get("error", {}).get("desc") == "File descriptor named 'mig' has not been found",
         "15 a name is used once, as in QEMU", json.dumps(r))


def memfd_allocated(pid):
    """Bytes the kernel has allocated for the memfd(s) process @pid maps (st_blocks)."""
    total = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        path = "/proc/%d/fd/%s" % (pid, fd)
        try:
            if os.readlink(path).startswith("/memfd:"):
                total += os.stat(path).st_blocks * 512
        except OSError:
            pass
    return total


def s16_sparse(t, h):
    """A mostly unwritten (sparse) source: kmigd sends its holes as zero pages without
    touching them, so migrating does not allocate the workload's never-used memory."""
    src, dst, sdg, ddg = start_pair(h, "s16", "256M", idle=True, zero_pct=90)
    before = memfd_allocated(sdg.pid)
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=8 * MiB)
    src.wait_status("active", 5)
    time.sleep(1.5)
    during = memfd_allocated(sdg.pid)
    q = src.query()
    t.ok(during <= before + MiB,
         "16 sparse 256M source (90%% holes): still %.0f MiB allocated mid-migration (was %.0f)"
         % (during / MiB, before / MiB),
         "allocated grew by %.0f MiB; query-migrate %s" % ((during - before) / MiB, json.dumps(q)))
    src.cmd("migrate-set-parameters", {"max-bandwidth": 0})
    info = check_completed(t, "16 sparse source", src, dst, sdg, ddg)
    dup = info.get("ram", {}).get("duplicate", 0)
    t.ok(dup >= 0.85 * ddg.pages, "16 the holes went as zero pages (duplicate %d of %d)"
         % (dup, ddg.pages), json.dumps(info.get("ram")))


def s11_events(t, h):
    src, dst, sdg, ddg = start_pair(h, "s11", "128M", rate=20000)
    src.cmd("migrate-set-capabilities",
            {"capabilities": [{"capability": "events", "state": True}]})
    uri = listen(dst, "tcp:127.0.0.1:0")
    # 80 MB/s of writes against 128 MiB/s of bandwidth: each pass leaves ~0.6 of the last
    # one dirty, so it converges (below 100 ms worth) after about six passes, in ~2 s
    src.cmd("migrate-set-parameters", {"max-bandwidth": 128 * MiB, "downtime-limit": 100})
    src.qmp.send_raw(src.qmp.encode("migrate", {"uri": uri}) + "\n")
    first = [src.qmp.recv(), src.qmp.recv()]
    reply_at = [i for i, m in enumerate(first) if not m.is_event]
    src.qmp.events += [m.obj for m in first if m.is_event]
    info = check_completed(t, "11 events", src, dst, sdg, ddg)
    src.qmp.pending_replies(0.3)
    evs = src.qmp.events
    seq = [(e["event"], e["data"].get("status", e["data"].get("pass"))) for e in evs
           if e["event"] in ("MIGRATION", "MIGRATION_PASS")]
    t.diag("11: events %s" % seq)
    st = [v for e, v in seq if e == "MIGRATION"]
    t.ok(st == ["setup", "active", "completed"],
         "11 MIGRATION events setup -> active -> completed", "got %s" % st)
    passes = [v for e, v in seq if e == "MIGRATION_PASS"]
    syncs = info["ram"]["dirty-sync-count"]
    t.ok(len(passes) >= 2 and passes == list(range(1, len(passes) + 1)),
         "11 MIGRATION_PASS 1..%d in order" % len(passes), "got %s" % passes)
    t.ok(passes and passes[-1] == syncs,
         "11 last MIGRATION_PASS equals dirty-sync-count (%s)" % syncs, "got %s" % passes)
    # QEMU 7.2 (reference, 'Status sequences'): setup, PASS(1), active, PASS(n)..., completed
    want = [("MIGRATION", "setup"), ("MIGRATION_PASS", 1), ("MIGRATION", "active")] + \
        [("MIGRATION_PASS", n) for n in range(2, len(passes) + 1)] + \
        [("MIGRATION", "completed")]
    t.ok(seq == want, "11 event order as QEMU: setup, PASS 1, active, PASS 2..n, completed",
         "got %s" % seq)
    t.ok(reply_at == [1], "11 MIGRATION(setup) comes before the migrate reply, as QEMU",
         "first two lines after migrate: %s" % [m.raw.strip() for m in first])
    good = all("timestamp" in e and set(e["timestamp"]) == {"seconds", "microseconds"}
               for e in evs)
    t.ok(good, "11 every event carries a timestamp", json.dumps(evs[:3]))


def s12_field_sets(t, h):
    src, dst, sdg, ddg = start_pair(h, "s12", "128M", idle=True)
    dst.cmd("migrate-incoming", {"uri": "tcp:127.0.0.1:0"})
    dq = dst.query()
    t.ok(set(dq) == {"socket-address"}, "12 dst listening: socket-address only",
         json.dumps(dq))
    uri = "tcp:127.0.0.1:%s" % dq["socket-address"][0]["port"]
    migrate(src, uri, bandwidth=32 * MiB)
    q = src.wait_status("active", 5)
    want = {"status", "setup-time", "total-time", "expected-downtime", "ram"}
    t.ok(keyset_ok(q, want), "12 src active: status, setup-time, total-time, "
         "expected-downtime, ram (+ x-kmig-*)", "got %s" % sorted(q))
    ram_keys = {"total", "postcopy-requests", "dirty-sync-count", "multifd-bytes",
                "pages-per-second", "downtime-bytes", "page-size", "remaining",
                "postcopy-bytes", "mbps", "transferred", "dirty-sync-missed-zero-copy",
                "precopy-bytes", "duplicate", "dirty-pages-rate", "skipped", "normal-bytes",
                "normal"}
    t.ok(set(q.get("ram", {})) == ram_keys, "12 src active: ram has QEMU 7.2's 18 members",
         "missing %s, extra %s" % (sorted(ram_keys - set(q.get("ram", {}))),
                                   sorted(set(q.get("ram", {})) - ram_keys)))
    dq = dst.query()
    t.ok(set(dq) == {"socket-address", "status"} and dq.get("status") == "active",
         "12 dst active: socket-address, status", json.dumps(dq))
    src.cmd("migrate-set-parameters", {"max-bandwidth": 0})
    q = check_completed(t, "12 field sets", src, dst, sdg, ddg)
    want = {"status", "setup-time", "downtime", "total-time", "ram"}
    t.ok(keyset_ok(q, want), "12 src completed: status, setup-time, downtime, total-time, ram "
         "(+ x-kmig-*)", "got %s" % sorted(q))
    dq = dst.query()
    t.ok(dq == {"status": "completed"}, "12 dst completed: status only", json.dumps(dq))


SCENARIOS = [
    (1, "idle over unix", s1_idle_unix),
    (2, "dirtying over tcp", s2_dirty_tcp),
    (3, "tcp across veth/netns", s3_netns),
    (4, "bandwidth limit", s4_bandwidth),
    (5, "cancel in setup", s5_cancel_setup),
    (6, "cancel in active", s6_cancel_active),
    (7, "cancel while paused", s7_cancel_paused),
    (8, "destination killed", s8_dst_killed),
    (9, "truncated/corrupted streams", s9_streams),
    (10, "closed port", s10_closed_port),
    (11, "events", s11_events),
    (12, "query-migrate field sets", s12_field_sets),
    (13, "failure after the hand-over", s7b_failed_after_handover),
    (14, "exec: both ways, --incoming URI", s14_exec_and_incoming_uri),
    (15, "fd: with getfd", s15_fd),
    (16, "sparse source stays sparse", s16_sparse),
    (17, "randomly damaged streams", s17_mutated_streams),
    (18, "multifd 1/2/4 channels, tcp and unix", s18_multifd),
    (19, "multifd cancel and killed destination", s19_multifd_failures),
    (20, "multi-hop: a destination migrates on", s20_multi_hop),
    (21, "kmigd dies under its workload", s21_agent_dies),
    (22, "STOP/RESUME events and statistics", s22_events_and_stats),
    (23, "compression: compress, multifd zlib and zstd", s23_compression),
    (24, "damaged compressed records", s24_bad_compressed),
    (25, "xbzrle", s25_xbzrle),
    (26, "auto-converge: libkmig and cgroup throttles", s26_auto_converge),
    (27, "postcopy: a workload faster than the link", s27_postcopy),
    (28, "postcopy: link cut, migrate-pause, recovery", s28_postcopy_recover),
    (29, "postcopy: migrate_cancel in each phase", s29_postcopy_cancel),
    (30, "postcopy: destination killed", s30_postcopy_dst_killed),
    (31, "postcopy: bad and flooding page requests", s31_postcopy_bad_requests),
    (32, "postcopy: multifd, xbzrle, release-ram, refusals", s32_postcopy_combos),
]


def sanitized(bindir):
    try:
        with open(os.path.join(bindir, "kmigd"), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def run_in(t, h, label, fn, san):
    """Runs the scenario fn(t, h) in the harness h (every suite's drivers use this): a Fail or
    an unexpected exception is a failing line, the processes' logs follow any failure, the
    processes are stopped and, in a sanitized build (@san), checked for reports, and the
    harness removes what it made even then.  Says how long it took."""
    t0 = time.monotonic()
    try:
        fn(t, h)
    except Reported:
        t.diag(h.logs())
    except Fail as e:
        t.ok(False, "%s: %s" % (label, e))
        t.diag(h.logs())
    except Exception as e:      # noqa: BLE001 - a bug in the test or a dead QMP socket
        # the failing line names it: a CI excerpt may hold only the summary's lines
        t.ok(False, "%s: unexpected exception %s" % (label, repr(e)[:300]))
        t.diag(format_exc())
        t.diag(h.logs())
    finally:
        try:
            h.stop_all()
            if san:
                rep = h.sanitizer_reports()
                t.ok(not rep, "%s: no sanitizer reports from kmigd/dirtygen" % label,
                     "\n".join(rep[:20]))
        finally:
            h.close()
        t.diag("%s: %.1f s" % (label, time.monotonic() - t0))


def run_scenario(t, bindir, num, title, fn):
    run_in(t, Harness(bindir, "s%d" % num), "%d %s" % (num, title), fn, sanitized(bindir))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build directory (binaries in BUILD/bin)")
    ap.add_argument("-k", dest="only", type=int, action="append",
                    help="run only this scenario number (repeatable)")
    args = ap.parse_args()
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    bindir = os.path.join(build, "bin")
    t = Tap()
    for b in ("kmigd", "kmig", "kmig-dirtygen"):
        if not os.access(os.path.join(bindir, b), os.X_OK):
            t.ok(False, "binary %s/%s exists (run make)" % (bindir, b))
            print("%d passed, %d failed, %d skipped" % (t.passed, t.failed, t.skipped))
            return 1
    install_signal_handlers()
    t0 = time.monotonic()
    try:
        for num, title, fn in SCENARIOS:
            if args.only and num not in args.only:
                continue
            run_scenario(t, bindir, num, title, fn)
    except (KeyboardInterrupt, Interrupted) as e:
        t.ok(False, "interrupted (%s)" % (e or "SIGINT"))
    print("1..%d" % t.n)
    t.diag("total %.1f s" % (time.monotonic() - t0))
    print("%d passed, %d failed, %d skipped" % (t.passed, t.failed, t.skipped), flush=True)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
