/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dr_render.h: how `kmig dirtyrate` shows a measurement: a text report
 * (rate, per-thread rates, a heat map per 2 MiB region of each block) and
 * the same heat map as an SVG picture.
 */
#ifndef KMIG_DR_RENDER_H
#define KMIG_DR_RENDER_H

#include <stdio.h>

#include "dirtyrate.h"

/* @what names the measured process ("workload pid 123 via kmigd", ...) */
void kmig_dr_print(FILE *f, const struct kmig_dr_result *r, const char *what);
/* writes the heat map to @path; 0, or -errno with @err filled */
int kmig_dr_svg(const char *path, const struct kmig_dr_result *r, const char *what,
		char *err, size_t errlen);

#endif
