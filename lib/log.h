/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with a level read once from the environment variable DEMI_LOG
 * (off, error, warn, info, debug, trace; default warn). Messages below the level cost one
 * comparison.
 */
#ifndef DEMI__LOG_H
#define DEMI__LOG_H

enum demi__log_level {
	DEMI__LOG_OFF = 0,
	DEMI__LOG_ERROR,
	DEMI__LOG_WARN,
	DEMI__LOG_INFO,
	DEMI__LOG_DEBUG,
	DEMI__LOG_TRACE,
};

extern int demi__log_level;

void demi__log_init(void);
void demi__log_write(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define demi__log(lvl, ...)                                                                        \
	do {                                                                                       \
		if ((lvl) <= demi__log_level)                                                      \
			demi__log_write((lvl), __FILE__, __LINE__, __VA_ARGS__);                   \
	} while (0)

#define DEMI_ERR(...) demi__log(DEMI__LOG_ERROR, __VA_ARGS__)
#define DEMI_WARN(...) demi__log(DEMI__LOG_WARN, __VA_ARGS__)
#define DEMI_INFO(...) demi__log(DEMI__LOG_INFO, __VA_ARGS__)
#define DEMI_DEBUG(...) demi__log(DEMI__LOG_DEBUG, __VA_ARGS__)
#define DEMI_TRACE(...) demi__log(DEMI__LOG_TRACE, __VA_ARGS__)

#endif
