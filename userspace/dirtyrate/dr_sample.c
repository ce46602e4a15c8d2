// SPDX-License-Identifier: GPL-2.0-only
/*
 * dr_sample.c: the page-sampling method, as QEMU's calc-dirty-rate does it:
 * per block, sample-pages per GiB random pages are hashed (XXH3 here, CRC32
 * in QEMU), and hashed again when the time is up; the share that changed,
 * times the memory, over the time, is the rate.  Blocks under 128 KiB are
 * skipped, as in QEMU.  Pages are read with pread(2) on the block's memfd
 * (which never allocates a hole), or with process_vm_readv(2) from a
 * process that registered nothing (`kmig dirtyrate --pid`); a page that
 * cannot be read from such a process (unmapped meanwhile) is left out.
 * What it measures is content change: a page rewritten with the same
 * bytes does not count, and a page written twice counts once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "dirtyrate.h"
#include "pagehash.h"

/* 4 Mi samples (96 MiB of bookkeeping, 16 GiB read twice) bound one measurement */
#define DR_MAX_SAMPLES_TOTAL	(1u << 22)

struct sample {
	uint32_t block;
	uint32_t ok;		/* read both times */
	uint64_t page;
	uint64_t hash;
};

/* reads page @pg of block @b into @buf: 0, -EFAULT (not mapped), -errno */
static int read_page(const struct kmig_dr_target *t, unsigned int b, uint64_t pg, void *buf)
{
	const struct kmig_dr_block *k = &t->blocks[b];
	ssize_t n;

	if (k->memfd >= 0) {
		n = pread(k->memfd, buf, KMIG_PAGE_SIZE, (off_t)(pg * KMIG_PAGE_SIZE));
		if (n < 0)
			return -errno;
		if (n < (ssize_t)KMIG_PAGE_SIZE)	/* past the file's end: zeroes */
			memset((char *)buf + n, 0, KMIG_PAGE_SIZE - (size_t)n);
		return 0;
	} else {
		struct iovec l = { .iov_base = buf, .iov_len = KMIG_PAGE_SIZE };
		struct iovec r = { .iov_base = (void *)(uintptr_t)(k->addr + pg * KMIG_PAGE_SIZE),
				   .iov_len = KMIG_PAGE_SIZE };

		n = process_vm_readv(t->pid, &l, 1, &r, 1, 0);
		if (n == (ssize_t)KMIG_PAGE_SIZE)
			return 0;
		return n < 0 ? -errno : -EFAULT;
	}
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* hashes every sample; ESRCH ends it, unreadable pages are marked */
static int hash_all(const struct kmig_dr_target *t, struct sample *s, uint64_t n, bool again,
		    uint64_t *changed, void *buf)
{
	for (uint64_t i = 0; i < n; i++) {
		int err;

		if (again && !s[i].ok)
			continue;
		err = read_page(t, s[i].block, s[i].page, buf);
		if (err == -ESRCH || (err && t->blocks[s[i].block].memfd >= 0))
			return err;
		if (err) {
			s[i].ok = 0;
			continue;
		}
		if (again) {
			if (kmig_page_hash(buf) != s[i].hash)
				changed[i / 64] |= 1ULL << (i % 64);
		} else {
			s[i].hash = kmig_page_hash(buf);
			s[i].ok = 1;
		}
	}
	return 0;
}

int kmig_dr_measure_sampling(struct kmig_dirtyrate *d, struct kmig_dr_target *t,
			     int64_t calc_ms, uint64_t sample_pages, struct kmig_dr_result *r)
{
	uint64_t n = 0, k = 0, seed = 0, *changed = NULL;
	uint32_t *sampled[KMIG_DR_MAX_BLOCKS] = { NULL }, *dirty[KMIG_DR_MAX_BLOCKS] = { NULL };
	struct sample *s = NULL;
	void *buf = NULL;
	int64_t t0, t1;
	int err;

	snprintf(r->tracker, sizeof(r->tracker), "page-sampling");
	err = kmig_dr_blocks_init(r, t);
	if (err)
		return err;
	for (unsigned int b = 0; b < t->nblocks; b++)
		if (t->blocks[b].size >= KMIG_DR_MIN_BLOCK)
			n += (t->blocks[b].size * sample_pages) >> 30;
	if (!n) {
		snprintf(r->error, sizeof(r->error), "no block is large enough to sample "
			 "(%llu pages per GiB, blocks of %u KiB or more)",
			 (unsigned long long)sample_pages, KMIG_DR_MIN_BLOCK >> 10);
		return -EINVAL;
	}
	if (n > DR_MAX_SAMPLES_TOTAL) {
		snprintf(r->error, sizeof(r->error), "%llu samples are too many (at most %u: "
			 "ask for fewer pages per GiB)", (unsigned long long)n, DR_MAX_SAMPLES_TOTAL);
		return -E2BIG;
	}
	s = calloc(n, sizeof(*s));
	changed = calloc((n + 63) / 64, sizeof(*changed));
	if (posix_memalign(&buf, KMIG_PAGE_SIZE, KMIG_PAGE_SIZE))
		buf = NULL;
	if (!s || !changed || !buf) {
		err = -ENOMEM;
		goto out;
	}
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)kmig_now_ns();
	for (unsigned int b = 0; b < t->nblocks; b++) {
		uint64_t pages = t->blocks[b].size / KMIG_PAGE_SIZE;
		uint64_t m = t->blocks[b].size >= KMIG_DR_MIN_BLOCK ?
			(t->blocks[b].size * sample_pages) >> 30 : 0;

		for (uint64_t i = 0; i < m; i++, k++) {
			s[k].block = b;
			s[k].page = rng_next(&seed) % pages;
		}
	}

	t0 = kmig_now_ns();	/* QEMU times from before the first hashing pass */
	err = hash_all(t, s, n, false, changed, buf);
	if (err)
		goto out;
	if (!kmig_dr_wait(d, t0 + calc_ms * 1000000)) {
		err = -ECANCELED;
		goto out;
	}
	t1 = kmig_now_ns();
	err = hash_all(t, s, n, true, changed, buf);
	if (err)
		goto out;
	r->calc_ms = (t1 - t0) / 1000000;

	for (unsigned int b = 0; b < t->nblocks; b++) {
		uint32_t nr = r->blocks[b].nregions;

		sampled[b] = calloc(nr ? nr : 1, sizeof(uint32_t));
		dirty[b] = calloc(nr ? nr : 1, sizeof(uint32_t));
		if (!sampled[b] || !dirty[b]) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t reg = s[i].page >> (KMIG_DR_REGION_SHIFT - KMIG_PAGE_SHIFT);

		if (!s[i].ok)
			continue;
		sampled[s[i].block][reg]++;
		dirty[s[i].block][reg] += changed[i / 64] >> (i % 64) & 1;
	}
	for (unsigned int b = 0; b < t->nblocks; b++) {
		struct kmig_dr_block_result *br = &r->blocks[b];
		uint64_t bs = 0, bd = 0, pages = br->size / KMIG_PAGE_SIZE;
		const uint64_t per = 1ULL << (KMIG_DR_REGION_SHIFT - KMIG_PAGE_SHIFT);

		for (uint32_t g = 0; g < br->nregions; g++) {
			uint64_t in = pages - g * per < per ? pages - g * per : per;

			bs += sampled[b][g];
			bd += dirty[b][g];
			br->regions[g] = sampled[b][g] ?
				(int32_t)((dirty[b][g] * in + sampled[b][g] / 2) / sampled[b][g]) : -1;
		}
		br->dirty_pages = bs ? (bd * pages + bs / 2) / bs : 0;
		r->dirty_pages += br->dirty_pages;
	}
out:
	if (err == -ESRCH)
		snprintf(r->error, sizeof(r->error), "the process (pid %d) exited during the "
			 "measurement", (int)t->pid);
	else if (err == -ECANCELED)
		snprintf(r->error, sizeof(r->error), "kmigd is shutting down");
	for (unsigned int b = 0; b < t->nblocks; b++) {
		free(sampled[b]);
		free(dirty[b]);
	}
	free(s);
	free(changed);
	free(buf);
	return err;
}
