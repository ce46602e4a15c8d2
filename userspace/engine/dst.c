// SPDX-License-Identifier: GPL-2.0-only
/*
 * dst.c: the destination side of a migration, start to end.  Accepts the
 * main channel, checks the stream header and block table against the
 * destination workload's blocks and says so (ACCEPT), accepts the data
 * channels of a multifd stream and receives each on its own thread, and
 * once everything arrived and verified waits for the source's go-ahead
 * before it hands the device state to the workload and lets it start.
 * A failure is told to the source as text and to the workload as FAILED;
 * the workload never starts after one.  With postcopy the workload starts
 * at the source's RUN instead, and a broken connection after that pauses
 * the migration until migrate-recover (dst_postcopy.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dst.h"
#include "log.h"

#define WORKLOAD_WAIT_MS   60000
#define STARTED_TIMEOUT_MS 10000
#define CHANNEL_WAIT_MS    10000	/* for each data channel after the header */

static void reply(struct kmig_dst *d, uint16_t type, const char *text)
{
	struct kmig_wire_rec r = { .type = type };

	r.len = text ? (uint32_t)strnlen(text, KMIG_WIRE_MAX_ERROR) : 0;
	if (kmig_dst_reply(d, &r, text))
		kmig_log(KMIG_LOG_WARN, "incoming", "cannot answer the source");
}

/*
 * Receives to the end; in postcopy a broken main channel pauses the
 * migration and a resumed one goes on receiving.  Then, in postcopy, the
 * last answer: every page is in and checked.
 */
static int receive_all(struct kmig_dst *d)
{
	int ret = kmig_dst_receive(d);

	while (ret && d->phase == KMIG_DST_PC_RUNNING && d->io_broken && !d->m->cancel &&
	       !kmig_dst_pc_start_result(d, false)) {
		ret = kmig_dst_pc_pause(d);
		if (!ret)
			ret = kmig_dst_receive(d);
	}
	if (!ret && d->phase == KMIG_DST_PC_RUNNING)
		ret = kmig_dst_pc_start_result(d, true);	/* it must have started */
	if (!ret && d->phase == KMIG_DST_PC_RUNNING) {
		reply(d, KMIG_REC_VERIFIED, NULL);
		kmig_dst_pc_finish(d, true);
	}
	return ret;
}

/* the data channels accepted before one failed: withdrawn and closed (nchans is still 1) */
static void drop_accepted(struct kmig_dst *d, const bool *have, unsigned int n)
{
	for (unsigned int i = 1; i <= n; i++)
		if (have[i]) {
			kmig_mig_withdraw_chan(d->m, &d->chans[i]);
			kmig_chan_close(&d->chans[i]);
		}
}

/* accepts the data channels; each says which it is and that it belongs to us */
static int accept_data_chans(struct kmig_dst *d, struct kmig_listener *lis)
{
	unsigned int n = d->hdr.nchannels;
	bool have[KMIG_MIG_MAX_CHANS] = { false };

	for (unsigned int k = 0; k < n; k++) {
		struct kmig_wire_chan_hello hello;
		struct kmig_chan c;
		char err[256] = "";
		int ret = kmig_chan_accept(lis, &c, CHANNEL_WAIT_MS, err, sizeof(err));

		if (ret) {
			drop_accepted(d, have, n);
			return kmig_dst_fail(d, ret, "data channel %u of %u did not connect: %s", k + 1,
					     n, err);
		}
		ret = kmig_chan_read(&c, &hello, sizeof(hello));
		if (ret || hello.magic != KMIG_WIRE_CHAN_MAGIC || hello.session != d->hdr.session ||
		    !hello.chan || hello.chan > n || have[hello.chan] || hello.reserved) {
			kmig_chan_close(&c);
			drop_accepted(d, have, n);
			return kmig_dst_fail(d, -EPROTO, "a connection that is not one of this "
					     "migration's data channels arrived");
		}
		have[hello.chan] = true;
		c.id = hello.chan;
		d->chans[hello.chan] = c;
		kmig_mig_publish_chan(d->m, &d->chans[hello.chan]);
	}
	d->nchans = n + 1;
	for (unsigned int i = 1; i < d->nchans; i++) {
		int ret = pthread_create(&d->rx[i].thr, NULL, kmig_dst_rx_thread, &d->rx[i]);

		if (ret) {
			kmig_dst_abort(d);
			return kmig_dst_fail(d, -ret, "cannot start a receiving thread: %s",
					     strerror(ret));
		}
		d->rx[i].thr_live = true;
	}
	return 0;
}

/*
 * Tells the source everything checked out and waits for its go-ahead: the
 * source may have been cancelled meanwhile (and resumed), and then this
 * side must not start the workload.
 */
static int await_go(struct kmig_dst *d)
{
	struct kmig_wire_rec r;
	int ret;

	reply(d, KMIG_REC_VERIFIED, NULL);
	ret = kmig_chan_read(&d->chans[0], &r, sizeof(r));
	if (ret)
		return kmig_dst_fail(d, ret, "the source withdrew before the hand-over (cancelled, "
				     "or the link failed): not starting the workload");
	if (r.type != KMIG_REC_GO || r.len || r.reserved || r.reserved2 || r.chan || r.enc ||
	    r.flags)
		return kmig_dst_fail(d, -EPROTO, "expected the go-ahead, got record type %u",
				     r.type);
	return 0;
}

static int run(struct kmig_dst *d, struct kmig_listener *lis)
{
	struct kmig_mig *m = d->m;
	struct kmig_wire_block *tab = d->tab;
	char err[512] = "";
	int ret = kmig_chan_accept(lis, &d->chans[0], -1, err, sizeof(err));

	if (ret)
		return kmig_dst_fail(d, ret, "%s", err);
	d->nchans = 1;
	kmig_mig_publish_chan(m, &d->chans[0]);
	pthread_mutex_lock(&m->lock);
	m->start_ms = kmig_now_ms();
	pthread_mutex_unlock(&m->lock);
	kmig_mig_transition(m, KMIG_MIG_SETUP, KMIG_MIG_ACTIVE, NULL);
	ret = kmig_dst_read_header(d, tab);
	if (ret)
		return ret;
	/* the workload may register after migrate-incoming: wait for it */
	d->wl = kmig_mig_borrow_workload(m, KMIG_ROLE_DST, WORKLOAD_WAIT_MS);
	if (!d->wl)
		return kmig_dst_fail(d, -ENOENT, "no destination workload registered with this "
				     "kmigd within %d s", WORKLOAD_WAIT_MS / 1000);
	ret = kmig_dst_match_blocks(d, tab);
	if (!ret && d->hdr.version == KMIG_WIRE_VERSION_POSTCOPY)
		ret = kmig_dst_pc_prepare(d);	/* postcopy may come: faults on missing pages */
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	m->stats.total = d->hdr.total;
	pthread_mutex_unlock(&m->lock);
	reply(d, KMIG_REC_ACCEPT, NULL);
	if (d->hdr.nchannels)
		ret = accept_data_chans(d, lis);
	if (!ret)
		ret = receive_all(d);
	if (!ret && d->phase == KMIG_DST_PC_RUNNING)
		return 0;	/* postcopy: it runs already */
	if (!ret && (d->chans[0].caps & KMIG_CHAN_F_RETURN_PATH))
		ret = await_go(d);
	if (!ret)
		kmig_dst_pc_finish(d, true);	/* a version-3 stream that ended as precopy */
	if (!ret)
		ret = d->wl->ops->load(d->wl, d->state, d->state_len, STARTED_TIMEOUT_MS, d->err,
				       sizeof(d->err));
	if (!ret) {
		kmig_mig_event(m, KMIG_EV_RESUME, 0);
		reply(d, KMIG_REC_RESUMED, NULL);
	}
	return ret;
}

void *kmig_dst_thread(void *arg)
{
	struct kmig_mig *m = arg;
	struct kmig_dst *d = calloc(1, sizeof(*d));
	struct kmig_listener lis;
	int ret;

	pthread_mutex_lock(&m->lock);
	lis = m->lis;
	pthread_mutex_unlock(&m->lock);
	if (!d) {
		ret = -ENOMEM;
		goto out_lis;
	}
	kmig_dst_init(d, m);
	d->decode_threads = m->cfg.decode_threads;
	ret = run(d, &lis);
	if (ret) {
		if (m->cancel && !d->err[0])
			snprintf(d->err, sizeof(d->err), "incoming migration cancelled");
		kmig_dst_abort(d);
		reply(d, KMIG_REC_ERROR, d->err);
		kmig_dst_pc_finish(d, false);	/* its start ends first: one call at a time */
		if (d->wl)
			d->wl->ops->failed(d->wl);
		kmig_log(KMIG_LOG_WARN, "incoming", "migration failed: %s", d->err);
	}
	for (unsigned int i = 1; i < d->nchans; i++)
		if (d->rx[i].thr_live)
			pthread_join(d->rx[i].thr, NULL);
	for (unsigned int i = d->nchans; i-- > 0;) {
		kmig_chan_end_write(&d->chans[i]);
		kmig_mig_withdraw_chan(m, &d->chans[i]);
		kmig_chan_close(&d->chans[i]);
	}
	if (d->wl)
		kmig_mig_return_workload(m);
out_lis:
	pthread_mutex_lock(&m->lock);
	m->listening = false;	/* nobody aborts it from here on */
	m->lis.priv = NULL;
	pthread_mutex_unlock(&m->lock);
	kmig_chan_listen_close(&lis);
	kmig_mig_finish(m, ret ? KMIG_MIG_FAILED : KMIG_MIG_COMPLETED,
			ret ? (d && d->err[0] ? d->err : strerror(-ret)) : NULL);
	if (d) {
		kmig_dst_fini(d);
		free(d);
	}
	kmig_mig_thread_exit(m);
	return NULL;
}
