/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pagehash.h: the per-page content hashes behind the end-of-stream block
 * checksums.  Each side records the hash of every page as it sends or
 * receives it; the block checksum folds (page index, hash) for every page,
 * so a page that went missing, arrived at the wrong offset or was corrupted
 * on the way changes the checksum.  XXH3 keeps this far below link speed.
 */
#ifndef KMIG_PAGEHASH_H
#define KMIG_PAGEHASH_H

#include <stdint.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define KMIG_PAGE_SIZE 4096u
#define KMIG_PAGE_SHIFT 12

/* XXH3-64 of one page, with the best vector code this CPU has */
uint64_t kmig_page_hash(const void *page);

static inline uint64_t kmig_zero_page_hash(void)
{
	static const uint8_t zero[KMIG_PAGE_SIZE];

	return XXH3_64bits(zero, sizeof(zero));
}

/* the checksum of a block whose page i last carried content hash[i] */
static inline uint64_t kmig_block_checksum(const uint64_t *hash, uint64_t npages)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < npages; i++)
		sum += XXH3_64bits_withSeed(&hash[i], sizeof(hash[i]), i);
	return sum;
}

/* true if the page is all zeroes (word loop; stops at the first non-zero) */
static inline int kmig_page_is_zero(const void *page)
{
	const uint64_t *w = page;

	for (unsigned int i = 0; i < KMIG_PAGE_SIZE / 8; i += 4)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
			return 0;
	return 1;
}

#endif
