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
#include <cmocka.h>

#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/ip4.h"
#include "wire/tcp.h"

#define L3_OFF (NIP_ETH_HLEN + NIP_IP4_HLEN)
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
	cfg->ip = htonl(SC_IP_STACK);
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
	nip_test_wire_init(&sc->wire, &sc->pool, &sc->now, 1500, 1);
	assert_int_equal(nip_stack_init(&sc->s, nip_test_link(&sc->wire, 0), cfg), 0);
	assert_int_equal(nip_arp_add_static(&sc->s, htonl(SC_IP_PEER), sc->wire.end[1].link.mac),
			 0);
	sc->peer_port = SC_PEER_PORT;
	sc->peer_iss = SC_PEER_ISS;
	sc->peer_win = 65535;
	sc->peer_ts_base = 7000;
	/* Start a little after 0: a time of 0 means "not armed" in places. */
	sc_at(sc, 1 * SEC);
	return sc;
}

static uint64_t next_due(const struct sc *sc)
{
	const struct nip_test_end *e = &sc->wire.end[0];
	uint64_t next = UINT64_MAX;

	if (e->count)
		next = e->q[e->head].due;
	if (sc->s.tcp.heap_len && sc->s.tcp.heap[1]->due < next)
		next = sc->s.tcp.heap[1]->due;
	return next;
}

void sc_at(struct sc *sc, uint64_t t)
{
	int steps = 0;

	assert_true(t >= sc->now);
	for (;;) {
		uint64_t next = next_due(sc);

		if (next > t)
			break;
		if (next > sc->now)
			sc->now = next;
		nip_stack_poll(&sc->s, sc->now);
		assert_true(++steps < STEPS_MAX);
	}
	sc->now = t;
	nip_stack_poll(&sc->s, t);
}

void sc_wait(struct sc *sc, uint64_t dt)
{
	sc_at(sc, sc->now + dt);
}

void sc_flush(struct sc *sc)
{
	struct nip_test_end *e = &sc->wire.end[1];

	while (e->count) {
		demi__buf_put(e->q[e->head].buf);
		e->head = (e->head + 1) % NIP_TEST_QUEUE;
		e->count--;
	}
}

void sc_destroy(struct sc *sc)
{
	uint64_t end;

	if (sc->listener)
		nip_tcp_close(sc->listener);
	sc->listener = NULL;
	/* Let every connection the stack still holds run out (TIME-WAIT, retransmissions of a
	 * FIN nobody answers, orphaned FIN-WAIT-2). */
	end = sc->now + 3600 * SEC;
	while (sc->s.tcp.heap_len && sc->s.tcp.heap[1]->due <= end) {
		sc_at(sc, sc->s.tcp.heap[1]->due);
		sc_flush(sc);
	}
	sc_flush(sc);
	assert_int_equal(sc->s.tcp.nconns, 0); /* no connection leaked */
	nip_stack_fini(&sc->s);
	nip_test_wire_fini(&sc->wire);
	assert_int_equal(sc->pool.stats.bufs_in_use, 0); /* no buffer leaked */
	demi__pool_fini(&sc->pool);
	free(sc);
}

/* ---- the peer sends ---- */

static uint32_t peer_tsval(const struct sc *sc)
{
	return sc->peer_ts_base + (uint32_t)(sc->now / MS);
}

static void fix_csum(uint8_t *l4, size_t tlen)
{
	uint32_t sum;
	uint16_t csum;

	memset(l4 + 16, 0, 2);
	sum = nip_csum_pseudo4(htonl(SC_IP_PEER), htonl(SC_IP_STACK), NIP_IPPROTO_TCP,
			       (uint16_t)tlen);
	csum = nip_csum_fold(nip_csum_add(sum, l4, tlen));
	memcpy(l4 + 16, &csum, 2);
}

/* Puts raw option bytes into a header emitted without options, and fixes the checksum. */
static size_t add_raw_opts(uint8_t *l4, size_t hlen, size_t plen, const uint8_t *raw, uint8_t rlen)
{
	size_t nh = hlen + rlen;

	memmove(l4 + nh, l4 + hlen, plen);
	memcpy(l4 + hlen, raw, rlen);
	l4[12] = (uint8_t)((nh / 4) << 4);
	fix_csum(l4, nh + plen);
	return nh;
}

void sc_inject(struct sc *sc, const struct sc_pkt *p)
{
	struct nip_link *peer = nip_test_link(&sc->wire, 1);
	struct nip_tcp_seg h;
	struct nip_ip4 ip;
	struct demi__buf *f;
	uint8_t *d, *l4;
	size_t hlen;

	memset(&h, 0, sizeof(h));
	h.sport = p->sport ? p->sport : sc->peer_port;
	h.dport = p->dport ? p->dport : SC_PORT;
	h.seq = p->abs ? p->seq : sc->peer_iss + p->seq;
	h.ack = p->abs ? p->ack : sc->iss + p->ack;
	if (!(p->flags & NIP_TCP_ACK) && !p->abs)
		h.ack = 0;
	h.flags = p->flags;
	h.win = p->win_set ? p->win : sc->peer_win;
	if (p->opt) {
		h.opt = *p->opt;
	} else if (sc->ts && !p->no_ts && !p->raw_opt_len) {
		h.opt.has_ts = true;
		h.opt.tsval = p->ts_set ? p->tsval : peer_tsval(sc);
		h.opt.tsecr = (p->flags & NIP_TCP_ACK) ? sc->ts_recent : 0;
	}
	f = demi__pool_get(&sc->pool, L3_OFF + NIP_TCP_MAX_HLEN + p->len);
	assert_non_null(f);
	d = demi__buf_data(f);
	l4 = d + L3_OFF;
	hlen = NIP_TCP_HLEN + nip_tcp_opts_len(&h.opt);
	for (uint32_t i = 0; i < p->len; i++)
		l4[hlen + i] = p->data ? p->data[i] : sc_pat_peer(h.seq - sc->peer_iss - 1 + i);
	hlen = nip_tcp_emit(l4, &h, htonl(SC_IP_PEER), htonl(SC_IP_STACK), p->len, false);
	if (p->raw_opt_len)
		hlen = add_raw_opts(l4, hlen, p->len, p->raw_opt, p->raw_opt_len);
	if (p->doff) {
		l4[12] = (uint8_t)(p->doff << 4);
		fix_csum(l4, hlen + p->len);
	}
	if (p->bad_csum)
		l4[16] ^= 0x5a;
	memset(&ip, 0, sizeof(ip));
	ip.src = htonl(SC_IP_PEER);
	ip.dst = htonl(SC_IP_STACK);
	ip.proto = NIP_IPPROTO_TCP;
	ip.ttl = 64;
	nip_ip4_emit(d + NIP_ETH_HLEN, &ip, (uint16_t)(hlen + p->len), false);
	nip_eth_emit(d, sc->wire.end[0].link.mac, peer->mac, NIP_ETHERTYPE_IPV4);
	f->len = (uint32_t)(L3_OFF + hlen + p->len);
	assert_int_equal(peer->ops->tx_burst(peer->dev, &f, 1), 1);
	nip_stack_poll(&sc->s, sc->now);
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
	opt.tsval = peer_tsval(sc);
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
	struct nip_test_end *e = &sc->wire.end[1];
	struct nip_test_frame fr;
	struct nip_eth eth;
	struct nip_ip4 ip;
	struct nip_tcp_seg ts;

	if (!e->count)
		return false;
	fr = e->q[e->head];
	e->head = (e->head + 1) % NIP_TEST_QUEUE;
	e->count--;
	assert_int_equal(nip_eth_parse(demi__buf_data(fr.buf), fr.buf->len, &eth), 0);
	assert_int_equal(eth.type, NIP_ETHERTYPE_IPV4);
	assert_memory_equal(eth.dst, sc->wire.end[1].link.mac, 6);
	assert_int_equal(nip_ip4_parse(eth.payload, eth.payload_len, true, &ip), NIP_IP4_OK);
	assert_int_equal(ip.proto, NIP_IPPROTO_TCP);
	assert_int_equal(ip.src, htonl(SC_IP_STACK));
	assert_int_equal(ip.dst, htonl(SC_IP_PEER));
	assert_int_equal(nip_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, true, &ts),
			 NIP_TCP_OK);
	memset(out, 0, offsetof(struct sc_seg, data));
	out->t = fr.due;
	out->flags = ts.flags;
	out->seq = ts.seq;
	out->ack = ts.ack;
	out->win = ts.win;
	out->sport = ts.sport;
	out->dport = ts.dport;
	out->opt = ts.opt;
	out->len = (uint32_t)ts.payload_len;
	assert_true(out->len <= sizeof(out->data));
	memcpy(out->data, ts.payload, out->len);
	demi__buf_put(fr.buf);
	if ((ts.flags & NIP_TCP_SYN) && ts.dport == sc->peer_port)
		sc->iss = ts.seq;
	out->rseq = out->seq - sc->iss;
	out->rack = out->ack - sc->peer_iss;
	if (ts.opt.has_ts && ts.dport == sc->peer_port)
		sc->ts_recent = ts.opt.tsval;
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
	uint64_t deadline = sc->now + within;

	for (;;) {
		uint64_t next;

		if (take(sc, &sc->last))
			return &sc->last;
		next = next_due(sc);
		if (next > deadline) {
			sc_at(sc, deadline);
			if (take(sc, &sc->last))
				return &sc->last;
			fail_msg("%s:%d: nothing sent within %llu ms", file, line,
				 (unsigned long long)(within / MS));
		}
		sc_at(sc, next > sc->now ? next : sc->now);
	}
}

struct sc_seg *sc_expect_(struct sc *sc, uint8_t flags, uint32_t rseq, uint32_t rack, uint32_t len,
			  uint64_t within, const char *file, int line)
{
	uint64_t start = sc->now;
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
			 (long long)(g.t - (sc->now - dt)) / 1000);
}

/* ---- user side ---- */

void sc_listen(struct sc *sc, uint32_t backlog)
{
	sc->listener = nip_tcp_create(&sc->s, listener_event, sc);
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
	struct nip_tcp_conn *c = nip_tcp_create(&sc->s, sc_event, sc);
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
