/* SPDX-License-Identifier: MIT */
/*
 * Semantics of demi_wait, demi_wait_any and demi_wait_next_n through the public API, with UDP
 * queues on loopback whose pops complete exactly when the test sends them a datagram:
 * timeouts (NULL, zero, short), tokens staying valid after ETIMEDOUT, early completion (an
 * operation that completed while the thread waited for something else), waiting for a later
 * token first, wait_any returning the lowest ready index, wait_next_n completion order and
 * capacity, pops completing in issue order, released and unknown tokens answering EINVAL.
 */
#include <errno.h>
#include <string.h>

#include "helpers.h"

#define NQ 3

static int sender, dummy, rq[NQ];
static struct sockaddr_in rq_addr[NQ], dummy_addr;
static demi_qtoken_t dummy_pop; /* never completes until the end */

/* Sends the 1-byte datagram `tag` to receiver queue i and waits for the push. */
static void send_tag(int i, char tag)
{
	demi_sgarray_t sga = h_sga_of(&tag, 1);
	demi_qtoken_t qt;

	CHECK_OK(demi_pushto(&qt, sender, &sga, H_SA(&rq_addr[i]), sizeof(rq_addr[i])));
	h_wait(qt, DEMI_OPC_PUSH, NULL);
}

/* Checks that qr is a pop of the 1-byte datagram `tag` on receiver i; frees it. */
static void check_tag(demi_qresult_t *qr, int i, char tag)
{
	CHECKF(qr->qr_opcode == DEMI_OPC_POP, "%s, qr_ret %lld", h_opcname(qr->qr_opcode),
	       (long long)qr->qr_ret);
	CHECKF(qr->qr_qd == rq[i], "qr_qd %d, expected %d", qr->qr_qd, rq[i]);
	CHECK(h_sga_len(&qr->qr_value.sga) == 1);
	CHECKF(*(char *)qr->qr_value.sga.sga_segs[0].sgaseg_buf == tag, "got '%c', expected '%c'",
	       *(char *)qr->qr_value.sga.sga_segs[0].sgaseg_buf, tag);
	CHECK_OK(demi_sgafree(&qr->qr_value.sga));
}

/* Runs the libOS for ms milliseconds by waiting for the never-completing pop. */
static void run_for(long ms)
{
	h_wait_pending(dummy_pop, ms);
}

static void test_timeouts(void)
{
	demi_qresult_t qr;
	struct timespec ts;
	demi_qtoken_t qt;
	uint64_t t0, dt;
	int ready = -1, n = -1;

	CHECK_OK(demi_pop(&qt, rq[0]));

	t0 = h_now_ns();
	CHECK_ERR(demi_wait(&qr, qt, h_ts(&ts, 0)), ETIMEDOUT);
	dt = h_now_ns() - t0;
	CHECKF(dt < 500000000ull, "a zero timeout took %llu ms",
	       (unsigned long long)(dt / 1000000));

	t0 = h_now_ns();
	CHECK_ERR(demi_wait(&qr, qt, h_ts(&ts, 50)), ETIMEDOUT);
	dt = h_now_ns() - t0;
	CHECKF(dt >= 45000000ull && dt < 2000000000ull, "a 50 ms timeout took %llu ms",
	       (unsigned long long)(dt / 1000000));

	t0 = h_now_ns();
	CHECK_ERR(demi_wait_any(&qr, &ready, &qt, 1, h_ts(&ts, 50)), ETIMEDOUT);
	dt = h_now_ns() - t0;
	CHECKF(dt >= 45000000ull && dt < 2000000000ull, "a 50 ms wait_any took %llu ms",
	       (unsigned long long)(dt / 1000000));

	t0 = h_now_ns();
	CHECK_ERR(demi_wait_next_n(&qr, 1, &n, h_ts(&ts, 50)), ETIMEDOUT);
	dt = h_now_ns() - t0;
	CHECK(n == 0);
	CHECKF(dt >= 45000000ull && dt < 2000000000ull, "a 50 ms wait_next_n took %llu ms",
	       (unsigned long long)(dt / 1000000));

	/* The token survived every ETIMEDOUT. */
	send_tag(0, 'a');
	CHECK_OK(demi_wait(&qr, qt, NULL));
	CHECK(qr.qr_qt == qt);
	check_tag(&qr, 0, 'a');
	/* Consumed: unknown now. */
	CHECK_ERR(demi_wait(&qr, qt, h_ts(&ts, 0)), EINVAL);
	CHECK_ERR(demi_wait(&qr, qt, NULL), EINVAL);
}

/* A completion from another thread (its own libOS) wakes a wait without timeout. */
static struct h_mailbox go_box = H_MAILBOX_INIT;

static void *late_sender(void *arg)
{
	struct sockaddr_in to = *(struct sockaddr_in *)arg;
	demi_sgarray_t sga;
	demi_qtoken_t qt;
	char tag = 'L';
	int qd;

	h_init();
	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0));
	h_mailbox_get(&go_box);
	h_sleep_ms(100);
	sga = h_sga_of(&tag, 1);
	CHECK_OK(demi_pushto(&qt, qd, &sga, H_SA(&to), sizeof(to)));
	h_wait(qt, DEMI_OPC_PUSH, NULL);
	CHECK_OK(demi_close(qd));
	h_check_no_leaks("late sender");
	return NULL;
}

static void test_null_timeout(void)
{
	demi_qresult_t qr;
	demi_qtoken_t qt;
	pthread_t t;
	uint64_t t0;

	CHECK_OK(demi_pop(&qt, rq[1]));
	t = h_thread_start(late_sender, &rq_addr[1]);
	h_mailbox_put(&go_box, 1);
	t0 = h_now_ns();
	CHECK_OK(demi_wait(&qr, qt, NULL));
	CHECK(h_now_ns() - t0 >= 50000000ull);
	check_tag(&qr, 1, 'L');
	h_thread_join(t);
}

static void test_early_completion(void)
{
	demi_qresult_t qr;
	struct timespec ts;
	demi_qtoken_t qt;

	/* Data already queued in the kernel before the pop is issued. */
	send_tag(0, 'e');
	h_sleep_ms(10);
	CHECK_OK(demi_pop(&qt, rq[0]));
	run_for(50);
	CHECK_OK(demi_wait(&qr, qt, h_ts(&ts, 0)));
	check_tag(&qr, 0, 'e');

	/* Pop issued first, data arrives while the thread waits for another token. */
	CHECK_OK(demi_pop(&qt, rq[0]));
	send_tag(0, 'f');
	run_for(50);
	CHECK_OK(demi_wait(&qr, qt, h_ts(&ts, 0)));
	check_tag(&qr, 0, 'f');
}

static void test_b_before_a(void)
{
	demi_qtoken_t a, b;
	demi_qresult_t qr;
	struct timespec ts;

	CHECK_OK(demi_pop(&a, rq[0]));
	CHECK_OK(demi_pop(&b, rq[1]));
	send_tag(0, 'A');
	send_tag(1, 'B');
	CHECK_OK(demi_wait(&qr, b, h_ts(&ts, H_WAIT_MS)));
	check_tag(&qr, 1, 'B');
	/* A's result was not lost while the thread waited for B. */
	CHECK_OK(demi_wait(&qr, a, h_ts(&ts, H_WAIT_MS)));
	check_tag(&qr, 0, 'A');

	/* Same with A completing only after B was asked for and timed out. */
	CHECK_OK(demi_pop(&a, rq[0]));
	CHECK_OK(demi_pop(&b, rq[1]));
	send_tag(0, 'C');
	h_wait_pending(b, 30);
	send_tag(1, 'D');
	CHECK_OK(demi_wait(&qr, b, h_ts(&ts, H_WAIT_MS)));
	check_tag(&qr, 1, 'D');
	CHECK_OK(demi_wait(&qr, a, h_ts(&ts, 0)));
	check_tag(&qr, 0, 'C');
}

static void test_wait_any(void)
{
	demi_qtoken_t t[NQ], qts[NQ + 1];
	demi_qresult_t qr;
	struct timespec ts;
	int ready;

	for (int i = 0; i < NQ; i++)
		CHECK_OK(demi_pop(&t[i], rq[i]));

	/* Nothing ready: ETIMEDOUT, all tokens stay valid. */
	CHECK_ERR(demi_wait_any(&qr, &ready, t, NQ, h_ts(&ts, 20)), ETIMEDOUT);

	for (int i = 0; i < NQ; i++)
		send_tag(i, (char)('0' + i));
	run_for(50); /* all three pops complete meanwhile */

	/* [pending, t2, t0, t1]: the lowest ready index is 1. */
	qts[0] = dummy_pop;
	qts[1] = t[2];
	qts[2] = t[0];
	qts[3] = t[1];
	ready = -1;
	CHECK_OK(demi_wait_any(&qr, &ready, qts, NQ + 1, h_ts(&ts, 0)));
	CHECKF(ready == 1, "ready_offset %d, expected 1", ready);
	CHECK(qr.qr_qt == t[2]);
	check_tag(&qr, 2, '2');

	/* t2 is released now: a set containing it is invalid, and nothing is consumed. */
	CHECK_ERR(demi_wait_any(&qr, &ready, qts, NQ + 1, h_ts(&ts, 0)), EINVAL);

	ready = -1;
	CHECK_OK(demi_wait_any(&qr, &ready, &qts[2], 2, h_ts(&ts, 0)));
	CHECKF(ready == 0, "ready_offset %d, expected 0", ready);
	check_tag(&qr, 0, '0');
	ready = -1;
	CHECK_OK(demi_wait_any(&qr, &ready, &qts[3], 1, NULL));
	CHECK(ready == 0);
	check_tag(&qr, 1, '1');
}

static void test_wait_next_n(void)
{
	demi_qresult_t qrs[8];
	struct timespec ts;
	demi_qtoken_t t[NQ];
	int n;

	/* Complete the pops in the order 2, 0, 1, with the libOS running in between. */
	for (int i = 0; i < NQ; i++)
		CHECK_OK(demi_pop(&t[i], rq[i]));
	send_tag(2, 'x');
	run_for(30);
	send_tag(0, 'y');
	run_for(30);
	send_tag(1, 'z');
	run_for(30);

	n = -1;
	CHECK_OK(demi_wait_next_n(qrs, 2, &n, h_ts(&ts, 0)));
	CHECKF(n == 2, "capacity 2 gave %d results", n);
	CHECK(qrs[0].qr_qt == t[2]);
	check_tag(&qrs[0], 2, 'x');
	CHECK(qrs[1].qr_qt == t[0]);
	check_tag(&qrs[1], 0, 'y');
	n = -1;
	CHECK_OK(demi_wait_next_n(qrs, 8, &n, h_ts(&ts, 0)));
	CHECKF(n == 1, "%d results, expected 1", n);
	CHECK(qrs[0].qr_qt == t[1]);
	check_tag(&qrs[0], 1, 'z');
	/* Only the never-completing pop is left. */
	n = -1;
	CHECK_ERR(demi_wait_next_n(qrs, 8, &n, h_ts(&ts, 20)), ETIMEDOUT);
	CHECK(n == 0);
	/* The results were released. */
	for (int i = 0; i < NQ; i++)
		CHECK_ERR(demi_wait(&qrs[0], t[i], h_ts(&ts, 0)), EINVAL);

	/* Capacity 1 with several ready: one at a time, oldest first. */
	for (int i = 0; i < NQ; i++)
		CHECK_OK(demi_pop(&t[i], rq[i]));
	for (int i = 0; i < NQ; i++) {
		send_tag(i, (char)('p' + i));
		run_for(20);
	}
	for (int i = 0; i < NQ; i++) {
		n = -1;
		CHECK_OK(demi_wait_next_n(qrs, 1, &n, h_ts(&ts, 0)));
		CHECK(n == 1);
		CHECK(qrs[0].qr_qt == t[i]);
		check_tag(&qrs[0], i, (char)('p' + i));
	}
}

/* Pops on one queue complete in the order they were issued, with the datagrams in order. */
static void test_pop_order(void)
{
	enum { N = 6 };
	demi_qtoken_t t[N];
	demi_qresult_t qr;
	struct timespec ts;

	for (int i = 0; i < N; i++)
		CHECK_OK(demi_pop(&t[i], rq[2]));
	for (int i = 0; i < N; i++)
		send_tag(2, (char)('a' + i));
	/* Waiting for the last one first: the earlier ones must be complete then. */
	CHECK_OK(demi_wait(&qr, t[N - 1], h_ts(&ts, H_WAIT_MS)));
	check_tag(&qr, 2, (char)('a' + N - 1));
	for (int i = 0; i < N - 1; i++) {
		CHECK_OK(demi_wait(&qr, t[i], h_ts(&ts, 0)));
		check_tag(&qr, 2, (char)('a' + i));
	}
}

static void test_unknown_tokens(void)
{
	static const demi_qtoken_t bogus[] = {0, 1, 0xdeadbeef, 0x8000000000000000ull, ~0ull};
	demi_qresult_t qr;
	struct timespec ts;
	demi_qtoken_t set[2];
	int ready;

	for (size_t i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
		if (bogus[i] == dummy_pop)
			continue;
		CHECK_ERR(demi_wait(&qr, bogus[i], h_ts(&ts, 0)), EINVAL);
		CHECK_ERR(demi_wait(&qr, bogus[i], NULL), EINVAL);
		set[0] = dummy_pop;
		set[1] = bogus[i];
		CHECK_ERR(demi_wait_any(&qr, &ready, set, 2, h_ts(&ts, 0)), EINVAL);
		CHECK_ERR(demi_wait_any(&qr, &ready, set, 2, NULL), EINVAL);
	}
	/* The valid token in those sets is still pending and valid. */
	h_wait_pending(dummy_pop, 1);
}

int main(void)
{
	struct sockaddr_in a;
	demi_qresult_t qr;
	struct timespec ts;

	h_watchdog(60);
	h_init();
	sender = h_udp_bind(&a);
	dummy = h_udp_bind(&dummy_addr);
	for (int i = 0; i < NQ; i++)
		rq[i] = h_udp_bind(&rq_addr[i]);
	CHECK_OK(demi_pop(&dummy_pop, dummy));

	test_timeouts();
	test_null_timeout();
	test_early_completion();
	test_b_before_a();
	test_wait_any();
	test_wait_next_n();
	test_pop_order();
	test_unknown_tokens();

	/* Finally complete the long-pending pop. */
	{
		char tag = 'Z';
		demi_sgarray_t sga = h_sga_of(&tag, 1);
		demi_qtoken_t qt;

		CHECK_OK(demi_pushto(&qt, sender, &sga, H_SA(&dummy_addr), sizeof(dummy_addr)));
		h_wait(qt, DEMI_OPC_PUSH, NULL);
		CHECK_OK(demi_wait(&qr, dummy_pop, h_ts(&ts, H_WAIT_MS)));
		CHECK(qr.qr_opcode == DEMI_OPC_POP && qr.qr_qd == dummy);
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
	}
	CHECK_OK(demi_close(sender));
	CHECK_OK(demi_close(dummy));
	for (int i = 0; i < NQ; i++)
		CHECK_OK(demi_close(rq[i]));
	h_check_no_leaks("end");
	h_log("PASS: wait semantics");
	return H_EXIT_PASS;
}
