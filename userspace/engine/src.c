// SPDX-License-Identifier: GPL-2.0-only
/*
 * src.c: the source side of a migration, start to end.  Connects the main
 * channel (and the data channels with multifd), arms the dirty trackers,
 * sends every page, then keeps sending what the workload dirtied until the
 * convergence policy (converge.h) says the rest fits the downtime limit,
 * throttling the workload meanwhile with auto-converge; then stops it,
 * sends the last pages, its device state and per-block checksums, and
 * hands over.  Any failure or cancel before the hand-over resumes the
 * workload on the source, its memory untouched (the source only reads it).
 * migrate-start-postcopy leaves the passes for src_postcopy.c instead.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "pagehash.h"
#include "sender.h"
#include "src.h"
#include "xbzrle_send.h"

#define PAUSE_TIMEOUT_MS   KMIG_SRC_PAUSE_TIMEOUT_MS
#define ANSWER_TIMEOUT_MS  KMIG_SRC_ANSWER_TIMEOUT_MS
#define ACCEPT_TIMEOUT_MS  75000	/* the destination waits up to 60 s for its workload */
#define ERROR_WAIT_MS      2000		/* for the destination's own words after a failed send */

int kmig_src_fail(struct kmig_src *s, int ret, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->m->lock);
	if (!s->err[0] && ret != -ECANCELED) {
		va_start(ap, fmt);
		vsnprintf(s->err, sizeof(s->err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->m->lock);
	return ret;
}

void kmig_src_account_xbzrle(struct kmig_src *s, const struct kmig_xbzrle_counts *c,
			     uint64_t cache_size)
{
	struct kmig_mig_stats *st = &s->m->stats;

	pthread_mutex_lock(&s->m->lock);
	st->xbzrle = true;
	st->xb_cache_size = cache_size;
	st->xb_pages += c->pages;
	st->xb_bytes += c->bytes;
	st->xb_cache_miss += c->cache_miss;
	st->xb_overflow += c->overflow;
	st->xb_tried += c->tried;
	pthread_mutex_unlock(&s->m->lock);
}

/* QEMU's XBZRLE rates, over the pass that just ended; with m->lock held */
static void xbzrle_rates(struct kmig_src *s)
{
	struct kmig_mig_stats *st = &s->m->stats;
	uint64_t tried = st->xb_tried - s->xb_pass0[0], bytes = st->xb_bytes - s->xb_bytes0;

	if (tried)
		st->xb_miss_rate = (double)(st->xb_cache_miss - s->xb_pass0[1]) / (double)tried;
	if (bytes)
		st->xb_encoding_rate = (double)(st->xb_pages - s->xb_pass0[2]) * KMIG_PAGE_SIZE /
				       (double)bytes;
	s->xb_pass0[0] = st->xb_tried;
	s->xb_pass0[1] = st->xb_cache_miss;
	s->xb_pass0[2] = st->xb_pages;
	s->xb_bytes0 = st->xb_bytes;
}

void kmig_src_account_codec(struct kmig_src *s, uint64_t pages, uint64_t bytes,
			    uint64_t offered, uint64_t busy)
{
	struct kmig_mig_stats *st = &s->m->stats;

	pthread_mutex_lock(&s->m->lock);
	st->comp_pages += pages;
	st->comp_bytes += bytes;
	st->comp_offered += offered;
	st->comp_busy += busy;
	pthread_mutex_unlock(&s->m->lock);
}

void kmig_src_account(struct kmig_src *s, uint64_t bytes, uint64_t normal, uint64_t zero,
		      bool data_chan)
{
	struct kmig_mig_stats *st = &s->m->stats;
	uint64_t sent = (normal + zero) * KMIG_PAGE_SIZE;
	int64_t now = kmig_now_ns();

	pthread_mutex_lock(&s->m->lock);
	st->transferred += bytes;
	if (s->postcopy)
		st->postcopy_bytes += bytes;
	else if (s->downtime)
		st->downtime_bytes += bytes;
	else
		st->precopy_bytes += bytes;
	if (data_chan)
		st->multifd_bytes += bytes;
	st->normal += normal;
	st->normal_bytes += normal * KMIG_PAGE_SIZE;
	st->duplicate += zero;
	/* remaining counts down as pages go, up again at each harvest */
	st->remaining -= sent > st->remaining ? st->remaining : sent;
	/* the pass's bandwidth so far, for a live query-migrate */
	if (now - s->rate_shown_ns > 100000000ll && now > s->pass_t0_ns) {
		st->mbps = (double)(st->transferred - s->pass_bytes0) * 8e3 / (double)(now - s->pass_t0_ns);
		s->rate_shown_ns = now;
	}
	pthread_mutex_unlock(&s->m->lock);
}

void kmig_src_account_release(struct kmig_src *s, uint64_t pages)
{
	pthread_mutex_lock(&s->m->lock);
	s->m->stats.pc.released += pages;
	if (pages)
		s->m->incomplete = true;	/* never resumable here again */
	pthread_mutex_unlock(&s->m->lock);
}

static uint64_t transferred(struct kmig_src *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->m->lock);
	v = s->m->stats.transferred;
	pthread_mutex_unlock(&s->m->lock);
	return v;
}

/* ---- channels ---- */

/* connects channel @id to the migration URI; 0 or -errno */
static int open_chan(struct kmig_src *s, unsigned int id)
{
	struct kmig_chan *c = &s->chans[id];
	char err[512] = "";
	int ret = kmig_chan_connect(c, &s->m->cfg.uri, &s->m->cancel, err, sizeof(err));

	if (ret)
		return ret == -ECANCELED ? ret : kmig_src_fail(s, ret, "%s", err);
	c->id = id;
	kmig_mig_publish_chan(s->m, c);
	s->nchans = id + 1;
	/* a zero-copy channel sends pages from the blocks by reference */
	for (unsigned int i = 0; i < s->wl->nblocks && !ret; i++)
		if (s->wl->blocks[i].map)
			ret = kmig_chan_register_mem(c, s->wl->blocks[i].map,
						     s->wl->blocks[i].size, err, sizeof(err));
	return ret ? kmig_src_fail(s, ret, "%s", err) : 0;
}

static int send_raw(struct kmig_src *s, struct kmig_chan *c, const void *p, size_t len)
{
	struct kmig_tx tx = { .payload = p, .len = (uint32_t)len };
	int ret = kmig_chan_send_all(c, &tx, 1);

	if (ret)
		return kmig_src_fail(s, ret, "failed to write the migration stream: %s",
				     strerror(-ret));
	kmig_src_account(s, len, 0, 0, c->id > 0);
	return 0;
}

/*
 * The stream header and block table, and (with a return path) the
 * destination's ACCEPT; version 3 when postcopy may follow.  A resumed
 * postcopy sends it again on its new channel, without data channels, and
 * takes the destination's BITMAP records through @hooks.
 */
static int send_header_as(struct kmig_src *s, unsigned int nchannels,
			  const struct kmig_retpath_hooks *hooks)
{
	struct {
		struct kmig_wire_hdr h;
		struct kmig_wire_block tab[KMIG_WIRE_MAX_BLOCKS];
	} msg;
	int ret;

	memset(&msg, 0, sizeof(msg));
	msg.h = (struct kmig_wire_hdr){ .magic = KMIG_WIRE_MAGIC,
					.version = s->m->cfg.postcopy ? KMIG_WIRE_VERSION_POSTCOPY :
									KMIG_WIRE_VERSION,
					.page_size = KMIG_WIRE_PAGE_SIZE, .nblocks = s->nblk,
					.nchannels = nchannels, .session = s->session,
					.encodings = 1u << KMIG_ENC_RAW | 1u << KMIG_ENC_ZERO |
						     1u << s->m->cfg.main_codec.enc |
						     1u << s->m->cfg.data_codec.enc |
						     (s->m->cfg.xbzrle ? 1u << KMIG_ENC_XBZRLE : 0) };
	for (unsigned int i = 0; i < s->nblk; i++) {
		snprintf(msg.tab[i].name, sizeof(msg.tab[i].name), "%s", s->blk[i].b->name);
		msg.tab[i].size = s->blk[i].b->size;
		msg.h.total += msg.tab[i].size;
	}
	ret = send_raw(s, &s->chans[0], &msg, sizeof(msg.h) + s->nblk * sizeof(msg.tab[0]));
	if (ret || !(s->chans[0].caps & KMIG_CHAN_F_RETURN_PATH))
		return ret;
	/* the destination checks the version and the blocks before any page goes */
	ret = kmig_retpath_start_hooks(&s->rp, &s->chans[0], hooks);
	if (ret)
		return kmig_src_fail(s, ret, "cannot start the return-path reader: %s",
				     strerror(-ret));
	ret = kmig_retpath_wait(&s->rp, KMIG_REC_ACCEPT, ACCEPT_TIMEOUT_MS, &s->m->cancel,
				"stream header", s->err, sizeof(s->err));
	return ret;
}

int kmig_src_send_header(struct kmig_src *s, const struct kmig_retpath_hooks *hooks)
{
	return send_header_as(s, 0, hooks);
}

/* multifd: the data channels, each introducing itself with the session */
static int open_data_chans(struct kmig_src *s)
{
	unsigned int n = s->m->cfg.channels;

	if (!n)
		return 0;
	if (!(s->chans[0].caps & KMIG_CHAN_F_MULTI))
		return kmig_src_fail(s, -EINVAL, "multifd is not supported by current protocol");
	for (unsigned int i = 1; i <= n; i++) {
		struct kmig_wire_chan_hello hello = { .magic = KMIG_WIRE_CHAN_MAGIC,
						      .session = s->session, .chan = i };
		int ret = open_chan(s, i);

		if (!ret)
			ret = send_raw(s, &s->chans[i], &hello, sizeof(hello));
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- passes ---- */

/* tells the workload its throttle when it changed; a workload that cannot be told is logged */
static void apply_throttle(struct kmig_src *s, unsigned int pct)
{
	int ret;

	if (pct == s->throttle)
		return;
	ret = s->wl->ops->throttle ? s->wl->ops->throttle(s->wl, pct) : -EOPNOTSUPP;
	if (ret) {
		if (!s->throttle_warned)	/* once: it would say the same every pass */
			kmig_log(KMIG_LOG_WARN, "converge", "could not throttle the workload to "
				 "%u%%: %s", pct, strerror(-ret));
		s->throttle_warned = true;
		return;
	}
	kmig_log(KMIG_LOG_INFO, "converge", "workload throttle %u%% -> %u%%", s->throttle, pct);
	s->throttle = pct;
	pthread_mutex_lock(&s->m->lock);
	s->m->stats.throttle_pct = pct;
	pthread_mutex_unlock(&s->m->lock);
}

/* after a pass's sync: its statistics, and the policy's word; true to switch over */
static bool after_pass(struct kmig_src *s, int64_t t0, uint64_t sent0, uint64_t dirty)
{
	struct kmig_mig *m = s->m;
	int64_t ns = kmig_now_ns() - t0;
	uint64_t now_sent = transferred(s), sent = now_sent - sent0;
	struct kmig_sync_sample smp = {
		.now_ms = kmig_now_ms(), .transferred = now_sent, .dirty_pages = dirty,
		.bandwidth = (uint64_t)(sent * 1e9 / (double)(ns + 1)),
	};
	struct kmig_converge_cfg cfg;
	bool go;

	pthread_mutex_lock(&m->lock);
	m->stats.mbps = smp.bandwidth * 8.0 / 1e6;
	m->stats.pages_per_second = (uint64_t)(sent / KMIG_PAGE_SIZE * 1e9 / (double)(ns + 1));
	m->stats.dirty_pages_rate = (uint64_t)(dirty * 1e9 / (double)(ns + 1));
	m->stats.expected_downtime_ms = smp.bandwidth ?
		(int64_t)(dirty * KMIG_PAGE_SIZE * 1000 / smp.bandwidth) : 0;
	cfg = m->tuning.conv;
	xbzrle_rates(s);
	pthread_mutex_unlock(&m->lock);
	go = kmig_converge_sync(&s->conv, &cfg, &smp);
	pthread_mutex_lock(&m->lock);
	snprintf(m->stats.converge_why, sizeof(m->stats.converge_why), "%s", s->conv.why);
	pthread_mutex_unlock(&m->lock);
	if (!go)
		apply_throttle(s, s->conv.throttle);
	return go;
}

/*
 * the precopy passes; returns 0 once the policy says switch over, or
 * KMIG_SRC_POSTCOPY when migrate-start-postcopy asked to leave them (the
 * policy's word wins if both come at one sync: the rest fits, complete)
 */
static int precopy(struct kmig_src *s)
{
	struct kmig_mig *m = s->m;

	kmig_converge_init(&s->conv, kmig_now_ms(), transferred(s));
	for (unsigned int pass = 1;; pass++) {
		struct kmig_wire_rec rec = { .type = KMIG_REC_PASS, .offset = pass };
		int64_t t0 = kmig_now_ns();
		uint64_t sent0 = transferred(s);
		long n;
		int ret;

		pthread_mutex_lock(&m->lock);
		m->stats.passes = pass;
		s->pass_t0_ns = t0;
		s->pass_bytes0 = sent0;
		pthread_mutex_unlock(&m->lock);
		ret = kmig_sender_ctrl(s->snd, &rec, NULL);
		if (!ret)
			ret = kmig_sender_pass(s->snd, pass, false);
		if (!ret && pass == 1)
			ret = kmig_src_map_holes(s);
		if (ret)
			return ret;
		n = kmig_src_send_dirty(s);
		if (n == -EINTR)
			return KMIG_SRC_POSTCOPY;	/* mid-pass: the switch syncs the channels */
		if (n >= 0)
			n = kmig_sender_sync(s->snd, false);
		if (n < 0)
			return (int)n;	/* the hole map goes once the channel threads are gone */
		/* every run is out now: no channel thread reads the hole map any more */
		kmig_src_drop_holes(s);
		n = kmig_src_harvest(s);
		if (n < 0)
			return (int)n;
		if (after_pass(s, t0, sent0, (uint64_t)n))
			return 0;
		if (kmig_converge_leave_for_postcopy(&s->conv, s->m->start_postcopy))
			return KMIG_SRC_POSTCOPY;
		kmig_log(KMIG_LOG_DEBUG, "precopy", "pass=%u again: %s", pass, s->conv.why);
		/* a destination that failed says so on the return path */
		if (s->rp.running && kmig_retpath_error(&s->rp, 0, s->err, sizeof(s->err)))
			return -EIO;
		if (m->cancel)
			return -ECANCELED;
	}
}

/*
 * The point of no return: once the destination has checked everything,
 * commit (unless cancelled) and tell it to start.  A failure after the
 * commit leaves s->committed set.
 */
int kmig_src_commit(struct kmig_src *s)
{
	struct kmig_mig *m = s->m;

	pthread_mutex_lock(&m->lock);
	s->committed = !m->cancel;
	m->committed = s->committed;
	pthread_mutex_unlock(&m->lock);
	return s->committed ? 0 : -ECANCELED;
}

int kmig_src_pause(struct kmig_src *s, void **state, uint32_t *len)
{
	struct kmig_mig *m = s->m;
	int ret;

	s->downtime = true;
	ret = s->wl->ops->pause(s->wl, PAUSE_TIMEOUT_MS, state, len, s->err, sizeof(s->err));
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	m->paused = true;
	pthread_mutex_unlock(&m->lock);
	kmig_mig_event(m, KMIG_EV_STOP, 0);
	return 0;
}

static int hand_over(struct kmig_src *s)
{
	struct kmig_wire_rec go = { .type = KMIG_REC_GO };
	struct kmig_mig *m = s->m;
	int ret = kmig_retpath_wait(&s->rp, KMIG_REC_VERIFIED, ANSWER_TIMEOUT_MS, &m->cancel,
				    "verification", s->err, sizeof(s->err));

	if (ret || (ret = kmig_src_commit(s)))
		return ret;
	ret = kmig_sender_ctrl(s->snd, &go, NULL);
	if (ret)
		return kmig_src_fail(s, ret, "could not send the go-ahead: %s", strerror(-ret));
	return kmig_retpath_wait(&s->rp, KMIG_REC_RESUMED, ANSWER_TIMEOUT_MS, NULL,
				 "workload start", s->err, sizeof(s->err));
}

static int send_end(struct kmig_src *s, const void *state, uint32_t state_len)
{
	struct kmig_wire_rec st = { .type = KMIG_REC_STATE, .len = state_len };
	struct kmig_wire_rec end = { .type = KMIG_REC_END, .len = s->nblk * 8,
				     .offset = kmig_sender_last_sync(s->snd) };
	uint64_t sums[KMIG_MAX_BLOCKS];
	int ret;

	for (unsigned int i = 0; i < s->nblk; i++)
		sums[i] = kmig_block_checksum(s->blk[i].hash, s->blk[i].npages);
	ret = kmig_sender_ctrl(s->snd, &st, state);
	return ret ? ret : kmig_sender_ctrl(s->snd, &end, sums);
}

/* stop the workload, send the rest, hand over; 0 or -errno */
static int switchover(struct kmig_src *s)
{
	struct kmig_mig *m = s->m;
	void *state = NULL;
	uint32_t state_len = 0;
	int64_t t0;
	long n;
	int ret;

	/* downtime runs from the pause request to the destination's "resumed" */
	t0 = kmig_now_ms();
	ret = kmig_src_pause(s, &state, &state_len);	/* any failure now resumes it */
	if (ret)
		return ret;
	n = kmig_src_harvest(s);
	if (n >= 0) {
		/* the final copy is a pass of its own: a page comes once between PASS records */
		struct kmig_wire_rec rec = { .type = KMIG_REC_PASS, .offset = m->stats.passes + 1 };

		n = kmig_sender_ctrl(s->snd, &rec, NULL);
		if (!n)
			n = kmig_sender_pass(s->snd, rec.offset, true);
	}
	if (n >= 0)
		n = kmig_src_send_dirty(s);
	if (n >= 0)
		n = kmig_sender_sync(s->snd, true);
	ret = n < 0 ? (int)n : send_end(s, state, state_len);
	free(state);
	if (!ret && (s->chans[0].caps & KMIG_CHAN_F_RETURN_PATH))
		ret = hand_over(s);
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	m->stats.downtime_ms = kmig_now_ms() - t0;
	m->stats.remaining = 0;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* ---- start and end ---- */

static int run(struct kmig_src *s)
{
	int ret;

	s->wl = kmig_mig_borrow_workload(s->m, KMIG_ROLE_SRC, 0);
	if (!s->wl)
		return kmig_src_fail(s, -ENOENT, "no workload is registered with this kmigd "
				     "(start one with libkmig, e.g. kmig-dirtygen)");
	if (getrandom(&s->session, sizeof(s->session), 0) != sizeof(s->session))
		s->session = (uint64_t)kmig_now_ns() ^ (uint64_t)s->wl->pid << 32;
	ret = open_chan(s, 0);
	if (!ret)
		ret = kmig_src_pages_init(s);
	if (!ret) {
		long n = kmig_src_harvest(s);	/* the arm step: every page dirty */

		ret = n < 0 ? (int)n : 0;
	}
	if (!ret)
		ret = send_header_as(s, s->m->cfg.channels, NULL);
	if (!ret)
		ret = open_data_chans(s);
	if (!ret)
		ret = kmig_sender_new(&s->snd, s);
	if (ret)
		return ret;
	kmig_mig_transition(s->m, KMIG_MIG_SETUP, KMIG_MIG_ACTIVE, NULL);
	ret = precopy(s);
	if (ret == KMIG_SRC_POSTCOPY && !s->m->cancel)
		return kmig_src_postcopy(s);
	if (!ret && !s->m->cancel)
		ret = switchover(s);
	return ret;
}

/* closes every channel; a channel whose far end reported failure fails the migration */
static int close_chans(struct kmig_src *s, int ret)
{
	for (unsigned int i = 0; i < s->nchans; i++)
		if (ret)
			kmig_chan_abort(&s->chans[i]);
	kmig_sender_free(s->snd);
	s->snd = NULL;
	if (s->rp.running) {
		kmig_chan_abort(&s->chans[0]);	/* ends the reader's read */
		kmig_retpath_stop(&s->rp);
	}
	for (unsigned int i = s->nchans; i-- > 0;) {
		kmig_mig_withdraw_chan(s->m, &s->chans[i]);
		if (kmig_chan_close(&s->chans[i]) && !ret) {
			/* the stream went into a command that then failed: not migrated */
			ret = kmig_src_fail(s, -EIO, "the exec command reading the stream failed");
		}
	}
	return ret;
}

/* what happens to the workload once it is over */
static void settle_workload(struct kmig_src *s, int ret)
{
	struct kmig_mig *m = s->m;

	if (!s->wl)
		return;
	apply_throttle(s, 0);	/* it ends here: never leave it slowed */
	if (s->downtime && !ret) {
		s->wl->ops->migrated(s->wl);
	} else if (s->downtime && !s->committed) {
		/* failed after the stop: run on here (pause may itself have failed) */
		if (!s->wl->ops->resume(s->wl))
			kmig_mig_event(m, KMIG_EV_RESUME, 0);
	} else if (s->downtime) {
		/*
		 * The destination was told to start and did not confirm (or,
		 * in postcopy, did not get every page): it may run.  Resuming
		 * here could run the workload twice; it stays stopped until an
		 * operator decides ('cont'), unless release-ram freed memory it
		 * needs, which no 'cont' can bring back.
		 */
		bool incomplete;

		pthread_mutex_lock(&m->lock);
		m->held = true;
		s->wl->paused = true;
		incomplete = m->incomplete;
		pthread_mutex_unlock(&m->lock);
		if (incomplete)
			snprintf(s->err + strlen(s->err), sizeof(s->err) - strlen(s->err),
				 "; the workload stays stopped here, and it cannot run here again: "
				 "release-ram freed pages it had sent");
		else
			snprintf(s->err + strlen(s->err), sizeof(s->err) - strlen(s->err),
				 "; the workload stays stopped here (it may run on the destination): "
				 "'cont' resumes it");
	}
	kmig_mig_return_workload(m);
}

void *kmig_src_thread(void *arg)
{
	struct kmig_mig *m = arg;
	struct kmig_src *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		kmig_mig_finish(m, KMIG_MIG_FAILED, "out of memory for the migration");
		kmig_mig_thread_exit(m);
		return NULL;
	}
	s->m = m;
	s->zero_hash = kmig_zero_page_hash();
	ret = run(s);
	if (m->cancel && !s->committed)
		ret = -ECANCELED;
	/* a destination that failed has told us why: its words beat a broken pipe */
	if (ret && ret != -ECANCELED && s->rp.running)
		kmig_retpath_error(&s->rp, ERROR_WAIT_MS, s->err, sizeof(s->err));
	ret = close_chans(s, ret);
	kmig_src_pages_free(s);
	settle_workload(s, ret);
	if (ret == -ECANCELED && !s->committed) {
		kmig_mig_finish(m, KMIG_MIG_CANCELLED, NULL);
	} else if (ret) {
		kmig_log(KMIG_LOG_WARN, "precopy", "migration failed: %s", s->err);
		kmig_mig_finish(m, KMIG_MIG_FAILED, s->err[0] ? s->err : strerror(-ret));
	} else {
		pthread_mutex_lock(&m->lock);
		/* QEMU's final mbps: every byte over the time after setup */
		if (kmig_now_ms() - m->start_ms > m->setup_ms)
			m->stats.mbps = (double)m->stats.transferred * 8.0 /
					(double)(kmig_now_ms() - m->start_ms - m->setup_ms) / 1000.0;
		m->stats.dirty_pages_rate = 0;
		pthread_mutex_unlock(&m->lock);
		kmig_mig_finish(m, KMIG_MIG_COMPLETED, NULL);
	}
	free(s);
	kmig_mig_thread_exit(m);
	return NULL;
}
