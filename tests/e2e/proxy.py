# SPDX-License-Identifier: GPL-2.0-only
"""proxy.py: a TCP proxy between a source and a destination kmigd, for the postcopy scenarios.

Why it exists: postcopy's tests need a link that can break on cue (both sides then see their
connection end, as when a cable is pulled and the far end resets) and a return path that can
carry records the destination never sent (bad page requests, a flood), placed at record
boundaries so the stream stays well-formed.  The destination -> source direction is parsed as
the wire format's 32-byte record headers plus payloads (userspace/xport/wire.h).  Stdlib only;
every socket and thread it makes ends with close().
"""

import socket
import struct
import threading

REC = struct.Struct("<HBBHHIIQII")      # type, enc, flags, chan, reserved, block, count,
                                        # offset, len, reserved2
REQUEST = 20


def request(block, offset, count):
    """A REQUEST record as the destination would send it."""
    return REC.pack(REQUEST, 0, 0, 0, 0, block, count, offset, 0, 0)


class Proxy:
    """Forwards one connection to 127.0.0.1:@target_port; cut() breaks it."""

    def __init__(self, target_port, host="127.0.0.1"):
        self.host, self.target = host, target_port
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, 0))
        self.ls.listen(4)
        self.port = self.ls.getsockname()[1]
        self.socks = [self.ls]
        self.lock = threading.Lock()
        self.pending = []           # records to slip into the return path
        self.back_records = 0       # destination -> source records forwarded
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def uri(self):
        return "tcp:%s:%d" % (self.host, self.port)

    def inject(self, data):
        """Queues bytes (whole records) to go to the source at the next record boundary."""
        with self.lock:
            self.pending.append(data)

    def _accept(self):
        while True:
            try:
                a, _ = self.ls.accept()
            except OSError:
                return
            try:
                b = socket.create_connection((self.host, self.target))
            except OSError:
                a.close()
                continue
            with self.lock:
                if self.closed:
                    a.close()
                    b.close()
                    return
                self.socks += [a, b]
            threading.Thread(target=self._forward, args=(a, b), daemon=True).start()
            threading.Thread(target=self._back, args=(b, a), daemon=True).start()

    @staticmethod
    def _forward(a, b):
        while True:
            try:
                data = a.recv(1 << 20)
                if not data:
                    break
                b.sendall(data)
            except OSError:
                break
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _back(self, b, a):
        """Destination -> source, record by record, with injected records in between."""
        buf = b""
        b.settimeout(0.05)      # a quiet return path still gets what was injected
        while True:
            try:
                data = b.recv(1 << 16)
            except socket.timeout:
                if buf:
                    continue        # mid-record: wait for its end
                with self.lock:
                    extra, self.pending = self.pending, []
                try:
                    a.sendall(b"".join(extra))
                except OSError:
                    break
                continue
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            out = b""
            while len(buf) >= REC.size:
                length = REC.unpack_from(buf, 0)[8]
                if len(buf) < REC.size + length:
                    break
                out += buf[:REC.size + length]
                buf = buf[REC.size + length:]
                self.back_records += 1
                with self.lock:
                    extra, self.pending = self.pending, []
                out += b"".join(extra)
            try:
                a.sendall(out)
            except OSError:
                break
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        """Breaks every connection (both ends see it end) and stops accepting."""
        with self.lock:
            self.closed = True
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    close = cut

    def shutdown(self, how=None):
        """So a Harness can keep it in its socket list and end it at teardown."""
        self.cut()
