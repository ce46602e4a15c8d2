// SPDX-License-Identifier: GPL-2.0-only
/*
 * retpath.c: the source's return-path reader (see retpath.h).  Everything
 * the destination sends is checked: an unknown type, a payload where none
 * belongs, an error text longer than the limit or a bitmap of the wrong
 * size ends the reading with a protocol error, never a buffer overrun.
 * Page requests are only queued here (bounded: a flood is dropped and
 * counted); their block and range are checked by whoever serves them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

static bool header_clean(const struct kmig_wire_rec *r)
{
	return !r->enc && !r->flags && !r->chan && !r->reserved && !r->reserved2;
}

/* a REQUEST: queued as it is (the server checks the range), or dropped when full */
static void queue_request(struct kmig_retpath *rp, const struct kmig_wire_rec *r)
{
	pthread_mutex_lock(&rp->lock);
	rp->req_seen++;
	if (rp->req_len == KMIG_RETPATH_QUEUE) {
		rp->req_dropped++;
	} else {
		rp->req[(rp->req_head + rp->req_len++) % KMIG_RETPATH_QUEUE] =
			(struct kmig_retpath_req){ .block = r->block, .count = r->count,
						   .offset = r->offset };
		pthread_cond_broadcast(&rp->cond);
	}
	pthread_mutex_unlock(&rp->lock);
}

/* a BITMAP: its size checked against its count, read whole, handed on; 0 or -errno */
static int take_bitmap(struct kmig_retpath *rp, const struct kmig_wire_rec *r)
{
	int ret;

	if (!rp->hooks.bitmap || !header_clean(r) || !r->count ||
	    r->count > KMIG_WIRE_MAX_BITMAP || r->len != (r->count + 63) / 64 * 8)
		return -EPROTO;
	if (!rp->bits && !(rp->bits = malloc(KMIG_WIRE_MAX_BITMAP / 8)))
		return -ENOMEM;
	ret = kmig_chan_read(rp->c, rp->bits, r->len);
	return ret ? ret : rp->hooks.bitmap(rp->hooks.opaque, r, rp->bits);
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
		if (r.type == KMIG_REC_REQUEST && !r.len && header_clean(&r)) {
			queue_request(rp, &r);
			continue;
		}
		if (r.type == KMIG_REC_ACK && !r.len && header_clean(&r)) {
			pthread_mutex_lock(&rp->lock);
			if (r.offset > rp->acked)
				rp->acked = r.offset;
			pthread_cond_broadcast(&rp->cond);
			pthread_mutex_unlock(&rp->lock);
			continue;
		}
		if (r.type == KMIG_REC_BITMAP) {
			ret = take_bitmap(rp, &r);
			if (ret) {
				closed = ret;
				break;
			}
			continue;
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
		if (k < 0 || r.len || !header_clean(&r)) {
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
	return kmig_retpath_start_hooks(rp, c, NULL);
}

int kmig_retpath_start_hooks(struct kmig_retpath *rp, struct kmig_chan *c,
			     const struct kmig_retpath_hooks *hooks)
{
	pthread_condattr_t ca;
	int ret;

	memset(rp, 0, sizeof(*rp));
	rp->c = c;
	if (hooks)
		rp->hooks = *hooks;
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

/* waits on @rp->cond for at most @ms; @lock held */
static void nap_ms(struct kmig_retpath *rp, int ms)
{
	struct timespec dl;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (ms % 1000) * 1000000l;
	if (dl.tv_nsec >= 1000000000l) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000l;
	}
	pthread_cond_timedwait(&rp->cond, &rp->lock, &dl);
}

unsigned int kmig_retpath_take_requests(struct kmig_retpath *rp, struct kmig_retpath_req *out,
					unsigned int max, int timeout_ms)
{
	unsigned int n = 0;

	if (!rp->running)
		return 0;
	pthread_mutex_lock(&rp->lock);
	if (!rp->req_len && timeout_ms > 0 && !rp->closed && !rp->error[0])
		nap_ms(rp, timeout_ms);
	while (n < max && rp->req_len) {
		out[n++] = rp->req[rp->req_head];
		rp->req_head = (rp->req_head + 1) % KMIG_RETPATH_QUEUE;
		rp->req_len--;
	}
	pthread_mutex_unlock(&rp->lock);
	return n;
}

uint64_t kmig_retpath_acked(struct kmig_retpath *rp)
{
	uint64_t n;

	if (!rp->running)
		return 0;
	pthread_mutex_lock(&rp->lock);
	n = rp->acked;
	pthread_mutex_unlock(&rp->lock);
	return n;
}

uint64_t kmig_retpath_dropped(struct kmig_retpath *rp)
{
	uint64_t n;

	if (!rp->running)
		return 0;
	pthread_mutex_lock(&rp->lock);
	n = rp->req_dropped;
	pthread_mutex_unlock(&rp->lock);
	return n;
}

void kmig_retpath_drop_requests(struct kmig_retpath *rp)
{
	if (!rp->running)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->req_head = rp->req_len = 0;
	pthread_mutex_unlock(&rp->lock);
}

bool kmig_retpath_peek(struct kmig_retpath *rp, uint16_t type)
{
	int k = slot(type);
	bool got;

	if (k < 0 || !rp->running)
		return false;
	pthread_mutex_lock(&rp->lock);
	got = rp->got[k] > rp->used[k];
	pthread_mutex_unlock(&rp->lock);
	return got;
}

int kmig_retpath_closed(struct kmig_retpath *rp)
{
	int closed;

	if (!rp->running)
		return -ENOTCONN;
	pthread_mutex_lock(&rp->lock);
	closed = rp->closed;
	pthread_mutex_unlock(&rp->lock);
	return closed;
}

void kmig_retpath_stop(struct kmig_retpath *rp)
{
	if (!rp->running)
		return;
	pthread_join(rp->thr, NULL);
	pthread_cond_destroy(&rp->cond);
	pthread_mutex_destroy(&rp->lock);
	free(rp->bits);
	rp->bits = NULL;
	rp->running = false;
}
