// SPDX-License-Identifier: GPL-2.0-only
/*
 * xport_fd.c: the file-descriptor transport behind tcp:, unix:, exec:,
 * file: and fd: URIs.  Writes go out with writev() straight from the
 * caller's iovecs (page payloads point into the RAM block mapping, so the
 * only copy is the kernel's).  Sockets are bidirectional and give the
 * destination a return path; pipes and files do not.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xport.h"

static int fd_writev(struct kmig_xport *x, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(x->fd, iov, n > IOV_MAX ? IOV_MAX : n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		x->bytes += w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}
	return 0;
}

static int fd_read(struct kmig_xport *x, void *buf, size_t n)
{
	char *p = buf;

	while (n) {
		ssize_t r = read(x->fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		x->bytes += r;
		p += r;
		n -= r;
	}
	return 0;
}

static void fd_abort(struct kmig_xport *x)
{
	/* wakes a thread blocked in read/write on a socket; pipes end with the child */
	shutdown(x->fd, SHUT_RDWR);
	if (x->child > 0)
		kill(x->child, SIGTERM);
}

static int fd_close(struct kmig_xport *x)
{
	int st = 0;

	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	if (x->child > 0) {
		/* EOF on its stdin lets the command finish; its verdict counts */
		if (waitpid(x->child, &st, 0) < 0)
			st = 0;
		x->child = 0;
	}
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static const struct kmig_xport_ops fd_ops = {
	.name = "fd",
	.writev = fd_writev,
	.read = fd_read,
	.abort = fd_abort,
	.close = fd_close,
};

int kmig_xport_close(struct kmig_xport *x)
{
	return x && x->ops ? x->ops->close(x) : 0;
}

static void init(struct kmig_xport *x, const char *name, int fd, bool ret, pid_t child)
{
	*x = (struct kmig_xport){ .ops = &fd_ops, .name = name, .fd = fd,
				  .has_return = ret, .child = child };
}

static bool is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

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

/* exec: runs "sh -c CMD" with its stdin (source) or stdout (dest) on a pipe */
static int spawn(const char *cmd, bool source, pid_t *child, char *err, size_t n)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, n, "cannot create a pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, n, "cannot fork for exec: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -EAGAIN;
	}
	if (pid == 0) {
		dup2(source ? p[0] : p[1], source ? STDIN_FILENO : STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(source ? p[0] : p[1]);
	*child = pid;
	return source ? p[1] : p[0];
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
		if (errno != EINPROGRESS)
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

int kmig_xport_connect(const struct kmig_uri *u, struct kmig_xport *x,
		       const _Atomic bool *cancel, char *err, size_t n)
{
	struct sockaddr_un sa;
	pid_t child = 0;
	int fd, ret;

	memset(x, 0, sizeof(*x));
	x->fd = -1;
	switch (u->kind) {
	case KMIG_URI_TCP: {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL, *a;

		ret = getaddrinfo(u->host, u->port, &hints, &ai);
		if (ret) {
			snprintf(err, n, "address resolution failed for %s:%s: %s", u->host,
				 u->port, gai_strerror(ret));
			return -EINVAL;
		}
		fd = -1;
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
		init(x, "tcp", fd, true, 0);
		return 0;
	}
	case KMIG_URI_UNIX:
		ret = unix_addr(u->path, &sa, err, n);
		if (ret)
			return ret;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ret = fd < 0 ? -errno :
		      connect_cancellable(fd, (struct sockaddr *)&sa, sizeof(sa), cancel);
		if (ret) {
			snprintf(err, n, "Failed to connect to '%s': %s", u->path, strerror(-ret));
			if (fd >= 0)
				close(fd);
			return ret;
		}
		tune_socket(fd, false);
		init(x, "unix", fd, true, 0);
		return 0;
	case KMIG_URI_EXEC:
		fd = spawn(u->path, true, &child, err, n);
		if (fd < 0)
			return fd;
		init(x, "exec", fd, false, child);
		return 0;
	case KMIG_URI_FILE:
		fd = open(u->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			ret = -errno;
			snprintf(err, n, "Failed to open file '%s': %s", u->path, strerror(-ret));
			return ret;
		}
		init(x, "file", fd, false, 0);
		return 0;
	case KMIG_URI_FD:
		if (u->fd < 0)
			break;
		init(x, "fd", u->fd, is_socket(u->fd), 0);
		return 0;
	}
	snprintf(err, n, "File descriptor named '%s' has not been found", u->path);
	return -ENOENT;
}

int kmig_xport_listen(const struct kmig_uri *u, struct kmig_listener *l, char *err, size_t n)
{
	struct sockaddr_un sa;
	int fd = -1, one = 1, ret;

	memset(l, 0, sizeof(*l));
	l->uri = *u;
	l->fd = -1;
	if (u->kind == KMIG_URI_TCP) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		ret = getaddrinfo(u->host[0] ? u->host : NULL, u->port, &hints, &ai);
		if (ret) {
			snprintf(err, n, "address resolution failed for %s:%s: %s", u->host,
				 u->port, gai_strerror(ret));
			return -EINVAL;
		}
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
			ret = -errno;
			snprintf(err, n, "Failed to bind socket: %s", strerror(-ret));
			if (fd >= 0)
				close(fd);
			freeaddrinfo(ai);
			return ret;
		}
		freeaddrinfo(ai);
		getnameinfo((struct sockaddr *)&ss, sl, l->host, sizeof(l->host), l->port,
			    sizeof(l->port), NI_NUMERICHOST | NI_NUMERICSERV);
		l->fd = fd;
		return 0;
	}
	if (u->kind == KMIG_URI_UNIX) {
		ret = unix_addr(u->path, &sa, err, n);
		if (ret)
			return ret;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(fd, 4) < 0) {
			ret = -errno;
			snprintf(err, n, "Failed to bind socket to %s: %s", u->path, strerror(-ret));
			if (fd >= 0)
				close(fd);
			return ret;
		}
		l->fd = fd;
		return 0;
	}
	if (u->kind == KMIG_URI_FILE) {
		fd = open(u->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			snprintf(err, n, "Failed to open file '%s': %s", u->path, strerror(-ret));
			return ret;
		}
		l->fd = fd;
		return 0;
	}
	if (u->kind == KMIG_URI_FD && u->fd >= 0) {
		l->fd = u->fd;	/* already the stream: accept hands it over */
		return 0;
	}
	if (u->kind == KMIG_URI_EXEC) {
		fd = spawn(u->path, false, &l->child, err, n);
		if (fd < 0)
			return fd;
		l->fd = fd;
		return 0;
	}
	snprintf(err, n, "File descriptor named '%s' has not been found", u->path);
	return -ENOENT;
}

int kmig_xport_accept(struct kmig_listener *l, struct kmig_xport *x, char *err, size_t n)
{
	int fd;

	memset(x, 0, sizeof(*x));
	x->fd = -1;
	if (l->uri.kind == KMIG_URI_FILE || l->uri.kind == KMIG_URI_EXEC ||
	    l->uri.kind == KMIG_URI_FD) {
		static const char *const names[] = {
			[KMIG_URI_FILE] = "file", [KMIG_URI_EXEC] = "exec", [KMIG_URI_FD] = "fd",
		};

		/* the stream is already open: hand it over */
		init(x, names[l->uri.kind], l->fd, is_socket(l->fd), l->child);
		l->fd = -1;
		l->child = 0;
		return 0;
	}
	for (;;) {
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		snprintf(err, n, "accept failed: %s", strerror(errno));
		return -errno;
	}
	tune_socket(fd, l->uri.kind == KMIG_URI_TCP);
	init(x, l->uri.kind == KMIG_URI_TCP ? "tcp" : "unix", fd, true, 0);
	return 0;
}

void kmig_xport_listen_abort(struct kmig_listener *l)
{
	if (l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR);	/* makes a blocked accept() fail */
	if (l->child > 0)
		kill(l->child, SIGTERM);
}

void kmig_xport_listen_close(struct kmig_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->uri.kind == KMIG_URI_UNIX && l->uri.path[0])
		unlink(l->uri.path);
	if (l->child > 0) {
		int st;

		kill(l->child, SIGTERM);
		waitpid(l->child, &st, 0);
		l->child = 0;
	}
}
