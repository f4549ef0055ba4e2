/* SPDX-License-Identifier: MIT */
/*
 * Shared by the cmocka unit programs: cmocka's prerequisite includes and a small deterministic
 * random generator (the same seed gives the same sequence on every run, so a failure repeats).
 */
#ifndef DEMI_TEST_UNIT_H
#define DEMI_TEST_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* xorshift64*: good enough to drive randomised tests, and reproducible. */
struct unit_rng {
	uint64_t s;
};

static inline void unit_rng_seed(struct unit_rng *r, uint64_t seed)
{
	r->s = seed ? seed : 0x9E3779B97F4A7C15ull;
}

static inline uint64_t unit_rng_next(struct unit_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

/* Uniform enough in [0, n) for test purposes; n > 0. */
static inline uint64_t unit_rng_below(struct unit_rng *r, uint64_t n)
{
	return unit_rng_next(r) % n;
}

#endif
