// SPDX-License-Identifier: GPL-2.0-only
/*
 * dpdk_gate.c: the gate between EAL's interrupt thread and memif's data
 * path (dpdk_gate.h).  DPDK 22.11's memif, when its peer goes, unmaps the
 * rings from EAL's interrupt thread (memif_disconnect) without waiting for
 * bursts that other threads run on them; a thread inside a burst then reads
 * unmapped memory.  The interrupt thread runs every callback in turn, so a
 * callback of ours that does not return keeps memif's away: an EAL alarm
 * parks the thread in park() while a memif device is open.  Bursts run
 * only while it is parked.  When the park ends, the gate closes, the bursts
 * inside finish, and the thread goes back to its events for a moment (the
 * next alarm is OUT_US away): memif's messages and a peer's departure are
 * handled then, with no burst running.  The thread is parked only when
 * somebody wants in: a burst was turned away (its link is up) or bursts came
 * during the last park (then for BUSY_NS, so that they rarely wait), or a
 * device call holds the gate (then until it is done).  Otherwise the alarm
 * just looks again every IDLE_US, and memif's handshake, a few messages each
 * way, runs at its own pace.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include <rte_alarm.h>
#include <rte_interrupts.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "clock.h"
#include "dpdk_gate.h"
#include "log.h"

#define BUSY_NS  20000000L	/* a park while bursts come: 20 ms */
#define IDLE_US  1000		/* how often an idle gate looks whether it is wanted */
#define OUT_US   100		/* the interrupt thread's own time between parks */

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static unsigned int users;		/* memif devices open (under lk) */
static bool scheduled;			/* an alarm is set, or park() runs (under lk) */

static atomic_bool shut = true;		/* no burst may start: the thread is not parked */
/* bursts and device calls in progress, a count per thread (lcore id), on lines of their own */
static struct slot {
	atomic_uint n;
} __attribute__((aligned(64))) inside[RTE_MAX_LCORE + 1];	/* the last: threads without one */
static atomic_uint holding;		/* device calls among them, or waiting to be */
static atomic_bool used;		/* a burst started during this park */
static atomic_bool want;		/* one was turned away */
static atomic_ulong parks, turned_away;	/* for the log */
static bool parked_for_good;		/* under lk */

static void cv_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &a);
	pthread_condattr_destroy(&a);
}

static struct timespec after(long ns)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += ns;
	t.tv_sec += t.tv_nsec / 1000000000L;
	t.tv_nsec %= 1000000000L;
	return t;
}

/* EAL's interrupt thread, from an alarm: parks while wanted, then lets it go a moment */
static void park(void *arg)
{
	unsigned int next = IDLE_US;

	(void)arg;
	pthread_mutex_lock(&lk);
	if (users && (atomic_exchange(&want, false) || atomic_load(&used) ||
		      atomic_load(&holding))) {
		struct timespec until = after(BUSY_NS);

		atomic_store(&used, false);
		atomic_store(&shut, false);
		atomic_fetch_add_explicit(&parks, 1, memory_order_relaxed);
		/* a device call's end wakes it: with no bursts meanwhile, the park is over */
		while (users && pthread_cond_timedwait(&cv, &lk, &until) != ETIMEDOUT &&
		       (atomic_load(&holding) || atomic_load(&used)))
			;
		/* seq_cst with enter(): a burst either sees the gate shut or is counted */
		atomic_store(&shut, true);
		pthread_mutex_unlock(&lk);
		for (unsigned int i = 0; i <= RTE_MAX_LCORE; i++)
			while (atomic_load(&inside[i].n))
				rte_pause();
		pthread_mutex_lock(&lk);
		next = OUT_US;
	}
	scheduled = users && !rte_eal_alarm_set(next, park, NULL);
	if (users && !scheduled)
		kmig_log(KMIG_LOG_ERR, "dpdk", "cannot set the alarm that parks EAL's interrupt "
			 "thread: memif bursts stay shut out");
	if (!scheduled)
		pthread_cond_broadcast(&cv);	/* disarm() waits for this */
	pthread_mutex_unlock(&lk);
}

int kmig_dpdk_gate_arm(void)
{
	int ret = 0;

	pthread_once(&cv_once, cv_init);
	pthread_mutex_lock(&lk);
	users++;
	if (!scheduled) {
		if (rte_eal_alarm_set(1, park, NULL)) {
			users--;
			ret = -ENOMEM;
		} else {
			scheduled = true;
		}
	}
	pthread_mutex_unlock(&lk);
	return ret;
}

/*
 * The last device gone: park() is let run once more, sees no users and sets
 * no alarm.  Cancelling the alarm instead would leave EAL's timer armed, and
 * its firing later wakes the interrupt thread, which then walks its sources;
 * after EAL's cleanup at exit one of them (a memif listener that 22.11
 * never unregisters) lies in unmapped memory: a SEGV on the way out.
 */
void kmig_dpdk_gate_disarm(void)
{
	struct timespec until = after(1000000000L);
	bool stuck = false;

	pthread_mutex_lock(&lk);
	if (users && !--users)
		pthread_cond_broadcast(&cv);
	while (!users && scheduled && !stuck)
		stuck = pthread_cond_timedwait(&cv, &lk, &until) == ETIMEDOUT;
	pthread_mutex_unlock(&lk);
	if (stuck) {
		/* the interrupt thread did not come round in a second: take the alarm back */
		kmig_log(KMIG_LOG_WARN, "dpdk", "EAL's interrupt thread did not run the gate's alarm "
			 "within 1 s; cancelling it");
		rte_eal_alarm_cancel(park, NULL);
		pthread_mutex_lock(&lk);
		if (!users)
			scheduled = false;
		pthread_mutex_unlock(&lk);
	}
}

static atomic_uint *mine(void)
{
	unsigned int id = rte_lcore_id();

	return &inside[id < RTE_MAX_LCORE ? id : RTE_MAX_LCORE].n;
}

bool kmig_dpdk_gate_enter(void)
{
	atomic_uint *n = mine();

	atomic_fetch_add(n, 1);
	if (!atomic_load(&shut)) {
		if (!atomic_load_explicit(&used, memory_order_relaxed))
			atomic_store_explicit(&used, true, memory_order_relaxed);
		return true;
	}
	atomic_fetch_sub(n, 1);
	atomic_fetch_add_explicit(&turned_away, 1, memory_order_relaxed);
	if (!atomic_load_explicit(&want, memory_order_relaxed))
		atomic_store(&want, true);
	return false;
}

void kmig_dpdk_gate_leave(void)
{
	atomic_fetch_sub_explicit(mine(), 1, memory_order_release);
}

bool kmig_dpdk_gate_wait(unsigned int us)
{
	int64_t end = 0;

	while (!kmig_dpdk_gate_enter()) {
		int64_t t = kmig_now_ns();

		if (!end)
			end = t + (int64_t)us * 1000;
		else if (t >= end)
			return false;
		sched_yield();
	}
	return true;
}

void kmig_dpdk_gate_hold(void)
{
	struct timespec ts = { 0, 50000 };
	atomic_uint *n = mine();

	atomic_fetch_add(&holding, 1);
	for (;;) {
		atomic_fetch_add(n, 1);
		if (!atomic_load(&shut))
			return;
		atomic_fetch_sub(n, 1);
		nanosleep(&ts, NULL);
	}
}

void kmig_dpdk_gate_release(void)
{
	kmig_dpdk_gate_leave();
	atomic_fetch_sub(&holding, 1);
	pthread_mutex_lock(&lk);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lk);
}

/* EAL's interrupt thread, at exit: stays here until the process ends */
static void park_for_good(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lk);
	parked_for_good = true;
	pthread_cond_broadcast(&cv);
	for (;;)
		pthread_cond_wait(&cv, &lk);
}

/*
 * Not an alarm: EAL's cleanup takes the alarm's callback back and waits
 * while it runs.  A pipe of our own, with a byte in it, brings the thread
 * to park_for_good() (EAL reads one byte from an external source).
 */
bool kmig_dpdk_gate_park_for_good(void)
{
	static struct rte_intr_handle *h;	/* kept: the thread stays on it */
	struct timespec until = after(1000000000L);
	int fds[2];

	h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);

	pthread_once(&cv_once, cv_init);
	if (!h || pipe(fds))
		return false;
	if (rte_intr_fd_set(h, fds[0]) || rte_intr_type_set(h, RTE_INTR_HANDLE_EXT) ||
	    rte_intr_callback_register(h, park_for_good, NULL) || write(fds[1], "p", 1) != 1)
		return false;
	pthread_mutex_lock(&lk);
	while (!parked_for_good && pthread_cond_timedwait(&cv, &lk, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&lk);
	return parked_for_good;
}

void kmig_dpdk_gate_counts(unsigned long *nparks, unsigned long *nturned)
{
	*nparks = atomic_load(&parks);
	*nturned = atomic_load(&turned_away);
}
