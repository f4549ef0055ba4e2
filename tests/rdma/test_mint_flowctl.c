/* SPDX-License-Identifier: MIT */
/*
 * Credit-based flow control against a slow receiver, with catmint.rq_depth 8 and
 * catmint.rnr_retry 0: a SEND that found no receive posted would end the connection at once
 * (RNR retry exceeded), so any overrun fails this test.
 *  - 100 pushes issued while the receiver pops nothing: exactly rq_depth - 1 complete (the
 *    last credit is kept for credit messages), the others stay pending;
 *  - the receiver then pops slowly, one message every few milliseconds: every message
 *    arrives, in order, and every push completes;
 *  - 12 messages of 256 KiB (33 fragments each, far more than 8 receive buffers) to a
 *    receiver that does not pop at first: again DEPTH - 1 complete, then all of them.
 */
#include <time.h>

#include "mint_test.h"

#define DEPTH 8
#define N 100

/* Takes every completed token of qts (marking done[]); returns how many are done. */
static int reap(demi_qtoken_t *qts, bool *done, int n)
{
	struct timespec zero = {0, 0};
	int count = 0;

	for (int i = 0; i < n; i++) {
		demi_qresult_t qr;

		if (!done[i]) {
			int rc = demi_wait(&qr, qts[i], &zero);

			CHECKF(rc == 0 || rc == ETIMEDOUT, "demi_wait: %s", h_errname(rc));
			if (rc == 0) {
				CHECKF(qr.qr_opcode == DEMI_OPC_PUSH, "push %d: %s %s", i,
				       h_opcname(qr.qr_opcode), h_errname((int)qr.qr_ret));
				done[i] = true;
			}
		}
		count += done[i];
	}
	return count;
}

int main(void)
{
	static demi_qtoken_t qts[N];
	static bool done[N];
	struct sockaddr_in addr;
	int lqd, c, s, n;

	h_watchdog(240);
	setenv("CATMINT_RQ_DEPTH", "8", 1);
	setenv("CATMINT_RNR_RETRY", "0", 1);
	mt_init();
	lqd = mt_listen(&addr, 4);
	mt_pair(lqd, &addr, &c, &s);

	for (int i = 0; i < N; i++) {
		demi_sgarray_t sga = h_sga_pattern(4000, (uint64_t)i, 0);

		CHECK_OK(demi_push(&qts[i], c, &sga));
		CHECK_OK(demi_sgafree(&sga));
	}
	/* Let the device do all it can: only the receiver's posted buffers may be filled. */
	for (int k = 0; k < 30; k++) {
		h_sleep_ms(10);
		n = reap(qts, done, N);
	}
	CHECKF(n == DEPTH - 1,
	       "%d pushes completed with a receiver that pops nothing, "
	       "expected %d",
	       n, DEPTH - 1);
	for (int i = 0; i < N; i++) {
		mt_pop_check(s, 4000, (uint64_t)i);
		if (i % 10 == 0)
			h_sleep_ms(5);
		reap(qts, done, N);
	}
	for (int k = 0; k < 1000 && reap(qts, done, N) < N; k++)
		h_sleep_ms(1);
	CHECKF(reap(qts, done, N) == N, "not every push completed");

	/* Large messages (33 fragments each) to a receiver that pops late: fragments flow (their
	 * buffers are reposted as soon as copied), but each whole message holds one receive until
	 * it is popped, so again only DEPTH - 1 messages get through. */
	enum { NBIG = 12, BIG = 256u << 10 };
	static demi_qtoken_t big[NBIG];
	static bool big_done[NBIG];
	for (int i = 0; i < NBIG; i++) {
		demi_sgarray_t sga = h_sga_pattern(BIG, 500 + (uint64_t)i, 0);

		CHECK_OK(demi_push(&big[i], c, &sga));
		CHECK_OK(demi_sgafree(&sga));
	}
	for (int k = 0; k < 50; k++) {
		h_sleep_ms(10);
		n = reap(big, big_done, NBIG);
	}
	CHECKF(n == DEPTH - 1,
	       "%d large pushes completed with a receiver that pops nothing, "
	       "expected %d",
	       n, DEPTH - 1);
	for (int i = 0; i < NBIG; i++)
		mt_pop_check(s, BIG, 500 + (uint64_t)i);
	for (int k = 0; k < 1000 && reap(big, big_done, NBIG) < NBIG; k++)
		h_sleep_ms(1);
	CHECKF(reap(big, big_done, NBIG) == NBIG, "not every large push completed");

	h_check_idle("after the slow receiver", 3);
	CHECK_OK(demi_close(c));
	CHECK_OK(demi_close(s));
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("after close");
	return H_EXIT_PASS;
}
