/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xport.h: the migration channel interface.  The engine sends batches of
 * records (wire.h) into a channel and reads the far side's records from
 * it; back ends (tcp, unix, exec, fd, file now; dpdk later) implement
 * struct kmig_chan_ops and keep their state behind @priv.  The URI scheme
 * picks the back end (uri.h).
 *
 * Buffer ownership follows rte_eth_tx_burst: send() may take only part of
 * a batch (the caller keeps the rest), and the memory a taken record points
 * at (its header and payload) stays the caller's responsibility until the
 * channel reports it completed.  A zero-copy back end completes records
 * when the device is done with them; a copying one (the socket back ends:
 * the kernel copies in writev) completes them as it takes them.
 */
#ifndef KMIG_XPORT_H
#define KMIG_XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uri.h"
#include "wire.h"

/* channel capabilities */
#define KMIG_CHAN_F_RETURN_PATH 1u	/* the far side can answer on this channel */
#define KMIG_CHAN_F_MULTI       2u	/* more channels can be opened to the same address */

/**
 * struct kmig_tx - one record to send
 * @hdr:     its header (not reused by the caller before completion), or
 *           NULL for bytes that are not a record (stream header, hello)
 * @payload: @len bytes that follow (RAM block memory, or a codec buffer)
 * @len:     payload bytes; must equal @hdr->len
 */
struct kmig_tx {
	const struct kmig_wire_rec *hdr;
	const void *payload;
	uint32_t len;
};

/**
 * struct kmig_chan - one open channel
 * @ops:       its back end
 * @id:        0 for the main channel, 1.. for data channels
 * @caps:      KMIG_CHAN_F_*
 * @taken:     records the back end took so far (kmig_chan_send counts them)
 * @bytes_out: bytes the back end took so far (written by the sending thread)
 * @bytes_in:  bytes read so far (written by the reading thread)
 * @priv:      the back end's state
 */
struct kmig_chan {
	const struct kmig_chan_ops *ops;
	unsigned int id;
	unsigned int caps;
	uint64_t taken;
	uint64_t bytes_out;
	uint64_t bytes_in;
	void *priv;
};

/**
 * struct kmig_listener - a destination waiting for its source
 * @ops:  the back end
 * @uri:  what it listens on
 * @host, @port: tcp: the bound address, for query-migrate
 * @priv: the back end's state
 */
struct kmig_listener {
	const struct kmig_chan_ops *ops;
	struct kmig_uri uri;
	char host[256];
	char port[32];
	void *priv;
};

/**
 * struct kmig_chan_ops - one channel back end.  Error texts go to @err (a
 * sentence, QEMU's wording where QEMU has one).
 * @scheme:  the URI scheme ("tcp", ...), reported as x-kmig-transport
 * @caps:    KMIG_CHAN_F_* every channel of this back end has
 * @connect: source: open the channel for @u; 0 or -errno.  Gives up with
 *           -ECANCELED soon after *@cancel becomes true.
 * @listen:  destination: prepare @l for @u; 0 or -errno
 * @accept:  destination: wait up to @timeout_ms (-1: forever) for the next
 *           channel; 0, -ETIMEDOUT, or -errno.  listen_abort ends the wait.
 * @listen_abort: make a blocked or later accept fail promptly (any thread)
 * @listen_close: release the listener; accepts a half-prepared one
 * @send:    take records tx[0..n) in order: returns how many it took (0..n;
 *           a blocking back end takes them all), or -errno.  Migration
 *           thread only (one sender per channel).
 * @completed: records completed since the channel opened (their memory may
 *           be reused); NULL means every record is complete once taken.
 * @read:    read exactly @n bytes of the far side's stream; 0,
 *           -ECONNRESET if it ended before them, or -errno.  One reader
 *           thread per channel, which may differ from the sender.
 * @end_write: optional: tell the far side nothing more will be sent (the
 *           channel stays readable)
 * @abort_read: optional: make a blocked and later read fail promptly, the
 *           channel staying writable (a destination that must still answer)
 * @register_mem: optional (NULL: nothing to do): source, migration thread,
 *           once per RAM block right after connect: @len bytes at @base
 *           stay mapped until close.  The channel may then send payloads
 *           that lie inside them by reference, completing them at once, and
 *           read them again until close (a frame sent again re-reads the
 *           page).  0, or -errno with @err.
 * @abort:   make blocked and later I/O fail promptly (cancel; any thread)
 * @close:   release everything; accepts a half-opened channel.  Returns 0,
 *           or -EIO when the far end reported failure (an exec: command
 *           that exited non-zero).
 */
struct kmig_chan_ops {
	const char *scheme;
	unsigned int caps;
	int (*connect)(struct kmig_chan *c, const struct kmig_uri *u, const _Atomic bool *cancel,
		       char *err, size_t n);
	int (*listen)(struct kmig_listener *l, const struct kmig_uri *u, char *err, size_t n);
	int (*accept)(struct kmig_listener *l, struct kmig_chan *c, int timeout_ms, char *err,
		      size_t n);
	void (*listen_abort)(struct kmig_listener *l);
	void (*listen_close)(struct kmig_listener *l);
	long (*send)(struct kmig_chan *c, const struct kmig_tx *tx, unsigned int n);
	uint64_t (*completed)(struct kmig_chan *c);
	int (*read)(struct kmig_chan *c, void *buf, size_t n);
	void (*end_write)(struct kmig_chan *c);
	void (*abort_read)(struct kmig_chan *c);
	int (*register_mem)(struct kmig_chan *c, void *base, size_t len, char *err, size_t n);
	void (*abort)(struct kmig_chan *c);
	int (*close)(struct kmig_chan *c);
};

extern const struct kmig_chan_ops kmig_chan_tcp_ops;
extern const struct kmig_chan_ops kmig_chan_unix_ops;
extern const struct kmig_chan_ops kmig_chan_exec_ops;
extern const struct kmig_chan_ops kmig_chan_fd_ops;
extern const struct kmig_chan_ops kmig_chan_file_ops;
extern const struct kmig_chan_ops kmig_chan_dpdk_ops;
/*
 * kmigd --dpdk OPTIONS: starts DPDK's EAL now (lcore=, mem=, huge=,
 * huge-dir=, prefix=, eal= as in a dpdk: URI), so no migration's setup
 * waits for it.  0, or -errno with @err.
 */
int kmig_chan_dpdk_prestart(const char *opts, char *err, size_t n);

/* ---- helpers over the ops (xport.c) ---- */

int kmig_chan_connect(struct kmig_chan *c, const struct kmig_uri *u, const _Atomic bool *cancel,
		      char *err, size_t n);
int kmig_chan_listen(struct kmig_listener *l, const struct kmig_uri *u, char *err, size_t n);
int kmig_chan_accept(struct kmig_listener *l, struct kmig_chan *c, int timeout_ms, char *err,
		     size_t n);
void kmig_chan_listen_abort(struct kmig_listener *l);
void kmig_chan_listen_close(struct kmig_listener *l);

/* ops->send, counting what was taken in @c->taken */
static inline long kmig_chan_send(struct kmig_chan *c, const struct kmig_tx *tx, unsigned int n)
{
	long k = c->ops->send(c, tx, n);

	if (k > 0)
		c->taken += (uint64_t)k;
	return k;
}

/* records completed so far (== @c->taken for a copying back end) */
uint64_t kmig_chan_completed(struct kmig_chan *c);
/* sends every record of tx[0..n), blocking until the back end took them all */
int kmig_chan_send_all(struct kmig_chan *c, const struct kmig_tx *tx, unsigned int n);
/*
 * Sends one record (a control record: small payload, typically on the
 * caller's stack) and returns once it completed, so the caller may reuse
 * its memory.
 */
int kmig_chan_send_rec(struct kmig_chan *c, struct kmig_wire_rec *r, const void *payload);

static inline int kmig_chan_read(struct kmig_chan *c, void *buf, size_t n)
{
	return c->ops->read(c, buf, n);
}

/* ops->register_mem where the back end has it (else 0: nothing to do) */
static inline int kmig_chan_register_mem(struct kmig_chan *c, void *base, size_t len, char *err,
					 size_t n)
{
	return c->ops->register_mem ? c->ops->register_mem(c, base, len, err, n) : 0;
}

/* tells the far side no more data comes, where the back end can */
void kmig_chan_end_write(struct kmig_chan *c);
void kmig_chan_abort(struct kmig_chan *c);
/* ends blocked reads, keeping the channel writable where the back end can */
void kmig_chan_abort_read(struct kmig_chan *c);

/* accepts a channel that was never opened (ops NULL); see ops->close */
int kmig_chan_close(struct kmig_chan *c);

/* a record header for @c: type and channel id filled, the rest zero */
static inline struct kmig_wire_rec kmig_rec(const struct kmig_chan *c, uint16_t type)
{
	return (struct kmig_wire_rec){ .type = type, .chan = (uint16_t)c->id };
}

#endif
