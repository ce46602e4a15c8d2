// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_libkmig.c: libkmig against a fake kmigd on a socketpair (the wire
 * layer alone is tested in test_wl_proto.c).
 * Registration must hand over memfds that really share the workload's RAM,
 * pause/resume/load must run the right callbacks and replies, and anything
 * malformed from the agent must be an error (fds closed), never a crash.
 */
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

/* ---- conversations ---- */

static void test_source_flow(void **state)
{
	struct wl w = { .state = "device-state-1" };
	size_t ps = page();
	bool uffd = uffd_available();
	int fd0 = count_fds(), a, fds[2];
	struct kmig_ctx *ctx = open_pair(KMIG_ROLE_SOURCE, &w, &a);
	uint8_t *ram[2], buf[64];
	size_t size[2] = { 4 * ps, ps };
	struct kmig_wl_hello hello;
	struct kmig_wl_block b;
	struct disp d;

	ram[0] = kmig_ram_alloc(ctx, "ram0", 3 * ps + 1);	/* rounds up to 4 pages */
	ram[1] = kmig_ram_alloc(ctx, "ram1", ps);
	assert_non_null(ram[0]);
	assert_non_null(ram[1]);
	for (size_t i = 0; i < size[0]; i++)
		ram[0][i] = pat(i);
	ram[1][5] = 7;
	assert_int_equal(kmig_state(ctx), KMIG_STATE_NEW);
	assert_int_equal(kmig_dispatch(ctx), -EINVAL);		/* not registered yet */
	/* kmigd's acceptance, queued ahead: kmig_register waits for it */
	agent_send(a, KMIG_WL_REGISTERED, NULL, 0);
	assert_int_equal(kmig_register(ctx), 0);
	assert_int_equal(kmig_register(ctx), -EBUSY);
	errno = 0;
	assert_null(kmig_ram_alloc(ctx, "late", ps));
	assert_int_equal(errno, EBUSY);

	assert_int_equal(agent_recv(a, KMIG_WL_HELLO, &hello, sizeof(hello), fds, 0),
			 sizeof(hello));
	assert_int_equal(hello.version, KMIG_WL_VERSION);
	assert_int_equal(hello.role, KMIG_WL_ROLE_SRC);
	assert_int_equal(hello.nblocks, 2);
	assert_int_equal(hello.page_size, ps);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(agent_recv(a, KMIG_WL_BLOCK, &b, sizeof(b), fds, uffd ? 2 : 1),
				 sizeof(b));
		assert_string_equal(b.name, i ? "ram1" : "ram0");
		assert_int_equal(b.size, size[i]);
		assert_int_equal(b.addr, (uint64_t)(uintptr_t)ram[i]);
		assert_int_equal(b.flags, uffd ? KMIG_WL_BLOCK_F_UFFD : 0);
		assert_int_equal(b.reserved, 0);
		assert_int_equal(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
		check_memfd(fds[0], ram[i], size[i]);
		close(fds[0]);
		if (uffd) {
			check_uffd(fds[1]);
			close(fds[1]);
		}
	}
	agent_recv(a, KMIG_WL_READY, NULL, 0, fds, 0);

	disp_start(&d, ctx);
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	assert_int_equal(agent_recv(a, KMIG_WL_PAUSED, buf, sizeof(buf), fds, 0), 14);
	assert_memory_equal(buf, "device-state-1", 14);
	assert_int_equal(getn(&w.pauses), 1);
	assert_int_equal(getn(&w.saves), 1);
	assert_int_equal(getn(&w.resumes), 0);
	agent_send(a, KMIG_WL_RESUME, NULL, 0);		/* migration failed: run on */
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);		/* and a second attempt */
	assert_int_equal(agent_recv(a, KMIG_WL_PAUSED, buf, sizeof(buf), fds, 0), 14);
	assert_int_equal(getn(&w.resumes), 1);
	assert_int_equal(getn(&w.pauses), 2);
	agent_send(a, KMIG_WL_MIGRATED, NULL, 0);
	pthread_join(d.t, NULL);
	assert_int_equal(d.n, 4);
	assert_int_equal(d.rets[0], 0);
	assert_int_equal(d.rets[1], 0);
	assert_int_equal(d.rets[2], 0);
	assert_int_equal(d.rets[3], 1);
	assert_int_equal(w.migrateds, 1);
	assert_int_equal(w.loads, 0);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_MIGRATED);

	close(a);
	kmig_close(ctx);
	assert_int_equal(count_fds(), fd0);
}

static void test_dest_flow(void **state)
{
	struct wl w = { 0 };
	size_t ps = page(), len = (1u << 20) + 3, i;
	int fd0 = count_fds(), a, fds[2], memfd;
	struct kmig_ctx *ctx = open_pair(KMIG_ROLE_DEST, &w, &a);
	struct kmig_wl_hello hello;
	struct kmig_wl_block b;
	uint8_t *ram, *m, *blob;
	struct disp d;

	ram = kmig_ram_alloc(ctx, "guest-ram", 8 * ps);
	assert_non_null(ram);
	w.ram = ram;
	w.ram_len = 8 * ps;
	/* kmigd's acceptance, queued ahead: kmig_register waits for it */
	agent_send(a, KMIG_WL_REGISTERED, NULL, 0);
	assert_int_equal(kmig_register(ctx), 0);
	agent_recv(a, KMIG_WL_HELLO, &hello, sizeof(hello), fds, 0);
	assert_int_equal(hello.role, KMIG_WL_ROLE_DST);
	assert_int_equal(hello.nblocks, 1);
	agent_recv(a, KMIG_WL_BLOCK, &b, sizeof(b), fds, 1);	/* memfd, no uffd */
	assert_string_equal(b.name, "guest-ram");
	assert_int_equal(b.flags, 0);
	memfd = fds[0];
	agent_recv(a, KMIG_WL_READY, NULL, 0, fds, 0);

	/* the incoming memory lands through kmigd's own mapping */
	m = mmap(NULL, b.size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	assert_ptr_not_equal(m, MAP_FAILED);
	for (i = 0; i < b.size; i++)
		m[i] = npat(i);
	munmap(m, b.size);
	close(memfd);

	/* a state larger than the socket buffer: LOAD is read in pieces */
	blob = malloc(len);
	assert_non_null(blob);
	for (i = 0; i < len; i++)
		blob[i] = pat(i);
	disp_start(&d, ctx);
	agent_send(a, KMIG_WL_LOAD, blob, (uint32_t)len);
	free(blob);
	assert_int_equal(agent_recv(a, KMIG_WL_STARTED, NULL, 0, fds, 0), 0);
	pthread_join(d.t, NULL);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.rets[0], 1);
	assert_int_equal(w.loads, 1);
	assert_int_equal(w.load_len, len);
	assert_true(w.load_ok);
	assert_true(w.ram_ok);
	assert_int_equal(w.pauses + w.resumes + w.migrateds, 0);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_STARTED);

	/* the migration is over: another LOAD is a protocol error */
	agent_send(a, KMIG_WL_LOAD, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), -EPROTO);
	assert_dropped(a);
	close(a);
	kmig_close(ctx);
	assert_int_equal(count_fds(), fd0);
}

static void test_dest_failed(void **state)
{
	struct wl w = { 0 };
	int a;
	struct kmig_ctx *ctx = registered(KMIG_ROLE_DEST, &w, &a);

	agent_send(a, KMIG_WL_FAILED, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 1);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_FAILED);
	assert_int_equal(w.loads, 0);
	close(a);
	kmig_close(ctx);
}

static void test_dest_load_fails(void **state)
{
	struct wl w = { .fail_load = true };
	int a;
	struct kmig_ctx *ctx = registered(KMIG_ROLE_DEST, &w, &a);

	agent_send(a, KMIG_WL_LOAD, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), -ECANCELED);
	assert_int_equal(w.loads, 1);
	assert_int_equal(w.load_len, 0);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
	assert_dropped(a);		/* no STARTED: kmigd fails the migration */
	assert_int_equal(kmig_dispatch(ctx), -ECANCELED);
	close(a);
	kmig_close(ctx);
}

static void test_callback_failures(void **state)
{
	struct wl w = { .fail_pause = true, .state = "s" };
	int a;
	struct kmig_ctx *ctx = registered(KMIG_ROLE_SOURCE, &w, &a);

	/* pause failed: the workload still runs, nothing to resume */
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), -ECANCELED);
	assert_int_equal(w.pauses, 1);
	assert_int_equal(w.saves, 0);
	assert_int_equal(w.resumes, 0);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
	assert_dropped(a);
	close(a);
	kmig_close(ctx);

	/* save_state failed after pause: the library resumes */
	w = (struct wl){ .fail_save = true, .state = "s" };
	ctx = registered(KMIG_ROLE_SOURCE, &w, &a);
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), -ECANCELED);
	assert_int_equal(w.pauses, 1);
	assert_int_equal(w.resumes, 1);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
	assert_dropped(a);
	close(a);
	kmig_close(ctx);

	/* NULL callbacks: an empty state, and the conversation still works */
	{
		struct kmig_wl_hdr h;
		int sv[2], fds[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		ctx = kmig_open_fd(sv[0], KMIG_ROLE_SOURCE, NULL, NULL);
		assert_non_null(ctx);
		assert_non_null(kmig_ram_alloc(ctx, "r", 1));
		/* kmigd's acceptance, queued ahead: kmig_register waits for it */
		agent_send(sv[1], KMIG_WL_REGISTERED, NULL, 0);
		assert_int_equal(kmig_register(ctx), 0);
		for (int i = 0; i < 3; i++) {
			uint8_t buf[sizeof(struct kmig_wl_block)];

			assert_int_equal(kmig_wl_recv(sv[1], &h, buf, sizeof(buf), fds), 0);
			for (int j = 0; j < 2; j++)
				if (fds[j] >= 0)
					close(fds[j]);
		}
		agent_send(sv[1], KMIG_WL_PAUSE, NULL, 0);
		assert_int_equal(kmig_dispatch(ctx), 0);
		assert_int_equal(agent_recv(sv[1], KMIG_WL_PAUSED, NULL, 0, fds, 0), 0);
		agent_send(sv[1], KMIG_WL_MIGRATED, NULL, 0);
		assert_int_equal(kmig_dispatch(ctx), 1);
		close(sv[1]);
		kmig_close(ctx);
	}
}

/* ---- malformed input from the agent ---- */

struct bad_msg {
	const char *what;
	enum kmig_role role;
	uint32_t magic;
	uint16_t type, nfds;
	uint32_t len, reserved;
	size_t plen;		/* payload bytes actually sent */
	int nreal;		/* fds actually attached (copies of a pipe's write end) */
	int want;
};

static const struct bad_msg bad_msgs[] = {
	{ "bad magic", KMIG_ROLE_SOURCE, 0x12345678, KMIG_WL_PAUSE, 0, 0, 0, 0, 0, -EPROTO },
	{ "reserved set", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 0, 0, 1, 0, 0, -EPROTO },
	{ "unknown type", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, 99, 0, 0, 0, 0, 0, -EPROTO },
	{ "type zero", KMIG_ROLE_DEST, KMIG_WL_MAGIC, 0, 0, 0, 0, 0, 0, -EPROTO },
	{ "oversized len", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_LOAD, 0,
	  KMIG_WL_MAX_PAYLOAD + 1, 0, 0, 0, -EMSGSIZE },
	{ "huge len", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 0, UINT32_MAX, 0, 0, 0,
	  -EMSGSIZE },
	{ "PAUSE with payload", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 0, 4, 0, 4, 0,
	  -EMSGSIZE },
	{ "wrong direction", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_HELLO, 0, 0, 0, 0, 0,
	  -EPROTO },
	{ "STARTED to wl", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_STARTED, 0, 0, 0, 0, 0, -EPROTO },
	{ "RESUME unpaused", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_RESUME, 0, 0, 0, 0, 0,
	  -EPROTO },
	{ "MIGRATED unpaused", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_MIGRATED, 0, 0, 0, 0, 0,
	  -EPROTO },
	{ "LOAD to source", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_LOAD, 0, 0, 0, 0, 0, -EPROTO },
	{ "PAUSE to dest", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 0, 0, 0, 0, 0, -EPROTO },
	{ "FAILED to source", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_FAILED, 0, 0, 0, 0, 0,
	  -EPROTO },
	{ "unexpected fd", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 1, 0, 0, 0, 1, -EPROTO },
	{ "undeclared fd", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_LOAD, 0, 2, 0, 2, 1, -EPROTO },
	{ "missing fd", KMIG_ROLE_SOURCE, KMIG_WL_MAGIC, KMIG_WL_PAUSE, 1, 0, 0, 0, 0, -EPROTO },
	{ "three fds", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_LOAD, 3, 0, 0, 0, 3, -EPROTO },
	{ "truncated payload", KMIG_ROLE_DEST, KMIG_WL_MAGIC, KMIG_WL_LOAD, 0, 100, 0, 10, 0,
	  -EPROTO },
};

static void test_bad_messages(void **state)
{
	int fd0 = count_fds();

	for (size_t i = 0; i < sizeof(bad_msgs) / sizeof(bad_msgs[0]); i++) {
		const struct bad_msg *m = &bad_msgs[i];
		struct wl w = { .state = "s" };
		uint8_t payload[100] = { 0 };
		int a, p[2], fds[4], r;
		struct kmig_ctx *ctx = registered(m->role, &w, &a);
		char c;

		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		for (int j = 0; j < 4; j++)
			fds[j] = p[1];
		raw_send(a, m->magic, m->type, m->nfds, m->len, m->reserved, payload, m->plen,
			 fds, m->nreal);
		close(p[1]);
		if (m->plen < m->len && m->len <= KMIG_WL_MAX_PAYLOAD)
			shutdown(a, SHUT_WR);	/* EOF inside the message */
		r = kmig_dispatch(ctx);
		if (r != m->want)
			print_error("%s: got %d, want %d\n", m->what, r, m->want);
		assert_int_equal(r, m->want);
		assert_int_equal(kmig_dispatch(ctx), m->want);	/* sticky, no re-read */
		/* every received copy of the pipe's write end was closed */
		assert_int_equal(read(p[0], &c, 1), 0);
		close(p[0]);
		assert_int_equal(w.pauses + w.resumes + w.loads + w.migrateds, 0);
		assert_dropped(a);
		close(a);
		kmig_close(ctx);
	}
	assert_int_equal(count_fds(), fd0);
}

static void test_agent_gone(void **state)
{
	struct wl w = { .state = "s" };
	int a;
	struct kmig_ctx *ctx = registered(KMIG_ROLE_SOURCE, &w, &a);

	close(a);
	assert_int_equal(kmig_dispatch(ctx), -ECONNRESET);
	assert_int_equal(kmig_dispatch(ctx), -ECONNRESET);
	kmig_close(ctx);

	/* gone mid-header */
	ctx = registered(KMIG_ROLE_SOURCE, &w, &a);
	assert_int_equal(write(a, "KIMW", 4), 4);
	close(a);
	assert_int_equal(kmig_dispatch(ctx), -EPROTO);
	kmig_close(ctx);

	/* gone while paused: the library sends PAUSED, then sees EOF */
	ctx = registered(KMIG_ROLE_SOURCE, &w, &a);
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	assert_int_equal(kmig_dispatch(ctx), 0);
	close(a);
	assert_int_equal(kmig_dispatch(ctx), -ECONNRESET);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_PAUSED);	/* caller decides */
	assert_int_equal(w.resumes, 0);
	kmig_close(ctx);

	/* gone before PAUSED could be sent: the state never left, so resume */
	w = (struct wl){ .state = "s" };
	ctx = registered(KMIG_ROLE_SOURCE, &w, &a);
	agent_send(a, KMIG_WL_PAUSE, NULL, 0);
	shutdown(a, SHUT_RD);	/* the workload's sends now fail with EPIPE */
	assert_int_equal(kmig_dispatch(ctx), -EPIPE);
	assert_int_equal(w.pauses, 1);
	assert_int_equal(w.resumes, 1);
	assert_int_equal(kmig_state(ctx), KMIG_STATE_READY);
	close(a);
	kmig_close(ctx);
}

static void test_ram_alloc(void **state)
{
	struct wl w = { 0 };
	char name[80];
	int a;
	struct kmig_ctx *ctx = open_pair(KMIG_ROLE_SOURCE, &w, &a);

	assert_int_equal(kmig_register(ctx), -EINVAL);		/* no blocks */
	errno = 0;
	assert_null(kmig_ram_alloc(ctx, "x", 0));
	assert_int_equal(errno, EINVAL);
	assert_null(kmig_ram_alloc(ctx, "", 1));
	assert_int_equal(errno, EINVAL);
	assert_null(kmig_ram_alloc(NULL, "x", 1));
	assert_int_equal(errno, EINVAL);
	memset(name, 'n', sizeof(name));
	name[KMIG_RAM_NAME_MAX] = 0;
	assert_null(kmig_ram_alloc(ctx, name, 1));
	assert_int_equal(errno, ENAMETOOLONG);
	name[KMIG_RAM_NAME_MAX - 1] = 0;
	assert_non_null(kmig_ram_alloc(ctx, name, 1));		/* 63 chars fit */
	assert_null(kmig_ram_alloc(ctx, name, 1));
	assert_int_equal(errno, EEXIST);
	assert_null(kmig_ram_alloc(ctx, "huge", SIZE_MAX));
	for (int i = 1; i < KMIG_RAM_MAX_BLOCKS; i++) {
		snprintf(name, sizeof(name), "b%d", i);
		assert_non_null(kmig_ram_alloc(ctx, name, 1));
	}
	assert_null(kmig_ram_alloc(ctx, "one-too-many", 1));
	assert_int_equal(errno, ENOSPC);
	close(a);
	kmig_close(ctx);

	assert_null(kmig_open_fd(-1, KMIG_ROLE_SOURCE, NULL, NULL));
	assert_null(kmig_open_fd(0, (enum kmig_role)7, NULL, NULL));
	assert_int_equal(kmig_dispatch(NULL), -EINVAL);
	assert_int_equal(kmig_register(NULL), -EINVAL);
	assert_int_equal(kmig_fd(NULL), -1);
	kmig_close(NULL);
}

static void test_open_path(void **state)
{
	char dir[] = "/tmp/test_libkmig.XXXXXX", path[108], longp[200];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct kmig_ctx *ctx;
	int l, c;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/wl.sock", dir);
	strcpy(sa.sun_path, path);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 4), 0);

	ctx = kmig_open(path, KMIG_ROLE_DEST, &wl_cb, NULL);
	assert_non_null(ctx);
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(c >= 0);
	assert_non_null(kmig_ram_alloc(ctx, "ram0", 1));
	/* kmigd's acceptance, queued ahead: kmig_register waits for it */
	agent_send(c, KMIG_WL_REGISTERED, NULL, 0);
	assert_int_equal(kmig_register(ctx), 0);
	{
		struct kmig_wl_hello hello;
		int fds[2];

		agent_recv(c, KMIG_WL_HELLO, &hello, sizeof(hello), fds, 0);
		assert_int_equal(hello.role, KMIG_WL_ROLE_DST);
	}
	close(c);
	kmig_close(ctx);

	errno = 0;
	assert_null(kmig_open(NULL, KMIG_ROLE_SOURCE, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	snprintf(longp, sizeof(longp), "%s/%0150d", dir, 0);
	assert_null(kmig_open(longp, KMIG_ROLE_SOURCE, NULL, NULL));
	assert_int_equal(errno, ENAMETOOLONG);
	unlink(path);
	assert_null(kmig_open(path, KMIG_ROLE_SOURCE, NULL, NULL));
	assert_int_equal(errno, ENOENT);
	close(l);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_flow),
		cmocka_unit_test(test_dest_flow),
		cmocka_unit_test(test_dest_failed),
		cmocka_unit_test(test_dest_load_fails),
		cmocka_unit_test(test_callback_failures),
		cmocka_unit_test(test_bad_messages),
		cmocka_unit_test(test_agent_gone),
		cmocka_unit_test(test_ram_alloc),
		cmocka_unit_test(test_open_path),
	};

	return cmocka_run_group_tests_name("libkmig", tests, NULL, NULL);
}
