// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmig_kunit.c: KUnit tests of the module's logic, run on UML from a
 * kernel tree (scripts/kmod-kunit.sh): argument checks, range bookkeeping,
 * bitmap packing, the THP chunk rule, and harvests over a real shmem file
 * mapped (twice) into a test mm and written through copy_to_user(), so the
 * real fault path sets the dirty bits that the real helper cleans.
 */
#include <kunit/test.h>
#include <linux/file.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/prandom.h>
#include <linux/sched/mm.h>
#include <linux/shmem_fs.h>
#include <linux/uaccess.h>

#include "kmig_core.h"

static void kmig_test_api(struct kunit *test)
{
	struct kmig_api a = { .argsz = sizeof(a), .api = KMIG_API };

	KUNIT_EXPECT_EQ(test, kmig_check_api(&a), 0);
	a.features = KMIG_F_THP_PMD;
	KUNIT_EXPECT_EQ(test, kmig_check_api(&a), 0);
	a.features = 1ULL << 63;
	KUNIT_EXPECT_EQ(test, kmig_check_api(&a), -EINVAL);
	a.features = 0;
	a.api = KMIG_API + 1;
	KUNIT_EXPECT_EQ(test, kmig_check_api(&a), -EINVAL);
	a.api = 0;
	KUNIT_EXPECT_EQ(test, kmig_check_api(&a), -EINVAL);
}

static void kmig_test_track_args(struct kunit *test)
{
	const loff_t isz = 64 * PAGE_SIZE;
	struct kmig_track t = { .argsz = sizeof(t), .offset = 0, .length = isz };

	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, isz), 0);
	t.offset = PAGE_SIZE;
	t.length = isz - PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, isz), 0);
	t.length = isz;				/* one page past EOF */
	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, isz), -EINVAL);
	t.offset = 1;				/* misaligned */
	t.length = PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, isz), -EINVAL);
	t.offset = 0;
	t.length = PAGE_SIZE + 1;
	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, isz), -EINVAL);
	t.length = 0;
	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, isz), -EINVAL);
	t.offset = ~0ULL & PAGE_MASK;		/* offset + length wraps */
	t.length = 2 * PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, LLONG_MAX), -EINVAL);
	t.offset = 0;
	t.length = (KMIG_MAX_RANGE_PAGES + 1) << PAGE_SHIFT;
	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, LLONG_MAX), -EINVAL);
	t.length = KMIG_MAX_RANGE_PAGES << PAGE_SHIFT;
	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, LLONG_MAX), 0);
	t.length = PAGE_SIZE;
	t.flags = 1;
	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, isz), -EINVAL);
	t.flags = 0;
	t.pad = 1;
	KUNIT_EXPECT_EQ(test, kmig_check_track(&t, isz), -EINVAL);
}

static void kmig_test_harvest_args(struct kunit *test)
{
	struct kmig_harvest h = { .argsz = sizeof(h), .bitmap_bytes = 16 };

	KUNIT_EXPECT_EQ(test, kmig_bitmap_bytes(1), 8);
	KUNIT_EXPECT_EQ(test, kmig_bitmap_bytes(64), 8);
	KUNIT_EXPECT_EQ(test, kmig_bitmap_bytes(65), 16);
	KUNIT_EXPECT_EQ(test, kmig_check_harvest(&h, 128), 0);
	KUNIT_EXPECT_EQ(test, kmig_check_harvest(&h, 129), -EINVAL);
	h.flags = 2;
	KUNIT_EXPECT_EQ(test, kmig_check_harvest(&h, 64), -EINVAL);
	h.flags = 0;
	h.pad = 1;
	KUNIT_EXPECT_EQ(test, kmig_check_harvest(&h, 64), -EINVAL);
}

static void kmig_test_pack(struct kunit *test)
{
	unsigned long src[BITS_TO_LONGS(200)];
	u64 dst[4];
	unsigned int i;

	memset(src, 0xff, sizeof(src));		/* bits past nbits must not leak */
	for (i = 0; i < 130; i++)
		if (i % 3)
			__clear_bit(i, src);
	memset(dst, 0xaa, sizeof(dst));
	kmig_bitmap_pack(dst, src, 130);
	for (i = 0; i < 130; i++)
		KUNIT_EXPECT_EQ(test, (dst[i / 64] >> (i % 64)) & 1, (u64)(i % 3 == 0));
	KUNIT_EXPECT_EQ(test, dst[2] >> 2, 0ULL);
	KUNIT_EXPECT_EQ(test, dst[3], 0xaaaaaaaaaaaaaaaaULL);	/* untouched */
}

static void kmig_test_thp_rule(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, kmig_thp_chunk_dirty(0, 0, false));
	KUNIT_EXPECT_FALSE(test, kmig_thp_chunk_dirty(0, 0, true));
	KUNIT_EXPECT_TRUE(test, kmig_thp_chunk_dirty(0, 5, false));	/* appeared */
	KUNIT_EXPECT_TRUE(test, kmig_thp_chunk_dirty(5, 0, false));	/* vanished */
	KUNIT_EXPECT_TRUE(test, kmig_thp_chunk_dirty(5, 6, false));	/* replaced */
	KUNIT_EXPECT_TRUE(test, kmig_thp_chunk_dirty(5, 5, true));	/* mapped again */
	KUNIT_EXPECT_FALSE(test, kmig_thp_chunk_dirty(5, 5, false));	/* untouched */
}

static struct kmig_range *kmig_fake_range(struct kunit *test, void *mapping,
					  pgoff_t first, pgoff_t n)
{
	struct kmig_range *r = kmig_range_new(NULL, first, n);

	KUNIT_ASSERT_NOT_NULL(test, r);
	r->mapping = mapping;
	return r;
}

static void kmig_test_registry(struct kunit *test)
{
	int m1, m2;
	struct kmig_range *a = kmig_fake_range(test, &m1, 100, 50);
	struct kmig_range *b = kmig_fake_range(test, &m1, 149, 1);	/* last page of a */
	struct kmig_range *c = kmig_fake_range(test, &m1, 150, 10);	/* adjacent */
	struct kmig_range *d = kmig_fake_range(test, &m2, 100, 50);	/* other file */
	struct kmig_range *e = kmig_fake_range(test, &m1, 0, 101);	/* first page of a */

	KUNIT_EXPECT_EQ(test, a->nchunks, 1UL);
	KUNIT_EXPECT_EQ(test, kmig_registry_add(a), 0);
	KUNIT_EXPECT_EQ(test, kmig_registry_add(b), -EBUSY);
	KUNIT_EXPECT_EQ(test, kmig_registry_add(c), 0);
	KUNIT_EXPECT_EQ(test, kmig_registry_add(d), 0);
	KUNIT_EXPECT_EQ(test, kmig_registry_add(e), -EBUSY);
	kmig_registry_del(a);
	KUNIT_EXPECT_EQ(test, kmig_registry_add(e), 0);		/* freed by untrack */
	kmig_registry_del(c);
	kmig_registry_del(d);
	kmig_registry_del(e);
	kmig_range_free(a);
	kmig_range_free(b);
	kmig_range_free(c);
	kmig_range_free(d);
	kmig_range_free(e);
}

static void kmig_test_ctx(struct kunit *test)
{
	struct kmig_ctx *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	struct kmig_range *r[KMIG_MAX_RANGES + 1];
	unsigned int i;
	int m;

	KUNIT_ASSERT_NOT_NULL(test, ctx);
	for (i = 0; i <= KMIG_MAX_RANGES; i++)
		r[i] = kmig_fake_range(test, &m, i * 10, 10);
	for (i = 0; i < KMIG_MAX_RANGES; i++)
		KUNIT_EXPECT_EQ(test, kmig_ctx_add(ctx, r[i]), 0);
	KUNIT_EXPECT_EQ(test, kmig_ctx_add(ctx, r[KMIG_MAX_RANGES]), -ENOSPC);
	KUNIT_EXPECT_PTR_EQ(test, kmig_ctx_find(ctx, r[7]->id), r[7]);
	KUNIT_EXPECT_NULL(test, kmig_ctx_find(ctx, 0));
	kmig_ctx_remove(ctx, r[7]);
	KUNIT_EXPECT_NULL(test, kmig_ctx_find(ctx, r[7]->id));
	KUNIT_EXPECT_EQ(test, kmig_ctx_add(ctx, r[KMIG_MAX_RANGES]), 0);
	/* a freed slot is reused, its id is not */
	KUNIT_EXPECT_EQ(test, r[KMIG_MAX_RANGES]->id, (u32)KMIG_MAX_RANGES + 1);
	KUNIT_EXPECT_EQ(test, ctx->nranges, (unsigned int)KMIG_MAX_RANGES);
	for (i = 0; i <= KMIG_MAX_RANGES; i++)
		kmig_range_free(r[i]);
}

/* ---- harvests over a real shmem file in a test mm ---- */

#define KT_PAGES	96

struct kmig_mm_fixture {
	struct mm_struct *mm;
	struct file *file;
	unsigned long map[2];
};

static void kmig_mm_setup(struct kunit *test, struct kmig_mm_fixture *fx)
{
	int i;

	fx->file = shmem_file_setup("kmig-kunit", KT_PAGES * PAGE_SIZE, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(fx->file));
	fx->mm = mm_alloc();
	KUNIT_ASSERT_NOT_NULL(test, fx->mm);
	arch_pick_mmap_layout(fx->mm, &current->signal->rlim[RLIMIT_STACK]);
	kthread_use_mm(fx->mm);
	for (i = 0; i < 2; i++) {
		fx->map[i] = vm_mmap(fx->file, 0, KT_PAGES * PAGE_SIZE,
				     PROT_READ | PROT_WRITE, MAP_SHARED, 0);
		KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(fx->map[i]));
	}
}

static void kmig_mm_teardown(struct kmig_mm_fixture *fx)
{
	kthread_unuse_mm(fx->mm);
	mmput(fx->mm);
	fput(fx->file);
}

/*
 * A user write.  On x86 the CPU sets the PTE dirty bit on any write through
 * the mapping; UML does it in its write-fault path, but its copy_to_user()
 * writes a present, writable, clean PTE's page without faulting.  So the
 * write is preceded by the write fault UML's user mode would take, which
 * is the kernel's own handle_mm_fault() setting the dirty bit.
 */
static void kmig_write(struct kunit *test, unsigned long addr, pgoff_t p)
{
	unsigned long va = addr + p * PAGE_SIZE;
	u8 v = (u8)p + 1;
	int ret;

	mmap_read_lock(current->mm);
	ret = fixup_user_fault(current->mm, va, FAULT_FLAG_WRITE, NULL);
	mmap_read_unlock(current->mm);
	KUNIT_ASSERT_EQ(test, ret, 0);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)va, &v, 1), 0UL);
}

/* collects and compares @r->pending with @want (bits relative to @r) */
static void kmig_expect_harvest(struct kunit *test, struct kmig_range *r,
				const unsigned long *want)
{
	pgoff_t p;

	KUNIT_ASSERT_GE(test, kmig_range_collect(r), 0L);
	for (p = 0; p < r->npages; p++) {
		bool got = test_bit(p, r->pending), exp = test_bit(p, want);

		KUNIT_EXPECT_EQ_MSG(test, got, exp, "page %lu", (unsigned long)p);
	}
	bitmap_zero(r->pending, r->npages);
}

static void kmig_test_harvest_exact(struct kunit *test)
{
	DECLARE_BITMAP(want, KT_PAGES);
	struct kmig_mm_fixture fx;
	struct kmig_range *r;
	int round;
	pgoff_t p;

	kmig_mm_setup(test, &fx);
	r = kmig_range_new(fx.file, 0, KT_PAGES);
	KUNIT_ASSERT_NOT_NULL(test, r);
	bitmap_zero(want, KT_PAGES);
	kmig_expect_harvest(test, r, want);		/* nothing mapped yet */
	for (p = 0; p < KT_PAGES; p += 3)
		kmig_write(test, fx.map[0], p);
	for (p = 0; p < KT_PAGES; p += 3)
		__set_bit(p, want);
	kmig_expect_harvest(test, r, want);
	bitmap_zero(want, KT_PAGES);
	kmig_expect_harvest(test, r, want);		/* cleaned */
	for (round = 0; round < 20; round++) {
		bitmap_zero(want, KT_PAGES);
		for (p = 0; p < KT_PAGES; p++) {
			u32 x = get_random_u32();

			if (x % 4)
				continue;
			kmig_write(test, fx.map[(x >> 8) & 1], p);	/* either mapping */
			__set_bit(p, want);
		}
		kmig_expect_harvest(test, r, want);
	}
	/* the dirty state went to the folios */
	for (p = 0; p < KT_PAGES; p += 3) {
		struct folio *f = __filemap_get_folio(fx.file->f_mapping, p, 0, 0);

		KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(f));
		KUNIT_EXPECT_TRUE(test, folio_test_dirty(f));
		folio_put(f);
	}
	kmig_range_free(r);
	kmig_mm_teardown(&fx);
}

/* a range in the middle of the file sees only its own pages */
static void kmig_test_harvest_subrange(struct kunit *test)
{
	DECLARE_BITMAP(want, KT_PAGES);
	struct kmig_mm_fixture fx;
	struct kmig_range *r;
	pgoff_t p;

	kmig_mm_setup(test, &fx);
	r = kmig_range_new(fx.file, 10, 40);
	KUNIT_ASSERT_NOT_NULL(test, r);
	for (p = 0; p < KT_PAGES; p++)
		kmig_write(test, fx.map[1], p);
	bitmap_zero(want, KT_PAGES);
	bitmap_set(want, 0, 40);
	kmig_expect_harvest(test, r, want);
	bitmap_zero(want, KT_PAGES);
	kmig_write(test, fx.map[0], 9);
	kmig_write(test, fx.map[0], 10);
	kmig_write(test, fx.map[0], 49);
	kmig_write(test, fx.map[0], 50);
	__set_bit(0, want);
	__set_bit(39, want);
	kmig_expect_harvest(test, r, want);
	kmig_range_free(r);
	kmig_mm_teardown(&fx);
}

/* an unmapped mapping leaves the file trackable; the other one still counts */
static void kmig_test_harvest_unmap(struct kunit *test)
{
	DECLARE_BITMAP(want, KT_PAGES);
	struct kmig_mm_fixture fx;
	struct kmig_range *r;

	kmig_mm_setup(test, &fx);
	r = kmig_range_new(fx.file, 0, KT_PAGES);
	KUNIT_ASSERT_NOT_NULL(test, r);
	KUNIT_ASSERT_GE(test, kmig_range_collect(r), 0L);
	bitmap_zero(r->pending, r->npages);
	KUNIT_EXPECT_EQ(test, vm_munmap(fx.map[0], KT_PAGES * PAGE_SIZE), 0);
	bitmap_zero(want, KT_PAGES);
	kmig_write(test, fx.map[1], 5);
	__set_bit(5, want);
	kmig_expect_harvest(test, r, want);
	kmig_range_free(r);
	kmig_mm_teardown(&fx);
}

static void kmig_fault(struct kunit *test, unsigned long addr, pgoff_t p, unsigned int flags)
{
	int ret;

	mmap_read_lock(current->mm);
	ret = fixup_user_fault(current->mm, addr + p * PAGE_SIZE, flags, NULL);
	mmap_read_unlock(current->mm);
	KUNIT_ASSERT_EQ(test, ret, 0);
}

static bool kmig_folio_dirty(struct kunit *test, struct file *f, pgoff_t p)
{
	struct folio *folio = __filemap_get_folio(f->f_mapping, p, 0, 0);
	bool dirty;

	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(folio));
	dirty = folio_test_dirty(folio);
	folio_put(folio);
	return dirty;
}

/*
 * The dirty hand-off for a folio that a read fault brought in clean and a
 * write then dirtied through its PTE only, also after a hole punch put a
 * new folio where a known-dirty one was (i_version must reset the cache).
 */
static void kmig_test_harvest_handoff(struct kunit *test)
{
	DECLARE_BITMAP(want, KT_PAGES);
	struct kmig_mm_fixture fx;
	struct kmig_range *r;

	kmig_mm_setup(test, &fx);
	r = kmig_range_new(fx.file, 0, KT_PAGES);
	KUNIT_ASSERT_NOT_NULL(test, r);
	kmig_fault(test, fx.map[0], 4, 0);			/* read: clean folio */
	KUNIT_EXPECT_FALSE(test, kmig_folio_dirty(test, fx.file, 4));
	kmig_fault(test, fx.map[0], 4, FAULT_FLAG_WRITE);	/* PTE dirty only */
	KUNIT_EXPECT_FALSE(test, kmig_folio_dirty(test, fx.file, 4));
	bitmap_zero(want, KT_PAGES);
	__set_bit(4, want);
	kmig_expect_harvest(test, r, want);
	KUNIT_EXPECT_TRUE(test, kmig_folio_dirty(test, fx.file, 4));

	/* punch page 4 out; a new clean folio comes back the same way */
	shmem_truncate_range(file_inode(fx.file), 4 * PAGE_SIZE, 5 * PAGE_SIZE - 1);
	kmig_fault(test, fx.map[0], 4, 0);
	kmig_fault(test, fx.map[0], 4, FAULT_FLAG_WRITE);
	KUNIT_EXPECT_FALSE(test, kmig_folio_dirty(test, fx.file, 4));
	kmig_expect_harvest(test, r, want);
	KUNIT_EXPECT_TRUE(test, kmig_folio_dirty(test, fx.file, 4));
	kmig_range_free(r);
	kmig_mm_teardown(&fx);
}

static struct kunit_case kmig_cases[] = {
	KUNIT_CASE(kmig_test_api),
	KUNIT_CASE(kmig_test_track_args),
	KUNIT_CASE(kmig_test_harvest_args),
	KUNIT_CASE(kmig_test_pack),
	KUNIT_CASE(kmig_test_thp_rule),
	KUNIT_CASE(kmig_test_registry),
	KUNIT_CASE(kmig_test_ctx),
	KUNIT_CASE(kmig_test_harvest_exact),
	KUNIT_CASE(kmig_test_harvest_subrange),
	KUNIT_CASE(kmig_test_harvest_unmap),
	KUNIT_CASE(kmig_test_harvest_handoff),
	{}
};

static struct kunit_suite kmig_suite = {
	.name = "kmig",
	.test_cases = kmig_cases,
};

kunit_test_suite(kmig_suite);
