// SPDX-License-Identifier: GPL-2.0-only
/*
 * dpdk_opts.c: parses dpdk: URIs (dpdk_opts.h).  Every value is checked
 * for its range here; the device's own arguments are passed on as given
 * (the PMD checks them when it is probed).  For iface= the af_packet ring
 * gets frames large enough for a 9000-byte MTU unless the URI says
 * otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpdk_opts.h"

/* af_packet rings for iface=: 16 KiB frames take an MTU of 9000 and more */
#define AFP_DEFAULTS "qpairs=1,blocksz=16384,framesz=16384,framecnt=512"

static int bad(char *err, size_t n, const char *fmt, const char *a, const char *b)
{
	snprintf(err, n, fmt, a, b);
	return -EINVAL;
}

/* an unsigned value in [lo, hi]; 0 or -EINVAL */
static int num(const char *key, const char *v, unsigned long lo, unsigned long hi,
	       unsigned int *out, char *err, size_t n)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, 0);
	if (!*v || *end || errno || x < lo || x > hi || v[0] == '-') {
		snprintf(err, n, "dpdk: %s=%s is not a number in %lu..%lu", key, v, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned int)x;
	return 0;
}

/* a per-cent value with decimals, as per-million */
static int pct(const char *key, const char *v, unsigned int *out, char *err, size_t n)
{
	char *end;
	double x = strtod(v, &end);

	if (!*v || *end || !(x >= 0 && x <= 50)) {
		snprintf(err, n, "dpdk: %s=%s is not a percentage in 0..50", key, v);
		return -EINVAL;
	}
	*out = (unsigned int)(x * 10000 + 0.5);
	return 0;
}

static int mac(const char *v, uint8_t out[6], char *err, size_t n)
{
	unsigned int b[6];
	char tail;

	if (sscanf(v, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return bad(err, n, "dpdk: peer=%s is not a MAC address%s", v, "");
	for (int i = 0; i < 6; i++) {
		if (b[i] > 255)
			return bad(err, n, "dpdk: peer=%s is not a MAC address%s", v, "");
		out[i] = (uint8_t)b[i];
	}
	return 0;
}

static int append(char *dst, size_t cap, const char *sep, const char *s, char *err, size_t n)
{
	size_t len = strlen(dst);

	if (len + strlen(sep) + strlen(s) >= cap)
		return bad(err, n, "dpdk: the device arguments are too long (%s%s)", s, "");
	snprintf(dst + len, cap - len, "%s%s", sep, s);
	return 0;
}

static int own(struct kmig_dpdk_opts *o, const char *k, const char *v, char *err, size_t n,
	       bool *taken)
{
	unsigned int u;
	int ret = 0;

	*taken = true;
	o->eal_given |= !strcmp(k, "lcore") || !strcmp(k, "mem") || !strcmp(k, "huge") ||
			!strcmp(k, "huge-dir") || !strcmp(k, "prefix") || !strcmp(k, "eal");
	if (!strcmp(k, "lcore")) {
		ret = num(k, v, 0, 1023, &u, err, n);
		o->lcore = (int)u;
	} else if (!strcmp(k, "mem")) {
		ret = num(k, v, 64, 1 << 20, &o->mem_mb, err, n);
	} else if (!strcmp(k, "huge")) {
		ret = num(k, v, 0, 1, &u, err, n);
		o->huge = u;
	} else if (!strcmp(k, "huge-dir") || !strcmp(k, "prefix") || !strcmp(k, "eal")) {
		char *dst = k[0] == 'h' ? o->huge_dir : k[0] == 'p' ? o->prefix : o->eal;
		size_t cap = k[0] == 'h' ? sizeof(o->huge_dir) : k[0] == 'p' ? sizeof(o->prefix) :
			     sizeof(o->eal);

		if (strlen(v) >= cap || !*v)
			return bad(err, n, "dpdk: %s=%s is empty or too long", k, v);
		if (k[0] == 'p' && strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789_-.") != strlen(v))
			return bad(err, n, "dpdk: %s=%s: letters, digits, '_', '-' and '.' only", k, v);
		snprintf(dst, cap, "%s", v);
	} else if (!strcmp(k, "burst")) {
		ret = num(k, v, 1, 512, &o->burst, err, n);
	} else if (!strcmp(k, "queues")) {
		ret = num(k, v, 1, KMIG_DPDK_MAX_QUEUES, &o->queues, err, n);
	} else if (!strcmp(k, "rxd") || !strcmp(k, "txd")) {
		ret = num(k, v, 64, 32768, k[0] == 'r' ? &o->rxd : &o->txd, err, n);
	} else if (!strcmp(k, "window")) {
		ret = num(k, v, 16, 8192, &o->window, err, n);
		if (!ret && (o->window & (o->window - 1)))
			return bad(err, n, "dpdk: window=%s must be a power of 2%s", v, "");
	} else if (!strcmp(k, "mtu")) {
		ret = num(k, v, 576, 16384, &o->mtu, err, n);
	} else if (!strcmp(k, "timeout")) {
		ret = num(k, v, 100, 600000, &o->timeout_ms, err, n);
	} else if (!strcmp(k, "connect-timeout")) {
		ret = num(k, v, 100, 600000, &o->connect_ms, err, n);
	} else if (!strcmp(k, "peer")) {
		ret = mac(v, o->peer, err, n);
	} else if (!strcmp(k, "csum")) {
		if (strcmp(v, "full") && strcmp(v, "header"))
			return bad(err, n, "dpdk: csum=%s: full or header%s", v, "");
		o->csum = v[0] == 'h';
	} else if (!strcmp(k, "x-loss")) {
		ret = pct(k, v, &o->loss, err, n);
	} else if (!strcmp(k, "x-reorder")) {
		ret = pct(k, v, &o->reorder, err, n);
	} else if (!strcmp(k, "x-dup")) {
		ret = pct(k, v, &o->dup, err, n);
	} else if (!strcmp(k, "x-seed")) {
		ret = num(k, v, 0, 0xffffffffu, &u, err, n);
		o->seed = u;
	} else {
		*taken = false;
	}
	return ret;
}

static int parse(const char *s, struct kmig_dpdk_opts *o, bool eal_only, char *err, size_t n)
{
	char buf[2048], *save = NULL, *item;
	bool afp = false;
	int ret;

	memset(o, 0, sizeof(*o));
	o->lcore = -1;
	o->mem_mb = 256;
	o->burst = 32;
	o->queues = 1;
	o->rxd = o->txd = 1024;
	o->window = 0;		/* the port's choice (dpdk_port.c) */
	o->timeout_ms = 5000;
	o->connect_ms = 10000;
	o->csum = -1;
	memset(o->peer, 0xff, sizeof(o->peer));
	if (strlen(s) >= sizeof(buf))
		return bad(err, n, "dpdk: the URI is too long%s%s", "", "");
	snprintf(buf, sizeof(buf), "%s", s);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		bool taken;

		if (!eq || eq == item)
			return bad(err, n, "dpdk: '%s' is not KEY=VALUE%s", item, "");
		*eq = 0;
		ret = own(o, item, eq + 1, err, n, &taken);
		if (ret)
			return ret;
		if (taken)
			continue;
		if (eal_only)
			return bad(err, n, "dpdk: '%s' is not an EAL option (lcore, mem, huge, "
				   "huge-dir, prefix, eal)%s", item, "");
		/* iface= names an af_packet device; after vdev= it is that device's argument */
		if (!strcmp(item, "vdev") || (!strcmp(item, "iface") && !o->devargs[0])) {
			if (o->devargs[0])
				return bad(err, n, "dpdk: %s=%s: only one device per URI", item, eq + 1);
			if (!eq[1] || strlen(eq + 1) >= sizeof(o->dev_name) - 16)
				return bad(err, n, "dpdk: %s=%s: a name is needed (at most 40 bytes)",
					   item, eq + 1);
			afp = item[0] == 'i';
			if (afp) {
				snprintf(o->dev_name, sizeof(o->dev_name), "net_af_packet_%s", eq + 1);
				snprintf(o->devargs, sizeof(o->devargs), "%s,iface=%s", o->dev_name,
					 eq + 1);
			} else {
				snprintf(o->dev_name, sizeof(o->dev_name), "%s", eq + 1);
				snprintf(o->devargs, sizeof(o->devargs), "%s", eq + 1);
			}
			continue;
		}
		if (!o->devargs[0])
			return bad(err, n, "dpdk: unknown option '%s' (device arguments come after "
				   "vdev=NAME)%s", item, "");
		*eq = '=';
		ret = append(o->devargs, sizeof(o->devargs), ",", item, err, n);
		if (ret)
			return ret;
	}
	if (eal_only)
		return 0;
	if (!o->devargs[0])
		return bad(err, n, "dpdk: the URI names no device: give vdev=NAME (e.g. "
			   "vdev=net_memif0,role=server,socket=PATH) or iface=IFNAME%s%s", "", "");
	if (afp) {
		/* the defaults for the ring, unless the URI set them */
		static const char *const keys[] = { "qpairs=", "blocksz=", "framesz=", "framecnt=" };
		const char *defs = AFP_DEFAULTS;

		for (int i = 0; i < 4; i++) {
			const char *d = strstr(defs, keys[i]), *e = strchr(d, ',');
			char one[64];

			snprintf(one, sizeof(one), "%.*s", e ? (int)(e - d) : (int)strlen(d), d);
			if (!strstr(o->devargs, keys[i]) &&
			    (ret = append(o->devargs, sizeof(o->devargs), ",", one, err, n)))
				return ret;
		}
	}
	return 0;
}

int kmig_dpdk_opts_parse(const char *s, struct kmig_dpdk_opts *o, char *err, size_t n)
{
	return parse(s, o, false, err, n);
}

int kmig_dpdk_opts_parse_eal(const char *s, struct kmig_dpdk_opts *o, char *err, size_t n)
{
	return parse(s, o, true, err, n);
}
