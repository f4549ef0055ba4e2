/* SPDX-License-Identifier: MIT */
/*
 * When catnip's TCP tells its owner what changed (on_event): only once a segment has been
 * processed to the end (STYLE.md "process first, notify after"; lwIP's tcp_input). A callback
 * that calls into the stack from there (push, accept, pop, as the libOS does) sees every
 * change the segment made (its window update, its data) and cannot make output send with
 * half-updated state. Driven by the packet scripts of tests/inet/tcp_script.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "tcp_script.h"

#define A NIP_TCP_ACK
#define S NIP_TCP_SYN
#define F NIP_TCP_FIN
#define P NIP_TCP_PSH

/* What a callback saw of its connection, each time it ran. */
struct probe {
	struct sc *sc;
	struct nip_tcp_conn *c;
	int calls;
	unsigned events;
	uint32_t snd_wnd, rq_bytes; /* at the last call */
	uint32_t push_len;	    /* pushed from the callback on WRITABLE */
	bool accept;		    /* a listener's callback: accept at once, as catnip does */
};

static void probe_event(void *ctx, unsigned events)
{
	struct probe *p = ctx;

	p->calls++;
	p->events |= events;
	if (p->accept && (events & NIP_TCP_EV_ACCEPTABLE)) {
		p->c = nip_tcp_accept(p->sc->listener);
		assert_non_null(p->c);
		nip_tcp_set_cb(p->c, sc_event, p->sc);
	}
	if (!p->c)
		return;
	p->snd_wnd = p->c->snd_wnd;
	p->rq_bytes = p->c->rq_bytes;
	if ((events & NIP_TCP_EV_WRITABLE) && p->push_len)
		assert_int_equal(sc_push(p->sc, p->c, p->push_len), 0);
}

/* The peer's ACK frees the whole send queue, closes its window and brings data. The owner
 * hears of it once (writable and readable together), with the window and the data already
 * taken in; what it pushes from the callback waits for the window instead of going out into
 * a window of zero (which it did while WRITABLE fired from inside ACK processing). */
static void test_tcp_events_writable_after_window_update(void **state)
{
	struct sc *sc = sc_create(NULL);
	struct nip_tcp_conn *c = sc_passive_open(sc, &sc_no_opts);
	struct probe p = {.sc = sc, .c = c, .push_len = 1000};
	struct sc_pkt ack = {
		.flags = A, .seq = 1, .ack = 2049, .win_set = true, .win = 0, .len = 100};
	int v = 2048, st;

	(void)state;
	assert_int_equal(nip_tcp_setsockopt(c, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
	assert_int_equal(sc_push(sc, c, 2048), 0);
	assert_false(nip_tcp_writable(c));
	EXPECT(sc, A, 1, 1, 536, 0);
	EXPECT(sc, A, 537, 1, 536, 0);
	EXPECT(sc, A, 1073, 1, 536, 0);
	EXPECT(sc, A | P, 1609, 1, 440, 0);
	nip_tcp_set_cb(c, probe_event, &p);
	sc_inject(sc, &ack);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.events, NIP_TCP_EV_WRITABLE | NIP_TCP_EV_READABLE);
	assert_int_equal(p.snd_wnd, 0);	   /* the segment's window update came first */
	assert_int_equal(p.rq_bytes, 100); /* and its data */
	/* Only the ACK of the peer's data leaves; the pushed bytes wait for the window. */
	EXPECT(sc, A, 2049, 101, 0, 0);
	EXPECT_NOTHING(sc, 100 * MS);
	assert_int_equal(sc_pop(sc, c, &st), 100);
	/* The window opens: the data flows. */
	p.push_len = 0;
	sc_send(sc, A, 101, 2049, 0);
	EXPECT(sc, A, 2049, 101, 536, 0);
	EXPECT(sc, A | P, 2585, 101, 464, 0);
	sc_send(sc, A, 101, 3049, 0);
	nip_tcp_set_cb(c, sc_event, sc);
	nip_tcp_close(c);
	EXPECT(sc, F | A, 3049, 101, 0, 0);
	sc_send(sc, F | A, 101, 3050, 0);
	EXPECT(sc, A, 3050, 102, 0, 0);
	sc_destroy(sc);
}

/* The handshake's last ACK carries data. The listener hears ACCEPTABLE once the segment is
 * done, so a callback that accepts at once finds the data already queued; and a connection
 * nobody accepted yet keeps its data for the accept to come (it was reset as if its owner had
 * closed it). */
static void handshake_with_data(bool accept_in_callback)
{
	struct sc *sc = sc_create(NULL);
	struct probe p = {.accept = accept_in_callback};
	struct nip_tcp_conn *c;
	int st;

	p.sc = sc;
	sc_listen(sc, 16);
	nip_tcp_set_cb(sc->listener, probe_event, &p);
	sc_send_syn(sc, &sc_no_opts, false);
	EXPECT(sc, S | A, 0, 1, 0, 0);
	sc_wait(sc, SC_HANDSHAKE_RTT);
	sc_send(sc, A | P, 1, 1, 300);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.events, NIP_TCP_EV_ACCEPTABLE);
	if (accept_in_callback) {
		c = p.c;
		assert_int_equal(p.rq_bytes, 300);
	} else {
		c = nip_tcp_accept(sc->listener);
		assert_non_null(c);
		nip_tcp_set_cb(c, sc_event, sc);
	}
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	assert_int_equal(sc->s->cnt.tcp_rst_sent, 0);
	EXPECT(sc, A, 1, 301, 0, SEC);
	assert_int_equal(sc_pop(sc, c, &st), 300);
	nip_tcp_close(c);
	EXPECT(sc, F | A, 1, 301, 0, 0);
	sc_send(sc, F | A, 301, 2, 0);
	EXPECT(sc, A, 2, 302, 0, 0);
	sc_destroy(sc);
}

static void test_tcp_events_accept_in_callback_sees_data(void **state)
{
	(void)state;
	handshake_with_data(true);
}

static void test_tcp_events_data_waits_for_accept(void **state)
{
	(void)state;
	handshake_with_data(false);
}

/* A reset: the owner hears of the failure after the connection is torn down (c->err set,
 * state CLOSED), once. */
static void test_tcp_events_reset_after_teardown(void **state)
{
	struct sc *sc = sc_create(NULL);
	struct nip_tcp_conn *c = sc_passive_open(sc, &sc_no_opts);
	struct probe p = {.sc = sc, .c = c};

	(void)state;
	nip_tcp_set_cb(c, probe_event, &p);
	sc_send(sc, NIP_TCP_RST, 1, 0, 0);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.events, NIP_TCP_EV_READABLE | NIP_TCP_EV_WRITABLE);
	assert_int_equal(c->state, NIP_TCP_CLOSED);
	assert_int_equal(c->err, ECONNRESET);
	nip_tcp_close(c);
	sc_destroy(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_events_writable_after_window_update),
		cmocka_unit_test(test_tcp_events_accept_in_callback_sees_data),
		cmocka_unit_test(test_tcp_events_data_waits_for_accept),
		cmocka_unit_test(test_tcp_events_reset_after_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
