/* SPDX-License-Identifier: MIT */
/* Packet-level TCP scripts: the peer's side; see tcp_script.h. */
#include "tcp_script.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "wire/tcp.h"

#define STEPS_MAX 1000000 /* timer firings in one advance before calling it a loop */

const struct sc_syn_opts sc_all_opts = {
	.mss = true,
	.ws = true,
	.sack = true,
	.ts = true,
	.mss_val = 1460,
	.ws_val = 7,
};
const struct sc_syn_opts sc_no_opts = {0};

void sc_config_default(struct nip_stack_config *cfg)
{
	nip_stack_config_default(cfg);
	memset(cfg->tcp.isn_secret, 0x5c, sizeof(cfg->tcp.isn_secret));
}

struct nip_stack_config sc_config(void)
{
	struct nip_stack_config cfg;

	sc_config_default(&cfg);
	return cfg;
}

void sc_event(void *ctx, unsigned events)
{
	struct sc *sc = ctx;

	sc->events |= events;
}

static void listener_event(void *ctx, unsigned events)
{
	struct sc *sc = ctx;

	sc->listener_events |= events;
}

struct sc *sc_create(const struct nip_stack_config *cfg)
{
	struct sc *sc = calloc(1, sizeof(*sc));
	struct nip_stack_config def;

	assert_non_null(sc);
	if (!cfg) {
		sc_config_default(&def);
		cfg = &def;
	}
	assert_int_equal(demi__pool_init(&sc->pool, 0), 0);
	/* The clock starts at 1 s: a time of 0 means "not armed" in places. */
	assert_int_equal(tcp_peer_init(&sc->p, &sc->pool, cfg, 1500), 0);
	sc->s = &sc->p.s;
	sc->peer_port = SC_PEER_PORT;
	sc->peer_iss = SC_PEER_ISS;
	sc->peer_win = 65535;
	sc->peer_ts_base = 7000;
	return sc;
}

void sc_at(struct sc *sc, uint64_t t)
{
	assert_true(t >= sc->p.now);
	assert_int_equal(tcp_peer_clock_to(&sc->p, t, STEPS_MAX), 0);
}

void sc_wait(struct sc *sc, uint64_t dt)
{
	sc_at(sc, sc->p.now + dt);
}

void sc_flush(struct sc *sc)
{
	tcp_peer_discard(&sc->p);
}

void sc_destroy(struct sc *sc)
{
	if (sc->listener)
		nip_tcp_close(sc->listener);
	sc->listener = NULL;
	/* Let every connection the stack still holds run out (TIME-WAIT, retransmissions of a
	 * FIN nobody answers, orphaned FIN-WAIT-2). */
	assert_int_equal(tcp_peer_run_out(&sc->p, 3600 * SEC, STEPS_MAX), 0);
	assert_int_equal(sc->s->tcp.nconns, 0); /* no connection leaked */
	tcp_peer_fini(&sc->p);
	assert_int_equal(sc->pool.stats.bufs_in_use, 0); /* no buffer leaked */
	demi__pool_fini(&sc->pool);
	free(sc);
}

/* ---- fixtures ---- */

struct sc *sc_start(void **state, const struct nip_stack_config *cfg)
{
	struct sc *sc = sc_create(cfg);

	*state = sc;
	return sc;
}

int sc_setup(void **state)
{
	sc_start(state, NULL);
	return 0;
}

int sc_setup_listen(void **state)
{
	sc_listen(sc_start(state, NULL), 16);
	return 0;
}

static int setup_open(void **state, bool active, const struct sc_syn_opts *o)
{
	struct sc *sc = sc_start(state, NULL);

	sc->conn = active ? sc_active_open(sc, o) : sc_passive_open(sc, o);
	return 0;
}

int sc_setup_passive(void **state)
{
	return setup_open(state, false, &sc_all_opts);
}

int sc_setup_passive_plain(void **state)
{
	return setup_open(state, false, &sc_no_opts);
}

int sc_setup_active(void **state)
{
	return setup_open(state, true, &sc_all_opts);
}

int sc_setup_active_plain(void **state)
{
	return setup_open(state, true, &sc_no_opts);
}

int sc_teardown(void **state)
{
	if (*state)
		sc_destroy(*state);
	*state = NULL;
	return 0;
}

/* ---- the peer sends ---- */

uint32_t sc_peer_tsval(const struct sc *sc)
{
	return sc->peer_ts_base + (uint32_t)(sc->p.now / MS);
}

/* The peer's data: its pattern by offset in its stream. */
static uint8_t peer_byte(uint32_t seq, const void *ctx)
{
	const struct sc *sc = ctx;

	return sc_pat_peer(seq - sc->peer_iss - 1);
}

void sc_inject(struct sc *sc, const struct sc_pkt *p)
{
	struct tcp_peer_seg sg = {
		.len = p->len,
		.data = p->data,
		.fill = peer_byte,
		.fill_ctx = sc,
		.raw_opt = p->raw_opt,
		.raw_opt_len = p->raw_opt_len,
		.doff_set = p->doff != 0,
		.doff = p->doff,
		.bad_csum = p->bad_csum,
	};
	struct nip_tcp_seg *h = &sg.h;

	h->sport = p->sport ? p->sport : sc->peer_port;
	h->dport = p->dport ? p->dport : SC_PORT;
	h->seq = p->abs ? p->seq : sc->peer_iss + p->seq;
	h->ack = p->abs ? p->ack : sc->iss + p->ack;
	if (!(p->flags & NIP_TCP_ACK) && !p->abs)
		h->ack = 0;
	h->flags = p->flags;
	h->win = p->win_set ? p->win : sc->peer_win;
	if (p->opt) {
		h->opt = *p->opt;
	} else if (sc->ts && !p->no_ts && !p->raw_opt_len) {
		h->opt.has_ts = true;
		h->opt.tsval = p->ts_set ? p->tsval : sc_peer_tsval(sc);
		h->opt.tsecr = (p->flags & NIP_TCP_ACK) ? sc->ts_recent : 0;
	}
	assert_int_equal(tcp_peer_inject(&sc->p, &sg), 0);
}

void sc_send(struct sc *sc, uint8_t flags, uint32_t rseq, uint32_t rack, uint32_t len)
{
	struct sc_pkt p = {.flags = flags, .seq = rseq, .ack = rack, .len = len};

	sc_inject(sc, &p);
}

void sc_send_syn(struct sc *sc, const struct sc_syn_opts *o, bool ack)
{
	struct nip_tcp_opts opt;
	struct sc_pkt p = {.flags = NIP_TCP_SYN, .opt = &opt};

	memset(&opt, 0, sizeof(opt));
	opt.has_mss = o->mss;
	opt.mss = o->mss_val;
	opt.has_wscale = o->ws;
	opt.wscale = o->ws_val;
	opt.sack_ok = o->sack;
	opt.has_ts = o->ts;
	opt.tsval = sc_peer_tsval(sc);
	if (ack) {
		p.flags |= NIP_TCP_ACK;
		p.ack = 1;
		opt.tsecr = sc->ts_recent;
	}
	sc_inject(sc, &p);
}

/* ---- the peer receives ---- */

static bool take(struct sc *sc, struct sc_seg *out)
{
	struct tcp_peer_rx rx;
	const struct nip_tcp_seg *ts = &rx.seg;
	int rc = tcp_peer_take(&sc->p, &rx);

	if (!rc)
		return false;
	assert_int_equal(rc, 1); /* a valid TCP segment from the stack to the peer */
	memset(out, 0, offsetof(struct sc_seg, data));
	out->t = rx.t;
	out->flags = ts->flags;
	out->seq = ts->seq;
	out->ack = ts->ack;
	out->win = ts->win;
	out->sport = ts->sport;
	out->dport = ts->dport;
	out->opt = ts->opt;
	out->len = (uint32_t)ts->payload_len;
	assert_true(out->len <= sizeof(out->data));
	memcpy(out->data, ts->payload, out->len);
	if ((ts->flags & NIP_TCP_SYN) && ts->dport == sc->peer_port)
		sc->iss = ts->seq;
	out->rseq = out->seq - sc->iss;
	out->rack = out->ack - sc->peer_iss;
	if (ts->opt.has_ts && ts->dport == sc->peer_port)
		sc->ts_recent = ts->opt.tsval;
	return true;
}

static const char *flag_str(uint8_t f, char *buf)
{
	snprintf(buf, 32, "%s%s%s%s%s", f & NIP_TCP_SYN ? "S" : "", f & NIP_TCP_FIN ? "F" : "",
		 f & NIP_TCP_RST ? "R" : "", f & NIP_TCP_PSH ? "P" : "",
		 f & NIP_TCP_ACK ? "." : "");
	return buf;
}

struct sc_seg *sc_next(struct sc *sc, uint64_t within, const char *file, int line)
{
	uint64_t deadline = sc->p.now + within;

	for (;;) {
		uint64_t next;

		if (take(sc, &sc->last))
			return &sc->last;
		next = tcp_peer_next_event(&sc->p);
		if (next > deadline) {
			sc_at(sc, deadline);
			if (take(sc, &sc->last))
				return &sc->last;
			fail_msg("%s:%d: nothing sent within %llu ms", file, line,
				 (unsigned long long)(within / MS));
		}
		sc_at(sc, next > sc->p.now ? next : sc->p.now);
	}
}

struct sc_seg *sc_expect_(struct sc *sc, uint8_t flags, uint32_t rseq, uint32_t rack, uint32_t len,
			  uint64_t within, const char *file, int line)
{
	uint64_t start = sc->p.now;
	struct sc_seg *g = sc_next(sc, within, file, line);
	char a[32], b[32];

	if ((g->flags & ~NIP_TCP_PSH) != (flags & ~NIP_TCP_PSH) ||
	    (rseq != SC_ANY && g->rseq != rseq) ||
	    (rack != SC_ANY && (flags & NIP_TCP_ACK) && g->rack != rack) ||
	    (len != SC_ANY && g->len != len))
		fail_msg("%s:%d: got [%s] seq %u ack %u len %u win %u, expected [%s] seq %d ack %d "
			 "len %d",
			 file, line, flag_str(g->flags, a), g->rseq, g->rack, g->len, g->win,
			 flag_str(flags, b), (int)rseq, (int)rack, (int)len);
	if (g->t > start + within)
		fail_msg("%s:%d: sent %llu us late", file, line,
			 (unsigned long long)((g->t - start - within) / US));
	for (uint32_t i = 0; i < g->len; i++)
		if (g->data[i] != sc_pat_stack(g->rseq - 1 + i))
			fail_msg("%s:%d: payload byte %u (seq %u) differs", file, line, i,
				 g->rseq + i);
	return g;
}

void sc_expect_nothing_(struct sc *sc, uint64_t dt, const char *file, int line)
{
	struct sc_seg g;
	char a[32];

	sc_wait(sc, dt);
	if (take(sc, &g))
		fail_msg("%s:%d: unexpected [%s] seq %u ack %u len %u at +%lld us", file, line,
			 flag_str(g.flags, a), g.rseq, g.rack, g.len,
			 (long long)(g.t - (sc->p.now - dt)) / 1000);
}

/* ---- user side ---- */

void sc_listen(struct sc *sc, uint32_t backlog)
{
	sc->listener = nip_tcp_create(sc->s, listener_event, sc);
	assert_non_null(sc->listener);
	assert_int_equal(nip_tcp_bind(sc->listener, 0, SC_PORT, false), 0);
	assert_int_equal(nip_tcp_listen(sc->listener, backlog), 0);
}

int sc_push(struct sc *sc, struct nip_tcp_conn *c, uint32_t len)
{
	struct demi__buf *b = demi__pool_get(&sc->pool, len);
	int rc;

	assert_non_null(b);
	for (uint32_t i = 0; i < len; i++)
		demi__buf_data(b)[i] = sc_pat_stack(sc->pushed + i);
	rc = nip_tcp_send(c, b, demi__buf_data(b), len);
	if (rc == 0)
		sc->pushed += len;
	else
		demi__buf_put(b);
	return rc;
}

uint32_t sc_pop(struct sc *sc, struct nip_tcp_conn *c, int *status)
{
	struct demi__buf *b;
	uint32_t n = 0;
	int st;

	while ((b = nip_tcp_recv(c, &st))) {
		const uint8_t *d = demi__buf_data(b);

		for (uint32_t i = 0; i < b->len; i++)
			if (d[i] != sc_pat_peer(sc->popped + i))
				fail_msg("received byte %llu differs",
					 (unsigned long long)(sc->popped + i));
		sc->popped += b->len;
		n += b->len;
		demi__buf_put(b);
	}
	if (status)
		*status = st;
	return n;
}

/* ---- handshakes ---- */

static void negotiated(struct sc *sc, const struct sc_syn_opts *o, const struct sc_seg *g)
{
	sc->ts = o->ts && g->opt.has_ts;
	sc->ws = o->ws && g->opt.has_wscale;
	sc->sack = o->sack && g->opt.sack_ok;
	sc->peer_ws = sc->ws ? o->ws_val : 0;
}

struct nip_tcp_conn *sc_passive_open(struct sc *sc, const struct sc_syn_opts *o)
{
	struct nip_tcp_conn *c;
	struct sc_seg *g;

	if (!sc->listener)
		sc_listen(sc, 16);
	sc_send_syn(sc, o, false);
	g = EXPECT(sc, NIP_TCP_SYN | NIP_TCP_ACK, SC_ANY, 1, 0, 0);
	assert_int_equal(g->rseq, 0);
	negotiated(sc, o, g);
	sc_wait(sc, SC_HANDSHAKE_RTT);
	sc_send(sc, NIP_TCP_ACK, 1, 1, 0);
	c = nip_tcp_accept(sc->listener);
	assert_non_null(c);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	nip_tcp_set_cb(c, sc_event, sc);
	return c;
}

struct nip_tcp_conn *sc_active_open(struct sc *sc, const struct sc_syn_opts *o)
{
	struct nip_tcp_conn *c = nip_tcp_create(sc->s, sc_event, sc);
	struct sc_seg *g;

	assert_non_null(c);
	assert_int_equal(nip_tcp_bind(c, 0, SC_PORT, false), 0);
	assert_int_equal(nip_tcp_connect(c, htonl(SC_IP_PEER), sc->peer_port), 0);
	g = EXPECT(sc, NIP_TCP_SYN, 0, SC_ANY, 0, 0);
	assert_int_equal(g->dport, sc->peer_port);
	sc_wait(sc, SC_HANDSHAKE_RTT);
	sc_send_syn(sc, o, true);
	negotiated(sc, o, g);
	EXPECT(sc, NIP_TCP_ACK, 1, 1, 0, 0);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	assert_true(sc->events & NIP_TCP_EV_CONNECTED);
	return c;
}

/* ---- sequences the scripts repeat ---- */

#define A NIP_TCP_ACK

void sc_close(struct sc *sc, struct nip_tcp_conn *c, uint32_t snd, uint32_t rcv)
{
	nip_tcp_close(c);
	EXPECT(sc, NIP_TCP_FIN | A, snd, rcv, 0, 0);
	sc_send(sc, NIP_TCP_FIN | A, rcv, snd + 1, 0);
	EXPECT(sc, A, snd + 1, rcv + 1, 0, 0);
}

void sc_close_rst(struct nip_tcp_conn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	assert_int_equal(nip_tcp_setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	nip_tcp_close(c);
}

void sc_peer_data(struct sc *sc, uint32_t rseq, uint32_t snd, uint32_t len)
{
	sc_send(sc, A | NIP_TCP_PSH, rseq, snd, len);
	EXPECT(sc, A, snd, rseq + len, 0, 0);
}

uint64_t sc_flight(struct sc *sc, struct nip_tcp_conn *c, uint32_t len, uint32_t seq, uint32_t ack,
		   uint32_t mss)
{
	uint64_t t = sc->p.now;

	assert_int_equal(sc_push(sc, c, len), 0);
	for (uint32_t off = 0; off < len; off += mss) {
		struct sc_seg *g =
			EXPECT(sc, A, seq + off, ack, len - off < mss ? len - off : mss, 0);

		if (!off)
			t = g->t;
	}
	return t;
}

uint64_t sc_backoff(struct sc *sc, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
		    uint64_t t, uint64_t first, uint64_t last)
{
	for (uint64_t gap = first; gap <= last; gap *= 2) {
		struct sc_seg *g = EXPECT(sc, flags, seq, ack, len, 2 * last + 10 * SEC);

		assert_int_equal(g->t - t, gap);
		t = g->t;
	}
	return t;
}

void sc_rst_ends(struct sc *sc, uint32_t rseq, uint32_t nconns)
{
	sc_send(sc, NIP_TCP_RST, rseq, 0, 0);
	assert_int_equal(sc->s->tcp.nconns, nconns);
	EXPECT_NOTHING(sc, 10 * SEC);
}

void sc_failed_with(struct sc *sc, struct nip_tcp_conn *c, int err)
{
	int st;

	assert_int_equal(c->state, NIP_TCP_CLOSED);
	assert_int_equal(c->err, err);
	assert_true(sc->events & NIP_TCP_EV_READABLE);
	assert_null(nip_tcp_recv(c, &st));
	assert_int_equal(st, -err);
}

void sc_sack_ack(struct sc *sc, uint32_t ack, int n, const uint32_t *blocks)
{
	struct nip_tcp_opts o = {.has_ts = true, .nsack = (uint8_t)n};

	o.tsval = sc_peer_tsval(sc);
	o.tsecr = sc->ts_recent;
	for (int i = 0; i < n; i++) {
		o.sack[i].start = sc->iss + blocks[2 * i];
		o.sack[i].end = sc->iss + blocks[2 * i + 1];
	}
	sc_inject(sc, &(struct sc_pkt){.flags = A, .seq = 1, .ack = ack, .opt = &o});
}

void sc_expect_sack(struct sc *sc, uint32_t snd, uint32_t ack, int n, uint32_t start, uint32_t end)
{
	struct sc_seg *g = EXPECT(sc, A, snd, ack, 0, 0);

	assert_int_equal(g->opt.nsack, n);
	if (n && start)
		assert_int_equal(g->opt.sack[0].start, sc->peer_iss + start);
	if (n && start && end)
		assert_int_equal(g->opt.sack[0].end, sc->peer_iss + end);
}

void sc_rtt_sample(struct sc *sc, struct nip_tcp_conn *c, uint64_t rtt)
{
	sc_flight(sc, c, 100, 1, 1, 1448);
	sc_wait(sc, rtt);
	sc_send(sc, A, 1, 101, 0);
	assert_int_equal(c->srtt, rtt);
}
