// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_bpf_track.c: the "bpf" tracker against a real second process with
 * several writer threads.  A forked child plays the workload: three memfd
 * blocks (one not a multiple of 64 pages), a userfaultfd per block handed
 * over with SCM_RIGHTS, four writer threads.  Each round the parent says
 * which thread writes which pages (some through read(2), i.e. by the
 * kernel in copy_to_user), harvests, and checks that the harvest is
 * exactly the pages written (0 missed, 0 extra), that the eBPF program saw
 * every one of them (none left unattributed) and that each thread is
 * credited exactly the pages it dirtied.  Also: writes through
 * /proc/PID/mem (get_user_pages, which the program cannot see) are still
 * reported, as unattributed; a foreign process writing at the same
 * addresses is not counted; harvesting while four threads write flat out
 * loses nothing; a second open after close works; a dead workload gives
 * -ESRCH; without CAP_BPF the tracker refuses with the fallback sentence.
 * Prints TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
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

#include "log.h"
#include "track_bpf.h"
#include "tracker.h"
#include "uffd_compat.h"
#include "wl_child.h"

static int tap_n, tap_failed;

static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	tap_failed += !cond;
}

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* ---- the tracker side (parent) ---- */

struct fixture {
	pid_t pid;
	int sock;
	int memfd[NBLOCKS], uffd[NBLOCKS];
	bool api_done[NBLOCKS];
	struct kmig_track_range ranges[NBLOCKS];
	struct kmig_tracker tr;
	uint64_t *got[NBLOCKS], *want[NBLOCKS];
	uint8_t *view[NBLOCKS];
	uint64_t credited[NTHREADS];	/* thread counts at the last snapshot */
};

static int start_child(struct fixture *f)
{
	int sv[2], fds[2 * NBLOCKS];
	char c, cbuf[CMSG_SPACE(sizeof(fds))];
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	f->pid = fork();
	if (f->pid == 0) {
		close(sv[0]);
		child_main(sv[1]);
	}
	close(sv[1]);
	f->sock = sv[0];
	if (f->pid < 0 || recvmsg(f->sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -EIO;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(fds)))
		return -EPROTO;
	memcpy(fds, CMSG_DATA(cm), sizeof(fds));
	for (int i = 0; i < NBLOCKS; i++) {
		f->memfd[i] = fds[i];
		f->uffd[i] = fds[NBLOCKS + i];
		f->ranges[i] = (struct kmig_track_range){ .name = "blk", .addr = shm->addr[i],
			.len = block_pages[i] * PS, .memfd = fds[i], .uffd = fds[NBLOCKS + i],
			.uffd_api_done = &f->api_done[i] };
		f->view[i] = mmap(NULL, block_pages[i] * PS, PROT_READ, MAP_SHARED, fds[i], 0);
		f->got[i] = calloc((block_pages[i] + 63) / 64, 8);
		f->want[i] = calloc((block_pages[i] + 63) / 64, 8);
		if (f->view[i] == MAP_FAILED || !f->got[i] || !f->want[i])
			return -ENOMEM;
	}
	return 0;
}

static int command(struct fixture *f, uint32_t op)
{
	char c = 'c';

	shm->op = op;
	if (write(f->sock, &c, 1) != 1)
		return -EIO;
	return op == OP_EXIT || read(f->sock, &c, 1) == 1 ? 0 : -EIO;
}

static int open_tracker(struct fixture *f);

static long harvest(struct fixture *f)
{
	uint64_t *bms[NBLOCKS];

	for (int i = 0; i < NBLOCKS; i++) {
		memset(f->got[i], 0, (block_pages[i] + 63) / 64 * 8);
		bms[i] = f->got[i];
	}
	return kmig_tracker_harvest(&f->tr, bms);
}

/* per writer thread: pages credited since the previous call */
static int thread_deltas(struct fixture *f, uint64_t *delta, uint64_t *others)
{
	struct kmig_bpf_thread_pages t[64];
	long n = kmig_track_bpf_threads(&f->tr, t, 64);

	if (n < 0 || n > 64)
		return -EIO;
	*others = 0;
	memset(delta, 0, NTHREADS * sizeof(*delta));
	for (long k = 0; k < n; k++) {
		int idx = -1;

		for (int i = 0; i < NTHREADS; i++)
			if (t[k].tid == shm->tids[i])
				idx = i;
		if (idx < 0) {
			*others += t[k].pages;
			continue;
		}
		delta[idx] = t[k].pages - f->credited[idx];
		f->credited[idx] = t[k].pages;
	}
	return 0;
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool bit(const uint64_t *bm, uint64_t p)
{
	return bm[p / 64] >> (p % 64) & 1;
}

struct round_result {
	uint64_t written, reported, missed, extra, bad_content;
	uint64_t want_thread[NTHREADS];
	bool overlap;
};

/*
 * Plans one round into shm: kind 0 disjoint random pages, 1 overlapping
 * (two threads may write one page), 2 nothing, 3 all of the small block.
 */
static void plan(struct fixture *f, int kind, struct round_result *rr)
{
	uint32_t total = kind == 2 ? 0 : (uint32_t)(rnd() % (NTHREADS * MAXJOBS / 2));

	memset(rr, 0, sizeof(*rr));
	rr->overlap = kind == 1;
	for (int i = 0; i < NBLOCKS; i++)
		memset(f->want[i], 0, (block_pages[i] + 63) / 64 * 8);
	memset(shm->njobs, 0, sizeof(shm->njobs));
	shm->value = rnd() | 1;
	if (kind == 3) {
		for (uint32_t p = 0; p < block_pages[2]; p++) {
			unsigned int t = p % NTHREADS;

			shm->jobs[t][shm->njobs[t]++] = (struct job){ .block = 2, .page = p,
								      .kernel = p % 7 == 0 };
			f->want[2][p / 64] |= 1ULL << (p % 64);
			rr->want_thread[t]++;
		}
		rr->written = block_pages[2];
		return;
	}
	for (uint32_t k = 0; k < total; k++) {
		uint16_t b = (uint16_t)(rnd() % 8 < 5 ? 0 : rnd() % 2 ? 1 : 2);
		uint32_t p = (uint32_t)(rnd() % block_pages[b]);
		unsigned int t = (unsigned int)(rnd() % NTHREADS);
		bool seen = bit(f->want[b], p);

		if (shm->njobs[t] == MAXJOBS)
			continue;
		if (seen && !rr->overlap) {
			/* disjoint: the page's owner writes it again (counts once) */
			continue;
		}
		shm->jobs[t][shm->njobs[t]++] = (struct job){ .block = b, .page = p,
							      .kernel = rnd() % 10 == 0 };
		if (!seen) {
			f->want[b][p / 64] |= 1ULL << (p % 64);
			rr->written++;
			rr->want_thread[t]++;
		}
	}
	/* repeat some writes of each thread: a page dirtied twice counts once */
	for (unsigned int t = 0; t < NTHREADS; t++)
		for (uint32_t j = 0; j < shm->njobs[t] / 8 && shm->njobs[t] < MAXJOBS; j++)
			shm->jobs[t][shm->njobs[t]++] = shm->jobs[t][j];
}

static void compare(struct fixture *f, long n, struct round_result *rr)
{
	rr->reported = n < 0 ? 0 : (uint64_t)n;
	for (int b = 0; b < NBLOCKS; b++) {
		for (uint64_t p = 0; p < block_pages[b]; p++) {
			bool w = bit(f->want[b], p), g = bit(f->got[b], p);

			rr->missed += w && !g;
			rr->extra += g && !w;
		}
	}
	for (unsigned int t = 0; t < NTHREADS; t++) {
		for (uint32_t j = 0; j < shm->njobs[t]; j++) {
			const struct job *jb = &shm->jobs[t][j];
			uint64_t v;

			memcpy(&v, f->view[jb->block] + jb->page * PS + 8 * t, 8);
			rr->bad_content += v != (shm->value ^ jb->page);
		}
	}
}

/*
 * Writers run flat out while the parent harvests every few milliseconds
 * and copies what each harvest reports into a shadow, as a precopy would;
 * after the writers stop, one last harvest and copy must leave the shadow
 * equal to the memory: a write lost between the bitmap swap and the
 * re-protect would leave a stale page behind.
 */
static void test_storm(struct fixture *f, double seconds)
{
	uint8_t *shadow[NBLOCKS] = { NULL };
	uint64_t stale = 0, copied = 0;
	int harvests = 0, errors = 0;
	char c = 's';
	long n;
	struct timespec t0, t;

	for (int b = 0; b < NBLOCKS; b++) {
		shadow[b] = malloc(block_pages[b] * PS);
		if (!shadow[b])
			errors++;
	}
	shm->stop = 0;
	shm->op = OP_STORM;
	if (errors || write(f->sock, &c, 1) != 1)
		errors++;
	/* the arm step and a full copy, while the writers already run */
	kmig_tracker_close(&f->tr);
	if (!errors && (open_tracker(f) || harvest(f) < 0))
		errors++;
	for (int b = 0; !errors && b < NBLOCKS; b++)
		memcpy(shadow[b], f->view[b], block_pages[b] * PS);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (bool last = false; !errors;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (!last && (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > seconds) {
			__atomic_store_n(&shm->stop, 1, __ATOMIC_RELEASE);
			if (read(f->sock, &c, 1) != 1)	/* the writers have stopped */
				errors++;
			last = true;
		}
		n = harvest(f);
		harvests++;
		if (n < 0) {
			errors++;
			break;
		}
		for (int b = 0; b < NBLOCKS; b++)
			for (uint64_t p = 0; p < block_pages[b]; p++)
				if (bit(f->got[b], p)) {
					memcpy(shadow[b] + p * PS, f->view[b] + p * PS, PS);
					copied++;
				}
		if (last)
			break;
		usleep(2000);
	}
	for (int b = 0; !errors && b < NBLOCKS; b++)
		for (uint64_t p = 0; p < block_pages[b]; p++)
			stale += memcmp(shadow[b] + p * PS, f->view[b] + p * PS, PS) != 0;
	diag("storm: %d harvests in %.1f s with %d threads writing flat out, %" PRIu64
	     " pages copied", harvests, seconds, NTHREADS, copied);
	ok(!errors && !stale && harvests >= 4, "storm: harvesting while writers run loses no "
	   "write: %" PRIu64 " stale pages after the final copy (errors %d)", stale, errors);
	for (int b = 0; b < NBLOCKS; b++)
		free(shadow[b]);
}

/* without CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN the tracker must refuse, saying why */
static void test_no_privilege(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct d[2];
		const int drop[] = { 21 /* SYS_ADMIN */, 38 /* PERFMON */, 39 /* BPF */ };
		struct kmig_track_range r = { .name = "x", .addr = 0x10000, .len = PS,
					      .memfd = -1, .uffd = 0 };
		struct kmig_track_target t = { .pid = getpid(), .nranges = 1, .ranges = &r };
		struct kmig_tracker tr;
		const char *why;
		int err;

		if (syscall(SYS_capget, &h, d))
			_exit(10);
		for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
			d[drop[i] / 32].effective &= ~(1U << (drop[i] % 32));
			d[drop[i] / 32].permitted &= ~(1U << (drop[i] % 32));
		}
		if (syscall(SYS_capset, &h, d))
			_exit(11);
		kmig_log_max = KMIG_LOG_ERR;	/* the refusal is checked, not printed */
		err = kmig_tracker_open(&tr, "bpf", &t);
		why = kmig_track_bpf_unavailable();
		if (err != -EPERM)
			_exit(12);
		if (!why || !strstr(why, "CAP_BPF+CAP_PERFMON"))
			_exit(13);
		_exit(0);
	}
	st = -1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	ok(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "without CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN: open fails with EPERM and the "
	   "'needs root or CAP_BPF+CAP_PERFMON' sentence (child exit %d)",
	   WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static int open_tracker(struct fixture *f)
{
	struct kmig_track_target t = { .pid = f->pid, .nranges = NBLOCKS, .ranges = f->ranges };

	memset(f->credited, 0, sizeof(f->credited));
	return kmig_tracker_open(&f->tr, "bpf", &t);
}

static uint64_t unattributed(struct fixture *f)
{
	struct kmig_track_bpf_stats bs;

	return kmig_track_bpf_stats(&f->tr, &bs) ? UINT64_MAX : bs.unattributed;
}

/*
 * The parent writes pages of the child through /proc/PID/mem: the kernel
 * does it with get_user_pages, no page-fault exception, so the program
 * sees nothing; the harvest must report them anyway, as unattributed.
 */
static void test_gup_writes(struct fixture *f, int rounds)
{
	char path[64];
	uint64_t written = 0, missed = 0, extra = 0, credited = 0, unattr = 0, delta[NTHREADS], o;
	uint64_t u0 = unattributed(f);
	int fd, errors = 0;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)f->pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		errors++;
	thread_deltas(f, delta, &o);
	for (int r = 0; fd >= 0 && r < rounds; r++) {
		struct round_result rr = { 0 };
		long n;

		for (int b = 0; b < NBLOCKS; b++)
			memset(f->want[b], 0, (block_pages[b] + 63) / 64 * 8);
		memset(shm->njobs, 0, sizeof(shm->njobs));
		for (int k = 0; k < 200; k++) {
			uint32_t p = (uint32_t)(rnd() % block_pages[1]);
			uint64_t v = rnd();

			if (pwrite(fd, &v, 8, (off_t)(shm->addr[1] + p * PS)) != 8)
				errors++;
			if (!bit(f->want[1], p))
				rr.written++;
			f->want[1][p / 64] |= 1ULL << (p % 64);
		}
		n = harvest(f);
		errors += n < 0;
		compare(f, n, &rr);
		written += rr.written;
		missed += rr.missed;
		extra += rr.extra + (rr.reported != rr.written);
		if (thread_deltas(f, delta, &o) < 0)
			errors++;
		for (int t = 0; t < NTHREADS; t++)
			credited += delta[t];
		credited += o;
	}
	unattr = unattributed(f) - u0;
	if (fd >= 0)
		close(fd);
	ok(!errors && !missed && !extra && unattr == written && !credited,
	   "writes through /proc/PID/mem (get_user_pages): all %" PRIu64 " reported (missed %"
	   PRIu64 ", extra %" PRIu64 "), as unattributed (%" PRIu64 "), no thread credited (%"
	   PRIu64 ")", written, missed, extra, unattr, credited);
}

static void run_rounds(struct fixture *f, int rounds, const char *label)
{
	uint64_t written = 0, missed = 0, extra = 0, mismatch = 0, content = 0;
	uint64_t thread_bad = 0, sum_bad = 0, others = 0, foreign_extra = 0, kernel_jobs = 0;
	int errors = 0, foreign = 0;
	uint64_t u0 = unattributed(f), unattr;

	for (int r = 0; r < rounds; r++) {
		struct round_result rr;
		uint64_t delta[NTHREADS], oth, sum = 0;
		int kind = r % 13 == 5 ? 2 : r % 17 == 7 ? 3 : r % 5 == 4 ? 1 : 0;
		long n;

		plan(f, kind, &rr);
		for (unsigned int t = 0; t < NTHREADS; t++)
			for (uint32_t j = 0; j < shm->njobs[t]; j++)
				kernel_jobs += shm->jobs[t][j].kernel;
		if (r % 11 == 10) {
			/* first a foreign process writes the same addresses */
			if (command(f, OP_FOREIGN) < 0)
				errors++;
			n = harvest(f);
			foreign_extra += n < 0 ? 1 : (uint64_t)n;
			foreign++;
		}
		if (command(f, OP_ROUND) < 0) {
			errors++;
			break;
		}
		n = harvest(f);
		errors += n < 0;
		compare(f, n, &rr);
		written += rr.written;
		missed += rr.missed;
		extra += rr.extra;
		content += rr.bad_content;
		mismatch += rr.reported != rr.written;
		if (thread_deltas(f, delta, &oth) < 0) {
			errors++;
			continue;
		}
		others += oth;
		for (unsigned int t = 0; t < NTHREADS; t++) {
			sum += delta[t];
			if (rr.overlap)
				thread_bad += delta[t] > shm->njobs[t];
			else
				thread_bad += delta[t] != rr.want_thread[t];
		}
		sum_bad += sum != rr.written;
	}
	unattr = unattributed(f) - u0;
	diag("%s: %d rounds, %" PRIu64 " pages written (%" PRIu64 " write jobs by read(2)), "
	     "%d foreign-process rounds", label, rounds, written, kernel_jobs, foreign);
	ok(!errors && !missed && !extra && !mismatch,
	   "%s: every harvest is exactly the pages written: missed %" PRIu64 ", extra %" PRIu64
	   ", count mismatches %" PRIu64 ", errors %d", label, missed, extra, mismatch, errors);
	ok(!unattr, "%s: the eBPF program saw every page the harvests reported (%" PRIu64
	   " unattributed)", label, unattr);
	ok(!content, "%s: the memfds hold what was written (%" PRIu64 " bad)", label, content);
	ok(!thread_bad && !sum_bad && !others,
	   "%s: each thread is credited exactly the pages it dirtied first (bad %" PRIu64
	   ", rounds whose credits do not sum to the pages %" PRIu64 ", credited to others %"
	   PRIu64 ")", label, thread_bad, sum_bad, others);
	ok(!foreign_extra, "%s: writes by another process at the same addresses are not "
	   "counted (%" PRIu64 " pages reported)", label, foreign_extra);
}

int main(void)
{
	struct fixture f = { .pid = -1, .sock = -1 };
	struct kmig_track_bpf_stats bs;
	long n;
	int err, st;

	setvbuf(stdout, NULL, _IOLBF, 0);
#ifdef KMIG_NO_BPF
	printf("1..0 # SKIP built with KMIG_BPF=0 (no eBPF programs)\n");
	return 0;
#endif
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (eBPF)\n");
		return 0;
	}
	kmig_log_max = KMIG_LOG_WARN;
	/* before anything probes in this process: the probe's verdict is cached */
	test_no_privilege();

	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		ok(false, "shared command area");
		return 1;
	}
	err = start_child(&f);
	ok(!err, "workload child with %d blocks and %d writer threads (%s)", NBLOCKS, NTHREADS,
	   strerror(-err));
	if (err)
		goto out;
	err = open_tracker(&f);
	ok(!err, "the bpf tracker opens on the child (%s)", strerror(-err));
	if (err) {
		const char *why = kmig_track_bpf_unavailable();

		diag("bpf unavailable: %s", why ? why : "(see log)");
		goto out;
	}
	n = harvest(&f);
	ok(n == (long)(block_pages[0] + block_pages[1] + block_pages[2]) &&
	   bit(f.got[2], block_pages[2] - 1) && !(f.got[2][block_pages[2] / 64] >> (block_pages[2] % 64)),
	   "the first harvest (arm) reports every page and nothing past a block's end (%ld)", n);
	run_rounds(&f, ROUNDS, "first open");
	if (kmig_track_bpf_stats(&f.tr, &bs) == 0)
		diag("bpf counters: write faults %" PRIu64 ", pages dirtied %" PRIu64 ", threads "
		     "lost %" PRIu64 ", take %.3f ms, re-protect %.3f ms (summed)", bs.write_faults,
		     bs.pages_dirtied, bs.threads_lost, bs.take_ns / 1e6, bs.protect_ns / 1e6);

	test_gup_writes(&f, 5);
	test_storm(&f, 1.0);

	/* a second tracker on the same workload, as a second migration would open it */
	kmig_tracker_close(&f.tr);
	err = open_tracker(&f);
	n = err ? err : harvest(&f);
	ok(!err && n == (long)(block_pages[0] + block_pages[1] + block_pages[2]),
	   "reopened after close (UFFDIO_API already done): the arm reports every page (%ld)", n);
	if (!err)
		run_rounds(&f, 12, "reopened");

	/* the workload dies: the harvest must say so */
	kill(f.pid, SIGKILL);
	waitpid(f.pid, &st, 0);
	f.pid = -1;
	n = err ? 0 : harvest(&f);
	ok(n == -ESRCH, "after the workload exited the harvest fails with ESRCH (%ld)", n);
out:
	kmig_tracker_close(&f.tr);
	if (f.pid > 0) {
		command(&f, OP_EXIT);
		kill(f.pid, SIGKILL);
		waitpid(f.pid, &st, 0);
	}
	for (int i = 0; i < NBLOCKS; i++) {
		free(f.got[i]);
		free(f.want[i]);
		if (f.view[i] && f.view[i] != MAP_FAILED)
			munmap(f.view[i], block_pages[i] * PS);
		if (f.memfd[i] > 0)
			close(f.memfd[i]);
		if (f.uffd[i] > 0)
			close(f.uffd[i]);
	}
	if (f.sock >= 0)
		close(f.sock);
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
