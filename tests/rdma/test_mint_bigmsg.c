/* SPDX-License-Identifier: MIT */
/*
 * Messages larger than one receive buffer (catmint.recv_buf_bytes, 8000 bytes by default) are
 * split into fragments and put back together: sizes on and around fragment boundaries, then
 * 1 MiB messages both ways at once (more fragments than the receive depth: credits must flow
 * back in the middle of a message), echoed without a copy by the receiver, and a 5 MiB
 * message (a pool buffer larger than the largest size class: a slab, and a memory region, of
 * its own). Every byte is checked; nothing leaks.
 */
#include "mint_test.h"

static void one_way(int from, int to, size_t len, uint64_t seed)
{
	demi_sgarray_t sga = h_sga_pattern((uint32_t)len, seed, 0);
	demi_qtoken_t qt;

	CHECK_OK(demi_push(&qt, from, &sga));
	CHECK_OK(demi_sgafree(&sga));
	mt_pop_check(to, len, seed);
	h_wait(qt, DEMI_OPC_PUSH, NULL);
}

int main(void)
{
	static const size_t sizes[] = {8000,  8001,	    15999, 16000,
				       16001, 3 * 8000 + 1, 65536, 500000};
	struct sockaddr_in addr;
	int lqd, c, s;

	h_watchdog(240);
	mt_init();
	lqd = mt_listen(&addr, 4);
	mt_pair(lqd, &addr, &c, &s);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		one_way(c, s, sizes[i], 10 + i);
		one_way(s, c, sizes[i], 20 + i);
	}
	/* 1 MiB both ways at once, the receiver echoing what it got. */
	for (int round = 0; round < 4; round++) {
		const uint32_t len = 1u << 20;
		demi_sgarray_t a = h_sga_pattern(len, 100 + (uint64_t)round, 0);
		demi_sgarray_t b = h_sga_pattern(len, 200 + (uint64_t)round, 0);
		demi_qtoken_t pa, pb, qa, qb, ea;
		demi_qresult_t qr;

		CHECK_OK(demi_pop(&qa, s));
		CHECK_OK(demi_pop(&qb, c));
		CHECK_OK(demi_push(&pa, c, &a));
		CHECK_OK(demi_push(&pb, s, &b));
		CHECK_OK(demi_sgafree(&a));
		CHECK_OK(demi_sgafree(&b));
		h_wait(qa, DEMI_OPC_POP, &qr);
		CHECK(h_sga_len(&qr.qr_value.sga) == len);
		h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, len, 100 + (uint64_t)round,
				0);
		CHECK_OK(demi_push(&ea, s, &qr.qr_value.sga)); /* echo the reassembled buffer */
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
		h_wait(qb, DEMI_OPC_POP, &qr);
		CHECK(h_sga_len(&qr.qr_value.sga) == len);
		h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, len, 200 + (uint64_t)round,
				0);
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
		mt_pop_check(c, len, 100 + (uint64_t)round);
		h_wait(pa, DEMI_OPC_PUSH, NULL);
		h_wait(pb, DEMI_OPC_PUSH, NULL);
		h_wait(ea, DEMI_OPC_PUSH, NULL);
	}
	one_way(c, s, 5u << 20, 300);
	h_check_idle("after the transfers", 3);
	CHECK_OK(demi_close(c));
	CHECK_OK(demi_close(s));
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("after close");
	return H_EXIT_PASS;
}
