/* SPDX-License-Identifier: MIT */
/*
 * 64 catmint connections at once: 64 connects and 64 accepts in flight together (the
 * handshakes interleave on one rdma_cm channel, the QPs share one completion queue, which
 * grows as they come), then messages on every connection both ways with all pops posted
 * before any push, checked per connection; then everything closes and nothing has leaked.
 */
#include "mint_test.h"

#define NCONN 64
#define MSGS 10

int main(void)
{
	static demi_qtoken_t cts[NCONN], ats[NCONN], pops[2 * NCONN], pushes[2 * NCONN];
	static int cq[NCONN], sq[NCONN];
	static bool seen[NCONN];
	struct sockaddr_in addr;
	int lqd;

	h_watchdog(240);
	mt_init();
	lqd = mt_listen(&addr, NCONN);
	for (int i = 0; i < NCONN; i++) {
		CHECK_OK(demi_socket(&cq[i], AF_INET, SOCK_STREAM, 0));
		CHECK_OK(demi_accept(&ats[i], lqd));
		CHECK_OK(demi_connect(&cts[i], cq[i], H_SA(&addr), sizeof(addr)));
	}
	for (int i = 0; i < NCONN; i++) {
		demi_qresult_t qr;

		h_wait(cts[i], DEMI_OPC_CONNECT, NULL);
		h_wait(ats[i], DEMI_OPC_ACCEPT, &qr);
		sq[i] = qr.qr_value.ares.qd;
	}
	/* Which server queue belongs to which client: the client says its index. */
	int pair_of[NCONN];
	for (int i = 0; i < NCONN; i++) {
		uint32_t idx = (uint32_t)i;
		demi_sgarray_t sga = h_sga_of(&idx, sizeof(idx));

		mt_push_wait(cq[i], &sga);
	}
	for (int j = 0; j < NCONN; j++) {
		demi_qresult_t qr;
		demi_qtoken_t qt;
		uint32_t idx;

		CHECK_OK(demi_pop(&qt, sq[j]));
		h_wait(qt, DEMI_OPC_POP, &qr);
		CHECK(h_sga_len(&qr.qr_value.sga) == sizeof(idx));
		memcpy(&idx, qr.qr_value.sga.sga_segs[0].sgaseg_buf, sizeof(idx));
		CHECK(idx < NCONN && !seen[idx]);
		seen[idx] = true;
		pair_of[idx] = sq[j];
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
	}
	for (int m = 0; m < MSGS; m++) {
		for (int i = 0; i < NCONN; i++) {
			CHECK_OK(demi_pop(&pops[2 * i], pair_of[i]));
			CHECK_OK(demi_pop(&pops[2 * i + 1], cq[i]));
		}
		for (int i = 0; i < NCONN; i++) {
			uint32_t len = 1 + (uint32_t)((i * 131 + m * 977) % 12000);
			demi_sgarray_t a = h_sga_pattern(len, (uint64_t)(i * 100 + m), 0);
			demi_sgarray_t b = h_sga_pattern(len + 1, (uint64_t)(i * 100 + m + 50), 0);

			CHECK_OK(demi_push(&pushes[2 * i], cq[i], &a));
			CHECK_OK(demi_push(&pushes[2 * i + 1], pair_of[i], &b));
			CHECK_OK(demi_sgafree(&a));
			CHECK_OK(demi_sgafree(&b));
		}
		for (int i = 0; i < NCONN; i++) {
			uint32_t len = 1 + (uint32_t)((i * 131 + m * 977) % 12000);
			demi_qresult_t qr;

			h_wait(pops[2 * i], DEMI_OPC_POP, &qr);
			CHECK(h_sga_len(&qr.qr_value.sga) == len);
			h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, len,
					(uint64_t)(i * 100 + m), 0);
			CHECK_OK(demi_sgafree(&qr.qr_value.sga));
			h_wait(pops[2 * i + 1], DEMI_OPC_POP, &qr);
			CHECK(h_sga_len(&qr.qr_value.sga) == len + 1);
			h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, len + 1,
					(uint64_t)(i * 100 + m + 50), 0);
			CHECK_OK(demi_sgafree(&qr.qr_value.sga));
			h_wait(pushes[2 * i], DEMI_OPC_PUSH, NULL);
			h_wait(pushes[2 * i + 1], DEMI_OPC_PUSH, NULL);
		}
	}
	h_check_idle("64 connections idle", 2 * NCONN + 1);
	for (int i = 0; i < NCONN; i++) {
		CHECK_OK(demi_close(cq[i]));
		CHECK_OK(demi_close(sq[i]));
	}
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("after closing 64 connections");
	return H_EXIT_PASS;
}
