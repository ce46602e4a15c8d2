// SPDX-License-Identifier: GPL-2.0-only
/*
 * dst_postcopy.c: the destination side of postcopy (docs/postcopy.md).  A
 * version-3 header makes the workload's blocks fault on missing pages
 * (dst_fault.c); the switch (POSTCOPY, DISCARD..., STATE, RUN) drops the
 * stale pages, punches a hole wherever a page is stale or never came, and
 * starts the workload at once; every page after that is read whole and
 * placed atomically (UFFDIO_COPY / UFFDIO_ZEROPAGE), so the running
 * workload never sees half a page.  A broken main channel pauses it
 * (postcopy-paused: what arrived stays, faults wait); migrate-recover
 * listens for the source, which gets a bitmap of the pages here and goes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dst_pc.h"
#include "log.h"
#include "pagehash.h"

#define STARTED_TIMEOUT_MS 10000	/* for the workload to say it runs */
#define PLACE_RETRIES      10000	/* EAGAIN (its memory map changing) in a row */

void kmig_dst_pc_publish(struct kmig_dst *d)
{
	struct kmig_dst_pc *pc = d->pc;
	struct kmig_pc_stats *st;

	if (!pc || !d->m)
		return;
	pthread_mutex_lock(&pc->lock);
	pthread_mutex_lock(&d->m->lock);
	st = &d->m->stats.pc;
	st->faults = pc->faults;
	st->lat_count = pc->lat_count;
	st->lat_sum_ns = pc->lat_sum_ns;
	st->lat_max_ns = pc->lat_max_ns;
	st->requests = pc->requests;
	st->placed = pc->placed;
	st->missing = pc->missing;
	pthread_mutex_unlock(&d->m->lock);
	pthread_mutex_unlock(&pc->lock);
}

int kmig_dst_pc_prepare(struct kmig_dst *d)
{
	struct kmig_dst_pc *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return kmig_dst_fail(d, -ENOMEM, "out of memory for postcopy");
	pc->d = d;
	pc->stop_fd = -1;
	pthread_mutex_init(&pc->lock, NULL);
	d->pc = pc;
	for (unsigned int bi = 0; bi < d->nblk; bi++) {
		pc->req_ns[bi] = calloc(d->blk[bi].npages, sizeof(int64_t));
		pc->asked[bi] = calloc((d->blk[bi].npages + 63) / 64, sizeof(uint64_t));
		if (!pc->req_ns[bi] || !pc->asked[bi])
			return kmig_dst_fail(d, -ENOMEM, "out of memory for postcopy's fault table");
	}
	pc->buf = malloc((size_t)KMIG_WIRE_MAX_RUN << KMIG_PAGE_SHIFT);
	if (!pc->buf)
		return kmig_dst_fail(d, -ENOMEM, "out of memory for postcopy's page buffer");
	if (!d->wl->postcopy)
		return kmig_dst_fail(d, -EOPNOTSUPP, "the destination workload cannot start before "
				     "its memory arrived: it did not hand a userfaultfd for every "
				     "block (libkmig's KMIG_OPT_POSTCOPY)");
	/*
	 * The memory allocated up front for a fast precopy goes back now: the
	 * pages that never arrive must be holes at RUN, and freeing them then
	 * would be downtime.  Precopy's pages are allocated as they come.
	 */
	for (unsigned int bi = 0; bi < d->nblk; bi++)
		if (fallocate(d->blk[bi].b->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			      (off_t)d->blk[bi].b->size))
			return kmig_dst_fail(d, -errno, "cannot free block '%s' ahead of postcopy: %s",
					     d->blk[bi].b->name, strerror(errno));
	return kmig_dst_fault_register(d);
}

int kmig_dst_pc_begin(struct kmig_dst *d, const struct kmig_wire_rec *r)
{
	/* the data channels end at the switch: every page they carried is in */
	int ret = kmig_dst_join_data_chans(d, r->offset, "the switch to postcopy came at");

	if (ret)
		return ret;
	d->phase = KMIG_DST_PC_SWITCH;
	return 0;
}

int kmig_dst_pc_discard(struct kmig_dst *d, const struct kmig_wire_rec *r)
{
	struct kmig_dstblk *db;
	uint64_t first;

	if (r->block >= d->nblk || r->offset % KMIG_PAGE_SIZE || !r->count ||
	    r->count > KMIG_WIRE_MAX_ZERO_RUN)
		return kmig_dst_fail(d, -EPROTO, "bad discard record (block %u, offset %llu, "
				     "%u pages)", r->block, (unsigned long long)r->offset, r->count);
	db = &d->blk[r->block];
	first = r->offset >> KMIG_PAGE_SHIFT;
	if (first >= db->npages || r->count > db->npages - first)
		return kmig_dst_fail(d, -EPROTO, "discard record beyond the end of block '%s'",
				     db->b->name);
	for (uint64_t i = first; i < first + r->count; i++)
		__atomic_fetch_and(&db->seen[i / 64], ~(1ull << (i % 64)), __ATOMIC_RELAXED);
	return 0;
}

/* every page not here (stale or never sent) becomes a hole the workload faults on */
static int punch_missing(struct kmig_dst *d, uint64_t *missing)
{
	*missing = 0;
	for (unsigned int bi = 0; bi < d->nblk; bi++) {
		struct kmig_dstblk *db = &d->blk[bi];
		uint64_t i = 0;

		while (i < db->npages) {
			uint64_t j;

			if (kmig_dst_seen(db, i)) {
				i++;
				continue;
			}
			for (j = i + 1; j < db->npages && !kmig_dst_seen(db, j); j++)
				;
			if (fallocate(db->b->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)(i << KMIG_PAGE_SHIFT), (off_t)((j - i) << KMIG_PAGE_SHIFT)))
				return kmig_dst_fail(d, -errno, "cannot drop the stale pages of block "
						     "'%s': %s", db->b->name, strerror(errno));
			*missing += j - i;
			i = j;
		}
	}
	return 0;
}

/* the workload starts on a thread of its own: it may touch pages still missing */
static void *load_main(void *arg)
{
	struct kmig_dst *d = arg;
	struct kmig_dst_pc *pc = d->pc;
	struct kmig_wire_rec r = { .type = KMIG_REC_RESUMED };
	char err[512] = "";
	int ret = d->wl->ops->load_postcopy(d->wl, d->state, d->state_len, STARTED_TIMEOUT_MS,
					     err, sizeof(err));

	if (!ret) {
		pthread_mutex_lock(&d->m->lock);
		d->m->dst_running = true;
		pthread_mutex_unlock(&d->m->lock);
		kmig_mig_event(d->m, KMIG_EV_RESUME, 0);
		if (!kmig_dst_reply(d, &r, NULL))
			pc->resumed_sent = true;	/* else the resumed connection says it */
	} else {
		kmig_dst_fail(d, ret, "%s", err);
	}
	pc->load_ret = ret;
	pc->load_done = true;
	return NULL;
}

int kmig_dst_pc_run(struct kmig_dst *d)
{
	struct kmig_dst_pc *pc = d->pc;
	uint64_t missing;
	int ret;

	if (!pc || !d->m || !d->wl->ops->load_postcopy)
		return kmig_dst_fail(d, -EPROTO, "a postcopy start without a destination workload "
				     "that can run before its memory arrived");
	ret = punch_missing(d, &missing);
	if (ret)
		return ret;
	pthread_mutex_lock(&pc->lock);
	pc->missing = missing;
	pc->link_up = true;
	pthread_mutex_unlock(&pc->lock);
	ret = kmig_dst_fault_start(d);
	if (ret)
		return ret;
	ret = pthread_create(&pc->load_thr, NULL, load_main, d);
	if (ret)
		return kmig_dst_fail(d, -ret, "cannot start the workload's thread: %s", strerror(ret));
	pc->load_live = true;
	d->phase = KMIG_DST_PC_RUNNING;
	d->io_broken = false;	/* from here on a broken read pauses (a data channel's did not) */
	{
		/* the window starts from here: everything up to RUN is in */
		struct kmig_wire_rec ack = { .type = KMIG_REC_ACK, .offset = d->chans[0].bytes_in };

		pc->acked = d->chans[0].bytes_in;
		kmig_dst_reply(d, &ack, NULL);
	}
	pthread_mutex_lock(&d->m->lock);
	d->m->stats.pc.active = true;
	d->m->stats.pc.start_ms = kmig_now_ms();
	pthread_mutex_unlock(&d->m->lock);
	kmig_dst_pc_publish(d);
	kmig_mig_transition(d->m, KMIG_MIG_ACTIVE, KMIG_MIG_POSTCOPY_ACTIVE, NULL);
	kmig_log(KMIG_LOG_INFO, "postcopy", "the workload starts; %llu pages still to come",
		 (unsigned long long)missing);
	return 0;
}

int kmig_dst_pc_start_result(struct kmig_dst *d, bool wait)
{
	struct kmig_dst_pc *pc = d->pc;

	if (!pc)
		return 0;
	if (pc->load_live && (wait || pc->load_done)) {
		pthread_join(pc->load_thr, NULL);
		pc->load_live = false;
	}
	return pc->load_done ? pc->load_ret : 0;
}

/* places pages [i, i + n) of block @bi from @src (NULL: zero pages); 0 or -errno */
static int place(struct kmig_dst *d, unsigned int bi, uint64_t i, uint64_t n, const uint8_t *src)
{
	struct kmig_dstblk *db = &d->blk[bi];
	uint64_t addr = db->b->wl_addr + (i << KMIG_PAGE_SHIFT), len = n << KMIG_PAGE_SHIFT;
	uint64_t done = 0;
	unsigned int again = 0;

	for (uint64_t k = 0; k < n; k++)
		db->hash[i + k] = src ? kmig_page_hash(src + (k << KMIG_PAGE_SHIFT)) : d->zero_hash;
	while (done < len) {
		int64_t got;
		int r;

		if (src) {
			struct uffdio_copy c = { .dst = addr + done, .src = (uint64_t)(uintptr_t)src + done,
						 .len = len - done };

			r = ioctl(db->b->pc_uffd, UFFDIO_COPY, &c);
			got = c.copy;
		} else {
			struct uffdio_zeropage z = { .range = { .start = addr + done,
								.len = len - done } };

			r = ioctl(db->b->pc_uffd, UFFDIO_ZEROPAGE, &z);
			got = z.zeropage;
		}
		if (!r)
			break;
		if (got > 0)
			done += (uint64_t)got;
		if (errno == EEXIST) {
			done += KMIG_PAGE_SIZE;	/* already there (never overwritten) */
		} else if (errno != EAGAIN || ++again > PLACE_RETRIES) {
			return kmig_dst_fail(d, -errno, "cannot place page %llu of block '%s' in the "
					     "running workload: %s",
					     (unsigned long long)(i + done / KMIG_PAGE_SIZE),
					     db->b->name, errno == ESRCH || errno == ENOENT ?
					     "the workload went away" : strerror(errno));
		}
	}
	kmig_dst_fault_placed(d, bi, i, n);
	return 0;
}

int kmig_dst_pc_pages(struct kmig_dst_rx *rx, const struct kmig_wire_rec *r)
{
	struct kmig_dst *d = rx->d;
	struct kmig_dstblk *db;
	uint64_t first, i, end;
	int ret = kmig_dst_check_page_rec(rx, r);

	if (ret)
		return ret;
	if (r->enc != KMIG_ENC_RAW && r->enc != KMIG_ENC_ZERO)
		return kmig_dst_fail(d, -EPROTO, "page record in encoding %u after the switch to "
				     "postcopy (only raw and zero pages are placed)", r->enc);
	if (r->enc == KMIG_ENC_RAW && (ret = kmig_dst_read(rx, d->pc->buf, r->len, "page data")))
		return ret;
	db = &d->blk[r->block];
	first = r->offset >> KMIG_PAGE_SHIFT;
	end = first + r->count;
	for (i = first; i < end;) {
		uint64_t j;

		if (kmig_dst_seen(db, i)) {
			i++;		/* a copy it has: the first one stays */
			continue;
		}
		for (j = i + 1; j < end && !kmig_dst_seen(db, j); j++)
			;
		ret = place(d, r->block, i, j - i, r->enc == KMIG_ENC_RAW ?
			    d->pc->buf + ((i - first) << KMIG_PAGE_SHIFT) : NULL);
		if (ret)
			return ret;
		i = j;
	}
	/* what is placed is acknowledged: the source's sweep keeps its window */
	if (rx->c->bytes_in >= d->pc->acked + KMIG_POSTCOPY_ACK_EVERY) {
		struct kmig_wire_rec ack = { .type = KMIG_REC_ACK, .offset = rx->c->bytes_in };

		d->pc->acked = rx->c->bytes_in;
		kmig_dst_reply(d, &ack, NULL);	/* a broken link shows on the next read */
	}
	kmig_dst_pc_publish(d);
	return 0;
}

/* ---- pausing and resuming ---- */

/* the main channel is gone (or the resume attempt failed) */
static void drop_main(struct kmig_dst *d)
{
	kmig_mig_withdraw_chan(d->m, &d->chans[0]);
	pthread_mutex_lock(&d->rp_lock);
	kmig_chan_close(&d->chans[0]);
	memset(&d->chans[0], 0, sizeof(d->chans[0]));
	pthread_mutex_unlock(&d->rp_lock);
	d->io_broken = false;
	pthread_mutex_lock(&d->lock);
	d->err[0] = 0;
	pthread_mutex_unlock(&d->lock);
}

/* a resuming source's header must be this stream's, on one channel */
static int check_resume_header(struct kmig_dst *d)
{
	struct kmig_wire_hdr h;
	struct kmig_wire_block tab[KMIG_WIRE_MAX_BLOCKS];
	int ret = kmig_dst_read(&d->rx[0], &h, sizeof(h), "the resumed stream's header");

	if (ret)
		return ret;
	if (h.magic != KMIG_WIRE_MAGIC || h.version != KMIG_WIRE_VERSION_POSTCOPY ||
	    h.page_size != KMIG_WIRE_PAGE_SIZE || h.session != d->hdr.session ||
	    h.nblocks != d->hdr.nblocks || h.total != d->hdr.total || h.nchannels)
		return kmig_dst_fail(d, -EPROTO, "the connection that came to resume postcopy is "
				     "not this migration's (session, version or blocks differ)");
	ret = kmig_dst_read(&d->rx[0], tab, h.nblocks * sizeof(tab[0]), "the block table");
	if (!ret && memcmp(tab, d->tab, h.nblocks * sizeof(tab[0])))
		return kmig_dst_fail(d, -EPROTO, "the resumed stream's block table differs");
	return ret;
}

/* which pages are here, per block, in order: the source sends the rest */
static int send_bitmaps(struct kmig_dst *d)
{
	uint64_t *bits = malloc(KMIG_WIRE_MAX_BITMAP / 8);
	int ret = bits ? 0 : -ENOMEM;

	for (unsigned int bi = 0; bi < d->nblk && !ret; bi++) {
		struct kmig_dstblk *db = &d->blk[bi];

		for (uint64_t first = 0; first < db->npages && !ret; first += KMIG_WIRE_MAX_BITMAP) {
			uint64_t n = db->npages - first < KMIG_WIRE_MAX_BITMAP ?
				     db->npages - first : KMIG_WIRE_MAX_BITMAP;
			struct kmig_wire_rec r = { .type = KMIG_REC_BITMAP, .block = bi,
						   .offset = first << KMIG_PAGE_SHIFT,
						   .count = (uint32_t)n,
						   .len = (uint32_t)((n + 63) / 64 * 8) };

			for (uint64_t w = 0; w < (n + 63) / 64; w++)
				bits[w] = __atomic_load_n(&db->seen[first / 64 + w], __ATOMIC_RELAXED);
			ret = kmig_dst_reply(d, &r, bits);
		}
	}
	free(bits);
	return ret ? kmig_dst_fail(d, ret, "cannot send the bitmap of the pages here: %s",
				   strerror(-ret)) : 0;
}

/* the source's new channel on @lis: its header, our bitmaps, ACCEPT; 0 or -errno */
static int resume(struct kmig_dst *d, struct kmig_listener *lis)
{
	struct kmig_wire_rec ok = { .type = KMIG_REC_ACCEPT };
	struct kmig_chan c;
	char err[512] = "";
	int ret = kmig_chan_accept(lis, &c, -1, err, sizeof(err));

	if (ret)
		return kmig_dst_fail(d, ret, "%s", err);
	c.id = 0;
	pthread_mutex_lock(&d->rp_lock);
	d->chans[0] = c;
	d->pc->acked = 0;	/* a new channel counts its bytes from 0 */
	pthread_mutex_unlock(&d->rp_lock);
	kmig_mig_publish_chan(d->m, &d->chans[0]);
	kmig_mig_transition(d->m, KMIG_MIG_POSTCOPY_PAUSED, KMIG_MIG_POSTCOPY_RECOVER, NULL);
	ret = check_resume_header(d);
	if (!ret)
		ret = send_bitmaps(d);
	if (!ret)
		ret = kmig_dst_reply(d, &ok, NULL);
	if (ret) {
		struct kmig_wire_rec e = { .type = KMIG_REC_ERROR,
					   .len = (uint32_t)strnlen(d->err, KMIG_WIRE_MAX_ERROR) };

		kmig_dst_reply(d, &e, d->err);	/* the source hears why, and stays paused */
		return ret;
	}
	if (d->pc->load_done && !d->pc->load_ret && !d->pc->resumed_sent) {
		struct kmig_wire_rec r = { .type = KMIG_REC_RESUMED };

		d->pc->resumed_sent = !kmig_dst_reply(d, &r, NULL);	/* late: it ran meanwhile */
	}
	kmig_dst_fault_link(d, true);
	kmig_mig_transition(d->m, KMIG_MIG_POSTCOPY_RECOVER, KMIG_MIG_POSTCOPY_ACTIVE, NULL);
	return 0;
}

int kmig_dst_pc_pause(struct kmig_dst *d)
{
	struct kmig_mig *m = d->m;

	kmig_dst_fault_link(d, false);
	pthread_mutex_lock(&m->lock);
	snprintf(m->stats.pc.why, sizeof(m->stats.pc.why), "%s", d->err);
	m->stats.pc.pauses++;
	pthread_mutex_unlock(&m->lock);
	kmig_log(KMIG_LOG_WARN, "postcopy", "paused: %s; the workload waits for its missing "
		 "pages until migrate-recover", d->err);
	drop_main(d);
	kmig_mig_transition(m, KMIG_MIG_POSTCOPY_ACTIVE, KMIG_MIG_POSTCOPY_PAUSED, NULL);
	kmig_dst_pc_publish(d);
	for (;;) {
		struct kmig_listener lis;
		int ret;

		if (!kmig_mig_wait_resume(m, NULL, &lis))
			return kmig_dst_fail(d, -ECANCELED, "postcopy was paused when the destination "
					     "shut down: the workload keeps waiting for its "
					     "missing pages");
		ret = resume(d, &lis);
		pthread_mutex_lock(&m->lock);
		m->recover_req = false;	/* nobody aborts it from here on */
		pthread_mutex_unlock(&m->lock);
		kmig_chan_listen_close(&lis);
		if (!ret) {
			pthread_mutex_lock(&m->lock);
			m->stats.pc.recoveries++;
			m->stats.pc.why[0] = 0;
			pthread_mutex_unlock(&m->lock);
			kmig_log(KMIG_LOG_INFO, "postcopy", "resumed");
			return 0;
		}
		pthread_mutex_lock(&m->lock);
		snprintf(m->stats.pc.why, sizeof(m->stats.pc.why), "resume failed: %s", d->err);
		pthread_mutex_unlock(&m->lock);
		kmig_log(KMIG_LOG_WARN, "postcopy", "%s; still paused", m->stats.pc.why);
		drop_main(d);
		kmig_mig_transition(m, KMIG_MIG_POSTCOPY_RECOVER, KMIG_MIG_POSTCOPY_PAUSED, NULL);
		if (m->cancel)
			return kmig_dst_fail(d, -ECANCELED, "the destination shut down while postcopy "
					     "was paused");
	}
}

void kmig_dst_pc_finish(struct kmig_dst *d, bool ok)
{
	struct kmig_dst_pc *pc = d->pc;

	if (!pc)
		return;
	kmig_dst_pc_start_result(d, true);
	kmig_dst_fault_stop(d);
	kmig_dst_pc_publish(d);
	if (d->m) {
		pthread_mutex_lock(&d->m->lock);
		d->m->dst_running = false;
		pthread_mutex_unlock(&d->m->lock);
	}
	if (!ok)
		return;	/* registered still: a missing page waits, never reads as zeroes */
	/* every page is in (postcopy's, or precopy's: the switch never came) */
	kmig_dst_fault_unregister(d);
	for (unsigned int bi = 0; bi < d->nblk; bi++) {
		if (d->blk[bi].b->pc_uffd >= 0)
			close(d->blk[bi].b->pc_uffd);
		d->blk[bi].b->pc_uffd = -1;
	}
	d->wl->postcopy = false;	/* its userfaultfds were for this migration */
	if (d->phase == KMIG_DST_PC_RUNNING && d->wl->ops->arrived && d->wl->ops->arrived(d->wl))
		kmig_log(KMIG_LOG_WARN, "postcopy", "could not tell the workload every page arrived");
}

void kmig_dst_pc_free(struct kmig_dst *d)
{
	struct kmig_dst_pc *pc = d->pc;

	if (!pc)
		return;
	kmig_dst_pc_start_result(d, true);
	kmig_dst_fault_stop(d);
	for (unsigned int bi = 0; bi < KMIG_WIRE_MAX_BLOCKS; bi++) {
		free(pc->req_ns[bi]);
		free(pc->asked[bi]);
	}
	free(pc->buf);
	if (pc->stop_fd >= 0)
		close(pc->stop_fd);
	pthread_mutex_destroy(&pc->lock);
	free(pc);
	d->pc = NULL;
}
