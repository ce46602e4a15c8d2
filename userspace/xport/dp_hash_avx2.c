// SPDX-License-Identifier: GPL-2.0-only
/*
 * dp_hash_avx2.c: the dpdk: channel's frame hash built for AVX2, the one
 * file with -mavx2 (dpdk.mk); dp_wire.c calls it only on CPUs that have it.
 */
#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t kmig_dp_hash_avx2(const void *p, size_t n);

uint64_t kmig_dp_hash_avx2(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}
