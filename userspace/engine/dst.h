/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dst.h: what the destination's files share: one incoming migration's
 * state.  dst.c runs it (accept, header, data channels, verify, hand-over);
 * dst_recv.c checks and places every record a channel brings;
 * dst_postcopy.c and dst_fault.c are postcopy's switch, atomic placement,
 * resume, and the userfaultfd side.  The record code does not need a
 * running engine, so tests and the stream fuzzer drive it on a channel of
 * their own.
 */
#ifndef KMIG_DST_H
#define KMIG_DST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mig_internal.h"

struct kmig_dst_pool;
struct kmig_dst_pc;
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
 * @tab:      the block table as received (a resumed postcopy must match it)
 * @phase:    postcopy: none, between POSTCOPY and RUN, or running
 * @pc:       postcopy's state (dst_postcopy.c), from the version-3 header on
 * @io_broken: a channel read failed (the link, not the stream's content)
 * @rp_lock:  one writer at a time on the return path (postcopy's fault
 *            thread writes requests too)
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
	struct kmig_wire_block tab[KMIG_WIRE_MAX_BLOCKS];
	enum { KMIG_DST_PC_NONE, KMIG_DST_PC_SWITCH, KMIG_DST_PC_RUNNING } phase;
	struct kmig_dst_pc *pc;
	_Atomic bool io_broken;
	pthread_mutex_t rp_lock;
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
/*
 * Waits for every data channel's thread; each must have delivered all up
 * to SYNC @sync (@when: "the stream at", "the switch to postcopy came at",
 * for the error text).  0 or -EPROTO with d->err set.
 */
int kmig_dst_join_data_chans(struct kmig_dst *d, uint64_t sync, const char *when);
/* a data channel's receiving thread (arg: struct kmig_dst_rx) */
void *kmig_dst_rx_thread(void *arg);
/* stops everything once one channel failed */
void kmig_dst_abort(struct kmig_dst *d);
/* whether page @i of @db has arrived */
bool kmig_dst_seen(const struct kmig_dstblk *db, uint64_t i);
/* marks pages [first, first + n) of @db arrived */
void kmig_dst_mark(struct kmig_dstblk *db, uint64_t first, uint64_t n);
/* checks a page record's fields against the stream and its channel */
int kmig_dst_check_page_rec(struct kmig_dst_rx *rx, const struct kmig_wire_rec *r);
/* reads @n bytes of @rx's channel; a failure is the stream's end (d->io_broken) */
int kmig_dst_read(struct kmig_dst_rx *rx, void *buf, size_t n, const char *what);
/*
 * A return-path record (any thread).  0 (also on a channel without a
 * return path: nothing to send), -ENOTCONN while postcopy is paused, -errno.
 */
int kmig_dst_reply(struct kmig_dst *d, struct kmig_wire_rec *r, const void *payload);

/* dst_postcopy.c */
/* a version-3 header: the workload's blocks registered for missing pages; 0 or -errno */
int kmig_dst_pc_prepare(struct kmig_dst *d);
/* POSTCOPY: the data channels are done; the switch's records follow */
int kmig_dst_pc_begin(struct kmig_dst *d, const struct kmig_wire_rec *r);
/* DISCARD: those pages are stale, they will come again */
int kmig_dst_pc_discard(struct kmig_dst *d, const struct kmig_wire_rec *r);
/* RUN: stale and missing pages are holes now; the workload starts */
int kmig_dst_pc_run(struct kmig_dst *d);
/* a page record after RUN: read whole, then placed atomically */
int kmig_dst_pc_pages(struct kmig_dst_rx *rx, const struct kmig_wire_rec *r);
/* 0, or the workload's failure to start (d->err) once that is known */
int kmig_dst_pc_start_result(struct kmig_dst *d, bool wait);
/*
 * The main channel broke in postcopy: postcopy-paused until migrate-recover
 * and the source's new channel (then postcopy-active again: 0), or -errno
 * (shutdown).
 */
int kmig_dst_pc_pause(struct kmig_dst *d);
/*
 * The end of a version-3 stream: @ok: every page is in (postcopy's or
 * precopy's): the blocks are unregistered and, after a postcopy start, the
 * workload told; not @ok: they stay registered (a missing page waits).
 */
void kmig_dst_pc_finish(struct kmig_dst *d, bool ok);
void kmig_dst_pc_free(struct kmig_dst *d);

/* dst_fault.c */
/* registers every block's userfaultfd for missing pages; 0 or -errno (d->err) */
int kmig_dst_fault_register(struct kmig_dst *d);
/* unregisters them (every page is in) */
void kmig_dst_fault_unregister(struct kmig_dst *d);
/* the fault thread: reads the workload's faults and asks for their pages */
int kmig_dst_fault_start(struct kmig_dst *d);
void kmig_dst_fault_stop(struct kmig_dst *d);
/* pages [first, first + n) of block @bi are placed: their faults are served */
void kmig_dst_fault_placed(struct kmig_dst *d, unsigned int bi, uint64_t first, uint64_t n);
/* the return path is (@up) or is not usable; up: asks again for every page faulted on */
void kmig_dst_fault_link(struct kmig_dst *d, bool up);

#endif
