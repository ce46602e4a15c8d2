// SPDX-License-Identifier: GPL-2.0-only
/*
 * dp_wire.c: the frame checks of the dpdk: channel's protocol (dp_proto.h).
 * Everything about a received frame that can be judged without the
 * connection is judged here, before any field is used: the ethertype, the
 * constant fields, lengths against the frame's real size, and the
 * checksum over header and payload.  The header is copied out (frames sit
 * at any alignment in an mbuf); the frame is only read.  Where both ends
 * asked for it, a frame may carry a checksum of its header only.
 */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "dp_proto.h"

static const char *const drop_names[KMIG_DP_DROP_MAX] = {
	[KMIG_DP_DROP_FOREIGN] = "foreign",
	[KMIG_DP_DROP_MALFORMED] = "malformed",
	[KMIG_DP_DROP_CSUM] = "checksum",
	[KMIG_DP_DROP_CONN] = "connection",
	[KMIG_DP_DROP_DUP] = "duplicate",
	[KMIG_DP_DROP_WINDOW] = "window",
	[KMIG_DP_DROP_ACK] = "bad_ack",
};

const char *kmig_dp_drop_name(enum kmig_dp_drop why)
{
	return why < KMIG_DP_DROP_MAX ? drop_names[why] : "?";
}

/* XXH3-64, in the best vector build for this CPU (AVX2 hashes about a third faster) */
uint64_t kmig_dp_hash_avx2(const void *p, size_t n);

static uint64_t hash_sse2(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

static uint64_t hash(const void *p, size_t n)
{
	static uint64_t (*fn)(const void *, size_t);
	uint64_t (*f)(const void *, size_t) = __atomic_load_n(&fn, __ATOMIC_RELAXED);

	if (!n)
		return 0;
	if (!f) {
		__builtin_cpu_init();
		f = __builtin_cpu_supports("avx2") ? kmig_dp_hash_avx2 : hash_sse2;
		__atomic_store_n(&fn, f, __ATOMIC_RELAXED);
	}
	return f(p, n);
}

/*
 * The checksum: the header (csum zero) hashed with a seed made of the
 * hashes of the payload's two pieces.  The pieces are the sender's (its
 * staging bytes and its page), so each side hashes each byte once, in one
 * pass, without gathering the frame first.
 */
static uint64_t frame_sum(struct kmig_dp_hdr h, const uint8_t *p0, uint32_t n0, const uint8_t *p1,
			  uint32_t n1)
{
	uint64_t h0 = hash(p0, n0), h1 = hash(p1, n1);

	h.csum = 0;
	return XXH3_64bits_withSeed(&h, sizeof(h), h0 ^ (h1 * 0x9e3779b97f4a7c15ull));
}

const uint8_t *kmig_dp_check(const uint8_t *frame, uint32_t len, struct kmig_dp_hdr *h,
			     enum kmig_dp_drop *why, bool hdr_sum)
{
	const uint8_t *pl = frame + KMIG_DP_ETH_LEN + sizeof(*h);

	if (len < KMIG_DP_ETH_LEN || frame[12] != (KMIG_DP_ETHERTYPE >> 8) ||
	    frame[13] != (KMIG_DP_ETHERTYPE & 0xff)) {
		*why = KMIG_DP_DROP_FOREIGN;
		return NULL;
	}
	*why = KMIG_DP_DROP_MALFORMED;
	if (len < KMIG_DP_ETH_LEN + sizeof(*h))
		return NULL;
	memcpy(h, frame + KMIG_DP_ETH_LEN, sizeof(*h));
	if (h->magic != KMIG_DP_MAGIC || h->version != KMIG_DP_VERSION || h->split > h->len ||
	    !h->type || h->type > KMIG_DP_RST || (h->flags & ~(KMIG_DP_F_FIN | KMIG_DP_F_HDRSUM)) ||
	    ((h->flags & KMIG_DP_F_FIN) && h->type != KMIG_DP_DATA))
		return NULL;
	/* a frame may be padded (minimum Ethernet size), never short */
	if (h->len > KMIG_DP_MAX_PAYLOAD || h->len > len - KMIG_DP_ETH_LEN - sizeof(*h))
		return NULL;
	if (h->flags & KMIG_DP_F_HDRSUM ? !hdr_sum || frame_sum(*h, NULL, 0, NULL, 0) != h->csum :
	    frame_sum(*h, pl, h->split, pl + h->split, h->len - h->split) != h->csum) {
		*why = KMIG_DP_DROP_CSUM;
		return NULL;
	}
	return pl;
}

void kmig_dp_seal(struct kmig_dp_txdesc *d)
{
	d->hdr.split = d->seg_len[0];
	if (d->hdr_sum) {
		d->hdr.flags |= KMIG_DP_F_HDRSUM;
		d->hdr.csum = frame_sum(d->hdr, NULL, 0, NULL, 0);
	} else {
		d->hdr.csum = frame_sum(d->hdr, d->seg[0], d->seg_len[0], d->seg[1], d->seg_len[1]);
	}
}
