/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of lib/runtime/task.c: task slots and tokens, wake/complete/fail/take/discard,
 * the completed list, and the scheduler pass (batch semantics, background tasks, timers).
 *
 * The tasks' poll function follows a small script kept in the task's priv area, and every poll
 * is appended to a log, so a test states what each task does and checks the order things ran.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "runtime/runtime.h"

enum action {
	ACT_NOTHING = 0, /* stay pending */
	ACT_COMPLETE,
	ACT_FAIL, /* with EIO */
	ACT_WAKE_SELF,
	ACT_WAKE_OTHER, /* priv.ptr[2] */
	ACT_WAKE_OTHER_AND_SELF,
	ACT_COMPLETE_OTHER,
	ACT_DISCARD_OTHER_AND_REUSE, /* discard priv.ptr[2], create a task in its slot, wake it */
};

#define ACTION(t) ((t)->priv.u64[0])
#define ID(t) ((t)->priv.u64[1])
#define OTHER(t) ((struct demi__task *)(t)->priv.ptr[2])

static unsigned poll_log[4096];
static unsigned poll_log_len;
static struct demi__task *reused; /* what ACT_DISCARD_OTHER_AND_REUSE created */

static void scripted_poll(struct demi__task *t)
{
	assert_int_equal(t->state, DEMI__TASK_PENDING);
	if (poll_log_len < sizeof(poll_log) / sizeof(poll_log[0]))
		poll_log[poll_log_len++] = (unsigned)ID(t);
	switch (ACTION(t)) {
	case ACT_COMPLETE:
		demi__task_complete(t);
		break;
	case ACT_FAIL:
		demi__task_fail(t, EIO);
		break;
	case ACT_WAKE_SELF:
		demi__task_wake(t);
		break;
	case ACT_WAKE_OTHER:
		demi__task_wake(OTHER(t));
		break;
	case ACT_WAKE_OTHER_AND_SELF:
		demi__task_wake(OTHER(t));
		demi__task_wake(t);
		break;
	case ACT_COMPLETE_OTHER:
		demi__task_complete(OTHER(t));
		break;
	case ACT_DISCARD_OTHER_AND_REUSE:
		demi__task_discard(OTHER(t));
		reused = demi__task_create(t->rt, scripted_poll, DEMI_OPC_POP, 9, NULL);
		assert_non_null(reused);
		ID(reused) = 99;
		ACTION(reused) = ACT_NOTHING;
		demi__task_wake(reused);
		break;
	default:
		break;
	}
}

static struct demi__task *make(struct demi__runtime *rt, unsigned id, enum action a)
{
	struct demi__task *t = demi__task_create(rt, scripted_poll, DEMI_OPC_PUSH, (int)id, NULL);

	assert_non_null(t);
	ID(t) = id;
	ACTION(t) = a;
	return t;
}

static void expect_log(const unsigned *ids, unsigned n)
{
	assert_int_equal(poll_log_len, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(poll_log[i], ids[i]);
	poll_log_len = 0;
}

/* Takes every completed task, returning the qr_qd of each in completion order. */
static unsigned take_all(struct demi__runtime *rt, int *qds, unsigned max)
{
	unsigned n = 0;

	while (!demi__list_empty(&rt->completed)) {
		struct demi__task *t =
			demi__container_of(rt->completed.next, struct demi__task, done_link);
		demi_qresult_t qr;

		demi__task_take(t, &qr);
		if (n < max)
			qds[n] = qr.qr_qd;
		n++;
	}
	return n;
}

static int setup(void **state)
{
	struct demi__runtime *rt = malloc(sizeof(*rt));

	if (!rt || demi__runtime_init(rt) < 0)
		return -1;
	poll_log_len = 0;
	reused = NULL;
	*state = rt;
	return 0;
}

/* No task may leak out of a test. */
static int teardown(void **state)
{
	struct demi__runtime *rt = *state;

	assert_int_equal(rt->stats.tasks_in_use, 0);
	assert_true(demi__list_empty(&rt->ready));
	assert_true(demi__list_empty(&rt->completed));
	demi__runtime_fini(rt);
	free(rt);
	return 0;
}

/* ---- creation, tokens, lookup ---- */

static void test_task_create_fields(void **state)
{
	struct demi__runtime *rt = *state;
	int queue;
	struct demi__task *t = demi__task_create(rt, scripted_poll, DEMI_OPC_POP, 7, &queue);
	demi_qtoken_t qt;

	assert_non_null(t);
	qt = demi__task_token(t);
	assert_int_not_equal(qt, 0);
	assert_int_equal(t->state, DEMI__TASK_PENDING);
	assert_false(demi__task_done(t));
	assert_ptr_equal(t->rt, rt);
	assert_ptr_equal(t->queue, &queue);
	assert_int_equal(t->result.qr_opcode, DEMI_OPC_POP);
	assert_int_equal(t->result.qr_qd, 7);
	assert_int_equal(t->result.qr_qt, qt);
	assert_int_equal(t->result.qr_ret, 0);
	assert_ptr_equal(demi__task_lookup(rt, qt), t);
	assert_int_equal(rt->stats.tasks_in_use, 1);
	/* Creating does not wake. */
	assert_false(demi__runtime_has_ready(rt));
	assert_false(demi__list_linked(&t->ready_link));
	assert_false(demi__list_linked(&t->done_link));
	assert_false(demi__list_linked(&t->wait_link));
	assert_int_equal(demi__runtime_pass(rt), 0);
	assert_int_equal(rt->stats.polls, 0);
	demi__task_discard(t);
}

static void test_task_tokens_distinct(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t[10];

	for (unsigned i = 0; i < 10; i++) {
		t[i] = make(rt, i, ACT_NOTHING);
		for (unsigned j = 0; j < i; j++) {
			assert_ptr_not_equal(t[i], t[j]);
			assert_int_not_equal(demi__task_token(t[i]), demi__task_token(t[j]));
		}
	}
	for (unsigned i = 0; i < 10; i++)
		assert_ptr_equal(demi__task_lookup(rt, demi__task_token(t[i])), t[i]);
	for (unsigned i = 0; i < 10; i++)
		demi__task_discard(t[i]);
}

/* Unknown tokens: zero, out of range, wrong generation, random values. Whatever is returned
 * must be the live task whose token is exactly the value. */
static void test_task_lookup_unknown(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t[3];
	struct unit_rng rng;

	assert_null(demi__task_lookup(rt, 0));
	assert_null(demi__task_lookup(rt, 1)); /* no slot exists yet */
	assert_null(demi__task_lookup(rt, UINT64_MAX));
	for (unsigned i = 0; i < 3; i++)
		t[i] = make(rt, i, ACT_NOTHING);
	demi_qtoken_t qt = demi__task_token(t[1]);

	assert_null(demi__task_lookup(rt, 0));
	assert_null(demi__task_lookup(rt, qt ^ (1ull << 32)));
	assert_null(demi__task_lookup(rt, qt & 0xffffffffu));	 /* generation 0 */
	assert_null(demi__task_lookup(rt, qt & ~0xffffffffull)); /* index 0 */
	assert_null(demi__task_lookup(rt, (qt & ~0xffffffffull) | 0xffffffffu));
	assert_null(demi__task_lookup(rt, (qt & ~0xffffffffull) | (256 + 1))); /* past chunk */
	/* A free slot of an existing chunk. */
	assert_null(demi__task_lookup(rt, (qt & ~0xffffffffull) | 200));
	assert_null(demi__task_lookup(rt, (1ull << 32) | 200));
	unit_rng_seed(&rng, 77);
	for (unsigned i = 0; i < 100000; i++) {
		uint64_t v = unit_rng_next(&rng);
		struct demi__task *r;

		if (i & 1) /* a small index, to reach the generation check */
			v = (v & ~0xffffffffull) | (v % 300);
		r = demi__task_lookup(rt, v);
		if (r)
			assert_int_equal(demi__task_token(r), v);
	}
	for (unsigned i = 0; i < 3; i++)
		demi__task_discard(t[i]);
}

/* A slot reused by a new task never answers to the old token. */
static void test_task_token_stale_after_reuse(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t = make(rt, 1, ACT_NOTHING), *t2, *t3;
	demi_qtoken_t qt1 = demi__task_token(t), qt2, qt3;
	demi_qresult_t qr;

	demi__task_complete(t);
	assert_ptr_equal(demi__task_lookup(rt, qt1), t); /* done but not taken: still known */
	demi__task_take(t, &qr);
	assert_null(demi__task_lookup(rt, qt1));
	t2 = make(rt, 2, ACT_NOTHING);
	assert_ptr_equal(t2, t); /* same slot */
	qt2 = demi__task_token(t2);
	assert_int_not_equal(qt1, qt2);
	assert_null(demi__task_lookup(rt, qt1));
	assert_ptr_equal(demi__task_lookup(rt, qt2), t2);
	assert_int_equal(t2->result.qr_qt, qt2);
	/* The same through discard. */
	demi__task_discard(t2);
	assert_null(demi__task_lookup(rt, qt2));
	t3 = make(rt, 3, ACT_NOTHING);
	assert_ptr_equal(t3, t);
	qt3 = demi__task_token(t3);
	assert_null(demi__task_lookup(rt, qt1));
	assert_null(demi__task_lookup(rt, qt2));
	assert_ptr_equal(demi__task_lookup(rt, qt3), t3);
	demi__task_discard(t3);
}

/* ---- finishing ---- */

static void test_task_complete_and_take(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t = make(rt, 5, ACT_NOTHING);
	demi_qtoken_t qt = demi__task_token(t);
	demi_qresult_t qr;

	t->result.qr_value.ares.qd = 42; /* the libOS's result */
	demi__task_complete(t);
	assert_true(demi__task_done(t));
	assert_int_equal(t->state, DEMI__TASK_DONE);
	assert_ptr_equal(rt->completed.next, &t->done_link);
	assert_int_equal(rt->stats.tasks_in_use, 1);
	memset(&qr, 0xff, sizeof(qr));
	demi__task_take(t, &qr);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
	assert_int_equal(qr.qr_qd, 5);
	assert_int_equal(qr.qr_qt, qt);
	assert_int_equal(qr.qr_ret, 0);
	assert_int_equal(qr.qr_value.ares.qd, 42);
	assert_int_equal(rt->stats.tasks_in_use, 0);
	assert_true(demi__list_empty(&rt->completed));
	assert_null(demi__task_lookup(rt, qt));
}

static void test_task_fail_sets_error(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t = make(rt, 6, ACT_NOTHING);
	demi_qresult_t qr;

	memset(&t->result.qr_value, 0x5a, sizeof(t->result.qr_value));
	demi__task_fail(t, ECONNRESET);
	assert_true(demi__task_done(t));
	demi__task_take(t, &qr);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
	assert_int_equal(qr.qr_ret, ECONNRESET);
	assert_int_equal(qr.qr_qd, 6);
	/* No half-filled value reaches the application. */
	for (size_t i = 0; i < sizeof(qr.qr_value); i++)
		assert_int_equal(((uint8_t *)&qr.qr_value)[i], 0);
}

/* Finishing unlinks the task from the ready list and from its libOS list. */
static void test_task_finish_unlinks(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__list waiters;
	struct demi__task *a = make(rt, 1, ACT_NOTHING), *b = make(rt, 2, ACT_NOTHING);
	int qds[2];

	demi__list_init(&waiters);
	demi__list_push_back(&waiters, &a->wait_link);
	demi__list_push_back(&waiters, &b->wait_link);
	demi__task_wake(a);
	demi__task_wake(b);
	demi__task_complete(a);
	demi__task_fail(b, EPIPE);
	assert_true(demi__list_empty(&waiters));
	assert_false(demi__runtime_has_ready(rt));
	assert_int_equal(demi__runtime_pass(rt), 0);
	assert_int_equal(rt->stats.polls, 0);
	assert_int_equal(take_all(rt, qds, 2), 2);
	assert_int_equal(qds[0], 1);
	assert_int_equal(qds[1], 2);
}

static void test_task_discard_anywhere(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__list waiters;
	struct demi__task *woken = make(rt, 1, ACT_NOTHING), *done = make(rt, 2, ACT_NOTHING);
	struct demi__task *waiting = make(rt, 3, ACT_NOTHING), *idle = make(rt, 4, ACT_NOTHING);

	demi__list_init(&waiters);
	demi__task_wake(woken);
	demi__task_complete(done);
	demi__list_push_back(&waiters, &waiting->wait_link);
	demi__task_discard(woken);
	demi__task_discard(done);
	demi__task_discard(waiting);
	demi__task_discard(idle);
	assert_true(demi__list_empty(&waiters));
	assert_false(demi__runtime_has_ready(rt));
	assert_true(demi__list_empty(&rt->completed));
	assert_int_equal(demi__runtime_pass(rt), 0);
	assert_int_equal(poll_log_len, 0);
}

/* The completed list is in completion order, whatever the creation order; taking one from the
 * middle keeps the order of the others. */
static void test_task_completed_in_completion_order(void **state)
{
	struct demi__runtime *rt = *state;
	const unsigned order[] = {3, 1, 4, 0, 2};
	struct demi__task *t[5];
	demi_qresult_t qr;
	int qds[5];

	for (unsigned i = 0; i < 5; i++)
		t[i] = make(rt, i, ACT_NOTHING);
	for (unsigned i = 0; i < 5; i++) {
		if (order[i] == 4)
			demi__task_fail(t[4], EIO);
		else
			demi__task_complete(t[order[i]]);
	}
	demi__task_take(t[1], &qr); /* second in completion order */
	assert_int_equal(qr.qr_qd, 1);
	assert_int_equal(take_all(rt, qds, 5), 4);
	assert_int_equal(qds[0], 3);
	assert_int_equal(qds[1], 4);
	assert_int_equal(qds[2], 0);
	assert_int_equal(qds[3], 2);
}

/* ---- the scheduler pass ---- */

static void test_task_wake_idempotent(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t = make(rt, 1, ACT_NOTHING);
	const unsigned once[] = {1};

	demi__task_wake(t);
	demi__task_wake(t);
	demi__task_wake(t);
	assert_true(demi__runtime_has_ready(rt));
	assert_int_equal(demi__runtime_pass(rt), 1);
	expect_log(once, 1);
	assert_int_equal(rt->stats.polls, 1);
	assert_false(demi__runtime_has_ready(rt));
	/* Not woken again: not polled again. */
	assert_int_equal(demi__runtime_pass(rt), 0);
	expect_log(NULL, 0);
	demi__task_discard(t);
}

static void test_task_wake_done_is_noop(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t = make(rt, 1, ACT_NOTHING);
	demi_qresult_t qr;

	demi__task_complete(t);
	demi__task_wake(t);
	assert_false(demi__runtime_has_ready(rt));
	assert_int_equal(demi__runtime_pass(rt), 0);
	expect_log(NULL, 0);
	demi__task_take(t, &qr);
}

/* A task the libOS finishes from its own events has no poll function: a wake is ignored. */
static void test_task_wake_without_poll_is_noop(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t = demi__task_create(rt, NULL, DEMI_OPC_POP, 1, NULL);
	demi_qresult_t qr;

	assert_non_null(t);
	demi__task_wake(t);
	assert_false(demi__runtime_has_ready(rt));
	assert_int_equal(demi__runtime_pass(rt), 0);
	assert_int_equal(rt->stats.polls, 0);
	demi__task_complete(t);
	demi__task_take(t, &qr);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
}

static void test_task_pass_polls_in_wake_order(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t[3];
	const unsigned want[] = {2, 0, 1};
	int qds[3];

	for (unsigned i = 0; i < 3; i++)
		t[i] = make(rt, i, ACT_COMPLETE);
	demi__task_wake(t[2]);
	demi__task_wake(t[0]);
	demi__task_wake(t[1]);
	assert_int_equal(demi__runtime_pass(rt), 3);
	expect_log(want, 3);
	assert_int_equal(rt->stats.passes, 1);
	assert_int_equal(rt->stats.polls, 3);
	assert_int_equal(take_all(rt, qds, 3), 3);
	assert_int_equal(qds[0], 2);
	assert_int_equal(qds[1], 0);
	assert_int_equal(qds[2], 1);
}

/* A task woken while a pass runs (by itself or another) runs on the next pass, not this one. */
static void test_task_woken_during_pass_runs_next_pass(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *a = make(rt, 1, ACT_WAKE_OTHER_AND_SELF), *b = make(rt, 2, ACT_NOTHING);
	const unsigned pass1[] = {1}, pass2[] = {2, 1};

	a->priv.ptr[2] = b;
	demi__task_wake(a);
	assert_int_equal(demi__runtime_pass(rt), 1);
	expect_log(pass1, 1);
	assert_true(demi__runtime_has_ready(rt));
	ACTION(a) = ACT_NOTHING;
	assert_int_equal(demi__runtime_pass(rt), 2);
	expect_log(pass2, 2);
	assert_false(demi__runtime_has_ready(rt));
	assert_int_equal(demi__runtime_pass(rt), 0);
	demi__task_discard(a);
	demi__task_discard(b);
}

/* A task that wakes itself on every poll runs once per pass: it cannot starve the caller. */
static void test_task_self_waking_task_once_per_pass(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t = make(rt, 1, ACT_WAKE_SELF);

	demi__task_wake(t);
	for (unsigned i = 1; i <= 5; i++) {
		assert_int_equal(demi__runtime_pass(rt), 1);
		assert_int_equal(poll_log_len, i);
	}
	demi__task_discard(t);
	assert_false(demi__runtime_has_ready(rt));
}

/* Woken again before its turn in the same batch: polled once. */
static void test_task_woken_again_in_batch_polled_once(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *a = make(rt, 1, ACT_WAKE_OTHER), *b = make(rt, 2, ACT_NOTHING);
	const unsigned want[] = {1, 2};

	a->priv.ptr[2] = b;
	demi__task_wake(a);
	demi__task_wake(b);
	assert_int_equal(demi__runtime_pass(rt), 2);
	expect_log(want, 2);
	assert_false(demi__runtime_has_ready(rt));
	demi__task_discard(a);
	demi__task_discard(b);
}

/* Finished by another task before its turn: not polled. */
static void test_task_completed_in_batch_not_polled(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *a = make(rt, 1, ACT_COMPLETE_OTHER), *b = make(rt, 2, ACT_NOTHING);
	const unsigned want[] = {1};
	int qds[1];

	a->priv.ptr[2] = b;
	demi__task_wake(a);
	demi__task_wake(b);
	assert_int_equal(demi__runtime_pass(rt), 1);
	expect_log(want, 1);
	assert_int_equal(take_all(rt, qds, 1), 1);
	assert_int_equal(qds[0], 2);
	demi__task_discard(a);
}

/* Discarded by another task before its turn, and its slot reused by a new task woken in the
 * same poll: the old one is not polled, the new one runs on the next pass. */
static void test_task_discarded_in_batch_slot_reused(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *a = make(rt, 1, ACT_DISCARD_OTHER_AND_REUSE);
	struct demi__task *b = make(rt, 2, ACT_NOTHING), *c = make(rt, 3, ACT_NOTHING);
	const unsigned pass1[] = {1, 3}, pass2[] = {99};

	a->priv.ptr[2] = b;
	demi__task_wake(a);
	demi__task_wake(b);
	demi__task_wake(c);
	assert_int_equal(demi__runtime_pass(rt), 2);
	expect_log(pass1, 2);
	assert_ptr_equal(reused, b); /* the slot just freed */
	ACTION(a) = ACT_NOTHING;
	assert_int_equal(demi__runtime_pass(rt), 1);
	expect_log(pass2, 1);
	demi__task_discard(a);
	demi__task_discard(c);
	demi__task_discard(reused);
}

static void test_task_poll_can_complete_and_fail(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *a = make(rt, 1, ACT_COMPLETE), *b = make(rt, 2, ACT_FAIL);
	demi_qresult_t qr;

	demi__task_wake(a);
	demi__task_wake(b);
	assert_int_equal(demi__runtime_pass(rt), 2);
	assert_true(demi__task_done(a));
	assert_true(demi__task_done(b));
	demi__task_take(b, &qr);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
	assert_int_equal(qr.qr_ret, EIO);
	demi__task_take(a, &qr);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
	assert_int_equal(qr.qr_ret, 0);
}

/* ---- background tasks ---- */

struct bg_state {
	struct demi__runtime *rt;
	struct demi__bg_task *self;
	unsigned polls;
	int work;		 /* what poll reports */
	struct demi__task *wake; /* woken from the background poll, if set */
	bool remove_self;
};

static int bg_poll(void *arg)
{
	struct bg_state *s = arg;

	s->polls++;
	if (s->wake)
		demi__task_wake(s->wake);
	if (s->remove_self)
		demi__bg_remove(s->self);
	return s->work;
}

static void test_task_bg_polled_every_pass(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__bg_task bg1, bg2;
	struct bg_state s1 = {.rt = rt, .self = &bg1, .work = 0};
	struct bg_state s2 = {.rt = rt, .self = &bg2, .work = 3};

	demi__bg_add(rt, &bg1, bg_poll, &s1);
	assert_int_equal(demi__runtime_pass(rt), 0); /* an idle background task is no progress */
	assert_int_equal(s1.polls, 1);
	demi__bg_add(rt, &bg2, bg_poll, &s2);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(demi__runtime_pass(rt), 3);
	assert_int_equal(s1.polls, 5);
	assert_int_equal(s2.polls, 4);
	assert_int_equal(rt->stats.polls, 0); /* background polls are not task polls */
	demi__bg_remove(&bg1);
	assert_int_equal(demi__runtime_pass(rt), 3);
	assert_int_equal(s1.polls, 5);
	assert_int_equal(s2.polls, 5);
	demi__bg_remove(&bg2);
	assert_int_equal(demi__runtime_pass(rt), 0);
	assert_int_equal(s2.polls, 5);
	assert_true(demi__list_empty(&rt->bg));
}

/* A background task may remove itself while polled; the others still run. */
static void test_task_bg_removes_itself(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__bg_task bg[3];
	struct bg_state s[3];

	for (unsigned i = 0; i < 3; i++) {
		s[i] = (struct bg_state){.rt = rt, .self = &bg[i], .work = 1};
		demi__bg_add(rt, &bg[i], bg_poll, &s[i]);
	}
	s[1].remove_self = true;
	assert_int_equal(demi__runtime_pass(rt), 3);
	assert_int_equal(demi__runtime_pass(rt), 2);
	assert_int_equal(s[0].polls, 2);
	assert_int_equal(s[1].polls, 1);
	assert_int_equal(s[2].polls, 2);
	demi__bg_remove(&bg[0]);
	demi__bg_remove(&bg[2]);
}

/* Background tasks run first in a pass: a task they wake is polled in the same pass. */
static void test_task_bg_wake_polled_same_pass(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t = make(rt, 1, ACT_COMPLETE);
	struct demi__bg_task bg;
	struct bg_state s = {.rt = rt, .self = &bg, .work = 1, .wake = t};
	const unsigned want[] = {1};
	int qds[1];

	demi__bg_add(rt, &bg, bg_poll, &s);
	assert_int_equal(demi__runtime_pass(rt), 2);
	expect_log(want, 1);
	assert_true(demi__task_done(t));
	demi__bg_remove(&bg);
	assert_int_equal(take_all(rt, qds, 1), 1);
}

/* ---- timers in the pass ---- */

static void timer_wakes(void *arg)
{
	demi__task_wake(arg);
}

static void test_task_timer_fires_in_pass(void **state)
{
	struct demi__runtime *rt = *state;
	struct demi__task *t = make(rt, 1, ACT_COMPLETE);
	struct demi__timer tm;
	const unsigned want[] = {1};
	int qds[1];

	demi__clock_use_fake(rt, 1000);
	demi__timer_init(&tm, timer_wakes, t);
	assert_int_equal(demi__timer_arm(rt, &tm, 1500), 0);
	assert_int_equal(demi__runtime_pass(rt), 0);
	demi__clock_advance(rt, 499);
	assert_int_equal(demi__runtime_pass(rt), 0);
	assert_true(demi__timer_armed(&tm));
	demi__clock_advance(rt, 1);
	/* The timer fires and the task it woke is polled in the same pass. */
	assert_int_equal(demi__runtime_pass(rt), 2);
	expect_log(want, 1);
	assert_false(demi__timer_armed(&tm));
	assert_int_equal(take_all(rt, qds, 1), 1);
}

/* ---- growth ---- */

/* Thousands of live tasks: slots in new chunks, the chunk table reallocated (more than 16
 * chunks), and every task pointer and token stays valid throughout. */
static void test_task_growth_keeps_pointers(void **state)
{
	struct demi__runtime *rt = *state;
	enum { N = 256 * 20 + 17 };
	struct demi__task **t = calloc(N, sizeof(*t));
	demi_qtoken_t *qt = calloc(N, sizeof(*qt));
	int *qds = calloc(N, sizeof(*qds));

	assert_non_null(t);
	assert_non_null(qt);
	assert_non_null(qds);
	for (unsigned i = 0; i < N; i++) {
		t[i] = make(rt, i, ACT_COMPLETE);
		qt[i] = demi__task_token(t[i]);
		t[i]->priv.u64[5] = i; /* the task's memory must survive growth */
		if (i == 255 || i == 256 || i == 257 || i == 4095 || i == 4096 || i % 1000 == 0) {
			for (unsigned j = 0; j <= i; j++) {
				assert_ptr_equal(demi__task_lookup(rt, qt[j]), t[j]);
				assert_int_equal(t[j]->priv.u64[5], j);
			}
		}
	}
	assert_int_equal(rt->stats.tasks_in_use, N);
	assert_true(rt->nchunks > 16);
	for (unsigned i = 0; i < N; i++) {
		assert_ptr_equal(demi__task_lookup(rt, qt[i]), t[i]);
		assert_int_equal(t[i]->priv.u64[5], i);
		assert_int_equal(t[i]->result.qr_qt, qt[i]);
		demi__task_wake(t[i]);
	}
	assert_int_equal(demi__runtime_pass(rt), N);
	assert_int_equal(take_all(rt, qds, N), N);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(qds[i], (int)i);
		assert_null(demi__task_lookup(rt, qt[i]));
	}
	free(t);
	free(qt);
	free(qds);
}

/* A steady state allocates no chunk. */
static void test_task_steady_state_no_growth(void **state)
{
	struct demi__runtime *rt = *state;
	demi_qresult_t qr;

	for (unsigned i = 0; i < 10000; i++) {
		struct demi__task *a = make(rt, i, ACT_NOTHING), *b = make(rt, i, ACT_NOTHING);

		demi__task_complete(a);
		demi__task_take(a, &qr);
		demi__task_discard(b);
	}
	assert_int_equal(rt->nchunks, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_task_create_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_tokens_distinct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_lookup_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_token_stale_after_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_complete_and_take, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_fail_sets_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_finish_unlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_discard_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_completed_in_completion_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_wake_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_wake_done_is_noop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_wake_without_poll_is_noop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_pass_polls_in_wake_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_woken_during_pass_runs_next_pass, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_self_waking_task_once_per_pass, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_woken_again_in_batch_polled_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_completed_in_batch_not_polled, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_discarded_in_batch_slot_reused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_poll_can_complete_and_fail, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_bg_polled_every_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_bg_removes_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_bg_wake_polled_same_pass, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_task_timer_fires_in_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_growth_keeps_pointers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_steady_state_no_growth, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
