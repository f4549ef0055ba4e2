/* SPDX-License-Identifier: MIT */
/*
 * catmint's credit accounting (catmint/credit.c), alone and as two simulated peers exchanging
 * messages through finite receive queues: the simulation checks that no SEND ever finds the
 * peer without a posted receive (what would be an RNR), that every message gets through with
 * a receiver that pops late, and that the two sides never deadlock.
 */
#include <errno.h>
#include <string.h>

#include "credit.h"
#include "frame.h"
#include "unit.h"

static void test_credit_init(void **state)
{
	struct mint_credit c;

	(void)state;
	mint_credit_init(&c, 16, 64);
	assert_int_equal(c.tx, 16);
	assert_int_equal(c.tx_max, 16);
	assert_int_equal(c.owed, 0);
	assert_int_equal(c.threshold, 32);
	mint_credit_init(&c, 4, 4);
	assert_int_equal(c.threshold, 2);
}

static void test_credit_last_one_kept_for_updates(void **state)
{
	struct mint_credit c;

	(void)state;
	mint_credit_init(&c, 3, 4);
	assert_true(mint_credit_data_ok(&c));
	mint_credit_send(&c);
	mint_credit_send(&c);
	/* One left: data may not use it, a credit message may. */
	assert_false(mint_credit_data_ok(&c));
	assert_false(mint_credit_update_due(&c, 4));
	mint_credit_owe(&c, 2);
	assert_true(mint_credit_update_due(&c, 4));
	assert_int_equal(mint_credit_send(&c), 2);
	assert_int_equal(c.tx, 0);
	assert_int_equal(c.owed, 0);
	assert_false(mint_credit_update_due(&c, 4));
}

static void test_credit_update_when_peer_may_be_blocked(void **state)
{
	struct mint_credit c;

	(void)state;
	mint_credit_init(&c, 8, 8); /* threshold 4 */
	mint_credit_owe(&c, 1);
	/* 8 receives posted, 1 not announced: the peer knows of 7, it is not blocked. */
	assert_false(mint_credit_update_due(&c, 8));
	/* 2 posted (the others hold unpopped messages), 1 not announced: the peer knows of one
	 * at most and cannot send data: tell it now, below the threshold. */
	assert_true(mint_credit_update_due(&c, 2));
	/* Nothing owed: nothing to say, however blocked the peer is. */
	assert_int_equal(mint_credit_send(&c), 1);
	assert_false(mint_credit_update_due(&c, 1));
	/* Owed only for credit messages: never the "blocked" shortcut, only the threshold. */
	mint_credit_owe_ctl(&c);
	assert_false(mint_credit_update_due(&c, 2));
	mint_credit_owe_ctl(&c);
	mint_credit_owe_ctl(&c);
	assert_false(mint_credit_update_due(&c, 8));
	mint_credit_owe_ctl(&c);
	assert_true(mint_credit_update_due(&c, 8));
	/* Data credits owed too: the shortcut again. */
	mint_credit_init(&c, 8, 8);
	mint_credit_owe_ctl(&c);
	mint_credit_owe(&c, 1);
	assert_true(mint_credit_update_due(&c, 3));
	assert_int_equal(mint_credit_send(&c), 2);
	assert_int_equal(c.owed_ctl, 0);
}

static void test_credit_piggyback_and_grant(void **state)
{
	struct mint_credit c;

	(void)state;
	mint_credit_init(&c, 8, 8);
	mint_credit_owe(&c, 3);
	assert_int_equal(mint_credit_send(&c), 3); /* all owed credits ride along */
	assert_int_equal(mint_credit_send(&c), 0);
	assert_int_equal(c.tx, 6);
	assert_int_equal(mint_credit_grant(&c, 2), 0);
	assert_int_equal(c.tx, 8);
	/* More than the peer's receive depth: a broken peer. */
	assert_int_equal(mint_credit_grant(&c, 1), -EPROTO);
	assert_int_equal(c.tx, 8);
}

static void test_credit_owed_capped_by_immediate(void **state)
{
	struct mint_credit c;

	(void)state;
	mint_credit_init(&c, 4, 4);
	mint_credit_owe(&c, MINT_CREDITS_MAX + 5);
	assert_int_equal(mint_credit_send(&c), MINT_CREDITS_MAX);
	assert_int_equal(c.owed, 5);
}

/* ---- two peers ---- */

#define SIM_DEPTH_MAX 64
#define SIM_INFLIGHT 256

struct sim_msg {
	bool data;
	uint32_t credits;
};

struct sim_side {
	struct mint_credit cr;
	uint32_t depth;	   /* receives this side keeps posted */
	uint32_t posted;   /* receives posted now */
	uint32_t unpopped; /* data messages received, not popped */
	uint64_t to_send;  /* data messages the application still wants to send */
	uint64_t received;
	uint64_t credit_msgs; /* credit-only messages received */
	/* messages on the wire towards the other side, in order */
	struct sim_msg wire[SIM_INFLIGHT];
	uint32_t wire_head, wire_len;
};

static void sim_send(struct sim_side *s, bool data)
{
	struct sim_msg *m = &s->wire[(s->wire_head + s->wire_len++) % SIM_INFLIGHT];

	assert_true(s->wire_len <= SIM_INFLIGHT);
	m->data = data;
	m->credits = mint_credit_send(&s->cr);
}

/* What catmint does: data while credits allow, else a credit message when due. */
static bool sim_tx(struct sim_side *s)
{
	if (s->to_send && mint_credit_data_ok(&s->cr)) {
		sim_send(s, true);
		s->to_send--;
		return true;
	}
	if (mint_credit_update_due(&s->cr, s->posted) &&
	    !(s->to_send && mint_credit_data_ok(&s->cr))) {
		sim_send(s, false);
		return true;
	}
	return false;
}

/* Delivers one message from `from` to `to`; fails on a SEND without a posted receive. */
static bool sim_deliver(struct sim_side *from, struct sim_side *to)
{
	struct sim_msg m;

	if (!from->wire_len)
		return false;
	m = from->wire[from->wire_head];
	from->wire_head = (from->wire_head + 1) % SIM_INFLIGHT;
	from->wire_len--;
	assert_true(to->posted > 0); /* an RNR on real hardware */
	to->posted--;
	assert_int_equal(mint_credit_grant(&to->cr, m.credits), 0);
	if (m.data) {
		to->unpopped++;
		to->received++;
	} else {
		to->posted++; /* a credit message's buffer is reposted at once */
		mint_credit_owe_ctl(&to->cr);
		to->credit_msgs++;
	}
	return true;
}

/* The application pops one message: its receive is reposted and its credit owed. */
static bool sim_pop(struct sim_side *s)
{
	if (!s->unpopped)
		return false;
	s->unpopped--;
	s->posted++;
	mint_credit_owe(&s->cr, 1);
	return true;
}

static void sim_init(struct sim_side *s, uint32_t depth, uint32_t peer_depth, uint64_t msgs)
{
	memset(s, 0, sizeof(*s));
	s->depth = s->posted = depth;
	s->to_send = msgs;
	mint_credit_init(&s->cr, peer_depth, depth);
}

/* Runs random schedules; pop_every: the receiver pops only every pop_every-th step (slow). */
static void sim_run(uint32_t da, uint32_t db, uint64_t ma, uint64_t mb, unsigned pop_every,
		    uint64_t seed)
{
	struct sim_side a, b;
	struct unit_rng r;
	uint64_t idle = 0;

	sim_init(&a, da, db, ma);
	sim_init(&b, db, da, mb);
	unit_rng_seed(&r, seed);
	for (uint64_t step = 0; a.received < mb || b.received < ma; step++) {
		bool progress = false;

		switch (unit_rng_below(&r, 6)) {
		case 0:
			progress = sim_tx(&a);
			break;
		case 1:
			progress = sim_tx(&b);
			break;
		case 2:
			progress = sim_deliver(&a, &b);
			break;
		case 3:
			progress = sim_deliver(&b, &a);
			break;
		case 4:
			progress = step % pop_every == 0 && sim_pop(&a);
			break;
		default:
			progress = step % pop_every == 0 && sim_pop(&b);
			break;
		}
		/* A slow receiver never holds more than its receive depth. */
		assert_true(a.unpopped <= a.depth && b.unpopped <= b.depth);
		idle = progress ? 0 : idle + 1;
		/* With every action tried many times and none possible: a deadlock. */
		assert_true(idle < 100000);
	}
	assert_int_equal(a.received, mb);
	assert_int_equal(b.received, ma);
}

static void test_credit_sim_one_way(void **state)
{
	(void)state;
	sim_run(8, 8, 10000, 0, 1, 1);
	sim_run(4, 4, 5000, 0, 1, 2);
	sim_run(64, 4, 5000, 0, 3, 3);
}

static void test_credit_sim_both_ways(void **state)
{
	(void)state;
	sim_run(8, 8, 10000, 10000, 1, 4);
	sim_run(4, 5, 5000, 7000, 2, 5);
	sim_run(SIM_DEPTH_MAX, 4, 3000, 3000, 5, 6);
}

static void test_credit_sim_slow_receiver(void **state)
{
	(void)state;
	/* The receiver pops once every 50 steps: the sender must wait, never overrun it. */
	sim_run(4, 4, 2000, 0, 50, 7);
	sim_run(16, 16, 2000, 2000, 50, 8);
}

/* A receiver that never pops: exactly depth - 1 messages get through (the last credit is kept
 * for credit messages), then the sender waits; nothing is ever overrun. */
static void test_credit_sim_receiver_never_pops(void **state)
{
	(void)state;
	for (uint32_t depth = MINT_DEPTH_MIN; depth <= 16; depth++) {
		struct sim_side a, b;
		struct unit_rng r;

		sim_init(&a, 8, depth, 1000);
		sim_init(&b, depth, 8, 0);
		unit_rng_seed(&r, depth);
		for (int step = 0; step < 20000; step++) {
			switch (unit_rng_below(&r, 4)) {
			case 0:
				sim_tx(&a);
				break;
			case 1:
				sim_tx(&b);
				break;
			case 2:
				sim_deliver(&a, &b);
				break;
			default:
				sim_deliver(&b, &a);
				break;
			}
		}
		assert_int_equal(b.received, depth - 1);
		assert_int_equal(b.unpopped, depth - 1);
	}
}

/* Runs random sends and deliveries (no pops) between a and b for n steps. */
static void sim_steps(struct sim_side *a, struct sim_side *b, struct unit_rng *r, int n)
{
	for (int step = 0; step < n; step++) {
		switch (unit_rng_below(r, 4)) {
		case 0:
			sim_tx(a);
			break;
		case 1:
			sim_tx(b);
			break;
		case 2:
			sim_deliver(a, b);
			break;
		default:
			sim_deliver(b, a);
			break;
		}
	}
}

/* Two peers that both hold unpopped messages (few receives posted) and have nothing left to
 * send must fall silent once one message is popped on each side, not trade credit messages
 * forever (which returning a credit message's own credit at once would do). */
static void test_credit_sim_no_credit_ping_pong(void **state)
{
	(void)state;
	for (uint32_t depth = MINT_DEPTH_MIN; depth <= 12; depth++) {
		struct sim_side a, b;
		struct unit_rng r;
		uint64_t before;

		sim_init(&a, depth, depth, 1000);
		sim_init(&b, depth, depth, 1000);
		unit_rng_seed(&r, 40 + depth);
		sim_steps(&a, &b, &r, 20000);
		assert_int_equal(a.unpopped, depth - 1);
		assert_int_equal(b.unpopped, depth - 1);
		/* Nothing more to send: only credit messages could still move. */
		a.to_send = b.to_send = 0;
		for (int round = 0; round < 3; round++) {
			before = a.credit_msgs + b.credit_msgs;
			sim_pop(&a);
			sim_pop(&b);
			sim_steps(&a, &b, &r, 20000);
			/* A few credit messages, then everything is quiet again. */
			assert_true(a.credit_msgs + b.credit_msgs - before <= 8);
			assert_false(sim_tx(&a) || sim_tx(&b));
			assert_true(a.wire_len == 0 && b.wire_len == 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_credit_init),
		cmocka_unit_test(test_credit_last_one_kept_for_updates),
		cmocka_unit_test(test_credit_update_when_peer_may_be_blocked),
		cmocka_unit_test(test_credit_piggyback_and_grant),
		cmocka_unit_test(test_credit_owed_capped_by_immediate),
		cmocka_unit_test(test_credit_sim_one_way),
		cmocka_unit_test(test_credit_sim_both_ways),
		cmocka_unit_test(test_credit_sim_slow_receiver),
		cmocka_unit_test(test_credit_sim_receiver_never_pops),
		cmocka_unit_test(test_credit_sim_no_credit_ping_pong),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
