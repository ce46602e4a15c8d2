// SPDX-License-Identifier: GPL-2.0-only
/*
 * dst_fault.c: the destination's userfaultfd side of postcopy.  The
 * workload created one userfaultfd per block (it must: a uffd acts on its
 * creator's memory) and handed it over; here each is registered for
 * missing pages over the workload's own mapping, and a fault thread reads
 * the workload's faults, asks the source for each missing page once per
 * connection (REQUEST on the return path), and times each fault until its
 * page is placed (dst_postcopy.c places pages; kmig_dst_fault_placed
 * closes the loop).  Nothing here writes the workload's memory except
 * UFFDIO_ZEROPAGE for a page known to be all zeroes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dst_pc.h"
#include "uffd_compat.h"
#include "log.h"
#include "pagehash.h"

#define MSGS 16		/* uffd messages read at once */

/* the ioctls placement needs on a registered range */
#define NEED_IOCTLS ((1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) | (1ull << _UFFDIO_WAKE))

bool kmig_postcopy_supported(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MISSING_SHMEM };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	bool ok = fd >= 0 && ioctl(fd, UFFDIO_API, &api) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

int kmig_dst_fault_register(struct kmig_dst *d)
{
	struct kmig_dst_pc *pc = d->pc;

	for (unsigned int bi = 0; bi < d->nblk; bi++) {
		struct kmig_block *b = d->blk[bi].b;
		struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MISSING_SHMEM };
		struct uffdio_register reg = { .range = { .start = b->wl_addr, .len = b->size },
					       .mode = UFFDIO_REGISTER_MODE_MISSING };

		if (b->pc_uffd < 0)
			return kmig_dst_fail(d, -EOPNOTSUPP, "the destination workload cannot start "
					     "before its memory arrived (no userfaultfd for block "
					     "'%s'): postcopy needs libkmig's KMIG_OPT_POSTCOPY",
					     b->name);
		if (ioctl(b->pc_uffd, UFFDIO_API, &api) < 0)
			return kmig_dst_fail(d, -errno, "userfaultfd of block '%s' refuses missing-page "
					     "handling on shared memory: %s", b->name, strerror(errno));
		if (ioctl(b->pc_uffd, UFFDIO_REGISTER, &reg) < 0)
			return kmig_dst_fail(d, -errno, "cannot register block '%s' of the destination "
					     "workload for missing pages: %s", b->name,
					     strerror(errno));
		pc->registered[bi] = true;
		if ((reg.ioctls & NEED_IOCTLS) != NEED_IOCTLS)
			return kmig_dst_fail(d, -EOPNOTSUPP, "block '%s': this kernel cannot place "
					     "pages atomically in shared memory (ioctls %#llx)",
					     b->name, (unsigned long long)reg.ioctls);
	}
	return 0;
}

void kmig_dst_fault_unregister(struct kmig_dst *d)
{
	struct kmig_dst_pc *pc = d->pc;

	for (unsigned int bi = 0; pc && bi < d->nblk; bi++) {
		struct kmig_block *b = d->blk[bi].b;
		struct uffdio_range r = { .start = b->wl_addr, .len = b->size };

		if (pc->registered[bi] && ioctl(b->pc_uffd, UFFDIO_UNREGISTER, &r) < 0)
			kmig_log(KMIG_LOG_WARN, "postcopy", "unregistering block '%s': %s", b->name,
				 strerror(errno));
		pc->registered[bi] = false;
	}
}

/* asks for page @i of block @bi (pc->lock not held); false if the link is down */
static bool ask(struct kmig_dst *d, unsigned int bi, uint64_t i)
{
	struct kmig_wire_rec r = { .type = KMIG_REC_REQUEST, .block = bi,
				   .offset = i << KMIG_PAGE_SHIFT, .count = 1 };

	return kmig_dst_reply(d, &r, NULL) == 0;
}

/* a fault on a page that already arrived: only a hole read as zero can be it */
static void resolve_here(struct kmig_dst *d, unsigned int bi, uint64_t addr)
{
	int fd = d->blk[bi].b->pc_uffd;
	struct uffdio_zeropage z = { .range = { .start = addr, .len = KMIG_PAGE_SIZE } };
	struct uffdio_range w = { .start = addr, .len = KMIG_PAGE_SIZE };

	if (ioctl(fd, UFFDIO_ZEROPAGE, &z) < 0 && errno != EEXIST)
		kmig_log(KMIG_LOG_DEBUG, "postcopy", "zero page at %#llx: %s",
			 (unsigned long long)addr, strerror(errno));
	ioctl(fd, UFFDIO_WAKE, &w);	/* for a fault that raced its page */
}

static void on_fault(struct kmig_dst *d, unsigned int bi, uint64_t addr)
{
	struct kmig_dst_pc *pc = d->pc;
	struct kmig_dstblk *db = &d->blk[bi];
	uint64_t base = db->b->wl_addr, i;
	bool want = false;

	if (addr < base || addr - base >= db->b->size)
		return;		/* not this block's (cannot happen: only it is registered) */
	addr &= ~(uint64_t)(KMIG_PAGE_SIZE - 1);
	i = (addr - base) >> KMIG_PAGE_SHIFT;
	pthread_mutex_lock(&pc->lock);
	pc->faults++;
	if (kmig_dst_seen(db, i)) {
		pthread_mutex_unlock(&pc->lock);
		resolve_here(d, bi, addr);
		return;
	}
	if (!pc->req_ns[bi][i])
		pc->req_ns[bi][i] = kmig_now_ns();
	if (pc->link_up && !(pc->asked[bi][i / 64] & (1ull << (i % 64)))) {
		pc->asked[bi][i / 64] |= 1ull << (i % 64);
		pc->requests++;
		want = true;
	}
	pthread_mutex_unlock(&pc->lock);
	if (want && !ask(d, bi, i)) {
		/* the link broke: asked again when it is back */
		pthread_mutex_lock(&pc->lock);
		pc->asked[bi][i / 64] &= ~(1ull << (i % 64));
		pthread_mutex_unlock(&pc->lock);
	}
}

/* reads what one block's userfaultfd has; false once it is unusable */
static bool drain(struct kmig_dst *d, unsigned int bi)
{
	struct uffd_msg msg[MSGS];
	ssize_t n = read(d->blk[bi].b->pc_uffd, msg, sizeof(msg));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	for (ssize_t k = 0; k < n / (ssize_t)sizeof(msg[0]); k++)
		if (msg[k].event == UFFD_EVENT_PAGEFAULT)
			on_fault(d, bi, msg[k].arg.pagefault.address);
	return true;
}

static void *fault_main(void *arg)
{
	struct kmig_dst *d = arg;
	struct pollfd pf[1 + KMIG_WIRE_MAX_BLOCKS];

	pf[0] = (struct pollfd){ .fd = d->pc->stop_fd, .events = POLLIN };
	for (unsigned int bi = 0; bi < d->nblk; bi++)
		pf[1 + bi] = (struct pollfd){ .fd = d->blk[bi].b->pc_uffd, .events = POLLIN };
	for (;;) {
		if (poll(pf, 1 + d->nblk, -1) < 0) {
			if (errno == EINTR)
				continue;
			kmig_log(KMIG_LOG_ERR, "postcopy", "fault thread: poll: %s", strerror(errno));
			break;
		}
		if (pf[0].revents)
			break;
		for (unsigned int bi = 0; bi < d->nblk; bi++) {
			if (!(pf[1 + bi].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (!drain(d, bi)) {
				kmig_log(KMIG_LOG_WARN, "postcopy", "the userfaultfd of block '%s' "
					 "closed (the workload went away?)", d->blk[bi].b->name);
				pf[1 + bi].fd = -1;
			}
		}
		kmig_dst_pc_publish(d);
	}
	return NULL;
}

int kmig_dst_fault_start(struct kmig_dst *d)
{
	struct kmig_dst_pc *pc = d->pc;
	int ret;

	pc->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pc->stop_fd < 0)
		return kmig_dst_fail(d, -errno, "cannot make the fault thread's eventfd: %s",
				     strerror(errno));
	ret = pthread_create(&pc->fault_thr, NULL, fault_main, d);
	if (ret)
		return kmig_dst_fail(d, -ret, "cannot start the fault thread: %s", strerror(ret));
	pc->fault_live = true;
	return 0;
}

void kmig_dst_fault_stop(struct kmig_dst *d)
{
	struct kmig_dst_pc *pc = d->pc;
	uint64_t one = 1;

	if (!pc || !pc->fault_live)
		return;
	if (write(pc->stop_fd, &one, sizeof(one)) != sizeof(one))
		kmig_log(KMIG_LOG_WARN, "postcopy", "cannot stop the fault thread: %s",
			 strerror(errno));
	pthread_join(pc->fault_thr, NULL);
	pc->fault_live = false;
}

void kmig_dst_fault_placed(struct kmig_dst *d, unsigned int bi, uint64_t first, uint64_t n)
{
	struct kmig_dst_pc *pc = d->pc;
	struct kmig_dstblk *db = &d->blk[bi];
	int64_t now;

	pthread_mutex_lock(&pc->lock);
	now = kmig_now_ns();	/* after the lock: no fault is read later than this */
	kmig_dst_mark(db, first, n);
	for (uint64_t i = first; i < first + n; i++) {
		int64_t t = pc->req_ns[bi][i];

		if (!t)
			continue;
		pc->req_ns[bi][i] = 0;
		pc->asked[bi][i / 64] &= ~(1ull << (i % 64));
		pc->lat_count++;
		pc->lat_sum_ns += (uint64_t)(now - t);
		if ((uint64_t)(now - t) > pc->lat_max_ns)
			pc->lat_max_ns = (uint64_t)(now - t);
	}
	pc->placed += n;
	pc->missing -= n > pc->missing ? pc->missing : n;
	pthread_mutex_unlock(&pc->lock);
}

void kmig_dst_fault_link(struct kmig_dst *d, bool up)
{
	struct kmig_dst_pc *pc = d->pc;

	pthread_mutex_lock(&pc->lock);
	pc->link_up = up;
	for (unsigned int bi = 0; bi < d->nblk; bi++)
		memset(pc->asked[bi], 0, (d->blk[bi].npages + 63) / 64 * sizeof(uint64_t));
	pthread_mutex_unlock(&pc->lock);
	if (!up)
		return;
	/* every fault still waiting asks again on the new connection */
	for (unsigned int bi = 0; bi < d->nblk; bi++) {
		for (uint64_t i = 0; i < d->blk[bi].npages; i++) {
			bool want;

			pthread_mutex_lock(&pc->lock);
			want = pc->req_ns[bi][i] && !kmig_dst_seen(&d->blk[bi], i);
			if (want) {
				pc->asked[bi][i / 64] |= 1ull << (i % 64);
				pc->requests++;
			}
			pthread_mutex_unlock(&pc->lock);
			if (want && !ask(d, bi, i))
				return;		/* broke again: the next resume asks */
		}
	}
}
