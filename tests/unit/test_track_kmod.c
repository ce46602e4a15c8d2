// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_track_kmod.c: the kmod tracker on a machine without /dev/kmig (this
 * host cannot load modules; the module itself is tested in a VM by
 * tests/vm/).  The probe must fail with ENOENT, a named "kmod" open must
 * fail with a clear error, and a trackset asked for "kmod" by name, or for
 * "auto", must fall back to the next back end (uffd-wp) and say so in its
 * name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "tracker.h"
#include "uffd_compat.h"

#define LEN (16 * 4096)

extern const struct kmig_tracker_ops kmig_track_kmod_ops;

struct self {
	int memfd, uffd;
	bool api_done;
	char *map;
	struct kmig_track_range r;
	struct kmig_track_target t;
};

static int setup(void **state)
{
	struct self *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->memfd = memfd_create("kmig-test-kmod", MFD_CLOEXEC);
	if (s->memfd < 0 || ftruncate(s->memfd, LEN) < 0)
		return -1;
	s->map = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->map == MAP_FAILED)
		return -1;
	s->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	s->r = (struct kmig_track_range){ .name = "ram0", .addr = (uintptr_t)s->map, .len = LEN,
					  .memfd = s->memfd, .uffd = s->uffd,
					  .uffd_api_done = &s->api_done };
	s->t = (struct kmig_track_target){ .pid = getpid(), .nranges = 1, .ranges = &s->r };
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct self *s = *state;

	munmap(s->map, LEN);
	close(s->memfd);
	if (s->uffd >= 0)
		close(s->uffd);
	free(s);
	return 0;
}

static void test_preferred(void **state)
{
	(void)state;
	assert_ptr_equal(kmig_trackers[0], &kmig_track_kmod_ops);
	assert_ptr_equal(kmig_tracker_find("kmod"), &kmig_track_kmod_ops);
}

static void test_no_device(void **state)
{
	struct self *s = *state;
	struct kmig_tracker tr;

	if (access("/dev/kmig", F_OK) == 0)
		skip();		/* a kernel with the module: tests/vm covers that */
	assert_int_equal(kmig_track_kmod_ops.probe(&s->t), -ENOENT);
	assert_int_equal(kmig_tracker_open(&tr, "kmod", &s->t), -ENOENT);
	assert_null(tr.ops);
}

static void test_fallback(void **state)
{
	struct self *s = *state;
	struct kmig_trackset *set = calloc(1, sizeof(*set));
	char err[256] = "";

	if (access("/dev/kmig", F_OK) == 0 || s->uffd < 0)
		skip();
	assert_non_null(set);
	/* named but unable to serve here: the migration runs on the best one that can */
	assert_int_equal(kmig_trackset_open(set, "kmod", &s->t, err, sizeof(err)), 0);
	assert_string_equal(set->name, "uffd-wp");
	kmig_trackset_close(set);
	assert_int_equal(kmig_trackset_open(set, "auto", &s->t, err, sizeof(err)), 0);
	assert_string_equal(set->name, "uffd-wp");
	kmig_trackset_close(set);
	free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_preferred),
		cmocka_unit_test_setup_teardown(test_no_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallback, setup, teardown),
	};

	kmig_log_max = KMIG_LOG_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
