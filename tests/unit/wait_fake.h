/* SPDX-License-Identifier: MIT */
/*
 * A fake libOS for the tests of lib/wait.c, reached through the public API: the test program
 * wraps the registry (-Wl,--wrap=demi__libos_find) so that demi_init gets this libOS.
 *
 * Its "device" is a background task polled on every scheduler pass. Each pass it logs the
 * clock reading the pass uses (demi__pass_now) beside the fake clock's true time, runs the
 * test's per-pass hook, finishes the parked pushes and the pops the test lets "arrive", and,
 * on the fake clock, moves time on by what a pass costs. Its poll_io, installed only by the
 * tests that want a libOS that sleeps (wait_fake_ops.poll_io before setup), sleeps on the fake
 * clock: its whole timeout, or until a scripted wake-up. Pushes are done at once (or, with
 * push_later, on the next pass); end_call records whether a push or pop was allowed to wait
 * for company (may_wait).
 *
 * Call order: wait_fake_setup (demi_init), optionally wait_fake_use_clock, the test,
 * wait_fake_teardown, which fails the test if a pool buffer, a token or a queue leaked (the
 * project's rule for unit tests: a teardown asserts that nothing leaked).
 */
#ifndef DEMI_TEST_WAIT_FAKE_H
#define DEMI_TEST_WAIT_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "libos.h"

/* Passes whose clock readings are logged; later passes run unlogged. */
#define WAIT_FAKE_LOG 4096
/* A wait still running after this many passes is stuck: every pending pop is made to arrive,
 * and the teardown fails the test. */
#define WAIT_FAKE_PASSES_MAX 100000

struct wait_fake {
	struct demi__libos *los;
	struct demi__bg_task bg;
	struct demi__list pops;	  /* pending pops, in issue order */
	struct demi__list pushes; /* pushes parked until the next pass (push_later) */
	bool push_later;
	int arrive;	       /* pops to finish on the next pass */
	void (*on_pass)(void); /* the test's script, run at the start of every pass */
	int end_calls;
	bool last_may_wait;
	/* The fake clock (wait_fake_use_clock): what a pass costs, and per pass the reading it
	 * used and the true time when it began. */
	bool clock;
	uint64_t pass_ns;
	uint64_t passes;
	uint64_t read[WAIT_FAKE_LOG], now[WAIT_FAKE_LOG];
	bool stuck;
	/* poll_io: calls, the last call's timeout and start, and when it should end a sleep
	 * with an event (UINT64_MAX: never, it sleeps its whole timeout). */
	uint64_t io_calls, io_timeout_ns, io_called_at;
	uint64_t io_wake_after_ns;
};

extern struct wait_fake wait_fake;
/* The fake's operations; a test may install poll_io (wait_fake_poll_io) before setup. */
extern struct demi__libos_ops wait_fake_ops;

int wait_fake_poll_io(struct demi__libos *los, uint64_t timeout_ns);
/* cmocka setup and teardown (see the header comment). */
int wait_fake_setup(void **state);
int wait_fake_teardown(void **state);
/* Moves the runtime to a fake clock at start_ns, which each pass moves on by pass_ns. */
void wait_fake_use_clock(uint64_t start_ns, uint64_t pass_ns);
/* A test of the fake libOS in cmocka's list. */
#define WAIT_FAKE_TEST(f) cmocka_unit_test_setup_teardown(f, wait_fake_setup, wait_fake_teardown)
/* A new UDP queue of the fake libOS. */
int wait_fake_open_queue(void);
/* The fake clock's time, which the runtime reads only when its pass reading is stale. */
static inline uint64_t *wait_fake_now(void)
{
	return &wait_fake.los->rt.clock.fake_now_ns;
}

#endif
