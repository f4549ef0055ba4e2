/* SPDX-License-Identifier: MIT */
/* Timers on the binary min-heap of lib/heap.h, keyed by deadline, and the fake clock of the
 * tests (the real one is lib/runtime/clock.c). */
#include "runtime.h"

#include "../heap.h"

void demi__clock_use_fake(struct demi__runtime *rt, uint64_t start_ns)
{
	rt->clock.source = DEMI__CLOCK_FAKE;
	rt->clock.span = 0; /* every read takes the slow path, which answers fake_now_ns */
	rt->clock.fake_now_ns = start_ns;
	demi__pass_clock_stale(rt);
}

void demi__clock_advance(struct demi__runtime *rt, uint64_t delta_ns)
{
	rt->clock.fake_now_ns += delta_ns;
	demi__pass_clock_stale(rt);
}

DEMI__HEAP_DEFINE(timer_heap, struct demi__runtime, struct demi__timer, deadline_ns, heap_index)

void demi__timer_init(struct demi__timer *tm, demi__timer_fn fn, void *arg)
{
	tm->deadline_ns = 0;
	tm->fn = fn;
	tm->arg = arg;
	tm->heap_index = 0;
}

void demi__timer_cancel(struct demi__runtime *rt, struct demi__timer *tm)
{
	timer_heap_remove(rt, tm);
}

int demi__timer_arm(struct demi__runtime *rt, struct demi__timer *tm, uint64_t deadline_ns)
{
	bool armed = demi__timer_armed(tm);

	tm->deadline_ns = deadline_ns;
	if (!armed)
		return timer_heap_insert(rt, tm);
	timer_heap_update(rt, tm);
	return 0;
}

uint64_t demi__timer_next_deadline(const struct demi__runtime *rt)
{
	const struct demi__timer *tm = timer_heap_min(rt);

	return tm ? tm->deadline_ns : UINT64_MAX;
}

int demi__timer_run(struct demi__runtime *rt, uint64_t now)
{
	struct demi__timer *tm;
	int fired = 0;

	while ((tm = timer_heap_min(rt)) && tm->deadline_ns <= now) {
		timer_heap_remove(rt, tm);
		/* The callback may re-arm this or any other timer. */
		tm->fn(tm->arg);
		fired++;
	}
	return fired;
}
