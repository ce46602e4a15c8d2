// SPDX-License-Identifier: GPL-2.0-only
/*
 * src_postcopy.c: the source side of postcopy (docs/postcopy.md).  At the
 * next step after migrate-start-postcopy it stops the workload and sends
 * the switch: POSTCOPY, a DISCARD for every page dirtied since it was
 * sent, the device state and RUN, the commit: from then on the workload
 * runs on the destination and never again here.  Then it serves the
 * destination's page requests before its background sweep, which goes on
 * from the last requested page, until every page went; END and the
 * destination's VERIFIED complete it.  A broken connection pauses it
 * (postcopy-paused) with every page not yet confirmed kept; migrate resume
 * reconnects, takes the destination's bitmap of what arrived, and goes on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pagehash.h"
#include "sender.h"
#include "src.h"

#define REQ_BATCH         64	/* requests taken per look at the queue */
#define SWEEP_RUN         64	/* pages per background step (256 KiB: a request waits for one) */
#define SWEEP_RUN_LIMITED 64	/* ... under max-postcopy-bandwidth: shorter waits */
#define IDLE_WAIT_MS      20	/* once every page went: how long to nap for answers */
#define DISCARD_BATCH     256	/* DISCARD records per write */

static uint64_t words(uint64_t npages)
{
	return (npages + 63) / 64;
}

static bool test_bit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] & (1ull << (i % 64));
}

/* the first set bit of @bm at or after @i, or @end */
static uint64_t next_bit(const uint64_t *bm, uint64_t i, uint64_t end)
{
	while (i < end) {
		uint64_t w = bm[i / 64] >> (i % 64);

		if (w)
			return i + (uint64_t)__builtin_ctzll(w) < end ? i + (uint64_t)__builtin_ctzll(w)
								       : end;
		i = (i / 64 + 1) * 64;
	}
	return end;
}

static uint64_t count_dirty(struct kmig_src *s)
{
	uint64_t n = 0;

	for (unsigned int bi = 0; bi < s->nblk; bi++)
		for (uint64_t w = 0; w < words(s->blk[bi].npages); w++)
			n += (uint64_t)__builtin_popcountll(s->blk[bi].dirty[w]);
	return n;
}

/* ---- the switch ---- */

/* a DISCARD for every run of pages both dirty and sent; 0 or -errno */
static int send_discards(struct kmig_src *s, uint64_t *pages)
{
	struct kmig_wire_rec recs[DISCARD_BATCH];
	unsigned int n = 0;
	int ret = 0;

	*pages = 0;
	for (unsigned int bi = 0; bi < s->nblk && !ret; bi++) {
		struct kmig_srcblk *sb = &s->blk[bi];
		uint64_t i = 0;

		while (i < sb->npages && !ret) {
			uint64_t w = i / 64, bits = (sb->dirty[w] & sb->sent[w]) >> (i % 64), j;

			if (!bits) {
				i = (w + 1) * 64;
				continue;
			}
			i += (uint64_t)__builtin_ctzll(bits);
			for (j = i + 1; j < sb->npages && j - i < KMIG_WIRE_MAX_ZERO_RUN &&
			     test_bit(sb->dirty, j) && test_bit(sb->sent, j); j++)
				;
			recs[n++] = (struct kmig_wire_rec){ .type = KMIG_REC_DISCARD, .block = bi,
							    .offset = i << KMIG_PAGE_SHIFT,
							    .count = (uint32_t)(j - i) };
			*pages += j - i;
			if (n == DISCARD_BATCH) {
				ret = kmig_sender_ctrl_many(s->snd, recs, n);
				n = 0;
			}
			i = j;
		}
	}
	return ret || !n ? ret : kmig_sender_ctrl_many(s->snd, recs, n);
}

/*
 * Stop the workload, get every page queued so far out, tell the destination
 * which of the pages it has are stale, send the state, commit, RUN.  A
 * failure before the commit leaves s->committed false (the workload
 * resumes here); after it, the caller pauses or fails.
 */
static int pc_switch(struct kmig_src *s)
{
	struct kmig_wire_rec pc = { .type = KMIG_REC_POSTCOPY };
	struct kmig_wire_rec st = { .type = KMIG_REC_STATE };
	struct kmig_wire_rec run = { .type = KMIG_REC_RUN };
	struct kmig_mig *m = s->m;
	void *state = NULL;
	uint64_t discarded = 0;
	long n;
	int ret;

	s->pc_t0_ms = kmig_now_ms();	/* downtime: from here to the destination's RESUMED */
	ret = kmig_src_pause(s, &state, &st.len);	/* a failure before RUN resumes it */
	if (ret)
		return ret;
	n = kmig_src_harvest(s);
	/* every page queued so far goes out first (with data channels: their last SYNC) */
	if (n >= 0)
		n = kmig_sender_sync(s->snd, true);
	ret = n < 0 ? (int)n : 0;
	if (!ret) {
		kmig_sender_postcopy(s->snd);
		kmig_retpath_drop_requests(&s->rp);	/* none can be meant yet */
		/* the workload is stopped: a fresh hole map stays exact from here on */
		kmig_src_drop_holes(s);
		ret = kmig_src_map_holes(s);
	}
	if (!ret) {
		pc.offset = kmig_sender_last_sync(s->snd);
		ret = kmig_sender_ctrl(s->snd, &pc, NULL);
	}
	if (!ret)
		ret = send_discards(s, &discarded);
	if (!ret)
		ret = kmig_sender_ctrl(s->snd, &st, state);
	free(state);
	if (ret)
		return ret;
	/* the commit: from RUN on the destination may run the workload */
	ret = kmig_src_commit(s);
	if (ret)
		return ret;
	ret = kmig_sender_ctrl(s->snd, &run, NULL);
	s->postcopy = true;
	s->pc_left = count_dirty(s);
	s->sweep_blk = 0;
	s->sweep_page = 0;
	pthread_mutex_lock(&m->lock);
	m->stats.pc.active = true;
	m->stats.pc.start_ms = kmig_now_ms();
	m->stats.pc.held = s->pc_left;
	pthread_mutex_unlock(&m->lock);
	kmig_mig_transition(m, KMIG_MIG_ACTIVE, KMIG_MIG_POSTCOPY_ACTIVE, NULL);
	kmig_log(KMIG_LOG_INFO, "postcopy", "switched: %llu pages to go, %llu discarded, "
		 "paused %lld ms ago", (unsigned long long)s->pc_left,
		 (unsigned long long)discarded, (long long)(kmig_now_ms() - s->pc_t0_ms));
	return ret;
}

/* ---- serving pages ---- */

/* sends the dirty pages among [first, first + n) of block @bi; pages sent, or -errno */
static long send_range(struct kmig_src *s, unsigned int bi, uint64_t first, uint64_t n)
{
	struct kmig_srcblk *sb = &s->blk[bi];
	uint64_t i = first, end = first + n;
	long sent = 0;

	while ((i = next_bit(sb->dirty, i, end)) < end) {
		uint64_t k = kmig_src_run_len(sb->dirty, i, end, KMIG_WIRE_MAX_RUN);
		int ret;

		kmig_src_clear_bits(sb->dirty, i, k);
		ret = kmig_sender_pages(s->snd, bi, i, (uint32_t)k);
		if (ret)
			return ret;
		sent += (long)k;
		i += k;
	}
	s->pc_left -= (uint64_t)sent;
	return sent;
}

/*
 * One page request: outside any block, misaligned or of a bad length, it
 * is refused (counted, logged once) and the migration goes on.  The
 * background sweep then continues after it, as QEMU's does.
 */
static int serve(struct kmig_src *s, const struct kmig_retpath_req *r, uint64_t *urgent)
{
	static _Atomic bool told;
	uint64_t first = r->offset >> KMIG_PAGE_SHIFT;
	bool bad = r->block >= s->nblk || r->offset % KMIG_PAGE_SIZE || !r->count ||
		   r->count > KMIG_WIRE_MAX_RUN || first >= s->blk[r->block].npages ||
		   r->count > s->blk[r->block].npages - first;
	long sent = 0;

	pthread_mutex_lock(&s->m->lock);
	s->m->stats.pc.requests++;
	if (bad)
		s->m->stats.pc.refused++;
	pthread_mutex_unlock(&s->m->lock);
	if (bad) {
		if (!told) {
			told = true;
			kmig_log(KMIG_LOG_WARN, "postcopy", "refused a page request outside the "
				 "stream's blocks (block %u, offset %llu, %u pages); more are only "
				 "counted", r->block, (unsigned long long)r->offset, r->count);
		}
		return 0;
	}
	sent = send_range(s, r->block, first, r->count);
	if (sent < 0)
		return (int)sent;
	*urgent += (uint64_t)sent;
	s->sweep_blk = r->block;
	s->sweep_page = first + r->count;
	return 0;
}

/* the next run of dirty pages from the sweep's cursor on (wrapping); false: none */
static bool next_run(struct kmig_src *s, unsigned int *bi, uint64_t *first, uint64_t *n,
		     uint64_t max)
{
	for (unsigned int k = 0; k <= s->nblk; k++) {
		unsigned int b = (s->sweep_blk + k) % s->nblk;
		struct kmig_srcblk *sb = &s->blk[b];
		uint64_t i = next_bit(sb->dirty, k ? 0 : s->sweep_page, sb->npages);

		if (i < sb->npages) {
			*bi = b;
			*first = i;
			*n = kmig_src_run_len(sb->dirty, i, sb->npages, max);
			return true;
		}
	}
	return false;
}

static uint64_t pc_rate(struct kmig_src *s)
{
	uint64_t rate;

	pthread_mutex_lock(&s->m->lock);
	rate = s->m->tuning.max_postcopy_bandwidth;
	pthread_mutex_unlock(&s->m->lock);
	return rate;
}

/*
 * One background step: the next run of unsent pages, within
 * max-postcopy-bandwidth; when the budget does not allow it yet, nothing
 * goes and *@wait_ms says how long until it does (requests meanwhile go
 * first).  0 or -errno.
 */
static int sweep_step(struct kmig_src *s, int *wait_ms)
{
	uint64_t rate = pc_rate(s), first, n;
	unsigned int bi;
	int64_t need;
	long sent;

	*wait_ms = 0;
	/* the window: what the destination has not placed yet stays short */
	if (s->chans[0].bytes_out > kmig_retpath_acked(&s->rp) + KMIG_POSTCOPY_WINDOW) {
		*wait_ms = 1;	/* an ACK ends the wait at once */
		return 0;
	}
	if (!next_run(s, &bi, &first, &n, rate ? SWEEP_RUN_LIMITED : SWEEP_RUN)) {
		s->pc_left = 0;		/* (a count off would only end the sweep early) */
		return 0;
	}
	need = kmig_ratelimit_try(&s->pc_rl, (n << KMIG_PAGE_SHIFT) + sizeof(struct kmig_wire_rec),
				  rate);
	if (need) {
		*wait_ms = (int)(need / 1000000 + 1);
		if (*wait_ms > IDLE_WAIT_MS)
			*wait_ms = IDLE_WAIT_MS;
		return 0;
	}
	sent = send_range(s, bi, first, n);
	if (sent < 0)
		return (int)sent;
	s->sweep_blk = bi;
	s->sweep_page = first + n;
	pthread_mutex_lock(&s->m->lock);
	s->m->stats.pc.swept_pages += (uint64_t)sent;
	s->m->stats.pc.held = s->pc_left;
	pthread_mutex_unlock(&s->m->lock);
	return kmig_sender_flush(s->snd);
}

/* the destination's RESUMED ends the downtime (it may come while pages flow) */
static void note_resumed(struct kmig_src *s)
{
	char err[64];

	if (s->pc_downtime_done || !kmig_retpath_peek(&s->rp, KMIG_REC_RESUMED))
		return;
	kmig_retpath_wait(&s->rp, KMIG_REC_RESUMED, 0, NULL, "workload start", err, sizeof(err));
	s->pc_downtime_done = true;
	pthread_mutex_lock(&s->m->lock);
	s->m->stats.downtime_ms = kmig_now_ms() - s->pc_t0_ms;
	pthread_mutex_unlock(&s->m->lock);
}

static int send_end(struct kmig_src *s)
{
	struct kmig_wire_rec end = { .type = KMIG_REC_END, .len = s->nblk * 8,
				     .offset = kmig_sender_last_sync(s->snd) };
	uint64_t sums[KMIG_MAX_BLOCKS];
	int ret = kmig_sender_flush(s->snd);

	for (unsigned int i = 0; i < s->nblk; i++)
		sums[i] = kmig_block_checksum(s->blk[i].hash, s->blk[i].npages);
	return ret ? ret : kmig_sender_ctrl(s->snd, &end, sums);
}

/*
 * Requests first, then the sweep, until every page went; then END and the
 * destination's VERIFIED.  0 once completed; -EREMOTEIO when the
 * destination failed (its words in s->err), -ETIMEDOUT when it never
 * confirmed, -ECANCELED at shutdown; anything else is a broken connection.
 */
static int pc_loop(struct kmig_src *s)
{
	struct kmig_retpath_req req[REQ_BATCH];
	bool end_sent = false;
	int64_t end_at = 0;
	int wait_ms = 0;

	for (;;) {
		uint64_t urgent = 0;
		unsigned int got;
		int ret;

		if (s->m->cancel)
			return -ECANCELED;
		if (kmig_retpath_error(&s->rp, 0, s->err, sizeof(s->err)))
			return -EREMOTEIO;
		/*
		 * VERIFIED before a closed return path: a destination that has
		 * confirmed everything may close at once, and the reader records
		 * the close right behind the answer it queued.
		 */
		if (end_sent && kmig_retpath_peek(&s->rp, KMIG_REC_VERIFIED)) {
			kmig_retpath_wait(&s->rp, KMIG_REC_VERIFIED, 0, NULL, "verification", s->err,
					  sizeof(s->err));
			note_resumed(s);
			return 0;
		}
		ret = kmig_retpath_closed(&s->rp);
		if (ret)
			return kmig_src_fail(s, ret, "the return path closed: %s", strerror(-ret));
		note_resumed(s);
		got = kmig_retpath_take_requests(&s->rp, req, REQ_BATCH,
						 s->pc_left ? wait_ms : IDLE_WAIT_MS);
		for (unsigned int k = 0; k < got && !ret; k++)
			ret = serve(s, &req[k], &urgent);
		if (got) {
			uint64_t dropped = s->pc_dropped0 + kmig_retpath_dropped(&s->rp);

			pthread_mutex_lock(&s->m->lock);
			s->m->stats.pc.dropped = dropped;
			pthread_mutex_unlock(&s->m->lock);
		}
		if (!ret && urgent) {
			pthread_mutex_lock(&s->m->lock);
			s->m->stats.pc.urgent_pages += urgent;
			s->m->stats.pc.held = s->pc_left;
			pthread_mutex_unlock(&s->m->lock);
			/* what the workload waits for goes now; the sweep pays for it */
			kmig_ratelimit_debit(&s->pc_rl, urgent << KMIG_PAGE_SHIFT, pc_rate(s));
			ret = kmig_sender_flush(s->snd);
		}
		if (ret)
			return ret;
		if (s->pc_left) {
			ret = sweep_step(s, &wait_ms);
			if (ret)
				return ret;
			continue;
		}
		if (!end_sent) {
			ret = send_end(s);
			if (ret)
				return ret;
			end_sent = true;
			end_at = kmig_now_ms();
			continue;
		}
		if (kmig_now_ms() - end_at > KMIG_SRC_ANSWER_TIMEOUT_MS)
			return kmig_src_fail(s, -ETIMEDOUT, "the destination did not confirm the "
					     "last pages within %d s", KMIG_SRC_ANSWER_TIMEOUT_MS / 1000);
	}
}

/* ---- pausing and resuming ---- */

/* the main channel is gone: its reader, its unsent batch, the channel itself */
static void drop_main(struct kmig_src *s)
{
	struct kmig_chan *c = &s->chans[0];

	kmig_sender_forget(s->snd);
	kmig_chan_abort(c);
	s->pc_dropped0 += kmig_retpath_dropped(&s->rp);
	kmig_retpath_stop(&s->rp);
	kmig_mig_withdraw_chan(s->m, c);
	kmig_chan_close(c);
	memset(c, 0, sizeof(*c));
}

/* reader thread: one BITMAP record of a resuming destination, in order per block */
static int on_bitmap(void *opaque, const struct kmig_wire_rec *r, const uint64_t *bits)
{
	struct kmig_src *s = opaque;
	struct kmig_srcblk *sb;
	uint64_t first = r->offset >> KMIG_PAGE_SHIFT;

	if (r->block >= s->nblk)
		return -EPROTO;
	sb = &s->blk[r->block];
	if (r->offset % ((uint64_t)KMIG_WIRE_BITMAP_ALIGN << KMIG_PAGE_SHIFT) ||
	    first != sb->recv_pages || r->count > sb->npages - first ||
	    (r->count % KMIG_WIRE_BITMAP_ALIGN && first + r->count != sb->npages))
		return -EPROTO;
	memcpy(&sb->recv[first / 64], bits, (r->count + 63) / 64 * 8);
	sb->recv_pages += r->count;
	return 0;
}

/* what the resumed destination lacks is what goes from here on; 0 or -EPROTO */
static int apply_bitmaps(struct kmig_src *s)
{
	for (unsigned int bi = 0; bi < s->nblk; bi++) {
		struct kmig_srcblk *sb = &s->blk[bi];

		if (sb->recv_pages != sb->npages)
			return kmig_src_fail(s, -EPROTO, "the destination's bitmap covers %llu of the "
					     "%llu pages of block '%s'",
					     (unsigned long long)sb->recv_pages,
					     (unsigned long long)sb->npages, sb->b->name);
	}
	for (unsigned int bi = 0; bi < s->nblk; bi++) {
		struct kmig_srcblk *sb = &s->blk[bi];

		for (uint64_t w = 0; w < words(sb->npages); w++)
			sb->dirty[w] = ~sb->recv[w];
		if (sb->npages % 64)
			sb->dirty[words(sb->npages) - 1] &= (1ull << (sb->npages % 64)) - 1;
	}
	s->pc_left = count_dirty(s);
	return 0;
}

/* a new main channel to @uri: header, the destination's bitmaps, ACCEPT; 0 or -errno */
static int reconnect(struct kmig_src *s, const struct kmig_uri *uri)
{
	struct kmig_retpath_hooks hooks = { .bitmap = on_bitmap, .opaque = s };
	struct kmig_chan *c = &s->chans[0];
	char err[512] = "";
	int ret;

	for (unsigned int bi = 0; bi < s->nblk; bi++) {
		memset(s->blk[bi].recv, 0, words(s->blk[bi].npages) * sizeof(uint64_t));
		s->blk[bi].recv_pages = 0;
	}
	ret = kmig_chan_connect(c, uri, &s->m->cancel, err, sizeof(err));
	if (ret)
		return kmig_src_fail(s, ret, "%s", err);
	c->id = 0;
	kmig_mig_publish_chan(s->m, c);
	if (!(c->caps & KMIG_CHAN_F_RETURN_PATH))
		return kmig_src_fail(s, -EINVAL, "Unable to open return-path for postcopy");
	ret = kmig_src_send_header(s, &hooks);
	return ret ? ret : apply_bitmaps(s);
}

/* tears down, goes postcopy-paused; returns once resumed (0) or given up (-errno) */
static int pc_pause(struct kmig_src *s, int why)
{
	struct kmig_mig *m = s->m;

	drop_main(s);
	pthread_mutex_lock(&m->lock);
	snprintf(m->stats.pc.why, sizeof(m->stats.pc.why), "%s", s->err[0] ? s->err :
		 strerror(-why));
	m->stats.pc.pauses++;
	m->stats.pc.held = s->pc_left;
	s->err[0] = 0;
	pthread_mutex_unlock(&m->lock);
	if (!kmig_mig_transition(m, KMIG_MIG_POSTCOPY_ACTIVE, KMIG_MIG_POSTCOPY_PAUSED, NULL))
		kmig_mig_transition(m, KMIG_MIG_POSTCOPY_RECOVER, KMIG_MIG_POSTCOPY_PAUSED, NULL);
	kmig_log(KMIG_LOG_WARN, "postcopy", "paused: %s; %llu pages not sent yet, every one kept",
		 m->stats.pc.why, (unsigned long long)s->pc_left);
	for (;;) {
		struct kmig_uri uri;
		int ret;

		if (!kmig_mig_wait_resume(m, &uri, NULL)) {
			snprintf(s->err, sizeof(s->err), "postcopy given up while paused "
				 "(migrate_cancel or shutdown); this side holds %s",
				 m->incomplete ? "the pages it did not free (release-ram)" :
				 "every page as it was at the switch");
			return -ECANCELED;
		}
		kmig_mig_transition(m, KMIG_MIG_POSTCOPY_PAUSED, KMIG_MIG_POSTCOPY_RECOVER, NULL);
		ret = reconnect(s, &uri);
		if (!ret) {
			pthread_mutex_lock(&m->lock);
			m->stats.pc.recoveries++;
			m->stats.pc.held = s->pc_left;
			m->stats.pc.why[0] = 0;
			pthread_mutex_unlock(&m->lock);
			kmig_mig_transition(m, KMIG_MIG_POSTCOPY_RECOVER, KMIG_MIG_POSTCOPY_ACTIVE, NULL);
			kmig_log(KMIG_LOG_INFO, "postcopy", "resumed: %llu pages to go",
				 (unsigned long long)s->pc_left);
			return 0;
		}
		drop_main(s);
		if (ret == -ECANCELED)
			continue;	/* the wait above says why */
		pthread_mutex_lock(&m->lock);
		snprintf(m->stats.pc.why, sizeof(m->stats.pc.why), "resume failed: %s",
			 s->err[0] ? s->err : strerror(-ret));
		s->err[0] = 0;
		pthread_mutex_unlock(&m->lock);
		kmig_log(KMIG_LOG_WARN, "postcopy", "%s; still paused", m->stats.pc.why);
		kmig_mig_transition(m, KMIG_MIG_POSTCOPY_RECOVER, KMIG_MIG_POSTCOPY_PAUSED, NULL);
	}
}

int kmig_src_postcopy(struct kmig_src *s)
{
	int ret = pc_switch(s);

	if (ret && !s->committed)
		return ret;	/* before RUN: the workload resumes here */
	for (;;) {
		if (!ret)
			ret = pc_loop(s);
		if (!ret)
			break;
		if (ret == -ECANCELED || ret == -EREMOTEIO || ret == -ETIMEDOUT || ret == -ENOMEM)
			return ret;
		ret = pc_pause(s, ret);
		if (ret)
			return ret;
	}
	pthread_mutex_lock(&s->m->lock);
	s->m->stats.remaining = 0;
	s->m->stats.pc.held = 0;
	pthread_mutex_unlock(&s->m->lock);
	return 0;
}
