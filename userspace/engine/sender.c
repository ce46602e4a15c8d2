// SPDX-License-Identifier: GPL-2.0-only
/*
 * sender.c: encodes runs of pages into records and sends them (see
 * sender.h).  Per page it decides zero or not (a hole is zero without
 * being read), records the page's hash for the end-of-stream checksum, and
 * hands runs of non-zero pages to the channel's codec.  Batches go out
 * when a MiB of payload has gathered, rate-limited, and count as
 * transferred once the channel took them.
 *
 * Who encodes: the migration thread itself (one channel), a thread per
 * data channel (multifd), or, with compression on the main channel,
 * "lanes": encoder threads that each compress their own runs and take
 * turns writing whole batches to the main channel.  In postcopy the
 * migration thread sends every page itself, on the main channel.
 */
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "codec.h"
#include "log.h"
#include "pagehash.h"
#include "ratelimit.h"
#include "sender.h"
#include "src.h"
#include "xbzrle_send.h"

#define QUEUE_LEN   64				/* runs waiting per data channel */

enum work_kind { W_RUN, W_SYNC };

struct work {
	enum work_kind kind;
	uint32_t blk;
	uint32_t n;
	uint64_t first;		/* W_RUN: first page; W_SYNC: the sync number */
	bool last;
};

/** struct chan_tx - one channel's sending side (or one lane of the main channel) */
struct chan_tx {
	struct kmig_sender *snd;
	struct kmig_chan *c;
	bool data;
	bool lane;
	struct kmig_batch b;
	const struct kmig_codec_ops *codec;
	void *cpriv;
	struct kmig_xbzrle_send *xb;	/* the main channel's XBZRLE stage, or NULL */
	struct kmig_ratelimit rl;
	pthread_t thr;
	bool thr_live;
	struct work q[QUEUE_LEN];
	unsigned int qh, qn;
	bool working;
};

struct kmig_sender {
	struct kmig_src *s;
	unsigned int nct;		/* ct[0] main, ct[1..nct) data channels or lanes */
	struct chan_tx *ct;
	pthread_mutex_t main_lock;	/* one batch at a time on the main channel */
	uint64_t key_base[KMIG_MAX_BLOCKS];	/* XBZRLE cache key of each block's page 0 */
	bool threaded;
	unsigned int next;		/* round robin over the data channels */
	uint64_t sync;
	bool postcopy;			/* pages on the main channel only, raw or zero */
	pthread_mutex_t lock;		/* queues, @stop, @failed */
	pthread_cond_t cond;
	bool stop;
	int failed;
};

/* ---- sending ---- */

static uint64_t rate_share(struct chan_tx *ct)
{
	struct kmig_src *s = ct->snd->s;
	unsigned int ways = ct->snd->threaded && !ct->snd->postcopy ? ct->snd->nct - 1 : 1;
	uint64_t rate;

	if (ct->snd->postcopy)
		return 0;	/* src_postcopy.c budgets the sweep itself, between requests */
	if (s->downtime)
		return 0;	/* no limit once the workload is stopped */
	pthread_mutex_lock(&s->m->lock);
	rate = s->m->tuning.max_bandwidth;
	pthread_mutex_unlock(&s->m->lock);
	return rate && rate / ways ? rate / ways : rate;
}

/* writes the batch and waits until the channel let go of it; 0 or -errno */
static int send_batch(struct chan_tx *ct)
{
	struct kmig_src *s = ct->snd->s;
	struct kmig_batch *b = &ct->b;
	unsigned int done = 0;

	while (done < b->n) {
		long k = kmig_chan_send(ct->c, b->tx + done, b->n - done);

		if (k < 0)
			return kmig_src_fail(s, (int)k, "failed to write the migration stream: %s",
					     strerror((int)-k));
		done += (unsigned int)k;
	}
	/* a zero-copy channel may still read the batch: reuse it only when done */
	while (kmig_chan_completed(ct->c) < ct->c->taken) {
		if (s->m->cancel)
			return -ECANCELED;
		sched_yield();
	}
	return 0;
}

/*
 * release-ram: the pages of the batch just sent are freed in the source's
 * memfd (postcopy only: they are never needed here again)
 */
static void release_batch(struct chan_tx *ct)
{
	struct kmig_src *s = ct->snd->s;
	uint64_t pages = 0;

	for (unsigned int k = 0; k < ct->b.n; k++) {
		const struct kmig_wire_rec *r = &ct->b.rec[k];
		const struct kmig_block *b = s->blk[r->block].b;

		if (fallocate(b->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)r->offset, (off_t)r->count << KMIG_PAGE_SHIFT) == 0)
			pages += r->count;
	}
	kmig_src_account_release(s, pages);
}

/* sends the batch, rate-limited, and counts it; 0 or -errno */
static int flush(struct chan_tx *ct)
{
	struct kmig_src *s = ct->snd->s;
	struct kmig_batch *b = &ct->b;
	int ret;

	if (!b->n && !ct->xb)
		return 0;
	if (!kmig_ratelimit_wait(&ct->rl, b->bytes, rate_share(ct), &s->m->cancel))
		return -ECANCELED;
	if (!ct->data)
		pthread_mutex_lock(&ct->snd->main_lock);
	ret = send_batch(ct);
	if (!ct->data)
		pthread_mutex_unlock(&ct->snd->main_lock);
	if (ret)
		return ret;
	if (ct->snd->postcopy && s->m->cfg.release_ram)
		release_batch(ct);
	kmig_src_account(s, b->bytes, b->normal, b->zero, ct->data);
	if (ct->codec->enc != KMIG_ENC_RAW)
		kmig_src_account_codec(s, b->coded, b->coded_bytes, b->normal, 0);
	if (ct->xb) {
		struct kmig_xbzrle_counts xc = { 0 };

		kmig_xbzrle_send_take(ct->xb, &xc);
		kmig_src_account_xbzrle(s, &xc, kmig_xbzrle_send_cache_size(ct->xb));
	}
	kmig_batch_reset(b);
	return 0;
}

static int zero_rec(struct chan_tx *ct, uint32_t blk, uint64_t first, uint32_t n)
{
	int ret = kmig_batch_add(&ct->b, KMIG_ENC_ZERO, NULL, 0, blk, first, n);

	if (!ret)
		ct->b.zero += n;
	return ret;
}

/* what the records from slot @before on carry, for the counters */
static void count_recs(struct kmig_batch *b, unsigned int before)
{
	for (unsigned int k = before; k < b->n; k++) {
		const struct kmig_wire_rec *r = &b->rec[k];

		if (r->enc == KMIG_ENC_XBZRLE)
			continue;	/* XBZRLE's own counters have them */
		b->normal += r->count;
		if (r->enc != KMIG_ENC_RAW) {
			b->coded += r->count;
			b->coded_bytes += r->len;
		}
	}
}

/* non-zero pages [i, i + n): through XBZRLE when it takes them, else the codec */
static int put_pages(struct chan_tx *ct, uint32_t blk, uint64_t i, uint32_t n, const uint8_t *base)
{
	struct kmig_sender *snd = ct->snd;
	unsigned int before = ct->b.n;
	int ret = 0;

	if (ct->xb && !snd->postcopy && kmig_xbzrle_send_enabled(ct->xb)) {
		for (uint64_t k = i; k < i + n && ret >= 0; k++) {
			const uint8_t *pg = base + (k << KMIG_PAGE_SHIFT);

			ret = kmig_xbzrle_send_page(ct->xb, &ct->b, blk, k,
						    snd->key_base[blk] + k, pg);
			if (!ret)	/* not taken: as usual */
				ret = ct->codec->encode(ct->cpriv, &ct->b, blk, k, 1, pg);
		}
	} else {
		ret = ct->codec->encode(ct->cpriv, &ct->b, blk, i, n, base + (i << KMIG_PAGE_SHIFT));
		if (!ret && ct->b.n == before)
			ret = -EPROTO;	/* a codec must emit something */
	}
	count_recs(&ct->b, before);
	return ret < 0 ? ret : 0;
}

/* encodes and batches pages [first, first + n) of block @blk */
static int put_run(struct chan_tx *ct, uint32_t blk, uint64_t first, uint32_t n)
{
	struct kmig_src *s = ct->snd->s;
	struct kmig_srcblk *sb = &s->blk[blk];
	const uint8_t *base = sb->b->map;
	uint64_t i = first, end = first + n;
	int ret;

	while (i < end) {
		bool zero = kmig_src_page_zero(sb, i);
		uint64_t j = i;

		while (j < end && (j == i || kmig_src_page_zero(sb, j) == zero)) {
			sb->hash[j] = zero ? s->zero_hash : kmig_page_hash(base + (j << KMIG_PAGE_SHIFT));
			j++;
		}
		if (KMIG_BATCH_RECS - ct->b.n < (j - i) + 1 && (ret = flush(ct)))
			return ret;
		if (zero) {
			ret = zero_rec(ct, blk, i, (uint32_t)(j - i));
			for (uint64_t k = i; ct->xb && !ct->snd->postcopy && k < j; k++)
				kmig_xbzrle_send_zero(ct->xb, ct->snd->key_base[blk] + k);
		} else {
			ret = put_pages(ct, blk, i, (uint32_t)(j - i), base);
		}
		if (ret)
			return kmig_src_fail(s, ret, "cannot encode pages: %s", strerror(-ret));
		i = j;
		if (ct->b.bytes >= KMIG_BATCH_BYTES && (ret = flush(ct)))
			return ret;
		if (s->m->cancel)
			return -ECANCELED;
	}
	return 0;
}

/* a data channel's SYNC: everything before it is out */
static int put_sync(struct chan_tx *ct, uint64_t no, bool last)
{
	struct kmig_wire_rec r = { .type = KMIG_REC_SYNC, .chan = ct->b.chan, .offset = no,
				   .flags = last ? KMIG_SYNC_F_LAST : 0 };
	int ret = flush(ct);

	if (ct->lane)
		return ret;	/* the main channel is in order: no SYNC record needed */
	if (!ret)
		ret = kmig_chan_send_rec(ct->c, &r, NULL);
	if (ret && ret != -ECANCELED)
		return kmig_src_fail(ct->snd->s, ret, "failed to write the migration stream: %s",
				     strerror(-ret));
	if (!ret)
		kmig_src_account(ct->snd->s, sizeof(r), 0, 0, true);
	return ret;
}

/* ---- data channel threads ---- */

static void *chan_main(void *arg)
{
	struct chan_tx *ct = arg;
	struct kmig_sender *snd = ct->snd;

	pthread_mutex_lock(&snd->lock);
	for (;;) {
		struct work w;
		int ret;

		while (!snd->stop && !ct->qn)
			pthread_cond_wait(&snd->cond, &snd->lock);
		if (snd->stop)
			break;
		bool skip = snd->failed != 0;	/* after a failure: only drain */

		w = ct->q[ct->qh];
		ct->qh = (ct->qh + 1) % QUEUE_LEN;
		ct->qn--;
		ct->working = true;
		pthread_mutex_unlock(&snd->lock);
		ret = skip ? 0 : w.kind == W_RUN ? put_run(ct, w.blk, w.first, w.n) :
		      put_sync(ct, w.first, w.last);
		pthread_mutex_lock(&snd->lock);
		ct->working = false;
		if (ret && !snd->failed) {
			snd->failed = ret;
			/* the other channels' threads may block in a send: end that */
			for (unsigned int i = 1; i < snd->nct; i++)
				kmig_chan_abort(snd->ct[i].c);
		}
		pthread_cond_broadcast(&snd->cond);
	}
	pthread_mutex_unlock(&snd->lock);
	return NULL;
}

static int push(struct kmig_sender *snd, struct chan_tx *ct, struct work w)
{
	bool busy;
	int ret;

	pthread_mutex_lock(&snd->lock);
	/* a full queue: the thread is busy (counted for compressing threads) */
	busy = ct->qn == QUEUE_LEN && w.kind == W_RUN && ct->codec->enc != KMIG_ENC_RAW;
	while (!snd->failed && ct->qn == QUEUE_LEN && !snd->s->m->cancel)
		pthread_cond_wait(&snd->cond, &snd->lock);
	ret = snd->failed ? snd->failed : snd->s->m->cancel ? -ECANCELED : 0;
	if (!ret) {
		ct->q[(ct->qh + ct->qn) % QUEUE_LEN] = w;
		ct->qn++;
		pthread_cond_broadcast(&snd->cond);
	}
	pthread_mutex_unlock(&snd->lock);
	if (busy)
		kmig_src_account_codec(snd->s, 0, 0, 0, 1);
	return ret;
}

/* ---- the interface ---- */

int kmig_sender_pages(struct kmig_sender *snd, uint32_t blk, uint64_t first, uint32_t n)
{
	struct chan_tx *ct;

	if (!snd->threaded || snd->postcopy)
		return put_run(&snd->ct[0], blk, first, n);
	ct = &snd->ct[1 + snd->next];
	snd->next = (snd->next + 1) % (snd->nct - 1);
	return push(snd, ct, (struct work){ .kind = W_RUN, .blk = blk, .first = first, .n = n });
}

int kmig_sender_ctrl(struct kmig_sender *snd, struct kmig_wire_rec *r, const void *payload)
{
	struct chan_tx *ct = &snd->ct[0];
	int ret = flush(ct);

	r->chan = 0;
	if (!ret) {
		pthread_mutex_lock(&snd->main_lock);
		ret = kmig_chan_send_rec(ct->c, r, payload);
		pthread_mutex_unlock(&snd->main_lock);
	}
	if (ret && ret != -ECANCELED)
		return kmig_src_fail(snd->s, ret, "failed to write the migration stream: %s",
				     strerror(-ret));
	if (!ret)
		kmig_src_account(snd->s, sizeof(*r) + r->len, 0, 0, false);
	return ret;
}

int kmig_sender_sync(struct kmig_sender *snd, bool last)
{
	int ret = 0;

	if (!snd->threaded || snd->postcopy)
		return flush(&snd->ct[0]);
	snd->sync++;
	for (unsigned int i = 1; i < snd->nct && !ret; i++)
		ret = push(snd, &snd->ct[i], (struct work){ .kind = W_SYNC, .first = snd->sync,
							    .last = last });
	pthread_mutex_lock(&snd->lock);
	for (;;) {
		bool busy = false;

		for (unsigned int i = 1; i < snd->nct; i++)
			busy |= snd->ct[i].qn || snd->ct[i].working;
		if (!busy || snd->failed)
			break;
		pthread_cond_wait(&snd->cond, &snd->lock);
	}
	ret = ret ? ret : snd->failed;
	pthread_mutex_unlock(&snd->lock);
	return ret;
}

int kmig_sender_pass(struct kmig_sender *snd, uint64_t pass, bool last)
{
	struct kmig_xbzrle_send *xb = snd->ct[0].xb;
	uint64_t size;
	char err[256];
	int ret;

	if (!xb)
		return 0;
	pthread_mutex_lock(&snd->s->m->lock);
	size = snd->s->m->tuning.xbzrle_cache_size;
	pthread_mutex_unlock(&snd->s->m->lock);
	ret = kmig_xbzrle_send_pass(xb, pass, last, size, err, sizeof(err));
	return ret ? kmig_src_fail(snd->s, ret, "cannot resize the XBZRLE cache: %s", err) : 0;
}

uint64_t kmig_sender_last_sync(const struct kmig_sender *snd)
{
	return snd->sync;
}

void kmig_sender_postcopy(struct kmig_sender *snd)
{
	snd->postcopy = true;
}

int kmig_sender_flush(struct kmig_sender *snd)
{
	return flush(&snd->ct[0]);
}

void kmig_sender_forget(struct kmig_sender *snd)
{
	kmig_batch_reset(&snd->ct[0].b);
}

int kmig_sender_ctrl_many(struct kmig_sender *snd, struct kmig_wire_rec *r, unsigned int n)
{
	struct kmig_tx tx[64];
	int ret = flush(&snd->ct[0]);

	for (unsigned int done = 0; !ret && done < n;) {
		unsigned int k = n - done < 64 ? n - done : 64;

		for (unsigned int i = 0; i < k; i++) {
			r[done + i].chan = 0;
			tx[i] = (struct kmig_tx){ .hdr = &r[done + i] };
		}
		pthread_mutex_lock(&snd->main_lock);
		ret = kmig_chan_send_all(snd->ct[0].c, tx, k);
		/* @tx points at @r: a zero-copy channel must be done with it first */
		while (!ret && kmig_chan_completed(snd->ct[0].c) < snd->ct[0].c->taken)
			sched_yield();
		pthread_mutex_unlock(&snd->main_lock);
		if (!ret)
			kmig_src_account(snd->s, k * sizeof(*r), 0, 0, false);
		done += k;
	}
	if (ret && ret != -ECANCELED)
		return kmig_src_fail(snd->s, ret, "failed to write the migration stream: %s",
				     strerror(-ret));
	return ret;
}

static void ct_fini(struct chan_tx *ct)
{
	kmig_xbzrle_send_free(ct->xb);
	if (ct->codec)
		ct->codec->enc_fini(ct->cpriv);
	kmig_batch_fini(&ct->b);
}

void kmig_sender_free(struct kmig_sender *snd)
{
	if (!snd)
		return;
	pthread_mutex_lock(&snd->lock);
	snd->stop = true;
	pthread_cond_broadcast(&snd->cond);
	pthread_mutex_unlock(&snd->lock);
	for (unsigned int i = 0; i < snd->nct; i++) {
		if (snd->ct[i].thr_live)
			pthread_join(snd->ct[i].thr, NULL);
		ct_fini(&snd->ct[i]);
	}
	pthread_cond_destroy(&snd->cond);
	pthread_mutex_destroy(&snd->lock);
	pthread_mutex_destroy(&snd->main_lock);
	free(snd->ct);
	free(snd);
}

/* the codec @cfg names, or NULL with @s failed */
static const struct kmig_codec_ops *codec_of(struct kmig_src *s, const struct kmig_codec_cfg *cfg)
{
	const struct kmig_codec_ops *c = kmig_codec_for(cfg->enc);

	if (!c || (c->enc != KMIG_ENC_RAW && (cfg->level < c->level_min ||
					       cfg->level > c->level_max))) {
		kmig_src_fail(s, -EINVAL, "page encoding %u at level %d is not supported", cfg->enc,
			      cfg->level);
		return NULL;
	}
	return c;
}

static int ct_init(struct kmig_sender *snd, struct chan_tx *ct, struct kmig_chan *c, bool data,
		   bool lane, const struct kmig_codec_cfg *cfg)
{
	struct kmig_src *s = snd->s;
	const struct kmig_codec_ops *codec = codec_of(s, cfg);
	int ret;

	ct->snd = snd;
	ct->c = c;
	ct->data = data;
	ct->lane = lane;
	ct->b.chan = (uint16_t)c->id;
	if (!codec)
		return -EINVAL;
	ret = codec->enc_init(&ct->cpriv, cfg->level);
	if (ret)
		return kmig_src_fail(s, ret, "cannot set up the %s codec: %s", codec->name,
				     strerror(-ret));
	ct->codec = codec;
	if (snd->threaded && (data || lane)) {
		ret = -pthread_create(&ct->thr, NULL, chan_main, ct);
		if (ret)
			return kmig_src_fail(s, ret, "cannot start a channel thread: %s",
					     strerror(-ret));
		ct->thr_live = true;
	}
	return 0;
}

int kmig_sender_new(struct kmig_sender **out, struct kmig_src *s)
{
	const struct kmig_mig_config *cfg = &s->m->cfg;
	unsigned int lanes = s->nchans > 1 ? 0 : cfg->lanes;
	struct kmig_sender *snd = calloc(1, sizeof(*snd));
	int ret = 0;

	*out = NULL;
	if (snd)
		snd->ct = calloc(s->nchans + lanes, sizeof(*snd->ct));
	if (!snd || !snd->ct) {
		free(snd);
		return kmig_src_fail(s, -ENOMEM, "out of memory for the channel senders");
	}
	snd->s = s;
	snd->nct = s->nchans + lanes;
	snd->threaded = snd->nct > 1;
	pthread_mutex_init(&snd->lock, NULL);
	pthread_mutex_init(&snd->main_lock, NULL);
	pthread_cond_init(&snd->cond, NULL);
	ret = ct_init(snd, &snd->ct[0], &s->chans[0], false, false, &cfg->main_codec);
	if (!ret && cfg->xbzrle && snd->nct == 1) {
		char err[256];

		/* keys as QEMU's: the page's index in all RAM, blocks in order */
		for (unsigned int b = 1; b < s->nblk; b++)
			snd->key_base[b] = snd->key_base[b - 1] + s->blk[b - 1].npages;
		ret = kmig_xbzrle_send_new(&snd->ct[0].xb, cfg->xbzrle_cache_size, err, sizeof(err));
		if (ret)
			kmig_src_fail(s, ret, "cannot set up XBZRLE: %s", err);
	}
	for (unsigned int i = 1; i < s->nchans && !ret; i++)
		ret = ct_init(snd, &snd->ct[i], &s->chans[i], true, false, &cfg->data_codec);
	for (unsigned int i = 1; i <= lanes && !ret; i++)
		ret = ct_init(snd, &snd->ct[i], &s->chans[0], false, true, &cfg->main_codec);
	if (ret) {
		kmig_sender_free(snd);
		return ret;
	}
	pthread_mutex_lock(&s->m->lock);
	s->m->stats.compressing = (s->nchans > 1 ? cfg->data_codec.enc : cfg->main_codec.enc) !=
				  KMIG_ENC_RAW;
	pthread_mutex_unlock(&s->m->lock);
	*out = snd;
	return 0;
}
