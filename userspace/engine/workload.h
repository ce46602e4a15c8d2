/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * workload.h: the engine's view of a workload: its RAM blocks as kmigd
 * maps them, and the calls the engine makes to it (pause, resume, load the
 * device state, throttle).  How those calls reach the workload is not the
 * engine's business: kmigd implements them over the workload socket
 * (kmigd/wl_conn.c), tests implement them in-process.
 */
#ifndef KMIG_WORKLOAD_H
#define KMIG_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KMIG_MAX_BLOCKS   64
#define KMIG_BLOCK_NAME_MAX 64

enum kmig_block_role {
	KMIG_ROLE_SRC = 1,	/* running workload whose memory may leave */
	KMIG_ROLE_DST = 2,	/* empty workload waiting for memory to arrive */
};

/**
 * struct kmig_block - one RAM block
 * @name:    the workload's name for it (matched by name on the destination)
 * @size:    bytes, a page multiple
 * @memfd:   the block's memfd (kmigd's own descriptor)
 * @map:     kmigd's mapping of it: read-only on the source (never
 *           populated: that would allocate the memfd's holes), read-write
 *           and populated up front on the destination
 * @wl_addr: where the workload maps it (what a tracker watches)
 * @uffd:    source: the workload's userfaultfd for this block, or -1
 * @uffd_api_done: UFFDIO_API has run on @uffd (it may only run once)
 * @pc_uffd: destination (postcopy): the workload's userfaultfd for the
 *           pages still missing, or -1 (kept apart from @uffd: a started
 *           destination hands a fresh one for tracking while postcopy runs)
 */
struct kmig_block {
	char name[KMIG_BLOCK_NAME_MAX];
	uint64_t size;
	int memfd;
	uint8_t *map;
	uint64_t wl_addr;
	int uffd;
	bool uffd_api_done;
	int pc_uffd;
};

struct kmig_workload;

/**
 * struct kmig_wl_ops - how the engine drives a workload.  Called on the
 * migration thread; each returns 0 or -errno (and, where it has @err, a
 * sentence saying what went wrong).
 * @pause:    source: stop writing RAM; returns the device state (caller
 *            frees *@state) once RAM is quiet
 * @resume:   source: the migration failed or was cancelled: carry on
 * @migrated: source: the migration completed: stay stopped
 * @load:     destination: memory is in place; hand over @state and wait
 *            until the workload runs
 * @failed:   destination: the incoming migration failed (after
 *            @load_postcopy too: its memory stays incomplete, it must stop)
 * @throttle: optional (may be NULL): slow the workload's RAM writers to
 *            (100 - @pct) % of their time; 0 lifts the throttle
 * @load_postcopy: optional (NULL: no postcopy): destination: as @load,
 *            but the workload starts before every page arrived
 * @arrived:  optional: destination, after @load_postcopy: every page is in
 */
struct kmig_wl_ops {
	int (*pause)(struct kmig_workload *w, int timeout_ms, void **state, uint32_t *len,
		     char *err, size_t n);
	int (*resume)(struct kmig_workload *w);
	int (*migrated)(struct kmig_workload *w);
	int (*load)(struct kmig_workload *w, const void *state, uint32_t len, int timeout_ms,
		    char *err, size_t n);
	int (*failed)(struct kmig_workload *w);
	int (*throttle)(struct kmig_workload *w, unsigned int pct);
	int (*load_postcopy)(struct kmig_workload *w, const void *state, uint32_t len,
			     int timeout_ms, char *err, size_t n);
	int (*arrived)(struct kmig_workload *w);
};

/**
 * struct kmig_workload - a registered workload
 * @ops:      how to reach it
 * @priv:     the implementation's state
 * @pid:      the workload's pid
 * @role:     KMIG_ROLE_SRC or KMIG_ROLE_DST
 * @paused:   it is stopped (registered stopped, or paused by a migration
 *            that could not tell whether the destination runs it)
 * @postcopy: destination: it can start before its memory arrived (every
 *            block has a @pc_uffd)
 * @nblocks:  entries used in @blocks
 */
struct kmig_workload {
	const struct kmig_wl_ops *ops;
	void *priv;
	pid_t pid;
	uint32_t role;
	bool paused;
	bool postcopy;
	unsigned int nblocks;
	struct kmig_block blocks[KMIG_MAX_BLOCKS];
};

/* ---- blocks (block.c) ---- */

/* an unused block: every descriptor -1, nothing mapped */
void kmig_block_init(struct kmig_block *b);
/*
 * Maps @b's memfd for @role: the destination's mapping is allocated and
 * populated now (first-touch allocation is slow), the source's is read-only
 * and only its data extents are populated (populating a hole allocates it).
 * 0 or -errno with @err filled.
 */
int kmig_block_map(struct kmig_block *b, uint32_t role, char *err, size_t n);
/* unmaps and closes what @b holds */
void kmig_block_release(struct kmig_block *b);
/*
 * Calls @fn for each extent [off, off + len) of @b's memfd that holds data
 * (SEEK_DATA/SEEK_HOLE), in order; holes are skipped.  Returns 0, -errno,
 * or the first non-zero value @fn returned.
 */
int kmig_block_for_each_data(const struct kmig_block *b,
			     int (*fn)(const struct kmig_block *b, uint64_t off, uint64_t len,
				       void *arg), void *arg);

#endif
