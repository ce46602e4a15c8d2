/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tracker.h: the dirty-page tracker interface.  A tracker watches one RAM
 * block as the *workload* maps it and reports which pages were written
 * since the last harvest.  Back ends (uffd-wp now; kmod and eBPF later)
 * implement struct kmig_tracker_ops; the engine only sees this header.
 *
 * Threading: a tracker instance is used by one thread at a time (the
 * migration thread); back ends need no locking of their own.
 */
#ifndef KMIG_TRACKER_H
#define KMIG_TRACKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * struct kmig_track_target - what to track
 * @pid:    the workload process whose page tables are watched
 * @uffd:   a userfaultfd the workload created (UFFD_USER_MODE_ONLY), or -1;
 *          the tracker does UFFDIO_API/REGISTER on it and does not close it
 * @addr:   start of the block in the workload's address space (page aligned)
 * @len:    bytes (page multiple)
 * @uffd_api_done: in/out, may be NULL: whether UFFDIO_API already ran on
 *          @uffd.  A uffd takes UFFDIO_API once in its life, but can be
 *          registered again after an unregister; the owner keeps this flag
 *          with the fd so a second migration of the same workload (after a
 *          failed or cancelled one) can track it again.
 */
struct kmig_track_target {
	pid_t pid;
	int uffd;
	uint64_t addr;
	uint64_t len;
	bool *uffd_api_done;
};

struct kmig_tracker;

/**
 * struct kmig_tracker_ops - one tracker back end
 * @name:    "uffd-wp", "kmod", "bpf", ... (reported in query-migrate)
 * @probe:   0 if usable on this kernel for @t, else -errno; may not be NULL.
 *           Must observe a real write where it can, not trust return codes.
 * @open:    set up tracking of @t into @tr->priv; 0 or -errno.  Does not
 *           arm: nothing is write-protected yet.
 * @harvest: get-and-clear: ORs into @bitmap (bit i = page i of the block)
 *           every page written since the previous harvest (the first call
 *           after open reports every page: it is the arm step), and
 *           re-protects them.  Returns the number of pages it reported
 *           (counted even if the caller's bit was already set), or -errno;
 *           -ESRCH once the workload has exited or exec'd.  After an error
 *           the next successful call reports every page again (re-arm).
 * @close:   undo open (un-protect, unregister); accepts a half-opened
 *           tracker; the workload keeps running unaffected.
 */
struct kmig_tracker_ops {
	const char *name;
	int (*probe)(const struct kmig_track_target *t);
	int (*open)(struct kmig_tracker *tr, const struct kmig_track_target *t);
	long (*harvest)(struct kmig_tracker *tr, uint64_t *bitmap, uint64_t npages);
	void (*close)(struct kmig_tracker *tr);
};

/** struct kmig_tracker - one tracked block */
struct kmig_tracker {
	const struct kmig_tracker_ops *ops;
	struct kmig_track_target t;
	void *priv;
};

extern const struct kmig_tracker_ops kmig_track_uffd_ops;

/*
 * Opens a tracker for @t with the back end named @name ("auto" = the first
 * whose probe passes, in order of preference).  Returns 0 or -errno; logs
 * each probe result.
 */
int kmig_tracker_open(struct kmig_tracker *tr, const char *name,
		      const struct kmig_track_target *t);
long kmig_tracker_harvest(struct kmig_tracker *tr, uint64_t *bitmap, uint64_t npages);
void kmig_tracker_close(struct kmig_tracker *tr);

#endif
