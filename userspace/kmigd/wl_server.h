/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wl_server.h: the socket workloads connect to (kmigd --workload PATH).
 * Runs on the loop thread: accepts, registers the workload's blocks, hands
 * the workload to the migration engine, and drops it when it goes away.
 */
#ifndef KMIG_WL_SERVER_H
#define KMIG_WL_SERVER_H

struct kmigd;

/* 0 or -errno (logged) */
int kmigd_wl_listen(struct kmigd *d, const char *path);
/* the engine stopped using the workload (loop thread) */
void kmigd_wl_returned(struct kmigd *d);
void kmigd_wl_close(struct kmigd *d);

#endif
