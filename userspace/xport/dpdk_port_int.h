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

/*
 * One probed device, shared by the ports of its queues (one channel each):
 * created by the first port opened on it, removed when its last one
 * closes.  The fields below @lk change under it; the rest are set once.
 */
struct kmig_dpdk_dev {
	struct kmig_dpdk_dev *next;	/* in the process's list of devices */
	uint16_t id;
	char name[64];
	unsigned int nq;		/* queue pairs */
	struct kmig_dpdk_port_info info;
	struct rte_ether_addr mac;
	uint32_t frame_max;
	bool vdev, memif_client, memif_zc;
	bool gated;			/* memif: its calls and bursts go through dpdk_gate.h */
	char memif_sock[256], memif_tmp[300];
	struct rte_mempool *rx_pool[KMIG_DPDK_MAX_QUEUES];
	/* under the devices' lock */
	bool probed, configured, started, memif_renamed;
	uint64_t started_ms;
	unsigned int refs;
	uint32_t taken;			/* bit q: queue q has a port */
};

/* one queue pair of a device, as one channel drives it */
struct kmig_dpdk_port {
	struct kmig_dpdk_dev *dev;
	uint16_t id, q;
	const char *name;
	struct kmig_dpdk_port_info info;
	struct kmig_dpdk_port_stats st;
	struct rte_mempool *rx_pool, *hdr_pool, *ext_pool;
	struct rte_ether_addr mac;
	unsigned int burst;
	uint32_t frame_max;
	bool vdev, memif_zc;
	bool memif;		/* bursts through the gate, while the link is up (dpdk_frames.c) */
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

/* dpdk_devargs.c: the number after @key (",rsize=") in @devargs, or 0; whether it reads @val */
unsigned long kmig_devarg_num(const char *devargs, const char *key);
bool kmig_devarg_is(const char *devargs, const char *key, const char *val);
/* memif's arguments in @d (@cap bytes) rewritten kmig's way for @p; 0 or -errno with @err */
int kmig_memif_args(struct kmig_dpdk_dev *p, char *d, size_t cap, char *err, size_t n);

#endif
