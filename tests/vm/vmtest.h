/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vmtest.h: shared helpers of the in-VM tests of /dev/kmig (kmig-vmtest):
 * TAP output, the ioctl wrappers, memfd set-up and bitmap compares.  The
 * tests run as static binaries in a throw-away guest, as root, with the
 * module loaded; tests/vm/run_vm.py boots the guest and reads the TAP.
 */
#ifndef KMIG_VMTEST_H
#define KMIG_VMTEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kmig.h>

#define PG 4096UL

extern unsigned int tap_n, tap_failed;

static inline void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %u - ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	tap_failed += !ok;
}

/* ret must be -1 with errno @want */
#define EXPECT_ERRNO(ret, want, name)						\
	do {									\
		int _r = (ret), _e = errno;					\
		tap(_r == -1 && _e == (want), "%s: %s (got %d, %s)", (name),	\
		    #want, _r, _r == -1 ? strerror(_e) : "success");		\
	} while (0)

#define EXPECT_OK(ret, name)							\
	do {									\
		int _r = (ret), _e = errno;					\
		tap(_r == 0, "%s (got %d, %s)", (name), _r, _r ? strerror(_e) : "ok"); \
	} while (0)

/* opens /dev/kmig and does the handshake; -1 on failure (errno set) */
int kmig_open_api(void);
int kmig_track(int dev, int fd, uint64_t off, uint64_t len, uint32_t *id);
/* harvest into @bm (overwritten); returns dirty pages or -1 */
long kmig_harvest(int dev, uint32_t id, uint64_t *bm, uint64_t bytes);
int kmig_untrack(int dev, uint32_t id);
/* a memfd of @bytes, mapped shared at *@map; -1 on failure */
int memfd_map(uint64_t bytes, void **map);

void vmtest_abi(void);
void vmtest_access(void);
void vmtest_dirty(int ncpus, int rounds);
void vmtest_lifecycle(void);
void vmtest_thp(void);

#endif
