// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_libkmig_throttle.c: libkmig's cooperative auto-converge throttle
 * against a fake kmigd on a socketpair.  A registered thread spinning on a
 * counter must make about (1 - p) of its unthrottled progress at p = 50 %
 * and 80 % while an unregistered one is unaffected; the throttle must be
 * lifted (sleeping threads woken at once) on THROTTLE 0, PAUSE, agent loss
 * and kmig_close(); bad THROTTLE payloads are protocol errors.  Progress is
 * compared with baselines measured in the same run, around each throttled
 * phase, with a generous tolerance (the machine is noisy).
 */
#include <signal.h>
#include <time.h>

#include "fake_agent.h"
#include "kmig_throttle.h"

/* ---- a spinning thread ---- */

struct spin {
	struct kmig_ctx *ctx;
	bool reg;			/* register with ctx */
	bool raw_exit;			/* leave by SYS_exit (no TSD destructors) */
	int stop;			/* __atomic */
	int reg_ret;			/* __atomic; 1 until it registered */
	bool ctx_gone;			/* __atomic; do not unregister: ctx closed */
	pthread_t t;
	uint64_t count __attribute__((aligned(64)));	/* __atomic */
};

static void *spin_main(void *arg)
{
	struct spin *s = arg;

	__atomic_store_n(&s->reg_ret, s->reg ? kmig_thread_register(s->ctx) : 0,
			 __ATOMIC_SEQ_CST);
	if (s->raw_exit)
		syscall(SYS_exit, 0);
	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED))
		__atomic_add_fetch(&s->count, 1, __ATOMIC_RELAXED);
	if (s->reg && !__atomic_load_n(&s->ctx_gone, __ATOMIC_SEQ_CST))
		assert_int_equal(kmig_thread_unregister(s->ctx), 0);
	return NULL;
}

static void spin_start(struct spin *s, struct kmig_ctx *ctx, bool reg)
{
	s->ctx = ctx;
	s->reg = reg;
	s->stop = 0;
	s->reg_ret = 1;
	s->count = 0;
	assert_int_equal(pthread_create(&s->t, NULL, spin_main, s), 0);
	while (__atomic_load_n(&s->reg_ret, __ATOMIC_SEQ_CST) == 1)
		usleep(1000);
	assert_int_equal(s->reg_ret, 0);
}

static void spin_stop(struct spin *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(s->t, NULL);
}

static uint64_t count(struct spin *s)
{
	return __atomic_load_n(&s->count, __ATOMIC_RELAXED);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000l };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* counts per second of each spinner over @ms */
static void rates(struct spin **s, int n, int ms, double *out)
{
	uint64_t c0[4];
	struct timespec a, b;
	double dt;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++)
		c0[i] = count(s[i]);
	sleep_ms(ms);
	clock_gettime(CLOCK_MONOTONIC, &b);
	dt = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	for (int i = 0; i < n; i++)
		out[i] = (double)(count(s[i]) - c0[i]) / dt;
}

/* ---- the fake agent's side ---- */

/* registered like fake_agent.h's registered(), REGISTERED agreeing to @features */
static struct kmig_ctx *registered_with(enum kmig_role role, struct wl *w, int *agent,
					 uint64_t features, bool throttle_opt)
{
	struct kmig_ctx *ctx = open_pair(role, w, agent);
	struct kmig_wl_registered reg = { .features = features };
	struct kmig_wl_hello hello;
	struct kmig_wl_block b;
	int fds[2];

	if (!throttle_opt)
		assert_int_equal(kmig_set_option(ctx, KMIG_OPT_THROTTLE, 0), 0);
	assert_non_null(kmig_ram_alloc(ctx, "ram0", page()));
	agent_send(*agent, KMIG_WL_REGISTERED, &reg, sizeof(reg));
	assert_int_equal(kmig_register(ctx), 0);
	agent_recv(*agent, KMIG_WL_HELLO, &hello, sizeof(hello), fds, 0);
	assert_int_equal(!!(hello.features & KMIG_WL_F_THROTTLE), throttle_opt);
	assert_int_equal(kmig_wl_recv(*agent, &(struct kmig_wl_hdr){ 0 }, &b, sizeof(b), fds), 0);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	agent_recv(*agent, KMIG_WL_READY, NULL, 0, fds, 0);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
	return ctx;
}

static struct kmig_ctx *src_ctx(struct wl *w, int *agent)
{
	return registered_with(KMIG_ROLE_SOURCE, w, agent, KMIG_WL_F_THROTTLE, true);
}

/* THROTTLE @pct, handled by one kmig_dispatch() */
static void throttle(struct kmig_ctx *ctx, int a, unsigned int pct)
{
	struct kmig_wl_throttle t = { .pct = pct };

	agent_send(a, KMIG_WL_THROTTLE, &t, sizeof(t));
	assert_int_equal(kmig_dispatch(ctx), 0);
	assert_int_equal(kmig_throttle_pct(ctx), pct);
}

/* ---- tests ---- */

/* first in the file: the handler is installed for good at the first registration */
static void test_signal_taken(void **state)
{
	struct sigaction sa = { .sa_handler = SIG_IGN }, dfl = { .sa_handler = SIG_DFL };
	struct wl w = { .state = "s" };
	int a, sig = kmig_throttle_signal();
	struct kmig_ctx *ctx = src_ctx(&w, &a);

	assert_int_equal(sig, SIGRTMAX - 2);
	sigaction(sig, &sa, NULL);
	assert_int_equal(kmig_thread_register(ctx), -EBUSY);
	assert_int_equal(kmig_thread_count(ctx), 0);
	sigaction(sig, &dfl, NULL);
	assert_int_equal(kmig_thread_register(ctx), 0);
	assert_int_equal(kmig_thread_count(ctx), 1);
	assert_int_equal(kmig_thread_register(ctx), -EEXIST);
	assert_int_equal(kmig_thread_unregister(ctx), 0);
	assert_int_equal(kmig_thread_unregister(ctx), -ENOENT);
	assert_int_equal(kmig_thread_count(ctx), 0);
	assert_int_equal(kmig_thread_register(NULL), -EINVAL);
	assert_int_equal(kmig_thread_unregister(NULL), -EINVAL);
	assert_int_equal(kmig_throttle_pct(NULL), 0);
	assert_int_equal(kmig_throttle_pct(ctx), 0);
	close(a);
	kmig_close(ctx);
}

/* one try of test_progress's measurement: whether every ratio is where it must be */
static bool progress_once(struct kmig_ctx *ctx, int a, struct spin **both)
{
	double base[3][2], t50[2], t80[2], r50, r80, u50, u80, lift50, lift80;

	rates(both, 2, 600, base[0]);
	throttle(ctx, a, 50);
	sleep_ms(50);
	rates(both, 2, 1000, t50);
	throttle(ctx, a, 0);
	rates(both, 2, 600, base[1]);
	throttle(ctx, a, 80);
	sleep_ms(50);
	rates(both, 2, 1000, t80);
	throttle(ctx, a, 0);
	rates(both, 2, 600, base[2]);
	/*
	 * The registered thread's progress relative to the unregistered one
	 * running beside it: other load on the machine slows both alike.
	 */
	r50 = (t50[0] / t50[1]) / ((base[0][0] / base[0][1] + base[1][0] / base[1][1]) / 2);
	r80 = (t80[0] / t80[1]) / ((base[1][0] / base[1][1] + base[2][0] / base[2][1]) / 2);
	u50 = t50[1] / ((base[0][1] + base[1][1]) / 2);
	u80 = t80[1] / ((base[1][1] + base[2][1]) / 2);
	/* THROTTLE 0 restores the speed: about 2x and 5x the throttled rates */
	lift50 = (base[1][0] / base[1][1]) / (t50[0] / t50[1]);
	lift80 = (base[2][0] / base[2][1]) / (t80[0] / t80[1]);
	print_message("# registered thread: %.3f of its progress at 50%%, %.3f at 80%%; "
		      "THROTTLE 0 speeds it up %.2fx / %.2fx; unregistered: %.3f, %.3f\n", r50,
		      r80, lift50, lift80, u50, u80);
	/* the unregistered thread's are absolute, so loose: the machine is shared */
	return r50 > 0.30 && r50 < 0.70 && r80 > 0.08 && r80 < 0.35 && u50 > 0.50 &&
	       u80 > 0.50 && lift50 > 1.4 && lift80 > 2.5;
}

static void test_progress(void **state)
{
	struct wl w = { .state = "s" };
	struct spin reg = { 0 }, unreg = { 0 };
	struct spin *both[2] = { &reg, &unreg };
	bool good = false;
	int a;
	struct kmig_ctx *ctx = src_ctx(&w, &a);

	spin_start(&reg, ctx, true);
	spin_start(&unreg, ctx, false);
	assert_int_equal(kmig_thread_count(ctx), 1);
	sleep_ms(100);
	/* a timing test on a shared machine: up to three tries, each one whole */
	for (int attempt = 0; attempt < 3 && !good; attempt++)
		good = progress_once(ctx, a, both);
	assert_true(good);
	spin_stop(&reg);
	spin_stop(&unreg);
	assert_int_equal(kmig_thread_count(ctx), 0);
	close(a);
	kmig_close(ctx);
}

/*
 * The registered spinner's rate relative to the unregistered one beside it
 * (other load on the machine slows both alike), over @ms.
 */
static double rel_rate(struct spin **both, int ms)
{
	double r[2];

	rates(both, 2, ms, r);
	return r[1] > 0 ? r[0] / r[1] : 0;
}

/*
 * At 99 % a registered thread sleeps 990 ms per 10 ms: @lift must wake it
 * at once.  Returns the progress made in 300 ms after it, as a share of an
 * unthrottled 300 ms (both relative to the unregistered spinner).
 */
static double after_lift(struct spin **both, double base_rel, int (*lift)(void *), void *arg)
{
	sleep_ms(150);	/* asleep in the handler now, almost surely */
	assert_int_equal(lift(arg), 0);
	return rel_rate(both, 300) / base_rel;
}

struct lift_arg {
	struct kmig_ctx *ctx;
	int a;
	int how;	/* 0 PAUSE, 1 THROTTLE 0, 2 agent gone */
};

static const char *const lift_names[] = { "PAUSE", "THROTTLE 0", "agent loss" };

static int do_lift(void *arg)
{
	struct lift_arg *l = arg;
	char buf[8];
	int fds[2];

	if (l->how == 0) {
		agent_send(l->a, KMIG_WL_PAUSE, NULL, 0);
		assert_int_equal(kmig_dispatch(l->ctx), 0);
		agent_recv(l->a, KMIG_WL_PAUSED, buf, sizeof(buf), fds, 0);
		assert_int_equal(kmig_state(l->ctx), KMIG_STATE_PAUSED);
	} else if (l->how == 1) {
		throttle(l->ctx, l->a, 0);
	} else {
		close(l->a);
		assert_int_equal(kmig_dispatch(l->ctx), -ECONNRESET);
	}
	return kmig_throttle_pct(l->ctx);
}

static void test_lifted(void **state)
{
	struct wl w = { .state = "s" };
	struct spin s = { 0 }, ctl = { 0 };
	struct spin *both[2] = { &s, &ctl };
	struct kmig_wl_throttle t = { .pct = 60 };
	double base, held, r[3];
	int a;

	for (int how = 0; how < 3; how++) {
		struct kmig_ctx *ctx = src_ctx(&w, &a);
		struct lift_arg l = { ctx, a, how };

		spin_start(&s, ctx, true);
		spin_start(&ctl, ctx, false);
		base = rel_rate(both, 300);
		throttle(ctx, a, 99);
		sleep_ms(100);
		/* asleep within a tick (1 s at 99 %); a loaded machine may delay the first */
		for (int i = 0; i < 4 && (held = rel_rate(both, 300)) / base >= 0.15; i++)
			;
		r[how] = after_lift(both, base, do_lift, &l);
		print_message("# 99%%: %.3f of its progress; %s lifts it: %.3f\n", held / base,
			      lift_names[how], r[how]);
		assert_true(held / base < 0.15);
		assert_true(r[how] > 0.30);	/* asleep until ~990 ms otherwise: 0 */
		if (how == 0) {
			/* paused: THROTTLE is accepted but not applied; RESUME does not re-apply */
			agent_send(a, KMIG_WL_THROTTLE, &t, sizeof(t));
			assert_int_equal(kmig_dispatch(ctx), 0);
			assert_int_equal(kmig_throttle_pct(ctx), 0);
			agent_send(a, KMIG_WL_RESUME, NULL, 0);
			assert_int_equal(kmig_dispatch(ctx), 0);
			assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
			assert_int_equal(kmig_throttle_pct(ctx), 0);
			throttle(ctx, a, 30);	/* a new THROTTLE applies again */
		}
		if (how < 2)
			close(a);
		spin_stop(&s);
		spin_stop(&ctl);
		kmig_close(ctx);
	}
}

static int close_ctx(void *arg)
{
	kmig_close(arg);
	return 0;
}

static void test_lifted_on_close(void **state)
{
	struct wl w = { .state = "s" };
	struct spin s = { 0 }, ctl = { 0 };
	struct spin *both[2] = { &s, &ctl };
	double base, r;
	int a;
	struct kmig_ctx *ctx = src_ctx(&w, &a);

	spin_start(&s, ctx, true);
	spin_start(&ctl, ctx, false);
	base = rel_rate(both, 300);
	throttle(ctx, a, 99);
	__atomic_store_n(&s.ctx_gone, true, __ATOMIC_SEQ_CST);
	r = after_lift(both, base, close_ctx, ctx);
	print_message("# kmig_close lifts 99%%: %.3f of its progress\n", r);
	assert_true(r > 0.30);
	spin_stop(&s);
	spin_stop(&ctl);
	close(a);
}

static void test_threads_that_leave(void **state)
{
	struct wl w = { .state = "s" };
	struct spin s = { 0 }, raw = { .raw_exit = true };
	int a;
	struct kmig_ctx *ctx = src_ctx(&w, &a);

	/* exits registered: forgotten by its own exit */
	spin_start(&s, ctx, true);
	__atomic_store_n(&s.ctx_gone, true, __ATOMIC_SEQ_CST);	/* i.e. skip unregister */
	spin_stop(&s);
	assert_int_equal(kmig_thread_count(ctx), 0);

	/*
	 * Vanishes without destructors: found dead when signalled.  Not under
	 * ASan or TSan, whose per-thread state a raw exit corrupts.
	 */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	spin_start(&raw, ctx, true);
	pthread_join(raw.t, NULL);
	assert_int_equal(kmig_thread_count(ctx), 1);
	throttle(ctx, a, 50);
	for (int i = 0; i < 100 && kmig_thread_count(ctx); i++)
		sleep_ms(10);
	assert_int_equal(kmig_thread_count(ctx), 0);
	throttle(ctx, a, 0);
#else
	(void)raw;
#endif
	close(a);
	kmig_close(ctx);
}

/* ---- malformed THROTTLE ---- */

static void bad_throttle(const char *what, enum kmig_role role, uint64_t features, bool opt,
			 const void *payload, uint32_t len, int want)
{
	struct wl w = { .state = "s" };
	int a, r;
	struct kmig_ctx *ctx = registered_with(role, &w, &a, features, opt);

	agent_send(a, KMIG_WL_THROTTLE, payload, len);
	r = kmig_dispatch(ctx);
	if (r != want)
		print_error("%s: got %d, want %d\n", what, r, want);
	assert_int_equal(r, want);
	assert_int_equal(kmig_throttle_pct(ctx), 0);
	assert_dropped(a);
	close(a);
	kmig_close(ctx);
}

static void test_bad_throttle(void **state)
{
	struct kmig_wl_throttle hi = { .pct = 100 }, res = { .pct = 10, .reserved = 1 };
	struct kmig_wl_throttle ok = { .pct = 10 };
	uint8_t big[16] = { 10 };
	int fd0 = count_fds();

	bad_throttle("pct 100", KMIG_ROLE_SOURCE, KMIG_WL_F_THROTTLE, true, &hi, sizeof(hi),
		     -EPROTO);
	bad_throttle("reserved set", KMIG_ROLE_SOURCE, KMIG_WL_F_THROTTLE, true, &res,
		     sizeof(res), -EPROTO);
	bad_throttle("short", KMIG_ROLE_SOURCE, KMIG_WL_F_THROTTLE, true, &ok, 4, -EPROTO);
	bad_throttle("empty", KMIG_ROLE_SOURCE, KMIG_WL_F_THROTTLE, true, NULL, 0, -EPROTO);
	bad_throttle("long", KMIG_ROLE_SOURCE, KMIG_WL_F_THROTTLE, true, big, sizeof(big),
		     -EMSGSIZE);
	bad_throttle("not agreed", KMIG_ROLE_SOURCE, 0, true, &ok, sizeof(ok), -EPROTO);
	bad_throttle("option off", KMIG_ROLE_SOURCE, 0, false, &ok, sizeof(ok), -EPROTO);
	bad_throttle("to a destination", KMIG_ROLE_DEST, KMIG_WL_F_THROTTLE, true, &ok,
		     sizeof(ok), -EPROTO);
	assert_int_equal(count_fds(), fd0);
}

/* a valid THROTTLE in every state a source can be in */
static void test_states(void **state)
{
	struct wl w = { .state = "s" };
	char buf[8];
	int a, fds[2];
	struct kmig_ctx *ctx = src_ctx(&w, &a);

	throttle(ctx, a, 99);
	throttle(ctx, a, 1);
	throttle(ctx, a, 0);
	throttle(ctx, a, 0);
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 0);
	agent_recv(a, KMIG_WL_PAUSED, buf, sizeof(buf), fds, 0);
	throttle(ctx, a, 0);
	agent_send(a, KMIG_WL_MIGRATED, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 1);
	throttle(ctx, a, 0);
	close(a);
	kmig_close(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signal_taken),
		cmocka_unit_test(test_progress),
		cmocka_unit_test(test_lifted),
		cmocka_unit_test(test_lifted_on_close),
		cmocka_unit_test(test_threads_that_leave),
		cmocka_unit_test(test_bad_throttle),
		cmocka_unit_test(test_states),
	};

	return cmocka_run_group_tests_name("libkmig_throttle", tests, NULL, NULL);
}
