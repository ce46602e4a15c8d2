# SPDX-License-Identifier: GPL-2.0-only
"""protocol_robust.py: the QMP protocol suite's robustness cases: input that QEMU's lexer ends at
once (control bytes in strings, mismatched closers, too-deep nesting, duplicate keys), QMP's
resync after any garbage, and daemons that must never wedge or crash (a half-closed client during
an event, migrate on a waiting destination, SIGTERM while waiting)."""

import socket
import subprocess
import time

from protocol_lib import Fail, Group, check, check_reply
from qmp_reference import E, R, STATUS_RUNNING, with_id


def framing_cases(g):
    """Added to the framing group: recovery the way QEMU's lexer recovers."""
    def replies_until(cli, want_id, limit=6):
        """Replies up to and including the one with id @want_id (at most @limit)."""
        out = []
        while len(out) < limit:
            m = cli.recv_reply()
            out.append(m)
            if m.obj.get("id") == want_id:
                return out
        raise Fail("no reply with id %r among %s" % (want_id, [m.raw for m in out]))

    def control_in_string():
        g.cli.send_raw('{"execute": "qu\nery-status"}\n{"execute": "query-status", "id": "cs"}\n')
        got = replies_until(g.cli, "cs")
        first = got[0].obj.get("error", {}).get("desc", "")
        check(first.startswith("JSON parse error, stray '\"qu"), "first reply: expected the stray "
              "string error", "got: %s" % [m.raw for m in got])
        check_reply(got[-1], with_id(R(STATUS_RUNNING), "cs"), "the command after it")

    def unterminated_string():
        g.cli.send_raw('{"execute": "query-status", "id": "abc')
        time.sleep(0.05)
        g.cli.send_raw('\n{"execute": "query-status", "id": "us"}\n')
        got = replies_until(g.cli, "us")
        check_reply(got[-1], with_id(R(STATUS_RUNNING), "us"), "the command after the newline")

    def mismatched():
        for bad in ('{"execute": "query-status", "arguments": [}', '{[}', '[{]'):
            g.cli.send_raw(bad + '\n{"execute": "query-status", "id": "mm"}\n')
            got = replies_until(g.cli, "mm")
            check(len(got) >= 2 and "JSON parse error" in got[0].obj.get("error", {}).get("desc", ""),
                  "%s: expected a parse error first" % bad, "got: %s" % [m.raw for m in got])
            check_reply(got[-1], with_id(R(STATUS_RUNNING), "mm"), "%s: the command after it" % bad)

    def garbage_then_resync():
        """QMP's documented resync: after any input, a control byte other than tab/CR/LF and a
        newline put the parser back into a known-good state."""
        for junk in ('{"a": {"b": [1, ', '{"execute": "query-status", "arguments": {"x": "y',
                     '[[[[[[', '"\\', '{"a": 12'):
            g.cli.send_raw(junk)
            time.sleep(0.02)
            g.cli.send_raw(b'\x01\n{"execute": "query-status", "id": "rs"}\n')
            got = replies_until(g.cli, "rs")
            check_reply(got[-1], with_id(R(STATUS_RUNNING), "rs"), "after %r" % junk)

    def too_deep():
        g.cli.send_raw("[" * 1025 + "\n")
        check_reply(g.cli.recv_reply(), E("JSON nesting depth limit exceeded"), "1025 open brackets")
        g.cli.send_raw(b'\x01\n{"execute": "query-status", "id": "deep"}\n')
        got = replies_until(g.cli, "deep", limit=2000)
        check_reply(got[-1], with_id(R(STATUS_RUNNING), "deep"), "the command after it")
        g.cli.send_raw("[" * 1024 + "]" * 1024 + "\n")
        check_reply(g.cli.recv_reply(), E("QMP input must be a JSON object"), "1024 levels are fine")

    g.case("control byte inside a string ends the value", control_in_string)
    g.case("unterminated string, newline, command", unterminated_string)
    g.case("mismatched closing bracket ends the value", mismatched)
    g.case("any garbage, then a control byte and a newline: next command answered", garbage_then_resync)
    g.case("nesting over 1024 levels", too_deep)


def group_robustness(s):
    """12. Regressions: a client can never wedge or crash the daemon."""
    g = Group(s, "robust", extra=["--incoming", "defer"])

    def half_closed_events():
        """A client that shut its reading side and sends migrate with the events capability on:
        the MIGRATION event cannot be written to it; the daemon must not use the freed client
        (ASan) and must go on serving others."""
        check_reply(g.cli.request("migrate-set-capabilities",
                                  {"capabilities": [{"capability": "events", "state": True}]}), R({}))
        with g.fresh() as c:
            c.sock.shutdown(socket.SHUT_RD)
            c.send_raw('{"execute": "migrate", "arguments": {"uri": "tcp:127.0.0.1:1"}}\n')
            time.sleep(0.3)
        check(g.daemon.alive(), "kmigd died", *g.daemon.tail())
        m = g.cli.request("query-status")
        check("return" in m.obj, "query-status failed: " + m.raw.rstrip())
        check_reply(g.cli.request("migrate-set-capabilities",
                                  {"capabilities": [{"capability": "events", "state": False}]}), R({}))

    def dup_key():
        check_reply(g.cli.request_raw('{"execute": "query-status", "execute": "query-status"}'),
                    E("JSON parse error, duplicate key"))

    def waiting_dest():
        """A destination waiting for its source answers migrate at once (QEMU's text), keeps
        serving other clients, and SIGTERM still stops it."""
        check_reply(g.cli.request("migrate-incoming", {"uri": "tcp:127.0.0.1:0"}), R({}))
        t0 = time.monotonic()
        m = g.cli.request("migrate", {"uri": "tcp:127.0.0.1:1"})
        check_reply(m, E("Guest is waiting for an incoming migration"), "migrate on the destination")
        check(time.monotonic() - t0 < 2, "the reply took %.1f s" % (time.monotonic() - t0))
        with g.fresh() as c:
            check_reply(c.request("query-status"), R({"status": "inmigrate", "singlestep": False,
                                                      "running": False}), "another client")

    def sigterm():
        d = g.daemon
        t0 = time.monotonic()
        d.proc.terminate()
        try:
            d.proc.wait(5)
        except subprocess.TimeoutExpired:
            raise Fail("kmigd ignored SIGTERM for 5 s while waiting for its source")
        check(d.proc.returncode == 0, "kmigd exit status %s" % d.proc.returncode)
        g._cli = None
        g._daemon = None
        check(time.monotonic() - t0 < 5, "slow exit")

    g.case("half-closed client, events on, migrate: no use-after-free", half_closed_events)
    g.case("duplicate key rejected", dup_key)
    g.case("migrate on a waiting destination answers at once", waiting_dest)
    g.case("SIGTERM stops a waiting destination", sigterm)


