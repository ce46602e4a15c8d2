// SPDX-License-Identifier: GPL-2.0-only
/*
 * converge.c: the convergence policy of converge.h.  Auto-converge follows
 * QEMU's rule: a period ends at the first dirty sync at least a second
 * after it began; if the bytes dirtied during it exceed
 * throttle-trigger-threshold % of the bytes sent during it, that counts,
 * and on the second such period (the count resets only when the throttle
 * moves) the throttle starts at cpu-throttle-initial or grows by
 * cpu-throttle-increment (with cpu-throttle-tailslow: only as far as the
 * measured dirtying needs), never above max-cpu-throttle, always 1..99.
 */
#include <stdio.h>
#include <string.h>

#include "converge.h"

#define PAGE_SIZE     4096ull
#define PERIOD_MS     1000
#define THROTTLE_MIN  1u	/* QEMU's CPU_THROTTLE_PCT_MIN */
#define THROTTLE_MAX  99u	/* QEMU's CPU_THROTTLE_PCT_MAX */

void kmig_converge_init(struct kmig_converge *c, int64_t now_ms, uint64_t transferred)
{
	memset(c, 0, sizeof(*c));
	c->period_start_ms = now_ms;
	c->xfer_prev = transferred;
}

/* QEMU's mig_throttle_guest_down */
static void throttle_down(struct kmig_converge *c, const struct kmig_converge_cfg *cfg,
			  uint64_t dirty_bytes, uint64_t threshold_bytes)
{
	unsigned int next;

	if (!c->throttle) {
		next = cfg->throttle_initial;
	} else {
		uint64_t inc = cfg->throttle_increment;

		if (cfg->tailslow && dirty_bytes) {
			/* the share of CPU that would make the dirtying match the threshold */
			uint64_t cpu_now = 100 - c->throttle;
			uint64_t cpu_ideal = (uint64_t)(cpu_now * ((double)threshold_bytes /
								    (double)dirty_bytes));

			if (cpu_now - cpu_ideal < inc)
				inc = cpu_now - cpu_ideal;
		}
		next = c->throttle + (unsigned int)inc;
		if (next > cfg->max_throttle)
			next = cfg->max_throttle;
	}
	if (next > THROTTLE_MAX)
		next = THROTTLE_MAX;
	if (next < THROTTLE_MIN)
		next = THROTTLE_MIN;
	c->throttle = next;
}

bool kmig_converge_sync(struct kmig_converge *c, const struct kmig_converge_cfg *cfg,
			const struct kmig_sync_sample *s)
{
	uint64_t dirty = s->dirty_pages * PAGE_SIZE;
	uint64_t fits = s->bandwidth * cfg->downtime_limit_ms / 1000;
	bool period_ended = false, throttled = false;

	c->dirty_period += s->dirty_pages;
	if (s->now_ms > c->period_start_ms + PERIOD_MS) {
		uint64_t xfer = s->transferred - c->xfer_prev;
		uint64_t dirty_period = c->dirty_period * PAGE_SIZE;
		uint64_t threshold = xfer * cfg->trigger_threshold / 100;

		if (cfg->auto_converge && dirty_period > threshold && ++c->high_periods >= 2) {
			c->high_periods = 0;
			throttle_down(c, cfg, dirty_period, threshold);
			throttled = true;
		}
		c->period_start_ms = s->now_ms;
		c->dirty_period = 0;
		c->xfer_prev = s->transferred;
		period_ended = true;
	}
	if (!cfg->guarantee) {
		if (dirty <= fits) {
			c->why[0] = 0;
			return true;
		}
		snprintf(c->why, sizeof(c->why), "%llu dirty bytes do not fit %llu ms at %llu "
			 "bytes/s", (unsigned long long)dirty,
			 (unsigned long long)cfg->downtime_limit_ms,
			 (unsigned long long)s->bandwidth);
		return false;
	}
	fits = fits * KMIG_GUARANTEE_SHARE_PCT / 100;
	if (dirty <= fits) {
		c->why[0] = 0;
		return true;
	}
	snprintf(c->why, sizeof(c->why), "downtime guarantee: %llu dirty bytes need %llu ms at "
		 "%llu bytes/s, more than %u%% of the %llu ms limit",
		 (unsigned long long)dirty,
		 (unsigned long long)(s->bandwidth ? dirty * 1000 / s->bandwidth : 0),
		 (unsigned long long)s->bandwidth, KMIG_GUARANTEE_SHARE_PCT,
		 (unsigned long long)cfg->downtime_limit_ms);
	/* keep iterating, and with auto-converge slow the workload further, once a period */
	if (cfg->auto_converge && period_ended && !throttled &&
	    (!c->throttle || c->throttle < cfg->max_throttle))
		throttle_down(c, cfg, dirty, fits);
	return false;
}

bool kmig_converge_leave_for_postcopy(struct kmig_converge *c, bool requested)
{
	if (!requested)
		return false;
	snprintf(c->why, sizeof(c->why), "switching to postcopy (migrate-start-postcopy)");
	return true;
}
