// SPDX-License-Identifier: GPL-2.0-only
/* ratelimit.c: the token bucket of ratelimit.h. */
#include <time.h>

#include "ratelimit.h"

#define WINDOW_NS 100000000ll	/* burst: one 100 ms window's worth */
#define SLICE_NS  5000000ll	/* sleep at most 5 ms at a time, to see cancel */

bool kmig_ratelimit_wait(struct kmig_ratelimit *rl, uint64_t bytes, uint64_t rate,
			 const _Atomic bool *stop)
{
	if (!rate) {
		rl->last_ns = 0;
		return !*stop;
	}
	for (;;) {
		int64_t now = kmig_now_ns();
		double burst = (double)rate * WINDOW_NS / 1e9;

		if (!rl->last_ns) {
			rl->last_ns = now;
			rl->tokens = 0;
		}
		rl->tokens += (double)rate * (now - rl->last_ns) / 1e9;
		if (rl->tokens > burst + bytes)
			rl->tokens = burst + bytes;
		rl->last_ns = now;
		if (*stop)
			return false;
		if (rl->tokens >= bytes) {
			rl->tokens -= bytes;
			return true;
		}
		int64_t need = (int64_t)((bytes - rl->tokens) * 1e9 / rate);
		struct timespec ts = { 0, need < SLICE_NS ? need : SLICE_NS };

		nanosleep(&ts, NULL);
	}
}
