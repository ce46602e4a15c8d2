// SPDX-License-Identifier: GPL-2.0-only
/*
 * src_pages.c: the source's page selection: one dirty bitmap and one
 * page-hash array per block, the dirty trackers that fill the bitmaps, the
 * pass-1 hole map, and the walk that turns dirty bits into runs for the
 * sender.  No I/O here beyond the trackers'.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pagehash.h"
#include "sender.h"
#include "src.h"

static uint64_t words(uint64_t npages)
{
	return (npages + 63) / 64;
}

int kmig_src_pages_init(struct kmig_src *s)
{
	struct kmig_track_range ranges[KMIG_TRACK_MAX_RANGES];
	struct kmig_track_target t = { .pid = s->wl->pid, .ranges = ranges };
	uint64_t total = 0;
	int ret;

	s->nblk = s->wl->nblocks;
	for (unsigned int i = 0; i < s->nblk; i++) {
		struct kmig_srcblk *sb = &s->blk[i];
		const struct kmig_block *b = &s->wl->blocks[i];

		sb->b = b;
		sb->npages = b->size >> KMIG_PAGE_SHIFT;
		sb->dirty = calloc(words(sb->npages), sizeof(uint64_t));
		sb->hash = calloc(sb->npages, sizeof(uint64_t));
		if (s->m->cfg.postcopy) {
			sb->sent = calloc(words(sb->npages), sizeof(uint64_t));
			sb->recv = calloc(words(sb->npages), sizeof(uint64_t));
		}
		if (!sb->dirty || !sb->hash || (s->m->cfg.postcopy && (!sb->sent || !sb->recv)))
			return kmig_src_fail(s, -ENOMEM, "out of memory for the bitmaps of block '%s'",
					     b->name);
		ranges[i] = (struct kmig_track_range){ .name = b->name, .addr = b->wl_addr,
						       .len = b->size, .memfd = b->memfd,
						       .uffd = b->uffd,
						       .uffd_api_done = &s->wl->blocks[i].uffd_api_done };
		s->bitmaps[i] = sb->dirty;
		total += b->size;
	}
	t.nranges = s->nblk;
	ret = kmig_trackset_open(&s->ts, s->m->cfg.tracker[0] ? s->m->cfg.tracker : "auto", &t,
				 s->err, sizeof(s->err));
	if (ret)
		return ret;
	s->ts_open = true;
	pthread_mutex_lock(&s->m->lock);
	s->m->stats.total = total;
	snprintf(s->m->tracker, sizeof(s->m->tracker), "%s", s->ts.name);
	pthread_mutex_unlock(&s->m->lock);
	return 0;
}

void kmig_src_pages_free(struct kmig_src *s)
{
	if (s->ts_open)
		kmig_trackset_close(&s->ts);
	s->ts_open = false;
	for (unsigned int i = 0; i < s->nblk; i++) {
		free(s->blk[i].dirty);
		free(s->blk[i].hash);
		free(s->blk[i].data);
		free(s->blk[i].sent);
		free(s->blk[i].recv);
		memset(&s->blk[i], 0, sizeof(s->blk[i]));
	}
}

/*
 * After a sync: which threads dirtied how much since the last one, where
 * the tracker sees who writes (the eBPF one); otherwise nothing.  A sync
 * that found no thread writing (the final one, when the workload was
 * stopped right after the sync before) keeps the list of the pass before.
 */
static void threads_since_last_sync(struct kmig_src *s)
{
	struct kmig_track_thread now[KMIG_MIG_MAX_THREADS];
	long n = kmig_trackset_threads(&s->ts, now, KMIG_MIG_MAX_THREADS);
	int64_t t = kmig_now_ns();
	struct kmig_mig *m = s->m;
	bool wrote = false;

	if (n < 0)
		return;
	if (n > KMIG_MIG_MAX_THREADS)
		n = KMIG_MIG_MAX_THREADS;
	for (long i = 0; i < n && !wrote; i++) {
		uint64_t before = 0;

		for (unsigned int j = 0; j < s->nthr_prev; j++)
			if (s->thr_prev[j].tid == now[i].tid)
				before = s->thr_prev[j].pages;
		wrote = now[i].pages != before;
	}
	if (s->thr_ns && wrote) {
		pthread_mutex_lock(&m->lock);
		m->nthreads = 0;
		for (long i = 0; i < n; i++) {
			uint64_t before = 0, d;

			for (unsigned int j = 0; j < s->nthr_prev; j++)
				if (s->thr_prev[j].tid == now[i].tid)
					before = s->thr_prev[j].pages;
			d = now[i].pages >= before ? now[i].pages - before : now[i].pages;
			if (!d)
				continue;
			m->threads[m->nthreads] = (struct kmig_mig_thread){
				.tid = now[i].tid, .pages = d,
				.pages_per_second = (uint64_t)(d * 1e9 / (double)(t - s->thr_ns + 1)) };
			snprintf(m->threads[m->nthreads].name, sizeof(m->threads[0].name), "%s",
				 now[i].name);
			m->nthreads++;
		}
		pthread_mutex_unlock(&m->lock);
	}
	memcpy(s->thr_prev, now, (size_t)n * sizeof(now[0]));
	s->nthr_prev = (unsigned int)n;
	s->thr_ns = t;
}

long kmig_src_harvest(struct kmig_src *s)
{
	uint64_t sync;
	long total = 0;
	long n = kmig_trackset_harvest(&s->ts, s->bitmaps, s->err, sizeof(s->err));

	if (n < 0)
		return n;
	for (unsigned int bi = 0; bi < s->nblk; bi++)
		for (uint64_t w = 0; w < words(s->blk[bi].npages); w++)
			total += __builtin_popcountll(s->blk[bi].dirty[w]);
	pthread_mutex_lock(&s->m->lock);
	sync = ++s->m->stats.dirty_sync_count;
	s->m->stats.remaining = (uint64_t)total * KMIG_PAGE_SIZE;
	pthread_mutex_unlock(&s->m->lock);
	threads_since_last_sync(s);
	/* as QEMU: one MIGRATION_PASS per dirty sync, the first during setup */
	kmig_mig_event(s->m, KMIG_EV_PASS, (unsigned int)sync);
	return total;
}

bool kmig_src_page_zero(const struct kmig_srcblk *sb, uint64_t i)
{
	/* a page in a hole of the memfd is zero, and reading it would allocate it */
	if (sb->data && !(sb->data[i / 64] & (1ull << (i % 64))))
		return true;
	return kmig_page_is_zero(sb->b->map + (i << KMIG_PAGE_SHIFT));
}

static int mark_data(const struct kmig_block *b, uint64_t off, uint64_t len, void *arg)
{
	uint64_t *data = arg;
	uint64_t end = (off + len + KMIG_PAGE_SIZE - 1) >> KMIG_PAGE_SHIFT;

	(void)b;
	for (uint64_t i = off >> KMIG_PAGE_SHIFT; i < end; i++)
		data[i / 64] |= 1ull << (i % 64);
	return 0;
}

int kmig_src_map_holes(struct kmig_src *s)
{
	for (unsigned int bi = 0; bi < s->nblk; bi++) {
		struct kmig_srcblk *sb = &s->blk[bi];
		int ret;

		sb->data = calloc(words(sb->npages), sizeof(uint64_t));
		if (!sb->data)
			return kmig_src_fail(s, -ENOMEM, "out of memory for the hole map");
		ret = kmig_block_for_each_data(sb->b, mark_data, sb->data);
		if (ret)
			return kmig_src_fail(s, ret, "cannot map the holes of block '%s': %s",
					     sb->b->name, strerror(-ret));
	}
	return 0;
}

void kmig_src_drop_holes(struct kmig_src *s)
{
	for (unsigned int bi = 0; bi < s->nblk; bi++) {
		free(s->blk[bi].data);
		s->blk[bi].data = NULL;
	}
}

uint64_t kmig_src_run_len(const uint64_t *bm, uint64_t i, uint64_t end, uint64_t max)
{
	uint64_t n = 0;

	while (i + n < end && n < max) {
		uint64_t w = bm[(i + n) / 64] >> ((i + n) % 64);

		if (!(w & 1))
			break;
		if (w == ~0ull >> ((i + n) % 64) && (i + n) % 64 == 0) {
			n += 64;	/* a whole word of dirty pages */
			continue;
		}
		n += (uint64_t)__builtin_ctzll(~w);
	}
	n = n > max ? max : n;
	return i + n > end ? end - i : n;
}

void kmig_src_clear_bits(uint64_t *bm, uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++)
		bm[i / 64] &= ~(1ull << (i % 64));
}

void kmig_src_mark_sent(struct kmig_src *s, unsigned int bi, uint64_t first, uint64_t n)
{
	uint64_t *bm = s->blk[bi].sent;

	for (uint64_t i = first; bm && i < first + n; i++)
		bm[i / 64] |= 1ull << (i % 64);
}

long kmig_src_send_dirty(struct kmig_src *s)
{
	long sent = 0;

	for (unsigned int bi = 0; bi < s->nblk; bi++) {
		struct kmig_srcblk *sb = &s->blk[bi];

		for (uint64_t w = 0; w < words(sb->npages); w++) {
			while (sb->dirty[w]) {
				uint64_t i = w * 64 + (uint64_t)__builtin_ctzll(sb->dirty[w]);
				uint64_t n = kmig_src_run_len(sb->dirty, i, sb->npages, KMIG_WIRE_MAX_RUN);
				int ret;

				kmig_src_clear_bits(sb->dirty, i, n);
				kmig_src_mark_sent(s, bi, i, n);
				ret = kmig_sender_pages(s->snd, bi, i, (uint32_t)n);
				if (ret)
					return ret;
				sent += (long)n;
				/* the run may have ended in a later word */
				w = (i + n - 1) / 64;
			}
			if (s->m->cancel)
				return -ECANCELED;
			if (s->m->start_postcopy)
				return -EINTR;	/* leave the pass: the rest goes in postcopy */
		}
	}
	return sent;
}
