/* SPDX-License-Identifier: MIT */
/*
 * The runtime's monotonic clock, in nanoseconds, cheap enough to read on every pass.
 *
 * clock_gettime(CLOCK_MONOTONIC) costs ~45 ns on this project's VMs (the vDSO reads the TSC
 * under a seqlock and converts) and was 14-20% of a catnip server's samples. Where the CPU's
 * counter runs at a constant rate through every power state (x86-64's invariant TSC,
 * aarch64's generic timer), a read here is the counter, a subtraction, a multiply and a shift:
 *
 *   ns = base_ns + ((ticks - base_ticks) * mult >> 32)   while ticks - base_ticks < span
 *
 * The conversion is anchored to CLOCK_MONOTONIC: the rate is measured against it from the
 * process's first reading (a baseline that grows, so the rate gets better with time) and every
 * span (~100 ms of ticks, or the first read after a longer sleep) the anchor is read again.
 * A clock found ahead of CLOCK_MONOTONIC then is not set back: it runs slower for the next
 * span until it has caught up, so it never goes backwards and stays within microseconds (far
 * ahead, after a suspend the counter ran through, it keeps its lead at the right rate).
 * The first CALIB ms after the process's first reading, too short a baseline for the rate,
 * are read from CLOCK_MONOTONIC itself.
 *
 * Each runtime (one per thread) owns its clock: the slow path changes it, the fast path only
 * reads it, and no thread shares it. demikernel.clock (DEMIKERNEL_CLOCK) chooses: "tsc" (the
 * default: the counter when it is invariant, else the fallback) or "monotonic" (always
 * clock_gettime). Tests move a fake clock by hand.
 */
#ifndef DEMI__CLOCK_H
#define DEMI__CLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct demi__config;

enum demi__clock_source {
	DEMI__CLOCK_TSC = 0, /* the CPU's counter when it is invariant (default) */
	DEMI__CLOCK_MONOTONIC,
	DEMI__CLOCK_FAKE,
};

struct demi__clock {
	/* The conversion in force (see above); span 0 sends every read to the slow path. */
	uint64_t base_ticks;
	uint64_t span;
	uint64_t base_ns;
	uint64_t mult;	  /* ns per tick << 32 */
	uint8_t source;	  /* enum demi__clock_source asked for */
	uint64_t anchors; /* times the conversion was anchored (tests) */
	uint64_t fake_now_ns;
};

/* The CPU's free-running counter, or 0 where there is none we use. */
static inline uint64_t demi__clock_ticks(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
#elif defined(__aarch64__)
	uint64_t v;

	__asm__ volatile("mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
	return 0;
#endif
}

/* Out of the fast path: anchoring, the fallback and the fake clock. */
uint64_t demi__clock_slow(struct demi__clock *c);

static inline uint64_t demi__clock_read(struct demi__clock *c)
{
	uint64_t d = demi__clock_ticks() - c->base_ticks;

	/* d < span keeps d * mult below 2^64: a span is far less than 2^32 ns. */
	if (__builtin_expect(d < c->span, 1))
		return c->base_ns + (d * c->mult >> 32);
	return demi__clock_slow(c);
}

/* Reads demikernel.clock into c (a zeroed clock reads the counter). 0 or -EINVAL. */
int demi__clock_config(struct demi__clock *c, struct demi__config *cfg);
/* What c reads now: DEMI__CLOCK_TSC once anchored on the counter, else the fallback's or the
 * fake's. */
enum demi__clock_source demi__clock_source_in_use(const struct demi__clock *c);
/* Whether this CPU's counter is usable (invariant); decided once per process. */
bool demi__clock_tsc_usable(void);
/* CLOCK_MONOTONIC in ns, straight from clock_gettime. */
uint64_t demi__clock_monotonic_ns(void);

#endif
