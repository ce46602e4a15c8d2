// SPDX-License-Identifier: GPL-2.0-only
/*
 * main.c: kmigd, the kmig agent.  Parses arguments, builds the daemon
 * state, opens the QMP listeners and runs the loop until SIGINT/SIGTERM.
 * The only place that calls exit().
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirtyrate.h"
#include "kmigd.h"
#include "log.h"
#include "loop.h"
#include "migrate.h"
#include "qapi-events.h"
#include "qmp_server.h"
#include "wl_server.h"

static struct kmig_loop *g_loop;	/* only for the signal handler */

static void on_signal(int sig)
{
	(void)sig;
	if (g_loop)
		kmig_loop_stop(g_loop);
}

/* an engine report on its way to the loop thread */
struct engine_post {
	struct kmigd *d;
	enum { POST_STATUS, POST_PASS, POST_WORKLOAD } what;
	enum kmig_mig_status st;
	unsigned int pass;
};

/* loop thread: events (when the capability is on) and workload hand-back */
static void on_engine_post(void *arg)
{
	struct engine_post *p = arg;
	struct kmig_event_sink *sink = kmig_qmp_server_sink(p->d->qmp);
	bool events = p->d->caps[MIGRATION_CAPABILITY_EVENTS];

	if (p->what == POST_STATUS && events)
		qapi_event_send_migration(sink, kmigd_status_qapi(p->st));
	else if (p->what == POST_PASS && events)
		qapi_event_send_migration_pass(sink, p->pass);
	else if (p->what == POST_WORKLOAD)
		kmigd_wl_returned(p->d);
	free(p);
}

/* engine thread (or loop thread): hand the report to the loop */
static void post(struct kmigd *d, int what, enum kmig_mig_status st, unsigned int pass)
{
	struct engine_post *p = malloc(sizeof(*p));

	if (p) {
		/* filled before posting: the loop thread may run it at once */
		*p = (struct engine_post){ .d = d, .what = what, .st = st, .pass = pass };
	}
	if (p && kmig_loop_is_current(d->loop)) {
		/* already on the loop (e.g. setup, from the migrate command): emit now,
		 * so MIGRATION(setup) precedes the command's reply, as in QEMU */
		on_engine_post(p);
		return;
	}
	if (!p || kmig_loop_post(d->loop, on_engine_post, p) < 0) {
		kmig_log(KMIG_LOG_WARN, "kmigd", "dropped an engine report: out of memory");
		free(p);
	}
}

static void hook_status(void *opaque, enum kmig_mig_status st)
{
	post(opaque, POST_STATUS, st, 0);
}

static void hook_pass(void *opaque, unsigned int pass)
{
	post(opaque, POST_PASS, 0, pass);
}

static void hook_workload_done(void *opaque)
{
	post(opaque, POST_WORKLOAD, 0, 0);
}

static const struct kmig_mig_hooks hooks = {
	.status = hook_status,
	.pass = hook_pass,
	.workload_done = hook_workload_done,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kmigd --qmp PATH [--workload PATH] [--qmp-tcp HOST:PORT]\n"
		"             [--incoming defer|URI] [-v]\n"
		"  --qmp PATH          QMP unix socket (created mode 0600)\n"
		"  --workload PATH     socket workloads (libkmig) register on (mode 0600)\n"
		"  --qmp-tcp HOST:PORT also serve QMP on TCP (keep it on loopback)\n"
		"  --incoming defer    wait for migrate-incoming (destination)\n"
		"  --incoming URI      listen for a migration at URI at start-up\n"
		"  -v, --verbose       debug logging\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qmp", required_argument, NULL, 'q' },
		{ "qmp-tcp", required_argument, NULL, 't' },
		{ "workload", required_argument, NULL, 'w' },
		{ "incoming", required_argument, NULL, 'i' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *qmp_path = NULL, *qmp_tcp = NULL, *incoming = NULL, *wl_path = NULL;
	struct kmigd d = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'q': qmp_path = optarg; break;
		case 't': qmp_tcp = optarg; break;
		case 'w': wl_path = optarg; break;
		case 'i': incoming = optarg; break;
		case 'v': kmig_log_max = KMIG_LOG_DEBUG; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!qmp_path || optind != argc) {
		fprintf(stderr, "kmigd: --qmp PATH is required (see --help)\n");
		return 2;
	}
	kmigd_params_init(&d.params);
	d.incoming = incoming != NULL;
	d.wl_listen_fd = -1;
	for (int i = 0; i < KMIGD_MAX_NAMED_FDS; i++)
		d.named_fds[i].fd = -1;
	d.loop = kmig_loop_new();
	d.mig = kmig_mig_new(&hooks, &d);
	d.qmp = d.loop ? kmig_qmp_server_new(d.loop, &d) : NULL;
	if (!d.loop || !d.mig || !d.qmp) {
		fprintf(stderr, "kmigd: out of memory at start-up\n");
		goto out;
	}
	if (kmig_qmp_listen_unix(d.qmp, qmp_path) < 0 ||
	    (qmp_tcp && kmig_qmp_listen_tcp(d.qmp, qmp_tcp) < 0)) {
		fprintf(stderr, "kmigd: cannot open the QMP socket (see above)\n");
		goto out;
	}
	if (wl_path && kmigd_wl_listen(&d, wl_path) < 0) {
		fprintf(stderr, "kmigd: cannot open the workload socket (see above)\n");
		goto out;
	}
	kmigd_params_push(&d);
	if (incoming && strcmp(incoming, "defer")) {
		struct kmig_uri uri;
		struct kmig_err err = { 0 };
		bool bad_scheme;

		if (kmig_uri_parse(incoming, &uri, &bad_scheme, &err) < 0 ||
		    kmig_mig_incoming(d.mig, &uri, &err) < 0) {
			fprintf(stderr, "kmigd: --incoming %s: %s\n", incoming, err.desc);
			goto out;
		}
	}
	g_loop = d.loop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	kmig_log(KMIG_LOG_INFO, "kmigd", "ready qmp=%s%s%s", qmp_path, qmp_tcp ? " tcp=" : "",
		 qmp_tcp ? qmp_tcp : "");
	ret = kmig_loop_run(d.loop) < 0;
out:
	g_loop = NULL;
	if (d.mig)
		kmig_mig_cancel(d.mig);
	kmig_mig_free(d.mig);	/* joins the engine thread: no posts after this */
	d.mig = NULL;
	kmig_dirtyrate_free(d.dirtyrate);	/* stops a measurement at once, joins it */
	d.dirtyrate = NULL;
	if (d.loop)
		kmig_loop_run_pending(d.loop);
	if (d.loop)
		kmigd_wl_close(&d);
	kmig_qmp_server_free(d.qmp);
	for (int i = 0; i < KMIGD_MAX_NAMED_FDS; i++)
		if (d.named_fds[i].fd >= 0)
			close(d.named_fds[i].fd);
	qapi_clear_MigrationParameters(&d.params);
	kmig_loop_free(d.loop);
	return ret;
}
