// SPDX-License-Identifier: GPL-2.0-only
/*
 * codec_xbzrle.c: the destination's side of XBZRLE records: a delta
 * applied in place onto the copy of the page that arrived before (the
 * receiver has checked that one did).  The source's side is not a codec:
 * it needs the cache and the pass, so it is the sender's XBZRLE stage
 * (xbzrle_send.c).
 */
#include <errno.h>
#include <stdio.h>

#include "codec.h"
#include "pagehash.h"
#include "xbzrle.h"

static int no_encoder(void **priv, int level)
{
	(void)priv;
	(void)level;
	return -EINVAL;	/* the sender's XBZRLE stage writes these records */
}

static void nop_fini(void *priv)
{
	(void)priv;
}

static int xb_dec_init(void **priv)
{
	*priv = NULL;
	return 0;
}

static int xb_decode(void *priv, const struct kmig_wire_rec *r, const uint8_t *in, uint32_t len,
		     uint8_t *dst, char *err, size_t n)
{
	int ret;

	(void)priv;
	if (r->count != 1 || len > KMIG_PAGE_SIZE) {
		snprintf(err, n, "an XBZRLE record holds one page's delta (%u pages, %u bytes)",
			 r->count, len);
		return -EPROTO;
	}
	ret = kmig_xbzrle_decode(in, (int)len, dst, KMIG_PAGE_SIZE, err, n);
	return ret < 0 ? -EPROTO : 0;
}

const struct kmig_codec_ops kmig_codec_xbzrle = {
	.name = "xbzrle",
	.enc = KMIG_ENC_XBZRLE,
	.enc_init = no_encoder,
	.enc_fini = nop_fini,
	.dec_init = xb_dec_init,
	.dec_fini = nop_fini,
	.decode = xb_decode,
};
