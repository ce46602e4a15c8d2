// SPDX-License-Identifier: GPL-2.0-only
/*
 * libkmig.c: the workload's side of wl_proto.h (see libkmig.h).  It owns
 * the RAM blocks, hands their fds to kmigd, and turns kmigd's requests into
 * callbacks, checking that each request comes in an order the protocol
 * allows before acting on it.  It outlives its agent: when the connection
 * drops it keeps the workload as it was and registers again, with
 * back-off, with the next kmigd on the same socket.  The auto-converge
 * throttle's machinery is in kmig_throttle.c; this file decides when it is
 * applied and lifted; postcopy's end and references are in kmig_postcopy.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kmig_throttle.h"
#include "libkmig.h"
#include "libkmig_int.h"
#include "wl_proto.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define REGISTER_TIMEOUT_MS 10000	/* for kmigd's REGISTERED */
#define RETRY_FIRST_MS      100		/* reconnect back-off: 100 ms doubling ... */
#define RETRY_MAX_MS        5000	/* ... up to 5 s */

_Static_assert(KMIG_RAM_NAME_MAX == KMIG_WL_NAME_MAX, "name limits agree");
_Static_assert(KMIG_RAM_MAX_BLOCKS == KMIG_WL_MAX_BLOCKS, "block limits agree");
_Static_assert(KMIG_STATE_MAX == KMIG_WL_MAX_PAYLOAD, "state limits agree");
_Static_assert((int)KMIG_ROLE_SOURCE == (int)KMIG_WL_ROLE_SRC &&
	       (int)KMIG_ROLE_DEST == (int)KMIG_WL_ROLE_DST, "roles agree");

struct kmig_ctx *kmig_open_fd(int sock, enum kmig_role role,
			      const struct kmig_callbacks *cb, void *opaque)
{
	struct kmig_ctx *ctx;
	long ps = sysconf(_SC_PAGESIZE);

	if (sock < 0 || (role != KMIG_ROLE_SOURCE && role != KMIG_ROLE_DEST) || ps <= 0) {
		errno = EINVAL;
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	ctx->throttle = kmig_throttle_new();
	if (!ctx->throttle) {
		free(ctx);
		errno = ENOMEM;
		return NULL;
	}
	ctx->sock = sock;
	ctx->connected = true;
	ctx->role = role;
	ctx->state = KMIG_STATE_NEW;
	ctx->options = KMIG_OPT_REROLE | KMIG_OPT_THROTTLE | KMIG_OPT_POSTCOPY;
	if (cb)
		ctx->cb = *cb;
	ctx->opaque = opaque;
	ctx->page_size = (size_t)ps;
	return ctx;
}

/* a new connection to @path, or -errno */
static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int sock, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	while (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		e = errno;
		close(sock);
		return -e;
	}
	return sock;
}

struct kmig_ctx *kmig_open(const char *agent_sock, enum kmig_role role,
			   const struct kmig_callbacks *cb, void *opaque)
{
	struct kmig_ctx *ctx;
	int sock;

	if (!agent_sock || !*agent_sock) {
		errno = EINVAL;
		return NULL;
	}
	sock = dial(agent_sock);
	if (sock < 0) {
		errno = -sock;
		return NULL;
	}
	ctx = kmig_open_fd(sock, role, cb, opaque);
	if (!ctx) {
		int e = errno;

		close(sock);
		errno = e;
		return NULL;
	}
	snprintf(ctx->path, sizeof(ctx->path), "%s", agent_sock);
	ctx->options |= KMIG_OPT_REATTACH;
	return ctx;
}

int kmig_set_option(struct kmig_ctx *ctx, unsigned int option, int on)
{
	if (!ctx || (option & ~(KMIG_OPT_REATTACH | KMIG_OPT_REROLE | KMIG_OPT_THROTTLE |
				KMIG_OPT_POSTCOPY)))
		return -EINVAL;
	if ((option & KMIG_OPT_REATTACH) && on && !ctx->path[0])
		return -ENOTSUP;	/* opened on an fd: nowhere to reconnect to */
	if (on)
		ctx->options |= option;
	else
		ctx->options &= ~option;
	return 0;
}

void *kmig_ram_alloc(struct kmig_ctx *ctx, const char *name, size_t size)
{
	struct kmig_block *b;
	unsigned int i;
	void *addr;
	int fd, e;

	if (!ctx || !name || !*name || !size) {
		errno = EINVAL;
		return NULL;
	}
	if (strlen(name) >= KMIG_WL_NAME_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if (ctx->state != KMIG_STATE_NEW) {
		errno = EBUSY;
		return NULL;
	}
	if (ctx->nblocks == KMIG_WL_MAX_BLOCKS) {
		errno = ENOSPC;
		return NULL;
	}
	for (i = 0; i < ctx->nblocks; i++) {
		if (!strcmp(ctx->blocks[i].name, name)) {
			errno = EEXIST;
			return NULL;
		}
	}
	if (size > (size_t)INT64_MAX - ctx->page_size) {
		errno = ENOMEM;
		return NULL;
	}
	size = (size + ctx->page_size - 1) & ~(ctx->page_size - 1);

	fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED)
		goto fail;

	b = &ctx->blocks[ctx->nblocks++];
	strcpy(b->name, name);
	b->addr = addr;
	b->size = size;
	b->memfd = fd;
	b->pc_uffd = -1;
	return addr;
fail:
	e = errno;
	close(fd);
	errno = e;
	return NULL;
}

/*
 * The workload creates the uffd (it must: a uffd belongs to its creator's
 * mm) and kmigd does UFFDIO_API and registration.  User-mode-only needs no
 * privilege; -1 (old kernel, seccomp) just means kmigd tracks another way.
 */
static int uffd_create(void)
{
	return (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
}

/* ---- the connection ---- */

/* arms the placeholder timer behind ctx->sock for the next reconnect */
static int wait_to_retry(struct kmig_ctx *ctx)
{
	struct itimerspec its = { .it_value = { .tv_sec = ctx->retry_ms / 1000,
						.tv_nsec = (ctx->retry_ms % 1000) * 1000000l } };
	int t;

	if (ctx->connected) {
		t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (t < 0)
			return -errno;
		/* the same fd number, now a timer: the caller's poll set stays valid */
		if (dup3(t, ctx->sock, O_CLOEXEC) < 0) {
			int e = errno;

			close(t);
			return -e;
		}
		close(t);
		ctx->connected = false;
	}
	return timerfd_settime(ctx->sock, 0, &its, NULL) < 0 ? -errno : 0;
}

/*
 * The connection is gone.  With KMIG_OPT_REATTACH (and a workload worth
 * registering again) wait and reconnect; otherwise the error sticks.
 * Returns 0 (reconnect pending) or @err.
 */
static int ctx_lost(struct kmig_ctx *ctx, int err)
{
	/*
	 * A destination still waiting for postcopy pages never registers
	 * again: its memory has holes only the lost agent could fill, and a
	 * new agent would read them as zeroes.
	 */
	bool again = (ctx->options & KMIG_OPT_REATTACH) && ctx->path[0] && !ctx->pc_pending &&
		     (ctx->state == KMIG_STATE_READY || ctx->state == KMIG_STATE_PAUSED);

	/* nobody is left to lift it: a workload never stays throttled alone */
	kmig_throttle_set(ctx->throttle, 0);
	if (again) {
		kmig_pc_uffds_close(ctx);	/* the next registration makes fresh ones */
		ctx->retry_ms = RETRY_FIRST_MS;
		if (!wait_to_retry(ctx))
			return 0;
	}
	if (!ctx->err) {
		ctx->err = err;
		if (ctx->connected)
			shutdown(ctx->sock, SHUT_RDWR);
	}
	return err;
}

/* Drops the connection for good: kmigd sees EOF; later calls return @err. */
static int ctx_fail(struct kmig_ctx *ctx, int err)
{
	kmig_throttle_set(ctx->throttle, 0);
	if (!ctx->err) {
		ctx->err = err;
		if (ctx->connected)
			shutdown(ctx->sock, SHUT_RDWR);
	}
	return err;
}

/* HELLO, BLOCKs (memfd, and a fresh uffd on a source), READY, REGISTERED */
static int handshake(struct kmig_ctx *ctx)
{
	struct timeval tv = { .tv_sec = REGISTER_TIMEOUT_MS / 1000 };
	struct kmig_wl_hello hello = {
		.version = KMIG_WL_VERSION,
		.role = ctx->role == KMIG_ROLE_SOURCE ? KMIG_WL_ROLE_SRC : KMIG_WL_ROLE_DST,
		.nblocks = ctx->nblocks,
		.page_size = (uint32_t)ctx->page_size,
		.features = (ctx->options & KMIG_OPT_REATTACH ? KMIG_WL_F_REATTACH : 0) |
			    (ctx->options & KMIG_OPT_REROLE ? KMIG_WL_F_REROLE : 0) |
			    (ctx->options & KMIG_OPT_THROTTLE ? KMIG_WL_F_THROTTLE : 0) |
			    (ctx->options & KMIG_OPT_POSTCOPY && ctx->role == KMIG_ROLE_DEST ?
			     KMIG_WL_F_POSTCOPY : 0),
		.flags = ctx->state == KMIG_STATE_PAUSED ? KMIG_WL_HELLO_F_PAUSED : 0,
	};
	struct kmig_wl_registered reg = { 0 };
	struct kmig_wl_hdr h;
	int r = kmig_wl_send(ctx->sock, KMIG_WL_HELLO, &hello, sizeof(hello), NULL, 0);

	kmig_pc_uffds_close(ctx);
	for (unsigned int i = 0; !r && i < ctx->nblocks; i++) {
		struct kmig_block *b = &ctx->blocks[i];
		struct kmig_wl_block msg = { .size = b->size, .addr = (uint64_t)(uintptr_t)b->addr };
		int fds[KMIG_WL_MAX_FDS] = { b->memfd, -1 };
		unsigned int nfds = 1;

		strcpy(msg.name, b->name);
		if (ctx->role == KMIG_ROLE_SOURCE || (hello.features & KMIG_WL_F_POSTCOPY)) {
			fds[1] = uffd_create();
			if (fds[1] >= 0) {
				msg.flags |= KMIG_WL_BLOCK_F_UFFD;
				nfds = 2;
			}
		}
		r = kmig_wl_send(ctx->sock, KMIG_WL_BLOCK, &msg, sizeof(msg), fds, nfds);
		/*
		 * A source's uffd: kmigd holds the only reference from here on:
		 * if kmigd dies, the uffd is released and write-protection with
		 * it, so the workload can never be left blocked on a fault.  A
		 * destination's (postcopy) is the other way round: ours keeps a
		 * missing page missing (a wait) should kmigd die, where a
		 * released one would let the page read as zeroes.
		 */
		if (fds[1] >= 0 && ctx->role == KMIG_ROLE_SOURCE)
			close(fds[1]);
		else
			b->pc_uffd = fds[1];
	}
	if (!r)
		r = kmig_wl_send(ctx->sock, KMIG_WL_READY, NULL, 0, NULL, 0);
	/*
	 * Wait for kmigd's acceptance: once this returns, a migrate command
	 * finds the workload.  A refusal closes the socket.
	 */
	if (!r) {
		setsockopt(ctx->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		r = kmig_wl_recv(ctx->sock, &h, &reg, sizeof(reg), NULL);
		tv.tv_sec = 0;
		setsockopt(ctx->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (!r && (h.type != KMIG_WL_REGISTERED || (h.len && h.len != sizeof(reg)) ||
		   (reg.features & ~hello.features)))
		r = -EPROTO;
	if (!r)
		ctx->features = h.len ? reg.features : 0;
	if (r || !(ctx->features & KMIG_WL_F_POSTCOPY))
		kmig_pc_uffds_close(ctx);	/* kmigd will not use them */
	return r;
}

/* the timer fired: try the agent again */
static int reconnect(struct kmig_ctx *ctx)
{
	uint64_t ticks;
	int sock, r;

	if (read(ctx->sock, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return ctx_fail(ctx, -errno);
	sock = dial(ctx->path);
	if (sock >= 0) {
		r = dup3(sock, ctx->sock, O_CLOEXEC) < 0 ? -errno : 0;
		close(sock);
		if (r)
			return ctx_fail(ctx, r);
		ctx->connected = true;
		if (!handshake(ctx)) {
			ctx->retry_ms = RETRY_FIRST_MS;
			return 0;
		}
		/* a kmigd that refused us (another workload?) is tried again later */
	}
	ctx->retry_ms = ctx->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : ctx->retry_ms * 2;
	r = wait_to_retry(ctx);
	return r ? ctx_fail(ctx, r) : 0;
}

int kmig_register(struct kmig_ctx *ctx)
{
	int r;

	if (!ctx)
		return -EINVAL;
	if (ctx->err)
		return ctx->err;
	if (ctx->state != KMIG_STATE_NEW)
		return -EBUSY;
	if (!ctx->nblocks)
		return -EINVAL;
	r = handshake(ctx);
	if (r)
		return ctx_fail(ctx, r);
	ctx->state = KMIG_STATE_READY;
	return 0;
}

int kmig_fd(const struct kmig_ctx *ctx)
{
	return ctx ? ctx->sock : -1;
}

enum kmig_state kmig_state(const struct kmig_ctx *ctx)
{
	return ctx ? ctx->state : KMIG_STATE_NEW;
}

enum kmig_role kmig_role(const struct kmig_ctx *ctx)
{
	return ctx ? ctx->role : KMIG_ROLE_SOURCE;
}

int kmig_connected(const struct kmig_ctx *ctx)
{
	return ctx && ctx->connected && !ctx->err;
}

/* ---- kmigd's requests ---- */

/* PAUSE: stop, collect the device state, send it.  0 or -errno. */
static int src_pause(struct kmig_ctx *ctx)
{
	void *blob = NULL;
	size_t len = 0;
	int r;

	/*
	 * A paused workload is not throttled; lifting first also wakes writer
	 * threads asleep in the throttle, so @pause can stop them promptly.
	 */
	kmig_throttle_set(ctx->throttle, 0);
	if (ctx->cb.pause && ctx->cb.pause(ctx->opaque))
		return -ECANCELED;
	if (ctx->cb.save_state && ctx->cb.save_state(ctx->opaque, &blob, &len))
		r = -ECANCELED;
	else if (len > KMIG_WL_MAX_PAYLOAD)
		r = -EMSGSIZE;
	else if (len && !blob)
		r = -EINVAL;
	else
		r = kmig_wl_send(ctx->sock, KMIG_WL_PAUSED, blob, (uint32_t)len, NULL, 0);
	free(blob);
	if (r) {
		/* the state never reached kmigd: nothing can run elsewhere */
		if (ctx->cb.resume)
			ctx->cb.resume(ctx->opaque);
		return r;
	}
	ctx->state = KMIG_STATE_PAUSED;
	return 0;
}

/*
 * THROTTLE (KMIG_WL_F_THROTTLE, agreed at registration): valid in any state
 * a source is in, applied only while it runs (READY); paused or migrated,
 * it is checked and has no effect.
 */
static int src_throttle(struct kmig_ctx *ctx, const struct kmig_wl_hdr *hdr, const void *buf)
{
	struct kmig_wl_throttle t;

	if (!(ctx->features & KMIG_WL_F_THROTTLE) || hdr->len != sizeof(t))
		return -EPROTO;
	memcpy(&t, buf, sizeof(t));
	if (t.pct > 99 || t.reserved)
		return -EPROTO;
	if (ctx->state != KMIG_STATE_READY)
		return 0;
	return kmig_throttle_set(ctx->throttle, t.pct);
}

static int on_source(struct kmig_ctx *ctx, const struct kmig_wl_hdr *hdr, const void *buf)
{
	if (ctx->pc_pending && (hdr->type == KMIG_WL_ARRIVED || hdr->type == KMIG_WL_FAILED))
		return kmig_pc_end(ctx, hdr);
	if (hdr->type == KMIG_WL_THROTTLE)
		return src_throttle(ctx, hdr, buf);
	if (hdr->len)
		return -EMSGSIZE;	/* every other request to a source is bare */
	switch (hdr->type) {
	case KMIG_WL_PAUSE:
		if (ctx->state != KMIG_STATE_READY)
			return -EPROTO;
		return src_pause(ctx);
	case KMIG_WL_RESUME:
		if (ctx->state != KMIG_STATE_PAUSED)
			return -EPROTO;
		if (ctx->cb.resume)
			ctx->cb.resume(ctx->opaque);
		ctx->state = KMIG_STATE_READY;
		return 0;
	case KMIG_WL_MIGRATED:
		if (ctx->state != KMIG_STATE_PAUSED)
			return -EPROTO;
		ctx->state = KMIG_STATE_MIGRATED;
		if (ctx->cb.migrated)
			ctx->cb.migrated(ctx->opaque);
		return 1;
	default:
		return -EPROTO;
	}
}

/* KMIG_WL_F_REROLE: the started workload offers itself as a source */
static int become_source(struct kmig_ctx *ctx)
{
	int r = 0;

	for (unsigned int i = 0; !r && i < ctx->nblocks; i++) {
		struct kmig_wl_uffd u = { .block = i };
		int fd = uffd_create();

		if (fd < 0)
			continue;	/* kmigd then tracks that block another way */
		r = kmig_wl_send(ctx->sock, KMIG_WL_UFFD, &u, sizeof(u), &fd, 1);
		close(fd);
	}
	if (!r)
		r = kmig_wl_send(ctx->sock, KMIG_WL_SOURCE, NULL, 0, NULL, 0);
	if (!r) {
		ctx->role = KMIG_ROLE_SOURCE;
		ctx->state = KMIG_STATE_READY;
	}
	return r;
}

static int on_dest(struct kmig_ctx *ctx, const struct kmig_wl_hdr *hdr, const void *buf)
{
	int r;

	if (ctx->pc_pending && ctx->state == KMIG_STATE_STARTED)
		return kmig_pc_end(ctx, hdr);
	if (ctx->state != KMIG_STATE_READY)
		return -EPROTO;
	switch (hdr->type) {
	case KMIG_WL_LOAD_POSTCOPY:
		if (!(ctx->features & KMIG_WL_F_POSTCOPY))
			return -EPROTO;
		ctx->pc_pending = true;	/* from here on touching a missing page waits */
		/* fall through */
	case KMIG_WL_LOAD:
		if (ctx->cb.load_state && ctx->cb.load_state(ctx->opaque, buf, hdr->len))
			return -ECANCELED;
		ctx->state = KMIG_STATE_STARTED;
		if (!ctx->pc_pending)
			kmig_pc_uffds_close(ctx);	/* every page is in: no postcopy this time */
		r = kmig_wl_send(ctx->sock, KMIG_WL_STARTED, NULL, 0, NULL, 0);
		if (!r && (ctx->features & KMIG_WL_F_REROLE))
			r = become_source(ctx);
		if (!r && ctx->cb.started)
			ctx->cb.started(ctx->opaque);
		return r ? r : 1;
	case KMIG_WL_FAILED:
		ctx->state = KMIG_STATE_FAILED;
		return 1;
	default:
		return -EPROTO;
	}
}

int kmig_dispatch(struct kmig_ctx *ctx)
{
	struct kmig_wl_hdr hdr;
	struct kmig_wl_throttle small;	/* the largest payload a source is sent */
	void *buf = &small;
	size_t max = sizeof(small);
	int r;

	if (!ctx)
		return -EINVAL;
	if (ctx->err)
		return ctx->err;
	if (ctx->state == KMIG_STATE_NEW)
		return -EINVAL;
	if (!ctx->connected)
		return reconnect(ctx);
	/* a source's largest payload is THROTTLE's; LOAD's is up to 16 MiB
	 * (malloc only reserves address space) */
	if (ctx->role == KMIG_ROLE_DEST && ctx->state == KMIG_STATE_READY) {
		max = KMIG_WL_MAX_PAYLOAD;
		buf = malloc(max);
		if (!buf)
			return -ENOMEM;
	}
	r = kmig_wl_recv(ctx->sock, &hdr, buf, max, NULL);
	if (r == -ECONNRESET || r == -EPIPE) {
		if (buf != &small)
			free(buf);
		return ctx_lost(ctx, r);
	}
	if (!r)
		r = ctx->role == KMIG_ROLE_SOURCE ? on_source(ctx, &hdr, buf)
						  : on_dest(ctx, &hdr, buf);
	if (buf != &small)
		free(buf);
	return r < 0 ? ctx_fail(ctx, r) : r;
}

void kmig_close(struct kmig_ctx *ctx)
{
	unsigned int i;

	if (!ctx)
		return;
	kmig_throttle_free(ctx->throttle);	/* lifted, threads forgotten */
	kmig_pc_uffds_close(ctx);
	for (i = 0; i < ctx->nblocks; i++) {
		munmap(ctx->blocks[i].addr, ctx->blocks[i].size);
		close(ctx->blocks[i].memfd);
	}
	close(ctx->sock);
	free(ctx);
}

/* ---- the throttle's public side (kmig_throttle.c does the work) ---- */

int kmig_thread_register(struct kmig_ctx *ctx)
{
	return ctx ? kmig_throttle_thread_register(ctx->throttle) : -EINVAL;
}

int kmig_thread_unregister(struct kmig_ctx *ctx)
{
	return ctx ? kmig_throttle_thread_unregister(ctx->throttle) : -EINVAL;
}

unsigned int kmig_throttle_pct(const struct kmig_ctx *ctx)
{
	return ctx ? kmig_throttle_get(ctx->throttle) : 0;
}

unsigned int kmig_thread_count(const struct kmig_ctx *ctx)
{
	return ctx ? kmig_throttle_nthreads(ctx->throttle) : 0;
}

int kmig_throttle_signal(void)
{
	return kmig_throttle_sig();
}
