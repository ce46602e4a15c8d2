// SPDX-License-Identifier: GPL-2.0-only
/*
 * incoming.c: the destination side of a migration.  Accepts the channel,
 * checks the stream header and block table against the destination
 * workload's blocks, writes pages straight into them, and at the end
 * verifies every page arrived and the per-block checksums match before it
 * hands the device state to the workload and lets it start.
 *
 * Nothing from the stream is trusted: every record's type, block index,
 * offset, page count and length is bounds-checked before it is used, and a
 * bad or truncated stream fails the migration with a message saying what
 * was wrong (and the destination workload is told it failed).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mig_internal.h"
#include "pagehash.h"
#include "wire.h"
#include "workload.h"

#define WORKLOAD_WAIT_MS  60000
#define STARTED_TIMEOUT_MS 10000

/** struct dst_block - per-block destination state */
struct dst_block {
	struct kmig_block *b;
	uint64_t npages;
	uint64_t *hash;		/* content hash of what page i last received */
	uint64_t *seen;		/* bit i: page i has arrived at least once */
};

struct dst {
	struct kmig_mig *m;
	struct kmig_workload *wl;
	struct dst_block blk[KMIG_WIRE_MAX_BLOCKS];
	unsigned int nblk;
	void *state;
	uint32_t state_len;
	uint64_t zero_hash;
	char err[512];
};

static int fail(struct dst *d, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct dst *d, int ret, const char *fmt, ...)
{
	va_list ap;

	if (!d->err[0]) {
		va_start(ap, fmt);
		vsnprintf(d->err, sizeof(d->err), fmt, ap);
		va_end(ap);
	}
	return ret;
}

static int rd(struct dst *d, void *buf, size_t n, const char *what)
{
	int ret = kmig_xport_read(&d->m->x, buf, n);

	if (ret == -ECONNRESET)
		return fail(d, -EPIPE, "migration stream ended early, in %s (after %llu bytes)",
			    what, (unsigned long long)d->m->x.bytes);
	if (ret)
		return fail(d, ret, "reading the migration stream (%s): %s", what, strerror(-ret));
	return 0;
}

static int read_header(struct dst *d)
{
	struct kmig_wire_hdr h;
	struct kmig_wire_block tab[KMIG_WIRE_MAX_BLOCKS];
	uint64_t total = 0;
	int ret;

	ret = rd(d, &h, sizeof(h), "the header");
	if (ret)
		return ret;
	if (h.magic != KMIG_WIRE_MAGIC)
		return fail(d, -EPROTO, "not a kmig migration stream (bad magic)");
	if (h.version != KMIG_WIRE_VERSION)
		return fail(d, -EPROTO, "unsupported stream version %u (this kmig reads %u)",
			    h.version, KMIG_WIRE_VERSION);
	if (h.page_size != KMIG_WIRE_PAGE_SIZE || h.flags)
		return fail(d, -EPROTO, "unsupported page size %u or flags %#x", h.page_size,
			    h.flags);
	if (!h.nblocks || h.nblocks > KMIG_WIRE_MAX_BLOCKS)
		return fail(d, -EPROTO, "bad block count %u in the stream header", h.nblocks);
	ret = rd(d, tab, h.nblocks * sizeof(tab[0]), "the block table");
	if (ret)
		return ret;
	/* the workload may register after migrate-incoming: wait for it */
	d->wl = kmig_mig_borrow_workload(d->m, KMIG_WL_ROLE_DST, WORKLOAD_WAIT_MS);
	if (!d->wl)
		return fail(d, -ENOENT, "no destination workload registered with this kmigd "
			    "within %d s", WORKLOAD_WAIT_MS / 1000);
	if (d->wl->nblocks != h.nblocks)
		return fail(d, -EPROTO, "the stream has %u RAM blocks, the workload %u",
			    h.nblocks, d->wl->nblocks);
	for (unsigned int i = 0; i < h.nblocks; i++) {
		struct dst_block *db = &d->blk[i];

		if (!memchr(tab[i].name, 0, sizeof(tab[i].name)))
			return fail(d, -EPROTO, "block %u name is not terminated", i);
		db->b = NULL;
		for (unsigned int j = 0; j < d->wl->nblocks; j++)
			if (!strcmp(d->wl->blocks[j].name, tab[i].name))
				db->b = &d->wl->blocks[j];
		if (!db->b)
			return fail(d, -EPROTO, "the workload has no RAM block '%s'", tab[i].name);
		if (db->b->size != tab[i].size)
			return fail(d, -EPROTO, "RAM block '%s' is %llu bytes here, %llu in the stream",
				    tab[i].name, (unsigned long long)db->b->size,
				    (unsigned long long)tab[i].size);
		for (unsigned int j = 0; j < i; j++)
			if (d->blk[j].b == db->b)
				return fail(d, -EPROTO, "RAM block '%s' appears twice", tab[i].name);
		db->npages = db->b->size >> KMIG_PAGE_SHIFT;
		db->hash = calloc(db->npages, sizeof(uint64_t));
		db->seen = calloc((db->npages + 63) / 64, sizeof(uint64_t));
		if (!db->hash || !db->seen)
			return fail(d, -ENOMEM, "out of memory for block '%s'", tab[i].name);
		total += tab[i].size;
	}
	d->nblk = h.nblocks;
	if (total != h.total)
		return fail(d, -EPROTO, "stream header total %llu does not match its blocks",
			    (unsigned long long)h.total);
	pthread_mutex_lock(&d->m->lock);
	d->m->stats.total = total;
	pthread_mutex_unlock(&d->m->lock);
	return 0;
}

/* checks that [offset, offset + count pages) lies inside block @bi */
static int check_range(struct dst *d, const struct kmig_wire_rec *r, uint32_t max)
{
	if (r->block >= d->nblk)
		return fail(d, -EPROTO, "record for block %u, the stream has %u", r->block,
			    d->nblk);
	if (!r->count || r->count > max || r->offset % KMIG_PAGE_SIZE)
		return fail(d, -EPROTO, "bad page record (offset %llu, %u pages)",
			    (unsigned long long)r->offset, r->count);
	if (r->offset >> KMIG_PAGE_SHIFT >= d->blk[r->block].npages ||
	    r->count > d->blk[r->block].npages - (r->offset >> KMIG_PAGE_SHIFT))
		return fail(d, -EPROTO, "page record beyond the end of block '%s' "
			    "(offset %llu, %u pages)", d->blk[r->block].b->name,
			    (unsigned long long)r->offset, r->count);
	return 0;
}

static void mark(struct dst_block *db, uint64_t first, uint32_t n)
{
	for (uint64_t i = first; i < first + n; i++)
		db->seen[i / 64] |= 1ull << (i % 64);
}

static int on_pages(struct dst *d, const struct kmig_wire_rec *r)
{
	struct dst_block *db = &d->blk[r->block];
	uint64_t first = r->offset >> KMIG_PAGE_SHIFT;
	uint8_t *p = db->b->map + r->offset;
	int ret = rd(d, p, (size_t)r->count << KMIG_PAGE_SHIFT, "page data");

	if (ret)
		return ret;
	for (uint32_t i = 0; i < r->count; i++)
		db->hash[first + i] = kmig_page_hash(p + ((size_t)i << KMIG_PAGE_SHIFT));
	mark(db, first, r->count);
	return 0;
}

static void on_zero(struct dst *d, const struct kmig_wire_rec *r)
{
	struct dst_block *db = &d->blk[r->block];
	uint64_t first = r->offset >> KMIG_PAGE_SHIFT;

	for (uint64_t i = first; i < first + r->count; i++) {
		/* pages that never arrived are still the zeroes fallocate gave them */
		if (db->seen[i / 64] & (1ull << (i % 64)))
			memset(db->b->map + (i << KMIG_PAGE_SHIFT), 0, KMIG_PAGE_SIZE);
		db->hash[i] = d->zero_hash;
	}
	mark(db, first, r->count);
}

static int on_end(struct dst *d, const struct kmig_wire_rec *r)
{
	uint64_t sums[KMIG_WIRE_MAX_BLOCKS];
	int ret;

	if (r->count != d->nblk * 8)
		return fail(d, -EPROTO, "end record carries %u bytes, expected %u", r->count,
			    d->nblk * 8);
	ret = rd(d, sums, r->count, "the checksums");
	if (ret)
		return ret;
	for (unsigned int i = 0; i < d->nblk; i++) {
		struct dst_block *db = &d->blk[i];

		for (uint64_t p = 0; p < db->npages; p++)
			if (!(db->seen[p / 64] & (1ull << (p % 64))))
				return fail(d, -EPROTO, "page %llu of block '%s' never arrived",
					    (unsigned long long)p, db->b->name);
		if (kmig_block_checksum(db->hash, db->npages) != sums[i])
			return fail(d, -EIO, "checksum mismatch in block '%s'", db->b->name);
	}
	return 0;
}

static int receive(struct dst *d)
{
	for (;;) {
		struct kmig_wire_rec r;
		int ret = rd(d, &r, sizeof(r), "a record header");

		if (ret)
			return ret;
		if (r.reserved)
			return fail(d, -EPROTO, "record with reserved bits set");
		switch (r.type) {
		case KMIG_REC_PAGES:
			ret = check_range(d, &r, KMIG_WIRE_MAX_RUN) ?: on_pages(d, &r);
			break;
		case KMIG_REC_ZERO:
			ret = check_range(d, &r, KMIG_WIRE_MAX_ZERO_RUN);
			if (!ret)
				on_zero(d, &r);
			break;
		case KMIG_REC_PASS:
			pthread_mutex_lock(&d->m->lock);
			d->m->stats.passes = (unsigned int)r.offset;
			pthread_mutex_unlock(&d->m->lock);
			break;
		case KMIG_REC_STATE:
			if (r.count > KMIG_WIRE_MAX_STATE || d->state)
				return fail(d, -EPROTO, "bad device state record (%u bytes)", r.count);
			d->state = malloc(r.count ? r.count : 1);
			if (!d->state)
				return fail(d, -ENOMEM, "out of memory for the device state");
			d->state_len = r.count;
			ret = rd(d, d->state, r.count, "the device state");
			break;
		case KMIG_REC_END:
			if (!d->state)
				return fail(d, -EPROTO, "stream ended without device state");
			return on_end(d, &r);
		default:
			return fail(d, -EPROTO, "unknown record type %u", r.type);
		}
		if (ret)
			return ret;
	}
}

static void reply(struct dst *d, uint32_t type, const char *text)
{
	struct kmig_wire_rec r = { .type = type, .count = text ? strlen(text) : 0 };
	struct iovec iov[2] = { { &r, sizeof(r) }, { (void *)text, r.count } };

	if (d->m->x.has_return && kmig_xport_writev(&d->m->x, iov, text ? 2 : 1))
		kmig_log(KMIG_LOG_WARN, "incoming", "cannot answer the source");
}

/*
 * Tells the source everything checked out and waits for its go-ahead: the
 * source may have been cancelled meanwhile (and resumed), and then this
 * side must not start the workload.
 */
static int await_go(struct dst *d)
{
	struct kmig_wire_rec r;
	int ret;

	reply(d, KMIG_REC_VERIFIED, NULL);
	ret = kmig_xport_read(&d->m->x, &r, sizeof(r));
	if (ret)
		return fail(d, ret, "the source withdrew before the hand-over (cancelled, or "
			    "the link failed): not starting the workload");
	if (r.type != KMIG_REC_GO || r.count || r.reserved)
		return fail(d, -EPROTO, "expected the go-ahead, got record type %u", r.type);
	return 0;
}

void *kmig_incoming_thread(void *arg)
{
	struct dst d = { .m = arg, .zero_hash = kmig_zero_page_hash() };
	struct kmig_mig *m = d.m;
	int ret;

	ret = kmig_xport_accept(&m->lis, &m->x, d.err, sizeof(d.err));
	if (ret)
		goto out;
	kmig_mig_publish_xport(m, true);
	pthread_mutex_lock(&m->lock);
	m->start_ms = kmig_now_ms();
	pthread_mutex_unlock(&m->lock);
	kmig_mig_set_status(m, KMIG_MIG_ACTIVE, NULL);
	ret = read_header(&d);
	if (!ret)
		ret = receive(&d);
	if (!ret && m->x.has_return)
		ret = await_go(&d);
	if (!ret)
		ret = kmig_workload_load(d.wl, d.state, d.state_len, STARTED_TIMEOUT_MS, d.err,
					 sizeof(d.err));
	if (!ret)
		reply(&d, KMIG_REC_RESUMED, NULL);
out:
	if (ret) {
		if (m->cancel && !d.err[0])
			snprintf(d.err, sizeof(d.err), "incoming migration cancelled");
		reply(&d, KMIG_REC_ERROR, d.err);
		if (d.wl)
			kmig_workload_failed(d.wl);
		kmig_log(KMIG_LOG_WARN, "incoming", "migration failed: %s", d.err);
	}
	for (unsigned int i = 0; i < KMIG_WIRE_MAX_BLOCKS; i++) {
		free(d.blk[i].hash);
		free(d.blk[i].seen);
	}
	free(d.state);
	if (m->x_open)
		kmig_mig_publish_xport(m, false);
	kmig_xport_close(&m->x);
	if (d.wl)
		kmig_mig_return_workload(m);
	kmig_mig_set_status(m, ret ? KMIG_MIG_FAILED : KMIG_MIG_COMPLETED, ret ? d.err : NULL);
	return NULL;
}
