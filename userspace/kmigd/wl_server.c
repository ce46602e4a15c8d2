// SPDX-License-Identifier: GPL-2.0-only
/*
 * wl_server.c: kmigd's workload socket (see wl_server.h).  One workload at
 * a time: a VMM's guest or one in-memory store per agent.  Registration
 * reads the workload's few messages with a short timeout on the loop
 * thread; after that the socket is only watched for the workload going
 * away, except while a migration owns it.
 */
#include <errno.h>
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

#define REGISTER_TIMEOUT_MS 5000

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

static void on_accept(struct kmig_loop *l, int lfd, unsigned int ev, void *opaque)
{
	struct kmigd *d = opaque;
	struct kmig_workload *w;
	char err[512];
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (d->wl) {
		kmig_log(KMIG_LOG_WARN, "workload", "refused a second workload: pid %d is "
			 "registered", d->wl->pid);
		close(fd);
		return;
	}
	w = kmig_workload_register(fd, REGISTER_TIMEOUT_MS, err, sizeof(err));
	if (!w) {
		kmig_log(KMIG_LOG_WARN, "workload", "registration failed: %s", err);
		return;
	}
	if (kmig_mig_attach_workload(d->mig, w)) {
		kmig_log(KMIG_LOG_WARN, "workload", "engine still holds a workload");
		kmig_workload_free(w);
		return;
	}
	d->wl = w;
	d->wl_watched = false;
	watch(d);
	kmig_log(KMIG_LOG_INFO, "workload", "registered pid=%d role=%s blocks=%u size=%llu",
		 w->pid, w->role == KMIG_WL_ROLE_SRC ? "source" : "destination", w->nblocks,
		 (unsigned long long)w->blocks[0].size);
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
