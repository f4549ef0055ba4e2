/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of lib/runtime/clock.c: the counter-based clock never goes backwards (in one
 * thread, in several threads each with its own clock, across anchors and a sleep), stays within
 * a bound of CLOCK_MONOTONIC, catches up without stepping back when it is ahead, and
 * demikernel.clock forces the clock_gettime fallback (exactly CLOCK_MONOTONIC).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "unit.h"

#include "config.h"
#include "runtime/clock.h"

/* How far the counter's clock may be from CLOCK_MONOTONIC. Expected: a few microseconds;
 * generous for a loaded, shared VM where a read can be preempted between its brackets. */
#define BOUND_NS 50000ull
#define MS 1000000ull

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};

	nanosleep(&ts, NULL);
}

/* Reads c for dur_ns, each read bracketed by CLOCK_MONOTONIC: never backwards, never more than
 * BOUND_NS outside its bracket. Returns the largest distance seen outside a bracket. */
static uint64_t read_for(struct demi__clock *c, uint64_t dur_ns, uint64_t *prev)
{
	uint64_t end = demi__clock_monotonic_ns() + dur_ns, worst = 0;

	for (;;) {
		uint64_t m0 = demi__clock_monotonic_ns(), x = demi__clock_read(c);
		uint64_t m1 = demi__clock_monotonic_ns();

		assert_true(x >= *prev);
		*prev = x;
		if (x < m0 && m0 - x > worst)
			worst = m0 - x;
		if (x > m1 && x - m1 > worst)
			worst = x - m1;
		if (m1 >= end)
			return worst;
	}
}

static void skip_without_counter(void)
{
	if (!demi__clock_tsc_usable()) {
		fprintf(stderr, "no invariant counter on this CPU: only the fallback is tested\n");
		skip();
	}
}

/* Anchors a clock past its calibration, then moves it ns ahead of CLOCK_MONOTONIC, with the
 * same conversion from a base one span earlier: the next read anchors. */
static void put_ahead(struct demi__clock *c, uint64_t ns, uint64_t *prev)
{
	read_for(c, 20 * MS, prev);
	assert_true(c->span > 0);
	c->base_ns += ns;
	c->base_ns -= c->span * c->mult >> 32;
	c->base_ticks -= c->span;
}

static void test_clock_counter_follows_monotonic(void **state)
{
	struct demi__clock c = {0};
	uint64_t prev = 0, worst;

	(void)state;
	skip_without_counter();
	/* Past the calibration, through two anchors. */
	worst = read_for(&c, 250 * MS, &prev);
	fprintf(stderr, "counter clock: %llu anchors, at most %llu ns off CLOCK_MONOTONIC\n",
		(unsigned long long)c.anchors, (unsigned long long)worst);
	assert_int_equal(demi__clock_source_in_use(&c), DEMI__CLOCK_TSC);
	assert_true(c.anchors >= 2);
	assert_true(c.span > 0); /* reads take the fast path between anchors */
	assert_true(worst < BOUND_NS);
}

static void test_clock_counter_across_sleep(void **state)
{
	struct demi__clock c = {0};
	uint64_t prev = 0, anchors, worst;

	(void)state;
	skip_without_counter();
	read_for(&c, 20 * MS, &prev);
	anchors = c.anchors;
	/* Longer than a span: the first read after it anchors again. */
	sleep_ns(350 * MS);
	worst = read_for(&c, 1 * MS, &prev);
	assert_true(c.anchors > anchors);
	assert_true(worst < BOUND_NS);
}

/* A clock found ahead of CLOCK_MONOTONIC at an anchor keeps its value and runs slower until
 * they meet: never backwards, and back within the bound a couple of spans later. */
static void test_clock_counter_ahead_catches_up(void **state)
{
	struct demi__clock c = {0};
	uint64_t prev = 0, worst;

	(void)state;
	skip_without_counter();
	put_ahead(&c, 2 * MS, &prev);
	prev = demi__clock_read(&c);
	assert_true(prev > demi__clock_monotonic_ns() + MS);
	read_for(&c, 300 * MS, &prev);
	worst = read_for(&c, 20 * MS, &prev);
	assert_true(worst < BOUND_NS);
}

/* Far ahead (the counter ran through a suspend that CLOCK_MONOTONIC skipped): the clock keeps
 * its lead and runs at CLOCK_MONOTONIC's rate, neither stepping back nor crawling. */
static void test_clock_counter_far_ahead_keeps_lead(void **state)
{
	struct demi__clock c = {0};
	uint64_t prev = 0, lead0, lead1;

	(void)state;
	skip_without_counter();
	put_ahead(&c, 1000 * MS, &prev);
	lead0 = demi__clock_read(&c) - demi__clock_monotonic_ns();
	assert_true(lead0 > 999 * MS);
	for (uint64_t end = demi__clock_monotonic_ns() + 250 * MS;
	     demi__clock_monotonic_ns() < end;) {
		uint64_t x = demi__clock_read(&c);

		assert_true(x >= prev);
		prev = x;
	}
	lead1 = demi__clock_read(&c) - demi__clock_monotonic_ns();
	assert_true(c.anchors >= 3);
	assert_true(lead1 > lead0 - BOUND_NS && lead1 < lead0 + BOUND_NS);
}

static void *thread_reads(void *arg)
{
	struct demi__clock c = {0};
	uint64_t prev = 0;

	*(uint64_t *)arg = read_for(&c, 150 * MS, &prev);
	return NULL;
}

/* One clock per thread, as one runtime per thread: each is monotonic and close to
 * CLOCK_MONOTONIC, so they agree with each other. */
static void test_clock_counter_threads(void **state)
{
	pthread_t th[2];
	uint64_t worst[2];

	(void)state;
	skip_without_counter();
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thread_reads, &worst[i]), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(worst[i] < BOUND_NS);
	}
}

static void clock_from_yaml(struct demi__clock *c, const char *yaml, int want_rc)
{
	struct demi__config cfg = {0};

	assert_int_equal(demi__config_load_string(&cfg, yaml, "test"), 0);
	assert_int_equal(demi__clock_config(c, &cfg), want_rc);
	demi__config_fini(&cfg);
}

/* demikernel.clock: monotonic: every read is clock_gettime, so it lies inside its bracket
 * exactly, and nothing is ever anchored. */
static void test_clock_fallback_by_config(void **state)
{
	struct demi__clock c = {0};
	uint64_t end;

	(void)state;
	clock_from_yaml(&c, "demikernel:\n  clock: monotonic\n", 0);
	assert_int_equal(demi__clock_source_in_use(&c), DEMI__CLOCK_MONOTONIC);
	end = demi__clock_monotonic_ns() + 30 * MS;
	for (;;) {
		uint64_t m0 = demi__clock_monotonic_ns(), x = demi__clock_read(&c);
		uint64_t m1 = demi__clock_monotonic_ns();

		assert_true(m0 <= x && x <= m1);
		if (m1 >= end)
			break;
	}
	assert_int_equal(c.anchors, 0);
	assert_int_equal(c.span, 0);
}

/* The environment overrides the file, as for every key; a bad name is an error. */
static void test_clock_config_env_and_errors(void **state)
{
	struct demi__clock c = {0};

	(void)state;
	assert_int_equal(setenv("DEMIKERNEL_CLOCK", "monotonic", 1), 0);
	clock_from_yaml(&c, "demikernel:\n  clock: tsc\n", 0);
	assert_int_equal(demi__clock_source_in_use(&c), DEMI__CLOCK_MONOTONIC);
	assert_int_equal(unsetenv("DEMIKERNEL_CLOCK"), 0);
	clock_from_yaml(&c, "demikernel:\n  clock: tsc\n", 0);
	assert_int_equal(demi__clock_source_in_use(&c),
			 demi__clock_tsc_usable() ? DEMI__CLOCK_TSC : DEMI__CLOCK_MONOTONIC);
	clock_from_yaml(&c, "demikernel:\n  clock: hpet\n", -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock_counter_follows_monotonic),
		cmocka_unit_test(test_clock_counter_across_sleep),
		cmocka_unit_test(test_clock_counter_ahead_catches_up),
		cmocka_unit_test(test_clock_counter_far_ahead_keeps_lead),
		cmocka_unit_test(test_clock_counter_threads),
		cmocka_unit_test(test_clock_fallback_by_config),
		cmocka_unit_test(test_clock_config_env_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
