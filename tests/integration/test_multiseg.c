/* SPDX-License-Identifier: MIT */
/*
 * Multi-segment scatter-gather arrays (only when DEMI_SGARRAY_MAXSIZE > 1, else skipped): one
 * push of several segments is one stream write (TCP: the bytes arrive concatenated, in segment
 * order) or one datagram (UDP: a single pop returns all segments' bytes). Segments mix pool
 * buffers and application memory, which is overwritten right after the push.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#if DEMI_SGARRAY_MAXSIZE > 1

#define NSEG (DEMI_SGARRAY_MAXSIZE < 4 ? DEMI_SGARRAY_MAXSIZE : 4)

/* Builds an array of NSEG segments holding the pattern of `seed` from offset 0. */
static demi_sgarray_t build(uint64_t seed, const uint32_t *lens, demi_sgarray_t *pool,
			    uint8_t **heap)
{
	demi_sgarray_t sga;
	uint64_t off = 0;

	memset(&sga, 0, sizeof(sga));
	sga.sga_numsegs = NSEG;
	for (int i = 0; i < NSEG; i++) {
		if (i % 2 == 0) {
			pool[i] = h_sga_pattern(lens[i], seed, off);
			sga.sga_segs[i] = pool[i].sga_segs[0];
		} else {
			heap[i] = malloc(lens[i]);
			CHECK(heap[i] != NULL);
			h_pattern_fill(heap[i], lens[i], seed, off);
			sga.sga_segs[i].sgaseg_buf = heap[i];
			sga.sga_segs[i].sgaseg_len = lens[i];
		}
		off += lens[i];
	}
	return sga;
}

static void release(const uint32_t *lens, demi_sgarray_t *pool, uint8_t **heap)
{
	for (int i = 0; i < NSEG; i++) {
		if (i % 2 == 0) {
			CHECK_OK(demi_sgafree(&pool[i]));
		} else {
			memset(heap[i], 0, lens[i]);
			free(heap[i]);
		}
	}
}

static void tcp_case(int lqd, const struct sockaddr_in *addr, const uint32_t *lens)
{
	demi_sgarray_t pool[NSEG];
	uint8_t *heap[NSEG], *back;
	demi_sgarray_t sga;
	demi_qtoken_t qt;
	size_t total = 0;
	int c, s;

	for (int i = 0; i < NSEG; i++)
		total += lens[i];
	h_tcp_pair(lqd, addr, &c, &s);
	sga = build(11, lens, pool, heap);
	CHECK_OK(demi_push(&qt, c, &sga));
	release(lens, pool, heap);
	h_wait(qt, DEMI_OPC_PUSH, NULL);
	back = malloc(total);
	CHECK(back != NULL);
	h_pop_exact(s, back, total);
	h_pattern_check(back, total, 11, 0);
	free(back);
	CHECK_OK(demi_close(c));
	CHECK_OK(demi_close(s));
}

static void udp_case(const uint32_t *lens)
{
	struct sockaddr_in a_addr, b_addr;
	demi_sgarray_t pool[NSEG];
	uint8_t *heap[NSEG];
	demi_sgarray_t sga;
	demi_qresult_t qr;
	demi_qtoken_t qt;
	size_t total = 0;
	int a, b;

	for (int i = 0; i < NSEG; i++)
		total += lens[i];
	a = h_udp_bind(&a_addr);
	b = h_udp_bind(&b_addr);
	sga = build(12, lens, pool, heap);
	CHECK_OK(demi_pushto(&qt, a, &sga, H_SA(&b_addr), sizeof(b_addr)));
	release(lens, pool, heap);
	h_wait(qt, DEMI_OPC_PUSH, NULL);
	CHECK_OK(demi_pop(&qt, b));
	h_wait(qt, DEMI_OPC_POP, &qr);
	CHECKF(h_sga_len(&qr.qr_value.sga) == total, "one datagram of %zu bytes expected, got %zu",
	       total, h_sga_len(&qr.qr_value.sga));
	CHECK(qr.qr_value.sga.sga_numsegs == 1);
	h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, total, 12, 0);
	CHECK_OK(demi_sgafree(&qr.qr_value.sga));
	/* Nothing else arrived: the segments were not sent as separate datagrams. */
	CHECK_OK(demi_pop(&qt, b));
	h_wait_pending(qt, 50);
	CHECK_OK(demi_close(b));
	h_wait_failed(qt, ECANCELED);
	CHECK_OK(demi_close(a));
}

int main(void)
{
	static const uint32_t lens_small[4] = {1, 2, 3, 4};
	static const uint32_t lens_mixed[4] = {1000, 1, 9000, 4096};
	static const uint32_t lens_big[4] = {16384, 16384, 16384, 16000};
	struct sockaddr_in addr;
	int lqd;

	h_watchdog(60);
	h_init();
	lqd = h_tcp_listen(&addr, 4);
	tcp_case(lqd, &addr, lens_small);
	tcp_case(lqd, &addr, lens_mixed);
	tcp_case(lqd, &addr, lens_big);
	CHECK_OK(demi_close(lqd));
	udp_case(lens_small);
	udp_case(lens_mixed);
	udp_case(lens_big);
	h_check_no_leaks("end");
	h_log("PASS: multi-segment arrays (%d segments)", NSEG);
	return H_EXIT_PASS;
}

#else

int main(void)
{
	h_skip("DEMI_SGARRAY_MAXSIZE is %d: multi-segment arrays are not built in",
	       DEMI_SGARRAY_MAXSIZE);
}

#endif
