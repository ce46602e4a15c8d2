/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * agent.h: what the QMP command handlers work with: the migration engine,
 * the migration parameters and capabilities as QMP sees them, the
 * descriptors kept by getfd, and where events go.  The daemon (kmigd/)
 * builds one; the handlers reach nothing else of it.
 */
#ifndef KMIG_AGENT_H
#define KMIG_AGENT_H

#include <stdbool.h>

#include "migrate.h"
#include "qapi-types.h"

#define KMIG_AGENT_MAX_NAMED_FDS 16

struct kmig_event_sink;
struct kmig_dirtyrate;

/**
 * struct kmig_agent - one agent, as the QMP layer sees it
 * @mig:       migration state machine (source and destination)
 * @sink:      where events go (every negotiated QMP client)
 * @params:    migration parameters as query-migrate-parameters reports them
 * @caps:      migration capabilities, indexed by MigrationCapability
 * @incoming:  started with --incoming (defer or a URI)
 * @named_fds: descriptors kept by getfd, for fd:NAME URIs (fd -1 = free)
 * @dirtyrate: calc-dirty-rate's measurement (qmp_dirtyrate.c), NULL until used
 */
struct kmig_agent {
	struct kmig_mig *mig;
	struct kmig_event_sink *sink;
	MigrationParameters params;
	bool caps[MIGRATION_CAPABILITY__MAX];
	bool incoming;
	struct {
		char name[64];
		int fd;
	} named_fds[KMIG_AGENT_MAX_NAMED_FDS];
	struct kmig_dirtyrate *dirtyrate;
};

/* defaults everywhere, no descriptors kept; pushes the tuning to @mig */
void kmig_agent_init(struct kmig_agent *a, struct kmig_mig *mig, bool incoming);
/* also stops a dirty-rate measurement at once */
void kmig_agent_fini(struct kmig_agent *a);

/* 0, or -1 with @err set while a dirty-rate measurement holds the workload's tracker */
int kmig_agent_dirtyrate_check(struct kmig_agent *a, struct kmig_err *err);

/* takes the descriptor getfd kept as @name (-1 if none): a URI uses it once */
int kmig_agent_take_named_fd(struct kmig_agent *a, const char *name);

struct kmig_qmp_ctx;
/* the URI of a migrate / migrate-incoming / migrate-recover, parsed (fd:NAME taken); -1 with @err */
int kmig_agent_parse_uri(struct kmig_qmp_ctx *ctx, const char *text, struct kmig_uri *uri,
			 bool *bad_scheme, struct kmig_err *err);
/* qmp_postcopy.c: what a postcopy (or return-path) migration needs of its URI and caps */
int kmig_agent_postcopy_check(struct kmig_agent *a, const struct kmig_uri *uri,
			      struct kmig_err *err);
/* qmp_postcopy.c: migrate with resume: true */
int kmig_agent_postcopy_resume(struct kmig_qmp_ctx *ctx, const q_obj_migrate_arg *args,
			       struct kmig_err *err);
/* qmp_postcopy.c: query-migrate's x-kmig-postcopy, once postcopy began */
int kmig_agent_fill_postcopy(const struct kmig_mig_info *mi, MigrationInfo *ret,
			     struct kmig_err *err);

/* an engine state by its QAPI name */
MigrationStatus kmig_agent_status_qapi(enum kmig_mig_status st);

/* defaults of every parameter, as QEMU 7.2 reports them */
void kmig_agent_params_init(MigrationParameters *p);
/* hands the parameters the engine reads while running to it */
void kmig_agent_params_push(struct kmig_agent *a);

/*
 * Sends the engine's queued events as QMP events, in order (loop thread):
 * MIGRATION and MIGRATION_PASS only with the events capability, as QEMU;
 * STOP and RESUME always.
 */
void kmig_agent_emit_events(struct kmig_agent *a);

#endif
