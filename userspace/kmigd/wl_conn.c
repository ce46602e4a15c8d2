// SPDX-License-Identifier: GPL-2.0-only
/*
 * wl_conn.c: kmigd's side of one workload connection (wl_conn.h): the
 * registration (HELLO, BLOCKs, READY, REGISTERED) and the engine's calls
 * (engine/workload.h) carried as wl_proto messages.  Everything received is
 * checked: versions, feature bits, counts, names, sizes, roles, and that
 * each memfd really is as large as the workload claims before kmigd maps it.
 * The throttle goes to the workload as a message when it throttles itself
 * (KMIG_WL_F_THROTTLE), and otherwise through a cgroup (throttle_cgroup.c).
 * A destination that can start before its memory arrived
 * (KMIG_WL_F_POSTCOPY) hands a userfaultfd with each block; the engine
 * registers it for missing pages only if a postcopy stream comes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "throttle_cgroup.h"
#include "wl_conn.h"
#include "wl_proto.h"

/** struct wl_conn - the connection behind a struct kmig_workload */
struct wl_conn {
	int sock;
	uint32_t version;
	uint64_t features;	/* agreed */
	struct kmig_cg_throttle *cg;	/* the cgroup throttle, while one is applied */
};

static struct wl_conn *conn(struct kmig_workload *w)
{
	return w->priv;
}

int kmig_wl_conn_sock(const struct kmig_workload *w)
{
	return ((const struct wl_conn *)w->priv)->sock;
}

uint64_t kmig_wl_conn_features(const struct kmig_workload *w)
{
	return ((const struct wl_conn *)w->priv)->features;
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

static void close_fds(int *f)
{
	for (int i = 0; i < KMIG_WL_MAX_FDS; i++)
		if (f[i] >= 0)
			close(f[i]);
}

/*
 * One message of @type with a payload of exactly @len bytes (up to @len if
 * !exact; *@got the length).  @fds NULL: any fds that come are closed.
 */
static int expect(int sock, uint16_t type, void *buf, uint32_t len, bool exact, int timeout_ms,
		  int fds[KMIG_WL_MAX_FDS], uint32_t *got)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = (timeout_ms % 1000) * 1000 + (timeout_ms <= 0) };
	struct kmig_wl_hdr h;
	int ret, spare[KMIG_WL_MAX_FDS];
	int *f = fds ? fds : spare;

	ret = wait_readable(sock, timeout_ms);
	if (ret)
		return ret;
	/* the rest of the message must come within the same time (no trickling) */
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ret = kmig_wl_recv(sock, &h, buf, len, f);
	if (ret)
		return ret;
	if (!fds)
		close_fds(f);
	if (h.type != type || (exact && h.len != len)) {
		if (fds)
			close_fds(f);
		return -EPROTO;
	}
	if (got)
		*got = h.len;
	return 0;
}

void kmig_wl_conn_free(struct kmig_workload *w)
{
	if (!w)
		return;
	for (unsigned int i = 0; i < w->nblocks; i++)
		kmig_block_release(&w->blocks[i]);
	if (w->priv) {
		/* the workload leaves (or kmigd exits): never leave it throttled */
		kmig_cg_throttle_remove(&conn(w)->cg);
		if (conn(w)->sock >= 0)
			close(conn(w)->sock);
		free(w->priv);
	}
	free(w);
}

/* checks a received block and maps it; consumes the fds */
static int block_setup(struct kmig_workload *w, const struct kmig_wl_block *wb, int fds[2],
		       uint32_t page_size, char *err, size_t n)
{
	struct kmig_block *b = &w->blocks[w->nblocks];
	bool src = w->role == KMIG_ROLE_SRC;
	struct stat st;

	kmig_block_init(b);
	b->memfd = fds[0];
	/* source: for tracking; destination (postcopy): for the pages still missing */
	if (src)
		b->uffd = fds[1];
	else
		b->pc_uffd = fds[1];
	/* a source may come without a uffd (then another tracker must serve it) */
	if (b->memfd < 0 || (!!(wb->flags & KMIG_WL_BLOCK_F_UFFD) != (fds[1] >= 0)) ||
	    (!src && fds[1] >= 0 && !(conn(w)->features & KMIG_WL_F_POSTCOPY)) ||
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
	if (kmig_block_map(b, w->role, err, n))
		goto fail;
	w->nblocks++;
	return 0;
fail:
	kmig_block_release(b);
	return -EINVAL;
}

/* milliseconds left until @deadline_ms (kmig_now_ms), at least 1 */
static int left_ms(int64_t deadline_ms)
{
	int64_t now = kmig_now_ms();

	return deadline_ms > now ? (int)(deadline_ms - now) : 1;
}

/* reads and checks HELLO (version 1 or 2) */
static int read_hello(struct kmig_workload *w, struct kmig_wl_hello *hello, int64_t deadline,
		      char *err, size_t n)
{
	uint32_t len = 0;
	int ret;

	memset(hello, 0, sizeof(*hello));
	ret = expect(conn(w)->sock, KMIG_WL_HELLO, hello, sizeof(*hello), false, left_ms(deadline),
		     NULL, &len);
	if (!ret && len != KMIG_WL_HELLO_V1_LEN && len != sizeof(*hello))
		ret = -EPROTO;
	if (ret) {
		snprintf(err, n, "no valid HELLO from pid %d: %s", w->pid, strerror(-ret));
		return ret;
	}
	if (!((hello->version == 1 && len == KMIG_WL_HELLO_V1_LEN) ||
	      (hello->version == 2 && len == sizeof(*hello))) || hello->page_size != 4096 ||
	    (hello->role != KMIG_WL_ROLE_SRC && hello->role != KMIG_WL_ROLE_DST) ||
	    !hello->nblocks || hello->nblocks > KMIG_WL_MAX_BLOCKS ||
	    (hello->flags & ~KMIG_WL_HELLO_F_PAUSED) || hello->reserved ||
	    ((hello->flags & KMIG_WL_HELLO_F_PAUSED) && hello->role != KMIG_WL_ROLE_SRC)) {
		snprintf(err, n, "HELLO from pid %d has unsupported version/role/page size/count/flags",
			 w->pid);
		return -EPROTO;
	}
	conn(w)->version = hello->version;
	/* unknown bits are the workload's future: kmigd uses only what it knows */
	conn(w)->features = hello->features & KMIG_WL_F_KNOWN;
	if (hello->role != KMIG_WL_ROLE_DST)
		conn(w)->features &= ~KMIG_WL_F_POSTCOPY;	/* a destination's feature */
	w->role = hello->role == KMIG_WL_ROLE_SRC ? KMIG_ROLE_SRC : KMIG_ROLE_DST;
	w->paused = hello->flags & KMIG_WL_HELLO_F_PAUSED;
	return 0;
}

static const struct kmig_wl_ops wl_conn_ops;

struct kmig_workload *kmig_wl_conn_register(int sock, int timeout_ms, char *err, size_t n)
{
	int64_t deadline = kmig_now_ms() + timeout_ms;	/* one deadline for it all */
	struct kmig_workload *w = calloc(1, sizeof(*w));
	struct wl_conn *c = calloc(1, sizeof(*c));
	struct kmig_wl_hello hello;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int ret;

	if (!w || !c) {
		snprintf(err, n, "out of memory");
		close(sock);
		free(w);
		free(c);
		return NULL;
	}
	c->sock = sock;
	w->priv = c;
	w->ops = &wl_conn_ops;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		snprintf(err, n, "cannot identify the workload: %s", strerror(errno));
		goto fail;
	}
	w->pid = cred.pid;
	if (read_hello(w, &hello, deadline, err, n))
		goto fail;
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
	/* postcopy needs a userfaultfd for every block; without, kmigd does not offer it */
	w->postcopy = !!(c->features & KMIG_WL_F_POSTCOPY);
	for (unsigned int i = 0; i < w->nblocks; i++)
		w->postcopy &= w->blocks[i].pc_uffd >= 0;
	if (!w->postcopy)
		c->features &= ~KMIG_WL_F_POSTCOPY;
	return w;
fail:
	kmig_wl_conn_free(w);
	return NULL;
}

int kmig_wl_conn_accept(struct kmig_workload *w)
{
	struct kmig_wl_registered reg = { .features = conn(w)->features };

	/* a version-1 workload expects an empty REGISTERED */
	if (conn(w)->version == 1)
		return kmig_wl_send(conn(w)->sock, KMIG_WL_REGISTERED, NULL, 0, NULL, 0);
	return kmig_wl_send(conn(w)->sock, KMIG_WL_REGISTERED, &reg, sizeof(reg), NULL, 0);
}

/* ---- the engine's calls ---- */

static int wl_pause(struct kmig_workload *w, int timeout_ms, void **state, uint32_t *len,
		    char *err, size_t n)
{
	void *buf = malloc(KMIG_WL_MAX_PAYLOAD);
	int sock = conn(w)->sock, ret;

	if (!buf) {
		snprintf(err, n, "out of memory for the device state");
		return -ENOMEM;
	}
	/*
	 * A paused workload is not throttled (libkmig lifts its own throttle on
	 * PAUSE): the pause and the device state must not crawl through a
	 * quota, since that time is downtime.  Re-applied only by the engine.
	 */
	kmig_cg_throttle_remove(&conn(w)->cg);
	/* a PAUSED that came too late last time must not answer this PAUSE */
	while (wait_readable(sock, 0) == 0) {
		struct kmig_wl_hdr h;

		if (kmig_wl_recv(sock, &h, buf, KMIG_WL_MAX_PAYLOAD, NULL))
			break;
	}
	ret = kmig_wl_send(sock, KMIG_WL_PAUSE, NULL, 0, NULL, 0);
	if (!ret)
		ret = expect(sock, KMIG_WL_PAUSED, buf, KMIG_WL_MAX_PAYLOAD, false, timeout_ms,
			     NULL, len);
	if (ret) {
		snprintf(err, n, "the workload (pid %d) did not pause: %s", w->pid, strerror(-ret));
		free(buf);
		return ret;
	}
	*state = buf;
	return 0;
}

static int wl_resume(struct kmig_workload *w)
{
	return kmig_wl_send(conn(w)->sock, KMIG_WL_RESUME, NULL, 0, NULL, 0);
}

static int wl_migrated(struct kmig_workload *w)
{
	return kmig_wl_send(conn(w)->sock, KMIG_WL_MIGRATED, NULL, 0, NULL, 0);
}

static int wl_failed(struct kmig_workload *w)
{
	return kmig_wl_send(conn(w)->sock, KMIG_WL_FAILED, NULL, 0, NULL, 0);
}

/*
 * A workload that throttles itself gets THROTTLE; any other is throttled
 * through a cgroup (created on the first non-zero @pct, removed at 0).
 */
static int wl_throttle(struct kmig_workload *w, unsigned int pct)
{
	struct kmig_wl_throttle t = { .pct = pct };
	char err[512];
	int ret;

	if (pct > 99)
		return -EINVAL;
	if (conn(w)->features & KMIG_WL_F_THROTTLE)
		return kmig_wl_send(conn(w)->sock, KMIG_WL_THROTTLE, &t, sizeof(t), NULL, 0);
	ret = kmig_cg_throttle_set(&conn(w)->cg, w->pid, pct, err, sizeof(err));
	if (ret)
		kmig_log(KMIG_LOG_WARN, "throttle", "pid %d: %s", w->pid, err);
	return ret;
}

/*
 * KMIG_WL_F_REROLE: the started destination workload is a source now; it
 * sends a uffd per block it could make one for, then SOURCE.
 */
static int become_source(struct kmig_workload *w, int timeout_ms)
{
	int64_t deadline = kmig_now_ms() + timeout_ms;
	int sock = conn(w)->sock;

	for (unsigned int got = 0; got <= w->nblocks; got++) {
		struct kmig_wl_hdr h;
		struct kmig_wl_uffd u;
		int fds[KMIG_WL_MAX_FDS];
		int ret = wait_readable(sock, left_ms(deadline));

		if (!ret)
			ret = kmig_wl_recv(sock, &h, &u, sizeof(u), fds);
		if (ret)
			return ret;
		if (h.type == KMIG_WL_SOURCE && !h.len && fds[0] < 0) {
			w->role = KMIG_ROLE_SRC;
			return 0;
		}
		if (h.type != KMIG_WL_UFFD || h.len != sizeof(u) || u.reserved ||
		    u.block >= w->nblocks || fds[0] < 0 || fds[1] >= 0 ||
		    w->blocks[u.block].uffd >= 0) {
			close_fds(fds);
			return -EPROTO;
		}
		w->blocks[u.block].uffd = fds[0];
		w->blocks[u.block].uffd_api_done = false;
	}
	return -EPROTO;
}

static int load_as(struct kmig_workload *w, uint16_t type, const void *state, uint32_t len,
		   int timeout_ms, char *err, size_t n)
{
	int ret = kmig_wl_send(conn(w)->sock, type, state, len, NULL, 0);

	if (!ret)
		ret = expect(conn(w)->sock, KMIG_WL_STARTED, NULL, 0, true, timeout_ms, NULL, NULL);
	if (ret) {
		snprintf(err, n, "the destination workload (pid %d) did not start: %s", w->pid,
			 strerror(-ret));
		return ret;
	}
	if ((conn(w)->features & KMIG_WL_F_REROLE) && become_source(w, timeout_ms))
		/* it runs, but cannot be migrated on: kmigd will drop it */
		kmig_log(KMIG_LOG_WARN, "workload", "pid %d started but did not become a source",
			 w->pid);
	return 0;
}

static int wl_load(struct kmig_workload *w, const void *state, uint32_t len, int timeout_ms,
		   char *err, size_t n)
{
	return load_as(w, KMIG_WL_LOAD, state, len, timeout_ms, err, n);
}

/* KMIG_WL_F_POSTCOPY: it starts while its pages are still arriving */
static int wl_load_postcopy(struct kmig_workload *w, const void *state, uint32_t len,
			    int timeout_ms, char *err, size_t n)
{
	if (!w->postcopy) {
		snprintf(err, n, "the destination workload (pid %d) cannot start before its memory "
			 "arrived", w->pid);
		return -EOPNOTSUPP;
	}
	return load_as(w, KMIG_WL_LOAD_POSTCOPY, state, len, timeout_ms, err, n);
}

static int wl_arrived(struct kmig_workload *w)
{
	return kmig_wl_send(conn(w)->sock, KMIG_WL_ARRIVED, NULL, 0, NULL, 0);
}

static const struct kmig_wl_ops wl_conn_ops = {
	.pause = wl_pause,
	.resume = wl_resume,
	.migrated = wl_migrated,
	.load = wl_load,
	.failed = wl_failed,
	.throttle = wl_throttle,
	.load_postcopy = wl_load_postcopy,
	.arrived = wl_arrived,
};
