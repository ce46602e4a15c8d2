// SPDX-License-Identifier: GPL-2.0-only
/*
 * dr_exact.c: the exact methods.  A dirty tracker is opened on the
 * workload exactly as a migration would open one (tracker.h), armed, and
 * harvested once more when the time is up: the pages it reports are the
 * pages dirtied in between, counted, not estimated.  dirty-bitmap uses the
 * tracker "auto" picks; dirty-ring (kmig: per thread) uses the bpf
 * tracker, whose per-thread counters, read right after the arm and right
 * after the last harvest, say which thread dirtied how many.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dirtyrate.h"
#include "track_bpf.h"
#include "tracker.h"

static int by_pages_desc(const void *a, const void *b)
{
	const struct kmig_dr_thread *x = a, *y = b;

	return x->pages < y->pages ? 1 : x->pages > y->pages ? -1 : (x->tid > y->tid) - (x->tid < y->tid);
}

/* @after - @before per thread, busiest first, into @r->threads; their sum
 * (all of them, also those past KMIG_DR_MAX_THREADS) into @r->dirty_pages */
static int thread_deltas(struct kmig_dr_result *r, const struct kmig_bpf_thread_pages *before,
			 long nb, const struct kmig_bpf_thread_pages *after, long na)
{
	unsigned int n = 0;

	r->threads = calloc(na ? (size_t)na : 1, sizeof(*r->threads));
	if (!r->threads)
		return -ENOMEM;
	for (long i = 0; i < na; i++) {
		uint64_t prev = 0;

		for (long j = 0; j < nb; j++)
			if (before[j].tid == after[i].tid)
				prev = before[j].pages;
		if (after[i].pages <= prev)
			continue;
		r->threads[n].tid = after[i].tid;
		r->threads[n].pages = after[i].pages - prev;
		r->dirty_pages += r->threads[n].pages;
		memcpy(r->threads[n].name, after[i].comm, sizeof(r->threads[n].name));
		r->threads[n].name[sizeof(r->threads[n].name) - 1] = 0;
		n++;
	}
	qsort(r->threads, n, sizeof(*r->threads), by_pages_desc);
	r->nthreads = n < KMIG_DR_MAX_THREADS ? n : KMIG_DR_MAX_THREADS;
	return 0;
}

/*
 * Pages dirtied with no fault of a thread (the kernel's get_user_pages
 * writes: O_DIRECT/io_uring reads, /proc/PID/mem): one more entry, tid 0,
 * so the threads still add up to the total.  @r->threads has room: it was
 * sized for every thread and is cut at KMIG_DR_MAX_THREADS only.
 */
static void add_unattributed(struct kmig_dr_result *r, uint64_t pages)
{
	struct kmig_dr_thread *t;

	if (r->nthreads == KMIG_DR_MAX_THREADS)
		r->nthreads--;		/* the least busy one makes room */
	t = realloc(r->threads, (r->nthreads + 1) * sizeof(*t));
	if (!t)
		return;
	r->threads = t;
	t[r->nthreads] = (struct kmig_dr_thread){ .tid = 0, .pages = pages };
	snprintf(t[r->nthreads].name, sizeof(t[r->nthreads].name), "[kernel gup]");
	r->nthreads++;
	r->dirty_pages += pages;
	qsort(r->threads, r->nthreads, sizeof(*r->threads), by_pages_desc);
}

/* per 2 MiB region of each block, the pages set in its bitmap */
static void heat_map(struct kmig_dr_result *r, uint64_t *const *bm)
{
	const unsigned int words_per_region = 1u << (KMIG_DR_REGION_SHIFT - 12 - 6);

	for (unsigned int b = 0; b < r->nblocks; b++) {
		struct kmig_dr_block_result *br = &r->blocks[b];
		uint64_t words = (br->size / 4096 + 63) / 64;

		for (uint64_t w = 0; w < words; w++) {
			int32_t c = __builtin_popcountll(bm[b][w]);

			br->regions[w / words_per_region] += c;
			br->dirty_pages += (uint64_t)c;
		}
	}
}

int kmig_dr_measure_exact(struct kmig_dirtyrate *d, struct kmig_dr_target *t,
			  enum kmig_dr_mode mode, int64_t calc_ms, struct kmig_dr_result *r)
{
	struct kmig_track_range ranges[KMIG_DR_MAX_BLOCKS];
	struct kmig_track_target tt = { .pid = t->pid, .nranges = t->nblocks, .ranges = ranges };
	const char *name = mode == KMIG_DR_PER_THREAD ? "bpf" : "auto";
	struct kmig_bpf_thread_pages *before = NULL, *after = NULL;
	uint64_t *bm[KMIG_DR_MAX_BLOCKS] = { NULL };
	struct kmig_trackset *ts = calloc(1, sizeof(*ts));
	struct kmig_track_bpf_stats bs0 = { 0 }, bs1 = { 0 };
	long nb = 0, na = 0, n;
	int64_t t0, t1;
	int err = 0;

	if (!ts || kmig_dr_blocks_init(r, t)) {
		free(ts);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < t->nblocks; i++) {
		ranges[i] = (struct kmig_track_range){ .name = t->blocks[i].name,
			.addr = t->blocks[i].addr, .len = t->blocks[i].size,
			.memfd = t->blocks[i].memfd, .uffd = t->blocks[i].uffd,
			.uffd_api_done = &t->blocks[i].uffd_api_done };
		bm[i] = calloc((t->blocks[i].size / 4096 + 63) / 64, sizeof(uint64_t));
		if (!bm[i])
			err = -ENOMEM;
	}
	if (mode == KMIG_DR_PER_THREAD) {
		before = calloc(KMIG_BPF_DIRTY_MAX_THREADS, sizeof(*before));
		after = calloc(KMIG_BPF_DIRTY_MAX_THREADS, sizeof(*after));
		if (!before || !after)
			err = -ENOMEM;
	}
	if (err)
		goto out_free;
	err = kmig_trackset_open(ts, name, &tt, r->error, sizeof(r->error));
	if (err) {
		const char *why = mode == KMIG_DR_PER_THREAD ? kmig_track_bpf_unavailable() : NULL;
		size_t l = strlen(r->error);

		if (why)
			snprintf(r->error + l, sizeof(r->error) - l, ": %s", why);
		goto out_free;
	}
	snprintf(r->tracker, sizeof(r->tracker), "%s", ts->name);

	n = kmig_trackset_harvest(ts, bm, r->error, sizeof(r->error));	/* the arm */
	if (n >= 0 && mode == KMIG_DR_PER_THREAD) {
		n = nb = kmig_trackset_bpf_threads(ts, before, KMIG_BPF_DIRTY_MAX_THREADS);
		kmig_track_bpf_stats(&ts->tr[0], &bs0);
	}
	if (n < 0) {
		err = (int)n;
		goto out;
	}
	t0 = kmig_now_ns();	/* per thread: the window is from this read of the counters */
	if (!kmig_dr_wait(d, t0 + calc_ms * 1000000)) {
		snprintf(r->error, sizeof(r->error), "kmigd is shutting down");
		err = -ECANCELED;
		goto out;
	}
	for (unsigned int i = 0; i < t->nblocks; i++)
		memset(bm[i], 0, (t->blocks[i].size / 4096 + 63) / 64 * sizeof(uint64_t));
	t1 = kmig_now_ns();
	n = kmig_trackset_harvest(ts, bm, r->error, sizeof(r->error));
	if (n >= 0 && mode == KMIG_DR_PER_THREAD) {
		na = kmig_trackset_bpf_threads(ts, after, KMIG_BPF_DIRTY_MAX_THREADS);
		t1 = kmig_now_ns();	/* ... to this one */
		kmig_track_bpf_stats(&ts->tr[0], &bs1);
	}
	if (n < 0 || na < 0) {
		err = n < 0 ? (int)n : (int)na;
		goto out;
	}
	r->calc_ms = (t1 - t0) / 1000000;
	heat_map(r, bm);
	r->dirty_pages = (uint64_t)n;
	if (mode == KMIG_DR_PER_THREAD) {
		/*
		 * As QEMU's dirty-ring mode, the total is the threads' sum: the
		 * counters and the bitmap are read at slightly different
		 * moments (a re-protect apart), and the total must add up.
		 */
		r->dirty_pages = 0;
		err = thread_deltas(r, before, nb < KMIG_BPF_DIRTY_MAX_THREADS ? nb :
				    KMIG_BPF_DIRTY_MAX_THREADS, after,
				    na < KMIG_BPF_DIRTY_MAX_THREADS ? na : KMIG_BPF_DIRTY_MAX_THREADS);
		if (!err && bs1.unattributed > bs0.unattributed)
			add_unattributed(r, bs1.unattributed - bs0.unattributed);
	}
out:
	kmig_trackset_close(ts);
out_free:
	free(ts);
	free(before);
	free(after);
	for (unsigned int i = 0; i < t->nblocks; i++)
		free(bm[i]);
	return err;
}
