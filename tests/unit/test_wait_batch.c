/* SPDX-License-Identifier: MIT */
/*
 * The batch flag of lib/wait.c (struct demi__libos.defer_end_call), through the public API on a
 * fake libOS: the registry is wrapped (-Wl,--wrap=demi__libos_find) so that demi_init gets a
 * libOS whose pops finish when the test lets them "arrive" on the next scheduler pass, and whose
 * end_call records whether a push or pop was allowed to wait for company (may_wait).
 *
 * A wait that hands out one completion of several found together sets the flag; a lone
 * completion does not, whatever older completions the application never collected (a pop
 * cancelled by a close, a push token not waited for) still sit on the completed list.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "unit.h"

#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#include "api.h"
#include "libos.h"

/* The fake libOS's state: one per test program (one thread). */
static struct {
	struct demi__bg_task bg;
	struct demi__list pops;	  /* pending pops, in issue order */
	struct demi__list pushes; /* pushes parked until the next pass (push_later) */
	bool push_later;
	int arrive; /* pops to finish on the next pass */
	int end_calls;
	bool last_may_wait;
} fake;

static int fake_arrivals(void *arg)
{
	int n = 0;

	(void)arg;
	for (; !demi__list_empty(&fake.pushes); n++)
		demi__task_complete(
			demi__container_of(fake.pushes.next, struct demi__task, wait_link));
	for (; fake.arrive > 0 && !demi__list_empty(&fake.pops); fake.arrive--, n++)
		demi__task_complete(
			demi__container_of(fake.pops.next, struct demi__task, wait_link));
	return n;
}

static int fake_init(struct demi__libos *los)
{
	demi__list_init(&fake.pops);
	demi__list_init(&fake.pushes);
	demi__bg_add(&los->rt, &fake.bg, fake_arrivals, NULL);
	return 0;
}

static void fake_fini(struct demi__libos *los)
{
	(void)los;
	demi__bg_remove(&fake.bg);
}

static int fake_socket(struct demi__libos *los, int domain, int type, int protocol,
		       struct demi__queue **q_out)
{
	(void)los;
	(void)domain;
	(void)protocol;
	if (!(*q_out = calloc(1, sizeof(**q_out))))
		return -ENOMEM;
	(*q_out)->type = type;
	return 0;
}

/* A push is done at once (sent), as catnip's UDP pushes are, or with push_later on the next
 * pass (a TCP push waiting for the window). */
static int fake_push(struct demi__queue *q, struct demi__task *t, struct demi__push_req *req,
		     const struct sockaddr_in *to)
{
	(void)q;
	(void)to;
	demi__push_req_put(req);
	if (fake.push_later)
		demi__list_push_back(&fake.pushes, &t->wait_link);
	else
		demi__task_complete(t);
	return 0;
}

static int fake_pop(struct demi__queue *q, struct demi__task *t)
{
	(void)q;
	demi__list_push_back(&fake.pops, &t->wait_link);
	return 0;
}

/* Cancels the queue's pending pops, as every libOS's close does. */
static int fake_close(struct demi__queue *q)
{
	struct demi__list *n, *next;

	for (n = fake.pops.next; n != &fake.pops; n = next) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);

		next = n->next;
		if (t->queue == q)
			demi__task_fail(t, ECANCELED);
	}
	free(q);
	return 0;
}

static void fake_end_call(struct demi__libos *los, bool may_wait)
{
	(void)los;
	fake.end_calls++;
	fake.last_may_wait = may_wait;
}

static const struct demi__libos_ops fake_ops = {
	.name = "test-wait-batch",
	.init = fake_init,
	.fini = fake_fini,
	.socket = fake_socket,
	.push = fake_push,
	.pop = fake_pop,
	.close = fake_close,
	.end_call = fake_end_call,
};

/* used: with LTO, only the linker's wrapping refers to it. */
const struct demi__libos_ops *__wrap_demi__libos_find(const char *name, bool *known);
__attribute__((used)) const struct demi__libos_ops *__wrap_demi__libos_find(const char *name,
									    bool *known)
{
	(void)name;
	*known = true;
	return &fake_ops;
}

static int setup(void **state)
{
	(void)state;
	memset(&fake, 0, sizeof(fake));
	return demi_init(NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	demi__fini();
	return 0;
}

static int open_queue(void)
{
	int qd = -1;

	assert_int_equal(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0), 0);
	return qd;
}

/* Pushes one byte on qd and returns whether end_call let it wait (may_wait). */
static bool push_may_wait(int qd, demi_qtoken_t *qt)
{
	demi_sgarray_t sga = demi_sgaalloc(1);
	int calls = fake.end_calls;

	assert_int_equal(sga.sga_numsegs, 1);
	assert_int_equal(demi_push(qt, qd, &sga), 0);
	assert_int_equal(demi_sgafree(&sga), 0);
	assert_int_equal(fake.end_calls, calls + 1);
	return fake.last_may_wait;
}

/* A lone pop completion: its answer leaves at once. */
static void test_wait_batch_lone_completion_flushes(void **state)
{
	demi_qtoken_t pop, push;
	demi_qresult_t qr;
	int qd = open_queue();

	(void)state;
	assert_int_equal(demi_pop(&pop, qd), 0);
	fake.arrive = 1;
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
	int qd = open_queue(), off;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(demi_pop(&pops[i], qd), 0);
	fake.arrive = 3;
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
	int qd = open_queue(), qd2;

	(void)state;
	assert_int_equal(demi_pop(&stale_pop, qd), 0);
	assert_int_equal(demi_close(qd), 0); /* stale_pop: ECANCELED, never waited for */
	qd2 = open_queue();
	(void)push_may_wait(qd2, &stale_push); /* done, never waited for */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(demi_pop(&pop, qd2), 0);
		fake.arrive = 1;
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
	int qd = open_queue();

	(void)state;
	fake.push_later = true;
	(void)push_may_wait(qd, &stale_push); /* parked, never waited for here */
	fake.push_later = false;
	assert_int_equal(demi_pop(&pop, qd), 0);
	fake.arrive = 1;
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
	int qd = open_queue(), n = 0;

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(demi_pop(&pops[i], qd), 0);
	fake.arrive = 2;
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
		cmocka_unit_test_setup_teardown(test_wait_batch_lone_completion_flushes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_batch_several_completions_defer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_batch_uncollected_completions_ignored,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_batch_next_n_leftovers_defer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_batch_push_in_round_ignored, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
