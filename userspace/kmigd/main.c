// SPDX-License-Identifier: GPL-2.0-only
/*
 * main.c: kmigd, the kmig agent.  Parses arguments, builds the daemon's
 * parts (kmigd.h), opens the QMP and workload sockets and runs the loop
 * until SIGINT/SIGTERM.  The only place that calls exit().
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmigd.h"
#include "log.h"
#include "loop.h"
#include "migrate.h"
#include "qmp_server.h"
#include "throttle_cgroup.h"
#include "wl_server.h"
#include "xport.h"

static struct kmig_loop *g_loop;	/* only for the signal handler */

static void on_signal(int sig)
{
	(void)sig;
	if (g_loop)
		kmig_loop_stop(g_loop);
}

/* loop thread: the engine's events, in the order it queued them */
static void emit_events(void *arg)
{
	struct kmigd *d = arg;

	kmig_agent_emit_events(&d->agent);
}

/* any thread: events are waiting */
static void hook_notify(void *opaque)
{
	struct kmigd *d = opaque;

	/*
	 * On the loop already (a QMP command started or cancelled a
	 * migration): send now, so MIGRATION(setup) precedes the command's
	 * reply, as in QEMU.  Else the loop sends them soon; the queue keeps
	 * them in order either way.
	 */
	if (kmig_loop_is_current(d->loop))
		emit_events(d);
	else if (kmig_loop_post(d->loop, emit_events, d) < 0)
		kmig_log(KMIG_LOG_WARN, "kmigd", "events delayed: out of memory");
}

static void workload_returned(void *arg)
{
	struct kmigd *d = arg;

	kmig_wl_server_returned(d->wls);
}

static void hook_workload_done(void *opaque)
{
	struct kmigd *d = opaque;

	if (kmig_loop_post(d->loop, workload_returned, d) < 0)
		kmig_log(KMIG_LOG_WARN, "kmigd", "lost a workload hand-back: out of memory");
}

static const struct kmig_mig_hooks hooks = {
	.notify = hook_notify,
	.workload_done = hook_workload_done,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kmigd --qmp PATH [--workload PATH] [--qmp-tcp HOST:PORT]\n"
		"             [--incoming defer|URI] [--dpdk EAL-OPTIONS] [-v]\n"
		"  --qmp PATH          QMP unix socket (created mode 0600)\n"
		"  --workload PATH     socket workloads (libkmig) register on (mode 0600)\n"
		"  --qmp-tcp HOST:PORT also serve QMP on TCP (keep it on loopback)\n"
		"  --incoming defer    wait for migrate-incoming (destination)\n"
		"  --incoming URI      listen for a migration at URI at start-up\n"
		"  --dpdk OPTIONS      start DPDK now, e.g. prefix=kmig1,mem=512,lcore=1 (else the\n"
		"                      first dpdk: URI starts it)\n"
		"  -v, --verbose       debug logging\n");
}

/*
 * Before any thread exists: undo the cgroup throttles of kmigds that died,
 * and fork the reaper that undoes ours if this kmigd dies (only where a
 * cgroup throttle could ever be applied: a workload socket, a cpu
 * controller we can write to).
 */
static void throttle_startup(void)
{
	struct kmig_cg_mount m;
	char err[512];
	int r;

	if (kmig_cg_find(&m, err, sizeof(err)) || access(m.path, W_OK))
		return;
	r = kmig_cg_cleanup(0, 0, err, sizeof(err));
	if (r < 0)
		kmig_log(KMIG_LOG_WARN, "throttle", "start-up clean-up: %s", err);
	else if (r)
		kmig_log(KMIG_LOG_INFO, "throttle", "removed %d cgroup(s) left by dead kmigds", r);
	if (kmig_cg_reaper_start(err, sizeof(err)))
		kmig_log(KMIG_LOG_WARN, "throttle", "%s: a killed kmigd would leave its workload "
			 "throttled until the next kmigd starts", err);
}

/* --incoming URI: listen at start-up; 0 or -1 (printed) */
static int incoming_now(struct kmigd *d, const char *incoming)
{
	struct kmig_mig_config cfg = { .tracker = "auto" };
	char err[512];
	bool bad_scheme;

	if (kmig_uri_parse(incoming, &cfg.uri, &bad_scheme, err, sizeof(err)) < 0 ||
	    kmig_mig_incoming(d->mig, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "kmigd: --incoming %s: %s\n", incoming, err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qmp", required_argument, NULL, 'q' },
		{ "qmp-tcp", required_argument, NULL, 't' },
		{ "workload", required_argument, NULL, 'w' },
		{ "incoming", required_argument, NULL, 'i' },
		{ "dpdk", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *qmp_path = NULL, *qmp_tcp = NULL, *incoming = NULL, *wl_path = NULL;
	const char *dpdk = NULL;
	struct kmigd d = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'q': qmp_path = optarg; break;
		case 't': qmp_tcp = optarg; break;
		case 'w': wl_path = optarg; break;
		case 'i': incoming = optarg; break;
		case 'd': dpdk = optarg; break;
		case 'v': kmig_log_max = KMIG_LOG_DEBUG; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!qmp_path || optind != argc) {
		fprintf(stderr, "kmigd: --qmp PATH is required (see --help)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (wl_path)
		throttle_startup();
	d.loop = kmig_loop_new();
	d.mig = kmig_mig_new(&hooks, &d);
	kmig_agent_init(&d.agent, d.mig, incoming != NULL);
	d.qmp = d.loop ? kmig_qmp_server_new(d.loop, &d.agent) : NULL;
	if (!d.loop || !d.mig || !d.qmp) {
		fprintf(stderr, "kmigd: out of memory at start-up\n");
		goto out;
	}
	d.agent.sink = kmig_qmp_server_sink(d.qmp);
	if (kmig_qmp_listen_unix(d.qmp, qmp_path) < 0 ||
	    (qmp_tcp && kmig_qmp_listen_tcp(d.qmp, qmp_tcp) < 0)) {
		fprintf(stderr, "kmigd: cannot open the QMP socket (see above)\n");
		goto out;
	}
	if (wl_path && !(d.wls = kmig_wl_server_new(d.loop, d.mig, wl_path))) {
		fprintf(stderr, "kmigd: cannot open the workload socket (see above)\n");
		goto out;
	}
	if (dpdk) {
		char err[512];

		if (kmig_chan_dpdk_prestart(dpdk, err, sizeof(err))) {
			fprintf(stderr, "kmigd: --dpdk %s: %s\n", dpdk, err);
			goto out;
		}
	}
	if (incoming && strcmp(incoming, "defer") && incoming_now(&d, incoming))
		goto out;
	g_loop = d.loop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	kmig_log(KMIG_LOG_INFO, "kmigd", "ready qmp=%s%s%s", qmp_path, qmp_tcp ? " tcp=" : "",
		 qmp_tcp ? qmp_tcp : "");
	ret = kmig_loop_run(d.loop) < 0;
out:
	g_loop = NULL;
	/* the migration thread ends (bounded) before its workload and sockets go */
	if (d.mig)
		kmig_mig_stop(d.mig);
	if (d.loop)
		kmig_loop_run_pending(d.loop);
	kmig_wl_server_free(d.wls);	/* lifts a cgroup throttle with the workload */
	if (wl_path) {
		char err[512];

		/* whatever could not be removed with its workload: a last try */
		if (kmig_cg_cleanup(getpid(), kmig_cg_self_start(), err, sizeof(err)) < 0)
			kmig_log(KMIG_LOG_WARN, "throttle", "at exit: %s", err);
	}
	kmig_qmp_server_free(d.qmp);
	d.agent.sink = NULL;
	kmig_agent_fini(&d.agent);
	kmig_mig_free(d.mig);
	kmig_loop_free(d.loop);
	return ret;
}
