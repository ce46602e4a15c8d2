// SPDX-License-Identifier: GPL-2.0-only
/*
 * dr_render.c: renders a dirty-rate measurement for people (dr_render.h).
 * The heat map shows, per 2 MiB region of each block, the share of its
 * pages dirtied during the measurement; blocks with many regions are
 * drawn with several regions per cell so a map stays readable.  The SVG
 * is plain SVG 1.1 (one rect per cell, a tooltip on each), no script.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dr_render.h"

#define COLS		64	/* cells per heat-map row */
#define MAX_CELLS	4096	/* per block; more regions share a cell */
#define REGION_PAGES	(1u << (KMIG_DR_REGION_SHIFT - 12))

static const char *mode_name(enum kmig_dr_mode m)
{
	return m == KMIG_DR_PER_THREAD ? "dirty-ring (per thread)" :
	       m == KMIG_DR_BITMAP ? "dirty-bitmap" : "page-sampling";
}

static double mib_s(uint64_t pages, int64_t ms)
{
	return ms > 0 ? (double)pages * 4096.0 * 1000.0 / ((double)ms * (1 << 20)) : 0;
}

/* regions per cell for block @b */
static uint32_t per_cell(const struct kmig_dr_block_result *b)
{
	return b->nregions > MAX_CELLS ? (b->nregions + MAX_CELLS - 1) / MAX_CELLS : 1;
}

/* the dirtied share of cell @c (0..1), or -1 when none of it was sampled */
static double cell_share(const struct kmig_dr_block_result *b, uint32_t c, uint32_t k)
{
	uint64_t dirty = 0, pages = 0, total = b->size / 4096;

	for (uint32_t g = c * k; g < (c + 1) * k && g < b->nregions; g++) {
		uint64_t in = total - (uint64_t)g * REGION_PAGES;

		if (in > REGION_PAGES)
			in = REGION_PAGES;
		if (b->regions[g] < 0)
			continue;
		dirty += (uint64_t)b->regions[g];
		pages += in;
	}
	if (!pages)
		return -1;
	return dirty >= pages ? 1.0 : (double)dirty / (double)pages;
}

static char shade(double s)
{
	static const char ramp[] = " .:-=+*#%@";

	if (s < 0)
		return '?';
	if (s == 0)
		return ' ';
	return ramp[1 + (int)(s * 8.999)];
}

void kmig_dr_print(FILE *f, const struct kmig_dr_result *r, const char *what)
{
	fprintf(f, "dirty rate of %s\n", what);
	fprintf(f, "  mode %s, measured by %s, %.2f s\n", mode_name(r->mode),
		r->tracker[0] ? r->tracker : "?", r->calc_ms / 1000.0);
	if (r->error[0]) {
		fprintf(f, "  measurement failed: %s\n", r->error);
		return;
	}
	fprintf(f, "  dirty rate: %" PRId64 " MiB/s (%.1f MiB/s, %.0f pages/s, %" PRIu64
		" pages%s)\n", r->dirty_rate, mib_s(r->dirty_pages, r->calc_ms),
		r->calc_ms > 0 ? r->dirty_pages * 1000.0 / (double)r->calc_ms : 0.0, r->dirty_pages,
		r->mode == KMIG_DR_SAMPLING ? ", estimated from samples" : " dirtied");
	if (r->mode == KMIG_DR_PER_THREAD) {
		fprintf(f, "\n  threads that dirtied pages: %u\n", r->nthreads);
		fprintf(f, "  %10s  %-16s %12s %12s %10s\n", "tid", "name", "pages", "pages/s",
			"MiB/s");
		for (unsigned int i = 0; i < r->nthreads; i++) {
			const struct kmig_dr_thread *t = &r->threads[i];

			fprintf(f, "  %10u  %-16s %12" PRIu64 " %12.0f %10.2f\n", t->tid, t->name,
				t->pages, r->calc_ms > 0 ? t->pages * 1000.0 / (double)r->calc_ms : 0.0,
				mib_s(t->pages, r->calc_ms));
		}
	}
	for (unsigned int b = 0; b < r->nblocks; b++) {
		const struct kmig_dr_block_result *bl = &r->blocks[b];
		uint32_t k = per_cell(bl), cells = (bl->nregions + k - 1) / k;

		fprintf(f, "\n  heat map of block %s (%" PRIu64 " MiB, %" PRIu64 " pages dirtied%s)\n",
			bl->name, bl->size >> 20, bl->dirty_pages,
			r->mode == KMIG_DR_SAMPLING ? ", estimated" : "");
		fprintf(f, "  one cell = %u MiB; share of its pages dirtied: ' ' none, . : - = + * # %% "
			"@ up to all%s\n", k * 2, r->mode == KMIG_DR_SAMPLING ? ", ? not sampled" : "");
		for (uint32_t c = 0; c < cells; c += COLS) {
			fprintf(f, "  %8" PRIu64 "M |", (uint64_t)c * k * 2);
			for (uint32_t j = c; j < c + COLS && j < cells; j++)
				fputc(shade(cell_share(bl, j, k)), f);
			fprintf(f, "|\n");
		}
	}
}

/* white (nothing) -> yellow -> red -> dark red (everything) */
static void color(double s, char *out, size_t n)
{
	int r, g, b;

	if (s < 0) {
		snprintf(out, n, "#c8c8c8");
		return;
	}
	if (s <= 0) {
		snprintf(out, n, "#ffffff");
		return;
	}
	if (s < 0.5) {
		r = 255;
		g = (int)(255 - s * 2 * 155);
		b = (int)(200 - s * 2 * 200);
	} else {
		r = (int)(255 - (s - 0.5) * 2 * 125);
		g = (int)(100 - (s - 0.5) * 2 * 100);
		b = 0;
	}
	snprintf(out, n, "#%02x%02x%02x", r, g, b < 0 ? 0 : b);
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
}

int kmig_dr_svg(const char *path, const struct kmig_dr_result *r, const char *what,
		char *err, size_t errlen)
{
	const int cell = 10, left = 70, top = 50;
	int y = top, height = top + 20;
	FILE *f;

	for (unsigned int b = 0; b < r->nblocks; b++) {
		uint32_t k = per_cell(&r->blocks[b]), cells = (r->blocks[b].nregions + k - 1) / k;

		height += 30 + (int)((cells + COLS - 1) / COLS) * cell;
	}
	f = fopen(path, "we");
	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
		"version=\"1.1\" width=\"%d\" height=\"%d\" font-family=\"monospace\" font-size=\"11\">\n",
		left + COLS * cell + 20, height);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#f8f8f8\"/>\n<text x=\"10\" y=\"18\">");
	xml_text(f, what);
	fprintf(f, ": %" PRId64 " MiB/s (%s, %.2f s)</text>\n", r->dirty_rate, mode_name(r->mode),
		r->calc_ms / 1000.0);
	fprintf(f, "<text x=\"10\" y=\"34\">share of each 2 MiB region's pages dirtied: white none, "
		"dark red all%s</text>\n", r->mode == KMIG_DR_SAMPLING ? ", grey not sampled" : "");
	for (unsigned int b = 0; b < r->nblocks; b++) {
		const struct kmig_dr_block_result *bl = &r->blocks[b];
		uint32_t k = per_cell(bl), cells = (bl->nregions + k - 1) / k;

		y += 20;
		fprintf(f, "<text x=\"10\" y=\"%d\">block ", y - 6);
		xml_text(f, bl->name);
		fprintf(f, ", %" PRIu64 " MiB, %" PRIu64 " pages dirtied, one cell = %u MiB</text>\n",
			bl->size >> 20, bl->dirty_pages, k * 2);
		fprintf(f, "<g class=\"block\">\n");
		for (uint32_t c = 0; c < cells; c++) {
			double s = cell_share(bl, c, k);
			char col[16];

			if (c % COLS == 0)
				fprintf(f, "<text x=\"10\" y=\"%d\" font-size=\"9\">%" PRIu64 "M</text>\n",
					y + (int)(c / COLS) * cell + 8, (uint64_t)c * k * 2);
			color(s, col, sizeof(col));
			fprintf(f, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
				"fill=\"%s\" stroke=\"#e0e0e0\" stroke-width=\"0.5\"><title>%" PRIu64
				" MiB: ", left + (int)(c % COLS) * cell, y + (int)(c / COLS) * cell,
				cell, cell, col, (uint64_t)c * k * 2);
			if (s < 0)
				fprintf(f, "not sampled");
			else
				fprintf(f, "%.1f%% dirtied", s * 100);
			fprintf(f, "</title></rect>\n");
		}
		fprintf(f, "</g>\n");
		y += (int)((cells + COLS - 1) / COLS) * cell + 10;
	}
	fprintf(f, "</svg>\n");
	if (fclose(f)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}
