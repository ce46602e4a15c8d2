// SPDX-License-Identifier: GPL-2.0-only
/* ratelimit.c: the token bucket of ratelimit.h. */
#include <time.h>

#include "ratelimit.h"

#define WINDOW_NS 100000000ll	/* burst: one 100 ms window's worth */
#define SLICE_NS  5000000ll	/* sleep at most 5 ms at a time, to see cancel */

/* tops the bucket up to now; @rate non-zero */
static void refill(struct kmig_ratelimit *rl, uint64_t bytes, uint64_t rate)
{
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
}

int64_t kmig_ratelimit_try(struct kmig_ratelimit *rl, uint64_t bytes, uint64_t rate)
{
	if (!rate) {
		rl->last_ns = 0;
		return 0;
	}
	refill(rl, bytes, rate);
	if (rl->tokens >= bytes) {
		rl->tokens -= bytes;
		return 0;
	}
	return (int64_t)((bytes - rl->tokens) * 1e9 / rate) + 1;
}

void kmig_ratelimit_debit(struct kmig_ratelimit *rl, uint64_t bytes, uint64_t rate)
{
	if (!rate)
		return;
	refill(rl, bytes, rate);
	rl->tokens -= (double)bytes;
}

bool kmig_ratelimit_wait(struct kmig_ratelimit *rl, uint64_t bytes, uint64_t rate,
			 const _Atomic bool *stop)
{
	for (;;) {
		int64_t need;
		struct timespec ts = { 0, 0 };

		if (*stop)
			return false;
		need = kmig_ratelimit_try(rl, bytes, rate);
		if (!need)
			return true;
		ts.tv_nsec = need < SLICE_NS ? need : SLICE_NS;
		nanosleep(&ts, NULL);
	}
}
