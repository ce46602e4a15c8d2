/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * track_child.h: the test fixture the tracker tests share: a forked child
 * plays the workload (a memfd block, its own userfaultfd sent over
 * SCM_RIGHTS, writes on command) and the parent tracks it, with helpers
 * that check each harvest returns exactly the pages written and that the
 * memfd holds what was written.  Test-only; static functions.
 */
#ifndef KMIG_TEST_TRACK_CHILD_H
#define KMIG_TEST_TRACK_CHILD_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "tracker.h"
#include "uffd_compat.h"

#pragma GCC diagnostic ignored "-Wunused-function"

#define BLOCK_LEN	(64ULL << 20)
#define CMD_TIMEOUT_MS	60000

enum { OP_WRITE = 1, OP_WRITE_ALL, OP_WRITE_KERNEL, OP_EXIT };

struct cmd {
	uint32_t op;
	uint32_t count;		/* page indices that follow */
	uint64_t value;
};

struct fixture {
	pid_t pid;		/* the child, 0 once reaped */
	int sock;
	int uffd;		/* the child's userfaultfd (our copy) */
	int memfd;
	uint64_t addr;		/* the block in the child */
	uint64_t ps, npages;
	uint8_t *view;		/* our own mapping of the memfd */
	uint64_t *expect;	/* per page: value last written, 0 = never */
	uint64_t *bm;
	struct kmig_tracker tr;
};

/* SCM_RIGHTS buffer for two fds, aligned for struct cmsghdr */
union fdbuf {
	char buf[CMSG_SPACE(2 * sizeof(int))];
	struct cmsghdr align;
};

static uint64_t pat(uint64_t v, uint64_t pg, uint64_t j)
{
	return v ^ (pg << 24) ^ j;
}

static void fill(void *page, uint64_t ps, uint64_t v, uint64_t pg)
{
	uint64_t *w = page, j;

	for (j = 0; j < ps / 8; j++)
		w[j] = pat(v, pg, j);
}

static int io_full(int fd, void *buf, size_t n, bool wr)
{
	char *p = buf;

	while (n) {
		ssize_t r = wr ? write(fd, p, n) : read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= r;
	}
	return 0;
}

/* ---- the child: the workload ---- */

static void child_kernel_write(int pfd[2], void *dst, uint64_t ps, uint64_t v, uint64_t pg,
			       void *tmp)
{
	fill(tmp, ps, v, pg);
	/* read(2) into the page: the kernel writes it via copy_to_user */
	if (io_full(pfd[1], tmp, ps, true) || io_full(pfd[0], dst, ps, false))
		_exit(5);
}

static void __attribute__((noreturn)) child_main(int sock, pid_t parent)
{
	uint64_t ps = sysconf(_SC_PAGESIZE), npages = BLOCK_LEN / ps, addr, i;
	union fdbuf cbuf;
	struct iovec iov = { .iov_base = &addr, .iov_len = sizeof(addr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			     .msg_controllen = sizeof(cbuf.buf) };
	struct cmsghdr *cm;
	int memfd, uffd, fds[2], pfd[2];
	uint8_t *map;
	void *tmp;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(2);
	memfd = memfd_create("kmig-test-block", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, BLOCK_LEN) < 0)
		_exit(3);
	map = mmap(NULL, BLOCK_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	tmp = malloc(ps);
	if (map == MAP_FAILED || uffd < 0 || !tmp || pipe2(pfd, O_CLOEXEC) < 0)
		_exit(4);
	addr = (uintptr_t)map;
	memset(&cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	fds[0] = uffd;
	fds[1] = memfd;
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	if (sendmsg(sock, &mh, 0) != sizeof(addr))
		_exit(5);

	for (;;) {
		struct cmd c;
		uint64_t *pages = NULL;
		int32_t status = 0;

		if (io_full(sock, &c, sizeof(c), false))
			_exit(6);		/* parent gone */
		if (c.count) {
			pages = malloc(c.count * sizeof(*pages));
			if (!pages || io_full(sock, pages, c.count * sizeof(*pages), false))
				_exit(7);
		}
		for (i = 0; i < c.count; i++)
			if (pages[i] >= npages)
				status = -1;
		if (!status) {
			switch (c.op) {
			case OP_WRITE:
				for (i = 0; i < c.count; i++)
					fill(map + pages[i] * ps, ps, c.value, pages[i]);
				break;
			case OP_WRITE_ALL:
				for (i = 0; i < npages; i++)
					fill(map + i * ps, ps, c.value, i);
				break;
			case OP_WRITE_KERNEL:
				for (i = 0; i < c.count; i++)
					child_kernel_write(pfd, map + pages[i] * ps, ps, c.value,
							   pages[i], tmp);
				break;
			case OP_EXIT:
				break;
			default:
				status = -1;
			}
		}
		free(pages);
		if (io_full(sock, &status, sizeof(status), true))
			_exit(8);
		if (c.op == OP_EXIT)
			_exit(0);
	}
}

/* ---- the parent ---- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int child_cmd(struct fixture *f, uint32_t op, uint64_t value, const uint64_t *pages,
		     uint32_t count)
{
	struct cmd c = { .op = op, .count = count, .value = value };
	struct pollfd pfd = { .fd = f->sock, .events = POLLIN };
	int32_t status;
	uint64_t i;

	if (io_full(f->sock, &c, sizeof(c), true) ||
	    (count && io_full(f->sock, (void *)pages, count * sizeof(*pages), true)))
		return -1;
	if (poll(&pfd, 1, CMD_TIMEOUT_MS) != 1) {
		print_error("child did not answer op %u within %d ms (hung?)\n", op,
			    CMD_TIMEOUT_MS);
		return -1;
	}
	if (io_full(f->sock, &status, sizeof(status), false) || status)
		return -1;
	if (op == OP_WRITE || op == OP_WRITE_KERNEL)
		for (i = 0; i < count; i++)
			f->expect[pages[i]] = value;
	else if (op == OP_WRITE_ALL)
		for (i = 0; i < f->npages; i++)
			f->expect[i] = value;
	return 0;
}

/* Tells the child to exit and reaps it; returns its wait status or -1. */
static int child_exit(struct fixture *f)
{
	int st, i;

	if (child_cmd(f, OP_EXIT, 0, NULL, 0))
		return -1;
	for (i = 0; i < 1000; i++) {
		pid_t r = waitpid(f->pid, &st, WNOHANG);

		if (r == f->pid) {
			f->pid = 0;
			return st;
		}
		if (r < 0)
			return -1;
		usleep(10000);
	}
	return -1;
}

static void fixture_free(struct fixture *f)
{
	kmig_tracker_close(&f->tr);
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	if (f->view && f->view != MAP_FAILED)
		munmap(f->view, BLOCK_LEN);
	if (f->sock >= 0)
		close(f->sock);
	if (f->uffd >= 0)
		close(f->uffd);
	if (f->memfd >= 0)
		close(f->memfd);
	free(f->expect);
	free(f->bm);
	free(f);
}

static int setup(void **state)
{
	union fdbuf cbuf;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			     .msg_controllen = sizeof(cbuf.buf) };
	struct pollfd pfd;
	struct cmsghdr *cm;
	struct fixture *f;
	pid_t parent = getpid();
	int sv[2], fds[2];

	f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->sock = f->uffd = f->memfd = -1;
	f->ps = sysconf(_SC_PAGESIZE);
	f->npages = BLOCK_LEN / f->ps;
	f->expect = calloc(f->npages, sizeof(*f->expect));
	f->bm = calloc(f->npages / 64, sizeof(*f->bm));
	if (!f->expect || !f->bm || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
	fflush(stdout);
	fflush(stderr);
	f->pid = fork();
	if (f->pid < 0)
		goto fail;
	if (f->pid == 0) {
		close(sv[0]);
		child_main(sv[1], parent);
	}
	close(sv[1]);
	f->sock = sv[0];

	pfd.fd = f->sock;
	pfd.events = POLLIN;
	iov.iov_base = &f->addr;
	iov.iov_len = sizeof(f->addr);
	if (poll(&pfd, 1, CMD_TIMEOUT_MS) != 1 || recvmsg(f->sock, &mh, MSG_CMSG_CLOEXEC) !=
	    sizeof(f->addr))
		goto fail;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(fds)))
		goto fail;
	memcpy(fds, CMSG_DATA(cm), sizeof(fds));
	f->uffd = fds[0];
	f->memfd = fds[1];
	/* Same address as the child's where free: the wrong-uffd case uses it. */
	f->view = mmap((void *)(uintptr_t)f->addr, BLOCK_LEN, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED_NOREPLACE, f->memfd, 0);
	if (f->view == MAP_FAILED)
		f->view = mmap(NULL, BLOCK_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	if (f->view == MAP_FAILED)
		goto fail;
	*state = f;
	return 0;
fail:
	print_error("setup failed: %s\n", strerror(errno));
	fixture_free(f);
	return -1;
}

static int teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

/* the child's block as a one-range target; @r holds the range */
static struct kmig_track_target target_of(const struct fixture *f, struct kmig_track_range *r)
{
	*r = (struct kmig_track_range){ .name = "ram0", .addr = f->addr, .len = BLOCK_LEN,
					.memfd = f->memfd, .uffd = f->uffd };
	return (struct kmig_track_target){ .pid = f->pid, .nranges = 1, .ranges = r };
}
#define target(f) target_of((f), &range)

/* Harvest into a zeroed bitmap; *ms gets the time of the call. */
static long harvest(struct fixture *f, double *ms)
{
	double t0;
	long n;

	memset(f->bm, 0, f->npages / 8);
	t0 = now_ms();
	n = kmig_tracker_harvest(&f->tr, &f->bm);
	if (ms)
		*ms = now_ms() - t0;
	return n;
}

/* f->bm must hold exactly @pages (duplicates allowed). */
static void assert_bits(const struct fixture *f, const uint64_t *pages, size_t n)
{
	uint64_t *want = calloc(f->npages / 64, sizeof(*want)), i;
	int bad = 0;

	assert_non_null(want);
	for (i = 0; i < n; i++)
		want[pages[i] / 64] |= 1ULL << (pages[i] % 64);
	for (i = 0; i < f->npages; i++) {
		bool w = want[i / 64] >> (i % 64) & 1, g = f->bm[i / 64] >> (i % 64) & 1;

		if (w != g && bad++ < 10)
			print_error("page %" PRIu64 ": want %d got %d\n", i, w, g);
	}
	free(want);
	assert_int_equal(bad, 0);
}

static void assert_all_bits(const struct fixture *f)
{
	uint64_t i;

	for (i = 0; i < f->npages / 64; i++)
		assert_true(f->bm[i] == ~0ULL);
}

/* Our own mapping of the memfd must hold what the child wrote. */
static void assert_contents(const struct fixture *f)
{
	uint64_t *tmp = malloc(f->ps), pg;
	int bad = 0;

	assert_non_null(tmp);
	for (pg = 0; pg < f->npages; pg++) {
		if (f->expect[pg])
			fill(tmp, f->ps, f->expect[pg], pg);
		else
			memset(tmp, 0, f->ps);
		if (memcmp(tmp, f->view + pg * f->ps, f->ps) && bad++ < 10)
			print_error("page %" PRIu64 " contents differ\n", pg);
	}
	free(tmp);
	assert_int_equal(bad, 0);
}

#endif
