/* SPDX-License-Identifier: MIT */
/*
 * Packet scripts (tcp_script.h) for SYN cookies (catnip/inet/tcp/tcp_cookie.c, RFC 4987 3.6):
 * with the SYN queue full, a SYN gets a SYN-ACK whose ISN is a cookie and no state; its last
 * ACK makes a connection with the options the cookie and the timestamp carried (MSS, window
 * scale, SACK, timestamps) and keeps the data it brings; forged ACKs, cookies two key periods
 * old, a tampered MSS index or timestamp are reset and counted; a flood of 10000 SYNs from
 * distinct sources keeps memory bounded while a legitimate handshake in the middle of it and
 * one after it complete within 100 ms of virtual time.
 *
 * Most tests run with a SYN queue of 2 filled by two peers that never answer (their SYN-ACK
 * retransmissions are flushed); the peer under script then uses SC_PEER_PORT (or the ports
 * the test names). Sequence numbers are relative as in test_tcp_script.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tcp_script.h"

#define A NIP_TCP_ACK
#define S NIP_TCP_SYN
#define R NIP_TCP_RST

#define FILL_PORT 41000 /* the peers that fill the SYN queue: 41000, 41001 */
#define COOKIE_PERIOD (64 * SEC)

/* A stack whose listener's SYN queue (2) is full: two peers' SYNs wait in it for ever (their
 * SYN-ACK retries outlast every test); the SYN-ACKs are dropped. */
static struct sc *full_queue(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct sc *sc;

	cfg.tcp.syn_backlog = 2;
	cfg.tcp.syn_retries = 100;
	sc = sc_start(state, &cfg);
	sc_listen(sc, 16);
	for (uint16_t i = 0; i < 2; i++)
		sc_inject(sc, &(struct sc_pkt){.flags = S, .sport = (uint16_t)(FILL_PORT + i)});
	assert_int_equal(sc->listener->listener->syn_len, 2);
	sc_flush(sc);
	return sc;
}

/* The peer (sc->peer_port) sends its SYN with o and gets a cookie's SYN-ACK within 1 ms
 * (segments to other ports, a flood's, are skipped); the flow's options are set from it as
 * sc_passive_open does. The stack keeps nothing for it. */
static struct sc_seg *cookie_syn(struct sc *sc, const struct sc_syn_opts *o)
{
	uint64_t sent = sc->s->cnt.tcp_syncookies_sent;
	uint32_t nconns = sc->s->tcp.nconns;
	struct sc_seg *g;

	sc_send_syn(sc, o, false);
	do
		g = NEXT(sc, 1 * MS);
	while (g->dport != sc->peer_port);
	assert_int_equal(g->flags, S | A);
	assert_int_equal(g->rack, 1);
	assert_int_equal(sc->s->cnt.tcp_syncookies_sent, sent + 1);
	assert_int_equal(sc->s->tcp.nconns, nconns);
	sc->ts = o->ts && g->opt.has_ts;
	sc->ws = o->ws && g->opt.has_wscale;
	sc->sack = o->sack && g->opt.sack_ok;
	sc->peer_ws = sc->ws ? o->ws_val : 0;
	return g;
}

/* The connection the last ACK made, from the accept queue, in ESTABLISHED. */
static struct nip_tcp_conn *accepted(struct sc *sc)
{
	struct nip_tcp_conn *c = nip_tcp_accept(sc->listener);

	assert_non_null(c);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	assert_int_equal(c->remote_port, sc->peer_port);
	nip_tcp_set_cb(c, sc_event, sc);
	return c;
}

/* A handshake the stack answered with a cookie: what its peer needs to send the last ACK
 * later, while the script talks to other peers. */
struct flow {
	uint16_t port;
	uint32_t iss, ts_recent;
};

static struct flow flow_now(const struct sc *sc)
{
	return (struct flow){sc->peer_port, sc->iss, sc->ts_recent};
}

static void flow_use(struct sc *sc, const struct flow *f)
{
	sc->peer_port = f->port;
	sc->iss = f->iss;
	sc->ts_recent = f->ts_recent;
}

/* The flow's last ACK (with len bytes) carries a valid cookie: a connection is made and
 * accepted, its data read; it ends with a reset. */
static void cookie_gets_in(struct sc *sc, const struct flow *f, uint32_t len)
{
	uint64_t ok = sc->s->cnt.tcp_syncookies_ok;
	struct nip_tcp_conn *c;
	int st;

	flow_use(sc, f);
	sc_send(sc, A, 1, 1, len);
	assert_int_equal(sc->s->cnt.tcp_syncookies_ok, ok + 1);
	c = accepted(sc);
	sc->popped = 0;
	assert_int_equal(sc_pop(sc, c, &st), len);
	sc_close_rst(c);
	sc_flush(sc); /* its RST, an ACK for the data */
}

/* Every option: the cookie remembers MSS 1460, window scale 7, SACK and timestamps (the last
 * two through the TSval's low bits), and the data on the last ACK reaches the application. */
static void test_tcp_syncookie_all_options(void **state)
{
	struct sc *sc = full_queue(state);
	struct sc_seg *g = cookie_syn(sc, &sc_all_opts);
	uint32_t tsval = g->opt.tsval;
	uint8_t our_ws = g->opt.wscale;
	struct nip_tcp_conn *c;
	int st;

	assert_true(g->opt.has_ts && g->opt.has_wscale && g->opt.sack_ok);
	assert_int_equal(g->opt.tsval & 0x1f, 7 | 0x10);
	assert_int_equal(g->opt.tsecr, sc_peer_tsval(sc));
	sc_wait(sc, SC_HANDSHAKE_RTT);
	sc_send(sc, A, 1, 1, 100);
	assert_int_equal(sc->s->cnt.tcp_syncookies_ok, 1);
	assert_int_equal(sc->s->cnt.tcp_syncookies_failed, 0);
	EXPECT(sc, A, 1, 101, 0, 0);
	assert_true(sc->last.opt.has_ts);
	assert_true(sc->last.opt.tsval - tsval < 0x80000000u); /* never back: the peer's PAWS */
	c = accepted(sc);
	assert_int_equal(c->peer_mss, 1460);
	assert_int_equal(c->mss, 1460 - 12);
	assert_true(c->ws_ok && c->sack_ok && c->ts_ok);
	assert_int_equal(c->snd_wscale, 7);
	assert_int_equal(c->rcv_wscale, our_ws);
	assert_int_equal(c->snd_wnd, 65535u << 7);
	assert_int_equal(sc_pop(sc, c, &st), 100);
	/* It works as any connection: data both ways, SACK blocks for a hole. */
	assert_int_equal(sc_push(sc, c, 10), 0);
	EXPECT(sc, A, 1, 101, 10, 0);
	sc_send(sc, A, 201, 11, 50);
	sc_expect_sack(sc, 11, 101, 1, 201, 251);
	sc_close_rst(c);
	EXPECT(sc, R | A, SC_ANY, SC_ANY, 0, 0);
}

/* A peer without timestamps: nothing would bring window scale or SACK back, so the SYN-ACK
 * offers neither; the MSS comes back as the table's largest value not above the peer's. */
static void test_tcp_syncookie_no_timestamps(void **state)
{
	struct sc *sc = full_queue(state);
	const struct sc_syn_opts o = {
		.mss = true, .mss_val = 1400, .ws = true, .ws_val = 5, .sack = true};
	struct sc_seg *g = cookie_syn(sc, &o);
	struct nip_tcp_conn *c;

	assert_false(g->opt.has_ts || g->opt.has_wscale || g->opt.sack_ok);
	assert_true(g->opt.has_mss);
	sc_send(sc, A, 1, 1, 0);
	c = accepted(sc);
	assert_int_equal(c->peer_mss, 1380);
	assert_int_equal(c->mss, 1380);
	assert_false(c->ws_ok || c->sack_ok || c->ts_ok);
	assert_int_equal(c->snd_wscale, 0);
	assert_int_equal(c->rcv_wscale, 0);
	assert_int_equal(c->snd_wnd, 65535);
	sc_close_rst(c);
	EXPECT(sc, R | A, SC_ANY, SC_ANY, 0, 0);
}

/* A forged ACK, a tampered MSS index, a tampered timestamp (the options it carries) and an ACK
 * from another ISN are reset and counted, and leave no state; the true one then gets in. */
static void test_tcp_syncookie_rejects_forged(void **state)
{
	struct sc *sc = full_queue(state);
	struct flow f;

	cookie_syn(sc, &sc_all_opts);
	f = flow_now(sc);
	sc_send(sc, A, 1, 1 + 0x12345, 0); /* a guess */
	sc_inject(sc, &(struct sc_pkt){.flags = A,
				       .abs = true,
				       .seq = sc->peer_iss + 1,
				       .ack = (sc->iss ^ 1) + 1}); /* another MSS index */
	sc->ts_recent = f.ts_recent ^ 1;			   /* window scale 6 */
	sc_send(sc, A, 1, 1, 0);
	sc->ts_recent = f.ts_recent ^ 0x10; /* no SACK */
	sc_send(sc, A, 1, 1, 0);
	sc->ts_recent = f.ts_recent;
	sc_send(sc, A, 2, 1, 0); /* another peer ISN */
	for (int i = 0; i < 5; i++)
		EXPECT(sc, R, SC_ANY, SC_ANY, 0, 0);
	assert_int_equal(sc->s->cnt.tcp_syncookies_failed, 5);
	assert_int_equal(sc->s->cnt.drop_tcp_no_conn, 5);
	assert_int_equal(sc->s->cnt.tcp_syncookies_ok, 0);
	assert_int_equal(sc->s->tcp.nconns, 3);
	assert_null(nip_tcp_accept(sc->listener));
	cookie_gets_in(sc, &f, 0);
}

/* A cookie is good in its key period and the next (64 to 128 s), not two periods later. */
static void test_tcp_syncookie_expires(void **state)
{
	struct sc *sc = full_queue(state);
	struct flow f[3];

	for (int i = 0; i < 2; i++) {
		sc->peer_port = (uint16_t)(40000 + i);
		cookie_syn(sc, &sc_all_opts);
		f[i] = flow_now(sc);
	}
	/* One period later: the first one still opens its connection. */
	sc_wait(sc, COOKIE_PERIOD);
	sc_flush(sc);
	cookie_gets_in(sc, &f[0], 0);
	/* Two periods after it was made, the second one is refused, though the listener still
	 * sends cookies (a fresh one works). */
	sc_wait(sc, COOKIE_PERIOD + 1 * SEC);
	sc_flush(sc);
	sc->peer_port = 40002;
	cookie_syn(sc, &sc_all_opts);
	f[2] = flow_now(sc);
	flow_use(sc, &f[1]);
	sc_send(sc, A, 1, 1, 0);
	EXPECT(sc, R, SC_ANY, SC_ANY, 0, 0);
	assert_int_equal(sc->s->cnt.tcp_syncookies_failed, 1);
	assert_null(nip_tcp_accept(sc->listener));
	cookie_gets_in(sc, &f[2], 0);
}

/* A full accept queue takes no connection: a valid cookie's ACK is dropped (no reset) and
 * counted, and the peer's retransmission of its data gets in once there is room. */
static void test_tcp_syncookie_accept_queue_full(void **state)
{
	struct sc *sc = full_queue(state);
	struct nip_tcp_conn *first;
	struct flow f;

	nip_tcp_listen(sc->listener, 1);
	cookie_syn(sc, &sc_all_opts);
	f = flow_now(sc);
	sc->peer_port = 40001;
	cookie_syn(sc, &sc_all_opts);
	sc_send(sc, A, 1, 1, 0); /* fills the accept queue */
	assert_int_equal(sc->listener->listener->accept_len, 1);
	flow_use(sc, &f);
	sc_send(sc, A, 1, 1, 5);
	EXPECT_NOTHING(sc, 10 * MS);
	assert_int_equal(sc->s->cnt.drop_tcp_accept_queue_full, 1);
	assert_int_equal(sc->s->cnt.tcp_syncookies_ok, 1);
	assert_int_equal(sc->s->tcp.nconns, 4);
	first = nip_tcp_accept(sc->listener);
	assert_non_null(first);
	cookie_gets_in(sc, &f, 5);
	sc_close_rst(first);
	sc_flush(sc);
}

/* A peer opens a connection through the cookies of a flood of spoofed SYNs and sends 10 bytes;
 * returns the virtual time from its SYN to the accept. */
static uint64_t open_in_flood(struct sc *sc, uint16_t port)
{
	uint64_t t0 = sc->p.now;
	struct flow f;

	sc_flush(sc);
	sc->peer_port = port;
	cookie_syn(sc, &sc_all_opts);
	f = flow_now(sc);
	sc_wait(sc, 1 * MS);
	cookie_gets_in(sc, &f, 10);
	return sc->p.now - t0;
}

/* 10000 SYNs from distinct sources in 3 s (the peers never answer): the SYN queue fills, every
 * other SYN gets a cookie and costs nothing; connections and buffers stay bounded, and a
 * legitimate peer gets through within 100 ms in the middle of the flood and after it. */
static void test_tcp_syncookie_flood(void **state)
{
	struct nip_stack_config cfg = sc_config();
	struct sc *sc = sc_start(state, &cfg);
	uint32_t backlog = cfg.tcp.syn_backlog;

	sc_listen(sc, 16);
	for (uint32_t i = 0; i < 10000; i++) {
		if (i == 5000)
			assert_true(open_in_flood(sc, 40000) <= 100 * MS);
		sc_inject(sc, &(struct sc_pkt){.flags = S, .sport = (uint16_t)(20000 + i)});
		sc_wait(sc, 300 * US);
		sc_flush(sc);
		assert_true(sc->s->tcp.nconns <= 1 + backlog);
		assert_true(sc->pool.stats.bufs_in_use <= 64);
	}
	assert_true(open_in_flood(sc, 40001) <= 100 * MS);
	assert_int_equal(sc->listener->listener->syn_len, backlog);
	assert_int_equal(sc->s->cnt.tcp_syncookies_sent, 10000 - backlog + 2);
	assert_int_equal(sc->s->cnt.tcp_syncookies_ok, 2);
	assert_int_equal(sc->s->cnt.tcp_syncookies_failed, 0);
	assert_int_equal(sc->s->cnt.drop_tcp_syn_queue_full, 0);
}

#define T(name) cmocka_unit_test_teardown(test_tcp_syncookie_##name, sc_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(all_options), T(no_timestamps),     T(rejects_forged),
		T(expires),	T(accept_queue_full), T(flood),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
