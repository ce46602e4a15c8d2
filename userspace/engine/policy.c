// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy.c: the default convergence policy (policy.h): QEMU's threshold.
 * The rest of the dirty set is sent with the workload stopped, so it must
 * fit in downtime-limit at the bandwidth the last pass measured.
 */
#include <stdio.h>

#include "pagehash.h"
#include "policy.h"

static bool threshold_after_pass(const struct kmig_pass_result *r, const struct kmig_tuning *t,
				 char *why, size_t n)
{
	uint64_t dirty = r->dirty_pages * KMIG_PAGE_SIZE;
	uint64_t fits = r->bandwidth * t->downtime_limit_ms / 1000;

	if (dirty <= fits)
		return true;
	snprintf(why, n, "%llu dirty bytes do not fit %llu ms at %llu bytes/s",
		 (unsigned long long)dirty, (unsigned long long)t->downtime_limit_ms,
		 (unsigned long long)r->bandwidth);
	return false;
}

const struct kmig_policy_ops kmig_policy_threshold = {
	.name = "threshold",
	.after_pass = threshold_after_pass,
};
