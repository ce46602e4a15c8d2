// SPDX-License-Identifier: GPL-2.0-only
/*
 * precopy.c: the source side of a migration.  Connects, arms one dirty
 * tracker per RAM block, sends every page, then keeps sending what the
 * workload dirtied until the rest fits in the downtime limit at the
 * measured bandwidth; then stops the workload, sends the last pages, its
 * device state and per-block checksums, and waits for the destination to
 * say the workload runs there.  Any failure or cancel resumes the workload
 * on the source, its memory untouched (the source only ever reads it).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "mig_internal.h"
#include "pagehash.h"
#include "ratelimit.h"
#include "track_bpf.h"
#include "tracker.h"
#include "wire.h"
#include "workload.h"

#define PAUSE_TIMEOUT_MS   10000
#define RESUMED_TIMEOUT_MS 60000
#define BATCH_IOV          64

/** struct src_block - per-block source state */
struct src_block {
	struct kmig_block *b;
	uint64_t npages;
	uint64_t *dirty;	/* bit i: page i must be (re)sent */
	uint64_t *hash;		/* content hash of what page i last carried */
	uint64_t *data;		/* pass 1 only: bit i set = page i is not a hole */
};

/** struct src - one source migration */
struct src {
	struct kmig_mig *m;
	struct kmig_workload *wl;
	struct src_block *blk;
	unsigned int nblk;
	struct kmig_trackset *ts;	/* the workload's dirty trackers, NULL until open */
	uint64_t *bitmaps[KMIG_TRACK_MAX_RANGES];
	struct kmig_ratelimit rl;
	bool downtime;		/* the workload is stopped */
	bool committed;		/* told the destination to start: never resume here */
	char err[512];
	/* a batch of records being assembled for one writev */
	struct iovec iov[BATCH_IOV];
	struct kmig_wire_rec rec[BATCH_IOV];
	int niov, nrec;
	uint64_t batch_bytes;
	uint64_t batch_normal, batch_zero;	/* pages in the batch, counted once written */
	uint64_t zero_hash;
	/* live bandwidth for query-migrate while a pass runs */
	int64_t pass_t0_ns, rate_shown_ns;
	uint64_t pass_bytes0;
};

static uint64_t words(uint64_t npages)
{
	return (npages + 63) / 64;
}

static void stats_add(struct src *s, uint64_t bytes, uint64_t normal, uint64_t zero)
{
	struct kmig_mig *m = s->m;

	pthread_mutex_lock(&m->lock);
	m->stats.transferred += bytes;
	if (s->downtime)
		m->stats.downtime_bytes += bytes;
	else
		m->stats.precopy_bytes += bytes;
	m->stats.normal += normal;
	m->stats.normal_bytes += normal * KMIG_PAGE_SIZE;
	m->stats.duplicate += zero;
	/* remaining counts down as pages go, up again at each harvest */
	m->stats.remaining -= (normal + zero) * KMIG_PAGE_SIZE > m->stats.remaining ?
			      m->stats.remaining : (normal + zero) * KMIG_PAGE_SIZE;
	pthread_mutex_unlock(&m->lock);
}

static int flush(struct src *s)
{
	struct kmig_mig *m = s->m;
	uint64_t rate;
	int ret;

	if (!s->niov)
		return 0;
	pthread_mutex_lock(&m->lock);
	rate = s->downtime ? 0 : m->tuning.max_bandwidth;	/* no limit once stopped */
	pthread_mutex_unlock(&m->lock);
	if (!kmig_ratelimit_wait(&s->rl, s->batch_bytes, rate, &m->cancel))
		return -ECANCELED;
	ret = kmig_xport_writev(&m->x, s->iov, s->niov);
	if (ret) {
		snprintf(s->err, sizeof(s->err), "failed to write the migration stream: %s",
			 strerror(-ret));
		return ret;
	}
	/* the kernel took the batch: now it counts as transferred */
	stats_add(s, s->batch_bytes, s->batch_normal, s->batch_zero);
	s->niov = s->nrec = 0;
	s->batch_bytes = s->batch_normal = s->batch_zero = 0;
	int64_t now = kmig_now_ns();

	if (now - s->rate_shown_ns > 100000000ll && now > s->pass_t0_ns) {
		pthread_mutex_lock(&m->lock);
		m->stats.mbps = (m->stats.transferred - s->pass_bytes0) * 8e3 /
				(double)(now - s->pass_t0_ns);
		pthread_mutex_unlock(&m->lock);
		s->rate_shown_ns = now;
	}
	return 0;
}

/* queues a record header (+ payload) into the batch */
static int queue(struct src *s, uint32_t type, uint32_t block, uint64_t off, uint32_t count,
		 const void *payload, size_t plen)
{
	struct kmig_wire_rec *r;
	int ret;

	if (s->niov + 2 > BATCH_IOV || s->nrec == BATCH_IOV) {
		ret = flush(s);
		if (ret)
			return ret;
	}
	r = &s->rec[s->nrec++];
	*r = (struct kmig_wire_rec){ .type = type, .block = block, .offset = off, .count = count };
	s->iov[s->niov++] = (struct iovec){ r, sizeof(*r) };
	if (plen)
		s->iov[s->niov++] = (struct iovec){ (void *)payload, plen };
	s->batch_bytes += sizeof(*r) + plen;
	s->batch_normal += type == KMIG_REC_PAGES ? count : 0;
	s->batch_zero += type == KMIG_REC_ZERO ? count : 0;
	/* big payloads go out at once so rate limiting stays smooth */
	return s->batch_bytes >= (1u << 20) ? flush(s) : 0;
}

/*
 * Sends pages [first, first+n) of block @bi (all marked dirty): runs of
 * non-zero pages as PAGES records pointing into the mapping, runs of zero
 * pages as ZERO records, recording each page's hash.
 */
/*
 * Whether page @i is all zeroes.  A page in a hole of the memfd is, and is
 * never read: reading it through the mapping would allocate it.
 */
static bool page_zero(const struct src_block *sb, uint64_t i)
{
	if (sb->data && !(sb->data[i / 64] & (1ull << (i % 64))))
		return true;
	return kmig_page_is_zero(sb->b->map + (i << KMIG_PAGE_SHIFT));
}

static int send_run(struct src *s, unsigned int bi, uint64_t first, uint64_t n)
{
	struct src_block *sb = &s->blk[bi];
	const uint8_t *base = sb->b->map;
	uint64_t i = first, end = first + n;
	int ret;

	while (i < end) {
		bool zero = page_zero(sb, i);
		uint64_t j = i;

		while (j < end && j - i < KMIG_WIRE_MAX_RUN) {
			if (j > i && page_zero(sb, j) != zero)
				break;
			sb->hash[j] = zero ? s->zero_hash : kmig_page_hash(base + (j << KMIG_PAGE_SHIFT));
			j++;
		}
		if (zero)
			ret = queue(s, KMIG_REC_ZERO, bi, i << KMIG_PAGE_SHIFT, j - i, NULL, 0);
		else
			ret = queue(s, KMIG_REC_PAGES, bi, i << KMIG_PAGE_SHIFT, j - i,
				    base + (i << KMIG_PAGE_SHIFT), (j - i) << KMIG_PAGE_SHIFT);
		if (ret)
			return ret;
		i = j;
	}
	return 0;
}

/* sends and clears every dirty page of every block; returns pages sent or -errno */
static long send_dirty(struct src *s)
{
	long sent = 0;

	for (unsigned int bi = 0; bi < s->nblk; bi++) {
		struct src_block *sb = &s->blk[bi];

		for (uint64_t w = 0; w < words(sb->npages); w++) {
			uint64_t bits = sb->dirty[w];

			sb->dirty[w] = 0;
			while (bits) {
				unsigned int lo = __builtin_ctzll(bits);
				uint64_t run = bits >> lo;
				unsigned int len = run == ~0ull ? 64 - lo : (unsigned int)__builtin_ctzll(~run);
				int ret;

				ret = send_run(s, bi, w * 64 + lo, len);
				if (ret)
					return ret;
				sent += len;
				bits &= len + lo == 64 ? 0 : ~0ull << (lo + len);
			}
			if (s->m->cancel)
				return -ECANCELED;
		}
	}
	return flush(s) ?: sent;
}

/*
 * Maps which pages of each block hold data (SEEK_DATA/SEEK_HOLE on the
 * memfd), for pass 1: most of a large, sparse guest may never have been
 * written, and those pages go as ZERO records without being touched.  Later
 * passes need no map: the tracker reports only written pages.
 */
static int mark_data(const struct kmig_block *b, uint64_t off, uint64_t len, void *arg)
{
	uint64_t *data = arg;

	(void)b;
	for (uint64_t i = off >> KMIG_PAGE_SHIFT; i < (off + len + KMIG_PAGE_SIZE - 1) >> KMIG_PAGE_SHIFT;
	     i++)
		data[i / 64] |= 1ull << (i % 64);
	return 0;
}

static int map_holes(struct src *s)
{
	for (unsigned int bi = 0; bi < s->nblk; bi++) {
		struct src_block *sb = &s->blk[bi];
		int ret;

		sb->data = calloc(words(sb->npages), sizeof(uint64_t));
		if (!sb->data)
			return -ENOMEM;
		ret = kmig_block_for_each_data(sb->b, mark_data, sb->data);
		if (ret)
			return ret;
	}
	return 0;
}

static void drop_hole_map(struct src *s)
{
	for (unsigned int bi = 0; bi < s->nblk; bi++) {
		free(s->blk[bi].data);
		s->blk[bi].data = NULL;
	}
}

/* harvests every tracker; returns the number of dirty pages now pending */
static long harvest(struct src *s)
{
	uint64_t sync;
	long total = 0;

	long n = kmig_trackset_harvest(s->ts, s->bitmaps, s->err, sizeof(s->err));

	if (n < 0)
		return n;
	for (unsigned int bi = 0; bi < s->nblk; bi++)
		for (uint64_t w = 0; w < words(s->blk[bi].npages); w++)
			total += __builtin_popcountll(s->blk[bi].dirty[w]);
	pthread_mutex_lock(&s->m->lock);
	sync = ++s->m->stats.dirty_sync_count;
	s->m->stats.remaining = (uint64_t)total * KMIG_PAGE_SIZE;
	pthread_mutex_unlock(&s->m->lock);
	/* as QEMU: one MIGRATION_PASS per dirty sync, the first during setup */
	if (s->m->hooks && s->m->hooks->pass)
		s->m->hooks->pass(s->m->opaque, (unsigned int)sync);
	return total;
}

static int setup_blocks(struct src *s)
{
	uint64_t total = 0;

	struct kmig_track_range ranges[KMIG_TRACK_MAX_RANGES];
	struct kmig_track_target t = { .pid = s->wl->pid, .ranges = ranges };
	int ret;

	s->nblk = s->wl->nblocks;
	s->blk = calloc(s->nblk, sizeof(*s->blk));
	s->ts = calloc(1, sizeof(*s->ts));
	if (!s->blk || !s->ts)
		return -ENOMEM;
	for (unsigned int i = 0; i < s->nblk; i++) {
		struct src_block *sb = &s->blk[i];

		sb->b = &s->wl->blocks[i];
		sb->npages = sb->b->size >> KMIG_PAGE_SHIFT;
		sb->dirty = calloc(words(sb->npages), sizeof(uint64_t));
		sb->hash = calloc(sb->npages, sizeof(uint64_t));
		if (!sb->dirty || !sb->hash)
			return -ENOMEM;
		ranges[i] = (struct kmig_track_range){ .name = sb->b->name, .addr = sb->b->wl_addr,
						       .len = sb->b->size, .memfd = sb->b->memfd,
						       .uffd = sb->b->uffd,
						       .uffd_api_done = &sb->b->uffd_api_done };
		s->bitmaps[i] = sb->dirty;
		total += sb->b->size;
	}
	t.nranges = s->nblk;
	/* TEMPORARY (issue 9): KMIG_X_TRACKER until the x-kmig-tracker parameter */
	ret = kmig_trackset_open_env(s->ts, &t, s->err, sizeof(s->err));
	if (ret) {
		free(s->ts);
		s->ts = NULL;
		return ret;
	}
	pthread_mutex_lock(&s->m->lock);
	s->m->stats.total = total;
	snprintf(s->m->tracker, sizeof(s->m->tracker), "%s", s->ts->name);
	pthread_mutex_unlock(&s->m->lock);
	return 0;
}

static void free_blocks(struct src *s)
{
	if (s->ts)
		kmig_trackset_close(s->ts);
	free(s->ts);
	for (unsigned int i = 0; s->blk && i < s->nblk; i++) {
		free(s->blk[i].dirty);
		free(s->blk[i].hash);
		free(s->blk[i].data);
	}
	free(s->blk);
}

static int send_header(struct src *s)
{
	struct kmig_wire_hdr h = { .magic = KMIG_WIRE_MAGIC, .version = KMIG_WIRE_VERSION,
				   .page_size = KMIG_WIRE_PAGE_SIZE, .nblocks = s->nblk };
	struct kmig_wire_block *tab = calloc(s->nblk, sizeof(*tab));
	struct iovec iov[2];
	int ret;

	if (!tab)
		return -ENOMEM;
	for (unsigned int i = 0; i < s->nblk; i++) {
		snprintf(tab[i].name, sizeof(tab[i].name), "%s", s->blk[i].b->name);
		tab[i].size = s->blk[i].b->size;
		h.total += tab[i].size;
	}
	iov[0] = (struct iovec){ &h, sizeof(h) };
	iov[1] = (struct iovec){ tab, s->nblk * sizeof(*tab) };
	ret = kmig_xport_writev(&s->m->x, iov, 2);
	if (ret)
		snprintf(s->err, sizeof(s->err), "failed to write the stream header: %s",
			 strerror(-ret));
	else
		stats_add(s, sizeof(h) + s->nblk * sizeof(*tab), 0, 0);
	free(tab);
	return ret;
}

/* reads one record from the return path; @what names the wait in errors */
static int await_reply(struct src *s, uint32_t want, const char *what)
{
	struct pollfd p = { .fd = s->m->x.fd, .events = POLLIN };
	struct kmig_wire_rec r;
	char text[256];
	int ret;

	do {
		ret = poll(&p, 1, RESUMED_TIMEOUT_MS);
	} while (ret < 0 && errno == EINTR);
	if (s->m->cancel)
		return -ECANCELED;
	if (ret <= 0) {
		snprintf(s->err, sizeof(s->err), "the destination did not answer (%s) within %d s",
			 what, RESUMED_TIMEOUT_MS / 1000);
		return -ETIMEDOUT;
	}
	ret = kmig_xport_read(&s->m->x, &r, sizeof(r));
	if (ret) {
		snprintf(s->err, sizeof(s->err), "the destination closed the channel (%s): %s",
			 what, strerror(-ret));
		return s->m->cancel ? -ECANCELED : ret;
	}
	if (r.type == want && !r.count)
		return 0;
	if (r.type == KMIG_REC_ERROR && r.count < sizeof(text) &&
	    !kmig_xport_read(&s->m->x, text, r.count)) {
		text[r.count] = 0;
		snprintf(s->err, sizeof(s->err), "the destination failed: %s", text);
		return -EIO;
	}
	snprintf(s->err, sizeof(s->err), "bad reply from the destination (type %u, %s)", r.type,
		 what);
	return -EPROTO;
}

/*
 * The point of no return: once the destination has checked everything,
 * commit (unless cancelled) and tell it to start.  Returns 0, or -errno; a
 * failure after the commit leaves s->committed set.
 */
static int hand_over(struct src *s)
{
	struct kmig_wire_rec go = { .type = KMIG_REC_GO };
	struct iovec iov = { &go, sizeof(go) };
	struct kmig_mig *m = s->m;
	int ret = await_reply(s, KMIG_REC_VERIFIED, "verification");

	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	s->committed = !m->cancel;
	m->committed = s->committed;
	pthread_mutex_unlock(&m->lock);
	if (!s->committed)
		return -ECANCELED;
	ret = kmig_xport_writev(&m->x, &iov, 1);
	if (ret) {
		snprintf(s->err, sizeof(s->err), "could not send the go-ahead: %s", strerror(-ret));
		return ret;
	}
	return await_reply(s, KMIG_REC_RESUMED, "workload start");
}

/* the precopy passes; returns 0 once the rest fits the downtime limit */
static int precopy(struct src *s)
{
	struct kmig_mig *m = s->m;

	for (unsigned int pass = 1;; pass++) {
		int64_t t0 = kmig_now_ns(), t1;
		uint64_t sent0, sent1, bw, limit_ms, dirty;
		long n;
		int ret;

		pthread_mutex_lock(&m->lock);
		m->stats.passes = pass;
		sent0 = m->stats.transferred;
		pthread_mutex_unlock(&m->lock);
		s->pass_t0_ns = t0;
		s->pass_bytes0 = sent0;
		ret = queue(s, KMIG_REC_PASS, 0, pass, 0, NULL, 0);
		if (!ret && pass == 1)
			ret = map_holes(s);
		if (ret)
			return ret;
		n = send_dirty(s);
		drop_hole_map(s);
		if (n < 0)
			return (int)n;
		n = harvest(s);
		if (n < 0)
			return (int)n;
		t1 = kmig_now_ns();
		dirty = (uint64_t)n;
		pthread_mutex_lock(&m->lock);
		sent1 = m->stats.transferred;
		bw = (uint64_t)((sent1 - sent0) * 1e9 / (t1 - t0 + 1));	/* bytes/s */
		m->stats.mbps = bw * 8.0 / 1e6;
		m->stats.pages_per_second = (uint64_t)((sent1 - sent0) / KMIG_PAGE_SIZE * 1e9 /
						       (t1 - t0 + 1));
		m->stats.dirty_pages_rate = (uint64_t)(dirty * 1e9 / (t1 - t0 + 1));
		m->stats.expected_downtime_ms = bw ? (int64_t)(dirty * KMIG_PAGE_SIZE * 1000 / bw) : 0;
		limit_ms = m->tuning.downtime_limit_ms;
		pthread_mutex_unlock(&m->lock);
		kmig_log(KMIG_LOG_DEBUG, "precopy", "pass=%u dirty=%llu bw=%llu B/s", pass,
			 (unsigned long long)dirty, (unsigned long long)bw);
		/* threshold = bandwidth x downtime-limit, as QEMU */
		if (dirty * KMIG_PAGE_SIZE <= bw * limit_ms / 1000)
			return 0;
	}
}

static int send_end(struct src *s, const void *state, uint32_t state_len)
{
	uint64_t *sums = calloc(s->nblk, sizeof(uint64_t));
	int ret;

	if (!sums)
		return -ENOMEM;
	for (unsigned int i = 0; i < s->nblk; i++)
		sums[i] = kmig_block_checksum(s->blk[i].hash, s->blk[i].npages);
	ret = queue(s, KMIG_REC_STATE, 0, 0, state_len, state, state_len);
	if (!ret)
		ret = queue(s, KMIG_REC_END, 0, 0, s->nblk * 8, sums, s->nblk * 8);
	if (!ret)
		ret = flush(s);
	free(sums);
	return ret;
}

/* stop the workload, send the rest, hand over; 0 or -errno */
static int switchover(struct src *s)
{
	struct kmig_mig *m = s->m;
	void *state = NULL;
	uint32_t state_len = 0;
	int64_t t0;
	long n;
	int ret;

	/* downtime runs from the pause request to the destination's "resumed" */
	t0 = kmig_now_ms();
	s->downtime = true;	/* from here on, any failure resumes the workload */
	ret = kmig_workload_pause(s->wl, PAUSE_TIMEOUT_MS, &state, &state_len, s->err,
				  sizeof(s->err));
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	m->paused = true;
	pthread_mutex_unlock(&m->lock);
	n = harvest(s);
	if (n >= 0)
		n = send_dirty(s);
	ret = n < 0 ? (int)n : send_end(s, state, state_len);
	free(state);
	if (!ret && m->x.has_return)
		ret = hand_over(s);
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	m->stats.downtime_ms = kmig_now_ms() - t0;
	m->stats.remaining = 0;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void *kmig_precopy_thread(void *arg)
{
	struct src s = { .m = arg, .zero_hash = kmig_zero_page_hash() };
	struct kmig_mig *m = s.m;
	int ret;

	s.wl = kmig_mig_borrow_workload(m, KMIG_WL_ROLE_SRC, 0);
	if (!s.wl) {
		snprintf(s.err, sizeof(s.err), "no workload is registered with this kmigd "
			 "(start one with libkmig, e.g. kmig-dirtygen)");
		ret = -ENOENT;
		goto out;
	}
	ret = kmig_xport_connect(&m->uri, &m->x, &m->cancel, s.err, sizeof(s.err));
	if (ret)
		goto out;
	kmig_mig_publish_xport(m, true);
	ret = setup_blocks(&s);
	if (!ret)
		ret = harvest(&s) < 0 ? -EIO : 0;	/* the arm step: every page dirty */
	if (!ret)
		ret = send_header(&s);
	if (ret)
		goto out;
	kmig_mig_set_status(m, KMIG_MIG_ACTIVE, NULL);
	ret = precopy(&s);
	if (!ret && !m->cancel)
		ret = switchover(&s);
out:
	if (m->cancel && !s.committed)
		ret = -ECANCELED;
	free_blocks(&s);
	if (m->x_open)
		kmig_mig_publish_xport(m, false);
	if (kmig_xport_close(&m->x) && !ret) {
		/* the stream went into a command that then failed: not migrated */
		snprintf(s.err, sizeof(s.err), "the exec command reading the stream failed");
		ret = -EIO;
	}
	if (s.wl && s.downtime) {
		if (!ret) {
			kmig_workload_migrated(s.wl);
		} else if (!s.committed) {
			kmig_workload_resume(s.wl);	/* failed after the stop: run on here */
		} else {
			/*
			 * The destination was told to start and did not confirm: it
			 * may run.  Resuming here could run the workload twice; it
			 * stays stopped until an operator decides ('cont').
			 */
			pthread_mutex_lock(&m->lock);
			m->held = true;
			pthread_mutex_unlock(&m->lock);
			snprintf(s.err + strlen(s.err), sizeof(s.err) - strlen(s.err),
				 "; the workload stays stopped here (it may run on the "
				 "destination): 'cont' resumes it");
		}
	}
	if (s.wl)
		kmig_mig_return_workload(m);
	if (ret == -ECANCELED) {
		kmig_mig_set_status(m, KMIG_MIG_CANCELLED, NULL);
	} else if (ret) {
		kmig_log(KMIG_LOG_WARN, "precopy", "migration failed: %s", s.err);
		kmig_mig_set_status(m, KMIG_MIG_FAILED, s.err[0] ? s.err : strerror(-ret));
	} else {
		kmig_mig_set_status(m, KMIG_MIG_COMPLETED, NULL);
	}
	return NULL;
}
