// SPDX-License-Identifier: GPL-2.0-only
/*
 * throttle_cgroup.c: the cgroup CPU throttle for workloads that do not
 * throttle themselves (see throttle_cgroup.h, docs/throttle.md).  Why a
 * cgroup: kmigd cannot make another process's threads sleep, but the
 * kernel's CFS bandwidth control can cap a group of them, and undoing it
 * is moving them back -- which a reaper or the next kmigd can do, unlike
 * SIGSTOP/SIGCONT, where a kmigd dying between the two leaves the
 * workload stopped for good.
 *
 * The cgroup is a child of the workload's own cgroup (so every limit it
 * had still applies) named kmig-throttle.<kmigd pid>.<kmigd start>.<pid>.
 * cgroup v1 lets a populated cgroup have children, so the threads just
 * move down and back (each to the cgroup it came from).  cgroup v2 does
 * not let a non-root cgroup with processes enable a controller for its
 * children, so there the process moves out first and "+cpu" is enabled
 * in its (now empty) cgroup; that fails, with a clear error, when the
 * workload shares its cgroup with other processes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cgroup_fs.h"
#include "log.h"
#include "throttle_cgroup.h"

/**
 * struct kmig_cg_throttle - one throttled workload
 * @home:    the workload's cgroup directory (its main thread's), our parent
 * @dir:     ours
 * @mcpu:    thousandths of a CPU of quota at 0 % (sampled once, at creation)
 * @limit:   v1: the tightest ancestor quota per our period, or -1
 * @orig:    v1: where each thread was, if not @home
 */
struct kmig_cg_throttle {
	struct kmig_cg_mount m;
	pid_t pid;
	char home[PATH_MAX];
	char dir[PATH_MAX];
	unsigned int mcpu, pct;
	long quota, limit;
	struct kmig_cg_orig *orig;
	size_t norig;
};

/* ---- sizing the quota ---- */

/* the process's CPU time, ns */
static int64_t cpu_ns(pid_t pid)
{
	unsigned long long t;
	struct timespec ts;
	clockid_t c;

	if (!clock_getcpuclockid(pid, &c) && !clock_gettime(c, &ts))
		return ts.tv_sec * 1000000000ll + ts.tv_nsec;
	if (kmig_cgfs_proc_stat(pid, NULL, NULL, &t))
		return -1;
	return (int64_t)(t * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/*
 * How much CPU the process uses, in thousandths of a CPU: sampled over
 * KMIG_CG_SAMPLE_MS; rounded to whole CPUs once it uses half of one or
 * more (at most the CPUs it may run on), else the measured share, at least
 * 1 %: a writer that needs a tenth of a CPU is slowed by a quota relative
 * to that tenth, as QEMU's throttle is relative to the time a vCPU runs.
 */
static unsigned int cpus_used(pid_t pid)
{
	struct timespec a, b, d = { 0, KMIG_CG_SAMPLE_MS * 1000000l };
	int64_t c0, c1;
	cpu_set_t set;
	long allowed = sysconf(_SC_NPROCESSORS_ONLN);
	double used;

	if (!sched_getaffinity(pid, sizeof(set), &set))
		allowed = CPU_COUNT(&set);
	clock_gettime(CLOCK_MONOTONIC, &a);
	c0 = cpu_ns(pid);
	nanosleep(&d, NULL);
	c1 = cpu_ns(pid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (c0 < 0 || c1 < c0)
		return 1000;
	used = (double)(c1 - c0) / (double)((b.tv_sec - a.tv_sec) * 1000000000ll +
					    (b.tv_nsec - a.tv_nsec));
	if (allowed < 1)
		allowed = 1;
	if (used < 0.01)
		return 10;
	if (used < 0.5)
		return (unsigned int)(used * 1000);
	if (used < 1.5)
		return 1000;
	return 1000 * (used + 0.5 > (double)allowed ? (unsigned int)allowed :
		       (unsigned int)(used + 0.5));
}

/* ---- the throttle ---- */

static void cg_free(struct kmig_cg_throttle *cg)
{
	for (size_t i = 0; i < cg->norig; i++)
		free(cg->orig[i].dir);
	free(cg->orig);
	free(cg);
}

/* v1: each thread's cgroup now, to return it there (best effort) */
static void record_threads(struct kmig_cg_throttle *cg)
{
	char path[64];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)cg->pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		char file[128], dir[PATH_MAX];
		struct kmig_cg_orig *o;
		long tid = strtol(e->d_name, NULL, 10);

		if (tid <= 0)
			continue;
		snprintf(file, sizeof(file), "/proc/%d/task/%ld/cgroup", (int)cg->pid, tid);
		if (kmig_cgfs_task_dir(&cg->m, file, dir, sizeof(dir)) || !strcmp(dir, cg->home))
			continue;	/* gone, or simply at home */
		o = realloc(cg->orig, (cg->norig + 1) * sizeof(*o));
		if (!o)
			break;
		cg->orig = o;
		o[cg->norig].tid = (pid_t)tid;
		o[cg->norig].dir = strdup(dir);
		if (o[cg->norig].dir)
			cg->norig++;
	}
	if (d)
		closedir(d);
}

/* v1: a child quota may not exceed an ancestor's: the tightest, per our period */
static long ancestor_limit(const struct kmig_cg_throttle *cg)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], buf[64];
	long best = -1;

	snprintf(dir, sizeof(dir), "%s", cg->home);
	for (;;) {
		long q, p;
		char *slash;

		snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
		q = kmig_cgfs_read(path, buf, sizeof(buf)) > 0 ? strtol(buf, NULL, 10) : -1;
		snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
		p = kmig_cgfs_read(path, buf, sizeof(buf)) > 0 ? strtol(buf, NULL, 10) : 0;
		if (q > 0 && p > 0) {
			long l = (long)((double)q * KMIG_CG_PERIOD_US / (double)p);

			if (best < 0 || l < best)
				best = l;
		}
		if (!strcmp(dir, cg->m.path) || !(slash = strrchr(dir, '/')) || slash == dir)
			break;
		*slash = 0;
	}
	return best;
}

static int apply_quota(struct kmig_cg_throttle *cg, unsigned int pct, char *err, size_t n)
{
	char path[PATH_MAX + 32], val[64];
	long q = (long)KMIG_CG_PERIOD_US * cg->mcpu / 1000 * (100 - pct) / 100;
	int r;

	if (q < KMIG_CG_MIN_QUOTA)
		q = KMIG_CG_MIN_QUOTA;
	if (cg->limit > 0 && q > cg->limit)
		q = cg->limit;
	if (cg->m.version == 2) {
		snprintf(path, sizeof(path), "%s/cpu.max", cg->dir);
		snprintf(val, sizeof(val), "%ld %d", q, KMIG_CG_PERIOD_US);
	} else {
		snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", cg->dir);
		snprintf(val, sizeof(val), "%ld", q);
	}
	r = kmig_cgfs_write(path, val);
	if (r) {
		snprintf(err, n, "cannot write '%s' to %s: %s", val, path, strerror(-r));
		return r;
	}
	cg->pct = pct;
	cg->quota = q;
	return 0;
}

/* v2: enable cpu for @home's children once the workload has left @home */
static int v2_enable_cpu(struct kmig_cg_throttle *cg, char *err, size_t n)
{
	char path[PATH_MAX + 32], ctl[512];
	int r;

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", cg->home);
	if (kmig_cgfs_read(path, ctl, sizeof(ctl)) >= 0 && kmig_cgfs_has_word(ctl, "cpu", " \n"))
		return 0;
	r = kmig_cgfs_write(path, "+cpu");
	if (r == -EBUSY)
		snprintf(err, n, "cgroup v2: pid %d shares its cgroup %s with other processes, so "
			 "the cpu controller cannot be enabled below it", (int)cg->pid, cg->home);
	else if (r)
		snprintf(err, n, "cannot enable the cpu controller in %s: %s", path, strerror(-r));
	return r;
}

static int create(struct kmig_cg_throttle **out, pid_t pid, char *err, size_t n)
{
	struct kmig_cg_throttle *cg = calloc(1, sizeof(*cg));
	char file[64], name[96], path[PATH_MAX + 32];
	int r;

	if (!cg) {
		snprintf(err, n, "out of memory");
		return -ENOMEM;
	}
	cg->pid = pid;
	r = kmig_cg_find(&cg->m, err, n);
	if (r)
		goto fail;
	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)pid);
	r = kmig_cgfs_task_dir(&cg->m, file, cg->home, sizeof(cg->home));
	if (r) {
		snprintf(err, n, "cannot find the cgroup of pid %d under %s: %s", (int)pid,
			 cg->m.path, strerror(-r));
		goto fail;
	}
	snprintf(name, sizeof(name), KMIG_CG_PREFIX "%d.%llu.%d", (int)getpid(),
		 kmig_cg_self_start(), (int)pid);
	r = kmig_cgfs_join(cg->dir, sizeof(cg->dir), cg->home, name);
	if (r) {
		snprintf(err, n, "cgroup path too long under %s", cg->home);
		goto fail;
	}
	if (cg->m.version == 1)
		record_threads(cg);
	cg->mcpu = cpus_used(pid);
	cg->limit = cg->m.version == 1 ? ancestor_limit(cg) : -1;
	if (mkdir(cg->dir, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, n, "cannot create cgroup %s: %s", cg->dir, strerror(-r));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", cg->dir);
	if (cg->m.version == 1 && (r = kmig_cgfs_write(path, "100000"))) {
		snprintf(err, n, "cannot set %s: %s", path, strerror(-r));
		goto undo;
	}
	/* every thread at once: v1 cgroup.procs moves the whole thread group */
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dir);
	snprintf(file, sizeof(file), "%d", (int)pid);
	r = kmig_cgfs_write(path, file);
	if (r) {
		snprintf(err, n, "cannot move pid %d into %s: %s", (int)pid, cg->dir, strerror(-r));
		goto undo;
	}
	if (cg->m.version == 2 && (r = v2_enable_cpu(cg, err, n)))
		goto undo;
	*out = cg;
	return 0;
undo:
	kmig_cgfs_empty_and_remove(&cg->m, cg->home, cg->dir, cg->orig, cg->norig);
fail:
	cg_free(cg);
	return r;
}

int kmig_cg_throttle_set(struct kmig_cg_throttle **cgp, pid_t pid, unsigned int pct,
			 char *err, size_t n)
{
	bool fresh = !*cgp;
	int r;

	if (pct > 99 || pid <= 0) {
		snprintf(err, n, "bad throttle %u%% for pid %d", pct, (int)pid);
		return -EINVAL;
	}
	if (!pct) {
		r = kmig_cg_throttle_remove(cgp);
		if (r)
			snprintf(err, n, "cannot remove the throttle cgroup: %s", strerror(-r));
		return r;
	}
	if (fresh && (r = create(cgp, pid, err, n)))
		return r;
	r = apply_quota(*cgp, pct, err, n);
	if (r && fresh)
		kmig_cg_throttle_remove(cgp);	/* nothing left behind */
	if (!r)
		kmig_log(KMIG_LOG_INFO, "throttle", "pid=%d pct=%u cgroup=%s quota=%ld/%d us "
			 "(%u.%03u cpu)", (int)pid, pct, (*cgp)->dir, (*cgp)->quota,
			 KMIG_CG_PERIOD_US, (*cgp)->mcpu / 1000, (*cgp)->mcpu % 1000);
	return r;
}

int kmig_cg_throttle_remove(struct kmig_cg_throttle **cgp)
{
	struct kmig_cg_throttle *cg = cgp ? *cgp : NULL;
	int r;

	if (!cg)
		return 0;
	r = kmig_cgfs_empty_and_remove(&cg->m, cg->home, cg->dir, cg->orig, cg->norig);
	if (r)
		kmig_log(KMIG_LOG_WARN, "throttle", "cannot remove cgroup %s: %s", cg->dir,
			 strerror(-r));
	else
		kmig_log(KMIG_LOG_INFO, "throttle", "pid=%d lifted, cgroup %s removed", (int)cg->pid,
			 cg->dir);
	cg_free(cg);
	*cgp = NULL;
	return r;
}

void kmig_cg_throttle_info(const struct kmig_cg_throttle *cg, unsigned int *mcpu,
			   long *quota_us, const char **path)
{
	if (mcpu)
		*mcpu = cg ? cg->mcpu : 0;
	if (quota_us)
		*quota_us = cg ? cg->quota : 0;
	if (path)
		*path = cg ? cg->dir : NULL;
}

/* ---- what a dead kmigd left ---- */

struct walk {
	const struct kmig_cg_mount *m;
	pid_t owner;
	unsigned long long start;
	int removed, err;
	char *msg;
	size_t n;
};

static void walk_dir(struct walk *w, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char sub[PATH_MAX];
		unsigned long long start;
		int pid, wl, used = 0, r;

		if (e->d_type != DT_DIR || e->d_name[0] == '.' ||
		    kmig_cgfs_join(sub, sizeof(sub), dir, e->d_name))
			continue;
		if (sscanf(e->d_name, KMIG_CG_PREFIX "%d.%llu.%d%n", &pid, &start, &wl, &used) != 3 ||
		    e->d_name[used]) {
			if (depth < 64)
				walk_dir(w, sub, depth + 1);
			continue;
		}
		if (w->owner ? pid != w->owner || start != w->start : kmig_cgfs_owner_alive(pid, start))
			continue;
		r = kmig_cgfs_empty_and_remove(w->m, dir, sub, NULL, 0);
		if (r) {
			w->err = r;
			snprintf(w->msg, w->n, "cannot remove stale cgroup %s: %s", sub, strerror(-r));
			kmig_log(KMIG_LOG_WARN, "throttle", "%s", w->msg);
		} else {
			w->removed++;
			kmig_log(KMIG_LOG_INFO, "throttle", "removed cgroup %s left by kmigd pid %d",
				 sub, pid);
		}
	}
	closedir(d);
}

int kmig_cg_cleanup(pid_t owner_pid, unsigned long long owner_start, char *err, size_t n)
{
	struct kmig_cg_mount v2, v1;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	struct walk w = { .owner = owner_pid, .start = owner_start, .msg = err, .n = n };

	if (!f) {
		snprintf(err, n, "cannot read /proc/self/mountinfo: %s", strerror(errno));
		return -errno;
	}
	kmig_cg_parse_mountinfo(f, &v2, &v1);
	fclose(f);
	/* both, whichever this kmigd would pick: a throttle may predate a remount */
	if (v2.version) {
		w.m = &v2;
		walk_dir(&w, v2.path, 0);
	}
	if (v1.version) {
		w.m = &v1;
		walk_dir(&w, v1.path, 0);
	}
	return w.err ? w.err : w.removed;
}

/* ---- the reaper ---- */

int kmig_cg_reaper_start(char *err, size_t n)
{
	unsigned long long start = kmig_cg_self_start();
	pid_t owner = getpid(), pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, n, "cannot start the throttle reaper: pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		snprintf(err, n, "cannot start the throttle reaper: fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		char c, msg[512];
		int r;

		/* kmigd's stop signals (a terminal's ^C, a harness's group kill) are not ours */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		prctl(PR_SET_NAME, "kmigd-reaper");
		close(p[1]);
		/* nothing of kmigd's is kept open but stdio: the pipe moves to fd 3 */
		if (p[0] == 3 || dup2(p[0], 3) == 3) {
			p[0] = 3;
			syscall(SYS_close_range, 4, ~0u, 0);
		}
		while ((r = (int)read(p[0], &c, 1)) != 0 && (r > 0 || errno == EINTR))
			;
		/* kmigd is gone: put back whatever it still throttled */
		r = kmig_cg_cleanup(owner, start, msg, sizeof(msg));
		if (r > 0)
			kmig_log(KMIG_LOG_WARN, "throttle", "reaper: kmigd pid %d died throttling; "
				 "%d cgroup(s) removed", (int)owner, r);
		_exit(r < 0);
	}
	close(p[0]);
	/* p[1] stays open, unused, until kmigd exits (close-on-exec) */
	return 0;
}
