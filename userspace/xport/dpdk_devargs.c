// SPDX-License-Identifier: GPL-2.0-only
/*
 * dpdk_devargs.c: a device's argument string ("net_memif0,role=server,...")
 * read and rewritten key by key, and memif's arguments set kmig's way
 * (dpdk_port_int.h): the port setup in dpdk_port.c starts from these.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpdk_port_int.h"
#include "log.h"

static unsigned int sock_seq;

/* the value of KEY= in a devargs string, or 0 */
unsigned long kmig_devarg_num(const char *devargs, const char *key)
{
	const char *p = strstr(devargs, key);

	return p ? strtoul(p + strlen(key), NULL, 0) : 0;
}

bool kmig_devarg_is(const char *devargs, const char *key, const char *val)
{
	const char *p = strstr(devargs, key);

	return p && !strncmp(p + strlen(key), val, strlen(val));
}

/* replaces the value of ",KEY=" (the first item may lack the comma) in @d; 0 or -E2BIG */
static int devarg_set(char *d, size_t cap, const char *key, const char *val)
{
	char k[32], out[1100];
	char *at;
	size_t klen;

	snprintf(k, sizeof(k), ",%s=", key);
	klen = strlen(k);
	at = strstr(d, k);
	if (!at) {
		if (strlen(d) + klen + strlen(val) >= cap)
			return -E2BIG;
		strcat(d, k);
		strcat(d, val);
		return 0;
	}
	snprintf(out, sizeof(out), "%.*s%s%s%s", (int)(at - d + (long)klen), d, val,
		 strchr(at + klen, ',') ? "," : "", strchr(at + klen, ',') ?
		 strchr(at + klen, ',') + 1 : "");
	if (strlen(out) >= cap)
		return -E2BIG;
	strcpy(d, out);
	return 0;
}

static const char *devarg_val(const char *d, const char *key, char *buf, size_t n)
{
	char k[32];
	const char *at;

	snprintf(k, sizeof(k), ",%s=", key);
	at = strstr(d, k);
	if (!at)
		return NULL;
	at += strlen(k);
	snprintf(buf, n, "%.*s", (int)strcspn(at, ","), at);
	return buf;
}

/*
 * memif's arguments, kmig's way: a socket file rather than an abstract
 * name, buffers that hold a frame, and two workarounds for DPDK 22.11's
 * memif.  (1) A server turns a client away ("ID not found") until the
 * server's port started, and a zero-copy client must not connect twice
 * (below): so a server listens on a temporary name and the socket gets
 * its real name only once the port started.  (2) A zero-copy client
 * closes EAL's own memory file when it connects (memif_connect: "close
 * memseg file"), so a second zero-copy connection in the same process
 * would hand its peer a stale descriptor (the peer dies of SIGBUS): only
 * the first one in a kmigd is zero-copy, later ones copy.
 */
int kmig_memif_args(struct kmig_dpdk_dev *p, char *d, size_t cap, char *err, size_t n)
{
	static bool zc_used;
	char sock[256], tmp[300];
	int ret = 0;

	/*
	 * Buffers just big enough for a page and its headers (4352 bytes), 2048
	 * of them: the source maps the destination's buffers, and on this VM each
	 * 4 KiB of them it touches first costs a page fault, so fewer, smaller
	 * buffers cut the sender's CPU time (by a third at 1 GiB).
	 */
	if (!strstr(d, ",bsize="))
		ret |= devarg_set(d, cap, "bsize", "4352");
	if (!strstr(d, ",rsize="))
		ret |= devarg_set(d, cap, "rsize", "11");
	if (!strstr(d, ",socket-abstract="))
		ret |= devarg_set(d, cap, "socket-abstract", "no");
	p->memif_client = kmig_devarg_is(d, ",role=", "client");
	p->memif_zc = p->memif_client && kmig_devarg_is(d, ",zero-copy=", "yes");
	if (p->memif_zc && zc_used) {
		kmig_log(KMIG_LOG_WARN, "dpdk", "%s: memif zero-copy works once per kmigd with DPDK "
			 "22.11 (its zero-copy client closes EAL's memory file on connect); this "
			 "channel uses memif copy mode", p->name);
		ret |= devarg_set(d, cap, "zero-copy", "no");
		p->memif_zc = false;
	}
	zc_used |= p->memif_zc;
	if (!p->memif_client && kmig_devarg_is(d, ",socket-abstract=", "no")) {
		if (!devarg_val(d, "socket", sock, sizeof(sock)))
			snprintf(sock, sizeof(sock), "/run/memif.sock");	/* memif's default */
		snprintf(p->memif_sock, sizeof(p->memif_sock), "%s", sock);
		snprintf(tmp, sizeof(tmp), "%s.kmig-%d-%u", sock, (int)getpid(),
			 __atomic_fetch_add(&sock_seq, 1, __ATOMIC_RELAXED));
		if (strlen(tmp) >= 108) {
			snprintf(err, n, "dpdk: memif socket path '%s' is too long", sock);
			return -ENAMETOOLONG;
		}
		snprintf(p->memif_tmp, sizeof(p->memif_tmp), "%s", tmp);
		ret |= devarg_set(d, cap, "socket", tmp);
	}
	if (ret) {
		snprintf(err, n, "dpdk: the memif device arguments are too long");
		return -E2BIG;
	}
	return 0;
}
