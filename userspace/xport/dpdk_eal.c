// SPDX-License-Identifier: GPL-2.0-only
/*
 * dpdk_eal.c: starts and stops DPDK's EAL inside kmigd (dpdk_eal.h).  The
 * arguments are built from the first dpdk: URI: one main lcore, no PCI
 * scan (the channel uses virtual devices), no telemetry, a file prefix of
 * its own (two kmigd on one host must not share /var/run/dpdk/<prefix>),
 * --no-huge or hugepages, --single-file-segments (memif zero-copy shares
 * memory by file descriptor).  EAL's log lines go to kmigd's log.  At exit
 * EAL is cleaned up and its runtime directory removed.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>

#include "clock.h"
#include "dpdk_eal.h"
#include "dpdk_gate.h"
#include "log.h"

#define MAX_ARGS 64

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state;		/* 0 not started, 1 running, 2 stopped, <0 -errno of the start */
	bool stop;
	int holds;
	pthread_t thr;
	char err[256];
	char dir[512];
	struct kmig_dpdk_opts used;
	bool warm;		/* touch the start of the heap after the start */
	int argc;
	char *argv[MAX_ARGS];
	char argbuf[2048];
} eal = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* ---- EAL's log, one kmig log line per line ---- */

static char logline[512];
static size_t loglen;

static ssize_t log_write(void *cookie, const char *buf, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\n' || loglen == sizeof(logline) - 1) {
			logline[loglen] = 0;
			if (loglen)
				kmig_log(KMIG_LOG_INFO, "dpdk", "%s", logline);
			loglen = 0;
			if (buf[i] == '\n')
				continue;
		}
		logline[loglen++] = buf[i];
	}
	return (ssize_t)size;
}

/* ---- arguments ---- */

static int add(const char *fmt, const char *a, size_t *used)
{
	int k;

	if (eal.argc >= MAX_ARGS - 1)
		return -E2BIG;
	k = snprintf(eal.argbuf + *used, sizeof(eal.argbuf) - *used, fmt, a);
	if (k < 0 || (size_t)k >= sizeof(eal.argbuf) - *used)
		return -E2BIG;
	eal.argv[eal.argc++] = eal.argbuf + *used;
	*used += (size_t)k + 1;
	return 0;
}

static int first_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			return i;
	return 0;
}

static int build_args(const struct kmig_dpdk_opts *o)
{
	char num[32], prefix[80], extra[sizeof(o->eal)], *save = NULL, *tok;
	size_t used = 0;
	int ret = 0;

	snprintf(prefix, sizeof(prefix), "%s", o->prefix);
	if (!prefix[0])
		snprintf(prefix, sizeof(prefix), "kmig-%d", (int)getpid());
	snprintf(num, sizeof(num), "%d", o->lcore >= 0 ? o->lcore : first_cpu());
	ret |= add("%s", "kmigd", &used);
	ret |= add("-l", "", &used);
	ret |= add("%s", num, &used);
	ret |= add("--file-prefix=%s", prefix, &used);
	snprintf(num, sizeof(num), "%u", o->mem_mb);
	ret |= add("-m", "", &used);
	ret |= add("%s", num, &used);
	if (o->huge) {
		ret |= add("--iova-mode=va", "", &used);
		if (o->huge_dir[0])
			ret |= add("--huge-dir=%s", o->huge_dir, &used);
	} else {
		ret |= add("--no-huge", "", &used);
	}
	ret |= add("--single-file-segments", "", &used);
	ret |= add("--no-telemetry", "", &used);
	ret |= add("--log-level=%s", "warning", &used);
	snprintf(extra, sizeof(extra), "%s", o->eal);
	/* a URI that names PCI devices (-a) wants the PCI bus */
	if (!strstr(extra, "-a ") && !strstr(extra, "--allow"))
		ret |= add("--no-pci", "", &used);
	for (tok = strtok_r(extra, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		ret |= add("%s", tok, &used);
	eal.argv[eal.argc] = NULL;
	return ret ? -E2BIG : 0;
}

/* ---- the EAL thread ---- */

/* removes what EAL left in its runtime directory (our prefix: ours alone) */
static void remove_dir(const char *dir)
{
	DIR *d = dir[0] ? opendir(dir) : NULL;
	struct dirent *e;
	char p[1024];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	if (rmdir(dir) && errno != ENOENT)
		kmig_log(KMIG_LOG_WARN, "dpdk", "could not remove EAL's runtime directory %s: %s",
			 dir, strerror(errno));
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define WARM_MAX_MB 64

/*
 * EAL's memory is mapped, not touched: each page a channel's mbuf pools
 * first use costs a fault, 60-80 ms of a migration's setup here.  Touch the
 * start of the heap once, now (a quarter of mem=, at most 64 MiB); freed, it
 * stays mapped and is where the first pools are carved from.
 */
static void warm_heap(unsigned int mem_mb)
{
	size_t len = (size_t)(mem_mb / 4 < WARM_MAX_MB ? mem_mb / 4 : WARM_MAX_MB) << 20;
	uint64_t t0 = kmig_now_ns();
	uint8_t *p = len ? rte_malloc("kmig-warm", len, 4096) : NULL;

	if (!p)
		return;
	if (madvise(p, len, MADV_POPULATE_WRITE))
		for (size_t i = 0; i < len; i += 4096)
			((volatile uint8_t *)p)[i] = 0;
	rte_free(p);
	kmig_log(KMIG_LOG_DEBUG, "dpdk", "EAL heap: %zu MiB touched in %.1f ms", len >> 20,
		 (double)(kmig_now_ns() - t0) / 1e6);
}

static void *eal_main(void *arg)
{
	char *argv[MAX_ARGS];
	int ret;

	memcpy(argv, eal.argv, sizeof(argv));	/* EAL reorders its argv */
	ret = rte_eal_init(eal.argc, argv);
	if (ret >= 0 && eal.warm)
		warm_heap(eal.used.mem_mb);
	pthread_mutex_lock(&eal.lock);
	if (ret < 0) {
		eal.state = -(rte_errno ? rte_errno : EINVAL);
		snprintf(eal.err, sizeof(eal.err), "DPDK's EAL did not start (%s; EAL's own words "
			 "are in kmigd's log: a file prefix in use by another process, no "
			 "memory, ...)", rte_errno ? rte_strerror(rte_errno) : "no reason given");
	} else {
		eal.state = 1;
		snprintf(eal.dir, sizeof(eal.dir), "%s", rte_eal_get_runtime_dir());
	}
	pthread_cond_broadcast(&eal.cond);
	while (eal.state == 1 && !eal.stop)
		pthread_cond_wait(&eal.cond, &eal.lock);
	pthread_mutex_unlock(&eal.lock);
	if (ret >= 0) {
		/*
		 * Under an open port cleaning up could pull memory from under it, and
		 * with the interrupt thread loose a late wake-up of it would read
		 * memory the cleanup unmapped (dpdk_gate.h).
		 */
		if (!eal.holds && kmig_dpdk_gate_park_for_good())
			rte_eal_cleanup();
		else if (!eal.holds)
			kmig_log(KMIG_LOG_WARN, "dpdk", "EAL's interrupt thread could not be parked: "
				 "EAL is left as it is at exit");
		remove_dir(eal.dir);
	}
	return NULL;
}

static void eal_stop(void)
{
	pthread_mutex_lock(&eal.lock);
	if (eal.state != 1) {
		pthread_mutex_unlock(&eal.lock);
		return;
	}
	eal.stop = true;
	pthread_cond_broadcast(&eal.cond);
	pthread_mutex_unlock(&eal.lock);
	pthread_join(eal.thr, NULL);
	eal.state = 2;
}

static bool differs(const struct kmig_dpdk_opts *a, const struct kmig_dpdk_opts *b)
{
	return a->lcore != b->lcore || a->mem_mb != b->mem_mb || a->huge != b->huge ||
	       strcmp(a->huge_dir, b->huge_dir) || strcmp(a->prefix, b->prefix) ||
	       strcmp(a->eal, b->eal);
}

int kmig_dpdk_eal_start(const struct kmig_dpdk_opts *o, bool warm, char *err, size_t n)
{
	int ret;

	pthread_mutex_lock(&eal.lock);
	if (eal.state == 1) {
		if (o->eal_given && differs(o, &eal.used))
			kmig_log(KMIG_LOG_WARN, "dpdk", "EAL already runs with the options of the "
				 "first dpdk: URI; this URI's lcore/mem/huge/prefix/eal options are "
				 "ignored");
		pthread_mutex_unlock(&eal.lock);
		return 0;
	}
	if (eal.state) {
		snprintf(err, n, "%s", eal.state == 2 ? "DPDK's EAL was stopped" : eal.err);
		ret = eal.state < 0 ? eal.state : -ESHUTDOWN;
		pthread_mutex_unlock(&eal.lock);
		return ret;
	}
	ret = build_args(o);
	if (ret) {
		snprintf(err, n, "dpdk: too many EAL arguments");
		pthread_mutex_unlock(&eal.lock);
		return ret;
	}
	eal.used = *o;
	eal.warm = warm;
	cookie_io_functions_t io = { .write = log_write };
	FILE *f = fopencookie(NULL, "w", io);

	if (f) {
		setvbuf(f, NULL, _IOLBF, 0);
		rte_openlog_stream(f);
	}
	ret = -pthread_create(&eal.thr, NULL, eal_main, NULL);
	if (ret) {
		snprintf(err, n, "dpdk: cannot start the EAL thread: %s", strerror(-ret));
		pthread_mutex_unlock(&eal.lock);
		return ret;
	}
	while (!eal.state)
		pthread_cond_wait(&eal.cond, &eal.lock);
	ret = eal.state < 0 ? eal.state : 0;
	if (ret) {
		snprintf(err, n, "%s", eal.err);
		pthread_mutex_unlock(&eal.lock);
		pthread_join(eal.thr, NULL);
		return ret;
	}
	kmig_log(KMIG_LOG_INFO, "dpdk", "EAL started: %s %s %s %s %s %s", eal.argv[1], eal.argv[2],
		 eal.argv[3], eal.argv[4], eal.argv[5], eal.argv[6]);
	pthread_mutex_unlock(&eal.lock);
	atexit(eal_stop);
	return 0;
}

const char *kmig_dpdk_eal_dir(void)
{
	return eal.dir;
}

void kmig_dpdk_eal_hold(void)
{
	pthread_mutex_lock(&eal.lock);
	eal.holds++;
	pthread_mutex_unlock(&eal.lock);
}

void kmig_dpdk_eal_release(void)
{
	pthread_mutex_lock(&eal.lock);
	eal.holds--;
	pthread_mutex_unlock(&eal.lock);
}

/* ---- threads ---- */

static pthread_key_t reg_key;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void unregister(void *v)
{
	rte_thread_unregister();
}

static void make_key(void)
{
	pthread_key_create(&reg_key, unregister);
}

void kmig_dpdk_thread_enter(void)
{
	static __thread bool tried;

	if (tried)
		return;
	tried = true;
	if (rte_lcore_id() != LCORE_ID_ANY)
		return;
	pthread_once(&reg_once, make_key);
	/* without an lcore id the thread still works, only without mempool caches */
	if (!rte_thread_register())
		pthread_setspecific(reg_key, (void *)1);
}
