// SPDX-License-Identifier: GPL-2.0-only
/*
 * dp_conn.c: a dpdk: channel connection's life (dp_proto.h): the
 * handshake (SYN with the source's id, sizes and window; SYNACK with the
 * destination's), the dispatch of received frames to the sending and
 * receiving halves, which frame goes next, the timers (handshake,
 * retransmission, keepalive, a silent or stalled peer) and the end (RST
 * with a reason).  A peer that goes silent or stops acknowledging fails
 * the connection after cfg.timeout_us with a sentence that says so.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dp_internal.h"

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int kmig_dp_init(struct kmig_dp_conn *c, const struct kmig_dp_cfg *cfg, uint32_t my_id)
{
	int ret;

	memset(c, 0, sizeof(*c));
	if (!pow2(cfg->rx_window) || !pow2(cfg->tx_slots) || !pow2(cfg->staging) ||
	    !pow2(cfg->pieces) || cfg->max_payload < KMIG_DP_MIN_PAYLOAD ||
	    cfg->max_payload > KMIG_DP_MAX_PAYLOAD || cfg->staging < cfg->max_payload || !my_id)
		return -EINVAL;
	c->cfg = *cfg;
	c->my_id = my_id;
	c->max_payload = cfg->max_payload;
	c->state = KMIG_DP_SYN_SENT;
	ret = dp_tx_init(c);
	if (!ret)
		ret = dp_rx_init(c);
	if (ret)
		kmig_dp_fini(c);
	return ret;
}

void kmig_dp_fini(struct kmig_dp_conn *c)
{
	dp_rx_fini(c);
	dp_tx_fini(c);
}

void kmig_dp_connect(struct kmig_dp_conn *c, uint64_t now_us)
{
	c->state = KMIG_DP_SYN_SENT;
	c->opened_us = c->last_rx_us = now_us;
	c->syn_every_us = 1000;		/* 1, 2, 4 ... 50 ms: a link still coming up eats the first */
	c->syn_sent_us = now_us - c->syn_every_us;
}

int kmig_dp_parse_syn(const struct kmig_dp_hdr *h, const uint8_t *payload,
		      struct kmig_dp_syn *out)
{
	if (h->len != sizeof(*out) || h->seq || h->off || h->flags)
		return -EPROTO;
	memcpy(out, payload, sizeof(*out));
	if (!out->conn || (out->flags & ~KMIG_DP_SYN_F_HDRSUM) || out->max_payload < KMIG_DP_MIN_PAYLOAD ||
	    !out->window || out->window > (1u << 20))
		return -EPROTO;
	return 0;
}

/* takes the peer's half of the handshake */
static void open_with(struct kmig_dp_conn *c, const struct kmig_dp_syn *syn, uint64_t now_us)
{
	c->peer_id = syn->conn;
	if (syn->max_payload < c->max_payload)
		c->max_payload = syn->max_payload;
	c->peer_edge = 1 + syn->window;
	c->tx_hdr_sum = c->cfg.hdr_sum && (syn->flags & KMIG_DP_SYN_F_HDRSUM);
	c->state = KMIG_DP_OPEN;
	c->last_rx_us = c->last_progress_us = now_us;
}

int kmig_dp_accept(struct kmig_dp_conn *c, const struct kmig_dp_hdr *h, const uint8_t *payload,
		   uint64_t now_us)
{
	struct kmig_dp_syn syn;

	if (h->type != KMIG_DP_SYN || h->conn || kmig_dp_parse_syn(h, payload, &syn))
		return -EPROTO;
	open_with(c, &syn, now_us);
	c->syn_owed = true;
	return 0;
}

void kmig_dp_fail(struct kmig_dp_conn *c, int err_no, const char *fmt, ...)
{
	va_list ap;

	if (c->state == KMIG_DP_CLOSED)
		return;
	c->state = KMIG_DP_CLOSED;
	c->err_no = err_no;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	/* the peer hears why, unless it is the one that vanished */
	if (c->peer_id && err_no != -ETIMEDOUT && err_no != -ECONNRESET) {
		c->rst_owed = true;
		snprintf(c->rst_reason, sizeof(c->rst_reason), "%s", c->err);
	}
}

void kmig_dp_reset(struct kmig_dp_conn *c, int err_no, const char *reason)
{
	if (c->state != KMIG_DP_CLOSED) {
		c->state = KMIG_DP_CLOSED;
		c->err_no = err_no;
		snprintf(c->err, sizeof(c->err), "%s", reason);
	}
	if (c->peer_id) {
		c->rst_owed = true;
		snprintf(c->rst_reason, sizeof(c->rst_reason), "%s", reason);
	}
}

/* a RST's reason, kept to printable ASCII */
static void take_reset(struct kmig_dp_conn *c, const struct kmig_dp_hdr *h, const uint8_t *p)
{
	char why[KMIG_DP_REASON_MAX + 1];
	uint32_t n = h->len < KMIG_DP_REASON_MAX ? h->len : KMIG_DP_REASON_MAX;

	for (uint32_t i = 0; i < n; i++)
		why[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	why[n] = 0;
	c->rst_in = true;
	kmig_dp_fail(c, -ECONNRESET, "the peer ended the connection: %s", n ? why : "no reason");
}

static int drop(struct kmig_dp_conn *c, enum kmig_dp_drop why)
{
	c->st.drops[why]++;
	return 0;
}

int kmig_dp_on_frame(struct kmig_dp_conn *c, const struct kmig_dp_hdr *h,
		     const uint8_t *payload, void *handle, uint64_t now_us)
{
	struct kmig_dp_syn syn;

	if (c->state == KMIG_DP_CLOSED) {
		if (h->type == KMIG_DP_RST && c->my_id && h->conn == c->my_id)
			c->rst_in = true;	/* the peer's end too: closing may finish */
		return drop(c, KMIG_DP_DROP_CONN);
	}
	if (h->type == KMIG_DP_SYN) {
		/* our SYNACK was lost: the source asks again */
		if (h->conn || kmig_dp_parse_syn(h, payload, &syn) || syn.conn != c->peer_id ||
		    c->state != KMIG_DP_OPEN || !c->peer_id)
			return drop(c, KMIG_DP_DROP_CONN);
		c->syn_owed = true;
		c->last_rx_us = now_us;
		return 0;
	}
	if (h->conn != c->my_id)
		return drop(c, KMIG_DP_DROP_CONN);
	if (h->type == KMIG_DP_SYNACK) {
		if (kmig_dp_parse_syn(h, payload, &syn))
			return drop(c, KMIG_DP_DROP_MALFORMED);
		if (c->state != KMIG_DP_SYN_SENT)
			return drop(c, syn.conn == c->peer_id ? KMIG_DP_DROP_DUP : KMIG_DP_DROP_CONN);
		open_with(c, &syn, now_us);
		c->peer_tsval = h->tsval;
		c->st.frames_in++;
		return 2;
	}
	if (c->state != KMIG_DP_OPEN)
		return drop(c, KMIG_DP_DROP_CONN);
	if (h->type == KMIG_DP_RST) {
		c->st.frames_in++;
		take_reset(c, h, payload);
		return 0;
	}
	if (h->type == KMIG_DP_ACK && (h->len || h->seq || h->off))
		return drop(c, KMIG_DP_DROP_MALFORMED);
	if (h->type == KMIG_DP_DATA && !h->seq)
		return drop(c, KMIG_DP_DROP_MALFORMED);
	if (!dp_tx_on_ack(c, h, now_us))
		return drop(c, KMIG_DP_DROP_ACK);
	c->last_rx_us = now_us;
	c->peer_tsval = h->tsval;
	c->st.frames_in++;
	return h->type == KMIG_DP_DATA ? dp_rx_data(c, h, payload, handle, now_us) : 0;
}

static void syn_payload(struct kmig_dp_conn *c, struct kmig_dp_txdesc *d)
{
	struct kmig_dp_syn syn = { .conn = c->my_id, .max_payload = c->max_payload,
				   .window = c->cfg.rx_window,
				   .flags = c->cfg.hdr_sum ? KMIG_DP_SYN_F_HDRSUM : 0 };

	memcpy(c->syn_scratch, &syn, sizeof(syn));
	d->seg[0] = c->syn_scratch;
	d->seg_len[0] = sizeof(syn);
	d->hdr.len = sizeof(syn);
}

bool kmig_dp_next_tx(struct kmig_dp_conn *c, uint64_t now_us, struct kmig_dp_txdesc *d)
{
	memset(d, 0, sizeof(*d));
	if (c->rst_owed) {
		size_t n = strlen(c->rst_reason);

		c->rst_owed = false;
		memcpy(c->syn_scratch, c->rst_reason, n);
		d->hdr.type = KMIG_DP_RST;
		d->hdr.conn = c->peer_id;
		d->hdr.len = (uint32_t)n;
		d->seg[0] = c->syn_scratch;
		d->seg_len[0] = (uint32_t)n;
		goto out;
	}
	if (c->state == KMIG_DP_CLOSED)
		return false;
	if (c->state == KMIG_DP_SYN_SENT) {
		if (now_us - c->syn_sent_us < c->syn_every_us)
			return false;
		c->syn_sent_us = now_us;
		c->syn_every_us = c->syn_every_us * 2 < DP_SYN_EVERY_US ? c->syn_every_us * 2 :
				  DP_SYN_EVERY_US;
		d->hdr.type = KMIG_DP_SYN;
		syn_payload(c, d);
		goto out;
	}
	d->hdr.conn = c->peer_id;
	if (c->syn_owed) {
		c->syn_owed = false;
		d->hdr.type = KMIG_DP_SYNACK;
		syn_payload(c, d);
	} else if (dp_tx_data(c, now_us, d)) {
		d->hdr.conn = c->peer_id;
		d->hdr_sum = c->tx_hdr_sum;
	} else if (dp_rx_ack_due(c) || now_us - c->last_tx_us >= DP_KEEPALIVE_US) {
		d->hdr.type = KMIG_DP_ACK;
		d->hdr_sum = c->tx_hdr_sum;
		c->st.acks_out++;
	} else {
		return false;
	}
	dp_rx_fill_ack(c, &d->hdr);
out:
	d->hdr.magic = KMIG_DP_MAGIC;
	d->hdr.version = KMIG_DP_VERSION;
	d->hdr.tsval = dp_now32(now_us);
	c->st.frames_out++;
	c->last_tx_us = now_us;
	return true;
}

bool kmig_dp_tick(struct kmig_dp_conn *c, uint64_t now_us)
{
	if (c->state == KMIG_DP_CLOSED)
		return false;
	if (c->state == KMIG_DP_SYN_SENT) {
		if (now_us - c->opened_us >= c->cfg.syn_timeout_us)
			kmig_dp_fail(c, -ETIMEDOUT, "no kmig destination answered within %.1f s",
				     (double)c->cfg.syn_timeout_us / 1e6);
		return c->state != KMIG_DP_CLOSED;
	}
	dp_tx_timer(c, now_us);
	if (now_us - c->last_rx_us >= c->cfg.timeout_us)
		kmig_dp_fail(c, -ETIMEDOUT, "no frame from the peer for %.1f s (it was killed, "
			     "stopped, or the link is cut)", (double)(now_us - c->last_rx_us) / 1e6);
	else if (dp_tx_inflight(c) && now_us - c->last_progress_us >= c->cfg.timeout_us)
		kmig_dp_fail(c, -ETIMEDOUT, "the peer stopped acknowledging: nothing acknowledged "
			     "for %.1f s", (double)(now_us - c->last_progress_us) / 1e6);
	return c->state != KMIG_DP_CLOSED;
}
