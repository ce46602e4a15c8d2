/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dst_pc.h: a destination's postcopy state, private to dst_postcopy.c
 * (the switch, atomic placement, pausing and resuming) and dst_fault.c
 * (the userfaultfd side: registration and the fault thread).
 */
#ifndef KMIG_DST_PC_H
#define KMIG_DST_PC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dst.h"

/**
 * struct kmig_dst_pc - postcopy on a destination
 * @d:          the migration
 * @lock:       guards the members marked (L), and the marking of pages
 *              arrived after RUN (so a fault and its page never miss each other)
 * @req_ns:     (L) per block, page i: when the first fault still waiting
 *              for it was read (ns), 0 when none waits
 * @asked:      (L) per block, bit i: a REQUEST for page i went out on the
 *              current connection
 * @link_up:    (L) the return path can carry requests
 * @registered: block i's userfaultfd is registered for missing pages
 * @fault_thr, @fault_live, @stop_fd: the fault thread and its stop eventfd
 * @load_thr, @load_live, @load_done, @load_ret: the workload's start (it
 *              may touch missing pages, so it runs while pages are placed)
 * @resumed_sent: the source heard RESUMED (else a resumed connection says it)
 * @acked:      the main channel's bytes_in when the last ACK went
 * @buf:        a page record's payload, read whole before it is placed
 * @faults...:  (L) counters: faults read, those that waited for a page
 *              (@lat_count, @lat_sum_ns, @lat_max_ns), requests sent,
 *              pages placed, pages still missing
 */
struct kmig_dst_pc {
	struct kmig_dst *d;
	pthread_mutex_t lock;
	int64_t *req_ns[KMIG_WIRE_MAX_BLOCKS];
	uint64_t *asked[KMIG_WIRE_MAX_BLOCKS];
	bool link_up;
	bool registered[KMIG_WIRE_MAX_BLOCKS];
	pthread_t fault_thr;
	bool fault_live;
	int stop_fd;
	pthread_t load_thr;
	bool load_live;
	_Atomic bool load_done;
	int load_ret;
	_Atomic bool resumed_sent;
	uint64_t acked;
	uint8_t *buf;
	uint64_t faults, lat_count, lat_sum_ns, lat_max_ns, requests, placed, missing;
};

/* copies the counters into the engine's statistics (query-migrate); takes both locks */
void kmig_dst_pc_publish(struct kmig_dst *d);

#endif
