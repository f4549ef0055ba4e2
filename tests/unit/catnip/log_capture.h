/* SPDX-License-Identifier: MIT */
/*
 * What the library logs (lib/log.c writes to stderr), captured for a test to read: the unit
 * tests of catnip's tables check that a counter or a refusal is actually said.
 */
#ifndef NIP_TEST_LOG_CAPTURE_H
#define NIP_TEST_LOG_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

struct log_capture {
	FILE *f;
	int saved_fd;
	int saved_level;
	char *text; /* after log_capture_end: everything logged, NUL-terminated */
};

/* From now on, messages up to level go to a temporary file instead of stderr. */
static inline void log_capture_begin(struct log_capture *c, int level)
{
	fflush(stderr);
	c->f = tmpfile();
	assert_non_null(c->f);
	c->saved_fd = dup(STDERR_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_true(dup2(fileno(c->f), STDERR_FILENO) >= 0);
	c->saved_level = demi__log_level;
	demi__log_level = level;
	c->text = NULL;
}

/* Restores stderr and reads what was logged into c->text (freed by log_capture_free). */
static inline void log_capture_end(struct log_capture *c)
{
	long n;

	fflush(stderr);
	demi__log_level = c->saved_level;
	assert_true(dup2(c->saved_fd, STDERR_FILENO) >= 0);
	close(c->saved_fd);
	n = ftell(c->f);
	assert_true(n >= 0);
	c->text = calloc(1, (size_t)n + 1);
	assert_non_null(c->text);
	rewind(c->f);
	assert_int_equal(fread(c->text, 1, (size_t)n, c->f), (size_t)n);
	fclose(c->f);
	/* Shown again, for whoever reads the test's output. */
	fputs(c->text, stderr);
}

static inline void log_capture_free(struct log_capture *c)
{
	free(c->text);
	c->text = NULL;
}

#endif
