/* SPDX-License-Identifier: MIT */
/*
 * TCP's life cycle and demultiplexing: connection blocks, local ports (bind, ephemeral ports
 * of RFC 6335), the 4-tuple hash, initial sequence numbers (RFC 6528), and the user calls of
 * RFC 9293 3.10 (OPEN, SEND, RECEIVE, CLOSE, ABORT) as the libOS makes them.
 *
 * Call order: nip_tcp_init (from nip_stack_init), then nip_tcp_input for every TCP segment,
 * nip_tcp_poll for timers, user calls at any time; nip_tcp_fini frees every connection. The
 * owner's callbacks run only from nip_tcp_deliver, at the end of nip_tcp_input, nip_tcp_poll
 * and the user calls that record events.
 */
#include "tcp_priv.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ip4_route.h"
#include "stack.h"
#include "tcp_seq.h"

#define HASH_BUCKETS 16384u
#define EPHEMERAL_FIRST 49152u
#define EPHEMERAL_COUNT 16384u
#define RCV_BURSTS 4u /* receive bursts of full segments the window holds at least */

uint32_t nip_tcp_mtu_mss(const struct nip_stack *s)
{
	return s->link->mtu > 40 ? s->link->mtu - 40u : 536u;
}

void nip_tcp_config_default(struct nip_tcp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rcvbuf = 256 * 1024;
	cfg->rcvbuf_max = 4 * 1024 * 1024;
	cfg->sndbuf = 256 * 1024;
	cfg->sndbuf_max = 4 * 1024 * 1024;
	cfg->rto_init = 1000000000ull; /* RFC 6298 2.1 */
	cfg->rto_min = 200000000ull;   /* as Linux: RFC 6298's 1 s floor is too slow in a DC */
	cfg->rto_max = 60000000000ull;
	cfg->max_retries = 15;
	cfg->syn_retries = 6;
	cfg->delack = 20000000ull;
	cfg->msl = 30000000000ull;
	cfg->keepalive_idle = 7200000000000ull;
	cfg->keepalive_intvl = 75000000000ull;
	cfg->keepalive_probes = 9;
	cfg->syn_backlog = 1024;
	cfg->max_conns = 65536;
	cfg->listen_backlog_max = 4096;
	cfg->challenge_ack_per_s = 1000;
	cfg->nodelay = true;
	cfg->sack = cfg->wscale = cfg->timestamps = true;
	cfg->syncookies = true;
	cfg->cc = &nip_cc_newreno;
}

static uint64_t siphash_2w(const uint8_t key[16], uint64_t m0, uint64_t m1)
{
	return nip_tcp_siphash(key, (const uint64_t[]){m0, m1}, 2);
}

int nip_tcp_init(struct nip_stack *s)
{
	struct nip_tcp_stack *t = &s->tcp;
	uint64_t start;

	memset(t, 0, sizeof(*t));
	t->hash = calloc(HASH_BUCKETS, sizeof(*t->hash));
	t->ports = calloc(65536, sizeof(*t->ports));
	t->port_users = calloc(65536, sizeof(*t->port_users));
	if (!t->hash || !t->ports || !t->port_users) {
		nip_tcp_fini(s);
		return -ENOMEM;
	}
	t->hash_mask = HASH_BUCKETS - 1;
	demi__list_init(&t->ack_pending);
	demi__list_init(&t->tx_wait);
	demi__list_init(&t->ev_pending);
	/* A secret start (RFC 6056 3.3.1): a restarted process must not reuse the 4-tuples of
	 * its predecessor, whose peers may still hold them (LAST-ACK, TIME-WAIT). */
	start = siphash_2w(s->cfg.tcp.isn_secret, 0x6570, 0) % EPHEMERAL_COUNT;
	t->next_ephemeral = (uint16_t)(EPHEMERAL_FIRST + start);
	if (!s->cfg.tcp.cc)
		s->cfg.tcp.cc = &nip_cc_newreno;
	return 0;
}

static void conn_release(struct nip_tcp_conn *c);

void nip_tcp_fini(struct nip_stack *s)
{
	struct nip_tcp_stack *t = &s->tcp;

	if (t->hash) {
		/* Listeners first (their queues hold connections that are also in the hash). */
		for (uint32_t p = 0; t->ports && p < 65536; p++)
			if (t->ports[p] && t->ports[p]->state == NIP_TCP_LISTEN)
				conn_release(t->ports[p]);
		for (uint32_t i = 0; i <= t->hash_mask; i++)
			while (t->hash[i])
				conn_release(t->hash[i]);
	}
	for (uint32_t p = 0; t->ports && p < 65536; p++)
		if (t->ports[p])
			conn_release(t->ports[p]);
	nip_tcp_heap_fini(s);
	while (t->chunk_free) {
		struct nip_tcp_chunk *k = t->chunk_free;

		t->chunk_free = k->next;
		free(k);
	}
	free(t->hash);
	free(t->ports);
	free(t->port_users);
	memset(t, 0, sizeof(*t));
}

/* ---- connection blocks ---- */

struct nip_tcp_conn *nip_tcp_conn_alloc(struct nip_stack *s)
{
	struct nip_tcp_conn *c;

	/* tcp_max_conns bounds what a flood of handshakes, or an application that never closes,
	 * can take: beyond it a SYN is dropped and a new socket refused, both counted. */
	if (s->cfg.tcp.max_conns && s->tcp.nconns >= s->cfg.tcp.max_conns) {
		s->cnt.tcp_conn_limit++;
		return NULL;
	}
	if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	c->s = s;
	c->state = NIP_TCP_CLOSED;
	c->rcvbuf = s->cfg.tcp.rcvbuf;
	c->rcv_auto = s->cfg.tcp.rcvbuf_max > s->cfg.tcp.rcvbuf;
	c->sndbuf = s->cfg.tcp.sndbuf;
	c->snd_auto = s->cfg.tcp.sndbuf_max > s->cfg.tcp.sndbuf;
	c->nodelay = s->cfg.tcp.nodelay;
	c->cc_ops = s->cfg.tcp.cc;
	c->rto = s->cfg.tcp.rto_init;
	demi__list_init(&c->qlink);
	demi__list_init(&c->ack_link);
	demi__list_init(&c->tx_link);
	demi__list_init(&c->ev_link);
	nip_tcp_reass_init(&c->reass);
	s->tcp.nconns++;
	return c;
}

static struct nip_tcp_chunk *chunk_get(struct nip_stack *s)
{
	struct nip_tcp_chunk *k = s->tcp.chunk_free;

	if (k) {
		s->tcp.chunk_free = k->next;
		return k;
	}
	return malloc(sizeof(*k));
}

static void chunk_put(struct nip_stack *s, struct nip_tcp_chunk *k)
{
	demi__buf_put(k->buf);
	k->buf = NULL;
	k->next = s->tcp.chunk_free;
	s->tcp.chunk_free = k;
}

static void sq_free(struct nip_tcp_conn *c)
{
	while (c->sq_head) {
		struct nip_tcp_chunk *k = c->sq_head;

		c->sq_head = k->next;
		chunk_put(c->s, k);
	}
	c->sq_cur = NULL;
	c->sq_tail = NULL;
	c->sq_bytes = 0;
	nip_tcp_rack_free(c);
}

static void rq_free(struct nip_tcp_conn *c)
{
	demi__buf_fifo_clear(&c->rq);
	c->rq_bytes = 0;
	c->rq_mem = 0;
	nip_tcp_reass_clear(&c->reass);
}

static void port_put(struct nip_tcp_conn *c)
{
	struct nip_tcp_stack *t = &c->s->tcp;

	if (!c->bound)
		return;
	c->bound = false;
	if (t->ports[c->local_port] == c)
		t->ports[c->local_port] = NULL;
	if (t->port_users[c->local_port])
		t->port_users[c->local_port]--;
}

/* Frees c whatever its state (stack teardown, or the end of a connection). */
static void conn_release(struct nip_tcp_conn *c)
{
	if (c->state == NIP_TCP_LISTEN)
		nip_tcp_listener_fini(c);
	nip_tcp_listen_detach(c);
	nip_tcp_hash_remove(c);
	nip_tcp_timers_clear(c);
	if (demi__list_linked(&c->ack_link))
		demi__list_remove(&c->ack_link);
	if (demi__list_linked(&c->tx_link))
		demi__list_remove(&c->tx_link);
	if (demi__list_linked(&c->ev_link))
		demi__list_remove(&c->ev_link);
	port_put(c);
	sq_free(c);
	rq_free(c);
	c->s->tcp.nconns--;
	free(c);
}

void nip_tcp_conn_free(struct nip_tcp_conn *c)
{
	conn_release(c);
}

void nip_tcp_maybe_free(struct nip_tcp_conn *c)
{
	if (!c->owned && !c->in_accept_queue && c->state == NIP_TCP_CLOSED)
		conn_release(c);
}

void nip_tcp_notify(struct nip_tcp_conn *c, unsigned events)
{
	if (!c->on_event)
		return; /* nobody listens: an orphan, or a connection not yet accepted */
	c->ev_pending |= events;
	if (!demi__list_linked(&c->ev_link))
		demi__list_push_back(&c->s->tcp.ev_pending, &c->ev_link);
}

/*
 * The one place user callbacks run (lwIP's tcp_input fires sent/recv/closed the same way, from
 * what processing recorded): at the end of nip_tcp_input, nip_tcp_poll and the user calls that
 * record events. A callback may call into the stack again (send, recv, close, accept): it
 * then sees every state change of the segment, and the events it causes join the list.
 */
void nip_tcp_deliver(struct nip_stack *s)
{
	struct demi__list *n;

	while ((n = demi__list_front(&s->tcp.ev_pending))) {
		struct nip_tcp_conn *c = demi__container_of(n, struct nip_tcp_conn, ev_link);
		unsigned events = c->ev_pending;

		demi__list_remove(n);
		c->ev_pending = 0;
		if (c->on_event)
			c->on_event(c->ctx, events); /* may free c */
	}
}

void nip_tcp_drop(struct nip_tcp_conn *c, int err)
{
	bool was_listening = c->state == NIP_TCP_LISTEN;

	c->state = NIP_TCP_CLOSED;
	if (err && !c->err)
		c->err = err;
	nip_tcp_timers_clear(c);
	nip_tcp_hash_remove(c);
	sq_free(c);
	if (err)
		rq_free(c); /* RFC 9293 3.10.7.4: a reset flushes the queues */
	if (was_listening)
		nip_tcp_listener_fini(c);
	if (c->listener && !c->owned) {
		/* Never accepted: nobody will learn of it. */
		conn_release(c);
		return;
	}
	nip_tcp_notify(c, NIP_TCP_EV_READABLE | NIP_TCP_EV_WRITABLE);
	nip_tcp_maybe_free(c);
}

/* ---- demultiplexing ---- */

static uint32_t hash4(const struct nip_stack *s, uint32_t rip, uint16_t rport, uint16_t lport)
{
	uint32_t h = rip ^ ((uint32_t)rport << 16 | lport);

	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h & s->tcp.hash_mask;
}

int nip_tcp_hash_insert(struct nip_tcp_conn *c)
{
	struct nip_stack *s = c->s;
	uint32_t h = hash4(s, c->remote_ip, c->remote_port, c->local_port);

	if (nip_tcp_lookup(s, c->remote_ip, c->remote_port, c->local_port))
		return -EADDRINUSE;
	c->hnext = s->tcp.hash[h];
	s->tcp.hash[h] = c;
	c->in_hash = true;
	return 0;
}

void nip_tcp_hash_remove(struct nip_tcp_conn *c)
{
	struct nip_tcp_conn **p;

	if (!c->in_hash)
		return;
	p = &c->s->tcp.hash[hash4(c->s, c->remote_ip, c->remote_port, c->local_port)];
	while (*p && *p != c)
		p = &(*p)->hnext;
	if (*p)
		*p = c->hnext;
	c->hnext = NULL;
	c->in_hash = false;
}

struct nip_tcp_conn *nip_tcp_lookup(struct nip_stack *s, uint32_t rip, uint16_t rport,
				    uint16_t lport)
{
	struct nip_tcp_conn *c = s->tcp.hash[hash4(s, rip, rport, lport)];

	while (c && !(c->remote_ip == rip && c->remote_port == rport && c->local_port == lport))
		c = c->hnext;
	return c;
}

void nip_tcp_input(struct nip_stack *s, struct demi__buf *frame, const uint8_t *seg, size_t len,
		   uint32_t src, uint32_t dst)
{
	struct nip_tcp_seg ts;
	struct nip_tcp_conn *c;
	enum nip_tcp_err err;

	/* ip4.c verified the checksum, or the device did (link.h NIP_RXF_*). */
	err = nip_tcp_parse(seg, len, src, dst, false, &ts);
	if (err != NIP_TCP_OK) {
		s->cnt.drop_tcp_bad[err]++;
		goto drop;
	}
	s->cnt.tcp_rx++;
	c = nip_tcp_lookup(s, src, ts.sport, ts.dport);
	if (c) {
		nip_tcp_conn_input(c, frame, &ts);
		if (!demi__list_empty(&s->tcp.ev_pending))
			nip_tcp_deliver(s);
		return;
	}
	c = s->tcp.ports[ts.dport];
	if (c && c->state == NIP_TCP_LISTEN && (!c->local_ip || c->local_ip == dst)) {
		/* The last ACK of a cookie's handshake makes a connection: the segment, and any
		 * data it carries, is its first. */
		c = nip_tcp_listen_input(c, &ts, src, dst);
		if (!c)
			goto drop;
		nip_tcp_conn_input(c, frame, &ts);
		if (!demi__list_empty(&s->tcp.ev_pending))
			nip_tcp_deliver(s);
		return;
	}
	/* RFC 9293 3.10.7.1: no connection; answer anything but a reset with a reset. */
	s->cnt.drop_tcp_no_conn++;
	if (!(ts.flags & NIP_TCP_RST) && dst != 0xffffffffu)
		nip_tcp_send_reset(s, &ts, src, dst);
drop:
	demi__buf_put(frame);
}

/* ---- initial sequence numbers (RFC 6528): M + F(4-tuple, secret) ---- */

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = rotl(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = rotl(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = rotl(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = rotl(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = rotl(v2, 32);                                                                 \
	} while (0)

/* SipHash-2-4 of n 64-bit words: a keyed pseudo-random function, as RFC 6528 asks for F (and
 * SYN cookies for their MAC, tcp_cookie.c). */
uint64_t nip_tcp_siphash(const uint8_t key[16], const uint64_t *m, size_t n)
{
	uint64_t k0, k1, v0, v1, v2, v3;

	memcpy(&k0, key, 8);
	memcpy(&k1, key + 8, 8);
	v0 = k0 ^ 0x736f6d6570736575ull;
	v1 = k1 ^ 0x646f72616e646f6dull;
	v2 = k0 ^ 0x6c7967656e657261ull;
	v3 = k1 ^ 0x7465646279746573ull;
	for (size_t i = 0; i <= n; i++) {
		/* The last block is the message length in bytes, in the top byte. */
		uint64_t w = i < n ? m[i] : (uint64_t)(n * 8) << 56;

		v3 ^= w;
		SIPROUND;
		SIPROUND;
		v0 ^= w;
	}
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t nip_tcp_isn(struct nip_stack *s, const struct nip_tcp_conn *c)
{
	uint64_t m0 = (uint64_t)c->local_ip << 32 | c->remote_ip;
	uint64_t m1 = (uint64_t)c->local_port << 16 | c->remote_port;

	/* M: a 4 microsecond clock (RFC 9293 3.4.1). */
	return (uint32_t)(nip_now(s) / 4000) + (uint32_t)siphash_2w(s->cfg.tcp.isn_secret, m0, m1);
}

/* ---- user calls ---- */

struct nip_tcp_conn *nip_tcp_create(struct nip_stack *s, nip_tcp_event_cb cb, void *ctx)
{
	struct nip_tcp_conn *c = nip_tcp_conn_alloc(s);

	if (!c)
		return NULL;
	c->owned = true;
	c->on_event = cb;
	c->ctx = ctx;
	return c;
}

void nip_tcp_set_cb(struct nip_tcp_conn *c, nip_tcp_event_cb cb, void *ctx)
{
	c->on_event = cb;
	c->ctx = ctx;
}

static bool port_free(const struct nip_stack *s, uint16_t port, bool reuse)
{
	const struct nip_tcp_stack *t = &s->tcp;

	if (t->ports[port])
		return false; /* a listener or an explicit bind holds it */
	return reuse || t->port_users[port] == 0;
}

int nip_tcp_bind(struct nip_tcp_conn *c, uint32_t ip, uint16_t port, bool reuse)
{
	struct nip_stack *s = c->s;
	struct nip_tcp_stack *t = &s->tcp;

	if (c->bound || c->state != NIP_TCP_CLOSED)
		return -EINVAL;
	if (ip != 0 && ip != s->cfg.ip)
		return -EADDRNOTAVAIL;
	if (port == 0) {
		for (uint32_t i = 0; i < EPHEMERAL_COUNT && !port; i++) {
			uint16_t p = t->next_ephemeral;

			t->next_ephemeral = (uint16_t)(p == 65535 ? EPHEMERAL_FIRST : p + 1u);
			if (port_free(s, p, false))
				port = p;
		}
		if (!port)
			return -EADDRINUSE;
	} else if (!port_free(s, port, reuse)) {
		return -EADDRINUSE;
	} else {
		t->ports[port] = c; /* explicit binds reserve the port */
	}
	t->port_users[port]++;
	c->local_ip = ip;
	c->local_port = port;
	c->bound = true;
	return 0;
}

int nip_tcp_listen(struct nip_tcp_conn *c, uint32_t backlog)
{
	struct nip_tcp_listener *l;
	uint32_t cap = c->s->cfg.tcp.listen_backlog_max;

	if (cap && backlog > cap)
		backlog =
			cap; /* as Linux caps at somaxconn: an application's 65535 is no promise */

	if (c->state == NIP_TCP_LISTEN) {
		c->listener->backlog = backlog ? backlog : 1;
		return 0;
	}
	if (!c->bound || c->state != NIP_TCP_CLOSED)
		return -EINVAL;
	if (!(l = calloc(1, sizeof(*l))))
		return -ENOMEM;
	l->conn = c;
	demi__list_init(&l->syn_q);
	demi__list_init(&l->accept_q);
	l->backlog = backlog ? backlog : 1;
	c->listener = l;
	c->state = NIP_TCP_LISTEN;
	c->s->tcp.ports[c->local_port] = c;
	return 0;
}

struct nip_tcp_conn *nip_tcp_accept(struct nip_tcp_conn *c)
{
	struct nip_tcp_listener *l = c->listener;
	struct demi__list *n;
	struct nip_tcp_conn *a;

	if (c->state != NIP_TCP_LISTEN || !(n = demi__list_front(&l->accept_q)))
		return NULL;
	a = demi__container_of(n, struct nip_tcp_conn, qlink);
	nip_tcp_listen_detach(a);
	a->listener = NULL;
	a->owned = true;
	return a;
}

int nip_tcp_connect(struct nip_tcp_conn *c, uint32_t ip, uint16_t port)
{
	struct nip_stack *s = c->s;
	int rc;

	if (c->state == NIP_TCP_SYN_SENT)
		return -EALREADY;
	if (c->state != NIP_TCP_CLOSED || c->err)
		return c->state == NIP_TCP_LISTEN ? -EINVAL : -EISCONN;
	if (!c->bound && (rc = nip_tcp_bind(c, 0, 0, false)) < 0)
		return rc;
	c->remote_ip = ip;
	c->remote_port = port;
	if ((rc = nip_tcp_hash_insert(c)) < 0)
		return rc;
	nip_tcp_options_init(c);
	c->iss = nip_tcp_isn(s, c);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->state = NIP_TCP_SYN_SENT;
	s->cnt.tcp_active_opens++;
	nip_tcp_send_syn(c);
	nip_tcp_rto_arm(c);
	return 0;
}

/* Options we offer, and the window shift that lets the receive buffer be advertised. */
void nip_tcp_options_init(struct nip_tcp_conn *c)
{
	const struct nip_tcp_config *cfg = &c->s->cfg.tcp;
	uint32_t most, floor;
	uint8_t shift = 0;

	if (c->rcv_auto) {
		/* Both ends move frames in bursts: a window shorter than a few bursts of full
		 * segments stalls the sender between them (at MTU 9000 a burst is 288 KiB). */
		floor = RCV_BURSTS * NIP_RX_BURST * nip_tcp_mtu_mss(c->s);
		if (c->rcvbuf < floor)
			c->rcvbuf = floor < cfg->rcvbuf_max ? floor : cfg->rcvbuf_max;
	}
	/* Autotuning may grow the buffer to rcvbuf_max: the shift, fixed now, must reach it. */
	most = c->rcv_auto && cfg->rcvbuf_max > c->rcvbuf ? cfg->rcvbuf_max : c->rcvbuf;

	while (shift < 14 && (most >> shift) > 65535)
		shift++;
	c->rcv_wscale = cfg->wscale ? shift : 0;
	c->ws_ok = cfg->wscale;
	c->sack_ok = cfg->sack;
	c->ts_ok = cfg->timestamps;
	c->ts_offset = (uint32_t)siphash_2w(cfg->isn_secret, c->remote_ip, c->local_port ^ 0x5a5a);
	c->peer_mss = 536;  /* RFC 9293 3.7.1 default */
	c->tmpl_ok = false; /* until established: a block may serve a second connection */
	nip_ip4_route_clear(&c->route);
}

void nip_tcp_established(struct nip_tcp_conn *c)
{
	struct nip_stack *s = c->s;
	uint32_t mtu_mss = nip_tcp_mtu_mss(s);
	uint32_t mss = c->peer_mss < mtu_mss ? c->peer_mss : mtu_mss;

	/* Every segment carries 12 bytes of timestamps when they are on (RFC 7323 3.2). */
	if (c->ts_ok)
		mss -= 12;
	c->mss = (uint16_t)(mss < 64 ? 64 : mss);
	c->cc_ops->init(&c->cc, c->mss, nip_now(s));
	nip_tcp_tmpl_init(&c->tmpl, c->local_port, c->remote_port, s->cfg.ip, c->remote_ip);
	/* Without a usable mapping now (it expired during the handshake), the template alone:
	 * the route is built at a later segment (tcp_output.c). */
	if (!nip_ip4_route_fill(s, &c->route, c->remote_ip, NIP_IPPROTO_TCP))
		nip_ip4_tmpl(s, &c->route.ip, c->remote_ip, NIP_IPPROTO_TCP);
	c->tmpl_ok = true;
	c->recover = c->snd_una; /* RFC 6582 3.2 step 1: recover starts at the ISS */
	c->quickacks = 16;
	c->last_rx = nip_now(s);
	/* RACK's ring, now that SACK, the MSS and the peer's window scale are known, for the
	 * send buffer's limit (tcp_rack.c). Without it segments go untracked. */
	nip_tcp_rack_reserve(c);
	if (c->keepalive)
		nip_tcp_timer_set(c, NIP_TCPT_KEEPALIVE, nip_now(s) + s->cfg.tcp.keepalive_idle);
}

bool nip_tcp_writable(const struct nip_tcp_conn *c)
{
	return c->sq_bytes < c->sndbuf;
}

int nip_tcp_send(struct nip_tcp_conn *c, struct demi__buf *buf, uint8_t *data, uint32_t len)
{
	struct nip_tcp_chunk *k;

	if (c->err)
		return -c->err;
	if (c->fin_queued)
		return -EPIPE;
	if (c->state != NIP_TCP_ESTABLISHED && c->state != NIP_TCP_CLOSE_WAIT)
		return c->state == NIP_TCP_CLOSED && c->fin_rcvd ? -EPIPE : -ENOTCONN;
	if (!nip_tcp_writable(c))
		return -EAGAIN;
	if (len == 0) {
		demi__buf_put(buf);
		return 0;
	}
	if (!(k = chunk_get(c->s))) {
		c->s->cnt.drop_tcp_no_memory++;
		return -ENOMEM;
	}
	if (c->s->tcp.mem_level != NIP_TCP_MEM_OK)
		nip_tcp_push_unpin(c->s, &buf, &data, len);
	k->next = NULL;
	k->buf = buf;
	k->data = data;
	k->len = len;
	if (c->sq_tail)
		c->sq_tail->next = k;
	else
		c->sq_head = k;
	c->sq_tail = k;
	c->sq_bytes += len;
	nip_tcp_output(c);
	return 0;
}

void nip_tcp_sq_ack(struct nip_tcp_conn *c, uint32_t acked)
{
	while (acked && c->sq_head) {
		struct nip_tcp_chunk *k = c->sq_head;

		if (acked < k->len) {
			k->data += acked;
			k->len -= acked;
			c->sq_bytes -= acked;
			if (c->sq_cur == k)
				c->sq_cur_seq += acked;
			return;
		}
		if (c->sq_cur == k)
			c->sq_cur = NULL;
		acked -= k->len;
		c->sq_bytes -= k->len;
		c->sq_head = k->next;
		if (!c->sq_head)
			c->sq_tail = NULL;
		chunk_put(c->s, k);
	}
}

/*
 * Receive autotuning (after Linux's dynamic right-sizing). A window of rcvbuf caps a flow at
 * rcvbuf per round trip, so a flow whose application drains more than half the buffer in a
 * round trip (the smoothed RTT, from the handshake if we only receive) gets a buffer of
 * twice what it drained, up to tcp_rcvbuf_max. A slow reader, or a fast one on a short path
 * (a microsecond round trip needs little window), never grows its buffer: a larger one would
 * only spread the data over more cache. The buffer never shrinks (the window's right edge
 * may not move left); the pop path's window update announces the larger window.
 */
static void rcv_autotune(struct nip_tcp_conn *c, uint32_t popped)
{
	uint64_t now = nip_now(c->s);
	uint64_t want;

	c->rcv_epoch_bytes += popped;
	if (c->rcv_epoch_t0 == 0 || c->srtt == 0) {
		c->rcv_epoch_t0 = now;
		c->rcv_epoch_bytes = 0;
		return;
	}
	if (now - c->rcv_epoch_t0 < c->srtt)
		return;
	want = 2ull * c->rcv_epoch_bytes;
	if (c->rcv_epoch_bytes > c->rcvbuf / 2 && want > c->rcvbuf &&
	    c->rcvbuf < c->s->cfg.tcp.rcvbuf_max) {
		uint32_t max = c->s->cfg.tcp.rcvbuf_max;

		c->rcvbuf = want < max ? (uint32_t)want : max;
		c->s->cnt.tcp_rcvbuf_grown++;
	}
	c->rcv_epoch_t0 = now;
	c->rcv_epoch_bytes = 0;
}

struct demi__buf *nip_tcp_recv(struct nip_tcp_conn *c, int *status)
{
	struct demi__buf *b = demi__buf_fifo_pop(&c->rq);

	*status = 0;
	if (!b) {
		if (c->fin_rcvd)
			*status = 1;
		else if (c->err)
			*status = -c->err;
		return NULL;
	}
	c->rq_bytes -= b->len;
	c->rq_mem -= b->cap;
	if (c->rcv_auto)
		rcv_autotune(c, b->len);
	nip_tcp_window_update(c);
	return b;
}

bool nip_tcp_window_update(struct nip_tcp_conn *c)
{
	uint32_t adv, now_wnd, step;

	/* Tell the peer when the window opened by a useful amount past what it was told
	 * (RFC 9293 3.8.6.2.2): it may have stopped sending. */
	if (c->state < NIP_TCP_ESTABLISHED || c->state == NIP_TCP_TIME_WAIT)
		return false;
	adv = nip_seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	/* A peer that was told at least half the buffer is not held back: no update (the usual
	 * case after a pop, decided before the window is computed). */
	if (adv >= c->rcvbuf / 2)
		return false;
	now_wnd = nip_tcp_rcv_window(c);
	step = 2u * c->mss;
	if (step > c->rcvbuf / 2)
		step = c->rcvbuf / 2;
	if (now_wnd > adv && now_wnd - adv >= step) {
		nip_tcp_send_ack(c);
		return true;
	}
	return false;
}

void nip_tcp_close(struct nip_tcp_conn *c)
{
	c->owned = false;
	c->on_event = NULL;
	c->ctx = NULL;
	c->ev_pending = 0;
	if (demi__list_linked(&c->ev_link))
		demi__list_remove(&c->ev_link);
	switch (c->state) {
	case NIP_TCP_CLOSED:
		break;
	case NIP_TCP_LISTEN:
		nip_tcp_drop(c, 0);
		return;
	case NIP_TCP_SYN_SENT:
		nip_tcp_drop(c, 0);
		return;
	default:
		if (c->linger_zero || c->rq.head || c->reass.head) {
			/* Data the application will never read: abort (RFC 9293 3.10.4, as
			 * RFC 2525 2.17 recommends), so the peer learns it was lost. */
			if (c->state != NIP_TCP_TIME_WAIT)
				nip_tcp_send_rst_conn(c);
			nip_tcp_drop(c, ECONNABORTED);
			return;
		}
		if (c->state == NIP_TCP_SYN_RCVD || c->state == NIP_TCP_ESTABLISHED) {
			c->state = NIP_TCP_FIN_WAIT_1;
			c->fin_queued = true;
		} else if (c->state == NIP_TCP_CLOSE_WAIT) {
			c->state = NIP_TCP_LAST_ACK;
			c->fin_queued = true;
		}
		if (c->fin_queued) {
			nip_tcp_timer_clear(c, NIP_TCPT_KEEPALIVE);
			nip_tcp_output(c);
		}
		return;
	}
	nip_tcp_maybe_free(c);
}

int nip_tcp_setsockopt(struct nip_tcp_conn *c, int level, int name, const void *val, uint32_t len)
{
	int v;

	if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger lg;

		if (len < sizeof(lg))
			return -EINVAL;
		memcpy(&lg, val, sizeof(lg));
		c->linger_zero = lg.l_onoff && lg.l_linger == 0;
		return 0;
	}
	if (len < sizeof(int))
		return -EINVAL;
	memcpy(&v, val, sizeof(v));
	if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		c->nodelay = v != 0;
		if (c->nodelay)
			nip_tcp_output(c);
		return 0;
	}
	if (level != SOL_SOCKET)
		return -ENOPROTOOPT;
	switch (name) {
	case SO_KEEPALIVE:
		c->keepalive = v != 0;
		if (!c->keepalive)
			nip_tcp_timer_clear(c, NIP_TCPT_KEEPALIVE);
		else if (c->state == NIP_TCP_ESTABLISHED)
			nip_tcp_timer_set(c, NIP_TCPT_KEEPALIVE,
					  nip_now(c->s) + c->s->cfg.tcp.keepalive_idle);
		return 0;
	case SO_RCVBUF:
	case SO_SNDBUF:
		if (v < 2048 || v > (1 << 30))
			return -EINVAL;
		/* The window shift is fixed by the SYN: a larger buffer set later is only
		 * advertised as far as that shift allows. */
		if (name == SO_RCVBUF) {
			c->rcvbuf = (uint32_t)v;
			c->rcv_auto = false; /* the application's choice, as on Linux */
		} else {
			c->sndbuf = (uint32_t)v;
			c->snd_auto = false;
			if (c->mss) /* established: a larger buffer may fly more segments */
				nip_tcp_rack_reserve(c);
		}
		if (name == SO_SNDBUF && nip_tcp_writable(c)) {
			nip_tcp_notify(c, NIP_TCP_EV_WRITABLE);
			nip_tcp_deliver(c->s);
		}
		return 0;
	case SO_REUSEADDR:
		return 0; /* taken at bind time by the libOS */
	default:
		return -ENOPROTOOPT;
	}
}

int nip_tcp_getsockopt(struct nip_tcp_conn *c, int level, int name, void *val, uint32_t *len)
{
	int v;

	if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger lg = {.l_onoff = c->linger_zero, .l_linger = 0};

		if (*len < sizeof(lg))
			return -EINVAL;
		memcpy(val, &lg, sizeof(lg));
		*len = sizeof(lg);
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_NODELAY)
		v = c->nodelay;
	else if (level == IPPROTO_TCP && name == TCP_MAXSEG)
		v = c->mss ? c->mss : 536;
	else if (level == SOL_SOCKET && name == SO_KEEPALIVE)
		v = c->keepalive;
	else if (level == SOL_SOCKET && name == SO_RCVBUF)
		v = (int)c->rcvbuf;
	else if (level == SOL_SOCKET && name == SO_SNDBUF)
		v = (int)c->sndbuf;
	else if (level == SOL_SOCKET && name == SO_ERROR)
		v = c->err;
	else
		return -ENOPROTOOPT;
	if (*len < sizeof(int))
		return -EINVAL;
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

void nip_tcp_flush_acks(struct nip_stack *s)
{
	struct demi__list *n;

	while ((n = demi__list_front(&s->tcp.ack_pending))) {
		struct nip_tcp_conn *c = demi__container_of(n, struct nip_tcp_conn, ack_link);

		demi__list_remove(n);
		if (c->segs_unacked && c->state != NIP_TCP_CLOSED)
			nip_tcp_send_ack(c);
	}
}

void nip_tcp_tx_resume(struct nip_stack *s)
{
	struct demi__list *n;

	/* nip_tcp_output puts a connection back on the list if the ring fills again. */
	while ((n = demi__list_front(&s->tcp.tx_wait)) && nip_link_tx_ready(s)) {
		struct nip_tcp_conn *c = demi__container_of(n, struct nip_tcp_conn, tx_link);

		demi__list_remove(n);
		nip_tcp_output(c);
	}
}

void nip_tcp_orphans(struct nip_stack *s, int *owing, int *closing)
{
	*owing = *closing = 0;
	for (uint32_t i = 0; i <= s->tcp.hash_mask; i++)
		for (struct nip_tcp_conn *c = s->tcp.hash[i]; c; c = c->hnext) {
			if (c->owned)
				continue;
			if (c->sq_bytes || (c->fin_queued && !c->fin_sent) ||
			    c->state == NIP_TCP_FIN_WAIT_1 || c->state == NIP_TCP_CLOSING ||
			    c->state == NIP_TCP_LAST_ACK)
				(*owing)++;
			else if (c->state == NIP_TCP_FIN_WAIT_2)
				(*closing)++;
		}
}

void nip_tcp_abort_orphans(struct nip_stack *s)
{
	for (uint32_t i = 0; i <= s->tcp.hash_mask; i++) {
		struct nip_tcp_conn *c = s->tcp.hash[i], *next;

		for (; c; c = next) {
			next = c->hnext;
			if (c->owned || c->state == NIP_TCP_TIME_WAIT ||
			    c->state == NIP_TCP_CLOSED || c->state == NIP_TCP_LISTEN ||
			    c->state == NIP_TCP_SYN_SENT)
				continue;
			nip_tcp_send_rst_conn(c);
			nip_tcp_drop(c, ECONNABORTED);
		}
	}
}

const char *nip_tcp_state_name(enum nip_tcp_state st)
{
	static const char *const names[] = {
		"CLOSED",     "LISTEN",	    "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
		"FIN-WAIT-2", "CLOSE-WAIT", "CLOSING",	"LAST-ACK",	"TIME-WAIT",
	};

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}
