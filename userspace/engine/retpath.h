/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * retpath.h: the source's return path: a reader thread of its own reads
 * every record the destination sends on the main channel, at any time, so
 * a destination that fails is heard as its own error text (not as a broken
 * pipe), and postcopy's page requests and (when resuming) the
 * destination's bitmaps of the pages it has are taken in as they come.
 * The migration thread waits here for the answers it needs.
 */
#ifndef KMIG_RETPATH_H
#define KMIG_RETPATH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "wire.h"
#include "xport.h"

#define KMIG_RETPATH_QUEUE 4096	/* postcopy page requests waiting; more are dropped */

/** struct kmig_retpath_req - one page request (REQUEST record), not yet checked */
struct kmig_retpath_req {
	uint32_t block;
	uint32_t count;
	uint64_t offset;
};

/**
 * struct kmig_retpath_hooks - what the reader hands on (reader thread)
 * @bitmap: a BITMAP record and its bits (len bytes); 0, or -EPROTO to stop
 *          reading as a protocol error.  NULL: BITMAP records are refused.
 */
struct kmig_retpath_hooks {
	int (*bitmap)(void *opaque, const struct kmig_wire_rec *r, const uint64_t *bits);
	void *opaque;
};

/**
 * struct kmig_retpath - the reader and what it has heard
 * @c:       the main channel (read by the reader thread only)
 * @got:     per answer type (ACCEPT, VERIFIED, RESUMED): how many arrived
 * @used:    how many of them a waiter consumed
 * @error:   the destination's error text ("" if none came)
 * @closed:  0 while reading, else why the reader stopped (-errno)
 * @req, @req_head, @req_len: page requests waiting, oldest at @req_head
 * @req_seen, @req_dropped: requests that arrived / found the queue full
 * @bits:    the reader's buffer for BITMAP payloads
 * @acked:   the highest ACK: main-channel bytes the destination has placed
 */
struct kmig_retpath {
	struct kmig_chan *c;
	pthread_t thr;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int got[4], used[4];
	char error[KMIG_WIRE_MAX_ERROR + 1];
	int closed;
	struct kmig_retpath_hooks hooks;
	struct kmig_retpath_req req[KMIG_RETPATH_QUEUE];
	unsigned int req_head, req_len;
	uint64_t req_seen, req_dropped;
	uint64_t *bits;
	uint64_t acked;
};

/* starts the reader on @c; 0 or -errno */
int kmig_retpath_start(struct kmig_retpath *rp, struct kmig_chan *c);
/* the same, handing BITMAP records to @hooks (copied; NULL: none) */
int kmig_retpath_start_hooks(struct kmig_retpath *rp, struct kmig_chan *c,
			     const struct kmig_retpath_hooks *hooks);
/*
 * Takes up to @max queued page requests into @out, waiting up to
 * @timeout_ms for the first one (0: do not wait; an ACK also ends the
 * wait).  Returns how many, or 0 when none came in time or the reader
 * stopped.
 */
unsigned int kmig_retpath_take_requests(struct kmig_retpath *rp, struct kmig_retpath_req *out,
					unsigned int max, int timeout_ms);
/* main-channel bytes the destination acknowledged (postcopy's ACK), since the reader started */
uint64_t kmig_retpath_acked(struct kmig_retpath *rp);
/* requests that found the queue full, since the reader started */
uint64_t kmig_retpath_dropped(struct kmig_retpath *rp);
/* forgets every queued request (they came before postcopy began) */
void kmig_retpath_drop_requests(struct kmig_retpath *rp);
/* whether an answer of @type arrived that nobody consumed yet (no wait) */
bool kmig_retpath_peek(struct kmig_retpath *rp, uint16_t type);
/* 0 while the reader reads, else why it stopped (-errno) */
int kmig_retpath_closed(struct kmig_retpath *rp);
/*
 * Waits up to @timeout_ms for the next answer of @type.  0, or -errno with
 * @err filled: -EIO when the destination sent its error text, -ECONNRESET
 * when it closed the channel, -ETIMEDOUT, -ECANCELED once *@cancel is set.
 * @what names the wait in the texts ("verification", ...).
 */
int kmig_retpath_wait(struct kmig_retpath *rp, uint16_t type, int timeout_ms,
		      const _Atomic bool *cancel, const char *what, char *err, size_t n);
/*
 * After a failed send: waits up to @timeout_ms for the destination's error
 * text; true with "the destination failed: TEXT" in @err if it came.
 */
bool kmig_retpath_error(struct kmig_retpath *rp, int timeout_ms, char *err, size_t n);
/* the channel must be aborted or closed first (it ends the reader's read) */
void kmig_retpath_stop(struct kmig_retpath *rp);

#endif
