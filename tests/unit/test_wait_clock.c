/* SPDX-License-Identifier: MIT */
/*
 * The spin of lib/wait.c on a fake clock: its fresh-clock marks, and how its budget adapts.
 *
 * The marks. A scheduler pass reads the clock on demand and up to
 * DEMI__PASS_CLOCK_REUSE idle passes reuse that reading (lib/runtime/runtime.h,
 * demi__pass_now); a moment after which time may have passed unseen makes the next reading
 * fresh: a wait's start (the application worked), a yield (the core went to another thread),
 * a sleep in poll_io, a sleep's length, and a pass that made progress (what follows it, an
 * answer, wants its own time). Each test puts the runtime on a fake clock that only the test
 * moves (wait_fake.h: each pass costs pass_ns; yields and sleeps cost what the test says),
 * arranges for the reading to be reused across one of those moments, and checks the pass
 * after it used the clock's true time. Removing any one mark fails its test.
 *
 * sched_yield is wrapped (-Wl,--wrap=sched_yield): a yield that costs a time slice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "unit.h"

#include <demi/libos.h>
#include <demi/wait.h>

#include "wait_fake.h"

#define US 1000ull
#define MS 1000000ull
/* The fake clock's start: any time but 0 (a reading of 0 means none). */
#define START (1000 * MS)

static const struct timespec zero = {0, 0};
static const struct timespec one_ms = {0, MS};

/* The test's queue (setup opens it, the test closes it). */
static int qd;

static struct {
	uint64_t ns; /* what a yield costs */
	int calls;
} yield;

int __wrap_sched_yield(void);
__attribute__((used)) int __wrap_sched_yield(void)
{
	yield.calls++;
	*wait_fake_now() += yield.ns;
	return 0;
}

/* The fake libOS (polling in its passes, like catnip and catmint; with a poll_io that sleeps on
 * the fake clock when sleeps is set) and demikernel.spin_us at spin_us (0: the default). */
static int setup_with(uint64_t spin_us, bool sleeps)
{
	static char spin[32];

	wait_fake_ops.poll_io = sleeps ? wait_fake_poll_io : NULL;
	wait_fake_ops.poll_io_only_sleeps = sleeps;
	unsetenv("DEMIKERNEL_BUSY_POLL");
	unsetenv("DEMIKERNEL_SPIN_MAX_US");
	if (spin_us) {
		snprintf(spin, sizeof(spin), "%llu", (unsigned long long)spin_us);
		setenv("DEMIKERNEL_SPIN_US", spin, 1);
	} else {
		unsetenv("DEMIKERNEL_SPIN_US");
	}
	yield.ns = 0;
	yield.calls = 0;
	if (wait_fake_setup(NULL))
		return -1;
	return demi_socket(&qd, AF_INET, SOCK_DGRAM, 0) ? -1 : 0;
}

static int setup(void **state)
{
	(void)state;
	return setup_with(0, false);
}

/* A libOS that sleeps in poll_io, with a spin budget (10 us) shorter than SPIN_TIGHT_NS: a
 * wait goes from polling flat out straight to sleeping, with no yields between. */
static int setup_sleeping(void **state)
{
	(void)state;
	return setup_with(10, true);
}

/* A libOS that sleeps in poll_io, with the default budget (100 us, growing up to 1 ms). */
static int setup_sleeping_100(void **state)
{
	(void)state;
	return setup_with(0, true);
}

/* Pass i (of the whole test) used the clock's true time: a fresh reading. */
static void assert_pass_fresh(uint64_t i)
{
	assert_true(i < wait_fake.passes && i < WAIT_FAKE_LOG);
	assert_int_equal(wait_fake.read[i], wait_fake.now[i]);
}

/* Closes qd and collects its pop, cancelled. */
static void close_collect(demi_qtoken_t pop)
{
	demi_qresult_t qr;

	assert_int_equal(demi_close(qd), 0);
	assert_int_equal(demi_wait(&qr, pop, NULL), 0);
	assert_int_equal(qr.qr_ret, ECANCELED);
}

/* The application's work (a pop on qd, which starts the spin) and a wait for it: the wait's
 * result, the pop left in *pop. */
static int pop_and_wait(const struct timespec *timeout, demi_qtoken_t *pop)
{
	demi_qresult_t qr;

	assert_int_equal(demi_pop(pop, qd), 0);
	return demi_wait(&qr, *pop, timeout);
}

/* A wait that timed out leaves a reading that idle passes may still reuse; the application
 * then works for a millisecond, and the next wait must not start from the old time. */
static void test_wait_clock_fresh_at_wait_start(void **state)
{
	demi_qtoken_t pop;
	demi_qresult_t qr;
	uint64_t first;

	(void)state;
	wait_fake_use_clock(START, 0);
	assert_int_equal(pop_and_wait(&zero, &pop), ETIMEDOUT);
	assert_int_equal(wait_fake.read[wait_fake.passes - 1], START);
	first = wait_fake.passes;
	*wait_fake_now() += MS; /* the application's work */
	assert_int_equal(demi_wait(&qr, pop, &zero), ETIMEDOUT);
	assert_pass_fresh(first);
	close_collect(pop);
}

/* Past SPIN_TIGHT_NS a spinning wait yields between polls; the yield costs a slice (10 ms,
 * beyond the 1 ms timeout), so the pass after it must see the deadline gone: one yield only,
 * not one per reused reading. */
static void test_wait_clock_fresh_after_yield(void **state)
{
	demi_qtoken_t pop;

	(void)state;
	wait_fake_use_clock(START, 1 * US);
	yield.ns = 10 * MS;
	assert_int_equal(pop_and_wait(&one_ms, &pop), ETIMEDOUT);
	assert_int_equal(yield.calls, 1);
	assert_pass_fresh(wait_fake.passes - 1);
	close_collect(pop);
}

/* The pass that decides to sleep used a reading some passes old (each pass costs 5 us); the
 * sleep's length must come from the true time, so that it ends at the deadline, not past it. */
static void test_wait_clock_sleep_length_fresh(void **state)
{
	demi_qtoken_t pop;

	(void)state;
	wait_fake_use_clock(START, 5 * US);
	assert_int_equal(pop_and_wait(&one_ms, &pop), ETIMEDOUT);
	assert_int_equal(wait_fake.io_calls, 1);
	assert_true(wait_fake.io_called_at > START);
	assert_int_equal(wait_fake.io_timeout_ns, START + MS - wait_fake.io_called_at);
	close_collect(pop);
}

/* A sleep in poll_io ended by an event after 300 us: the pass that handles the event must see
 * the time it woke at, not the reading from before the sleep. */
static void test_wait_clock_fresh_after_sleep(void **state)
{
	demi_qtoken_t pop;

	(void)state;
	wait_fake_use_clock(START, 5 * US);
	wait_fake.io_wake_after_ns = 300 * US;
	assert_int_equal(pop_and_wait(NULL, &pop), 0);
	assert_int_equal(wait_fake.io_calls, 1);
	assert_true(wait_fake.now[wait_fake.passes - 1] >= START + 300 * US);
	assert_pass_fresh(wait_fake.passes - 1);
	assert_int_equal(demi_close(qd), 0);
}

static uint64_t arrivals[2];

static void arrive_on_script(void)
{
	if (wait_fake.passes == arrivals[0] || wait_fake.passes == arrivals[1])
		wait_fake.arrive = 1;
}

/* A pass that made progress (a pop arrived, within a reused reading) is followed by one that
 * reads the clock: the answer to what arrived gets its own time. */
static void test_wait_clock_fresh_after_progress(void **state)
{
	demi_qtoken_t pops[2];
	demi_qresult_t qr;

	(void)state;
	wait_fake_use_clock(START, 1 * US);
	for (int i = 0; i < 2; i++)
		assert_int_equal(demi_pop(&pops[i], qd), 0);
	arrivals[0] = wait_fake.passes + 5;
	arrivals[1] = arrivals[0] + 1;
	wait_fake.on_pass = arrive_on_script;
	assert_int_equal(demi_wait(&qr, pops[1], NULL), 0);
	assert_int_equal(wait_fake.passes, arrivals[1] + 1);
	/* The first arrival's pass reused an older reading; the next one read afresh. */
	assert_true(wait_fake.read[arrivals[0]] < wait_fake.now[arrivals[0]]);
	assert_pass_fresh(arrivals[1]);
	assert_int_equal(demi_wait(&qr, pops[0], NULL), 0);
	assert_int_equal(demi_close(qd), 0);
}

/* One request answered after wake_ns of sleep: a pop issued (the application's work), then a
 * wait that spins its budget, sleeps and is woken by the answer. */
static void answered_after(uint64_t wake_ns)
{
	demi_qtoken_t pop;

	wait_fake.io_wake_after_ns = wake_ns;
	assert_int_equal(pop_and_wait(NULL, &pop), 0);
}

/* The spin budget adapts (lib/wait.c, note_work): each sleep cut short by work within
 * spin_max_us doubles it, up to spin_max_us; a longer silence halves it, never below
 * spin_us. One stall of the peer (an emulated guest's) must not undo what the exchange
 * taught both ends. */
static void test_wait_clock_budget_adapts(void **state)
{
	struct demi__libos *los = wait_fake.los;

	(void)state;
	wait_fake_use_clock(START, 1 * US);
	assert_int_equal(los->spin_ns, 100 * US);
	answered_after(200 * US); /* 300 us after the request: doubled */
	assert_int_equal(los->spin_ns, 200 * US);
	answered_after(200 * US);
	assert_int_equal(los->spin_ns, 400 * US);
	answered_after(200 * US);
	assert_int_equal(los->spin_ns, 800 * US);
	answered_after(100 * US);
	assert_int_equal(los->spin_ns, 1000 * US); /* spin_max_us */
	answered_after(5 * MS);			   /* a stall: halved */
	assert_int_equal(los->spin_ns, 500 * US);
	answered_after(5 * MS);
	assert_int_equal(los->spin_ns, 250 * US);
	answered_after(5 * MS);
	assert_int_equal(los->spin_ns, 125 * US);
	answered_after(5 * MS); /* never below spin_us */
	assert_int_equal(los->spin_ns, 100 * US);
	assert_int_equal(demi_close(qd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wait_clock_fresh_at_wait_start, setup,
						wait_fake_teardown),
		cmocka_unit_test_setup_teardown(test_wait_clock_fresh_after_yield, setup,
						wait_fake_teardown),
		cmocka_unit_test_setup_teardown(test_wait_clock_sleep_length_fresh, setup_sleeping,
						wait_fake_teardown),
		cmocka_unit_test_setup_teardown(test_wait_clock_fresh_after_sleep, setup_sleeping,
						wait_fake_teardown),
		cmocka_unit_test_setup_teardown(test_wait_clock_fresh_after_progress, setup,
						wait_fake_teardown),
		cmocka_unit_test_setup_teardown(test_wait_clock_budget_adapts, setup_sleeping_100,
						wait_fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
