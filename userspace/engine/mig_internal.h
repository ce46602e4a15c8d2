/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mig_internal.h: the engine's shared state, private to migrate.c (state
 * machine), precopy.c (source) and incoming.c (destination).
 */
#ifndef KMIG_MIG_INTERNAL_H
#define KMIG_MIG_INTERNAL_H

#include <pthread.h>

#include "clock.h"
#include "migrate.h"
#include "xport.h"

/**
 * struct kmig_mig - one agent's migration state
 * @lock:        guards every field below except where noted
 * @cond:        signalled when a workload attaches (the destination waits)
 * @cancel:      set by kmig_mig_cancel; polled by the migration thread
 * @x, @x_open:  the open channel, so cancel can abort blocked I/O
 * @wl, @wl_busy: the attached workload; busy while a migration uses it
 * @lis:         destination listener (owned by the destination thread once
 *               it runs)
 * @committed:   the source told the destination to start: cancel is too late
 * @held:        the source workload stays paused after a failure past the
 *               commit, until 'cont'
 */
struct kmig_mig {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum kmig_mig_status status;
	bool dest;
	bool paused;
	char error_desc[512];
	int64_t start_ms, setup_ms, end_ms;
	struct kmig_mig_stats stats;
	struct kmig_tuning tuning;
	_Atomic bool cancel;	/* read without @lock by the migration thread */
	char tracker[256];
	char transport[16];
	const struct kmig_mig_hooks *hooks;
	void *opaque;
	pthread_t thread;
	bool thread_live;
	struct kmig_uri uri;
	struct kmig_xport x;
	bool x_open;
	struct kmig_workload *wl;
	bool wl_busy;
	struct kmig_listener lis;
	bool incoming_started;
	bool committed;
	bool held;
};

/* sets the status (and @desc for failures), stamps times, runs the hook */
void kmig_mig_set_status(struct kmig_mig *m, enum kmig_mig_status st, const char *desc);
/* the migration thread takes/returns the workload */
struct kmig_workload *kmig_mig_borrow_workload(struct kmig_mig *m, uint32_t role,
					       int wait_ms);
void kmig_mig_return_workload(struct kmig_mig *m);
/* publishes an open channel for cancel, or withdraws it */
void kmig_mig_publish_xport(struct kmig_mig *m, bool open);

void *kmig_precopy_thread(void *arg);
void *kmig_incoming_thread(void *arg);

#endif
