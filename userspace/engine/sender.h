/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sender.h: gets pages from the page selection onto the channels.  Each
 * channel has its own batch of records, codec instance and share of the
 * max-bandwidth budget.  With data channels (multifd) pages go only on
 * them, each channel sent by its own thread, runs dealt out round-robin;
 * a sync point (kmig_sender_sync) waits until every channel has sent what
 * it was given and puts a SYNC record on each, so the destination never
 * lets a later copy of a page be overwritten by an earlier one.  Without
 * data channels the migration thread sends pages itself, on the main
 * channel, between its control records.
 */
#ifndef KMIG_SENDER_H
#define KMIG_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct kmig_src;
struct kmig_sender;

/* a sender over @s->chans (0 = main, 1.. data); 0 or -errno with s->err set */
int kmig_sender_new(struct kmig_sender **out, struct kmig_src *s);
/* pages [first, first + n) of block @blk (1..KMIG_WIRE_MAX_RUN); 0 or -errno */
int kmig_sender_pages(struct kmig_sender *snd, uint32_t blk, uint64_t first, uint32_t n);
/*
 * A control record on the main channel, after every page queued there;
 * @r->chan is set here.  Returns once the record completed.  0 or -errno.
 */
int kmig_sender_ctrl(struct kmig_sender *snd, struct kmig_wire_rec *r, const void *payload);
/*
 * Every page handed over so far is sent (and, with data channels, each of
 * them carries the next SYNC record, with KMIG_SYNC_F_LAST if @last).
 * 0 or -errno.
 */
int kmig_sender_sync(struct kmig_sender *snd, bool last);
/*
 * Pass @pass (1, 2, ...; @last: the final copy) begins: XBZRLE, when on,
 * takes the cache size now asked for and its generation.  0 or -errno.
 */
int kmig_sender_pass(struct kmig_sender *snd, uint64_t pass, bool last);
/* the number of the last SYNC sent on the data channels (0: none) */
uint64_t kmig_sender_last_sync(const struct kmig_sender *snd);
/*
 * Postcopy from here on (after a last kmig_sender_sync): pages go on the
 * main channel, raw or zero (not through XBZRLE), with no rate limit of
 * the sender's own (the caller budgets max-postcopy-bandwidth), and with
 * release-ram each batch's pages are freed in the source's memfd once the
 * channel took them.
 */
void kmig_sender_postcopy(struct kmig_sender *snd);
/* sends what is batched on the main channel now; 0 or -errno */
int kmig_sender_flush(struct kmig_sender *snd);
/* drops the main channel's unsent batch (the channel broke; postcopy resends) */
void kmig_sender_forget(struct kmig_sender *snd);
/* control records @r[0..n) (no payloads) on the main channel in one write; 0 or -errno */
int kmig_sender_ctrl_many(struct kmig_sender *snd, struct kmig_wire_rec *r, unsigned int n);
/* stops the channel threads (the channels must be aborted first if they block) */
void kmig_sender_free(struct kmig_sender *snd);

#endif
