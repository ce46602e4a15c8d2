// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmig_harvest.c: finds the pages of a tracked range written since the
 * last harvest and cleans them, without a single page fault on the
 * writer's side.  The PTE dirty bits are read and cleaned by the kernel's
 * own clean_record_shared_mapping_range() (mm/mapping_dirty_helpers.c),
 * which walks every shared mapping of the file, calls the MMU notifiers and
 * flushes the TLB with flush_tlb_range() once per VMA, never per page.
 *
 * Around it, two passes over the range's page cache (RCU xarray walks):
 *  - before: every mapped folio that is not dirty is marked dirty, so a
 *    PTE dirty bit cleaned below can never be the only record of a write
 *    (reclaim would otherwise drop the page);
 *  - PMD-sized folios (THP), which the helper skips, are handled at 2 MiB
 *    granularity: a mapped one is reported whole and unmapped through
 *    unmap_mapping_pages() (the kernel's zap path flushes the TLB), so the
 *    next write to it faults it in again and is seen at the next harvest;
 *    a chunk whose folio appeared, vanished or changed is reported whole.
 *  - after: a folio the helper found dirty but that was mapped after the
 *    first pass is marked dirty.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
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

/* a PMD-sized folio, locked and still in @r's file */
static void kmig_handle_huge(struct kmig_walk *w, struct folio *folio)
{
	struct kmig_range *r = w->r;
	pgoff_t nr = folio_nr_pages(folio), c;
	bool mapped = folio_mapped(folio);

	if (mapped) {
		/* zap the PMD(s): the TLB is flushed on the kernel's own path */
		unmap_mapping_pages(r->mapping, folio->index, nr, false);
		folio_mark_dirty(folio);
	}
	for (c = folio->index >> KMIG_PMD_ORDER;
	     c < (folio->index + nr) >> KMIG_PMD_ORDER; c++) {
		pgoff_t i;

		if (c < r->chunk0 || c >= r->chunk0 + r->nchunks)
			continue;
		i = c - r->chunk0;
		r->huge_now[i] = folio_pfn(folio);
		if (kmig_thp_chunk_dirty(r->huge_prev[i], r->huge_now[i], mapped)) {
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
			if (!w->post && kmig_folio_is_huge(folio))
				kmig_handle_huge(w, folio);
			else
				folio_mark_dirty(folio);
		}
		folio_unlock(folio);
		folio_put(folio);
	}
	w->n = 0;
}

static bool kmig_needs_work(struct kmig_walk *w, struct folio *folio)
{
	struct kmig_range *r = w->r;

	if (w->post) {
		pgoff_t lo = max(folio->index, r->first);
		pgoff_t hi = min(folio->index + folio_nr_pages(folio), r->first + r->npages);

		if (folio_test_dirty(folio) || lo >= hi)
			return false;
		return find_next_bit(r->pending, hi - r->first, lo - r->first) < hi - r->first;
	}
	if (kmig_folio_is_huge(folio))
		return true;
	return !folio_test_dirty(folio) && folio_mapped(folio);
}

/* one RCU walk of the page cache over file pages [first, last] */
static void kmig_walk_cache(struct kmig_walk *w, pgoff_t first, pgoff_t last)
{
	XA_STATE(xas, &w->r->mapping->i_pages, first);
	pgoff_t skip_to = first;
	unsigned int seen = 0;
	struct folio *folio;

	rcu_read_lock();
	xas_for_each(&xas, folio, last) {
		if (xas_retry(&xas, folio) || xa_is_value(folio))
			continue;
		if (xas.xa_index < skip_to)
			continue;
		if (kmig_needs_work(w, folio)) {
			if (!folio_try_get(folio)) {
				xas_reset(&xas);
				continue;
			}
			if (unlikely(folio != xas_reload(&xas))) {
				folio_put(folio);
				xas_reset(&xas);
				continue;
			}
			/* a large folio may sit in every slot it covers: once is enough */
			skip_to = folio->index + folio_nr_pages(folio);
			w->batch[w->n++] = folio;
		}
		if (w->n == KMIG_BATCH || ++seen % KMIG_RESCHED_EVERY == 0) {
			xas_pause(&xas);
			rcu_read_unlock();
			kmig_flush_batch(w);
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

	memset(r->huge_now, 0, r->nchunks * sizeof(long));
	kmig_walk_cache(&w, r->first, last);
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
		kmig_walk_cache(&w, r->first + lo, r->first + hi - 1);
	}
	return found;
}
