/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dpdk_chan.h: one dpdk: channel's state and the code that drives it,
 * shared by the channel's ops (xport_dpdk.c) and the driving loop
 * (dpdk_chan.c): whoever calls in runs a round of the connection under the
 * channel's lock; a housekeeping thread runs it when nobody did for a
 * millisecond.  Private to the dpdk: back end.
 */
#ifndef KMIG_DPDK_CHAN_H
#define KMIG_DPDK_CHAN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dp_proto.h"
#include "dpdk_opts.h"
#include "dpdk_port.h"

#define MAX_BURST      512
#define STAGING        (4u << 20)
#define PIECES         4096u
#define TX_SLOTS       8192u
#define QUEUE_MAX      (2u << 20)	/* bytes taken but not yet framed */
#define LINGER_US      2000000		/* close waits this long for the last bytes to arrive */
#define RST_LINGER_US  200000		/* and on memif this long for the peer's RST (xport_dpdk.c) */
#define HK_EVERY_NS    1000000
#define MAX_REGIONS    64

/**
 * struct dchan - one open dpdk: channel
 * @lk:       serialises everything below (the connection, the port)
 * @o:        its URI's options
 * @port:     the port it owns
 * @dp:       the connection
 * @peer:     the peer's MAC (broadcast until the handshake says)
 * @aborted, @rd_aborted: abort / abort_read happened (any thread)
 * @hk_stop:  the housekeeping thread ends
 * @reset_done: the RST for an abort went out
 * @busy_us:  when a round last ran (the housekeeping thread skips busy times)
 * @queued:   stream bytes taken from the engine so far
 * @sleeps:   waits that slept (counted in the closing line)
 * @mem:      registered memory: payloads inside go by reference
 */
struct dchan {
	pthread_mutex_t lk;
	struct kmig_dpdk_opts o;
	struct kmig_dpdk_port *port;
	struct kmig_dp_conn dp;
	bool dp_live;
	uint8_t peer[6];
	_Atomic bool aborted, rd_aborted, hk_stop, reset_done;
	_Atomic uint64_t busy_us;
	pthread_t hk;
	bool hk_live;
	bool link_was_up, logged, closing;
	uint64_t link_check_us, queued, sleeps;
	struct { const uint8_t *base; size_t len; } mem[MAX_REGIONS];
	unsigned int nmem;
	struct rte_mbuf *rx[2 * MAX_BURST + 8];
};

/* the clock the protocol runs on, in µs */
uint64_t kmig_dchan_now_us(void);
/* one round: a burst in, timers, what may go out (lk held); how much happened */
unsigned int kmig_dchan_progress(struct dchan *ch);
/* one step of a wait (lk held, released while it sleeps); true if it slept */
bool kmig_dchan_wait(pthread_mutex_t *lk, unsigned int *spins);
/* -errno for a connection that cannot carry on, or 0 */
int kmig_dchan_broken(struct dchan *ch);
/* a channel around @port, which it owns from now on (also on failure); 0 or -errno */
int kmig_dchan_new(struct dchan **out, const struct kmig_dpdk_opts *o,
		   struct kmig_dpdk_port *port, char *err, size_t n);
int kmig_dchan_start_hk(struct dchan *ch, char *err, size_t n);
/* stops the housekeeping thread, releases the connection and the port; accepts NULL */
void kmig_dchan_free(struct dchan *ch);
/* the closing key=value line */
void kmig_dchan_log_stats(struct dchan *ch);

#endif
