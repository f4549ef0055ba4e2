/* SPDX-License-Identifier: MIT */
/*
 * The batch flag of lib/wait.c (struct demi__libos.defer_end_call), through the public API on
 * the fake libOS of wait_fake.h, whose pops finish when the test lets them "arrive" on the next
 * scheduler pass, and whose end_call records whether a push or pop was allowed to wait for
 * company (may_wait). The teardown checks that no buffer, token or queue leaked.
 *
 * A wait that hands out one completion of several found together sets the flag; a lone
 * completion does not, whatever older completions the application never collected (a pop
 * cancelled by a close, a push token not waited for) still sit on the completed list.
 */
#include <errno.h>
#include <stdbool.h>

#include "unit.h"

#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#include "wait_fake.h"

/* Pushes one byte on qd and returns whether end_call let it wait (may_wait). */
static bool push_may_wait(int qd, demi_qtoken_t *qt)
{
	demi_sgarray_t sga = demi_sgaalloc(1);
	int calls = wait_fake.end_calls;

	assert_int_equal(sga.sga_numsegs, 1);
	assert_int_equal(demi_push(qt, qd, &sga), 0);
	assert_int_equal(demi_sgafree(&sga), 0);
	assert_int_equal(wait_fake.end_calls, calls + 1);
	return wait_fake.last_may_wait;
}

/* A lone pop completion: its answer leaves at once. */
static void test_wait_batch_lone_completion_flushes(void **state)
{
	demi_qtoken_t pop, push;
	demi_qresult_t qr;
	int qd = wait_fake_open_queue();

	(void)state;
	assert_int_equal(demi_pop(&pop, qd), 0);
	wait_fake.arrive = 1;
	assert_int_equal(demi_wait(&qr, pop, NULL), 0);
	assert_false(push_may_wait(qd, &push));
	assert_int_equal(demi_wait(&qr, push, NULL), 0);
	assert_int_equal(demi_close(qd), 0);
}

/* Three pops found by one wait: the answers to the first two may wait for company; the third
 * (the batch's last) leaves at once. */
static void test_wait_batch_several_completions_defer(void **state)
{
	demi_qtoken_t pops[3], push[3];
	demi_qresult_t qr;
	int qd = wait_fake_open_queue(), off;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(demi_pop(&pops[i], qd), 0);
	wait_fake.arrive = 3;
	assert_int_equal(demi_wait(&qr, pops[0], NULL), 0);
	assert_true(push_may_wait(qd, &push[0]));
	assert_int_equal(demi_wait_any(&qr, &off, &pops[1], 1, NULL), 0);
	assert_true(push_may_wait(qd, &push[1]));
	assert_int_equal(demi_wait(&qr, pops[2], NULL), 0);
	/* push[0] and push[1], done at once, still wait to be collected: they were not found by
	 * a wait, and the round the three pops made is over. */
	assert_false(push_may_wait(qd, &push[2]));
	for (int i = 0; i < 3; i++)
		assert_int_equal(demi_wait(&qr, push[i], NULL), 0);
	assert_int_equal(demi_close(qd), 0);
}

/* Completions the application never collects (a pop cancelled by a close, push tokens it
 * did not wait for) stay on the completed list; a later lone completion must still send its
 * answer at once, not hold it until the application's next wait (the review finding of
 * docs/status.md, "Transmit batching contract"). */
static void test_wait_batch_uncollected_completions_ignored(void **state)
{
	demi_qtoken_t stale_pop, stale_push, pop, push;
	demi_qresult_t qr;
	int qd = wait_fake_open_queue(), qd2;

	(void)state;
	assert_int_equal(demi_pop(&stale_pop, qd), 0);
	assert_int_equal(demi_close(qd), 0); /* stale_pop: ECANCELED, never waited for */
	qd2 = wait_fake_open_queue();
	(void)push_may_wait(qd2, &stale_push); /* done, never waited for */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(demi_pop(&pop, qd2), 0);
		wait_fake.arrive = 1;
		assert_int_equal(demi_wait(&qr, pop, NULL), 0);
		assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
		assert_false(push_may_wait(qd2, &push));
		assert_int_equal(demi_wait(&qr, push, NULL), 0);
	}
	/* Collected at last: they were there all along. */
	assert_int_equal(demi_wait(&qr, stale_pop, NULL), 0);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
	assert_int_equal(qr.qr_ret, ECANCELED);
	assert_int_equal(demi_wait(&qr, stale_push, NULL), 0);
	assert_int_equal(demi_close(qd2), 0);
}

/* A push the application does not wait for, finishing in the same pass as a lone pop (a TCP
 * push that waited for the window, completed by the ACK riding on the next request): only a
 * pop or an accept asks for an answer, so the pop's answer still leaves at once. */
static void test_wait_batch_push_in_round_ignored(void **state)
{
	demi_qtoken_t stale_push, pop, push;
	demi_qresult_t qr;
	int qd = wait_fake_open_queue();

	(void)state;
	wait_fake.push_later = true;
	(void)push_may_wait(qd, &stale_push); /* parked, never waited for here */
	wait_fake.push_later = false;
	assert_int_equal(demi_pop(&pop, qd), 0);
	wait_fake.arrive = 1;
	assert_int_equal(demi_wait(&qr, pop, NULL), 0); /* the push finishes in this round */
	assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
	assert_false(push_may_wait(qd, &push));
	assert_int_equal(demi_wait(&qr, push, NULL), 0);
	assert_int_equal(demi_wait(&qr, stale_push, NULL), 0);
	assert_int_equal(demi_close(qd), 0);
}

/* demi_wait_next_n handing out fewer than it found leaves the rest for the next wait: the
 * batch goes on. */
static void test_wait_batch_next_n_leftovers_defer(void **state)
{
	demi_qtoken_t pops[2], push;
	demi_qresult_t qr;
	int qd = wait_fake_open_queue(), n = 0;

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(demi_pop(&pops[i], qd), 0);
	wait_fake.arrive = 2;
	assert_int_equal(demi_wait_next_n(&qr, 1, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_true(push_may_wait(qd, &push));
	assert_int_equal(demi_wait(&qr, pops[1], NULL), 0);
	assert_int_equal(demi_wait(&qr, push, NULL), 0);
	assert_int_equal(demi_close(qd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		WAIT_FAKE_TEST(test_wait_batch_lone_completion_flushes),
		WAIT_FAKE_TEST(test_wait_batch_several_completions_defer),
		WAIT_FAKE_TEST(test_wait_batch_uncollected_completions_ignored),
		WAIT_FAKE_TEST(test_wait_batch_next_n_leftovers_defer),
		WAIT_FAKE_TEST(test_wait_batch_push_in_round_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
