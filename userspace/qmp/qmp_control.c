// SPDX-License-Identifier: GPL-2.0-only
/*
 * qmp_control.c: the QMP commands about the protocol and the agent itself:
 * qmp_capabilities, query-version, query-commands, query-qmp-schema and
 * query-status.  Migration commands live in qmp_migration.c/qmp_params.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "migrate.h"
#include "qapi-commands.h"
#include "qmp_server.h"

extern const char kmig_qapi_schema_json[];

/* closes the descriptor kept as @name; false if there was none */
static bool close_named(struct kmig_agent *d, const char *name)
{
	int fd = kmig_agent_take_named_fd(d, name);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int qmp_qmp_capabilities(struct kmig_qmp_ctx *ctx, const q_obj_qmp_capabilities_arg *args,
			 struct kmig_err *err)
{
	if (kmig_qmp_client_negotiated(ctx->client)) {
		kmig_err_set(err, KMIG_ERR_COMMAND_NOT_FOUND,
			     "Capabilities negotiation is already complete, command ignored");
		return -1;
	}
	/* kmig offers no optional capability: 'oob' would need a second queue */
	if (args->has_enable && args->enable.n) {
		kmig_err_generic(err, "Capability %s not available",
				 QMPCapability_str[args->enable.v[0]]);
		return -1;
	}
	kmig_qmp_client_set_negotiated(ctx->client);
	return 0;
}

int qmp_query_version(struct kmig_qmp_ctx *ctx, VersionInfo *ret, struct kmig_err *err)
{
	/* the QAPI contract kmig implements is QEMU 2.10's */
	ret->qemu.major = 2;
	ret->qemu.minor = 10;
	ret->qemu.micro = 0;
	ret->package = strdup("kmig " KMIG_VERSION);
	return ret->package ? 0 : (kmig_in_nomem(err), -1);
}

int qmp_query_commands(struct kmig_qmp_ctx *ctx, CommandInfoList *ret, struct kmig_err *err)
{
	size_t n = 0;

	while (kmig_qmp_commands[n].name)
		n++;
	ret->v = calloc(n, sizeof(*ret->v));
	if (!ret->v)
		return kmig_in_nomem(err), -1;
	ret->n = n;
	for (size_t i = 0; i < n; i++) {
		ret->v[i].name = strdup(kmig_qmp_commands[i].name);
		if (!ret->v[i].name)
			return kmig_in_nomem(err), -1;
	}
	return 0;
}

/* 'gen': false in the schema: the answer is generated data, not a struct */
int qmp_marshal_query_qmp_schema(struct kmig_qmp_ctx *ctx, struct json_object *args,
				 struct json_object **ret, struct kmig_err *err)
{
	static const char *const none[] = { NULL };

	if (args && !kmig_in_check_struct(args, NULL, none, NULL, err))
		return -1;
	*ret = json_tokener_parse(kmig_qapi_schema_json);
	if (!*ret) {
		kmig_err_generic(err, "introspection data is corrupt");
		return -1;
	}
	return 0;
}

/* the workload's run state, derived from the migration, as QEMU names it */
int qmp_query_status(struct kmig_qmp_ctx *ctx, StatusInfo *ret, struct kmig_err *err)
{
	struct kmig_mig_info mi;

	kmig_mig_get_info(ctx->a->mig, &mi);
	if (mi.paused)
		ret->status = RUN_STATE_FINISH_MIGRATE;
	else if (mi.held)
		ret->status = RUN_STATE_PAUSED;
	else if (mi.role == KMIG_MIG_ROLE_SRC && mi.status == KMIG_MIG_COMPLETED)
		ret->status = RUN_STATE_POSTMIGRATE;
	else if (ctx->a->incoming && !kmig_mig_incoming_done(ctx->a->mig) && !mi.dst_running)
		ret->status = RUN_STATE_INMIGRATE;
	else
		ret->status = RUN_STATE_RUNNING;
	ret->running = ret->status == RUN_STATE_RUNNING;
	ret->singlestep = false;
	return 0;
}

int qmp_getfd(struct kmig_qmp_ctx *ctx, const q_obj_getfd_arg *args, struct kmig_err *err)
{
	struct kmig_agent *d = ctx->a;
	int fd, slot = -1;

	if (args->fdname[0] >= '0' && args->fdname[0] <= '9') {
		kmig_err_generic(err, "Parameter 'fdname' expects a name not starting with a digit");
		return -1;
	}
	if (strlen(args->fdname) >= sizeof(d->named_fds[0].name)) {
		kmig_err_generic(err, "Parameter 'fdname' expects a name shorter than %zu bytes",
				 sizeof(d->named_fds[0].name));
		return -1;
	}
	fd = kmig_qmp_client_take_fd(ctx->client);
	if (fd < 0) {
		kmig_err_generic(err, "No file descriptor supplied via SCM_RIGHTS");
		return -1;
	}
	close_named(d, args->fdname);
	for (int i = 0; i < KMIG_AGENT_MAX_NAMED_FDS && slot < 0; i++)
		if (d->named_fds[i].fd < 0)
			slot = i;
	if (slot < 0) {
		close(fd);
		kmig_err_generic(err, "Too many descriptors kept (%d); closefd some first",
				 KMIG_AGENT_MAX_NAMED_FDS);
		return -1;
	}
	snprintf(d->named_fds[slot].name, sizeof(d->named_fds[slot].name), "%s", args->fdname);
	d->named_fds[slot].fd = fd;
	return 0;
}

int qmp_closefd(struct kmig_qmp_ctx *ctx, const q_obj_closefd_arg *args, struct kmig_err *err)
{
	if (!close_named(ctx->a, args->fdname)) {
		kmig_err_generic(err, "File descriptor named '%s' not found", args->fdname);
		return -1;
	}
	return 0;
}

int qmp_cont(struct kmig_qmp_ctx *ctx, struct kmig_err *err)
{
	char why[512];

	if (kmig_mig_cont(ctx->a->mig, why, sizeof(why)) < 0) {
		kmig_err_generic(err, "%s", why);
		return -1;
	}
	return 0;
}
