// SPDX-License-Identifier: GPL-2.0-only
/*
 * uri.c: parses migration URIs (see uri.h) with QEMU's error texts:
 * "Parameter 'uri' expects a valid migration protocol" for an unknown
 * scheme, "error parsing address '...'" for a tcp address without a port.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "uri.h"

static int parse_inet(const char *a, struct kmig_uri *u, struct kmig_err *err)
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
	kmig_err_generic(err, "error parsing address '%.*s'", (int)alen, a);
	return -EINVAL;
}

int kmig_uri_parse(const char *s, struct kmig_uri *u, bool *bad_scheme, struct kmig_err *err)
{
	static const struct {
		const char *prefix;
		enum kmig_uri_kind kind;
	} schemes[] = {
		{ "tcp:", KMIG_URI_TCP }, { "unix:", KMIG_URI_UNIX }, { "exec:", KMIG_URI_EXEC },
		{ "fd:", KMIG_URI_FD }, { "file:", KMIG_URI_FILE },
	};

	memset(u, 0, sizeof(*u));
	u->fd = -1;
	*bad_scheme = false;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].prefix);
		const char *rest = s + n;

		if (strncmp(s, schemes[i].prefix, n))
			continue;
		u->kind = schemes[i].kind;
		if (u->kind == KMIG_URI_TCP)
			return parse_inet(rest, u, err);
		if (!*rest || strlen(rest) >= sizeof(u->path)) {
			kmig_err_generic(err, "Parameter 'uri' expects a non-empty %.*s path of "
					 "at most %zu bytes", (int)(n - 1), s, sizeof(u->path) - 1);
			return -EINVAL;
		}
		snprintf(u->path, sizeof(u->path), "%s", rest);
		return 0;
	}
	*bad_scheme = true;
	if (!strncmp(s, "rdma:", 5))
		kmig_err_generic(err, "RDMA migration is not supported by kmig "
				 "(use tcp:, unix: or the DPDK transport)");
	else
		kmig_err_generic(err, "Parameter 'uri' expects a valid migration protocol");
	return -EINVAL;
}
