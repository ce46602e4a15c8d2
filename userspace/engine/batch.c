// SPDX-License-Identifier: GPL-2.0-only
/*
 * batch.c: filling a batch of page records (batch.h); the codecs' side of
 * codec.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "batch.h"
#include "codec.h"
#include "pagehash.h"

int kmig_batch_add(struct kmig_batch *b, uint8_t enc, const void *payload, uint32_t len,
		   uint32_t blk, uint64_t first, uint32_t n)
{
	struct kmig_wire_rec *r;

	if (b->n == KMIG_BATCH_RECS)
		return -ENOMEM;
	r = &b->rec[b->n];
	*r = (struct kmig_wire_rec){ .type = KMIG_REC_PAGES, .enc = enc, .chan = b->chan,
				     .block = blk, .count = n, .offset = first << KMIG_PAGE_SHIFT,
				     .len = len };
	b->tx[b->n] = (struct kmig_tx){ .hdr = r, .payload = payload, .len = len };
	b->n++;
	b->bytes += sizeof(*r) + len;
	return 0;
}

uint8_t *kmig_batch_buf(struct kmig_batch *b, size_t cap)
{
	unsigned int i = b->n;

	if (i == KMIG_BATCH_RECS)
		return NULL;
	if (b->cap[i] < cap) {
		uint8_t *p = realloc(b->buf[i], cap);

		if (!p)
			return NULL;
		b->buf[i] = p;
		b->cap[i] = cap;
	}
	return b->buf[i];
}

void kmig_batch_reset(struct kmig_batch *b)
{
	b->n = 0;
	b->bytes = b->normal = b->zero = 0;
	b->coded = b->coded_bytes = 0;
}

void kmig_batch_fini(struct kmig_batch *b)
{
	for (unsigned int i = 0; i < KMIG_BATCH_RECS; i++) {
		free(b->buf[i]);
		b->buf[i] = NULL;
		b->cap[i] = 0;
	}
}
