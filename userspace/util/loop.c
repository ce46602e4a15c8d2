// SPDX-License-Identifier: GPL-2.0-only
/*
 * loop.c: epoll event loop with a cross-thread post queue (see loop.h).
 * An eventfd wakes the loop for posts and for stop requests.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop.h"

struct fd_slot {
	kmig_fd_cb cb;
	void *opaque;
	bool used;
};

struct post {
	kmig_post_fn fn;
	void *arg;
	struct post *next;
};

struct kmig_loop {
	int epfd;
	int wakefd;
	struct fd_slot *fds;
	int nfds;
	volatile sig_atomic_t stop;
	pthread_t runner;	/* the thread in kmig_loop_run */
	bool running;
	pthread_mutex_t lock;	/* guards posts */
	struct post *head, **tail;
};

struct kmig_loop *kmig_loop_new(void)
{
	struct kmig_loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wakefd < 0)
		goto fail;
	ev.data.fd = l->wakefd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0)
		goto fail;
	pthread_mutex_init(&l->lock, NULL);
	l->tail = &l->head;
	return l;
fail:
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	free(l);
	return NULL;
}

void kmig_loop_free(struct kmig_loop *l)
{
	struct post *p;

	if (!l)
		return;
	while ((p = l->head)) {
		l->head = p->next;
		free(p);
	}
	close(l->epfd);
	close(l->wakefd);
	pthread_mutex_destroy(&l->lock);
	free(l->fds);
	free(l);
}

static uint32_t to_epoll(unsigned int ev)
{
	return (ev & KMIG_EV_READ ? EPOLLIN : 0) | (ev & KMIG_EV_WRITE ? EPOLLOUT : 0);
}

int kmig_loop_add(struct kmig_loop *l, int fd, unsigned int ev, kmig_fd_cb cb, void *opaque)
{
	struct epoll_event e = { .events = to_epoll(ev), .data.fd = fd };

	if (fd < 0)
		return -EBADF;
	if (fd >= l->nfds) {
		int n = fd + 64;
		struct fd_slot *s = realloc(l->fds, n * sizeof(*s));

		if (!s)
			return -ENOMEM;
		memset(s + l->nfds, 0, (n - l->nfds) * sizeof(*s));
		l->fds = s;
		l->nfds = n;
	}
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		return -errno;
	l->fds[fd] = (struct fd_slot){ .cb = cb, .opaque = opaque, .used = true };
	return 0;
}

int kmig_loop_mod(struct kmig_loop *l, int fd, unsigned int ev)
{
	struct epoll_event e = { .events = to_epoll(ev), .data.fd = fd };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &e) < 0 ? -errno : 0;
}

void kmig_loop_del(struct kmig_loop *l, int fd)
{
	if (fd < 0 || fd >= l->nfds || !l->fds[fd].used)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[fd].used = false;
}

static void wake(struct kmig_loop *l)
{
	uint64_t one = 1;
	ssize_t r = write(l->wakefd, &one, sizeof(one));

	(void)r;	/* EAGAIN means a wake-up is already pending */
}

void kmig_loop_stop(struct kmig_loop *l)
{
	l->stop = 1;
	wake(l);
}

int kmig_loop_post(struct kmig_loop *l, kmig_post_fn fn, void *arg)
{
	struct post *p = malloc(sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&l->lock);
	*l->tail = p;
	l->tail = &p->next;
	pthread_mutex_unlock(&l->lock);
	wake(l);
	return 0;
}

static void run_posts(struct kmig_loop *l)
{
	struct post *p;
	uint64_t v;
	ssize_t r = read(l->wakefd, &v, sizeof(v));

	(void)r;
	pthread_mutex_lock(&l->lock);
	p = l->head;
	l->head = NULL;
	l->tail = &l->head;
	pthread_mutex_unlock(&l->lock);
	while (p) {
		struct post *next = p->next;

		p->fn(p->arg);
		free(p);
		p = next;
	}
}

void kmig_loop_run_pending(struct kmig_loop *l)
{
	run_posts(l);
}

bool kmig_loop_is_current(struct kmig_loop *l)
{
	return l->running && pthread_equal(l->runner, pthread_self());
}

/* one epoll_wait of at most @timeout_ms and its callbacks; 0 or -errno */
static int run_once(struct kmig_loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(l->epfd, evs, 64, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n && !l->stop; i++) {
		int fd = evs[i].data.fd;
		unsigned int ev = 0;

		if (fd == l->wakefd) {
			run_posts(l);
			continue;
		}
		/* an earlier callback in this batch may have closed it */
		if (fd >= l->nfds || !l->fds[fd].used)
			continue;
		if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			ev |= KMIG_EV_READ;
		if (evs[i].events & EPOLLOUT)
			ev |= KMIG_EV_WRITE;
		l->fds[fd].cb(l, fd, ev, l->fds[fd].opaque);
	}
	return 0;
}

int kmig_loop_run(struct kmig_loop *l)
{
	l->runner = pthread_self();
	l->running = true;
	while (!l->stop) {
		int ret = run_once(l, -1);

		if (ret)
			return ret;
	}
	return 0;
}

int kmig_loop_run_once(struct kmig_loop *l, int timeout_ms)
{
	l->runner = pthread_self();
	l->running = true;
	return run_once(l, timeout_ms);
}
