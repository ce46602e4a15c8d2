/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wl_child.h: the workload half of test_bpf_track.c: a forked child with
 * memfd blocks, a userfaultfd per block and writer threads that write the
 * pages the parent lists in a shared command area (see wl_child.c).
 */
#ifndef KMIG_TEST_WL_CHILD_H
#define KMIG_TEST_WL_CHILD_H

#include <stdint.h>

#define NTHREADS	4
#define NBLOCKS		3
#define MAXJOBS		3000		/* per thread per round */
#define ROUNDS		60
#define PS		4096ULL

extern const uint64_t block_pages[NBLOCKS];

enum { OP_ROUND = 1, OP_FOREIGN, OP_STORM, OP_EXIT };

struct job {
	uint16_t block;
	uint8_t kernel;		/* write through read(2) */
	uint32_t page;
};

/* shared (MAP_SHARED anonymous, created before fork): commands and answers */
struct shm {
	uint32_t op;
	uint32_t stop;		/* OP_STORM: set by the parent to end it */
	uint64_t value;
	uint32_t tids[NTHREADS];
	uint64_t addr[NBLOCKS];
	uint32_t njobs[NTHREADS];
	struct job jobs[NTHREADS][MAXJOBS];
};

/* the command area (MAP_SHARED, created by the parent before fork) */
extern struct shm *shm;

/* the child's life: sends its fds over @sock, then serves commands; never returns */
void __attribute__((noreturn)) child_main(int sock);

#endif
