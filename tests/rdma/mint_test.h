/* SPDX-License-Identifier: MIT */
/*
 * Shared by catmint's device tests (tests/rdma/test_mint_*.c): on top of the integration
 * helpers (exit 0/1/77, CHECK, h_wait...), addresses on the RDMA interface and connected pairs.
 * The tests run inside the soft-RoCE guest (vm.sh), where RDMA_IP names the address of the
 * interface carrying the RDMA device; one thread drives both ends of every connection through
 * one libOS instance, as rdma_cm connects a device to itself.
 */
#ifndef TESTS_RDMA_MINT_TEST_H
#define TESTS_RDMA_MINT_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* RDMA_IP:port; skips the test when RDMA_IP is not set (not inside the RDMA guest). */
static inline struct sockaddr_in mt_addr(uint16_t port)
{
	const char *ip = getenv("RDMA_IP");
	struct sockaddr_in a;

	if (!ip || !*ip)
		h_skip("RDMA_IP is not set: run me through tests/rdma/vm.sh (soft-RoCE guest)");
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	CHECKF(inet_pton(AF_INET, ip, &a.sin_addr) == 1, "RDMA_IP=%s is not an IPv4 address", ip);
	return a;
}

/* demi_init with LIBOS=catmint (set here unless the environment says otherwise). */
static inline void mt_init(void)
{
	setenv("LIBOS", "catmint", 0);
	h_init();
}

/* A listening queue on RDMA_IP with an ephemeral port; its address in *addr. */
static inline int mt_listen(struct sockaddr_in *addr, int backlog)
{
	struct sockaddr_in a = mt_addr(0);
	socklen_t len = sizeof(*addr);
	int qd;

	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_STREAM, 0));
	CHECK_OK(demi_bind(qd, H_SA(&a), sizeof(a)));
	CHECK_OK(demi_listen(qd, backlog));
	CHECK_OK(demi_getsockname(qd, (struct sockaddr *)addr, &len));
	CHECK(addr->sin_port != 0);
	return qd;
}

/* A connected pair through listener lqd, both ends driven by this thread. */
static inline void mt_pair(int lqd, const struct sockaddr_in *addr, int *cqd, int *sqd)
{
	demi_qtoken_t ct, at;
	demi_qresult_t qr;
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);

	CHECK_OK(demi_socket(cqd, AF_INET, SOCK_STREAM, 0));
	CHECK_OK(demi_accept(&at, lqd));
	CHECK_OK(demi_connect(&ct, *cqd, H_SA(addr), sizeof(*addr)));
	h_wait(ct, DEMI_OPC_CONNECT, NULL);
	h_wait(at, DEMI_OPC_ACCEPT, &qr);
	*sqd = qr.qr_value.ares.qd;
	CHECK(*sqd >= 0 && *sqd != lqd && *sqd != *cqd);
	CHECK(qr.qr_value.ares.addr.sin_family == AF_INET);
	CHECK(qr.qr_value.ares.addr.sin_addr.s_addr == addr->sin_addr.s_addr);
	CHECK_OK(demi_getpeername(*cqd, (struct sockaddr *)&peer, &len));
	CHECK(peer.sin_addr.s_addr == addr->sin_addr.s_addr && peer.sin_port == addr->sin_port);
}

/* Pushes sga on qd and waits for the push. */
static inline void mt_push_wait(int qd, const demi_sgarray_t *sga)
{
	demi_qtoken_t qt;

	CHECK_OK(demi_push(&qt, qd, sga));
	h_wait(qt, DEMI_OPC_PUSH, NULL);
}

/* Pops one message from qd; checks it is len bytes of the pattern (seed) and frees it. */
static inline void mt_pop_check(int qd, size_t len, uint64_t seed)
{
	demi_qresult_t qr;
	demi_qtoken_t qt;

	CHECK_OK(demi_pop(&qt, qd));
	h_wait(qt, DEMI_OPC_POP, &qr);
	CHECK(qr.qr_value.sga.sga_numsegs == 1);
	CHECKF(h_sga_len(&qr.qr_value.sga) == len, "popped %zu bytes, expected %zu (one message)",
	       h_sga_len(&qr.qr_value.sga), len);
	h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, len, seed, 0);
	CHECK_OK(demi_sgafree(&qr.qr_value.sga));
}

#endif
