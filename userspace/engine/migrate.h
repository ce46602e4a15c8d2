/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * migrate.h: the migration engine's public face: the state machine, the
 * source and the destination, as a front end (QMP, tests) drives them.
 * Nothing here knows QMP: calls return -errno and a sentence.
 *
 * States follow QEMU: none -> setup -> active -> completed | failed, and
 * cancelling -> cancelled; with postcopy, active -> postcopy-active ->
 * completed, a broken connection postcopy-active -> postcopy-paused, and a
 * resume postcopy-paused -> postcopy-recover -> postcopy-active.  Every change is a from->to transition that
 * fails once the state has moved on (QEMU's migrate_set_state), and every
 * transition, dirty sync and run-state change queues one event, in order.
 * The owner's notify hook says "events are waiting"; it drains them with
 * kmig_mig_next_event() on its own thread.  Each migration runs on its own
 * thread; no call here ever waits for it, except kmig_mig_free().
 */
#ifndef KMIG_MIGRATE_H
#define KMIG_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "converge.h"
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
	KMIG_MIG_POSTCOPY_ACTIVE,	/* the workload runs on the destination, pages follow */
	KMIG_MIG_POSTCOPY_PAUSED,	/* postcopy lost its connection: waiting for a resume */
	KMIG_MIG_POSTCOPY_RECOVER,	/* a paused postcopy is reconnecting */
};

enum kmig_mig_role { KMIG_MIG_ROLE_NONE, KMIG_MIG_ROLE_SRC, KMIG_MIG_ROLE_DST };

enum kmig_mig_event_kind {
	KMIG_EV_MIGRATION,	/* the status changed to @status */
	KMIG_EV_PASS,		/* dirty sync number @pass happened (QEMU's MIGRATION_PASS) */
	KMIG_EV_STOP,		/* the workload was stopped (source, switch-over) */
	KMIG_EV_RESUME,		/* the workload runs again (source after a failure or cont;
				 * destination once it started) */
};

/** struct kmig_mig_event - one queued event */
struct kmig_mig_event {
	enum kmig_mig_event_kind kind;
	enum kmig_mig_status status;
	unsigned int pass;
};

/**
 * struct kmig_mig_hooks - what the engine tells its owner (any thread)
 * @notify:        events are queued (drain them with kmig_mig_next_event)
 * @workload_done: the engine no longer uses the workload it borrowed
 */
struct kmig_mig_hooks {
	void (*notify)(void *opaque);
	void (*workload_done)(void *opaque);
};

/** struct kmig_tuning - parameters the engine reads while it runs */
struct kmig_tuning {
	uint64_t max_bandwidth;		/* bytes/s, 0 = unlimited */
	uint64_t max_postcopy_bandwidth;	/* bytes/s for the background sweep, 0 = unlimited */
	uint64_t xbzrle_cache_size;	/* bytes (xbzrle-cache-size) */
	struct kmig_converge_cfg conv;	/* downtime limit, auto-converge, guarantee */
};

/** struct kmig_codec_cfg - a page encoding (enum kmig_wire_enc) and its level */
struct kmig_codec_cfg {
	uint8_t enc;
	int level;
};

/**
 * struct kmig_mig_config - what one migration is asked to do
 * @uri:      where to (source) or from (destination)
 * @channels: multifd data channels (0: pages travel on the main channel)
 * @tracker:  "auto" or a tracker back end's name (source)
 * @main_codec: how pages on the main channel are encoded (capability compress)
 * @lanes:    encoder threads sharing the main channel (compress-threads;
 *            0: the migration thread encodes); only without @channels
 * @data_codec: how pages on the data channels are encoded (multifd-compression)
 * @decode_threads: destination: threads decoding compressed records of the
 *            main channel (decompress-threads)
 * @xbzrle:   send changed pages as XBZRLE deltas (main channel only), with a
 *            cache of @xbzrle_cache_size bytes to start with
 * @postcopy: capability postcopy-ram: the stream may switch to postcopy
 *            (version 3); the destination must be able to run before all
 *            its memory arrived
 * @release_ram: capability release-ram: in postcopy, free each page of the
 *            source's memory once sent
 */
struct kmig_mig_config {
	struct kmig_uri uri;
	unsigned int channels;
	char tracker[32];
	struct kmig_codec_cfg main_codec;
	unsigned int lanes;
	struct kmig_codec_cfg data_codec;
	unsigned int decode_threads;
	bool xbzrle;
	uint64_t xbzrle_cache_size;
	bool postcopy;
	bool release_ram;
};

/**
 * struct kmig_pc_stats - postcopy counters (kmig's x-kmig-postcopy)
 * Source: @requests page requests taken in (postcopy-requests), of them
 * @refused (outside any block, a bad length, before postcopy) and @dropped
 * (the queue was full); @urgent_pages sent because asked for, @swept_pages
 * by the background sweep; @released pages freed (release-ram); @held
 * pages the source still holds that the destination may lack.
 * Destination: @faults the workload took on missing pages, their latency
 * (fault read to page placed) as @lat_sum_ns / @lat_max_ns over
 * @lat_count, @requests sent, @placed pages placed atomically,
 * @missing pages still to come.  Both: @pauses (broken connections) and
 * @recoveries (resumed ones).
 */
struct kmig_pc_stats {
	bool active;			/* postcopy began (the counters mean something) */
	uint64_t requests, refused, dropped, urgent_pages, swept_pages, released, held;
	uint64_t faults, lat_count, lat_sum_ns, lat_max_ns, placed, missing;
	uint64_t pauses, recoveries;
	int64_t start_ms;		/* when the workload started on the destination */
	char why[256];			/* why it paused last ("" while it runs) */
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
	uint64_t multifd_bytes;		/* of @transferred, sent on data channels */
	uint64_t dirty_sync_count;	/* harvests */
	uint64_t dirty_pages_rate;	/* pages/s dirtied, last pass */
	uint64_t pages_per_second;
	uint64_t precopy_bytes;		/* sent while the workload ran */
	uint64_t downtime_bytes;	/* sent while it was stopped */
	uint64_t postcopy_bytes;	/* sent while it ran on the destination */
	double mbps;
	int64_t expected_downtime_ms;
	int64_t downtime_ms;
	unsigned int passes;
	unsigned int throttle_pct;	/* auto-converge's throttle now (0: none) */
	bool compressing;		/* a compressing codec is in use */
	uint64_t comp_pages;		/* pages that went compressed */
	uint64_t comp_bytes;		/* ... and their compressed bytes */
	uint64_t comp_offered;		/* pages handed to the compressing threads */
	uint64_t comp_busy;		/* times a run waited for a busy thread */
	bool xbzrle;			/* the XBZRLE stage is in use */
	uint64_t xb_cache_size;
	uint64_t xb_pages, xb_bytes, xb_cache_miss, xb_overflow, xb_tried;
	double xb_miss_rate, xb_encoding_rate;	/* over the last pass */
	char converge_why[256];		/* why it has not switched over yet */
	struct kmig_pc_stats pc;
};

#define KMIG_MIG_MAX_THREADS 64

/**
 * struct kmig_mig_thread - what one workload thread dirtied in the last pass
 * (trackers that see who writes)
 */
struct kmig_mig_thread {
	uint32_t tid;
	char name[16];
	uint64_t pages;
	uint64_t pages_per_second;
};

/**
 * struct kmig_mig_info - a consistent snapshot for query-migrate / -status
 * @status:     current state
 * @role:       what this side was in the current or last migration
 * @paused:     the source workload is stopped for the final copy (or for
 *              good: postcopy runs it on the destination)
 * @dst_running: destination: the workload runs here (postcopy, before
 *              every page arrived)
 * @held:       the source workload stays stopped after a failure past the
 *              hand-over (or was registered stopped), until kmig_mig_cont()
 * @have_workload: a workload is registered
 * @listening:  destination: migrate-incoming is waiting for its source
 * @error_desc: why it failed ("" when there is no text: QEMU then sends none)
 * @setup_ms:   time spent in setup (valid once active)
 * @total_ms:   time since start (frozen when it ended)
 * @stats:      counters (source side)
 * @tracker:    dirty tracker in use ("" until known)
 * @transport:  channel in use ("" until known), with ",multifd=N" if so
 * @listen_*:   destination: where it listens (listen_port "" if not)
 * @threads:    the workload's dirtying threads in the last pass, @nthreads
 */
struct kmig_mig_info {
	enum kmig_mig_status status;
	enum kmig_mig_role role;
	bool paused;
	bool dst_running;
	bool held;
	bool have_workload;
	bool listening;
	char error_desc[512];
	int64_t setup_ms;
	int64_t total_ms;
	struct kmig_mig_stats stats;
	char tracker[256];
	char transport[32];
	char listen_host[256];
	char listen_port[4096];
	bool listen_unix;
	unsigned int nthreads;
	struct kmig_mig_thread threads[KMIG_MIG_MAX_THREADS];
};

struct kmig_mig;

struct kmig_mig *kmig_mig_new(const struct kmig_mig_hooks *hooks, void *opaque);
/*
 * At shutdown: cancels whatever runs (a destination too) and waits a few
 * seconds at most for it; true if it ended.  The engine stays usable for
 * queries and for detaching the workload.
 */
bool kmig_mig_stop(struct kmig_mig *m);
/* kmig_mig_stop, then frees; accepts NULL */
void kmig_mig_free(struct kmig_mig *m);

void kmig_mig_set_tuning(struct kmig_mig *m, const struct kmig_tuning *t);

/*
 * The registered workload (owner's thread).  attach: -EBUSY if one is
 * already attached.  detach: false while a migration still uses it (then
 * the owner waits for workload_done); on true the caller may free it.
 */
int kmig_mig_attach_workload(struct kmig_mig *m, struct kmig_workload *w);
bool kmig_mig_detach_workload(struct kmig_mig *m, struct kmig_workload *w);
bool kmig_mig_workload_busy(struct kmig_mig *m);

/*
 * Calls @fn on the registered workload, with @busy telling whether a
 * migration uses it meanwhile (the owner's thread; the engine's lock is
 * held, so @fn must be quick, must not call the engine, and must not touch
 * a busy workload's trackers).  Returns what @fn returned, or -ENOENT
 * without a workload.
 */
int kmig_mig_peek_workload(struct kmig_mig *m,
			   int (*fn)(struct kmig_workload *w, bool busy, void *arg), void *arg);

/* true while a source migration is in setup/active/cancelling */
bool kmig_mig_in_progress(struct kmig_mig *m);
/* true while a destination listens or receives (not yet ended) */
bool kmig_mig_incoming_pending(struct kmig_mig *m);
/* true once an incoming migration completed here (its workload runs here now) */
bool kmig_mig_incoming_done(struct kmig_mig *m);
/* marks a source migration failed before it started (a bad URI) */
void kmig_mig_fail_early(struct kmig_mig *m, const char *desc);
/*
 * Starts a source migration.  0, or -errno with @err set: -EBUSY when one
 * is in progress, -EALREADY while this side is an unfinished destination.
 */
int kmig_mig_start(struct kmig_mig *m, const struct kmig_mig_config *cfg, char *err, size_t n);
/*
 * Asks a running source migration to stop; the source keeps running.  In
 * postcopy-active and postcopy-recover it is refused (-EBUSY, @err filled
 * if not NULL): the workload runs on the destination.  In postcopy-paused
 * it gives the migration up: it fails, and the source keeps the workload
 * stopped with its memory (held) for the operator's decision.
 */
int kmig_mig_cancel(struct kmig_mig *m, char *err, size_t n);
/*
 * migrate-start-postcopy: a source migration in setup or active switches
 * to postcopy at its next step (0; nothing happens once it is past that).
 * -EINVAL when it was not started with @postcopy, -ENOENT when this side
 * never started one.
 */
int kmig_mig_start_postcopy(struct kmig_mig *m);
/*
 * migrate-pause: breaks the connection of a migration in postcopy-active
 * on purpose (either side); it goes postcopy-paused.  -EINVAL otherwise.
 */
int kmig_mig_pause(struct kmig_mig *m);
/*
 * migrate with resume: a source in postcopy-paused reconnects to @uri and
 * goes on.  -EINVAL (@err: QEMU's text) when none is paused.
 */
int kmig_mig_resume(struct kmig_mig *m, const struct kmig_uri *uri, char *err, size_t n);
/*
 * migrate-recover: a destination in postcopy-paused listens on @uri for
 * its source to come back.  -EINVAL (@err: QEMU's text) when it is not
 * paused, or -errno when it cannot listen.
 */
int kmig_mig_recover(struct kmig_mig *m, const struct kmig_uri *uri, char *err, size_t n);
void kmig_mig_get_info(struct kmig_mig *m, struct kmig_mig_info *out);
/* pops the oldest queued event; false when there is none */
bool kmig_mig_next_event(struct kmig_mig *m, struct kmig_mig_event *ev);

/*
 * QMP cont: resumes a source workload that is held stopped.  0 (also when
 * there is nothing to resume and the workload runs), or -errno with @err:
 * -ENOENT when the workload migrated away and left, -EBUSY during a
 * migration's switch-over.
 */
int kmig_mig_cont(struct kmig_mig *m, char *err, size_t n);

/*
 * Whether this host can run a postcopy destination: an unprivileged
 * (user-mode-only) userfaultfd that handles missing pages of shared memory.
 */
bool kmig_postcopy_supported(void);

/*
 * Destination: start listening (tcp port 0 picks a free port).  -EALREADY
 * when an incoming migration is already listening or running.
 */
int kmig_mig_incoming(struct kmig_mig *m, const struct kmig_mig_config *cfg, char *err,
		      size_t n);

#endif
