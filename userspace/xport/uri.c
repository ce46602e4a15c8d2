// SPDX-License-Identifier: GPL-2.0-only
/*
 * uri.c: parses migration URIs (see uri.h) with QEMU's error texts:
 * "Parameter 'uri' expects a valid migration protocol" for an unknown
 * scheme, "error parsing address '...'" for a tcp address without a port.
 * dpdk: options are checked here too (dpdk_opts.c), DPDK or not.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "dpdk_opts.h"
#include "uri.h"
#include "xport.h"

static const struct {
	const char *prefix;
	enum kmig_uri_kind kind;
	const struct kmig_chan_ops *ops;
} schemes[] = {
	{ "tcp:", KMIG_URI_TCP, &kmig_chan_tcp_ops },
	{ "unix:", KMIG_URI_UNIX, &kmig_chan_unix_ops },
	{ "exec:", KMIG_URI_EXEC, &kmig_chan_exec_ops },
	{ "fd:", KMIG_URI_FD, &kmig_chan_fd_ops },
	{ "file:", KMIG_URI_FILE, &kmig_chan_file_ops },
	{ "dpdk:", KMIG_URI_DPDK, &kmig_chan_dpdk_ops },
};

static int parse_inet(const char *a, struct kmig_uri *u, char *err, size_t n)
{
	const char *colon, *hend, *opts = strchr(a, ',');
	size_t alen = opts ? (size_t)(opts - a) : strlen(a);
	char addr[512];

	if (alen >= sizeof(addr))
		goto bad;
	memcpy(addr, a, alen);
	addr[alen] = 0;
	if (addr[0] == '[') {
		hend = strchr(addr, ']');
		if (!hend || hend[1] != ':')
			goto bad;
		snprintf(u->host, sizeof(u->host), "%.*s", (int)(hend - addr - 1), addr + 1);
		colon = hend + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			goto bad;
		if ((size_t)(colon - addr) >= sizeof(u->host))
			goto bad;
		snprintf(u->host, sizeof(u->host), "%.*s", (int)(colon - addr), addr);
	}
	if (!colon[1] || strlen(colon + 1) >= sizeof(u->port))
		goto bad;
	snprintf(u->port, sizeof(u->port), "%s", colon + 1);
	return 0;
bad:
	snprintf(err, n, "error parsing address '%.*s'", (int)alen, a);
	return -EINVAL;
}

int kmig_uri_parse(const char *s, struct kmig_uri *u, bool *bad_scheme, char *err, size_t n)
{
	memset(u, 0, sizeof(*u));
	u->fd = -1;
	*bad_scheme = false;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t len = strlen(schemes[i].prefix);
		const char *rest = s + len;

		if (strncmp(s, schemes[i].prefix, len))
			continue;
		u->kind = schemes[i].kind;
		u->ops = schemes[i].ops;
		u->data_chans = u->ops->caps & KMIG_CHAN_F_MULTI ? UINT_MAX : 0;
		if (u->kind == KMIG_URI_TCP)
			return parse_inet(rest, u, err, n);
		if (u->kind == KMIG_URI_DPDK) {
			struct kmig_dpdk_opts o;
			int ret = kmig_dpdk_opts_parse(rest, &o, err, n);

			/* the back end parses the options again when it opens */
			if (!ret)
				snprintf(u->path, sizeof(u->path), "%s", rest);
			u->data_chans = o.queues - 1;	/* a queue pair per channel */
			return ret;
		}
		if (!*rest || strlen(rest) >= sizeof(u->path)) {
			snprintf(err, n, "Parameter 'uri' expects a non-empty %.*s path of at most "
				 "%zu bytes", (int)(len - 1), s, sizeof(u->path) - 1);
			return -EINVAL;
		}
		snprintf(u->path, sizeof(u->path), "%s", rest);
		return 0;
	}
	*bad_scheme = true;
	if (!strncmp(s, "rdma:", 5))
		snprintf(err, n, "RDMA migration is not supported by kmig "
			 "(use tcp:, unix: or the DPDK transport)");
	else
		snprintf(err, n, "Parameter 'uri' expects a valid migration protocol");
	return -EINVAL;
}

const char *kmig_uri_scheme(const struct kmig_uri *u)
{
	return u->ops ? u->ops->scheme : "";
}
