// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_xbzrle.c: the XBZRLE encoder, decoder and page cache.  The encoder
 * must produce QEMU's bytes (golden vectors, QEMU's own test cases, and a
 * byte-at-a-time model of the format here), every build of it the same
 * bytes, the decoder must undo it and refuse malformed deltas without
 * touching the page, and the cache must keep QEMU's rules.
 * Throughput: test_xbzrle_bench.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "xbzrle.h"
#include "xbzrle_cache.h"
#include "xbzrle_gen.h"

#define PAGE 4096

/*
 * The format, a byte at a time, with the room checks where QEMU has them:
 * an independent model to hold every optimised build against.
 */
static int model_encode(const uint8_t *old, const uint8_t *new, int slen, uint8_t *dst, int dlen)
{
	int i = 0, d = 0;

	while (i < slen) {
		int z = 0, nz = 0;

		if (d + 2 > dlen)
			return -1;
		while (i + z < slen && old[i + z] == new[i + z])
			z++;
		if (z == slen)
			return 0;
		if (i + z == slen)
			return d;
		dst[d++] = (uint8_t)(z < 0x80 ? z : (z & 0x7f) | 0x80);
		if (z >= 0x80)
			dst[d++] = (uint8_t)(z >> 7);
		i += z;
		if (d + 2 > dlen)
			return -1;
		while (i + nz < slen && old[i + nz] != new[i + nz])
			nz++;
		dst[d++] = (uint8_t)(nz < 0x80 ? nz : (nz & 0x7f) | 0x80);
		if (nz >= 0x80)
			dst[d++] = (uint8_t)(nz >> 7);
		if (d + nz > dlen)
			return -1;
		memcpy(dst + d, new + i, (size_t)nz);
		d += nz;
		i += nz;
	}
	return d;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * Encodes with every build available here and checks they agree with each
 * other and with the model, bytes included; returns the common answer.
 */
static int encode_all(const uint8_t *old, const uint8_t *new, int slen, uint8_t *dst, int dlen)
{
	static uint8_t want[3 * 16384 + 16], got[3 * 16384 + 16];
	int w = model_encode(old, new, slen, want, dlen);

	for (int impl = KMIG_XBZRLE_IMPL_AUTO; impl < KMIG_XBZRLE_IMPL_COUNT; impl++) {
		int r;

		if (!kmig_xbzrle_impl_available(impl))
			continue;
		memset(got, 0xee, (size_t)dlen + 16);
		r = impl == KMIG_XBZRLE_IMPL_AUTO ? kmig_xbzrle_encode(old, new, slen, got, dlen)
						  : kmig_xbzrle_encode_impl(impl, old, new, slen, got,
									    dlen);
		if (r != w || (r > 0 && memcmp(got, want, (size_t)r)))
			fail_msg("%s: %d, the model %d (slen %d dlen %d)",
				 kmig_xbzrle_impl_name(impl), r, w, slen, dlen);
		for (int j = dlen; j < dlen + 16; j++)
			if (got[j] != 0xee)
				fail_msg("%s wrote past dlen %d", kmig_xbzrle_impl_name(impl), dlen);
	}
	if (w > 0)
		memcpy(dst, want, (size_t)w);
	return w;
}

/* ---- QEMU's own test cases (tests/unit/test-xbzrle.c) ---- */

static void test_known_cases(void **state)
{
	static uint8_t old[PAGE], new[PAGE], enc[PAGE], page[PAGE];
	char err[256];

	/* an unchanged page, zero or not, encodes to nothing */
	memset(old, 0, PAGE);
	assert_int_equal(encode_all(old, old, PAGE, enc, PAGE), 0);
	for (int i = 0; i < 2000; i++)
		old[1000 + i] = (uint8_t)(i + 4);
	assert_int_equal(encode_all(old, old, PAGE, enc, PAGE), 0);

	/* only the last byte differs: a 2-byte zero run of 4095, one byte */
	memset(old, 0, PAGE);
	memset(new, 0, PAGE);
	new[PAGE - 1] = 1;
	assert_int_equal(encode_all(old, new, PAGE, enc, PAGE), 4);
	assert_memory_equal(enc, "\xff\x1f\x01\x01", 4);
	memcpy(page, old, PAGE);
	assert_int_equal(kmig_xbzrle_decode(enc, 4, page, PAGE, err, sizeof(err)), PAGE);
	assert_memory_equal(page, new, PAGE);

	/* every other byte differs: 3 bytes per 2, overflow */
	memset(new, 0, PAGE);
	for (int i = 0; i < PAGE / 2 - 1; i++)
		new[i * 2] = 1;
	assert_int_equal(encode_all(old, new, PAGE, enc, PAGE), KMIG_XBZRLE_OVERFLOW);

	/* QEMU's range test: a changed stretch and two single bytes after it */
	for (int round = 0; round < 200; round++) {
		int len = (round * 97) % (PAGE - 1006);

		memset(old, 0, PAGE);
		memset(new, 0, PAGE);
		for (int i = len; i > 0; i--) {
			new[1000 + i] = (uint8_t)i;
			old[1000 + i] = (uint8_t)(i + 4);
		}
		new[1000 + len + 3] = 103;
		old[1000 + len + 3] = 107;
		new[1000 + len + 5] = 105;
		old[1000 + len + 5] = 109;
		int n = encode_all(old, new, PAGE, enc, PAGE);

		assert_true(n > 0);
		assert_int_equal(kmig_xbzrle_decode(enc, n, old, PAGE, err, sizeof(err)),
				 1000 + len + 6);
		assert_memory_equal(old, new, PAGE);
	}
}

/* run lengths at the LEB128 edges: 127/128, and 0x3fff, the largest */
static void test_length_edges(void **state)
{
	static uint8_t old[16384], new[16384], enc[3 * 16384];
	char err[256];

	memset(old, 0, sizeof(old));
	memset(new, 0, sizeof(new));
	memset(new + 127, 1, 128);	/* zero run 127, non-zero run 128 */
	assert_int_equal(encode_all(old, new, PAGE, enc, PAGE), 1 + 2 + 128);
	assert_memory_equal(enc, "\x7f\x80\x01", 3);
	memset(new, 0, sizeof(new));
	memset(new + 128, 1, 127);	/* zero run 128, non-zero run 127 */
	assert_int_equal(encode_all(old, new, PAGE, enc, PAGE), 2 + 1 + 127);
	assert_memory_equal(enc, "\x80\x01\x7f", 3);

	/* the largest page: every byte differs, a 0x3fff run */
	memset(new, 0xaa, sizeof(new));
	assert_int_equal(encode_all(old, new, KMIG_XBZRLE_MAX_LEN, enc, 3 * 16384),
			 1 + 2 + KMIG_XBZRLE_MAX_LEN);
	assert_memory_equal(enc, "\x00\xff\x7f\xaa", 4);
	assert_int_equal(kmig_xbzrle_decode(enc, 3 + KMIG_XBZRLE_MAX_LEN, old, KMIG_XBZRLE_MAX_LEN,
					    err, sizeof(err)), KMIG_XBZRLE_MAX_LEN);
	assert_memory_equal(old, new, KMIG_XBZRLE_MAX_LEN);
	/* a page too long for 2-byte lengths is refused */
	assert_int_equal(kmig_xbzrle_encode(old, new, KMIG_XBZRLE_MAX_LEN + 1, enc, 3 * 16384),
			 -EINVAL);
}

/* QEMU's room checks: 2 bytes before any run length, the run's bytes after */
static void test_overflow_rules(void **state)
{
	static uint8_t old[PAGE], new[PAGE], enc[PAGE + 16];

	memset(old, 0, PAGE);
	memcpy(new, old, PAGE);
	/* identical pages, but less than 2 bytes of room: overflow */
	assert_int_equal(encode_all(old, new, PAGE, enc, 1), KMIG_XBZRLE_OVERFLOW);
	assert_int_equal(encode_all(old, new, PAGE, enc, 0), KMIG_XBZRLE_OVERFLOW);
	assert_int_equal(encode_all(old, new, PAGE, enc, 2), 0);

	/* one changed byte at 10, the rest unchanged: a 3-byte delta */
	new[10] = 1;
	assert_int_equal(encode_all(old, new, PAGE, enc, PAGE), 3);
	assert_memory_equal(enc, "\x0a\x01\x01", 3);
	/* the trailing zero run is never written, yet wants 2 bytes of room */
	assert_int_equal(encode_all(old, new, PAGE, enc, 3), KMIG_XBZRLE_OVERFLOW);
	assert_int_equal(encode_all(old, new, PAGE, enc, 4), KMIG_XBZRLE_OVERFLOW);
	assert_int_equal(encode_all(old, new, PAGE, enc, 5), 3);
	/* no room for the non-zero run's length */
	assert_int_equal(encode_all(old, new, PAGE, enc, 2), KMIG_XBZRLE_OVERFLOW);
	/* room for both lengths but not for the run's 3 bytes */
	new[11] = new[12] = 1;
	assert_int_equal(encode_all(old, new, PAGE, enc, 4), KMIG_XBZRLE_OVERFLOW);
	assert_int_equal(encode_all(old, new, PAGE, enc, 7), 5);

	/* the last byte changed: the delta may end exactly at dlen */
	memset(new, 0, PAGE);
	new[PAGE - 1] = 7;
	assert_int_equal(encode_all(old, new, PAGE, enc, 4), 4);
	assert_int_equal(encode_all(old, new, PAGE, enc, 3), KMIG_XBZRLE_OVERFLOW);

	/* a delta of exactly 4096 bytes still fits a 4096-byte limit */
	memset(new, 0, PAGE);
	for (int i = 0; i < PAGE; i += 4)
		memset(new + i + 2, 1, 2);	/* runs 2 equal, 2 differ: 4 bytes each */
	assert_int_equal(encode_all(old, new, PAGE, enc, PAGE), PAGE);
	new[PAGE - 1] = 0;			/* the same, one byte fewer, tail equal */
	assert_int_equal(encode_all(old, new, PAGE, enc, PAGE), KMIG_XBZRLE_OVERFLOW);

	/* bad arguments */
	assert_int_equal(kmig_xbzrle_encode(NULL, new, PAGE, enc, PAGE), -EINVAL);
	assert_int_equal(kmig_xbzrle_encode(old, new, -1, enc, PAGE), -EINVAL);
	assert_int_equal(kmig_xbzrle_encode(old, new, PAGE, enc, -1), -EINVAL);
	assert_int_equal(kmig_xbzrle_encode(old, new, 0, NULL, 0), 0);
	assert_int_equal(kmig_xbzrle_encode_impl(KMIG_XBZRLE_IMPL_COUNT, old, new, PAGE, enc, PAGE),
			 -EINVAL);
}

/*
 * Golden vectors.  QEMU's portable xbzrle_encode_buffer (with its LEB128
 * helpers), compiled on its own apart from kmig, encoded the pages
 * xbzrle_gen.h makes for each (seed, pattern, page length, room); these
 * are its return values, the FNV-1a 64 of its output bytes and, for the
 * short ones, the bytes themselves.  The same program compared QEMU's
 * output with every kmig build's, on aligned and misaligned buffers, for
 * 1 350 000 such cases, and found no difference.
 */
static const struct golden {
	uint64_t seed;
	enum xb_pat pat;
	int slen, dlen, ret;
	uint64_t fnv;
	const char *hex;
} goldens[] = {
	{ 1, XP_NONE, 4096, 4096, 0, 0x0000000000000000ull, NULL },
	{ 1, XP_SINGLE, 4096, 4096, 23, 0x85a5030634bc87c8ull, "9d0401e00f013cfd0101cdc20101d1f70901dac9020163" },
	{ 2, XP_SINGLE, 4096, 4096, 12, 0x1713041260fac8b6ull, "d315014189040146cf010126" },
	{ 3, XP_SINGLE, 4096, 4096, 26, 0x70db998d099c5be2ull, "b00701e55401dfa90701efd301014dd60401e8a6060185400190" },
	{ 1, XP_RUNS, 4096, 4096, 346, 0xa60398c1813b3cb6ull, NULL },
	{ 2, XP_RUNS, 4096, 4096, 595, 0x6a0e2c67cddd1af9ull, NULL },
	{ 3, XP_RUNS, 4096, 4096, 1546, 0x3fc95ed7398e6ec2ull, NULL },
	{ 1, XP_EVERY_OTHER, 4096, 4096, 180, 0x4f7aa2c09205729cull, NULL },
	{ 2, XP_EVERY_OTHER, 4096, 4096, -1, 0x0000000000000000ull, NULL },
	{ 3, XP_EVERY_OTHER, 4096, 4096, 1381, 0xa0cc799e68d3b329ull, NULL },
	{ 1, XP_BOUNDARY, 4096, 4096, 4, 0x835a9664a08242bbull, "ff1f01bf" },
	{ 2, XP_BOUNDARY, 4096, 4096, 16, 0xd142dcd443ee82a9ull, "bf12015bd70a014ee302051d2fc01ac3" },
	{ 3, XP_BOUNDARY, 4096, 4096, 4, 0x835a8764a082293eull, "ff1f01ac" },
	{ 1, XP_UNALIGNED, 4096, 4096, 116, 0x1e623ada713104d7ull, NULL },
	{ 2, XP_UNALIGNED, 4096, 4096, 95, 0x223a21da5b4a67fcull, NULL },
	{ 3, XP_UNALIGNED, 4096, 4096, 219, 0xd65c945cecbdabc7ull, NULL },
	{ 1, XP_NEAR_OVERFLOW, 4096, 4096, 4038, 0x620d525a0762e36dull, NULL },
	{ 2, XP_NEAR_OVERFLOW, 4096, 4096, 4026, 0xbcd1c274b15ba513ull, NULL },
	{ 3, XP_NEAR_OVERFLOW, 4096, 4096, 4040, 0x3b05b53634ec95daull, NULL },
	{ 1, XP_DENSE, 4096, 4096, -1, 0x0000000000000000ull, NULL },
	{ 2, XP_DENSE, 4096, 4096, -1, 0x0000000000000000ull, NULL },
	{ 3, XP_DENSE, 4096, 4096, 1618, 0x48662a6b9a9ff7b1ull, NULL },
	{ 1, XP_LONG, 4096, 4096, 1886, 0xcc457419d2157166ull, NULL },
	{ 2, XP_LONG, 4096, 4096, 3411, 0x38bca5d46e3a67b0ull, NULL },
	{ 3, XP_LONG, 4096, 4096, 3766, 0x2190de88f5847a04ull, NULL },
	/* deltas at the page size; 97 and 176 end unchanged with < 2 bytes left */
	{ 45, XP_NEAR_OVERFLOW, 4096, 4096, 4094, 0x42bc6efe599a3fedull, NULL },
	{ 97, XP_NEAR_OVERFLOW, 4096, 4096, -1, 0x0000000000000000ull, NULL },
	{ 113, XP_NEAR_OVERFLOW, 4096, 4096, -1, 0x0000000000000000ull, NULL },
	{ 119, XP_NEAR_OVERFLOW, 4096, 4096, -1, 0x0000000000000000ull, NULL },
	{ 172, XP_NEAR_OVERFLOW, 4096, 4096, 4095, 0x94cb12e7affe64a7ull, NULL },
	{ 175, XP_NEAR_OVERFLOW, 4096, 4096, 4094, 0x14e38a578e7b42bbull, NULL },
	{ 176, XP_NEAR_OVERFLOW, 4096, 4096, -1, 0x0000000000000000ull, NULL },
	{ 896, XP_NEAR_OVERFLOW, 4096, 4096, 4096, 0xf95bc6121c447199ull, NULL },
	/* a 23-byte delta with an unchanged tail needs 25 bytes of room */
	{ 1, XP_SINGLE, 4096, 22, -1, 0x0000000000000000ull, NULL },
	{ 1, XP_SINGLE, 4096, 23, -1, 0x0000000000000000ull, NULL },
	{ 1, XP_SINGLE, 4096, 24, -1, 0x0000000000000000ull, NULL },
	{ 1, XP_SINGLE, 4096, 25, 23, 0x85a5030634bc87c8ull, "9d0401e00f013cfd0101cdc20101d1f70901dac9020163" },
	/* other page lengths */
	{ 5, XP_SINGLE, 8, 8, 3, 0xd949dc186c0c9e1eull, "000150" },
	{ 6, XP_RUNS, 136, 136, 130, 0x850d68c211bfd71full, NULL },
	{ 7, XP_LONG, 16376, 16376, 13165, 0x97d84503114dd98full, NULL },
	{ 8, XP_SINGLE, 16376, 16376, 24, 0x14b685391eb17047ull, "ce06011bba2701b9952401b9db0401b2db0c01b7c70f01e0" },
};

static void test_golden(void **state)
{
	static uint8_t old[16384], new[16384], enc[16384 + 16], page[16384];
	char err[256], hex[2 * 64 + 1];

	for (size_t g = 0; g < sizeof(goldens) / sizeof(goldens[0]); g++) {
		const struct golden *v = &goldens[g];
		int r;

		xb_make_pair(v->seed, v->pat, old, new, (size_t)v->slen);
		r = encode_all(old, new, v->slen, enc, v->dlen);
		if (r != v->ret)
			fail_msg("golden %zu (seed %llu pattern %d): %d, QEMU %d", g,
				 (unsigned long long)v->seed, v->pat, r, v->ret);
		if (r <= 0)
			continue;
		assert_int_equal(fnv1a(enc, (size_t)r), v->fnv);
		if (v->hex) {
			assert_true(r <= 64);
			for (int i = 0; i < r; i++)
				snprintf(hex + 2 * i, 3, "%02x", enc[i]);
			assert_string_equal(hex, v->hex);
		}
		memcpy(page, old, (size_t)v->slen);
		assert_true(kmig_xbzrle_decode(enc, r, page, v->slen, err, sizeof(err)) > 0);
		assert_memory_equal(page, new, (size_t)v->slen);
	}
}

/* 10 000 random change sets: every build agrees, decoding gives the new page */
static void test_round_trips(void **state)
{
	static uint8_t old[PAGE], new[PAGE], enc[PAGE + 16], page[PAGE];
	int outcome[3] = { 0 };	/* overflow, unchanged, delta */
	char err[256];

	for (int k = 0; k < 10000; k++) {
		enum xb_pat pat = (enum xb_pat)(k % XP_COUNT);
		int r;

		xb_make_pair(1000000 + (uint64_t)k, pat, old, new, PAGE);
		r = encode_all(old, new, PAGE, enc, PAGE);
		outcome[r < 0 ? 0 : r == 0 ? 1 : 2]++;
		if (r == 0) {
			assert_memory_equal(old, new, PAGE);
			continue;
		}
		if (r < 0)
			continue;
		memcpy(page, old, PAGE);
		err[0] = 0;
		if (kmig_xbzrle_decode(enc, r, page, PAGE, err, sizeof(err)) < 0)
			fail_msg("change set %d: %s", k, err);
		assert_memory_equal(page, new, PAGE);
	}
	/* the patterns cover all three outcomes in earnest */
	assert_true(outcome[2] > 7000);
	assert_true(outcome[1] > 1000);
	assert_true(outcome[0] > 300);
}

/* ---- malformed deltas ---- */

#define GUARD 64

/*
 * Decodes @n bytes of @src onto a 4096-byte page between guard zones and
 * expects -EPROTO with @why in the reason, and the page and guards as they
 * were.
 */
static void expect_reject(const void *src, int n, const char *why)
{
	static uint8_t buf[GUARD + PAGE + GUARD], before[sizeof(buf)];
	char err[256] = "";

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13 + 5);
	memcpy(before, buf, sizeof(buf));
	assert_int_equal(kmig_xbzrle_decode(src, n, buf + GUARD, PAGE, err, sizeof(err)), -EPROTO);
	if (!strstr(err, why))
		fail_msg("wanted \"%s\" in \"%s\"", why, err);
	assert_memory_equal(buf, before, sizeof(buf));
}

static void test_malformed(void **state)
{
	static uint8_t big[PAGE + 8];
	uint8_t page[PAGE];
	char err[256];

	/* runs past the page */
	expect_reject("\xff\x1f\x02\x01\x01", 5, "non-zero run at offset 2 (2 bytes from page offset 4095) goes past the end");
	expect_reject("\x81\x20\x01\x01", 4, "zero run at offset 0 (4097 bytes");
	expect_reject("\x80\x20\x01\x01", 4, "non-zero run at offset 2 (1 bytes from page offset 4096) goes past");
	/* truncated lengths */
	expect_reject("\x85", 1, "zero run length at offset 0 lacks its second byte");
	expect_reject("\x05\x85", 2, "non-zero run length at offset 1 lacks its second byte");
	/* overlong lengths: 2 bytes for a value below 0x80, or a third byte */
	expect_reject("\x85\x00\x01\x01", 4, "overlong zero run length at offset 0 (2 bytes for 5");
	expect_reject("\x05\x81\x00\x01", 4, "overlong non-zero run length at offset 1");
	expect_reject("\x80\x80\x01\x01\x01", 5, "zero run length at offset 0 continues past 2 bytes");
	expect_reject("\x05\xff\xff\x01", 4, "non-zero run length at offset 1 continues past 2 bytes");
	/* empty runs */
	expect_reject("\x05\x00\x01", 3, "non-zero run of length 0 at offset 1");
	expect_reject("\x05\x01\xaa\x00\x01\xbb", 6, "zero run of length 0 at offset 3");
	/* a non-zero run's bytes missing */
	expect_reject("\x05\x04\xaa\xbb", 4, "non-zero run at offset 1 has 4 bytes, the delta holds only 2");
	expect_reject("\x05\x01", 2, "has 1 bytes, the delta holds only 0");
	/* ends with a zero run */
	expect_reject("\x05\x01\xaa\x07", 4, "ends with the zero run at offset 3");
	expect_reject("\x05", 1, "ends with the zero run at offset 0");
	/* trailing garbage after the run that ends the page */
	expect_reject("\xff\x1f\x01\xaa\x00", 5, "1 trailing bytes at offset 4, after a run that ends");
	big[0] = 0;
	big[1] = 0x80;
	big[2] = 0x20;
	memset(big + 3, 0x5a, PAGE);
	memcpy(big + 3 + PAGE, "\x01\x01\xcc", 3);
	expect_reject(big, 3 + PAGE + 3, "3 trailing bytes at offset 4099");
	/* ... and that whole-page delta without the garbage is fine */
	memset(page, 0, PAGE);
	assert_int_equal(kmig_xbzrle_decode(big, 3 + PAGE, page, PAGE, err, sizeof(err)), PAGE);
	assert_memory_equal(page, big + 3, PAGE);

	/* the first zero run may be empty; an empty delta is an unchanged page */
	assert_int_equal(kmig_xbzrle_decode((const uint8_t *)"\x00\x01\xaa", 3, page, PAGE, err,
					    sizeof(err)), 1);
	assert_int_equal(page[0], 0xaa);
	assert_int_equal(kmig_xbzrle_decode(NULL, 0, page, PAGE, err, sizeof(err)), 0);
	/* bad arguments */
	assert_int_equal(kmig_xbzrle_decode(NULL, 3, page, PAGE, err, sizeof(err)), -EINVAL);
	assert_int_equal(kmig_xbzrle_decode(big, 3, page, -1, NULL, 0), -EINVAL);
	/* no room for the reason is fine */
	assert_int_equal(kmig_xbzrle_decode(big, 1, page, PAGE, NULL, 0), -EPROTO);
}

/*
 * Random and mutated deltas: whatever the decoder accepts lies inside the
 * page (guards intact) and whatever it rejects leaves the page untouched.
 */
static void test_decode_garbage(void **state)
{
	static uint8_t buf[GUARD + PAGE + GUARD], before[sizeof(buf)], src[PAGE + 64];
	static uint8_t old[PAGE], new[PAGE];
	struct xb_rng r = { 42 };
	int accepted = 0, rejected = 0;
	char err[256];

	for (int k = 0; k < 20000; k++) {
		int n;

		if (k & 1) {
			n = (int)xb_below(&r, 12);
			for (int i = 0; i < n; i++)
				src[i] = (uint8_t)(xb_below(&r, 2) ? xb_rnd(&r) : xb_below(&r, 4));
		} else {
			xb_make_pair((uint64_t)k, (enum xb_pat)(1 + k % (XP_COUNT - 1)), old, new, PAGE);
			n = model_encode(old, new, PAGE, src, PAGE);
			if (n <= 0)
				continue;
			size_t at = xb_below(&r, (size_t)n);

			src[at] ^= (uint8_t)(1 + xb_below(&r, 255));
			if (xb_below(&r, 2))
				n = (int)xb_below(&r, (size_t)n + 3);
		}
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(i + (size_t)k);
		memcpy(before, buf, sizeof(buf));
		if (kmig_xbzrle_decode(src, n, buf + GUARD, PAGE, err, sizeof(err)) < 0) {
			assert_memory_equal(buf, before, sizeof(buf));
			assert_true(err[0] != 0);
			rejected++;
		} else {
			assert_memory_equal(buf, before, GUARD);
			assert_memory_equal(buf + GUARD + PAGE, before + GUARD + PAGE, GUARD);
			accepted++;
		}
	}
	assert_true(accepted > 100 && rejected > 1000);
}

/* ---- the page cache ---- */

static void fill(uint8_t *p, int v)
{
	memset(p, v, PAGE);
}

static void test_cache_sizes(void **state)
{
	struct kmig_xbzrle_cache *c;
	char err[256];

	assert_null(kmig_xbzrle_cache_new(0, err, sizeof(err)));
	assert_string_equal(err, "XBZRLE cache size 0 is smaller than a page (4096 bytes)");
	assert_null(kmig_xbzrle_cache_new(4095, err, sizeof(err)));
	assert_null(kmig_xbzrle_cache_new(3 * 4096, err, sizeof(err)));
	assert_string_equal(err, "XBZRLE cache size 12288 is not a power of two");
	assert_null(kmig_xbzrle_cache_new(1ull << 63, err, sizeof(err)));
	assert_string_equal(err, "XBZRLE cache size 9223372036854775808 is larger than the "
			    "1099511627776 bytes allowed");

	c = kmig_xbzrle_cache_new(1 << 20, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(kmig_xbzrle_cache_size(c), 1 << 20);
	assert_int_equal(kmig_xbzrle_cache_entries(c), 256);
	/* nothing but the table until pages arrive */
	assert_int_equal(kmig_xbzrle_cache_pages(c), 0);
	assert_true(kmig_xbzrle_cache_mem_bytes(c) < 256 * 64);
	kmig_xbzrle_cache_free(c);
	kmig_xbzrle_cache_free(NULL);
}

static void test_cache_hit_miss_age(void **state)
{
	struct kmig_xbzrle_cache *c = kmig_xbzrle_cache_new(4 * PAGE, NULL, 0);
	uint64_t blk1 = 1ull << 40;
	uint8_t page[PAGE], *copy = NULL, *p;
	uint64_t mem0;

	assert_non_null(c);
	mem0 = kmig_xbzrle_cache_mem_bytes(c);
	assert_null(kmig_xbzrle_cache_lookup(c, 5, 1));
	fill(page, 0x11);
	assert_int_equal(kmig_xbzrle_cache_insert(c, 5, page, 1, &copy), 0);
	assert_non_null(copy);
	assert_ptr_not_equal(copy, page);
	assert_int_equal(kmig_xbzrle_cache_pages(c), 1);
	assert_int_equal(kmig_xbzrle_cache_mem_bytes(c), mem0 + PAGE);
	fill(page, 0x22);	/* the cache holds a copy */
	p = kmig_xbzrle_cache_lookup(c, 5, 1);
	assert_ptr_equal(p, copy);
	assert_int_equal(p[0], 0x11);
	assert_int_equal(p[PAGE - 1], 0x11);

	/* slot 1 of 4: keys 5, 9 and (block 1, page 5) all land there */
	assert_null(kmig_xbzrle_cache_lookup(c, 9, 1));
	assert_null(kmig_xbzrle_cache_lookup(c, blk1 | 5, 1));
	/* generations 1 and 2: the entry of 5 (age 1) is fresh, not replaced */
	assert_int_equal(kmig_xbzrle_cache_insert(c, 9, page, 1, NULL), -EBUSY);
	assert_int_equal(kmig_xbzrle_cache_insert(c, blk1 | 5, page, 2, NULL), -EBUSY);
	assert_int_equal(kmig_xbzrle_cache_lookup(c, 5, 1)[0], 0x11);
	/* the same key replaces whenever */
	assert_int_equal(kmig_xbzrle_cache_insert(c, 5, page, 1, NULL), 0);
	assert_int_equal(kmig_xbzrle_cache_lookup(c, 5, 1)[0], 0x22);
	/* a hit in generation 3 refreshes the age to 3: still fresh at 4 */
	assert_non_null(kmig_xbzrle_cache_lookup(c, 5, 3));
	assert_int_equal(kmig_xbzrle_cache_insert(c, 9, page, 4, NULL), -EBUSY);
	/* age 3 + 2 > 5 no longer holds: replaced, no new page buffer */
	fill(page, 0x33);
	assert_int_equal(kmig_xbzrle_cache_insert(c, blk1 | 5, page, 5, NULL), 0);
	assert_null(kmig_xbzrle_cache_lookup(c, 5, 5));
	assert_int_equal(kmig_xbzrle_cache_lookup(c, blk1 | 5, 5)[0], 0x33);
	assert_int_equal(kmig_xbzrle_cache_pages(c), 1);

	/* other slots fill lazily; the all-ones key is an ordinary key */
	assert_int_equal(kmig_xbzrle_cache_insert(c, 2, page, 5, NULL), 0);
	assert_null(kmig_xbzrle_cache_lookup(c, UINT64_MAX, 5));
	assert_int_equal(kmig_xbzrle_cache_insert(c, UINT64_MAX, page, 5, NULL), 0);
	assert_non_null(kmig_xbzrle_cache_lookup(c, UINT64_MAX, 5));
	assert_int_equal(kmig_xbzrle_cache_pages(c), 3);
	assert_int_equal(kmig_xbzrle_cache_mem_bytes(c), mem0 + 3 * PAGE);
	/* ages far apart, and near the top of the range (no wraparound) */
	assert_int_equal(kmig_xbzrle_cache_insert(c, 6, page, UINT64_MAX - 1, NULL), 0);
	assert_int_equal(kmig_xbzrle_cache_insert(c, 10, page, UINT64_MAX, NULL), -EBUSY);
	assert_int_equal(kmig_xbzrle_cache_insert(c, 10, page, 0, NULL), -EBUSY);
	kmig_xbzrle_cache_free(c);
}

static void test_cache_resize(void **state)
{
	struct kmig_xbzrle_cache *c = kmig_xbzrle_cache_new(2 * PAGE, NULL, 0);
	uint8_t page[PAGE];
	char err[256];

	assert_non_null(c);
	fill(page, 0x44);
	assert_int_equal(kmig_xbzrle_cache_insert(c, 0, page, 1, NULL), 0);
	assert_int_equal(kmig_xbzrle_cache_insert(c, 1, page, 1, NULL), 0);
	/* the same size keeps everything */
	assert_int_equal(kmig_xbzrle_cache_resize(c, 2 * PAGE, err, sizeof(err)), 0);
	assert_non_null(kmig_xbzrle_cache_lookup(c, 1, 1));
	/* a bad size is refused and changes nothing */
	assert_int_equal(kmig_xbzrle_cache_resize(c, 3 * PAGE, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "XBZRLE cache size 12288 is not a power of two");
	assert_int_equal(kmig_xbzrle_cache_resize(c, 100, err, sizeof(err)), -EINVAL);
	assert_int_equal(kmig_xbzrle_cache_size(c), 2 * PAGE);
	assert_non_null(kmig_xbzrle_cache_lookup(c, 0, 1));
	assert_int_equal(kmig_xbzrle_cache_pages(c), 2);
	/* another size: a new, empty cache */
	assert_int_equal(kmig_xbzrle_cache_resize(c, 8 * PAGE, err, sizeof(err)), 0);
	assert_int_equal(kmig_xbzrle_cache_size(c), 8 * PAGE);
	assert_int_equal(kmig_xbzrle_cache_entries(c), 8);
	assert_int_equal(kmig_xbzrle_cache_pages(c), 0);
	assert_null(kmig_xbzrle_cache_lookup(c, 0, 1));
	assert_null(kmig_xbzrle_cache_lookup(c, 1, 1));
	/* keys 1 and 9 no longer share an entry */
	assert_int_equal(kmig_xbzrle_cache_insert(c, 1, page, 2, NULL), 0);
	assert_int_equal(kmig_xbzrle_cache_insert(c, 9, page, 2, NULL), -EBUSY);
	assert_int_equal(kmig_xbzrle_cache_insert(c, 2, page, 2, NULL), 0);
	/* and shrinking works the same way */
	assert_int_equal(kmig_xbzrle_cache_resize(c, PAGE, err, sizeof(err)), 0);
	assert_int_equal(kmig_xbzrle_cache_entries(c), 1);
	assert_int_equal(kmig_xbzrle_cache_insert(c, 12345, page, 2, NULL), 0);
	assert_int_equal(kmig_xbzrle_cache_insert(c, 7, page, 3, NULL), -EBUSY);
	kmig_xbzrle_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_cases),
		cmocka_unit_test(test_length_edges),
		cmocka_unit_test(test_overflow_rules),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_decode_garbage),
		cmocka_unit_test(test_cache_sizes),
		cmocka_unit_test(test_cache_hit_miss_age),
		cmocka_unit_test(test_cache_resize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
