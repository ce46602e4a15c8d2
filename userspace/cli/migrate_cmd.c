// SPDX-License-Identifier: GPL-2.0-only
/*
 * migrate_cmd.c: `kmig migrate --src SOCK [--dst SOCK] URI`, shaped like
 * `virsh migrate --live`: starts the destination listening, starts the
 * source, shows a live progress line, and ends with a summary in the
 * manner of `virsh domjobinfo`.  Ctrl-C cancels the migration (the source
 * workload keeps running) instead of abandoning it.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "migrate_cmd.h"
#include "qmp_client.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static double jdbl(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static double gib(double bytes)
{
	return bytes / (1024.0 * 1024 * 1024);
}

/* the destination's tcp port when the URI asked for port 0 */
static void fix_port(char *uri, size_t n, struct json_object *info)
{
	struct json_object *list, *a;
	size_t len = strlen(uri);

	if (strncmp(uri, "tcp:", 4) || len < 2 || strcmp(uri + len - 2, ":0") ||
	    !json_object_object_get_ex(info, "socket-address", &list) ||
	    !(a = json_object_array_get_idx(list, 0)))
		return;
	snprintf(uri + len - 1, n - (len - 1), "%s", jstr(a, "port"));
}

static void progress(struct json_object *info, int tty)
{
	struct json_object *ram = NULL;
	double total, remaining, pct;

	json_object_object_get_ex(info, "ram", &ram);
	total = (double)jint(ram, "total");
	remaining = (double)jint(ram, "remaining");
	pct = total > 0 ? 100.0 * (total - remaining) / total : 0;
	fprintf(stderr, "%smigrate: %-10s %5.1f%%  sent %.2f GiB  rate %.0f Mbit/s  "
		"dirty %lld pages/s  syncs %lld  expected downtime %lld ms%s",
		tty ? "\r" : "", jstr(info, "status"), pct, gib((double)jint(ram, "transferred")),
		jdbl(ram, "mbps"), (long long)jint(ram, "dirty-pages-rate"),
		(long long)jint(ram, "dirty-sync-count"), (long long)jint(info, "expected-downtime"),
		tty ? "   " : "\n");
}

static void summary(struct json_object *info)
{
	struct json_object *ram = NULL;
	double secs = jint(info, "total-time") / 1000.0;

	json_object_object_get_ex(info, "ram", &ram);
	printf("Job type:         %s\n", !strcmp(jstr(info, "status"), "completed") ?
	       "Completed" : jstr(info, "status"));
	printf("Time elapsed:     %lld ms\n", (long long)jint(info, "total-time"));
	printf("Setup time:       %lld ms\n", (long long)jint(info, "setup-time"));
	printf("Downtime:         %lld ms\n", (long long)jint(info, "downtime"));
	printf("Data processed:   %.3f GiB\n", gib((double)jint(ram, "transferred")));
	printf("Data total:       %.3f GiB\n", gib((double)jint(ram, "total")));
	printf("Memory bandwidth: %.3f GiB/s\n",
	       secs > 0 ? gib((double)jint(ram, "transferred")) / secs : 0);
	printf("Normal pages:     %lld\n", (long long)jint(ram, "normal"));
	printf("Zero pages:       %lld\n", (long long)jint(ram, "duplicate"));
	printf("Dirty syncs:      %lld\n", (long long)jint(ram, "dirty-sync-count"));
	printf("Downtime bytes:   %lld\n", (long long)jint(ram, "downtime-bytes"));
	printf("Page size:        %lld bytes\n", (long long)jint(ram, "page-size"));
	printf("Tracker:          %s\n", jstr(info, "x-kmig-tracker"));
	printf("Transport:        %s\n", jstr(info, "x-kmig-transport"));
}

static struct json_object *one(const char *k, struct json_object *v)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, k, v);
	return o;
}

static int set_param(struct kmig_qmpc *c, const char *name, long long v, char *err, size_t n)
{
	struct json_object *r = kmig_qmpc_call(c, "migrate-set-parameters",
					       one(name, json_object_new_int64(v)), err, n);

	json_object_put(r);
	return r ? 0 : -1;
}

/* multifd on @c with @n channels (0: off); 0 or -1 with @err */
static int set_multifd(struct kmig_qmpc *c, long long n, char *err, size_t len)
{
	struct json_object *cap = json_object_new_object(), *caps = json_object_new_array();
	struct json_object *r;

	json_object_object_add(cap, "capability", json_object_new_string("multifd"));
	json_object_object_add(cap, "state", json_object_new_boolean(n > 0));
	json_object_array_add(caps, cap);
	r = kmig_qmpc_call(c, "migrate-set-capabilities", one("capabilities", caps), err, len);
	json_object_put(r);
	if (!r)
		return -1;
	return n > 0 ? set_param(c, "multifd-channels", n, err, len) : 0;
}

static int set_tracker(struct kmig_qmpc *c, const char *name, char *err, size_t len)
{
	struct json_object *r = kmig_qmpc_call(c, "migrate-set-parameters",
					       one("x-kmig-tracker", json_object_new_string(name)),
					       err, len);

	json_object_put(r);
	return r ? 0 : -1;
}

/* a non-negative decimal option value; 0, or -1 with one line on stderr */
static int number(const char *arg, const char *opt, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || *out < 0) {
		fprintf(stderr, "kmig: %s wants a non-negative number, got '%s'\n", opt, arg);
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kmig migrate --src SOCK [--dst SOCK] [--bandwidth BYTES/S]\n"
		   "                    [--downtime MS] [--multifd N] [--tracker NAME]\n"
		   "                    [--timeout S] URI\n"
		   "  --dst SOCK        also start the destination (migrate-incoming URI;\n"
		   "                    tcp:HOST:0 picks a free port)\n"
		   "  --bandwidth N     max-bandwidth for this migration (0 = unlimited)\n"
		   "  --downtime MS     downtime-limit\n"
		   "  --multifd N       send pages on N parallel channels (tcp:, unix:)\n"
		   "  --tracker NAME    dirty tracker (x-kmig-tracker): auto, uffd-wp, ...\n"
		   "  --timeout S       cancel if not done after S seconds\n");
}

int kmig_cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "downtime", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "multifd", required_argument, NULL, 'm' },
		{ "tracker", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *src = NULL, *dst = NULL, *tracker = NULL;
	long long bw = -1, downtime = -1, timeout = 0, multifd = -1;
	struct kmig_qmpc *s = NULL, *d = NULL;
	struct json_object *r = NULL, *info = NULL;
	struct sigaction sa = { .sa_handler = on_sigint };
	char uri[4200], err[1024];
	int o, ret = 1, tty = isatty(STDERR_FILENO), cancelled = 0;
	time_t start = time(NULL);

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 's': src = optarg; break;
		case 'd': dst = optarg; break;
		case 'b': if (number(optarg, "--bandwidth", &bw)) return 2; break;
		case 't': if (number(optarg, "--downtime", &downtime)) return 2; break;
		case 'T': if (number(optarg, "--timeout", &timeout)) return 2; break;
		case 'm': if (number(optarg, "--multifd", &multifd)) return 2; break;
		case 'k': tracker = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!src || optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	snprintf(uri, sizeof(uri), "%s", argv[optind]);
	if (dst) {
		d = kmig_qmpc_open(dst, err, sizeof(err));
		if (!d || (multifd >= 0 && set_multifd(d, multifd, err, sizeof(err))))
			goto fail;
		r = kmig_qmpc_call(d, "migrate-incoming", one("uri", json_object_new_string(uri)),
				   err, sizeof(err));
		if (!r)
			goto fail;
		json_object_put(r);
		r = kmig_qmpc_call(d, "query-migrate", NULL, err, sizeof(err));
		if (!r)
			goto fail;
		fix_port(uri, sizeof(uri), r);
		json_object_put(r);
	}
	s = kmig_qmpc_open(src, err, sizeof(err));
	if (!s || (bw >= 0 && set_param(s, "max-bandwidth", bw, err, sizeof(err))) ||
	    (downtime >= 0 && set_param(s, "downtime-limit", downtime, err, sizeof(err))) ||
	    (multifd >= 0 && set_multifd(s, multifd, err, sizeof(err))) ||
	    (tracker && set_tracker(s, tracker, err, sizeof(err))))
		goto fail;
	r = kmig_qmpc_call(s, "migrate", one("uri", json_object_new_string(uri)), err,
			   sizeof(err));
	if (!r)
		goto fail;
	json_object_put(r);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (;;) {
		const char *st;

		info = kmig_qmpc_call(s, "query-migrate", NULL, err, sizeof(err));
		if (!info)
			goto fail;
		st = jstr(info, "status");
		if (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled"))
			break;
		progress(info, tty);
		json_object_put(info);
		info = NULL;
		if ((interrupted || (timeout && time(NULL) - start > timeout)) && !cancelled) {
			cancelled = 1;
			fprintf(stderr, "\nmigrate: cancelling%s\n",
				interrupted ? "" : " (timeout)");
			json_object_put(kmig_qmpc_call(s, "migrate_cancel", NULL, err, sizeof(err)));
		}
		usleep(200000);
	}
	if (tty)
		fputc('\n', stderr);
	if (!strcmp(jstr(info, "status"), "completed")) {
		summary(info);
		ret = 0;
	} else if (!strcmp(jstr(info, "status"), "failed")) {
		fprintf(stderr, "kmig: migration failed: %s\n", jstr(info, "error-desc"));
	} else {
		fprintf(stderr, "kmig: migration cancelled; the source keeps running\n");
	}
	goto out;
fail:
	fprintf(stderr, "kmig: %s\n", err);
out:
	json_object_put(info);
	kmig_qmpc_close(s);
	kmig_qmpc_close(d);
	return ret;
}
