/* SPDX-License-Identifier: MIT */
/* Tasks, tokens and the scheduler pass. See runtime.h for the model. */
#include "runtime.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TASKS_PER_CHUNK 256u

int demi__runtime_init(struct demi__runtime *rt)
{
	memset(rt, 0, sizeof(*rt));
	demi__list_init(&rt->ready);
	demi__list_init(&rt->completed);
	demi__list_init(&rt->bg);
	return 0;
}

void demi__runtime_fini(struct demi__runtime *rt)
{
	for (uint32_t i = 0; i < rt->nchunks; i++)
		free(rt->chunks[i]);
	free(rt->chunks);
	free(rt->heap);
	memset(rt, 0, sizeof(*rt));
}

/* Out of line and cold: inlined, its calls made every task creation save and restore six
 * registers (14 of its 43 instructions). */
static __attribute__((noinline, cold)) int grow(struct demi__runtime *rt)
{
	struct demi__task *chunk;

	/* Token indexes are 32-bit: stop well before they would wrap. */
	if ((uint64_t)(rt->nchunks + 1) * TASKS_PER_CHUNK >= UINT32_MAX)
		return -ENOMEM;
	if (rt->nchunks == rt->chunks_cap) {
		uint32_t cap = rt->chunks_cap ? rt->chunks_cap * 2 : 16;
		struct demi__task **c = realloc(rt->chunks, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		rt->chunks = c;
		rt->chunks_cap = cap;
	}
	chunk = calloc(TASKS_PER_CHUNK, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	for (uint32_t i = TASKS_PER_CHUNK; i-- > 0;) {
		chunk[i].index = rt->nchunks * TASKS_PER_CHUNK + i;
		chunk[i].rt = rt;
		/* A free task's links stay unlinked (take and discard leave them so): create skips
		 * them. */
		demi__list_init(&chunk[i].ready_link);
		demi__list_init(&chunk[i].done_link);
		demi__list_init(&chunk[i].wait_link);
		chunk[i].next_free = rt->free;
		rt->free = &chunk[i];
	}
	rt->chunks[rt->nchunks++] = chunk;
	return 0;
}

struct demi__task *demi__task_create(struct demi__runtime *rt, demi__task_poll_fn poll,
				     demi_opcode_t opcode, int qd, void *queue)
{
	struct demi__task *t;

	if (__builtin_expect(!rt->free, 0) && grow(rt) < 0)
		return NULL;
	t = rt->free;
	rt->free = t->next_free;
	t->poll = poll;
	t->queue = queue;
	t->state = DEMI__TASK_PENDING;
	t->gen++;
	memset(&t->result, 0, sizeof(t->result));
	t->result.qr_opcode = opcode;
	t->result.qr_qd = qd;
	t->result.qr_qt = demi__task_token(t);
	rt->stats.tasks_in_use++;
	return t;
}

struct demi__task *demi__task_lookup(struct demi__runtime *rt, demi_qtoken_t qt)
{
	uint64_t idx1 = qt & 0xffffffffu;
	uint32_t gen = (uint32_t)(qt >> 32);
	struct demi__task *t;

	if (idx1 == 0 || idx1 > (uint64_t)rt->nchunks * TASKS_PER_CHUNK)
		return NULL;
	idx1--;
	t = &rt->chunks[idx1 / TASKS_PER_CHUNK][idx1 % TASKS_PER_CHUNK];
	return t->state != DEMI__TASK_FREE && t->gen == gen ? t : NULL;
}

/* A task without a poll function is finished only by its libOS's events: nothing to run. */
void demi__task_wake(struct demi__task *t)
{
	if (t->poll && t->state == DEMI__TASK_PENDING && !demi__list_linked(&t->ready_link))
		demi__list_push_back(&t->rt->ready, &t->ready_link);
}

/* A done task of the current round leaves it: the round has one completion fewer left.
 * round_left > 0: a task stamped 2^32 rounds ago may carry the current number. */
static inline void round_forget(struct demi__runtime *rt, const struct demi__task *t)
{
	if (t->round && t->round == rt->round && rt->round_left)
		rt->round_left--;
}

static inline void unlink_if_linked(struct demi__list *n)
{
	if (demi__list_linked(n))
		demi__list_remove(n);
}

static void finish(struct demi__task *t)
{
	bool counted;

	assert(t->state == DEMI__TASK_PENDING);
	t->state = DEMI__TASK_DONE;
	/* Only a pop or an accept asks the application for an answer: a push's completion (one
	 * it may never collect) or a failure (a reset) makes no batch to work through. */
	counted = t->rt->round_is_open &&
		  (t->result.qr_opcode == DEMI_OPC_POP || t->result.qr_opcode == DEMI_OPC_ACCEPT);
	t->round = counted ? t->rt->round : 0;
	t->rt->round_left += counted;
	unlink_if_linked(&t->ready_link);
	unlink_if_linked(&t->wait_link);
	demi__list_push_back(&t->rt->completed, &t->done_link);
}

void demi__task_complete(struct demi__task *t)
{
	t->result.qr_ret = 0;
	finish(t);
}

void demi__task_fail(struct demi__task *t, int err)
{
	t->result.qr_opcode = DEMI_OPC_FAILED;
	t->result.qr_ret = err;
	memset(&t->result.qr_value, 0, sizeof(t->result.qr_value));
	finish(t);
}

/* Puts t (already off every list) back on the free list. */
static inline void release(struct demi__runtime *rt, struct demi__task *t)
{
	t->state = DEMI__TASK_FREE;
	t->next_free = rt->free;
	rt->free = t;
	rt->stats.tasks_in_use--;
}

/* A done task is on the completed list only: finish took it off the ready list and the
 * libOS's list, and nothing links a done task again (demi__task_wake skips it). So the
 * take, once per operation on the way out of a wait, unlinks one list without looking. */
void demi__task_take(struct demi__task *t, demi_qresult_t *out)
{
	struct demi__runtime *rt = t->rt;

	assert(t->state == DEMI__TASK_DONE);
	assert(!demi__list_linked(&t->ready_link) && !demi__list_linked(&t->wait_link));
	assert(demi__list_linked(&t->done_link));
	*out = t->result;
	round_forget(rt, t);
	demi__list_remove(&t->done_link);
	release(rt, t);
}

/* Pending or done, woken or not: the rare path, it looks at every list. */
void demi__task_discard(struct demi__task *t)
{
	struct demi__runtime *rt = t->rt;

	if (t->state == DEMI__TASK_DONE)
		round_forget(rt, t);
	unlink_if_linked(&t->done_link);
	unlink_if_linked(&t->ready_link);
	unlink_if_linked(&t->wait_link);
	release(rt, t);
}

void demi__bg_add(struct demi__runtime *rt, struct demi__bg_task *bg, demi__bg_poll_fn poll,
		  void *arg)
{
	bg->poll = poll;
	bg->arg = arg;
	demi__list_push_back(&rt->bg, &bg->link);
}

void demi__bg_remove(struct demi__bg_task *bg)
{
	demi__list_remove(&bg->link);
}

/* Polls the tasks woken before this point; a task woken while polling runs on the next pass,
 * so one chatty task cannot starve the caller. Out of line: most passes of a busy-polling wait
 * have nothing ready, and their pass stays a short function. */
static __attribute__((noinline)) int run_ready(struct demi__runtime *rt)
{
	struct demi__list batch;
	int progress = 0;

	batch.next = rt->ready.next;
	batch.prev = rt->ready.prev;
	batch.next->prev = &batch;
	batch.prev->next = &batch;
	demi__list_init(&rt->ready);
	while (!demi__list_empty(&batch)) {
		struct demi__task *t =
			demi__container_of(batch.next, struct demi__task, ready_link);

		demi__list_remove(&t->ready_link);
		if (t->state != DEMI__TASK_PENDING)
			continue;
		rt->stats.polls++;
		t->poll(t);
		progress++;
	}
	return progress;
}

/* Out of line, like run_ready: a timer is due on few passes. */
static __attribute__((noinline)) int run_timers(struct demi__runtime *rt)
{
	return demi__timer_run(rt, demi__pass_now(rt));
}

int demi__runtime_pass(struct demi__runtime *rt)
{
	int progress = 0;
	struct demi__list *n, *next;

	rt->stats.passes++;
	/* Read on demand (demi__pass_now), and reused by a few idle passes. */
	if (rt->pass_clock_reuse)
		rt->pass_clock_reuse--;
	else
		rt->pass_now = 0;
	for (n = rt->bg.next; n != &rt->bg; n = next) {
		next = n->next;
		struct demi__bg_task *bg = demi__container_of(n, struct demi__bg_task, link);
		progress += bg->poll(bg->arg);
	}
	/* The heap's top first: a pass with no timer due makes no call. */
	if (rt->heap_len && demi__timer_next_deadline(rt) <= demi__pass_now(rt))
		progress += run_timers(rt);
	if (!demi__list_empty(&rt->ready))
		progress += run_ready(rt);
	/* Work may have taken time, and what follows it (an answer) wants a fresh time. */
	if (progress)
		rt->pass_clock_reuse = 0;
	return progress;
}
