#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""test_protocol.py: drives a live kmigd over its QMP socket and checks every reply against the
QEMU 7.2 behaviour recorded row by row in qmp_reference.py.  It starts its own daemons (one per group of cases) in a private temp dir and
talks only to unix sockets and 127.0.0.1.  It runs no real migration: that belongs to tests/e2e/.

    python3 tests/qmp/test_protocol.py [--kmigd build/bin/kmigd] [--filter SUBSTR]

Output is one `ok N - name` / `not ok N - name` line per case (diagnostics follow as `#` lines),
then a TAP plan and one `X passed, Y failed` line; the exit code is 1 if anything failed.
"""

import argparse
import json
import os
import signal
import socket
import stat
import sys
import time

sys.dont_write_bytecode = True      # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_lib import (Fail, Group, Suite, canon, check, check_eq, check_params,  # noqa: E402
                          check_reply)
from protocol_robust import framing_cases, group_robustness  # noqa: E402
from qmp_client import QMPClient  # noqa: E402
from qmp_reference import (  # noqa: E402
    CAP_MALFORMED_ROWS, CAP_SET_TRUE_ERRORS, CAPABILITIES, CONTROL_ROWS, DEFAULT_CAPS, DEFAULT_PARAMS, E, FED_BACK,
    FRAMING_ROWS, ID_ROWS, LEGACY_ROWS, NEED_NEG, NEGOTIATION_ROWS, PARAM_ROWS, PARAM_STRUCTURAL_ROWS, R, SAME,
    SEED_COMMANDS, STATUS_RUNNING, UNIX_NONEXISTENT, VM_ONLY_ROWS, with_id)

# ---- Groups --------------------------------------------------------------------------------------


def group_negotiation(s):
    """1. §2: every row before qmp_capabilities, then negotiation itself."""
    g = Group(s, "neg", negotiate=False)
    names = ["greeting", "pre/id-before-error text"] + [r[0] for r in NEGOTIATION_ROWS] + \
        ["qmp_capabilities", "qmp_capabilities text", "qmp_capabilities again"]
    if not g.wants_any(names):
        return
    seen = {}

    def greeting():
        m = g.cli.greeting
        check(m.raw.endswith("\r\n"), "greeting does not end in CRLF: %r" % m.raw)
        q = m.obj.get("QMP")
        check(list(m.obj) == ["QMP"] and isinstance(q, dict) and set(q) == {"version", "capabilities"},
              "bad greeting: " + m.raw.rstrip())
        v = q["version"]
        check(isinstance(v, dict) and set(v) == {"qemu", "package"}, "bad version: %s" % canon(v))
        check(isinstance(v["qemu"], dict) and set(v["qemu"]) == {"micro", "minor", "major"}
              and all(type(x) is int for x in v["qemu"].values()), "bad version.qemu: %s" % canon(v["qemu"]))
        check(isinstance(v["package"], str) and v["package"].startswith("kmig"), "package: %r" % v["package"])
        check(isinstance(q["capabilities"], list), "capabilities is not a list: %s" % canon(q["capabilities"]))

    def row(raw, exp):
        return lambda: check_reply(g.cli.request_raw(raw), exp)

    def id_before_error():
        m = g.cli.request_raw('{"execute": "query-migrate", "id": 7}')
        check_eq("raw", m.raw, '{"id": 7, "error": {"class": "CommandNotFound", "desc": '
                 '"Expecting capabilities negotiation with \'qmp_capabilities\'"}}\r\n')

    def negotiate():
        seen["neg"] = m = g.cli.request("qmp_capabilities", id="neg-1")
        check_reply(m, with_id(R({}), "neg-1"))

    g.case("greeting", greeting, always=True)
    for name, raw, exp in NEGOTIATION_ROWS:
        g.case(name, row(raw, exp), always=True)
    g.case("pre/id-before-error text", id_before_error, always=True)
    g.case("qmp_capabilities", negotiate, always=True)
    g.case("qmp_capabilities text", lambda: check_eq("raw", seen["neg"].raw, '{"return": {}, "id": "neg-1"}\r\n'))
    g.case("qmp_capabilities again", row('{"execute": "qmp_capabilities"}', E(
        "Capabilities negotiation is already complete, command ignored", "CommandNotFound")), always=True)


def group_framing(s):
    """2. §1 and the summary under §2."""
    g = Group(s, "frame")

    def recovery():
        g.cli.send_raw('{"execute": foo}\n{"execute": "query-status", "id": "after"}\n')
        check_reply(g.cli.recv_reply(), E("JSON parse error, invalid keyword 'foo'"), "first reply")
        check_reply(g.cli.recv_reply(), with_id(R(STATUS_RUNNING), "after"), "second reply")

    def invalid_byte():
        g.cli.send_raw(b"\xff\n")
        m = g.cli.recv_reply()
        check(m.obj.get("error", {}).get("class") == "GenericError" and "stray '\\uFFFD'" in m.raw,
              "expected GenericError with stray '\\uFFFD' in the raw text", "got: " + m.raw.rstrip())
        check_reply(g.cli.request("query-status"), R(STATUS_RUNNING), "query-status after it")

    def pipelined():
        g.cli.send_raw("".join(QMPClient.encode(c, id=i) + "\n" for i, c in
                               enumerate(["query-status", "query-migrate", "query-version"], 1)))
        check_reply(g.cli.recv_reply(), with_id(R(STATUS_RUNNING), 1), "reply 1")
        check_reply(g.cli.recv_reply(), with_id(R({}), 2), "reply 2")
        m = g.cli.recv_reply()
        check(m.obj.get("id") == 3 and "return" in m.obj, "reply 3: expected query-version's return with id 3",
              "got: " + m.raw.rstrip())

    def split():
        for part in ['{"execute": "que', 'ry-status", "id": ', '"split"}\n']:
            g.cli.send_raw(part)
            time.sleep(0.05)
        check_reply(g.cli.recv_reply(), with_id(R(STATUS_RUNNING), "split"))
        extra = g.cli.pending_replies(0.2)
        check(not extra, "unexpected extra replies: %s" % [m.raw for m in extra])

    def id_echo(text, value):
        def fn():
            m = g.cli.request_raw('{"execute": "query-status", "id": %s}' % text)
            check_reply(m, with_id(R(STATUS_RUNNING), value))
            if isinstance(value, float) and value > 1e19:
                check("1.8446744073709552e+19" in m.raw, "raw text lacks 1.8446744073709552e+19: " + m.raw.rstrip())
        return fn

    def non_ascii():
        m = g.cli.request_raw('{"execute": "\u00e9"}')
        check_reply(m, E("The command \u00e9 has not been found", "CommandNotFound"))
        check("The command \\u00E9 has not been found" in m.raw, "not escaped as \\u00E9: " + m.raw.rstrip())

    def two_clients():
        with g.fresh(negotiate=False) as b:
            check_reply(b.request("query-migrate"), NEED_NEG, "B before negotiating")
            check_reply(g.cli.request("query-migrate"), R({}), "A while B is not negotiated")
            check_reply(b.request("qmp_capabilities"), R({}), "B qmp_capabilities")
            check_reply(b.request("query-status"), R(STATUS_RUNNING), "B query-status")

    def disconnect():
        with g.fresh() as c:
            c.send_raw('{"execute": "query-st')
        with g.fresh() as c:      # a big reply, so kmigd is likely still writing when we are gone
            c.send_raw('{"execute": "query-qmp-schema"}\n')
        time.sleep(0.1)
        check(g.daemon.alive(), "kmigd died after a client disconnected mid-command")
        with g.fresh() as c:
            check_reply(c.request("query-status"), R(STATUS_RUNNING), "new client")
        check_reply(g.cli.request("query-status"), R(STATUS_RUNNING), "existing client")

    g.case("malformed-json then recovery", recovery)
    g.case("invalid byte 0xff", invalid_byte)
    framing_cases(g)
    for name, raw, exp in FRAMING_ROWS:
        g.case(name, lambda raw=raw, exp=exp: check_reply(g.cli.request_raw(raw), exp))
    g.case("three commands in one write", pipelined)
    g.case("one command over three writes", split)
    for kind, text, value in ID_ROWS:
        g.case("id echo %s" % kind, id_echo(text, value))
    g.case("non-ascii escaped", non_ascii)
    g.case("two clients negotiate independently", two_clients)
    g.case("client disconnects mid-command", disconnect)
    g.case("every line ends in CRLF", lambda: check(not g.cli.bad_eol, "lines without CRLF: %r" % g.cli.bad_eol[:3]))


def group_defaults(s):
    """3. §4 on a fresh daemon."""
    g = Group(s, "defaults")
    got = {}

    def query(cmd):
        if cmd not in got:
            got[cmd] = g.cli.cmd(cmd)
        return got[cmd]

    def version():
        v = g.cli.cmd("query-version")
        check(isinstance(v, dict) and isinstance(v.get("qemu"), dict) and isinstance(v.get("package"), str),
              "bad query-version: %s" % canon(v))
        for k in ("major", "minor", "micro"):
            check(type(v["qemu"].get(k)) is int, "qemu.%s is not an int: %s" % (k, canon(v)))

    def schema_shape():
        sch = query("query-qmp-schema")
        check(isinstance(sch, list) and sch, "not a non-empty list: %s" % canon(sch)[:200])
        bad = [e for e in sch if not (isinstance(e, dict) and "name" in e and "meta-type" in e)]
        check(not bad, "entries without name/meta-type: %s" % canon(bad[:3]))

    def schema_has(meta, name):
        def fn():
            sch = query("query-qmp-schema")
            check(any(e.get("name") == name and e.get("meta-type") == meta for e in sch),
                  "no %s entry named %s" % (meta, name))
        return fn

    g.case("query-migrate", lambda: check_reply(g.cli.request("query-migrate"), R({})))
    g.case("query-migrate-capabilities", lambda: check_reply(g.cli.request("query-migrate-capabilities"),
                                                             R(DEFAULT_CAPS)))
    g.case("query-migrate-parameters", lambda: check_reply(g.cli.request("query-migrate-parameters"),
                                                           R(DEFAULT_PARAMS)))
    g.case("query-status", lambda: check_reply(g.cli.request("query-status"), R(STATUS_RUNNING)))
    g.case("query-version", version)
    for name in SEED_COMMANDS:
        g.case("query-commands has %s" % name, lambda name=name: check(
            {"name": name} in query("query-commands"), "%s missing from query-commands" % name))
    g.case("query-qmp-schema shape", schema_shape)
    g.case("query-qmp-schema command query-migrate", schema_has("command", "query-migrate"))
    g.case("query-qmp-schema event MIGRATION", schema_has("event", "MIGRATION"))


def group_capabilities(s):
    """4. §5: each capability true then false, every malformed row, and atomicity."""
    g = Group(s, "caps")

    def set_caps(args, exp):
        check_reply(g.cli.request("migrate-set-capabilities", args), exp)

    def readback(states):
        want = [{"state": states.get(c, False), "capability": c} for c in CAPABILITIES]
        check_eq("query-migrate-capabilities", g.cli.cmd("query-migrate-capabilities"), want)

    def one(cap, state):
        def fn():
            args = {"capabilities": [{"capability": cap, "state": state}]}
            err = state and CAP_SET_TRUE_ERRORS.get(cap)
            try:
                set_caps(args, E(err) if err else R({}))
                readback({cap: state and not err})
            finally:
                if state:        # leave everything false for the next case
                    g.cli.request("migrate-set-capabilities", dict(args, capabilities=[dict(args["capabilities"][0],
                                                                                        state=False)]))
        return fn

    for cap in CAPABILITIES:
        g.case("%s=true" % cap, one(cap, True))
        g.case("%s=false" % cap, one(cap, False))
    for name, args, exp in CAP_MALFORMED_ROWS:
        g.case(name, lambda args=args, exp=exp: (set_caps(args, exp), readback({})))


def group_parameters(s):
    """5. §6: every value of the big table alone, then the structural cases."""
    g = Group(s, "params")

    def one(param, value, result):
        def fn():
            before = g.cli.cmd("query-migrate-parameters").get(param, "(absent)")
            try:
                m = g.cli.request("migrate-set-parameters", {param: value})
                if isinstance(result, str):
                    check_reply(m, E(result))
                    after = before
                else:
                    check_reply(m, R({}))
                    after = value if result is SAME else result.value
                check_params(g.cli, {param: after})
            finally:
                if before != "(absent)":
                    g.cli.request("migrate-set-parameters", {param: before})
        return fn

    def structural(cmd, args, exp, after):
        def fn():
            try:
                a = g.cli.cmd("query-migrate-parameters") if args is FED_BACK else args
                check_reply(g.cli.request(cmd, a), exp)
                if after:
                    check_params(g.cli, after)
            finally:
                g.cli.request("migrate-set-parameters", DEFAULT_PARAMS)
        return fn

    for param, values, result in PARAM_ROWS:
        for v in values:
            g.case("%s=%s" % (param, json.dumps(v)), one(param, v, result))
    for name, cmd, args, exp, after in PARAM_STRUCTURAL_ROWS:
        g.case(name, structural(cmd, args, exp, after))


def run_sequence(g, rows):
    """Run (name, command, arguments, reply, read back) rows in order; each is one case."""
    if not g.wants_any(r[0] for r in rows):
        return
    for name, cmd, args, exp, after in rows:
        def fn(cmd=cmd, args=args, exp=exp, after=after):
            check_reply(g.cli.request(cmd, args), exp)
            if after:
                check_params(g.cli, after)
        g.case(name, fn, always=True)


def group_legacy(s):
    """6. 2.10 commands that 7.2 removed, with their 2.10 units."""
    run_sequence(Group(s, "legacy"), LEGACY_ROWS)


def group_control(s):
    """7. §8 in order on a fresh daemon (kmig's differences noted in CONTROL_ROWS)."""
    g = Group(s, "control")
    if not g.wants_any([r[0] for r in CONTROL_ROWS] + [UNIX_NONEXISTENT + " then failed"]):
        return
    for name, req, exp in CONTROL_ROWS:
        raw = json.dumps(req) % {"tmp": s.tmp} if name == UNIX_NONEXISTENT else json.dumps(req)
        g.case(name, lambda raw=raw, exp=exp: check_reply(g.cli.request_raw(raw), exp), always=True)

    def failed_later():
        stale = CONTROL_ROWS[-2][2]["return"]     # the previous failure must not count as this one
        deadline, st = time.monotonic() + 5, None
        while time.monotonic() < deadline:
            st = g.cli.cmd("query-migrate")
            if st != stale and st.get("status") not in ("setup", "active"):
                break
            time.sleep(0.05)
        check(st.get("status") == "failed" and isinstance(st.get("error-desc"), str) and st["error-desc"]
              and st != stale, "expected status failed with a new error-desc within 5 s",
              "last query-migrate: %s" % canon(st))
    g.case(UNIX_NONEXISTENT + " then failed", failed_later)


def group_vm_only(s):
    """8. Commands that need a VM answer a GenericError naming the command."""
    g = Group(s, "vm-only")
    for cmd, args in VM_ONLY_ROWS:
        def fn(cmd=cmd, args=args):
            m = g.cli.request(cmd, args)
            check_reply(m, E(None))
            check(cmd in m.obj["error"]["desc"], "desc does not mention %s: %r" % (cmd, m.obj["error"]["desc"]))
        g.case(cmd, fn)
    g.case("xen-save-devices-state without filename", lambda: check_reply(
        g.cli.request("xen-save-devices-state"), E("Parameter 'filename' is missing")))


def group_destination(s):
    """9. A daemon started with --incoming defer."""
    g = Group(s, "dest", extra=["--incoming", "defer"])
    names = ["query-migrate before", "migrate-incoming bad uri", "migrate-incoming tcp:127.0.0.1:0",
             "query-migrate listening", "listening address", "second migrate-incoming"]
    if not g.wants_any(names):
        return
    seen = {}

    def listening():
        seen["qm"] = st = g.cli.cmd("query-migrate")
        check(list(st) == ["socket-address"] and isinstance(st["socket-address"], list) and st["socket-address"]
              and all(isinstance(a, dict) for a in st["socket-address"]),
              "expected {socket-address: [...]} and no status", "got: %s" % canon(st))

    def address():
        a = seen["qm"]["socket-address"][0]
        check(a.get("type") == "inet" and a.get("host") == "127.0.0.1" and isinstance(a.get("port"), str)
              and a["port"] not in ("", "0"), "expected an inet address on 127.0.0.1 with the bound port",
              "got: %s" % canon(a))

    steps = [
        lambda: check_reply(g.cli.request("query-migrate"), R({})),
        lambda: check_reply(g.cli.request("migrate-incoming", {"uri": "no-such-proto:x"}), E(None)),
        lambda: check_reply(g.cli.request("migrate-incoming", {"uri": "tcp:127.0.0.1:0"}), R({})),
        listening, address,
        lambda: check_reply(g.cli.request("migrate-incoming", {"uri": "tcp:127.0.0.1:0"}), E(None)),
    ]
    for name, fn in zip(names, steps):
        g.case(name, fn, always=True)


# 10. In-progress guard ("There's a migration process in progress" for capabilities and a second
# migrate; parameters still settable while active): needs a running migration, so it lives in the
# end-to-end suite (tests/e2e/test_migration.py, scenario 6).


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_socket(s):
    """11. The unix socket's mode, and the --qmp-tcp listener."""
    port = free_port()
    g = Group(s, "socket", extra=["--qmp-tcp", "127.0.0.1:%d" % port])

    def mode():
        m = stat.S_IMODE(os.stat(g.daemon.sock).st_mode)
        check(m == 0o600, "mode is %o, expected 600" % m)

    def tcp():
        with g.daemon.connect(negotiate=False, tcp=("127.0.0.1", port)) as c:
            check(c.greeting.obj.get("QMP") is not None, "bad greeting: " + c.greeting.raw.rstrip())
            check_reply(c.request("qmp_capabilities"), R({}), "qmp_capabilities")
            check_reply(c.request("query-status"), R(STATUS_RUNNING), "query-status")

    g.case("unix socket mode 0600", mode)
    g.case("tcp listener", tcp)


GROUPS = [group_negotiation, group_framing, group_defaults, group_capabilities, group_parameters, group_legacy,
          group_control, group_vm_only, group_destination, group_socket,
          group_robustness]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kmigd", default=os.path.join(here, "..", "..", "build", "bin", "kmigd"))
    ap.add_argument("--filter", help="run only cases whose name contains this")
    opts = ap.parse_args()
    kmigd = os.path.abspath(opts.kmigd)
    if not os.access(kmigd, os.X_OK):
        print("Bail out! kmigd not found or not executable: %s" % kmigd)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # so the finally below still runs
    suite = Suite(kmigd, opts.filter)
    try:
        for group in GROUPS:
            group(suite)
            while suite.groups:
                suite.groups.pop(0).finish()
    except KeyboardInterrupt:
        print("Bail out! interrupted after %d cases" % suite.n)
        return 130
    finally:
        suite.cleanup()
    print("1..%d" % suite.n)
    print("%d passed, %d failed" % (suite.passed, suite.failed))
    return 1 if suite.failed else 0


if __name__ == "__main__":
    sys.exit(main())
