/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * workload.h: kmigd's side of a registered workload: its RAM blocks as
 * kmigd maps them, and the calls the engine makes over the workload
 * socket (pause, resume, load state) following wl_proto.h.
 */
#ifndef KMIG_WORKLOAD_H
#define KMIG_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "wl_proto.h"

/**
 * struct kmig_block - one RAM block
 * @name:    the workload's name for it (matched by name on the destination)
 * @size:    bytes, a page multiple
 * @memfd:   the block's memfd (kmigd's own descriptor)
 * @map:     kmigd's mapping of it: read-only on the source (never
 *           populated: that would allocate the memfd's holes), read-write
 *           and populated up front on the destination
 * @wl_addr: where the workload maps it (what the tracker watches)
 * @uffd:    source: the workload's userfaultfd for this block, or -1
 * @uffd_api_done: UFFDIO_API has run on @uffd (it may only run once)
 */
struct kmig_block {
	char name[KMIG_WL_NAME_MAX];
	uint64_t size;
	int memfd;
	uint8_t *map;
	uint64_t wl_addr;
	int uffd;
	bool uffd_api_done;
};

/**
 * struct kmig_workload - a registered workload
 * @sock:    the protocol socket
 * @pid:     the workload's pid (from SO_PEERCRED)
 * @role:    KMIG_WL_ROLE_SRC or KMIG_WL_ROLE_DST
 * @nblocks: entries used in @blocks
 */
struct kmig_workload {
	int sock;
	pid_t pid;
	uint32_t role;
	unsigned int nblocks;
	struct kmig_block blocks[KMIG_WL_MAX_BLOCKS];
};

/*
 * Reads HELLO, BLOCKs and READY from a freshly accepted @sock (waiting at
 * most @timeout_ms for each message), validates them and maps every block.
 * Returns a new workload (which owns @sock) or NULL with @err filled; on
 * failure @sock is closed.
 */
/*
 * Calls @fn for each extent [off, off + len) of @b's memfd that holds data
 * (SEEK_DATA/SEEK_HOLE), in order; holes are skipped.  Returns 0, -errno,
 * or the first non-zero value @fn returned.
 */
int kmig_block_for_each_data(const struct kmig_block *b,
			     int (*fn)(const struct kmig_block *b, uint64_t off, uint64_t len,
				       void *arg), void *arg);

struct kmig_workload *kmig_workload_register(int sock, int timeout_ms, char *err, size_t n);
void kmig_workload_free(struct kmig_workload *w);

/* source: asks the workload to stop; returns its device state (caller frees) */
int kmig_workload_pause(struct kmig_workload *w, int timeout_ms, void **state, uint32_t *len,
			char *err, size_t n);
/* source: the migration failed or was cancelled: carry on */
int kmig_workload_resume(struct kmig_workload *w);
/* source: the migration completed: stay stopped */
int kmig_workload_migrated(struct kmig_workload *w);
/* destination: memory is in place; hands over @state and waits for STARTED */
int kmig_workload_load(struct kmig_workload *w, const void *state, uint32_t len, int timeout_ms,
		       char *err, size_t n);
/* destination: the incoming migration failed */
int kmig_workload_failed(struct kmig_workload *w);

#endif
