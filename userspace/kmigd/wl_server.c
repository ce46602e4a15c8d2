// SPDX-License-Identifier: GPL-2.0-only
/*
 * wl_server.c: kmigd's workload socket (see wl_server.h).  One workload at
 * a time: a VMM's guest or one in-memory store per agent.  Registration
 * runs on a short-lived thread (bounded by one deadline); after that the
 * socket is only watched for the workload going away, except while a
 * migration owns it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kmigd.h"
#include "log.h"
#include "loop.h"
#include "migrate.h"
#include "wl_server.h"
#include "workload.h"

#define REGISTER_TIMEOUT_MS 5000	/* for the whole registration: QMP waits meanwhile */

static void drop(struct kmigd *d)
{
	struct kmig_workload *w = d->wl;

	if (!w || !kmig_mig_detach_workload(d->mig, w))
		return;
	kmig_loop_del(d->loop, w->sock);
	kmig_log(KMIG_LOG_INFO, "workload", "gone pid=%d", w->pid);
	kmig_workload_free(w);
	d->wl = NULL;
}

/* readable while registered: the workload exited, or broke the protocol */
static void on_wl(struct kmig_loop *l, int fd, unsigned int ev, void *opaque)
{
	struct kmigd *d = opaque;

	if (kmig_mig_workload_busy(d->mig)) {
		/* the migration thread talks to it now; watch again when it is done */
		kmig_loop_del(l, fd);
		d->wl_watched = false;
		return;
	}
	drop(d);
}

static void watch(struct kmigd *d)
{
	if (d->wl && !d->wl_watched &&
	    kmig_loop_add(d->loop, d->wl->sock, KMIG_EV_READ, on_wl, d) == 0)
		d->wl_watched = true;
}

void kmigd_wl_returned(struct kmigd *d)
{
	watch(d);
}

/* a registration on its way back from its thread to the loop */
struct reg {
	struct kmigd *d;
	int fd;
	struct kmig_workload *w;
	char err[512];
};

/* loop thread: the registration thread is done */
static void on_registered(void *arg)
{
	struct reg *r = arg;
	struct kmigd *d = r->d;
	struct kmig_workload *w = r->w;

	d->wl_registering = false;
	if (!w) {
		kmig_log(KMIG_LOG_WARN, "workload", "registration failed: %s", r->err);
	} else if (d->wl || kmig_mig_attach_workload(d->mig, w)) {
		kmig_log(KMIG_LOG_WARN, "workload", "refused pid %d: another workload is registered",
			 w->pid);
		kmig_workload_free(w);
	} else if (kmig_wl_send(w->sock, KMIG_WL_REGISTERED, NULL, 0, NULL, 0)) {
		kmig_log(KMIG_LOG_WARN, "workload", "pid %d left during registration", w->pid);
		kmig_mig_detach_workload(d->mig, w);
		kmig_workload_free(w);
	} else {
		d->wl = w;
		d->wl_watched = false;
		watch(d);
		kmig_log(KMIG_LOG_INFO, "workload", "registered pid=%d role=%s blocks=%u "
			 "size=%llu", w->pid, w->role == KMIG_WL_ROLE_SRC ? "source" : "destination",
			 w->nblocks, (unsigned long long)w->blocks[0].size);
	}
	free(r);
}

/*
 * Registration reads the workload's messages and maps (on the destination:
 * allocates) its RAM, which takes seconds for large blocks: off the loop,
 * so QMP stays responsive.
 */
static void *register_thread(void *arg)
{
	struct reg *r = arg;

	r->w = kmig_workload_register(r->fd, REGISTER_TIMEOUT_MS, r->err, sizeof(r->err));
	if (kmig_loop_post(r->d->loop, on_registered, r) < 0) {
		kmig_workload_free(r->w);	/* cannot happen short of OOM */
		free(r);
	}
	return NULL;
}

static void on_accept(struct kmig_loop *l, int lfd, unsigned int ev, void *opaque)
{
	struct kmigd *d = opaque;
	struct reg *r;
	pthread_attr_t attr;
	pthread_t t;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (d->wl || d->wl_registering) {
		kmig_log(KMIG_LOG_WARN, "workload", "refused a second workload: one is %s",
			 d->wl ? "registered" : "registering");
		close(fd);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return;
	}
	r->d = d;
	r->fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, register_thread, r)) {
		kmig_log(KMIG_LOG_WARN, "workload", "cannot start a registration thread");
		close(fd);
		free(r);
	} else {
		d->wl_registering = true;
	}
	pthread_attr_destroy(&attr);
}

int kmigd_wl_listen(struct kmigd *d, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	old = umask(0177);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0 || listen(fd, 4) < 0 ||
	    kmig_loop_add(d->loop, fd, KMIG_EV_READ, on_accept, d) < 0) {
		ret = -errno;
		kmig_log(KMIG_LOG_ERR, "workload", "cannot listen on %s: %s", path,
			 strerror(-ret));
		close(fd);
		return ret;
	}
	d->wl_listen_fd = fd;
	snprintf(d->wl_path, sizeof(d->wl_path), "%s", path);
	return 0;
}

void kmigd_wl_close(struct kmigd *d)
{
	/* a registration thread posts to the loop: let it finish (bounded by its deadline) */
	for (int i = 0; d->wl_registering && i < (REGISTER_TIMEOUT_MS + 1000) / 10; i++) {
		usleep(10000);
		kmig_loop_run_pending(d->loop);
	}
	if (d->wl_listen_fd > 0) {
		kmig_loop_del(d->loop, d->wl_listen_fd);
		close(d->wl_listen_fd);
		unlink(d->wl_path);
	}
	if (d->wl) {
		if (d->wl_watched)
			kmig_loop_del(d->loop, d->wl->sock);
		/* at shutdown the engine is gone (d->mig NULL): nobody else holds it */
		if (!d->mig || kmig_mig_detach_workload(d->mig, d->wl))
			kmig_workload_free(d->wl);
		d->wl = NULL;
	}
}
