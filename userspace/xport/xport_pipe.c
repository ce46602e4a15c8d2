// SPDX-License-Identifier: GPL-2.0-only
/*
 * xport_pipe.c: the channel back ends whose stream is one already-open
 * descriptor: exec: (a command's stdin on the source, its stdout on the
 * destination), file: (save to a file, restore from it) and fd: (a
 * descriptor passed with QMP getfd).  One channel each; only an fd: that
 * is a socket has a return path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xport_fd.h"

/* runs "sh -c CMD" with its stdin (source) or stdout (dest) on a pipe */
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

static int exec_connect(struct kmig_chan *c, const struct kmig_uri *u, const _Atomic bool *cancel,
			char *err, size_t n)
{
	pid_t child = 0;
	int fd = spawn(u->path, true, &child, err, n);

	return fd < 0 ? fd : kmig_fdchan_init(c, &kmig_chan_exec_ops, fd, child);
}

static int file_connect(struct kmig_chan *c, const struct kmig_uri *u, const _Atomic bool *cancel,
			char *err, size_t n)
{
	int fd = open(u->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		int ret = -errno;

		snprintf(err, n, "Failed to open file '%s': %s", u->path, strerror(-ret));
		return ret;
	}
	return kmig_fdchan_init(c, &kmig_chan_file_ops, fd, 0);
}

static int fd_connect(struct kmig_chan *c, const struct kmig_uri *u, const _Atomic bool *cancel,
		      char *err, size_t n)
{
	if (u->fd < 0) {
		snprintf(err, n, "File descriptor named '%s' has not been found", u->path);
		return -ENOENT;
	}
	return kmig_fdchan_init(c, &kmig_chan_fd_ops, u->fd, 0);
}

static int exec_listen(struct kmig_listener *l, const struct kmig_uri *u, char *err, size_t n)
{
	pid_t child = 0;
	int fd = spawn(u->path, false, &child, err, n);

	if (fd < 0)
		return fd;
	if (!kmig_fdlisten_new(l, fd, child)) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

static int file_listen(struct kmig_listener *l, const struct kmig_uri *u, char *err, size_t n)
{
	int fd = open(u->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int ret = -errno;

		snprintf(err, n, "Failed to open file '%s': %s", u->path, strerror(-ret));
		return ret;
	}
	if (!kmig_fdlisten_new(l, fd, 0)) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

static int fd_listen(struct kmig_listener *l, const struct kmig_uri *u, char *err, size_t n)
{
	if (u->fd < 0) {
		snprintf(err, n, "File descriptor named '%s' has not been found", u->path);
		return -ENOENT;
	}
	/* already the stream: accept hands it over */
	return kmig_fdlisten_new(l, u->fd, 0) ? 0 : -ENOMEM;
}

/* the stream is already open: the first accept hands it over, there is no second */
static int pipe_accept(struct kmig_listener *l, struct kmig_chan *c, int timeout_ms, char *err,
		       size_t n)
{
	struct kmig_fdlisten *f = l->priv;
	int fd = f->fd, ret;

	if (fd < 0) {
		snprintf(err, n, "a %s: stream carries one channel only", l->ops->scheme);
		return -EPROTO;
	}
	ret = kmig_fdchan_init(c, l->ops, fd, f->child);
	f->fd = -1;
	f->child = 0;
	return ret;
}

#define PIPE_OPS(NAME, CAPS, CONNECT, LISTEN)					\
	{									\
		.scheme = NAME,							\
		.caps = CAPS,							\
		.connect = CONNECT,						\
		.listen = LISTEN,						\
		.accept = pipe_accept,						\
		.listen_abort = kmig_fdlisten_abort,				\
		.listen_close = kmig_fdlisten_close,				\
		.send = kmig_fdchan_send,					\
		.read = kmig_fdchan_read,					\
		.end_write = kmig_fdchan_end_write,				\
		.abort_read = kmig_fdchan_abort_read,				\
		.abort = kmig_fdchan_abort,					\
		.close = kmig_fdchan_close,					\
	}

const struct kmig_chan_ops kmig_chan_exec_ops = PIPE_OPS("exec", 0, exec_connect, exec_listen);
const struct kmig_chan_ops kmig_chan_file_ops = PIPE_OPS("file", 0, file_connect, file_listen);
/* a socket passed as fd: answers; kmig_fdchan_init drops the flag for a pipe */
const struct kmig_chan_ops kmig_chan_fd_ops = PIPE_OPS("fd", KMIG_CHAN_F_RETURN_PATH, fd_connect,
						       fd_listen);
