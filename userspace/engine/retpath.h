/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * retpath.h: the source's return path: a reader thread of its own reads
 * every record the destination sends on the main channel, at any time, so
 * a destination that fails is heard as its own error text (not as a broken
 * pipe) and later answers (postcopy page requests) have a place to go.
 * The migration thread waits here for the answers it needs.
 */
#ifndef KMIG_RETPATH_H
#define KMIG_RETPATH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "wire.h"
#include "xport.h"

/**
 * struct kmig_retpath - the reader and what it has heard
 * @c:       the main channel (read by the reader thread only)
 * @got:     per answer type (ACCEPT, VERIFIED, RESUMED): how many arrived
 * @used:    how many of them a waiter consumed
 * @error:   the destination's error text ("" if none came)
 * @closed:  0 while reading, else why the reader stopped (-errno)
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
};

/* starts the reader on @c; 0 or -errno */
int kmig_retpath_start(struct kmig_retpath *rp, struct kmig_chan *c);
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
