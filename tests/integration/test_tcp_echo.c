/* SPDX-License-Identifier: MIT */
/*
 * TCP echo between two threads, each with its own libOS. The server echoes every popped array
 * back by pushing it as it is (a zero-copy push of a pop buffer) and freeing it at once; the
 * client sends messages of 1 B to 64 KiB from pool buffers, from the stack and from malloc
 * memory, and checks every echoed byte.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static struct h_mailbox port_box = H_MAILBOX_INIT;

static void *server_main(void *arg)
{
	struct sockaddr_in addr;
	size_t echoed = 0;
	int lqd, qd;

	(void)arg;
	h_init();
	lqd = h_tcp_listen(&addr, 16);
	h_mailbox_put(&port_box, ntohs(addr.sin_port));
	qd = h_tcp_accept(lqd);
	CHECK_OK(demi_close(lqd));

	for (;;) {
		demi_qresult_t qr;
		demi_qtoken_t qt;
		size_t n;

		CHECK_OK(demi_pop(&qt, qd));
		h_wait(qt, DEMI_OPC_POP, &qr);
		n = h_sga_len(&qr.qr_value.sga);
		if (n == 0) {
			CHECK_OK(demi_sgafree(&qr.qr_value.sga));
			break;
		}
		CHECK_OK(demi_push(&qt, qd, &qr.qr_value.sga));
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
		h_wait(qt, DEMI_OPC_PUSH, NULL);
		echoed += n;
	}
	h_log("server: echoed %zu bytes", echoed);
	CHECK_OK(demi_close(qd));
	h_check_no_leaks("server");
	return NULL;
}

enum src { SRC_POOL, SRC_STACK, SRC_HEAP };

static void echo_one(int qd, size_t len, uint64_t seed, enum src src)
{
	static uint8_t stack_like[65536];
	uint8_t *back = malloc(len);
	demi_qtoken_t qt;

	CHECK(back != NULL);
	if (src == SRC_POOL) {
		demi_sgarray_t sga = h_sga_pattern((uint32_t)len, seed, 0);

		CHECK_OK(demi_push(&qt, qd, &sga));
		h_wait(qt, DEMI_OPC_PUSH, NULL);
		CHECK_OK(demi_sgafree(&sga));
	} else if (src == SRC_STACK && len <= 4096) {
		uint8_t buf[4096];

		h_pattern_fill(buf, len, seed, 0);
		h_push_bytes(qd, buf, len);
	} else {
		uint8_t *buf = src == SRC_HEAP ? malloc(len) : stack_like;

		CHECK(buf != NULL);
		h_pattern_fill(buf, len, seed, 0);
		h_push_bytes(qd, buf, len);
		if (src == SRC_HEAP)
			free(buf);
	}
	h_pop_exact(qd, back, len);
	h_pattern_check(back, len, seed, 0);
	free(back);
}

int main(void)
{
	static const size_t sizes[] = {1,    2,	   3,	  7,	 64,	100,   511,
				       1000, 1448, 1460,  1500,	 4095,	4096,  4097,
				       8192, 9000, 16384, 32768, 65000, 65535, 65536};
	struct sockaddr_in addr;
	pthread_t server;
	uint64_t seed = 1;
	int qd;

	h_watchdog(60);
	server = h_thread_start(server_main, NULL);
	h_init();
	addr = h_loopback((uint16_t)h_mailbox_get(&port_box));
	qd = h_tcp_connect(&addr);

	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			for (int src = SRC_POOL; src <= SRC_HEAP; src++)
				echo_one(qd, sizes[i], seed++, (enum src)src);

	/* Many small messages in flight at once: stream order must hold. */
	{
		enum { N = 64, LEN = 100 };
		demi_qtoken_t qts[N];
		uint8_t back[N * LEN];

		for (int i = 0; i < N; i++) {
			demi_sgarray_t sga = h_sga_pattern(LEN, 999, (uint64_t)i * LEN);

			CHECK_OK(demi_push(&qts[i], qd, &sga));
			CHECK_OK(demi_sgafree(&sga));
		}
		for (int i = 0; i < N; i++)
			h_wait(qts[i], DEMI_OPC_PUSH, NULL);
		h_pop_exact(qd, back, sizeof(back));
		h_pattern_check(back, sizeof(back), 999, 0);
	}

	CHECK_OK(demi_close(qd));
	h_thread_join(server);
	h_check_no_leaks("client");
	h_log("PASS: tcp echo of %llu messages", (unsigned long long)(seed - 1));
	return H_EXIT_PASS;
}
