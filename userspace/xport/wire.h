/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wire.h: kmig's migration stream format, version 1 (docs/stream-format.md
 * tells the same in prose).  Shared by the sender and the receiver; the
 * receiver trusts nothing in it: every index, offset and length is checked
 * against the block table it agreed to.
 *
 * A stream is: struct kmig_wire_hdr, nblocks x struct kmig_wire_block, then
 * records.  A record is struct kmig_wire_rec followed by its payload; page
 * payloads are raw pages, so a sender can point an iovec straight at the
 * RAM block mapping (header and payload are separate iovecs).
 * Little-endian throughout (both ends are x86-64 today; a big-endian port
 * would byte-swap here).
 *
 * Hand-over on a channel with a return path (exactly one side runs the
 * workload, whatever fails when):
 *   source: ... END             dest: verify -> VERIFIED
 *   source: not cancelled? GO   dest: start the workload -> RESUMED
 * Before GO the source may still cancel (it resumes; the destination sees
 * the stream end and fails).  After GO the source never resumes by itself.
 */
#ifndef KMIG_WIRE_H
#define KMIG_WIRE_H

#include <stdint.h>

#define KMIG_WIRE_MAGIC      0x3152545347494d4bull	/* "KMIGSTR1" */
#define KMIG_WIRE_VERSION    1u
#define KMIG_WIRE_PAGE_SIZE  4096u
#define KMIG_WIRE_MAX_BLOCKS 64u
#define KMIG_WIRE_NAME_MAX   64u
#define KMIG_WIRE_MAX_RUN    256u		/* pages in one PAGES record (1 MiB) */
#define KMIG_WIRE_MAX_ZERO_RUN (1u << 20)	/* pages in one ZERO record (4 GiB) */
#define KMIG_WIRE_MAX_STATE  (16u << 20)	/* device state blob */

/** struct kmig_wire_hdr - stream header (32 bytes) */
struct kmig_wire_hdr {
	uint64_t magic;		/* KMIG_WIRE_MAGIC */
	uint32_t version;	/* KMIG_WIRE_VERSION */
	uint32_t page_size;	/* KMIG_WIRE_PAGE_SIZE */
	uint32_t nblocks;	/* 1..KMIG_WIRE_MAX_BLOCKS */
	uint32_t flags;		/* 0 */
	uint64_t total;		/* sum of block sizes (bytes) */
};

/** struct kmig_wire_block - one entry of the block table (72 bytes) */
struct kmig_wire_block {
	char name[KMIG_WIRE_NAME_MAX];	/* NUL-terminated */
	uint64_t size;			/* bytes, a page multiple */
};

enum kmig_wire_type {
	KMIG_REC_PAGES   = 1,	/* count pages at offset; count*page_size bytes follow */
	KMIG_REC_ZERO    = 2,	/* count all-zero pages at offset; no payload */
	KMIG_REC_PASS    = 3,	/* a new pass begins; offset = pass number */
	KMIG_REC_STATE   = 4,	/* device state; count = bytes that follow */
	KMIG_REC_END     = 5,	/* count = nblocks*8 bytes of per-block checksums follow */
	KMIG_REC_GO      = 6,	/* after VERIFIED: the source is committed, start the workload */
	/* return path, destination -> source */
	KMIG_REC_RESUMED = 16,	/* the workload runs on the destination */
	KMIG_REC_ERROR   = 17,	/* count bytes of error text follow */
	KMIG_REC_VERIFIED = 18,	/* every page and checksum checked: ready to start on GO */
};

/** struct kmig_wire_rec - record header (24 bytes) */
struct kmig_wire_rec {
	uint32_t type;		/* enum kmig_wire_type */
	uint32_t block;		/* block table index (PAGES, ZERO) */
	uint64_t offset;	/* byte offset in the block, page aligned (PAGES, ZERO) */
	uint32_t count;		/* pages or bytes, see the type */
	uint32_t reserved;	/* 0 */
};

_Static_assert(sizeof(struct kmig_wire_hdr) == 32, "wire header layout");
_Static_assert(sizeof(struct kmig_wire_block) == 72, "wire block layout");
_Static_assert(sizeof(struct kmig_wire_rec) == 24, "wire record layout");

#endif
