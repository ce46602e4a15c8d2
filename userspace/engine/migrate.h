/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * migrate.h: the migration state machine, source and destination side.
 *
 * States follow QEMU: none -> setup -> active -> completed | failed, and
 * cancelling -> cancelled.  The source side runs on its own thread; every
 * status change is reported through the notify callback *on that thread*,
 * so the daemon must bounce it to its loop before touching QMP state.
 */
#ifndef KMIG_MIGRATE_H
#define KMIG_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "qapi_rt.h"
#include "uri.h"

enum kmig_mig_status {
	KMIG_MIG_NONE,
	KMIG_MIG_SETUP,
	KMIG_MIG_CANCELLING,
	KMIG_MIG_CANCELLED,
	KMIG_MIG_ACTIVE,
	KMIG_MIG_COMPLETED,
	KMIG_MIG_FAILED,
};

typedef void (*kmig_mig_notify)(void *opaque, enum kmig_mig_status st);

/**
 * struct kmig_mig_info - a consistent snapshot for query-migrate
 * @status:        current state
 * @error_desc:    why it failed ("" when no text: QEMU then sends none)
 * @setup_ms:      time spent in setup (valid once active)
 * @total_ms:      time since start (frozen when it ended)
 * @listen_host:   destination: address being listened on ("" if none)
 * @listen_port:   destination: tcp port or unix path being listened on
 * @listen_unix:   destination: whether the listener is a unix socket
 */
struct kmig_mig_info {
	enum kmig_mig_status status;
	char error_desc[512];
	int64_t setup_ms;
	int64_t total_ms;
	char listen_host[256];
	char listen_port[4096];
	bool listen_unix;
};

struct kmig_mig;

struct kmig_mig *kmig_mig_new(kmig_mig_notify notify, void *opaque);
/* cancels and joins whatever runs; accepts NULL */
void kmig_mig_free(struct kmig_mig *m);

/* true while a source migration is in setup/active/cancelling */
bool kmig_mig_in_progress(struct kmig_mig *m);
/* marks the migration failed before it started (a bad URI) */
void kmig_mig_fail_early(struct kmig_mig *m, const char *desc);
/* starts a source migration to @uri; 0 or -errno with @err set */
int kmig_mig_start(struct kmig_mig *m, const struct kmig_uri *uri, struct kmig_err *err);
/* asks a running migration to stop; the source keeps running */
void kmig_mig_cancel(struct kmig_mig *m);
void kmig_mig_get_info(struct kmig_mig *m, struct kmig_mig_info *out);

/* destination: start listening on @uri (tcp port 0 picks a free port) */
int kmig_mig_incoming(struct kmig_mig *m, const struct kmig_uri *uri, struct kmig_err *err);
bool kmig_mig_incoming_started(struct kmig_mig *m);

#endif
