/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kmig.h: the ioctl ABI of /dev/kmig, the kmig dirty-page tracker module.
 * Shared by the module (kmod/) and kmigd (userspace/track/track_kmod.c).
 * It tracks shmem/memfd files by offset: every shared mapping of the file,
 * in any process, is covered.  The ABI only grows: structs grow at the end,
 * bits are never reused, and KMIG_API changes only for an incompatible
 * change.
 *
 * Protocol: KMIG_IOC_API first (until it succeeds every other ioctl fails
 * with EINVAL); then KMIG_IOC_TRACK per RAM block, KMIG_IOC_HARVEST to
 * get-and-clean, KMIG_IOC_STATS, KMIG_IOC_UNTRACK.  Closing the fd untracks
 * everything.
 *
 * Every struct starts with argsz, the size userspace passes (VFIO style, so
 * the ioctl numbers do not encode sizes).  The kernel reads it with
 * copy_struct_from_user(): a shorter struct (an older userspace) is zero
 * filled, a longer one must have a zero tail or the call fails with E2BIG;
 * argsz below the first published size is EINVAL.  Output fields come last
 * and are written back only up to argsz.
 */
#ifndef _UAPI_LINUX_KMIG_H_
#define _UAPI_LINUX_KMIG_H_

#include <linux/types.h>
#include <linux/ioctl.h>

#define KMIG_API		1
#define KMIG_IOC_MAGIC		0xB8

/* Feature bits (KMIG_IOC_API): never reuse a bit. */
/* PMD-mapped THP is tracked at 2 MiB granularity (always on in API 1) */
#define KMIG_F_THP_PMD		(1ULL << 0)
#define KMIG_FEATURES		(KMIG_F_THP_PMD)

/* ioctls usable after the handshake, as bits (1 << _IOC_NR) in kmig_api.ioctls */
#define KMIG_IOCTL_BIT(nr)	(1ULL << (nr))

/* Limits (API 1); a TRACK beyond them fails with ENOSPC / EINVAL */
#define KMIG_MAX_RANGES		64	/* tracked ranges per open /dev/kmig */
#define KMIG_MAX_RANGE_PAGES	(1ULL << 28)	/* 1 TiB of 4 KiB pages per range */

/**
 * struct kmig_api - the handshake, first ioctl on a /dev/kmig fd
 * @argsz:    sizeof(struct kmig_api) as userspace knows it (>= 24)
 * @api:      in: KMIG_API.  An unknown version fails with EINVAL and a
 *            zeroed reply.
 * @features: in: the KMIG_F_* userspace wants (unknown bits: EINVAL);
 *            out: every feature the module supports
 * @ioctls:   out: KMIG_IOCTL_BIT() of each usable ioctl number
 *
 * A second KMIG_IOC_API on the same fd fails with EINVAL.
 */
struct kmig_api {
	__u32 argsz;
	__u32 api;
	__u64 features;
	__u64 ioctls;
};

#define KMIG_API_SIZE_VER0	24

/**
 * struct kmig_track - start tracking a page range of a memfd
 * @argsz:  >= KMIG_TRACK_SIZE_VER0
 * @flags:  0 (no flag defined in API 1; others: EINVAL)
 * @fd:     the memfd (or another shmem/tmpfs file), open for writing:
 *          EBADF if not an fd or not open for writing, EINVAL if not
 *          shmem (hugetlbfs, regular files), EPERM unless the caller owns
 *          the file (fsuid == i_uid) or has CAP_SYS_ADMIN
 * @pad:    0
 * @offset: byte offset in the file (page aligned)
 * @length: bytes (page multiple, > 0, <= KMIG_MAX_RANGE_PAGES pages,
 *          offset + length <= file size): EINVAL otherwise.  A range that
 *          overlaps one already tracked (through any fd): EBUSY.
 *          KMIG_MAX_RANGES already tracked on this fd: ENOSPC.
 * @id:     out: the range's handle for HARVEST/STATS/UNTRACK
 * @pad2:   out: 0
 *
 * Tracking does not clean anything: the first HARVEST reports every page
 * written (through a mapping) since the file was last cleaned, which can
 * be anything; userspace treats the first harvest as the arm step.
 */
struct kmig_track {
	__u32 argsz;
	__u32 flags;
	__s32 fd;
	__u32 pad;
	__u64 offset;
	__u64 length;
	__u32 id;
	__u32 pad2;
};

#define KMIG_TRACK_SIZE_VER0	40

/**
 * struct kmig_harvest - get-and-clean the dirty pages of a tracked range
 * @argsz:        >= KMIG_HARVEST_SIZE_VER0
 * @flags:        0 (others: EINVAL)
 * @id:           from KMIG_IOC_TRACK (unknown: ENOENT)
 * @pad:          0
 * @bitmap:       user pointer: bit p (word p / 64, bit p % 64, __u64 words
 *                in native byte order) = page p of the range.  The whole
 *                bitmap is overwritten: set = written since the previous
 *                successful harvest, clear = not.
 * @bitmap_bytes: size of @bitmap; at least 8 * ceil(pages / 64) (EINVAL)
 * @dirty:        out: pages set in @bitmap
 * @harvest_ns:   out: time the module spent
 *
 * The dirty state of each page is handed to its folio (folio_mark_dirty)
 * before its PTE is cleaned, so writeback and reclaim lose nothing.  If
 * the bitmap cannot be written (EFAULT), the pages found stay pending and
 * are reported by the next successful harvest.
 */
struct kmig_harvest {
	__u32 argsz;
	__u32 flags;
	__u32 id;
	__u32 pad;
	__u64 bitmap;
	__u64 bitmap_bytes;
	__u64 dirty;
	__u64 harvest_ns;
};

#define KMIG_HARVEST_SIZE_VER0	48

/**
 * struct kmig_stats - counters of one tracked range
 * @argsz:         >= KMIG_STATS_SIZE_VER0
 * @id:            in: range handle (unknown: ENOENT)
 * @harvests:      out: successful harvests
 * @pages_scanned: out: pages covered, summed over harvests
 * @pages_dirty:   out: pages reported dirty, summed
 * @harvest_ns:    out: time in harvests, summed
 * @thp_chunks:    out: 2 MiB chunks reported because of a PMD-sized folio
 */
struct kmig_stats {
	__u32 argsz;
	__u32 id;
	__u64 harvests;
	__u64 pages_scanned;
	__u64 pages_dirty;
	__u64 harvest_ns;
	__u64 thp_chunks;
};

#define KMIG_STATS_SIZE_VER0	48

/**
 * struct kmig_untrack - stop tracking a range
 * @argsz: >= KMIG_UNTRACK_SIZE_VER0
 * @id:    range handle (unknown: ENOENT)
 */
struct kmig_untrack {
	__u32 argsz;
	__u32 id;
};

#define KMIG_UNTRACK_SIZE_VER0	8

/* Unknown ioctl numbers fail with ENOTTY. */
#define KMIG_IOC_API		_IO(KMIG_IOC_MAGIC, 0x00)
#define KMIG_IOC_TRACK		_IO(KMIG_IOC_MAGIC, 0x01)
#define KMIG_IOC_HARVEST	_IO(KMIG_IOC_MAGIC, 0x02)
#define KMIG_IOC_STATS		_IO(KMIG_IOC_MAGIC, 0x03)
#define KMIG_IOC_UNTRACK	_IO(KMIG_IOC_MAGIC, 0x04)

#endif /* _UAPI_LINUX_KMIG_H_ */
