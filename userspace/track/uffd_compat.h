/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * uffd_compat.h: the userfaultfd async write-protect and PAGEMAP_SCAN UAPI
 * (kernel 6.7+) that Debian 12's 6.1 headers lack.  Values are copied from
 * include/uapi/linux/{userfaultfd,fs}.h; every definition is guarded so a
 * newer <linux/...> header wins.
 */
#ifndef KMIG_UFFD_COMPAT_H
#define KMIG_UFFD_COMPAT_H

#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>

/* userfaultfd(2) flag: only handle faults from user mode (5.11+). */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY		1
#endif

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM	(1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#endif
/* Not 1 << 14: an early patch version used that; 14 is FEATURE_POISON. */
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC		(1 << 15)
#endif

/* PAGEMAP_SCAN page categories */
#ifndef PAGE_IS_WPALLOWED
#define PAGE_IS_WPALLOWED		(1 << 0)
#endif
#ifndef PAGE_IS_WRITTEN
#define PAGE_IS_WRITTEN			(1 << 1)
#endif
#ifndef PAGE_IS_FILE
#define PAGE_IS_FILE			(1 << 2)
#endif
#ifndef PAGE_IS_PRESENT
#define PAGE_IS_PRESENT			(1 << 3)
#endif
#ifndef PAGE_IS_SWAPPED
#define PAGE_IS_SWAPPED			(1 << 4)
#endif
#ifndef PAGE_IS_PFNZERO
#define PAGE_IS_PFNZERO			(1 << 5)
#endif
#ifndef PAGE_IS_HUGE
#define PAGE_IS_HUGE			(1 << 6)
#endif
#ifndef PAGE_IS_SOFT_DIRTY
#define PAGE_IS_SOFT_DIRTY		(1 << 7)
#endif

/* PAGEMAP_SCAN flags */
#ifndef PM_SCAN_WP_MATCHING
#define PM_SCAN_WP_MATCHING		(1 << 0)
#endif
#ifndef PM_SCAN_CHECK_WPASYNC
#define PM_SCAN_CHECK_WPASYNC		(1 << 1)
#endif

/* The structs arrived together with the ioctl number: one guard for all. */
#ifndef PAGEMAP_SCAN
/* one output run: [start, end) with the same (return-masked) categories */
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

struct pm_scan_arg {
	__u64 size;			/* sizeof(struct pm_scan_arg) */
	__u64 flags;			/* PM_SCAN_* */
	__u64 start;			/* walk [start, end) */
	__u64 end;
	__u64 walk_end;			/* out: where the walk stopped */
	__u64 vec;			/* struct page_region array */
	__u64 vec_len;
	__u64 max_pages;		/* 0 = no limit */
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN	_IOWR('f', 16, struct pm_scan_arg)
#endif

_Static_assert(sizeof(struct page_region) == 24, "page_region layout");
_Static_assert(sizeof(struct pm_scan_arg) == 96, "pm_scan_arg layout");
_Static_assert(PAGEMAP_SCAN == 0xc0606610, "PAGEMAP_SCAN number");

#endif
