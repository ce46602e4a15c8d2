// SPDX-License-Identifier: GPL-2.0-only
/*
 * codec_zstd.c: the "zstd" page codec: a run of pages becomes one record
 * holding one zstd frame, compressed on its own, so records decode in any
 * order.  A run that does not shrink goes as a raw record.  zstd reads the
 * pages in place (as QEMU's multifd zstd does): a page the workload writes
 * meanwhile may arrive as neither its old nor its new contents, but it is
 * dirty again and goes once more in a later pass, the last one with the
 * workload stopped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include "codec.h"
#include "pagehash.h"

struct zsenc {
	ZSTD_CCtx *cctx;
	int level;
};

static int zsenc_init(void **priv, int level)
{
	struct zsenc *z = calloc(1, sizeof(*z));

	if (!z)
		return -ENOMEM;
	z->cctx = ZSTD_createCCtx();
	if (!z->cctx) {
		free(z);
		return -ENOMEM;
	}
	z->level = level;
	*priv = z;
	return 0;
}

static void zsenc_fini(void *priv)
{
	struct zsenc *z = priv;

	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	free(z);
}

static int zsenc_encode(void *priv, struct kmig_batch *b, uint32_t blk, uint64_t first,
			uint32_t n, const uint8_t *src)
{
	struct zsenc *z = priv;
	uint32_t raw = n << KMIG_PAGE_SHIFT;
	uint8_t *out = kmig_batch_buf(b, raw);
	size_t len;

	if (!out)
		return -ENOMEM;
	/* a frame that would not shrink fails with "destination too small": send it raw */
	len = ZSTD_compressCCtx(z->cctx, out, raw - 1, src, raw, z->level);
	return ZSTD_isError(len) ? kmig_batch_add(b, KMIG_ENC_RAW, src, raw, blk, first, n) :
		kmig_batch_add(b, KMIG_ENC_ZSTD, out, (uint32_t)len, blk, first, n);
}

static int zsdec_init(void **priv)
{
	*priv = ZSTD_createDCtx();
	return *priv ? 0 : -ENOMEM;
}

static void zsdec_fini(void *priv)
{
	ZSTD_freeDCtx(priv);
}

static int zsdec_decode(void *priv, const struct kmig_wire_rec *r, const uint8_t *in,
			uint32_t len, uint8_t *dst, char *err, size_t n)
{
	size_t want = (size_t)r->count << KMIG_PAGE_SHIFT;
	/* at most @want bytes are written: zstd checks the room it is given */
	size_t got = ZSTD_decompressDCtx(priv, dst, want, in, len);

	if (ZSTD_isError(got)) {
		snprintf(err, n, "zstd: %s", ZSTD_getErrorName(got));
		return -EPROTO;
	}
	if (got != want) {
		snprintf(err, n, "zstd: the frame holds %zu bytes, the record %zu", got, want);
		return -EPROTO;
	}
	return 0;
}

const struct kmig_codec_ops kmig_codec_zstd = {
	.name = "zstd",
	.enc = KMIG_ENC_ZSTD,
	.level_min = 0,		/* 0: zstd's default level */
	.level_max = 20,
	.enc_init = zsenc_init,
	.enc_fini = zsenc_fini,
	.encode = zsenc_encode,
	.dec_init = zsdec_init,
	.dec_fini = zsdec_fini,
	.decode = zsdec_decode,
};
