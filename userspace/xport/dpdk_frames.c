// SPDX-License-Identifier: GPL-2.0-only
/*
 * dpdk_frames.c: a dpdk: port's frames (dpdk_port.h): protocol frames
 * turned into mbuf chains, a header mbuf with the Ethernet and kmig headers
 * and small pieces copied in, chained to external-buffer mbufs that point
 * into registered memory (pages) or the staging ring; their hand-over to
 * the PMD; and received frames, through the testing injector (loss,
 * duplication, reordering of kmig's own frames only).
 */
#include <stdio.h>
#include <string.h>

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_memory.h>

#include "dpdk_gate.h"
#include "dpdk_port_int.h"
#include "log.h"

/* the PMD freed the last mbuf pointing into a region: only at close (we hold one reference) */
static void ext_free(void *addr, void *opaque)
{
	(void)addr;
	(void)opaque;
}

int kmig_dpdk_port_add_region(struct kmig_dpdk_port *p, void *base, size_t len, bool dma,
			      char *err, size_t n)
{
	struct region *r;

	if (p->nreg == MAX_REGIONS) {
		snprintf(err, n, "dpdk: more than %d memory regions", MAX_REGIONS);
		return -ENOSPC;
	}
	r = &p->reg[p->nreg];
	*r = (struct region){ .base = base, .len = len };
	r->shinfo.free_cb = ext_free;
	rte_mbuf_ext_refcnt_set(&r->shinfo, 1);	/* ours, dropped at close */
	/*
	 * A NIC reads pages by DMA and needs them registered (and mapped); a
	 * virtual device reads them with the CPU, and registering 1 GiB would
	 * cost it ~12 MB of EAL bookkeeping written at the start of every
	 * migration.  Never on a memif zero-copy port (its region walk breaks).
	 */
	if (dma && !p->vdev && !p->memif_zc && !((uintptr_t)base % 4096) && !(len % 4096)) {
		if (rte_extmem_register(base, len, NULL, 0, 4096)) {
			kmig_log(KMIG_LOG_WARN, "dpdk", "rte_extmem_register of %zu bytes failed: "
				 "%s; pages still go by reference", len, rte_strerror(rte_errno));
		} else {
			r->dma = true;
			/* a no-op on virtual devices; a real NIC needs the mapping */
			struct rte_eth_dev_info di;

			if (!rte_eth_dev_info_get(p->id, &di) && di.device)
				rte_dev_dma_map(di.device, base, (uint64_t)(uintptr_t)base, len);
		}
	}
	p->nreg++;
	return 0;
}

static struct region *find(struct kmig_dpdk_port *p, const uint8_t *at, uint32_t len)
{
	struct region *r = &p->reg[p->last_reg];

	if (p->last_reg < p->nreg && at >= r->base && at + len <= r->base + r->len)
		return r;
	for (unsigned int i = 0; i < p->nreg; i++) {
		r = &p->reg[i];
		if (at >= r->base && at + len <= r->base + r->len) {
			p->last_reg = i;
			return r;
		}
	}
	return NULL;
}

void kmig_dpdk_port_add(struct kmig_dpdk_port *p, const struct kmig_dp_txdesc *d,
			const uint8_t dst[6])
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(p->hdr_pool), *e;
	struct rte_ether_hdr eth;
	uint8_t *w;

	if (!m) {
		p->st.tx_dropped++;
		return;
	}
	w = (uint8_t *)rte_pktmbuf_append(m, HDR_ROOM);
	memcpy(eth.dst_addr.addr_bytes, dst, 6);
	eth.src_addr = p->mac;
	eth.ether_type = rte_cpu_to_be_16(KMIG_DP_ETHERTYPE);
	memcpy(w, &eth, KMIG_DP_ETH_LEN);
	memcpy(w + KMIG_DP_ETH_LEN, &d->hdr, sizeof(d->hdr));
	for (int i = 0; i < 2; i++) {
		const uint8_t *at = d->seg[i];
		uint32_t len = d->seg_len[i];
		struct region *r;

		if (!len)
			continue;
		r = p->info.linearize || len <= INLINE_MAX ? NULL : find(p, at, len);
		if (!r) {
			/*
			 * A copy: the PMD cannot take this piece by reference (or it
			 * is tiny).  Behind a piece that went by reference it goes in
			 * a header mbuf of its own: an external buffer has no room.
			 */
			struct rte_mbuf *tail = m;

			if (rte_pktmbuf_lastseg(m) != m) {
				tail = rte_pktmbuf_alloc(p->hdr_pool);
				if (!tail)
					goto drop;
				if (rte_pktmbuf_chain(m, tail)) {
					rte_pktmbuf_free(tail);
					goto drop;
				}
			}
			w = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
			if (!w)
				goto drop;
			memcpy(w, at, len);
			p->st.inline_bytes += len;
			continue;
		}
		e = rte_pktmbuf_alloc(p->ext_pool);
		if (!e)
			goto drop;
		rte_mbuf_ext_refcnt_update(&r->shinfo, 1);
		rte_pktmbuf_attach_extbuf(e, (void *)(uintptr_t)at, (rte_iova_t)(uintptr_t)at,
					  (uint16_t)len, &r->shinfo);
		e->data_len = (uint16_t)len;
		e->pkt_len = len;
		if (rte_pktmbuf_chain(m, e)) {
			rte_pktmbuf_free(e);
			goto drop;
		}
		p->st.ext_segs++;
	}
	p->txq[p->ntx++] = m;
	if (p->ntx == p->burst)
		kmig_dpdk_port_flush(p);
	return;
drop:
	rte_pktmbuf_free(m);
	p->st.tx_dropped++;
}

/*
 * A burst on memif goes through the gate (dpdk_gate.h), which keeps EAL's
 * interrupt thread, where memif unmaps its rings when the peer goes, parked
 * meanwhile; and only while the link is up (a dead link has nothing to
 * give).  A send waits for the gate a little (the thread is out for about
 * OUT_US); a receive just comes back later.
 */
#define GATE_WAIT_US 2000

static bool burst_begin(struct kmig_dpdk_port *p, bool send)
{
	if (!p->memif)
		return true;
	if (!kmig_dpdk_port_link_up(p))
		return false;
	return send ? kmig_dpdk_gate_wait(GATE_WAIT_US) : kmig_dpdk_gate_enter();
}

static void burst_end(struct kmig_dpdk_port *p)
{
	if (p->memif)
		kmig_dpdk_gate_leave();
}

unsigned int kmig_dpdk_port_flush(struct kmig_dpdk_port *p)
{
	unsigned int sent = 0, idle = 0;
	uint64_t t0 = p->ntx ? rte_rdtsc() : 0;

	while (sent < p->ntx && idle < 8 && burst_begin(p, true)) {
		uint16_t k = rte_eth_tx_burst(p->id, p->q, p->txq + sent, (uint16_t)(p->ntx - sent));

		burst_end(p);
		sent += k;
		idle = k ? 0 : idle + 1;
	}
	/* a full ring: the rest is lost; the protocol sends it again */
	for (unsigned int i = sent; i < p->ntx; i++)
		rte_pktmbuf_free(p->txq[i]);
	p->st.tx_dropped += p->ntx - sent;
	if (p->ntx)
		p->st.tx_cycles += rte_rdtsc() - t0;
	p->ntx = 0;
	return sent;
}

static uint32_t rnd(struct kmig_dpdk_port *p)
{
	p->rng ^= p->rng << 13;
	p->rng ^= p->rng >> 7;
	p->rng ^= p->rng << 17;
	return (uint32_t)(p->rng % 1000000);
}

static bool ours(struct rte_mbuf *m)
{
	const uint8_t *b = rte_pktmbuf_mtod(m, const uint8_t *);

	return m->data_len >= KMIG_DP_ETH_LEN && b[12] == (KMIG_DP_ETHERTYPE >> 8) &&
	       b[13] == (KMIG_DP_ETHERTYPE & 0xff);
}

unsigned int kmig_dpdk_port_rx(struct kmig_dpdk_port *p, struct rte_mbuf **pkts, unsigned int n)
{
	struct rte_mbuf *in[MAX_BURST];
	unsigned int k, out = 0;

	if (!__atomic_load_n(&p->dev->started, __ATOMIC_ACQUIRE) || !burst_begin(p, false))
		return 0;
	uint64_t t0 = rte_rdtsc();

	k = rte_eth_rx_burst(p->id, p->q, p->loss | p->dup | p->reorder ? in : pkts, (uint16_t)n);
	burst_end(p);
	p->st.rx_cycles += rte_rdtsc() - t0;
	p->st.rx_frames += k;
	if (!(p->loss | p->dup | p->reorder))
		return k;
	for (unsigned int i = 0; i < k; i++) {
		struct rte_mbuf *m = in[i];
		uint32_t r = rnd(p);

		/* a frame held back goes after a few others: reordering */
		for (unsigned int j = 0; j < p->nheld;)
			if (!--p->held_for[j]) {
				pkts[out++] = p->held[j];
				p->held[j] = p->held[--p->nheld];
				p->held_for[j] = p->held_for[p->nheld];
			} else {
				j++;
			}
		if (!ours(m)) {
			pkts[out++] = m;
		} else if (r < p->loss) {
			rte_pktmbuf_free(m);
			p->st.inj_lost++;
		} else if (r < p->loss + p->dup) {
			rte_mbuf_refcnt_update(m, 1);	/* the same frame, twice */
			pkts[out++] = m;
			pkts[out++] = m;
			p->st.inj_dup++;
		} else if (r < p->loss + p->dup + p->reorder && p->nheld < INJ_HOLD) {
			p->held[p->nheld] = m;
			p->held_for[p->nheld++] = 1 + rnd(p) % 7;
			p->st.inj_reordered++;
		} else {
			pkts[out++] = m;
		}
	}
	/* nothing came: whatever is held goes now (no frame waits forever) */
	if (!k)
		while (p->nheld)
			pkts[out++] = p->held[--p->nheld];
	return out;
}

uint8_t *kmig_dpdk_port_frame(struct kmig_dpdk_port *p, struct rte_mbuf **m, uint32_t *len)
{
	if ((*m)->nb_segs > 1) {
		/* rare (a frame over several memif buffers): copy it into one mbuf */
		struct rte_mbuf *c = rte_pktmbuf_copy(*m, p->rx_pool, 0, UINT32_MAX);

		rte_pktmbuf_free(*m);
		*m = c;
		if (!c || c->nb_segs > 1)
			return NULL;
		p->st.rx_linearized++;
	}
	*len = (*m)->data_len;
	return rte_pktmbuf_mtod(*m, uint8_t *);
}

void kmig_dpdk_port_free(void *ctx, void *mbuf)
{
	(void)ctx;
	rte_pktmbuf_free(mbuf);
}

