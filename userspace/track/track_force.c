// SPDX-License-Identifier: GPL-2.0-only
/*
 * track_force.c: TEMPORARY (issue 9, until the x-kmig-tracker migration
 * parameter lands in main): KMIG_X_TRACKER=<name> in kmigd's environment
 * makes the source open that dirty-tracker back end instead of "auto".
 * When the named back end cannot serve (for bpf: no privilege, no kernel
 * support), it says why and falls back to auto, so the migration still
 * runs.  Delete this file once the parameter exists.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "track_bpf.h"
#include "tracker.h"

int kmig_trackset_open_env(struct kmig_trackset *s, const struct kmig_track_target *t,
			   char *err, size_t errlen)
{
	const char *name = getenv("KMIG_X_TRACKER");
	const char *why;
	int ret;

	if (!name || !*name || !strcmp(name, "auto"))
		return kmig_trackset_open(s, "auto", t, err, errlen);
	ret = kmig_trackset_open(s, name, t, err, errlen);
	if (!ret)
		return 0;
	why = !strcmp(name, "bpf") ? kmig_track_bpf_unavailable() : NULL;
	kmig_log(KMIG_LOG_WARN, "track", "falling back to tracker auto: KMIG_X_TRACKER=%s: %s%s%s",
		 name, err, why ? ": " : "", why ? why : "");
	return kmig_trackset_open(s, "auto", t, err, errlen);
}
