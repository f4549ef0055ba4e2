/* SPDX-License-Identifier: MIT */
/*
 * nip_stack_next_deadline (stack.h): when the stack next needs a poll. Idle, it needs none; with
 * data in flight, its retransmission timeout; while ARP resolves an address, the next request;
 * with frames the device refused, at once. Driven through the TCP script harness (tcp_script.h).
 *
 * nip_stack_poll runs its tail (deferred ACKs, waiting output, ARP, reassembly and TCP timers)
 * only when a list holds work or the earliest timer is due: the _on_time tests poll one
 * nanosecond before and at each timer's deadline, with and without a frame arriving, and
 * check that the timer runs at the second poll and not at the first. After every poll the
 * deadline the poll left for the libOS (poll_due) must be nip_stack_next_deadline's.
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
#include "wire/checksum.h"
#include "wire/eth.h"

#define A NIP_TCP_ACK

static uint64_t deadline(const struct sc *sc)
{
	return nip_stack_next_deadline(sc->s);
}

/* tcp_peer's after_poll: what nip_stack_poll leaves in poll_due is the deadline. */
static void check_poll_due(struct tcp_peer *p, void *ctx)
{
	(void)ctx;
	assert_int_equal(p->s.poll_due, nip_stack_next_deadline(&p->s));
}

/* A poll at t; with a frame, a receiving pass: the peer's segment to a port nobody listens on
 * (answered with a reset, the connection untouched) arrives with it. */
static void poll_at(struct sc *sc, uint64_t t, bool frame)
{
	sc->p.now = t;
	if (frame) {
		sc_inject(sc, &(struct sc_pkt){.flags = A, .dport = 9, .seq = 1, .ack = 1});
		return;
	}
	nip_stack_poll(sc->s, t);
	check_poll_due(&sc->p, NULL);
}

/* The timer that counts into *fired is due at t: the poll one nanosecond before leaves it, the
 * poll at t runs it. */
static void fires_at(struct sc *sc, uint64_t t, const uint64_t *fired, bool frame)
{
	uint64_t before = *fired;

	assert_true(t > sc->p.now);
	poll_at(sc, t - 1, frame);
	assert_int_equal(*fired, before);
	poll_at(sc, t, frame);
	assert_int_equal(*fired, before + 1);
}

/* The first 8 bytes of a UDP datagram of 16, from the peer with identification id: held for
 * reassembly until the timeout. Arrives at the next poll. */
static void first_fragment(struct sc *sc, uint16_t id)
{
	struct nip_link *peer = nip_test_link(&sc->p.wire, 1);
	struct demi__buf *f = demi__pool_get(&sc->pool, NIP_ETH_HLEN + NIP_IP4_HLEN + 8);
	struct nip_ip4 ip = {.src = htonl(SC_IP_PEER),
			     .dst = htonl(SC_IP_STACK),
			     .proto = NIP_IPPROTO_UDP,
			     .ttl = 64,
			     .id = id};
	uint8_t *h;
	uint16_t csum;

	assert_non_null(f);
	h = demi__buf_data(f) + NIP_ETH_HLEN;
	nip_eth_emit(demi__buf_data(f), sc->p.wire.end[0].link.mac, peer->mac, NIP_ETHERTYPE_IPV4);
	nip_ip4_emit(h, &ip, 8, false);
	h[6] = 0x20; /* MF, offset 0, DF cleared */
	h[7] = 0;
	memset(h + 10, 0, 2);
	csum = nip_csum_fold(nip_csum_add(0, h, NIP_IP4_HLEN));
	memcpy(h + 10, &csum, 2);
	memset(h + NIP_IP4_HLEN, 0x11, 8);
	f->len = NIP_ETH_HLEN + NIP_IP4_HLEN + 8;
	assert_int_equal(peer->ops->tx_burst(peer->dev, &f, 1), 1);
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

	sc->p.after_poll = check_poll_due;
	sc->p.wire.faults.tx_per_poll = 1;
	assert_int_equal(sc_push(sc, c, 3 * 536), 0);
	nip_stack_flush(sc->s);
	assert_int_equal(deadline(sc), sc->p.now);
	poll_at(sc, sc->p.now, false); /* one more leaves; the poll's deadline stays now */
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

/* Every timer at once, on different deadlines: an ARP request to repeat and then to give up, a
 * retransmission timeout, a datagram under reassembly. Each runs at the poll at its deadline,
 * whether that poll receives a frame or not, though the polls before skipped the timers. */
static void test_stack_deadline_poll_on_time(void **state)
{
	struct sc *sc = *state;
	struct nip_stack *s = sc->s;
	const struct nip_stack_config *cfg = &s->cfg;
	struct nip_tcp_conn *c = sc->conn;
	struct nip_udp_sock u;
	const void *piece = "x";
	uint32_t len = 1;
	uint64_t t0 = sc->p.now, rto, reass;

	sc->p.after_poll = check_poll_due;
	nip_udp_sock_init(&u, s);
	assert_int_equal(nip_udp_send(&u, htonl(0x0a000009u), 7, &piece, &len, 1, NULL, NULL), 0);
	nip_stack_flush(s);
	poll_at(sc, t0 + 1 * MS, false);
	first_fragment(sc, 77);
	poll_at(sc, t0 + 2 * MS, true);
	assert_int_equal(s->cnt.ip4_frags_rx, 1);
	reass = t0 + 2 * MS + cfg->reass_timeout_ns;
	poll_at(sc, t0 + 50 * MS, false);
	assert_int_equal(sc_push(sc, c, 100), 0);
	nip_stack_flush(s);
	rto = t0 + 50 * MS + c->rto;
	assert_true(t0 + cfg->arp_retry_ns < rto);
	/* Frames come between the deadlines: receiving passes that skip the timers. */
	for (uint64_t t = t0 + 60 * MS; t < t0 + cfg->arp_retry_ns; t += 20 * MS)
		poll_at(sc, t, true);
	assert_int_equal(deadline(sc), t0 + cfg->arp_retry_ns);
	fires_at(sc, t0 + cfg->arp_retry_ns, &s->cnt.arp_requests_sent, true);
	assert_int_equal(deadline(sc), rto);
	fires_at(sc, rto, &s->cnt.tcp_rto_timeouts, false);
	/* The ACK stops the retransmissions; ARP goes on until it gives up. */
	sc_send(sc, A, 1, 101, 0);
	for (uint32_t i = 3; i <= cfg->arp_retries; i++)
		fires_at(sc, deadline(sc), &s->cnt.arp_requests_sent, i % 2);
	fires_at(sc, deadline(sc), &s->cnt.arp_failures, true);
	assert_int_equal(deadline(sc), reass);
	fires_at(sc, reass, &s->cnt.drop_ip4_frag_timeout, false);
	assert_int_equal(deadline(sc), UINT64_MAX);
	sc_flush(sc);
	nip_udp_close(&u);
	nip_tcp_setsockopt(c, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0}, sizeof(struct linger));
	nip_tcp_close(c);
}

/* A delayed ACK (RFC 9293 3.8.6.3) leaves at its timer's deadline, by a poll that received
 * nothing; the poll a nanosecond before sends nothing. */
static void test_stack_deadline_delack_on_time(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct sc *sc;
	uint32_t seq = 1;
	uint64_t t;

	cfg.tcp.delack = 40 * MS;
	sc = sc_start(state, &cfg);
	sc->p.after_poll = check_poll_due;
	sc->conn = sc_passive_open(sc, &sc_all_opts);
	for (int i = 0; i < 16; i++, seq += 10) /* past the quick ACKs of the start */
		sc_peer_data(sc, seq, 1, 10);
	sc_flush(sc);
	sc_send(sc, A | NIP_TCP_PSH, seq, 1, 10);
	t = sc->p.now;
	assert_int_equal(deadline(sc), t + 40 * MS);
	fires_at(sc, t + 40 * MS, &sc->s->cnt.tcp_tx, false);
	EXPECT(sc, A, 1, seq + 10, 0, 0);
	sc_close_rst(sc->conn);
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
		cmocka_unit_test_setup_teardown(test_stack_deadline_poll_on_time,
						sc_setup_active_plain, sc_teardown),
		cmocka_unit_test_teardown(test_stack_deadline_delack_on_time, sc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
