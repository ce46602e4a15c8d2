// SPDX-License-Identifier: GPL-2.0-only
/*
 * dst_recv.c: the destination's record code (see dst.h).  Nothing from
 * the stream is trusted: every record's type, channel, block index,
 * offset, page count, encoding and length is checked before anything is
 * written, and raw pages are read straight into the destination's block
 * only once their range is known to lie inside it.  A bad or truncated
 * stream fails the migration with a message saying what was wrong.  After
 * postcopy's RUN, pages go to dst_postcopy.c instead (placed atomically).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "dst.h"
#include "dst_pool.h"
#include "pagehash.h"

void kmig_dst_init(struct kmig_dst *d, struct kmig_mig *m)
{
	memset(d, 0, sizeof(*d));
	d->m = m;
	d->zero_hash = kmig_zero_page_hash();
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->rp_lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	for (unsigned int i = 0; i < KMIG_MIG_MAX_CHANS; i++) {
		d->rx[i].d = d;
		d->rx[i].c = &d->chans[i];
	}
}

void kmig_dst_fini(struct kmig_dst *d)
{
	for (unsigned int i = 0; i < KMIG_WIRE_MAX_BLOCKS; i++) {
		free(d->blk[i].hash);
		free(d->blk[i].seen);
	}
	for (unsigned int i = 0; i < KMIG_MIG_MAX_CHANS; i++) {
		struct kmig_dst_rx *rx = &d->rx[i];

		kmig_dst_codecs_fini(rx->cpriv, rx->cinit);
		free(rx->scratch);
	}
	free(d->state);
	kmig_dst_pc_free(d);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->rp_lock);
	pthread_mutex_destroy(&d->lock);
}

int kmig_dst_reply(struct kmig_dst *d, struct kmig_wire_rec *r, const void *payload)
{
	struct kmig_chan *c = &d->chans[0];
	int ret = 0;

	r->chan = 0;
	pthread_mutex_lock(&d->rp_lock);
	if (!c->ops)
		ret = -ENOTCONN;	/* postcopy paused: no channel now */
	else if (c->caps & KMIG_CHAN_F_RETURN_PATH)
		ret = kmig_chan_send_rec(c, r, payload);
	pthread_mutex_unlock(&d->rp_lock);
	return ret;
}

int kmig_dst_fail(struct kmig_dst *d, int ret, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&d->lock);
	if (!d->err[0]) {
		va_start(ap, fmt);
		vsnprintf(d->err, sizeof(d->err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int kmig_dst_read(struct kmig_dst_rx *rx, void *buf, size_t n, const char *what)
{
	int ret = kmig_chan_read(rx->c, buf, n);

	if (ret)
		rx->d->io_broken = true;	/* the link, not the stream's content */
	if (ret == -ECONNRESET)
		return kmig_dst_fail(rx->d, -EPIPE, "migration stream ended early, in %s (channel %u, "
				     "after %llu bytes)", what, rx->c->id,
				     (unsigned long long)rx->c->bytes_in);
	if (ret)
		return kmig_dst_fail(rx->d, ret, "reading the migration stream (%s, channel %u): %s",
				     what, rx->c->id, strerror(-ret));
	return 0;
}

#define rd kmig_dst_read

int kmig_dst_read_header(struct kmig_dst *d, struct kmig_wire_block *tab)
{
	struct kmig_wire_hdr *h = &d->hdr;
	const uint64_t known = 1u << KMIG_ENC_RAW | 1u << KMIG_ENC_ZERO | 1u << KMIG_ENC_XBZRLE |
			       1u << KMIG_ENC_ZLIB | 1u << KMIG_ENC_ZSTD;
	int ret = rd(&d->rx[0], h, sizeof(*h), "the header");

	if (ret)
		return ret;
	if (h->magic != KMIG_WIRE_MAGIC)
		return kmig_dst_fail(d, -EPROTO, "not a kmig migration stream (bad magic)");
	if (h->version != KMIG_WIRE_VERSION && h->version != KMIG_WIRE_VERSION_POSTCOPY)
		return kmig_dst_fail(d, -EPROTO, "unsupported stream version %u (this kmig reads %u "
				     "and %u)", h->version, KMIG_WIRE_VERSION,
				     KMIG_WIRE_VERSION_POSTCOPY);
	if (h->page_size != KMIG_WIRE_PAGE_SIZE)
		return kmig_dst_fail(d, -EPROTO, "unsupported page size %u", h->page_size);
	if (!h->nblocks || h->nblocks > KMIG_WIRE_MAX_BLOCKS)
		return kmig_dst_fail(d, -EPROTO, "bad block count %u in the stream header",
				     h->nblocks);
	if (h->nchannels > KMIG_WIRE_MAX_CHANNELS)
		return kmig_dst_fail(d, -EPROTO, "bad data channel count %u in the stream header",
				     h->nchannels);
	if (h->encodings & ~known)
		return kmig_dst_fail(d, -EPROTO, "the stream uses page encodings this kmig does not "
				     "read (mask %#llx)", (unsigned long long)(h->encodings & ~known));
	return rd(&d->rx[0], tab, h->nblocks * sizeof(tab[0]), "the block table");
}

int kmig_dst_match_blocks(struct kmig_dst *d, const struct kmig_wire_block *tab)
{
	uint64_t total = 0;

	if (d->wl->nblocks != d->hdr.nblocks)
		return kmig_dst_fail(d, -EPROTO, "the stream has %u RAM blocks, the workload %u",
				     d->hdr.nblocks, d->wl->nblocks);
	for (unsigned int i = 0; i < d->hdr.nblocks; i++) {
		struct kmig_dstblk *db = &d->blk[i];

		if (!memchr(tab[i].name, 0, sizeof(tab[i].name)))
			return kmig_dst_fail(d, -EPROTO, "block %u name is not terminated", i);
		db->b = NULL;
		for (unsigned int j = 0; j < d->wl->nblocks; j++)
			if (!strcmp(d->wl->blocks[j].name, tab[i].name))
				db->b = &d->wl->blocks[j];
		if (!db->b)
			return kmig_dst_fail(d, -EPROTO, "the workload has no RAM block '%s'",
					     tab[i].name);
		if (db->b->size != tab[i].size)
			return kmig_dst_fail(d, -EPROTO, "RAM block '%s' is %llu bytes here, %llu in "
					     "the stream", tab[i].name,
					     (unsigned long long)db->b->size,
					     (unsigned long long)tab[i].size);
		for (unsigned int j = 0; j < i; j++)
			if (d->blk[j].b == db->b)
				return kmig_dst_fail(d, -EPROTO, "RAM block '%s' appears twice",
						     tab[i].name);
		db->npages = db->b->size >> KMIG_PAGE_SHIFT;
		db->hash = calloc(db->npages, sizeof(uint64_t));
		db->seen = calloc((db->npages + 63) / 64, sizeof(uint64_t));
		if (!db->hash || !db->seen)
			return kmig_dst_fail(d, -ENOMEM, "out of memory for block '%s'", tab[i].name);
		total += tab[i].size;
	}
	d->nblk = d->hdr.nblocks;
	if (tab != d->tab)
		memcpy(d->tab, tab, d->nblk * sizeof(tab[0]));
	if (total != d->hdr.total)
		return kmig_dst_fail(d, -EPROTO, "stream header total %llu does not match its blocks",
				     (unsigned long long)d->hdr.total);
	return 0;
}

bool kmig_dst_seen(const struct kmig_dstblk *db, uint64_t i)
{
	return __atomic_load_n(&db->seen[i / 64], __ATOMIC_RELAXED) & (1ull << (i % 64));
}



void kmig_dst_mark(struct kmig_dstblk *db, uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++)
		__atomic_fetch_or(&db->seen[i / 64], 1ull << (i % 64), __ATOMIC_RELAXED);
}

int kmig_dst_check_page_rec(struct kmig_dst_rx *rx, const struct kmig_wire_rec *r)
{
	struct kmig_dst *d = rx->d;
	uint32_t max = r->enc == KMIG_ENC_ZERO ? KMIG_WIRE_MAX_ZERO_RUN : KMIG_WIRE_MAX_RUN;

	if (r->enc >= KMIG_ENC_MAX || !(d->hdr.encodings & (1ull << r->enc)))
		return kmig_dst_fail(d, -EPROTO, "page record with encoding %u, which the stream "
				     "did not announce", r->enc);
	if (r->block >= d->nblk)
		return kmig_dst_fail(d, -EPROTO, "record for block %u, the stream has %u", r->block,
				     d->nblk);
	if (!r->count || r->count > max || r->offset % KMIG_PAGE_SIZE)
		return kmig_dst_fail(d, -EPROTO, "bad page record (offset %llu, %u pages)",
				     (unsigned long long)r->offset, r->count);
	if (r->offset >> KMIG_PAGE_SHIFT >= d->blk[r->block].npages ||
	    r->count > d->blk[r->block].npages - (r->offset >> KMIG_PAGE_SHIFT))
		return kmig_dst_fail(d, -EPROTO, "page record beyond the end of block '%s' "
				     "(offset %llu, %u pages)", d->blk[r->block].b->name,
				     (unsigned long long)r->offset, r->count);
	if (r->enc == KMIG_ENC_XBZRLE) {
		/* one page, as QEMU: a delta no longer than the page, against a copy sent before */
		if (r->count != 1 || !r->len || r->len > KMIG_PAGE_SIZE)
			return kmig_dst_fail(d, -EPROTO, "bad XBZRLE record (%u pages, %u bytes)",
					     r->count, r->len);
		if (!kmig_dst_seen(&d->blk[r->block], r->offset >> KMIG_PAGE_SHIFT))
			return kmig_dst_fail(d, -EPROTO, "XBZRLE delta for page %llu of block '%s', "
					     "which never arrived",
					     (unsigned long long)(r->offset >> KMIG_PAGE_SHIFT),
					     d->blk[r->block].b->name);
	}
	if ((r->enc == KMIG_ENC_RAW && r->len != r->count * KMIG_PAGE_SIZE) ||
	    (r->enc == KMIG_ENC_ZERO && r->len) || r->len > KMIG_WIRE_MAX_ENCODED)
		return kmig_dst_fail(d, -EPROTO, "page record of %u pages carries %u bytes",
				     r->count, r->len);
	return 0;
}

/* reads a page record's payload and places its pages */
static int page_rec(struct kmig_dst_rx *rx, const struct kmig_wire_rec *r)
{
	struct kmig_dst *d = rx->d;
	struct kmig_dstblk *db;
	uint64_t first;
	uint8_t *p;
	int ret = kmig_dst_check_page_rec(rx, r);

	if (ret)
		return ret;
	/* only now is the record known to lie inside a block */
	db = &d->blk[r->block];
	first = r->offset >> KMIG_PAGE_SHIFT;
	p = db->b->map + r->offset;
	if (r->enc == KMIG_ENC_ZERO) {
		for (uint64_t i = first; i < first + r->count; i++) {
			/* pages that never arrived are still the zeroes fallocate gave them */
			if (kmig_dst_seen(db, i))
				memset(db->b->map + (i << KMIG_PAGE_SHIFT), 0, KMIG_PAGE_SIZE);
			db->hash[i] = d->zero_hash;
		}
		kmig_dst_mark(db, first, r->count);
		return 0;
	}
	if (r->enc != KMIG_ENC_RAW) {
		if (rx->c->id == 0 && d->pool) {
			/* the decompression threads place it; the reader reads on */
			uint8_t *buf = kmig_dst_pool_buf(d->pool);

			if (!buf)
				return -EPROTO;
			ret = rd(rx, buf, r->len, "encoded page data");
			if (ret) {
				kmig_dst_pool_return(d->pool, buf);
				return ret;
			}
			kmig_dst_pool_submit(d->pool, r, buf);
			return 0;
		}
		if (!rx->scratch && !(rx->scratch = malloc(KMIG_WIRE_MAX_ENCODED)))
			return kmig_dst_fail(d, -ENOMEM, "out of memory for a decode buffer");
		ret = rd(rx, rx->scratch, r->len, "encoded page data");
		return ret ? ret : kmig_dst_place_encoded(d, rx->cpriv, rx->cinit, r, rx->scratch);
	}
	ret = rd(rx, p, r->len, "page data");
	if (ret)
		return ret;
	for (uint32_t i = 0; i < r->count; i++)
		db->hash[first + i] = kmig_page_hash(p + ((size_t)i << KMIG_PAGE_SHIFT));
	kmig_dst_mark(db, first, r->count);
	return 0;
}

int kmig_dst_join_data_chans(struct kmig_dst *d, uint64_t sync, const char *when)
{
	for (unsigned int i = 1; i < d->nchans; i++) {
		struct kmig_dst_rx *rx = &d->rx[i];

		if (rx->thr_live) {
			pthread_join(rx->thr, NULL);
			rx->thr_live = false;
		}
		if (d->failed)
			return -EPROTO;
		if (!rx->done || rx->syncs != sync)
			return kmig_dst_fail(d, -EPROTO, "data channel %u ended at sync %llu, %s %llu",
					     i, (unsigned long long)rx->syncs, when,
					     (unsigned long long)sync);
	}
	return 0;
}

int kmig_dst_place_encoded(struct kmig_dst *d, void **cpriv, bool *cinit,
			   const struct kmig_wire_rec *r, const uint8_t *in)
{
	const struct kmig_codec_ops *codec = kmig_codec_for(r->enc);
	struct kmig_dstblk *db = &d->blk[r->block];	/* checked by kmig_dst_check_page_rec */
	uint64_t first = r->offset >> KMIG_PAGE_SHIFT;
	uint8_t *p = db->b->map + r->offset;
	char why[256] = "";
	int ret;

	if (!codec)
		return kmig_dst_fail(d, -EPROTO, "page encoding %u is not supported", r->enc);
	if (!cinit[r->enc]) {
		ret = codec->dec_init(&cpriv[r->enc]);
		if (ret)
			return kmig_dst_fail(d, ret, "cannot set up the %s decoder", codec->name);
		cinit[r->enc] = true;
	}
	if (codec->decode(cpriv[r->enc], r, in, r->len, p, why, sizeof(why)))
		return kmig_dst_fail(d, -EPROTO, "bad %s page record at block '%s' offset %llu: %s",
				     codec->name, db->b->name, (unsigned long long)r->offset, why);
	for (uint32_t i = 0; i < r->count; i++)
		db->hash[first + i] = kmig_page_hash(p + ((size_t)i << KMIG_PAGE_SHIFT));
	kmig_dst_mark(db, first, r->count);
	return 0;
}

void kmig_dst_codecs_fini(void **cpriv, bool *cinit)
{
	for (unsigned int e = 0; e < KMIG_ENC_MAX; e++)
		if (cinit[e]) {
			kmig_codec_for((uint8_t)e)->dec_fini(cpriv[e]);
			cinit[e] = false;
		}
}

static int read_rec(struct kmig_dst_rx *rx, struct kmig_wire_rec *r)
{
	int ret = rd(rx, r, sizeof(*r), "a record header");

	if (ret)
		return ret;
	if (r->reserved || r->reserved2)
		return kmig_dst_fail(rx->d, -EPROTO, "record with reserved bits set");
	if (r->chan != rx->c->id)
		return kmig_dst_fail(rx->d, -EPROTO, "record for channel %u on channel %u", r->chan,
				     rx->c->id);
	if ((r->type != KMIG_REC_PAGES && r->enc) ||
	    (r->type != KMIG_REC_SYNC && r->flags) || (r->type == KMIG_REC_SYNC &&
						       r->flags & ~KMIG_SYNC_F_LAST))
		return kmig_dst_fail(rx->d, -EPROTO, "record type %u with bad flags or encoding",
				     r->type);
	if (rx->d->failed)
		return -ECANCELED;
	return 0;
}

/* the data channels meet at every SYNC: nobody goes on before all arrived */
static int sync_wait(struct kmig_dst *d)
{
	unsigned int n = d->nchans - 1;
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	if (++d->sync_arrived == n) {
		d->sync_arrived = 0;
		d->sync_gen++;
		pthread_cond_broadcast(&d->cond);
	} else {
		uint64_t gen = d->sync_gen;

		while (gen == d->sync_gen && !d->failed)
			pthread_cond_wait(&d->cond, &d->lock);
	}
	if (d->failed)
		ret = -ECANCELED;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void kmig_dst_abort(struct kmig_dst *d)
{
	pthread_mutex_lock(&d->lock);
	d->failed = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	for (unsigned int i = 1; i < d->nchans; i++)
		kmig_chan_abort(&d->chans[i]);
	/* the main channel must still carry our error text to the source */
	if (d->nchans)
		kmig_chan_abort_read(&d->chans[0]);
}

void *kmig_dst_rx_thread(void *arg)
{
	struct kmig_dst_rx *rx = arg;
	struct kmig_dst *d = rx->d;
	int ret = 0;

	while (!ret && !rx->done) {
		struct kmig_wire_rec r;

		ret = read_rec(rx, &r);
		if (ret)
			break;
		if (r.type == KMIG_REC_PAGES) {
			ret = page_rec(rx, &r);
		} else if (r.type == KMIG_REC_SYNC && !r.len && r.offset == rx->syncs + 1) {
			rx->syncs++;
			rx->done = r.flags & KMIG_SYNC_F_LAST;
			ret = sync_wait(d);
		} else {
			ret = kmig_dst_fail(d, -EPROTO, "unexpected record type %u (value %llu) on "
					    "data channel %u", r.type, (unsigned long long)r.offset,
					    rx->c->id);
		}
	}
	if (ret)
		kmig_dst_abort(d);
	return NULL;
}

static int on_end(struct kmig_dst *d, const struct kmig_wire_rec *r)
{
	uint64_t sums[KMIG_WIRE_MAX_BLOCKS];
	int ret;

	if (!d->state)
		return kmig_dst_fail(d, -EPROTO, "stream ended without device state");
	if (r->len != d->nblk * 8)
		return kmig_dst_fail(d, -EPROTO, "end record carries %u bytes, expected %u", r->len,
				     d->nblk * 8);
	ret = rd(&d->rx[0], sums, r->len, "the checksums");
	if (ret)
		return ret;
	/* every data channel must have delivered everything up to the last SYNC */
	ret = kmig_dst_join_data_chans(d, r->offset, "the stream at");
	if (ret)
		return ret;
	for (unsigned int i = 0; i < d->nblk; i++) {
		struct kmig_dstblk *db = &d->blk[i];

		for (uint64_t p = 0; p < db->npages; p++)
			if (!kmig_dst_seen(db, p))
				return kmig_dst_fail(d, -EPROTO, "page %llu of block '%s' never arrived",
						     (unsigned long long)p, db->b->name);
		if (kmig_block_checksum(db->hash, db->npages) != sums[i])
			return kmig_dst_fail(d, -EIO, "checksum mismatch in block '%s'", db->b->name);
	}
	return 0;
}

static int receive(struct kmig_dst *d)
{
	struct kmig_dst_rx *rx = &d->rx[0];

	for (;;) {
		struct kmig_wire_rec r;
		int ret = read_rec(rx, &r);

		if (ret)
			return d->failed && ret == -EPIPE ? -ECANCELED : ret;
		/* a page comes once between PASS records: older copies are placed first */
		if (r.type != KMIG_REC_PAGES && d->pool && kmig_dst_pool_drain(d->pool))
			return -EPROTO;
		if (d->pc && d->phase == KMIG_DST_PC_RUNNING && (ret = kmig_dst_pc_start_result(d, false)))
			return ret;	/* the workload did not start */
		if (d->phase && r.type != KMIG_REC_PAGES && r.type != KMIG_REC_STATE &&
		    r.type != KMIG_REC_END && r.type != KMIG_REC_DISCARD && r.type != KMIG_REC_RUN)
			return kmig_dst_fail(d, -EPROTO, "record type %u after the switch to "
					     "postcopy", r.type);
		switch (r.type) {
		case KMIG_REC_PAGES:
			if (d->phase == KMIG_DST_PC_RUNNING) {
				ret = kmig_dst_pc_pages(rx, &r);
				break;
			}
			if (d->nchans > 1 || d->phase)
				return kmig_dst_fail(d, -EPROTO, "page record on the main channel of "
						     "a multifd stream, or during the switch to "
						     "postcopy");
			ret = page_rec(rx, &r);
			break;
		case KMIG_REC_PASS:
			if (r.len)
				return kmig_dst_fail(d, -EPROTO, "pass record with a payload");
			d->passes = (unsigned int)r.offset;
			break;
		case KMIG_REC_POSTCOPY:
			if (d->hdr.version != KMIG_WIRE_VERSION_POSTCOPY || d->phase || r.len)
				return kmig_dst_fail(d, -EPROTO, "unexpected postcopy record (stream "
						     "version %u)", d->hdr.version);
			ret = kmig_dst_pc_begin(d, &r);
			break;
		case KMIG_REC_DISCARD:
			if (d->phase != KMIG_DST_PC_SWITCH || r.len)
				return kmig_dst_fail(d, -EPROTO, "discard record outside the switch to "
						     "postcopy");
			ret = kmig_dst_pc_discard(d, &r);
			break;
		case KMIG_REC_RUN:
			if (d->phase != KMIG_DST_PC_SWITCH || r.len || !d->state)
				return kmig_dst_fail(d, -EPROTO, "run record outside the switch to "
						     "postcopy, or before the device state");
			ret = kmig_dst_pc_run(d);
			break;
		case KMIG_REC_STATE:
			if (r.len > KMIG_WIRE_MAX_STATE || d->state)
				return kmig_dst_fail(d, -EPROTO, "bad device state record (%u bytes)",
						     r.len);
			d->state = malloc(r.len ? r.len : 1);
			if (!d->state)
				return kmig_dst_fail(d, -ENOMEM, "out of memory for the device state");
			d->state_len = r.len;
			ret = rd(rx, d->state, r.len, "the device state");
			break;
		case KMIG_REC_END:
			if (d->phase == KMIG_DST_PC_SWITCH)
				return kmig_dst_fail(d, -EPROTO, "end record during the switch to "
						     "postcopy");
			return on_end(d, &r);
		default:
			return kmig_dst_fail(d, -EPROTO, "unknown record type %u", r.type);
		}
		if (ret)
			return ret;
	}
}

int kmig_dst_receive(struct kmig_dst *d)
{
	const uint64_t compressed = 1u << KMIG_ENC_ZLIB | 1u << KMIG_ENC_ZSTD;
	int ret;

	if (d->nchans <= 1 && d->decode_threads && (d->hdr.encodings & compressed)) {
		d->pool = kmig_dst_pool_new(d, d->decode_threads);
		if (!d->pool)
			return -ENOMEM;
	}
	ret = receive(d);
	kmig_dst_pool_free(d->pool);
	d->pool = NULL;
	return ret;
}
