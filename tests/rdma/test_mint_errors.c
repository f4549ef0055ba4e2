/* SPDX-License-Identifier: MIT */
/*
 * catmint's errors, each a clear errno and never a hang:
 *  - a connect to a port nobody listens on fails with ECONNREFUSED, and the same queue can
 *    then connect to a listener;
 *  - a connect to an address no RDMA device serves (127.0.0.1) fails on its token;
 *  - SOCK_DGRAM: ENOTSUP; push or pop before connecting: ENOTCONN; listen before bind:
 *    EDESTADDRREQ; accept on a queue that does not listen, push on a listener: EINVAL;
 *    connect twice: EISCONN;
 *  - a message larger than 65535 fragments: EMSGSIZE at demi_push (receive buffers of 256
 *    bytes here, so the limit is 16 MiB - 65535 bytes);
 *  - socket options: the TCP ones that mean nothing on RDMA are accepted, others refused.
 * Nothing leaks.
 */
#include <netinet/tcp.h>
#include <stdlib.h>

#include "mint_test.h"

int main(void)
{
	struct sockaddr_in addr, nobody, lo = h_loopback(4791);
	demi_qtoken_t qt;
	demi_qresult_t qr;
	int lqd, qd, c, s, one = 1, v;
	socklen_t len = sizeof(v);

	h_watchdog(120);
	setenv("CATMINT_RECV_BUF_BYTES", "256", 1);
	mt_init();

	CHECK_ERR(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0), ENOTSUP);
	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_STREAM, 0));
	demi_sgarray_t small = h_sga_pattern(10, 1, 0);
	CHECK_ERR(demi_push(&qt, qd, &small), ENOTCONN);
	CHECK_ERR(demi_pop(&qt, qd), ENOTCONN);
	CHECK_ERR(demi_listen(qd, 4), EDESTADDRREQ);
	CHECK_ERR(demi_accept(&qt, qd), EINVAL);
	CHECK_OK(demi_setsockopt(qd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
	CHECK_OK(demi_setsockopt(qd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	CHECK_ERR(demi_setsockopt(qd, IPPROTO_TCP, TCP_KEEPIDLE, &one, sizeof(one)), ENOPROTOOPT);
	CHECK_OK(demi_getsockopt(qd, SOL_SOCKET, SO_TYPE, &v, &len));
	CHECK(v == SOCK_STREAM);

	/* Nobody listens on this port: the peer's CM rejects the request. */
	lqd = mt_listen(&addr, 4);
	nobody = addr;
	nobody.sin_port = htons((uint16_t)(ntohs(addr.sin_port) ^ 0x5a5a));
	uint64_t t0 = h_now_ns();
	CHECK_OK(demi_connect(&qt, qd, H_SA(&nobody), sizeof(nobody)));
	h_wait_failed(qt, ECONNREFUSED);
	h_log("connect to a port nobody listens on: ECONNREFUSED after %.1f ms",
	      (h_now_ns() - t0) / 1e6);
	/* The queue starts over and may connect again. */
	CHECK_OK(demi_accept(&qt, lqd));
	demi_qtoken_t ct;
	CHECK_OK(demi_connect(&ct, qd, H_SA(&addr), sizeof(addr)));
	h_wait(ct, DEMI_OPC_CONNECT, NULL);
	h_wait(qt, DEMI_OPC_ACCEPT, &qr);
	s = qr.qr_value.ares.qd;
	CHECK_ERR(demi_connect(&ct, qd, H_SA(&addr), sizeof(addr)), EISCONN);
	CHECK_ERR(demi_push(&qt, lqd, &small), EINVAL);
	mt_push_wait(qd, &small);
	mt_pop_check(s, 10, 1);

	/* EMSGSIZE: 65535 fragments of 256 bytes at most. */
	size_t big = 65535u * 256u + 1;
	uint8_t *mem = malloc(big);
	CHECK(mem);
	demi_sgarray_t huge = h_sga_of(mem, (uint32_t)big);
	CHECK_ERR(demi_push(&qt, qd, &huge), EMSGSIZE);
	free(mem);
	CHECK_OK(demi_sgafree(&small));

	/* No RDMA device serves 127.0.0.1: the error comes on the token (or at the call). */
	CHECK_OK(demi_socket(&c, AF_INET, SOCK_STREAM, 0));
	int rc = demi_connect(&qt, c, H_SA(&lo), sizeof(lo));
	if (rc == 0) {
		struct timespec ts;

		CHECK_OK(demi_wait(&qr, qt, h_ts(&ts, H_WAIT_MS)));
		CHECKF(qr.qr_opcode == DEMI_OPC_FAILED, "connect to 127.0.0.1 over RDMA: %s",
		       h_opcname(qr.qr_opcode));
		rc = (int)qr.qr_ret;
	}
	h_log("connect to 127.0.0.1: %s", h_errname(rc));
	CHECK(rc != 0);

	CHECK_OK(demi_close(c));
	CHECK_OK(demi_close(qd));
	CHECK_OK(demi_close(s));
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("after the errors");
	return H_EXIT_PASS;
}
