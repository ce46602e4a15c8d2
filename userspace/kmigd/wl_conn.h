/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wl_conn.h: kmigd's side of one workload connection: registration over
 * the workload socket (wl_proto.h) and the engine's workload calls
 * (engine/workload.h) carried over it.  Used by the workload server
 * (wl_server.c) on a registration thread, then by the engine.
 */
#ifndef KMIG_WL_CONN_H
#define KMIG_WL_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "workload.h"

/*
 * Reads HELLO, BLOCKs and READY from a freshly accepted @sock (at most
 * @timeout_ms for all of it), validates them and maps every block.
 * Returns a new workload (which owns @sock) or NULL with @err filled; on
 * failure @sock is closed.  It is not told REGISTERED yet.
 */
struct kmig_workload *kmig_wl_conn_register(int sock, int timeout_ms, char *err, size_t n);
/* tells the workload it is registered (with the features kmigd uses); 0 or -errno */
int kmig_wl_conn_accept(struct kmig_workload *w);
void kmig_wl_conn_free(struct kmig_workload *w);
/* the protocol socket (to watch for the workload going away) */
int kmig_wl_conn_sock(const struct kmig_workload *w);
/* the agreed KMIG_WL_F_* features */
uint64_t kmig_wl_conn_features(const struct kmig_workload *w);

#endif
