// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtest_life.c: lifetimes around a tracked range.  A workload that
 * unmaps, truncates or exits (even killed mid-harvest), a tracker that
 * closes its memfd right after TRACK, and a /dev/kmig fd closed with
 * ranges still tracked: every harvest keeps working, the sets stay exact
 * for the mappings that remain, and nothing is left registered.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmtest.h"

#define LP	256UL

static bool bm_is(const uint64_t *bm, const int *pages, int n)
{
	uint64_t want[LP / 64] = { 0 };

	for (int i = 0; i < n; i++)
		want[pages[i] / 64] |= 1ULL << (pages[i] % 64);
	return !memcmp(bm, want, sizeof(want));
}

static void life_munmap(void)
{
	uint64_t bm[LP / 64];
	char *a, *b;
	int dev = kmig_open_api(), fd = memfd_map(LP * PG, (void **)&a);
	uint32_t id;
	long n;

	b = mmap(NULL, LP * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	tap(dev >= 0 && fd >= 0 && b != MAP_FAILED && !kmig_track(dev, fd, 0, LP * PG, &id),
	    "munmap: set-up");
	kmig_harvest(dev, id, bm, sizeof(bm));
	for (int p = 0; p < 10; p++)
		a[p * PG] = 1;
	munmap(a, LP * PG);
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	/* documented: writes whose PTE is gone before the harvest are not seen */
	tap(n >= 0, "munmap: harvest after the writer unmapped works (%ld of 10 unmapped writes seen)", n);
	b[20 * PG] = 1;
	b[255 * PG] = 1;
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	tap(n == 2 && bm_is(bm, (int[]){ 20, 255 }, 2), "munmap: the other mapping stays exact");
	a = mmap(NULL, LP * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	a[5 * PG] = 1;
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	tap(n == 1 && bm_is(bm, (int[]){ 5 }, 1), "munmap: a new mapping is tracked at once");
	/* truncate below the range end and back up */
	tap(ftruncate(fd, 100 * PG) == 0 && kmig_harvest(dev, id, bm, sizeof(bm)) >= 0,
	    "truncate: harvest after shrinking the memfd under the range");
	tap(ftruncate(fd, LP * PG) == 0, "truncate: grown back");
	a[200 * PG] = 1;
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	tap(n == 1 && bm_is(bm, (int[]){ 200 }, 1), "truncate: pages past the old EOF tracked again");
	munmap(a, LP * PG);
	munmap(b, LP * PG);
	close(fd);
	close(dev);
}

static void life_exit(void)
{
	uint64_t bm[LP / 64];
	char *a;
	int dev = kmig_open_api(), fd = memfd_map(LP * PG, (void **)&a);
	uint32_t id;
	int errors = 0, st;
	long seen = 0, n;
	pid_t pid;

	tap(dev >= 0 && fd >= 0 && !kmig_track(dev, fd, 0, LP * PG, &id), "exit: set-up");
	kmig_harvest(dev, id, bm, sizeof(bm));
	pid = fork();
	if (pid == 0) {
		for (unsigned long k = 0;; k++)
			a[(k % LP) * PG + 1] = (char)k;
	}
	/* harvest until the child's writes show up (it may take a while to start) */
	for (int i = 0; i < 100000 && !seen; i++) {
		n = kmig_harvest(dev, id, bm, sizeof(bm));
		errors += n < 0;
		seen += n > 0 ? n : 0;
	}
	for (int i = 0; i < 400; i++) {
		if (i == 200)
			kill(pid, SIGKILL);	/* dies while we harvest */
		n = kmig_harvest(dev, id, bm, sizeof(bm));
		errors += n < 0;
		seen += n > 0 ? n : 0;
	}
	waitpid(pid, &st, 0);
	tap(!errors && seen > 0, "exit: 400 harvests across a writer killed mid-way: %d errors, %ld pages seen",
	    errors, seen);
	munmap(a, LP * PG);
	kmig_harvest(dev, id, bm, sizeof(bm));
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	tap(n == 0, "exit: nothing left to report once no one maps it (%ld)", n);
	close(fd);
	close(dev);
}

/* a writer in another process (another mm), as a workload is to kmigd */
static void life_other_process(void)
{
	uint64_t bm[LP / 64];
	char *a;
	int dev = kmig_open_api(), fd = memfd_map(LP * PG, (void **)&a);
	int go[2], done[2], bad = 0, st;
	uint32_t id;
	char c;

	tap(dev >= 0 && fd >= 0 && !pipe(go) && !pipe(done) && !kmig_track(dev, fd, 0, LP * PG, &id),
	    "other process: set-up");
	munmap(a, LP * PG);		/* only the child maps it */
	kmig_harvest(dev, id, bm, sizeof(bm));
	if (fork() == 0) {
		char *m = mmap(NULL, LP * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		for (int round = 0; round < 20; round++) {
			for (unsigned long p = 0; p < LP; p++)
				if ((p * 7 + round) % 5 == 0)
					m[p * PG] = (char)round;
			if (write(done[1], "w", 1) != 1 || read(go[0], &c, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	for (int round = 0; round < 20; round++) {
		uint64_t want[LP / 64] = { 0 };

		if (read(done[0], &c, 1) != 1)
			break;
		for (unsigned long p = 0; p < LP; p++)
			if ((p * 7 + round) % 5 == 0)
				want[p / 64] |= 1ULL << (p % 64);
		bad += kmig_harvest(dev, id, bm, sizeof(bm)) < 0 || memcmp(bm, want, sizeof(bm));
		if (write(go[1], "h", 1) != 1)
			break;
	}
	wait(&st);
	tap(!bad && WIFEXITED(st) && !WEXITSTATUS(st),
	    "other process: 20 rounds of writes by a child, exact dirty sets (%d bad)", bad);
	for (int i = 0; i < 2; i++) {
		close(go[i]);
		close(done[i]);
	}
	close(fd);
	close(dev);
}

static void life_close(void)
{
	uint64_t bm[LP / 64];
	char *a;
	int dev = kmig_open_api(), fd = memfd_map(LP * PG, (void **)&a), dev2;
	uint32_t id;
	long n;

	tap(dev >= 0 && fd >= 0 && !kmig_track(dev, fd, 0, LP * PG, &id), "close: set-up");
	close(fd);				/* the module holds its own reference */
	kmig_harvest(dev, id, bm, sizeof(bm));
	a[3 * PG] = 1;
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	tap(n == 1 && bm_is(bm, (int[]){ 3 }, 1), "close: memfd closed after TRACK is still tracked");
	fd = memfd_map(LP * PG, (void **)&a);
	kmig_track(dev, fd, 0, LP * PG, &id);
	close(dev);				/* ranges still tracked */
	dev2 = kmig_open_api();
	tap(dev2 >= 0 && kmig_track(dev2, fd, 0, LP * PG, &id) == 0,
	    "close: closing /dev/kmig untracks everything (range free again)");
	close(dev2);
	close(fd);
}

void vmtest_lifecycle(void)
{
	life_munmap();
	life_exit();
	life_other_process();
	life_close();
}
