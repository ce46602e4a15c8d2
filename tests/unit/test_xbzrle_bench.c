// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_xbzrle_bench.c: XBZRLE encode and decode throughput, as GB/s of
 * page bytes and as ratios to memcpy of the same page bytes measured in
 * the same run (absolute numbers on a shared VM mean little).
 *
 *   test_xbzrle_bench --bench [SCALE]   the table, then one JSON line
 *
 * Without arguments (make check) it runs the same code once over a few
 * pages, to keep the benchmark working, and checks every encoder build
 * gives the same bytes on its data.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "xbzrle.h"
#include "xbzrle_gen.h"

#define PAGE 4096

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* what is measured: memcpy, each encoder build, the decoder */
enum { V_MEMCPY, V_ENC, V_DECODE = V_ENC + KMIG_XBZRLE_IMPL_COUNT, V_COUNT };

struct set {
	int pages;
	uint8_t *old, *new;	/* pages * PAGE each */
	uint8_t **delta;	/* each page's delta (dlen > 0) */
	int *dlen;
	long decoded;		/* pages with a delta */
};

/* one pass of @v over all pages; returns the page bytes it covered */
static double pass(int v, const struct set *s)
{
	static uint8_t out[PAGE];

	for (int p = 0; p < s->pages; p++) {
		const uint8_t *np = s->new + (size_t)p * PAGE;
		uint8_t *op = s->old + (size_t)p * PAGE;

		if (v == V_MEMCPY)
			memcpy(out, np, PAGE);
		else if (v == V_DECODE && s->dlen[p] > 0)
			kmig_xbzrle_decode(s->delta[p], s->dlen[p], op, PAGE, NULL, 0);
		else if (v != V_DECODE)
			kmig_xbzrle_encode_impl(v - V_ENC, op, np, PAGE, out, PAGE);
		__asm__ volatile("" : : "r"(out), "r"(op) : "memory");
	}
	return (double)(v == V_DECODE ? s->decoded : s->pages) * PAGE;
}

/*
 * Page bytes per second in @rate[v] for everything measured, taken in
 * turns within each of 5 rounds of at least @secs per variant, the best
 * round counting: a busy neighbour then slows all of them alike.  Memcpy
 * copies each new page to a scratch page, as the encoder writes its delta
 * to one; the encoder reads old and new pages; the decoder applies each
 * delta to its old page again and again (the result is the same), and
 * only pages that have a delta count.
 */
static void measure(const struct set *s, double secs, double *rate)
{
	for (int v = 0; v < V_COUNT; v++)
		rate[v] = 0;
	for (int round = 0; round < 5; round++) {
		for (int v = 0; v < V_COUNT; v++) {
			double t0 = now(), t, bytes = 0;

			if (v == V_ENC + KMIG_XBZRLE_IMPL_AUTO ||
			    (v > V_ENC && v < V_DECODE && !kmig_xbzrle_impl_available(v - V_ENC)) ||
			    (v == V_DECODE && !s->decoded))
				continue;
			do {
				bytes += pass(v, s);
				t = now() - t0;
			} while (t < secs);
			if (bytes / t > rate[v])
				rate[v] = bytes / t;
		}
	}
}

/* the pages of @pat, their deltas, and a check that every build agrees */
static int make_set(struct set *s, enum xb_pat pat, long *total, long *over)
{
	static uint8_t out[PAGE];

	*total = *over = 0;
	s->decoded = 0;
	for (int p = 0; p < s->pages; p++) {
		uint8_t *op = s->old + (size_t)p * PAGE, *np = s->new + (size_t)p * PAGE;

		xb_make_pair((uint64_t)p, pat, op, np, PAGE);
		s->dlen[p] = kmig_xbzrle_encode(op, np, PAGE, s->delta[p], PAGE);
		for (int i = KMIG_XBZRLE_IMPL_WORD; i < KMIG_XBZRLE_IMPL_COUNT; i++) {
			if (!kmig_xbzrle_impl_available(i))
				continue;
			if (kmig_xbzrle_encode_impl(i, op, np, PAGE, out, PAGE) != s->dlen[p] ||
			    (s->dlen[p] > 0 && memcmp(out, s->delta[p], (size_t)s->dlen[p]))) {
				fprintf(stderr, "encoder %s differs on page %d\n",
					kmig_xbzrle_impl_name(i), p);
				return -1;
			}
		}
		*total += s->dlen[p] > 0 ? s->dlen[p] : 0;
		*over += s->dlen[p] < 0;
		s->decoded += s->dlen[p] > 0;
	}
	return 0;
}

/* prints the table (and the JSON line) for @pages pages, @secs per number */
static int bench(int pages, double secs, int quiet)
{
	static const struct {
		const char *name;
		enum xb_pat pat;
	} pats[] = {
		{ "unchanged", XP_NONE }, { "few bytes", XP_SINGLE }, { "runs", XP_RUNS },
		{ "unaligned", XP_UNALIGNED }, { "long runs", XP_LONG }, { "dense", XP_DENSE },
	};
	struct set s = { .pages = pages };
	char json[4096];
	size_t jn = 0;
	int rc = -1;

	s.old = malloc((size_t)pages * PAGE);
	s.new = malloc((size_t)pages * PAGE);
	s.delta = calloc((size_t)pages, sizeof(*s.delta));
	s.dlen = calloc((size_t)pages, sizeof(*s.dlen));
	if (!s.old || !s.new || !s.delta || !s.dlen)
		goto out;
	for (int p = 0; p < pages; p++)
		if (!(s.delta[p] = malloc(PAGE)))
			goto out;
	if (!quiet) {
		printf("XBZRLE over %d pages of 4 KiB: GB/s of page bytes (ratio to memcpy); "
		       "kmig_xbzrle_encode uses %s\n", pages,
		       kmig_xbzrle_impl_name(KMIG_XBZRLE_IMPL_AUTO));
		printf("%-10s %6s %5s %7s %14s %14s %14s %14s\n", "pattern", "delta", "ovfl",
		       "memcpy", "encode word", "encode sse2", "encode avx2", "decode");
	}
	jn += (size_t)snprintf(json + jn, sizeof(json) - jn, "{\"xbzrle_bench\": [");
	for (size_t k = 0; k < sizeof(pats) / sizeof(pats[0]); k++) {
		double r[V_COUNT], mc;
		long total, over;

		if (make_set(&s, pats[k].pat, &total, &over))
			goto out;
		measure(&s, secs, r);
		mc = r[V_MEMCPY];
		if (!quiet) {
			printf("%-10s %6ld %4ld%% %7.2f", pats[k].name, total / pages,
			       over * 100 / pages, mc / 1e9);
			for (int v = V_ENC + KMIG_XBZRLE_IMPL_WORD; v <= V_DECODE; v++)
				if (r[v] > 0)
					printf(" %6.2f (%5.2f)", r[v] / 1e9, r[v] / mc);
				else
					printf(" %14s", "-");
			printf("\n");
			fflush(stdout);
		}
		jn += (size_t)snprintf(json + jn, sizeof(json) - jn,
				       "%s{\"pattern\": \"%s\", \"delta_bytes\": %ld, "
				       "\"overflow_pct\": %ld, \"memcpy_gbps\": %.3f, "
				       "\"encode_word\": %.3f, \"encode_sse2\": %.3f, "
				       "\"encode_avx2\": %.3f, \"decode\": %.3f}",
				       k ? ", " : "", pats[k].name, total / pages, over * 100 / pages,
				       mc / 1e9, r[V_ENC + KMIG_XBZRLE_IMPL_WORD] / mc,
				       r[V_ENC + KMIG_XBZRLE_IMPL_SSE2] / mc,
				       r[V_ENC + KMIG_XBZRLE_IMPL_AVX2] / mc, r[V_DECODE] / mc);
		if (jn >= sizeof(json))
			goto out;
	}
	if (!quiet)
		printf("%s], \"auto\": \"%s\"}\n", json, kmig_xbzrle_impl_name(KMIG_XBZRLE_IMPL_AUTO));
	rc = 0;
out:
	for (int p = 0; s.delta && p < pages; p++)
		free(s.delta[p]);
	free(s.delta);
	free(s.dlen);
	free(s.old);
	free(s.new);
	return rc;
}

static void test_bench_runs(void **state)
{
	assert_int_equal(bench(16, 0, 1), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bench_runs),
	};

	/* 4096 pages: 16 MiB of old and of new pages, beyond the L2 */
	if (argc > 1 && !strcmp(argv[1], "--bench"))
		return bench(4096, 0.05 * (argc > 2 ? atof(argv[2]) : 1.0), 0) ? 1 : 0;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
