/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kmig_throttle.h: libkmig's cooperative CPU throttle, inside the library
 * (libkmig.c drives it, kmig_throttle.c implements it).  A workload's
 * registered writer threads ("vCPUs") are made to sleep pct/(100-pct) x
 * 10 ms per 10 ms of running, as QEMU's cpu_throttle does, by a ticker
 * thread that signals each of them; see libkmig.h for the public side.
 */
#ifndef KMIG_THROTTLE_H
#define KMIG_THROTTLE_H

#include <stdbool.h>

struct kmig_throttle;

/* one per context; NULL with errno set */
struct kmig_throttle *kmig_throttle_new(void);
/* lifts the throttle, forgets every thread registered with @t, frees it; NULL ok */
void kmig_throttle_free(struct kmig_throttle *t);
/*
 * Applies @pct (0..99; 0 lifts it): starts, retunes or stops the ticker.
 * Lifting wakes a thread that is sleeping at once.  0 or -errno (the
 * ticker thread could not be started; the throttle is then off).
 */
int kmig_throttle_set(struct kmig_throttle *t, unsigned int pct);
/* the percentage applied now (any thread) */
unsigned int kmig_throttle_get(const struct kmig_throttle *t);
/* the calling thread joins / leaves @t's writers (any thread, any time) */
int kmig_throttle_thread_register(struct kmig_throttle *t);
int kmig_throttle_thread_unregister(struct kmig_throttle *t);
/* the signal number the ticker uses */
int kmig_throttle_sig(void);
/* threads registered with @t now (tests) */
unsigned int kmig_throttle_nthreads(const struct kmig_throttle *t);

/* libkmig.c: the same for a context (tests; not exported from the .so) */
struct kmig_ctx;
unsigned int kmig_thread_count(const struct kmig_ctx *ctx);

#endif
