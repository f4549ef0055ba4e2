/* SPDX-License-Identifier: MIT */
/*
 * catmint on a real RDMA device: message semantics, echo and ping-pong.
 *  - one push is one message and one pop returns exactly it, for sizes around the inline limit
 *    and up to one receive buffer, from pool memory (zero-copy) and from the application's own
 *    memory (inline or copied), reused at once after demi_push returns;
 *  - zero-copy echo: the server pushes back the very buffer it popped and frees it at once;
 *  - ping-pong: 2000 timed round trips of 64 bytes;
 *  - pipelining: 500 pushes issued without waiting (far more than the peer's receive
 *    buffers) all arrive in order and all complete;
 * then nothing has leaked.
 */
#include <stdlib.h>

#include "mint_test.h"

static const uint32_t sizes[] = {1, 63, 64, 100, 127, 128, 129, 1000, 4096, 7999, 8000};

static void test_sizes(int c, int s)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t len = sizes[i];
		demi_sgarray_t sga = h_sga_pattern(len, i, 0);
		uint8_t *mine = malloc(len);
		demi_sgarray_t foreign;

		CHECK(mine);
		/* Pool memory, freed right after the push: the push holds its own reference. */
		demi_qtoken_t qt;
		CHECK_OK(demi_push(&qt, c, &sga));
		CHECK_OK(demi_sgafree(&sga));
		mt_pop_check(s, len, i);
		h_wait(qt, DEMI_OPC_PUSH, NULL);
		/* Application memory, overwritten right after the push returned. */
		h_pattern_fill(mine, len, 100 + i, 0);
		foreign = h_sga_of(mine, len);
		CHECK_OK(demi_push(&qt, s, &foreign));
		memset(mine, 0xab, len);
		mt_pop_check(c, len, 100 + i);
		h_wait(qt, DEMI_OPC_PUSH, NULL);
		free(mine);
	}
}

static void test_zero_copy_echo(int c, int s)
{
	for (uint64_t i = 0; i < 200; i++) {
		uint32_t len = (uint32_t)(1 + i * 37 % 8000);
		demi_sgarray_t sga = h_sga_pattern(len, 1000 + i, 0);
		demi_qtoken_t qt, et;
		demi_qresult_t qr;

		CHECK_OK(demi_push(&qt, c, &sga));
		CHECK_OK(demi_sgafree(&sga));
		CHECK_OK(demi_pop(&et, s));
		h_wait(et, DEMI_OPC_POP, &qr);
		/* Echo the buffer the device wrote, and let go of it before the push is done. */
		sga = qr.qr_value.sga;
		CHECK_OK(demi_push(&et, s, &sga));
		CHECK_OK(demi_sgafree(&sga));
		mt_pop_check(c, len, 1000 + i);
		h_wait(qt, DEMI_OPC_PUSH, NULL);
		h_wait(et, DEMI_OPC_PUSH, NULL);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_pingpong(int c, int s)
{
	enum { N = 2000 };
	static uint64_t rtt[N];

	for (int i = 0; i < N; i++) {
		demi_sgarray_t sga = h_sga_pattern(64, (uint64_t)i, 0);
		demi_qtoken_t pt, qt, et;
		demi_qresult_t qr;
		uint64_t t0 = h_now_ns();

		CHECK_OK(demi_push(&pt, c, &sga));
		CHECK_OK(demi_pop(&qt, s));
		h_wait(qt, DEMI_OPC_POP, &qr);
		CHECK_OK(demi_push(&et, s, &qr.qr_value.sga));
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
		CHECK_OK(demi_pop(&qt, c));
		h_wait(qt, DEMI_OPC_POP, &qr);
		rtt[i] = h_now_ns() - t0;
		h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, 64, (uint64_t)i, 0);
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
		CHECK_OK(demi_sgafree(&sga));
		h_wait(pt, DEMI_OPC_PUSH, NULL);
		h_wait(et, DEMI_OPC_PUSH, NULL);
	}
	qsort(rtt, N, sizeof(rtt[0]), cmp_u64);
	h_log("ping-pong 64 B, one thread driving both ends: p50 %.1f us, p99 %.1f us",
	      rtt[N / 2] / 1e3, rtt[N * 99 / 100] / 1e3);
}

static void test_pipelined(int c, int s)
{
	enum { N = 500 };
	static demi_qtoken_t qts[N];

	for (int i = 0; i < N; i++) {
		demi_sgarray_t sga = h_sga_pattern(100 + (uint32_t)i, 5000 + (uint64_t)i, 0);

		CHECK_OK(demi_push(&qts[i], c, &sga));
		CHECK_OK(demi_sgafree(&sga));
	}
	for (int i = 0; i < N; i++)
		mt_pop_check(s, 100 + (size_t)i, 5000 + (uint64_t)i);
	for (int i = 0; i < N; i++)
		h_wait(qts[i], DEMI_OPC_PUSH, NULL);
}

int main(void)
{
	struct sockaddr_in addr;
	int lqd, c, s;

	h_watchdog(120);
	mt_init();
	lqd = mt_listen(&addr, 16);
	mt_pair(lqd, &addr, &c, &s);
	test_sizes(c, s);
	test_zero_copy_echo(c, s);
	test_pingpong(c, s);
	test_pipelined(c, s);
	h_check_idle("after the transfers", 3);
	CHECK_OK(demi_close(c));
	CHECK_OK(demi_close(s));
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("after close");
	return H_EXIT_PASS;
}
