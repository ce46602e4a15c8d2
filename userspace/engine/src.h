/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * src.h: what the source's files share: one source migration's state.
 * src.c runs the migration (connect, passes, switch-over, hand-over),
 * src_pages.c keeps the dirty bitmaps and page hashes, sender.c encodes
 * and sends pages over the channels, retpath.c reads the destination's
 * answers, policy.c decides when to switch over.
 */
#ifndef KMIG_SRC_H
#define KMIG_SRC_H

#include <stdbool.h>
#include <stdint.h>

#include "mig_internal.h"
#include "ratelimit.h"
#include "retpath.h"
#include "tracker.h"
#include "workload.h"

/**
 * struct kmig_srcblk - one block's source state
 * @b:      the block
 * @npages: its pages
 * @dirty:  bit i: page i must be (re)sent
 * @hash:   content hash of what page i last carried (written by whichever
 *          sender thread sends the page; a page is in one batch at a time)
 * @data:   pass 1 only (and postcopy): bit i set = page i is not a hole, else NULL
 * @sent:   postcopy-ram: bit i: page i went out at least once (what a
 *          switch to postcopy must tell the destination to drop)
 * @recv:   resuming postcopy: bit i: the destination has page i (written
 *          by the return-path reader before its ACCEPT, read after it)
 * @recv_pages: pages @recv's BITMAP records covered
 */
struct kmig_srcblk {
	const struct kmig_block *b;
	uint64_t npages;
	uint64_t *dirty;
	uint64_t *hash;
	uint64_t *data;
	uint64_t *sent;
	uint64_t *recv;
	uint64_t recv_pages;
};

struct kmig_sender;

/**
 * struct kmig_src - one source migration (the migration thread's)
 * @m:        the engine
 * @wl:       the borrowed workload
 * @blk:      per block state, @nblk of them
 * @ts:       the workload's dirty trackers
 * @chans:    [0] the main channel, [1..nchans) the data channels
 * @snd:      sends pages over the channels
 * @rp:       the destination's answers (channels with a return path)
 * @downtime: the workload is stopped (no rate limit from here on)
 * @committed: told the destination to start: never resume here
 * @err:      why it failed (the first reason found)
 * @zero_hash: hash of an all-zero page
 * @conv:     the convergence policy's state
 * @throttle: the throttle the workload was last told (%), 0: none
 * @xb_pass0: XBZRLE's counters when the pass began (for its rates)
 * @session:  the stream's session (a resumed postcopy presents it again)
 * @postcopy: in postcopy: the workload runs on the destination
 * @pc_t0_ms: when the workload was paused for postcopy (downtime starts)
 * @pc_left:  postcopy: dirty pages still to send
 * @sweep_blk, @sweep_page: where postcopy's background sweep goes on
 * @pc_rl:    max-postcopy-bandwidth's budget (requested pages go regardless,
 *            the sweep pays for them)
 */
struct kmig_src {
	struct kmig_mig *m;
	struct kmig_workload *wl;
	unsigned int nblk;
	struct kmig_srcblk blk[KMIG_MAX_BLOCKS];
	struct kmig_trackset ts;
	bool ts_open;
	uint64_t *bitmaps[KMIG_MAX_BLOCKS];
	struct kmig_chan chans[KMIG_MIG_MAX_CHANS];
	unsigned int nchans;
	struct kmig_sender *snd;
	struct kmig_retpath rp;
	_Atomic bool downtime;
	bool committed;
	char err[512];
	uint64_t zero_hash;
	/* the trackers' per-thread counts at the last sync (trackers that know) */
	struct kmig_track_thread thr_prev[KMIG_MIG_MAX_THREADS];
	unsigned int nthr_prev;
	int64_t thr_ns;
	/* live bandwidth for query-migrate while a pass runs */
	int64_t pass_t0_ns, rate_shown_ns;
	uint64_t pass_bytes0;
	struct kmig_converge conv;
	unsigned int throttle;
	bool throttle_warned;
	uint64_t xb_pass0[3];	/* tried, cache_miss, pages */
	uint64_t xb_bytes0;
	uint64_t session;
	_Atomic bool postcopy;
	int64_t pc_t0_ms;
	bool pc_downtime_done;
	uint64_t pc_left;
	unsigned int sweep_blk;
	uint64_t sweep_page;
	struct kmig_ratelimit pc_rl;
	uint64_t pc_dropped0;	/* requests dropped on earlier connections */
};

#define KMIG_SRC_PAUSE_TIMEOUT_MS  10000	/* for the workload to pause */
#define KMIG_SRC_ANSWER_TIMEOUT_MS 60000	/* for the destination's answers */

/* what precopy() returns when migrate-start-postcopy asked to leave it */
#define KMIG_SRC_POSTCOPY 1

/* src_pages.c */
int kmig_src_pages_init(struct kmig_src *s);
void kmig_src_pages_free(struct kmig_src *s);
/* harvests the trackers; returns the dirty pages now pending or -errno (s->err set) */
long kmig_src_harvest(struct kmig_src *s);
/* maps which pages hold data, for pass 1 (holes go as ZERO without being read) */
int kmig_src_map_holes(struct kmig_src *s);
void kmig_src_drop_holes(struct kmig_src *s);
/*
 * sends and clears every dirty page through the sender; pages sent or
 * -errno (-EINTR: stopped early, migrate-start-postcopy asked to leave)
 */
long kmig_src_send_dirty(struct kmig_src *s);
/* marks pages [first, first + n) of block @bi as sent (postcopy-ram) */
void kmig_src_mark_sent(struct kmig_src *s, unsigned int bi, uint64_t first, uint64_t n);
/* clears bits [first, first + n) of @bm */
void kmig_src_clear_bits(uint64_t *bm, uint64_t first, uint64_t n);
/* the run of set bits of @bm from @i (at most @max, below @end) */
uint64_t kmig_src_run_len(const uint64_t *bm, uint64_t i, uint64_t end, uint64_t max);
/* whether page @i of @sb reads as zero (a hole in pass 1 always does, unread) */
bool kmig_src_page_zero(const struct kmig_srcblk *sb, uint64_t i);

/* counts bytes the channels took, and pages, into the statistics */
void kmig_src_account(struct kmig_src *s, uint64_t bytes, uint64_t normal, uint64_t zero,
		      bool data_chan);
struct kmig_xbzrle_counts;
/* XBZRLE's counters since the last call, and the cache's size now */
void kmig_src_account_xbzrle(struct kmig_src *s, const struct kmig_xbzrle_counts *c,
			     uint64_t cache_size);
/* pages that went compressed (@pages, in @bytes), of @offered handed to a codec */
void kmig_src_account_codec(struct kmig_src *s, uint64_t pages, uint64_t bytes,
			    uint64_t offered, uint64_t busy);
/* pages release-ram freed in the source's memfd */
void kmig_src_account_release(struct kmig_src *s, uint64_t pages);
/* the failure text: the first reason found, or the destination's own words */
int kmig_src_fail(struct kmig_src *s, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* src.c: the shared steps (postcopy reuses them) */
int kmig_src_send_header(struct kmig_src *s, const struct kmig_retpath_hooks *hooks);
/*
 * The commit point: unless cancelled, the destination may run the workload
 * from here on (s->committed, and the state machine's).  0, or -ECANCELED.
 */
int kmig_src_commit(struct kmig_src *s);
/*
 * Stops the workload for the switch-over (precopy's final copy or the
 * switch to postcopy): from here a failure before the commit resumes it.
 * Marks it paused and sends STOP; the device state comes back in
 * *@state / *@len (the caller frees it).  0 or -errno with s->err set.
 */
int kmig_src_pause(struct kmig_src *s, void **state, uint32_t *len);

/* src_postcopy.c */
/*
 * The switch to postcopy and everything after it, pauses and resumes
 * included; 0 once completed, or -errno (s->committed says whether the
 * destination may run the workload).
 */
int kmig_src_postcopy(struct kmig_src *s);

#endif
