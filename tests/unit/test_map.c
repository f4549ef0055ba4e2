/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of lib/map.c: random puts, replacements, gets and deletes against a plain array,
 * with clustered keys (consecutive, as chunk numbers and qp_nums are) and spread ones, across
 * growth; deleting everything leaves an empty map that still works.
 */
#include <stdlib.h>

#include "unit.h"

#include "map.h"

#define KEYS 5000

static void test_map_random_against_reference(void **state)
{
	struct demi__map m = {0};
	void **ref = calloc(KEYS + 1, sizeof(*ref));
	size_t live = 0;
	uint64_t rng = 88172645463325252ull;

	(void)state;
	assert_non_null(ref);
	assert_null(demi__map_get(&m, 7)); /* empty, never grown */
	demi__map_del(&m, 7);
	for (int op = 0; op < 300000; op++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		/* Consecutive keys 1..KEYS: the clustering case (spread keys: the next test). */
		uintptr_t key = 1 + (uintptr_t)(rng % KEYS);
		size_t slot = (size_t)key;
		void *val = (void *)(uintptr_t)(rng | 1);

		if (rng % 3 == 0) {
			demi__map_del(&m, key);
			if (ref[slot])
				live--;
			ref[slot] = NULL;
		} else {
			assert_int_equal(demi__map_put(&m, key, val), 0);
			if (!ref[slot])
				live++;
			ref[slot] = val;
		}
		assert_int_equal(m.used, live);
		if (op % 1999 == 0)
			for (size_t i = 1; i <= KEYS; i++)
				assert_ptr_equal(demi__map_get(&m, (uintptr_t)i), ref[i]);
	}
	for (size_t i = 1; i <= KEYS; i++)
		demi__map_del(&m, (uintptr_t)i);
	assert_int_equal(m.used, 0);
	assert_int_equal(demi__map_put(&m, 42, ref), 0);
	assert_ptr_equal(demi__map_get(&m, 42), ref);
	demi__map_fini(&m);
	free(ref);
}

/* Keys far apart (multiples of a large odd number) go through the same paths. */
static void test_map_spread_keys(void **state)
{
	struct demi__map m = {0};
	const uintptr_t step = 1048583u;

	(void)state;
	for (uintptr_t i = 1; i <= 3000; i++)
		assert_int_equal(demi__map_put(&m, i * step, (void *)i), 0);
	for (uintptr_t i = 1; i <= 3000; i += 2)
		demi__map_del(&m, i * step);
	for (uintptr_t i = 1; i <= 3000; i++)
		assert_ptr_equal(demi__map_get(&m, i * step), (i & 1) ? NULL : (void *)i);
	assert_int_equal(m.used, 1500);
	demi__map_fini(&m);
	assert_int_equal(m.cap, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_random_against_reference),
		cmocka_unit_test(test_map_spread_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
