// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtyrate_cmd.c: `kmig dirtyrate`: how fast a workload dirties its
 * memory, by which thread, and where.
 *
 *   kmig dirtyrate --qmp SOCK [--mode M] [--calc-time S] [--sample-pages N] [--svg F]
 *       asks kmigd (calc-dirty-rate, then query-dirty-rate until measured)
 *       about its registered workload; every QEMU mode is available;
 *   kmig dirtyrate --pid PID [--calc-time S] [--sample-pages N] [--svg F]
 *       measures any process, registered or not, here and now, by page
 *       sampling of its writable mappings (read with process_vm_readv):
 *       the one method that needs nothing from the process.
 *
 * Prints the rate, per-thread rates (dirty-ring) and a text heat map per
 * 2 MiB region; --svg also draws the heat map.  Exit 0, 1 on a failed
 * measurement or QMP error (one line on stderr), 2 on bad usage.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dirtyrate.h"
#include "dirtyrate_cmd.h"
#include "dr_render.h"
#include "log.h"
#include "qmp_client.h"

#define MAX_REGIONS	(1u << 24)	/* 32 TiB per block: more is a bad reply */

static void usage(FILE *f)
{
	fprintf(f, "usage: kmig dirtyrate --qmp SOCK [--mode page-sampling|dirty-ring|dirty-bitmap]\n"
		   "                      [--calc-time S] [--sample-pages N] [--svg FILE] [--json]\n"
		   "       kmig dirtyrate --pid PID [--calc-time S] [--sample-pages N] [--svg FILE]\n");
}

static int parse_num(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v ? json_object_get_int64(v) : 0;
}

static void jcopy(char *dst, size_t n, struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	snprintf(dst, n, "%s", v && json_object_is_type(v, json_type_string) ?
		 json_object_get_string(v) : "");
}

/* query-dirty-rate's reply -> a result; bounds every list; 0 or -1 with @err */
static int from_json(struct json_object *o, struct kmig_dr_result *r, char *err, size_t n)
{
	struct json_object *th = get(o, "x-kmig-threads"), *bl = get(o, "x-kmig-blocks");
	const char *mode = json_object_get_string(get(o, "mode"));

	memset(r, 0, sizeof(*r));
	r->status = KMIG_DR_MEASURED;
	r->mode = mode && !strcmp(mode, "dirty-ring") ? KMIG_DR_PER_THREAD :
		  mode && !strcmp(mode, "dirty-bitmap") ? KMIG_DR_BITMAP : KMIG_DR_SAMPLING;
	r->dirty_rate = jint(o, "dirty-rate");
	r->calc_time = jint(o, "calc-time");
	r->calc_ms = get(o, "x-kmig-calc-time-ms") ? jint(o, "x-kmig-calc-time-ms") :
		     r->calc_time * 1000;
	r->dirty_pages = (uint64_t)jint(o, "x-kmig-dirty-pages");
	jcopy(r->tracker, sizeof(r->tracker), o, "x-kmig-tracker");
	jcopy(r->error, sizeof(r->error), o, "x-kmig-error");
	if (th && json_object_is_type(th, json_type_array)) {
		size_t cnt = json_object_array_length(th);

		if (cnt > KMIG_DR_MAX_THREADS)
			goto bad;
		r->threads = calloc(cnt ? cnt : 1, sizeof(*r->threads));
		if (!r->threads)
			goto nomem;
		for (size_t i = 0; i < cnt; i++) {
			struct json_object *t = json_object_array_get_idx(th, i);

			r->threads[i].tid = (uint32_t)jint(t, "tid");
			r->threads[i].pages = (uint64_t)jint(t, "dirty-pages");
			jcopy(r->threads[i].name, sizeof(r->threads[i].name), t, "name");
			r->nthreads = (unsigned int)i + 1;
		}
	}
	if (bl && json_object_is_type(bl, json_type_array)) {
		size_t cnt = json_object_array_length(bl);

		if (cnt > KMIG_DR_MAX_BLOCKS)
			goto bad;
		r->blocks = calloc(cnt ? cnt : 1, sizeof(*r->blocks));
		if (!r->blocks)
			goto nomem;
		for (size_t i = 0; i < cnt; i++) {
			struct json_object *b = json_object_array_get_idx(bl, i), *reg = get(b, "regions");
			struct kmig_dr_block_result *k = &r->blocks[i];
			size_t nr = reg && json_object_is_type(reg, json_type_array) ?
				json_object_array_length(reg) : 0;

			r->nblocks = (unsigned int)i + 1;
			jcopy(k->name, sizeof(k->name), b, "name");
			k->size = (uint64_t)jint(b, "size");
			k->dirty_pages = (uint64_t)jint(b, "dirty-pages");
			if (nr > MAX_REGIONS || nr != (k->size + (1ULL << KMIG_DR_REGION_SHIFT) - 1) >>
			    KMIG_DR_REGION_SHIFT)
				goto bad;
			k->regions = calloc(nr ? nr : 1, sizeof(*k->regions));
			if (!k->regions)
				goto nomem;
			k->nregions = (uint32_t)nr;
			for (size_t g = 0; g < nr; g++) {
				int64_t v = json_object_get_int64(json_object_array_get_idx(reg, g));

				k->regions[g] = v < -1 ? -1 : v > (1 << 20) ? (1 << 20) : (int32_t)v;
			}
		}
	}
	return 0;
bad:
	snprintf(err, n, "kmigd's query-dirty-rate reply is malformed (a list is too long "
		 "or does not match its block)");
	kmig_dr_result_clear(r);
	return -1;
nomem:
	snprintf(err, n, "out of memory");
	kmig_dr_result_clear(r);
	return -1;
}

static int via_kmigd(const char *qmp, const char *mode, long long calc, long long samples,
		     bool json, struct kmig_dr_result *r, char *err, size_t n)
{
	struct kmig_qmpc *c = kmig_qmpc_open(qmp, err, n);
	struct json_object *args, *rep;
	time_t deadline = time(NULL) + calc + 30;
	int ret = -1;

	if (!c)
		return -1;
	args = json_object_new_object();
	json_object_object_add(args, "calc-time", json_object_new_int64(calc));
	if (mode)
		json_object_object_add(args, "mode", json_object_new_string(mode));
	if (samples)
		json_object_object_add(args, "sample-pages", json_object_new_int64(samples));
	rep = kmig_qmpc_call(c, "calc-dirty-rate", args, err, n);
	if (!rep)
		goto out;
	json_object_put(rep);
	for (;;) {
		const char *st;

		rep = kmig_qmpc_call(c, "query-dirty-rate", NULL, err, n);
		if (!rep)
			goto out;
		st = json_object_get_string(get(rep, "status"));
		if (st && !strcmp(st, "measured"))
			break;
		json_object_put(rep);
		if (time(NULL) > deadline) {
			snprintf(err, n, "no result from kmigd within %lld s", calc + 30);
			goto out;
		}
		usleep(100000);
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED));
	ret = from_json(rep, r, err, n);
	json_object_put(rep);
out:
	kmig_qmpc_close(c);
	return ret;
}

static int by_size_desc(const void *a, const void *b)
{
	const struct kmig_dr_block *x = a, *y = b;

	return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

static int by_addr(const void *a, const void *b)
{
	const struct kmig_dr_block *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* the process's writable mappings, the 64 largest, as blocks read from the process */
static int pid_target(pid_t pid, struct kmig_dr_target *t, char *err, size_t n)
{
	static struct kmig_dr_block all[4096];
	unsigned int cnt = 0;
	char path[64], line[4096];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, n, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) && cnt < sizeof(all) / sizeof(all[0])) {
		unsigned long long lo, hi;
		char perms[8], name[256] = "";
		int off = 0;

		if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %n", &lo, &hi, perms, &off) < 3 ||
		    hi <= lo || perms[0] != 'r' || perms[1] != 'w')
			continue;
		sscanf(line + off, "%255[^\n]", name);
		if (!strcmp(name, "[vvar]") || !strcmp(name, "[vsyscall]") || !strcmp(name, "[vdso]"))
			continue;
		all[cnt] = (struct kmig_dr_block){ .addr = lo, .size = hi - lo, .memfd = -1,
						   .uffd = -1 };
		if (name[0])
			snprintf(all[cnt].name, sizeof(all[cnt].name), "%s", name);
		else
			snprintf(all[cnt].name, sizeof(all[cnt].name), "anon@%llx", lo);
		cnt++;
	}
	fclose(f);
	if (!cnt) {
		snprintf(err, n, "process %d has no writable mapping", (int)pid);
		return -1;
	}
	qsort(all, cnt, sizeof(all[0]), by_size_desc);
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->nblocks = cnt < KMIG_DR_MAX_BLOCKS ? cnt : KMIG_DR_MAX_BLOCKS;
	memcpy(t->blocks, all, t->nblocks * sizeof(all[0]));
	qsort(t->blocks, t->nblocks, sizeof(t->blocks[0]), by_addr);
	return 0;
}

static int local(pid_t pid, long long calc, long long samples, struct kmig_dr_result *r,
		 char *err, size_t n)
{
	struct kmig_dirtyrate *d = kmig_dirtyrate_new();
	struct kmig_dr_target t;
	int ret;

	if (!d || pid_target(pid, &t, err, n)) {
		if (!d)
			snprintf(err, n, "out of memory");
		kmig_dirtyrate_free(d);
		return -1;
	}
	ret = kmig_dirtyrate_start(d, &t, KMIG_DR_SAMPLING, calc * 1000,
				   samples ? (uint64_t)samples : KMIG_DR_DEF_SAMPLES);
	while (!ret && kmig_dirtyrate_status(d) != KMIG_DR_MEASURED)
		usleep(20000);
	if (!ret)
		ret = kmig_dirtyrate_get(d, r);
	if (ret)
		snprintf(err, n, "cannot measure: %s", strerror(-ret));
	kmig_dirtyrate_free(d);
	return ret ? -1 : 0;
}

int kmig_cmd_dirtyrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qmp", required_argument, NULL, 'q' },
		{ "pid", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "calc-time", required_argument, NULL, 't' },
		{ "sample-pages", required_argument, NULL, 's' },
		{ "svg", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *qmp = NULL, *mode = NULL, *svg = NULL;
	long long pid = 0, calc = 1, samples = 0;
	struct kmig_dr_result r = { 0 };
	char err[1024] = "", what[256];
	bool json = false;
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'q': qmp = optarg; break;
		case 'm': mode = optarg; break;
		case 'g': svg = optarg; break;
		case 'j': json = true; break;
		case 'p':
			if (parse_num(optarg, 1, 0x3fffffff, &pid))
				goto bad_value;
			break;
		case 't':
			/* kmigd checks its own bounds (QEMU's texts); locally the same ones */
			if (parse_num(optarg, 0, 1000000, &calc))
				goto bad_value;
			break;
		case 's':
			if (parse_num(optarg, 0, 1000000000, &samples))
				goto bad_value;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !qmp == !pid || (pid && mode && strcmp(mode, "page-sampling"))) {
		if (pid && mode && strcmp(mode, "page-sampling"))
			fprintf(stderr, "kmig: --pid measures by page-sampling only: the exact modes "
				"need the process's userfaultfd, which only a registered workload "
				"hands over\n");
		else
			usage(stderr);
		return 2;
	}
	if (pid && (calc < KMIG_DR_MIN_CALC_S || calc > KMIG_DR_MAX_CALC_S ||
		    (samples && (samples < KMIG_DR_MIN_SAMPLES || samples > KMIG_DR_MAX_SAMPLES)))) {
		fprintf(stderr, "kmig: --calc-time must be %d..%d s and --sample-pages %d..%d\n",
			KMIG_DR_MIN_CALC_S, KMIG_DR_MAX_CALC_S, KMIG_DR_MIN_SAMPLES, KMIG_DR_MAX_SAMPLES);
		return 2;
	}
	kmig_log_max = KMIG_LOG_WARN;
	if (qmp) {
		snprintf(what, sizeof(what), "the workload of kmigd %s", qmp);
		ret = via_kmigd(qmp, mode, calc, samples, json, &r, err, sizeof(err));
	} else {
		snprintf(what, sizeof(what), "process %lld (page-sampling of its writable mappings)",
			 pid);
		ret = local((pid_t)pid, calc, samples, &r, err, sizeof(err));
	}
	if (ret) {
		fprintf(stderr, "kmig: %s\n", err);
		return 1;
	}
	if (!json)
		kmig_dr_print(stdout, &r, what);
	if (!r.error[0] && svg && kmig_dr_svg(svg, &r, what, err, sizeof(err))) {
		fprintf(stderr, "kmig: %s\n", err);
		ret = 1;
	} else if (r.error[0]) {
		fprintf(stderr, "kmig: the measurement failed: %s\n", r.error);
		ret = 1;
	}
	kmig_dr_result_clear(&r);
	return ret ? 1 : 0;
bad_value:
	fprintf(stderr, "kmig: bad value for --%s: '%s'\n",
		opt == 'p' ? "pid" : opt == 't' ? "calc-time" : "sample-pages", optarg);
	return 2;
}
