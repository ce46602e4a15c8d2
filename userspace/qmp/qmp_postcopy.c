// SPDX-License-Identifier: GPL-2.0-only
/*
 * qmp_postcopy.c: the QMP side of postcopy: migrate-start-postcopy,
 * migrate-pause, migrate-recover and migrate's resume, with QEMU's checks
 * and texts, the capability checks a postcopy migration must pass at
 * migrate, and the x-kmig-postcopy member of query-migrate.  The engine
 * (src_postcopy.c, dst_postcopy.c) does the work.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "migrate.h"
#include "qapi-commands.h"
#include "qmp_server.h"
#include "xport.h"

int kmig_agent_postcopy_check(struct kmig_agent *a, const struct kmig_uri *uri,
			      struct kmig_err *err)
{
	bool *c = a->caps;

	/* postcopy and return-path both need the destination to answer (QEMU's text) */
	if ((c[MIGRATION_CAPABILITY_POSTCOPY_RAM] || c[MIGRATION_CAPABILITY_RETURN_PATH]) &&
	    !(uri->ops->caps & KMIG_CHAN_F_RETURN_PATH)) {
		kmig_err_generic(err, "Unable to open return-path for postcopy");
		return -1;
	}
	/*
	 * release-ram frees a page once the channel took it; a channel that may
	 * read registered memory again until close (register_mem: dpdk:, which
	 * sends a lost frame again from the page) would send the hole
	 */
	if (c[MIGRATION_CAPABILITY_POSTCOPY_RAM] && c[MIGRATION_CAPABILITY_RELEASE_RAM] &&
	    uri->ops->register_mem) {
		kmig_err_generic(err, "release-ram is not supported over %s: the channel may send "
				 "a page again after it was freed", uri->ops->scheme);
		return -1;
	}
	if (c[MIGRATION_CAPABILITY_POSTCOPY_RAM] && c[MIGRATION_CAPABILITY_X_IGNORE_SHARED]) {
		kmig_err_generic(err, "Postcopy is not compatible with ignore-shared");
		return -1;
	}
	return 0;
}

int kmig_agent_postcopy_resume(struct kmig_qmp_ctx *ctx, const q_obj_migrate_arg *args,
			       struct kmig_err *err)
{
	struct kmig_mig_info mi;
	struct kmig_uri uri;
	char why[512];

	kmig_mig_get_info(ctx->a->mig, &mi);
	if (mi.role != KMIG_MIG_ROLE_SRC || mi.status != KMIG_MIG_POSTCOPY_PAUSED) {
		kmig_err_generic(err, "Cannot resume if there is no paused migration");
		return -1;
	}
	/* release-ram freed pages that were sent but may not have arrived (QEMU's rule) */
	if (ctx->a->caps[MIGRATION_CAPABILITY_RELEASE_RAM]) {
		kmig_err_generic(err, "Postcopy recovery cannot work when release-ram capability "
				 "is set");
		return -1;
	}
	if (kmig_agent_parse_uri(ctx, args->uri, &uri, NULL, err) < 0)
		return -1;
	if (!(uri.ops->caps & KMIG_CHAN_F_RETURN_PATH)) {
		if (uri.fd >= 0)
			close(uri.fd);
		kmig_err_generic(err, "Unable to open return-path for postcopy");
		return -1;
	}
	if (kmig_mig_resume(ctx->a->mig, &uri, why, sizeof(why)) < 0) {
		if (uri.fd >= 0)
			close(uri.fd);
		kmig_err_generic(err, "%s", why);
		return -1;
	}
	return 0;
}

int qmp_migrate_start_postcopy(struct kmig_qmp_ctx *ctx, struct kmig_err *err)
{
	if (!ctx->a->caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
		kmig_err_generic(err, "Enable postcopy with migrate_set_capability before the "
				 "start of migration");
		return -1;
	}
	/* as QEMU: no error once it ran (racing its end is fine), only before any */
	if (kmig_mig_start_postcopy(ctx->a->mig) == -ENOENT) {
		kmig_err_generic(err, "Postcopy must be started after migration has been started");
		return -1;
	}
	return 0;
}

int qmp_migrate_pause(struct kmig_qmp_ctx *ctx, struct kmig_err *err)
{
	if (kmig_mig_pause(ctx->a->mig) < 0) {
		kmig_err_generic(err, "migrate-pause is currently only supported during "
				 "postcopy-active state");
		return -1;
	}
	return 0;
}

int qmp_migrate_recover(struct kmig_qmp_ctx *ctx, const q_obj_migrate_recover_arg *args,
			struct kmig_err *err)
{
	struct kmig_mig_info mi;
	struct kmig_uri uri;
	char why[512];

	kmig_mig_get_info(ctx->a->mig, &mi);
	if (mi.role != KMIG_MIG_ROLE_DST || mi.status != KMIG_MIG_POSTCOPY_PAUSED) {
		kmig_err_generic(err, "Migrate recover can only be run when postcopy is paused.");
		return -1;
	}
	if (kmig_agent_parse_uri(ctx, args->uri, &uri, NULL, err) < 0)
		return -1;
	if (kmig_mig_recover(ctx->a->mig, &uri, why, sizeof(why)) < 0) {
		if (uri.fd >= 0)
			close(uri.fd);
		kmig_err_generic(err, "%s", why);
		return -1;
	}
	return 0;
}

int kmig_agent_fill_postcopy(const struct kmig_mig_info *mi, MigrationInfo *ret,
			     struct kmig_err *err)
{
	const struct kmig_pc_stats *pc = &mi->stats.pc;
	KmigPostcopyInfo *p = &ret->x_kmig_postcopy;

	if (!pc->active)
		return 0;
	ret->has_x_kmig_postcopy = true;
	p->requests = pc->requests;
	p->pauses = pc->pauses;
	p->recoveries = pc->recoveries;
	if (mi->role == KMIG_MIG_ROLE_SRC) {
		p->has_refused_requests = p->has_dropped_requests = p->has_urgent_pages = true;
		p->has_swept_pages = p->has_released_pages = p->has_unsent_pages = true;
		p->refused_requests = pc->refused;
		p->dropped_requests = pc->dropped;
		p->urgent_pages = pc->urgent_pages;
		p->swept_pages = pc->swept_pages;
		p->released_pages = pc->released;
		p->unsent_pages = pc->held;
	} else {
		p->has_faults = p->has_fault_latency_count = p->has_fault_latency_mean_us = true;
		p->has_fault_latency_max_us = p->has_placed_pages = p->has_missing_pages = true;
		p->faults = pc->faults;
		p->fault_latency_count = pc->lat_count;
		p->fault_latency_mean_us = pc->lat_count ?
			(double)pc->lat_sum_ns / (double)pc->lat_count / 1000.0 : 0;
		p->fault_latency_max_us = (double)pc->lat_max_ns / 1000.0;
		p->placed_pages = pc->placed;
		p->missing_pages = pc->missing;
	}
	if (pc->why[0] && (mi->status == KMIG_MIG_POSTCOPY_PAUSED ||
			   mi->status == KMIG_MIG_POSTCOPY_RECOVER)) {
		p->last_error = strdup(pc->why);
		p->has_last_error = p->last_error != NULL;
		if (!p->last_error) {
			kmig_in_nomem(err);
			return -1;
		}
	}
	return 0;
}
