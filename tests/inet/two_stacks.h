/* SPDX-License-Identifier: MIT */
/*
 * The fixture of tests that join two catnip stacks by the in-memory test link: their pool, the
 * virtual clock, the wire, and stacks a and b; taking it down checks that no buffer leaked.
 * Call order: two_stacks_up, the test (two_stacks_run), two_stacks_down (or, after closing TCP
 * connections, two_stacks_tcp_down). Include after <cmocka.h>.
 */
#ifndef NIP_TEST_TWO_STACKS_H
#define NIP_TEST_TWO_STACKS_H

#include <string.h>

#include "dev/test_link.h"
#include "stack.h"
#include "wire/arp.h"
#include "wire/eth.h"

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

/* Hands stack s an ARP reply from ip (network order) at mac, sent to s's address to_ip, as if
 * it came off the wire: s learns that ip moved to mac. */
static inline void two_stacks_arp_reply(struct two_stacks *t, struct nip_stack *s, uint32_t ip,
					const uint8_t mac[6], uint32_t to_ip)
{
	struct nip_arp a = {.op = NIP_ARP_REPLY, .spa = ip, .tpa = to_ip};
	struct demi__buf *f = demi__pool_get(&t->pool, NIP_ETH_HLEN + NIP_ARP_LEN);

	assert_non_null(f);
	memcpy(a.sha, mac, 6);
	memcpy(a.tha, s->link->mac, 6);
	nip_eth_emit(demi__buf_data(f), s->link->mac, mac, NIP_ETHERTYPE_ARP);
	nip_arp_emit(demi__buf_data(f) + NIP_ETH_HLEN, &a);
	nip_stack_input(s, f);
}

/* Advances the clock by step and polls a, then b. */
static inline void two_stacks_run(struct two_stacks *t, uint64_t step)
{
	t->now += step;
	nip_stack_poll(&t->a, t->now);
	nip_stack_poll(&t->b, t->now);
}

/* After the test closed its TCP connections: runs past every FIN exchange and TIME-WAIT,
 * checks that no connection is left, and takes the stacks down (no buffer leaked). */
static inline void two_stacks_tcp_down(struct two_stacks *t)
{
	for (int i = 0; i < 200; i++)
		two_stacks_run(t, 1000000000ull);
	assert_int_equal(t->a.tcp.nconns, 0);
	assert_int_equal(t->b.tcp.nconns, 0);
	two_stacks_down(t);
}

#endif
