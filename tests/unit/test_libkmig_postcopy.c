// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_libkmig_postcopy.c: libkmig's postcopy side against a fake kmigd:
 * a destination hands a userfaultfd with each block and keeps its own
 * reference while pages may be missing (so a dead agent leaves a missing
 * page waiting, never reading as zeroes); LOAD_POSTCOPY starts it with
 * kmig_postcopy_pending() = 1, ARRIVED ends that (the arrived callback,
 * the references dropped), FAILED leaves it marked incomplete, and the
 * order is checked (LOAD_POSTCOPY without the agreed feature, ARRIVED
 * without a postcopy start: protocol errors).
 */
#include "fake_agent.h"

static int arrivals;

static void wl_arrived(void *opaque)
{
	(void)opaque;
	arrivals++;
}

/* a destination registered with POSTCOPY agreed (@agree) or declined */
static struct kmig_ctx *pc_registered(struct wl *w, int *a, bool agree, int *uffd)
{
	struct kmig_callbacks cb = wl_cb;
	struct kmig_wl_registered reg = { .features = agree ? KMIG_WL_F_POSTCOPY : 0 };
	struct kmig_wl_hello hello;
	struct kmig_wl_block b;
	struct kmig_ctx *ctx;
	int sv[2], fds[2];

	cb.arrived = wl_arrived;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ctx = kmig_open_fd(sv[0], KMIG_ROLE_DEST, &cb, w);
	assert_non_null(ctx);
	kmig_set_option(ctx, KMIG_OPT_REROLE, 0);
	*a = sv[1];
	assert_non_null(kmig_ram_alloc(ctx, "ram0", 4 * page()));
	agent_send(*a, KMIG_WL_REGISTERED, &reg, sizeof(reg));
	assert_int_equal(kmig_register(ctx), 0);
	agent_recv(*a, KMIG_WL_HELLO, &hello, sizeof(hello), fds, 0);
	assert_int_equal(hello.features & KMIG_WL_F_POSTCOPY, KMIG_WL_F_POSTCOPY);
	agent_recv(*a, KMIG_WL_BLOCK, &b, sizeof(b), fds, 2);
	assert_int_equal(b.flags, KMIG_WL_BLOCK_F_UFFD);
	check_uffd(fds[1]);
	close(fds[0]);
	*uffd = fds[1];
	agent_recv(*a, KMIG_WL_READY, NULL, 0, fds, 0);
	return ctx;
}

/* whether libkmig still holds a userfaultfd of its own */
static int uffds_held(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[300], link[64] = "";

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		if (readlink(path, link, sizeof(link) - 1) > 0 &&
		    !strcmp(link, "anon_inode:[userfaultfd]"))
			n++;
	}
	closedir(d);
	return n;
}

static void test_postcopy_flow(void **state)
{
	struct wl w = { 0 };
	int a, uffd, held0 = uffds_held();
	struct kmig_ctx *ctx;

	if (!uffd_available())
		skip();
	arrivals = 0;
	ctx = pc_registered(&w, &a, true, &uffd);
	close(uffd);			/* "kmigd" keeps none: libkmig's copy stays */
	assert_int_equal(uffds_held(), held0 + 1);
	assert_int_equal(kmig_postcopy_pending(ctx), 0);
	agent_send(a, KMIG_WL_LOAD_POSTCOPY, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 1);
	agent_recv(a, KMIG_WL_STARTED, NULL, 0, (int[2]){ -1, -1 }, 0);
	assert_int_equal(w.loads, 1);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_STARTED);
	assert_int_equal(kmig_postcopy_pending(ctx), 1);
	assert_int_equal(arrivals, 0);
	agent_send(a, KMIG_WL_ARRIVED, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 1);
	assert_int_equal(kmig_postcopy_pending(ctx), 0);
	assert_int_equal(arrivals, 1);
	assert_int_equal(uffds_held(), held0);	/* every page is in: reference dropped */
	/* a second ARRIVED has no postcopy start to end */
	agent_send(a, KMIG_WL_ARRIVED, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), -EPROTO);
	close(a);
	kmig_close(ctx);
}

static void test_postcopy_failed_and_lost(void **state)
{
	struct wl w = { 0 };
	int a, uffd, held0 = uffds_held();
	struct kmig_ctx *ctx;

	if (!uffd_available())
		skip();
	ctx = pc_registered(&w, &a, true, &uffd);
	close(uffd);
	agent_send(a, KMIG_WL_LOAD_POSTCOPY, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 1);
	agent_recv(a, KMIG_WL_STARTED, NULL, 0, (int[2]){ -1, -1 }, 0);
	/* the memory stays incomplete: FAILED ends it, pages still marked missing */
	agent_send(a, KMIG_WL_FAILED, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 1);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_FAILED);
	assert_int_equal(kmig_postcopy_pending(ctx), 1);
	assert_int_equal(uffds_held(), held0 + 1);	/* a missing page still waits */
	close(a);
	kmig_close(ctx);
	assert_int_equal(uffds_held(), held0);

	/* the agent goes away mid-postcopy: an error for good, the reference kept */
	ctx = pc_registered(&w, &a, true, &uffd);
	close(uffd);
	agent_send(a, KMIG_WL_LOAD_POSTCOPY, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 1);
	agent_recv(a, KMIG_WL_STARTED, NULL, 0, (int[2]){ -1, -1 }, 0);
	close(a);
	assert_int_equal(kmig_dispatch(ctx), -ECONNRESET);
	assert_int_equal(kmig_postcopy_pending(ctx), 1);
	assert_int_equal(uffds_held(), held0 + 1);
	kmig_close(ctx);
}

static void test_postcopy_declined(void **state)
{
	struct wl w = { 0 };
	int a, uffd, held0 = uffds_held();
	struct kmig_ctx *ctx;

	if (!uffd_available())
		skip();
	/* kmigd did not agree: libkmig drops its references, LOAD_POSTCOPY is refused */
	ctx = pc_registered(&w, &a, false, &uffd);
	close(uffd);
	assert_int_equal(uffds_held(), held0);
	agent_send(a, KMIG_WL_LOAD_POSTCOPY, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), -EPROTO);
	assert_int_equal(w.loads, 0);
	close(a);
	kmig_close(ctx);

	/* KMIG_OPT_POSTCOPY off: no uffd, no feature */
	{
		int sv[2], fds[2];
		struct kmig_wl_hello hello;
		struct kmig_wl_block b;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		ctx = kmig_open_fd(sv[0], KMIG_ROLE_DEST, &wl_cb, &w);
		assert_int_equal(kmig_set_option(ctx, KMIG_OPT_POSTCOPY, 0), 0);
		assert_non_null(kmig_ram_alloc(ctx, "ram0", page()));
		agent_send(sv[1], KMIG_WL_REGISTERED, NULL, 0);
		assert_int_equal(kmig_register(ctx), 0);
		agent_recv(sv[1], KMIG_WL_HELLO, &hello, sizeof(hello), fds, 0);
		assert_int_equal(hello.features & KMIG_WL_F_POSTCOPY, 0);
		agent_recv(sv[1], KMIG_WL_BLOCK, &b, sizeof(b), fds, 1);
		close(fds[0]);
		close(sv[1]);
		kmig_close(ctx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postcopy_flow),
		cmocka_unit_test(test_postcopy_failed_and_lost),
		cmocka_unit_test(test_postcopy_declined),
	};

	return cmocka_run_group_tests_name("libkmig_postcopy", tests, NULL, NULL);
}
