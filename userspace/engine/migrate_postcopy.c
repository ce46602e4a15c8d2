// SPDX-License-Identifier: GPL-2.0-only
/*
 * migrate_postcopy.c: the state machine's postcopy controls (migrate.h):
 * migrate-start-postcopy's flag, migrate-pause, migrate resume and
 * migrate-recover, and the wait a paused migration thread sits in until
 * one of them (or a cancel) comes.  Only flags, URIs and listeners change
 * hands here; src_postcopy.c and dst_postcopy.c act on them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mig_internal.h"

int kmig_mig_start_postcopy(struct kmig_mig *m)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->role != KMIG_MIG_ROLE_SRC || m->status == KMIG_MIG_NONE)
		ret = -ENOENT;
	else if (!m->cfg.postcopy)
		ret = -EINVAL;
	else if (m->status == KMIG_MIG_SETUP || m->status == KMIG_MIG_ACTIVE)
		m->start_postcopy = true;	/* racing the end is fine, as in QEMU */
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int kmig_mig_pause(struct kmig_mig *m)
{
	int ret = -EINVAL;

	pthread_mutex_lock(&m->lock);
	if (m->status == KMIG_MIG_POSTCOPY_ACTIVE) {
		/* the migration thread sees its channels fail and pauses */
		for (unsigned int i = 0; i < KMIG_MIG_MAX_CHANS; i++)
			if (m->chans[i])
				kmig_chan_abort(m->chans[i]);
		ret = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int kmig_mig_resume(struct kmig_mig *m, const struct kmig_uri *uri, char *err, size_t n)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->role != KMIG_MIG_ROLE_SRC || m->status != KMIG_MIG_POSTCOPY_PAUSED ||
	    m->resume_req || m->cancel) {
		snprintf(err, n, "Cannot resume if there is no paused migration");
		ret = -EINVAL;
	} else {
		m->resume_uri = *uri;
		m->resume_req = true;
		pthread_cond_broadcast(&m->cond);
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int kmig_mig_recover(struct kmig_mig *m, const struct kmig_uri *uri, char *err, size_t n)
{
	struct kmig_listener lis;
	int ret;

	pthread_mutex_lock(&m->lock);
	ret = m->role == KMIG_MIG_ROLE_DST && m->status == KMIG_MIG_POSTCOPY_PAUSED &&
	      !m->recover_req ? 0 : -EINVAL;
	pthread_mutex_unlock(&m->lock);
	if (ret) {
		snprintf(err, n, "Migrate recover can only be run when postcopy is paused.");
		return ret;
	}
	ret = kmig_chan_listen(&lis, uri, err, n);
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	if (m->status == KMIG_MIG_POSTCOPY_PAUSED && !m->recover_req) {
		m->rec_lis = lis;
		m->recover_req = true;
		pthread_cond_broadcast(&m->cond);
	} else {
		snprintf(err, n, "Migrate recover can only be run when postcopy is paused.");
		ret = -EINVAL;
	}
	pthread_mutex_unlock(&m->lock);
	if (ret)
		kmig_chan_listen_close(&lis);
	return ret;
}

bool kmig_mig_wait_resume(struct kmig_mig *m, struct kmig_uri *uri, struct kmig_listener *lis)
{
	bool got = false;

	pthread_mutex_lock(&m->lock);
	while (!m->cancel && !(m->role == KMIG_MIG_ROLE_SRC ? m->resume_req : m->recover_req))
		pthread_cond_wait(&m->cond, &m->lock);
	if (!m->cancel && m->role == KMIG_MIG_ROLE_SRC) {
		*uri = m->resume_uri;
		m->resume_req = false;
		got = true;
	} else if (!m->cancel) {
		*lis = m->rec_lis;
		got = true;
	}
	pthread_mutex_unlock(&m->lock);
	return got;
}
