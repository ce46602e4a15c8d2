/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xbzrle_gen.h: deterministic old/new page pairs of several change
 * patterns for test_xbzrle.c.  Deterministic so that a (seed, pattern)
 * pair names the same two pages everywhere, which is what lets the
 * golden vectors in test_xbzrle.c be written down as seeds.
 */
#ifndef KMIG_XBZRLE_GEN_H
#define KMIG_XBZRLE_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct xb_rng {
	uint64_t s;
};

static uint64_t xb_rnd(struct xb_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t xb_below(struct xb_rng *r, size_t n)
{
	return n ? (size_t)(xb_rnd(r) % n) : 0;
}

enum xb_pat {
	XP_NONE,	/* identical pages */
	XP_SINGLE,	/* a few single bytes */
	XP_RUNS,	/* runs of 1..300 bytes */
	XP_EVERY_OTHER,	/* every 2nd (or 3rd) byte over a stretch */
	XP_BOUNDARY,	/* first / last bytes, word and page edges */
	XP_UNALIGNED,	/* short runs at odd offsets */
	XP_NEAR_OVERFLOW, /* deltas close to the page size */
	XP_DENSE,	/* each byte changed with a random probability */
	XP_LONG,	/* runs of 128 bytes and more (2-byte lengths) */
	XP_COUNT
};

/* changes byte @at of @p; almost always to a different value */
static void xb_touch(struct xb_rng *r, uint8_t *p, size_t at)
{
	if (xb_below(r, 16))
		p[at] ^= (uint8_t)(1 + xb_below(r, 255));
	else
		p[at] = (uint8_t)xb_rnd(r);
}

static void xb_touch_run(struct xb_rng *r, uint8_t *p, size_t len, size_t at, size_t n)
{
	for (size_t j = 0; j < n && at + j < len; j++)
		xb_touch(r, p, at + j);
}

/*
 * Old and new pages of @len bytes (a multiple of 8) for (@seed, @pat).
 * Each draw from the generator is a statement of its own: two draws in
 * one expression would come in an order that depends on the compiler.
 */
static void xb_make_pair(uint64_t seed, enum xb_pat pat, uint8_t *old, uint8_t *new, size_t len)
{
	struct xb_rng r = { seed * XP_COUNT + (uint64_t)pat };
	size_t k, at, n;

	switch (xb_below(&r, 4)) {
	case 0:
		memset(old, 0, len);
		break;
	case 1:
		for (size_t j = 0; j < len; j++)
			old[j] = (uint8_t)(j * 7 + seed);
		break;
	default:
		for (size_t j = 0; j < len; j++)
			old[j] = (uint8_t)xb_rnd(&r);
	}
	memcpy(new, old, len);
	switch (pat) {
	case XP_NONE:
	case XP_COUNT:
		break;
	case XP_SINGLE:
		for (k = 1 + xb_below(&r, 8); k; k--)
			xb_touch(&r, new, xb_below(&r, len));
		break;
	case XP_RUNS:
		for (k = 1 + xb_below(&r, 16); k; k--) {
			at = xb_below(&r, len);
			n = 1 + xb_below(&r, 300);
			xb_touch_run(&r, new, len, at, n);
		}
		break;
	case XP_EVERY_OTHER: {
		size_t step = 2 + xb_below(&r, 2);

		at = xb_below(&r, 2) ? 0 : xb_below(&r, len);
		n = xb_below(&r, 2) ? len : xb_below(&r, len);
		for (size_t j = at; j < len && j < at + n; j += step)
			xb_touch(&r, new, j);
		break;
	}
	case XP_BOUNDARY:
		if (xb_below(&r, 2))
			xb_touch_run(&r, new, len, 0, 1 + xb_below(&r, 9));
		if (xb_below(&r, 2)) {
			n = 1 + xb_below(&r, 9);
			xb_touch_run(&r, new, len, len - (n < len ? n : len), n);
		}
		for (k = xb_below(&r, 6); k; k--) {
			at = 8 * xb_below(&r, len / 8);
			at += xb_below(&r, 2) ? 7 : 0;
			xb_touch_run(&r, new, len, at, 1 + xb_below(&r, 2));
		}
		if (!memcmp(old, new, len))
			xb_touch(&r, new, len - 1);
		break;
	case XP_UNALIGNED:
		for (k = 1 + xb_below(&r, 24); k; k--) {
			at = 8 * xb_below(&r, len / 8);
			at += 1 + xb_below(&r, 7);
			xb_touch_run(&r, new, len, at, 1 + xb_below(&r, 17));
		}
		break;
	case XP_NEAR_OVERFLOW: {
		/* alternating runs of about 2 equal and n differing bytes cost
		 * about as many bytes as they cover; a random unchanged prefix and
		 * suffix move the total around the page size */
		size_t pre = xb_below(&r, 3) ? xb_below(&r, 64) : 0;
		size_t suf = xb_below(&r, 3) ? xb_below(&r, 64) : 0;
		size_t nmax = 1 + xb_below(&r, 8);

		at = pre;
		while (at + suf < len) {
			at += 1 + xb_below(&r, 3);
			n = 1 + xb_below(&r, nmax);
			if (at + n + suf > len)
				n = at + suf < len ? len - suf - at : 0;
			for (size_t j = 0; j < n; j++)
				new[at + j] ^= (uint8_t)(1 + xb_below(&r, 255));
			at += n;
		}
		break;
	}
	case XP_DENSE: {
		size_t pct = 1 + xb_below(&r, 100);

		for (size_t j = 0; j < len; j++)
			if (xb_below(&r, 100) < pct)
				xb_touch(&r, new, j);
		break;
	}
	case XP_LONG:
		for (k = 1 + xb_below(&r, 3); k; k--) {
			n = 128 + xb_below(&r, len);
			at = xb_below(&r, len);
			xb_touch_run(&r, new, len, at, n);
		}
		break;
	}
}

#endif
