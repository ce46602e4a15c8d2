// SPDX-License-Identifier: GPL-2.0-only
/*
 * workload.c: registers a workload's RAM blocks with kmigd and carries the
 * engine's requests to it (see workload.h).  Everything received is
 * checked: counts, names, sizes, roles, and that each memfd really is as
 * large as the workload claims before kmigd maps it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "workload.h"

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

/* one message of @type with a payload of exactly @len bytes (or up to @len if !exact) */
static int expect(int sock, uint16_t type, void *buf, uint32_t len, bool exact, int timeout_ms,
		  int fds[KMIG_WL_MAX_FDS], uint32_t *got)
{
	struct kmig_wl_hdr h;
	int ret, spare[KMIG_WL_MAX_FDS];
	int *f = fds ? fds : spare;

	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = (timeout_ms % 1000) * 1000 + (timeout_ms <= 0) };

	ret = wait_readable(sock, timeout_ms);
	if (ret)
		return ret;
	/* the rest of the message must come within the same time (no trickling) */
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ret = kmig_wl_recv(sock, &h, buf, len, f);
	if (ret)
		return ret;
	if (!fds)
		for (int i = 0; i < KMIG_WL_MAX_FDS; i++)
			if (f[i] >= 0)
				close(f[i]);
	if (h.type != type || (exact && h.len != len)) {
		if (fds)
			for (int i = 0; i < KMIG_WL_MAX_FDS; i++)
				if (f[i] >= 0)
					close(f[i]);
		return -EPROTO;
	}
	if (got)
		*got = h.len;
	return 0;
}

static void block_release(struct kmig_block *b)
{
	if (b->map)
		munmap(b->map, b->size);
	if (b->memfd >= 0)
		close(b->memfd);
	if (b->uffd >= 0)
		close(b->uffd);
	b->map = NULL;
	b->memfd = b->uffd = -1;
}

void kmig_workload_free(struct kmig_workload *w)
{
	if (!w)
		return;
	for (unsigned int i = 0; i < w->nblocks; i++)
		block_release(&w->blocks[i]);
	if (w->sock >= 0)
		close(w->sock);
	free(w);
}

int kmig_block_for_each_data(const struct kmig_block *b,
			     int (*fn)(const struct kmig_block *b, uint64_t off, uint64_t len,
				       void *arg), void *arg)
{
	off_t off = 0, size = (off_t)b->size;

	while (off < size) {
		off_t d = lseek(b->memfd, off, SEEK_DATA), h;
		int ret;

		if (d < 0 && errno == ENXIO)
			return 0;		/* no data after @off */
		if (d < 0)
			return -errno;
		h = lseek(b->memfd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		if (h > size)
			h = size;
		ret = fn(b, (uint64_t)d, (uint64_t)(h - d), arg);
		if (ret)
			return ret;
		off = h;
	}
	return 0;
}

static int populate_extent(const struct kmig_block *b, uint64_t off, uint64_t len, void *arg)
{
	(void)arg;
	return madvise(b->map + off, len, MADV_POPULATE_READ) < 0 ? -errno : 0;
}

/*
 * Source: fills in kmigd's page tables for the pages that hold data, now
 * rather than fault by fault during the migration, and leaves the holes
 * alone (populating them would allocate them).  Best effort.
 */
static void populate_data(struct kmig_block *b)
{
	kmig_block_for_each_data(b, populate_extent, NULL);
}

/* checks a received block and maps it; consumes the fds */
static int block_setup(struct kmig_workload *w, const struct kmig_wl_block *wb, int fds[2],
		       uint32_t page_size, char *err, size_t n)
{
	struct kmig_block *b = &w->blocks[w->nblocks];
	bool want_uffd = w->role == KMIG_WL_ROLE_SRC;
	struct stat st;
	int prot = w->role == KMIG_WL_ROLE_SRC ? PROT_READ : PROT_READ | PROT_WRITE;

	memset(b, 0, sizeof(*b));
	b->memfd = fds[0];
	b->uffd = fds[1];
	/* a source may come without a uffd (then another tracker must serve it) */
	if (b->memfd < 0 || (!!(wb->flags & KMIG_WL_BLOCK_F_UFFD) != (b->uffd >= 0)) ||
	    (!want_uffd && b->uffd >= 0) ||
	    (wb->flags & ~KMIG_WL_BLOCK_F_UFFD) || wb->reserved) {
		snprintf(err, n, "block message has the wrong descriptors or flags");
		goto fail;
	}
	if (memchr(wb->name, 0, sizeof(wb->name)) == NULL || !wb->name[0]) {
		snprintf(err, n, "block name is empty or not terminated");
		goto fail;
	}
	memcpy(b->name, wb->name, sizeof(b->name));
	for (unsigned int i = 0; i < w->nblocks; i++) {
		if (!strcmp(w->blocks[i].name, b->name)) {
			snprintf(err, n, "block '%s' registered twice", b->name);
			goto fail;
		}
	}
	if (!wb->size || wb->size % page_size || wb->size > (1ull << 44) ||
	    wb->addr % page_size) {
		snprintf(err, n, "block '%s': bad size %llu or address", b->name,
			 (unsigned long long)wb->size);
		goto fail;
	}
	if (fstat(b->memfd, &st) < 0 || (uint64_t)st.st_size < wb->size) {
		snprintf(err, n, "block '%s': memfd is smaller than the %llu bytes claimed",
			 b->name, (unsigned long long)wb->size);
		goto fail;
	}
	b->size = wb->size;
	b->wl_addr = wb->addr;
	/*
	 * Destination: allocate every page now, before any migration starts;
	 * first-touch allocation costs seconds per GiB on this kind of VM.
	 */
	if (w->role == KMIG_WL_ROLE_DST && fallocate(b->memfd, 0, 0, b->size) < 0)
		kmig_log(KMIG_LOG_WARN, "workload", "fallocate block=%s err=%s", b->name,
			 strerror(errno));
	/*
	 * The destination's mapping is populated now, so receiving never
	 * faults.  The source's is not: populating a shared mapping allocates
	 * the memfd's holes, and a large guest may be mostly holes.
	 */
	b->map = mmap(NULL, b->size, prot,
		      MAP_SHARED | (w->role == KMIG_WL_ROLE_DST ? MAP_POPULATE : 0), b->memfd, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		snprintf(err, n, "block '%s': mmap failed: %s", b->name, strerror(errno));
		goto fail;
	}
	if (w->role == KMIG_WL_ROLE_SRC)
		populate_data(b);
	w->nblocks++;
	return 0;
fail:
	block_release(b);
	return -EINVAL;
}

/* milliseconds left until @deadline_ms (kmig_now_ms), at least 1 */
static int left_ms(int64_t deadline_ms)
{
	int64_t now = kmig_now_ms();

	return deadline_ms > now ? (int)(deadline_ms - now) : 1;
}

struct kmig_workload *kmig_workload_register(int sock, int timeout_ms, char *err, size_t n)
{
	int64_t deadline;
	struct kmig_workload *w = calloc(1, sizeof(*w));
	struct kmig_wl_hello hello;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int ret;

	if (!w) {
		snprintf(err, n, "out of memory");
		close(sock);
		return NULL;
	}
	w->sock = sock;
	/* one deadline for the whole registration: it runs on kmigd's loop thread */
	deadline = kmig_now_ms() + timeout_ms;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		snprintf(err, n, "cannot identify the workload: %s", strerror(errno));
		goto fail;
	}
	w->pid = cred.pid;
	ret = expect(sock, KMIG_WL_HELLO, &hello, sizeof(hello), true, left_ms(deadline), NULL,
		     NULL);
	if (ret) {
		snprintf(err, n, "no valid HELLO from pid %d: %s", w->pid, strerror(-ret));
		goto fail;
	}
	if (hello.version != KMIG_WL_VERSION || hello.page_size != 4096 ||
	    (hello.role != KMIG_WL_ROLE_SRC && hello.role != KMIG_WL_ROLE_DST) ||
	    !hello.nblocks || hello.nblocks > KMIG_WL_MAX_BLOCKS) {
		snprintf(err, n, "HELLO from pid %d has unsupported version/role/page size/count",
			 w->pid);
		goto fail;
	}
	w->role = hello.role;
	for (uint32_t i = 0; i < hello.nblocks; i++) {
		struct kmig_wl_block wb;
		int fds[KMIG_WL_MAX_FDS];

		ret = expect(sock, KMIG_WL_BLOCK, &wb, sizeof(wb), true, left_ms(deadline), fds,
			     NULL);
		if (ret) {
			snprintf(err, n, "no valid BLOCK %u from pid %d: %s", i, w->pid,
				 strerror(-ret));
			goto fail;
		}
		if (block_setup(w, &wb, fds, hello.page_size, err, n))
			goto fail;
	}
	ret = expect(sock, KMIG_WL_READY, NULL, 0, true, left_ms(deadline), NULL, NULL);
	if (ret) {
		snprintf(err, n, "no READY from pid %d: %s", w->pid, strerror(-ret));
		goto fail;
	}
	return w;
fail:
	kmig_workload_free(w);
	return NULL;
}

int kmig_workload_pause(struct kmig_workload *w, int timeout_ms, void **state, uint32_t *len,
			char *err, size_t n)
{
	void *buf = malloc(KMIG_WL_MAX_PAYLOAD);
	int ret;

	if (!buf) {
		snprintf(err, n, "out of memory for the device state");
		return -ENOMEM;
	}
	/* a PAUSED that came too late last time must not answer this PAUSE */
	while (wait_readable(w->sock, 0) == 0) {
		struct kmig_wl_hdr h;

		if (kmig_wl_recv(w->sock, &h, buf, KMIG_WL_MAX_PAYLOAD, NULL))
			break;
	}
	ret = kmig_wl_send(w->sock, KMIG_WL_PAUSE, NULL, 0, NULL, 0);
	if (!ret)
		ret = expect(w->sock, KMIG_WL_PAUSED, buf, KMIG_WL_MAX_PAYLOAD, false, timeout_ms,
			     NULL, len);
	if (ret) {
		snprintf(err, n, "the workload (pid %d) did not pause: %s", w->pid,
			 strerror(-ret));
		free(buf);
		return ret;
	}
	*state = buf;
	return 0;
}

int kmig_workload_resume(struct kmig_workload *w)
{
	return kmig_wl_send(w->sock, KMIG_WL_RESUME, NULL, 0, NULL, 0);
}

int kmig_workload_migrated(struct kmig_workload *w)
{
	return kmig_wl_send(w->sock, KMIG_WL_MIGRATED, NULL, 0, NULL, 0);
}

int kmig_workload_failed(struct kmig_workload *w)
{
	return kmig_wl_send(w->sock, KMIG_WL_FAILED, NULL, 0, NULL, 0);
}

int kmig_workload_load(struct kmig_workload *w, const void *state, uint32_t len, int timeout_ms,
		       char *err, size_t n)
{
	int ret = kmig_wl_send(w->sock, KMIG_WL_LOAD, state, len, NULL, 0);

	if (!ret)
		ret = expect(w->sock, KMIG_WL_STARTED, NULL, 0, true, timeout_ms, NULL, NULL);
	if (ret)
		snprintf(err, n, "the destination workload (pid %d) did not start: %s", w->pid,
			 strerror(-ret));
	return ret;
}
