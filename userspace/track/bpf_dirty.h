/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bpf_dirty.h: the thin loader of dirty_fault.bpf.c (libbpf skeleton): one
 * instance watches the write faults of one process in a list of ranges and
 * keeps a bitmap and per-thread counters in the kernel.  It knows nothing
 * of uffd-wp; track_bpf.c combines the two into a tracker back end.
 * Threading: an instance is used by one thread at a time, except
 * kmig_bpf_dirty_threads() and _counters(), which only read.
 */
#ifndef KMIG_BPF_DIRTY_H
#define KMIG_BPF_DIRTY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KMIG_BPF_DIRTY_MAX_RANGES 64
#define KMIG_BPF_DIRTY_COMM_LEN 16
#define KMIG_BPF_DIRTY_MAX_THREADS 4096	/* threads counted one by one */

struct kmig_bpf_dirty;

/** struct kmig_bpf_dirty_range - one range of the process (page aligned) */
struct kmig_bpf_dirty_range {
	uint64_t start;
	uint64_t len;
};

/**
 * struct kmig_bpf_thread_pages - one thread's count
 * @tid:   thread id in the workload's pid namespace
 * @pages: pages it dirtied first (a page's bit went 0 -> 1 on its fault),
 *         summed since the instance was opened
 * @comm:  its name when it first dirtied a page
 */
struct kmig_bpf_thread_pages {
	uint32_t tid;
	uint64_t pages;
	char comm[KMIG_BPF_DIRTY_COMM_LEN];
};

/** struct kmig_bpf_dirty_counters - totals since open (see dirty_fault.bpf.c) */
struct kmig_bpf_dirty_counters {
	uint64_t write_faults;
	uint64_t pages_dirtied;
	uint64_t threads_lost;
};

/*
 * Loads and attaches the program for process @pid (as kmigd sees it) and
 * @n ranges.  Returns 0 and *@out, or -errno with @why filled with one
 * sentence saying what is missing (privilege, kernel support, ...).
 */
int kmig_bpf_dirty_open(struct kmig_bpf_dirty **out, pid_t pid,
			const struct kmig_bpf_dirty_range *r, unsigned int n, char *why,
			size_t whylen);

/*
 * Takes range @i's bits out of the kernel bitmap (an atomic swap per
 * word, so a fault racing with it lands either here or in the next take)
 * and ORs them into @bm (bit p = page p of the range).  Returns the
 * number of bits taken.
 */
uint64_t kmig_bpf_dirty_take(struct kmig_bpf_dirty *d, unsigned int i, uint64_t *bm);

/* ORs range @i's bits into @bm without taking them (they stay for the next take). */
void kmig_bpf_dirty_peek(struct kmig_bpf_dirty *d, unsigned int i, uint64_t *bm);

/* Clears every bit without reporting (the arm step). */
void kmig_bpf_dirty_clear(struct kmig_bpf_dirty *d);

/*
 * Copies up to @n threads' counts into @out, in no particular order;
 * returns how many threads the kernel map holds (may be > @n), or -errno.
 */
long kmig_bpf_dirty_threads(struct kmig_bpf_dirty *d, struct kmig_bpf_thread_pages *out,
			    size_t n);

void kmig_bpf_dirty_counters(struct kmig_bpf_dirty *d, struct kmig_bpf_dirty_counters *c);

/* Detaches and frees; accepts NULL. */
void kmig_bpf_dirty_close(struct kmig_bpf_dirty *d);

#endif
