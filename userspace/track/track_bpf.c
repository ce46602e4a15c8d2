// SPDX-License-Identifier: GPL-2.0-only
/*
 * track_bpf.c: the "bpf" tracker back end.  The workload's blocks are armed
 * with uffd-wp async exactly as by the uffd-wp back end (uffd_arm.h), so
 * every first write to a page after a harvest faults; an eBPF program on
 * the page-fault tracepoints (bpf_dirty.h) sets that page's bit in a
 * bitmap shared with kmigd and credits the faulting thread.  A harvest
 * swaps the bitmap out word by word, *then* re-protects each whole block
 * in one call: a write landing between the two either faulted after the
 * swap (next harvest) or hit a page already taken in this one.  The other
 * order would lose writes.
 *
 * What it cannot see: writes the kernel makes through get_user_pages on
 * someone else's behalf (process_vm_writev from another process, O_DIRECT
 * or io_uring reads into the block, RDMA): they resolve the uffd-wp fault
 * without a page-fault exception.  uffd-wp sees those, which is why auto
 * prefers uffd-wp and this back end is chosen by name.
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

/** struct bpf_priv - one tracker: the program instance and one arm per block */
struct bpf_priv {
	unsigned int n;
	struct kmig_bpf_dirty *bd;
	struct kmig_uffd_arm *arm[KMIG_TRACK_MAX_RANGES];
	uint64_t npages[KMIG_TRACK_MAX_RANGES];
	bool armed;		/* a harvest succeeded since open / the last error */
	struct kmig_track_stats st;
	uint64_t take_ns, protect_ns;
};

static void set_all(uint64_t *bm, uint64_t npages)
{
	memset(bm, 0xff, npages / 64 * 8);
	if (npages % 64)
		bm[npages / 64] |= (1ULL << (npages % 64)) - 1;
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

static long bpf_harvest(struct kmig_tracker *tr, uint64_t *const *bitmaps)
{
	struct bpf_priv *p = tr->priv;
	int64_t t0 = kmig_now_ns(), t1, t2;
	uint64_t total = 0, take = 0, prot = 0;
	int err;

	if (!p)
		return -EINVAL;
	if (!p->armed) {
		/* the arm step: whatever the program saw so far is no dirty set */
		kmig_bpf_dirty_clear(p->bd);
		for (unsigned int i = 0; i < p->n; i++) {
			err = kmig_uffd_arm_reprotect(p->arm[i]);
			if (err)
				return err;
		}
		for (unsigned int i = 0; i < p->n; i++) {
			set_all(bitmaps[i], p->npages[i]);
			total += p->npages[i];
		}
		p->armed = true;
		kmig_log(KMIG_LOG_DEBUG, "track", "bpf: armed pid=%d pages=%" PRIu64,
			 (int)tr->target.pid, total);
	} else {
		for (unsigned int i = 0; i < p->n; i++) {
			/* swap first, then re-protect (see the top of the file) */
			t1 = kmig_now_ns();
			total += kmig_bpf_dirty_take(p->bd, i, bitmaps[i]);
			t2 = kmig_now_ns();
			err = kmig_uffd_arm_reprotect(p->arm[i]);
			take += (uint64_t)(t2 - t1);
			prot += (uint64_t)(kmig_now_ns() - t2);
			if (err) {
				p->armed = false;	/* the next success reports everything */
				return err;
			}
		}
		p->take_ns += take;
		p->protect_ns += prot;
	}
	for (unsigned int i = 0; i < p->n; i++)
		p->st.pages_scanned += p->npages[i];
	p->st.harvests++;
	p->st.pages_dirty += total;
	p->st.last_harvest_ns = (uint64_t)(kmig_now_ns() - t0);
	p->st.harvest_ns += p->st.last_harvest_ns;
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

const struct kmig_tracker_ops kmig_track_bpf_ops = {
	.name = "bpf",
	.probe = bpf_probe,
	.open = bpf_open,
	.harvest = bpf_harvest,
	.close = bpf_close,
	.stats = bpf_stats,
};
