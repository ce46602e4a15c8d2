// SPDX-License-Identifier: GPL-2.0-only
/*
 * wl_server.c: kmigd's workload socket (see wl_server.h).  One workload at
 * a time: a VMM's guest or one in-memory store per agent.  Registration
 * runs on a short-lived thread (bounded by one deadline); after that the
 * socket is only watched for the workload going away, except while a
 * migration owns it.  A workload that comes back after its previous agent
 * died registers here like a new one (saying whether it is paused).
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

#include "log.h"
#include "loop.h"
#include "migrate.h"
#include "wl_conn.h"
#include "wl_proto.h"
#include "wl_server.h"

#define REGISTER_TIMEOUT_MS 5000	/* for the whole registration */

struct kmig_wl_server {
	struct kmig_loop *loop;
	struct kmig_mig *mig;
	int listen_fd;
	char path[108];
	struct kmig_workload *wl;
	bool watched;			/* wl's socket is in the loop */
	bool registering;		/* a registration thread runs */
	bool closing;
};

static void drop(struct kmig_wl_server *s)
{
	struct kmig_workload *w = s->wl;

	if (!w || !kmig_mig_detach_workload(s->mig, w))
		return;
	if (s->watched)
		kmig_loop_del(s->loop, kmig_wl_conn_sock(w));
	s->watched = false;
	kmig_log(KMIG_LOG_INFO, "workload", "gone pid=%d", w->pid);
	kmig_wl_conn_free(w);
	s->wl = NULL;
}

/* readable while registered: the workload exited, or broke the protocol */
static void on_wl(struct kmig_loop *l, int fd, unsigned int ev, void *opaque)
{
	struct kmig_wl_server *s = opaque;

	if (kmig_mig_workload_busy(s->mig)) {
		/* the migration thread talks to it now; watch again when it is done */
		kmig_loop_del(l, fd);
		s->watched = false;
		return;
	}
	drop(s);
}

static void watch(struct kmig_wl_server *s)
{
	if (s->wl && !s->watched &&
	    kmig_loop_add(s->loop, kmig_wl_conn_sock(s->wl), KMIG_EV_READ, on_wl, s) == 0)
		s->watched = true;
}

void kmig_wl_server_returned(struct kmig_wl_server *s)
{
	if (s)
		watch(s);
}

/* a registration on its way back from its thread to the loop */
struct reg {
	struct kmig_wl_server *s;
	int fd;
	struct kmig_workload *w;
	char err[512];
};

/* loop thread: the registration thread is done */
static void on_registered(void *arg)
{
	struct reg *r = arg;
	struct kmig_wl_server *s = r->s;
	struct kmig_workload *w = r->w;

	s->registering = false;
	if (!w) {
		kmig_log(KMIG_LOG_WARN, "workload", "registration failed: %s", r->err);
	} else if (s->closing || s->wl || kmig_mig_attach_workload(s->mig, w)) {
		kmig_log(KMIG_LOG_WARN, "workload", "refused pid %d: another workload is registered",
			 w->pid);
		kmig_wl_conn_free(w);
	} else if (kmig_wl_conn_accept(w)) {
		kmig_log(KMIG_LOG_WARN, "workload", "pid %d left during registration", w->pid);
		kmig_mig_detach_workload(s->mig, w);
		kmig_wl_conn_free(w);
	} else {
		s->wl = w;
		watch(s);
		kmig_log(KMIG_LOG_INFO, "workload", "registered pid=%d role=%s blocks=%u "
			 "size=%llu features=%#llx%s", w->pid,
			 w->role == KMIG_ROLE_SRC ? "source" : "destination", w->nblocks,
			 (unsigned long long)w->blocks[0].size,
			 (unsigned long long)kmig_wl_conn_features(w),
			 w->paused ? " paused (held until cont)" : "");
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

	r->w = kmig_wl_conn_register(r->fd, REGISTER_TIMEOUT_MS, r->err, sizeof(r->err));
	if (kmig_loop_post(r->s->loop, on_registered, r) < 0) {
		kmig_wl_conn_free(r->w);	/* cannot happen short of OOM */
		free(r);
	}
	return NULL;
}

static void on_accept(struct kmig_loop *l, int lfd, unsigned int ev, void *opaque)
{
	struct kmig_wl_server *s = opaque;
	pthread_attr_t attr;
	struct reg *r;
	pthread_t t;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (s->wl || s->registering) {
		kmig_log(KMIG_LOG_WARN, "workload", "refused a second workload: one is %s",
			 s->wl ? "registered" : "registering");
		close(fd);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return;
	}
	r->s = s;
	r->fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, register_thread, r)) {
		kmig_log(KMIG_LOG_WARN, "workload", "cannot start a registration thread");
		close(fd);
		free(r);
	} else {
		s->registering = true;
	}
	pthread_attr_destroy(&attr);
}

struct kmig_wl_server *kmig_wl_server_new(struct kmig_loop *loop, struct kmig_mig *mig,
					  const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct kmig_wl_server *s;
	mode_t old;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		kmig_log(KMIG_LOG_ERR, "workload", "socket path too long: %s", path);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		free(s);
		return NULL;
	}
	unlink(path);
	old = umask(0177);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0 || listen(fd, 4) < 0 || kmig_loop_add(loop, fd, KMIG_EV_READ, on_accept, s) < 0) {
		kmig_log(KMIG_LOG_ERR, "workload", "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		free(s);
		return NULL;
	}
	s->loop = loop;
	s->mig = mig;
	s->listen_fd = fd;
	snprintf(s->path, sizeof(s->path), "%s", path);
	return s;
}

void kmig_wl_server_free(struct kmig_wl_server *s)
{
	if (!s)
		return;
	s->closing = true;
	/* a registration thread posts to the loop: let it finish (bounded by its deadline) */
	for (int i = 0; s->registering && i < (REGISTER_TIMEOUT_MS + 1000) / 10; i++) {
		usleep(10000);
		kmig_loop_run_pending(s->loop);
	}
	kmig_loop_del(s->loop, s->listen_fd);
	close(s->listen_fd);
	unlink(s->path);
	if (s->wl) {
		if (s->watched)
			kmig_loop_del(s->loop, kmig_wl_conn_sock(s->wl));
		/* at shutdown the engine is gone (mig NULL): nobody else holds it */
		if (!s->mig || kmig_mig_detach_workload(s->mig, s->wl))
			kmig_wl_conn_free(s->wl);
		s->wl = NULL;
	}
	free(s);
}
