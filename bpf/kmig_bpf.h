/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kmig_bpf.h: what the eBPF dirty tracker (dirty_fault.bpf.c) and its
 * loader in kmigd share: the layout of the read-only configuration and of
 * the per-thread map values.  Plain C types only, so it builds both with
 * vmlinux.h (BPF side) and with the system headers (user side).
 */
#ifndef KMIG_BPF_H
#define KMIG_BPF_H

/* ranges (RAM blocks) one program instance watches: the tracker's limit */
#define KMIG_BPF_MAX_RANGES	64
/* threads with their own counter; later ones are counted in threads_lost */
#define KMIG_BPF_MAX_THREADS	4096
#define KMIG_BPF_PAGE_SHIFT	12
#define KMIG_BPF_COMM_LEN	16

/**
 * struct kmig_bpf_range - one watched block, in the workload's addresses
 * @start: first byte (page aligned)
 * @end:   one past the last byte
 * @word:  index in the dirty_bm array of the 64-bit word holding the bit
 *         of the block's first page (each block starts on a fresh word)
 */
struct kmig_bpf_range {
	unsigned long long start;
	unsigned long long end;
	unsigned long long word;
};

/**
 * struct kmig_bpf_thread - value of the thread_pages map (key: thread id
 * in the workload's pid namespace)
 * @pages: pages this thread dirtied first since the program was loaded:
 *         each time a page's bit goes from 0 to 1 in dirty_bm, the thread
 *         that took the write fault gets it.  Only ever grows.
 * @comm:  the thread's name when it first dirtied a page
 */
struct kmig_bpf_thread {
	unsigned long long pages;
	char comm[KMIG_BPF_COMM_LEN];
};

#endif
