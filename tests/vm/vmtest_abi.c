// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtest_abi.c: every way to call /dev/kmig wrongly, each with the errno
 * the ABI (include/uapi/linux/kmig.h) promises, in the order a careless
 * client would hit them: before the handshake, bad handshakes, bad sizes,
 * bad files, bad ranges, limits, and harvests into bad buffers.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmtest.h"

/* a struct with room past its known size, for the argsz growth rules */
struct big {
	union {
		struct kmig_api api;
		struct kmig_track track;
		struct kmig_harvest harvest;
	};
	uint8_t tail[64];
};

static void abi_handshake(void)
{
	struct kmig_api a = { .argsz = sizeof(a), .api = KMIG_API };
	struct kmig_track t = { .argsz = sizeof(t) };
	struct big b;
	int dev = open("/dev/kmig", O_RDWR);

	tap(dev >= 0, "open /dev/kmig (%s)", dev < 0 ? strerror(errno) : "ok");
	if (dev < 0)
		return;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_TRACK, &t), EINVAL, "TRACK before API");
	EXPECT_ERRNO(ioctl(dev, _IO(KMIG_IOC_MAGIC, 0x7f), &a), ENOTTY, "unknown ioctl before API");
	EXPECT_ERRNO(ioctl(dev, _IO('x', 0x00), &a), ENOTTY, "foreign ioctl number");
	a.argsz = KMIG_API_SIZE_VER0 - 1;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_API, &a), EINVAL, "API argsz too small");
	a.argsz = 8192;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_API, &a), E2BIG, "API argsz > page");
	memset(&b, 0, sizeof(b));
	b.api.argsz = sizeof(b);
	b.api.api = KMIG_API;
	b.tail[10] = 1;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_API, &b), E2BIG, "API longer struct, non-zero tail");
	a = (struct kmig_api){ .argsz = sizeof(a), .api = KMIG_API + 1, .features = 0 };
	a.ioctls = 77;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_API, &a), EINVAL, "API unknown version");
	tap(a.api == 0 && a.features == 0 && a.ioctls == 0, "API refused: reply zeroed");
	a = (struct kmig_api){ .argsz = sizeof(a), .api = KMIG_API, .features = 1ULL << 40 };
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_API, &a), EINVAL, "API unknown feature bit");
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_API, NULL), EFAULT, "API NULL argument");
	memset(&b, 0, sizeof(b));
	b.api.argsz = sizeof(b);
	b.api.api = KMIG_API;
	EXPECT_OK(ioctl(dev, KMIG_IOC_API, &b), "API longer struct, zero tail");
	tap(b.api.features == KMIG_F_THP_PMD && (b.api.ioctls & 0x1e) == 0x1e,
	    "API reports features 0x%llx ioctls 0x%llx", (unsigned long long)b.api.features,
	    (unsigned long long)b.api.ioctls);
	a = (struct kmig_api){ .argsz = sizeof(a), .api = KMIG_API };
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_API, &a), EINVAL, "second API");
	EXPECT_ERRNO(ioctl(dev, _IO(KMIG_IOC_MAGIC, 0x7f), &a), ENOTTY, "unknown ioctl after API");
	close(dev);
}

static void abi_track(void)
{
	struct kmig_track t;
	uint32_t ids[KMIG_MAX_RANGES], id;
	int dev = kmig_open_api(), dev2 = kmig_open_api();
	char path[64];
	void *map;
	int fd = memfd_map(256 * PG, &map), ro, pfd[2], nul, tiny;
	int i, ok;

	tap(dev >= 0 && dev2 >= 0 && fd >= 0, "set-up: two fds after API, a 1 MiB memfd");
	if (dev < 0 || dev2 < 0 || fd < 0)
		return;
	t = (struct kmig_track){ .argsz = KMIG_TRACK_SIZE_VER0 - 4, .fd = fd, .length = PG };
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_TRACK, &t), EINVAL, "TRACK argsz too small");
	t.argsz = sizeof(t);
	t.flags = 1;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_TRACK, &t), EINVAL, "TRACK unknown flag");
	t.flags = 0;
	t.pad = 5;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_TRACK, &t), EINVAL, "TRACK non-zero pad");
	t.pad = 0;
	EXPECT_ERRNO(kmig_track(dev, 987, 0, PG, NULL), EBADF, "TRACK closed fd");
	EXPECT_ERRNO(kmig_track(dev, -1, 0, PG, NULL), EBADF, "TRACK fd -1");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY);
	EXPECT_ERRNO(kmig_track(dev, ro, 0, PG, NULL), EBADF, "TRACK memfd opened read-only");
	nul = open("/dev/null", O_RDWR);
	EXPECT_ERRNO(kmig_track(dev, nul, 0, PG, NULL), EINVAL, "TRACK /dev/null (not shmem)");
	ok = pipe(pfd) == 0;
	EXPECT_ERRNO(ok ? kmig_track(dev, pfd[1], 0, PG, NULL) : 0, EINVAL, "TRACK pipe (not shmem)");
	EXPECT_ERRNO(kmig_track(dev, dev2, 0, PG, NULL), EINVAL, "TRACK /dev/kmig itself");
	EXPECT_ERRNO(kmig_track(dev, fd, 1, PG, NULL), EINVAL, "TRACK misaligned offset");
	EXPECT_ERRNO(kmig_track(dev, fd, 0, PG + 1, NULL), EINVAL, "TRACK misaligned length");
	EXPECT_ERRNO(kmig_track(dev, fd, 0, 0, NULL), EINVAL, "TRACK zero length");
	EXPECT_ERRNO(kmig_track(dev, fd, 255 * PG, 2 * PG, NULL), EINVAL, "TRACK past EOF");
	EXPECT_ERRNO(kmig_track(dev, fd, ~0ULL & ~(PG - 1), 2 * PG, NULL), EINVAL,
		     "TRACK offset+length wraps");
	EXPECT_ERRNO(kmig_track(dev, fd, 0, (KMIG_MAX_RANGE_PAGES + 1) * PG, NULL), EINVAL,
		     "TRACK longer than the limit");
	EXPECT_OK(kmig_track(dev, fd, 0, 16 * PG, &id), "TRACK pages 0-15");
	EXPECT_ERRNO(kmig_track(dev, fd, 15 * PG, 2 * PG, NULL), EBUSY, "TRACK overlap, same fd");
	EXPECT_ERRNO(kmig_track(dev2, fd, 0, PG, NULL), EBUSY, "TRACK overlap, other /dev/kmig fd");
	EXPECT_OK(kmig_untrack(dev, id), "UNTRACK");
	EXPECT_ERRNO(kmig_untrack(dev, id), ENOENT, "UNTRACK twice");
	EXPECT_OK(kmig_track(dev2, fd, 0, PG, &id), "TRACK after UNTRACK, other fd");
	kmig_untrack(dev2, id);
	tiny = memfd_map(KMIG_MAX_RANGES * 2 * PG, &map);
	for (i = 0, ok = 1; i < KMIG_MAX_RANGES && ok; i++)
		ok = !kmig_track(dev, tiny, (uint64_t)i * PG, PG, &ids[i]);
	tap(ok, "TRACK %d ranges on one fd", KMIG_MAX_RANGES);
	EXPECT_ERRNO(kmig_track(dev, tiny, KMIG_MAX_RANGES * PG, PG, NULL), ENOSPC,
		     "TRACK one range too many");
	for (i = 0; i < KMIG_MAX_RANGES; i++)
		kmig_untrack(dev, ids[i]);
	EXPECT_OK(kmig_track(dev, tiny, KMIG_MAX_RANGES * PG, PG, &id), "TRACK after untracking all");
	close(tiny);
	close(ro);
	close(nul);
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
	close(dev);
	close(dev2);
}

static void abi_harvest(void)
{
	uint64_t bm[4] = { 0 };
	struct big b;
	struct kmig_harvest h;
	struct kmig_stats s = { .argsz = sizeof(s) };
	int dev = kmig_open_api();
	uint32_t id = 0;
	char *map;
	int fd = memfd_map(130 * PG, (void **)&map);

	tap(dev >= 0 && fd >= 0 && !kmig_track(dev, fd, 0, 130 * PG, &id),
	    "set-up: a 130-page range");
	EXPECT_ERRNO(kmig_harvest(dev, id + 100, bm, sizeof(bm)), ENOENT, "HARVEST unknown id");
	EXPECT_ERRNO(kmig_harvest(dev, id, bm, 16), EINVAL, "HARVEST bitmap 1 word short");
	h = (struct kmig_harvest){ .argsz = sizeof(h), .id = id, .flags = 4,
				   .bitmap = (uintptr_t)bm, .bitmap_bytes = sizeof(bm) };
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_HARVEST, &h), EINVAL, "HARVEST unknown flag");
	h.flags = 0;
	h.argsz = 12;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_HARVEST, &h), EINVAL, "HARVEST argsz too small");
	memset(&b, 0, sizeof(b));
	b.harvest = (struct kmig_harvest){ .argsz = sizeof(b), .id = id,
					   .bitmap = (uintptr_t)bm, .bitmap_bytes = sizeof(bm) };
	b.tail[0] = 1;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_HARVEST, &b), E2BIG, "HARVEST non-zero tail");
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_HARVEST, (void *)8), EFAULT, "HARVEST bad struct pointer");
	kmig_harvest(dev, id, bm, sizeof(bm));		/* arm */
	map[0] = 1;
	map[129 * PG] = 1;
	EXPECT_ERRNO(kmig_harvest(dev, id, (uint64_t *)16, sizeof(bm)), EFAULT,
		     "HARVEST into a bad bitmap pointer");
	memset(bm, 0xff, sizeof(bm));
	tap(kmig_harvest(dev, id, bm, sizeof(bm)) == 2 && bm[0] == 1 && bm[1] == 0 &&
	    bm[2] == 2 && bm[3] == ~0ULL,
	    "pages found before the EFAULT are reported by the next harvest (tail words untouched)");
	s.id = id;
	EXPECT_OK(ioctl(dev, KMIG_IOC_STATS, &s), "STATS");
	tap(s.harvests == 2 && s.pages_scanned == 260 && s.pages_dirty == 2,
	    "STATS counts (harvests %llu scanned %llu dirty %llu)",
	    (unsigned long long)s.harvests, (unsigned long long)s.pages_scanned,
	    (unsigned long long)s.pages_dirty);
	s.id = id + 1;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_STATS, &s), ENOENT, "STATS unknown id");
	s.argsz = 4;
	EXPECT_ERRNO(ioctl(dev, KMIG_IOC_STATS, &s), EINVAL, "STATS argsz too small");
	close(fd);
	close(dev);
}

void vmtest_abi(void)
{
	abi_handshake();
	abi_track();
	abi_harvest();
}
