// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_engine_state.c: the engine's state machine and its return path,
 * without a migration: from->to transitions fail once the state moved on
 * (a late "active" never overwrites "cancelling"), events come out in the
 * order of the transitions, also when two threads race, and the source's
 * return-path reader delivers the destination's answers and its error
 * text (up to 511 bytes) and refuses what does not belong there.
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

#include "mig_internal.h"
#include "retpath.h"
#include "xport_fd.h"

static struct kmig_mig *fresh_source(void)
{
	struct kmig_mig *m = kmig_mig_new(NULL, NULL);

	assert_non_null(m);
	/* what kmig_mig_start does, without starting a thread */
	m->role = KMIG_MIG_ROLE_SRC;
	assert_true(kmig_mig_transition(m, KMIG_MIG_NONE, KMIG_MIG_SETUP, NULL));
	return m;
}

static void expect_events(struct kmig_mig *m, const enum kmig_mig_status *want, size_t n)
{
	struct kmig_mig_event ev;

	for (size_t i = 0; i < n; i++) {
		assert_true(kmig_mig_next_event(m, &ev));
		assert_int_equal(ev.kind, KMIG_EV_MIGRATION);
		assert_int_equal(ev.status, want[i]);
	}
	assert_false(kmig_mig_next_event(m, &ev));
}

static void test_cancelling_is_not_overwritten(void **state)
{
	static const enum kmig_mig_status want[] = {
		KMIG_MIG_SETUP, KMIG_MIG_CANCELLING, KMIG_MIG_CANCELLED,
	};
	struct kmig_mig *m = fresh_source();
	struct kmig_mig_info mi;

	kmig_mig_cancel(m, NULL, 0);
	/* the migration thread, a moment late, reports it connected */
	assert_false(kmig_mig_transition(m, KMIG_MIG_SETUP, KMIG_MIG_ACTIVE, NULL));
	kmig_mig_get_info(m, &mi);
	assert_int_equal(mi.status, KMIG_MIG_CANCELLING);
	/* and then that it finished: a cancel that came in time ends as cancelled */
	assert_true(kmig_mig_finish(m, KMIG_MIG_COMPLETED, NULL));
	assert_false(kmig_mig_finish(m, KMIG_MIG_FAILED, "too late"));
	kmig_mig_get_info(m, &mi);
	assert_int_equal(mi.status, KMIG_MIG_CANCELLED);
	assert_string_equal(mi.error_desc, "");
	expect_events(m, want, 3);
	kmig_mig_free(m);
}

static void test_cancel_after_commit_is_too_late(void **state)
{
	static const enum kmig_mig_status want[] = {
		KMIG_MIG_SETUP, KMIG_MIG_ACTIVE, KMIG_MIG_COMPLETED,
	};
	struct kmig_mig *m = fresh_source();

	assert_true(kmig_mig_transition(m, KMIG_MIG_SETUP, KMIG_MIG_ACTIVE, NULL));
	m->committed = true;
	kmig_mig_cancel(m, NULL, 0);
	assert_false(m->cancel);
	assert_true(kmig_mig_finish(m, KMIG_MIG_COMPLETED, NULL));
	expect_events(m, want, 3);
	kmig_mig_free(m);
}

struct racer {
	struct kmig_mig *m;
	int rounds;
};

static void *pass_events(void *arg)
{
	struct racer *r = arg;

	for (int i = 1; i <= r->rounds; i++)
		kmig_mig_event(r->m, KMIG_EV_PASS, (unsigned int)i);
	return NULL;
}

/* events from two threads: each thread's own come out in its order, none lost */
static void test_events_keep_order_across_threads(void **state)
{
	struct kmig_mig *m = fresh_source();
	struct racer r = { .m = m, .rounds = 20000 };
	struct kmig_mig_event ev;
	unsigned int next_pass = 1, n = 0;
	enum kmig_mig_status last = KMIG_MIG_NONE;
	pthread_t t;
	bool cancelled;

	assert_int_equal(pthread_create(&t, NULL, pass_events, &r), 0);
	/* the "loop thread" cancels while the "migration thread" reports passes */
	assert_true(kmig_mig_transition(m, KMIG_MIG_SETUP, KMIG_MIG_ACTIVE, NULL));
	kmig_mig_cancel(m, NULL, 0);
	cancelled = kmig_mig_finish(m, KMIG_MIG_FAILED, "x");
	pthread_join(t, NULL);
	assert_true(cancelled);
	while (kmig_mig_next_event(m, &ev)) {
		n++;
		if (ev.kind == KMIG_EV_PASS) {
			assert_int_equal(ev.pass, next_pass);
			next_pass++;
		} else {
			/* statuses strictly in the order they were reached */
			assert_true(ev.status > last || (last == KMIG_MIG_ACTIVE &&
							 ev.status == KMIG_MIG_CANCELLING));
			if (last == KMIG_MIG_CANCELLING)
				assert_int_equal(ev.status, KMIG_MIG_CANCELLED);
			last = ev.status;
		}
	}
	assert_int_equal(next_pass, r.rounds + 1);
	assert_int_equal(n, r.rounds + 4);	/* setup, active, cancelling, cancelled */
	assert_int_equal(last, KMIG_MIG_CANCELLED);
	kmig_mig_free(m);
}

/* a source channel over a socketpair; *far gets the destination's end */
static void pair(struct kmig_chan *c, int *far)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(c, 0, sizeof(*c));
	assert_int_equal(kmig_fdchan_init(c, &kmig_chan_unix_ops, sv[0], 0), 0);
	*far = sv[1];
}

static void answer(int fd, uint16_t type, const char *text, uint32_t len)
{
	struct kmig_wire_rec r = { .type = type, .len = len };

	assert_int_equal(write(fd, &r, sizeof(r)), (ssize_t)sizeof(r));
	if (len)
		assert_int_equal(write(fd, text, len), (ssize_t)len);
}

static void test_retpath_answers_and_long_error(void **state)
{
	struct kmig_retpath rp;
	struct kmig_chan c;
	char err[700], text[KMIG_WIRE_MAX_ERROR + 1], want[700];
	int far;

	pair(&c, &far);
	assert_int_equal(kmig_retpath_start(&rp, &c), 0);
	answer(far, KMIG_REC_ACCEPT, NULL, 0);
	answer(far, KMIG_REC_VERIFIED, NULL, 0);
	assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_ACCEPT, 5000, NULL, "header", err,
					   sizeof(err)), 0);
	assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_VERIFIED, 5000, NULL, "verify", err,
					   sizeof(err)), 0);
	/* nothing more came: a wait times out and says for what */
	assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_RESUMED, 300, NULL, "workload start",
					   err, sizeof(err)), -ETIMEDOUT);
	assert_string_equal(err, "the destination did not answer (workload start) within 0 s");
	/* the longest error text a destination may send arrives whole */
	memset(text, 'e', KMIG_WIRE_MAX_ERROR);
	text[KMIG_WIRE_MAX_ERROR] = 0;
	answer(far, KMIG_REC_ERROR, text, KMIG_WIRE_MAX_ERROR);
	assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_RESUMED, 5000, NULL, "workload start",
					   err, sizeof(err)), -EIO);
	snprintf(want, sizeof(want), "the destination failed: %s", text);
	assert_string_equal(err, want);
	assert_true(kmig_retpath_error(&rp, 0, err, sizeof(err)));
	close(far);
	kmig_chan_abort(&c);
	kmig_retpath_stop(&rp);
	kmig_chan_close(&c);
}

static void test_retpath_refuses_junk(void **state)
{
	static const struct {
		uint16_t type;
		uint32_t len;
	} junk[] = {
		{ KMIG_REC_ERROR, KMIG_WIRE_MAX_ERROR + 1 },	/* a text over the limit */
		{ KMIG_REC_PAGES, 0 },				/* not an answer */
		{ KMIG_REC_ACCEPT, 8 },				/* an answer with a payload */
		{ 99, 0 },
	};

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		struct kmig_retpath rp;
		struct kmig_chan c;
		char err[256], pad[KMIG_WIRE_MAX_ERROR + 8] = { 0 };
		int far;

		pair(&c, &far);
		assert_int_equal(kmig_retpath_start(&rp, &c), 0);
		answer(far, junk[i].type, pad, junk[i].len);
		assert_int_equal(kmig_retpath_wait(&rp, KMIG_REC_ACCEPT, 5000, NULL, "header", err,
						   sizeof(err)), -EPROTO);
		assert_string_equal(err, "bad answer from the destination (header)");
		close(far);
		kmig_chan_abort(&c);
		kmig_retpath_stop(&rp);
		kmig_chan_close(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cancelling_is_not_overwritten),
		cmocka_unit_test(test_cancel_after_commit_is_too_late),
		cmocka_unit_test(test_events_keep_order_across_threads),
		cmocka_unit_test(test_retpath_answers_and_long_error),
		cmocka_unit_test(test_retpath_refuses_junk),
	};

	return cmocka_run_group_tests_name("engine_state", tests, NULL, NULL);
}
