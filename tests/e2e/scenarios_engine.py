# SPDX-License-Identifier: GPL-2.0-only
"""scenarios_engine.py: end-to-end scenarios for the engine's second version: multifd channels,
multi-hop migration (a destination that becomes a source), a kmigd that dies under its workload,
STOP/RESUME events and QEMU's statistics.  Every completed migration is checked page by page;
every failed one proves the source intact by migrating it again."""

import json
import random
import signal
import time

from harness import Fail, wait_until
from steps import (MiB, check_completed, check_source_alive, fresh_dst, listen, migrate, must,
                   start_pair)


def set_caps(agent, **caps):
    agent.cmd("migrate-set-capabilities",
              {"capabilities": [{"capability": k.replace("_", "-"), "state": v}
                                for k, v in caps.items()]})


def multifd(agent, channels):
    set_caps(agent, multifd=channels > 0)
    if channels:
        agent.cmd("migrate-set-parameters", {"multifd-channels": channels})


def s18_multifd(t, h):
    """multifd with 1, 2 and 4 channels over tcp and unix while the workload dirties memory."""
    for transport in ("tcp", "unix"):
        for n in (1, 2, 4):
            tag = "s18%s%d" % (transport[0], n)
            src, dst, sdg, ddg = start_pair(h, tag, "128M", rate=5000)
            multifd(src, n)
            multifd(dst, n)
            uri = listen(dst, "tcp:127.0.0.1:0" if transport == "tcp" else
                         "unix:" + h.path(tag + ".sock"))
            migrate(src, uri)
            label = "18 multifd %d channel%s over %s, dirtying" % (n, "s" * (n > 1), transport)
            info = check_completed(t, label, src, dst, sdg, ddg)
            ram = info["ram"]
            t.ok(ram["multifd-bytes"] > 0.9 * ram["total"] and
                 info.get("x-kmig-transport") == transport,
                 "%s: pages went on the data channels (multifd-bytes %d of %d transferred)"
                 % (label, ram["multifd-bytes"], ram["transferred"]), json.dumps(info))
    # a stream that is not a socket cannot carry several channels: refused, as QEMU
    src = h.kmigd("s18x-src")
    h.dirtygen("s18x-sdg", src, size="16M", idle=True)
    multifd(src, 2)
    r = src.request("migrate", {"uri": "exec:cat > /dev/null"})
    t.ok(r.get("error", {}).get("desc") == "multifd is not supported by current protocol",
         "18 multifd over exec: refused with QEMU's text", json.dumps(r))


def s19_multifd_failures(t, h):
    """Cancel and a killed destination during a multifd migration: the source keeps running
    with its memory intact (a second multifd migration of it verifies)."""
    src, dst, sdg, ddg = start_pair(h, "s19c", "128M", rate=2000)
    multifd(src, 4)
    multifd(dst, 4)
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=8 * MiB)
    src.wait_status("active", 5)
    time.sleep(0.8)
    src.cmd("migrate_cancel")
    try:
        q = src.wait_status("cancelled", 5)
        good, why = q == {"status": "cancelled"}, json.dumps(q)
    except Fail as e:
        good, why = False, str(e)
    must(t, good, "19 migrate_cancel during a 4-channel multifd migration -> cancelled", why)
    check_source_alive(t, "19 multifd cancel", src, sdg)
    try:
        dq = dst.wait_status("failed", 10)
        good, why = "started" not in ddg.text(), json.dumps(dq)
    except Fail as e:
        good, why = False, str(e)
    t.ok(good, "19 the destination failed and did not start the workload", why)

    dst2, ddg2 = fresh_dst(h, "s19k", "128M")
    multifd(dst2, 4)
    migrate(src, listen(dst2, "tcp:127.0.0.1:0"), bandwidth=8 * MiB)
    src.wait_status("active", 5)
    time.sleep(0.8)
    dst2.signal(signal.SIGKILL)
    try:
        q = src.wait_status("failed", 15)
        good, why = q.get("error-desc", "") != "", json.dumps(q)
    except Fail as e:
        good, why = False, str(e)
    must(t, good, "19 destination kmigd killed during multifd: source failed with a reason", why)
    check_source_alive(t, "19 multifd destination killed", src, sdg)

    dst3, ddg3 = fresh_dst(h, "s19v", "128M")
    multifd(dst3, 4)
    migrate(src, listen(dst3, "tcp:127.0.0.1:0"))
    check_completed(t, "19 after both failures: a 4-channel migration of the same source", src,
                    dst3, sdg, ddg3)


def s20_multi_hop(t, h):
    """A -> B, then B -> C: the workload started on B is a source there.  B was a destination
    first; cancel must still work for its source migration, then it completes."""
    a, b, sdg, bdg = start_pair(h, "s20", "128M", rate=3000)
    migrate(a, listen(b, "tcp:127.0.0.1:0"))
    check_completed(t, "20 hop 1: A -> B", a, b, sdg, bdg)
    wait_until(lambda: "now a source" in bdg.text(), 10, what="B's workload to become a source")
    r = a.request("cont")
    t.ok(r.get("error", {}).get("class") == "GenericError" and
         "migrated" in r["error"].get("desc", ""),
         "20 cont on A after its workload migrated away: an error that says so", json.dumps(r))
    c1, cdg1 = fresh_dst(h, "s20c1", "128M")
    migrate(b, listen(c1, "tcp:127.0.0.1:0"), bandwidth=4 * MiB)
    b.wait_status("active", 5)
    time.sleep(0.5)
    b.cmd("migrate_cancel")
    try:
        q = b.wait_status("cancelled", 5)
        good, why = q == {"status": "cancelled"}, json.dumps(q)
    except Fail as e:
        good, why = False, str(e)
    must(t, good, "20 B (a destination before) cancels its own source migration", why)
    check_source_alive(t, "20 B after the cancel", b, bdg)
    c2, cdg2 = fresh_dst(h, "s20c2", "128M")
    migrate(b, listen(c2, "tcp:127.0.0.1:0"))
    check_completed(t, "20 hop 2: B -> C", b, c2, bdg, cdg2)
    t.ok("started (hop 2)" in cdg2.text(), "20 the workload went through two hops",
         cdg2.text()[-300:])


def restart(h, dead):
    """A new kmigd on a dead one's sockets; waits for the workload to register with it."""
    new = h.kmigd(dead.name)
    wait_until(lambda: "registered pid=" in new.text(), 15,
               what="the workload to register with the restarted %s" % dead.name)
    return new


def s21_agent_dies(t, h):
    """kmigd killed at random moments of a migration: the workload runs on, registers with
    the next kmigd on the same socket, and that one migrates it, verified."""
    rng = random.Random(21)
    src = h.kmigd("s21-src")
    sdg = h.dirtygen("s21-sdg", src, size="128M", rate=3000)
    for rnd in range(3):
        dst, ddg = fresh_dst(h, "s21d%d" % rnd, "128M")
        migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=16 * MiB)
        time.sleep(rng.uniform(0.05, 1.5))
        src.signal(signal.SIGKILL)
        src.p.wait(5)
        time.sleep(0.3)
        must(t, sdg.running(), "21 round %d: source kmigd killed mid-migration, the workload "
             "still runs" % rnd, sdg.text()[-500:])
        src = restart(h, src)
        t.ok(src.run_state() == "running" and src.query() == {},
             "21 round %d: a new kmigd took the workload over (running, no migration)" % rnd,
             "query-status %s, query-migrate %s" % (src.run_state(), src.query()))
        dst.stop()
        ddg.stop()
    dst, ddg = fresh_dst(h, "s21dz", "128M")
    migrate(src, listen(dst, "tcp:127.0.0.1:0"))
    check_completed(t, "21 after three kmigd deaths: migrated by the fourth kmigd", src, dst,
                    sdg, ddg)

    # killed while the workload is paused for the switch-over: it stays paused
    src = h.kmigd("s21p-src")
    sdg = h.dirtygen("s21p-sdg", src, size="64M", rate=2000)
    dst, ddg = fresh_dst(h, "s21p", "64M")
    dport = listen(dst, "tcp:127.0.0.1:0").rsplit(":", 1)[1]
    migrate(src, "tcp:127.0.0.1:%d" % h.return_path_blackhole(int(dport)))
    wait_until(lambda: src.run_state() == "finish-migrate", 20, what="the switch-over")
    src.signal(signal.SIGKILL)
    src.p.wait(5)
    h.close_sockets()
    src = restart(h, src)
    rs = src.run_state()
    rep_before = (sdg.text().count("resum"), sdg.alive())
    must(t, rs == "paused" and sdg.alive(), "21 killed during the switch-over: the workload "
         "stays paused and the new kmigd holds it (query-status %s)" % rs, sdg.text()[-400:])
    try:
        dq = dst.wait_status("failed", 15)
        good, why = "started" not in ddg.text(), json.dumps(dq)
    except Fail as e:
        good, why = False, str(e)
    t.ok(good, "21 the destination never got the go-ahead and did not start", why)
    src.qmp.events.clear()
    src.cmd("cont")
    src.cmd("query-status")
    t.ok(src.run_state() == "running" and any(e.get("event") == "RESUME"
                                              for e in src.qmp.events),
         "21 cont resumes it, with a RESUME event", "%s %s" % (rep_before, src.qmp.events))
    dst2, ddg2 = fresh_dst(h, "s21p2", "64M")
    migrate(src, listen(dst2, "tcp:127.0.0.1:0"))
    check_completed(t, "21 the held workload, resumed, migrates", src, dst2, sdg, ddg2)


def s22_events_and_stats(t, h):
    """STOP/RESUME events on both sides, and QEMU's statistics: expected-downtime is the
    downtime limit during pass 1, the final mbps is every byte over the time after setup (so
    it stays under max-bandwidth), dirty-pages-rate is 0 once completed."""
    src, dst, sdg, ddg = start_pair(h, "s22", "128M", rate=2000)
    for a in (src, dst):
        set_caps(a, events=True)
    limit = 48 * MiB
    src.cmd("migrate-set-parameters", {"downtime-limit": 250})
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=limit)
    q = src.wait_status("active", 5)
    t.ok(q.get("expected-downtime") == 250 and q["ram"]["dirty-sync-count"] == 1,
         "22 during pass 1 expected-downtime is the downtime limit (250)", json.dumps(q))
    info = check_completed(t, "22 events and statistics", src, dst, sdg, ddg)
    secs = (info["total-time"] - info["setup-time"]) / 1000.0
    want = info["ram"]["transferred"] * 8 / secs / 1e6
    mbps = info["ram"]["mbps"]
    t.ok(abs(mbps - want) <= 0.02 * want and mbps <= limit * 8 / 1e6 * 1.05,
         "22 final mbps %.1f = transferred / (total - setup), within max-bandwidth %.1f"
         % (mbps, limit * 8 / 1e6), json.dumps(info))
    t.ok(info["ram"]["dirty-pages-rate"] == 0, "22 dirty-pages-rate is 0 once completed",
         json.dumps(info["ram"]))
    src.cmd("query-status")
    dst.cmd("query-status")
    sev = [e["event"] for e in src.qmp.events if e["event"] in ("STOP", "RESUME")]
    dev = [e["event"] for e in dst.qmp.events if e["event"] in ("STOP", "RESUME")]
    t.ok(sev == ["STOP"] and dev == ["RESUME"], "22 STOP on the source at the switch-over, "
         "RESUME on the destination when it starts", "source %s, destination %s" % (sev, dev))
    stop = [e for e in src.qmp.events if e["event"] == "STOP"]
    t.ok(stop and "data" not in stop[0], "22 STOP has no data member, as QEMU",
         json.dumps(stop))

    # a failed migration resumes the source: RESUME there (events capability or not)
    src = h.kmigd("s22f-src")
    sdg = h.dirtygen("s22f-sdg", src, size="64M", rate=2000)
    dst, ddg = fresh_dst(h, "s22f", "64M")
    dport = listen(dst, "tcp:127.0.0.1:0").rsplit(":", 1)[1]
    migrate(src, "tcp:127.0.0.1:%d" % h.return_path_blackhole(int(dport)))
    wait_until(lambda: src.run_state() == "finish-migrate", 20, what="the switch-over")
    src.cmd("migrate_cancel")
    src.wait_status("cancelled", 5)
    src.cmd("query-status")
    sev = [e["event"] for e in src.qmp.events if e["event"] in ("STOP", "RESUME")]
    t.ok(sev == ["STOP", "RESUME"], "22 cancelled while stopped: STOP, then RESUME when the "
         "source workload runs again", "got %s" % sev)
    h.close_sockets()

    # the workload dies during a migration: the tracker says so (not a bare I/O error)
    src2 = h.kmigd("s22w-src")
    sdg2 = h.dirtygen("s22w-sdg", src2, size="64M", rate=2000)
    dst2, ddg2 = fresh_dst(h, "s22w", "64M")
    migrate(src2, listen(dst2, "tcp:127.0.0.1:0"), bandwidth=8 * MiB)
    src2.wait_status("active", 5)
    sdg2.signal(signal.SIGKILL)
    try:
        q = src2.wait_status("failed", 15)
        good, why = "exited" in q.get("error-desc", ""), json.dumps(q)
    except Fail as e:
        good, why = False, str(e)
    t.ok(good, "22 a workload that dies mid-migration fails it with the tracker's reason", why)
