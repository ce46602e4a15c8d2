// SPDX-License-Identifier: GPL-2.0-only
/*
 * tracker.c: picks dirty-page tracker back ends by name or, for "auto", in
 * order of preference by their probes, and forwards the engine's calls.
 * A workload's blocks normally share one back end; the trackset splits
 * them between back ends only where no single one serves them all, and
 * says so in its name.  Every probe result is logged, so an operator can
 * see why a slower back end was chosen.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "track_bpf.h"
#include "clock.h"
#include "tracker.h"

/* track_kmod.c; declared here so tracker.h stays the fixed interface */
extern const struct kmig_tracker_ops kmig_track_kmod_ops;

/* In order of preference. */
const struct kmig_tracker_ops *const kmig_trackers[] = {
	&kmig_track_kmod_ops,
	&kmig_track_uffd_ops,
	&kmig_track_bpf_ops,	/* named only: blind to GUP writes (track_bpf.c) */
	NULL,
};

void kmig_track_stats_harvest(struct kmig_track_stats *st, int64_t t0_ns, uint64_t dirty)
{
	st->harvests++;
	st->pages_dirty += dirty;
	st->last_harvest_ns = (uint64_t)(kmig_now_ns() - t0_ns);
	st->harvest_ns += st->last_harvest_ns;
}

const struct kmig_tracker_ops *kmig_tracker_find(const char *name)
{
	for (size_t i = 0; kmig_trackers[i]; i++)
		if (!strcmp(kmig_trackers[i]->name, name))
			return kmig_trackers[i];
	return NULL;
}

static bool target_ok(const struct kmig_track_target *t)
{
	return t && t->nranges && t->nranges <= KMIG_TRACK_MAX_RANGES && t->ranges;
}

/* probes @ops on @t and, if it passes, opens it; 0 or -errno */
static int try_open(struct kmig_tracker *tr, const struct kmig_tracker_ops *ops,
		    const struct kmig_track_target *t)
{
	int err = ops->probe(t);

	kmig_log(KMIG_LOG_INFO, "track", "probe tracker=%s pid=%d ranges=%u first=%s result=%s",
		 ops->name, (int)t->pid, t->nranges, t->ranges[0].name ? t->ranges[0].name : "?",
		 err ? strerror(-err) : "ok");
	if (err)
		return err;
	memset(tr, 0, sizeof(*tr));
	tr->ops = ops;
	memcpy(tr->ranges, t->ranges, t->nranges * sizeof(t->ranges[0]));
	tr->target = (struct kmig_track_target){ .pid = t->pid, .nranges = t->nranges,
						 .ranges = tr->ranges };
	err = ops->open(tr, &tr->target);	/* logs its own failure */
	if (err) {
		memset(tr, 0, sizeof(*tr));
		return err;
	}
	kmig_log(KMIG_LOG_INFO, "track", "open tracker=%s pid=%d ranges=%u", ops->name,
		 (int)t->pid, t->nranges);
	return 0;
}

int kmig_tracker_open(struct kmig_tracker *tr, const char *name,
		      const struct kmig_track_target *t)
{
	bool any = !name || !strcmp(name, "auto");
	const struct kmig_tracker_ops *ops;
	int err = -ENOENT;

	memset(tr, 0, sizeof(*tr));
	if (!target_ok(t))
		return -EINVAL;
	if (!any) {
		ops = kmig_tracker_find(name);
		if (!ops) {
			kmig_log(KMIG_LOG_ERR, "track", "open failed step=lookup tracker=%s err=%s",
				 name, strerror(ENOENT));
			return -ENOENT;
		}
		return try_open(tr, ops, t);
	}
	for (size_t i = 0; kmig_trackers[i]; i++) {
		err = try_open(tr, kmig_trackers[i], t);
		if (!err)
			return 0;
	}
	kmig_log(KMIG_LOG_ERR, "track", "open failed step=auto pid=%d err=%s: no usable tracker",
		 (int)t->pid, strerror(-err));
	return err;
}

long kmig_tracker_harvest(struct kmig_tracker *tr, uint64_t *const *bitmaps)
{
	if (!tr || !tr->ops)
		return -EBADF;
	if (!bitmaps)
		return -EINVAL;
	for (unsigned int i = 0; i < tr->target.nranges; i++)
		if (!bitmaps[i])
			return -EINVAL;
	return tr->ops->harvest(tr, bitmaps);
}

int kmig_tracker_stats(struct kmig_tracker *tr, struct kmig_track_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!tr || !tr->ops)
		return -EBADF;
	return tr->ops->stats ? tr->ops->stats(tr, st) : -ENOTSUP;
}

void kmig_tracker_close(struct kmig_tracker *tr)
{
	if (!tr || !tr->ops)
		return;
	tr->ops->close(tr);
	memset(tr, 0, sizeof(*tr));
}

/* ---- tracksets ---- */

/* opens one tracker in @s for the ranges of @t picked by @pick */
static int set_add(struct kmig_trackset *s, const struct kmig_tracker_ops *ops,
		   const struct kmig_track_target *t, const bool *pick)
{
	struct kmig_track_range sub[KMIG_TRACK_MAX_RANGES];
	struct kmig_track_target st = { .pid = t->pid, .ranges = sub };
	unsigned int k = s->n;
	int err;

	for (unsigned int i = 0; i < t->nranges; i++)
		if (pick[i])
			sub[st.nranges++] = t->ranges[i];
	if (k == KMIG_TRACK_MAX_BACKENDS)
		return -E2BIG;
	err = try_open(&s->tr[k], ops, &st);
	if (err)
		return err;
	st.nranges = 0;
	for (unsigned int i = 0; i < t->nranges; i++) {
		if (!pick[i])
			continue;
		s->map[i].tracker = k;
		s->map[i].slot = st.nranges++;
	}
	s->n++;
	return 0;
}

static void set_name(struct kmig_trackset *s, const struct kmig_track_target *t)
{
	size_t o = 0;

	if (s->n == 1) {
		snprintf(s->name, sizeof(s->name), "%s", s->tr[0].ops->name);
		return;
	}
	for (unsigned int k = 0; k < s->n; k++) {
		o += snprintf(s->name + o, sizeof(s->name) - o, "%s%s(", k ? "+" : "",
			      s->tr[k].ops->name);
		for (unsigned int i = 0, first = 1; i < t->nranges && o < sizeof(s->name); i++) {
			if (s->map[i].tracker != k)
				continue;
			o += snprintf(s->name + o, sizeof(s->name) - o, "%s%s", first ? "" : ",",
				      t->ranges[i].name ? t->ranges[i].name : "?");
			first = 0;
		}
		if (o < sizeof(s->name))
			o += snprintf(s->name + o, sizeof(s->name) - o, ")");
		if (o >= sizeof(s->name))
			break;
	}
}

int kmig_trackset_open(struct kmig_trackset *s, const char *name,
		       const struct kmig_track_target *t, char *err, size_t errlen)
{
	bool any = !name || !strcmp(name, "auto");
	bool all[KMIG_TRACK_MAX_RANGES], done[KMIG_TRACK_MAX_RANGES] = { false };
	int ret = -ENOENT;

	memset(s, 0, sizeof(*s));
	if (!target_ok(t)) {
		snprintf(err, errlen, "no RAM block to track");
		return -EINVAL;
	}
	s->nranges = t->nranges;
	for (unsigned int i = 0; i < t->nranges; i++)
		all[i] = true;
	if (!any) {
		const struct kmig_tracker_ops *ops = kmig_tracker_find(name);

		if (!ops) {
			snprintf(err, errlen, "dirty tracker '%s' is not available: %s", name,
				 strerror(ENOENT));
			return -ENOENT;
		}
		ret = set_add(s, ops, t, all);
		if (!ret) {
			set_name(s, t);
			return 0;
		}
		/*
		 * Asked for by name but it cannot serve here (no privilege, no
		 * kernel support; its own log line says which): say so and let
		 * the best one that can track the workload, so the migration
		 * runs.  query-migrate names the tracker actually used.
		 */
		kmig_log(KMIG_LOG_WARN, "track", "falling back to tracker auto: tracker %s cannot "
			 "track pid %d: %s", name, (int)t->pid, strerror(-ret));
	}
	/* the best back end that serves every block */
	for (size_t b = 0; kmig_trackers[b]; b++) {
		ret = set_add(s, kmig_trackers[b], t, all);
		if (!ret) {
			set_name(s, t);
			return 0;
		}
	}
	/* none does: block by block, the best that serves it */
	for (unsigned int i = 0; i < t->nranges; i++) {
		struct kmig_track_target one = { .pid = t->pid, .nranges = 1, .ranges = &t->ranges[i] };

		if (done[i])
			continue;
		ret = -ENOENT;
		for (size_t b = 0; kmig_trackers[b] && !done[i]; b++) {
			bool pick[KMIG_TRACK_MAX_RANGES] = { false };

			ret = kmig_trackers[b]->probe(&one);
			if (ret)
				continue;
			/* every remaining block this back end serves goes with it */
			for (unsigned int j = i; j < t->nranges; j++) {
				struct kmig_track_target o2 = { .pid = t->pid, .nranges = 1,
								.ranges = &t->ranges[j] };

				pick[j] = !done[j] && !kmig_trackers[b]->probe(&o2);
			}
			ret = set_add(s, kmig_trackers[b], t, pick);
			if (ret)
				continue;
			for (unsigned int j = i; j < t->nranges; j++)
				done[j] = done[j] || pick[j];
		}
		if (!done[i]) {
			snprintf(err, errlen, "cannot track dirty pages of block '%s' with any "
				 "tracker: %s", t->ranges[i].name ? t->ranges[i].name : "?",
				 strerror(-ret));
			kmig_trackset_close(s);
			return ret;
		}
	}
	set_name(s, t);
	return 0;
}

long kmig_trackset_harvest(struct kmig_trackset *s, uint64_t *const *bitmaps, char *err,
			   size_t errlen)
{
	long total = 0;

	for (unsigned int k = 0; k < s->n; k++) {
		uint64_t *sub[KMIG_TRACK_MAX_RANGES];
		long n;

		for (unsigned int i = 0; i < s->nranges; i++)
			if (s->map[i].tracker == k)
				sub[s->map[i].slot] = bitmaps[i];
		n = kmig_tracker_harvest(&s->tr[k], sub);
		if (n < 0) {
			snprintf(err, errlen, "dirty tracking (%s) failed: %s", s->tr[k].ops->name,
				 n == -ESRCH ? "the workload has exited" : strerror((int)-n));
			return n;
		}
		total += n;
	}
	return total;
}

int kmig_trackset_stats(struct kmig_trackset *s, struct kmig_track_stats *st)
{
	int ret = -ENOTSUP;

	memset(st, 0, sizeof(*st));
	for (unsigned int k = 0; k < s->n; k++) {
		struct kmig_track_stats one;

		if (kmig_tracker_stats(&s->tr[k], &one))
			continue;
		st->harvests = one.harvests > st->harvests ? one.harvests : st->harvests;
		st->pages_scanned += one.pages_scanned;
		st->pages_dirty += one.pages_dirty;
		st->harvest_ns += one.harvest_ns;
		st->last_harvest_ns += one.last_harvest_ns;
		ret = 0;
	}
	return ret;
}

long kmig_trackset_threads(struct kmig_trackset *s, struct kmig_track_thread *out, size_t n)
{
	for (unsigned int k = 0; k < s->n; k++)
		if (s->tr[k].ops->threads)
			return s->tr[k].ops->threads(&s->tr[k], out, n);
	return -ENOTSUP;
}

void kmig_trackset_close(struct kmig_trackset *s)
{
	for (unsigned int k = 0; k < s->n; k++)
		kmig_tracker_close(&s->tr[k]);
	s->n = 0;
}
