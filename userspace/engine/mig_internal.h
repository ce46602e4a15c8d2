/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mig_internal.h: the engine's shared state, private to migrate.c (state
 * machine), the source (src_*.c) and the destination (dst_*.c).
 */
#ifndef KMIG_MIG_INTERNAL_H
#define KMIG_MIG_INTERNAL_H

#include <pthread.h>

#include "clock.h"
#include "migrate.h"
#include "wire.h"
#include "xport.h"

#define KMIG_MIG_MAX_CHANS (1 + KMIG_WIRE_MAX_CHANNELS)
/*
 * Postcopy's window: the background sweep keeps at most this many bytes
 * on the main channel that the destination has not acknowledged (ACK), so
 * a page the destination waits for queues behind at most this much else.
 */
#define KMIG_POSTCOPY_WINDOW (512u << 10)
#define KMIG_POSTCOPY_ACK_EVERY (64u << 10)	/* the destination acknowledges this often */

/**
 * struct kmig_mig - one agent's migration state
 * @lock:        guards every field below except where noted
 * @cond:        signalled when a workload attaches (a destination waits for
 *               one) and when the migration thread ends
 * @status, @role: see struct kmig_mig_info
 * @cancel:      set by kmig_mig_cancel; polled by the migration thread
 * @thread_running: a migration thread exists (it clears this last)
 * @chans:       the open channels, so cancel can abort blocked I/O
 * @lis, @listening: destination listener while it is open
 * @wl, @wl_busy: the attached workload; busy while a migration uses it
 * @migrated_away: the last source migration completed and its workload left
 * @committed:   the source told the destination to start: cancel is too late
 * @held:        the source workload stays paused (see kmig_mig_info)
 * @incomplete:  the source freed memory it had sent (release-ram): its
 *               workload can never run here again
 * @dst_running: destination: the workload runs here before all memory came
 * @start_postcopy: migrate-start-postcopy asked for it (read without @lock)
 * @resume_req, @resume_uri: migrate resume: where a paused source reconnects
 * @recover_req, @rec_lis: migrate-recover: a paused destination's listener
 * @events:      queued events, oldest at @ev_head
 */
struct kmig_mig {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum kmig_mig_status status;
	enum kmig_mig_role role;
	bool paused;
	char error_desc[512];
	int64_t start_ms, setup_ms, end_ms;
	struct kmig_mig_stats stats;
	struct kmig_tuning tuning;
	_Atomic bool cancel;	/* read without @lock by the migration thread */
	char tracker[256];
	char transport[32];
	const struct kmig_mig_hooks *hooks;
	void *opaque;
	bool thread_running;
	struct kmig_mig_config cfg;
	struct kmig_chan *chans[KMIG_MIG_MAX_CHANS];
	struct kmig_listener lis;
	bool listening;
	struct kmig_workload *wl;
	bool wl_busy;
	bool migrated_away;
	bool incoming_done;
	bool committed;
	bool held;
	bool incomplete;
	bool dst_running;
	_Atomic bool start_postcopy;
	bool resume_req;
	struct kmig_uri resume_uri;
	bool recover_req;
	struct kmig_listener rec_lis;
	struct kmig_mig_event *events;
	size_t ev_head, ev_len, ev_cap;
	unsigned int nthreads;
	struct kmig_mig_thread threads[KMIG_MIG_MAX_THREADS];
};

/*
 * The status moves @from -> @to only if it still is @from (QEMU's
 * migrate_set_state); @desc is kept for failures.  Stamps times and queues
 * the MIGRATION event.  Returns whether it moved.
 */
bool kmig_mig_transition(struct kmig_mig *m, enum kmig_mig_status from,
			 enum kmig_mig_status to, const char *desc);
/* moves to @to from whatever non-terminal state it is in; see kmig_mig_transition */
bool kmig_mig_finish(struct kmig_mig *m, enum kmig_mig_status to, const char *desc);
/* postcopy-active, -paused or -recover */
bool kmig_mig_status_postcopy(enum kmig_mig_status st);
/* queues a PASS, STOP or RESUME event */
void kmig_mig_event(struct kmig_mig *m, enum kmig_mig_event_kind kind, unsigned int pass);
/* the migration thread takes/returns the workload */
struct kmig_workload *kmig_mig_borrow_workload(struct kmig_mig *m, uint32_t role, int wait_ms);
void kmig_mig_return_workload(struct kmig_mig *m);
/* publishes an open channel so cancel can abort it, or withdraws it */
void kmig_mig_publish_chan(struct kmig_mig *m, struct kmig_chan *c);
void kmig_mig_withdraw_chan(struct kmig_mig *m, struct kmig_chan *c);
/* the migration thread's last call: nothing of @m is touched after it */
void kmig_mig_thread_exit(struct kmig_mig *m);
/*
 * A paused postcopy waits here (migration thread) for migrate resume
 * (source: true, *@uri filled) or migrate-recover (destination: true,
 * *@lis filled; the caller owns it), or a cancel or shutdown (false).
 */
bool kmig_mig_wait_resume(struct kmig_mig *m, struct kmig_uri *uri, struct kmig_listener *lis);

void *kmig_src_thread(void *arg);
void *kmig_dst_thread(void *arg);

#endif
