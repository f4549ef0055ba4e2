/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of lib/runtime/timer.c: the binary heap of timers (order, cancel, re-arm,
 * callbacks that arm and cancel), checked against a plain reference model, and the clock.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unit.h"

#include "runtime/runtime.h"

struct fire_log {
	unsigned n;
	struct {
		unsigned id;
		uint64_t deadline;
	} ev[8192];
};

static struct fire_log fires;

/* A test timer: what it does when it fires is in its fields. */
struct ttimer {
	struct demi__timer tm;
	struct demi__runtime *rt;
	unsigned id;
	unsigned rearm_left; /* re-arm itself this many times, period later */
	uint64_t period;
	struct ttimer *arm_other; /* arm this one at other_deadline */
	uint64_t other_deadline;
	struct ttimer *cancel_other;
};

static void on_fire(void *arg)
{
	struct ttimer *t = arg;

	assert_false(demi__timer_armed(&t->tm)); /* disarmed before its callback runs */
	if (fires.n < sizeof(fires.ev) / sizeof(fires.ev[0])) {
		fires.ev[fires.n].id = t->id;
		fires.ev[fires.n].deadline = t->tm.deadline_ns;
		fires.n++;
	}
	if (t->rearm_left) {
		t->rearm_left--;
		assert_int_equal(demi__timer_arm(t->rt, &t->tm, t->tm.deadline_ns + t->period), 0);
	}
	if (t->arm_other)
		assert_int_equal(demi__timer_arm(t->rt, &t->arm_other->tm, t->other_deadline), 0);
	if (t->cancel_other)
		demi__timer_cancel(t->rt, &t->cancel_other->tm);
}

static void ttimer_init(struct ttimer *t, struct demi__runtime *rt, unsigned id)
{
	memset(t, 0, sizeof(*t));
	t->rt = rt;
	t->id = id;
	demi__timer_init(&t->tm, on_fire, t);
}

/* Heap shape (lib/heap.h: 1-based): every slot knows its index and no child is earlier than
 * its parent. */
static void check_heap(const struct demi__runtime *rt)
{
	for (uint32_t i = 1; i <= rt->heap_len; i++) {
		assert_int_equal(rt->heap[i]->heap_index, i);
		if (i > 1)
			assert_true(rt->heap[i / 2]->deadline_ns <= rt->heap[i]->deadline_ns);
	}
	assert_int_equal(demi__timer_next_deadline(rt),
			 rt->heap_len ? rt->heap[1]->deadline_ns : UINT64_MAX);
}

static void expect_fires(const unsigned *ids, unsigned n)
{
	assert_int_equal(fires.n, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(fires.ev[i].id, ids[i]);
	fires.n = 0;
}

static int setup(void **state)
{
	struct demi__runtime *rt = malloc(sizeof(*rt));

	if (!rt || demi__runtime_init(rt) < 0)
		return -1;
	demi__clock_use_fake(rt, 1000);
	fires.n = 0;
	*state = rt;
	return 0;
}

/* Nothing may stay armed after a test (an armed timer would point into a dead stack frame). */
static int teardown(void **state)
{
	struct demi__runtime *rt = *state;

	assert_int_equal(rt->heap_len, 0);
	assert_int_equal(rt->stats.tasks_in_use, 0);
	demi__runtime_fini(rt);
	free(rt);
	return 0;
}

static void test_timer_init_unarmed(void **state)
{
	struct demi__runtime *rt = *state;
	struct ttimer t;

	ttimer_init(&t, rt, 1);
	assert_false(demi__timer_armed(&t.tm));
	assert_int_equal(demi__timer_next_deadline(rt), UINT64_MAX);
	assert_int_equal(demi__timer_run(rt, UINT64_MAX), 0);
	/* Cancelling an unarmed timer does nothing. */
	demi__timer_cancel(rt, &t.tm);
	assert_int_equal(rt->heap_len, 0);
}

static void test_timer_fires_in_deadline_order(void **state)
{
	struct demi__runtime *rt = *state;
	const uint64_t deadlines[] = {1050, 1010, 1040, 1020, 1030, 1045, 1005};
	const unsigned want[] = {6, 1, 3, 4, 2, 5, 0};
	struct ttimer t[7];

	for (unsigned i = 0; i < 7; i++) {
		ttimer_init(&t[i], rt, i);
		assert_int_equal(demi__timer_arm(rt, &t[i].tm, deadlines[i]), 0);
		assert_true(demi__timer_armed(&t[i].tm));
		check_heap(rt);
	}
	assert_int_equal(demi__timer_next_deadline(rt), 1005);
	assert_int_equal(demi__timer_run(rt, 1100), 7);
	expect_fires(want, 7);
	for (unsigned i = 0; i < 7; i++)
		assert_false(demi__timer_armed(&t[i].tm));
	assert_int_equal(demi__timer_next_deadline(rt), UINT64_MAX);
}

/* Only timers due at now fire; a deadline equal to now is due. */
static void test_timer_run_only_due(void **state)
{
	struct demi__runtime *rt = *state;
	struct ttimer a, b, c;
	const unsigned first[] = {1}, second[] = {2, 3};

	ttimer_init(&a, rt, 1);
	ttimer_init(&b, rt, 2);
	ttimer_init(&c, rt, 3);
	demi__timer_arm(rt, &a.tm, 100);
	demi__timer_arm(rt, &b.tm, 200);
	demi__timer_arm(rt, &c.tm, 200);
	assert_int_equal(demi__timer_run(rt, 99), 0);
	assert_int_equal(demi__timer_run(rt, 199), 1);
	expect_fires(first, 1);
	assert_int_equal(demi__timer_next_deadline(rt), 200);
	assert_true(demi__timer_armed(&b.tm));
	assert_int_equal(demi__timer_run(rt, 200), 2);
	/* Equal deadlines: both fire, in either order. */
	assert_int_equal(fires.n, 2);
	assert_int_equal(fires.ev[0].id + fires.ev[1].id, second[0] + second[1]);
	fires.n = 0;
}

/* Cancelling from the middle, the root and the last slot keeps the heap valid. */
static void test_timer_cancel_from_anywhere(void **state)
{
	struct demi__runtime *rt = *state;
	enum { N = 15 };
	struct ttimer t[N];
	unsigned want[N], nwant = 0;

	for (unsigned i = 0; i < N; i++) {
		ttimer_init(&t[i], rt, i);
		/* 0..14 in a scrambled order */
		assert_int_equal(demi__timer_arm(rt, &t[i].tm, 100 + (i * 7) % N), 0);
	}
	check_heap(rt);
	struct demi__timer *root = rt->heap[1], *last = rt->heap[rt->heap_len];
	struct demi__timer *mid = rt->heap[6], *leaf = rt->heap[10];

	demi__timer_cancel(rt, mid);
	check_heap(rt);
	demi__timer_cancel(rt, root);
	check_heap(rt);
	demi__timer_cancel(rt, last);
	check_heap(rt);
	demi__timer_cancel(rt, leaf);
	check_heap(rt);
	demi__timer_cancel(rt, leaf); /* twice: no effect */
	check_heap(rt);
	assert_int_equal(rt->heap_len, N - 4);
	for (uint64_t d = 100; d < 100 + N; d++) {
		for (unsigned i = 0; i < N; i++) {
			struct demi__timer *tm = &t[i].tm;

			if (100 + (i * 7) % N == d && tm != root && tm != last && tm != mid &&
			    tm != leaf)
				want[nwant++] = i;
		}
	}
	assert_int_equal(demi__timer_run(rt, 1000), N - 4);
	expect_fires(want, nwant);
}

/* Re-arming moves a timer; it is never in the heap twice. */
static void test_timer_rearm_moves(void **state)
{
	struct demi__runtime *rt = *state;
	struct ttimer a, b;
	const unsigned want[] = {2, 1};

	ttimer_init(&a, rt, 1);
	ttimer_init(&b, rt, 2);
	demi__timer_arm(rt, &a.tm, 10);
	demi__timer_arm(rt, &b.tm, 20);
	demi__timer_arm(rt, &a.tm, 30); /* later */
	assert_int_equal(rt->heap_len, 2);
	check_heap(rt);
	assert_int_equal(demi__timer_next_deadline(rt), 20);
	assert_int_equal(demi__timer_run(rt, 15), 0);
	demi__timer_arm(rt, &a.tm, 40);
	demi__timer_arm(rt, &b.tm, 5); /* earlier */
	demi__timer_arm(rt, &b.tm, 5); /* same */
	assert_int_equal(rt->heap_len, 2);
	check_heap(rt);
	assert_int_equal(demi__timer_run(rt, 100), 2);
	expect_fires(want, 2);
}

/* A periodic timer that re-arms from its callback fires once per period that has passed. */
static void test_timer_callback_rearms_itself(void **state)
{
	struct demi__runtime *rt = *state;
	struct ttimer t;

	ttimer_init(&t, rt, 1);
	t.period = 10;
	t.rearm_left = 100;
	demi__timer_arm(rt, &t.tm, 10);
	assert_int_equal(demi__timer_run(rt, 10), 1);
	assert_int_equal(demi__timer_next_deadline(rt), 20);
	/* Three periods late: three firings at 20, 30, 40, then armed for 50. */
	assert_int_equal(demi__timer_run(rt, 45), 3);
	assert_int_equal(fires.n, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(fires.ev[i].deadline, 10 + 10 * i);
	assert_true(demi__timer_armed(&t.tm));
	assert_int_equal(demi__timer_next_deadline(rt), 50);
	/* It stops when it no longer re-arms. */
	t.rearm_left = 2;
	assert_int_equal(demi__timer_run(rt, 1000), 3);
	assert_false(demi__timer_armed(&t.tm));
	fires.n = 0;
}

/* A callback arms another timer (due now: fires in the same run; later: does not) and cancels
 * a third that was due. */
static void test_timer_callback_arms_and_cancels_others(void **state)
{
	struct demi__runtime *rt = *state;
	struct ttimer a, due, later, victim;
	const unsigned want[] = {1, 2};

	ttimer_init(&a, rt, 1);
	ttimer_init(&due, rt, 2);
	ttimer_init(&later, rt, 3);
	ttimer_init(&victim, rt, 4);
	a.arm_other = &due;
	a.other_deadline = 50;
	a.cancel_other = &victim;
	demi__timer_arm(rt, &a.tm, 10);
	demi__timer_arm(rt, &victim.tm, 60);
	assert_int_equal(demi__timer_run(rt, 100), 2);
	expect_fires(want, 2);
	assert_false(demi__timer_armed(&victim.tm));
	/* Armed from a callback for after now: waits. */
	a.arm_other = &later;
	a.other_deadline = 500;
	a.cancel_other = NULL;
	demi__timer_arm(rt, &a.tm, 200);
	assert_int_equal(demi__timer_run(rt, 300), 1);
	assert_true(demi__timer_armed(&later.tm));
	assert_int_equal(demi__timer_next_deadline(rt), 500);
	demi__timer_cancel(rt, &later.tm);
	fires.n = 0;
}

/* The heap grows past its first allocation. */
static void test_timer_many_grow_heap(void **state)
{
	struct demi__runtime *rt = *state;
	enum { N = 1000 };
	struct ttimer *t = calloc(N, sizeof(*t));

	assert_non_null(t);
	for (unsigned i = 0; i < N; i++) {
		ttimer_init(&t[i], rt, i);
		assert_int_equal(demi__timer_arm(rt, &t[i].tm, (uint64_t)(N - i) * 3), 0);
	}
	check_heap(rt);
	assert_true(rt->heap_cap >= N);
	assert_int_equal(demi__timer_run(rt, UINT64_MAX), N);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(fires.ev[i].id, N - 1 - i);
	fires.n = 0;
	free(t);
}

/* Random arm / re-arm / cancel / run against a reference that keeps the deadlines in a plain
 * array: every run fires exactly the due timers, in deadline order. */
static void test_timer_random_vs_reference(void **state)
{
	struct demi__runtime *rt = *state;
	enum { N = 500, OPS = 40000 };
	struct ttimer *t = calloc(N, sizeof(*t));
	bool *armed = calloc(N, sizeof(*armed));
	uint64_t *deadline = calloc(N, sizeof(*deadline));
	struct unit_rng rng;
	uint64_t now = 0, total_fired = 0;

	assert_non_null(t);
	assert_non_null(armed);
	assert_non_null(deadline);
	unit_rng_seed(&rng, 4242);
	for (unsigned i = 0; i < N; i++)
		ttimer_init(&t[i], rt, i);
	for (unsigned op = 0; op < OPS; op++) {
		unsigned i = (unsigned)unit_rng_below(&rng, N),
			 r = (unsigned)unit_rng_below(&rng, 100);

		if (r < 55) {
			uint64_t d = now + unit_rng_below(&rng, 2000);

			assert_int_equal(demi__timer_arm(rt, &t[i].tm, d), 0);
			armed[i] = true;
			deadline[i] = d;
		} else if (r < 80) {
			demi__timer_cancel(rt, &t[i].tm);
			armed[i] = false;
		} else {
			unsigned due = 0, fired;

			now += unit_rng_below(&rng, 300);
			for (unsigned j = 0; j < N; j++)
				due += armed[j] && deadline[j] <= now;
			fires.n = 0;
			fired = (unsigned)demi__timer_run(rt, now);
			assert_int_equal(fired, due);
			assert_int_equal(fires.n, due);
			for (unsigned k = 0; k < fires.n; k++) {
				unsigned id = fires.ev[k].id;

				assert_true(armed[id]);
				assert_int_equal(fires.ev[k].deadline, deadline[id]);
				assert_true(deadline[id] <= now);
				if (k > 0)
					assert_true(fires.ev[k - 1].deadline <=
						    fires.ev[k].deadline);
				armed[id] = false;
			}
			total_fired += fired;
		}
		for (unsigned j = 0; j < N; j += 97)
			assert_int_equal(demi__timer_armed(&t[j].tm), armed[j]);
		if (op % 64 == 0) {
			uint64_t min = UINT64_MAX;
			unsigned count = 0;

			check_heap(rt);
			for (unsigned j = 0; j < N; j++) {
				assert_int_equal(demi__timer_armed(&t[j].tm), armed[j]);
				if (armed[j]) {
					count++;
					if (deadline[j] < min)
						min = deadline[j];
				}
			}
			assert_int_equal(rt->heap_len, count);
			assert_int_equal(demi__timer_next_deadline(rt), min);
		}
	}
	assert_true(total_fired > 1000);
	for (unsigned i = 0; i < N; i++)
		demi__timer_cancel(rt, &t[i].tm);
	fires.n = 0;
	free(t);
	free(armed);
	free(deadline);
}

/* ---- clock ---- */

static void test_timer_fake_clock(void **state)
{
	struct demi__runtime *rt = *state;

	assert_int_equal(demi__clock_now(rt), 1000);
	demi__clock_advance(rt, 234);
	assert_int_equal(demi__clock_now(rt), 1234);
	assert_int_equal(demi__clock_now(rt), 1234); /* does not move by itself */
	demi__clock_use_fake(rt, 5);
	assert_int_equal(demi__clock_now(rt), 5);
}

static void test_timer_real_clock_monotonic(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__runtime real;
	struct timespec ts;
	uint64_t a, b, sys;

	(void)rt;
	demi__runtime_init(&real);
	/* clock_gettime itself, so the brackets are exact (test_clock.c bounds the counter). */
	real.clock.source = DEMI__CLOCK_MONOTONIC;
	a = demi__clock_now(&real);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sys = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	b = demi__clock_now(&real);
	assert_true(a > 0);
	assert_true(a <= sys);
	assert_true(sys <= b);
	assert_true(b - a < 1000000000ull);
	demi__runtime_fini(&real);
}

/* The scheduler pass fires timers by the runtime's clock. */
static void test_timer_pass_uses_runtime_clock(void **state)
{
	struct demi__runtime *rt = *state;
	struct ttimer t;

	ttimer_init(&t, rt, 1);
	demi__timer_arm(rt, &t.tm, 1100);
	assert_int_equal(demi__runtime_pass(rt), 0);
	demi__clock_advance(rt, 99);
	assert_int_equal(demi__runtime_pass(rt), 0);
	demi__clock_advance(rt, 1);
	assert_int_equal(demi__runtime_pass(rt), 1);
	assert_int_equal(fires.n, 1);
	fires.n = 0;
}

/* A reading of the clock serves up to DEMI__PASS_CLOCK_REUSE idle passes, so a timer that
 * falls due while the runtime spins fires within that many passes, never later; a pass that
 * made progress, and demi__pass_clock_stale, make the next pass read the clock again. (The
 * fake clock is moved behind the runtime's back: demi__clock_advance marks the reading
 * stale itself.) */
static void test_timer_pass_clock_reused_by_idle_passes(void **state)
{
	struct demi__runtime *rt = *state;
	struct ttimer t;
	int passes = 0;

	ttimer_init(&t, rt, 1);
	demi__timer_arm(rt, &t.tm, 1100);
	assert_int_equal(demi__runtime_pass(rt), 0); /* reads 1000 */
	rt->clock.fake_now_ns = 1100;
	while (!demi__runtime_pass(rt))
		passes++;
	assert_int_equal(fires.n, 1);
	assert_true(passes < DEMI__PASS_CLOCK_REUSE);
	assert_true(passes > 0); /* the reading is reused at all */
	fires.n = 0;
	/* After a pass with progress: a fresh reading at once. */
	demi__timer_arm(rt, &t.tm, 1200);
	rt->clock.fake_now_ns = 1200;
	assert_int_equal(demi__runtime_pass(rt), 1);
	fires.n = 0;
	/* Marked stale (a new wait, a poll_io that may have slept): read at the next pass. */
	demi__timer_arm(rt, &t.tm, 1300);
	assert_int_equal(demi__runtime_pass(rt), 0);
	rt->clock.fake_now_ns = 1300;
	demi__pass_clock_stale(rt);
	assert_int_equal(demi__runtime_pass(rt), 1);
	fires.n = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_timer_init_unarmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_fires_in_deadline_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timer_run_only_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_cancel_from_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_rearm_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_callback_rearms_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_callback_arms_and_cancels_others, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timer_many_grow_heap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_random_vs_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_fake_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_real_clock_monotonic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_pass_uses_runtime_clock, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timer_pass_clock_reused_by_idle_passes, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
