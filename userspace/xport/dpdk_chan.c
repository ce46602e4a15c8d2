// SPDX-License-Identifier: GPL-2.0-only
/*
 * dpdk_chan.c: drives a dpdk: channel's connection (dpdk_chan.h): rounds
 * of receive / timers / send on the port, the waits between them, the
 * housekeeping thread, setting up and releasing a channel, and its closing
 * counters.  The ops the engine calls are in xport_dpdk.c.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "dpdk_chan.h"
#include "dpdk_eal.h"
#include "log.h"

uint64_t kmig_dchan_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t random_id(void)
{
	uint32_t id = 0;

	while (!id)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = (uint32_t)kmig_dchan_now_us() ^ 0x5bd1e995u;
	return id;
}

/* ---- driving a connection (lk held) ---- */

static void log_failure(struct dchan *ch)
{
	if (ch->logged || ch->dp.state != KMIG_DP_CLOSED || ch->aborted)
		return;
	ch->logged = true;
	/* while closing, the peer's own end is no news */
	kmig_log(ch->closing ? KMIG_LOG_INFO : KMIG_LOG_WARN, "dpdk", "channel failed dev=%s: %s", ch->o.dev_name, ch->dp.err);
}

/* one round: a burst in, timers, what may go out; returns how much happened */
unsigned int kmig_dchan_progress(struct dchan *ch)
{
	uint64_t now = kmig_dchan_now_us();
	unsigned int k = kmig_dpdk_port_rx(ch->port, ch->rx, ch->o.burst), t = 0;
	struct kmig_dp_txdesc d;

	for (unsigned int i = 0; i < k; i++) {
		struct rte_mbuf *m = ch->rx[i];
		struct kmig_dp_hdr h;
		enum kmig_dp_drop why;
		uint32_t len = 0;
		uint8_t *f = kmig_dpdk_port_frame(ch->port, &m, &len);
		const uint8_t *pl = f ? kmig_dp_check(f, len, &h, &why, ch->dp.cfg.hdr_sum) : NULL;
		int r = 0;

		if (!f)
			ch->dp.st.drops[KMIG_DP_DROP_MALFORMED]++;
		else if (!pl)
			ch->dp.st.drops[why]++;
		else
			r = kmig_dp_on_frame(&ch->dp, &h, pl, m, now);
		if (r == 2)
			memcpy(ch->peer, f + 6, 6);	/* the SYNACK's sender: our peer */
		if (r != 1 && m)
			rte_pktmbuf_free(m);
	}
	ch->dp.rx_drained = k < ch->o.burst;
	kmig_dp_tick(&ch->dp, now);
	if (now - ch->link_check_us > 50000) {
		/* a memif peer that died takes the link down: fail now, not at the timeout */
		bool up = kmig_dpdk_port_link_up(ch->port);

		ch->link_check_us = now;
		if (up != ch->link_was_up)
			kmig_log(KMIG_LOG_DEBUG, "dpdk", "link of %s is %s", ch->o.dev_name,
				 up ? "up" : "down");
		if (ch->link_was_up && !up && ch->dp.state == KMIG_DP_OPEN)
			kmig_dp_fail(&ch->dp, -ECONNRESET, "the link to the peer went down (its "
				     "port closed: the peer stopped or was killed)");
		ch->link_was_up = up;
	}
	while (t < ch->o.burst && kmig_dp_next_tx(&ch->dp, now, &d)) {
		kmig_dp_seal(&d);
		kmig_dpdk_port_add(ch->port, &d, ch->peer);
		t++;
	}
	kmig_dpdk_port_flush(ch->port);
	log_failure(ch);
	ch->busy_us = now;
	return k + t;
}

/*
 * One step of a wait with @lk held: poll 16 times, yield 8 times, then sleep
 * 20 µs doubling to 640 µs, the lock released meanwhile.  Returns whether
 * it slept (counted by the caller).  No PMD here can wake a sleeper (DPDK's
 * memif runs its rings in polling mode), so sleeping is the cheap wait.
 */
bool kmig_dchan_wait(pthread_mutex_t *lk, unsigned int *spins)
{
	unsigned int s = (*spins)++;

	if (s < 16)
		return false;
	pthread_mutex_unlock(lk);
	if (s < 24) {
		sched_yield();
	} else {
		unsigned int shift = (s - 24) / 16;
		struct timespec ts = { 0, 20000l << (shift > 5 ? 5 : shift) };

		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(lk);
	return s >= 24;
}

static void *housekeeping(void *arg)
{
	struct dchan *ch = arg;
	struct timespec ts = { 0, HK_EVERY_NS };

	kmig_dpdk_thread_enter();
	while (!ch->hk_stop) {
		nanosleep(&ts, NULL);
		if (ch->aborted && !ch->reset_done) {
			pthread_mutex_lock(&ch->lk);
			kmig_dp_reset(&ch->dp, -ECONNABORTED, "the channel was closed (migration "
				      "cancelled, failed or over)");
			ch->reset_done = true;
			kmig_dchan_progress(ch);
			pthread_mutex_unlock(&ch->lk);
			continue;
		}
		if (kmig_dchan_now_us() - ch->busy_us < HK_EVERY_NS / 1000)
			continue;	/* a caller drives it */
		pthread_mutex_lock(&ch->lk);
		kmig_dchan_progress(ch);
		pthread_mutex_unlock(&ch->lk);
	}
	return NULL;
}

/* -errno for a connection that cannot carry on, or 0 */
int kmig_dchan_broken(struct dchan *ch)
{
	if (ch->aborted)
		return -ECONNABORTED;
	if (ch->dp.state == KMIG_DP_CLOSED)
		return ch->dp.err_no ? ch->dp.err_no : -EPIPE;
	return 0;
}

/* ---- setting up ---- */

void kmig_dchan_free(struct dchan *ch)
{
	if (!ch)
		return;
	if (ch->hk_live) {
		ch->hk_stop = true;
		pthread_join(ch->hk, NULL);
	}
	if (ch->dp_live)
		kmig_dp_fini(&ch->dp);
	if (ch->port) {
		kmig_dpdk_port_close(ch->port);
		kmig_dpdk_eal_release();
	}
	pthread_mutex_destroy(&ch->lk);
	free(ch);
}

/* a channel around @port (which it now owns); 0 or -errno with @err */
int kmig_dchan_new(struct dchan **out, const struct kmig_dpdk_opts *o,
		     struct kmig_dpdk_port *port, char *err, size_t n)
{
	const struct kmig_dpdk_port_info *pi = kmig_dpdk_port_info(port);
	struct dchan *ch = calloc(1, sizeof(*ch));
	struct kmig_dp_cfg cfg = {
		.max_payload = pi->max_payload, .rx_window = pi->window, .tx_slots = TX_SLOTS,
		.staging = STAGING, .pieces = PIECES, .timeout_us = o->timeout_ms * 1000ull,
		.syn_timeout_us = o->connect_ms * 1000ull, .release = kmig_dpdk_port_free,
		/* memif's shared memory cannot corrupt a frame: the engine's sums suffice */
		.hdr_sum = o->csum == 1 || (o->csum == -1 && !strcmp(pi->driver, "net_memif")),
	};
	int ret;

	*out = NULL;
	if (!ch) {
		kmig_dpdk_port_close(port);
		kmig_dpdk_eal_release();
		snprintf(err, n, "dpdk: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&ch->lk, NULL);
	ch->o = *o;
	ch->port = port;
	memcpy(ch->peer, o->peer, 6);
	ret = kmig_dp_init(&ch->dp, &cfg, random_id());
	if (ret) {
		snprintf(err, n, "dpdk: cannot set up the connection: %s", strerror(-ret));
		kmig_dchan_free(ch);
		return ret;
	}
	ch->dp_live = true;
	/* staging bytes go by reference too, except where the port linearizes */
	ret = kmig_dpdk_port_add_region(port, ch->dp.stg, STAGING, false, err, n);
	if (ret) {
		kmig_dchan_free(ch);
		return ret;
	}
	*out = ch;
	return 0;
}

int kmig_dchan_start_hk(struct dchan *ch, char *err, size_t n)
{
	int ret = -pthread_create(&ch->hk, NULL, housekeeping, ch);

	if (ret) {
		snprintf(err, n, "dpdk: cannot start the channel's thread: %s", strerror(-ret));
		return ret;
	}
	ch->hk_live = true;
	return 0;
}

void kmig_dchan_log_stats(struct dchan *ch)
{
	const struct kmig_dpdk_port_info *pi = kmig_dpdk_port_info(ch->port);
	const struct kmig_dpdk_port_stats *ps = kmig_dpdk_port_stats(ch->port);
	const struct kmig_dp_stats *s = &ch->dp.st;
	char tx[16], rx[16], drops[256];
	unsigned int nq, q = kmig_dpdk_port_queue(ch->port, &nq);
	uint64_t hz = rte_get_tsc_hz() ? rte_get_tsc_hz() : 1;
	size_t k = 0;

	for (int i = 0; i < KMIG_DP_DROP_MAX; i++)
		k += (size_t)snprintf(drops + k, sizeof(drops) - k, " drop_%s=%llu",
				      kmig_dp_drop_name((enum kmig_dp_drop)i),
				      (unsigned long long)s->drops[i]);
	snprintf(tx, sizeof(tx), pi->pmd_tx_copies == ~0u ? "?" : "%u", pi->pmd_tx_copies);
	snprintf(rx, sizeof(rx), pi->pmd_rx_copies == ~0u ? "?" : "%u", pi->pmd_rx_copies);
	/* kmig's own copies on sending, per page: linearized frames copy pages, else none */
	kmig_log(KMIG_LOG_INFO, "dpdk", "channel closed dev=%s queue=%u/%u driver=%s "
		 "frames_out=%llu "
		 "data_out=%llu rtx=%llu timeouts=%llu fast_rtx=%llu probes=%llu bytes_out=%llu "
		 "ref_bytes=%llu "
		 "frames_in=%llu bytes_in=%llu ooo_in=%llu%s tx_dropped=%llu "
		 "copies_kmig_tx=%s copies_pmd_tx=%s copies_pmd_rx=%s copies_kmig_rx=1 "
		 "inj_lost=%llu inj_dup=%llu inj_reordered=%llu waits_sleep=%llu pmd_tx_us=%llu "
		 "pmd_rx_us=%llu", ch->o.dev_name,
		 q, nq, pi->driver, (unsigned long long)s->frames_out, (unsigned long long)s->data_out,
		 (unsigned long long)s->rtx, (unsigned long long)s->timeouts,
		 (unsigned long long)s->fast_rtx, (unsigned long long)s->probes,
		 (unsigned long long)s->bytes_out,
		 (unsigned long long)s->zc_bytes, (unsigned long long)s->frames_in,
		 (unsigned long long)s->bytes_in, (unsigned long long)s->ooo_in, drops,
		 (unsigned long long)ps->tx_dropped, pi->linearize ? "1" : "0", tx, rx,
		 (unsigned long long)ps->inj_lost, (unsigned long long)ps->inj_dup,
		 (unsigned long long)ps->inj_reordered, (unsigned long long)ch->sleeps,
		 (unsigned long long)((double)ps->tx_cycles * 1e6 / (double)hz),
		 (unsigned long long)((double)ps->rx_cycles * 1e6 / (double)hz));
}

