/* SPDX-License-Identifier: MIT */
/*
 * demi_sgafree right after demi_push: the library holds its own reference, so the data must
 * arrive intact even though the application immediately allocates new buffers (which would
 * reuse the memory if the pushed buffer had really been released) and scribbles over them.
 * TCP and UDP, one thread driving both ends; afterwards no buffer is left in use.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define N 64

static void scribble(int count, uint32_t len)
{
	demi_sgarray_t junk[N];

	/* Take buffers of the same size: a prematurely released one would be handed out here. */
	for (int i = 0; i < count; i++) {
		junk[i] = demi_sgaalloc(len);
		CHECK(junk[i].sga_numsegs == 1);
		memset(junk[i].sga_segs[0].sgaseg_buf, 0xee, len);
	}
	for (int i = 0; i < count; i++)
		CHECK_OK(demi_sgafree(&junk[i]));
}

static void tcp_case(uint32_t len)
{
	struct sockaddr_in addr;
	demi_qtoken_t qts[N];
	uint8_t *back;
	int lqd, c, s;

	lqd = h_tcp_listen(&addr, 4);
	h_tcp_pair(lqd, &addr, &c, &s);
	for (int i = 0; i < N; i++) {
		demi_sgarray_t sga = h_sga_pattern(len, len, (uint64_t)i * len);

		CHECK_OK(demi_push(&qts[i], c, &sga));
		CHECK_OK(demi_sgafree(&sga));
		scribble(4, len);
	}
	back = calloc(N, len);
	CHECK(back != NULL);
	h_pop_exact(s, back, (size_t)N * len);
	h_pattern_check(back, (size_t)N * len, len, 0);
	free(back);
	for (int i = 0; i < N; i++)
		h_wait(qts[i], DEMI_OPC_PUSH, NULL);
	CHECK_OK(demi_close(c));
	CHECK_OK(demi_close(s));
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("tcp");
}

static void udp_case(uint32_t len)
{
	/* Datagrams wait in the receiver's socket buffer until popped: keep a group small. */
	int group = len > 9000 ? 1 : 8;
	struct sockaddr_in a_addr, b_addr;
	demi_qtoken_t qts[N];
	int a, b;

	a = h_udp_bind(&a_addr);
	b = h_udp_bind(&b_addr);
	for (int g = 0; g < N; g += group) {
		for (int i = g; i < g + group; i++) {
			demi_sgarray_t sga = h_sga_pattern(len, (uint64_t)i, 0);

			CHECK_OK(demi_pushto(&qts[i], a, &sga, H_SA(&b_addr), sizeof(b_addr)));
			CHECK_OK(demi_sgafree(&sga));
			scribble(4, len);
		}
		for (int i = g; i < g + group; i++) {
			demi_qresult_t qr;
			demi_qtoken_t qt;

			CHECK_OK(demi_pop(&qt, b));
			h_wait(qt, DEMI_OPC_POP, &qr);
			CHECKF(h_sga_len(&qr.qr_value.sga) == len, "datagram %d: %zu bytes", i,
			       h_sga_len(&qr.qr_value.sga));
			/* Loopback keeps datagram order. */
			h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, len, (uint64_t)i,
					0);
			CHECK(qr.qr_value.sga.sga_addr.sin_port == a_addr.sin_port);
			CHECK_OK(demi_sgafree(&qr.qr_value.sga));
		}
	}
	for (int i = 0; i < N; i++)
		h_wait(qts[i], DEMI_OPC_PUSH, NULL);
	CHECK_OK(demi_close(a));
	CHECK_OK(demi_close(b));
	h_check_no_leaks("udp");
}

int main(void)
{
	static const uint32_t sizes[] = {1, 64, 1500, 2048, 9000, 65507, 65536};

	h_watchdog(60);
	h_init();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		tcp_case(sizes[i]);
		if (sizes[i] <= 65507)
			udp_case(sizes[i]);
	}
	h_log("PASS: early frees");
	return H_EXIT_PASS;
}
