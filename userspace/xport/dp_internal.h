/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dp_internal.h: what the three halves of the dpdk: channel's protocol
 * share (dp_conn.c: life cycle and dispatch, dp_tx.c: sending, dp_rx.c:
 * receiving).  Not for the glue: it sees dp_proto.h only.
 */
#ifndef KMIG_DP_INTERNAL_H
#define KMIG_DP_INTERNAL_H

#include "dp_proto.h"

#define DP_PAGE          4096u
#define DP_DUPTHRESH     3u		/* frames acknowledged above a hole before it goes again */
#define DP_RTO_INIT_US   50000
#define DP_RTO_MIN_US    20000		/* this VM's scheduler delays a peer by several ms */
#define DP_RTO_MAX_US    1000000
#define DP_SYN_EVERY_US  50000
#define DP_KEEPALIVE_US  100000		/* an idle end still tells the peer it lives */
#define DP_ACK_EVERY     32u		/* frames received before an acknowledgement is due */
#define DP_CWND_MIN      16u
#define DP_CWND_INIT     64u

/** struct kmig_dp_piece - queued stream bytes not yet cut into frames */
struct kmig_dp_piece {
	const uint8_t *ref;	/* bytes by reference, or NULL: @stg in the staging ring */
	uint64_t stg;
	uint32_t len;
};

/** struct kmig_dp_txf - one DATA frame in flight, enough to build it again */
struct kmig_dp_txf {
	uint64_t off;		/* stream offset of its first byte */
	uint64_t stg;		/* staging position of its staging bytes */
	uint64_t stg_end;	/* staging bytes framed up to and including it */
	const uint8_t *ref;	/* its bytes by reference (after the staging bytes) */
	uint64_t sent_us;	/* last transmission */
	uint32_t stg_len, ref_len;
	uint16_t tries;
	uint8_t sacked, lost, fin;
};

/** struct kmig_dp_rxf - one received DATA frame waiting to be read */
struct kmig_dp_rxf {
	void *h;		/* the glue's handle (an mbuf) */
	const uint8_t *p;	/* its payload */
	uint64_t off;
	uint32_t len;
	uint8_t present, fin;
};

static inline uint32_t dp_now32(uint64_t now_us)
{
	return (uint32_t)now_us | 1u;	/* 0 means "no timestamp" in tsecr */
}

/* dp_tx.c */
int dp_tx_init(struct kmig_dp_conn *c);
void dp_tx_fini(struct kmig_dp_conn *c);
/* applies the acknowledgement fields of a frame from the peer; false: bogus (dropped) */
bool dp_tx_on_ack(struct kmig_dp_conn *c, const struct kmig_dp_hdr *h, uint64_t now_us);
/* the retransmission timer; called from kmig_dp_tick */
void dp_tx_timer(struct kmig_dp_conn *c, uint64_t now_us);
/* fills a DATA frame (new or again) if one may go; false if none */
bool dp_tx_data(struct kmig_dp_conn *c, uint64_t now_us, struct kmig_dp_txdesc *d);
/* frames in flight (sent, not yet acknowledged) */
uint64_t dp_tx_inflight(const struct kmig_dp_conn *c);

/* dp_rx.c */
int dp_rx_init(struct kmig_dp_conn *c);
void dp_rx_fini(struct kmig_dp_conn *c);
/* a DATA frame for this connection; 1 kept, 0 not (counted) */
int dp_rx_data(struct kmig_dp_conn *c, const struct kmig_dp_hdr *h, const uint8_t *payload,
	       void *handle, uint64_t now_us);
/* fills the acknowledgement fields of an outgoing frame and clears what was owed */
void dp_rx_fill_ack(struct kmig_dp_conn *c, struct kmig_dp_hdr *h);
/* whether an acknowledgement is owed now */
bool dp_rx_ack_due(const struct kmig_dp_conn *c);

#endif
