/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dp_proto.h: the reliable byte stream the dpdk: channel runs over raw
 * Ethernet frames (docs/dpdk.md, "Protocol").  Pure C with no DPDK in it,
 * so the unit tests drive two ends against each other in memory, with
 * loss, reordering, duplication and hostile frames.  xport_dpdk*.c turn
 * its frame descriptions into mbufs and feed it what the port received.
 *
 * One connection carries one kmig channel: a stream of bytes each way.
 * Frames are numbered (seq 1, 2, ...) and each says which stream offset
 * its payload starts at; every frame also acknowledges the other
 * direction: all frames below @ack arrived, plus a bitmap of the 128
 * frames after it (selective acks), plus how many frames beyond @ack the
 * receiver will take (its window).  Lost frames go again on a timeout or
 * when three frames above them were acknowledged; a frame sent again is
 * built again from its sources, so pages are re-read (and the checksum
 * recomputed) at that moment.
 *
 * Locking: none inside.  The caller serialises every call on one
 * connection (xport_dpdk.c holds the channel's lock).
 */
#ifndef KMIG_DP_PROTO_H
#define KMIG_DP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMIG_DP_ETHERTYPE  0x88b5	/* IEEE 802 local experimental ethertype 1 */
#define KMIG_DP_MAGIC      0x50444d4bu	/* "KMDP" */
#define KMIG_DP_VERSION    1u
#define KMIG_DP_ETH_LEN    14u		/* dst MAC, src MAC, ethertype */
#define KMIG_DP_SACK_BITS  128u
#define KMIG_DP_MIN_PAYLOAD 256u	/* smallest payload per frame either end accepts */
#define KMIG_DP_MAX_PAYLOAD 16384u	/* largest */
#define KMIG_DP_REASON_MAX 96u		/* bytes of text in a RST */

enum kmig_dp_type {
	KMIG_DP_SYN    = 1,	/* source -> destination: open (payload: struct kmig_dp_syn) */
	KMIG_DP_SYNACK = 2,	/* destination -> source: opened (payload: struct kmig_dp_syn) */
	KMIG_DP_DATA   = 3,	/* stream bytes; seq, off, len */
	KMIG_DP_ACK    = 4,	/* acknowledgement and window only (no seq) */
	KMIG_DP_RST    = 5,	/* the connection is over (payload: reason text) */
};

#define KMIG_DP_F_FIN    1u	/* DATA: the stream ends here (len 0) */
#define KMIG_DP_F_HDRSUM 2u	/* the checksum covers the header only (see kmig_dp_cfg.hdr_sum) */

#define KMIG_DP_SYN_F_HDRSUM 1u	/* SYN/SYNACK: the sender takes header-only checksums */

/**
 * struct kmig_dp_hdr - what follows the Ethernet header of every frame (80 bytes)
 * @magic:   KMIG_DP_MAGIC
 * @version: KMIG_DP_VERSION
 * @type:    enum kmig_dp_type
 * @flags:   KMIG_DP_F_*
 * @conn:    the receiving end's connection id (SYN: 0)
 * @len:     payload bytes after this header
 * @seq:     DATA: frame number, 1, 2, ...; else 0
 * @off:     DATA: stream offset of the payload's first byte; else 0
 * @ack:     every frame (of the other direction) below this one arrived
 * @sack:    bit i of word i/64: frame @ack + 1 + i arrived too
 * @wnd:     frames beyond @ack the sender of this frame will accept
 * @tsval:   the sender's clock (µs, wraps)
 * @tsecr:   the newest @tsval received from the other end (round trips)
 * @split:   payload bytes in the first checksum piece (<= @len)
 * @csum:    XXH3-64 of this header (with @csum 0), seeded with the XXH3-64
 *           hashes of payload[0, split) and payload[split, len) (see dp_wire.c)
 */
struct kmig_dp_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t conn;
	uint32_t len;
	uint64_t seq;
	uint64_t off;
	uint64_t ack;
	uint64_t sack[2];
	uint32_t wnd;
	uint32_t tsval;
	uint32_t tsecr;
	uint32_t split;
	uint64_t csum;
};
_Static_assert(sizeof(struct kmig_dp_hdr) == 80, "dpdk frame header layout");

/**
 * struct kmig_dp_syn - payload of SYN and SYNACK (16 bytes)
 * @conn:        the sender's own connection id: frames to it carry this
 * @max_payload: largest payload per frame the sender can receive
 * @window:      frames the sender can take beyond its acknowledgement
 * @flags:       KMIG_DP_SYN_F_*
 */
struct kmig_dp_syn {
	uint32_t conn;
	uint32_t max_payload;
	uint32_t window;
	uint32_t flags;
};

/* why a received frame was not taken (counted per reason) */
enum kmig_dp_drop {
	KMIG_DP_DROP_FOREIGN,	/* another ethertype, or not ours at all (IPv6 ND, MLD, ...) */
	KMIG_DP_DROP_MALFORMED,	/* too short, bad magic/version/type/flags/len/split */
	KMIG_DP_DROP_CSUM,	/* checksum mismatch */
	KMIG_DP_DROP_CONN,	/* for another connection, or a state that does not expect it */
	KMIG_DP_DROP_DUP,	/* a frame already received (retransmitted, duplicated, replayed) */
	KMIG_DP_DROP_WINDOW,	/* beyond the window we advertised */
	KMIG_DP_DROP_ACK,	/* acknowledges frames never sent */
	KMIG_DP_DROP_MAX
};

/**
 * struct kmig_dp_cfg - a connection's sizes and timers
 * @max_payload: largest payload this end sends and receives per frame
 * @rx_window:   frames this end buffers beyond what was read (power of 2)
 * @tx_slots:    frames in flight at most (power of 2, >= the peer's window)
 * @staging:     bytes of the staging ring for copied stream bytes (power of 2)
 * @pieces:      entries of the queue of not yet framed stream pieces (power of 2)
 * @timeout_us:  silence from the peer after which the connection fails
 * @syn_timeout_us: how long a connect waits for the SYNACK
 * @hdr_sum:     checksum the header only, not the payload, when the peer
 *               agrees (both ends ask for it): for links that cannot corrupt
 *               (memif's shared memory), where the engine's end-to-end page
 *               checksums still catch anything; also accepts such frames
 * @release:     frees a received frame's handle (from kmig_dp_on_frame)
 * @rel_ctx:     passed to @release
 */
struct kmig_dp_cfg {
	uint32_t max_payload;
	uint32_t rx_window;
	uint32_t tx_slots;
	uint32_t staging;
	uint32_t pieces;
	uint64_t timeout_us;
	uint64_t syn_timeout_us;
	bool hdr_sum;
	void (*release)(void *ctx, void *handle);
	void *rel_ctx;
};

/**
 * struct kmig_dp_stats - counters of one connection (read under the caller's lock)
 * @frames_out:   frames sent (all types, retransmissions included)
 * @data_out:     new DATA frames; @rtx: DATA frames sent again
 * @timeouts:     retransmission timeouts; @fast_rtx: frames sent again on selective acks
 * @probes:       tail probes (the newest frame sent again to learn what is missing)
 * @bytes_out:    new stream bytes framed
 * @zc_bytes:     of those, bytes sent by reference to registered memory
 * @copy_bytes:   of those, bytes kmig copied (staging)
 * @acks_out:     ACK-only frames
 * @frames_in:    frames taken for this connection; @bytes_in: stream bytes delivered
 * @ooo_in:       DATA frames that arrived ahead of a missing one
 * @read_bytes:   bytes the reader copied out (kmig's receive copy)
 * @drops:        received frames not taken, per enum kmig_dp_drop
 */
struct kmig_dp_stats {
	uint64_t frames_out, data_out, rtx, timeouts, fast_rtx, probes;
	uint64_t bytes_out, zc_bytes, copy_bytes, acks_out;
	uint64_t frames_in, bytes_in, ooo_in, read_bytes;
	uint64_t drops[KMIG_DP_DROP_MAX];
};

/* one frame to transmit, as the connection describes it */
struct kmig_dp_txdesc {
	struct kmig_dp_hdr hdr;		/* csum not yet filled: kmig_dp_seal does it */
	const uint8_t *seg[2];		/* payload: [0] staging or control bytes, [1] memory */
	uint32_t seg_len[2];
	bool hdr_sum;			/* seal the header only */
};

enum kmig_dp_state {
	KMIG_DP_SYN_SENT,	/* connecting: SYN until the SYNACK */
	KMIG_DP_OPEN,		/* established */
	KMIG_DP_CLOSED,		/* reset, timed out or failed: @err says why */
};

struct kmig_dp_piece;
struct kmig_dp_txf;
struct kmig_dp_rxf;

/* one connection; the fields are the protocol's, read by the glue only for stats and state */
struct kmig_dp_conn {
	struct kmig_dp_cfg cfg;
	enum kmig_dp_state state;
	uint32_t my_id, peer_id;
	uint32_t max_payload;		/* negotiated */
	bool tx_hdr_sum;		/* both ends agreed on header-only checksums */
	int err_no;			/* CLOSED: -errno */
	char err[192];
	/* sending */
	uint8_t *stg;
	uint64_t stg_head, stg_tail, stg_framed;
	struct kmig_dp_piece *pq;
	uint32_t pq_head, pq_n, pq_used;
	struct kmig_dp_txf *txf;
	uint64_t snd_una, snd_nxt, snd_off, peer_edge, rtx_cur, recover, probed;
	uint64_t sack[2];		/* the newest selective acks, relative to snd_una */
	uint32_t cwnd, cwnd_acc, ssthresh;
	bool fin_queued, fin_framed;
	bool syn_owed;			/* destination: answer a SYN (again) */
	bool rst_owed;
	bool rst_in;			/* the peer's RST came, before or after this end closed */
	char rst_reason[KMIG_DP_REASON_MAX];
	uint64_t syn_sent_us, syn_every_us, opened_us;
	int64_t srtt_us, rttvar_us, rto_us;
	uint64_t last_tx_us, last_rx_us, last_progress_us;
	uint32_t peer_tsval;
	/* receiving */
	struct kmig_dp_rxf *rxf;
	uint64_t rcv_nxt, rcv_off, rcv_high, rd_seq, rd_off, adv_edge;
	uint32_t rd_pos, ack_owed;
	bool ack_now, fin_in;
	bool rx_drained;		/* set by the glue: the port had nothing more (ack now) */
	uint8_t syn_scratch[sizeof(struct kmig_dp_syn) + KMIG_DP_REASON_MAX];
	struct kmig_dp_stats st;
};

/* ---- frames (dp_wire.c) ---- */

/*
 * Checks a received frame (Ethernet header first, @len bytes in all) and
 * copies its header to @h; returns the payload pointer, or NULL with
 * *@why set to the drop reason.  Checks the ethertype, the header's
 * constant fields, that the payload length fits, and the checksum; a
 * header-only checksum only when @hdr_sum (this end asked for them).
 */
const uint8_t *kmig_dp_check(const uint8_t *frame, uint32_t len, struct kmig_dp_hdr *h,
			     enum kmig_dp_drop *why, bool hdr_sum);
/* fills @d->hdr.split and csum over the header and payload segments (@d->hdr_sum: header) */
void kmig_dp_seal(struct kmig_dp_txdesc *d);
/* the text of a drop reason, for logs */
const char *kmig_dp_drop_name(enum kmig_dp_drop why);

/* ---- connections (dp_conn.c, dp_tx.c, dp_rx.c) ---- */

/* allocates the rings for @cfg; 0 or -ENOMEM / -EINVAL */
int kmig_dp_init(struct kmig_dp_conn *c, const struct kmig_dp_cfg *cfg, uint32_t my_id);
/* releases every frame still held (through cfg.release) and the rings */
void kmig_dp_fini(struct kmig_dp_conn *c);
/* source: start connecting (the next frames are SYNs) */
void kmig_dp_connect(struct kmig_dp_conn *c, uint64_t now_us);
/* destination: accept the SYN @syn whose header is @h; the next frame is the SYNACK */
int kmig_dp_accept(struct kmig_dp_conn *c, const struct kmig_dp_hdr *h, const uint8_t *payload,
		   uint64_t now_us);
/* parses a SYN/SYNACK payload; 0 or -EPROTO */
int kmig_dp_parse_syn(const struct kmig_dp_hdr *h, const uint8_t *payload,
		      struct kmig_dp_syn *out);

/*
 * Takes a received frame that passed kmig_dp_check.  Returns 1 when the
 * connection keeps @handle (it releases it through cfg.release later),
 * 0 when the caller frees it now (counted in stats.drops or consumed),
 * or 2 when it was the SYNACK that opened the connection (handle not kept).
 */
int kmig_dp_on_frame(struct kmig_dp_conn *c, const struct kmig_dp_hdr *h,
		     const uint8_t *payload, void *handle, uint64_t now_us);
/*
 * The next frame to send, if any: a RST, SYN or SYNACK, a frame sent
 * again, new stream bytes within the windows, or an acknowledgement
 * that is due.  The frame counts as sent when returned.
 */
bool kmig_dp_next_tx(struct kmig_dp_conn *c, uint64_t now_us, struct kmig_dp_txdesc *d);
/* timers: retransmission timeout, silence of the peer, handshake; false once CLOSED */
bool kmig_dp_tick(struct kmig_dp_conn *c, uint64_t now_us);

/* stream bytes that can be queued now without blocking: staging bytes, pieces */
uint32_t kmig_dp_stg_room(const struct kmig_dp_conn *c);
uint32_t kmig_dp_piece_room(const struct kmig_dp_conn *c);
/* queues @len bytes copied into staging (at most the room); returns bytes taken */
uint32_t kmig_dp_put_copy(struct kmig_dp_conn *c, const void *p, uint32_t len);
/*
 * Queues @len bytes by reference: the memory stays readable until the
 * connection is gone (frames sent again re-read it).  0, or -ENOSPC when
 * no piece is free.
 */
int kmig_dp_put_ref(struct kmig_dp_conn *c, const void *p, uint32_t len);
/* the stream ends after what was queued (the peer's reader sees the end) */
void kmig_dp_end(struct kmig_dp_conn *c);
/* every queued byte (and the end, if queued) acknowledged by the peer */
bool kmig_dp_tx_done(const struct kmig_dp_conn *c);

/* bytes readable now */
uint64_t kmig_dp_readable(const struct kmig_dp_conn *c);
/* copies up to @n readable bytes to @buf, releasing consumed frames; bytes copied */
size_t kmig_dp_read(struct kmig_dp_conn *c, void *buf, size_t n);
/* the peer ended its stream and every byte before the end was read */
bool kmig_dp_eof(const struct kmig_dp_conn *c);

/* ends the connection: a RST with @reason goes next (if the peer is known), state CLOSED */
void kmig_dp_reset(struct kmig_dp_conn *c, int err_no, const char *reason);
/* marks the connection failed with @err_no and a reason (no frame sent) */
void kmig_dp_fail(struct kmig_dp_conn *c, int err_no, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
