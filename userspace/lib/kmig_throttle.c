// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmig_throttle.c: the cooperative throttle behind KMIG_WL_THROTTLE (see
 * kmig_throttle.h and libkmig.h).  Why it is built this way: the threads to
 * slow down are the workload's own (a VMM's vCPUs), which may never call
 * into libkmig again -- they run guest code, or a tight write loop.  So a
 * ticker thread per context sends each registered thread a real-time
 * signal once per period, and the handler, running on that thread, sleeps:
 * per 10 ms of running, pct/(100-pct) x 10 ms asleep, which is QEMU's
 * cpu_throttle arithmetic (its timer fires every 10 ms / (1 - pct) and
 * each vCPU then sleeps pct / (1 - pct) x 10 ms).
 *
 * What the handler may touch is only this file's slot table: a fixed array,
 * found by the index the signal carries (sigqueue value), checked against
 * the thread's own tid, so it needs no lock, no TLS and no allocation.  A
 * sleep is a futex wait on the slot's wake word, so lifting the throttle
 * (THROTTLE 0, PAUSE, agent lost, kmig_close) cuts every sleep short at
 * once.  A slot's pending flag keeps at most one signal in flight per
 * thread (real-time signals queue; a slow handler must not pile them up).
 * Threads that exit are forgotten by a thread-specific-data destructor; a
 * thread that vanished without it (raw SYS_exit) is found when signalling
 * it fails with ESRCH.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kmig_throttle.h"

#define SLICE_NS    10000000ull	/* QEMU's CPU_THROTTLE_TIMESLICE_NS */
#define MAX_THREADS 1024	/* registered threads per process */

/* a registered thread; the fields the handler reads are __atomic */
struct slot {
	int tid;		/* 0: free */
	int pending;		/* a signal is queued for it or being handled */
	uint32_t wake;		/* futex word: bumped to end a sleep early */
	uint64_t sleep_ns;	/* how long the next signal makes it sleep */
	struct kmig_throttle *owner;	/* under reg_lock */
};

static struct slot slots[MAX_THREADS];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static bool handler_installed;		/* under reg_lock; never uninstalled */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t slot_key;		/* the calling thread's slot index + 1 */
static int key_err;

/**
 * struct kmig_throttle - one context's throttle
 * @lock:    guards everything below; taken before reg_lock
 * @pct:     applied now (also read __atomic, without @lock)
 * @changed: @pct changed while the ticker runs: tick now
 * @running: @thr exists
 * @stop:    @thr must end
 */
struct kmig_throttle {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int pct;
	bool changed, running, stop;
	pthread_t thr;
};

int kmig_throttle_sig(void)
{
	/*
	 * Applications conventionally take real-time signals upwards from
	 * SIGRTMIN and libraries downwards from SIGRTMAX; SIGRTMAX itself is
	 * often claimed (debuggers, profilers), so: the third from the top.
	 */
	return SIGRTMAX - 2;
}

static int my_tid(void)
{
	return (int)syscall(SYS_gettid);
}

static void futex_wake_all(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* ---- the handler: async-signal-safe, lock-free ---- */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved = errno, idx;
	struct timespec now, end;
	struct slot *s;
	uint64_t ns;
	uint32_t w;

	(void)sig;
	(void)uc;
	/* only ours: queued by this process, naming a slot that is this thread's */
	if (si->si_code != SI_QUEUE || si->si_pid != getpid())
		goto out;
	idx = si->si_value.sival_int;
	if (idx < 0 || idx >= MAX_THREADS)
		goto out;
	s = &slots[idx];
	if (__atomic_load_n(&s->tid, __ATOMIC_SEQ_CST) != my_tid())
		goto out;	/* meant for a thread that has left the slot */
	/* wake first: a lift between the two loads is seen by the futex wait */
	w = __atomic_load_n(&s->wake, __ATOMIC_SEQ_CST);
	ns = __atomic_load_n(&s->sleep_ns, __ATOMIC_SEQ_CST);
	if (ns) {
		clock_gettime(CLOCK_MONOTONIC, &end);
		end.tv_sec += (time_t)(ns / 1000000000u);
		end.tv_nsec += (long)(ns % 1000000000u);
		if (end.tv_nsec >= 1000000000l) {
			end.tv_sec++;
			end.tv_nsec -= 1000000000l;
		}
		for (;;) {
			struct timespec rel;

			clock_gettime(CLOCK_MONOTONIC, &now);
			rel.tv_sec = end.tv_sec - now.tv_sec;
			rel.tv_nsec = end.tv_nsec - now.tv_nsec;
			if (rel.tv_nsec < 0) {
				rel.tv_sec--;
				rel.tv_nsec += 1000000000l;
			}
			if (rel.tv_sec < 0)
				break;
			syscall(SYS_futex, &s->wake, FUTEX_WAIT_PRIVATE, w, &rel, NULL, 0);
			if (__atomic_load_n(&s->wake, __ATOMIC_SEQ_CST) != w)
				break;
		}
	}
	__atomic_store_n(&s->pending, 0, __ATOMIC_SEQ_CST);
out:
	errno = saved;
}

/* ---- the slot table ---- */

/*
 * reg_lock with the throttle signal blocked: a registered thread must not
 * fall asleep in the handler while it holds the lock a lift needs.
 */
/* the throttle signal blocked in the calling thread (it may be a registered one) */
static void sig_block(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, kmig_throttle_sig());
	pthread_sigmask(SIG_BLOCK, &s, old);
}

static void reg_enter(sigset_t *old)
{
	sig_block(old);
	pthread_mutex_lock(&reg_lock);
}

static void reg_leave(const sigset_t *old)
{
	pthread_mutex_unlock(&reg_lock);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* under reg_lock: ends any sleep of @s's thread now */
static void slot_kick(struct slot *s)
{
	__atomic_store_n(&s->sleep_ns, 0, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&s->wake, 1, __ATOMIC_SEQ_CST);
	futex_wake_all(&s->wake);
}

/* under reg_lock */
static void slot_free(struct slot *s)
{
	s->owner = NULL;
	__atomic_store_n(&s->tid, 0, __ATOMIC_SEQ_CST);
	slot_kick(s);
	__atomic_store_n(&s->pending, 0, __ATOMIC_SEQ_CST);
}

/* under reg_lock: the calling thread's slot, or NULL */
static struct slot *slot_mine(void)
{
	int tid = my_tid();

	for (int i = 0; i < MAX_THREADS; i++)
		if (__atomic_load_n(&slots[i].tid, __ATOMIC_SEQ_CST) == tid)
			return &slots[i];
	return NULL;
}

/* thread exit: forget the thread's slot (it cannot sleep any more) */
static void on_thread_exit(void *v)
{
	int idx = (int)(uintptr_t)v - 1;
	sigset_t old;

	if (idx < 0 || idx >= MAX_THREADS)
		return;
	reg_enter(&old);
	if (__atomic_load_n(&slots[idx].tid, __ATOMIC_SEQ_CST) == my_tid())
		slot_free(&slots[idx]);
	reg_leave(&old);
}

static void make_key(void)
{
	key_err = pthread_key_create(&slot_key, on_thread_exit);
}

/* under reg_lock: installs the handler once; -EBUSY if the signal is taken */
static int install_handler(void)
{
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_RESTART };
	struct sigaction old;
	int sig = kmig_throttle_sig();

	if (handler_installed)
		return 0;
	if (sigaction(sig, NULL, &old) < 0)
		return -errno;
	if ((old.sa_flags & SA_SIGINFO) ? old.sa_sigaction != on_signal
					: old.sa_handler != SIG_DFL)
		return -EBUSY;	/* the application uses it: do not steal it */
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) < 0)
		return -errno;
	handler_installed = true;
	return 0;
}

int kmig_throttle_thread_register(struct kmig_throttle *t)
{
	struct slot *s = NULL;
	sigset_t old, unblock;
	int r = 0, idx = -1;

	if (!t)
		return -EINVAL;
	pthread_once(&key_once, make_key);
	if (key_err)
		return -key_err;
	reg_enter(&old);
	if (slot_mine())
		r = -EEXIST;
	if (!r)
		r = install_handler();
	for (int i = 0; !r && i < MAX_THREADS; i++) {
		if (!__atomic_load_n(&slots[i].tid, __ATOMIC_SEQ_CST)) {
			s = &slots[i];
			idx = i;
			break;
		}
	}
	if (!r && !s)
		r = -ENOSPC;
	if (!r) {
		r = -pthread_setspecific(slot_key, (void *)(uintptr_t)(idx + 1));
		if (!r) {
			s->owner = t;
			__atomic_store_n(&s->sleep_ns, 0, __ATOMIC_SEQ_CST);
			__atomic_store_n(&s->pending, 0, __ATOMIC_SEQ_CST);
			__atomic_store_n(&s->tid, my_tid(), __ATOMIC_SEQ_CST);
		}
	}
	reg_leave(&old);
	if (!r) {
		/* a registered thread must be able to take the signal */
		sigemptyset(&unblock);
		sigaddset(&unblock, kmig_throttle_sig());
		pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
	}
	return r;
}

int kmig_throttle_thread_unregister(struct kmig_throttle *t)
{
	struct slot *s;
	sigset_t old;
	int r = 0;

	if (!t)
		return -EINVAL;
	reg_enter(&old);
	s = slot_mine();
	if (!s || s->owner != t)
		r = -ENOENT;
	else
		slot_free(s);
	reg_leave(&old);
	if (!r)
		pthread_setspecific(slot_key, NULL);
	return r;
}

/* ---- the ticker ---- */

/* one signal to thread @tid naming slot @idx; 0 or -errno */
static int send_tick(int tid, int idx)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = kmig_throttle_sig();
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = idx;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, si.si_signo, &si) < 0)
		return -errno;
	return 0;
}

/* under t->lock: signals each of @t's threads that is not still asleep */
static void tick(struct kmig_throttle *t, uint64_t sleep_ns)
{
	sigset_t old;

	reg_enter(&old);
	for (int i = 0; i < MAX_THREADS; i++) {
		struct slot *s = &slots[i];
		int tid = __atomic_load_n(&s->tid, __ATOMIC_SEQ_CST), r;

		if (!tid || s->owner != t)
			continue;
		if (__atomic_load_n(&s->pending, __ATOMIC_SEQ_CST)) {
			/* still asleep, or not scheduled yet: is it alive at all? */
			if (syscall(SYS_tgkill, getpid(), tid, 0) < 0 && errno == ESRCH)
				slot_free(s);
			continue;
		}
		__atomic_store_n(&s->sleep_ns, sleep_ns, __ATOMIC_SEQ_CST);
		__atomic_store_n(&s->pending, 1, __ATOMIC_SEQ_CST);
		r = send_tick(tid, i);
		if (r == -ESRCH)
			slot_free(s);	/* died without its exit destructor */
		else if (r)
			__atomic_store_n(&s->pending, 0, __ATOMIC_SEQ_CST);	/* try next time */
	}
	reg_leave(&old);
}

static void add_ns(struct timespec *ts, uint64_t ns)
{
	ns += (uint64_t)ts->tv_nsec;
	ts->tv_sec += (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *ticker(void *arg)
{
	struct kmig_throttle *t = arg;
	struct timespec next, now;

	pthread_mutex_lock(&t->lock);
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!t->stop) {
		unsigned int p = t->pct;
		uint64_t period = SLICE_NS * 100 / (100 - p);

		tick(t, SLICE_NS * p / (100 - p));
		/* a period later; after a stall, from now (no catch-up burst) */
		add_ns(&next, period);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (before(&next, &now)) {
			next = now;
			add_ns(&next, period);
		}
		while (!t->stop && !t->changed &&
		       pthread_cond_timedwait(&t->cond, &t->lock, &next) != ETIMEDOUT)
			;
		if (t->changed) {
			t->changed = false;
			clock_gettime(CLOCK_MONOTONIC, &next);	/* the new rate starts now */
		}
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* ---- a context's throttle ---- */

struct kmig_throttle *kmig_throttle_new(void)
{
	struct kmig_throttle *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;

	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	return t;
}

/* the ticker, with every signal blocked: it must never run a handler */
static int start_ticker(struct kmig_throttle *t)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	t->stop = false;
	t->changed = false;
	r = pthread_create(&t->thr, NULL, ticker, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	t->running = true;
	return 0;
}

/* ends every sleep of @t's threads (after the ticker can no longer tick) */
static void kick_all(struct kmig_throttle *t)
{
	sigset_t old;

	reg_enter(&old);
	for (int i = 0; i < MAX_THREADS; i++)
		if (__atomic_load_n(&slots[i].tid, __ATOMIC_SEQ_CST) && slots[i].owner == t)
			slot_kick(&slots[i]);
	reg_leave(&old);
}

static int throttle_set(struct kmig_throttle *t, unsigned int pct)
{
	bool join;
	int r = 0;

	pthread_mutex_lock(&t->lock);
	if (pct) {
		__atomic_store_n(&t->pct, pct, __ATOMIC_SEQ_CST);
		if (t->running) {
			t->changed = true;
			pthread_cond_signal(&t->cond);
		} else {
			r = start_ticker(t);
			if (r)
				__atomic_store_n(&t->pct, 0, __ATOMIC_SEQ_CST);
		}
		pthread_mutex_unlock(&t->lock);
		return r;
	}
	__atomic_store_n(&t->pct, 0, __ATOMIC_SEQ_CST);
	join = t->running;
	t->stop = true;
	t->running = false;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	/* the ticker has sent its last signal: whatever sleeps now wakes up */
	kick_all(t);
	if (join)
		pthread_join(t->thr, NULL);
	return 0;
}

int kmig_throttle_set(struct kmig_throttle *t, unsigned int pct)
{
	sigset_t old;
	int r;

	if (!t || pct > 99)
		return -EINVAL;
	/* not asleep in the handler while holding t->lock, which the ticker needs */
	sig_block(&old);
	r = throttle_set(t, pct);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

unsigned int kmig_throttle_nthreads(const struct kmig_throttle *t)
{
	unsigned int n = 0;
	sigset_t old;

	reg_enter(&old);
	for (int i = 0; i < MAX_THREADS; i++)
		n += __atomic_load_n(&slots[i].tid, __ATOMIC_SEQ_CST) && slots[i].owner == t;
	reg_leave(&old);
	return n;
}

unsigned int kmig_throttle_get(const struct kmig_throttle *t)
{
	return t ? __atomic_load_n(&t->pct, __ATOMIC_SEQ_CST) : 0;
}

void kmig_throttle_free(struct kmig_throttle *t)
{
	sigset_t old;

	if (!t)
		return;
	kmig_throttle_set(t, 0);
	reg_enter(&old);
	for (int i = 0; i < MAX_THREADS; i++)
		if (__atomic_load_n(&slots[i].tid, __ATOMIC_SEQ_CST) && slots[i].owner == t)
			slot_free(&slots[i]);
	reg_leave(&old);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
