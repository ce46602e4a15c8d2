# SPDX-License-Identifier: GPL-2.0-only
"""harness.py: processes, namespaces, QMP and TAP for kmig's end-to-end tests (stdlib only).

Why it exists: an end-to-end migration test starts two kmigd agents and two kmig-dirtygen
workloads (sometimes in network namespaces), drives them over QMP and must leave nothing behind,
whatever happens: an assertion, a timeout, a crash of the code under test, Ctrl-C or SIGTERM.
Everything started goes through one Harness, which records it and tears it down in reverse order
(processes by their own id, namespaces by the name it created, the temporary directory last).
Every wait here is bounded.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "qmp"))

import qmp_client  # noqa: E402  (path set just above)

PAGE = 4096
TERMINAL = ("completed", "failed", "cancelled")


class Fail(Exception):
    """A check inside a scenario failed; the message says what was expected and what came."""


class Interrupted(BaseException):
    """SIGTERM/SIGHUP arrived: unwind so every finally block cleans up."""


def _on_signal(sig, frame):
    raise Interrupted("signal %d" % sig)


def install_signal_handlers():
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Polls pred() until it returns a true value (returned) or raises Fail after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Fail("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


# ---- TAP ----------------------------------------------------------------------------------

class Tap:
    def __init__(self):
        self.n = self.passed = self.failed = self.skipped = 0

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print("# " + line, flush=True)

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            self.passed += 1
            print("ok %d - %s" % (self.n, name), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
        if diag and (not cond or os.environ.get("KMIG_E2E_VERBOSE")):
            self.diag(diag)
        return cond

    def skip(self, name, reason):
        self.n += 1
        self.skipped += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, reason), flush=True)


# ---- processes ----------------------------------------------------------------------------

class Proc:
    """A process we started, its log file and (for workloads) its files."""

    def __init__(self, name, popen, log):
        self.name, self.p, self.log = name, popen, log

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def running(self):
        """Alive and not stopped (state R/S/D in /proc)."""
        if not self.alive():
            return False
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state not in ("T", "t", "Z", "X")

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail("%s (pid %d) did not exit within %.1f s" % (self.name, self.pid, timeout))

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace=2.0):
        """Ends the process (and its own process group) by id: SIGCONT, SIGTERM, SIGKILL."""
        if not self.alive():
            return
        for sig, wait in ((signal.SIGCONT, 0), (signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                self.signal(sig)
            if wait:
                try:
                    self.p.wait(wait)
                    return
                except subprocess.TimeoutExpired:
                    pass


class Agent(Proc):
    """A kmigd with its QMP socket, workload socket and one negotiated QMP connection."""

    def __init__(self, name, popen, log, qmp_path, wl_path):
        super().__init__(name, popen, log)
        self.qmp_path, self.wl_path = qmp_path, wl_path
        self.qmp = None

    def cmd(self, execute, arguments=None):
        return self.qmp.cmd(execute, arguments)

    def request(self, execute, arguments=None):
        return self.qmp.request(execute, arguments).obj

    def query(self):
        return self.qmp.cmd("query-migrate")

    def status(self):
        return self.query().get("status")

    def run_state(self):
        return self.qmp.cmd("query-status")["status"]

    def wait_status(self, want, timeout, interval=0.03):
        """Polls query-migrate until its status is in `want` (a str or tuple); returns the reply.
        Raises Fail on timeout, or when the migration ends in a status not wanted."""
        want = (want,) if isinstance(want, str) else tuple(want)
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.query()
            st = last.get("status")
            if st in want:
                return last
            if st in TERMINAL:
                raise Fail("%s: wanted status %s, migration ended %s: %s"
                           % (self.name, "/".join(want), st, json.dumps(last)))
            if time.monotonic() >= deadline:
                raise Fail("%s: status not %s within %.1f s; last query-migrate: %s"
                           % (self.name, "/".join(want), timeout, json.dumps(last)))
            time.sleep(interval)


class Workload(Proc):
    """A kmig-dirtygen and the files it writes."""

    def __init__(self, name, popen, log, role, size, files):
        super().__init__(name, popen, log)
        self.role, self.size = role, size
        self.pidfile, self.sumfile, self.report = files
        self.pages = size // PAGE

    def checksum(self):
        try:
            with open(self.sumfile) as f:
                return f.read().strip()
        except OSError:
            return None

    def report_json(self):
        try:
            with open(self.report) as f:
                return json.loads(f.read())
        except (OSError, ValueError):
            return None

    def verify_line(self):
        for line in self.text().splitlines():
            if line.startswith("verify: "):
                return line
        return None


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * mult[s[-1]] if s[-1] in mult else int(s)


# ---- the harness --------------------------------------------------------------------------

class Harness:
    """One per scenario: a temporary directory and everything started in it."""

    def __init__(self, bindir, tag):
        self.bindir = bindir
        self.dir = tempfile.mkdtemp(prefix="kmig-e2e-%s-" % tag)
        self.procs = []
        self.netns = []
        self.sockets = []
        self.seq = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def _spawn(self, name, argv, netns=None):
        log = self.path(name + ".log")
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        with open(log, "w") as lf:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                                 start_new_session=True, cwd=self.dir)
        return p, log

    def kmigd(self, name, incoming=False, netns=None, verbose=False):
        qmp_path, wl_path = self.path(name + ".qmp"), self.path(name + ".wl")
        argv = [os.path.join(self.bindir, "kmigd"), "--qmp", qmp_path, "--workload", wl_path]
        if incoming:
            # True: --incoming defer; a string: that URI, listened on at start-up
            argv += ["--incoming", incoming if isinstance(incoming, str) else "defer"]
        if verbose:
            argv.append("-v")
        p, log = self._spawn(name, argv, netns)
        a = Agent(name, p, log, qmp_path, wl_path)
        self.procs.append(a)
        deadline = time.monotonic() + 10
        while True:
            if not a.alive():
                raise Fail("kmigd %s exited with %s at start-up: %s"
                           % (name, p.returncode, " | ".join(tail(log))))
            if os.path.exists(qmp_path) and os.path.exists(wl_path):
                try:
                    a.qmp = qmp_client.connect(qmp_path, timeout=10)
                    break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise Fail("kmigd %s: no QMP socket within 10 s" % name)
            time.sleep(0.02)
        return a

    def dirtygen(self, name, agent, size="128M", role="src", rate=None, idle=False,
                 pattern=None, verify=None, seed=None, zero_pct=None, content=None, extra=(),
                 wait=True):
        files = (self.path(name + ".pid"), self.path(name + ".sum"),
                 self.path(name + ".report"))
        argv = [os.path.join(self.bindir, "kmig-dirtygen"), "--agent", agent.wl_path,
                "--size", size, "--role", role, "--pidfile", files[0],
                "--checksum-out", files[1], "--report", files[2]]
        if role == "dst":
            argv.append("--idle")          # no writer after the load: keep the CPU for the test
            if verify is not False:
                argv.append("--verify")
        elif idle:
            argv.append("--idle")
        elif rate is not None:
            argv += ["--rate", str(rate)]
        if pattern:
            argv += ["--pattern", pattern]
        if seed is not None:
            argv += ["--seed", str(seed)]
        if zero_pct is not None:
            argv += ["--zero-pct", str(zero_pct)]
        if content:
            argv += ["--content", content]
        argv += list(extra)
        p, log = self._spawn(name, argv)
        w = Workload(name, p, log, role, parse_size(size), files)
        self.procs.append(w)
        if wait:
            self.wait_registered(w)
        return w

    def wait_registered(self, w, timeout=20):
        """Waits for the pidfile dirtygen writes once kmigd accepted its registration."""
        def ready():
            if not w.alive():
                raise Fail("dirtygen %s exited with %s before registering: %s"
                           % (w.name, w.p.returncode, " | ".join(tail(w.log))))
            return os.path.exists(w.pidfile)
        wait_until(ready, timeout, what="dirtygen %s to register" % w.name)

    def listener_backlog_full(self, host="127.0.0.1"):
        """A TCP listener whose accept queue is full: further SYNs are dropped, so a
        connect() to it hangs in SYN-SENT.  Returns its port."""
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sockets.append(ls)
        ls.bind((host, 0))
        ls.listen(0)
        port = ls.getsockname()[1]
        for _ in range(2):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sockets.append(c)
            c.setblocking(False)
            try:
                c.connect((host, port))
            except BlockingIOError:
                pass
        time.sleep(0.2)
        return port

    def return_path_blackhole(self, target_port, host="127.0.0.1", pass_back=32):
        """A TCP proxy to host:target_port that forwards the source's stream but forwards
        back only the destination's first @pass_back bytes (its ACCEPT record), so the source
        then waits for the destination's answers (in the switch-over: for VERIFIED, before
        the hand-over).  close_sockets() ends it.  Returns its port."""
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sockets.append(ls)
        ls.bind((host, 0))
        ls.listen(1)

        def pump():
            try:
                a, _ = ls.accept()
            except OSError:
                return
            b = socket.create_connection((host, target_port))
            self.sockets.extend([a, b])

            def back():
                left = pass_back
                while True:
                    try:
                        data = b.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    if left > 0:
                        try:
                            a.sendall(data[:left])
                        except OSError:
                            return
                        left -= len(data[:left])

            threading.Thread(target=back, daemon=True).start()
            while True:
                try:
                    data = a.recv(1 << 20)
                except OSError:
                    return
                if not data:
                    return
                try:
                    b.sendall(data)
                except OSError:
                    return

        threading.Thread(target=pump, daemon=True).start()
        return ls.getsockname()[1]

    def close_sockets(self):
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)    # a thread blocked in recv() keeps it open
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self.sockets = []

    # -- network namespaces --

    def _veth_between(self, a, b, va, vb):
        """Namespaces @a and @b (replacing leftovers of a killed run with our pid: its names,
        so ours to remove), joined by the veth pair @va (in a) / @vb (in b), links still down."""
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=15)
        subprocess.run(["ip", "link", "del", va], capture_output=True, timeout=15)
        for ns in (a, b):
            self._ip("netns", "add", ns)
            self.netns.append(ns)
        self._ip("link", "add", va, "type", "veth", "peer", "name", vb)
        try:
            self._ip("link", "set", va, "netns", a)
            self._ip("link", "set", vb, "netns", b)
        except Fail:
            subprocess.run(["ip", "link", "del", va], capture_output=True, timeout=10)
            raise

    def netns_pair(self, tag):
        """Two namespaces joined by a veth pair, addresses .1 (a) and .2 (b) of a /30.
        Returns (ns_a, ns_b, addr_a, addr_b)."""
        pid = os.getpid()
        a, b = "kmig-e2e-%d-%sa" % (pid, tag), "kmig-e2e-%d-%sb" % (pid, tag)
        x = pid % 250 + 1
        addr_a, addr_b = "10.213.%d.1" % x, "10.213.%d.2" % x
        va, vb = "ke%da" % (pid % 100000), "ke%db" % (pid % 100000)
        self._veth_between(a, b, va, vb)
        for ns, dev, addr in ((a, va, addr_a), (b, vb, addr_b)):
            self._ip("-n", ns, "link", "set", "lo", "up")
            self._ip("-n", ns, "addr", "add", addr + "/30", "dev", dev)
            self._ip("-n", ns, "link", "set", dev, "up")
        return a, b, addr_a, addr_b

    @staticmethod
    def _ip(*args):
        r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=15)
        if r.returncode:
            raise Fail("ip %s: %s" % (" ".join(args), r.stderr.strip()))

    # -- teardown --

    def close(self):
        blocked = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)   # finish cleaning up first
        try:
            self._close()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def _close(self):
        self.stop_all()
        self.close_sockets()
        for ns in reversed(self.netns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=15)
        self.netns = []
        if os.environ.get("KMIG_TEST_KEEP"):
            print("# kept %s (KMIG_TEST_KEEP)" % self.dir)  # its logs, for a look after a failure
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def stop_all(self):
        for p in reversed(self.procs):
            if isinstance(p, Agent) and p.qmp:
                p.qmp.close()
                p.qmp = None
            p.stop()

    SAN_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

    def sanitizer_reports(self):
        """Lines of ASan/LSan/UBSan reports in the logs of everything started (call after
        stop_all: leaks are reported at exit)."""
        out = []
        for p in self.procs:
            for line in p.text().splitlines():
                if any(m in line for m in self.SAN_MARKS):
                    out.append("%s: %s" % (p.name, line.strip()))
        return out

    def logs(self, n=12):
        out = []
        for p in self.procs:
            out.append("--- %s (pid %d, %s):" % (p.name, p.pid, "alive" if p.alive()
                                                else "exit %s" % p.p.returncode))
            out += ["  " + line for line in tail(p.log, n)]
        return "\n".join(out)


def format_exc():
    return traceback.format_exc().rstrip()
