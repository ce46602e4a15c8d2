// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_track_uffd.c: the uffd-wp tracker against a real second process.
 * A forked child plays the workload (a memfd block, its own userfaultfd
 * sent over SCM_RIGHTS, writes on command); the parent tracks it and checks
 * that each harvest returns exactly the pages written and that the memfd
 * holds what was written.  Also prints rough harvest timings as '#' lines.
 */
#include "track_child.h"

static void test_probe(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range;
	struct kmig_track_target t = target(f);

	assert_int_equal(kmig_track_uffd_ops.probe(&t), 0);
	assert_int_equal(kmig_track_uffd_ops.probe(&t), 0);	/* cached */
	range.uffd = -1;
	assert_int_equal(kmig_track_uffd_ops.probe(&t), -EBADF);
}

static void test_exact_set(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range;
	struct kmig_track_target t = target(f);
	const uint64_t last = f->npages - 1;
	const uint64_t set1[] = { 0, 1, 2, 100, 4095, 4096, 5000, last - 1, last };
	const uint64_t twice[] = { 10, 11 }, again[] = { 10 };
	const uint64_t kern[] = { 77, 78, 9000 };
	const uint64_t after[] = { 3, last - 2 };
	int st;

	assert_int_equal(kmig_tracker_open(&f->tr, "auto", &t), 0);
	assert_ptr_equal(f->tr.ops, &kmig_track_uffd_ops);
	assert_string_equal(f->tr.ops->name, "uffd-wp");

	/* arm: everything; then nothing */
	assert_int_equal(harvest(f, NULL), (long)f->npages);
	assert_all_bits(f);
	assert_int_equal(harvest(f, NULL), 0);
	assert_bits(f, NULL, 0);

	/* adjacent runs, isolated pages, first and last page */
	assert_int_equal(child_cmd(f, OP_WRITE, 0x1111, set1, 9), 0);
	assert_int_equal(harvest(f, NULL), 9);
	assert_bits(f, set1, 9);
	assert_int_equal(harvest(f, NULL), 0);

	/* a page written twice between harvests counts once */
	assert_int_equal(child_cmd(f, OP_WRITE, 0x2222, twice, 2), 0);
	assert_int_equal(child_cmd(f, OP_WRITE, 0x3333, again, 1), 0);
	assert_int_equal(harvest(f, NULL), 2);
	assert_bits(f, twice, 2);

	/* writes done by the kernel on the workload's behalf (read(2)) count */
	assert_int_equal(child_cmd(f, OP_WRITE_KERNEL, 0x4444, kern, 3), 0);
	assert_int_equal(harvest(f, NULL), 3);
	assert_bits(f, kern, 3);

	/*
	 * Tracking is per mm: a write through another mapping of the memfd
	 * (ours here; kmigd's, a second process's, write(2) on the fd) is
	 * not seen.  Pinned so a change of behaviour shows up.
	 */
	fill(f->view + 20 * f->ps, f->ps, 0xabcd, 20);
	f->expect[20] = 0xabcd;
	assert_int_equal(harvest(f, NULL), 0);

	/* a missing bitmap is refused, not dereferenced */
	{
		uint64_t *none[1] = { NULL };

		assert_int_equal(kmig_tracker_harvest(&f->tr, none), -EINVAL);
		assert_int_equal(kmig_tracker_harvest(&f->tr, NULL), -EINVAL);
	}
	assert_int_equal(harvest(f, NULL), 0);
	assert_contents(f);

	/* after close the workload runs on unaffected */
	kmig_tracker_close(&f->tr);
	assert_null(f->tr.ops);
	assert_int_equal(child_cmd(f, OP_WRITE, 0x5555, after, 2), 0);
	assert_int_equal(child_cmd(f, OP_WRITE, 0x6666, set1, 9), 0);
	assert_contents(f);
	st = child_exit(f);
	assert_true(st >= 0 && WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_timing(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range;
	struct kmig_track_target t = target(f);
	uint64_t nr = f->npages / 100, seed = 0x9e3779b97f4a7c15ULL, *pages;
	enum kmig_log_level old = kmig_log_max;
	double ms, wms;
	int round;
	long n;

	pages = malloc(nr * sizeof(*pages));
	assert_non_null(pages);
	kmig_log_max = KMIG_LOG_DEBUG;		/* shows what the kernel reported at arm */
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &t), 0);
	n = harvest(f, &ms);
	kmig_log_max = old;
	assert_int_equal(n, (long)f->npages);
	printf("# uffd-wp 64MiB arm (unpopulated): %.3f ms\n", ms);
	n = harvest(f, &ms);
	assert_int_equal(n, 0);
	printf("# uffd-wp 64MiB clean: %.3f ms\n", ms);

	for (round = 0; round < 2; round++) {
		wms = now_ms();
		assert_int_equal(child_cmd(f, OP_WRITE_ALL, 0x100 + round, NULL, 0), 0);
		wms = now_ms() - wms;
		n = harvest(f, &ms);
		assert_int_equal(n, (long)f->npages);
		assert_all_bits(f);
		printf("# uffd-wp 64MiB all-dirty: harvest %.3f ms (workload write of 16384 pages %.0f ms)\n",
		       ms, wms);
	}
	for (round = 0; round < 3; round++) {
		uint64_t i, j;

		for (i = 0; i < nr; i++) {
again:
			pages[i] = xorshift(&seed) % f->npages;
			for (j = 0; j < i; j++)
				if (pages[j] == pages[i])
					goto again;
		}
		assert_int_equal(child_cmd(f, OP_WRITE, 0x200 + round, pages, nr), 0);
		n = harvest(f, &ms);
		assert_int_equal(n, (long)nr);
		assert_bits(f, pages, nr);
		printf("# uffd-wp 64MiB 1%%-random (%" PRIu64 " pages): harvest %.3f ms\n", nr, ms);
	}
	n = harvest(f, &ms);
	assert_int_equal(n, 0);
	printf("# uffd-wp 64MiB clean after dirtying: %.3f ms\n", ms);
	fflush(stdout);
	assert_contents(f);
	free(pages);
}

/* Every other page: 8192 runs, twice what one PAGEMAP_SCAN call can return. */
static void test_many_runs(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range;
	struct kmig_track_target t = target(f);
	uint64_t nr = f->npages / 2, i, *pages = malloc(nr * sizeof(*pages));
	double ms;
	long n;

	assert_non_null(pages);
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &t), 0);
	assert_int_equal(harvest(f, NULL), (long)f->npages);
	for (i = 0; i < nr; i++)
		pages[i] = 2 * i + 1;
	assert_int_equal(child_cmd(f, OP_WRITE, 0x8888, pages, nr), 0);
	n = harvest(f, &ms);
	assert_int_equal(n, (long)nr);
	assert_bits(f, pages, nr);
	printf("# uffd-wp 64MiB every other page (%" PRIu64 " runs): harvest %.3f ms\n", nr, ms);
	assert_int_equal(harvest(f, NULL), 0);
	for (i = 0; i < nr; i++)
		pages[i] = 2 * i;
	assert_int_equal(child_cmd(f, OP_WRITE, 0x9999, pages, nr), 0);
	assert_int_equal(harvest(f, NULL), (long)nr);
	assert_bits(f, pages, nr);
	assert_contents(f);
	free(pages);
}

static void test_child_exited(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range;
	struct kmig_track_target t = target(f);
	const uint64_t some[] = { 5, 6, 7 };
	uint64_t i;
	int st;
	long n;

	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &t), 0);
	assert_int_equal(harvest(f, NULL), (long)f->npages);
	assert_int_equal(child_cmd(f, OP_WRITE, 0x7777, some, 3), 0);
	st = child_exit(f);
	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

	n = harvest(f, NULL);
	printf("# harvest after the workload exited: %ld (%s)\n", n, strerror((int)-n));
	assert_true(n < 0);
	assert_int_equal(n, -ESRCH);
	for (i = 0; i < f->npages / 64; i++)
		assert_true(f->bm[i] == 0);	/* nothing written on failure */
	kmig_tracker_close(&f->tr);		/* no crash, no hang */
	assert_contents(f);
}

static void test_bad_open(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range, br;
	struct kmig_track_target t = target(f), b = t;
	pid_t dead;
	int st, fresh;
	long n;

	assert_int_equal(kmig_tracker_open(&f->tr, "no-such-tracker", &t), -ENOENT);
	assert_null(f->tr.ops);
	assert_int_equal(kmig_tracker_harvest(&f->tr, &f->bm), -EBADF);

	/* a pid that is gone: fails before the uffd is touched */
	dead = fork();
	assert_true(dead >= 0);
	if (!dead)
		_exit(0);
	assert_int_equal(waitpid(dead, &st, 0), dead);
	br = range;
	b.ranges = &br;
	b.pid = dead;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -ENOENT);
	b.pid = -1;
	assert_int_equal(kmig_tracker_open(&f->tr, "auto", &b), -EINVAL);

	/* no uffd, not a uffd, bad ranges, no ranges */
	b.pid = t.pid;
	br.uffd = -1;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -EBADF);
	br.uffd = f->memfd;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -ENOTTY);
	br = range;
	br.addr += 8;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -EINVAL);
	br = range;
	br.len = 0;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -EINVAL);
	b.nranges = 0;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -EINVAL);
	b.nranges = 1;

	/* a uffd of another process (ours): the target check refuses it */
	fresh = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	assert_true(fresh >= 0);
	br = range;
	br.uffd = fresh;
	n = kmig_tracker_open(&f->tr, "uffd-wp", &b);
	printf("# open with another process's uffd (view %s child's address): %ld (%s)\n",
	       (uintptr_t)f->view == f->addr ? "at" : "not at", n, strerror((int)-n));
	if ((uintptr_t)f->view == f->addr)
		assert_int_equal(n, -EPERM);
	else
		assert_true(n < 0);
	close(fresh);
	f->view[0] = 1;		/* our own mapping is not left protected */
	f->view[0] = 0;
	assert_null(f->tr.ops);

	/* none of that burnt the child's uffd */
	assert_int_equal(kmig_tracker_open(&f->tr, "auto", &t), 0);
	assert_int_equal(harvest(f, NULL), (long)f->npages);
	assert_int_equal(harvest(f, NULL), 0);
	kmig_tracker_close(&f->tr);

	/* but a uffd is good for one open: the fd must be fresh */
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &t), -EINVAL);
	assert_null(f->tr.ops);
	st = child_exit(f);
	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_child_exited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_open, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
