// SPDX-License-Identifier: GPL-2.0-only
/*
 * sendloop.c: kmig-sendloop, the baseline `make bench` measures migration
 * against: a bare send() loop moving the same number of bytes over TCP
 * loopback, from a pre-written memfd mapping (like a RAM block) into a
 * pre-allocated receive mapping (like the destination's block), with the
 * same socket buffer sizes kmig uses.  Prints one JSON line.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *block(size_t size, int fill)
{
	int fd = memfd_create("sendloop", MFD_CLOEXEC);
	void *p;

	if (fd < 0 || ftruncate(fd, size) < 0 || fallocate(fd, 0, 0, size) < 0)
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	if (fill)
		for (size_t i = 0; i < size; i += 8)
			*(unsigned long long *)((char *)p + i) = i * 0x9e3779b97f4a7c15ull;
	return p;
}

/* CPU seconds this process used so far */
static double cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void tune(int fd)
{
	int one = 1, buf = 4 << 20;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int main(int argc, char **argv)
{
	size_t size = (argc > 1 ? strtoull(argv[1], NULL, 0) : 1024) << 20;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd, st;
	char *src, *dst;
	double t0, t1, c0, rcpu;
	pid_t pid;

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		fprintf(stderr, "kmig-sendloop: cannot listen on loopback: %s\n", strerror(errno));
		return 1;
	}
	pid = fork();
	if (pid == 0) {	/* receiver */
		dst = block(size, 0);
		fd = accept(lfd, NULL, NULL);
		if (!dst || fd < 0)
			_exit(1);
		tune(fd);
		c0 = cpu();
		for (size_t off = 0; off < size;) {
			ssize_t r = recv(fd, dst + off, size - off, 0);

			if (r <= 0)
				_exit(1);
			off += r;
		}
		rcpu = cpu() - c0;
		/* done (the sender stops its clock), and what receiving cost */
		if (send(fd, &rcpu, sizeof(rcpu), 0) != sizeof(rcpu))
			_exit(1);
		_exit(0);
	}
	src = block(size, 1);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (!src || fd < 0) {
		fprintf(stderr, "kmig-sendloop: out of memory\n");
		return 1;
	}
	tune(fd);
	sleep(1);	/* let the receiver fault its buffer in first, as kmigd does at registration */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "kmig-sendloop: connect: %s\n", strerror(errno));
		return 1;
	}
	t0 = now();
	c0 = cpu();
	for (size_t off = 0; off < size;) {
		ssize_t w = send(fd, src + off, size - off < CHUNK ? size - off : CHUNK, 0);

		if (w < 0) {
			fprintf(stderr, "kmig-sendloop: send: %s\n", strerror(errno));
			return 1;
		}
		off += w;
	}
	if (recv(fd, &rcpu, sizeof(rcpu), MSG_WAITALL) != sizeof(rcpu))
		return 1;
	t1 = now();
	c0 = cpu() - c0;
	waitpid(pid, &st, 0);
	printf("{\"bytes\": %zu, \"seconds\": %.6f, \"gib_per_s\": %.4f, \"cpu_s\": %.4f}\n",
	       size, t1 - t0, size / (t1 - t0) / (1u << 30), c0 + rcpu);
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : 1;
}
