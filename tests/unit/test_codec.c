// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_codec.c: the compressing page codecs (zlib, zstd): runs of pages
 * come back byte for byte, runs that do not shrink go raw, and a decoder
 * fed a bad record -- truncated, padded, a stream for more or fewer pages
 * than the record names, garbage -- refuses it and never writes past the
 * record's pages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "batch.h"
#include "codec.h"

#define PG 4096u

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* @n pages: text-like (compressible) or random */
static uint8_t *pages(uint32_t n, bool random)
{
	uint8_t *p = malloc((size_t)n * PG);

	assert_non_null(p);
	for (size_t i = 0; i < (size_t)n * PG; i++)
		p[i] = random ? (uint8_t)next() : (uint8_t)("kmig pages "[i % 11] + (i / 4096) % 7);
	return p;
}

/* encodes @n pages of @src with @c into a fresh batch */
static void encode(const struct kmig_codec_ops *c, int level, const uint8_t *src, uint32_t n,
		   struct kmig_batch *b)
{
	void *priv = NULL;

	memset(b, 0, sizeof(*b));
	assert_int_equal(c->enc_init(&priv, level), 0);
	assert_int_equal(c->encode(priv, b, 3, 10, n, src), 0);
	c->enc_fini(priv);
	assert_int_equal(b->n, 1);
	assert_int_equal(b->rec[0].block, 3);
	assert_int_equal(b->rec[0].offset, 10 * PG);
	assert_int_equal(b->rec[0].count, n);
	assert_int_equal(b->rec[0].len, b->tx[0].len);
}

/* decodes @len bytes of @in as record @r into a buffer guarded past its end */
static int decode(const struct kmig_codec_ops *c, const struct kmig_wire_rec *r, const void *in,
		  uint32_t len, uint8_t **out)
{
	size_t want = (size_t)r->count * PG;
	uint8_t *dst = malloc(want + PG);
	void *priv = NULL;
	char err[256] = "";
	int ret;

	assert_non_null(dst);
	memset(dst + want, 0xa5, PG);
	assert_int_equal(c->dec_init(&priv), 0);
	ret = c->decode(priv, r, in, len, dst, err, sizeof(err));
	c->dec_fini(priv);
	for (size_t i = 0; i < PG; i++)
		assert_int_equal(dst[want + i], 0xa5);	/* nothing written past the pages */
	if (ret)
		assert_true(err[0]);			/* a refusal says why */
	*out = dst;
	return ret;
}

static void roundtrip(const struct kmig_codec_ops *c, int level)
{
	const uint32_t runs[] = { 1, 7, KMIG_WIRE_MAX_RUN };

	for (size_t k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
		uint32_t n = runs[k];
		uint8_t *src = pages(n, false), *dst;
		struct kmig_batch b;

		encode(c, level, src, n, &b);
		assert_int_equal(b.rec[0].enc, c->enc);
		assert_true(b.rec[0].len < n * PG / 4);	/* it did compress */
		assert_int_equal(decode(c, &b.rec[0], b.tx[0].payload, b.rec[0].len, &dst), 0);
		assert_memory_equal(dst, src, (size_t)n * PG);
		free(dst);
		kmig_batch_fini(&b);
		free(src);
	}
}

static void test_zlib_roundtrip(void **state)
{
	(void)state;
	roundtrip(&kmig_codec_zlib, 1);
	roundtrip(&kmig_codec_zlib, 9);
}

static void test_zstd_roundtrip(void **state)
{
	(void)state;
	roundtrip(&kmig_codec_zstd, 1);
	roundtrip(&kmig_codec_zstd, 19);
}

/* random pages do not shrink: raw records pointing at the pages themselves */
static void test_incompressible_goes_raw(void **state)
{
	const struct kmig_codec_ops *cs[] = { &kmig_codec_zlib, &kmig_codec_zstd };

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		uint8_t *src = pages(4, true);
		struct kmig_batch b;

		encode(cs[k], 1, src, 4, &b);
		assert_int_equal(b.rec[0].enc, KMIG_ENC_RAW);
		assert_int_equal(b.rec[0].len, 4 * PG);
		assert_ptr_equal(b.tx[0].payload, src);
		kmig_batch_fini(&b);
		free(src);
	}
}

static void bad_records(const struct kmig_codec_ops *c)
{
	uint8_t *src = pages(8, false), *dst, *junk = pages(1, true);
	struct kmig_batch b;
	struct kmig_wire_rec r;
	uint8_t *padded;
	uint32_t len;

	encode(c, 1, src, 8, &b);
	r = b.rec[0];
	len = r.len;
	/* truncated */
	assert_int_not_equal(decode(c, &r, b.tx[0].payload, len - 5, &dst), 0);
	free(dst);
	/* the stream holds 8 pages, the record says 7: never written past 7 */
	r.count = 7;
	assert_int_not_equal(decode(c, &r, b.tx[0].payload, len, &dst), 0);
	free(dst);
	/* ... or 9: the stream ends early */
	r.count = 9;
	assert_int_not_equal(decode(c, &r, b.tx[0].payload, len, &dst), 0);
	free(dst);
	r.count = 8;
	/* bytes after the stream */
	padded = malloc(len + 16);
	assert_non_null(padded);
	memcpy(padded, b.tx[0].payload, len);
	memset(padded + len, 0, 16);
	assert_int_not_equal(decode(c, &r, padded, len + 16, &dst), 0);
	free(dst);
	/* garbage, and nothing at all */
	assert_int_not_equal(decode(c, &r, junk, 4000, &dst), 0);
	free(dst);
	assert_int_not_equal(decode(c, &r, junk, 0, &dst), 0);
	free(dst);
	/* the untouched record still decodes */
	assert_int_equal(decode(c, &r, b.tx[0].payload, len, &dst), 0);
	assert_memory_equal(dst, src, 8 * PG);
	free(dst);
	free(padded);
	kmig_batch_fini(&b);
	free(junk);
	free(src);
}

static void test_zlib_bad_records(void **state)
{
	(void)state;
	bad_records(&kmig_codec_zlib);
}

static void test_zstd_bad_records(void **state)
{
	(void)state;
	bad_records(&kmig_codec_zstd);
}

static void test_table(void **state)
{
	(void)state;
	assert_ptr_equal(kmig_codec_for(KMIG_ENC_ZLIB), &kmig_codec_zlib);
	assert_ptr_equal(kmig_codec_for(KMIG_ENC_ZSTD), &kmig_codec_zstd);
	assert_null(kmig_codec_for(KMIG_ENC_ZERO));
	assert_null(kmig_codec_for(KMIG_ENC_MAX));
	assert_null(kmig_codec_for(255));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zlib_roundtrip),
		cmocka_unit_test(test_zstd_roundtrip),
		cmocka_unit_test(test_incompressible_goes_raw),
		cmocka_unit_test(test_zlib_bad_records),
		cmocka_unit_test(test_zstd_bad_records),
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
