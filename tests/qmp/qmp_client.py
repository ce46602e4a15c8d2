# SPDX-License-Identifier: GPL-2.0-only
"""qmp_client.py: a small blocking QMP client for kmig's protocol tests (Python 3 stdlib only).

It keeps the raw text of every line it receives, so tests can check QEMU's wire format (CRLF line
ends, key order, \\uXXXX escapes) as well as the parsed JSON, and it sets aside events that arrive
while it waits for a reply.  It deliberately has no asynchronous API, no out-of-band support and no
reconnect logic: a test that needs a fresh connection opens one.
"""

import json
import socket
import time

DEFAULT_TIMEOUT = 5.0
_NO_ID = object()


class QMPError(Exception):
    """The transport failed: timeout, EOF, or a line from the server that is not a JSON object."""


class Message:
    """One line received from the server: `raw` is the exact text (line end included), `obj` the
    parsed JSON object, whose key order is the order on the wire."""

    def __init__(self, raw, obj):
        self.raw = raw
        self.obj = obj

    @property
    def is_event(self):
        return "event" in self.obj and "return" not in self.obj and "error" not in self.obj

    def __repr__(self):
        return "Message(%r)" % self.raw


class QMPClient:
    def __init__(self, sock, timeout=DEFAULT_TIMEOUT):
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.events = []        # events set aside by recv_reply(), oldest first
        self.bad_eol = []       # raw lines that did not end in "\r\n"
        self.greeting = None

    @classmethod
    def unix(cls, path, timeout=DEFAULT_TIMEOUT):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.connect(path)
        except OSError:
            s.close()
            raise
        return cls(s, timeout)

    @classmethod
    def tcp(cls, host, port, timeout=DEFAULT_TIMEOUT):
        return cls(socket.create_connection((host, port), timeout=timeout), timeout)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- raw I/O ------------------------------------------------------------------------------

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _line(self, deadline):
        """Return the next complete line (bytes, line end included) or raise QMPError."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPError("timed out waiting for a line (partial: %r)" % self.buf[:200])
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise QMPError("connection closed by server (partial: %r)" % self.buf[:200])
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def recv(self, timeout=None):
        """Return the next Message of any kind (reply, event or greeting)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        line = self._line(deadline)
        try:
            raw = line.decode("utf-8")
            obj = json.loads(raw)
        except ValueError as e:
            raise QMPError("server sent a line that is not JSON (%s): %r" % (e, line))
        if not raw.endswith("\r\n"):
            self.bad_eol.append(raw)
        if not isinstance(obj, dict):
            raise QMPError("server sent a JSON value that is not an object: %r" % raw)
        return Message(raw, obj)

    def recv_reply(self, timeout=None):
        """Return the next non-event Message; events met on the way go to self.events."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            msg = self.recv(max(0.0, deadline - time.monotonic()))
            if not msg.is_event:
                return msg
            self.events.append(msg.obj)

    def pending_replies(self, wait):
        """Wait `wait` seconds and return the non-event Messages that arrived meanwhile (used to
        check that nothing unexpected follows a reply)."""
        got, deadline = [], time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0 and b"\n" not in self.buf:
                return got
            try:
                got.append(self.recv_reply(max(left, 0.001)))
            except QMPError as e:
                if "timed out" in str(e):
                    return got
                raise

    # -- QMP ----------------------------------------------------------------------------------

    def read_greeting(self):
        self.greeting = self.recv()
        return self.greeting

    @staticmethod
    def encode(execute, arguments=None, id=_NO_ID):
        req = {"execute": execute}
        if arguments is not None:
            req["arguments"] = arguments
        if id is not _NO_ID:
            req["id"] = id
        return json.dumps(req)

    def request(self, execute, arguments=None, id=_NO_ID, timeout=None):
        """Send one command and return its reply Message (events are set aside)."""
        self.send_raw(self.encode(execute, arguments, id) + "\n")
        return self.recv_reply(timeout)

    def request_raw(self, text, timeout=None):
        """Send `text` as is (a newline is added if missing) and return the next reply Message."""
        self.send_raw(text if text.endswith("\n") else text + "\n")
        return self.recv_reply(timeout)

    def cmd(self, execute, arguments=None):
        """Run a command that must succeed and return its "return" value; QMPError otherwise."""
        msg = self.request(execute, arguments)
        if "return" not in msg.obj:
            raise QMPError("%s failed: %s" % (execute, msg.raw.strip()))
        return msg.obj["return"]

    def negotiate(self):
        return self.cmd("qmp_capabilities")

    def wait_event(self, name, timeout=None):
        """Return the first event called `name`, looking at set-aside events first."""
        for i, ev in enumerate(self.events):
            if ev.get("event") == name:
                return self.events.pop(i)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            msg = self.recv(max(0.0, deadline - time.monotonic()))
            if msg.is_event and msg.obj.get("event") == name:
                return msg.obj
            if msg.is_event:
                self.events.append(msg.obj)
            else:
                raise QMPError("unexpected reply while waiting for event %s: %r" % (name, msg.raw))


def connect(path=None, tcp=None, negotiate=True, timeout=DEFAULT_TIMEOUT):
    """Connect to a unix socket `path` or a (host, port) `tcp` pair, read the greeting and, unless
    told not to, negotiate capabilities."""
    c = QMPClient.unix(path, timeout) if path is not None else QMPClient.tcp(*tcp, timeout=timeout)
    try:
        c.read_greeting()
        if negotiate:
            c.negotiate()
    except Exception:
        c.close()
        raise
    return c
