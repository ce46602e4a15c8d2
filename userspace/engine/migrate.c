// SPDX-License-Identifier: GPL-2.0-only
/*
 * migrate.c: migration state, the source thread and the destination
 * listener (see migrate.h).
 *
 * What is here so far is the control skeleton the QMP layer needs: states,
 * timings, error texts, cancel, and opening the channel.  Moving RAM over
 * that channel is the precopy engine's job (not yet in this build): once the
 * channel is open the migration fails with a message saying so.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "migrate.h"

struct kmig_mig {
	pthread_mutex_t lock;	/* guards everything below */
	enum kmig_mig_status status;
	char error_desc[512];
	int64_t start_ms, setup_ms, end_ms;
	struct kmig_uri uri;
	pthread_t thread;
	bool thread_live;
	bool cancel;
	kmig_mig_notify notify;
	void *opaque;
	/* destination */
	int listen_fd;
	bool incoming_started;
	char listen_host[256];
	char listen_port[4096];
	bool listen_unix;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct kmig_mig *kmig_mig_new(kmig_mig_notify notify, void *opaque)
{
	struct kmig_mig *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	m->notify = notify;
	m->opaque = opaque;
	m->listen_fd = -1;
	return m;
}

static void join(struct kmig_mig *m)
{
	if (m->thread_live) {
		pthread_join(m->thread, NULL);
		m->thread_live = false;
	}
}

void kmig_mig_free(struct kmig_mig *m)
{
	if (!m)
		return;
	kmig_mig_cancel(m);
	join(m);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->listen_unix && m->listen_port[0])
		unlink(m->listen_port);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* must be called without the lock; notifies outside it */
static void set_status(struct kmig_mig *m, enum kmig_mig_status st, const char *desc)
{
	pthread_mutex_lock(&m->lock);
	m->status = st;
	if (desc)
		snprintf(m->error_desc, sizeof(m->error_desc), "%s", desc);
	if (st == KMIG_MIG_ACTIVE)
		m->setup_ms = now_ms() - m->start_ms;
	if (st == KMIG_MIG_COMPLETED || st == KMIG_MIG_FAILED || st == KMIG_MIG_CANCELLED)
		m->end_ms = now_ms();
	pthread_mutex_unlock(&m->lock);
	if (m->notify)
		m->notify(m->opaque, st);
}

bool kmig_mig_in_progress(struct kmig_mig *m)
{
	bool busy;

	pthread_mutex_lock(&m->lock);
	busy = m->status == KMIG_MIG_SETUP || m->status == KMIG_MIG_ACTIVE ||
	       m->status == KMIG_MIG_CANCELLING;
	pthread_mutex_unlock(&m->lock);
	return busy;
}

void kmig_mig_fail_early(struct kmig_mig *m, const char *desc)
{
	join(m);
	pthread_mutex_lock(&m->lock);
	m->status = KMIG_MIG_FAILED;
	snprintf(m->error_desc, sizeof(m->error_desc), "%s", desc ? desc : "");
	m->start_ms = m->end_ms = now_ms();
	pthread_mutex_unlock(&m->lock);
}

static bool cancelled(struct kmig_mig *m)
{
	bool c;

	pthread_mutex_lock(&m->lock);
	c = m->cancel;
	pthread_mutex_unlock(&m->lock);
	return c;
}

/* Opens the outgoing channel; returns an fd or -1 with @desc filled. */
static int open_channel(const struct kmig_uri *u, char *desc, size_t n)
{
	int fd = -1, ret;

	if (u->kind == KMIG_URI_TCP) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;

		ret = getaddrinfo(u->host, u->port, &hints, &ai);
		if (ret) {
			snprintf(desc, n, "address resolution failed for %s:%s: %s", u->host,
				 u->port, gai_strerror(ret));
			return -1;
		}
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			snprintf(desc, n, "Failed to connect to '%s:%s': %s", u->host, u->port,
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
		return fd;
	}
	if (u->kind == KMIG_URI_UNIX) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(u->path) >= sizeof(sa.sun_path)) {
			snprintf(desc, n, "UNIX socket path '%s' is too long", u->path);
			return -1;
		}
		strcpy(sa.sun_path, u->path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			snprintf(desc, n, "Failed to connect to '%s': %s", u->path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	snprintf(desc, n, "this transport is not available yet in kmig (tcp: and unix: are)");
	return -1;
}

static void *source_thread(void *arg)
{
	struct kmig_mig *m = arg;
	char desc[512];
	int fd;

	fd = open_channel(&m->uri, desc, sizeof(desc));
	if (cancelled(m)) {
		if (fd >= 0)
			close(fd);
		set_status(m, KMIG_MIG_CANCELLED, NULL);
		return NULL;
	}
	if (fd < 0) {
		kmig_log(KMIG_LOG_WARN, "migrate", "connect failed: %s", desc);
		set_status(m, KMIG_MIG_FAILED, desc);
		return NULL;
	}
	close(fd);
	set_status(m, KMIG_MIG_FAILED,
		   "channel opened, but this kmig build has no precopy engine yet");
	return NULL;
}

int kmig_mig_start(struct kmig_mig *m, const struct kmig_uri *uri, struct kmig_err *err)
{
	int ret;

	join(m);	/* a previous migration's thread has ended: reap it */
	pthread_mutex_lock(&m->lock);
	m->uri = *uri;
	m->cancel = false;
	m->error_desc[0] = 0;
	m->start_ms = now_ms();
	m->setup_ms = m->end_ms = 0;
	m->status = KMIG_MIG_SETUP;
	pthread_mutex_unlock(&m->lock);
	if (m->notify)
		m->notify(m->opaque, KMIG_MIG_SETUP);
	ret = pthread_create(&m->thread, NULL, source_thread, m);
	if (ret) {
		kmig_err_generic(err, "cannot start the migration thread: %s", strerror(ret));
		set_status(m, KMIG_MIG_FAILED, err->desc);
		return -ret;
	}
	m->thread_live = true;
	return 0;
}

void kmig_mig_cancel(struct kmig_mig *m)
{
	bool notify = false;

	pthread_mutex_lock(&m->lock);
	m->cancel = true;
	if (m->status == KMIG_MIG_SETUP || m->status == KMIG_MIG_ACTIVE) {
		m->status = KMIG_MIG_CANCELLING;
		notify = true;
	}
	pthread_mutex_unlock(&m->lock);
	if (notify && m->notify)
		m->notify(m->opaque, KMIG_MIG_CANCELLING);
}

void kmig_mig_get_info(struct kmig_mig *m, struct kmig_mig_info *out)
{
	pthread_mutex_lock(&m->lock);
	memset(out, 0, sizeof(*out));
	out->status = m->status;
	snprintf(out->error_desc, sizeof(out->error_desc), "%s", m->error_desc);
	out->setup_ms = m->setup_ms;
	out->total_ms = (m->end_ms ? m->end_ms : now_ms()) - m->start_ms;
	snprintf(out->listen_host, sizeof(out->listen_host), "%s", m->listen_host);
	snprintf(out->listen_port, sizeof(out->listen_port), "%s", m->listen_port);
	out->listen_unix = m->listen_unix;
	pthread_mutex_unlock(&m->lock);
}

bool kmig_mig_incoming_started(struct kmig_mig *m)
{
	return m->incoming_started;
}

static int listen_tcp(struct kmig_mig *m, const struct kmig_uri *u, struct kmig_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, one = 1, ret;

	ret = getaddrinfo(u->host[0] ? u->host : NULL, u->port, &hints, &ai);
	if (ret) {
		kmig_err_generic(err, "address resolution failed for %s:%s: %s", u->host, u->port,
				 gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		ret = -errno;
		kmig_err_generic(err, "Failed to bind socket: %s", strerror(-ret));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return ret;
	}
	freeaddrinfo(ai);
	char host[256], port[NI_MAXSERV];

	getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	m->listen_fd = fd;
	snprintf(m->listen_host, sizeof(m->listen_host), "%s", host);
	snprintf(m->listen_port, sizeof(m->listen_port), "%s", port);
	return 0;
}

static int listen_unix(struct kmig_mig *m, const struct kmig_uri *u, struct kmig_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(u->path) >= sizeof(sa.sun_path)) {
		kmig_err_generic(err, "UNIX socket path '%s' is too long", u->path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, u->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		ret = -errno;
		kmig_err_generic(err, "Failed to bind socket to %s: %s", u->path, strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	m->listen_fd = fd;
	m->listen_unix = true;
	snprintf(m->listen_port, sizeof(m->listen_port), "%s", u->path);
	return 0;
}

int kmig_mig_incoming(struct kmig_mig *m, const struct kmig_uri *uri, struct kmig_err *err)
{
	int ret;

	if (uri->kind == KMIG_URI_TCP)
		ret = listen_tcp(m, uri, err);
	else if (uri->kind == KMIG_URI_UNIX)
		ret = listen_unix(m, uri, err);
	else {
		kmig_err_generic(err, "incoming migration over this transport is not available "
				 "yet in kmig (tcp: and unix: are)");
		ret = -EOPNOTSUPP;
	}
	if (!ret)
		m->incoming_started = true;
	return ret;
}
