// SPDX-License-Identifier: GPL-2.0-only
/*
 * xport_fd.c: the I/O all fd channel back ends share (xport_fd.h): a batch
 * of records goes out in writev() calls whose iovecs point at the records'
 * headers and payloads (page payloads point into the RAM block mapping),
 * and the far side's bytes come in with read().  Also the generic helpers
 * of xport.h.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xport_fd.h"

#define SEND_IOV 128	/* iovecs per writev (2 per record) */

bool kmig_fd_is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int kmig_fdchan_init(struct kmig_chan *c, const struct kmig_chan_ops *ops, int fd, pid_t child)
{
	struct kmig_fdchan *f = calloc(1, sizeof(*f));

	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	f->fd = fd;
	f->child = child;
	f->socket = kmig_fd_is_socket(fd);
	c->ops = ops;
	c->caps = ops->caps;
	/* fd: is a socket or a pipe: only a socket can answer */
	if (!f->socket)
		c->caps &= ~KMIG_CHAN_F_RETURN_PATH;
	c->priv = f;
	return 0;
}

/* writes all of @iov (advancing it); 0 or -errno */
static int writev_all(int fd, struct iovec *iov, int n, uint64_t *bytes)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		*bytes += (uint64_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

long kmig_fdchan_send(struct kmig_chan *c, const struct kmig_tx *tx, unsigned int n)
{
	struct kmig_fdchan *f = c->priv;
	struct iovec iov[SEND_IOV];
	unsigned int i = 0;

	while (i < n) {
		int k = 0;
		unsigned int first = i;

		while (i < n && k + 2 <= SEND_IOV) {
			if (tx[i].hdr)
				iov[k++] = (struct iovec){ (void *)tx[i].hdr, sizeof(*tx[i].hdr) };
			if (tx[i].len)
				iov[k++] = (struct iovec){ (void *)tx[i].payload, tx[i].len };
			i++;
		}
		int ret = writev_all(f->fd, iov, k, &c->bytes_out);

		if (ret)
			return first ? (long)first : ret;
	}
	return (long)n;
}

int kmig_fdchan_read(struct kmig_chan *c, void *buf, size_t n)
{
	struct kmig_fdchan *f = c->priv;
	char *p = buf;

	while (n) {
		ssize_t r = read(f->fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		c->bytes_in += (uint64_t)r;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

void kmig_fdchan_end_write(struct kmig_chan *c)
{
	struct kmig_fdchan *f = c->priv;

	if (f && f->socket)
		shutdown(f->fd, SHUT_WR);
}

void kmig_fdchan_abort_read(struct kmig_chan *c)
{
	struct kmig_fdchan *f = c->priv;

	if (f && f->socket)
		shutdown(f->fd, SHUT_RD);
	else
		kmig_fdchan_abort(c);
}

void kmig_fdchan_abort(struct kmig_chan *c)
{
	struct kmig_fdchan *f = c->priv;

	if (!f)
		return;
	/* wakes a thread blocked in read/write on a socket; pipes end with the child */
	if (f->socket)
		shutdown(f->fd, SHUT_RDWR);
	if (f->child > 0)
		kill(f->child, SIGTERM);
}

int kmig_fdchan_close(struct kmig_chan *c)
{
	struct kmig_fdchan *f = c->priv;
	int st = 0;

	if (!f)
		return 0;
	if (f->fd >= 0)
		close(f->fd);
	if (f->child > 0) {
		/* EOF on its stdin lets the command finish; its verdict counts */
		if (waitpid(f->child, &st, 0) < 0)
			st = 0;
	}
	free(f);
	c->priv = NULL;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

struct kmig_fdlisten *kmig_fdlisten_new(struct kmig_listener *l, int fd, pid_t child)
{
	struct kmig_fdlisten *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->fd = fd;
	f->child = child;
	l->priv = f;
	return f;
}

void kmig_fdlisten_abort(struct kmig_listener *l)
{
	struct kmig_fdlisten *f = l->priv;

	if (!f)
		return;
	if (f->fd >= 0)
		shutdown(f->fd, SHUT_RDWR);	/* makes a blocked accept() fail */
	if (f->child > 0)
		kill(f->child, SIGTERM);
}

void kmig_fdlisten_close(struct kmig_listener *l)
{
	struct kmig_fdlisten *f = l->priv;

	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (l->uri.kind == KMIG_URI_UNIX && l->uri.path[0])
		unlink(l->uri.path);
	if (f->child > 0) {
		int st;

		kill(f->child, SIGTERM);
		waitpid(f->child, &st, 0);
	}
	free(f);
	l->priv = NULL;
}

/* ---- xport.h helpers ---- */

int kmig_chan_connect(struct kmig_chan *c, const struct kmig_uri *u, const _Atomic bool *cancel,
		      char *err, size_t n)
{
	memset(c, 0, sizeof(*c));
	return u->ops->connect(c, u, cancel, err, n);
}

int kmig_chan_listen(struct kmig_listener *l, const struct kmig_uri *u, char *err, size_t n)
{
	memset(l, 0, sizeof(*l));
	l->ops = u->ops;
	l->uri = *u;
	return u->ops->listen(l, u, err, n);
}

int kmig_chan_accept(struct kmig_listener *l, struct kmig_chan *c, int timeout_ms, char *err,
		     size_t n)
{
	memset(c, 0, sizeof(*c));
	return l->ops->accept(l, c, timeout_ms, err, n);
}

void kmig_chan_listen_abort(struct kmig_listener *l)
{
	if (l->ops)
		l->ops->listen_abort(l);
}

void kmig_chan_listen_close(struct kmig_listener *l)
{
	if (l->ops)
		l->ops->listen_close(l);
	l->ops = NULL;
}

int kmig_chan_send_all(struct kmig_chan *c, const struct kmig_tx *tx, unsigned int n)
{
	while (n) {
		long k = kmig_chan_send(c, tx, n);

		if (k < 0)
			return (int)k;
		tx += k;
		n -= (unsigned int)k;
	}
	return 0;
}

uint64_t kmig_chan_completed(struct kmig_chan *c)
{
	return c->ops->completed ? c->ops->completed(c) : c->taken;
}

int kmig_chan_send_rec(struct kmig_chan *c, struct kmig_wire_rec *r, const void *payload)
{
	struct kmig_tx tx = { .hdr = r, .payload = payload, .len = r->len };
	int ret = kmig_chan_send_all(c, &tx, 1);

	/* a zero-copy back end may still point at @r: wait until it let go */
	while (!ret && kmig_chan_completed(c) < c->taken)
		usleep(50);
	return ret;
}

void kmig_chan_end_write(struct kmig_chan *c)
{
	if (c->ops && c->ops->end_write)
		c->ops->end_write(c);
}

void kmig_chan_abort_read(struct kmig_chan *c)
{
	if (c->ops && c->ops->abort_read)
		c->ops->abort_read(c);
	else
		kmig_chan_abort(c);
}

void kmig_chan_abort(struct kmig_chan *c)
{
	if (c->ops)
		c->ops->abort(c);
}

int kmig_chan_close(struct kmig_chan *c)
{
	int ret = c->ops ? c->ops->close(c) : 0;

	c->ops = NULL;
	return ret;
}
