/* SPDX-License-Identifier: MIT */
/*
 * End of stream is never lost. The peer sends data and closes; this side's libOS takes in the
 * data and the FIN while (a) no pop is pending, (b) a pop is pending, (c) several pops are
 * pending, (d) the data is larger than one pop returns. The pops must return all the data, then
 * end of stream (0 bytes), and end of stream again for every later pop. One thread drives both
 * ends; a UDP pop that never completes is used to run the libOS without popping.
 */
#include <errno.h>
#include <stdlib.h>

#include "helpers.h"

enum mode { NO_POP, ONE_POP, THREE_POPS, BIG };

static void eof_case(int lqd, const struct sockaddr_in *addr, enum mode mode)
{
	size_t len = mode == BIG ? 300000 : 100;
	struct sockaddr_in ua;
	demi_qtoken_t dummy, pops[3];
	demi_qresult_t qr;
	uint8_t *buf;
	int a, b, u, npops = mode == ONE_POP ? 1 : mode == THREE_POPS ? 3 : 0;
	size_t got = 0;

	buf = malloc(len);
	CHECK(buf != NULL);
	h_tcp_pair(lqd, addr, &a, &b);
	u = h_udp_bind(&ua);
	CHECK_OK(demi_pop(&dummy, u));
	for (int i = 0; i < npops; i++)
		CHECK_OK(demi_pop(&pops[i], a));
	h_pattern_fill(buf, len, mode, 0);
	h_push_bytes(b, buf, len);
	CHECK_OK(demi_close(b));
	/* Run the libOS: it sees the data and the FIN. */
	h_wait_pending(dummy, 50);

	for (int i = 0; i < npops; i++) {
		size_t n;

		h_wait(pops[i], DEMI_OPC_POP, &qr);
		n = h_sga_len(&qr.qr_value.sga);
		CHECK(got + n <= len);
		if (n > 0)
			h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, n, mode, got);
		else
			CHECKF(got == len, "end of stream after %zu of %zu bytes", got, len);
		got += n;
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
	}
	if (got < len) {
		h_pop_exact(a, buf, len - got);
		h_pattern_check(buf, len - got, mode, got);
	}
	h_pop_eof(a);
	h_pop_eof(a);
	CHECK_OK(demi_close(a));
	CHECK_OK(demi_close(u));
	h_wait_failed(dummy, ECANCELED);
	h_check_idle("eof", 1);
	free(buf);
}

int main(void)
{
	static const char *const names[] = {"no pop pending", "one pop pending",
					    "three pops pending", "more than one pop"};
	struct sockaddr_in addr;
	int lqd;

	h_watchdog(60);
	h_init();
	lqd = h_tcp_listen(&addr, 8);
	for (int mode = NO_POP; mode <= BIG; mode++) {
		h_log("case: %s", names[mode]);
		eof_case(lqd, &addr, (enum mode)mode);
	}
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("end");
	h_log("PASS: end of stream");
	return H_EXIT_PASS;
}
