/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xport.h: the migration channel.  The engine writes a stream of records
 * (wire.h) into a channel and, where the channel has one, reads the
 * destination's answers from its return path.  Back ends implement
 * struct kmig_xport_ops; today one fd-based back end serves tcp:, unix:,
 * exec:, file: and fd:, and a DPDK back end will implement the same ops.
 */
#ifndef KMIG_XPORT_H
#define KMIG_XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "uri.h"

struct kmig_xport;

/**
 * struct kmig_xport_ops - one transport back end; all calls come from the
 * migration thread except @abort, which any thread may call once.
 * @writev: write every byte of @iov (may modify @iov); 0 or -errno
 * @read:   read exactly @n bytes; 0, -ECONNRESET if the stream ended
 *          before them, or -errno
 * @abort:  make blocked and future I/O fail promptly (cancel)
 * @close:  release everything; accepts a half-opened channel.  Returns 0,
 *          or -EIO when the far end reported failure (an exec: command that
 *          exited non-zero).
 */
struct kmig_xport_ops {
	const char *name;
	int (*writev)(struct kmig_xport *x, struct iovec *iov, int n);
	int (*read)(struct kmig_xport *x, void *buf, size_t n);
	void (*abort)(struct kmig_xport *x);
	int (*close)(struct kmig_xport *x);
};

/**
 * struct kmig_xport - an open channel
 * @ops:         back end
 * @name:        "tcp", "unix", "exec", "file" or "fd" (for query-migrate)
 * @fd:          the stream (written on the source, read on the destination)
 * @has_return:  whether the destination can answer on @fd (sockets only)
 * @child:       exec: the command's pid, else 0
 * @bytes:       payload bytes written or read so far
 */
struct kmig_xport {
	const struct kmig_xport_ops *ops;
	const char *name;
	int fd;
	bool has_return;
	pid_t child;
	unsigned long long bytes;
};

/** struct kmig_listener - a destination waiting for its source */
struct kmig_listener {
	struct kmig_uri uri;
	int fd;			/* listening socket, or the opened file/pipe */
	pid_t child;		/* exec: the command producing the stream */
	char host[256];		/* tcp: bound address and port, for query-migrate */
	char port[32];
};

/*
 * source: opens the channel for @u; 0 or -errno with @err filled.  Gives up
 * with -ECANCELED soon after *@cancel becomes true (a connect can hang for
 * minutes when the peer drops SYNs).
 */
int kmig_xport_connect(const struct kmig_uri *u, struct kmig_xport *x,
		       const _Atomic bool *cancel, char *err, size_t n);
/* destination: prepares @l for @u (binds tcp/unix, opens file, runs exec) */
int kmig_xport_listen(const struct kmig_uri *u, struct kmig_listener *l, char *err, size_t n);
/* destination: waits for the source (blocking; kmig_xport_listen_abort ends it) */
int kmig_xport_accept(struct kmig_listener *l, struct kmig_xport *x, char *err, size_t n);
void kmig_xport_listen_abort(struct kmig_listener *l);
void kmig_xport_listen_close(struct kmig_listener *l);

static inline int kmig_xport_writev(struct kmig_xport *x, struct iovec *iov, int n)
{
	return x->ops->writev(x, iov, n);
}

static inline int kmig_xport_read(struct kmig_xport *x, void *buf, size_t n)
{
	return x->ops->read(x, buf, n);
}

int kmig_xport_close(struct kmig_xport *x);

#endif
