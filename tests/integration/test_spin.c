/* SPDX-License-Identifier: MIT */
/*
 * Adaptive waiting (lib/wait.c), seen through the CPU time of the waiting thread, on catnap:
 *   1. after an operation the thread started, a wait polls for demikernel.spin_us and then
 *      sleeps (spin 20 ms, wait 100 ms for nothing: 2-60 ms of CPU, as little as 5 on 2 cores
 *      shared with builds, since the spin yields); a second wait with no work since does not
 *      poll at all (under 2 ms);
 *   2. the budget adapts: a peer (a plain socket in another thread) that answers each request
 *      after 4 ms. With spin 1 ms growing up to 16 ms, the first requests pay a sleep each and
 *      double the budget, after which the thread polls through the 4 ms (over 1.5 ms of CPU
 *      per request, and twice what the next run uses); with spin_max_us equal to spin_us it
 *      keeps giving up after 1 ms (under 2 ms);
 *   3. busy_poll polls the whole wait (over 30 ms of CPU in 100 ms).
 * Each case runs in a thread of its own with its own demi_init (the configuration comes from
 * the environment at demi_init). CPU bounds are generous: the machine may be shared.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "helpers.h"

#define MS 1000000ull
#define PEER_DELAY_MS 4
#define ROUNDS 12

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

/* Mean CPU time (ns) per request over the last ROUNDS / 2 of ROUNDS requests to the slow peer,
 * each after a silence of 20 ms (longer than the spin, shorter than spin_max_us). */
static uint64_t cpu_per_request(void)
{
	struct sockaddr_in me, peer_addr = h_loopback(0);
	socklen_t len = sizeof(peer_addr);
	int ps = socket(AF_INET, SOCK_DGRAM, 0), qd;
	uint64_t cpu = 0;
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
		uint64_t c0;

		CHECK(sga.sga_numsegs == 1);
		memcpy(sga.sga_segs[0].sgaseg_buf, "request", 8);
		h_sleep_ms(20);
		c0 = h_thread_cpu_ns();
		CHECK_OK(demi_pushto(&qt, qd, &sga, H_SA(&peer_addr), sizeof(peer_addr)));
		CHECK_OK(demi_sgafree(&sga));
		h_wait(qt, DEMI_OPC_PUSH, NULL);
		CHECK_OK(demi_pop(&qt, qd));
		h_wait(qt, DEMI_OPC_POP, &qr);
		if (i >= ROUNDS / 2)
			cpu += h_thread_cpu_ns() - c0;
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
	}
	CHECK(sendto(ps, "quit", 4, 0, H_SA(&peer_addr), sizeof(peer_addr)) == 4);
	pthread_join(th, NULL);
	close(ps);
	CHECK_OK(demi_close(qd));
	return cpu / (ROUNDS - ROUNDS / 2);
}

/* CPU time (ns) of a 100 ms wait for a pop that does not come, right after issuing it
 * (*first) and then again with nothing happening in between (*second). */
static void idle_waits(uint64_t *first, uint64_t *second)
{
	struct sockaddr_in me;
	struct timespec ts;
	demi_qresult_t qr;
	demi_qtoken_t qt;
	int qd = h_udp_bind(&me);
	uint64_t c0;

	CHECK_OK(demi_pop(&qt, qd));
	c0 = h_thread_cpu_ns();
	CHECK_ERR(demi_wait(&qr, qt, h_ts(&ts, 100)), ETIMEDOUT);
	*first = h_thread_cpu_ns() - c0;
	c0 = h_thread_cpu_ns();
	CHECK_ERR(demi_wait(&qr, qt, h_ts(&ts, 100)), ETIMEDOUT);
	*second = h_thread_cpu_ns() - c0;
	CHECK_OK(demi_close(qd));
	CHECK_ERR(demi_wait(&qr, qt, h_ts(&ts, H_WAIT_MS)), 0);
}

struct run {
	const char *spin_us, *spin_max_us, *busy_poll;
	int what; /* 0 idle waits, 1 slow peer */
	uint64_t a, b;
};

static void *run_case(void *arg)
{
	struct run *r = arg;

	h_init();
	if (r->what == 0)
		idle_waits(&r->a, &r->b);
	else
		r->a = cpu_per_request();
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

int main(void)
{
	struct run spin = {"20000", "20000", "false", 0, 0, 0};
	struct run adapt = {"1000", "16000", "false", 1, 0, 0};
	struct run fixed = {"1000", "1000", "false", 1, 0, 0};
	struct run busy = {"0", "0", "true", 0, 0, 0};

	h_watchdog(60);
	unsetenv("CONFIG_PATH");
	if (getenv("LIBOS") == NULL || getenv("LIBOS")[0] == '\0')
		setenv("LIBOS", "catnap", 1);
	else if (strcmp(getenv("LIBOS"), "catnap") != 0)
		h_skip("this test is for catnap (LIBOS=%s)", getenv("LIBOS"));

	run(&spin);
	h_log("spin 20 ms: a 100 ms wait after a pop used %llu ms of CPU, the next one %llu ms",
	      (unsigned long long)(spin.a / MS), (unsigned long long)(spin.b / MS));
	CHECKF(spin.a >= 2 * MS && spin.a <= 60 * MS, "the wait after an operation did not spin "
						      "for about spin_us");
	CHECKF(spin.b < 2 * MS, "a wait with no work since the last one spun");

	run(&adapt);
	run(&fixed);
	h_log("peer answering after %d ms: %.2f ms of CPU per request with the budget adapting "
	      "(1 -> 16 ms), %.2f ms with a fixed 1 ms",
	      PEER_DELAY_MS, (double)adapt.a / MS, (double)fixed.a / MS);
	CHECKF(adapt.a > 3 * MS / 2 && adapt.a > 2 * fixed.a,
	       "the budget did not grow past the peer's delay");
	CHECKF(fixed.a < 2 * MS, "a fixed budget spun longer than spin_us");

	run(&busy);
	h_log("busy_poll: %llu ms of CPU in a 100 ms wait", (unsigned long long)(busy.a / MS));
	CHECKF(busy.a > 30 * MS, "busy_poll did not poll");
	h_log("PASS: waits spin for their budget, adapt it, and sleep");
	return H_EXIT_PASS;
}
