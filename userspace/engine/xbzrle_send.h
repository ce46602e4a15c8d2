/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xbzrle_send.h: the source's XBZRLE stage (capability xbzrle), QEMU's
 * flow over kmig's cache and encoder (xbzrle_cache.h, xbzrle.h): from the
 * second pass on, a page found in the cache goes as a delta against the
 * copy sent last time, an unchanged one not at all; a page not in the
 * cache is stored there and sent whole, from the stored copy.  It runs on
 * the main channel's sender only (one thread; not with multifd or
 * compress), before the channel's codec.
 *
 * The invariant it keeps: a cached page holds exactly what the destination
 * has for that page.  So every page it sends whole goes from a stable copy
 * (the workload may be writing the live page), and a zero page sent by the
 * sender overwrites its cache entry with zeroes.
 */
#ifndef KMIG_XBZRLE_SEND_H
#define KMIG_XBZRLE_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kmig_batch;
struct kmig_xbzrle_send;

/** struct kmig_xbzrle_counts - QEMU's XBZRLECacheStats counters */
struct kmig_xbzrle_counts {
	uint64_t pages;		/* pages sent as deltas */
	uint64_t bytes;		/* their bytes (record header + delta; 4096 per overflow) */
	uint64_t cache_miss;	/* pages not found in the cache */
	uint64_t overflow;	/* pages whose delta would not have been smaller */
	uint64_t tried;		/* pages looked up */
};

int kmig_xbzrle_send_new(struct kmig_xbzrle_send **out, uint64_t cache_size, char *err,
			 size_t n);
void kmig_xbzrle_send_free(struct kmig_xbzrle_send *x);
/*
 * At the start of pass @gen (1, 2, ...; @last: the final copy, workload
 * stopped): resizes the cache first when @cache_size changed (QEMU: that
 * drops every entry).  0, or -errno with @err.
 */
int kmig_xbzrle_send_pass(struct kmig_xbzrle_send *x, uint64_t gen, bool last,
			  uint64_t cache_size, char *err, size_t n);
/*
 * Non-zero page @page of block @blk (cache key @key, live contents @live):
 * appends to @b what goes for it -- an XBZRLE record, a raw record of a
 * stable copy, or nothing for a page unchanged since it was sent -- and
 * returns 1.  Returns 0 when XBZRLE does not take this page (pass 1): the
 * caller sends it its usual way.  -ENOMEM when memory ran out.
 */
int kmig_xbzrle_send_page(struct kmig_xbzrle_send *x, struct kmig_batch *b, uint32_t blk,
			  uint64_t page, uint64_t key, const uint8_t *live);
/* whether it takes pages in this pass (pass 2 on) */
bool kmig_xbzrle_send_enabled(const struct kmig_xbzrle_send *x);
/* page @key goes as a zero page: its cache entry must say zero too */
void kmig_xbzrle_send_zero(struct kmig_xbzrle_send *x, uint64_t key);
/* adds the counts since the last call to @add */
void kmig_xbzrle_send_take(struct kmig_xbzrle_send *x, struct kmig_xbzrle_counts *add);
uint64_t kmig_xbzrle_send_cache_size(const struct kmig_xbzrle_send *x);

#endif
