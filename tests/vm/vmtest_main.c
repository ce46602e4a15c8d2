// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtest_main.c: kmig-vmtest, the in-VM test of /dev/kmig.  Runs every
 * group (ABI and errnos, access control, exact dirty sets with concurrent
 * writers, unmap/exit, THP) and prints TAP; exit status 1 if any failed.
 * Usage: kmig-vmtest [--rounds N] [--only GROUP]
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmtest.h"

unsigned int tap_n, tap_failed;

int kmig_open_api(void)
{
	struct kmig_api a = { .argsz = sizeof(a), .api = KMIG_API };
	int dev = open("/dev/kmig", O_RDWR | O_CLOEXEC);

	if (dev < 0)
		return -1;
	if (ioctl(dev, KMIG_IOC_API, &a) < 0) {
		int e = errno;

		close(dev);
		errno = e;
		return -1;
	}
	return dev;
}

int kmig_track(int dev, int fd, uint64_t off, uint64_t len, uint32_t *id)
{
	struct kmig_track t = { .argsz = sizeof(t), .fd = fd, .offset = off, .length = len };

	if (ioctl(dev, KMIG_IOC_TRACK, &t) < 0)
		return -1;
	if (id)
		*id = t.id;
	return 0;
}

long kmig_harvest(int dev, uint32_t id, uint64_t *bm, uint64_t bytes)
{
	struct kmig_harvest h = { .argsz = sizeof(h), .id = id,
				  .bitmap = (uintptr_t)bm, .bitmap_bytes = bytes };

	if (ioctl(dev, KMIG_IOC_HARVEST, &h) < 0)
		return -1;
	return (long)h.dirty;
}

int kmig_untrack(int dev, uint32_t id)
{
	struct kmig_untrack u = { .argsz = sizeof(u), .id = id };

	return ioctl(dev, KMIG_IOC_UNTRACK, &u);
}

int memfd_map(uint64_t bytes, void **map)
{
	int fd = memfd_create("kmig-vmtest", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)bytes) < 0)
		goto fail;
	*map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int rounds = 200, ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--only"))
			only = argv[i + 1];
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# kmig-vmtest: %d cpus, %d rounds\n", ncpus, rounds);
	if (!only || !strcmp(only, "abi"))
		vmtest_abi();
	if (!only || !strcmp(only, "access"))
		vmtest_access();
	if (!only || !strcmp(only, "dirty"))
		vmtest_dirty(ncpus, rounds);
	if (!only || !strcmp(only, "lifecycle"))
		vmtest_lifecycle();
	if (!only || !strcmp(only, "thp"))
		vmtest_thp();
	printf("1..%u\n# kmig-vmtest: %u failed\n", tap_n, tap_failed);
	return tap_failed ? 1 : 0;
}
