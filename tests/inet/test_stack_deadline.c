/* SPDX-License-Identifier: MIT */
/*
 * nip_stack_next_deadline (stack.h): when the stack next needs a poll. Idle, it needs none; with
 * data in flight, its retransmission timeout; while ARP resolves an address, the next request;
 * with frames the device refused, at once. Driven through the TCP script harness (tcp_script.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "tcp_script.h"
#include "udp.h"

#define A NIP_TCP_ACK

static uint64_t deadline(const struct sc *sc)
{
	return nip_stack_next_deadline(sc->s);
}

static void test_stack_deadline_idle(void **state)
{
	struct sc *sc = *state;

	assert_int_equal(deadline(sc), UINT64_MAX);
	sc_listen(sc, 16); /* a listener has no timer */
	sc_wait(sc, 10 * SEC);
	assert_int_equal(deadline(sc), UINT64_MAX);
}

/* Unacknowledged data: the deadline is the RTO (200 ms after the send, from the handshake's
 * 10 ms sample); the ACK takes it away. The peer offers no SACK: no tail loss probe first. */
static void test_stack_deadline_rto(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	uint64_t t;

	assert_int_equal(deadline(sc), UINT64_MAX);
	assert_int_equal(sc_push(sc, c, 100), 0);
	t = EXPECT(sc, A, 1, 1, 100, 0)->t;
	assert_int_equal(c->rto, 200 * MS);
	assert_int_equal(deadline(sc), t + 200 * MS);
	sc_wait(sc, 50 * MS);
	assert_int_equal(deadline(sc), t + 200 * MS);
	/* Run to it: the retransmission leaves exactly then, and the backed-off RTO follows. */
	sc_at(sc, deadline(sc));
	assert_int_equal(EXPECT(sc, A, 1, 1, 100, 0)->t, t + 200 * MS);
	assert_int_equal(deadline(sc), t + 600 * MS);
	sc_send(sc, A, 1, 101, 0);
	assert_int_equal(deadline(sc), UINT64_MAX);
	sc_flush(sc);
	nip_tcp_setsockopt(c, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0}, sizeof(struct linger));
	nip_tcp_close(c);
}

/* A datagram to an address not in the ARP cache: the deadline is the next request, every
 * arp_retry_ns, until ARP gives up. */
static void test_stack_deadline_arp_retry(void **state)
{
	struct sc *sc = *state;
	const struct nip_stack_config *cfg = &sc->s->cfg;
	struct nip_udp_sock u;
	const void *piece = "x";
	uint32_t len = 1;
	uint64_t t = sc->p.now;

	nip_udp_sock_init(&u, sc->s);
	assert_int_equal(nip_udp_send(&u, htonl(0x0a000009u), 7, &piece, &len, 1, NULL, NULL), 0);
	nip_stack_flush(sc->s);
	assert_int_equal(sc->s->cnt.arp_requests_sent, 1);
	assert_int_equal(deadline(sc), t + cfg->arp_retry_ns);
	for (uint32_t i = 2; i <= cfg->arp_retries; i++) {
		t = deadline(sc);
		sc_at(sc, t);
		assert_int_equal(sc->s->cnt.arp_requests_sent, i);
		assert_int_equal(deadline(sc), t + cfg->arp_retry_ns);
	}
	sc_at(sc, deadline(sc));
	assert_int_equal(sc->s->cnt.arp_failures, 1);
	assert_int_equal(deadline(sc), UINT64_MAX);
	sc_flush(sc);
	nip_udp_close(&u);
}

/* Frames the device refused wait in the stack for the next poll: that is due at once. */
static void test_stack_deadline_device_full(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	sc->p.wire.faults.tx_per_poll = 1;
	assert_int_equal(sc_push(sc, c, 3 * 536), 0);
	nip_stack_flush(sc->s);
	assert_int_equal(deadline(sc), sc->p.now);
	sc->p.wire.faults.tx_per_poll = 0;
	sc_wait(sc, 0);
	assert_int_equal(deadline(sc), sc->p.now + c->rto);
	EXPECT(sc, A, 1, 1, 536, 0);
	EXPECT(sc, A, 537, 1, 536, 0);
	EXPECT(sc, A, 1073, 1, 536, 0);
	sc_send(sc, A, 1, 1 + 3 * 536, 0);
	assert_int_equal(deadline(sc), UINT64_MAX);
	nip_tcp_setsockopt(c, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0}, sizeof(struct linger));
	nip_tcp_close(c);
	sc_flush(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stack_deadline_idle, sc_setup, sc_teardown),
		cmocka_unit_test_setup_teardown(test_stack_deadline_rto, sc_setup_active_plain,
						sc_teardown),
		cmocka_unit_test_setup_teardown(test_stack_deadline_arp_retry, sc_setup,
						sc_teardown),
		cmocka_unit_test_setup_teardown(test_stack_deadline_device_full,
						sc_setup_active_plain, sc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
