/* SPDX-License-Identifier: MIT */
/*
 * An idle wait must sleep in the kernel, not spin: waiting 300 ms for a pop that does not
 * complete (TCP and UDP), for an accept nobody connects to, through demi_wait, demi_wait_any
 * and demi_wait_next_n, must cost the thread less than 30% of 300 ms of CPU time. Runs on
 * catnap with its default (non-busy-polling) configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define WAIT_MS 300
#define MAX_CPU_PERCENT 30

enum how { WAIT, WAIT_ANY, WAIT_NEXT_N };

static void idle(const char *what, demi_qtoken_t qt, enum how how)
{
	uint64_t cpu0, t0, cpu, dt;
	demi_qresult_t qr;
	struct timespec ts;
	int rc, ready, n;

	t0 = h_now_ns();
	cpu0 = h_thread_cpu_ns();
	switch (how) {
	case WAIT:
		rc = demi_wait(&qr, qt, h_ts(&ts, WAIT_MS));
		break;
	case WAIT_ANY:
		rc = demi_wait_any(&qr, &ready, &qt, 1, h_ts(&ts, WAIT_MS));
		break;
	default:
		rc = demi_wait_next_n(&qr, 1, &n, h_ts(&ts, WAIT_MS));
		break;
	}
	cpu = h_thread_cpu_ns() - cpu0;
	dt = h_now_ns() - t0;
	CHECK_ERR(rc, ETIMEDOUT);
	CHECKF(dt >= (WAIT_MS - 5) * 1000000ull, "%s: returned after %llu ms", what,
	       (unsigned long long)(dt / 1000000));
	h_log("%s: %llu ms of CPU in %llu ms", what, (unsigned long long)(cpu / 1000000),
	      (unsigned long long)(dt / 1000000));
	CHECKF(cpu * 100 < (uint64_t)WAIT_MS * 1000000ull * MAX_CPU_PERCENT,
	       "%s: the idle wait used %llu ms of CPU in %d ms: the libOS spins", what,
	       (unsigned long long)(cpu / 1000000), WAIT_MS);
}

int main(void)
{
	static const char *const hows[] = {"wait", "wait_any", "wait_next_n"};
	struct sockaddr_in addr, uaddr;
	demi_qtoken_t tpop, upop, acc;
	int lqd, c, s, u;

	h_watchdog(60);
	/* The default configuration (no busy polling), whatever engine CATNAP_ENGINE picks. */
	unsetenv("CONFIG_PATH");
	unsetenv("DEMIKERNEL_BUSY_POLL");
	if (getenv("LIBOS") == NULL || getenv("LIBOS")[0] == '\0')
		setenv("LIBOS", "catnap", 1);
	else if (strcmp(getenv("LIBOS"), "catnap") != 0)
		h_skip("this test is for catnap (LIBOS=%s)", getenv("LIBOS"));
	h_init();

	lqd = h_tcp_listen(&addr, 4);
	h_tcp_pair(lqd, &addr, &c, &s);
	u = h_udp_bind(&uaddr);

	CHECK_OK(demi_pop(&tpop, s));
	for (int how = WAIT; how <= WAIT_NEXT_N; how++) {
		char what[64];

		snprintf(what, sizeof(what), "tcp pop, %s", hows[how]);
		idle(what, tpop, (enum how)how);
	}
	CHECK_OK(demi_pop(&upop, u));
	CHECK_OK(demi_accept(&acc, lqd));
	for (int how = WAIT; how <= WAIT_NEXT_N; how++) {
		char what[64];

		snprintf(what, sizeof(what), "udp pop + accept, %s", hows[how]);
		idle(what, how == WAIT_ANY ? acc : upop, (enum how)how);
	}

	CHECK_OK(demi_close(c));
	CHECK_OK(demi_close(s));
	CHECK_OK(demi_close(u));
	CHECK_OK(demi_close(lqd));
	{
		demi_qresult_t qrs[4];
		struct timespec ts;
		int n, got = 0;

		while (got < 3) {
			CHECK_OK(demi_wait_next_n(qrs, 4, &n, h_ts(&ts, H_WAIT_MS)));
			for (int i = 0; i < n; i++) {
				CHECK(qrs[i].qr_opcode == DEMI_OPC_FAILED ||
				      qrs[i].qr_opcode == DEMI_OPC_POP);
				if (qrs[i].qr_opcode == DEMI_OPC_POP)
					CHECK_OK(demi_sgafree(&qrs[i].qr_value.sga));
			}
			got += n;
		}
		CHECK(got == 3);
	}
	h_check_no_leaks("end");
	h_log("PASS: idle waits sleep");
	return H_EXIT_PASS;
}
