// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_trackset.c: the trackset, which gives a workload's blocks their dirty
 * trackers: one back end for every block where one serves them all, named
 * truthfully, and clear refusals when none can; against a real second
 * process (track_child.h).
 */
#include "track_child.h"

/* the trackset: one back end for every block, and clear refusals */
static void test_trackset(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range r[2];
	struct kmig_track_target t = target_of(f, &r[0]);
	struct kmig_trackset *s = calloc(1, sizeof(*s));
	uint64_t *bms[2] = { f->bm, NULL };
	const uint64_t pages[] = { 7, 8, 900 };
	char err[256];
	bool api_done = false;

	assert_non_null(s);
	r[0].uffd_api_done = &api_done;	/* a failed open may have used the uffd */
	assert_int_equal(kmig_trackset_open(s, "no-such-tracker", &t, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "dirty tracker 'no-such-tracker' is not available: "
			    "No such file or directory");
	/* a second block without a userfaultfd: no back end here serves it */
	r[1] = r[0];
	r[1].name = "ram1";
	r[1].uffd = -1;
	t.nranges = 2;
	assert_int_equal(kmig_trackset_open(s, "auto", &t, err, sizeof(err)), -EBADF);
	assert_string_equal(err, "cannot track dirty pages of block 'ram1' with any tracker: "
			    "Bad file descriptor");
	assert_int_equal(s->n, 0);

	t.nranges = 1;
	assert_int_equal(kmig_trackset_open(s, "auto", &t, err, sizeof(err)), 0);
	assert_string_equal(s->name, "uffd-wp");
	memset(f->bm, 0, f->npages / 8);
	assert_int_equal(kmig_trackset_harvest(s, bms, err, sizeof(err)), (long)f->npages);
	memset(f->bm, 0, f->npages / 8);
	assert_int_equal(child_cmd(f, OP_WRITE, 0x8888, pages, 3), 0);
	assert_int_equal(kmig_trackset_harvest(s, bms, err, sizeof(err)), 3);
	assert_bits(f, pages, 3);
	{
		struct kmig_track_stats st;

		assert_int_equal(kmig_trackset_stats(s, &st), 0);
		assert_int_equal(st.harvests, 2);
		assert_int_equal(st.pages_dirty, f->npages + 3);
		assert_int_equal(st.pages_scanned, 2 * f->npages);
		assert_true(st.harvest_ns >= st.last_harvest_ns && st.last_harvest_ns > 0);
	}
	kmig_trackset_close(s);
	assert_int_equal(s->n, 0);
	free(s);
	assert_int_equal(child_exit(f) >= 0, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_trackset, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
