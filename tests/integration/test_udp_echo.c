/* SPDX-License-Identifier: MIT */
/*
 * UDP echo between two threads, each with its own libOS. The server pops one datagram at a time
 * and sends it back with demi_pushto to the sender found in sga_addr. The client checks that
 * every echo is exactly one datagram of the size sent (1 B to 65507 B, the largest UDP payload),
 * byte-exact, coming from the server's address; half of the run uses demi_pushto on an unbound
 * queue, the other half demi_connect + demi_push.
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "helpers.h"

#define QUIT_LEN 3

static struct h_mailbox port_box = H_MAILBOX_INIT;

static void *server_main(void *arg)
{
	struct sockaddr_in addr;
	unsigned int echoed = 0;
	int qd;

	(void)arg;
	h_init();
	qd = h_udp_bind(&addr);
	h_mailbox_put(&port_box, ntohs(addr.sin_port));

	for (;;) {
		demi_qresult_t qr;
		demi_qtoken_t qt;
		struct sockaddr_in from;
		size_t n;

		CHECK_OK(demi_pop(&qt, qd));
		h_wait(qt, DEMI_OPC_POP, &qr);
		CHECK(qr.qr_qd == qd);
		CHECK(qr.qr_value.sga.sga_numsegs == 1);
		n = h_sga_len(&qr.qr_value.sga);
		from = qr.qr_value.sga.sga_addr;
		CHECK(from.sin_family == AF_INET);
		CHECK(from.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
		CHECK(from.sin_port != 0);
		if (n == QUIT_LEN &&
		    memcmp(qr.qr_value.sga.sga_segs[0].sgaseg_buf, "bye", QUIT_LEN) == 0) {
			CHECK_OK(demi_sgafree(&qr.qr_value.sga));
			break;
		}
		CHECK_OK(demi_pushto(&qt, qd, &qr.qr_value.sga, H_SA(&from), sizeof(from)));
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
		h_wait(qt, DEMI_OPC_PUSH, NULL);
		echoed++;
	}
	h_log("server: echoed %u datagrams", echoed);
	CHECK_OK(demi_close(qd));
	h_check_no_leaks("server");
	return NULL;
}

/* Sends one datagram of len bytes and checks its echo. */
static void echo_one(int qd, const struct sockaddr_in *server, bool connected, size_t len,
		     uint64_t seed, bool pool)
{
	demi_sgarray_t sga;
	demi_qresult_t qr;
	demi_qtoken_t qt;
	uint8_t *heap = NULL;

	if (pool) {
		sga = h_sga_pattern((uint32_t)len, seed, 0);
	} else {
		heap = malloc(len);
		CHECK(heap != NULL);
		h_pattern_fill(heap, len, seed, 0);
		sga = h_sga_of(heap, (uint32_t)len);
	}
	if (connected)
		CHECK_OK(demi_push(&qt, qd, &sga));
	else
		CHECK_OK(demi_pushto(&qt, qd, &sga, H_SA(server), sizeof(*server)));
	if (pool)
		CHECK_OK(demi_sgafree(&sga));
	else
		memset(heap, 0, len); /* the library copied it if it needed to */
	h_wait(qt, DEMI_OPC_PUSH, NULL);
	free(heap);

	CHECK_OK(demi_pop(&qt, qd));
	h_wait(qt, DEMI_OPC_POP, &qr);
	CHECKF(qr.qr_value.sga.sga_numsegs == 1, "%u segments", qr.qr_value.sga.sga_numsegs);
	CHECKF(h_sga_len(&qr.qr_value.sga) == len, "echo of %zu bytes has %zu", len,
	       h_sga_len(&qr.qr_value.sga));
	h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, len, seed, 0);
	CHECK(qr.qr_value.sga.sga_addr.sin_family == AF_INET);
	CHECK(qr.qr_value.sga.sga_addr.sin_port == server->sin_port);
	CHECK(qr.qr_value.sga.sga_addr.sin_addr.s_addr == server->sin_addr.s_addr);
	CHECK_OK(demi_sgafree(&qr.qr_value.sga));
}

int main(void)
{
	static const size_t sizes[] = {1,    2,	   17,	 64,   512,   1024,  1472,  1473,
				       1500, 4096, 8192, 9000, 16384, 32768, 65000, 65507};
	struct sockaddr_in server;
	demi_qtoken_t qt;
	pthread_t thread;
	uint64_t seed = 1;
	int qd;

	h_watchdog(60);
	thread = h_thread_start(server_main, NULL);
	h_init();
	server = h_loopback((uint16_t)h_mailbox_get(&port_box));

	/* Unbound queue: the first pushto gives it an ephemeral port. */
	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0));
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			echo_one(qd, &server, false, sizes[i], seed++, round == 0);
	CHECK_OK(demi_close(qd));

	/* Connected queue: demi_push goes to the default destination. */
	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0));
	CHECK_OK(demi_connect(&qt, qd, H_SA(&server), sizeof(server)));
	h_wait(qt, DEMI_OPC_CONNECT, NULL);
	{
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);

		CHECK_OK(demi_getpeername(qd, (struct sockaddr *)&peer, &len));
		CHECK(peer.sin_port == server.sin_port);
	}
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			echo_one(qd, &server, true, sizes[i], seed++, round == 0);
	h_push_bytes(qd, "bye", QUIT_LEN);
	CHECK_OK(demi_close(qd));

	h_thread_join(thread);
	h_check_no_leaks("client");
	h_log("PASS: udp echo of %llu datagrams", (unsigned long long)(seed - 1));
	return H_EXIT_PASS;
}
