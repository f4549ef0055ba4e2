/* SPDX-License-Identifier: MIT */
/* The runtime's clock: is the counter usable, its rate, anchoring, the fallback. See clock.h. */
#include "clock.h"

#include <pthread.h>
#include <time.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "../config.h"
#include "../log.h"

/* How long a conversion stays in force before it is anchored again: drift over it is the
 * rate's error (a few ppm after the first anchors) times 100 ms, well under a microsecond,
 * and one clock_gettime per 100 ms costs nothing. */
#define PERIOD_NS 100000000ull
/* The shortest baseline the rate is measured over: each end of it is known to within the
 * ~50 ns a clock_gettime takes, so 10 ms gives the first span ~10 ppm. */
#define CALIB_NS 10000000ull
/* The most a clock found ahead catches up by running slower (by at most a tenth, for one
 * span). More than drift can explain means the counter ran while CLOCK_MONOTONIC did not (a
 * suspend): then the clock keeps its lead and its rate, rather than run slow for minutes. */
#define SLEW_MAX_NS (PERIOD_NS / 10)

__extension__ typedef unsigned __int128 u128;

/* The process's first reading: the start of every runtime's rate baseline. */
static struct {
	bool usable;
	uint64_t ticks, ns;
} origin;
static pthread_once_t origin_once = PTHREAD_ONCE_INIT;

uint64_t demi__clock_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A (ticks, ns) pair read as close together as we can: the tightest of three brackets, its
 * ticks the middle of the bracket. */
static void read_pair(uint64_t *ticks, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 3; i++) {
		uint64_t t0 = demi__clock_ticks(), m = demi__clock_monotonic_ns();
		uint64_t t1 = demi__clock_ticks();

		if (t1 - t0 < best) {
			best = t1 - t0;
			*ticks = t0 + best / 2;
			*ns = m;
		}
	}
}

/* A counter that runs at one rate in every P-, C- and T-state, synchronised between cores:
 * x86's invariant TSC (CPUID 0x80000007 EDX bit 8, "constant_tsc nonstop_tsc" in
 * /proc/cpuinfo); aarch64's generic timer always is (its rate is CNTFRQ_EL0). */
static bool counter_invariant(void)
{
#if defined(__x86_64__)
	unsigned int a, b, c, d;

	if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
		return false;
	__get_cpuid(0x80000007, &a, &b, &c, &d);
	return d & (1u << 8);
#elif defined(__aarch64__)
	return true;
#else
	return false;
#endif
}

static void origin_read(void)
{
	origin.usable = counter_invariant();
	if (origin.usable)
		read_pair(&origin.ticks, &origin.ns);
}

bool demi__clock_tsc_usable(void)
{
	pthread_once(&origin_once, origin_read);
	return origin.usable;
}

/*
 * A read outside the span: anchor the conversion at a fresh (ticks, CLOCK_MONOTONIC) pair.
 * The rate comes from the whole baseline since the process's origin. The value the old
 * conversion gives at the new anchor is never taken back: behind CLOCK_MONOTONIC, the clock
 * steps forward to it; ahead, it keeps its value and runs slower for one span so that it meets
 * CLOCK_MONOTONIC again at the next anchor.
 */
static uint64_t anchor(struct demi__clock *c)
{
	uint64_t t = 0, m, since, mult = 0, v = 0;

	m = demi__clock_monotonic_ns();
	if (m - origin.ns >= CALIB_NS) {
		read_pair(&t, &m);
		since = t - origin.ticks;
		if ((int64_t)since > 0)
			mult = (uint64_t)(((u128)(m - origin.ns) << 32) / since);
	}
	if (!mult) {
		/* Too short a baseline (or a counter behind the origin's): the fallback's value,
		 * never below what this clock already said. */
		return m > c->base_ns ? m : c->base_ns;
	}
	if (c->span) {
		uint64_t d = t - c->base_ticks;

		v = (int64_t)d <= 0 ? c->base_ns : c->base_ns + (uint64_t)((u128)d * c->mult >> 32);
	}
	c->span = (uint64_t)(((u128)PERIOD_NS << 32) / mult);
	c->base_ticks = t;
	if (v > m) {
		uint64_t ahead = v - m <= SLEW_MAX_NS ? v - m : 0;

		c->base_ns = v;
		c->mult = mult - (uint64_t)(((u128)ahead << 32) / c->span);
	} else {
		c->base_ns = m;
		c->mult = mult;
	}
	c->anchors++;
	return c->base_ns;
}

uint64_t demi__clock_slow(struct demi__clock *c)
{
	if (c->source == DEMI__CLOCK_FAKE)
		return c->fake_now_ns;
	if (c->source == DEMI__CLOCK_MONOTONIC || !demi__clock_tsc_usable())
		return demi__clock_monotonic_ns();
	return anchor(c);
}

enum demi__clock_source demi__clock_source_in_use(const struct demi__clock *c)
{
	if (c->source == DEMI__CLOCK_TSC && !demi__clock_tsc_usable())
		return DEMI__CLOCK_MONOTONIC;
	return (enum demi__clock_source)c->source;
}

int demi__clock_config(struct demi__clock *c, struct demi__config *cfg)
{
	static const char *const names[] = {"tsc", "monotonic", NULL};
	int which, rc;

	rc = demi__config_get_choice(cfg, "demikernel.clock", names, 0, &which);
	if (rc < 0)
		return rc;
	c->source = which == 1 ? DEMI__CLOCK_MONOTONIC : DEMI__CLOCK_TSC;
	c->span = 0;
	if (demi__clock_source_in_use(c) == DEMI__CLOCK_TSC)
		DEMI_INFO("clock: the CPU's counter, anchored to CLOCK_MONOTONIC");
	else
		DEMI_INFO("clock: clock_gettime(CLOCK_MONOTONIC)%s",
			  which == 1 ? "" : " (the CPU's counter is not invariant)");
	return 0;
}
