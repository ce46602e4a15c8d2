/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy.h: the convergence decision, as a hook of its own: after every
 * dirty sync the source asks its policy whether the rest now fits the
 * downtime limit (switch over) or whether to keep iterating, and what to
 * do about it (auto-converge throttling and the downtime guarantee plug in
 * here).  The policy sees measurements, never pages or channels.
 */
#ifndef KMIG_POLICY_H
#define KMIG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate.h"

/**
 * struct kmig_pass_result - what one pass measured
 * @pass:        its number (1, 2, ...)
 * @sent_bytes:  bytes the channels took during it
 * @ns:          how long it took
 * @dirty_pages: pages dirty at the sync that ended it
 * @bandwidth:   @sent_bytes per second
 */
struct kmig_pass_result {
	unsigned int pass;
	uint64_t sent_bytes;
	int64_t ns;
	uint64_t dirty_pages;
	uint64_t bandwidth;
};

/**
 * struct kmig_policy_ops - a convergence policy (called on the migration thread)
 * @name:       for logs
 * @after_pass: true to switch over now; false to run another pass, with
 *              @why saying what stands in the way (may be empty)
 */
struct kmig_policy_ops {
	const char *name;
	bool (*after_pass)(const struct kmig_pass_result *r, const struct kmig_tuning *t,
			   char *why, size_t n);
};

/* QEMU's rule: switch over when the dirty bytes fit bandwidth x downtime-limit */
extern const struct kmig_policy_ops kmig_policy_threshold;

#endif
