/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wl_proto.h: the local protocol between a workload (through libkmig) and
 * its kmigd, over a unix stream socket (kmigd --workload PATH).
 *
 * Why it exists: kmigd moves memory it does not own.  The workload hands
 * over each RAM block as a memfd (kmigd maps it MAP_SHARED to read or fill
 * it) plus, on the source, a userfaultfd it created, which kmigd arms for
 * write-protect tracking of the workload's own mapping.  Control flows both
 * ways: kmigd asks the workload to pause, to resume, or (on the
 * destination) to load its device state and start.
 *
 * Every message is a fixed header followed by @len payload bytes; file
 * descriptors ride as SCM_RIGHTS on the header's sendmsg.  All integers are
 * in host byte order (both ends are on one host).  Each side rejects
 * a bad magic, an unknown type, or a length over KMIG_WL_MAX_PAYLOAD.
 *
 * Version 2 adds feature bits: HELLO carries what the workload can do and
 * REGISTERED what kmigd will use, so a version-1 workload (16-byte HELLO,
 * empty REGISTERED) keeps working unchanged.
 *
 * Conversation, source:      workload            kmigd
 *                            HELLO(role=SRC) ->
 *                            BLOCK + fds    ->   (once per block)
 *                            READY          ->
 *                                           <-   REGISTERED  (kmigd can migrate it now)
 *                                           <-   PAUSE       (switch-over)
 *                            PAUSED + state ->
 *                                           <-   RESUME      (failed/cancelled: run on)
 *                                           <-   MIGRATED    (completed: stay stopped)
 * Conversation, destination: HELLO(role=DST) -> BLOCK + memfd -> READY
 *                                           <-   REGISTERED
 *                                           <-   LOAD + state (memory is in place)
 *                            STARTED        ->   (after the workload resumed)
 *                                           <-   FAILED      (incoming migration failed)
 *   with KMIG_WL_F_REROLE, after STARTED:
 *                            UFFD + fd      ->   (once per block it could make one)
 *                            SOURCE         ->   (now a running source: PAUSE may come)
 *   with KMIG_WL_F_THROTTLE, a source at any time while running:
 *                                           <-   THROTTLE(pct) (0 lifts it)
 *   with KMIG_WL_F_POSTCOPY, a destination's BLOCKs carry a userfaultfd too
 *   (memfd, uffd), and instead of LOAD a postcopy migration sends
 *                                           <-   LOAD_POSTCOPY + state
 *                            STARTED        ->   (running; RAM may still miss
 *                                                 pages: touching one waits)
 *                                           <-   ARRIVED     (every page is in)
 *                                           <-   FAILED      (or: memory stays
 *                                                 incomplete: stop)
 *   (ARRIVED / FAILED may come after the workload became a source again.)
 *
 * A workload whose agent goes away keeps running (or stays paused, if it
 * was paused for a switch-over: the destination may already run it) and
 * registers again with the next agent on the same socket, saying in HELLO
 * that it is paused (KMIG_WL_HELLO_F_PAUSED) so that agent holds it until
 * an operator's 'cont'.
 */
#ifndef KMIG_WL_PROTO_H
#define KMIG_WL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define KMIG_WL_MAGIC       0x574d494bu	/* bytes "KIMW" on little-endian */
#define KMIG_WL_VERSION     2u		/* kmigd also accepts 1 */
#define KMIG_WL_MAX_PAYLOAD (16u << 20)	/* device state and every message fit in this */
#define KMIG_WL_NAME_MAX    64		/* block names, NUL included */
#define KMIG_WL_MAX_BLOCKS  64
#define KMIG_WL_MAX_FDS     2

enum kmig_wl_type {
	KMIG_WL_HELLO    = 1,	/* wl -> agent: struct kmig_wl_hello */
	KMIG_WL_BLOCK    = 2,	/* wl -> agent: struct kmig_wl_block; fds: memfd [, uffd] */
	KMIG_WL_READY    = 3,	/* wl -> agent: every block registered; no payload */
	KMIG_WL_PAUSE    = 4,	/* agent -> wl: stop writing memory, send state */
	KMIG_WL_PAUSED   = 5,	/* wl -> agent: payload = device state blob */
	KMIG_WL_RESUME   = 6,	/* agent -> wl: carry on (migration failed/cancelled) */
	KMIG_WL_MIGRATED = 7,	/* agent -> wl: migration completed, stay stopped */
	KMIG_WL_LOAD     = 8,	/* agent -> wl (dst): payload = device state; then start */
	KMIG_WL_STARTED  = 9,	/* wl -> agent (dst): resumed on the destination */
	KMIG_WL_FAILED   = 10,	/* agent -> wl (dst): incoming migration failed */
	KMIG_WL_REGISTERED = 11, /* agent -> wl: accepted; a migration may start now;
				  * v2: payload = struct kmig_wl_registered */
	KMIG_WL_THROTTLE = 12,	/* agent -> wl (KMIG_WL_F_THROTTLE): struct kmig_wl_throttle */
	KMIG_WL_UFFD     = 13,	/* wl -> agent (KMIG_WL_F_REROLE): struct kmig_wl_uffd + uffd */
	KMIG_WL_SOURCE   = 14,	/* wl -> agent (KMIG_WL_F_REROLE): now a running source */
	KMIG_WL_LOAD_POSTCOPY = 15, /* agent -> wl (dst, KMIG_WL_F_POSTCOPY): payload = device
				 * state; start now, pages still arriving */
	KMIG_WL_ARRIVED  = 16,	/* agent -> wl (after LOAD_POSTCOPY): every page arrived
				 * (the last type: kmig_wl_recv rejects any above it) */
};
#define KMIG_WL_TYPE_MAX KMIG_WL_ARRIVED

/* feature bits (HELLO: what the workload can do; REGISTERED: what kmigd uses) */
#define KMIG_WL_F_THROTTLE  (1ull << 0)	/* slows its RAM writers on THROTTLE */
#define KMIG_WL_F_REATTACH  (1ull << 1)	/* survives its agent and registers again */
#define KMIG_WL_F_REROLE    (1ull << 2)	/* after STARTED on a destination, becomes a source */
#define KMIG_WL_F_POSTCOPY  (1ull << 3)	/* dst: can start before all RAM arrived: hands a
					 * userfaultfd per block for missing pages */
#define KMIG_WL_F_KNOWN     (KMIG_WL_F_THROTTLE | KMIG_WL_F_REATTACH | KMIG_WL_F_REROLE | \
			     KMIG_WL_F_POSTCOPY)

#define KMIG_WL_HELLO_F_PAUSED 1u	/* registering while stopped for a switch-over */

enum kmig_wl_role {
	KMIG_WL_ROLE_SRC = 1,	/* running workload whose memory may leave */
	KMIG_WL_ROLE_DST = 2,	/* empty workload waiting for memory to arrive */
};

/** struct kmig_wl_hdr - every message starts with this (16 bytes) */
struct kmig_wl_hdr {
	uint32_t magic;
	uint16_t type;		/* enum kmig_wl_type */
	uint16_t nfds;		/* fds attached to this message */
	uint32_t len;		/* payload bytes that follow */
	uint32_t reserved;	/* 0 */
};

/** struct kmig_wl_hello - first message from the workload (v1: the first 16 bytes) */
struct kmig_wl_hello {
	uint32_t version;	/* 1 or 2 */
	uint32_t role;		/* enum kmig_wl_role */
	uint32_t nblocks;	/* BLOCK messages that follow (1..KMIG_WL_MAX_BLOCKS) */
	uint32_t page_size;	/* the workload's page size (4096) */
	/* version 2 */
	uint64_t features;	/* KMIG_WL_F_* it supports */
	uint32_t flags;		/* KMIG_WL_HELLO_F_* */
	uint32_t reserved;	/* 0 */
};
#define KMIG_WL_HELLO_V1_LEN 16u

/** struct kmig_wl_registered - v2 REGISTERED payload */
struct kmig_wl_registered {
	uint64_t features;	/* the HELLO features kmigd will use */
};

/** struct kmig_wl_throttle - THROTTLE payload */
struct kmig_wl_throttle {
	uint32_t pct;		/* 0..99: share of each 10 ms writers must sleep; 0 = none */
	uint32_t reserved;	/* 0 */
};

/** struct kmig_wl_uffd - UFFD payload; the fd: a fresh userfaultfd */
struct kmig_wl_uffd {
	uint32_t block;		/* index in BLOCK order */
	uint32_t reserved;	/* 0 */
};

/**
 * struct kmig_wl_block - one RAM block; fds: memfd, then a uffd (source:
 * for dirty tracking; destination with KMIG_WL_F_POSTCOPY: for the pages
 * that have not arrived yet)
 */
struct kmig_wl_block {
	char name[KMIG_WL_NAME_MAX];	/* NUL-terminated, unique per workload */
	uint64_t size;		/* bytes, a multiple of page_size */
	uint64_t addr;		/* where the workload mapped it (for tracking) */
	uint32_t flags;		/* KMIG_WL_BLOCK_F_* */
	uint32_t reserved;	/* 0 */
};
#define KMIG_WL_BLOCK_F_UFFD 1u	/* a userfaultfd (UFFD_USER_MODE_ONLY) is attached */

/*
 * Message I/O shared by both ends.  send: 0 or -errno.  recv: blocks for
 * one whole message; fills *hdr, up to @max payload bytes into @payload
 * (a larger message is an error: -EMSGSIZE), and up to KMIG_WL_MAX_FDS
 * received fds into @fds (unused slots -1; the caller owns them);
 * returns 0, -ECONNRESET on a clean EOF, or -errno / -EPROTO on bad input.
 * @fds may be NULL when no fds are expected (any that arrive: -EPROTO).
 * On any error received fds are closed and the stream is out of step: drop
 * the connection.  Both also work on a non-blocking socket (they poll());
 * on a blocking one, SO_RCVTIMEO/SO_SNDTIMEO expiring gives -ETIMEDOUT.
 */
int kmig_wl_send(int sock, uint16_t type, const void *payload, uint32_t len,
		 const int *fds, unsigned int nfds);
int kmig_wl_recv(int sock, struct kmig_wl_hdr *hdr, void *payload, size_t max,
		 int fds[KMIG_WL_MAX_FDS]);

#endif
