// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_dp_proto.c: the dpdk: channel's reliable stream (dp_proto.h) with
 * no DPDK at all: two connections joined by an in-memory "wire" that can
 * lose, reorder and duplicate frames, and an attacker that injects
 * hostile ones.  Every stream must arrive byte for byte, or the
 * connection must fail with a reason; nothing hostile reaches the reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "dp_proto.h"

#define WIRE_MAX 8192

struct frame {
	uint8_t *b;
	uint32_t len;
};

struct wire {
	struct frame q[WIRE_MAX];
	unsigned int n;
	unsigned int loss, reorder, dup;	/* per mille */
	uint64_t rng;
	bool cut;				/* drop everything */
};

struct end {
	struct kmig_dp_conn c;
	struct wire *out;			/* frames this end sends go here */
	uint8_t mac[6];
};

static uint64_t now;

static uint32_t rnd(struct wire *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return (uint32_t)(w->rng % 1000);
}

static void release(void *ctx, void *h)
{
	(void)ctx;
	free(h);
}

static struct kmig_dp_cfg cfg(uint32_t max_payload)
{
	return (struct kmig_dp_cfg){ .max_payload = max_payload, .rx_window = 256,
				     .tx_slots = 512, .staging = 1 << 16, .pieces = 256,
				     .timeout_us = 2000000, .syn_timeout_us = 1000000,
				     .release = release };
}

/* serialises a frame as the glue would: Ethernet header, header, payload */
static struct frame serialise(struct kmig_dp_txdesc *d, const uint8_t *src_mac)
{
	struct frame f;
	uint8_t *p;

	kmig_dp_seal(d);
	f.len = KMIG_DP_ETH_LEN + sizeof(d->hdr) + d->seg_len[0] + d->seg_len[1];
	f.b = p = malloc(f.len);
	assert_non_null(p);
	memset(p, 0xff, 6);
	memcpy(p + 6, src_mac, 6);
	p[12] = KMIG_DP_ETHERTYPE >> 8;
	p[13] = KMIG_DP_ETHERTYPE & 0xff;
	p += KMIG_DP_ETH_LEN;
	memcpy(p, &d->hdr, sizeof(d->hdr));
	p += sizeof(d->hdr);
	for (int i = 0; i < 2; i++) {
		if (d->seg_len[i])
			memcpy(p, d->seg[i], d->seg_len[i]);
		p += d->seg_len[i];
	}
	return f;
}

static void push(struct wire *w, struct frame f)
{
	if (w->cut || (w->loss && rnd(w) < w->loss) || w->n >= WIRE_MAX - 1) {
		free(f.b);
		return;
	}
	if (w->dup && rnd(w) < w->dup) {
		struct frame g = { malloc(f.len), f.len };

		assert_non_null(g.b);
		memcpy(g.b, f.b, f.len);
		w->q[w->n++] = g;
	}
	w->q[w->n++] = f;
	if (w->reorder && w->n > 1 && rnd(w) < w->reorder) {
		unsigned int j = w->n - 1 - 1 - (rnd(w) % (w->n - 1 < 8 ? w->n - 1 : 8));
		struct frame t = w->q[j];

		w->q[j] = w->q[w->n - 1];
		w->q[w->n - 1] = t;
	}
}

/* sends what @e has to send (at most @budget frames) */
static unsigned int pump_out(struct end *e, unsigned int budget)
{
	struct kmig_dp_txdesc d;
	unsigned int n = 0;

	kmig_dp_tick(&e->c, now);
	while (n < budget && kmig_dp_next_tx(&e->c, now, &d)) {
		push(e->out, serialise(&d, e->mac));
		n++;
	}
	return n;
}

/* delivers every frame queued on @w to @e; returns how many */
static unsigned int pump_in(struct wire *w, struct end *e)
{
	unsigned int n = w->n;

	for (unsigned int i = 0; i < n; i++) {
		struct kmig_dp_hdr h;
		enum kmig_dp_drop why;
		const uint8_t *pl = kmig_dp_check(w->q[i].b, w->q[i].len, &h, &why, e->c.cfg.hdr_sum);
		int kept = 0;

		if (pl)
			kept = kmig_dp_on_frame(&e->c, &h, pl, w->q[i].b, now);
		else
			e->c.st.drops[why]++;
		if (kept != 1)
			free(w->q[i].b);
	}
	w->n = 0;
	e->c.rx_drained = true;
	return n;
}

struct pair {
	struct wire ab, ba;
	struct end a, b;
};

/* opens a (source) and b (destination) through the handshake */
static void open_pair(struct pair *p, uint32_t pa, uint32_t pb)
{
	struct kmig_dp_cfg ca = cfg(pa), cb = cfg(pb);
	struct kmig_dp_hdr h;
	enum kmig_dp_drop why;
	const uint8_t *pl;

	memset(p, 0, sizeof(*p));
	p->ab.rng = p->ba.rng = 0x9e3779b97f4a7c15ull;
	p->a.out = &p->ab;
	p->b.out = &p->ba;
	p->a.mac[5] = 1;
	p->b.mac[5] = 2;
	now = 1000000;
	assert_int_equal(kmig_dp_init(&p->a.c, &ca, 0x1111), 0);
	assert_int_equal(kmig_dp_init(&p->b.c, &cb, 0x2222), 0);
	kmig_dp_connect(&p->a.c, now);
	assert_int_equal(pump_out(&p->a, 4), 1);	/* the SYN */
	assert_int_equal(p->ab.n, 1);
	pl = kmig_dp_check(p->ab.q[0].b, p->ab.q[0].len, &h, &why, false);
	assert_non_null(pl);
	assert_int_equal(h.type, KMIG_DP_SYN);
	assert_int_equal(kmig_dp_accept(&p->b.c, &h, pl, now), 0);
	free(p->ab.q[0].b);
	p->ab.n = 0;
	pump_out(&p->b, 4);				/* the SYNACK */
	pump_in(&p->ba, &p->a);
	assert_int_equal(p->a.c.state, KMIG_DP_OPEN);
	assert_int_equal(p->b.c.state, KMIG_DP_OPEN);
	assert_int_equal(p->a.c.max_payload, pa < pb ? pa : pb);
}

static void close_pair(struct pair *p)
{
	for (unsigned int i = 0; i < p->ab.n; i++)
		free(p->ab.q[i].b);
	for (unsigned int i = 0; i < p->ba.n; i++)
		free(p->ba.q[i].b);
	kmig_dp_fini(&p->a.c);
	kmig_dp_fini(&p->b.c);
}

/* a stream like kmig's: 32-byte record headers (copied), then pages by reference */
static void fill_mem(uint8_t *mem, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		mem[i] = (uint8_t)((i * 131 + seed) >> 3);
}

/*
 * Queues @npages pages of @mem from a to b, each after a 32-byte header
 * that names its index, and runs both ends until b has read everything;
 * checks every byte.  Returns the steps it took.
 */
static unsigned int transfer(struct pair *p, const uint8_t *mem, unsigned int npages,
			     unsigned int step_us)
{
	size_t total = (size_t)npages * (32 + 4096), got = 0;
	uint8_t *in = malloc(total), *want = malloc(total);
	unsigned int queued = 0, steps = 0;

	assert_non_null(in);
	assert_non_null(want);
	for (unsigned int i = 0; i < npages; i++) {
		memset(want + (size_t)i * 4128, (int)i, 32);
		memcpy(want + (size_t)i * 4128 + 32, mem + (size_t)i * 4096, 4096);
	}
	while (got < total) {
		uint8_t hdr[32];

		while (queued < npages && kmig_dp_stg_room(&p->a.c) >= 32 &&
		       kmig_dp_piece_room(&p->a.c) >= 2) {
			memset(hdr, (int)queued, sizeof(hdr));
			assert_int_equal(kmig_dp_put_copy(&p->a.c, hdr, 32), 32);
			assert_int_equal(kmig_dp_put_ref(&p->a.c, mem + (size_t)queued * 4096, 4096), 0);
			queued++;
		}
		pump_out(&p->a, 64);
		pump_in(&p->ab, &p->b);
		got += kmig_dp_read(&p->b.c, in + got, total - got);
		pump_out(&p->b, 64);
		pump_in(&p->ba, &p->a);
		now += step_us;
		assert_int_equal(p->a.c.state, KMIG_DP_OPEN);
		assert_int_equal(p->b.c.state, KMIG_DP_OPEN);
		assert_true(++steps < 200000);
	}
	assert_memory_equal(in, want, total);
	free(in);
	free(want);
	return steps;
}

static void test_clean_transfer(void **state)
{
	struct pair p;
	uint8_t *mem = aligned_alloc(4096, 512 * 4096);

	(void)state;
	fill_mem(mem, 512 * 4096, 1);
	open_pair(&p, 8920, 8920);
	transfer(&p, mem, 512, 10);
	assert_int_equal(p.a.c.st.rtx, 0);
	/* one frame per page: header bytes ride with it */
	assert_int_equal(p.a.c.st.data_out, 512);
	assert_int_equal(p.a.c.st.zc_bytes, 512 * 4096);
	assert_int_equal(p.a.c.st.copy_bytes, 512 * 32);
	/* the end of the stream reaches the reader after the last byte */
	kmig_dp_end(&p.a.c);
	for (int i = 0; i < 5; i++) {
		pump_out(&p.a, 8);
		pump_in(&p.ab, &p.b);
		pump_out(&p.b, 8);
		pump_in(&p.ba, &p.a);
		now += 10;
	}
	assert_true(kmig_dp_eof(&p.b.c));
	assert_true(kmig_dp_tx_done(&p.a.c));
	close_pair(&p);
	free(mem);
}

static void test_small_frames(void **state)
{
	struct pair p;
	uint8_t *mem = aligned_alloc(4096, 128 * 4096);

	(void)state;
	fill_mem(mem, 128 * 4096, 2);
	open_pair(&p, 8920, 1420);	/* the smaller end decides */
	transfer(&p, mem, 128, 10);
	assert_int_equal(p.a.c.st.data_out, 128 * 3);	/* a page in three fragments */
	close_pair(&p);
	free(mem);
}

static void test_lossy_wire(void **state)
{
	struct pair p;
	uint8_t *mem = aligned_alloc(4096, 2048 * 4096);

	(void)state;
	fill_mem(mem, 2048 * 4096, 3);
	open_pair(&p, 1420, 1420);
	p.ab.loss = p.ab.reorder = p.ab.dup = 10;	/* 1 % each way */
	p.ba.loss = p.ba.reorder = p.ba.dup = 10;
	transfer(&p, mem, 2048, 100);
	assert_true(p.a.c.st.rtx > 0);
	assert_true(p.b.c.st.drops[KMIG_DP_DROP_DUP] > 0);
	assert_true(p.b.c.st.ooo_in > 0);
	close_pair(&p);
	p.ab.rng = 7;
	open_pair(&p, 8920, 8920);
	p.ab.loss = p.ab.reorder = p.ab.dup = 100;	/* 10 % */
	p.ba.loss = 100;
	transfer(&p, mem, 2048, 100);
	close_pair(&p);
	free(mem);
}

/* a page written after its lost first transmission goes again as it is now */
static void test_resend_rereads(void **state)
{
	struct pair p;
	uint8_t *mem = aligned_alloc(4096, 4096), got[4096 + 32], hdr[32] = { 0 };
	size_t n = 0;

	(void)state;
	memset(mem, 'A', 4096);
	open_pair(&p, 8920, 8920);
	kmig_dp_put_copy(&p.a.c, hdr, 32);
	kmig_dp_put_ref(&p.a.c, mem, 4096);
	p.ab.cut = true;
	pump_out(&p.a, 8);		/* lost */
	p.ab.cut = false;
	memset(mem, 'B', 4096);		/* the workload writes the page meanwhile */
	for (int i = 0; i < 100 && n < sizeof(got); i++) {
		now += 10000;
		pump_out(&p.a, 8);
		pump_in(&p.ab, &p.b);
		n += kmig_dp_read(&p.b.c, got + n, sizeof(got) - n);
		pump_out(&p.b, 8);
		pump_in(&p.ba, &p.a);
	}
	assert_int_equal(n, sizeof(got));
	assert_int_equal(got[32], 'B');
	assert_int_equal(got[sizeof(got) - 1], 'B');
	assert_true(p.a.c.st.timeouts + p.a.c.st.probes >= 1);	/* found lost, sent again */
	close_pair(&p);
	free(mem);
}

/* a slow reader closes the window: the sender waits, nothing is lost */
static void test_flow_control(void **state)
{
	struct pair p;
	uint8_t *mem = aligned_alloc(4096, 1024 * 4096), *in = malloc(1024 * 4096);
	size_t got = 0;

	(void)state;
	fill_mem(mem, 1024 * 4096, 4);
	open_pair(&p, 8920, 8920);
	assert_int_equal(kmig_dp_put_ref(&p.a.c, mem, 1024 * 4096), 0);
	for (int i = 0; i < 50; i++) {
		pump_out(&p.a, 64);
		pump_in(&p.ab, &p.b);
		pump_out(&p.b, 64);
		pump_in(&p.ba, &p.a);
		now += 1000;
	}
	/* b read nothing: at most its window is buffered, and nothing was dropped */
	assert_int_equal(p.b.c.rcv_nxt - 1, 256);
	assert_int_equal(p.b.c.st.drops[KMIG_DP_DROP_WINDOW], 0);
	assert_int_equal(p.a.c.state, KMIG_DP_OPEN);
	/* reading reopens it; the rest follows */
	for (int i = 0; i < 2000 && got < 1024 * 4096; i++) {
		got += kmig_dp_read(&p.b.c, in + got, 1024 * 4096 - got);
		pump_out(&p.b, 64);
		pump_in(&p.ba, &p.a);
		pump_out(&p.a, 64);
		pump_in(&p.ab, &p.b);
		now += 100;
	}
	assert_int_equal(got, 1024 * 4096);
	assert_memory_equal(in, mem, got);
	assert_int_equal(p.a.c.st.rtx, 0);
	close_pair(&p);
	free(in);
	free(mem);
}

/* --- hostile frames --- */

static struct frame forge(struct kmig_dp_hdr h, const void *payload, uint32_t len)
{
	struct kmig_dp_txdesc d = { .hdr = h, .seg = { payload }, .seg_len = { len } };
	uint8_t mac[6] = { 6, 6, 6, 6, 6, 6 };

	d.hdr.len = len;
	return serialise(&d, mac);
}

static void test_hostile(void **state)
{
	struct pair p;
	uint8_t *mem = aligned_alloc(4096, 64 * 4096), junk[9000];
	struct kmig_dp_hdr base = { .magic = KMIG_DP_MAGIC, .version = KMIG_DP_VERSION,
				    .type = KMIG_DP_DATA, .ack = 1, .wnd = 16 };
	struct kmig_dp_hdr h;
	struct frame f;
	uint64_t before[KMIG_DP_DROP_MAX];

	(void)state;
	memset(junk, 'X', sizeof(junk));
	fill_mem(mem, 64 * 4096, 5);
	open_pair(&p, 8920, 8920);
	base.conn = p.b.c.my_id;
	/* start a real stream and remember one real frame to replay */
	transfer(&p, mem, 8, 10);
	memcpy(before, p.b.c.st.drops, sizeof(before));

	/* a foreign frame (IPv6 neighbour discovery's ethertype) */
	f = forge(base, junk, 64);
	f.b[12] = 0x86;
	f.b[13] = 0xdd;
	push(&p.ab, f);
	/* bad magic, bad version, unknown type, a split beyond the payload, FIN with data */
	h = base; h.magic ^= 1; h.seq = p.b.c.rcv_nxt; push(&p.ab, forge(h, junk, 100));
	h = base; h.version = 9; h.seq = p.b.c.rcv_nxt; push(&p.ab, forge(h, junk, 100));
	h = base; h.type = 77; h.seq = p.b.c.rcv_nxt; push(&p.ab, forge(h, junk, 100));
	h = base; h.seq = p.b.c.rcv_nxt; f = forge(h, junk, 100); f.b[KMIG_DP_ETH_LEN + offsetof(struct kmig_dp_hdr, split)] = 101; push(&p.ab, f);
	h = base; h.flags = KMIG_DP_F_FIN; h.seq = p.b.c.rcv_nxt; push(&p.ab, forge(h, junk, 100));
	/* a length longer than the frame, a payload over the negotiated size */
	h = base; h.seq = p.b.c.rcv_nxt;
	f = forge(h, junk, 100);
	f.len -= 50;
	push(&p.ab, f);
	h = base; h.seq = p.b.c.rcv_nxt; push(&p.ab, forge(h, junk, 9000));
	/* a flipped bit: checksum */
	h = base; h.seq = p.b.c.rcv_nxt; h.off = p.b.c.rcv_off;
	f = forge(h, junk, 100);
	f.b[f.len - 1] ^= 1;
	push(&p.ab, f);
	/* another connection's frame, a SYN for another source */
	h = base; h.conn ^= 0xff; h.seq = p.b.c.rcv_nxt; h.off = p.b.c.rcv_off;
	push(&p.ab, forge(h, junk, 100));
	/* replayed sequence numbers: frames already delivered */
	h = base; h.seq = 1; h.off = 0; push(&p.ab, forge(h, junk, 100));
	h = base; h.seq = 3; h.off = 2 * 4128; push(&p.ab, forge(h, junk, 100));
	/* far beyond the window */
	h = base; h.seq = p.b.c.rcv_nxt + 100000; push(&p.ab, forge(h, junk, 100));
	/* acknowledging frames b never sent */
	h = base; h.type = KMIG_DP_ACK; h.ack = 1000; push(&p.ab, forge(h, NULL, 0));
	pump_in(&p.ab, &p.b);
	assert_int_equal(p.b.c.state, KMIG_DP_OPEN);
	assert_int_equal(kmig_dp_readable(&p.b.c), 0);	/* nothing reached the reader */
	assert_int_equal(p.b.c.st.drops[KMIG_DP_DROP_FOREIGN] - before[KMIG_DP_DROP_FOREIGN], 1);
	assert_int_equal(p.b.c.st.drops[KMIG_DP_DROP_MALFORMED] -
			 before[KMIG_DP_DROP_MALFORMED], 7);
	assert_int_equal(p.b.c.st.drops[KMIG_DP_DROP_CSUM] - before[KMIG_DP_DROP_CSUM], 1);
	assert_int_equal(p.b.c.st.drops[KMIG_DP_DROP_CONN] - before[KMIG_DP_DROP_CONN], 1);
	assert_int_equal(p.b.c.st.drops[KMIG_DP_DROP_DUP] - before[KMIG_DP_DROP_DUP], 2);
	assert_int_equal(p.b.c.st.drops[KMIG_DP_DROP_WINDOW] - before[KMIG_DP_DROP_WINDOW], 1);
	assert_int_equal(p.b.c.st.drops[KMIG_DP_DROP_ACK] - before[KMIG_DP_DROP_ACK], 1);
	/* the real stream goes on untouched */
	transfer(&p, mem + 8 * 4096, 8, 10);

	/* a forged frame that passes every check but claims the wrong stream offset */
	h = base; h.seq = p.b.c.rcv_nxt; h.off = p.b.c.rcv_off + 4096;
	push(&p.ab, forge(h, junk, 100));
	pump_in(&p.ab, &p.b);
	assert_int_equal(p.b.c.state, KMIG_DP_CLOSED);
	assert_int_equal(p.b.c.err_no, -EPROTO);
	assert_non_null(strstr(p.b.c.err, "carries stream offset"));
	assert_int_equal(kmig_dp_readable(&p.b.c), 0);
	/* and the source hears why */
	pump_out(&p.b, 8);
	pump_in(&p.ba, &p.a);
	assert_int_equal(p.a.c.state, KMIG_DP_CLOSED);
	assert_non_null(strstr(p.a.c.err, "carries stream offset"));
	close_pair(&p);
	free(mem);
}

/* a destination that stops answering fails the source after the timeout */
static void test_silent_peer(void **state)
{
	struct pair p;
	uint8_t *mem = aligned_alloc(4096, 64 * 4096);

	(void)state;
	fill_mem(mem, 64 * 4096, 6);
	open_pair(&p, 8920, 8920);
	transfer(&p, mem, 16, 10);
	for (unsigned int i = 16; i < 64; i++)
		kmig_dp_put_ref(&p.a.c, mem + (size_t)i * 4096, 4096);
	p.ab.cut = true;		/* the destination froze: nothing comes back */
	for (int i = 0; i < 400 && p.a.c.state == KMIG_DP_OPEN; i++) {
		pump_out(&p.a, 64);
		now += 10000;
	}
	assert_int_equal(p.a.c.state, KMIG_DP_CLOSED);
	assert_int_equal(p.a.c.err_no, -ETIMEDOUT);
	assert_non_null(strstr(p.a.c.err, "no frame from the peer"));
	close_pair(&p);

	/* a source that never hears a SYNACK */
	struct kmig_dp_conn c;
	struct kmig_dp_cfg cf = cfg(1500);
	struct kmig_dp_txdesc d;

	assert_int_equal(kmig_dp_init(&c, &cf, 5), 0);
	kmig_dp_connect(&c, now);
	for (int i = 0; i < 30 && kmig_dp_tick(&c, now); i++) {
		while (kmig_dp_next_tx(&c, now, &d))
			;
		now += 100000;
	}
	assert_int_equal(c.state, KMIG_DP_CLOSED);
	assert_non_null(strstr(c.err, "no kmig destination answered"));
	kmig_dp_fini(&c);
	free(mem);
}

static void test_reset_reason(void **state)
{
	struct pair p;

	(void)state;
	open_pair(&p, 8920, 8920);
	kmig_dp_reset(&p.b.c, -ECANCELED, "incoming migration cancelled");
	pump_out(&p.b, 8);
	pump_in(&p.ba, &p.a);
	assert_int_equal(p.a.c.state, KMIG_DP_CLOSED);
	assert_int_equal(p.a.c.err_no, -ECONNRESET);
	assert_string_equal(p.a.c.err, "the peer ended the connection: incoming migration "
			    "cancelled");
	close_pair(&p);
}

/* closing waits for the peer's RST (on memif): it is seen before and after this end closed */
static void test_reset_seen_both_ways(void **state)
{
	struct pair p;

	(void)state;
	open_pair(&p, 8920, 8920);
	assert_false(p.a.c.rst_in);
	/* a closes first: b hears it while open */
	kmig_dp_reset(&p.a.c, -ECONNABORTED, "the channel was closed");
	pump_out(&p.a, 8);
	pump_in(&p.ab, &p.b);
	assert_true(p.b.c.rst_in);
	assert_false(p.a.c.rst_in);
	/* b closes in turn: a, already closed, still takes its RST as the end */
	kmig_dp_reset(&p.b.c, -ECONNABORTED, "the channel was closed");
	pump_out(&p.b, 8);
	pump_in(&p.ba, &p.a);
	assert_true(p.a.c.rst_in);
	assert_int_equal(p.a.c.err_no, -ECONNABORTED);	/* its own reason stays */
	close_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_transfer),
		cmocka_unit_test(test_small_frames),
		cmocka_unit_test(test_lossy_wire),
		cmocka_unit_test(test_resend_rereads),
		cmocka_unit_test(test_flow_control),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_silent_peer),
		cmocka_unit_test(test_reset_reason),
		cmocka_unit_test(test_reset_seen_both_ways),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
