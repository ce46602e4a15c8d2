# SPDX-License-Identifier: GPL-2.0-only
"""kstream.py: reads kmig migration stream files (format of userspace/xport/wire.h, version 2)
so the end-to-end tests can damage them in chosen places: truncate, flip page bytes, break a
record header.  Stdlib only."""

import struct

MAGIC = 0x3252545347494D4B
VERSION = 2
HDR = struct.Struct("<QIIIIQQQ")         # magic, version, page_size, nblocks, nchannels, total,
                                         # session, encodings
BLOCK = struct.Struct("<64sQ")           # name, size
REC = struct.Struct("<HBBHHIIQII")       # type, enc, flags, chan, reserved, block, count,
                                         # offset, len, reserved2
PAGES, PASS, STATE, END = 1, 3, 4, 5
ENC_RAW, ENC_ZERO, ENC_XBZRLE, ENC_ZLIB, ENC_ZSTD = 0, 1, 2, 3, 4
PAGE = 4096


class Record:
    def __init__(self, pos, fields):
        (self.type, self.enc, self.flags, self.chan, _, self.block, self.count, self.offset,
         self.len, _) = fields
        self.pos = pos

    @property
    def payload_pos(self):
        return self.pos + REC.size

    @property
    def is_raw_pages(self):
        return self.type == PAGES and self.enc == ENC_RAW


def parse(data):
    """Returns (blocks [(name, size)], records [Record]); raises ValueError if malformed."""
    magic, version, page_size, nblocks, nchannels, total, _, _ = HDR.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION or page_size != PAGE or nchannels:
        raise ValueError("not a single-channel kmig v2 stream")
    pos = HDR.size
    blocks = []
    for _ in range(nblocks):
        name, size = BLOCK.unpack_from(data, pos)
        blocks.append((name.split(b"\0", 1)[0].decode(), size))
        pos += BLOCK.size
    recs = []
    while pos < len(data):
        r = Record(pos, REC.unpack_from(data, pos))
        recs.append(r)
        pos = r.payload_pos + r.len
        if r.type == END:
            break
    if pos != len(data):
        raise ValueError("stream has %d bytes, records end at %d" % (len(data), pos))
    return blocks, recs


def flip_page_bytes(data, recs):
    """Flips bytes in the payload of the last raw page record: dirtygen never rewrites a page
    with zeroes, so nothing later in the stream overwrites that page.  Returns (new data,
    where)."""
    last = [r for r in recs if r.is_raw_pages][-1]
    buf = bytearray(data)
    at = last.payload_pos + 100
    for i in range(8):
        buf[at + i] ^= 0xA5
    return bytes(buf), "PAGES record at %d (block %d offset %d), bytes %d..%d" % (
        last.pos, last.block, last.offset, at, at + 7)


def bad_offset(data, recs, blocks):
    """Moves the first raw page record past the end of its block."""
    first = [r for r in recs if r.is_raw_pages][0]
    buf = bytearray(data)
    new_off = blocks[first.block][1] + 16 * PAGE
    struct.pack_into("<Q", buf, first.pos + 16, new_off)
    return bytes(buf), new_off


def set_count(buf, rec, count):
    """Makes record @rec (in bytearray @buf) claim @count pages."""
    struct.pack_into("<I", buf, rec.pos + 12, count)
