/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of lib/heap.h, the intrusive binary min-heap under the runtime's timers and
 * catnip's TCP timers: order, removal from any slot, re-keying up and down, growth, and long
 * random operation sequences checked against a plain array model after every step.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "heap.h"

struct item {
	uint64_t k;
	uint32_t slot;
	unsigned id;
};

struct set {
	struct item **heap;
	uint32_t heap_len, heap_cap;
};

DEMI__HEAP_DEFINE(iheap, struct set, struct item, k, slot)

/* Shape: slots are 1-based, each item knows its slot, no child is less than its parent. */
static void check(const struct set *s)
{
	for (uint32_t i = 1; i <= s->heap_len; i++) {
		assert_int_equal(s->heap[i]->slot, i);
		if (i > 1)
			assert_true(s->heap[i / 2]->k <= s->heap[i]->k);
	}
	if (s->heap_len)
		assert_ptr_equal(iheap_min(s), s->heap[1]);
	else
		assert_null(iheap_min(s));
}

/* Inserted in any order, items come out least key first. */
static void test_heap_pops_in_order(void **state)
{
	enum { N = 200 };
	struct set s = {0};
	struct item it[N];
	uint64_t last = 0;

	(void)state;
	assert_null(iheap_min(&s));
	for (unsigned i = 0; i < N; i++) {
		it[i] = (struct item){.k = (i * 7919u) % N, .id = i};
		assert_int_equal(iheap_insert(&s, &it[i]), 0);
		check(&s);
	}
	assert_true(s.heap_cap > N); /* grew past its first allocation */
	for (unsigned i = 0; i < N; i++) {
		struct item *m = iheap_min(&s);

		assert_true(m->k >= last);
		last = m->k;
		iheap_remove(&s, m);
		assert_int_equal(m->slot, 0);
		check(&s);
	}
	assert_int_equal(s.heap_len, 0);
	iheap_fini(&s);
	assert_null(s.heap);
}

/* Removal from the root, the middle and the last slot; a second removal does nothing. */
static void test_heap_remove_anywhere(void **state)
{
	enum { N = 15 };
	struct set s = {0};
	struct item it[N], *root, *mid, *last;

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		it[i] = (struct item){.k = 100 + (i * 7) % N, .id = i};
		assert_int_equal(iheap_insert(&s, &it[i]), 0);
	}
	root = s.heap[1];
	mid = s.heap[6];
	last = s.heap[s.heap_len];
	iheap_remove(&s, mid);
	check(&s);
	iheap_remove(&s, root);
	check(&s);
	iheap_remove(&s, last);
	check(&s);
	iheap_remove(&s, last);
	check(&s);
	assert_int_equal(s.heap_len, N - 3);
	assert_int_equal(root->slot + mid->slot + last->slot, 0);
	iheap_fini(&s);
}

/* A key that changes moves its item up or down, and the item stays in once. */
static void test_heap_update_moves(void **state)
{
	struct set s = {0};
	struct item a = {.k = 10, .id = 1}, b = {.k = 20, .id = 2}, c = {.k = 30, .id = 3};

	(void)state;
	assert_int_equal(iheap_insert(&s, &a), 0);
	assert_int_equal(iheap_insert(&s, &b), 0);
	assert_int_equal(iheap_insert(&s, &c), 0);
	a.k = 40; /* later */
	iheap_update(&s, &a);
	check(&s);
	assert_ptr_equal(iheap_min(&s), &b);
	c.k = 5; /* earlier */
	iheap_update(&s, &c);
	check(&s);
	assert_ptr_equal(iheap_min(&s), &c);
	iheap_update(&s, &c); /* unchanged */
	check(&s);
	assert_int_equal(s.heap_len, 3);
	iheap_fini(&s);
}

/* Random inserts, removals and re-keyings against a model: after every step the shape holds,
 * the count matches and the minimum is the model's. */
static void test_heap_random_against_model(void **state)
{
	enum { N = 300, OPS = 20000 };
	struct set s = {0};
	struct item *it = calloc(N, sizeof(*it));
	bool in[N] = {0};
	unsigned count = 0;

	(void)state;
	assert_non_null(it);
	srand(12345);
	for (unsigned op = 0; op < OPS; op++) {
		unsigned i = (unsigned)rand() % N;
		uint64_t min = UINT64_MAX;

		if (!in[i]) {
			it[i].k = (uint64_t)rand() % 1000;
			assert_int_equal(iheap_insert(&s, &it[i]), 0);
			in[i] = true;
			count++;
		} else if (rand() % 2) {
			iheap_remove(&s, &it[i]);
			in[i] = false;
			count--;
		} else {
			it[i].k = (uint64_t)rand() % 1000;
			iheap_update(&s, &it[i]);
		}
		if (op % 16 == 0)
			check(&s);
		assert_int_equal(s.heap_len, count);
		for (unsigned j = 0; j < N; j++) {
			assert_int_equal(it[j].slot != 0, in[j]);
			if (in[j] && it[j].k < min)
				min = it[j].k;
		}
		if (count)
			assert_int_equal(iheap_min(&s)->k, min);
	}
	iheap_fini(&s);
	free(it);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_pops_in_order),
		cmocka_unit_test(test_heap_remove_anywhere),
		cmocka_unit_test(test_heap_update_moves),
		cmocka_unit_test(test_heap_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
