/* SPDX-License-Identifier: MIT */
/*
 * Packet-level scripts against catnip's TCP (tcp_script.h): one stack under test, the test as
 * its peer crafting every segment and checking every segment the stack sends, on a virtual
 * clock. Handshakes and option negotiation, SYN retries, RST in every state with RFC 5961's
 * challenge ACKs, retransmission backoff, fast retransmit and SACK recovery, persist probes,
 * every FIN ordering and TIME-WAIT, delayed and quick ACKs, PAWS, malformed options, resets
 * for closed ports, listen queue overflow, aborts, keepalive, tail loss probes and receive
 * autotuning.
 *
 * Each test starts from a fixture (tcp_script.h: a bare stack, a listener, or an established
 * connection opened actively or passively, with every option or none) or, when it needs its own
 * configuration, from sc_start; the teardown asserts that no connection and no buffer is left.
 * Sequence numbers are relative: the stack's first data byte and the peer's are both 1.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "tcp_script.h"

#define A NIP_TCP_ACK
#define S NIP_TCP_SYN
#define F NIP_TCP_FIN
#define R NIP_TCP_RST
#define P NIP_TCP_PSH

/* A connection of the stack ends exactly at t: until t - 1 nothing is sent and n + 1
 * connections are left, at t n. */
static void ends_at(struct sc *sc, uint64_t t, uint32_t n)
{
	EXPECT_NOTHING(sc, t - 1 - sc->p.now);
	assert_int_equal(sc->s->tcp.nconns, n + 1);
	sc_at(sc, t);
	assert_int_equal(sc->s->tcp.nconns, n);
}

/* ---- handshakes ---- */

static void test_tcp_script_passive_all_options(void **state)
{
	struct sc *sc = *state;
	uint32_t syn_tsval = sc_peer_tsval(sc);
	struct nip_tcp_conn *c;
	struct sc_seg *g;
	int st;

	sc_send_syn(sc, &sc_all_opts, false);
	g = EXPECT(sc, S | A, 0, 1, 0, 0);
	assert_true(g->opt.has_mss);
	assert_int_equal(g->opt.mss, 1460);
	assert_true(g->opt.has_wscale);
	/* The shift reaches the 4 MiB that receive autotuning may grow the buffer to. */
	assert_int_equal(g->opt.wscale, 7);
	assert_true(g->opt.sack_ok);
	assert_true(g->opt.has_ts);
	assert_int_equal(g->opt.tsecr, syn_tsval);
	assert_int_equal(g->win, 65535); /* a SYN's window is never scaled */
	assert_int_equal(sc->s->cnt.tcp_passive_opens, 1);
	sc->ts = sc->ws = sc->sack = true;
	sc->peer_ws = 7;
	sc_send(sc, A, 1, 1, 0);
	assert_true(sc->listener_events & NIP_TCP_EV_ACCEPTABLE);
	c = nip_tcp_accept(sc->listener);
	assert_non_null(c);
	nip_tcp_set_cb(c, sc_event, sc);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	assert_int_equal(c->mss, 1460 - 12);
	assert_int_equal(c->snd_wscale, 7);
	assert_true(c->ws_ok && c->sack_ok && c->ts_ok);
	assert_int_equal(c->snd_wnd, 65535u << 7);

	/* Data carries timestamps (echoing the peer's latest), no SYN options, and a window
	 * scaled by our shift. */
	sc_wait(sc, 5 * MS);
	assert_int_equal(sc_push(sc, c, 3000), 0);
	g = EXPECT(sc, A, 1, 1, 1448, 0);
	assert_true(g->opt.has_ts);
	assert_false(g->opt.has_mss || g->opt.has_wscale || g->opt.sack_ok);
	assert_int_equal(g->opt.tsecr, sc->peer_ts_base + 1000); /* the ACK's, sent at 1 s */
	assert_int_equal(g->win, (256 * 1024) >> 7);
	EXPECT(sc, A, 1449, 1, 1448, 0);
	EXPECT(sc, A | P, 2897, 1, 104, 0);
	sc_send(sc, A, 1, 3001, 0);
	/* The peer's data: ACKed at once (quick ACKs at the start of a connection). */
	sc_peer_data(sc, 1, 3001, 500);
	assert_int_equal(sc_pop(sc, c, &st), 500);
	sc_close(sc, c, 3001, 501);
}

static void test_tcp_script_passive_no_options(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c;
	struct sc_seg *g;

	sc_send_syn(sc, &sc_no_opts, false);
	g = EXPECT(sc, S | A, 0, 1, 0, 0);
	assert_true(g->opt.has_mss); /* ours, always */
	assert_false(g->opt.has_wscale || g->opt.sack_ok || g->opt.has_ts);
	sc_send(sc, A, 1, 1, 0);
	c = nip_tcp_accept(sc->listener);
	assert_non_null(c);
	nip_tcp_set_cb(c, sc_event, sc);
	assert_int_equal(c->mss, 536); /* RFC 9293 3.7.1 default */
	assert_false(c->ws_ok || c->sack_ok || c->ts_ok);
	assert_int_equal(c->rcv_wscale, 0);
	assert_int_equal(sc_push(sc, c, 1000), 0);
	g = EXPECT(sc, A, 1, 1, 536, 0);
	assert_false(g->opt.has_ts);
	assert_int_equal(g->win, 65535); /* unscaled: clamped to the field */
	EXPECT(sc, A | P, 537, 1, 464, 0);
	sc_send(sc, A, 1, 1001, 0);
	sc_close(sc, c, 1001, 1);
}

static void test_tcp_script_active_all_options(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = nip_tcp_create(sc->s, sc_event, sc);
	struct nip_tcp_opts o = {.has_mss = true,
				 .mss = 1200,
				 .has_wscale = true,
				 .wscale = 9,
				 .sack_ok = true,
				 .has_ts = true};
	struct sc_seg *g;

	assert_int_equal(nip_tcp_connect(c, htonl(SC_IP_PEER), SC_PEER_PORT), 0);
	g = EXPECT(sc, S, 0, SC_ANY, 0, 0);
	assert_int_equal(g->dport, SC_PEER_PORT);
	assert_true(g->sport >= 49152); /* ephemeral */
	assert_true(g->opt.has_mss && g->opt.mss == 1460);
	assert_true(g->opt.has_wscale && g->opt.wscale == 7);
	assert_true(g->opt.sack_ok);
	assert_true(g->opt.has_ts);
	assert_int_equal(g->opt.tsecr, 0);
	assert_int_equal(g->win, 65535);
	o.tsecr = g->opt.tsval;
	assert_int_equal(c->state, NIP_TCP_SYN_SENT);
	sc_wait(sc, 3 * MS);
	o.tsval = sc_peer_tsval(sc);
	sc_inject(sc, &(struct sc_pkt){.flags = S | A, .ack = 1, .opt = &o, .dport = g->sport});
	sc->ts = sc->ws = sc->sack = true;
	sc->peer_ws = 9;
	g = EXPECT(sc, A, 1, 1, 0, 0);
	assert_true(g->opt.has_ts);
	assert_int_equal(g->opt.tsecr, sc_peer_tsval(sc));
	assert_false(g->opt.has_mss || g->opt.has_wscale);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	assert_true(sc->events & NIP_TCP_EV_CONNECTED);
	assert_int_equal(c->mss, 1200 - 12);
	assert_int_equal(c->snd_wscale, 9);
	assert_int_equal(sc->s->cnt.tcp_active_opens, 1);
	/* The next window field is scaled by the peer's shift. */
	sc_inject(sc, &(struct sc_pkt){.flags = A,
				       .seq = 1,
				       .ack = 1,
				       .win_set = true,
				       .win = 100,
				       .dport = g->sport});
	assert_int_equal(c->snd_wnd, 100u << 9);
	sc_close_rst(c);
	EXPECT(sc, R | A, 1, 1, 0, 0);
}

static void test_tcp_script_active_peer_no_options(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	struct sc_seg *g;

	assert_false(c->ws_ok || c->sack_ok || c->ts_ok);
	assert_int_equal(c->rcv_wscale, 0);
	assert_int_equal(c->mss, 536);
	assert_int_equal(sc_push(sc, c, 600), 0);
	g = EXPECT(sc, A, 1, 1, 536, 0);
	assert_int_equal(g->win, 65535); /* not scaled */
	assert_false(g->opt.has_ts);
	assert_int_equal(g->opt.nsack, 0);
	EXPECT(sc, A | P, 537, 1, 64, 0);
	sc_send(sc, A, 1, 601, 0);
	sc_close(sc, c, 601, 1);
}

/* RFC 6298 5.5 / RFC 9293 3.8.1: SYN retransmissions double their interval; the connect fails
 * with ETIMEDOUT after syn_retries, with no RST (nothing was synchronized). */
static void test_tcp_script_syn_retries_timeout(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct nip_tcp_conn *c;
	struct sc *sc;
	uint64_t t0;

	cfg.tcp.syn_retries = 3;
	sc = sc_start(state, &cfg);
	c = nip_tcp_create(sc->s, sc_event, sc);
	assert_int_equal(nip_tcp_connect(c, htonl(SC_IP_PEER), SC_PEER_PORT), 0);
	t0 = EXPECT(sc, S, 0, SC_ANY, 0, 0)->t;
	sc_backoff(sc, S, 0, SC_ANY, 0, t0, 1 * SEC, 4 * SEC);
	assert_int_equal(c->state, NIP_TCP_SYN_SENT);
	EXPECT_NOTHING(sc, 8 * SEC - 1);
	assert_int_equal(c->state, NIP_TCP_SYN_SENT);
	sc_wait(sc, 1);
	assert_int_equal(sc->p.now - t0, 15 * SEC);
	sc_failed_with(sc, c, ETIMEDOUT);
	EXPECT_NOTHING(sc, 100 * SEC); /* no RST */
	assert_int_equal(sc->s->cnt.tcp_timeouts, 1);
	nip_tcp_close(c);
}

/* RFC 9293 3.10.7.3: in SYN-SENT, only an RST acknowledging our SYN refuses the connection. */
static void test_tcp_script_connect_refused(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = nip_tcp_create(sc->s, sc_event, sc);

	assert_int_equal(nip_tcp_bind(c, 0, SC_PORT, false), 0);
	assert_int_equal(nip_tcp_connect(c, htonl(SC_IP_PEER), SC_PEER_PORT), 0);
	EXPECT(sc, S, 0, SC_ANY, 0, 0);
	/* RST without ACK: ignored. */
	sc_inject(sc, &(struct sc_pkt){.flags = R});
	assert_int_equal(c->state, NIP_TCP_SYN_SENT);
	/* RST with an ACK that is not for our SYN: ignored, no reply. */
	sc_send(sc, R | A, 0, 5, 0);
	assert_int_equal(c->state, NIP_TCP_SYN_SENT);
	EXPECT_NOTHING(sc, 10 * MS);
	/* An ACK (no RST) for something else: answered with a RST. */
	sc_send(sc, A, 0, 77, 0);
	EXPECT(sc, R, 77, SC_ANY, 0, 0);
	assert_int_equal(c->state, NIP_TCP_SYN_SENT);
	sc_send(sc, R | A, 0, 1, 0);
	sc_failed_with(sc, c, ECONNREFUSED);
	EXPECT_NOTHING(sc, 10 * SEC); /* no more SYNs */
	nip_tcp_close(c);
}

/* The handshake is the first RTT sample (RFC 6298 2.1), also for a passive opener, which may
 * never send data to time... */
static void test_tcp_script_handshake_rtt_sample(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	assert_int_equal(c->srtt, SC_HANDSHAKE_RTT);
	assert_int_equal(c->rto, 200 * MS);
	sc_close(sc, c, 1, 1);
}

/* ...but a retransmitted SYN-ACK gives none (Karn). */
static void test_tcp_script_handshake_rtt_karn(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c;
	uint64_t t;

	sc_send_syn(sc, &sc_no_opts, false);
	t = EXPECT(sc, S | A, 0, 1, 0, 0)->t;
	assert_int_equal(EXPECT(sc, S | A, 0, 1, 0, 2 * SEC)->t - t, 1 * SEC); /* no sample */
	sc_wait(sc, 10 * MS);
	sc_send(sc, A, 1, 1, 0);
	c = nip_tcp_accept(sc->listener);
	assert_non_null(c);
	nip_tcp_set_cb(c, sc_event, sc);
	assert_int_equal(c->srtt, 0);
	sc_close(sc, c, 1, 1);
}

/* The SYN-ACK is retransmitted with backoff (and at once for a retransmitted SYN); after
 * syn_retries the embryonic connection is dropped without a reset. */
static void test_tcp_script_syn_ack_retries(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct sc *sc;
	uint64_t t;

	cfg.tcp.syn_retries = 2;
	sc = sc_start(state, &cfg);
	sc_listen(sc, 16);
	sc_send_syn(sc, &sc_all_opts, false);
	t = EXPECT(sc, S | A, 0, 1, 0, 0)->t;
	sc_wait(sc, 500 * MS);
	sc_send_syn(sc, &sc_all_opts, false);
	EXPECT(sc, S | A, 0, 1, 0, 0);
	sc_backoff(sc, S | A, 0, 1, 0, t, 1 * SEC, 2 * SEC);
	assert_int_equal(sc->s->tcp.nconns, 2);
	ends_at(sc, sc->p.now + 4 * SEC, 1);
	EXPECT_NOTHING(sc, 60 * SEC);
	assert_null(nip_tcp_accept(sc->listener));
}

/* ---- RST in every state ---- */

static void test_tcp_script_rst_syn_received(void **state)
{
	struct sc *sc = *state;

	sc_send_syn(sc, &sc_all_opts, false);
	EXPECT(sc, S | A, 0, 1, 0, 0);
	sc->ts = true;
	assert_int_equal(sc->s->tcp.nconns, 2);
	/* In the window but not exact: challenged (RFC 5961 3.2). */
	sc_send(sc, R, 100, 0, 0);
	EXPECT(sc, A, 1, 1, 0, 0);
	assert_int_equal(sc->s->tcp.nconns, 2);
	sc_rst_ends(sc, 1, 1); /* only the listener is left; no SYN-ACK retransmission */
	assert_null(nip_tcp_accept(sc->listener));
	assert_int_equal(sc->s->cnt.tcp_rst_rcvd, 1);
}

/* Simultaneous open (RFC 9293 figure 8), then an RST in SYN-RECEIVED: refused. */
static void test_tcp_script_simultaneous_open_rst(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = nip_tcp_create(sc->s, sc_event, sc);

	assert_int_equal(nip_tcp_bind(c, 0, SC_PORT, false), 0);
	assert_int_equal(nip_tcp_connect(c, htonl(SC_IP_PEER), SC_PEER_PORT), 0);
	EXPECT(sc, S, 0, SC_ANY, 0, 0);
	sc_send_syn(sc, &sc_no_opts, false);
	EXPECT(sc, S | A, 0, 1, 0, 0);
	assert_int_equal(c->state, NIP_TCP_SYN_RCVD);
	sc_send(sc, R, 1, 0, 0);
	assert_int_equal(c->state, NIP_TCP_CLOSED);
	assert_int_equal(c->err, ECONNREFUSED);
	nip_tcp_close(c);
}

static void test_tcp_script_rst_established(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int st;

	sc_peer_data(sc, 1, 1, 10);
	/* Outside the window: dropped silently. */
	sc_send(sc, R, 11 + 10000000, 0, 0);
	EXPECT_NOTHING(sc, 10 * MS);
	assert_int_equal(sc->s->cnt.drop_tcp_out_of_window, 1);
	/* In the window, not exact: challenge ACK, the connection survives. */
	sc_send(sc, R, 12, 0, 0);
	EXPECT(sc, A, 1, 11, 0, 0);
	sc_send(sc, R | A, 5000, 1, 0);
	EXPECT(sc, A, 1, 11, 0, 0);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	assert_int_equal(sc->s->cnt.tcp_challenge_acks, 2);
	sc_peer_data(sc, 11, 1, 10);
	assert_int_equal(sc_pop(sc, c, &st), 20);
	/* Exact: reset. */
	sc->events = 0;
	sc_send(sc, R, 21, 0, 0);
	sc_failed_with(sc, c, ECONNRESET);
	assert_int_equal(sc_push(sc, c, 10), -ECONNRESET);
	EXPECT_NOTHING(sc, 10 * SEC);
	nip_tcp_close(c);
}

/* After close: FIN-WAIT-1, FIN-WAIT-2, CLOSING, TIME-WAIT each end at once on an exact RST
 * (RFC 9293 3.10.7.4) and send nothing. */
static void test_tcp_script_rst_fin_wait_1(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	nip_tcp_close(c);
	EXPECT(sc, F | A, 1, 1, 0, 0);
	assert_int_equal(c->state, NIP_TCP_FIN_WAIT_1);
	sc_send(sc, R, 3, 0, 0);
	EXPECT(sc, A, 2, 1, 0, 0); /* challenged */
	sc_rst_ends(sc, 1, 0);
}

static void test_tcp_script_rst_fin_wait_2(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	nip_tcp_close(c);
	EXPECT(sc, F | A, 1, 1, 0, 0);
	sc_send(sc, A, 1, 2, 0);
	assert_int_equal(c->state, NIP_TCP_FIN_WAIT_2);
	EXPECT_NOTHING(sc, 10 * MS);
	sc_rst_ends(sc, 1, 0);
}

static void test_tcp_script_rst_close_wait(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int st;

	sc_send(sc, F | A, 1, 1, 0);
	EXPECT(sc, A, 1, 2, 0, 0);
	assert_int_equal(c->state, NIP_TCP_CLOSE_WAIT);
	sc_send(sc, R, 2, 0, 0);
	assert_int_equal(c->state, NIP_TCP_CLOSED);
	assert_int_equal(c->err, ECONNRESET);
	assert_null(nip_tcp_recv(c, &st));
	assert_int_equal(st, 1); /* the end of the stream came before the reset */
	assert_int_equal(sc_push(sc, c, 10), -ECONNRESET);
	EXPECT_NOTHING(sc, 10 * SEC);
	nip_tcp_close(c);
}

static void test_tcp_script_rst_closing(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	nip_tcp_close(c);
	EXPECT(sc, F | A, 1, 1, 0, 0);
	sc_send(sc, F | A, 1, 1, 0); /* crosses our FIN */
	EXPECT(sc, A, 2, 2, 0, 0);
	assert_int_equal(c->state, NIP_TCP_CLOSING);
	sc_rst_ends(sc, 2, 0);
}

static void test_tcp_script_rst_last_ack(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int st;

	sc_send(sc, F | A, 1, 1, 0);
	EXPECT(sc, A, 1, 2, 0, 0);
	assert_null(nip_tcp_recv(c, &st));
	assert_int_equal(st, 1);
	nip_tcp_close(c);
	EXPECT(sc, F | A, 1, 2, 0, 0);
	assert_int_equal(c->state, NIP_TCP_LAST_ACK);
	sc_rst_ends(sc, 2, 0);
}

static void test_tcp_script_rst_time_wait(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	sc_close(sc, c, 1, 1);
	assert_int_equal(c->state, NIP_TCP_TIME_WAIT);
	sc_wait(sc, 1 * SEC);
	sc_rst_ends(sc, 2, 0);
}

/* ---- RFC 5961 ---- */

static void test_tcp_script_syn_in_established(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	struct sc_pkt p = {.flags = S, .seq = 500};
	int st;

	sc_inject(sc, &p); /* in the window */
	EXPECT(sc, A, 1, 1, 0, 0);
	p.seq = 0; /* a retransmission of the original SYN: below the window, ACKed as such */
	sc_inject(sc, &p);
	EXPECT(sc, A, 1, 1, 0, 0);
	assert_int_equal(sc->s->cnt.tcp_challenge_acks, 1);
	assert_int_equal(sc->s->cnt.drop_tcp_out_of_window, 1);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	sc_peer_data(sc, 1, 1, 10);
	assert_int_equal(sc_pop(sc, c, &st), 10);
	sc_close(sc, c, 1, 11);
}

/* RFC 5961 5.2: an ACK for data never sent is answered with an ACK and ignored. */
static void test_tcp_script_ack_unsent_data(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int st;

	assert_int_equal(sc_push(sc, c, 100), 0);
	EXPECT(sc, A | P, 1, 1, 100, 0);
	sc_send(sc, A | P, 1, 5000, 20); /* acks unsent data, carries data */
	EXPECT(sc, A, 101, 1, 0, 0);
	assert_int_equal(sc->s->cnt.drop_tcp_bad_ack, 1);
	assert_int_equal(c->snd_una, sc->iss + 1);
	assert_int_equal(sc_pop(sc, c, &st), 0); /* its data was dropped */
	EXPECT_NOTHING(sc, 100 * MS);
	sc_peer_data(sc, 1, 101, 20);
	assert_int_equal(sc_pop(sc, c, &st), 20);
	sc_close(sc, c, 101, 21);
}

/* RFC 5961 7: challenge ACKs are limited per second, the whole stack over. */
static void test_tcp_script_challenge_ack_limit(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct nip_tcp_conn *c;
	struct sc *sc;

	cfg.tcp.challenge_ack_per_s = 3;
	sc = sc_start(state, &cfg);
	c = sc_passive_open(sc, &sc_all_opts);
	sc_at(sc, 5 * SEC);
	for (int i = 0; i < 6; i++)
		sc_send(sc, R, 10 + (uint32_t)i, 0, 0);
	for (int i = 0; i < 3; i++)
		EXPECT(sc, A, 1, 1, 0, 0);
	EXPECT_NOTHING(sc, 10 * MS);
	assert_int_equal(sc->s->cnt.tcp_challenge_acks, 3);
	assert_int_equal(sc->s->cnt.tcp_challenge_limited, 3);
	/* SYNs draw on the same budget. */
	sc_send(sc, S, 50, 0, 0);
	EXPECT_NOTHING(sc, 10 * MS);
	/* The next second has a new budget. */
	sc_at(sc, 6 * SEC);
	sc_send(sc, R, 10, 0, 0);
	EXPECT(sc, A, 1, 1, 0, 0);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	sc_close(sc, c, 1, 1);
}

/* ---- retransmission ---- */

/* RFC 6298: the RTO comes from the RTT (floored at rto_min) and doubles on each timeout; after
 * max_retries the connection is reset with ETIMEDOUT. */
static void test_tcp_script_rto_backoff_and_timeout(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct nip_tcp_conn *c;
	struct sc *sc;
	uint64_t t;

	cfg.tcp.max_retries = 4;
	sc = sc_start(state, &cfg);
	c = sc_active_open(sc, &sc_no_opts);
	/* The handshake's sample (10 ms): RTO = max(srtt + 4 rttvar, rto_min) = 200 ms. */
	assert_int_equal(c->srtt, 10 * MS);
	assert_int_equal(c->rto, 200 * MS);
	t = sc_flight(sc, c, 100, 1, 1, 536);
	sc_backoff(sc, A | P, 1, 1, 100, t, 200 * MS, 200 * MS);
	/* Karn: the ACK of a retransmission gives no sample (the RTO stays backed off). */
	sc_wait(sc, 30 * MS);
	sc_send(sc, A, 1, 101, 0);
	assert_int_equal(c->srtt, 10 * MS);
	assert_int_equal(c->rto, 400 * MS);
	/* A clean sample of 10 ms: RTO = 200 ms again. */
	sc_flight(sc, c, 100, 101, 1, 536);
	sc_wait(sc, 10 * MS);
	sc_send(sc, A, 1, 201, 0);
	assert_int_equal(c->srtt, 10 * MS);
	assert_int_equal(c->rto, 200 * MS);
	/* Now nothing is acknowledged: 200, 400, 800, 1600 ms, then the reset at 3200 ms. */
	t = sc_flight(sc, c, 100, 201, 1, 536);
	t = sc_backoff(sc, A | P, 201, 1, 100, t, 200 * MS, 1600 * MS);
	sc_backoff(sc, R | A, 301, 1, 0, t, 3200 * MS, 3200 * MS);
	sc_failed_with(sc, c, ETIMEDOUT);
	assert_int_equal(sc->s->cnt.tcp_rto_timeouts, 5);
	assert_int_equal(sc->s->cnt.tcp_timeouts, 1);
	EXPECT_NOTHING(sc, 100 * SEC);
	nip_tcp_close(c);
}

/* RFC 6298 5.3: an ACK of new data restarts the RTO for what is still outstanding. The timer
 * heap is kept lazily (tcp_timer.c): the restart moves the deadline later without touching the
 * heap, so the first deadline passes with nothing sent and the rest leaves one RTO after the
 * ACK; once everything is acknowledged nothing fires and the stack needs no poll. */
static void test_tcp_script_rto_restarts_on_ack(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	uint64_t t, acked;

	t = sc_flight(sc, c, 2 * 536, 1, 1, 536);
	assert_int_equal(nip_stack_next_deadline(sc->s), t + c->rto);
	sc_wait(sc, 150 * MS);
	sc_send(sc, A, 1, 537, 0); /* the first segment */
	acked = sc->p.now;
	assert_int_equal(c->rto, 200 * MS);
	/* The old deadline (t + 200 ms) passes: nothing. */
	EXPECT_NOTHING(sc, t + 200 * MS + 1 - acked);
	assert_int_equal(EXPECT(sc, A | P, 537, 1, 536, 200 * MS)->t, acked + 200 * MS);
	sc_send(sc, A, 1, 1073, 0);
	assert_int_equal(nip_stack_next_deadline(sc->s), UINT64_MAX);
	EXPECT_NOTHING(sc, 10 * SEC);
	sc_close(sc, c, 1073, 1);
}

/* ---- what a small push may send (tcp_output.c: one segment without the loop) ---- */

/* A push of len bytes, whose first byte is seq, is held back: nothing leaves for 10 ms. The
 * peer's ACK of ack lets it out in one segment; once that is acknowledged, c closes. */
static void held_until_ack(struct sc *sc, struct nip_tcp_conn *c, uint32_t seq, uint32_t len,
			   uint32_t ack)
{
	assert_int_equal(sc_push(sc, c, len), 0);
	EXPECT_NOTHING(sc, 10 * MS);
	sc_send(sc, A, 1, ack, 0);
	EXPECT(sc, A | P, seq, 1, len, 0);
	sc_send(sc, A, 1, seq + len, 0);
	sc_close(sc, c, seq + len, 1);
}

/* A push that fits in one segment waits while cwnd is full (RFC 5681 3.1), and leaves with
 * the ACK that makes room. */
static void test_tcp_script_small_push_waits_for_cwnd(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	uint32_t cwnd = c->cc.cwnd;

	assert_int_equal(cwnd, 10 * 536);
	sc_flight(sc, c, cwnd, 1, 1, 536);
	held_until_ack(sc, c, 1 + cwnd, 100, 537);
}

/* A push that fits in one segment but not in the peer's window waits (sender SWS avoidance,
 * RFC 9293 3.8.6.2.1), and leaves with the ACK that opens the window. */
static void test_tcp_script_small_push_waits_for_peer_window(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	sc->peer_win = 1000;
	sc_send(sc, A, 1, 1, 0);
	assert_int_equal(c->snd_wnd, 1000);
	assert_int_equal(sc_push(sc, c, 500), 0);
	EXPECT(sc, A | P, 1, 1, 500, 0);
	held_until_ack(sc, c, 501, 501, 501);
}

/* Nagle (RFC 9293 3.7.4) without TCP_NODELAY: a small segment leaves when nothing is in
 * flight, the next one waits for the ACK of the first. */
static void test_tcp_script_nagle_holds_small_segment(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int v = 0;

	assert_int_equal(nip_tcp_setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
	assert_int_equal(sc_push(sc, c, 10), 0);
	EXPECT(sc, A | P, 1, 1, 10, 0);
	held_until_ack(sc, c, 11, 10, 11);
}

/* RACK's ring (tcp_rack.c) is allocated at establishment for the largest flight of full
 * segments the send buffer allows (16 KiB here: 64 entries, the least); a flight of more,
 * smaller segments leaves the rest untracked (counted), the ring unchanged. A larger
 * SO_SNDBUF reserves again. */
static void test_tcp_script_rack_ring_fixed(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct nip_tcp_txseg *ring;
	struct nip_tcp_conn *c;
	struct sc *sc;
	int v = 1 << 20;

	cfg.tcp.sndbuf = cfg.tcp.sndbuf_max = 16 * 1024; /* no autotuning */
	sc = sc_start(state, &cfg);
	c = sc_active_open(sc, &sc_all_opts);
	assert_true(c->sack_ok);
	assert_int_equal(c->rack.cap, 64);
	assert_non_null(ring = c->rack.seg);
	for (uint32_t i = 0; i < 100; i++)
		sc_flight(sc, c, 10, 1 + 10 * i, 1, 1448);
	assert_int_equal(c->snd_max - c->snd_una, 1000);
	assert_int_equal(c->rack.n, 64);
	assert_int_equal(sc->s->cnt.tcp_rack_untracked, 36);
	assert_ptr_equal(c->rack.seg, ring);
	sc_sack_ack(sc, 1001, 0, NULL);
	assert_int_equal(c->rack.n, 0);
	assert_int_equal(nip_tcp_setsockopt(c, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
	assert_int_equal(c->rack.cap, 1024); /* 1 MiB in 1448-byte segments */
	sc_close(sc, c, 1001, 1);
}

/* With send autotuning the ring follows the send buffer's limit, not the limit's maximum
 * (1 MiB here: 1024 entries): 64 entries for 16 KiB, and an ACK with a large cwnd raises the
 * limit to twice the peer's window as it stood (2 x 65535 bytes: 128 entries), the
 * segments still in flight kept. */
static void test_tcp_script_rack_ring_follows_autotuning(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct nip_tcp_conn *c;
	struct sc *sc;

	cfg.tcp.sndbuf = 16 * 1024;
	cfg.tcp.sndbuf_max = 1 << 20;
	sc = sc_start(state, &cfg);
	c = sc_active_open(sc, &sc_all_opts);
	assert_true(c->sack_ok && c->snd_auto);
	assert_int_equal(c->rack.cap, 64);
	sc_flight(sc, c, 10 * 1448, 1, 1, 1448);
	assert_int_equal(c->rack.n, 10);
	c->cc.cwnd = 4u << 20; /* as slow start would have grown it */
	sc_sack_ack(sc, 1 + 5 * 1448, 0, NULL);
	assert_int_equal(c->sndbuf, 2 * 65535);
	assert_int_equal(c->rack.cap, 128);
	assert_int_equal(c->rack.n, 5);
	assert_int_equal(c->rack.seg[c->rack.head].start - c->iss, 1 + 5 * 1448);
	sc_sack_ack(sc, 1 + 10 * 1448, 0, NULL);
	assert_int_equal(c->rack.n, 0);
	assert_int_equal(sc->s->cnt.tcp_rack_untracked, 0);
	sc_close(sc, c, 1 + 10 * 1448, 1);
}

/* With timestamps, the ACK of a retransmission echoes it: a round trip below the 1 ms tick
 * ends the backoff (RFC 7323 4), where without them (above) Karn keeps it. */
static void test_tcp_script_rto_backoff_ends_on_echo(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	uint64_t t;

	/* A clean sample of 100 us: the RTO is the 200 ms floor. */
	sc_flight(sc, c, 100, 1, 1, 1448);
	sc_wait(sc, 100 * US);
	sc_send(sc, A, 1, 101, 0);
	assert_int_equal(c->rto, 200 * MS);
	/* Two timeouts: 200 then 400 ms; the RTO is 800 ms now. */
	t = sc_flight(sc, c, 100, 101, 1, 1448);
	sc_backoff(sc, A | P, 101, 1, 100, t, 200 * MS, 400 * MS);
	assert_int_equal(c->rto, 800 * MS);
	/* The retransmission is acknowledged 100 us later, echoing its TSval. */
	sc_wait(sc, 100 * US);
	sc_send(sc, A, 1, 201, 0);
	assert_int_equal(c->rto, 200 * MS);
	/* The next loss times out after 200 ms again, not 800. */
	t = sc_flight(sc, c, 100, 201, 1, 1448);
	sc_backoff(sc, A | P, 201, 1, 100, t, 200 * MS, 200 * MS);
	sc_send(sc, A, 1, 301, 0);
	sc_close(sc, c, 301, 1);
}

/* After a timeout snd_nxt goes back to snd_una, but the peer may hold everything sent: an ACK
 * carries snd_max (as BSD's), never a number below the peer's window, which the peer would
 * refuse (and answer, and an end that went back too would refuse that: an ACK war). */
static void test_tcp_script_ack_after_timeout_carries_snd_max(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int st;

	sc_flight(sc, c, 3 * 1448, 1, 1, 1448);
	/* The tail loss probe (the last segment), then the timeout: the first segment again,
	 * snd_nxt at 1449. */
	EXPECT(sc, A, 1 + 2 * 1448, 1, 1448, 300 * MS);
	EXPECT(sc, A, 1, 1, 1448, 1000 * MS);
	assert_int_equal(c->snd_nxt - c->iss, 1449);
	/* The peer's data (acknowledging nothing yet) is acknowledged from snd_max, past what
	 * was retransmitted. */
	sc_send(sc, A | NIP_TCP_PSH, 1, 1, 100);
	EXPECT(sc, A, 1 + 3 * 1448, 101, 0, 0);
	/* Everything acknowledged: the connection goes on as usual. */
	sc_send(sc, A, 101, 1 + 3 * 1448, 0);
	assert_int_equal(sc_pop(sc, c, &st), 100);
	sc_close(sc, c, 1 + 3 * 1448, 101);
}

/* RFC 5681 3.2 and RFC 6582: the third duplicate ACK retransmits the first unacknowledged
 * segment at once; a partial ACK retransmits the next hole. */
static void test_tcp_script_fast_retransmit(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c =
		sc_passive_open(sc, &(struct sc_syn_opts){.mss = true, .mss_val = 1000});
	const uint32_t M = 1000;

	assert_int_equal(c->mss, M);
	sc_flight(sc, c, 6 * M, 1, 1, M);
	EXPECT_NOTHING(sc, 1 * MS);
	/* Segments 1 and 3 are lost; the peer got 0, 2, 4, 5. */
	for (int i = 0; i < 3; i++)
		sc_send(sc, A, 1, 1 + M, 0);
	EXPECT_NOTHING(sc, 1 * MS);
	sc_send(sc, A, 1, 1 + M, 0);
	EXPECT(sc, A, 1 + M, 1, M, 0);
	assert_int_equal(sc->s->cnt.tcp_fast_retransmits, 1);
	EXPECT_NOTHING(sc, 1 * MS);
	/* Partial ACK up to the second hole. */
	sc_send(sc, A, 1, 1 + 3 * M, 0);
	EXPECT(sc, A, 1 + 3 * M, 1, M, 0);
	EXPECT_NOTHING(sc, 1 * MS);
	sc_send(sc, A, 1, 1 + 6 * M, 0);
	assert_false(c->in_recovery);
	EXPECT_NOTHING(sc, 5 * SEC);
	assert_int_equal(sc->s->cnt.tcp_retransmits, 2);
	assert_int_equal(sc->s->cnt.tcp_rto_timeouts, 0);
	sc_close(sc, c, 1 + 6 * M, 1);
}

/* RFC 6675 with RACK's loss marking (RFC 8985): SACK recovery retransmits exactly the holes,
 * each once, as the pipe allows. */
static void test_tcp_script_sack_recovery(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	const uint32_t M = 1448;

#define SEG(i) (1 + (i)*M)
	assert_int_equal(c->mss, M);
	sc_flight(sc, c, 8 * M, 1, 1, M);
	/* Lost: 1 and 4. The ACKs come 1 ms after the flight: RACK.min_RTT is 1 ms and the
	 * reordering window 250 us. */
	sc_wait(sc, 1 * MS);
	sc_sack_ack(sc, SEG(1), 0, NULL);
	sc_sack_ack(sc, SEG(1), SC_SACK1(SEG(2), SEG(3)));
	sc_sack_ack(sc, SEG(1), SC_SACK1(SEG(2), SEG(4)));
	EXPECT_NOTHING(sc, 100 * US); /* 1 may still come, reordered */
	/* A third SACKed segment: no reordering window any more (RFC 8985 6.2 step 4), 1 and 4
	 * were sent before a delivered segment: both lost; the pipe lets one out. */
	sc_sack_ack(sc, SEG(1), SC_SACK2(SEG(5), SEG(6), SEG(2), SEG(4)));
	EXPECT(sc, A, SEG(1), 1, M, 0); /* the first hole */
	EXPECT_NOTHING(sc, 1 * MS);
	sc_sack_ack(sc, SEG(1), SC_SACK2(SEG(5), SEG(7), SEG(2), SEG(4)));
	EXPECT(sc, A, SEG(4), 1, M, 0); /* the second hole */
	EXPECT_NOTHING(sc, 1 * MS);
	sc_sack_ack(sc, SEG(1), SC_SACK2(SEG(5), SEG(8), SEG(2), SEG(4)));
	EXPECT_NOTHING(sc, 1 * MS);
	sc_sack_ack(sc, SEG(8), 0, NULL);
	assert_false(c->in_recovery);
	EXPECT_NOTHING(sc, 5 * SEC);
	assert_int_equal(sc->s->cnt.tcp_retransmits, 2);
	assert_int_equal(sc->s->cnt.tcp_rto_timeouts, 0);
	sc_close(sc, c, SEG(8), 1);
#undef SEG
}

/* RFC 9293 3.8.6.1: a zero window is probed with backoff until it opens. */
static void test_tcp_script_zero_window_persist(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	struct sc_pkt zw = {.flags = A, .seq = 1, .ack = 1, .win_set = true, .win = 0};
	struct sc_seg *g;
	uint64_t t;

	sc_inject(sc, &zw);
	assert_int_equal(c->snd_wnd, 0);
	assert_int_equal(sc_push(sc, c, 1000), 0);
	t = sc->p.now;
	EXPECT_NOTHING(sc, 199 * MS); /* the RTO (200 ms, from the handshake's sample) */
	for (uint64_t gap = 200 * MS; gap <= 1600 * MS; gap *= 2) {
		g = EXPECT(sc, A, 1, 1, SC_ANY, 20 * SEC);
		assert_true(g->len <= 1);
		assert_int_equal(g->t - t, gap);
		t = g->t;
		sc_inject(sc, &zw); /* still closed */
	}
	assert_int_equal(sc->s->cnt.tcp_zero_window_probes, 4);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	assert_int_equal(sc->s->cnt.tcp_fast_retransmits, 0); /* probe answers are no dup ACKs */
	assert_false(c->in_recovery);
	/* The peer takes the probe byte but its window stays closed: probing goes on from the
	 * next byte. */
	zw.ack = 2;
	sc_inject(sc, &zw);
	sc_backoff(sc, A, 2, 1, 1, t, 3200 * MS, 3200 * MS);
	sc_inject(sc, &zw);
	/* The window opens: the data flows. */
	sc_wait(sc, 100 * MS);
	sc_send(sc, A, 1, 2, 0);
	EXPECT(sc, A, 2, 1, 536, 0);
	EXPECT(sc, A | P, 538, 1, 463, 0);
	sc_send(sc, A, 1, 1001, 0);
	EXPECT_NOTHING(sc, 5 * SEC);
	sc_close(sc, c, 1001, 1);
}

/* Zero-window probes nobody answers end the connection like unanswered retransmissions
 * (found by fuzz-tcp-conn: a closed connection facing a zero window and a silent peer probed
 * forever and was never freed). */
static void test_tcp_script_zero_window_silent_peer(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct nip_tcp_conn *c;
	struct sc *sc;
	uint64_t t;

	cfg.tcp.max_retries = 3;
	sc = sc_start(state, &cfg);
	c = sc_passive_open(sc, &sc_no_opts);
	sc_inject(sc, &(struct sc_pkt){.flags = A, .seq = 1, .ack = 1, .win_set = true, .win = 0});
	assert_int_equal(sc_push(sc, c, 1000), 0);
	nip_tcp_close(c); /* an orphan in FIN-WAIT-1, its data and FIN behind the window */
	t = sc_backoff(sc, A, 1, 1, SC_ANY, sc->p.now, 200 * MS, 800 * MS);
	sc_backoff(sc, R | A, 1, 1, 0, t, 1600 * MS, 1600 * MS);
	assert_int_equal(sc->s->cnt.tcp_zero_window_probes, 3);
	assert_int_equal(sc->s->cnt.tcp_timeouts, 1);
	assert_int_equal(sc->s->tcp.nconns, 1); /* the listener */
}

/* ---- FIN orderings and TIME-WAIT ---- */

/* A stack whose MSL (TIME-WAIT lasts 2 MSL) is msl, with an established connection. */
static struct nip_tcp_conn *open_msl(void **state, uint64_t msl, bool active,
				     const struct sc_syn_opts *o)
{
	struct nip_stack_config cfg = sc_config();
	struct sc *sc;

	cfg.tcp.msl = msl;
	sc = sc_start(state, &cfg);
	return active ? sc_active_open(sc, o) : sc_passive_open(sc, o);
}

static void test_tcp_script_active_close(void **state)
{
	struct nip_tcp_conn *c = open_msl(state, 500 * MS, false, &sc_all_opts);
	struct sc *sc = *state;
	uint64_t t;

	nip_tcp_close(c);
	EXPECT(sc, F | A, 1, 1, 0, 0);
	assert_int_equal(c->state, NIP_TCP_FIN_WAIT_1);
	sc_send(sc, A, 1, 2, 0);
	assert_int_equal(c->state, NIP_TCP_FIN_WAIT_2);
	EXPECT_NOTHING(sc, 100 * MS);
	sc_send(sc, F | A, 1, 2, 0);
	EXPECT(sc, A, 2, 2, 0, 0);
	assert_int_equal(c->state, NIP_TCP_TIME_WAIT);
	t = sc->p.now;
	/* 2 MSL = 1 s. */
	ends_at(sc, t + 1 * SEC, 1); /* the listener is left */
	EXPECT_NOTHING(sc, 1 * MS);
}

static void test_tcp_script_passive_close(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int st;

	sc->events = 0;
	sc_send(sc, F | A, 1, 1, 0);
	EXPECT(sc, A, 1, 2, 0, 0);
	assert_int_equal(c->state, NIP_TCP_CLOSE_WAIT);
	assert_true(sc->events & NIP_TCP_EV_READABLE);
	assert_null(nip_tcp_recv(c, &st));
	assert_int_equal(st, 1);
	/* Half-closed: we may still send. */
	sc_flight(sc, c, 10, 1, 2, 1448);
	sc_send(sc, A, 2, 11, 0);
	nip_tcp_close(c);
	EXPECT(sc, F | A, 11, 2, 0, 0);
	assert_int_equal(c->state, NIP_TCP_LAST_ACK);
	sc_send(sc, A, 2, 12, 0);
	assert_int_equal(sc->s->tcp.nconns, 1); /* gone at once: no TIME-WAIT */
	EXPECT_NOTHING(sc, 10 * SEC);
}

static void test_tcp_script_simultaneous_close(void **state)
{
	struct nip_tcp_conn *c = open_msl(state, 500 * MS, true, &sc_all_opts);
	struct sc *sc = *state;
	uint64_t t;

	nip_tcp_close(c);
	EXPECT(sc, F | A, 1, 1, 0, 0);
	sc_send(sc, F | A, 1, 1, 0); /* its FIN, not yet acknowledging ours */
	EXPECT(sc, A, 2, 2, 0, 0);
	assert_int_equal(c->state, NIP_TCP_CLOSING);
	sc_send(sc, A, 2, 2, 0);
	assert_int_equal(c->state, NIP_TCP_TIME_WAIT);
	t = sc->p.now;
	ends_at(sc, t + 1 * SEC, 0);
}

/* Our FIN is lost in CLOSING: it is retransmitted, and its ACK ends the exchange. */
static void test_tcp_script_closing_fin_retransmit(void **state)
{
	struct nip_tcp_conn *c = open_msl(state, 500 * MS, true, &sc_no_opts);
	struct sc *sc = *state;
	uint64_t t;

	nip_tcp_close(c);
	t = EXPECT(sc, F | A, 1, 1, 0, 0)->t;
	sc_send(sc, F | A, 1, 1, 0);
	EXPECT(sc, A, 2, 2, 0, 0);
	sc_backoff(sc, F | A, 1, 2, 0, t, 200 * MS, 200 * MS);
	sc_send(sc, A, 2, 2, 0);
	assert_int_equal(c->state, NIP_TCP_TIME_WAIT);
}

/* A lost FIN after data: the retransmission after the timeout carries data and FIN together. */
static void test_tcp_script_fin_retransmit_with_data(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	uint64_t t;

	t = sc_flight(sc, c, 100, 1, 1, 536);
	nip_tcp_close(c);
	EXPECT(sc, F | A, 101, 1, 0, 0);
	sc_backoff(sc, F | A | P, 1, 1, 100, t, 200 * MS, 200 * MS);
	sc_send(sc, F | A, 1, 102, 0);
	EXPECT(sc, A, 102, 2, 0, 0);
	assert_int_equal(c->state, NIP_TCP_TIME_WAIT);
}

static void test_tcp_script_fin_with_data(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int st;

	sc_send(sc, F | A | P, 1, 1, 100);
	EXPECT(sc, A, 1, 102, 0, 0);
	assert_int_equal(c->state, NIP_TCP_CLOSE_WAIT);
	assert_int_equal(sc_pop(sc, c, &st), 100);
	assert_int_equal(st, 1);
	nip_tcp_close(c);
	EXPECT(sc, F | A, 1, 102, 0, 0);
	sc_send(sc, A, 102, 2, 0);
	assert_int_equal(sc->s->tcp.nconns, 1);
}

/* A FIN that arrives before the data under it waits for the hole to fill. */
static void test_tcp_script_fin_out_of_order(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int st;

	sc_send(sc, F | A | P, 101, 1, 100);
	sc_expect_sack(sc, 1, 1, 1, 101, 201); /* a duplicate ACK with a SACK block */
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	assert_int_equal(sc_pop(sc, c, &st), 0);
	assert_int_equal(st, 0);
	sc_send(sc, A, 1, 1, 100);
	sc_expect_sack(sc, 1, 202, 0, 0, 0);
	assert_int_equal(c->state, NIP_TCP_CLOSE_WAIT);
	assert_int_equal(sc_pop(sc, c, &st), 200);
	assert_int_equal(st, 1);
	nip_tcp_close(c);
	EXPECT(sc, F | A, 1, 202, 0, 0);
	sc_send(sc, A, 202, 2, 0);
	assert_int_equal(sc->s->tcp.nconns, 1);
}

/* RFC 9293 3.10.7.4: TIME-WAIT acknowledges a retransmitted FIN and restarts its 2 MSL. */
static void test_tcp_script_time_wait_reacks_fin(void **state)
{
	struct nip_tcp_conn *c = open_msl(state, 1 * SEC, true, &sc_all_opts);
	struct sc *sc = *state;
	uint64_t t;

	sc_close(sc, c, 1, 1);
	t = sc->p.now;
	assert_int_equal(c->state, NIP_TCP_TIME_WAIT);
	sc_at(sc, t + 1500 * MS);
	sc_send(sc, F | A, 1, 2, 0);
	EXPECT(sc, A, 2, 2, 0, 0);
	t = sc->p.now;
	ends_at(sc, t + 2 * SEC, 0);
	EXPECT_NOTHING(sc, 1 * MS);
}

/* A closed connection does not wait forever in FIN-WAIT-2 for a silent peer. */
static void test_tcp_script_orphan_fin_wait_2_timeout(void **state)
{
	struct nip_tcp_conn *c = open_msl(state, 1 * SEC, true, &sc_all_opts);
	struct sc *sc = *state;
	uint64_t t;

	nip_tcp_close(c);
	EXPECT(sc, F | A, 1, 1, 0, 0);
	sc_send(sc, A, 1, 2, 0);
	t = sc->p.now;
	ends_at(sc, t + 2 * SEC, 0);
	EXPECT_NOTHING(sc, 10 * SEC);
}

/* RFC 9293 3.10.7.4 note / RFC 6191: a new SYN with a higher sequence number ends TIME-WAIT
 * and opens a new connection. */
static void test_tcp_script_time_wait_reuse(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	uint32_t old_iss = sc->iss;

	sc_close(sc, c, 1, 1);
	assert_int_equal(c->state, NIP_TCP_TIME_WAIT);
	sc_wait(sc, 1 * SEC);
	/* A SYN below rcv_nxt is no new connection: ACKed as an old duplicate. */
	sc_send_syn(sc, &sc_all_opts, false);
	EXPECT(sc, A, SC_ANY, 2, 0, 0);
	assert_int_equal(sc->iss, old_iss);
	sc->peer_iss += 100000;
	sc_send_syn(sc, &sc_all_opts, false);
	EXPECT(sc, S | A, 0, 1, 0, 0);
	assert_int_equal(sc->s->tcp.nconns, 2); /* the listener and the new one */
	sc_send(sc, A, 1, 1, 0);
	c = nip_tcp_accept(sc->listener);
	assert_non_null(c);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	sc_close(sc, c, 1, 1);
}

/* ---- ACK policy ---- */

/* A stack that delays ACKs by 40 ms, with a passive connection past its 16 quick ACKs; returns
 * the peer's next sequence number. */
static uint32_t open_delack(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct sc *sc;
	uint32_t seq = 1;

	cfg.tcp.delack = 40 * MS;
	sc = sc_start(state, &cfg);
	sc->conn = sc_passive_open(sc, &sc_all_opts);
	for (int i = 0; i < 16; i++, seq += 10)
		sc_peer_data(sc, seq, 1, 10);
	return seq;
}

/* RFC 9293 3.8.6.3: after the quick ACKs of a connection's start, one segment's ACK waits for
 * the delayed ACK timer; a second segment is ACKed at once. */
static void test_tcp_script_delayed_ack(void **state)
{
	uint32_t seq = open_delack(state);
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	uint64_t t;
	int st;

	sc_send(sc, A | P, seq, 1, 10);
	seq += 10;
	t = sc->p.now;
	EXPECT_NOTHING(sc, 40 * MS - 1);
	assert_int_equal(EXPECT(sc, A, 1, seq, 0, 1)->t - t, 40 * MS);
	assert_int_equal(sc->s->cnt.tcp_delayed_acks, 1);
	/* Two segments: the second is ACKed at once. */
	sc_wait(sc, 5 * MS);
	sc_send(sc, A | P, seq, 1, 10);
	seq += 10;
	EXPECT_NOTHING(sc, 1 * MS);
	sc_peer_data(sc, seq, 1, 10);
	seq += 10;
	EXPECT_NOTHING(sc, 100 * MS);
	/* Our data carries the ACK and cancels the delayed one. */
	sc_send(sc, A | P, seq, 1, 10);
	seq += 10;
	sc_flight(sc, c, 5, 1, seq, 1448);
	EXPECT_NOTHING(sc, 100 * MS);
	sc_send(sc, A, seq, 6, 0);
	assert_int_equal(sc_pop(sc, c, &st), seq - 1);
	sc_close(sc, c, 6, seq);
}

/* RFC 5681 4.2: an out-of-order segment is ACKed at once (with SACK), and so is the one that
 * fills the hole. */
static void test_tcp_script_quick_ack_out_of_order(void **state)
{
	uint32_t seq = open_delack(state);
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int st;

	sc_send(sc, A | P, seq + 100, 1, 50);
	sc_expect_sack(sc, 1, seq, 1, seq + 100, seq + 150);
	sc_send(sc, A | P, seq + 200, 1, 50);
	sc_expect_sack(sc, 1, seq, 2, seq + 200, 0); /* newest first */
	assert_int_equal(sc->s->cnt.tcp_ooo_segs, 2);
	sc_send(sc, A | P, seq, 1, 100);
	sc_expect_sack(sc, 1, seq + 150, 1, 0, 0);
	sc_send(sc, A | P, seq + 150, 1, 50);
	sc_expect_sack(sc, 1, seq + 250, 0, 0, 0);
	assert_int_equal(sc_pop(sc, c, &st), seq + 249);
	sc_close(sc, c, 1, seq + 250);
}

/* RFC 7323 5.3: a segment with an older timestamp is dropped and ACKed. */
static void test_tcp_script_paws(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	struct sc_pkt p = {.flags = A | P, .seq = 101, .ack = 1, .len = 100, .ts_set = true};
	uint32_t ts;
	int st;

	sc_wait(sc, 100 * MS);
	ts = sc_peer_tsval(sc);
	sc_peer_data(sc, 1, 1, 100);
	assert_int_equal(c->ts_recent, ts);
	p.tsval = ts - 50;
	sc_inject(sc, &p);
	EXPECT(sc, A, 1, 101, 0, 0);
	assert_int_equal(sc->s->cnt.drop_tcp_paws, 1);
	assert_int_equal(c->rcv_nxt, sc->peer_iss + 101);
	assert_int_equal(c->ts_recent, ts);
	/* The same segment with a current timestamp is taken. */
	p.tsval = ts + 1;
	sc_inject(sc, &p);
	EXPECT(sc, A, 1, 201, 0, 0);
	assert_int_equal(sc_pop(sc, c, &st), 200);
	/* An RST is not subject to PAWS. */
	p.flags = R;
	p.seq = 201;
	p.len = 0;
	p.tsval = ts - 1000;
	sc_inject(sc, &p);
	assert_int_equal(c->state, NIP_TCP_CLOSED);
	nip_tcp_close(c);
}

/* ---- malformed input ---- */

static void test_tcp_script_malformed_options(void **state)
{
	static const uint8_t bad[][8] = {
		{2, 0, 0, 0},		  /* MSS, length 0 */
		{2, 1, 0, 0},		  /* MSS, length 1 */
		{2, 3, 5, 0},		  /* MSS, length 3 */
		{3, 4, 7, 0},		  /* window scale, length 4 */
		{8, 10, 0, 0},		  /* timestamps running past the header */
		{5, 3, 0, 0},		  /* SACK, length 3 */
		{5, 6, 0, 0, 0, 0, 1, 1}, /* SACK, length 6 (not 2 + 8n) */
		{4, 3, 0, 0},		  /* SACK-permitted, length 3 */
		{99, 40, 0, 0},		  /* unknown, running past the header */
		{1, 1, 1, 2},		  /* a kind with no length byte */
		{254, 0, 1, 1},		  /* unknown, length 0 */
	};
	static const uint8_t unknown_ok[4] = {99, 4, 0xaa, 0xbb};
	const size_t nbad = sizeof(bad) / sizeof(bad[0]);
	struct sc *sc = *state;
	struct sc_pkt p = {.flags = A | P, .seq = 1, .ack = 1, .len = 10};
	struct nip_tcp_conn *c;
	uint64_t before;
	int st;

	/* A SYN with a bad option: no SYN-ACK, no connection. */
	sc_inject(sc, &(struct sc_pkt){.flags = S, .raw_opt = bad[0], .raw_opt_len = 4});
	EXPECT_NOTHING(sc, 10 * MS);
	assert_int_equal(sc->s->tcp.nconns, 1);
	assert_int_equal(sc->s->cnt.drop_tcp_bad[NIP_TCP_BAD_OPT], 1);
	c = sc_passive_open(sc, &sc_no_opts);
	before = sc->s->cnt.drop_tcp_bad[NIP_TCP_BAD_OPT];
	for (size_t i = 0; i < nbad; i++) {
		struct sc_pkt q = p;

		q.raw_opt = bad[i];
		q.raw_opt_len = bad[i][4] || i == 6 ? 8 : 4;
		sc_inject(sc, &q);
		q.flags = R; /* not even a reset may pass */
		q.len = 0;
		sc_inject(sc, &q);
	}
	EXPECT_NOTHING(sc, 100 * MS);
	assert_int_equal(sc->s->cnt.drop_tcp_bad[NIP_TCP_BAD_OPT] - before, 2 * nbad);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	assert_int_equal(sc_pop(sc, c, &st), 0);
	/* A bad data offset (below 5, past the segment) and a bad checksum. */
	p.doff = 4;
	sc_inject(sc, &p);
	p.doff = 15;
	sc_inject(sc, &p);
	p.doff = 0;
	p.bad_csum = true;
	sc_inject(sc, &p);
	EXPECT_NOTHING(sc, 10 * MS);
	assert_int_equal(sc->s->cnt.drop_tcp_bad[NIP_TCP_BAD_OFF], 2);
	assert_int_equal(sc->s->cnt.drop_tcp_bad[NIP_TCP_BAD_CSUM], 1);
	/* An unknown option of sane length is skipped: the segment counts. */
	p.bad_csum = false;
	p.raw_opt = unknown_ok;
	p.raw_opt_len = 4;
	sc_inject(sc, &p);
	EXPECT(sc, A, 1, 11, 0, 0);
	assert_int_equal(sc_pop(sc, c, &st), 10);
	sc_close(sc, c, 1, 11);
}

/* RFC 9293 3.10.7.1: a segment for no connection is answered with a reset (a reset is not). */
static void test_tcp_script_closed_port_rst(void **state)
{
	struct sc *sc = *state;
	struct sc_seg *g;

	sc_send(sc, S, 0, 0, 0);
	g = EXPECT(sc, R | A, 0, 1, 0, 0);
	assert_int_equal(g->seq, 0);
	assert_int_equal(g->sport, SC_PORT);
	assert_int_equal(g->dport, SC_PEER_PORT);
	sc_inject(sc, &(struct sc_pkt){.flags = A | P,
				       .seq = SC_PEER_ISS + 1,
				       .ack = 12345,
				       .abs = true,
				       .len = 20});
	g = EXPECT(sc, R, SC_ANY, SC_ANY, 0, 0);
	assert_int_equal(g->seq, 12345);
	sc_send(sc, F, 1, 0, 10); /* no ACK: RST-ACK for data and FIN */
	g = EXPECT(sc, R | A, SC_ANY, 12, 0, 0);
	assert_int_equal(g->seq, 0);
	sc_send(sc, R, 1, 0, 0);
	sc_send(sc, R | A, 1, 1, 0);
	EXPECT_NOTHING(sc, 10 * MS);
	assert_int_equal(sc->s->cnt.drop_tcp_no_conn, 5);
	assert_int_equal(sc->s->cnt.tcp_rst_sent, 3);
}

/* The SYN queue (syn_backlog) is bounded and, without SYN cookies (test_tcp_syncookie.c), its
 * overflow is dropped and counted; a listener that goes resets its embryonic connections. */
static void test_tcp_script_listen_syn_queue_overflow(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct sc *sc;

	cfg.tcp.syn_backlog = 2;
	cfg.tcp.syncookies = false;
	sc = sc_start(state, &cfg);
	sc_listen(sc, 16);
	for (uint16_t i = 0; i < 3; i++)
		sc_inject(sc, &(struct sc_pkt){.flags = S, .sport = (uint16_t)(41000 + i)});
	assert_int_equal(EXPECT(sc, S | A, SC_ANY, 1, 0, 0)->dport, 41000);
	assert_int_equal(EXPECT(sc, S | A, SC_ANY, 1, 0, 0)->dport, 41001);
	EXPECT_NOTHING(sc, 10 * MS);
	assert_int_equal(sc->s->cnt.drop_tcp_syn_queue_full, 1);
	assert_int_equal(sc->s->tcp.nconns, 3);
	/* The listener goes: its embryonic connections are reset and freed. */
	nip_tcp_close(sc->listener);
	sc->listener = NULL;
	EXPECT(sc, R | A, SC_ANY, SC_ANY, 0, 0);
	EXPECT(sc, R | A, SC_ANY, SC_ANY, 0, 0);
	assert_int_equal(sc->s->tcp.nconns, 0);
}

/* The accept queue (the listen backlog) is bounded and its overflow counted; the peer's SYN
 * retransmission gets in once there is room. */
static void test_tcp_script_listen_accept_queue_overflow(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c, *c2;

	sc_listen(sc, 1);
	c = sc_passive_open(sc, &sc_no_opts); /* accepted: leaves the queue */
	sc->peer_port = 41100;
	sc_send_syn(sc, &sc_no_opts, false);
	EXPECT(sc, S | A, 0, 1, 0, 0);
	sc_send(sc, A, 1, 1, 0); /* established, waits in the accept queue */
	assert_int_equal(sc->listener->listener->accept_len, 1);
	sc->peer_port = 41101;
	sc_send_syn(sc, &sc_no_opts, false);
	EXPECT_NOTHING(sc, 10 * MS);
	assert_int_equal(sc->s->cnt.drop_tcp_accept_queue_full, 1);
	/* Accepting makes room: the retransmitted SYN gets its SYN-ACK. */
	c2 = nip_tcp_accept(sc->listener);
	assert_non_null(c2);
	sc_send_syn(sc, &sc_no_opts, false);
	EXPECT(sc, S | A, 0, 1, 0, 0);
	sc_close_rst(c2);
	assert_int_equal(EXPECT(sc, R | A, SC_ANY, SC_ANY, 0, 0)->dport, 41100);
	sc_close_rst(c);
	assert_int_equal(EXPECT(sc, R | A, SC_ANY, SC_ANY, 0, 0)->dport, SC_PEER_PORT);
}

/* tcp_max_conns bounds every connection the stack holds, listeners included: a SYN beyond it
 * is dropped and counted (no SYN-ACK, no state), a new socket refused; freeing one makes room
 * for the peer's retransmitted SYN. A listen backlog is capped to tcp_listen_backlog_max. */
static void test_tcp_script_max_conns(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct nip_tcp_conn *c;
	struct sc *sc;

	cfg.tcp.max_conns = 2;
	cfg.tcp.listen_backlog_max = 3;
	sc = sc_start(state, &cfg);
	sc_listen(sc, 100000);
	assert_int_equal(sc->listener->listener->backlog, 3);
	c = sc_passive_open(sc, &sc_no_opts);
	assert_int_equal(sc->s->tcp.nconns, 2);
	sc->peer_port = 41200;
	sc_send_syn(sc, &sc_no_opts, false);
	EXPECT_NOTHING(sc, 10 * MS);
	assert_int_equal(sc->s->cnt.tcp_conn_limit, 1);
	assert_int_equal(sc->s->cnt.drop_tcp_no_memory, 0);
	assert_int_equal(sc->s->tcp.nconns, 2);
	assert_null(nip_tcp_create(sc->s, sc_event, sc));
	assert_int_equal(sc->s->cnt.tcp_conn_limit, 2);
	/* The first connection goes (reset, freed at once): the retransmitted SYN gets in. */
	sc_close_rst(c);
	assert_int_equal(EXPECT(sc, R | A, SC_ANY, SC_ANY, 0, 0)->dport, SC_PEER_PORT);
	assert_int_equal(sc->s->tcp.nconns, 1);
	sc_send_syn(sc, &sc_no_opts, false);
	assert_int_equal(EXPECT(sc, S | A, 0, 1, 0, 0)->dport, 41200);
	sc_send(sc, R, 1, 0, 0);
}

/* ---- aborts ---- */

/* RFC 9293 3.10.4 / RFC 2525 2.17: closing with unread data resets. */
static void test_tcp_script_close_unread_rst(void **state)
{
	struct sc *sc = *state;

	sc_peer_data(sc, 1, 1, 100);
	nip_tcp_close(sc->conn);
	EXPECT(sc, R | A, 1, 101, 0, 0);
	assert_int_equal(sc->s->tcp.nconns, 1);
	assert_int_equal(sc->s->cnt.tcp_rst_sent, 1);
	/* Whatever the peer sends now finds no connection. */
	sc_send(sc, A | P, 101, 1, 10);
	EXPECT(sc, R, 1, SC_ANY, 0, 0);
}

static void test_tcp_script_linger_zero_rst(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct linger got;
	uint32_t len = sizeof(got);

	assert_int_equal(nip_tcp_setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	assert_int_equal(nip_tcp_getsockopt(c, SOL_SOCKET, SO_LINGER, &got, &len), 0);
	assert_true(got.l_onoff && got.l_linger == 0);
	sc_flight(sc, c, 50, 1, 1, 1448);
	nip_tcp_close(c);
	EXPECT(sc, R | A, 51, 1, 0, 0);
	assert_int_equal(sc->s->tcp.nconns, 1);
	EXPECT_NOTHING(sc, 10 * SEC); /* no retransmission of the lost data */
}

/* Data for a connection its owner closed: nobody will read it, the peer is reset. */
static void test_tcp_script_data_after_close_rst(void **state)
{
	struct sc *sc = *state;

	nip_tcp_close(sc->conn);
	EXPECT(sc, F | A, 1, 1, 0, 0);
	sc_send(sc, A | P, 1, 2, 10);
	EXPECT(sc, R | A, 2, 1, 0, 0);
	assert_int_equal(sc->s->cnt.drop_tcp_after_close, 1);
	assert_int_equal(sc->s->tcp.nconns, 1);
}

/* ---- keepalive ---- */

/* RFC 9293 3.8.4: keepalive probes (seq SND.UNA - 1) after the idle time, answered or not;
 * keepalive_probes unanswered ones end the connection with a reset. */
static void test_tcp_script_keepalive(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct nip_tcp_conn *c;
	struct sc *sc;
	uint64_t t;
	int v = 1, st;

	cfg.tcp.keepalive_idle = 10 * SEC;
	cfg.tcp.keepalive_intvl = 1 * SEC;
	cfg.tcp.keepalive_probes = 3;
	sc = sc_start(state, &cfg);
	c = sc_passive_open(sc, &sc_all_opts);
	EXPECT_NOTHING(sc, 60 * SEC); /* off by default */
	assert_int_equal(nip_tcp_setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)), 0);
	sc_backoff(sc, A, 0, 1, 0, sc->p.now, 10 * SEC, 10 * SEC);
	/* Answered: the next probe comes an idle time after the answer. */
	sc_wait(sc, 5 * MS);
	sc_send(sc, A, 1, 1, 0);
	sc_backoff(sc, A, 0, 1, 0, sc->p.now, 10 * SEC, 10 * SEC);
	/* Traffic postpones it. */
	sc_wait(sc, 500 * MS);
	sc_send(sc, A, 1, 1, 0);
	sc_wait(sc, 5 * SEC);
	sc_peer_data(sc, 1, 1, 10);
	assert_int_equal(sc_pop(sc, c, &st), 10);
	/* Unanswered: three probes a second apart, then the reset. */
	t = sc_backoff(sc, A, 0, 11, 0, sc->p.now, 10 * SEC, 10 * SEC);
	for (int i = 0; i < 3; i++)
		t = sc_backoff(sc, i < 2 ? A : R | A, i < 2 ? 0 : 1, 11, 0, t, 1 * SEC, 1 * SEC);
	assert_int_equal(c->err, ETIMEDOUT);
	assert_int_equal(sc->s->cnt.tcp_keepalive_probes, 5);
	assert_null(nip_tcp_recv(c, &st));
	assert_int_equal(st, -ETIMEDOUT);
	nip_tcp_close(c);
}

/* The stack answers the peer's keepalive probe (an old sequence number) with an ACK. */
static void test_tcp_script_answers_keepalive(void **state)
{
	struct sc *sc = *state;

	sc_wait(sc, 1 * SEC);
	sc_send(sc, A, 0, 1, 0);
	EXPECT(sc, A, 1, 1, 0, 0);
	assert_int_equal(sc->conn->state, NIP_TCP_ESTABLISHED);
	sc_close(sc, sc->conn, 1, 1);
}

/* ---- windows ---- */

/* Our receive window closes as unread data fills the buffer, a probe past it is refused, and
 * reading opens it again with a window update. */
static void test_tcp_script_receive_window_fills(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c;
	struct sc_seg *g;
	uint32_t seq = 1;
	int v = 4096, st;

	assert_int_equal(nip_tcp_setsockopt(sc->listener, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
	sc_send_syn(sc, &sc_no_opts, false);
	assert_int_equal(EXPECT(sc, S | A, 0, 1, 0, 0)->win, 4096);
	sc_send(sc, A, 1, 1, 0);
	c = nip_tcp_accept(sc->listener);
	assert_non_null(c);
	while (seq < 4097) {
		uint32_t len = 4097 - seq < 536 ? 4097 - seq : 536;

		sc_peer_data(sc, seq, 1, len);
		seq += len;
		assert_int_equal(sc->last.win, 4097 - seq);
	}
	/* A byte past the closed window: not taken, ACKed with the zero window. */
	sc_send(sc, A | P, 4097, 1, 1);
	g = EXPECT(sc, A, 1, 4097, 0, 0);
	assert_int_equal(g->win, 0);
	assert_int_equal(sc_pop(sc, c, &st), 4096);
	g = EXPECT(sc, A, 1, 4097, 0, 0);
	assert_true(g->win >= 536);
	sc_flush(sc);
	sc_peer_data(sc, 4097, 1, 500);
	assert_int_equal(sc_pop(sc, c, &st), 500);
	sc_close(sc, c, 1, 4597);
}

/* RFC 9293's SND.WL1 rule alone keeps the window of a newer data segment over an ACK that
 * arrives later on an older sequence number (the peer retransmitting its own data): the
 * window, still counted from the advanced snd_una, then reaches past the peer's right edge,
 * and the sender's ACKs, numbered from what it sent there, are refused by a peer whose
 * window closed: both ends stall for good. The newest acknowledgment carries the window
 * (Linux's tcp_may_update_window). */
static void test_tcp_script_window_from_newest_ack(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	struct sc_pkt newer = {
		.flags = A | P, .seq = 101, .ack = 1, .win_set = true, .win = 2000, .len = 100};
	struct sc_pkt older = {
		.flags = A | P, .seq = 1, .ack = 1001, .win_set = true, .win = 1000, .len = 300};

	sc->peer_win = 2000;
	sc_peer_data(sc, 1, 1, 100);
	sc_flush(sc);
	/* 1608 bytes fit the peer's 2000 (the rest waits: sender SWS avoidance). */
	assert_int_equal(sc_push(sc, c, 3000), 0);
	EXPECT(sc, A, 1, 101, 536, 0);
	EXPECT(sc, A, 537, 101, 536, 0);
	EXPECT(sc, A, 1073, 101, 536, 0);
	EXPECT_NOTHING(sc, 1 * MS);
	/* The peer's next data (acknowledging nothing), then a retransmission of its own from
	 * the first byte on, 100 new bytes at its end, with an ACK of 1000 bytes and a window
	 * that keeps the right edge at 2001. */
	sc_inject(sc, &newer);
	sc_inject(sc, &older);
	assert_int_equal(c->snd_una - c->iss, 1001);
	assert_int_equal(c->snd_wnd, 1000);
	/* Nothing past 2001 goes out: both are acknowledged from snd_max, and the 392 bytes
	 * left in the window wait (sender SWS avoidance). */
	EXPECT(sc, A, 1609, 201, 0, 0);
	EXPECT(sc, A, 1609, 301, 0, 0);
	EXPECT_NOTHING(sc, 1 * MS);
	/* The window opens: the rest flows. */
	sc->peer_win = 4000;
	sc_send(sc, A, 301, 1609, 0);
	EXPECT(sc, A, 1609, 301, 536, 0);
	sc_flush(sc);
	sc_send(sc, A, 301, 3001, 0);
	for (int got = 0, st; got < 300;)
		got += sc_pop(sc, c, &st);
	sc_close(sc, c, 3001, 301);
}

/* A peer that shrinks its window (RFC 9293 3.8.6.2.2 says it should not) leaves data the
 * stack sent beyond its right edge: the ACKs must then be numbered from that edge, which the
 * peer accepts, not from snd_max, which it refuses (losing the acknowledgment). */
static void test_tcp_script_ack_within_shrunk_window(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	struct sc_pkt shrink = {
		.flags = A | P, .seq = 1, .ack = 1, .win_set = true, .win = 1000, .len = 100};
	int st;

	sc->peer_win = 2000;
	sc_send(sc, A, 1, 1, 0);
	assert_int_equal(sc_push(sc, c, 1608), 0);
	EXPECT(sc, A, 1, 1, 536, 0);
	EXPECT(sc, A, 537, 1, 536, 0);
	EXPECT(sc, A | P, 1073, 1, 536, 0);
	sc_inject(sc, &shrink);
	assert_int_equal(c->snd_wnd, 1000);
	EXPECT(sc, A, 1001, 101, 0, 20 * MS);
	/* The window opens again: everything is acknowledged, ACKs come from snd_max. */
	sc->peer_win = 4000;
	sc_send(sc, A, 101, 1609, 0);
	assert_int_equal(sc_pop(sc, c, &st), 100);
	sc_close(sc, c, 1609, 101);
}

/* ---- tail loss probe (RFC 8985 7) ---- */

/* A flight of four whose ACKs are lost: 2 SRTT + 2 ms after it, the last segment again (not
 * the RTO at 200 ms), pushed (tcp_rack.c: a lone segment's ACK may be delayed otherwise).
 * Returns cwnd then. */
static uint32_t tlp_tail_probe(struct sc *sc, struct nip_tcp_conn *c)
{
	const uint32_t M = 1448;
	uint64_t t;
	struct sc_seg *g;

	sc_rtt_sample(sc, c, 10 * MS);
	t = sc_flight(sc, c, 4 * M, 101, 1, M);
	g = EXPECT(sc, A, 101 + 3 * M, 1, M, 30 * MS);
	assert_int_equal(g->t - t, 22 * MS); /* 2 SRTT + 2 ms */
	assert_true(g->flags & P);
	assert_int_equal(sc->s->cnt.tcp_tlp_probes, 1);
	return c->cc.cwnd;
}

/* The ACK of a whole flight is lost while more data waits for cwnd: the probe is the next new
 * segment, and it is pushed, though more data follows it, so that a receiver that delays the
 * ACK of a lone segment in order (Linux: 40 ms, unless pushed) answers at once. */
static void test_tcp_script_tlp_new_data_pushed(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	const uint32_t M = 1448;
	struct sc_seg *g;
	uint64_t t = 0;
	uint32_t n;

	sc_rtt_sample(sc, c, 10 * MS);
	n = c->cc.cwnd / M; /* the flight cwnd allows */
	assert_int_equal(sc_push(sc, c, (n + 2) * M), 0);
	for (uint32_t i = 0; i < n; i++) {
		g = EXPECT(sc, A, 101 + i * M, 1, M, 0);
		assert_false(g->flags & P); /* more data follows */
		t = g->t;
	}
	g = EXPECT(sc, A, 101 + n * M, 1, M, 30 * MS);
	assert_int_equal(g->t - t, 22 * MS); /* 2 SRTT + 2 ms */
	assert_true(g->flags & P);
	assert_int_equal(sc->s->cnt.tcp_tlp_probes, 1);
	assert_int_equal(sc->s->cnt.tcp_retransmits, 0);
	/* Its ACK covers everything: the last segment goes, and the episode ends without a
	 * congestion response (nothing was resent). */
	sc_sack_ack(sc, 101 + (n + 1) * M, 0, NULL);
	EXPECT(sc, A | P, 101 + (n + 1) * M, 1, M, 0);
	assert_int_equal(c->tlp_end, 0);
	assert_int_equal(sc->s->cnt.tcp_tlp_repairs, 0);
	sc_sack_ack(sc, 101 + (n + 2) * M, 0, NULL);
	EXPECT_NOTHING(sc, 2 * SEC);
	sc_close(sc, c, 101 + (n + 2) * M, 1);
}

/* The tail's ACKs are lost: the probe's ACK covers everything, and the repair gets the loss
 * response once. */
static void test_tcp_script_tlp_probe_repairs_tail(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	const uint32_t M = 1448;
	uint32_t cwnd = tlp_tail_probe(sc, c);

	sc_sack_ack(sc, 101 + 4 * M, 0, NULL);
	assert_int_equal(sc->s->cnt.tcp_tlp_repairs, 1);
	assert_true(c->cc.cwnd < cwnd);
	assert_int_equal(sc->s->cnt.tcp_rto_timeouts, 0);
	EXPECT_NOTHING(sc, 2 * SEC); /* nothing in flight: no probe, no timeout */
	sc_close(sc, c, 101 + 4 * M, 1);
}

/* The probe's copy was needless (only the ACKs were lost): the peer reports it with a D-SACK
 * (RFC 2883), and the episode ends without the congestion response (RFC 8985 7.4.2). */
static void test_tcp_script_tlp_dsack_no_response(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	const uint32_t M = 1448;
	uint32_t cwnd = tlp_tail_probe(sc, c);

	sc_sack_ack(sc, 101 + 4 * M, SC_SACK1(101 + 3 * M, 101 + 4 * M));
	assert_int_equal(sc->s->cnt.tcp_tlp_repairs, 0);
	assert_true(c->cc.cwnd >= cwnd);
	assert_int_equal(c->tlp_end, 0);
	EXPECT_NOTHING(sc, 2 * SEC);
	sc_close(sc, c, 101 + 4 * M, 1);
}

/* A whole flight is lost: the probe (the last segment) is SACKed, which marks the three
 * before it lost at once, and SACK recovery resends them without waiting for the RTO. */
static void test_tcp_script_tlp_sack_starts_recovery(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	const uint32_t M = 1448;
	uint64_t t;

#define SEG(i) (101 + (i)*M)
	sc_rtt_sample(sc, c, 10 * MS);
	t = sc_flight(sc, c, 4 * M, SEG(0), 1, M);
	sc_backoff(sc, A, SEG(3), 1, M, t, 22 * MS, 22 * MS);
	/* 10 ms later the probe's SACK: 0, 1, 2 are lost (sent 2 SRTT + 2 ms before it). */
	sc_wait(sc, 10 * MS);
	sc_sack_ack(sc, SEG(0), SC_SACK1(SEG(3), SEG(4)));
	assert_true(c->in_recovery);
	EXPECT(sc, A, SEG(0), 1, M, 0);
	EXPECT(sc, A, SEG(1), 1, M, 0);
	sc_wait(sc, 10 * MS);
	sc_sack_ack(sc, SEG(2), SC_SACK1(SEG(3), SEG(4)));
	EXPECT(sc, A, SEG(2), 1, M, 0);
	sc_wait(sc, 10 * MS);
	sc_sack_ack(sc, SEG(4), 0, NULL);
	assert_false(c->in_recovery);
	assert_int_equal(sc->s->cnt.tcp_rto_timeouts, 0);
	assert_int_equal(sc->s->cnt.tcp_retransmits, 4); /* the probe and the three holes */
	sc_close(sc, c, SEG(4), 1);
#undef SEG
}

/* No probe for a single segment in flight before the RTO (the peer may delay its ACK by up to
 * 200 ms: RFC 8985 7.2)... */
static void test_tcp_script_tlp_not_for_one_segment(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	uint64_t t;

	sc_rtt_sample(sc, c, 10 * MS);
	t = sc_flight(sc, c, 100, 101, 1, 1448);
	sc_backoff(sc, A | P, 101, 1, 100, t, 200 * MS, 200 * MS); /* the RTO */
	assert_int_equal(sc->s->cnt.tcp_tlp_probes, 0);
	sc_send(sc, A, 1, 201, 0);
	sc_close(sc, c, 201, 1);
}

/* ...nor without SACK. */
static void test_tcp_script_tlp_not_without_sack(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c =
		sc_active_open(sc, &(struct sc_syn_opts){.mss = true, .mss_val = 1460, .ts = true});
	uint64_t t;

	sc_rtt_sample(sc, c, 10 * MS);
	t = sc_flight(sc, c, 4 * 1448, 101, 1, 1448);
	sc_backoff(sc, A, 101, 1, 1448, t, 200 * MS, 200 * MS); /* the RTO */
	assert_int_equal(sc->s->cnt.tcp_tlp_probes, 0);
	sc_send(sc, A, 1, 101 + 4 * 1448, 0);
	sc_flush(sc);
	sc_close(sc, c, 101 + 4 * 1448, 1);
}

/* ---- RACK (RFC 8985 6) ---- */

/* In these, the peer answers a flight 1 ms after it left: RACK.min_RTT is 1 ms, the reordering
 * window a quarter of it (SRTT is still near the handshake's 10 ms). */

#define SC_SACK3(a, b, c, d, e, f)                                                                 \
	3, (const uint32_t[])                                                                      \
	{                                                                                          \
		a, b, c, d, e, f                                                                   \
	}
#define M 1448u
#define SEG(i) (1 + (i)*M)

/* The peer acknowledges everything up to end: recovery is over, nothing more is sent, after
 * exactly rxt retransmissions and no timeout, reordering was (not) seen; then c closes. */
static void rack_done(struct sc *sc, struct nip_tcp_conn *c, uint32_t end, uint64_t rxt,
		      bool reordered)
{
	sc_sack_ack(sc, end, 0, NULL);
	assert_false(c->in_recovery);
	assert_int_equal(c->rack.reordering_seen, reordered);
	EXPECT_NOTHING(sc, 5 * SEC);
	assert_int_equal(sc->s->cnt.tcp_retransmits, rxt);
	assert_int_equal(sc->s->cnt.tcp_rto_timeouts, 0);
	sc_close(sc, c, end, 1);
}

/* Three holes in one flight of ten, each lost: segments sent before a delivered one are lost by
 * time, in every hole, even the last one with a single segment SACKed above it (where RFC
 * 6675's IsLost would wait for two more), and all three go out at once, without the RTO. */
static void test_tcp_script_rack_loses_every_hole(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	sc_flight(sc, c, 10 * M, SEG(0), 1, M);
	/* Lost: 1, 4 and 8. */
	sc_wait(sc, 1 * MS);
	sc_sack_ack(sc, SEG(1), SC_SACK3(SEG(9), SEG(10), SEG(5), SEG(8), SEG(2), SEG(4)));
	assert_true(c->in_recovery);
	EXPECT(sc, A, SEG(1), 1, M, 0);
	EXPECT(sc, A, SEG(4), 1, M, 0);
	EXPECT(sc, A, SEG(8), 1, M, 0);
	EXPECT_NOTHING(sc, 1 * MS);
	rack_done(sc, c, SEG(10), 3, false); /* losses, not reordering */
}

/* A retransmission lost again is lost by time too, in any hole: once a segment sent after it
 * is delivered (here the second hole's retransmission) and a round trip has passed, the first
 * hole goes out a third time, without the RTO. */
static void test_tcp_script_rack_lost_retransmission(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	sc_flight(sc, c, 10 * M, SEG(0), 1, M);
	/* Lost: 1 and 5. */
	sc_wait(sc, 1 * MS);
	sc_sack_ack(sc, SEG(1), SC_SACK2(SEG(6), SEG(10), SEG(2), SEG(5)));
	EXPECT(sc, A, SEG(1), 1, M, 0);
	EXPECT(sc, A, SEG(5), 1, M, 0);
	/* The retransmission of 1 is lost again, that of 5 arrives. */
	sc_wait(sc, 1 * MS);
	sc_sack_ack(sc, SEG(1), SC_SACK2(SEG(5), SEG(10), SEG(2), SEG(5)));
	EXPECT(sc, A, SEG(1), 1, M, 0);
	assert_int_equal(sc->s->cnt.tcp_lost_retransmits, 1);
	sc_wait(sc, 1 * MS);
	rack_done(sc, c, SEG(10), 3, false);
}

/* Reordering within the window is no loss: a segment SACKed above a hole starts the reordering
 * timer (a quarter of min_RTT), and the missing segment arriving before it fires costs no
 * retransmission. */
static void test_tcp_script_rack_reordering_no_retransmit(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	sc_flight(sc, c, 4 * M, SEG(0), 1, M);
	sc_wait(sc, 1 * MS);
	sc_sack_ack(sc, SEG(1), SC_SACK1(SEG(2), SEG(3)));
	assert_true(c->timer[NIP_TCPT_REO] != 0);
	EXPECT_NOTHING(sc, 200 * US);	  /* the window is 250 us */
	sc_sack_ack(sc, SEG(3), 0, NULL); /* 1 came, late */
	rack_done(sc, c, SEG(4), 0, true);
}

/* The reordering timer: a hole with too little SACKed above it to be lost at once is lost
 * when the timer fires, RACK.rtt + reo_wnd (min_RTT / 4) after it was sent, not at the RTO or
 * the tail loss probe. */
static void test_tcp_script_rack_reordering_timer(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	struct sc_seg *g;
	uint64_t t;

	t = sc_flight(sc, c, 4 * M, SEG(0), 1, M);
	sc_wait(sc, 1 * MS);
	sc_sack_ack(sc, SEG(1), SC_SACK1(SEG(2), SEG(4)));
	g = EXPECT(sc, A, SEG(1), 1, M, 1 * MS);
	/* Sent at t, RACK.rtt 1 ms (of segment 3, sent at t too), reo_wnd 250 us. */
	assert_int_equal(g->t - t, 1 * MS + 250 * US);
	assert_true(c->in_recovery);
	assert_int_equal(sc->s->cnt.tcp_tlp_probes, 0);
	sc_wait(sc, 1 * MS);
	rack_done(sc, c, SEG(4), 1, false);
}

/* The ACK that would end a fast recovery is lost, and nothing else is in flight: a probe 2 SRTT
 * + 2 ms after the retransmission (the last segment again) brings it back, not the RTO 200 ms
 * later; the recovery's congestion response stays the only one. */
static void test_tcp_script_rack_probe_in_recovery(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	uint64_t t;

	sc_flight(sc, c, 10 * M, SEG(0), 1, M);
	sc_wait(sc, 1 * MS);
	sc_sack_ack(sc, SEG(1), SC_SACK1(SEG(2), SEG(10)));
	t = EXPECT(sc, A, SEG(1), 1, M, 0)->t;
	/* Its ACK, of everything, is lost. */
	assert_true(EXPECT(sc, A, SEG(9), 1, M, 50 * MS)->t - t < 30 * MS);
	assert_true(c->in_recovery);
	assert_int_equal(sc->s->cnt.tcp_tlp_probes, 1);
	rack_done(sc, c, SEG(10), 2, false);
	assert_int_equal(sc->s->cnt.tcp_tlp_repairs, 0);
}

/* In recovery, a segment marked lost waits for the pipe to drain, and the ACKs that would
 * drain it are lost: 2 SRTT + 2 ms after the last transmission the probe resends it, beyond
 * cwnd, rather than the RTO 200 ms later. */
static void test_tcp_script_rack_probe_resends_held_lost(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	struct sc_seg *g;
	uint64_t t;

	sc_flight(sc, c, 10 * M, SEG(0), 1, M);
	sc_wait(sc, 1 * MS);
	/* 3 was delivered: 0, 1 and 2 are lost once the reordering timer fires. */
	sc_sack_ack(sc, SEG(0), SC_SACK1(SEG(3), SEG(4)));
	t = EXPECT(sc, A, SEG(0), 1, M, 1 * MS)->t;
	assert_true(c->in_recovery);
	/* cwnd 7 segments, the pipe 7 (10 out, 1 SACKed, 2 lost): 1 and 2 wait. */
	assert_int_equal(c->rack.lost_bytes, 2 * M);
	g = EXPECT(sc, A, SEG(1), 1, M, 50 * MS);
	assert_int_equal(g->t - t, 2 * c->srtt + 2 * MS);
	assert_true(g->flags & P);
	assert_int_equal(sc->s->cnt.tcp_tlp_probes, 1);
	assert_int_equal(sc->s->cnt.tcp_rto_timeouts, 0);
	/* Its ACK drains the pipe: 2 follows. */
	sc_sack_ack(sc, SEG(2), SC_SACK1(SEG(3), SEG(10)));
	EXPECT(sc, A, SEG(2), 1, M, 0);
	rack_done(sc, c, SEG(10), 3, false);
	assert_int_equal(sc->s->cnt.tcp_tlp_repairs, 0);
}

#undef SEG
#undef M

/* ---- receive autotuning ---- */

/* Round trips in which the peer sends all the window it was told (full segments) and the
 * application pops it; pops: pop each round (else the data stays queued). Returns the peer's
 * next relative sequence number. */
static uint32_t fill_rounds(struct sc *sc, struct nip_tcp_conn *c, uint32_t rseq, int rounds,
			    uint64_t rtt, bool pops)
{
	int st;

	for (int r = 0; r < rounds; r++) {
		uint32_t room = c->rcv_adv - c->rcv_nxt;

		for (uint32_t sent = 0; sent + 1448 <= room; sent += 1448) {
			sc_send(sc, A, rseq, 101, 1448);
			rseq += 1448;
		}
		if (pops)
			sc_pop(sc, c, &st);
		sc_flush(sc);
		sc_wait(sc, rtt);
		sc_flush(sc);
	}
	return rseq;
}

/* A fast reader over a long path: the buffer doubles per round trip up to tcp_rcvbuf_max, the
 * larger window is advertised (shift 7), and the buffer never exceeds the cap. */
static void test_tcp_script_rcvbuf_autotune_grows(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	uint32_t start = c->rcvbuf, max = sc->s->cfg.tcp.rcvbuf_max;
	uint64_t grown;

	assert_int_equal(start, 256 * 1024);
	sc_rtt_sample(sc, c, 10 * MS);
	fill_rounds(sc, c, 1, 2, 10 * MS, true);
	assert_true(c->rcvbuf > start); /* grew after the first measured round trip */
	assert_true(sc->s->cnt.tcp_rcvbuf_grown >= 1);
	/* The window told after a burst of pops is at least half the buffer (tcp.c), so the
	 * doubling shows every other round trip or so: 4 MiB within 40. */
	for (int r = 0; r < 40 && c->rcvbuf < max; r++) {
		fill_rounds(sc, c, 1 + (uint32_t)sc->popped, 1, 10 * MS, true);
		assert_true(c->rcvbuf <= max);
	}
	assert_int_equal(c->rcvbuf, max);
	/* The window told to the peer is the grown buffer, not the 256 KiB start. */
	fill_rounds(sc, c, 1 + (uint32_t)sc->popped, 1, 10 * MS, true);
	assert_true(c->rcv_adv - c->rcv_nxt > 2 * start);
	grown = sc->s->cnt.tcp_rcvbuf_grown;
	fill_rounds(sc, c, 1 + (uint32_t)sc->popped, 2, 10 * MS, true);
	assert_int_equal(sc->s->cnt.tcp_rcvbuf_grown, grown); /* at the cap: no more steps */
	assert_int_equal(c->rcvbuf, max);
	sc_close_rst(c);
	sc_flush(sc);
}

/* No growth for an application that set SO_RCVBUF... */
static void test_tcp_script_rcvbuf_autotune_respects_app(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;
	int v = 256 * 1024, got = 0;
	uint32_t len = sizeof(got);

	sc_rtt_sample(sc, c, 10 * MS);
	assert_int_equal(nip_tcp_setsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
	fill_rounds(sc, c, 1, 6, 10 * MS, true);
	assert_int_equal(c->rcvbuf, 256 * 1024);
	assert_int_equal(nip_tcp_getsockopt(c, SOL_SOCKET, SO_RCVBUF, &got, &len), 0);
	assert_int_equal(got, v);
	assert_int_equal(sc->s->cnt.tcp_rcvbuf_grown, 0);
	sc_close_rst(c);
	sc_flush(sc);
}

/* ...nor for a reader that never pops: the window closes and the buffer stays. */
static void test_tcp_script_rcvbuf_autotune_needs_reader(void **state)
{
	struct sc *sc = *state;
	struct nip_tcp_conn *c = sc->conn;

	sc_rtt_sample(sc, c, 10 * MS);
	fill_rounds(sc, c, 1, 6, 10 * MS, false);
	assert_int_equal(c->rcvbuf, 256 * 1024);
	assert_int_equal(sc->s->cnt.tcp_rcvbuf_grown, 0);
	assert_true(c->rq_bytes >= 256 * 1024 - 1448);
	assert_true(c->rcv_adv - c->rcv_nxt < 1448); /* closed */
	sc_close_rst(c);
	sc_flush(sc);
}

#define T(name, setup) cmocka_unit_test_setup_teardown(test_tcp_script_##name, setup, sc_teardown)
#define T_CFG(name) cmocka_unit_test_teardown(test_tcp_script_##name, sc_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* handshakes */
		T(passive_all_options, sc_setup_listen),
		T(passive_no_options, sc_setup_listen),
		T(active_all_options, sc_setup),
		T(active_peer_no_options, sc_setup_active_plain),
		T_CFG(syn_retries_timeout),
		T(connect_refused, sc_setup),
		T(handshake_rtt_sample, sc_setup_passive_plain),
		T(handshake_rtt_karn, sc_setup_listen),
		T_CFG(syn_ack_retries),
		/* RST in every state */
		T(rst_syn_received, sc_setup_listen),
		T(simultaneous_open_rst, sc_setup),
		T(rst_established, sc_setup_active),
		T(rst_fin_wait_1, sc_setup_active),
		T(rst_fin_wait_2, sc_setup_active),
		T(rst_close_wait, sc_setup_active),
		T(rst_closing, sc_setup_active),
		T(rst_last_ack, sc_setup_active),
		T(rst_time_wait, sc_setup_active),
		/* RFC 5961 */
		T(syn_in_established, sc_setup_passive),
		T(ack_unsent_data, sc_setup_passive),
		T_CFG(challenge_ack_limit),
		/* retransmission */
		T_CFG(rto_backoff_and_timeout),
		T(rto_backoff_ends_on_echo, sc_setup_active),
		T(rto_restarts_on_ack, sc_setup_active_plain),
		T(small_push_waits_for_cwnd, sc_setup_active_plain),
		T(small_push_waits_for_peer_window, sc_setup_active_plain),
		T(nagle_holds_small_segment, sc_setup_active_plain),
		T_CFG(rack_ring_fixed),
		T_CFG(rack_ring_follows_autotuning),
		T(ack_after_timeout_carries_snd_max, sc_setup_active),
		T(fast_retransmit, sc_setup),
		T(sack_recovery, sc_setup_passive),
		T(zero_window_persist, sc_setup_passive_plain),
		T(window_from_newest_ack, sc_setup_passive_plain),
		T(ack_within_shrunk_window, sc_setup_passive_plain),
		T_CFG(zero_window_silent_peer),
		/* FIN orderings and TIME-WAIT */
		T_CFG(active_close),
		T(passive_close, sc_setup_passive),
		T_CFG(simultaneous_close),
		T_CFG(closing_fin_retransmit),
		T(fin_retransmit_with_data, sc_setup_active_plain),
		T(fin_with_data, sc_setup_passive),
		T(fin_out_of_order, sc_setup_passive),
		T_CFG(time_wait_reacks_fin),
		T_CFG(orphan_fin_wait_2_timeout),
		T(time_wait_reuse, sc_setup_passive),
		/* ACK policy */
		T_CFG(delayed_ack),
		T_CFG(quick_ack_out_of_order),
		T(paws, sc_setup_passive),
		/* malformed input, closed ports, listen queues */
		T(malformed_options, sc_setup_listen),
		T(closed_port_rst, sc_setup),
		T_CFG(listen_syn_queue_overflow),
		T(listen_accept_queue_overflow, sc_setup),
		T_CFG(max_conns),
		/* aborts and keepalive */
		T(close_unread_rst, sc_setup_passive),
		T(linger_zero_rst, sc_setup_passive),
		T(data_after_close_rst, sc_setup_passive),
		T_CFG(keepalive),
		T(answers_keepalive, sc_setup_passive),
		/* windows, tail loss probes, receive autotuning */
		T(receive_window_fills, sc_setup_listen),
		T(tlp_probe_repairs_tail, sc_setup_active),
		T(tlp_new_data_pushed, sc_setup_active),
		T(rack_probe_resends_held_lost, sc_setup_passive),
		T(tlp_sack_starts_recovery, sc_setup_active),
		T(tlp_not_for_one_segment, sc_setup_active),
		T(tlp_not_without_sack, sc_setup),
		T(tlp_dsack_no_response, sc_setup_passive),
		T(rack_loses_every_hole, sc_setup_passive),
		T(rack_lost_retransmission, sc_setup_passive),
		T(rack_reordering_no_retransmit, sc_setup_passive),
		T(rack_reordering_timer, sc_setup_passive),
		T(rack_probe_in_recovery, sc_setup_passive),
		T(rcvbuf_autotune_grows, sc_setup_passive),
		T(rcvbuf_autotune_respects_app, sc_setup_passive),
		T(rcvbuf_autotune_needs_reader, sc_setup_passive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
