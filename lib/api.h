/* SPDX-License-Identifier: MIT */
/* Internal entry points of lib/api.c shared with lib/wait.c and the tests. */
#ifndef DEMI__API_H
#define DEMI__API_H

#define DEMI_EXPORT __attribute__((visibility("default")))

struct demi__libos;

/* The calling thread's libOS, or NULL before demi_init. */
struct demi__libos *demi__current(void);
/* lib/stats.c: reads demikernel.stats_signal and installs its handler (0 or -errno); dumps the
 * counters if the signal came since the last call (each demi_wait* calls it). */
int demi__stats_init(struct demi__libos *los);
void demi__stats_poll(struct demi__libos *los);
/* Tears down the calling thread's libOS (tests; threads that exit do it automatically). */
void demi__fini(void);

#endif
