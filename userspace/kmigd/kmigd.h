/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kmigd.h: the daemon's parts, as main.c wires them: the event loop, the
 * QMP server and the agent state its handlers use, the migration engine,
 * and the workload socket.  Only main.c and the workload server see this.
 */
#ifndef KMIG_KMIGD_H
#define KMIG_KMIGD_H

#include "agent.h"

struct kmig_loop;
struct kmig_qmp_server;
struct kmig_wl_server;

struct kmigd {
	struct kmig_loop *loop;
	struct kmig_qmp_server *qmp;
	struct kmig_mig *mig;
	struct kmig_agent agent;
	struct kmig_wl_server *wls;
};

#endif
