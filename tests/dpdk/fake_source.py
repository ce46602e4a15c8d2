#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""fake_source.py: a hostile kmig source on a veth, for the dpdk suite (run inside the source's
network namespace).  It opens a dpdk: connection to a destination kmigd like a real source
(SYN, SYNACK), then sends frames the destination must drop -- unknown types, bad lengths, a
broken checksum, replayed and far-future sequence numbers, another connection's frame -- and then
a well-formed stream whose first page record points outside the RAM block.  The destination must
refuse that record (the engine's check) and fail with a reason; nothing may be written.

    fake_source.py IFNAME BLOCK_NAME BLOCK_SIZE

Prints one JSON line: what it sent and the destination's error text if one came back."""

import json
import struct
import sys
import time

import dpwire as w


def main():
    ifname, bname, bsize = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
    link = w.Link(ifname)
    me = w.rand_conn()
    bcast = b"\xff" * 6
    syn = w.SYNP.pack(me, 1400, 64, 0)
    peer = peer_mac = None
    deadline = time.monotonic() + 20
    while peer is None and time.monotonic() < deadline:
        link.send(w.frame(bcast, link.mac, w.SYN, 0, syn))
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            b = link.recv()
            p = w.parse(b) if b else None
            if p and p[0]["type"] == w.SYNACK and p[0]["conn"] == me:
                peer = struct.unpack("<I", p[1][:4])[0]
                peer_mac = p[0]["src"]
                break
    if peer is None:
        print(json.dumps({"error": "no SYNACK"}))
        return 1
    out = {"connected": True, "sent": []}

    def send(name, b):
        link.send(b)
        out["sent"].append(name)

    # the stream: header, block table, then a page record beyond the block's end
    stream = w.STREAM_HDR.pack(w.STREAM_MAGIC, 2, 4096, 1, 0, bsize, 0x1234, 0b11)
    stream += w.BLOCK.pack(bname, bsize)
    rec = w.REC.pack(w.REC_PAGES, 0, 0, 0, 0, 0, 1, bsize, 4096, 0)
    first, second = stream[:100], stream[100:] + rec
    f1 = w.frame(peer_mac, link.mac, w.DATA, peer, first, seq=1, off=0, wnd=64)
    send("data seq 1", f1)
    time.sleep(0.05)
    # frames the destination must drop, each for its own reason
    send("unknown type", w.frame(peer_mac, link.mac, 9, peer, b"x" * 10, seq=2, off=100))
    send("bad magic", w.frame(peer_mac, link.mac, w.DATA, peer, b"x" * 10, seq=2, off=100,
                              magic=0x12345678))
    bad_len = w.frame(peer_mac, link.mac, w.DATA, peer, b"x" * 64, seq=2, off=100)
    send("length beyond the frame", bad_len[:-32])
    send("split beyond the payload", w.frame(peer_mac, link.mac, w.DATA, peer, b"x" * 10,
                                             seq=2, off=100, split=11))
    send("bad checksum", w.frame(peer_mac, link.mac, w.DATA, peer, b"x" * 10, seq=2, off=100,
                                 csum=12345))
    send("another connection", w.frame(peer_mac, link.mac, w.DATA, peer ^ 0xff, b"x" * 10,
                                       seq=2, off=100))
    send("replayed seq 1", f1)
    send("far beyond the window", w.frame(peer_mac, link.mac, w.DATA, peer, b"x" * 10,
                                          seq=100000, off=100))
    send("acknowledges unsent frames", w.frame(peer_mac, link.mac, w.ACK, peer, ack=1000))
    time.sleep(0.05)
    # the rest of the stream: the record whose offset lies outside the block
    send("data seq 2 (page record beyond the block)",
         w.frame(peer_mac, link.mac, w.DATA, peer, second, seq=2, off=len(first), wnd=64))
    # the destination's answer on the return path: its error text
    text = b""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        b = link.recv()
        p = w.parse(b) if b else None
        if not p or p[0]["conn"] != me:
            continue
        if p[0]["type"] == w.DATA and p[0]["len"]:
            text += p[1]
            # acknowledge, so it need not send again
            link.send(w.frame(peer_mac, link.mac, w.ACK, peer, ack=p[0]["seq"] + 1, wnd=64))
        if p[0]["type"] == w.RST or b"beyond" in text:
            break
    out["reply"] = text.decode(errors="replace")
    link.send(w.frame(peer_mac, link.mac, w.RST, peer, b"fake source done"))
    link.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
