# SPDX-License-Identifier: GPL-2.0-only
"""protocol_lib.py: what the QMP protocol suite's groups are made of: daemons in private temp
dirs, groups of cases sharing one daemon and client, TAP reporting, and the reply checks (exact
objects, CRLF, where QEMU puts the id).  Used by test_protocol.py and its group modules."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

from qmp_client import QMPError, connect

REPLY_TIMEOUT = 3.0


# ---- Checks ------------------------------------------------------------------------------------


class Fail(Exception):
    def __init__(self, *lines):
        super().__init__(*lines)
        self.lines = lines


def canon(v):
    """Text that tells true from 1 and 1.0 from 1 (== does not); dict key order is ignored."""
    return json.dumps(v, sort_keys=True)


def check(cond, *lines):
    if not cond:
        raise Fail(*lines)


def check_eq(what, got, exp):
    check(canon(got) == canon(exp), "%s: expected %s" % (what, canon(exp)), "%s: got      %s" % (what, canon(got)))


def check_reply(msg, exp, what="reply"):
    """Compare a reply with the full expected object; also check CRLF and where QEMU puts the id."""
    got = msg.obj
    err = exp.get("error")
    if err is not None and err["desc"] is None:     # class-only expectation: any non-empty desc
        desc = got.get("error", {}).get("desc") if isinstance(got.get("error"), dict) else None
        exp = dict(exp, error=dict(err, desc=desc if isinstance(desc, str) and desc else "(any non-empty desc)"))
    check_eq(what, got, exp)
    check(msg.raw.endswith("\r\n"), "%s: line does not end in CRLF: %r" % (what, msg.raw))
    keys = list(got)
    if "id" in keys:
        want = ["return", "id"] if "return" in keys else ["id", "error"]
        check(keys == want, "%s: key order %s, QEMU sends %s" % (what, keys, want), "raw: " + msg.raw.rstrip())


def check_params(cli, expected, what="query-migrate-parameters"):
    got = cli.cmd("query-migrate-parameters")
    for k, v in expected.items():
        check_eq("%s[%s]" % (what, k), got.get(k, "(absent)"), v)


# ---- Daemons, groups and reporting ----------------------------------------------------------------


class Daemon:
    """One kmigd process with its own directory (socket and log) under the suite's temp dir."""

    def __init__(self, suite, tag, extra):
        self.kmigd, self.extra = suite.kmigd, list(extra)
        self.dir = tempfile.mkdtemp(prefix=tag + "-", dir=suite.tmp)
        self.sock = os.path.join(self.dir, "qmp.sock")
        self.log = os.path.join(self.dir, "kmigd.log")
        self.proc = None

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.kmigd, "--qmp", self.sock] + self.extra, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + 5
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None:
                raise QMPError("kmigd exited with status %s before creating %s; log: %s"
                               % (self.proc.returncode, self.sock, " | ".join(self.tail())))
            if time.monotonic() > deadline:
                raise QMPError("kmigd did not create %s within 5 s; log: %s" % (self.sock, " | ".join(self.tail())))
            time.sleep(0.01)
        return self

    def connect(self, negotiate=True, tcp=None):
        deadline = time.monotonic() + 5
        while True:           # the socket file exists from bind(), a moment before listen()
            try:
                return connect(None if tcp else self.sock, tcp, negotiate, REPLY_TIMEOUT)
            except (ConnectionRefusedError, FileNotFoundError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, n=6):
        try:
            with open(self.log, "rb") as f:
                return [line.decode("utf-8", "replace").rstrip() for line in f.read().splitlines()[-n:]]
        except OSError:
            return []


class Suite:
    def __init__(self, kmigd, filt):
        self.kmigd, self.filt = kmigd, filt
        self.n = self.passed = self.failed = 0
        self.tmp = tempfile.mkdtemp(prefix="kmig-qmp-")
        self.daemons = []
        self.groups = []

    def wants(self, name):
        return not self.filt or self.filt in name

    def report(self, name, diag):
        self.n += 1
        if diag is None:
            self.passed += 1
            print("ok %d - %s" % (self.n, name))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name))
            for line in diag:
                print("# " + line)
        sys.stdout.flush()

    def cleanup(self):
        for d in self.daemons:
            d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Group:
    """Cases that share one daemon (started on first use) and one client on it.  A case that breaks
    the connection gets it reopened for the next case, and a daemon that died is restarted; after
    MAX_BROKEN such cases in a row the rest of the group fails at once instead of timing out."""

    MAX_BROKEN = 5

    def __init__(self, suite, name, extra=(), negotiate=True):
        self.suite, self.name, self.extra, self.negotiate = suite, name, extra, negotiate
        self._daemon = self._cli = None
        self.broken = 0
        self.start_failed = None
        suite.groups.append(self)

    @property
    def daemon(self):
        if self._daemon is None:
            self._daemon = Daemon(self.suite, self.name, self.extra)
            self.suite.daemons.append(self._daemon)
            try:
                self._daemon.start()
            except QMPError as e:
                self.start_failed = str(e)
                raise
        return self._daemon

    @property
    def cli(self):
        if self._cli is None:
            self._cli = self.daemon.connect(self.negotiate)
        return self._cli

    def fresh(self, negotiate=True):
        return self.daemon.connect(negotiate)

    def wants_any(self, names):
        return any(self.suite.wants("%s/%s" % (self.name, n)) for n in names)

    def case(self, name, fn, always=False):
        """Run fn() as one numbered test.  A case filtered out is skipped unless `always` (a step
        that later steps depend on), in which case it runs but is not reported."""
        full = "%s/%s" % (self.name, name)
        wanted = self.suite.wants(full)
        if not (wanted or always):
            return
        diag = None
        if self.start_failed:
            diag = ["not run: kmigd failed to start: " + self.start_failed]
        elif self.broken >= self.MAX_BROKEN:
            diag = ["not run: the previous %d cases of this group lost the connection" % self.broken]
        else:
            try:
                fn()
                self.broken = 0
            except Fail as e:
                diag = list(e.lines)
                self.broken = 0
            except Exception as e:  # noqa: BLE001 - anything else is reported against this case
                where = traceback.extract_tb(e.__traceback__)[-1]
                diag = ["%s: %s (at %s:%d)" % (type(e).__name__, e, os.path.basename(where.filename), where.lineno)]
                if isinstance(e, (QMPError, OSError)):      # the stream may be out of step: reconnect
                    diag += self._reset()
                    self.broken += 1
        if wanted:
            self.suite.report(full, diag)

    def finish(self):
        """One last case per group that used a daemon: it must still be running and answering
        (a crash right after a group's last command would otherwise go unseen)."""
        if self._daemon is None or self.start_failed:
            return

        def alive():
            time.sleep(0.1)
            d = self._daemon
            check(d.alive(), "kmigd exited with status %s; log tail:" % d.proc.returncode,
                  *("  " + line for line in d.tail()))
            m = self.cli.request("query-status")      # "inmigrate" on a destination, so any status
            check("return" in m.obj, "query-status failed: " + m.raw.rstrip())
        self.case("kmigd still running", alive)

    def _reset(self):
        if self._cli is not None:
            self._cli.close()
            self._cli = None
        d = self._daemon
        if d is None or d.alive():
            return []
        self._daemon = None
        status = d.proc.returncode if d.proc is not None else "(never started)"
        return ["kmigd exited with status %s; log tail:" % status] + ["  " + line for line in d.tail()]


