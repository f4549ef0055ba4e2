/* SPDX-License-Identifier: MIT */
/*
 * SYN cookies (RFC 4987 3.6): when a listener's SYN queue is full, a SYN is answered with a
 * SYN-ACK whose ISN encodes what the connection needs, and no state is kept; the peer's last
 * ACK of the handshake (ack = ISN + 1) brings it back, and a valid one makes the connection as
 * if its SYN had been queued. A flood of spoofed SYNs then fills the queue but locks nobody out.
 *
 * The cookie (our ISN): the top 29 bits are a MAC, SipHash-2-4 (tcp.c's, the one keyed hash of
 * TCP) of the 4-tuple, the peer's ISN and the encoded options, under the key of the current
 * 64 s period; the low 3 bits index a table of common MSS values (the largest not above the
 * peer's). The key of a period is derived from the stack's secret (isn_secret) and the period's
 * number; the two latest are kept. A cookie is accepted under the key of the current or the
 * previous period, so it lives 64 to 128 s, and a forged one passes with probability 2^-28
 * per try (two keys, 29 bits); tries are only made while the listener sends cookies (up to two
 * periods after the last one), so a forgery has no chance at all outside a flood.
 *
 * Options the ISN has no room for travel in our timestamp (after Linux's idea, not its code):
 * when the peer offered timestamps, the low 5 bits of the SYN-ACK's TSval are the peer's window
 * shift (4 bits, 15: none) and SACK-permitted (1 bit), and its ACK's TSecr returns them. The
 * TSval is lowered to carry them, never raised, so the connection's later TSvals do not go
 * back (the peer's PAWS, RFC 7323 5). The MAC covers them, so a forged TSecr is rejected too.
 * A peer without timestamps gets neither window scaling nor SACK (nothing would bring them
 * back), only the MSS.
 *
 * Call order: tcp_listen.c calls nip_tcp_cookie_syn for a SYN that found the SYN queue full
 * (tcp_syncookies on), and nip_tcp_cookie_ack for an ACK to the listener that matches no
 * connection while nip_tcp_cookie_recent; nip_tcp_input feeds the connection it returns the
 * ACK (nip_tcp_conn_input), which establishes it, queues it for accept and keeps its data.
 */
#include <errno.h>
#include <string.h>

#include "stack.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

#define PERIOD_NS (64ull * 1000000000u)
#define KEY_TAG 0x636f6f6b6965ull /* "cookie": its keys apart from the secret's other uses */
#define MSS_MASK 7u
#define TS_WS_NONE 0xfu	  /* in the TSval's low 4 bits: the peer offered no window scale */
#define TS_SACK 0x10u	  /* the peer offered SACK */
#define TS_OPT_MASK 0x1fu /* the TSval bits that carry options */
#define DATA_TS 0x100u	  /* in the MAC's input: the handshake used timestamps */

/* MSS values a cookie can name (the index is its low 3 bits): common paths' and jumbo frames'. */
static const uint16_t mss_table[8] = {64, 536, 1220, 1380, 1440, 1460, 4312, 8960};

/* The key of a period: derived from the stack's secret, so an old period's key cannot be
 * learnt from a newer one's; the two latest are kept (slot = period & 1). */
static const uint8_t *period_key(struct nip_stack *s, uint64_t period)
{
	struct nip_tcp_stack *t = &s->tcp;
	unsigned slot = (unsigned)(period & 1);

	if (t->cookie_period[slot] != period + 1) {
		uint64_t k[2];

		for (int i = 0; i < 2; i++)
			k[i] = nip_tcp_siphash(s->cfg.tcp.isn_secret,
					       (const uint64_t[]){KEY_TAG + (uint64_t)i, period},
					       2);
		memcpy(t->cookie_key[slot], k, sizeof(k));
		t->cookie_period[slot] = period + 1;
	}
	return t->cookie_key[slot];
}

/* What a cookie's MAC covers besides the options: the 4-tuple and the peer's ISN. */
struct flow {
	uint32_t lip, rip, irs;
	uint16_t lport, rport;
};

/* The cookie of that handshake with these encoded options, in that period. */
static uint32_t cookie_of(struct nip_stack *s, uint64_t period, const struct flow *f, unsigned data)
{
	uint64_t m[3] = {
		(uint64_t)f->lip << 32 | f->rip,
		(uint64_t)f->lport << 48 | (uint64_t)f->rport << 32 | f->irs,
		data,
	};
	uint32_t mac = (uint32_t)nip_tcp_siphash(period_key(s, period), m, 3);

	return (mac & ~MSS_MASK) | (data & MSS_MASK);
}

/* The options a cookie handshake agrees on, as the peer's SYN would offer them: with ts, the
 * window shift and SACK of tsopt (TS_* bits), without, neither. */
static void syn_opts(struct nip_tcp_opts *o, unsigned mss_idx, bool ts, unsigned tsopt,
		     uint32_t tsval)
{
	memset(o, 0, sizeof(*o));
	o->has_mss = true;
	o->mss = mss_table[mss_idx];
	o->has_ts = ts;
	o->tsval = tsval;
	o->has_wscale = ts && (tsopt & TS_WS_NONE) != TS_WS_NONE;
	o->wscale = (uint8_t)(tsopt & TS_WS_NONE);
	o->sack_ok = ts && (tsopt & TS_SACK);
}

void nip_tcp_cookie_syn(struct nip_tcp_conn *l, const struct nip_tcp_seg *seg, uint32_t src,
			uint32_t dst)
{
	struct nip_stack *s = l->s;
	struct nip_tcp_seg syn = *seg;
	struct nip_tcp_conn c; /* lives for this SYN-ACK only: the cookie is the state */
	unsigned idx = 0, tsopt = 0;
	uint32_t peer_mss = seg->opt.has_mss && seg->opt.mss >= 64 ? seg->opt.mss : 536;
	bool ts = s->cfg.tcp.timestamps && seg->opt.has_ts;

	while (idx + 1 < 8 && mss_table[idx + 1] <= peer_mss)
		idx++;
	if (ts) {
		if (s->cfg.tcp.wscale && seg->opt.has_wscale)
			tsopt = seg->opt.wscale > 14 ? 14 : seg->opt.wscale;
		else
			tsopt = TS_WS_NONE;
		if (s->cfg.tcp.sack && seg->opt.sack_ok)
			tsopt |= TS_SACK;
	}
	memset(&c, 0, sizeof(c));
	c.s = s;
	nip_tcp_reass_init(&c.reass);
	nip_tcp_passive_init(&c, l, src, dst, seg->sport);
	syn_opts(&syn.opt, idx, ts, tsopt, seg->opt.tsval);
	nip_tcp_syn_options(&c, &syn);
	c.irs = seg->seq;
	c.rcv_nxt = seg->seq + 1;
	c.iss = cookie_of(s, nip_now(s) / PERIOD_NS,
			  &(struct flow){dst, src, seg->seq, l->local_port, seg->sport},
			  idx | (ts ? DATA_TS | tsopt << 3 : 0));
	c.state = NIP_TCP_SYN_RCVD;
	if (ts) {
		uint32_t now_ts = nip_tcp_tsval(&c), tsval = (now_ts & ~TS_OPT_MASK) | tsopt;

		if (nip_seq_gt(tsval, now_ts))
			tsval -= TS_OPT_MASK + 1;
		c.ts_offset += tsval - now_ts; /* this SYN-ACK's TSval is tsval */
	}
	nip_tcp_send_syn(&c);
	l->listener->cookie_time = nip_now(s) ? nip_now(s) : 1;
	s->cnt.tcp_syncookies_sent++;
}

bool nip_tcp_cookie_recent(const struct nip_tcp_conn *l)
{
	uint64_t t = l->listener->cookie_time;

	return t && nip_now(l->s) - t < 2 * PERIOD_NS;
}

int nip_tcp_cookie_ack(struct nip_tcp_conn *l, const struct nip_tcp_seg *seg, uint32_t src,
		       uint32_t dst, struct nip_tcp_conn **out)
{
	struct nip_stack *s = l->s;
	struct nip_tcp_listener *ls = l->listener;
	struct nip_tcp_seg syn = *seg;
	struct nip_tcp_conn *c;
	struct flow f = {dst, src, seg->seq - 1, l->local_port, seg->sport};
	uint32_t cookie = seg->ack - 1;
	bool ts = s->cfg.tcp.timestamps && seg->opt.has_ts;
	unsigned idx = cookie & MSS_MASK, tsopt = ts ? seg->opt.tsecr & TS_OPT_MASK : 0;
	unsigned data = idx | (ts ? DATA_TS | tsopt << 3 : 0);
	uint64_t period = nip_now(s) / PERIOD_NS;

	if (cookie_of(s, period, &f, data) != cookie &&
	    (!period || cookie_of(s, period - 1, &f, data) != cookie)) {
		s->cnt.tcp_syncookies_failed++;
		return 0;
	}
	if (ls->accept_len >= ls->backlog) {
		/* No room: dropped, as a SYN would be; the peer's next segment tries again. */
		s->cnt.drop_tcp_accept_queue_full++;
		return -ENOBUFS;
	}
	if (!(c = nip_tcp_passive_new(l, src, dst, seg->sport)))
		return -ENOMEM;
	/* Negotiated as if the SYN had offered what the cookie remembers. */
	syn_opts(&syn.opt, idx, ts, tsopt, seg->opt.tsval);
	nip_tcp_syn_options(c, &syn);
	c->irs = seg->seq - 1;
	c->rcv_nxt = seg->seq;
	/* The SYN-ACK offered the window a fresh connection has (unscaled in a SYN). */
	c->rcv_adv = c->rcv_nxt + nip_min32(nip_tcp_rcv_window(c), 65535);
	c->last_ack_sent = c->rcv_nxt;
	c->iss = cookie;
	c->snd_una = cookie;
	c->snd_nxt = c->snd_max = cookie + 1;
	c->snd_wnd = seg->win;
	c->snd_wl1 = c->irs;
	c->snd_wl2 = cookie;
	c->state = NIP_TCP_SYN_RCVD; /* the ACK moves it on, as a queued one's would */
	c->listener = ls;
	s->cnt.tcp_passive_opens++;
	s->cnt.tcp_syncookies_ok++;
	*out = c;
	return 1;
}
