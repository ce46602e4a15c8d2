// SPDX-License-Identifier: GPL-2.0-only
/*
 * dg_memory.c: kmig-dirtygen's memory: the content every page must have at
 * its generation, the checks a destination runs on it, the writer thread
 * that dirties pages at the chosen rate and pattern, and the toucher that
 * reads random pages while a postcopy destination's pages still arrive.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "dirtygen.h"

/* ---- page contents ---- */

/* The content of page @idx at generation @gen: zero, or what d->content says. */
void dg_page_fill(const struct dg *d, uint64_t *w, uint64_t idx, uint32_t gen)
{
	unsigned int i, rnd = DG_WORDS;
	uint64_t s;

	if (!gen) {
		memset(w, 0, DG_PAGE);
		return;
	}
	if (d->content == DG_DELTA) {
		/* generation 1 as "mixed", then two words per generation differ from it */
		s = mix64(idx << 32 | 1);
		for (i = 0; i < DG_WORDS / 4; i++)
			w[i] = rng_next(&s);
		for (; i < DG_WORDS; i++)
			w[i] = w[i % 8];
		if (gen > 1) {
			w[(gen - 1) % DG_WORDS] = mix64(idx << 32 | (gen - 1));
			w[gen % DG_WORDS] = mix64(idx << 32 | gen);
		}
		return;
	}
	if (d->content == DG_MIXED)
		rnd = DG_WORDS / 4;
	else if (d->content == DG_TEXT)
		rnd = 8;
	s = mix64(idx << 32 | gen);
	for (i = 0; i < rnd; i++)
		w[i] = rng_next(&s);
	for (; i < DG_WORDS; i++)
		w[i] = w[i % 8];
}


uint64_t dg_mem_checksum(struct dg *d)
{
	return XXH64(d->mem, d->npages * DG_PAGE, 0);
}

/*
 * The same hash over the memory the generations define, built page by page
 * without reading it: for a source whose memory is gone once sent
 * (postcopy with release-ram), what "its final memory" means.
 */
uint64_t dg_gens_checksum(const struct dg *d)
{
	XXH64_state_t *st = XXH64_createState();
	uint64_t w[DG_WORDS], h;

	if (!st)
		return 0;
	XXH64_reset(st, 0);
	for (uint64_t i = 0; i < d->npages; i++) {
		dg_page_fill(d, w, i, d->gens[i]);
		XXH64_update(st, w, DG_PAGE);
	}
	h = XXH64_digest(st);
	XXH64_freeState(st);
	return h;
}

uint64_t dg_gen_sum(const struct dg *d)
{
	uint64_t i, s = 0;

	for (i = 0; i < d->npages; i++)
		s += d->gens[i];
	return s;
}

/* ---- the writer thread ---- */

static uint64_t pick_page(struct dg *d)
{
	uint64_t i;

	switch (d->pattern) {
	case DG_SEQ:
		i = d->cursor;
		d->cursor = (i + 1) % d->npages;
		return i;
	case DG_HOT:
		if (rng_next(&d->rng) % 100 < 90)
			return rng_next(&d->rng) % d->hot_n;
		return rng_next(&d->rng) % d->npages;
	default:
		return rng_next(&d->rng) % d->npages;
	}
}

static void write_one(struct dg *d)
{
	uint64_t idx = pick_page(d);
	uint32_t gen = d->gens[idx] + 1;

	if (!gen)
		gen = 1;	/* wrapped: 0 is reserved for "never written" */
	d->gens[idx] = gen;
	dg_page_fill(d, (uint64_t *)page_at(d, idx), idx, gen);
	d->writes++;
	d->local_writes++;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps up to @ns (at most 10 ms); a stop request wakes it at once. */
static void nap(struct dg *d, uint64_t ns)
{
	struct timespec ts;

	if (ns > 10000000)
		ns = 10000000;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns += (uint64_t)ts.tv_nsec;
	ts.tv_sec += (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	pthread_mutex_lock(&d->lock);
	if (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE))
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	pthread_mutex_unlock(&d->lock);
}

/*
 * Token bucket: @rate pages/s, bursts of at most 20 ms' worth.  Like a
 * vCPU, the writer does not make up for time it was stopped (by a throttle
 * or the scheduler) with a long burst afterwards: a tenth of a second's
 * worth of catching up would undo most of a 99 % throttle.
 */
static void *writer_main(void *arg)
{
	struct dg *d = arg;
	double tokens = 0, burst = d->rate / 50.0;
	uint64_t last = now_ns();
	int r = -1;

	if (burst < 1)
		burst = 1;
	/* the RAM writer is what auto-converge throttles (our one "vCPU") */
	if (!d->no_throttle && (r = kmig_thread_register(d->kmig)))
		fprintf(stderr, "dirtygen: writer cannot be throttled: %s\n", strerror(-r));
	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		uint64_t n = DG_BATCH;

		if (d->rate) {
			uint64_t t = now_ns();

			tokens += (double)(t - last) * (double)d->rate / 1e9;
			last = t;
			if (tokens > burst)
				tokens = burst;
			if (tokens < 1) {
				nap(d, (uint64_t)((1 - tokens) * 1e9 / (double)d->rate));
				continue;
			}
			if (tokens < DG_BATCH)
				n = (uint64_t)tokens;
			tokens -= (double)n;
		}
		while (n--)
			write_one(d);
	}
	if (!r)
		kmig_thread_unregister(d->kmig);
	return NULL;
}

int dg_writer_start(struct dg *d)
{
	int r;

	if (d->idle || d->running)
		return 0;
	__atomic_store_n(&d->stop, 0, __ATOMIC_RELEASE);
	r = pthread_create(&d->thr, NULL, writer_main, d);
	if (r) {
		fprintf(stderr, "dirtygen: cannot start the writer: %s\n", strerror(r));
		return -r;
	}
	d->running = true;
	return 0;
}

/* Returns once the writer has stopped: memory is quiet from then on. */
void dg_writer_stop(struct dg *d)
{
	if (!d->running)
		return;
	pthread_mutex_lock(&d->lock);
	__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thr, NULL);
	d->running = false;
}


void dg_verify_all(struct dg *d)
{
	uint64_t w[DG_WORDS], i;

	for (i = 0; i < d->npages; i++) {
		dg_page_fill(d, w, i, d->gens[i]);
		if (!memcmp(page_at(d, i), w, DG_PAGE)) {
			d->verify_ok++;
			continue;
		}
		if (d->verify_bad++ < 10)
			fprintf(stderr, "verify: page %" PRIu64 " (gen %" PRIu32 ") differs\n",
				i, d->gens[i]);
	}
	fprintf(stderr, "verify: %" PRIu64 " pages ok, %" PRIu64 " bad\n",
		d->verify_ok, d->verify_bad);
}

/*
 * --touch: reads one word of random pages (a postcopy destination's memory
 * being used before it all arrived: each missing page is a fault), without
 * writing, so the memory stays the source's.
 */
static void *toucher_main(void *arg)
{
	struct dg *d = arg;
	uint64_t rng = d->seed ^ 0x746f756368ull, last = now_ns();
	double tokens = 0;

	while (!__atomic_load_n(&d->touch_stop, __ATOMIC_ACQUIRE)) {
		uint64_t idx;

		if (d->touch_rate) {
			uint64_t t = now_ns();

			tokens += (double)(t - last) * (double)d->touch_rate / 1e9;
			last = t;
			if (tokens > d->touch_rate / 10.0 + 1)
				tokens = d->touch_rate / 10.0 + 1;
			if (tokens < 1) {
				struct timespec ts = { 0, 1000000 };

				nanosleep(&ts, NULL);
				continue;
			}
			tokens -= 1;
		}
		idx = rng_next(&rng) % d->npages;
		d->touch_sum += __atomic_load_n((const uint64_t *)page_at(d, idx), __ATOMIC_RELAXED);
		d->touches++;
	}
	return NULL;
}

int dg_toucher_start(struct dg *d)
{
	int r;

	if (!d->touch || d->touching)
		return 0;
	__atomic_store_n(&d->touch_stop, 0, __ATOMIC_RELEASE);
	r = pthread_create(&d->touch_thr, NULL, toucher_main, d);
	if (r) {
		fprintf(stderr, "dirtygen: cannot start the toucher: %s\n", strerror(r));
		return -r;
	}
	d->touching = true;
	return 0;
}

void dg_toucher_stop(struct dg *d)
{
	if (!d->touching)
		return;
	__atomic_store_n(&d->touch_stop, 1, __ATOMIC_RELEASE);
	pthread_join(d->touch_thr, NULL);
	d->touching = false;
}
