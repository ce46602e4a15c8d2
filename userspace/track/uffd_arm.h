/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * uffd_arm.h: the uffd-wp back end's arming code (track_uffd.c), shared
 * with back ends that learn *which* pages were written some other way but
 * still need the workload's pages write-protected so that every first
 * write after a harvest faults (track_bpf.c).  One instance per block.
 */
#ifndef KMIG_UFFD_ARM_H
#define KMIG_UFFD_ARM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct kmig_uffd_arm;

/*
 * Registers [@addr, @addr + @len) of process @pid for async write-protect
 * on the workload's userfaultfd @uffd, exactly as the uffd-wp back end
 * does (same checks that the uffd is @pid's; @uffd_api_done as in
 * struct kmig_track_range).  Nothing is protected yet.  Returns the
 * instance, or NULL with *@err = -errno (the failing step is logged).
 */
struct kmig_uffd_arm *kmig_uffd_arm_open(pid_t pid, int uffd, uint64_t addr, uint64_t len,
					 bool *uffd_api_done, int *err);

/*
 * The uffd-wp back end's harvest of this block: ORs into @bm every page
 * written since the previous call (every page, the first time: the arm
 * step) and write-protects them again, in PAGEMAP_SCAN calls.  Returns
 * the pages reported, or -errno (-ESRCH: the workload is gone).
 */
long kmig_uffd_arm_scan(struct kmig_uffd_arm *a, uint64_t *bm);

/*
 * Write-protects again, in one PAGEMAP_SCAN call over the whole block,
 * every page written since the previous call (every page, the first
 * time), reporting nothing: cheaper than kmig_uffd_arm_scan(), but it
 * forgets which pages were written; only for a caller that knows them
 * from elsewhere, completely.  0, or -errno (-ESRCH: the workload is gone).
 */
int kmig_uffd_arm_reprotect(struct kmig_uffd_arm *a);

/* The next kmig_uffd_arm_scan() is an arm step again (reports every page). */
void kmig_uffd_arm_reset(struct kmig_uffd_arm *a);

/* Unregisters (which also drops the protection) and frees; accepts NULL. */
void kmig_uffd_arm_close(struct kmig_uffd_arm *a, bool quiet);

#endif
