// SPDX-License-Identifier: GPL-2.0-only
/*
 * bpf_dirty.c: loads dirty_fault.bpf.c through its libbpf skeleton
 * (open -> set .rodata -> size the bitmap -> load -> attach -> mmap the
 * bitmap), reads its bitmap and counters back, and turns every way the
 * kernel can refuse into one sentence an operator can act on.  libbpf's
 * own chatter goes to kmig's log at debug level.  Built without the
 * skeleton (KMIG_NO_BPF: no clang/bpftool/BTF on the build machine), every
 * open fails with a sentence that says so.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf_dirty.h"
#include "log.h"

#ifdef KMIG_NO_BPF

int kmig_bpf_dirty_open(struct kmig_bpf_dirty **out, pid_t pid,
			const struct kmig_bpf_dirty_range *r, unsigned int n, char *why,
			size_t whylen)
{
	*out = NULL;
	snprintf(why, whylen, "kmig was built without its eBPF programs (clang, bpftool or "
		 "/sys/kernel/btf/vmlinux were missing on the build machine)");
	return -ENOTSUP;
}

uint64_t kmig_bpf_dirty_take(struct kmig_bpf_dirty *d, unsigned int i, uint64_t *bm)
{
	return 0;
}

void kmig_bpf_dirty_peek(struct kmig_bpf_dirty *d, unsigned int i, uint64_t *bm)
{
}

void kmig_bpf_dirty_clear(struct kmig_bpf_dirty *d)
{
}

long kmig_bpf_dirty_threads(struct kmig_bpf_dirty *d, struct kmig_bpf_thread_pages *out,
			    size_t n)
{
	return -ENOTSUP;
}

void kmig_bpf_dirty_counters(struct kmig_bpf_dirty *d, struct kmig_bpf_dirty_counters *c)
{
	memset(c, 0, sizeof(*c));
}

void kmig_bpf_dirty_close(struct kmig_bpf_dirty *d)
{
}

#else

#include <pthread.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kmig_bpf.h"
#include "dirty_fault.skel.h"

/* the init pid namespace's inode number (include/linux/proc_ns.h) */
#define PROC_PID_INIT_INO	0xEFFFFFFCU
/* the bitmap covers at most this much tracked memory (1 TiB: 32 MiB of bits) */
#define BPF_DIRTY_MAX_WORDS	(1ULL << 22)

_Static_assert(KMIG_BPF_DIRTY_MAX_RANGES == KMIG_BPF_MAX_RANGES, "range limits differ");
_Static_assert(KMIG_BPF_DIRTY_COMM_LEN == KMIG_BPF_COMM_LEN, "comm lengths differ");
_Static_assert(KMIG_BPF_DIRTY_MAX_THREADS == KMIG_BPF_MAX_THREADS, "thread limits differ");

struct kmig_bpf_dirty {
	struct dirty_fault *skel;
	uint64_t *bm;			/* the dirty_bm array, mapped */
	size_t bm_bytes;
	unsigned int n;
	struct {
		uint64_t word;		/* first word in bm */
		uint64_t nwords;
	} r[KMIG_BPF_MAX_RANGES];
};

/* libbpf -> kmig's log, one line at a time, always at debug level: the
 * caller logs the one sentence that matters (libbpf's hints mislead here,
 * e.g. "raise RLIMIT_MEMLOCK" when the real cause is a missing capability) */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	char *line, *save = NULL;

	(void)level;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		kmig_log(KMIG_LOG_DEBUG, "bpf", "libbpf: %s", line);
	return 0;
}

static void set_print(void)
{
	libbpf_set_print(libbpf_print);
}

static int read_sysctl(const char *path)
{
	FILE *f = fopen(path, "re");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* one sentence for a refusal at @step */
static void explain(int err, const char *step, char *why, size_t whylen)
{
	if (err == -EPERM || (err == -EACCES && geteuid() != 0)) {
		snprintf(why, whylen, "the kernel refused to %s the eBPF dirty tracker (%s): kmigd "
			 "needs root or CAP_BPF+CAP_PERFMON (kernel.unprivileged_bpf_disabled=%d)",
			 step, strerror(-err),
			 read_sysctl("/proc/sys/kernel/unprivileged_bpf_disabled"));
	} else if (err == -ENOSYS) {
		snprintf(why, whylen, "this kernel has no bpf() system call (CONFIG_BPF_SYSCALL)");
	} else if (!strcmp(step, "attach") && err == -ENOENT) {
		snprintf(why, whylen, "this kernel has no exceptions:page_fault_user/kernel "
			 "tracepoints to attach the eBPF dirty tracker to (x86 with CONFIG_TRACING "
			 "needed)");
	} else if (!strcmp(step, "load") && (err == -EINVAL || err == -EACCES || err == -E2BIG)) {
		snprintf(why, whylen, "the kernel's BPF verifier rejected the dirty tracker (%s; "
			 "kmigd -v logs the verifier's reasons)", strerror(-err));
	} else {
		snprintf(why, whylen, "cannot %s the eBPF dirty tracker: %s", step, strerror(-err));
	}
}

/*
 * The workload's pid namespace and its tgid there: the program filters on
 * those (bpf_get_ns_current_pid_tgid), so it works whichever namespace
 * kmigd and the workload live in.  NSpid's last field is the innermost id.
 */
static int target_ns(pid_t pid, struct stat *ns, unsigned int *tgid)
{
	char path[64], line[256];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	if (stat(path, ns) < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + 6, *end;

		if (strncmp(line, "NSpid:", 6))
			continue;
		for (;;) {
			unsigned long v = strtoul(p, &end, 10);

			if (end == p)
				break;
			if (v == 0 || v > 0x3fffffff) {
				found = 0;
				break;
			}
			*tgid = (unsigned int)v;
			found = 1;
			p = end;
		}
		break;
	}
	fclose(f);
	return found ? 0 : -ESRCH;
}

void kmig_bpf_dirty_close(struct kmig_bpf_dirty *d)
{
	if (!d)
		return;
	if (d->bm)
		munmap(d->bm, d->bm_bytes);
	dirty_fault__destroy(d->skel);	/* detaches, closes maps; accepts NULL */
	free(d);
}

int kmig_bpf_dirty_open(struct kmig_bpf_dirty **out, pid_t pid,
			const struct kmig_bpf_dirty_range *r, unsigned int n, char *why,
			size_t whylen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	long ps = sysconf(_SC_PAGESIZE);
	struct kmig_bpf_dirty *d;
	struct stat ns;
	unsigned int tgid = 0;
	uint64_t words = 0;
	const char *step;
	void *m;
	int err;

	*out = NULL;
	pthread_once(&once, set_print);
	if (pid <= 0 || !n || n > KMIG_BPF_MAX_RANGES || ps != 1L << KMIG_BPF_PAGE_SHIFT) {
		snprintf(why, whylen, "bad arguments for the eBPF dirty tracker");
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	d->n = n;
	for (unsigned int i = 0; i < n; i++) {
		if (!r[i].len || (r[i].start | r[i].len) & (ps - 1) ||
		    r[i].start + r[i].len < r[i].start) {
			snprintf(why, whylen, "range %u is not page aligned or wraps", i);
			kmig_bpf_dirty_close(d);
			return -EINVAL;
		}
		d->r[i].word = words;
		d->r[i].nwords = ((r[i].len >> KMIG_BPF_PAGE_SHIFT) + 63) / 64;
		words += d->r[i].nwords;
	}
	if (words > BPF_DIRTY_MAX_WORDS) {
		snprintf(why, whylen, "the eBPF dirty tracker covers at most %llu GiB",
			 (unsigned long long)(BPF_DIRTY_MAX_WORDS * 64 * ps >> 30));
		kmig_bpf_dirty_close(d);
		return -E2BIG;
	}
	err = target_ns(pid, &ns, &tgid);
	if (err) {
		snprintf(why, whylen, "cannot find process %d's pid namespace: %s", (int)pid,
			 strerror(-err));
		kmig_bpf_dirty_close(d);
		return err;
	}

	step = "open";
	d->skel = dirty_fault__open();
	if (!d->skel) {
		err = -errno;
		goto fail;
	}
	d->skel->rodata->target_tgid = tgid;
	d->skel->rodata->use_pidns = ns.st_ino != PROC_PID_INIT_INO;
	d->skel->rodata->pidns_dev = ns.st_dev;
	d->skel->rodata->pidns_ino = ns.st_ino;
	d->skel->rodata->nranges = n;
	for (unsigned int i = 0; i < n; i++) {
		d->skel->rodata->ranges[i].start = r[i].start;
		d->skel->rodata->ranges[i].end = r[i].start + r[i].len;
		d->skel->rodata->ranges[i].word = d->r[i].word;
	}
	err = bpf_map__set_max_entries(d->skel->maps.dirty_bm, (uint32_t)words);
	if (err)
		goto fail;

	step = "load";
	err = dirty_fault__load(d->skel);
	if (err)
		goto fail;
	step = "attach";
	err = dirty_fault__attach(d->skel);
	if (err)
		goto fail;

	step = "map";
	d->bm_bytes = (words * 8 + ps - 1) & ~(uint64_t)(ps - 1);
	m = mmap(NULL, d->bm_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		 bpf_map__fd(d->skel->maps.dirty_bm), 0);
	if (m == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	d->bm = m;
	kmig_log(KMIG_LOG_DEBUG, "bpf", "dirty tracker loaded pid=%d ns_tgid=%u pidns=%s "
		 "ranges=%u bitmap_words=%" PRIu64, (int)pid, tgid,
		 ns.st_ino != PROC_PID_INIT_INO ? "own" : "init", n, words);
	*out = d;
	return 0;
fail:
	if (err > 0)
		err = -err;
	if (!err)
		err = -EINVAL;
	explain(err, step, why, whylen);
	kmig_bpf_dirty_close(d);
	return err;
}

uint64_t kmig_bpf_dirty_take(struct kmig_bpf_dirty *d, unsigned int i, uint64_t *bm)
{
	uint64_t *w, n = 0;

	if (!d || i >= d->n)
		return 0;
	w = d->bm + d->r[i].word;
	for (uint64_t k = 0; k < d->r[i].nwords; k++) {
		uint64_t v;

		/* a plain read first: clean words (most of them) cost no locked op */
		if (!__atomic_load_n(&w[k], __ATOMIC_RELAXED))
			continue;
		v = __atomic_exchange_n(&w[k], 0, __ATOMIC_ACQ_REL);
		bm[k] |= v;
		n += (uint64_t)__builtin_popcountll(v);
	}
	return n;
}

void kmig_bpf_dirty_peek(struct kmig_bpf_dirty *d, unsigned int i, uint64_t *bm)
{
	const uint64_t *w;

	if (!d || i >= d->n)
		return;
	w = d->bm + d->r[i].word;
	for (uint64_t k = 0; k < d->r[i].nwords; k++)
		bm[k] |= __atomic_load_n(&w[k], __ATOMIC_ACQUIRE);
}

void kmig_bpf_dirty_clear(struct kmig_bpf_dirty *d)
{
	for (unsigned int i = 0; d && i < d->n; i++) {
		uint64_t *w = d->bm + d->r[i].word;

		for (uint64_t k = 0; k < d->r[i].nwords; k++)
			__atomic_store_n(&w[k], 0, __ATOMIC_RELEASE);
	}
}

long kmig_bpf_dirty_threads(struct kmig_bpf_dirty *d, struct kmig_bpf_thread_pages *out,
			    size_t n)
{
	int fd;
	uint32_t key, next;
	void *prev = NULL;
	long count = 0;

	if (!d)
		return -EBADF;
	fd = bpf_map__fd(d->skel->maps.thread_pages);
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kmig_bpf_thread v;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;	/* cannot happen: entries are never deleted */
		if ((size_t)count < n) {
			out[count].tid = key;
			out[count].pages = v.pages;
			memcpy(out[count].comm, v.comm, sizeof(out[count].comm));
			out[count].comm[sizeof(out[count].comm) - 1] = 0;
		}
		if (++count > KMIG_BPF_MAX_THREADS)
			break;		/* bounds a map that would not stop iterating */
	}
	return count;
}

void kmig_bpf_dirty_counters(struct kmig_bpf_dirty *d, struct kmig_bpf_dirty_counters *c)
{
	memset(c, 0, sizeof(*c));
	if (!d)
		return;
	c->write_faults = __atomic_load_n(&d->skel->bss->write_faults, __ATOMIC_RELAXED);
	c->pages_dirtied = __atomic_load_n(&d->skel->bss->pages_dirtied, __ATOMIC_RELAXED);
	c->threads_lost = __atomic_load_n(&d->skel->bss->threads_lost, __ATOMIC_RELAXED);
}

#endif
