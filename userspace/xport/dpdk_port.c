// SPDX-License-Identifier: GPL-2.0-only
/*
 * dpdk_port.c: sets up and tears down a DPDK port for the dpdk: channel
 * (dpdk_port.h; its frames are dpdk_frames.c): a device with one or more
 * queue pairs, probed by the first port opened on it and removed with the
 * last, and a port per queue for the channel that uses it.  Sizes come
 * from what the PMD can carry: a memif frame fits one buffer (bsize, 4352
 * unless the URI says otherwise; frames spread over several memif
 * descriptors were seen corrupted), an af_packet frame fits the
 * interface's MTU, an af_xdp one 1514 bytes, and every rx buffer takes the
 * largest frame the PMD can hand over (af_packet copies a whole frame into
 * one mbuf without looking at its size).  The window fits what the receive
 * side buffers.
 */
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_memory.h>

#include "dpdk_gate.h"
#include "dpdk_port_int.h"
#include "log.h"

static unsigned int pool_seq;

static int iface_mtu(const char *devargs)
{
	const char *p = strstr(devargs, "iface=");
	struct ifreq ifr = { 0 };
	int fd, mtu = -1;

	if (!p)
		return -1;
	p += 6;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.*s", (int)strcspn(p, ","), p);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && !ioctl(fd, SIOCGIFMTU, &ifr))
		mtu = ifr.ifr_mtu;
	if (fd >= 0)
		close(fd);
	return mtu;
}

/* the largest frame (from the Ethernet header on) the port carries, and its rx buffer size */
static int sizes(struct kmig_dpdk_dev *p, const struct kmig_dpdk_opts *o,
		 const struct rte_eth_dev_info *di, const char *devargs, uint32_t *rx_room,
		 char *err, size_t n)
{
	const char *drv = p->info.driver;
	long frame;

	if (!strcmp(drv, "net_memif")) {
		frame = (long)kmig_devarg_num(devargs, ",bsize=");
		*rx_room = (uint32_t)frame;
	} else if (!strcmp(drv, "net_af_packet") || !strcmp(drv, "net_af_xdp") ||
		   !strcmp(drv, "net_tap")) {
		int mtu = iface_mtu(devargs);
		unsigned long fsz = kmig_devarg_num(devargs, ",framesz=");

		if (mtu <= 0) {
			uint16_t m = 1500;

			rte_eth_dev_get_mtu(p->id, &m);
			mtu = m;
		}
		frame = mtu + KMIG_DP_ETH_LEN;
		*rx_room = (uint32_t)(fsz > (unsigned long)frame + 4 ? fsz : (unsigned long)frame + 4);
		/* af_xdp on veth: frames of 3 KB (MTU 3000) never arrived here, 1514-byte ones do */
		if (!strcmp(drv, "net_af_xdp") && frame > 1514)
			frame = 1514;
	} else {
		uint16_t m = 1500;

		rte_eth_dev_get_mtu(p->id, &m);
		frame = m + KMIG_DP_ETH_LEN;
		if (di->max_rx_pktlen && frame > (long)di->max_rx_pktlen)
			frame = di->max_rx_pktlen;
		*rx_room = (uint32_t)frame + 4;
	}
	if (o->mtu && frame > (long)o->mtu + KMIG_DP_ETH_LEN)
		frame = o->mtu + KMIG_DP_ETH_LEN;
	if (frame > (long)(HDR_ROOM + KMIG_DP_MAX_PAYLOAD))
		frame = HDR_ROOM + KMIG_DP_MAX_PAYLOAD;
	if (frame < (long)(HDR_ROOM + KMIG_DP_MIN_PAYLOAD)) {
		snprintf(err, n, "dpdk: %s carries frames of %ld bytes; kmig needs at least %zu "
			 "(raise the MTU or bsize)", p->name, frame, HDR_ROOM + KMIG_DP_MIN_PAYLOAD);
		return -EINVAL;
	}
	if (*rx_room < frame)
		*rx_room = (uint32_t)frame;
	*rx_room = (*rx_room + 63) & ~63u;
	p->frame_max = (uint32_t)frame;
	p->info.max_payload = (uint32_t)(frame - HDR_ROOM);
	return 0;
}

/* what the PMD (and the kernel behind it) copies per page on each path */
static void copies(struct kmig_dpdk_dev *p)
{
	const char *d = p->info.driver;

	if (!strcmp(d, "net_memif")) {
		p->info.pmd_tx_copies = p->memif_zc ? 0 : 1;	/* into the shared ring buffer */
		p->info.pmd_rx_copies = p->memif_zc ? 0 : 1;	/* out of it into an mbuf */
	} else if (!strcmp(d, "net_af_packet")) {
		p->info.pmd_tx_copies = 1;	/* into the TPACKET ring; the kernel sends from it */
		p->info.pmd_rx_copies = 2;	/* kernel into the ring, PMD into an mbuf */
	} else if (!strcmp(d, "net_af_xdp")) {
		p->info.pmd_tx_copies = 2;	/* into the umem, kernel (copy mode) into an skb */
		p->info.pmd_rx_copies = 1;	/* kernel into the umem */
	} else if (!strcmp(d, "net_ring")) {
		p->info.pmd_tx_copies = p->info.pmd_rx_copies = 0;
	} else {
		p->info.pmd_tx_copies = p->info.pmd_rx_copies = ~0u;	/* not known */
	}
}

static void touch(struct rte_mempool *mp, void *opaque, struct rte_mempool_memhdr *m,
		  unsigned int idx)
{
	(void)mp;
	(void)opaque;
	(void)idx;
	for (size_t i = 0; i < m->len; i += 4096)
		((volatile uint8_t *)m->addr)[i] = ((volatile uint8_t *)m->addr)[i];
}

static struct rte_mempool *pool(const char *what, unsigned int count, uint32_t room)
{
	char name[RTE_MEMPOOL_NAMESIZE];

	snprintf(name, sizeof(name), "kmig-%s-%u", what, __atomic_fetch_add(&pool_seq, 1,
									     __ATOMIC_RELAXED));
	return rte_pktmbuf_pool_create(name, count, 256, 0, (uint16_t)(room ? room +
			RTE_PKTMBUF_HEADROOM : 0), (int)rte_socket_id());
}

/* the devices of this process; their shared state changes under devs_lk */
static pthread_mutex_t devs_lk = PTHREAD_MUTEX_INITIALIZER;
static struct kmig_dpdk_dev *devs;
/* ports closed while their device stays: freed with it (the PMD may still hold their mbufs) */
static struct kmig_dpdk_port *retired[KMIG_DPDK_MAX_QUEUES * 64];
static unsigned int nretired;

static void dev_close(struct kmig_dpdk_dev *d);

/* probes and configures @o's device with o->queues queue pairs (devs_lk held) */
static int dev_open(struct kmig_dpdk_dev **out, const struct kmig_dpdk_opts *o, bool warm,
		    char *err, size_t n)
{
	struct kmig_dpdk_dev *p = calloc(1, sizeof(*p));
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info di;
	char devargs[sizeof(o->devargs) + 32];
	uint32_t rx_room;
	int ret;

	*out = NULL;
	if (!p) {
		snprintf(err, n, "dpdk: out of memory");
		return -ENOMEM;
	}
	snprintf(p->name, sizeof(p->name), "%s", o->dev_name);
	p->nq = o->queues ? o->queues : 1;
	snprintf(devargs, sizeof(devargs), "%s", o->devargs);
	if (!strncmp(o->dev_name, "net_memif", 9) && (ret = kmig_memif_args(p, devargs, sizeof(devargs),
								      err, n))) {
		free(p);
		return ret;
	}
	if (!rte_eth_dev_get_port_by_name(p->name, &p->id)) {
		snprintf(err, n, "dpdk: device %s is in use by another channel of this kmigd", p->name);
		free(p);
		return -EBUSY;
	}
	if (!strncmp(o->dev_name, "net_memif", 9)) {
		if (kmig_dpdk_gate_arm()) {
			snprintf(err, n, "dpdk: cannot set an EAL alarm for %s", p->name);
			free(p);
			return -ENOMEM;
		}
		p->gated = true;
	}
	ret = rte_dev_probe(devargs);
	if (ret) {
		snprintf(err, n, "dpdk: cannot create device '%s': %s (see kmigd's log for the "
			 "driver's words)", devargs, rte_strerror(-ret));
		if (p->gated)
			kmig_dpdk_gate_disarm();
		free(p);
		return ret < 0 ? ret : -EINVAL;
	}
	p->probed = true;
	if (rte_eth_dev_get_port_by_name(p->name, &p->id)) {
		snprintf(err, n, "dpdk: device %s was created but is not an Ethernet port", p->name);
		ret = -ENODEV;
		goto fail;
	}
	ret = rte_eth_dev_info_get(p->id, &di);
	if (ret)
		goto fail_errno;
	snprintf(p->info.driver, sizeof(p->info.driver), "%s", di.driver_name);
	p->vdev = !di.device || !strcmp(rte_bus_name(rte_dev_bus(di.device)), "vdev");
	/*
	 * Each channel reads its own queue, so a queue's frames must reach the
	 * peer's queue of the same number: memif pairs its rings so; af_packet,
	 * af_xdp and NICs spread frames by a hash of their own (kmig's frames are
	 * not IP: one queue would get them all).
	 */
	if (p->nq > 1 && strcmp(p->info.driver, "net_memif")) {
		snprintf(err, n, "dpdk: queues=%u needs a port that delivers each queue's frames to "
			 "the peer's queue of the same number (memif); %s does not promise that",
			 p->nq, p->info.driver);
		ret = -EINVAL;
		goto fail;
	}
	if (p->nq > di.max_rx_queues || p->nq > di.max_tx_queues) {
		snprintf(err, n, "dpdk: %s has at most %u queue pairs, queues=%u", p->name,
			 di.max_rx_queues < di.max_tx_queues ? di.max_rx_queues : di.max_tx_queues,
			 p->nq);
		ret = -EINVAL;
		goto fail;
	}
	ret = sizes(p, o, &di, devargs, &rx_room, err, n);
	if (ret)
		goto fail;
	copies(p);
	p->info.linearize = p->memif_zc || !(di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
	p->info.zero_copy_rx = p->memif_zc;
	/* the window fits what the receive side buffers: memif's ring, af_packet's frames */
	unsigned int ring = o->rxd;

	if (!strcmp(p->info.driver, "net_memif"))
		ring = 1u << kmig_devarg_num(devargs, ",rsize=");
	else if (!strcmp(p->info.driver, "net_af_packet") && kmig_devarg_num(devargs, ",framecnt="))
		ring = (unsigned int)kmig_devarg_num(devargs, ",framecnt=");
	p->info.window = o->window;
	if (!p->info.window)
		for (p->info.window = 16; p->info.window * 2 <= ring / 2 && p->info.window < 4096;)
			p->info.window *= 2;
	if (ring < o->rxd)
		ring = o->rxd;
	/* af_xdp keeps its fill ring (2048 buffers) stocked from the same pool */
	if (!strcmp(p->info.driver, "net_af_xdp"))
		ring += 2048;
	/*
	 * A memif server (or af_packet) takes buffers per frame received rather
	 * than keeping a ring of them: the pool holds the window.  Creating a
	 * pool touches all of it, and here every 4 KiB touched first costs a
	 * fault: no more than needed.
	 */
	if ((!strcmp(p->info.driver, "net_memif") && !p->memif_client) ||
	    !strcmp(p->info.driver, "net_af_packet"))
		ring = 0;
	for (unsigned int q = 0; q < p->nq; q++) {
		p->rx_pool[q] = pool("rx", ring + p->info.window + 2 * o->burst + 512, rx_room);
		if (!p->rx_pool[q]) {
			snprintf(err, n, "dpdk: cannot create mbuf pools for %s: %s (raise mem=, now "
				 "%u MiB)", p->name, rte_strerror(rte_errno), o->mem_mb);
			ret = -ENOMEM;
			goto fail;
		}
		/* EAL's memory is touched lazily: the first use of each page costs a fault */
		if (warm)
			rte_mempool_mem_iter(p->rx_pool[q], touch, NULL);
	}
	if (!p->info.linearize)
		conf.txmode.offloads = RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	ret = rte_eth_dev_configure(p->id, (uint16_t)p->nq, (uint16_t)p->nq, &conf);
	if (ret)
		goto fail_errno;
	p->configured = true;
	uint16_t rxd = (uint16_t)o->rxd, txd = (uint16_t)o->txd;

	rte_eth_dev_adjust_nb_rx_tx_desc(p->id, &rxd, &txd);
	for (unsigned int q = 0; q < p->nq && !ret; q++) {
		ret = rte_eth_rx_queue_setup(p->id, (uint16_t)q, rxd, rte_eth_dev_socket_id(p->id),
					     NULL, p->rx_pool[q]);
		if (!ret)
			ret = rte_eth_tx_queue_setup(p->id, (uint16_t)q, txd,
						     rte_eth_dev_socket_id(p->id), NULL);
	}
	if (ret)
		goto fail_errno;
	rte_eth_macaddr_get(p->id, &p->mac);
	*out = p;
	return 0;
fail_errno:
	snprintf(err, n, "dpdk: cannot set up port %s: %s", p->name, rte_strerror(-ret));
fail:
	dev_close(p);
	return ret < 0 ? ret : -EINVAL;
}

/* queue @q of @d as a port of its own, with its tx pools (devs_lk held) */
static int port_new(struct kmig_dpdk_port **out, struct kmig_dpdk_dev *d, unsigned int q,
		    const struct kmig_dpdk_opts *o, bool warm, char *err, size_t n)
{
	struct kmig_dpdk_port *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, n, "dpdk: out of memory");
		return -ENOMEM;
	}
	p->dev = d;
	p->id = d->id;
	p->q = (uint16_t)q;
	p->name = d->name;
	p->info = d->info;
	p->mac = d->mac;
	p->burst = o->burst;
	p->frame_max = d->frame_max;
	p->vdev = d->vdev;
	p->memif_zc = d->memif_zc;
	p->memif = !strcmp(d->info.driver, "net_memif");
	p->rx_pool = d->rx_pool[q];
	/* header mbufs hold the whole frame only where frames are copied into one */
	p->hdr_pool = pool("hdr", o->txd + 2 * o->burst + 512, p->info.linearize ? p->frame_max :
			   (uint32_t)(HDR_ROOM + 2 * INLINE_MAX));
	p->ext_pool = pool("ext", 2 * (o->txd + 2 * o->burst) + 512, 0);
	if (!p->hdr_pool || !p->ext_pool) {
		snprintf(err, n, "dpdk: cannot create mbuf pools for %s: %s (raise mem=, now %u MiB)",
			 p->name, rte_strerror(rte_errno), o->mem_mb);
		rte_mempool_free(p->hdr_pool);
		rte_mempool_free(p->ext_pool);
		free(p);
		return -ENOMEM;
	}
	if (warm) {
		rte_mempool_mem_iter(p->hdr_pool, touch, NULL);
		rte_mempool_mem_iter(p->ext_pool, touch, NULL);
	}
	p->loss = o->loss;
	p->dup = o->dup;
	p->reorder = o->reorder;
	p->rng = (o->seed + q) * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
	d->refs++;
	d->taken |= 1u << q;
	*out = p;
	return 0;
}

int kmig_dpdk_port_open(struct kmig_dpdk_port **out, const struct kmig_dpdk_opts *o, bool warm,
			char *err, size_t n)
{
	struct kmig_dpdk_dev *d;
	unsigned int q = 0;
	int ret = 0;

	*out = NULL;
	pthread_mutex_lock(&devs_lk);
	for (d = devs; d && strcmp(d->name, o->dev_name); d = d->next)
		;
	if (d) {
		/* another channel of this migration (multifd): the next free queue */
		while (q < d->nq && (d->taken & (1u << q)))
			q++;
		if (q == d->nq) {
			if (d->nq == 1)
				snprintf(err, n, "dpdk: device %s is in use by another channel of this "
					 "kmigd", d->name);
			else
				snprintf(err, n, "dpdk: all %u queues of %s are in use (queues= in the "
					 "URI: one per channel, the main one and multifd's)", d->nq,
					 d->name);
			ret = -EBUSY;
		}
	} else {
		ret = dev_open(&d, o, warm, err, n);
		if (!ret) {
			d->next = devs;
			devs = d;
		}
	}
	if (!ret) {
		ret = port_new(out, d, q, o, warm, err, n);
		if (ret && !d->refs)
			dev_close(d);
	}
	pthread_mutex_unlock(&devs_lk);
	return ret;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool link_up(uint16_t id)
{
	struct rte_eth_link link;

	return !rte_eth_link_get_nowait(id, &link) && link.link_status == RTE_ETH_LINK_UP;
}

/* starts the device of a port (devs_lk held) */
static int dev_start(struct kmig_dpdk_dev *p, char *err, size_t n)
{
	bool again = p->started;
	int ret;

	if (p->started && !p->memif_client)
		return 0;
	if (p->started && p->memif_zc) {
		/* never a second connect (see kmig_memif_args): up, or wait */
		if (link_up(p->id))
			return 0;
		return -EAGAIN;
	}
	if (p->started) {
		/*
		 * A memif client connects when it starts, and its server turns it
		 * away ("ID not found") until the server's own port started; it does
		 * not try again by itself.  So: up, or a fresh start after a while.
		 */
		if (link_up(p->id))
			return 0;
		if (mono_ms() - p->started_ms < 300)
			return -EAGAIN;
		__atomic_store_n(&p->started, false, __ATOMIC_RELEASE);
	}
	/* memif's stop and start must not meet its own work on EAL's interrupt thread */
	if (p->gated)
		kmig_dpdk_gate_hold();
	if (again)
		rte_eth_dev_stop(p->id);
	/* each try of a memif client whose server is not up yet would log an error */
	if (p->memif_client)
		rte_log_set_level_pattern("pmd.net.memif", RTE_LOG_CRIT);
	ret = rte_eth_dev_start(p->id);
	if (p->memif_client)
		rte_log_set_level_pattern("pmd.net.memif", RTE_LOG_WARNING);
	if (p->gated)
		kmig_dpdk_gate_release();
	if (!ret) {
		__atomic_store_n(&p->started, true, __ATOMIC_RELEASE);
		p->started_ms = mono_ms();
		/* a memif server takes connections under its real name only now */
		if (p->memif_tmp[0] && !p->memif_renamed) {
			if (rename(p->memif_tmp, p->memif_sock)) {
				snprintf(err, n, "dpdk: cannot name memif socket %s: %s", p->memif_sock,
					 strerror(errno));
				return -errno;
			}
			p->memif_renamed = true;
		}
	}
	if (p->memif_client)
		return ret || !link_up(p->id) ? -EAGAIN : 0;
	if (ret)
		snprintf(err, n, "dpdk: cannot start port %s: %s", p->name, rte_strerror(-ret));
	return ret;
}

int kmig_dpdk_port_start(struct kmig_dpdk_port *p, char *err, size_t n)
{
	int ret;

	pthread_mutex_lock(&devs_lk);
	ret = dev_start(p->dev, err, n);
	pthread_mutex_unlock(&devs_lk);
	return ret;
}

const struct kmig_dpdk_port_info *kmig_dpdk_port_info(const struct kmig_dpdk_port *p)
{
	return &p->info;
}

const struct kmig_dpdk_port_stats *kmig_dpdk_port_stats(const struct kmig_dpdk_port *p)
{
	return &p->st;
}

unsigned int kmig_dpdk_port_queue(const struct kmig_dpdk_port *p, unsigned int *nq)
{
	if (nq)
		*nq = p->dev->nq;
	return p->q;
}

void kmig_dpdk_port_mac(const struct kmig_dpdk_port *p, uint8_t mac[6])
{
	memcpy(mac, p->mac.addr_bytes, 6);
}

bool kmig_dpdk_port_link_up(struct kmig_dpdk_port *p)
{
	return link_up(p->id);
}

/* what a closed port leaves once its device is gone: its regions and pools */
static void port_free(struct kmig_dpdk_port *p)
{
	for (unsigned int i = 0; i < p->nreg; i++) {
		struct region *r = &p->reg[i];
		uint16_t left = rte_mbuf_ext_refcnt_read(&r->shinfo);

		/* our own reference is the only one left once the PMD let go */
		if (left > 1)
			p->st.pages_held += left - 1u;
		if (r->dma)
			rte_extmem_unregister(r->base, r->len);
	}
	if (p->st.pages_held)
		kmig_log(KMIG_LOG_WARN, "dpdk", "port %s queue %u: the PMD still held %llu "
			 "references into kmig's memory after closing", p->name, p->q,
			 (unsigned long long)p->st.pages_held);
	rte_mempool_free(p->hdr_pool);
	rte_mempool_free(p->ext_pool);
	free(p);
}

/* stops and removes the device, then frees the ports it had (devs_lk held) */
static void dev_close(struct kmig_dpdk_dev *p)
{
	for (struct kmig_dpdk_dev **pp = &devs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (p->gated)
		kmig_dpdk_gate_hold();
	if (p->started)
		rte_eth_dev_stop(p->id);
	if (p->probed) {
		struct rte_eth_dev_info di;
		bool have = !rte_eth_dev_get_port_by_name(p->name, &p->id) &&
			    !rte_eth_dev_info_get(p->id, &di);

		rte_eth_dev_close(p->id);	/* frees every mbuf its rings held */
		if (have && di.device)
			rte_dev_remove(di.device);
		else
			rte_eal_hotplug_remove("vdev", p->name);
	}
	if (p->gated) {
		unsigned long parks, away;

		kmig_dpdk_gate_release();
		kmig_dpdk_gate_disarm();
		kmig_dpdk_gate_counts(&parks, &away);
		kmig_log(KMIG_LOG_DEBUG, "dpdk", "%s closed; EAL's interrupt thread parked %lu "
			 "times so far, %lu bursts waited for it", p->name, parks, away);
	}
	if (p->memif_renamed)
		unlink(p->memif_sock);
	for (unsigned int i = 0; i < nretired;)
		if (retired[i]->dev == p) {
			port_free(retired[i]);
			retired[i] = retired[--nretired];
		} else {
			i++;
		}
	for (unsigned int q = 0; q < p->nq; q++)
		rte_mempool_free(p->rx_pool[q]);
	free(p);
}

void kmig_dpdk_port_close(struct kmig_dpdk_port *p)
{
	struct kmig_dpdk_dev *d;

	if (!p)
		return;
	for (unsigned int i = 0; i < p->ntx; i++)
		rte_pktmbuf_free(p->txq[i]);
	p->ntx = 0;
	while (p->nheld)
		rte_pktmbuf_free(p->held[--p->nheld]);
	pthread_mutex_lock(&devs_lk);
	d = p->dev;
	d->taken &= ~(1u << p->q);
	if (nretired < sizeof(retired) / sizeof(retired[0]))
		retired[nretired++] = p;
	else
		kmig_log(KMIG_LOG_WARN, "dpdk", "port %s: too many closed queues kept; one leaks",
			 p->name);
	if (!--d->refs)
		dev_close(d);
	pthread_mutex_unlock(&devs_lk);
}
