// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_workload_reg.c: kmigd's side of workload registration
 * (kmig_wl_conn_register) against hand-made messages: a good source and
 * destination register and map their blocks, in protocol version 1 and 2;
 * every lie a workload could tell (sizes, names, descriptors, roles,
 * counts, flags, silence) is refused with a reason, and the socket and
 * descriptors are released.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "wl_conn.h"
#include "wl_proto.h"

#define MiB (1u << 20)

static int memfd_of(size_t size)
{
	int fd = memfd_create("test-block", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void hello_full(int s, uint32_t version, uint32_t role, uint32_t nblocks,
		       uint64_t features, uint32_t flags)
{
	struct kmig_wl_hello h = { .version = version, .role = role, .nblocks = nblocks,
				   .page_size = 4096, .features = features, .flags = flags };
	uint32_t len = version == 1 ? KMIG_WL_HELLO_V1_LEN : sizeof(h);

	assert_int_equal(kmig_wl_send(s, KMIG_WL_HELLO, &h, len, NULL, 0), 0);
}

static void hello(int s, uint32_t role, uint32_t nblocks)
{
	hello_full(s, KMIG_WL_VERSION, role, nblocks, 0, 0);
}

static void block(int s, const char *name, uint64_t size, uint32_t flags, const int *fds,
		  unsigned int nfds)
{
	struct kmig_wl_block b = { .size = size, .addr = 0x7f0000000000ull, .flags = flags };

	snprintf(b.name, sizeof(b.name), "%s", name);
	assert_int_equal(kmig_wl_send(s, KMIG_WL_BLOCK, &b, sizeof(b), fds, nfds), 0);
}

/* registers what the caller queued on sv[1]; returns the error text ("" = ok) */
static const char *reg(int sv[2], struct kmig_workload **out)
{
	static char err[512];
	struct kmig_workload *w;

	err[0] = 0;
	w = kmig_wl_conn_register(sv[0], 300, err, sizeof(err));
	if (out)
		*out = w;
	else
		kmig_wl_conn_free(w);
	if (!out)
		close(sv[1]);
	return w ? "" : err;
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_good_source_and_destination(void **state)
{
	struct kmig_workload *w;
	int sv[2], fds[2];

	pair(sv);
	fds[0] = memfd_of(4 * MiB);
	fds[1] = memfd_of(4096);	/* stands in for the uffd: only passed along */
	assert_int_equal(pwrite(fds[0], "kmig", 4, 8192), 4);
	hello(sv[1], KMIG_WL_ROLE_SRC, 1);
	block(sv[1], "ram0", 4 * MiB, KMIG_WL_BLOCK_F_UFFD, fds, 2);
	assert_int_equal(kmig_wl_send(sv[1], KMIG_WL_READY, NULL, 0, NULL, 0), 0);
	assert_string_equal(reg(sv, &w), "");
	close(sv[1]);
	assert_int_equal(w->role, KMIG_ROLE_SRC);
	assert_int_equal(w->nblocks, 1);
	assert_string_equal(w->blocks[0].name, "ram0");
	assert_int_equal(w->blocks[0].size, 4 * MiB);
	assert_true(w->blocks[0].uffd >= 0);
	assert_memory_equal(w->blocks[0].map + 8192, "kmig", 4);	/* the same memory */
	assert_int_equal(w->pid, getpid());
	kmig_wl_conn_free(w);
	close(fds[0]);
	close(fds[1]);

	pair(sv);
	fds[0] = memfd_of(2 * MiB);
	hello(sv[1], KMIG_WL_ROLE_DST, 1);
	block(sv[1], "ram0", 2 * MiB, 0, fds, 1);
	assert_int_equal(kmig_wl_send(sv[1], KMIG_WL_READY, NULL, 0, NULL, 0), 0);
	assert_string_equal(reg(sv, &w), "");
	close(sv[1]);
	w->blocks[0].map[4096] = 7;	/* the destination mapping is writable */
	assert_int_equal(w->blocks[0].uffd, -1);
	kmig_wl_conn_free(w);
	close(fds[0]);
}

static void test_lies_are_refused(void **state)
{
	static const struct {
		const char *what, *want;
		uint32_t role, nblocks, flags;
		uint64_t claimed, real;
		const char *name, *name2;
		int nfds;
		int ready;
	} cases[] = {
		{ "memfd smaller than claimed", "memfd is smaller", KMIG_WL_ROLE_DST, 1, 0,
		  8 * MiB, 4 * MiB, "ram0", NULL, 1, 1 },
		{ "size not a page multiple", "bad size", KMIG_WL_ROLE_DST, 1, 0,
		  4 * MiB + 1, 8 * MiB, "ram0", NULL, 1, 1 },
		{ "zero size", "bad size", KMIG_WL_ROLE_DST, 1, 0, 0, 4 * MiB, "ram0", NULL, 1, 1 },
		{ "empty name", "name is empty", KMIG_WL_ROLE_DST, 1, 0, 4 * MiB, 4 * MiB, "",
		  NULL, 1, 1 },
		{ "same name twice", "registered twice", KMIG_WL_ROLE_DST, 2, 0, 4 * MiB, 4 * MiB,
		  "ram0", "ram0", 1, 1 },
		{ "uffd flag without a uffd", "descriptors or flags", KMIG_WL_ROLE_SRC, 1,
		  KMIG_WL_BLOCK_F_UFFD, 4 * MiB, 4 * MiB, "ram0", NULL, 1, 1 },
		{ "uffd on a destination", "descriptors or flags", KMIG_WL_ROLE_DST, 1,
		  KMIG_WL_BLOCK_F_UFFD, 4 * MiB, 4 * MiB, "ram0", NULL, 2, 1 },
		{ "unknown flag", "descriptors or flags", KMIG_WL_ROLE_DST, 1, 0x80, 4 * MiB,
		  4 * MiB, "ram0", NULL, 1, 1 },
		{ "no memfd", "descriptors or flags", KMIG_WL_ROLE_DST, 1, 0, 4 * MiB, 4 * MiB,
		  "ram0", NULL, 0, 1 },
		{ "unknown role", "unsupported", 7, 1, 0, 4 * MiB, 4 * MiB, "ram0", NULL, 1, 1 },
		{ "no blocks", "unsupported", KMIG_WL_ROLE_DST, 0, 0, 4 * MiB, 4 * MiB, "ram0",
		  NULL, 1, 1 },
		{ "too many blocks", "unsupported", KMIG_WL_ROLE_DST, KMIG_WL_MAX_BLOCKS + 1, 0,
		  4 * MiB, 4 * MiB, "ram0", NULL, 1, 1 },
		{ "silence instead of READY", "no READY", KMIG_WL_ROLE_DST, 1, 0, 4 * MiB, 4 * MiB,
		  "ram0", NULL, 1, 0 },
	};
	static const struct {
		const char *what;
		uint32_t version, role, flags;
	} bad_hellos[] = {
		{ "version 3", 3, KMIG_WL_ROLE_SRC, 0 },
		{ "version 0", 0, KMIG_WL_ROLE_SRC, 0 },
		{ "an unknown HELLO flag", 2, KMIG_WL_ROLE_SRC, 0x10 },
		{ "a paused destination", 2, KMIG_WL_ROLE_DST, KMIG_WL_HELLO_F_PAUSED },
	};

	for (size_t i = 0; i < sizeof(bad_hellos) / sizeof(bad_hellos[0]); i++) {
		int sv[2];
		const char *err;

		pair(sv);
		hello_full(sv[1], bad_hellos[i].version, bad_hellos[i].role, 1, 0,
			   bad_hellos[i].flags);
		err = reg(sv, NULL);
		if (!strstr(err, "unsupported"))
			fail_msg("%s: want 'unsupported', got '%s'", bad_hellos[i].what, err);
	}

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int sv[2], fds[2] = { memfd_of(cases[i].real), memfd_of(4096) };
		const char *err;

		pair(sv);
		hello(sv[1], cases[i].role, cases[i].nblocks);
		if (cases[i].nblocks >= 1 && cases[i].nblocks <= KMIG_WL_MAX_BLOCKS &&
		    (cases[i].role == KMIG_WL_ROLE_SRC || cases[i].role == KMIG_WL_ROLE_DST)) {
			block(sv[1], cases[i].name, cases[i].claimed, cases[i].flags, fds,
			      cases[i].nfds);
			if (cases[i].name2)
				block(sv[1], cases[i].name2, cases[i].claimed, 0, fds, 1);
			if (cases[i].ready)
				assert_int_equal(kmig_wl_send(sv[1], KMIG_WL_READY, NULL, 0, NULL, 0),
						 0);
		}
		err = reg(sv, NULL);
		if (!strstr(err, cases[i].want))
			fail_msg("%s: want an error with '%s', got '%s'", cases[i].what,
				 cases[i].want, err);
		close(fds[0]);
		close(fds[1]);
	}
}

static void test_bad_frames(void **state)
{
	struct kmig_wl_hdr h = { .magic = 0xdeadbeef, .type = KMIG_WL_HELLO };
	int sv[2];

	/* not the protocol at all */
	pair(sv);
	assert_int_equal(write(sv[1], &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_non_null(strstr(reg(sv, NULL), "no valid HELLO"));
	/* a HELLO of the wrong length */
	pair(sv);
	assert_int_equal(kmig_wl_send(sv[1], KMIG_WL_HELLO, "xx", 2, NULL, 0), 0);
	assert_non_null(strstr(reg(sv, NULL), "no valid HELLO"));
	/* half a message, then silence: the deadline ends the wait */
	pair(sv);
	h.magic = KMIG_WL_MAGIC;
	h.len = sizeof(struct kmig_wl_hello);
	assert_int_equal(write(sv[1], &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_non_null(strstr(reg(sv, NULL), "no valid HELLO"));
}

/* REGISTERED: empty for a version-1 workload, the features kmigd knows for v2 */
static void expect_registered(int s, uint32_t len, uint64_t features)
{
	struct kmig_wl_registered r = { 0 };
	struct kmig_wl_hdr h;

	assert_int_equal(kmig_wl_recv(s, &h, &r, sizeof(r), NULL), 0);
	assert_int_equal(h.type, KMIG_WL_REGISTERED);
	assert_int_equal(h.len, len);
	assert_int_equal(r.features, features);
}

static void test_versions_and_features(void **state)
{
	struct kmig_workload *w;
	int sv[2], fd = memfd_of(1 * MiB);

	/* a version-1 workload: 16-byte HELLO, empty REGISTERED */
	pair(sv);
	hello_full(sv[1], 1, KMIG_WL_ROLE_DST, 1, 0, 0);
	block(sv[1], "ram0", 1 * MiB, 0, &fd, 1);
	assert_int_equal(kmig_wl_send(sv[1], KMIG_WL_READY, NULL, 0, NULL, 0), 0);
	assert_string_equal(reg(sv, &w), "");
	assert_int_equal(kmig_wl_conn_features(w), 0);
	assert_int_equal(kmig_wl_conn_accept(w), 0);
	expect_registered(sv[1], 0, 0);
	kmig_wl_conn_free(w);
	close(sv[1]);

	/* version 2: unknown feature bits are ignored, known ones agreed; paused */
	pair(sv);
	hello_full(sv[1], 2, KMIG_WL_ROLE_SRC, 1, KMIG_WL_F_REATTACH | KMIG_WL_F_THROTTLE | 1ull << 40,
		   KMIG_WL_HELLO_F_PAUSED);
	block(sv[1], "ram0", 1 * MiB, 0, &fd, 1);
	assert_int_equal(kmig_wl_send(sv[1], KMIG_WL_READY, NULL, 0, NULL, 0), 0);
	assert_string_equal(reg(sv, &w), "");
	assert_true(w->paused);
	assert_int_equal(kmig_wl_conn_features(w), KMIG_WL_F_REATTACH | KMIG_WL_F_THROTTLE);
	assert_int_equal(kmig_wl_conn_accept(w), 0);
	expect_registered(sv[1], sizeof(struct kmig_wl_registered),
			  KMIG_WL_F_REATTACH | KMIG_WL_F_THROTTLE);
	/* the throttle goes only to a workload that offered it */
	assert_int_equal(w->ops->throttle(w, 30), 0);
	{
		struct kmig_wl_throttle t;
		struct kmig_wl_hdr h;

		assert_int_equal(kmig_wl_recv(sv[1], &h, &t, sizeof(t), NULL), 0);
		assert_int_equal(h.type, KMIG_WL_THROTTLE);
		assert_int_equal(t.pct, 30);
	}
	kmig_wl_conn_free(w);
	close(sv[1]);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions_and_features),
		cmocka_unit_test(test_good_source_and_destination),
		cmocka_unit_test(test_lies_are_refused),
		cmocka_unit_test(test_bad_frames),
	};

	return cmocka_run_group_tests_name("workload_reg", tests, NULL, NULL);
}
