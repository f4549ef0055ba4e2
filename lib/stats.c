/* SPDX-License-Identifier: MIT */
/*
 * Counters while the program runs (include/demi/stats.h): the library's own, then the libOS's
 * (its stats op), by name; and a dump of all of them to stderr on a signal the user chose
 * (demikernel.stats_signal / DEMIKERNEL_STATS_SIGNAL). The signal handler only bumps a generation
 * number; each thread's next demi_wait* sees it changed and dumps its own libOS's counters, so
 * nothing but an atomic increment happens in signal context.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "libos.h"
#include "log.h"

/* What the library itself counts, ahead of the libOS's counters. */
#define LIB_STATS 7

static atomic_uint stats_gen;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs a lock-free counter");

static void on_stats_signal(int sig)
{
	(void)sig;
	atomic_fetch_add_explicit(&stats_gen, 1, memory_order_relaxed);
}

int demi__stats_init(struct demi__libos *los)
{
	static const char *const names[] = {"none", "USR1", "USR2", NULL};
	static const int sigs[] = {0, SIGUSR1, SIGUSR2};
	struct sigaction sa;
	int which, rc;

	rc = demi__config_get_choice(&los->cfg, "demikernel.stats_signal", names, 0, &which);
	if (rc < 0)
		return rc;
	los->stats_seen = atomic_load_explicit(&stats_gen, memory_order_relaxed);
	if (which == 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stats_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sigs[which], &sa, NULL) < 0)
		return -errno;
	DEMI_INFO("stats: SIG%s dumps the counters to stderr", names[which]);
	return 0;
}

size_t demi__stats_from_table(const struct demi__stat_field *t, size_t n, const void *base,
			      demi_stat_t *out, size_t cap, size_t k)
{
	for (size_t i = 0; i < n; i++, k++)
		if (k < cap)
			out[k] = (demi_stat_t){
				t[i].name, *(const uint64_t *)((const char *)base + t[i].offset)};
	return k;
}

/* Every counter into out[0..cap); returns how many there are. */
static size_t collect(struct demi__libos *los, demi_stat_t *out, size_t cap)
{
	const demi_stat_t lib[LIB_STATS] = {
		{"bufs_in_use", los->pool.stats.bufs_in_use},
		{"tasks_in_use", los->rt.stats.tasks_in_use},
		{"queues_open", los->queues_open},
		{"pool_bytes", los->pool.stats.bytes_reserved},
		{"pool_huge_slabs", los->pool.stats.huge_slabs},
		{"wait_sleeps", los->wait_sleeps},
		{"wait_spin_polls", los->wait_spin_polls},
	};
	size_t n = cap < LIB_STATS ? cap : LIB_STATS;

	if (n)
		memcpy(out, lib, n * sizeof(*out));
	if (!los->ops->stats)
		return LIB_STATS;
	return LIB_STATS + los->ops->stats(los, cap > LIB_STATS ? out + LIB_STATS : NULL,
					   cap > LIB_STATS ? cap - LIB_STATS : 0);
}

DEMI_EXPORT int demi_stats(demi_stat_t *out, size_t cap, size_t *n_out)
{
	struct demi__libos *los = demi__current();

	if (!n_out || (!out && cap))
		return EINVAL;
	if (!los)
		return EPERM;
	*n_out = collect(los, out, cap);
	return 0;
}

DEMI_EXPORT int demi_stat(const char *name, uint64_t *value_out)
{
	struct demi__libos *los = demi__current();
	demi_stat_t *all;
	size_t n;
	int rc = ENOENT;

	if (!name || !value_out)
		return EINVAL;
	if (!los)
		return EPERM;
	n = collect(los, NULL, 0);
	if (!(all = calloc(n, sizeof(*all))))
		return ENOMEM;
	n = collect(los, all, n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(all[i].name, name) == 0) {
			*value_out = all[i].value;
			rc = 0;
			break;
		}
	free(all);
	return rc;
}

/* Out of line and cold: inlined, the dump made every wait save six registers (lib/wait.c calls
 * demi__stats_poll at the start of each). */
static __attribute__((noinline, cold)) void dump(struct demi__libos *los, unsigned gen)
{
	demi_stat_t *all;
	size_t n;

	los->stats_seen = gen;
	n = collect(los, NULL, 0);
	if (!(all = calloc(n, sizeof(*all))))
		return;
	n = collect(los, all, n);
	fprintf(stderr, "demi: stats (%s):", los->ops->name);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %s=%llu", all[i].name, (unsigned long long)all[i].value);
	fputc('\n', stderr);
	free(all);
}

void demi__stats_poll(struct demi__libos *los)
{
	unsigned gen = atomic_load_explicit(&stats_gen, memory_order_relaxed);

	if (gen != los->stats_seen)
		dump(los, gen);
}
