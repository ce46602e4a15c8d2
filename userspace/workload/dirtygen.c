// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtygen.c: kmig-dirtygen, the test workload.  It keeps its RAM in one
 * libkmig block and dirties pages at a chosen rate and pattern.  Every
 * page's bytes follow from (page index, generation) and the generations
 * travel in the device state, so a destination can check every page it got.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "dirtygen.h"

static const char *const dg_pattern_names[] = { "uniform", "hot", "seq" };
static const char *const dg_content_names[] = { "random", "mixed", "text", "delta" };

/* ---- files ---- */

/* Writes @text to @path through a rename, so readers never see half. */
static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	FILE *f;
	int bad;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	bad = fputs(text, f) < 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) < 0) {
		int e = errno ? errno : EIO;

		unlink(tmp);
		return -e;
	}
	return 0;
}

static void write_checksum(struct dg *d)
{
	char line[32];
	int r;

	if (!d->csum_out)
		return;
	snprintf(line, sizeof(line), "%016" PRIx64 "\n",
		 d->csum_gens ? dg_gens_checksum(d) : dg_mem_checksum(d));
	r = write_file(d->csum_out, line);
	if (r)
		fprintf(stderr, "dirtygen: cannot write %s: %s\n", d->csum_out, strerror(-r));
}

static void write_report(struct dg *d)
{
	uint64_t i, zero = 0, csum;
	char line[1024];
	int r;

	if (!d->report)
		return;
	for (i = 0; i < d->npages; i++)
		zero += !d->gens[i];
	/* memory with postcopy pages missing cannot be read (it would wait for them) */
	csum = kmig_postcopy_pending(d->kmig) ? 0 : dg_mem_checksum(d);
	snprintf(line, sizeof(line),
		 "{\"role\": \"%s\", \"pid\": %d, \"block\": \"%s\", \"size\": %" PRIu64
		 ", \"pages\": %" PRIu64 ", \"outcome\": \"%s\", \"writes\": %" PRIu64
		 ", \"local_writes\": %" PRIu64 ", \"hops\": %" PRIu64 ", \"pauses\": %" PRIu64
		 ", \"resumes\": %" PRIu64 ", \"zero_pages\": %" PRIu64 ", \"gen_sum\": %" PRIu64
		 ", \"checksum\": \"%016" PRIx64 "\", \"verify_ok\": %" PRIu64
		 ", \"verify_bad\": %" PRIu64 ", \"throttle_pct\": %u, \"throttle_max_pct\": %u"
		 ", \"throttle_changes\": %" PRIu64 ", \"postcopy\": %s, \"arrived\": %" PRIu64
		 ", \"touches\": %" PRIu64 "}\n",
		 d->role == KMIG_ROLE_SOURCE ? "src" : "dst", (int)getpid(), d->name, d->size,
		 d->npages, d->outcome, d->writes, d->local_writes, d->hops, d->pauses,
		 d->resumes, zero, dg_gen_sum(d), csum, d->verify_ok, d->verify_bad,
		 d->throttle_pct, d->throttle_max, d->throttle_changes,
		 d->postcopy ? "true" : "false", d->arrived, d->touches);
	r = write_file(d->report, line);
	if (r)
		fprintf(stderr, "dirtygen: cannot write %s: %s\n", d->report, strerror(-r));
}

/* ---- libkmig callbacks ---- */

static int cb_pause(void *opaque)
{
	struct dg *d = opaque;

	dg_writer_stop(d);
	d->pauses++;
	d->outcome = "paused";
	return 0;
}

static int cb_save_state(void *opaque, void **buf, size_t *len)
{
	struct dg *d = opaque;
	size_t n = sizeof(struct dg_blob) + d->npages * sizeof(uint32_t);
	struct dg_blob *b = malloc(n);

	if (!b)
		return -ENOMEM;
	*b = (struct dg_blob){
		.magic = DG_BLOB_MAGIC, .version = DG_BLOB_VERSION, .npages = d->npages,
		.seed = d->seed, .rng = d->rng, .cursor = d->cursor, .writes = d->writes,
		.hops = d->hops, .gen_sum = dg_gen_sum(d),
	};
	memcpy(b + 1, d->gens, d->npages * sizeof(uint32_t));
	*buf = b;
	*len = n;
	return 0;
}

static void cb_resume(void *opaque)
{
	struct dg *d = opaque;

	d->resumes++;
	d->outcome = "running";
	dg_writer_start(d);
}

static void cb_migrated(void *opaque)
{
	struct dg *d = opaque;

	d->outcome = "migrated";
	/* RAM has not changed since the pause: this is the source's final memory */
	write_checksum(d);
}

static int cb_load_state(void *opaque, const void *buf, size_t len)
{
	struct dg *d = opaque;
	struct dg_blob b;

	if (len < sizeof(b)) {
		fprintf(stderr, "dirtygen: device state too short (%zu bytes)\n", len);
		return -EINVAL;
	}
	memcpy(&b, buf, sizeof(b));
	if (b.magic != DG_BLOB_MAGIC || b.version != DG_BLOB_VERSION) {
		fprintf(stderr, "dirtygen: device state is not dirtygen's (magic %08" PRIx32 ")\n",
			b.magic);
		return -EINVAL;
	}
	if (b.npages != d->npages || len != sizeof(b) + d->npages * sizeof(uint32_t)) {
		fprintf(stderr, "dirtygen: source has %" PRIu64 " pages, we have %" PRIu64 "\n",
			b.npages, d->npages);
		return -EINVAL;
	}
	memcpy(d->gens, (const uint8_t *)buf + sizeof(b), d->npages * sizeof(uint32_t));
	if (dg_gen_sum(d) != b.gen_sum) {
		fprintf(stderr, "dirtygen: device state damaged (generation sum)\n");
		return -EINVAL;
	}
	d->seed = b.seed;
	d->rng = b.rng;
	d->cursor = b.cursor % d->npages;
	d->writes = b.writes;
	d->hops = b.hops + 1;
	d->outcome = "started";
	return 0;
}

/*
 * After kmigd was told STARTED (so outside the measured downtime): the test
 * instrument's checks, then the writer resumes where the source stopped.
 * Started by postcopy, the pages are still arriving: the writer starts at
 * once (touching a missing page waits for it) and the checks wait for
 * cb_arrived.
 */
static void cb_started(void *opaque)
{
	struct dg *d = opaque;

	if (kmig_postcopy_pending(d->kmig)) {
		d->postcopy = true;
		if (dg_writer_start(d) || dg_toucher_start(d))
			d->outcome = "writer-failed";
		return;
	}
	if (d->verify) {
		dg_verify_all(d);
		if (d->verify_bad)
			d->outcome = "verify-failed";
	}
	write_checksum(d);
	if (!d->verify_bad && dg_writer_start(d))
		d->outcome = "writer-failed";
}

/* postcopy: every page is in now; the checks cb_started left for this moment */
static void cb_arrived(void *opaque)
{
	struct dg *d = opaque;
	bool ran = d->running;

	dg_toucher_stop(d);
	fprintf(stderr, "dirtygen: every page arrived (postcopy; %" PRIu64 " pages touched "
		"meanwhile)\n", d->touches);
	d->arrived++;
	if (!d->verify && !d->csum_out)
		return;
	dg_writer_stop(d);	/* memory quiet while it is checked */
	if (d->verify) {
		dg_verify_all(d);
		if (d->verify_bad)
			d->outcome = "verify-failed";
	}
	write_checksum(d);
	if (ran && !d->verify_bad && dg_writer_start(d))
		d->outcome = "writer-failed";
}

static const struct kmig_callbacks dg_callbacks = {
	.pause = cb_pause,
	.save_state = cb_save_state,
	.resume = cb_resume,
	.load_state = cb_load_state,
	.started = cb_started,
	.migrated = cb_migrated,
	.arrived = cb_arrived,
};

/* ---- setup ---- */

/* Generation 1 everywhere but a --zero-pct share of pages left at 0. */
static void initial_fill(struct dg *d)
{
	uint64_t i;

	for (i = 0; i < d->npages; i++) {
		if (mix64(d->seed ^ (i * DG_GOLDEN)) % 100 < d->zero_pct)
			continue;
		d->gens[i] = 1;
		dg_page_fill(d, (uint64_t *)page_at(d, i), i, 1);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kmig-dirtygen --agent SOCK [options]\n"
		"  --agent SOCK          kmigd's workload socket\n"
		"  --role src|dst        running source (default) or waiting destination\n"
		"  --size N[K|M|G|T]     RAM size (default 64M; rounded up to 4K pages)\n"
		"  --block-name NAME     RAM block name (default ram0)\n"
		"  --rate N|idle         pages written per second; 0 = flat out (default)\n"
		"  --idle                write nothing after the initial fill\n"
		"  --pattern P           uniform (default) | hot | seq\n"
		"  --hot-pct N           hot: 90%% of writes go to the first N%% of pages (10)\n"
		"  --content C           random (default) | mixed (1 KiB random, rest a\n"
		"                        repeated line) | text (a repeated line) | delta\n"
		"                        (mixed, each write changing two words of it)\n"
		"  --zero-pct N          pages the initial fill leaves zero (5)\n"
		"  --seed N              RNG seed (1)\n"
		"  --verify              dst: check every page after the state loads\n"
		"  --checksum-out FILE   write the memory's XXH64 (hex) on pause (src) or\n"
		"                        after load/verify (dst)\n"
		"  --pidfile FILE        written once registered with the agent\n"
		"  --report FILE         JSON line with final stats, written on exit\n"
		"  --no-throttle         do not offer kmigd the cooperative throttle (it then\n"
		"                        throttles through a cgroup)\n"
		"  --touch N|max         dst: while postcopy's pages arrive, read N random\n"
		"                        pages/s (each missing one is a fault); no writes\n"
		"  --no-postcopy         dst: do not offer to start before memory arrived\n"
		"  --checksum-gens       --checksum-out hashes the memory the page generations\n"
		"                        define, without reading it (a source whose memory\n"
		"                        release-ram freed)\n"
		"exit: 0 ok, 1 setup error, 2 agent/migration failure, 3 verify mismatch\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	default: return -1;
	}
	if (*end && end[1])
		return -1;
	if (!v || v > (UINT64_MAX >> shift) - DG_PAGE)
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_pct(const char *s, unsigned int lo, unsigned int *out)
{
	uint64_t v;

	if (parse_u64(s, &v) || v < lo || v > 100)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= KMIG_RAM_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

enum {
	OPT_AGENT = 256, OPT_SIZE, OPT_NAME, OPT_ROLE, OPT_RATE, OPT_IDLE, OPT_PATTERN,
	OPT_HOT, OPT_CONTENT, OPT_ZERO, OPT_SEED, OPT_VERIFY, OPT_PIDFILE, OPT_REPORT, OPT_CSUM,
	OPT_NO_THROTTLE, OPT_TOUCH, OPT_NO_POSTCOPY, OPT_CSUM_GENS,
};

static int parse_opts(struct dg *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "agent", required_argument, NULL, OPT_AGENT },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "block-name", required_argument, NULL, OPT_NAME },
		{ "role", required_argument, NULL, OPT_ROLE },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "idle", no_argument, NULL, OPT_IDLE },
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ "hot-pct", required_argument, NULL, OPT_HOT },
		{ "zero-pct", required_argument, NULL, OPT_ZERO },
		{ "content", required_argument, NULL, OPT_CONTENT },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "pidfile", required_argument, NULL, OPT_PIDFILE },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "checksum-out", required_argument, NULL, OPT_CSUM },
		{ "no-throttle", no_argument, NULL, OPT_NO_THROTTLE },
		{ "touch", required_argument, NULL, OPT_TOUCH },
		{ "no-postcopy", no_argument, NULL, OPT_NO_POSTCOPY },
		{ "checksum-gens", no_argument, NULL, OPT_CSUM_GENS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *bad = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_AGENT: d->agent = optarg; break;
		case OPT_SIZE: if (parse_size(optarg, &d->size)) bad = "--size"; break;
		case OPT_NAME: d->name = optarg; if (!name_ok(optarg)) bad = "--block-name"; break;
		case OPT_ROLE:
			if (!strcmp(optarg, "src"))
				d->role = KMIG_ROLE_SOURCE;
			else if (!strcmp(optarg, "dst"))
				d->role = KMIG_ROLE_DEST;
			else
				bad = "--role";
			break;
		case OPT_RATE:
			if (!strcmp(optarg, "idle"))
				d->idle = true;
			else if (parse_u64(optarg, &d->rate))
				bad = "--rate";
			break;
		case OPT_IDLE: d->idle = true; break;
		case OPT_PATTERN:
			for (d->pattern = DG_UNIFORM; d->pattern <= DG_SEQ; d->pattern++)
				if (!strcmp(optarg, dg_pattern_names[d->pattern]))
					break;
			if (d->pattern > DG_SEQ)
				bad = "--pattern";
			break;
		case OPT_CONTENT:
			for (d->content = DG_RANDOM; d->content <= DG_DELTA; d->content++)
				if (!strcmp(optarg, dg_content_names[d->content]))
					break;
			if (d->content > DG_DELTA)
				bad = "--content";
			break;
		case OPT_HOT: if (parse_pct(optarg, 1, &d->hot_pct)) bad = "--hot-pct"; break;
		case OPT_ZERO: if (parse_pct(optarg, 0, &d->zero_pct)) bad = "--zero-pct"; break;
		case OPT_SEED: if (parse_u64(optarg, &d->seed)) bad = "--seed"; break;
		case OPT_VERIFY: d->verify = true; break;
		case OPT_PIDFILE: d->pidfile = optarg; break;
		case OPT_REPORT: d->report = optarg; break;
		case OPT_CSUM: d->csum_out = optarg; break;
		case OPT_NO_THROTTLE: d->no_throttle = true; break;
		case OPT_TOUCH:
			d->touch = true;
			if (strcmp(optarg, "max") && parse_u64(optarg, &d->touch_rate))
				bad = "--touch";
			break;
		case OPT_NO_POSTCOPY: d->no_postcopy = true; break;
		case OPT_CSUM_GENS: d->csum_gens = true; break;
		case 'h': usage(stdout); exit(DG_EXIT_OK);
		default: usage(stderr); return -1;
		}
		if (bad) {
			fprintf(stderr, "dirtygen: bad value for %s: '%s'\n", bad, optarg);
			return -1;
		}
	}
	if (optind < argc || !d->agent) {
		usage(stderr);
		return -1;
	}
	d->npages = (d->size + DG_PAGE - 1) / DG_PAGE;
	d->size = d->npages * DG_PAGE;
	if (sizeof(struct dg_blob) + d->npages * sizeof(uint32_t) > KMIG_STATE_MAX) {
		fprintf(stderr, "dirtygen: --size too large: device state over %u bytes\n",
			KMIG_STATE_MAX);
		return -1;
	}
	d->hot_n = d->npages * d->hot_pct / 100;
	if (!d->hot_n)
		d->hot_n = 1;
	return 0;
}

/* ---- main ---- */

/* after each dispatch: the throttle libkmig applies, reported when it changes */
static void note_throttle(struct dg *d)
{
	unsigned int p = kmig_throttle_pct(d->kmig);

	if (p == d->throttle_pct)
		return;
	fprintf(stderr, "dirtygen: throttle %u%% (was %u%%)\n", p, d->throttle_pct);
	d->throttle_pct = p;
	d->throttle_changes++;
	if (p > d->throttle_max)
		d->throttle_max = p;
}

/* Runs until a signal or the migration's end.  Returns the exit code. */
static int run(struct dg *d, int sfd)
{
	bool ended = false;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = kmig_fd(d->kmig), .events = POLLIN },
		};
		int r;

		if (poll(p, ended ? 1 : 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "dirtygen: poll: %s\n", strerror(errno));
			return DG_EXIT_SETUP;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				fprintf(stderr, "dirtygen: signal %u, exiting\n", si.ssi_signo);
			return DG_EXIT_OK;
		}
		if (ended || !p[1].revents)
			continue;
		r = kmig_dispatch(d->kmig);
		note_throttle(d);
		if (r < 0) {
			if (d->verify_bad)
				return DG_EXIT_VERIFY;
			fprintf(stderr, "dirtygen: agent: %s\n", strerror(-r));
			if (strcmp(d->outcome, "paused"))
				d->outcome = "agent-lost";
			return DG_EXIT_AGENT;
		}
		if (r == 0)
			continue;
		switch (kmig_state(d->kmig)) {
		case KMIG_STATE_MIGRATED:
			fprintf(stderr, "dirtygen: migrated, exiting\n");
			return DG_EXIT_OK;
		case KMIG_STATE_READY:
			/* started here, and a source now: it can be migrated on */
			if (d->verify_bad)
				return DG_EXIT_VERIFY;
			if (d->role == KMIG_ROLE_SOURCE)
				continue;	/* postcopy's last pages arrived */
			fprintf(stderr, "dirtygen: started (hop %" PRIu64 "), now a source%s\n", d->hops,
				kmig_postcopy_pending(d->kmig) ? " (postcopy: pages still arriving)" : "");
			d->role = KMIG_ROLE_SOURCE;
			continue;
		case KMIG_STATE_STARTED:
			if (d->verify_bad)
				return DG_EXIT_VERIFY;	/* cb_started found bad pages */
			if (kmig_postcopy_pending(d->kmig)) {
				fprintf(stderr, "dirtygen: started (hop %" PRIu64 "), postcopy: "
					"pages still arriving\n", d->hops);
				continue;
			}
			fprintf(stderr, "dirtygen: started (hop %" PRIu64 ")\n", d->hops);
			ended = true;
			break;
		default:
			fprintf(stderr, "dirtygen: incoming migration failed\n");
			d->outcome = "failed";
			return DG_EXIT_AGENT;
		}
	}
}

static int setup(struct dg *d)
{
	char line[32];
	int r;

	d->kmig = kmig_open(d->agent, d->role, &dg_callbacks, d);
	if (!d->kmig) {
		fprintf(stderr, "dirtygen: cannot connect to %s: %s\n", d->agent, strerror(errno));
		return -1;
	}
	if (d->no_throttle)
		kmig_set_option(d->kmig, KMIG_OPT_THROTTLE, 0);
	if (d->no_postcopy)
		kmig_set_option(d->kmig, KMIG_OPT_POSTCOPY, 0);
	d->mem = kmig_ram_alloc(d->kmig, d->name, d->size);
	d->gens = calloc(d->npages, sizeof(uint32_t));
	if (!d->mem || !d->gens) {
		fprintf(stderr, "dirtygen: cannot allocate %" PRIu64 " bytes: %s\n", d->size,
			strerror(errno));
		return -1;
	}
	if (d->role == KMIG_ROLE_SOURCE)
		initial_fill(d);
	r = kmig_register(d->kmig);
	if (r) {
		fprintf(stderr, "dirtygen: cannot register with %s: %s\n", d->agent, strerror(-r));
		return -1;
	}
	snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (d->pidfile && write_file(d->pidfile, line)) {
		fprintf(stderr, "dirtygen: cannot write %s\n", d->pidfile);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct dg d = {
		.name = "ram0", .role = KMIG_ROLE_SOURCE, .size = 64u << 20,
		.pattern = DG_UNIFORM, .hot_pct = 10, .zero_pct = 5, .seed = 1,
		.lock = PTHREAD_MUTEX_INITIALIZER, .outcome = "waiting",
	};
	pthread_condattr_t ca;
	sigset_t sigs;
	int sfd, rc = DG_EXIT_SETUP;

	if (parse_opts(&d, argc, argv))
		return DG_EXIT_SETUP;
	d.rng = d.seed;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d.cond, &ca);
	pthread_condattr_destroy(&ca);

	/* blocked before any thread starts, so only the signalfd sees them */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("dirtygen: signalfd");
		return DG_EXIT_SETUP;
	}

	if (!setup(&d)) {
		char rate[24] = "idle";

		if (!d.idle && d.rate)
			snprintf(rate, sizeof(rate), "%" PRIu64, d.rate);
		else if (!d.idle)
			strcpy(rate, "max");
		fprintf(stderr, "dirtygen: pid=%d size=%" PRIu64 " role=%s block=%s pages=%" PRIu64
			" rate=%s pattern=%s throttle=%s\n", (int)getpid(), d.size,
			d.role == KMIG_ROLE_SOURCE ? "src" : "dst", d.name, d.npages, rate,
			dg_pattern_names[d.pattern], d.no_throttle ? "cgroup" : "libkmig");
		if (d.role == KMIG_ROLE_SOURCE) {
			d.outcome = "running";
			dg_writer_start(&d);
		}
		rc = run(&d, sfd);
		if (kmig_postcopy_pending(d.kmig)) {
			/*
			 * Pages are still missing and will never come: a thread
			 * blocked on one cannot be joined, and reading the memory
			 * would block too.  Say so and leave.
			 */
			fprintf(stderr, "dirtygen: exiting with postcopy pages still missing\n");
			d.outcome = "postcopy-incomplete";
			write_report(&d);
			fflush(NULL);
			_exit(rc ? rc : DG_EXIT_AGENT);
		}
		dg_toucher_stop(&d);
		dg_writer_stop(&d);
		write_report(&d);
		if (d.pidfile)
			unlink(d.pidfile);
	}
	kmig_close(d.kmig);
	free(d.gens);
	close(sfd);
	return rc;
}
