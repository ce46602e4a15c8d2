// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtest_dirty.c: the dirty sets must be exact.  Writer threads pinned to
 * every CPU write random pages of a memfd (through two mappings), then the
 * harvest must report exactly the union: 0 missed, 0 extra, over many
 * rounds.  Then a stress phase harvests *while* they write: every write
 * must be reported by a harvest that started after it, and no page that
 * was never written may ever be reported.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmtest.h"

#define NPAGES		(16384UL)	/* 64 MiB */
#define MAXW		8

struct dirty_ctx {
	volatile char *map[2];
	int nw;
	pthread_barrier_t start, done;
	atomic_int quit;
	atomic_long epoch;		/* harvests started */
	int round, pct;
	uint64_t want[MAXW][NPAGES / 64];
	long *last_epoch;		/* stress: per page, epoch seen before its last write */
	uint8_t *stress_page;		/* stress: pages the writers may touch */
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct wargs {
	struct dirty_ctx *c;
	int i;
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *writer(void *p)
{
	struct wargs *a = p;
	struct dirty_ctx *c = a->c;
	uint64_t s = 0x9e3779b97f4a7c15ULL * (a->i + 1);

	pin(a->i);
	for (;;) {
		pthread_barrier_wait(&c->start);
		if (atomic_load(&c->quit))
			break;
		memset(c->want[a->i], 0, sizeof(c->want[0]));
		for (unsigned long k = 0; k < NPAGES; k++) {
			unsigned long pg = rnd(&s) % NPAGES;

			if ((int)(rnd(&s) % 100) >= c->pct)
				continue;
			c->map[(k + a->i) & 1][pg * PG + (k % PG)] = (char)k;
			c->want[a->i][pg / 64] |= 1ULL << (pg % 64);
		}
		pthread_barrier_wait(&c->done);
	}
	return NULL;
}

static void exact_rounds(int dev, uint32_t id, struct dirty_ctx *c, int rounds,
			 uint64_t *bm)
{
	static const int pcts[] = { 0, 1, 3, 10, 30, 100 };
	unsigned long missed = 0, extra = 0, total = 0;
	int bad_rounds = 0, errors = 0;

	for (int r = 0; r < rounds; r++) {
		long n;

		c->pct = pcts[r % 6];
		pthread_barrier_wait(&c->start);
		pthread_barrier_wait(&c->done);
		n = kmig_harvest(dev, id, bm, NPAGES / 8);
		if (n < 0) {
			errors++;
			continue;
		}
		unsigned long m = 0, e = 0, cnt = 0;

		for (unsigned long w = 0; w < NPAGES / 64; w++) {
			uint64_t u = 0;

			for (int i = 0; i < c->nw; i++)
				u |= c->want[i][w];
			m += __builtin_popcountll(u & ~bm[w]);
			e += __builtin_popcountll(bm[w] & ~u);
			cnt += __builtin_popcountll(u);
		}
		if (m || e || (unsigned long)n != cnt)
			bad_rounds++;
		missed += m;
		extra += e;
		total += cnt;
	}
	tap(!errors && !bad_rounds && !missed && !extra,
	    "exact dirty sets: %d writers, %d rounds, %lu pages written: %lu missed, %lu extra, %d bad rounds, %d errors",
	    c->nw, rounds, total, missed, extra, bad_rounds, errors);
}

static void *stress_writer(void *p)
{
	struct wargs *a = p;
	struct dirty_ctx *c = a->c;
	uint64_t s = 0xabcdef12345ULL * (a->i + 7);

	pin(a->i);
	while (!atomic_load(&c->quit)) {
		unsigned long pg = rnd(&s) % NPAGES;
		long ep;

		if (!c->stress_page[pg])
			continue;
		ep = atomic_load(&c->epoch);
		c->map[a->i & 1][pg * PG + 8 * a->i] = (char)ep;
		/* the write happened after harvest number ep started */
		__atomic_store_n(&c->last_epoch[pg], ep, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void stress(int dev, uint32_t id, struct dirty_ctx *c, uint64_t *bm, double secs)
{
	long *reported = calloc(NPAGES, sizeof(long));
	pthread_t th[MAXW];
	struct wargs wa[MAXW];
	unsigned long missed = 0, extra = 0, harvests = 0, errors = 0;
	struct timespec t0, t;
	uint64_t s = 77;

	c->last_epoch = calloc(NPAGES, sizeof(long));
	c->stress_page = calloc(NPAGES, 1);
	for (unsigned long p = 0; p < NPAGES; p++) {
		c->stress_page[p] = rnd(&s) % 2;	/* half the pages are never written */
		c->last_epoch[p] = -1;
		reported[p] = -1;
	}
	kmig_harvest(dev, id, bm, NPAGES / 8);
	atomic_store(&c->quit, 0);
	atomic_store(&c->epoch, 0);
	for (int i = 0; i < c->nw; i++) {
		wa[i] = (struct wargs){ c, i };
		pthread_create(&th[i], NULL, stress_writer, &wa[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int last = 0; !last;) {
		long ep;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs) {
			atomic_store(&c->quit, 1);
			for (int i = 0; i < c->nw; i++)
				pthread_join(th[i], NULL);
			last = 1;
		}
		ep = atomic_fetch_add(&c->epoch, 1) + 1;	/* this harvest's number */
		if (kmig_harvest(dev, id, bm, NPAGES / 8) < 0) {
			errors++;
			continue;
		}
		harvests++;
		for (unsigned long p = 0; p < NPAGES; p++)
			if (bm[p / 64] >> (p % 64) & 1)
				reported[p] = ep;
	}
	for (unsigned long p = 0; p < NPAGES; p++) {
		long w = c->last_epoch[p];

		if (!c->stress_page[p])
			extra += reported[p] != -1;
		else if (w >= 0 && reported[p] < w)	/* no harvest at or after it saw it */
			missed++;
	}
	tap(!errors && !missed && !extra && harvests > 3,
	    "concurrent harvests while %d writers write: %lu harvests, %lu missed, %lu extra, %lu errors",
	    c->nw, harvests, missed, extra, errors);
	free(reported);
	free(c->last_epoch);
	free(c->stress_page);
}

void vmtest_dirty(int ncpus, int rounds)
{
	static struct dirty_ctx c;
	uint64_t *bm = malloc(NPAGES / 8);
	pthread_t th[MAXW];
	struct wargs wa[MAXW];
	int dev = kmig_open_api(), fd;
	uint32_t id = 0;
	void *m0, *m1;

	fd = memfd_map(NPAGES * PG, &m0);
	m1 = fd >= 0 ? mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : NULL;
	tap(dev >= 0 && fd >= 0 && m1 != MAP_FAILED && !kmig_track(dev, fd, 0, NPAGES * PG, &id),
	    "set-up: 64 MiB memfd, two mappings, tracked");
	if (dev < 0 || fd < 0 || m1 == MAP_FAILED)
		return;
	c.map[0] = m0;
	c.map[1] = m1;
	kmig_harvest(dev, id, bm, NPAGES / 8);		/* arm */
	for (int nw = 1; nw <= ncpus && nw <= MAXW; nw = nw == 1 && ncpus > 1 ? ncpus : nw + MAXW) {
		c.nw = nw;
		atomic_store(&c.quit, 0);
		pthread_barrier_init(&c.start, NULL, nw + 1);
		pthread_barrier_init(&c.done, NULL, nw + 1);
		for (int i = 0; i < nw; i++) {
			wa[i] = (struct wargs){ &c, i };
			pthread_create(&th[i], NULL, writer, &wa[i]);
		}
		exact_rounds(dev, id, &c, rounds, bm);
		atomic_store(&c.quit, 1);
		pthread_barrier_wait(&c.start);
		for (int i = 0; i < nw; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&c.start);
		pthread_barrier_destroy(&c.done);
		stress(dev, id, &c, bm, 3.0);
	}
	munmap(m1, NPAGES * PG);
	munmap(m0, NPAGES * PG);
	close(fd);
	close(dev);
	free(bm);
}
