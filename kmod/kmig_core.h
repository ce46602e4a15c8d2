/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kmig_core.h: the module's internal objects (an open /dev/kmig and its
 * tracked ranges) and the functions that kmig_main.c (the ioctl layer),
 * kmig_harvest.c (the page-cache and page-table work) and the KUnit tests
 * share.  Nothing here is ABI; the ABI is include/uapi/linux/kmig.h.
 */
#ifndef KMIG_CORE_H
#define KMIG_CORE_H

#include <linux/bits.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/kmig.h>

/* 2 MiB on x86-64; defined here so the code builds without THP (UML) */
#define KMIG_PMD_ORDER		(PMD_SHIFT - PAGE_SHIFT)
#define KMIG_PMD_PAGES		BIT(KMIG_PMD_ORDER)

/**
 * struct kmig_range - one tracked page range of a shmem file
 * @node:     in the global registry (overlap checks across fds)
 * @file:     the memfd, referenced for as long as the range is tracked
 * @mapping:  @file's page cache
 * @first:    first page index in the file
 * @npages:   pages tracked
 * @id:       handle given to userspace
 * @pending:  npages bits: found dirty and not yet reported to userspace
 * @known:    npages bits: the page's folio was seen dirty (see kmig_harvest.c)
 * @scratch:  npages bits of work space for a harvest
 * @iversion: the file's i_version when @known was last trusted
 * @chunk0:   index of the first 2 MiB chunk (file index >> KMIG_PMD_ORDER)
 * @nchunks:  2 MiB chunks the range touches
 * @huge_prev: per chunk: pfn of the PMD-sized folio seen at the previous
 *            harvest, or 0
 * @huge_now: per chunk: the same, for the harvest in progress
 * @st:       counters (struct kmig_stats without argsz/id)
 */
struct kmig_range {
	struct list_head node;
	struct file *file;
	struct address_space *mapping;
	pgoff_t first;
	pgoff_t npages;
	u32 id;
	unsigned long *pending;
	unsigned long *known;
	unsigned long *scratch;
	u64 iversion;
	pgoff_t chunk0;
	pgoff_t nchunks;
	unsigned long *huge_prev;
	unsigned long *huge_now;
	struct {
		u64 harvests;
		u64 pages_scanned;
		u64 pages_dirty;
		u64 harvest_ns;
		u64 thp_chunks;
	} st;
};

/**
 * struct kmig_ctx - one open /dev/kmig
 * @lock:    serialises every ioctl on the fd
 * @api_done: the KMIG_IOC_API handshake succeeded
 * @next_id: next range handle
 * @nranges: entries used in @ranges
 * @ranges:  tracked ranges (NULL = free slot)
 */
struct kmig_ctx {
	struct mutex lock;	/* serialises the fd's ioctls; taken before the registry's */
	bool api_done;
	u32 next_id;
	unsigned int nranges;
	struct kmig_range *ranges[KMIG_MAX_RANGES];
};

/* argument checks, pure (KUnit-tested); 0 or -errno */
int kmig_check_api(const struct kmig_api *a);
int kmig_check_track(const struct kmig_track *t, loff_t isize);
int kmig_check_harvest(const struct kmig_harvest *h, pgoff_t npages);
size_t kmig_bitmap_bytes(pgoff_t npages);
void kmig_bitmap_pack(u64 *dst, const unsigned long *src, pgoff_t nbits);

/* ranges and the registry (kmig_range.c) */
struct kmig_range *kmig_range_new(struct file *file, pgoff_t first, pgoff_t npages);
void kmig_range_free(struct kmig_range *r);
int kmig_registry_add(struct kmig_range *r);
void kmig_registry_del(struct kmig_range *r);
int kmig_ctx_add(struct kmig_ctx *ctx, struct kmig_range *r);
struct kmig_range *kmig_ctx_find(struct kmig_ctx *ctx, u32 id);
void kmig_ctx_remove(struct kmig_ctx *ctx, struct kmig_range *r);

/* harvest (kmig_harvest.c) */
long kmig_range_collect(struct kmig_range *r);
bool kmig_thp_chunk_dirty(unsigned long prev_pfn, unsigned long now_pfn, bool mapped);

#endif /* KMIG_CORE_H */
