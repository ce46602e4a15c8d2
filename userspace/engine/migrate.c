// SPDX-License-Identifier: GPL-2.0-only
/*
 * migrate.c: the migration state machine (see migrate.h): status and
 * timings, cancel, the workload slot shared between the daemon's loop and
 * the migration thread, and starting the source (precopy.c) or destination
 * (incoming.c) thread.  Moving pages is not done here.
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

struct kmig_mig *kmig_mig_new(const struct kmig_mig_hooks *hooks, void *opaque)
{
	struct kmig_mig *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->hooks = hooks;
	m->opaque = opaque;
	m->lis.fd = -1;
	m->x.fd = -1;
	m->tuning.max_bandwidth = 128ull << 20;
	m->tuning.downtime_limit_ms = 300;
	return m;
}

static void join(struct kmig_mig *m)
{
	if (m->thread_live) {
		pthread_join(m->thread, NULL);
		m->thread_live = false;
	}
}

void kmig_mig_free(struct kmig_mig *m)
{
	if (!m)
		return;
	kmig_mig_cancel(m);
	pthread_mutex_lock(&m->lock);
	if (m->incoming_started)
		kmig_xport_listen_abort(&m->lis);	/* a blocked accept() */
	if (m->x_open)
		m->x.ops->abort(&m->x);			/* a blocked read() */
	pthread_mutex_unlock(&m->lock);
	join(m);
	kmig_xport_listen_close(&m->lis);
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

void kmig_mig_set_status(struct kmig_mig *m, enum kmig_mig_status st, const char *desc)
{
	pthread_mutex_lock(&m->lock);
	m->status = st;
	if (desc)
		snprintf(m->error_desc, sizeof(m->error_desc), "%s", desc);
	if (st == KMIG_MIG_ACTIVE)
		m->setup_ms = kmig_now_ms() - m->start_ms;
	if (st == KMIG_MIG_COMPLETED || st == KMIG_MIG_FAILED || st == KMIG_MIG_CANCELLED) {
		m->end_ms = kmig_now_ms();
		m->paused = false;
	}
	pthread_mutex_unlock(&m->lock);
	if (m->hooks && m->hooks->status)
		m->hooks->status(m->opaque, st);
}

int kmig_mig_attach_workload(struct kmig_mig *m, struct kmig_workload *w)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->wl)
		ret = -EBUSY;
	else
		m->wl = w;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

bool kmig_mig_detach_workload(struct kmig_mig *m, struct kmig_workload *w)
{
	bool ok;

	pthread_mutex_lock(&m->lock);
	ok = m->wl == w && !m->wl_busy;
	if (ok)
		m->wl = NULL;
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

struct kmig_workload *kmig_mig_borrow_workload(struct kmig_mig *m, uint32_t role, int wait_ms)
{
	struct kmig_workload *w = NULL;
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += wait_ms / 1000;
	dl.tv_nsec += (wait_ms % 1000) * 1000000l;
	if (dl.tv_nsec >= 1000000000l) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000l;
	}
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

void kmig_mig_publish_xport(struct kmig_mig *m, bool open)
{
	pthread_mutex_lock(&m->lock);
	m->x_open = open;
	if (open)
		snprintf(m->transport, sizeof(m->transport), "%s", m->x.name);
	/* a cancel that came while connecting could not abort it: do it now */
	if (open && m->cancel)
		m->x.ops->abort(&m->x);
	pthread_mutex_unlock(&m->lock);
}

bool kmig_mig_in_progress(struct kmig_mig *m)
{
	bool busy;

	pthread_mutex_lock(&m->lock);
	busy = !m->dest && (m->status == KMIG_MIG_SETUP || m->status == KMIG_MIG_ACTIVE ||
			    m->status == KMIG_MIG_CANCELLING);
	pthread_mutex_unlock(&m->lock);
	return busy;
}

static void reset_locked(struct kmig_mig *m)
{
	m->cancel = false;
	m->committed = false;
	m->held = false;
	m->paused = false;
	m->error_desc[0] = 0;
	m->tracker[0] = 0;
	m->transport[0] = 0;
	memset(&m->stats, 0, sizeof(m->stats));
	m->start_ms = kmig_now_ms();
	m->setup_ms = m->end_ms = 0;
}

void kmig_mig_fail_early(struct kmig_mig *m, const char *desc)
{
	join(m);
	pthread_mutex_lock(&m->lock);
	reset_locked(m);
	m->status = KMIG_MIG_FAILED;
	snprintf(m->error_desc, sizeof(m->error_desc), "%s", desc ? desc : "");
	m->end_ms = m->start_ms;
	pthread_mutex_unlock(&m->lock);
}

int kmig_mig_start(struct kmig_mig *m, const struct kmig_uri *uri, struct kmig_err *err)
{
	int ret;

	join(m);	/* a previous migration's thread has ended: reap it */
	pthread_mutex_lock(&m->lock);
	reset_locked(m);
	m->uri = *uri;
	m->status = KMIG_MIG_SETUP;
	pthread_mutex_unlock(&m->lock);
	if (m->hooks && m->hooks->status)
		m->hooks->status(m->opaque, KMIG_MIG_SETUP);
	ret = pthread_create(&m->thread, NULL, kmig_precopy_thread, m);
	if (ret) {
		kmig_err_generic(err, "cannot start the migration thread: %s", strerror(ret));
		kmig_mig_set_status(m, KMIG_MIG_FAILED, err->desc);
		return -ret;
	}
	m->thread_live = true;
	return 0;
}

void kmig_mig_cancel(struct kmig_mig *m)
{
	bool notify = false;

	pthread_mutex_lock(&m->lock);
	/* past the commit the destination may already run: too late to cancel */
	if (!m->dest && !m->committed &&
	    (m->status == KMIG_MIG_SETUP || m->status == KMIG_MIG_ACTIVE)) {
		m->cancel = true;
		m->status = KMIG_MIG_CANCELLING;
		notify = true;
		if (m->x_open)
			m->x.ops->abort(&m->x);
	}
	if (m->dest && m->incoming_started && m->status != KMIG_MIG_COMPLETED &&
	    m->status != KMIG_MIG_FAILED) {
		/* only at shutdown: QEMU's migrate_cancel does not stop a destination */
		m->cancel = true;
	}
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (notify && m->hooks && m->hooks->status)
		m->hooks->status(m->opaque, KMIG_MIG_CANCELLING);
}

void kmig_mig_get_info(struct kmig_mig *m, struct kmig_mig_info *out)
{
	pthread_mutex_lock(&m->lock);
	memset(out, 0, sizeof(*out));
	out->status = m->status;
	out->dest = m->dest;
	out->paused = m->paused;
	out->held = m->held;
	snprintf(out->error_desc, sizeof(out->error_desc), "%s", m->error_desc);
	out->setup_ms = m->setup_ms;
	out->total_ms = (m->end_ms ? m->end_ms : kmig_now_ms()) - m->start_ms;
	out->stats = m->stats;
	snprintf(out->tracker, sizeof(out->tracker), "%s", m->tracker);
	snprintf(out->transport, sizeof(out->transport), "%s", m->transport);
	if (m->incoming_started && m->status != KMIG_MIG_COMPLETED) {
		out->listen_unix = m->lis.uri.kind == KMIG_URI_UNIX;
		snprintf(out->listen_host, sizeof(out->listen_host), "%s", m->lis.host);
		snprintf(out->listen_port, sizeof(out->listen_port), "%s",
			 out->listen_unix ? m->lis.uri.path : m->lis.port);
	}
	pthread_mutex_unlock(&m->lock);
}

bool kmig_mig_release_held(struct kmig_mig *m)
{
	bool held;

	pthread_mutex_lock(&m->lock);
	held = m->held && !m->wl_busy;
	if (held)
		m->held = false;
	pthread_mutex_unlock(&m->lock);
	return held;
}

bool kmig_mig_incoming_started(struct kmig_mig *m)
{
	return m->incoming_started;
}

int kmig_mig_incoming(struct kmig_mig *m, const struct kmig_uri *uri, struct kmig_err *err)
{
	char desc[512];
	int ret;

	ret = kmig_xport_listen(uri, &m->lis, desc, sizeof(desc));
	if (ret) {
		kmig_err_generic(err, "%s", desc);
		return ret;
	}
	pthread_mutex_lock(&m->lock);
	reset_locked(m);
	m->dest = true;
	m->incoming_started = true;
	m->uri = *uri;
	pthread_mutex_unlock(&m->lock);
	if (m->hooks && m->hooks->status)
		m->hooks->status(m->opaque, KMIG_MIG_SETUP);
	ret = pthread_create(&m->thread, NULL, kmig_incoming_thread, m);
	if (ret) {
		kmig_err_generic(err, "cannot start the incoming migration thread: %s",
				 strerror(ret));
		kmig_xport_listen_close(&m->lis);
		m->incoming_started = false;
		return -ret;
	}
	m->thread_live = true;
	return 0;
}
