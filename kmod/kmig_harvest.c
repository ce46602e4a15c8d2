// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmig_harvest.c: finds the pages of a tracked range written since the
 * last harvest and cleans them, without a single page fault on the
 * writer's side.  The PTE dirty bits are read and cleaned by the kernel's
 * own clean_record_shared_mapping_range() (mm/mapping_dirty_helpers.c),
 * which walks every shared mapping of the file, calls the MMU notifiers and
 * flushes the TLB with flush_tlb_range() once per VMA, never per page.
 *
 * Around it, two cheap page-cache passes (RCU xarray lookups):
 *  - before: PMD-sized folios (THP), which the helper skips, found with
 *    one lookup per 2 MiB chunk, are handled at 2 MiB granularity: a
 *    mapped one is reported whole and unmapped through unmap_mapping_pages()
 *    (the kernel's zap path flushes the TLB), so the next access faults it
 *    in again and is seen at the next harvest; a chunk whose huge folio
 *    appeared, vanished or changed is reported whole.  The helper runs
 *    only over the chunks without one.
 *  - after: every folio the helper found dirty is marked dirty
 *    (folio_mark_dirty), in the same ioctl, so writeback and reclaim see
 *    the write the cleaned PTE no longer records.  docs/kmod.md says what
 *    the short window between the two means.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/iversion.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/xarray.h>

#include "kmig_core.h"

#define KMIG_BATCH		16
#define KMIG_RESCHED_EVERY	1024

/* the walk's state; @post says which folios need work */
struct kmig_walk {
	struct kmig_range *r;
	bool post;			/* after the helper: folios with a bit pending */
	unsigned int n;
	struct folio *batch[KMIG_BATCH];
	long thp_pages;			/* pages reported because of THP rules */
};

/* @prev_pfn/@now_pfn: the chunk's PMD-sized folio at the last and this harvest (0: none) */
bool kmig_thp_chunk_dirty(unsigned long prev_pfn, unsigned long now_pfn, bool mapped)
{
	return prev_pfn != now_pfn || (now_pfn && mapped);
}

static bool kmig_folio_is_huge(struct folio *folio)
{
	return folio_order(folio) >= KMIG_PMD_ORDER;
}

/* sets the bits of file pages [from, from + nr) that lie in @r; returns how many */
static long kmig_report_pages(struct kmig_range *r, pgoff_t from, pgoff_t nr)
{
	pgoff_t lo = max(from, r->first);
	pgoff_t hi = min(from + nr, r->first + r->npages);

	if (lo >= hi)
		return 0;
	bitmap_set(r->pending, lo - r->first, hi - lo);
	return hi - lo;
}

/* remembers that file pages [start, start + nr) have a dirty folio */
static void kmig_set_known(struct kmig_range *r, pgoff_t start, pgoff_t nr)
{
	pgoff_t lo = max(start, r->first);
	pgoff_t hi = min(start + nr, r->first + r->npages);

	if (lo < hi)
		bitmap_set(r->known, lo - r->first, hi - lo);
}

/* a PMD-sized folio, locked and still in @r's file */
static void kmig_handle_huge(struct kmig_walk *w, struct folio *folio)
{
	struct kmig_range *r = w->r;
	pgoff_t nr = folio_nr_pages(folio), c;
	bool mapped = folio_mapped(folio);

	if (mapped)		/* zap the PMD(s): the TLB is flushed on the kernel's own path */
		unmap_mapping_pages(r->mapping, folio->index, nr, false);
	for (c = folio->index >> KMIG_PMD_ORDER;
	     c < (folio->index + nr) >> KMIG_PMD_ORDER; c++) {
		pgoff_t i;

		if (c < r->chunk0 || c >= r->chunk0 + r->nchunks)
			continue;
		i = c - r->chunk0;
		r->huge_now[i] = folio_pfn(folio);
		if (kmig_thp_chunk_dirty(r->huge_prev[i], r->huge_now[i], mapped)) {
			/* reported whole: maybe written, maybe collapsed from written pages */
			folio_mark_dirty(folio);
			w->thp_pages += kmig_report_pages(r, c << KMIG_PMD_ORDER,
							  KMIG_PMD_PAGES);
			r->st.thp_chunks++;
		}
	}
}

/* outside RCU: the collected folios, each with a reference */
static void kmig_flush_batch(struct kmig_walk *w)
{
	unsigned int i;

	for (i = 0; i < w->n; i++) {
		struct folio *folio = w->batch[i];

		folio_lock(folio);
		/* truncated meanwhile: nothing to keep dirty */
		if (folio->mapping == w->r->mapping) {
			if (!w->post) {
				kmig_handle_huge(w, folio);
			} else {
				folio_mark_dirty(folio);
				kmig_set_known(w->r, folio->index, folio_nr_pages(folio));
			}
		}
		folio_unlock(folio);
		folio_put(folio);
	}
	w->n = 0;
}

/*
 * Under RCU: the PMD-sized folio at file index @index, with a reference,
 * or NULL.
 */
static struct folio *kmig_get_huge(struct address_space *mapping, pgoff_t index)
{
	XA_STATE(xas, &mapping->i_pages, index);
	struct folio *folio;

retry:
	folio = xas_load(&xas);
	if (xas_retry(&xas, folio))
		goto retry;
	if (!folio || xa_is_value(folio) || !kmig_folio_is_huge(folio))
		return NULL;
	if (!folio_try_get(folio))
		goto retry;
	if (unlikely(folio != xas_reload(&xas))) {
		folio_put(folio);
		goto retry;
	}
	return folio;
}

/* called under RCU; may drop and retake it */
static void kmig_add(struct kmig_walk *w, struct folio *folio)
{
	w->batch[w->n++] = folio;
	if (w->n == KMIG_BATCH) {
		rcu_read_unlock();
		kmig_flush_batch(w);
		cond_resched();
		rcu_read_lock();
	}
}

/*
 * PMD-sized folios start at a 2 MiB aligned index, so one lookup per
 * chunk finds them all (a walk of every entry would cost twice the PTE walk).
 */
static void kmig_scan_huge(struct kmig_walk *w)
{
	struct kmig_range *r = w->r;
	pgoff_t c;

	rcu_read_lock();
	for (c = 0; c < r->nchunks; c++) {
		struct folio *folio = kmig_get_huge(r->mapping, (r->chunk0 + c) << KMIG_PMD_ORDER);

		if (folio)
			kmig_add(w, folio);
	}
	rcu_read_unlock();
	kmig_flush_batch(w);
}

/*
 * Hands the dirty state to the folios of the pending pages in [lo, hi)
 * (range-relative).  Only pages not already known to have a dirty folio
 * are looked up (@r->known, see kmig_range_collect()); one lookup covers a
 * whole folio, and a folio already dirty only needs to be remembered.
 */
static void kmig_mark_pending(struct kmig_walk *w, pgoff_t lo, pgoff_t hi)
{
	struct kmig_range *r = w->r;
	XA_STATE(xas, &r->mapping->i_pages, 0);
	unsigned int seen = 0;
	pgoff_t p = lo;

	bitmap_andnot(r->scratch, r->pending, r->known, r->npages);
	rcu_read_lock();
	while ((p = find_next_bit(r->scratch, hi, p)) < hi) {
		struct folio *folio;
		pgoff_t start, nr;

		xas_set(&xas, r->first + p);
		folio = xas_load(&xas);
		if (xas_retry(&xas, folio))
			continue;
		if (!folio || xa_is_value(folio)) {
			p++;		/* truncated or swapped out since: nothing to keep */
			continue;
		}
		start = folio->index;
		nr = folio_nr_pages(folio);
		if (!folio_test_dirty(folio)) {
			if (!folio_try_get(folio))
				continue;
			if (unlikely(folio != xas_reload(&xas))) {
				folio_put(folio);
				continue;
			}
			kmig_add(w, folio);		/* marked and remembered there */
		} else if (folio == xas_reload(&xas)) {
			kmig_set_known(r, start, nr);
		}
		p = max(start + nr - r->first, p + 1);
		if (++seen % KMIG_RESCHED_EVERY == 0) {
			rcu_read_unlock();
			cond_resched();
			rcu_read_lock();
		}
	}
	rcu_read_unlock();
	kmig_flush_batch(w);
}

/* the helper over file pages [from, to); accumulates the dirty bit range */
static long kmig_clean_run(struct kmig_range *r, pgoff_t from, pgoff_t to,
			   pgoff_t *lo, pgoff_t *hi)
{
	pgoff_t start = 0, end = 0;
	unsigned long n;

	if (from >= to)
		return 0;
	n = clean_record_shared_mapping_range(r->mapping, from, to - from, r->first,
					      r->pending, &start, &end);
	if (start < end) {
		*lo = min(*lo, start);
		*hi = max(*hi, end);
	}
	return n;
}

/*
 * Collects into @r->pending every page written since the last harvest;
 * returns the number of pages found dirty in this call (pages already
 * pending are not counted again).  Called with the owning ctx's lock held.
 */
long kmig_range_collect(struct kmig_range *r)
{
	struct kmig_walk w = { .r = r };
	pgoff_t last = r->first + r->npages - 1;
	pgoff_t lo = ULONG_MAX, hi = 0, c, run;
	unsigned long *tmp;
	long found = 0;
	u64 iversion;

	/*
	 * @r->known trusts that a shmem folio, once dirty, stays dirty while
	 * it stays in the page cache (writeback to swap removes it; swap-in,
	 * migration and splits keep the flag).  Only truncation and hole
	 * punching put a new, clean folio at a known index, and both bump
	 * i_version (shmem_truncate_range()): then nothing is trusted.
	 */
	iversion = inode_peek_iversion_raw(file_inode(r->file));
	if (iversion != r->iversion) {
		bitmap_zero(r->known, r->npages);
		r->iversion = iversion;
	}
	memset(r->huge_now, 0, r->nchunks * sizeof(long));
	kmig_scan_huge(&w);
	/* chunks whose huge folio vanished (split, truncated, swapped) */
	for (c = 0; c < r->nchunks; c++) {
		if (r->huge_prev[c] && !r->huge_now[c]) {
			w.thp_pages += kmig_report_pages(r, (r->chunk0 + c) << KMIG_PMD_ORDER,
							 KMIG_PMD_PAGES);
			r->st.thp_chunks++;
		}
	}
	tmp = r->huge_prev;
	r->huge_prev = r->huge_now;
	r->huge_now = tmp;
	found += w.thp_pages;

	/* the helper over each run of chunks without a huge folio */
	run = r->first;
	for (c = 0; c < r->nchunks; c++) {
		pgoff_t cstart = max((r->chunk0 + c) << KMIG_PMD_ORDER, r->first);
		pgoff_t cend = min((r->chunk0 + c + 1) << KMIG_PMD_ORDER, last + 1);

		if (!r->huge_prev[c])
			continue;
		found += kmig_clean_run(r, run, cstart, &lo, &hi);
		run = cend;
	}
	found += kmig_clean_run(r, run, last + 1, &lo, &hi);

	if (lo < hi) {
		w.post = true;
		kmig_mark_pending(&w, lo, hi);
	}
	return found;
}
