// SPDX-License-Identifier: GPL-2.0-only
/*
 * pagehash_avx2.c: the page hash built for AVX2 (this file alone is
 * compiled with -mavx2; pagehash.c calls it only where the CPU has AVX2).
 * XXH3 picks its vector code at compile time, hence a file of its own.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pagehash.h"

uint64_t kmig_page_hash_avx2(const void *page)
{
	return XXH3_64bits(page, KMIG_PAGE_SIZE);
}
