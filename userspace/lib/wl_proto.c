// SPDX-License-Identifier: GPL-2.0-only
/*
 * wl_proto.c: message framing for the workload <-> kmigd socket (see
 * wl_proto.h).  Whole messages go out and come in here, fds riding as
 * SCM_RIGHTS, and every header is checked before its payload is read, so
 * libkmig and kmigd share one implementation of the rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wl_proto.h"

_Static_assert(sizeof(struct kmig_wl_hdr) == 16, "wire header is 16 bytes");
_Static_assert(sizeof(struct kmig_wl_hello) == 32, "hello is 32 bytes (v1: 16)");
_Static_assert(sizeof(struct kmig_wl_registered) == 8, "registered is 8 bytes");
_Static_assert(sizeof(struct kmig_wl_throttle) == 8, "throttle is 8 bytes");
_Static_assert(sizeof(struct kmig_wl_uffd) == 8, "uffd is 8 bytes");
_Static_assert(sizeof(struct kmig_wl_block) == 88, "block is 88 bytes");

union kmig_wl_ctl {
	char buf[CMSG_SPACE(sizeof(int) * KMIG_WL_MAX_FDS)];
	struct cmsghdr align;
};

/* fds received so far for one message */
struct kmig_wl_fdset {
	int fd[KMIG_WL_MAX_FDS];
	unsigned int n;
	bool extra;		/* more than KMIG_WL_MAX_FDS, or truncated */
};

/*
 * After EAGAIN: a non-blocking socket is polled until ready for @events;
 * on a blocking one it means SO_RCVTIMEO/SO_SNDTIMEO expired: -ETIMEDOUT.
 */
static int wait_sock(int sock, short events)
{
	struct pollfd p = { .fd = sock, .events = events };
	int fl = fcntl(sock, F_GETFL);

	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK))
		return -ETIMEDOUT;
	while (poll(&p, 1, -1) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;	/* on POLLHUP/POLLERR the next call reports the error */
}

static void iov_advance(struct msghdr *m, size_t n)
{
	while (n && m->msg_iovlen) {
		struct iovec *v = m->msg_iov;

		if (n < v->iov_len) {
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		m->msg_iov++;
		m->msg_iovlen--;
	}
}

/*
 * After a failed sendmsg/recvmsg: 1 to try again (interrupted, or the
 * socket became ready), or -errno.
 */
static int io_again(int sock, short events)
{
	int r;

	if (errno == EINTR)
		return 1;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return -errno;
	r = wait_sock(sock, events);
	return r ? r : 1;
}

int kmig_wl_send(int sock, uint16_t type, const void *payload, uint32_t len,
		 const int *fds, unsigned int nfds)
{
	struct kmig_wl_hdr hdr = {
		.magic = KMIG_WL_MAGIC, .type = type, .nfds = (uint16_t)nfds, .len = len,
	};
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	union kmig_wl_ctl ctl;
	size_t left = sizeof(hdr) + len;
	unsigned int i;

	if (nfds > KMIG_WL_MAX_FDS || (nfds && !fds) || (len && !payload))
		return -EINVAL;
	if (len > KMIG_WL_MAX_PAYLOAD)
		return -EMSGSIZE;
	for (i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return -EBADF;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (left) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		int r;

		if (n < 0) {
			r = io_again(sock, POLLOUT);
			if (r < 0)
				return r;
			continue;
		}
		/* the fds went with the first byte */
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		left -= (size_t)n;
		iov_advance(&msg, (size_t)n);
	}
	return 0;
}

static void take_fds(struct msghdr *msg, struct kmig_wl_fdset *fs)
{
	struct cmsghdr *c;

	if (msg->msg_flags & MSG_CTRUNC)
		fs->extra = true;	/* the kernel dropped what did not fit */
	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t i, n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (fs->n < KMIG_WL_MAX_FDS) {
				fs->fd[fs->n++] = fd;
			} else {
				close(fd);
				fs->extra = true;
			}
		}
	}
}

/*
 * Reads exactly @len bytes, collecting any fds that come with them.
 * 0, -ECONNRESET on EOF before the first byte of a message (@at_start),
 * -EPROTO on EOF inside one, or -errno.
 */
static int read_full(int sock, void *buf, size_t len, bool at_start, struct kmig_wl_fdset *fs)
{
	size_t have = 0;

	while (have < len) {
		struct iovec iov = { .iov_base = (char *)buf + have, .iov_len = len - have };
		union kmig_wl_ctl ctl;
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		int r;

		if (n < 0) {
			r = io_again(sock, POLLIN);
			if (r < 0)
				return r;
			continue;
		}
		take_fds(&msg, fs);
		if (n == 0)
			return at_start && !have ? -ECONNRESET : -EPROTO;
		have += (size_t)n;
	}
	return 0;
}

int kmig_wl_recv(int sock, struct kmig_wl_hdr *hdr, void *payload, size_t max,
		 int fds[KMIG_WL_MAX_FDS])
{
	struct kmig_wl_fdset fs = { .n = 0 };
	unsigned int i;
	int r;

	if (fds)
		for (i = 0; i < KMIG_WL_MAX_FDS; i++)
			fds[i] = -1;
	if (!hdr || (max && !payload))
		return -EINVAL;
	r = read_full(sock, hdr, sizeof(*hdr), true, &fs);
	if (r)
		goto fail;
	r = -EPROTO;
	if (hdr->magic != KMIG_WL_MAGIC || hdr->reserved != 0 ||
	    hdr->type < KMIG_WL_HELLO || hdr->type > KMIG_WL_TYPE_MAX ||
	    hdr->nfds > KMIG_WL_MAX_FDS)
		goto fail;
	if (hdr->len > KMIG_WL_MAX_PAYLOAD || hdr->len > max) {
		r = -EMSGSIZE;
		goto fail;
	}
	if (hdr->len) {
		r = read_full(sock, payload, hdr->len, false, &fs);
		if (r)
			goto fail;
	}
	r = -EPROTO;
	if (fs.extra || fs.n != hdr->nfds || (fs.n && !fds))
		goto fail;
	for (i = 0; i < fs.n; i++)
		fds[i] = fs.fd[i];
	return 0;
fail:
	for (i = 0; i < fs.n; i++)
		close(fs.fd[i]);
	return r;
}
