// SPDX-License-Identifier: GPL-2.0-only
/*
 * qmp_params.c: migration parameters and capabilities over QMP: defaults,
 * validation with QEMU's ranges and texts, atomic apply, and the legacy
 * 2.10 commands that set one parameter in their own units
 * (migrate_set_downtime in seconds, migrate_set_speed, migrate-set-cache-size).
 *
 * Set is all-or-nothing, as in QEMU: the request is applied to a copy, the
 * copy is checked, and only a copy that passes replaces the live values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "migrate.h"
#include "qapi-commands.h"
#include "qmp_server.h"
#include "tracker.h"

/* every parameter that is a plain scalar (strings and lists are handled apart) */
#define SCALAR_PARAMS(X)							\
	X(announce_initial) X(announce_max) X(announce_rounds) X(announce_step)	\
	X(compress_level) X(compress_threads) X(decompress_threads)		\
	X(compress_wait_thread) X(throttle_trigger_threshold)			\
	X(cpu_throttle_initial) X(cpu_throttle_increment) X(cpu_throttle_tailslow) \
	X(max_bandwidth) X(downtime_limit) X(x_checkpoint_delay)		\
	X(block_incremental) X(multifd_channels) X(xbzrle_cache_size)		\
	X(max_postcopy_bandwidth) X(max_cpu_throttle) X(multifd_compression)	\
	X(multifd_zlib_level) X(multifd_zstd_level)

#define KMIG_MAX_DOWNTIME_MS 2000000ull	/* QEMU's (2000 * 1000) ms */
#define KMIG_PAGE_SIZE 4096ull

void kmig_agent_params_init(MigrationParameters *p)
{
	memset(p, 0, sizeof(*p));
#define HAS(f) p->has_##f = true;
	SCALAR_PARAMS(HAS)
#undef HAS
	p->announce_initial = 50;
	p->announce_max = 550;
	p->announce_rounds = 5;
	p->announce_step = 100;
	p->compress_level = 1;
	p->compress_threads = 8;
	p->decompress_threads = 2;
	p->compress_wait_thread = true;
	p->throttle_trigger_threshold = 50;
	p->cpu_throttle_initial = 20;
	p->cpu_throttle_increment = 10;
	p->max_bandwidth = 128ull << 20;
	p->downtime_limit = 300;
	p->x_checkpoint_delay = 20000;
	p->multifd_channels = 2;
	p->xbzrle_cache_size = 64ull << 20;
	p->max_cpu_throttle = 99;
	p->multifd_compression = MULTI_FD_COMPRESSION_NONE;
	p->multifd_zlib_level = 1;
	p->multifd_zstd_level = 1;
	p->has_tls_creds = p->has_tls_hostname = p->has_tls_authz = true;
	p->tls_creds = strdup("");
	p->tls_hostname = strdup("");
	p->tls_authz = strdup("");
	p->has_x_kmig_tracker = true;
	p->x_kmig_tracker = strdup("auto");
}

void kmig_agent_params_push(struct kmig_agent *d)
{
	const MigrationParameters *p = &d->params;
	struct kmig_tuning t = {
		.max_bandwidth = p->max_bandwidth,
		.max_postcopy_bandwidth = p->max_postcopy_bandwidth,
		.xbzrle_cache_size = p->xbzrle_cache_size,
		.conv = {
			.auto_converge = d->caps[MIGRATION_CAPABILITY_AUTO_CONVERGE],
			.guarantee = d->caps[MIGRATION_CAPABILITY_X_KMIG_DOWNTIME_GUARANTEE],
			.downtime_limit_ms = p->downtime_limit,
			.trigger_threshold = (unsigned int)p->throttle_trigger_threshold,
			.throttle_initial = (unsigned int)p->cpu_throttle_initial,
			.throttle_increment = (unsigned int)p->cpu_throttle_increment,
			.max_throttle = (unsigned int)p->max_cpu_throttle,
			.tailslow = p->cpu_throttle_tailslow,
		},
	};

	kmig_mig_set_tuning(d->mig, &t);
}

static bool range_err(struct kmig_err *err, const char *name, const char *what)
{
	kmig_err_generic(err, "Parameter '%s' expects %s", name, what);
	return false;
}

/* QEMU's migrate_params_check(), in its order and words */
static bool params_check(const MigrationParameters *p, struct kmig_err *err)
{
	if (p->compress_level > 9)
		return range_err(err, "compress_level", "a value between 0 and 9");
	if (p->compress_threads < 1)
		return range_err(err, "compress_threads", "a value between 1 and 255");
	if (p->decompress_threads < 1)
		return range_err(err, "decompress_threads", "a value between 1 and 255");
	if (p->throttle_trigger_threshold < 1 || p->throttle_trigger_threshold > 100)
		return range_err(err, "throttle_trigger_threshold",
				 "an integer in the range of 1 to 100");
	if (p->cpu_throttle_initial < 1 || p->cpu_throttle_initial > 99)
		return range_err(err, "cpu_throttle_initial", "an integer in the range of 1 to 99");
	if (p->cpu_throttle_increment < 1 || p->cpu_throttle_increment > 99)
		return range_err(err, "cpu_throttle_increment",
				 "an integer in the range of 1 to 99");
	if (p->downtime_limit > KMIG_MAX_DOWNTIME_MS)
		return range_err(err, "downtime_limit",
				 "an integer in the range of 0 to (2000 * 1000) ms");
	if (p->multifd_channels < 1)
		return range_err(err, "multifd_channels", "a value between 1 and 255");
	/* QEMU 7.2 never stores these two (so never checks them); kmig does both */
	if (p->multifd_zlib_level > 9)
		return range_err(err, "multifd_zlib_level", "a value between 0 and 9");
	if (p->multifd_zstd_level > 20)
		return range_err(err, "multifd_zstd_level", "a value between 0 and 20");
	if (p->xbzrle_cache_size < KMIG_PAGE_SIZE ||
	    (p->xbzrle_cache_size & (p->xbzrle_cache_size - 1)))
		return range_err(err, "xbzrle_cache_size",
				 "a power of two no less than the target page size");
	if (p->max_cpu_throttle < p->cpu_throttle_initial || p->max_cpu_throttle > 99)
		return range_err(err, "max_cpu_throttle",
				 "an integer in the range of cpu_throttle_initial to 99");
	if (p->announce_initial > 100000)
		return range_err(err, "announce_initial", "a value between 0 and 100000");
	if (p->announce_max > 100000)
		return range_err(err, "announce_max", "a value between 0 and 100000");
	if (p->announce_rounds > 1000)
		return range_err(err, "announce_rounds", "a value between 0 and 1000");
	if (p->announce_step < 1 || p->announce_step > 10000)
		return range_err(err, "announce_step", "a value between 0 and 10000");
	if (p->x_kmig_tracker && strcmp(p->x_kmig_tracker, "auto") &&
	    !kmig_tracker_find(p->x_kmig_tracker)) {
		char names[256];
		size_t o = 0;

		for (size_t i = 0; kmig_trackers[i] && o < sizeof(names); i++)
			o += snprintf(names + o, sizeof(names) - o, ", '%s'", kmig_trackers[i]->name);
		kmig_err_generic(err, "Parameter 'x-kmig-tracker' expects 'auto'%s", names);
		return false;
	}
	return true;
}

/* Deep copy through the generated visitors: one way to copy any QAPI value. */
static bool params_copy(const MigrationParameters *src, MigrationParameters *dst,
			struct kmig_err *err)
{
	struct json_object *j = visit_out_MigrationParameters(src);
	bool ok;

	memset(dst, 0, sizeof(*dst));
	ok = j && visit_in_MigrationParameters(j, NULL, NULL, dst, err);
	json_object_put(j);
	return ok;
}

static int set_str(char **dst, const StrOrNull *v, struct kmig_err *err)
{
	char *s = strdup(v->type == KMIG_QTYPE_STRING ? v->u.s : "");

	if (!s)
		return kmig_in_nomem(err), -1;
	free(*dst);
	*dst = s;
	return 0;
}

int qmp_migrate_set_parameters(struct kmig_qmp_ctx *ctx, const MigrateSetParameters *args,
			       struct kmig_err *err)
{
	MigrationParameters next;

	if (!params_copy(&ctx->a->params, &next, err))
		goto fail;
#define APPLY(f) if (args->has_##f) next.f = args->f;
	SCALAR_PARAMS(APPLY)
#undef APPLY
	if (args->has_x_kmig_tracker) {
		char *t = strdup(args->x_kmig_tracker);

		if (!t)
			goto fail;
		free(next.x_kmig_tracker);
		next.x_kmig_tracker = t;
	}
	if ((args->has_tls_creds && set_str(&next.tls_creds, &args->tls_creds, err) < 0) ||
	    (args->has_tls_hostname && set_str(&next.tls_hostname, &args->tls_hostname, err) < 0) ||
	    (args->has_tls_authz && set_str(&next.tls_authz, &args->tls_authz, err) < 0))
		goto fail;
	if (args->has_block_bitmap_mapping) {
		struct json_object *j = visit_out_BitmapMigrationNodeAliasList(&args->block_bitmap_mapping);
		bool ok;

		qapi_clear_BitmapMigrationNodeAliasList(&next.block_bitmap_mapping);
		ok = visit_in_BitmapMigrationNodeAliasList(j, "block-bitmap-mapping", NULL,
							   &next.block_bitmap_mapping, err);
		json_object_put(j);
		if (!ok)
			goto fail;
		/* absent from query-migrate-parameters until set once, as in QEMU */
		next.has_block_bitmap_mapping = true;
	}
	if (!params_check(&next, err))
		goto fail;
	qapi_clear_MigrationParameters(&ctx->a->params);
	ctx->a->params = next;
	kmig_agent_params_push(ctx->a);	/* max-bandwidth etc. take effect at once */
	return 0;
fail:
	qapi_clear_MigrationParameters(&next);
	return -1;
}

int qmp_query_migrate_parameters(struct kmig_qmp_ctx *ctx, MigrationParameters *ret,
				 struct kmig_err *err)
{
	return params_copy(&ctx->a->params, ret, err) ? 0 : -1;
}

int qmp_migrate_set_downtime(struct kmig_qmp_ctx *ctx, const q_obj_migrate_set_downtime_arg *args,
			     struct kmig_err *err)
{
	MigrateSetParameters p = { .has_downtime_limit = true };

	if (!(args->value >= 0 && args->value <= KMIG_MAX_DOWNTIME_MS / 1000)) {
		kmig_err_generic(err, "Parameter 'downtime_limit' expects an integer in the range "
				 "of 0 to %llu seconds", KMIG_MAX_DOWNTIME_MS / 1000);
		return -1;
	}
	p.downtime_limit = (uint64_t)(args->value * 1000);	/* seconds -> ms */
	return qmp_migrate_set_parameters(ctx, &p, err);
}

int qmp_migrate_set_speed(struct kmig_qmp_ctx *ctx, const q_obj_migrate_set_speed_arg *args,
			  struct kmig_err *err)
{
	MigrateSetParameters p = { .has_max_bandwidth = true, .max_bandwidth = args->value };

	if (args->value < 0) {
		kmig_err_generic(err, "Parameter 'max_bandwidth' expects an integer in the range "
				 "of 0 to %llu bytes/second", (unsigned long long)UINT64_MAX);
		return -1;
	}
	return qmp_migrate_set_parameters(ctx, &p, err);
}

int qmp_migrate_set_cache_size(struct kmig_qmp_ctx *ctx,
			       const q_obj_migrate_set_cache_size_arg *args, struct kmig_err *err)
{
	MigrateSetParameters p = { .has_xbzrle_cache_size = true };
	uint64_t v;

	if (args->value < (int64_t)KMIG_PAGE_SIZE) {
		kmig_err_generic(err, "Parameter 'cache size' expects is smaller than page size");
		return -1;
	}
	/* 2.10 semantics: round down to a power of two */
	v = (uint64_t)args->value;
	while (v & (v - 1))
		v &= v - 1;
	p.xbzrle_cache_size = v;
	return qmp_migrate_set_parameters(ctx, &p, err);
}

int qmp_query_migrate_cache_size(struct kmig_qmp_ctx *ctx, int64_t *ret, struct kmig_err *err)
{
	*ret = (int64_t)ctx->a->params.xbzrle_cache_size;
	return 0;
}

/* QEMU's migrate_caps_check() rules that apply to kmig */
static bool caps_check(const bool *c, const MigrationParameters *p, struct kmig_err *err)
{
	static const MigrationCapability not_with_bg[] = {
		MIGRATION_CAPABILITY_POSTCOPY_RAM, MIGRATION_CAPABILITY_DIRTY_BITMAPS,
		MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME, MIGRATION_CAPABILITY_LATE_BLOCK_ACTIVATE,
		MIGRATION_CAPABILITY_RETURN_PATH, MIGRATION_CAPABILITY_MULTIFD,
		MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER, MIGRATION_CAPABILITY_AUTO_CONVERGE,
		MIGRATION_CAPABILITY_RELEASE_RAM, MIGRATION_CAPABILITY_RDMA_PIN_ALL,
		MIGRATION_CAPABILITY_COMPRESS, MIGRATION_CAPABILITY_XBZRLE,
		MIGRATION_CAPABILITY_X_COLO, MIGRATION_CAPABILITY_VALIDATE_UUID,
		MIGRATION_CAPABILITY_ZERO_COPY_SEND,
	};

	if (c[MIGRATION_CAPABILITY_POSTCOPY_RAM] && c[MIGRATION_CAPABILITY_COMPRESS]) {
		kmig_err_generic(err, "Postcopy is not currently compatible with compression");
		return false;
	}
	if (c[MIGRATION_CAPABILITY_BACKGROUND_SNAPSHOT]) {
		for (size_t i = 0; i < sizeof(not_with_bg) / sizeof(not_with_bg[0]); i++) {
			if (c[not_with_bg[i]]) {
				kmig_err_generic(err, "Background-snapshot is not compatible with %s",
						 MigrationCapability_str[not_with_bg[i]]);
				return false;
			}
		}
	}
	if (c[MIGRATION_CAPABILITY_ZERO_COPY_SEND] &&
	    (!c[MIGRATION_CAPABILITY_MULTIFD] || c[MIGRATION_CAPABILITY_COMPRESS] ||
	     c[MIGRATION_CAPABILITY_XBZRLE] ||
	     p->multifd_compression != MULTI_FD_COMPRESSION_NONE ||
	     (p->tls_creds && *p->tls_creds))) {
		kmig_err_generic(err, "Zero copy only available for non-compressed non-TLS multifd "
				 "migration");
		return false;
	}
	if (c[MIGRATION_CAPABILITY_POSTCOPY_PREEMPT] && !c[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
		kmig_err_generic(err, "Postcopy preempt requires postcopy-ram");
		return false;
	}
	return true;
}

int qmp_migrate_set_capabilities(struct kmig_qmp_ctx *ctx,
				 const q_obj_migrate_set_capabilities_arg *args,
				 struct kmig_err *err)
{
	bool next[MIGRATION_CAPABILITY__MAX];

	if (kmig_mig_in_progress(ctx->a->mig)) {
		kmig_err_generic(err, "There's a migration process in progress");
		return -1;
	}
	memcpy(next, ctx->a->caps, sizeof(next));
	for (size_t i = 0; i < args->capabilities.n; i++)
		next[args->capabilities.v[i].capability] = args->capabilities.v[i].state;
	if (!caps_check(next, &ctx->a->params, err))
		return -1;
	/* QEMU checks the host when a destination first turns it on */
	if (next[MIGRATION_CAPABILITY_POSTCOPY_RAM] && !ctx->a->caps[MIGRATION_CAPABILITY_POSTCOPY_RAM] &&
	    ctx->a->incoming && !kmig_postcopy_supported()) {
		kmig_err_generic(err, "Postcopy is not supported");
		return -1;
	}
	if (next[MIGRATION_CAPABILITY_POSTCOPY_RAM] && next[MIGRATION_CAPABILITY_X_IGNORE_SHARED]) {
		kmig_err_generic(err, "Postcopy is not compatible with ignore-shared");
		return -1;
	}
	memcpy(ctx->a->caps, next, sizeof(next));
	kmig_agent_params_push(ctx->a);	/* auto-converge and the guarantee */
	return 0;
}

int qmp_query_migrate_capabilities(struct kmig_qmp_ctx *ctx, MigrationCapabilityStatusList *ret,
				   struct kmig_err *err)
{
	ret->v = calloc(MIGRATION_CAPABILITY__MAX, sizeof(*ret->v));
	if (!ret->v)
		return kmig_in_nomem(err), -1;
	ret->n = MIGRATION_CAPABILITY__MAX;
	for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
		ret->v[i].capability = i;
		ret->v[i].state = ctx->a->caps[i];
	}
	return 0;
}
