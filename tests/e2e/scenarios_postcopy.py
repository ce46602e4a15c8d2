# SPDX-License-Identifier: GPL-2.0-only
"""scenarios_postcopy.py: end-to-end scenarios for postcopy (docs/postcopy.md): a workload that
dirties faster than the link completes after migrate-start-postcopy; the link cut (and
migrate-pause) during postcopy, then migrate-recover + migrate resume; migrate_cancel in each
phase; a destination killed during postcopy; bad and flooding page requests slipped into the
return path; postcopy with multifd, xbzrle and release-ram, and what is refused.

Every completed migration is checked page by page (the destination's verify, run once every
page arrived, and the whole-memory hash against the source's final memory).  The destination
workloads read random pages while postcopy runs (dirtygen --touch), so they fault on missing
pages as a running workload would.  Cost: about 60-80 s per build on the 2-vCPU machines, most
of it 64-128 MiB migrations held to 16 MiB/s so that precopy cannot converge."""

import json
import signal
import time

from harness import Fail, wait_until
from proxy import Proxy, request
from scenarios_engine import set_caps
from steps import (MiB, check_completed, check_source_alive, extras_ok, listen, migrate, must,
                   second_migration)

LINK = 16 * MiB            # precopy's link: the workloads dirty ~10x faster
RATE = 40000               # source writes, pages/s (160 MB/s)


def pc_pair(h, tag, size="64M", touch="2000", dst_extra=(), src_ns=None, dst_ns=None,
            **src_opts):
    """Source and destination kmigd (in namespaces if given) with postcopy-ram on both, and
    their dirtygens; the destination one reads random pages while postcopy runs."""
    src = h.kmigd(tag + "-src", netns=src_ns)
    dst = h.kmigd(tag + "-dst", incoming=True, netns=dst_ns)
    src_opts.setdefault("rate", RATE)
    sdg = h.dirtygen(tag + "-sdg", src, size=size, wait=False, **src_opts)
    extra = (["--touch", touch] if touch else []) + list(dst_extra)
    ddg = h.dirtygen(tag + "-ddg", dst, size=size, role="dst", wait=False, extra=extra,
                     content=src_opts.get("content"))
    h.wait_registered(sdg)
    h.wait_registered(ddg)
    for a in (src, dst):
        set_caps(a, postcopy_ram=True)
    return src, dst, sdg, ddg


def start_postcopy(t, label, src, dst, after=1.0):
    """Precopy runs `after` s without converging, then migrate-start-postcopy; both sides
    reach postcopy-active.  Returns the source's first postcopy-active query-migrate."""
    src.wait_status("active", 10)
    time.sleep(after)
    q = src.query()
    must(t, q.get("status") == "active" and q["ram"]["remaining"] > 4 * MiB,
         "%s: precopy still far from converging after %.1f s (%d bytes dirty%s)"
         % (label, after, q.get("ram", {}).get("remaining", 0),
            "; " + q["x-kmig-convergence"] if q.get("x-kmig-convergence") else ""),
         json.dumps(q))
    src.cmd("migrate-start-postcopy")
    q = src.wait_status("postcopy-active", 15)
    dst.wait_status("postcopy-active", 10)
    return q


def pc_stats(agent):
    return agent.query().get("x-kmig-postcopy") or {}


def proxied(h, dst):
    """The destination listens; a proxy in front of it.  Returns the proxy."""
    uri = listen(dst, "tcp:127.0.0.1:0")
    p = Proxy(int(uri.rsplit(":", 1)[1]))
    h.sockets.append(p)
    return p


def s27_postcopy(t, h):
    """A workload dirtying ~10x faster than the link: precopy cannot converge, postcopy
    completes it; statuses, events, field sets and the counters as documented."""
    src, dst, sdg, ddg = pc_pair(h, "s27", size="128M")
    set_caps(src, events=True)
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=LINK)
    q = start_postcopy(t, "27", src, dst)
    want = {"status", "setup-time", "total-time", "expected-downtime", "ram"}
    t.ok(want <= set(q) and extras_ok(set(q) - want),
         "27 src postcopy-active: status, setup-time, total-time, expected-downtime, ram "
         "(+ x-kmig-*)", "got %s" % sorted(q))
    dq = dst.query()
    t.ok(dq.get("status") == "postcopy-active" and "socket-address" in dq and
         extras_ok(set(dq) - {"status", "socket-address"}),
         "27 dst postcopy-active: status, socket-address (+ x-kmig-postcopy)", json.dumps(dq))
    # the destination turns postcopy-active as it starts its workload, and runs once the
    # workload said it started (QEMU too is postcopy-active before its run state changes)
    try:
        wait_until(lambda: dst.run_state() == "running", 10, what="the destination running")
    except Fail:
        pass
    rs, drs = src.run_state(), dst.run_state()
    t.ok(rs == "finish-migrate" and drs == "running",
         "27 query-status: source finish-migrate (stopped for good), destination running",
         "src %s dst %s" % (rs, drs))
    r = src.request("migrate-set-capabilities",
                    {"capabilities": [{"capability": "events", "state": False}]})
    t.ok(r.get("error", {}).get("desc") == "There's a migration process in progress",
         "27 capabilities cannot change during postcopy", json.dumps(r))
    info = check_completed(t, "27 postcopy 128M, dirtying ~10x the link", src, dst, sdg, ddg)
    ram, pc = info["ram"], info.get("x-kmig-postcopy", {})
    dpc = dst.query().get("x-kmig-postcopy", {})
    t.diag("27: total %d ms, downtime %d ms, requests %d, faults %d, latency mean %.0f us "
           "max %.0f us" % (info["total-time"], info["downtime"], ram["postcopy-requests"],
                            dpc.get("faults", 0), dpc.get("fault-latency-mean-us", 0),
                            dpc.get("fault-latency-max-us", 0)))
    t.ok(ram["postcopy-requests"] > 0 and ram["postcopy-bytes"] > 64 * MiB and
         pc.get("urgent-pages", 0) > 0 and pc.get("swept-pages", 0) > 0 and
         ram["postcopy-requests"] == pc.get("requests"),
         "27 source: postcopy-requests %d served first, the rest swept (%d + %d pages), "
         "postcopy-bytes %d" % (ram["postcopy-requests"], pc.get("urgent-pages", 0),
                                pc.get("swept-pages", 0), ram["postcopy-bytes"]),
         json.dumps(info))
    t.ok(dpc.get("faults", 0) > 0 and dpc.get("fault-latency-count", 0) > 0 and
         0 < dpc.get("fault-latency-mean-us", 0) <= dpc.get("fault-latency-max-us", 0) and
         dpc.get("missing-pages") == 0,
         "27 destination: faults %d, latency mean %.0f us, max %.0f us, nothing missing"
         % (dpc.get("faults", 0), dpc.get("fault-latency-mean-us", 0),
            dpc.get("fault-latency-max-us", 0)), json.dumps(dpc))
    t.ok(0 < info["downtime"] < 1000, "27 downtime (pause to destination running) %d ms"
         % info["downtime"], json.dumps(info))
    src.qmp.pending_replies(0.2)
    st = [e["data"]["status"] for e in src.qmp.events if e.get("event") == "MIGRATION"]
    t.ok(st == ["setup", "active", "postcopy-active", "completed"],
         "27 MIGRATION events setup -> active -> postcopy-active -> completed", "got %s" % st)
    # the postcopy destination is a source now: its userfaultfds are gone, it migrates on
    dst2 = h.kmigd("s27-dst2", incoming=True)
    ddg2 = h.dirtygen("s27-ddg2", dst2, size="128M", role="dst")
    migrate(dst, listen(dst2, "tcp:127.0.0.1:0"))
    check_completed(t, "27 the postcopy destination migrates on (precopy)", dst, dst2, ddg, ddg2)


def s28_postcopy_recover(t, h):
    """The link cut during postcopy: both sides postcopy-paused, nothing lost; migrate-recover
    and migrate resume continue it.  Then migrate-pause breaks it on purpose, and a second
    recovery completes it; every page verifies."""
    src, dst, sdg, ddg = pc_pair(h, "s28")
    src.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": LINK})
    r = dst.request("migrate-recover", {"uri": "tcp:127.0.0.1:0"})
    t.ok(r.get("error", {}).get("desc") ==
         "Migrate recover can only be run when postcopy is paused.",
         "28 migrate-recover before postcopy: QEMU's refusal", json.dumps(r))
    p = proxied(h, dst)
    migrate(src, p.uri(), bandwidth=LINK)
    start_postcopy(t, "28", src, dst)
    time.sleep(0.8)
    r = src.request("migrate", {"uri": "tcp:127.0.0.1:1", "resume": True})
    t.ok(r.get("error", {}).get("desc") == "Cannot resume if there is no paused migration",
         "28 migrate resume while postcopy-active: QEMU's refusal", json.dumps(r))
    before = pc_stats(src)
    p.cut()
    try:
        sq = src.wait_status("postcopy-paused", 10)
        dq = dst.wait_status("postcopy-paused", 10)
        good = True
    except Fail as e:
        sq, dq, good = src.query(), dst.query(), False
        t.diag(str(e))
    spc, dpc = sq.get("x-kmig-postcopy", {}), dq.get("x-kmig-postcopy", {})
    must(t, good and spc.get("pauses") == 1 and spc.get("unsent-pages", 0) > 0 and
         spc.get("last-error") and dpc.get("missing-pages", 0) > 0,
         "28 link cut: both sides postcopy-paused (source keeps %d unsent pages, destination "
         "misses %d)" % (spc.get("unsent-pages", 0), dpc.get("missing-pages", 0)),
         "before %s; src %s; dst %s" % (before, json.dumps(sq), json.dumps(dq)))
    time.sleep(0.5)
    t.ok(ddg.alive() and sdg.alive() and ddg.verify_line() is None,
         "28 while paused both workloads live, the destination's waits on missing pages",
         "dst dirtygen alive %s" % ddg.alive())
    for round_ in (1, 2):
        dst.cmd("migrate-recover", {"uri": "tcp:127.0.0.1:0"})
        port = dst.query()["socket-address"][0]["port"]
        p = Proxy(int(port))
        h.sockets.append(p)
        src.cmd("migrate", {"uri": p.uri(), "resume": True})
        try:
            src.wait_status("postcopy-active", 15)
            dst.wait_status("postcopy-active", 10)
            good, why = True, ""
        except Fail as e:
            good, why = False, str(e)
        must(t, good, "28 recovery %d: both sides postcopy-active again" % round_, why)
        if round_ == 2:
            break
        time.sleep(0.5)
        dst.cmd("migrate-pause")     # on purpose this time, from the destination
        try:
            src.wait_status("postcopy-paused", 10)
            dst.wait_status("postcopy-paused", 10)
            good, why = True, ""
        except Fail as e:
            good, why = False, str(e)
        must(t, good, "28 migrate-pause on the destination: both sides postcopy-paused", why)
    info = check_completed(t, "28 postcopy after a cut link and a migrate-pause, recovered "
                           "twice", src, dst, sdg, ddg)
    pc = info.get("x-kmig-postcopy", {})
    t.ok(pc.get("pauses") == 2 and pc.get("recoveries") == 2,
         "28 source counted 2 pauses and 2 recoveries", json.dumps(pc))


def s29_postcopy_cancel(t, h):
    """migrate_cancel in each phase, as docs/postcopy.md says: in precopy (postcopy-ram on)
    and while switching (before RUN) it cancels and the source runs on; in postcopy-active
    and postcopy-recover it is refused; in postcopy-paused it gives the migration up, the
    source holding its workload stopped with every page until 'cont'."""
    busy = "Postcopy migration in progress, cannot cancel."
    # precopy with postcopy-ram on: an ordinary cancel
    src, dst, sdg, ddg = pc_pair(h, "s29a", touch=None)
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=LINK)
    src.wait_status("active", 10)
    src.cmd("migrate_cancel")
    q = src.wait_status("cancelled", 10)
    must(t, q == {"status": "cancelled"}, "29a cancel in precopy (postcopy-ram on): cancelled",
         json.dumps(q))
    check_source_alive(t, "29a", src, sdg)
    # while switching: the source waits for its workload to pause (it is SIGSTOPped)
    src2, dst2, sdg2, ddg2 = pc_pair(h, "s29b", touch=None)
    migrate(src2, listen(dst2, "tcp:127.0.0.1:0"), bandwidth=LINK)
    src2.wait_status("active", 10)
    time.sleep(0.5)
    sdg2.signal(signal.SIGSTOP)
    src2.cmd("migrate-start-postcopy")
    time.sleep(0.5)
    src2.cmd("migrate_cancel")
    q = src2.query()
    sdg2.signal(signal.SIGCONT)
    try:
        q2 = src2.wait_status("cancelled", 15)
        dq = dst2.wait_status("failed", 15)
        good = q.get("status") == "cancelling" and q2 == {"status": "cancelled"}
        why = "%s then %s; dst %s" % (q, q2, dq)
    except Fail as e:
        good, why = False, str(e)
    time.sleep(0.3)
    must(t, good and "started" not in ddg2.text(),
         "29b cancel while switching to postcopy (workload being paused, before RUN): "
         "cancelled, the destination fails without starting", why)
    check_source_alive(t, "29b", src2, sdg2)
    second_migration(t, h, "29b cancel while switching", src2, sdg2, "64M")
    # postcopy-active: refused; postcopy-recover: refused; postcopy-paused: given up
    src3, dst3, sdg3, ddg3 = pc_pair(h, "s29c")
    src3.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 4 * MiB})
    p = proxied(h, dst3)
    migrate(src3, p.uri(), bandwidth=LINK)
    start_postcopy(t, "29c", src3, dst3)
    r = src3.request("migrate_cancel")
    t.ok(r.get("error", {}).get("desc") == busy and src3.status() == "postcopy-active",
         "29c cancel in postcopy-active: refused with QEMU's text", json.dumps(r))
    r = src3.request("cont")
    t.ok("error" in r and src3.run_state() == "finish-migrate",
         "29c cont in postcopy: refused, the source workload stays stopped", json.dumps(r))
    p.cut()
    src3.wait_status("postcopy-paused", 10)
    dst3.wait_status("postcopy-paused", 10)
    port = h.listener_backlog_full()    # a resume whose connect hangs: postcopy-recover
    src3.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % port, "resume": True})
    src3.wait_status("postcopy-recover", 5)
    r = src3.request("migrate_cancel")
    t.ok(r.get("error", {}).get("desc") == busy and src3.status() == "postcopy-recover",
         "29c cancel in postcopy-recover: refused", json.dumps(r))
    h.close_sockets()                   # the hanging connect fails: paused again
    src3.wait_status("postcopy-paused", 30)
    src3.cmd("migrate_cancel")
    try:
        q = src3.wait_status("failed", 10)
        good = "every page" in q.get("error-desc", "") and src3.run_state() == "paused"
        why = "%s; query-status %s" % (json.dumps(q), src3.run_state())
    except Fail as e:
        good, why = False, str(e)
    must(t, good, "29c cancel in postcopy-paused: given up, the source holds its workload "
         "stopped with every page (query-status paused)", why)
    ddg3.signal(signal.SIGKILL)         # the operator decides the destination copy is dead
    dst3.stop()
    src3.cmd("cont")
    check_source_alive(t, "29c after cont", src3, sdg3)
    second_migration(t, h, "29c given up in postcopy-paused, then cont", src3, sdg3, "64M")


def s30_postcopy_dst_killed(t, h):
    """The destination kmigd killed during postcopy: the source goes postcopy-paused holding
    every page and says so; its workload never read zeroes on the destination (it stops
    with its pages missing); given up and 'cont', the source's memory migrates intact."""
    src, dst, sdg, ddg = pc_pair(h, "s30")
    src.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 4 * MiB})
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=LINK)
    start_postcopy(t, "30", src, dst)
    time.sleep(0.5)
    dst.signal(signal.SIGKILL)
    try:
        q = src.wait_status("postcopy-paused", 10)
        pc = q.get("x-kmig-postcopy", {})
        good = (pc.get("unsent-pages", 0) > 0 and pc.get("released-pages") == 0 and
                pc.get("last-error"))
        why = json.dumps(q)
    except Fail as e:
        pc, good, why = {}, False, str(e)
    must(t, good, "30 destination killed: source postcopy-paused, %d pages unsent, none "
         "released, reason %r" % (pc.get("unsent-pages", 0), pc.get("last-error")), why)
    try:
        rc = ddg.wait_exit(15)
    except Fail as e:
        rc = str(e)
    t.ok(rc == 2 and ddg.verify_line() is None and "pages still missing" in ddg.text(),
         "30 the destination workload lost its agent with pages missing: it stopped (exit "
         "%s) and never read them as zeroes" % rc, " | ".join(ddg.text().splitlines()[-4:]))
    src.cmd("migrate_cancel")
    q = src.wait_status("failed", 10)
    t.ok(src.run_state() == "paused" and "every page" in q.get("error-desc", ""),
         "30 given up: source failed, workload held with every page (%s)"
         % q.get("error-desc"), json.dumps(q))
    src.cmd("cont")
    check_source_alive(t, "30 after cont", src, sdg)
    second_migration(t, h, "30 destination killed in postcopy, then cont", src, sdg, "64M")


def s31_postcopy_bad_requests(t, h):
    """Page requests the destination never sent, slipped into the return path: outside a
    block, for an unknown block, misaligned, empty, too long, and a flood of 20000 -- all
    refused or absorbed, and the migration completes and verifies."""
    src, dst, sdg, ddg = pc_pair(h, "s31")
    src.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 8 * MiB})
    p = proxied(h, dst)
    migrate(src, p.uri(), bandwidth=LINK)
    start_postcopy(t, "31", src, dst)
    pages = 64 * MiB // 4096
    bad = [request(0, pages * 4096, 1),             # just past the block's end
           request(0, (pages - 1) * 4096, 2),       # running past it
           request(0, 1 << 62, 1),                  # far outside
           request(7, 0, 1), request(0xffffffff, 0, 1),     # unknown blocks
           request(0, 4096 + 17, 1),                # misaligned
           request(0, 0, 0), request(0, 0, 257)]    # empty, longer than a record
    before = pc_stats(src)
    p.inject(b"".join(bad))
    p.inject(b"".join(request(0, (i * 7919 % pages) * 4096, 1) for i in range(20000)))
    try:
        wait_until(lambda: pc_stats(src).get("requests", 0) + pc_stats(src).get(
            "dropped-requests", 0) >= before.get("requests", 0) + 20000 + len(bad) or
            src.status() == "completed", 20, what="the injected requests to be taken")
    except Fail as e:
        t.diag(str(e))
    info = check_completed(t, "31 postcopy with bad and flooding page requests", src, dst,
                           sdg, ddg)
    pc = info.get("x-kmig-postcopy", {})
    t.ok(pc.get("refused-requests") == len(bad),
         "31 the %d bad requests refused (refused %s, flood: %s taken, %s dropped)"
         % (len(bad), pc.get("refused-requests"), pc.get("requests"),
            pc.get("dropped-requests")), json.dumps(pc))


def s32_postcopy_combos(t, h):
    """Postcopy with multifd and with xbzrle (the precopy phase uses them, postcopy's pages go
    raw on the main channel), release-ram freeing the source's memory, postcopy-ram on but
    never started; refused: postcopy over a channel without a return path, a destination
    workload that cannot start early."""
    for label, caps, params in (("multifd 2", {"multifd": True}, {"multifd-channels": 2}),
                                ("xbzrle", {"xbzrle": True}, {})):
        # random content: XBZRLE sees every page changed whole, so it cannot converge either
        src, dst, sdg, ddg = pc_pair(h, "s32" + label[0])
        for a in (src, dst):
            set_caps(a, **caps)
            if params:
                a.cmd("migrate-set-parameters", params)
        # 64 MiB/s: pass 1 ends (so xbzrle has a second pass), still far from converging
        migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=4 * LINK)
        start_postcopy(t, "32 " + label, src, dst, after=2.5)
        info = check_completed(t, "32 postcopy with %s" % label, src, dst, sdg, ddg)
        ram = info["ram"]
        xb = info.get("xbzrle-cache", {})
        t.ok((ram["multifd-bytes"] > 0) if caps.get("multifd") else
             (xb.get("cache-miss", 0) + xb.get("overflow", 0) + xb.get("pages", 0) > 0),
             "32 %s was used in the precopy phase" % label, json.dumps(info))
    # release-ram: every page sent is freed in the source's memfd, so the source's final
    # memory is what its page generations say (--checksum-gens), not what it still holds
    src, dst, sdg, ddg = pc_pair(h, "s32r", extra=["--checksum-gens"])
    set_caps(src, release_ram=True)
    migrate(src, listen(dst, "tcp:127.0.0.1:0"), bandwidth=LINK)
    start_postcopy(t, "32 release-ram", src, dst)
    info = check_completed(t, "32 postcopy with release-ram", src, dst, sdg, ddg)
    pc = info.get("x-kmig-postcopy", {})
    t.ok(pc.get("released-pages", 0) >= 0.5 * (64 * MiB // 4096),
         "32 release-ram freed %d source pages once sent" % pc.get("released-pages", 0),
         json.dumps(pc))
    # postcopy-ram on but never started: a version-3 stream that completes as precopy; the
    # destination's userfaultfds are released, so it migrates on (tracked for writes)
    src, dst, sdg, ddg = pc_pair(h, "s32p", touch=None, rate=2000)
    migrate(src, listen(dst, "tcp:127.0.0.1:0"))
    info = check_completed(t, "32 postcopy-ram on, never started: completes as precopy", src,
                           dst, sdg, ddg)
    t.ok("x-kmig-postcopy" not in info and info["ram"]["postcopy-bytes"] == 0,
         "32 ... and nothing of it went as postcopy", json.dumps(info))
    dst2 = h.kmigd("s32p-dst2", incoming=True)
    ddg2 = h.dirtygen("s32p-ddg2", dst2, size="64M", role="dst")
    migrate(dst, listen(dst2, "tcp:127.0.0.1:0"))
    check_completed(t, "32 ... and its destination migrates on", dst, dst2, ddg, ddg2)
    # refusals
    src = h.kmigd("s32n-src")
    sdg = h.dirtygen("s32n-sdg", src, size="16M", idle=True)
    set_caps(src, postcopy_ram=True)
    r = src.request("migrate", {"uri": "exec:cat > /dev/null"})
    t.ok(r.get("error", {}).get("desc") == "Unable to open return-path for postcopy",
         "32 postcopy over exec: (no return path): QEMU's refusal", json.dumps(r))
    dst = h.kmigd("s32y-dst", incoming=True)
    h.dirtygen("s32y-ddg", dst, size="16M", role="dst", extra=["--no-postcopy"])
    set_caps(dst, postcopy_ram=True)
    migrate(src, listen(dst, "tcp:127.0.0.1:0"))
    try:
        q = src.wait_status("failed", 15)
        good = "cannot start before its memory arrived" in q.get("error-desc", "")
        why = json.dumps(q)
    except Fail as e:
        good, why = False, str(e)
    t.ok(good, "32 a destination workload that cannot start early: refused at setup, with "
         "the destination's reason", why)
    check_source_alive(t, "32 refused", src, sdg)
