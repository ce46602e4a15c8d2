/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wl_server.h: the socket workloads connect to (kmigd --workload PATH).
 * Runs on the loop thread: accepts, registers the workload's blocks (on a
 * short-lived thread), hands the workload to the migration engine, and
 * drops it when it goes away.
 */
#ifndef KMIG_WL_SERVER_H
#define KMIG_WL_SERVER_H

struct kmig_loop;
struct kmig_mig;
struct kmig_wl_server;

/* listens on @path (mode 0600); NULL on failure (logged) */
struct kmig_wl_server *kmig_wl_server_new(struct kmig_loop *loop, struct kmig_mig *mig,
					  const char *path);
/* the engine stopped using the workload (loop thread) */
void kmig_wl_server_returned(struct kmig_wl_server *s);
/* the engine must be gone (or idle) first; accepts NULL */
void kmig_wl_server_free(struct kmig_wl_server *s);

#endif
