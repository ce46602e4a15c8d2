# SPDX-License-Identifier: GPL-2.0-only
"""kstream.py: reads kmig migration stream files (format of userspace/xport/wire.h, version 1)
so the end-to-end tests can damage them in chosen places: truncate, flip page bytes, break a
record header.  Stdlib only."""

import struct

MAGIC = 0x3152545347494D4B
HDR = struct.Struct("<QIIIIQ")           # magic, version, page_size, nblocks, flags, total
BLOCK = struct.Struct("<64sQ")           # name, size
REC = struct.Struct("<IIQII")            # type, block, offset, count, reserved
PAGES, ZERO, PASS, STATE, END = 1, 2, 3, 4, 5
PAGE = 4096


class Record:
    def __init__(self, pos, rtype, block, offset, count):
        self.pos, self.type, self.block, self.offset, self.count = pos, rtype, block, offset, count

    @property
    def payload_pos(self):
        return self.pos + REC.size

    @property
    def payload_len(self):
        if self.type == PAGES:
            return self.count * PAGE
        if self.type in (STATE, END):
            return self.count
        return 0


def parse(data):
    """Returns (blocks [(name, size)], records [Record]); raises ValueError if malformed."""
    magic, version, page_size, nblocks, flags, total = HDR.unpack_from(data, 0)
    if magic != MAGIC or version != 1 or page_size != PAGE:
        raise ValueError("not a kmig v1 stream")
    pos = HDR.size
    blocks = []
    for _ in range(nblocks):
        name, size = BLOCK.unpack_from(data, pos)
        blocks.append((name.split(b"\0", 1)[0].decode(), size))
        pos += BLOCK.size
    recs = []
    while pos < len(data):
        r = Record(pos, *REC.unpack_from(data, pos)[:4])
        recs.append(r)
        pos = r.payload_pos + r.payload_len
        if r.type == END:
            break
    if pos != len(data):
        raise ValueError("stream has %d bytes, records end at %d" % (len(data), pos))
    return blocks, recs


def flip_page_bytes(data, recs):
    """Flips bytes in the payload of the last PAGES record: dirtygen never rewrites a page with
    zeroes, so nothing later in the stream overwrites that page.  Returns (new data, where)."""
    last = [r for r in recs if r.type == PAGES][-1]
    buf = bytearray(data)
    at = last.payload_pos + 100
    for i in range(8):
        buf[at + i] ^= 0xA5
    return bytes(buf), "PAGES record at %d (block %d offset %d), bytes %d..%d" % (
        last.pos, last.block, last.offset, at, at + 7)


def bad_offset(data, recs, blocks):
    """Moves the first PAGES record past the end of its block."""
    first = [r for r in recs if r.type == PAGES][0]
    buf = bytearray(data)
    new_off = blocks[first.block][1] + 16 * PAGE
    REC.pack_into(buf, first.pos, first.type, first.block, new_off, first.count, 0)
    return bytes(buf), new_off
