/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dirtygen.h: what kmig-dirtygen's two files share: its state, the page
 * content rule (page index, generation) -> bytes, and the writer thread.
 */
#ifndef KMIG_DIRTYGEN_H
#define KMIG_DIRTYGEN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "libkmig.h"

#define DG_PAGE         4096u		/* content unit; page index = offset / DG_PAGE */
#define DG_WORDS        (DG_PAGE / 8)
#define DG_BATCH        256		/* pages written between stop-flag checks */
#define DG_GOLDEN       0x9e3779b97f4a7c15ull
#define DG_BLOB_MAGIC   0x31534744u	/* bytes "DGS1" on little-endian */
#define DG_BLOB_VERSION 1u

/* exit codes */
#define DG_EXIT_OK      0
#define DG_EXIT_SETUP   1		/* bad options, cannot connect or allocate */
#define DG_EXIT_AGENT   2		/* agent went away / protocol error / migration failed */
#define DG_EXIT_VERIFY  3		/* destination memory did not match */

enum dg_pattern { DG_UNIFORM, DG_HOT, DG_SEQ };

/*
 * What a page holds at a generation (both sides must be told the same):
 * random bytes; "mixed": 1 KiB random, then a 64-byte line repeated (about
 * 3.5x for zlib); "text": the line everywhere; "delta": the page's "mixed"
 * generation-1 bytes with only two words changed per generation (what
 * XBZRLE is for; it compresses as "mixed" does).
 */
enum dg_content { DG_RANDOM, DG_MIXED, DG_TEXT, DG_DELTA };

/**
 * struct dg_blob - the device state: this header, then uint32_t gens[npages]
 * @magic:   DG_BLOB_MAGIC
 * @version: DG_BLOB_VERSION
 * @npages:  DG_PAGE-sized pages (entries in gens[]); both sides must agree
 * @seed:    the source's --seed
 * @rng:     writer RNG state (splitmix64), so the destination continues it
 * @cursor:  next page of the seq pattern
 * @writes:  page writes after the initial fill, summed over every host
 * @hops:    migrations this memory went through before this one
 * @gen_sum: sum of gens[], a cheap check that the blob arrived whole
 */
struct dg_blob {
	uint32_t magic;
	uint32_t version;
	uint64_t npages;
	uint64_t seed;
	uint64_t rng;
	uint64_t cursor;
	uint64_t writes;
	uint64_t hops;
	uint64_t gen_sum;
};
_Static_assert(sizeof(struct dg_blob) == 64, "blob header is 64 bytes");

struct dg {
	/* options */
	const char *agent, *name, *pidfile, *report, *csum_out;
	enum kmig_role role;
	uint64_t size, npages, hot_n;
	uint64_t rate;			/* pages/s, 0 = flat out */
	bool idle, verify;
	bool no_throttle;		/* --no-throttle: no KMIG_OPT_THROTTLE */
	bool no_postcopy;		/* --no-postcopy: no KMIG_OPT_POSTCOPY */
	bool csum_gens;			/* --checksum-gens: --checksum-out from the generations */
	enum dg_pattern pattern;
	enum dg_content content;
	unsigned int hot_pct, zero_pct;
	uint64_t seed;

	struct kmig_ctx *kmig;
	uint8_t *mem;
	uint32_t *gens;			/* per page; 0 = never written (zero page) */

	/* owned by the writer thread while it runs, by main otherwise */
	uint64_t rng, cursor, writes, local_writes, hops;

	pthread_t thr;
	bool running;
	int stop;			/* __atomic; set under @lock to wake a nap */
	pthread_mutex_t lock;
	pthread_cond_t cond;

	uint64_t pauses, resumes, verify_ok, verify_bad;
	unsigned int throttle_pct, throttle_max;	/* as libkmig applied it */
	uint64_t throttle_changes;
	bool postcopy;			/* started before its memory arrived */
	uint64_t arrived;		/* postcopy: the "every page arrived" calls */
	/* --touch: a reader of random pages while postcopy's pages arrive */
	bool touch;
	uint64_t touch_rate;		/* pages/s, 0 = flat out */
	pthread_t touch_thr;
	bool touching;
	int touch_stop;			/* __atomic */
	uint64_t touches;		/* pages read */
	uint64_t touch_sum;		/* what they read (so the reads are not optimised away) */
	const char *outcome;
};

/* splitmix64: the page content and the writer's RNG */
static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t rng_next(uint64_t *s)
{
	*s += DG_GOLDEN;
	return mix64(*s);
}

static inline uint8_t *page_at(struct dg *d, uint64_t idx)
{
	return d->mem + idx * DG_PAGE;
}

/* dg_memory.c: page contents, checks, and the writer thread */
void dg_page_fill(const struct dg *d, uint64_t *w, uint64_t idx, uint32_t gen);
uint64_t dg_mem_checksum(struct dg *d);
uint64_t dg_gens_checksum(const struct dg *d);
uint64_t dg_gen_sum(const struct dg *d);
void dg_verify_all(struct dg *d);
int dg_writer_start(struct dg *d);
void dg_writer_stop(struct dg *d);
int dg_toucher_start(struct dg *d);
void dg_toucher_stop(struct dg *d);

#endif
