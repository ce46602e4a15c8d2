/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dpdk_opts.h: the options of a dpdk: URI (docs/dpdk.md, "URIs").  Plain
 * parsing, no DPDK: uri.c checks a dpdk: URI with it when migrate or
 * migrate-incoming is given one, so a bad option is refused at once, also
 * in a kmig built without DPDK.
 *
 *   dpdk:vdev=net_memif0,role=server,socket=/run/kmig.sock[,OPTION=VALUE...]
 *   dpdk:iface=veth0[,OPTION=VALUE...]
 *
 * Keys kmig knows are its own; every other key after vdev= belongs to the
 * device (the PMD's devargs).  iface=NAME stands for an af_packet device on
 * that interface with ring sizes that fit kmig's frames.
 */
#ifndef KMIG_DPDK_OPTS_H
#define KMIG_DPDK_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * struct kmig_dpdk_opts - a parsed dpdk: URI
 * @devargs:   the device to probe, as rte_dev_probe() takes it
 * @dev_name:  its name (the part before the first comma)
 * @lcore:     the EAL main lcore (-l), -1: the first CPU kmigd may run on
 * @mem_mb:    EAL memory (-m), MiB
 * @huge:      use hugepages (else --no-huge)
 * @huge_dir:  hugetlbfs mount to use (--huge-dir), "" for EAL's choice
 * @prefix:    --file-prefix, "" for kmig-<pid>
 * @eal:       extra EAL arguments, separated by spaces
 * @eal_given: the URI set one of the EAL options above
 * @burst:     packets per rx/tx burst
 * @queues:    rx/tx queue pairs of the device: one channel each (the main
 *             channel and multifd's data channels), 1..KMIG_DPDK_MAX_QUEUES
 * @rxd, @txd: descriptors per rx/tx ring
 * @window:    frames the receiver takes beyond what was read (power of 2), 0:
 *             what the port's receive ring holds
 * @mtu:       cap on the bytes per frame after the Ethernet header, 0: the port's MTU
 * @timeout_ms: silence of the peer that fails the channel
 * @connect_ms: how long a connect waits for the destination
 * @peer:      the destination's MAC for the first frames; all ones: broadcast
 * @csum:      -1: header-only checksums on memif, full ones elsewhere; 0: full; 1: header
 * @loss, @reorder, @dup: testing: per-million of received frames dropped,
 *             held back, delivered twice
 * @seed:      testing: the seed of those choices
 */
#define KMIG_DPDK_MAX_QUEUES 16

struct kmig_dpdk_opts {
	char devargs[1024];
	char dev_name[64];
	int lcore;
	unsigned int mem_mb;
	bool huge;
	char huge_dir[256];
	char prefix[64];
	char eal[512];
	bool eal_given;
	unsigned int burst;
	unsigned int queues;
	unsigned int rxd, txd;
	unsigned int window;
	unsigned int mtu;
	unsigned int timeout_ms;
	unsigned int connect_ms;
	uint8_t peer[6];
	int csum;
	unsigned int loss, reorder, dup;
	uint64_t seed;
};

/* parses @s (what follows "dpdk:"); 0, or -EINVAL with @err set */
int kmig_dpdk_opts_parse(const char *s, struct kmig_dpdk_opts *o, char *err, size_t n);
/* the same for EAL's options alone (kmigd --dpdk): no device */
int kmig_dpdk_opts_parse_eal(const char *s, struct kmig_dpdk_opts *o, char *err, size_t n);

#endif
