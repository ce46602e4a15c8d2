// SPDX-License-Identifier: GPL-2.0-only
/*
 * xport_sock.c: the tcp: and unix: channel back ends.  Sockets are
 * bidirectional (the destination answers on the return path) and a
 * listener can accept several channels from one source (multifd).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xport_fd.h"

static void tune_socket(int fd, bool tcp)
{
	int one = 1, buf = 4 << 20;

	/* large buffers keep loopback busy while we fetch the next batch */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (tcp)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int unix_addr(const char *path, struct sockaddr_un *sa, char *err, size_t n)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		snprintf(err, n, "UNIX socket path '%s' is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

/* connect() that polls in slices so a cancel ends the wait; 0 or -errno */
static int connect_cancellable(int fd, const struct sockaddr *sa, socklen_t len,
			       const _Atomic bool *cancel)
{
	int flags = fcntl(fd, F_GETFL), soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			return -errno;
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int r = poll(&p, 1, 100);

			if (cancel && *cancel)
				return -ECANCELED;
			if (r < 0 && errno != EINTR)
				return -errno;
			if (r > 0)
				break;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			return -errno;
		if (soerr)
			return -soerr;
	}
	return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

static int tcp_connect(struct kmig_chan *c, const struct kmig_uri *u, const _Atomic bool *cancel,
		       char *err, size_t n)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL, *a;
	int fd = -1, ret;

	ret = getaddrinfo(u->host, u->port, &hints, &ai);
	if (ret) {
		snprintf(err, n, "address resolution failed for %s:%s: %s", u->host, u->port,
			 gai_strerror(ret));
		return -EINVAL;
	}
	ret = -ECONNREFUSED;
	for (a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		tune_socket(fd, true);
		ret = connect_cancellable(fd, a->ai_addr, a->ai_addrlen, cancel);
		if (ret) {
			close(fd);
			fd = -1;
			if (ret == -ECANCELED)
				break;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(err, n, "Failed to connect to '%s:%s': %s", u->host, u->port,
			 strerror(-ret));
		return ret;
	}
	return kmig_fdchan_init(c, &kmig_chan_tcp_ops, fd, 0);
}

static int unix_connect(struct kmig_chan *c, const struct kmig_uri *u, const _Atomic bool *cancel,
			char *err, size_t n)
{
	struct sockaddr_un sa;
	int fd, ret;

	ret = unix_addr(u->path, &sa, err, n);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ret = fd < 0 ? -errno : connect_cancellable(fd, (struct sockaddr *)&sa, sizeof(sa), cancel);
	if (ret) {
		snprintf(err, n, "Failed to connect to '%s': %s", u->path, strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	tune_socket(fd, false);
	return kmig_fdchan_init(c, &kmig_chan_unix_ops, fd, 0);
}

static int tcp_listen(struct kmig_listener *l, const struct kmig_uri *u, char *err, size_t n)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1, ret;

	ret = getaddrinfo(u->host[0] ? u->host : NULL, u->port, &hints, &ai);
	if (ret) {
		snprintf(err, n, "address resolution failed for %s:%s: %s", u->host, u->port,
			 gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		ret = -errno;
		snprintf(err, n, "Failed to bind socket: %s", strerror(-ret));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return ret;
	}
	freeaddrinfo(ai);
	getnameinfo((struct sockaddr *)&ss, sl, l->host, sizeof(l->host), l->port, sizeof(l->port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	if (!kmig_fdlisten_new(l, fd, 0)) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

static int unix_listen(struct kmig_listener *l, const struct kmig_uri *u, char *err, size_t n)
{
	struct sockaddr_un sa;
	int fd, ret;

	ret = unix_addr(u->path, &sa, err, n);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		snprintf(err, n, "Failed to bind socket to %s: %s", u->path, strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (!kmig_fdlisten_new(l, fd, 0)) {
		close(fd);
		unlink(u->path);
		return -ENOMEM;
	}
	return 0;
}

static int sock_accept(struct kmig_listener *l, struct kmig_chan *c, int timeout_ms, char *err,
		       size_t n)
{
	struct kmig_fdlisten *f = l->priv;
	bool tcp = l->uri.kind == KMIG_URI_TCP;
	int fd;

	for (;;) {
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			snprintf(err, n, "no connection within %d ms", timeout_ms);
			return -ETIMEDOUT;
		}
		fd = accept4(f->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
			continue;
		snprintf(err, n, "accept failed: %s", strerror(errno));
		return -errno;
	}
	tune_socket(fd, tcp);
	return kmig_fdchan_init(c, tcp ? &kmig_chan_tcp_ops : &kmig_chan_unix_ops, fd, 0);
}

#define SOCK_OPS(NAME, CONNECT, LISTEN)						\
	{									\
		.scheme = NAME,							\
		.caps = KMIG_CHAN_F_RETURN_PATH | KMIG_CHAN_F_MULTI,		\
		.connect = CONNECT,						\
		.listen = LISTEN,						\
		.accept = sock_accept,						\
		.listen_abort = kmig_fdlisten_abort,				\
		.listen_close = kmig_fdlisten_close,				\
		.send = kmig_fdchan_send,					\
		.read = kmig_fdchan_read,					\
		.end_write = kmig_fdchan_end_write,				\
		.abort_read = kmig_fdchan_abort_read,				\
		.abort = kmig_fdchan_abort,					\
		.close = kmig_fdchan_close,					\
	}

const struct kmig_chan_ops kmig_chan_tcp_ops = SOCK_OPS("tcp", tcp_connect, tcp_listen);
const struct kmig_chan_ops kmig_chan_unix_ops = SOCK_OPS("unix", unix_connect, unix_listen);
