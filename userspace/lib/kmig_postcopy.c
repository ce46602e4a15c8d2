// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmig_postcopy.c: a destination workload's side of postcopy (libkmig.h,
 * KMIG_OPT_POSTCOPY).  It hands a userfaultfd with each block and keeps its
 * own reference while pages may be missing: should kmigd die mid-postcopy,
 * a thread touching a missing page waits for it rather than reading zeroes
 * from a released registration.  ARRIVED ends that (references dropped,
 * the arrived callback); FAILED leaves the memory marked incomplete.
 */
#include <errno.h>
#include <unistd.h>

#include "libkmig_int.h"

void kmig_pc_uffds_close(struct kmig_ctx *ctx)
{
	for (unsigned int i = 0; i < ctx->nblocks; i++) {
		if (ctx->blocks[i].pc_uffd >= 0)
			close(ctx->blocks[i].pc_uffd);
		ctx->blocks[i].pc_uffd = -1;
	}
}

int kmig_postcopy_pending(const struct kmig_ctx *ctx)
{
	return ctx && ctx->pc_pending;
}

int kmig_pc_end(struct kmig_ctx *ctx, const struct kmig_wl_hdr *hdr)
{
	if (hdr->len)
		return -EMSGSIZE;
	if (hdr->type == KMIG_WL_FAILED) {
		/* the memory stays incomplete: pc_pending stays, the workload must stop */
		ctx->state = KMIG_STATE_FAILED;
		return 1;
	}
	if (hdr->type != KMIG_WL_ARRIVED)
		return -EPROTO;
	ctx->pc_pending = false;
	kmig_pc_uffds_close(ctx);
	if (ctx->cb.arrived)
		ctx->cb.arrived(ctx->opaque);
	return 1;
}
