// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtyrate.c: the dirty-rate measurement's state machine (see
 * dirtyrate.h): unstarted -> measuring -> measured, as QEMU's
 * migration/dirtyrate.c, one measurement at a time on a thread of its
 * own that a shutdown can wake at once.  The methods live in dr_sample.c
 * and dr_exact.c; this file starts them, times them, turns pages into
 * MiB/s and keeps the result for query-dirty-rate.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dirtyrate.h"
#include "log.h"

struct kmig_dirtyrate {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* CLOCK_MONOTONIC: wakes kmig_dr_wait */
	bool stop;
	bool thread_live;		/* joinable */
	pthread_t thread;
	bool holds;			/* tracker mode, not yet taken back */
	struct kmig_dr_target t;	/* the current measurement's */
	int64_t calc_ms;
	uint64_t sample_pages;
	struct kmig_dr_result res;
};

static void close_fds(struct kmig_dr_target *t)
{
	for (unsigned int i = 0; i < t->nblocks && i < KMIG_DR_MAX_BLOCKS; i++) {
		if (t->blocks[i].memfd >= 0)
			close(t->blocks[i].memfd);
		if (t->blocks[i].uffd >= 0)
			close(t->blocks[i].uffd);
		t->blocks[i].memfd = t->blocks[i].uffd = -1;
	}
}

struct kmig_dirtyrate *kmig_dirtyrate_new(void)
{
	struct kmig_dirtyrate *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;

	if (!d)
		return NULL;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	d->res.status = KMIG_DR_UNSTARTED;
	return d;
}

void kmig_dr_result_clear(struct kmig_dr_result *r)
{
	for (unsigned int i = 0; r->blocks && i < r->nblocks; i++)
		free(r->blocks[i].regions);
	free(r->blocks);
	free(r->threads);
	r->blocks = NULL;
	r->threads = NULL;
	r->nblocks = r->nthreads = 0;
}

void kmig_dirtyrate_free(struct kmig_dirtyrate *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->thread_live)
		pthread_join(d->thread, NULL);
	close_fds(&d->t);
	kmig_dr_result_clear(&d->res);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

bool kmig_dr_wait(struct kmig_dirtyrate *d, int64_t deadline_ns)
{
	bool go;

	pthread_mutex_lock(&d->lock);
	while (!d->stop && kmig_now_ns() < deadline_ns) {
		struct timespec ts = { .tv_sec = deadline_ns / 1000000000,
				       .tv_nsec = deadline_ns % 1000000000 };

		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	}
	go = !d->stop;
	pthread_mutex_unlock(&d->lock);
	return go;
}

int kmig_dr_blocks_init(struct kmig_dr_result *r, const struct kmig_dr_target *t)
{
	r->blocks = calloc(t->nblocks, sizeof(*r->blocks));
	if (!r->blocks)
		return -ENOMEM;
	r->nblocks = t->nblocks;
	for (unsigned int i = 0; i < t->nblocks; i++) {
		struct kmig_dr_block_result *b = &r->blocks[i];

		snprintf(b->name, sizeof(b->name), "%s", t->blocks[i].name);
		b->size = t->blocks[i].size;
		b->nregions = (uint32_t)((b->size + (1ULL << KMIG_DR_REGION_SHIFT) - 1) >>
					 KMIG_DR_REGION_SHIFT);
		b->regions = calloc(b->nregions ? b->nregions : 1, sizeof(*b->regions));
		if (!b->regions)
			return -ENOMEM;
	}
	return 0;
}

/* MiB/s from pages in ms, as QEMU's integer "MB/s" */
static int64_t mib_per_s(uint64_t pages, int64_t ms)
{
	if (ms <= 0)
		return -1;
	return (int64_t)((double)pages * 4096.0 * 1000.0 / ((double)ms * (1 << 20)));
}

static void *measure_thread(void *arg)
{
	struct kmig_dirtyrate *d = arg;
	struct kmig_dr_result r = { .mode = d->res.mode };
	int pidfd = (int)syscall(SYS_pidfd_open, d->t.pid, 0);
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	int err;

	if (r.mode == KMIG_DR_SAMPLING)
		err = kmig_dr_measure_sampling(d, &d->t, d->calc_ms, d->sample_pages, &r);
	else
		err = kmig_dr_measure_exact(d, &d->t, r.mode, d->calc_ms, &r);
	/* a block's memfd stays readable after its workload died: ask */
	if (!err && pidfd >= 0 && poll(&pfd, 1, 0) == 1) {
		err = -ESRCH;
		snprintf(r.error, sizeof(r.error), "the workload (pid %d) exited during the "
			 "measurement", (int)d->t.pid);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (err && !r.error[0])
		snprintf(r.error, sizeof(r.error), "%s", strerror(-err));
	if (err)
		kmig_log(KMIG_LOG_WARN, "dirtyrate", "measurement failed pid=%d: %s",
			 (int)d->t.pid, r.error);

	pthread_mutex_lock(&d->lock);
	close_fds(&d->t);
	kmig_dr_result_clear(&d->res);
	r.status = KMIG_DR_MEASURED;
	r.start_time = d->res.start_time;
	r.sample_pages = r.mode == KMIG_DR_SAMPLING ? d->sample_pages : 0;
	r.calc_time = r.calc_ms / 1000;
	r.dirty_rate = err ? -1 : mib_per_s(r.dirty_pages, r.calc_ms);
	d->res = r;
	pthread_mutex_unlock(&d->lock);
	kmig_log(KMIG_LOG_INFO, "dirtyrate", "measured pid=%d mode=%d by=%s ms=%lld pages=%llu "
		 "rate=%lld MiB/s", (int)d->t.pid, (int)r.mode, r.tracker, (long long)r.calc_ms,
		 (unsigned long long)r.dirty_pages, (long long)r.dirty_rate);
	return NULL;
}

int kmig_dirtyrate_start(struct kmig_dirtyrate *d, struct kmig_dr_target *t,
			 enum kmig_dr_mode mode, int64_t calc_ms, uint64_t sample_pages)
{
	int err;

	pthread_mutex_lock(&d->lock);
	if (d->res.status == KMIG_DR_MEASURING || d->holds) {
		pthread_mutex_unlock(&d->lock);
		close_fds(t);
		return -EBUSY;
	}
	pthread_mutex_unlock(&d->lock);
	if (d->thread_live) {		/* finished: it set MEASURED last */
		pthread_join(d->thread, NULL);
		d->thread_live = false;
	}
	pthread_mutex_lock(&d->lock);
	kmig_dr_result_clear(&d->res);
	memset(&d->res, 0, sizeof(d->res));
	d->res.status = KMIG_DR_MEASURING;
	d->res.mode = mode;
	d->res.start_time = (int64_t)time(NULL);
	d->res.calc_time = calc_ms / 1000;
	d->res.sample_pages = sample_pages;	/* as QEMU, also while measuring the exact modes */
	d->t = *t;
	d->calc_ms = calc_ms;
	d->sample_pages = sample_pages;
	d->holds = mode != KMIG_DR_SAMPLING;
	err = pthread_create(&d->thread, NULL, measure_thread, d);
	if (err) {
		close_fds(&d->t);
		d->res.status = KMIG_DR_UNSTARTED;
		d->holds = false;
	} else {
		d->thread_live = true;
	}
	pthread_mutex_unlock(&d->lock);
	return err ? -EAGAIN : 0;
}

enum kmig_dr_status kmig_dirtyrate_status(struct kmig_dirtyrate *d)
{
	enum kmig_dr_status st;

	pthread_mutex_lock(&d->lock);
	st = d->res.status;
	pthread_mutex_unlock(&d->lock);
	return st;
}

int kmig_dirtyrate_get(struct kmig_dirtyrate *d, struct kmig_dr_result *out)
{
	int err = 0;

	pthread_mutex_lock(&d->lock);
	*out = d->res;
	out->threads = NULL;
	out->blocks = NULL;
	out->nthreads = out->nblocks = 0;
	if (d->res.nthreads) {
		out->threads = malloc(d->res.nthreads * sizeof(*out->threads));
		if (out->threads) {
			memcpy(out->threads, d->res.threads, d->res.nthreads * sizeof(*out->threads));
			out->nthreads = d->res.nthreads;
		} else {
			err = -ENOMEM;
		}
	}
	if (!err && d->res.nblocks) {
		out->blocks = calloc(d->res.nblocks, sizeof(*out->blocks));
		err = out->blocks ? 0 : -ENOMEM;
		for (unsigned int i = 0; !err && i < d->res.nblocks; i++) {
			const struct kmig_dr_block_result *s = &d->res.blocks[i];
			struct kmig_dr_block_result *b = &out->blocks[i];

			*b = *s;
			b->regions = malloc((s->nregions ? s->nregions : 1) * sizeof(*b->regions));
			if (!b->regions) {
				err = -ENOMEM;
				break;
			}
			memcpy(b->regions, s->regions, s->nregions * sizeof(*b->regions));
			out->nblocks = i + 1;
		}
	}
	pthread_mutex_unlock(&d->lock);
	if (err)
		kmig_dr_result_clear(out);
	return err;
}

bool kmig_dirtyrate_holds_workload(struct kmig_dirtyrate *d, struct kmig_dr_target *t,
				   bool *reaped)
{
	bool busy = false;

	*reaped = false;
	pthread_mutex_lock(&d->lock);
	if (d->holds && d->res.status == KMIG_DR_MEASURING) {
		busy = true;
	} else if (d->holds) {
		*t = d->t;		/* its fds are closed (-1) by now */
		d->holds = false;
		*reaped = true;
	}
	pthread_mutex_unlock(&d->lock);
	return busy;
}
