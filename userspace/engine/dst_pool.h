/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dst_pool.h: the destination's decompression threads (decompress-threads)
 * for compressed records on the main channel: the channel's reader hands
 * each one over with its payload and reads on, the threads inflate the
 * pages into place.  A page appears at most once between two PASS
 * records, so the reader drains the pool at every record that is not a
 * page record: a later copy of a page can never be overtaken by an older
 * one still being decoded.  (Data channels decode on their own threads.)
 */
#ifndef KMIG_DST_POOL_H
#define KMIG_DST_POOL_H

#include <stdint.h>

#include "wire.h"

struct kmig_dst;
struct kmig_dst_pool;

#define KMIG_DST_POOL_MAX 64

/* starts @n (1..KMIG_DST_POOL_MAX) threads; NULL with d failed */
struct kmig_dst_pool *kmig_dst_pool_new(struct kmig_dst *d, unsigned int n);
/* a payload buffer of KMIG_WIRE_MAX_ENCODED bytes; waits for one; NULL once failed */
uint8_t *kmig_dst_pool_buf(struct kmig_dst_pool *p);
/* gives back a buffer that will not be submitted (its payload could not be read) */
void kmig_dst_pool_return(struct kmig_dst_pool *p, uint8_t *buf);
/* queues record @r with its payload in @buf (from kmig_dst_pool_buf) */
void kmig_dst_pool_submit(struct kmig_dst_pool *p, const struct kmig_wire_rec *r, uint8_t *buf);
/* waits until every queued record is placed; 0, or -EPROTO once one failed */
int kmig_dst_pool_drain(struct kmig_dst_pool *p);
/* drains, stops the threads and frees; accepts NULL */
void kmig_dst_pool_free(struct kmig_dst_pool *p);

#endif
