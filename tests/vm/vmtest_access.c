// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtest_access.c: who may track what.  /dev/kmig is 0600 root; with it
 * opened up (chmod 0666, as an admin could), an unprivileged user may
 * track only memfds it owns, never another user's (EPERM), and root
 * (CAP_SYS_ADMIN) may track anyone's.  Each case runs in a child that
 * drops to its uid, and reports back through its exit status.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmtest.h"

#define UID_A	1001
#define UID_B	1002

/* runs @fn(@arg) as @uid in a child; returns its exit status (or 255) */
static int as_user(uid_t uid, int (*fn)(int), int arg)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return 255;
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
			_exit(254);
		_exit(fn(arg));
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 255;
	return WEXITSTATUS(st);
}

/* exit status: 0 if open(/dev/kmig) failed with EACCES while /dev/null opens */
static int try_open(int unused __attribute__((unused)))
{
	int fd, nul = open("/dev/null", O_RDWR);

	if (nul < 0)
		return 2;
	fd = open("/dev/kmig", O_RDWR);
	return fd < 0 && errno == EACCES ? 0 : 1;
}

/* exit status: the errno of TRACK on @fd, 0 on success */
static int try_track(int fd)
{
	int dev = kmig_open_api();

	if (dev < 0)
		return 100 + (errno & 0x3f);
	if (kmig_track(dev, fd, 0, PG, NULL))
		return errno;
	return 0;
}

/* as a user: its own memfd; exit status as try_track */
static int track_own(int unused __attribute__((unused)))
{
	void *map;
	int fd = memfd_map(4 * PG, &map);

	return fd < 0 ? 99 : try_track(fd);
}

/* as UID_B: creates a memfd and passes it up through fd 3 (a socketpair) */
static int make_memfd_as(uid_t uid, int *out)
{
	int sv[2], st;
	pid_t pid;
	char c = 0;
	struct msghdr m = { 0 };
	struct iovec io = { &c, 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	pid = fork();
	if (pid == 0) {
		void *map;
		int fd;

		if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
			_exit(1);
		fd = memfd_map(4 * PG, &map);
		m.msg_iov = &io;
		m.msg_iovlen = 1;
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), &fd, sizeof(int));
		_exit(fd < 0 || sendmsg(sv[1], &m, 0) != 1);
	}
	m.msg_iov = &io;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	if (pid < 0 || recvmsg(sv[0], &m, 0) != 1 || !CMSG_FIRSTHDR(&m)) {
		*out = -1;
	} else {
		memcpy(out, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
	close(sv[0]);
	close(sv[1]);
	return *out < 0 ? -1 : 0;
}

void vmtest_access(void)
{
	struct stat st = { 0 };
	void *map;
	int root_fd = memfd_map(4 * PG, &map), b_fd = -1, r;

	r = stat("/dev/kmig", &st);
	tap(r == 0 && (st.st_mode & 0777) == 0600 && st.st_uid == 0,
	    "/dev/kmig is mode 0600, owned by root (mode %o)", st.st_mode & 0777);
	r = as_user(UID_A, try_open, 0);
	tap(r == 0, "unprivileged user cannot open /dev/kmig (EACCES) but can open /dev/null (%d)", r);
	r = chmod("/dev/kmig", 0666);
	tap(r == 0, "chmod 0666 /dev/kmig, to reach the per-file checks");
	r = as_user(UID_A, try_track, root_fd);
	tap(r == EPERM, "user %d tracking root's memfd: EPERM (got %d)", UID_A, r);
	r = as_user(UID_A, track_own, 0);
	tap(r == 0, "user %d tracking its own memfd: allowed (got %d)", UID_A, r);
	tap(make_memfd_as(UID_B, &b_fd) == 0, "user %d made a memfd", UID_B);
	r = as_user(UID_A, try_track, b_fd);
	tap(r == EPERM, "user %d tracking user %d's memfd: EPERM (got %d)", UID_A, UID_B, r);
	r = try_track(b_fd);
	tap(r == 0, "root (CAP_SYS_ADMIN) tracking user %d's memfd: allowed (got %d)", UID_B, r);
	chmod("/dev/kmig", 0600);
	close(b_fd);
	close(root_fd);
}
