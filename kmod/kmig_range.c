// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmig_range.c: argument checks, bitmap packing and the bookkeeping of
 * tracked ranges: per fd (struct kmig_ctx) and in one global registry that
 * refuses overlapping ranges of the same file, because two trackers of one
 * page would steal each other's dirty bits.  No page-table work here.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "kmig_core.h"

static LIST_HEAD(kmig_registry);
static DEFINE_MUTEX(kmig_registry_lock);

int kmig_check_api(const struct kmig_api *a)
{
	if (a->api != KMIG_API)
		return -EINVAL;
	if (a->features & ~KMIG_FEATURES)
		return -EINVAL;
	return 0;
}

int kmig_check_track(const struct kmig_track *t, loff_t isize)
{
	u64 end;

	if (t->flags || t->pad)
		return -EINVAL;
	if (!t->length || !PAGE_ALIGNED(t->offset) || !PAGE_ALIGNED(t->length))
		return -EINVAL;
	if (t->length >> PAGE_SHIFT > KMIG_MAX_RANGE_PAGES)
		return -EINVAL;
	if (check_add_overflow(t->offset, t->length, &end))
		return -EINVAL;
	if (isize < 0 || end > (u64)isize)
		return -EINVAL;
	return 0;
}

size_t kmig_bitmap_bytes(pgoff_t npages)
{
	return DIV_ROUND_UP(npages, 64) * sizeof(u64);
}

int kmig_check_harvest(const struct kmig_harvest *h, pgoff_t npages)
{
	if (h->flags || h->pad)
		return -EINVAL;
	if (h->bitmap_bytes < kmig_bitmap_bytes(npages))
		return -EINVAL;
	return 0;
}

/*
 * The ABI's bitmap is __u64 words; the kernel's is unsigned long.  They
 * are the same bytes on 64-bit little-endian; bitmap_to_arr64() is the
 * portable form and also clears the bits past @nbits in the last word.
 */
void kmig_bitmap_pack(u64 *dst, const unsigned long *src, pgoff_t nbits)
{
	bitmap_to_arr64(dst, src, nbits);
}

struct kmig_range *kmig_range_new(struct file *file, pgoff_t first, pgoff_t npages)
{
	struct kmig_range *r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	pgoff_t last = first + npages - 1;

	if (!r)
		return NULL;
	INIT_LIST_HEAD(&r->node);
	r->first = first;
	r->npages = npages;
	r->chunk0 = first >> KMIG_PMD_ORDER;
	r->nchunks = (last >> KMIG_PMD_ORDER) - r->chunk0 + 1;
	r->pending = kvcalloc(BITS_TO_LONGS(npages), sizeof(long), GFP_KERNEL_ACCOUNT);
	r->known = kvcalloc(BITS_TO_LONGS(npages), sizeof(long), GFP_KERNEL_ACCOUNT);
	r->scratch = kvcalloc(BITS_TO_LONGS(npages), sizeof(long), GFP_KERNEL_ACCOUNT);
	r->huge_prev = kvcalloc(r->nchunks, sizeof(long), GFP_KERNEL_ACCOUNT);
	r->huge_now = kvcalloc(r->nchunks, sizeof(long), GFP_KERNEL_ACCOUNT);
	if (!r->pending || !r->known || !r->scratch || !r->huge_prev || !r->huge_now) {
		kmig_range_free(r);
		return NULL;
	}
	if (file) {
		r->file = get_file(file);
		r->mapping = file->f_mapping;
	}
	return r;
}

/* accepts a range that never made it into the registry */
void kmig_range_free(struct kmig_range *r)
{
	if (!r)
		return;
	kvfree(r->pending);
	kvfree(r->known);
	kvfree(r->scratch);
	kvfree(r->huge_prev);
	kvfree(r->huge_now);
	if (r->file)
		fput(r->file);
	kfree(r);
}

static bool kmig_overlaps(const struct kmig_range *a, const struct kmig_range *b)
{
	return a->mapping == b->mapping && a->first < b->first + b->npages &&
	       b->first < a->first + a->npages;
}

/* 0, or -EBUSY if @r overlaps a range already tracked through any fd */
int kmig_registry_add(struct kmig_range *r)
{
	struct kmig_range *o;
	int ret = 0;

	mutex_lock(&kmig_registry_lock);
	list_for_each_entry(o, &kmig_registry, node) {
		if (kmig_overlaps(o, r)) {
			ret = -EBUSY;
			goto out;
		}
	}
	list_add(&r->node, &kmig_registry);
out:
	mutex_unlock(&kmig_registry_lock);
	return ret;
}

void kmig_registry_del(struct kmig_range *r)
{
	mutex_lock(&kmig_registry_lock);
	list_del_init(&r->node);
	mutex_unlock(&kmig_registry_lock);
}

/* called with ctx->lock held; 0 (r->id set) or -ENOSPC */
int kmig_ctx_add(struct kmig_ctx *ctx, struct kmig_range *r)
{
	unsigned int i;

	for (i = 0; i < KMIG_MAX_RANGES; i++) {
		if (!ctx->ranges[i]) {
			ctx->ranges[i] = r;
			ctx->nranges++;
			/* ids are never reused on one fd: a stale id gets ENOENT */
			r->id = ++ctx->next_id;
			return 0;
		}
	}
	return -ENOSPC;
}

/* called with ctx->lock held */
struct kmig_range *kmig_ctx_find(struct kmig_ctx *ctx, u32 id)
{
	unsigned int i;

	for (i = 0; i < KMIG_MAX_RANGES; i++)
		if (ctx->ranges[i] && ctx->ranges[i]->id == id)
			return ctx->ranges[i];
	return NULL;
}

/* called with ctx->lock held; does not free @r */
void kmig_ctx_remove(struct kmig_ctx *ctx, struct kmig_range *r)
{
	unsigned int i;

	for (i = 0; i < KMIG_MAX_RANGES; i++) {
		if (ctx->ranges[i] == r) {
			ctx->ranges[i] = NULL;
			ctx->nranges--;
			return;
		}
	}
	WARN_ON_ONCE(1);
}
