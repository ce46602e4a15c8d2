/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * throttle_cgroup.h: auto-converge for a workload that does not throttle
 * itself (no KMIG_WL_F_THROTTLE): kmigd puts the workload process in a
 * child cgroup of its own cgroup and caps its CPU with the cpu controller
 * (cgroup v2 cpu.max when a cgroup2 hierarchy has the cpu controller, else
 * v1 cpu.cfs_quota_us / cpu.cfs_period_us), and puts it back afterwards.
 * See docs/throttle.md for the quota rule and what happens if kmigd dies.
 *
 * The cgroup is named kmig-throttle.<kmigd pid>.<kmigd start time>.<workload
 * pid>, so that a later kmigd (kmig_cg_cleanup) or kmigd's reaper process
 * (kmig_cg_reaper_start) can find and undo what a dead kmigd left.
 */
#ifndef KMIG_THROTTLE_CGROUP_H
#define KMIG_THROTTLE_CGROUP_H

#include <stddef.h>
#include <sys/types.h>

#include "cgroup_fs.h"

#define KMIG_CG_PREFIX     "kmig-throttle."
#define KMIG_CG_PERIOD_US  100000	/* the CFS period we set (the kernel's default) */
#define KMIG_CG_MIN_QUOTA  1000		/* the kernel's smallest quota, us */
#define KMIG_CG_SAMPLE_MS  100		/* CPU use sampled before the first quota */

struct kmig_cg_throttle;

/*
 * Throttles process @pid to @pct % (1..99), creating the cgroup and moving
 * the process's threads there on the first call (*@cgp NULL), retuning the
 * quota after; @pct 0 removes it (kmig_cg_throttle_remove).  0 or -errno
 * with @err filled; on a failed first call nothing is left behind.
 */
int kmig_cg_throttle_set(struct kmig_cg_throttle **cgp, pid_t pid, unsigned int pct,
			 char *err, size_t n);
/*
 * Moves every thread in the cgroup back where it came from and removes the
 * cgroup; *@cgp becomes NULL.  NULL or *@cgp NULL: nothing to do, 0.
 * Errors are logged and returned (the cgroup may then remain, throttling
 * no one who could be moved out).
 */
int kmig_cg_throttle_remove(struct kmig_cg_throttle **cgp);
/* what a throttle looks like, for logs and tests (@path may be NULL) */
void kmig_cg_throttle_info(const struct kmig_cg_throttle *cg, unsigned int *mcpu,
			   long *quota_us, const char **path);

/*
 * Removes kmig-throttle cgroups, moving their tasks to the parent first:
 * those of owner @owner_pid started at @owner_start (clock ticks after boot,
 * /proc/PID/stat field 22), or with @owner_pid 0 every one whose kmigd is
 * no longer running (kmigd's start-up).  Returns how many were removed, or
 * -errno with @err filled (the walk goes on past errors).
 */
int kmig_cg_cleanup(pid_t owner_pid, unsigned long long owner_start, char *err, size_t n);

/*
 * Forks kmigd's reaper: a process that does nothing until kmigd is gone
 * (however it died: it waits for EOF on a pipe only kmigd holds), then
 * runs kmig_cg_cleanup for this kmigd and exits.  Call early, while the
 * process has one thread.  0 or -errno with @err filled.
 */
int kmig_cg_reaper_start(char *err, size_t n);

#endif
