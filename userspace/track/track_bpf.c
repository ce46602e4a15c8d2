// SPDX-License-Identifier: GPL-2.0-only
/*
 * track_bpf.c: the "bpf" tracker back end: uffd-wp's exact dirty set, plus
 * who dirtied it.  The workload's blocks are armed and harvested with the
 * uffd-wp back end's own code (uffd_arm.h: async write-protect, one
 * PAGEMAP_SCAN get-and-re-arm per block), so every first write after a
 * harvest faults; an eBPF program on the page-fault tracepoints
 * (bpf_dirty.h) sets that page's bit in a bitmap shared with kmigd and
 * credits the faulting thread.  A harvest swaps the bitmap out, then runs
 * the PAGEMAP_SCAN, and reports the union.
 *
 * Why not the bitmap alone (swap, then re-protect without reading back,
 * which is cheaper): it loses writes.  (1) Writes the kernel makes through
 * get_user_pages -- O_DIRECT or io_uring reads into the block, a debugger's
 * /proc/PID/mem, process_vm_writev -- resolve the uffd-wp fault without a
 * page-fault exception, so the program never sees them.  (2) The
 * tracepoint fires on fault entry: a fault whose bit the swap takes but
 * whose PTE is made writable only after the re-protect walked past it
 * leaves a writable page with no bit, and its write is never reported.
 * PAGEMAP_SCAN's answer covers both; pages it reports that the program did
 * not see are counted as unattributed (mostly kernel writes for the
 * workload).  tests/bpf/test_bpf_track.c checks the GUP case.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf_dirty.h"
#include "clock.h"
#include "log.h"
#include "track_bpf.h"
#include "tracker.h"
#include "uffd_arm.h"
#include "uffd_compat.h"

#define BPF_PROBE_PAGES	4

/**
 * struct bpf_priv - one tracker: the program instance and one arm per block
 * @seen, @scan: per block, scratch bitmaps for one harvest: the program's
 *         bits, and PAGEMAP_SCAN's
 * @unattributed: pages PAGEMAP_SCAN reported that no fault of the
 *         workload's threads marked, summed over harvests
 */
struct bpf_priv {
	unsigned int n;		/* blocks set up (arms opened) */
	unsigned int nbufs;	/* blocks with scratch bitmaps */
	struct kmig_bpf_dirty *bd;
	struct kmig_uffd_arm *arm[KMIG_TRACK_MAX_RANGES];
	uint64_t npages[KMIG_TRACK_MAX_RANGES];
	uint64_t *seen[KMIG_TRACK_MAX_RANGES];
	uint64_t *scan[KMIG_TRACK_MAX_RANGES];
	bool armed;		/* a harvest succeeded since open / the last error */
	struct kmig_track_stats st;
	uint64_t take_ns, protect_ns, unattributed;
};

static uint64_t words(uint64_t npages)
{
	return (npages + 63) / 64;
}

static void bpf_close(struct kmig_tracker *tr)
{
	struct bpf_priv *p = tr->priv;

	if (!p)
		return;
	/* the program first: nothing may count pages of a block being released */
	kmig_bpf_dirty_close(p->bd);
	for (unsigned int i = 0; i < p->n; i++)
		kmig_uffd_arm_close(p->arm[i], false);
	for (unsigned int i = 0; i < p->nbufs; i++) {
		free(p->seen[i]);
		free(p->scan[i]);
	}
	free(p);
	tr->priv = NULL;
}

/* opens the program and the arms for @t into @p; 0 or -errno, *@why set */
static int bpf_setup(struct bpf_priv *p, const struct kmig_track_target *t, char *why,
		     size_t whylen)
{
	struct kmig_bpf_dirty_range r[KMIG_TRACK_MAX_RANGES];
	int err;

	for (unsigned int i = 0; i < t->nranges; i++) {
		r[i].start = t->ranges[i].addr;
		r[i].len = t->ranges[i].len;
		p->npages[i] = t->ranges[i].len >> KMIG_TRACK_PAGE_SHIFT;
		p->seen[i] = calloc(words(p->npages[i]), sizeof(uint64_t));
		p->scan[i] = calloc(words(p->npages[i]), sizeof(uint64_t));
		p->nbufs = i + 1;
		if (!p->seen[i] || !p->scan[i]) {
			snprintf(why, whylen, "out of memory");
			return -ENOMEM;
		}
	}
	err = kmig_bpf_dirty_open(&p->bd, t->pid, r, t->nranges, why, whylen);
	if (err)
		return err;
	for (unsigned int i = 0; i < t->nranges; i++) {
		p->arm[i] = kmig_uffd_arm_open(t->pid, t->ranges[i].uffd, t->ranges[i].addr,
					       t->ranges[i].len, t->ranges[i].uffd_api_done, &err);
		p->n = i + 1;
		if (!p->arm[i]) {
			snprintf(why, whylen, "cannot arm block '%s' with uffd-wp: %s",
				 t->ranges[i].name ? t->ranges[i].name : "?", strerror(-err));
			return err;
		}
	}
	return 0;
}

static int bpf_open(struct kmig_tracker *tr, const struct kmig_track_target *t)
{
	struct bpf_priv *p = calloc(1, sizeof(*p));
	char why[512] = "out of memory";
	int err = -ENOMEM;

	tr->priv = p;
	if (p)
		err = bpf_setup(p, t, why, sizeof(why));
	if (err) {
		kmig_log(KMIG_LOG_ERR, "track", "bpf: open failed pid=%d: %s", (int)t->pid, why);
		bpf_close(tr);
		return err;
	}
	return 0;
}

/*
 * One block: the program's bits (swapped out first), then PAGEMAP_SCAN's
 * get-and-re-arm; ORs the union into @bm.  Returns its pages or -errno.
 */
static long harvest_block(struct bpf_priv *p, unsigned int i, uint64_t *bm, uint64_t *take,
			  uint64_t *prot)
{
	uint64_t nw = words(p->npages[i]), total = 0, bpf_only_missing = 0;
	int64_t t1, t2;
	long n;

	memset(p->seen[i], 0, nw * sizeof(uint64_t));
	memset(p->scan[i], 0, nw * sizeof(uint64_t));
	t1 = kmig_now_ns();
	kmig_bpf_dirty_take(p->bd, i, p->seen[i]);
	t2 = kmig_now_ns();
	n = kmig_uffd_arm_scan(p->arm[i], p->scan[i]);
	*take += (uint64_t)(t2 - t1);
	*prot += (uint64_t)(kmig_now_ns() - t2);
	if (n < 0)
		return n;
	for (uint64_t w = 0; w < nw; w++) {
		uint64_t u = p->seen[i][w] | p->scan[i][w];

		bm[w] |= u;
		total += (uint64_t)__builtin_popcountll(u);
	}
	/* a fault between the swap and the scan is in the scan's answer and
	 * in the bitmap for next time: the program saw it, it is no orphan */
	kmig_bpf_dirty_peek(p->bd, i, p->seen[i]);
	for (uint64_t w = 0; w < nw; w++)
		bpf_only_missing += (uint64_t)__builtin_popcountll(p->scan[i][w] & ~p->seen[i][w]);
	if (p->armed)	/* the arm step reports every page: nothing to attribute */
		p->unattributed += bpf_only_missing;
	return (long)total;
}

static long bpf_harvest(struct kmig_tracker *tr, uint64_t *const *bitmaps)
{
	struct bpf_priv *p = tr->priv;
	int64_t t0 = kmig_now_ns();
	uint64_t total = 0, take = 0, prot = 0;

	if (!p)
		return -EINVAL;
	for (unsigned int i = 0; i < p->n; i++) {
		long n = harvest_block(p, i, bitmaps[i], &take, &prot);

		if (n < 0) {
			/* uffd_arm re-arms the failed block on its next scan; the
			 * others have lost their bits too: re-arm them all */
			for (unsigned int j = 0; j < p->n; j++)
				kmig_uffd_arm_reset(p->arm[j]);
			p->armed = false;
			return n;
		}
		total += (uint64_t)n;
	}
	if (!p->armed)
		kmig_log(KMIG_LOG_DEBUG, "track", "bpf: armed pid=%d pages=%" PRIu64,
			 (int)tr->target.pid, total);
	else {
		p->take_ns += take;
		p->protect_ns += prot;
	}
	p->armed = true;
	for (unsigned int i = 0; i < p->n; i++)
		p->st.pages_scanned += p->npages[i];
	kmig_track_stats_harvest(&p->st, t0, total);
	return (long)total;
}

static int bpf_stats(struct kmig_tracker *tr, struct kmig_track_stats *st)
{
	struct bpf_priv *p = tr->priv;

	if (!p)
		return -EBADF;
	*st = p->st;
	return 0;
}

/* ---- the probe: the real thing on a small block of kmigd's own ---- */

static char probe_why[512];

/*
 * Loads the program for this process and a 4-page memfd block armed with
 * uffd-wp; after the arm a clean harvest must find nothing, and two
 * writes by this thread must come back exactly, credited to this thread.
 */
static int bpf_probe_run(char *why, size_t whylen)
{
	long ps = sysconf(_SC_PAGESIZE);
	struct kmig_track_range r = { .name = "bpf-probe", .memfd = -1, .uffd = -1 };
	struct kmig_track_target t = { .pid = getpid(), .nranges = 1, .ranges = &r };
	struct kmig_tracker tr = { .ops = &kmig_track_bpf_ops, .target = t };
	struct kmig_bpf_thread_pages th[8];
	struct bpf_priv *p = calloc(1, sizeof(*p));
	uint64_t bm[1] = { 0 };
	uint64_t *bms[1] = { bm };
	bool api_done = false;
	void *map = MAP_FAILED;
	int memfd = -1, err;
	long n;

	tr.priv = p;
	err = p ? 0 : -ENOMEM;
	snprintf(why, whylen, "out of memory");
	if (!err) {
		r.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
		memfd = memfd_create("kmig-bpf-probe", MFD_CLOEXEC);
		if (r.uffd < 0 || memfd < 0 || ftruncate(memfd, BPF_PROBE_PAGES * ps) < 0) {
			err = -errno;
			snprintf(why, whylen, "cannot create the probe's userfaultfd or memfd: %s",
				 strerror(errno));
		}
	}
	if (!err) {
		map = mmap(NULL, BPF_PROBE_PAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		err = map == MAP_FAILED ? -errno : 0;
		snprintf(why, whylen, "cannot map the probe's memfd: %s", strerror(-err));
	}
	if (!err) {
		r.addr = (uintptr_t)map;
		r.len = BPF_PROBE_PAGES * ps;
		r.uffd_api_done = &api_done;
		err = bpf_setup(p, &t, why, whylen);
	}
	if (!err && (n = bpf_harvest(&tr, bms)) != BPF_PROBE_PAGES) {
		err = n < 0 ? (int)n : -EIO;
		snprintf(why, whylen, "the probe's arm step failed: %s", strerror(-err));
	}
	if (!err) {
		bm[0] = 0;
		n = bpf_harvest(&tr, bms);
		if (n != 0 || bm[0]) {
			err = n < 0 ? (int)n : -EIO;
			snprintf(why, whylen, "a clean harvest reported %ld pages", n);
		}
	}
	if (!err) {
		((volatile char *)map)[0] = 1;
		((volatile char *)map)[2 * ps] = 2;
		n = bpf_harvest(&tr, bms);
		if (n != 2 || bm[0] != 0x5) {
			err = n < 0 ? (int)n : -EIO;
			snprintf(why, whylen, "the eBPF program did not see two writes exactly "
				 "(harvest %ld, bits 0x%" PRIx64 ")", n, bm[0]);
		}
	}
	if (!err) {
		n = kmig_bpf_dirty_threads(p->bd, th, 8);
		if (n != 1 || th[0].tid != (uint32_t)syscall(SYS_gettid) || th[0].pages != 2) {
			err = -EIO;
			snprintf(why, whylen, "the eBPF program credited the probe's writes wrongly "
				 "(%ld threads)", n);
		}
	}
	bpf_close(&tr);
	if (map != MAP_FAILED)
		munmap(map, BPF_PROBE_PAGES * ps);
	if (memfd >= 0)
		close(memfd);
	if (r.uffd >= 0)
		close(r.uffd);
	return err;
}

static int bpf_probe(const struct kmig_track_target *t)
{
	static int cached = 1;		/* 1: not run yet; a race only runs it twice */
	int r = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);

	if (r == 1) {
		char why[sizeof(probe_why)];

		r = bpf_probe_run(why, sizeof(why));
		if (r)
			memcpy(probe_why, why, sizeof(probe_why));
		__atomic_store_n(&cached, r, __ATOMIC_RELEASE);
	}
	if (r) {
		kmig_log(KMIG_LOG_WARN, "track", "bpf: the eBPF dirty tracker cannot be used: %s; "
			 "another tracker must serve (no per-thread attribution)", probe_why);
		return r;
	}
	for (unsigned int i = 0; t && i < t->nranges; i++) {
		if (t->ranges[i].uffd < 0) {
			kmig_log(KMIG_LOG_INFO, "track", "bpf: target pid=%d block=%s has no "
				 "userfaultfd to arm", (int)t->pid,
				 t->ranges[i].name ? t->ranges[i].name : "?");
			return -EBADF;
		}
	}
	return 0;
}

const char *kmig_track_bpf_unavailable(void)
{
	return probe_why[0] ? probe_why : NULL;
}

long kmig_track_bpf_threads(struct kmig_tracker *tr, struct kmig_bpf_thread_pages *out,
			    size_t n)
{
	struct bpf_priv *p;

	if (!tr || tr->ops != &kmig_track_bpf_ops)
		return -ENOTSUP;
	p = tr->priv;
	return p ? kmig_bpf_dirty_threads(p->bd, out, n) : -EBADF;
}

int kmig_track_bpf_stats(struct kmig_tracker *tr, struct kmig_track_bpf_stats *st)
{
	struct kmig_bpf_dirty_counters c;
	struct bpf_priv *p;

	memset(st, 0, sizeof(*st));
	if (!tr || tr->ops != &kmig_track_bpf_ops)
		return -ENOTSUP;
	p = tr->priv;
	if (!p)
		return -EBADF;
	kmig_bpf_dirty_counters(p->bd, &c);
	st->take_ns = p->take_ns;
	st->protect_ns = p->protect_ns;
	st->write_faults = c.write_faults;
	st->pages_dirtied = c.pages_dirtied;
	st->threads_lost = c.threads_lost;
	st->unattributed = p->unattributed;
	return 0;
}

long kmig_trackset_bpf_threads(struct kmig_trackset *s, struct kmig_bpf_thread_pages *out,
			       size_t n)
{
	for (unsigned int k = 0; s && k < s->n; k++)
		if (s->tr[k].ops == &kmig_track_bpf_ops)
			return kmig_track_bpf_threads(&s->tr[k], out, n);
	return -ENOTSUP;
}

static long bpf_threads(struct kmig_tracker *tr, struct kmig_track_thread *out, size_t n)
{
	struct kmig_bpf_thread_pages buf[64];
	long got = kmig_track_bpf_threads(tr, buf, n < 64 ? n : 64);

	for (long i = 0; i < got && (size_t)i < n && i < 64; i++) {
		out[i].tid = buf[i].tid;
		out[i].pages = buf[i].pages;
		snprintf(out[i].name, sizeof(out[i].name), "%s", buf[i].comm);
	}
	return got;
}

const struct kmig_tracker_ops kmig_track_bpf_ops = {
	.name = "bpf",
	.probe = bpf_probe,
	.open = bpf_open,
	.harvest = bpf_harvest,
	.close = bpf_close,
	.stats = bpf_stats,
	.threads = bpf_threads,
};
