// SPDX-License-Identifier: GPL-2.0-only
/*
 * dst_pool.c: the destination's decompression threads (see dst_pool.h).
 * A fixed ring of jobs, each with its own payload buffer: the reader takes
 * a free one, fills it and queues it; a thread decodes it with its own
 * decoder state and gives the buffer back.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "dst.h"
#include "dst_pool.h"

struct job {
	struct kmig_wire_rec r;
	uint8_t *buf;
};

struct worker {
	struct kmig_dst_pool *p;
	pthread_t thr;
	bool live;
	void *cpriv[KMIG_ENC_MAX];
	bool cinit[KMIG_ENC_MAX];
};

struct kmig_dst_pool {
	struct kmig_dst *d;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int nw, nbuf;
	struct worker w[KMIG_DST_POOL_MAX];
	uint8_t **free_bufs;		/* @nfree of @nbuf */
	unsigned int nfree;
	struct job *q;			/* ring of @nbuf */
	unsigned int qh, qn, busy;
	bool stop;
	int err;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct kmig_dst_pool *p = w->p;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct job j;
		int ret;

		while (!p->stop && !p->qn)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->qn)
			break;
		j = p->q[p->qh];
		p->qh = (p->qh + 1) % p->nbuf;
		p->qn--;
		p->busy++;
		pthread_mutex_unlock(&p->lock);
		ret = p->err ? 0 : kmig_dst_place_encoded(p->d, w->cpriv, w->cinit, &j.r, j.buf);
		pthread_mutex_lock(&p->lock);
		if (ret && !p->err) {
			p->err = ret;
			p->d->failed = true;
		}
		p->free_bufs[p->nfree++] = j.buf;
		p->busy--;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct kmig_dst_pool *kmig_dst_pool_new(struct kmig_dst *d, unsigned int n)
{
	struct kmig_dst_pool *p = calloc(1, sizeof(*p));

	if (n < 1 || n > KMIG_DST_POOL_MAX)
		n = n < 1 ? 1 : KMIG_DST_POOL_MAX;
	if (p) {
		p->nbuf = 2 * n;
		p->free_bufs = calloc(p->nbuf, sizeof(*p->free_bufs));
		p->q = calloc(p->nbuf, sizeof(*p->q));
	}
	if (!p || !p->free_bufs || !p->q)
		goto nomem;
	p->d = d;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (unsigned int i = 0; i < p->nbuf; i++) {
		p->free_bufs[i] = malloc(KMIG_WIRE_MAX_ENCODED);
		if (!p->free_bufs[i])
			goto fail;
		p->nfree++;
	}
	for (unsigned int i = 0; i < n; i++) {
		p->w[i].p = p;
		if (pthread_create(&p->w[i].thr, NULL, worker_main, &p->w[i])) {
			kmig_dst_pool_free(p);
			kmig_dst_fail(d, -EAGAIN, "cannot start a decompression thread");
			return NULL;
		}
		p->w[i].live = true;
		p->nw++;
	}
	return p;
fail:
	kmig_dst_pool_free(p);
	return kmig_dst_fail(d, -ENOMEM, "out of memory for the decompression threads"), NULL;
nomem:
	if (p) {
		free(p->free_bufs);
		free(p->q);
		free(p);
	}
	return kmig_dst_fail(d, -ENOMEM, "out of memory for the decompression threads"), NULL;
}

uint8_t *kmig_dst_pool_buf(struct kmig_dst_pool *p)
{
	uint8_t *b = NULL;

	pthread_mutex_lock(&p->lock);
	while (!p->nfree && !p->err && !p->d->failed)
		pthread_cond_wait(&p->cond, &p->lock);
	if (p->nfree && !p->err && !p->d->failed)
		b = p->free_bufs[--p->nfree];
	pthread_mutex_unlock(&p->lock);
	return b;
}

void kmig_dst_pool_return(struct kmig_dst_pool *p, uint8_t *buf)
{
	pthread_mutex_lock(&p->lock);
	p->free_bufs[p->nfree++] = buf;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void kmig_dst_pool_submit(struct kmig_dst_pool *p, const struct kmig_wire_rec *r, uint8_t *buf)
{
	pthread_mutex_lock(&p->lock);
	/* nbuf buffers exist, so the ring of nbuf jobs never overflows */
	p->q[(p->qh + p->qn) % p->nbuf] = (struct job){ .r = *r, .buf = buf };
	p->qn++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

int kmig_dst_pool_drain(struct kmig_dst_pool *p)
{
	int ret;

	pthread_mutex_lock(&p->lock);
	while (p->qn || p->busy)
		pthread_cond_wait(&p->cond, &p->lock);
	ret = p->err;
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void kmig_dst_pool_free(struct kmig_dst_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned int i = 0; i < p->nw; i++) {
		struct worker *w = &p->w[i];

		if (w->live)
			pthread_join(w->thr, NULL);
		kmig_dst_codecs_fini(w->cpriv, w->cinit);
	}
	/* the threads gave every buffer back before they ended */
	for (unsigned int i = 0; i < p->nfree; i++)
		free(p->free_bufs[i]);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->free_bufs);
	free(p->q);
	free(p);
}
