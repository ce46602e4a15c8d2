// SPDX-License-Identifier: GPL-2.0-only
/*
 * retpath.c: the source's return-path reader (see retpath.h).  Everything
 * the destination sends is checked: an unknown type, a payload where none
 * belongs or an error text longer than the limit ends the reading with a
 * protocol error, never a buffer overrun.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "retpath.h"

/* index into got[]/used[] for an answer type, or -1 */
static int slot(uint16_t type)
{
	switch (type) {
	case KMIG_REC_ACCEPT: return 0;
	case KMIG_REC_VERIFIED: return 1;
	case KMIG_REC_RESUMED: return 2;
	default: return -1;
	}
}

static void *reader(void *arg)
{
	struct kmig_retpath *rp = arg;
	int closed = 0;

	for (;;) {
		struct kmig_wire_rec r;
		char text[KMIG_WIRE_MAX_ERROR + 1];
		int k, ret = kmig_chan_read(rp->c, &r, sizeof(r));

		if (ret) {
			closed = ret;
			break;
		}
		if (r.type == KMIG_REC_ERROR && r.len <= KMIG_WIRE_MAX_ERROR) {
			ret = kmig_chan_read(rp->c, text, r.len);
			if (ret) {
				closed = ret;
				break;
			}
			text[r.len] = 0;
			pthread_mutex_lock(&rp->lock);
			if (!rp->error[0])
				snprintf(rp->error, sizeof(rp->error), "%s", text[0] ? text : "(no text)");
			pthread_cond_broadcast(&rp->cond);
			pthread_mutex_unlock(&rp->lock);
			continue;
		}
		k = slot(r.type);
		if (k < 0 || r.len || r.enc || r.flags || r.chan || r.reserved || r.reserved2) {
			closed = -EPROTO;
			break;
		}
		pthread_mutex_lock(&rp->lock);
		rp->got[k]++;
		pthread_cond_broadcast(&rp->cond);
		pthread_mutex_unlock(&rp->lock);
	}
	pthread_mutex_lock(&rp->lock);
	rp->closed = closed;
	pthread_cond_broadcast(&rp->cond);
	pthread_mutex_unlock(&rp->lock);
	return NULL;
}

int kmig_retpath_start(struct kmig_retpath *rp, struct kmig_chan *c)
{
	pthread_condattr_t ca;
	int ret;

	memset(rp, 0, sizeof(*rp));
	rp->c = c;
	pthread_mutex_init(&rp->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rp->cond, &ca);
	pthread_condattr_destroy(&ca);
	ret = pthread_create(&rp->thr, NULL, reader, rp);
	if (ret) {
		pthread_cond_destroy(&rp->cond);
		pthread_mutex_destroy(&rp->lock);
		return -ret;
	}
	rp->running = true;
	return 0;
}

/* waits on @rp->cond for at most 100 ms (so a cancel is seen); @lock held */
static void nap(struct kmig_retpath *rp)
{
	struct timespec dl;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_nsec += 100000000l;
	if (dl.tv_nsec >= 1000000000l) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000l;
	}
	pthread_cond_timedwait(&rp->cond, &rp->lock, &dl);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
}

int kmig_retpath_wait(struct kmig_retpath *rp, uint16_t type, int timeout_ms,
		      const _Atomic bool *cancel, const char *what, char *err, size_t n)
{
	int64_t end = now_ms() + timeout_ms;
	int k = slot(type), ret = 0;

	if (k < 0 || !rp->running)
		return -EINVAL;
	pthread_mutex_lock(&rp->lock);
	for (;;) {
		if (rp->got[k] > rp->used[k]) {
			rp->used[k]++;
			break;
		}
		if (rp->error[0]) {
			snprintf(err, n, "the destination failed: %s", rp->error);
			ret = -EIO;
			break;
		}
		if (cancel && *cancel) {
			ret = -ECANCELED;
			break;
		}
		if (rp->closed) {
			if (rp->closed == -EPROTO)
				snprintf(err, n, "bad answer from the destination (%s)", what);
			else
				snprintf(err, n, "the destination closed the channel (%s): %s", what,
					 strerror(-rp->closed));
			ret = rp->closed == -EPROTO ? -EPROTO : -ECONNRESET;
			break;
		}
		if (now_ms() >= end) {
			snprintf(err, n, "the destination did not answer (%s) within %d s", what,
				 timeout_ms / 1000);
			ret = -ETIMEDOUT;
			break;
		}
		nap(rp);
	}
	pthread_mutex_unlock(&rp->lock);
	return ret;
}

bool kmig_retpath_error(struct kmig_retpath *rp, int timeout_ms, char *err, size_t n)
{
	int64_t end = now_ms() + timeout_ms;
	bool got;

	if (!rp->running)
		return false;
	pthread_mutex_lock(&rp->lock);
	while (!rp->error[0] && !rp->closed && now_ms() < end)
		nap(rp);
	got = rp->error[0] != 0;
	if (got)
		snprintf(err, n, "the destination failed: %s", rp->error);
	pthread_mutex_unlock(&rp->lock);
	return got;
}

void kmig_retpath_stop(struct kmig_retpath *rp)
{
	if (!rp->running)
		return;
	pthread_join(rp->thr, NULL);
	pthread_cond_destroy(&rp->cond);
	pthread_mutex_destroy(&rp->lock);
	rp->running = false;
}
