/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int demi__log_level = DEMI__LOG_WARN;

static const char *const level_names[] = {"off", "error", "warn", "info", "debug", "trace"};

void demi__log_init(void)
{
	const char *env = getenv("DEMI_LOG");

	if (!env || !*env)
		return;
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcasecmp(env, level_names[i])) {
			demi__log_level = (int)i;
			return;
		}
	}
	fprintf(stderr,
		"demikernel: warn: DEMI_LOG=%s is not one of off, error, warn, info, "
		"debug, trace; using warn\n",
		env);
}

void demi__log_write(int level, const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	const char *base = strrchr(file, '/');

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level < 0 || level > DEMI__LOG_TRACE)
		level = DEMI__LOG_ERROR;
	/* One fprintf so lines from different threads do not interleave. */
	fprintf(stderr, "demikernel: %s: %s (%s:%d)\n", level_names[level], msg,
		base ? base + 1 : file, line);
}
