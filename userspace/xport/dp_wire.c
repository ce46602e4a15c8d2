// SPDX-License-Identifier: GPL-2.0-only
/*
 * dp_wire.c: the frame checks of the dpdk: channel's protocol (dp_proto.h).
 * Everything about a received frame that can be judged without the
 * connection is judged here, before any field is used: the ethertype, the
 * constant fields, lengths against the frame's real size, and the
 * checksum over header and payload.  The header is copied out (frames sit
 * at any alignment in an mbuf).
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
	[KMIG_DP_DROP_ACK] = "bad-ack",
};

const char *kmig_dp_drop_name(enum kmig_dp_drop why)
{
	return why < KMIG_DP_DROP_MAX ? drop_names[why] : "?";
}

/* the checksum field's offset: it is hashed as zero */
#define CSUM_OFF offsetof(struct kmig_dp_hdr, csum)

const uint8_t *kmig_dp_check(uint8_t *frame, uint32_t len, struct kmig_dp_hdr *h,
			     enum kmig_dp_drop *why)
{
	uint8_t *hp = frame + KMIG_DP_ETH_LEN;
	uint64_t want;

	if (len < KMIG_DP_ETH_LEN || frame[12] != (KMIG_DP_ETHERTYPE >> 8) ||
	    frame[13] != (KMIG_DP_ETHERTYPE & 0xff)) {
		*why = KMIG_DP_DROP_FOREIGN;
		return NULL;
	}
	*why = KMIG_DP_DROP_MALFORMED;
	if (len < KMIG_DP_ETH_LEN + sizeof(*h))
		return NULL;
	memcpy(h, hp, sizeof(*h));
	if (h->magic != KMIG_DP_MAGIC || h->version != KMIG_DP_VERSION || h->reserved ||
	    !h->type || h->type > KMIG_DP_RST || (h->flags & ~KMIG_DP_F_FIN) ||
	    (h->flags && h->type != KMIG_DP_DATA))
		return NULL;
	/* a frame may be padded (minimum Ethernet size), never short */
	if (h->len > KMIG_DP_MAX_PAYLOAD || h->len > len - KMIG_DP_ETH_LEN - sizeof(*h))
		return NULL;
	want = h->csum;
	/* hashed in place with the field zeroed, then put back */
	memset(hp + CSUM_OFF, 0, sizeof(h->csum));
	h->csum = XXH3_64bits(hp, sizeof(*h) + h->len);
	memcpy(hp + CSUM_OFF, &want, sizeof(want));
	if (h->csum != want) {
		*why = KMIG_DP_DROP_CSUM;
		return NULL;
	}
	return hp + sizeof(*h);
}

void kmig_dp_seal(struct kmig_dp_txdesc *d)
{
	XXH3_state_t st;

	d->hdr.csum = 0;
	if (!d->seg_len[0] && !d->seg_len[1]) {
		d->hdr.csum = XXH3_64bits(&d->hdr, sizeof(d->hdr));
		return;
	}
	/* streaming over the pieces equals one pass over the contiguous frame */
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, &d->hdr, sizeof(d->hdr));
	for (int i = 0; i < 2; i++)
		if (d->seg_len[i])
			XXH3_64bits_update(&st, d->seg[i], d->seg_len[i]);
	d->hdr.csum = XXH3_64bits_digest(&st);
}
