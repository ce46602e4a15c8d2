/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * migrate.h: the migration engine's public face: the state machine, source
 * and destination, as the QMP layer drives it.
 *
 * States follow QEMU: none -> setup -> active -> completed | failed, and
 * cancelling -> cancelled.  Each migration runs on its own thread; status
 * changes and passes are reported through the hooks *on that thread*, so the
 * daemon bounces them to its loop before touching QMP state.
 */
#ifndef KMIG_MIGRATE_H
#define KMIG_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "qapi_rt.h"
#include "uri.h"

struct kmig_workload;

enum kmig_mig_status {
	KMIG_MIG_NONE,
	KMIG_MIG_SETUP,
	KMIG_MIG_CANCELLING,
	KMIG_MIG_CANCELLED,
	KMIG_MIG_ACTIVE,
	KMIG_MIG_COMPLETED,
	KMIG_MIG_FAILED,
};

/**
 * struct kmig_mig_hooks - what the engine tells its owner (any thread)
 * @status:        the status changed
 * @pass:          dirty sync number @pass (1, 2, ...) happened; QEMU's
 *                 MIGRATION_PASS (the first one comes during setup)
 * @workload_done: the engine no longer uses the workload it borrowed
 */
struct kmig_mig_hooks {
	void (*status)(void *opaque, enum kmig_mig_status st);
	void (*pass)(void *opaque, unsigned int pass);
	void (*workload_done)(void *opaque);
};

/** struct kmig_tuning - parameters the engine reads while it runs */
struct kmig_tuning {
	uint64_t max_bandwidth;		/* bytes/s, 0 = unlimited */
	uint64_t downtime_limit_ms;
};

/**
 * struct kmig_mig_stats - counters for query-migrate (QEMU's meanings)
 * All byte counts are bytes on the wire unless named *_pages.
 */
struct kmig_mig_stats {
	uint64_t total;			/* RAM bytes being migrated */
	uint64_t transferred;		/* stream bytes sent so far */
	uint64_t remaining;		/* dirty bytes still to send */
	uint64_t duplicate;		/* zero pages sent as headers only */
	uint64_t normal;		/* full pages sent */
	uint64_t normal_bytes;
	uint64_t dirty_sync_count;	/* harvests */
	uint64_t dirty_pages_rate;	/* pages/s dirtied, last pass */
	uint64_t pages_per_second;
	uint64_t precopy_bytes;		/* sent while the workload ran */
	uint64_t downtime_bytes;	/* sent while it was stopped */
	double mbps;
	int64_t expected_downtime_ms;
	int64_t downtime_ms;
	unsigned int passes;
};

/**
 * struct kmig_mig_info - a consistent snapshot for query-migrate / -status
 * @status:       current state
 * @dest:         this side is a destination
 * @paused:       the source workload is stopped for the final copy
 * @held:         the source workload stays stopped after a failure past the
 *                hand-over, until kmig_mig_release_held()
 * @error_desc:   why it failed ("" when there is no text: QEMU then sends none)
 * @setup_ms:     time spent in setup (valid once active)
 * @total_ms:     time since start (frozen when it ended)
 * @stats:        counters (source side)
 * @tracker:      dirty tracker in use ("" until known)
 * @transport:    channel in use ("" until known)
 * @listen_*:     destination: where it listens (listen_port "" if not)
 */
struct kmig_mig_info {
	enum kmig_mig_status status;
	bool dest;
	bool paused;
	bool held;
	char error_desc[512];
	int64_t setup_ms;
	int64_t total_ms;
	struct kmig_mig_stats stats;
	char tracker[256];
	char transport[16];
	char listen_host[256];
	char listen_port[4096];
	bool listen_unix;
};

struct kmig_mig;

struct kmig_mig *kmig_mig_new(const struct kmig_mig_hooks *hooks, void *opaque);
/* cancels and joins whatever runs; accepts NULL */
void kmig_mig_free(struct kmig_mig *m);

void kmig_mig_set_tuning(struct kmig_mig *m, const struct kmig_tuning *t);

/*
 * The registered workload (loop thread).  attach: -EBUSY if one is already
 * attached.  detach: false while a migration still uses it (then the owner
 * waits for workload_done); on true the caller may free it.
 */
int kmig_mig_attach_workload(struct kmig_mig *m, struct kmig_workload *w);
bool kmig_mig_detach_workload(struct kmig_mig *m, struct kmig_workload *w);
bool kmig_mig_workload_busy(struct kmig_mig *m);

/* true while a source migration is in setup/active/cancelling */
bool kmig_mig_in_progress(struct kmig_mig *m);
/* marks the migration failed before it started (a bad URI) */
void kmig_mig_fail_early(struct kmig_mig *m, const char *desc);
/* starts a source migration to @uri; 0 or -errno with @err set */
int kmig_mig_start(struct kmig_mig *m, const struct kmig_uri *uri, struct kmig_err *err);
/* asks a running migration to stop; the source keeps running */
void kmig_mig_cancel(struct kmig_mig *m);
void kmig_mig_get_info(struct kmig_mig *m, struct kmig_mig_info *out);

/*
 * Loop thread: clears the hold and returns true if the source workload was
 * being held stopped (the caller then resumes it).
 */
bool kmig_mig_release_held(struct kmig_mig *m);

/* destination: start listening on @uri (tcp port 0 picks a free port) */
int kmig_mig_incoming(struct kmig_mig *m, const struct kmig_uri *uri, struct kmig_err *err);
bool kmig_mig_incoming_started(struct kmig_mig *m);

#endif
