/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of lib/qd.c, the queue descriptor table: allocation, lookup, free, reuse
 * oldest first (checked against a FIFO model), growth and its limit.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "libos.h"

static int setup(void **state)
{
	struct demi__libos *los = calloc(1, sizeof(*los));

	if (!los)
		return -1;
	*state = los;
	return 0;
}

/* No queue may stay registered after a test. */
static int teardown(void **state)
{
	struct demi__libos *los = *state;

	assert_int_equal(los->queues_open, 0);
	for (int qd = 0; qd < los->nqds; qd++)
		assert_null(los->qds[qd]);
	free(los->qds);
	free(los->qd_free_ring);
	free(los);
	return 0;
}

static void test_qd_alloc_sequential(void **state)
{
	struct demi__libos *los = *state;
	struct demi__queue q[5];

	for (int i = 0; i < 5; i++) {
		q[i].qd = -7;
		assert_int_equal(demi__qd_alloc(los, &q[i]), 0);
		assert_int_equal(q[i].qd, i);
		assert_ptr_equal(q[i].los, los);
		assert_int_equal(los->queues_open, (uint64_t)i + 1);
	}
	for (int i = 0; i < 5; i++)
		assert_ptr_equal(demi__qd_get(los, i), &q[i]);
	for (int i = 0; i < 5; i++)
		demi__qd_free(los, &q[i]);
}

static void test_qd_get_invalid(void **state)
{
	struct demi__libos *los = *state;
	struct demi__queue q;

	/* An empty table. */
	assert_null(demi__qd_get(los, 0));
	assert_null(demi__qd_get(los, -1));
	assert_int_equal(demi__qd_alloc(los, &q), 0);
	assert_null(demi__qd_get(los, -1));
	assert_null(demi__qd_get(los, INT_MIN));
	assert_null(demi__qd_get(los, INT_MAX));
	assert_null(demi__qd_get(los, los->nqds));
	assert_null(demi__qd_get(los, los->nqds - 1)); /* allocated table, free qd */
	assert_null(demi__qd_get(los, 1));
	demi__qd_free(los, &q);
}

static void test_qd_free_forgets(void **state)
{
	struct demi__libos *los = *state;
	struct demi__queue a, b, impostor;

	assert_int_equal(demi__qd_alloc(los, &a), 0);
	assert_int_equal(demi__qd_alloc(los, &b), 0);
	int qd = a.qd, count = los->qd_free_count;

	demi__qd_free(los, &a);
	assert_null(demi__qd_get(los, qd));
	assert_int_equal(a.qd, -1);
	assert_int_equal(los->queues_open, 1);
	assert_int_equal(los->qd_free_count, count + 1);
	/* Freeing again, or a queue that claims someone else's qd, changes nothing. */
	demi__qd_free(los, &a);
	impostor.qd = b.qd;
	demi__qd_free(los, &impostor);
	impostor.qd = -5;
	demi__qd_free(los, &impostor);
	impostor.qd = 1 << 30;
	demi__qd_free(los, &impostor);
	assert_int_equal(los->queues_open, 1);
	assert_int_equal(los->qd_free_count, count + 1);
	assert_ptr_equal(demi__qd_get(los, b.qd), &b);
	demi__qd_free(los, &b);
}

/* A freed qd goes behind every qd that has been free longer, never used ones included. */
static void test_qd_reuse_oldest_first(void **state)
{
	struct demi__libos *los = *state;
	struct demi__queue q[4];

	for (int i = 0; i < 3; i++)
		assert_int_equal(demi__qd_alloc(los, &q[i]), 0);
	demi__qd_free(los, &q[1]);
	assert_int_equal(demi__qd_alloc(los, &q[1]), 0);
	assert_int_equal(q[1].qd, 3); /* not 1 */
	assert_int_equal(demi__qd_alloc(los, &q[3]), 0);
	assert_int_equal(q[3].qd, 4);
	for (int i = 0; i < 4; i++)
		demi__qd_free(los, &q[i]);
}

/* With the table full, freed qds come back in the order they were freed, including when the
 * ring of free qds wraps around. */
static void test_qd_reuse_in_free_order_with_wrap(void **state)
{
	struct demi__libos *los = *state;
	enum { N = 256 };
	struct demi__queue *q = calloc(N + 8, sizeof(*q));
	const int order[] = {200, 5, 255, 0, 100, 6};
	int n;

	assert_non_null(q);
	for (int i = 0; i < N; i++)
		assert_int_equal(demi__qd_alloc(los, &q[i]), 0);
	assert_int_equal(los->nqds, N);
	assert_int_equal(los->qd_free_count, 0);
	/* Cycle a few times so the ring's head moves around it. */
	for (int round = 0; round < 100; round++) {
		for (n = 0; n < 6; n++)
			demi__qd_free(los, &q[order[(n + round) % 6]]);
		for (n = 0; n < 6; n++) {
			struct demi__queue *x = &q[order[(n + round) % 6]];

			assert_int_equal(demi__qd_alloc(los, x), 0);
			assert_int_equal(x->qd, order[(n + round) % 6]);
		}
	}
	assert_int_equal(los->nqds, N); /* no growth while qds are free */
	for (int i = 0; i < N; i++)
		demi__qd_free(los, &q[i]);
	free(q);
}

/* Growing keeps every registered queue, and the new qds come before older free ones. */
static void test_qd_growth(void **state)
{
	struct demi__libos *los = *state;
	enum { N = 1000 };
	struct demi__queue *q = calloc(N, sizeof(*q));

	assert_non_null(q);
	for (int i = 0; i < 256; i++)
		assert_int_equal(demi__qd_alloc(los, &q[i]), 0);
	assert_int_equal(demi__qd_alloc(los, &q[256]), 0);
	assert_int_equal(q[256].qd, 256);
	assert_int_equal(los->nqds, 512);
	demi__qd_free(los, &q[10]);
	for (int i = 257; i < 512; i++) {
		assert_int_equal(demi__qd_alloc(los, &q[i]), 0);
		assert_int_equal(q[i].qd, i);
	}
	assert_int_equal(demi__qd_alloc(los, &q[10]), 0);
	assert_int_equal(q[10].qd, 10);
	for (int i = 512; i < N; i++) {
		assert_int_equal(demi__qd_alloc(los, &q[i]), 0);
		assert_int_equal(q[i].qd, i);
	}
	assert_int_equal(los->nqds, 1024);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(demi__qd_get(los, i), &q[i]);
	assert_int_equal(los->queues_open, N);
	for (int i = 0; i < N; i++)
		demi__qd_free(los, &q[i]);
	free(q);
}

/* Random alloc/free against a FIFO model of the free qds. */
static void test_qd_random_vs_fifo_model(void **state)
{
	struct demi__libos *los = *state;
	enum { MAXQ = 3000, OPS = 100000 };
	struct demi__queue *q = calloc(MAXQ, sizeof(*q));
	bool *used = calloc(MAXQ, sizeof(*used));
	int *fifo = calloc(1 << 16, sizeof(*fifo)); /* model: free qds, oldest first */
	int *live = calloc(MAXQ, sizeof(*live));
	unsigned head = 0, tail = 0, nlive = 0, table = 0;
	struct unit_rng rng;

	assert_non_null(q);
	assert_non_null(used);
	assert_non_null(fifo);
	assert_non_null(live);
	unit_rng_seed(&rng, 99);
	for (unsigned op = 0; op < OPS; op++) {
		/* Drift up slowly so the table grows a few times. */
		bool alloc = nlive == 0 || (nlive < MAXQ && unit_rng_below(&rng, 1000) < 510);

		if (alloc) {
			int want;

			if (head == tail) { /* the model grows like the table: doubling */
				unsigned n = table ? table * 2 : 256;

				for (unsigned qd = table; qd < n; qd++)
					fifo[tail++ & 0xffff] = (int)qd;
				table = n;
			}
			want = fifo[head++ & 0xffff];
			assert_false(used[want]);
			assert_int_equal(demi__qd_alloc(los, &q[want]), 0);
			assert_int_equal(q[want].qd, want);
			used[want] = true;
			live[nlive++] = want;
		} else {
			unsigned i = (unsigned)unit_rng_below(&rng, nlive);
			int qd = live[i];

			demi__qd_free(los, &q[qd]);
			assert_null(demi__qd_get(los, qd));
			used[qd] = false;
			fifo[tail++ & 0xffff] = qd;
			live[i] = live[--nlive];
		}
		assert_int_equal(los->queues_open, nlive);
		assert_int_equal(los->nqds, (int)table);
	}
	assert_true(table >= 1024);
	for (unsigned i = 0; i < nlive; i++)
		assert_ptr_equal(demi__qd_get(los, live[i]), &q[live[i]]);
	while (nlive)
		demi__qd_free(los, &q[live[--nlive]]);
	free(q);
	free(used);
	free(fifo);
	free(live);
}

/* The table stops at 2^20 qds with EMFILE, and works again once one is freed. */
static void test_qd_limit_emfile(void **state)
{
	struct demi__libos *los = *state;
	enum { LIMIT = 1 << 20 };
	struct demi__queue *q = calloc(LIMIT + 1, sizeof(*q));

	assert_non_null(q);
	for (int i = 0; i < LIMIT; i++) {
		if (demi__qd_alloc(los, &q[i]) != 0)
			fail_msg("qd_alloc failed at %d", i);
	}
	assert_int_equal(demi__qd_alloc(los, &q[LIMIT]), -EMFILE);
	assert_int_equal(los->queues_open, LIMIT);
	assert_int_equal(los->nqds, LIMIT);
	demi__qd_free(los, &q[1234]);
	assert_int_equal(demi__qd_alloc(los, &q[LIMIT]), 0);
	assert_int_equal(q[LIMIT].qd, 1234);
	demi__qd_free(los, &q[LIMIT]);
	for (int i = 0; i < LIMIT; i++)
		demi__qd_free(los, &q[i]);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_qd_alloc_sequential, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qd_get_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qd_free_forgets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qd_reuse_oldest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qd_reuse_in_free_order_with_wrap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_qd_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qd_random_vs_fifo_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qd_limit_emfile, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
