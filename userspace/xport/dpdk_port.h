/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dpdk_port.h: one DPDK port as the dpdk: channel uses it: the virtual
 * device probed from the URI (queues= pairs, one per channel; the ports of
 * one device share it), one rx and one tx queue of it, its mempools, and
 * the turning of protocol frames (dp_proto.h) into mbuf chains: a header
 * mbuf (Ethernet header, frame header, small bytes copied in) chained to
 * external-buffer mbufs that point into registered memory (pages) or the
 * staging ring.  Where a PMD cannot take chains or foreign memory (no
 * multi-segment tx; memif zero-copy, whose descriptors must point into its
 * own memory region), the frame is copied into one mbuf instead, and
 * counted.  Not thread-safe: the channel serialises all calls.
 */
#ifndef KMIG_DPDK_PORT_H
#define KMIG_DPDK_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_proto.h"
#include "dpdk_opts.h"

struct rte_mbuf;
struct kmig_dpdk_port;

/**
 * struct kmig_dpdk_port_info - what the channel needs to know of a port
 * @driver:      the PMD's name (net_memif, net_af_packet, ...)
 * @max_payload: bytes of frame payload the port carries in one frame
 * @window:      frames this end takes beyond what was read (fits its rx ring)
 * @linearize:   frames are copied into one mbuf (see above)
 * @zero_copy_rx: received frames are the peer's writes in place (memif zero-copy)
 * @pmd_tx_copies, @pmd_rx_copies: copies of a page the PMD (and the kernel
 *               behind it) makes on this end's transmit / receive path
 */
struct kmig_dpdk_port_info {
	char driver[32];
	uint32_t max_payload;
	uint32_t window;
	bool linearize;
	bool zero_copy_rx;
	unsigned int pmd_tx_copies, pmd_rx_copies;
};

/**
 * struct kmig_dpdk_port_stats - the glue's counters
 * @ext_segs:    page/staging segments sent by reference (external buffers)
 * @inline_bytes: bytes copied into header mbufs (small pieces, linearized frames)
 * @tx_dropped:  frames the PMD did not take (the protocol sends them again)
 * @rx_frames:   frames received; @rx_linearized: multi-segment ones copied into one
 * @inj_lost, @inj_dup, @inj_reordered: testing: frames the injector touched
 * @pages_held:  references the PMD still held into registered memory at close
 * @tx_cycles, @rx_cycles: TSC cycles spent in the PMD's tx / rx bursts (its
 *               copies, on memif: where a page's bytes move)
 */
struct kmig_dpdk_port_stats {
	uint64_t ext_segs, inline_bytes, tx_dropped, rx_frames, rx_linearized;
	uint64_t inj_lost, inj_dup, inj_reordered;
	uint64_t pages_held;
	uint64_t tx_cycles, rx_cycles;
};

/*
 * Probes and configures the device of @o (not started); with @warm its
 * buffers are touched now (a destination, before its migration starts).
 * 0 or -errno with @err.
 */
int kmig_dpdk_port_open(struct kmig_dpdk_port **out, const struct kmig_dpdk_opts *o, bool warm,
			char *err, size_t n);
/* starts it: 0, -EAGAIN (a memif client whose server is not there yet: try again) or -errno */
int kmig_dpdk_port_start(struct kmig_dpdk_port *p, char *err, size_t n);
const struct kmig_dpdk_port_info *kmig_dpdk_port_info(const struct kmig_dpdk_port *p);
const struct kmig_dpdk_port_stats *kmig_dpdk_port_stats(const struct kmig_dpdk_port *p);
/* the port's queue of its device, and (@nq) how many the device has */
unsigned int kmig_dpdk_port_queue(const struct kmig_dpdk_port *p, unsigned int *nq);
void kmig_dpdk_port_mac(const struct kmig_dpdk_port *p, uint8_t mac[6]);
bool kmig_dpdk_port_link_up(struct kmig_dpdk_port *p);

/*
 * Lets frames point into [base, base + len) instead of copying it; with
 * @dma the range is also registered as DPDK external memory (RAM blocks;
 * not on a memif zero-copy port, where it breaks the region walk).
 * 0 or -errno.
 */
int kmig_dpdk_port_add_region(struct kmig_dpdk_port *p, void *base, size_t len, bool dma,
			      char *err, size_t n);

/* turns @d into an mbuf chain for @dst and queues it (sent by the next flush) */
void kmig_dpdk_port_add(struct kmig_dpdk_port *p, const struct kmig_dp_txdesc *d,
			const uint8_t dst[6]);
/* hands the queued frames to the PMD; returns how many it took */
unsigned int kmig_dpdk_port_flush(struct kmig_dpdk_port *p);
/*
 * Receives up to @n frames into @pkts (which holds 2 * @n + 8: duplicates
 * and held-back frames of the injector); returns how many.
 */
unsigned int kmig_dpdk_port_rx(struct kmig_dpdk_port *p, struct rte_mbuf **pkts, unsigned int n);
/* frame bytes of @m (contiguous: multi-segment frames are linearized), or NULL */
uint8_t *kmig_dpdk_port_frame(struct kmig_dpdk_port *p, struct rte_mbuf **m, uint32_t *len);
void kmig_dpdk_port_free(void *ctx, void *mbuf);

/* stops and removes the device; waits (briefly) until the PMD let go of every page */
void kmig_dpdk_port_close(struct kmig_dpdk_port *p);

#endif
