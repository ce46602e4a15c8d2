/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xbzrle_cache.h: the source's copies of pages as last sent, which XBZRLE
 * deltas are computed against.  QEMU's page cache (migration/page_cache.c)
 * semantics:
 *
 * - the size is a power of two, in bytes, at least one page; it holds
 *   size / 4096 entries;
 * - direct-mapped: the entry for key K is K & (entries - 1).  QEMU's key
 *   is the page's global RAM offset / 4096; with keys (block index << 40)
 *   | page index the page index alone picks the entry, so equal page
 *   indexes of different blocks share one.  Keys equal to QEMU's give
 *   QEMU's hits and misses for the same page order;
 * - each entry holds one page copy, its key and its age, the dirty-sync
 *   generation it was last inserted or hit in;
 * - a hit refreshes the age; an insert refuses to replace an entry that
 *   holds another key whose age + 2 > the current generation (a page
 *   stays cached for two generations) and the caller then sends the page
 *   normally; an insert of the same key, or over an older entry, replaces;
 * - page buffers are allocated on first insert into an entry, never
 *   before; resizing drops every entry, as QEMU 7.2 does (the next pass
 *   misses and refills).
 *
 * Not thread-safe: one thread at a time (QEMU holds its XBZRLE lock).
 */
#ifndef KMIG_XBZRLE_CACHE_H
#define KMIG_XBZRLE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define KMIG_XBZRLE_CACHE_PAGE 4096u
/* an entry stays for this many generations against other keys (QEMU's) */
#define KMIG_XBZRLE_CACHE_LIFETIME 2
/* the largest size accepted: 1 TiB (its entry table alone takes 6 GiB) */
#define KMIG_XBZRLE_CACHE_MAX (1ull << 40)

struct kmig_xbzrle_cache;

/*
 * A cache of @size bytes: NULL with @err saying why when @size is below
 * one page, not a power of two or above KMIG_XBZRLE_CACHE_MAX, or memory
 * ran out for its entry table (24 bytes per entry; pages come later).
 */
struct kmig_xbzrle_cache *kmig_xbzrle_cache_new(uint64_t size, char *err, size_t errlen);
/* frees the cache and every page in it; NULL is fine */
void kmig_xbzrle_cache_free(struct kmig_xbzrle_cache *c);

/*
 * The cached copy of page @key, or NULL on a miss.  A hit sets the
 * entry's age to @gen.  The copy is writable (the caller updates it to
 * what it sent) and stays valid until the next insert, resize or free.
 */
uint8_t *kmig_xbzrle_cache_lookup(struct kmig_xbzrle_cache *c, uint64_t key, uint64_t gen);

/*
 * Stores a copy of the 4096 bytes at @page as page @key, generation @gen.
 * Returns 0 (and the copy in *@copy when @copy is not NULL); -EBUSY when
 * the entry holds another key that is still fresh (age + 2 > @gen: the
 * caller sends the page normally, nothing changed); -ENOMEM when the
 * entry's page buffer could not be allocated (nothing changed).
 */
int kmig_xbzrle_cache_insert(struct kmig_xbzrle_cache *c, uint64_t key, const void *page,
			     uint64_t gen, uint8_t **copy);

/*
 * Changes the size to @size bytes (checked as by kmig_xbzrle_cache_new).
 * The same size keeps everything; another size drops every entry and
 * page.  On failure (-EINVAL for a bad size, -ENOMEM) @err says why and
 * the cache is as it was.  Pointers from lookup/insert die on success.
 */
int kmig_xbzrle_cache_resize(struct kmig_xbzrle_cache *c, uint64_t size, char *err,
			     size_t errlen);

/* the size in bytes it was made with (xbzrle-cache-size) */
uint64_t kmig_xbzrle_cache_size(const struct kmig_xbzrle_cache *c);
/* the number of entries, size / 4096 */
uint64_t kmig_xbzrle_cache_entries(const struct kmig_xbzrle_cache *c);
/* the number of entries holding a page */
uint64_t kmig_xbzrle_cache_pages(const struct kmig_xbzrle_cache *c);
/*
 * Memory allocated for it now: the structure, the entry table and one
 * 4096-byte buffer per page held (malloc's own overhead not counted).
 */
uint64_t kmig_xbzrle_cache_mem_bytes(const struct kmig_xbzrle_cache *c);

#endif
