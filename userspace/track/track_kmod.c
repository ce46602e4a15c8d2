// SPDX-License-Identifier: GPL-2.0-only
/*
 * track_kmod.c: the "kmod" tracker back end, on the kmig kernel module
 * (/dev/kmig, kmod/).  The module tracks each RAM block by its memfd and
 * reads the PTE dirty bits the CPU sets anyway, so the workload takes no
 * fault at all; one HARVEST ioctl per block gets and cleans them.  It is
 * preferred by "auto" when /dev/kmig exists and its probe sees a real
 * write; otherwise it says why and the trackset falls back (uffd-wp).
 * It tracks the memfd from offset 0, the way libkmig maps a block.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/kmig.h>

#include "log.h"
#include "clock.h"
#include "tracker.h"

#define KMOD_DEV		"/dev/kmig"
#define KMOD_PROBE_PAGES	4
#define KMOD_NEED_IOCTLS	(KMIG_IOCTL_BIT(_IOC_NR(KMIG_IOC_TRACK)) | \
				 KMIG_IOCTL_BIT(_IOC_NR(KMIG_IOC_HARVEST)) | \
				 KMIG_IOCTL_BIT(_IOC_NR(KMIG_IOC_UNTRACK)))

struct kmod_range {
	const char *name;
	uint64_t addr, len, npages;
	uint32_t id;
	bool armed;		/* a harvest succeeded since open / the last error */
	uint64_t *scratch;	/* what the module returns, ORed into the caller's */
};

/** struct kmod_priv - a tracker: one /dev/kmig fd for all blocks of one process */
struct kmod_priv {
	int dev;
	int pagemap_fd;		/* the workload's, to notice its exit or exec */
	pid_t pid;
	unsigned int n;
	struct kmig_track_stats st;
	struct kmod_range r[];
};

static void kmod_log(enum kmig_log_level lvl, const char *what, const char *step, pid_t pid,
		     const char *block, int err, const char *hint)
{
	kmig_log(lvl, "track", "kmod: %s failed step=%s pid=%d block=%s err=%s%s%s", what, step,
		 (int)pid, block ? block : "?", strerror(-err), hint ? " hint=" : "",
		 hint ? hint : "");
}

/* opens /dev/kmig and does the handshake; fd or -errno (*@hint set) */
static int kmod_dev_open(const char **step, const char **hint)
{
	struct kmig_api a = { .argsz = sizeof(a), .api = KMIG_API };
	int dev, err;

	*step = "open " KMOD_DEV;
	dev = open(KMOD_DEV, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		err = -errno;
		if (err == -ENOENT)
			*hint = "kmig.ko is not loaded (insmod kmod/kmig.ko)";
		else if (err == -EACCES)
			*hint = KMOD_DEV " is root-only (mode 0600)";
		return err;
	}
	*step = "KMIG_IOC_API";
	if (ioctl(dev, KMIG_IOC_API, &a) < 0) {
		err = -errno;
		*hint = "module speaks another KMIG_API version";
		close(dev);
		return err;
	}
	if ((a.ioctls & KMOD_NEED_IOCTLS) != KMOD_NEED_IOCTLS) {
		close(dev);
		*hint = "module lacks TRACK/HARVEST/UNTRACK";
		return -EOPNOTSUPP;
	}
	return dev;
}

static void bitmap_or_all(uint64_t *dst, const uint64_t *src, uint64_t npages)
{
	for (uint64_t w = 0; w < (npages + 63) / 64; w++)
		dst[w] |= src[w];
}

static long kmod_harvest_one(int dev, struct kmod_range *r, uint64_t *out)
{
	struct kmig_harvest h = { .argsz = sizeof(h), .id = r->id,
				  .bitmap = (uintptr_t)r->scratch,
				  .bitmap_bytes = (r->npages + 63) / 64 * 8 };

	if (ioctl(dev, KMIG_IOC_HARVEST, &h) < 0)
		return -errno;
	if (h.dirty > r->npages)
		return -EIO;
	bitmap_or_all(out, r->scratch, r->npages);
	return (long)h.dirty;
}

/* same trick as track_uffd.c: pagemap of a gone mm reads as EOF */
static int kmod_mm_alive(const struct kmod_priv *p)
{
	uint64_t ent;
	ssize_t r;

	if (p->pagemap_fd < 0)
		return 0;
	r = pread(p->pagemap_fd, &ent, sizeof(ent), (off_t)(p->r[0].addr / 4096 * sizeof(ent)));
	if (r == sizeof(ent))
		return 0;
	return r < 0 ? -errno : -ESRCH;
}

/*
 * The workload's mapping at @addr must be @memfd from offset 0, or the
 * module would track some other file's pages.  0 or -errno.
 */
static int kmod_check_mapping(pid_t pid, uint64_t addr, int memfd)
{
	char path[64], line[512];
	struct stat st;
	FILE *f;
	int ret = -ENOENT;

	if (fstat(memfd, &st) < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, off, ino;
		unsigned int maj, mnr;

		if (sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &lo, &hi, &off, &maj, &mnr,
			   &ino) != 6 || addr < lo || addr >= hi)
			continue;
		ret = ino == (unsigned long long)st.st_ino && off + (addr - lo) == 0 ? 0 : -EINVAL;
		break;
	}
	fclose(f);
	return ret;
}

static void kmod_close(struct kmig_tracker *tr)
{
	struct kmod_priv *p = tr->priv;

	if (!p)
		return;
	for (unsigned int i = 0; i < p->n; i++)
		free(p->r[i].scratch);
	if (p->dev >= 0)
		close(p->dev);		/* untracks every range */
	if (p->pagemap_fd >= 0)
		close(p->pagemap_fd);
	free(p);
	tr->priv = NULL;
}

static int kmod_open(struct kmig_tracker *tr, const struct kmig_track_target *t)
{
	const char *step = "alloc", *hint = NULL;
	struct kmod_priv *p;
	char path[64];
	int err;

	tr->priv = NULL;
	p = calloc(1, sizeof(*p) + t->nranges * sizeof(p->r[0]));
	if (!p) {
		kmod_log(KMIG_LOG_ERR, "open", step, t->pid, t->ranges[0].name, -ENOMEM, NULL);
		return -ENOMEM;
	}
	p->pid = t->pid;
	p->pagemap_fd = -1;
	tr->priv = p;
	p->dev = kmod_dev_open(&step, &hint);
	if (p->dev < 0) {
		err = p->dev;
		goto fail_block0;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)t->pid);
	p->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);	/* best effort */
	for (unsigned int i = 0; i < t->nranges; i++) {
		const struct kmig_track_range *tr_r = &t->ranges[i];
		struct kmod_range *r = &p->r[i];
		struct kmig_track k = { .argsz = sizeof(k), .fd = tr_r->memfd, .offset = 0,
					.length = tr_r->len };

		p->n = i + 1;
		r->name = tr_r->name;
		r->addr = tr_r->addr;
		r->len = tr_r->len;
		r->npages = tr_r->len >> KMIG_TRACK_PAGE_SHIFT;
		step = "check-mapping";
		err = kmod_check_mapping(t->pid, tr_r->addr, tr_r->memfd);
		if (err) {
			hint = "the workload does not map this memfd from offset 0 at the block address";
			goto fail;
		}
		step = "alloc";
		r->scratch = calloc((r->npages + 63) / 64, sizeof(uint64_t));
		if (!r->scratch) {
			err = -ENOMEM;
			goto fail;
		}
		step = "KMIG_IOC_TRACK";
		if (ioctl(p->dev, KMIG_IOC_TRACK, &k) < 0) {
			err = -errno;
			if (err == -EBUSY)
				hint = "another tracker already tracks these pages";
			else if (err == -EPERM)
				hint = "need CAP_SYS_ADMIN or the memfd's owner uid";
			goto fail;
		}
		r->id = k.id;
	}
	return 0;

fail:
	kmod_log(KMIG_LOG_ERR, "open", step, t->pid, t->ranges[p->n - 1].name, err, hint);
	kmod_close(tr);
	return err;
fail_block0:
	kmod_log(KMIG_LOG_ERR, "open", step, t->pid, t->ranges[0].name, err, hint);
	kmod_close(tr);
	return err;
}

static long kmod_harvest(struct kmig_tracker *tr, uint64_t *const *bitmaps)
{
	struct kmod_priv *p = tr->priv;
	int64_t t0 = kmig_now_ns();
	long total = 0;
	int err;

	if (!p)
		return -EINVAL;
	for (unsigned int i = 0; i < p->n; i++) {
		struct kmod_range *r = &p->r[i];
		long n = kmod_harvest_one(p->dev, r, bitmaps[i]);

		if (n < 0) {
			kmod_log(KMIG_LOG_ERR, "harvest", "KMIG_IOC_HARVEST", p->pid, r->name,
				 (int)n, NULL);
			for (unsigned int j = 0; j < p->n; j++)
				p->r[j].armed = false;	/* the next success reports all */
			return n;
		}
		if (!r->armed) {
			/* the arm step: the first harvest reports every page */
			memset(bitmaps[i], 0xff, r->npages / 64 * 8);
			for (uint64_t b = r->npages / 64 * 64; b < r->npages; b++)
				bitmaps[i][b / 64] |= 1ULL << (b % 64);
			n = (long)r->npages;
			r->armed = true;
		}
		total += n;
		p->st.pages_scanned += r->npages;
	}
	err = kmod_mm_alive(p);
	if (err) {
		kmod_log(KMIG_LOG_ERR, "harvest", "mm-alive", p->pid, p->r[0].name, err,
			 "workload gone");
		return err;
	}
	kmig_track_stats_harvest(&p->st, t0, (uint64_t)total);
	return total;
}

static int kmod_stats(struct kmig_tracker *tr, struct kmig_track_stats *st)
{
	struct kmod_priv *p = tr->priv;

	if (!p)
		return -EBADF;
	*st = p->st;
	return 0;
}

/*
 * The real thing in miniature: a 4-page memfd in this process, tracked;
 * after the arm harvest a clean one must find nothing and two real writes
 * must come back exactly.
 */
static int kmod_probe_run(void)
{
	const char *step = "memfd", *hint = NULL;
	struct kmod_range r = { .npages = KMOD_PROBE_PAGES };
	uint64_t bm[1] = { 0 }, scratch[1];
	int dev = -1, memfd, err = 0;
	volatile char *map = MAP_FAILED;
	long n;

	r.scratch = scratch;
	memfd = memfd_create("kmig-kmod-probe", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, KMOD_PROBE_PAGES * 4096) < 0) {
		err = -errno;
		goto out;
	}
	step = "mmap";
	map = mmap(NULL, KMOD_PROBE_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	map[0] = 1;
	dev = kmod_dev_open(&step, &hint);
	if (dev < 0) {
		err = dev;
		goto out;
	}
	{
		struct kmig_track k = { .argsz = sizeof(k), .fd = memfd,
					.length = KMOD_PROBE_PAGES * 4096 };

		step = "KMIG_IOC_TRACK";
		if (ioctl(dev, KMIG_IOC_TRACK, &k) < 0) {
			err = -errno;
			goto out;
		}
		r.id = k.id;
	}
	step = "arm";
	n = kmod_harvest_one(dev, &r, bm);
	if (n < 0) {
		err = (int)n;
		goto out;
	}
	bm[0] = 0;
	step = "clean-harvest";
	n = kmod_harvest_one(dev, &r, bm);
	if (n != 0 || bm[0]) {
		err = n < 0 ? (int)n : -EIO;
		goto out;
	}
	map[0] = 2;			/* populated page */
	map[2 * 4096] = 3;		/* page faulted in by the write */
	step = "observe-write";
	n = kmod_harvest_one(dev, &r, bm);
	if (n != 2 || bm[0] != 0x5)
		err = n < 0 ? (int)n : -EIO;
out:
	if (err)
		kmig_log(KMIG_LOG_INFO, "track", "kmod: not usable step=%s err=%s%s%s; falling back "
			 "to the next tracker", step, strerror(-err), hint ? " hint=" : "",
			 hint ? hint : "");
	if (dev >= 0)
		close(dev);
	if (map != MAP_FAILED)
		munmap((void *)map, KMOD_PROBE_PAGES * 4096);
	if (memfd >= 0)
		close(memfd);
	return err;
}

static int kmod_probe(const struct kmig_track_target *t)
{
	/* only success is remembered: the module may be loaded later */
	static int passed;
	int r = 0;

	if (!__atomic_load_n(&passed, __ATOMIC_RELAXED)) {
		r = kmod_probe_run();
		if (r)
			return r;
		__atomic_store_n(&passed, 1, __ATOMIC_RELAXED);
	}
	for (unsigned int i = 0; t && i < t->nranges; i++) {
		if (t->ranges[i].memfd < 0) {
			kmig_log(KMIG_LOG_INFO, "track", "kmod: target pid=%d block=%s has no memfd",
				 (int)t->pid, t->ranges[i].name ? t->ranges[i].name : "?");
			return -EBADF;
		}
	}
	return 0;
}

const struct kmig_tracker_ops kmig_track_kmod_ops = {
	.name = "kmod",
	.probe = kmod_probe,
	.open = kmod_open,
	.harvest = kmod_harvest,
	.close = kmod_close,
	.stats = kmod_stats,
};
