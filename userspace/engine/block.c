// SPDX-License-Identifier: GPL-2.0-only
/*
 * block.c: kmigd's mappings of a workload's RAM blocks (workload.h): how
 * each side maps a memfd, and the walk over the extents that hold data, so
 * the source never touches (and so never allocates) a workload's holes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "workload.h"

void kmig_block_init(struct kmig_block *b)
{
	memset(b, 0, sizeof(*b));
	b->memfd = b->uffd = b->pc_uffd = -1;
}

void kmig_block_release(struct kmig_block *b)
{
	if (b->map)
		munmap(b->map, b->size);
	if (b->memfd >= 0)
		close(b->memfd);
	if (b->uffd >= 0)
		close(b->uffd);
	if (b->pc_uffd >= 0)
		close(b->pc_uffd);
	b->map = NULL;
	b->memfd = b->uffd = b->pc_uffd = -1;
}

int kmig_block_for_each_data(const struct kmig_block *b,
			     int (*fn)(const struct kmig_block *b, uint64_t off, uint64_t len,
				       void *arg), void *arg)
{
	off_t off = 0, size = (off_t)b->size;

	while (off < size) {
		off_t d = lseek(b->memfd, off, SEEK_DATA), h;
		int ret;

		if (d < 0 && errno == ENXIO)
			return 0;		/* no data after @off */
		if (d < 0)
			return -errno;
		h = lseek(b->memfd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		if (h > size)
			h = size;
		ret = fn(b, (uint64_t)d, (uint64_t)(h - d), arg);
		if (ret)
			return ret;
		off = h;
	}
	return 0;
}

static int populate_extent(const struct kmig_block *b, uint64_t off, uint64_t len, void *arg)
{
	(void)arg;
	return madvise(b->map + off, len, MADV_POPULATE_READ) < 0 ? -errno : 0;
}

int kmig_block_map(struct kmig_block *b, uint32_t role, char *err, size_t n)
{
	bool dst = role == KMIG_ROLE_DST;

	/*
	 * Destination: allocate every page now, before any migration starts;
	 * first-touch allocation costs seconds per GiB on this kind of VM.
	 */
	if (dst && fallocate(b->memfd, 0, 0, (off_t)b->size) < 0)
		kmig_log(KMIG_LOG_WARN, "workload", "fallocate block=%s err=%s", b->name,
			 strerror(errno));
	/*
	 * The destination's mapping is populated now, so receiving never
	 * faults.  The source's is not: populating a shared mapping allocates
	 * the memfd's holes, and a large guest may be mostly holes.
	 */
	b->map = mmap(NULL, b->size, dst ? PROT_READ | PROT_WRITE : PROT_READ,
		      MAP_SHARED | (dst ? MAP_POPULATE : 0), b->memfd, 0);
	if (b->map == MAP_FAILED) {
		int ret = -errno;

		b->map = NULL;
		snprintf(err, n, "block '%s': mmap failed: %s", b->name, strerror(-ret));
		return ret;
	}
	/*
	 * Source: fill in kmigd's page tables for the pages that hold data,
	 * now rather than fault by fault during the migration.  Best effort.
	 */
	if (!dst)
		kmig_block_for_each_data(b, populate_extent, NULL);
	return 0;
}
