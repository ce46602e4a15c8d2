/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dst.h: what the destination's files share: one incoming migration's
 * state.  dst.c runs it (accept, header, data channels, verify, hand-over);
 * dst_recv.c checks and places every record a channel brings.  The record
 * code does not need a running engine, so tests and the stream fuzzer
 * drive it on a channel of their own.
 */
#ifndef KMIG_DST_H
#define KMIG_DST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mig_internal.h"

struct kmig_dst_pool;
#include "workload.h"

/**
 * struct kmig_dstblk - one block's destination state
 * @b:      the workload's block the stream's block maps to
 * @npages: its pages
 * @hash:   content hash of what page i last received
 * @seen:   bit i: page i has arrived at least once (set atomically: data
 *          channels write the same words)
 */
struct kmig_dstblk {
	struct kmig_block *b;
	uint64_t npages;
	uint64_t *hash;
	uint64_t *seen;
};

/**
 * struct kmig_dst_rx - one channel's receiving side
 * @d:       the migration
 * @c:       the channel
 * @syncs:   SYNC records seen (data channels)
 * @done:    a data channel saw its last SYNC
 * @scratch: payload buffer for encoded page records
 * @cpriv:   per-encoding decoder state
 */
struct kmig_dst_rx {
	struct kmig_dst *d;
	struct kmig_chan *c;
	pthread_t thr;
	bool thr_live;
	uint64_t syncs;
	bool done;
	uint8_t *scratch;
	void *cpriv[KMIG_ENC_MAX];
	bool cinit[KMIG_ENC_MAX];
};

/**
 * struct kmig_dst - one incoming migration
 * @m:        the engine (NULL when tests drive the record code)
 * @wl:       the destination workload, borrowed
 * @hdr:      the stream header as received
 * @blk:      per stream block, in block-table order
 * @chans, @rx: [0] main channel, [1..nchans) data channels
 * @state:    the device state, once it arrived
 * @sync_*:   the data channels' meeting point at every SYNC
 * @decode_threads: decompress-threads for compressed records on the main
 *            channel (0: the reader decodes them itself)
 * @pool:     those threads, while the main channel is received
 * @failed:   a channel failed: the others stop at their next step
 * @err:      why it failed (the first reason found)
 */
struct kmig_dst {
	struct kmig_mig *m;
	struct kmig_workload *wl;
	struct kmig_wire_hdr hdr;
	unsigned int nblk;
	struct kmig_dstblk blk[KMIG_WIRE_MAX_BLOCKS];
	struct kmig_chan chans[KMIG_MIG_MAX_CHANS];
	struct kmig_dst_rx rx[KMIG_MIG_MAX_CHANS];
	unsigned int nchans;
	void *state;
	uint32_t state_len;
	uint64_t zero_hash;
	unsigned int passes;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int sync_arrived;
	uint64_t sync_gen;
	unsigned int decode_threads;
	struct kmig_dst_pool *pool;
	_Atomic bool failed;
	char err[512];
};

/* dst_recv.c */
void kmig_dst_init(struct kmig_dst *d, struct kmig_mig *m);
void kmig_dst_fini(struct kmig_dst *d);
/* the first failure's reason wins; returns @ret */
int kmig_dst_fail(struct kmig_dst *d, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* reads the header and block table from the main channel (no workload needed yet) */
int kmig_dst_read_header(struct kmig_dst *d, struct kmig_wire_block *tab);
/* matches the block table against d->wl's blocks */
int kmig_dst_match_blocks(struct kmig_dst *d, const struct kmig_wire_block *tab);
/*
 * Receives the main channel's records up to and including END, placing
 * pages if there are no data channels; then checks that every page
 * arrived and every checksum matches.  0 or -errno with d->err set.
 */
int kmig_dst_receive(struct kmig_dst *d);
/*
 * Decodes record @r (checked; compressed) from @in into its pages, with
 * decoder state @cpriv/@cinit (one per thread), and marks them arrived.
 */
int kmig_dst_place_encoded(struct kmig_dst *d, void **cpriv, bool *cinit,
			   const struct kmig_wire_rec *r, const uint8_t *in);
void kmig_dst_codecs_fini(void **cpriv, bool *cinit);
/* a data channel's receiving thread (arg: struct kmig_dst_rx) */
void *kmig_dst_rx_thread(void *arg);
/* stops everything once one channel failed */
void kmig_dst_abort(struct kmig_dst *d);

#endif
