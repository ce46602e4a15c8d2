/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tracker.h: the dirty-page tracker interface.  One tracker instance
 * watches one workload *process* and a list of ranges in it (its RAM
 * blocks, as the workload maps them), and reports which pages of each were
 * written since the last harvest.  Back ends (uffd-wp, kmod, bpf, ...)
 * implement struct kmig_tracker_ops; the engine only sees this header.
 *
 * Threading: a tracker instance is used by one thread at a time (the
 * migration thread); back ends need no locking of their own.
 */
#ifndef KMIG_TRACKER_H
#define KMIG_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KMIG_TRACK_PAGE_SHIFT 12
#define KMIG_TRACK_MAX_RANGES 64
#define KMIG_TRACK_MAX_BACKENDS 4

/**
 * struct kmig_track_range - one RAM block of the tracked process
 * @name:  the block's name (for logs and error texts); must outlive the tracker
 * @addr:  start of the block in the workload's address space (page aligned)
 * @len:   bytes (page multiple)
 * @memfd: the block's memfd, as kmigd holds it, or -1.  Trackers that work
 *         on the file (by offset) rather than on the process use it.
 * @uffd:  a userfaultfd the workload created (UFFD_USER_MODE_ONLY), or -1;
 *         the uffd-wp back end does UFFDIO_API/REGISTER on it and does not
 *         close it
 * @uffd_api_done: in/out, may be NULL: whether UFFDIO_API already ran on
 *         @uffd.  A uffd takes UFFDIO_API once in its life but can be
 *         registered again after an unregister; the owner keeps this flag
 *         with the fd so a second migration of the same workload (after a
 *         failed or cancelled one) can track it again.
 */
struct kmig_track_range {
	const char *name;
	uint64_t addr;
	uint64_t len;
	int memfd;
	int uffd;
	bool *uffd_api_done;
};

/**
 * struct kmig_track_target - what to track
 * @pid:     the workload process whose writes are watched
 * @nranges: entries in @ranges (1..KMIG_TRACK_MAX_RANGES)
 * @ranges:  the blocks
 */
struct kmig_track_target {
	pid_t pid;
	unsigned int nranges;
	const struct kmig_track_range *ranges;
};

/**
 * struct kmig_track_stats - what a back end measured (all optional: 0)
 * @harvests:       successful harvests
 * @pages_scanned:  pages looked at, summed over harvests
 * @pages_dirty:    pages reported dirty, summed over harvests
 * @harvest_ns:     time spent in harvests, summed
 * @last_harvest_ns: time of the last harvest
 */
struct kmig_track_stats {
	uint64_t harvests;
	uint64_t pages_scanned;
	uint64_t pages_dirty;
	uint64_t harvest_ns;
	uint64_t last_harvest_ns;
};

/* for back ends: counts one harvest that began at @t0_ns (kmig_now_ns) and found @dirty */
void kmig_track_stats_harvest(struct kmig_track_stats *st, int64_t t0_ns, uint64_t dirty);

/**
 * struct kmig_track_thread - what one thread of the workload dirtied, for
 * back ends that see who writes
 * @tid:   thread id (in the workload's pid namespace)
 * @pages: pages it dirtied first, summed since the tracker opened
 * @name:  its name when it first dirtied a page
 */
struct kmig_track_thread {
	uint32_t tid;
	uint64_t pages;
	char name[16];
};

struct kmig_tracker;

/**
 * struct kmig_tracker_ops - one tracker back end.  Every hook is called on
 * the migration thread; none may be NULL except @stats.
 * @name:    "uffd-wp", "kmod", "bpf", ... (reported in query-migrate and
 *           accepted by the x-kmig-tracker parameter)
 * @probe:   0 if usable on this kernel for every range of @t, else -errno.
 *           Must observe a real write where it can, not trust return codes.
 * @open:    set up tracking of @t into @tr->priv; 0 or -errno.  Does not
 *           arm: nothing is write-protected or cleaned yet.
 * @harvest: get-and-clear: ORs into @bitmaps[i] (bit p = page p of range i,
 *           len >> 12 bits) every page written since the previous harvest
 *           (the first call after open reports every page: it is the arm
 *           step), and re-arms them.  Returns the number of pages it
 *           reported (counted even if the caller's bit was already set), or
 *           -errno; -ESRCH once the workload has exited or exec'd.  After an
 *           error the next successful call reports every page again.
 * @close:   undo open; accepts a half-opened tracker; the workload keeps
 *           running unaffected.
 * @stats:   optional: fills @st; 0 or -errno.
 * @threads: optional: up to @n of the threads that dirtied pages, into
 *           @out; returns how many there are (may exceed @n) or -errno.
 */
struct kmig_tracker_ops {
	const char *name;
	int (*probe)(const struct kmig_track_target *t);
	int (*open)(struct kmig_tracker *tr, const struct kmig_track_target *t);
	long (*harvest)(struct kmig_tracker *tr, uint64_t *const *bitmaps);
	void (*close)(struct kmig_tracker *tr);
	int (*stats)(struct kmig_tracker *tr, struct kmig_track_stats *st);
	long (*threads)(struct kmig_tracker *tr, struct kmig_track_thread *out, size_t n);
};

/**
 * struct kmig_tracker - one open tracker
 * @ops:    its back end
 * @target: a copy of what it tracks (@target.ranges points to @ranges)
 * @ranges: the ranges' copy
 * @priv:   the back end's state
 */
struct kmig_tracker {
	const struct kmig_tracker_ops *ops;
	struct kmig_track_target target;
	struct kmig_track_range ranges[KMIG_TRACK_MAX_RANGES];
	void *priv;
};

extern const struct kmig_tracker_ops kmig_track_uffd_ops;

/* The back ends compiled in, in order of preference; NULL-terminated. */
extern const struct kmig_tracker_ops *const kmig_trackers[];

/* The back end named @name, or NULL. */
const struct kmig_tracker_ops *kmig_tracker_find(const char *name);

/*
 * Opens one tracker for all of @t with the back end named @name ("auto" =
 * the first whose probe passes, in order of preference).  Returns 0 or
 * -errno; logs each probe result.
 */
int kmig_tracker_open(struct kmig_tracker *tr, const char *name,
		      const struct kmig_track_target *t);
long kmig_tracker_harvest(struct kmig_tracker *tr, uint64_t *const *bitmaps);
/* 0 and @st filled, -ENOTSUP without a stats hook */
int kmig_tracker_stats(struct kmig_tracker *tr, struct kmig_track_stats *st);
void kmig_tracker_close(struct kmig_tracker *tr);

/**
 * struct kmig_trackset - the trackers of one workload process
 * @n:      trackers open
 * @tr:     the trackers (each for a subset of the ranges)
 * @map:    for range i of the target: which tracker (index into @tr) and
 *          which range of it (@slot)
 * @name:   what query-migrate reports: "uffd-wp", or "kmod(ram0)+uffd-wp(ram1)"
 *          when blocks are tracked by different back ends
 *
 * A named back end must serve every block.  "auto" uses the most preferred
 * back end that serves them all; only where none does, each block gets the
 * most preferred back end that serves it, and the name says which.
 */
struct kmig_trackset {
	unsigned int n;
	struct kmig_tracker tr[KMIG_TRACK_MAX_BACKENDS];
	struct {
		unsigned int tracker;
		unsigned int slot;
	} map[KMIG_TRACK_MAX_RANGES];
	unsigned int nranges;
	char name[256];
};

/* 0 or -errno with @err (a sentence) filled */
int kmig_trackset_open(struct kmig_trackset *s, const char *name,
		       const struct kmig_track_target *t, char *err, size_t errlen);
/* bitmaps[i]: range i of the target; pages reported or -errno (@err filled) */
long kmig_trackset_harvest(struct kmig_trackset *s, uint64_t *const *bitmaps, char *err,
			   size_t errlen);
/* sums every tracker's stats; 0, or -ENOTSUP if none has a stats hook */
int kmig_trackset_stats(struct kmig_trackset *s, struct kmig_track_stats *st);
/* the threads that dirtied pages, from the first tracker that knows; -ENOTSUP if none */
long kmig_trackset_threads(struct kmig_trackset *s, struct kmig_track_thread *out, size_t n);
void kmig_trackset_close(struct kmig_trackset *s);

#endif
