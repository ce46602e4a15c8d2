// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_wl_proto.c: the workload protocol's wire layer on its own: framing,
 * descriptor passing, limits, rejection of malformed headers, and behaviour
 * on non-blocking and timed-out sockets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "wl_proto.h"

static uint8_t pat(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 12) + 7);
}

static void test_wire(void **state)
{
	int sv[2], p[2], fds[2], two[2];
	struct kmig_wl_hdr h;
	uint8_t raw[32], buf[8];
	char c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);

	/* the header's bytes on the wire (host order; x86 is little-endian) */
	assert_int_equal(kmig_wl_send(sv[0], KMIG_WL_PAUSED, "abc", 3, NULL, 0), 0);
	assert_int_equal(read(sv[1], raw, 19), 19);
	assert_memory_equal(raw, "KIMW\x05\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00" "abc", 19);

	/* two fds round trip, received close-on-exec */
	two[0] = p[0];
	two[1] = p[1];
	assert_int_equal(kmig_wl_send(sv[0], KMIG_WL_BLOCK, "xy", 2, two, 2), 0);
	assert_int_equal(kmig_wl_recv(sv[1], &h, buf, sizeof(buf), fds), 0);
	assert_int_equal(h.nfds, 2);
	assert_int_equal(h.len, 2);
	assert_int_equal(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(write(fds[1], "q", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(fds[0]);
	close(fds[1]);

	/* a header split across two writes, the fd on the first part */
	h = (struct kmig_wl_hdr){ .magic = KMIG_WL_MAGIC, .type = KMIG_WL_BLOCK, .nfds = 1,
				  .len = 1 };
	{
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl = { .b = { 0 } };
		struct iovec iov = { .iov_base = &h, .iov_len = 5 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				      .msg_controllen = sizeof(ctl.b) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
		assert_int_equal(sendmsg(sv[0], &msg, 0), 5);
		memcpy(raw, (uint8_t *)&h + 5, sizeof(h) - 5);
		raw[sizeof(h) - 5] = 'z';
		assert_int_equal(write(sv[0], raw, sizeof(h) - 4), (ssize_t)sizeof(h) - 4);
	}
	assert_int_equal(kmig_wl_recv(sv[1], &h, buf, sizeof(buf), fds), 0);
	assert_int_equal(h.type, KMIG_WL_BLOCK);
	assert_int_equal(buf[0], 'z');
	assert_true(fds[0] >= 0);
	assert_int_equal(fds[1], -1);
	close(fds[0]);

	/* larger than the caller's buffer */
	assert_int_equal(kmig_wl_send(sv[0], KMIG_WL_PAUSED, "123456789", 9, NULL, 0), 0);
	assert_int_equal(kmig_wl_recv(sv[1], &h, buf, sizeof(buf), fds), -EMSGSIZE);

	/* fds where the caller expects none */
	close(sv[1]);
	close(sv[0]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(kmig_wl_send(sv[0], KMIG_WL_READY, NULL, 0, &p[0], 1), 0);
	assert_int_equal(kmig_wl_recv(sv[1], &h, NULL, 0, NULL), -EPROTO);

	/* bad arguments to send */
	assert_int_equal(kmig_wl_send(sv[0], KMIG_WL_READY, NULL, 0, two, 3), -EINVAL);
	assert_int_equal(kmig_wl_send(sv[0], KMIG_WL_READY, NULL, 5, NULL, 0), -EINVAL);
	assert_int_equal(kmig_wl_send(sv[0], KMIG_WL_READY, buf, KMIG_WL_MAX_PAYLOAD + 1, NULL, 0),
			 -EMSGSIZE);
	fds[0] = -1;
	assert_int_equal(kmig_wl_send(sv[0], KMIG_WL_READY, NULL, 0, fds, 1), -EBADF);
	assert_int_equal(kmig_wl_recv(sv[1], NULL, NULL, 0, NULL), -EINVAL);
	assert_int_equal(kmig_wl_recv(sv[1], &h, NULL, 4, NULL), -EINVAL);

	/* peer gone: EPIPE, and no SIGPIPE kills the test */
	close(sv[1]);
	assert_int_equal(kmig_wl_send(sv[0], KMIG_WL_READY, NULL, 0, NULL, 0), -EPIPE);
	close(sv[0]);
	close(p[0]);
	close(p[1]);
}

struct big_send {
	int sock;
	uint8_t *buf;
	uint32_t len;
	int r;
};

static void *big_send_main(void *arg)
{
	struct big_send *b = arg;

	b->r = kmig_wl_send(b->sock, KMIG_WL_LOAD, b->buf, b->len, &b->sock, 1);
	return NULL;
}

/* Both ends non-blocking (as kmigd's loop may have them): poll, not EAGAIN. */
static void test_wire_nonblocking(void **state)
{
	struct big_send b = { .len = 3u << 20 };
	struct kmig_wl_hdr h;
	pthread_t t;
	uint8_t *in;
	int sv[2], fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv),
			 0);
	b.sock = sv[0];
	b.buf = malloc(b.len);
	in = malloc(b.len);
	assert_non_null(b.buf);
	assert_non_null(in);
	for (size_t i = 0; i < b.len; i++)
		b.buf[i] = pat(i);
	assert_int_equal(pthread_create(&t, NULL, big_send_main, &b), 0);
	assert_int_equal(kmig_wl_recv(sv[1], &h, in, b.len, fds), 0);
	pthread_join(t, NULL);
	assert_int_equal(b.r, 0);
	assert_int_equal(h.len, b.len);
	assert_int_equal(h.nfds, 1);
	assert_memory_equal(in, b.buf, b.len);
	close(fds[0]);
	free(b.buf);
	free(in);
	close(sv[0]);
	close(sv[1]);
}

/* Blocking sockets with SO_RCVTIMEO/SO_SNDTIMEO: a stalled peer times out. */
static void test_wire_timeout(void **state)
{
	struct timeval tv = { .tv_usec = 50000 };
	struct kmig_wl_hdr h = { .magic = KMIG_WL_MAGIC, .type = KMIG_WL_READY };
	size_t len = 8u << 20;
	uint8_t *big = calloc(1, len);
	int sv[2], fds[2];

	assert_non_null(big);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	/* half a header, then silence */
	assert_int_equal(write(sv[0], &h, 5), 5);
	assert_int_equal(kmig_wl_recv(sv[1], &h, NULL, 0, fds), -ETIMEDOUT);
	/* nobody reads: the socket buffer fills, then the send times out */
	assert_int_equal(kmig_wl_send(sv[0], KMIG_WL_PAUSED, big, (uint32_t)len, NULL, 0),
			 -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
	free(big);
}

/* ---- API argument checks ---- */


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_wire_nonblocking),
		cmocka_unit_test(test_wire_timeout),
	};

	return cmocka_run_group_tests_name("wl_proto", tests, NULL, NULL);
}
