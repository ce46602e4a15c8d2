/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * codec.h: page encodings as a table of methods, the way QEMU's multifd
 * methods are: each codec lives in its own file (codec_raw.c, ...), turns
 * runs of non-zero pages into page records on the source and back into
 * pages on the destination.  Zero pages never reach a codec: the sender
 * sends them as ZERO records itself, and the receiver writes them itself.
 *
 * One codec instance per channel and per direction, used by one thread.
 */
#ifndef KMIG_CODEC_H
#define KMIG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct kmig_batch;

/**
 * struct kmig_codec_ops - one page encoding
 * @name:    for logs and parameters ("raw", ...)
 * @enc:     the wire encoding it produces (enum kmig_wire_enc); a codec
 *           may also fall back to KMIG_ENC_RAW records for pages that do
 *           not shrink
 * @level_min/@level_max: the compression levels it takes (0 and 0: none)
 * @enc_init/@enc_fini: per-channel source state in *@priv for compression
 *           level @level; init returns 0 or -errno; fini accepts NULL
 * @encode:  source: appends records for the @n (1..KMIG_WIRE_MAX_RUN)
 *           non-zero pages @src of block @blk starting at page @first to
 *           @b (kmig_batch_add); 0 or -errno
 * @dec_init/@dec_fini: per-channel destination state
 * @decode:  destination: turns the @len payload bytes @in of record @r
 *           into exactly @r->count pages at @dst; 0, or -EPROTO with @err
 *           saying what was malformed.  Never writes outside @dst.
 */
struct kmig_codec_ops {
	const char *name;
	uint8_t enc;
	int level_min, level_max;
	int (*enc_init)(void **priv, int level);
	void (*enc_fini)(void *priv);
	int (*encode)(void *priv, struct kmig_batch *b, uint32_t blk, uint64_t first, uint32_t n,
		      const uint8_t *src);
	int (*dec_init)(void **priv);
	void (*dec_fini)(void *priv);
	int (*decode)(void *priv, const struct kmig_wire_rec *r, const uint8_t *in, uint32_t len,
		      uint8_t *dst, char *err, size_t n);
};

extern const struct kmig_codec_ops kmig_codec_raw;
extern const struct kmig_codec_ops kmig_codec_zlib;
extern const struct kmig_codec_ops kmig_codec_zstd;
extern const struct kmig_codec_ops kmig_codec_xbzrle;	/* decode only */

/* the codec for wire encoding @enc, or NULL (ZERO and unknown encodings) */
const struct kmig_codec_ops *kmig_codec_for(uint8_t enc);

/*
 * For codecs: appends a page record for the @n pages of block @blk from
 * page @first, encoded as @enc in the @len bytes at @payload (RAM block
 * memory, or a buffer from kmig_batch_buf).  The sender guarantees room
 * for @n + 1 records per encode call; 0, or -ENOMEM when there is none.
 */
int kmig_batch_add(struct kmig_batch *b, uint8_t enc, const void *payload, uint32_t len,
		   uint32_t blk, uint64_t first, uint32_t n);
/*
 * A scratch buffer of @cap bytes for a record's payload, valid until the
 * channel completed the batch, or NULL when memory ran out.
 */
uint8_t *kmig_batch_buf(struct kmig_batch *b, size_t cap);

#endif
