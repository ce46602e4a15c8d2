/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ratelimit.h: max-bandwidth enforcement as a token bucket refilled
 * continuously at the configured rate, with a burst of one 100 ms window
 * (QEMU's window).  The rate is re-read at every call, so a
 * migrate-set-parameters during a migration takes effect at once.
 */
#ifndef KMIG_RATELIMIT_H
#define KMIG_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "clock.h"

struct kmig_ratelimit {
	double tokens;		/* bytes that may go out now */
	int64_t last_ns;	/* when tokens were last refilled */
};

/*
 * Blocks until @bytes may be sent at @rate bytes/s (0 = unlimited).
 * Sleeps in short slices and returns early (false) once *@stop is set.
 */
bool kmig_ratelimit_wait(struct kmig_ratelimit *rl, uint64_t bytes, uint64_t rate,
			 const _Atomic bool *stop);
/*
 * Without waiting: 0 when @bytes may go now (they are taken from the
 * bucket), else the nanoseconds until they may.  For a sender with other
 * work to do meanwhile (postcopy serves page requests while it waits).
 */
int64_t kmig_ratelimit_try(struct kmig_ratelimit *rl, uint64_t bytes, uint64_t rate);
/* @bytes went out regardless (pages a destination waits for): the bucket owes them */
void kmig_ratelimit_debit(struct kmig_ratelimit *rl, uint64_t bytes, uint64_t rate);

#endif
