/* SPDX-License-Identifier: MIT */
/*
 * The cooperative runtime shared by every libOS: tasks, queue tokens, timers and the clock.
 *
 * Every asynchronous operation is a task. A task is polled (its poll function runs) when it is
 * created, if the libOS asks for it, and then each time something wakes it (a device event, a
 * timer, another task); poll either finishes the task (demi__task_complete / _fail) or leaves
 * it pending until the next wake. Background tasks (device polling, protocol timers) have no
 * token and are polled on every pass of the scheduler.
 *
 * A finished task keeps its result, on the completed list in completion order, until a
 * demi_wait* call takes it: that is why no completion is ever lost.
 *
 * Tokens: (generation << 32) | (slot index + 1). A slot's generation changes when it is
 * reused, so an old token never names a new task.
 *
 * Tasks live in chunks that never move; the free list makes a steady state allocation-free.
 * Single-threaded: one runtime per libOS instance, one libOS per thread.
 */
#ifndef DEMI__RUNTIME_H
#define DEMI__RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include <demi/types.h>

#include "../list.h"
#include "clock.h"

struct demi__runtime;
struct demi__task;

/* Runs one step of a task. It must not free the task. */
typedef void (*demi__task_poll_fn)(struct demi__task *t);

enum demi__task_state {
	DEMI__TASK_FREE = 0,
	DEMI__TASK_PENDING,
	DEMI__TASK_DONE,
};

/* Room for a push request (segments) plus a few words of operation state. */
#define DEMI__TASK_PRIV_BYTES (72 + 24 * DEMI_SGARRAY_MAXSIZE)

struct demi__task {
	demi__task_poll_fn poll;
	struct demi__runtime *rt;
	struct demi__list ready_link; /* on rt->ready while woken */
	struct demi__list done_link;  /* on rt->completed once done */
	/* For the libOS: e.g. the queue's list of pending pops. Unlinked on completion; a libOS
	 * never links a done task again (demi__task_take frees a done task without looking at
	 * this list: release builds do not check it). */
	struct demi__list wait_link;
	void *queue; /* queue the operation belongs to (for cancellation), or NULL */
	uint32_t gen;
	uint32_t index;
	uint8_t state;
	uint32_t round; /* the round it finished in, 0: none (demi__runtime_round_open) */
	demi_qresult_t result;
	/* Operation state owned by the libOS; aligned for any scalar. */
	union {
		uint64_t u64[DEMI__TASK_PRIV_BYTES / 8];
		void *ptr[DEMI__TASK_PRIV_BYTES / sizeof(void *)];
	} priv;
	struct demi__task *next_free;
};

/* A background task: polled on every pass. poll returns how much work it did (0 = idle). */
typedef int (*demi__bg_poll_fn)(void *arg);

struct demi__bg_task {
	demi__bg_poll_fn poll;
	void *arg;
	struct demi__list link;
};

typedef void (*demi__timer_fn)(void *arg);

struct demi__timer {
	uint64_t deadline_ns;
	demi__timer_fn fn;
	void *arg;
	uint32_t heap_index; /* slot in the runtime's heap (lib/heap.h); 0 when not armed */
};

struct demi__runtime_stats {
	uint64_t tasks_in_use;
	uint64_t polls;	 /* task polls */
	uint64_t passes; /* scheduler passes */
};

struct demi__runtime {
	struct demi__list ready;
	struct demi__list completed;
	struct demi__list bg;
	struct demi__task **chunks;
	uint32_t nchunks;
	uint32_t chunks_cap;
	struct demi__task *free;
	struct demi__timer **heap; /* armed timers, a min-heap by deadline (lib/heap.h) */
	uint32_t heap_len;
	uint32_t heap_cap;
	struct demi__clock clock;
	uint64_t pass_now; /* the clock as last read for a pass; 0 = read it (demi__pass_now) */
	uint32_t pass_clock_reuse; /* idle passes that may still use pass_now */
	/* The last round (demi__runtime_round_open), whether it is still open, and how many of
	 * its completions are still on the completed list. */
	uint32_t round;
	uint32_t round_left;
	bool round_is_open;
	struct demi__runtime_stats stats;
};

int demi__runtime_init(struct demi__runtime *rt);
/* Frees all tasks; a task still pending is dropped (its libOS must have cancelled it). */
void demi__runtime_fini(struct demi__runtime *rt);

/* ---- tasks ---- */

/* A new pending task for an operation on qd (opcode goes to the result). NULL: -ENOMEM. */
struct demi__task *demi__task_create(struct demi__runtime *rt, demi__task_poll_fn poll,
				     demi_opcode_t opcode, int qd, void *queue);
static inline demi_qtoken_t demi__task_token(const struct demi__task *t)
{
	return ((uint64_t)t->gen << 32) | (t->index + 1);
}
/* The task a token names, done or pending; NULL when unknown or released. */
struct demi__task *demi__task_lookup(struct demi__runtime *rt, demi_qtoken_t qt);
/* Queues a pending task to be polled on the next pass. Idempotent. */
void demi__task_wake(struct demi__task *t);
/* Finishes a task successfully; the opcode set at creation stays, result.qr_ret = 0. */
void demi__task_complete(struct demi__task *t);
/* Finishes a task with an error: opcode DEMI_OPC_FAILED, qr_ret = err (positive errno). */
void demi__task_fail(struct demi__task *t, int err);
/* Takes the result of a done task and frees its slot (the token becomes unknown). t must be
 * done, and then it is on the completed list only. */
void demi__task_take(struct demi__task *t, demi_qresult_t *out);
/* Frees a task that never produced a token (the issuing call failed after creating it). */
void demi__task_discard(struct demi__task *t);
static inline bool demi__task_done(const struct demi__task *t)
{
	return t->state == DEMI__TASK_DONE;
}

/* ---- scheduling ---- */

void demi__bg_add(struct demi__runtime *rt, struct demi__bg_task *bg, demi__bg_poll_fn poll,
		  void *arg);
void demi__bg_remove(struct demi__bg_task *bg);
/* One pass: background tasks, expired timers, then every woken task. Returns the number of
 * things that made progress (0 = nothing happened). */
int demi__runtime_pass(struct demi__runtime *rt);
static inline bool demi__runtime_has_ready(const struct demi__runtime *rt)
{
	return !demi__list_empty(&rt->ready);
}
/* Rounds: the scheduler passes of one demi_wait* (lib/wait.c opens a round when a wait has
 * to run the scheduler, and closes it when the wait returns). What finishes while a round is
 * open belongs to it; what finishes outside one (inside a user call: a push done at once, a
 * pop cancelled by a close) belongs to none. demi__runtime_round_left counts the completions
 * of the last round still on the completed list: those a batch the application is working
 * through has left, told apart from older ones it may never collect. */
static inline void demi__runtime_round_open(struct demi__runtime *rt)
{
	if (!++rt->round)
		rt->round = 1; /* 0 is no round */
	rt->round_left = 0;
	rt->round_is_open = true;
}
static inline void demi__runtime_round_close(struct demi__runtime *rt)
{
	rt->round_is_open = false;
}
static inline uint32_t demi__runtime_round_left(const struct demi__runtime *rt)
{
	return rt->round_left;
}

/* ---- timers and clock ---- */

/* Monotonic ns (lib/runtime/clock.h: the CPU's counter where it is invariant). */
static inline uint64_t demi__clock_now(struct demi__runtime *rt)
{
	return demi__clock_read(&rt->clock);
}
/* How many scheduler passes in a row may reuse one reading of the clock (demi__pass_now). */
#define DEMI__PASS_CLOCK_REUSE 16

/* The time of the current scheduler pass, read from the clock on demand (background tasks,
 * timers, the wait loop's deadlines). A reading serves the rest of its pass and up to
 * DEMI__PASS_CLOCK_REUSE - 1 passes after it, as long as they are idle: a pass that made
 * progress, a new demi_wait* (the application may have worked for long) and a poll_io that
 * may have slept (demi__pass_clock_stale) make the next pass read it again. A read can
 * cost more than the rest of an idle pass on a VM (rdtsc is emulated on this project's VMs:
 * ~28 ns quiet, 160-200 ns measured with the host loaded, against ~200 instructions for the
 * rest of an idle catnip pass): perf put 57% of catnip's device poll on that one rdtsc. A
 * timer is late by at most that many idle passes (well under a microsecond while spinning). */
static inline uint64_t demi__pass_now(struct demi__runtime *rt)
{
	if (!rt->pass_now) {
		rt->pass_now = demi__clock_now(rt);
		rt->pass_clock_reuse = DEMI__PASS_CLOCK_REUSE - 1;
	}
	return rt->pass_now;
}
/* The next pass reads the clock afresh. */
static inline void demi__pass_clock_stale(struct demi__runtime *rt)
{
	rt->pass_now = 0;
}
/* Switches the runtime to a fake clock starting at start_ns (tests). */
void demi__clock_use_fake(struct demi__runtime *rt, uint64_t start_ns);
void demi__clock_advance(struct demi__runtime *rt, uint64_t delta_ns);

void demi__timer_init(struct demi__timer *tm, demi__timer_fn fn, void *arg);
/* Arms (or re-arms) tm to fire at deadline_ns. Returns 0 or -ENOMEM. */
int demi__timer_arm(struct demi__runtime *rt, struct demi__timer *tm, uint64_t deadline_ns);
void demi__timer_cancel(struct demi__runtime *rt, struct demi__timer *tm);
static inline bool demi__timer_armed(const struct demi__timer *tm)
{
	return tm->heap_index != 0;
}
/* Deadline of the earliest armed timer, or UINT64_MAX. */
uint64_t demi__timer_next_deadline(const struct demi__runtime *rt);
/* Fires every timer due at now. Returns how many fired. */
int demi__timer_run(struct demi__runtime *rt, uint64_t now);

#endif
