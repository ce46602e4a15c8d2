// SPDX-License-Identifier: GPL-2.0-only
/*
 * migrate.c: the migration state machine (see migrate.h): from->to
 * transitions and the ordered event queue, cancel, the workload slot the
 * owner and the migration thread share, and starting the source (src.c)
 * or destination (dst.c) thread.  Moving pages is not done here, nor
 * postcopy's own controls (migrate_postcopy.c).
 *
 * The owner's thread never waits for the migration thread: threads are
 * detached, and only kmig_mig_free() waits (bounded) for the last one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mig_internal.h"
#include "workload.h"

#define FREE_WAIT_MS 5000	/* at shutdown, for a migration thread to end */

struct kmig_mig *kmig_mig_new(const struct kmig_mig_hooks *hooks, void *opaque)
{
	struct kmig_mig *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	m->hooks = hooks;
	m->opaque = opaque;
	m->tuning.max_bandwidth = 128ull << 20;
	m->tuning.xbzrle_cache_size = 64ull << 20;
	m->tuning.conv = (struct kmig_converge_cfg){
		.downtime_limit_ms = 300, .trigger_threshold = 50, .throttle_initial = 20,
		.throttle_increment = 10, .max_throttle = 99,
	};
	return m;
}

/* an absolute CLOCK_MONOTONIC deadline @ms from now */
static struct timespec deadline(int ms)
{
	struct timespec dl;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (ms % 1000) * 1000000l;
	if (dl.tv_nsec >= 1000000000l) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000l;
	}
	return dl;
}

/* aborts every open channel and the listener; with @lock held */
static void abort_io_locked(struct kmig_mig *m)
{
	for (unsigned int i = 0; i < KMIG_MIG_MAX_CHANS; i++)
		if (m->chans[i])
			kmig_chan_abort(m->chans[i]);
	if (m->listening)
		kmig_chan_listen_abort(&m->lis);
	if (m->recover_req)
		kmig_chan_listen_abort(&m->rec_lis);
}

bool kmig_mig_stop(struct kmig_mig *m)
{
	struct timespec dl = deadline(FREE_WAIT_MS);
	bool stuck;

	pthread_mutex_lock(&m->lock);
	m->cancel = true;
	abort_io_locked(m);
	pthread_cond_broadcast(&m->cond);
	while (m->thread_running && pthread_cond_timedwait(&m->cond, &m->lock, &dl) == 0)
		;
	stuck = m->thread_running;
	pthread_mutex_unlock(&m->lock);
	return !stuck;
}

void kmig_mig_free(struct kmig_mig *m)
{
	if (!m)
		return;
	if (!kmig_mig_stop(m)) {
		/* it may still touch @m: leave it to the process exit */
		kmig_log(KMIG_LOG_WARN, "migrate", "migration thread did not end within %d ms",
			 FREE_WAIT_MS);
		return;
	}
	if (m->listening)
		kmig_chan_listen_close(&m->lis);
	if (m->recover_req)
		kmig_chan_listen_close(&m->rec_lis);
	free(m->events);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void kmig_mig_set_tuning(struct kmig_mig *m, const struct kmig_tuning *t)
{
	pthread_mutex_lock(&m->lock);
	m->tuning = *t;
	pthread_mutex_unlock(&m->lock);
}

/* ---- events ---- */

static void queue_locked(struct kmig_mig *m, struct kmig_mig_event ev)
{
	if (m->ev_head + m->ev_len == m->ev_cap) {
		if (m->ev_head) {
			memmove(m->events, m->events + m->ev_head, m->ev_len * sizeof(ev));
			m->ev_head = 0;
		} else {
			size_t cap = m->ev_cap ? 2 * m->ev_cap : 32;
			struct kmig_mig_event *e = realloc(m->events, cap * sizeof(ev));

			if (!e) {
				kmig_log(KMIG_LOG_WARN, "migrate", "dropped an event: out of memory");
				return;
			}
			m->events = e;
			m->ev_cap = cap;
		}
	}
	m->events[m->ev_head + m->ev_len++] = ev;
}

static void notify(struct kmig_mig *m)
{
	if (m->hooks && m->hooks->notify)
		m->hooks->notify(m->opaque);
}

bool kmig_mig_next_event(struct kmig_mig *m, struct kmig_mig_event *ev)
{
	bool got;

	pthread_mutex_lock(&m->lock);
	got = m->ev_len > 0;
	if (got) {
		*ev = m->events[m->ev_head++];
		m->ev_len--;
		if (!m->ev_len)
			m->ev_head = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return got;
}

void kmig_mig_event(struct kmig_mig *m, enum kmig_mig_event_kind kind, unsigned int pass)
{
	pthread_mutex_lock(&m->lock);
	queue_locked(m, (struct kmig_mig_event){ .kind = kind, .pass = pass });
	pthread_mutex_unlock(&m->lock);
	notify(m);
}

/* ---- transitions ---- */

static bool terminal(enum kmig_mig_status st)
{
	return st == KMIG_MIG_COMPLETED || st == KMIG_MIG_FAILED || st == KMIG_MIG_CANCELLED;
}

/* with @lock held: moves to @to, stamps, queues the event */
static void set_locked(struct kmig_mig *m, enum kmig_mig_status to, const char *desc)
{
	m->status = to;
	if (desc)
		snprintf(m->error_desc, sizeof(m->error_desc), "%s", desc);
	if (to == KMIG_MIG_ACTIVE)
		m->setup_ms = kmig_now_ms() - m->start_ms;
	if (terminal(to)) {
		m->end_ms = kmig_now_ms();
		m->paused = false;
		if (m->role == KMIG_MIG_ROLE_DST && to == KMIG_MIG_COMPLETED)
			m->incoming_done = true;
	}
	queue_locked(m, (struct kmig_mig_event){ .kind = KMIG_EV_MIGRATION, .status = to });
}

bool kmig_mig_transition(struct kmig_mig *m, enum kmig_mig_status from,
			 enum kmig_mig_status to, const char *desc)
{
	bool moved;

	pthread_mutex_lock(&m->lock);
	moved = m->status == from;
	if (moved)
		set_locked(m, to, desc);
	pthread_mutex_unlock(&m->lock);
	if (moved)
		notify(m);
	return moved;
}

bool kmig_mig_finish(struct kmig_mig *m, enum kmig_mig_status to, const char *desc)
{
	bool moved;

	pthread_mutex_lock(&m->lock);
	/* a cancel that came in time always ends as cancelled */
	if (m->status == KMIG_MIG_CANCELLING)
		to = KMIG_MIG_CANCELLED;
	moved = !terminal(m->status);
	if (moved)
		set_locked(m, to, to == KMIG_MIG_FAILED ? desc : NULL);
	pthread_mutex_unlock(&m->lock);
	if (moved)
		notify(m);
	return moved;
}

void kmig_mig_thread_exit(struct kmig_mig *m)
{
	pthread_mutex_lock(&m->lock);
	m->thread_running = false;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/* ---- the workload slot ---- */

int kmig_mig_attach_workload(struct kmig_mig *m, struct kmig_workload *w)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->wl) {
		ret = -EBUSY;
	} else {
		m->wl = w;
		m->migrated_away = false;
		/* registered stopped (its previous agent paused it): cont decides */
		m->held = w->paused;
	}
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

bool kmig_mig_detach_workload(struct kmig_mig *m, struct kmig_workload *w)
{
	bool ok;

	pthread_mutex_lock(&m->lock);
	ok = m->wl == w && !m->wl_busy;
	if (ok) {
		m->wl = NULL;
		m->held = false;
		m->migrated_away = m->role == KMIG_MIG_ROLE_SRC && m->status == KMIG_MIG_COMPLETED;
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

bool kmig_mig_workload_busy(struct kmig_mig *m)
{
	bool busy;

	pthread_mutex_lock(&m->lock);
	busy = m->wl_busy;
	pthread_mutex_unlock(&m->lock);
	return busy;
}

int kmig_mig_peek_workload(struct kmig_mig *m,
			   int (*fn)(struct kmig_workload *w, bool busy, void *arg), void *arg)
{
	int ret;

	pthread_mutex_lock(&m->lock);
	ret = m->wl ? fn(m->wl, m->wl_busy, arg) : -ENOENT;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

struct kmig_workload *kmig_mig_borrow_workload(struct kmig_mig *m, uint32_t role, int wait_ms)
{
	struct timespec dl = deadline(wait_ms);
	struct kmig_workload *w = NULL;

	pthread_mutex_lock(&m->lock);
	while (!m->cancel && !(m->wl && m->wl->role == role) &&
	       pthread_cond_timedwait(&m->cond, &m->lock, &dl) == 0)
		;
	if (!m->cancel && m->wl && m->wl->role == role && !m->wl_busy) {
		w = m->wl;
		m->wl_busy = true;
	}
	pthread_mutex_unlock(&m->lock);
	return w;
}

void kmig_mig_return_workload(struct kmig_mig *m)
{
	pthread_mutex_lock(&m->lock);
	m->wl_busy = false;
	pthread_mutex_unlock(&m->lock);
	if (m->hooks && m->hooks->workload_done)
		m->hooks->workload_done(m->opaque);
}

/* ---- channels ---- */

void kmig_mig_publish_chan(struct kmig_mig *m, struct kmig_chan *c)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < KMIG_MIG_MAX_CHANS; i++) {
		if (!m->chans[i]) {
			m->chans[i] = c;
			break;
		}
	}
	if (c->id == 0 && c->ops)
		snprintf(m->transport, sizeof(m->transport), "%s", c->ops->scheme);
	/* a cancel that came while connecting could not abort it: do it now */
	if (m->cancel)
		kmig_chan_abort(c);
	pthread_mutex_unlock(&m->lock);
}

void kmig_mig_withdraw_chan(struct kmig_mig *m, struct kmig_chan *c)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < KMIG_MIG_MAX_CHANS; i++)
		if (m->chans[i] == c)
			m->chans[i] = NULL;
	pthread_mutex_unlock(&m->lock);
}

/* ---- starting and stopping ---- */

bool kmig_mig_in_progress(struct kmig_mig *m)
{
	bool busy;

	pthread_mutex_lock(&m->lock);
	busy = m->role == KMIG_MIG_ROLE_SRC && !terminal(m->status) && m->status != KMIG_MIG_NONE;
	pthread_mutex_unlock(&m->lock);
	return busy;
}

bool kmig_mig_incoming_pending(struct kmig_mig *m)
{
	bool busy;

	pthread_mutex_lock(&m->lock);
	busy = m->role == KMIG_MIG_ROLE_DST && !terminal(m->status);
	pthread_mutex_unlock(&m->lock);
	return busy;
}

bool kmig_mig_incoming_done(struct kmig_mig *m)
{
	bool done;

	pthread_mutex_lock(&m->lock);
	done = m->incoming_done;
	pthread_mutex_unlock(&m->lock);
	return done;
}

/* a fresh migration as @role; with @lock held */
static void reset_locked(struct kmig_mig *m, enum kmig_mig_role role)
{
	m->role = role;
	m->cancel = false;
	m->committed = false;
	m->held = false;
	m->incomplete = false;
	m->dst_running = false;
	m->start_postcopy = false;
	m->resume_req = false;
	m->paused = false;
	m->error_desc[0] = 0;
	m->tracker[0] = 0;
	m->transport[0] = 0;
	memset(&m->stats, 0, sizeof(m->stats));
	m->nthreads = 0;
	m->stats.expected_downtime_ms = (int64_t)m->tuning.conv.downtime_limit_ms;
	m->start_ms = kmig_now_ms();
	m->setup_ms = m->end_ms = 0;
}

void kmig_mig_fail_early(struct kmig_mig *m, const char *desc)
{
	pthread_mutex_lock(&m->lock);
	if (!m->thread_running && !(m->role == KMIG_MIG_ROLE_DST && !terminal(m->status))) {
		reset_locked(m, KMIG_MIG_ROLE_SRC);
		m->status = KMIG_MIG_FAILED;
		snprintf(m->error_desc, sizeof(m->error_desc), "%s", desc ? desc : "");
		m->end_ms = m->start_ms;
	}
	pthread_mutex_unlock(&m->lock);
}

/* starts @fn on a detached thread; with @lock held; 0 or -errno */
static int spawn_locked(struct kmig_mig *m, void *(*fn)(void *))
{
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&t, &attr, fn, m);
	pthread_attr_destroy(&attr);
	if (!ret)
		m->thread_running = true;
	return -ret;
}

int kmig_mig_start(struct kmig_mig *m, const struct kmig_mig_config *cfg, char *err, size_t n)
{
	int ret;

	pthread_mutex_lock(&m->lock);
	if (m->role == KMIG_MIG_ROLE_DST && !terminal(m->status)) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, n, "this agent is waiting for an incoming migration");
		return -EALREADY;
	}
	if (m->thread_running) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, n, "a migration is in progress");
		return -EBUSY;
	}
	reset_locked(m, KMIG_MIG_ROLE_SRC);
	m->cfg = *cfg;
	set_locked(m, KMIG_MIG_SETUP, NULL);
	ret = spawn_locked(m, kmig_src_thread);
	if (ret) {
		snprintf(err, n, "cannot start the migration thread: %s", strerror(-ret));
		set_locked(m, KMIG_MIG_FAILED, err);
	}
	pthread_mutex_unlock(&m->lock);
	notify(m);
	return ret;
}

bool kmig_mig_status_postcopy(enum kmig_mig_status st)
{
	return st == KMIG_MIG_POSTCOPY_ACTIVE || st == KMIG_MIG_POSTCOPY_PAUSED ||
	       st == KMIG_MIG_POSTCOPY_RECOVER;
}

int kmig_mig_cancel(struct kmig_mig *m, char *err, size_t n)
{
	bool notified = false;
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	/* past the commit the destination may already run: too late to cancel */
	if (m->role == KMIG_MIG_ROLE_SRC && !m->committed &&
	    (m->status == KMIG_MIG_SETUP || m->status == KMIG_MIG_ACTIVE)) {
		m->cancel = true;
		set_locked(m, KMIG_MIG_CANCELLING, NULL);
		notified = true;
		abort_io_locked(m);
	} else if (m->role == KMIG_MIG_ROLE_SRC && m->status == KMIG_MIG_POSTCOPY_PAUSED) {
		/* nothing runs here or there: give up, keeping every page (held) */
		m->cancel = true;
	} else if (m->role == KMIG_MIG_ROLE_SRC && kmig_mig_status_postcopy(m->status)) {
		if (err)
			snprintf(err, n, "Postcopy migration in progress, cannot cancel.");
		ret = -EBUSY;
	}
	/* QEMU's migrate_cancel does not stop a destination */
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (notified)
		notify(m);
	return ret;
}

void kmig_mig_get_info(struct kmig_mig *m, struct kmig_mig_info *out)
{
	pthread_mutex_lock(&m->lock);
	memset(out, 0, sizeof(*out));
	out->status = m->status;
	out->role = m->role;
	out->paused = m->paused;
	out->dst_running = m->dst_running;
	out->held = m->held;
	out->have_workload = m->wl != NULL;
	out->listening = m->listening && m->role == KMIG_MIG_ROLE_DST && !terminal(m->status);
	snprintf(out->error_desc, sizeof(out->error_desc), "%s", m->error_desc);
	out->setup_ms = m->setup_ms;
	out->total_ms = (m->end_ms ? m->end_ms : kmig_now_ms()) - m->start_ms;
	out->stats = m->stats;
	snprintf(out->tracker, sizeof(out->tracker), "%s", m->tracker);
	snprintf(out->transport, sizeof(out->transport), "%s", m->transport);
	out->nthreads = m->nthreads;
	memcpy(out->threads, m->threads, m->nthreads * sizeof(m->threads[0]));
	if (m->role == KMIG_MIG_ROLE_DST && m->status != KMIG_MIG_COMPLETED && m->lis.ops) {
		/* while migrate-recover listens, that is where the source must come */
		const struct kmig_listener *l = m->recover_req ? &m->rec_lis : &m->lis;

		out->listen_unix = l->uri.kind == KMIG_URI_UNIX;
		snprintf(out->listen_host, sizeof(out->listen_host), "%s", l->host);
		snprintf(out->listen_port, sizeof(out->listen_port), "%s",
			 out->listen_unix ? l->uri.path : l->port);
	}
	pthread_mutex_unlock(&m->lock);
}

int kmig_mig_cont(struct kmig_mig *m, char *err, size_t n)
{
	struct kmig_workload *w = NULL;
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->role == KMIG_MIG_ROLE_SRC && kmig_mig_status_postcopy(m->status)) {
		snprintf(err, n, "the migration is in postcopy: the workload runs on the "
			 "destination, and resuming it here too would run it twice");
		ret = -EBUSY;
	} else if (m->wl_busy && m->paused) {
		snprintf(err, n, "the workload is stopped for a migration's switch-over");
		ret = -EBUSY;
	} else if (m->held && m->incomplete) {
		snprintf(err, n, "the source freed memory it had sent to the destination "
			 "(release-ram): the workload cannot run here any more");
		ret = -EPERM;
	} else if (m->held && m->wl && !m->wl_busy) {
		m->held = false;
		w = m->wl;
		m->wl_busy = true;	/* nobody else may use it while we call it */
	} else if (!m->wl && m->migrated_away) {
		snprintf(err, n, "the workload was migrated to the destination and has left "
			 "this agent: there is nothing to resume here");
		ret = -ENOENT;
	} else if (m->wl && m->role == KMIG_MIG_ROLE_SRC && m->status == KMIG_MIG_COMPLETED) {
		snprintf(err, n, "the workload was migrated to the destination and runs there: "
			 "resuming it here too would run it twice");
		ret = -EPERM;
	}
	pthread_mutex_unlock(&m->lock);
	if (!w)
		return ret;
	ret = w->ops->resume(w);
	pthread_mutex_lock(&m->lock);
	m->wl_busy = false;
	if (!ret)
		w->paused = false;
	else
		m->held = true;
	pthread_mutex_unlock(&m->lock);
	if (ret) {
		snprintf(err, n, "the workload could not be resumed: %s", strerror(-ret));
		return ret;
	}
	kmig_mig_event(m, KMIG_EV_RESUME, 0);
	return 0;
}

int kmig_mig_incoming(struct kmig_mig *m, const struct kmig_mig_config *cfg, char *err,
		      size_t n)
{
	struct kmig_listener lis;
	int ret;

	pthread_mutex_lock(&m->lock);
	if ((m->role == KMIG_MIG_ROLE_DST && !terminal(m->status)) || m->thread_running) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, n, "The incoming migration has already been started");
		return -EALREADY;
	}
	pthread_mutex_unlock(&m->lock);
	ret = kmig_chan_listen(&lis, &cfg->uri, err, n);
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	reset_locked(m, KMIG_MIG_ROLE_DST);
	m->cfg = *cfg;
	m->lis = lis;
	m->listening = true;
	set_locked(m, KMIG_MIG_SETUP, NULL);
	ret = spawn_locked(m, kmig_dst_thread);
	if (ret) {
		snprintf(err, n, "cannot start the incoming migration thread: %s", strerror(-ret));
		m->listening = false;
		kmig_chan_listen_close(&m->lis);
		set_locked(m, KMIG_MIG_FAILED, err);
	}
	pthread_mutex_unlock(&m->lock);
	notify(m);
	return ret;
}
