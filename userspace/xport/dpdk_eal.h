/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dpdk_eal.h: DPDK's Environment Abstraction Layer inside kmigd.  EAL can
 * be initialised once per process, so the first dpdk: URI starts it (with
 * that URI's lcore, memory, hugepage and prefix options) and every later
 * channel shares it; it stops, and its runtime directory goes, when kmigd
 * exits.  It runs on a thread of its own, which EAL pins to the main lcore,
 * so no kmigd thread is ever pinned.  Threads that touch ports and mbufs
 * register with EAL on first use (mempool caches need an lcore id) and are
 * released when they exit.
 */
#ifndef KMIG_DPDK_EAL_H
#define KMIG_DPDK_EAL_H

#include <stdbool.h>
#include <stddef.h>

#include "dpdk_opts.h"

/*
 * Starts EAL from @o unless it runs already (a later URI's EAL options then
 * only draw a warning when they differ).  With @warm (kmigd --dpdk, at
 * start-up) the start of EAL's heap is touched too, so that no migration's
 * setup pays a fault per page of its mbuf pools.  0, or -errno with @err
 * set; a failed start stays failed for the life of the process (EAL's rule).
 */
int kmig_dpdk_eal_start(const struct kmig_dpdk_opts *o, bool warm, char *err, size_t n);
/* registers the calling thread with EAL, once per thread (cheap when done) */
void kmig_dpdk_thread_enter(void);
/* ports open now (EAL is not cleaned up under an open one) */
void kmig_dpdk_eal_hold(void);
void kmig_dpdk_eal_release(void);
/* the EAL runtime directory ("" before the start) */
const char *kmig_dpdk_eal_dir(void);

#endif
