// SPDX-License-Identifier: GPL-2.0-only
/*
 * qmp_migration.c: the QMP migration commands that drive the state machine
 * (query-migrate, migrate, migrate-incoming, migrate_cancel, COLO
 * controls; postcopy's are in qmp_postcopy.c), plus clear refusals for the
 * commands that only make sense for a QEMU virtual machine (xen-*,
 * client_migrate_info).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "migrate.h"
#include "xport.h"
#include "qapi-commands.h"
#include "qmp_server.h"

/* the engine's states by their QAPI names (also used for events) */
MigrationStatus kmig_agent_status_qapi(enum kmig_mig_status st)
{
	static const MigrationStatus map[] = {
		[KMIG_MIG_NONE] = MIGRATION_STATUS_NONE,
		[KMIG_MIG_SETUP] = MIGRATION_STATUS_SETUP,
		[KMIG_MIG_CANCELLING] = MIGRATION_STATUS_CANCELLING,
		[KMIG_MIG_CANCELLED] = MIGRATION_STATUS_CANCELLED,
		[KMIG_MIG_ACTIVE] = MIGRATION_STATUS_ACTIVE,
		[KMIG_MIG_COMPLETED] = MIGRATION_STATUS_COMPLETED,
		[KMIG_MIG_FAILED] = MIGRATION_STATUS_FAILED,
		[KMIG_MIG_POSTCOPY_ACTIVE] = MIGRATION_STATUS_POSTCOPY_ACTIVE,
		[KMIG_MIG_POSTCOPY_PAUSED] = MIGRATION_STATUS_POSTCOPY_PAUSED,
		[KMIG_MIG_POSTCOPY_RECOVER] = MIGRATION_STATUS_POSTCOPY_RECOVER,
	};

	return map[st];
}

static int nomem(struct kmig_err *err)
{
	kmig_in_nomem(err);
	return -1;
}

/* destination: where we listen, as QEMU's socket-address list */
static int fill_listen(const struct kmig_mig_info *mi, MigrationInfo *ret, struct kmig_err *err)
{
	SocketAddress *sa;

	ret->socket_address.v = sa = calloc(1, sizeof(*sa));
	if (!sa)
		return nomem(err);
	ret->socket_address.n = 1;
	ret->has_socket_address = true;
	if (mi->listen_unix) {
		sa->type = SOCKET_ADDRESS_TYPE_UNIX;
		sa->u.q_unix.path = strdup(mi->listen_port);
		return sa->u.q_unix.path ? 0 : nomem(err);
	}
	sa->type = SOCKET_ADDRESS_TYPE_INET;
	sa->u.inet.host = strdup(mi->listen_host);
	sa->u.inet.port = strdup(mi->listen_port);
	return sa->u.inet.host && sa->u.inet.port ? 0 : nomem(err);
}

static void fill_ram(const struct kmig_mig_info *mi, MigrationInfo *ret)
{
	const struct kmig_mig_stats *s = &mi->stats;
	MigrationStats *r = &ret->ram;

	ret->has_ram = true;
	r->transferred = s->transferred;
	r->remaining = s->remaining;
	r->total = s->total;
	r->duplicate = s->duplicate;
	r->normal = s->normal;
	r->normal_bytes = s->normal_bytes;
	r->dirty_pages_rate = s->dirty_pages_rate;
	r->mbps = s->mbps;
	r->dirty_sync_count = s->dirty_sync_count;
	r->page_size = 4096;
	r->pages_per_second = s->pages_per_second;
	r->precopy_bytes = s->precopy_bytes;
	r->downtime_bytes = s->downtime_bytes;
	r->postcopy_bytes = s->postcopy_bytes;
	r->postcopy_requests = (int64_t)s->pc.requests;
	r->multifd_bytes = s->multifd_bytes;
}

/* the dirtying threads of the last pass, where the tracker sees them */
static int fill_threads(const struct kmig_mig_info *mi, MigrationInfo *ret, struct kmig_err *err)
{
	if (!mi->nthreads)
		return 0;
	ret->x_kmig_threads.v = calloc(mi->nthreads, sizeof(*ret->x_kmig_threads.v));
	if (!ret->x_kmig_threads.v)
		return nomem(err);
	ret->has_x_kmig_threads = true;
	for (unsigned int i = 0; i < mi->nthreads; i++) {
		DirtyRateThread *t = &ret->x_kmig_threads.v[i];

		t->tid = mi->threads[i].tid;
		t->dirty_pages = mi->threads[i].pages;
		t->pages_per_second = mi->threads[i].pages_per_second;
		t->name = strdup(mi->threads[i].name);
		ret->x_kmig_threads.n = i + 1;
		if (!t->name)
			return nomem(err);
	}
	return 0;
}

static void fill_compression(const struct kmig_mig_stats *st, MigrationInfo *ret)
{
	ret->has_compression = true;
	ret->compression.pages = (int64_t)st->comp_pages;
	ret->compression.busy = (int64_t)st->comp_busy;
	ret->compression.busy_rate = st->comp_offered ?
		(double)st->comp_busy / (double)st->comp_offered : 0;
	ret->compression.compressed_size = (int64_t)st->comp_bytes;
	ret->compression.compression_rate = st->comp_bytes ?
		(double)st->comp_pages * KMIG_WIRE_PAGE_SIZE / (double)st->comp_bytes : 0;
}

static void fill_xbzrle(const struct kmig_mig_stats *st, MigrationInfo *ret)
{
	ret->has_xbzrle_cache = true;
	ret->xbzrle_cache.cache_size = st->xb_cache_size;
	ret->xbzrle_cache.bytes = (int64_t)st->xb_bytes;
	ret->xbzrle_cache.pages = (int64_t)st->xb_pages;
	ret->xbzrle_cache.cache_miss = (int64_t)st->xb_cache_miss;
	ret->xbzrle_cache.cache_miss_rate = st->xb_miss_rate;
	ret->xbzrle_cache.encoding_rate = st->xb_encoding_rate;
	ret->xbzrle_cache.overflow = (int64_t)st->xb_overflow;
}

static int set_str(bool *has, char **dst, const char *src, struct kmig_err *err)
{
	if (!*src)
		return 0;
	*dst = strdup(src);
	*has = *dst != NULL;
	return *has ? 0 : nomem(err);
}

int qmp_query_migrate(struct kmig_qmp_ctx *ctx, MigrationInfo *ret, struct kmig_err *err)
{
	struct kmig_mig_info mi;

	kmig_mig_get_info(ctx->a->mig, &mi);
	if (mi.role == KMIG_MIG_ROLE_DST) {
		/* QEMU's destination: listening shows only the address, no status */
		if (mi.status != KMIG_MIG_SETUP && mi.status != KMIG_MIG_NONE) {
			ret->has_status = true;
			ret->status = kmig_agent_status_qapi(mi.status);
		}
		if (mi.status == KMIG_MIG_FAILED &&
		    set_str(&ret->has_error_desc, &ret->error_desc, mi.error_desc, err))
			return -1;
		if (kmig_agent_fill_postcopy(&mi, ret, err))	/* after a postcopy start only */
			return -1;
		return mi.listen_port[0] && mi.status != KMIG_MIG_FAILED ?
			fill_listen(&mi, ret, err) : 0;
	}
	if (mi.status == KMIG_MIG_NONE)
		return 0;	/* {} before any migration, as QEMU */
	ret->has_status = true;
	ret->status = kmig_agent_status_qapi(mi.status);
	switch (mi.status) {
	case KMIG_MIG_FAILED:
		return set_str(&ret->has_error_desc, &ret->error_desc, mi.error_desc, err);
	case KMIG_MIG_ACTIVE:
	case KMIG_MIG_CANCELLING:
	case KMIG_MIG_POSTCOPY_ACTIVE:
	case KMIG_MIG_POSTCOPY_PAUSED:
	case KMIG_MIG_POSTCOPY_RECOVER:
		ret->has_expected_downtime = true;
		ret->expected_downtime = mi.stats.expected_downtime_ms;
		/* QEMU: only once auto-converge has begun throttling */
		ret->has_cpu_throttle_percentage = mi.stats.throttle_pct > 0;
		ret->cpu_throttle_percentage = mi.stats.throttle_pct;
		if (set_str(&ret->has_x_kmig_convergence, &ret->x_kmig_convergence,
			    mi.stats.converge_why, err))
			return -1;
		/* fall through */
	case KMIG_MIG_COMPLETED:
		ret->has_setup_time = ret->has_total_time = true;
		ret->setup_time = mi.setup_ms;
		ret->total_time = mi.total_ms;
		if (mi.status == KMIG_MIG_COMPLETED) {
			ret->has_downtime = true;
			ret->downtime = mi.stats.downtime_ms;
		}
		fill_ram(&mi, ret);
		if (mi.stats.compressing)
			fill_compression(&mi.stats, ret);
		if (mi.stats.xbzrle)
			fill_xbzrle(&mi.stats, ret);
		if (set_str(&ret->has_x_kmig_tracker, &ret->x_kmig_tracker, mi.tracker, err) ||
		    set_str(&ret->has_x_kmig_transport, &ret->x_kmig_transport, mi.transport, err) ||
		    fill_threads(&mi, ret, err) || kmig_agent_fill_postcopy(&mi, ret, err))
			return -1;
		break;
	default:
		break;	/* setup and cancelled carry only the status */
	}
	return 0;
}

/*
 * Capabilities kmig accepts (QEMU clients set them) but does not implement
 * yet: a migration with one of them on is refused, rather than run without
 * the feature the user asked for.  The rest are implemented (events,
 * multifd, postcopy-ram, release-ram, ...), always true (return-path on
 * sockets), or only about block devices kmig has none of.
 */
static int check_caps(struct kmig_agent *d, struct kmig_err *err)
{
	static const MigrationCapability missing[] = {
		MIGRATION_CAPABILITY_RDMA_PIN_ALL, MIGRATION_CAPABILITY_X_COLO,
		MIGRATION_CAPABILITY_BLOCK,
		MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER,
		MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME, MIGRATION_CAPABILITY_X_IGNORE_SHARED,
		MIGRATION_CAPABILITY_VALIDATE_UUID, MIGRATION_CAPABILITY_BACKGROUND_SNAPSHOT,
		MIGRATION_CAPABILITY_ZERO_COPY_SEND, MIGRATION_CAPABILITY_POSTCOPY_PREEMPT,
	};

	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		if (d->caps[missing[i]]) {
			kmig_err_generic(err, "Capability '%s' is not implemented by kmig yet; "
					 "disable it to migrate", MigrationCapability_str[missing[i]]);
			return -1;
		}
	}
	if (d->caps[MIGRATION_CAPABILITY_XBZRLE] && (d->caps[MIGRATION_CAPABILITY_MULTIFD] ||
						     d->caps[MIGRATION_CAPABILITY_COMPRESS])) {
		/* QEMU would silently not use XBZRLE on multifd channels; say so instead */
		kmig_err_generic(err, "Capability 'xbzrle' works on the main channel only in "
				 "kmig: it does not combine with '%s'",
				 d->caps[MIGRATION_CAPABILITY_MULTIFD] ? "multifd" : "compress");
		return -1;
	}
	if (d->caps[MIGRATION_CAPABILITY_COMPRESS] && d->caps[MIGRATION_CAPABILITY_MULTIFD]) {
		kmig_err_generic(err, "Capability 'compress' does not combine with 'multifd': "
				 "compress multifd channels with the multifd-compression parameter");
		return -1;
	}
	return 0;
}

/* fd:NAME: the descriptor getfd kept under NAME (used once, as in QEMU) */
static int resolve_fd(struct kmig_qmp_ctx *ctx, struct kmig_uri *uri, struct kmig_err *err)
{
	if (uri->kind != KMIG_URI_FD)
		return 0;
	uri->fd = kmig_agent_take_named_fd(ctx->a, uri->path);
	if (uri->fd < 0) {
		kmig_err_generic(err, "File descriptor named '%s' has not been found", uri->path);
		return -1;
	}
	return 0;
}

int kmig_agent_parse_uri(struct kmig_qmp_ctx *ctx, const char *text, struct kmig_uri *uri,
			 bool *bad_scheme, struct kmig_err *err)
{
	char why[512];
	bool bad;

	if (kmig_uri_parse(text, uri, bad_scheme ? bad_scheme : &bad, why, sizeof(why)) < 0) {
		kmig_err_generic(err, "%s", why);
		return -1;
	}
	return resolve_fd(ctx, uri, err);
}

/* what the capabilities and parameters ask of this migration */
static void config_of(struct kmig_agent *a, const struct kmig_uri *uri, struct kmig_mig_config *c)
{
	memset(c, 0, sizeof(*c));
	c->uri = *uri;
	c->channels = a->caps[MIGRATION_CAPABILITY_MULTIFD] ? a->params.multifd_channels : 0;
	c->decode_threads = (unsigned int)a->params.decompress_threads;
	c->xbzrle = a->caps[MIGRATION_CAPABILITY_XBZRLE];
	c->xbzrle_cache_size = a->params.xbzrle_cache_size;
	c->postcopy = a->caps[MIGRATION_CAPABILITY_POSTCOPY_RAM];
	c->release_ram = a->caps[MIGRATION_CAPABILITY_RELEASE_RAM];
	c->main_codec.enc = KMIG_ENC_RAW;
	c->data_codec.enc = KMIG_ENC_RAW;
	if (a->caps[MIGRATION_CAPABILITY_COMPRESS]) {
		c->main_codec = (struct kmig_codec_cfg){ KMIG_ENC_ZLIB, (int)a->params.compress_level };
		c->lanes = (unsigned int)a->params.compress_threads;
	}
	switch (a->params.multifd_compression) {
	case MULTI_FD_COMPRESSION_ZLIB:
		c->data_codec = (struct kmig_codec_cfg){ KMIG_ENC_ZLIB,
							 (int)a->params.multifd_zlib_level };
		break;
	case MULTI_FD_COMPRESSION_ZSTD:
		c->data_codec = (struct kmig_codec_cfg){ KMIG_ENC_ZSTD,
							 (int)a->params.multifd_zstd_level };
		break;
	default:
		break;
	}
	snprintf(c->tracker, sizeof(c->tracker), "%s",
		 a->params.x_kmig_tracker ? a->params.x_kmig_tracker : "auto");
}

int qmp_migrate(struct kmig_qmp_ctx *ctx, const q_obj_migrate_arg *args, struct kmig_err *err)
{
	struct kmig_mig_config cfg;
	struct kmig_uri uri;
	char why[512];
	bool bad_scheme;

	if (args->has_resume && args->resume)
		return kmig_agent_postcopy_resume(ctx, args, err);	/* qmp_postcopy.c */
	/* a destination, or one that still waits for its source, sends nothing */
	if (ctx->a->incoming && !kmig_mig_incoming_done(ctx->a->mig)) {
		kmig_err_generic(err, "Guest is waiting for an incoming migration");
		return -1;
	}
	if (kmig_mig_in_progress(ctx->a->mig)) {
		kmig_err_generic(err, "There's a migration process in progress");
		return -1;
	}
	if (check_caps(ctx->a, err))
		return -1;
	if (kmig_agent_dirtyrate_check(ctx->a, err))	/* qmp_dirtyrate.c */
		return -1;
	if ((args->has_blk && args->blk) || (args->has_inc && args->inc)) {
		kmig_err_generic(err, "kmig migrates memory only: block migration (blk/inc) "
				 "is not supported");
		return -1;
	}
	if (kmig_agent_parse_uri(ctx, args->uri, &uri, &bad_scheme, err) < 0) {
		/* QEMU leaves no error-desc for an unknown scheme, but does for the rest */
		kmig_mig_fail_early(ctx->a->mig, bad_scheme ? NULL : err->desc);
		return -1;
	}
	config_of(ctx->a, &uri, &cfg);
	if (kmig_agent_postcopy_check(ctx->a, &uri, err)) {
		if (uri.fd >= 0)
			close(uri.fd);
		kmig_mig_fail_early(ctx->a->mig, err->desc);
		return -1;
	}
	if (cfg.channels > uri.data_chans) {
		if (uri.fd >= 0)
			close(uri.fd);
		if (uri.kind == KMIG_URI_DPDK)
			kmig_err_generic(err, "multifd over dpdk: needs a queue pair per channel: "
					 "multifd-channels=%u wants queues=%u in the URI (memif)",
					 cfg.channels, cfg.channels + 1);
		else
			kmig_err_generic(err, "multifd is not supported by current protocol");
		kmig_mig_fail_early(ctx->a->mig, err->desc);
		return -1;
	}
	if (kmig_mig_start(ctx->a->mig, &cfg, why, sizeof(why)) < 0) {
		if (uri.fd >= 0)
			close(uri.fd);
		kmig_err_generic(err, "%s", why);
		return -1;
	}
	return 0;
}

int qmp_migrate_incoming(struct kmig_qmp_ctx *ctx, const q_obj_migrate_incoming_arg *args,
			 struct kmig_err *err)
{
	struct kmig_mig_config cfg;
	struct kmig_uri uri;
	char why[512];
	bool bad_scheme;

	if (!ctx->a->incoming) {
		kmig_err_generic(err, "'-incoming' was not specified on the command line");
		return -1;
	}
	if (kmig_mig_incoming_pending(ctx->a->mig) || kmig_mig_incoming_done(ctx->a->mig)) {
		kmig_err_generic(err, "The incoming migration has already been started");
		return -1;
	}
	if (kmig_agent_parse_uri(ctx, args->uri, &uri, &bad_scheme, err) < 0)
		return -1;
	config_of(ctx->a, &uri, &cfg);
	if (kmig_mig_incoming(ctx->a->mig, &cfg, why, sizeof(why)) < 0) {
		if (uri.fd >= 0)
			close(uri.fd);
		kmig_err_generic(err, "%s", why);
		return -1;
	}
	return 0;
}

int qmp_migrate_cancel(struct kmig_qmp_ctx *ctx, struct kmig_err *err)
{
	char why[256];

	if (kmig_mig_cancel(ctx->a->mig, why, sizeof(why)) < 0) {
		kmig_err_generic(err, "%s", why);	/* postcopy: the destination runs it */
		return -1;
	}
	return 0;
}

int qmp_migrate_continue(struct kmig_qmp_ctx *ctx, const q_obj_migrate_continue_arg *args,
			 struct kmig_err *err)
{
	struct kmig_mig_info mi;

	kmig_mig_get_info(ctx->a->mig, &mi);
	/* kmig never stops in pre-switchover yet, so this is always a state mismatch */
	kmig_err_generic(err, "Migration not in expected state: %s",
			 MigrationStatus_str[kmig_agent_status_qapi(mi.status)]);
	return -1;
}

int qmp_query_colo_status(struct kmig_qmp_ctx *ctx, COLOStatus *ret, struct kmig_err *err)
{
	ret->mode = COLO_MODE_NONE;
	ret->last_mode = COLO_MODE_NONE;
	ret->reason = COLO_EXIT_REASON_NONE;
	return 0;
}

int qmp_x_colo_lost_heartbeat(struct kmig_qmp_ctx *ctx, struct kmig_err *err)
{
	kmig_err_generic(err, "The feature 'colo' is not enabled");
	return -1;
}

/* Commands of a QEMU virtual machine that have no meaning for kmig */
static int vm_only(struct kmig_err *err, const char *cmd, const char *why)
{
	kmig_err_generic(err, "%s is not supported by kmig: %s", cmd, why);
	return -1;
}

int qmp_client_migrate_info(struct kmig_qmp_ctx *ctx, const q_obj_client_migrate_info_arg *args,
			    struct kmig_err *err)
{
	return vm_only(err, "client_migrate_info", "there is no SPICE/VNC display client to move");
}

int qmp_xen_save_devices_state(struct kmig_qmp_ctx *ctx,
			       const q_obj_xen_save_devices_state_arg *args, struct kmig_err *err)
{
	return vm_only(err, "xen-save-devices-state", "kmig runs no Xen guest");
}

int qmp_xen_set_replication(struct kmig_qmp_ctx *ctx, const q_obj_xen_set_replication_arg *args,
			    struct kmig_err *err)
{
	return vm_only(err, "xen-set-replication", "kmig runs no Xen guest");
}

int qmp_query_xen_replication_status(struct kmig_qmp_ctx *ctx, ReplicationStatus *ret,
				     struct kmig_err *err)
{
	return vm_only(err, "query-xen-replication-status", "kmig runs no Xen guest");
}

int qmp_xen_colo_do_checkpoint(struct kmig_qmp_ctx *ctx, struct kmig_err *err)
{
	return vm_only(err, "xen-colo-do-checkpoint", "kmig runs no Xen guest");
}

int qmp_query_vcpu_dirty_limit(struct kmig_qmp_ctx *ctx, DirtyLimitInfoList *ret,
			       struct kmig_err *err)
{
	return 0;	/* no per-vCPU limits: an empty list, as QEMU without any set */
}
