/* SPDX-License-Identifier: MIT */
/*
 * The fixture of tests that join two catnip stacks by the in-memory test link: their pool, the
 * virtual clock, the wire, and stacks a and b; taking it down checks that no buffer leaked.
 * Call order: two_stacks_up, the test, two_stacks_down. Include after <cmocka.h>.
 */
#ifndef NIP_TEST_TWO_STACKS_H
#define NIP_TEST_TWO_STACKS_H

#include "dev/test_link.h"
#include "stack.h"

struct two_stacks {
	struct demi__pool pool;
	uint64_t now; /* the virtual clock (ns), advanced by the test */
	struct nip_test_wire wire;
	struct nip_stack a, b; /* on ends 0 and 1 of the wire */
};

/* Brings up a and b with their configurations (addresses included) on a fault-free wire with
 * an IP MTU of 1500. */
static inline void two_stacks_up(struct two_stacks *t, const struct nip_stack_config *cfg_a,
				 const struct nip_stack_config *cfg_b)
{
	demi__pool_init(&t->pool, 0);
	nip_test_wire_init(&t->wire, &t->pool, &t->now, 1500, 42);
	assert_int_equal(nip_stack_init(&t->a, nip_test_link(&t->wire, 0), cfg_a), 0);
	assert_int_equal(nip_stack_init(&t->b, nip_test_link(&t->wire, 1), cfg_b), 0);
}

static inline void two_stacks_down(struct two_stacks *t)
{
	nip_stack_fini(&t->a);
	nip_stack_fini(&t->b);
	nip_test_wire_fini(&t->wire);
	assert_int_equal(t->pool.stats.bufs_in_use, 0); /* nothing leaked */
	demi__pool_fini(&t->pool);
}

#endif
