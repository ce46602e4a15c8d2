/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dpdk_port_int.h: a port's state, shared by its setup and teardown
 * (dpdk_port.c) and its frames (dpdk_frames.c).  Private to them.
 */
#ifndef KMIG_DPDK_PORT_INT_H
#define KMIG_DPDK_PORT_INT_H

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "dpdk_port.h"

#define MAX_BURST     512
#define MAX_REGIONS   (64 + 2)		/* RAM blocks, the staging ring, spare */
#define INLINE_MAX    128		/* pieces this small are copied into the header mbuf */
#define HDR_ROOM      (KMIG_DP_ETH_LEN + sizeof(struct kmig_dp_hdr))
#define INJ_HOLD      8

/* memory frames may point into, with the shared info its external-buffer mbufs use */
struct region {
	uint8_t *base;
	size_t len;
	bool dma;
	struct rte_mbuf_ext_shared_info shinfo;
};

struct kmig_dpdk_port {
	uint16_t id;
	bool probed, configured, started;
	char name[64];
	struct kmig_dpdk_port_info info;
	struct kmig_dpdk_port_stats st;
	struct rte_mempool *rx_pool, *hdr_pool, *ext_pool;
	struct rte_ether_addr mac;
	unsigned int burst;
	uint32_t frame_max;
	bool vdev, memif_client, memif_zc, memif_renamed;
	char memif_sock[256], memif_tmp[300];
	uint64_t started_ms;
	struct region reg[MAX_REGIONS];
	unsigned int nreg, last_reg;
	struct rte_mbuf *txq[MAX_BURST];
	unsigned int ntx;
	/* testing: the injector */
	unsigned int loss, dup, reorder;
	uint64_t rng;
	struct rte_mbuf *held[INJ_HOLD];
	unsigned int held_for[INJ_HOLD], nheld;
};

#endif
