/* SPDX-License-Identifier: MIT */
/*
 * Passive open (RFC 9293 3.10.7.2, segment arrives in LISTEN): a SYN to a listening port
 * makes a connection in SYN-RECEIVED on the listener's SYN queue and answers SYN-ACK; the
 * handshake's last ACK (tcp_input.c) moves it to the accept queue, where nip_tcp_accept finds
 * it, and records ACCEPTABLE for the listener (delivered once that segment is processed, its
 * data queued for the accept to come). Options of the SYN: RFC 7323 2.2, RFC 2018 2, RFC 9293
 * 3.7.1. Both queues are bounded (the SYN queue by syn_backlog, the accept queue by the listen
 * backlog): a SYN beyond the accept queue is dropped and counted, and the peer's SYN
 * retransmission tries again later; a SYN beyond the SYN queue is answered with a SYN cookie
 * (tcp_cookie.c, RFC 4987 3.6; dropped and counted when tcp_syncookies is off), whose last ACK
 * comes back here and makes the connection. A SYN flood thus costs bounded memory and does
 * not lock out legitimate peers.
 */
#include <errno.h>
#include <stdlib.h>

#include "stack.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

/* Takes the peer's options from its SYN (RFC 7323 2.2, RFC 2018 2, RFC 9293 3.7.1). */
void nip_tcp_syn_options(struct nip_tcp_conn *c, const struct nip_tcp_seg *seg)
{
	const struct nip_tcp_opts *o = &seg->opt;

	if (o->has_mss && o->mss >= 64)
		c->peer_mss = o->mss;
	if (!(c->ws_ok && o->has_wscale)) {
		c->ws_ok = false;
		c->rcv_wscale = 0;
		c->snd_wscale = 0;
	} else {
		c->snd_wscale = o->wscale > 14 ? 14 : o->wscale;
	}
	c->sack_ok = c->sack_ok && o->sack_ok;
	c->ts_ok = c->ts_ok && o->has_ts;
	if (c->ts_ok) {
		c->ts_recent = o->tsval;
		c->ts_recent_age = nip_now(c->s);
	}
}

void nip_tcp_passive_init(struct nip_tcp_conn *c, const struct nip_tcp_conn *l, uint32_t src,
			  uint32_t dst, uint16_t sport)
{
	c->local_ip = dst;
	c->local_port = l->local_port;
	c->remote_ip = src;
	c->remote_port = sport;
	c->rcvbuf = l->rcvbuf;
	c->rcv_auto = l->rcv_auto;
	c->sndbuf = l->sndbuf;
	c->snd_auto = l->snd_auto;
	c->nodelay = l->nodelay;
	c->keepalive = l->keepalive;
	c->linger_zero = l->linger_zero;
	nip_tcp_options_init(c);
}

struct nip_tcp_conn *nip_tcp_passive_new(struct nip_tcp_conn *l, uint32_t src, uint32_t dst,
					 uint16_t sport)
{
	struct nip_stack *s = l->s;
	struct nip_tcp_conn *c;

	if (!(c = nip_tcp_conn_alloc(s))) {
		if (!s->cfg.tcp.max_conns || s->tcp.nconns < s->cfg.tcp.max_conns)
			s->cnt.drop_tcp_no_memory++; /* else counted as tcp_conn_limit */
		return NULL;
	}
	nip_tcp_passive_init(c, l, src, dst, sport);
	if (nip_tcp_hash_insert(c) < 0) {
		nip_tcp_conn_free(c);
		return NULL;
	}
	c->bound = true;
	s->tcp.port_users[c->local_port]++;
	return c;
}

struct nip_tcp_conn *nip_tcp_listen_input(struct nip_tcp_conn *l, const struct nip_tcp_seg *seg,
					  uint32_t src, uint32_t dst)
{
	struct nip_stack *s = l->s;
	struct nip_tcp_listener *ls = l->listener;
	struct nip_tcp_conn *c;

	if (seg->flags & NIP_TCP_RST)
		return NULL;
	if (seg->flags & NIP_TCP_ACK) {
		/* The last ACK of a handshake we answered with a cookie (tcp_cookie.c)? Only
		 * tried while cookies may be out, so a forged one has no chance otherwise. */
		if (!(seg->flags & NIP_TCP_SYN) && nip_tcp_cookie_recent(l)) {
			int rc = nip_tcp_cookie_ack(l, seg, src, dst, &c);

			if (rc > 0)
				return c;
			if (rc < 0)
				return NULL; /* valid, no room: dropped and counted */
		}
		/* An ACK for nothing we know (e.g. a SYN-ACK's reply after we dropped the
		 * connection, or a cookie too old or forged): reset it. */
		s->cnt.drop_tcp_no_conn++;
		nip_tcp_send_reset(s, seg, src, dst);
		return NULL;
	}
	if (!(seg->flags & NIP_TCP_SYN))
		return NULL;
	if (ls->syn_len >= s->cfg.tcp.syn_backlog) {
		/* RFC 4987 3.6: the queue is full, the handshake goes on without state (not when
		 * the accept queue is full too: the connection would find no room there). */
		if (s->cfg.tcp.syncookies && ls->accept_len < ls->backlog)
			nip_tcp_cookie_syn(l, seg, src, dst);
		else
			s->cnt.drop_tcp_syn_queue_full++;
		return NULL;
	}
	if (ls->accept_len >= ls->backlog) {
		s->cnt.drop_tcp_accept_queue_full++;
		return NULL;
	}
	if (!(c = nip_tcp_passive_new(l, src, dst, seg->sport)))
		return NULL;
	nip_tcp_syn_options(c, seg);
	c->irs = seg->seq;
	c->rcv_nxt = seg->seq + 1;
	c->iss = nip_tcp_isn(s, c);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->snd_wnd = seg->win; /* never scaled in a SYN (RFC 7323 2.2) */
	c->snd_wl1 = seg->seq;
	c->snd_wl2 = c->iss;
	c->state = NIP_TCP_SYN_RCVD;
	c->listener = ls;
	demi__list_push_back(&ls->syn_q, &c->qlink);
	ls->syn_len++;
	s->cnt.tcp_passive_opens++;
	nip_tcp_send_syn(c);
	nip_tcp_rto_arm(c);
	return NULL;
}

void nip_tcp_listen_detach(struct nip_tcp_conn *c)
{
	struct nip_tcp_listener *ls = c->listener;

	if (!ls || demi__list_empty(&c->qlink))
		return;
	demi__list_remove(&c->qlink);
	demi__list_init(&c->qlink);
	if (c->in_accept_queue)
		ls->accept_len--;
	else
		ls->syn_len--;
	c->in_accept_queue = false;
}

void nip_tcp_listen_established(struct nip_tcp_conn *c)
{
	struct nip_tcp_listener *ls = c->listener;

	if (!ls)
		return; /* simultaneous open of an active connection */
	nip_tcp_listen_detach(c);
	c->listener = ls;
	demi__list_push_back(&ls->accept_q, &c->qlink);
	c->in_accept_queue = true;
	ls->accept_len++;
	nip_tcp_notify(ls->conn, NIP_TCP_EV_ACCEPTABLE);
}

/* The listener goes away: connections nobody accepted are reset and freed. */
void nip_tcp_listener_fini(struct nip_tcp_conn *l)
{
	struct nip_tcp_listener *ls = l->listener;
	struct demi__list *n;

	if (!ls)
		return;
	for (int q = 0; q < 2; q++) {
		struct demi__list *head = q ? &ls->accept_q : &ls->syn_q;

		while ((n = demi__list_front(head))) {
			struct nip_tcp_conn *c = demi__container_of(n, struct nip_tcp_conn, qlink);

			nip_tcp_listen_detach(c);
			c->listener = NULL;
			if (c->state != NIP_TCP_CLOSED)
				nip_tcp_send_rst_conn(c);
			nip_tcp_conn_free(c);
		}
	}
	free(ls);
	l->listener = NULL;
	if (l->state == NIP_TCP_LISTEN)
		l->state = NIP_TCP_CLOSED;
	if (l->s->tcp.ports[l->local_port] == l && !l->owned)
		l->s->tcp.ports[l->local_port] = NULL;
}
