/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kmigd.h: the agent's state, shared by main.c (which builds it) and the
 * QMP handlers (which read and change it on the loop thread).
 */
#ifndef KMIG_KMIGD_H
#define KMIG_KMIGD_H

#include <stdbool.h>

#include "migrate.h"
#include "qapi-types.h"

#define KMIGD_MAX_NAMED_FDS 16

struct kmig_loop;
struct kmig_qmp_server;
struct kmig_mig;
struct kmig_workload;
struct kmig_dirtyrate;

/**
 * struct kmigd - one agent
 * @loop:      the event loop every QMP handler runs on
 * @qmp:       the QMP server (its sink broadcasts events)
 * @mig:       migration state machine (source and destination)
 * @params:    migration parameters as query-migrate-parameters reports them
 * @caps:      migration capabilities, indexed by MigrationCapability
 * @incoming:  started with --incoming (defer or a URI)
 * @wl:        the registered workload (also attached to @mig), or NULL
 * @wl_watched: @wl's socket is in the loop (not while a migration owns it)
 * @wl_registering: a registration thread runs (its result comes to the loop)
 * @wl_listen_fd, @wl_path: the workload socket
 * @named_fds:  descriptors kept by getfd, for fd:NAME URIs (fd -1 = free)
 * @dirtyrate: calc-dirty-rate's measurement (qmp_dirtyrate.c), NULL until used
 */
struct kmigd {
	struct kmig_loop *loop;
	struct kmig_qmp_server *qmp;
	struct kmig_mig *mig;
	MigrationParameters params;
	bool caps[MIGRATION_CAPABILITY__MAX];
	bool incoming;
	struct kmig_workload *wl;
	bool wl_watched;
	bool wl_registering;
	int wl_listen_fd;
	char wl_path[108];
	struct {
		char name[64];
		int fd;
	} named_fds[KMIGD_MAX_NAMED_FDS];
	struct kmig_dirtyrate *dirtyrate;
};

/* takes the descriptor getfd kept as @name (-1 if none): a URI uses it once */
int kmigd_take_named_fd(struct kmigd *d, const char *name);

/* an engine state by its QAPI name */
MigrationStatus kmigd_status_qapi(enum kmig_mig_status st);

/* 0, or -1 with @err set while a dirty-rate measurement holds the workload's tracker */
int kmigd_dirtyrate_check(struct kmigd *d, struct kmig_err *err);

/* defaults of every parameter, as QEMU 7.2 reports them */
void kmigd_params_init(MigrationParameters *p);
/* hands the parameters the engine reads while running to it */
void kmigd_params_push(struct kmigd *d);

#endif
