/* SPDX-License-Identifier: MIT */
/*
 * Adaptive waiting (lib/wait.c) on catnap, judged by what the waits did (the library's
 * counters wait_spin_polls and wait_sleeps), not by CPU time, which a shared machine makes
 * meaningless (a spin that yields the core gets little of it when other tests run):
 *   1. after an operation the thread started, a wait polls (spin 20 ms) and then sleeps (a
 *      100 ms wait for nothing: polls and one sleep at least); a second wait with no work
 *      since does not poll;
 *   2. the budget adapts: a peer (a plain socket in another thread) answers each request
 *      8 ms later. With spin 1 ms growing up to 32 ms, the first requests pay a sleep each and
 *      double the budget, after which the waits poll through the 8 ms (at most 3 of the last 8
 *      requests sleep); with spin_max_us equal to spin_us most requests sleep (5 of 8 at
 *      least, and more than with the budget adapting: a spin that yields the core on a loaded
 *      machine may get it back only after the answer came);
 *   3. busy_poll polls the whole wait and never sleeps.
 * The CPU time is printed beside the counts. Each case runs in a thread of its own with its
 * own demi_init (the configuration comes from the environment at demi_init).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <demi/stats.h>

#include "helpers.h"

#define MS 1000000ull
#define PEER_DELAY_MS 8
#define ROUNDS 16

/* A plain UDP echo that answers each datagram PEER_DELAY_MS later; ends on "quit". */
static void *slow_peer(void *arg)
{
	int s = *(int *)arg;
	char buf[64];
	struct sockaddr_in from;
	socklen_t fl;

	for (;;) {
		fl = sizeof(from);
		ssize_t n = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

		if (n <= 0 || (n == 4 && !memcmp(buf, "quit", 4)))
			return NULL;
		h_sleep_ms(PEER_DELAY_MS);
		sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
}

/* The calling thread's wait counters. */
struct waits {
	uint64_t polls, sleeps, cpu_ns;
};

static struct waits waits_now(void)
{
	struct waits w = {.cpu_ns = h_thread_cpu_ns()};

	CHECK_OK(demi_stat("wait_spin_polls", &w.polls));
	CHECK_OK(demi_stat("wait_sleeps", &w.sleeps));
	return w;
}

static struct waits waits_since(struct waits a)
{
	struct waits b = waits_now();

	return (struct waits){b.polls - a.polls, b.sleeps - a.sleeps, b.cpu_ns - a.cpu_ns};
}

/* What the waits did over the last ROUNDS / 2 of ROUNDS requests to the slow peer, each after
 * a silence of 20 ms (longer than the spin, shorter than spin_max_us). */
static struct waits slow_requests(void)
{
	struct sockaddr_in me, peer_addr = h_loopback(0);
	socklen_t len = sizeof(peer_addr);
	int ps = socket(AF_INET, SOCK_DGRAM, 0), qd;
	struct waits sum = {0, 0, 0};
	pthread_t th;

	CHECK(ps >= 0);
	CHECK(bind(ps, H_SA(&peer_addr), sizeof(peer_addr)) == 0);
	CHECK(getsockname(ps, (struct sockaddr *)&peer_addr, &len) == 0);
	CHECK(pthread_create(&th, NULL, slow_peer, &ps) == 0);
	qd = h_udp_bind(&me);
	for (int i = 0; i < ROUNDS; i++) {
		demi_sgarray_t sga = demi_sgaalloc(8);
		demi_qtoken_t qt;
		demi_qresult_t qr;
		struct waits w0, d;

		CHECK(sga.sga_numsegs == 1);
		memcpy(sga.sga_segs[0].sgaseg_buf, "request", 8);
		h_sleep_ms(20);
		w0 = waits_now();
		CHECK_OK(demi_pushto(&qt, qd, &sga, H_SA(&peer_addr), sizeof(peer_addr)));
		CHECK_OK(demi_sgafree(&sga));
		h_wait(qt, DEMI_OPC_PUSH, NULL);
		CHECK_OK(demi_pop(&qt, qd));
		h_wait(qt, DEMI_OPC_POP, &qr);
		d = waits_since(w0);
		if (i >= ROUNDS / 2) {
			sum.polls += d.polls;
			sum.sleeps += d.sleeps;
			sum.cpu_ns += d.cpu_ns;
		}
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
	}
	CHECK(sendto(ps, "quit", 4, 0, H_SA(&peer_addr), sizeof(peer_addr)) == 4);
	pthread_join(th, NULL);
	close(ps);
	CHECK_OK(demi_close(qd));
	return sum;
}

/* What a 100 ms wait for a pop that does not come did right after issuing it (*first), and
 * again with nothing happening in between (*second). */
static void idle_waits(struct waits *first, struct waits *second)
{
	struct sockaddr_in me;
	struct timespec ts;
	demi_qresult_t qr;
	demi_qtoken_t qt;
	int qd = h_udp_bind(&me);
	struct waits w0;

	CHECK_OK(demi_pop(&qt, qd));
	w0 = waits_now();
	CHECK_ERR(demi_wait(&qr, qt, h_ts(&ts, 100)), ETIMEDOUT);
	*first = waits_since(w0);
	w0 = waits_now();
	CHECK_ERR(demi_wait(&qr, qt, h_ts(&ts, 100)), ETIMEDOUT);
	*second = waits_since(w0);
	CHECK_OK(demi_close(qd));
	CHECK_ERR(demi_wait(&qr, qt, h_ts(&ts, H_WAIT_MS)), 0);
}

struct run {
	const char *spin_us, *spin_max_us, *busy_poll;
	int what; /* 0 idle waits, 1 slow peer */
	struct waits a, b;
};

static void *run_case(void *arg)
{
	struct run *r = arg;

	h_init();
	if (r->what == 0)
		idle_waits(&r->a, &r->b);
	else
		r->a = slow_requests();
	h_check_no_leaks("end");
	return NULL;
}

/* Runs one case in a thread of its own, with the configuration in the environment. */
static void run(struct run *r)
{
	pthread_t th;

	setenv("DEMIKERNEL_SPIN_US", r->spin_us, 1);
	setenv("DEMIKERNEL_SPIN_MAX_US", r->spin_max_us, 1);
	setenv("DEMIKERNEL_BUSY_POLL", r->busy_poll, 1);
	CHECK(pthread_create(&th, NULL, run_case, r) == 0);
	CHECK(pthread_join(th, NULL) == 0);
}

static void show(const char *what, const struct waits *w)
{
	h_log("%s: %llu polls, %llu sleeps, %.2f ms of CPU", what, (unsigned long long)w->polls,
	      (unsigned long long)w->sleeps, (double)w->cpu_ns / MS);
}

int main(void)
{
	struct run spin = {"20000", "20000", "false", 0, {0, 0, 0}, {0, 0, 0}};
	struct run adapt = {"1000", "32000", "false", 1, {0, 0, 0}, {0, 0, 0}};
	struct run fixed = {"1000", "1000", "false", 1, {0, 0, 0}, {0, 0, 0}};
	struct run busy = {"0", "0", "true", 0, {0, 0, 0}, {0, 0, 0}};
	const uint64_t half = ROUNDS - ROUNDS / 2;

	h_watchdog(60);
	unsetenv("CONFIG_PATH");
	if (getenv("LIBOS") == NULL || getenv("LIBOS")[0] == '\0')
		setenv("LIBOS", "catnap", 1);
	else if (strcmp(getenv("LIBOS"), "catnap") != 0)
		h_skip("this test is for catnap (LIBOS=%s)", getenv("LIBOS"));

	run(&spin);
	show("spin 20 ms, a 100 ms wait after a pop", &spin.a);
	show("spin 20 ms, the next 100 ms wait", &spin.b);
	CHECKF(spin.a.polls >= 10 && spin.a.sleeps >= 1,
	       "the wait after an operation did not poll, then sleep");
	CHECKF(spin.b.polls <= 2 && spin.b.sleeps >= 1,
	       "a wait with no work since the last one spun");

	run(&adapt);
	run(&fixed);
	show("peer answering after 8 ms, budget adapting 1 -> 32 ms (last 8 requests)", &adapt.a);
	show("peer answering after 8 ms, budget fixed at 1 ms (last 8 requests)", &fixed.a);
	CHECKF(adapt.a.sleeps <= 3 && adapt.a.sleeps < fixed.a.sleeps,
	       "the budget did not grow past the peer's delay");
	CHECKF(fixed.a.sleeps >= half - 3, "a fixed budget spun past spin_us");

	run(&busy);
	show("busy_poll, a 100 ms wait", &busy.a);
	CHECKF(busy.a.sleeps == 0 && busy.a.polls >= 10, "busy_poll did not poll");
	h_log("PASS: waits spin for their budget, adapt it, and sleep");
	return H_EXIT_PASS;
}
