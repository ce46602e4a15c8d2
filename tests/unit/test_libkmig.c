// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_libkmig.c: libkmig against a fake kmigd on a socketpair: the normal
 * conversations and the API's own checks (failures and malformed input are
 * in test_libkmig_errors.c, the wire layer alone in test_wl_proto.c).
 * Registration must hand over memfds that really share the workload's RAM,
 * pause/resume/load must run the right callbacks and replies, and anything
 * malformed from the agent must be an error (fds closed), never a crash.
 */
#include "fake_agent.h"

/* ---- conversations ---- */

static void test_source_flow(void **state)
{
	struct wl w = { .state = "device-state-1" };
	size_t ps = page();
	bool uffd = uffd_available();
	int fd0 = count_fds(), a, fds[2];
	struct kmig_ctx *ctx = open_pair(KMIG_ROLE_SOURCE, &w, &a);
	uint8_t *ram[2], buf[64];
	size_t size[2] = { 4 * ps, ps };
	struct kmig_wl_hello hello;
	struct kmig_wl_block b;
	struct disp d;

	ram[0] = kmig_ram_alloc(ctx, "ram0", 3 * ps + 1);	/* rounds up to 4 pages */
	ram[1] = kmig_ram_alloc(ctx, "ram1", ps);
	assert_non_null(ram[0]);
	assert_non_null(ram[1]);
	for (size_t i = 0; i < size[0]; i++)
		ram[0][i] = pat(i);
	ram[1][5] = 7;
	assert_int_equal(kmig_state(ctx), KMIG_STATE_NEW);
	assert_int_equal(kmig_dispatch(ctx), -EINVAL);		/* not registered yet */
	/* kmigd's acceptance, queued ahead: kmig_register waits for it */
	agent_send(a, KMIG_WL_REGISTERED, NULL, 0);
	assert_int_equal(kmig_register(ctx), 0);
	assert_int_equal(kmig_register(ctx), -EBUSY);
	errno = 0;
	assert_null(kmig_ram_alloc(ctx, "late", ps));
	assert_int_equal(errno, EBUSY);

	assert_int_equal(agent_recv(a, KMIG_WL_HELLO, &hello, sizeof(hello), fds, 0),
			 sizeof(hello));
	assert_int_equal(hello.version, KMIG_WL_VERSION);
	assert_int_equal(hello.role, KMIG_WL_ROLE_SRC);
	assert_int_equal(hello.nblocks, 2);
	assert_int_equal(hello.page_size, ps);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(agent_recv(a, KMIG_WL_BLOCK, &b, sizeof(b), fds, uffd ? 2 : 1),
				 sizeof(b));
		assert_string_equal(b.name, i ? "ram1" : "ram0");
		assert_int_equal(b.size, size[i]);
		assert_int_equal(b.addr, (uint64_t)(uintptr_t)ram[i]);
		assert_int_equal(b.flags, uffd ? KMIG_WL_BLOCK_F_UFFD : 0);
		assert_int_equal(b.reserved, 0);
		assert_int_equal(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
		check_memfd(fds[0], ram[i], size[i]);
		close(fds[0]);
		if (uffd) {
			check_uffd(fds[1]);
			close(fds[1]);
		}
	}
	agent_recv(a, KMIG_WL_READY, NULL, 0, fds, 0);

	disp_start(&d, ctx);
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	assert_int_equal(agent_recv(a, KMIG_WL_PAUSED, buf, sizeof(buf), fds, 0), 14);
	assert_memory_equal(buf, "device-state-1", 14);
	assert_int_equal(getn(&w.pauses), 1);
	assert_int_equal(getn(&w.saves), 1);
	assert_int_equal(getn(&w.resumes), 0);
	agent_send(a, KMIG_WL_RESUME, NULL, 0);		/* migration failed: run on */
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);		/* and a second attempt */
	assert_int_equal(agent_recv(a, KMIG_WL_PAUSED, buf, sizeof(buf), fds, 0), 14);
	assert_int_equal(getn(&w.resumes), 1);
	assert_int_equal(getn(&w.pauses), 2);
	agent_send(a, KMIG_WL_MIGRATED, NULL, 0);
	pthread_join(d.t, NULL);
	assert_int_equal(d.n, 4);
	assert_int_equal(d.rets[0], 0);
	assert_int_equal(d.rets[1], 0);
	assert_int_equal(d.rets[2], 0);
	assert_int_equal(d.rets[3], 1);
	assert_int_equal(w.migrateds, 1);
	assert_int_equal(w.loads, 0);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_MIGRATED);

	close(a);
	kmig_close(ctx);
	assert_int_equal(count_fds(), fd0);
}

static void test_dest_flow(void **state)
{
	struct wl w = { 0 };
	size_t ps = page(), len = (1u << 20) + 3, i;
	int fd0 = count_fds(), a, fds[2], memfd;
	struct kmig_ctx *ctx = open_pair(KMIG_ROLE_DEST, &w, &a);
	struct kmig_wl_hello hello;
	struct kmig_wl_block b;
	uint8_t *ram, *m, *blob;
	struct disp d;

	ram = kmig_ram_alloc(ctx, "guest-ram", 8 * ps);
	assert_non_null(ram);
	w.ram = ram;
	w.ram_len = 8 * ps;
	/* kmigd's acceptance, queued ahead: kmig_register waits for it */
	agent_send(a, KMIG_WL_REGISTERED, NULL, 0);
	assert_int_equal(kmig_register(ctx), 0);
	agent_recv(a, KMIG_WL_HELLO, &hello, sizeof(hello), fds, 0);
	assert_int_equal(hello.role, KMIG_WL_ROLE_DST);
	assert_int_equal(hello.nblocks, 1);
	/* memfd, and (postcopy, on by default) a uffd this REGISTERED declines */
	agent_recv(a, KMIG_WL_BLOCK, &b, sizeof(b), fds, uffd_available() ? 2 : 1);
	assert_string_equal(b.name, "guest-ram");
	assert_int_equal(b.flags, uffd_available() ? KMIG_WL_BLOCK_F_UFFD : 0);
	assert_int_equal(hello.features & KMIG_WL_F_POSTCOPY, KMIG_WL_F_POSTCOPY);
	if (fds[1] >= 0)
		close(fds[1]);
	memfd = fds[0];
	agent_recv(a, KMIG_WL_READY, NULL, 0, fds, 0);

	/* the incoming memory lands through kmigd's own mapping */
	m = mmap(NULL, b.size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	assert_ptr_not_equal(m, MAP_FAILED);
	for (i = 0; i < b.size; i++)
		m[i] = npat(i);
	munmap(m, b.size);
	close(memfd);

	/* a state larger than the socket buffer: LOAD is read in pieces */
	blob = malloc(len);
	assert_non_null(blob);
	for (i = 0; i < len; i++)
		blob[i] = pat(i);
	disp_start(&d, ctx);
	agent_send(a, KMIG_WL_LOAD, blob, (uint32_t)len);
	free(blob);
	assert_int_equal(agent_recv(a, KMIG_WL_STARTED, NULL, 0, fds, 0), 0);
	pthread_join(d.t, NULL);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.rets[0], 1);
	assert_int_equal(w.loads, 1);
	assert_int_equal(w.load_len, len);
	assert_true(w.load_ok);
	assert_true(w.ram_ok);
	assert_int_equal(w.pauses + w.resumes + w.migrateds, 0);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_STARTED);

	/* the migration is over: another LOAD is a protocol error */
	agent_send(a, KMIG_WL_LOAD, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), -EPROTO);
	assert_dropped(a);
	close(a);
	kmig_close(ctx);
	assert_int_equal(count_fds(), fd0);
}

static void test_dest_failed(void **state)
{
	struct wl w = { 0 };
	int a;
	struct kmig_ctx *ctx = registered(KMIG_ROLE_DEST, &w, &a);

	agent_send(a, KMIG_WL_FAILED, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 1);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_FAILED);
	assert_int_equal(w.loads, 0);
	close(a);
	kmig_close(ctx);
}

static void test_dest_load_fails(void **state)
{
	struct wl w = { .fail_load = true };
	int a;
	struct kmig_ctx *ctx = registered(KMIG_ROLE_DEST, &w, &a);

	agent_send(a, KMIG_WL_LOAD, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), -ECANCELED);
	assert_int_equal(w.loads, 1);
	assert_int_equal(w.load_len, 0);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
	assert_dropped(a);		/* no STARTED: kmigd fails the migration */
	assert_int_equal(kmig_dispatch(ctx), -ECANCELED);
	close(a);
	kmig_close(ctx);
}

static void test_ram_alloc(void **state)
{
	struct wl w = { 0 };
	char name[80];
	int a;
	struct kmig_ctx *ctx = open_pair(KMIG_ROLE_SOURCE, &w, &a);

	assert_int_equal(kmig_register(ctx), -EINVAL);		/* no blocks */
	errno = 0;
	assert_null(kmig_ram_alloc(ctx, "x", 0));
	assert_int_equal(errno, EINVAL);
	assert_null(kmig_ram_alloc(ctx, "", 1));
	assert_int_equal(errno, EINVAL);
	assert_null(kmig_ram_alloc(NULL, "x", 1));
	assert_int_equal(errno, EINVAL);
	memset(name, 'n', sizeof(name));
	name[KMIG_RAM_NAME_MAX] = 0;
	assert_null(kmig_ram_alloc(ctx, name, 1));
	assert_int_equal(errno, ENAMETOOLONG);
	name[KMIG_RAM_NAME_MAX - 1] = 0;
	assert_non_null(kmig_ram_alloc(ctx, name, 1));		/* 63 chars fit */
	assert_null(kmig_ram_alloc(ctx, name, 1));
	assert_int_equal(errno, EEXIST);
	assert_null(kmig_ram_alloc(ctx, "huge", SIZE_MAX));
	for (int i = 1; i < KMIG_RAM_MAX_BLOCKS; i++) {
		snprintf(name, sizeof(name), "b%d", i);
		assert_non_null(kmig_ram_alloc(ctx, name, 1));
	}
	assert_null(kmig_ram_alloc(ctx, "one-too-many", 1));
	assert_int_equal(errno, ENOSPC);
	close(a);
	kmig_close(ctx);

	assert_null(kmig_open_fd(-1, KMIG_ROLE_SOURCE, NULL, NULL));
	assert_null(kmig_open_fd(0, (enum kmig_role)7, NULL, NULL));
	assert_int_equal(kmig_dispatch(NULL), -EINVAL);
	assert_int_equal(kmig_register(NULL), -EINVAL);
	assert_int_equal(kmig_fd(NULL), -1);
	kmig_close(NULL);
}

static void test_open_path(void **state)
{
	char dir[] = "/tmp/test_libkmig.XXXXXX", path[108], longp[200];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct kmig_ctx *ctx;
	int l, c;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/wl.sock", dir);
	strcpy(sa.sun_path, path);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 4), 0);

	ctx = kmig_open(path, KMIG_ROLE_DEST, &wl_cb, NULL);
	assert_non_null(ctx);
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(c >= 0);
	assert_non_null(kmig_ram_alloc(ctx, "ram0", 1));
	/* kmigd's acceptance, queued ahead: kmig_register waits for it */
	agent_send(c, KMIG_WL_REGISTERED, NULL, 0);
	assert_int_equal(kmig_register(ctx), 0);
	{
		struct kmig_wl_hello hello;
		int fds[2];

		agent_recv(c, KMIG_WL_HELLO, &hello, sizeof(hello), fds, 0);
		assert_int_equal(hello.role, KMIG_WL_ROLE_DST);
	}
	close(c);
	kmig_close(ctx);

	errno = 0;
	assert_null(kmig_open(NULL, KMIG_ROLE_SOURCE, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	snprintf(longp, sizeof(longp), "%s/%0150d", dir, 0);
	assert_null(kmig_open(longp, KMIG_ROLE_SOURCE, NULL, NULL));
	assert_int_equal(errno, ENAMETOOLONG);
	unlink(path);
	assert_null(kmig_open(path, KMIG_ROLE_SOURCE, NULL, NULL));
	assert_int_equal(errno, ENOENT);
	close(l);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_flow),
		cmocka_unit_test(test_dest_flow),
		cmocka_unit_test(test_dest_failed),
		cmocka_unit_test(test_dest_load_fails),
		cmocka_unit_test(test_ram_alloc),
		cmocka_unit_test(test_open_path),
	};

	return cmocka_run_group_tests_name("libkmig", tests, NULL, NULL);
}
