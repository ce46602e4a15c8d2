// SPDX-License-Identifier: GPL-2.0-only
/*
 * track_uffd.c: the "uffd-wp" tracker back end.  The workload's own
 * userfaultfd is put in async write-protect mode, so a write to a protected
 * page only clears its PTE's uffd-wp bit inside the kernel (no handler
 * thread, no stall); one PAGEMAP_SCAN per harvest reads and re-arms them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "clock.h"
#include "tracker.h"
#include "uffd_arm.h"
#include "uffd_compat.h"

#define UFFD_TRACK_FEATURES	(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED | \
				 UFFD_FEATURE_WP_HUGETLBFS_SHMEM)
/* page_region entries per PAGEMAP_SCAN call (96 KiB); harvest loops past it */
#define UFFD_VEC_MAX		4096
#define UFFD_PROBE_PAGES	4

/* one block of the target process, as the per-range code sees it */
struct uffd_target {
	pid_t pid;
	int uffd;
	uint64_t addr;
	uint64_t len;
	bool *uffd_api_done;
};

struct uffd_range {
	struct uffd_target t;
	int pagemap_fd;
	bool registered;	/* UFFDIO_REGISTER done: close must unregister */
	bool armed;		/* a harvest succeeded since open / the last error */
	uint64_t api_features;	/* what UFFDIO_API offered, for the log */
	uint64_t reg_ioctls;	/* what UFFDIO_REGISTER allows on the range */
	unsigned int page_shift;
	uint64_t npages;
	uint64_t vec_len;
	struct page_region *vec;
};

static void bitmap_set_range(uint64_t *bm, uint64_t first, uint64_t count)
{
	uint64_t end = first + count;

	while (first < end) {
		uint64_t w = first / 64, bit = first % 64;
		uint64_t n = 64 - bit < end - first ? 64 - bit : end - first;

		bm[w] |= (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << bit;
		first += n;
	}
}

static void uffd_log(enum kmig_log_level lvl, const char *what, const char *step,
		     const struct uffd_target *t, int err, const char *hint)
{
	kmig_log(lvl, "track", "uffd-wp: %s failed step=%s pid=%d uffd=%d addr=0x%" PRIx64
		 " len=%" PRIu64 " err=%s%s%s", what, step, (int)t->pid, t->uffd, t->addr,
		 t->len, strerror(-err), hint ? " hint=" : "", hint ? hint : "");
}

/*
 * Sets @p up for @t: opens the workload's pagemap, switches the workload's
 * uffd to async WP, registers the block and checks that the *workload's*
 * mappings of the block are now async-WP (which proves the uffd is
 * @t->pid's).  On failure returns -errno with *@step naming what failed;
 * the caller undoes whatever was done with uffd_teardown().
 */
static int uffd_setup(struct uffd_range *p, const struct uffd_target *t,
		      const char **step, const char **hint)
{
	long ps = sysconf(_SC_PAGESIZE);
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_TRACK_FEATURES };
	struct uffdio_register reg = { .range = { .start = t->addr, .len = t->len },
				       .mode = UFFDIO_REGISTER_MODE_WP };
	struct page_region one;
	struct pm_scan_arg a;
	char path[64];
	long n;

	p->t = *t;
	*step = "args";
	if (ps <= 0 || (ps & (ps - 1)))
		return -EINVAL;
	p->page_shift = __builtin_ctzl(ps);
	if (t->pid <= 0 || t->uffd < 0 || !t->len || (t->addr | t->len) & (ps - 1) ||
	    t->addr + t->len < t->addr)
		return -EINVAL;
	p->npages = t->len >> p->page_shift;

	/* First the pid: a bad one must fail before the uffd is touched. */
	*step = "open-pagemap";
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)t->pid);
	p->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->pagemap_fd < 0)
		return -errno;

	*step = "UFFDIO_API";
	if (t->uffd_api_done && *t->uffd_api_done) {
		/* an earlier open did the handshake (and checked the features) */
		api.features = UFFD_TRACK_FEATURES;
	} else if (ioctl(t->uffd, UFFDIO_API, &api) < 0) {
		if (errno == EINVAL)
			*hint = "uffd must be fresh (no UFFDIO_API done on it yet) and the "
				"kernel must offer WP_ASYNC|WP_UNPOPULATED|WP_HUGETLBFS_SHMEM";
		return -errno;
	} else if (t->uffd_api_done) {
		*t->uffd_api_done = true;
	}
	p->api_features = api.features;
	*step = "features";
	if ((api.features & UFFD_TRACK_FEATURES) != UFFD_TRACK_FEATURES)
		return -EOPNOTSUPP;

	*step = "UFFDIO_REGISTER";
	if (ioctl(t->uffd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	p->registered = true;
	p->reg_ioctls = reg.ioctls;

	/*
	 * Non-destructive check of the workload's side: report the pages of
	 * [addr, end) that lie in async-WP VMAs.  CHECK_WPASYNC fails with
	 * EPERM on any VMA that is not (the uffd belongs to another mm); a hole
	 * shortens the one run.  No WP_MATCHING: nothing gets protected.
	 */
	*step = "verify-target";
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = PM_SCAN_CHECK_WPASYNC;
	a.start = t->addr;
	a.end = t->addr + t->len;
	a.vec = (uintptr_t)&one;
	a.vec_len = 1;
	a.category_mask = PAGE_IS_WPALLOWED;
	a.return_mask = PAGE_IS_WPALLOWED;
	n = ioctl(p->pagemap_fd, PAGEMAP_SCAN, &a);
	if (n < 0) {
		if (errno == EPERM)
			*hint = "workload's block is not async-WP registered: uffd not created by pid?";
		return -errno;
	}
	if (n != 1 || one.start != t->addr || one.end != t->addr + t->len) {
		*hint = "block not fully mapped in the workload";
		return -EINVAL;
	}

	/* Alternating pages give npages/2 runs; more than that never helps. */
	p->vec_len = p->npages / 2 + 1 < UFFD_VEC_MAX ? p->npages / 2 + 1 : UFFD_VEC_MAX;
	*step = "alloc";
	p->vec = calloc(p->vec_len, sizeof(*p->vec));
	if (!p->vec)
		return -ENOMEM;
	return 0;
}

/*
 * PAGEMAP_SCAN walks an mm whose users are gone (the workload exited or
 * exec'd) as an empty one: 0 runs, no error.  read(2) of pagemap returns
 * EOF in that case, so one 8-byte pread tells the two apart.
 */
static int uffd_mm_alive(const struct uffd_range *p)
{
	uint64_t ent;
	ssize_t r = pread(p->pagemap_fd, &ent, sizeof(ent),
			  (off_t)(p->t.addr >> p->page_shift) * sizeof(ent));

	if (r == sizeof(ent))
		return 0;
	return r < 0 ? -errno : -ESRCH;
}

static void uffd_teardown(struct uffd_range *p, bool quiet)
{
	if (p->registered) {
		struct uffdio_range r = { .start = p->t.addr, .len = p->t.len };

		/*
		 * Also clears the uffd-wp bits and markers: no stale
		 * protection.  Fails (ENOMEM on 6.18) once the mm is gone.
		 */
		if (ioctl(p->t.uffd, UFFDIO_UNREGISTER, &r) < 0) {
			int err = -errno;
			bool gone = p->pagemap_fd >= 0 && uffd_mm_alive(p) == -ESRCH;

			uffd_log(quiet || gone ? KMIG_LOG_DEBUG : KMIG_LOG_WARN, "close",
				 "UFFDIO_UNREGISTER", &p->t, err, gone ? "workload gone" : NULL);
		}
		p->registered = false;
	}
	if (p->pagemap_fd >= 0)
		close(p->pagemap_fd);
	p->pagemap_fd = -1;
	free(p->vec);
	p->vec = NULL;
}

/*
 * One get-and-clear pass over the block: ORs every run the kernel reports
 * into @bm, returns the number of pages reported or -errno (*@step set).
 * On error some pages may already have been re-protected without being
 * reported, so the caller must treat the tracker as un-armed.
 */
static long uffd_scan(struct uffd_range *p, uint64_t *bm, const char **step)
{
	const uint64_t base = p->t.addr, end = p->t.addr + p->t.len;
	const uint64_t pmask = (1ULL << p->page_shift) - 1;
	struct pm_scan_arg a;
	long total = 0;
	int err;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
	a.start = base;
	a.end = end;
	a.vec = (uintptr_t)p->vec;
	a.vec_len = p->vec_len;
	a.category_mask = PAGE_IS_WRITTEN;
	a.return_mask = PAGE_IS_WRITTEN;

	for (;;) {
		uint64_t from = a.start;
		long n, i;

		*step = "PAGEMAP_SCAN";
		n = ioctl(p->pagemap_fd, PAGEMAP_SCAN, &a);
		if (n < 0)
			return -errno;
		*step = "PAGEMAP_SCAN-result";
		if ((uint64_t)n > p->vec_len)
			return -EIO;
		for (i = 0; i < n; i++) {
			const struct page_region *r = &p->vec[i];

			/* Never trust a region to stay inside the bitmap. */
			if (r->start < from || r->end > end || r->start >= r->end ||
			    ((r->start | r->end) & pmask))
				return -EIO;
			bitmap_set_range(bm, (r->start - base) >> p->page_shift,
					 (r->end - r->start) >> p->page_shift);
			total += (r->end - r->start) >> p->page_shift;
		}
		if (a.walk_end >= end)
			break;
		/* vec was full: go on from where the walk stopped */
		if (a.walk_end <= from || (a.walk_end & pmask))
			return -EIO;
		a.start = a.walk_end;
	}
	/* If the mm is alive now, it was for the whole walk. */
	*step = "mm-alive";
	err = uffd_mm_alive(p);
	return err ? err : total;
}

/** struct uffd_priv - a tracker: one uffd_range per block, and stats */
struct uffd_priv {
	unsigned int n;
	struct kmig_track_stats st;
	struct uffd_range r[];
};

static void uffd_close(struct kmig_tracker *tr)
{
	struct uffd_priv *p = tr->priv;

	if (!p)
		return;
	for (unsigned int i = 0; i < p->n; i++)
		uffd_teardown(&p->r[i], false);
	free(p);
	tr->priv = NULL;
}

static struct uffd_target one_target(const struct kmig_track_target *t, unsigned int i)
{
	const struct kmig_track_range *r = &t->ranges[i];

	return (struct uffd_target){ .pid = t->pid, .uffd = r->uffd, .addr = r->addr,
				     .len = r->len, .uffd_api_done = r->uffd_api_done };
}

static int uffd_open(struct kmig_tracker *tr, const struct kmig_track_target *t)
{
	struct uffd_priv *p;

	tr->priv = NULL;
	p = calloc(1, sizeof(*p) + t->nranges * sizeof(p->r[0]));
	if (!p) {
		struct uffd_target ut = one_target(t, 0);

		uffd_log(KMIG_LOG_ERR, "open", "alloc", &ut, -ENOMEM, NULL);
		return -ENOMEM;
	}
	tr->priv = p;
	for (unsigned int i = 0; i < t->nranges; i++) {
		struct uffd_target ut = one_target(t, i);
		const char *step = "alloc", *hint = NULL;
		struct uffd_range *r = &p->r[i];
		int err;

		r->pagemap_fd = -1;
		p->n = i + 1;
		err = uffd_setup(r, &ut, &step, &hint);
		if (err) {
			uffd_log(KMIG_LOG_ERR, "open", step, &ut, err, hint);
			uffd_close(tr);
			return err;
		}
		kmig_log(KMIG_LOG_DEBUG, "track", "uffd-wp: pid=%d block=%s api_features=0x%" PRIx64
			 " register_ioctls=0x%" PRIx64 " vec_len=%" PRIu64, (int)t->pid,
			 t->ranges[i].name ? t->ranges[i].name : "?", r->api_features,
			 r->reg_ioctls, r->vec_len);
	}
	return 0;
}

/* one block's get-and-clear (see kmig_tracker_ops.harvest) */
static long harvest_range(struct uffd_range *p, uint64_t *bitmap)
{
	const char *step = "args";
	long n;

	if (p->pagemap_fd < 0)
		return -EINVAL;
	n = uffd_scan(p, bitmap, &step);
	if (n < 0) {
		uffd_log(KMIG_LOG_ERR, "harvest", step, &p->t, (int)n,
			 n == -ESRCH ? "workload gone" : NULL);
		p->armed = false;	/* the next success reports everything */
		return n;
	}
	if (!p->armed) {
		/*
		 * The arm step: after REGISTER (or a failed scan) the kernel's
		 * view is not a dirty set.  Whatever it said, every page counts.
		 */
		kmig_log(KMIG_LOG_DEBUG, "track", "uffd-wp: armed pid=%d kernel_reported=%ld pages=%" PRIu64,
			 (int)p->t.pid, n, p->npages);
		bitmap_set_range(bitmap, 0, p->npages);
		p->armed = true;
		return (long)p->npages;
	}
	return n;
}

static long uffd_harvest(struct kmig_tracker *tr, uint64_t *const *bitmaps)
{
	struct uffd_priv *p = tr->priv;
	int64_t t0 = kmig_now_ns();
	long total = 0;

	if (!p)
		return -EINVAL;
	for (unsigned int i = 0; i < p->n; i++) {
		long n = harvest_range(&p->r[i], bitmaps[i]);

		if (n < 0) {
			/* the blocks already harvested lost their bits: re-arm them all */
			for (unsigned int j = 0; j < p->n; j++)
				p->r[j].armed = false;
			return n;
		}
		total += n;
		p->st.pages_scanned += p->r[i].npages;
	}
	kmig_track_stats_harvest(&p->st, t0, (uint64_t)total);
	return total;
}

static int uffd_stats(struct kmig_tracker *tr, struct kmig_track_stats *st)
{
	struct uffd_priv *p = tr->priv;

	if (!p)
		return -EBADF;
	*st = p->st;
	return 0;
}

/*
 * The real thing in miniature, in this process: a fresh uffd, a 4-page
 * memfd mapping, the same setup and scan code; after the arm scan a clean
 * scan must find nothing and two real writes must come back exactly.
 */
static int uffd_probe_run(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	struct uffd_range p = { .pagemap_fd = -1 };
	struct uffd_target t = { .pid = getpid(), .uffd = -1 };
	const char *step = "userfaultfd", *hint = NULL;
	uint64_t bm[1];
	int memfd = -1, err = 0;
	void *map = MAP_FAILED;
	long n;

	t.uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (t.uffd < 0) {
		err = -errno;
		goto out;
	}
	step = "memfd";
	memfd = memfd_create("kmig-uffd-probe", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, UFFD_PROBE_PAGES * ps) < 0) {
		err = -errno;
		goto out;
	}
	map = mmap(NULL, UFFD_PROBE_PAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	*(volatile char *)map = 1;		/* page 0 populated, the rest not */
	t.addr = (uintptr_t)map;
	t.len = UFFD_PROBE_PAGES * ps;
	err = uffd_setup(&p, &t, &step, &hint);
	if (err)
		goto out;

	bm[0] = 0;
	n = uffd_scan(&p, bm, &step);		/* arm */
	if (n < 0) {
		err = n;
		goto out;
	}
	bm[0] = 0;
	n = uffd_scan(&p, bm, &step);
	if (n != 0 || bm[0]) {
		step = "clean-scan";
		err = n < 0 ? n : -EIO;
		goto out;
	}
	((volatile char *)map)[0 * ps] = 2;	/* populated page */
	((volatile char *)map)[2 * ps] = 3;	/* page faulted in by the write */
	n = uffd_scan(&p, bm, &step);
	if (n != 2 || bm[0] != 0x5) {
		step = "observe-write";
		err = n < 0 ? n : -EIO;
		goto out;
	}
out:
	if (err)
		uffd_log(KMIG_LOG_INFO, "probe", step, &t, err, hint);
	uffd_teardown(&p, true);
	if (map != MAP_FAILED)
		munmap(map, UFFD_PROBE_PAGES * ps);
	if (memfd >= 0)
		close(memfd);
	if (t.uffd >= 0)
		close(t.uffd);
	return err;
}

static int uffd_probe(const struct kmig_track_target *t)
{
	static int cached = 1;		/* 1: not run yet; a race only runs it twice */
	int r = __atomic_load_n(&cached, __ATOMIC_RELAXED);

	if (r == 1) {
		r = uffd_probe_run();
		__atomic_store_n(&cached, r, __ATOMIC_RELAXED);
	}
	if (r)
		return r;
	for (unsigned int i = 0; t && i < t->nranges; i++) {
		if (t->ranges[i].uffd < 0) {
			kmig_log(KMIG_LOG_INFO, "track", "uffd-wp: target pid=%d block=%s has no "
				 "userfaultfd", (int)t->pid, t->ranges[i].name ? t->ranges[i].name : "?");
			return -EBADF;
		}
	}
	return 0;
}

const struct kmig_tracker_ops kmig_track_uffd_ops = {
	.name = "uffd-wp",
	.probe = uffd_probe,
	.open = uffd_open,
	.harvest = uffd_harvest,
	.close = uffd_close,
	.stats = uffd_stats,
};

/* ---- the arming code, shared with track_bpf.c (uffd_arm.h) ---- */

struct kmig_uffd_arm {
	struct uffd_range r;
};

struct kmig_uffd_arm *kmig_uffd_arm_open(pid_t pid, int uffd, uint64_t addr, uint64_t len,
					 bool *uffd_api_done, int *err)
{
	struct uffd_target t = { .pid = pid, .uffd = uffd, .addr = addr, .len = len,
				 .uffd_api_done = uffd_api_done };
	const char *step = "alloc", *hint = NULL;
	struct kmig_uffd_arm *a = calloc(1, sizeof(*a));

	*err = a ? 0 : -ENOMEM;
	if (a) {
		a->r.pagemap_fd = -1;
		*err = uffd_setup(&a->r, &t, &step, &hint);
	}
	if (*err) {
		uffd_log(KMIG_LOG_ERR, "open", step, &t, *err, hint);
		if (a)
			uffd_teardown(&a->r, false);
		free(a);
		return NULL;
	}
	return a;
}

long kmig_uffd_arm_scan(struct kmig_uffd_arm *a, uint64_t *bm)
{
	/* exactly the uffd-wp back end's get-and-clear of one armed block */
	return harvest_range(&a->r, bm);
}

int kmig_uffd_arm_reprotect(struct kmig_uffd_arm *a)
{
	struct uffd_range *p = &a->r;
	const uint64_t end = p->t.addr + p->t.len;
	struct pm_scan_arg s;
	int err;

	/* No output vector: the kernel's "exclusive WP" path, which only
	 * re-protects the written pages (cheaper than collecting runs). */
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
	s.start = p->t.addr;
	s.end = end;
	s.category_mask = PAGE_IS_WRITTEN;
	s.return_mask = PAGE_IS_WRITTEN;
	while (s.start < end) {
		uint64_t from = s.start;

		if (ioctl(p->pagemap_fd, PAGEMAP_SCAN, &s) < 0) {
			err = -errno;
			uffd_log(err == -ESRCH ? KMIG_LOG_INFO : KMIG_LOG_ERR, "re-protect",
				 "PAGEMAP_SCAN", &p->t, err, err == -ESRCH ? "workload gone" : NULL);
			return err;
		}
		if (s.walk_end >= end)
			break;
		if (s.walk_end <= from || (s.walk_end & ((1ULL << p->page_shift) - 1))) {
			uffd_log(KMIG_LOG_ERR, "re-protect", "PAGEMAP_SCAN-result", &p->t, -EIO, NULL);
			return -EIO;
		}
		s.start = s.walk_end;
	}
	err = uffd_mm_alive(p);
	if (err)
		uffd_log(err == -ESRCH ? KMIG_LOG_INFO : KMIG_LOG_ERR, "re-protect", "mm-alive",
			 &p->t, err, err == -ESRCH ? "workload gone" : NULL);
	return err;
}

void kmig_uffd_arm_reset(struct kmig_uffd_arm *a)
{
	a->r.armed = false;
}

void kmig_uffd_arm_close(struct kmig_uffd_arm *a, bool quiet)
{
	if (!a)
		return;
	uffd_teardown(&a->r, quiet);
	free(a);
}
