// SPDX-License-Identifier: GPL-2.0-only
/*
 * xbzrle_send.c: the source's XBZRLE stage (see xbzrle_send.h), following
 * QEMU 7.2's save_xbzrle_page: miss -> store and send the stored copy
 * (not in the last stage); hit -> copy the live page, encode cached ->
 * copy; 0 bytes: send nothing; overflow: send the page whole; otherwise
 * the delta; and unless unchanged or in the last stage, the cache takes
 * the new contents.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "codec.h"
#include "pagehash.h"
#include "xbzrle.h"
#include "xbzrle_cache.h"
#include "xbzrle_send.h"

struct kmig_xbzrle_send {
	struct kmig_xbzrle_cache *cache;
	uint64_t gen;
	bool enabled;	/* from pass 2 on: pass 1 is QEMU's bulk stage */
	bool last;
	struct kmig_xbzrle_counts n;
	uint8_t current[KMIG_PAGE_SIZE];
	uint8_t zero[KMIG_PAGE_SIZE];
};

int kmig_xbzrle_send_new(struct kmig_xbzrle_send **out, uint64_t cache_size, char *err,
			 size_t n)
{
	struct kmig_xbzrle_send *x = calloc(1, sizeof(*x));

	*out = NULL;
	if (!x) {
		snprintf(err, n, "out of memory for XBZRLE");
		return -ENOMEM;
	}
	x->cache = kmig_xbzrle_cache_new(cache_size, err, n);
	if (!x->cache) {
		free(x);
		return -ENOMEM;
	}
	*out = x;
	return 0;
}

void kmig_xbzrle_send_free(struct kmig_xbzrle_send *x)
{
	if (!x)
		return;
	kmig_xbzrle_cache_free(x->cache);
	free(x);
}

int kmig_xbzrle_send_pass(struct kmig_xbzrle_send *x, uint64_t gen, bool last,
			  uint64_t cache_size, char *err, size_t n)
{
	if (cache_size != kmig_xbzrle_cache_size(x->cache)) {
		int ret = kmig_xbzrle_cache_resize(x->cache, cache_size, err, n);

		if (ret)
			return ret;
	}
	x->gen = gen;
	x->enabled = gen > 1;
	x->last = last;
	return 0;
}

/* a whole page from a stable copy; the copy lives in the batch until it went out */
static int whole(struct kmig_batch *b, uint32_t blk, uint64_t page, const uint8_t *from)
{
	uint8_t *buf = kmig_batch_buf(b, KMIG_PAGE_SIZE);

	if (!buf)
		return -ENOMEM;
	memcpy(buf, from, KMIG_PAGE_SIZE);
	if (kmig_batch_add(b, KMIG_ENC_RAW, buf, KMIG_PAGE_SIZE, blk, page, 1))
		return -ENOMEM;
	return 1;
}

int kmig_xbzrle_send_page(struct kmig_xbzrle_send *x, struct kmig_batch *b, uint32_t blk,
			  uint64_t page, uint64_t key, const uint8_t *live)
{
	uint8_t *cached, *delta;
	int len;

	if (!x->enabled)
		return 0;
	x->n.tried++;
	cached = kmig_xbzrle_cache_lookup(x->cache, key, x->gen);
	if (!cached) {
		uint8_t *copy;

		x->n.cache_miss++;
		/* stored, it goes from the stored copy; else (busy entry, last stage) as usual */
		if (x->last || kmig_xbzrle_cache_insert(x->cache, key, live, x->gen, &copy))
			return 0;
		return whole(b, blk, page, copy);
	}
	memcpy(x->current, live, KMIG_PAGE_SIZE);
	delta = kmig_batch_buf(b, KMIG_PAGE_SIZE);
	if (!delta)
		return -ENOMEM;
	len = kmig_xbzrle_encode(cached, x->current, KMIG_PAGE_SIZE, delta, KMIG_PAGE_SIZE);
	if (len < 0 && len != KMIG_XBZRLE_OVERFLOW)
		return len;
	if (len && !x->last)
		memcpy(cached, x->current, KMIG_PAGE_SIZE);
	if (!len)
		return 1;	/* unchanged: the destination has it */
	if (len == KMIG_XBZRLE_OVERFLOW) {
		x->n.overflow++;
		x->n.bytes += KMIG_PAGE_SIZE;
		return whole(b, blk, page, x->current);
	}
	if (kmig_batch_add(b, KMIG_ENC_XBZRLE, delta, (uint32_t)len, blk, page, 1))
		return -ENOMEM;
	x->n.pages++;
	x->n.bytes += sizeof(struct kmig_wire_rec) + (uint64_t)len;
	return 1;
}

bool kmig_xbzrle_send_enabled(const struct kmig_xbzrle_send *x)
{
	return x->enabled;
}

void kmig_xbzrle_send_zero(struct kmig_xbzrle_send *x, uint64_t key)
{
	/* QEMU's xbzrle_cache_zero_page: a busy entry holds another page, nothing to fix */
	if (x->enabled && !x->last)
		(void)kmig_xbzrle_cache_insert(x->cache, key, x->zero, x->gen, NULL);
}

void kmig_xbzrle_send_take(struct kmig_xbzrle_send *x, struct kmig_xbzrle_counts *add)
{
	add->pages += x->n.pages;
	add->bytes += x->n.bytes;
	add->cache_miss += x->n.cache_miss;
	add->overflow += x->n.overflow;
	add->tried += x->n.tried;
	memset(&x->n, 0, sizeof(x->n));
}

uint64_t kmig_xbzrle_send_cache_size(const struct kmig_xbzrle_send *x)
{
	return kmig_xbzrle_cache_size(x->cache);
}
