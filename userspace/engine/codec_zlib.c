// SPDX-License-Identifier: GPL-2.0-only
/*
 * codec_zlib.c: the "zlib" page codec: a run of pages becomes one record
 * holding one zlib (deflate) stream, compressed on its own (deflateReset
 * per record), so records can be decoded in any order and a bad one never
 * poisons the next.  A run that does not shrink goes as a raw record.
 *
 * The run is copied before deflate reads it: the workload may write the
 * pages meanwhile, and deflate, which looks at its input more than once,
 * is not promised to cope with input that changes under it.  Such a page
 * is dirty again and goes once more in a later pass.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "codec.h"
#include "pagehash.h"

#define RUN_BYTES (KMIG_WIRE_MAX_RUN * KMIG_WIRE_PAGE_SIZE)

struct zenc {
	z_stream zs;
	uint8_t *copy;
};

static int zenc_init(void **priv, int level)
{
	struct zenc *z = calloc(1, sizeof(*z));

	if (!z)
		return -ENOMEM;
	z->copy = malloc(RUN_BYTES);
	if (!z->copy || deflateInit(&z->zs, level) != Z_OK) {
		free(z->copy);
		free(z);
		return -ENOMEM;
	}
	*priv = z;
	return 0;
}

static void zenc_fini(void *priv)
{
	struct zenc *z = priv;

	if (!z)
		return;
	deflateEnd(&z->zs);
	free(z->copy);
	free(z);
}

static int zenc_encode(void *priv, struct kmig_batch *b, uint32_t blk, uint64_t first, uint32_t n,
		       const uint8_t *src)
{
	struct zenc *z = priv;
	uint32_t raw = n << KMIG_PAGE_SHIFT;
	uint8_t *out = kmig_batch_buf(b, raw);
	uint32_t len = 0;

	if (!out)
		return -ENOMEM;
	memcpy(z->copy, src, raw);
	if (deflateReset(&z->zs) != Z_OK)
		return -EIO;
	z->zs.next_in = z->copy;
	z->zs.avail_in = raw;
	z->zs.next_out = out;
	z->zs.avail_out = raw - 1;	/* only a stream that shrinks is worth it */
	if (deflate(&z->zs, Z_FINISH) == Z_STREAM_END)
		len = (uint32_t)z->zs.total_out;
	return len ? kmig_batch_add(b, KMIG_ENC_ZLIB, out, len, blk, first, n) :
		     kmig_batch_add(b, KMIG_ENC_RAW, src, raw, blk, first, n);
}

static int zdec_init(void **priv)
{
	z_stream *zs = calloc(1, sizeof(*zs));

	if (!zs)
		return -ENOMEM;
	if (inflateInit(zs) != Z_OK) {
		free(zs);
		return -ENOMEM;
	}
	*priv = zs;
	return 0;
}

static void zdec_fini(void *priv)
{
	if (!priv)
		return;
	inflateEnd(priv);
	free(priv);
}

static int zdec_decode(void *priv, const struct kmig_wire_rec *r, const uint8_t *in, uint32_t len,
		       uint8_t *dst, char *err, size_t n)
{
	z_stream *zs = priv;
	uint64_t want = (uint64_t)r->count << KMIG_PAGE_SHIFT;
	int ret;

	if (inflateReset(zs) != Z_OK) {
		snprintf(err, n, "cannot reset the inflater");
		return -EIO;
	}
	zs->next_in = (uint8_t *)in;
	zs->avail_in = len;
	zs->next_out = dst;
	zs->avail_out = (uInt)want;	/* never more than the record's pages */
	ret = inflate(zs, Z_FINISH);
	if (ret != Z_STREAM_END) {
		snprintf(err, n, "zlib: %s after %lu of %llu bytes",
			 zs->msg ? zs->msg : ret == Z_BUF_ERROR ? "the stream does not end where "
			 "the record's pages do" : "bad stream", zs->total_out,
			 (unsigned long long)want);
		return -EPROTO;
	}
	if (zs->total_out != want || zs->avail_in) {
		snprintf(err, n, "zlib: the stream holds %lu bytes (%u left over), the record %llu",
			 zs->total_out, zs->avail_in, (unsigned long long)want);
		return -EPROTO;
	}
	return 0;
}

const struct kmig_codec_ops kmig_codec_zlib = {
	.name = "zlib",
	.enc = KMIG_ENC_ZLIB,
	.level_min = 0,
	.level_max = 9,
	.enc_init = zenc_init,
	.enc_fini = zenc_fini,
	.encode = zenc_encode,
	.dec_init = zdec_init,
	.dec_fini = zdec_fini,
	.decode = zdec_decode,
};
