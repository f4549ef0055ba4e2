/* SPDX-License-Identifier: MIT */
/*
 * Several 1 MiB messages over TCP, byte-exact, to a receiver thread with its own libOS.
 *  - pool: each message is a demi_sgaalloc buffer, freed right after demi_push returns;
 *  - heap: all messages come from one malloc buffer that is overwritten with the next message
 *    right after each demi_push returns, while the earlier pushes may still be pending; this
 *    only works if the library copied the data it could not send at once;
 *  - stream order across both: the receiver checks the whole byte stream against the pattern.
 * Socket buffers are small so that pushes cannot complete at once.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define MSG (1u << 20)
#define NMSG 8
#define SEED 42

static struct h_mailbox port_box = H_MAILBOX_INIT;
static const int small_buf = 64 << 10;

static void *receiver_main(void *arg)
{
	struct sockaddr_in addr;
	uint64_t off = 0;
	int lqd, qd;

	(void)arg;
	h_init();
	lqd = h_tcp_listen(&addr, 4);
	/* Small socket buffers (inherited by the accepted queue): no 1 MiB push can be handed
	 * to the kernel at once, so pushes stay pending and application memory must be copied. */
	CHECK_OK(demi_setsockopt(lqd, SOL_SOCKET, SO_RCVBUF, &small_buf, sizeof(small_buf)));
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
		CHECK(qr.qr_value.sga.sga_numsegs == 1);
		h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, n, SEED, off);
		off += n;
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
	}
	CHECKF(off == 2ull * NMSG * MSG, "received %llu bytes, expected %llu",
	       (unsigned long long)off, 2ull * NMSG * MSG);
	CHECK_OK(demi_close(qd));
	h_check_no_leaks("receiver");
	return NULL;
}

int main(void)
{
	demi_qtoken_t qts[NMSG];
	struct sockaddr_in addr;
	uint64_t off = 0;
	pthread_t receiver;
	uint8_t *heap;
	int qd;

	h_watchdog(120);
	receiver = h_thread_start(receiver_main, NULL);
	h_init();
	addr = h_loopback((uint16_t)h_mailbox_get(&port_box));
	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_STREAM, 0));
	CHECK_OK(demi_setsockopt(qd, SOL_SOCKET, SO_SNDBUF, &small_buf, sizeof(small_buf)));
	CHECK_OK(demi_connect(&qts[0], qd, H_SA(&addr), sizeof(addr)));
	h_wait(qts[0], DEMI_OPC_CONNECT, NULL);

	/* Zero-copy pushes of pool buffers, all in flight together, freed at once. */
	for (int i = 0; i < NMSG; i++) {
		demi_sgarray_t sga = h_sga_pattern(MSG, SEED, off);

		CHECK_OK(demi_push(&qts[i], qd, &sga));
		CHECK_OK(demi_sgafree(&sga));
		off += MSG;
	}
	for (int i = 0; i < NMSG; i++)
		h_wait(qts[i], DEMI_OPC_PUSH, NULL);

	/* Pushes of one malloc buffer, rewritten after every push while pushes are pending. */
	heap = malloc(MSG);
	CHECK(heap != NULL);
	h_pattern_fill(heap, MSG, SEED, off);
	for (int i = 0; i < NMSG; i++) {
		demi_sgarray_t sga = h_sga_of(heap, MSG);

		CHECK_OK(demi_push(&qts[i], qd, &sga));
		off += MSG;
		if (i + 1 < NMSG)
			h_pattern_fill(heap, MSG, SEED, off);
		else
			memset(heap, 0xa5, MSG);
	}
	for (int i = 0; i < NMSG; i++)
		h_wait(qts[i], DEMI_OPC_PUSH, NULL);
	free(heap);

	/* All pushes completed: the kernel has the data, closing now still delivers it. */
	CHECK_OK(demi_close(qd));
	h_thread_join(receiver);
	h_check_no_leaks("sender");
	h_log("PASS: %d MiB sent byte-exact", 2 * NMSG);
	return H_EXIT_PASS;
}
