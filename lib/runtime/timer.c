/* SPDX-License-Identifier: MIT */
/* Timers on a binary min-heap of deadlines, and the clock they read. */
#include "runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

uint64_t demi__clock_now(const struct demi__runtime *rt)
{
	struct timespec ts;

	if (rt->clock.fake)
		return rt->clock.fake_now_ns;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void demi__clock_use_fake(struct demi__runtime *rt, uint64_t start_ns)
{
	rt->clock.fake = true;
	rt->clock.fake_now_ns = start_ns;
}

void demi__clock_advance(struct demi__runtime *rt, uint64_t delta_ns)
{
	rt->clock.fake_now_ns += delta_ns;
}

void demi__timer_init(struct demi__timer *tm, demi__timer_fn fn, void *arg)
{
	tm->deadline_ns = 0;
	tm->fn = fn;
	tm->arg = arg;
	tm->heap_index = UINT32_MAX;
}

static void place(struct demi__runtime *rt, uint32_t i, struct demi__timer *tm)
{
	rt->heap[i] = tm;
	tm->heap_index = i;
}

static void sift_up(struct demi__runtime *rt, uint32_t i)
{
	struct demi__timer *tm = rt->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (rt->heap[parent]->deadline_ns <= tm->deadline_ns)
			break;
		place(rt, i, rt->heap[parent]);
		i = parent;
	}
	place(rt, i, tm);
}

static void sift_down(struct demi__runtime *rt, uint32_t i)
{
	struct demi__timer *tm = rt->heap[i];

	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t best = tm->deadline_ns;

		if (l < rt->heap_len && rt->heap[l]->deadline_ns < best) {
			m = l;
			best = rt->heap[l]->deadline_ns;
		}
		if (r < rt->heap_len && rt->heap[r]->deadline_ns < best)
			m = r;
		if (m == i)
			break;
		place(rt, i, rt->heap[m]);
		i = m;
	}
	place(rt, i, tm);
}

void demi__timer_cancel(struct demi__runtime *rt, struct demi__timer *tm)
{
	uint32_t i = tm->heap_index;

	if (i == UINT32_MAX)
		return;
	tm->heap_index = UINT32_MAX;
	if (--rt->heap_len == i)
		return;
	struct demi__timer *moved = rt->heap[rt->heap_len];

	/* The last element fills the hole; it may belong above or below it. */
	place(rt, i, moved);
	sift_down(rt, i);
	sift_up(rt, moved->heap_index);
}

int demi__timer_arm(struct demi__runtime *rt, struct demi__timer *tm, uint64_t deadline_ns)
{
	demi__timer_cancel(rt, tm);
	if (rt->heap_len == rt->heap_cap) {
		uint32_t cap = rt->heap_cap ? rt->heap_cap * 2 : 64;
		struct demi__timer **h = realloc(rt->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		rt->heap = h;
		rt->heap_cap = cap;
	}
	tm->deadline_ns = deadline_ns;
	place(rt, rt->heap_len++, tm);
	sift_up(rt, tm->heap_index);
	return 0;
}

uint64_t demi__timer_next_deadline(const struct demi__runtime *rt)
{
	return rt->heap_len ? rt->heap[0]->deadline_ns : UINT64_MAX;
}

int demi__timer_run(struct demi__runtime *rt, uint64_t now)
{
	int fired = 0;

	while (rt->heap_len && rt->heap[0]->deadline_ns <= now) {
		struct demi__timer *tm = rt->heap[0];

		demi__timer_cancel(rt, tm);
		/* The callback may re-arm this or any other timer. */
		tm->fn(tm->arg);
		fired++;
	}
	return fired;
}
