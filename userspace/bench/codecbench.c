// SPDX-License-Identifier: GPL-2.0-only
/*
 * codecbench.c: kmig-codecbench, make bench's measure of the page codecs
 * themselves: encode and decode speed of every compressing codec on 64 MiB
 * of pages like kmig-dirtygen --content mixed writes (1 KiB random, the
 * rest a repeated line), against memcpy of the same pages in the same run.
 * One thread, the codecs exactly as the sender and receiver call them.
 * Also XBZRLE's encoder and decoder on page pairs that differ in two words
 * (kmig-dirtygen --content delta).  Prints one JSON line: per codec, MiB/s
 * and the ratio to memcpy, and the compression ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "codec.h"
#include "xbzrle.h"

#define TOTAL (64u << 20)
#define RUN   KMIG_WIRE_MAX_RUN
#define RUN_BYTES (RUN * 4096u)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(uint64_t *w, size_t words)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;

	for (size_t p = 0; p < words / 512; p++) {
		uint64_t *pg = w + p * 512;

		for (unsigned int i = 0; i < 128; i++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			pg[i] = s;
		}
		for (unsigned int i = 128; i < 512; i++)
			pg[i] = pg[i % 8];
	}
}

static double memcpy_mibs(const uint8_t *src, uint8_t *dst)
{
	double t0 = now();

	for (int rep = 0; rep < 4; rep++)
		for (size_t off = 0; off < TOTAL; off += RUN_BYTES) {
			memcpy(dst + off, src + off, RUN_BYTES);
			__asm__ volatile("" : : "r"(dst) : "memory");
		}
	return 4.0 * TOTAL / (1 << 20) / (now() - t0);
}

static int bench(const struct kmig_codec_ops *c, int level, const uint8_t *src, uint8_t *dst,
		 double base, const char *sep)
{
	static struct kmig_batch b;
	void *ep = NULL, *dp = NULL;
	double enc_s = 0, dec_s = 0;
	uint64_t wire = 0;
	char err[256];

	if (c->enc_init(&ep, level) || c->dec_init(&dp)) {
		fprintf(stderr, "codecbench: cannot set up %s\n", c->name);
		return -1;
	}
	for (size_t off = 0; off < TOTAL; off += RUN_BYTES) {
		double t0 = now(), t1;

		kmig_batch_reset(&b);
		if (c->encode(ep, &b, 0, off / 4096, RUN, src + off) || b.n != 1) {
			fprintf(stderr, "codecbench: %s could not encode\n", c->name);
			return -1;
		}
		t1 = now();
		enc_s += t1 - t0;
		wire += b.rec[0].len;
		if (b.rec[0].enc == c->enc &&
		    c->decode(dp, &b.rec[0], b.tx[0].payload, b.rec[0].len, dst + off, err,
			      sizeof(err))) {
			fprintf(stderr, "codecbench: %s: %s\n", c->name, err);
			return -1;
		}
		dec_s += now() - t1;
	}
	if (memcmp(src, dst, TOTAL)) {
		fprintf(stderr, "codecbench: %s did not round-trip\n", c->name);
		return -1;
	}
	c->enc_fini(ep);
	c->dec_fini(dp);
	kmig_batch_fini(&b);
	printf("%s\"%s\": {\"level\": %d, \"encode_mib_s\": %.0f, \"encode_vs_memcpy\": %.3f, "
	       "\"decode_mib_s\": %.0f, \"decode_vs_memcpy\": %.3f, \"ratio\": %.2f}", sep, c->name,
	       level, TOTAL / (1 << 20) / enc_s, TOTAL / (1 << 20) / enc_s / base,
	       TOTAL / (1 << 20) / dec_s, TOTAL / (1 << 20) / dec_s / base, (double)TOTAL / wire);
	return 0;
}

/* XBZRLE: @src pages against copies with two words changed, delta and back */
static int bench_xbzrle(const uint8_t *src, uint8_t *dst, double base)
{
	static uint8_t delta[4096];
	double enc_s = 0, dec_s = 0;
	uint64_t wire = 0;
	char err[256];

	memcpy(dst, src, TOTAL);
	for (size_t off = 0; off < TOTAL; off += 4096) {
		uint64_t *w = (uint64_t *)(dst + off);

		w[(off / 4096) % 512] ^= 0x5a5a5a5a5a5a5a5aull;
		w[(off / 4096 + 1) % 512] ^= 0xa5a5a5a5a5a5a5a5ull;
	}
	for (size_t off = 0; off < TOTAL; off += 4096) {
		double t0 = now(), t1;
		int len = kmig_xbzrle_encode(src + off, dst + off, 4096, delta, 4096);

		t1 = now();
		enc_s += t1 - t0;
		if (len <= 0) {
			fprintf(stderr, "codecbench: xbzrle encode gave %d\n", len);
			return -1;
		}
		wire += (uint64_t)len;
		/* decode onto the old page: it must become the new one */
		if (kmig_xbzrle_decode(delta, len, (uint8_t *)src + off, 4096, err, sizeof(err)) < 0) {
			fprintf(stderr, "codecbench: xbzrle: %s\n", err);
			return -1;
		}
		dec_s += now() - t1;
	}
	if (memcmp(src, dst, TOTAL)) {
		fprintf(stderr, "codecbench: xbzrle did not round-trip\n");
		return -1;
	}
	printf(", \"xbzrle\": {\"level\": 0, \"encode_mib_s\": %.0f, \"encode_vs_memcpy\": %.3f, "
	       "\"decode_mib_s\": %.0f, \"decode_vs_memcpy\": %.3f, \"ratio\": %.2f}",
	       TOTAL / (1 << 20) / enc_s, TOTAL / (1 << 20) / enc_s / base,
	       TOTAL / (1 << 20) / dec_s, TOTAL / (1 << 20) / dec_s / base, (double)TOTAL / wire);
	return 0;
}

int main(void)
{
	uint8_t *src = aligned_alloc(4096, TOTAL), *dst = aligned_alloc(4096, TOTAL);
	double base;

	if (!src || !dst) {
		fprintf(stderr, "codecbench: out of memory\n");
		return 1;
	}
	fill((uint64_t *)src, TOTAL / 8);
	memset(dst, 1, TOTAL);
	base = memcpy_mibs(src, dst);
	printf("{\"memcpy_mib_s\": %.0f, \"codecs\": {", base);
	if (bench(&kmig_codec_zlib, 1, src, dst, base, "") ||
	    bench(&kmig_codec_zstd, 1, src, dst, base, ", ") || bench_xbzrle(src, dst, base)) {
		printf("}}\n");
		return 1;
	}
	printf("}}\n");
	free(src);
	free(dst);
	return 0;
}
