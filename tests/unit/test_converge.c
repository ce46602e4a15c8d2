// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_converge.c: the convergence policy against a simulated clock:
 * QEMU's auto-converge rule (1 s periods, the second high period fires,
 * the count resets only when the throttle moves, initial/increment/max,
 * tailslow, the 99 cap), QEMU's switch-over threshold, and the downtime
 * guarantee (half the limit, keeps iterating, throttles further).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "converge.h"

#define MiB (1ull << 20)

static const struct kmig_converge_cfg qemu_defaults = {
	.auto_converge = true, .downtime_limit_ms = 300, .trigger_threshold = 50,
	.throttle_initial = 20, .throttle_increment = 10, .max_throttle = 99,
};

struct sim {
	struct kmig_converge c;
	struct kmig_converge_cfg cfg;
	int64_t now;
	uint64_t sent;
};

static void sim_init(struct sim *s, const struct kmig_converge_cfg *cfg)
{
	s->cfg = *cfg;
	s->now = 0;
	s->sent = 0;
	kmig_converge_init(&s->c, 0, 0);
}

/*
 * One pass of @ms at 100 MiB/s that leaves @dirty_mib dirty; returns the
 * policy's verdict (the throttle is in s->c.throttle).
 */
static bool pass(struct sim *s, int64_t ms, uint64_t dirty_mib)
{
	struct kmig_sync_sample smp;

	s->now += ms;
	s->sent += 100 * MiB * (uint64_t)ms / 1000;
	smp = (struct kmig_sync_sample){ .now_ms = s->now, .transferred = s->sent,
					 .dirty_pages = dirty_mib * MiB / 4096,
					 .bandwidth = 100 * MiB };
	return kmig_converge_sync(&s->c, &s->cfg, &smp);
}

static void test_periods_and_counting(void **state)
{
	struct sim s;

	sim_init(&s, &qemu_defaults);
	/* syncs every 600 ms: a period ends at the first sync past 1 s (1200 ms) */
	assert_false(pass(&s, 600, 80));	/* 600 ms: period still open */
	assert_int_equal(s.c.high_periods, 0);
	assert_false(pass(&s, 600, 80));	/* 1200 ms: ends, high (160 > 60 MiB) */
	assert_int_equal(s.c.high_periods, 1);
	assert_int_equal(s.c.throttle, 0);	/* the first high period only counts */
	/* a low period does not reset the count ... */
	assert_false(pass(&s, 1100, 40));	/* 40 MiB dirtied of 110 sent: 40 < 55 */
	assert_int_equal(s.c.high_periods, 1);
	/* ... and the next high one fires: the initial throttle, the count reset */
	assert_false(pass(&s, 1100, 100));
	assert_int_equal(s.c.throttle, 20);
	assert_int_equal(s.c.high_periods, 0);
	/* a period of exactly 1000 ms has not ended yet (QEMU: "more than 1 s") */
	assert_false(pass(&s, 1000, 100));
	assert_int_equal(s.c.high_periods, 0);
	assert_true(pass(&s, 1, 1));	/* 1 MiB fits 30 MiB: switch over ... */
	assert_int_equal(s.c.high_periods, 1);	/* ... and the 1001 ms period counted */
}

static void test_increments_and_caps(void **state)
{
	struct kmig_converge_cfg cfg = qemu_defaults;
	static const unsigned int want[] = { 5, 30, 55, 80, 95, 95, 95 };
	struct sim s;

	/* QEMU's own test: initial 5, increment 25, max 95 */
	cfg.throttle_initial = 5;
	cfg.throttle_increment = 25;
	cfg.max_throttle = 95;
	sim_init(&s, &cfg);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_false(pass(&s, 1500, 200));
		assert_false(pass(&s, 1500, 200));
		assert_int_equal(s.c.throttle, want[i]);
	}
	/* never above 99, whatever the parameters say */
	cfg = qemu_defaults;
	cfg.throttle_initial = 90;
	cfg.throttle_increment = 50;
	cfg.max_throttle = 250;
	sim_init(&s, &cfg);
	for (int i = 0; i < 6; i++)
		pass(&s, 1500, 500);
	assert_int_equal(s.c.throttle, 99);
	/* off: it only counts, never throttles */
	cfg = qemu_defaults;
	cfg.auto_converge = false;
	sim_init(&s, &cfg);
	for (int i = 0; i < 6; i++)
		pass(&s, 1500, 500);
	assert_int_equal(s.c.throttle, 0);
}

static void test_tailslow(void **state)
{
	struct kmig_converge_cfg cfg = qemu_defaults;
	struct sim s;

	cfg.tailslow = true;
	sim_init(&s, &cfg);
	pass(&s, 1500, 300);
	pass(&s, 1500, 300);
	assert_int_equal(s.c.throttle, 20);
	/*
	 * 1500 ms at 100 MiB/s = 150 MiB sent, threshold 75 MiB; 83 MiB dirtied:
	 * cpu now 80 %, ideal 80 x 75 / 83 = 72 %: +8, not the full +10
	 */
	pass(&s, 1500, 82);
	pass(&s, 1500, 83);
	assert_int_equal(s.c.throttle, 28);
	/* dirtying at 4x the threshold: the increment caps the step */
	pass(&s, 1500, 300);
	pass(&s, 1500, 300);
	assert_int_equal(s.c.throttle, 38);
}

static void test_threshold_and_guarantee(void **state)
{
	struct kmig_converge_cfg cfg = qemu_defaults;
	struct sim s;

	/* 100 MiB/s x 300 ms = 30 MiB fits */
	cfg.auto_converge = false;
	sim_init(&s, &cfg);
	assert_true(pass(&s, 500, 30));
	assert_string_equal(s.c.why, "");
	sim_init(&s, &cfg);
	assert_false(pass(&s, 500, 31));
	assert_non_null(strstr(s.c.why, "do not fit 300 ms"));
	/* the guarantee wants half of it: 15 MiB */
	cfg.guarantee = true;
	sim_init(&s, &cfg);
	assert_false(pass(&s, 500, 30));
	assert_non_null(strstr(s.c.why, "downtime guarantee"));
	assert_true(pass(&s, 500, 15));
	/* blocked by the guarantee alone, auto-converge throttles once a period */
	cfg.auto_converge = true;
	sim_init(&s, &cfg);
	assert_false(pass(&s, 1500, 20));	/* low for QEMU's rule (20 < 75) */
	assert_int_equal(s.c.throttle, 20);
	assert_false(pass(&s, 500, 20));	/* same period: no second step */
	assert_int_equal(s.c.throttle, 20);
	assert_false(pass(&s, 1500, 20));
	assert_int_equal(s.c.throttle, 30);
	assert_true(pass(&s, 1500, 10));
	assert_int_equal(s.c.throttle, 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_periods_and_counting),
		cmocka_unit_test(test_increments_and_caps),
		cmocka_unit_test(test_tailslow),
		cmocka_unit_test(test_threshold_and_guarantee),
	};

	return cmocka_run_group_tests_name("converge", tests, NULL, NULL);
}
