// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmbench.c: kmig-vmbench, run by `make vmbench` inside a 6.12 guest (the
 * only Debian kernel where both back ends work).  It drives the real
 * tracker back ends (track_kmod.c and track_uffd.c through tracker.h) on
 * the same memfd in the same process and prints BENCH lines:
 *  - the writer's cost per first write to a page after a harvest (16 MiB
 *    of it), against the same write once the page is already written;
 *  - the harvest time at 1, 10 and 100 % of the pages dirty, per GiB.
 * Medians of several repetitions; numbers only mean something as ratios
 * measured in one run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tracker.h"

#define MB		256ULL
#define NPAGES		(MB << 20 >> 12)
#define REPS		5
/* the writer test: 16 MiB, small enough that a rewrite hits the TLB */
#define WPAGES		4096ULL

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* one pass writing a byte to each of the first @n pages; ns per page */
static uint64_t write_n(volatile char *m, uint64_t n, uint8_t v)
{
	uint64_t t0 = now_ns();

	for (uint64_t p = 0; p < n; p++)
		m[p * 4096 + (p & 63)] = (char)v;
	return (now_ns() - t0) / n;
}

static int bench(const char *name, const struct kmig_track_target *t, volatile char *m,
		 uint64_t *bm)
{
	static const int pcts[] = { 1, 10, 100 };
	uint64_t *const bms[1] = { bm };
	uint64_t first[REPS], second[REPS], h[REPS];
	struct kmig_tracker tr;
	uint64_t s = 12345;
	int err = kmig_tracker_open(&tr, name, t);

	if (err) {
		printf("BENCH tracker=%s error=%s\n", name, strerror(-err));
		return err;
	}
	kmig_tracker_harvest(&tr, bms);			/* arm */
	for (int r = 0; r < REPS; r++) {
		if (kmig_tracker_harvest(&tr, bms) < 0)
			return -EIO;
		first[r] = write_n(m, WPAGES, (uint8_t)(2 * r + 1));
		second[r] = write_n(m, WPAGES, (uint8_t)(2 * r + 2));
	}
	printf("BENCH tracker=%s first_write_ns=%llu rewrite_ns=%llu overhead_ns=%lld\n", name,
	       (unsigned long long)median(first, REPS), (unsigned long long)median(second, REPS),
	       (long long)median(first, REPS) - (long long)median(second, REPS));
	for (unsigned int k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
		long got = 0;

		for (int r = 0; r < REPS; r++) {
			uint64_t n = 0, t0;

			kmig_tracker_harvest(&tr, bms);
			for (uint64_t p = 0; p < NPAGES; p++) {
				if (pcts[k] == 100 || rnd(&s) % 100 < (uint64_t)pcts[k]) {
					m[p * 4096] = (char)r;
					n++;
				}
			}
			memset(bm, 0, NPAGES / 8);
			t0 = now_ns();
			got = kmig_tracker_harvest(&tr, bms);
			h[r] = now_ns() - t0;
			if (got != (long)n) {
				printf("BENCH tracker=%s pct=%d error=reported %ld of %llu written\n",
				       name, pcts[k], got, (unsigned long long)n);
				break;
			}
		}
		printf("BENCH tracker=%s pct=%d harvest_ms_per_gib=%.2f pages=%ld\n", name, pcts[k],
		       median(h, REPS) / 1e6 * (1024.0 / MB), got);
	}
	kmig_tracker_close(&tr);
	return 0;
}

int main(void)
{
	uint64_t *bm = calloc(NPAGES / 8, 1);
	bool api_done = false;
	struct kmig_track_range r = { .name = "bench", .len = MB << 20, .uffd = -1,
				      .uffd_api_done = &api_done };
	struct kmig_track_target t = { .pid = getpid(), .nranges = 1, .ranges = &r };
	volatile char *m;
	int fd = memfd_create("kmig-bench", MFD_CLOEXEC);

	kmig_log_max = KMIG_LOG_WARN;
	if (fd < 0 || ftruncate(fd, (off_t)(MB << 20)) < 0)
		return 1;
	m = mmap(NULL, MB << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	r.addr = (uintptr_t)m;
	r.memfd = fd;
	r.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* USER_MODE_ONLY */);
	write_n(m, NPAGES, 0xff);			/* populate */
	printf("BENCH region_mib=%llu pages=%llu\n", MB, (unsigned long long)NPAGES);
	bench("kmod", &t, m, bm);
	bench("uffd-wp", &t, m, bm);
	return 0;
}
