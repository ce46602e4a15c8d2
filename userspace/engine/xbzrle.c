// SPDX-License-Identifier: GPL-2.0-only
/*
 * xbzrle.c: the XBZRLE page delta (format and contract in xbzrle.h).
 *
 * Encoding walks maximal runs: find where the run of equal bytes ends,
 * write its length, find where the following run of differing bytes
 * ends, write its length and its bytes.  Finding run ends is the work:
 *
 * - word: 8 bytes at a time (XOR, and for differing runs the "has a zero
 *   byte" trick), the portable build, as QEMU's encoder scans;
 * - sse2 / avx2: compare 64 bytes at once into a 64-bit mask of the bytes
 *   that differ, then take every run end inside those 64 bytes from the
 *   mask with a count of trailing zeroes, without touching memory again;
 *   stretches of equal bytes are skipped 64 bytes per compare.  Several
 *   times faster than words on pages with many short runs, and faster on
 *   the rest too (test_xbzrle_bench).  The AVX2 build is compiled for
 *   AVX2 by a target attribute and only called on CPUs that have it.
 *
 * Runs are maximal, so every build writes the same bytes; the room checks
 * sit where QEMU's encoder has them, so overflow is decided the same way.
 *
 * The decoder checks the whole delta first and writes afterwards, so a
 * malformed delta leaves the page untouched.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xbzrle.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define XB_X86 1
#else
#define XB_X86 0
#endif

#define XB_INLINE static inline __attribute__((always_inline))

/* a run length, < 2^14, as 1 or 2 bytes of LEB128; returns the bytes used */
XB_INLINE size_t put_len(uint8_t *p, size_t v)
{
	if (v < 0x80) {
		p[0] = (uint8_t)v;
		return 1;
	}
	p[0] = (uint8_t)(v | 0x80);
	p[1] = (uint8_t)(v >> 7);
	return 2;
}

/*
 * The @nz bytes of a non-zero run, new[i..], to dst[d..] (d + nz <= dlen).
 * A short run goes as one 16-byte copy when both buffers have the room:
 * the bytes past the run land inside @dst's @dlen and are overwritten by
 * what follows or lie past the delta's end.
 */
XB_INLINE void put_run(uint8_t *dst, size_t d, size_t dlen, const uint8_t *new, size_t i,
		       size_t slen, size_t nz)
{
	if (nz <= 16 && d + 16 <= dlen && i + 16 <= slen)
		memcpy(dst + d, new + i, 16);
	else
		memcpy(dst + d, new + i, nz);
}

/* ---- word at a time ---- */

/* 8 bytes, the first in memory the least significant, whatever the CPU */
XB_INLINE uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* the first j >= i with a[j] != b[j], or n */
XB_INLINE size_t same_end_word(const uint8_t *a, const uint8_t *b, size_t i, size_t n)
{
	/* 32 bytes per step while nothing differs, then find the word */
	for (; i + 32 <= n; i += 32)
		if ((load_le64(a + i) ^ load_le64(b + i)) |
		    (load_le64(a + i + 8) ^ load_le64(b + i + 8)) |
		    (load_le64(a + i + 16) ^ load_le64(b + i + 16)) |
		    (load_le64(a + i + 24) ^ load_le64(b + i + 24)))
			break;
	for (; i + 8 <= n; i += 8) {
		uint64_t x = load_le64(a + i) ^ load_le64(b + i);

		if (x)
			return i + (size_t)(__builtin_ctzll(x) >> 3);
	}
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* the first j >= i with a[j] == b[j], or n */
XB_INLINE size_t diff_end_word(const uint8_t *a, const uint8_t *b, size_t i, size_t n)
{
	for (; i + 8 <= n; i += 8) {
		uint64_t x = load_le64(a + i) ^ load_le64(b + i);
		/*
		 * High bit set in each byte of z whose byte in x is zero, and
		 * possibly in bytes above such a byte (a borrow); the lowest
		 * set bit is always exact, which is all we need.
		 */
		uint64_t z = (x - ONES) & ~x & HIGHS;

		if (z)
			return i + (size_t)(__builtin_ctzll(z) >> 3);
	}
	while (i < n && a[i] != b[i])
		i++;
	return i;
}

/*
 * The room checks (2 bytes before each run length; the run's bytes after
 * a non-zero run's length) are QEMU's, in QEMU's order; slen <= 0x3fff
 * keeps every length within 2 bytes.
 */
static int encode_word(const uint8_t *old, const uint8_t *new, size_t slen, uint8_t *dst,
		       size_t dlen)
{
	size_t i = 0, d = 0;

	while (i < slen) {
		size_t j, nz;

		if (d + 2 > dlen)
			return KMIG_XBZRLE_OVERFLOW;
		j = same_end_word(old, new, i, slen);
		if (j - i == slen)
			return 0;		/* nothing changed */
		if (j == slen)
			return (int)d;		/* the last zero run is not sent */
		d += put_len(dst + d, j - i);
		i = j;
		if (d + 2 > dlen)
			return KMIG_XBZRLE_OVERFLOW;
		j = diff_end_word(old, new, i, slen);
		nz = j - i;
		d += put_len(dst + d, nz);
		if (d + nz > dlen)
			return KMIG_XBZRLE_OVERFLOW;
		put_run(dst, d, dlen, new, i, slen, nz);
		d += nz;
		i = j;
	}
	return (int)d;
}

typedef int (*encode_fn)(const uint8_t *old, const uint8_t *new, size_t slen, uint8_t *dst,
			 size_t dlen);

#if XB_X86
/* ---- 64-byte masks ---- */

/* bit k set when a[k] != b[k], for the n < 64 bytes at the end; 0 from n on */
static inline uint64_t diff_tail(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t m = 0;

	for (size_t k = 0; k < n; k++)
		m |= (uint64_t)(a[k] != b[k]) << k;
	return m;
}

/* SSE2 is part of x86-64: no CPU check needed */
XB_INLINE uint64_t eq16(const uint8_t *a, const uint8_t *b)
{
	return (uint64_t)(unsigned int)_mm_movemask_epi8(
		_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)a),
			       _mm_loadu_si128((const __m128i *)b)));
}

/* bit k set when a[k] != b[k], 64 bytes */
XB_INLINE uint64_t diff64_sse2(const uint8_t *a, const uint8_t *b)
{
	return ~(eq16(a, b) | eq16(a + 16, b + 16) << 16 | eq16(a + 32, b + 32) << 32 |
		 eq16(a + 48, b + 48) << 48);
}

/* true when the 64 bytes are equal */
XB_INLINE int same64_sse2(const uint8_t *a, const uint8_t *b)
{
	__m128i e = _mm_and_si128(
		_mm_and_si128(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)a),
					     _mm_loadu_si128((const __m128i *)b)),
			      _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(a + 16)),
					     _mm_loadu_si128((const __m128i *)(b + 16)))),
		_mm_and_si128(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(a + 32)),
					     _mm_loadu_si128((const __m128i *)(b + 32))),
			      _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(a + 48)),
					     _mm_loadu_si128((const __m128i *)(b + 48)))));

	return _mm_movemask_epi8(e) == 0xffff;
}

#define XB_AVX2 __attribute__((always_inline, target("avx2"))) static inline

XB_AVX2 __m256i cmp32(const uint8_t *a, const uint8_t *b)
{
	return _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)a),
				 _mm256_loadu_si256((const __m256i *)b));
}

XB_AVX2 uint64_t diff64_avx2(const uint8_t *a, const uint8_t *b)
{
	return ~((uint64_t)(uint32_t)_mm256_movemask_epi8(cmp32(a, b)) |
		 (uint64_t)(uint32_t)_mm256_movemask_epi8(cmp32(a + 32, b + 32)) << 32);
}

XB_AVX2 int same64_avx2(const uint8_t *a, const uint8_t *b)
{
	return (uint32_t)_mm256_movemask_epi8(_mm256_and_si256(cmp32(a, b),
							       cmp32(a + 32, b + 32))) ==
	       0xffffffffu;
}

/*
 * One encoder per mask builder.  @m describes the 64 bytes from @base
 * (fewer at the end of the page, with 0 bits past it), and base <= i <
 * base + 64 holds whenever a run is looked for.  The order of the room
 * checks is encode_word's.
 */
#define XB_DEFINE_MASK_ENCODER(name, attr, diff64, same64)                                 \
	attr static inline uint64_t name##_block(const uint8_t *old, const uint8_t *new,  \
						 size_t base, size_t slen)                 \
	{                                                                                  \
		return base + 64 <= slen ? diff64(old + base, new + base)                  \
					 : diff_tail(old + base, new + base, slen - base); \
	}                                                                                  \
                                                                                           \
	/* the first block from @base on that is not all equal, in *m; or slen */          \
	attr static inline size_t name##_skip(const uint8_t *old, const uint8_t *new,     \
					      size_t base, size_t slen, uint64_t *m)       \
	{                                                                                  \
		while (base + 64 <= slen && same64(old + base, new + base))                \
			base += 64;                                                        \
		if (base < slen && (*m = name##_block(old, new, base, slen)))              \
			return base;                                                       \
		return slen;                                                               \
	}                                                                                  \
                                                                                           \
	attr static int name(const uint8_t *old, const uint8_t *new, size_t slen,         \
			     uint8_t *dst, size_t dlen)                                    \
	{                                                                                  \
		size_t i = 0, d = 0, base, j, nz;                                          \
		uint64_t m = 0, bits;                                                      \
                                                                                           \
		if (!slen)                                                                 \
			return 0;                                                          \
		if (dlen < 2)                                                              \
			return KMIG_XBZRLE_OVERFLOW;                                       \
		base = name##_skip(old, new, 0, slen, &m);                                 \
		if (base == slen)                                                          \
			return 0; /* nothing changed */                                    \
		j = base + (size_t)__builtin_ctzll(m);                                     \
		for (;;) {                                                                 \
			/* a zero run i..j, then a non-zero run from j */                  \
			d += put_len(dst + d, j - i);                                      \
			i = j;                                                             \
			if (d + 2 > dlen)                                                  \
				return KMIG_XBZRLE_OVERFLOW;                               \
			bits = ~m >> (i - base);                                           \
			if (bits) {                                                        \
				j = i + (size_t)__builtin_ctzll(bits);                     \
			} else {                                                           \
				for (;;) {                                                 \
					base += 64;                                        \
					if (base >= slen) {                                \
						j = slen;                                  \
						break;                                     \
					}                                                  \
					m = name##_block(old, new, base, slen);            \
					if (~m) {                                          \
						j = base + (size_t)__builtin_ctzll(~m);    \
						break;                                     \
					}                                                  \
				}                                                          \
			}                                                                  \
			nz = j - i;                                                        \
			d += put_len(dst + d, nz);                                         \
			if (d + nz > dlen)                                                 \
				return KMIG_XBZRLE_OVERFLOW;                               \
			put_run(dst, d, dlen, new, i, slen, nz);                           \
			d += nz;                                                           \
			i = j;                                                             \
			if (i == slen)                                                     \
				return (int)d;                                             \
			/* the next zero run */                                            \
			if (d + 2 > dlen)                                                  \
				return KMIG_XBZRLE_OVERFLOW;                               \
			bits = m >> (i - base);                                            \
			if (bits) {                                                        \
				j = i + (size_t)__builtin_ctzll(bits);                     \
			} else {                                                           \
				base = name##_skip(old, new, base + 64, slen, &m);         \
				if (base == slen)                                          \
					return (int)d; /* the last one is not sent */      \
				j = base + (size_t)__builtin_ctzll(m);                     \
			}                                                                  \
		}                                                                          \
	}

XB_DEFINE_MASK_ENCODER(encode_sse2, , diff64_sse2, same64_sse2)
XB_DEFINE_MASK_ENCODER(encode_avx2, __attribute__((target("avx2"))), diff64_avx2, same64_avx2)
#endif

static const char *const impl_names[KMIG_XBZRLE_IMPL_COUNT] = {
	[KMIG_XBZRLE_IMPL_AUTO] = "auto",
	[KMIG_XBZRLE_IMPL_WORD] = "word",
	[KMIG_XBZRLE_IMPL_SSE2] = "sse2",
	[KMIG_XBZRLE_IMPL_AVX2] = "avx2",
};

int kmig_xbzrle_impl_available(enum kmig_xbzrle_impl impl)
{
	switch (impl) {
	case KMIG_XBZRLE_IMPL_AUTO:
	case KMIG_XBZRLE_IMPL_WORD:
		return 1;
#if XB_X86
	case KMIG_XBZRLE_IMPL_SSE2:
		return 1;
	case KMIG_XBZRLE_IMPL_AVX2: {
		static int avx2;	/* 0 not asked yet, 1 no, 2 yes */
		int a = __atomic_load_n(&avx2, __ATOMIC_RELAXED);

		if (!a) {
			__builtin_cpu_init();
			a = __builtin_cpu_supports("avx2") ? 2 : 1;
			__atomic_store_n(&avx2, a, __ATOMIC_RELAXED);
		}
		return a == 2;
	}
#endif
	default:
		return 0;
	}
}

/*
 * The choice: AVX2 where the CPU has it, else SSE2 on x86-64, else words.
 * Measured with test_xbzrle_bench on an AMD EPYC: on pages with a few
 * changed bytes or runs AVX2 encodes 5-20 % faster than SSE2 and 30-60 %
 * faster than words; on pages dense with 1-2 byte runs (which mostly
 * overflow) SSE2 is about 5 % ahead.  The sparse pages are the common
 * case, so AVX2 it is.
 */
static enum kmig_xbzrle_impl auto_impl(void)
{
	static int chosen;	/* an enum kmig_xbzrle_impl once chosen; every thread picks the same */
	int c = __atomic_load_n(&chosen, __ATOMIC_RELAXED);

	if (!c) {
		if (kmig_xbzrle_impl_available(KMIG_XBZRLE_IMPL_AVX2))
			c = KMIG_XBZRLE_IMPL_AVX2;
		else if (kmig_xbzrle_impl_available(KMIG_XBZRLE_IMPL_SSE2))
			c = KMIG_XBZRLE_IMPL_SSE2;
		else
			c = KMIG_XBZRLE_IMPL_WORD;
		__atomic_store_n(&chosen, c, __ATOMIC_RELAXED);
	}
	return (enum kmig_xbzrle_impl)c;
}

const char *kmig_xbzrle_impl_name(enum kmig_xbzrle_impl impl)
{
	if (impl == KMIG_XBZRLE_IMPL_AUTO)
		impl = auto_impl();
	return (unsigned int)impl < KMIG_XBZRLE_IMPL_COUNT ? impl_names[impl] : "unknown";
}

static encode_fn encoder_for(enum kmig_xbzrle_impl impl)
{
	if (impl == KMIG_XBZRLE_IMPL_AUTO)
		impl = auto_impl();
	if (!kmig_xbzrle_impl_available(impl))
		return NULL;
	switch (impl) {
#if XB_X86
	case KMIG_XBZRLE_IMPL_SSE2:
		return encode_sse2;
	case KMIG_XBZRLE_IMPL_AVX2:
		return encode_avx2;
#endif
	default:
		return encode_word;
	}
}

static int encode_args_ok(const uint8_t *old, const uint8_t *new, int slen, const uint8_t *dst,
			  int dlen)
{
	if (slen < 0 || slen > KMIG_XBZRLE_MAX_LEN || dlen < 0)
		return 0;
	if (slen && (!old || !new))
		return 0;
	return !dlen || dst;
}

int kmig_xbzrle_encode_impl(enum kmig_xbzrle_impl impl, const uint8_t *old, const uint8_t *new,
			    int slen, uint8_t *dst, int dlen)
{
	encode_fn f;

	if ((unsigned int)impl >= KMIG_XBZRLE_IMPL_COUNT)
		return -EINVAL;
	f = encoder_for(impl);
	if (!f)
		return -ENOTSUP;
	if (!encode_args_ok(old, new, slen, dst, dlen))
		return -EINVAL;
	return f(old, new, (size_t)slen, dst, (size_t)dlen);
}

int kmig_xbzrle_encode(const uint8_t *old, const uint8_t *new, int slen, uint8_t *dst, int dlen)
{
	static encode_fn fn;	/* chosen on first use, like auto_impl */
	encode_fn f = __atomic_load_n(&fn, __ATOMIC_RELAXED);

	if (!f) {
		f = encoder_for(KMIG_XBZRLE_IMPL_AUTO);
		__atomic_store_n(&fn, f, __ATOMIC_RELAXED);
	}
	if (!encode_args_ok(old, new, slen, dst, dlen))
		return -EINVAL;
	return f(old, new, (size_t)slen, dst, (size_t)dlen);
}

/* ---- decoding ---- */

__attribute__((format(printf, 3, 4), cold))
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

/* why the 2-byte length at src[i] is malformed: -EPROTO with the reason */
__attribute__((noinline, cold))
static int bad_len(const uint8_t *src, size_t slen, size_t i, const char *what, char *err,
		   size_t errlen)
{
	uint8_t b0 = src[i], b1;

	if (i + 1 >= slen)
		return bad(err, errlen,
			   "truncated XBZRLE delta: the %s length at offset %zu lacks its second byte",
			   what, i);
	b1 = src[i + 1];
	if (b1 & 0x80)
		return bad(err, errlen,
			   "bad XBZRLE delta: the %s length at offset %zu continues past 2 bytes "
			   "(lengths are below 2^14)", what, i);
	return bad(err, errlen,
		   "bad XBZRLE delta: overlong %s length at offset %zu (2 bytes for %u, "
		   "which takes 1)", what, i, (unsigned int)(b0 & 0x7f));
}

/*
 * Reads the run length at src[i] (i < slen) into *v: returns its size
 * (1 or 2), or -EPROTO with the reason in err.
 */
XB_INLINE int get_len(const uint8_t *src, size_t slen, size_t i, const char *what, uint32_t *v,
		      char *err, size_t errlen)
{
	uint8_t b0 = src[i], b1;

	if (!(b0 & 0x80)) {
		*v = b0;
		return 1;
	}
	b1 = i + 1 < slen ? src[i + 1] : 0;
	if (i + 1 >= slen || (b1 & 0x80) || !b1)
		return bad_len(src, slen, i, what, err, errlen);
	*v = (uint32_t)(b0 & 0x7f) | (uint32_t)b1 << 7;
	return 2;
}

/* exactly @n >= 1 bytes, without a library call for the short runs */
XB_INLINE void copy_exact(uint8_t *dst, const uint8_t *src, size_t n)
{
	if (n >= 16) {
		memcpy(dst, src, n);
	} else if (n >= 8) {
		memcpy(dst, src, 8);
		memcpy(dst + n - 8, src + n - 8, 8);
	} else if (n >= 4) {
		memcpy(dst, src, 4);
		memcpy(dst + n - 4, src + n - 4, 4);
	} else {
		dst[0] = src[0];
		if (n > 1)
			dst[n - 1] = src[n - 1];
		if (n > 2)
			dst[1] = src[1];
	}
}

/* the whole delta well formed for a page of dlen bytes? 0 or -EPROTO */
static int check_delta(const uint8_t *src, size_t slen, size_t dlen, char *err, size_t errlen)
{
	size_t i = 0, d = 0;

	while (i < slen) {
		uint32_t z = 0, nz = 0;
		size_t at = i;
		int r;

		if (i && d == dlen)
			return bad(err, errlen,
				   "bad XBZRLE delta: %zu trailing bytes at offset %zu, after a run "
				   "that ends the %zu-byte page", slen - i, i, dlen);
		r = get_len(src, slen, i, "zero run", &z, err, errlen);
		if (r < 0)
			return r;
		if (!z && i)
			return bad(err, errlen,
				   "bad XBZRLE delta: zero run of length 0 at offset %zu (only the "
				   "first run may be empty)", at);
		if (z > dlen - d)
			return bad(err, errlen,
				   "bad XBZRLE delta: the zero run at offset %zu (%u bytes from page "
				   "offset %zu) goes past the end of the %zu-byte page", at, z, d, dlen);
		d += z;
		i += (size_t)r;
		if (i == slen)
			return bad(err, errlen,
				   "truncated XBZRLE delta: it ends with the zero run at offset %zu, "
				   "no non-zero run follows", at);
		at = i;
		r = get_len(src, slen, i, "non-zero run", &nz, err, errlen);
		if (r < 0)
			return r;
		if (!nz)
			return bad(err, errlen,
				   "bad XBZRLE delta: non-zero run of length 0 at offset %zu", at);
		if (nz > dlen - d)
			return bad(err, errlen,
				   "bad XBZRLE delta: the non-zero run at offset %zu (%u bytes from "
				   "page offset %zu) goes past the end of the %zu-byte page",
				   at, nz, d, dlen);
		i += (size_t)r;
		if (nz > slen - i)
			return bad(err, errlen,
				   "truncated XBZRLE delta: the non-zero run at offset %zu has %u "
				   "bytes, the delta holds only %zu more", at, nz, slen - i);
		d += nz;
		i += nz;
	}
	return 0;
}

int kmig_xbzrle_decode(const uint8_t *src, int slen, uint8_t *dst, int dlen, char *err,
		       size_t errlen)
{
	size_t i = 0, d = 0, n = (size_t)slen;
	int r;

	if (slen < 0 || dlen < 0 || (slen && !src) || (dlen && !dst)) {
		bad(err, errlen, "XBZRLE decode: bad arguments (delta of %d bytes, page of %d bytes)",
		    slen, dlen);
		return -EINVAL;
	}
	r = check_delta(src, n, (size_t)dlen, err, errlen);
	if (r)
		return r;
	/* well formed: every length is 1 or 2 valid bytes and every run fits */
	while (i < n) {
		uint32_t z, nz;

		z = src[i] & 0x7f;
		if (src[i++] & 0x80)
			z |= (uint32_t)src[i++] << 7;
		nz = src[i] & 0x7f;
		if (src[i++] & 0x80)
			nz |= (uint32_t)src[i++] << 7;
		d += z;
		copy_exact(dst + d, src + i, nz);
		d += nz;
		i += nz;
	}
	return (int)d;
}
