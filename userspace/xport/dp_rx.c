// SPDX-License-Identifier: GPL-2.0-only
/*
 * dp_rx.c: the receiving half of the dpdk: channel's protocol
 * (dp_proto.h).  Received DATA frames wait in a ring of rx_window slots
 * indexed by frame number until the reader copies their bytes out; a
 * frame ahead of a missing one waits in its slot too.  Nothing reaches
 * the reader before every frame below it arrived and its stream offset
 * proved to follow the previous frame's bytes exactly, so a replayed,
 * duplicated or forged frame can be dropped or fail the connection, but
 * never lands at the wrong place in the stream.  The window advertised
 * is the free slots, so a slow reader slows the sender instead of losing
 * frames.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_internal.h"

#define SLOT(c, s) (&(c)->rxf[(s) & ((c)->cfg.rx_window - 1)])

int dp_rx_init(struct kmig_dp_conn *c)
{
	c->rxf = calloc(c->cfg.rx_window, sizeof(*c->rxf));
	if (!c->rxf)
		return -ENOMEM;
	c->rcv_nxt = c->rd_seq = c->rcv_high = 1;
	c->adv_edge = 1 + c->cfg.rx_window;
	return 0;
}

void dp_rx_fini(struct kmig_dp_conn *c)
{
	if (!c->rxf)
		return;
	for (uint32_t i = 0; i < c->cfg.rx_window; i++)
		if (c->rxf[i].present && c->cfg.release)
			c->cfg.release(c->cfg.rel_ctx, c->rxf[i].h);
	free(c->rxf);
	c->rxf = NULL;
}

static int drop(struct kmig_dp_conn *c, enum kmig_dp_drop why)
{
	c->st.drops[why]++;
	return 0;
}

int dp_rx_data(struct kmig_dp_conn *c, const struct kmig_dp_hdr *h, const uint8_t *payload,
	       void *handle, uint64_t now_us)
{
	uint64_t s = h->seq;
	struct kmig_dp_rxf *f;

	if (!s || h->len > c->max_payload || ((h->flags & KMIG_DP_F_FIN) && h->len) ||
	    h->off > UINT64_MAX - h->len)
		return drop(c, KMIG_DP_DROP_MALFORMED);
	if (s < c->rcv_nxt) {
		c->ack_now = true;	/* sent again: our acknowledgement may have been lost */
		return drop(c, KMIG_DP_DROP_DUP);
	}
	if (s >= c->rd_seq + c->cfg.rx_window) {
		c->ack_now = true;
		return drop(c, KMIG_DP_DROP_WINDOW);
	}
	f = SLOT(c, s);
	if (f->present)
		return drop(c, KMIG_DP_DROP_DUP);
	*f = (struct kmig_dp_rxf){ .h = handle, .p = payload, .off = h->off, .len = h->len,
				   .present = 1, .fin = !!(h->flags & KMIG_DP_F_FIN) };
	if (s > c->rcv_high)
		c->rcv_high = s;
	if (s != c->rcv_nxt) {
		c->st.ooo_in++;
		c->ack_now = true;	/* tell the sender about the hole at once */
		return 1;
	}
	/* deliver every frame now in order, each exactly after the previous bytes */
	while (c->rcv_nxt < c->rd_seq + c->cfg.rx_window && SLOT(c, c->rcv_nxt)->present) {
		f = SLOT(c, c->rcv_nxt);
		if (c->fin_in) {
			kmig_dp_fail(c, -EPROTO, "frame %llu arrived after the end of the stream",
				     (unsigned long long)c->rcv_nxt);
			return 1;
		}
		if (f->off != c->rcv_off) {
			kmig_dp_fail(c, -EPROTO, "frame %llu carries stream offset %llu, expected "
				     "%llu", (unsigned long long)c->rcv_nxt,
				     (unsigned long long)f->off, (unsigned long long)c->rcv_off);
			return 1;
		}
		c->rcv_off += f->len;
		c->st.bytes_in += f->len;
		c->fin_in = f->fin;
		c->rcv_nxt++;
		c->ack_owed++;
	}
	(void)now_us;
	return 1;
}

uint64_t kmig_dp_readable(const struct kmig_dp_conn *c)
{
	return c->rcv_off - c->rd_off;
}

bool kmig_dp_eof(const struct kmig_dp_conn *c)
{
	return c->fin_in && c->rd_off == c->rcv_off;
}

size_t kmig_dp_read(struct kmig_dp_conn *c, void *buf, size_t n)
{
	uint8_t *out = buf;
	size_t done = 0;

	while (c->rd_seq < c->rcv_nxt) {
		struct kmig_dp_rxf *f = SLOT(c, c->rd_seq);
		size_t take = f->len - c->rd_pos;

		if (take > n - done)
			take = n - done;
		memcpy(out + done, f->p + c->rd_pos, take);
		done += take;
		c->rd_pos += (uint32_t)take;
		if (c->rd_pos < f->len)
			break;
		if (c->cfg.release)
			c->cfg.release(c->cfg.rel_ctx, f->h);
		memset(f, 0, sizeof(*f));
		c->rd_seq++;
		c->rd_pos = 0;
		if (done == n)
			break;
	}
	c->rd_off += done;
	c->st.read_bytes += done;
	/* a window that opened by a quarter is worth telling at once */
	if (c->rd_seq + c->cfg.rx_window - c->adv_edge >= c->cfg.rx_window / 4)
		c->ack_now = true;
	return done;
}

void dp_rx_fill_ack(struct kmig_dp_conn *c, struct kmig_dp_hdr *h)
{
	uint64_t end = c->rcv_high + 1, lim = c->rcv_nxt + 1 + KMIG_DP_SACK_BITS;

	h->ack = c->rcv_nxt;
	h->sack[0] = h->sack[1] = 0;
	if (end > lim)
		end = lim;
	for (uint64_t s = c->rcv_nxt + 1; s < end; s++)
		if (SLOT(c, s)->present) {
			uint64_t i = s - c->rcv_nxt - 1;

			h->sack[i / 64] |= 1ull << (i % 64);
		}
	h->wnd = (uint32_t)(c->rd_seq + c->cfg.rx_window - c->rcv_nxt);
	h->tsecr = c->peer_tsval;
	c->adv_edge = c->rd_seq + c->cfg.rx_window;
	c->ack_owed = 0;
	c->ack_now = false;
}

bool dp_rx_ack_due(const struct kmig_dp_conn *c)
{
	return c->ack_now || c->ack_owed >= DP_ACK_EVERY || (c->ack_owed && c->rx_drained);
}
