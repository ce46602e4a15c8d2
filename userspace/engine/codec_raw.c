// SPDX-License-Identifier: GPL-2.0-only
/*
 * codec_raw.c: the "raw" page codec: pages go as they are, the record's
 * payload pointing straight into the RAM block mapping (no copy in kmig),
 * and arrive the same way (the receiver reads them straight into the
 * destination's block, so decode is never called for them).  Also the
 * table of codecs by wire encoding.
 */
#include <errno.h>
#include <stdio.h>

#include "codec.h"
#include "pagehash.h"

static int raw_enc_init(void **priv, int level)
{
	(void)level;
	*priv = NULL;
	return 0;
}

static int raw_dec_init(void **priv)
{
	*priv = NULL;
	return 0;
}

static void raw_fini(void *priv)
{
	(void)priv;
}

static int raw_encode(void *priv, struct kmig_batch *b, uint32_t blk, uint64_t first, uint32_t n,
		      const uint8_t *src)
{
	(void)priv;
	return kmig_batch_add(b, KMIG_ENC_RAW, src, n << KMIG_PAGE_SHIFT, blk, first, n);
}

static int raw_decode(void *priv, const struct kmig_wire_rec *r, const uint8_t *in, uint32_t len,
		      uint8_t *dst, char *err, size_t n)
{
	(void)priv;
	(void)in;
	(void)dst;
	snprintf(err, n, "raw page records are read in place (record of %u bytes)", len);
	return r ? -EPROTO : -EINVAL;
}

const struct kmig_codec_ops kmig_codec_raw = {
	.name = "raw",
	.enc = KMIG_ENC_RAW,
	.enc_init = raw_enc_init,
	.enc_fini = raw_fini,
	.encode = raw_encode,
	.dec_init = raw_dec_init,
	.dec_fini = raw_fini,
	.decode = raw_decode,
};

const struct kmig_codec_ops *kmig_codec_for(uint8_t enc)
{
	static const struct kmig_codec_ops *const table[KMIG_ENC_MAX] = {
		[KMIG_ENC_RAW] = &kmig_codec_raw,
		[KMIG_ENC_XBZRLE] = &kmig_codec_xbzrle,
		[KMIG_ENC_ZLIB] = &kmig_codec_zlib,
		[KMIG_ENC_ZSTD] = &kmig_codec_zstd,
	};

	return enc < KMIG_ENC_MAX ? table[enc] : NULL;
}
