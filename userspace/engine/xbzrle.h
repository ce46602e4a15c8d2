/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xbzrle.h: XBZRLE (XOR-based zero run-length encoding), the page delta
 * QEMU's `xbzrle` migration capability sends.  A page that changed since
 * the copy the destination already holds goes out as the difference
 * between that copy ("old") and the current contents ("new"):
 *
 *   delta   = zrun nzrun [zrun nzrun ...]       (the last zero run omitted)
 *   zrun    = length                            bytes equal in old and new
 *   nzrun   = length byte...                    bytes that differ, from new
 *   length  = unsigned LEB128, at most 2 bytes (values below 2^14)
 *
 * Runs are maximal, so a page pair has exactly one delta, and
 * kmig_xbzrle_encode produces the bytes QEMU's xbzrle_encode_buffer
 * produces for it, including QEMU's decisions about when a delta is too
 * long (see kmig_xbzrle_encode).  Both sides need it byte for byte: a
 * QEMU destination must decode kmig's deltas and the stream statistics
 * must match QEMU's.
 *
 * No state, no allocation: safe from any number of threads.
 */
#ifndef KMIG_XBZRLE_H
#define KMIG_XBZRLE_H

#include <stddef.h>
#include <stdint.h>

/* kmig_xbzrle_encode's answer when the delta does not fit @dlen */
#define KMIG_XBZRLE_OVERFLOW (-1)
/* the largest run length a 2-byte LEB128 holds, hence the largest @slen */
#define KMIG_XBZRLE_MAX_LEN 0x3fff

/**
 * kmig_xbzrle_encode - the delta turning @old into @new
 * @old, @new: the previous and the current contents, @slen bytes each (no
 *          alignment required; they must not change during the call)
 * @slen:   0..KMIG_XBZRLE_MAX_LEN (kmig: 4096)
 * @dst:    room for @dlen bytes; nothing past them is ever written, but
 *          any of them may be (past the delta's end, and on overflow)
 * @dlen:   the most the delta may take (kmig, like QEMU: 4096)
 *
 * Returns the delta's length in bytes (> 0); 0 when @old and @new are
 * identical (send nothing); KMIG_XBZRLE_OVERFLOW (-1) when the delta would
 * not fit (send the page normally); -EINVAL for a NULL buffer with a
 * non-zero length, or @slen or @dlen out of range.
 *
 * Overflow is decided as QEMU decides it, not only by the final length:
 * before writing each run length it requires 2 bytes of room (so fewer
 * than 2 bytes left when a zero run starts is an overflow, even if what
 * remains of the page is unchanged and would have been omitted, and
 * @dlen < 2 is an overflow even for identical pages), and a non-zero run
 * whose bytes do not fit after its length is an overflow.
 */
int kmig_xbzrle_encode(const uint8_t *old, const uint8_t *new, int slen, uint8_t *dst, int dlen);

/**
 * kmig_xbzrle_decode - applies a delta to the previous contents in place
 * @src, @slen: the delta (0 bytes: the page did not change)
 * @dst, @dlen: the previous contents, @dlen bytes (kmig: 4096)
 * @err, @errlen: on failure, a sentence saying what is malformed and at
 *          which offset of @src (may be NULL / 0)
 *
 * The whole delta is checked before anything is written, so on failure
 * @dst is untouched; on success only the bytes of the non-zero runs are
 * written, all inside @dst.  Rejected, each with its own reason: a run
 * that goes past the end of @dst; a length cut off by the end of the
 * delta; an overlong length (2 bytes for a value below 0x80, or a second
 * byte with the continuation bit, i.e. a third byte); a zero run of length
 * 0 other than the first; a non-zero run of length 0; a non-zero run whose
 * bytes the delta does not hold; a delta that ends with a zero run; bytes
 * left after a run that reached the end of @dst.
 *
 * Returns the end offset of the last non-zero run (0 for an empty delta),
 * -EPROTO for a malformed delta, -EINVAL for bad arguments.
 */
int kmig_xbzrle_decode(const uint8_t *src, int slen, uint8_t *dst, int dlen, char *err,
		       size_t errlen);

/*
 * The encoder is built several times over, differing only in how it finds
 * where a run ends; kmig_xbzrle_encode uses the fastest this CPU has.
 * The others are here for tests and benchmarks, which check that every
 * one of them produces the same bytes.
 */
enum kmig_xbzrle_impl {
	KMIG_XBZRLE_IMPL_AUTO,	/* what kmig_xbzrle_encode uses */
	KMIG_XBZRLE_IMPL_WORD,	/* 8 bytes at a time, any CPU */
	KMIG_XBZRLE_IMPL_SSE2,	/* 16 bytes at a time (x86-64) */
	KMIG_XBZRLE_IMPL_AVX2,	/* 32 bytes at a time (x86-64 with AVX2) */
	KMIG_XBZRLE_IMPL_COUNT
};

/* true if @impl can run on this CPU (AUTO and WORD always can) */
int kmig_xbzrle_impl_available(enum kmig_xbzrle_impl impl);
/* "word", "sse2", "avx2"; AUTO names the one it resolves to */
const char *kmig_xbzrle_impl_name(enum kmig_xbzrle_impl impl);
/* kmig_xbzrle_encode with a chosen scanner; -ENOTSUP if not available */
int kmig_xbzrle_encode_impl(enum kmig_xbzrle_impl impl, const uint8_t *old, const uint8_t *new,
			    int slen, uint8_t *dst, int dlen);

#endif
