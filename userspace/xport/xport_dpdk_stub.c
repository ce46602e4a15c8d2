// SPDX-License-Identifier: GPL-2.0-only
/*
 * xport_dpdk_stub.c: the dpdk: scheme in a kmig built without DPDK
 * (libdpdk-dev was missing, or make KMIG_DPDK=0).  dpdk: URIs still parse
 * (uri.c checks their options), and migrate / migrate-incoming on one
 * fail at once with a sentence that says why.
 */
#include <errno.h>
#include <stdio.h>

#include "xport.h"

static const char why[] = "this kmig was built without DPDK: install libdpdk-dev (DPDK 22.11) "
			  "and rebuild to use dpdk: URIs";

static int stub_connect(struct kmig_chan *c, const struct kmig_uri *u, const _Atomic bool *cancel,
			char *err, size_t n)
{
	snprintf(err, n, "%s", why);
	return -ENOTSUP;
}

static int stub_listen(struct kmig_listener *l, const struct kmig_uri *u, char *err, size_t n)
{
	snprintf(err, n, "%s", why);
	return -ENOTSUP;
}

const struct kmig_chan_ops kmig_chan_dpdk_ops = {
	.scheme = "dpdk",
	.caps = KMIG_CHAN_F_RETURN_PATH,
	.connect = stub_connect,
	.listen = stub_listen,
};

int kmig_chan_dpdk_prestart(const char *opts, char *err, size_t n)
{
	snprintf(err, n, "%s", why);
	return -ENOTSUP;
}
