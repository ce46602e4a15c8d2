// SPDX-License-Identifier: GPL-2.0-only
/*
 * wl_child.c: the workload child of test_bpf_track.c (wl_child.h): blocks,
 * userfaultfds, four writer threads released per command by a barrier; a
 * write is a store by the thread, or a read(2) from a pipe into the page
 * (the kernel writes it in copy_to_user); OP_FOREIGN forks a process that
 * writes the same addresses in a mapping of its own; OP_STORM writes
 * random pages flat out until the parent says stop.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uffd_compat.h"
#include "wl_child.h"

const uint64_t block_pages[NBLOCKS] = { 8192, 2048, 515 };
struct shm *shm;

static pthread_barrier_t start_b, end_b;

struct worker {
	unsigned int idx;
	int pfd[2];
};

/* writes random pages flat out until told to stop (harvests run meanwhile) */
static void storm(unsigned int idx)
{
	uint64_t x = 0x243f6a8885a308d3ULL * (idx + 1), v = (uint64_t)idx << 56;

	while (!__atomic_load_n(&shm->stop, __ATOMIC_ACQUIRE)) {
		for (int k = 0; k < 64; k++) {
			unsigned int b;
			uint64_t p;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b = x % 8 < 6 ? 0 : (unsigned int)(x >> 8) % 2 + 1;
			p = (x >> 16) % block_pages[b];
			*(volatile uint64_t *)((uintptr_t)shm->addr[b] + p * PS + 8 * idx) = ++v;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	shm->tids[w->idx] = (uint32_t)syscall(SYS_gettid);
	pthread_barrier_wait(&end_b);		/* tids published */
	for (;;) {
		pthread_barrier_wait(&start_b);
		if (shm->op == OP_EXIT)
			return NULL;
		if (shm->op == OP_STORM)
			storm(w->idx);
		for (uint32_t j = 0; shm->op == OP_ROUND && j < shm->njobs[w->idx]; j++) {
			const struct job *jb = &shm->jobs[w->idx][j];
			uint64_t v = shm->value ^ jb->page;
			char *dst = (char *)(uintptr_t)shm->addr[jb->block] + jb->page * PS + 8 * w->idx;

			if (jb->kernel) {
				if (write(w->pfd[1], &v, 8) != 8 || read(w->pfd[0], dst, 8) != 8)
					_exit(7);
			} else {
				*(volatile uint64_t *)dst = v;
			}
		}
		pthread_barrier_wait(&end_b);
	}
}

/* a process that is not the workload writes at the workload's addresses */
static void foreign_writes(void)
{
	pid_t g = fork();
	int st;

	if (g == 0) {
		void *a = (void *)(uintptr_t)shm->addr[0];

		if (mmap(a, block_pages[0] * PS, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != a)
			_exit(3);
		for (uint32_t j = 0; j < shm->njobs[0]; j++)
			((volatile char *)a)[shm->jobs[0][j].page * PS] = 1;
		_exit(0);
	}
	if (g < 0 || waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st))
		_exit(8);
}

void __attribute__((noreturn)) child_main(int sock)
{
	int fds[2 * NBLOCKS];
	char cbuf[CMSG_SPACE(sizeof(fds))] = { 0 };
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	char c = 'r';
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int i = 0; i < NBLOCKS; i++) {
		void *m;

		fds[i] = memfd_create("bpf-test-block", MFD_CLOEXEC);
		fds[NBLOCKS + i] = (int)syscall(SYS_userfaultfd,
						O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
		if (fds[i] < 0 || fds[NBLOCKS + i] < 0 ||
		    ftruncate(fds[i], (off_t)(block_pages[i] * PS)) < 0)
			_exit(2);
		m = mmap(NULL, block_pages[i] * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (m == MAP_FAILED)
			_exit(2);
		shm->addr[i] = (uintptr_t)m;
	}
	pthread_barrier_init(&start_b, NULL, NTHREADS + 1);
	pthread_barrier_init(&end_b, NULL, NTHREADS + 1);
	for (unsigned int i = 0; i < NTHREADS; i++) {
		w[i].idx = i;
		if (pipe(w[i].pfd) < 0 || pthread_create(&th[i], NULL, worker_main, &w[i]))
			_exit(2);
	}
	pthread_barrier_wait(&end_b);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	if (sendmsg(sock, &mh, 0) != 1)
		_exit(2);
	for (;;) {
		if (read(sock, &c, 1) != 1)
			_exit(0);
		if (shm->op == OP_FOREIGN) {
			foreign_writes();
		} else {
			pthread_barrier_wait(&start_b);
			if (shm->op == OP_EXIT)
				break;
			pthread_barrier_wait(&end_b);
		}
		if (write(sock, &c, 1) != 1)
			_exit(2);
	}
	for (unsigned int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	_exit(0);
}

