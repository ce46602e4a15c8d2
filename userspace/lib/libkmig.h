/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libkmig.h: what a workload (a VMM, a database, a test program) links to
 * have its memory live-migrated by the local agent, kmigd.  RAM allocated
 * here is memfd-backed, so kmigd can map it too; kmigd then drives the
 * workload (pause, resume, load and start) through callbacks.
 */
#ifndef KMIG_LIBKMIG_H
#define KMIG_LIBKMIG_H

#include <stddef.h>

/*
 * Typical source:                      Typical destination:
 *   ctx = kmig_open(sock, KMIG_ROLE_SOURCE, &cb, me);   (same, KMIG_ROLE_DEST)
 *   ram = kmig_ram_alloc(ctx, "ram0", size);            (memory arrives later)
 *   ...fill ram, start vCPUs...
 *   kmig_register(ctx);
 *   loop: poll(kmig_fd(ctx)) -> kmig_dispatch(ctx) until it returns != 0
 *   kmig_close(ctx);
 *
 * Threading: a context is used by one thread at a time.  Callbacks run
 * inside kmig_dispatch(), on the caller's thread.  The exceptions are the
 * throttle calls at the end of this file (kmig_thread_register(),
 * kmig_thread_unregister(), kmig_throttle_pct()): any thread may make them
 * at any time between kmig_open() and kmig_close().  The library never
 * exits, never prints, and never raises SIGPIPE (it uses MSG_NOSIGNAL).
 * Errors are negative errno values (functions returning pointers return
 * NULL and set errno).
 *
 * The agent may go away (kmigd restarted, killed): the workload is not
 * affected.  A context opened with kmig_open() (KMIG_OPT_REATTACH) keeps
 * its state -- a workload paused for a switch-over stays paused, because
 * the destination may already run it -- and registers again with the next
 * kmigd on the same socket, retrying with back-off (100 ms doubling to
 * 5 s).  kmig_fd() keeps its number meanwhile (it is a timer until the
 * next attempt), so poll() on it as before and call kmig_dispatch() when
 * it is readable; with epoll, register it again after kmig_dispatch().
 */

/* the symbols a workload links against (the rest of the library is hidden) */
#define KMIG_API __attribute__((visibility("default")))

#define KMIG_RAM_NAME_MAX   64		/* block name bytes, NUL included */
#define KMIG_RAM_MAX_BLOCKS 64		/* blocks per context */
#define KMIG_STATE_MAX      (16u << 20)	/* largest device-state blob */

enum kmig_role {
	KMIG_ROLE_SOURCE = 1,	/* a running workload whose memory may leave */
	KMIG_ROLE_DEST   = 2,	/* an empty workload waiting for memory to arrive */
};

/* where a context is; kmig_state() reports it */
enum kmig_state {
	KMIG_STATE_NEW,		/* opened, blocks being allocated */
	KMIG_STATE_READY,	/* registered: source running / destination waiting */
	KMIG_STATE_PAUSED,	/* source: paused for switch-over, state handed over */
	KMIG_STATE_MIGRATED,	/* source: migration completed, stay stopped */
	KMIG_STATE_STARTED,	/* destination: state loaded, workload running */
	KMIG_STATE_FAILED,	/* destination: incoming migration failed */
};

/**
 * struct kmig_callbacks - how kmigd drives the workload
 *
 * Any callback may be NULL: it then does nothing and succeeds (a NULL
 * save_state sends an empty state).  A callback that fails returns
 * non-zero; kmig_dispatch() then drops the agent connection (so kmigd
 * fails the migration) and returns -ECANCELED.
 *
 * @pause:      source, switch-over: stop every thread that writes RAM and
 *              return 0 only once RAM is quiet.  If it fails, the workload
 *              must still be running.
 * @save_state: source, right after pause: hand back the device state as a
 *              malloc()ed blob (*buf, *len <= KMIG_STATE_MAX); the library
 *              free()s it.  If it fails, or the state cannot be sent,
 *              the library calls @resume (the state never left).
 * @resume:     source: the migration failed or was cancelled after @pause;
 *              carry on running.  Cannot fail.
 * @load_state: destination: RAM is in place (until now kmigd was filling
 *              it: do not touch it before this call); restore @buf/@len (the
 *              source's save_state blob, valid during the call only) and
 *              start running.  Return 0 once running (kmigd is then told
 *              STARTED), non-zero to fail the migration.
 * @started:    destination, optional: called once kmigd has been told
 *              STARTED, i.e. after the downtime kmig measures has ended.
 *              For work that is the caller's own business (a test
 *              workload's verification), not part of resuming.
 * @migrated:   source: the migration completed; the workload must stay
 *              stopped (typically it exits after kmig_dispatch returns 1).
 * @arrived:    destination of a postcopy migration, optional: every page
 *              has arrived (see KMIG_OPT_POSTCOPY).  Until then
 *              kmig_postcopy_pending() is 1, and a thread touching a page
 *              that is still missing waits for it.
 */
struct kmig_callbacks {
	int (*pause)(void *opaque);
	int (*save_state)(void *opaque, void **buf, size_t *len);
	void (*resume)(void *opaque);
	int (*load_state)(void *opaque, const void *buf, size_t len);
	void (*started)(void *opaque);
	void (*migrated)(void *opaque);
	void (*arrived)(void *opaque);
};

struct kmig_ctx;

/* options (kmig_set_option) */
#define KMIG_OPT_REATTACH 1u	/* register again with the next agent (kmig_open's default) */
#define KMIG_OPT_REROLE   2u	/* destination: once started, be a source (default on) */
#define KMIG_OPT_THROTTLE 4u	/* source: let kmigd throttle the registered threads
				 * (default on; off: kmigd uses a cgroup instead) */
#define KMIG_OPT_POSTCOPY 8u	/* destination: may start before its memory arrived
				 * (postcopy; default on).  Each block is handed with a
				 * userfaultfd; libkmig keeps its own reference, so if
				 * kmigd dies mid-postcopy a missing page blocks the
				 * thread touching it instead of reading as zeroes. */

/*
 * Connects to kmigd's workload socket @agent_sock (kmigd --workload PATH).
 * @cb is copied (NULL = no callbacks); @opaque is passed to every callback.
 * Returns the context, or NULL with errno set.
 */
KMIG_API struct kmig_ctx *kmig_open(const char *agent_sock, enum kmig_role role,
			   const struct kmig_callbacks *cb, void *opaque);

/*
 * Same, over an already connected unix stream socket @sock (inherited from
 * a manager, or a socketpair in tests).  On success the context owns @sock;
 * on failure the caller still does.
 */
KMIG_API struct kmig_ctx *kmig_open_fd(int sock, enum kmig_role role,
			      const struct kmig_callbacks *cb, void *opaque);

/*
 * Allocates one RAM block of @size bytes (rounded up to the page size),
 * shared-mapped from a memfd named @name (1..63 chars, unique in @ctx).
 * Only before kmig_register().  Returns the mapping (zero-filled), or NULL
 * with errno: EINVAL, ENAMETOOLONG, EEXIST (name taken), ENOSPC (too many
 * blocks), EBUSY (already registered), or a memfd/mmap error.  The block
 * lives until kmig_close().
 */
KMIG_API void *kmig_ram_alloc(struct kmig_ctx *ctx, const char *name, size_t size);

/*
 * Hands every block to kmigd: HELLO, one BLOCK each (its memfd and, on the
 * source, a userfaultfd for dirty tracking when the kernel allows one),
 * READY.  Call once, after every kmig_ram_alloc().  0 or -errno (-EINVAL
 * without blocks, -EBUSY if already registered).
 */
KMIG_API int kmig_register(struct kmig_ctx *ctx);

/*
 * Turns an option on or off (before kmig_register; a change takes effect
 * at the next registration with an agent).  0, -EINVAL for an unknown
 * option, -ENOTSUP for REATTACH on a context opened on an fd.
 */
KMIG_API int kmig_set_option(struct kmig_ctx *ctx, unsigned int option, int on);

/* The fd to poll for POLLIN; when readable, call kmig_dispatch(). */
KMIG_API int kmig_fd(const struct kmig_ctx *ctx);

/*
 * Reads one message from kmigd (blocks until a whole one is there), runs
 * the callbacks it asks for, and replies.  Returns:
 *   0  handled, keep polling (source: paused or resumed; or the agent went
 *      away and a new one is being tried, or was just registered with);
 *   1  the migration ended: see kmig_state() (source MIGRATED; destination
 *      STARTED or FAILED, or READY as a source again with KMIG_OPT_REROLE:
 *      the workload started and can itself be migrated on).  After a
 *      postcopy start keep dispatching while kmig_postcopy_pending(): the
 *      end of postcopy (ARRIVED, or FAILED) returns 1 again;
 *   <0 -errno: -ECONNRESET when kmigd went away, -EPROTO / -EMSGSIZE on a
 *      malformed or unexpected message, -ECANCELED when a callback failed.
 * After an error the connection is dropped, and later calls return the
 * same error.  The state is left as it was: a source that loses kmigd
 * while PAUSED is still paused, and resuming it is the caller's decision
 * (the destination may be running) -- or, with KMIG_OPT_REATTACH, the
 * decision of the next agent's operator ('cont').
 */
KMIG_API int kmig_dispatch(struct kmig_ctx *ctx);

/* Where @ctx is (see enum kmig_state). */
KMIG_API enum kmig_state kmig_state(const struct kmig_ctx *ctx);
/*
 * 1 while a destination runs before every page arrived (postcopy): between
 * load_state and the @arrived callback.  A workload that loses its agent
 * meanwhile can never get the missing pages: kmig_dispatch() fails for
 * good and this stays 1.
 */
KMIG_API int kmig_postcopy_pending(const struct kmig_ctx *ctx);
/* Its role now (a started destination becomes a source with KMIG_OPT_REROLE). */
KMIG_API enum kmig_role kmig_role(const struct kmig_ctx *ctx);
/* 1 while registered with an agent, 0 while it is away (or for good after an error). */
KMIG_API int kmig_connected(const struct kmig_ctx *ctx);

/*
 * Unmaps every block and closes everything; calls no callback.  NULL is ok.
 * Lifts the throttle and forgets every registered thread first.
 */
KMIG_API void kmig_close(struct kmig_ctx *ctx);

/*
 * ---- Auto-converge throttle (KMIG_OPT_THROTTLE) ----
 *
 * When a migration cannot keep up with the workload's writes, kmigd may
 * throttle the threads that write RAM, as QEMU throttles vCPUs: at p %,
 * every registered thread sleeps p/(100-p) x 10 ms per 10 ms it runs
 * (50 %: 10 ms asleep per 10 ms running; 99 %: 990 ms per 10 ms).  The
 * threads need not call libkmig for this: a ticker thread inside libkmig
 * sends each of them the signal kmig_throttle_signal() returns (SIGRTMAX - 2,
 * i.e. 62 on Linux with glibc) with sigqueue semantics, and libkmig's
 * handler sleeps on the thread that received it.  The throttle is lifted
 * -- sleeping threads wake at once -- on THROTTLE 0, when the workload is
 * paused for a switch-over (a later RESUME does not re-apply it: only a new
 * THROTTLE does), when the agent connection is lost, and in kmig_close().
 *
 * Rules for the application, from the first kmig_thread_register() on:
 *  - libkmig owns that signal for the rest of the process's life: do not
 *    install a handler for it, ignore it, or send it (the first
 *    registration fails with -EBUSY if a handler is already installed);
 *  - do not block it in a registered thread (registering unblocks it);
 *  - a registered thread must tolerate the signal: the handler uses
 *    SA_RESTART, but calls that are never restarted (poll, epoll_wait,
 *    nanosleep, sem_timedwait, ...) may return EINTR;
 *  - a sleeping thread sleeps with whatever locks it holds, like a
 *    throttled vCPU: do not register threads that other threads wait on
 *    for long (the thread that runs kmig_dispatch(), I/O threads).
 */

/*
 * Marks the calling thread as one that writes RAM (a "vCPU"), to be
 * throttled with @ctx's throttle.  A thread is in at most one context.
 * When it exits it is forgotten by itself (pthread TSD destructor; a
 * thread that vanishes without it is noticed when signalling it fails).
 * 0, -EEXIST (already registered), -ENOSPC (1024 threads registered),
 * -EBUSY (the application has a handler for the throttle signal), -EINVAL.
 */
KMIG_API int kmig_thread_register(struct kmig_ctx *ctx);
/*
 * The calling thread is no longer throttled.  0, or -ENOENT if it was not
 * registered with @ctx.  kmig_close() forgets every thread itself: do not
 * call this on a closed context.
 */
KMIG_API int kmig_thread_unregister(struct kmig_ctx *ctx);
/* The throttle applied now, 0..99 (0: none). */
KMIG_API unsigned int kmig_throttle_pct(const struct kmig_ctx *ctx);
/* The signal number the throttle uses (see the rules above). */
KMIG_API int kmig_throttle_signal(void);

#endif
