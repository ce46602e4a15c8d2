// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_cgroup_throttle.c: kmigd's cgroup CPU throttle (throttle_cgroup.c)
 * on the real cpu controller, so it needs root and a mounted cpu
 * hierarchy; otherwise every test is reported skipped, with the reason.
 * A CPU-spinning child throttled at 50 % must use about half a CPU
 * (measured from /proc/PID/stat), run at full speed again once the
 * throttle is removed, and leave no cgroup behind; every thread of a
 * multi-threaded child must move and come back to where it was; the
 * start-up clean-up must remove a cgroup named for a dead kmigd (moving
 * its tasks out first) and keep a live one's; and the reaper must undo the
 * throttle of a kmigd that was SIGKILLed.  Each test's teardown kills its
 * children and removes whatever cgroups it made, also after a failure.
 * The mountinfo parser is checked on canned files (no root needed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cgroup_fs.h"
#include "throttle_cgroup.h"

static struct kmig_cg_mount M;		/* the hierarchy the throttle uses */
static char skip_why[256];
static pid_t kids[8];			/* killed by every teardown */
static char extra_dir[PATH_MAX];	/* a cgroup a test made by hand */

/* ---- children ---- */

static void *spin_thread(void *arg)
{
	volatile unsigned long x = 0;

	(void)arg;
	for (;;)
		x++;
	return NULL;
}

/* a child spinning on @threads threads (the main one included) */
static pid_t spinner(int threads)
{
	pid_t p = fork();

	assert_true(p >= 0);
	if (p == 0) {
		pthread_t t;

		int fd;

		/*
		 * Ahead of the machine's other work, so the CPU it gets is the
		 * quota's doing (bandwidth control caps it whatever its weight):
		 * with autogroups nice counts only inside a session, so a
		 * session of its own, reniced.
		 */
		setsid();
		fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "-10", 3) < 0)
				setpriority(PRIO_PROCESS, 0, -10);
			close(fd);
		}
		for (int i = 1; i < threads; i++)
			pthread_create(&t, NULL, spin_thread, NULL);
		spin_thread(NULL);
	}
	for (int i = 0; i < 8; i++) {
		if (!kids[i]) {
			kids[i] = p;
			break;
		}
	}
	/* wait until every thread exists */
	for (int tries = 0; tries < 200; tries++) {
		char path[64];
		int n = 0;
		DIR *d;
		struct dirent *e;

		snprintf(path, sizeof(path), "/proc/%d/task", (int)p);
		d = opendir(path);
		while (d && (e = readdir(d)))
			n += e->d_name[0] != '.';
		if (d)
			closedir(d);
		if (n >= threads)
			break;
		usleep(5000);
	}
	return p;
}

static void reap(pid_t p)
{
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPUs' worth @pid used over @ms, from utime + stime in /proc/PID/stat */
static double cpu_share(pid_t pid, int ms)
{
	unsigned long long t0, t1;
	double w0, w1;

	assert_int_equal(kmig_cgfs_proc_stat(pid, NULL, NULL, &t0), 0);
	w0 = now_s();
	usleep((useconds_t)ms * 1000);
	assert_int_equal(kmig_cgfs_proc_stat(pid, NULL, NULL, &t1), 0);
	w1 = now_s();
	return (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / (w1 - w0);
}

/* the cgroup directory task @tid of @pid is in now */
static void dir_of(pid_t pid, pid_t tid, char *out)
{
	char file[96];

	snprintf(file, sizeof(file), "/proc/%d/task/%d/cgroup", (int)pid, (int)tid);
	assert_int_equal(kmig_cgfs_task_dir(&M, file, out, PATH_MAX), 0);
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* the tids of @pid */
static int tids(pid_t pid, pid_t *out, int max)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) && n < max)
		if (e->d_name[0] != '.')
			out[n++] = (pid_t)atoi(e->d_name);
	closedir(d);
	return n;
}

/* ---- fixtures ---- */

static int teardown(void **state)
{
	char err[256];

	for (int i = 0; i < 8; i++) {
		if (kids[i])
			reap(kids[i]);
		kids[i] = 0;
	}
	/* ours, and any a dead "kmigd" of these tests left */
	kmig_cg_cleanup(getpid(), kmig_cg_self_start(), err, sizeof(err));
	kmig_cg_cleanup(0, 0, err, sizeof(err));
	if (extra_dir[0]) {
		char home[PATH_MAX];

		snprintf(home, sizeof(home), "%s", M.path);
		kmig_cgfs_empty_and_remove(&M, home, extra_dir, NULL, 0);
		extra_dir[0] = 0;
	}
	return 0;
}

/* ---- tests ---- */

static void test_throttle_50(void **state)
{
	struct kmig_cg_throttle *cg = NULL;
	char home[PATH_MAX], now[PATH_MAX], file[PATH_MAX + 32], buf[64], err[512];
	const char *path;
	unsigned int ncpu;
	long quota;
	double base, t50, t80, after;
	pid_t s = spinner(1);

	dir_of(s, s, home);
	usleep(100000);
	base = cpu_share(s, 1000);
	if (kmig_cg_throttle_set(&cg, s, 50, err, sizeof(err)))
		fail_msg("throttle: %s", err);
	kmig_cg_throttle_info(cg, &ncpu, &quota, &path);
	assert_int_equal(ncpu, 1000);	/* a busy spinner: one whole CPU */
	assert_int_equal(quota, KMIG_CG_PERIOD_US / 2);
	assert_true(exists(path));
	dir_of(s, s, now);
	assert_string_equal(now, path);
	snprintf(file, sizeof(file), "%s/%s", path, M.version == 2 ? "cpu.max" : "cpu.cfs_quota_us");
	assert_true(kmig_cgfs_read(file, buf, sizeof(buf)) > 0);
	assert_int_equal(strtol(buf, NULL, 10), 50000);
	t50 = cpu_share(s, 1000);

	assert_int_equal(kmig_cg_throttle_set(&cg, s, 80, err, sizeof(err)), 0);
	kmig_cg_throttle_info(cg, NULL, &quota, NULL);
	assert_int_equal(quota, 20000);
	usleep(100000);
	t80 = cpu_share(s, 1000);

	snprintf(file, sizeof(file), "%s", path);
	assert_int_equal(kmig_cg_throttle_set(&cg, s, 0, err, sizeof(err)), 0);
	assert_null(cg);
	assert_false(exists(file));
	dir_of(s, s, now);
	assert_string_equal(now, home);
	after = cpu_share(s, 1000);
	print_message("# spinner: %.3f CPU unthrottled, %.3f at 50%%, %.3f at 80%%, %.3f after "
		      "removal\n", base, t50, t80, after);
	assert_true(base > 0.5);
	assert_true(t50 > 0.35 && t50 < 0.62);
	assert_true(t80 > 0.10 && t80 < 0.30);
	assert_true(after > 0.6 && after > t50 + 0.15);
}

static void test_threads_moved(void **state)
{
	struct kmig_cg_throttle *cg = NULL;
	char home[PATH_MAX], dir[PATH_MAX], err[512];
	const char *path;
	pid_t s = spinner(3), t[8];
	int n = tids(s, t, 8);
	unsigned int ncpu;
	double share;

	assert_int_equal(n, 3);
	dir_of(s, s, home);
	if (M.version == 1) {
		/* one thread lives elsewhere: it must come back there, not home */
		snprintf(extra_dir, sizeof(extra_dir), "%s/kmig-test-other.%d", M.path, (int)getpid());
		assert_true(mkdir(extra_dir, 0755) == 0 || errno == EEXIST);
		assert_int_equal(kmig_cgfs_move_to(&M, extra_dir, t[2]), 0);
	}
	if (kmig_cg_throttle_set(&cg, s, 50, err, sizeof(err)))
		fail_msg("throttle: %s", err);
	kmig_cg_throttle_info(cg, &ncpu, NULL, &path);
	for (int i = 0; i < n; i++) {
		dir_of(s, t[i], dir);
		assert_string_equal(dir, path);
	}
	share = cpu_share(s, 1000);
	print_message("# 3 spinning threads at 50%%: quota for %u mCPU, %.3f CPU used\n", ncpu,
		      share);
	assert_true(ncpu >= 1000 && ncpu <= 2000);
	assert_true(share < ncpu / 1000.0 * 0.5 + 0.15);
	assert_int_equal(kmig_cg_throttle_remove(&cg), 0);
	for (int i = 0; i < n; i++) {
		dir_of(s, t[i], dir);
		assert_string_equal(dir, M.version == 1 && i == 2 ? extra_dir : home);
	}
}

/* a kmig cgroup made by hand, named for @owner/@start, holding @pid at a 20 % quota */
static void fake_cgroup(const char *home, pid_t owner, unsigned long long start, pid_t pid,
			char *out)
{
	char file[PATH_MAX + 32];

	snprintf(out, PATH_MAX, "%s/" KMIG_CG_PREFIX "%d.%llu.%d", home, (int)owner, start,
		 (int)pid);
	assert_true(mkdir(out, 0755) == 0 || errno == EEXIST);
	if (M.version == 1) {
		snprintf(file, sizeof(file), "%s/cpu.cfs_quota_us", out);
		assert_int_equal(kmig_cgfs_write(file, "20000"), 0);
	} else {
		snprintf(file, sizeof(file), "%s/cgroup.subtree_control", home);
		kmig_cgfs_write(file, "+cpu");
		snprintf(file, sizeof(file), "%s/cpu.max", out);
		assert_int_equal(kmig_cgfs_write(file, "20000 100000"), 0);
	}
	assert_int_equal(kmig_cgfs_move_to(&M, out, pid), 0);
}

static void test_stale_cleanup(void **state)
{
	char home[PATH_MAX], dead[PATH_MAX], reused[PATH_MAX], live[PATH_MAX], now[PATH_MAX];
	char err[512], *parent;
	unsigned long long me = kmig_cg_self_start();
	pid_t s = spinner(1), s2 = spinner(1), gone = fork();
	double held, after;
	int r;

	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);		/* a kmigd pid that no longer runs */
	dir_of(s, s, home);
	/* v2 allows a populated parent with cpu enabled below only at the root */
	parent = M.version == 1 ? home : M.path;
	fake_cgroup(parent, gone, 4242, s, dead);
	/* our own pid with another start time: a kmigd whose pid was reused */
	fake_cgroup(parent, getpid(), me + 1, s2, reused);
	snprintf(live, sizeof(live), "%s/" KMIG_CG_PREFIX "%d.%llu.1", parent, (int)getpid(), me);
	assert_int_equal(mkdir(live, 0755), 0);
	usleep(100000);
	held = cpu_share(s, 500);

	r = kmig_cg_cleanup(0, 0, err, sizeof(err));
	if (r < 0)
		fail_msg("cleanup: %s", err);
	assert_true(r >= 2);
	assert_false(exists(dead));
	assert_false(exists(reused));
	assert_true(exists(live));	/* its kmigd (this test) runs */
	dir_of(s, s, now);
	assert_string_equal(now, parent);
	dir_of(s2, s2, now);
	assert_string_equal(now, parent);
	kill(s2, SIGKILL);	/* s alone measures the speed it is back to */
	after = cpu_share(s, 500);
	print_message("# stale cgroup: %.3f CPU while in it, %.3f after the clean-up\n", held,
		      after);
	assert_true(held < 0.35);
	assert_true(after > 0.5);

	assert_int_equal(kmig_cg_cleanup(getpid(), me, err, sizeof(err)), 1);
	assert_false(exists(live));
}

static void test_reaper(void **state)
{
	char home[PATH_MAX], now[PATH_MAX], err[512];
	pid_t s = spinner(1), k;
	int p[2], i;
	double t0 = 0;
	char c;

	dir_of(s, s, home);
	assert_int_equal(pipe(p), 0);
	k = fork();
	assert_true(k >= 0);
	if (k == 0) {
		/* a kmigd: reaper, throttle, then killed */
		struct kmig_cg_throttle *cg = NULL;

		close(p[0]);
		if (kmig_cg_reaper_start(err, sizeof(err)) ||
		    kmig_cg_throttle_set(&cg, s, 90, err, sizeof(err)))
			_exit(1);
		c = 'k';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	kids[7] = k;
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	dir_of(s, s, now);
	assert_non_null(strstr(now, KMIG_CG_PREFIX));
	kill(k, SIGKILL);
	waitpid(k, NULL, 0);
	kids[7] = 0;
	t0 = now_s();
	for (i = 0; i < 300; i++) {
		dir_of(s, s, now);
		if (!strcmp(now, home))
			break;
		usleep(10000);
	}
	print_message("# kmigd killed at 90%%: its reaper put the workload back in %.0f ms\n",
		      (now_s() - t0) * 1000);
	assert_string_equal(now, home);
}

/* ---- the parser, on canned mountinfo (no root needed) ---- */

static void parse(const char *text, struct kmig_cg_mount *v2, struct kmig_cg_mount *v1)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	assert_non_null(f);
	assert_int_equal(kmig_cg_parse_mountinfo(f, v2, v1), 0);
	fclose(f);
}

static void test_mountinfo(void **state)
{
	struct kmig_cg_mount v2, v1;

	/* this machine's shape: v1 cpu, cgroup2 "unified" without cpu; cpuacct/cpuset are not cpu */
	parse("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
	      "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n"
	      "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
	      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	      "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n", &v2, &v1);
	assert_int_equal(v1.version, 1);
	assert_string_equal(v1.path, "/sys/fs/cgroup/cpu");
	assert_string_equal(v1.root, "/");
	assert_int_equal(v2.version, 2);
	assert_string_equal(v2.path, "/sys/fs/cgroup/unified");

	/* systemd's combined v1 mount, optional fields, a container's root, an escaped space */
	parse("25 24 0:22 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 master:2 - "
	      "cgroup cgroup rw,cpu,cpuacct\n"
	      "26 24 0:23 / /mnt/my\\040cg rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", &v2, &v1);
	assert_int_equal(v1.version, 1);
	assert_string_equal(v1.path, "/sys/fs/cgroup/cpu,cpuacct");
	assert_string_equal(v1.root, "/docker/abc");
	assert_string_equal(v2.path, "/mnt/my cg");

	/* pure v2, no v1 cpu */
	parse("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
	      "40 1 0:40 / /sys/fs/cgroup/net_cls rw - cgroup cgroup rw,net_cls\n", &v2, &v1);
	assert_int_equal(v2.version, 2);
	assert_string_equal(v2.path, "/sys/fs/cgroup");
	assert_int_equal(v1.version, 0);

	/* neither */
	parse("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n", &v2, &v1);
	assert_int_equal(v2.version + v1.version, 0);
}

/* ---- main: skip (in TAP, with the reason) where the cpu controller cannot be used ---- */

static bool usable(void)
{
	char err[256];

	if (geteuid() != 0) {
		snprintf(skip_why, sizeof(skip_why), "not root");
		return false;
	}
	if (kmig_cg_find(&M, err, sizeof(err))) {
		snprintf(skip_why, sizeof(skip_why), "%s", err);
		return false;
	}
	if (access(M.path, W_OK)) {
		snprintf(skip_why, sizeof(skip_why), "%s is not writable", M.path);
		return false;
	}
	return true;
}

int main(void)
{
	const struct CMUnitTest all[] = {
		cmocka_unit_test(test_mountinfo),
		cmocka_unit_test_teardown(test_throttle_50, teardown),
		cmocka_unit_test_teardown(test_threads_moved, teardown),
		cmocka_unit_test_teardown(test_stale_cleanup, teardown),
		cmocka_unit_test_teardown(test_reaper, teardown),
	};
	size_t n = sizeof(all) / sizeof(all[0]);

	if (!usable()) {
		/*
		 * cmocka prints a skip as "not ok ... # SKIP": report the skipped
		 * ones as TAP skips ourselves, and run the parser test alone.
		 */
		for (size_t i = 1; i < n; i++)
			printf("ok %zu - %s # SKIP %s\n", i + 1, all[i].name, skip_why);
		fflush(stdout);
		return _cmocka_run_group_tests("cgroup_throttle", all, 1, NULL, NULL);
	}
	return _cmocka_run_group_tests("cgroup_throttle", all, n, NULL, NULL);
}
