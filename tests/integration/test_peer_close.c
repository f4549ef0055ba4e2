/* SPDX-License-Identifier: MIT */
/*
 * The peer closes while this side has operations pending. One thread drives both ends.
 *  - idle: pops pending on A when B closes: the first gets end of stream (0 bytes), the others
 *    end of stream or an error; later pushes on A eventually fail with EPIPE or ECONNRESET.
 *  - mid-transfer: A has pushes stalled on a full socket and a pop pending; B reads a little
 *    and closes with data unread (the kernel resets the connection): every pending operation
 *    of A completes (pushes FAILED with EPIPE/ECONNRESET or PUSH for those the kernel had
 *    already taken; the pop with end of stream or ECONNRESET), nothing hangs.
 * SIGPIPE is not ignored: the library must not raise it. Afterwards nothing has leaked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define CHUNK (64u << 10)
#define WINDOW 64

static bool is_reset(int64_t err)
{
	return err == EPIPE || err == ECONNRESET;
}

/* Checks a pop result after the peer closed: end of stream or a reset. */
static void check_pop_after_close(const demi_qresult_t *qr, int qd)
{
	CHECK(qr->qr_qd == qd);
	if (qr->qr_opcode == DEMI_OPC_POP) {
		size_t n = h_sga_len(&qr->qr_value.sga);
		demi_sgarray_t sga = qr->qr_value.sga;

		CHECKF(n == 0, "pop after the peer closed returned %zu bytes", n);
		CHECK_OK(demi_sgafree(&sga));
		return;
	}
	CHECKF(qr->qr_opcode == DEMI_OPC_FAILED, "pop completed with %s", h_opcname(qr->qr_opcode));
	CHECKF(qr->qr_ret == ECONNRESET || qr->qr_ret == EPIPE || qr->qr_ret == ENOTCONN,
	       "pop after the peer closed failed with %lld (%s)", (long long)qr->qr_ret,
	       h_errname((int)qr->qr_ret));
}

/* Pushes on a queue whose peer is gone until one fails; it must be EPIPE or ECONNRESET. */
static void push_until_failure(int qd)
{
	static uint8_t buf[1024];

	for (int i = 0; i < 100; i++) {
		demi_sgarray_t sga = h_sga_of(buf, sizeof(buf));
		demi_qresult_t qr;
		demi_qtoken_t qt;
		struct timespec ts;
		int rc;

		rc = demi_push(&qt, qd, &sga);
		CHECKF(rc == 0,
		       "push %d after the peer closed: demi_push returned %d (%s); the "
		       "error must come in qr_ret",
		       i, rc, h_errname(rc));
		CHECK_OK(demi_wait(&qr, qt, h_ts(&ts, H_WAIT_MS)));
		if (qr.qr_opcode == DEMI_OPC_FAILED) {
			CHECKF(is_reset(qr.qr_ret),
			       "push failed with %lld (%s), expected EPIPE or "
			       "ECONNRESET",
			       (long long)qr.qr_ret, h_errname((int)qr.qr_ret));
			h_log("push %d failed with %s", i, h_errname((int)qr.qr_ret));
			return;
		}
		CHECK(qr.qr_opcode == DEMI_OPC_PUSH);
		h_sleep_ms(5); /* let the reset come back */
	}
	h_fail(__FILE__, __LINE__, "push_until_failure", "100 pushes to a closed peer succeeded");
}

static void idle_case(int lqd, const struct sockaddr_in *addr)
{
	demi_qtoken_t pops[3];
	demi_qresult_t qr;
	int a, b;

	h_tcp_pair(lqd, addr, &a, &b);
	for (int i = 0; i < 3; i++)
		CHECK_OK(demi_pop(&pops[i], a));
	h_wait_pending(pops[0], 50);
	CHECK_OK(demi_close(b));

	h_wait(pops[0], DEMI_OPC_POP, &qr);
	check_pop_after_close(&qr, a);
	for (int i = 1; i < 3; i++) {
		struct timespec ts;

		CHECK_OK(demi_wait(&qr, pops[i], h_ts(&ts, H_WAIT_MS)));
		check_pop_after_close(&qr, a);
	}
	push_until_failure(a);
	CHECK_OK(demi_close(a));
	h_check_idle("idle", 1);
}

static void midtransfer_case(int lqd, const struct sockaddr_in *addr)
{
	demi_qtoken_t qts[WINDOW], pop;
	demi_qresult_t qr;
	int a, b, completed = 0, failed = 0;

	h_tcp_pair(lqd, addr, &a, &b);
	{
		/* Small buffers, so that the window below is sure to stall. */
		int sz = 64 << 10;

		CHECK_OK(demi_setsockopt(a, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)));
		CHECK_OK(demi_setsockopt(b, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)));
	}
	CHECK_OK(demi_pop(&pop, a));

	/* Fill until the pushes stall. */
	for (int i = 0; i < WINDOW; i++) {
		demi_sgarray_t sga = h_sga_pattern(CHUNK, 3, (uint64_t)i * CHUNK);

		CHECK_OK(demi_push(&qts[i], a, &sga));
		CHECK_OK(demi_sgafree(&sga));
	}
	h_wait_pending(qts[WINDOW - 1], 200);
	h_wait_pending(pop, 1);

	/* B reads a little, then closes with data unread. */
	{
		demi_qtoken_t qt;

		CHECK_OK(demi_pop(&qt, b));
		h_wait(qt, DEMI_OPC_POP, &qr);
		CHECK(h_sga_len(&qr.qr_value.sga) > 0);
		h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, h_sga_len(&qr.qr_value.sga),
				3, 0);
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
	}
	CHECK_OK(demi_close(b));

	for (int i = 0; i < WINDOW; i++) {
		struct timespec ts;
		int rc = demi_wait(&qr, qts[i], h_ts(&ts, H_WAIT_MS));

		CHECKF(rc == 0, "push %d did not complete after the peer closed: %d (%s)", i, rc,
		       h_errname(rc));
		if (qr.qr_opcode == DEMI_OPC_FAILED) {
			CHECKF(is_reset(qr.qr_ret), "push %d failed with %lld (%s)", i,
			       (long long)qr.qr_ret, h_errname((int)qr.qr_ret));
			failed++;
		} else {
			CHECKF(qr.qr_opcode == DEMI_OPC_PUSH, "push %d: %s", i,
			       h_opcname(qr.qr_opcode));
			CHECKF(failed == 0, "push %d completed after an earlier push failed", i);
			completed++;
		}
	}
	h_log("mid-transfer: %d pushes completed, %d failed", completed, failed);
	CHECKF(failed > 0, "no push failed although the peer reset the connection");
	{
		struct timespec ts;

		CHECK_OK(demi_wait(&qr, pop, h_ts(&ts, H_WAIT_MS)));
		check_pop_after_close(&qr, a);
	}
	push_until_failure(a);
	CHECK_OK(demi_close(a));
	h_check_idle("mid-transfer", 1);
}

int main(void)
{
	struct sockaddr_in addr;
	int fds0, lqd;

	h_watchdog(60);
	fds0 = h_count_fds();
	h_init();
	lqd = h_tcp_listen(&addr, 8);
	for (int round = 0; round < 3; round++) {
		idle_case(lqd, &addr);
		midtransfer_case(lqd, &addr);
	}
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("end");
	/* The libOS itself may keep descriptors (epoll); no socket may be left. */
	CHECKF(h_count_fds() <= fds0 + 4, "%d descriptors open, %d at start", h_count_fds(), fds0);
	h_log("PASS: peer close");
	return H_EXIT_PASS;
}
