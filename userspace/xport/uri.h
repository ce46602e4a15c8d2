/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * uri.h: migration URIs as QEMU spells them: tcp:HOST:PORT, unix:PATH,
 * exec:CMD, fd:NAME, file:PATH, and kmig's dpdk:OPTIONS (dpdk_opts.h); each
 * scheme names a channel back end (xport.h).  Parsing only, with QEMU's
 * error texts; opening is the back end's.  No QMP types here: errors are
 * plain text.
 */
#ifndef KMIG_URI_H
#define KMIG_URI_H

#include <stdbool.h>
#include <stddef.h>

enum kmig_uri_kind { KMIG_URI_TCP, KMIG_URI_UNIX, KMIG_URI_EXEC, KMIG_URI_FD, KMIG_URI_FILE,
		      KMIG_URI_DPDK };

struct kmig_chan_ops;

/**
 * struct kmig_uri - a parsed migration URI
 * @kind: which scheme
 * @ops:  the channel back end serving it
 * @host: tcp host (brackets of an IPv6 literal removed)
 * @port: tcp port, as text (service names allowed, as getaddrinfo takes them)
 * @path: unix socket path, file path, exec command line, fd name or the
 *        options of a dpdk: URI
 * @fd:   fd: the descriptor the name stood for (the QMP layer fills it in;
 *        the channel then owns it), else -1
 * @data_chans: multifd data channels the URI can carry besides the main
 *        channel: UINT_MAX where the back end opens as many as asked
 *        (KMIG_CHAN_F_MULTI), 0 where it opens none; dpdk: its queues less one
 */
struct kmig_uri {
	enum kmig_uri_kind kind;
	const struct kmig_chan_ops *ops;
	char host[256];
	char port[32];
	char path[4096];
	int fd;
	unsigned int data_chans;
};

/*
 * Returns 0, or -EINVAL with @err set.  *@bad_scheme tells the caller that
 * the scheme itself was unknown (QEMU then reports no error-desc).
 */
int kmig_uri_parse(const char *s, struct kmig_uri *u, bool *bad_scheme, char *err, size_t n);

/* the scheme's name, as query-migrate's x-kmig-transport reports it */
const char *kmig_uri_scheme(const struct kmig_uri *u);

#endif
