/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * converge.h: the convergence policy, a hook of its own: after every dirty
 * sync the source hands it what the sync and the pass measured, and it
 * decides whether the rest now fits the downtime limit (switch over) and
 * what the workload's throttle should be (auto-converge).  It sees
 * measurements and a clock, never pages or channels, so its rules are
 * tested against a simulated clock (tests/unit/test_converge.c).
 *
 * Two rules, QEMU's and kmig's own:
 *  - the switch-over threshold (QEMU): the dirty bytes fit in the last
 *    pass's bandwidth x downtime-limit;
 *  - with x-kmig-downtime-guarantee: they fit in half of that (the other
 *    half is the stated margin for the pause, the device state, the
 *    hand-over and a bandwidth that drops), and while they do not, the
 *    migration keeps iterating -- throttling further, with auto-converge.
 * Auto-converge is QEMU's rule exactly (see kmig_converge_sync).
 * Leaving precopy for postcopy is asked here too
 * (kmig_converge_leave_for_postcopy), after a sync that did not converge.
 */
#ifndef KMIG_CONVERGE_H
#define KMIG_CONVERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* the guarantee uses this share of the downtime limit for the last pages */
#define KMIG_GUARANTEE_SHARE_PCT 50

/**
 * struct kmig_converge_cfg - the capabilities and parameters it reads
 * (re-read at every sync: they may change while a migration runs)
 */
struct kmig_converge_cfg {
	bool auto_converge;		/* capability auto-converge */
	bool guarantee;			/* capability x-kmig-downtime-guarantee */
	uint64_t downtime_limit_ms;
	unsigned int trigger_threshold;	/* throttle-trigger-threshold, % */
	unsigned int throttle_initial;	/* cpu-throttle-initial, % */
	unsigned int throttle_increment;	/* cpu-throttle-increment, % */
	unsigned int max_throttle;	/* max-cpu-throttle, % */
	bool tailslow;			/* cpu-throttle-tailslow */
};

/**
 * struct kmig_sync_sample - what one dirty sync measured
 * @now_ms:      when it happened (a monotonic clock)
 * @transferred: bytes sent since the migration started
 * @dirty_pages: pages the sync found dirty (all sent before it: new ones)
 * @bandwidth:   bytes per second the pass that ended with it achieved
 */
struct kmig_sync_sample {
	int64_t now_ms;
	uint64_t transferred;
	uint64_t dirty_pages;
	uint64_t bandwidth;
};

/**
 * struct kmig_converge - the policy's state for one migration
 * @period_start_ms, @xfer_prev, @dirty_period: QEMU's period counters: a
 *               period ends at the first sync at least 1 s after it began
 * @high_periods: periods in a row whose dirtying beat the threshold
 * @throttle:    the throttle now, % (0: none)
 * @why:         why it has not switched over yet ("" once it did)
 */
struct kmig_converge {
	int64_t period_start_ms;
	uint64_t xfer_prev;
	uint64_t dirty_period;
	unsigned int high_periods;
	unsigned int throttle;
	char why[256];
};

/* a fresh state, its first period starting now (after the arm sync) */
void kmig_converge_init(struct kmig_converge *c, int64_t now_ms, uint64_t transferred);
/*
 * After a sync: updates the throttle (auto-converge) and returns true to
 * switch over now.  The caller applies c->throttle to the workload when it
 * changed.
 */
bool kmig_converge_sync(struct kmig_converge *c, const struct kmig_converge_cfg *cfg,
			const struct kmig_sync_sample *s);
/*
 * After a sync that did not converge: whether to leave precopy for
 * postcopy now.  QEMU's rule: only when asked (migrate-start-postcopy,
 * @requested), and never when the rest fits the downtime limit (then the
 * migration completes as precopy, which kmig_converge_sync said first).
 */
bool kmig_converge_leave_for_postcopy(struct kmig_converge *c, bool requested);

#endif
