/* SPDX-License-Identifier: MIT */
/*
 * Accept/close churn: CYCLES connect/accept/close cycles on one listener, driven by this thread.
 * The cycles vary: who closes first, whether a byte is exchanged, whether a pop is left pending
 * at close (it must complete with ECANCELED), whether the accept is issued before or after the
 * connect. Every 1000 cycles and at the end, the process's descriptor count must be back at its
 * start value and the libOS must hold no buffer, task or extra queue.
 */
#include <errno.h>
#include <stdlib.h>

#include "helpers.h"

#define CYCLES 10000

static void cycle(int lqd, const struct sockaddr_in *addr, int i)
{
	demi_qtoken_t at, ct, pt;
	demi_qresult_t qr;
	int c, s;

	CHECK_OK(demi_socket(&c, AF_INET, SOCK_STREAM, 0));
	if (i % 2 == 0) {
		CHECK_OK(demi_accept(&at, lqd));
		CHECK_OK(demi_connect(&ct, c, H_SA(addr), sizeof(*addr)));
	} else {
		CHECK_OK(demi_connect(&ct, c, H_SA(addr), sizeof(*addr)));
		CHECK_OK(demi_accept(&at, lqd));
	}
	h_wait(ct, DEMI_OPC_CONNECT, NULL);
	h_wait(at, DEMI_OPC_ACCEPT, &qr);
	s = qr.qr_value.ares.qd;

	switch (i % 4) {
	case 0: /* one byte each way, client closes first */
		h_push_bytes(c, "x", 1);
		{
			char b;

			h_pop_exact(s, &b, 1);
			CHECK(b == 'x');
			h_push_bytes(s, "y", 1);
			h_pop_exact(c, &b, 1);
			CHECK(b == 'y');
		}
		CHECK_OK(demi_close(c));
		h_pop_eof(s);
		CHECK_OK(demi_close(s));
		break;
	case 1: /* server closes first */
		CHECK_OK(demi_close(s));
		h_pop_eof(c);
		CHECK_OK(demi_close(c));
		break;
	case 2: /* a pop is pending on the server when it closes */
		CHECK_OK(demi_pop(&pt, s));
		CHECK_OK(demi_close(s));
		h_wait_failed(pt, ECANCELED);
		CHECK_OK(demi_close(c));
		break;
	default: /* both close at once, without waiting for anything */
		CHECK_OK(demi_close(c));
		CHECK_OK(demi_close(s));
		break;
	}
}

int main(void)
{
	struct sockaddr_in addr;
	int fds_start, fds_init, lqd;
	uint64_t t0;

	h_watchdog(200);
	fds_start = h_count_fds();
	h_init();
	lqd = h_tcp_listen(&addr, 64);
	fds_init = h_count_fds();
	h_check_idle("start", 1);

	t0 = h_now_ns();
	for (int i = 1; i <= CYCLES; i++) {
		cycle(lqd, &addr, i);
		if (i % 1000 == 0) {
			int fds = h_count_fds();

			CHECKF(fds == fds_init, "after %d cycles: %d descriptors open, %d before",
			       i, fds, fds_init);
			h_check_idle("cycles", 1);
		}
	}
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("end");
	/* Only what demi_init itself opened (e.g. an epoll descriptor) may remain. */
	CHECKF(h_count_fds() == fds_init - 1,
	       "%d descriptors open after closing the listener, "
	       "%d with it",
	       h_count_fds(), fds_init);
	h_log("PASS: %d cycles in %.2f s (%d descriptors before demi_init, %d after)", CYCLES,
	      (double)(h_now_ns() - t0) / 1e9, fds_start, fds_init - 1);
	return H_EXIT_PASS;
}
