/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * clock.h: the one monotonic clock the agent measures time with (timings,
 * deadlines, rate limiting), so every part of it agrees on "now".
 */
#ifndef KMIG_CLOCK_H
#define KMIG_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t kmig_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static inline int64_t kmig_now_ms(void)
{
	return kmig_now_ns() / 1000000;
}

#endif
