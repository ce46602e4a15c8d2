// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtest_thp.c: THP-backed shmem.  With shmem_enabled=always a 2 MiB
 * aligned memfd mapping gets PMD-mapped huge folios, which the kernel's
 * PTE helper skips; the module tracks them at 2 MiB granularity (see
 * docs/kmod.md): a written chunk is reported whole, untouched chunks are
 * not, and the next write after a harvest is seen again.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmtest.h"

#define HP	512UL		/* pages per 2 MiB */
#define NCH	4UL

static int set_shmem_thp(const char *mode)
{
	int fd = open("/sys/kernel/mm/transparent_hugepage/shmem_enabled", O_WRONLY);
	int ok = fd >= 0 && write(fd, mode, strlen(mode)) == (ssize_t)strlen(mode);

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* kB of PMD-mapped shmem in this process */
static long pmd_mapped_kb(void)
{
	char line[256];
	long kb = 0, v;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "ShmemPmdMapped: %ld kB", &v) == 1 ||
		    sscanf(line, "FilePmdMapped: %ld kB", &v) == 1)
			kb += v;
	if (f)
		fclose(f);
	return kb;
}

static bool chunks_are(const uint64_t *bm, unsigned int mask)
{
	for (unsigned long w = 0; w < NCH * HP / 64; w++) {
		uint64_t want = mask >> (w / (HP / 64)) & 1 ? ~0ULL : 0;

		if (bm[w] != want)
			return false;
	}
	return true;
}

void vmtest_thp(void)
{
	const uint64_t len = NCH * HP * PG;
	uint64_t bm[NCH * HP / 64];
	struct kmig_stats st = { .argsz = sizeof(st) };
	char *res, *m;
	int dev = kmig_open_api(), fd;
	uint32_t id;
	long kb, n;

	if (set_shmem_thp("always")) {
		tap(true, "thp: # SKIP no shmem THP on this kernel");
		return;
	}
	fd = memfd_create("kmig-thp", MFD_CLOEXEC);
	res = mmap(NULL, len + 2 * HP * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m = (char *)(((uintptr_t)res + HP * PG - 1) & ~(HP * PG - 1));
	if (fd < 0 || ftruncate(fd, (off_t)len) ||
	    mmap(m, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != m) {
		tap(false, "thp: set-up: %s", strerror(errno));
		set_shmem_thp("never");
		return;
	}
	for (unsigned long p = 0; p < NCH * HP; p++)
		m[p * PG] = 1;
	kb = pmd_mapped_kb();
	tap(kb >= 2048, "thp: memfd is PMD-mapped (%ld kB)", kb);
	tap(!kmig_track(dev, fd, 0, len, &id), "thp: tracked");
	kmig_harvest(dev, id, bm, sizeof(bm));		/* arm */
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	tap(n == 0 && chunks_are(bm, 0), "thp: clean after arm (%ld)", n);
	m[(HP + 77) * PG + 5] = 2;			/* one byte in chunk 1 */
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	tap(n == (long)HP && chunks_are(bm, 0x2), "thp: one write reports its 2 MiB chunk (%ld)", n);
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	tap(n == 0 && chunks_are(bm, 0), "thp: then clean again (%ld)", n);
	m[0] = 3;
	m[(3 * HP + 511) * PG] = 3;
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	tap(n == 2 * (long)HP && chunks_are(bm, 0x9), "thp: writes to chunks 0 and 3 after a harvest (%ld)", n);
	m[(HP + 1) * PG] = 4;				/* chunk 1 written a second time */
	n = kmig_harvest(dev, id, bm, sizeof(bm));
	tap(n == (long)HP && chunks_are(bm, 0x2), "thp: a chunk written again is seen again (%ld)", n);
	st.id = id;
	n = ioctl(dev, KMIG_IOC_STATS, &st);
	tap(n == 0 && st.thp_chunks >= 4, "thp: stats count %llu huge chunks",
	    (unsigned long long)st.thp_chunks);
	/* harvests unmapped the chunks; touching them maps them huge again */
	for (unsigned long c = 0; c < NCH; c++)
		n += ((volatile char *)m)[c * HP * PG + 100];
	kb = pmd_mapped_kb();
	tap(kb >= (long)(NCH * 2048), "thp: touched again, the chunks are PMD-mapped again (%ld kB)", kb);
	close(dev);
	munmap(res, len + 2 * HP * PG);
	close(fd);
	set_shmem_thp("never");
}
