// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_track_uffd.c: the uffd-wp tracker against a real second process.
 * A forked child plays the workload (a memfd block, its own userfaultfd
 * sent over SCM_RIGHTS, writes on command); the parent tracks it and checks
 * that each harvest returns exactly the pages written and that the memfd
 * holds what was written.  Also prints rough harvest timings as '#' lines.
 */
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

static void test_probe(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range;
	struct kmig_track_target t = target(f);

	assert_int_equal(kmig_track_uffd_ops.probe(&t), 0);
	assert_int_equal(kmig_track_uffd_ops.probe(&t), 0);	/* cached */
	range.uffd = -1;
	assert_int_equal(kmig_track_uffd_ops.probe(&t), -EBADF);
}

static void test_exact_set(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range;
	struct kmig_track_target t = target(f);
	const uint64_t last = f->npages - 1;
	const uint64_t set1[] = { 0, 1, 2, 100, 4095, 4096, 5000, last - 1, last };
	const uint64_t twice[] = { 10, 11 }, again[] = { 10 };
	const uint64_t kern[] = { 77, 78, 9000 };
	const uint64_t after[] = { 3, last - 2 };
	int st;

	assert_int_equal(kmig_tracker_open(&f->tr, "auto", &t), 0);
	assert_ptr_equal(f->tr.ops, &kmig_track_uffd_ops);
	assert_string_equal(f->tr.ops->name, "uffd-wp");

	/* arm: everything; then nothing */
	assert_int_equal(harvest(f, NULL), (long)f->npages);
	assert_all_bits(f);
	assert_int_equal(harvest(f, NULL), 0);
	assert_bits(f, NULL, 0);

	/* adjacent runs, isolated pages, first and last page */
	assert_int_equal(child_cmd(f, OP_WRITE, 0x1111, set1, 9), 0);
	assert_int_equal(harvest(f, NULL), 9);
	assert_bits(f, set1, 9);
	assert_int_equal(harvest(f, NULL), 0);

	/* a page written twice between harvests counts once */
	assert_int_equal(child_cmd(f, OP_WRITE, 0x2222, twice, 2), 0);
	assert_int_equal(child_cmd(f, OP_WRITE, 0x3333, again, 1), 0);
	assert_int_equal(harvest(f, NULL), 2);
	assert_bits(f, twice, 2);

	/* writes done by the kernel on the workload's behalf (read(2)) count */
	assert_int_equal(child_cmd(f, OP_WRITE_KERNEL, 0x4444, kern, 3), 0);
	assert_int_equal(harvest(f, NULL), 3);
	assert_bits(f, kern, 3);

	/*
	 * Tracking is per mm: a write through another mapping of the memfd
	 * (ours here; kmigd's, a second process's, write(2) on the fd) is
	 * not seen.  Pinned so a change of behaviour shows up.
	 */
	fill(f->view + 20 * f->ps, f->ps, 0xabcd, 20);
	f->expect[20] = 0xabcd;
	assert_int_equal(harvest(f, NULL), 0);

	/* a missing bitmap is refused, not dereferenced */
	{
		uint64_t *none[1] = { NULL };

		assert_int_equal(kmig_tracker_harvest(&f->tr, none), -EINVAL);
		assert_int_equal(kmig_tracker_harvest(&f->tr, NULL), -EINVAL);
	}
	assert_int_equal(harvest(f, NULL), 0);
	assert_contents(f);

	/* after close the workload runs on unaffected */
	kmig_tracker_close(&f->tr);
	assert_null(f->tr.ops);
	assert_int_equal(child_cmd(f, OP_WRITE, 0x5555, after, 2), 0);
	assert_int_equal(child_cmd(f, OP_WRITE, 0x6666, set1, 9), 0);
	assert_contents(f);
	st = child_exit(f);
	assert_true(st >= 0 && WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_timing(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range;
	struct kmig_track_target t = target(f);
	uint64_t nr = f->npages / 100, seed = 0x9e3779b97f4a7c15ULL, *pages;
	enum kmig_log_level old = kmig_log_max;
	double ms, wms;
	int round;
	long n;

	pages = malloc(nr * sizeof(*pages));
	assert_non_null(pages);
	kmig_log_max = KMIG_LOG_DEBUG;		/* shows what the kernel reported at arm */
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &t), 0);
	n = harvest(f, &ms);
	kmig_log_max = old;
	assert_int_equal(n, (long)f->npages);
	printf("# uffd-wp 64MiB arm (unpopulated): %.3f ms\n", ms);
	n = harvest(f, &ms);
	assert_int_equal(n, 0);
	printf("# uffd-wp 64MiB clean: %.3f ms\n", ms);

	for (round = 0; round < 2; round++) {
		wms = now_ms();
		assert_int_equal(child_cmd(f, OP_WRITE_ALL, 0x100 + round, NULL, 0), 0);
		wms = now_ms() - wms;
		n = harvest(f, &ms);
		assert_int_equal(n, (long)f->npages);
		assert_all_bits(f);
		printf("# uffd-wp 64MiB all-dirty: harvest %.3f ms (workload write of 16384 pages %.0f ms)\n",
		       ms, wms);
	}
	for (round = 0; round < 3; round++) {
		uint64_t i, j;

		for (i = 0; i < nr; i++) {
again:
			pages[i] = xorshift(&seed) % f->npages;
			for (j = 0; j < i; j++)
				if (pages[j] == pages[i])
					goto again;
		}
		assert_int_equal(child_cmd(f, OP_WRITE, 0x200 + round, pages, nr), 0);
		n = harvest(f, &ms);
		assert_int_equal(n, (long)nr);
		assert_bits(f, pages, nr);
		printf("# uffd-wp 64MiB 1%%-random (%" PRIu64 " pages): harvest %.3f ms\n", nr, ms);
	}
	n = harvest(f, &ms);
	assert_int_equal(n, 0);
	printf("# uffd-wp 64MiB clean after dirtying: %.3f ms\n", ms);
	fflush(stdout);
	assert_contents(f);
	free(pages);
}

/* Every other page: 8192 runs, twice what one PAGEMAP_SCAN call can return. */
static void test_many_runs(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range;
	struct kmig_track_target t = target(f);
	uint64_t nr = f->npages / 2, i, *pages = malloc(nr * sizeof(*pages));
	double ms;
	long n;

	assert_non_null(pages);
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &t), 0);
	assert_int_equal(harvest(f, NULL), (long)f->npages);
	for (i = 0; i < nr; i++)
		pages[i] = 2 * i + 1;
	assert_int_equal(child_cmd(f, OP_WRITE, 0x8888, pages, nr), 0);
	n = harvest(f, &ms);
	assert_int_equal(n, (long)nr);
	assert_bits(f, pages, nr);
	printf("# uffd-wp 64MiB every other page (%" PRIu64 " runs): harvest %.3f ms\n", nr, ms);
	assert_int_equal(harvest(f, NULL), 0);
	for (i = 0; i < nr; i++)
		pages[i] = 2 * i;
	assert_int_equal(child_cmd(f, OP_WRITE, 0x9999, pages, nr), 0);
	assert_int_equal(harvest(f, NULL), (long)nr);
	assert_bits(f, pages, nr);
	assert_contents(f);
	free(pages);
}

static void test_child_exited(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range;
	struct kmig_track_target t = target(f);
	const uint64_t some[] = { 5, 6, 7 };
	uint64_t i;
	int st;
	long n;

	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &t), 0);
	assert_int_equal(harvest(f, NULL), (long)f->npages);
	assert_int_equal(child_cmd(f, OP_WRITE, 0x7777, some, 3), 0);
	st = child_exit(f);
	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

	n = harvest(f, NULL);
	printf("# harvest after the workload exited: %ld (%s)\n", n, strerror((int)-n));
	assert_true(n < 0);
	assert_int_equal(n, -ESRCH);
	for (i = 0; i < f->npages / 64; i++)
		assert_true(f->bm[i] == 0);	/* nothing written on failure */
	kmig_tracker_close(&f->tr);		/* no crash, no hang */
	assert_contents(f);
}

static void test_bad_open(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range range, br;
	struct kmig_track_target t = target(f), b = t;
	pid_t dead;
	int st, fresh;
	long n;

	assert_int_equal(kmig_tracker_open(&f->tr, "no-such-tracker", &t), -ENOENT);
	assert_null(f->tr.ops);
	assert_int_equal(kmig_tracker_harvest(&f->tr, &f->bm), -EBADF);

	/* a pid that is gone: fails before the uffd is touched */
	dead = fork();
	assert_true(dead >= 0);
	if (!dead)
		_exit(0);
	assert_int_equal(waitpid(dead, &st, 0), dead);
	br = range;
	b.ranges = &br;
	b.pid = dead;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -ENOENT);
	b.pid = -1;
	assert_int_equal(kmig_tracker_open(&f->tr, "auto", &b), -EINVAL);

	/* no uffd, not a uffd, bad ranges, no ranges */
	b.pid = t.pid;
	br.uffd = -1;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -EBADF);
	br.uffd = f->memfd;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -ENOTTY);
	br = range;
	br.addr += 8;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -EINVAL);
	br = range;
	br.len = 0;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -EINVAL);
	b.nranges = 0;
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &b), -EINVAL);
	b.nranges = 1;

	/* a uffd of another process (ours): the target check refuses it */
	fresh = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	assert_true(fresh >= 0);
	br = range;
	br.uffd = fresh;
	n = kmig_tracker_open(&f->tr, "uffd-wp", &b);
	printf("# open with another process's uffd (view %s child's address): %ld (%s)\n",
	       (uintptr_t)f->view == f->addr ? "at" : "not at", n, strerror((int)-n));
	if ((uintptr_t)f->view == f->addr)
		assert_int_equal(n, -EPERM);
	else
		assert_true(n < 0);
	close(fresh);
	f->view[0] = 1;		/* our own mapping is not left protected */
	f->view[0] = 0;
	assert_null(f->tr.ops);

	/* none of that burnt the child's uffd */
	assert_int_equal(kmig_tracker_open(&f->tr, "auto", &t), 0);
	assert_int_equal(harvest(f, NULL), (long)f->npages);
	assert_int_equal(harvest(f, NULL), 0);
	kmig_tracker_close(&f->tr);

	/* but a uffd is good for one open: the fd must be fresh */
	assert_int_equal(kmig_tracker_open(&f->tr, "uffd-wp", &t), -EINVAL);
	assert_null(f->tr.ops);
	st = child_exit(f);
	assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* the trackset: one back end for every block, and clear refusals */
static void test_trackset(void **state)
{
	struct fixture *f = *state;
	struct kmig_track_range r[2];
	struct kmig_track_target t = target_of(f, &r[0]);
	struct kmig_trackset *s = calloc(1, sizeof(*s));
	uint64_t *bms[2] = { f->bm, NULL };
	const uint64_t pages[] = { 7, 8, 900 };
	char err[256];
	bool api_done = false;

	assert_non_null(s);
	r[0].uffd_api_done = &api_done;	/* a failed open may have used the uffd */
	assert_int_equal(kmig_trackset_open(s, "no-such-tracker", &t, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "dirty tracker 'no-such-tracker' is not available: "
			    "No such file or directory");
	/* a second block without a userfaultfd: no back end here serves it */
	r[1] = r[0];
	r[1].name = "ram1";
	r[1].uffd = -1;
	t.nranges = 2;
	assert_int_equal(kmig_trackset_open(s, "auto", &t, err, sizeof(err)), -EBADF);
	assert_string_equal(err, "cannot track dirty pages of block 'ram1' with any tracker: "
			    "Bad file descriptor");
	assert_int_equal(s->n, 0);

	t.nranges = 1;
	assert_int_equal(kmig_trackset_open(s, "auto", &t, err, sizeof(err)), 0);
	assert_string_equal(s->name, "uffd-wp");
	memset(f->bm, 0, f->npages / 8);
	assert_int_equal(kmig_trackset_harvest(s, bms, err, sizeof(err)), (long)f->npages);
	memset(f->bm, 0, f->npages / 8);
	assert_int_equal(child_cmd(f, OP_WRITE, 0x8888, pages, 3), 0);
	assert_int_equal(kmig_trackset_harvest(s, bms, err, sizeof(err)), 3);
	assert_bits(f, pages, 3);
	{
		struct kmig_track_stats st;

		assert_int_equal(kmig_trackset_stats(s, &st), 0);
		assert_int_equal(st.harvests, 2);
		assert_int_equal(st.pages_dirty, f->npages + 3);
		assert_int_equal(st.pages_scanned, 2 * f->npages);
		assert_true(st.harvest_ns >= st.last_harvest_ns && st.last_harvest_ns > 0);
	}
	kmig_trackset_close(s);
	assert_int_equal(s->n, 0);
	free(s);
	assert_int_equal(child_exit(f) >= 0, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_child_exited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trackset, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
