# SPDX-License-Identifier: GPL-2.0-only
"""steps.py: the building blocks the e2e scenarios are made of: start a pair of agents with
their workloads, listen, migrate, and the checks every scenario ends with (the destination's
memory is the source's final memory; after a failure, the source still runs)."""

import array
import json
import socket
import time

from harness import Fail, wait_until

MiB = 1 << 20


class Reported(Exception):
    """A TAP 'not ok' was already printed; stop this scenario."""


def must(t, cond, name, diag=None):
    if not t.ok(cond, name, diag):
        raise Reported()


# ---- ----------------------------------------------------------------------

def start_pair(h, tag, size, src_ns=None, dst_ns=None, **src_opts):
    """Source and destination kmigd, each with its dirtygen registered."""
    src = h.kmigd(tag + "-src", netns=src_ns)
    dst = h.kmigd(tag + "-dst", incoming=True, netns=dst_ns)
    sdg = h.dirtygen(tag + "-sdg", src, size=size, wait=False, **src_opts)
    ddg = h.dirtygen(tag + "-ddg", dst, size=size, role="dst", wait=False,
                     content=src_opts.get("content"))
    h.wait_registered(sdg)
    h.wait_registered(ddg)
    return src, dst, sdg, ddg


def fresh_dst(h, tag, size, netns=None, content=None):
    dst = h.kmigd(tag + "-dst", incoming=True, netns=netns)
    ddg = h.dirtygen(tag + "-ddg", dst, size=size, role="dst", content=content)
    return dst, ddg


def listen(dst, uri, connect_host=None):
    """migrate-incoming on the destination; returns the URI the source should use."""
    dst.cmd("migrate-incoming", {"uri": uri})
    if not uri.startswith("tcp:"):
        return uri
    info = dst.query()
    try:
        port = info["socket-address"][0]["port"]
    except (KeyError, IndexError):
        raise Fail("destination query-migrate has no socket-address: %s" % json.dumps(info))
    host = connect_host or uri[4:].rsplit(":", 1)[0]
    return "tcp:%s:%s" % (host, port)


def migrate(src, uri, bandwidth=0):
    src.cmd("migrate-set-parameters", {"max-bandwidth": bandwidth})
    src.cmd("migrate", {"uri": uri})


def extras_ok(keys):
    return all(k.startswith("x-kmig-") for k in keys)


def keyset_ok(info, want):
    keys = set(info)
    return want <= keys and extras_ok(keys - want)


def memory_matches(sdg, ddg):
    """Whether the destination workload @ddg holds the source @sdg's final memory: its own
    check of every page found none bad, and the whole-memory hashes of both sides agree.
    Waits (10 s at most) for the destination to finish checking.  Returns (good, verify line,
    source hash, destination hash)."""
    try:
        wait_until(lambda: ddg.verify_line() and ddg.checksum(), 10,
                   what="destination verify line and checksum")
    except Fail:
        pass
    vline, ssum, dsum = ddg.verify_line(), sdg.checksum(), ddg.checksum()
    good = (vline == "verify: %d pages ok, 0 bad" % ddg.pages and ssum is not None and
            ssum == dsum)
    return good, vline, ssum, dsum


def check_completed(t, label, src, dst, sdg, ddg, timeout=60):
    """The migration src -> dst completes and the destination memory equals the source's final
    memory.  Two TAP tests.  Returns the source's final query-migrate."""
    try:
        info = src.wait_status("completed", timeout)
        dinfo = dst.wait_status("completed", 10)
        rc = sdg.wait_exit(10)
        migrated = "migrated" in sdg.text()
        good = rc == 0 and migrated and dinfo.get("status") == "completed"
        why = "source dirtygen exit %s, said migrated: %s; dst query-migrate %s" % (
            rc, migrated, json.dumps(dinfo))
    except Fail as e:
        info, good, why = None, False, str(e)
    must(t, good, "%s: completed on both sides, source workload handed over" % label, why)

    good, vline, ssum, dsum = memory_matches(sdg, ddg)
    want = "verify: %d pages ok, 0 bad" % ddg.pages
    good = good and ddg.running()
    t.ok(good, "%s: destination memory == source final memory (%s, xxh64 %s)"
         % (label, vline, dsum),
         "want %r, got %r; src.sum %s dst.sum %s; dst dirtygen alive: %s"
         % (want, vline, ssum, dsum, ddg.alive()))
    if not good:
        raise Reported()
    return info


def check_source_alive(t, label, src, sdg):
    """The source workload keeps running after a failed/cancelled migration."""
    try:
        rs = src.run_state()
    except Exception as e:      # noqa: BLE001 - report whatever broke
        rs = "query-status failed: %s" % e
    time.sleep(0.2)
    good = sdg.running() and rs == "running" and "migrated" not in sdg.text()
    must(t, good, "%s: source workload alive and running (query-status %s)" % (label, rs),
         "dirtygen alive=%s running=%s exit=%s" % (sdg.alive(), sdg.running(), sdg.p.returncode))


def second_migration(t, h, label, src, sdg, size):
    """Proves the source memory is intact: migrates it to a fresh destination and verifies."""
    dst, ddg = fresh_dst(h, label.split(":")[0].replace(" ", "") + "-2nd", size)
    uri = listen(dst, "tcp:127.0.0.1:0")
    migrate(src, uri)
    check_completed(t, "%s: second migration to a fresh destination" % label, src, dst, sdg, ddg)


def getfd(agent, name, fd):
    """QMP getfd with @fd passed over SCM_RIGHTS, on a connection of its own."""
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(agent.qmp_path)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b'{"execute": "qmp_capabilities"}')
        f.readline()
        s.sendmsg([json.dumps({"execute": "getfd", "arguments": {"fdname": name}}).encode()],
                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
        while True:
            reply = json.loads(f.readline())
            if "event" not in reply:
                return reply
    finally:
        s.close()
