# SPDX-License-Identifier: GPL-2.0-only
"""scenarios_streams.py: the e2e scenarios about streams at rest: saved to a file: (and then
truncated, corrupted, randomly damaged, or restored intact) and piped through exec: commands.
The scenario table in test_migration.py runs them."""

import json
import random
import re

import kstream
from harness import Fail
from steps import fresh_dst, memory_matches, migrate, must


def s9_streams(t, h):
    src = h.kmigd("s9-src")
    sdg = h.dirtygen("s9-sdg", src, size="128M", rate=2000)
    stream = h.path("stream")
    migrate(src, "file:" + stream)
    info = src.wait_status("completed", 30)
    rc = sdg.wait_exit(10)
    must(t, rc == 0 and "migrated" in sdg.text(),
         "9 migrate to file: completes on the source (workload migrated)",
         "exit %s; %s" % (rc, json.dumps(info)))
    with open(stream, "rb") as f:
        data = f.read()
    try:
        blocks, recs = kstream.parse(data)
        good, why = True, ""
    except (ValueError, IndexError) as e:
        good, why = False, str(e)
    must(t, good, "9 the stream file parses (%d bytes)" % len(data), why)
    t.diag("9: stream %d bytes, blocks %s, %d records, passes %s" % (
        len(data), blocks, len(recs), [r.offset for r in recs if r.type == kstream.PASS]))

    def incoming(tag, content, want, label):
        path = h.path("stream-" + tag)
        with open(path, "wb") as f:
            f.write(content)
        dst, ddg = fresh_dst(h, "s9" + tag, "128M")
        dst.cmd("migrate-incoming", {"uri": "file:" + path})
        try:
            q = dst.wait_status(("completed", "failed"), 20)
        except Fail as e:
            q = {"status": str(e)}
        if want == "completed":
            must(t, q == {"status": "completed"}, "9%s %s: destination completed" % (tag, label),
                 json.dumps(q))
            return dst, ddg
        desc = q.get("error-desc", "")
        t.ok(q.get("status") == "failed" and re.search(want, desc),
             "9%s %s: destination failed, error-desc %r" % (tag, label, desc),
             "want /%s/; %s" % (want, json.dumps(q)))
        try:
            rc = ddg.wait_exit(5)
        except Fail:
            rc = None
        rep = ddg.report_json() or {}
        vline = ddg.verify_line()
        t.ok(rc == 2 and not (vline and " 0 bad" in vline) and rep.get("outcome") == "failed",
             "9%s %s: destination workload told failed, no verify ok" % (tag, label),
             "exit %s, verify line %r, report %s" % (rc, vline, rep))
        return dst, ddg

    incoming("a", data[:len(data) // 2], r"ended early", "truncated to half")
    flipped, where = kstream.flip_page_bytes(data, recs)
    t.diag("9b: flipped %s" % where)
    incoming("b", flipped, r"checksum mismatch", "page bytes flipped")
    bad, off = kstream.bad_offset(data, recs, blocks)
    t.diag("9c: first PAGES record moved to offset %d" % off)
    incoming("c", bad, r"beyond the end of block 'ram0'", "record offset beyond the block")
    dst, ddg = incoming("d", data, "completed", "pristine")
    good, vline, ssum, dsum = memory_matches(sdg, ddg)
    want = "verify: %d pages ok, 0 bad" % ddg.pages
    must(t, good,
         "9d pristine: destination memory == source final memory (%s, xxh64 %s)"
         % (vline, dsum), "want %r; src.sum %s dst.sum %s" % (want, ssum, dsum))


def s14_exec_and_incoming_uri(t, h):
    """exec: both ways (a gzip pipeline), the destination started with --incoming URI."""
    src = h.kmigd("s14-src")
    sdg = h.dirtygen("s14-sdg", src, size="128M", rate=2000)
    stream = h.path("stream.gz")
    migrate(src, "exec:gzip -1 > %s" % stream)
    q = src.wait_status(("completed", "failed"), 60)
    must(t, q.get("status") == "completed" and q.get("x-kmig-transport") == "exec",
         "14 exec: source completes into a gzip pipeline", json.dumps(q))
    rc = sdg.wait_exit(10)
    must(t, rc == 0 and "migrated" in sdg.text(), "14 source workload handed over",
         "exit %s" % rc)
    dst = h.kmigd("s14-dst", incoming="exec:gunzip -c %s" % stream)
    ddg = h.dirtygen("s14-ddg", dst, size="128M", role="dst")
    try:
        dq = dst.wait_status(("completed", "failed"), 60)
    except Fail as e:
        dq = {"status": str(e)}
    t.ok(dq.get("status") == "completed" and memory_matches(sdg, ddg)[0],
         "14 --incoming exec:gunzip at start-up restores it: destination memory == source "
         "final memory", "dst %s; %s; src.sum %s dst.sum %s"
         % (json.dumps(dq), ddg.verify_line(), sdg.checksum(), ddg.checksum()))


def s17_mutated_streams(t, h, rounds=60):
    """Random damage to a saved stream (record headers, the stream header, page data): the
    destination must never crash and never complete with memory that differs from the
    source's; it either fails with a reason or (when the damage was overwritten later in the
    stream) completes and verifies."""
    src = h.kmigd("s17-src")
    sdg = h.dirtygen("s17-sdg", src, size="16M", rate=2000)
    stream = h.path("stream")
    migrate(src, "file:" + stream)
    src.wait_status("completed", 30)
    sdg.wait_exit(10)
    with open(stream, "rb") as f:
        data = f.read()
    blocks, recs = kstream.parse(data)
    rng = random.Random(17)
    bad, outcomes = [], {}
    for i in range(rounds):
        buf = bytearray(data)
        kind = ("header", "record", "payload")[i % 3]
        if kind == "header":
            at = rng.randrange(0, kstream.HDR.size + len(blocks) * kstream.BLOCK.size)
        elif kind == "record":
            at = rng.choice(recs).pos + rng.randrange(kstream.REC.size)
        else:
            r = rng.choice([r for r in recs if r.len])
            at = r.payload_pos + rng.randrange(r.len)
        buf[at] ^= 1 << rng.randrange(8) if rng.random() < 0.5 else rng.randrange(1, 256)
        path = h.path("m%d" % i)
        with open(path, "wb") as f:
            f.write(buf)
        dst, ddg = fresh_dst(h, "s17m%d" % i, "16M")
        dst.cmd("migrate-incoming", {"uri": "file:" + path})
        try:
            q = dst.wait_status(("completed", "failed"), 20)
        except Fail as e:
            q = {"status": "timeout: %s" % e}
        if q.get("status") == "completed":
            ok = memory_matches(sdg, ddg)[0]
        else:
            ok = q.get("status") == "failed" and bool(q.get("error-desc")) and dst.alive()
        key = "%s/%s" % (kind, q.get("status"))
        outcomes[key] = outcomes.get(key, 0) + 1
        if not ok:
            bad.append("byte %d (%s): %s; dst alive %s; %s" % (
                at, kind, json.dumps(q), dst.alive(), ddg.verify_line()))
        ddg.stop()
        dst.stop()
    t.diag("17: outcomes %s" % sorted(outcomes.items()))
    t.ok(not bad, "17 %d randomly damaged streams: each failed with a reason or completed "
         "and verified; no crash" % rounds, "; ".join(bad))
