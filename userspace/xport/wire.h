/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wire.h: kmig's migration stream format, version 2, and version 3 (2 plus
 * the postcopy records, sent only with postcopy-ram on) (docs/stream-format.md
 * tells the same in prose; tests/unit/test_wire_doc checks that the two
 * agree).  Shared by the sender and the receiver; the receiver trusts
 * nothing in it: every index, offset, length and encoding is checked
 * against the block table and the encodings it agreed to.
 *
 * The main channel carries: struct kmig_wire_hdr, nblocks x struct
 * kmig_wire_block, then records.  Each data channel (multifd) carries a
 * struct kmig_wire_chan_hello, then page and SYNC records.  A record is a
 * struct kmig_wire_rec followed by @len payload bytes; raw page payloads
 * are the pages themselves, so a sender can point straight at the RAM
 * block mapping.  Little-endian throughout (both ends are x86-64 today).
 *
 * Hand-over on a channel with a return path (exactly one side runs the
 * workload, whatever fails when):
 *   source: ... END             dest: verify -> VERIFIED
 *   source: not cancelled? GO   dest: start the workload -> RESUMED
 * Before GO the source may still cancel (it resumes; the destination sees
 * the stream end and fails).  After GO the source never resumes by itself.
 *
 * Postcopy (version 3) moves that commit earlier (docs/postcopy.md):
 *   source: stop, POSTCOPY, DISCARD..., STATE, RUN   dest: start -> RESUMED
 *   dest: REQUEST (a page it faulted on)     source: those pages first
 *   source: the rest of the pages, END        dest: verify -> VERIFIED
 * After RUN the workload runs on the destination: the source never
 * resumes it, and a broken connection pauses both sides until a new one
 * resumes the stream (the destination answers the new header with BITMAP
 * records: which pages it has, then ACCEPT).
 */
#ifndef KMIG_WIRE_H
#define KMIG_WIRE_H

#include <stdint.h>

#define KMIG_WIRE_MAGIC      0x3252545347494d4bull	/* "KMIGSTR2" */
#define KMIG_WIRE_CHAN_MAGIC 0x324e484347494d4bull	/* "KMIGCHN2" */
#define KMIG_WIRE_VERSION    2u
#define KMIG_WIRE_VERSION_POSTCOPY 3u		/* 2 + the postcopy records (postcopy-ram on) */
#define KMIG_WIRE_PAGE_SIZE  4096u
#define KMIG_WIRE_MAX_BLOCKS 64u
#define KMIG_WIRE_MAX_CHANNELS 64u		/* data channels */
#define KMIG_WIRE_NAME_MAX   64u
#define KMIG_WIRE_MAX_RUN    256u		/* pages in one non-zero page record (1 MiB) */
#define KMIG_WIRE_MAX_ZERO_RUN (1u << 20)	/* pages in one ZERO page record (4 GiB) */
#define KMIG_WIRE_MAX_ENCODED (KMIG_WIRE_MAX_RUN * KMIG_WIRE_PAGE_SIZE + 4096u)
#define KMIG_WIRE_MAX_STATE  (16u << 20)	/* device state blob */
#define KMIG_WIRE_MAX_ERROR  511u		/* error text on the return path */
#define KMIG_WIRE_MAX_BITMAP (1u << 23)	/* pages in one BITMAP record (1 MiB of bits) */
#define KMIG_WIRE_BITMAP_ALIGN 64u		/* a BITMAP record starts at a multiple of 64 pages */

/** struct kmig_wire_hdr - main channel header (48 bytes) */
struct kmig_wire_hdr {
	uint64_t magic;		/* KMIG_WIRE_MAGIC */
	uint32_t version;	/* KMIG_WIRE_VERSION */
	uint32_t page_size;	/* KMIG_WIRE_PAGE_SIZE */
	uint32_t nblocks;	/* 1..KMIG_WIRE_MAX_BLOCKS */
	uint32_t nchannels;	/* data channels that follow; 0 = pages come on this one */
	uint64_t total;		/* sum of block sizes (bytes) */
	uint64_t session;	/* random: the data channels present it */
	uint64_t encodings;	/* bit e set: page records may use encoding e */
};

/** struct kmig_wire_block - one entry of the block table (72 bytes) */
struct kmig_wire_block {
	char name[KMIG_WIRE_NAME_MAX];	/* NUL-terminated */
	uint64_t size;			/* bytes, a page multiple */
};

/** struct kmig_wire_chan_hello - first bytes of a data channel (24 bytes) */
struct kmig_wire_chan_hello {
	uint64_t magic;		/* KMIG_WIRE_CHAN_MAGIC */
	uint64_t session;	/* the main header's session */
	uint32_t chan;		/* 1..nchannels, each exactly once */
	uint32_t reserved;	/* 0 */
};

enum kmig_wire_type {
	KMIG_REC_PAGES   = 1,	/* count pages at block/offset, encoded as enc; len payload bytes */
	KMIG_REC_PASS    = 3,	/* a new pass begins; offset = pass number */
	KMIG_REC_STATE   = 4,	/* device state; len bytes follow */
	KMIG_REC_END     = 5,	/* len = nblocks*8 bytes of checksums; offset = last SYNC number */
	KMIG_REC_GO      = 6,	/* after VERIFIED: the source is committed, start the workload */
	KMIG_REC_SYNC    = 7,	/* offset = sync number (1, 2, ...); flags KMIG_SYNC_F_LAST */
	/* version 3: postcopy */
	KMIG_REC_POSTCOPY = 8,	/* the source stopped and switches to postcopy; offset = last
				 * SYNC number; DISCARD records, STATE and RUN follow */
	KMIG_REC_DISCARD = 9,	/* count pages at block/offset changed since sent: drop them */
	KMIG_REC_RUN     = 10,	/* start the workload now: the source is committed */
	/* return path, destination -> source */
	KMIG_REC_RESUMED = 16,	/* the workload runs on the destination */
	KMIG_REC_ERROR   = 17,	/* len bytes of error text follow (<= KMIG_WIRE_MAX_ERROR) */
	KMIG_REC_VERIFIED = 18,	/* every page and checksum checked: ready to start on GO */
	KMIG_REC_ACCEPT  = 19,	/* header and block table accepted: send pages */
	KMIG_REC_REQUEST = 20,	/* v3, postcopy: count pages at block/offset are wanted now */
	KMIG_REC_BITMAP  = 21,	/* v3, resuming: which of count pages from block/offset
				 * arrived; len = ceil(count / 64) * 8 bytes of bits */
	KMIG_REC_ACK     = 22,	/* v3, postcopy: offset = main-channel bytes read and placed */
};

enum kmig_wire_enc {
	KMIG_ENC_RAW    = 0,	/* count pages as they are: len = count * 4096 */
	KMIG_ENC_ZERO   = 1,	/* count all-zero pages: len = 0 */
	KMIG_ENC_XBZRLE = 2,	/* reserved: one page, delta against the previous copy */
	KMIG_ENC_ZLIB   = 3,	/* reserved: deflate stream of count pages */
	KMIG_ENC_ZSTD   = 4,	/* reserved: zstd frame of count pages */
};
#define KMIG_ENC_MAX 5

#define KMIG_SYNC_F_LAST 1u	/* SYNC: nothing more comes on this channel */

/** struct kmig_wire_rec - record header (32 bytes) */
struct kmig_wire_rec {
	uint16_t type;		/* enum kmig_wire_type */
	uint8_t enc;		/* PAGES: enum kmig_wire_enc, else 0 */
	uint8_t flags;		/* SYNC: KMIG_SYNC_F_*, else 0 */
	uint16_t chan;		/* the channel it travels on: 0 main, 1.. data */
	uint16_t reserved;	/* 0 */
	uint32_t block;		/* PAGES, DISCARD, REQUEST, BITMAP: block table index */
	uint32_t count;		/* ... their pages */
	uint64_t offset;	/* ... byte offset in the block (page aligned); else a value */
	uint32_t len;		/* payload bytes that follow */
	uint32_t reserved2;	/* 0 */
};

_Static_assert(sizeof(struct kmig_wire_hdr) == 48, "wire header layout");
_Static_assert(sizeof(struct kmig_wire_block) == 72, "wire block layout");
_Static_assert(sizeof(struct kmig_wire_chan_hello) == 24, "channel hello layout");
_Static_assert(sizeof(struct kmig_wire_rec) == 32, "wire record layout");

#endif
