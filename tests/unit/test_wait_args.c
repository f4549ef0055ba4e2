/* SPDX-License-Identifier: MIT */
/*
 * Argument handling of demi_wait, demi_wait_any and demi_wait_next_n through the public API,
 * with the default libOS (catnap) and no socket at all: NULL pointers, counts, timespecs,
 * unknown tokens, timeouts with nothing pending, and calls from a thread without demi_init.
 *
 * Checks that need a thread of their own run in one and report back: cmocka's assertions
 * belong to the main thread.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#include <demi/libos.h>
#include <demi/wait.h>

#include "api.h"
#include "debug.h"

/* NULL the compiler cannot see through (the public prototypes are declared nonnull), and
 * functions that pass it on purpose, which UBSan must not report. */
static void *volatile vnull;
#define PASSES_NULL __attribute__((no_sanitize("nonnull-attribute")))

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const struct timespec zero = {0, 0};

/* ---- before demi_init ---- */

struct before_init {
	int wait, wait_zero, wait_any, next_n, next_n_count;
	int wait_null, any_null, next_n_null, any_zero_qts, next_n_zero;
};

PASSES_NULL static void *calls_before_init(void *arg)
{
	struct before_init *r = arg;
	demi_qresult_t qr, qrs[4];
	demi_qtoken_t qts[2] = {1, 2};
	int off, n = 42;

	r->wait = demi_wait(&qr, 1, NULL);
	r->wait_zero = demi_wait(&qr, 0, &zero);
	r->wait_any = demi_wait_any(&qr, &off, qts, 2, NULL);
	r->next_n = demi_wait_next_n(qrs, 4, &n, NULL);
	r->next_n_count = n;
	/* Argument errors come first, libOS or not. */
	r->wait_null = demi_wait(vnull, 1, NULL);
	r->any_null = demi_wait_any(&qr, vnull, qts, 2, NULL);
	r->next_n_null = demi_wait_next_n(qrs, 4, vnull, NULL);
	r->any_zero_qts = demi_wait_any(&qr, &off, qts, 0, NULL);
	r->next_n_zero = demi_wait_next_n(qrs, 0, &n, NULL);
	return NULL;
}

static void test_wait_before_init_eperm(void **state)
{
	struct before_init r;
	pthread_t th;

	(void)state;
	memset(&r, 0xff, sizeof(r));
	assert_int_equal(pthread_create(&th, NULL, calls_before_init, &r), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r.wait, EPERM);
	assert_int_equal(r.wait_zero, EPERM);
	assert_int_equal(r.wait_any, EPERM);
	assert_int_equal(r.next_n, EPERM);
	assert_int_equal(r.next_n_count, 0);
	assert_int_equal(r.wait_null, EINVAL);
	assert_int_equal(r.any_null, EINVAL);
	assert_int_equal(r.next_n_null, EINVAL);
	assert_int_equal(r.any_zero_qts, EINVAL);
	assert_int_equal(r.next_n_zero, EINVAL);
}

/* ---- after demi_init (this thread's libOS, from the group setup) ---- */

PASSES_NULL static void test_wait_null_pointers(void **state)
{
	demi_qresult_t qr, qrs[2];
	demi_qtoken_t qts[1] = {1};
	int off, n;

	(void)state;
	assert_int_equal(demi_wait(vnull, 1, &zero), EINVAL);
	assert_int_equal(demi_wait(vnull, 1, NULL), EINVAL);
	assert_int_equal(demi_wait_any(vnull, &off, qts, 1, &zero), EINVAL);
	assert_int_equal(demi_wait_any(&qr, vnull, qts, 1, &zero), EINVAL);
	assert_int_equal(demi_wait_any(&qr, &off, vnull, 1, &zero), EINVAL);
	assert_int_equal(demi_wait_any(&qr, &off, vnull, 1, NULL), EINVAL);
	assert_int_equal(demi_wait_next_n(vnull, 2, &n, &zero), EINVAL);
	assert_int_equal(demi_wait_next_n(qrs, 2, vnull, &zero), EINVAL);
	assert_int_equal(demi_wait_next_n(vnull, 2, &n, NULL), EINVAL);
}

static void test_wait_count_below_one(void **state)
{
	demi_qresult_t qr, qrs[2];
	demi_qtoken_t qts[1] = {1};
	int off, n;
	const int counts[] = {0, -1, INT_MIN};

	(void)state;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		n = 42;
		assert_int_equal(demi_wait_any(&qr, &off, qts, counts[i], &zero), EINVAL);
		assert_int_equal(demi_wait_any(&qr, &off, qts, counts[i], NULL), EINVAL);
		assert_int_equal(demi_wait_next_n(qrs, counts[i], &n, &zero), EINVAL);
		assert_int_equal(demi_wait_next_n(qrs, counts[i], &n, NULL), EINVAL);
	}
}

static void test_wait_bad_timespec(void **state)
{
	/* clang-format off */
	const struct timespec bad[] = {
		{ -1, 0 }, { 0, -1 }, { 0, 1000000000 }, { 5, 1000000000 }, { 0, LONG_MAX },
		{ -1, -1 }, { LONG_MIN, 0 }, { 0, LONG_MIN },
	};
	/* clang-format on */
	demi_qresult_t qr, qrs[2];
	demi_qtoken_t qts[1] = {1};
	int off, n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t t0 = now_ns();

		n = 42;
		assert_int_equal(demi_wait_next_n(qrs, 2, &n, &bad[i]), EINVAL);
		assert_int_equal(n, 0);
		assert_int_equal(demi_wait(&qr, 1, &bad[i]), EINVAL);
		assert_int_equal(demi_wait_any(&qr, &off, qts, 1, &bad[i]), EINVAL);
		assert_true(now_ns() - t0 < 1000000000ull); /* refused, not waited on */
	}
	/* The largest valid tv_nsec is accepted (checked without waiting a second: only the
	 * argument is at stake, and next_n returns ETIMEDOUT, not EINVAL). */
	const struct timespec edge = {0, 999999};

	n = 42;
	assert_int_equal(demi_wait_next_n(qrs, 2, &n, &edge), ETIMEDOUT);
	assert_int_equal(n, 0);
}

/* Tokens that never existed: EINVAL at once, even with no time limit. */
static void test_wait_unknown_token(void **state)
{
	const demi_qtoken_t tokens[] = {
		0, 1, 2, 255, 256, 257, (1ull << 32) | 1, UINT64_MAX, 0xdeadbeefcafef00dull};
	demi_qtoken_t many[100];
	demi_qresult_t qr;
	struct unit_rng rng;
	int off = -5;

	(void)state;
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		assert_int_equal(demi_wait(&qr, tokens[i], &zero), EINVAL);
		assert_int_equal(demi_wait(&qr, tokens[i], NULL), EINVAL);
		assert_int_equal(demi_wait_any(&qr, &off, &tokens[i], 1, NULL), EINVAL);
	}
	assert_int_equal(demi_wait_any(&qr, &off, tokens, sizeof(tokens) / sizeof(tokens[0]), NULL),
			 EINVAL);
	/* More than fit on wait_any's stack array (ASan checks the heap copy is freed). */
	unit_rng_seed(&rng, 5);
	for (int i = 0; i < 100; i++)
		many[i] = unit_rng_next(&rng);
	assert_int_equal(demi_wait_any(&qr, &off, many, 100, NULL), EINVAL);
	assert_int_equal(demi_wait_any(&qr, &off, many, 100, &zero), EINVAL);
	assert_int_equal(off, -5); /* untouched on error */
}

/* {0, 0} polls once and returns ETIMEDOUT with no result when nothing is pending. */
static void test_wait_next_n_zero_timeout(void **state)
{
	demi_qresult_t qrs[4];
	int n = 42;
	uint64_t t0 = now_ns();

	(void)state;
	assert_int_equal(demi_wait_next_n(qrs, 4, &n, &zero), ETIMEDOUT);
	assert_int_equal(n, 0);
	assert_true(now_ns() - t0 < 500000000ull);
	n = 42;
	assert_int_equal(demi_wait_next_n(qrs, 1, &n, &zero), ETIMEDOUT);
	assert_int_equal(n, 0);
}

/* A 50 ms timeout waits at least 50 ms (and not absurdly longer). */
static void test_wait_next_n_timeout_50ms(void **state)
{
	const struct timespec ts = {0, 50 * 1000 * 1000};
	demi_qresult_t qrs[4];
	int n = 42;
	uint64_t t0 = now_ns(), dt;

	(void)state;
	assert_int_equal(demi_wait_next_n(qrs, 4, &n, &ts), ETIMEDOUT);
	dt = now_ns() - t0;
	assert_int_equal(n, 0);
	if (dt < 50000000ull || dt > 5000000000ull)
		fail_msg("a 50 ms wait took %llu ns", (unsigned long long)dt);
}

/* A timeout so long it is practically infinite (but below the "no limit" clamp) must not expire
 * at once because now + timeout wrapped around. */
struct huge_wait {
	volatile int done;
	int init_rc, rc, n;
};

static void *huge_wait_thread(void *arg)
{
	struct huge_wait *h = arg;
	const struct timespec ts = {(time_t)18446744071ll, 999999999};
	demi_qresult_t qr;

	h->init_rc = demi_init(NULL);
	if (h->init_rc == 0)
		h->rc = demi_wait_next_n(&qr, 1, &h->n, &ts);
	__atomic_store_n(&h->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_wait_huge_timeout_does_not_expire(void **state)
{
	static struct huge_wait h; /* outlives the test if the thread keeps waiting */
	pthread_t th;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, huge_wait_thread, &h), 0);
	pthread_detach(th);
	for (int i = 0; i < 30 && !__atomic_load_n(&h.done, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	if (__atomic_load_n(&h.done, __ATOMIC_ACQUIRE)) {
		assert_int_equal(h.init_rc, 0);
		fail_msg("a wait of ~584 years returned %d after < 300 ms", h.rc);
	}
	/* Still waiting, as it should: the thread stays blocked until the program exits. */
}

static void test_wait_init_twice_eexist(void **state)
{
	(void)state;
	assert_int_equal(demi_init(NULL), EEXIST);
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	struct demi_args args = {.argc = 0, .argv = NULL, .callback = NULL};
	/* clang-format off */
	static const char *const vars[] = { "LIBOS", "CONFIG_PATH", "CATNAP_ENGINE",
					    "DEMIKERNEL_BUSY_POLL", "DEMIKERNEL_POOL_MAX_BYTES",
					    "CATNAP_TCP_POP_BYTES", "CATNAP_FALLBACK_TO_EPOLL",
					    NULL };
	/* clang-format on */

	(void)state;
	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	return demi_init(&args) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	demi__fini();
	return 0;
}

/* Nothing may be left behind by a call that failed. */
static int teardown(void **state)
{
	struct demi__debug_counts c;

	(void)state;
	assert_int_equal(demi__debug_counts(&c), 0);
	assert_int_equal(c.tasks_in_use, 0);
	assert_int_equal(c.bufs_in_use, 0);
	assert_int_equal(c.queues_open, 0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_wait_before_init_eperm, teardown),
		cmocka_unit_test_teardown(test_wait_null_pointers, teardown),
		cmocka_unit_test_teardown(test_wait_count_below_one, teardown),
		cmocka_unit_test_teardown(test_wait_bad_timespec, teardown),
		cmocka_unit_test_teardown(test_wait_unknown_token, teardown),
		cmocka_unit_test_teardown(test_wait_next_n_zero_timeout, teardown),
		cmocka_unit_test_teardown(test_wait_next_n_timeout_50ms, teardown),
		cmocka_unit_test_teardown(test_wait_huge_timeout_does_not_expire, teardown),
		cmocka_unit_test_teardown(test_wait_init_twice_eexist, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
