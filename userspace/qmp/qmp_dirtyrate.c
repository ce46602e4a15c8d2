// SPDX-License-Identifier: GPL-2.0-only
/*
 * qmp_dirtyrate.c: QMP calc-dirty-rate and query-dirty-rate (QEMU 5.2+
 * shape, QEMU 7.2's checks and error texts), measured on the workload
 * registered with this kmigd by userspace/dirtyrate/.  The coupling to the
 * agent is three things: the engine's workload (copied, descriptors
 * dup'ed, through kmig_mig_peek_workload when a measurement starts), the
 * engine's state (tracker modes refuse while a migration uses the
 * workload's tracker), and a->dirtyrate (created here, freed with the
 * agent).  qmp_migrate() asks kmig_agent_dirtyrate_check() before
 * starting, because a tracker-mode measurement holds the workload's
 * userfaultfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirtyrate.h"
#include "agent.h"
#include "log.h"
#include "migrate.h"
#include "qapi-commands.h"
#include "qmp_server.h"
#include "track_bpf.h"
#include "tracker.h"
#include "workload.h"

static struct kmig_dirtyrate *dr_get(struct kmig_agent *a)
{
	if (!a->dirtyrate)
		a->dirtyrate = kmig_dirtyrate_new();
	return a->dirtyrate;
}

/* hands a finished measurement's uffd state back to the workload's blocks */
static int give_back(struct kmig_workload *w, bool busy, void *arg)
{
	const struct kmig_dr_target *t = arg;

	if (busy || w->pid != t->pid || w->nblocks != t->nblocks)
		return 0;
	for (unsigned int i = 0; i < t->nblocks; i++) {
		struct kmig_block *b = &w->blocks[i];

		if (t->blocks[i].uffd_api_done && b->wl_addr == t->blocks[i].addr &&
		    !strcmp(b->name, t->blocks[i].name))
			b->uffd_api_done = true;
	}
	return 0;
}

/*
 * Hands a finished tracker-mode measurement's uffd state back to the
 * workload (UFFDIO_API runs once per uffd: a later migration must know).
 * Returns true while a measurement still holds the workload's tracker.
 */
static bool dr_reap(struct kmig_agent *a)
{
	struct kmig_dr_target t;
	bool reaped, busy;

	if (!a->dirtyrate)
		return false;
	busy = kmig_dirtyrate_holds_workload(a->dirtyrate, &t, &reaped);
	if (reaped)
		kmig_mig_peek_workload(a->mig, give_back, &t);
	return busy;
}

int kmig_agent_dirtyrate_check(struct kmig_agent *a, struct kmig_err *err)
{
	if (!dr_reap(a))
		return 0;
	kmig_err_generic(err, "The dirty rate is being measured with the workload's dirty "
			 "tracker; migrate once query-dirty-rate reports 'measured'");
	return -1;
}

static enum kmig_dr_mode dr_mode(DirtyRateMeasureMode m)
{
	return m == DIRTY_RATE_MEASURE_MODE_DIRTY_RING ? KMIG_DR_PER_THREAD :
	       m == DIRTY_RATE_MEASURE_MODE_DIRTY_BITMAP ? KMIG_DR_BITMAP : KMIG_DR_SAMPLING;
}

static DirtyRateMeasureMode qapi_mode(enum kmig_dr_mode m)
{
	return m == KMIG_DR_PER_THREAD ? DIRTY_RATE_MEASURE_MODE_DIRTY_RING :
	       m == KMIG_DR_BITMAP ? DIRTY_RATE_MEASURE_MODE_DIRTY_BITMAP :
	       DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING;
}

/* what a measurement needs of the workload, taken under the engine's lock */
struct dr_take {
	bool want_uffd;		/* in: a tracker mode */
	struct kmig_dr_target t;	/* out: the blocks, descriptors dup'ed */
	struct kmig_track_range r[KMIG_TRACK_MAX_RANGES];
	struct kmig_track_target tt;	/* out: for the bpf probe (names point into @t) */
	bool have_uffds;		/* out: every block came with a userfaultfd */
	char no_uffd[KMIG_DR_NAME_MAX];	/* out: the first block that did not */
};

/* the workload's blocks, descriptors dup'ed (uffds only for tracker modes) */
static int snapshot(const struct kmig_workload *w, bool want_uffd, struct kmig_dr_target *t)
{
	memset(t, 0, sizeof(*t));
	t->pid = w->pid;
	for (unsigned int i = 0; i < w->nblocks && i < KMIG_DR_MAX_BLOCKS; i++) {
		const struct kmig_block *b = &w->blocks[i];
		struct kmig_dr_block *k = &t->blocks[i];

		snprintf(k->name, sizeof(k->name), "%s", b->name);
		k->addr = b->wl_addr;
		k->size = b->size;
		k->uffd_api_done = want_uffd && b->uffd_api_done;
		k->memfd = fcntl(b->memfd, F_DUPFD_CLOEXEC, 0);
		k->uffd = want_uffd && b->uffd >= 0 ? fcntl(b->uffd, F_DUPFD_CLOEXEC, 0) : -1;
		t->nblocks = i + 1;
		if (k->memfd < 0 || (want_uffd && b->uffd >= 0 && k->uffd < 0))
			return -errno;
	}
	return 0;
}

static void close_target(struct kmig_dr_target *t)
{
	for (unsigned int i = 0; i < t->nblocks; i++) {
		if (t->blocks[i].memfd >= 0)
			close(t->blocks[i].memfd);
		if (t->blocks[i].uffd >= 0)
			close(t->blocks[i].uffd);
	}
}

/* engine lock held: the snapshot, and what the mode checks need */
static int take(struct kmig_workload *w, bool busy, void *arg)
{
	struct dr_take *k = arg;
	int ret;

	/* a migration owns the workload's tracker: only sampling may look */
	if (busy && k->want_uffd)
		return -EBUSY;
	ret = snapshot(w, k->want_uffd, &k->t);
	k->have_uffds = true;
	k->tt = (struct kmig_track_target){ .pid = w->pid, .nranges = k->t.nblocks,
					    .ranges = k->r };
	for (unsigned int i = 0; i < k->t.nblocks; i++) {
		if (w->blocks[i].uffd < 0 && k->have_uffds) {
			k->have_uffds = false;
			snprintf(k->no_uffd, sizeof(k->no_uffd), "%s", w->blocks[i].name);
		}
		k->r[i] = (struct kmig_track_range){ .name = k->t.blocks[i].name,
			.addr = k->t.blocks[i].addr, .len = k->t.blocks[i].size, .memfd = -1,
			.uffd = k->t.blocks[i].uffd };
	}
	return ret;
}

/* whether @mode can run on this workload now; logs why not */
static bool mode_enabled(const struct dr_take *k, DirtyRateMeasureMode mode)
{
	if (mode == DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING)
		return true;
	if (!k->have_uffds) {
		kmig_log(KMIG_LOG_INFO, "dirtyrate", "mode %s needs the workload's userfaultfd; "
			 "block %s has none (a destination workload, or its kernel refused one)",
			 DirtyRateMeasureMode_str[mode], k->no_uffd);
		return false;
	}
	/* dirty-ring is the bpf tracker: its probe (cached) logs why it cannot load */
	return mode != DIRTY_RATE_MEASURE_MODE_DIRTY_RING || kmig_track_bpf_ops.probe(&k->tt) == 0;
}

int qmp_calc_dirty_rate(struct kmig_qmp_ctx *ctx, const q_obj_calc_dirty_rate_arg *args,
			struct kmig_err *err)
{
	struct kmig_agent *a = ctx->a;
	DirtyRateMeasureMode mode = args->has_mode ? args->mode :
				    DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING;
	int64_t sample_pages = KMIG_DR_DEF_SAMPLES;
	struct dr_take k = { .want_uffd = mode != DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING };
	int ret;

	/* QEMU 7.2's checks, in its order and words */
	dr_reap(a);
	if (a->dirtyrate && kmig_dirtyrate_status(a->dirtyrate) == KMIG_DR_MEASURING) {
		kmig_err_generic(err, "the dirty rate is already being measured.");
		return -1;
	}
	if (args->calc_time < KMIG_DR_MIN_CALC_S || args->calc_time > KMIG_DR_MAX_CALC_S) {
		kmig_err_generic(err, "calc-time is out of range[%d, %d].", KMIG_DR_MIN_CALC_S,
				 KMIG_DR_MAX_CALC_S);
		return -1;
	}
	if (args->has_sample_pages && mode == DIRTY_RATE_MEASURE_MODE_DIRTY_RING) {
		kmig_err_generic(err, "either sample-pages or dirty-ring can be specified.");
		return -1;
	}
	if (args->has_sample_pages) {
		if (args->sample_pages < KMIG_DR_MIN_SAMPLES ||
		    args->sample_pages > KMIG_DR_MAX_SAMPLES) {
			kmig_err_generic(err, "sample-pages is out of range[%d, %d].",
					 KMIG_DR_MIN_SAMPLES, KMIG_DR_MAX_SAMPLES);
			return -1;
		}
		sample_pages = args->sample_pages;
	}
	/* kmig's own: what there is to measure, and who else uses the tracker */
	ret = kmig_mig_peek_workload(a->mig, take, &k);
	if (ret == -ENOENT) {
		kmig_err_generic(err, "No workload is registered with kmigd: there is no memory "
				 "to measure");
		return -1;
	}
	if (mode != DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING &&
	    (ret == -EBUSY || kmig_mig_in_progress(a->mig))) {
		close_target(&k.t);
		kmig_err_generic(err, "mode %s needs the workload's dirty tracker, which the "
				 "migration in progress is using; use page-sampling",
				 DirtyRateMeasureMode_str[mode]);
		return -1;
	}
	if (!ret && !mode_enabled(&k, mode)) {
		close_target(&k.t);
		kmig_err_generic(err, "mode %s is not enabled, use other method instead.",
				 DirtyRateMeasureMode_str[mode]);
		return -1;
	}
	if (!ret && !dr_get(a)) {
		close_target(&k.t);
		kmig_in_nomem(err);
		return -1;
	}
	if (ret)
		close_target(&k.t);
	else
		ret = kmig_dirtyrate_start(a->dirtyrate, &k.t, dr_mode(mode),
					   args->calc_time * 1000, (uint64_t)sample_pages);
	if (ret) {
		kmig_err_generic(err, "cannot start the dirty-rate measurement: %s",
				 strerror(-ret));
		return -1;
	}
	return 0;
}

static int64_t rate_of(uint64_t pages, int64_t ms)
{
	return ms > 0 ? (int64_t)((double)pages * 4096.0 * 1000.0 / ((double)ms * (1 << 20))) : 0;
}

static int fill_threads(const struct kmig_dr_result *r, DirtyRateInfo *ret)
{
	ret->vcpu_dirty_rate.v = calloc(r->nthreads ? r->nthreads : 1, sizeof(DirtyRateVcpu));
	ret->x_kmig_threads.v = calloc(r->nthreads ? r->nthreads : 1, sizeof(DirtyRateThread));
	ret->has_vcpu_dirty_rate = ret->has_x_kmig_threads = true;
	if (!ret->vcpu_dirty_rate.v || !ret->x_kmig_threads.v)
		return -1;
	for (unsigned int i = 0; i < r->nthreads; i++) {
		DirtyRateThread *t = &ret->x_kmig_threads.v[i];

		if (r->threads[i].tid) {	/* tid 0: the kernel's writes, no thread */
			DirtyRateVcpu *v = &ret->vcpu_dirty_rate.v[ret->vcpu_dirty_rate.n++];

			v->id = r->threads[i].tid;
			v->dirty_rate = rate_of(r->threads[i].pages, r->calc_ms);
		}
		t->tid = r->threads[i].tid;
		t->dirty_pages = r->threads[i].pages;
		t->pages_per_second = r->calc_ms > 0 ?
			(uint64_t)(r->threads[i].pages * 1000 / (uint64_t)r->calc_ms) : 0;
		t->name = strdup(r->threads[i].name);
		if (!t->name)
			return -1;
		ret->x_kmig_threads.n = i + 1;
	}
	return 0;
}

static int fill_blocks(const struct kmig_dr_result *r, DirtyRateInfo *ret)
{
	ret->has_x_kmig_blocks = true;
	ret->x_kmig_blocks.v = calloc(r->nblocks ? r->nblocks : 1, sizeof(DirtyRateBlock));
	if (!ret->x_kmig_blocks.v)
		return -1;
	for (unsigned int i = 0; i < r->nblocks; i++) {
		const struct kmig_dr_block_result *s = &r->blocks[i];
		DirtyRateBlock *b = &ret->x_kmig_blocks.v[i];

		ret->x_kmig_blocks.n = i + 1;
		b->size = s->size;
		b->dirty_pages = s->dirty_pages;
		b->region_size = 1ULL << KMIG_DR_REGION_SHIFT;
		b->name = strdup(s->name);
		b->regions.v = calloc(s->nregions ? s->nregions : 1, sizeof(int64_t));
		if (!b->name || !b->regions.v)
			return -1;
		for (uint32_t g = 0; g < s->nregions; g++)
			b->regions.v[g] = s->regions[g];
		b->regions.n = s->nregions;
	}
	return 0;
}

int qmp_query_dirty_rate(struct kmig_qmp_ctx *ctx, DirtyRateInfo *ret, struct kmig_err *err)
{
	struct kmig_dr_result r;
	int bad = 0;

	dr_reap(ctx->a);
	ret->status = DIRTY_RATE_STATUS_UNSTARTED;
	ret->mode = DIRTY_RATE_MEASURE_MODE_PAGE_SAMPLING;
	if (!ctx->a->dirtyrate)
		return 0;	/* nothing ever ran: QEMU's all-zero reply */
	if (kmig_dirtyrate_get(ctx->a->dirtyrate, &r)) {
		kmig_in_nomem(err);
		return -1;
	}
	ret->status = r.status == KMIG_DR_MEASURED ? DIRTY_RATE_STATUS_MEASURED :
		      r.status == KMIG_DR_MEASURING ? DIRTY_RATE_STATUS_MEASURING :
		      DIRTY_RATE_STATUS_UNSTARTED;
	ret->mode = qapi_mode(r.mode);
	ret->start_time = r.start_time;
	ret->calc_time = r.calc_time;
	ret->sample_pages = r.sample_pages;
	if (r.status == KMIG_DR_MEASURED) {
		ret->has_dirty_rate = true;
		ret->dirty_rate = r.dirty_rate;
		ret->has_x_kmig_tracker = ret->has_x_kmig_calc_time_ms = true;
		ret->has_x_kmig_dirty_pages = true;
		ret->x_kmig_calc_time_ms = r.calc_ms;
		ret->x_kmig_dirty_pages = r.dirty_pages;
		ret->x_kmig_tracker = strdup(r.tracker[0] ? r.tracker : "none");
		bad |= !ret->x_kmig_tracker;
		if (r.error[0]) {
			ret->has_x_kmig_error = true;
			ret->x_kmig_error = strdup(r.error);
			bad |= !ret->x_kmig_error;
		} else {
			if (r.mode == KMIG_DR_PER_THREAD)
				bad |= fill_threads(&r, ret);
			bad |= fill_blocks(&r, ret);
		}
	}
	kmig_dr_result_clear(&r);
	if (bad) {
		kmig_in_nomem(err);
		return -1;
	}
	return 0;
}
