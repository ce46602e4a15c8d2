# SPDX-License-Identifier: GPL-2.0-only
"""dpwire.py: the dpdk: channel's frame format in Python (stdlib + libxxhash via ctypes), for
tests that speak to a kmigd over a veth without DPDK: a fake source that opens a connection and
sends hostile frames, and an injector that forges or replays frames.  It mirrors
userspace/xport/dp_proto.h and dp_wire.c; if those change, this must too."""

import ctypes
import ctypes.util
import os
import socket
import struct

ETHERTYPE = 0x88B5
MAGIC = 0x50444D4B
VERSION = 1
SYN, SYNACK, DATA, ACK, RST = 1, 2, 3, 4, 5
F_FIN = 1
HDR = struct.Struct("<IBBHIIQQQQQIIIIQ")      # 80 bytes, see struct kmig_dp_hdr
SYNP = struct.Struct("<IIII")                 # struct kmig_dp_syn
assert HDR.size == 80 and SYNP.size == 16
GOLDEN = 0x9E3779B97F4A7C15
M64 = (1 << 64) - 1

# the kmig stream (docs/stream-format.md)
STREAM_MAGIC = 0x3252545347494D4B
STREAM_HDR = struct.Struct("<QIIIIQQQ")        # 48 bytes
BLOCK = struct.Struct("<64sQ")                 # 72 bytes
REC = struct.Struct("<HBBHHIIQII")             # 32 bytes
REC_PAGES = 1


def _xxh():
    name = ctypes.util.find_library("xxhash") or "libxxhash.so.0"
    lib = ctypes.CDLL(name)
    lib.XXH3_64bits.restype = ctypes.c_uint64
    lib.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.XXH3_64bits_withSeed.restype = ctypes.c_uint64
    lib.XXH3_64bits_withSeed.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
    return lib


try:
    XXH = _xxh()
except OSError:
    XXH = None


def available():
    """None, or why frames cannot be built here."""
    return None if XXH else "libxxhash (libxxhash0) is not installed"


def _h(b):
    return XXH.XXH3_64bits(b, len(b)) if b else 0


def frame(dst, src, typ, conn, payload=b"", seq=0, off=0, ack=1, wnd=0, flags=0, split=None,
          tsval=1, tsecr=0, magic=MAGIC, version=VERSION, csum=None):
    """A whole Ethernet frame; the checksum is right unless @csum is given."""
    split = len(payload) if split is None else split
    fields = [magic, version, typ, flags, conn, len(payload), seq, off, ack, 0, 0, wnd, tsval,
              tsecr, split, 0]
    if csum is None:
        seed = _h(payload[:split]) ^ ((_h(payload[split:]) * GOLDEN) & M64)
        raw = HDR.pack(*fields)
        csum = XXH.XXH3_64bits_withSeed(raw, len(raw), seed)
    fields[-1] = csum
    return dst + src + struct.pack("!H", ETHERTYPE) + HDR.pack(*fields) + payload


def parse(b):
    """(fields dict, payload) of a kmig frame, or None."""
    if len(b) < 14 + HDR.size or struct.unpack("!H", b[12:14])[0] != ETHERTYPE:
        return None
    f = HDR.unpack(b[14:14 + HDR.size])
    keys = ("magic", "version", "type", "flags", "conn", "len", "seq", "off", "ack", "sack0",
            "sack1", "wnd", "tsval", "tsecr", "split", "csum")
    d = dict(zip(keys, f))
    d["src"] = b[6:12]
    return d, b[14 + HDR.size:14 + HDR.size + d["len"]]


class Link:
    """An AF_PACKET socket on one interface (inside the caller's network namespace)."""

    def __init__(self, ifname):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
        self.s.bind((ifname, 0))
        self.mac = self.s.getsockname()[4]
        self.s.settimeout(0.05)

    def send(self, b):
        self.s.send(b)

    def recv(self):
        try:
            return self.s.recv(65536)
        except socket.timeout:
            return None

    def close(self):
        self.s.close()


def rand_conn():
    return struct.unpack("<I", os.urandom(4))[0] | 1
