// SPDX-License-Identifier: GPL-2.0-only
/* log.c: see log.h.  Lines are written whole so threads do not interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

enum kmig_log_level kmig_log_max = KMIG_LOG_INFO;

void kmig_log(enum kmig_log_level lvl, const char *subsys, const char *fmt, ...)
{
	static const char *const names[] = { "ERR", "WARN", "INFO", "DEBUG" };
	char line[1024];
	va_list ap;
	int n;

	if (lvl > kmig_log_max)
		return;
	n = snprintf(line, sizeof(line), "kmigd: %s %s: ", names[lvl], subsys);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
