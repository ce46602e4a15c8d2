/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * batch.h: a batch of page records on its way to one channel: the record
 * headers, what each one's payload is (RAM block memory or a codec's
 * scratch buffer) and what they count for.  The sender fills one per
 * channel and flushes it; codecs add records with kmig_batch_add (codec.h).
 */
#ifndef KMIG_BATCH_H
#define KMIG_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"
#include "xport.h"

#define KMIG_BATCH_RECS  (KMIG_WIRE_MAX_RUN + 8)	/* a codec may add n + 1 per call */
#define KMIG_BATCH_BYTES (1u << 20)			/* flush at this much payload */

/**
 * struct kmig_batch - records waiting for one channel
 * @chan:   the channel they go on (each record's chan)
 * @n:      records in it
 * @buf, @cap: scratch payload of slot i, kept between batches
 * @bytes:  wire bytes (headers and payloads)
 * @normal, @zero: pages they carry, non-zero and zero
 * @coded, @coded_bytes: of @normal, pages a codec shrank, and their payload bytes
 */
struct kmig_batch {
	uint16_t chan;
	unsigned int n;
	struct kmig_wire_rec rec[KMIG_BATCH_RECS];
	struct kmig_tx tx[KMIG_BATCH_RECS];
	uint8_t *buf[KMIG_BATCH_RECS];
	size_t cap[KMIG_BATCH_RECS];
	uint64_t bytes, normal, zero;
	uint64_t coded, coded_bytes;
};

/* empties it (after its channel let go of it); the scratch buffers stay */
void kmig_batch_reset(struct kmig_batch *b);
/* frees the scratch buffers */
void kmig_batch_fini(struct kmig_batch *b);

#endif
