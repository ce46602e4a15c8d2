/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libkmig_int.h: libkmig's private state, shared by libkmig.c (the
 * connection and kmigd's requests) and kmig_postcopy.c (a destination's
 * postcopy: its userfaultfd references and the end of a postcopy start).
 * Not installed; a workload sees only libkmig.h.
 */
#ifndef KMIG_LIBKMIG_INT_H
#define KMIG_LIBKMIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libkmig.h"
#include "wl_proto.h"

struct kmig_throttle;

struct kmig_block {
	char name[KMIG_WL_NAME_MAX];
	void *addr;
	size_t size;
	int memfd;
	int pc_uffd;	/* destination: the postcopy userfaultfd (our reference), or -1 */
};

/**
 * struct kmig_ctx - one workload's registration
 * @sock:      the fd kmig_fd() hands out: the agent connection while
 *             connected, a timer (the next reconnect) while not; the number
 *             stays the same either way
 * @connected: @sock is the agent connection
 * @path:      the agent socket, for reconnects ("" when opened on an fd)
 * @err:       sticky error once the connection is dropped for good
 * @options:   KMIG_OPT_*
 * @features:  what kmigd said it uses (REGISTERED)
 * @pc_pending: started by a postcopy migration whose pages are still coming
 * @throttle:  the registered writer threads and the throttle applied to them
 *             (the one part other threads may reach: kmig_thread_register())
 */
struct kmig_ctx {
	int sock;
	bool connected;
	char path[108];
	unsigned int retry_ms;
	int err;
	unsigned int options;
	uint64_t features;
	bool pc_pending;
	struct kmig_throttle *throttle;
	enum kmig_role role;
	enum kmig_state state;
	struct kmig_callbacks cb;
	void *opaque;
	size_t page_size;
	unsigned int nblocks;
	struct kmig_block blocks[KMIG_WL_MAX_BLOCKS];
};

/* kmig_postcopy.c */
/* drops our references to the postcopy userfaultfds (kmigd may hold its own) */
void kmig_pc_uffds_close(struct kmig_ctx *ctx);
/*
 * The end of a postcopy start (ARRIVED or FAILED), whatever role the
 * workload has taken since; 1 (the migration ended), or -errno.
 */
int kmig_pc_end(struct kmig_ctx *ctx, const struct kmig_wl_hdr *hdr);

#endif
