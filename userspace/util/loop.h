/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * loop.h: the daemon's single-threaded epoll event loop (redis ae style).
 *
 * QMP sockets and listeners are served here.  Other threads (the migration
 * engine) never touch loop-owned state directly: they kmig_loop_post() a
 * function that the loop thread runs, which is how events reach clients.
 */
#ifndef KMIG_LOOP_H
#define KMIG_LOOP_H

#include <stdbool.h>

#define KMIG_EV_READ  1u
#define KMIG_EV_WRITE 2u

struct kmig_loop;
/* called on the loop thread with the ready events (KMIG_EV_*; errors as READ) */
typedef void (*kmig_fd_cb)(struct kmig_loop *l, int fd, unsigned int ev, void *opaque);
typedef void (*kmig_post_fn)(void *arg);

struct kmig_loop *kmig_loop_new(void);
void kmig_loop_free(struct kmig_loop *l);
int kmig_loop_add(struct kmig_loop *l, int fd, unsigned int ev, kmig_fd_cb cb, void *opaque);
int kmig_loop_mod(struct kmig_loop *l, int fd, unsigned int ev);
void kmig_loop_del(struct kmig_loop *l, int fd);
/* runs until kmig_loop_stop(); returns 0 or -errno */
int kmig_loop_run(struct kmig_loop *l);
/* waits up to @timeout_ms for events once and handles them (tests, fuzzing); 0 or -errno */
int kmig_loop_run_once(struct kmig_loop *l, int timeout_ms);
/* async-signal-safe and thread-safe */
void kmig_loop_stop(struct kmig_loop *l);
/* true when called from the thread running the loop */
bool kmig_loop_is_current(struct kmig_loop *l);
/* runs the posts still queued (at shutdown, after the posting threads ended) */
void kmig_loop_run_pending(struct kmig_loop *l);
/* thread-safe: runs fn(arg) on the loop thread soon; 0 or -errno */
int kmig_loop_post(struct kmig_loop *l, kmig_post_fn fn, void *arg);

#endif
