/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the examples' token set (examples/demi-common.c): an open-addressing table
 * with backward-shift deletion. Random adds and takes against a plain array, with tokens
 * numbered as a libOS numbers them (consecutive, so they cluster), across growth; a churn of
 * one add and one take (what a server does per pop) must leave the table's size alone.
 */
#include <stdlib.h>

#include "unit.h"

#include "demi-common.h"

#define MAXLIVE 3000

struct ref {
	demi_qtoken_t qt[MAXLIVE];
	int n;
};

static void count_one(void *arg, struct ex_tok *tok)
{
	(void)tok;
	(*(int *)arg)++;
}

static void check_all(struct ex_tokset *set, struct ref *r)
{
	int seen = 0;

	assert_int_equal(set->n, r->n);
	ex_tokset_foreach(set, count_one, &seen);
	assert_int_equal(seen, r->n);
}

static void test_tokset_random_against_reference(void **state)
{
	struct ex_tokset set = {0};
	struct ref *r = calloc(1, sizeof(*r));
	demi_qtoken_t next = 1;
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	(void)state;
	assert_non_null(r);
	for (int op = 0; op < 200000; op++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		/* Grow to MAXLIVE, then shrink, then hover: every load factor is visited. */
		int phase = op / 20000;
		bool add = r->n == 0 || (r->n < MAXLIVE && (rng % 100) < (phase % 3 == 0   ? 70
									  : phase % 3 == 1 ? 30
											   : 50));
		struct ex_tok tok;

		if (add) {
			r->qt[r->n] = next;
			assert_int_equal(ex_tokset_add(&set, next, (void *)(uintptr_t)next, 7), 0);
			r->n++;
			next++;
		} else {
			int i = (int)((rng >> 20) % (uint64_t)r->n);
			demi_qtoken_t qt = r->qt[i];

			assert_true(ex_tokset_take(&set, qt, &tok));
			assert_ptr_equal(tok.owner, (void *)(uintptr_t)qt);
			assert_int_equal(tok.kind, 7);
			assert_false(ex_tokset_take(&set, qt, &tok)); /* gone */
			r->qt[i] = r->qt[--r->n];
		}
		if (op % 997 == 0) {
			check_all(&set, r);
			/* Every live token is still found (taken and put back). */
			for (int i = 0; i < r->n; i++) {
				assert_true(ex_tokset_take(&set, r->qt[i], &tok));
				assert_int_equal(ex_tokset_add(&set, r->qt[i], tok.owner, tok.kind),
						 0);
			}
			assert_false(ex_tokset_take(&set, next + 1000, &tok)); /* never added */
		}
	}
	check_all(&set, r);
	ex_tokset_fini(&set);
	free(r);
}

/* One token outstanding, a million times replaced: no growth, nothing lost. */
static void test_tokset_churn_keeps_table(void **state)
{
	struct ex_tokset set = {0};
	struct ex_tok tok;
	int cap;

	(void)state;
	assert_int_equal(ex_tokset_add(&set, 1, NULL, 1), 0);
	cap = set.cap;
	for (demi_qtoken_t qt = 2; qt < 1000000; qt++) {
		assert_int_equal(ex_tokset_add(&set, qt, NULL, 1), 0);
		assert_true(ex_tokset_take(&set, qt - 1, &tok));
	}
	assert_int_equal(set.cap, cap);
	assert_int_equal(set.n, 1);
	assert_true(ex_tokset_take(&set, 999999, &tok));
	ex_tokset_fini(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokset_random_against_reference),
		cmocka_unit_test(test_tokset_churn_keeps_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
