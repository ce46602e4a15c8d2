/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xport_fd.h: what the file-descriptor channel back ends share: a channel
 * is one fd (and, for exec:, the command's pid), written with writev()
 * straight from the caller's buffers, so the kernel's copy is the only one.
 * Private to userspace/xport/.
 */
#ifndef KMIG_XPORT_FD_H
#define KMIG_XPORT_FD_H

#include "xport.h"

/** struct kmig_fdchan - an fd channel's state (struct kmig_chan.priv) */
struct kmig_fdchan {
	int fd;
	pid_t child;		/* exec: the command, else 0 */
	bool socket;		/* shutdown() works on it */
};

/** struct kmig_fdlisten - an fd listener's state (struct kmig_listener.priv) */
struct kmig_fdlisten {
	int fd;			/* listening socket, or the opened stream (file, exec, fd) */
	pid_t child;		/* exec: the command producing the stream */
};

/* makes @c an fd channel on @fd (owned from here on); 0 or -ENOMEM (fd closed) */
int kmig_fdchan_init(struct kmig_chan *c, const struct kmig_chan_ops *ops, int fd, pid_t child);
bool kmig_fd_is_socket(int fd);

/* the ops every fd back end uses */
long kmig_fdchan_send(struct kmig_chan *c, const struct kmig_tx *tx, unsigned int n);
int kmig_fdchan_read(struct kmig_chan *c, void *buf, size_t n);
void kmig_fdchan_end_write(struct kmig_chan *c);
void kmig_fdchan_abort_read(struct kmig_chan *c);
void kmig_fdchan_abort(struct kmig_chan *c);
int kmig_fdchan_close(struct kmig_chan *c);

struct kmig_fdlisten *kmig_fdlisten_new(struct kmig_listener *l, int fd, pid_t child);
void kmig_fdlisten_abort(struct kmig_listener *l);
void kmig_fdlisten_close(struct kmig_listener *l);

#endif
