// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_track.c: uffd-wp against bpf on one workload, for `make bench`
 * (tests/bench/bench_bpf.py prints the ratios).  A forked child holds a
 * memfd block (1 GiB by default), every page written once up front, and
 * its userfaultfd.  For each dirty share (1/10/100 % by default) and each
 * round, the same random page set is written untracked, under uffd-wp and
 * under bpf, in an order that alternates between rounds so the three share
 * the machine's noise.  Each tracked run opens and arms its tracker, does
 * one untimed write+harvest (steady state: the program loaded, the pages
 * protected by a harvest), then the timed one: the child times its own
 * writes (ns per page, the write faults included), the parent times the
 * harvest and checks it against the set (missed / extra pages).  The
 * untracked run writes the set twice and times the second pass.  A fourth
 * run, "bitmap-only", is the design the bpf back end does not ship: swap
 * the program's bitmap and re-protect without reading PAGEMAP_SCAN's
 * answer back (cheaper, but blind to get_user_pages writes and racy with
 * faults in flight, see track_bpf.c); it is here to show what it would
 * save.  One JSON line per run on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpf_dirty.h"
#include "log.h"
#include "track_bpf.h"
#include "tracker.h"
#include "uffd_arm.h"
#include "uffd_compat.h"

#define PS 4096ULL

struct shm {
	uint64_t addr;
	uint64_t npages;
	uint64_t nset;
	int64_t write_ns;	/* child: time to write the set */
	uint32_t set[];		/* page indices, ascending */
};

static struct shm *shm;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void __attribute__((noreturn)) child(int sock, uint64_t size)
{
	int fds[2];
	char c = 'r', cbuf[CMSG_SPACE(sizeof(fds))] = { 0 };
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	volatile char *m;
	uint64_t gen = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fds[0] = memfd_create("bench-block", MFD_CLOEXEC);
	fds[1] = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fds[0] < 0 || fds[1] < 0 || ftruncate(fds[0], (off_t)size) < 0)
		_exit(2);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (m == MAP_FAILED)
		_exit(2);
	for (uint64_t p = 0; p < size / PS; p++)	/* populated: faults are WP faults */
		m[p * PS] = 1;
	shm->addr = (uintptr_t)m;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	if (sendmsg(sock, &mh, 0) != 1)
		_exit(2);
	while (read(sock, &c, 1) == 1) {
		int64_t t0 = now_ns();

		gen++;
		for (uint64_t i = 0; i < shm->nset; i++)
			m[(uint64_t)shm->set[i] * PS + 64] = (char)gen;
		shm->write_ns = now_ns() - t0;
		if (write(sock, &c, 1) != 1)
			_exit(2);
	}
	_exit(0);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* the bitmap-only variant: the program and an arm, no tracker around them */
struct bitmap_only {
	struct kmig_bpf_dirty *bd;
	struct kmig_uffd_arm *arm;
};

static int bo_open(struct bitmap_only *b, pid_t pid, const struct kmig_track_range *r)
{
	struct kmig_bpf_dirty_range dr = { .start = r->addr, .len = r->len };
	char why[256];
	int err = kmig_bpf_dirty_open(&b->bd, pid, &dr, 1, why, sizeof(why));

	if (!err)
		b->arm = kmig_uffd_arm_open(pid, r->uffd, r->addr, r->len, r->uffd_api_done, &err);
	if (!err) {
		kmig_bpf_dirty_clear(b->bd);
		err = kmig_uffd_arm_reprotect(b->arm);
	}
	return err;
}

static long bo_harvest(struct bitmap_only *b, uint64_t *bm)
{
	long n = (long)kmig_bpf_dirty_take(b->bd, 0, bm);
	int err = kmig_uffd_arm_reprotect(b->arm);

	return err ? err : n;
}

static void bo_close(struct bitmap_only *b)
{
	kmig_bpf_dirty_close(b->bd);
	kmig_uffd_arm_close(b->arm, false);
	memset(b, 0, sizeof(*b));
}

int main(int argc, char **argv)
{
	uint64_t size = argc > 1 ? strtoull(argv[1], NULL, 0) << 20 : 1ULL << 30;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	const int pcts[] = { 1, 10, 100 };
	const char *const trackers[] = { "none", "uffd-wp", "bpf", "bitmap-only" };
	uint64_t npages = size / PS, seed = 42, *bm;
	uint64_t *bms[1];
	int sv[2], fds[2];
	char c, cbuf[CMSG_SPACE(sizeof(fds))];
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	bool api_done = false;
	pid_t pid;

	kmig_log_max = KMIG_LOG_WARN;
	if (!npages || rounds < 1 || rounds > 100) {
		fprintf(stderr, "usage: bench_track [MiB] [rounds]\n");
		return 2;
	}
	shm = mmap(NULL, sizeof(*shm) + npages * sizeof(uint32_t), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	bm = calloc((npages + 63) / 64, 8);
	if (shm == MAP_FAILED || !bm || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 1;
	bms[0] = bm;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		child(sv[1], size);
	}
	close(sv[1]);
	if (pid < 0 || recvmsg(sv[0], &mh, 0) != 1 || !CMSG_FIRSTHDR(&mh)) {
		fprintf(stderr, "bench_track: the workload child failed to start\n");
		return 1;
	}
	memcpy(fds, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(fds));

	for (size_t pi = 0; pi < sizeof(pcts) / sizeof(pcts[0]); pi++) {
		for (int r = 0; r < rounds; r++) {
			shm->nset = 0;
			for (uint64_t p = 0; p < npages; p++)
				if (pcts[pi] == 100 || rnd(&seed) % 100 < (uint64_t)pcts[pi])
					shm->set[shm->nset++] = (uint32_t)p;
			for (size_t o = 0; o < 4; o++) {
				/* none first, then the three in a rotating order */
				size_t ti = o == 0 ? 0 : 1 + (o - 1 + (size_t)r) % 3;
				struct kmig_track_range rg = { .name = "bench", .addr = shm->addr,
					.len = size, .memfd = fds[0], .uffd = fds[1],
					.uffd_api_done = &api_done };
				struct kmig_track_target t = { .pid = pid, .nranges = 1, .ranges = &rg };
				struct kmig_track_bpf_stats bs = { 0 };
				struct kmig_tracker tr;
				struct bitmap_only bo = { 0 };
				bool bitmap_only = ti == 3;
				uint64_t missed = 0, extra = 0, k = 0;
				int64_t h0, hns = 0;
				long n = 0;
				bool tracked = ti > 0;

				if (tracked && (bitmap_only ? bo_open(&bo, pid, &rg) :
						(kmig_tracker_open(&tr, trackers[ti], &t) ||
						 kmig_tracker_harvest(&tr, bms) < 0))) {
					const char *why = kmig_track_bpf_unavailable();

					printf("{\"error\": \"cannot open %s: %s\"}\n", trackers[ti],
					       why ? why : "see log");
					return 1;
				}
				/* the untimed pass */
				if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1)
					return 1;
				if (tracked && (bitmap_only ? bo_harvest(&bo, bm) :
						kmig_tracker_harvest(&tr, bms)) < 0)
					return 1;
				if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1)
					return 1;
				if (tracked) {
					struct kmig_track_bpf_stats b0;

					memset(bm, 0, (npages + 63) / 64 * 8);
					if (!bitmap_only)	/* -ENOTSUP for uffd-wp: zeroes */
						kmig_track_bpf_stats(&tr, &b0);
					h0 = now_ns();
					n = bitmap_only ? bo_harvest(&bo, bm) : kmig_tracker_harvest(&tr, bms);
					hns = now_ns() - h0;
					if (bitmap_only) {
						bo_close(&bo);
					} else {
						kmig_track_bpf_stats(&tr, &bs);
						bs.take_ns -= b0.take_ns;
						bs.protect_ns -= b0.protect_ns;
						kmig_tracker_close(&tr);
					}
					for (uint64_t p = 0; p < npages; p++) {
						bool want = k < shm->nset && shm->set[k] == p;
						bool got = bm[p / 64] >> (p % 64) & 1;

						k += want;
						missed += want && !got;
						extra += got && !want;
					}
				}
				printf("{\"pct\": %d, \"round\": %d, \"tracker\": \"%s\", \"pages\": %" PRIu64
				       ", \"reported\": %ld, \"missed\": %" PRIu64 ", \"extra\": %" PRIu64
				       ", \"harvest_ms\": %.3f, \"take_ms\": %.3f, \"protect_ms\": %.3f"
				       ", \"write_ns_per_page\": %.1f}\n", pcts[pi], r, trackers[ti],
				       shm->nset, n, missed, extra, hns / 1e6, bs.take_ns / 1e6,
				       bs.protect_ns / 1e6, shm->nset ? (double)shm->write_ns /
				       (double)shm->nset : 0.0);
				fflush(stdout);
			}
		}
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	return 0;
}
