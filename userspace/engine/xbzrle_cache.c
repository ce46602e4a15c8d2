// SPDX-License-Identifier: GPL-2.0-only
/*
 * xbzrle_cache.c: the XBZRLE page cache (semantics in xbzrle_cache.h).
 * A table of entries allocated up front; each entry's page buffer is
 * allocated the first time something is inserted there and kept until
 * the cache is freed or resized, so memory grows only with what the
 * migration actually caches.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xbzrle_cache.h"

struct entry {
	uint8_t *data;		/* NULL: never inserted; else holds page @key */
	uint64_t key;
	uint64_t age;		/* generation of the last insert or hit */
};

struct kmig_xbzrle_cache {
	struct entry *e;
	uint64_t size;		/* bytes, as asked for */
	uint64_t n;		/* entries, a power of two */
	uint64_t pages;		/* entries with a page buffer */
};

__attribute__((format(printf, 3, 4)))
static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* a new entry table for @size bytes in *@tab, *@n; 0, -EINVAL or -ENOMEM */
static int new_table(uint64_t size, struct entry **tab, uint64_t *n, char *err, size_t errlen)
{
	uint64_t entries = size / KMIG_XBZRLE_CACHE_PAGE;

	if (size < KMIG_XBZRLE_CACHE_PAGE) {
		say(err, errlen, "XBZRLE cache size %llu is smaller than a page (%u bytes)",
		    (unsigned long long)size, KMIG_XBZRLE_CACHE_PAGE);
		return -EINVAL;
	}
	if (size & (size - 1)) {
		say(err, errlen, "XBZRLE cache size %llu is not a power of two",
		    (unsigned long long)size);
		return -EINVAL;
	}
	if (size > KMIG_XBZRLE_CACHE_MAX) {
		say(err, errlen, "XBZRLE cache size %llu is larger than the %llu bytes allowed",
		    (unsigned long long)size, (unsigned long long)KMIG_XBZRLE_CACHE_MAX);
		return -EINVAL;
	}
	if (entries > SIZE_MAX / sizeof(**tab) || !(*tab = calloc((size_t)entries, sizeof(**tab)))) {
		say(err, errlen, "XBZRLE cache of %llu bytes: no memory for its %llu entries",
		    (unsigned long long)size, (unsigned long long)entries);
		return -ENOMEM;
	}
	*n = entries;
	return 0;
}

static void free_pages(struct entry *tab, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		free(tab[i].data);
}

struct kmig_xbzrle_cache *kmig_xbzrle_cache_new(uint64_t size, char *err, size_t errlen)
{
	struct kmig_xbzrle_cache *c = calloc(1, sizeof(*c));

	if (!c) {
		say(err, errlen, "XBZRLE cache: out of memory");
		return NULL;
	}
	if (new_table(size, &c->e, &c->n, err, errlen)) {
		free(c);
		return NULL;
	}
	c->size = size;
	return c;
}

void kmig_xbzrle_cache_free(struct kmig_xbzrle_cache *c)
{
	if (!c)
		return;
	free_pages(c->e, c->n);
	free(c->e);
	free(c);
}

static struct entry *slot(const struct kmig_xbzrle_cache *c, uint64_t key)
{
	return &c->e[key & (c->n - 1)];
}

uint8_t *kmig_xbzrle_cache_lookup(struct kmig_xbzrle_cache *c, uint64_t key, uint64_t gen)
{
	struct entry *e = slot(c, key);

	if (!e->data || e->key != key)
		return NULL;
	e->age = gen;
	return e->data;
}

/* age + LIFETIME > gen, without overflowing near UINT64_MAX */
static int fresh(uint64_t age, uint64_t gen)
{
	return age > gen || gen - age < KMIG_XBZRLE_CACHE_LIFETIME;
}

int kmig_xbzrle_cache_insert(struct kmig_xbzrle_cache *c, uint64_t key, const void *page,
			     uint64_t gen, uint8_t **copy)
{
	struct entry *e = slot(c, key);

	if (e->data && e->key != key && fresh(e->age, gen))
		return -EBUSY;
	if (!e->data) {
		e->data = malloc(KMIG_XBZRLE_CACHE_PAGE);
		if (!e->data)
			return -ENOMEM;
		c->pages++;
	}
	memcpy(e->data, page, KMIG_XBZRLE_CACHE_PAGE);
	e->key = key;
	e->age = gen;
	if (copy)
		*copy = e->data;
	return 0;
}

int kmig_xbzrle_cache_resize(struct kmig_xbzrle_cache *c, uint64_t size, char *err,
			     size_t errlen)
{
	struct entry *tab;
	uint64_t n;
	int r;

	if (size == c->size)
		return 0;
	r = new_table(size, &tab, &n, err, errlen);
	if (r)
		return r;
	free_pages(c->e, c->n);
	free(c->e);
	c->e = tab;
	c->n = n;
	c->size = size;
	c->pages = 0;
	return 0;
}

uint64_t kmig_xbzrle_cache_size(const struct kmig_xbzrle_cache *c)
{
	return c->size;
}

uint64_t kmig_xbzrle_cache_entries(const struct kmig_xbzrle_cache *c)
{
	return c->n;
}

uint64_t kmig_xbzrle_cache_pages(const struct kmig_xbzrle_cache *c)
{
	return c->pages;
}

uint64_t kmig_xbzrle_cache_mem_bytes(const struct kmig_xbzrle_cache *c)
{
	return sizeof(*c) + c->n * sizeof(*c->e) + c->pages * KMIG_XBZRLE_CACHE_PAGE;
}
