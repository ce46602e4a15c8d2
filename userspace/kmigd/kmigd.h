/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kmigd.h: the agent's state, shared by main.c (which builds it) and the
 * QMP handlers (which read and change it on the loop thread).
 */
#ifndef KMIG_KMIGD_H
#define KMIG_KMIGD_H

#include <stdbool.h>

#include "qapi-types.h"

struct kmig_loop;
struct kmig_qmp_server;
struct kmig_mig;

/**
 * struct kmigd - one agent
 * @loop:      the event loop every QMP handler runs on
 * @qmp:       the QMP server (its sink broadcasts events)
 * @mig:       migration state machine (source and destination)
 * @params:    migration parameters as query-migrate-parameters reports them
 * @caps:      migration capabilities, indexed by MigrationCapability
 * @incoming:  started with --incoming (defer or a URI)
 * @runstate:  what query-status reports for the workload
 */
struct kmigd {
	struct kmig_loop *loop;
	struct kmig_qmp_server *qmp;
	struct kmig_mig *mig;
	MigrationParameters params;
	bool caps[MIGRATION_CAPABILITY__MAX];
	bool incoming;
	RunState runstate;
};

/* defaults of every parameter, as QEMU 7.2 reports them */
void kmigd_params_init(MigrationParameters *p);

#endif
