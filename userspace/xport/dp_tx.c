// SPDX-License-Identifier: GPL-2.0-only
/*
 * dp_tx.c: the sending half of the dpdk: channel's protocol (dp_proto.h).
 * Stream bytes are queued as pieces: copies in a staging ring (record
 * headers, control payloads, anything outside registered memory) or
 * references into registered memory (pages).  Pieces are cut into frames
 * only when a frame may go, at most one page of referenced bytes per
 * frame, so a frame is a header, some staging bytes and (part of) one
 * page.  A frame in flight remembers where its bytes come from; sending it
 * again rebuilds it from there, re-reading the page.
 *
 * Loss recovery: selective acks mark a frame lost once DP_DUPTHRESH
 * frames above it arrived; the retransmission timer (RFC 6298's estimator,
 * timestamps echoed by the peer) marks every unacknowledged frame older
 * than the timeout.  The congestion window halves on loss and grows by
 * one frame per window; the peer's window caps it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_internal.h"

#define SLOT(c, s) (&(c)->txf[(s) & ((c)->cfg.tx_slots - 1)])
#define PIECE(c, i) (&(c)->pq[((c)->pq_head + (i)) & ((c)->cfg.pieces - 1)])

int dp_tx_init(struct kmig_dp_conn *c)
{
	c->stg = malloc(c->cfg.staging);
	c->pq = calloc(c->cfg.pieces, sizeof(*c->pq));
	c->txf = calloc(c->cfg.tx_slots, sizeof(*c->txf));
	if (!c->stg || !c->pq || !c->txf)
		return -ENOMEM;
	c->snd_una = c->snd_nxt = c->rtx_cur = 1;
	c->peer_edge = 1;
	c->cwnd = DP_CWND_INIT;
	c->ssthresh = c->cfg.tx_slots;
	c->rto_us = DP_RTO_INIT_US;
	return 0;
}

void dp_tx_fini(struct kmig_dp_conn *c)
{
	free(c->stg);
	free(c->pq);
	free(c->txf);
	c->stg = NULL;
	c->pq = NULL;
	c->txf = NULL;
}

uint32_t kmig_dp_stg_room(const struct kmig_dp_conn *c)
{
	return c->cfg.staging - (uint32_t)(c->stg_head - c->stg_tail);
}

uint32_t kmig_dp_piece_room(const struct kmig_dp_conn *c)
{
	return c->cfg.pieces - c->pq_n;
}

uint64_t dp_tx_inflight(const struct kmig_dp_conn *c)
{
	return c->snd_nxt - c->snd_una;
}

/* the last queued piece, if it is a staging piece that new bytes can extend */
static struct kmig_dp_piece *open_stg_piece(struct kmig_dp_conn *c)
{
	struct kmig_dp_piece *p;

	if (!c->pq_n)
		return NULL;
	p = PIECE(c, c->pq_n - 1);
	return !p->ref && p->stg + p->len == c->stg_head && p->len < (1u << 30) ? p : NULL;
}

uint32_t kmig_dp_put_copy(struct kmig_dp_conn *c, const void *src, uint32_t len)
{
	struct kmig_dp_piece *p = open_stg_piece(c);
	uint32_t take = len < kmig_dp_stg_room(c) ? len : kmig_dp_stg_room(c);
	uint32_t mask = c->cfg.staging - 1, at, first;

	if (!take || c->fin_queued || (!p && c->pq_n == c->cfg.pieces))
		return 0;
	if (!p) {
		p = PIECE(c, c->pq_n++);
		*p = (struct kmig_dp_piece){ .stg = c->stg_head };
	}
	at = (uint32_t)(c->stg_head & mask);
	first = c->cfg.staging - at < take ? c->cfg.staging - at : take;
	memcpy(c->stg + at, src, first);
	memcpy(c->stg, (const uint8_t *)src + first, take - first);
	c->stg_head += take;
	p->len += take;
	c->st.copy_bytes += take;
	return take;
}

int kmig_dp_put_ref(struct kmig_dp_conn *c, const void *src, uint32_t len)
{
	if (c->pq_n == c->cfg.pieces || c->fin_queued)
		return -ENOSPC;
	if (len)
		*PIECE(c, c->pq_n++) = (struct kmig_dp_piece){ .ref = src, .len = len };
	c->st.zc_bytes += len;
	return 0;
}

void kmig_dp_end(struct kmig_dp_conn *c)
{
	c->fin_queued = true;
}

bool kmig_dp_tx_done(const struct kmig_dp_conn *c)
{
	return !c->pq_n && c->snd_una == c->snd_nxt && (!c->fin_queued || c->fin_framed);
}

/* drops @n bytes from the front piece */
static void consume(struct kmig_dp_conn *c, uint32_t n)
{
	c->pq_used += n;
	if (c->pq_used == PIECE(c, 0)->len) {
		c->pq_head = (c->pq_head + 1) & (c->cfg.pieces - 1);
		c->pq_n--;
		c->pq_used = 0;
	}
}

/* cuts the next frame from the queued pieces into @f; false if nothing is queued */
static bool cut(struct kmig_dp_conn *c, struct kmig_dp_txf *f)
{
	uint32_t room = c->max_payload, mask = c->cfg.staging - 1;

	memset(f, 0, sizeof(*f));
	f->off = c->snd_off;
	/* staging bytes first: consecutive staging pieces are contiguous in the ring */
	while (c->pq_n && room && !PIECE(c, 0)->ref) {
		struct kmig_dp_piece *p = PIECE(c, 0);
		uint64_t pos = p->stg + c->pq_used;
		uint32_t n = p->len - c->pq_used, to_wrap = c->cfg.staging - (uint32_t)(pos & mask);

		if (f->stg_len && pos != f->stg + f->stg_len)
			break;
		if (!f->stg_len)
			f->stg = pos;
		n = n < room ? n : room;
		n = n < to_wrap ? n : to_wrap;
		f->stg_len += n;
		room -= n;
		c->stg_framed = pos + n;
		consume(c, n);
		if (n == to_wrap)
			break;	/* the next bytes start at the ring's beginning: a new frame */
	}
	/* then at most one page of referenced bytes */
	if (c->pq_n && room && PIECE(c, 0)->ref) {
		struct kmig_dp_piece *p = PIECE(c, 0);
		const uint8_t *at = p->ref + c->pq_used;
		uint32_t n = p->len - c->pq_used, to_page = DP_PAGE - (uint32_t)((uintptr_t)at & (DP_PAGE - 1));

		n = n < room ? n : room;
		n = n < to_page ? n : to_page;
		f->ref = at;
		f->ref_len = n;
		consume(c, n);
	}
	f->stg_end = c->stg_framed;
	if (!f->stg_len && !f->ref_len) {
		if (!c->fin_queued || c->fin_framed || c->pq_n)
			return false;
		f->fin = 1;	/* the end of the stream: an empty frame of its own */
		c->fin_framed = true;
	}
	return true;
}

static void describe(struct kmig_dp_conn *c, uint64_t seq, const struct kmig_dp_txf *f,
		     struct kmig_dp_txdesc *d)
{
	d->hdr.type = KMIG_DP_DATA;
	d->hdr.seq = seq;
	d->hdr.off = f->off;
	d->hdr.len = f->stg_len + f->ref_len;
	d->hdr.flags = f->fin ? KMIG_DP_F_FIN : 0;
	d->seg[0] = f->stg_len ? c->stg + (f->stg & (c->cfg.staging - 1)) : NULL;
	d->seg_len[0] = f->stg_len;
	d->seg[1] = f->ref;
	d->seg_len[1] = f->ref_len;
}

bool dp_tx_data(struct kmig_dp_conn *c, uint64_t now_us, struct kmig_dp_txdesc *d)
{
	struct kmig_dp_txf *f;
	uint64_t limit;

	/* frames marked lost go first, oldest first */
	if (c->rtx_cur < c->snd_una)
		c->rtx_cur = c->snd_una;
	while (c->rtx_cur < c->snd_nxt) {
		f = SLOT(c, c->rtx_cur);
		if (f->lost && !f->sacked) {
			f->lost = 0;
			f->tries++;
			f->sent_us = now_us;
			describe(c, c->rtx_cur++, f, d);
			c->st.rtx++;
			return true;
		}
		c->rtx_cur++;
	}
	limit = c->snd_una + (c->cwnd < c->cfg.tx_slots ? c->cwnd : c->cfg.tx_slots);
	if (c->peer_edge < limit)
		limit = c->peer_edge;
	if (c->snd_nxt >= limit)
		return false;
	f = SLOT(c, c->snd_nxt);
	if (!cut(c, f))
		return false;
	if (c->snd_una == c->snd_nxt)
		c->last_progress_us = now_us;	/* the wait for an acknowledgement starts */
	f->sent_us = now_us;
	f->tries = 1;
	describe(c, c->snd_nxt, f, d);
	c->snd_nxt++;
	c->rtx_cur = c->snd_nxt;
	c->snd_off += d->hdr.len;
	c->st.data_out++;
	c->st.bytes_out += d->hdr.len;
	return true;
}

static void rtt_sample(struct kmig_dp_conn *c, uint32_t tsecr, uint64_t now_us)
{
	int32_t rtt = (int32_t)(dp_now32(now_us) - tsecr);

	if (!tsecr || rtt < 0 || rtt > 10000000)
		return;
	if (!c->srtt_us) {
		c->srtt_us = rtt;
		c->rttvar_us = rtt / 2;
	} else {
		int64_t dev = c->srtt_us - rtt;

		c->rttvar_us += ((dev < 0 ? -dev : dev) - c->rttvar_us) / 4;
		c->srtt_us += (rtt - c->srtt_us) / 8;
	}
	c->rto_us = c->srtt_us + 4 * c->rttvar_us;
	if (c->rto_us < DP_RTO_MIN_US)
		c->rto_us = DP_RTO_MIN_US;
	if (c->rto_us > DP_RTO_MAX_US)
		c->rto_us = DP_RTO_MAX_US;
}

/* a loss: halve the window once per window of frames */
static void on_loss(struct kmig_dp_conn *c)
{
	if (c->snd_una <= c->recover)
		return;
	c->cwnd = c->cwnd / 2 > DP_CWND_MIN ? c->cwnd / 2 : DP_CWND_MIN;
	c->ssthresh = c->cwnd;
	c->recover = c->snd_nxt;
}

static void grow(struct kmig_dp_conn *c, uint64_t acked)
{
	if (c->cwnd < c->ssthresh) {
		c->cwnd += (uint32_t)acked;		/* slow start */
	} else {
		c->cwnd_acc += (uint32_t)acked;		/* one frame per window */
		while (c->cwnd_acc >= c->cwnd) {
			c->cwnd_acc -= c->cwnd;
			c->cwnd++;
		}
	}
	if (c->cwnd > c->cfg.tx_slots)
		c->cwnd = c->cfg.tx_slots;
}

/* selective acks: mark frames lost that DP_DUPTHRESH acknowledged frames passed */
static void on_sack(struct kmig_dp_conn *c, const uint64_t sack[2], uint64_t now_us)
{
	/* kept: the timer looks again once a frame is old enough to count as lost */
	c->sack[0] = sack[0];
	c->sack[1] = sack[1];
	int64_t guard = c->srtt_us + 2 * c->rttvar_us;
	unsigned int above = 0;

	if (!sack[0] && !sack[1])
		return;
	if (guard < 200)
		guard = 200;
	for (int i = KMIG_DP_SACK_BITS - 1; i >= -1; i--) {
		uint64_t s = c->snd_una + 1 + (uint64_t)(int64_t)i;
		struct kmig_dp_txf *f;

		if (s >= c->snd_nxt)
			continue;
		f = SLOT(c, s);
		if (i >= 0 && (sack[i / 64] >> (i % 64) & 1)) {
			f->sacked = 1;
			above++;
			continue;
		}
		if (above >= DP_DUPTHRESH && !f->sacked && !f->lost &&
		    (int64_t)(now_us - f->sent_us) >= guard) {
			f->lost = 1;
			c->st.fast_rtx++;
			if (s < c->rtx_cur)
				c->rtx_cur = s;
			on_loss(c);
		}
	}
}

bool dp_tx_on_ack(struct kmig_dp_conn *c, const struct kmig_dp_hdr *h, uint64_t now_us)
{
	uint64_t a = h->ack;

	if (!a || a > c->snd_nxt)
		return false;	/* acknowledges frames never sent */
	if (a < c->snd_una)
		return true;	/* an older acknowledgement overtaken by a newer one */
	if (a > c->snd_una) {
		uint64_t acked = a - c->snd_una;

		rtt_sample(c, h->tsecr, now_us);
		for (uint64_t s = c->snd_una; s < a; s++) {
			struct kmig_dp_txf *f = SLOT(c, s);

			c->stg_tail = f->stg_end > c->stg_tail ? f->stg_end : c->stg_tail;
			memset(f, 0, sizeof(*f));
		}
		c->snd_una = a;
		c->last_progress_us = now_us;
		c->sack[0] = c->sack[1] = 0;
		grow(c, acked);
	}
	c->peer_edge = a + h->wnd;
	on_sack(c, h->sack, now_us);
	return true;
}

/*
 * A tail probe: the newest frames of a burst have no later frames whose
 * acknowledgement would report them missing, so when nothing new goes and
 * they stay unacknowledged for two round trips, the newest goes again; its
 * acknowledgement then tells what else is missing (RFC 8985's probe).
 */
static void tail_probe(struct kmig_dp_conn *c, uint64_t now_us)
{
	int64_t pto = 2 * c->srtt_us > 1000 ? 2 * c->srtt_us : 1000;
	struct kmig_dp_txf *f;

	if (c->snd_una == c->snd_nxt || c->probed == c->snd_nxt || (c->pq_n &&
	    c->snd_nxt < c->peer_edge && c->snd_nxt < c->snd_una + c->cwnd))
		return;	/* nothing in flight, probed already, or new frames may still go */
	f = SLOT(c, c->snd_nxt - 1);
	if (f->sacked || f->lost || (int64_t)(now_us - f->sent_us) < pto)
		return;
	f->lost = 1;
	c->probed = c->snd_nxt;
	if (c->snd_nxt - 1 < c->rtx_cur)
		c->rtx_cur = c->snd_nxt - 1;
	c->st.probes++;
}

void dp_tx_timer(struct kmig_dp_conn *c, uint64_t now_us)
{
	uint64_t s = c->snd_una;

	/* frames reported missing that were too young then may count as lost now */
	if (c->snd_una < c->snd_nxt)
		on_sack(c, c->sack, now_us);
	tail_probe(c, now_us);

	while (s < c->snd_nxt && SLOT(c, s)->sacked)
		s++;
	if (s == c->snd_nxt || SLOT(c, s)->lost ||
	    (int64_t)(now_us - SLOT(c, s)->sent_us) < c->rto_us)
		return;
	/* timed out: everything unacknowledged that old goes again */
	c->st.timeouts++;
	for (; s < c->snd_nxt; s++) {
		struct kmig_dp_txf *f = SLOT(c, s);

		if (!f->sacked && (int64_t)(now_us - f->sent_us) >= c->rto_us)
			f->lost = 1;
	}
	c->rtx_cur = c->snd_una;
	on_loss(c);
	c->cwnd = DP_CWND_MIN;
	c->rto_us = c->rto_us * 2 < DP_RTO_MAX_US ? c->rto_us * 2 : DP_RTO_MAX_US;
}
