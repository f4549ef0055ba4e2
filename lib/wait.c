/* SPDX-License-Identifier: MIT */
/*
 * demi_wait, demi_wait_any, demi_wait_next_n: run the libOS until a condition holds.
 *
 * One turn of the loop: a scheduler pass (woken tasks, background tasks, timers); if that did
 * not satisfy the wait and nothing is ready, the libOS's poll_io either only checks for
 * events (busy_poll, or within demikernel.spin_us of the last work: adaptive waiting) or
 * sleeps in the kernel until an event, the next timer or the wait's deadline, whichever comes
 * first. So an idle wait costs no CPU, and a busy one makes no extra calls and never pays for
 * a wake-up. A spinning turn is kept short: it reads no timer, and it skips poll_io when the
 * libOS polls in its scheduler pass anyway (poll_io_only_sleeps: catnip, catmint).
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include <demi/wait.h>

#include "api.h"
#include "libos.h"

#define NSEC 1000000000ull
/* How long a spin polls flat out before it starts yielding the core between polls. */
#define SPIN_TIGHT_NS 20000ull

/* A condition on the runtime; returns true when the wait is over. */
typedef bool (*ready_fn)(struct demi__libos *los, void *arg);

/* The checks every wait makes: the calling thread's libOS in *los_out and the timeout in
 * nanoseconds (UINT64_MAX: none) in *ns. 0, EPERM (no demi_init) or EINVAL. */
static int wait_start(const struct timespec *ts, struct demi__libos **los_out, uint64_t *ns)
{
	struct demi__libos *los;

	if (!(*los_out = los = demi__current()))
		return EPERM;
	los->waits++;
	/* The application may have worked for long since the last pass read the clock. */
	demi__pass_clock_stale(&los->rt);
	/* What the pushes and pops since the last wait made the libOS send, held back while the
	 * application worked through a batch of completions, leaves now. */
	if (los->defer_end_call) {
		los->defer_end_call = false;
		los->ops->end_call(los, false);
	}
	demi__stats_poll(los);
	if (!ts) {
		*ns = UINT64_MAX;
		return 0;
	}
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= (long)NSEC)
		return EINVAL;
	if ((uint64_t)ts->tv_sec >= UINT64_MAX / NSEC - 1)
		*ns = UINT64_MAX;
	else
		*ns = (uint64_t)ts->tv_sec * NSEC + (uint64_t)ts->tv_nsec;
	return 0;
}

enum spin { SLEEP, SPIN, SPIN_YIELD };

/* Whether the wait should poll rather than sleep (spinning), and the record of work it is
 * based on (note_work, after every pass): always with busy_poll; otherwise while the
 * last sign of work (a pass that made progress, an operation the application started) is less
 * than spin_ns old. An answer usually follows work within a round trip, and catching it by
 * polling saves the wake-up (tens of microseconds on a VM); an idle thread stops polling
 * spin_ns after its last event and then costs nothing. After the first SPIN_TIGHT_NS the
 * spin yields the core between polls: on a machine with more runnable threads than cores the
 * peer that is to answer (or the thread that is to use the answer) may be waiting for ours,
 * and polling flat out would delay the very event we wait for (measured on 2 busy cores: a
 * first reply after a silence took 300 us instead of 120). A yield is a system call (~1 us
 * here, ~3 us in the emulated RDMA guest, docs/benchmarks.md): yielding only every few polls
 * was measured there and made no difference the guest's noise could show.
 *
 * The budget adapts, as KVM's halt polling does: when work comes after a sleep but within
 * spin_max_ns of the last, the sleep was a loss (a wake-up paid, where a little more spinning
 * would have caught it), so the budget doubles, up to spin_max_ns; after a longer silence it
 * halves, down to demikernel.spin_us. Without this, two ends whose wake-ups take longer than
 * the budget (an emulated guest: milliseconds) keep each other asleep: each answer comes after
 * the other end gave up spinning, at a wake-up per message. Halving rather than going back to
 * spin_us at once: one stall of the peer (the emulated guest has them, multi-millisecond,
 * busy polling included) would otherwise undo all the doublings of both ends, which then
 * wake each other slowly until they have learnt it again; an idle thread still comes down to
 * spin_us after a few silences. */
static void note_work(struct demi__libos *los, int progress)
{
	uint64_t now;

	if (los->busy_poll || !los->spin_base_ns ||
	    (progress <= 0 && !los->user_call && !los->io_work))
		return;
	now = demi__pass_now(&los->rt);
	if (los->slept) {
		uint64_t waited = now - los->last_work_ns;

		if (waited > los->spin_max_ns)
			los->spin_ns = los->spin_ns / 2 > los->spin_base_ns ? los->spin_ns / 2
									    : los->spin_base_ns;
		else
			los->spin_ns = 2 * los->spin_ns < los->spin_max_ns ? 2 * los->spin_ns
									   : los->spin_max_ns;
		los->slept = false;
	}
	los->last_work_ns = now;
	los->user_call = false;
	los->io_work = false;
}

static enum spin spinning(struct demi__libos *los)
{
	uint64_t idle;

	if (los->busy_poll)
		return SPIN;
	if (!los->spin_base_ns)
		return SLEEP;
	idle = demi__pass_now(&los->rt) - los->last_work_ns;
	return idle >= los->spin_ns ? SLEEP : idle < SPIN_TIGHT_NS ? SPIN : SPIN_YIELD;
}

/* The libOS's poll_io, unless a zero timeout would make it do nothing (poll_io_only_sleeps). */
static int poll_io(struct demi__libos *los, uint64_t timeout_ns)
{
	const struct demi__libos_ops *ops = los->ops;

	if (!ops->poll_io || (!timeout_ns && ops->poll_io_only_sleeps))
		return 0;
	/* It may sleep, or make a system call: time passes. */
	demi__pass_clock_stale(&los->rt);
	return ops->poll_io(los, timeout_ns);
}

/* Inlined into each wait with its own ready function, which is then inlined too: no indirect
 * call per pass, and the wait that finds its answer returns straight from the check. */
static inline __attribute__((always_inline)) int poll_until(struct demi__libos *los, ready_fn ready,
							    void *arg, uint64_t timeout_ns)
{
	struct demi__runtime *rt = &los->rt;
	uint64_t deadline = UINT64_MAX;

	if (timeout_ns != UINT64_MAX) {
		/* The first pass's time, read once for both. */
		uint64_t now = demi__pass_now(rt);
		/* Saturate: a timeout of centuries is no timeout. */
		deadline = timeout_ns < UINT64_MAX - now ? now + timeout_ns : UINT64_MAX;
	}
	for (;;) {
		/* Work is noted before the check: the pass that ends a wait may end a sleep too,
		 * and the budget learns from it. */
		note_work(los, demi__runtime_pass(rt));
		if (ready(los, arg))
			return 0;
		if (timeout_ns == 0) {
			/* A zero timeout polls once: one look at the device, one more pass. */
			poll_io(los, 0);
			demi__runtime_pass(rt);
			return ready(los, arg) ? 0 : ETIMEDOUT;
		}
		enum spin spin = spinning(los);
		uint64_t sleep_ns = 0;
		/* The pass's own reading of the clock: deadlines are checked to within a pass. A
		 * spinning turn (the common one while busy) needs no timer: it does not sleep. */
		if (spin != SLEEP) {
			if (deadline != UINT64_MAX && demi__pass_now(rt) >= deadline)
				return ETIMEDOUT;
			if (demi__runtime_has_ready(rt))
				continue;
			if (spin == SPIN_YIELD) {
				sched_yield();
				/* The core may have gone to another thread for a whole slice. */
				demi__pass_clock_stale(rt);
			}
			los->wait_spin_polls++;
		} else {
			uint64_t next_timer = demi__timer_next_deadline(rt);
			uint64_t until = deadline < next_timer ? deadline : next_timer;
			uint64_t now = 0;

			if (until != UINT64_MAX) {
				/* A sleep's length from a fresh reading: one read is nothing next
				 * to a sleep, and a reused one would oversleep by the passes it
				 * served. */
				demi__pass_clock_stale(rt);
				now = demi__pass_now(rt);
			}

			if (now >= deadline)
				return ETIMEDOUT;
			if (demi__runtime_has_ready(rt))
				continue;
			sleep_ns = until == UINT64_MAX ? UINT64_MAX : until > now ? until - now : 0;
			if (sleep_ns) {
				los->slept = true;
				los->wait_sleeps++;
			} else {
				los->wait_spin_polls++;
			}
		}
		/* Events count as work at the next pass (whose clock is read after them): a libOS
		 * that completes operations inside poll_io (catnap's io_uring reaps its CQEs there)
		 * leaves its pass nothing to do, and the budget would never learn from them. */
		if (poll_io(los, sleep_ns) > 0)
			los->io_work = true;
	}
}

/* The wait proper: its scheduler passes make a round of the runtime, whose completions
 * batch_end counts. */
static inline __attribute__((always_inline)) int run_until(struct demi__libos *los, ready_fn ready,
							   void *arg, uint64_t timeout_ns)
{
	int rc;

	if (ready(los, arg))
		return 0;
	demi__runtime_round_open(&los->rt);
	rc = poll_until(los, ready, arg, timeout_ns);
	demi__runtime_round_close(&los->rt);
	return rc;
}

/* A wait returns n completions: if more were ready than one (handed out, or left on the
 * completed list for the next wait), the application is working through a batch, and what its
 * pushes and pops send may wait a little for company (defer_end_call). Only completions of
 * the last round count as left: those found by the last wait that polled (this one, or an
 * earlier one whose finds the application is still collecting). The completed
 * list may also hold completions the application never collects (a push token not waited
 * for, a pop cancelled by a close); counting them would keep the flag on for good and hold
 * every lone answer until the application's next wait. */
static void batch_end(struct demi__libos *los, int n)
{
	los->defer_end_call =
		los->ops->end_call && (n > 1 || demi__runtime_round_left(&los->rt) > 0);
}

static bool task_done(struct demi__libos *los, void *arg)
{
	(void)los;
	return demi__task_done(arg);
}

DEMI_EXPORT int demi_wait(demi_qresult_t *qr_out, demi_qtoken_t qt, const struct timespec *timeout)
{
	struct demi__libos *los;
	struct demi__task *t;
	uint64_t ns;
	int rc;

	if (!qr_out)
		return EINVAL;
	if ((rc = wait_start(timeout, &los, &ns)))
		return rc;
	t = demi__task_lookup(&los->rt, qt);
	if (!t)
		return EINVAL;
	if ((rc = run_until(los, task_done, t, ns)))
		return rc;
	demi__task_take(t, qr_out);
	batch_end(los, 1);
	return 0;
}

struct any_arg {
	struct demi__task **tasks;
	int n;
	int found;
};

static bool any_done(struct demi__libos *los, void *arg)
{
	struct any_arg *a = arg;

	(void)los;
	for (int i = 0; i < a->n; i++) {
		if (demi__task_done(a->tasks[i])) {
			a->found = i;
			return true;
		}
	}
	return false;
}

DEMI_EXPORT int demi_wait_any(demi_qresult_t *qr_out, int *ready_offset, const demi_qtoken_t qts[],
			      int num_qts, const struct timespec *timeout)
{
	struct demi__libos *los;
	struct demi__task *small[64], **tasks = small;
	struct any_arg a;
	uint64_t ns;
	int rc;

	if (!qr_out || !ready_offset || !qts || num_qts < 1)
		return EINVAL;
	if ((rc = wait_start(timeout, &los, &ns)))
		return rc;
	if (num_qts > 64 && !(tasks = malloc((size_t)num_qts * sizeof(*tasks))))
		return ENOMEM;
	for (int i = 0; i < num_qts; i++) {
		tasks[i] = demi__task_lookup(&los->rt, qts[i]);
		if (!tasks[i]) {
			rc = EINVAL;
			goto out;
		}
	}
	a = (struct any_arg){.tasks = tasks, .n = num_qts, .found = -1};
	if ((rc = run_until(los, any_done, &a, ns)))
		goto out;
	*ready_offset = a.found;
	demi__task_take(tasks[a.found], qr_out);
	batch_end(los, 1);
out:
	if (tasks != small)
		free(tasks);
	return rc;
}

static bool any_completed(struct demi__libos *los, void *arg)
{
	(void)arg;
	return !demi__list_empty(&los->rt.completed);
}

DEMI_EXPORT int demi_wait_next_n(demi_qresult_t *qr_out, int num_qrs, int *num_qrs_out,
				 const struct timespec *timeout)
{
	struct demi__libos *los;
	uint64_t ns;
	int rc, n = 0;

	if (!qr_out || !num_qrs_out || num_qrs < 1)
		return EINVAL;
	*num_qrs_out = 0;
	if ((rc = wait_start(timeout, &los, &ns)))
		return rc;
	if ((rc = run_until(los, any_completed, NULL, ns)))
		return rc;
	while (n < num_qrs && !demi__list_empty(&los->rt.completed)) {
		struct demi__task *t =
			demi__container_of(los->rt.completed.next, struct demi__task, done_link);
		demi__task_take(t, &qr_out[n++]);
	}
	*num_qrs_out = n;
	batch_end(los, n);
	return 0;
}
