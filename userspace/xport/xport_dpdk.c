// SPDX-License-Identifier: GPL-2.0-only
/*
 * xport_dpdk.c: the dpdk: channel back end (xport.h).  One channel is one
 * connection of the reliable stream (dp_proto.h) over one DPDK port
 * (dpdk_port.h), so the engine sends and reads the same records as over
 * TCP and cannot tell the difference.  Pages in registered RAM blocks go
 * by reference (the channel's only copy is the receiver's, into the
 * destination block); everything else is copied into the staging ring.
 *
 * Threads: whoever calls in (the sender, the reader, close) drives the
 * connection under the channel's lock (dpdk_chan.c), and a housekeeping
 * thread does when nobody did for a millisecond, so acknowledgements,
 * keepalives and retransmissions go on while the engine computes or waits
 * on its workload.  Multifd takes a device with queues=N: each channel
 * is one connection on a queue pair of its own (the main one queue 0).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_mbuf.h>

#include "dpdk_chan.h"
#include "dpdk_eal.h"
#include "log.h"
#include "xport.h"

/*
 * a destination's listener: a port per queue of its device, each until a
 * SYN arrives on it and a channel takes it (the main channel, then
 * multifd's data channels, one per queue)
 */
struct dlisten {
	pthread_mutex_t lk;
	struct kmig_dpdk_opts o;
	struct kmig_dpdk_port *port[KMIG_DPDK_MAX_QUEUES];	/* NULL once a channel took it */
	unsigned int nq;
	_Atomic bool aborted;
	struct rte_mbuf *rx[2 * MAX_BURST + 8];
};

static void opened(struct kmig_chan *c, struct dchan *ch, const char *role)
{
	const struct kmig_dpdk_port_info *pi = kmig_dpdk_port_info(ch->port);
	unsigned int nq, q = kmig_dpdk_port_queue(ch->port, &nq);

	c->ops = &kmig_chan_dpdk_ops;
	/* a device with several queues carries multifd's channels, one per queue */
	c->caps = kmig_chan_dpdk_ops.caps | (nq > 1 ? KMIG_CHAN_F_MULTI : 0);
	c->priv = ch;
	kmig_log(KMIG_LOG_INFO, "dpdk", "channel open role=%s dev=%s queue=%u/%u driver=%s "
		 "peer=%02x:%02x:%02x:"
		 "%02x:%02x:%02x payload=%u window=%u peer_window=%llu pages=%s checksums=%s", role,
		 ch->o.dev_name, q, nq, pi->driver, ch->peer[0], ch->peer[1], ch->peer[2], ch->peer[3],
		 ch->peer[4], ch->peer[5], ch->dp.max_payload, ch->dp.cfg.rx_window,
		 (unsigned long long)(ch->dp.peer_edge - 1),
		 pi->linearize ? "copied-into-frames" : "by-reference",
		 ch->dp.tx_hdr_sum ? "header" : "full");
}

/* parses the URI and starts EAL; the calling thread is registered */
static int prepare(const struct kmig_uri *u, struct kmig_dpdk_opts *o, char *err, size_t n)
{
	int ret = kmig_dpdk_opts_parse(u->path, o, err, n);

	if (!ret)
		ret = kmig_dpdk_eal_start(o, false, err, n);
	if (!ret)
		kmig_dpdk_thread_enter();
	return ret;
}

static int open_port(const struct kmig_dpdk_opts *o, struct kmig_dpdk_port **p, bool warm,
		     char *err, size_t n)
{
	int ret;

	kmig_dpdk_eal_hold();
	ret = kmig_dpdk_port_open(p, o, warm, err, n);
	if (ret)
		kmig_dpdk_eal_release();
	return ret;
}

static int dpdk_connect(struct kmig_chan *c, const struct kmig_uri *u, const _Atomic bool *cancel,
			char *err, size_t n)
{
	struct kmig_dpdk_opts o;
	struct kmig_dpdk_port *port;
	struct dchan *ch;
	uint64_t deadline;
	unsigned int spins = 0;
	int ret = prepare(u, &o, err, n);

	uint64_t t0 = kmig_dchan_now_us(), t1, t2;

	if (!ret)
		ret = open_port(&o, &port, false, err, n);
	if (ret)
		return ret;
	ret = kmig_dchan_new(&ch, &o, port, err, n);
	if (ret)
		return ret;
	t1 = kmig_dchan_now_us();
	deadline = kmig_dchan_now_us() + o.connect_ms * 1000ull;
	/* a memif client connects when it starts: wait for its server */
	while ((ret = kmig_dpdk_port_start(port, err, n)) == -EAGAIN) {
		struct timespec ts = { 0, 20000000 };

		if ((cancel && *cancel) || kmig_dchan_now_us() > deadline)
			break;
		nanosleep(&ts, NULL);
	}
	if (ret == -EAGAIN)
		snprintf(err, n, "dpdk: the memif server of %s did not appear within %u ms",
			 o.dev_name, o.connect_ms);
	t2 = kmig_dchan_now_us();
	pthread_mutex_lock(&ch->lk);
	if (!ret)
		kmig_dp_connect(&ch->dp, kmig_dchan_now_us());
	while (!ret && ch->dp.state == KMIG_DP_SYN_SENT) {
		if (cancel && *cancel) {
			ret = -ECANCELED;
			break;
		}
		if (!kmig_dchan_progress(ch))
			ch->sleeps += kmig_dchan_wait(&ch->lk, &spins);
	}
	if (!ret && ch->dp.state != KMIG_DP_OPEN) {
		unsigned int nq, q = kmig_dpdk_port_queue(port, &nq);

		ret = ch->dp.err_no ? ch->dp.err_no : -ECONNREFUSED;
		if (q)	/* a data channel: the destination may have fewer queues */
			snprintf(err, n, "Failed to connect to '%s' queue %u: %s (does the "
				 "destination's URI have queues=%u?)", o.dev_name, q, ch->dp.err, nq);
		else
			snprintf(err, n, "Failed to connect to '%s': %s", o.dev_name, ch->dp.err);
	}
	ch->logged = true;	/* the caller reports a failed connect */
	pthread_mutex_unlock(&ch->lk);
	if (!ret)
		ret = kmig_dchan_start_hk(ch, err, n);
	if (ret) {
		kmig_dchan_free(ch);
		return ret;
	}
	ch->logged = false;
	kmig_log(KMIG_LOG_DEBUG, "dpdk", "connect: port %.1f ms, start %.1f ms, handshake %.1f ms",
		 (double)(t1 - t0) / 1e3, (double)(t2 - t1) / 1e3, (double)(kmig_dchan_now_us() - t2) / 1e3);
	opened(c, ch, "source");
	return 0;
}

/* closes the listener's ports that no channel took */
static void drop_ports(struct dlisten *dl)
{
	for (unsigned int q = 0; q < dl->nq; q++)
		if (dl->port[q]) {
			kmig_dpdk_port_close(dl->port[q]);
			dl->port[q] = NULL;
			kmig_dpdk_eal_release();
		}
}

static int dpdk_listen(struct kmig_listener *l, const struct kmig_uri *u, char *err, size_t n)
{
	struct dlisten *dl = calloc(1, sizeof(*dl));
	int ret;

	if (!dl) {
		snprintf(err, n, "dpdk: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&dl->lk, NULL);
	ret = prepare(u, &dl->o, err, n);
	/* every queue's port now: the device is configured with all of them at once */
	for (unsigned int q = 0; !ret && q < dl->o.queues; q++) {
		ret = open_port(&dl->o, &dl->port[q], true, err, n);
		dl->nq += !ret;
	}
	if (!ret) {
		ret = kmig_dpdk_port_start(dl->port[0], err, n);
		ret = ret == -EAGAIN ? 0 : ret;	/* a memif client: accept starts it */
	}
	if (ret) {
		drop_ports(dl);
		pthread_mutex_destroy(&dl->lk);
		free(dl);
		return ret;
	}
	snprintf(l->host, sizeof(l->host), "%s", dl->o.dev_name);
	l->priv = dl;
	return 0;
}

/* a SYN among the frames the listener's port got: the channel it opens */
static int try_syn(struct dlisten *dl, unsigned int q, struct rte_mbuf *m, struct dchan **out,
		   char *err, size_t n)
{
	struct kmig_dp_hdr h;
	enum kmig_dp_drop why;
	uint32_t len = 0;
	uint8_t *f = kmig_dpdk_port_frame(dl->port[q], &m, &len);
	const uint8_t *pl = f ? kmig_dp_check(f, len, &h, &why, false) : NULL;
	struct kmig_dp_syn syn;
	struct dchan *ch;
	int ret = 0;

	if (pl && h.type == KMIG_DP_SYN && !h.conn && !kmig_dp_parse_syn(&h, pl, &syn)) {
		ret = kmig_dchan_new(&ch, &dl->o, dl->port[q], err, n);
		dl->port[q] = NULL;	/* the channel owns it now, even when that failed */
		if (!ret) {
			memcpy(ch->peer, f + 6, 6);
			ret = kmig_dp_accept(&ch->dp, &h, pl, kmig_dchan_now_us());
			if (ret) {
				snprintf(err, n, "dpdk: bad SYN");
				kmig_dchan_free(ch);
			} else {
				*out = ch;
			}
		}
		ret = ret ? ret : 1;
	}
	if (m)
		rte_pktmbuf_free(m);
	return ret;
}

static int dpdk_accept(struct kmig_listener *l, struct kmig_chan *c, int timeout_ms, char *err,
		       size_t n)
{
	struct dlisten *dl = l->priv;
	struct dchan *ch = NULL;
	uint64_t end = timeout_ms < 0 ? UINT64_MAX : kmig_dchan_now_us() + (uint64_t)timeout_ms * 1000;
	unsigned int spins = 0;
	int ret = 0;

	kmig_dpdk_thread_enter();
	pthread_mutex_lock(&dl->lk);
	while (!ch && !ret) {
		unsigned int got = 0, left = 0;

		for (unsigned int q = 0; q < dl->nq; q++)
			left += dl->port[q] != NULL;
		if (!left) {
			snprintf(err, n, "dpdk: every queue of this destination has its channel "
				 "(queues=%u): the source opens more; give both URIs the same "
				 "queues=", dl->nq);
			ret = -EBUSY;
			break;
		}
		if (dl->aborted) {
			snprintf(err, n, "the incoming migration was cancelled");
			ret = -ECANCELED;
			break;
		}
		if (kmig_dchan_now_us() > end) {
			snprintf(err, n, "no connection within %d ms", timeout_ms);
			ret = -ETIMEDOUT;
			break;
		}
		/* a SYN on any queue not taken yet opens that queue's channel */
		for (unsigned int q = 0; q < dl->nq && !ch && !ret; q++) {
			if (!dl->port[q])
				continue;
			ret = kmig_dpdk_port_start(dl->port[q], err, n);
			if (ret == -EAGAIN) {
				ret = 0;
				spins = spins < 24 ? 24 : spins;	/* a memif client waits for its server */
				break;
			} else if (ret) {
				break;
			}
			unsigned int k = kmig_dpdk_port_rx(dl->port[q], dl->rx, dl->o.burst);

			got += k;
			for (unsigned int i = 0; i < k; i++) {
				int r = ch || ret < 0 ? 0 : try_syn(dl, q, dl->rx[i], &ch, err, n);

				if (r < 0)
					ret = r;
				if (r == 0 && (ch || ret < 0))
					rte_pktmbuf_free(dl->rx[i]);
			}
		}
		if (!got && !ch && !ret)
			kmig_dchan_wait(&dl->lk, &spins);
	}
	pthread_mutex_unlock(&dl->lk);
	if (!ret)
		ret = kmig_dchan_start_hk(ch, err, n);
	if (ret) {
		kmig_dchan_free(ch);
		return ret;
	}
	/* the SYNACK goes at once */
	pthread_mutex_lock(&ch->lk);
	kmig_dchan_progress(ch);
	pthread_mutex_unlock(&ch->lk);
	opened(c, ch, "destination");
	return 0;
}

static void dpdk_listen_abort(struct kmig_listener *l)
{
	struct dlisten *dl = l->priv;

	if (dl)
		dl->aborted = true;
}

static void dpdk_listen_close(struct kmig_listener *l)
{
	struct dlisten *dl = l->priv;

	if (!dl)
		return;
	kmig_dpdk_thread_enter();
	drop_ports(dl);
	pthread_mutex_destroy(&dl->lk);
	free(dl);
	l->priv = NULL;
}

/* ---- the stream ---- */

/* whether @p..@p+len lies in memory registered for this channel */
static bool registered(const struct dchan *ch, const void *p, uint32_t len)
{
	const uint8_t *a = p;

	for (unsigned int i = 0; i < ch->nmem; i++)
		if (a >= ch->mem[i].base && a + len <= ch->mem[i].base + ch->mem[i].len)
			return true;
	return false;
}

/* queues @len bytes of @p as copies, waiting for staging room as needed; 0 or -errno */
static int put_copy(struct dchan *ch, const uint8_t *p, uint32_t len, unsigned int *spins)
{
	while (len) {
		uint32_t k = kmig_dp_put_copy(&ch->dp, p, len);
		int ret = kmig_dchan_broken(ch);

		if (ret)
			return ret;
		p += k;
		len -= k;
		ch->queued += k;
		if (len) {
			kmig_dchan_progress(ch);
			if (!kmig_dp_stg_room(&ch->dp))
				ch->sleeps += kmig_dchan_wait(&ch->lk, spins);
		}
	}
	return 0;
}

/* the queue takes another record */
static bool room(const struct dchan *ch)
{
	return kmig_dp_piece_room(&ch->dp) >= 3 && ch->queued - ch->dp.snd_off < QUEUE_MAX;
}

static long dpdk_send(struct kmig_chan *c, const struct kmig_tx *tx, unsigned int n)
{
	struct dchan *ch = c->priv;
	unsigned int taken = 0, spins = 0;
	int ret = 0;

	kmig_dpdk_thread_enter();
	pthread_mutex_lock(&ch->lk);
	while (taken < n) {
		const struct kmig_tx *t = &tx[taken];
		bool ref = t->len && registered(ch, t->payload, t->len);

		/*
		 * Take a record only when the queue has room: the engine's pacing.
		 * The wait counts as waiting until room opens, whatever else the
		 * rounds do (acknowledgements alone would keep it spinning).
		 */
		while (!(ret = kmig_dchan_broken(ch)) && !room(ch)) {
			kmig_dchan_progress(ch);
			if (!room(ch))
				ch->sleeps += kmig_dchan_wait(&ch->lk, &spins);
		}
		spins = 0;
		if (!ret && t->hdr)
			ret = put_copy(ch, (const uint8_t *)t->hdr, sizeof(*t->hdr), &spins);
		if (!ret && ref) {
			ret = kmig_dp_put_ref(&ch->dp, t->payload, t->len);
			ch->queued += t->len;
		} else if (!ret && t->len) {
			ret = put_copy(ch, t->payload, t->len, &spins);
		}
		if (ret)
			break;
		c->bytes_out += (t->hdr ? sizeof(*t->hdr) : 0) + t->len;
		taken++;
	}
	/* out with it, as far as the windows allow */
	while (!kmig_dchan_broken(ch) && kmig_dchan_progress(ch) >= ch->o.burst)
		;
	pthread_mutex_unlock(&ch->lk);
	return taken ? (long)taken : ret;
}

static int dpdk_read(struct kmig_chan *c, void *buf, size_t n)
{
	struct dchan *ch = c->priv;
	unsigned int spins = 0;
	size_t got = 0;
	int ret = 0;

	kmig_dpdk_thread_enter();
	pthread_mutex_lock(&ch->lk);
	for (;;) {
		size_t k = kmig_dp_read(&ch->dp, (uint8_t *)buf + got, n - got);

		got += k;
		if (got == n)
			break;
		if (k)
			spins = 0;
		if (kmig_dp_eof(&ch->dp)) {
			ret = -ECONNRESET;
			break;
		}
		if (ch->rd_aborted || (ret = kmig_dchan_broken(ch))) {
			ret = ret ? ret : -ECONNABORTED;
			break;
		}
		/* the reader waits for bytes, not for activity (acknowledgements flow meanwhile) */
		kmig_dchan_progress(ch);
		if (!kmig_dp_readable(&ch->dp) && !kmig_dp_eof(&ch->dp))
			ch->sleeps += kmig_dchan_wait(&ch->lk, &spins);
	}
	c->bytes_in += got;
	pthread_mutex_unlock(&ch->lk);
	return ret;
}

static void dpdk_end_write(struct kmig_chan *c)
{
	struct dchan *ch = c->priv;

	if (!ch)
		return;
	kmig_dpdk_thread_enter();
	pthread_mutex_lock(&ch->lk);
	kmig_dp_end(&ch->dp);
	kmig_dchan_progress(ch);
	pthread_mutex_unlock(&ch->lk);
}

static void dpdk_abort_read(struct kmig_chan *c)
{
	struct dchan *ch = c->priv;

	if (ch)
		ch->rd_aborted = true;
}

static void dpdk_abort(struct kmig_chan *c)
{
	struct dchan *ch = c->priv;

	if (ch)
		ch->aborted = true;	/* the housekeeping thread sends the RST */
}

static int dpdk_register_mem(struct kmig_chan *c, void *base, size_t len, char *err, size_t n)
{
	struct dchan *ch = c->priv;
	int ret;

	if (ch->nmem == MAX_REGIONS) {
		snprintf(err, n, "dpdk: more than %d memory regions", MAX_REGIONS);
		return -ENOSPC;
	}
	kmig_dpdk_thread_enter();
	pthread_mutex_lock(&ch->lk);
	ret = kmig_dpdk_port_add_region(ch->port, base, len, true, err, n);
	if (!ret) {
		ch->mem[ch->nmem].base = base;
		ch->mem[ch->nmem].len = len;
		ch->nmem++;
	}
	pthread_mutex_unlock(&ch->lk);
	return ret;
}

/*
 * A memif ring lives only as long as the connection: a RST still in it when
 * this end closes its port is gone with it, and the peer would only see the
 * link go down.  So on memif, closing waits (lk held) until the peer
 * answers with its own RST or its port goes, at most RST_LINGER_US.
 */
static void rst_linger(struct dchan *ch, unsigned int *spins)
{
	uint64_t end = kmig_dchan_now_us() + RST_LINGER_US;

	if (strcmp(kmig_dpdk_port_info(ch->port)->driver, "net_memif"))
		return;
	while (!ch->dp.rst_in && kmig_dpdk_port_link_up(ch->port) && kmig_dchan_now_us() < end)
		if (!kmig_dchan_progress(ch))
			ch->sleeps += kmig_dchan_wait(&ch->lk, spins);
}

/* the channel's counters, one key=value line (the e2e tests read it) */
static int dpdk_close(struct kmig_chan *c)
{
	struct dchan *ch = c->priv;
	unsigned int spins = 0;

	if (!ch)
		return 0;
	kmig_dpdk_thread_enter();
	pthread_mutex_lock(&ch->lk);
	ch->closing = true;
	/* what was sent last (an error text, RESUMED) must still arrive */
	if (!ch->aborted && ch->dp.state == KMIG_DP_OPEN) {
		uint64_t end = kmig_dchan_now_us() + LINGER_US;

		while (!kmig_dp_tx_done(&ch->dp) && ch->dp.state == KMIG_DP_OPEN && kmig_dchan_now_us() < end)
			if (!kmig_dchan_progress(ch))
				ch->sleeps += kmig_dchan_wait(&ch->lk, &spins);
	}
	ch->aborted = true;
	ch->reset_done = true;
	kmig_dp_reset(&ch->dp, -ECONNABORTED, "the channel was closed");
	kmig_dchan_progress(ch);
	rst_linger(ch, &spins);
	pthread_mutex_unlock(&ch->lk);
	kmig_dchan_log_stats(ch);
	kmig_dchan_free(ch);
	c->priv = NULL;
	return 0;
}

const struct kmig_chan_ops kmig_chan_dpdk_ops = {
	.scheme = "dpdk",
	.caps = KMIG_CHAN_F_RETURN_PATH,
	.connect = dpdk_connect,
	.listen = dpdk_listen,
	.accept = dpdk_accept,
	.listen_abort = dpdk_listen_abort,
	.listen_close = dpdk_listen_close,
	.send = dpdk_send,
	.read = dpdk_read,
	.end_write = dpdk_end_write,
	.abort_read = dpdk_abort_read,
	.abort = dpdk_abort,
	.register_mem = dpdk_register_mem,
	.close = dpdk_close,
};

int kmig_chan_dpdk_prestart(const char *opts, char *err, size_t n)
{
	struct kmig_dpdk_opts o;
	int ret = kmig_dpdk_opts_parse_eal(opts, &o, err, n);

	return ret ? ret : kmig_dpdk_eal_start(&o, true, err, n);
}
