// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_libkmig_errors.c: libkmig when things go wrong: callbacks that fail,
 * malformed or out-of-order messages from the agent (always an error with
 * descriptors closed, never a crash), and the agent going away.
 */
#include "fake_agent.h"

static void test_callback_failures(void **state)
{
	struct wl w = { .fail_pause = true, .state = "s" };
	int a;
	struct kmig_ctx *ctx = registered(KMIG_ROLE_SOURCE, &w, &a);

	/* pause failed: the workload still runs, nothing to resume */
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), -ECANCELED);
	assert_int_equal(w.pauses, 1);
	assert_int_equal(w.saves, 0);
	assert_int_equal(w.resumes, 0);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
	assert_dropped(a);
	close(a);
	kmig_close(ctx);

	/* save_state failed after pause: the library resumes */
	w = (struct wl){ .fail_save = true, .state = "s" };
	ctx = registered(KMIG_ROLE_SOURCE, &w, &a);
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), -ECANCELED);
	assert_int_equal(w.pauses, 1);
	assert_int_equal(w.resumes, 1);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
	assert_dropped(a);
	close(a);
	kmig_close(ctx);

	/* NULL callbacks: an empty state, and the conversation still works */
	{
		struct kmig_wl_hdr h;
		int sv[2], fds[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		ctx = kmig_open_fd(sv[0], KMIG_ROLE_SOURCE, NULL, NULL);
		assert_non_null(ctx);
		assert_non_null(kmig_ram_alloc(ctx, "r", 1));
		/* kmigd's acceptance, queued ahead: kmig_register waits for it */
		agent_send(sv[1], KMIG_WL_REGISTERED, NULL, 0);
		assert_int_equal(kmig_register(ctx), 0);
		for (int i = 0; i < 3; i++) {
			uint8_t buf[sizeof(struct kmig_wl_block)];

			assert_int_equal(kmig_wl_recv(sv[1], &h, buf, sizeof(buf), fds), 0);
			for (int j = 0; j < 2; j++)
				if (fds[j] >= 0)
					close(fds[j]);
		}
		agent_send(sv[1], KMIG_WL_PAUSE, NULL, 0);
		assert_int_equal(kmig_dispatch(ctx), 0);
		assert_int_equal(agent_recv(sv[1], KMIG_WL_PAUSED, NULL, 0, fds, 0), 0);
		agent_send(sv[1], KMIG_WL_MIGRATED, NULL, 0);
		assert_int_equal(kmig_dispatch(ctx), 1);
		close(sv[1]);
		kmig_close(ctx);
	}
}

/* ---- malformed input from the agent ---- */

struct bad_msg {
	const char *what;
	enum kmig_role role;
	uint32_t magic;
	uint16_t type, nfds;
	uint32_t len, reserved;
	size_t plen;		/* payload bytes actually sent */
	int nreal;		/* fds actually attached (copies of a pipe's write end) */
	int want;
};

static const struct bad_msg bad_msgs[] = {
	{ "bad magic", KMIG_ROLE_SOURCE, 0x12345678, KMIG_WL_PAUSE, 0, 0, 0, 0, 0, -EPROTO },
	{ "reserved set", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 0, 0, 1, 0, 0, -EPROTO },
	{ "unknown type", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, 99, 0, 0, 0, 0, 0, -EPROTO },
	{ "type zero", KMIG_ROLE_DEST, KMIG_WL_MAGIC, 0, 0, 0, 0, 0, 0, -EPROTO },
	{ "oversized len", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_LOAD, 0,
	  KMIG_WL_MAX_PAYLOAD + 1, 0, 0, 0, -EMSGSIZE },
	{ "huge len", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 0, UINT32_MAX, 0, 0, 0,
	  -EMSGSIZE },
	{ "PAUSE with payload", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 0, 4, 0, 4, 0,
	  -EMSGSIZE },
	{ "wrong direction", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_HELLO, 0, 0, 0, 0, 0,
	  -EPROTO },
	{ "STARTED to wl", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_STARTED, 0, 0, 0, 0, 0, -EPROTO },
	{ "RESUME unpaused", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_RESUME, 0, 0, 0, 0, 0,
	  -EPROTO },
	{ "MIGRATED unpaused", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_MIGRATED, 0, 0, 0, 0, 0,
	  -EPROTO },
	{ "LOAD to source", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_LOAD, 0, 0, 0, 0, 0, -EPROTO },
	{ "PAUSE to dest", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 0, 0, 0, 0, 0, -EPROTO },
	{ "FAILED to source", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_FAILED, 0, 0, 0, 0, 0,
	  -EPROTO },
	{ "unexpected fd", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 1, 0, 0, 0, 1, -EPROTO },
	{ "undeclared fd", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_LOAD, 0, 2, 0, 2, 1, -EPROTO },
	{ "missing fd", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 1, 0, 0, 0, 0, -EPROTO },
	{ "three fds", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_LOAD, 3, 0, 0, 0, 3, -EPROTO },
	{ "truncated payload", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_LOAD, 0, 100, 0, 10, 0,
	  -EPROTO },
};

static void test_bad_messages(void **state)
{
	int fd0 = count_fds();

	for (size_t i = 0; i < sizeof(bad_msgs) / sizeof(bad_msgs[0]); i++) {
		const struct bad_msg *m = &bad_msgs[i];
		struct wl w = { .state = "s" };
		uint8_t payload[100] = { 0 };
		int a, p[2], fds[4], r;
		struct kmig_ctx *ctx = registered(m->role, &w, &a);
		char c;

		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		for (int j = 0; j < 4; j++)
			fds[j] = p[1];
		raw_send(a, m->magic, m->type, m->nfds, m->len, m->reserved, payload, m->plen,
			 fds, m->nreal);
		close(p[1]);
		if (m->plen < m->len && m->len <= KMIG_WL_MAX_PAYLOAD)
			shutdown(a, SHUT_WR);	/* EOF inside the message */
		r = kmig_dispatch(ctx);
		if (r != m->want)
			print_error("%s: got %d, want %d\n", m->what, r, m->want);
		assert_int_equal(r, m->want);
		assert_int_equal(kmig_dispatch(ctx), m->want);	/* sticky, no re-read */
		/* every received copy of the pipe's write end was closed */
		assert_int_equal(read(p[0], &c, 1), 0);
		close(p[0]);
		assert_int_equal(w.pauses + w.resumes + w.loads + w.migrateds, 0);
		assert_dropped(a);
		close(a);
		kmig_close(ctx);
	}
	assert_int_equal(count_fds(), fd0);
}

static void test_agent_gone(void **state)
{
	struct wl w = { .state = "s" };
	int a;
	struct kmig_ctx *ctx = registered(KMIG_ROLE_SOURCE, &w, &a);

	close(a);
	assert_int_equal(kmig_dispatch(ctx), -ECONNRESET);
	assert_int_equal(kmig_dispatch(ctx), -ECONNRESET);
	kmig_close(ctx);

	/* gone mid-header */
	ctx = registered(KMIG_ROLE_SOURCE, &w, &a);
	assert_int_equal(write(a, "KIMW", 4), 4);
	close(a);
	assert_int_equal(kmig_dispatch(ctx), -EPROTO);
	kmig_close(ctx);

	/* gone while paused: the library sends PAUSED, then sees EOF */
	ctx = registered(KMIG_ROLE_SOURCE, &w, &a);
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 0);
	close(a);
	assert_int_equal(kmig_dispatch(ctx), -ECONNRESET);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_PAUSED);	/* caller decides */
	assert_int_equal(w.resumes, 0);
	kmig_close(ctx);

	/* gone before PAUSED could be sent: the state never left, so resume */
	w = (struct wl){ .state = "s" };
	ctx = registered(KMIG_ROLE_SOURCE, &w, &a);
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	shutdown(a, SHUT_RD);	/* the workload's sends now fail with EPIPE */
	assert_int_equal(kmig_dispatch(ctx), -EPIPE);
	assert_int_equal(w.pauses, 1);
	assert_int_equal(w.resumes, 1);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
	close(a);
	kmig_close(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_callback_failures),
		cmocka_unit_test(test_bad_messages),
		cmocka_unit_test(test_agent_gone),
	};

	return cmocka_run_group_tests_name("libkmig_errors", tests, NULL, NULL);
}
