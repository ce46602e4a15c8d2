// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_postcopy_state.c: postcopy's parts of the engine that need no
 * migration: what migrate_cancel, migrate-start-postcopy, migrate-pause,
 * migrate resume and migrate-recover do in each state (docs/postcopy.md's
 * table), the policy's hook for leaving precopy, and the return-path
 * reader's page requests (queued in order, a flood dropped and counted,
 * bad ones passed on for the server to refuse) and bitmaps (sizes checked
 * before any byte is taken).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "converge.h"
#include "mig_internal.h"
#include "retpath.h"
#include "xport_fd.h"

/* a source in @st, as its thread would have put it there (no thread runs) */
static struct kmig_mig *source_in(enum kmig_mig_status st, bool postcopy)
{
	struct kmig_mig *m = kmig_mig_new(NULL, NULL);

	assert_non_null(m);
	m->role = KMIG_MIG_ROLE_SRC;
	m->cfg.postcopy = postcopy;
	m->status = st;
	m->committed = st >= KMIG_MIG_POSTCOPY_ACTIVE;
	return m;
}

static void test_cancel_in_each_phase(void **state)
{
	static const char busy[] = "Postcopy migration in progress, cannot cancel.";
	struct kmig_mig *m;
	char err[128];

	/* precopy with postcopy-ram on: an ordinary cancel */
	m = source_in(KMIG_MIG_ACTIVE, true);
	assert_int_equal(kmig_mig_cancel(m, err, sizeof(err)), 0);
	assert_int_equal(m->status, KMIG_MIG_CANCELLING);
	assert_true(m->cancel);
	kmig_mig_free(m);
	/* postcopy-active and postcopy-recover: refused, nothing changes */
	for (enum kmig_mig_status st = KMIG_MIG_POSTCOPY_ACTIVE; st <= KMIG_MIG_POSTCOPY_RECOVER;
	     st++) {
		if (st == KMIG_MIG_POSTCOPY_PAUSED)
			continue;
		m = source_in(st, true);
		err[0] = 0;
		assert_int_equal(kmig_mig_cancel(m, err, sizeof(err)), -EBUSY);
		assert_string_equal(err, busy);
		assert_int_equal(m->status, st);
		assert_false(m->cancel);
		kmig_mig_free(m);
	}
	/* postcopy-paused: given up (the thread ends it as failed, holding the workload) */
	m = source_in(KMIG_MIG_POSTCOPY_PAUSED, true);
	assert_int_equal(kmig_mig_cancel(m, err, sizeof(err)), 0);
	assert_true(m->cancel);
	assert_int_equal(m->status, KMIG_MIG_POSTCOPY_PAUSED);
	kmig_mig_free(m);
}

static void test_postcopy_commands_by_state(void **state)
{
	struct kmig_mig *m = kmig_mig_new(NULL, NULL);
	struct kmig_uri uri = { 0 };
	char err[128];

	/* nothing started: QEMU's "must be started after migration has been started" */
	assert_int_equal(kmig_mig_start_postcopy(m), -ENOENT);
	assert_int_equal(kmig_mig_pause(m), -EINVAL);
	assert_int_equal(kmig_mig_resume(m, &uri, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "Cannot resume if there is no paused migration");
	assert_int_equal(kmig_mig_recover(m, &uri, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "Migrate recover can only be run when postcopy is paused.");
	kmig_mig_free(m);

	/* a precopy-only migration: nothing to switch, and no error (as QEMU) */
	m = source_in(KMIG_MIG_ACTIVE, false);
	assert_int_equal(kmig_mig_start_postcopy(m), -EINVAL);
	assert_false(m->start_postcopy);
	kmig_mig_free(m);
	/* with postcopy-ram: the flag the migration thread polls */
	m = source_in(KMIG_MIG_ACTIVE, true);
	assert_int_equal(kmig_mig_start_postcopy(m), 0);
	assert_true(m->start_postcopy);
	kmig_mig_free(m);
	/* once ended: accepted, nothing happens */
	m = source_in(KMIG_MIG_COMPLETED, true);
	assert_int_equal(kmig_mig_start_postcopy(m), 0);
	assert_false(m->start_postcopy);
	kmig_mig_free(m);

	/* paused: resume takes the URI once and wakes the thread */
	m = source_in(KMIG_MIG_POSTCOPY_PAUSED, true);
	uri.kind = KMIG_URI_TCP;
	assert_int_equal(kmig_mig_resume(m, &uri, err, sizeof(err)), 0);
	assert_int_equal(kmig_mig_resume(m, &uri, err, sizeof(err)), -EINVAL);
	{
		struct kmig_uri got;

		assert_true(kmig_mig_wait_resume(m, &got, NULL));
		assert_int_equal(got.kind, KMIG_URI_TCP);
	}
	/* a cancel while paused makes the wait give up */
	kmig_mig_cancel(m, NULL, 0);
	assert_false(kmig_mig_wait_resume(m, &uri, NULL));
	kmig_mig_free(m);
}

static void test_leave_for_postcopy(void **state)
{
	struct kmig_converge c;

	kmig_converge_init(&c, 0, 0);
	assert_false(kmig_converge_leave_for_postcopy(&c, false));
	assert_true(kmig_converge_leave_for_postcopy(&c, true));
	assert_non_null(strstr(c.why, "postcopy"));
}

/* ---- the return path's postcopy records ---- */

static void pair(struct kmig_chan *c, int *far)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(c, 0, sizeof(*c));
	assert_int_equal(kmig_fdchan_init(c, &kmig_chan_unix_ops, sv[0], 0), 0);
	*far = sv[1];
}

static void send_rec(int fd, struct kmig_wire_rec r, const void *payload)
{
	assert_int_equal(write(fd, &r, sizeof(r)), (ssize_t)sizeof(r));
	if (r.len)
		assert_int_equal(write(fd, payload, r.len), (ssize_t)r.len);
}

static void stop(struct kmig_retpath *rp, struct kmig_chan *c, int far)
{
	close(far);
	kmig_chan_abort(c);
	kmig_retpath_stop(rp);
	kmig_chan_close(c);
}

/* a writer that floods the return path from its own thread (the socket buffer is small) */
struct flood {
	int fd;
	unsigned int n;
};

static void *flood_main(void *arg)
{
	struct flood *f = arg;

	for (unsigned int i = 0; i < f->n; i++)
		send_rec(f->fd, (struct kmig_wire_rec){ .type = KMIG_REC_REQUEST, .count = 1,
							.offset = (uint64_t)i << 12 }, NULL);
	send_rec(f->fd, (struct kmig_wire_rec){ .type = KMIG_REC_ACCEPT }, NULL);
	return NULL;
}

static void test_requests_queued_and_flood_dropped(void **state)
{
	struct kmig_retpath_req out[64];
	struct kmig_retpath rp;
	struct kmig_chan c;
	struct flood f;
	pthread_t t;
	char err[256];
	unsigned int got = 0, n;
	int far;

	pair(&c, &far);
	assert_int_equal(kmig_retpath_start(&rp, &c), 0);
	/* requests come out as they came in, bad ones too (the server refuses those) */
	send_rec(far, (struct kmig_wire_rec){ .type = KMIG_REC_REQUEST, .block = 1, .count = 2,
					      .offset = 8192 }, NULL);
	send_rec(far, (struct kmig_wire_rec){ .type = KMIG_REC_REQUEST, .block = 99, .count = 0,
					      .offset = 17 }, NULL);
	n = kmig_retpath_take_requests(&rp, out, 64, 5000);
	if (n < 2)
		n += kmig_retpath_take_requests(&rp, out + n, 64 - n, 5000);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].block, 1);
	assert_int_equal(out[0].count, 2);
	assert_int_equal(out[0].offset, 8192);
	assert_int_equal(out[1].block, 99);
	assert_int_equal(out[1].offset, 17);
	assert_int_equal(kmig_retpath_take_requests(&rp, out, 64, 0), 0);
	/* a flood nobody takes: the queue keeps KMIG_RETPATH_QUEUE, the rest is counted */
	f = (struct flood){ .fd = far, .n = KMIG_RETPATH_QUEUE + 1000 };
	assert_int_equal(pthread_create(&t, NULL, flood_main, &f), 0);
	assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_ACCEPT, 10000, NULL, "flood", err,
					   sizeof(err)), 0);
	pthread_join(t, NULL);
	assert_int_equal(kmig_retpath_dropped(&rp), 1000);
	while ((n = kmig_retpath_take_requests(&rp, out, 64, 0)))
		got += n;
	assert_int_equal(got, KMIG_RETPATH_QUEUE);
	/* ACKs keep the highest offset and wake a waiting taker */
	assert_int_equal(kmig_retpath_acked(&rp), 0);
	send_rec(far, (struct kmig_wire_rec){ .type = KMIG_REC_ACK, .offset = 70000 }, NULL);
	send_rec(far, (struct kmig_wire_rec){ .type = KMIG_REC_ACK, .offset = 4096 }, NULL);
	send_rec(far, (struct kmig_wire_rec){ .type = KMIG_REC_VERIFIED }, NULL);
	assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_VERIFIED, 5000, NULL, "ack", err,
					   sizeof(err)), 0);
	assert_int_equal(kmig_retpath_acked(&rp), 70000);
	/* a request with a payload is not a request: the reading ends */
	send_rec(far, (struct kmig_wire_rec){ .type = KMIG_REC_REQUEST, .count = 1, .len = 4 },
		 "xxxx");
	assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_VERIFIED, 5000, NULL, "junk", err,
					   sizeof(err)), -EPROTO);
	stop(&rp, &c, far);
}

struct seen_bits {
	unsigned int calls;
	uint32_t count;
	uint64_t first;
};

static int on_bits(void *opaque, const struct kmig_wire_rec *r, const uint64_t *bits)
{
	struct seen_bits *s = opaque;

	s->calls++;
	s->count = r->count;
	s->first = bits[0];
	return r->block ? -EPROTO : 0;		/* block 1: "not ours" */
}

static void test_bitmaps_checked(void **state)
{
	static const struct {
		uint32_t count, len;
	} bad[] = {
		{ 0, 0 },			/* no pages */
		{ 65, 8 },			/* 65 pages need 16 bytes */
		{ 64, 16 },			/* 64 pages are 8 bytes */
		{ KMIG_WIRE_MAX_BITMAP + 1, (KMIG_WIRE_MAX_BITMAP + 64) / 8 },
	};
	uint64_t bits[2] = { 0x5a5a, 1 };
	struct seen_bits sb = { 0 };
	struct kmig_retpath_hooks hooks = { .bitmap = on_bits, .opaque = &sb };
	struct kmig_retpath rp;
	struct kmig_chan c;
	char err[256];
	int far;

	/* without hooks (not resuming) a bitmap is out of place */
	pair(&c, &far);
	assert_int_equal(kmig_retpath_start(&rp, &c), 0);
	send_rec(far, (struct kmig_wire_rec){ .type = KMIG_REC_BITMAP, .count = 64, .len = 8 },
		 bits);
	assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_ACCEPT, 5000, NULL, "bitmap", err,
					   sizeof(err)), -EPROTO);
	stop(&rp, &c, far);
	/* with them: a good one is handed on, then ACCEPT */
	pair(&c, &far);
	assert_int_equal(kmig_retpath_start_hooks(&rp, &c, &hooks), 0);
	send_rec(far, (struct kmig_wire_rec){ .type = KMIG_REC_BITMAP, .count = 100, .len = 16 },
		 bits);
	send_rec(far, (struct kmig_wire_rec){ .type = KMIG_REC_ACCEPT }, NULL);
	assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_ACCEPT, 5000, NULL, "bitmap", err,
					   sizeof(err)), 0);
	assert_int_equal(sb.calls, 1);
	assert_int_equal(sb.count, 100);
	assert_int_equal(sb.first, 0x5a5a);
	/* the hook's refusal ends the reading */
	send_rec(far, (struct kmig_wire_rec){ .type = KMIG_REC_BITMAP, .block = 1, .count = 64,
					      .len = 8 }, bits);
	assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_ACCEPT, 5000, NULL, "bitmap", err,
					   sizeof(err)), -EPROTO);
	stop(&rp, &c, far);
	/* sizes that do not fit the count: refused before the payload is read */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pair(&c, &far);
		sb.calls = 0;
		assert_int_equal(kmig_retpath_start_hooks(&rp, &c, &hooks), 0);
		{
			/* the header alone: the payload it claims never comes */
			struct kmig_wire_rec r = { .type = KMIG_REC_BITMAP, .count = bad[i].count,
						   .len = bad[i].len };

			assert_int_equal(write(far, &r, sizeof(r)), (ssize_t)sizeof(r));
		}
		assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_ACCEPT, 5000, NULL, "bitmap", err,
						   sizeof(err)), -EPROTO);
		assert_int_equal(sb.calls, 0);
		stop(&rp, &c, far);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cancel_in_each_phase),
		cmocka_unit_test(test_postcopy_commands_by_state),
		cmocka_unit_test(test_leave_for_postcopy),
		cmocka_unit_test(test_requests_queued_and_flood_dropped),
		cmocka_unit_test(test_bitmaps_checked),
	};

	return cmocka_run_group_tests_name("postcopy_state", tests, NULL, NULL);
}
