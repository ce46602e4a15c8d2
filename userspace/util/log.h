/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * log.h: one log sink for the daemon: one line per event on stderr,
 * "kmigd: LEVEL subsys: message", key=value pairs in the message.
 */
#ifndef KMIG_LOG_H
#define KMIG_LOG_H

enum kmig_log_level { KMIG_LOG_ERR, KMIG_LOG_WARN, KMIG_LOG_INFO, KMIG_LOG_DEBUG };

extern enum kmig_log_level kmig_log_max;

void kmig_log(enum kmig_log_level lvl, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
