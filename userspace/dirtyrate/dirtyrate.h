/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dirtyrate.h: measuring how fast a process dirties its memory, without
 * migrating it -- the engine behind QMP calc-dirty-rate / query-dirty-rate
 * and `kmig dirtyrate --pid`.  Three methods, QEMU's modes:
 *   page-sampling: hash random pages of each block, wait, hash them again
 *                  and count those that changed (needs only read access);
 *   per-thread:    QEMU's dirty-ring mode; the "bpf" tracker counts every
 *                  page dirtied, and by which thread (needs the workload's
 *                  userfaultfd and BPF privileges);
 *   bitmap:        exact count with the dirty tracker a migration would use.
 * A measurement runs on its own thread and owns copies of what it needs
 * (descriptors dup'ed), so the workload may vanish meanwhile.  Nothing
 * here knows QMP.
 */
#ifndef KMIG_DIRTYRATE_H
#define KMIG_DIRTYRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KMIG_DR_MAX_BLOCKS	64
#define KMIG_DR_NAME_MAX	64
#define KMIG_DR_REGION_SHIFT	21	/* heat map granularity: 2 MiB */
#define KMIG_DR_MAX_THREADS	1024	/* threads reported (the busiest) */
/* QEMU's bounds (migration/dirtyrate.h) */
#define KMIG_DR_MIN_CALC_S	1
#define KMIG_DR_MAX_CALC_S	60
#define KMIG_DR_MIN_SAMPLES	128
#define KMIG_DR_MAX_SAMPLES	16384
#define KMIG_DR_DEF_SAMPLES	512
#define KMIG_DR_MIN_BLOCK	(128u << 10)	/* sampling skips smaller blocks, as QEMU */

enum kmig_dr_mode { KMIG_DR_SAMPLING, KMIG_DR_PER_THREAD, KMIG_DR_BITMAP };
enum kmig_dr_status { KMIG_DR_UNSTARTED, KMIG_DR_MEASURING, KMIG_DR_MEASURED };

/**
 * struct kmig_dr_block - one block to measure
 * @name:   for reports
 * @addr:   where the process maps it
 * @size:   bytes (page multiple)
 * @memfd:  sampling reads pages from here when >= 0 (never populates
 *          holes), else from the process with process_vm_readv
 * @uffd:   the process's userfaultfd for the block, or -1 (tracker modes)
 * @uffd_api_done: as struct kmig_track_range; the measurement updates it
 */
struct kmig_dr_block {
	char name[KMIG_DR_NAME_MAX];
	uint64_t addr;
	uint64_t size;
	int memfd;
	int uffd;
	bool uffd_api_done;
};

/** struct kmig_dr_target - a process and its blocks; a measurement owns the fds */
struct kmig_dr_target {
	pid_t pid;
	unsigned int nblocks;
	struct kmig_dr_block blocks[KMIG_DR_MAX_BLOCKS];
};

struct kmig_dr_thread {
	uint32_t tid;
	char name[16];
	uint64_t pages;
};

/**
 * struct kmig_dr_block_result - one block's heat map
 * @regions: per 2 MiB region, pages dirtied (sampling: estimated; -1 = no
 *           page of it was sampled)
 */
struct kmig_dr_block_result {
	char name[KMIG_DR_NAME_MAX];
	uint64_t size;
	uint64_t dirty_pages;
	uint32_t nregions;
	int32_t *regions;
};

/**
 * struct kmig_dr_result - what query-dirty-rate reports (QEMU's fields
 * and kmig's extensions)
 * @start_time:   wall-clock seconds when it started (0: never)
 * @calc_time:    seconds asked for, then seconds measured (as QEMU)
 * @calc_ms:      milliseconds measured
 * @sample_pages: per GiB, as asked (QEMU reports 0 for the exact modes)
 * @dirty_rate:   MiB/s ("MB/s" in QEMU's words); -1 when it failed
 * @dirty_pages:  pages dirtied in @calc_ms (sampling: estimate)
 * @tracker:      what measured ("page-sampling", "bpf", "uffd-wp", ...)
 * @error:        why it failed ("" if it did not)
 * @threads:      per-thread mode: the threads, busiest first
 * @blocks:       heat maps, one per block
 */
struct kmig_dr_result {
	enum kmig_dr_status status;
	enum kmig_dr_mode mode;
	int64_t start_time;
	int64_t calc_time;
	int64_t calc_ms;
	uint64_t sample_pages;
	int64_t dirty_rate;
	uint64_t dirty_pages;
	char tracker[64];
	char error[512];
	unsigned int nthreads;
	struct kmig_dr_thread *threads;
	unsigned int nblocks;
	struct kmig_dr_block_result *blocks;
};

struct kmig_dirtyrate;

struct kmig_dirtyrate *kmig_dirtyrate_new(void);
/* stops a running measurement (at once) and frees; accepts NULL */
void kmig_dirtyrate_free(struct kmig_dirtyrate *d);

/*
 * Starts measuring @t for @calc_ms with @mode.  Takes the target's
 * descriptors in every case (they are closed when the measurement ends,
 * or now if it cannot start).  0, or -EBUSY while one is measuring,
 * -ENOMEM, -EAGAIN (no thread).
 */
int kmig_dirtyrate_start(struct kmig_dirtyrate *d, struct kmig_dr_target *t,
			 enum kmig_dr_mode mode, int64_t calc_ms, uint64_t sample_pages);

enum kmig_dr_status kmig_dirtyrate_status(struct kmig_dirtyrate *d);

/* a copy of the last result (free it with kmig_dr_result_clear); 0 or -ENOMEM */
int kmig_dirtyrate_get(struct kmig_dirtyrate *d, struct kmig_dr_result *out);
void kmig_dr_result_clear(struct kmig_dr_result *r);

/*
 * Tracker modes hold the workload's userfaultfd from start until the
 * owner has taken the finished measurement back with this call: true
 * while that is so and it still runs.  Once it has ended, returns false
 * and, the first time, fills @t (pid, block names and addresses, and the
 * uffd_api_done flags to carry over to the workload; fds are -1) and
 * sets *@reaped.
 */
bool kmig_dirtyrate_holds_workload(struct kmig_dirtyrate *d, struct kmig_dr_target *t,
				   bool *reaped);

/* ---- the methods (dr_sample.c, dr_exact.c); run on the measurement thread ---- */

/*
 * Both wait @calc_ms with kmig_dr_wait() and fill @r (dirty_pages,
 * calc_ms, blocks, threads, tracker; error and -errno on failure).
 */
int kmig_dr_measure_sampling(struct kmig_dirtyrate *d, struct kmig_dr_target *t,
			     int64_t calc_ms, uint64_t sample_pages, struct kmig_dr_result *r);
int kmig_dr_measure_exact(struct kmig_dirtyrate *d, struct kmig_dr_target *t,
			  enum kmig_dr_mode mode, int64_t calc_ms, struct kmig_dr_result *r);

/* sleeps until @deadline_ns (kmig_now_ns clock); false if told to stop */
bool kmig_dr_wait(struct kmig_dirtyrate *d, int64_t deadline_ns);

/* allocates @r->blocks for @t with zeroed heat maps; 0 or -ENOMEM */
int kmig_dr_blocks_init(struct kmig_dr_result *r, const struct kmig_dr_target *t);

#endif
