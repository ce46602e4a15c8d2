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
 * inside kmig_dispatch(), on the caller's thread.  The library never
 * exits, never prints, and never raises SIGPIPE (it uses MSG_NOSIGNAL).
 * Errors are negative errno values (functions returning pointers return
 * NULL and set errno).
 */

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
 */
struct kmig_callbacks {
	int (*pause)(void *opaque);
	int (*save_state)(void *opaque, void **buf, size_t *len);
	void (*resume)(void *opaque);
	int (*load_state)(void *opaque, const void *buf, size_t len);
	void (*started)(void *opaque);
	void (*migrated)(void *opaque);
};

struct kmig_ctx;

/*
 * Connects to kmigd's workload socket @agent_sock (kmigd --workload PATH).
 * @cb is copied (NULL = no callbacks); @opaque is passed to every callback.
 * Returns the context, or NULL with errno set.
 */
struct kmig_ctx *kmig_open(const char *agent_sock, enum kmig_role role,
			   const struct kmig_callbacks *cb, void *opaque);

/*
 * Same, over an already connected unix stream socket @sock (inherited from
 * a manager, or a socketpair in tests).  On success the context owns @sock;
 * on failure the caller still does.
 */
struct kmig_ctx *kmig_open_fd(int sock, enum kmig_role role,
			      const struct kmig_callbacks *cb, void *opaque);

/*
 * Allocates one RAM block of @size bytes (rounded up to the page size),
 * shared-mapped from a memfd named @name (1..63 chars, unique in @ctx).
 * Only before kmig_register().  Returns the mapping (zero-filled), or NULL
 * with errno: EINVAL, ENAMETOOLONG, EEXIST (name taken), ENOSPC (too many
 * blocks), EBUSY (already registered), or a memfd/mmap error.  The block
 * lives until kmig_close().
 */
void *kmig_ram_alloc(struct kmig_ctx *ctx, const char *name, size_t size);

/*
 * Hands every block to kmigd: HELLO, one BLOCK each (its memfd and, on the
 * source, a userfaultfd for dirty tracking when the kernel allows one),
 * READY.  Call once, after every kmig_ram_alloc().  0 or -errno (-EINVAL
 * without blocks, -EBUSY if already registered).
 */
int kmig_register(struct kmig_ctx *ctx);

/* The fd to poll for POLLIN; when readable, call kmig_dispatch(). */
int kmig_fd(const struct kmig_ctx *ctx);

/*
 * Reads one message from kmigd (blocks until a whole one is there), runs
 * the callbacks it asks for, and replies.  Returns:
 *   0  handled, keep polling (source: paused or resumed);
 *   1  the migration ended: see kmig_state() (source MIGRATED; destination
 *      STARTED or FAILED);
 *   <0 -errno: -ECONNRESET when kmigd went away, -EPROTO / -EMSGSIZE on a
 *      malformed or unexpected message, -ECANCELED when a callback failed.
 * After an error the connection is dropped, and later calls return the
 * same error.  The state is left as it was: a source that loses kmigd
 * while PAUSED is still paused, and resuming it is the caller's decision
 * (the destination may be running).
 */
int kmig_dispatch(struct kmig_ctx *ctx);

/* Where @ctx is (see enum kmig_state). */
enum kmig_state kmig_state(const struct kmig_ctx *ctx);

/* Unmaps every block and closes everything; calls no callback.  NULL is ok. */
void kmig_close(struct kmig_ctx *ctx);

#endif
