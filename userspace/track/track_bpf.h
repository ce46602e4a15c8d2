/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * track_bpf.h: what the "bpf" tracker back end knows beyond tracker.h:
 * which threads dirtied the pages (counted in the kernel), and where its
 * harvest time goes.  tracker.h stays the engine's fixed interface; these
 * calls take a tracker (or trackset) opened through it and answer -ENOTSUP
 * for any other back end.  Threading as in tracker.h: call them on the
 * thread that harvests, e.g. right after each harvest.
 */
#ifndef KMIG_TRACK_BPF_H
#define KMIG_TRACK_BPF_H

#include <stddef.h>
#include <stdint.h>

#include "bpf_dirty.h"
#include "tracker.h"

extern const struct kmig_tracker_ops kmig_track_bpf_ops;

/**
 * struct kmig_track_bpf_stats - the bpf back end's own counters
 * @take_ns:      time spent swapping the kernel bitmap out, summed
 * @protect_ns:   time spent write-protecting the blocks again, summed
 * @write_faults: write faults the program saw inside the blocks
 * @pages_dirtied: page bits it set (each also credited to a thread, or
 *                to @threads_lost when its thread table was full)
 * @threads_lost: see @pages_dirtied
 * @unattributed: pages the harvests reported (PAGEMAP_SCAN) that no fault
 *                of the workload's threads marked: written by the kernel
 *                through get_user_pages (O_DIRECT/io_uring reads into the
 *                block, /proc/PID/mem, process_vm_writev)
 */
struct kmig_track_bpf_stats {
	uint64_t take_ns;
	uint64_t protect_ns;
	uint64_t write_faults;
	uint64_t pages_dirtied;
	uint64_t threads_lost;
	uint64_t unattributed;
};

/*
 * The workload's threads that dirtied pages since @tr was opened, with
 * the pages each dirtied first (struct kmig_bpf_thread_pages); up to @n go
 * to @out.  Returns the number of threads (may exceed @n), or -errno;
 * -ENOTSUP if @tr is not a bpf tracker.  A per-thread dirty rate is the
 * difference of two calls divided by the time between them.
 */
long kmig_track_bpf_threads(struct kmig_tracker *tr, struct kmig_bpf_thread_pages *out,
			    size_t n);
int kmig_track_bpf_stats(struct kmig_tracker *tr, struct kmig_track_bpf_stats *st);

/* The same for the bpf tracker of a trackset, if it has one (-ENOTSUP). */
long kmig_trackset_bpf_threads(struct kmig_trackset *s, struct kmig_bpf_thread_pages *out,
			       size_t n);

/*
 * Why the bpf back end cannot be used here (its probe's one sentence), or
 * NULL when it can or has not been probed yet.
 */
const char *kmig_track_bpf_unavailable(void);

#endif
