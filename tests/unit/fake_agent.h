/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fake_agent.h: the test double both libkmig test files use: a fake
 * workload whose callbacks record what happened, and a fake kmigd at the
 * other end of a socketpair that sends and checks raw protocol messages.
 * Test-only; static functions, some used by one file only.
 */
#ifndef KMIG_TEST_FAKE_AGENT_H
#define KMIG_TEST_FAKE_AGENT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "libkmig.h"
#include "wl_proto.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#pragma GCC diagnostic ignored "-Wunused-function"

/* ---- the fake workload: callbacks record what happened ---- */

struct wl {
	int pauses, saves, resumes, loads, migrateds;	/* __atomic */
	bool fail_pause, fail_save, fail_load;
	const char *state;		/* save_state returns this (strlen bytes) */
	const uint8_t *ram;		/* dst: checked inside load_state */
	size_t ram_len;
	size_t load_len;
	bool load_ok, ram_ok;
};

static uint8_t pat(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 12) + 7);
}

/* what the fake agent writes into destination RAM */
static uint8_t npat(size_t i)
{
	return (uint8_t)(255 - pat(i));
}

static int wl_pause(void *opaque)
{
	struct wl *w = opaque;

	__atomic_add_fetch(&w->pauses, 1, __ATOMIC_SEQ_CST);
	return w->fail_pause ? -1 : 0;
}

static int wl_save(void *opaque, void **buf, size_t *len)
{
	struct wl *w = opaque;

	__atomic_add_fetch(&w->saves, 1, __ATOMIC_SEQ_CST);
	if (w->fail_save)
		return -1;
	*buf = strdup(w->state);
	*len = strlen(w->state);
	return *buf ? 0 : -1;
}

static void wl_resume(void *opaque)
{
	struct wl *w = opaque;

	__atomic_add_fetch(&w->resumes, 1, __ATOMIC_SEQ_CST);
}

static int wl_load(void *opaque, const void *buf, size_t len)
{
	struct wl *w = opaque;
	const uint8_t *b = buf;
	size_t i;

	__atomic_add_fetch(&w->loads, 1, __ATOMIC_SEQ_CST);
	w->load_len = len;
	w->load_ok = true;
	for (i = 0; i < len; i++)
		w->load_ok &= b[i] == pat(i);
	w->ram_ok = true;
	for (i = 0; i < w->ram_len; i++)
		w->ram_ok &= w->ram[i] == npat(i);
	return w->fail_load ? -1 : 0;
}

static void wl_migrated(void *opaque)
{
	struct wl *w = opaque;

	__atomic_add_fetch(&w->migrateds, 1, __ATOMIC_SEQ_CST);
}

static const struct kmig_callbacks wl_cb = {
	.pause = wl_pause, .save_state = wl_save, .resume = wl_resume,
	.load_state = wl_load, .migrated = wl_migrated,
};

static int getn(int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* ---- helpers ---- */

static size_t page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool uffd_available(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* A context on one end of a socketpair; *agent gets the other end. */
static struct kmig_ctx *open_pair(enum kmig_role role, struct wl *w, int *agent)
{
	struct kmig_ctx *ctx;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ctx = kmig_open_fd(sv[0], role, &wl_cb, w);
	assert_non_null(ctx);
	assert_int_equal(kmig_fd(ctx), sv[0]);
	*agent = sv[1];
	return ctx;
}

static void agent_send(int a, uint16_t type, const void *p, uint32_t len)
{
	assert_int_equal(kmig_wl_send(a, type, p, len, NULL, 0), 0);
}

/* Receives one message of @type with exactly @nfds fds; returns its length. */
static uint32_t agent_recv(int a, uint16_t type, void *p, size_t max, int fds[2],
			   unsigned int nfds)
{
	struct kmig_wl_hdr h;

	assert_int_equal(kmig_wl_recv(a, &h, p, max, fds), 0);
	assert_int_equal(h.type, type);
	assert_int_equal(h.nfds, nfds);
	assert_int_equal(fds[0] >= 0, nfds >= 1);
	assert_int_equal(fds[1] >= 0, nfds >= 2);
	return h.len;
}

/* Opened, one block allocated and registered; the agent drained it all. */
static struct kmig_ctx *registered(enum kmig_role role, struct wl *w, int *agent)
{
	struct kmig_ctx *ctx = open_pair(role, w, agent);
	struct kmig_wl_block b;
	int fds[2];

	assert_non_null(kmig_ram_alloc(ctx, "ram0", page()));
	/* kmigd's acceptance, queued ahead: kmig_register waits for it */
	agent_send(*agent, KMIG_WL_REGISTERED, NULL, 0);
	assert_int_equal(kmig_register(ctx), 0);
	agent_recv(*agent, KMIG_WL_HELLO, &b, sizeof(b), fds, 0);
	assert_int_equal(kmig_wl_recv(*agent, &(struct kmig_wl_hdr){ 0 }, &b, sizeof(b), fds), 0);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	agent_recv(*agent, KMIG_WL_READY, NULL, 0, fds, 0);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
	return ctx;
}

/* Sends a hand-made message: any header, any payload, any fds. */
static void raw_send(int a, uint32_t magic, uint16_t type, uint16_t nfds, uint32_t len,
		     uint32_t reserved, const void *payload, size_t plen, const int *fds, int nreal)
{
	struct kmig_wl_hdr h = {
		.magic = magic, .type = type, .nfds = nfds, .len = len, .reserved = reserved,
	};
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = plen },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = plen ? 2 : 1 };

	if (nreal) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nreal);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nreal);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nreal);
	}
	assert_int_equal(sendmsg(a, &msg, MSG_NOSIGNAL), (ssize_t)(sizeof(h) + plen));
}

/* The agent saw the connection dropped: EOF. */
static void assert_dropped(int a)
{
	struct kmig_wl_hdr h;

	assert_int_equal(kmig_wl_recv(a, &h, NULL, 0, NULL), -ECONNRESET);
}

/* kmig_dispatch in a thread, so the test thread can play the agent. */
struct disp {
	struct kmig_ctx *ctx;
	pthread_t t;
	int rets[8];
	int n;
};

static void *disp_main(void *arg)
{
	struct disp *d = arg;
	int r;

	do {
		r = kmig_dispatch(d->ctx);
		d->rets[d->n++] = r;
	} while (r == 0 && d->n < 8);
	return NULL;
}

static void disp_start(struct disp *d, struct kmig_ctx *ctx)
{
	d->ctx = ctx;
	d->n = 0;
	assert_int_equal(pthread_create(&d->t, NULL, disp_main, d), 0);
}

/* Maps a received memfd and checks it is the workload's block, both ways. */
static void check_memfd(int fd, uint8_t *ram, size_t len)
{
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	assert_ptr_not_equal(m, MAP_FAILED);
	assert_memory_equal(m, ram, len);
	m[len - 1] ^= 0x5a;
	assert_int_equal(ram[len - 1], m[len - 1]);
	ram[0] ^= 0x33;
	assert_int_equal(m[0], ram[0]);
	munmap(m, len);
}

/* kmigd's first step on a received uffd: it must be a fresh userfaultfd. */
static void check_uffd(int fd)
{
	struct uffdio_api api = { .api = UFFD_API };
	char link[64] = "";
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	assert_true(readlink(path, link, sizeof(link) - 1) > 0);
	assert_string_equal(link, "anon_inode:[userfaultfd]");
	assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(ioctl(fd, UFFDIO_API, &api), 0);
}

#endif
