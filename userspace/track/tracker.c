// SPDX-License-Identifier: GPL-2.0-only
/*
 * tracker.c: picks a dirty-page tracker back end by name or, for "auto",
 * the first in order of preference whose probe passes, and forwards the
 * engine's calls to it.  Every probe result is logged, so an operator can
 * see why a slower back end was chosen.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "log.h"
#include "tracker.h"

/* In order of preference. */
static const struct kmig_tracker_ops *const trackers[] = {
	&kmig_track_uffd_ops,
};

int kmig_tracker_open(struct kmig_tracker *tr, const char *name,
		      const struct kmig_track_target *t)
{
	bool any = !name || !strcmp(name, "auto");
	bool found = false;
	int err = -ENOENT;
	size_t i;

	memset(tr, 0, sizeof(*tr));
	if (!t)
		return -EINVAL;
	for (i = 0; i < sizeof(trackers) / sizeof(trackers[0]); i++) {
		const struct kmig_tracker_ops *ops = trackers[i];

		if (!any && strcmp(name, ops->name))
			continue;
		found = true;
		err = ops->probe(t);
		kmig_log(KMIG_LOG_INFO, "track", "probe tracker=%s pid=%d result=%s",
			 ops->name, (int)t->pid, err ? strerror(-err) : "ok");
		if (err)
			continue;
		tr->ops = ops;
		tr->t = *t;
		tr->priv = NULL;
		err = ops->open(tr, t);		/* logs its own failure */
		if (!err) {
			kmig_log(KMIG_LOG_INFO, "track", "open tracker=%s pid=%d addr=0x%" PRIx64
				 " len=%" PRIu64, ops->name, (int)t->pid, t->addr, t->len);
			return 0;
		}
		memset(tr, 0, sizeof(*tr));
	}
	if (!found) {
		kmig_log(KMIG_LOG_ERR, "track", "open failed step=lookup tracker=%s err=%s",
			 name, strerror(ENOENT));
		return -ENOENT;
	}
	if (any)
		kmig_log(KMIG_LOG_ERR, "track", "open failed step=auto pid=%d err=%s: no usable tracker",
			 (int)t->pid, strerror(-err));
	return err;
}

long kmig_tracker_harvest(struct kmig_tracker *tr, uint64_t *bitmap, uint64_t npages)
{
	if (!tr || !tr->ops)
		return -EBADF;
	return tr->ops->harvest(tr, bitmap, npages);
}

void kmig_tracker_close(struct kmig_tracker *tr)
{
	if (!tr || !tr->ops)
		return;
	tr->ops->close(tr);
	memset(tr, 0, sizeof(*tr));
}
